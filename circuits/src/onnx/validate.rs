//! Structural checks of an ONNX model before lowering, each failure named: a value defined
//! twice, nodes that form a cycle, and an operator set newer than this importer knows
//! (onnxruntime refuses all three; lowering them would give a circuit for a graph that does
//! not mean anything, or one whose ops changed meaning in a later opset).

use std::collections::HashMap;

use super::attrs::node_name;
use super::proto::{GraphProto, ModelProto};
use crate::error::{CircuitError, Result};

/// The newest opset of each domain whose operator semantics the importer implements.
pub const KNOWN_OPSETS: [(&str, i64); 3] = [("", 23), ("ai.onnx.ml", 5), ("com.microsoft", 1)];

fn malformed(why: String) -> CircuitError {
    CircuitError::Malformed(why)
}

/// Checks the model's opset imports and its main graph.
pub fn check_model(m: &ModelProto) -> Result<()> {
    for o in &m.opset_import {
        let domain = match o.domain() {
            "ai.onnx" => "",
            d => d,
        };
        if let Some(&(_, known)) = KNOWN_OPSETS.iter().find(|(d, _)| *d == domain) {
            if o.version() > known {
                let name = if domain.is_empty() { "ai.onnx" } else { domain };
                return Err(CircuitError::Unsupported {
                    op: "opset".into(),
                    node: name.into(),
                    why: format!("the model imports opset {} of `{name}`, newer than the newest this importer knows ({known}); ops may have changed meaning: export the model for opset {known} or older", o.version()),
                });
            }
        }
    }
    if let Some(g) = &m.graph {
        check_graph(g)?;
    }
    Ok(())
}

/// Every value is defined once (a graph input, an initializer, or one node output; an
/// initializer may also be listed as an input, its default), and the nodes form no cycle.
pub fn check_graph(g: &GraphProto) -> Result<()> {
    // where each name is defined: None = graph input or initializer, Some(i) = node i
    let mut def: HashMap<&str, Option<usize>> = HashMap::new();
    let mut inits: HashMap<&str, ()> = HashMap::new();
    for t in &g.initializer {
        if inits.insert(t.name(), ()).is_some() {
            return Err(malformed(format!("initializer `{}` is defined twice", t.name())));
        }
        def.insert(t.name(), None);
    }
    let mut inputs: HashMap<&str, ()> = HashMap::new();
    for vi in &g.input {
        if inputs.insert(vi.name(), ()).is_some() {
            return Err(malformed(format!("graph input `{}` is listed twice", vi.name())));
        }
        def.insert(vi.name(), None);
    }
    for (i, n) in g.node.iter().enumerate() {
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            match def.insert(o.as_str(), Some(i)) {
                None => {}
                Some(None) => return Err(malformed(format!("node `{}` ({}) defines `{o}`, which is already a graph input or initializer", node_name(n), n.op_type()))),
                Some(Some(j)) => {
                    let first = &g.node[j];
                    return Err(malformed(format!("`{o}` is defined twice: by node `{}` ({}) and by node `{}` ({})", node_name(first), first.op_type(), node_name(n), n.op_type())));
                }
            }
        }
    }
    // a node using a value produced by itself or a later node: a cycle, or merely unsorted
    let producer = |name: &str| def.get(name).copied().flatten();
    for (i, n) in g.node.iter().enumerate() {
        if let Some(j) = n.input.iter().filter(|x| !x.is_empty()).filter_map(|x| producer(x)).find(|&j| j >= i) {
            if let Some(cycle) = find_cycle(g, &producer, i) {
                let names: Vec<String> = cycle.iter().map(|&k| format!("`{}`", node_name(&g.node[k]))).collect();
                return Err(malformed(format!("nodes form a cycle: {} -> `{}`", names.join(" -> "), node_name(&g.node[cycle[0]]))));
            }
            let later = &g.node[j];
            return Err(malformed(format!("node `{}` uses an output of node `{}`, which comes later: nodes must be in topological order", node_name(n), node_name(later))));
        }
    }
    Ok(())
}

