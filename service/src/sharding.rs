//! The stages for a model compiled into shards (`zkinfer compile --max-k K | --shards N`):
//! each shard is its own circuit with its own settings and keys in `DIR/shards/<i>/`; a proof
//! is one proof per shard, linked ([`zkinfer_prover::linked`]), in one proof file.
//!
//! Memory: setup, prove and verify hold one shard's key at a time.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use halo2_proofs::halo2curves::bn256::Fr;
use zkinfer_circuits::exec;
use zkinfer_circuits::ir::shard::shard_graphs;
use zkinfer_circuits::ir::Tensor;
use zkinfer_circuits::layout::circuit::{instance_values, ModelCircuit};
use zkinfer_circuits::layout::{lay_out, lay_out_salted, SALT_BITS};
use zkinfer_prover::artifacts::{PrivateValues, ProofFile, ShardProof};
use zkinfer_prover::identity::ModelId;
use zkinfer_prover::linked::{sharded_id, Wiring};
use zkinfer_prover::shard::ShardPlan;
use zkinfer_prover::util::fr_to_hex;
use zkinfer_prover::verify::Verdict;
use zkinfer_prover::aggregate::{self, AggregationLayout};
use zkinfer_prover::aggregate_shards::{self, Glue, Tree};
use zkinfer_prover::{sizing, Bn256, Device, G1Affine, ParamsKZG, ProvingKey};

use crate::files::{Cost, Settings, Workdir, SETTINGS_FORMAT};
use crate::pipeline::{self, Proved};

/// A sharded model directory: its plan and each shard's directory and settings, checked to be
/// the model's shards.
pub struct Sharded {
    pub plan: ShardPlan,
    pub shards: Vec<(Workdir, Settings)>,
    pub wiring: Wiring,
}

fn ends(plan: &ShardPlan) -> Vec<usize> {
    plan.shards.iter().map(|s| s.end).collect()
}

/// Writes the shards of the compiled model `s` cut by `plan` (more than one shard):
/// `DIR/shards/<i>/settings.json`, each shard laid out in the plan's shape. Returns them.
pub fn write(wd: &Workdir, s: &Settings, plan: &ShardPlan) -> Result<Vec<Settings>> {
    let graphs = shard_graphs(&s.graph, &ends(plan))?;
    Wiring::new(&s.graph, &graphs)?;
    remove_shards(wd)?;
    let mut out = Vec::with_capacity(graphs.len());
    for (i, g) in graphs.into_iter().enumerate() {
        let circuit = ModelCircuit { ctx: lay_out(&g, &pipeline::reference_inputs(&g), plan.shape)? };
        let k = sizing::k_for(&circuit);
        let ss = Settings {
            format: SETTINGS_FORMAT.into(),
            model: format!("{} (shard {i} of {})", s.model, plan.shards.len()),
            model_sha256: s.model_sha256.clone(),
            options: s.options.clone(),
            shape: circuit.ctx.shape,
            k,
            rows: circuit.rows(),
            num_instances: g.num_instances(),
            calibration: None,
            weights_hash: None,
            cost: Some(Cost::of(&circuit, k, g.num_instances())),
            graph: g,
        };
        // (the witness weights stay in the model's weights file: `load` hands each shard its own)
        crate::files::write_json(&wd.shard(i).settings(), &ss)?;
        out.push(ss);
    }
    Ok(out)
}

