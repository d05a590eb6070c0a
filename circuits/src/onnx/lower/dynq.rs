//! onnxruntime's dynamic quantization (`quantize_dynamic`) and the `com.microsoft` operators
//! its quantizer and transformer optimizer emit.
//!
//! DynamicQuantizeLinear computes its scale and zero point from the data at run time, and so
//! does the circuit: the tensor's minimum and maximum (with 0), the scale `(max − min)/255`
//! (1 when the range is empty, as onnxruntime has it), the zero point `round(−255·min/(max − min))` and the
//! codes `clip(round(255·x/(max − min)) + zp, 0, 255)` are all constrained, the divisions by
//! the data-dependent range included. Integer matrix products (MatMulInteger, ConvInteger)
//! are products of the zero-point-shifted integer tensors; the dequantizing multiplications by
//! the data-dependent scale are products of activations.
//!
//! Like [`super::ml`], every operator is written as the standard operators it is made of.
//! Rounding: the divisions round to the activation grid before the integer rounding (half
//! to even), so a code can differ from onnxruntime's float32 arithmetic by one step where the
//! exact quotient is within one activation step of a tie.

use super::super::attrs::{self, node_name};
use super::super::proto::NodeProto;
use super::super::sym::{Lowering, QTarget, QT, Sym};
use super::ml::{attr_float, attr_int, attr_ints, div_by_nonnegative, fconst, iconst, op1, shape};
use super::{need, unsupported_use, Ins};
use crate::error::Result;

/// `(y, y_scale, y_zero_point)` of DynamicQuantizeLinear (uint8).
fn dynamic_quantize(lw: &mut Lowering, n: &NodeProto, x: &Sym) -> Result<(Sym, Sym, Sym)> {
    let xs = shape(lw, n, x)?;
    let numel: usize = xs.iter().product();
    let flat = op1(lw, n, "Reshape", "flat", vec![], &[x, &iconst(vec![1], vec![numel as i64])])?;
    let zero = fconst(vec![], vec![0.0]);
    let keep = vec![attr_int("keepdims", 0)];
    let mn = op1(lw, n, "ReduceMin", "min", keep.clone(), &[&flat])?;
    let mn = op1(lw, n, "Min", "min0", vec![], &[&mn, &zero])?;
    let mx = op1(lw, n, "ReduceMax", "max", keep, &[&flat])?;
    let mx = op1(lw, n, "Max", "max0", vec![], &[&mx, &zero])?;
    let range = op1(lw, n, "Sub", "range", vec![], &[&mx, &mn])?;
    // zero point: round(−255·min / range), within [0, 255] (an empty range has min = 0)
    let nm = op1(lw, n, "Mul", "neg_min", vec![], &[&mn, &fconst(vec![], vec![-255.0])])?;
    let zq = div_by_nonnegative(lw, n, "zp_div", &nm, &range)?;
    let zp = op1(lw, n, "Round", "zp_round", vec![], &[&zq])?;
    let zp = op1(lw, n, "Clip", "zp_clip", vec![], &[&zp, &fconst(vec![], vec![0.0]), &fconst(vec![], vec![255.0])])?;
    let zp = integers(lw, n, "zp", &zp, 0, 255)?;
    // codes: clip(round(255·x / range) + zp, 0, 255)
    let sx = op1(lw, n, "Mul", "x255", vec![], &[x, &fconst(vec![], vec![255.0])])?;
    let yq = div_by_nonnegative(lw, n, "y_div", &sx, &range)?;
    let y = op1(lw, n, "Round", "y_round", vec![], &[&yq])?;
    let y = op1(lw, n, "Add", "y_zp", vec![], &[&y, &zp])?;
    let y = op1(lw, n, "Clip", "y_clip", vec![], &[&y, &fconst(vec![], vec![0.0]), &fconst(vec![], vec![255.0])])?;
    let y = integers(lw, n, "y", &y, 0, 255)?;
    // scale: range/255, or 1 for an empty range (onnxruntime's choice)
    // (kept as (range + 255·[range = 0]) on the input's grid, times 1/255, so that the
    // dequantizing products downstream multiply by it without rounding it)
    let empty = op1(lw, n, "Equal", "empty", vec![], &[&range, &zero])?;
    let empty = op1(lw, n, "Cast", "empty_f", vec![attr_int("to", 1)], &[&empty])?;
    let e255 = op1(lw, n, "Mul", "empty255", vec![], &[&empty, &fconst(vec![], vec![255.0])])?;
    let r255 = op1(lw, n, "Add", "range_or_255", vec![], &[&range, &e255])?;
    let name = format!("{}/scale", node_name(n));
    let rr = lw.real(&range, &name)?;
    let grid = super::math::small_qt(lw, &rr, &format!("{name}/range"))?.scale;
    let r = lw.real(&r255, &name)?;
    let (_, hi) = lw.real_bounds(&r);
    // coarser by powers of two until the (static) bound fits a multiplier operand
    let grid = coarsened(lw, grid, hi.max(255.0));
    let q = lw.materialize(&r, QTarget { scale: grid, zp: 0, lo: 0, hi: (hi / grid).ceil().max(255.0 / grid) as i64 + 1 }, false, &name)?;
    let sc = Sym::Real(super::super::sym::Real::of(q.id, 0, grid / 255.0));
    Ok((y, sc, zp))
}

