//! Reductions and the ops built on them: ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare/
//! LogSumExp, ArgMax/ArgMin, Softmax/LogSoftmax, CumSum, BatchNormalization,
//! LayerNormalization, InstanceNormalization, and MatMul of two activations.
//!
//! A reduction over `m` elements splits its input into `m` slices with [`Wire`]s (free),
//! then sums them lazily (a multi-term real value, one Rescale when materialised) or folds
//! them pairwise (max/min).

use super::super::attrs::{self, node_name};
use super::super::proto::NodeProto;
use super::super::sym::{Lowering, QTarget, Real, Sym, QT};
use super::math::{self, scale_real};
use super::wiring::{apply, axis, const_ints, ravel, unravel, M};
use super::{need, unsupported_use, Ins};
use crate::error::Result;
use crate::ir::tensor::numel;

/// Slices of `x` over `axes`: `m` tensors of the reduced shape (kept dims as 1 if `keep`).
fn slices(lw: &mut Lowering, name: &str, x: &Sym, xs: &[usize], axes: &[usize], keep: bool) -> Result<(Vec<Sym>, Vec<usize>)> {
    let kept: Vec<usize> = (0..xs.len()).map(|d| if axes.contains(&d) { 1 } else { xs[d] }).collect();
    let red: Vec<usize> = axes.iter().map(|&a| xs[a]).collect();
    let out: Vec<usize> = if keep { kept.clone() } else { (0..xs.len()).filter(|d| !axes.contains(d)).map(|d| xs[d]).collect() };
    let mut parts = Vec::new();
    for j in 0..numel(&red) {
        let rj = unravel(j, &red);
        let map = (0..numel(&kept))
            .map(|f| {
                let mut idx = unravel(f, &kept);
                for (k, &a) in axes.iter().enumerate() {
                    idx[a] = rj[k];
                }
                M::In(0, ravel(&idx, xs))
            })
            .collect();
        parts.push(apply(lw, &format!("{name}/s{j}"), &[x], out.clone(), map)?);
    }
    Ok((parts, out))
}

fn sum_syms(lw: &mut Lowering, n: &NodeProto, parts: &[Sym]) -> Result<Real> {
    let name = node_name(n);
    let mut acc = lw.real(&parts[0], &name)?;
    for p in &parts[1..] {
        acc = super::elementwise::combine(lw, n, &Sym::Real(acc), p, 1.0)?;
    }
    Ok(acc)
}

/// `Σ parts` as one new tensor, exactly: a Rescale with unit multipliers and shift 0 at the
/// parts' own scale and zero point removed, its range the sum of theirs (so it never clamps).
/// Only when every part is one plain tensor of the same scale and zero point and the sum
/// stays within the graph's value bound; `None` otherwise (and for fewer than 3 parts, where
/// it saves nothing).
fn exact_sum(lw: &mut Lowering, name: &str, parts: &[Sym]) -> Result<Option<Real>> {
    if parts.len() < 3 {
        return Ok(None);
    }
    let mut qs: Vec<QT> = Vec::with_capacity(parts.len());
    for p in parts {
        match lw.real(p, name)?.as_plain() {
            Some(q) => qs.push(q),
            None => return Ok(None),
        }
    }
    let (scale, zp) = (qs[0].scale, qs[0].zp);
    if qs.iter().any(|q| q.scale != scale || q.zp != zp) {
        return Ok(None);
    }
    let (mut lo, mut hi) = (0i128, 0i128);
    for q in &qs {
        let i = lw.g.info(q.id);
        lo += i.lo as i128 - zp as i128;
        hi += i.hi as i128 - zp as i128;
    }
    let limit = 1i128 << crate::ir::MAX_VALUE_BITS;
    if lo <= -limit || hi >= limit {
        return Ok(None);
    }
    let sum = Real {
        terms: qs.iter().map(|q| super::super::sym::Term { id: q.id, zp, scale: vec![scale] }).collect(),
        axis: 0,
        offset: vec![],
        clamp_lo: None,
        clamp_hi: None,
    };
    let q = lw.materialize(&sum, QTarget { scale, zp: 0, lo: lo as i64, hi: hi as i64 }, false, name)?;
    Ok(Some(Real::of(q.id, 0, scale)))
}

