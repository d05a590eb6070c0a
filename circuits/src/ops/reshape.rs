//! Reshape (also Flatten): pure wiring, no constraints.

use serde::{Deserialize, Serialize};

use super::Facts;
use crate::error::{CircuitError, Result};
use crate::ir::tensor::numel;
use crate::ir::{Graph, Tensor, ValueId};
use crate::layout::{ctx::LayoutCtx, CellTensor};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reshape {
    pub input: ValueId,
    pub shape: Vec<usize>,
}

impl Reshape {
    pub fn inputs(&self) -> Vec<ValueId> {
        vec![self.input]
    }

    pub fn infer(&self, g: &Graph, node: &str) -> Result<Facts> {
        let x = g.info(self.input);
        if numel(&x.shape) != numel(&self.shape) {
            return Err(CircuitError::Shape { node: node.into(), why: format!("cannot reshape {:?} to {:?}", x.shape, self.shape) });
        }
        Ok((self.shape.clone(), x.lo, x.hi))
    }

    pub fn eval(&self, inputs: &[&Tensor]) -> Tensor {
        Tensor { shape: self.shape.clone(), data: inputs[0].data.clone() }
    }

    pub fn layout(&self, _ctx: &mut LayoutCtx, _g: &Graph, inputs: &[&CellTensor]) -> CellTensor {
        CellTensor { shape: self.shape.clone(), cells: inputs[0].cells.clone() }
    }
}
