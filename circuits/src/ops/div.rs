//! Div: elementwise integer division with rounding, for a divisor of known sign:
//!
//! ```text
//! n = (num - zn)·mult      d = sign·(den - zd)·den_mult > 0
//! y = floor((2·sign·n + d) / (2d))        (round half up of n/((den - zd)·den_mult))
//! ```
//!
//! # Constraints
//! Per element: `y` range-checked to its bounds; `p = den·y - zd·y` (one product row);
//! `2·sign·n + d - 2·sign·den_mult·p - r = 0` with `r` and `2d - 1 - r` range-checked, so
//! `0 <= r < 2d` and `y` is the rounded quotient.

use serde::{Deserialize, Serialize};

use super::Facts;
use crate::error::{CircuitError, Result};
use crate::ir::{Graph, Tensor, ValueId};
use crate::layout::cheat;
use crate::layout::ctx::{limbs_for, LayoutCtx, Operand};
use crate::layout::CellTensor;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Div {
    pub num: ValueId,
    pub den: ValueId,
    pub num_zp: i64,
    pub den_zp: i64,
    pub mult: i64,
    pub den_mult: i64,
}

impl Div {
    pub fn inputs(&self) -> Vec<ValueId> {
        vec![self.num, self.den]
    }

    /// +1 or -1: the divisor's sign over its whole range.
    fn sign(&self, g: &Graph) -> Option<i128> {
        let d = g.info(self.den);
        let (lo, hi) = (d.lo as i128 - self.den_zp as i128, d.hi as i128 - self.den_zp as i128);
        if lo >= 1 {
            Some(1)
        } else if hi <= -1 {
            Some(-1)
        } else {
            None
        }
    }

    fn quotient(&self, sign: i128, num: i128, den: i128) -> (i128, i128, i128) {
        let n = (num - self.num_zp as i128) * self.mult as i128;
        let d = sign * (den - self.den_zp as i128) * self.den_mult as i128;
        let t = 2 * sign * n + d;
        let y = t.div_euclid(2 * d);
        (y, t - 2 * d * y, d)
    }

    pub fn infer(&self, g: &Graph, node: &str) -> Result<Facts> {
        let (a, b) = (g.info(self.num), g.info(self.den));
        if a.shape != b.shape {
            return Err(CircuitError::Shape { node: node.into(), why: format!("operand shapes {:?} and {:?} differ", a.shape, b.shape) });
        }
        self.sign(g).ok_or_else(|| CircuitError::Unsupported {
            op: "Div".into(),
            node: node.into(),
            why: format!("the divisor's range [{}, {}] includes zero", b.lo - self.den_zp, b.hi - self.den_zp),
        })?;
        if self.mult == 0 || self.den_mult <= 0 {
            return Err(CircuitError::Internal(format!("bad Div multipliers at {node}")));
        }
        let (lo, hi) = super::to_i64_bounds(self.y_bounds(g));
        Ok((a.shape.clone(), lo, hi))
    }

    pub fn eval(&self, inputs: &[&Tensor]) -> Tensor {
        let (a, b) = (inputs[0], inputs[1]);
        // the sign is fixed by the bounds; recover it from the data (all share it)
        let sign = b.data.first().map_or(1, |&d| if d - self.den_zp > 0 { 1 } else { -1 });
        let data = a.data.iter().zip(&b.data).map(|(&n, &d)| self.quotient(sign, n as i128, d as i128).0 as i64).collect();
        Tensor { shape: a.shape.clone(), data }
    }

    pub fn layout(&self, ctx: &mut LayoutCtx, g: &Graph, inputs: &[&CellTensor]) -> CellTensor {
        let (a, b) = (inputs[0], inputs[1]);
        let sign = self.sign(g).expect("checked by infer");
        let info = g.info(self.den);
        let dmax = (info.lo as i128 - self.den_zp as i128).abs().max((info.hi as i128 - self.den_zp as i128).abs()) * self.den_mult as i128;
        let r_limbs = limbs_for(2 * dmax);
        let (m, dm, zn, zd) = (self.mult as i128, self.den_mult as i128, self.num_zp as i128, self.den_zp as i128);
        let (ylo, yhi) = self.y_bounds(g);
        let cells = a
            .cells
            .iter()
            .zip(&b.cells)
            .map(|(&num, &den)| {
                let (mut y, mut r, d) = self.quotient(sign, num.val, den.val);
                // a dishonest quotient (forgery suite only): the remainder leaves [0, 2d)
                if ylo < yhi && cheat::take(cheat::Site::Div) {
                    let step = if y < yhi { 1 } else { -1 };
                    y += step;
                    r -= step * 2 * d;
                }
                let yc = ctx.bounded(y, ylo, yhi);
                // p = den·y - zd·y
                let p = ctx.mul_add(Operand::Cell(den), Operand::Cell(yc), &[(Operand::Cell(yc), -zd)], 0, true).0.expect("want_out");
                let rc = ctx.range(r, r_limbs);
                // 2·sign·m·(num - zn) + sign·dm·(den - zd) - 2·sign·dm·p - r = 0
                ctx.assert_zero(
                    &[(Operand::Cell(num), 2 * sign * m), (Operand::Cell(den), sign * dm), (Operand::Cell(p), -2 * sign * dm), (Operand::Cell(rc), -1)],
                    -2 * sign * m * zn - sign * dm * zd,
                );
                // 2d - 1 - r >= 0, with d = sign·dm·(den - zd)
                let s_val = 2 * d - 1 - r;
                ctx.assert_range_of(s_val, r_limbs, &[(Operand::Cell(den), -2 * sign * dm), (Operand::Cell(rc), 1)], 2 * sign * dm * zd + 1);
                yc
            })
            .collect();
        CellTensor { shape: a.shape.clone(), cells }
    }

    fn y_bounds(&self, g: &Graph) -> (i128, i128) {
        let (a, b) = (g.info(self.num), g.info(self.den));
        let sign = self.sign(g).expect("checked by infer");
        let mut ys = Vec::new();
        for num in [a.lo as i128, a.hi as i128] {
            for den in [b.lo as i128, b.hi as i128] {
                ys.push(self.quotient(sign, num, den).0);
            }
        }
        (*ys.iter().min().expect("4"), *ys.iter().max().expect("4"))
    }
}
