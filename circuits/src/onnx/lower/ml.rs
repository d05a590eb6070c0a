//! The `ai.onnx.ml` operators that scikit-learn exports use (through skl2onnx) besides the
//! tree ensembles ([`super::trees`]): linear models, SVMs, and the preprocessing steps of a
//! pipeline.
//!
//! Each operator is written as the standard ONNX operators it is made of (Gemm, Sub, Mul,
//! Div, Softmax, ArgMax, Equal, Where, ...) and lowered through them, so it inherits their
//! circuits and their soundness: nothing here adds a gadget. The semantics are onnxruntime's,
//! checked by the `models/ops/ml_*` fixtures:
//! - LinearClassifier: `scores = X·Wᵀ + b`; with one coefficient row and two class labels the
//!   scores are `[-s, s]`; the post-transform (NONE, LOGISTIC, SOFTMAX) applies to the scores;
//!   the label is the class of the largest raw score (the first on a tie).
//! - Normalizer: MAX divides by the row's largest value (its sign kept), L1 by `Σ|x|`, L2 by
//!   `sqrt(Σx²)`; a row whose divisor is 0 is left unchanged.
//! - Imputer: a `replaced_value_float` of NaN can never match (model inputs are finite), so
//!   the operator is the identity; any other value is replaced where it occurs exactly.
//! - ZipMap: the probabilities tensor the map is built from is the proven output.

use super::super::attrs::{self, node_name};
use super::super::consts::{Const, ConstData};
use super::super::proto::attribute_proto::AttributeType;
use super::super::proto::tensor_proto::DataType;
use super::super::proto::{AttributeProto, NodeProto};
use super::super::sym::{Lowering, QTarget, Real, Sym};
use super::{need, unsupported_use, Ins};
use crate::error::{CircuitError, Result};

// ------------------------------------------------------------------ building blocks

pub(super) fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: Some(name.into()), i: Some(v), r#type: Some(AttributeType::Int as i32), ..Default::default() }
}

pub(super) fn attr_float(name: &str, v: f64) -> AttributeProto {
    AttributeProto { name: Some(name.into()), f: Some(v as f32), r#type: Some(AttributeType::Float as i32), ..Default::default() }
}

pub(super) fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: Some(name.into()), ints: v.to_vec(), r#type: Some(AttributeType::Ints as i32), ..Default::default() }
}

/// A float constant.
pub(super) fn fconst(dims: Vec<usize>, v: Vec<f64>) -> Sym {
    Sym::Const(Const { dims, dtype: DataType::Float, data: ConstData::Float(v) })
}

/// An int64 constant.
pub(super) fn iconst(dims: Vec<usize>, v: Vec<i64>) -> Sym {
    Sym::Const(Const { dims, dtype: DataType::Int64, data: ConstData::Int(v) })
}

/// Lowers the standard operator `op` on `ins` as a step of `n` (named `n/step`).
pub(super) fn op(lw: &mut Lowering, n: &NodeProto, op: &str, step: &str, attributes: Vec<AttributeProto>, ins: &[&Sym]) -> Result<Vec<Sym>> {
    let name = format!("{}/{step}", node_name(n));
    let input = (0..ins.len()).map(|i| format!("{name}:{i}")).collect();
    let m = NodeProto { op_type: Some(op.into()), name: Some(name), domain: Some(String::new()), attribute: attributes, input, ..Default::default() };
    let ins: Ins = ins.iter().map(|s| Some(*s)).collect();
    super::lower_node(lw, &m, &ins)
}

/// [`op`] with one output.
pub(super) fn op1(lw: &mut Lowering, n: &NodeProto, name: &str, step: &str, attributes: Vec<AttributeProto>, ins: &[&Sym]) -> Result<Sym> {
    op(lw, n, name, step, attributes, ins)?.into_iter().next().ok_or_else(|| CircuitError::Internal(format!("{} gave no output", node_name(n))))
}

use super::trees::{floats, ints};

fn has(n: &NodeProto, k: &str) -> bool {
    n.attribute.iter().any(|a| a.name() == k)
}

pub(super) fn shape(lw: &Lowering, n: &NodeProto, x: &Sym) -> Result<Vec<usize>> {
    lw.shape(x).ok_or_else(|| unsupported_use(n, "an input of unknown shape"))
}

