//! Cuts inside a node: one node replaced by parts that each compute a slice of its output,
//! and a [`Wire`] that concatenates the slices into the node's output value.
//!
//! The values are exactly the node's, so a graph with split nodes computes what the original
//! computes; but a shard plan ([`crate::ir::shard`]) can now cut between the parts, so a node
//! larger than a shard's rows no longer stops a model from being sharded. Wires cost no rows,
//! so the parts together take about the node's rows.
//!
//! How each op is split (the output axis, and what each part reads):
//! - `Conv`: by output channels. With one group each part reads the whole input and a slice
//!   of the weights and bias; grouped (e.g. depthwise) convs split by whole groups, each part
//!   reading its groups' input channels.
//! - `Dense`: by output features (the last axis), each part a slice of the weight rows.
//! - `MaxPool`, `SumPool`: by channels, each part reading its channels.
//! - elementwise ops (`Rescale`, `Table`, `Interp`, `Sqrt`, `Mul`, `Div`: every operand has
//!   the output's shape): along the output's longest axis, each part reading the same slice of
//!   every operand (and of `Rescale`'s per-channel multipliers and biases when that axis is
//!   its channel axis).
//! - `Reshape` and `Wire` cost no rows and are never split.
//!
//! A split node is the head of a *chain*: the nodes after it whose slices along the same axis
//! depend only on the same slices of the chain's value (elementwise ops such as the Rescale
//! that requantizes an accumulator, pools along the channels, depthwise convs), while that
//! value has no other use, are split with it. Each part runs its slice through the whole
//! chain and only the chain's last value is concatenated, so a cut between parts hands on
//! narrow requantized slices rather than wide accumulators (whose link digests cost several
//! times more), and the chain's inner values are no longer made whole.
//!
//! Witness weights (`Conv`/`Dense` with [`crate::ops::WitnessParams`]) are sliced by wires from
//! the weight tensor, so the tensor itself, its visibility and its instances are unchanged.
//!
//! The new values (slices and parts) are appended after the graph's values; every existing
//! value keeps its id and facts, and the nodes keep their order with each split node's slices,
//! parts and concatenation in its place (slices first, so that a cut between two parts carries
//! only the slices still to be used).

use std::collections::HashMap;
use std::ops::Range;

use super::tensor::numel;
use super::{Graph, Node, Tensor, ValueId};
use crate::error::{CircuitError, Result};
use crate::ops::{Op, Src, WitnessParams, Wire};

/// The most parts node `node` can be split into (1: it cannot be split).
pub fn max_parts(g: &Graph, node: &Node) -> usize {
    let out = &g.info(node.output).shape;
    match &node.op {
        Op::Conv(c) if c.group == 1 => c.weight.shape[0],
        Op::Conv(c) => c.group,
        Op::Dense(d) => d.weight.shape[0],
        Op::MaxPool(_) | Op::SumPool(_) => out.get(1).copied().unwrap_or(1),
        // a sum of products along the last axis: split along the others
        Op::Mul(m) if m.group > 1 => out[..out.len() - 1].iter().copied().max().unwrap_or(1),
        Op::Rescale(_) | Op::Table(_) | Op::Interp(_) | Op::Sqrt(_) | Op::Mul(_) | Op::Div(_) => out.iter().copied().max().unwrap_or(1),
        Op::Reshape(_) | Op::Wire(_) => 1,
    }
}

/// `len` split into `parts` contiguous, nearly equal ranges.
fn ranges(len: usize, parts: usize) -> Vec<Range<usize>> {
    (0..parts).map(|j| j * len / parts..(j + 1) * len / parts).collect()
}

/// The output axis an elementwise node is split along: its longest (the first of equals).
fn longest_axis(shape: &[usize]) -> usize {
    let mut best = 0;
    for (a, &d) in shape.iter().enumerate() {
        if d > shape[best] {
            best = a;
        }
    }
    best
}

/// The flat indices of `shape`'s elements whose index along `axis` lies in `r`, in order.
fn slice_indices(shape: &[usize], axis: usize, r: Range<usize>) -> Vec<Src> {
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let d = shape[axis];
    let mut src = Vec::with_capacity(outer * r.len() * inner);
    for o in 0..outer {
        for a in r.clone() {
            let base = (o * d + a) * inner;
            src.extend((base..base + inner).map(|i| Src::In(0, i as u32)));
        }
    }
    src
}

