//! The EVM verifier: Solidity generation (snark-verifier), compilation (solcjs, see
//! [`solc`]) and in-process deployment and calls (revm, see [`chain`]).

pub mod chain;
pub mod column;
pub mod solc;
pub mod instances;
pub mod split;

use std::panic::{catch_unwind, AssertUnwindSafe};

use halo2_proofs::circuit::Layouter;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{Circuit, ConstraintSystem, Error, VerifyingKey};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use snark_verifier_sdk::evm::gen_evm_verifier_sol_code;
use snark_verifier_sdk::{CircuitExt, SHPLONK};
use zkinfer_circuits::layout::circuit::{instance_values, ModelCircuit, ModelConfig};
use zkinfer_circuits::layout::ctx::Shape;

pub use chain::{evm_verify, evm_verify_code, evm_verify_parts, EvmOutcome, EvmVerifier, EIP170_LIMIT};
pub use snark_verifier_sdk::evm::encode_calldata;
pub use solc::{compile_files, compile_sol, compile_sol_in, compile_source_in, contracts_dir, install_solc, CompiledVerifier};
pub use split::{compile_verifier_in, install_calldata, VerifierCode};

/// [`split::compile_verifier_in`] with the solcjs in [`contracts_dir`].
pub fn compile_verifier(sol: &str) -> Result<VerifierCode> {
    compile_verifier_in(&contracts_dir()?, sol)
}

use crate::error::{ProverError, Result};
use crate::util;

/// Generates the Solidity verifier (contract `Halo2Verifier`, `pragma solidity 0.8.19`) for
/// `vk` with `num_instances` public instances. Its calldata is
/// [`calldata`]`(instances, proof)`; it reverts unless the proof verifies.
/// The instances are read in loops ([`with_instance_loops`]), so the code size does not depend
/// on their number.
pub fn gen_sol(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, num_instances: usize) -> Result<String> {
    Ok(with_instance_loops(gen_sol_straight(params, vk, num_instances)?, vk, num_instances))
}

/// The verifier of a circuit with the public column (`Shape::public_column`) and `words`
/// public words: called with `binding ‖ words ‖ proof` like every other, it derives the
/// proof's three instances itself ([`column::column_verifier`]); neither its code size nor,
/// beyond a few dozen gas per word, its gas depends on `words`.
pub fn gen_sol_column(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, words: usize) -> Result<String> {
    let straight = gen_sol_straight(params, vk, zkinfer_circuits::layout::public_column::INSTANCES)?;
    column::column_verifier(&straight, words, crate::public_column::column_index(vk)?)
}

/// The verifier as snark-verifier generates it: straight-line code that grows by about 165
/// bytes per public instance (for comparisons and the splitter's tests; [`gen_sol`] is what
/// zkinfer deploys).
pub fn gen_sol_straight(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, num_instances: usize) -> Result<String> {
    catch_unwind(AssertUnwindSafe(|| gen_evm_verifier_sol_code::<EvmCircuit, SHPLONK>(params, vk, vec![num_instances])))
        .map_err(|p| ProverError::Evm(format!("Solidity verifier generation failed: {}", util::panic_message(&p))))
}

/// `sol` with its public instances read and evaluated in loops ([`instances::loop_instances`]),
/// so that its code size does not depend on their number. With fewer than two instances there is
/// nothing to gain; where the generated code is not recognised (another snark-verifier
/// release), `sol` is kept as generated (it verifies the same proofs) and a warning says so.
pub fn with_instance_loops(sol: String, vk: &VerifyingKey<G1Affine>, num_instances: usize) -> String {
    if num_instances < 2 {
        return sol;
    }
    match instances::loop_instances(&sol, vk.get_domain().get_omega(), num_instances) {
        Ok(looped) => looped,
        Err(why) => {
            eprintln!("WARNING: the verifier's instances stay straight-line code (not recognised: {why}); its size grows with the public values");
            sol
        }
    }
}

/// Calldata for the verifier: instances as 32-byte big-endian words, then the proof bytes.
pub fn calldata(instances: &[Fr], proof: &[u8]) -> Vec<u8> {
    encode_calldata(&[instances.to_vec()], proof)
}

/// [`ModelCircuit`] as snark-verifier's [`CircuitExt`], which only contributes its (absent)
/// accumulator indices to the verifier. A local newtype because of the orphan rule.
#[derive(Clone, Debug)]
#[allow(dead_code)] // only ever used as a type parameter
struct EvmCircuit(ModelCircuit);

impl Circuit<Fr> for EvmCircuit {
    type Config = ModelConfig;
    type FloorPlanner = <ModelCircuit as Circuit<Fr>>::FloorPlanner;
    type Params = Shape;

    fn without_witnesses(&self) -> Self {
        EvmCircuit(self.0.without_witnesses())
    }

    fn params(&self) -> Shape {
        self.0.params()
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, params: Shape) -> ModelConfig {
        ModelCircuit::configure_with_params(meta, params)
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> ModelConfig {
        ModelCircuit::configure(meta)
    }

    fn synthesize(&self, config: ModelConfig, layouter: impl Layouter<Fr>) -> std::result::Result<(), Error> {
        self.0.synthesize(config, layouter)
    }
}

impl CircuitExt<Fr> for EvmCircuit {
    fn num_instance(&self) -> Vec<usize> {
        vec![instance_values(&self.0.ctx).len()]
    }

    fn instances(&self) -> Vec<Vec<Fr>> {
        vec![instance_values(&self.0.ctx)]
    }
}
