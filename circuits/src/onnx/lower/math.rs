//! Elementwise math beyond Add/Sub: Mul, Div, Pow, Sqrt, Reciprocal, Abs, Neg, Sign,
//! Min/Max, Floor/Ceil/Round, comparisons, logic, Where, Cast, and the table-based
//! nonlinear functions (Sigmoid, Tanh, Exp, Log, Erf, Gelu, Elu, Selu, Celu, Softplus, Mish,
//! HardSwish, ...).
//!
//! Everything is built from four circuit primitives: [`Rescale`](crate::ops::Rescale)
//! (linear maps with clamping: ReLU, comparisons on a common grid, logic), [`Mul`],
//! [`Div`], [`Sqrt`] and [`Table`]. Piecewise-linear functions (LeakyRelu, PRelu,
//! HardSigmoid, Abs, Min/Max) are exact. A nonlinear `f` with linear tails is split as
//! `f(x) = a·x + b·relu(x) + g(x)` where `g` is constant outside a bounded interval: the
//! linear part stays exact at the activation precision and only `g` is tabulated, on a grid
//! of at most 2^table_bits points over that interval, or interpolated between the points of
//! a coarse table ([`Interp`]) where that needs fewer rows at no loss of accuracy.

use super::super::attrs::{self, node_name};
use super::super::consts::{Const, ConstData};
use super::super::proto::tensor_proto::DataType;
use super::super::proto::NodeProto;
use super::super::sym::{Lowering, QTarget, Real, Rounding, Sym, QT};
use super::elementwise::combine;
use super::wiring::{broadcast_shapes, broadcast_to, const_tensor};
use super::{need, unsupported_use, Ins};
use crate::error::Result;
use crate::ir::bound_bits;
use crate::ops::interp::INTERP_BITS;
use crate::ops::{Div, Interp, Mul, Op, Sqrt, Table};

/// Largest grid (as a power of two) a tabulated function gets by default
/// ([`crate::onnx::ImportOptions::table_bits`] overrides it).
pub const TABLE_BITS: u32 = 12;

fn const_vals(s: &Sym) -> Option<(Vec<usize>, Vec<f64>)> {
    match s {
        Sym::Const(c) => Some((c.dims.clone(), c.floats())),
        Sym::ConstQ(c) => Some((c.q.dims.clone(), c.reals())),
        _ => None,
    }
}

fn fconst(dims: Vec<usize>, v: Vec<f64>) -> Sym {
    Sym::Const(Const { dims, dtype: DataType::Float, data: ConstData::Float(v) })
}

/// Elementwise function of two constants, with broadcasting.
fn fold2(n: &NodeProto, a: &(Vec<usize>, Vec<f64>), b: &(Vec<usize>, Vec<f64>), f: impl Fn(f64, f64) -> f64) -> Result<Sym> {
    let out = broadcast_shapes(&a.0, &b.0).ok_or_else(|| unsupported_use(n, "constant shapes do not broadcast"))?;
    let pick = |s: &[usize], v: &[f64], flat: usize| -> f64 {
        let idx = super::wiring::unravel(flat, &out);
        let off = out.len() - s.len();
        let src: Vec<usize> = (0..s.len()).map(|d| if s[d] == 1 { 0 } else { idx[d + off] }).collect();
        v[super::wiring::ravel(&src, s)]
    };
    let k: usize = out.iter().product();
    Ok(fconst(out.clone(), (0..k).map(|i| f(pick(&a.0, &a.1, i), pick(&b.0, &b.1, i))).collect()))
}

/// Elementwise function of two constants (integer result when both are integers and `f`
/// keeps integers integral).
pub fn fold_consts(n: &NodeProto, a: &Const, b: &Const, f: impl Fn(f64, f64) -> f64) -> Result<Sym> {
    let r = fold2(n, &(a.dims.clone(), a.floats()), &(b.dims.clone(), b.floats()), f)?;
    if let (Sym::Const(c), ConstData::Int(_), ConstData::Int(_)) = (&r, &a.data, &b.data) {
        let v = c.floats();
        if v.iter().all(|x| x.fract() == 0.0) {
            return Ok(Sym::Const(Const { dims: c.dims.clone(), dtype: a.dtype, data: ConstData::Int(v.iter().map(|&x| x as i64).collect()) }));
        }
    }
    Ok(r)
}

/// `k·r` for a real constant `k`.
pub fn scale_real(r: &Real, k: f64) -> Real {
    let mut o = r.clone();
    for t in &mut o.terms {
        t.scale.iter_mut().for_each(|s| *s *= k);
    }
    o.offset.iter_mut().for_each(|x| *x *= k);
    let (lo, hi) = (r.clamp_lo.map(|c| c * k), r.clamp_hi.map(|c| c * k));
    if k >= 0.0 {
        (o.clamp_lo, o.clamp_hi) = (lo, hi);
    } else {
        (o.clamp_lo, o.clamp_hi) = (hi, lo);
    }
    o
}

/// `r + c`.
pub(crate) fn add_const(r: &Real, c: f64) -> Real {
    let mut o = r.clone();
    if o.offset.is_empty() {
        o.offset = vec![c];
    } else {
        o.offset.iter_mut().for_each(|x| *x += c);
    }
    o.clamp_lo = r.clamp_lo.map(|v| v + c);
    o.clamp_hi = r.clamp_hi.map(|v| v + c);
    o
}

/// A plain quantized tensor small enough to multiply (at most `act_bits` bits).
pub(crate) fn small_qt(lw: &mut Lowering, r: &Real, name: &str) -> Result<QT> {
    if let Some(q) = r.as_plain() {
        let i = lw.g.info(q.id);
        if bound_bits(i.lo - q.zp, i.hi - q.zp) <= lw.opts.act_bits {
            return Ok(q);
        }
    }
    let t = lw.float_target();
    lw.materialize(r, t, false, name)
}

/// Two operands as plain tensors of one broadcast shape.
fn pair(lw: &mut Lowering, n: &NodeProto, a: &Sym, b: &Sym) -> Result<(QT, QT)> {
    let name = node_name(n);
    let ra = lw.real(a, &name)?;
    let rb = lw.real(b, &name)?;
    let qa = small_qt(lw, &ra, &format!("{name}/a"))?;
    let qb = if ra == rb { qa.clone() } else { small_qt(lw, &rb, &format!("{name}/b"))? };
    let (sa, sb) = (lw.g.info(qa.id).shape.clone(), lw.g.info(qb.id).shape.clone());
    if sa == sb {
        return Ok((qa, qb));
    }
    let out = broadcast_shapes(&sa, &sb).ok_or_else(|| unsupported_use(n, format!("operand shapes {sa:?} and {sb:?} do not broadcast")))?;
    let fa = broadcast_to(lw, &format!("{name}/bcast_a"), &Sym::Q(qa), &out)?;
    let fb = broadcast_to(lw, &format!("{name}/bcast_b"), &Sym::Q(qb), &out)?;
    let ra = lw.real(&fa, &name)?;
    let rb = lw.real(&fb, &name)?;
    Ok((ra.as_plain().expect("wired"), rb.as_plain().expect("wired")))
}

