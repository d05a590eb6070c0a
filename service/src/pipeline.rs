//! The five stages, shared by the CLI subcommands and `zkinfer demo`:
//! compile -> setup -> prove -> verify -> evm-verifier.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use zkinfer_circuits::exec;
use zkinfer_circuits::ir::{Graph, Tensor};
use zkinfer_circuits::layout::circuit::{public_values, ModelCircuit};
use zkinfer_prover::evm;
use zkinfer_circuits::layout::{ctx::Shape, lay_out};
use zkinfer_circuits::onnx::{import_file, ImportOptions};
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{ProvingKey, VerifyingKey};
use zkinfer_circuits::layout::circuit::range_rows;
use zkinfer_prover::identity::{IdentityParts, ModelId};
use zkinfer_prover::keys::KeyHeader;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use zkinfer_prover::{cost, keys, sizing, srs, verify::Verdict, Device};

use crate::files::{sha256_hex, Cost, Settings, Workdir, SETTINGS_FORMAT};
use zkinfer_prover::artifacts::{PrivateValues, ProofFile};

/// Circuit shapes `compile` chooses from when none is given: `width` advice columns of
/// which `lookup_width` carry range lookups. Narrow shapes need more rows but fewer columns:
/// cheaper to verify (every column and lookup costs the verifier gas), and for small models
/// no slower to prove.
/// (4/1 comes first: the narrower 3/1 and 2/1 are tried after it, and only when its layout
/// fits `2^NARROW_MAX_K` rows.)
/// Each shape with two or more lookup columns is also tried with paired range lookups where
/// its circuit has at least `2^PAIRS_MIN_K` rows (6/6 and 8/8 are there for that).
pub const AUTO_SHAPES: [Shape; 14] = [
    Shape::new(4, 1),
    Shape::new(3, 1),
    Shape::new(2, 1),
    Shape::new(2, 2),
    Shape::new(4, 2),
    Shape::new(4, 4),
    Shape::new(6, 1),
    Shape::new(6, 2),
    Shape::new(6, 3),
    Shape::new(6, 4),
    Shape::new(6, 6),
    Shape::new(8, 2),
    Shape::new(8, 4),
    Shape::new(8, 8),
];

/// The least `k` at which `compile` also tries a shape with paired range lookups
/// ([`Shape::pairs`]): the pair table's 2^16 rows need 2^17, so pairs never raise `k`.
pub const PAIRS_MIN_K: u32 = 17;

/// Shapes narrower than 4 columns are tried only for models whose 4/1 layout needs at most
/// `2^NARROW_MAX_K` rows: they take 1.3-2x the rows, which only small models can afford (a
/// larger one proves too much slower for the gas it saves), and laying them out costs compile
/// time.
pub const NARROW_MAX_K: u32 = 17;

/// What `compile` optimises when it chooses the circuit shape (the cost model predicts both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Objective {
    /// The least verification gas among the shapes predicted to prove within
    /// [`PROVE_SLACK_S`] seconds or [`PROVE_SLACK`] of the fastest, whichever is more: small
    /// models verify cheaper at no noticeable cost in proving, large ones give up at most a
    /// quarter of the fastest proof's time (a verification's gas is worth far more than
    /// that much prover time: 100k gas at 20 gwei is 0.002 ETH).
    #[default]
    Balanced,
    /// The fastest predicted proof (for proofs that are aggregated or never verified on
    /// chain).
    Prove,
    /// The least predicted verification gas (for direct proofs verified on chain often).
    Gas,
}

/// Where a compiled circuit keeps its public words (`compile --public-column`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PublicColumn {
    /// In a committed column when the objective is not the fastest proof, the model has at
    /// least [`COLUMN_MIN_WORDS`] public words and the cost model picks it (it verifies for
    /// about 580 gas a word instead of 860, calldata included, at the price of one more
    /// advice column: it pays from about 70 words).
    #[default]
    Auto,
    /// Always in the committed column ([`zkinfer_circuits::layout::public_column`]).
    Always,
    /// Always as public instances.
    Never,
}

/// Public words below which [`PublicColumn::Auto`] does not lay out the column variants at
/// all (the column cannot pay there).
pub const COLUMN_MIN_WORDS: usize = 64;

/// [`Objective::Balanced`]'s slack over the fastest predicted proof: absolute seconds...
pub const PROVE_SLACK_S: f64 = 2.0;
/// ...and relative.
pub const PROVE_SLACK: f64 = 0.25;

/// One laid-out candidate: whether its verifier fits EIP-170 (with margin), its predicted
/// prove seconds and verification gas.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    pub fits: bool,
    pub prove_seconds: f64,
    pub verify_gas: u64,
}

/// The candidate `objective` picks: among those whose verifier fits EIP-170 if any does (a
/// split verifier costs a call per extra contract), else among all. Ties go to the faster
/// proof, then to the earlier candidate.
pub fn pick(cands: &[Candidate], objective: Objective) -> Option<usize> {
    let any_fits = cands.iter().any(|c| c.fits);
    let pool: Vec<usize> = (0..cands.len()).filter(|&i| cands[i].fits || !any_fits).collect();
    let fastest = pool.iter().map(|&i| cands[i].prove_seconds).fold(f64::INFINITY, f64::min);
    let by_time = |&a: &usize, &b: &usize| cands[a].prove_seconds.total_cmp(&cands[b].prove_seconds).then(a.cmp(&b));
    let by_gas = |a: &usize, b: &usize| cands[*a].verify_gas.cmp(&cands[*b].verify_gas).then_with(|| by_time(a, b));
    match objective {
        Objective::Prove => pool.into_iter().min_by(by_time),
        Objective::Gas => pool.into_iter().min_by(by_gas),
        Objective::Balanced => {
            let bound = fastest + (fastest * PROVE_SLACK).max(PROVE_SLACK_S);
            pool.into_iter().filter(|&i| cands[i].prove_seconds <= bound).min_by(by_gas)
        }
    }
}