pub fn dynamic_quantize_linear(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let (y, s, z) = dynamic_quantize(lw, n, need(n, ins, 0)?)?;
    Ok(vec![y, s, z])
}

/// The integer values of an integer-typed ONNX tensor. A quantized tensor (QuantizeLinear's
/// output) stands for the real value it approximates, and its codes are its raw integers; any
/// other value (a cast, a DynamicQuantizeLinear code) is its own integer value.
fn codes(t: &Sym) -> Sym {
    match t {
        Sym::ConstQ(c) => Sym::Const(c.q.clone()),
        Sym::Q(q) => Sym::Q(QT { id: q.id, scale: 1.0, zp: 0 }),
        other => other.clone(),
    }
}

/// An integer tensor on the integer grid (scale 1, zero point 0), `[lo, hi]`.
fn integers(lw: &mut Lowering, n: &NodeProto, step: &str, r: &Sym, lo: i64, hi: i64) -> Result<Sym> {
    let name = format!("{}/{step}", node_name(n));
    let r = lw.real(r, &name)?;
    Ok(Sym::Q(lw.materialize(&r, QTarget { scale: 1.0, zp: 0, lo, hi }, false, &name)?))
}

/// `t − zp` for an integer tensor and an optional (constant or computed) zero point.
fn shifted(lw: &mut Lowering, n: &NodeProto, step: &str, t: &Sym, zp: Option<&Sym>) -> Result<Sym> {
    let t = codes(t);
    let Some(z) = zp else { return Ok(t) };
    let z = codes(z);
    if let Sym::Const(c) = &z {
        if c.floats().iter().all(|&v| v == 0.0) {
            return Ok(match &t {
                Sym::Const(tc) => int_weights(tc.dims.clone(), &tc.floats()),
                _ => t,
            });
        }
    }
    if let (Sym::Const(tc), Sym::Const(zc)) = (&t, &z) {
        // a constant (weight) tensor: per-column zero points broadcast along the last axis
        let (tv, zv) = (tc.floats(), zc.floats());
        let last = *tc.dims.last().unwrap_or(&1);
        let v: Vec<f64> = tv.iter().enumerate().map(|(i, &a)| a - if zv.len() == 1 { zv[0] } else { zv[i % last] }).collect();
        return Ok(int_weights(tc.dims.clone(), &v));
    }
    op1(lw, n, "Sub", step, vec![], &[&t, &z])
}

/// Integer weights as exact integers (scale 1), not re-quantized to the parameter grid.
fn int_weights(dims: Vec<usize>, v: &[f64]) -> Sym {
    let q = super::super::consts::Const { dims, dtype: super::super::proto::tensor_proto::DataType::Int32, data: super::super::consts::ConstData::Int(v.iter().map(|&x| x as i64).collect()) };
    Sym::ConstQ(super::super::sym::ConstQ { q, scale: vec![1.0], zp: vec![0], axis: 0 })
}

pub fn matmul_integer(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let a = shifted(lw, n, "a_shift", need(n, ins, 0)?, ins.get(2).copied().flatten())?;
    let b = shifted(lw, n, "b_shift", need(n, ins, 1)?, ins.get(3).copied().flatten())?;
    // the int32 accumulator on the integer grid (a multiplier operand, as dequantization uses it)
    let acc = op1(lw, n, "MatMul", "matmul", vec![], &[&a, &b])?;
    Ok(vec![fit(lw, n, "acc", &acc)?])
}

