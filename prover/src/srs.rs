//! The KZG structured reference string (SRS, "params"): a deterministic unsafe one for
//! development, and loading/saving the halo2 file format.
//!
//! File format (halo2 `ParamsKZG::write`, also used by the public perpetual-powers-of-tau
//! derived `kzg_bn254_NN.srs` files): `k: u32 LE`, then `2^k` G1 points `g`, `2^k` G1 points
//! `g_lagrange`, then `g2` and `s_g2`; points are uncompressed with coordinates in Montgomery
//! form (64 bytes per G1 point, 128 per G2 point).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use halo2_proofs::halo2curves::bn256::{Bn256, G1Affine, G2Affine};
use halo2_proofs::halo2curves::pairing::Engine;
use halo2_proofs::poly::commitment::ParamsProver;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::{SerdeCurveAffine, SerdeFormat};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

use crate::error::{ProverError, Result};
use crate::fsutil;

/// Seed of the dev SRS. Published on purpose: anyone can recompute its secret.
pub const DEV_SRS_SEED: [u8; 32] = *b"zkinfer dev SRS - NOT FOR USE!!!";

/// Printed whenever a dev SRS is made.
pub const DEV_SRS_WARNING: &str = "UNSAFE dev SRS: toxic waste is known, for tests and demos only \
(anyone can forge proofs that verify against it; use a powers-of-tau SRS file for real use)";

/// Largest k BN254 supports (its scalar field has 2-adicity 28).
pub const MAX_K: u32 = 28;

const G1_BYTES: u64 = 64;
const G2_BYTES: u64 = 128;
const SRS_WHAT: &str = "KZG SRS file";

/// A deterministic SRS for `2^k` rows whose secret is derived from the published
/// [`DEV_SRS_SEED`]. Prints [`DEV_SRS_WARNING`] to stderr (once per process) and also
/// returns it.
///
/// The same secret is used for every `k`, so `dev_srs(k)` downsized to `j` equals `dev_srs(j)`.
pub fn dev_srs(k: u32) -> Result<(ParamsKZG<Bn256>, &'static str)> {
    if k > MAX_K {
        return Err(ProverError::SrsTooSmall { have: MAX_K, need: k });
    }
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| eprintln!("WARNING: {DEV_SRS_WARNING}"));
    let params = dev_params(k).map_err(|e| ProverError::Invalid { what: "dev SRS", why: e.to_string() })?;
    Ok((params, DEV_SRS_WARNING))
}

/// The params `ParamsKZG::setup(k, ChaCha20Rng::from_seed(DEV_SRS_SEED))` returns (same
/// secret, same points), computed about 20 times faster: every point is a multiple of the
/// generator, so one table of `d·256^w·G` (32 windows of 255 points) turns each scalar
/// multiplication into 32 additions, and the Lagrange scalars are inverted in batches.
fn dev_params(k: u32) -> std::io::Result<ParamsKZG<Bn256>> {
    use halo2_proofs::halo2curves::bn256::{Fr, G1};
    use halo2_proofs::halo2curves::ff::{Field, PrimeField};
    use halo2_proofs::halo2curves::group::{prime::PrimeCurveAffine, Curve};
    use rayon::prelude::*;

    let n = 1usize << k;
    // the secret, drawn exactly as ParamsKZG::setup draws it
    let s = Fr::random(ChaCha20Rng::from_seed(DEV_SRS_SEED));
    let table = FixedBase::new(G1Affine::generator());
    const CHUNK: usize = 1 << 12;
    let mul_all = |scalars: &[Fr]| -> Vec<G1Affine> {
        let proj: Vec<G1> = scalars.iter().map(|x| table.mul(x)).collect();
        let mut out = vec![G1Affine::identity(); proj.len()];
        G1::batch_normalize(&proj, &mut out);
        out
    };
    // g[i] = s^i·G
    let g: Vec<G1Affine> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .flat_map_iter(|c| {
            let (start, end) = (c * CHUNK, ((c + 1) * CHUNK).min(n));
            let mut x = s.pow_vartime([start as u64]);
            let scalars: Vec<Fr> = (start..end)
                .map(|_| {
                    let v = x;
                    x *= s;
                    v
                })
                .collect();
            mul_all(&scalars)
        })
        .collect();
    // g_lagrange[i] = L_i(s)·G with L_i(s) = (s^n - 1)/n · ω^i / (s - ω^i)
    let mut omega = Fr::ROOT_OF_UNITY_INV.invert().unwrap_or(Fr::ONE);
    for _ in k..Fr::S {
        omega = omega.square();
    }
    let n_inv = Option::<Fr>::from(Fr::from(n as u64).invert()).ok_or_else(|| std::io::Error::other("n is not invertible"))?;
    let multiplier = (s.pow_vartime([n as u64]) - Fr::ONE) * n_inv;
    let g_lagrange: Vec<G1Affine> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .flat_map_iter(|c| {
            let (start, end) = (c * CHUNK, ((c + 1) * CHUNK).min(n));
            let mut w = omega.pow_vartime([start as u64]);
            let mut roots = Vec::with_capacity(end - start);
            for _ in start..end {
                roots.push(w);
                w *= omega;
            }
            // batch inversion of (s - ω^i)
            let dens: Vec<Fr> = roots.iter().map(|r| s - r).collect();
            let mut prefix = Vec::with_capacity(dens.len());
            let mut acc = Fr::ONE;
            for d in &dens {
                prefix.push(acc);
                acc *= d;
            }
            let mut inv = acc.invert().unwrap_or(Fr::ZERO);
            let mut scalars = vec![Fr::ZERO; dens.len()];
            for i in (0..dens.len()).rev() {
                scalars[i] = multiplier * roots[i] * inv * prefix[i];
                inv *= dens[i];
            }
            mul_all(&scalars)
        })
        .collect();
    let g2 = G2Affine::generator();
    let s_g2: G2Affine = (g2 * s).to_affine();
    from_parts(k, g, Some(g_lagrange), g2, s_g2)
}

