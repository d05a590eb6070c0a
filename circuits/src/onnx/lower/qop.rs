//! QOperator-format ops (QLinearConv, QLinearMatMul, and onnxruntime's com.microsoft QGemm,
//! QLinearAdd, QLinearAveragePool): each is DequantizeLinear -> float op -> QuantizeLinear
//! with the node's own parameters, lowered through the same cores.

use super::super::attrs::{self, node_name};
use super::super::proto::NodeProto;
use super::super::sym::{ConstQ, Lowering, QTarget, Real, Sym};
use super::linear::{conv_core, dense_core, weights};
use super::quant::qparams;
use super::{need, unsupported_use, Ins};
use crate::error::Result;

/// Real value of quantized input `i` with its scale at `i+1` and zero point at `i+2`.
fn dq_input(n: &NodeProto, ins: &Ins, i: usize) -> Result<Sym> {
    let (sc, zp, _) = qparams(n, need(n, ins, i + 1)?, ins.get(i + 2).copied().flatten())?;
    match need(n, ins, i)? {
        Sym::Q(q) if sc.len() == 1 => Ok(Sym::Real(Real::of(q.id, zp[0], sc[0]))),
        Sym::Const(c) => Ok(Sym::ConstQ(ConstQ { q: c.clone(), scale: sc, zp, axis: 0 })),
        _ => Err(unsupported_use(n, format!("input {i} must be a quantized tensor"))),
    }
}

fn out_target(n: &NodeProto, ins: &Ins, i: usize) -> Result<QTarget> {
    let (sc, zp, dt) = qparams(n, need(n, ins, i)?, ins.get(i + 1).copied().flatten())?;
    let (lo, hi) = super::super::consts::int_range(dt).ok_or_else(|| unsupported_use(n, format!("output type {dt:?}")))?;
    Ok(QTarget { scale: sc[0], zp: zp[0], lo, hi })
}

fn finish(lw: &mut Lowering, n: &NodeProto, r: Real, t: Option<QTarget>) -> Result<Vec<Sym>> {
    match t {
        Some(t) => Ok(vec![Sym::Q(lw.materialize(&r, t, true, &node_name(n))?)]),
        None => Ok(vec![Sym::Real(r)]),
    }
}

/// Int32 bias (scale = x_scale·w_scale) as real values.
fn int_bias(n: &NodeProto, b: Option<&Sym>, x_scale: f64, w_scale: &[f64], len: usize) -> Result<Option<Vec<f64>>> {
    let Some(b) = b else { return Ok(None) };
    let Sym::Const(c) = b else { return Err(unsupported_use(n, "bias must be a constant")) };
    let v = c.ints().ok_or_else(|| unsupported_use(n, "bias must be int32"))?;
    if v.len() != len {
        return Err(unsupported_use(n, format!("bias has {} values for {len} outputs", v.len())));
    }
    Ok(Some(v.iter().enumerate().map(|(o, &q)| q as f64 * x_scale * if w_scale.len() == 1 { w_scale[0] } else { w_scale[o] }).collect()))
}

fn scale0(s: &Sym) -> f64 {
    match s {
        Sym::Real(r) => r.terms[0].scale[0],
        _ => 1.0,
    }
}

pub fn qlinear_conv(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = dq_input(n, ins, 0)?;
    let w = weights(lw, n, &dq_input(n, ins, 3)?)?;
    let oc = w.dims.first().copied().unwrap_or(0);
    let bias = int_bias(n, ins.get(8).copied().flatten(), scale0(&x), &w.scale, oc)?;
    let t = out_target(n, ins, 6)?;
    let r = conv_core(lw, n, &x, w, bias)?;
    finish(lw, n, r, Some(t))
}

pub fn qlinear_matmul(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let a = dq_input(n, ins, 0)?;
    let mut wq = dq_input(n, ins, 3)?;
    let t = out_target(n, ins, 6)?;
    if !matches!(wq, Sym::ConstQ(_)) {
        // activation × activation (attention scores and context): the product of the two
        // dequantized tensors
        let r = super::reduce::matmul_activations(lw, n, &a, &wq)?;
        return finish(lw, n, r, Some(t));
    }
    if let Sym::ConstQ(c) = &mut wq {
        c.axis = 1;
    }
    let w = weights(lw, n, &wq)?;
    let r = dense_core(lw, n, &a, w, false, None, 1.0)?;
    finish(lw, n, r, Some(t))
}

pub fn qgemm(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    if attrs::int(n, "transA", 0) != 0 {
        return Err(unsupported_use(n, "transA = 1"));
    }
    let trans_b = attrs::int(n, "transB", 0) != 0;
    let alpha = attrs::float(n, "alpha", 1.0) as f64;
    let a = dq_input(n, ins, 0)?;
    let mut wq = dq_input(n, ins, 3)?;
    if let Sym::ConstQ(c) = &mut wq {
        c.axis = if trans_b { 0 } else { 1 };
    }
    let w = weights(lw, n, &wq)?;
    let nn = if trans_b { w.dims.first() } else { w.dims.get(1) }.copied().unwrap_or(0);
    let bias = int_bias(n, ins.get(6).copied().flatten(), scale0(&a), &w.scale, nn)?.map(|b| b.iter().map(|x| x * alpha).collect());
    let t = if ins.get(7).copied().flatten().is_some() { Some(out_target(n, ins, 7)?) } else { None };
    let r = dense_core(lw, n, &a, w, trans_b, bias, alpha)?;
    finish(lw, n, r, t)
}

pub fn qlinear_add(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let a = dq_input(n, ins, 0)?;
    let b = dq_input(n, ins, 3)?;
    let t = out_target(n, ins, 6)?;
    if matches!(a, Sym::ConstQ(_)) || matches!(b, Sym::ConstQ(_)) {
        // a constant operand (a bias): added as a constant
        let (x, c) = if matches!(a, Sym::ConstQ(_)) { (&b, &a) } else { (&a, &b) };
        let r = super::elementwise::combine(lw, n, x, c, 1.0)?;
        return finish(lw, n, r, Some(t));
    }
    let mut ra = lw.real(&a, &node_name(n))?;
    let rb = lw.real(&b, &node_name(n))?;
    ra.terms.extend(rb.terms);
    finish(lw, n, ra, Some(t))
}

pub fn qlinear_average_pool(lw: &mut Lowering, n: &NodeProto, ins: &Ins, global: bool) -> Result<Vec<Sym>> {
    if attrs::int(n, "channels_last", 0) != 0 {
        return Err(unsupported_use(n, "channels_last = 1"));
    }
    let x = dq_input(n, ins, 0)?;
    let t = out_target(n, ins, 3)?;
    let r = super::pool::average_core(lw, n, &x, global)?;
    finish(lw, n, r, Some(t))
}
