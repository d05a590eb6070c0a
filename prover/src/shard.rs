//! Shard plans: where to cut a model whose circuit does not fit a target size into
//! consecutive shards (each its own circuit), at tensor boundaries.
//!
//! A shard is a run of consecutive graph nodes `[a, b)` (the graph is in topological order).
//! What crosses a cut are the *boundary tensors*: values produced before the cut (or model
//! inputs) that a later node uses, and model outputs produced before the last shard. Each is
//! hashed (Poseidon over its packed values, as hashed visibility does) at the end of the shard
//! that makes it and at the start of the shard that uses it, where its values are also
//! range-checked again; the digests link the shards. The planner predicts each shard's rows
//! from the single circuit's per-node rows plus that boundary work, its `k`, prove time (the
//! cost model, [`crate::cost`]) and peak memory, and picks the cut points by dynamic
//! programming: the fewest shards whose every `k` is within the target, balanced so that the
//! slowest shard is as fast as possible, then with the fewest boundary values.

use zkinfer_circuits::ir::{tensor::numel, Graph, ValueId};
use zkinfer_circuits::layout::ctx::{limbs_for, Shape};
use zkinfer_circuits::layout::poseidon;
use zkinfer_circuits::public::Packing;

use crate::cost::Counts;
use crate::error::{ProverError, Result};
use crate::sizing::k_for_rows;

/// One shard of a plan.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShardSpec {
    /// Graph nodes `first..end` (node indices).
    pub first: usize,
    pub end: usize,
    /// Predicted rows (model rows, boundary range checks and hashing, tables).
    pub rows: usize,
    pub k: u32,
    /// Tensors entering from earlier shards (value ids) and their number of values.
    pub inputs: Vec<ValueId>,
    pub input_values: usize,
    /// Tensors leaving for later shards (or model outputs made before the last shard).
    pub outputs: Vec<ValueId>,
    pub output_values: usize,
    pub predicted_seconds: f64,
    pub predicted_peak_bytes: u64,
}

/// A shard plan.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShardPlan {
    pub shape: Shape,
    /// The single circuit's k, rows and predicted prove time, for comparison.
    pub single_k: u32,
    pub single_rows: usize,
    pub single_seconds: f64,
    pub max_k: Option<u32>,
    pub shards: Vec<ShardSpec>,
}

impl ShardPlan {
    /// Predicted time to prove every shard one after the other.
    pub fn total_seconds(&self) -> f64 {
        self.shards.iter().map(|s| s.predicted_seconds).sum()
    }
}

/// Predicted peak memory of proving at `2^k` rows: every polynomial the prover keeps on the
/// 4x extended domain (advice, fixed, instance, three per lookup, the permutation's columns and
/// grand products), 32-byte field elements. Within 25% of the measured peaks at k 17-21
/// (docs/measurements.md).
pub fn predicted_peak_bytes(shape: Shape, k: u32) -> u64 {
    let c = Counts::new(shape, k);
    let polys = c.advice + c.fixed + c.instance + 3 * c.lookups + c.permutation_columns + c.permutation_chunks();
    (1u64 << k) * 32 * (1u64 << c.ext_log()) * polys as u64
}

fn seconds(shape: Shape, k: u32) -> f64 {
    Counts::new(shape, k).prove_seconds()
}

/// Rows to range-check and hash one boundary tensor where it enters a shard, and to hash it
/// where it leaves one.
fn boundary_rows(g: &Graph, v: ValueId, shape: Shape) -> (usize, usize) {
    let info = g.info(v);
    boundary_rows_of(numel(&info.shape), info.lo, info.hi, shape)
}

/// [`boundary_rows`] of every value of `g`, measured once per distinct size and range.
fn boundary_table(g: &Graph, shape: Shape) -> Vec<(usize, usize)> {
    let mut measured: std::collections::HashMap<(usize, i64, i64), (usize, usize)> = std::collections::HashMap::new();
    (0..g.values.len())
        .map(|v| {
            let info = g.info(v);
            *measured.entry((numel(&info.shape), info.lo, info.hi)).or_insert_with(|| boundary_rows(g, v, shape))
        })
        .collect()
}

