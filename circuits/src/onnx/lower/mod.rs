//! ONNX graph -> IR. Nodes are visited in order (ONNX requires topological order); each ONNX
//! value becomes a [`Sym`]; each op family has a module, and [`lower_node`] is the registry.

mod elementwise;
mod linear;
mod pool;
mod qop;
mod quant;
mod shape;

use std::collections::HashMap;

use super::attrs::node_name;
use super::consts;
use super::proto::{type_proto, GraphProto, NodeProto};
use super::sym::{Lowering, Real, Sym};
use super::ImportOptions;
use crate::error::{CircuitError, Result};
use crate::ir::{Graph, OutputSpec};

/// Inputs of one node, looked up by name (`None` for an omitted optional input).
pub type Ins<'a> = Vec<Option<&'a Sym>>;

fn lower_node(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let out = match (n.domain(), n.op_type()) {
        ("" | "ai.onnx", op) => match op {
            "Gemm" => linear::gemm(lw, n, ins)?,
            "MatMul" => linear::matmul(lw, n, ins)?,
            "Conv" => linear::conv(lw, n, ins)?,
            "Add" => elementwise::add(lw, n, ins)?,
            "Sub" => elementwise::sub(lw, n, ins)?,
            "Relu" => elementwise::relu(lw, n, ins)?,
            "Clip" => elementwise::clip(lw, n, ins)?,
            "Reshape" => shape::reshape(lw, n, ins)?,
            "Flatten" => shape::flatten(lw, n, ins)?,
            "Identity" | "Dropout" => shape::identity(lw, n, ins)?,
            "Constant" => shape::constant(n)?,
            "MaxPool" => pool::max_pool(lw, n, ins)?,
            "AveragePool" => pool::average_pool(lw, n, ins, false)?,
            "GlobalAveragePool" => pool::average_pool(lw, n, ins, true)?,
            "QuantizeLinear" => quant::quantize(lw, n, ins)?,
            "DequantizeLinear" => quant::dequantize(lw, n, ins)?,
            "QLinearConv" => qop::qlinear_conv(lw, n, ins)?,
            "QLinearMatMul" => qop::qlinear_matmul(lw, n, ins)?,
            _ => return Err(unsupported(n)),
        },
        ("com.microsoft", op) => match op {
            "QGemm" => qop::qgemm(lw, n, ins)?,
            "QLinearAdd" => qop::qlinear_add(lw, n, ins)?,
            "QLinearAveragePool" => qop::qlinear_average_pool(lw, n, ins, false)?,
            "QLinearGlobalAveragePool" => qop::qlinear_average_pool(lw, n, ins, true)?,
            _ => return Err(unsupported(n)),
        },
        _ => return Err(unsupported(n)),
    };
    Ok(out)
}

fn unsupported(n: &NodeProto) -> CircuitError {
    let domain = match n.domain() {
        "" | "ai.onnx" => String::new(),
        d => format!(" (domain {d})"),
    };
    CircuitError::UnsupportedOp { op: n.op_type().to_string(), node: node_name(n), hint: domain }
}

/// Error for a node input that must exist.
pub(crate) fn need<'a>(n: &NodeProto, ins: &Ins<'a>, i: usize) -> Result<&'a Sym> {
    ins.get(i).copied().flatten().ok_or_else(|| CircuitError::Malformed(format!("node `{}` ({}) lacks input {i}", node_name(n), n.op_type())))
}

pub(crate) fn unsupported_use(n: &NodeProto, why: impl Into<String>) -> CircuitError {
    CircuitError::Unsupported { op: n.op_type().into(), node: node_name(n), why: why.into() }
}

/// Static shape of a graph input (symbolic dimensions such as a batch size become 1).
fn input_shape(vi: &super::proto::ValueInfoProto) -> Result<(Vec<usize>, i32)> {
    let bad = || CircuitError::Malformed(format!("graph input `{}` has no tensor type", vi.name()));
    let tt = match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => t,
        _ => return Err(bad()),
    };
    let dims = tt.shape.as_ref().map(|s| s.dim.as_slice()).unwrap_or(&[]);
    let shape = dims
        .iter()
        .map(|d| match &d.value {
            Some(super::proto::tensor_shape_proto::dimension::Value::DimValue(v)) if *v > 0 => Ok(*v as usize),
            Some(super::proto::tensor_shape_proto::dimension::Value::DimValue(v)) => {
                Err(CircuitError::Malformed(format!("graph input `{}` has dimension {v}", vi.name())))
            }
            _ => Ok(1),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((shape, tt.elem_type()))
}

pub fn lower(graph: &GraphProto, opts: &ImportOptions) -> Result<Graph> {
    if opts.act_bits < 2 || opts.act_bits > 40 || opts.input_scale_bits > 32 || opts.param_scale_bits > 32 || opts.act_scale_bits > 32 {
        return Err(CircuitError::Internal(format!("fixed-point options out of range: {opts:?}")));
    }
    let mut lw = Lowering { g: Graph::default(), opts, quantized_inputs: HashMap::new() };
    let mut syms: HashMap<String, Sym> = HashMap::new();
    for t in &graph.initializer {
        syms.insert(t.name().to_string(), Sym::Const(consts::decode(t)?));
    }
    let mut input_order = Vec::new();
    for vi in &graph.input {
        if syms.contains_key(vi.name()) {
            continue;
        }
        let (shape, elem) = input_shape(vi)?;
        if elem != super::proto::tensor_proto::DataType::Float as i32 {
            return Err(CircuitError::Unsupported {
                op: "input".into(),
                node: vi.name().into(),
                why: format!("only float32 model inputs are supported (element type {elem})"),
            });
        }
        input_order.push(vi.name().to_string());
        syms.insert(vi.name().to_string(), Sym::FloatInput { name: vi.name().to_string(), shape });
    }
    if input_order.is_empty() {
        return Err(CircuitError::Malformed("the graph has no (non-constant) inputs".into()));
    }
    for n in &graph.node {
        let ins: Ins = n.input.iter().map(|i| if i.is_empty() { None } else { syms.get(i) }).collect();
        for (i, name) in n.input.iter().enumerate() {
            if !name.is_empty() && ins[i].is_none() {
                return Err(CircuitError::Malformed(format!("node `{}` uses `{name}`, which no earlier node produces", node_name(n))));
            }
        }
        let outs = lower_node(&mut lw, n, &ins)?;
        for (name, s) in n.output.iter().zip(outs) {
            if !name.is_empty() {
                syms.insert(name.clone(), s);
            }
        }
    }
    for vo in &graph.output {
        let s = syms.get(vo.name()).ok_or_else(|| CircuitError::Malformed(format!("graph output `{}` is never produced", vo.name())))?;
        let r: Real = lw.real(s, vo.name())?;
        let q = lw.plain(&r, vo.name())?;
        let shape = lw.g.info(q.id).shape.clone();
        lw.g.outputs.push(OutputSpec { name: vo.name().into(), value: q.id, shape, scale: q.scale, zero_point: q.zp });
    }
    // inputs no node used still get a spec, and all keep the ONNX order
    for name in &input_order {
        if !lw.g.inputs.iter().any(|i| &i.name == name) {
            if let Some(s @ Sym::FloatInput { .. }) = syms.get(name) {
                let s = s.clone();
                lw.real(&s, name)?;
            }
        }
    }
    lw.g.inputs.sort_by_key(|i| input_order.iter().position(|n| *n == i.name));
    Ok(lw.g)
}
