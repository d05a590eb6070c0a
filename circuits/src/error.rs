//! The one error type of the `circuits` crate.

use thiserror::Error;

/// Everything that can go wrong between an ONNX file and a laid-out circuit.
#[derive(Debug, Error)]
pub enum CircuitError {
    #[error("cannot read model file {path}: {source}")]
    Io { path: String, source: std::io::Error },

    #[error("malformed ONNX model: {0}")]
    Malformed(String),

    #[error("unsupported ONNX op `{op}` (node `{node}`){hint}")]
    UnsupportedOp { op: String, node: String, hint: String },

    #[error("unsupported use of `{op}` (node `{node}`): {why}")]
    Unsupported { op: String, node: String, why: String },

    #[error("shape error at node `{node}`: {why}")]
    Shape { node: String, why: String },

    #[error("input `{name}`: expected {expected} values (shape {shape:?}), got {got}")]
    InputLength { name: String, expected: usize, got: usize, shape: Vec<usize> },

    #[error("input `{name}`, element {index}: value {value} is not a finite number")]
    NotFinite { name: String, index: usize, value: f64 },

    #[error("input `{name}`, element {index}: value {value} is outside the representable range [{min}, {max}] of the quantized input{hint}")]
    OutOfRange { name: String, index: usize, value: f64, min: f64, max: f64, hint: &'static str },

    #[error("model expects {expected} input tensor(s), got {got}")]
    InputCount { expected: usize, got: usize },

    #[error("value bound overflow at node `{node}`: |value| may reach 2^{bits}, above the 2^{limit} the circuit supports; lower the fixed-point scale")]
    Overflow { node: String, bits: u32, limit: u32 },

    #[error("circuit needs 2^{needed} rows, more than the maximum k = {max}")]
    TooLarge { needed: u32, max: u32 },

    #[error("no model input or output is named `{name}` (inputs {inputs:?}, outputs {outputs:?})")]
    UnknownTensor { name: String, inputs: Vec<String>, outputs: Vec<String> },

    #[error("weight tensor `{name}`, element {index}: quantized value {value} is outside its declared range [{lo}, {hi}]; compile with a larger --weight-bits")]
    WeightRange { name: String, index: usize, value: i64, lo: i64, hi: i64 },

    #[error("the values of weight tensor `{name}` are not loaded (the weights file of the compiled model is missing)")]
    MissingWeights { name: String },

    #[error("internal invariant violated: {0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, CircuitError>;
