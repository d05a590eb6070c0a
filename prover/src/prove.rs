//! Proof generation: SHPLONK KZG over BN254 with the Keccak (EVM) transcript, so the same proof
//! bytes verify natively ([`crate::verify`]) and in the generated Solidity verifier
//! ([`crate::evm`]).

use std::panic::{catch_unwind, AssertUnwindSafe};

use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{create_proof, ProvingKey};
use halo2_proofs::poly::commitment::Params;
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::multiopen::ProverSHPLONK;
use halo2_proofs::transcript::TranscriptWriterBuffer;
use rand::RngCore;
use snark_verifier_sdk::snark_verifier::loader::native::NativeLoader;
use snark_verifier_sdk::snark_verifier::system::halo2::transcript::evm::EvmTranscript;
use zkinfer_circuits::layout::circuit::{instance_values, ModelCircuit};

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
    device.check_available()?;
    check_ready(params, pk, circuit)?;
    let own = instance_values(&circuit.ctx);
    if own.as_slice() != instances {
        let index = own.iter().zip(instances).position(|(a, b)| a != b).unwrap_or(own.len().min(instances.len()));
        return Err(ProverError::InstanceMismatch { index, len: own.len() });
    }
    let columns: [&[Fr]; 1] = [instances];
    #[cfg(feature = "cuda")]
    if device == Device::Cuda {
        return crate::cuda::prove(params, pk, circuit, &columns, rng);
    }
    // Backstop: halo2 panics on some malformed circuits instead of returning an error.
    catch_unwind(AssertUnwindSafe(|| {
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
    }))
    .map_err(|p| ProverError::halo2("proving", util::panic_message(&p)))?
}
