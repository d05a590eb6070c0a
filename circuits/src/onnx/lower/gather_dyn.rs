//! Data-dependent selection: Gather with indices computed at run time (one-hot selection),
//! TopK (a stable odd-even transposition sorting network), NonZero of constants.
//!
//! One-hot: for integer indices `i`, `g_j = clamp(i - j + 1, 0, 1) = [i >= j]` is one
//! Rescale per class, and `e_j = g_j - g_(j+1)` is exactly `[i == j]` (all zero when `i` is
//! out of range). The selection `Σ_j e_j·x_j` is a dense product with a constant table
//! (embeddings) or one product row per class otherwise.

use super::super::attrs::{self, node_name};
use super::super::consts::{Const, ConstData};
use super::super::proto::tensor_proto::DataType;
use super::super::proto::NodeProto;
use super::super::sym::{Lowering, QTarget, Real, Sym};
use super::math::{self, scale_real};
use super::wiring::{apply, axis, const_ints, ravel, unravel, M};
use super::{need, unsupported_use, Ins};
use crate::error::Result;
use crate::ir::tensor::numel;

/// `e_j = [idx == j]` for j in 0..classes, each a 0/1 real of idx's shape. Negative indices
/// count from the end as ONNX specifies.
fn one_hot(lw: &mut Lowering, n: &NodeProto, idx: &Sym, classes: usize) -> Result<Vec<Real>> {
    let name = node_name(n);
    let r = index_real_unclamped(lw, n, idx, classes)?;
    let mut g = Vec::with_capacity(classes + 1);
    for j in 0..=classes {
        let q = lw.materialize(&math::add_const(&r, 1.0 - j as f64), QTarget { scale: 1.0, zp: 0, lo: 0, hi: 1 }, false, &format!("{name}/ge{j}"))?;
        g.push(Real::of(q.id, 0, 1.0));
    }
    (0..classes).map(|j| math::lin(lw, n, &[(g[j].clone(), 1.0), (g[j + 1].clone(), -1.0)])).collect()
}

/// One-hot matrix of integer indices: shape `idx.shape + [classes]`, entry `[idx == j]`.
fn one_hot_matrix(lw: &mut Lowering, n: &NodeProto, idx: &Sym, classes: usize) -> Result<Real> {
    let name = node_name(n);
    let r = index_real_unclamped(lw, n, idx, classes)?;
    let is_ = lw.shape(&Sym::Real(r.clone())).unwrap_or_default();
    let mut gs = Vec::with_capacity(classes + 1);
    for j in 0..=classes {
        let q = lw.materialize(&math::add_const(&r, 1.0 - j as f64), QTarget { scale: 1.0, zp: 0, lo: 0, hi: 1 }, false, &format!("{name}/ge{j}"))?;
        gs.push(Sym::Q(q));
    }
    let t = numel(&is_);
    let mut gshape = is_.clone();
    gshape.push(classes + 1);
    let refs: Vec<&Sym> = gs.iter().collect();
    let g = apply(lw, &format!("{name}/G"), &refs, gshape.clone(), (0..t * (classes + 1)).map(|f| M::In(f % (classes + 1), f / (classes + 1))).collect())?;
    let mut eshape = is_.clone();
    eshape.push(classes);
    let lo = apply(lw, &format!("{name}/G0"), &[&g], eshape.clone(), (0..t * classes).map(|f| M::In(0, (f / classes) * (classes + 1) + f % classes)).collect())?;
    let hi = apply(lw, &format!("{name}/G1"), &[&g], eshape, (0..t * classes).map(|f| M::In(0, (f / classes) * (classes + 1) + f % classes + 1)).collect())?;
    super::elementwise::combine(lw, n, &lo, &hi, -1.0)
}