/// A cycle through node `start` in the "uses an output of" relation, if there is one.
fn find_cycle(g: &GraphProto, producer: &dyn Fn(&str) -> Option<usize>, start: usize) -> Option<Vec<usize>> {
    // iterative DFS from `start` along inputs' producers, looking for `start` again
    let mut seen = vec![false; g.node.len()];
    let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
    let mut path = vec![start];
    while let Some(&mut (node, ref mut next)) = stack.last_mut() {
        let ins = &g.node[node].input;
        if *next < ins.len() {
            let name = &ins[*next];
            *next += 1;
            match producer(name) {
                Some(p) if p == start => return Some(path.iter().rev().copied().collect()),
                Some(p) if !seen[p] => {
                    seen[p] = true;
                    stack.push((p, 0));
                    path.push(p);
                }
                _ => {}
            }
        } else {
            stack.pop();
            path.pop();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::proto::{NodeProto, OperatorSetIdProto, ValueInfoProto};

    fn node(name: &str, op: &str, ins: &[&str], outs: &[&str]) -> NodeProto {
        NodeProto { name: Some(name.into()), op_type: Some(op.into()), input: ins.iter().map(|s| s.to_string()).collect(), output: outs.iter().map(|s| s.to_string()).collect(), ..Default::default() }
    }

    fn graph(nodes: Vec<NodeProto>) -> GraphProto {
        GraphProto { node: nodes, input: vec![ValueInfoProto { name: Some("x".into()), ..Default::default() }], ..Default::default() }
    }

    fn err(r: Result<()>) -> String {
        r.expect_err("must be refused").to_string()
    }

    #[test]
    fn well_formed_graphs_pass() {
        check_graph(&graph(vec![node("a", "Relu", &["x"], &["y"]), node("b", "Relu", &["y"], &["z"])])).expect("fine");
        // optional inputs left empty, and a node without a name
        check_graph(&graph(vec![node("", "Clip", &["x", "", ""], &["y"])])).expect("fine");
    }

    #[test]
    fn names_defined_twice_are_refused() {
        let e = err(check_graph(&graph(vec![node("a", "Relu", &["x"], &["y"]), node("b", "Neg", &["x"], &["y"])])));
        assert!(e.contains("`y` is defined twice: by node `a` (Relu) and by node `b` (Neg)"), "{e}");
        let e = err(check_graph(&graph(vec![node("a", "Relu", &["x"], &["x"])])));
        assert!(e.contains("node `a` (Relu) defines `x`, which is already a graph input"), "{e}");
        let mut g = graph(vec![]);
        g.input.push(g.input[0].clone());
        assert!(err(check_graph(&g)).contains("graph input `x` is listed twice"));
    }

    #[test]
    fn cycles_are_named() {
        // a -> b -> c -> a, each name defined once
        let g = graph(vec![node("a", "Add", &["x", "w"], &["u"]), node("b", "Relu", &["u"], &["v"]), node("c", "Neg", &["v"], &["w"])]);
        let e = err(check_graph(&g));
        assert!(e.contains("nodes form a cycle") && e.contains("`a`") && e.contains("`b`") && e.contains("`c`"), "{e}");
        // a self-loop
        let e = err(check_graph(&graph(vec![node("s", "Add", &["x", "y"], &["y"])])));
        assert!(e.contains("nodes form a cycle: `s` -> `s`"), "{e}");
        // out of order without a cycle
        let e = err(check_graph(&graph(vec![node("late", "Relu", &["u"], &["v"]), node("early", "Relu", &["x"], &["u"])])));
        assert!(e.contains("topological order"), "{e}");
    }

    #[test]
    fn newer_opsets_are_refused() {
        let opset = |d: &str, v: i64| OperatorSetIdProto { domain: Some(d.into()), version: Some(v) };
        let m = |o: Vec<OperatorSetIdProto>| ModelProto { opset_import: o, graph: Some(graph(vec![])), ..Default::default() };
        check_model(&m(vec![opset("", 13), opset("ai.onnx.ml", 3), opset("com.microsoft", 1), opset("ai.onnx.preview.training", 1)])).expect("known");
        let e = err(check_model(&m(vec![opset("", 99)])));
        assert!(e.contains("opset 99 of `ai.onnx`"), "{e}");
        let e = err(check_model(&m(vec![opset("ai.onnx.ml", 7)])));
        assert!(e.contains("opset 7 of `ai.onnx.ml`"), "{e}");
    }
}
