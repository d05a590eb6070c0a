//! `zkinfer aggregate`: a model proof aggregated into a proof whose EVM verifier costs the same
//! whatever the model ([`zkinfer_prover::aggregate`]); for a sharded model, every shard proof in
//! one aggregation with the links in the circuit ([`zkinfer_prover::aggregate_shards`],
//! [`crate::sharding::prove_aggregated`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use zkinfer_circuits::layout::circuit::ModelCircuit;
use zkinfer_circuits::layout::lay_out;
use zkinfer_prover::artifacts::{ProofFile, TensorValues};
use zkinfer_prover::identity::ModelId;
use zkinfer_prover::{aggregate, aggregate_shards, evm, keys, srs, util, verify::Verdict, Bn256, Fr, G1Affine, ParamsKZG, VerifyingKey};

use super::prove::parse_binding;
use super::SrsArgs;
use crate::files::{read_inputs, read_json, write_json, Workdir};
use crate::pipeline;

#[derive(clap::Args)]
pub struct Args {
    /// Directory written by `zkinfer compile` and `zkinfer setup`. The aggregation keys go to
    /// DIR/aggregate/ (made on first use, reused after), the proof to DIR/aggregated.json. A
    /// sharded model (compile --max-k/--shards) gets one proof of all its shards, their links
    /// checked inside the aggregation circuit.
    dir: PathBuf,
    /// Input file: {"input_data": [[...]]}.
    #[arg(long, required_unless_present = "verify")]
    input: Option<PathBuf>,
    /// Verify this aggregated proof file (natively; with --evm also in the in-process EVM)
    /// instead of proving.
    #[arg(long, conflicts_with = "input")]
    verify: Option<PathBuf>,
    /// log2 of the aggregation circuit's rows (18..=23): more rows give fewer columns, which
    /// is cheaper to verify on chain but takes more memory. Existing keys of another size are
    /// regenerated.
    #[arg(long, default_value_t = 21, value_parser = clap::value_parser!(u32).range(aggregate::MIN_K as i64..=23))]
    k: u32,
    /// Where to write the aggregated proof (default DIR/aggregated.json).
    #[arg(short, long)]
    out: Option<PathBuf>,
    /// Saturate input values outside the quantized range instead of rejecting them.
    #[arg(long)]
    saturate: bool,
    /// Binding value (public instance 0 of the model proof), hex, as for `zkinfer prove`.
    #[arg(long, value_parser = parse_binding)]
    binding: Option<Fr>,
    /// Also write the aggregation verifier's Solidity (DIR/aggregate/Verifier.sol), compile it
    /// and verify the proof in the in-process EVM (reports gas).
    #[arg(long)]
    evm: bool,
    /// With --verify: sha256 of the aggregation verifying key already checked for this model
    /// (as a previous `--verify` printed it). Without it, --verify regenerates the
    /// aggregation key from the model key (deterministic, about a minute at k = 21) to check
    /// that DIR/aggregate/ really aggregates this model.
    #[arg(long, value_name = "SHA256")]
    aggregation_vk: Option<String>,
    #[command(flatten)]
    srs: SrsArgs,
}

/// DIR/aggregated.json.
#[derive(Serialize, Deserialize)]
pub struct AggregatedProof {
    pub format: String,
    /// The model identity (the aggregated proof is about this model).
    pub model_hash: String,
    /// sha256 of the aggregation verifying key.
    pub aggregation_vk_hash: String,
    /// The aggregation circuit's size.
    pub k: u32,
    /// Public instances (32-byte big-endian hex): 12 accumulator limbs, then the model proof's
    /// instances (binding, then packed public values and digests, as in proof.json).
    pub instances: Vec<String>,
    pub proof: String,
    /// The model proof's inputs, outputs and weights as their instances encode them
    /// (decoded values of public tensors, digests of hashed ones), checked against the
    /// instances by `--verify`.
    #[serde(default)]
    pub inputs: Vec<TensorValues>,
    #[serde(default)]
    pub outputs: Vec<TensorValues>,
    #[serde(default)]
    pub weights: Vec<TensorValues>,
    pub model_prove_seconds: f64,
    pub aggregate_prove_seconds: f64,
}