/// The input as a matrix `[N, F]` (a vector is one row), and `F`.
fn as_matrix(lw: &mut Lowering, n: &NodeProto, x: &Sym) -> Result<(Sym, usize)> {
    let xs = shape(lw, n, x)?;
    match xs.len() {
        2 => Ok((x.clone(), xs[1])),
        1 => {
            let r = op1(lw, n, "Reshape", "as_row", vec![], &[x, &iconst(vec![2], vec![1, xs[0] as i64])])?;
            Ok((r, xs[0]))
        }
        _ => Err(unsupported_use(n, format!("an input of shape {xs:?} (expected [N, features] or [features])"))),
    }
}

/// `X·Wᵀ + b` for a constant `W` of `rows` rows (flattened `coef`), scaled by `alpha`.
fn affine(lw: &mut Lowering, n: &NodeProto, step: &str, x: &Sym, feats: usize, coef: &[f64], bias: &[f64], alpha: f64) -> Result<Sym> {
    if feats == 0 || coef.is_empty() || coef.len() % feats != 0 {
        return Err(unsupported_use(n, format!("{} coefficients for {feats} features", coef.len())));
    }
    let rows = coef.len() / feats;
    let b = match bias.len() {
        0 => vec![0.0; rows],
        1 => vec![bias[0]; rows],
        l if l == rows => bias.to_vec(),
        l => return Err(unsupported_use(n, format!("{l} intercepts for {rows} outputs"))),
    };
    op1(lw, n, "Gemm", step, vec![attr_int("transB", 1), attr_float("alpha", alpha)], &[x, &fconst(vec![rows, feats], coef.to_vec()), &fconst(vec![rows], b)])
}

/// A post-transform of `[N, C]` scores.
fn post_transform(lw: &mut Lowering, n: &NodeProto, s: &Sym, pt: &str) -> Result<Sym> {
    match pt {
        "NONE" => Ok(s.clone()),
        "LOGISTIC" => op1(lw, n, "Sigmoid", "logistic", vec![], &[s]),
        "SOFTMAX" => op1(lw, n, "Softmax", "softmax", vec![attr_int("axis", 1)], &[s]),
        "SOFTMAX_ZERO" => softmax_zero(lw, n, s),
        "PROBIT" => {
            // onnxruntime's probit: √2·erf⁻¹(2p − 1) with Winitzki's erf⁻¹ (a = 0.147),
            // defined on (0, 1): inputs are clamped to [0, 1] and the function saturates at
            // its values at 1e-6 and 1 − 1e-6 (±4.75)
            let m = super::sub_node(n, "Probit", &format!("{}/probit", node_name(n)));
            let eps = 1e-6;
            let spec = super::math::Spec { dom_lo: -1e-12, dom_hi: 1.0, ..super::math::Spec::domain(0.0, 1.0) };
            super::math::table_fn(lw, &m, s, &|p: f64| std::f64::consts::SQRT_2 * erf_inv(2.0 * p.clamp(eps, 1.0 - eps) - 1.0), spec)
        }
        other => Err(unsupported_use(n, format!("post_transform {other}"))),
    }
}

/// Winitzki's approximation of erf⁻¹ (a = 0.147), as onnxruntime computes it.
fn erf_inv(x: f64) -> f64 {
    let sgn = if x < 0.0 { -1.0 } else { 1.0 };
    let t = (1.0 - x) * (1.0 + x);
    if t <= 0.0 {
        return sgn * f64::INFINITY;
    }
    let l = t.ln();
    let v = 2.0 / (std::f64::consts::PI * 0.147) + 0.5 * l;
    sgn * (-v + (v * v - l / 0.147).sqrt()).sqrt()
}

/// `x / d` for a divisor `d ≥ 0` that may be 0: `d` is raised to one step of its grid where
/// it is 0 (callers replace those rows).
pub(super) fn div_by_nonnegative(lw: &mut Lowering, n: &NodeProto, step: &str, x: &Sym, d: &Sym) -> Result<Sym> {
    let name = format!("{}/{step}", node_name(n));
    let r = lw.real(d, &name)?;
    let q = super::math::small_qt(lw, &r, &name)?;
    let hi = (lw.g.info(q.id).hi - q.zp).max(1);
    let mut r = Real::of(q.id, q.zp, q.scale);
    r.clamp_lo = Some(q.scale);
    let safe = Sym::Q(lw.materialize(&r, QTarget { scale: q.scale, zp: 0, lo: 1, hi }, false, &format!("{name}_safe"))?);
    op1(lw, n, "Div", step, vec![], &[x, &safe])
}