fn max_syms(lw: &mut Lowering, n: &NodeProto, parts: Vec<Sym>, is_max: bool) -> Result<Sym> {
    let mut level = parts;
    let mut round = 0;
    while level.len() > 1 {
        let mut next = Vec::new();
        for (i, pair) in level.chunks(2).enumerate() {
            if pair.len() == 1 {
                next.push(pair[0].clone());
            } else {
                let mut n2 = n.clone();
                n2.name = Some(format!("{}/max{round}.{i}", node_name(n)));
                let ins: Vec<Option<&Sym>> = vec![Some(&pair[0]), Some(&pair[1])];
                next.push(math::min_max(lw, &n2, &ins, is_max)?.remove(0));
            }
        }
        level = next;
        round += 1;
    }
    Ok(level.remove(0))
}

fn reduce_axes(n: &NodeProto, ins: &Ins, rank: usize) -> Result<Vec<usize>> {
    let given = match const_ints(n, ins.get(1).copied().flatten(), "axes")? {
        Some(a) => Some(a),
        None => attrs::ints(n, "axes"),
    };
    let axes = match given {
        Some(a) if !a.is_empty() => a.iter().map(|&v| axis(n, v, rank)).collect::<Result<Vec<_>>>()?,
        _ if attrs::int(n, "noop_with_empty_axes", 0) != 0 => vec![],
        _ => (0..rank).collect(),
    };
    let mut axes = axes;
    axes.sort();
    axes.dedup();
    Ok(axes)
}

pub fn reduce(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let name = node_name(n);
    let xs = lw.shape(x).unwrap_or_default();
    let axes = reduce_axes(n, ins, xs.len())?;
    let keep = attrs::int(n, "keepdims", 1) != 0;
    if axes.is_empty() {
        return Ok(vec![x.clone()]);
    }
    let m: usize = axes.iter().map(|&a| xs[a]).product();
    let op = n.op_type();
    if m == 0 {
        return Err(unsupported_use(n, "a reduction over an empty axis"));
    }
    if let Sym::Const(c) = x {
        return Ok(vec![fold_reduce(c, &xs, &axes, keep, op)?]);
    }
    // pre-map for L1 / L2 / SumSquare
    let src: Sym = match op {
        "ReduceL1" => {
            let r = lw.real(x, &name)?;
            Sym::Real(math::abs_real(lw, n, &r)?)
        }
        "ReduceL2" | "ReduceSumSquare" => Sym::Real(math::mul_tensors(lw, n, x, x)?),
        _ => x.clone(),
    };
    if op == "ReduceLogSumExp" {
        let (parts, _) = slices(lw, &name, x, &xs, &axes, true)?;
        let mx = max_syms(lw, n, parts, true)?;
        let mb = super::wiring::broadcast_to(lw, &format!("{name}/bmax"), &mx, &xs)?;
        let d = super::elementwise::combine(lw, n, x, &mb, -1.0)?;
        let e = math::table_fn(lw, &super::sub_node(n, "Exp", &format!("{name}/exp")), &Sym::Real(d), &f64::exp, math::Spec::domain(-18.0, 0.0))?;
        let (eparts, _) = slices(lw, &format!("{name}/e"), &e, &xs, &axes, true)?;
        let s = sum_syms(lw, n, &eparts)?;
        let mut s = s;
        s.clamp_lo = Some(1.0);
        s.clamp_hi = Some(m as f64);
        let l = math::table_fn(lw, &super::sub_node(n, "Log", &format!("{name}/log")), &Sym::Real(s), &f64::ln, math::Spec::domain(1.0, m as f64))?;
        let r = super::elementwise::combine(lw, n, &l, &mx, 1.0)?;
        return Ok(vec![finish_keep(lw, n, Sym::Real(r), keep, &xs, &axes)?]);
    }
    let (parts, _) = slices(lw, &name, &src, &xs, &axes, keep)?;
    let r = match op {
        "ReduceSum" | "ReduceL1" | "ReduceSumSquare" => Sym::Real(sum_syms(lw, n, &parts)?),
        "ReduceMean" => Sym::Real(scale_real(&sum_syms(lw, n, &parts)?, 1.0 / m as f64)),
        "ReduceL2" => {
            let s = sum_syms(lw, n, &parts)?;
            Sym::Real(math::sqrt_real(lw, n, &s)?)
        }
        "ReduceMax" => max_syms(lw, n, parts, true)?,
        "ReduceMin" => max_syms(lw, n, parts, false)?,
        "ReduceProd" => {
            let mut acc = parts[0].clone();
            for (i, p) in parts[1..].iter().enumerate() {
                acc = Sym::Real(math::mul_tensors(lw, &super::sub_node(n, "Mul", &format!("{name}/p{i}")), &acc, p)?);
            }
            acc
        }
        _ => return Err(unsupported_use(n, "internal: unknown reduction")),
    };
    Ok(vec![r])
}

