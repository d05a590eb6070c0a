//! Mul: elementwise product of two tensors of the same shape, with zero points:
//! `y = (a - za)·(b - zb)`. (Broadcasting is done by the importer with a [`super::Wire`].)
//! With `group > 1` the products are summed in runs of `group` along the last axis:
//! `y[.., j] = Σ_{i in j·group .. (j+1)·group} (a[.., i] - za)·(b[.., i] - zb)`, the last run
//! shorter where `group` does not divide the axis. The importer uses this for a MatMul of two
//! activations (attention's `Q·Kᵀ` and `P·V`), with the runs as long as the value bound allows.
//!
//! # Constraints
//! `group = 1`: one row per element, `y = a·b - zb·a - za·b + za·zb`.
//! `group > 1`: each output is a dot-product chain ([`LayoutCtx::dot`]: `width/2` products per
//! row, the circuit's `q_dot` term), plus the zero-point terms on linear rows when a zero point
//! is not 0.

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
    /// Products summed per output along the last axis (1: elementwise).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub group: usize,
}

fn one() -> usize {
    1
}

fn is_one(g: &usize) -> bool {
    *g == 1
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
        if self.group == 0 || (self.group > 1 && a.shape.is_empty()) {
            return Err(CircuitError::Internal(format!("`{node}`: a product sum needs a group of at least 1 and an axis to sum along")));
        }
        let (al, ah) = (a.lo as i128 - self.za as i128, a.hi as i128 - self.za as i128);
        let (bl, bh) = (b.lo as i128 - self.zb as i128, b.hi as i128 - self.zb as i128);
        let p = [al * bl, al * bh, ah * bl, ah * bh];
        let (mut lo, hi) = (*p.iter().min().expect("4"), *p.iter().max().expect("4"));
        if self.a == self.b && self.za == self.zb {
            // a square: non-negative, and at least the smallest square in range
            lo = if al <= 0 && ah >= 0 { 0 } else { (al * al).min(ah * ah) };
        }
        if self.group == 1 {
            let (lo, hi) = super::to_i64_bounds((lo, hi));
            return Ok((a.shape.clone(), lo, hi));
        }
        // each output sums `n` products, `n` the group or the last, shorter run
        let k = a.shape[a.shape.len() - 1];
        let runs = [self.group.min(k), k % self.group].into_iter().filter(|&n| n > 0).map(|n| n as i128);
        let (slo, shi) = runs.fold((i128::MAX, i128::MIN), |(l, h), n| (l.min(n * lo), h.max(n * hi)));
        let (slo, shi) = if k == 0 { (0, 0) } else { (slo, shi) };
        let (slo, shi) = super::to_i64_bounds((slo, shi));
        Ok((self.out_shape(&a.shape), slo, shi))
    }

    /// The output shape for operands of shape `s`: the last axis in runs of `group`.
    fn out_shape(&self, s: &[usize]) -> Vec<usize> {
        let mut o = s.to_vec();
        if self.group > 1 {
            let k = o[o.len() - 1];
            o[s.len() - 1] = k.div_ceil(self.group);
        }
        o
    }

    pub fn eval(&self, inputs: &[&Tensor]) -> Tensor {
        let (a, b) = (inputs[0], inputs[1]);
        let p = a.data.iter().zip(&b.data).map(|(&x, &y)| (x - self.za) * (y - self.zb));
        if self.group == 1 {
            return Tensor { shape: a.shape.clone(), data: p.collect() };
        }
        let k = a.shape[a.shape.len() - 1];
        let p: Vec<i64> = p.collect();
        let data = if k == 0 { vec![] } else { p.chunks(k).flat_map(|row| row.chunks(self.group).map(|run| run.iter().sum::<i64>())).collect() };
        Tensor { shape: self.out_shape(&a.shape), data }
    }

    pub fn layout(&self, ctx: &mut LayoutCtx, _g: &Graph, inputs: &[&CellTensor]) -> CellTensor {
        let (a, b) = (inputs[0], inputs[1]);
        let (za, zb) = (self.za as i128, self.zb as i128);
        if self.group > 1 {
            return self.layout_sums(ctx, a, b);
        }
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

    /// `group > 1`: one dot-product chain per output, over the run's operand cells; a zero
    /// point adds `-zb·Σa - za·Σb + n·za·zb` as linear terms.
    fn layout_sums(&self, ctx: &mut LayoutCtx, a: &CellTensor, b: &CellTensor) -> CellTensor {
        let (za, zb) = (self.za as i128, self.zb as i128);
        let k = a.shape[a.shape.len() - 1];
        let mut cells = Vec::new();
        if k > 0 {
            for (ra, rb) in a.cells.chunks(k).zip(b.cells.chunks(k)) {
                for (xa, xb) in ra.chunks(self.group).zip(rb.chunks(self.group)) {
                    let pairs: Vec<_> = xa.iter().copied().zip(xb.iter().copied()).collect();
                    let mut terms = Vec::new();
                    if zb != 0 {
                        terms.extend(xa.iter().map(|&x| (Operand::Cell(x), -zb)));
                    }
                    if za != 0 {
                        terms.extend(xb.iter().map(|&y| (Operand::Cell(y), -za)));
                    }
                    cells.push(ctx.dot(&pairs, &terms, pairs.len() as i128 * za * zb));
                }
            }
        }
        CellTensor { shape: self.out_shape(&a.shape), cells }
    }
}
