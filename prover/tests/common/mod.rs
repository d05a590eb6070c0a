//! Shared fixtures: a tiny hand-built model (Dense 6 -> 4, then Rescale to u8), its circuit,
//! and a dev SRS + keys made once per test binary.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use zkinfer_circuits::ir::{Graph, InputSpec, OutputSpec, Tensor};
use zkinfer_circuits::layout::circuit::{instance_values, ModelCircuit};
use zkinfer_circuits::layout::ctx::Shape;
use zkinfer_circuits::layout::lay_out;
use zkinfer_circuits::ops::{Dense, Op, Rescale, RescaleTerm};
use zkinfer_prover::{keygen, k_for_rows, srs, Bn256, Fr, G1Affine, ParamsKZG, ProvingKey};

/// The tiny model: y = clamp(round((W·(x - 17) + b) · m / 2^32) + 3, 3, 255).
pub fn tiny_graph() -> Graph {
    let mut g = Graph::default();
    let x = g.add_value("x", vec![1, 6], 0, 255).expect("small bound");
    g.inputs.push(InputSpec { name: "x".into(), value: x, shape: vec![1, 6], scale: 1.0 / 255.0, zero_point: 0, lo: 0, hi: 255, saturates: false, visibility: Default::default() });
    let w = Tensor::new(vec![4, 6], vec![3, -7, 12, 0, 5, -1, 127, 127, 127, 127, 127, 127, -128, -128, -90, -80, -70, -60, 1, 2, 3, 4, 5, 6])
        .expect("shape");
    let d = g.add_node("fc", Op::Dense(Dense { input: x, input_zp: 17, weight: w, bias: vec![100, -5, 7, -1000], params: None })).expect("dense");
    let r = Rescale {
        terms: vec![RescaleTerm { input: d, zero_point: 0, mult: vec![1_234_567] }],
        channel_axis: 1,
        bias: vec![],
        shift: 32,
        out_zp: 3,
        lo: 3,
        hi: 255,
        half_even: false,
    };
    let y = g.add_node("q", Op::Rescale(r)).expect("rescale");
    g.outputs.push(OutputSpec { name: "y".into(), value: y, shape: vec![1, 4], scale: 0.05, zero_point: 3, visibility: Default::default() });
    g
}

/// A Dense `n_in -> n_out` model with deterministic small weights, then Rescale to u8.
pub fn dense_graph(n_in: usize, n_out: usize) -> Graph {
    let mut g = Graph::default();
    let x = g.add_value("x", vec![1, n_in], 0, 255).expect("small bound");
    g.inputs.push(InputSpec { name: "x".into(), value: x, shape: vec![1, n_in], scale: 1.0 / 255.0, zero_point: 0, lo: 0, hi: 255, saturates: false, visibility: Default::default() });
    let data = (0..n_in * n_out).map(|i| ((i * 37 + 11) % 255) as i64 - 127).collect();
    let w = Tensor::new(vec![n_out, n_in], data).expect("shape");
    let d = g.add_node("fc", Op::Dense(Dense { input: x, input_zp: 0, weight: w, bias: vec![0; n_out], params: None })).expect("dense");
    let r = Rescale {
        terms: vec![RescaleTerm { input: d, zero_point: 0, mult: vec![1 << 20] }],
        channel_axis: 1,
        bias: vec![],
        shift: 32,
        out_zp: 0,
        lo: 0,
        hi: 255,
        half_even: false,
    };
    let y = g.add_node("q", Op::Rescale(r)).expect("rescale");
    g.outputs.push(OutputSpec { name: "y".into(), value: y, shape: vec![1, n_out], scale: 1.0, zero_point: 0, visibility: Default::default() });
    g
}

/// Setup for an arbitrary graph and input.
pub fn setup_graph(g: &Graph, input: Tensor, shape: Shape) -> Setup {
    let ctx = lay_out(g, &[input], shape).expect("layout");
    let instances = instance_values(&ctx);
    let circuit = ModelCircuit { ctx };
    let k = k_for_rows(circuit.rows());
    let (params, _) = srs::dev_srs(k).expect("dev srs");
    let pk = keygen(&params, &circuit).expect("keygen");
    Setup { circuit, instances, k, params, pk }
}

pub fn tiny_input() -> Tensor {
    Tensor::new(vec![1, 6], vec![0, 255, 17, 100, 3, 200]).expect("shape")
}

/// The tiny model's circuit and its public instances.
pub fn tiny_circuit(shape: Shape) -> (ModelCircuit, Vec<Fr>) {
    let ctx = lay_out(&tiny_graph(), &[tiny_input()], shape).expect("layout");
    let inst = instance_values(&ctx);
    (ModelCircuit { ctx }, inst)
}

pub struct Setup {
    pub circuit: ModelCircuit,
    pub instances: Vec<Fr>,
    pub k: u32,
    pub params: ParamsKZG<Bn256>,
    pub pk: ProvingKey<G1Affine>,
}

/// Dev SRS and keys for the tiny circuit with `shape`, with timings on stderr.
pub fn setup(shape: Shape) -> Setup {
    let (circuit, instances) = tiny_circuit(shape);
    let k = k_for_rows(circuit.rows());
    let t = Instant::now();
    let (params, _) = srs::dev_srs(k).expect("dev srs");
    eprintln!("[timing] dev_srs(k = {k}): {:.2?}", t.elapsed());
    let t = Instant::now();
    let pk = keygen(&params, &circuit).expect("keygen");
    eprintln!("[timing] keygen ({} rows, shape {shape:?}): {:.2?}", circuit.rows(), t.elapsed());
    Setup { circuit, instances, k, params, pk }
}

/// The default-shape setup, made once per test binary.
pub fn shared() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| setup(Shape::default()))
}

/// A fresh, empty scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("zkinfer-prover").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A seeded RNG for proving.
pub fn rng() -> rand_chacha::ChaCha20Rng {
    use rand::SeedableRng;
    rand_chacha::ChaCha20Rng::seed_from_u64(42)
}
