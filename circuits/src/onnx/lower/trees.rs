//! Tree ensembles of the `ai.onnx.ml` domain (TreeEnsembleClassifier / Regressor, as
//! exported by skl2onnx, onnxmltools for xgboost / lightgbm).
//!
//! Every branch node is one comparison of a feature with its threshold (a clamped rescale
//! on the input's grid; the threshold is quantized like the input, so the comparison is
//! exact between quantized values); every leaf is the AND of the literals on its path (one clamped rescale
//! `clamp(Σ literals - (depth - 1), 0, 1)`); scores are constant-weighted sums of leaf
//! indicators. Post transforms (logistic, softmax) are tabulated functions; the label is
//! the argmax mapped through the class labels.

use std::collections::HashMap;

use super::super::attrs::{self, node_name};
use super::super::consts::{Const, ConstData};
use super::super::proto::tensor_proto::DataType;
use super::super::proto::NodeProto;
use super::super::sym::{Lowering, QTarget, Real, Sym};
use super::math::{self, scale_real};
use super::wiring::{apply, M};
use super::{need, unsupported_use, Ins};
use crate::error::Result;

/// A float attribute list (or its `_as_tensor` form); empty when absent.
pub(super) fn floats(n: &NodeProto, k: &str) -> Vec<f64> {
    match n.attribute.iter().find(|a| a.name() == k) {
        Some(a) if !a.floats.is_empty() => a.floats.iter().map(|&v| v as f64).collect(),
        Some(a) => a.t.as_ref().and_then(|t| super::super::consts::decode(t).ok()).map(|c| c.floats()).unwrap_or_default(),
        None => {
            // the `_as_tensor` variants
            let kt = format!("{k}_as_tensor");
            n.attribute.iter().find(|a| a.name() == kt).and_then(|a| a.t.as_ref()).and_then(|t| super::super::consts::decode(t).ok()).map(|c| c.floats()).unwrap_or_default()
        }
    }
}

fn strings(n: &NodeProto, k: &str) -> Vec<String> {
    n.attribute.iter().find(|a| a.name() == k).map(|a| a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect()).unwrap_or_default()
}

pub(super) fn ints(n: &NodeProto, k: &str) -> Vec<i64> {
    attrs::ints(n, k).unwrap_or_default()
}

struct Node {
    feature: usize,
    mode: String,
    value: f64,
    t: i64,
    f: i64,
}

