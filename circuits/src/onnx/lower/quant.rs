//! QuantizeLinear and DequantizeLinear: the boundaries between real and quantized values.

use super::super::attrs::{self, node_name};
use super::super::consts::{int_range, Const, ConstData};
use super::super::proto::{tensor_proto::DataType, NodeProto};
use super::super::sym::{ConstQ, Lowering, QTarget, Real, Sym};
use super::{need, unsupported_use, Ins};
use crate::error::Result;

/// Scale and zero-point vectors of a (De)QuantizeLinear, with the zero point's type.
pub(crate) fn qparams(n: &NodeProto, scale: &Sym, zp: Option<&Sym>) -> Result<(Vec<f64>, Vec<i64>, DataType)> {
    let sc = match scale {
        Sym::Const(c) => c.floats(),
        _ => return Err(unsupported_use(n, "the scale must be a constant")),
    };
    if sc.is_empty() || sc.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(unsupported_use(n, format!("scales must be positive and finite, got {sc:?}")));
    }
    let (zp, dt) = match zp {
        None => (vec![0; sc.len()], default_type(n)),
        Some(Sym::Const(c)) => (c.ints().ok_or_else(|| unsupported_use(n, "the zero point must be an integer"))?.to_vec(), c.dtype),
        Some(_) => return Err(unsupported_use(n, "the zero point must be a constant")),
    };
    let zp = if zp.len() == 1 && sc.len() > 1 { vec![zp[0]; sc.len()] } else { zp };
    if zp.len() != sc.len() {
        return Err(unsupported_use(n, format!("{} zero points for {} scales", zp.len(), sc.len())));
    }
    Ok((sc, zp, dt))
}

fn default_type(n: &NodeProto) -> DataType {
    DataType::try_from(attrs::int(n, "output_dtype", 0) as i32).ok().filter(|d| *d != DataType::Undefined).unwrap_or(DataType::Uint8)
}

fn target(n: &NodeProto, scale: f64, zp: i64, dt: DataType) -> Result<QTarget> {
    let (lo, hi) = int_range(dt).ok_or_else(|| unsupported_use(n, format!("quantized type {dt:?}")))?;
    Ok(QTarget { scale, zp, lo, hi })
}

pub fn quantize(lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let (sc, zp, dt) = qparams(n, need(n, ins, 1)?, ins.get(2).copied().flatten())?;
    let x = need(n, ins, 0)?;
    if let Sym::Const(c) = x {
        // quantizing a constant (e.g. weights): fold
        let axis = if sc.len() == 1 { 0 } else { norm_axis(n, c.dims.len())? };
        let strides = crate::ir::tensor::strides(&c.dims);
        let (lo, hi) = int_range(dt).ok_or_else(|| unsupported_use(n, format!("quantized type {dt:?}")))?;
        let q = c
            .floats()
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let ch = if sc.len() == 1 { 0 } else { (i / strides[axis]) % c.dims[axis] };
                ((v / sc[ch]).round_ties_even() as i64 + zp[ch]).clamp(lo, hi)
            })
            .collect();
        let q = Const { dims: c.dims.clone(), dtype: dt, data: ConstData::Int(q) };
        return Ok(vec![Sym::ConstQ(ConstQ { q, scale: sc, zp, axis })]);
    }
    if sc.len() != 1 {
        return Err(unsupported_use(n, "per-axis quantization of activations"));
    }
    let t = target(n, sc[0], zp[0], dt)?;
    let name = node_name(n);
    if let Sym::FloatInput { name: iname, shape, int_range: None } = x {
        // QuantizeLinear saturates: so does the model's input
        return Ok(vec![Sym::Q(lw.add_input_as(iname, shape, t, true)?)]);
    }
    let r = lw.real(x, &name)?;
    Ok(vec![Sym::Q(lw.materialize(&r, t, true, &name)?)])
}

fn norm_axis(n: &NodeProto, rank: usize) -> Result<usize> {
    let a = attrs::int(n, "axis", 1);
    let r = rank as i64;
    let a = if a < 0 { a + r } else { a };
    if rank == 0 {
        return Ok(0);
    }
    if a < 0 || a >= r {
        return Err(unsupported_use(n, format!("axis {a} out of range for rank {rank}")));
    }
    Ok(a as usize)
}

pub fn dequantize(_lw: &mut Lowering, n: &NodeProto, ins: &Ins) -> Result<Vec<Sym>> {
    let (sc, zp, _) = qparams(n, need(n, ins, 1)?, ins.get(2).copied().flatten())?;
    match need(n, ins, 0)? {
        Sym::Const(c) => {
            if c.ints().is_none() {
                return Err(unsupported_use(n, "dequantizing a float constant"));
            }
            let axis = if sc.len() == 1 { 0 } else { norm_axis(n, c.dims.len())? };
            if sc.len() > 1 && c.dims.get(axis) != Some(&sc.len()) {
                return Err(unsupported_use(n, format!("{} scales for axis {axis} of {:?}", sc.len(), c.dims)));
            }
            Ok(vec![Sym::ConstQ(ConstQ { q: c.clone(), scale: sc, zp, axis })])
        }
        Sym::Q(q) => {
            if sc.len() != 1 {
                return Err(unsupported_use(n, "per-axis dequantization of activations"));
            }
            Ok(vec![Sym::Real(Real::of(q.id, zp[0], sc[0]))])
        }
        _ => Err(unsupported_use(n, "input is not a quantized tensor")),
    }
}