/// A constant as a tensor operand (for Mul/Div with a full constant tensor).
fn const_qt(lw: &mut Lowering, name: &str, dims: &[usize], v: &[f64]) -> Result<QT> {
    let scale = (-(lw.opts.param_scale_bits as f64)).exp2();
    const_tensor(lw, name, dims, v, scale)
}

/// The symbol of a product of two tensors.
pub(crate) fn mul_tensors(lw: &mut Lowering, n: &NodeProto, a: &Sym, b: &Sym) -> Result<Real> {
    mul_tensors_summed(lw, n, a, b, 1)
}

/// `Σ (a - za)·(b - zb)` over runs of `group` along the last axis of two tensors of one shape
/// (a [`Mul`] with that group; 1: the elementwise product).
pub(crate) fn mul_tensors_summed(lw: &mut Lowering, n: &NodeProto, a: &Sym, b: &Sym, group: usize) -> Result<Real> {
    let (qa, qb) = pair(lw, n, a, b)?;
    let id = lw.g.add_node(&node_name(n), Op::Mul(Mul { a: qa.id, b: qb.id, za: qa.zp, zb: qb.zp, group }))?;
    Ok(Real::of(id, 0, qa.scale * qb.scale))
}

/// `x·c` for a constant `c` (scalar, per-channel or full tensor).
fn mul_const(lw: &mut Lowering, n: &NodeProto, x: &Sym, c: &(Vec<usize>, Vec<f64>)) -> Result<Real> {
    let name = node_name(n);
    let r = lw.real(x, &name)?;
    if c.1.len() == 1 {
        return Ok(scale_real(&r, c.1[0]));
    }
    let shape = lw.shape(x).unwrap_or_default();
    let non1: Vec<usize> = (0..c.0.len()).filter(|&i| c.0[i] != 1).collect();
    if non1.len() == 1 && c.0.len() <= shape.len() {
        let axis = shape.len() - c.0.len() + non1[0];
        let simple = r.terms.iter().all(|t| t.scale.len() == 1) && r.offset.len() <= 1 && r.clamp_lo.is_none() && r.clamp_hi.is_none();
        if shape[axis] == c.1.len() {
            let r = if simple { r } else { let q = lw.plain(&r, &format!("{name}/operand"))?; Real::of(q.id, q.zp, q.scale) };
            let mut o = r.clone();
            for t in &mut o.terms {
                t.scale = c.1.iter().map(|k| t.scale[0] * k).collect();
            }
            if let Some(&off) = r.offset.first() {
                o.offset = c.1.iter().map(|k| off * k).collect();
            }
            o.axis = axis;
            return Ok(o);
        }
    }
    let shape_c = broadcast_shapes(&shape, &c.0).ok_or_else(|| unsupported_use(n, "constant does not broadcast"))?;
    let cb = broadcast_to(lw, &format!("{name}/bcast_c"), &fconst(c.0.clone(), c.1.clone()), &shape_c)?;
    let (dims, vals) = const_vals(&cb).expect("constants fold");
    let q = const_qt(lw, &format!("{name}/const"), &dims, &vals)?;
    mul_tensors(lw, n, x, &Sym::Q(q))
}

pub fn mul(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let (a, b) = (need(n, ins, 0)?, need(n, ins, 1)?);
    let r = match (const_vals(a), const_vals(b)) {
        (Some(_), Some(_)) => {
            if let (Sym::Const(x), Sym::Const(y)) = (a, b) {
                return Ok(vec![fold_consts(n, x, y, |p, q| p * q)?]);
            }
            let (ca, cb) = (const_vals(a).expect("c"), const_vals(b).expect("c"));
            return Ok(vec![fold2(n, &ca, &cb, |x, y| x * y)?]);
        }
        (None, Some(cb)) => mul_const(lw, n, a, &cb)?,
        (Some(ca), None) => mul_const(lw, n, b, &ca)?,
        (None, None) => mul_tensors(lw, n, a, b)?,
    };
    Ok(vec![Sym::Real(r)])
}

/// `a / b` of two tensors (b's range must exclude zero).
pub(crate) fn div_tensors(lw: &mut Lowering, n: &NodeProto, a: &Sym, b: &Sym) -> Result<Real> {
    let name = node_name(n);
    let rb = lw.real(b, &name)?;
    let qb0 = small_qt(lw, &rb, &format!("{name}/den"))?;
    let i = lw.g.info(qb0.id);
    let b = if i.lo - qb0.zp <= 0 && i.hi - qb0.zp >= 0 {
        lw.g.probes.push(crate::ir::Probe { name: format!("{name}/den"), value: qb0.id, scale: qb0.scale, zero_point: qb0.zp });
        match lw.opts.ranges.get(&format!("{name}/den")).copied() {
            Some((cl, ch)) if cl > 0.0 || ch < 0.0 => {
                // calibrated divisor of one sign: clamp it into [cl/2, 2ch] (or the mirror)
                let mut r = Real::of(qb0.id, qb0.zp, qb0.scale);
                if cl > 0.0 {
                    r.clamp_lo = Some(cl / 2.0);
                    r.clamp_hi = Some(ch * 2.0);
                } else {
                    r.clamp_lo = Some(cl * 2.0);
                    r.clamp_hi = Some(ch / 2.0);
                }
                let t = lw.float_target();
                Sym::Q(lw.materialize(&r, t, false, &format!("{name}/den_clamped"))?)
            }
            _ if lw.opts.probing => {
                // only observing: any divisor of one sign lets the import go on
                let mut r = Real::of(qb0.id, qb0.zp, qb0.scale);
                r.clamp_lo = Some(qb0.scale);
                let t = lw.float_target();
                Sym::Q(lw.materialize(&r, t, false, &format!("{name}/den_clamped"))?)
            }
            _ => Sym::Q(qb0),
        }
    } else {
        Sym::Q(qb0)
    };
    let (qa, qb) = pair(lw, n, a, &b)?;
    let t = lw.float_target().scale;
    let ratio = qa.scale / (qb.scale * t);
    let mut f = 0u32;
    while f < 40 && !((ratio * (f as f64).exp2()).fract() == 0.0 && ratio * (f as f64).exp2() >= 1.0) && ratio * (f as f64).exp2() < 2f64.powi(24) {
        f += 1;
    }
    let mult = (ratio * (f as f64).exp2()).round() as i64;
    if mult == 0 {
        return Err(unsupported_use(n, "quotient scale underflows"));
    }
    let id = lw.g.add_node(&name, Op::Div(Div { num: qa.id, den: qb.id, num_zp: qa.zp, den_zp: qb.zp, mult, den_mult: 1i64 << f }))?;
    Ok(Real::of(id, 0, t))
}