/// Leaf indicators of every (tree, leaf) as 0/1 reals of shape [N].
fn leaves(lw: &mut Lowering, n: &NodeProto, x: &Sym) -> Result<HashMap<(i64, i64), Real>> {
    let name = node_name(n);
    let xs = lw.shape(x).unwrap_or_default();
    if xs.len() != 2 {
        return Err(unsupported_use(n, format!("input of shape {xs:?} (expected [N, features])")));
    }
    let (rows, feats) = (xs[0], xs[1]);
    let xr = lw.real(x, &name)?;
    let xq = math::small_qt(lw, &xr, &format!("{name}/x"))?;
    let s = xq.scale;
    let (tids, nids, fids, modes, vals, ts, fs) = (
        ints(n, "nodes_treeids"),
        ints(n, "nodes_nodeids"),
        ints(n, "nodes_featureids"),
        strings(n, "nodes_modes"),
        floats(n, "nodes_values"),
        ints(n, "nodes_truenodeids"),
        ints(n, "nodes_falsenodeids"),
    );
    let k = tids.len();
    if [nids.len(), fids.len(), modes.len(), vals.len(), ts.len(), fs.len()].iter().any(|&l| l != k) {
        return Err(unsupported_use(n, "node attribute lists differ in length"));
    }
    let mut nodes: HashMap<(i64, i64), Node> = HashMap::new();
    for i in 0..k {
        if fids[i] < 0 || fids[i] as usize >= feats {
            if modes[i] != "LEAF" {
                return Err(unsupported_use(n, format!("feature {} of {feats}", fids[i])));
            }
        }
        nodes.insert((tids[i], nids[i]), Node { feature: fids[i].max(0) as usize, mode: modes[i].clone(), value: vals[i], t: ts[i], f: fs[i] });
    }
    // feature columns
    let mut cols: HashMap<usize, Sym> = HashMap::new();
    let mut col = |lw: &mut Lowering, f: usize| -> Result<Sym> {
        if let Some(c) = cols.get(&f) {
            return Ok(c.clone());
        }
        let c = apply(lw, &format!("{name}/f{f}"), &[&Sym::Q(xq.clone())], vec![rows], (0..rows).map(|r| M::In(0, r * feats + f)).collect())?;
        cols.insert(f, c.clone());
        Ok(c)
    };
    // decisions: [condition true] per branch node
    let mut decision: HashMap<(i64, i64), Real> = HashMap::new();
    let mut roots: Vec<i64> = tids.clone();
    roots.sort();
    roots.dedup();
    let mut out = HashMap::new();
    for &tree in &roots {
        let children: std::collections::HashSet<i64> = nodes.iter().filter(|((t, _), nd)| *t == tree && nd.mode != "LEAF").flat_map(|(_, nd)| [nd.t, nd.f]).collect();
        let root = nodes.keys().filter(|(t, id)| *t == tree && !children.contains(id)).map(|&(_, id)| id).min().ok_or_else(|| unsupported_use(n, format!("tree {tree} has no root")))?;
        // depth-first with the path literals
        let mut stack: Vec<(i64, Vec<Real>)> = vec![(root, Vec::new())];
        let mut guard = 0usize;
        while let Some((id, path)) = stack.pop() {
            guard += 1;
            if guard > 4 * k + 4 {
                return Err(unsupported_use(n, "the tree has a cycle"));
            }
            let nd = nodes.get(&(tree, id)).ok_or_else(|| unsupported_use(n, format!("tree {tree} references missing node {id}")))?;
            if nd.mode == "LEAF" {
                let ind = match path.len() {
                    0 => {
                        let q = super::wiring::const_tensor(lw, &format!("{name}/t{tree}n{id}"), &[rows], &vec![1.0; rows], 1.0)?;
                        Real::of(q.id, 0, 1.0)
                    }
                    1 => path[0].clone(),
                    d => {
                        let parts: Vec<(Real, f64)> = path.iter().map(|p| (p.clone(), 1.0)).collect();
                        let sum = math::add_const(&math::lin(lw, n, &parts)?, -((d - 1) as f64));
                        let q = lw.materialize(&sum, QTarget { scale: 1.0, zp: 0, lo: 0, hi: 1 }, false, &format!("{name}/t{tree}n{id}"))?;
                        Real::of(q.id, 0, 1.0)
                    }
                };
                out.insert((tree, id), ind);
                continue;
            }
            let d = match decision.get(&(tree, id)) {
                Some(d) => d.clone(),
                None => {
                    let xc = col(lw, nd.feature)?;
                    let xr = lw.real(&xc, &name)?;
                    let v = nd.value;
                    // x is on the grid k·s (quantized half-to-even); the threshold is
                    // quantized the same way, q = round(c/s), so an input equal to a
                    // threshold compares as equal
                    let q = |c: f64| (c / s).round_ties_even();
                    let gt = |lw: &mut Lowering, c: f64, tag: &str| -> Result<Real> {
                        // [k > q]
                        math::positive(lw, &math::add_const(&xr, -q(c) * s), tag)
                    };
                    let ge = |lw: &mut Lowering, c: f64, tag: &str| -> Result<Real> {
                        // [k >= q] = [k > q - 1]
                        math::positive(lw, &math::add_const(&xr, -(q(c) - 1.0) * s), tag)
                    };
                    let tag = format!("{name}/t{tree}n{id}");
                    let not = |r: Real| math::add_const(&scale_real(&r, -1.0), 1.0);
                    let r = match nd.mode.as_str() {
                        "BRANCH_LEQ" => not(gt(lw, v, &tag)?),
                        "BRANCH_LT" => not(ge(lw, v, &tag)?),
                        "BRANCH_GTE" => ge(lw, v, &tag)?,
                        "BRANCH_GT" => gt(lw, v, &tag)?,
                        "BRANCH_EQ" | "BRANCH_NEQ" => {
                            let a = ge(lw, v, &format!("{tag}/ge"))?;
                            let b = gt(lw, v, &format!("{tag}/gt"))?;
                            let eq = math::lin(lw, n, &[(a, 1.0), (b, -1.0)])?;
                            if nd.mode == "BRANCH_EQ" { eq } else { not(eq) }
                        }
                        m => return Err(unsupported_use(n, format!("node mode {m}"))),
                    };
                    decision.insert((tree, id), r.clone());
                    r
                }
            };
            let mut pt = path.clone();
            pt.push(d.clone());
            let mut pf = path;
            pf.push(math::add_const(&scale_real(&d, -1.0), 1.0));
            stack.push((nd.t, pt));
            stack.push((nd.f, pf));
        }
    }
    Ok(out)
}