/// A reduction of a constant.
fn fold_reduce(c: &super::super::consts::Const, xs: &[usize], axes: &[usize], keep: bool, op: &str) -> Result<Sym> {
    use super::super::consts::{Const, ConstData};
    let v = c.floats();
    let kept: Vec<usize> = (0..xs.len()).map(|d| if axes.contains(&d) { 1 } else { xs[d] }).collect();
    let mut groups: Vec<Vec<f64>> = vec![Vec::new(); numel(&kept)];
    for (f, &x) in v.iter().enumerate() {
        let mut idx = unravel(f, xs);
        for &a in axes {
            idx[a] = 0;
        }
        groups[ravel(&idx, &kept)].push(x);
    }
    let out: Vec<f64> = groups
        .iter()
        .map(|g| match op {
            "ReduceSum" => g.iter().sum(),
            "ReduceMean" => g.iter().sum::<f64>() / g.len() as f64,
            "ReduceMax" => g.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            "ReduceMin" => g.iter().cloned().fold(f64::INFINITY, f64::min),
            "ReduceProd" => g.iter().product(),
            "ReduceL1" => g.iter().map(|x| x.abs()).sum(),
            "ReduceL2" => g.iter().map(|x| x * x).sum::<f64>().sqrt(),
            "ReduceSumSquare" => g.iter().map(|x| x * x).sum(),
            _ => g.iter().map(|x| x.exp()).sum::<f64>().ln(),
        })
        .collect();
    let dims = if keep { kept } else { (0..xs.len()).filter(|d| !axes.contains(d)).map(|d| xs[d]).collect() };
    let data = match (&c.data, op) {
        (ConstData::Int(_), "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceL1" | "ReduceSumSquare") => ConstData::Int(out.iter().map(|&x| x as i64).collect()),
        _ => ConstData::Float(out),
    };
    let dtype = if matches!(data, ConstData::Int(_)) { c.dtype } else { super::super::proto::tensor_proto::DataType::Float };
    Ok(Sym::Const(Const { dims, dtype, data }))
}

fn finish_keep(lw: &mut Lowering, n: &NodeProto, s: Sym, keep: bool, xs: &[usize], axes: &[usize]) -> Result<Sym> {
    if keep {
        return Ok(s);
    }
    let out: Vec<usize> = (0..xs.len()).filter(|d| !axes.contains(d)).map(|d| xs[d]).collect();
    super::shape::reshape_to(lw, n, &s, out)
}

