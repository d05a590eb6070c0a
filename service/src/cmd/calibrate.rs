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
//!
//! Each precision is tried twice: with the default saturation range of fixed-point
//! activations (±2^(act_bits-1), act_bits = 24), and with `act_bits` fitted to the sample:
//! the bits of the largest activation pass 1 observed, plus [`ACT_HEADROOM_BITS`] (values up
//! to 4x larger than any seen still fit; larger ones saturate, in the executor and the circuit
//! alike), and that rounded up to whole range-check limbs. Narrower activations need fewer
//! limbs, hence fewer rows.
//! `--target resources` picks the smallest circuit whose error is within tolerance (the most
//! accurate if none is); `--target accuracy` the smallest error, then the smallest circuit.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use zkinfer_circuits::exec;
use zkinfer_circuits::onnx::{import_file, ImportOptions};

use super::check_suite::{find_python, reference_outputs};
use crate::files::{read_inputs, Workdir};
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
    /// What the circuit shape of the chosen scales optimises, as `compile --optimize`:
    /// balanced, prove or gas.
    #[arg(long, value_enum, default_value = "balanced")]
    optimize: pipeline::Objective,
    /// Candidate scale exponents (input = weights = activations = 2^-b).
    #[arg(long, value_delimiter = ',', default_value = "6,8,10,12,14,16")]
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

/// The candidate precisions of `check-suite --calibrate` (as `calibrate --bits`' default).
const DEFAULT_BITS: [u32; 6] = [6, 8, 10, 12, 14, 16];

/// Headroom above the largest activation seen in calibration, in bits.
pub const ACT_HEADROOM_BITS: u32 = 2;

struct Candidate {
    bits: u32,
    /// The activation saturation bits fitted to the sample in pass 1.
    act_needed: u32,
    opts: ImportOptions,
    k: u32,
    rows: usize,
    /// The cost model's predicted prove time.
    prove_s: f64,
    err: f64,
}

