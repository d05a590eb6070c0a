//! Gemm, MatMul (constant right operand) and Conv: integer Dense / Conv nodes whose
//! accumulator, times per-channel scales, is the real result.

use super::super::attrs::{self, node_name};
use super::super::proto::NodeProto;
use super::super::sym::{ConstQ, Lowering, Real, Sym, Term};
use super::{need, unsupported_use, Ins};
use crate::error::Result;
use crate::ir::Tensor;
use crate::ops::window::Window2d;
use crate::ops::{Conv, Dense, Op, WitnessParams};

/// Constant weights in integer form: `real[i] = scale[ch(i)]·q[i]` (zero point removed).
pub(crate) struct QWeights {
    pub dims: Vec<usize>,
    pub q: Vec<i64>,
    /// One scale, or one per index along `axis`.
    pub scale: Vec<f64>,
    pub axis: usize,
    /// The model's own integers (dequantized weights), not quantized floats.
    pub int: bool,
}

impl QWeights {
    pub fn scale_at(&self, idx_on_axis: usize) -> f64 {
        if self.scale.len() == 1 { self.scale[0] } else { self.scale[idx_on_axis] }
    }
}

/// Integer weights from a constant: dequantized integers keep their own scales, float
/// weights are quantized to `2^-param_scale_bits`.
pub(crate) fn weights(lw: &Lowering, n: &NodeProto, s: &Sym) -> Result<QWeights> {
    match s {
        Sym::ConstQ(ConstQ { q, scale, zp, axis }) => {
            let ints = q.ints().ok_or_else(|| unsupported_use(n, "dequantized weights are not integers"))?;
            let dims = q.dims.clone();
            let strides = crate::ir::tensor::strides(&dims);
            let qv = ints
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let ch = if zp.len() == 1 { 0 } else { (i / strides[*axis]) % dims[*axis] };
                    v - zp[ch]
                })
                .collect();
            Ok(QWeights { dims, q: qv, scale: scale.clone(), axis: *axis, int: true })
        }
        Sym::Const(c) => {
            let f = (lw.opts.param_scale_bits as f64).exp2();
            let q = c.floats().iter().map(|w| (w * f).round() as i64).collect();
            Ok(QWeights { dims: c.dims.clone(), q, scale: vec![1.0 / f], axis: 0, int: false })
        }
        _ => Err(unsupported_use(n, "only constant weights are supported (activation × activation products are not yet)")),
    }
}

/// Real bias values of a constant (plain or dequantized), broadcast to `len`.
pub(crate) fn bias_values(n: &NodeProto, s: &Sym, len: usize) -> Result<Vec<f64>> {
    let v: Vec<f64> = match s {
        Sym::Const(c) => c.floats(),
        Sym::ConstQ(ConstQ { q, scale, zp, .. }) => q
            .floats()
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let k = |v: usize| if v == 1 { 0 } else { i };
                scale[k(scale.len())] * (x - zp[k(zp.len())] as f64)
            })
            .collect(),
        _ => return Err(unsupported_use(n, "the bias must be a constant")),
    };
    match v.len() {
        1 => Ok(vec![v[0]; len]),
        l if l == len => Ok(v),
        l => Err(unsupported_use(n, format!("bias has {l} values for {len} outputs"))),
    }
}

