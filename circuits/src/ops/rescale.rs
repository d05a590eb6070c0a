//! Rescale: requantization of a sum of integer terms, with clamping.
//!
//! ```text
//! P = Σ_t mult_t[ch] · (x_t - zp_t) + bias[ch] + half     half = 2^(shift-1), or 0 if shift = 0
//! y = clamp(floor(P / 2^shift) + out_zp, lo, hi)
//! ```
//!
//! This one op expresses QuantizeLinear after Gemm/Conv (per-tensor or per-channel scales),
//! quantized Add, average pooling's division, fixed-point rescaling of float models, and a
//! fused Relu/Clip (a raised `lo` / lowered `hi`). Rounding is half-up on the fixed-point
//! product, or exact round-half-even when `half_even` is set. The importer sets it where the
//! multipliers are exact dyadic rationals (ties really happen, e.g. averaging four values);
//! elsewhere it picks `shift` so that exact ties cannot occur for single-term rescales.
//!
//! # Constraints (per element)
//! * `y = lo + t`, `t` in limbs (and `hi - y ≥ 0` in limbs): `y ∈ [lo, hi]`.
//! * `P - r - 2^shift·(y + d_pos - d_neg - out_zp) = 0` with `r` in `shift/8` limbs.
//! * `d_pos·(y - hi) = 0`, `d_neg·(y - lo) = 0`, both range-checked: overflow above `hi`
//!   is only allowed when `y = hi`, and below `lo` only when `y = lo`.
//!   `d_pos` (`d_neg`) is omitted when the static bound rules out clamping high (low).
//! * With `half_even`, `u0 = floor(P / 2^shift)` is written `2h + b` (`b` boolean, `h` in
//!   limbs), `z = [r = 0]` via `r·inv + z = 1`, `r·z = 0`, and the result is `u0 - z·b`:
//!   an exact tie (`r = 0`) with odd `u0` rounds down to the even neighbour.

use serde::{Deserialize, Serialize};

