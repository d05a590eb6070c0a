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

/// Runs every check on one graph and input in the default shape, with `samples` witness
/// cells corrupted one by one, then in the narrowest shapes `compile` may pick (3 and 2
/// columns: products whose terms overflow the row, chains of two terms per row) with a
/// quarter of the samples.
pub(crate) fn check_graph(g: &Graph, inputs: &[Tensor], samples: usize) {
    check_graph_in(g, inputs, samples, Shape::default());
    check_graph_in(g, inputs, samples.div_ceil(4), Shape { public_column: true, ..Shape::default() });
    // (the Poseidon gadget of hashed tensors needs 6 columns)
    for narrow in [Shape::new(3, 1), Shape::new(2, 1)].into_iter().filter(|_| !g.has_hashed()) {
        check_graph_in(g, inputs, samples.div_ceil(4), narrow);
    }
}

fn check_graph_in(g: &Graph, inputs: &[Tensor], samples: usize, shape: Shape) {
    let expected = exec::outputs(g, inputs).expect("executor runs");
    let mut ctx = lay_out(g, inputs, shape).expect("layout");
    ctx.check().expect("integer witness satisfies the gates");
    // (the public column's words are evaluated at a point a prover draws; any will do here)
    ctx.point = Fr::from(0x0bad_cafe_u64) * Fr::from(u64::MAX);
    let inst = instance_values(&ctx);
    let want = crate::public::instances(g, inputs, &expected).expect("values in range");
    assert_eq!(super::circuit::public_values(&ctx), want, "layout public values equal the packed reference inputs and outputs");
    assert_eq!(want.len(), g.num_instances());
    if shape.public_column {
        assert_eq!(inst[1..], [ctx.point, super::public_column::horner(&want[1..], ctx.point)], "the instances are the point and the words' evaluation");
    } else {
        assert_eq!(inst, want);
    }

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
            Col::Out => {
                bad.rows[r].out = bad.rows[r].out.map(|v| v + 1);
                // a wide cell is assigned its field value
                if let Some(v) = bad.wide.get_mut(&r) {
                    *v += Fr::one();
                }
            }
        }
        let c = ModelCircuit { ctx: bad };
        let res = MockProver::run(k, &c, vec![inst.clone()]).expect("mock runs").verify();
        assert!(res.is_err(), "corrupting cell ({r}, {col:?}) was not detected");
    }
}

fn input_graph(shape: Vec<usize>, lo: i64, hi: i64) -> (Graph, usize) {
    let mut g = Graph::default();
    let v = g.add_value("x", shape.clone(), lo, hi).expect("small bound");
    g.inputs.push(InputSpec { name: "x".into(), value: v, shape, scale: 1.0, zero_point: 0, lo, hi, saturates: false, visibility: Default::default() });
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
    let c = g.add_node("conv", Op::Conv(Conv { input: x, input_zp: -3, weight: wt, bias: vec![5, -9, 0], window: win(3, 1, 1), group: 1, params: None })).expect("conv");
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
    let d = g.add_node("fc", Op::Dense(Dense { input: x, input_zp: 0, weight: w, bias: vec![1, 2, 3, 4, 5], params: None })).expect("dense");
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
            Hashed | Visibility::Linked => 1,
            Private => 0,
        };
        assert_eq!(g.num_instances(), 1 + count(vi, 2) + count(vo, 1), "{vi}/{vo}");
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

