//! Micro-benchmarks of the two kernels that dominate proving: the multi-scalar
//! multiplication (MSM) over G1 and the number-theoretic transform (NTT) over Fr, at `2^log_n`
//! elements, on the CPU (halo2-axiom) and, in builds with the `cuda` feature, on the GPU
//! (halo2-axiom-gpu), each GPU result checked against the CPU's. `zkinfer bench-kernels`
//! prints them.

use std::time::Instant;

use halo2_proofs::arithmetic::{best_fft, best_multiexp};
use halo2_proofs::fft::recursive::FFTData;
use halo2_proofs::halo2curves::bn256::{Fr, G1Affine, G1};
use halo2_proofs::halo2curves::ff::{Field, PrimeField};
use halo2_proofs::halo2curves::group::{prime::PrimeCurveAffine, Curve};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::error::{ProverError, Result};

/// One kernel at one size.
#[derive(Clone, Debug, serde::Serialize)]
pub struct KernelTiming {
    pub kernel: &'static str,
    pub log_n: u32,
    pub cpu_seconds: f64,
    /// GPU time (`None` without a GPU build or when asked for the CPU only).
    pub gpu_seconds: Option<f64>,
    /// Whether the GPU result equals the CPU result.
    pub gpu_matches_cpu: Option<bool>,
}

/// Deterministic inputs: scalars from a seeded RNG; bases g, 2g, 3g, ... (cheap to make).
fn inputs(n: usize) -> (Vec<Fr>, Vec<G1Affine>) {
    let mut rng = ChaCha20Rng::seed_from_u64(n as u64);
    let scalars: Vec<Fr> = (0..n).map(|_| Fr::random(&mut rng)).collect();
    let g = G1Affine::generator();
    let mut acc = G1::from(g);
    let mut proj = Vec::with_capacity(n);
    for _ in 0..n {
        proj.push(acc);
        acc += g;
    }
    let mut bases = vec![G1Affine::identity(); n];
    G1::batch_normalize(&proj, &mut bases);
    (scalars, bases)
}

/// A primitive `2^log_n`-th root of unity.
fn omega(log_n: u32) -> Fr {
    let mut w = Fr::ROOT_OF_UNITY;
    for _ in log_n..Fr::S {
        w = w.square();
    }
    w
}

fn time<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let t = Instant::now();
    let out = f();
    (t.elapsed().as_secs_f64(), out)
}

/// Times MSM and NTT at each size (each size up to 2^26); `gpu` also runs them on the GPU.
pub fn bench(log_ns: &[u32], gpu: bool) -> Result<Vec<KernelTiming>> {
    if gpu {
        crate::prove::Device::Cuda.check_available()?;
    }
    let mut out = Vec::new();
    for &log_n in log_ns {
        if !(1..=26).contains(&log_n) {
            return Err(ProverError::Invalid { what: "kernel size", why: format!("2^{log_n}: give 1 <= log_n <= 26") });
        }
        let n = 1usize << log_n;
        let (scalars, bases) = inputs(n);
        let (cpu_seconds, cpu_msm) = time(|| best_multiexp(&scalars, &bases));
        let (gpu_seconds, gpu_matches_cpu) = if gpu { gpu_msm(&scalars, &bases, cpu_msm)? } else { (None, None) };
        out.push(KernelTiming { kernel: "msm", log_n, cpu_seconds, gpu_seconds, gpu_matches_cpu });

        let w = omega(log_n);
        let data = FFTData::new(n, w, w.invert().unwrap_or(Fr::ONE));
        let mut a = scalars.clone();
        let (cpu_seconds, ()) = time(|| best_fft(&mut a, w, log_n, &data, false));
        let (gpu_seconds, gpu_matches_cpu) = if gpu { gpu_ntt(&scalars, log_n, w, &a)? } else { (None, None) };
        out.push(KernelTiming { kernel: "ntt", log_n, cpu_seconds, gpu_seconds, gpu_matches_cpu });
    }
    Ok(out)
}

#[cfg(feature = "cuda")]
fn gpu_msm(scalars: &[Fr], bases: &[G1Affine], want: G1) -> Result<(Option<f64>, Option<bool>)> {
    // the first call pays CUDA context and kernel loading: warm up on a small input
    let _ = halo2_axiom_gpu::arithmetic::best_multiexp(&scalars[..scalars.len().min(1 << 14)], &bases[..bases.len().min(1 << 14)]);
    let (s, got) = time(|| halo2_axiom_gpu::arithmetic::best_multiexp(scalars, bases));
    Ok((Some(s), Some(got.to_affine() == want.to_affine())))
}

#[cfg(feature = "cuda")]
fn gpu_ntt(input: &[Fr], log_n: u32, w: Fr, want: &[Fr]) -> Result<(Option<f64>, Option<bool>)> {
    let mut a = input.to_vec();
    // NttType::FFT = 1 in halo2-axiom-gpu's kernel selector; divisor 1
    let (s, r) = time(|| halo2_axiom_gpu::cuda::funcs::ntt::split_radix_fft_gpu(1, &mut a, log_n, log_n, w, Fr::ONE));
    r.map_err(|e| ProverError::halo2("GPU NTT", format!("{e:?}")))?;
    Ok((Some(s), Some(a == want)))
}

#[cfg(not(feature = "cuda"))]
fn gpu_msm(_: &[Fr], _: &[G1Affine], _: G1) -> Result<(Option<f64>, Option<bool>)> {
    Ok((None, None))
}

#[cfg(not(feature = "cuda"))]
fn gpu_ntt(_: &[Fr], _: u32, _: Fr, _: &[Fr]) -> Result<(Option<f64>, Option<bool>)> {
    Ok((None, None))
}

#[cfg(test)]
mod tests {
    use halo2_proofs::halo2curves::group::Group;

    use super::*;

    #[test]
    fn kernels_run_on_the_cpu_and_agree_with_naive_definitions() {
        let t = bench(&[4], false).expect("bench");
        assert_eq!(t.len(), 2);
        // MSM against the naive sum; NTT of a delta at 1 is the powers of omega
        let (s, b) = inputs(16);
        let naive = s.iter().zip(&b).fold(G1::identity(), |acc, (x, p)| acc + p * x);
        assert_eq!(best_multiexp(&s, &b).to_affine(), naive.to_affine());
        let w = omega(4);
        let mut a = vec![Fr::ZERO; 16];
        a[1] = Fr::ONE;
        best_fft(&mut a, w, 4, &FFTData::new(16, w, w.invert().unwrap_or(Fr::ONE)), false);
        assert_eq!(a[3], w.pow_vartime([3]));
        assert!(bench(&[30], false).is_err());
        assert_eq!(bench(&[4], true).is_err(), !cfg!(feature = "cuda"));
    }
}
