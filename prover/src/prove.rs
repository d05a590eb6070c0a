//! Proof generation: SHPLONK KZG over BN254 with the Keccak (EVM) transcript, so the same proof
//! bytes verify natively ([`crate::verify`]) and in the generated Solidity verifier
//! ([`crate::evm`]).

use std::borrow::Borrow;
use std::panic::{catch_unwind, AssertUnwindSafe};

use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{create_proof, create_proof_from_advice, synthesize_witness, ProvingKey};
use halo2_proofs::poly::commitment::Params;
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::multiopen::ProverSHPLONK;
use halo2_proofs::transcript::TranscriptWriterBuffer;
use rand::RngCore;
use snark_verifier_sdk::snark_verifier::loader::native::NativeLoader;
use snark_verifier_sdk::snark_verifier::system::halo2::transcript::evm::EvmTranscript;
use zkinfer_circuits::layout::circuit::{instance_values, public_values, ModelCircuit};
use zkinfer_circuits::layout::public_column::horner;
use zkinfer_circuits::layout::witness;

use crate::error::{ProverError, Result};
use crate::sizing::check_fits;
use crate::util;

/// The transcript both prover and verifiers use: Keccak-256 Fiat–Shamir, as the EVM verifier.
pub type ProofTranscriptWriter = EvmTranscript<G1Affine, NativeLoader, Vec<u8>, Vec<u8>>;

/// Where a proof is computed. Both give the same proof format for the same keys: a proof
/// from either verifies with [`crate::verify`] and the generated Solidity verifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Cpu,
    /// The CUDA prover (`halo2-axiom-gpu`), in builds with the `cuda` feature only.
    Cuda,
}

