//! `zkinfer aggregate`: a model proof aggregated into a proof whose EVM verifier costs the same
//! whatever the model ([`zkinfer_prover::aggregate`]); for a sharded model, every shard proof in
//! one aggregation with the links in the circuit ([`zkinfer_prover::aggregate_shards`],
//! [`crate::sharding::prove_aggregated`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use zkinfer_circuits::layout::circuit::ModelCircuit;
use zkinfer_circuits::layout::lay_out;
use zkinfer_prover::artifacts::ProofFile;
use zkinfer_prover::identity::ModelId;
use zkinfer_prover::{aggregate, aggregate_shards, evm, keys, srs, util, verify::Verdict, Bn256, Fr, G1Affine, ParamsKZG, VerifyingKey};

use super::prove::parse_binding;
use super::SrsArgs;
use crate::files::{read_inputs, write_json, AggregatedProof, Workdir, AGGREGATED_FORMAT as FORMAT};
use crate::pipeline;

#[derive(clap::Args)]
pub struct Args {
    /// Directory written by `zkinfer compile` and `zkinfer setup`. The aggregation keys go to
    /// DIR/aggregate/ (made on first use, reused after), the proof to DIR/aggregated.json. A
    /// sharded model (compile --max-k/--shards) gets one proof of all its shards, their links
    /// checked inside the aggregation circuit.
    dir: PathBuf,
    /// Input file: {"input_data": [[...]]}.
    #[arg(long, required_unless_present_any = ["verify", "quantized_input"], conflicts_with = "quantized_input")]
    input: Option<PathBuf>,
    /// Already quantized input: {"quantized": [[int, ...], ...]}, one list per model input
    /// (e.g. decoded from a market job's input instances).
    #[arg(long, value_name = "FILE", conflicts_with = "verify")]
    quantized_input: Option<PathBuf>,
    /// Run as a worker of `zkinfer serve` / `zkinfer node`: print `zkinfer-phase: NAME` lines
    /// to stderr, and stop when the parent process goes away.
    #[arg(long, hide = true)]
    phases: bool,
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

/// The model's input tensors: --input quantized, or --quantized-input as given.
fn read_model_inputs(a: &Args, g: &zkinfer_circuits::ir::Graph) -> Result<Vec<zkinfer_circuits::ir::Tensor>> {
    match (&a.input, &a.quantized_input) {
        (Some(input), _) => pipeline::quantize_inputs(g, &read_inputs(input)?, a.saturate),
        (None, Some(q)) => super::prove::read_quantized(q, g),
        (None, None) => bail!("give --input or --quantized-input"),
    }
}

/// Progress: a spinner, or `zkinfer-phase:` lines for a parent worker (--phases).
enum Steps {
    Spinner(super::Progress),
    Phases,
}

impl Steps {
    fn start(phases: bool) -> Self {
        if phases {
            super::prove::exit_with_parent();
            Steps::Phases
        } else {
            Steps::Spinner(super::Progress::start("aggregate"))
        }
    }