/// Splits the nodes of `s`'s graph that cannot be a shard of their own within `2^max_k` rows
/// ([`zkinfer_prover::shard::oversized`], [`zkinfer_circuits::ir::split`]), recounting the
/// rows (`rc`, in its shape) after each round, until every node fits or none can be split
/// further (the plan then names the one left). The settings then describe the split graph
/// (the same values; its single circuit's rows, k and cost in `rc`'s shape). Returns whether
/// anything was split.
pub fn split_oversized(s: &mut Settings, rc: &mut zkinfer_circuits::layout::RowCount, max_k: u32) -> Result<bool> {
    let mut changed = false;
    for _ in 0..6 {
        let want = zkinfer_prover::shard::oversized(&s.graph, rc.shape, &rc.node_rows, rc.total, rc.table_rows, max_k);
        if want.is_empty() {
            break;
        }
        let (g, done) = zkinfer_circuits::ir::split::split_nodes(&s.graph, &want)?;
        if done.is_empty() {
            break;
        }
        for &(i, parts) in done.iter().filter(|(i, _)| want.iter().any(|(w, _)| w == i)) {
            let node = &s.graph.nodes[i];
            say!("node {i} ({}, output `{}`, {} rows) does not fit a shard of 2^{max_k} rows: split into {parts} parts by output slices", node.op.name(), s.graph.info(node.output).name, rc.node_rows[i]);
        }
        say!("{} nodes split in all (the requantizations, pools and depthwise convs after a split node are split with it)", done.len());
        s.graph = g;
        *rc = zkinfer_circuits::layout::count_rows(&s.graph, &pipeline::reference_inputs(&s.graph), rc.shape)?;
        changed = true;
    }
    if changed {
        s.shape = rc.shape;
        s.rows = rc.total;
        s.k = sizing::k_for_rows(rc.total);
        s.cost = Some(Cost::of_counts(zkinfer_prover::cost::Counts::new(rc.shape, s.k), s.num_instances));
    }
    Ok(changed)
}

/// Removes the shard directories of an earlier `compile --max-k`.
pub fn remove_shards(wd: &Workdir) -> Result<()> {
    let dir = wd.0.join("shards");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove the old shards in {}", dir.display()))?;
    }
    Ok(())
}

/// Removes the shards and plan of an earlier `compile --max-k` (the model now compiles as one
/// circuit).
pub fn remove(wd: &Workdir) -> Result<()> {
    remove_shards(wd)?;
    let plan = wd.shard_plan();
    if plan.exists() {
        std::fs::remove_file(&plan).with_context(|| format!("cannot remove {}", plan.display()))?;
    }
    Ok(())
}

/// DIR's shards when it was compiled into more than one (`None`: a single circuit). Each
/// shard's settings must be exactly the shard of the model's graph the plan cuts: a shard
/// directory edited or left from another compile is refused.
pub fn load(wd: &Workdir, s: &Settings) -> Result<Option<Sharded>> {
    let path = wd.shard_plan();
    if !path.exists() {
        return Ok(None);
    }
    let plan: ShardPlan = crate::files::read_json(&path)?;
    if plan.shards.len() < 2 {
        return Ok(None);
    }
    let graphs = shard_graphs(&s.graph, &ends(&plan)).with_context(|| format!("{} does not cut the model in {}", path.display(), wd.settings().display()))?;
    let mut shards = Vec::with_capacity(graphs.len());
    for (i, g) in graphs.iter().enumerate() {
        let w = wd.shard(i);
        let mut ss: Settings = crate::files::read_json(&w.settings()).with_context(|| format!("{} lacks shard {i}: compile again", wd.0.display()))?;
        if ss.format != SETTINGS_FORMAT || without_weights(&ss.graph) != without_weights(g) || (ss.shape.width, ss.shape.lookup_width, ss.shape.pairs) != (plan.shape.width, plan.shape.lookup_width, plan.shape.pairs) {
            bail!("{} is not shard {i} of the model in {}: compile again", w.settings().display(), wd.settings().display());
        }
        // its witness weights, from the model's weights file (when there)
        ss.graph = g.clone();
        shards.push((w, ss));
    }
    let wiring = Wiring::new(&s.graph, &graphs)?;
    Ok(Some(Sharded { plan, shards, wiring }))
}

/// An error when `s` is one shard of a sharded model (a tensor of it is a link to another
/// shard): its proof file could not show the link, whose digest is salted and made only when
/// the whole model is proved, so the model's directory must be proved instead. (Checked
/// before proving: a shard of nanoGPT takes minutes.)
pub fn refuse_lone_shard(wd: &Workdir, s: &Settings) -> Result<()> {
    use zkinfer_circuits::ir::Visibility;
    let g = &s.graph;
    let linked = g.inputs.iter().filter(|i| i.visibility == Visibility::Linked).map(|i| i.name.as_str()).chain(g.outputs.iter().filter(|o| o.visibility == Visibility::Linked).map(|o| o.name.as_str())).next();
    if let Some(name) = linked {
        let model = wd.0.parent().and_then(Path::parent).map_or_else(|| "the model's directory".to_string(), |p| p.display().to_string());
        bail!("{} is one shard of a sharded model (its tensor `{name}` is a link to another shard, whose salted digest only a proof of the whole model makes): prove {model} instead", wd.0.display());
    }
    Ok(())
}