pub fn arg_max(lw: &mut Lowering, n: &NodeProto, ins: &Ins, is_max: bool) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let name = node_name(n);
    let xs = lw.shape(x).unwrap_or_default();
    let ax = axis(n, attrs::int(n, "axis", 0), xs.len())?;
    let keep = attrs::int(n, "keepdims", 1) != 0;
    let last = attrs::int(n, "select_last_index", 0) != 0;
    if xs[ax] == 0 {
        return Err(unsupported_use(n, "an empty axis"));
    }
    // one grid for every element: the maximum is then exactly one of them (a lazy real on a
    // finer grid, such as a Gemm's accumulator, would be rounded by the pairwise maxima and
    // equal none)
    let settled = match x {
        Sym::Const(_) | Sym::ConstQ(_) => x.clone(),
        _ => {
            let r = lw.real(x, &name)?;
            let t = lw.float_target();
            match r.as_plain() {
                Some(q) if (q.scale / t.scale).fract() == 0.0 => Sym::Q(q),
                _ => Sym::Q(lw.materialize(&r, t, false, &format!("{name}/settled"))?),
            }
        }
    };
    let (mut parts, _) = slices(lw, &name, &settled, &xs, &[ax], true)?;
    if last {
        parts.reverse();
    }
    let k = parts.len();
    let mx = max_syms(lw, n, parts.clone(), is_max)?;
    // eq_j = 1 - [|m - x_j| > 0]; p_j = min(Σ_{i<=j} eq_i, 1); first index = Σ_j (1 - p_j)
    let mut prefix: Option<Real> = None;
    let mut ps = Vec::new();
    for (j, p) in parts.iter().enumerate() {
        let d = if is_max { super::elementwise::combine(lw, n, &mx, p, -1.0)? } else { super::elementwise::combine(lw, n, p, &mx, -1.0)? };
        let gt = math::positive(lw, &d, &format!("{name}/gt{j}"))?;
        let eq = math::add_const(&scale_real(&gt, -1.0), 1.0);
        let acc = match prefix.take() {
            None => eq,
            Some(a) => super::elementwise::combine(lw, n, &Sym::Real(a), &Sym::Real(eq), 1.0)?,
        };
        let q = lw.materialize(&acc, QTarget { scale: 1.0, zp: 0, lo: 0, hi: 1 }, false, &format!("{name}/p{j}"))?;
        let pj = Real::of(q.id, 0, 1.0);
        ps.push(pj.clone());
        prefix = Some(pj);
    }
    let parts_lin: Vec<(Real, f64)> = ps.into_iter().map(|p| (p, -1.0)).collect();
    let first = math::add_const(&math::lin(lw, n, &parts_lin)?, k as f64);
    let idx = if last { math::add_const(&scale_real(&first, -1.0), (k - 1) as f64) } else { first };
    let s = Sym::Real(idx);
    Ok(vec![if keep { s } else { finish_keep(lw, n, s, false, &xs, &[ax])? }])
}

/// Softmax / LogSoftmax along one axis.
pub fn softmax(lw: &mut Lowering, n: &NodeProto, ins: &Ins, log: bool) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let name = node_name(n);
    let xs = lw.shape(x).unwrap_or_default();
    let ax = axis(n, attrs::int(n, "axis", -1), xs.len())?;
    let m = xs[ax];
    if m == 0 {
        return Err(unsupported_use(n, "softmax over an empty axis"));
    }
    let (parts, _) = slices(lw, &name, x, &xs, &[ax], true)?;
    let mx = max_syms(lw, n, parts, true)?;
    let mb = super::wiring::broadcast_to(lw, &format!("{name}/bmax"), &mx, &xs)?;
    let d = super::elementwise::combine(lw, n, x, &mb, -1.0)?;
    let e = math::table_fn(lw, &super::sub_node(n, "Exp", &format!("{name}/exp")), &Sym::Real(d.clone()), &f64::exp, math::Spec::domain(-18.0, 0.0))?;
    let (eparts, _) = slices(lw, &format!("{name}/e"), &e, &xs, &[ax], true)?;
    let mut s = sum_syms(lw, n, &eparts)?;
    // the largest term is exp(0) = 1, so the sum lies in [1, m]
    s.clamp_lo = Some(1.0);
    s.clamp_hi = Some(m as f64);
    if log {
        let l = math::table_fn(lw, &super::sub_node(n, "Log", &format!("{name}/log")), &Sym::Real(s), &f64::ln, math::Spec::domain(1.0, m as f64))?;
        let lb = super::wiring::broadcast_to(lw, &format!("{name}/blog"), &l, &xs)?;
        return Ok(vec![Sym::Real(super::elementwise::combine(lw, n, &Sym::Real(d), &lb, -1.0)?)]);
    }
    let t = lw.float_target();
    let sq = lw.materialize(&s, QTarget { lo: (1.0 / t.scale) as i64, hi: ((m as f64) / t.scale).ceil() as i64, ..t }, false, &format!("{name}/sum"))?;
    let sb = super::wiring::broadcast_to(lw, &format!("{name}/bsum"), &Sym::Q(sq), &xs)?;
    Ok(vec![Sym::Real(math::div_tensors(lw, n, &e, &sb)?)])
}

