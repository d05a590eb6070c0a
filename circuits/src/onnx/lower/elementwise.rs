//! Add / Sub of real values, Relu and Clip (pending clamps, applied when requantized).

use super::super::attrs::{self, node_name};
use super::super::proto::NodeProto;
use super::super::sym::{Lowering, Real, Sym, Term};
use super::{need, unsupported_use, Ins};
use crate::error::Result;

pub fn relu(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let mut r = lw.real(need(n, ins, 0)?, &node_name(n))?;
    r.clamp_lo = Some(r.clamp_lo.map_or(0.0, |c| c.max(0.0)));
    Ok(vec![Sym::Real(r)])
}

fn scalar(n: &NodeProto, s: Option<&Sym>) -> Result<Option<f64>> {
    match s {
        None => Ok(None),
        Some(Sym::Const(c)) if c.len() == 1 => Ok(Some(c.floats()[0])),
        Some(_) => Err(unsupported_use(n, "min/max must be constant scalars")),
    }
}

pub fn clip(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let mut r = lw.real(need(n, ins, 0)?, &node_name(n))?;
    let (lo, hi) = if n.input.len() > 1 {
        (scalar(n, ins.get(1).copied().flatten())?, scalar(n, ins.get(2).copied().flatten())?)
    } else {
        // opset < 11: attributes
        let f = |k: &str| n.attribute.iter().any(|a| a.name() == k).then(|| attrs::float(n, k, 0.0) as f64);
        (f("min"), f("max"))
    };
    if let Some(lo) = lo {
        r.clamp_lo = Some(r.clamp_lo.map_or(lo, |c| c.max(lo)));
    }
    if let Some(hi) = hi {
        r.clamp_hi = Some(r.clamp_hi.map_or(hi, |c| c.min(hi)));
    }
    Ok(vec![Sym::Real(r)])
}

/// Channel axis along which a constant of `dims` broadcasts onto `shape`, or `None` for a
/// scalar; errors for anything else.
fn broadcast_axis(n: &NodeProto, dims: &[usize], shape: &[usize]) -> Result<Option<usize>> {
    let non1: Vec<usize> = (0..dims.len()).filter(|&i| dims[i] != 1).collect();
    if non1.is_empty() {
        return Ok(None);
    }
    if dims.len() > shape.len() || non1.len() != 1 {
        return Err(unsupported_use(n, format!("cannot broadcast constant {dims:?} onto {shape:?}")));
    }
    let axis = shape.len() - dims.len() + non1[0];
    if shape[axis] != dims[non1[0]] {
        return Err(unsupported_use(n, format!("cannot broadcast constant {dims:?} onto {shape:?}")));
    }
    Ok(Some(axis))
}