/// `g` without the values of its witness weights (which a settings file never holds).
fn without_weights(g: &zkinfer_circuits::ir::Graph) -> zkinfer_circuits::ir::Graph {
    let mut g = g.clone();
    for p in &mut g.params {
        p.data = None;
    }
    g
}

/// Keys for every shard (one at a time, each at its own size); returns the sharded model's
/// identity and the shards'.
pub fn setup(s: &Settings, sh: &Sharded, srs: Option<&Path>, step: &dyn Fn(&str)) -> Result<(ModelId, Vec<ModelId>)> {
    setup_keys(s, sh, srs, true, step)
}

/// [`setup`]; with `keep_pk` false only each shard's verifying key is written
/// ([`pipeline::setup_keys`]).
pub fn setup_keys(s: &Settings, sh: &Sharded, srs: Option<&Path>, keep_pk: bool, step: &dyn Fn(&str)) -> Result<(ModelId, Vec<ModelId>)> {
    let mut ids = Vec::with_capacity(sh.shards.len());
    let mut by_size = pipeline::ParamsBySize::new(srs);
    for (i, (w, ss)) in sh.shards.iter().enumerate() {
        step(&format!("shard {i}: keys for 2^{} rows", ss.k));
        let params = by_size.get(ss.k)?;
        ids.push(pipeline::setup_keys(w, ss, params, keep_pk)?);
    }
    Ok((sharded_id(&s.graph, &ids)?, ids))
}

/// Proves every shard on the model's quantized `inputs` for `binding`, one shard (and one
/// proving key) at a time, under one fresh secret link salt; returns the proof file (the
/// model's public values, then each shard's proof) and the private values.
#[allow(clippy::too_many_arguments)]
pub fn prove(s: &Settings, sh: &Sharded, srs: Option<&Path>, inputs: &[Tensor], binding: Fr, device: Device, phase: &dyn Fn(&str)) -> Result<Proved> {
    let start = Instant::now();
    let vals = exec::run(&s.graph, inputs)?;
    let outs: Vec<Tensor> = s.graph.outputs.iter().map(|o| vals[o.value].clone()).collect();
    let salt = rand::random::<u128>() >> (128 - SALT_BITS);
    let mut proofs = Vec::with_capacity(sh.shards.len());
    let mut ids = Vec::with_capacity(sh.shards.len());
    // (the SRS kept while the shards' size does not change)
    let mut by_size = pipeline::ParamsBySize::new(srs);
    for (i, (w, ss)) in sh.shards.iter().enumerate() {
        phase(&format!("shard {i}/{}: witness", sh.shards.len()));
        let shard_inputs: Vec<Tensor> = ss.graph.inputs.iter().map(|i| vals[i.value].clone()).collect();
        let (proof, id) = prove_shard(w, ss, by_size.get(ss.k)?, &shard_inputs, salt, binding, device, &|| phase(&format!("shard {i}/{}: prove (k = {})", sh.shards.len(), ss.k)))?;
        ids.push(id);
        proofs.push(proof);
    }
    let id = sharded_id(&s.graph, &ids)?;
    let k = sh.shards.iter().map(|(_, ss)| ss.k).max().unwrap_or(0);
    let mut file = ProofFile::new(&id.0, k, &s.graph, binding, inputs, &outs, &[], start.elapsed().as_secs_f64())?;
    file.shards = proofs;
    let shard_instances = file.shards.iter().map(|p| p.instances_fr()).collect::<zkinfer_prover::error::Result<Vec<_>>>()?;
    sh.wiring.check(&file.instances_fr()?, &shard_instances).map_err(|e| anyhow::anyhow!("internal error: the shard proofs do not fit together: {e}"))?;
    Ok(Proved { private: PrivateValues::new(&id.0, &s.graph, inputs, &outs), file })
}