/// Adds a wire taking the slice `r` of value `v` along `axis`.
fn slice(g: &mut Graph, v: ValueId, axis: usize, r: Range<usize>, name: &str) -> Result<ValueId> {
    let mut shape = g.info(v).shape.clone();
    let src = slice_indices(&shape, axis, r.clone());
    shape[axis] = r.len();
    g.add_node(name, Op::Wire(Wire { inputs: vec![v], shape, src }))
}

/// The wire concatenating `parts` (same shape but along `axis`) into a tensor of `shape`.
fn concat(g: &Graph, parts: &[ValueId], axis: usize, shape: &[usize]) -> Wire {
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let mut src = Vec::with_capacity(numel(shape));
    for o in 0..outer {
        for (t, &p) in parts.iter().enumerate() {
            let d = g.info(p).shape[axis];
            for a in 0..d {
                let base = (o * d + a) * inner;
                src.extend((base..base + inner).map(|i| Src::In(t as u32, i as u32)));
            }
        }
    }
    Wire { inputs: parts.to_vec(), shape: shape.to_vec(), src }
}

/// The rows `r` (first axis) of a weight tensor held in the op (fixed weights); a weight
/// without data (witness weights) keeps none.
fn weight_rows(w: &Tensor, r: Range<usize>) -> Tensor {
    let mut shape = w.shape.clone();
    shape[0] = r.len();
    let per: usize = w.shape[1..].iter().product();
    let data = if w.data.is_empty() { Vec::new() } else { w.data[r.start * per..r.end * per].to_vec() };
    Tensor { shape, data }
}

/// Slices of a per-channel vector (one value, or none: kept whole).
fn per_channel(v: &[i64], r: &Range<usize>) -> Vec<i64> {
    if v.len() > 1 {
        v[r.clone()].to_vec()
    } else {
        v.to_vec()
    }
}

/// Witness weight slices: the wires taking rows `r` of the weight tensor (and bias).
fn param_slices(g: &mut Graph, p: Option<WitnessParams>, r: &Range<usize>, name: &str) -> Result<Option<WitnessParams>> {
    let Some(p) = p else { return Ok(None) };
    let weight = slice(g, p.weight, 0, r.clone(), &format!("{name}/weight"))?;
    let bias = match p.bias {
        Some(b) => Some(slice(g, b, 0, r.clone(), &format!("{name}/bias"))?),
        None => None,
    };
    Ok(Some(WitnessParams { weight, bias }))
}

/// The part of a Rescale for the slice `r` along `axis` of its input, now `input`: its
/// per-channel multipliers and biases cut when `axis` is its channel axis.
fn rescale_part(rs: &crate::ops::Rescale, input: impl Fn(ValueId) -> ValueId, axis: usize, r: &Range<usize>) -> crate::ops::Rescale {
    let cut = |v: &[i64]| if rs.channel_axis == axis { per_channel(v, r) } else { v.to_vec() };
    let terms = rs.terms.iter().map(|t| crate::ops::RescaleTerm { input: input(t.input), mult: cut(&t.mult), ..t.clone() }).collect();
    crate::ops::Rescale { terms, bias: cut(&rs.bias), ..rs.clone() }
}

/// Whether `next` can follow a chain split along output axis `axis` whose value so far is
/// `v`: `v` is used by `next` alone (and is no model output or calibration probe), and each
/// slice of `next`'s output along `axis` depends only on the same slice of `v`: an elementwise
/// op, a pool (along the batch or channel axis) or a depthwise conv (along the channels).
fn continues(g: &Graph, v: ValueId, next: &Node, axis: usize) -> bool {
    let single = g.nodes.iter().filter(|n| n.op.inputs().contains(&v)).count() == 1 && !g.outputs.iter().any(|o| o.value == v) && !g.probes.iter().any(|p| p.value == v);
    single
        && match &next.op {
            Op::Mul(m) if m.group > 1 => axis + 1 < g.info(v).shape.len() && next.op.inputs().contains(&v),
            Op::Rescale(_) | Op::Table(_) | Op::Interp(_) | Op::Sqrt(_) | Op::Mul(_) | Op::Div(_) => next.op.inputs().contains(&v),
            Op::MaxPool(p) => axis <= 1 && p.input == v,
            Op::SumPool(p) => axis <= 1 && p.input == v,
            Op::Conv(c) => axis == 1 && c.input == v && c.group > 1 && c.weight.shape[1] == 1 && c.weight.shape[0] == c.group,
            Op::Dense(_) | Op::Reshape(_) | Op::Wire(_) => false,
        }
}