/// Version 2: the model identity, the decoded inputs and outputs.
const FORMAT: &str = "zkinfer-aggregated/2";

impl AggregatedProof {
    fn instances_fr(&self) -> Result<Vec<Fr>> {
        Ok(self.instances.iter().map(|s| util::fr_from_hex(s)).collect::<std::result::Result<_, _>>()?)
    }

    fn proof_bytes(&self) -> Result<Vec<u8>> {
        hex::decode(self.proof.strip_prefix("0x").unwrap_or(&self.proof)).context("proof is not hex")
    }

    fn read(p: &Path) -> Result<Self> {
        let a: AggregatedProof = read_json(p)?;
        if a.format != FORMAT {
            bail!("{} has format `{}`, expected `{FORMAT}`", p.display(), a.format);
        }
        Ok(a)
    }
}

pub fn run(a: Args) -> Result<serde_json::Value> {
    let wd = Workdir(a.dir.clone());
    let agg_dir = wd.0.join("aggregate");
    let s = wd.load_settings()?;
    if let Some(p) = &a.verify {
        return verify(&wd, &agg_dir, p, &a);
    }
    if let Some(sh) = crate::sharding::load(&wd, &s)? {
        return run_sharded(&wd, &agg_dir, &s, &sh, &a);
    }
    let params = pipeline::load_params(a.srs.srs.as_deref(), s.k)?;
    let (pk, header) = pipeline::load_pk(&wd, &s, &params)?;
    let input = a.input.as_deref().context("--input is required")?;
    let progress = super::Progress::start("aggregate");
    progress.step("model proof (Poseidon transcript)");
    let inputs = pipeline::quantize_inputs(&s.graph, &read_inputs(input)?, a.saturate)?;
    let mut ctx = lay_out(&s.graph, &inputs, s.shape)?;
    ctx.binding = a.binding.unwrap_or_default();
    let circuit = ModelCircuit { ctx };
    let t = Instant::now();
    let snark = aggregate::prove_inner(&params, &pk, &circuit, rand::rngs::OsRng)?;
    let model_secs = t.elapsed().as_secs_f64();
    say!("model proof (Poseidon transcript): {model_secs:.2} s");
    let agg_params = pipeline::load_params(a.srs.srs.as_deref(), a.k).context("aggregation SRS")?;
    let model_hash = header.model_id.hex();
    let reuse = aggregate::read_layout(&agg_dir).ok().filter(|l| l.k == a.k && l.inner_vk_hash == hex::encode(keys::vk_hash(pk.get_vk())) && l.inner_model_id == model_hash && l.srs == hex::encode(srs::srs_fingerprint(&agg_params)));
    let (agg_pk, layout) = match reuse {
        Some(_) => aggregate::read_pk(&agg_dir)?,
        None => {
            progress.step(&format!("aggregation keys (k = {})", a.k));
            let t = Instant::now();
            let (agg_pk, mut layout) = aggregate::setup(&agg_params, &params, pk.get_vk(), snark.instances[0].len())?;
            layout.inner_model_id = model_hash.clone();
            aggregate::write_keys(&agg_dir, &agg_pk, &layout)?;
            say!("aggregation setup (k = {}): {:.2} s; {} advice, {} lookup advice, {} fixed columns; keys in {}", a.k, t.elapsed().as_secs_f64(), layout.num_advice, layout.num_lookup_advice, layout.num_fixed, agg_dir.display());
            (agg_pk, layout)
        }
    };
    progress.step("aggregation proof");
    let t = Instant::now();
    let (proof, instances) = aggregate::prove(&agg_params, &params, pk.get_vk(), &agg_pk, &layout, snark, rand::rngs::OsRng)?;
    let agg_secs = t.elapsed().as_secs_f64();
    say!("aggregation proof: {agg_secs:.2} s, {} bytes, {} public instances", proof.len(), instances.len());
    drop(progress);
    if let Verdict::Invalid(why) = aggregate::verify(&agg_params, agg_pk.get_vk(), &instances, &proof) {
        bail!("the aggregation proof does not verify: {why}");
    }
    let outs = zkinfer_circuits::exec::outputs(&s.graph, &inputs)?;
    let decoded = ProofFile::new(&header.model_id.0, s.k, &s.graph, a.binding.unwrap_or_default(), &inputs, &outs, &[], model_secs)?;
    let file = AggregatedProof {
        format: FORMAT.into(),
        inputs: decoded.inputs,
        outputs: decoded.outputs,
        weights: decoded.weights,
        model_hash,
        aggregation_vk_hash: hex::encode(keys::vk_hash(agg_pk.get_vk())),
        k: a.k,
        instances: instances.iter().map(util::fr_to_hex).collect(),
        proof: format!("0x{}", hex::encode(&proof)),
        model_prove_seconds: model_secs,
        aggregate_prove_seconds: agg_secs,
    };
    let out = a.out.clone().unwrap_or_else(|| wd.0.join("aggregated.json"));
    write_json(&out, &file)?;
    say!("wrote {} (verified natively)", out.display());
    let mut report = serde_json::json!({
        "aggregated": out,
        "model_id": file.model_hash,
        "aggregation_vk_hash": file.aggregation_vk_hash,
        "k": a.k,
        "proof_bytes": proof.len(),
        "model_prove_seconds": model_secs,
        "aggregate_prove_seconds": agg_secs,
        "outputs": file.outputs,
    });
    if a.evm {
        report["evm"] = evm_check(&agg_dir, &agg_params, agg_pk.get_vk(), &instances, &proof)?;
    }
    Ok(report)
}

