//! Data-movement ops: Concat, Slice, Split, Gather, GatherElements, GatherND (constant
//! indices), Transpose, Pad, Squeeze, Unsqueeze, Expand, Tile, Trilu, Resize (nearest),
//! DepthToSpace, SpaceToDepth. Each computes an index map (output element <- input element
//! or constant) from shapes alone; [`apply`] turns the map into a [`Wire`] node (no
//! constraints) or, when every operand is constant, into a folded constant.

use super::super::attrs::{self, node_name};
use super::super::consts::{Const, ConstData};
use super::super::proto::tensor_proto::DataType;
use super::super::proto::NodeProto;
use super::super::sym::{Lowering, Real, Sym, Term, QT};
use super::{need, unsupported_use, Ins};
use crate::error::Result;
use crate::ir::tensor::{numel, strides};
use crate::ops::{Op, Src, Wire};

/// Where an output element comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum M {
    /// (operand, flat index)
    In(usize, usize),
    /// A real constant.
    Val(f64),
}

pub fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for i in (0..shape.len()).rev() {
        if shape[i] > 0 {
            idx[i] = flat % shape[i];
            flat /= shape[i];
        }
    }
    idx
}

pub fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(strides(shape)).map(|(i, s)| i * s).sum()
}

/// Normalises a possibly negative axis.
pub fn axis(n: &NodeProto, a: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let b = if a < 0 { a + r } else { a };
    if b < 0 || b >= r.max(1) {
        return Err(unsupported_use(n, format!("axis {a} out of range for rank {rank}")));
    }
    Ok(b as usize)
}

/// Integer values of a constant operand.
pub fn const_ints(n: &NodeProto, s: Option<&Sym>, what: &str) -> Result<Option<Vec<i64>>> {
    match s {
        None => Ok(None),
        Some(Sym::Const(c)) => Ok(Some(match &c.data {
            ConstData::Int(v) => v.clone(),
            ConstData::Float(v) => v.iter().map(|&x| x as i64).collect(),
        })),
        Some(_) => Err(unsupported_use(n, format!("{what} must be a constant"))),
    }
}