/// A conv (zero point, padding, bias) -> rescale -> dense (zero point, no bias) -> rescale
/// graph whose weights are witnesses of visibility `vis` (or fixed when `None`), with
/// weights drawn from `seed`.
fn witness_weight_graph(vis: Option<crate::ir::Visibility>, seed: u64) -> Graph {
    use crate::ops::WitnessParams;
    let win = Window2d { kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1] };
    let (mut g, x) = input_graph(vec![1, 2, 4, 4], -128, 127);
    let wc = random(vec![3, 2, 3, 3], -128, 127, seed);
    let bc = random(vec![3], -5000, 5000, seed + 1);
    let wd = random(vec![5, 48], -128, 127, seed + 2);
    let conv = match vis {
        Some(v) => {
            let weight = g.add_param("conv/weight", wc.shape.clone(), wc.data.clone(), -128, 127, v).expect("param");
            let bias = g.add_param("conv/bias", vec![3], bc.data.clone(), -5000, 5000, v).expect("param");
            Conv { input: x, input_zp: -3, weight: Tensor { shape: wc.shape.clone(), data: vec![] }, bias: vec![], window: win, group: 1, params: Some(WitnessParams { weight, bias: Some(bias) }) }
        }
        None => Conv { input: x, input_zp: -3, weight: wc.clone(), bias: bc.data.clone(), window: win, group: 1, params: None },
    };
    let c = g.add_node("conv", Op::Conv(conv)).expect("conv");
    let rs = |input, n: usize| Rescale { terms: vec![RescaleTerm { input, zero_point: 0, mult: vec![1_000_003; n] }], channel_axis: 1, bias: vec![], shift: 24, out_zp: 0, lo: -128, hi: 127, half_even: false };
    let a = g.add_node("q1", Op::Rescale(rs(c, 3))).expect("rescale");
    let f = g.add_node("flat", Op::Reshape(Reshape { input: a, shape: vec![1, 48] })).expect("reshape");
    let dense = match vis {
        Some(v) => {
            let weight = g.add_param("fc/weight", wd.shape.clone(), wd.data.clone(), -128, 127, v).expect("param");
            Dense { input: f, input_zp: 5, weight: Tensor { shape: wd.shape.clone(), data: vec![] }, bias: vec![], params: Some(WitnessParams { weight, bias: None }) }
        }
        None => Dense { input: f, input_zp: 5, weight: wd.clone(), bias: vec![0; 5], params: None },
    };
    let d = g.add_node("fc", Op::Dense(dense)).expect("dense");
    let y = g.add_node("q2", Op::Rescale(rs(d, 1))).expect("rescale");
    output(&mut g, y);
    g
}

/// The structure of a laid-out circuit: everything key generation sees (fixed columns,
/// lookups, copies, instance cells), none of the witness values.
fn structure(ctx: &super::ctx::LayoutCtx) -> Vec<String> {
    let rows = ctx.rows.iter().map(|r| format!("{:?} {} {} {} {} {} {} {:?}", r.w, r.c, r.q_out, r.q_chain, r.q_mul, r.q_dot, r.tag, r.x.iter().map(|x| x.map(|c| c.lookup)).collect::<Vec<_>>()));
    rows.chain(ctx.copies.iter().map(|c| format!("{c:?}"))).chain(ctx.instances.iter().map(|c| format!("{c:?}"))).chain(ctx.hashes.iter().map(|h| format!("{:?} {} {}", h.cells.iter().map(|c| c.cell).collect::<Vec<_>>(), h.domain, h.instance))).collect()
}

/// Witness weights (public, hashed, private) in conv and dense: the executor gives what the
/// fixed-weights graph gives, honest proofs pass, and corrupted cells (weights included), a
/// wrong output or weight digest, and the digest of other weights are all rejected. Two
/// different sets of weights lay out the same circuit structure (so share keys).
#[test]
fn witness_weights_are_sound_and_value_independent() {
    use crate::ir::Visibility::{Hashed, Private, Public};
    let input = random(vec![1, 2, 4, 4], -128, 127, 21);
    let fixed = exec::outputs(&witness_weight_graph(None, 3), std::slice::from_ref(&input)).expect("run");
    for vis in [Hashed, Public, Private] {
        let g = witness_weight_graph(Some(vis), 3);
        assert_eq!(g.params.len(), 3);
        assert!(g.nodes.iter().all(|n| match &n.op {
            Op::Conv(c) => c.weight.data.is_empty(),
            Op::Dense(d) => d.weight.data.is_empty(),
            _ => true,
        }), "no weight value is in the graph's ops");
        assert_eq!(exec::outputs(&g, std::slice::from_ref(&input)).expect("run"), fixed, "{vis}: same outputs as fixed weights");
        check_graph(&g, std::slice::from_ref(&input), if vis == Hashed { 120 } else { 40 });

        let other = witness_weight_graph(Some(vis), 40);
        let (a, b) = (lay_out(&g, std::slice::from_ref(&input), Shape::default()).expect("layout"), lay_out(&other, std::slice::from_ref(&input), Shape::default()).expect("layout"));
        assert!(a.shape.dot && !a.rows.is_empty());
        assert_eq!(structure(&a), structure(&b), "{vis}: the circuit depends on the weight values");
        if vis == Hashed {
            // instances: binding, the packed input (32 values, 30 per word) and output, then
            // one digest per weight tensor
            let inst = instance_values(&a);
            assert_eq!(inst.len(), 1 + 2 + 1 + 3);
            let p = crate::public::packing_of(&g, g.params[0].value);
            assert_eq!(inst[4], crate::hash::tensor_digest(&p, g.params[0].data.as_deref().expect("loaded")).expect("in range"));
            // weights A's witness with weights B's digests is rejected
            let mut forged = inst.clone();
            forged[4..].copy_from_slice(&instance_values(&b)[4..]);
            assert_ne!(forged, inst);
            let circuit = ModelCircuit { ctx: a };
            let k = k_for(circuit.rows());
            assert!(MockProver::run(k, &circuit, vec![forged]).expect("mock runs").verify().is_err(), "the digest of other weights accepted");
        }
    }
    // a weight outside its declared range is refused with the tensor named
    let mut g = Graph::default();
    let e = g.add_param("w", vec![2], vec![3, 200], -128, 127, Hashed).expect_err("out of range");
    assert!(e.to_string().contains("`w`") && e.to_string().contains("200"), "{e}");
    // and so are weights that are not loaded
    let mut g = witness_weight_graph(Some(Hashed), 3);
    g.params[1].data = None;
    assert!(lay_out(&g, std::slice::from_ref(&input), Shape::default()).is_err());
    assert!(exec::outputs(&g, std::slice::from_ref(&input)).is_err());
}