/// Integer indices (negative ones counted from the end), not clamped.
fn index_real_unclamped(lw: &mut Lowering, n: &NodeProto, idx: &Sym, classes: usize) -> Result<Real> {
    let name = node_name(n);
    let mut r = lw.real(idx, &name)?;
    let integral = r.terms.iter().all(|t| t.scale.iter().all(|s| s.fract() == 0.0)) && r.offset.iter().all(|o| o.fract() == 0.0);
    let (lo, hi) = lw.real_bounds(&r);
    if !integral {
        let t = QTarget { scale: 1.0, zp: 0, lo: lo.floor() as i64, hi: hi.ceil() as i64 };
        let q = lw.materialize(&r, t, false, &format!("{name}/index"))?;
        r = Real::of(q.id, 0, 1.0);
    }
    if lo < 0.0 {
        let neg = math::positive(lw, &scale_real(&r, -1.0), &format!("{name}/neg"))?;
        r = math::lin(lw, n, &[(r, 1.0), (neg, classes as f64)])?;
    }
    Ok(r)
}

/// ScatterND (reduction none) with run-time indices and updates:
/// `out = data·(1 - hit) + Eᵀ·U` with `E` the one-hot matrix of the index tuples' flat
/// positions. (ONNX leaves duplicate indices undefined; here their updates add up.)
pub fn scatter_nd(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let name = node_name(n);
    let (data, idx, upd) = (need(n, ins, 0)?, need(n, ins, 1)?, need(n, ins, 2)?);
    if attrs::string(n, "reduction").is_some_and(|r| r != "none") {
        return Err(unsupported_use(n, "reductions other than none"));
    }
    let ds = lw.shape(data).unwrap_or_default();
    let is_ = lw.shape(idx).unwrap_or_default();
    let q = *is_.last().unwrap_or(&0);
    if q == 0 || q > ds.len() {
        return Err(unsupported_use(n, format!("index tuples of length {q} for data of rank {}", ds.len())));
    }
    let tshape: Vec<usize> = is_[..is_.len() - 1].to_vec();
    let (t, p, inner) = (numel(&tshape), ds[..q].iter().product::<usize>(), ds[q..].iter().product::<usize>());
    // flat positions of the tuples
    let mut pos: Option<Real> = None;
    for k in 0..q {
        let ik = apply(lw, &format!("{name}/i{k}"), &[idx], tshape.clone(), (0..t).map(|f| M::In(0, f * q + k)).collect())?;
        let w: usize = ds[k + 1..q].iter().product();
        let mut nk = n.clone();
        nk.name = Some(format!("{name}/i{k}"));
        let r = index_real_unclamped(lw, &nk, &ik, ds[k])?;
        let term = scale_real(&r, w as f64);
        pos = Some(match pos {
            None => term,
            Some(a) => super::elementwise::combine(lw, n, &Sym::Real(a), &Sym::Real(term), 1.0)?,
        });
    }
    let e = one_hot_matrix(lw, n, &Sym::Real(pos.expect("q > 0")), p)?; // [T, P]
    let et = apply(lw, &format!("{name}/Et"), &[&Sym::Real(e)], vec![p, t], (0..p * t).map(|f| M::In(0, (f % t) * p + f / t)).collect())?;
    let u2 = super::shape::reshape_to(lw, n, upd, vec![t, inner])?;
    let mut nm = n.clone();
    nm.name = Some(format!("{name}/scatter"));
    let placed = super::reduce::matmul_activations(lw, &nm, &et, &u2)?; // [P, inner]
    let mut out = Sym::Real(placed);
    let data_zero = matches!(data, Sym::Const(c) if c.floats().iter().all(|&v| v == 0.0));
    if !data_zero {
        // data·(1 - hit), hit[p] = Σ_t E[t, p]
        let ones = Sym::Q(super::wiring::const_tensor(lw, &format!("{name}/ones"), &[t, 1], &vec![1.0; t], 1.0)?);
        let mut nh = n.clone();
        nh.name = Some(format!("{name}/hit"));
        let hit = super::reduce::matmul_activations(lw, &nh, &et, &ones)?; // [P, 1]
        let keep = math::add_const(&scale_real(&hit, -1.0), 1.0);
        let d2 = super::shape::reshape_to(lw, n, data, vec![p, inner])?;
        let kb = super::wiring::broadcast_to(lw, &format!("{name}/keep"), &Sym::Real(keep), &[p, inner])?;
        let mut nd = n.clone();
        nd.name = Some(format!("{name}/kept"));
        let ins2: Vec<Option<&Sym>> = vec![Some(&d2), Some(&kb)];
        let kept = math::mul(lw, &nd, &ins2)?.remove(0);
        out = Sym::Real(super::elementwise::combine(lw, n, &kept, &out, 1.0)?);
    }
    Ok(vec![super::shape::reshape_to(lw, n, &out, ds)?])
}