/// Applies an index map to operands `ins`, producing a tensor of `shape`.
pub fn apply(lw: &mut Lowering, name: &str, ins: &[&Sym], shape: Vec<usize>, map: Vec<M>) -> Result<Sym> {
    debug_assert_eq!(numel(&shape), map.len());
    // all constant: fold
    if ins.iter().all(|s| matches!(s, Sym::Const(_))) {
        let consts: Vec<&Const> = ins.iter().map(|s| if let Sym::Const(c) = s { c } else { unreachable!() }).collect();
        let int = consts.iter().all(|c| matches!(c.data, ConstData::Int(_))) && map.iter().all(|m| !matches!(m, M::Val(v) if v.fract() != 0.0));
        let dtype = consts.first().map_or(DataType::Float, |c| c.dtype);
        let data = if int {
            ConstData::Int(map.iter().map(|m| match *m {
                M::In(t, i) => consts[t].ints().expect("int")[i],
                M::Val(v) => v as i64,
            }).collect())
        } else {
            let fl: Vec<Vec<f64>> = consts.iter().map(|c| c.floats()).collect();
            ConstData::Float(map.iter().map(|m| match *m {
                M::In(t, i) => fl[t][i],
                M::Val(v) => v,
            }).collect())
        };
        return Ok(Sym::Const(Const { dims: shape, dtype: if int { dtype } else { DataType::Float }, data }));
    }
    // one operand with a multi-term real value: move every term the same way, stay lazy
    if ins.len() == 1 && map.iter().all(|m| matches!(m, M::In(..))) {
        if let Sym::Real(r) = ins[0] {
            if r.terms.iter().all(|t| t.scale.len() == 1) && r.offset.len() <= 1 {
                let src: Vec<Src> = map.iter().map(|m| if let M::In(_, i) = *m { Src::In(0, i as u32) } else { unreachable!() }).collect();
                let mut out = r.clone();
                out.terms = Vec::new();
                for (k, t) in r.terms.iter().enumerate() {
                    let id = lw.g.add_node(&format!("{name}#{k}"), Op::Wire(Wire { inputs: vec![t.id], shape: shape.clone(), src: src.clone() }))?;
                    out.terms.push(Term { id, zp: t.zp, scale: t.scale.clone() });
                }
                out.axis = 0;
                return Ok(Sym::Real(out));
            }
        }
    }
    // bring the non-constant operands to one (scale, zero point)
    let mut qts: Vec<Option<QT>> = Vec::new();
    for s in ins {
        qts.push(match s {
            Sym::Const(_) | Sym::ConstQ(_) => None,
            other => {
                let r = lw.real(other, name)?;
                Some(match r.as_plain() {
                    Some(q) => q,
                    None => lw.plain(&r, &format!("{name}/operand"))?,
                })
            }
        });
    }
    let first = qts.iter().flatten().next().cloned().expect("a non-constant operand");
    let common = qts.iter().flatten().all(|q| q.scale == first.scale && q.zp == first.zp);
    let (scale, zp) = if common { (first.scale, first.zp) } else { let t = lw.float_target(); (t.scale, t.zp) };
    let mut inputs = Vec::new();
    let mut slot = vec![usize::MAX; ins.len()];
    for (k, q) in qts.iter().enumerate() {
        if let Some(q) = q {
            let q = if common {
                q.clone()
            } else {
                let t = lw.float_target();
                lw.materialize(&Real::of(q.id, q.zp, q.scale), t, false, &format!("{name}/operand{k}"))?
            };
            slot[k] = inputs.len();
            inputs.push(q.id);
        }
    }
    let cvals: Vec<Option<Vec<f64>>> = ins
        .iter()
        .map(|s| match s {
            Sym::Const(c) => Some(c.floats()),
            Sym::ConstQ(c) => Some(c.reals()),
            _ => None,
        })
        .collect();
    let quant = |v: f64| (v / scale).round() as i64 + zp;
    let mut src = Vec::with_capacity(map.len());
    for m in &map {
        src.push(match *m {
            M::In(t, i) => match &cvals[t] {
                Some(c) => Src::Const(quant(c[i])),
                None => Src::In(slot[t] as u32, i as u32),
            },
            M::Val(v) => Src::Const(quant(v)),
        });
    }
    let id = lw.g.add_node(name, Op::Wire(Wire { inputs, shape, src }))?;
    Ok(Sym::Q(QT { id, scale, zp }))
}

fn shape(lw: &Lowering, n: &NodeProto, s: &Sym) -> Result<Vec<usize>> {
    lw.shape(s).ok_or_else(|| unsupported_use(n, "operand without a shape"))
}

pub fn concat(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let syms: Vec<&Sym> = ins.iter().flatten().copied().collect();
    let shapes: Vec<Vec<usize>> = syms.iter().map(|s| shape(lw, n, s)).collect::<Result<_>>()?;
    let rank = shapes[0].len();
    let ax = axis(n, attrs::int(n, "axis", 0), rank)?;
    let mut out = shapes[0].clone();
    out[ax] = 0;
    for s in &shapes {
        if s.len() != rank || (0..rank).any(|d| d != ax && s[d] != shapes[0][d]) {
            return Err(unsupported_use(n, format!("cannot concatenate shapes {shapes:?} on axis {ax}")));
        }
        out[ax] += s[ax];
    }
    let mut map = Vec::with_capacity(numel(&out));
    for f in 0..numel(&out) {
        let mut idx = unravel(f, &out);
        let mut t = 0;
        while idx[ax] >= shapes[t][ax] {
            idx[ax] -= shapes[t][ax];
            t += 1;
        }
        map.push(M::In(t, ravel(&idx, &shapes[t])));
    }
    Ok(vec![apply(lw, &node_name(n), &syms, out, map)?])
}