/// Proves one shard on its quantized inputs with the link `salt`, with `params` the SRS for
/// its 2^k rows; returns its proof and the shard's identity. (Public for tests that build
/// proofs from shards proved apart.)
#[allow(clippy::too_many_arguments)]
pub fn prove_shard(w: &Workdir, ss: &Settings, params: &ParamsKZG<Bn256>, inputs: &[Tensor], salt: u128, binding: Fr, device: Device, proving: &dyn Fn()) -> Result<(ShardProof, ModelId)> {
    let t = Instant::now();
    let (pk, header) = pipeline::load_pk(w, ss, params)?;
    let mut ctx = lay_out_salted(&ss.graph, inputs, ss.shape, salt)?;
    ctx.binding = binding;
    let instances = instance_values(&ctx);
    proving();
    let proof = zkinfer_prover::prove::prove_owned(device, params, &pk, ModelCircuit { ctx }, &instances, rand::rngs::OsRng)?;
    let sp = ShardProof {
        model_hash: header.model_id.hex(),
        k: ss.k,
        instances: instances.iter().map(fr_to_hex).collect(),
        proof: format!("0x{}", hex::encode(&proof)),
        prove_seconds: t.elapsed().as_secs_f64(),
    };
    Ok((sp, header.model_id))
}

/// Verifies a sharded proof file natively: every shard proof under its shard's key (one key
/// at a time), and how they fit together ([`Wiring::check`]). Errors for files that do not
/// belong together (keys of other settings, a proof of another model); a proof that fails is
/// an `Invalid` verdict.
pub fn verify(wd: &Workdir, s: &Settings, sh: &Sharded, srs: Option<&Path>, p: &ProofFile) -> Result<Verdict> {
    p.validate()?;
    p.check_against(&s.graph)?;
    if p.shards.is_empty() {
        bail!("{} holds a model compiled into {} shards, but the proof is a single-circuit proof", wd.0.display(), sh.shards.len());
    }
    // one shard's key and SRS at a time: check each proof as its key is loaded, judge after
    let mut ids = Vec::with_capacity(sh.shards.len());
    let mut all = Vec::with_capacity(p.shards.len());
    let mut failed = None;
    let mut by_size = pipeline::ParamsBySize::new(srs);
    for (i, (w, ss)) in sh.shards.iter().enumerate() {
        let params = by_size.get(ss.k)?;
        let (vk, header) = pipeline::load_vk(w, ss, params)?;
        ids.push(header.model_id);
        let Some(sp) = p.shards.get(i) else { continue };
        let (instances, proof) = (sp.instances_fr()?, sp.proof_bytes()?);
        if failed.is_none() {
            if !sp.model_hash.eq_ignore_ascii_case(&header.model_id.hex()) {
                failed = Some(format!("shard proof {i} is a proof of shard {}, not of shard {i} ({})", sp.model_hash, header.model_id));
            } else if let Verdict::Invalid(why) = zkinfer_prover::verify::verify(&params, &vk, &instances, &proof) {
                failed = Some(format!("shard {i}: {why}"));
            }
        }
        all.push(instances);
    }
    let id = sharded_id(&s.graph, &ids)?;
    if !p.model_hash.eq_ignore_ascii_case(&id.hex()) {
        bail!("the proof was made for model {}, but {} holds model {id}", p.model_hash, wd.0.display());
    }
    if p.shards.len() != sh.shards.len() {
        return Ok(Verdict::Invalid(format!("{} shard proofs, the model has {} shards", p.shards.len(), sh.shards.len())));
    }
    if let Some(why) = failed {
        return Ok(Verdict::Invalid(why));
    }
    Ok(match sh.wiring.check(&p.instances_fr()?, &all) {
        Ok(()) => Verdict::Valid,
        Err(why) => Verdict::Invalid(why),
    })
}

/// The aggregation circuit's size for a sharded model without aggregation keys yet
/// (`zkinfer aggregate`'s default).
pub const AGGREGATION_K: u32 = 21;

/// Aggregation keys of a sharded model, with what proving and checking with them needs.
pub struct AggregationKeys {
    pub pk: ProvingKey<G1Affine>,
    pub layout: AggregationLayout,
    /// The SRS at the aggregation size.
    pub params: ParamsKZG<Bn256>,
    pub protocols: Vec<aggregate::Protocol>,
    pub glue: Glue,
    /// The identity of the model whose proofs are aggregated (the sharded model's, or the
    /// batched model's).
    pub id: ModelId,
    /// Seconds spent making them (`None`: read from disk).
    pub made_in: Option<f64>,
}

