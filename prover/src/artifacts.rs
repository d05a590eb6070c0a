//! Versioned JSON artifacts. Every file has a `format` field (`"<kind>/<version>"`) checked on
//! read; files are written atomically (temporary file + rename).

use std::path::Path;

use halo2_proofs::halo2curves::bn256::Fr;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{ProverError, Result};
use crate::fsutil;
use crate::util::{fr_from_hex, fr_to_hex};
use zkinfer_circuits::exec::dequantize;
use zkinfer_circuits::ir::{Graph, Tensor};
use zkinfer_circuits::public;

/// `format` of a [`ProofFile`].
pub const PROOF_FORMAT: &str = "zkinfer-proof/2";

/// One model input or output, as proven (quantized) and decoded (float).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorValues {
    pub name: String,
    pub shape: Vec<usize>,
    /// The integers the proof attests to (packed into the public instances).
    pub quantized: Vec<i64>,
    /// `(quantized - zero_point) * scale`.
    pub values: Vec<f64>,
}

/// Kept for readers of older code: outputs and inputs share one type.
pub type OutputTensor = TensorValues;

/// A proof with its public instances and the inputs and outputs they encode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProofFile {
    /// Always [`PROOF_FORMAT`].
    pub format: String,
    /// Hex sha256 of the verifying key ([`crate::keys::vk_hash`]): which model and circuit.
    pub model_hash: String,
    /// The circuit has `2^k` rows.
    pub k: u32,
    /// Public instances, each `0x` + 32 bytes big-endian: the binding value (zero unless the
    /// proof is bound to a market job), then the quantized inputs and outputs, packed several
    /// per field element ([`zkinfer_circuits::public`]). The EVM verifier's calldata is these
    /// words followed by the proof.
    pub instances: Vec<String>,
    /// The proof, `0x` + hex. Verifies natively and as calldata to the Solidity verifier.
    pub proof: String,
    pub inputs: Vec<TensorValues>,
    pub outputs: Vec<TensorValues>,
    pub prove_seconds: f64,
}

fn tensor_values(name: &str, shape: &[usize], scale: f64, zp: i64, t: &Tensor) -> TensorValues {
    TensorValues { name: name.into(), shape: shape.to_vec(), quantized: t.data.clone(), values: dequantize(scale, zp, t) }
}

impl ProofFile {
    /// A proof file for `graph` proven for `binding` on quantized `inputs` with `outputs`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(vk_hash: &[u8; 32], k: u32, graph: &Graph, binding: Fr, inputs: &[Tensor], outputs: &[Tensor], proof: &[u8], prove_seconds: f64) -> Result<Self> {
        let instances = public::bound_instances(graph, binding, inputs, outputs).map_err(|why| ProverError::Invalid { what: "public values", why })?;
        Ok(ProofFile {
            format: PROOF_FORMAT.into(),
            model_hash: hex::encode(vk_hash),
            k,
            instances: instances.iter().map(fr_to_hex).collect(),
            proof: format!("0x{}", hex::encode(proof)),
            inputs: graph.inputs.iter().zip(inputs).map(|(s, t)| tensor_values(&s.name, &s.shape, s.scale, s.zero_point, t)).collect(),
            outputs: graph.outputs.iter().zip(outputs).map(|(o, t)| tensor_values(&o.name, &o.shape, o.scale, o.zero_point, t)).collect(),
            prove_seconds,
        })
    }

    /// The public instances as field elements.
    pub fn instances_fr(&self) -> Result<Vec<Fr>> {
        self.instances.iter().map(|s| fr_from_hex(s)).collect()
    }

    /// The binding value (public instance [`public::BINDING`]).
    pub fn binding(&self) -> Result<Fr> {
        let s = self.instances.get(public::BINDING).ok_or(ProverError::Invalid { what: "proof file", why: "no public instances".into() })?;
        fr_from_hex(s)
    }

    /// The proof bytes.
    pub fn proof_bytes(&self) -> Result<Vec<u8>> {
        hex::decode(self.proof.strip_prefix("0x").unwrap_or(&self.proof))
            .map_err(|e| ProverError::Invalid { what: "proof hex", why: e.to_string() })
    }

    /// The model hash as bytes.
    pub fn model_hash_bytes(&self) -> Result<[u8; 32]> {
        let mut h = [0u8; 32];
        hex::decode_to_slice(&self.model_hash, &mut h)
            .map_err(|e| ProverError::Invalid { what: "model_hash", why: format!("expected 64 hex digits: {e}") })?;
        Ok(h)
    }

    /// Checks the fields decode and every tensor has as many values as its shape.
    pub fn validate(&self) -> Result<()> {
        if self.format != PROOF_FORMAT {
            return Err(ProverError::Invalid { what: "proof file", why: format!("format `{}` is not `{PROOF_FORMAT}`", self.format) });
        }
        self.model_hash_bytes()?;
        self.proof_bytes()?;
        self.instances_fr()?;
        self.binding()?;
        for o in self.inputs.iter().chain(&self.outputs) {
            let n: usize = o.shape.iter().product();
            if o.quantized.len() != n || o.values.len() != n {
                return Err(ProverError::Invalid { what: "proof file", why: format!("tensor `{}` does not have shape {:?}", o.name, o.shape) });
            }
        }
        Ok(())
    }

    /// Checks the listed inputs and outputs are exactly what the public instances encode for
    /// `graph`, so the decoded values shown to users are the proven ones.
    pub fn check_against(&self, graph: &Graph) -> Result<()> {
        let t = |v: &[TensorValues]| -> Vec<Tensor> { v.iter().map(|x| Tensor { shape: x.shape.clone(), data: x.quantized.clone() }).collect() };
        let want = public::bound_instances(graph, self.binding()?, &t(&self.inputs), &t(&self.outputs)).map_err(|why| ProverError::Invalid { what: "proof file", why })?;
        if want != self.instances_fr()? {
            return Err(ProverError::Invalid { what: "proof file", why: "the listed inputs/outputs are not the proven public instances".into() });
        }
        Ok(())
    }

    /// Writes the file atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_json(path, self)
    }

    /// Reads and validates a proof file.
    pub fn read(path: &Path) -> Result<Self> {
        let f: ProofFile = read_json(path, PROOF_FORMAT, "zkinfer proof file")?;
        f.validate().map_err(|e| ProverError::corrupt(path, "zkinfer proof file", e.to_string()))?;
        Ok(f)
    }
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| ProverError::Invalid { what: "artifact", why: format!("cannot serialize: {e}") })?;
    bytes.push(b'\n');
    fsutil::write_bytes_atomic(path, &bytes)
}

/// Reads a JSON artifact whose `format` field must equal `format`.
pub fn read_json<T: DeserializeOwned>(path: &Path, format: &str, what: &'static str) -> Result<T> {
    let bytes = fsutil::read(path)?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| ProverError::corrupt(path, what, format!("not valid JSON ({e})")))?;
    match value.get("format").and_then(|f| f.as_str()) {
        Some(f) if f == format => {}
        Some(f) => return Err(ProverError::FormatMismatch { path: path.into(), expected: format.into(), found: f.into() }),
        None => return Err(ProverError::corrupt(path, what, format!("no \"format\" field (expected \"{format}\")"))),
    }
    serde_json::from_value(value).map_err(|e| ProverError::corrupt(path, what, e.to_string()))
}
