//! Native proof verification. A proof that does not verify is a [`Verdict`], not an error.

use std::panic::{catch_unwind, AssertUnwindSafe};

use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{verify_proof, VerifyingKey};
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::multiopen::VerifierSHPLONK;
use halo2_proofs::poly::kzg::strategy::SingleStrategy;
use halo2_proofs::transcript::TranscriptReadBuffer;
use snark_verifier_sdk::snark_verifier::loader::native::NativeLoader;
use snark_verifier_sdk::snark_verifier::system::halo2::transcript::evm::EvmTranscript;

/// The outcome of verifying a proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    /// The proof does not prove the statement; the reason is for humans.
    Invalid(String),
}

impl Verdict {
    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Valid => write!(f, "valid"),
            Verdict::Invalid(why) => write!(f, "INVALID: {why}"),
        }
    }
}

/// Verifies `proof` for public `values` (the binding, then the packed inputs and outputs):
/// with the public column (`public_column`, the circuit shape's flag) against the three
/// instances derived from the values and the proof ([`crate::public_column::instances`]),
/// otherwise with the values as the instances ([`verify`]).
pub fn verify_values(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, public_column: bool, values: &[Fr], proof: &[u8]) -> Verdict {
    if !public_column {
        return verify(params, vk, values, proof);
    }
    match crate::public_column::instances(vk, values, proof) {
        Ok(instances) => verify(params, vk, &instances, proof),
        Err(e) => Verdict::Invalid(e.to_string()),
    }
}

/// Verifies `proof` for public `instances` (quantized inputs then outputs) against `vk`.
/// `params` is the SRS the key was generated with, at any size (only its first G1 point and
/// its G2 points are used).
pub fn verify(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, instances: &[Fr], proof: &[u8]) -> Verdict {
    let columns: [&[Fr]; 1] = [instances];
    // Backstop: a malformed proof must give a verdict, not take the process down.
    let res = catch_unwind(AssertUnwindSafe(|| {
        let mut rest = proof;
        let mut transcript = EvmTranscript::<G1Affine, NativeLoader, &mut &[u8], Vec<u8>>::init(&mut rest);
        let res = verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<'_, Bn256>, _, _, SingleStrategy<'_, Bn256>>(
            params,
            vk,
            SingleStrategy::new(params),
            &[&columns],
            &mut transcript,
        );
        drop(transcript);
        res.map(|()| rest.len())
    }));
    match res {
        Err(p) => Verdict::Invalid(format!("verifier failed on malformed input: {}", crate::util::panic_message(&p))),
        Ok(Err(e)) => Verdict::Invalid(format!("proof rejected: {e}")),
        Ok(Ok(0)) => Verdict::Valid,
        Ok(Ok(rest)) => Verdict::Invalid(format!("{rest} unexpected bytes after the proof")),
    }
}
