use std::path::PathBuf;

use anyhow::Result;
use zkinfer_circuits::layout::ctx::Shape;
use zkinfer_circuits::ir::{Visibility, WeightVisibility};
use zkinfer_circuits::onnx::{ImportOptions, VisibilityOptions};

use crate::files::Workdir;
use crate::pipeline;

#[derive(clap::Args)]
pub struct Args {
    /// The ONNX model.
    model: PathBuf,
    /// Output directory.
    #[arg(short, long)]
    out: PathBuf,
    /// Fixed-point scale bits of float inputs: a value x is the integer round(x·2^bits)
    /// (float models only).
    #[arg(long, default_value_t = ImportOptions::default().input_scale_bits)]
    input_scale_bits: u32,
    /// Fixed-point scale bits of float weights and biases (float models only).
    #[arg(long, default_value_t = ImportOptions::default().param_scale_bits)]
    param_scale_bits: u32,
    /// Fixed-point scale bits of float activations, the values between nodes (float models
    /// only).
    #[arg(long, default_value_t = ImportOptions::default().act_scale_bits)]
    act_scale_bits: u32,
    /// Float activations (and inputs) saturate at ±2^(act_bits-1) steps: the range every
    /// fixed-point tensor is checked against (float models only).
    #[arg(long, default_value_t = ImportOptions::default().act_bits)]
    act_bits: u32,
    /// Largest grid of a tabulated nonlinear function (Sigmoid, Tanh, Exp, ...), as a power
    /// of two, at most 16 (default 12): finer is more accurate and needs more rows.
    #[arg(long)]
    table_bits: Option<u32>,
    /// Always tabulate nonlinear functions point by point. By default a smooth function
    /// interpolates linearly between the points of a coarse table where that needs fewer
    /// rows at equal or better accuracy.
    #[arg(long)]
    no_interpolate: bool,
    /// Advice columns of the multiply-accumulate gate (default: chosen from the model size).
    #[arg(long, requires = "lookup_width")]
    width: Option<usize>,
    /// How many of them carry range lookups.
    #[arg(long, requires = "width")]
    lookup_width: Option<usize>,
    /// With --width: check the range lookups' limbs two columns at a time, against a table
    /// of every pair of limbs (half the lookup arguments; the table needs k >= 17). Without
    /// --width, compile tries pairs by itself for circuits of 2^17 rows or more
    #[arg(long, requires = "width")]
    pair_lookups: bool,
    /// What the chosen circuit shape optimises (without --width): balanced (the least
    /// verification gas among shapes predicted to prove within 2 s or 25% of the fastest),
    /// prove (the fastest proof) or gas (the cheapest EVM verification). Default: balanced,
    /// or prove with --max-k/--shards (a sharded model is verified through its aggregated
    /// proof, whose gas does not depend on the shards' shape).
    #[arg(long, conflicts_with = "width")]
    optimize: Option<pipeline::Objective>,
    /// Where proofs keep the public words (the packed public inputs and outputs): auto (in
    /// one committed column when the cost model predicts cheaper EVM verification: models
    /// with more than about 70 public words), always, or never (one public instance each).
    /// With the column the verifier takes the same calldata but reads three instances (the
    /// binding, a point c = keccak256(words, the column's commitment) and the words'
    /// polynomial at c) and costs about 580 gas a word instead of 860 (calldata included), for
    /// one more advice column. Not with --max-k/--shards.
    #[arg(long, default_value = "auto")]
    public_column: pipeline::PublicColumn,
    /// A representative input ({"input_data": [[...]]}): where static bounds cannot size a
    /// range (a divisor whose range includes 0, a function over a range too wide for a
    /// table), it is observed on this sample, as `calibrate` does. Values beyond the observed
    /// range are then clamped (function tables: plus a 10% margin; divisors: half to twice
    /// it), in the circuit and the reference executor alike.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Cut the model into shards no larger than 2^K rows each: consecutive runs of nodes cut
    /// at tensor boundaries, balanced by predicted prove time (the plan is printed and written
    /// to OUT/shards.json). With more than one shard, each is its own circuit
    /// (OUT/shards/<i>/settings.json), linked to the next by salted digests of the tensors
    /// they hand on; setup, prove and verify then work shard by shard. OUT/settings.json
    /// stays the single circuit's. Default: 21 (a model whose single circuit needs more than
    /// 2^21 rows is cut into shards of at most 2^21 rows, each proved within about 12 GB; give
    /// --max-k 24 to keep one circuit up to 2^24 rows).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(4..=28))]
    max_k: Option<u32>,
    /// Plan exactly N shards (with --max-k: each within it).
    #[arg(long, value_name = "N")]
    shards: Option<usize>,
    #[command(flatten)]
    vis: VisibilityArgs,
}