/// Imports an ONNX model and sizes its circuit. Without a `shape`, lays it out in each of
/// [`AUTO_SHAPES`] and keeps the one `objective` picks ([`pick`]) from the cost model's
/// predictions ([`zkinfer_prover::cost`]): prove time, verification gas and whether the
/// Solidity verifier fits EIP-170's 24,576 bytes with 2% margin (the size model errs by
/// under 1%).
pub fn compile(model: &Path, opts: ImportOptions, shape: Option<Shape>, objective: Objective) -> Result<Settings> {
    compile_with(model, opts, shape, objective, PublicColumn::Auto)
}

/// [`compile`], with the public words kept as `column` says (a given `shape` is taken as it
/// is with [`PublicColumn::Auto`]).
pub fn compile_with(model: &Path, opts: ImportOptions, shape: Option<Shape>, objective: Objective, column: PublicColumn) -> Result<Settings> {
    let bytes = std::fs::read(model).with_context(|| format!("cannot read model {}", model.display()))?;
    let graph = import_file(model, &opts)?;
    // Interpolated tables need fewer table rows but more rows per element, and only the
    // whole layout shows which wins: compile with direct tables too, and keep the faster
    // (the interpolated one, at least as accurate, on a tie).
    let mut variants = vec![(opts.clone(), graph)];
    if opts.interpolate && variants[0].1.nodes.iter().any(|n| matches!(n.op, zkinfer_circuits::ops::Op::Interp(_))) {
        let direct = ImportOptions { interpolate: false, ..opts.clone() };
        // (a direct variant that does not import, e.g. a table over the size limit, is no
        // candidate)
        if let Ok(g) = import_file(model, &direct) {
            variants.push((direct, g));
        }
    }
    let limit = cost::EIP170_LIMIT * 98 / 100;
    // every candidate's (variant, shape, k, cost); only the layout of the candidate picked so
    // far is kept in memory (the final pick is laid out again if it was dropped)
    let mut cands: Vec<(usize, Shape, u32, Cost)> = Vec::new();
    let mut kept: Option<(usize, ModelCircuit)> = None;
    let metrics = |cands: &[(usize, Shape, u32, Cost)]| -> Vec<Candidate> { cands.iter().map(|(_, _, _, c)| Candidate { fits: c.verifier_bytes <= limit, prove_seconds: c.prove_seconds, verify_gas: c.verify_gas }).collect() };
    for (v, (_, graph)) in variants.iter().enumerate() {
        let inputs = reference_inputs(graph);
        // the Poseidon gadget of hashed tensors needs 6 advice columns
        let hashing = graph.has_hashed();
        let auto = AUTO_SHAPES.iter().copied().filter(|s| !hashing || s.width >= zkinfer_circuits::layout::poseidon::MIN_WIDTH).collect();
        let mut k_41 = None;
        let shapes: Vec<Shape> = shape.map_or(auto, |s| vec![s]);
        let words = graph.num_instances() - 1;
        let with_column = |sh: Shape| -> Vec<Shape> {
            match column {
                PublicColumn::Always => vec![Shape { public_column: true, ..sh }],
                PublicColumn::Never => vec![Shape { public_column: false, ..sh }],
                PublicColumn::Auto if shape.is_none() && objective != Objective::Prove && words >= COLUMN_MIN_WORDS => vec![sh, Shape { public_column: true, ..sh }],
                PublicColumn::Auto => vec![sh],
            }
        };
        for sh in shapes.into_iter().flat_map(with_column) {
            if sh.width < 4 && shape.is_none() && k_41.is_none_or(|k| k > NARROW_MAX_K) {
                continue;
            }
            let mut circuit = match lay_out(graph, &inputs, sh) {
                Ok(ctx) => ModelCircuit { ctx },
                // the first variant's errors are the model's; the direct one is an alternative
                Err(_) if v > 0 => continue,
                Err(e) => return Err(e.into()),
            };
            let k = sizing::k_for(&circuit);
            if sh.width == 4 && sh.lookup_width == 1 && !sh.public_column {
                k_41 = Some(k);
            }
            let start = cands.len();
            cands.push((v, sh, k, Cost::of(&circuit, k, graph.num_instances())));
            // the same layout with paired range lookups: half the lookup arguments, where the
            // circuit already has the 2^17 rows the pair table needs
            if shape.is_none() && !sh.pairs && sh.lookup_width >= 2 && k >= PAIRS_MIN_K {
                circuit.ctx.shape.pairs = true;
                let kp = sizing::k_for(&circuit);
                cands.push((v, sh.paired(), kp, Cost::of(&circuit, kp, graph.num_instances())));
            }
            if let Some(i) = pick(&metrics(&cands), objective).filter(|&i| i >= start) {
                circuit.ctx.shape.pairs = cands[i].1.pairs;
                kept = Some((i, circuit));
            }
        }
    }
    let i = pick(&metrics(&cands), objective).context("no circuit shape to try")?;
    let (v, sh, k, cost) = cands.swap_remove(i);
    let circuit = match kept {
        Some((j, c)) if j == i => c,
        _ => ModelCircuit { ctx: lay_out(&variants[v].1, &reference_inputs(&variants[v].1), sh)? },
    };
    let (opts, graph) = variants.swap_remove(v);
    let shape = circuit.ctx.shape;
    Ok(Settings {
        format: SETTINGS_FORMAT.into(),
        model: model.display().to_string(),
        model_sha256: sha256_hex(&bytes),
        options: opts,
        shape,
        k,
        rows: circuit.rows(),
        num_instances: graph.num_instances(),
        calibration: None,
        weights_hash: crate::files::weights_hash(&graph)?,
        cost: Some(cost),
        graph,
    })
}