/// Output shape and map of a strided slice.
fn slice_map(x: &[usize], starts: &[i64], ends: &[i64], axes: &[usize], steps: &[i64]) -> Option<(Vec<usize>, Vec<M>)> {
    let mut ranges: Vec<Vec<usize>> = x.iter().map(|&d| (0..d).collect()).collect();
    for (k, &a) in axes.iter().enumerate() {
        let d = x[a] as i64;
        let step = steps[k];
        if step == 0 {
            return None;
        }
        let clampi = |v: i64, lo: i64, hi: i64| v.max(lo).min(hi);
        let norm = |v: i64| if v < 0 { v + d } else { v };
        let (s, e) = if step > 0 {
            (clampi(norm(starts[k]), 0, d), clampi(norm(ends[k]), 0, d))
        } else {
            (clampi(norm(starts[k]), -1, d - 1), clampi(norm(ends[k].max(-d - 1)), -1, d - 1))
        };
        let mut v = Vec::new();
        let mut i = s;
        while (step > 0 && i < e) || (step < 0 && i > e) {
            v.push(i as usize);
            i += step;
        }
        ranges[a] = v;
    }
    let out: Vec<usize> = ranges.iter().map(Vec::len).collect();
    let map = (0..numel(&out))
        .map(|f| {
            let idx = unravel(f, &out);
            let src: Vec<usize> = idx.iter().enumerate().map(|(d, &i)| ranges[d][i]).collect();
            M::In(0, ravel(&src, x))
        })
        .collect();
    Some((out, map))
}

pub fn slice(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = shape(lw, n, x)?;
    let (starts, ends, axes, steps) = if n.input.len() > 1 {
        let g = |i: usize, w: &str| const_ints(n, ins.get(i).copied().flatten(), w);
        (g(1, "starts")?.unwrap_or_default(), g(2, "ends")?.unwrap_or_default(), g(3, "axes")?, g(4, "steps")?)
    } else {
        let a = |k: &str| attrs::ints(n, k);
        (a("starts").unwrap_or_default(), a("ends").unwrap_or_default(), a("axes").filter(|v| !v.is_empty()), None)
    };
    let axes: Vec<usize> = match axes {
        Some(a) => a.iter().map(|&v| axis(n, v, xs.len())).collect::<Result<_>>()?,
        None => (0..starts.len()).collect(),
    };
    let steps = steps.unwrap_or_else(|| vec![1; axes.len()]);
    if starts.len() != axes.len() || ends.len() != axes.len() || steps.len() != axes.len() {
        return Err(unsupported_use(n, "starts, ends, axes and steps differ in length"));
    }
    let (out, map) = slice_map(&xs, &starts, &ends, &axes, &steps).ok_or_else(|| unsupported_use(n, "step 0"))?;
    Ok(vec![apply(lw, &node_name(n), &[x], out, map)?])
}

pub fn split(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = shape(lw, n, x)?;
    let ax = axis(n, attrs::int(n, "axis", 0), xs.len())?;
    let parts = n.output.len();
    let sizes: Vec<i64> = match const_ints(n, ins.get(1).copied().flatten(), "split")? {
        Some(v) => v,
        None => {
            let a = attrs::ints(n, "split").unwrap_or_default();
            if !a.is_empty() {
                a
            } else {
                let k = attrs::int(n, "num_outputs", parts as i64).max(1) as usize;
                let each = xs[ax].div_ceil(k);
                (0..k).map(|i| (each.min(xs[ax].saturating_sub(i * each))) as i64).collect()
            }
        }
    };
    if sizes.iter().sum::<i64>() != xs[ax] as i64 || sizes.iter().any(|&s| s < 0) {
        return Err(unsupported_use(n, format!("split sizes {sizes:?} do not add up to {}", xs[ax])));
    }
    let mut outs = Vec::new();
    let mut start = 0i64;
    for (k, &sz) in sizes.iter().enumerate() {
        let (out, map) = slice_map(&xs, &[start], &[start + sz], &[ax], &[1]).expect("step 1");
        outs.push(apply(lw, &format!("{}#{k}", node_name(n)), &[x], out, map)?);
        start += sz;
    }
    Ok(outs)
}

pub fn transpose(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = shape(lw, n, x)?;
    let mut perm: Vec<usize> = attrs::ints(n, "perm").unwrap_or_default().iter().map(|&p| p as usize).collect();
    if perm.is_empty() {
        perm = (0..xs.len()).rev().collect();
    }
    let mut seen = perm.clone();
    seen.sort();
    if seen != (0..xs.len()).collect::<Vec<_>>() {
        return Err(unsupported_use(n, format!("perm {perm:?} is not a permutation of rank {}", xs.len())));
    }
    let out: Vec<usize> = perm.iter().map(|&p| xs[p]).collect();
    let map = (0..numel(&out))
        .map(|f| {
            let idx = unravel(f, &out);
            let mut src = vec![0; xs.len()];
            for (d, &p) in perm.iter().enumerate() {
                src[p] = idx[d];
            }
            M::In(0, ravel(&src, &xs))
        })
        .collect();
    Ok(vec![apply(lw, &node_name(n), &[x], out, map)?])
}