/// ScatterElements (reduction none): constant indices are wiring; run-time indices use the
/// one-hot matrix `E[.., j, .., p] = [idx[.., j, ..] == p]`:
/// `out[o] = data[o]·(1 - Σ_j E[o|axis=j, o_axis]) + Σ_j E[o|axis=j, o_axis]·upd[o|axis=j]`.
pub fn scatter_elements(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let name = node_name(n);
    let (data, idx, upd) = (need(n, ins, 0)?, need(n, ins, 1)?, need(n, ins, 2)?);
    if attrs::string(n, "reduction").is_some_and(|r| r != "none") {
        return Err(unsupported_use(n, "reductions other than none"));
    }
    let ds = lw.shape(data).unwrap_or_default();
    let is_ = lw.shape(idx).unwrap_or_default();
    let ax = axis(n, attrs::int(n, "axis", 0), ds.len())?;
    if is_.len() != ds.len() || lw.shape(upd).unwrap_or_default() != is_ || (0..ds.len()).any(|d| d != ax && is_[d] != ds[d]) {
        return Err(unsupported_use(n, format!("indices {is_:?} must match the data {ds:?} except along the axis, and the updates the indices")));
    }
    let p = ds[ax];
    let j_n = is_[ax];
    if let Sym::Const(c) = idx {
        let iv: Vec<i64> = c.floats().iter().map(|&v| v as i64).collect();
        let mut src: Vec<M> = (0..numel(&ds)).map(|f| M::In(0, f)).collect();
        for (u, &i) in iv.iter().enumerate() {
            let mut o = unravel(u, &is_);
            let t = if i < 0 { i + p as i64 } else { i };
            if t < 0 || t >= p as i64 {
                return Err(unsupported_use(n, format!("index {i} out of range for an axis of {p}")));
            }
            o[ax] = t as usize;
            src[ravel(&o, &ds)] = M::In(1, u);
        }
        return Ok(vec![apply(lw, &name, &[data, upd], ds, src)?]);
    }
    let e = one_hot_matrix(lw, n, idx, p)?; // idx shape + [P]
    let mut es = is_.clone();
    es.push(p);
    let ub = apply(lw, &format!("{name}/ub"), &[upd], es.clone(), (0..numel(&es)).map(|f| M::In(0, f / p)).collect())?;
    let mut nm = n.clone();
    nm.name = Some(format!("{name}/prod"));
    let es_sym = Sym::Real(e.clone());
    let ins2: Vec<Option<&Sym>> = vec![Some(&es_sym), Some(&ub)];
    let prod = math::mul(lw, &nm, &ins2)?.remove(0);
    let pick = |j: usize| -> Vec<M> {
        (0..numel(&ds))
            .map(|f| {
                let mut o = unravel(f, &ds);
                let pa = o[ax];
                o[ax] = j;
                o.push(pa);
                M::In(0, ravel(&o, &es))
            })
            .collect()
    };
    let mut placed: Option<Real> = None;
    let mut hit: Option<Real> = None;
    for j in 0..j_n {
        let pj = apply(lw, &format!("{name}/p{j}"), &[&prod], ds.clone(), pick(j))?;
        let hj = apply(lw, &format!("{name}/h{j}"), &[&Sym::Real(e.clone())], ds.clone(), pick(j))?;
        let pr = lw.real(&pj, &name)?;
        let hr = lw.real(&hj, &name)?;
        placed = Some(match placed {
            None => pr,
            Some(a) => super::elementwise::combine(lw, n, &Sym::Real(a), &Sym::Real(pr), 1.0)?,
        });
        hit = Some(match hit {
            None => hr,
            Some(a) => super::elementwise::combine(lw, n, &Sym::Real(a), &Sym::Real(hr), 1.0)?,
        });
    }
    let placed = placed.ok_or_else(|| unsupported_use(n, "empty indices"))?;
    let keep = math::add_const(&scale_real(&hit.expect("same length"), -1.0), 1.0);
    let mut nk = n.clone();
    nk.name = Some(format!("{name}/kept"));
    let keep_sym = Sym::Real(keep);
    let ins3: Vec<Option<&Sym>> = vec![Some(data), Some(&keep_sym)];
    let kept = math::mul(lw, &nk, &ins3)?.remove(0);
    Ok(vec![Sym::Real(super::elementwise::combine(lw, n, &kept, &Sym::Real(placed), 1.0)?)])
}

