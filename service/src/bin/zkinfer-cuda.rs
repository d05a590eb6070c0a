//! `zkinfer-cuda`: the `zkinfer` CLI built with the CUDA prover (feature `cuda`). `prove`
//! defaults to `--device cuda` here. Built by scripts/build-cuda.sh; needs an NVIDIA GPU and
//! its driver at start-up.

fn main() {
    zkinfer_service::cmd::main();
}
