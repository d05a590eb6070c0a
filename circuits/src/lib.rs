//! zkinfer circuits: ONNX import -> typed integer IR -> integer reference executor and
//! halo2 circuit layout.
//!
//! Data flows one way: [`onnx`] reads a model into an [`ir::Graph`]; [`exec`] evaluates it
//! on integers (the definition of the proven output); [`layout`] lays it out as a halo2
//! circuit whose public instances are the quantized inputs and outputs.

pub mod error;
pub mod exec;
pub mod hash;
pub mod ir;
pub mod layout;
pub mod onnx;
pub mod ops;
pub mod public;

pub use error::{CircuitError, Result};