/// Integer indices as a 0-based integer real (negative ones counted from the end).
fn index_real(lw: &mut Lowering, n: &NodeProto, idx: &Sym, classes: usize) -> Result<Real> {
    let name = node_name(n);
    let mut r = lw.real(idx, &name)?;
    let (lo, _) = lw.real_bounds(&r);
    if lo < 0.0 {
        let neg = math::positive(lw, &scale_real(&r, -1.0), &format!("{name}/neg"))?;
        r = math::lin(lw, n, &[(r, 1.0), (neg, classes as f64)])?;
    }
    // one rescale both rounds the index onto integers and clamps it into the table
    let t = QTarget { scale: 1.0, zp: 0, lo: 0, hi: classes as i64 - 1 };
    let q = lw.materialize(&r, t, false, &format!("{name}/index"))?;
    Ok(Real::of(q.id, 0, 1.0))
}

/// Selection from a constant table: output element `f` is `table[idx_f·stride + off_f]`,
/// one function-table lookup per element. `idx_map` broadcasts the indices to the output.
fn table_select(lw: &mut Lowering, n: &NodeProto, c: &Const, idx: &Real, out: &[usize], idx_map: &dyn Fn(usize) -> M, stride: usize, offs: &[f64]) -> Result<Sym> {
    let name = node_name(n);
    let vals = c.floats();
    if vals.len() > crate::ops::table::MAX_TABLE {
        return Err(unsupported_use(n, format!("a {}-entry table is too large to gather from", vals.len())));
    }
    let ib = apply(lw, &format!("{name}/idx"), &[&Sym::Real(idx.clone())], out.to_vec(), (0..numel(out)).map(idx_map).collect())?;
    let ir = lw.real(&ib, &name)?;
    let flat = super::elementwise::combine(
        lw,
        n,
        &Sym::Real(scale_real(&ir, stride as f64)),
        &Sym::Const(Const { dims: out.to_vec(), dtype: DataType::Float, data: ConstData::Float(offs.to_vec()) }),
        1.0,
    )?;
    let fq = lw.materialize(&flat, QTarget { scale: 1.0, zp: 0, lo: 0, hi: vals.len() as i64 - 1 }, false, &format!("{name}/flat"))?;
    let integral = vals.iter().all(|v| v.fract() == 0.0);
    let scale = if integral { 1.0 } else { (-(lw.opts.param_scale_bits as f64)).exp2() };
    let values = vals.iter().map(|v| (v / scale).round() as i64).collect();
    let id = lw.g.add_node(&name, crate::ops::Op::Table(crate::ops::Table { input: fq.id, func: n.op_type().to_string(), lo: 0, values }))?;
    Ok(Sym::Real(Real::of(id, 0, scale)))
}

