//! RNN, GRU and LSTM, unrolled over the (static) sequence length: per step, dense products
//! with the constant weights, tabulated activations, elementwise products. Supports
//! forward, reverse and bidirectional layers, initial states, `linear_before_reset` (GRU),
//! layout 0 (`[seq, batch, feature]`) and the default or Sigmoid/Tanh/Relu activations.
//! Peepholes, `clip` and per-batch `sequence_lens` shorter than the sequence are rejected.

use super::super::attrs::{self, node_name};
use super::super::consts::{Const, ConstData};
use super::super::proto::tensor_proto::DataType;
use super::super::proto::NodeProto;
use super::super::sym::{Lowering, Sym};
use super::linear::{dense_core, weights};
use super::math;
use super::wiring::{apply, ravel, unravel, M};
use super::{need, unsupported_use, Ins};
use crate::error::Result;
use crate::ir::tensor::numel;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Rnn,
    Gru,
    Lstm,
}

fn const_f(n: &NodeProto, s: Option<&Sym>, what: &str) -> Result<Option<(Vec<usize>, Vec<f64>)>> {
    match s {
        None => Ok(None),
        Some(Sym::Const(c)) => Ok(Some((c.dims.clone(), c.floats()))),
        Some(Sym::ConstQ(c)) => Ok(Some((c.q.dims.clone(), c.reals()))),
        Some(_) => Err(unsupported_use(n, format!("{what} must be a constant"))),
    }
}

fn cnst(dims: Vec<usize>, v: Vec<f64>) -> Sym {
    Sym::Const(Const { dims, dtype: DataType::Float, data: ConstData::Float(v) })
}

/// An activation by its ONNX name.
fn act(lw: &mut Lowering, n: &NodeProto, f: &str, x: Sym, name: &str) -> Result<Sym> {
    let ins: Vec<Option<&Sym>> = vec![Some(&x)];
    match f.to_ascii_lowercase().as_str() {
        "sigmoid" => Ok(math::nonlinear(lw, &super::sub_node(n, "Sigmoid", name), &ins)?.remove(0)),
        "tanh" => Ok(math::nonlinear(lw, &super::sub_node(n, "Tanh", name), &ins)?.remove(0)),
        "relu" => Ok(super::elementwise::relu(lw, &super::sub_node(n, "Relu", name), &ins)?.remove(0)),
        other => Err(unsupported_use(n, format!("activation `{other}`"))),
    }
}

fn mul(lw: &mut Lowering, n: &NodeProto, a: &Sym, b: &Sym, name: &str) -> Result<Sym> {
    let ins: Vec<Option<&Sym>> = vec![Some(a), Some(b)];
    Ok(math::mul(lw, &super::sub_node(n, "Mul", name), &ins)?.remove(0))
}

fn add(lw: &mut Lowering, n: &NodeProto, a: &Sym, b: &Sym, sign: f64) -> Result<Sym> {
    Ok(Sym::Real(super::elementwise::combine(lw, n, a, b, sign)?))
}

/// Rows `[g·h, (g+1)·h)` of a `[G·h, k]` matrix.
fn gate_rows(m: &(Vec<usize>, Vec<f64>), dir: usize, g: usize, h: usize) -> (Vec<usize>, Vec<f64>) {
    let (gh, k) = (m.0[1], m.0[2]);
    let base = dir * gh * k + g * h * k;
    (vec![h, k], m.1[base..base + h * k].to_vec())
}

fn bias_part(b: &Option<(Vec<usize>, Vec<f64>)>, dir: usize, which: usize, g: usize, gates: usize, h: usize) -> Vec<f64> {
    match b {
        None => vec![0.0; h],
        Some((_, v)) => {
            let base = dir * 2 * gates * h + which * gates * h + g * h;
            v[base..base + h].to_vec()
        }
    }
}

/// `x·Wᵀ + b` for a constant `[h, k]` matrix.
fn dense(lw: &mut Lowering, n: &NodeProto, x: &Sym, w: (Vec<usize>, Vec<f64>), b: Vec<f64>, name: &str) -> Result<Sym> {
    if let Sym::Const(c) = x {
        // a constant state: fold x·Wᵀ + b
        let (xv, k, hh) = (c.floats(), w.0[1], w.0[0]);
        let rows = xv.len() / k.max(1);
        let v = (0..rows * hh).map(|f| (0..k).map(|j| xv[(f / hh) * k + j] * w.1[(f % hh) * k + j]).sum::<f64>() + b[f % hh]).collect();
        return Ok(cnst(vec![rows, hh], v));
    }
    let nn = super::sub_node(n, "MatMul", name);
    let q = weights(lw, &nn, &cnst(w.0, w.1))?;
    Ok(Sym::Real(dense_core(lw, &nn, x, q, true, Some(b), 1.0)?))
}