pub fn div(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let (a, b) = (need(n, ins, 0)?, need(n, ins, 1)?);
    let r = match (const_vals(a), const_vals(b)) {
        (Some(ca), Some(cb)) => return Ok(vec![fold2(n, &ca, &cb, |x, y| x / y)?]),
        (_, Some((d, v))) => {
            if v.contains(&0.0) {
                return Err(unsupported_use(n, "division by a constant zero"));
            }
            mul_const(lw, n, a, &(d, v.iter().map(|x| 1.0 / x).collect()))?
        }
        (Some((d, v)), None) => {
            let shape = lw.shape(b).unwrap_or_default();
            let out = broadcast_shapes(&shape, &d).ok_or_else(|| unsupported_use(n, "constant does not broadcast"))?;
            let cb = broadcast_to(lw, &format!("{}/bcast_c", node_name(n)), &fconst(d, v), &out)?;
            let (dims, vals) = const_vals(&cb).expect("constants fold");
            let q = const_qt(lw, &format!("{}/const", node_name(n)), &dims, &vals)?;
            div_tensors(lw, n, &Sym::Q(q), b)?
        }
        (None, None) => div_tensors(lw, n, a, b)?,
    };
    Ok(vec![Sym::Real(r)])
}

/// relu(r) as a plain tensor at the activation precision.
/// The target never saturates values within `r`'s bounds (up to 2^46), so max/min and
/// |x| stay exact for large operands (attention masks of -1e4, ...).
pub fn relu_q(lw: &mut Lowering, r: &Real, name: &str) -> Result<QT> {
    let mut r = r.clone();
    r.clamp_lo = Some(r.clamp_lo.map_or(0.0, |c| c.max(0.0)));
    if r.clamp_hi.is_some_and(|h| h < 0.0) {
        r.clamp_hi = Some(0.0);
    }
    let mut t = lw.float_target();
    let (_, rh) = lw.real_bounds(&r);
    t.hi = t.hi.max(((rh / t.scale).ceil()).min(2f64.powi(46)) as i64);
    lw.materialize(&r, t, false, name)
}

/// `Σ k_i·r_i` of settled reals (for building results from parts).
pub(crate) fn lin(lw: &mut Lowering, n: &NodeProto, parts: &[(Real, f64)]) -> Result<Real> {
    let mut acc = scale_real(&parts[0].0, parts[0].1);
    for (r, k) in &parts[1..] {
        acc = combine(lw, n, &Sym::Real(acc), &Sym::Real(scale_real(r, *k)), 1.0)?;
    }
    Ok(acc)
}

fn q_real(q: &QT) -> Real {
    Real::of(q.id, q.zp, q.scale)
}

/// |r| = relu(r) + relu(-r): two non-negative parts, so the bounds stay non-negative.
pub fn abs_real(lw: &mut Lowering, n: &NodeProto, r: &Real) -> Result<Real> {
    let name = node_name(n);
    let r = lw.settle(r.clone(), &format!("{name}/operand"))?;
    let p = relu_q(lw, &r, &format!("{name}/relu"))?;
    let m = relu_q(lw, &scale_real(&r, -1.0), &format!("{name}/relu_neg"))?;
    lin(lw, n, &[(q_real(&p), 1.0), (q_real(&m), 1.0)])
}

/// Finest term scale of `r`: a grid on which its values are (near) integers.
fn grid(r: &Real) -> f64 {
    r.terms.iter().flat_map(|t| t.scale.iter().map(|s| s.abs())).filter(|s| *s > 0.0).fold(f64::INFINITY, f64::min).min(1.0)
}

/// `[d > 0]` as a 0/1 tensor (scale 1), exact when `d`'s terms share a dyadic grid.
pub fn positive(lw: &mut Lowering, d: &Real, name: &str) -> Result<Real> {
    let s = grid(d);
    let q = lw.materialize(d, QTarget { scale: s, zp: 0, lo: 0, hi: 1 }, false, name)?;
    Ok(Real::of(q.id, q.zp, 1.0))
}

/// `a - b` as a settled real (broadcast).
fn diff(lw: &mut Lowering, n: &NodeProto, a: &Sym, b: &Sym) -> Result<Real> {
    combine(lw, n, a, b, -1.0)
}

pub fn compare(lw: &mut Lowering, n: &NodeProto, ins: &Ins, op: &str) -> Result<Vec<Sym>> {
    let (a, b) = (need(n, ins, 0)?, need(n, ins, 1)?);
    if let (Some(ca), Some(cb)) = (const_vals(a), const_vals(b)) {
        let f = |x: f64, y: f64| -> f64 {
            (match op {
                "Less" => x < y,
                "Greater" => x > y,
                "LessOrEqual" => x <= y,
                "GreaterOrEqual" => x >= y,
                _ => x == y,
            }) as i64 as f64
        };
        return Ok(vec![fold2(n, &ca, &cb, f)?]);
    }
    let name = node_name(n);
    // lt(x, y) = [y - x > 0]
    let lt = |lw: &mut Lowering, x: &Sym, y: &Sym, tag: &str| -> Result<Real> {
        let d = diff(lw, n, y, x)?;
        positive(lw, &d, &format!("{name}/{tag}"))
    };
    let r = match op {
        "Less" => lt(lw, a, b, "lt")?,
        "Greater" => lt(lw, b, a, "gt")?,
        "LessOrEqual" => add_const(&scale_real(&lt(lw, b, a, "gt")?, -1.0), 1.0),
        "GreaterOrEqual" => add_const(&scale_real(&lt(lw, a, b, "lt")?, -1.0), 1.0),
        _ => {
            let l = lt(lw, a, b, "lt")?;
            let g = lt(lw, b, a, "gt")?;
            add_const(&lin(lw, n, &[(l, -1.0), (g, -1.0)])?, 1.0)
        }
    };
    Ok(vec![Sym::Real(r)])
}

fn to_bool01(lw: &mut Lowering, r: &Real, name: &str) -> Result<Real> {
    let q = lw.materialize(r, QTarget { scale: 1.0, zp: 0, lo: 0, hi: 1 }, false, name)?;
    Ok(Real::of(q.id, q.zp, 1.0))
}