/// What proofs reveal of the model's inputs and outputs.
#[derive(clap::Args, Clone, Default)]
pub struct VisibilityArgs {
    /// Visibility of every input: public (values are public instances), hashed (only their
    /// Poseidon digest is public) or private (nothing is public).
    #[arg(long, default_value = "public")]
    pub input_visibility: Visibility,
    /// Visibility of every output (public, hashed or private).
    #[arg(long, default_value = "public")]
    pub output_visibility: Visibility,
    /// Visibility of one input or output by name, overriding the two above: NAME=VIS
    /// (repeatable).
    #[arg(long = "visibility", value_name = "NAME=VIS", value_parser = parse_named)]
    pub tensors: Vec<(String, Visibility)>,
    /// Where the weights and biases of Gemm/MatMul/Conv live: fixed (in the verifying key,
    /// default), or witnesses that are public, hashed (only their Poseidon digest is public:
    /// one key serves every set of weights) or private. Witness weights go to
    /// OUT/weights.json, which proving needs and verifying does not.
    #[arg(long, default_value = "fixed")]
    pub weight_visibility: WeightVisibility,
    /// Signed bits of witness weights, part of the circuit (default 8 for quantized models,
    /// param_scale_bits + 2 for float ones, widened per tensor when a weight needs more; pin
    /// it so that other weights of the architecture share the keys).
    #[arg(long)]
    pub weight_bits: Option<u32>,
}

impl VisibilityArgs {
    pub fn options(&self) -> VisibilityOptions {
        VisibilityOptions { inputs: self.input_visibility, outputs: self.output_visibility, tensors: self.tensors.iter().cloned().collect(), weights: self.weight_visibility }
    }
}

fn parse_named(s: &str) -> std::result::Result<(String, Visibility), String> {
    let (name, vis) = s.rsplit_once('=').ok_or_else(|| format!("`{s}`: expected NAME=VIS, e.g. input=hashed"))?;
    Ok((name.to_string(), vis.parse()?))
}

pub fn run(a: Args) -> Result<serde_json::Value> {
    let opts = ImportOptions { input_scale_bits: a.input_scale_bits, param_scale_bits: a.param_scale_bits, act_scale_bits: a.act_scale_bits, act_bits: a.act_bits, visibility: a.vis.options(), weight_bits: a.vis.weight_bits, table_bits: a.table_bits, interpolate: !a.no_interpolate, ..ImportOptions::default() };
    let shape = match (a.width, a.lookup_width) {
        (Some(width), Some(lookup_width)) => Some(Shape { pairs: a.pair_lookups, ..Shape::new(width, lookup_width) }),
        _ => None,
    };
    if let Some(t) = a.table_bits.filter(|t| !(4..=16).contains(t)) {
        anyhow::bail!("--table-bits {t}: must be between 4 and 16");
    }
    if let Some(sh) = shape {
        zkinfer_prover::sizing::check_shape(sh)?;
    }
    let shape = shape.map(|sh| Shape { public_column: a.public_column == pipeline::PublicColumn::Always, ..sh });
    if let Some(k) = a.max_k.filter(|&k| a.pair_lookups && k < pipeline::PAIRS_MIN_K) {
        anyhow::bail!("--pair-lookups with --max-k {k}: the pair table needs shards of 2^{} rows or more", pipeline::PAIRS_MIN_K);
    }
    if a.public_column == pipeline::PublicColumn::Always && (a.max_k.is_some() || a.shards.is_some()) {
        anyhow::bail!("--public-column always: a sharded model's proof is an aggregation, whose public values are instances; give --public-column always without --max-k/--shards");
    }
    compile_into_with(&a.model, Workdir(a.out), opts, shape, a.optimize, a.public_column, a.input.as_deref(), Sharding { max_k: a.max_k, shards: a.shards })
}

/// `--max-k` when neither it nor `--shards` is given: a model whose single circuit needs more
/// than 2^21 rows is cut into shards of at most 2^21 rows. One shard's proof then stays within
/// about 12 GB at the widest shape (the cost model's prediction), and the aggregation circuit
/// that joins the shards has the same size. A model within it keeps its single circuit.
pub const DEFAULT_MAX_K: u32 = 21;

/// Whether and how to cut a model into shards (`--max-k`, `--shards`; both `None`: one
/// circuit up to 2^[`DEFAULT_MAX_K`] rows, else shards of that size, and any earlier sharding
/// of the directory is removed when one circuit is kept).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sharding {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_k: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<usize>,
}

