//! SumPool: the integer core of AveragePool / GlobalAveragePool. `y = Σ_window x` over a
//! window without padding; the division by the window size is folded into the following
//! Rescale's multiplier (so the average is rounded once, exactly as quantized).

use serde::{Deserialize, Serialize};

use super::{window::Window2d, Facts};
use crate::error::{CircuitError, Result};
use crate::ir::{Graph, Tensor, ValueId};
use crate::layout::ctx::{LayoutCtx, Operand};
use crate::layout::CellTensor;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SumPool {
    pub input: ValueId,
    pub window: Window2d,
}

impl SumPool {
    pub fn inputs(&self) -> Vec<ValueId> {
        vec![self.input]
    }

    pub fn count(&self) -> usize {
        self.window.kernel[0] * self.window.kernel[1]
    }

    fn plan(&self, x: &[usize]) -> Option<(Vec<usize>, Vec<Vec<usize>>)> {
        self.window.pool_plan(x)
    }

    pub fn infer(&self, g: &Graph, node: &str) -> Result<Facts> {
        let x = g.info(self.input);
        let bad = |why: String| CircuitError::Shape { node: node.into(), why };
        if x.shape.len() != 4 {
            return Err(bad(format!("average pooling needs a 4-D input, got {:?}", x.shape)));
        }
        if self.window.pads.iter().any(|&p| p != 0) {
            return Err(bad("padded average pooling is not supported".into()));
        }
        let (shape, _) = self.plan(&x.shape).ok_or_else(|| bad(format!("kernel does not fit input {:?}", x.shape)))?;
        let n = self.count() as i64;
        Ok((shape, x.lo.saturating_mul(n), x.hi.saturating_mul(n)))
    }

    pub fn eval(&self, inputs: &[&Tensor]) -> Tensor {
        let x = inputs[0];
        let (shape, plan) = self.plan(&x.shape).expect("validated by infer");
        let data = plan.iter().map(|t| t.iter().map(|&i| x.data[i]).sum()).collect();
        Tensor { shape, data }
    }

    pub fn layout(&self, ctx: &mut LayoutCtx, _g: &Graph, inputs: &[&CellTensor]) -> CellTensor {
        let x = inputs[0];
        let (shape, plan) = self.plan(&x.shape).expect("validated by infer");
        let cells = plan
            .iter()
            .map(|t| {
                let terms: Vec<(Operand, i128)> = t.iter().map(|&i| (Operand::Cell(x.cells[i]), 1)).collect();
                ctx.lin(&terms, 0)
            })
            .collect();
        CellTensor { shape, cells }
    }
}