/// A dot row's unused product slots hold a copy of the zero cell. A prover who puts a
/// product there (which the gate adds) and raises the result to match is rejected; with
/// that copy constraint removed, the same forgery passes, so the copy is what stops it.
#[test]
fn unused_dot_slots_are_zero() {
    use super::ctx::{CellRef, LayoutCtx, Operand, XCell};
    let mut ctx = LayoutCtx::new(Shape { dot: true, ..Shape::default() });
    let cells: Vec<_> = [3, -4, 5, 6].iter().map(|&v| ctx.lin(&[(Operand::New(v), 1)], 0)).collect();
    let y = ctx.dot(&[(cells[0], cells[1]), (cells[2], cells[3])], &[], 10);
    assert_eq!(y.val, 10 - 12 + 30);
    ctx.expose(y, 1);
    ctx.check().expect("honest");
    let h = ctx.shape.width / 2;
    let r = y.cell.row;
    assert!(ctx.rows[r].q_dot && ctx.rows[r].x[2 * h - 1].is_none());
    let k = k_for(ModelCircuit { ctx: ctx.clone() }.rows());
    let inst = instance_values(&ctx);
    assert!(MockProver::run(k, &ModelCircuit { ctx: ctx.clone() }, vec![inst.clone()]).expect("mock").verify().is_ok());
    // the forgery: 7·1 in the free slot, the result and its instance raised by 7
    let mut bad = ctx.clone();
    bad.rows[r].x[h - 1] = Some(XCell { val: 7, lookup: false, inverse: false });
    bad.rows[r].x[2 * h - 1] = Some(XCell { val: 1, lookup: false, inverse: false });
    bad.rows[r].out = bad.rows[r].out.map(|v| v + 7);
    let mut forged = inst.clone();
    forged[1] += Fr::from(7u64);
    assert!(MockProver::run(k, &ModelCircuit { ctx: bad.clone() }, vec![forged.clone()]).expect("mock").verify().is_err(), "a product in an unused slot was accepted");
    let slot = CellRef { row: r, col: Col::X(h - 1) };
    bad.copies.retain(|(a, b)| *a != slot && *b != slot);
    assert!(MockProver::run(k, &ModelCircuit { ctx: bad }, vec![forged]).expect("mock").verify().is_ok(), "without the zero copy the forgery passes (the test exercises it)");
}