/// SOFTMAX_ZERO: softmax in which exact zeros contribute 0 (not `e^(0 − max)`); a row of
/// zeros gives 0.5 everywhere.
fn softmax_zero(lw: &mut Lowering, n: &NodeProto, s: &Sym) -> Result<Sym> {
    let keep = vec![attr_ints("axes", &[1]), attr_int("keepdims", 1)];
    let zero = fconst(vec![], vec![0.0]);
    let mx = op1(lw, n, "ReduceMax", "max", keep.clone(), &[s])?;
    let d = op1(lw, n, "Sub", "shift", vec![], &[s, &mx])?;
    let m = super::sub_node(n, "Exp", &format!("{}/exp", node_name(n)));
    let e = super::math::table_fn(lw, &m, &d, &f64::exp, super::math::Spec::domain(-18.0, 0.0))?;
    let is_zero = op1(lw, n, "Equal", "is_zero", vec![], &[s, &zero])?;
    let e = op1(lw, n, "Where", "drop_zeros", vec![], &[&is_zero, &zero, &e])?;
    let sum = op1(lw, n, "ReduceSum", "sum", vec![attr_int("keepdims", 1)], &[&e, &iconst(vec![1], vec![1])])?;
    let q = div_by_nonnegative(lw, n, "normalize", &e, &sum)?;
    let empty = op1(lw, n, "Equal", "empty", vec![], &[&sum, &zero])?;
    op1(lw, n, "Where", "half", vec![], &[&empty, &fconst(vec![], vec![0.5]), &q])
}

/// Integer class labels, or an error for string labels (a proof carries numbers).
fn class_labels(n: &NodeProto) -> Result<Vec<i64>> {
    let labels = ints(n, "classlabels_ints").into_iter().chain(ints(n, "classlabels_int64s")).collect::<Vec<_>>();
    if labels.is_empty() {
        if has(n, "classlabels_strings") {
            return Err(unsupported_use(n, "string class labels (a proof carries numbers: relabel the classes with integers)"));
        }
        return Err(unsupported_use(n, "no class labels"));
    }
    Ok(labels)
}

/// `labels[argmax_row(scores)]` (the first on a tie), shape `[N]`.
fn label_of(lw: &mut Lowering, n: &NodeProto, scores: &Sym, labels: &[i64]) -> Result<Sym> {
    let am = op1(lw, n, "ArgMax", "argmax", vec![attr_int("axis", 1), attr_int("keepdims", 0)], &[scores])?;
    if labels.iter().enumerate().all(|(i, &l)| l == i as i64) {
        return Ok(am);
    }
    let m = super::sub_node(n, "Gather", &format!("{}/label", node_name(n)));
    super::gather_dyn::gather(lw, &m, &iconst(vec![labels.len()], labels.to_vec()), &[labels.len()], &am, 0)
}

// ------------------------------------------------------------------ linear models

pub fn linear_regressor(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let (x, feats) = as_matrix(lw, n, need(n, ins, 0)?)?;
    let pt = attrs::string(n, "post_transform").unwrap_or_else(|| "NONE".into());
    if pt != "NONE" {
        return Err(unsupported_use(n, format!("post_transform {pt} (onnxruntime implements NONE only)")));
    }
    let y = affine(lw, n, "gemm", &x, feats, &floats(n, "coefficients"), &floats(n, "intercepts"), 1.0)?;
    Ok(vec![y])
}

pub fn linear_classifier(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let (x, feats) = as_matrix(lw, n, need(n, ins, 0)?)?;
    let labels = class_labels(n)?;
    let coef = floats(n, "coefficients");
    let mut s = affine(lw, n, "gemm", &x, feats, &coef, &floats(n, "intercepts"), 1.0)?;
    let rows = coef.len() / feats;
    if rows == 1 {
        if labels.len() != 2 {
            return Err(unsupported_use(n, format!("one score column for {} class labels", labels.len())));
        }
        // binary: scores [-s, s]
        let neg = op1(lw, n, "Neg", "neg", vec![], &[&s])?;
        s = op1(lw, n, "Concat", "binary", vec![attr_int("axis", 1)], &[&neg, &s])?;
    } else if rows != labels.len() {
        return Err(unsupported_use(n, format!("{rows} score columns for {} class labels", labels.len())));
    }
    let pt = attrs::string(n, "post_transform").unwrap_or_else(|| "NONE".into());
    let label = label_of(lw, n, &s, &labels)?;
    let z = post_transform(lw, n, &s, &pt)?;
    Ok(vec![label, z])
}

// ------------------------------------------------------------------ SVMs