/// Σ weight·indicator per output column: `cols` reals of shape [N].
fn scores(lw: &mut Lowering, n: &NodeProto, leaves: &HashMap<(i64, i64), Real>, tids: &[i64], nids: &[i64], ids: &[i64], w: &[f64], cols: usize, base: &[f64]) -> Result<Vec<Option<Real>>> {
    if nids.len() != tids.len() || ids.len() != tids.len() || w.len() != tids.len() {
        return Err(unsupported_use(n, "tree/node/id/weight attribute lists differ in length"));
    }
    let mut acc: Vec<Vec<(Real, f64)>> = vec![Vec::new(); cols];
    for i in 0..tids.len() {
        let c = ids[i];
        if c < 0 || c as usize >= cols {
            return Err(unsupported_use(n, format!("class/target id {c} of {cols}")));
        }
        let leaf = leaves.get(&(tids[i], nids[i])).ok_or_else(|| unsupported_use(n, format!("weight for a node ({}, {}) that is not a leaf", tids[i], nids[i])))?;
        acc[c as usize].push((leaf.clone(), w[i]));
    }
    acc.into_iter()
        .enumerate()
        .map(|(c, parts)| {
            if parts.is_empty() {
                return Ok(None);
            }
            let r = math::lin(lw, n, &parts)?;
            Ok(Some(math::add_const(&r, base.get(c).copied().unwrap_or(0.0))))
        })
        .collect()
}

fn stack_cols(lw: &mut Lowering, name: &str, cols: &[Sym], rows: usize) -> Result<Sym> {
    let c = cols.len();
    let refs: Vec<&Sym> = cols.iter().collect();
    apply(lw, name, &refs, vec![rows, c], (0..rows * c).map(|f| M::In(f % c, f / c)).collect())
}

fn post(lw: &mut Lowering, n: &NodeProto, cols: Vec<Real>, rows: usize) -> Result<Vec<Sym>> {
    let name = node_name(n);
    let pt = attrs::string(n, "post_transform").unwrap_or_else(|| "NONE".into());
    let syms: Vec<Sym> = cols.into_iter().map(Sym::Real).collect();
    match pt.as_str() {
        "NONE" => Ok(syms),
        "LOGISTIC" => syms
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut m = n.clone();
                m.op_type = Some("Sigmoid".into());
                m.name = Some(format!("{name}/logistic{i}"));
                m.attribute.clear();
                Ok(math::nonlinear(lw, &m, &vec![Some(s)])?.remove(0))
            })
            .collect(),
        "SOFTMAX" => {
            let st = stack_cols(lw, &format!("{name}/scores"), &syms, rows)?;
            let mut m = n.clone();
            m.op_type = Some("Softmax".into());
            m.name = Some(format!("{name}/softmax"));
            m.attribute.clear();
            let sm = super::reduce::softmax(lw, &m, &vec![Some(&st)], false)?.remove(0);
            let c = syms.len();
            (0..c).map(|k| apply(lw, &format!("{name}/p{k}"), &[&sm], vec![rows], (0..rows).map(|r| M::In(0, r * c + k)).collect())).collect()
        }
        other => Err(unsupported_use(n, format!("post_transform {other}"))),
    }
}