/// Inputs holding the real value 0 (the zero point, within range): lays out the same
/// circuit as any other input, for key generation.
/// The real range every probe (function-table input, divisor) of a probing import takes on
/// `vals` (the executor's values of `probe`), widened by one grid step either side (the probe
/// sees the value on its own grid).
pub fn probe_ranges(probe: &Graph, vals: &[Tensor]) -> std::collections::BTreeMap<String, (f64, f64)> {
    let mut out = std::collections::BTreeMap::new();
    for p in &probe.probes {
        let t = &vals[p.value];
        let (lo, hi) = t.data.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &q| {
            let x = (q - p.zero_point) as f64 * p.scale;
            (l.min(x), h.max(x))
        });
        if lo.is_finite() {
            let (lo, hi) = (lo - p.scale, hi + p.scale);
            let e = out.entry(p.name.clone()).or_insert((lo, hi));
            *e = (e.0.min(lo), e.1.max(hi));
        }
    }
    out
}

/// Compiles `model`; where its static bounds cannot size a range (a divisor whose range
/// includes 0, a function table over a range too wide), observes the ranges on `sample` as
/// `calibrate` does and compiles with them. Returns the settings and the names of the ranges
/// sized from data. Without a sample, such a model is an error that names the problem and
/// says how to fix it.
pub fn compile_sized(model: &Path, opts: ImportOptions, shape: Option<Shape>, objective: Objective, column: PublicColumn, sample: Option<(&Path, &[Vec<f64>])>) -> Result<(Settings, Vec<String>)> {
    let err = match compile_with(model, opts.clone(), shape, objective, column) {
        Ok(s) => return Ok((s, Vec::new())),
        Err(e) => e,
    };
    let unsupported = matches!(err.downcast_ref::<zkinfer_circuits::error::CircuitError>(), Some(zkinfer_circuits::error::CircuitError::Unsupported { .. }));
    let probe = if unsupported { import_file(model, &ImportOptions { probing: true, ..opts.clone() }).ok().filter(|g| !g.probes.is_empty()) } else { None };
    let Some(probe) = probe else { return Err(err) };
    let Some((path, data)) = sample else {
        bail!(
            "{err:#}\nthe static bounds cannot size this range: give a representative input to size it from data, e.g.\n  zkinfer compile {} -o OUT --input SAMPLE.json\n(or `zkinfer calibrate {} --input SAMPLE.json -o OUT`, which also picks the precision)",
            model.display(),
            model.display()
        );
    };
    let inputs = quantize_inputs(&probe, data, model_saturates(&probe)).with_context(|| format!("--input {}", path.display()))?;
    let vals = exec::run(&probe, &inputs).with_context(|| format!("running the model on {}", path.display()))?;
    let ranges = probe_ranges(&probe, &vals);
    let names: Vec<String> = ranges.keys().cloned().collect();
    let mut sized = opts;
    sized.ranges.extend(ranges);
    let s = compile_with(model, sized, shape, objective, column).with_context(|| format!("compiling with the ranges observed on {}", path.display()))?;
    Ok((s, names))
}

/// Whether `e` says a circuit would exceed the most rows one circuit may have.
pub fn is_too_large(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref::<zkinfer_circuits::error::CircuitError>(), Some(zkinfer_circuits::error::CircuitError::TooLarge { .. }))
}