/// Multiples of a fixed point by table lookup: `table[w][d-1] = d·256^w·P`.
struct FixedBase {
    table: Vec<Vec<G1Affine>>,
}

impl FixedBase {
    fn new(p: G1Affine) -> Self {
        use halo2_proofs::halo2curves::bn256::G1;
        use halo2_proofs::halo2curves::group::Curve;
        let mut base: G1 = p.into();
        // (Curve brings batch_normalize)
        let mut table = Vec::with_capacity(32);
        for _ in 0..32 {
            let mut row = Vec::with_capacity(255);
            let mut acc = base;
            for _ in 0..255 {
                row.push(acc);
                acc += base;
            }
            let mut affine = vec![G1Affine::default(); 255];
            G1::batch_normalize(&row, &mut affine);
            table.push(affine);
            // next window: 256·base
            base = acc;
        }
        FixedBase { table }
    }

    fn mul(&self, x: &halo2_proofs::halo2curves::bn256::Fr) -> halo2_proofs::halo2curves::bn256::G1 {
        use halo2_proofs::halo2curves::bn256::G1;
        use halo2_proofs::halo2curves::ff::PrimeField;
        use halo2_proofs::halo2curves::group::Group;
        let bytes = x.to_repr();
        let mut acc = G1::identity();
        for (w, &b) in bytes.as_ref().iter().enumerate() {
            if b != 0 {
                acc += self.table[w][b as usize - 1];
            }
        }
        acc
    }
}

/// Size in bytes of an SRS file for `2^k` rows.
pub fn srs_file_len(k: u32) -> u64 {
    4 + 2 * (1u64 << k) * G1_BYTES + 2 * G2_BYTES
}

/// Loads an SRS file for (at least) `2^k` rows and returns params for exactly `2^k` rows.
///
/// A larger file is downsized: only its first `2^k` points are read. Every point read is
/// checked to lie on the curve, and `s` in G1 and G2 must agree (a pairing check), so a
/// corrupt file is an error, never a panic or a bad proof.
pub fn load_srs(path: &Path, k: u32) -> Result<ParamsKZG<Bn256>> {
    let file = File::open(path).map_err(|e| ProverError::io(path, e))?;
    let len = file.metadata().map_err(|e| ProverError::io(path, e))?.len();
    let mut r = BufReader::with_capacity(1 << 20, file);
    let corrupt = |why: String| ProverError::corrupt(path, SRS_WHAT, why);
    let mut kb = [0u8; 4];
    r.read_exact(&mut kb).map_err(|e| corrupt(format!("cannot read its header ({e})")))?;
    let have = u32::from_le_bytes(kb);
    if have > MAX_K {
        return Err(corrupt(format!("header says k = {have}, more than BN254 supports ({MAX_K})")));
    }
    if len != srs_file_len(have) {
        return Err(corrupt(format!(
            "it is {len} bytes but an SRS for k = {have} has {} bytes (truncated download?)",
            srs_file_len(have)
        )));
    }
    if have < k {
        return Err(ProverError::SrsTooSmall { have, need: k });
    }
    let n = 1usize << k;
    let g = read_points::<G1Affine>(&mut r, n).map_err(|e| corrupt(format!("in the powers of s: {e}")))?;
    let g_lagrange = if have == k {
        Some(read_points::<G1Affine>(&mut r, n).map_err(|e| corrupt(format!("in the Lagrange basis: {e}")))?)
    } else {
        // skip the rest of `g` and all of `g_lagrange`; the basis is recomputed for 2^k
        r.seek(SeekFrom::Start(4 + 2 * (1u64 << have) * G1_BYTES)).map_err(|e| ProverError::io(path, e))?;
        None
    };
    let [g2, s_g2] = read_points::<G2Affine>(&mut r, 2)
        .map_err(|e| corrupt(format!("in the G2 points: {e}")))?
        .try_into()
        .map_err(|_| corrupt("missing G2 points".into()))?;
    if let Some(g1) = g.get(1) {
        if Bn256::pairing(g1, &g2) != Bn256::pairing(&g[0], &s_g2) {
            return Err(corrupt("its G1 and G2 points are not powers of the same secret".into()));
        }
    }
    from_parts(k, g, g_lagrange, g2, s_g2).map_err(|e| corrupt(e.to_string()))
}

