//! Proving and verifying circuits whose public words sit in a committed column
//! ([`zkinfer_circuits::layout::public_column`]).
//!
//! Callers deal in *public values* as for every circuit (the binding, then the packed inputs
//! and outputs, [`zkinfer_circuits::layout::circuit::public_values`]); the proof's three
//! instances are derived from them and from the proof itself:
//!
//! 1. `C_P`, the commitment to the public column, is the proof's last advice commitment
//!    (the advice commitments open the proof, 64 bytes each: `x ‖ y`, big-endian).
//! 2. `c = keccak256(w_0 ‖ … ‖ w_(n−1) ‖ C_P) mod r`, each word as 32 big-endian bytes
//!    ([`point`]): what a contract computes over its calldata and the proof bytes.
//! 3. `h = Σ_i w_i c^(n−1−i)`.
//!
//! The prover needs `C_P` before it lays out `h`. `create_proof_from_advice` fills every
//! advice column's blinding rows from the RNG, column by column, before it commits any; so
//! the prover draws a ChaCha seed from the caller's RNG, replays a copy of that RNG through
//! the same draws up to the public column's, and commits the column itself. After proving it
//! checks the proof holds the commitment it hashed.

use halo2_proofs::halo2curves::bn256::{Bn256, Fq, Fr, G1Affine};
use halo2_proofs::halo2curves::ff::{Field, FromUniformBytes, PrimeField};
use halo2_proofs::halo2curves::group::Curve;
use halo2_proofs::halo2curves::CurveAffine;
use halo2_proofs::plonk::{ProvingKey, VerifyingKey};
use halo2_proofs::poly::commitment::{Blind, Params};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha3::{Digest, Keccak256};
use zkinfer_circuits::layout::public_column::horner;

use crate::error::{ProverError, Result};
use crate::util::fr_to_be_bytes;

/// Bytes of one commitment in a proof.
pub const POINT_BYTES: usize = 64;

fn fq_be(v: &Fq) -> [u8; 32] {
    let mut b: [u8; 32] = v.to_repr();
    b.reverse();
    b
}

/// A commitment as the proof writes it: `x ‖ y`, each 32 bytes big-endian.
pub fn commitment_bytes(p: &G1Affine) -> Result<[u8; POINT_BYTES]> {
    let coords = Option::<halo2_proofs::halo2curves::Coordinates<G1Affine>>::from(p.coordinates())
        .ok_or_else(|| ProverError::halo2("proving", "the public column's commitment is the point at infinity"))?;
    let mut out = [0u8; POINT_BYTES];
    out[..32].copy_from_slice(&fq_be(coords.x()));
    out[32..].copy_from_slice(&fq_be(coords.y()));
    Ok(out)
}

/// `keccak256(w_0 ‖ … ‖ w_(n−1) ‖ C_P) mod r`, the point the words are evaluated at.
pub fn point(words: &[Fr], commitment: &[u8; POINT_BYTES]) -> Fr {
    let mut h = Keccak256::new();
    for w in words {
        h.update(fr_to_be_bytes(w));
    }
    h.update(commitment);
    let digest: [u8; 32] = h.finalize().into();
    // the 256-bit big-endian integer, reduced mod r
    let mut wide = [0u8; 64];
    for (i, b) in digest.iter().rev().enumerate() {
        wide[i] = *b;
    }
    Fr::from_uniform_bytes(&wide)
}

/// Index of the public column among the advice columns: the last one.
pub fn column_index(vk: &VerifyingKey<G1Affine>) -> Result<usize> {
    vk.cs().num_advice_columns().checked_sub(1).ok_or_else(|| ProverError::Invalid { what: "verifying key", why: "it has no advice columns".into() })
}

/// The public column's commitment as `proof` holds it.
pub fn commitment_in(vk: &VerifyingKey<G1Affine>, proof: &[u8]) -> Result<[u8; POINT_BYTES]> {
    let at = column_index(vk)? * POINT_BYTES;
    let bytes = proof.get(at..at + POINT_BYTES).ok_or_else(|| ProverError::Invalid { what: "proof", why: format!("it is {} bytes, too short to hold the public column's commitment at byte {at}", proof.len()) })?;
    let mut out = [0u8; POINT_BYTES];
    out.copy_from_slice(bytes);
    Ok(out)
}

/// The proof's instances `(binding, c, h)` for public `values` (the binding, then the
/// words): what a verifier checks a public-column proof against.
pub fn instances(vk: &VerifyingKey<G1Affine>, values: &[Fr], proof: &[u8]) -> Result<Vec<Fr>> {
    let (binding, words) = values.split_first().ok_or_else(|| ProverError::Invalid { what: "public values", why: "there are none (the binding comes first)".into() })?;
    let c = point(words, &commitment_in(vk, proof)?);
    Ok(vec![*binding, c, horner(words, c)])
}

/// What the prover of a public-column circuit draws before proving: the RNG it proves with
/// and the commitment the proof will hold.
pub struct Prepared {
    pub rng: ChaCha20Rng,
    pub commitment: [u8; POINT_BYTES],
    pub point: Fr,
}

/// Seeds the proof's RNG from `rng`, replays its blinding draws to learn the public column
/// (`words`, then its blinding rows), commits it and draws the point.
pub fn prepare(params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, words: &[Fr], mut rng: impl RngCore) -> Result<Prepared> {
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    let proof_rng = ChaCha20Rng::from_seed(seed);
    let vk = pk.get_vk();
    let cs = vk.cs();
    let n = params.n() as usize;
    let tail = cs.blinding_factors() + 1;
    let p = column_index(vk)?;
    if words.len() > n - tail {
        return Err(ProverError::Invalid { what: "public column", why: format!("{} words do not fit its {} usable rows", words.len(), n - tail) });
    }
    // `create_proof_from_advice`'s draws: each advice column's blinding rows, in column order
    let mut replay = proof_rng.clone();
    let mut column = vec![Fr::ZERO; n];
    for j in 0..=p {
        for r in n - tail..n {
            let v = Fr::random(&mut replay);
            if j == p {
                column[r] = v;
            }
        }
    }
    column[..words.len()].copy_from_slice(words);
    let poly = vk.get_domain().lagrange_from_vec(column);
    let commitment = commitment_bytes(&params.commit_lagrange(&poly, Blind::default()).to_affine())?;
    Ok(Prepared { rng: proof_rng, point: point(words, &commitment), commitment })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The point is the keccak of the words' and the commitment's bytes, read as a
    /// big-endian integer mod r, as a contract computes it.
    #[test]
    fn the_point_is_keccak_mod_r_over_big_endian_words() {
        let words = [Fr::from(1), -Fr::one()];
        let commitment = [7u8; POINT_BYTES];
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&fr_to_be_bytes(&words[0]));
        bytes.extend_from_slice(&fr_to_be_bytes(&words[1]));
        bytes.extend_from_slice(&commitment);
        assert_eq!(&bytes[31..32], &[1]);
        let digest: [u8; 32] = Keccak256::digest(&bytes).into();
        // reduce by hand: digest = hi·2^128 + lo
        let (hi, lo) = (u128::from_be_bytes(digest[..16].try_into().unwrap()), u128::from_be_bytes(digest[16..].try_into().unwrap()));
        let expect = Fr::from_u128(hi) * Fr::from_u128(1u128 << 64) * Fr::from_u128(1u128 << 64) + Fr::from_u128(lo);
        assert_eq!(point(&words, &commitment), expect);
        assert_ne!(point(&words, &[8u8; POINT_BYTES]), expect);
    }
}
