//! Circuit tests on hand-built graphs: the layout agrees with the reference executor, the
//! MockProver accepts, and corrupting any sampled witness cell or an output is rejected.

use halo2_proofs::dev::MockProver;
use halo2_proofs::halo2curves::bn256::Fr;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::circuit::{instance_values, ModelCircuit};
use super::ctx::{Col, Shape};
use super::lay_out;
use crate::exec;
use crate::ir::{Graph, InputSpec, OutputSpec, Tensor};
use crate::ops::window::Window2d;
use crate::ops::{Conv, Dense, MaxPool, Op, Rescale, RescaleTerm, Reshape, SumPool};

pub(crate) fn k_for(rows: usize) -> u32 {
    (rows + 16).next_power_of_two().trailing_zeros()
}

/// Runs every check on one graph and input; `samples` witness cells are corrupted one by one.
pub(crate) fn check_graph(g: &Graph, inputs: &[Tensor], samples: usize) {
    let expected = exec::outputs(g, inputs).expect("executor runs");
    let ctx = lay_out(g, inputs, Shape::default()).expect("layout");
    ctx.check().expect("integer witness satisfies the gates");
    let inst = instance_values(&ctx);
    let want = crate::public::instances(g, inputs, &expected).expect("values in range");
    assert_eq!(inst, want, "layout instances equal the packed reference inputs and outputs");
    assert_eq!(inst.len(), g.num_instances());

    let circuit = ModelCircuit { ctx: ctx.clone() };
    let k = k_for(circuit.rows());
    let res = MockProver::run(k, &circuit, vec![inst.clone()]).expect("mock runs").verify();
    assert!(res.is_ok(), "honest witness rejected: {} failures, first {:?}", res.as_ref().err().map_or(0, |e| e.len()), res.as_ref().err().and_then(|e| e.first().map(|f| format!("{f:?}"))));

    // the binding instance is constrained: a witness for one binding proves only that binding
    let binding = Fr::from(0x5eed_u64) + Fr::from(u64::MAX) * Fr::from(u64::MAX);
    let mut bound = ModelCircuit { ctx: ctx.clone() };
    bound.ctx.binding = binding;
    let mut bound_inst = inst.clone();
    bound_inst[crate::public::BINDING] = binding;
    assert_eq!(instance_values(&bound.ctx), bound_inst);
    assert!(MockProver::run(k, &bound, vec![bound_inst.clone()]).expect("mock runs").verify().is_ok(), "bound witness rejected");
    assert!(MockProver::run(k, &bound, vec![inst.clone()]).expect("mock runs").verify().is_err(), "binding not enforced");
    assert!(MockProver::run(k, &circuit, vec![bound_inst]).expect("mock runs").verify().is_err(), "binding not enforced");

    // a wrong output must be rejected
    let mut bad = inst.clone();
    let last = bad.len() - 1;
    bad[last] += Fr::one();
    assert!(MockProver::run(k, &circuit, vec![bad]).expect("mock runs").verify().is_err(), "wrong output accepted");

    // every sampled witness cell is constrained
    let mut cells = Vec::new();
    for (r, row) in ctx.rows.iter().enumerate() {
        for (j, x) in row.x.iter().enumerate() {
            if x.is_some() {
                cells.push((r, Col::X(j)));
            }
        }
        if row.out.is_some() {
            cells.push((r, Col::Out));
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..samples.min(cells.len()) {
        let (r, col) = cells[rng.gen_range(0..cells.len())];
        let mut bad = ctx.clone();
        match col {
            Col::X(j) => {
                if let Some(x) = bad.rows[r].x[j].as_mut() {
                    x.val += 1;
                }
            }
            Col::Out => bad.rows[r].out = bad.rows[r].out.map(|v| v + 1),
        }
        let c = ModelCircuit { ctx: bad };
        let res = MockProver::run(k, &c, vec![inst.clone()]).expect("mock runs").verify();
        assert!(res.is_err(), "corrupting cell ({r}, {col:?}) was not detected");
    }
}

fn input_graph(shape: Vec<usize>, lo: i64, hi: i64) -> (Graph, usize) {
    let mut g = Graph::default();
    let v = g.add_value("x", shape.clone(), lo, hi).expect("small bound");
    g.inputs.push(InputSpec { name: "x".into(), value: v, shape, scale: 1.0, zero_point: 0, lo, hi, visibility: Default::default() });
    (g, v)
}

fn output(g: &mut Graph, v: usize) {
    let shape = g.info(v).shape.clone();
    g.outputs.push(OutputSpec { name: "y".into(), value: v, shape, scale: 1.0, zero_point: 0, visibility: Default::default() });
}

fn random(shape: Vec<usize>, lo: i64, hi: i64, seed: u64) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = shape.iter().product();
    Tensor { shape, data: (0..n).map(|_| rng.gen_range(lo..=hi)).collect() }
}

#[test]
fn dense_rescale_relu_clamps_both_sides() {
    let (mut g, x) = input_graph(vec![1, 6], 0, 255);
    let w = Tensor::new(vec![4, 6], vec![3, -7, 12, 0, 5, -1, 127, 127, 127, 127, 127, 127, -128, -128, -90, -80, -70, -60, 1, 2, 3, 4, 5, 6])
        .expect("shape");
    let d = g.add_node("fc", Op::Dense(Dense { input: x, input_zp: 17, weight: w, bias: vec![100, -5, 7, -1000] })).expect("dense");
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
    output(&mut g, y);
    for seed in 0..3 {
        check_graph(&g, &[random(vec![1, 6], 0, 255, seed)], if seed == 0 { 60 } else { 0 });
    }
}

#[test]
fn conv_maxpool_sumpool_reshape() {
    let (mut g, x) = input_graph(vec![1, 2, 5, 5], -128, 127);
    let wt = random(vec![3, 2, 3, 3], -20, 20, 11);
    let win = |k: usize, s: usize, p: usize| Window2d { kernel: [k, k], strides: [s, s], pads: [p, p, p, p], dilations: [1, 1] };
    let c = g.add_node("conv", Op::Conv(Conv { input: x, input_zp: -3, weight: wt, bias: vec![5, -9, 0], window: win(3, 1, 1), group: 1 })).expect("conv");
    let rs = Rescale {
        terms: vec![RescaleTerm { input: c, zero_point: 0, mult: vec![3_000_001, 5_000_003, 7_000_005] }],
        channel_axis: 1,
        bias: vec![],
        shift: 32,
        out_zp: -128,
        lo: -128,
        hi: 127,
        half_even: false,
    };
    let a = g.add_node("q1", Op::Rescale(rs)).expect("rescale");
    let m = g.add_node("pool", Op::MaxPool(MaxPool { input: a, window: win(2, 2, 1) })).expect("maxpool");
    let s = g.add_node("avg", Op::SumPool(SumPool { input: m, window: win(2, 1, 0) })).expect("sumpool");
    let add = Rescale {
        terms: vec![RescaleTerm { input: s, zero_point: -512, mult: vec![64] }, RescaleTerm { input: s, zero_point: 0, mult: vec![3] }],
        channel_axis: 1,
        bias: vec![],
        shift: 8,
        out_zp: 0,
        lo: 0,
        hi: 200,
        half_even: true,
    };
    let q = g.add_node("q2", Op::Rescale(add)).expect("rescale");
    let f = g.add_node("flat", Op::Reshape(Reshape { input: q, shape: vec![1, 12] })).expect("reshape");
    output(&mut g, f);
    check_graph(&g, &[random(vec![1, 2, 5, 5], -128, 127, 5)], 60);
}

/// Max pooling alone, 3x3 windows with stride 1 and padding (windows of 4, 6 and 9 taps, so
/// products of up to 9 gaps), every node cell a max-pool cell: honest proofs pass, and each of
/// 150 sampled corrupted cells and a wrong output fail. Ties (equal taps) are frequent in
/// the narrow input range.
#[test]
fn maxpool_windows_are_sound() {
    let win = Window2d { kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1] };
    for (seed, (lo, hi)) in [(1, (-128, 127)), (2, (-3, 3))] {
        let (mut g, x) = input_graph(vec![1, 2, 4, 4], lo, hi);
        let m = g.add_node("pool", Op::MaxPool(MaxPool { input: x, window: win.clone() })).expect("maxpool");
        output(&mut g, m);
        check_graph(&g, &[random(vec![1, 2, 4, 4], lo, hi, seed)], 150);
    }
}

