//! `zkinfer synth-mlp --layers 256,1024,10 -o DIR`: writes a synthetic float MLP
//! (`Gemm(transB=1)` + `Relu` between layers, seeded random weights scaled 1/sqrt(fan-in))
//! as DIR/model.onnx with a random DIR/input.json, to benchmark circuits of any size (e.g. a
//! k >= 20 circuit on a GPU machine that has no Python). Encoded with zkinfer's own ONNX
//! protobuf types.
//!
//! `zkinfer synth-cnn --input 1,16,16 --channels 8,16 --classes 10 -o DIR`: the same for a
//! CNN: per stage `Conv(3x3, pad 1)` + `Relu` + `MaxPool(2x2, stride 2)`, then `Flatten`
//! and one `Gemm` to the classes.

use std::path::PathBuf;

use anyhow::{bail, Result};
use prost::Message;
use rand::{Rng, SeedableRng};
use zkinfer_circuits::onnx::proto;

use crate::files::{write_atomic, write_json};

#[derive(clap::Args)]
pub struct Args {
    /// Layer widths, input first: e.g. 256,1024,10 is two Gemm layers.
    #[arg(long, value_delimiter = ',', required = true)]
    layers: Vec<usize>,
    /// Output directory (model.onnx, input.json).
    #[arg(short, long)]
    out: PathBuf,
    /// Seed of the random weights and input.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(clap::Args)]
pub struct CnnArgs {
    /// Input channels, height, width: e.g. 1,16,16.
    #[arg(long, value_delimiter = ',', required = true)]
    input: Vec<usize>,
    /// Output channels of each conv stage (each stage halves height and width).
    #[arg(long, value_delimiter = ',', required = true)]
    channels: Vec<usize>,
    /// Outputs of the final Gemm.
    #[arg(long, default_value_t = 10)]
    classes: usize,
    /// Output directory (model.onnx, input.json).
    #[arg(short, long)]
    out: PathBuf,
    /// Seed of the random weights and input.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(clap::Args)]
pub struct AttentionArgs {
    /// Tokens (sequence length).
    #[arg(long, default_value_t = 8)]
    tokens: usize,
    /// Width of each token (and of the query, key and value projections).
    #[arg(long, default_value_t = 16)]
    dim: usize,
    /// Output directory (model.onnx, input.json).
    #[arg(short, long)]
    out: PathBuf,
    /// Seed of the random weights and input.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn ints(name: &str, v: &[i64]) -> proto::AttributeProto {
    proto::AttributeProto { name: Some(name.into()), ints: v.to_vec(), r#type: Some(proto::attribute_proto::AttributeType::Ints as i32), ..Default::default() }
}

fn node(op: &str, name: &str, inputs: &[&str], output: &str, attribute: Vec<proto::AttributeProto>) -> proto::NodeProto {
    proto::NodeProto { op_type: Some(op.into()), name: Some(name.into()), input: inputs.iter().map(|s| s.to_string()).collect(), output: vec![output.into()], attribute, ..Default::default() }
}

fn model_bytes(name: &str, producer: &str, nodes: Vec<proto::NodeProto>, inits: Vec<proto::TensorProto>, input: proto::ValueInfoProto, output: proto::ValueInfoProto) -> Vec<u8> {
    let graph = proto::GraphProto { name: Some(name.into()), node: nodes, initializer: inits, input: vec![input], output: vec![output], ..Default::default() };
    let model = proto::ModelProto {
        ir_version: Some(8),
        producer_name: Some(producer.into()),
        opset_import: vec![proto::OperatorSetIdProto { domain: Some(String::new()), version: Some(13) }],
        graph: Some(graph),
        ..Default::default()
    };
    model.encode_to_vec()
}

/// The synthetic CNN's ONNX bytes, a sample input and its MACs.
pub fn cnn(input: &[usize], channels: &[usize], classes: usize, seed: u64) -> Result<(Vec<u8>, Vec<f64>, usize)> {
    let &[c0, h0, w0] = input else { bail!("--input needs channels,height,width, got {input:?}") };
    if c0 == 0 || h0 == 0 || w0 == 0 || channels.is_empty() || channels.contains(&0) || classes == 0 {
        bail!("--input, --channels and --classes need non-zero sizes");
    }
    if h0 >> channels.len() == 0 || w0 >> channels.len() == 0 {
        bail!("{h0}x{w0} cannot be halved {} times (one 2x2 max pool per stage)", channels.len());
    }
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let (mut nodes, mut inits) = (Vec::new(), Vec::new());
    let (mut c, mut h, mut w) = (c0, h0, w0);
    let mut prev = "input".to_string();
    let mut macs = 0;
    for (i, &co) in channels.iter().enumerate() {
        let s = 1.0 / ((c * 9) as f32).sqrt();
        inits.push(tensor(&format!("cw{i}"), &[co, c, 3, 3], (0..co * c * 9).map(|_| rng.gen_range(-s..s)).collect()));
        inits.push(tensor(&format!("cb{i}"), &[co], (0..co).map(|_| rng.gen_range(-0.1..0.1)).collect()));
        let conv = format!("conv{i}");
        nodes.push(node("Conv", &conv, &[&prev, &format!("cw{i}"), &format!("cb{i}")], &conv, vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1])]));
        macs += co * c * 9 * h * w;
        let relu = format!("relu{i}");
        nodes.push(node("Relu", &relu, &[&conv], &relu, vec![]));
        let pool = format!("pool{i}");
        nodes.push(node("MaxPool", &pool, &[&relu], &pool, vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])]));
        prev = pool;
        (c, h, w) = (co, h / 2, w / 2);
    }
    let flat = c * h * w;
    nodes.push(node("Flatten", "flatten", &[&prev], "flatten", vec![]));
    let s = 1.0 / (flat as f32).sqrt();
    inits.push(tensor("fw", &[classes, flat], (0..classes * flat).map(|_| rng.gen_range(-s..s)).collect()));
    inits.push(tensor("fb", &[classes], (0..classes).map(|_| rng.gen_range(-0.1..0.1)).collect()));
    let trans_b = proto::AttributeProto { name: Some("transB".into()), i: Some(1), r#type: Some(proto::attribute_proto::AttributeType::Int as i32), ..Default::default() };
    nodes.push(node("Gemm", "fc", &["flatten", "fw", "fb"], "output", vec![trans_b]));
    macs += flat * classes;
    let bytes = model_bytes("synthetic_cnn", "zkinfer synth-cnn", nodes, inits, value_info("input", &[1, c0, h0, w0]), value_info("output", &[1, classes]));
    let x: Vec<f64> = (0..c0 * h0 * w0).map(|_| (rng.gen_range(0.0..1.0f64) * 256.0).round() / 256.0).collect();
    Ok((bytes, x, macs))
}