/// Numpy-style broadcast of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let get = |s: &[usize], i: usize| if i + s.len() >= r { s[i + s.len() - r] } else { 1 };
    (0..r)
        .map(|i| {
            let (x, y) = (get(a, i), get(b, i));
            if x == y || y == 1 {
                Some(x)
            } else if x == 1 {
                Some(y)
            } else {
                None
            }
        })
        .collect()
}

/// Map broadcasting a tensor of shape `x` to `out`.
pub fn broadcast_map(x: &[usize], out: &[usize]) -> Vec<M> {
    let off = out.len() - x.len();
    (0..numel(out))
        .map(|f| {
            let idx = unravel(f, out);
            let src: Vec<usize> = (0..x.len()).map(|d| if x[d] == 1 { 0 } else { idx[d + off] }).collect();
            M::In(0, ravel(&src, x))
        })
        .collect()
}

/// `s` broadcast to `out` (itself when the shapes agree).
pub fn broadcast_to(lw: &mut Lowering, name: &str, s: &Sym, out: &[usize]) -> Result<Sym> {
    let xs = lw.shape(s).unwrap_or_default();
    if xs == out {
        return Ok(s.clone());
    }
    if numel(&xs) == numel(out) {
        // same elements, only unit axes differ
        return apply(lw, name, &[s], out.to_vec(), (0..numel(out)).map(|i| M::In(0, i)).collect());
    }
    apply(lw, name, &[s], out.to_vec(), broadcast_map(&xs, out))
}

pub fn expand(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = shape(lw, n, x)?;
    let want: Vec<usize> = const_ints(n, ins.get(1).copied().flatten(), "shape")?.unwrap_or_default().iter().map(|&d| d.max(0) as usize).collect();
    let out = broadcast_shapes(&xs, &want).ok_or_else(|| unsupported_use(n, format!("cannot expand {xs:?} to {want:?}")))?;
    Ok(vec![apply(lw, &node_name(n), &[x], out.clone(), broadcast_map(&xs, &out))?])
}

pub fn tile(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = shape(lw, n, x)?;
    let rep = const_ints(n, ins.get(1).copied().flatten(), "repeats")?.unwrap_or_default();
    if rep.len() != xs.len() || rep.iter().any(|&r| r < 0) {
        return Err(unsupported_use(n, format!("repeats {rep:?} for rank {}", xs.len())));
    }
    let out: Vec<usize> = xs.iter().zip(&rep).map(|(&d, &r)| d * r as usize).collect();
    let map = (0..numel(&out))
        .map(|f| {
            let idx = unravel(f, &out);
            let src: Vec<usize> = idx.iter().zip(&xs).map(|(&i, &d)| i % d).collect();
            M::In(0, ravel(&src, &xs))
        })
        .collect();
    Ok(vec![apply(lw, &node_name(n), &[x], out, map)?])
}

pub fn gather(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = shape(lw, n, x)?;
    let idx_sym = need(n, ins, 1)?;
    let ax = axis(n, attrs::int(n, "axis", 0), xs.len())?;
    let (idims, idx) = match idx_sym {
        Sym::Const(c) => (c.dims.clone(), const_ints(n, Some(idx_sym), "indices")?.expect("const")),
        _ => return Ok(vec![super::gather_dyn::gather(lw, n, x, &xs, idx_sym, ax)?]),
    };
    let d = xs[ax] as i64;
    let idx: Vec<usize> = idx
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + d } else { i };
            if j < 0 || j >= d {
                Err(unsupported_use(n, format!("index {i} out of range for axis of size {d}")))
            } else {
                Ok(j as usize)
            }
        })
        .collect::<Result<_>>()?;
    let out: Vec<usize> = xs[..ax].iter().chain(&idims).chain(&xs[ax + 1..]).copied().collect();
    let map = (0..numel(&out))
        .map(|f| {
            let o = unravel(f, &out);
            let k = ravel(&o[ax..ax + idims.len()], &idims);
            let src: Vec<usize> = o[..ax].iter().copied().chain(std::iter::once(idx[k])).chain(o[ax + idims.len()..].iter().copied()).collect();
            M::In(0, ravel(&src, &xs))
        })
        .collect();
    Ok(vec![apply(lw, &node_name(n), &[x], out, map)?])
}