/// Imported models with hashed witness weights (ConvTranspose lowered to a Conv, attention's
/// constant projections, a plain Gemm model) prove like fixed ones and give the same outputs;
/// recurrent layers are refused by name.
#[test]
fn imported_models_with_hashed_weights() {
    use crate::ir::WeightVisibility;
    use crate::onnx::{import_file, ImportOptions, VisibilityOptions};
    let hashed = ImportOptions { visibility: VisibilityOptions { weights: WeightVisibility::Hashed, ..Default::default() }, ..Default::default() };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ops");
    for name in ["convtranspose", "attention"] {
        let d = dir.join(name);
        let g = import_file(&d.join("model.onnx"), &hashed).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!g.params.is_empty(), "{name}: no witness weights");
        let fixed = import_file(&d.join("model.onnx"), &ImportOptions::default()).expect("fixed");
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("samples.json")).expect("samples")).expect("json");
        let x: Vec<f64> = s["inputs"][0].as_array().expect("input").iter().map(|v| v.as_f64().expect("number")).collect();
        let q = exec::quantize_input(&g.inputs[0], &x, true).expect("quantize");
        assert_eq!(exec::outputs(&g, std::slice::from_ref(&q)).expect("run"), exec::outputs(&fixed, std::slice::from_ref(&q)).expect("run"), "{name}");
        check_graph(&g, &[q], 12);
    }
    let e = import_file(&dir.join("gru/model.onnx"), &hashed).expect_err("recurrent refused");
    assert!(e.to_string().contains("recurrent layers"), "{e}");
}

/// Interpolated tables: layout equals the reference, every sampled cell is constrained, and
/// the one decomposition a lookup alone would allow besides the honest one (`h + 1` with
/// `l - 256`, every other cell made consistent with it) is stopped by the limb range check.
#[test]
fn interpolated_tables_are_sound() {
    use crate::ops::Interp;
    // an irregular sampled curve; inputs span [-700, 900]: coarse points -3..=3
    let (mut g, x) = input_graph(vec![1, 40], -700, 900);
    let pts: Vec<i64> = vec![5000, 100, 900, -300, 2000, 2500, 1200, 4000];
    let d: Vec<i64> = pts.windows(2).map(|w| w[1] - w[0]).collect();
    let it = Interp { input: x, func: "test".into(), lo: -3, y0: pts[..7].to_vec(), d };
    let y = g.add_node("interp", Op::Interp(it.clone())).expect("interp");
    output(&mut g, y);
    let mut input = random(vec![1, 40], -700, 900, 3);
    input.data[..6].copy_from_slice(&[-700, 900, -256, 255, 0, 256]);
    // the reference: 256·y0 + l·d with floor division
    let out = exec::outputs(&g, std::slice::from_ref(&input)).expect("runs");
    for (&v, &o) in input.data.iter().zip(&out[0].data) {
        let (h, l) = (v.div_euclid(256), v.rem_euclid(256));
        let i = (h + 3) as usize;
        assert_eq!(o, 256 * pts[i] + l * (pts[i + 1] - pts[i]), "x = {v}");
    }
    check_graph(&g, std::slice::from_ref(&input), 200);

    // the alternative decomposition of element 5 (x = 256: h = 1, l = 0 -> h = 2, l = -256),
    // with a private output so that the forged value has no copies to keep consistent
    g.outputs[0].visibility = crate::ir::Visibility::Private;
    let ctx = lay_out(&g, std::slice::from_ref(&input), Shape::default()).expect("layout");
    let start = ctx.node_start[0] + 4 * 5;
    let mut bad = ctx.clone();
    let (h, h2) = (1i128, 2i128);
    let (y0, d0) = (pts[4] as i128, (pts[5] - pts[4]) as i128);
    let (y1, d1) = (pts[5] as i128, (pts[6] - pts[5]) as i128);
    // row A: x - 256·h - l: the limb (lookup column 0) becomes -256, h becomes 2
    assert_eq!(bad.rows[start].x[0].map(|c| (c.val, c.lookup)), Some((0, true)));
    bad.rows[start].x[0].as_mut().expect("limb").val = -256;
    for x in bad.rows[start..start + 3].iter_mut().flat_map(|row| row.x.iter_mut().flatten()) {
        if x.val == h {
            x.val = h2;
        }
    }
    bad.rows[start + 1].x[1].as_mut().expect("y0").val = y1;
    bad.rows[start + 2].x[1].as_mut().expect("d").val = d1;
    // the product row: l·d + 256·y0
    let prod = &mut bad.rows[start + 3];
    assert_eq!(prod.x[0].map(|c| c.val), Some(0));
    assert_eq!((prod.x[1].map(|c| c.val), prod.x[2].map(|c| c.val)), (Some(d0), Some(y0)));
    prod.x[0].as_mut().expect("l").val = -256;
    prod.x[1].as_mut().expect("d").val = d1;
    prod.x[2].as_mut().expect("y0").val = y1;
    let forged = -256 * d1 + 256 * y1;
    prod.out = Some(forged);
    assert_ne!(forged, out[0].data[5] as i128, "the forgery changes the output");
    let err = bad.check().expect_err("the forged limb is out of range");
    assert!(err.contains("limb -256 out of range"), "{err}");
    let inst = instance_values(&ctx);
    let k = k_for(ModelCircuit { ctx: ctx.clone() }.rows());
    let res = MockProver::run(k, &ModelCircuit { ctx: bad }, vec![inst]).expect("mock runs").verify();
    let failures = res.expect_err("the forged decomposition is rejected");
    assert!(
        failures.iter().all(|f| matches!(f, halo2_proofs::dev::VerifyFailure::Lookup { name, .. } if *name == "range" || *name == "range and function table")),
        "only a range lookup fails: {failures:?}"
    );
}