pub fn logic(lw: &mut Lowering, n: &NodeProto, ins: &Ins, op: &str) -> Result<Vec<Sym>> {
    let name = node_name(n);
    if op == "Not" {
        let x = need(n, ins, 0)?;
        if let Some((d, v)) = const_vals(x) {
            return Ok(vec![fconst(d, v.iter().map(|&b| (b == 0.0) as i64 as f64).collect())]);
        }
        let r = lw.real(x, &name)?;
        return Ok(vec![Sym::Real(add_const(&scale_real(&r, -1.0), 1.0))]);
    }
    let (a, b) = (need(n, ins, 0)?, need(n, ins, 1)?);
    if let (Some(ca), Some(cb)) = (const_vals(a), const_vals(b)) {
        let f = |x: f64, y: f64| -> f64 {
            let (x, y) = (x != 0.0, y != 0.0);
            (match op {
                "And" => x && y,
                "Or" => x || y,
                _ => x ^ y,
            }) as i64 as f64
        };
        return Ok(vec![fold2(n, &ca, &cb, f)?]);
    }
    let s = combine(lw, n, a, b, 1.0)?;
    let r = match op {
        "And" => to_bool01(lw, &add_const(&s, -1.0), &format!("{name}/and"))?,
        "Or" => to_bool01(lw, &s, &format!("{name}/or"))?,
        _ => {
            let and = to_bool01(lw, &add_const(&s, -1.0), &format!("{name}/and"))?;
            lin(lw, n, &[(s, 1.0), (and, -2.0)])?
        }
    };
    Ok(vec![Sym::Real(r)])
}

pub fn where_(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let (c, a, b) = (need(n, ins, 0)?, need(n, ins, 1)?, need(n, ins, 2)?);
    let name = node_name(n);
    if let Some((cd, cv)) = const_vals(c) {
        if let (Some(ca), Some(cb)) = (const_vals(a), const_vals(b)) {
            let t = fold2(n, &(cd.clone(), cv.clone()), &ca, |k, x| if k != 0.0 { x } else { 0.0 })?;
            let f = fold2(n, &(cd, cv), &cb, |k, y| if k != 0.0 { 0.0 } else { y })?;
            return Ok(vec![fold2(n, &const_vals(&t).expect("c"), &const_vals(&f).expect("c"), |x, y| x + y)?]);
        }
        // constant condition: a wiring choice
        let out_ab = broadcast_shapes(&lw.shape(a).unwrap_or_default(), &lw.shape(b).unwrap_or_default()).ok_or_else(|| unsupported_use(n, "shapes do not broadcast"))?;
        let out = broadcast_shapes(&out_ab, &cd).ok_or_else(|| unsupported_use(n, "shapes do not broadcast"))?;
        let aa = broadcast_to(lw, &format!("{name}/a"), a, &out)?;
        let bb = broadcast_to(lw, &format!("{name}/b"), b, &out)?;
        let cc = broadcast_to(lw, &format!("{name}/c"), &fconst(cd, cv), &out)?;
        let cv = const_vals(&cc).expect("const").1;
        let map = cv.iter().enumerate().map(|(i, &k)| super::wiring::M::In(if k != 0.0 { 0 } else { 1 }, i)).collect();
        return Ok(vec![super::wiring::apply(lw, &name, &[&aa, &bb], out, map)?]);
    }
    // b + c·(a - b)
    if let (Some(ca), Some(cb)) = (const_vals(a), const_vals(b)) {
        let d = fold2(n, &ca, &cb, |x, y| x - y)?;
        let cr = lw.real(c, &name)?;
        let prod = mul_const(lw, n, &Sym::Real(cr), &const_vals(&d).expect("c"))?;
        return Ok(vec![Sym::Real(combine(lw, n, &Sym::Real(prod), b, 1.0)?)]);
    }
    let d = diff(lw, n, a, b)?;
    let cr = lw.real(c, &name)?;
    let cq = small_qt(lw, &cr, &format!("{name}/cond"))?;
    let dq = small_qt(lw, &d, &format!("{name}/diff"))?;
    let prod = mul_tensors(lw, n, &Sym::Q(cq), &Sym::Q(dq))?;
    Ok(vec![Sym::Real(combine(lw, n, &Sym::Real(prod), b, 1.0)?)])
}

/// `max(a, b) = b + relu(a - b)` (or min with `-relu(b - a)`).
fn max2(lw: &mut Lowering, n: &NodeProto, a: &Sym, b: &Sym, is_max: bool, tag: &str) -> Result<Sym> {
    let name = node_name(n);
    let (x, y) = if is_max { (a, b) } else { (b, a) };
    let d = diff(lw, n, x, y)?;
    let p = relu_q(lw, &d, &format!("{name}/{tag}"))?;
    let r = if is_max { combine(lw, n, b, &Sym::Q(p), 1.0)? } else { combine(lw, n, b, &Sym::Q(p), -1.0)? };
    // settle so the result is a plain tensor (keeps later comparisons on one grid)
    let t = lw.float_target();
    let grid_ok = r.terms.iter().all(|t0| t0.scale.iter().all(|s| (s / t.scale).fract() == 0.0));
    Ok(if grid_ok { Sym::Real(r) } else { Sym::Q(lw.plain(&r, &format!("{name}/{tag}/sum"))?) })
}

pub fn min_max(lw: &mut Lowering, n: &NodeProto, ins: &Ins, is_max: bool) -> Result<Vec<Sym>> {
    let ops: Vec<&Sym> = ins.iter().flatten().copied().collect();
    if ops.iter().all(|s| const_vals(s).is_some()) {
        let mut acc = const_vals(ops[0]).expect("c");
        for s in &ops[1..] {
            let f = fold2(n, &acc, &const_vals(s).expect("c"), |x, y| if is_max { x.max(y) } else { x.min(y) })?;
            acc = const_vals(&f).expect("c");
        }
        return Ok(vec![fconst(acc.0, acc.1)]);
    }
    let mut acc = ops[0].clone();
    for (i, s) in ops[1..].iter().enumerate() {
        acc = max2(lw, n, &acc, s, is_max, &format!("m{i}"))?;
    }
    Ok(vec![acc])
}

