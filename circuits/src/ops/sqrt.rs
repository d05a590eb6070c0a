//! Sqrt: integer square root, `y = floor(sqrt(x))` for `x >= 0` (the importer scales `x` so
//! that one output step is the wanted precision).
//!
//! # Constraints
//! Per element: `y` range-checked; `e1 = x - y² >= 0` and `e2 = y² + 2y - x >= 0`
//! (range-checked), i.e. `y² <= x < (y + 1)²`.

use serde::{Deserialize, Serialize};

use super::Facts;
use crate::error::{CircuitError, Result};
use crate::ir::{Graph, Tensor, ValueId};
use crate::layout::ctx::{limbs_for, LayoutCtx, Operand};
use crate::layout::CellTensor;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sqrt {
    pub input: ValueId,
}

pub fn isqrt(x: i128) -> i128 {
    if x <= 0 {
        return 0;
    }
    let mut y = (x as f64).sqrt() as i128;
    while y * y > x {
        y -= 1;
    }
    while (y + 1) * (y + 1) <= x {
        y += 1;
    }
    y
}

impl Sqrt {
    pub fn inputs(&self) -> Vec<ValueId> {
        vec![self.input]
    }

    pub fn infer(&self, g: &Graph, node: &str) -> Result<Facts> {
        let x = g.info(self.input);
        if x.lo < 0 {
            return Err(CircuitError::Internal(format!("Sqrt at {node} of a value that may be negative ({})", x.lo)));
        }
        Ok((x.shape.clone(), isqrt(x.lo as i128) as i64, isqrt(x.hi as i128) as i64))
    }

    pub fn eval(&self, inputs: &[&Tensor]) -> Tensor {
        let x = inputs[0];
        Tensor { shape: x.shape.clone(), data: x.data.iter().map(|&v| isqrt(v as i128) as i64).collect() }
    }

    pub fn layout(&self, ctx: &mut LayoutCtx, g: &Graph, inputs: &[&CellTensor]) -> CellTensor {
        let x = inputs[0];
        let info = g.info(self.input);
        let (ylo, yhi) = (isqrt(info.lo as i128), isqrt(info.hi as i128));
        let limbs = limbs_for(2 * yhi + 1);
        let cells = x
            .cells
            .iter()
            .map(|&xc| {
                let y = isqrt(xc.val);
                let yc = ctx.bounded(y, ylo, yhi);
                // o = y² - x
                let o = ctx.mul_add(Operand::Cell(yc), Operand::Cell(yc), &[(Operand::Cell(xc), -1)], 0, true).0.expect("want_out");
                // e1 = -o >= 0
                ctx.assert_range_of(xc.val - y * y, limbs, &[(Operand::Cell(o), 1)], 0);
                // e2 = o + 2y >= 0
                ctx.assert_range_of(y * y + 2 * y - xc.val, limbs, &[(Operand::Cell(o), -1), (Operand::Cell(yc), -2)], 0);
                yc
            })
            .collect();
        CellTensor { shape: x.shape.clone(), cells }
    }
}