pub fn conv_integer(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let x = shifted(lw, n, "x_shift", need(n, ins, 0)?, ins.get(2).copied().flatten())?;
    let w = match need(n, ins, 1)? {
        Sym::ConstQ(c) => Sym::Const(c.q.clone()),
        other => other.clone(),
    };
    let w = match (ins.get(3).copied().flatten(), &w) {
        (Some(Sym::Const(z)), Sym::Const(wc)) => {
            // per-output-channel zero points along axis 0
            let (wv, zv) = (wc.floats(), z.floats());
            let per = wv.len() / wc.dims.first().copied().unwrap_or(1).max(1);
            let v: Vec<f64> = wv.iter().enumerate().map(|(i, &a)| a - if zv.len() == 1 { zv[0] } else { zv[i / per] }).collect();
            int_weights(wc.dims.clone(), &v)
        }
        (None, Sym::Const(wc)) => int_weights(wc.dims.clone(), &wc.floats()),
        (None, _) => w.clone(),
        _ => return Err(unsupported_use(n, "weights and their zero point must be constants")),
    };
    let acc = op1(lw, n, "Conv", "conv", n.attribute.clone(), &[&x, &w])?;
    Ok(vec![fit(lw, n, "acc", &acc)?])
}

// ------------------------------------------------------------------ com.microsoft

/// DynamicQuantizeMatMul(A, B, b_scale, b_zero_point, bias): A quantized dynamically, then
/// `(A_q − a_zp)·(B − b_zp)·a_scale·b_scale + bias`.
pub fn dynamic_quantize_matmul(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let (aq, a_scale, a_zp) = dynamic_quantize(lw, n, need(n, ins, 0)?)?;
    integer_to_float(lw, n, &aq, need(n, ins, 1)?, &a_scale, need(n, ins, 2)?, Some(&a_zp), ins.get(3).copied().flatten(), ins.get(4).copied().flatten())
}

/// MatMulIntegerToFloat(A, B, a_scale, b_scale, a_zero_point, b_zero_point, bias).
pub fn matmul_integer_to_float(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let g = |i: usize| ins.get(i).copied().flatten();
    integer_to_float(lw, n, need(n, ins, 0)?, need(n, ins, 1)?, need(n, ins, 2)?, need(n, ins, 3)?, g(4), g(5), g(6))
}

#[allow(clippy::too_many_arguments)]
fn integer_to_float(lw: &mut Lowering, n: &NodeProto, a: &Sym, b: &Sym, a_scale: &Sym, b_scale: &Sym, a_zp: Option<&Sym>, b_zp: Option<&Sym>, bias: Option<&Sym>) -> Result<Vec<Sym>> {
    let a = shifted(lw, n, "a_shift", a, a_zp)?;
    let b = shifted(lw, n, "b_shift", b, b_zp)?;
    let acc = op1(lw, n, "MatMul", "matmul", vec![], &[&a, &b])?;
    let scale = match (a_scale, b_scale) {
        (Sym::Const(x), Sym::Const(y)) => super::math::fold_consts(n, x, y, |p, q| p * q)?,
        _ => {
            let s = op1(lw, n, "Mul", "scales", vec![], &[a_scale, b_scale])?;
            fit(lw, n, "scale", &s)?
        }
    };
    let acc = fit(lw, n, "acc", &acc)?;
    let mut y = op1(lw, n, "Mul", "dequantize", vec![], &[&acc, &scale])?;
    if let Some(bias) = bias {
        y = op1(lw, n, "Add", "bias", vec![], &[&y, bias])?;
    }
    Ok(vec![y])
}

/// A factor of a product on its own grid, made coarser by powers of two until its static
/// bound fits the multiplier's operand width: an integer accumulator keeps its integers (its
/// bound allowing), a small data-dependent scale keeps its relative precision (the activation
/// grid would round it away, or saturate a large accumulator).
fn fit(lw: &mut Lowering, n: &NodeProto, step: &str, x: &Sym) -> Result<Sym> {
    let name = format!("{}/{step}", node_name(n));
    let r = lw.real(x, &name)?;
    let grid = r.terms.iter().flat_map(|t| t.scale.iter().map(|s| s.abs())).filter(|s| *s > 0.0).fold(f64::INFINITY, f64::min);
    if !grid.is_finite() {
        return Ok(x.clone());
    }
    let (lo, hi) = lw.real_bounds(&r);
    let scale = coarsened(lw, grid, lo.abs().max(hi.abs()));
    let t = QTarget { scale, zp: 0, lo: (lo / scale).floor() as i64, hi: (hi / scale).ceil() as i64 };
    Ok(Sym::Q(lw.materialize(&r, t, false, &name)?))
}

