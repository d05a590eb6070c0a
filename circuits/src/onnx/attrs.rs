//! Typed access to ONNX node attributes.

use super::proto::{AttributeProto, NodeProto};
use crate::error::{CircuitError, Result};

/// The name used for a node in errors: its name, else its first output.
pub fn node_name(n: &NodeProto) -> String {
    match n.name() {
        "" => n.output.first().cloned().unwrap_or_else(|| "<unnamed>".into()),
        s => s.to_string(),
    }
}

fn find<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name() == name)
}

pub fn int(n: &NodeProto, name: &str, default: i64) -> i64 {
    find(n, name).map_or(default, |a| a.i())
}

pub fn float(n: &NodeProto, name: &str, default: f32) -> f32 {
    find(n, name).map_or(default, |a| a.f())
}

pub fn ints(n: &NodeProto, name: &str) -> Option<Vec<i64>> {
    find(n, name).map(|a| a.ints.clone())
}

pub fn string(n: &NodeProto, name: &str) -> Option<String> {
    find(n, name).map(|a| String::from_utf8_lossy(a.s()).into_owned())
}

/// Converts an attribute list of non-negative ints to usize, naming the attribute on error.
pub fn usizes(n: &NodeProto, name: &str, v: &[i64]) -> Result<Vec<usize>> {
    v.iter()
        .map(|&x| {
            usize::try_from(x).map_err(|_| CircuitError::Unsupported {
                op: n.op_type().into(),
                node: node_name(n),
                why: format!("attribute `{name}` has negative entry {x}"),
            })
        })
        .collect()
}
