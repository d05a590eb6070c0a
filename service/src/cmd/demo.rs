use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use zkinfer_circuits::layout::ctx::Shape;
use zkinfer_circuits::onnx::ImportOptions;

use crate::files::{read_inputs, write_json, Workdir};
use crate::pipeline;

#[derive(clap::Args)]
pub struct Args {
    /// Model directory holding model.onnx and input.json.
    #[arg(long, default_value = "models/digits_mlp_int8")]
    model: PathBuf,
    /// Working directory for the artifacts.
    #[arg(long, default_value = "out/demo")]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    println!("zkinfer demo on {}", a.model.display());
    let wd = Workdir(a.out);
    let t = Instant::now();
    let s = pipeline::compile(&a.model.join("model.onnx"), ImportOptions::default(), Shape::default())?;
    write_json(&wd.settings(), &s)?;
    println!("1. compile: {} IR nodes, {} rows, k = {} ({:.2} s)", s.graph.nodes.len(), s.rows, s.k, t.elapsed().as_secs_f64());
    let t = Instant::now();
    let params = pipeline::load_params(None, s.k)?;
    pipeline::setup(&wd, &s, &params)?;
    println!("2. setup (UNSAFE dev SRS, demo only): keys in {} ({:.2} s)", wd.0.display(), t.elapsed().as_secs_f64());
    let data = read_inputs(&a.model.join("input.json"))?;
    let p = pipeline::prove(&wd, &s, &params, &data, false)?;
    write_json(&wd.proof(), &p)?;
    let out = &p.outputs[0];
    let digit = out.values.iter().enumerate().fold(0, |b, (i, &x)| if x > out.values[b] { i } else { b });
    println!("3. prove: predicted digit {digit}; proof {} bytes; prove time {:.2} s", (p.proof.len() - 2) / 2, p.prove_seconds);
    let t = Instant::now();
    let v = pipeline::verify(&wd, &s, &params, &p)?;
    println!("4. verify (native): {v} ({:.3} s)", t.elapsed().as_secs_f64());
    if !v.is_valid() {
        bail!("the honest proof did not verify");
    }
    let mut forged = p.clone();
    let last = forged.instances.len() - 1;
    forged.instances[last] = zkinfer_prover::util::fr_to_hex(&(zkinfer_prover::util::fr_from_hex(&forged.instances[last])? + halo2_proofs::halo2curves::bn256::Fr::one()));
    let v = pipeline::verify(&wd, &s, &params, &forged)?;
    println!("5. tamper check: the same proof with a changed output is {v}");
    if v.is_valid() {
        bail!("a forged output was accepted");
    }
    Ok(())
}
