//! Mul: elementwise product of two tensors of the same shape, with zero points:
//! `y = (a - za)·(b - zb)`. (Broadcasting is done by the importer with a [`super::Wire`].)
//!
//! # Constraints
//! One row per element: `y = a·b - zb·a - za·b + za·zb`.

use serde::{Deserialize, Serialize};

use super::Facts;
use crate::error::{CircuitError, Result};
use crate::ir::{Graph, Tensor, ValueId};
use crate::layout::ctx::{LayoutCtx, Operand};
use crate::layout::CellTensor;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mul {
    pub a: ValueId,
    pub b: ValueId,
    pub za: i64,
    pub zb: i64,
}

impl Mul {
    pub fn inputs(&self) -> Vec<ValueId> {
        vec![self.a, self.b]
    }

    pub fn infer(&self, g: &Graph, node: &str) -> Result<Facts> {
        let (a, b) = (g.info(self.a), g.info(self.b));
        if a.shape != b.shape {
            return Err(CircuitError::Shape { node: node.into(), why: format!("operand shapes {:?} and {:?} differ", a.shape, b.shape) });
        }
        let (al, ah) = (a.lo as i128 - self.za as i128, a.hi as i128 - self.za as i128);
        let (bl, bh) = (b.lo as i128 - self.zb as i128, b.hi as i128 - self.zb as i128);
        let p = [al * bl, al * bh, ah * bl, ah * bh];
        let (mut lo, hi) = (*p.iter().min().expect("4"), *p.iter().max().expect("4"));
        if self.a == self.b && self.za == self.zb {
            // a square: non-negative, and at least the smallest square in range
            lo = if al <= 0 && ah >= 0 { 0 } else { (al * al).min(ah * ah) };
        }
        let (lo, hi) = super::to_i64_bounds((lo, hi));
        Ok((a.shape.clone(), lo, hi))
    }

    pub fn eval(&self, inputs: &[&Tensor]) -> Tensor {
        let (a, b) = (inputs[0], inputs[1]);
        Tensor { shape: a.shape.clone(), data: a.data.iter().zip(&b.data).map(|(&x, &y)| (x - self.za) * (y - self.zb)).collect() }
    }

    pub fn layout(&self, ctx: &mut LayoutCtx, _g: &Graph, inputs: &[&CellTensor]) -> CellTensor {
        let (a, b) = (inputs[0], inputs[1]);
        let (za, zb) = (self.za as i128, self.zb as i128);
        let cells = a
            .cells
            .iter()
            .zip(&b.cells)
            .map(|(&x, &y)| {
                let mut terms = Vec::new();
                if zb != 0 {
                    terms.push((Operand::Cell(x), -zb));
                }
                if za != 0 {
                    terms.push((Operand::Cell(y), -za));
                }
                ctx.mul_add(Operand::Cell(x), Operand::Cell(y), &terms, za * zb, true).0.expect("want_out yields a cell")
            })
            .collect();
        CellTensor { shape: a.shape.clone(), cells }
    }
}
