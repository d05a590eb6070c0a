use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use zkinfer_circuits::onnx::ImportOptions;

use crate::files::{read_inputs, Workdir};
use zkinfer_prover::artifacts::ProofFile;
use zkinfer_prover::Fr;
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
    say!("zkinfer demo on {}", a.model.display());
    let wd = Workdir(a.out);
    let t = Instant::now();
    let s = pipeline::compile(&a.model.join("model.onnx"), ImportOptions::default(), None, pipeline::Objective::default())?;
    wd.write_settings(&s)?;
    say!("1. compile: {} IR nodes, {} rows, k = {}, {} columns ({:.2} s)", s.graph.nodes.len(), s.rows, s.k, s.shape.width, t.elapsed().as_secs_f64());
    let t = Instant::now();
    let params = pipeline::load_params(None, s.k)?;
    pipeline::setup(&wd, &s, &params)?;
    say!("2. setup (UNSAFE dev SRS, demo only): keys in {} ({:.2} s)", wd.0.display(), t.elapsed().as_secs_f64());
    let data = read_inputs(&a.model.join("input.json"))?;
    let p = pipeline::prove(&wd, &s, &params, &data, false, Fr::zero())?;
    p.write(&wd.proof())?;
    let out = &p.outputs[0];
    let digit = out.values.iter().enumerate().fold(0, |b, (i, &x)| if x > out.values[b] { i } else { b });
    say!("3. prove: predicted digit {digit}; proof {} bytes; prove time {:.2} s", (p.proof.len() - 2) / 2, p.prove_seconds);
    let t = Instant::now();
    let v = pipeline::verify(&wd, &s, &params, &p)?;
    say!("4. verify (native): {v} ({:.3} s)", t.elapsed().as_secs_f64());
    if !v.is_valid() {
        bail!("the honest proof did not verify");
    }
    // The attack: claim another digit, with public instances consistent with the claim.
    let forged = forge_output(&s.graph, &p, digit)?;
    let v = pipeline::verify(&wd, &s, &params, &forged)?;
    say!("5. tamper check: the same proof claiming digit {} is {v}", (digit + 1) % 10);
    if v.is_valid() {
        bail!("a forged output was accepted");
    }
    let t = Instant::now();
    let r = pipeline::evm_verifier(&wd, &s, &params, Some(&p))?;
    let o = r.outcome.as_ref().expect("a proof was given");
    say!(
        "6. EVM: Solidity verifier compiled (solcjs 0.8.19), {} bytes deployed; in-process EVM: {} with {} gas ({:.2} s)",
        r.deployed_size,
        if o.success { "valid" } else { "REJECTED" },
        o.gas_used,
        t.elapsed().as_secs_f64()
    );
    if !o.success {
        bail!("the EVM verifier rejected the honest proof");
    }
    let forged_inst = forged.instances_fr()?;
    let bad = zkinfer_prover::evm::evm_verify_parts(&r.bytecode, &pipeline::part_slices(&r.parts), &forged_inst, &p.proof_bytes()?)?;
    say!("7. EVM tamper check: the same proof claiming another digit is {}", if bad.success { "ACCEPTED" } else { "rejected (reverted)" });
    if bad.success {
        bail!("the EVM verifier accepted a forged output");
    }
    say!("8. market (embedded revm chain): registry + market deployed, model registered, provider staked");
    let mut chain = crate::market::local::LocalChain::new()?;
    let st = crate::market::flow::settle(&mut chain, &wd, &s, &params, &data, Some((&r.bytecode, &r.parts)))?;
    say!("{}", st.table());
    Ok(())
}

/// A copy of `p` whose output claims `(digit + 1) % 10` (its logit swapped with the winner's).
fn forge_output(g: &zkinfer_circuits::ir::Graph, p: &ProofFile, digit: usize) -> Result<ProofFile> {
    let mut f = p.clone();
    let out = &mut f.outputs[0];
    let other = (digit + 1) % out.quantized.len();
    out.quantized.swap(digit, other);
    out.values.swap(digit, other);
    let t = |v: &[zkinfer_prover::artifacts::TensorValues]| -> Vec<zkinfer_circuits::ir::Tensor> {
        v.iter().map(|x| zkinfer_circuits::ir::Tensor { shape: x.shape.clone(), data: x.quantized.clone() }).collect()
    };
    let inst = zkinfer_circuits::public::instances(g, &t(&f.inputs), &t(&f.outputs)).map_err(anyhow::Error::msg)?;
    f.instances = inst.iter().map(zkinfer_prover::util::fr_to_hex).collect();
    Ok(f)
}