/// With function tables the range checks share their lookup (`FnLookup`): a limb must match a
/// tag-0 row `(0, v, 0)`, never a function row. A limb forged to 300, which is an input of
/// the function table here with output 0 (so `(tag, 300, 0)` is a table row: without the tag
/// component the forgery would pass), in a layout that is honest everywhere else,
/// is rejected by that lookup and only by it; in a 2-lookup-column shape, in both columns.
#[test]
fn a_limb_cannot_match_a_function_row() {
    use super::ctx::{AValue, FnTable, LayoutCtx, Operand};
    for shape in [Shape { tables: true, ..Shape::new(4, 1) }, Shape { tables: true, ..Shape::new(4, 2) }] {
        for col in 0..shape.lookup_width {
            let mut ctx = LayoutCtx::new(shape);
            let t = FnTable { lo: 250, values: (0..100).map(|i| if i == 50 { 0 } else { 3 * i }).collect() };
            let tag = ctx.table_tag(&t);
            let x = ctx.lin(&[], 260);
            let y = ctx.lookup(tag, x);
            assert_eq!(y.val, 30);
            // two limbs summed on one row: they land in the lookup columns 0 (and 1)
            let s = ctx.lin(&[(Operand::Limb(7), 1), (Operand::Limb(9), 1)], 0);
            ctx.expose(y, 1);
            ctx.expose(s, 2);
            ctx.check().expect("honest layout");
            let inst = instance_values(&ctx);
            let k = k_for(ModelCircuit { ctx: ctx.clone() }.rows());
            assert!(MockProver::run(k, &ModelCircuit { ctx: ctx.clone() }, vec![inst.clone()]).expect("mock runs").verify().is_ok(), "honest witness rejected");
            // forge the limb in `col` to 300 and its row's sum with it: s = 300 + the other
            let r = s.cell.row;
            let limb = ctx.rows[r].x[col].as_mut().filter(|c| c.lookup).expect("a limb in the lookup column");
            let other = if limb.val == 7 { 9 } else { 7 };
            limb.val = 300;
            ctx.rows[r].out = Some(300 + other);
            let forged = AValue { cell: s.cell, val: 300 + other };
            let bad_inst = {
                let mut v = inst.clone();
                v[2] = super::circuit::fe(forged.val);
                v
            };
            let failures = MockProver::run(k, &ModelCircuit { ctx }, vec![bad_inst]).expect("mock runs").verify().expect_err("a limb of 300 is rejected");
            let want = if col == 0 { "range and function table" } else { "range" };
            assert!(
                failures.iter().all(|f| matches!(f, halo2_proofs::dev::VerifyFailure::Lookup { name, .. } if *name == want)),
                "{shape:?} column {col}: only the range check fails: {failures:?}"
            );
        }
    }
}

