//! `zkinfer calibrate MODEL --input input.json`: picks the fixed-point scales and the
//! lookup-table ranges of a float model from sample data, measures the output error against
//! onnxruntime (or the input file's `output_data`), and writes the chosen settings.
//!
//! For each candidate precision (input, weight and activation scale 2^-b, b in --bits):
//! 1. import with probes and run the integer executor on the sample: the observed real range
//!    of every function-table input and divisor;
//! 2. import again with those ranges (tables get a grid over the observed range plus 10%,
//!    divisors are clamped to their observed sign), lay out the circuit: k and rows;
//! 3. run the executor: the maximum absolute output error.
//! `--target resources` picks the smallest circuit whose error is within tolerance (the most
//! accurate if none is); `--target accuracy` the smallest error, then the smallest circuit.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use zkinfer_circuits::exec;
use zkinfer_circuits::onnx::{import_file, ImportOptions};

use super::check_suite::{find_python, reference_outputs};
use crate::files::{read_inputs, write_json, Workdir};
use crate::pipeline;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    Accuracy,
    Resources,
}

#[derive(clap::Args)]
pub struct Args {
    /// ONNX model file.
    model: PathBuf,
    /// Sample input (EZKL format, `{"input_data": [...]}`).
    #[arg(long)]
    input: PathBuf,
    /// What to optimise.
    #[arg(long, value_enum, default_value = "resources")]
    target: Target,
    /// Candidate scale exponents (input = weights = activations = 2^-b).
    #[arg(long, value_delimiter = ',', default_value = "6,8,10,12,14")]
    bits: Vec<u32>,
    /// Absolute error tolerance.
    #[arg(long, default_value_t = 0.01)]
    atol: f64,
    /// Relative error tolerance (times the largest |reference output|).
    #[arg(long, default_value_t = 0.01)]
    rtol: f64,
    /// Python with onnxruntime for the reference outputs.
    #[arg(long)]
    python: Option<PathBuf>,
    /// Output directory for settings.json.
    #[arg(short, long, default_value = "out/model")]
    out: PathBuf,
    /// Visibility of inputs and outputs in the written settings (no effect on calibration).
    #[command(flatten)]
    vis: super::compile::VisibilityArgs,
}

struct Candidate {
    bits: u32,
    opts: ImportOptions,
    k: u32,
    rows: usize,
    err: f64,
}

fn max_error(g: &zkinfer_circuits::ir::Graph, data: &[Vec<f64>], want: &[Vec<f64>]) -> Result<f64> {
    let inputs = pipeline::quantize_inputs(g, data, false)?;
    let outs = exec::outputs(g, &inputs)?;
    let mut err = 0.0f64;
    for (k, (o, spec)) in outs.iter().zip(&g.outputs).enumerate() {
        let got = exec::dequantize(spec.scale, spec.zero_point, o);
        let w = want.get(k).context("the reference has fewer outputs than the model")?;
        if w.len() != got.len() {
            bail!("output {k}: {} values, the reference has {}", got.len(), w.len());
        }
        err = got.iter().zip(w).map(|(a, b)| (a - b).abs()).fold(err, f64::max);
    }
    Ok(err)
}

fn try_bits(a: &Args, bits: u32, data: &[Vec<f64>], want: &[Vec<f64>]) -> Result<Candidate> {
    candidate(&a.model, bits, data, want)
}

/// Calibrates `model` at one precision (see the module docs).
fn candidate(model: &std::path::Path, bits: u32, data: &[Vec<f64>], want: &[Vec<f64>]) -> Result<Candidate> {
    let base = ImportOptions { input_scale_bits: bits, param_scale_bits: bits, act_scale_bits: bits, ..ImportOptions::default() };
    // pass 1: observe the probes
    let probe = import_file(model, &ImportOptions { probing: true, ..base.clone() })?;
    let inputs = pipeline::quantize_inputs(&probe, data, false)?;
    let vals = exec::run(&probe, &inputs)?;
    let mut opts = base;
    for p in &probe.probes {
        let t = &vals[p.value];
        let (lo, hi) = t.data.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &q| {
            let x = (q - p.zero_point) as f64 * p.scale;
            (l.min(x), h.max(x))
        });
        if lo.is_finite() {
            let e = opts.ranges.entry(p.name.clone()).or_insert((lo, hi));
            *e = (e.0.min(lo), e.1.max(hi));
        }
    }
    // pass 2: the calibrated circuit
    let s = pipeline::compile(model, opts.clone(), None)?;
    let err = max_error(&s.graph, data, want)?;
    Ok(Candidate { bits, opts, k: s.k, rows: s.rows, err })
}