/// The aggregation keys in `agg_dir` (2^`k` rows) when they are these shards' (same shard
/// keys, identity, size and SRS), else generated from the shard protocols and written there.
/// (Batches of one model's proofs use the same keys, [`crate::batch::batch_keys`].)
#[allow(clippy::too_many_arguments)]
pub(crate) fn keys_for(agg_dir: &Path, srs: Option<&Path>, k: u32, protocols: Vec<aggregate::Protocol>, hashes: &[[u8; 32]], glue: Glue, id: ModelId, step: &dyn Fn(&str)) -> Result<AggregationKeys> {
    let params = pipeline::load_params(srs, k).context("aggregation SRS")?;
    let vks_hash = aggregate_shards::shards_vk_hash(hashes);
    let reuse = aggregate::read_layout(agg_dir).ok().filter(|l| l.k == k && l.inner_vk_hash == vks_hash && l.inner_model_id == id.hex() && l.srs == hex::encode(zkinfer_prover::srs::srs_fingerprint(&params)));
    let (pk, layout, made_in) = match reuse {
        Some(_) => {
            let (pk, layout) = aggregate::read_pk(agg_dir)?;
            (pk, layout, None)
        }
        None => {
            step(&format!("aggregation keys for {} proofs (k = {k})", protocols.len()));
            let t = Instant::now();
            let (pk, mut layout) = aggregate_shards::setup(&params, &protocols, hashes, &glue)?;
            layout.inner_model_id = id.hex();
            std::fs::create_dir_all(agg_dir).with_context(|| format!("creating {}", agg_dir.display()))?;
            aggregate::write_keys(agg_dir, &pk, &layout)?;
            (pk, layout, Some(t.elapsed().as_secs_f64()))
        }
    };
    Ok(AggregationKeys { pk, layout, params, protocols, glue, id, made_in })
}

/// How the shard proofs of `sh` are aggregated: by one circuit (`None`), or, past
/// [`aggregate_shards::SHARD_FAN_IN`] shards, as a tree ([`Glue::tree_by`]: groups of at most
/// that many shard proofs, then of at most [`aggregate_shards::GROUP_FAN_IN`] group proofs, so
/// that no aggregation step needs more than about 14 GB; group keys in [`group_dir`], the
/// root's in `DIR/aggregate/`).
pub fn tree(sh: &Sharded) -> Result<Option<Tree>> {
    Ok(Glue::of(&sh.wiring).tree_by(sh.shards.len(), aggregate_shards::SHARD_FAN_IN, aggregate_shards::GROUP_FAN_IN)?)
}

/// Where the keys of group `g` of tree level `level` live: `DIR/aggregate/groups/<g>/` for
/// the groups of shard proofs, `DIR/aggregate/groups/L<level>/<g>/` above them.
pub fn group_dir(agg_dir: &Path, level: usize, g: usize) -> std::path::PathBuf {
    match level {
        0 => agg_dir.join("groups").join(g.to_string()),
        _ => agg_dir.join("groups").join(format!("L{level}")).join(g.to_string()),
    }
}

/// The key directory of each group of tree level `l`: the group's own ([`group_dir`]), or that
/// of the first group before it in the level with the same member keys (`hashes`, the key
/// hashes of the level's proofs) and the same glue, whose circuit and keys are the same: the
/// groups of a batch share one set of keys (made once).
pub fn level_key_dirs(agg_dir: &Path, l: usize, level: &aggregate_shards::Level, hashes: &[[u8; 32]]) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<std::path::PathBuf> = Vec::with_capacity(level.groups.len());
    for (g, range) in level.groups.iter().enumerate() {
        // (a group passed on has no keys: its directory is never made)
        let same = (0..g).find(|&h| !level.passes(h) && !level.passes(g) && hashes.get(level.groups[h].clone()) == hashes.get(range.clone()) && level.glue[h] == level.glue[g]);
        dirs.push(match same {
            Some(h) => dirs[h].clone(),
            None => group_dir(agg_dir, l, g),
        });
    }
    dirs
}