/// [`compile`] for a model too large to lay out as one circuit (over 2^24 rows), to be cut
/// into shards: its rows are counted node by node
/// ([`zkinfer_circuits::layout::count_rows`], memory bounded by the largest node) in each
/// shape wide enough for the shards' link digests (or `shape`), and the fastest predicted is
/// kept (with `pairs`, also each shape with paired range lookups, whose shards need 2^17
/// rows or more). The settings describe the single circuit (its `k` above what one circuit may have);
/// also returns the count, for the shard plan.
pub fn compile_counted(model: &Path, opts: ImportOptions, shape: Option<Shape>, pairs: bool) -> Result<(Settings, zkinfer_circuits::layout::RowCount)> {
    let bytes = std::fs::read(model).with_context(|| format!("cannot read model {}", model.display()))?;
    let graph = import_file(model, &opts)?;
    let inputs = reference_inputs(&graph);
    let min_width = zkinfer_circuits::layout::poseidon::MIN_WIDTH;
    let shapes: Vec<Shape> = match shape {
        Some(s) => vec![Shape { width: s.width.max(min_width), ..s }],
        // (without the all-lookup 6/6 and 8/8: counting a model this large takes minutes a shape)
        None => AUTO_SHAPES.iter().copied().filter(|s| s.width >= min_width && s.lookup_width <= 4).collect(),
    };
    // (one count per shape, as many at once as there are cores: each holds one node's rows)
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(shapes.len()).max(1);
    let counts: Vec<Result<zkinfer_circuits::layout::RowCount>> = std::thread::scope(|scope| {
        let jobs: Vec<_> = (0..threads)
            .map(|t| {
                let (graph, inputs, shapes) = (&graph, &inputs, &shapes);
                scope.spawn(move || shapes.iter().skip(t).step_by(threads).map(|&sh| (sh, zkinfer_circuits::layout::count_rows(graph, inputs, sh).map_err(anyhow::Error::from))).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<(Shape, Result<zkinfer_circuits::layout::RowCount>)> = jobs.into_iter().flat_map(|j| j.join().unwrap_or_else(|_| vec![])).collect();
        all.sort_by_key(|(sh, _)| shapes.iter().position(|s| s == sh));
        all.into_iter().map(|(_, r)| r).collect()
    });
    if counts.len() != shapes.len() {
        bail!("counting the rows failed (a counting thread panicked)");
    }
    let mut best: Option<(f64, u32, zkinfer_circuits::layout::RowCount, Cost)> = None;
    for n in counts {
        let n = n?;
        // the same count with paired range lookups: only the range table's rows differ
        let paired = (pairs && shape.is_none() && n.shape.lookup_width >= 2 && !n.shape.pairs).then(|| {
            let table_rows = n.table_rows - range_rows(false) + range_rows(true);
            zkinfer_circuits::layout::RowCount { shape: n.shape.paired(), node_rows: n.node_rows.clone(), total: n.total.max(table_rows), table_rows }
        });
        for n in std::iter::once(n).chain(paired) {
            let k = sizing::k_for_rows(n.total);
            let c = Cost::of_counts(zkinfer_prover::cost::Counts::new(n.shape, k), graph.num_instances());
            if best.as_ref().is_none_or(|b| c.prove_seconds < b.0) {
                best = Some((c.prove_seconds, k, n, c));
            }
        }
    }
    let (_, k, n, cost) = best.context("no circuit shape to try")?;
    let s = Settings {
        format: SETTINGS_FORMAT.into(),
        model: model.display().to_string(),
        model_sha256: sha256_hex(&bytes),
        options: opts,
        shape: n.shape,
        k,
        rows: n.total,
        num_instances: graph.num_instances(),
        calibration: None,
        weights_hash: crate::files::weights_hash(&graph)?,
        cost: Some(cost),
        graph,
    };
    Ok((s, n))
}

pub fn reference_inputs(g: &Graph) -> Vec<Tensor> {
    g.inputs.iter().map(|s| Tensor::filled(s.shape.clone(), s.zero_point.clamp(s.lo, s.hi))).collect()
}

/// The graph keys are generated from: witness weights set to zero, since the circuit's
/// structure does not depend on them (one key serves every set of weights in range).
pub fn keygen_graph(g: &Graph) -> std::borrow::Cow<'_, Graph> {
    if g.params.is_empty() {
        return std::borrow::Cow::Borrowed(g);
    }
    let mut g = g.clone();
    for p in &mut g.params {
        p.data = None;
    }
    g.fill_missing_params();
    std::borrow::Cow::Owned(g)
}

/// The SRS for `k`: a file when given, else the UNSAFE deterministic dev SRS.
pub fn load_params(srs_file: Option<&Path>, k: u32) -> Result<ParamsKZG<Bn256>> {
    Ok(match srs_file {
        Some(p) => srs::load_srs(p, k)?,
        None => srs::dev_srs(k)?.0,
    })
}

/// The SRS for one circuit after another (the shards of a model), loaded or derived again
/// only when the size changes: shards mostly share one k, and deriving the dev SRS takes about
/// 20 s at k 21 (reading a ceremony file, seconds), each time.
pub struct ParamsBySize<'a> {
    srs_file: Option<&'a Path>,
    last: Option<(u32, ParamsKZG<Bn256>)>,
}

impl<'a> ParamsBySize<'a> {
    pub fn new(srs_file: Option<&'a Path>) -> Self {
        ParamsBySize { srs_file, last: None }
    }

    /// The SRS for 2^k rows.
    pub fn get(&mut self, k: u32) -> Result<&ParamsKZG<Bn256>> {
        if self.last.as_ref().is_none_or(|(have, _)| *have != k) {
            // (the previous size's is dropped first: one SRS in memory at a time)
            self.last = None;
            self.last = Some((k, load_params(self.srs_file, k)?));
        }
        Ok(&self.last.as_ref().expect("just loaded").1)
    }
}

/// Generates and stores the keys of a compiled model; returns its identity.
pub fn setup(wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>) -> Result<ModelId> {
    setup_keys(wd, s, params, true)
}

/// [`setup`]; with `keep_pk` false only the verifying key is written (and an earlier proving
/// key file removed): proving then makes the proving key again ([`load_pk`]), trading about a
/// key generation per proof for the disk (3.8 GB per shard of k 21).
pub fn setup_keys(wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>, keep_pk: bool) -> Result<ModelId> {
    let pk = keygen(s, params)?;
    if !keep_pk && wd.pk().exists() {
        std::fs::remove_file(wd.pk()).with_context(|| format!("removing {}", wd.pk().display()))?;
    }
    Ok(keys::write_keys_of(&wd.vk(), keep_pk.then(|| wd.pk()).as_deref(), &pk, &identity_parts(s, params))?)
}

fn keygen(s: &Settings, params: &ParamsKZG<Bn256>) -> Result<ProvingKey<G1Affine>> {
    let ctx = lay_out(&keygen_graph(&s.graph), &reference_inputs(&s.graph), s.shape)?;
    Ok(keys::keygen(params, &ModelCircuit { ctx })?)
}

/// What the model identity is computed from besides the key.
pub fn identity_parts<'a>(s: &'a Settings, params: &'a ParamsKZG<Bn256>) -> IdentityParts<'a> {
    IdentityParts { shape: s.shape, params, graph: &s.graph }
}

/// DIR's verifying key, checked to belong to the settings and the SRS: its header's shape and
/// k are the settings', and the identity recomputed from key, settings and SRS is the one
/// recorded at setup ([`keys::load_vk`]). The header's `model_id` is then the model's identity.
pub fn load_vk(wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>) -> Result<(VerifyingKey<G1Affine>, KeyHeader)> {
    refuse_sharded(wd)?;
    let (vk, header) = keys::load_vk(&wd.vk(), &identity_parts(s, params))?;
    check_k(wd, s, &header)?;
    Ok((vk, header))
}

/// [`load_vk`] for the proving key. Without a proving key file but with the verifying key (`setup --no-proving-key`), the
/// proving key is made again and accepted only when it gives that verifying key.
pub fn load_pk(wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>) -> Result<(ProvingKey<G1Affine>, KeyHeader)> {
    refuse_sharded(wd)?;
    if !wd.pk().exists() && wd.vk().exists() {
        let (vk, header) = load_vk(wd, s, params)?;
        let pk = keygen(s, params)?;
        keys::check_regenerated_pk(&wd.vk(), &vk, &pk)?;
        return Ok((pk, header));
    }
    let (pk, header) = keys::load_pk(&wd.pk(), &identity_parts(s, params))?;
    check_k(wd, s, &header)?;
    Ok((pk, header))
}

/// Refuses the single-circuit keys of a directory compiled into shards (its keys are the
/// shards', [`crate::sharding`]): setup, prove, verify, aggregate and the market verbs branch
/// to the sharded stages before they get here.
fn refuse_sharded(wd: &Workdir) -> Result<()> {
    let path = wd.shard_plan();
    if path.exists() {
        let plan: zkinfer_prover::shard::ShardPlan = crate::files::read_json(&path)?;
        if plan.shards.len() > 1 {
            bail!("{} holds a model compiled into {} shards: setup, prove and verify handle it shard by shard, `zkinfer aggregate DIR --input F [--evm]` makes one proof of it (and its EVM verifier), and `market register/submit`, `zkinfer node` and the gRPC service take that (`compile --max-k 24` keeps one circuit up to 2^24 rows)", wd.0.display(), plan.shards.len());
        }
    }
    Ok(())
}

/// The identity recorded in DIR's verifying key, for looking a model up (a registry entry,
/// a store): checks the key's header against the settings but, without the SRS, does not
/// recompute the identity. Whatever is then proved or verified goes through [`load_vk`] /
/// [`load_pk`].
pub fn recorded_id(wd: &Workdir, s: &Settings) -> Result<ModelId> {
    if let Some(sh) = crate::sharding::load(wd, s)? {
        return crate::sharding::recorded_id(s, &sh);
    }
    let (_, header) = keys::read_vk(&wd.vk())?;
    if header.shape != s.shape {
        bail!("{} has circuit shape {:?} but {} says {:?}: the key does not belong to these settings; run `zkinfer setup` again", wd.vk().display(), header.shape, wd.settings().display(), s.shape);
    }
    check_k(wd, s, &header)?;
    Ok(header.model_id)
}

/// Refuses a proof file made for another model than `id` (DIR's).
fn check_model(wd: &Workdir, id: &ModelId, p: &ProofFile) -> Result<()> {
    if !p.model_hash.eq_ignore_ascii_case(&id.hex()) {
        bail!("the proof was made for model {}, but {} holds model {id}", p.model_hash, wd.0.display());
    }
    Ok(())
}

fn check_k(wd: &Workdir, s: &Settings, header: &KeyHeader) -> Result<()> {
    if s.num_instances != s.graph.num_instances() {
        bail!("{} says {} public instances but its graph has {}: the settings were edited; compile again", wd.settings().display(), s.num_instances, s.graph.num_instances());
    }
    if header.k != s.k {
        bail!("{} is for k = {} but {} says k = {}: the key does not belong to these settings; run `zkinfer setup` again", wd.vk().display(), header.k, wd.settings().display(), s.k);
    }
    Ok(())
}

/// Quantizes float inputs for the model (rejecting NaN, wrong lengths, out-of-range values).
/// Whether every input of `g` is one its own QuantizeLinear saturates (a QDQ or QOperator
/// model): reference comparisons (check-suite, calibrate) then saturate as onnxruntime does.
pub fn model_saturates(g: &Graph) -> bool {
    !g.inputs.is_empty() && g.inputs.iter().all(|i| i.saturates)
}

pub fn quantize_inputs(g: &Graph, data: &[Vec<f64>], saturate: bool) -> Result<Vec<Tensor>> {
    if data.len() != g.inputs.len() {
        bail!("the model has {} input(s), the input file gives {}", g.inputs.len(), data.len());
    }
    g.inputs.iter().zip(data).map(|(spec, x)| Ok(exec::quantize_input(spec, x, saturate)?)).collect()
}

/// Proves the model on `data` for `binding` (public instance 0: zero, or what a market job
/// requires); returns the proof file.
pub fn prove(wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>, data: &[Vec<f64>], saturate: bool, binding: Fr) -> Result<ProofFile> {
    Ok(prove_with(wd, s, params, data, saturate, binding, Device::Cpu, &|_| {})?.file)
}

/// A proof file and, when some tensors are hashed or private, their values (kept apart: the
/// proof file is what gets shared).
pub struct Proved {
    pub file: ProofFile,
    pub private: Option<PrivateValues>,
}

/// [`prove`], calling `phase` when a phase starts: "witness" (execute and lay out the model),
/// "prove" (commit and open).
#[allow(clippy::too_many_arguments)]
pub fn prove_with(wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>, data: &[Vec<f64>], saturate: bool, binding: Fr, device: Device, phase: &dyn Fn(&str)) -> Result<Proved> {
    phase("witness");
    let inputs = quantize_inputs(&s.graph, data, saturate)?;
    prove_tensors(wd, s, params, &inputs, binding, device, phase)
}

/// Proves the model on already quantized inputs (e.g. decoded from a market job's input
/// instances); `phase` as in [`prove_with`] (after "witness").
pub fn prove_tensors(wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>, inputs: &[Tensor], binding: Fr, device: Device, phase: &dyn Fn(&str)) -> Result<Proved> {
    let (pk, header) = load_pk(wd, s, params)?;
    let start = Instant::now();
    let outs = exec::outputs(&s.graph, inputs)?;
    let mut ctx = lay_out(&s.graph, inputs, s.shape)?;
    ctx.binding = binding;
    let instances = public_values(&ctx);
    let circuit = ModelCircuit { ctx };
    phase("prove");
    let proof = zkinfer_prover::prove::prove_owned(device, params, &pk, circuit, &instances, rand::rngs::OsRng)?;
    let secs = start.elapsed().as_secs_f64();
    let file = ProofFile::new(&header.model_id.0, header.k, &s.graph, binding, inputs, &outs, &proof, secs)?;
    Ok(Proved { file, private: PrivateValues::new(&header.model_id.0, &s.graph, inputs, &outs) })
}

/// Verifies a proof file natively. Errors for files that do not belong together (a key that
/// does not belong to the settings, a proof for another model); a proof that fails
/// verification is an `Invalid` verdict.
pub fn verify(wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>, p: &ProofFile) -> Result<Verdict> {
    if !p.shards.is_empty() {
        bail!("the proof is a sharded proof ({} shard proofs), but {} holds a single circuit", p.shards.len(), wd.0.display());
    }
    let (vk, header) = load_vk(wd, s, params)?;
    check_model(wd, &header.model_id, p)?;
    p.validate()?;
    p.check_against(&s.graph)?;
    let (instances, proof) = (p.instances_fr()?, p.proof_bytes()?);
    Ok(zkinfer_prover::verify::verify_values(params, &vk, s.shape.public_column, &instances, &proof))
}

/// A valid proof of a model with witness weights says only that SOME weights in the declared
/// ranges computed the output, unless the weights' public instances are the expected ones:
/// the weights recorded at compile time (settings' `weights_hash`), or, for hashed weights,
/// every weight tensor's digest given in `expect` (`NAME=0xDIGEST`, checked by the caller).
/// Private weights are pinned by nothing: refused unless `any_weights`, and even then the
/// others are checked. Returns what pinned the weights (`None` for fixed weights), or an error
/// saying why the proof does not show the model's weights.
pub fn check_weights(s: &Settings, p: &ProofFile, expect: &[String], any_weights: bool) -> Result<Option<String>> {
    use zkinfer_circuits::ir::Visibility;
    let g = &s.graph;
    if g.params.is_empty() {
        return Ok(None);
    }
    let private = g.params.iter().any(|w| w.visibility == Visibility::Private);
    if private && !any_weights {
        bail!("the model's weights are private witnesses: this proof shows only that some weights in the declared ranges computed the output, not which; compile with --weight-visibility hashed to prove the model's weights, or pass --any-weights to accept that");
    }
    let note = if private { " (private weights accepted with --any-weights: the proof does not say which)" } else { "" };
    let pinned: Vec<_> = g.params.iter().filter(|w| w.visibility != Visibility::Private).collect();
    if pinned.is_empty() {
        return Ok(Some(format!("private{note}")));
    }
    let named = |n: &str| expect.iter().any(|e| e.split_once('=').is_some_and(|(k, _)| k == n));
    if pinned.iter().all(|w| w.visibility == Visibility::Hashed && named(&w.name)) {
        return Ok(Some(format!("the digests given with --expect{note}")));
    }
    let inst = p.instances_fr()?;
    let range = zkinfer_circuits::public::param_instance_range(g);
    let words = inst.get(range).context("the proof has too few public instances for the model's weights")?;
    let got = format!("0x{}", hex::encode(crate::files::words_hash(words)));
    match &s.weights_hash {
        Some(want) if want.eq_ignore_ascii_case(&got) => Ok(Some(format!("the ones recorded at compile time ({want}){note}"))),
        Some(want) => bail!("the proof was made with other weights (instances hash {got}) than the ones recorded at compile time ({want}); give each weight tensor's expected digest with --expect NAME=0xDIGEST to accept other published weights"),
        None => bail!("the settings record no weights for this model: give each weight tensor's expected digest with --expect NAME=0xDIGEST"),
    }
}

/// Result of the EVM step.
pub struct EvmReport {
    pub sol_bytes: usize,
    /// Runtime code of the verifier's largest contract (what EIP-170 limits).
    pub deployed_size: usize,
    /// Runtime code of all its contracts together.
    pub total_size: usize,
    /// Creation bytecode (of the head when the verifier is split).
    pub bytecode: Vec<u8>,
    /// Creation bytecode of each part, installed through the head after it is deployed
    /// (empty when the verifier fits one contract).
    pub parts: Vec<Vec<u8>>,
    pub outcome: Option<evm::EvmOutcome>,
}

/// The JSON a compiled verifier is kept as (DIR/verifier.json, DIR/aggregate/verifier.json),
/// beside `extra`: creation and runtime code of the head, then of each part.
fn verifier_json(code: &evm::VerifierCode, mut extra: serde_json::Value) -> serde_json::Value {
    let hex0x = |b: &[u8]| format!("0x{}", hex::encode(b));
    extra["solc"] = code.head.solc_version.clone().into();
    extra["bytecode"] = hex0x(&code.head.bytecode).into();
    extra["deployed_bytecode"] = hex0x(&code.head.deployed_bytecode).into();
    extra["contracts"] = code.contracts().into();
    extra["parts"] = code.parts.iter().map(|p| serde_json::json!({"bytecode": hex0x(&p.bytecode), "deployed_size": p.deployed_bytecode.len()})).collect::<Vec<_>>().into();
    extra
}

/// The creation codes of a verifier's parts from [`verifier_json`] (empty for one contract).
pub fn parts_of(v: &serde_json::Value, file: &Path) -> Result<Vec<Vec<u8>>> {
    let Some(parts) = v.get("parts") else { return Ok(vec![]) };
    let parts = parts.as_array().with_context(|| format!("{}: `parts` is not a list", file.display()))?;
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let code = hex::decode(p["bytecode"].as_str().unwrap_or_default().trim_start_matches("0x")).with_context(|| format!("{}: part {} bytecode is not hex", file.display(), i + 1))?;
            if code.is_empty() {
                bail!("{}: part {} has no bytecode", file.display(), i + 1);
            }
            Ok(code)
        })
        .collect()
}