/// Reads `n` uncompressed points, checking each lies on the curve (halo2curves' `RawBytes`
/// reader only checks the coordinates are field elements).
fn read_points<C: SerdeCurveAffine>(r: &mut impl Read, n: usize) -> std::io::Result<Vec<C>> {
    (0..n)
        .map(|i| {
            let p = C::read(r, SerdeFormat::RawBytes)?;
            if bool::from(p.is_on_curve()) {
                Ok(p)
            } else {
                Err(std::io::Error::other(format!("point {i} is not on the curve")))
            }
        })
        .collect()
}

/// Builds params from the first `2^k` powers `g` (and their Lagrange basis, recomputed if
/// `None`).
fn from_parts(k: u32, g: Vec<G1Affine>, g_lagrange: Option<Vec<G1Affine>>, g2: G2Affine, s_g2: G2Affine) -> std::io::Result<ParamsKZG<Bn256>> {
    // ParamsKZG has no free constructor from parts, only the method `from_parts(&self, ..)`,
    // which ignores `self`: make a throwaway k = 0 instance to call it on.
    let first = g.first().copied().ok_or_else(|| std::io::Error::other("no points"))?;
    let mut tiny = Vec::with_capacity((4 + 2 * G1_BYTES + 2 * G2_BYTES) as usize);
    tiny.extend_from_slice(&0u32.to_le_bytes());
    for p in [first, first] {
        p.write(&mut tiny, SerdeFormat::RawBytes)?;
    }
    g2.write(&mut tiny, SerdeFormat::RawBytes)?;
    s_g2.write(&mut tiny, SerdeFormat::RawBytes)?;
    let seed = ParamsKZG::<Bn256>::read_custom(&mut tiny.as_slice(), SerdeFormat::RawBytes)?;
    Ok(seed.from_parts(k, g, g_lagrange, g2, s_g2))
}

/// Writes params in the halo2 file format (readable by [`load_srs`] and by other halo2 tools).
pub fn save_srs(params: &ParamsKZG<Bn256>, path: &Path) -> Result<()> {
    fsutil::write_atomic(path, |mut w| params.write_custom(&mut w, SerdeFormat::RawBytes))
}

/// Identifies the SRS independently of its size: `sha256(raw(s·G1) || raw(s·G2))`, equal for an
/// SRS and any downsized version of it. Keys record it so a wrong SRS gives a clear error.
pub fn srs_fingerprint(params: &ParamsKZG<Bn256>) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut buf = Vec::with_capacity((G1_BYTES + G2_BYTES) as usize);
    // k = 0 params have only g[0]; use it then (such params cannot prove anything anyway).
    let g = params.get_g();
    let p = g.get(1).or(g.first());
    // Writing into a Vec cannot fail.
    if let Some(p) = p {
        let _ = p.write(&mut buf, SerdeFormat::RawBytes);
    }
    let _ = params.s_g2().write(&mut buf, SerdeFormat::RawBytes);
    h.update(&buf);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use halo2_proofs::poly::commitment::Params;

    use super::*;

    #[test]
    fn dev_srs_is_deterministic_and_downsizes_consistently() {
        let (a, warning) = dev_srs(4).expect("k = 4");
        assert!(warning.starts_with("UNSAFE dev SRS"));
        let (b, _) = dev_srs(4).expect("k = 4");
        assert_eq!(a.get_g(), b.get_g());
        let (mut big, _) = dev_srs(6).expect("k = 6");
        big.downsize(4);
        assert_eq!(big.get_g(), a.get_g());
        assert_eq!(srs_fingerprint(&big), srs_fingerprint(&a));
    }

    /// The fast dev SRS is exactly halo2's `ParamsKZG::setup` with the published seed.
    #[test]
    fn fast_dev_srs_equals_halo2_setup() {
        for k in [1, 4, 9] {
            let ours = dev_params(k).expect("dev params");
            let theirs = ParamsKZG::<Bn256>::setup(k, ChaCha20Rng::from_seed(DEV_SRS_SEED));
            assert_eq!(ours.get_g(), theirs.get_g(), "k = {k}: powers");
            let (mut a, mut b) = (Vec::new(), Vec::new());
            ours.write_custom(&mut a, SerdeFormat::RawBytes).expect("write");
            theirs.write_custom(&mut b, SerdeFormat::RawBytes).expect("write");
            assert!(a == b, "k = {k}: the serialized params differ (Lagrange basis or G2)");
        }
    }

    #[test]
    fn file_len_matches_writer() {
        let (p, _) = dev_srs(3).expect("k = 3");
        let mut buf = Vec::new();
        p.write_custom(&mut buf, SerdeFormat::RawBytes).expect("write to vec");
        assert_eq!(buf.len() as u64, srs_file_len(3));
    }
}
