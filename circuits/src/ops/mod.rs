//! The closed set of IR operations. Each op lives in its own file with its shape and bound
//! inference, its integer reference semantics (`eval`) and its circuit `layout`.
//! A new op = one file + one variant here.

pub mod conv;
pub mod dense;
pub mod div;
pub mod interp;
pub mod max_pool;
pub mod mul;
pub mod rescale;
pub mod reshape;
pub mod sqrt;
pub mod sum_pool;
pub mod table;
pub mod window;
pub mod wire;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ir::{Graph, Tensor, ValueId};
use crate::layout::{ctx::LayoutCtx, CellTensor};

pub use conv::Conv;
pub use dense::{Dense, WitnessParams};
pub use div::Div;
pub use interp::Interp;
pub use max_pool::MaxPool;
pub use mul::Mul;
pub use sqrt::Sqrt;
pub use table::Table;
pub use wire::{Src, Wire};
pub use rescale::{Rescale, RescaleTerm};
pub use reshape::Reshape;
pub use sum_pool::SumPool;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum Op {
    Dense(Dense),
    Conv(Conv),
    Rescale(Rescale),
    MaxPool(MaxPool),
    SumPool(SumPool),
    Reshape(Reshape),
    Wire(Wire),
    Table(Table),
    Interp(Interp),
    Mul(Mul),
    Div(Div),
    Sqrt(Sqrt),
}

/// Inferred output facts: shape and inclusive bounds.
pub type Facts = (Vec<usize>, i64, i64);

macro_rules! dispatch {
    ($self:expr, $op:ident => $e:expr) => {
        match $self {
            Op::Dense($op) => $e,
            Op::Conv($op) => $e,
            Op::Rescale($op) => $e,
            Op::MaxPool($op) => $e,
            Op::SumPool($op) => $e,
            Op::Reshape($op) => $e,
            Op::Wire($op) => $e,
            Op::Table($op) => $e,
            Op::Interp($op) => $e,
            Op::Mul($op) => $e,
            Op::Div($op) => $e,
            Op::Sqrt($op) => $e,
        }
    };
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::Dense(_) => "Dense",
            Op::Conv(_) => "Conv",
            Op::Rescale(_) => "Rescale",
            Op::MaxPool(_) => "MaxPool",
            Op::SumPool(_) => "SumPool",
            Op::Reshape(_) => "Reshape",
            Op::Wire(_) => "Wire",
            Op::Table(_) => "Table",
            Op::Interp(_) => "Interp",
            Op::Mul(_) => "Mul",
            Op::Div(_) => "Div",
            Op::Sqrt(_) => "Sqrt",
        }
    }

    pub fn inputs(&self) -> Vec<ValueId> {
        dispatch!(self, op => op.inputs())
    }

    /// Multiply-accumulates this op performs (non-zero weights), for cost reports.
    pub fn macs(&self, g: &Graph) -> usize {
        match self {
            Op::Dense(d) => {
                let rows = crate::ir::tensor::numel(&g.info(d.input).shape) / d.weight.shape[1].max(1);
                // witness weights are all multiplied, zero or not
                let used = if d.params.is_some() { crate::ir::tensor::numel(&d.weight.shape) } else { d.weight.data.iter().filter(|&&w| w != 0).count() };
                rows * used
            }
            Op::Conv(c) => {
                // every non-zero weight is used once per output position (padding taps,
                // skipped in the circuit, make this an upper bound)
                let x = &g.info(c.input).shape;
                let positions = c.window.out_hw(x[2], x[3]).map_or(0, |(h, w)| x[0] * h * w);
                let used = if c.params.is_some() { crate::ir::tensor::numel(&c.weight.shape) } else { c.weight.data.iter().filter(|&&w| w != 0).count() };
                positions * used
            }
            _ => 0,
        }
    }

    pub fn infer(&self, g: &Graph, node: &str) -> Result<Facts> {
        dispatch!(self, op => op.infer(g, node))
    }

    pub fn eval(&self, inputs: &[&Tensor]) -> Tensor {
        dispatch!(self, op => op.eval(inputs))
    }

    pub fn layout(&self, ctx: &mut LayoutCtx, g: &Graph, inputs: &[&CellTensor]) -> CellTensor {
        dispatch!(self, op => op.layout(ctx, g, inputs))
    }
}

/// Interval of `Σ w_i·x_i + c` for x_i in [lo, hi].
pub(crate) fn dot_bounds(weights: impl Iterator<Item = i64>, lo: i64, hi: i64, c: i64) -> (i128, i128) {
    let (mut a, mut b) = (c as i128, c as i128);
    for w in weights {
        let (p, q) = (w as i128 * lo as i128, w as i128 * hi as i128);
        a += p.min(q);
        b += p.max(q);
    }
    (a, b)
}

/// Clamps an i128 bound interval into i64 (the graph rejects bounds above 2^48 anyway).
pub(crate) fn to_i64_bounds((a, b): (i128, i128)) -> (i64, i64) {
    let c = |v: i128| v.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    (c(a), c(b))
}