/// `grid` doubled until `max_abs` fits a multiplier operand (`act_bits` signed bits).
fn coarsened(lw: &Lowering, grid: f64, max_abs: f64) -> f64 {
    let cap = ((1u64 << (lw.opts.act_bits - 1)) - 1) as f64;
    let mut g = grid;
    while max_abs / g > cap {
        g *= 2.0;
    }
    g
}

/// FusedMatMul: `alpha·op(A)·op(B)` with optional transposes of the last two axes.
pub fn fused_matmul(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let (mut a, mut b) = (need(n, ins, 0)?.clone(), need(n, ins, 1)?.clone());
    for (t, key) in [(&mut a, "transA"), (&mut b, "transB")] {
        if attrs::int(n, key, 0) != 0 {
            let r = shape(lw, n, t)?.len();
            if r < 2 {
                return Err(unsupported_use(n, format!("{key} on a rank-{r} operand")));
            }
            let mut perm: Vec<i64> = (0..r as i64).collect();
            perm.swap(r - 2, r - 1);
            *t = op1(lw, n, "Transpose", key, vec![attr_ints("perm", &perm)], &[t])?;
        }
    }
    if attrs::int(n, "transBatchA", 0) != 0 || attrs::int(n, "transBatchB", 0) != 0 {
        return Err(unsupported_use(n, "transBatchA/transBatchB"));
    }
    let y = op1(lw, n, "MatMul", "matmul", vec![], &[&a, &b])?;
    let alpha = attrs::float(n, "alpha", 1.0) as f64;
    if alpha == 1.0 {
        return Ok(vec![y]);
    }
    Ok(vec![op1(lw, n, "Mul", "alpha", vec![], &[&y, &fconst(vec![], vec![alpha])])?])
}

/// Gelu (erf form), FastGelu (tanh form, optional bias) and BiasGelu (erf form of x + bias).
pub fn gelu(lw: &mut Lowering, n: &NodeProto, ins: &Ins, approximate: &str) -> Result<Vec<Sym>> {
    let mut x = need(n, ins, 0)?.clone();
    if let Some(b) = ins.get(1).copied().flatten() {
        x = op1(lw, n, "Add", "bias", vec![], &[&x, b])?;
    }
    let a = super::super::proto::AttributeProto {
        name: Some("approximate".into()),
        s: Some(approximate.as_bytes().to_vec()),
        r#type: Some(super::super::proto::attribute_proto::AttributeType::String as i32),
        ..Default::default()
    };
    Ok(vec![op1(lw, n, "Gelu", "gelu", vec![a], &[&x])?])
}

/// SkipLayerNormalization(input, skip, gamma, beta, bias): LayerNormalization over the last
/// axis of `input + skip + bias`; outputs the result, then (mean, inverse std dev: refused if
/// used) and the sum.
pub fn skip_layer_norm(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let mut s = op1(lw, n, "Add", "skip", vec![], &[need(n, ins, 0)?, need(n, ins, 1)?])?;
    if let Some(b) = ins.get(4).copied().flatten() {
        s = op1(lw, n, "Add", "bias", vec![], &[&s, b])?;
    }
    if n.output.iter().skip(1).take(2).any(|o| !o.is_empty()) {
        return Err(unsupported_use(n, "the mean and inverse standard deviation outputs"));
    }
    let eps = attrs::float(n, "epsilon", 1e-12) as f64;
    let mut ln_ins: Vec<&Sym> = vec![&s, need(n, ins, 2)?];
    if let Some(b) = ins.get(3).copied().flatten() {
        ln_ins.push(b);
    }
    let y = op1(lw, n, "LayerNormalization", "ln", vec![attr_int("axis", -1), attr_float("epsilon", eps)], &ln_ins)?;
    Ok(vec![y, fconst(vec![], vec![0.0]), fconst(vec![], vec![0.0]), s])
}