pub fn gather_elements(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = shape(lw, n, x)?;
    let ax = axis(n, attrs::int(n, "axis", 0), xs.len())?;
    let (idims, idx) = match need(n, ins, 1)? {
        Sym::Const(c) => (c.dims.clone(), const_ints(n, ins[1], "indices")?.expect("const")),
        s => return Ok(vec![super::gather_dyn::gather_elements(lw, n, x, &xs, s, ax)?]),
    };
    let mut map = Vec::with_capacity(idx.len());
    for (f, &i) in idx.iter().enumerate() {
        let mut o = unravel(f, &idims);
        let d = xs[ax] as i64;
        let j = if i < 0 { i + d } else { i };
        if j < 0 || j >= d || o.len() != xs.len() {
            return Err(unsupported_use(n, format!("index {i} out of range")));
        }
        o[ax] = j as usize;
        map.push(M::In(0, ravel(&o, &xs)));
    }
    Ok(vec![apply(lw, &node_name(n), &[x], idims, map)?])
}

pub fn gather_nd(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = shape(lw, n, x)?;
    let b = attrs::int(n, "batch_dims", 0) as usize;
    let (idims, idx) = match need(n, ins, 1)? {
        Sym::Const(c) => (c.dims.clone(), const_ints(n, ins[1], "indices")?.expect("const")),
        s if b == 0 => return Ok(vec![super::gather_dyn::gather_nd(lw, n, x, &xs, s)?]),
        _ => return Err(unsupported_use(n, "run-time indices with batch_dims > 0")),
    };
    let q = *idims.last().unwrap_or(&0);
    if b != 0 || q == 0 || q > xs.len() {
        return Err(unsupported_use(n, "only batch_dims = 0 with a non-empty index tuple"));
    }
    let inner: Vec<usize> = xs[q..].to_vec();
    let tuples = idx.len() / q;
    let out: Vec<usize> = idims[..idims.len() - 1].iter().chain(&inner).copied().collect();
    let mut map = Vec::new();
    for t in 0..tuples {
        let mut base = vec![0usize; xs.len()];
        for k in 0..q {
            let d = xs[k] as i64;
            let i = idx[t * q + k];
            let j = if i < 0 { i + d } else { i };
            if j < 0 || j >= d {
                return Err(unsupported_use(n, format!("index {i} out of range")));
            }
            base[k] = j as usize;
        }
        for f in 0..numel(&inner) {
            let r = unravel(f, &inner);
            base[q..].copy_from_slice(&r);
            map.push(M::In(0, ravel(&base, &xs)));
        }
    }
    Ok(vec![apply(lw, &node_name(n), &[x], out, map)?])
}