/// Kernel values `K(x, sv_i)`, `[N, n_sv]`.
fn kernel(lw: &mut Lowering, n: &NodeProto, x: &Sym, feats: usize, sv: &[f64]) -> Result<Sym> {
    let kt = attrs::string(n, "kernel_type").unwrap_or_else(|| "LINEAR".into());
    let kp = floats(n, "kernel_params");
    let (gamma, coef0, degree) = (kp.first().copied().unwrap_or(0.0), kp.get(1).copied().unwrap_or(0.0), kp.get(2).copied().unwrap_or(0.0));
    let nsv = sv.len() / feats;
    match kt.as_str() {
        "LINEAR" => affine(lw, n, "dot", x, feats, sv, &[], 1.0),
        "POLY" => {
            let z = affine(lw, n, "dot", x, feats, sv, &[coef0], gamma)?;
            if degree.fract() != 0.0 || degree < 1.0 {
                return Err(unsupported_use(n, format!("polynomial degree {degree}")));
            }
            op1(lw, n, "Pow", "poly", vec![], &[&z, &fconst(vec![], vec![degree])])
        }
        "SIGMOID" => {
            let z = affine(lw, n, "dot", x, feats, sv, &[coef0], gamma)?;
            op1(lw, n, "Tanh", "sigmoid", vec![], &[&z])
        }
        "RBF" => {
            // -γ‖x − sv‖² = 2γ·x·sv − γ‖sv‖² − γ‖x‖²
            let sq: Vec<f64> = sv.chunks(feats).map(|v| -gamma * v.iter().map(|a| a * a).sum::<f64>()).collect();
            let cross = affine(lw, n, "dot", x, feats, sv, &sq, 2.0 * gamma)?;
            let xx = op1(lw, n, "ReduceSumSquare", "xx", vec![attr_ints("axes", &[1]), attr_int("keepdims", 1)], &[x])?;
            let xx = op1(lw, n, "Mul", "gxx", vec![], &[&xx, &fconst(vec![], vec![-gamma])])?;
            let z = op1(lw, n, "Add", "z", vec![], &[&cross, &xx])?;
            // z ≤ 0 exactly; exp below e^-18 is 0 at any useful output scale
            let _ = nsv;
            let m = super::sub_node(n, "Exp", &format!("{}/rbf", node_name(n)));
            super::math::table_fn(lw, &m, &z, &f64::exp, super::math::Spec::domain(-18.0, 0.0))
        }
        other => Err(unsupported_use(n, format!("kernel_type {other}"))),
    }
}

pub fn svm_regressor(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let (x, feats) = as_matrix(lw, n, need(n, ins, 0)?)?;
    let pt = attrs::string(n, "post_transform").unwrap_or_else(|| "NONE".into());
    if pt != "NONE" {
        return Err(unsupported_use(n, format!("post_transform {pt}")));
    }
    let (coef, sv, rho) = (floats(n, "coefficients"), floats(n, "support_vectors"), floats(n, "rho"));
    let nsv = attrs::int(n, "n_supports", 0).max(0) as usize;
    if sv.is_empty() || sv.len() % feats != 0 || coef.len() != sv.len() / feats || (nsv != 0 && nsv != coef.len()) {
        return Err(unsupported_use(n, format!("{} support vector values and {} coefficients for {feats} features", sv.len(), coef.len())));
    }
    let rho0 = rho.first().copied().unwrap_or(0.0);
    let kt = attrs::string(n, "kernel_type").unwrap_or_else(|| "LINEAR".into());
    let y = if kt == "LINEAR" {
        // Σ c_i ⟨x, sv_i⟩ = ⟨x, Σ c_i sv_i⟩: one dot product
        let mut w = vec![0.0; feats];
        for (c, v) in coef.iter().zip(sv.chunks(feats)) {
            for (wf, vf) in w.iter_mut().zip(v) {
                *wf += c * vf;
            }
        }
        affine(lw, n, "linear", &x, feats, &w, &[rho0], 1.0)?
    } else {
        let k = kernel(lw, n, &x, feats, &sv)?;
        affine(lw, n, "dual", &k, coef.len(), &coef, &[rho0], 1.0)?
    };
    if attrs::int(n, "one_class", 0) != 0 {
        // +1 where the score is positive, else -1
        let pos = op1(lw, n, "Greater", "inlier", vec![], &[&y, &fconst(vec![], vec![0.0])])?;
        let pos = op1(lw, n, "Cast", "inlier_f", vec![attr_int("to", DataType::Float as i64)], &[&pos])?;
        let two = op1(lw, n, "Mul", "two", vec![], &[&pos, &fconst(vec![], vec![2.0])])?;
        return Ok(vec![op1(lw, n, "Sub", "sign", vec![], &[&two, &fconst(vec![], vec![1.0])])?]);
    }
    Ok(vec![y])
}