/// The resources-target choice over the default candidate precisions, quietly: the
/// calibrated import options and the measured error (for `check-suite --calibrate`).
pub(crate) fn calibrate_quiet(model: &std::path::Path, data: &[Vec<f64>], want: &[Vec<f64>], tol: f64) -> Result<(ImportOptions, f64)> {
    let mut best: Option<Candidate> = None;
    let mut last_err = None;
    for bits in [6, 8, 10, 12, 14] {
        match candidate(model, bits, data, want) {
            Ok(c) => {
                let better = match &best {
                    None => true,
                    Some(b) => match (c.err <= tol, b.err <= tol) {
                        (true, false) => true,
                        (true, true) => (c.k, c.rows) < (b.k, b.rows),
                        (false, false) => c.err < b.err,
                        (false, true) => false,
                    },
                };
                if better {
                    best = Some(c);
                }
            }
            Err(e) => last_err = Some(e),
        }
    }
    match best {
        Some(b) => Ok((b.opts, b.err)),
        None => Err(last_err.unwrap_or_else(|| anyhow::anyhow!("no candidate precision"))),
    }
}

pub fn run(a: Args) -> Result<()> {
    let data = read_inputs(&a.input)?;
    let python = find_python(a.python.as_deref());
    let (want, src) = reference_outputs(&a.model, &a.input, python.as_deref())
        .context("no reference outputs: give --python with onnxruntime, or `output_data` in the input file")?;
    let scale = want.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
    let tol = a.atol + a.rtol * scale;
    say!("reference: {src}; tolerance {tol:.3e}");
    say!("| bits | k | rows | tables | max abs err | within tolerance |");
    say!("|---|---|---|---|---|---|");
    let mut cands = Vec::new();
    for &b in &a.bits {
        match try_bits(&a, b, &data, &want) {
            Ok(c) => {
                say!("| {b} | {} | {} | {} | {:.3e} | {} |", c.k, c.rows, c.opts.ranges.len(), c.err, if c.err <= tol { "yes" } else { "no" });
                cands.push(c);
            }
            Err(e) => say!("| {b} | - | - | - | - | {} |", format!("{e:#}").replace('|', "/")),
        }
    }
    let ok = |c: &&Candidate| c.err <= tol;
    let best = match a.target {
        Target::Resources => cands.iter().filter(ok).min_by_key(|c| (c.k, c.rows)).or_else(|| cands.iter().min_by(|x, y| x.err.total_cmp(&y.err))),
        Target::Accuracy => cands.iter().min_by(|x, y| x.err.total_cmp(&y.err).then((x.k, x.rows).cmp(&(y.k, y.rows)))),
    }
    .context("no candidate precision worked")?;
    let opts = ImportOptions { visibility: a.vis.options(), ..best.opts.clone() };
    let mut s = pipeline::compile(&a.model, opts, None)?;
    s.calibration = Some(crate::files::Calibration {
        target: match a.target {
            Target::Accuracy => "accuracy".into(),
            Target::Resources => "resources".into(),
        },
        input: a.input.display().to_string(),
        reference: src.clone(),
        scale_bits: best.bits,
        max_abs_error: best.err,
        tolerance: tol,
    });
    let wd = Workdir(a.out);
    write_json(&wd.settings(), &s)?;
    say!(
        "chose 2^-{} scales, {} calibrated ranges: k = {}, {} rows, max abs error {:.3e} ({}) -> {}",
        best.bits,
        best.opts.ranges.len(),
        s.k,
        s.rows,
        best.err,
        if best.err <= tol { "within tolerance" } else { "ABOVE tolerance" },
        wd.settings().display()
    );
    Ok(())
}