pub fn run_cnn(a: CnnArgs) -> Result<()> {
    let (bytes, input, macs) = cnn(&a.input, &a.channels, a.classes, a.seed)?;
    write_atomic(&a.out.join("model.onnx"), &bytes)?;
    write_json(&a.out.join("input.json"), &serde_json::json!({ "input_data": [input] }))?;
    say!("synthetic CNN {:?} -> {:?} -> {}: {macs} MACs -> {}", a.input, a.channels, a.classes, a.out.join("model.onnx").display());
    Ok(())
}

fn value_info(name: &str, dims: &[usize]) -> proto::ValueInfoProto {
    let dim = dims.iter().map(|&d| proto::tensor_shape_proto::Dimension { value: Some(proto::tensor_shape_proto::dimension::Value::DimValue(d as i64)), ..Default::default() }).collect();
    proto::ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(proto::TypeProto {
            value: Some(proto::type_proto::Value::TensorType(proto::type_proto::Tensor { elem_type: Some(proto::tensor_proto::DataType::Float as i32), shape: Some(proto::TensorShapeProto { dim }) })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn tensor(name: &str, dims: &[usize], data: Vec<f32>) -> proto::TensorProto {
    proto::TensorProto { name: Some(name.into()), dims: dims.iter().map(|&d| d as i64).collect(), data_type: Some(proto::tensor_proto::DataType::Float as i32), float_data: data, ..Default::default() }
}

/// The synthetic MLP's ONNX bytes and a sample input.
pub fn mlp(layers: &[usize], seed: u64) -> Result<(Vec<u8>, Vec<f64>)> {
    if layers.len() < 2 || layers.contains(&0) {
        bail!("--layers needs at least two non-zero widths (input, output), got {layers:?}");
    }
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let (mut nodes, mut inits) = (Vec::new(), Vec::new());
    let mut prev = "input".to_string();
    for (i, w) in layers.windows(2).enumerate() {
        let (fan_in, fan_out) = (w[0], w[1]);
        let s = 1.0 / (fan_in as f32).sqrt();
        let weight: Vec<f32> = (0..fan_in * fan_out).map(|_| rng.gen_range(-s..s)).collect();
        let bias: Vec<f32> = (0..fan_out).map(|_| rng.gen_range(-0.1..0.1)).collect();
        inits.push(tensor(&format!("w{i}"), &[fan_out, fan_in], weight));
        inits.push(tensor(&format!("b{i}"), &[fan_out], bias));
        let last = i + 2 == layers.len();
        let out = if last { "output".to_string() } else { format!("fc{i}") };
        let trans_b = proto::AttributeProto { name: Some("transB".into()), i: Some(1), r#type: Some(proto::attribute_proto::AttributeType::Int as i32), ..Default::default() };
        nodes.push(node("Gemm", &format!("fc{i}"), &[&prev, &format!("w{i}"), &format!("b{i}")], &out, vec![trans_b]));
        prev = out;
        if !last {
            let r = format!("relu{i}");
            nodes.push(node("Relu", &r, &[&prev], &r, vec![]));
            prev = r;
        }
    }
    let bytes = model_bytes("synthetic_mlp", "zkinfer synth-mlp", nodes, inits, value_info("input", &[1, layers[0]]), value_info("output", &[1, *layers.last().unwrap_or(&1)]));
    let input: Vec<f64> = (0..layers[0]).map(|_| (rng.gen_range(0.0..1.0f64) * 256.0).round() / 256.0).collect();
    Ok((bytes, input))
}

/// A single-head self-attention block's ONNX bytes and a sample input: for x of shape
/// [1, tokens, dim], q, k, v = x·Wq, x·Wk, x·Wv and the output softmax(q·kᵀ / √dim)·v.
pub fn attention(tokens: usize, dim: usize, seed: u64) -> Result<(Vec<u8>, Vec<f64>)> {
    if tokens == 0 || dim == 0 {
        bail!("--tokens and --dim must be non-zero");
    }
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let s = 1.0 / (dim as f32).sqrt();
    let mut inits: Vec<proto::TensorProto> = ["wq", "wk", "wv"].iter().map(|n| tensor(n, &[dim, dim], (0..dim * dim).map(|_| rng.gen_range(-s..s)).collect())).collect();
    inits.push(tensor("scale", &[], vec![(dim as f32).sqrt()]));
    let nodes = vec![
        node("MatMul", "q", &["input", "wq"], "q", vec![]),
        node("MatMul", "k", &["input", "wk"], "k", vec![]),
        node("MatMul", "v", &["input", "wv"], "v", vec![]),
        node("Transpose", "kt", &["k"], "kt", vec![ints("perm", &[0, 2, 1])]),
        node("MatMul", "scores", &["q", "kt"], "scores", vec![]),
        node("Div", "scaled", &["scores", "scale"], "scaled", vec![]),
        node("Softmax", "attn", &["scaled"], "attn", vec![proto::AttributeProto { name: Some("axis".into()), i: Some(-1), r#type: Some(proto::attribute_proto::AttributeType::Int as i32), ..Default::default() }]),
        node("MatMul", "out", &["attn", "v"], "output", vec![]),
    ];
    let bytes = model_bytes("synthetic_attention", "zkinfer synth-attention", nodes, inits, value_info("input", &[1, tokens, dim]), value_info("output", &[1, tokens, dim]));
    let input: Vec<f64> = (0..tokens * dim).map(|_| (rng.gen_range(-2.0..2.0f64) * 256.0).round() / 256.0).collect();
    Ok((bytes, input))
}

pub fn run_attention(a: AttentionArgs) -> Result<()> {
    let (bytes, input) = attention(a.tokens, a.dim, a.seed)?;
    write_atomic(&a.out.join("model.onnx"), &bytes)?;
    write_json(&a.out.join("input.json"), &serde_json::json!({ "input_data": [input] }))?;
    say!("synthetic attention block: {} tokens of width {} -> {}", a.tokens, a.dim, a.out.join("model.onnx").display());
    Ok(())
}

pub fn run(a: Args) -> Result<()> {
    let (bytes, input) = mlp(&a.layers, a.seed)?;
    write_atomic(&a.out.join("model.onnx"), &bytes)?;
    write_json(&a.out.join("input.json"), &serde_json::json!({ "input_data": [input] }))?;
    let macs: usize = a.layers.windows(2).map(|w| w[0] * w[1]).sum();
    say!("synthetic MLP {:?}: {macs} MACs -> {}", a.layers, a.out.join("model.onnx").display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkinfer_circuits::ops::Op;

    /// A biased projection then LayerNormalization: [1, 4, d] -> MatMul -> Add (a bias per
    /// channel, which keeps the sum from moving lazily through wires) -> LayerNormalization.
    fn projected_layer_norm(d: usize) -> Vec<u8> {
        let w = tensor("w", &[d, d], (0..d * d).map(|i| ((i * 7 % 13) as f32 - 6.0) / 20.0).collect());
        let b = tensor("b", &[d], (0..d).map(|i| i as f32 / 10.0).collect());
        let gamma = tensor("g", &[d], vec![1.0; d]);
        let beta = tensor("be", &[d], vec![0.5; d]);
        let nodes = vec![node("MatMul", "p", &["input", "w"], "p", vec![]), node("Add", "pb", &["p", "b"], "pb", vec![]), node("LayerNormalization", "ln", &["pb", "g", "be"], "output", vec![])];
        model_bytes("ln", "test", nodes, vec![w, b, gamma, beta], value_info("input", &[1, 4, d]), value_info("output", &[1, 4, d]))
    }

    /// The projection's value, which the mean reads once per channel, is requantized once
    /// whatever the normalized length (it used to be once per channel: 16 Rescales of the
    /// whole tensor at d = 16), and the outputs still follow the definition.
    #[test]
    fn a_layer_norm_requantizes_its_input_once() {
        let opts = zkinfer_circuits::onnx::ImportOptions::default();
        let mut counts = Vec::new();
        for d in [8, 16] {
            let g = zkinfer_circuits::onnx::import_bytes(&projected_layer_norm(d), &opts).expect("import");
            let dense = g.nodes.iter().find(|n| matches!(n.op, Op::Dense(_))).expect("the projection").output;
            let reads = g.nodes.iter().filter(|n| matches!(&n.op, Op::Rescale(r) if r.terms.iter().any(|t| t.input == dense))).count();
            counts.push(reads);
            // the normalized rows: mean 0.5 (beta), spread 1 (gamma), within the fixed point
            let x: Vec<f64> = (0..4 * d).map(|i| ((i * 5 % 11) as f64 - 5.0) / 4.0).collect();
            let q = zkinfer_circuits::exec::quantize_input(&g.inputs[0], &x, true).expect("quantize");
            let out = zkinfer_circuits::exec::outputs(&g, &[q]).expect("run");
            let y = zkinfer_circuits::exec::dequantize(g.outputs[0].scale, g.outputs[0].zero_point, &out[0]);
            for row in y.chunks(d) {
                let mean = row.iter().sum::<f64>() / d as f64;
                let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
                assert!((mean - 0.5).abs() < 0.01 && (var - 1.0).abs() < 0.02, "d {d}: mean {mean}, variance {var}");
            }
        }
        assert_eq!(counts[0], counts[1], "Rescales of the projection for d = 8 and 16: {counts:?}");
        assert!(counts[0] <= 2, "{counts:?}");
    }

    /// The mean of a layer norm is the row's exact sum, made once per row (unit multipliers,
    /// shift 0), so the centered values are requantized from two or three terms rather than
    /// from x and every slice of the row (d + 1 terms a value).
    #[test]
    fn a_layer_norm_centres_on_an_exact_row_sum() {
        let opts = zkinfer_circuits::onnx::ImportOptions::default();
        for d in [8, 16] {
            let g = zkinfer_circuits::onnx::import_bytes(&projected_layer_norm(d), &opts).expect("import");
            let rescales: Vec<_> = g.nodes.iter().filter_map(|n| if let Op::Rescale(r) = &n.op { Some((n.output, r)) } else { None }).collect();
            let per_value = rescales.iter().filter(|(o, _)| g.info(*o).shape.iter().product::<usize>() == 4 * d).map(|(_, r)| r.terms.len()).max();
            assert!(per_value.is_some_and(|t| t <= 3), "d {d}: most terms of a Rescale over the whole tensor: {per_value:?}");
            let sums = rescales.iter().filter(|(o, r)| g.info(*o).shape.iter().product::<usize>() == 4 && r.terms.len() == d && r.shift == 0 && r.terms.iter().all(|t| t.mult == [1])).count();
            assert_eq!(sums, 1, "d {d}: one exact row sum");
        }
    }
}