// ------------------------------------------------------------------ preprocessing

pub fn scaler(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = shape(lw, n, x)?;
    let feats = xs.last().copied().unwrap_or(1);
    let per = |v: Vec<f64>, default: f64, what: &str| -> Result<Vec<f64>> {
        match v.len() {
            0 => Ok(vec![default; feats]),
            1 => Ok(vec![v[0]; feats]),
            l if l == feats => Ok(v),
            l => Err(unsupported_use(n, format!("{l} {what} values for {feats} features"))),
        }
    };
    let (offset, scale) = (per(floats(n, "offset"), 0.0, "offset")?, per(floats(n, "scale"), 1.0, "scale")?);
    let d = op1(lw, n, "Sub", "offset", vec![], &[x, &fconst(vec![feats], offset)])?;
    Ok(vec![op1(lw, n, "Mul", "scale", vec![], &[&d, &fconst(vec![feats], scale)])?])
}

pub fn binarizer(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let t = attrs::float(n, "threshold", 0.0) as f64;
    let gt = op1(lw, n, "Greater", "gt", vec![], &[x, &fconst(vec![], vec![t])])?;
    Ok(vec![op1(lw, n, "Cast", "cast", vec![attr_int("to", DataType::Float as i64)], &[&gt])?])
}

pub fn normalizer(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let (x, _) = as_matrix(lw, n, need(n, ins, 0)?)?;
    let norm = attrs::string(n, "norm").unwrap_or_else(|| "MAX".into());
    let keep = vec![attr_ints("axes", &[1]), attr_int("keepdims", 1)];
    let zero = fconst(vec![], vec![0.0]);
    let d = match norm.as_str() {
        "MAX" => op1(lw, n, "ReduceMax", "max", keep, &[&x])?,
        "L1" => op1(lw, n, "ReduceL1", "l1", keep, &[&x])?,
        "L2" => op1(lw, n, "ReduceL2", "l2", keep, &[&x])?,
        other => return Err(unsupported_use(n, format!("norm {other}"))),
    };
    // x / d where d ≠ 0, else x: |d| kept away from 0 so that the divisor has one sign, the
    // sign restored after the division
    let is_zero = op1(lw, n, "Equal", "is_zero", vec![], &[&d, &zero])?;
    let (mag, sign) = if norm == "MAX" {
        (op1(lw, n, "Abs", "abs", vec![], &[&d])?, Some(op1(lw, n, "Sign", "sign", vec![], &[&d])?))
    } else {
        (d.clone(), None)
    };
    // the divisor's magnitude raised to one step where it is 0 (those rows are kept as they are)
    let mut q = div_by_nonnegative(lw, n, "div", &x, &mag)?;
    if let Some(s) = sign {
        q = op1(lw, n, "Mul", "signed", vec![], &[&q, &s])?;
    }
    Ok(vec![op1(lw, n, "Where", "keep_zero_rows", vec![], &[&is_zero, &x, &q])?])
}

pub fn imputer(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = shape(lw, n, x)?;
    let feats = xs.last().copied().unwrap_or(1);
    let (vals, replaced) = if !floats(n, "imputed_value_floats").is_empty() {
        (floats(n, "imputed_value_floats"), attrs::float(n, "replaced_value_float", 0.0) as f64)
    } else if !ints(n, "imputed_value_int64s").is_empty() {
        (ints(n, "imputed_value_int64s").iter().map(|&v| v as f64).collect(), attrs::int(n, "replaced_value_int64", 0) as f64)
    } else {
        return Err(unsupported_use(n, "no imputed values"));
    };
    let vals = match vals.len() {
        1 => vec![vals[0]; feats],
        l if l == feats => vals,
        l => return Err(unsupported_use(n, format!("{l} imputed values for {feats} features"))),
    };
    if replaced.is_nan() {
        // model inputs are finite numbers (a NaN is refused when the input is quantized)
        return Ok(vec![x.clone()]);
    }
    let hit = op1(lw, n, "Equal", "missing", vec![], &[x, &fconst(vec![], vec![replaced])])?;
    Ok(vec![op1(lw, n, "Where", "impute", vec![], &[&hit, &fconst(vec![feats], vals), x])?])
}