/// [`boundary_rows`] of a tensor of `n` values in `[lo, hi]`: measured by laying out that
/// tensor alone as a linked input (its range checks, packing and digest) and as a linked
/// output, against the same without the link; the formula (range-check limbs, one row per
/// packed element, the digest's rows) only where a layout fails.
fn boundary_rows_of(n: usize, lo: i64, hi: i64, shape: Shape) -> (usize, usize) {
    use zkinfer_circuits::ir::{InputSpec, OutputSpec, Tensor, Visibility};
    let p = Packing::new(lo, hi);
    let hash = poseidon::rows_for(p.elems(n) + 1);
    let limbs = limbs_for(hi as i128 - lo as i128);
    let formula = ((n * limbs).div_ceil(shape.lookup_width.max(1)) + p.elems(n) + hash, p.elems(n) + hash);
    let rows = |input: Option<Visibility>, output: Option<Visibility>| -> Option<usize> {
        let mut g = Graph::default();
        let x = g.add_value("x", vec![n], lo, hi).ok()?;
        let mut inputs = Vec::new();
        if let Some(visibility) = input {
            g.inputs.push(InputSpec { name: "x".into(), value: x, shape: vec![n], scale: 1.0, zero_point: 0, lo, hi, saturates: false, visibility });
            inputs.push(Tensor::filled(vec![n], 0i64.clamp(lo, hi)));
        }
        if let Some(visibility) = output {
            g.outputs.push(OutputSpec { name: "x".into(), value: x, shape: vec![n], scale: 1.0, zero_point: 0, visibility });
        }
        let ctx = zkinfer_circuits::layout::lay_out(&g, &inputs, shape).ok()?;
        Some(ctx.rows.len() + ctx.hashes.iter().map(|h| poseidon::rows_for(h.cells.len())).sum::<usize>())
    };
    let measured = || -> Option<(usize, usize)> {
        let (none, linked_in) = (rows(None, None)?, rows(Some(Visibility::Linked), None)?);
        let (private, linked_out) = (rows(Some(Visibility::Private), None)?, rows(Some(Visibility::Private), Some(Visibility::Linked))?);
        Some((linked_in.saturating_sub(none), linked_out.saturating_sub(private)))
    };
    measured().unwrap_or(formula)
}