/// Gather along `ax` with run-time indices.
pub fn gather(lw: &mut Lowering, n: &NodeProto, x: &Sym, xs: &[usize], idx: &Sym, ax: usize) -> Result<Sym> {
    let is_ = lw.shape(idx).unwrap_or_default();
    let classes = xs[ax];
    let out: Vec<usize> = xs[..ax].iter().chain(&is_).chain(&xs[ax + 1..]).copied().collect();
    if let Sym::Const(c) = x {
        let ir = index_real(lw, n, idx, classes)?;
        let k = is_.len();
        let post: usize = xs[ax + 1..].iter().product();
        let offs: Vec<f64> = (0..numel(&out))
            .map(|f| {
                let o = unravel(f, &out);
                let mut src: Vec<usize> = o[..ax].to_vec();
                src.push(0);
                src.extend_from_slice(&o[ax + k..]);
                ravel(&src, xs) as f64
            })
            .collect();
        let idx_map = |f: usize| M::In(0, ravel(&unravel(f, &out)[ax..ax + k], &is_));
        return table_select(lw, n, c, &ir, &out, &idx_map, post, &offs);
    }
    let hot = one_hot(lw, n, idx, classes)?;
    // e_j broadcast to the output: element (pre, s, post) takes e_j[s]
    let k = is_.len();
    let e_map = |f: usize| {
        let o = unravel(f, &out);
        M::In(0, ravel(&o[ax..ax + k], &is_))
    };
    // x_j broadcast to the output: element (pre, s, post) takes x[pre, j, post]
    let x_map = |j: usize, f: usize| {
        let o = unravel(f, &out);
        let src: Vec<usize> = o[..ax].iter().copied().chain(std::iter::once(j)).chain(o[ax + k..].iter().copied()).collect();
        M::In(0, ravel(&src, xs))
    };
    select(lw, n, x, &hot, &out, &e_map, &x_map)
}

/// Σ_j e_j(broadcast by `e_map`)·x(taken by `x_map(j, ·)`) over the output shape.
fn select(lw: &mut Lowering, n: &NodeProto, x: &Sym, hot: &[Real], out: &[usize], e_map: &dyn Fn(usize) -> M, x_map: &dyn Fn(usize, usize) -> M) -> Result<Sym> {
    let name = node_name(n);
    let mut acc: Option<Real> = None;
    for (j, e) in hot.iter().enumerate() {
        let eb = apply(lw, &format!("{name}/e{j}"), &[&Sym::Real(e.clone())], out.to_vec(), (0..numel(out)).map(e_map).collect())?;
        let xj = apply(lw, &format!("{name}/x{j}"), &[x], out.to_vec(), (0..numel(out)).map(|f| x_map(j, f)).collect())?;
        let mut nj = n.clone();
        nj.name = Some(format!("{name}/sel{j}"));
        let ins: Vec<Option<&Sym>> = vec![Some(&eb), Some(&xj)];
        let term = math::mul(lw, &nj, &ins)?.remove(0);
        let t = lw.real(&term, &name)?;
        acc = Some(match acc {
            None => t,
            Some(a) => super::elementwise::combine(lw, n, &Sym::Real(a), &Sym::Real(t), 1.0)?,
        });
    }
    Ok(Sym::Real(acc.ok_or_else(|| unsupported_use(n, "selection from an empty axis"))?))
}

/// GatherElements along `ax` with run-time indices.
pub fn gather_elements(lw: &mut Lowering, n: &NodeProto, x: &Sym, xs: &[usize], idx: &Sym, ax: usize) -> Result<Sym> {
    let is_ = lw.shape(idx).unwrap_or_default();
    if is_.len() != xs.len() || (0..xs.len()).any(|d| d != ax && is_[d] > xs[d]) {
        return Err(unsupported_use(n, format!("indices of shape {is_:?} for data {xs:?}")));
    }
    let out = is_.clone();
    if let Sym::Const(c) = x {
        let ir = index_real(lw, n, idx, xs[ax])?;
        let st = crate::ir::tensor::strides(xs);
        let offs: Vec<f64> = (0..numel(&out))
            .map(|f| {
                let mut o = unravel(f, &out);
                o[ax] = 0;
                ravel(&o, xs) as f64
            })
            .collect();
        let idx_map = |f: usize| M::In(0, f);
        return table_select(lw, n, c, &ir, &out, &idx_map, st[ax], &offs);
    }
    let hot = one_hot(lw, n, idx, xs[ax])?;
    let e_map = |f: usize| M::In(0, f);
    let x_map = |j: usize, f: usize| {
        let mut o = unravel(f, &out);
        o[ax] = j;
        M::In(0, ravel(&o, xs))
    };
    select(lw, n, x, &hot, &out, &e_map, &x_map)
}