/// The keys of every group of `t`, level by level (made when missing, one at a time), as the
/// root sees them: each last-level group proof's protocol and key hash.
#[allow(clippy::too_many_arguments)]
pub(crate) fn group_protocols(t: &Tree, agg_dir: &Path, srs: Option<&Path>, k: u32, protocols: &[aggregate::Protocol], hashes: &[[u8; 32]], id: &ModelId, step: &dyn Fn(&str)) -> Result<(Vec<aggregate::Protocol>, Vec<[u8; 32]>)> {
    let (mut protocols, mut hashes) = (protocols.to_vec(), hashes.to_vec());
    for (l, level) in t.levels.iter().enumerate() {
        let (mut gp, mut gh) = (vec![], vec![]);
        let dirs = level_key_dirs(agg_dir, l, level, &hashes);
        for (g, range) in level.groups.iter().enumerate() {
            if level.passes(g) {
                // the proof goes up as it is
                gp.push(protocols[range.start].clone());
                gh.push(hashes[range.start]);
                continue;
            }
            let keys = keys_for(&dirs[g], srs, k, protocols[range.clone()].to_vec(), &hashes[range.clone()], level.glue[g].clone(), *id, step)?;
            let vk = keys.pk.get_vk();
            gp.push(aggregate::aggregation_protocol(&keys.params, vk, keys.layout.num_instances()));
            gh.push(zkinfer_prover::keys::vk_hash(vk));
        }
        (protocols, hashes) = (gp, gh);
    }
    Ok((protocols, hashes))
}

/// The cost model's prediction of the aggregation steps: the root (or only) circuit, `root`,
/// plus each group's of a tree (from the group keys' layouts in `agg_dir`).
pub fn aggregation_seconds(sh: &Sharded, agg_dir: &Path, root: &AggregationLayout) -> f64 {
    root.counts().prove_seconds() + tree(sh).ok().flatten().map_or(0.0, |t| tree_seconds(&t, agg_dir))
}

/// The cost model's prediction for every group of `t` (from the layouts in their key
/// directories; a group sharing an earlier group's keys counts the last layout read in its level).
pub fn tree_seconds(t: &Tree, agg_dir: &Path) -> f64 {
    let mut total = 0.0;
    for (l, level) in t.levels.iter().enumerate() {
        let mut last = None;
        for g in (0..level.groups.len()).filter(|&g| !level.passes(g)) {
            // (a group sharing an earlier group's keys has no layout of its own)
            if let Ok(layout) = aggregate::read_layout(&group_dir(agg_dir, l, g)) {
                last = Some(layout.counts().prove_seconds());
            }
            total += last.unwrap_or(0.0);
        }
    }
    total
}

/// Aggregates `snarks`, the leaf proofs of tree `t` (with their `protocols` and key `hashes`),
/// level by level: each group with its own circuit (keys in [`group_dir`], made when missing,
/// one held at a time; Poseidon transcript). Returns the last level's proofs with their
/// protocols and key hashes: what the root aggregates.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub(crate) fn prove_levels(t: &Tree, agg_dir: &Path, srs: Option<&Path>, k: u32, snarks: Vec<aggregate::Snark>, protocols: Vec<aggregate::Protocol>, hashes: Vec<[u8; 32]>, id: ModelId, step: &dyn Fn(&str)) -> Result<(Vec<aggregate::Snark>, Vec<aggregate::Protocol>, Vec<[u8; 32]>)> {
    let (mut proofs, mut protocols, mut hashes) = (snarks, protocols, hashes);
    for (l, level) in t.levels.iter().enumerate() {
        let mut rest = proofs.into_iter();
        let (mut group_snarks, mut gh) = (vec![], vec![]);
        let dirs = level_key_dirs(agg_dir, l, level, &hashes);
        for (g, range) in level.groups.iter().enumerate() {
            let mut members: Vec<_> = rest.by_ref().take(range.len()).collect();
            if level.passes(g) {
                let to = if l + 1 == t.levels.len() { "the root".to_string() } else { format!("level {}", l + 1) };
                step(&format!("proof {} passed on to {to} as it is (level {l}, group {g} of {})", range.start, level.groups.len()));
                group_snarks.push(members.pop().ok_or_else(|| anyhow::anyhow!("internal error: level {l} has fewer proofs than its groups"))?);
                gh.push(hashes[range.start]);
                continue;
            }
            let keys = keys_for(&dirs[g], srs, k, protocols[range.clone()].to_vec(), &hashes[range.clone()], level.glue[g].clone(), id, step)?;
            let what = if l == 0 { "proofs" } else { "group proofs" };
            step(&format!("aggregation of {what} {}..{} (level {l}, group {g} of {})", range.start, range.end - 1, level.groups.len()));
            group_snarks.push(aggregate_shards::prove_group(&keys.params, &keys.protocols, &keys.pk, &keys.layout, members, &keys.glue, rand::rngs::OsRng)?);
            gh.push(zkinfer_prover::keys::vk_hash(keys.pk.get_vk()));
        }
        protocols = group_snarks.iter().map(|s| s.protocol.clone()).collect();
        (proofs, hashes) = (group_snarks, gh);
    }
    Ok((proofs, protocols, hashes))
}

