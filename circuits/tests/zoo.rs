//! The export zoo (`models/zoo/*`, written by `models/genlib/zoo.py`: scikit-learn through
//! skl2onnx, onnxruntime's static and dynamic quantizers on a CNN, an LSTM and a transformer
//! encoder): every model imports, and the integer reference executor's outputs on the sample
//! match onnxruntime's (`output_data`, recorded by the generator) within the check-suite
//! tolerance (0.01 + 1% of the largest reference value), except the models listed in
//! `OFF_AT_DEFAULT_PRECISION` (within it after `calibrate`; see the README's zoo table).
//! Proving them is `zkinfer check-suite models/zoo`.

use std::path::Path;

use zkinfer_circuits::exec;
use zkinfer_circuits::onnx::{import_file, ImportOptions};

/// Models whose error at the default fixed point exceeds the tolerance (int8 transformer
/// encoders: an intermediate requantization one step off propagates through LayerNorm).
const OFF_AT_DEFAULT_PRECISION: [&str; 2] = ["net_encoder_qdq", "net_encoder_qop"];

fn flat(v: &serde_json::Value) -> Vec<f64> {
    match v {
        serde_json::Value::Array(a) => a.iter().flat_map(flat).collect(),
        serde_json::Value::Number(n) => vec![n.as_f64().expect("number")],
        _ => panic!("not a number: {v}"),
    }
}

#[test]
fn zoo_models_import_and_match_onnxruntime() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/zoo");
    let mut dirs: Vec<_> = std::fs::read_dir(&root).expect("models/zoo (run bash models/generate.sh --zoo)").map(|e| e.expect("entry").path()).filter(|p| p.join("model.onnx").exists()).collect();
    dirs.sort();
    assert!(dirs.len() >= 26, "zoo models missing");
    let mut failures = Vec::new();
    for d in &dirs {
        let name = d.file_name().expect("name").to_string_lossy().to_string();
        let input: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("input.json")).expect("input.json")).expect("json");
        let g = match import_file(&d.join("model.onnx"), &ImportOptions::default()) {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let data: Vec<Vec<f64>> = input["input_data"].as_array().expect("input_data").iter().map(flat).collect();
        let want: Vec<Vec<f64>> = input["output_data"].as_array().expect("output_data").iter().map(flat).collect();
        let inputs: Vec<_> = g.inputs.iter().zip(&data).map(|(s, x)| exec::quantize_input(s, x, s.saturates).expect("input")).collect();
        let got = exec::outputs(&g, &inputs).expect("run");
        let scale = want.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
        let tol = 0.01 + 0.01 * scale;
        let err = g.outputs.iter().zip(&got).zip(&want).flat_map(|((o, t), w)| exec::dequantize(o.scale, o.zero_point, t).into_iter().zip(w.clone()).map(|(a, b)| (a - b).abs())).fold(0.0, f64::max);
        let off = err > tol;
        eprintln!("{name:36} max|err| {err:.2e} (tolerance {tol:.2e}){}", if off { " OFF" } else { "" });
        if off != OFF_AT_DEFAULT_PRECISION.contains(&name.as_str()) {
            failures.push(format!("{name}: error {err:.3e}, tolerance {tol:.3e} (listed as off: {})", OFF_AT_DEFAULT_PRECISION.contains(&name.as_str())));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
