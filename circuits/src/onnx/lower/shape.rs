//! Shape-only ops: Reshape, Flatten, Identity/Dropout, Constant. They cost no constraints.

use super::super::attrs::node_name;
use super::super::consts;
use super::super::proto::NodeProto;
use super::super::sym::{Lowering, Real, Sym, Term, QT};
use super::{need, unsupported_use, Ins};
use crate::error::{CircuitError, Result};
use crate::ops::{Op, Reshape};

/// Reshapes a symbol to `shape`: every term of a real value is reshaped (per-tensor scales
/// only; per-channel values are requantized first).
pub(crate) fn reshape_to(lw: &mut Lowering, n: &NodeProto, x: &Sym, shape: Vec<usize>) -> Result<Sym> {
    reshape_sym(lw, n, x, shape)
}

fn reshape_sym(lw: &mut Lowering, n: &NodeProto, x: &Sym, shape: Vec<usize>) -> Result<Sym> {
    let name = node_name(n);
    match x {
        Sym::Const(c) => {
            let mut c = c.clone();
            if c.len() != shape.iter().product::<usize>() {
                return Err(unsupported_use(n, format!("cannot reshape {:?} to {shape:?}", c.dims)));
            }
            c.dims = shape;
            return Ok(Sym::Const(c));
        }
        Sym::ConstQ(c) => {
            let mut c = c.clone();
            if c.q.len() != shape.iter().product::<usize>() || c.scale.len() > 1 || c.zp.len() > 1 {
                return Err(unsupported_use(n, format!("cannot reshape {:?} to {shape:?}", c.q.dims)));
            }
            c.q.dims = shape;
            return Ok(Sym::ConstQ(c));
        }
        _ => {}
    }
    if let Sym::Q(q) = x {
        let id = lw.g.add_node(&name, Op::Reshape(Reshape { input: q.id, shape }))?;
        return Ok(Sym::Q(QT { id, ..q.clone() }));
    }
    let mut r = lw.real(x, &name)?;
    if r.terms.iter().any(|t| t.scale.len() > 1) || r.offset.len() > 1 {
        let q = lw.plain(&r, &format!("{name}/input"))?;
        r = Real::of(q.id, q.zp, q.scale);
    }
    let mut terms = Vec::new();
    for (i, t) in r.terms.iter().enumerate() {
        let id = lw.g.add_node(&format!("{name}#{i}"), Op::Reshape(Reshape { input: t.id, shape: shape.clone() }))?;
        terms.push(Term { id, zp: t.zp, scale: t.scale.clone() });
    }
    r.terms = terms;
    r.axis = 0;
    Ok(Sym::Real(r))
}

fn shape_of(lw: &mut Lowering, s: &Sym, _name: &str) -> Result<Vec<usize>> {
    Ok(lw.shape(s).unwrap_or_default())
}

pub fn reshape(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let target = match need(n, ins, 1)? {
        Sym::Const(c) => c.ints().ok_or_else(|| unsupported_use(n, "shape must be int64"))?.to_vec(),
        _ => return Err(unsupported_use(n, "the target shape must be a constant")),
    };
    let cur = shape_of(lw, x, &node_name(n))?;
    let total: usize = cur.iter().product();
    let mut out: Vec<usize> = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &d) in target.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 => out.push(*cur.get(i).ok_or_else(|| unsupported_use(n, "0 in shape beyond the input rank"))?),
            d if d > 0 => out.push(d as usize),
            _ => return Err(unsupported_use(n, format!("invalid target shape {target:?}"))),
        }
    }
    if let Some(i) = infer {
        let known: usize = out.iter().product();
        if known == 0 || total % known != 0 {
            return Err(unsupported_use(n, format!("cannot reshape {cur:?} to {target:?}")));
        }
        out[i] = total / known;
    }
    Ok(vec![reshape_sym(lw, n, x, out)?])
}

pub fn flatten(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let cur = shape_of(lw, x, &node_name(n))?;
    let a = super::super::attrs::int(n, "axis", 1);
    let a = if a < 0 { a + cur.len() as i64 } else { a };
    if a < 0 || a as usize > cur.len() {
        return Err(unsupported_use(n, format!("axis {a} out of range")));
    }
    let a = a as usize;
    let out = vec![cur[..a].iter().product(), cur[a..].iter().product()];
    Ok(vec![reshape_sym(lw, n, x, out)?])
}

pub fn identity(_lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    Ok(vec![need(n, ins, 0)?.clone()])
}

pub fn constant(n: &NodeProto) -> Result<Vec<Sym>> {
    let a = n.attribute.iter().find(|a| a.name() == "value").ok_or_else(|| unsupported_use(n, "only the `value` attribute form"))?;
    let t = a.t.as_ref().ok_or_else(|| CircuitError::Malformed(format!("Constant `{}` has no tensor", node_name(n))))?;
    Ok(vec![Sym::Const(consts::decode(t)?)])
}