    fn step(&self, what: &str) {
        match self {
            Steps::Spinner(p) => p.step(what),
            Steps::Phases => eprintln!("zkinfer-phase: {what}"),
        }
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
    let inputs = read_model_inputs(&a, &s.graph)?;
    let progress = Steps::start(a.phases);
    progress.step("model proof (Poseidon transcript)");
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
    let proved = Proved { model_hash, k: a.k, instances: &instances, proof: &proof, model_secs, agg_secs };
    write_proof(&wd, &agg_dir, &agg_params, agg_pk.get_vk(), &a, decoded, proved)
}

/// An aggregation proof made here, with what its file records.
struct Proved<'a> {
    model_hash: String,
    k: u32,
    instances: &'a [Fr],
    proof: &'a [u8],
    model_secs: f64,
    agg_secs: f64,
}

/// Writes the aggregated proof file (--out, default DIR/aggregated.json) with the model's
/// values from `decoded`; returns the command's report (with --evm, also checked in the
/// in-process EVM).
fn write_proof(wd: &Workdir, agg_dir: &Path, params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, a: &Args, decoded: ProofFile, p: Proved) -> Result<serde_json::Value> {
    let file = AggregatedProof {
        format: FORMAT.into(),
        inputs: decoded.inputs,
        outputs: decoded.outputs,
        weights: decoded.weights,
        model_hash: p.model_hash,
        aggregation_vk_hash: hex::encode(keys::vk_hash(vk)),
        k: p.k,
        instances: p.instances.iter().map(util::fr_to_hex).collect(),
        proof: format!("0x{}", hex::encode(p.proof)),
        model_prove_seconds: p.model_secs,
        aggregate_prove_seconds: p.agg_secs,
    };
    let out = a.out.clone().unwrap_or_else(|| wd.0.join("aggregated.json"));
    write_json(&out, &file)?;
    say!("wrote {} (verified natively)", out.display());
    let mut report = serde_json::json!({
        "aggregated": out,
        "model_id": file.model_hash,
        "aggregation_vk_hash": file.aggregation_vk_hash,
        "k": p.k,
        "proof_bytes": p.proof.len(),
        "model_prove_seconds": p.model_secs,
        "aggregate_prove_seconds": p.agg_secs,
        "outputs": file.outputs,
    });
    if a.evm {
        report["evm"] = evm_check(agg_dir, params, vk, p.instances, p.proof)?;
    }
    Ok(report)
}

/// A sharded model: every shard proved (Poseidon transcript, one shard key at a time, one
/// fresh link salt), then all aggregated in one proof whose circuit also checks the links
/// ([`aggregate_shards`]); its public instances are the accumulator and the model's own.
fn run_sharded(wd: &Workdir, agg_dir: &Path, s: &crate::files::Settings, sh: &crate::sharding::Sharded, a: &Args) -> Result<serde_json::Value> {
    let binding = a.binding.unwrap_or_default();
    let inputs = read_model_inputs(a, &s.graph)?;
    let n = sh.shards.len();
    let progress = Steps::start(a.phases);
    let agg = crate::sharding::prove_aggregated(s, sh, a.srs.srs.as_deref(), agg_dir, a.k, &inputs, binding, &|step| progress.step(step))?;
    drop(progress);
    say!("{n} shard proofs (Poseidon transcript): {:.2} s", agg.shard_seconds);
    if let Some(secs) = agg.keys.made_in {
        let l = &agg.keys.layout;
        say!("aggregation setup for {n} shards (k = {}): {secs:.2} s; {} advice, {} lookup advice, {} fixed columns; keys in {}", a.k, l.num_advice, l.num_lookup_advice, l.num_fixed, agg_dir.display());
    }
    say!("aggregation proof: {:.2} s, {} bytes, {} public instances (accumulator and the model's; links checked in the circuit)", agg.aggregate_seconds, agg.proof.len(), agg.instances.len());
    let proved = Proved { model_hash: agg.keys.id.hex(), k: a.k, instances: &agg.instances, proof: &agg.proof, model_secs: agg.shard_seconds, agg_secs: agg.aggregate_seconds };
    let mut report = write_proof(wd, agg_dir, &agg.keys.params, agg.keys.pk.get_vk(), a, agg.decoded, proved)?;
    report["shards"] = n.into();
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
            let mut by_size = pipeline::ParamsBySize::new(srs_file);
            for (w, ss) in &sh.shards {
                let params = by_size.get(ss.k)?;
                let (vk, header) = pipeline::load_vk(w, ss, params)?;
                ids.push(header.model_id);
                hashes.push(keys::vk_hash(&vk));
                protocols.push(aggregate::inner_protocol(params, &vk, ss.num_instances));
            }
            drop(by_size);
            let id = zkinfer_prover::linked::sharded_id(&s.graph, &ids)?;
            match crate::sharding::tree(&sh)? {
                None => {
                    let glue = aggregate_shards::Glue::of(&sh.wiring);
                    (id, aggregate_shards::shards_vk_hash(&hashes), Box::new(move |params, layout, vk| aggregate_shards::check_vk(params, &protocols, &glue, layout, vk)), "shard keys")
                }
                Some(t) => {
                    // the root aggregates the last level's group proofs: each group key (from
                    // its directory) regenerated from the keys below it, level by level, then
                    // the root key from the last level's
                    let mut groups = Vec::new();
                    let mut below = protocols;
                    let mut gh = hashes;
                    for (l, level) in t.levels.iter().enumerate() {
                        let (mut gp, mut hashes) = (vec![], vec![]);
                        let dirs = crate::sharding::level_key_dirs(agg_dir, l, level, &gh);
                        for (g, range) in level.groups.iter().enumerate() {
                            if level.passes(g) {
                                // the proof below goes up as it is: no group key
                                gp.push(below[range.start].clone());
                                hashes.push(gh[range.start]);
                                continue;
                            }
                            let dir = &dirs[g];
                            let (gvk, glayout) = aggregate::read_vk(dir).with_context(|| format!("the keys of group {g} of level {l} ({})", dir.display()))?;
                            let gparams = pipeline::load_params(srs_file, glayout.k)?;
                            gp.push(aggregate::aggregation_protocol(&gparams, &gvk, glayout.num_instances()));
                            hashes.push(keys::vk_hash(&gvk));
                            groups.push((gparams, glayout, gvk, below[range.clone()].to_vec(), level.glue[g].clone()));
                        }
                        (below, gh) = (gp, hashes);
                    }
                    let (gp, root) = (below, t.root.clone());
                    let check: KeyCheck = Box::new(move |params, layout, vk| {
                        for (gparams, glayout, gvk, gprotocols, glue) in &groups {
                            aggregate_shards::check_vk(gparams, gprotocols, glue, glayout, gvk)?;
                        }
                        aggregate_shards::check_vk(params, &gp, &root, layout, vk)
                    });
                    (id, aggregate_shards::shards_vk_hash(&gh), check, "shard keys (through the group keys)")
                }
            }
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
    let mut listed = file.model_proof(s.k);
    listed.prove_seconds = 0.0;
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
    let compiled = pipeline::aggregation_verifier(agg_dir, params, vk, instances.len())?;
    let o = evm::evm_verify_parts(&compiled.bytecode, &pipeline::part_slices(&compiled.parts), instances, proof)?;
    say!(
        "EVM verification: {} ({}), gas used {}, verifier deployed size {} bytes, calldata {} bytes",
        if o.success { "valid" } else { "REJECTED" },
        o.detail,
        o.gas_used,
        compiled.largest_runtime,
        evm::calldata(instances, proof).len()
    );
    if !o.success {
        return Err(super::Rejected(format!("the EVM verifier rejected the aggregated proof ({})", o.detail)).into());
    }
    Ok(serde_json::json!({"valid": true, "gas_used": o.gas_used, "deployed_bytes": compiled.largest_runtime, "contracts": compiled.parts.len() + 1, "calldata_bytes": evm::calldata(instances, proof).len()}))
}