pub fn unary_simple(lw: &mut Lowering, n: &NodeProto, ins: &Ins, op: &str) -> Result<Vec<Sym>> {
    let name = node_name(n);
    let x = need(n, ins, 0)?;
    if let Some((d, v)) = const_vals(x) {
        let f = |z: f64| -> f64 {
            match op {
                "Neg" => -z,
                "Abs" => z.abs(),
                "Sign" => if z > 0.0 { 1.0 } else if z < 0.0 { -1.0 } else { 0.0 },
                "Floor" => z.floor(),
                "Ceil" => z.ceil(),
                "Round" => z.round_ties_even(),
                "Sqrt" => z.sqrt(),
                "Reciprocal" => 1.0 / z,
                "Relu" => z.max(0.0),
                _ => z,
            }
        };
        return Ok(vec![fconst(d, v.into_iter().map(f).collect())]);
    }
    let r = lw.real(x, &name)?;
    let out = match op {
        "Neg" => scale_real(&r, -1.0),
        "Abs" => abs_real(lw, n, &r)?,
        "Sign" => {
            let pos = positive(lw, &r, &format!("{name}/pos"))?;
            let neg = positive(lw, &scale_real(&r, -1.0), &format!("{name}/neg"))?;
            lin(lw, n, &[(pos, 1.0), (neg, -1.0)])?
        }
        "Floor" | "Ceil" | "Round" => {
            let rounding = match op {
                "Floor" => Rounding::Floor,
                "Ceil" => Rounding::Ceil,
                _ => Rounding::HalfEven,
            };
            let (lo, hi) = lw.real_bounds(&r);
            let t = QTarget { scale: 1.0, zp: 0, lo: lo.floor() as i64 - 1, hi: hi.ceil() as i64 + 1 };
            let q = lw.materialize_round(&r, t, rounding, &name)?;
            Real::of(q.id, 0, 1.0)
        }
        "Sqrt" => sqrt_real(lw, n, &r)?,
        "Reciprocal" => {
            let one = const_qt(lw, &format!("{name}/one"), &lw.shape(x).unwrap_or_default(), &vec![1.0; lw.shape(x).unwrap_or_default().iter().product()])?;
            div_tensors(lw, n, &Sym::Q(one), x)?
        }
        _ => return Err(unsupported_use(n, "internal: unknown unary op")),
    };
    Ok(vec![Sym::Real(out)])
}

/// `sqrt(max(r, 0))` with the Sqrt gadget, at up to the activation precision.
pub fn sqrt_real(lw: &mut Lowering, n: &NodeProto, r: &Real) -> Result<Real> {
    let name = node_name(n);
    let (_, hi) = lw.real_bounds(r);
    let hi = hi.max(1e-9);
    // output step 2^-e, input step 2^-2e, input values below 2^46
    let mut e = lw.opts.act_scale_bits as i32;
    while e > 0 && hi * (2.0 * e as f64).exp2() >= 2f64.powi(46) {
        e -= 1;
    }
    let s_in = (-2.0 * e as f64).exp2();
    let mut rc = r.clone();
    rc.clamp_lo = Some(rc.clamp_lo.map_or(0.0, |c| c.max(0.0)));
    let qhi = ((hi / s_in).ceil() as i64).max(1);
    let (lo, _) = lw.real_bounds(&rc);
    let qlo = ((lo.max(0.0) / s_in).floor() as i64).min(qhi);
    let q = lw.materialize(&rc, QTarget { scale: s_in, zp: 0, lo: qlo, hi: qhi }, false, &format!("{name}/sq_in"))?;
    let id = lw.g.add_node(&name, Op::Sqrt(Sqrt { input: q.id }))?;
    Ok(Real::of(id, 0, (-(e as f64)).exp2()))
}

pub fn pow(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let (x, p) = (need(n, ins, 0)?, need(n, ins, 1)?);
    let name = node_name(n);
    let pv = match const_vals(p) {
        Some((_, v)) if v.len() == 1 => v[0],
        _ => return Err(unsupported_use(n, "the exponent must be a constant scalar")),
    };
    if let Some((d, v)) = const_vals(x) {
        return Ok(vec![fconst(d, v.iter().map(|z| z.powf(pv)).collect())]);
    }
    let r = lw.real(x, &name)?;
    let out = if pv == 1.0 {
        r
    } else if pv == 0.5 {
        sqrt_real(lw, n, &r)?
    } else if pv.fract() == 0.0 && (2.0..=8.0).contains(&pv) {
        let mut acc = mul_tensors(lw, n, x, x)?;
        for i in 2..pv as i32 {
            let a = Sym::Real(acc);
            let mut n2 = n.clone();
            n2.name = Some(format!("{name}#{i}"));
            acc = mul_tensors(lw, &n2, &a, x)?;
        }
        acc
    } else {
        let f = move |z: f64| if z <= 0.0 && pv.fract() != 0.0 { 0.0 } else { z.powf(pv) };
        return Ok(vec![table_fn(lw, n, x, &f, Spec::domain(if pv.fract() != 0.0 { 0.0 } else { f64::NEG_INFINITY }, f64::INFINITY))?]);
    };
    Ok(vec![Sym::Real(out)])
}

pub fn cast(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let to = DataType::try_from(attrs::int(n, "to", 1) as i32).unwrap_or(DataType::Float);
    let is_float = matches!(to, DataType::Float | DataType::Double | DataType::Float16 | DataType::Bfloat16);
    if let Sym::Const(c) = x {
        let v = c.floats();
        let data = match to {
            DataType::Bool => ConstData::Int(v.iter().map(|&z| (z != 0.0) as i64).collect()),
            _ if is_float => ConstData::Float(v),
            _ => ConstData::Int(v.iter().map(|&z| z.trunc() as i64).collect()),
        };
        return Ok(vec![Sym::Const(Const { dims: c.dims.clone(), dtype: to, data })]);
    }
    if is_float {
        return Ok(vec![x.clone()]);
    }
    let name = node_name(n);
    let r = lw.real(x, &name)?;
    let integral = r.terms.iter().all(|t| t.scale.iter().all(|s| s.fract() == 0.0)) && r.offset.iter().all(|o| o.fract() == 0.0);
    if to == DataType::Bool {
        if integral && lw.real_bounds(&r).0 >= 0.0 {
            return Ok(vec![Sym::Real(positive(lw, &r, &name)?)]);
        }
        let a = abs_real(lw, n, &r)?;
        return Ok(vec![Sym::Real(positive(lw, &a, &name)?)]);
    }
    if integral {
        return Ok(vec![Sym::Real(r)]);
    }
    // truncation toward zero: floor for x >= 0, ceil below
    let (lo, hi) = lw.real_bounds(&r);
    let t = QTarget { scale: 1.0, zp: 0, lo: lo.floor() as i64 - 1, hi: hi.ceil() as i64 + 1 };
    let fl = lw.materialize_round(&r, t, Rounding::Floor, &format!("{name}/floor"))?;
    let ce = lw.materialize_round(&r, t, Rounding::Ceil, &format!("{name}/ceil"))?;
    let neg = positive(lw, &scale_real(&r, -1.0), &format!("{name}/neg"))?;
    let d = lin(lw, n, &[(Real::of(ce.id, 0, 1.0), 1.0), (Real::of(fl.id, 0, 1.0), -1.0)])?;
    let dq = small_qt(lw, &d, &format!("{name}/frac"))?;
    let nq = small_qt(lw, &neg, &format!("{name}/negq"))?;
    let fix = mul_tensors(lw, n, &Sym::Q(nq), &Sym::Q(dq))?;
    Ok(vec![Sym::Real(lin(lw, n, &[(Real::of(fl.id, 0, 1.0), 1.0), (fix, 1.0)])?)])
}

