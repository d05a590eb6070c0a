//! Dense: `y[.., n] = Σ_k (x[.., k] - input_zp) · weight[n, k] + bias[n]`.
//! Imported from Gemm / MatMul with a constant right operand. Weights sit in fixed columns
//! (the verifying key commits to them); one multiply-accumulate chain per output.

use serde::{Deserialize, Serialize};

use super::{dot_bounds, to_i64_bounds, Facts};
use crate::error::{CircuitError, Result};
use crate::ir::{Graph, Tensor, ValueId};
use crate::layout::{ctx::LayoutCtx, ctx::Operand, CellTensor};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    pub input: ValueId,
    pub input_zp: i64,
    /// [N, K], zero point already removed.
    pub weight: Tensor,
    /// [N]
    pub bias: Vec<i64>,
}

impl Dense {
    pub fn inputs(&self) -> Vec<ValueId> {
        vec![self.input]
    }

    fn dims(&self) -> (usize, usize) {
        (self.weight.shape[0], self.weight.shape[1])
    }

    pub fn infer(&self, g: &Graph, node: &str) -> Result<Facts> {
        let x = g.info(self.input);
        let (n, k) = self.dims();
        if x.shape.last() != Some(&k) || self.bias.len() != n || self.weight.shape.len() != 2 {
            return Err(CircuitError::Shape {
                node: node.into(),
                why: format!("input {:?} does not match weight {:?} / bias [{}]", x.shape, self.weight.shape, self.bias.len()),
            });
        }
        let (mut lo, mut hi) = (i128::MAX, i128::MIN);
        for o in 0..n {
            let row = self.weight.data[o * k..(o + 1) * k].iter().copied();
            let (a, b) = dot_bounds(row, x.lo - self.input_zp, x.hi - self.input_zp, self.bias[o]);
            lo = lo.min(a);
            hi = hi.max(b);
        }
        let mut shape = x.shape.clone();
        *shape.last_mut().expect("checked non-empty") = n;
        let (lo, hi) = to_i64_bounds((lo, hi));
        Ok((shape, lo, hi))
    }

    pub fn eval(&self, inputs: &[&Tensor]) -> Tensor {
        let x = inputs[0];
        let (n, k) = self.dims();
        let rows = x.len() / k;
        let mut out = Vec::with_capacity(rows * n);
        for r in 0..rows {
            let xs = &x.data[r * k..(r + 1) * k];
            for o in 0..n {
                let ws = &self.weight.data[o * k..(o + 1) * k];
                let s: i64 = xs.iter().zip(ws).map(|(a, w)| (a - self.input_zp) * w).sum();
                out.push(s + self.bias[o]);
            }
        }
        let mut shape = x.shape.clone();
        *shape.last_mut().expect("non-empty shape") = n;
        Tensor { shape, data: out }
    }

    pub fn layout(&self, ctx: &mut LayoutCtx, _g: &Graph, inputs: &[&CellTensor]) -> CellTensor {
        let x = inputs[0];
        let (n, k) = self.dims();
        let rows = x.cells.len() / k;
        let mut cells = Vec::with_capacity(rows * n);
        for r in 0..rows {
            for o in 0..n {
                let ws = &self.weight.data[o * k..(o + 1) * k];
                let mut terms = Vec::with_capacity(k);
                let mut c = self.bias[o] as i128;
                for (j, &w) in ws.iter().enumerate() {
                    if w != 0 {
                        terms.push((Operand::Cell(x.cells[r * k + j]), w as i128));
                        c -= self.input_zp as i128 * w as i128;
                    }
                }
                cells.push(ctx.lin(&terms, c));
            }
        }
        let mut shape = x.shape.clone();
        *shape.last_mut().expect("non-empty shape") = n;
        CellTensor { shape, cells }
    }
}