/// A public word of more than half a word's values is two halves joined by one wide row
/// (`LayoutCtx::wide_sum`): its field value is what the instance holds, and a different one
/// (with the same integer shadow) is rejected.
#[test]
fn wide_public_words_are_bound() {
    let (mut g, x) = input_graph(vec![1, 40], -128, 127);
    let w = random(vec![3, 40], -9, 9, 5);
    let d = g.add_node("fc", Op::Dense(Dense { input: x, input_zp: 0, weight: w, bias: vec![1, 2, 3], params: None })).expect("dense");
    let r = Rescale { terms: vec![RescaleTerm { input: d, zero_point: 0, mult: vec![9_000_001] }], channel_axis: 1, bias: vec![], shift: 32, out_zp: 0, lo: -128, hi: 127, half_even: false };
    let y = g.add_node("q", Op::Rescale(r)).expect("rescale");
    output(&mut g, y);
    let input = random(vec![1, 40], -128, 127, 9);
    // binding, 2 input words (30 + 10 values), 1 output word
    assert_eq!(g.num_instances(), 1 + 2 + 1);
    let ctx = lay_out(&g, std::slice::from_ref(&input), Shape::default()).expect("layout");
    assert_eq!(ctx.wide.len(), 1, "one wide word");
    let inst = instance_values(&ctx);
    assert_eq!(&inst[1..3], &crate::public::input_instances(&g, std::slice::from_ref(&input)).expect("pack")[..]);
    let (&r, &v) = ctx.wide.iter().next().expect("one");
    assert!(v != super::circuit::fe(ctx.rows[r].out.expect("out")), "the word does not fit the shadow");
    let circuit = ModelCircuit { ctx: ctx.clone() };
    let k = k_for(circuit.rows());
    assert_eq!(MockProver::run(k, &circuit, vec![inst.clone()]).expect("mock runs").verify(), Ok(()));
    // the word moved by one, claimed as the instance: the joining row objects
    let mut bad = ctx.clone();
    *bad.wide.get_mut(&r).expect("wide") += Fr::one();
    let mut moved = inst.clone();
    moved[1] += Fr::one();
    assert!(MockProver::run(k, &ModelCircuit { ctx: bad.clone() }, vec![moved.clone()]).expect("mock runs").verify().is_err(), "a wide word off its halves accepted");
    // and it is the gate that objects: without it the same forgery passes
    let accepted = super::circuit::mutation::without(super::circuit::ConstraintKind::Gate, || MockProver::run(k, &ModelCircuit { ctx: bad.clone() }, vec![moved.clone()]).expect("mock runs").verify().is_ok());
    assert!(accepted, "the forgery breaks more than the joining row's gate");
    assert!(MockProver::run(k, &ModelCircuit { ctx: bad }, vec![inst]).expect("mock runs").verify().is_err());
}

/// With the public column, each public word is bound to the cell that packs it: a forged
/// column (an output word or a digest moved, the evaluation recomputed over the forged words,
/// so that everything but the column's copies holds) is rejected, and accepted once those
/// copies are removed. The evaluation is bound too: another point or value is rejected.
#[test]
fn public_column_words_are_bound() {
    use super::circuit::{mutation, public_words, ConstraintKind};
    use super::public_column::horner;
    use crate::ir::Visibility::{Hashed, Public};
    let (mut g, x) = input_graph(vec![1, 70], 0, 255);
    let w = random(vec![5, 70], -9, 9, 4);
    let d = g.add_node("fc", Op::Dense(Dense { input: x, input_zp: 0, weight: w, bias: vec![1, 2, 3, 4, 5], params: None })).expect("dense");
    let r = Rescale { terms: vec![RescaleTerm { input: d, zero_point: 0, mult: vec![9_000_001] }], channel_axis: 1, bias: vec![], shift: 32, out_zp: 0, lo: 0, hi: 255, half_even: false };
    let y = g.add_node("q", Op::Rescale(r)).expect("rescale");
    output(&mut g, y);
    let input = random(vec![1, 70], 0, 255, 5);
    for (vi, vo) in [(Public, Public), (Public, Hashed), (Hashed, Public)] {
        let mut g = g.clone();
        g.inputs[0].visibility = vi;
        g.outputs[0].visibility = vo;
        let mut ctx = lay_out(&g, std::slice::from_ref(&input), Shape { public_column: true, ..Shape::default() }).expect("layout");
        ctx.point = Fr::from(987_654_321) * Fr::from(u64::MAX) + Fr::from(3);
        ctx.binding = Fr::from(42);
        let words = public_words(&ctx);
        assert_eq!(words.len(), g.num_instances() - 1);
        let point = ctx.point;
        let honest = instance_values(&ctx);
        assert_eq!(honest, vec![Fr::from(42), point, horner(&words, point)]);
        let circuit = ModelCircuit { ctx };
        let k = k_for(circuit.rows());
        let accepts = |inst: &[Fr]| MockProver::run(k, &circuit, vec![inst.to_vec()]).expect("mock runs").verify().is_ok();
        assert!(accepts(&honest), "{vi}/{vo}: honest witness rejected");
        // the forged column: the last word (the output or its digest) moved
        let mut forged = words.clone();
        *forged.last_mut().expect("a word") += Fr::one();
        let claimed = vec![Fr::from(42), point, horner(&forged, point)];
        assert!(!mutation::with_words(forged.clone(), || accepts(&claimed)), "{vi}/{vo}: a forged public column accepted");
        assert!(
            mutation::without(ConstraintKind::PublicColumn, || mutation::with_words(forged.clone(), || accepts(&claimed))),
            "{vi}/{vo}: the forgery must pass once the column's copies are gone (else this test shows nothing)"
        );
        // the column honest, the evaluation over the forged words: only the copies from the
        // column into the evaluation stop it
        assert!(!mutation::with_eval_words(forged.clone(), || accepts(&claimed)), "{vi}/{vo}: an evaluation of other words accepted");
        assert!(
            mutation::without(ConstraintKind::PublicColumn, || mutation::with_eval_words(forged.clone(), || accepts(&claimed))),
            "{vi}/{vo}: the forged evaluation must pass once the column's copies are gone"
        );
        // the evaluation: another value, another point
        assert!(!accepts(&[Fr::from(42), point, horner(&words, point) + Fr::one()]), "{vi}/{vo}: a wrong evaluation accepted");
        assert!(!accepts(&[Fr::from(42), point + Fr::one(), horner(&words, point)]), "{vi}/{vo}: a wrong point accepted");
        assert!(!accepts(&[Fr::from(43), point, horner(&words, point)]), "{vi}/{vo}: the binding is not bound");
    }
}

