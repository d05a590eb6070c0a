//! Table: a function of one small-domain integer, by lookup. This is how every nonlinear
//! elementwise function (Sigmoid, Tanh, Exp, Erf, ...) is proven: the importer tabulates
//! the function over the quantized input domain (exact for int8 inputs; float inputs are
//! first requantized onto a clamped grid) and the circuit looks each element up.
//!
//! ```text
//! y = values[x - lo]        for x in [lo, lo + len(values))
//! ```
//!
//! # Constraints
//! One row per element: `(tag, x, y)` is in the fixed function table (the circuit's second
//! lookup argument; identical tables share a tag).

use serde::{Deserialize, Serialize};

use super::Facts;
use crate::error::{CircuitError, Result};
use crate::ir::{Graph, Tensor, ValueId};
use crate::layout::ctx::{FnTable, LayoutCtx};
use crate::layout::CellTensor;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub input: ValueId,
    /// Which function (for reports), e.g. "Sigmoid".
    pub func: String,
    pub lo: i64,
    pub values: Vec<i64>,
}

/// Largest function table the importer builds.
pub const MAX_TABLE: usize = 1 << 16;

impl Table {
    pub fn inputs(&self) -> Vec<ValueId> {
        vec![self.input]
    }

    pub fn infer(&self, g: &Graph, node: &str) -> Result<Facts> {
        let x = g.info(self.input);
        let hi = self.lo as i128 + self.values.len() as i128 - 1;
        if self.values.is_empty() || self.values.len() > MAX_TABLE || (x.lo as i128) < self.lo as i128 || x.hi as i128 > hi {
            return Err(CircuitError::Internal(format!(
                "table `{}` at {node} covers [{}, {hi}] but its input ranges over [{}, {}]",
                self.func, self.lo, x.lo, x.hi
            )));
        }
        // only the part of the table the input can reach bounds the output
        let (a, b) = ((x.lo - self.lo) as usize, (x.hi - self.lo) as usize);
        let reach = &self.values[a..=b];
        Ok((x.shape.clone(), *reach.iter().min().expect("non-empty"), *reach.iter().max().expect("non-empty")))
    }

    pub fn eval(&self, inputs: &[&Tensor]) -> Tensor {
        let x = inputs[0];
        Tensor { shape: x.shape.clone(), data: x.data.iter().map(|&v| self.values[(v - self.lo) as usize]).collect() }
    }

    pub fn layout(&self, ctx: &mut LayoutCtx, _g: &Graph, inputs: &[&CellTensor]) -> CellTensor {
        let x = inputs[0];
        let tag = ctx.table_tag(&FnTable { lo: self.lo, values: self.values.clone() });
        let cells = x.cells.iter().map(|&c| ctx.lookup(tag, c)).collect();
        CellTensor { shape: x.shape.clone(), cells }
    }
}