impl Sharding {
    pub fn is_on(&self) -> bool {
        self.max_k.is_some() || self.shards.is_some()
    }

    /// The values `compile` accepts (as its command line does).
    pub fn check(&self) -> Result<()> {
        if let Some(k) = self.max_k.filter(|k| !(4..=28).contains(k)) {
            anyhow::bail!("max_k {k}: must be between 4 and 28");
        }
        if let Some(n) = self.shards.filter(|&n| n == 0 || n > 1024) {
            anyhow::bail!("shards {n}: must be between 1 and 1024");
        }
        Ok(())
    }
}

/// `zkinfer compile` without its command line (the gRPC server compiles through it too):
/// imports `model`, lays its circuit out, writes `wd`'s settings (and, with `sharding`, the
/// shard plan and every shard's settings); returns the command's JSON report.
pub fn compile_into(model: &std::path::Path, wd: Workdir, opts: ImportOptions, shape: Option<Shape>, optimize: Option<pipeline::Objective>, input: Option<&std::path::Path>, sharding: Sharding) -> Result<serde_json::Value> {
    compile_into_with(model, wd, opts, shape, optimize, pipeline::PublicColumn::Auto, input, sharding)
}

/// [`compile_into`] with the public words kept as `column` says (for the single circuit;
/// shards never have the column).
#[allow(clippy::too_many_arguments)]
pub fn compile_into_with(model: &std::path::Path, wd: Workdir, opts: ImportOptions, shape: Option<Shape>, optimize: Option<pipeline::Objective>, column: pipeline::PublicColumn, input: Option<&std::path::Path>, sharding: Sharding) -> Result<serde_json::Value> {
    sharding.check()?;
    let sample = match input {
        Some(p) => Some((p, crate::files::read_inputs(p)?)),
        None => None,
    };
    let Sharding { max_k, shards } = sharding;
    let sharding = sharding.is_on();
    let objective = optimize.unwrap_or(if sharding { pipeline::Objective::Prove } else { pipeline::Objective::Balanced });
    // (a model over one circuit's 2^24 rows: rows counted node by node, for the shard plan)
    // (without --max-k/--shards: one circuit up to the default size, else shards of it)
    let by_default = Sharding { max_k: Some(DEFAULT_MAX_K), shards: None };
    let ((mut s, sized), counted) = match pipeline::compile_sized(model, opts.clone(), shape, objective, if sharding { pipeline::PublicColumn::Never } else { column }, sample.as_ref().map(|(p, d)| (*p, d.as_slice()))) {
        Ok(r) if !sharding && r.0.k > DEFAULT_MAX_K => {
            let k = r.0.k;
            drop(r);
            say!("the circuit needs 2^{k} rows, more than 2^{DEFAULT_MAX_K} (the default --max-k): cutting it into shards of at most 2^{DEFAULT_MAX_K} rows (--max-k {k} keeps one circuit)");
            return compile_into_with(model, wd, opts, shape, optimize, pipeline::PublicColumn::Never, input, by_default);
        }
        // shards smaller than the pair table: the chosen shape without pairs
        Ok(r) if sharding && r.0.shape.pairs && max_k.is_some_and(|k| k < pipeline::PAIRS_MIN_K) => {
            let unpaired = Shape::new(r.0.shape.width, r.0.shape.lookup_width);
            drop(r);
            (pipeline::compile_sized(model, opts.clone(), Some(unpaired), objective, pipeline::PublicColumn::Never, sample.as_ref().map(|(p, d)| (*p, d.as_slice())))?, None)
        }
        Ok(r) => (r, None),
        Err(e) if pipeline::is_too_large(&e) && sharding => {
            say!("{e:#}: counting its rows node by node to cut it into shards");
            let (s, n) = pipeline::compile_counted(model, opts, shape, max_k.is_none_or(|k| k >= pipeline::PAIRS_MIN_K))?;
            ((s, Vec::new()), Some(n))
        }
        Err(e) if pipeline::is_too_large(&e) => {
            say!("{e:#}: cutting it into shards of at most 2^{DEFAULT_MAX_K} rows (the default --max-k)");
            return compile_into_with(model, wd, opts, shape, optimize, pipeline::PublicColumn::Never, input, by_default);
        }
        Err(e) => return Err(e),
    };
    for note in &s.graph.notes {
        say!("note: {note}");
    }
    if !sized.is_empty() {
        say!("sized {} range(s) from {} (static bounds could not): {}; values beyond them are clamped (function tables: the observed range plus 10%; divisors: half to twice it)", sized.len(), input.map(|p| p.display().to_string()).unwrap_or_default(), sized.join(", "));
    }
    wd.write_settings(&s)?;
    for (name, vis) in s.graph.inputs.iter().map(|i| (&i.name, i.visibility)).chain(s.graph.outputs.iter().map(|o| (&o.name, o.visibility))) {
        if vis != Visibility::Public {
            say!("{name}: {vis}");
        }
    }
    if let Some(p) = s.graph.params.first() {
        let n: usize = s.graph.params.iter().map(|p| p.shape.iter().product::<usize>()).sum();
        let info = s.graph.info(p.value);
        say!("weights: {} ({} tensors, {n} values, first in [{}, {}]) -> {}", p.visibility, s.graph.params.len(), info.lo, info.hi, wd.weights().display());
        if s.options.weight_bits.is_none() {
            say!("(weight ranges chosen by default; give --weight-bits to pin them, so that other weights of this architecture share the keys)");
        }
    }
    say!(
        "compiled {}: {} nodes, {} rows, k = {}, {} columns ({} with lookups{}), {} public values{} -> {}",
        s.model,
        s.graph.nodes.len(),
        s.rows,
        s.k,
        s.shape.width,
        s.shape.lookup_width,
        if s.shape.pairs { ", checked in pairs" } else { "" },
        s.num_instances,
        if s.shape.public_column { " (their words in a committed column)" } else { "" },
        wd.settings().display()
    );
    if let Some(c) = &s.cost {
        say!(
            "cost model: {} MSMs of 2^{} points, {} polynomials on the 2^{} extended domain: predicted prove {:.2} s (2-core reference machine), verifier ~{} bytes, EVM verification ~{}k gas (shape chosen for: {})",
            c.msms,
            s.k,
            c.ext_polys,
            s.k + c.counts.ext_log(),
            c.prove_seconds,
            c.verifier_bytes,
            c.verify_gas / 1000,
            if shape.is_some() { "given".to_string() } else { format!("{objective:?}").to_lowercase() }
        );
    }
    let ctx = match &counted {
        None => Some(zkinfer_circuits::layout::lay_out(&s.graph, &pipeline::reference_inputs(&s.graph), s.shape)?),
        Some(_) => None,
    };
    let node_rows = match (&ctx, &counted) {
        (Some(c), _) => c.node_rows.clone(),
        (None, Some(n)) => n.node_rows.clone(),
        (None, None) => unreachable!("laid out or counted"),
    };
    say!("{:<4} {:<10} {:>8} {:>8}  {}", "node", "op", "rows", "MACs", "output");
    for (i, (n, rows)) in s.graph.nodes.iter().zip(&node_rows).enumerate() {
        let macs = n.op.macs(&s.graph);
        let out = s.graph.info(n.output);
        say!("{i:<4} {:<10} {rows:>8} {macs:>8}  {} {:?} in [{}, {}]", n.op.name(), out.name, out.shape, out.lo, out.hi);
    }
    let macs: usize = s.graph.nodes.iter().map(|n| n.op.macs(&s.graph)).sum();
    let mac_rows: usize = s.graph.nodes.iter().zip(&node_rows).filter(|(n, _)| n.op.macs(&s.graph) > 0).map(|(_, r)| r).sum();
    if macs > 0 {
        say!("{macs} MACs in {mac_rows} rows: {:.3} rows ({:.2} advice cells) per MAC", mac_rows as f64 / macs as f64, mac_rows as f64 * (s.shape.width + 1) as f64 / macs as f64);
    }
    let mut r = super::settings_report(&wd, &s);
    if sharding {
        // link digests need the Poseidon gadget's columns
        let shard_shape = Shape { width: s.shape.width.max(zkinfer_circuits::layout::poseidon::MIN_WIDTH), ..s.shape };
        let mut rc = match (ctx, counted) {
            (Some(ctx), _) => {
                let c = zkinfer_circuits::layout::circuit::ModelCircuit { ctx: if shard_shape == s.shape { ctx } else { zkinfer_circuits::layout::lay_out(&s.graph, &pipeline::reference_inputs(&s.graph), shard_shape)? } };
                zkinfer_circuits::layout::RowCount { shape: shard_shape, node_rows: c.ctx.node_rows.clone(), total: c.rows(), table_rows: c.table_rows() }
            }
            // (counted in a shape at least as wide as the links need)
            (None, Some(n)) => n,
            (None, None) => unreachable!("laid out or counted"),
        };
        // nodes too large for a shard of their own: cut inside them
        if let Some(max_k) = max_k {
            if crate::sharding::split_oversized(&mut s, &mut rc, max_k)? {
                wd.write_settings(&s)?;
                say!("with split nodes: {} nodes, {} rows (single circuit: k = {})", s.graph.nodes.len(), s.rows, s.k);
                r = super::settings_report(&wd, &s);
            }
        }
        let plan = zkinfer_prover::shard::plan(&s.graph, rc.shape, &rc.node_rows, rc.total, rc.table_rows, max_k, shards)?;
        print_plan(&s.graph, &plan);
        crate::files::write_json(&wd.shard_plan(), &plan)?;
        if plan.shards.len() > 1 {
            let shards = crate::sharding::write(&wd, &s, &plan)?;
            for (i, ss) in shards.iter().enumerate() {
                say!("shard {i}: {} rows, k = {}, {} public instances ({} links in, {} out) -> {}", ss.rows, ss.k, ss.num_instances, ss.graph.inputs.iter().filter(|t| t.visibility == Visibility::Linked).count(), ss.graph.outputs.iter().filter(|t| t.visibility == Visibility::Linked).count(), wd.shard(i).settings().display());
            }
            say!("setup, prove and verify now work shard by shard ({} keeps the single circuit's settings, k = {})", wd.settings().display(), s.k);
            let (levels, root) = zkinfer_prover::aggregate_shards::tree_sizes(shards.len(), zkinfer_prover::aggregate_shards::SHARD_FAN_IN, zkinfer_prover::aggregate_shards::GROUP_FAN_IN);
            // (a group of one is passed on to the next level, not aggregated)
            let circuits = levels.iter().map(|l| l.iter().filter(|&&n| n > 1).count()).sum::<usize>() + 1;
            let steps: Vec<String> = levels
                .iter()
                .enumerate()
                .map(|(l, g)| {
                    let what = if l == 0 { "shard" } else { "group" };
                    let agg: Vec<String> = g.iter().filter(|&&n| n > 1).map(|n| n.to_string()).collect();
                    let passed = g.iter().filter(|&&n| n == 1).count();
                    let mut s = format!("{} group{} of {} {what} proofs", agg.len(), if agg.len() == 1 { "" } else { "s" }, agg.join(", "));
                    if passed > 0 {
                        s += &format!(" ({passed} {what} {} passed on as it is)", if passed == 1 { "proof" } else { "proofs" });
                    }
                    s
                })
                .chain(std::iter::once(format!("the root over {root} {} proofs", if levels.is_empty() { "shard" } else { "group" })))
                .collect();
            say!("aggregation (`zkinfer aggregate`): {}; {circuits} aggregation circuit(s) of k {}", steps.join(", then "), crate::sharding::AGGREGATION_K);
            r["aggregation_tree"] = serde_json::json!({ "levels": levels, "root": root, "circuits": circuits });
            r["shards"] = shards.iter().map(|ss| serde_json::json!({"k": ss.k, "rows": ss.rows, "num_instances": ss.num_instances})).collect();
        } else {
            crate::sharding::remove_shards(&wd)?;
        }
        r["shard_plan"] = serde_json::to_value(&plan)?;
    } else {
        crate::sharding::remove(&wd)?;
    }
    r["macs"] = macs.into();
    r["ranges_sized_from_input"] = sized.into();
    Ok(r)
}