pub fn classifier(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let name = node_name(n);
    let x = need(n, ins, 0)?;
    let rows = lw.shape(x).unwrap_or_default().first().copied().unwrap_or(1);
    let labels = ints(n, "classlabels_int64s");
    if labels.is_empty() {
        return Err(unsupported_use(n, "string class labels (only classlabels_int64s)"));
    }
    let leaves = leaves(lw, n, x)?;
    let (tids, nids, ids, w) = (ints(n, "class_treeids"), ints(n, "class_nodeids"), ints(n, "class_ids"), floats(n, "class_weights"));
    let base = floats(n, "base_values");
    let nl = labels.len();
    let distinct: std::collections::BTreeSet<i64> = ids.iter().copied().collect();
    let binary = nl == 2 && distinct.len() == 1;
    let cols = if binary { 1 } else { nl };
    let sc = scores(lw, n, &leaves, &tids, &nids, &ids.iter().map(|&c| if binary { 0 } else { c }).collect::<Vec<_>>(), &w, cols, &base)?;
    let zero = |lw: &mut Lowering| -> Result<Real> {
        let q = super::wiring::const_tensor(lw, &format!("{name}/zero"), &[rows], &vec![0.0; rows], 1.0)?;
        Ok(Real::of(q.id, 0, 1.0))
    };
    let mut s: Vec<Real> = Vec::new();
    for c in sc {
        s.push(match c {
            Some(r) => r,
            None => zero(lw)?,
        });
    }
    let pt = attrs::string(n, "post_transform").unwrap_or_else(|| "NONE".into());
    let probs: Vec<Sym> = if binary {
        // onnxruntime's binary case: one score column s for the positive class
        let s0 = s.remove(0);
        let pos_w = w.iter().all(|&v| v >= 0.0);
        match pt.as_str() {
            "LOGISTIC" => {
                let p = post(lw, n, vec![s0], rows)?.remove(0);
                let pr = lw.real(&p, &name)?;
                vec![Sym::Real(math::add_const(&scale_real(&pr, -1.0), 1.0)), Sym::Real(pr)]
            }
            "NONE" if pos_w => vec![Sym::Real(math::add_const(&scale_real(&s0, -1.0), 1.0)), Sym::Real(s0)],
            "NONE" => vec![Sym::Real(scale_real(&s0, -1.0)), Sym::Real(s0)],
            other => return Err(unsupported_use(n, format!("post_transform {other} for a binary classifier"))),
        }
    } else {
        post(lw, n, s, rows)?
    };
    let pm = stack_cols(lw, &format!("{name}/probabilities"), &probs, rows)?;
    // label = labels[argmax]
    let mut m = n.clone();
    m.op_type = Some("ArgMax".into());
    m.name = Some(format!("{name}/argmax"));
    m.attribute = vec![super::conv_ext::int_attr("axis", 1), super::conv_ext::int_attr("keepdims", 0)];
    let am = super::reduce::arg_max(lw, &m, &vec![Some(&pm)], true)?.remove(0);
    let am = super::shape::reshape_to(lw, &m, &am, vec![rows])?;
    let identity = labels.iter().enumerate().all(|(i, &l)| l == i as i64);
    let label = if identity {
        am
    } else {
        let table = Const { dims: vec![nl], dtype: DataType::Int64, data: ConstData::Int(labels.clone()) };
        super::gather_dyn::gather(lw, &m, &Sym::Const(table), &[nl], &am, 0)?
    };
    Ok(vec![label, pm])
}

pub fn regressor(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let name = node_name(n);
    let x = need(n, ins, 0)?;
    let rows = lw.shape(x).unwrap_or_default().first().copied().unwrap_or(1);
    let leaves = leaves(lw, n, x)?;
    let (tids, nids, ids, mut w) = (ints(n, "target_treeids"), ints(n, "target_nodeids"), ints(n, "target_ids"), floats(n, "target_weights"));
    let nt = attrs::int(n, "n_targets", 1).max(1) as usize;
    let agg = attrs::string(n, "aggregate_function").unwrap_or_else(|| "SUM".into());
    let trees = {
        let mut t = tids.clone();
        t.sort();
        t.dedup();
        t.len().max(1)
    };
    match agg.as_str() {
        "SUM" => {}
        "AVERAGE" => w.iter_mut().for_each(|v| *v /= trees as f64),
        other => return Err(unsupported_use(n, format!("aggregate_function {other}"))),
    }
    let base = floats(n, "base_values");
    let sc = scores(lw, n, &leaves, &tids, &nids, &ids, &w, nt, &base)?;
    let mut cols = Vec::new();
    for (c, r) in sc.into_iter().enumerate() {
        cols.push(match r {
            Some(r) => r,
            None => {
                let q = super::wiring::const_tensor(lw, &format!("{name}/base{c}"), &[rows], &vec![base.get(c).copied().unwrap_or(0.0); rows], (-(lw.opts.param_scale_bits as f64)).exp2())?;
                Real::of(q.id, 0, q.scale)
            }
        });
    }
    let ps = post(lw, n, cols, rows)?;
    Ok(vec![stack_cols(lw, &format!("{name}/Y"), &ps, rows)?])
}