pub(crate) fn combine(lw: &mut Lowering, n: &NodeProto, a: &Sym, b: &Sym, sign: f64) -> Result<Real> {
    let name = node_name(n);
    let settle = |lw: &mut Lowering, r: Real| -> Result<Real> {
        if r.clamp_lo.is_some() || r.clamp_hi.is_some() {
            let q = lw.plain(&r, &format!("{name}/operand"))?;
            Ok(Real::of(q.id, q.zp, q.scale))
        } else {
            Ok(r)
        }
    };
    let const_of = |s: &Sym| -> Option<(Vec<usize>, Vec<f64>)> {
        match s {
            Sym::Const(c) => Some((c.dims.clone(), c.floats())),
            Sym::ConstQ(q) => Some((q.q.dims.clone(), super::linear::bias_values(n, s, q.q.len()).ok()?)),
            _ => None,
        }
    };
    if let Some((dims, vals)) = const_of(b) {
        let r0 = lw.real(a, &name)?;
        let mut r = settle(lw, r0)?;
        let shape = lw.g.info(r.terms[0].id).shape.clone();
        let vals: Vec<f64> = vals.iter().map(|v| v * sign).collect();
        let axis = match broadcast_axis(n, &dims, &shape) {
            Ok(ax) => ax,
            Err(_) => {
                // a full constant tensor: broadcast both and add it as a term of its own
                let out = super::wiring::broadcast_shapes(&shape, &dims).ok_or_else(|| unsupported_use(n, format!("cannot broadcast {dims:?} onto {shape:?}")))?;
                let ra = super::wiring::broadcast_to(lw, &format!("{name}/bcast_a"), &Sym::Real(r), &out)?;
                let mut ra = lw.real(&ra, &name)?;
                let cs = Sym::Const(super::super::consts::Const { dims: dims.clone(), dtype: super::super::proto::tensor_proto::DataType::Float, data: super::super::consts::ConstData::Float(vals.clone()) });
                let cb = super::wiring::broadcast_to(lw, &format!("{name}/bcast_b"), &cs, &out)?;
                let cv = if let Sym::Const(c) = cb { c.floats() } else { unreachable!("constants fold") };
                let scale = (-(lw.opts.param_scale_bits as f64)).exp2();
                let q = super::wiring::const_tensor(lw, &format!("{name}/const"), &out, &cv, scale)?;
                if ra.terms.iter().any(|t| t.scale.len() > 1) || ra.offset.len() > 1 {
                    let p = lw.plain(&ra, &format!("{name}/operand"))?;
                    ra = Real::of(p.id, p.zp, p.scale);
                }
                ra.terms.push(Term { id: q.id, zp: 0, scale: vec![scale] });
                return Ok(ra);
            }
        };
        match axis {
            None => {
                let base = if r.offset.is_empty() { vec![0.0] } else { r.offset.clone() };
                r.offset = base.iter().map(|o| o + vals[0]).collect();
            }
            Some(axis) => {
                let per_channel = r.terms.iter().any(|t| t.scale.len() > 1) || r.offset.len() > 1;
                if per_channel && axis != r.axis {
                    let q = lw.plain(&r, &format!("{name}/operand"))?;
                    r = Real::of(q.id, q.zp, q.scale);
                }
                let base = match r.offset.len() {
                    0 => vec![0.0; vals.len()],
                    1 => vec![r.offset[0]; vals.len()],
                    _ => r.offset.clone(),
                };
                r.offset = base.iter().zip(&vals).map(|(o, v)| o + v).collect();
                r.axis = axis;
            }
        }
        return Ok(r);
    }
    if const_of(a).is_some() && const_of(b).is_some() {
        // both constant: callers fold these before calling
        return Err(unsupported_use(n, "internal: combine of two constants"));
    }
    if const_of(a).is_some() {
        if sign < 0.0 {
            // c - x = -(x - c)
            let r = combine(lw, n, b, a, -1.0)?;
            return Ok(super::math::scale_real(&r, -1.0));
        }
        return combine(lw, n, b, a, sign);
    }
    let ra0 = lw.real(a, &name)?;
    let ra = settle(lw, ra0)?;
    let rb0 = lw.real(b, &name)?;
    let rb = settle(lw, rb0)?;
    let sa = lw.g.info(ra.terms[0].id).shape.clone();
    let sb = lw.g.info(rb.terms[0].id).shape.clone();
    let (ra, mut rb) = if sa != sb {
        let out = super::wiring::broadcast_shapes(&sa, &sb).ok_or_else(|| unsupported_use(n, format!("operand shapes {sa:?} and {sb:?} do not broadcast")))?;
        let a2 = super::wiring::broadcast_to(lw, &format!("{name}/bcast_a"), &Sym::Real(ra), &out)?;
        let b2 = super::wiring::broadcast_to(lw, &format!("{name}/bcast_b"), &Sym::Real(rb), &out)?;
        (lw.real(&a2, &name)?, lw.real(&b2, &name)?)
    } else {
        (ra, rb)
    };
    let pc = |r: &Real| r.terms.iter().any(|t| t.scale.len() > 1) || r.offset.len() > 1;
    let mut ra = ra;
    if pc(&ra) && pc(&rb) && ra.axis != rb.axis {
        let q = lw.plain(&rb, &format!("{name}/operand"))?;
        rb = Real::of(q.id, q.zp, q.scale);
    }
    let axis = if pc(&rb) { rb.axis } else { ra.axis };
    for t in &rb.terms {
        ra.terms.push(Term { id: t.id, zp: t.zp, scale: t.scale.iter().map(|s| s * sign).collect() });
    }
    let off = |r: &Real, i: usize| match r.offset.len() {
        0 => 0.0,
        1 => r.offset[0],
        _ => r.offset[i],
    };
    let len = ra.offset.len().max(rb.offset.len());
    ra.offset = (0..len).map(|i| off(&ra, i) + sign * off(&rb, i)).collect();
    ra.axis = axis;
    Ok(ra)
}

pub fn add(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    add_sub(lw, n, ins, 1.0)
}

/// Sum (or Mean) of any number of broadcastable operands.
pub fn sum(lw: &mut Lowering, n: &NodeProto, ins: &Ins, mean: bool) -> Result<Vec<Sym>> {
    let ops: Vec<&Sym> = ins.iter().flatten().copied().collect();
    let Some((first, rest)) = ops.split_first() else {
        return Err(super::unsupported_use(n, "no operands"));
    };
    let mut acc = (*first).clone();
    for (i, b) in rest.iter().enumerate() {
        let m = super::named(n, &format!("{}/{i}", super::super::attrs::node_name(n)));
        acc = add_sub(lw, &m, &vec![Some(&acc), Some(*b)], 1.0)?.remove(0);
    }
    if mean && ops.len() > 1 {
        let k = Sym::Const(super::super::consts::Const { dims: vec![], dtype: super::super::proto::tensor_proto::DataType::Float, data: super::super::consts::ConstData::Float(vec![1.0 / ops.len() as f64]) });
        return super::math::mul(lw, n, &vec![Some(&acc), Some(&k)]);
    }
    Ok(vec![acc])
}

pub fn sub(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    add_sub(lw, n, ins, -1.0)
}

fn add_sub(lw: &mut Lowering, n: &NodeProto, ins: &Ins, sign: f64) -> Result<Vec<Sym>> {
    let (a, b) = (need(n, ins, 0)?, need(n, ins, 1)?);
    if let (Sym::Const(ca), Sym::Const(cb)) = (a, b) {
        return Ok(vec![super::math::fold_consts(n, ca, cb, move |x, y| x + sign * y)?]);
    }
    Ok(vec![Sym::Real(combine(lw, n, a, b, sign)?)])
}