// ------------------------------------------------------------------ tabulated functions

/// How a function behaves outside a bounded interval: below `lo` it is `neg·x + const`,
/// above `hi` it is `pos·x + const` (`lo <= 0 <= hi` when a slope is non-zero). Outside
/// `[dom_lo, dom_hi]` it is undefined and the input is clamped.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub lo: f64,
    pub hi: f64,
    pub neg: f64,
    pub pos: f64,
    pub dom_lo: f64,
    pub dom_hi: f64,
}

impl Spec {
    /// Constant outside [lo, hi].
    pub fn saturating(lo: f64, hi: f64) -> Self {
        Spec { lo, hi, neg: 0.0, pos: 0.0, dom_lo: f64::NEG_INFINITY, dom_hi: f64::INFINITY }
    }
    /// Linear tails with slopes `neg` and `pos`.
    pub fn tails(lo: f64, hi: f64, neg: f64, pos: f64) -> Self {
        Spec { lo, hi, neg, pos, dom_lo: f64::NEG_INFINITY, dom_hi: f64::INFINITY }
    }
    /// No known tails: tabulated over the input's range within [dom_lo, dom_hi].
    pub fn domain(dom_lo: f64, dom_hi: f64) -> Self {
        Spec { lo: f64::NEG_INFINITY, hi: f64::INFINITY, neg: 0.0, pos: 0.0, dom_lo, dom_hi }
    }
}

fn out_scale_bits(lw: &Lowering, vals: &[f64]) -> i32 {
    let m = vals.iter().fold(0.0f64, |a, v| a.max(v.abs())).max(1e-9);
    let e = lw.opts.act_bits as i32 - 2 - m.log2().ceil() as i32;
    e.clamp(0, 30)
}

/// Tabulates `f` of the (real) input as described in the module docs.
pub fn table_fn(lw: &mut Lowering, n: &NodeProto, x: &Sym, f: &dyn Fn(f64) -> f64, spec: Spec) -> Result<Sym> {
    let name = node_name(n);
    let func = n.op_type().to_string();
    let r = lw.real(x, &name)?;
    let budget = 1i64 << lw.opts.table_bits.unwrap_or(TABLE_BITS).clamp(4, crate::ops::table::MAX_TABLE.trailing_zeros());
    // exact: a small integer domain (int8 inputs, booleans, small integers)
    if let Some(q) = r.as_plain() {
        let i = lw.g.info(q.id);
        if i.hi - i.lo < budget {
            let xs: Vec<f64> = (i.lo..=i.hi).map(|v| f(q.scale * (v - q.zp) as f64)).collect();
            let xs = fill_nonfinite(xs);
            let e = out_scale_bits(lw, &xs);
            let s = (e as f64).exp2();
            let values = xs.iter().map(|v| (v * s).round() as i64).collect();
            let id = lw.g.add_node(&name, Op::Table(Table { input: q.id, func, lo: i.lo, values }))?;
            return Ok(Sym::Real(Real::of(id, 0, 1.0 / s)));
        }
    }
    let (mut rl, mut rh) = lw.real_bounds(&r);
    if let Some(&(cl, ch)) = lw.opts.ranges.get(&name) {
        // calibrated: cover the observed range plus a margin of 10% of its width
        let m = 0.1 * (ch - cl).abs().max(1e-3);
        rl = rl.max(cl - m);
        rh = rh.min(ch + m);
    }
    let lo = rl.max(spec.lo).max(spec.dom_lo);
    let hi = rh.min(spec.hi).min(spec.dom_hi);
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi.min(lo), hi.min(lo)) };
    let width = (hi - lo).max(1e-9);
    let mut e = ((budget as f64 - 1.0) / width).log2().floor() as i32;
    // never finer than the input's own grid
    let g = r.terms.iter().flat_map(|t| t.scale.iter().map(|s| s.abs())).fold(f64::INFINITY, f64::min);
    if r.terms.len() == 1 && g.is_finite() && g > 0.0 {
        e = e.min((-g.log2()).ceil() as i32);
    }
    e = e.clamp(-30, 30);
    let step = (-(e as f64)).exp2();
    if spec.dom_lo >= 0.0 && spec.dom_lo.is_finite() && lo < 16.0 * step && !lw.opts.probing {
        // log-like functions need a grid fine relative to the smallest input: a uniform grid
        // over a wide range would be off by more than the function's own scale near 0
        return Err(unsupported_use(
            n,
            format!("input range [{lo:.3e}, {hi:.3e}] is too wide for a {budget}-entry table of {func} (step {step:.3e}); the input's static bounds are too loose"),
        ));
    }
    let (qlo, qhi) = ((lo / step).floor() as i64, (hi / step).ceil() as i64);
    let slope_part = |z: f64| spec.neg * z + (spec.pos - spec.neg) * z.max(0.0);
    let gfn = |z: f64| f(z) - slope_part(z);
    let xs: Vec<f64> = (qlo..=qhi).map(|v| gfn(v as f64 * step)).collect();
    let xs = fill_nonfinite(xs);
    let eo = out_scale_bits(lw, &xs);
    let s = (eo as f64).exp2();
    // a single-term input on exactly this grid is looked up without rounding: the direct
    // table is then exact up to its output rounding, and interpolation could only add error
    let exact_input = r.terms.len() == 1 && g == step;
    let plan = if lw.opts.interpolate && !lw.opts.probing && !exact_input {
        let n = r.terms.first().map_or(usize::MAX, |t| crate::ir::tensor::numel(&lw.g.info(t.id).shape));
        interp_plan(&gfn, lo, hi, &xs, s, lw.opts.act_bits, n)
    } else {
        None
    };
    let (gstep, glo, ghi) = plan.as_ref().map_or((step, qlo, qhi), |p| (p.step, p.qlo, p.qhi));
    let tq = lw.materialize(&r, QTarget { scale: gstep, zp: 0, lo: glo, hi: ghi }, false, &format!("{name}/grid"))?;
    lw.g.probes.push(crate::ir::Probe { name: name.clone(), value: tq.id, scale: gstep, zero_point: 0 });
    let table_out = match plan {
        Some(p) => {
            let id = lw.g.add_node(&format!("{name}/interp"), Op::Interp(Interp { input: tq.id, func, lo: p.hlo, y0: p.y0, d: p.d }))?;
            // back to the table values' scale (from 256 times it), rounding half up
            let i = lw.g.info(id);
            let (ylo, yhi) = (i.lo.div_euclid(INTERP_STEP), (i.hi + INTERP_STEP - 1).div_euclid(INTERP_STEP));
            let y = lw.materialize(&Real::of(id, 0, 1.0 / (s * INTERP_STEP as f64)), QTarget { scale: 1.0 / s, zp: 0, lo: ylo, hi: yhi }, false, &name)?;
            Real::of(y.id, 0, 1.0 / s)
        }
        None => {
            let values = xs.iter().map(|v| (v * s).round() as i64).collect();
            let id = lw.g.add_node(&name, Op::Table(Table { input: tq.id, func, lo: qlo, values }))?;
            Real::of(id, 0, 1.0 / s)
        }
    };
    let mut parts = vec![(table_out, 1.0)];
    if spec.neg != 0.0 || spec.pos != 0.0 {
        let rs = lw.settle(r.clone(), &format!("{name}/x"))?;
        if spec.neg != 0.0 {
            parts.push((rs.clone(), spec.neg));
        }
        if spec.pos != spec.neg {
            let p = relu_q(lw, &rs, &format!("{name}/relu"))?;
            parts.push((q_real(&p), spec.pos - spec.neg));
        }
    }
    Ok(Sym::Real(lin(lw, n, &parts)?))
}

