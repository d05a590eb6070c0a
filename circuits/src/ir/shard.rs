//! One shard of a model: the graph of a run of consecutive nodes, proved as its own circuit.
//!
//! A shard graph keeps the whole model's value table (so value ids, bounds and every op are
//! unchanged) and only the nodes `first..end`. Its inputs and outputs are:
//! - the first shard: the model's inputs, with the model's visibility;
//! - a later shard: each tensor it uses that an earlier shard made (or a model input), as a
//!   `linked` input (salted digest, [`Visibility::Linked`]), range-checked on entry to the
//!   tensor's bounds;
//! - every shard: the model outputs it makes, with the model's visibility, then each tensor it
//!   makes (or, the first shard, each model input) that a later shard uses, as a `linked`
//!   output.
//!
//! - every shard: the witness weight tensors its nodes use, with the model's visibility (a
//!   public or hashed tensor used by several shards is exposed by each; the wiring holds the
//!   copies equal).
//!
//! Linking shard `i`'s `linked` output to shard `j`'s `linked` input of the same tensor (equal
//! digests under the same secret salt) proves that `j` starts from exactly what `i` computed:
//! the digest is collision resistant and covers the values, their count and packing.

use super::{Graph, InputSpec, OutputSpec, ValueId, Visibility};
use crate::error::{CircuitError, Result};

/// The nodes of each value's producer (`None`: a model input or a parameter).
pub fn producers(g: &Graph) -> Vec<Option<usize>> {
    let mut p = vec![None; g.values.len()];
    for (i, n) in g.nodes.iter().enumerate() {
        p[n.output] = Some(i);
    }
    p
}

/// The shard index of each node, for consecutive shards ending at `ends` (ascending, the last
/// one the node count).
fn shard_of_node(ends: &[usize], node: usize) -> usize {
    ends.iter().position(|&e| node < e).unwrap_or(ends.len())
}

/// The shard that makes value `v` (model inputs: the first).
pub fn maker(producers: &[Option<usize>], ends: &[usize], v: ValueId) -> usize {
    producers[v].map_or(0, |p| shard_of_node(ends, p))
}

