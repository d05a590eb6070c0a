//! `zkinfer check-suite DIR`: compile -> setup -> prove -> verify every model folder under DIR
//! and print a coverage table.
//!
//! A model folder holds `network.onnx` or `model.onnx`, an EZKL-style `input.json`, and
//! optionally `expected.json` (`output_data`). Reference outputs come from, in order:
//! `expected.json`, onnxruntime run by `scripts/ort_reference.py` (built into the binary; with the Python given by
//! `--python`, `$ZKINFER_PYTHON` or `models/.venv/bin/python`), `output_data` in input.json.
//! A model counts as proved when the honest proof verifies, the same proof with one output
//! instance changed is rejected, and the output error is within tolerance.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use halo2_proofs::halo2curves::bn256::{Bn256, Fr};
use halo2_proofs::poly::commitment::Params;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use serde::Serialize;
use zkinfer_circuits::error::CircuitError;
use zkinfer_circuits::onnx::ImportOptions;

use crate::files::{read_inputs, write_json, Workdir};
use crate::pipeline;

#[derive(clap::Args)]
pub struct Args {
    /// Directory whose sub-folders are model folders.
    dir: PathBuf,
    /// Working directory for each model's artifacts.
    #[arg(long, default_value = "out/check-suite")]
    out: PathBuf,
    /// Only models whose folder name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Skip proving models needing more than 2^max_k rows.
    #[arg(long, default_value_t = 18)]
    max_k: u32,
    /// Absolute error tolerance.
    #[arg(long, default_value_t = 0.01)]
    atol: f64,
    /// Relative error tolerance (times the largest |reference output|).
    #[arg(long, default_value_t = 0.01)]
    rtol: f64,
    /// Python with onnxruntime for reference outputs.
    #[arg(long)]
    python: Option<PathBuf>,
    /// Also write the results (the `--json` report's rows) to this file.
    #[arg(long, value_name = "FILE")]
    json_out: Option<PathBuf>,
    /// Markdown table only (for the README).
    #[arg(long)]
    markdown: bool,
    /// Calibrate each model's scales and lookup ranges on its input first (as
    /// `zkinfer calibrate --target resources`), instead of the default fixed point.
    #[arg(long)]
    calibrate: bool,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Row {
    pub model: String,
    pub status: String,
    pub proved: bool,
    pub k: Option<u32>,
    pub rows: Option<usize>,
    pub setup_s: Option<f64>,
    pub prove_s: Option<f64>,
    pub verify_s: Option<f64>,
    pub max_abs_err: Option<f64>,
    pub tolerance: Option<f64>,
    pub reference: Option<String>,
}

pub fn run(a: Args) -> Result<serde_json::Value> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&a.dir)
        .with_context(|| format!("cannot read {}", a.dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && model_file(p).is_some())
        .filter(|p| a.filter.as_ref().is_none_or(|f| p.file_name().is_some_and(|n| n.to_string_lossy().contains(f.as_str()))))
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        bail!("no model folders (with network.onnx or model.onnx) under {}", a.dir.display());
    }
    let python = find_python(a.python.as_deref());
    let mut srs = SrsCache::default();
    let mut rows = Vec::new();
    for d in &dirs {
        let name = d.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        if !a.markdown {
            eprintln!("check-suite: {name} ...");
        }
        let row = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_one(&a, d, &name, python.as_deref(), &mut srs)))
            .unwrap_or_else(|p| {
                let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
                Row { model: name.clone(), status: format!("error: panic: {msg}"), ..Row::default() }
            });
        if !a.markdown {
            eprintln!("check-suite: {name}: {}", row.status);
        }
        rows.push(row);
    }
    print_table(&rows);
    let proved = rows.iter().filter(|r| r.proved).count();
    say!("\n{proved} of {} models proved within tolerance ({:.0}%)", rows.len(), 100.0 * proved as f64 / rows.len() as f64);
    if let Some(j) = &a.json_out {
        write_json(j, &rows)?;
    }
    Ok(serde_json::json!({"proved": proved, "models": rows.len(), "rows": rows}))
}

fn model_file(dir: &Path) -> Option<PathBuf> {
    ["network.onnx", "model.onnx"].iter().map(|f| dir.join(f)).find(|p| p.is_file())
}

