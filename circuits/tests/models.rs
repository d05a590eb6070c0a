//! The integer reference executor against onnxruntime on the bundled models
//! (`models/*/samples.json`, produced by `models/gen.py` with ORT_DISABLE_ALL).
//!
//! Quantized models must match within 1 LSB of the output scale per element with the same
//! argmax; float models (fixed point by default options) within `FLOAT_TOL`.

use std::path::{Path, PathBuf};

use zkinfer_circuits::exec;
use zkinfer_circuits::layout::{ctx::Shape, lay_out};
use zkinfer_circuits::onnx::{import_file, ImportOptions};

const FLOAT_TOL: f64 = 0.02;

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// Per sample: the input tensors (one list each; a sample of a multi-input model is a list
/// of lists), and the first output.
fn samples(dir: &Path) -> (Vec<Vec<Vec<f64>>>, Vec<Vec<f64>>) {
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("samples.json")).expect("samples.json")).expect("json");
    let nums = |r: &serde_json::Value| -> Vec<f64> { r.as_array().expect("row").iter().map(|v| v.as_f64().expect("num")).collect() };
    let tensors = |r: &serde_json::Value| -> Vec<Vec<f64>> {
        let row = r.as_array().expect("sample");
        if row.first().is_some_and(|v| v.is_array()) { row.iter().map(nums).collect() } else { vec![nums(r)] }
    };
    let ins = s["inputs"].as_array().expect("inputs").iter().map(tensors).collect();
    let outs = s["outputs"].as_array().expect("outputs").iter().map(nums).collect();
    (ins, outs)
}

fn argmax(v: &[f64]) -> usize {
    v.iter().enumerate().fold(0, |b, (i, &x)| if x > v[b] { i } else { b })
}

/// Returns (max abs error, max error in output LSBs, argmax agreement count, samples).
fn check_model(dir: &Path) -> (f64, f64, usize, usize) {
    let g = import_file(&dir.join("model.onnx"), &ImportOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let (ins, outs) = samples(dir);
    let o = &g.outputs[0];
    let (mut max_err, mut max_lsb, mut agree) = (0.0f64, 0.0f64, 0);
    for (xs, want) in ins.iter().zip(&outs) {
        assert_eq!(xs.len(), g.inputs.len(), "{}: inputs per sample", dir.display());
        let q: Vec<_> = g.inputs.iter().zip(xs).map(|(spec, x)| exec::quantize_input(spec, x, true).expect("quantize")).collect();
        let got = exec::outputs(&g, &q).expect("run");
        let got = exec::dequantize(o.scale, o.zero_point, &got[0]);
        assert_eq!(got.len(), want.len(), "{}: output length", dir.display());
        for (a, b) in got.iter().zip(want) {
            max_err = max_err.max((a - b).abs());
            max_lsb = max_lsb.max((a - b).abs() / o.scale);
        }
        if argmax(&got) == argmax(want) {
            agree += 1;
        }
    }
    (max_err, max_lsb, agree, ins.len())
}

fn is_quantized(name: &str) -> bool {
    name.contains("int8")
}

#[test]
fn executor_matches_onnxruntime_on_bundled_models() {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for base in [models_dir(), models_dir().join("ops")] {
        for e in std::fs::read_dir(&base).expect("models dir") {
            let p = e.expect("entry").path();
            // single-op fixtures with meta.json are checked by tests/ops.rs
            if p.join("model.onnx").exists() && p.join("samples.json").exists() && !p.join("meta.json").exists() {
                dirs.push(p);
            }
        }
    }
    dirs.sort();
    assert!(dirs.len() >= 6, "bundled models missing");
    let mut failures = Vec::new();
    for d in &dirs {
        let name = d.file_name().expect("name").to_string_lossy().to_string();
        let (err, lsb, agree, n) = check_model(d);
        eprintln!("{name:28} max|err| {err:.5}  ({lsb:.2} LSB)  argmax {agree}/{n}");
        // 1 LSB, plus slack for the 8 significant digits the JSON references keep
        let ok = if is_quantized(&name) { lsb <= 1.0 + 1e-3 } else { err <= FLOAT_TOL };
        // argmax must agree wherever the reference has no near-tie
        if !ok || (name.starts_with("digits") && agree + 1 < n) {
            failures.push(name);
        }
    }
    assert!(failures.is_empty(), "models off tolerance: {failures:?}");
}

#[test]
fn bundled_models_lay_out_and_satisfy_gates() {
    for m in ["digits_mlp_int8", "digits_cnn_int8", "digits_mlp"] {
        let dir = models_dir().join(m);
        let g = import_file(&dir.join("model.onnx"), &ImportOptions::default()).expect("import");
        let (ins, _) = samples(&dir);
        let q = exec::quantize_input(&g.inputs[0], &ins[0][0], true).expect("quantize");
        let ctx = lay_out(&g, &[q], Shape::default()).expect("layout");
        ctx.check().expect("gates hold on the honest witness");
        eprintln!("{m}: {} rows, {} copies, {} nodes", ctx.rows.len(), ctx.copies.len(), g.nodes.len());
    }
}

/// `count_rows` (node by node, for graphs too large to lay out whole) agrees with the whole
/// layout: every node's rows within one (a partly used range-check row shared with the
/// previous node) and the total within 1%, on models with convolutions, function tables,
/// hashed tensors and witness weights.
#[test]
fn row_count_agrees_with_the_layout() {
    use zkinfer_circuits::ir::{Visibility, WeightVisibility};
    use zkinfer_circuits::layout::circuit::ModelCircuit;
    use zkinfer_circuits::layout::count_rows;
    let hashed = || {
        let mut o = ImportOptions::default();
        o.visibility.inputs = Visibility::Hashed;
        o.visibility.weights = WeightVisibility::Hashed;
        o
    };
    let cases = [
        ("digits_cnn", ImportOptions::default(), Shape::new(4, 2)),
        ("zoo/net_encoder_f32", ImportOptions::default(), Shape::new(6, 2)),
        ("zoo/net_lstm_qdq", ImportOptions::default(), Shape::new(4, 2)),
        ("digits_mlp_int8", hashed(), Shape::new(6, 3)),
    ];
    for (m, opts, shape) in cases {
        let g = import_file(&models_dir().join(m).join("model.onnx"), &opts).unwrap_or_else(|e| panic!("{m}: {e}"));
        let inputs: Vec<_> = g.inputs.iter().map(|s| zkinfer_circuits::ir::Tensor::filled(s.shape.clone(), s.zero_point.clamp(s.lo, s.hi))).collect();
        let c = ModelCircuit { ctx: lay_out(&g, &inputs, shape).unwrap_or_else(|e| panic!("{m}: {e}")) };
        let n = count_rows(&g, &inputs, shape).unwrap_or_else(|e| panic!("{m}: {e}"));
        assert_eq!(n.node_rows.len(), c.ctx.node_rows.len(), "{m}");
        for (i, (a, b)) in n.node_rows.iter().zip(&c.ctx.node_rows).enumerate() {
            assert!(a.abs_diff(*b) <= 1, "{m}: node {i} counted {a} rows, laid out {b}");
        }
        let total = c.rows();
        assert!(n.total.abs_diff(total) * 100 <= total, "{m}: counted {} rows, laid out {total}", n.total);
        assert_eq!(n.table_rows, c.table_rows(), "{m}");
    }
}