pub fn array_feature_extractor(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = shape(lw, n, x)?;
    let last = *xs.last().ok_or_else(|| unsupported_use(n, "a scalar input"))?;
    let Some(idx) = super::wiring::const_ints(n, ins.get(1).copied().flatten(), "indices").ok().flatten() else {
        // computed indices (skl2onnx maps an ArgMax to class labels so): a lookup in constant data
        let Sym::Const(_) = x else {
            return Err(unsupported_use(n, "computed indices into a computed tensor"));
        };
        let i = need(n, ins, 1)?;
        let is_ = shape(lw, n, i)?;
        let m = super::sub_node(n, "Gather", &format!("{}/lookup", node_name(n)));
        let gth = super::gather_dyn::gather(lw, &m, x, &xs, i, xs.len() - 1)?;
        let count: usize = is_.iter().product();
        let mut out: Vec<i64> = if xs.len() == 1 { vec![1] } else { xs[..xs.len() - 1].iter().map(|&d| d as i64).collect() };
        out.push(count as i64);
        return Ok(vec![op1(lw, n, "Reshape", "shape", vec![], &[&gth, &iconst(vec![out.len()], out)])?]);
    };
    if let Some(&bad) = idx.iter().find(|&&i| i < 0 || i as usize >= last) {
        return Err(unsupported_use(n, format!("index {bad} of {last} features")));
    }
    let g = op1(lw, n, "Gather", "gather", vec![attr_int("axis", xs.len() as i64 - 1)], &[x, &iconst(vec![idx.len()], idx.clone())])?;
    let mut out: Vec<i64> = if xs.len() == 1 { vec![1] } else { xs[..xs.len() - 1].iter().map(|&d| d as i64).collect() };
    out.push(idx.len() as i64);
    Ok(vec![op1(lw, n, "Reshape", "shape", vec![], &[&g, &iconst(vec![out.len()], out)])?])
}

pub fn feature_vectorizer(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let dims = ints(n, "inputdimensions");
    let mut parts = Vec::new();
    for (i, &want) in dims.iter().enumerate() {
        let x = need(n, ins, i)?;
        let (m, have) = as_matrix(lw, n, x)?;
        let want = want.max(0) as usize;
        let p = if want < have {
            op1(lw, n, "Slice", &format!("cut{i}"), vec![], &[&m, &iconst(vec![1], vec![0]), &iconst(vec![1], vec![want as i64]), &iconst(vec![1], vec![1])])?
        } else if want > have {
            op1(lw, n, "Pad", &format!("pad{i}"), vec![], &[&m, &iconst(vec![4], vec![0, 0, 0, (want - have) as i64])])?
        } else {
            m
        };
        parts.push(p);
    }
    if parts.is_empty() {
        return Err(unsupported_use(n, "no inputdimensions"));
    }
    let refs: Vec<&Sym> = parts.iter().collect();
    Ok(vec![op1(lw, n, "Concat", "concat", vec![attr_int("axis", 1)], &refs)?])
}

pub fn zip_map(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    // a sequence of {label: probability} maps is the probabilities tensor, keyed: the tensor
    // is what the proof shows (its columns in class-label order)
    let labels: Vec<String> = ints(n, "classlabels_int64s").iter().map(|l| l.to_string()).collect();
    let labels = if labels.is_empty() { "its class labels".to_string() } else { format!("labels [{}]", labels.join(", ")) };
    let (out, src) = (n.output.first().cloned().unwrap_or_default(), n.input.first().cloned().unwrap_or_default());
    lw.g.notes.push(format!("output `{out}` is a ZipMap (a sequence of maps) of `{src}`: the proof shows that tensor, one column per class in the order of {labels}"));
    Ok(vec![need(n, ins, 0)?.clone()])
}

pub fn one_hot_encoder(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let cats = ints(n, "cats_int64s");
    if cats.is_empty() {
        return Err(unsupported_use(n, if has(n, "cats_strings") { "string categories (a proof carries numbers)" } else { "no categories" }));
    }
    if attrs::int(n, "zeros", 1) == 0 {
        return Err(unsupported_use(n, "zeros = 0 (an unknown category is an error at run time, which a proof cannot express)"));
    }
    let xs = shape(lw, n, x)?;
    let mut col = xs.iter().map(|&d| d as i64).collect::<Vec<_>>();
    col.push(1);
    let xe = op1(lw, n, "Reshape", "col", vec![], &[x, &iconst(vec![col.len()], col)])?;
    let hit = op1(lw, n, "Equal", "hit", vec![], &[&xe, &fconst(vec![cats.len()], cats.iter().map(|&c| c as f64).collect())])?;
    Ok(vec![op1(lw, n, "Cast", "onehot", vec![attr_int("to", DataType::Float as i64)], &[&hit])?])
}