fn max_error(g: &zkinfer_circuits::ir::Graph, data: &[Vec<f64>], want: &[Vec<f64>]) -> Result<f64> {
    let inputs = pipeline::quantize_inputs(g, data, pipeline::model_saturates(g))?;
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

/// The candidates at one precision: default activation bits, then the fitted ones (see the
/// module docs), also rounded up to where the saturation range of signed (`8m` bits) or
/// Relu-clamped (`8m + 1`) activations is a whole number of range-check limbs, which saves
/// the second range check of a clamped value.
fn candidates_at(model: &std::path::Path, bits: u32, data: &[Vec<f64>], want: &[Vec<f64>]) -> Vec<Result<Candidate>> {
    let wide = candidate(model, bits, None, data, want);
    let mut fitted = Vec::new();
    if let Ok(c) = &wide {
        let a = c.act_needed + ACT_HEADROOM_BITS;
        let limb = zkinfer_circuits::layout::ctx::LIMB_BITS;
        let mut variants = vec![a, a.div_ceil(limb) * limb, (a - 1).div_ceil(limb) * limb + 1];
        variants.sort();
        variants.dedup();
        fitted = variants.into_iter().filter(|&v| v < c.opts.act_bits).map(|v| candidate(model, bits, Some(v), data, want)).collect();
    }
    std::iter::once(wide).chain(fitted).collect()
}

/// Resources order: smaller predicted prove time (cost model), then smaller k, fewer rows.
fn by_cost(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    a.prove_s.total_cmp(&b.prove_s).then((a.k, a.rows).cmp(&(b.k, b.rows)))
}

/// Calibrates `model` at one precision (see the module docs); `act_bits` overrides the
/// activation saturation bits.
fn candidate(model: &std::path::Path, bits: u32, act_bits: Option<u32>, data: &[Vec<f64>], want: &[Vec<f64>]) -> Result<Candidate> {
    let d = ImportOptions::default();
    let base = ImportOptions { input_scale_bits: bits, param_scale_bits: bits, act_scale_bits: bits, act_bits: act_bits.unwrap_or(d.act_bits), ..d };
    // pass 1: observe the probes
    let probe = import_file(model, &ImportOptions { probing: true, ..base.clone() })?;
    let inputs = pipeline::quantize_inputs(&probe, data, pipeline::model_saturates(&probe))?;
    let vals = exec::run(&probe, &inputs)?;
    // the largest fixed-point activation (or input) that can saturate: values whose static
    // bounds are the saturation range or one end of it (not wider intermediates such as
    // accumulators, which are derived from these)
    let h = 1i64 << (base.act_bits - 1);
    let mut biggest = 0i64;
    for (v, t) in vals.iter().enumerate() {
        let info = probe.info(v);
        if info.lo >= -h && info.hi <= h - 1 && (info.lo == -h || info.hi == h - 1) {
            biggest = t.data.iter().fold(biggest, |m, &q| m.max(q.saturating_abs()));
        }
    }
    let act_needed = (64 - biggest.leading_zeros() + 1).max(2);
    let mut opts = base;
    opts.ranges.extend(pipeline::probe_ranges(&probe, &vals));
    // pass 2: the calibrated circuit
    measure(model, opts, bits, act_needed, data, want)
}

/// Compiles `opts` and measures the circuit's error on the sample data. The candidate keeps
/// the options compile settled on (with or without interpolated tables): what was measured.
fn measure(model: &std::path::Path, opts: ImportOptions, bits: u32, act_needed: u32, data: &[Vec<f64>], want: &[Vec<f64>]) -> Result<Candidate> {
    // (candidates are ranked by the resources of their fastest shape, as before gas counted)
    let s = pipeline::compile(model, opts, None, pipeline::Objective::Prove)?;
    let err = max_error(&s.graph, data, want)?;
    let prove_s = s.cost.as_ref().map_or(f64::INFINITY, |c| c.prove_seconds);
    Ok(Candidate { bits, act_needed, opts: s.options, k: s.k, rows: s.rows, prove_s, err })
}

/// Finer function-table grids tried when no candidate meets the tolerance.
const FINER_TABLE_BITS: [u32; 2] = [14, 16];

/// `base` (a calibrated candidate's options) with function tables of up to `2^table_bits`
/// points.
fn finer_tables(model: &std::path::Path, bits: u32, act_needed: u32, base: &ImportOptions, table_bits: u32, data: &[Vec<f64>], want: &[Vec<f64>]) -> Result<Candidate> {
    let opts = ImportOptions { table_bits: Some(table_bits), interpolate: true, ..base.clone() };
    measure(model, opts, bits, act_needed, data, want)
}

/// The resources-target choice over the default candidate precisions, quietly: the
/// calibrated import options and the measured error (for `check-suite --calibrate`).
pub(crate) fn calibrate_quiet(model: &std::path::Path, data: &[Vec<f64>], want: &[Vec<f64>], tol: f64) -> Result<(ImportOptions, f64)> {
    let mut best: Option<Candidate> = None;
    let mut last_err = None;
    for c in DEFAULT_BITS.into_iter().flat_map(|bits| candidates_at(model, bits, data, want)) {
        match c {
            Ok(c) => {
                let better = match &best {
                    None => true,
                    Some(b) => match (c.err <= tol, b.err <= tol) {
                        (true, false) => true,
                        (true, true) => by_cost(&c, b).is_lt(),
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

pub fn run(a: Args) -> Result<serde_json::Value> {
    let data = read_inputs(&a.input)?;
    let python = find_python(a.python.as_deref());
    let (want, src) = reference_outputs(&a.model, &a.input, python.as_deref())
        .context("no reference outputs: give --python with onnxruntime, or `output_data` in the input file")?;
    let scale = want.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
    let tol = a.atol + a.rtol * scale;
    say!("reference: {src}; tolerance {tol:.3e}");
    say!("| bits | act bits | k | rows | predicted prove s | tables | max abs err | within tolerance |");
    say!("|---|---|---|---|---|---|---|---|");
    let mut cands = Vec::new();
    let progress = super::Progress::start("calibrate");
    for &b in &a.bits {
        progress.step(&format!("2^-{b} scales"));
        for c in candidates_at(&a.model, b, &data, &want) {
            match c {
                Ok(c) => {
                    say!("| {b} | {} | {} | {} | {:.2} | {} | {:.3e} | {} |", c.opts.act_bits, c.k, c.rows, c.prove_s, c.opts.ranges.len(), c.err, if c.err <= tol { "yes" } else { "no" });
                    cands.push(c);
                }
                Err(e) => say!("| {b} | - | - | - | - | - | - | {} |", format!("{e:#}").replace('|', "/")),
            }
        }
    }
    // the error may be the function tables' grid, not the scale: retry the most accurate
    // candidate, and the most accurate at the finest scale (a table is never finer than its
    // input's grid), with finer tables
    if !cands.iter().any(|c| c.err <= tol) {
        let by_err = |x: &&Candidate, y: &&Candidate| x.err.total_cmp(&y.err);
        let finest = cands.iter().map(|c| c.bits).max();
        let mut retry: Vec<(u32, u32, ImportOptions)> = Vec::new();
        for c in [cands.iter().min_by(by_err), cands.iter().filter(|c| Some(c.bits) == finest).min_by(by_err)].into_iter().flatten() {
            if !c.opts.ranges.is_empty() && !retry.iter().any(|r| r.2 == c.opts) {
                retry.push((c.bits, c.act_needed, c.opts.clone()));
            }
        }
        for (bits, act_needed, base) in retry {
            for tb in FINER_TABLE_BITS {
                progress.step(&format!("2^-{bits} scales, 2^{tb} tables"));
                match finer_tables(&a.model, bits, act_needed, &base, tb, &data, &want) {
                    Ok(c) => {
                        say!("| {bits} (2^{tb} tables) | {} | {} | {} | {:.2} | {} | {:.3e} | {} |", c.opts.act_bits, c.k, c.rows, c.prove_s, c.opts.ranges.len(), c.err, if c.err <= tol { "yes" } else { "no" });
                        cands.push(c);
                    }
                    Err(e) => say!("| {bits} (2^{tb} tables) | - | - | - | - | - | - | {} |", format!("{e:#}").replace('|', "/")),
                }
            }
        }
    }
    let ok = |c: &&Candidate| c.err <= tol;
    let best = match a.target {
        Target::Resources => cands.iter().filter(ok).min_by(|x, y| by_cost(x, y)).or_else(|| cands.iter().min_by(|x, y| x.err.total_cmp(&y.err))),
        Target::Accuracy => cands.iter().min_by(|x, y| x.err.total_cmp(&y.err).then((x.k, x.rows).cmp(&(y.k, y.rows)))),
    }
    .context("no candidate precision worked")?;
    let opts = ImportOptions { visibility: a.vis.options(), weight_bits: a.vis.weight_bits, ..best.opts.clone() };
    progress.step("compile");
    let mut s = pipeline::compile(&a.model, opts, None, a.optimize)?;
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
    wd.write_settings(&s)?;
    say!(
        "chose 2^-{} scales, activations within ±2^{}, {} calibrated ranges: k = {}, {} rows, max abs error {:.3e} ({}) -> {}",
        best.bits,
        best.opts.act_bits - 1,
        best.opts.ranges.len(),
        s.k,
        s.rows,
        best.err,
        if best.err <= tol { "within tolerance" } else { "ABOVE tolerance" },
        wd.settings().display()
    );
    drop(progress);
    let mut r = super::settings_report(&wd, &s);
    r["within_tolerance"] = (best.err <= tol).into();
    r["candidates"] = cands.iter().map(|c| serde_json::json!({"bits": c.bits, "act_bits": c.opts.act_bits, "k": c.k, "rows": c.rows, "predicted_prove_seconds": c.prove_s, "max_abs_error": c.err})).collect::<Vec<_>>().into();
    Ok(r)
}