/// The aggregation keys of the sharded model (see [`keys_for`]), from the shard verifying keys
/// (each checked against its settings and the SRS): the root's for a tree ([`tree`]), whose
/// group keys are made first when missing.
pub fn aggregation_keys(s: &Settings, sh: &Sharded, srs: Option<&Path>, agg_dir: &Path, k: u32, step: &dyn Fn(&str)) -> Result<AggregationKeys> {
    let (mut ids, mut hashes, mut protocols) = (vec![], vec![], vec![]);
    let mut by_size = pipeline::ParamsBySize::new(srs);
    for (w, ss) in &sh.shards {
        let params = by_size.get(ss.k)?;
        let (vk, header) = pipeline::load_vk(w, ss, params)?;
        ids.push(header.model_id);
        hashes.push(zkinfer_prover::keys::vk_hash(&vk));
        protocols.push(aggregate::inner_protocol(params, &vk, ss.num_instances));
    }
    drop(by_size);
    let id = sharded_id(&s.graph, &ids)?;
    match tree(sh)? {
        None => keys_for(agg_dir, srs, k, protocols, &hashes, Glue::of(&sh.wiring), id, step),
        Some(t) => {
            let (gp, gh) = group_protocols(&t, agg_dir, srs, k, &protocols, &hashes, &id, step)?;
            keys_for(agg_dir, srs, k, gp, &gh, t.root, id, step)
        }
    }
}

/// One aggregated proof of a sharded model.
pub struct Aggregated {
    pub keys: AggregationKeys,
    pub proof: Vec<u8>,
    /// The accumulator limbs, then the model's public instances.
    pub instances: Vec<Fr>,
    /// The model's inputs and outputs as the instances encode them (`proof` empty).
    pub decoded: ProofFile,
    pub shard_seconds: f64,
    pub aggregate_seconds: f64,
}