/// A graph `y = Σ_runs (a - za)·(b - zb)` over two public inputs of shape [2, 7]
/// ([`crate::ops::Mul`] with `group > 1`: a MatMul of two activations), and its input.
pub(crate) fn product_sum_graph(za: i64, zb: i64, group: usize) -> (Graph, Vec<Tensor>) {
    let mut g = Graph::default();
    let mut ins = Vec::new();
    for name in ["a", "b"] {
        let v = g.add_value(name, vec![2, 7], -60, 60).expect("bound");
        g.inputs.push(InputSpec { name: name.into(), value: v, shape: vec![2, 7], scale: 1.0, zero_point: 0, lo: -60, hi: 60, saturates: false, visibility: Default::default() });
        ins.push(v);
    }
    let y = g.add_node("y", Op::Mul(crate::ops::Mul { a: ins[0], b: ins[1], za, zb, group })).expect("sum");
    g.outputs.push(OutputSpec { name: "y".into(), value: y, shape: g.info(y).shape.clone(), scale: 1.0, zero_point: 0, visibility: Default::default() });
    let x = |seed: i64| Tensor::new(vec![2, 7], (0..14).map(|i| (i * 37 + seed * 11) % 121 - 60).collect()).expect("x");
    (g, vec![x(1), x(5)])
}

/// Sums of products: the executor's values are the products summed by hand in runs of
/// `group` (the last run shorter), with and without zero points; the layout puts them on
/// dot-product rows (the shape gets the dot term; a plain elementwise Mul does not) and
/// passes every check at every width.
#[test]
fn product_sums_match_the_definition_and_prove() {
    for (za, zb, group) in [(0, 0, 3), (4, -3, 2), (0, 5, 7), (-2, 0, 4), (0, 0, 1)] {
        let (g, inputs) = product_sum_graph(za, zb, group);
        let (a, b) = (&inputs[0].data, &inputs[1].data);
        let mut want = Vec::new();
        for r in 0..2 {
            let mut i = 0;
            while i < 7 {
                let end = (i + group).min(7);
                want.push((i..end).map(|j| (a[r * 7 + j] - za) * (b[r * 7 + j] - zb)).sum::<i64>());
                i = end;
            }
        }
        let got = exec::outputs(&g, &inputs).expect("run");
        assert_eq!(got[0].data, want, "za {za}, zb {zb}, group {group}");
        assert_eq!(got[0].shape, [2, 7usize.div_ceil(group)]);
        let ctx = lay_out(&g, &inputs, Shape::default()).expect("layout");
        assert_eq!(ctx.shape.dot, group > 1, "the dot-product term is there exactly for sums");
        assert_eq!(ctx.rows.iter().any(|r| r.q_dot), group > 1);
        check_graph(&g, &inputs, 10);
    }
}