/// The output axis node `node` is split along as a chain's head, and the ranges of that axis
/// its parts make (at most `parts`, aligned to whole groups for a grouped conv).
fn head_ranges(g: &Graph, node: &Node, parts: usize) -> (usize, Vec<Range<usize>>) {
    let shape = &g.info(node.output).shape;
    let parts = parts.min(max_parts(g, node)).max(1);
    match &node.op {
        Op::Conv(c) if c.group == 1 => (1, ranges(c.weight.shape[0], parts)),
        Op::Conv(c) => {
            let ocg = c.weight.shape[0] / c.group;
            (1, ranges(c.group, parts).into_iter().map(|r| r.start * ocg..r.end * ocg).collect())
        }
        Op::Dense(d) => (shape.len() - 1, ranges(d.weight.shape[0], parts)),
        Op::MaxPool(_) | Op::SumPool(_) => (1, ranges(shape[1], parts)),
        Op::Mul(m) if m.group > 1 && shape.len() > 1 => {
            let axis = longest_axis(&shape[..shape.len() - 1]);
            (axis, ranges(shape[axis], parts))
        }
        _ => {
            let axis = longest_axis(shape);
            (axis, ranges(shape[axis], parts))
        }
    }
}

/// The inputs of `node` its part for output range `r` reads a slice of, with that slice's
/// range (a conv with one group and a dense layer read their whole input).
fn sliced_inputs(node: &Node, r: &Range<usize>) -> Vec<(ValueId, Range<usize>)> {
    match &node.op {
        Op::Conv(c) if c.group == 1 => vec![],
        Op::Conv(c) => {
            let (ocg, cg) = (c.weight.shape[0] / c.group, c.weight.shape[1]);
            vec![(c.input, r.start / ocg * cg..r.end / ocg * cg)]
        }
        Op::Dense(_) | Op::Reshape(_) | Op::Wire(_) => vec![],
        op => op.inputs().into_iter().map(|v| (v, r.clone())).collect(),
    }
}

/// The part of `node` making range `r` of its output along `axis`; `input` gives the value
/// each input is read from (the chain's part, a slice, or the whole input).
fn part_op(out: &mut Graph, node: &Node, axis: usize, r: &Range<usize>, name: &str, input: &dyn Fn(ValueId) -> ValueId) -> Result<Op> {
    Ok(match &node.op {
        Op::Conv(c) => {
            let params = param_slices(out, c.params, r, name)?;
            let bias = if c.bias.is_empty() { Vec::new() } else { c.bias[r.clone()].to_vec() };
            let group = if c.group == 1 { 1 } else { r.len() / (c.weight.shape[0] / c.group) };
            Op::Conv(crate::ops::Conv { input: input(c.input), weight: weight_rows(&c.weight, r.clone()), bias, group, params, ..c.clone() })
        }
        Op::Dense(d) => {
            let params = param_slices(out, d.params, r, name)?;
            let bias = if d.bias.is_empty() { Vec::new() } else { d.bias[r.clone()].to_vec() };
            Op::Dense(crate::ops::Dense { weight: weight_rows(&d.weight, r.clone()), bias, params, ..d.clone() })
        }
        Op::MaxPool(p) => Op::MaxPool(crate::ops::MaxPool { input: input(p.input), ..p.clone() }),
        Op::SumPool(p) => Op::SumPool(crate::ops::SumPool { input: input(p.input), ..p.clone() }),
        Op::Rescale(rs) => Op::Rescale(rescale_part(rs, input, axis, r)),
        Op::Table(t) => Op::Table(crate::ops::Table { input: input(t.input), ..t.clone() }),
        Op::Interp(t) => Op::Interp(crate::ops::Interp { input: input(t.input), ..t.clone() }),
        Op::Sqrt(t) => Op::Sqrt(crate::ops::Sqrt { input: input(t.input) }),
        Op::Mul(t) => Op::Mul(crate::ops::Mul { a: input(t.a), b: input(t.b), ..t.clone() }),
        Op::Div(t) => Op::Div(crate::ops::Div { num: input(t.num), den: input(t.den), ..t.clone() }),
        Op::Reshape(_) | Op::Wire(_) => return Err(CircuitError::Internal(format!("`{name}`: a {} is never split", node.op.name()))),
    })
}

