//! `zkinfer bench-kernels [--log-n 16,18,20,22] [--gpu]`: MSM and NTT timings, one JSON line
//! per kernel and size, with the GPU/CPU ratio in a `zkinfer-cuda` build
//! ([`zkinfer_prover::kernels`]).

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Sizes as log2 of the element count.
    #[arg(long, value_delimiter = ',', default_value = "16,18,20,22")]
    log_n: Vec<u32>,
    /// Also run on the GPU (zkinfer-cuda builds; default there).
    #[arg(long, default_value_t = zkinfer_prover::Device::Cuda.available_in_build())]
    gpu: bool,
}

pub fn run(a: Args) -> Result<()> {
    for t in zkinfer_prover::kernels::bench(&a.log_n, a.gpu)? {
        let ratio = t.gpu_seconds.map(|g| t.cpu_seconds / g);
        let line = serde_json::json!({ "kernel": t.kernel, "log_n": t.log_n, "cpu_s": t.cpu_seconds, "gpu_s": t.gpu_seconds, "cpu_over_gpu": ratio, "gpu_matches_cpu": t.gpu_matches_cpu });
        say!("{line}");
    }
    Ok(())
}