/// `parts` as slices, for [`evm::evm_verify_parts`].
pub fn part_slices(parts: &[Vec<u8>]) -> Vec<&[u8]> {
    parts.iter().map(Vec::as_slice).collect()
}

/// Generates the Solidity verifier, compiles it with the pinned solcjs, and (given a proof)
/// deploys it in an in-process EVM (revm) and calls it.
pub fn evm_verifier(wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>, proof: Option<&ProofFile>) -> Result<EvmReport> {
    let (vk, header) = load_vk(wd, s, params)?;
    let sol = if s.shape.public_column { evm::gen_sol_column(params, &vk, s.graph.num_instances() - 1)? } else { evm::gen_sol(params, &vk, s.graph.num_instances())? };
    crate::files::write_atomic(&wd.sol(), sol.as_bytes())?;
    let compiled = evm::compile_verifier(&sol)?;
    crate::files::write_json(&wd.verifier(), &verifier_json(&compiled, serde_json::json!({"model_id": header.model_id.hex()})))?;
    crate::files::write_json(&wd.instance_layout(), &serde_json::json!({
        "model_id": header.model_id.hex(),
        "num_instances": s.graph.num_instances(),
        "binding": zkinfer_circuits::public::BINDING,
        "tensors": zkinfer_circuits::public::instance_layout(&s.graph),
    }))?;
    let outcome = match proof {
        Some(p) => {
            check_model(wd, &header.model_id, p)?;
            p.validate()?;
            p.check_against(&s.graph)?;
            Some(evm::evm_verify_code(&compiled, &p.instances_fr()?, &p.proof_bytes()?)?)
        }
        None => None,
    };
    Ok(EvmReport {
        sol_bytes: sol.len(),
        deployed_size: compiled.largest_runtime(),
        total_size: compiled.total_runtime(),
        bytecode: compiled.head.bytecode.clone(),
        parts: compiled.parts.iter().map(|p| p.bytecode.clone()).collect(),
        outcome,
    })
}

