//! Symbolic values during lowering. ONNX values are floats; each is represented exactly by
//! integer IR tensors plus scales:
//!
//! * [`Sym::Q`]: a quantized tensor `q` (the output of QuantizeLinear).
//! * [`Sym::Real`]: a real tensor `Σ_t scale_t[ch]·(x_t - zp_t) + offset[ch]`, clamped to
//!   `[clamp_lo, clamp_hi]`: what DequantizeLinear, Gemm, Conv, Add, Relu... produce. It
//!   becomes a quantized tensor again by [`Lowering::materialize`] (one Rescale node).
//! * [`Sym::Const`] / [`Sym::ConstQ`]: constants, plain or dequantized integers.
//! * [`Sym::FloatInput`]: a model input not yet quantized.

use super::consts::Const;
use super::ImportOptions;
use crate::error::{CircuitError, Result};
use crate::ir::{Graph, InputSpec, ValueId};
use crate::ops::{Op, Rescale, RescaleTerm};

#[derive(Clone, Debug, PartialEq)]
pub struct QT {
    pub id: ValueId,
    pub scale: f64,
    pub zp: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    pub id: ValueId,
    pub zp: i64,
    /// One scale, or one per channel along `Real::axis`.
    pub scale: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Real {
    pub terms: Vec<Term>,
    pub axis: usize,
    /// Empty, one value, or one per channel along `axis`.
    pub offset: Vec<f64>,
    pub clamp_lo: Option<f64>,
    pub clamp_hi: Option<f64>,
}

impl Real {
    pub fn of(id: ValueId, zp: i64, scale: f64) -> Self {
        Real { terms: vec![Term { id, zp, scale: vec![scale] }], axis: 0, offset: vec![], clamp_lo: None, clamp_hi: None }
    }

    /// The single quantized tensor this real value is exactly, if any.
    pub fn as_plain(&self) -> Option<QT> {
        match &self.terms[..] {
            [t] if t.scale.len() == 1 && self.offset.iter().all(|&o| o == 0.0) && self.clamp_lo.is_none() && self.clamp_hi.is_none() => {
                Some(QT { id: t.id, scale: t.scale[0], zp: t.zp })
            }
            _ => None,
        }
    }

    /// True when there is one term and no pending clamp or offset (scales may be per channel):
    /// monotone per-channel ops (MaxPool, Reshape of a single channel layout) may act on it.
    pub fn is_single(&self) -> bool {
        self.terms.len() == 1 && self.offset.iter().all(|&o| o == 0.0) && self.clamp_lo.is_none() && self.clamp_hi.is_none()
    }
}

/// A constant dequantized from integers: real = scale[ch]·(q - zp[ch]).
#[derive(Clone, Debug, PartialEq)]
pub struct ConstQ {
    pub q: Const,
    pub scale: Vec<f64>,
    pub zp: Vec<i64>,
    pub axis: usize,
}

impl ConstQ {
    /// The real values, `scale[ch]·(q - zp[ch])`.
    pub fn reals(&self) -> Vec<f64> {
        let pick = |v: usize, i: usize| if v == 1 { 0 } else { crate::ir::tensor::channel_of(&self.q.dims, self.axis, i) };
        self.q.floats().iter().enumerate().map(|(i, &x)| self.scale[pick(self.scale.len(), i)] * (x - self.zp[pick(self.zp.len(), i)] as f64)).collect()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Sym {
    Const(Const),
    ConstQ(ConstQ),
    Q(QT),
    Real(Real),
    /// A model input not yet quantized; `int_range` is set for integer and bool inputs
    /// (quantized with scale 1 into that range).
    FloatInput { name: String, shape: Vec<usize>, int_range: Option<(i64, i64)> },
}

/// How a requantization rounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    HalfUp,
    HalfEven,
    Floor,
    Ceil,
}

/// Target of a requantization.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QTarget {
    pub scale: f64,
    pub zp: i64,
    pub lo: i64,
    pub hi: i64,
}

/// Lowering state shared by all op lowerings.
pub struct Lowering<'a> {
    pub g: Graph,
    pub opts: &'a ImportOptions,
    /// Float model inputs already quantized (an input may feed several nodes).
    pub quantized_inputs: std::collections::HashMap<String, QT>,
    /// Values [`Self::plain`] already materialized, by their terms' values: a real value that
    /// several wires read (the slices of a reduction, the outputs of a Split) is rescaled once.
    pub plain_made: std::collections::HashMap<Vec<ValueId>, Vec<(Real, QT)>>,
}