use super::Facts;
use crate::error::{CircuitError, Result};
use crate::ir::tensor::channel_of;
use crate::ir::{Graph, Tensor, ValueId};
use crate::layout::cheat;
use crate::layout::ctx::{limb_terms, limbs_for, LayoutCtx, Operand, LIMB_BITS};
use crate::layout::CellTensor;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RescaleTerm {
    pub input: ValueId,
    pub zero_point: i64,
    /// One multiplier, or one per channel along `Rescale::channel_axis`.
    pub mult: Vec<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rescale {
    pub terms: Vec<RescaleTerm>,
    pub channel_axis: usize,
    /// Empty, one value, or one per channel along `channel_axis`.
    #[serde(default)]
    pub bias: Vec<i64>,
    /// A multiple of 8 (the range-check limb size).
    pub shift: u32,
    pub out_zp: i64,
    pub lo: i64,
    pub hi: i64,
    #[serde(default)]
    pub half_even: bool,
}

impl Rescale {
    pub fn inputs(&self) -> Vec<ValueId> {
        self.terms.iter().map(|t| t.input).collect()
    }

    fn ties_even(&self) -> bool {
        self.half_even && self.shift > 0
    }

    fn half(&self) -> i128 {
        if self.shift == 0 { 0 } else { 1i128 << (self.shift - 1) }
    }

    fn bias_at(&self, shape: &[usize], flat: usize) -> i128 {
        match self.bias.len() {
            0 => 0,
            1 => self.bias[0] as i128,
            _ => self.bias[channel_of(shape, self.channel_axis, flat)] as i128,
        }
    }

    fn mult(&self, t: usize, shape: &[usize], flat: usize) -> i128 {
        let m = &self.terms[t].mult;
        if m.len() == 1 { m[0] as i128 } else { m[channel_of(shape, self.channel_axis, flat)] as i128 }
    }

    /// Bounds of P over all elements and channels.
    fn p_bounds(&self, g: &Graph) -> (i128, i128) {
        let bmin = self.bias.iter().copied().min().unwrap_or(0) as i128;
        let bmax = self.bias.iter().copied().max().unwrap_or(0) as i128;
        let (mut a, mut b) = (self.half() + bmin, self.half() + bmax);
        for t in &self.terms {
            let x = g.info(t.input);
            let (xl, xh) = (x.lo as i128 - t.zero_point as i128, x.hi as i128 - t.zero_point as i128);
            let (mut ta, mut tb) = (i128::MAX, i128::MIN);
            for &m in &t.mult {
                let (p, q) = (m as i128 * xl, m as i128 * xh);
                ta = ta.min(p.min(q));
                tb = tb.max(p.max(q));
            }
            a += ta;
            b += tb;
        }
        (a, b)
    }

    /// Bounds of the unclamped result v = floor(P / 2^shift) + out_zp (one lower with
    /// ties to even, which may round an exact tie at the lower end down).
    fn v_bounds(&self, g: &Graph) -> (i128, i128) {
        let (a, b) = self.p_bounds(g);
        let tie = self.ties_even() as i128;
        ((a >> self.shift) - tie + self.out_zp as i128, (b >> self.shift) + self.out_zp as i128)
    }

    pub fn infer(&self, g: &Graph, node: &str) -> Result<Facts> {
        let bad = |why: String| CircuitError::Shape { node: node.into(), why };
        let first = self.terms.first().ok_or_else(|| bad("Rescale without terms".into()))?;
        let shape = g.info(first.input).shape.clone();
        for t in &self.terms {
            let s = &g.info(t.input).shape;
            if *s != shape {
                return Err(bad(format!("operand shapes differ: {s:?} vs {shape:?}")));
            }
            let ch = shape.get(self.channel_axis).copied().unwrap_or(1);
            if t.mult.len() != 1 && t.mult.len() != ch {
                return Err(bad(format!("{} multipliers for {ch} channels", t.mult.len())));
            }
        }
        let ch = shape.get(self.channel_axis).copied().unwrap_or(1);
        if self.bias.len() > 1 && self.bias.len() != ch {
            return Err(bad(format!("{} biases for {ch} channels", self.bias.len())));
        }
        if self.shift % LIMB_BITS != 0 || self.shift > 96 || self.lo > self.hi {
            return Err(CircuitError::Internal(format!("bad Rescale at {node}: shift {} lo {} hi {}", self.shift, self.lo, self.hi)));
        }
        // keep every constant the layout forms (P, out_zp·2^shift, clamp gaps·2^shift) far
        // below i128 range
        let (pl, ph) = self.p_bounds(g);
        let big = 1i128 << 110;
        if pl.abs() > big || ph.abs() > big || (self.out_zp as i128).abs().saturating_mul(1i128 << self.shift) > big {
            return Err(CircuitError::Overflow { node: node.into(), bits: 111, limit: 110 });
        }
        let (vl, vh) = self.v_bounds(g);
        let lo = (self.lo as i128).max(vl.min(self.hi as i128)) as i64;
        let hi = (self.hi as i128).min(vh.max(self.lo as i128)) as i64;
        Ok((shape, lo, hi))
    }

    fn eval_at(&self, xs: &[i128], shape: &[usize], flat: usize) -> (i128, i128) {
        let mut p = self.half() + self.bias_at(shape, flat);
        for (t, &x) in xs.iter().enumerate() {
            p += self.mult(t, shape, flat) * (x - self.terms[t].zero_point as i128);
        }
        (p, self.unclamped(p).clamp(self.lo as i128, self.hi as i128))
    }

    /// The rounded, unclamped result for a given P.
    fn unclamped(&self, p: i128) -> i128 {
        let mut u = p >> self.shift;
        if self.ties_even() && p & ((1i128 << self.shift) - 1) == 0 && u & 1 == 1 {
            u -= 1;
        }
        u + self.out_zp as i128
    }

    pub fn eval(&self, inputs: &[&Tensor]) -> Tensor {
        let shape = inputs[0].shape.clone();
        let mut xs = vec![0i128; inputs.len()];
        let data = (0..inputs[0].len())
            .map(|e| {
                for (t, x) in inputs.iter().enumerate() {
                    xs[t] = x.data[e] as i128;
                }
                self.eval_at(&xs, &shape, e).1 as i64
            })
            .collect();
        Tensor { shape, data }
    }

    pub fn layout(&self, ctx: &mut LayoutCtx, g: &Graph, inputs: &[&CellTensor]) -> CellTensor {
        let shape = inputs[0].shape.clone();
        let (vl, vh) = self.v_bounds(g);
        let (lo, hi) = (self.lo as i128, self.hi as i128);
        let pos_limbs = (vh > hi).then(|| limbs_for(vh - hi));
        let neg_limbs = (vl < lo).then(|| limbs_for(lo - vl));
        let r_limbs = (self.shift / LIMB_BITS) as usize;
        let two_s = 1i128 << self.shift;
        let mut xs = vec![0i128; inputs.len()];
        let mut cells = Vec::with_capacity(inputs[0].cells.len());
        for e in 0..inputs[0].cells.len() {
            for (t, x) in inputs.iter().enumerate() {
                xs[t] = x.cells[e].val;
            }
            let (p, mut y_val) = self.eval_at(&xs, &shape, e);
            let v = self.unclamped(p);
            let mut r = p - ((p >> self.shift) << self.shift);
            // a dishonest quotient (forgery suite only): the remainder leaves its range
            if r_limbs > 0 && !self.ties_even() && (lo..=hi).contains(&v) && lo < hi && cheat::take(cheat::Site::Rescale) {
                let step = if y_val < hi { 1 } else { -1 };
                y_val += step;
                r -= step * two_s;
            }
            // the clamp gaps; a dishonest clamp (forgery suite only) claims a bound the value
            // does not reach, and its gap turns negative
            let (mut gap_pos, mut gap_neg) = ((v - hi).max(0), (lo - v).max(0));
            if neg_limbs.is_some() && lo < v && v <= hi && cheat::take(cheat::Site::Clamp) {
                (y_val, gap_neg) = (lo, lo - v);
            } else if pos_limbs.is_some() && lo <= v && v < hi && cheat::take(cheat::Site::Clamp) {
                (y_val, gap_pos) = (hi, v - hi);
            }
            let y = ctx.bounded(y_val, lo, hi);
            let mut terms: Vec<(Operand, i128)> = Vec::with_capacity(inputs.len() + r_limbs + 3);
            let mut c = self.half() + self.bias_at(&shape, e) + self.out_zp as i128 * two_s;
            for (t, x) in inputs.iter().enumerate() {
                let m = self.mult(t, &shape, e);
                terms.push((Operand::Cell(x.cells[e]), m));
                c -= m * self.terms[t].zero_point as i128;
            }
            let tie_fix = if self.ties_even() {
                self.lay_out_tie(ctx, g, p, r, &mut terms)
            } else {
                terms.extend(limb_terms(r, r_limbs, -1));
                terms.push((Operand::Cell(y), -two_s));
                None
            };
            // v = y + d_pos - d_neg: with a tie fix in its own row, else folded into the main row
            let mut v_terms: Vec<(Operand, i128)> = Vec::new();
            if let Some(n) = pos_limbs {
                let d = clamp_gap(gap_pos, ctx, n);
                let (d, _) = ctx.assert_product_zero(d, Operand::Cell(y), -hi);
                v_terms.push((Operand::Cell(d), 1));
            }
            if let Some(n) = neg_limbs {
                let d = clamp_gap(gap_neg, ctx, n);
                let (d, _) = ctx.assert_product_zero(d, Operand::Cell(y), -lo);
                v_terms.push((Operand::Cell(d), -1));
            }
            match tie_fix {
                None => {
                    terms.extend(v_terms.iter().map(|&(op, k)| (op, -k * two_s)));
                    ctx.assert_zero(&terms, c);
                }
                Some((h, b, t)) => {
                    // main row: P - r - 2^s·(2h + b) = 0 (u0 = 2h + b excludes the zero point)
                    terms.push((Operand::Cell(h), -2 * two_s));
                    terms.push((Operand::Cell(b), -two_s));
                    ctx.assert_zero(&terms, c - self.out_zp as i128 * two_s);
                    // 2h + b - t + out_zp = y + d_pos - d_neg
                    let mut e2 = vec![(Operand::Cell(h), 2), (Operand::Cell(b), 1), (Operand::Cell(t), -1), (Operand::Cell(y), -1)];
                    e2.extend(v_terms.iter().map(|&(op, k)| (op, -k)));
                    ctx.assert_zero(&e2, self.out_zp as i128);
                }
            }
            cells.push(y);
        }
        CellTensor { shape, cells }
    }
}

impl Rescale {
    /// Tie handling for one element: pushes `-r` into the main row's terms and returns the
    /// cells (h, b, t = z·b) with u0 = floor(P / 2^s) = 2h + b.
    fn lay_out_tie(&self, ctx: &mut LayoutCtx, g: &Graph, p: i128, r: i128, terms: &mut Vec<(Operand, i128)>) -> Option<(crate::layout::ctx::AValue, crate::layout::ctx::AValue, crate::layout::ctx::AValue)> {
        let r_cell = ctx.range(r, (self.shift / LIMB_BITS) as usize);
        terms.push((Operand::Cell(r_cell), -1));
        // z = [r = 0]:  r·inv + z - 1 = 0  and  r·z = 0
        let z = (r == 0) as i128;
        let (_, placed) = ctx.mul_add(Operand::Cell(r_cell), Operand::Inverse(r), &[(Operand::New(z), 1)], -1, false);
        let z_cell = placed[2];
        ctx.assert_product_zero(Operand::Cell(r_cell), Operand::Cell(z_cell), 0);
        // u0 = 2h + b
        let u0 = p >> self.shift;
        let (pl, ph) = self.p_bounds(g);
        let (hl, hh) = ((pl >> self.shift) >> 1, (ph >> self.shift) >> 1);
        let h_off = ctx.range((u0 >> 1) - hl, limbs_for(hh - hl));
        let h = ctx.lin(&[(Operand::Cell(h_off), 1)], hl);
        let b = ctx.assert_bool(u0 & 1);
        let (t, _) = ctx.mul_add(Operand::Cell(z_cell), Operand::Cell(b), &[], 0, true);
        Some((h, b, t.expect("want_out yields a cell")))
    }
}

/// The range-checked overshoot max(gap, 0), as an operand for the product row.
fn clamp_gap(gap: i128, ctx: &mut LayoutCtx, limbs: usize) -> Operand {
    if limbs == 1 { Operand::Limb(gap) } else { Operand::Cell(ctx.range(gap, limbs)) }
}
