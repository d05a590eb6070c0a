//! Interp: a smooth function of a fine-grid integer by linear interpolation between the
//! points of a coarse table. A direct [`super::Table`] needs one table row per grid point,
//! so its error shrinks only linearly with the table's size. Interpolating between points
//! `2^INTERP_BITS` fine steps apart has second-order error, which is much smaller: a table
//! of a few hundred rows then replaces one of thousands, at equal or better accuracy.
//! The importer picks Interp over a direct table only where that needs fewer rows and
//! is at least as accurate ([`crate::onnx`]'s tabulated functions).
//!
//! ```text
//! h = floor(x / 256), l = x - 256·h          (0 <= l < 256)
//! y = 256·y0[h - lo] + l·d[h - lo]            d[i] = y0[i+1] - y0[i] at the table's points
//! ```
//!
//! The output is at 256 times the scale of the table values.
//!
//! # Constraints (per element, 4 rows)
//! * `x - 256·h - l = 0` with `l` a range-checked limb: `l ∈ [0, 256)`.
//! * `(tag0, h, y0)` and `(tag1, h, d)` are rows of the function table. Every `h` there is
//!   an integer of `[lo, lo + len)`, so `h` and `l` are the unique floor division of `x`: a
//!   non-integer `h = (x - l)/256` (any other `l`) is a field element outside the table.
//! * `y = l·d + 256·y0`, one product row.

use serde::{Deserialize, Serialize};

use super::Facts;
use crate::error::{CircuitError, Result};
use crate::ir::{Graph, Tensor, ValueId};
use crate::layout::ctx::{FnTable, LayoutCtx, Operand};
use crate::layout::CellTensor;

/// Fine steps per coarse interval, as a power of two: one range-check limb.
pub const INTERP_BITS: u32 = crate::layout::ctx::LIMB_BITS;
const STEP: i64 = 1 << INTERP_BITS;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interp {
    pub input: ValueId,
    /// Which function (for reports), e.g. "Sigmoid".
    pub func: String,
    /// Coarse index of the first table point.
    pub lo: i64,
    /// Function values at the coarse points `lo, lo + 1, ...`.
    pub y0: Vec<i64>,
    /// `y0[i + 1] - y0[i]` (with the value one point past the end for the last).
    pub d: Vec<i64>,
}

impl Interp {
    pub fn inputs(&self) -> Vec<ValueId> {
        vec![self.input]
    }

    fn split(v: i64) -> (i64, i64) {
        (v.div_euclid(STEP), v.rem_euclid(STEP))
    }

    pub fn infer(&self, g: &Graph, node: &str) -> Result<Facts> {
        let x = g.info(self.input);
        let n = self.y0.len();
        let internal = |why: String| CircuitError::Internal(format!("interpolated table `{}` at {node}: {why}", self.func));
        if n == 0 || n != self.d.len() || n > super::table::MAX_TABLE {
            return Err(internal(format!("{} values and {} differences", n, self.d.len())));
        }
        let ((hl, _), (hh, _)) = (Self::split(x.lo), Self::split(x.hi));
        if hl < self.lo || hh >= self.lo + n as i64 {
            return Err(internal(format!("covers coarse points [{}, {}) but its input needs [{hl}, {hh}]", self.lo, self.lo + n as i64)));
        }
        // y is linear in l on each interval: its extremes are at l = 0 and l = 255 (or the
        // input's own end points in the first and last interval; the interval bound is safe)
        let (mut a, mut b) = (i128::MAX, i128::MIN);
        for i in (hl - self.lo) as usize..=(hh - self.lo) as usize {
            let base = self.y0[i] as i128 * STEP as i128;
            for y in [base, base + (STEP as i128 - 1) * self.d[i] as i128] {
                a = a.min(y);
                b = b.max(y);
            }
        }
        let (a, b) = super::to_i64_bounds((a, b));
        Ok((x.shape.clone(), a, b))
    }

    pub fn eval(&self, inputs: &[&Tensor]) -> Tensor {
        let x = inputs[0];
        let data = x
            .data
            .iter()
            .map(|&v| {
                let (h, l) = Self::split(v);
                let i = (h - self.lo) as usize;
                STEP * self.y0[i] + l * self.d[i]
            })
            .collect();
        Tensor { shape: x.shape.clone(), data }
    }

    pub fn layout(&self, ctx: &mut LayoutCtx, _g: &Graph, inputs: &[&CellTensor]) -> CellTensor {
        let x = inputs[0];
        let t0 = ctx.table_tag(&FnTable { lo: self.lo, values: self.y0.clone() });
        let t1 = ctx.table_tag(&FnTable { lo: self.lo, values: self.d.clone() });
        let cells = x
            .cells
            .iter()
            .map(|&c| {
                let (h, l) = Self::split(c.val as i64);
                let placed = ctx.assert_zero(&[(Operand::Cell(c), 1), (Operand::New(h as i128), -(STEP as i128)), (Operand::Limb(l as i128), -1)], 0);
                let (h, l) = (placed[1], placed[2]);
                let y0 = ctx.lookup(t0, h);
                let d = ctx.lookup(t1, h);
                if ctx.shape.width >= 3 {
                    ctx.mul_add(Operand::Cell(l), Operand::Cell(d), &[(Operand::Cell(y0), STEP as i128)], 0, true).0.expect("want_out yields a cell")
                } else {
                    let (p, _) = ctx.mul_add(Operand::Cell(l), Operand::Cell(d), &[], 0, true);
                    ctx.lin(&[(Operand::Cell(p.expect("want_out yields a cell")), 1), (Operand::Cell(y0), STEP as i128)], 0)
                }
            })
            .collect();
        CellTensor { shape: x.shape.clone(), cells }
    }
}