/// Splits the chain of consecutive nodes `chain` (a head, then nodes that [`continues`] accepts)
/// into `parts` parts, appending to `out` (which holds every node before the chain): first the
/// slices every part reads, then each part's nodes, then the concatenation of the parts into
/// the chain's last value. Returns the number of parts made (1: the head cannot be split, and
/// the chain is copied whole).
fn split_chain(out: &mut Graph, g: &Graph, chain: &[&Node], parts: usize) -> Result<usize> {
    let (axis, rs) = head_ranges(g, chain[0], parts);
    if rs.len() < 2 {
        out.nodes.extend(chain.iter().map(|n| (*n).clone()));
        return Ok(1);
    }
    // the slices of the values from outside the chain, for every part first
    let mut slices: HashMap<(usize, ValueId), ValueId> = HashMap::new();
    for (j, r) in rs.iter().enumerate() {
        for (c, node) in chain.iter().enumerate() {
            for (t, (v, vr)) in sliced_inputs(node, r).into_iter().enumerate() {
                let inside = c > 0 && v == chain[c - 1].output;
                if !inside && !slices.contains_key(&(j, v)) {
                    let name = format!("{}/part{j}/in{t}", g.info(node.output).name);
                    slices.insert((j, v), slice(out, v, axis, vr, &name)?);
                }
            }
        }
    }
    let mut made = Vec::with_capacity(rs.len());
    for (j, r) in rs.iter().enumerate() {
        let mut prev: Option<(ValueId, ValueId)> = None;
        for node in chain {
            let name = format!("{}/part{j}", g.info(node.output).name);
            let input = |v: ValueId| match prev {
                Some((whole, part)) if whole == v => part,
                _ => slices.get(&(j, v)).copied().unwrap_or(v),
            };
            let op = part_op(out, node, axis, r, &name, &input)?;
            prev = Some((node.output, out.add_node(&name, op)?));
        }
        made.extend(prev.map(|(_, part)| part));
    }
    // the concatenation is the chain's output value, whose facts stay as they were: the parts'
    // bounds lie within them (each is the same computation on a part of the inputs)
    let last = chain[chain.len() - 1].output;
    let info = g.info(last).clone();
    let wire = concat(out, &made, axis, &info.shape);
    let (shape, lo, hi) = wire.infer(out, &info.name)?;
    if shape != info.shape || lo < info.lo || hi > info.hi {
        return Err(CircuitError::Internal(format!("splitting `{}`: the parts give {shape:?} in [{lo}, {hi}], the node {:?} in [{}, {}]", info.name, info.shape, info.lo, info.hi)));
    }
    out.nodes.push(Node { op: Op::Wire(wire), output: last });
    Ok(rs.len())
}

