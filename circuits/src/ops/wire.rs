//! Wire: every output element is an element of one of the inputs, or a constant. Concat,
//! Slice, Split, Gather (constant indices), Transpose, Pad, Expand, Tile, Trilu, Resize
//! (nearest), DepthToSpace... all lower to this one op. It costs no constraints beyond one
//! constant cell per distinct constant: outputs are the input cells themselves.

use serde::{Deserialize, Serialize};

use super::Facts;
use crate::error::{CircuitError, Result};
use crate::ir::tensor::numel;
use crate::ir::{Graph, Tensor, ValueId};
use crate::layout::ctx::{AValue, LayoutCtx};
use crate::layout::CellTensor;

/// Where one output element comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Src {
    /// (input number, flat index in that input)
    In(u32, u32),
    Const(i64),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Wire {
    pub inputs: Vec<ValueId>,
    pub shape: Vec<usize>,
    pub src: Vec<Src>,
}

impl Wire {
    pub fn inputs(&self) -> Vec<ValueId> {
        self.inputs.clone()
    }

    pub fn infer(&self, g: &Graph, node: &str) -> Result<Facts> {
        let bad = |why: String| CircuitError::Shape { node: node.into(), why };
        if numel(&self.shape) != self.src.len() {
            return Err(bad(format!("{} sources for shape {:?}", self.src.len(), self.shape)));
        }
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for s in &self.src {
            let (a, b) = match *s {
                Src::In(t, i) => {
                    let v = *self.inputs.get(t as usize).ok_or_else(|| bad(format!("input {t} does not exist")))?;
                    let info = g.info(v);
                    if i as usize >= numel(&info.shape) {
                        return Err(bad(format!("index {i} outside input {t} of shape {:?}", info.shape)));
                    }
                    (info.lo, info.hi)
                }
                Src::Const(c) => (c, c),
            };
            lo = lo.min(a);
            hi = hi.max(b);
        }
        if self.src.is_empty() {
            (lo, hi) = (0, 0);
        }
        Ok((self.shape.clone(), lo, hi))
    }

    pub fn eval(&self, inputs: &[&Tensor]) -> Tensor {
        let data = self
            .src
            .iter()
            .map(|s| match *s {
                Src::In(t, i) => inputs[t as usize].data[i as usize],
                Src::Const(c) => c,
            })
            .collect();
        Tensor { shape: self.shape.clone(), data }
    }

    pub fn layout(&self, ctx: &mut LayoutCtx, _g: &Graph, inputs: &[&CellTensor]) -> CellTensor {
        let mut consts: Vec<(i64, AValue)> = Vec::new();
        let cells = self
            .src
            .iter()
            .map(|s| match *s {
                Src::In(t, i) => inputs[t as usize].cells[i as usize],
                Src::Const(c) => match consts.iter().find(|(v, _)| *v == c) {
                    Some((_, a)) => *a,
                    None => {
                        let a = ctx.constant(c as i128);
                        consts.push((c, a));
                        a
                    }
                },
            })
            .collect();
        CellTensor { shape: self.shape.clone(), cells }
    }
}