pub fn pad(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = shape(lw, n, x)?;
    let r = xs.len();
    let mode = attrs::string(n, "mode").unwrap_or_else(|| "constant".to_string());
    let (pads, value, axes) = if n.input.len() > 1 {
        let pads = const_ints(n, ins.get(1).copied().flatten(), "pads")?.unwrap_or_default();
        let value = match ins.get(2).copied().flatten() {
            None => 0.0,
            Some(Sym::Const(c)) if c.len() == 1 => c.floats()[0],
            Some(_) => return Err(unsupported_use(n, "constant_value must be a constant scalar")),
        };
        let axes = const_ints(n, ins.get(3).copied().flatten(), "axes")?;
        (pads, value, axes)
    } else {
        (attrs::ints(n, "pads").unwrap_or_default(), attrs::float(n, "value", 0.0) as f64, None)
    };
    let axes: Vec<usize> = match axes {
        Some(a) => a.iter().map(|&v| axis(n, v, r)).collect::<Result<_>>()?,
        None => (0..r).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(unsupported_use(n, format!("{} pads for {} axes", pads.len(), axes.len())));
    }
    let mut before = vec![0i64; r];
    let mut after = vec![0i64; r];
    for (k, &a) in axes.iter().enumerate() {
        before[a] = pads[k];
        after[a] = pads[k + axes.len()];
    }
    if before.iter().chain(&after).any(|&p| p < 0) {
        return Err(unsupported_use(n, "negative pads"));
    }
    if xs.contains(&0) && mode != "constant" {
        return Err(unsupported_use(n, format!("{mode} padding of an empty tensor")));
    }
    let out: Vec<usize> = (0..r).map(|d| xs[d] + (before[d] + after[d]) as usize).collect();
    let mut map = Vec::with_capacity(numel(&out));
    for f in 0..numel(&out) {
        let o = unravel(f, &out);
        let mut src = vec![0usize; r];
        let mut inside = true;
        for d in 0..r {
            let i = o[d] as i64 - before[d];
            let dim = xs[d] as i64;
            let j = if (0..dim).contains(&i) {
                i
            } else {
                match mode.as_str() {
                    "constant" => {
                        inside = false;
                        0
                    }
                    "edge" => i.clamp(0, dim - 1),
                    "reflect" => {
                        if dim == 1 {
                            0
                        } else {
                            let p = 2 * (dim - 1);
                            let m = i.rem_euclid(p);
                            if m < dim { m } else { p - m }
                        }
                    }
                    "wrap" => i.rem_euclid(dim),
                    other => return Err(unsupported_use(n, format!("mode {other}"))),
                }
            };
            src[d] = j as usize;
        }
        map.push(if inside { M::In(0, ravel(&src, &xs)) } else { M::Val(value) });
    }
    Ok(vec![apply(lw, &node_name(n), &[x], out, map)?])
}

/// Squeeze, Unsqueeze: reshapes.
pub fn squeeze(lw: &mut Lowering, n: &NodeProto, ins: &Ins, unsqueeze: bool) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = shape(lw, n, x)?;
    let axes = match const_ints(n, ins.get(1).copied().flatten(), "axes")? {
        Some(a) => a,
        None => attrs::ints(n, "axes").unwrap_or_default(),
    };
    let out: Vec<usize> = if unsqueeze {
        let r = xs.len() + axes.len();
        let ax: Vec<usize> = axes.iter().map(|&a| axis(n, a, r)).collect::<Result<_>>()?;
        let mut it = xs.iter();
        (0..r).map(|d| if ax.contains(&d) { 1 } else { *it.next().unwrap_or(&1) }).collect()
    } else if axes.is_empty() {
        xs.iter().copied().filter(|&d| d != 1).collect()
    } else {
        let ax: Vec<usize> = axes.iter().map(|&a| axis(n, a, xs.len())).collect::<Result<_>>()?;
        if ax.iter().any(|&a| xs[a] != 1) {
            return Err(unsupported_use(n, format!("cannot squeeze axes {axes:?} of {xs:?}")));
        }
        xs.iter().enumerate().filter(|(d, _)| !ax.contains(d)).map(|(_, &v)| v).collect()
    };
    Ok(vec![super::shape::reshape_to(lw, n, x, out)?])
}

pub fn trilu(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = shape(lw, n, x)?;
    if xs.len() < 2 {
        return Err(unsupported_use(n, "rank below 2"));
    }
    let k = match ins.get(1).copied().flatten() {
        Some(s) => const_ints(n, Some(s), "k")?.and_then(|v| v.first().copied()).unwrap_or(0),
        None => 0,
    };
    let upper = attrs::int(n, "upper", 1) != 0;
    let r = xs.len();
    let map = (0..numel(&xs))
        .map(|f| {
            let o = unravel(f, &xs);
            let (i, j) = (o[r - 2] as i64, o[r - 1] as i64);
            let keep = if upper { j - i >= k } else { j - i <= k };
            if keep { M::In(0, f) } else { M::Val(0.0) }
        })
        .collect();
    Ok(vec![apply(lw, &node_name(n), &[x], xs, map)?])
}

