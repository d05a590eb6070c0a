//! Versioned JSON artifacts. Every file has a `format` field (`"<kind>/<version>"`) checked on
//! read; files are written atomically (temporary file + rename).

use std::path::Path;

use halo2_proofs::halo2curves::bn256::Fr;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{ProverError, Result};
use crate::fsutil;
use crate::util::{fr_from_hex, fr_from_i64, fr_to_hex};

/// `format` of a [`ProofFile`].
pub const PROOF_FORMAT: &str = "zkinfer-proof/1";

/// One model output, as proven (quantized) and decoded (float).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputTensor {
    pub name: String,
    pub shape: Vec<usize>,
    /// The integers the proof attests to (the last public instances).
    pub quantized: Vec<i64>,
    /// `(quantized - zero_point) * scale`.
    pub values: Vec<f64>,
}

/// A proof with its public instances and decoded outputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProofFile {
    /// Always [`PROOF_FORMAT`].
    pub format: String,
    /// Hex sha256 of the verifying key ([`crate::keys::vk_hash`]): which model and circuit.
    pub model_hash: String,
    /// The circuit has `2^k` rows.
    pub k: u32,
    /// Public instances (quantized inputs then outputs), each `0x` + 32 bytes big-endian.
    pub instances: Vec<String>,
    /// The proof, `0x` + hex. Verifies natively and as calldata to the Solidity verifier.
    pub proof: String,
    pub outputs: Vec<OutputTensor>,
    pub prove_seconds: f64,
}

impl ProofFile {
    pub fn new(vk_hash: &[u8; 32], k: u32, instances: &[Fr], proof: &[u8], outputs: Vec<OutputTensor>, prove_seconds: f64) -> Self {
        ProofFile {
            format: PROOF_FORMAT.into(),
            model_hash: hex::encode(vk_hash),
            k,
            instances: instances.iter().map(fr_to_hex).collect(),
            proof: format!("0x{}", hex::encode(proof)),
            outputs,
            prove_seconds,
        }
    }

    /// The public instances as field elements.
    pub fn instances_fr(&self) -> Result<Vec<Fr>> {
        self.instances.iter().map(|s| fr_from_hex(s)).collect()
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

    /// Checks the fields decode and the outputs are the last public instances.
    pub fn validate(&self) -> Result<()> {
        if self.format != PROOF_FORMAT {
            return Err(ProverError::Invalid { what: "proof file", why: format!("format `{}` is not `{PROOF_FORMAT}`", self.format) });
        }
        self.model_hash_bytes()?;
        self.proof_bytes()?;
        let inst = self.instances_fr()?;
        let outs: Vec<Fr> = self.outputs.iter().flat_map(|o| o.quantized.iter().map(|&q| fr_from_i64(q))).collect();
        if !inst.ends_with(&outs) {
            return Err(ProverError::Invalid { what: "proof file", why: "the listed outputs are not the proven public instances".into() });
        }
        for o in &self.outputs {
            let n: usize = o.shape.iter().product();
            if o.quantized.len() != n || o.values.len() != n {
                return Err(ProverError::Invalid { what: "proof file", why: format!("output `{}` does not have shape {:?}", o.name, o.shape) });
            }
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