pub fn rnn(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    if lw.opts.visibility.weights.witness().is_some() {
        // the unrolled steps would each hold their own copy of the weights, and a zero initial
        // state folds the first step's recurrence bias into a constant
        return Err(unsupported_use(n, "witness weights (--weight-visibility public/hashed/private) are not supported for recurrent layers; compile with fixed weights"));
    }
    let kind = match n.op_type() {
        "RNN" => Kind::Rnn,
        "GRU" => Kind::Gru,
        _ => Kind::Lstm,
    };
    let gates = match kind {
        Kind::Rnn => 1,
        Kind::Gru => 3,
        Kind::Lstm => 4,
    };
    let name = node_name(n);
    let x = need(n, ins, 0)?;
    let xs = lw.shape(x).unwrap_or_default();
    if attrs::int(n, "layout", 0) != 0 || xs.len() != 3 {
        return Err(unsupported_use(n, "only layout 0 ([seq, batch, input]) is supported"));
    }
    if n.attribute.iter().any(|a| a.name() == "clip") {
        return Err(unsupported_use(n, "the clip attribute"));
    }
    let (seq, batch) = (xs[0], xs[1]);
    if seq == 0 || batch == 0 {
        return Err(unsupported_use(n, "an empty sequence or batch"));
    }
    let w = const_f(n, ins.get(1).copied().flatten(), "W")?.ok_or_else(|| unsupported_use(n, "W is required"))?;
    let r = const_f(n, ins.get(2).copied().flatten(), "R")?.ok_or_else(|| unsupported_use(n, "R is required"))?;
    let b = const_f(n, ins.get(3).copied().flatten(), "B")?;
    if let Some((_, lens)) = const_f(n, ins.get(4).copied().flatten(), "sequence_lens")? {
        if lens.iter().any(|&l| l as usize != seq) {
            return Err(unsupported_use(n, "sequence_lens shorter than the sequence"));
        }
    } else if ins.get(4).copied().flatten().is_some() {
        return Err(unsupported_use(n, "sequence_lens must be a constant"));
    }
    if kind == Kind::Lstm {
        if let Some((_, p)) = const_f(n, ins.get(7).copied().flatten(), "P")? {
            if p.iter().any(|&v| v != 0.0) {
                return Err(unsupported_use(n, "peephole weights"));
            }
        }
    }
    let h = attrs::int(n, "hidden_size", 0).max(0) as usize;
    let h = if h == 0 { r.0.get(2).copied().unwrap_or(0) } else { h };
    if let Some((_, bv)) = &b {
        if bv.len() != 2 * gates * h * if attrs::string(n, "direction").as_deref() == Some("bidirectional") { 2 } else { 1 } {
            return Err(unsupported_use(n, format!("B has {} values, expected {}", bv.len(), 2 * gates * h)));
        }
    }
    let dirs = if attrs::string(n, "direction").as_deref() == Some("bidirectional") { 2 } else { 1 };
    let reverse = attrs::string(n, "direction").as_deref() == Some("reverse");
    if w.0.len() != 3 || r.0.len() != 3 || w.0[0] != dirs || w.0[1] != gates * h || r.0[1] != gates * h || r.0[2] != h {
        return Err(unsupported_use(n, format!("W {:?} / R {:?} do not match {gates} gates of hidden size {h}", w.0, r.0)));
    }
    let defaults: Vec<&str> = match kind {
        Kind::Rnn => vec!["Tanh"],
        Kind::Gru => vec!["Sigmoid", "Tanh"],
        Kind::Lstm => vec!["Sigmoid", "Tanh", "Tanh"],
    };
    let acts_attr: Vec<String> = n
        .attribute
        .iter()
        .find(|a| a.name() == "activations")
        .map(|a| a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
        .unwrap_or_default();
    let lbr = attrs::int(n, "linear_before_reset", 0) != 0;
    let init_h = ins.get(5).copied().flatten();
    let init_c = ins.get(6).copied().flatten();
    let state_shape = vec![batch, h];
    // slice of a [dirs, batch, h] initial state
    let init_of = |lw: &mut Lowering, s: Option<&Sym>, d: usize, tag: &str| -> Result<Option<Sym>> {
        match s {
            None => Ok(None),
            Some(Sym::Const(c)) if c.floats().iter().all(|&v| v == 0.0) => Ok(None),
            Some(s) => {
                let sh = vec![dirs, batch, h];
                let map = (0..batch * h).map(|f| M::In(0, ravel(&[d, f / h, f % h], &sh))).collect();
                Ok(Some(apply(lw, &format!("{name}/{tag}{d}"), &[s], state_shape.clone(), map)?))
            }
        }
    };
    let mut ys: Vec<Vec<Sym>> = vec![Vec::new(); dirs];
    let mut last_h = Vec::new();
    let mut last_c = Vec::new();
    for d in 0..dirs {
        let acts: Vec<String> = if acts_attr.len() >= defaults.len() * (d + 1) {
            acts_attr[d * defaults.len()..(d + 1) * defaults.len()].to_vec()
        } else {
            defaults.iter().map(|s| s.to_string()).collect()
        };
        let mut hs = init_of(lw, init_h, d, "h0_")?;
        let mut cs = init_of(lw, init_c, d, "c0_")?;
        let backward = reverse || d == 1;
        let mut out_t: Vec<Option<Sym>> = vec![None; seq];
        for step in 0..seq {
            let t = if backward { seq - 1 - step } else { step };
            let tag = format!("{name}/d{d}t{t}");
            let map = (0..batch * xs[2]).map(|f| M::In(0, ravel(&[t, f / xs[2], f % xs[2]], &xs))).collect();
            let xt = apply(lw, &format!("{tag}/x"), &[x], vec![batch, xs[2]], map)?;
            // pre-activation of gate g: x·W_gᵀ + Wb_g (+ H·R_gᵀ + Rb_g)
            let gate_x = |lw: &mut Lowering, g: usize| dense(lw, n, &xt, gate_rows(&w, d, g, h), bias_part(&b, d, 0, g, gates, h), &format!("{tag}/xw{g}"));
            let gate_h = |lw: &mut Lowering, hs: &Option<Sym>, g: usize| -> Result<Option<Sym>> {
                let rb = bias_part(&b, d, 1, g, gates, h);
                match hs {
                    Some(hv) => Ok(Some(dense(lw, n, hv, gate_rows(&r, d, g, h), rb, &format!("{tag}/hr{g}"))?)),
                    None if rb.iter().any(|&v| v != 0.0) => Ok(Some(cnst(vec![1, h], rb))),
                    None => Ok(None),
                }
            };
            let sum = |lw: &mut Lowering, a: Sym, b: Option<Sym>| -> Result<Sym> {
                match b {
                    Some(b) => add(lw, n, &a, &b, 1.0),
                    None => Ok(a),
                }
            };
            let new_h = match kind {
                Kind::Rnn => {
                    let xg = gate_x(lw, 0)?;
                    let hg = gate_h(lw, &hs, 0)?;
                    let pre = sum(lw, xg, hg)?;
                    act(lw, n, &acts[0], pre, &format!("{tag}/h"))?
                }
                Kind::Gru => {
                    let (xz, hz) = (gate_x(lw, 0)?, gate_h(lw, &hs, 0)?);
                    let zp = sum(lw, xz, hz)?;
                    let z = act(lw, n, &acts[0], zp, &format!("{tag}/z"))?;
                    let (xr, hr) = (gate_x(lw, 1)?, gate_h(lw, &hs, 1)?);
                    let rp = sum(lw, xr, hr)?;
                    let rg = act(lw, n, &acts[0], rp, &format!("{tag}/r"))?;
                    let xh = gate_x(lw, 2)?;
                    let hpart = if lbr {
                        // r ⊙ (H·R_hᵀ + Rb_h)
                        match gate_h(lw, &hs, 2)? {
                            Some(hh) => Some(mul(lw, n, &rg, &hh, &format!("{tag}/rh"))?),
                            None => None,
                        }
                    } else {
                        // (r ⊙ H)·R_hᵀ + Rb_h
                        let rb = bias_part(&b, d, 1, 2, gates, h);
                        match &hs {
                            Some(hv) => {
                                let rhv = mul(lw, n, &rg, hv, &format!("{tag}/rH"))?;
                                Some(dense(lw, n, &rhv, gate_rows(&r, d, 2, h), rb, &format!("{tag}/hr2"))?)
                            }
                            None if rb.iter().any(|&v| v != 0.0) => Some(cnst(vec![1, h], rb)),
                            None => None,
                        }
                    };
                    let hp = sum(lw, xh, hpart)?;
                    let ht = act(lw, n, &acts[1], hp, &format!("{tag}/ht"))?;
                    // H = ht + z ⊙ (H_prev - ht)
                    match &hs {
                        Some(hv) => {
                            let diff = add(lw, n, hv, &ht, -1.0)?;
                            let zd = mul(lw, n, &z, &diff, &format!("{tag}/zd"))?;
                            add(lw, n, &ht, &zd, 1.0)?
                        }
                        None => {
                            let zh = mul(lw, n, &z, &ht, &format!("{tag}/zh"))?;
                            add(lw, n, &ht, &zh, -1.0)?
                        }
                    }
                }
                Kind::Lstm => {
                    let mut gv = Vec::new();
                    for g in 0..4 {
                        let (xg, hg) = (gate_x(lw, g)?, gate_h(lw, &hs, g)?);
                        gv.push(sum(lw, xg, hg)?);
                    }
                    let i = act(lw, n, &acts[0], gv[0].clone(), &format!("{tag}/i"))?;
                    let o = act(lw, n, &acts[0], gv[1].clone(), &format!("{tag}/o"))?;
                    let f = act(lw, n, &acts[0], gv[2].clone(), &format!("{tag}/f"))?;
                    let c_t = act(lw, n, &acts[1], gv[3].clone(), &format!("{tag}/c"))?;
                    let ic = mul(lw, n, &i, &c_t, &format!("{tag}/ic"))?;
                    let c_new = match &cs {
                        Some(cv) => {
                            let fc = mul(lw, n, &f, cv, &format!("{tag}/fc"))?;
                            add(lw, n, &fc, &ic, 1.0)?
                        }
                        None => ic,
                    };
                    let c_q = lw.real(&c_new, &tag)?;
                    let c_q = Sym::Q(math::small_qt(lw, &c_q, &format!("{tag}/C"))?);
                    let hc = act(lw, n, &acts[2], c_q.clone(), &format!("{tag}/hc"))?;
                    cs = Some(c_q);
                    mul(lw, n, &o, &hc, &format!("{tag}/H"))?
                }
            };
            // keep the state a plain tensor: bounds stay small and later steps reuse it
            let hr = lw.real(&new_h, &tag)?;
            let hq = Sym::Q(math::small_qt(lw, &hr, &format!("{tag}/Hq"))?);
            out_t[t] = Some(hq.clone());
            hs = Some(hq);
        }
        ys[d] = out_t.into_iter().map(|s| s.expect("every step ran")).collect();
        last_h.push(hs.expect("seq > 0"));
        if let Some(c) = cs {
            last_c.push(c);
        }
    }
    if seq == 0 {
        return Err(unsupported_use(n, "an empty sequence"));
    }
    // Y [seq, dirs, batch, h], Y_h [dirs, batch, h], Y_c [dirs, batch, h]
    let y_shape = vec![seq, dirs, batch, h];
    let parts: Vec<&Sym> = (0..seq).flat_map(|t| (0..dirs).map(move |d| (t, d))).map(|(t, d)| &ys[d][t]).collect();
    let map = (0..numel(&y_shape))
        .map(|f| {
            let o = unravel(f, &y_shape);
            M::In(o[0] * dirs + o[1], o[2] * h + o[3])
        })
        .collect();
    let y = apply(lw, &format!("{name}/Y"), &parts, y_shape, map)?;
    let stack = |lw: &mut Lowering, v: &[Sym], tag: &str| -> Result<Sym> {
        let refs: Vec<&Sym> = v.iter().collect();
        let sh = vec![dirs, batch, h];
        let map = (0..numel(&sh)).map(|f| M::In(f / (batch * h), f % (batch * h))).collect();
        apply(lw, &format!("{name}/{tag}"), &refs, sh, map)
    };
    let mut outs = vec![y, stack(lw, &last_h, "Y_h")?];
    if kind == Kind::Lstm {
        outs.push(stack(lw, &last_c, "Y_c")?);
    }
    Ok(outs)
}