pub fn cumsum(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let name = node_name(n);
    let xs = lw.shape(x).unwrap_or_default();
    let a = const_ints(n, ins.get(1).copied().flatten(), "axis")?.and_then(|v| v.first().copied()).unwrap_or(0);
    let ax = axis(n, a, xs.len())?;
    let (excl, rev) = (attrs::int(n, "exclusive", 0) != 0, attrs::int(n, "reverse", 0) != 0);
    let (parts, _) = slices(lw, &name, x, &xs, &[ax], true)?;
    let k = parts.len();
    let mut outs: Vec<Sym> = Vec::new();
    for j in 0..k {
        let range: Vec<usize> = if rev { ((j + excl as usize)..k).collect() } else { (0..(j + 1 - excl as usize)).collect() };
        if range.is_empty() {
            let shape: Vec<usize> = (0..xs.len()).map(|d| if d == ax { 1 } else { xs[d] }).collect();
            let zeros = vec![0.0; numel(&shape)];
            outs.push(Sym::Q(super::wiring::const_tensor(lw, &format!("{name}/zero{j}"), &shape, &zeros, 1.0)?));
            continue;
        }
        let sel: Vec<Sym> = range.iter().map(|&i| parts[i].clone()).collect();
        outs.push(Sym::Real(sum_syms(lw, n, &sel)?));
    }
    // concatenate along the axis
    let refs: Vec<&Sym> = outs.iter().collect();
    let one: Vec<usize> = (0..xs.len()).map(|d| if d == ax { 1 } else { xs[d] }).collect();
    let map = (0..numel(&xs))
        .map(|f| {
            let mut idx = unravel(f, &xs);
            let j = idx[ax];
            idx[ax] = 0;
            M::In(j, ravel(&idx, &one))
        })
        .collect();
    Ok(vec![apply(lw, &name, &refs, xs, map)?])
}

fn const_of(n: &NodeProto, s: Option<&Sym>, what: &str) -> Result<Vec<f64>> {
    match s {
        Some(Sym::Const(c)) => Ok(c.floats()),
        Some(Sym::ConstQ(c)) => Ok(c.reals()),
        _ => Err(unsupported_use(n, format!("{what} must be a constant"))),
    }
}

pub fn batch_norm(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = lw.shape(x).unwrap_or_default();
    let g = const_of(n, ins.get(1).copied().flatten(), "scale")?;
    let b = const_of(n, ins.get(2).copied().flatten(), "bias")?;
    let mean = const_of(n, ins.get(3).copied().flatten(), "mean")?;
    let var = const_of(n, ins.get(4).copied().flatten(), "var")?;
    let eps = attrs::float(n, "epsilon", 1e-5) as f64;
    let c = xs.get(1).copied().unwrap_or(1);
    if [g.len(), b.len(), mean.len(), var.len()].iter().any(|&l| l != c) {
        return Err(unsupported_use(n, "per-channel parameters do not match the channel count"));
    }
    let k: Vec<f64> = (0..c).map(|i| g[i] / (var[i] + eps).sqrt()).collect();
    let off: Vec<f64> = (0..c).map(|i| b[i] - mean[i] * k[i]).collect();
    let mut dims = vec![1; xs.len()];
    dims[1] = c;
    let r = math_mul_add(lw, n, x, &dims, &k, &off)?;
    Ok(vec![Sym::Real(r)])
}

/// `x·k + off` with per-channel constants of shape `dims`.
fn math_mul_add(lw: &mut Lowering, n: &NodeProto, x: &Sym, dims: &[usize], k: &[f64], off: &[f64]) -> Result<Real> {
    let cs = |v: &[f64]| Sym::Const(super::super::consts::Const {
        dims: dims.to_vec(),
        dtype: super::super::proto::tensor_proto::DataType::Float,
        data: super::super::consts::ConstData::Float(v.to_vec()),
    });
    let kc = cs(k);
    let ins2: Vec<Option<&Sym>> = vec![Some(x), Some(&kc)];
    let y = super::math::mul(lw, n, &ins2)?.remove(0);
    Ok(super::elementwise::combine(lw, n, &y, &cs(off), 1.0)?)
}

