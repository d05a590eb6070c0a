//! Shared helpers for zkinfer benchmarks: load a bundled model and its sample input.

use std::path::{Path, PathBuf};

use zkinfer_circuits::exec;
use zkinfer_circuits::ir::{Graph, Tensor};
use zkinfer_circuits::onnx::{import_file, ImportOptions};

pub fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// The model's IR and its quantized `input.json`.
pub fn load(model: &str) -> (Graph, Vec<Tensor>) {
    let dir = models_dir().join(model);
    let g = import_file(&dir.join("model.onnx"), &ImportOptions::default()).expect("bundled model imports");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("input.json")).expect("input.json")).expect("json");
    let x: Vec<f64> = v["input_data"][0].as_array().expect("list").iter().map(|x| x.as_f64().expect("number")).collect();
    let q = exec::quantize_input(&g.inputs[0], &x, false).expect("input in range");
    (g, vec![q])
}

/// Peak resident memory of this process so far, in MiB (Linux `VmHWM`).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}