/// `g` with each node `i` of `wanted` (`(node, parts)`) split into up to `parts` parts, with
/// the nodes after it that continue its chain (see the module docs); and the nodes actually
/// split, each with its number of parts (a node that cannot be split, or only into one part,
/// is left whole and not listed).
pub fn split_nodes(g: &Graph, wanted: &[(usize, usize)]) -> Result<(Graph, Vec<(usize, usize)>)> {
    let mut out = Graph { nodes: Vec::with_capacity(g.nodes.len()), ..g.clone() };
    let mut done = Vec::new();
    let mut i = 0;
    while i < g.nodes.len() {
        let Some(&(_, mut parts)) = wanted.iter().find(|(n, _)| *n == i) else {
            out.nodes.push(g.nodes[i].clone());
            i += 1;
            continue;
        };
        let (axis, _) = head_ranges(g, &g.nodes[i], parts);
        let mut end = i + 1;
        while end < g.nodes.len() && continues(g, g.nodes[end - 1].output, &g.nodes[end], axis) {
            if let Some(&(_, p)) = wanted.iter().find(|(n, _)| *n == end) {
                parts = parts.max(p);
            }
            end += 1;
        }
        let chain: Vec<&Node> = g.nodes[i..end].iter().collect();
        let made = split_chain(&mut out, g, &chain, parts)?;
        if made > 1 {
            done.extend((i..end).map(|n| (n, made)));
        }
        i = end;
    }
    Ok((out, done))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec;
    use crate::ir::{InputSpec, OutputSpec, Visibility};
    use crate::layout::{ctx::Shape, lay_out};
    use crate::ops::window::Window2d;
    use crate::ops::{Conv, Dense, MaxPool, Mul, Rescale, RescaleTerm, SumPool, Table};
    use rand::{Rng, SeedableRng};

    fn random(shape: Vec<usize>, lo: i64, hi: i64, seed: u64) -> Tensor {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let n = shape.iter().product();
        Tensor { shape, data: (0..n).map(|_| rng.gen_range(lo..=hi)).collect() }
    }

    fn rescale(input: ValueId, mult: Vec<i64>, bias: Vec<i64>) -> Op {
        Op::Rescale(Rescale { terms: vec![RescaleTerm { input, zero_point: 0, mult }], channel_axis: 1, bias, shift: 16, out_zp: 0, lo: -128, hi: 127, half_even: false })
    }

    /// x [1,4,10,10] -> conv 3x3 (6 out) -> per-channel rescale (split along rows) ->
    /// depthwise conv -> rescale -> relu table -> max pool -> square (Mul, split along
    /// channels) -> sum pool -> per-channel rescale (split along channels, its multipliers and
    /// biases with it) -> dense head, with witness weights for the dense layer when `witness`.
    fn model(witness: bool) -> Graph {
        let mut g = Graph::default();
        let x = g.add_value("x", vec![1, 4, 10, 10], -128, 127).expect("x");
        g.inputs.push(InputSpec { name: "x".into(), value: x, shape: vec![1, 4, 10, 10], scale: 1.0, zero_point: 0, lo: -128, hi: 127, saturates: false, visibility: Visibility::Public });
        let win = |k: usize, s: usize, p: usize| Window2d { kernel: [k, k], strides: [s, s], pads: [p, p, p, p], dilations: [1, 1] };
        let c1 = g.add_node("c1", Op::Conv(Conv { input: x, input_zp: 3, weight: random(vec![6, 4, 3, 3], -20, 20, 1), bias: (0..6).map(|i| i * 50 - 120).collect(), window: win(3, 1, 1), group: 1, params: None })).expect("c1");
        let q1 = g.add_node("q1", rescale(c1, (1..=6).map(|i| 900 + 37 * i).collect(), vec![])).expect("q1");
        let dw = g.add_node("dw", Op::Conv(Conv { input: q1, input_zp: 0, weight: random(vec![6, 1, 3, 3], -30, 30, 2), bias: vec![7; 6], window: win(3, 1, 0), group: 6, params: None })).expect("dw");
        let q2 = g.add_node("q2", rescale(dw, vec![2500], (0..6).map(|i| i * 1000).collect())).expect("q2");
        let relu = g.add_node("relu", Op::Table(Table { input: q2, func: "Relu".into(), lo: -128, values: (-128..=127).map(|v: i64| v.max(0)).collect() })).expect("relu");
        let mp = g.add_node("mp", Op::MaxPool(MaxPool { input: relu, window: win(2, 2, 0) })).expect("mp");
        let sq = g.add_node("sq", Op::Mul(Mul { a: mp, b: mp, za: 0, zb: 0, group: 1 })).expect("sq");
        let sp = g.add_node("sp", Op::SumPool(SumPool { input: sq, window: win(4, 1, 0) })).expect("sp");
        let q3 = g.add_node("q3", rescale(sp, (1..=6).map(|i| 20 * i).collect(), (0..6).map(|i| 3000 * i - 9000).collect())).expect("q3");
        let flat = g.add_node("flat", Op::Reshape(crate::ops::Reshape { input: q3, shape: vec![1, 6] })).expect("flat");
        let (weight, params) = if witness {
            let w = g.add_param("w", vec![5, 6], random(vec![5, 6], -64, 64, 3).data, -64, 64, Visibility::Hashed).expect("w");
            let b = g.add_param("b", vec![5], vec![1, -2, 3, -4, 5], -8, 8, Visibility::Hashed).expect("b");
            (Tensor { shape: vec![5, 6], data: vec![] }, Some(WitnessParams { weight: w, bias: Some(b) }))
        } else {
            (random(vec![5, 6], -64, 64, 3), None)
        };
        let bias = if witness { vec![] } else { vec![10, 20, -30, 40, -50] };
        let fc = g.add_node("fc", Op::Dense(Dense { input: flat, input_zp: 0, weight, bias, params })).expect("fc");
        g.outputs.push(OutputSpec { name: "fc".into(), value: fc, shape: vec![1, 5], scale: 1.0, zero_point: 0, visibility: Visibility::Public });
        g
    }

    /// Every splittable node split (3 parts, or fewer where the op allows fewer): the same
    /// outputs on random inputs, and the split graph's witness satisfies every gate; with and
    /// without witness weights, and with the first conv's accumulator a model output (so that
    /// it is split alone, not with its Rescale).
    #[test]
    fn split_nodes_compute_the_same_values() {
        for (witness, exposed) in [(false, false), (true, false), (false, true)] {
            let mut g = model(witness);
            if exposed {
                let c1 = g.nodes[0].output;
                g.outputs.push(OutputSpec { name: "c1".into(), value: c1, shape: vec![1, 6, 10, 10], scale: 1.0, zero_point: 0, visibility: Visibility::Public });
            }
            let wanted: Vec<(usize, usize)> = (0..g.nodes.len()).map(|i| (i, 3)).collect();
            let (s, done) = split_nodes(&g, &wanted).expect("split");
            let names: Vec<&str> = done.iter().map(|&(i, _)| g.info(g.nodes[i].output).name.as_str()).collect();
            assert_eq!(names, ["c1", "q1", "dw", "q2", "relu", "mp", "sq", "sp", "q3", "fc"], "every node but the reshape is split");
            assert!(done.iter().all(|&(_, p)| p == 3));
            // one chain from the first conv to the last Rescale (the reshape ends it): only its
            // last value is made whole; with the accumulator exposed, the conv is split alone,
            // then the Rescale (along the rows, where the depthwise conv cannot follow), then a
            // chain from the depthwise conv
            let made = |v: ValueId| s.nodes.iter().any(|n| n.output == v);
            let whole: Vec<&str> = g.nodes[..9].iter().filter(|n| made(n.output)).map(|n| g.info(n.output).name.as_str()).collect();
            assert_eq!(whole, if exposed { vec!["c1", "q1", "q3"] } else { vec!["q3"] });
            for seed in 0..4 {
                let x = random(vec![1, 4, 10, 10], -128, 127, 10 + seed);
                let want = exec::run(&g, std::slice::from_ref(&x)).expect("run");
                let got = exec::run(&s, std::slice::from_ref(&x)).expect("run split");
                for v in (0..g.values.len()).filter(|&v| made(v) || g.inputs.iter().any(|i| i.value == v)) {
                    assert_eq!(got[v], want[v], "value {} (witness weights: {witness})", g.info(v).name);
                }
                assert_eq!(exec::outputs(&s, std::slice::from_ref(&x)).expect("outputs"), exec::outputs(&g, std::slice::from_ref(&x)).expect("outputs"));
            }
            let x = random(vec![1, 4, 10, 10], -128, 127, 99);
            let ctx = lay_out(&s, std::slice::from_ref(&x), Shape::default()).expect("layout");
            ctx.check().expect("the split graph's witness satisfies the gates");
            let whole = lay_out(&g, std::slice::from_ref(&x), Shape::default()).expect("layout");
            let (a, b) = (whole.node_rows.iter().sum::<usize>(), ctx.node_rows.iter().sum::<usize>());
            assert!(b <= a + a / 4 + 64, "the parts take about the node's rows: {b} against {a}");
        }
    }

    /// Sums of products (a MatMul of two activations) split along their leading axes only: a
    /// chain that a Rescale heads along the summed axis ends before the sum, one the sum heads
    /// goes on into the Rescale after it; the values stay the same and the gates hold.
    #[test]
    fn product_sums_split_along_the_leading_axes() {
        for rescaled in [true, false] {
            let mut g = Graph::default();
            let a = g.add_value("a", vec![2, 3, 9], -100, 100).expect("a");
            g.inputs.push(InputSpec { name: "a".into(), value: a, shape: vec![2, 3, 9], scale: 1.0, zero_point: 0, lo: -100, hi: 100, saturates: false, visibility: Visibility::Public });
            let x = if rescaled { g.add_node("r", rescale(a, vec![200], vec![5])).expect("r") } else { a };
            let y = a;
            let p = g.add_node("p", Op::Mul(Mul { a: x, b: y, za: 2, zb: -1, group: 4 })).expect("p");
            assert_eq!(g.info(p).shape, [2, 3, 3]);
            let q = g.add_node("q", rescale(p, vec![90], vec![])).expect("q");
            g.outputs.push(OutputSpec { name: "q".into(), value: q, shape: vec![2, 3, 3], scale: 1.0, zero_point: 0, visibility: Visibility::Public });
            let wanted: Vec<(usize, usize)> = (0..g.nodes.len()).map(|i| (i, 3)).collect();
            let (s, done) = split_nodes(&g, &wanted).expect("split");
            let made = |v: ValueId| s.nodes.iter().any(|n| n.output == v);
            let p_node = g.nodes.iter().position(|n| n.output == p).expect("p");
            assert!(done.contains(&(p_node, 3)), "the sum is split in 3 along its middle axis: {done:?}");
            // a Rescale before the sum splits along the summed axis (9 long), where the sum cannot
            // follow: the sum starts a chain of its own, which the last Rescale continues
            assert!(!made(p), "the sum's value is made only in parts: {done:?}");
            assert!(made(q));
            for seed in 0..3 {
                let x = random(vec![2, 3, 9], -100, 100, 40 + seed);
                assert_eq!(exec::outputs(&s, std::slice::from_ref(&x)).expect("split"), exec::outputs(&g, std::slice::from_ref(&x)).expect("whole"));
            }
            let x = random(vec![2, 3, 9], -100, 100, 7);
            for shape in [Shape::default(), Shape::new(2, 1)] {
                lay_out(&s, std::slice::from_ref(&x), shape).expect("layout").check().expect("the split sums' gates hold");
            }
        }
    }

    /// Requests beyond what an op allows are capped; a reshape is left whole.
    #[test]
    fn parts_are_capped_by_the_op() {
        let g = model(false);
        let (s, done) = split_nodes(&g, &[(0, 100), (2, 100), (9, 5), (10, 7)]).expect("split");
        let want: Vec<(usize, usize)> = (0..9).map(|n| (n, 6)).chain([(10, 5)]).collect();
        assert_eq!(done, want, "6 output channels for the chain of nodes 0-8, 5 features; the reshape stays whole");
        let x = random(vec![1, 4, 10, 10], -128, 127, 5);
        assert_eq!(exec::outputs(&s, std::slice::from_ref(&x)).expect("run"), exec::outputs(&g, std::slice::from_ref(&x)).expect("run"));
        // a pool heads a chain along the channels
        let (s, done) = split_nodes(&g, &[(5, 2)]).expect("split");
        assert_eq!(done, vec![(5, 2), (6, 2), (7, 2), (8, 2)]);
        assert_eq!(exec::outputs(&s, std::slice::from_ref(&x)).expect("run"), exec::outputs(&g, std::slice::from_ref(&x)).expect("run"));
        lay_out(&s, std::slice::from_ref(&x), Shape::default()).expect("layout").check().expect("gates");
        let (same, none) = split_nodes(&g, &[]).expect("nothing to split");
        assert!(none.is_empty() && same == g);
    }
}