impl Lowering<'_> {
    /// Default fixed-point target for float activations.
    pub fn float_target(&self) -> QTarget {
        let h = 1i64 << (self.opts.act_bits - 1);
        QTarget { scale: (-(self.opts.act_scale_bits as f64)).exp2(), zp: 0, lo: -h, hi: h - 1 }
    }

    /// Registers a float model input, quantized with `target`.
    pub fn add_input(&mut self, name: &str, shape: &[usize], t: QTarget) -> Result<QT> {
        self.add_input_as(name, shape, t, false)
    }

    /// [`Self::add_input`]; `saturates`: the model clamps the input (a QuantizeLinear).
    pub fn add_input_as(&mut self, name: &str, shape: &[usize], t: QTarget, saturates: bool) -> Result<QT> {
        if let Some(q) = self.quantized_inputs.get(name) {
            if (q.scale - t.scale).abs() <= 1e-12 * t.scale && q.zp == t.zp {
                return Ok(q.clone());
            }
            return Err(CircuitError::Unsupported {
                op: "QuantizeLinear".into(),
                node: name.into(),
                why: "the input is quantized twice with different parameters".into(),
            });
        }
        let id = self.g.add_value(name, shape.to_vec(), t.lo, t.hi)?;
        self.g.inputs.push(InputSpec { name: name.into(), value: id, shape: shape.to_vec(), scale: t.scale, zero_point: t.zp, lo: t.lo, hi: t.hi, saturates, visibility: Default::default() });
        let q = QT { id, scale: t.scale, zp: t.zp };
        self.quantized_inputs.insert(name.to_string(), q.clone());
        Ok(q)
    }

    /// Turns any numeric symbol into a real-valued one (float inputs get quantized first).
    pub fn real(&mut self, s: &Sym, node: &str) -> Result<Real> {
        match s {
            Sym::Real(r) => Ok(r.clone()),
            Sym::Q(q) => Ok(Real::of(q.id, q.zp, q.scale)),
            Sym::FloatInput { name, shape, int_range } => {
                let q = match self.quantized_inputs.get(name) {
                    Some(q) => q.clone(),
                    None => {
                        let t = match int_range {
                            Some((lo, hi)) => QTarget { scale: 1.0, zp: 0, lo: *lo, hi: *hi },
                            None => self.float_target_input(),
                        };
                        self.add_input(name, shape, t)?
                    }
                };
                Ok(Real::of(q.id, q.zp, q.scale))
            }
            Sym::Const(_) | Sym::ConstQ(_) => Err(CircuitError::Unsupported {
                op: "constant".into(),
                node: node.into(),
                why: "an operation on constants only should have been folded by the exporter".into(),
            }),
        }
    }

    fn float_target_input(&self) -> QTarget {
        let h = 1i64 << (self.opts.act_bits - 1);
        QTarget { scale: (-(self.opts.input_scale_bits as f64)).exp2(), zp: 0, lo: -h, hi: h - 1 }
    }

    /// A quantized tensor with a single per-tensor scale: `r` itself when it already is one,
    /// else requantized to the float default.
    pub fn plain(&mut self, r: &Real, node: &str) -> Result<QT> {
        if let Some(q) = r.as_plain() {
            return Ok(q);
        }
        let key: Vec<ValueId> = r.terms.iter().map(|t| t.id).collect();
        if let Some((_, q)) = self.plain_made.get(&key).and_then(|v| v.iter().find(|(made, _)| made == r)) {
            return Ok(q.clone());
        }
        let t = self.float_target();
        let q = self.materialize(r, t, false, node)?;
        self.plain_made.entry(key).or_default().push((r.clone(), q.clone()));
        Ok(q)
    }

    /// Like [`Self::materialize`] with an explicit rounding rule.
    pub fn materialize_round(&mut self, r: &Real, t: QTarget, rounding: Rounding, node: &str) -> Result<QT> {
        let before = self.g.nodes.len();
        let q = self.materialize(r, t, rounding == Rounding::HalfEven, node)?;
        if matches!(rounding, Rounding::Floor | Rounding::Ceil) && self.g.nodes.len() == before + 1 {
            if let Some(crate::ir::Node { op: Op::Rescale(rs), .. }) = self.g.nodes.last_mut() {
                if rs.shift > 0 && self.g.values.len() - 1 == q.id {
                    // P gets half = 2^(s-1) added; cancel it (floor) or make it 2^s - 1 (ceil)
                    let half = 1i64 << (rs.shift - 1);
                    let adj = if rounding == Rounding::Floor { -half } else { half - 1 };
                    if rs.bias.is_empty() {
                        rs.bias = vec![adj];
                    } else {
                        rs.bias.iter_mut().for_each(|b| *b += adj);
                    }
                    rs.half_even = false;
                    let id = q.id;
                    let (shape, lo, hi) = Op::Rescale(rs.clone()).infer(&self.g, node)?;
                    self.g.values[id].shape = shape;
                    self.g.values[id].lo = lo;
                    self.g.values[id].hi = hi;
                }
            }
        }
        Ok(q)
    }

    /// Real-valued bounds of `r` (from the integer bounds of its terms).
    pub fn real_bounds(&self, r: &Real) -> (f64, f64) {
        let (mut lo, mut hi) = (0.0, 0.0);
        for t in &r.terms {
            let i = self.g.info(t.id);
            let (a, b) = ((i.lo - t.zp) as f64, (i.hi - t.zp) as f64);
            let (mut tl, mut th) = (f64::INFINITY, f64::NEG_INFINITY);
            for &s in &t.scale {
                tl = tl.min((a * s).min(b * s));
                th = th.max((a * s).max(b * s));
            }
            lo += tl;
            hi += th;
        }
        let omin = r.offset.iter().cloned().fold(f64::INFINITY, f64::min);
        let omax = r.offset.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        if !r.offset.is_empty() {
            lo += omin;
            hi += omax;
        }
        if let Some(c) = r.clamp_lo {
            lo = lo.max(c);
            hi = hi.max(c);
        }
        if let Some(c) = r.clamp_hi {
            hi = hi.min(c);
            lo = lo.min(c);
        }
        (lo, hi)
    }

    /// `r` without pending clamps: itself, or requantized to the float default.
    pub fn settle(&mut self, r: Real, node: &str) -> Result<Real> {
        if r.clamp_lo.is_some() || r.clamp_hi.is_some() {
            let q = self.plain(&r, node)?;
            Ok(Real::of(q.id, q.zp, q.scale))
        } else {
            Ok(r)
        }
    }

    /// Shape of a non-constant symbol.
    pub fn shape(&self, s: &Sym) -> Option<Vec<usize>> {
        match s {
            Sym::Q(q) => Some(self.g.info(q.id).shape.clone()),
            Sym::Real(r) => Some(self.g.info(r.terms[0].id).shape.clone()),
            Sym::FloatInput { shape, .. } => Some(shape.clone()),
            Sym::Const(c) => Some(c.dims.clone()),
            Sym::ConstQ(c) => Some(c.q.dims.clone()),
        }
    }

    /// Emits the Rescale node computing `QuantizeLinear(r)` with `target`. With `ties_even`
    /// (a QuantizeLinear of the model) exact ties round half to even as ONNX specifies;
    /// zkinfer's own fixed-point rescales of float models round half up.
    pub fn materialize(&mut self, r: &Real, t: QTarget, ties_even: bool, node: &str) -> Result<QT> {
        if let Some(q) = r.as_plain() {
            if (q.scale - t.scale).abs() <= 1e-12 * t.scale.abs() && q.zp == t.zp {
                let info = self.g.info(q.id);
                if info.lo >= t.lo && info.hi <= t.hi {
                    return Ok(q);
                }
            }
        }
        if !(t.scale.is_finite() && t.scale > 0.0) {
            return Err(CircuitError::Unsupported { op: "QuantizeLinear".into(), node: node.into(), why: format!("scale {} is not positive", t.scale) });
        }
        let qc = |c: f64| (c / t.scale).round_ties_even() as i64 + t.zp;
        let lo = r.clamp_lo.map_or(t.lo, |c| qc(c).clamp(t.lo, t.hi));
        let hi = r.clamp_hi.map_or(t.hi, |c| qc(c).clamp(t.lo, t.hi));
        let ratios: Vec<Vec<f64>> = r.terms.iter().map(|term| term.scale.iter().map(|s| s / t.scale).collect()).collect();
        let acc_bits = r.terms.iter().map(|term| {
            let i = self.g.info(term.id);
            crate::ir::bound_bits(i.lo - term.zp, i.hi - term.zp)
        }).max().unwrap_or(0);
        let (shift, exact) = choose_shift(&ratios, acc_bits, r.terms.len() == 1);
        let two_s = (shift as f64).exp2();
        let terms = r
            .terms
            .iter()
            .zip(&ratios)
            .map(|(term, rs)| RescaleTerm { input: term.id, zero_point: term.zp, mult: rs.iter().map(|x| (x * two_s).round() as i64).collect() })
            .collect();
        let bias = r.offset.iter().map(|o| (o / t.scale * two_s).round() as i64).collect();
        // ties occur for exact (dyadic) multipliers and for sums of several terms
        let half_even = ties_even && shift > 0 && (exact || r.terms.len() > 1);
        let op = Rescale { terms, channel_axis: r.axis, shift, bias, out_zp: t.zp, lo, hi: hi.max(lo), half_even };
        let id = self.g.add_node(node, Op::Rescale(op))?;
        Ok(QT { id, scale: t.scale, zp: t.zp })
    }
}