const INTERP_STEP: i64 = 1 << INTERP_BITS;

/// Rows an interpolated element costs beyond a direct table's one lookup: the
/// decomposition, a second lookup, the product, the rescale back and a wider grid.
const INTERP_EXTRA_ROWS: usize = 12;

/// An interpolated table ([`Interp`]): the fine grid `step` with its clamped range
/// `[qlo, qhi]`, and the coarse points `hlo, hlo + 1, ...` with values and differences.
struct InterpPlan {
    step: f64,
    qlo: i64,
    qhi: i64,
    hlo: i64,
    y0: Vec<i64>,
    d: Vec<i64>,
}

/// The coarsest interpolated table of `g` over `[lo, hi]` whose estimated worst error is at
/// most the direct table's (`direct`: its values at its grid, output scale `s`), if it
/// needs fewer rows for `n` elements; `None` keeps the direct table.
///
/// Errors (in real units): a direct table is off by half a step of the function between
/// neighbouring points plus the output's rounding; an interpolated one by half a fine step
/// of slope, the worst gap between the interpolant and `g` (sampled at the quarter points of
/// every interval, so a jump anywhere is seen) and its two roundings. A function that is
/// not finite at every coarse point keeps its direct table.
fn interp_plan(g: &dyn Fn(f64) -> f64, lo: f64, hi: f64, direct: &[f64], s: f64, act_bits: u32, n: usize) -> Option<InterpPlan> {
    let direct_err = direct.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f64::max) / 2.0 + 0.5 / s;
    let budget = direct.len().checked_sub(INTERP_EXTRA_ROWS.saturating_mul(n))?;
    if !(direct_err.is_finite() && hi > lo) {
        return None;
    }
    let e0 = ((direct.len().max(2) - 1) as f64 / (hi - lo)).log2().floor() as i32;
    let fine_max = 1i64 << act_bits.min(40);
    for e in e0.max(-30)..=(e0 + 20).min(40) {
        let step = (-(e as f64)).exp2();
        let (qlo, qhi) = ((lo / step).floor() as i64, (hi / step).ceil() as i64);
        if qhi - qlo >= fine_max {
            return None;
        }
        let (hlo, hhi) = (qlo.div_euclid(INTERP_STEP), qhi.div_euclid(INTERP_STEP));
        let intervals = (hhi - hlo + 1) as usize;
        if 2 * intervals >= budget || intervals > crate::ops::table::MAX_TABLE {
            return None;
        }
        let c = step * INTERP_STEP as f64;
        let pts: Vec<f64> = (hlo..=hhi + 1).map(|h| g(h as f64 * c)).collect();
        if pts.iter().any(|v| !v.is_finite()) {
            // a singularity (e.g. log at 0) in reach: keep the direct table
            return None;
        }
        let q: Vec<i64> = pts.iter().map(|v| (v * s).round() as i64).collect();
        if q.iter().any(|v| v.unsigned_abs() > 1 << 40) {
            // keeps 256·y0 + l·d and its bounds far from i64 overflow
            return None;
        }
        let d: Vec<i64> = q.windows(2).map(|w| w[1] - w[0]).collect();
        let y0 = q[..intervals].to_vec();
        let slope = d.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0) as f64 / INTERP_STEP as f64 / s / 2.0;
        let mut gap: f64 = 0.0;
        for (i, (&a, &b)) in y0.iter().zip(&d).enumerate() {
            for u in [0.25, 0.5, 0.75] {
                let z = ((hlo + i as i64) as f64 + u) * c;
                let v = g(z);
                if v.is_finite() {
                    gap = gap.max(((a as f64 + u * b as f64) / s - v).abs());
                }
            }
        }
        if slope + gap + 1.0 / s <= direct_err {
            return Some(InterpPlan { step, qlo, qhi, hlo, y0, d });
        }
    }
    None
}

fn fill_nonfinite(mut v: Vec<f64>) -> Vec<f64> {
    let first = v.iter().copied().find(|x| x.is_finite()).unwrap_or(0.0);
    let mut last = first;
    for x in &mut v {
        if x.is_finite() {
            last = *x;
        } else {
            *x = last;
        }
    }
    v
}

fn erf(x: f64) -> f64 {
    // Abramowitz-Stegun 7.1.26 is too coarse for tables; use a series / continued fraction
    libm_erf(x)
}