/// A sharded model: every shard proved (Poseidon transcript, one shard key at a time, one
/// fresh link salt), then all aggregated in one proof whose circuit also checks the links
/// ([`aggregate_shards`]); its public instances are the accumulator and the model's own.
fn run_sharded(wd: &Workdir, agg_dir: &Path, s: &crate::files::Settings, sh: &crate::sharding::Sharded, a: &Args) -> Result<serde_json::Value> {
    let input = a.input.as_deref().context("--input is required")?;
    let binding = a.binding.unwrap_or_default();
    let inputs = pipeline::quantize_inputs(&s.graph, &read_inputs(input)?, a.saturate)?;
    let n = sh.shards.len();
    let progress = super::Progress::start("aggregate");
    let agg = crate::sharding::prove_aggregated(s, sh, a.srs.srs.as_deref(), agg_dir, a.k, &inputs, binding, &|step| progress.step(step))?;
    drop(progress);
    say!("{n} shard proofs (Poseidon transcript): {:.2} s", agg.shard_seconds);
    if let Some(secs) = agg.keys.made_in {
        let l = &agg.keys.layout;
        say!("aggregation setup for {n} shards (k = {}): {secs:.2} s; {} advice, {} lookup advice, {} fixed columns; keys in {}", a.k, l.num_advice, l.num_lookup_advice, l.num_fixed, agg_dir.display());
    }
    say!("aggregation proof: {:.2} s, {} bytes, {} public instances (accumulator and the model's; links checked in the circuit)", agg.aggregate_seconds, agg.proof.len(), agg.instances.len());
    let vk = agg.keys.pk.get_vk();
    let file = AggregatedProof {
        format: FORMAT.into(),
        inputs: agg.decoded.inputs.clone(),
        outputs: agg.decoded.outputs.clone(),
        weights: agg.decoded.weights.clone(),
        model_hash: agg.keys.id.hex(),
        aggregation_vk_hash: hex::encode(keys::vk_hash(vk)),
        k: a.k,
        instances: agg.instances.iter().map(util::fr_to_hex).collect(),
        proof: format!("0x{}", hex::encode(&agg.proof)),
        model_prove_seconds: agg.shard_seconds,
        aggregate_prove_seconds: agg.aggregate_seconds,
    };
    let out = a.out.clone().unwrap_or_else(|| wd.0.join("aggregated.json"));
    write_json(&out, &file)?;
    say!("wrote {} (verified natively)", out.display());
    let mut report = serde_json::json!({
        "aggregated": out,
        "model_id": file.model_hash,
        "aggregation_vk_hash": file.aggregation_vk_hash,
        "k": a.k,
        "shards": n,
        "proof_bytes": agg.proof.len(),
        "model_prove_seconds": agg.shard_seconds,
        "aggregate_prove_seconds": agg.aggregate_seconds,
        "outputs": file.outputs,
    });
    if a.evm {
        report["evm"] = evm_check(agg_dir, &agg.keys.params, vk, &agg.instances, &agg.proof)?;
    }
    Ok(report)
}