/// Picks the Rescale shift (a multiple of 8) for real multipliers `ratios`:
/// exactly representable dyadic ratios get the smallest exact shift; otherwise every
/// multiplier gets at least 24 significant bits, and for one term the shift exceeds the
/// accumulator's bits so that exact ties (where half-up and half-even differ) cannot occur.
/// Returns the shift and whether the multipliers are exact.
pub fn choose_shift(ratios: &[Vec<f64>], acc_bits: u32, single: bool) -> (u32, bool) {
    let all: Vec<f64> = ratios.iter().flatten().map(|x| x.abs()).filter(|x| *x > 0.0).collect();
    if all.is_empty() {
        return (0, true);
    }
    for s in (0..=48).step_by(8) {
        let f = (s as f64).exp2();
        if all.iter().all(|x| (x * f).fract() == 0.0 && x * f < 2f64.powi(40)) {
            return (s, true);
        }
    }
    let min = all.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = all.iter().cloned().fold(0.0, f64::max);
    let mut s = 8u32;
    while min * (s as f64).exp2() < 2f64.powi(23) || (single && s <= acc_bits + 1) {
        s += 8;
    }
    // keep multipliers below 2^56 so products stay far from overflow
    while s > 8 && max * (s as f64).exp2() >= 2f64.powi(56) {
        s -= 8;
    }
    (s, false)
}