/// Imported single-op fixtures exercising every gadget added for op coverage (function
/// tables, wiring with constants, products, division, square roots, half-even rescales with
/// a zero point): honest proofs pass, corrupted cells and outputs fail.
#[test]
fn imported_op_graphs_are_sound() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ops");
    for name in ["softmax", "layernorm", "sigmoid_int8", "gelu", "where", "div_one_plus_sq", "attention", "argmax", "cumsum", "pad_constant", "sqrt", "and", "reducemax", "softmax_int8", "tree_classifier", "gbdt_classifier", "forest_regressor", "scatternd", "scatterelements", "topk", "convtranspose", "gru", "lppool"] {
        let d = dir.join(name);
        let g = crate::onnx::import_file(&d.join("model.onnx"), &crate::onnx::ImportOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("samples.json")).expect("samples")).expect("json");
        let x: Vec<f64> = s["inputs"][0].as_array().expect("input").iter().map(|v| v.as_f64().expect("number")).collect();
        let q = exec::quantize_input(&g.inputs[0], &x, true).expect("quantize");
        eprintln!("{name}: {} nodes", g.nodes.len());
        check_graph(&g, &[q], 12);
    }
}

/// Half-even requantization whose lowest input value is an exact tie rounding down: the
/// inferred lower bound must include it (x - zp = -127 at ratio 1/2 gives -63.5 -> -64).
#[test]
fn half_even_tie_at_the_lower_bound() {
    let (mut g, x) = input_graph(vec![1, 8], 0, 255);
    let r = Rescale {
        terms: vec![RescaleTerm { input: x, zero_point: 127, mult: vec![128] }],
        channel_axis: 1,
        bias: vec![],
        shift: 8,
        out_zp: 63,
        lo: -1,
        hi: 200,
        half_even: true,
    };
    let y = g.add_node("q", Op::Rescale(r)).expect("rescale");
    assert_eq!(g.info(y).lo, -1, "the tie below the naive bound is in range");
    output(&mut g, y);
    let t = Tensor::new(vec![1, 8], vec![0, 1, 2, 3, 127, 128, 254, 255]).expect("shape");
    let out = exec::outputs(&g, std::slice::from_ref(&t)).expect("run");
    assert_eq!(out[0].data[0], -1, "(0 - 127)/2 = -63.5 rounds to -64, plus 63");
    check_graph(&g, &[t], 30);
}