/// Plans shards for `g` laid out in `shape`, whose single circuit has `node_rows` per node and
/// `total_rows` in all (node rows plus the input checks, packing and tables; `min_rows` of
/// them the tables every shard needs). `max_k`: the largest k a shard may have; `shards`: the
/// exact number of shards (else the fewest that fit `max_k`).
pub fn plan(g: &Graph, shape: Shape, node_rows: &[usize], total_rows: usize, min_rows: usize, max_k: Option<u32>, shards: Option<usize>) -> Result<ShardPlan> {
    let n = g.nodes.len();
    let invalid = |why: String| ProverError::Invalid { what: "shard plan", why };
    if node_rows.len() != n {
        return Err(invalid(format!("{} node row counts for {n} nodes", node_rows.len())));
    }
    if n == 0 {
        return Err(invalid("the model has no nodes".into()));
    }
    if let Some(s) = shards {
        if s == 0 || s > n {
            return Err(invalid(format!("--shards {s}: must be between 1 and the model's {n} nodes")));
        }
    }
    let single_k = k_for_rows(total_rows);
    let extra = total_rows.saturating_sub(node_rows.iter().sum());
    // producer node of each value (None: a model input, parameter or constant), its last user,
    // and whether it is a model output
    let nv = g.values.len();
    let mut producer = vec![None; nv];
    for (i, node) in g.nodes.iter().enumerate() {
        producer[node.output] = Some(i);
    }
    let is_param: Vec<bool> = (0..nv).map(|v| g.params.iter().any(|p| p.value == v)).collect();
    let is_output: Vec<bool> = (0..nv).map(|v| g.outputs.iter().any(|o| o.value == v)).collect();
    let uses: Vec<Vec<ValueId>> = g.nodes.iter().map(|node| node.op.inputs()).collect();
    let mut last_use = vec![None::<usize>; nv];
    for (i, ins) in uses.iter().enumerate() {
        for &v in ins {
            last_use[v] = Some(last_use[v].map_or(i, |l| l.max(i)));
        }
    }
    let both = boundary_table(g, shape);
    let rows_in: Vec<usize> = both.iter().map(|b| b.0).collect();
    let rows_out: Vec<usize> = both.iter().map(|b| b.1).collect();
    let values_of = |v: ValueId| numel(&g.info(v).shape);
    let is_input: Vec<bool> = (0..nv).map(|v| g.inputs.iter().any(|i| i.value == v)).collect();
    // values whose last use is node i
    let mut dies_at: Vec<Vec<ValueId>> = vec![Vec::new(); n];
    for v in 0..nv {
        if let Some(l) = last_use[v] {
            dies_at[l].push(v);
        }
    }
    // a value made in [a, b) (model inputs count as made in the first shard) leaves it when it
    // is used at b or later, or is a model output and b < n
    let made_in = |v: ValueId, a: usize, b: usize| match producer[v] {
        Some(p) => a <= p && p < b,
        None => a == 0 && is_input[v],
    };
    let leaves = |v: ValueId, b: usize| last_use[v].is_some_and(|l| l >= b) || (is_output[v] && producer[v].is_some());

    // every segment [a, b): its predicted rows and boundary values, found by one sweep of b per a
    // (node rows only grow with b, so the sweep stops once they alone pass the target)
    let limit = max_k.map_or(usize::MAX, |m| 1usize << m.min(40));
    let mut seg_rows: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut seg_bnd: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut stamp = vec![usize::MAX; nv];
    for a in 0..n {
        let (mut node_sum, mut in_rows, mut in_vals) = (if a == 0 { extra } else { 0 }, 0usize, 0usize);
        let (mut out_rows, mut out_vals) = (0usize, 0usize);
        if a == 0 {
            // (state "no node yet": an input leaves if anything uses it; node 0's step below
            // drops the ones only node 0 uses)
            for i in &g.inputs {
                if leaves(i.value, 0) {
                    out_rows += rows_out[i.value];
                    out_vals += values_of(i.value);
                }
            }
        }
        for b in (a + 1)..=n {
            let i = b - 1;
            node_sum += node_rows[i];
            if a > 0 {
                for &v in &uses[i] {
                    let before = match producer[v] {
                        Some(p) => p < a,
                        None => is_input[v],
                    };
                    if before && !is_param[v] && stamp[v] != a {
                        stamp[v] = a;
                        in_rows += rows_in[v];
                        in_vals += values_of(v);
                    }
                }
            }
            // node i's output joins the outgoing set if something after i uses it
            let u = g.nodes[i].output;
            if leaves(u, b) {
                out_rows += rows_out[u];
                out_vals += values_of(u);
            }
            // values last used by node i stop leaving once node i is inside
            for &v in &dies_at[i] {
                if made_in(v, a, i) && v != u && !(is_output[v] && producer[v].is_some()) && leaves(v, i) {
                    out_rows -= rows_out[v];
                    out_vals -= values_of(v);
                }
            }
            let (orow, oval) = if b == n { (0, 0) } else { (out_rows, out_vals) };
            seg_rows[a].push((node_sum + in_rows + orow).max(min_rows));
            seg_bnd[a].push(in_vals + oval);
            if node_sum > limit {
                break;
            }
        }
    }
    let seg = |a: usize, b: usize| -> Option<(u32, usize, f64, usize)> {
        let rows = *seg_rows[a].get(b - a - 1)?;
        let k = k_for_rows(rows);
        if max_k.is_some_and(|m| k > m) {
            return None;
        }
        Some((k, rows, seconds(shape, k), seg_bnd[a][b - a - 1]))
    };

    // best[j][b]: (slowest shard seconds, boundary values) splitting nodes [0, b) into j shards;
    // layers are added until one reaches b = n (or the requested count)
    let inf = (f64::INFINITY, usize::MAX);
    let mut best = vec![vec![inf; n + 1]];
    best[0][0] = (0.0, 0);
    let mut from: Vec<Vec<usize>> = vec![vec![0; n + 1]];
    let want = shards.unwrap_or(n);
    let secs_of_k: Vec<f64> = (0..=40).map(|k| seconds(shape, k)).collect();
    for j in 1..=want {
        let mut layer = vec![inf; n + 1];
        let mut back = vec![0usize; n + 1];
        for a in (j - 1)..n {
            let prev = best[j - 1][a];
            if !prev.0.is_finite() {
                continue;
            }
            for (off, &rows) in seg_rows[a].iter().enumerate() {
                let b = a + 1 + off;
                let k = k_for_rows(rows);
                if max_k.is_some_and(|m| k > m) {
                    continue;
                }
                let cand = (prev.0.max(secs_of_k[k.min(40) as usize]), prev.1.saturating_add(seg_bnd[a][off]));
                let cur = layer[b];
                if cand.0 < cur.0 - 1e-9 || ((cand.0 - cur.0).abs() <= 1e-9 && cand.1 < cur.1) {
                    layer[b] = cand;
                    back[b] = a;
                }
            }
        }
        best.push(layer);
        from.push(back);
        let done = best[j][n].0.is_finite() && (shards.is_none() || j == want);
        if !done {
            continue;
        }
        let mut cuts = vec![n];
        let mut b = n;
        for jj in (1..=j).rev() {
            b = from[jj][b];
            cuts.push(b);
        }
        cuts.reverse();
        let mut specs = Vec::new();
        for w in cuts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let Some((k, rows, secs, _)) = seg(a, b) else { return Err(invalid("inconsistent plan".into())) };
            let (inputs, outputs) = boundary_sets(g, a, b, &producer, &last_use, &is_param, &is_output);
            specs.push(ShardSpec {
                first: a,
                end: b,
                rows,
                k,
                input_values: inputs.iter().map(|&v| values_of(v)).sum(),
                inputs,
                output_values: outputs.iter().map(|&v| values_of(v)).sum(),
                outputs,
                predicted_seconds: secs,
                predicted_peak_bytes: predicted_peak_bytes(shape, k),
            });
        }
        return Ok(ShardPlan { shape, single_k, single_rows: total_rows, single_seconds: seconds(shape, single_k), max_k, shards: specs });
    }
    // the largest node that cannot be a shard of its own
    let too_big = (0..n).filter(|&i| seg(i, i + 1).is_none()).max_by_key(|&i| node_rows[i]);
    let why = match too_big {
        Some(i) => format!(
            "node {i} ({}, output `{}`, {} rows with its boundary) does not fit 2^{} rows on its own, and shards are cut only between nodes",
            g.nodes[i].op.name(),
            g.info(g.nodes[i].output).name,
            seg_rows[i].first().copied().unwrap_or(node_rows[i]),
            max_k.unwrap_or(0)
        ),
        None => format!("no split into {want} shards has every shard within 2^{} rows", max_k.unwrap_or(0)),
    };
    Err(invalid(why))
}