/// Declared range of witness weights (weights visibility other than `fixed`): signed
/// `weight_bits` integers. Every set of weights within it gives the same circuit. Without
/// `weight_bits` it is 8 bits for the model's own integers and `param_scale_bits + 2`
/// (|w| < 2) for quantized floats, widened to the tensor's largest value if that does not fit
/// (pin `weight_bits` so that other weights share the keys).
fn weight_range(lw: &Lowering, w: &QWeights) -> (i64, i64) {
    let bits = match lw.opts.weight_bits {
        Some(b) => b,
        None => {
            let default = if w.int { 8 } else { lw.opts.param_scale_bits + 2 };
            let needed = w.q.iter().map(|&v| crate::ir::bound_bits(v.min(0) + (v < 0) as i64, v.max(0)) + 1).max().unwrap_or(0);
            default.max(needed)
        }
    }
    .clamp(2, 40);
    (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
}

/// Adds witness weight and bias tensors for a node with `taps` products per output of an
/// input in `[xl, xh]` (zero point removed). The bias range is as large as the products'
/// sum can get, so any bias that matters fits.
#[allow(clippy::too_many_arguments)]
fn witness_params(lw: &mut Lowering, name: &str, w: &QWeights, wshape: Vec<usize>, wdata: Vec<i64>, bias: Option<Vec<i64>>, taps: usize, xl: i64, xh: i64) -> Result<WitnessParams> {
    let vis = lw.opts.visibility.weights.witness().ok_or_else(|| crate::error::CircuitError::Internal("fixed weights are not witnesses".into()))?;
    let (wlo, whi) = weight_range(lw, w);
    let weight = lw.g.add_param(&format!("{name}/weight"), wshape, wdata, wlo, whi, vis)?;
    let bias = match bias {
        Some(b) => {
            let xm = (xl as i128).abs().max((xh as i128).abs());
            let d = (taps as i128 * xm * (wlo as i128).abs()).clamp(1, 1i128 << (crate::ir::MAX_VALUE_BITS - 2)) as i64;
            Some(lw.g.add_param(&format!("{name}/bias"), vec![b.len()], b, -d, d, vis)?)
        }
        None => None,
    };
    Ok(WitnessParams { weight, bias })
}

/// Core of Gemm / MatMul / QLinearMatMul / QGemm: `alpha·A·W + beta·C` with A real.
pub(crate) fn dense_core(lw: &mut Lowering, n: &NodeProto, a: &Sym, w: QWeights, trans_b: bool, bias: Option<Vec<f64>>, alpha: f64) -> Result<Real> {
    let name = node_name(n);
    let ar = lw.real(a, &name)?;
    let x = super::math::small_qt(lw, &ar, &format!("{name}/input"))?;
    if w.dims.len() != 2 {
        return Err(unsupported_use(n, format!("weights must be 2-D, got {:?}", w.dims)));
    }
    let (k, nn) = if trans_b { (w.dims[1], w.dims[0]) } else { (w.dims[0], w.dims[1]) };
    // weight as [N, K]; its per-channel axis must be the output axis
    let out_axis = if trans_b { 0 } else { 1 };
    if w.scale.len() > 1 && w.axis != out_axis {
        return Err(unsupported_use(n, "per-channel weight scales must run along the output dimension"));
    }
    let mut wt = vec![0i64; nn * k];
    for r in 0..k {
        for c in 0..nn {
            wt[c * k + r] = if trans_b { w.q[c * k + r] } else { w.q[r * nn + c] };
        }
    }
    let sx = x.scale;
    let scales: Vec<f64> = (0..nn).map(|o| alpha * sx * w.scale_at(o)).collect();
    let bias_int: Option<Vec<i64>> = bias.map(|b| b.iter().zip(&scales).map(|(b, s)| (b / s).round() as i64).collect());
    let dense = if lw.opts.visibility.weights.witness().is_some() {
        let xi = lw.g.info(x.id).clone();
        let params = witness_params(lw, &name, &w, vec![nn, k], wt, bias_int, k, xi.lo - x.zp, xi.hi - x.zp)?;
        Dense { input: x.id, input_zp: x.zp, weight: Tensor { shape: vec![nn, k], data: vec![] }, bias: vec![], params: Some(params) }
    } else {
        let weight = Tensor::new(vec![nn, k], wt).ok_or_else(|| unsupported_use(n, "weight size mismatch"))?;
        Dense { input: x.id, input_zp: x.zp, weight, bias: bias_int.unwrap_or_else(|| vec![0; nn]), params: None }
    };
    let acc = lw.g.add_node(&name, Op::Dense(dense))?;
    let rank = lw.g.info(acc).shape.len();
    Ok(Real { terms: vec![Term { id: acc, zp: 0, scale: collapse(scales) }], axis: rank - 1, offset: vec![], clamp_lo: None, clamp_hi: None })
}

/// One scale if all are equal.
pub(crate) fn collapse(v: Vec<f64>) -> Vec<f64> {
    if v.iter().all(|&s| s == v[0]) { vec![v[0]] } else { v }
}

pub fn gemm(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    if attrs::int(n, "transA", 0) != 0 {
        return Err(unsupported_use(n, "transA = 1"));
    }
    let trans_b = attrs::int(n, "transB", 0) != 0;
    let (alpha, beta) = (attrs::float(n, "alpha", 1.0) as f64, attrs::float(n, "beta", 1.0) as f64);
    let w = weights(lw, n, need(n, ins, 1)?)?;
    let nn = if trans_b { w.dims.first() } else { w.dims.get(1) }.copied().unwrap_or(0);
    let bias = match ins.get(2).copied().flatten() {
        Some(c) => Some(bias_values(n, c, nn)?.iter().map(|b| b * beta).collect()),
        None => None,
    };
    Ok(vec![Sym::Real(dense_core(lw, n, need(n, ins, 0)?, w, trans_b, bias, alpha)?)])
}

pub fn matmul(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let (a, b) = (need(n, ins, 0)?, need(n, ins, 1)?);
    let is_const = |s: &Sym| matches!(s, Sym::Const(_) | Sym::ConstQ(_));
    if !is_const(b) || is_const(a) {
        // activation x activation (attention), or constant x activation
        return Ok(vec![Sym::Real(super::reduce::matmul_activations(lw, n, a, b)?)]);
    }
    let w = weights(lw, n, need(n, ins, 1)?)?;
    Ok(vec![Sym::Real(dense_core(lw, n, need(n, ins, 0)?, w, false, None, 1.0)?)])
}

/// 2-D convolution window from a node's attributes.
pub(crate) fn window(n: &NodeProto, kernel: &[usize]) -> Result<Window2d> {
    let pad = attrs::string(n, "auto_pad").unwrap_or_else(|| "NOTSET".into());
    if pad != "NOTSET" && pad != "VALID" {
        return Err(unsupported_use(n, format!("auto_pad = {pad}")));
    }
    let get = |name: &str, d: Vec<i64>| -> Result<Vec<usize>> { attrs::usizes(n, name, &attrs::ints(n, name).unwrap_or(d)) };
    let strides = get("strides", vec![1, 1])?;
    let dil = get("dilations", vec![1, 1])?;
    let pads = if pad == "VALID" { vec![0; 4] } else { get("pads", vec![0, 0, 0, 0])? };
    if kernel.len() != 2 || strides.len() != 2 || dil.len() != 2 || pads.len() != 4 {
        return Err(unsupported_use(n, "only 2-D windows are supported"));
    }
    if attrs::int(n, "ceil_mode", 0) != 0 {
        return Err(unsupported_use(n, "ceil_mode = 1"));
    }
    Ok(Window2d { kernel: [kernel[0], kernel[1]], strides: [strides[0], strides[1]], pads: [pads[0], pads[1], pads[2], pads[3]], dilations: [dil[0], dil[1]] })
}

/// Core of Conv / QLinearConv.
pub(crate) fn conv_core(lw: &mut Lowering, n: &NodeProto, x: &Sym, w: QWeights, bias: Option<Vec<f64>>) -> Result<Real> {
    let name = node_name(n);
    let xr = lw.real(x, &name)?;
    let x = lw.plain(&xr, &format!("{name}/input"))?;
    if w.dims.len() != 4 {
        return Err(unsupported_use(n, format!("only 2-D convolution (4-D weights) is supported, got weights {:?}", w.dims)));
    }
    if w.scale.len() > 1 && w.axis != 0 {
        return Err(unsupported_use(n, "per-channel weight scales must run along output channels"));
    }
    let kernel = attrs::ints(n, "kernel_shape").map(|k| attrs::usizes(n, "kernel_shape", &k)).transpose()?.unwrap_or_else(|| w.dims[2..].to_vec());
    let window = window(n, &kernel)?;
    let group = usize::try_from(attrs::int(n, "group", 1)).map_err(|_| unsupported_use(n, "negative group"))?;
    let oc = w.dims[0];
    let scales: Vec<f64> = (0..oc).map(|o| x.scale * w.scale_at(o)).collect();
    let bias_int: Option<Vec<i64>> = bias.map(|b| b.iter().zip(&scales).map(|(b, s)| (b / s).round() as i64).collect());
    if crate::ir::tensor::numel(&w.dims) != w.q.len() {
        return Err(unsupported_use(n, "weight size mismatch"));
    }
    let conv = if lw.opts.visibility.weights.witness().is_some() {
        let xi = lw.g.info(x.id).clone();
        let taps = w.dims[1] * w.dims[2] * w.dims[3];
        let params = witness_params(lw, &name, &w, w.dims.clone(), w.q.clone(), bias_int, taps, xi.lo - x.zp, xi.hi - x.zp)?;
        Conv { input: x.id, input_zp: x.zp, weight: Tensor { shape: w.dims.clone(), data: vec![] }, bias: vec![], window, group, params: Some(params) }
    } else {
        Conv { input: x.id, input_zp: x.zp, weight: Tensor { shape: w.dims.clone(), data: w.q }, bias: bias_int.unwrap_or_else(|| vec![0; oc]), window, group, params: None }
    };
    let acc = lw.g.add_node(&name, Op::Conv(conv))?;
    Ok(Real { terms: vec![Term { id: acc, zp: 0, scale: collapse(scales) }], axis: 1, offset: vec![], clamp_lo: None, clamp_hi: None })
}

pub fn conv(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let wdims = match need(n, ins, 1)? {
        Sym::Const(c) => c.dims.len(),
        Sym::ConstQ(c) => c.q.dims.len(),
        _ => 0,
    };
    if wdims == 3 {
        return super::conv_ext::conv1d(lw, n, ins);
    }
    let w = weights(lw, n, need(n, ins, 1)?)?;
    let oc = w.dims.first().copied().unwrap_or(0);
    let bias = ins.get(2).copied().flatten().map(|b| bias_values(n, b, oc)).transpose()?;
    Ok(vec![Sym::Real(conv_core(lw, n, need(n, ins, 0)?, w, bias)?)])
}