/// erf via the complementary error function's Chebyshev fit (W. J. Cody's rational
/// approximations are overkill here; this Taylor/asymptotic split is accurate to ~1e-12).
fn libm_erf(x: f64) -> f64 {
    let ax = x.abs();
    let r = if ax < 2.5 {
        // Taylor series: erf(x) = 2/sqrt(pi) Σ (-1)^n x^(2n+1) / (n! (2n+1))
        let mut sum: f64 = 0.0;
        let mut term: f64 = ax;
        let mut k = 0.0;
        while term.abs() > 1e-17 * sum.abs().max(1e-300) || k < 3.0 {
            sum += term / (2.0 * k + 1.0);
            k += 1.0;
            term *= -ax * ax / k;
            if k > 200.0 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // continued fraction for erfc
        let mut f = 0.0;
        for k in (1..=60).rev() {
            f = (k as f64 / 2.0) / (ax + f);
        }
        1.0 - (-ax * ax).exp() / std::f64::consts::PI.sqrt() / (ax + f)
    };
    if x < 0.0 { -r } else { r }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn softplus(x: f64) -> f64 {
    if x > 30.0 { x } else { x.exp().ln_1p() }
}

pub fn nonlinear(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let name = node_name(n);
    let op = n.op_type();
    let fa = |k: &str, d: f32| attrs::float(n, k, d) as f64;
    // piecewise-linear ones are exact
    match op {
        "LeakyRelu" | "HardSigmoid" | "Relu6" => {
            if let Some((d, v)) = const_vals(x) {
                let a = fa("alpha", if op == "LeakyRelu" { 0.01 } else { 0.2 });
                let b = fa("beta", 0.5);
                let f = |z: f64| if op == "LeakyRelu" { if z >= 0.0 { z } else { a * z } } else { (a * z + b).clamp(0.0, 1.0) };
                return Ok(vec![fconst(d, v.into_iter().map(f).collect())]);
            }
            let r = lw.real(x, &name)?;
            if op == "LeakyRelu" {
                let a = fa("alpha", 0.01);
                let rs = lw.settle(r, &format!("{name}/x"))?;
                let p = relu_q(lw, &rs, &format!("{name}/relu"))?;
                return Ok(vec![Sym::Real(lin(lw, n, &[(rs, a), (q_real(&p), 1.0 - a)])?)]);
            }
            let (a, b) = (fa("alpha", 0.2), fa("beta", 0.5));
            let rs = lw.settle(r, &format!("{name}/x"))?;
            let mut y = add_const(&scale_real(&rs, a), b);
            y.clamp_lo = Some(0.0);
            y.clamp_hi = Some(1.0);
            return Ok(vec![Sym::Real(y)]);
        }
        "PRelu" => {
            let slope = const_vals(need(n, ins, 1)?).ok_or_else(|| unsupported_use(n, "the slope must be a constant"))?;
            let r = lw.real(x, &name)?;
            let rs = lw.settle(r, &format!("{name}/x"))?;
            let p = relu_q(lw, &rs, &format!("{name}/relu"))?;
            // slope·x + (1 - slope)·relu(x)
            let sx = mul_const(lw, n, &Sym::Real(rs), &slope)?;
            let one_minus = (slope.0.clone(), slope.1.iter().map(|s| 1.0 - s).collect::<Vec<_>>());
            let mut n2 = n.clone();
            n2.name = Some(format!("{name}#relu"));
            let sr = mul_const(lw, &n2, &Sym::Q(p), &one_minus)?;
            return Ok(vec![Sym::Real(combine(lw, n, &Sym::Real(sx), &Sym::Real(sr), 1.0)?)]);
        }
        "Softsign" => {
            // x / (1 + |x|)
            let r = lw.real(x, &name)?;
            let a = abs_real(lw, n, &r)?;
            let den = add_const(&a, 1.0);
            return Ok(vec![Sym::Real(div_tensors(lw, n, x, &Sym::Real(den))?)]);
        }
        _ => {}
    }
    let (f, spec): (Box<dyn Fn(f64) -> f64>, Spec) = match op {
        "Sigmoid" => (Box::new(sigmoid), Spec::saturating(-12.0, 12.0)),
        "Tanh" => (Box::new(f64::tanh), Spec::saturating(-7.0, 7.0)),
        "Erf" => (Box::new(erf), Spec::saturating(-4.5, 4.5)),
        // exp(x) must fit the activation range at the activation precision
        "Exp" => (
            Box::new(f64::exp),
            Spec::domain(-((lw.opts.act_scale_bits + 2) as f64) * std::f64::consts::LN_2, (lw.opts.act_bits as f64 - 1.0 - lw.opts.act_scale_bits as f64) * std::f64::consts::LN_2),
        ),
        "Log" => (Box::new(f64::ln), Spec::domain(0.0, f64::INFINITY)),
        "Softplus" => (Box::new(softplus), Spec::tails(-18.0, 18.0, 0.0, 1.0)),
        "Gelu" => {
            if attrs::string(n, "approximate").as_deref() == Some("tanh") {
                let c = (2.0 / std::f64::consts::PI).sqrt();
                (Box::new(move |z: f64| 0.5 * z * (1.0 + (c * (z + 0.044715 * z * z * z)).tanh())), Spec::tails(-8.0, 8.0, 0.0, 1.0))
            } else {
                (Box::new(|z: f64| 0.5 * z * (1.0 + erf(z / std::f64::consts::SQRT_2))), Spec::tails(-8.0, 8.0, 0.0, 1.0))
            }
        }
        "Elu" => {
            let a = fa("alpha", 1.0);
            (Box::new(move |z: f64| if z > 0.0 { z } else { a * z.exp_m1() }), Spec::tails(-18.0, 0.0, 0.0, 1.0))
        }
        "Selu" => {
            let (a, g) = (fa("alpha", 1.673_263_2), fa("gamma", 1.050_701));
            (Box::new(move |z: f64| g * if z > 0.0 { z } else { a * z.exp_m1() }), Spec::tails(-18.0, 0.0, 0.0, g))
        }
        "Celu" => {
            let a = fa("alpha", 1.0);
            (Box::new(move |z: f64| z.max(0.0) + (a * (z / a).exp_m1()).min(0.0)), Spec::tails(-18.0 * a.abs().max(1e-3), 0.0, 0.0, 1.0))
        }
        "Mish" => (Box::new(|z: f64| z * softplus(z).tanh()), Spec::tails(-20.0, 9.0, 0.0, 1.0)),
        "HardSwish" => (Box::new(|z: f64| z * (z / 6.0 + 0.5).clamp(0.0, 1.0)), Spec::tails(-3.0, 3.0, 0.0, 1.0)),
        "Sin" => (Box::new(f64::sin), Spec::domain(f64::NEG_INFINITY, f64::INFINITY)),
        "Cos" => (Box::new(f64::cos), Spec::domain(f64::NEG_INFINITY, f64::INFINITY)),
        "Atan" => (Box::new(f64::atan), Spec::domain(-1e4, 1e4)),
        _ => return Err(unsupported_use(n, "internal: not a tabulated function")),
    };
    if let Some((d, v)) = const_vals(x) {
        return Ok(vec![fconst(d, v.into_iter().map(|z| f(z)).collect())]);
    }
    Ok(vec![table_fn(lw, n, x, &*f, spec)?])
}