/// Checks an aggregation verifying key against what it must aggregate (regenerating it).
type KeyCheck = Box<dyn Fn(&ParamsKZG<Bn256>, &aggregate::AggregationLayout, &VerifyingKey<G1Affine>) -> zkinfer_prover::error::Result<()>>;

fn verify(wd: &Workdir, agg_dir: &Path, p: &Path, a: &Args) -> Result<serde_json::Value> {
    let file = AggregatedProof::read(p)?;
    let (vk, layout) = aggregate::read_vk(agg_dir)?;
    let s = wd.load_settings()?;
    let srs_file = a.srs.srs.as_deref();
    // what the aggregation key must aggregate: the model key, or the shard keys wired together
    let (model_id, inner_vk_hash, regenerate, keys_of): (ModelId, String, KeyCheck, &str) = match crate::sharding::load(wd, &s)? {
        None => {
            let inner_params = pipeline::load_params(srs_file, s.k)?;
            let (inner_vk, header) = pipeline::load_vk(wd, &s, &inner_params)?;
            let hash = hex::encode(keys::vk_hash(&inner_vk));
            (header.model_id, hash, Box::new(move |params, layout, vk| aggregate::check_vk(params, &inner_params, &inner_vk, layout, vk)), "model key")
        }
        Some(sh) => {
            let (mut ids, mut hashes, mut protocols) = (vec![], vec![], vec![]);
            for (w, ss) in &sh.shards {
                let params = pipeline::load_params(srs_file, ss.k)?;
                let (vk, header) = pipeline::load_vk(w, ss, &params)?;
                ids.push(header.model_id);
                hashes.push(keys::vk_hash(&vk));
                protocols.push(aggregate::inner_protocol(&params, &vk, ss.num_instances));
            }
            let glue = aggregate_shards::Glue::of(&sh.wiring);
            let id = zkinfer_prover::linked::sharded_id(&s.graph, &ids)?;
            (id, aggregate_shards::shards_vk_hash(&hashes), Box::new(move |params, layout, vk| aggregate_shards::check_vk(params, &protocols, &glue, layout, vk)), "shard keys")
        }
    };
    if !file.model_hash.eq_ignore_ascii_case(&model_id.hex()) {
        bail!("the aggregated proof is about model {}, but {} holds model {model_id}", file.model_hash, wd.0.display());
    }
    if layout.inner_vk_hash != inner_vk_hash || !layout.inner_model_id.eq_ignore_ascii_case(&model_id.hex()) {
        bail!("{} holds aggregation keys for another model key than {}'s", agg_dir.display(), wd.0.display());
    }
    if file.aggregation_vk_hash != hex::encode(keys::vk_hash(&vk)) {
        bail!("the aggregated proof was made with another aggregation key than {}", agg_dir.display());
    }
    let params = pipeline::load_params(a.srs.srs.as_deref(), layout.k)?;
    if hex::encode(srs::srs_fingerprint(&params)) != layout.srs {
        bail!("the SRS given is not the one the aggregation keys were made with");
    }
    // the aggregation key must be this model's: regenerated from the model key, or known
    let agg_vk_sha = hex::encode(keys::vk_hash(&vk));
    match &a.aggregation_vk {
        Some(want) if want.trim_start_matches("0x").eq_ignore_ascii_case(&agg_vk_sha) => {}
        Some(want) => bail!("{} holds aggregation verifying key {agg_vk_sha}, not the expected {want}", agg_dir.display()),
        None => {
            let t = Instant::now();
            regenerate(&params, &layout, &vk)?;
            say!("aggregation key regenerated from the {keys_of} and equal ({:.1} s); next time pass --aggregation-vk {agg_vk_sha}", t.elapsed().as_secs_f64());
        }
    }
    let (instances, proof) = (file.instances_fr()?, file.proof_bytes()?);
    if instances.len() != layout.num_instances() {
        bail!("the aggregated proof has {} instances, the key expects {}", instances.len(), layout.num_instances());
    }
    // the decoded inputs and outputs shown are the proven ones
    let inner = &file.instances[aggregate::ACCUMULATOR_LIMBS..];
    let listed = ProofFile {
        format: zkinfer_prover::artifacts::PROOF_FORMAT.into(),
        model_hash: file.model_hash.clone(),
        k: s.k,
        instances: inner.to_vec(),
        proof: "0x".into(),
        inputs: file.inputs.clone(),
        outputs: file.outputs.clone(),
        weights: file.weights.clone(),
        prove_seconds: 0.0,
        shards: vec![],
    };
    listed.validate().and_then(|()| listed.check_against(&s.graph)).with_context(|| format!("{}: the listed inputs and outputs", p.display()))?;
    let weights = pipeline::check_weights(&s, &listed, &[], false).map_err(|e| super::Rejected(format!("{e:#}")))?;
    if let Some(what) = &weights {
        say!("weights: {what}");
    }
    for o in &file.outputs {
        if o.visibility == zkinfer_circuits::ir::Visibility::Public {
            say!("output {}: {:?}", o.name, o.values);
        }
    }
    match aggregate::verify(&params, &vk, &instances, &proof) {
        Verdict::Valid => say!("aggregated proof {}: valid", p.display()),
        Verdict::Invalid(why) => return Err(super::Rejected(format!("aggregated proof {}: INVALID: {why}", p.display())).into()),
    }
    let mut report = serde_json::json!({"valid": true, "aggregated": p, "model_id": file.model_hash, "weights": weights, "inputs": file.inputs, "outputs": file.outputs});
    if a.evm {
        report["evm"] = evm_check(agg_dir, &params, &vk, &instances, &proof)?;
    }
    Ok(report)
}

