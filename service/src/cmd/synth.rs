//! `zkinfer synth-mlp --layers 256,1024,10 -o DIR`: writes a synthetic float MLP
//! (`Gemm(transB=1)` + `Relu` between layers, seeded random weights scaled 1/sqrt(fan-in))
//! as DIR/model.onnx with a random DIR/input.json, to benchmark circuits of any size (e.g. a
//! k >= 20 circuit on a GPU machine that has no Python). Encoded with zkinfer's own ONNX
//! protobuf types.

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
    #[arg(long, default_value_t = 0)]
    seed: u64,
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
        nodes.push(proto::NodeProto { op_type: Some("Gemm".into()), name: Some(format!("fc{i}")), input: vec![prev.clone(), format!("w{i}"), format!("b{i}")], output: vec![out.clone()], attribute: vec![trans_b], ..Default::default() });
        prev = out;
        if !last {
            let r = format!("relu{i}");
            nodes.push(proto::NodeProto { op_type: Some("Relu".into()), name: Some(r.clone()), input: vec![prev.clone()], output: vec![r.clone()], ..Default::default() });
            prev = r;
        }
    }
    let graph = proto::GraphProto {
        name: Some("synthetic_mlp".into()),
        node: nodes,
        initializer: inits,
        input: vec![value_info("input", &[1, layers[0]])],
        output: vec![value_info("output", &[1, *layers.last().unwrap_or(&1)])],
        ..Default::default()
    };
    let model = proto::ModelProto {
        ir_version: Some(8),
        producer_name: Some("zkinfer synth-mlp".into()),
        opset_import: vec![proto::OperatorSetIdProto { domain: Some(String::new()), version: Some(13) }],
        graph: Some(graph),
        ..Default::default()
    };
    let input: Vec<f64> = (0..layers[0]).map(|_| (rng.gen_range(0.0..1.0f64) * 256.0).round() / 256.0).collect();
    Ok((model.encode_to_vec(), input))
}

pub fn run(a: Args) -> Result<()> {
    let (bytes, input) = mlp(&a.layers, a.seed)?;
    write_atomic(&a.out.join("model.onnx"), &bytes)?;
    write_json(&a.out.join("input.json"), &serde_json::json!({ "input_data": [input] }))?;
    let macs: usize = a.layers.windows(2).map(|w| w[0] * w[1]).sum();
    say!("synthetic MLP {:?}: {macs} MACs -> {}", a.layers, a.out.join("model.onnx").display());
    Ok(())
}
