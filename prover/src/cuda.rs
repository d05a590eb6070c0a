//! The CUDA backend of [`crate::prove::prove_on`] (feature `cuda`): `halo2-axiom-gpu`, whose
//! proving keys, circuit frontend and transcripts are halo2-axiom's own types, so the same
//! `pk.bin` proves on either device and the proofs verify with the same verifier. Only its
//! `ParamsKZG` is a separate type: the SRS crosses over in halo2's raw byte format.

use std::panic::{catch_unwind, AssertUnwindSafe};

use halo2_axiom_gpu::plonk::create_proof;
use halo2_axiom_gpu::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG as GpuParams};
use halo2_axiom_gpu::poly::kzg::multiopen::ProverSHPLONK;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::ProvingKey;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::transcript::TranscriptWriterBuffer;
use halo2_proofs::SerdeFormat;
use rand::RngCore;
use zkinfer_circuits::layout::circuit::ModelCircuit;

use crate::error::{ProverError, Result};
use crate::prove::ProofTranscriptWriter;
use crate::util;

/// The SRS as the GPU crate's type.
fn gpu_params(params: &ParamsKZG<Bn256>) -> Result<GpuParams<Bn256>> {
    let mut buf = Vec::new();
    params.write_custom(&mut buf, SerdeFormat::RawBytesUnchecked).map_err(|e| ProverError::halo2("GPU SRS", e))?;
    GpuParams::<Bn256>::read_custom(&mut &buf[..], halo2_axiom_gpu::SerdeFormat::RawBytesUnchecked).map_err(|e| ProverError::halo2("GPU SRS", e))
}

/// Proves on the GPU (the caller has checked the circuit and instances).
pub fn prove(params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, circuit: &ModelCircuit, columns: &[&[Fr]; 1], rng: impl RngCore + Send) -> Result<Vec<u8>> {
    let gp = gpu_params(params)?;
    catch_unwind(AssertUnwindSafe(|| {
        let mut transcript = ProofTranscriptWriter::init(Vec::new());
        create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(&gp, pk, std::slice::from_ref(circuit), &[&columns[..]], rng, &mut transcript)
            .map_err(|e| ProverError::halo2("GPU proving", format!("{e:?}")))?;
        Ok(transcript.finalize())
    }))
    .map_err(|p| ProverError::halo2("GPU proving", util::panic_message(&p)))?
}