pub fn label_encoder(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let keys: Vec<f64> = if !ints(n, "keys_int64s").is_empty() {
        ints(n, "keys_int64s").iter().map(|&v| v as f64).collect()
    } else if !floats(n, "keys_floats").is_empty() {
        floats(n, "keys_floats")
    } else {
        return Err(unsupported_use(n, "string keys (a proof carries numbers) or no keys"));
    };
    let (values, default, int_out): (Vec<f64>, f64, bool) = if !ints(n, "values_int64s").is_empty() {
        (ints(n, "values_int64s").iter().map(|&v| v as f64).collect(), attrs::int(n, "default_int64", -1) as f64, true)
    } else if !floats(n, "values_floats").is_empty() {
        (floats(n, "values_floats"), attrs::float(n, "default_float", -0.0) as f64, false)
    } else {
        return Err(unsupported_use(n, "string values (a proof carries numbers) or no values"));
    };
    if keys.len() != values.len() {
        return Err(unsupported_use(n, format!("{} keys for {} values", keys.len(), values.len())));
    }
    // y = default + Σ_k (value_k − default)·[x = key_k]
    let xs = shape(lw, n, x)?;
    let mut col = xs.iter().map(|&d| d as i64).collect::<Vec<_>>();
    col.push(1);
    let xe = op1(lw, n, "Reshape", "col", vec![], &[x, &iconst(vec![col.len()], col)])?;
    let hit = op1(lw, n, "Equal", "hit", vec![], &[&xe, &fconst(vec![keys.len()], keys)])?;
    let hit = op1(lw, n, "Cast", "hit_f", vec![attr_int("to", DataType::Float as i64)], &[&hit])?;
    let delta = fconst(vec![values.len(), 1], values.iter().map(|v| v - default).collect());
    let mut y = op1(lw, n, "MatMul", "select", vec![], &[&hit, &delta])?;
    let out: Vec<i64> = xs.iter().map(|&d| d as i64).collect();
    y = op1(lw, n, "Reshape", "shape", vec![], &[&y, &iconst(vec![out.len()], out)])?;
    y = op1(lw, n, "Add", "default", vec![], &[&y, &fconst(vec![], vec![default])])?;
    if int_out {
        y = op1(lw, n, "Cast", "int", vec![attr_int("to", DataType::Int64 as i64)], &[&y])?;
    }
    Ok(vec![y])
}

