//! Dense: `y[.., n] = Σ_k (x[.., k] - input_zp) · weight[n, k] + bias[n]`.
//! Imported from Gemm / MatMul with a constant right operand.
//!
//! # Constraints
//! Fixed weights sit in fixed columns (the verifying key commits to them): one linear
//! multiply-accumulate chain per output, `width` taps per row. Witness weights
//! ([`WitnessParams`], weights visibility public/hashed/private) are graph values: the input
//! is centered once (`x - input_zp`), then each output is a dot-product chain
//! ([`LayoutCtx::dot`], `width/2` products per row) plus the bias cell. Bounds then come
//! from the weights' declared range, never their values, so the circuit is the same for
//! every set of weights.

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
    /// [N] (empty with witness weights)
    pub bias: Vec<i64>,
    /// Witness weights: `weight` then has its shape but no data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<WitnessParams>,
}

/// Weight and bias tensors held as graph values (witnesses) instead of constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessParams {
    pub weight: ValueId,
    /// Absent when the model has no bias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias: Option<ValueId>,
}

impl WitnessParams {
    /// Bounds of `Σ_{t<taps} x_t·w_t + b` for x in `[xl, xh]`, w and b in their values' ranges.
    pub fn acc_bounds(&self, g: &Graph, taps: usize, xl: i128, xh: i128) -> (i128, i128) {
        let w = g.info(self.weight);
        let (bl, bh) = self.bias.map_or((0, 0), |b| (g.info(b).lo as i128, g.info(b).hi as i128));
        let p = [xl * w.lo as i128, xl * w.hi as i128, xh * w.lo as i128, xh * w.hi as i128];
        let (pl, ph) = (*p.iter().min().expect("4"), *p.iter().max().expect("4"));
        (taps as i128 * pl.min(0) + bl, taps as i128 * ph.max(0) + bh)
    }

    /// The graph values: the weight, then the bias if any.
    pub fn values(&self) -> Vec<ValueId> {
        std::iter::once(self.weight).chain(self.bias).collect()
    }

    /// Checks the weight has `wshape` and the bias (if any) `[outputs]`.
    pub fn check(&self, g: &Graph, wshape: &[usize], outputs: usize) -> std::result::Result<(), String> {
        let w = &g.info(self.weight).shape;
        let b = self.bias.map(|b| g.info(b).shape.clone());
        if w != wshape || b.as_ref().is_some_and(|b| b != &[outputs]) {
            return Err(format!("witness weights {w:?} / bias {b:?} do not match {wshape:?}"));
        }
        Ok(())
    }

    /// The bias cell of output channel `o` as a linear term (none without a bias).
    pub(crate) fn bias_term(&self, bias: Option<&CellTensor>, o: usize) -> Vec<(Operand, i128)> {
        bias.map(|b| vec![(Operand::Cell(b.cells[o]), 1)]).unwrap_or_default()
    }
}

/// The weight and bias data of an op's inputs `[x, weight, bias?]`.
pub(crate) fn witness_data<'a>(inputs: &[&'a Tensor], p: &WitnessParams) -> (&'a [i64], Option<&'a [i64]>) {
    (&inputs[1].data, p.bias.map(|_| inputs[2].data.as_slice()))
}

/// Centers cells on a zero point (`x - zp`, one row each; the cells themselves when zp = 0).
pub(crate) fn centered(ctx: &mut LayoutCtx, cells: &[crate::layout::ctx::AValue], zp: i64) -> Vec<crate::layout::ctx::AValue> {
    if zp == 0 {
        return cells.to_vec();
    }
    cells.iter().map(|&c| ctx.lin(&[(Operand::Cell(c), 1)], -(zp as i128))).collect()
}

impl Dense {
    pub fn inputs(&self) -> Vec<ValueId> {
        let mut v = vec![self.input];
        v.extend(self.params.iter().flat_map(|p| p.values()));
        v
    }

    fn dims(&self) -> (usize, usize) {
        (self.weight.shape[0], self.weight.shape[1])
    }

    pub fn infer(&self, g: &Graph, node: &str) -> Result<Facts> {
        let x = g.info(self.input);
        let (n, k) = self.dims();
        let bias_len = match self.params {
            Some(p) => {
                p.check(g, &self.weight.shape, n).map_err(|why| CircuitError::Shape { node: node.into(), why })?;
                n
            }
            None => self.bias.len(),
        };
        if x.shape.last() != Some(&k) || bias_len != n || self.weight.shape.len() != 2 {
            return Err(CircuitError::Shape {
                node: node.into(),
                why: format!("input {:?} does not match weight {:?} / bias [{}]", x.shape, self.weight.shape, self.bias.len()),
            });
        }
        let (xl, xh) = (x.lo - self.input_zp, x.hi - self.input_zp);
        let (lo, hi) = match self.params {
            Some(p) => p.acc_bounds(g, k, xl as i128, xh as i128),
            None => (0..n)
                .map(|o| dot_bounds(self.weight.data[o * k..(o + 1) * k].iter().copied(), xl, xh, self.bias[o]))
                .fold((i128::MAX, i128::MIN), |(lo, hi), (a, b)| (lo.min(a), hi.max(b))),
        };
        let mut shape = x.shape.clone();
        *shape.last_mut().expect("checked non-empty") = n;
        let (lo, hi) = to_i64_bounds((lo, hi));
        Ok((shape, lo, hi))
    }

    pub fn eval(&self, inputs: &[&Tensor]) -> Tensor {
        let x = inputs[0];
        let (n, k) = self.dims();
        let (weight, bias) = match &self.params {
            Some(p) => witness_data(inputs, p),
            None => (self.weight.data.as_slice(), Some(self.bias.as_slice())),
        };
        let rows = x.len() / k;
        let mut out = Vec::with_capacity(rows * n);
        for r in 0..rows {
            let xs = &x.data[r * k..(r + 1) * k];
            for o in 0..n {
                let ws = &weight[o * k..(o + 1) * k];
                let s: i64 = xs.iter().zip(ws).map(|(a, w)| (a - self.input_zp) * w).sum();
                out.push(s + bias.map_or(0, |b| b[o]));
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
        if let Some(p) = &self.params {
            let (w, b) = (inputs[1], inputs.get(2).copied());
            let xc = centered(ctx, &x.cells, self.input_zp);
            for r in 0..rows {
                for o in 0..n {
                    let pairs: Vec<_> = (0..k).map(|j| (xc[r * k + j], w.cells[o * k + j])).collect();
                    cells.push(ctx.dot(&pairs, &p.bias_term(b, o), 0));
                }
            }
            let mut shape = x.shape.clone();
            *shape.last_mut().expect("non-empty shape") = n;
            return CellTensor { shape, cells };
        }
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