/// `(x − zp)·scale` of a QLinear operand (scale and zero point constants).
fn deq(lw: &mut Lowering, n: &NodeProto, step: &str, x: &Sym, scale: &Sym, zp: Option<&Sym>) -> Result<Sym> {
    let mut ins: Vec<&Sym> = vec![x, scale];
    if let Some(z) = zp {
        ins.push(z);
    }
    op1(lw, n, "DequantizeLinear", step, vec![], &ins)
}

/// Quantizes `r` to the output scale and zero point (their type from the zero point).
fn req(lw: &mut Lowering, n: &NodeProto, r: &Sym, scale: &Sym, zp: Option<&Sym>) -> Result<Sym> {
    let mut ins: Vec<&Sym> = vec![r, scale];
    if let Some(z) = zp {
        ins.push(z);
    }
    op1(lw, n, "QuantizeLinear", "quantize", vec![], &ins)
}

/// QLinearSigmoid / QLinearLeakyRelu (X, X_scale, X_zp, Y_scale, Y_zp) and friends: the
/// float op between a dequantization and a quantization.
pub fn qlinear_unary(lw: &mut Lowering, n: &NodeProto, ins: &Ins, op: &str) -> Result<Vec<Sym>> {
    let g = |i: usize| ins.get(i).copied().flatten();
    let x = deq(lw, n, "x", need(n, ins, 0)?, need(n, ins, 1)?, g(2))?;
    let attributes = if op == "LeakyRelu" { vec![attr_float("alpha", attrs::float(n, "alpha", 0.01) as f64)] } else { vec![] };
    let y = op1(lw, n, op, "op", attributes, &[&x])?;
    Ok(vec![req(lw, n, &y, need(n, ins, 3)?, g(4))?])
}

/// QLinearMul (A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp).
pub fn qlinear_mul(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let g = |i: usize| ins.get(i).copied().flatten();
    let a = deq(lw, n, "a", need(n, ins, 0)?, need(n, ins, 1)?, g(2))?;
    let b = deq(lw, n, "b", need(n, ins, 3)?, need(n, ins, 4)?, g(5))?;
    let y = op1(lw, n, "Mul", "mul", vec![], &[&a, &b])?;
    Ok(vec![req(lw, n, &y, need(n, ins, 6)?, g(7))?])
}

/// QLinearConcat (Y_scale, Y_zp, then (X, X_scale, X_zp) per input; attribute axis).
pub fn qlinear_concat(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let rest = ins.len().saturating_sub(2);
    if rest == 0 || rest % 3 != 0 {
        return Err(unsupported_use(n, format!("{} inputs (expected 2 + 3 per concatenated tensor)", ins.len())));
    }
    let mut parts = Vec::new();
    for k in 0..rest / 3 {
        let i = 2 + 3 * k;
        parts.push(deq(lw, n, &format!("x{k}"), need(n, ins, i)?, need(n, ins, i + 1)?, ins.get(i + 2).copied().flatten())?);
    }
    let refs: Vec<&Sym> = parts.iter().collect();
    let y = op1(lw, n, "Concat", "concat", vec![attr_int("axis", attrs::int(n, "axis", 0))], &refs)?;
    Ok(vec![req(lw, n, &y, need(n, ins, 0)?, ins.get(1).copied().flatten())?])
}

