//! MaxPool (2-D, NCHW). Padded taps are skipped (they hold -inf in ONNX).
//!
//! # Constraints
//! Pairwise `m = max(a, b)`: `e1 = m - a ≥ 0`, `e2 = m - b ≥ 0` (range-checked to the input's
//! span) and `e1·e2 = 0`, so `m` equals one of them and is at least both.

use serde::{Deserialize, Serialize};

use super::{window::Window2d, Facts};
use crate::error::{CircuitError, Result};
use crate::ir::{Graph, Tensor, ValueId};
use crate::layout::ctx::{limbs_for, AValue, LayoutCtx, Operand};
use crate::layout::CellTensor;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaxPool {
    pub input: ValueId,
    pub window: Window2d,
}

impl MaxPool {
    pub fn inputs(&self) -> Vec<ValueId> {
        vec![self.input]
    }

    fn plan(&self, x: &[usize]) -> Option<(Vec<usize>, Vec<Vec<usize>>)> {
        self.window.pool_plan(x)
    }

    pub fn infer(&self, g: &Graph, node: &str) -> Result<Facts> {
        let x = g.info(self.input);
        let bad = |why: String| CircuitError::Shape { node: node.into(), why };
        if x.shape.len() != 4 {
            return Err(bad(format!("MaxPool needs a 4-D input, got {:?}", x.shape)));
        }
        let (shape, plan) = self.plan(&x.shape).ok_or_else(|| bad(format!("kernel does not fit input {:?}", x.shape)))?;
        if plan.iter().any(|t| t.is_empty()) {
            return Err(bad("a pooling window lies entirely in the padding".into()));
        }
        Ok((shape, x.lo, x.hi))
    }

    pub fn eval(&self, inputs: &[&Tensor]) -> Tensor {
        let x = inputs[0];
        let (shape, plan) = self.plan(&x.shape).expect("validated by infer");
        let data = plan.iter().map(|t| t.iter().map(|&i| x.data[i]).max().expect("non-empty window")).collect();
        Tensor { shape, data }
    }

    pub fn layout(&self, ctx: &mut LayoutCtx, g: &Graph, inputs: &[&CellTensor]) -> CellTensor {
        let x = inputs[0];
        let info = g.info(self.input);
        let limbs = limbs_for(info.hi as i128 - info.lo as i128);
        let (shape, plan) = self.plan(&x.shape).expect("validated by infer");
        let cells = plan
            .iter()
            .map(|taps| {
                let mut m = x.cells[taps[0]];
                for &i in &taps[1..] {
                    m = max2(ctx, m, x.cells[i], limbs);
                }
                m
            })
            .collect();
        CellTensor { shape, cells }
    }
}

/// `max(a, b)` for values whose difference fits `limbs` limbs.
fn max2(ctx: &mut LayoutCtx, a: AValue, b: AValue, limbs: usize) -> AValue {
    let m = a.val.max(b.val);
    let e1 = ctx.range(m - a.val, limbs);
    let e2 = ctx.range(m - b.val, limbs);
    let mc = ctx.lin(&[(Operand::Cell(a), 1), (Operand::Cell(e1), 1)], 0);
    ctx.assert_zero(&[(Operand::Cell(b), 1), (Operand::Cell(e2), 1), (Operand::Cell(mc), -1)], 0);
    ctx.assert_product_zero(Operand::Cell(e1), Operand::Cell(e2), 0);
    mc
}