pub fn depth_to_space(lw: &mut Lowering, n: &NodeProto, ins: &Ins, to_space: bool) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = shape(lw, n, x)?;
    let b = attrs::int(n, "blocksize", 0).max(0) as usize;
    if xs.len() != 4 || b == 0 {
        return Err(unsupported_use(n, "needs a 4-D input and a positive blocksize"));
    }
    let (nb, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
    let crd = attrs::string(n, "mode").unwrap_or_else(|| "DCR".to_string()) == "CRD";
    let (out, map): (Vec<usize>, Vec<M>) = if to_space {
        if c % (b * b) != 0 {
            return Err(unsupported_use(n, "channels not divisible by blocksize²"));
        }
        let oc = c / (b * b);
        let out = vec![nb, oc, h * b, w * b];
        let map = (0..numel(&out))
            .map(|f| {
                let o = unravel(f, &out);
                let (bi, ci, y, xx) = (o[0], o[1], o[2], o[3]);
                let (by, bx) = (y % b, xx % b);
                let ic = if crd { ci * b * b + by * b + bx } else { (by * b + bx) * oc + ci };
                M::In(0, ravel(&[bi, ic, y / b, xx / b], &xs))
            })
            .collect();
        (out, map)
    } else {
        if h % b != 0 || w % b != 0 {
            return Err(unsupported_use(n, "spatial size not divisible by blocksize"));
        }
        let out = vec![nb, c * b * b, h / b, w / b];
        let map = (0..numel(&out))
            .map(|f| {
                let o = unravel(f, &out);
                let (bi, oc, y, xx) = (o[0], o[1], o[2], o[3]);
                let (blk, ci) = (oc / c, oc % c);
                let (by, bx) = (blk / b, blk % b);
                M::In(0, ravel(&[bi, ci, y * b + by, xx * b + bx], &xs))
            })
            .collect();
        (out, map)
    };
    Ok(vec![apply(lw, &node_name(n), &[x], out, map)?])
}

pub fn resize(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = shape(lw, n, x)?;
    let mode = attrs::string(n, "mode").unwrap_or_else(|| "nearest".to_string());
    if mode != "nearest" {
        return Err(unsupported_use(n, format!("mode `{mode}` (only nearest)")));
    }
    // Upsample (opset 7-9) and Resize-10 take the scales as input 1 (or, Upsample-7, as an
    // attribute); Resize-11+ as input 2 after `roi`, with `sizes` as input 3
    let old_form = n.op_type() == "Upsample" || n.input.len() == 2;
    let scales = match ins.get(if old_form { 1 } else { 2 }).copied().flatten() {
        Some(Sym::Const(c)) if !c.is_empty() => Some(c.floats()),
        _ => n.attribute.iter().find(|a| a.name() == "scales").map(|a| a.floats.iter().map(|&v| v as f64).collect()),
    };
    let sizes = if old_form { None } else { const_ints(n, ins.get(3).copied().flatten(), "sizes")?.filter(|v| !v.is_empty()) };
    let out: Vec<usize> = match (&scales, &sizes) {
        (_, Some(s)) => s.iter().map(|&d| d.max(0) as usize).collect(),
        (Some(sc), None) => xs.iter().zip(sc).map(|(&d, &s)| (d as f64 * s).floor() as usize).collect(),
        _ => return Err(unsupported_use(n, "needs constant scales or sizes")),
    };
    if out.len() != xs.len() {
        return Err(unsupported_use(n, "scales/sizes rank differs from the input's"));
    }
    // Upsample and Resize-10 index the input as floor(out / scale)
    let (ctm_default, nearest_default) = if old_form { ("asymmetric", "floor") } else { ("half_pixel", "round_prefer_floor") };
    let ctm = attrs::string(n, "coordinate_transformation_mode").unwrap_or_else(|| ctm_default.to_string());
    let nearest = attrs::string(n, "nearest_mode").unwrap_or_else(|| nearest_default.to_string());
    let map = (0..numel(&out))
        .map(|f| {
            let o = unravel(f, &out);
            let src: Vec<usize> = (0..xs.len())
                .map(|d| {
                    let s = match &scales {
                        Some(sc) if sizes.is_none() => sc[d],
                        _ => out[d] as f64 / xs[d] as f64,
                    };
                    let xo = o[d] as f64;
                    let xi = match ctm.as_str() {
                        "asymmetric" => xo / s,
                        "align_corners" => if out[d] > 1 { xo * (xs[d] as f64 - 1.0) / (out[d] as f64 - 1.0) } else { 0.0 },
                        "pytorch_half_pixel" => if out[d] > 1 { (xo + 0.5) / s - 0.5 } else { 0.0 },
                        _ => (xo + 0.5) / s - 0.5,
                    };
                    let r = match nearest.as_str() {
                        "floor" => xi.floor(),
                        "ceil" => xi.ceil(),
                        "round_prefer_ceil" => (xi + 0.5).floor(),
                        _ => (xi - 0.5).ceil(),
                    };
                    (r.max(0.0) as usize).min(xs[d] - 1)
                })
                .collect();
            M::In(0, ravel(&src, &xs))
        })
        .collect();
    Ok(vec![apply(lw, &node_name(n), &[x], out, map)?])
}