/// DynamicQuantizeLSTM (X, W_q, R_q, B, sequence_lens, initial_h, initial_c, P, W_scale,
/// W_zero_point, R_scale, R_zero_point): an LSTM whose weights are int8, stored transposed
/// (`[directions, input, 4·hidden]`) with per-tensor or per-column scales. The circuit runs
/// the LSTM on the dequantized weights; onnxruntime also quantizes the activations of each
/// step's products dynamically, which the circuit does not (its result is the LSTM's on these
/// weights, within the tolerance of that rounding).
pub fn dynamic_quantize_lstm(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let g = |i: usize| ins.get(i).copied().flatten();
    let dequant = |wi: usize, si: usize, zi: usize, what: &str| -> Result<Sym> {
        let w = match g(wi) {
            Some(Sym::Const(c)) => c.clone(),
            Some(Sym::ConstQ(c)) => c.q.clone(),
            _ => return Err(unsupported_use(n, format!("{what} must be a constant"))),
        };
        let sc = match g(si) {
            Some(Sym::Const(c)) => c.floats(),
            _ => return Err(unsupported_use(n, format!("{what}'s scale must be a constant"))),
        };
        let zp = match g(zi) {
            Some(Sym::Const(c)) => c.floats(),
            None => vec![0.0],
            _ => return Err(unsupported_use(n, format!("{what}'s zero point must be a constant"))),
        };
        if w.dims.len() != 3 {
            return Err(unsupported_use(n, format!("{what} of shape {:?}", w.dims)));
        }
        let (dirs, rows, cols) = (w.dims[0], w.dims[1], w.dims[2]);
        let at = |v: &[f64], d: usize, c: usize| if v.len() == 1 { v[0] } else { v[(d * cols + c) % v.len()] };
        let q = w.floats();
        // back to ONNX's [directions, 4·hidden, input] layout
        let mut out = vec![0.0; q.len()];
        for d in 0..dirs {
            for r in 0..rows {
                for c in 0..cols {
                    out[d * cols * rows + c * rows + r] = (q[d * rows * cols + r * cols + c] - at(&zp, d, c)) * at(&sc, d, c);
                }
            }
        }
        Ok(fconst(vec![dirs, cols, rows], out))
    };
    let w = dequant(1, 8, 9, "W")?;
    let r = dequant(2, 10, 11, "R")?;
    let label = if node_name(n).is_empty() { format!("(output `{}`)", n.output.iter().find(|o| !o.is_empty()).cloned().unwrap_or_default()) } else { format!("`{}`", node_name(n)) };
    lw.g.notes.push(format!("DynamicQuantizeLSTM {label}: proven as the LSTM on its dequantized int8 weights (onnxruntime also quantizes each step's activations, which the circuit does not)"));
    let mut lstm_ins: Ins = vec![g(0), Some(&w), Some(&r)];
    lstm_ins.extend((3..8).map(g));
    while lstm_ins.last().is_some_and(|s| s.is_none()) {
        lstm_ins.pop();
    }
    let input = lstm_ins.iter().enumerate().map(|(i, s)| if s.is_some() { format!("{}:{i}", node_name(n)) } else { String::new() }).collect();
    let m = NodeProto { op_type: Some("LSTM".into()), name: Some(format!("{}/lstm", node_name(n))), domain: Some(String::new()), attribute: n.attribute.clone(), input, output: n.output.clone(), ..Default::default() };
    super::lower_node(lw, &m, &lstm_ins)
}

/// QLinearSoftmax (X, X_scale, X_zp, Y_scale, Y_zp; attributes axis, opset).
pub fn qlinear_softmax(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let g = |i: usize| ins.get(i).copied().flatten();
    let x = deq(lw, n, "x", need(n, ins, 0)?, need(n, ins, 1)?, g(2))?;
    let opset = attrs::int(n, "opset", 13);
    let axis = attrs::int(n, "axis", if opset < 13 { 1 } else { -1 });
    if opset < 13 {
        // Softmax-1/11: over the flattened trailing axes from `axis` on
        let r = shape(lw, n, &x)?.len() as i64;
        let a = if axis < 0 { axis + r } else { axis };
        if a != r - 1 {
            return Err(unsupported_use(n, format!("opset {opset} softmax over axes {a}.. of a rank-{r} tensor")));
        }
    }
    let y = op1(lw, n, "Softmax", "softmax", vec![attr_int("axis", axis)], &[&x])?;
    Ok(vec![req(lw, n, &y, need(n, ins, 3)?, g(4))?])
}