/// Hashed and private inputs/outputs: the instances are the binding plus one Poseidon digest
/// per hashed tensor (nothing for a private one), the honest witness passes, and a digest of
/// other data, a corrupted cell or a wrong digest is rejected.
#[test]
fn hashed_and_private_tensors_are_bound() {
    use crate::ir::Visibility::{self, Hashed, Private, Public};
    let (mut g, x) = input_graph(vec![1, 40], -128, 127);
    let w = random(vec![5, 40], -9, 9, 3);
    let d = g.add_node("fc", Op::Dense(Dense { input: x, input_zp: 0, weight: w, bias: vec![1, 2, 3, 4, 5] })).expect("dense");
    let r = Rescale { terms: vec![RescaleTerm { input: d, zero_point: 0, mult: vec![9_000_001] }], channel_axis: 1, bias: vec![], shift: 32, out_zp: 0, lo: -128, hi: 127, half_even: false };
    let y = g.add_node("q", Op::Rescale(r)).expect("rescale");
    output(&mut g, y);
    let input = random(vec![1, 40], -128, 127, 9);
    let other = random(vec![1, 40], -128, 127, 10);
    for (vi, vo) in [(Hashed, Hashed), (Private, Hashed), (Hashed, Public), (Public, Private), (Hashed, Private)] {
        let mut g = g.clone();
        g.inputs[0].visibility = vi;
        g.outputs[0].visibility = vo;
        let count = |v: Visibility, packed: usize| match v {
            Public => packed,
            Hashed => 1,
            Private => 0,
        };
        assert_eq!(g.num_instances(), 1 + count(vi, 3) + count(vo, 1), "{vi}/{vo}");
        check_graph(&g, std::slice::from_ref(&input), 30);
        if vi == Hashed {
            let ctx = lay_out(&g, std::slice::from_ref(&input), Shape::default()).expect("layout");
            let inst = instance_values(&ctx);
            let p = crate::public::Packing::new(-128, 127);
            assert_eq!(inst[1], crate::hash::tensor_digest(&p, &input.data).expect("in range"), "instance 1 is the input's digest");
            // the same witness with the digest of other data is rejected
            let mut forged = inst.clone();
            forged[1] = crate::hash::tensor_digest(&p, &other.data).expect("in range");
            let circuit = ModelCircuit { ctx };
            let k = k_for(circuit.rows());
            assert!(MockProver::run(k, &circuit, vec![forged]).expect("mock runs").verify().is_err(), "{vi}/{vo}: a digest of other data accepted");
        }
    }
}