/// Shape: the (constant) shape of its input.
pub fn shape_op(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let xs = shape(lw, n, need(n, ins, 0)?)?;
    let r = xs.len() as i64;
    let norm = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let start = norm(attrs::int(n, "start", 0));
    let end = n.attribute.iter().any(|a| a.name() == "end").then(|| norm(attrs::int(n, "end", r))).unwrap_or(xs.len());
    let v: Vec<i64> = xs[start..end.max(start)].iter().map(|&d| d as i64).collect();
    Ok(vec![Sym::Const(Const { dims: vec![v.len()], dtype: DataType::Int64, data: ConstData::Int(v) })])
}

/// ConstantOfShape.
pub fn constant_of_shape(_lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let dims: Vec<usize> = const_ints(n, ins.first().copied().flatten(), "shape")?.unwrap_or_default().iter().map(|&d| d.max(0) as usize).collect();
    let value = match n.attribute.iter().find(|a| a.name() == "value").and_then(|a| a.t.as_ref()) {
        Some(t) => super::super::consts::decode(t)?,
        None => Const { dims: vec![1], dtype: DataType::Float, data: ConstData::Float(vec![0.0]) },
    };
    let k = numel(&dims);
    let data = match &value.data {
        ConstData::Int(v) => ConstData::Int(vec![v.first().copied().unwrap_or(0); k]),
        ConstData::Float(v) => ConstData::Float(vec![v.first().copied().unwrap_or(0.0); k]),
    };
    Ok(vec![Sym::Const(Const { dims, dtype: value.dtype, data })])
}

/// Range (constant operands only).
pub fn range(_lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let get = |i: usize| -> Result<(f64, bool)> {
        match need(n, ins, i)? {
            Sym::Const(c) if c.len() == 1 => Ok((c.floats()[0], matches!(c.data, ConstData::Int(_)))),
            _ => Err(unsupported_use(n, "start, limit and delta must be constant scalars")),
        }
    };
    let ((s, int), (l, _), (d, _)) = (get(0)?, get(1)?, get(2)?);
    if d == 0.0 {
        return Err(unsupported_use(n, "delta 0"));
    }
    let count = ((l - s) / d).ceil().max(0.0) as usize;
    let vals: Vec<f64> = (0..count).map(|i| s + i as f64 * d).collect();
    let (dtype, data) = if int { (DataType::Int64, ConstData::Int(vals.iter().map(|&v| v as i64).collect())) } else { (DataType::Float, ConstData::Float(vals)) };
    Ok(vec![Sym::Const(Const { dims: vec![count], dtype, data })])
}

/// EyeLike: a constant identity-like matrix of the input's shape.
pub fn eye_like(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let xs = shape(lw, n, need(n, ins, 0)?)?;
    if xs.len() != 2 {
        return Err(unsupported_use(n, "needs a 2-D input"));
    }
    let k = attrs::int(n, "k", 0);
    let v: Vec<f64> = (0..numel(&xs)).map(|f| if (f % xs[1]) as i64 - (f / xs[1]) as i64 == k { 1.0 } else { 0.0 }).collect();
    Ok(vec![Sym::Const(Const { dims: xs, dtype: DataType::Float, data: ConstData::Float(v) })])
}

/// A real value laid out in the shape of `like` with a single term (helper for callers that
/// need an actual tensor of constants).
pub fn const_tensor(lw: &mut Lowering, name: &str, shape: &[usize], values: &[f64], scale: f64) -> Result<QT> {
    let src: Vec<Src> = values.iter().map(|v| Src::Const((v / scale).round() as i64)).collect();
    let id = lw.g.add_node(name, Op::Wire(Wire { inputs: vec![], shape: shape.to_vec(), src }))?;
    Ok(QT { id, scale, zp: 0 })
}