/// Proves every shard (Poseidon transcript, one shard key at a time, one fresh link salt),
/// then aggregates them with the keys in `agg_dir` (made when missing; loaded only after the
/// shard proofs, so one proving key is held at a time), links checked in the circuit;
/// verifies the result natively.
#[allow(clippy::too_many_arguments)]
pub fn prove_aggregated(s: &Settings, sh: &Sharded, srs: Option<&Path>, agg_dir: &Path, k: u32, inputs: &[Tensor], binding: Fr, step: &dyn Fn(&str)) -> Result<Aggregated> {
    let vals = exec::run(&s.graph, inputs)?;
    let outs: Vec<Tensor> = s.graph.outputs.iter().map(|o| vals[o.value].clone()).collect();
    let salt = rand::random::<u128>() >> (128 - SALT_BITS);
    let t = Instant::now();
    let n = sh.shards.len();
    let (mut snarks, mut ids, mut hashes) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let mut by_size = pipeline::ParamsBySize::new(srs);
    for (i, (w, ss)) in sh.shards.iter().enumerate() {
        step(&format!("shard {i}/{n}: proof (Poseidon transcript, k = {})", ss.k));
        let params = by_size.get(ss.k)?;
        let (pk, header) = pipeline::load_pk(w, ss, params)?;
        let ins: Vec<Tensor> = ss.graph.inputs.iter().map(|t| vals[t.value].clone()).collect();
        let mut ctx = lay_out_salted(&ss.graph, &ins, ss.shape, salt)?;
        ctx.binding = binding;
        // (prove_inner verifies the shard proof natively before returning it)
        snarks.push(aggregate::prove_inner(params, &pk, &ModelCircuit { ctx }, rand::rngs::OsRng)?);
        ids.push(header.model_id);
        hashes.push(zkinfer_prover::keys::vk_hash(pk.get_vk()));
    }
    drop(by_size);
    let shard_seconds = t.elapsed().as_secs_f64();
    let id = sharded_id(&s.graph, &ids)?;
    let model_instances = zkinfer_circuits::public::bound_instances(&s.graph, binding, inputs, &outs).map_err(anyhow::Error::msg)?;
    let shard_instances: Vec<Vec<Fr>> = snarks.iter().map(|s| s.instances.concat()).collect();
    sh.wiring.check(&model_instances, &shard_instances).map_err(|e| anyhow::anyhow!("internal error: the shard proofs do not fit together: {e}"))?;
    let protocols: Vec<aggregate::Protocol> = snarks.iter().map(|s| s.protocol.clone()).collect();
    let t = Instant::now();
    let (keys, snarks) = match tree(sh)? {
        None => (keys_for(agg_dir, srs, k, protocols, &hashes, Glue::of(&sh.wiring), id, step)?, snarks),
        Some(t) => {
            let (proofs, protocols, hashes) = prove_levels(&t, agg_dir, srs, k, snarks, protocols, hashes, id, step)?;
            (keys_for(agg_dir, srs, k, protocols, &hashes, t.root, id, step)?, proofs)
        }
    };
    step("aggregation proof (links checked in the circuit)");
    let (proof, instances) = aggregate_shards::prove(&keys.params, &keys.protocols, &keys.pk, &keys.layout, snarks, &keys.glue, rand::rngs::OsRng)?;
    let aggregate_seconds = t.elapsed().as_secs_f64();
    if let Verdict::Invalid(why) = aggregate::verify(&keys.params, keys.pk.get_vk(), &instances, &proof) {
        bail!("the aggregation proof does not verify: {why}");
    }
    if instances[aggregate::ACCUMULATOR_LIMBS..] != model_instances[..] {
        bail!("internal error: the aggregation proof does not expose the model's public instances");
    }
    let k_max = sh.shards.iter().map(|(_, ss)| ss.k).max().unwrap_or(0);
    let decoded = ProofFile::new(&id.0, k_max, &s.graph, binding, inputs, &outs, &[], shard_seconds)?;
    Ok(Aggregated { keys, proof, instances, decoded, shard_seconds, aggregate_seconds })
}

/// The identity recorded in the shards' verifying keys (for looking the model up: a registry
/// entry), without the SRS; whatever is proved or verified recomputes it.
pub fn recorded_id(s: &Settings, sh: &Sharded) -> Result<ModelId> {
    let ids = sh.shards.iter().map(|(w, ss)| pipeline::recorded_id(w, ss)).collect::<Result<Vec<_>>>()?;
    Ok(sharded_id(&s.graph, &ids)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Groups with the same member keys and glue share one key directory (a batch's groups);
    /// any difference gives a group its own.
    #[test]
    fn identical_groups_share_keys_and_others_do_not() {
        let agg = Path::new("/agg");
        let glue = crate::batch::glue(16, 3);
        let t = glue.tree(16, aggregate_shards::FAN_IN).expect("tree").expect("a tree of 16");
        let level = &t.levels[0];
        let same = vec![[7u8; 32]; 16];
        let dirs = level_key_dirs(agg, 0, level, &same);
        assert_eq!(dirs, vec![group_dir(agg, 0, 0); 4]);
        let mut other = same.clone();
        other[9] = [8u8; 32];
        let dirs = level_key_dirs(agg, 0, level, &other);
        assert_eq!(dirs, vec![group_dir(agg, 0, 0), group_dir(agg, 0, 0), group_dir(agg, 0, 2), group_dir(agg, 0, 0)]);
        // the same keys under another glue
        let mut l2 = level.clone();
        l2.glue[3].expose.pop();
        assert_eq!(level_key_dirs(agg, 0, &l2, &same)[3], group_dir(agg, 0, 3));
        assert_eq!(group_dir(agg, 1, 2), Path::new("/agg/groups/L1/2"));
    }
}