/// A compiled aggregation verifier.
pub struct AggregationVerifier {
    /// Creation code (of the head when the verifier is split).
    pub bytecode: Vec<u8>,
    /// Runtime code of the head (what a registry pins by its keccak256).
    pub deployed_bytecode: Vec<u8>,
    /// Creation code of each part (empty when the verifier fits one contract).
    pub parts: Vec<Vec<u8>>,
    /// Runtime code of the largest contract (what EIP-170 limits).
    pub largest_runtime: usize,
}

/// The Solidity verifier of the aggregation key `vk` (`agg_dir`/Verifier.sol), compiled with
/// the pinned solcjs. Kept in `agg_dir`/verifier.json under the key's sha256 and the instance
/// count, and compiled again when either differs.
pub fn aggregation_verifier(agg_dir: &Path, params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, num_instances: usize) -> Result<AggregationVerifier> {
    let vk_hash = hex::encode(zkinfer_prover::keys::vk_hash(vk));
    let cache = agg_dir.join("verifier.json");
    let hex_field = |v: &serde_json::Value, f: &str| hex::decode(v[f].as_str().unwrap_or_default().trim_start_matches("0x")).ok().filter(|b| !b.is_empty());
    if let Ok(v) = crate::files::read_json::<serde_json::Value>(&cache) {
        if v["aggregation_vk_hash"].as_str() == Some(vk_hash.as_str()) && v["num_instances"].as_u64() == Some(num_instances as u64) {
            if let (Some(bytecode), Some(deployed_bytecode), Ok(parts)) = (hex_field(&v, "bytecode"), hex_field(&v, "deployed_bytecode"), parts_of(&v, &cache)) {
                let largest_runtime = v["parts"].as_array().into_iter().flatten().filter_map(|p| p["deployed_size"].as_u64()).map(|n| n as usize).fold(deployed_bytecode.len(), usize::max);
                return Ok(AggregationVerifier { bytecode, deployed_bytecode, parts, largest_runtime });
            }
        }
    }
    let sol = zkinfer_prover::aggregate::gen_sol(params, vk, num_instances)?;
    crate::files::write_atomic(&agg_dir.join("Verifier.sol"), sol.as_bytes())?;
    let compiled = evm::compile_verifier(&sol)?;
    crate::files::write_json(&cache, &verifier_json(&compiled, serde_json::json!({"aggregation_vk_hash": vk_hash, "num_instances": num_instances})))?;
    Ok(AggregationVerifier {
        largest_runtime: compiled.largest_runtime(),
        parts: compiled.parts.iter().map(|p| p.bytecode.clone()).collect(),
        bytecode: compiled.head.bytecode,
        deployed_bytecode: compiled.head.deployed_bytecode,
    })
}

