//! The typed integer IR: plain serde data produced by import and consumed by the reference
//! executor ([`crate::exec`]) and the circuit layout ([`crate::layout`]).
//!
//! Every value is a tensor of integers with a static shape and a static bound `[lo, hi]`
//! that holds for every input the circuit accepts. Bounds size the range checks and rule
//! out field overflow, so they are computed conservatively by each op.

pub mod shard;
pub mod split;
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
    /// A shard boundary ([`crate::ir::shard`]): the values stay private; a *salted* Poseidon
    /// digest ([`crate::hash::link_domain`]: a secret random salt, then the packed values) is
    /// the public instance, equal in the shard that makes the tensor and in every shard that
    /// uses it. Set only by sharding, never by a user.
    Linked,
}

impl Visibility {
    pub fn name(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Hashed => "hashed",
            Visibility::Private => "private",
            Visibility::Linked => "linked",
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
    /// The model itself clamps this input into `[lo, hi]` (its first operation is a
    /// QuantizeLinear, which saturates). Out-of-range values are still refused unless the
    /// caller asks to saturate (`--saturate`); the error says so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub saturates: bool,
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

/// A weight tensor held in advice cells instead of the verifying key (weights visibility
/// `public`, `hashed` or `private`, [`WeightVisibility`]). Its bound (in [`Graph::values`]) is
/// a declared range that does not depend on the values, so every weight tensor of this shape
/// within the range gives the same circuit and the same keys; the layout range-checks each
/// value to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    pub name: String,
    pub value: ValueId,
    pub shape: Vec<usize>,
    pub visibility: Visibility,
    /// The quantized values. Never serialized with the graph (a settings file carries no
    /// weights); `zkinfer compile` writes them to a separate weights file.
    #[serde(skip)]
    pub data: Option<Vec<i64>>,
}

/// Where a model's weight (and bias) tensors live, chosen at compile time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightVisibility {
    /// In fixed columns: the verifying key commits to them (one key per set of weights).
    #[default]
    Fixed,
    /// In advice cells, their packed values public instances.
    Public,
    /// In advice cells; their Poseidon digest is the public instance, so one verifying key
    /// serves every set of weights whose digest is published.
    Hashed,
    /// In advice cells; nothing about them is public.
    Private,
}

impl WeightVisibility {
    /// The visibility of weights held as witnesses (`None` for fixed weights).
    pub fn witness(self) -> Option<Visibility> {
        match self {
            WeightVisibility::Fixed => None,
            WeightVisibility::Public => Some(Visibility::Public),
            WeightVisibility::Hashed => Some(Visibility::Hashed),
            WeightVisibility::Private => Some(Visibility::Private),
        }
    }
}

impl std::str::FromStr for WeightVisibility {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "fixed" => Ok(WeightVisibility::Fixed),
            "public" => Ok(WeightVisibility::Public),
            "hashed" => Ok(WeightVisibility::Hashed),
            "private" => Ok(WeightVisibility::Private),
            _ => Err(format!("`{s}` is not a weight visibility (fixed, public, hashed or private)")),
        }
    }
}

impl std::fmt::Display for WeightVisibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WeightVisibility::Fixed => "fixed",
            WeightVisibility::Public => "public",
            WeightVisibility::Hashed => "hashed",
            WeightVisibility::Private => "private",
        })
    }
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
    /// Weight tensors held as witnesses (empty when the weights are fixed), in instance
    /// order after the outputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<ParamSpec>,
    /// What the import wants the user to know about how an ONNX construct is proven (a
    /// ZipMap output is its probabilities tensor, ...); `compile` prints them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
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

    /// Whether some input, output or weight tensor is `hashed` (the circuit then has the
    /// Poseidon gadget).
    pub fn has_hashed(&self) -> bool {
        self.inputs.iter().map(|i| i.visibility).chain(self.outputs.iter().map(|o| o.visibility)).chain(self.params.iter().map(|p| p.visibility)).any(|v| matches!(v, Visibility::Hashed | Visibility::Linked))
    }

    /// Whether the circuit needs the dot-product gate term: witness weights, or a sum of
    /// products of two activations ([`crate::ops::Mul`] with `group > 1`).
    pub fn has_dot(&self) -> bool {
        !self.params.is_empty() || self.nodes.iter().any(|n| matches!(&n.op, crate::ops::Op::Mul(m) if m.group > 1))
    }

    /// Adds a weight tensor held as a witness, range `[lo, hi]`; every value must lie in it.
    pub fn add_param(&mut self, name: &str, shape: Vec<usize>, data: Vec<i64>, lo: i64, hi: i64, visibility: Visibility) -> Result<ValueId> {
        if data.len() != tensor::numel(&shape) {
            return Err(CircuitError::Internal(format!("weight tensor {name}: {} values for shape {shape:?}", data.len())));
        }
        if let Some((index, &v)) = data.iter().enumerate().find(|(_, &v)| v < lo || v > hi) {
            return Err(CircuitError::WeightRange { name: name.into(), index, value: v, lo, hi });
        }
        let value = self.add_value(name, shape.clone(), lo, hi)?;
        self.params.push(ParamSpec { name: name.into(), value, shape, visibility, data: Some(data) });
        Ok(value)
    }

    /// The weight tensors' values, in [`Self::params`] order; an error names one not loaded.
    pub fn param_tensors(&self) -> Result<Vec<Tensor>> {
        self.params
            .iter()
            .map(|p| match &p.data {
                Some(d) => Ok(Tensor { shape: p.shape.clone(), data: d.clone() }),
                None => Err(CircuitError::MissingWeights { name: p.name.clone() }),
            })
            .collect()
    }

    /// Sets every weight tensor without values to zeros: the circuit's structure does not
    /// depend on weight values, so key generation needs none.
    pub fn fill_missing_params(&mut self) {
        for p in &mut self.params {
            if p.data.is_none() {
                p.data = Some(vec![0; tensor::numel(&p.shape)]);
            }
        }
    }

    /// Attaches weight values (in [`Self::params`] order), checking each tensor's size and
    /// declared range.
    pub fn set_params(&mut self, tensors: &[Tensor]) -> Result<()> {
        if tensors.len() != self.params.len() {
            return Err(CircuitError::Internal(format!("{} weight tensors given, the model has {}", tensors.len(), self.params.len())));
        }
        for (p, t) in self.params.iter_mut().zip(tensors) {
            if t.data.len() != tensor::numel(&p.shape) {
                return Err(CircuitError::InputLength { name: p.name.clone(), expected: tensor::numel(&p.shape), got: t.data.len(), shape: p.shape.clone() });
            }
            let info = &self.values[p.value];
            if let Some((index, &v)) = t.data.iter().enumerate().find(|(_, &v)| v < info.lo || v > info.hi) {
                return Err(CircuitError::WeightRange { name: p.name.clone(), index, value: v, lo: info.lo, hi: info.hi });
            }
            p.data = Some(t.data.clone());
        }
        Ok(())
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
