//! MaxPool, AveragePool and GlobalAveragePool on real values.

use super::super::attrs::{self, node_name};
use super::super::proto::NodeProto;
use super::super::sym::{Lowering, Real, Sym, Term, QT};
use super::linear::window;
use super::{need, unsupported_use, Ins};
use crate::error::Result;
use crate::ops::window::Window2d;
use crate::ops::{MaxPool, Op, SumPool};

fn kernel(n: &NodeProto) -> Result<Vec<usize>> {
    let k = attrs::ints(n, "kernel_shape").ok_or_else(|| unsupported_use(n, "missing kernel_shape"))?;
    attrs::usizes(n, "kernel_shape", &k)
}

pub fn max_pool(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    if n.output.len() > 1 && !n.output[1].is_empty() {
        return Err(unsupported_use(n, "the Indices output"));
    }
    let name = node_name(n);
    let win = window(n, &kernel(n)?)?;
    let x = need(n, ins, 0)?;
    if let Sym::Q(q) = x {
        let id = lw.g.add_node(&name, Op::MaxPool(MaxPool { input: q.id, window: win }))?;
        return Ok(vec![Sym::Q(QT { id, ..q.clone() })]);
    }
    let mut r = lw.real(x, &name)?;
    // max commutes with a positive per-channel scale, an offset and clamps; so pool the term
    let ok = r.terms.len() == 1 && r.terms[0].scale.iter().all(|&s| s > 0.0) && (r.terms[0].scale.len() == 1 || r.axis == 1) && (r.offset.len() <= 1 || r.axis == 1);
    if !ok {
        let q = lw.plain(&r, &format!("{name}/input"))?;
        r = Real::of(q.id, q.zp, q.scale);
    }
    let t = &r.terms[0];
    let id = lw.g.add_node(&name, Op::MaxPool(MaxPool { input: t.id, window: win }))?;
    r.terms = vec![Term { id, zp: t.zp, scale: t.scale.clone() }];
    Ok(vec![Sym::Real(r)])
}

/// Shared by AveragePool and QLinearAveragePool: the real average of `x`.
pub(crate) fn average_core(lw: &mut Lowering, n: &NodeProto, x: &Sym, global: bool) -> Result<Real> {
    let name = node_name(n);
    let mut r = lw.real(x, &name)?;
    let ok = r.terms.len() == 1 && r.clamp_lo.is_none() && r.clamp_hi.is_none() && (r.terms[0].scale.len() == 1 || r.axis == 1) && (r.offset.len() <= 1 || r.axis == 1);
    if !ok {
        let q = lw.plain(&r, &format!("{name}/input"))?;
        r = Real::of(q.id, q.zp, q.scale);
    }
    let t = r.terms[0].clone();
    let shape = lw.g.info(t.id).shape.clone();
    if shape.len() != 4 {
        return Err(unsupported_use(n, format!("only 2-D pooling (4-D input) is supported, got {shape:?}")));
    }
    let win = if global {
        Window2d { kernel: [shape[2], shape[3]], strides: [1, 1], pads: [0; 4], dilations: [1, 1] }
    } else {
        let w = window(n, &kernel(n)?)?;
        if w.pads.iter().any(|&p| p != 0) && attrs::int(n, "count_include_pad", 0) == 0 {
            return Err(unsupported_use(n, "padding with count_include_pad = 0 (the divisor would vary per position)"));
        }
        if w.pads.iter().any(|&p| p != 0) {
            return Err(unsupported_use(n, "padded average pooling"));
        }
        w
    };
    let sp = SumPool { input: t.id, window: win };
    let count = sp.count() as f64;
    let id = lw.g.add_node(&name, Op::SumPool(sp))?;
    r.terms = vec![Term { id, zp: t.zp * count as i64, scale: t.scale.iter().map(|s| s / count).collect() }];
    Ok(r)
}

pub fn average_pool(lw: &mut Lowering, n: &NodeProto, ins: &Ins, global: bool) -> Result<Vec<Sym>> {
    Ok(vec![Sym::Real(average_core(lw, n, need(n, ins, 0)?, global)?)])
}