pub(crate) fn find_python(given: Option<&Path>) -> Option<PathBuf> {
    let candidates = [given.map(Path::to_path_buf), std::env::var_os("ZKINFER_PYTHON").map(PathBuf::from), Some(PathBuf::from("models/.venv/bin/python"))];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

/// Dev SRSs by k: the largest generated so far, downsized for smaller circuits.
#[derive(Default)]
struct SrsCache {
    largest: Option<ParamsKZG<Bn256>>,
    by_k: BTreeMap<u32, ParamsKZG<Bn256>>,
}

impl SrsCache {
    fn get(&mut self, k: u32) -> Result<ParamsKZG<Bn256>> {
        if let Some(p) = self.by_k.get(&k) {
            return Ok(p.clone());
        }
        let p = match &self.largest {
            Some(l) if l.k() >= k => {
                let mut p = l.clone();
                p.downsize(k);
                p
            }
            _ => {
                let p = pipeline::load_params(None, k)?;
                self.largest = Some(p.clone());
                p
            }
        };
        self.by_k.insert(k, p.clone());
        Ok(p)
    }
}

/// Reference outputs (flat, per output) and where they came from.
fn reference(dir: &Path, model: &Path, python: Option<&Path>) -> Option<(Vec<Vec<f64>>, String)> {
    let lists = |v: &serde_json::Value| -> Option<Vec<Vec<f64>>> {
        v.as_array()?.iter().map(|l| Some(flatten(l))).collect()
    };
    if let Ok(s) = std::fs::read_to_string(dir.join("expected.json")) {
        if let Some(o) = serde_json::from_str::<serde_json::Value>(&s).ok().and_then(|v| lists(&v["output_data"])) {
            return Some((o, "expected.json".into()));
        }
    }
    reference_outputs(model, &dir.join("input.json"), python)
}

/// The onnxruntime reference script, built into the binary so that it works from any directory.
const ORT_REFERENCE_PY: &str = include_str!("../../../scripts/ort_reference.py");

/// Reference outputs for `input` (EZKL format): onnxruntime through
/// `scripts/ort_reference.py` (embedded) when a Python is given, else the file's `output_data`.
/// A Python that fails is reported on stderr with its last message, then the file is tried.
pub(crate) fn reference_outputs(model: &Path, input: &Path, python: Option<&Path>) -> Option<(Vec<Vec<f64>>, String)> {
    let lists = |v: &serde_json::Value| -> Option<Vec<Vec<f64>>> { v.as_array()?.iter().map(|l| Some(flatten(l))).collect() };
    if let Some(py) = python {
        match Command::new(py).arg("-c").arg(ORT_REFERENCE_PY).arg(model).arg(input).output() {
            Ok(out) if out.status.success() => {
                if let Some(o) = serde_json::from_slice::<serde_json::Value>(&out.stdout).ok().and_then(|v| lists(&v["outputs"])) {
                    return Some((o, "onnxruntime".into()));
                }
                eprintln!("warning: onnxruntime reference ({}) printed no outputs", py.display());
            }
            Ok(out) => {
                let err = String::from_utf8_lossy(&out.stderr);
                let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
                eprintln!("warning: onnxruntime reference ({}) failed: {last}", py.display());
            }
            Err(e) => eprintln!("warning: cannot run {}: {e}", py.display()),
        }
    }
    let s = std::fs::read_to_string(input).ok()?;
    let v: serde_json::Value = serde_json::from_str(&s).ok()?;
    lists(&v["output_data"]).map(|o| (o, "input.json output_data".into()))
}

fn flatten(v: &serde_json::Value) -> Vec<f64> {
    match v {
        serde_json::Value::Array(a) => a.iter().flat_map(flatten).collect(),
        serde_json::Value::Number(n) => vec![n.as_f64().unwrap_or(f64::NAN)],
        serde_json::Value::Bool(b) => vec![*b as i64 as f64],
        _ => vec![f64::NAN],
    }
}

/// Short cause of a failure: the unsupported op when there is one, else the error chain.
fn cause(e: &anyhow::Error) -> String {
    for c in e.chain() {
        if let Some(ce) = c.downcast_ref::<CircuitError>() {
            return match ce {
                CircuitError::UnsupportedOp { op, hint, .. } => format!("unsupported op `{op}`{hint}"),
                other => format!("{other}"),
            };
        }
    }
    format!("error: {e:#}")
}

fn check_one(a: &Args, dir: &Path, name: &str, python: Option<&Path>, srs: &mut SrsCache) -> Row {
    let mut row = Row { model: name.to_string(), ..Row::default() };
    if let Err(e) = try_one(a, dir, name, python, srs, &mut row) {
        row.status = cause(&e);
        row.proved = false;
    }
    row
}

fn try_one(a: &Args, dir: &Path, name: &str, python: Option<&Path>, srs: &mut SrsCache, row: &mut Row) -> Result<()> {
    let model = model_file(dir).context("no model file")?;
    let data = read_inputs(&dir.join("input.json"))?;
    let reference_out = reference(dir, &model, python);
    let opts = match (&reference_out, a.calibrate) {
        (Some((want, _)), true) => {
            let scale = want.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
            super::calibrate::calibrate_quiet(&model, &data, want, a.atol + a.rtol * scale)?.0
        }
        _ => ImportOptions::default(),
    };
    let input = dir.join("input.json");
    let (s, _) = pipeline::compile_sized(&model, opts, None, pipeline::Objective::default(), pipeline::PublicColumn::Auto, Some((&input, &data)))?;
    row.k = Some(s.k);
    row.rows = Some(s.rows);
    if s.k > a.max_k {
        bail!("too large: needs k = {} > --max-k {}", s.k, a.max_k);
    }
    let wd = Workdir(a.out.join(name));
    wd.write_settings(&s)?;
    let params = srs.get(s.k)?;
    let t = Instant::now();
    pipeline::setup(&wd, &s, &params)?;
    row.setup_s = Some(t.elapsed().as_secs_f64());
    // inputs the model's own QuantizeLinear saturates are saturated, as onnxruntime does
    let saturate = pipeline::model_saturates(&s.graph);
    let p = pipeline::prove(&wd, &s, &params, &data, saturate, Fr::zero())?;
    row.prove_s = Some(p.prove_seconds);
    p.write(&wd.proof())?;
    let t = Instant::now();
    let v = pipeline::verify(&wd, &s, &params, &p)?;
    row.verify_s = Some(t.elapsed().as_secs_f64());
    if !v.is_valid() {
        bail!("the honest proof was rejected: {v}");
    }
    // the same proof with the last (output) instance changed must be rejected
    let (vk, _) = pipeline::load_vk(&wd, &s, &params)?;
    let mut inst = p.instances_fr()?;
    if let Some(last) = inst.last_mut() {
        *last += Fr::one();
    }
    if zkinfer_prover::verify::verify_values(&params, &vk, s.shape.public_column, &inst, &p.proof_bytes()?).is_valid() {
        bail!("a proof with a changed output was accepted");
    }
    let got: Vec<Vec<f64>> = p.outputs.iter().map(|o| o.values.clone()).collect();
    match reference_out {
        None => {
            row.status = "proved (no reference output)".into();
            row.proved = true;
        }
        Some((want, src)) => {
            row.reference = Some(src);
            if want.len() < got.len() || got.iter().zip(&want).any(|(g, w)| g.len() != w.len()) {
                let gl: Vec<usize> = got.iter().map(Vec::len).collect();
                let wl: Vec<usize> = want.iter().map(Vec::len).collect();
                bail!("output sizes {gl:?} differ from the reference's {wl:?}");
            }
            let err = got.iter().zip(&want).flat_map(|(g, w)| g.iter().zip(w).map(|(x, y)| (x - y).abs())).fold(0.0, f64::max);
            let scale = want.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
            let tol = a.atol + a.rtol * scale;
            row.max_abs_err = Some(err);
            row.tolerance = Some(tol);
            row.proved = err <= tol;
            row.status = if row.proved { "proved".into() } else { format!("proved, but error {err:.3e} > tolerance {tol:.3e}") };
        }
    }
    Ok(())
}

fn print_table(rows: &[Row]) {
    let f = |x: Option<f64>, p: usize| x.map_or("-".to_string(), |v| format!("{v:.p$}"));
    say!("| model | status | k | setup s | prove s | verify s | max abs err | tolerance |");
    say!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        let err = r.max_abs_err.map_or("-".into(), |e| format!("{e:.2e}"));
        let tol = r.tolerance.map_or("-".into(), |e| format!("{e:.2e}"));
        let status = r.status.replace('|', "\\|");
        say!("| {} | {} | {} | {} | {} | {} | {} | {} |", r.model, status, r.k.map_or("-".into(), |k| k.to_string()), f(r.setup_s, 2), f(r.prove_s, 2), f(r.verify_s, 3), err, tol);
    }
}