/// GatherND (batch_dims 0) with run-time indices.
pub fn gather_nd(lw: &mut Lowering, n: &NodeProto, x: &Sym, xs: &[usize], idx: &Sym) -> Result<Sym> {
    let name = node_name(n);
    let is_ = lw.shape(idx).unwrap_or_default();
    let q = *is_.last().unwrap_or(&0);
    if q == 0 || q > xs.len() {
        return Err(unsupported_use(n, format!("index tuples of length {q} for data of rank {}", xs.len())));
    }
    let tuples_shape: Vec<usize> = is_[..is_.len() - 1].to_vec();
    let positions: usize = xs[..q].iter().product();
    let inner: usize = xs[q..].iter().product();
    // flat position = Σ_k idx_k · Π xs[k+1..q]
    let mut pos: Option<Real> = None;
    for k in 0..q {
        let map = (0..numel(&tuples_shape)).map(|t| M::In(0, t * q + k)).collect();
        let ik = apply(lw, &format!("{name}/i{k}"), &[idx], tuples_shape.clone(), map)?;
        let ir = index_real(lw, &super::named(n, &format!("{name}/i{k}")), &ik, xs[k])?;
        let w: usize = xs[k + 1..q].iter().product();
        let term = scale_real(&ir, w as f64);
        pos = Some(match pos {
            None => term,
            Some(p) => super::elementwise::combine(lw, n, &Sym::Real(p), &Sym::Real(term), 1.0)?,
        });
    }
    let pos = pos.expect("q > 0");
    let mut out: Vec<usize> = tuples_shape.clone();
    out.extend_from_slice(&xs[q..]);
    if let Sym::Const(c) = x {
        let offs: Vec<f64> = (0..numel(&out)).map(|f| (f % inner) as f64).collect();
        let idx_map = |f: usize| M::In(0, f / inner);
        return table_select(lw, n, c, &pos, &out, &idx_map, inner, &offs);
    }
    let hot = one_hot(lw, n, &Sym::Real(pos), positions)?;
    let e_map = |f: usize| M::In(0, f / inner);
    let x_map = |p: usize, f: usize| M::In(0, p * inner + f % inner);
    select(lw, n, x, &hot, &out, &e_map, &x_map)
}

