//! Convolution variants lowered onto the 2-D Conv op: 1-D Conv (a height-1 2-D conv),
//! ConvTranspose (zero-insertion and padding by wiring, then a stride-1 conv with the
//! flipped, transposed kernel) and LpPool (p = 1 or 2: a sum pool of |x| or x², then a
//! square root for p = 2).

use super::super::attrs::{self, node_name};
use super::super::consts::{Const, ConstData};
use super::super::proto::tensor_proto::DataType;
use super::super::proto::{attribute_proto::AttributeType, AttributeProto, NodeProto};
use super::super::sym::{Lowering, Sym};
use super::linear::{bias_values, conv_core, weights};
use super::math;
use super::wiring::{apply, ravel, unravel, M};
use super::{need, unsupported_use, Ins};
use crate::error::Result;
use crate::ir::tensor::numel;

fn ints_attr(name: &str, v: Vec<i64>) -> AttributeProto {
    AttributeProto { name: Some(name.into()), ints: v, r#type: Some(AttributeType::Ints as i32), ..Default::default() }
}

pub(crate) fn int_attr(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: Some(name.into()), i: Some(v), r#type: Some(AttributeType::Int as i32), ..Default::default() }
}

/// A copy of `n` with 1-D window attributes turned into 2-D ones (height 1).
fn as_2d(n: &NodeProto) -> NodeProto {
    let mut m = n.clone();
    m.attribute = n
        .attribute
        .iter()
        .map(|a| match a.name() {
            "kernel_shape" => ints_attr("kernel_shape", [vec![1], a.ints.clone()].concat()),
            "strides" => ints_attr("strides", [vec![1], a.ints.clone()].concat()),
            "dilations" => ints_attr("dilations", [vec![1], a.ints.clone()].concat()),
            "pads" if a.ints.len() == 2 => ints_attr("pads", vec![0, a.ints[0], 0, a.ints[1]]),
            _ => a.clone(),
        })
        .collect();
    m
}

/// Conv with 3-D weights: `[N, C, L]` as `[N, C, 1, L]`.
pub fn conv1d(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = need(n, ins, 0)?;
    let xs = lw.shape(x).unwrap_or_default();
    if xs.len() != 3 {
        return Err(unsupported_use(n, format!("1-D convolution of a rank-{} input", xs.len())));
    }
    let w = match need(n, ins, 1)? {
        Sym::Const(c) => Sym::Const(Const { dims: vec![c.dims[0], c.dims[1], 1, c.dims[2]], ..c.clone() }),
        Sym::ConstQ(c) => {
            let mut c = c.clone();
            c.q.dims = vec![c.q.dims[0], c.q.dims[1], 1, c.q.dims[2]];
            Sym::ConstQ(c)
        }
        _ => return Err(unsupported_use(n, "the weights must be constant")),
    };
    let m = as_2d(n);
    let x4 = super::shape::reshape_to(lw, n, x, vec![xs[0], xs[1], 1, xs[2]])?;
    let q = weights(lw, &m, &w)?;
    let oc = q.dims[0];
    let bias = ins.get(2).copied().flatten().map(|b| bias_values(n, b, oc)).transpose()?;
    let y = Sym::Real(conv_core(lw, &m, &x4, q, bias)?);
    let ys = lw.shape(&y).unwrap_or_default();
    Ok(vec![super::shape::reshape_to(lw, n, &y, vec![ys[0], ys[1], ys[3]])?])
}

pub fn conv_transpose(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let name = node_name(n);
    let x = need(n, ins, 0)?;
    let xs = lw.shape(x).unwrap_or_default();
    let (wd, wv) = match need(n, ins, 1)? {
        Sym::Const(c) => (c.dims.clone(), c.floats()),
        Sym::ConstQ(c) => (c.q.dims.clone(), c.reals()),
        _ => return Err(unsupported_use(n, "the weights must be constant")),
    };
    if xs.len() != 4 || wd.len() != 4 {
        return Err(unsupported_use(n, "only 2-D transposed convolution"));
    }
    if attrs::int(n, "group", 1) != 1 {
        return Err(unsupported_use(n, "group > 1"));
    }
    if attrs::string(n, "auto_pad").is_some_and(|p| p != "NOTSET") || attrs::ints(n, "output_shape").is_some() {
        return Err(unsupported_use(n, "auto_pad / output_shape (give pads instead)"));
    }
    let get = |k: &str, d: Vec<i64>| attrs::ints(n, k).unwrap_or(d);
    let (s, dil, pads, opad) = (get("strides", vec![1, 1]), get("dilations", vec![1, 1]), get("pads", vec![0, 0, 0, 0]), get("output_padding", vec![0, 0]));
    if dil.iter().any(|&d| d != 1) || s.len() != 2 || pads.len() != 4 || opad.len() != 2 {
        return Err(unsupported_use(n, "dilations other than 1"));
    }
    let (cin, cout, kh, kw) = (wd[0], wd[1], wd[2], wd[3]);
    if cin != xs[1] {
        return Err(unsupported_use(n, format!("weights {wd:?} for {} input channels", xs[1])));
    }
    // zero-insert and pad: position i of the input goes to i·s + (k - 1 - pad_begin)
    let (sh, sw) = (s[0] as usize, s[1] as usize);
    let k = [kh as i64, kw as i64];
    let before = [k[0] - 1 - pads[0], k[1] - 1 - pads[1]];
    let after = [k[0] - 1 - pads[2] + opad[0], k[1] - 1 - pads[3] + opad[1]];
    if before.iter().chain(&after).any(|&p| p < 0) {
        return Err(unsupported_use(n, "pads larger than the kernel"));
    }
    let uh = ((xs[2] - 1) * sh + 1) as i64 + before[0] + after[0];
    let uw = ((xs[3] - 1) * sw + 1) as i64 + before[1] + after[1];
    let up = vec![xs[0], xs[1], uh as usize, uw as usize];
    let map = (0..numel(&up))
        .map(|f| {
            let o = unravel(f, &up);
            let (y, xx) = (o[2] as i64 - before[0], o[3] as i64 - before[1]);
            if y >= 0 && xx >= 0 && y % sh as i64 == 0 && xx % sw as i64 == 0 && ((y / sh as i64) as usize) < xs[2] && ((xx / sw as i64) as usize) < xs[3] {
                M::In(0, ravel(&[o[0], o[1], (y / sh as i64) as usize, (xx / sw as i64) as usize], &xs))
            } else {
                M::Val(0.0)
            }
        })
        .collect();
    let xu = apply(lw, &format!("{name}/upsampled"), &[x], up, map)?;
    // W'[o, c, a, b] = W[c, o, kh-1-a, kw-1-b]
    let mut wt = vec![0.0; cout * cin * kh * kw];
    for o in 0..cout {
        for c in 0..cin {
            for a in 0..kh {
                for b in 0..kw {
                    wt[((o * cin + c) * kh + a) * kw + b] = wv[((c * cout + o) * kh + (kh - 1 - a)) * kw + (kw - 1 - b)];
                }
            }
        }
    }
    let mut m = n.clone();
    m.op_type = Some("Conv".into());
    m.attribute = vec![ints_attr("kernel_shape", vec![kh as i64, kw as i64]), int_attr("group", 1)];
    let q = weights(lw, &m, &Sym::Const(Const { dims: vec![cout, cin, kh, kw], dtype: DataType::Float, data: ConstData::Float(wt) }))?;
    let bias = ins.get(2).copied().flatten().map(|b| bias_values(n, b, cout)).transpose()?;
    Ok(vec![Sym::Real(conv_core(lw, &m, &xu, q, bias)?)])
}

pub fn lp_pool(lw: &mut Lowering, n: &NodeProto, ins: &Ins, global: bool) -> Result<Vec<Sym>> {
    let name = node_name(n);
    let x = need(n, ins, 0)?;
    let p = attrs::int(n, "p", 2);
    let xr = lw.real(x, &name)?;
    let pre = match p {
        1 => math::abs_real(lw, n, &xr)?,
        2 => {
            let sq = math::mul_tensors(lw, n, x, x)?;
            // back to the activation width before summing windows
            let q = math::small_qt(lw, &sq, &format!("{name}/sq"))?;
            super::super::sym::Real::of(q.id, q.zp, q.scale)
        }
        _ => return Err(unsupported_use(n, format!("p = {p} (only 1 and 2)"))),
    };
    let xs = lw.shape(x).unwrap_or_default();
    let k: usize = if global { xs[2..].iter().product() } else { attrs::ints(n, "kernel_shape").unwrap_or_default().iter().product::<i64>() as usize };
    let mut m = n.clone();
    m.attribute.retain(|a| a.name() != "p");
    m.attribute.push(int_attr("count_include_pad", 1));
    let avg = super::pool::average_core(lw, &m, &Sym::Real(pre), global)?;
    let sum = math::scale_real(&avg, k as f64);
    Ok(vec![Sym::Real(if p == 2 { math::sqrt_real(lw, n, &sum)? } else { sum })])
}
