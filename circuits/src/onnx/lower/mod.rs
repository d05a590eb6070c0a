//! ONNX graph -> IR. Nodes are visited in order (ONNX requires topological order); each ONNX
//! value becomes a [`Sym`]; each op family has a module, and [`lower_node`] is the registry.

mod conv_ext;
mod dynq;
mod elementwise;
mod gather_dyn;
mod linear;
mod math;
mod ml;
mod pool;
mod qop;
mod quant;
mod recurrent;
mod reduce;
mod shape;
mod trees;
mod wiring;

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
            "Sum" => elementwise::sum(lw, n, ins, false)?,
            "Mean" => elementwise::sum(lw, n, ins, true)?,
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
            "DynamicQuantizeLinear" => dynq::dynamic_quantize_linear(lw, n, ins)?,
            "MatMulInteger" => dynq::matmul_integer(lw, n, ins)?,
            "ConvInteger" => dynq::conv_integer(lw, n, ins)?,
            "QLinearConv" => qop::qlinear_conv(lw, n, ins)?,
            "QLinearMatMul" => qop::qlinear_matmul(lw, n, ins)?,
            "Mul" => math::mul(lw, n, ins)?,
            "Div" => math::div(lw, n, ins)?,
            "Pow" => math::pow(lw, n, ins)?,
            "Neg" | "Abs" | "Sign" | "Floor" | "Ceil" | "Round" | "Sqrt" | "Reciprocal" => math::unary_simple(lw, n, ins, op)?,
            "Min" => math::min_max(lw, n, ins, false)?,
            "Max" => math::min_max(lw, n, ins, true)?,
            "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "Equal" => math::compare(lw, n, ins, op)?,
            "Not" | "And" | "Or" | "Xor" => math::logic(lw, n, ins, op)?,
            "Where" => math::where_(lw, n, ins)?,
            "Cast" | "CastLike" => math::cast(lw, n, ins)?,
            "Sigmoid" | "Tanh" | "Erf" | "Exp" | "Log" | "Softplus" | "Gelu" | "Elu" | "Selu" | "Celu" | "Mish" | "HardSwish" | "Sin"
            | "Cos" | "Atan" | "LeakyRelu" | "HardSigmoid" | "PRelu" | "Softsign" => math::nonlinear(lw, n, ins)?,
            "ReduceSum" | "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceL1" | "ReduceL2" | "ReduceSumSquare"
            | "ReduceLogSumExp" => reduce::reduce(lw, n, ins)?,
            "ArgMax" => reduce::arg_max(lw, n, ins, true)?,
            "ArgMin" => reduce::arg_max(lw, n, ins, false)?,
            "Softmax" => reduce::softmax(lw, n, ins, false)?,
            "LogSoftmax" => reduce::softmax(lw, n, ins, true)?,
            "CumSum" => reduce::cumsum(lw, n, ins)?,
            "BatchNormalization" => reduce::batch_norm(lw, n, ins)?,
            "LayerNormalization" => reduce::layer_norm(lw, n, ins)?,
            "InstanceNormalization" => reduce::instance_norm(lw, n, ins)?,
            "Concat" => wiring::concat(lw, n, ins)?,
            "TopK" => gather_dyn::top_k(lw, n, ins)?,
            "ConvTranspose" => conv_ext::conv_transpose(lw, n, ins)?,
            "LpPool" => conv_ext::lp_pool(lw, n, ins, false)?,
            "GlobalLpPool" => conv_ext::lp_pool(lw, n, ins, true)?,
            "ScatterND" => gather_dyn::scatter_nd(lw, n, ins)?,
            "ScatterElements" | "Scatter" => gather_dyn::scatter_elements(lw, n, ins)?,
            "RNN" | "GRU" | "LSTM" => recurrent::rnn(lw, n, ins)?,
            "NonZero" => gather_dyn::non_zero(lw, n, ins)?,
            "Slice" => wiring::slice(lw, n, ins)?,
            "Split" => wiring::split(lw, n, ins)?,
            "Transpose" => wiring::transpose(lw, n, ins)?,
            "Gather" => wiring::gather(lw, n, ins)?,
            "GatherElements" => wiring::gather_elements(lw, n, ins)?,
            "GatherND" => wiring::gather_nd(lw, n, ins)?,
            "Pad" => wiring::pad(lw, n, ins)?,
            "Squeeze" => wiring::squeeze(lw, n, ins, false)?,
            "Unsqueeze" => wiring::squeeze(lw, n, ins, true)?,
            "Expand" => wiring::expand(lw, n, ins)?,
            "Tile" => wiring::tile(lw, n, ins)?,
            "Trilu" => wiring::trilu(lw, n, ins)?,
            "Resize" | "Upsample" => wiring::resize(lw, n, ins)?,
            "DepthToSpace" => wiring::depth_to_space(lw, n, ins, true)?,
            "SpaceToDepth" => wiring::depth_to_space(lw, n, ins, false)?,
            "Shape" => wiring::shape_op(lw, n, ins)?,
            "Size" => {
                let k: usize = lw.shape(need(n, ins, 0)?).unwrap_or_default().iter().product();
                vec![Sym::Const(consts::Const { dims: vec![], dtype: super::proto::tensor_proto::DataType::Int64, data: consts::ConstData::Int(vec![k as i64]) })]
            }
            "ConstantOfShape" => wiring::constant_of_shape(lw, n, ins)?,
            "Range" => wiring::range(lw, n, ins)?,
            "EyeLike" => wiring::eye_like(lw, n, ins)?,
            _ => return Err(unsupported(n)),
        },
        ("ai.onnx.ml", op) => match op {
            "TreeEnsembleClassifier" => trees::classifier(lw, n, ins)?,
            "TreeEnsembleRegressor" => trees::regressor(lw, n, ins)?,
            "LinearClassifier" => ml::linear_classifier(lw, n, ins)?,
            "LinearRegressor" => ml::linear_regressor(lw, n, ins)?,
            "SVMRegressor" => ml::svm_regressor(lw, n, ins)?,
            "SVMClassifier" => ml::svm_classifier(lw, n, ins)?,
            "Scaler" => ml::scaler(lw, n, ins)?,
            "Normalizer" => ml::normalizer(lw, n, ins)?,
            "Binarizer" => ml::binarizer(lw, n, ins)?,
            "Imputer" => ml::imputer(lw, n, ins)?,
            "ArrayFeatureExtractor" => ml::array_feature_extractor(lw, n, ins)?,
            "FeatureVectorizer" => ml::feature_vectorizer(lw, n, ins)?,
            "ZipMap" => ml::zip_map(lw, n, ins)?,
            "OneHotEncoder" => ml::one_hot_encoder(lw, n, ins)?,
            "LabelEncoder" => ml::label_encoder(lw, n, ins)?,
            _ => return Err(unsupported(n)),
        },
        ("com.microsoft", op) => match op {
            "QGemm" => qop::qgemm(lw, n, ins)?,
            "QLinearAdd" => qop::qlinear_add(lw, n, ins)?,
            "QLinearAveragePool" => qop::qlinear_average_pool(lw, n, ins, false)?,
            "QLinearGlobalAveragePool" => qop::qlinear_average_pool(lw, n, ins, true)?,
            "DynamicQuantizeMatMul" => dynq::dynamic_quantize_matmul(lw, n, ins)?,
            "MatMulIntegerToFloat" => dynq::matmul_integer_to_float(lw, n, ins)?,
            "FusedMatMul" => dynq::fused_matmul(lw, n, ins)?,
            "Gelu" | "BiasGelu" => dynq::gelu(lw, n, ins, "none")?,
            "FastGelu" => dynq::gelu(lw, n, ins, "tanh")?,
            "SkipLayerNormalization" => dynq::skip_layer_norm(lw, n, ins)?,
            "QLinearSigmoid" => dynq::qlinear_unary(lw, n, ins, "Sigmoid")?,
            "QLinearLeakyRelu" => dynq::qlinear_unary(lw, n, ins, "LeakyRelu")?,
            "QLinearMul" => dynq::qlinear_mul(lw, n, ins)?,
            "QLinearConcat" => dynq::qlinear_concat(lw, n, ins)?,
            "QLinearSoftmax" => dynq::qlinear_softmax(lw, n, ins)?,
            "DynamicQuantizeLSTM" => dynq::dynamic_quantize_lstm(lw, n, ins)?,
            "Attention" => dynq::attention(lw, n, ins)?,
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

/// A copy of `n` under another name, for the sub-steps an op is lowered into.
pub(crate) fn named(n: &NodeProto, name: &str) -> NodeProto {
    let mut m = n.clone();
    m.name = Some(name.to_string());
    m
}

/// A node of another op type (no attributes) standing for a sub-step of `n`.
pub(crate) fn sub_node(n: &NodeProto, op: &str, name: &str) -> NodeProto {
    let mut m = named(n, name);
    m.op_type = Some(op.to_string());
    m.attribute.clear();
    m
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
    let mut lw = Lowering { g: Graph::default(), opts, quantized_inputs: HashMap::new(), plain_made: HashMap::new() };
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
        use super::proto::tensor_proto::DataType as D;
        let big = 1i64 << (opts.act_bits - 1);
        let int_range = match D::try_from(elem) {
            Ok(D::Float | D::Double | D::Float16 | D::Bfloat16) => None,
            Ok(D::Bool) => Some((0, 1)),
            Ok(D::Int64 | D::Int32) => Some((-big, big - 1)),
            Ok(dt) => match consts::int_range(dt) {
                Some(r) => Some(r),
                None => {
                    return Err(CircuitError::Unsupported {
                        op: "input".into(),
                        node: vi.name().into(),
                        why: format!("model inputs of element type {dt:?} are not supported"),
                    })
                }
            },
            Err(_) => return Err(CircuitError::Malformed(format!("graph input `{}` has unknown element type {elem}", vi.name()))),
        };
        input_order.push(vi.name().to_string());
        syms.insert(vi.name().to_string(), Sym::FloatInput { name: vi.name().to_string(), shape, int_range });
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
        lw.g.outputs.push(OutputSpec { name: vo.name().into(), value: q.id, shape, scale: q.scale, zero_point: q.zp, visibility: Default::default() });
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