fn evm_check(agg_dir: &Path, params: &zkinfer_prover::ParamsKZG<zkinfer_prover::Bn256>, vk: &zkinfer_prover::VerifyingKey<zkinfer_prover::G1Affine>, instances: &[Fr], proof: &[u8]) -> Result<serde_json::Value> {
    let sol = aggregate::gen_sol(params, vk, instances.len())?;
    crate::files::write_atomic(&agg_dir.join("Verifier.sol"), sol.as_bytes())?;
    let compiled = evm::compile_sol(&sol)?;
    let o = evm::evm_verify(&compiled.bytecode, instances, proof)?;
    say!(
        "EVM verification: {} ({}), gas used {}, verifier deployed size {} bytes, calldata {} bytes",
        if o.success { "valid" } else { "REJECTED" },
        o.detail,
        o.gas_used,
        compiled.deployed_bytecode.len(),
        evm::calldata(instances, proof).len()
    );
    if !o.success {
        return Err(super::Rejected(format!("the EVM verifier rejected the aggregated proof ({})", o.detail)).into());
    }
    Ok(serde_json::json!({"valid": true, "gas_used": o.gas_used, "deployed_bytes": compiled.deployed_bytecode.len(), "calldata_bytes": evm::calldata(instances, proof).len()}))
}