/// (x - mean) / sqrt(var + eps) over `axes`.
fn normalize(lw: &mut Lowering, n: &NodeProto, x: &Sym, xs: &[usize], axes: &[usize], eps: f64) -> Result<Real> {
    let name = node_name(n);
    let m: usize = axes.iter().map(|&a| xs[a]).product();
    let (parts, _) = slices(lw, &format!("{name}/mean"), x, xs, axes, true)?;
    // the sum once per normalized row, exactly, so that each centered value is requantized
    // from two terms (x and the sum) instead of x and all m slices
    let total = match exact_sum(lw, &format!("{name}/sum"), &parts)? {
        Some(s) => s,
        None => sum_syms(lw, n, &parts)?,
    };
    let mean = scale_real(&total, 1.0 / m as f64);
    let mb = super::wiring::broadcast_to(lw, &format!("{name}/bmean"), &Sym::Real(mean), xs)?;
    let d = super::elementwise::combine(lw, n, x, &mb, -1.0)?;
    let dq = lw.plain(&d, &format!("{name}/centered"))?;
    let sq = math::mul_tensors(lw, &super::sub_node(n, "Mul", &format!("{name}/sq")), &Sym::Q(dq.clone()), &Sym::Q(dq.clone()))?;
    let (sparts, _) = slices(lw, &format!("{name}/var"), &Sym::Real(sq), xs, axes, true)?;
    let var = math::add_const(&scale_real(&sum_syms(lw, n, &sparts)?, 1.0 / m as f64), eps);
    let sd = math::sqrt_real(lw, &super::sub_node(n, "Sqrt", &format!("{name}/std")), &var)?;
    let sdb = super::wiring::broadcast_to(lw, &format!("{name}/bstd"), &Sym::Real(sd), xs)?;
    math::div_tensors(lw, &super::sub_node(n, "Div", &format!("{name}/div")), &Sym::Q(dq), &sdb)
}

pub fn layer_norm(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = lw.shape(x).unwrap_or_default();
    let ax = axis(n, attrs::int(n, "axis", -1), xs.len())?;
    let eps = attrs::float(n, "epsilon", 1e-5) as f64;
    let axes: Vec<usize> = (ax..xs.len()).collect();
    let y = normalize(lw, n, x, &xs, &axes, eps)?;
    let mut out = Sym::Real(y);
    if let Some(g) = ins.get(1).copied().flatten() {
        let ins2: Vec<Option<&Sym>> = vec![Some(&out), Some(g)];
        out = super::math::mul(lw, &super::sub_node(n, "Mul", &format!("{}/scale", node_name(n))), &ins2)?.remove(0);
    }
    if let Some(b) = ins.get(2).copied().flatten() {
        out = Sym::Real(super::elementwise::combine(lw, n, &out, b, 1.0)?);
    }
    Ok(vec![out])
}

pub fn instance_norm(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = lw.shape(x).unwrap_or_default();
    if xs.len() < 3 {
        return Err(unsupported_use(n, "needs an input of rank >= 3"));
    }
    let eps = attrs::float(n, "epsilon", 1e-5) as f64;
    let axes: Vec<usize> = (2..xs.len()).collect();
    let y = normalize(lw, n, x, &xs, &axes, eps)?;
    let g = const_of(n, ins.get(1).copied().flatten(), "scale")?;
    let b = const_of(n, ins.get(2).copied().flatten(), "B")?;
    let mut dims = vec![1; xs.len()];
    dims[1] = xs[1];
    Ok(vec![Sym::Real(math_mul_add(lw, n, &Sym::Real(y), &dims, &g, &b)?)])
}

/// How many products `(a - za)·(b - zb)` one output of a MatMul of `a` and `b` may sum, at
/// most `k`, so that the sum stays within the graph's value bound; the runs are then evened
/// out (35 products in runs of at most 16: three runs of 12, 12 and 11).
fn product_run(lw: &Lowering, a: &QT, b: &QT, k: usize) -> usize {
    let (ia, ib) = (lw.g.info(a.id), lw.g.info(b.id));
    let ma = (ia.lo as i128 - a.zp as i128).abs().max((ia.hi as i128 - a.zp as i128).abs());
    let mb = (ib.lo as i128 - b.zp as i128).abs().max((ib.hi as i128 - b.zp as i128).abs());
    let limit = (1i128 << crate::ir::MAX_VALUE_BITS) - 1;
    let most = (limit / (ma * mb).max(1)).clamp(1, k.max(1) as i128) as usize;
    let runs = k.max(1).div_ceil(most);
    k.max(1).div_ceil(runs)
}