/// The graphs of the shards ending at `ends` (ascending node indices, the last one
/// `g.nodes.len()`): see the module docs.
pub fn shard_graphs(g: &Graph, ends: &[usize]) -> Result<Vec<Graph>> {
    let n = g.nodes.len();
    let unsupported = |why: String| CircuitError::Unsupported { op: "sharding".into(), node: "-".into(), why };
    if ends.is_empty() || ends.last() != Some(&n) || ends.windows(2).any(|w| w[0] >= w[1]) || ends[0] == 0 {
        return Err(CircuitError::Internal(format!("shard ends {ends:?} do not cut {n} nodes into non-empty runs")));
    }
    let prod = producers(g);
    let is_input = |v: ValueId| g.inputs.iter().any(|i| i.value == v);
    let is_param = |v: ValueId| g.params.iter().any(|p| p.value == v);
    // shards using each value
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); g.values.len()];
    for (i, node) in g.nodes.iter().enumerate() {
        let s = shard_of_node(ends, i);
        for v in node.op.inputs() {
            if prod[v].is_none() && !is_input(v) && !is_param(v) {
                return Err(CircuitError::Internal(format!("value `{}` has no producer and is no model input", g.info(v).name)));
            }
            if !users[v].contains(&s) {
                users[v].push(s);
            }
        }
    }
    // a private weight tensor used in two shards: nothing public would say both used the same
    if let Some(p) = g.params.iter().find(|p| p.visibility == Visibility::Private && users[p.value].len() > 1) {
        return Err(unsupported(format!("the private weight tensor `{}` is used by shards {:?}: nothing would show they use the same values; compile with --weight-visibility hashed, or cut elsewhere", p.name, users[p.value])));
    }
    let linked_in = |name: &str, v: ValueId| {
        let info = g.info(v);
        InputSpec { name: name.into(), value: v, shape: info.shape.clone(), scale: 1.0, zero_point: 0, lo: info.lo, hi: info.hi, saturates: false, visibility: Visibility::Linked }
    };
    let linked_out = |v: ValueId| {
        let info = g.info(v);
        OutputSpec { name: info.name.clone(), value: v, shape: info.shape.clone(), scale: 1.0, zero_point: 0, visibility: Visibility::Linked }
    };
    let mut out = Vec::with_capacity(ends.len());
    let mut first = 0;
    for (s, &end) in ends.iter().enumerate() {
        let mut sg = Graph { values: g.values.clone(), nodes: g.nodes[first..end].to_vec(), notes: vec![], probes: vec![], params: vec![], inputs: vec![], outputs: vec![] };
        if s == 0 {
            sg.inputs = g.inputs.clone();
        } else {
            let mut seen = Vec::new();
            for node in &sg.nodes {
                for v in node.op.inputs() {
                    if !is_param(v) && maker(&prod, ends, v) < s && !seen.contains(&v) {
                        seen.push(v);
                    }
                }
            }
            sg.inputs = seen.into_iter().map(|v| linked_in(&g.info(v).name, v)).collect();
        }
        // the weight tensors its nodes use, with the model's visibility (and values, when loaded)
        sg.params = g.params.iter().filter(|p| users[p.value].contains(&s)).cloned().collect();
        sg.outputs = g.outputs.iter().filter(|o| maker(&prod, ends, o.value) == s).cloned().collect();
        let made_here = |v: ValueId| match prod[v] {
            Some(p) => first <= p && p < end,
            None => s == 0 && is_input(v),
        };
        let mut leaving: Vec<ValueId> = (0..g.values.len()).filter(|&v| made_here(v) && users[v].iter().any(|&u| u > s)).collect();
        leaving.sort_unstable();
        sg.outputs.extend(leaving.into_iter().map(linked_out));
        out.push(sg);
        first = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec;
    use crate::ir::Tensor;
    use crate::ops::{Op, Rescale, RescaleTerm};

    /// x -> a -> b -> c, with c also using a (a skip over the middle shard) and b a model
    /// output made before the last shard.
    fn chain() -> Graph {
        let mut g = Graph::default();
        let x = g.add_value("x", vec![1, 4], -128, 127).expect("x");
        g.inputs.push(InputSpec { name: "x".into(), value: x, shape: vec![1, 4], scale: 0.5, zero_point: 0, lo: -128, hi: 127, saturates: false, visibility: Visibility::Public });
        let rs = |input, mult: i64| Op::Rescale(Rescale { terms: vec![RescaleTerm { input, zero_point: 0, mult: vec![mult * 16] }], channel_axis: 1, bias: vec![], shift: 8, out_zp: 0, lo: -128, hi: 127, half_even: false });
        let a = g.add_node("a", rs(x, 20)).expect("a");
        let b = g.add_node("b", rs(a, 30)).expect("b");
        let add = Op::Rescale(Rescale { terms: vec![RescaleTerm { input: b, zero_point: 0, mult: vec![128] }, RescaleTerm { input: a, zero_point: 0, mult: vec![128] }], channel_axis: 1, bias: vec![], shift: 8, out_zp: 0, lo: -128, hi: 127, half_even: false });
        let c = g.add_node("c", add).expect("c");
        for (name, v) in [("b", b), ("c", c)] {
            g.outputs.push(OutputSpec { name: name.into(), value: v, shape: vec![1, 4], scale: 0.25, zero_point: 0, visibility: Visibility::Public });
        }
        g
    }

    #[test]
    fn shards_hand_on_what_later_shards_use() {
        let g = chain();
        let shards = shard_graphs(&g, &[1, 2, 3]).expect("shards");
        let names = |specs: Vec<(&str, Visibility)>| specs.into_iter().map(|(n, v)| format!("{n}:{v}")).collect::<Vec<_>>();
        let ins = |sg: &Graph| names(sg.inputs.iter().map(|i| (i.name.as_str(), i.visibility)).collect());
        let outs = |sg: &Graph| names(sg.outputs.iter().map(|o| (o.name.as_str(), o.visibility)).collect());
        assert_eq!((ins(&shards[0]), outs(&shards[0])), (vec!["x:public".to_string()], vec!["a:linked".to_string()]));
        assert_eq!((ins(&shards[1]), outs(&shards[1])), (vec!["a:linked".to_string()], vec!["b:public".to_string(), "b:linked".to_string()]));
        assert_eq!((ins(&shards[2]), outs(&shards[2])), (vec!["b:linked".to_string(), "a:linked".to_string()], vec!["c:public".to_string()]));
        // each shard, run on the whole model's values, computes what the model computes
        let x = Tensor::new(vec![1, 4], vec![-128, -3, 40, 127]).expect("x");
        let vals = exec::run(&g, std::slice::from_ref(&x)).expect("run");
        for sg in &shards {
            let ins: Vec<Tensor> = sg.inputs.iter().map(|i| vals[i.value].clone()).collect();
            let outs = exec::outputs(sg, &ins).expect("shard runs");
            for (o, t) in sg.outputs.iter().zip(outs) {
                assert_eq!(t, vals[o.value], "{}", o.name);
            }
        }
        assert!(shard_graphs(&g, &[2, 1, 3]).is_err() && shard_graphs(&g, &[1, 2]).is_err() && shard_graphs(&g, &[0, 3]).is_err());
    }

    /// A linked tensor's instance is the salted digest of its values: the same values with
    /// another salt give another digest, and the circuit rejects the digest of other values
    /// (with the same salt) unless the Poseidon constraints are removed.
    #[test]
    fn link_digests_are_salted_and_constrained() {
        use crate::layout::circuit::{instance_values, mutation, ConstraintKind, ModelCircuit};
        use crate::layout::{ctx::Shape, lay_out_salted};
        use halo2_proofs::dev::MockProver;
        let g = chain();
        let shards = shard_graphs(&g, &[1, 3]).expect("shards");
        let x = Tensor::new(vec![1, 4], vec![-128, -3, 40, 127]).expect("x");
        let vals = exec::run(&g, std::slice::from_ref(&x)).expect("run");
        let sg = &shards[1];
        assert_eq!(sg.inputs[0].visibility, Visibility::Linked);
        let ins: Vec<Tensor> = sg.inputs.iter().map(|i| vals[i.value].clone()).collect();
        let salt = 0x1234_5678_9abc_def0_1122_3344_5566u128;
        let ctx = lay_out_salted(sg, &ins, Shape::default(), salt).expect("layout");
        ctx.check().expect("witness satisfies the gates");
        let inst = instance_values(&ctx);
        let p = crate::public::packing_of(sg, sg.inputs[0].value);
        assert_eq!(inst[1], crate::hash::link_digest(&p, salt, &ins[0].data).expect("in range"));
        assert_ne!(inst[1], crate::hash::link_digest(&p, salt + 1, &ins[0].data).expect("in range"));
        assert_ne!(inst[1], crate::hash::tensor_digest(&p, &ins[0].data).expect("in range"), "a link digest is no plain digest");
        assert!(lay_out_salted(sg, &ins, Shape::default(), 1 << 120).is_err(), "salt above 120 bits");
        let circuit = ModelCircuit { ctx };
        let k = crate::layout::tests::k_for(circuit.rows());
        assert!(MockProver::run(k, &circuit, vec![inst.clone()]).expect("mock").verify().is_ok());
        let mut other = ins[0].data.clone();
        other[0] += 1;
        let mut forged = inst.clone();
        forged[1] = crate::hash::link_digest(&p, salt, &other).expect("in range");
        assert!(MockProver::run(k, &circuit, vec![forged.clone()]).expect("mock").verify().is_err(), "a link digest of other values accepted");
        let loose = mutation::without(ConstraintKind::Poseidon, || MockProver::run(k, &circuit, vec![forged]).expect("mock").verify());
        assert!(loose.is_ok(), "without the Poseidon constraints the forged link passes: the test can fail");
    }
}