/// SVMClassifier: libsvm's one-vs-one voting over kernel expansions (`vectors_per_class`
/// set), or liblinear's per-class scores (no support vectors). For each class pair `(i, j)`
/// the score is `rho_e + Σ_{v ∈ i} coef[j-1][v]·K_v + Σ_{v ∈ j} coef[i][v]·K_v`; a positive
/// score is a vote for `i`, else for `j`; the label is the class with most votes (the first on
/// a tie). Two classes give scores `[-s, s]`. Platt-scaled probabilities (`prob_a`/`prob_b`)
/// are refused: their pairwise coupling is an iterative solve.
pub fn svm_classifier(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let (x, feats) = as_matrix(lw, n, need(n, ins, 0)?)?;
    let labels = class_labels(n)?;
    let c = labels.len();
    let (coef, sv, rho) = (floats(n, "coefficients"), floats(n, "support_vectors"), floats(n, "rho"));
    if !floats(n, "prob_a").is_empty() {
        return Err(unsupported_use(n, "Platt-scaled probabilities (prob_a/prob_b: an iterative pairwise coupling); export the SVC with probability=False"));
    }
    let pt = attrs::string(n, "post_transform").unwrap_or_else(|| "NONE".into());
    let all_positive = coef.iter().all(|&v| v >= 0.0);
    let vpc: Vec<usize> = ints(n, "vectors_per_class").iter().map(|&v| v.max(0) as usize).collect();
    let nv: usize = vpc.iter().sum();
    let rho0 = rho.first().copied().unwrap_or(0.0);
    if nv == 0 {
        // liblinear: one score per class, rho[0] added to each
        if c == 2 && all_positive {
            return Err(unsupported_use(n, "a linear SVM with two classes and all-positive coefficients"));
        }
        let s = affine(lw, n, "linear", &x, feats, &coef, &[rho0], 1.0)?;
        let label = label_of(lw, n, &s, &labels)?;
        return Ok(vec![label, post_transform(lw, n, &s, &pt)?]);
    }
    let pairs: Vec<(usize, usize)> = (0..c).flat_map(|i| (i + 1..c).map(move |j| (i, j))).collect();
    if vpc.len() != c || sv.len() != nv * feats || coef.len() != (c - 1) * nv || rho.len() != pairs.len() {
        return Err(unsupported_use(
            n,
            format!("{} classes, {} vectors per class, {} support vector values, {} coefficients and {} rho for {feats} features", c, vpc.len(), sv.len(), coef.len(), rho.len()),
        ));
    }
    let start: Vec<usize> = vpc.iter().scan(0, |acc, &v| {
        let s = *acc;
        *acc += v;
        Some(s)
    }).collect();
    let k = kernel(lw, n, &x, feats, &sv)?;
    // pair scores: one row of weights over the kernel values per pair
    let mut a = vec![0.0; pairs.len() * nv];
    for (e, &(i, j)) in pairs.iter().enumerate() {
        for v in start[i]..start[i] + vpc[i] {
            a[e * nv + v] = coef[(j - 1) * nv + v];
        }
        for v in start[j]..start[j] + vpc[j] {
            a[e * nv + v] = coef[i * nv + v];
        }
    }
    let s = affine(lw, n, "pairs", &k, nv, &a, &rho, 1.0)?;
    // votes[c] = Σ_{(i,j)} [c = i]·[s > 0] + [c = j]·(1 − [s > 0])
    let gt = op1(lw, n, "Greater", "wins", vec![], &[&s, &fconst(vec![], vec![0.0])])?;
    let gt = op1(lw, n, "Cast", "wins_f", vec![attr_int("to", DataType::Float as i64)], &[&gt])?;
    let mut v = vec![0.0; c * pairs.len()];
    let mut base = vec![0.0; c];
    for (e, &(i, j)) in pairs.iter().enumerate() {
        v[i * pairs.len() + e] += 1.0;
        v[j * pairs.len() + e] -= 1.0;
        base[j] += 1.0;
    }
    let votes = affine(lw, n, "votes", &gt, pairs.len(), &v, &base, 1.0)?;
    let label = if c == 2 && all_positive {
        // onnxruntime: all-positive weights and a winner's vote count >= 0.5: the second label
        let rows = shape(lw, n, &x)?[0];
        iconst(vec![rows], vec![labels[1]; rows])
    } else {
        label_of(lw, n, &votes, &labels)?
    };
    let z = if c == 2 {
        let neg = op1(lw, n, "Neg", "neg", vec![], &[&s])?;
        let both = op1(lw, n, "Concat", "binary", vec![attr_int("axis", 1)], &[&neg, &s])?;
        post_transform(lw, n, &both, &pt)?
    } else {
        post_transform(lw, n, &s, &pt)?
    };
    Ok(vec![label, z])
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use crate::onnx::proto::{NodeProto, ValueInfoProto};
    use crate::onnx::{decode, import_bytes, ImportOptions};

    /// skl2onnx's default classifier output is a ZipMap of the probabilities: the proven
    /// output is that tensor, the same values as without the map.
    #[test]
    fn zip_map_proves_the_probabilities_it_is_built_from() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ops/ml_logreg_binary/model.onnx");
        let bytes = std::fs::read(&path).expect("fixture (run bash models/generate.sh)");
        let mut m = decode(&bytes).expect("onnx");
        let g = m.graph.as_mut().expect("graph");
        let probs = g.output[1].name().to_string();
        g.node.push(NodeProto {
            op_type: Some("ZipMap".into()),
            domain: Some("ai.onnx.ml".into()),
            name: Some("zipmap".into()),
            input: vec![probs],
            output: vec!["output_probability".into()],
            attribute: vec![super::attr_ints("classlabels_int64s", &[0, 1])],
            ..Default::default()
        });
        g.output[1] = ValueInfoProto { name: Some("output_probability".into()), ..Default::default() };
        let plain = import_bytes(&bytes, &ImportOptions::default()).expect("without ZipMap");
        let zipped = import_bytes(&m.encode_to_vec(), &ImportOptions::default()).expect("with ZipMap");
        assert_eq!(zipped.outputs[1].name, "output_probability");
        assert!(zipped.notes.iter().any(|n| n.contains("`output_probability` is a ZipMap") && n.contains("labels [0, 1]")), "{:?}", zipped.notes);
        assert!(plain.notes.is_empty());
        for x in [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [0.0; 4]] {
            let q = crate::exec::quantize_input(&plain.inputs[0], &x, false).expect("input");
            assert_eq!(crate::exec::outputs(&plain, std::slice::from_ref(&q)).expect("run"), crate::exec::outputs(&zipped, &[q]).expect("run"));
        }
    }
}