/// MatMul of two activations (numpy semantics, batch dims broadcast): sums of products in
/// runs ([`crate::ops::Mul`] with a group, on dot-product rows), the runs added as lazy real
/// values.
pub fn matmul_activations(lw: &mut Lowering, n: &NodeProto, a: &Sym, b: &Sym) -> Result<Real> {
    let name = node_name(n);
    let (mut sa, mut sb) = (lw.shape(a).unwrap_or_default(), lw.shape(b).unwrap_or_default());
    let (a1, b1) = (sa.len() == 1, sb.len() == 1);
    if a1 {
        sa.insert(0, 1);
    }
    if b1 {
        sb.push(1);
    }
    if sa.len() < 2 || sb.len() < 2 || sa[sa.len() - 1] != sb[sb.len() - 2] {
        return Err(unsupported_use(n, format!("cannot multiply shapes {sa:?} and {sb:?}")));
    }
    let (mm, k, nn) = (sa[sa.len() - 2], sa[sa.len() - 1], sb[sb.len() - 1]);
    let batch = super::wiring::broadcast_shapes(&sa[..sa.len() - 2], &sb[..sb.len() - 2]).ok_or_else(|| unsupported_use(n, "batch dims do not broadcast"))?;
    let mut full: Vec<usize> = batch.clone();
    full.extend([mm, nn, k]);
    let map_a = |f: usize| {
        let i = unravel(f, &full);
        let r = batch.len();
        let mut src: Vec<usize> = (0..sa.len() - 2).map(|d| { let bd = d + r - (sa.len() - 2); if sa[d] == 1 { 0 } else { i[bd] } }).collect();
        src.extend([i[r], i[r + 2]]);
        M::In(0, ravel(&src, &sa))
    };
    let map_b = |f: usize| {
        let i = unravel(f, &full);
        let r = batch.len();
        let mut src: Vec<usize> = (0..sb.len() - 2).map(|d| { let bd = d + r - (sb.len() - 2); if sb[d] == 1 { 0 } else { i[bd] } }).collect();
        src.extend([i[r + 2], i[r + 1]]);
        M::In(0, ravel(&src, &sb))
    };
    // each operand brought into the Mul gadget's range before it is broadcast over the other's
    // rows and columns: rescaling the operand costs rows per value, and broadcasting multiplies
    // the values (by `nn` for a, `mm` for b); the products are the same either way
    let ra = lw.real(a, &name)?;
    let qa = math::small_qt(lw, &ra, &format!("{name}/a"))?;
    let rb = lw.real(b, &name)?;
    let qb = if ra == rb { qa.clone() } else { math::small_qt(lw, &rb, &format!("{name}/b"))? };
    // the products summed along `k` in runs as long as the value bound allows: each run is one
    // dot-product chain (width/2 products a row), and the runs are added as lazy terms
    let group = product_run(lw, &qa, &qb, k);
    let ea = apply(lw, &format!("{name}/ea"), &[&Sym::Q(qa)], full.clone(), (0..numel(&full)).map(map_a).collect())?;
    let eb = apply(lw, &format!("{name}/eb"), &[&Sym::Q(qb)], full.clone(), (0..numel(&full)).map(map_b).collect())?;
    let prod = math::mul_tensors_summed(lw, n, &ea, &eb, group)?;
    let mut runs = full.clone();
    runs[full.len() - 1] = k.div_ceil(group);
    let axes = vec![full.len() - 1];
    let (parts, _) = slices(lw, &format!("{name}/k"), &Sym::Real(prod), &runs, &axes, false)?;
    let s = sum_syms(lw, n, &parts)?;
    let mut out: Vec<usize> = batch;
    if !a1 {
        out.push(mm);
    }
    if !b1 {
        out.push(nn);
    }
    let cur = lw.shape(&Sym::Real(s.clone())).unwrap_or_default();
    if cur != out {
        let r = super::shape::reshape_to(lw, n, &Sym::Real(s), out)?;
        return lw.real(&r, &name);
    }
    Ok(s)
}