/// The shard plan as a table: nodes, rows, k, boundary values in and out, predicted time and
/// memory per shard.
fn print_plan(g: &zkinfer_circuits::ir::Graph, p: &zkinfer_prover::shard::ShardPlan) {
    let gb = |b: u64| b as f64 / (1u64 << 30) as f64;
    say!(
        "shard plan ({}): {} shard(s), predicted {:.1} s in all (single circuit: k = {}, {:.1} s, {:.1} GB)",
        p.max_k.map_or("forced count".to_string(), |k| format!("each within 2^{k} rows")),
        p.shards.len(),
        p.total_seconds(),
        p.single_k,
        p.single_seconds,
        gb(zkinfer_prover::shard::predicted_peak_bytes(p.shape, p.single_k))
    );
    say!("{:<5} {:<24} {:>9} {:>3} {:>10} {:>10} {:>9} {:>8}", "shard", "nodes", "rows", "k", "in values", "out values", "prove s", "peak GB");
    for (i, s) in p.shards.iter().enumerate() {
        let name = |n: usize| g.nodes.get(n).map(|x| x.op.name()).unwrap_or("?");
        let nodes = format!("{}..{} ({}..{})", s.first, s.end - 1, name(s.first), name(s.end - 1));
        say!("{i:<5} {nodes:<24} {:>9} {:>3} {:>10} {:>10} {:>9.1} {:>8.2}", s.rows, s.k, s.input_values, s.output_values, s.predicted_seconds, gb(s.predicted_peak_bytes));
    }
}