/// Attention (com.microsoft, as onnxruntime's transformer optimizer fuses BERT/GPT-2
/// attention): `input·weights + bias` split into Q, K, V (`qkv_hidden_sizes`, else three equal
/// parts), `num_heads` heads, `softmax(scale·QKᵀ + mask)·V`, heads merged. `unidirectional`
/// masks future positions; a `mask_index` of shape `[batch, sequence]` (1 keep, 0 mask) adds
/// `mask_filter_value` (default −10000) where it is 0. Past state and relative position bias
/// are refused.
pub fn attention(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let g = |i: usize| ins.get(i).copied().flatten();
    if (4..ins.len()).any(|i| g(i).is_some()) || n.output.get(1).is_some_and(|o| !o.is_empty()) {
        return Err(unsupported_use(n, "past/present state and relative position bias"));
    }
    let x = need(n, ins, 0)?;
    let xs = shape(lw, n, x)?;
    if xs.len() != 3 {
        return Err(unsupported_use(n, format!("an input of shape {xs:?} (expected [batch, sequence, hidden])")));
    }
    let (b, s) = (xs[0], xs[1]);
    let heads = attrs::int(n, "num_heads", 0);
    let w = need(n, ins, 1)?;
    let ws = shape(lw, n, w)?;
    let total = *ws.last().unwrap_or(&0);
    let sizes = attrs::ints(n, "qkv_hidden_sizes").unwrap_or_else(|| vec![(total / 3) as i64; 3]);
    if heads <= 0 || sizes.len() != 3 || sizes.iter().sum::<i64>() != total as i64 || sizes.iter().any(|&h| h <= 0 || h % heads != 0) || sizes[0] != sizes[1] {
        return Err(unsupported_use(n, format!("num_heads {heads} with Q/K/V sizes {sizes:?} of {total} columns")));
    }
    let mut qkv = op1(lw, n, "MatMul", "qkv", vec![], &[x, w])?;
    if let Some(bias) = g(2) {
        qkv = op1(lw, n, "Add", "qkv_bias", vec![], &[&qkv, bias])?;
    }
    let (hq, hv) = (sizes[0], sizes[2]);
    let dh = hq / heads;
    let scale = attrs::float(n, "scale", 0.0) as f64;
    let scale = if scale == 0.0 { 1.0 / (dh as f64).sqrt() } else { scale };
    let part = |lw: &mut Lowering, step: &str, from: i64, width: i64| -> Result<Sym> {
        let p = op1(lw, n, "Slice", step, vec![], &[&qkv, &iconst(vec![1], vec![from]), &iconst(vec![1], vec![from + width]), &iconst(vec![1], vec![2])])?;
        let p = op1(lw, n, "Reshape", &format!("{step}_heads"), vec![], &[&p, &iconst(vec![4], vec![b as i64, s as i64, heads, width / heads])])?;
        op1(lw, n, "Transpose", &format!("{step}_t"), vec![attr_ints("perm", &[0, 2, 1, 3])], &[&p])
    };
    let q = part(lw, "q", 0, hq)?;
    let k = part(lw, "k", hq, hq)?;
    let v = part(lw, "v", 2 * hq, hv)?;
    let kt = op1(lw, n, "Transpose", "kt", vec![attr_ints("perm", &[0, 1, 3, 2])], &[&k])?;
    let mut sc = op1(lw, n, "MatMul", "scores", vec![], &[&q, &kt])?;
    sc = op1(lw, n, "Mul", "scaled", vec![], &[&sc, &fconst(vec![], vec![scale])])?;
    let filter = attrs::float(n, "mask_filter_value", -10000.0) as f64;
    if attrs::int(n, "unidirectional", 0) != 0 {
        let m: Vec<f64> = (0..s * s).map(|i| if i % s > i / s { filter } else { 0.0 }).collect();
        sc = op1(lw, n, "Add", "causal", vec![], &[&sc, &fconst(vec![s, s], m)])?;
    }
    if let Some(mask) = g(3) {
        let ms = shape(lw, n, mask)?;
        if ms != [b, s] {
            return Err(unsupported_use(n, format!("mask_index of shape {ms:?} (only [batch, sequence] keep/mask flags)")));
        }
        let mf = op1(lw, n, "Cast", "mask_f", vec![attr_int("to", 1)], &[mask])?;
        let add = op1(lw, n, "Sub", "mask_inv", vec![], &[&fconst(vec![], vec![1.0]), &mf])?;
        let add = op1(lw, n, "Mul", "mask_add", vec![], &[&add, &fconst(vec![], vec![filter])])?;
        let add = op1(lw, n, "Reshape", "mask_b", vec![], &[&add, &iconst(vec![4], vec![b as i64, 1, 1, s as i64])])?;
        sc = op1(lw, n, "Add", "masked", vec![], &[&sc, &add])?;
    }
    let p = op1(lw, n, "Softmax", "softmax", vec![attr_int("axis", -1)], &[&sc])?;
    let ctx = op1(lw, n, "MatMul", "context", vec![], &[&p, &v])?;
    let ctx = op1(lw, n, "Transpose", "context_t", vec![attr_ints("perm", &[0, 2, 1, 3])], &[&ctx])?;
    Ok(vec![op1(lw, n, "Reshape", "merge", vec![], &[&ctx, &iconst(vec![3], vec![b as i64, s as i64, hv])])?])
}