/// Verifies `proof` in the in-process EVM with the verifier [`evm_verifier`] compiled before
/// (DIR/verifier.json, which must be for DIR's verifying key): no Solidity generation and no
/// solc, e.g. on a machine without Node.js.
pub fn evm_verify_compiled(wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>, proof: &ProofFile) -> Result<evm::EvmOutcome> {
    let id = load_vk(wd, s, params)?.1.model_id;
    let v: serde_json::Value = crate::files::read_json(&wd.verifier())?;
    if v["model_id"].as_str() != Some(id.hex().as_str()) {
        bail!("{} was not compiled for {}'s verifying key: run `zkinfer evm-verifier` again", wd.verifier().display(), wd.vk().display());
    }
    let code = hex::decode(v["bytecode"].as_str().unwrap_or_default().trim_start_matches("0x")).with_context(|| format!("{}: bytecode is not hex", wd.verifier().display()))?;
    let parts = parts_of(&v, &wd.verifier())?;
    check_model(wd, &id, proof)?;
    proof.validate()?;
    proof.check_against(&s.graph)?;
    Ok(evm::evm_verify_parts(&code, &part_slices(&parts), &proof.instances_fr()?, &proof.proof_bytes()?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(fits: bool, prove_seconds: f64, verify_gas: u64) -> Candidate {
        Candidate { fits, prove_seconds, verify_gas }
    }

    /// `PAIRS_MIN_K` is where the pair table first fits: pairs never raise `k`.
    #[test]
    fn pairs_min_k_is_where_the_pair_table_fits() {
        assert_eq!(PAIRS_MIN_K, sizing::k_for_rows(range_rows(true)));
        assert!(sizing::k_for_rows(range_rows(false)) < PAIRS_MIN_K);
    }

    #[test]
    fn objectives_pick_by_time_gas_or_both() {
        // a small model: every shape proves within a second of the fastest
        let small = [c(true, 0.30, 527_000), c(true, 0.36, 492_000), c(true, 0.25, 600_000)];
        assert_eq!(pick(&small, Objective::Prove), Some(2));
        assert_eq!(pick(&small, Objective::Gas), Some(1));
        assert_eq!(pick(&small, Objective::Balanced), Some(1));
        // a large one: the cheapest verifier is 40% slower to prove, over the slack; the next
        // 20% slower, within it
        let large = [c(true, 100.0, 640_000), c(true, 140.0, 500_000), c(true, 120.0, 600_000)];
        assert_eq!(pick(&large, Objective::Balanced), Some(2));
        assert_eq!(pick(&large, Objective::Prove), Some(0));
        assert_eq!(pick(&large, Objective::Gas), Some(1));
        // a verifier over EIP-170 loses to any that fits, whatever the objective
        let split = [c(false, 0.2, 400_000), c(true, 0.3, 450_000)];
        for o in [Objective::Balanced, Objective::Prove, Objective::Gas] {
            assert_eq!(pick(&split, o), Some(1), "{o:?}");
        }
        // none fits: the objective decides among all
        let none = [c(false, 0.2, 500_000), c(false, 0.3, 450_000)];
        assert_eq!(pick(&none, Objective::Gas), Some(1));
        assert_eq!(pick(&none, Objective::Prove), Some(0));
        // equal gas: the faster; nothing to pick from: none
        let tie = [c(true, 0.5, 450_000), c(true, 0.4, 450_000)];
        assert_eq!(pick(&tie, Objective::Balanced), Some(1));
        assert_eq!(pick(&[], Objective::Balanced), None);
    }

    #[test]
    fn balanced_compile_verifies_cheaper_than_the_fastest_shape() {
        // a bundled logistic regression: 4 range lookups per row prove fastest (k 9), one
        // lookup column (k 11) verifies for about 100k gas less and proves a fraction of a
        // second slower
        let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/zoo/skl_logreg_breast_cancer/model.onnx");
        let fast = compile(&model, ImportOptions::default(), None, Objective::Prove).expect("compile");
        let bal = compile(&model, ImportOptions::default(), None, Objective::Balanced).expect("compile");
        let (f, b) = (fast.cost.expect("cost"), bal.cost.expect("cost"));
        assert!(b.verify_gas < f.verify_gas && b.prove_seconds > f.prove_seconds, "{f:?} {b:?}");
        assert!(b.prove_seconds <= f.prove_seconds + PROVE_SLACK_S.max(PROVE_SLACK * f.prove_seconds), "{f:?} {b:?}");
        // what the cost model says is what the settings hold: the picked shape, laid out again
        let again = compile(&model, ImportOptions::default(), Some(bal.shape), Objective::Prove).expect("compile");
        assert_eq!((again.k, again.rows, again.shape), (bal.k, bal.rows, bal.shape));
    }
}
