use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use super::SrsArgs;
use crate::files::Workdir;
use zkinfer_prover::artifacts::ProofFile;
use zkinfer_prover::identity::ModelId;
use crate::pipeline;

#[derive(clap::Args)]
pub struct Args {
    /// Directory with settings.json and vk.bin.
    dir: PathBuf,
    /// The proof file.
    proof: PathBuf,
    /// Require a hashed tensor's digest (e.g. a registered commitment, or a model owner's
    /// published weights digest): NAME=0xDIGEST (repeatable). Verification fails if the proof's digest for NAME differs.
    #[arg(long = "expect", value_name = "NAME=DIGEST")]
    expect: Vec<String>,
    /// Require the model identity (as `zkinfer setup` prints it, or a registry's `vkHash`):
    /// refuses keys and settings of any other model.
    #[arg(long = "model", value_name = "ID")]
    model: Option<String>,
    /// Accept a proof of a model whose weights are private witnesses: it shows only that
    /// SOME weights in the declared ranges computed the output.
    #[arg(long = "any-weights")]
    any_weights: bool,
    #[command(flatten)]
    srs: SrsArgs,
}

pub fn run(a: Args) -> Result<serde_json::Value> {
    let wd = Workdir(a.dir);
    let s = wd.load_settings()?;
    let p = ProofFile::read(&a.proof)?;
    let want = a.model.as_deref().map(ModelId::from_hex).transpose().context("--model")?;
    // (verify recomputes DIR's identity and refuses a proof of another model, so past it the
    // proof's model_hash is DIR's identity)
    let v = match crate::sharding::load(&wd, &s)? {
        Some(sh) => crate::sharding::verify(&wd, &s, &sh, a.srs.srs.as_deref(), &p)?,
        None => pipeline::verify(&wd, &s, &pipeline::load_params(a.srs.srs.as_deref(), s.k)?, &p)?,
    };
    if let Some(want) = want {
        if ModelId::from_hex(&p.model_hash)? != want {
            bail!("{} holds model {}, not the expected {want}", wd.0.display(), p.model_hash);
        }
    }
    say!("proof {}: {v}", a.proof.display());
    if !v.is_valid() {
        return Err(super::Rejected(format!("verification failed: {v}")).into());
    }
    let weights = pipeline::check_weights(&s, &p, &a.expect, a.any_weights).map_err(|e| super::Rejected(format!("{e:#}")))?;
    if let Some(what) = &weights {
        say!("weights: {what}");
    }
    for t in p.inputs.iter().map(|t| ("input", t)).chain(p.outputs.iter().map(|t| ("output", t))).chain(p.weights.iter().map(|t| ("weights", t))) {
        match (t.1.visibility, &t.1.digest) {
            (zkinfer_circuits::ir::Visibility::Hashed, Some(d)) => say!("{} {}: hashed, digest {d}", t.0, t.1.name),
            (zkinfer_circuits::ir::Visibility::Private, _) => say!("{} {}: private", t.0, t.1.name),
            _ => {}
        }
    }
    for e in &a.expect {
        let (name, want) = e.split_once('=').with_context(|| format!("--expect `{e}`: expected NAME=0xDIGEST"))?;
        let want = zkinfer_prover::util::fr_from_hex(want.trim()).with_context(|| format!("--expect `{e}`"))?;
        let t = p.inputs.iter().chain(&p.outputs).chain(&p.weights).find(|t| t.name == name).with_context(|| format!("--expect: the proof has no tensor `{name}`"))?;
        let Some(d) = &t.digest else { bail!("--expect: `{name}` is {} in this proof, not hashed", t.visibility) };
        if zkinfer_prover::util::fr_from_hex(d)? != want {
            return Err(super::Rejected(format!("the digest of `{name}` is {d}, not the expected {}: the proof is about other data", zkinfer_prover::util::fr_to_hex(&want))).into());
        }
        say!("{name}: digest matches the expected {d}");
    }
    Ok(serde_json::json!({
        "valid": true,
        "proof": a.proof,
        "model_id": p.model_hash,
        "weights": weights,
        "inputs": p.inputs,
        "outputs": p.outputs,
    }))
}
