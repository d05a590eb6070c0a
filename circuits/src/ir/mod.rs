//! The typed integer IR: plain serde data produced by import and consumed by the reference
//! executor ([`crate::exec`]) and the circuit layout ([`crate::layout`]).
//!
//! Every value is a tensor of integers with a static shape and a static bound `[lo, hi]`
//! that holds for every input the circuit accepts. Bounds size the range checks and rule
//! out field overflow, so they are computed conservatively by each op.

pub mod tensor;

use serde::{Deserialize, Serialize};

pub use tensor::Tensor;

use crate::error::{CircuitError, Result};
use crate::ops::Op;

/// Index of a value (tensor) in [`Graph::values`].
pub type ValueId = usize;

/// Largest |bound| any value may have: keeps every product the layout forms far below the
/// BN254 scalar field modulus (~2^254), with room for 2^40 multipliers.
pub const MAX_VALUE_BITS: u32 = 48;

/// Static facts about one value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValueInfo {
    /// Name of the ONNX value it came from (for error messages).
    pub name: String,
    pub shape: Vec<usize>,
    /// Inclusive bounds holding for every accepted input.
    pub lo: i64,
    pub hi: i64,
}

/// One operation producing one value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub op: Op,
    pub output: ValueId,
}

/// What a proof reveals of a model input or output tensor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// The quantized values are public instances (packed, [`crate::public`]).
    #[default]
    Public,
    /// The values stay private; their Poseidon digest ([`crate::hash::tensor_digest`]),
    /// computed in the circuit, is the public instance.
    Hashed,
    /// The values stay private and nothing about them is public.
    Private,
}

impl Visibility {
    pub fn name(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Hashed => "hashed",
            Visibility::Private => "private",
        }
    }
}

impl std::str::FromStr for Visibility {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "public" => Ok(Visibility::Public),
            "hashed" => Ok(Visibility::Hashed),
            "private" => Ok(Visibility::Private),
            _ => Err(format!("`{s}` is not a visibility (public, hashed or private)")),
        }
    }
}

impl std::fmt::Display for Visibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a float model input is turned into the integers the circuit sees.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    pub name: String,
    pub value: ValueId,
    /// Shape declared by the ONNX model.
    pub shape: Vec<usize>,
    /// q = round_half_even(x / scale) + zero_point, which must lie in [lo, hi].
    pub scale: f64,
    pub zero_point: i64,
    pub lo: i64,
    pub hi: i64,
    #[serde(default)]
    pub visibility: Visibility,
}

/// How an output value is decoded back to floats: x = (q - zero_point) * scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputSpec {
    pub name: String,
    pub value: ValueId,
    pub shape: Vec<usize>,
    pub scale: f64,
    pub zero_point: i64,
    #[serde(default)]
    pub visibility: Visibility,
}

/// A whole model in integer form.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub values: Vec<ValueInfo>,
    /// Topologically ordered.
    pub nodes: Vec<Node>,
    pub inputs: Vec<InputSpec>,
    pub outputs: Vec<OutputSpec>,
    /// Values whose real range calibration measures (inputs of function tables and
    /// divisors, before any clamping to a calibrated range).
    #[serde(default)]
    pub probes: Vec<Probe>,
}

/// A value to observe during calibration: real = (q - zero_point)·scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub name: String,
    pub value: ValueId,
    pub scale: f64,
    pub zero_point: i64,
}

impl Graph {
    /// Adds a value with the given facts, checking its bound is supported.
    pub fn add_value(&mut self, name: &str, shape: Vec<usize>, lo: i64, hi: i64) -> Result<ValueId> {
        let bits = bound_bits(lo, hi);
        if bits > MAX_VALUE_BITS {
            return Err(CircuitError::Overflow { node: name.to_string(), bits, limit: MAX_VALUE_BITS });
        }
        self.values.push(ValueInfo { name: name.to_string(), shape, lo, hi });
        Ok(self.values.len() - 1)
    }

    /// Appends `op`, inferring its output shape and bound.
    pub fn add_node(&mut self, name: &str, op: Op) -> Result<ValueId> {
        let (shape, lo, hi) = op.infer(self, name)?;
        let output = self.add_value(name, shape, lo, hi)?;
        self.nodes.push(Node { op, output });
        Ok(output)
    }

    pub fn info(&self, v: ValueId) -> &ValueInfo {
        &self.values[v]
    }

    /// Whether some input or output is `hashed` (the circuit then has the Poseidon gadget).
    pub fn has_hashed(&self) -> bool {
        self.inputs.iter().map(|i| i.visibility).chain(self.outputs.iter().map(|o| o.visibility)).any(|v| v == Visibility::Hashed)
    }

    /// Number of public instances (packed inputs then packed outputs).
    pub fn num_instances(&self) -> usize {
        crate::public::num_instances(self)
    }
}

/// Bits needed for the magnitude of any value in [lo, hi].
pub fn bound_bits(lo: i64, hi: i64) -> u32 {
    let m = lo.unsigned_abs().max(hi.unsigned_abs());
    64 - m.leading_zeros()
}