/// The nodes too large to be a shard of their own within `2^max_k` rows (their rows, the
/// tensors they take in and hand on, the tables), each with the number of parts to split it
/// into ([`zkinfer_circuits::ir::split`]) so that a part, with the node's incoming tensors
/// whole, takes about half a shard (room for the planner to balance; the caller splits again
/// where a part still does not fit). Nodes of fewer than `2^max_k / 8` rows are left whole:
/// their boundary, not their rows, is what does not fit. Arguments as [`plan`]'s.
pub fn oversized(g: &Graph, shape: Shape, node_rows: &[usize], total_rows: usize, min_rows: usize, max_k: u32) -> Vec<(usize, usize)> {
    let n = g.nodes.len().min(node_rows.len());
    let nv = g.values.len();
    let mut producer = vec![None; nv];
    let mut last_use = vec![None::<usize>; nv];
    for (i, node) in g.nodes.iter().enumerate() {
        producer[node.output] = Some(i);
        for v in node.op.inputs() {
            last_use[v] = Some(last_use[v].map_or(i, |l: usize| l.max(i)));
        }
    }
    let is_param: Vec<bool> = (0..nv).map(|v| g.params.iter().any(|p| p.value == v)).collect();
    let is_output: Vec<bool> = (0..nv).map(|v| g.outputs.iter().any(|o| o.value == v)).collect();
    let extra = total_rows.saturating_sub(node_rows.iter().sum());
    let limit = 1usize << max_k.min(40);
    let table = boundary_table(g, shape);
    let mut out = Vec::new();
    for i in 0..n {
        let (ins, outs) = boundary_sets(g, i, i + 1, &producer, &last_use, &is_param, &is_output);
        let in_rows: usize = ins.iter().map(|&v| table[v].0).sum::<usize>() + if i == 0 { extra } else { 0 };
        let out_rows: usize = outs.iter().map(|&v| table[v].1).sum();
        // (a node of a few rows does not fit because of its boundary: splitting it cannot help)
        if k_for_rows((node_rows[i] + in_rows + out_rows).max(min_rows)) <= max_k || node_rows[i] < limit / 8 {
            continue;
        }
        let avail = (limit / 2).saturating_sub(in_rows).max(limit / 16);
        out.push((i, (node_rows[i] + out_rows).div_ceil(avail).max(2)));
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn boundary_sets(g: &Graph, a: usize, b: usize, producer: &[Option<usize>], last_use: &[Option<usize>], is_param: &[bool], is_output: &[bool]) -> (Vec<ValueId>, Vec<ValueId>) {
    let n = g.nodes.len();
    let mut ins = Vec::new();
    if a > 0 {
        for node in &g.nodes[a..b] {
            for v in node.op.inputs() {
                let before = match producer[v] {
                    Some(p) => p < a,
                    None => g.inputs.iter().any(|i| i.value == v),
                };
                if before && !is_param[v] && !ins.contains(&v) {
                    ins.push(v);
                }
            }
        }
    }
    let mut outs = Vec::new();
    if b < n {
        for node in &g.nodes[a..b] {
            let v = node.output;
            if last_use[v].is_some_and(|l| l >= b) || is_output[v] {
                outs.push(v);
            }
        }
        if a == 0 {
            outs.extend(g.inputs.iter().map(|i| i.value).filter(|&v| last_use[v].is_some_and(|l| l >= b)));
        }
    }
    (ins, outs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkinfer_circuits::layout::circuit::ModelCircuit;
    use zkinfer_circuits::onnx::{import_file, ImportOptions};

    fn laid_out(model: &str, shape: Shape) -> (Graph, ModelCircuit) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(model);
        let g = import_file(&path, &ImportOptions::default()).expect("import");
        let inputs: Vec<_> = g.inputs.iter().map(|s| zkinfer_circuits::ir::Tensor::filled(s.shape.clone(), s.zero_point.clamp(s.lo, s.hi))).collect();
        let ctx = zkinfer_circuits::layout::lay_out(&g, &inputs, shape).expect("lay out");
        (g, ModelCircuit { ctx })
    }

    fn direct_rows(g: &Graph, plan_shape: Shape, node_rows: &[usize], extra: usize, min_rows: usize, a: usize, b: usize) -> (usize, usize) {
        let nv = g.values.len();
        let mut producer = vec![None; nv];
        for (i, node) in g.nodes.iter().enumerate() {
            producer[node.output] = Some(i);
        }
        let mut last_use = vec![None::<usize>; nv];
        for (i, node) in g.nodes.iter().enumerate() {
            for v in node.op.inputs() {
                last_use[v] = Some(last_use[v].map_or(i, |l: usize| l.max(i)));
            }
        }
        let is_param: Vec<bool> = (0..nv).map(|v| g.params.iter().any(|p| p.value == v)).collect();
        let is_output: Vec<bool> = (0..nv).map(|v| g.outputs.iter().any(|o| o.value == v)).collect();
        let (ins, outs) = boundary_sets(g, a, b, &producer, &last_use, &is_param, &is_output);
        let mut rows: usize = node_rows[a..b].iter().sum::<usize>() + if a == 0 { extra } else { 0 };
        rows += ins.iter().map(|&v| boundary_rows(g, v, plan_shape).0).sum::<usize>();
        rows += outs.iter().map(|&v| boundary_rows(g, v, plan_shape).1).sum::<usize>();
        let vals = ins.iter().chain(&outs).map(|&v| numel(&g.info(v).shape)).sum();
        (rows.max(min_rows), vals)
    }

    /// The planner's incremental boundary bookkeeping equals a direct recount for every shard
    /// of every plan, shards are consecutive and cover the model, each fits --max-k, and every
    /// tensor a shard takes in is made by an earlier shard (or is a model input).
    #[test]
    fn plans_cover_the_model_within_max_k_and_link_what_they_cut() {
        for (model, shape) in [("models/digits_cnn/model.onnx", Shape::new(4, 2)), ("models/zoo/net_encoder_f32/model.onnx", Shape::new(6, 3))] {
            let (g, c) = laid_out(model, shape);
            let node_rows = &c.ctx.node_rows;
            let total = c.rows();
            let min_rows = (zkinfer_circuits::layout::ctx::LIMB as usize).min(total);
            let extra = total.saturating_sub(node_rows.iter().sum());
            let single = k_for_rows(total);
            let mut split = false;
            for max_k in (single.saturating_sub(4)..=single).rev() {
                let p = match plan(&g, shape, node_rows, total, min_rows, Some(max_k), None) {
                    Ok(p) => p,
                    Err(_) => {
                        // refused only when one node with its boundary does not fit on its own
                        assert!((0..g.nodes.len()).any(|i| k_for_rows(direct_rows(&g, shape, node_rows, extra, min_rows, i, i + 1).0) > max_k), "{model}: max_k {max_k} refused");
                        break;
                    }
                };
                split |= p.shards.len() >= 2;
                assert_eq!(p.shards.first().map(|s| s.first), Some(0));
                assert_eq!(p.shards.last().map(|s| s.end), Some(g.nodes.len()));
                for w in p.shards.windows(2) {
                    assert_eq!(w[0].end, w[1].first, "{model}: consecutive");
                }
                for s in &p.shards {
                    assert!(s.k <= max_k, "{model}: shard k {} > {max_k}", s.k);
                    assert_eq!((s.rows, s.input_values + s.output_values), direct_rows(&g, shape, node_rows, extra, min_rows, s.first, s.end), "{model} {}..{}", s.first, s.end);
                    for &v in &s.inputs {
                        let made_earlier = g.nodes[..s.first].iter().any(|n| n.output == v) || g.inputs.iter().any(|i| i.value == v);
                        assert!(made_earlier, "{model}: shard {}..{} takes {v} made later", s.first, s.end);
                        let earlier = p.shards.iter().filter(|t| t.end <= s.first);
                        assert!(earlier.clone().any(|t| t.outputs.contains(&v)), "{model}: {v} enters shard {}..{} but no earlier shard hands it on", s.first, s.end);
                    }
                }
                if max_k == single {
                    assert_eq!(p.shards.len(), 1, "{model}: a model that fits stays one circuit");
                } else {
                    assert!(p.shards.len() >= 2, "{model}: k {single} does not fit {max_k}");
                }
            }
            assert!(split, "{model}: no smaller max_k gave a split");
            // forced counts give exactly that many shards, balanced no worse than a naive split
            let p = plan(&g, shape, node_rows, total, min_rows, None, Some(3)).expect("three shards");
            assert_eq!(p.shards.len(), 3);
            let worst = p.shards.iter().map(|s| s.predicted_seconds).fold(0.0, f64::max);
            assert!(worst <= p.single_seconds + 1e-9);
            assert!(plan(&g, shape, node_rows, total, min_rows, None, Some(g.nodes.len() + 1)).is_err());
            assert!(plan(&g, shape, node_rows, total, min_rows, Some(3), None).is_err(), "k 3 cannot hold a node");
        }
    }
}