impl Device {
    /// Whether this build can prove on the device.
    pub fn available_in_build(self) -> bool {
        match self {
            Device::Cpu => true,
            Device::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// An error naming the missing build when this build cannot prove on the device.
    pub fn check_available(self) -> Result<()> {
        if self.available_in_build() {
            return Ok(());
        }
        Err(ProverError::Invalid { what: "device", why: "this zkinfer build has no CUDA prover (build `zkinfer-cuda` with scripts/build-cuda.sh)".into() })
    }
}

/// What every proof of a model circuit needs: the SRS at the key's size, a circuit that fits
/// it, and a consistent witness.
pub(crate) fn check_ready(params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, circuit: &ModelCircuit) -> Result<()> {
    let k = pk.get_vk().get_domain().k();
    if params.k() != k {
        return Err(ProverError::KMismatch { what: "the SRS given for proving".into(), expected: k, found: params.k() });
    }
    check_fits(circuit, k)?;
    circuit.ctx.check().map_err(ProverError::Witness)
}

/// Proves `circuit` with public `instances` (which must equal
/// `instance_values(&circuit.ctx)`: the binding, then the packed inputs and outputs). `params` must be the SRS
/// the key was generated with, at the key's size.
pub fn prove(
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    circuit: &ModelCircuit,
    instances: &[Fr],
    rng: impl RngCore + Send,
) -> Result<Vec<u8>> {
    prove_on(Device::Cpu, params, pk, circuit, instances, rng)
}

/// [`prove`] on `device`.
pub fn prove_on(
    device: Device,
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    circuit: &ModelCircuit,
    instances: &[Fr],
    rng: impl RngCore + Send,
) -> Result<Vec<u8>> {
    prove_circuit(device, params, pk, circuit, instances, rng)
}

/// [`prove_on`], consuming the circuit: on the CPU the layout is dropped once its advice
/// columns are built, so it does not stay in memory while the proof is computed.
pub fn prove_owned(
    device: Device,
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    circuit: ModelCircuit,
    instances: &[Fr],
    rng: impl RngCore + Send,
) -> Result<Vec<u8>> {
    prove_circuit(device, params, pk, circuit, instances, rng)
}

/// [`prove_on`] and [`prove_owned`]: `circuit` (a reference or the circuit itself) is dropped
/// after its advice columns are built, which frees the layout when it is owned.
fn prove_circuit(
    device: Device,
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    circuit: impl Borrow<ModelCircuit>,
    instances: &[Fr],
    rng: impl RngCore + Send,
) -> Result<Vec<u8>> {
    let own = checked(device, params, pk, circuit.borrow(), instances)?;
    if circuit.borrow().ctx.shape.public_column {
        if device != Device::Cpu {
            return Err(ProverError::Invalid { what: "device", why: "a circuit with the public column proves on the CPU only (its prover replays the CPU prover's blinding draws)".into() });
        }
        let words = &instances[1..];
        let prepared = crate::public_column::prepare(params, pk, words, rng)?;
        let advice = advice_for_at(params, pk, circuit.borrow(), prepared.point)?;
        drop(circuit);
        let halo2_instances = [instances[zkinfer_circuits::public::BINDING], prepared.point, horner(words, prepared.point)];
        let proof = prove_advice(params, pk, &halo2_instances, advice, prepared.rng)?;
        if crate::public_column::commitment_in(pk.get_vk(), &proof)? != prepared.commitment {
            return Err(ProverError::halo2("proving", "the proof's public-column commitment is not the one its point was drawn from (the prover's blinding draws changed)"));
        }
        return Ok(proof);
    }
    let columns: [&[Fr]; 1] = [&own];
    #[cfg(feature = "cuda")]
    if device == Device::Cuda {
        return crate::cuda::prove(params, pk, circuit.borrow(), &columns, rng);
    }
    let advice = advice_for(params, pk, circuit.borrow())?;
    drop(circuit);
    prove_advice(params, pk, columns[0], advice, rng)
}

/// The proof halo2's own synthesis pass gives (`create_proof` over the circuit). [`prove`]
/// builds the same advice columns directly instead, in parallel and in less memory (for the
/// same rng both commit to the same advice). Kept as the reference the tests compare with.
pub fn prove_synthesized(
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    circuit: &ModelCircuit,
    instances: &[Fr],
    rng: impl RngCore + Send,
) -> Result<Vec<u8>> {
    let own = checked(Device::Cpu, params, pk, circuit, instances)?;
    let columns: [&[Fr]; 1] = [&own];
    guarded("proving", || {
        let mut transcript = ProofTranscriptWriter::init(Vec::new());
        create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(
            params,
            pk,
            std::slice::from_ref(circuit),
            &[&columns],
            rng,
            &mut transcript,
        )
        .map_err(|e| ProverError::halo2("proving", e))?;
        Ok(transcript.finalize())
    })
}

/// The advice columns halo2's own synthesis assigns to `circuit` (`synthesize_witness`),
/// without the blinding rows at the end (zero there). A diagnostic the tests compare
/// [`witness::advice_columns`] with, cell by cell.
pub fn synthesized_advice(params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, circuit: &ModelCircuit, instances: &[Fr]) -> Result<Vec<Vec<Fr>>> {
    let own = checked(Device::Cpu, params, pk, circuit, instances)?;
    let columns: [&[Fr]; 1] = [&own];
    let usable = params.n() as usize - (pk.get_vk().cs().blinding_factors() + 1);
    guarded("synthesis", || {
        let mut transcript = ProofTranscriptWriter::init(Vec::new());
        let (_, advice, _) = synthesize_witness::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(
            params,
            pk,
            std::slice::from_ref(circuit),
            &[&columns],
            rand::rngs::OsRng,
            &mut transcript,
        )
        .map_err(|e| ProverError::halo2("synthesis", e))?;
        let single = advice.into_iter().next().ok_or_else(|| ProverError::halo2("synthesis", "no advice"))?;
        Ok(single
            .advice_values
            .iter()
            .map(|col| {
                let mut v = col.to_vec();
                v[usable..].iter_mut().for_each(|c| *c = Fr::zero());
                v
            })
            .collect())
    })
}

/// The checks every proof makes first: `instances` must be the circuit's public values.
/// Returns its instances ([`instance_values`]: with the public column, those at the point
/// `circuit.ctx.point`).
fn checked(device: Device, params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, circuit: &ModelCircuit, instances: &[Fr]) -> Result<Vec<Fr>> {
    device.check_available()?;
    check_ready(params, pk, circuit)?;
    let own = public_values(&circuit.ctx);
    if own.as_slice() != instances {
        let index = own.iter().zip(instances).position(|(a, b)| a != b).unwrap_or(own.len().min(instances.len()));
        return Err(ProverError::InstanceMismatch { index, len: own.len() });
    }
    Ok(instance_values(&circuit.ctx))
}

/// The circuit's advice columns at the key's size ([`witness::advice_columns`]).
fn advice_for(params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, circuit: &ModelCircuit) -> Result<Vec<Vec<Fr>>> {
    advice_for_at(params, pk, circuit, circuit.ctx.point)
}

/// [`advice_for`] with the public words evaluated at `point` ([`witness::advice_columns_at`]).
fn advice_for_at(params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, circuit: &ModelCircuit, point: Fr) -> Result<Vec<Vec<Fr>>> {
    let advice = witness::advice_columns_at(&circuit.ctx, params.n() as usize, point).map_err(ProverError::Witness)?;
    let expected = pk.get_vk().cs().num_advice_columns();
    if advice.len() != expected {
        return Err(ProverError::Invalid { what: "proving key", why: format!("it has {expected} advice columns, the circuit {}", advice.len()) });
    }
    Ok(advice)
}

/// Proves given advice columns (`create_proof_from_advice` on the CPU), one per advice
/// column at the key's size, with the circuit's public `instances`. Nothing here checks the
/// witness: [`prove`] builds the columns from a layout it has checked first.
pub fn prove_advice(params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, instances: &[Fr], advice: Vec<Vec<Fr>>, rng: impl RngCore + Send) -> Result<Vec<u8>> {
    let columns: [&[Fr]; 1] = [instances];
    guarded("proving", || {
        let mut transcript = ProofTranscriptWriter::init(Vec::new());
        create_proof_from_advice::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _>(
            params,
            pk,
            &columns,
            advice,
            rng,
            &mut transcript,
        )
        .map_err(|e| ProverError::halo2("proving", e))?;
        Ok(transcript.finalize())
    })
}

/// Runs a halo2 call, turning a panic into an error for `stage`: halo2 panics (asserts) on
/// some malformed circuits and inputs instead of returning an error.
fn guarded<T>(stage: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| ProverError::halo2(stage, util::panic_message(&p)))?
}