/// TopK: values (and indices) of the k largest (or smallest) along an axis, sorted, ties by
/// lower index first, via an odd-even transposition network of stable compare-exchanges.
pub fn top_k(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let name = node_name(n);
    let xs = lw.shape(x).unwrap_or_default();
    let k = const_ints(n, ins.get(1).copied().flatten(), "k")?.and_then(|v| v.first().copied()).ok_or_else(|| unsupported_use(n, "k must be a constant"))?;
    let ax = axis(n, attrs::int(n, "axis", -1), xs.len())?;
    let largest = attrs::int(n, "largest", 1) != 0;
    let m = xs[ax];
    if k < 0 || k as usize > m {
        return Err(unsupported_use(n, format!("k = {k} for an axis of {m}")));
    }
    let k = k as usize;
    if let Sym::Const(_) = x {
        return Err(unsupported_use(n, "TopK of a constant"));
    }
    let slice_shape: Vec<usize> = (0..xs.len()).map(|d| if d == ax { 1 } else { xs[d] }).collect();
    let mut vals: Vec<Sym> = Vec::with_capacity(m);
    for j in 0..m {
        let map = (0..numel(&slice_shape))
            .map(|f| {
                let mut idx = unravel(f, &slice_shape);
                idx[ax] = j;
                M::In(0, ravel(&idx, &xs))
            })
            .collect();
        vals.push(apply(lw, &format!("{name}/s{j}"), &[x], slice_shape.clone(), map)?);
    }
    let want_idx = n.output.get(1).is_some_and(|o| !o.is_empty());
    let mut idxs: Vec<Real> = Vec::new();
    if want_idx {
        for j in 0..m {
            let q = super::wiring::const_tensor(lw, &format!("{name}/i{j}"), &slice_shape, &vec![j as f64; numel(&slice_shape)], 1.0)?;
            idxs.push(Real::of(q.id, 0, 1.0));
        }
    }
    // odd-even transposition: m rounds of adjacent compare-exchanges, swapping only when the
    // later element is strictly better (stable)
    for round in 0..m {
        let mut i = round % 2;
        while i + 1 < m {
            let tag = format!("{name}/r{round}c{i}");
            let (a, b) = (vals[i].clone(), vals[i + 1].clone());
            // better = b - a (largest) or a - b (smallest); swap iff better > 0
            let d = if largest { super::elementwise::combine(lw, n, &b, &a, -1.0)? } else { super::elementwise::combine(lw, n, &a, &b, -1.0)? };
            let p = math::relu_q(lw, &d, &format!("{tag}/relu"))?;
            let pr = Sym::Q(p);
            let sign = if largest { 1.0 } else { -1.0 };
            // first = a ± relu, second = b ∓ relu
            let first = super::elementwise::combine(lw, n, &a, &pr, sign)?;
            let second = super::elementwise::combine(lw, n, &b, &pr, -sign)?;
            let fq = lw.plain(&first, &format!("{tag}/hi"))?;
            let sq = lw.plain(&second, &format!("{tag}/lo"))?;
            vals[i] = Sym::Q(fq);
            vals[i + 1] = Sym::Q(sq);
            if want_idx {
                let s = math::positive(lw, &d, &format!("{tag}/swap"))?;
                let di = math::lin(lw, n, &[(idxs[i + 1].clone(), 1.0), (idxs[i].clone(), -1.0)])?;
                let mut nm = n.clone();
                nm.name = Some(format!("{tag}/imul"));
                let t = math::mul_tensors(lw, &nm, &Sym::Real(s), &Sym::Real(di))?;
                let ni = math::lin(lw, n, &[(idxs[i].clone(), 1.0), (t.clone(), 1.0)])?;
                let nj = math::lin(lw, n, &[(idxs[i + 1].clone(), 1.0), (t, -1.0)])?;
                let qi = lw.materialize(&ni, QTarget { scale: 1.0, zp: 0, lo: 0, hi: m as i64 - 1 }, false, &format!("{tag}/ia"))?;
                let qj = lw.materialize(&nj, QTarget { scale: 1.0, zp: 0, lo: 0, hi: m as i64 - 1 }, false, &format!("{tag}/ib"))?;
                idxs[i] = Real::of(qi.id, 0, 1.0);
                idxs[i + 1] = Real::of(qj.id, 0, 1.0);
            }
            i += 2;
        }
    }
    let mut out_shape = xs.clone();
    out_shape[ax] = k;
    let cat = || -> Vec<M> {
        (0..numel(&out_shape))
            .map(|f| {
                let mut idx = unravel(f, &out_shape);
                let j = idx[ax];
                idx[ax] = 0;
                M::In(j, ravel(&idx, &slice_shape))
            })
            .collect()
    };
    let top: Vec<&Sym> = vals[..k].iter().collect();
    let v = apply(lw, &format!("{name}/values"), &top, out_shape.clone(), cat())?;
    let mut outs = vec![v];
    if want_idx {
        let is: Vec<Sym> = idxs[..k].iter().map(|r| Sym::Real(r.clone())).collect();
        let refs: Vec<&Sym> = is.iter().collect();
        outs.push(apply(lw, &format!("{name}/indices"), &refs, out_shape.clone(), cat())?);
    }
    Ok(outs)
}

/// NonZero of a constant (folded).
pub fn non_zero(_lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let c = match need(n, ins, 0)? {
        Sym::Const(c) => c,
        _ => return Err(unsupported_use(n, "NonZero of a run-time value (its output shape depends on the data)")),
    };
    let v = c.floats();
    let nz: Vec<usize> = (0..v.len()).filter(|&i| v[i] != 0.0).collect();
    let r = c.dims.len().max(1);
    let mut data = vec![0i64; r * nz.len()];
    for (k, &f) in nz.iter().enumerate() {
        let idx = if c.dims.is_empty() { vec![0] } else { unravel(f, &c.dims) };
        for d in 0..r {
            data[d * nz.len() + k] = idx[d] as i64;
        }
    }
    Ok(vec![Sym::Const(Const { dims: vec![r, nz.len()], dtype: DataType::Int64, data: ConstData::Int(data) })])
}
