//! MaxPool (2-D, NCHW). Padded taps are skipped (they hold -inf in ONNX).
//!
//! # Constraints
//! Per window of taps `a_1..a_n`, one cell `m = a_1 + e_1` and, for every tap,
//! `e_i = m - a_i ≥ 0` (`e_i` range-checked to the input's span, `e_i + a_i - m = 0`), so `m`
//! is at least every tap; and `e_1·e_2·…·e_n = 0` (a chain of products), so some `e_i` is 0
//! (a field has no zero divisors) and `m` equals that tap. `n·⌈limbs/lookups⌉ + 2n − 1` rows
//! per window, against `3(n−1)` more for pairwise maxima.

use serde::{Deserialize, Serialize};

use super::{window::Window2d, Facts};
use crate::error::{CircuitError, Result};
use crate::ir::{Graph, Tensor, ValueId};
use crate::layout::cheat;
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
                let cells: Vec<AValue> = taps.iter().map(|&i| x.cells[i]).collect();
                max_of(ctx, &cells, limbs)
            })
            .collect();
        CellTensor { shape, cells }
    }
}

/// The maximum of `taps` (non-empty), whose pairwise differences fit `limbs` limbs.
fn max_of(ctx: &mut LayoutCtx, taps: &[AValue], limbs: usize) -> AValue {
    let m_val = taps.iter().map(|a| a.val).max().expect("non-empty window");
    // a dishonest maximum (forgery suite only): the largest tap below it, so the gap to the
    // true maximum turns negative
    let below = taps.iter().map(|a| a.val).filter(|&v| v < m_val).max();
    if let Some(b) = below.filter(|_| cheat::take(cheat::Site::MaxPool)) {
        return max_claimed(ctx, taps, limbs, b);
    }
    max_claimed(ctx, taps, limbs, m_val)
}

/// [`max_of`] with the witness built for the claimed maximum `m_val` (the true one, except in
/// tests of what a dishonest prover could claim).
fn max_claimed(ctx: &mut LayoutCtx, taps: &[AValue], limbs: usize, m_val: i128) -> AValue {
    let (first, rest) = taps.split_first().expect("non-empty window");
    if rest.is_empty() {
        return *first;
    }
    let es: Vec<AValue> = taps.iter().map(|a| ctx.range(m_val - a.val, limbs)).collect();
    let m = ctx.lin(&[(Operand::Cell(*first), 1), (Operand::Cell(es[0]), 1)], 0);
    for (a, e) in rest.iter().zip(&es[1..]) {
        ctx.assert_zero(&[(Operand::Cell(*a), 1), (Operand::Cell(*e), 1), (Operand::Cell(m), -1)], 0);
    }
    let (last, init) = es.split_last().expect("two or more taps");
    let mut p = init[0];
    for e in &init[1..] {
        let (out, _) = ctx.mul_add(Operand::Cell(p), Operand::Cell(*e), &[], 0, true);
        p = out.expect("want_out yields a cell");
    }
    ctx.assert_product_zero(Operand::Cell(p), Operand::Cell(*last), 0);
    m
}

#[cfg(test)]
mod tests {
    use halo2_proofs::dev::MockProver;

    use super::*;
    use crate::layout::circuit::{instance_values, ModelCircuit};
    use crate::layout::ctx::Shape;

    /// A claimed maximum above every tap satisfies every range and linear constraint (all
    /// gaps positive), so only the product of the gaps can reject it; the true maximum passes.
    #[test]
    fn only_a_tap_can_be_the_maximum() {
        for taps in [vec![5i128, -3, 5, 2], vec![-7, -7], vec![0, 1, 2, 3, 4, 5, 6, 7, 8]] {
            let max = *taps.iter().max().expect("taps");
            for (claim, honest) in [(max, true), (max + 1, false), (max + 200, false)] {
                let mut ctx = LayoutCtx::new(Shape::default());
                let cells: Vec<AValue> = taps.iter().map(|&v| ctx.constant(v)).collect();
                let m = max_claimed(&mut ctx, &cells, 2, claim);
                assert_eq!(m.val, claim);
                assert_eq!(ctx.check().is_ok(), honest, "taps {taps:?} claim {claim}: {:?}", ctx.check());
                let inst = instance_values(&ctx);
                let circuit = ModelCircuit { ctx };
                let k = crate::layout::tests::k_for(circuit.rows());
                let res = MockProver::run(k, &circuit, vec![inst]).expect("mock runs").verify();
                assert_eq!(res.is_ok(), honest, "taps {taps:?} claim {claim}");
            }
        }
    }
}
