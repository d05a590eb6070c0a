//! A dense row-major integer tensor: the value type of the reference executor.

use serde::{Deserialize, Serialize};

/// Row-major tensor of integers. Quantized activations, accumulators and weights all use it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<i64>,
}

impl Tensor {
    /// A tensor from its shape and data; `None` if the lengths disagree.
    pub fn new(shape: Vec<usize>, data: Vec<i64>) -> Option<Self> {
        (numel(&shape) == data.len()).then_some(Tensor { shape, data })
    }

    pub fn filled(shape: Vec<usize>, value: i64) -> Self {
        let n = numel(&shape);
        Tensor { shape, data: vec![value; n] }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Number of elements of a shape (1 for a scalar).
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Index of the channel (`axis`) of flat element `flat` in a tensor of `shape`.
pub fn channel_of(shape: &[usize], axis: usize, flat: usize) -> usize {
    let st = strides(shape);
    (flat / st[axis]) % shape[axis]
}
