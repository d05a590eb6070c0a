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
use zkinfer_circuits::ir::{Graph, Tensor, Visibility};
use zkinfer_circuits::public;

/// `format` of a [`ProofFile`].
pub const PROOF_FORMAT: &str = "zkinfer-proof/3";

/// One model input or output, as proven (quantized) and decoded (float). A `hashed` tensor
/// lists only its digest and a `private` one nothing: the proof file is what a prover hands
/// out, so it never carries their values (`zkinfer prove` writes those to a separate file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorValues {
    pub name: String,
    pub shape: Vec<usize>,
    #[serde(default)]
    pub visibility: Visibility,
    /// The Poseidon digest of a hashed tensor (`0x` + 32 bytes big-endian), a public instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The integers the proof attests to (packed into the public instances); empty unless
    /// public.
    pub quantized: Vec<i64>,
    /// `(quantized - zero_point) * scale`; empty unless public.
    pub values: Vec<f64>,
}

impl TensorValues {
    /// What the public instances hold of this tensor.
    pub fn revealed(&self) -> Result<public::Revealed<'_>> {
        Ok(match self.visibility {
            Visibility::Public => public::Revealed::Values(&self.quantized),
            Visibility::Hashed | Visibility::Linked => {
                let d = self.digest.as_deref().ok_or_else(|| ProverError::Invalid { what: "proof file", why: format!("hashed tensor `{}` has no digest", self.name) })?;
                public::Revealed::Digest(fr_from_hex(d)?)
            }
            Visibility::Private => public::Revealed::Nothing,
        })
    }
}

/// Kept for readers of older code: outputs and inputs share one type.
pub type OutputTensor = TensorValues;

/// A proof with its public instances and the inputs and outputs they encode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProofFile {
    /// Always [`PROOF_FORMAT`].
    pub format: String,
    /// The model identity ([`crate::identity::model_id`], hex): which model and circuit.
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
    /// Witness weight tensors (weights visibility public/hashed/private; empty when the
    /// weights are fixed in the verifying key): a public one lists its quantized integers
    /// (`values` stays empty), a hashed one its digest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weights: Vec<TensorValues>,
    pub prove_seconds: f64,
    /// A sharded model's proof: one proof per shard, in order (`proof` is then empty, and
    /// `instances` are the model's as a single circuit would expose them; [`crate::linked`]
    /// says how they fit the shards').
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardProof>,
}

/// One shard's proof within a sharded [`ProofFile`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardProof {
    /// The shard's own identity ([`crate::identity::model_id`] of its key and graph, hex).
    pub model_hash: String,
    pub k: u32,
    /// Its public instances (`0x` + 32 bytes big-endian): the binding, its inputs' and
    /// outputs' values or digests, the link digests.
    pub instances: Vec<String>,
    pub proof: String,
    pub prove_seconds: f64,
}

impl ShardProof {
    pub fn instances_fr(&self) -> Result<Vec<Fr>> {
        self.instances.iter().map(|s| fr_from_hex(s)).collect()
    }

    pub fn proof_bytes(&self) -> Result<Vec<u8>> {
        hex::decode(self.proof.strip_prefix("0x").unwrap_or(&self.proof)).map_err(|e| ProverError::Invalid { what: "shard proof hex", why: e.to_string() })
    }
}

/// All of a tensor (what the prover keeps), or its public part (what the proof file shows).
fn tensor_values(name: &str, shape: &[usize], scale: f64, zp: i64, vis: Visibility, t: &Tensor, r: Option<&public::Revealed<'_>>) -> TensorValues {
    let all = TensorValues { name: name.into(), shape: shape.to_vec(), visibility: vis, digest: None, quantized: t.data.clone(), values: dequantize(scale, zp, t) };
    match r {
        None | Some(public::Revealed::Values(_)) => all,
        Some(public::Revealed::Digest(d)) => TensorValues { digest: Some(fr_to_hex(d)), quantized: vec![], values: vec![], ..all },
        Some(public::Revealed::Nothing) => TensorValues { quantized: vec![], values: vec![], ..all },
    }
}

/// The values of a proof's hashed and private tensors: what the prover keeps (and may hand
/// to whoever should see them, who can check a digest with `zkinfer hash`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrivateValues {
    /// Always [`PRIVATE_FORMAT`].
    pub format: String,
    pub model_hash: String,
    pub inputs: Vec<TensorValues>,
    pub outputs: Vec<TensorValues>,
}

/// `format` of a [`PrivateValues`] file.
pub const PRIVATE_FORMAT: &str = "zkinfer-private/1";

impl PrivateValues {
    /// The non-public tensors of a proof on `inputs` with `outputs` (`None` when every tensor
    /// is public).
    pub fn new(vk_hash: &[u8; 32], graph: &Graph, inputs: &[Tensor], outputs: &[Tensor]) -> Option<Self> {
        let pick = |vis: Visibility| vis != Visibility::Public;
        let ins: Vec<_> = graph.inputs.iter().zip(inputs).filter(|(s, _)| pick(s.visibility)).map(|(s, t)| tensor_values(&s.name, &s.shape, s.scale, s.zero_point, s.visibility, t, None)).collect();
        let outs: Vec<_> = graph.outputs.iter().zip(outputs).filter(|(o, _)| pick(o.visibility)).map(|(o, t)| tensor_values(&o.name, &o.shape, o.scale, o.zero_point, o.visibility, t, None)).collect();
        (!ins.is_empty() || !outs.is_empty()).then(|| PrivateValues { format: PRIVATE_FORMAT.into(), model_hash: hex::encode(vk_hash), inputs: ins, outputs: outs })
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        write_json(path, self)
    }

    pub fn read(path: &Path) -> Result<Self> {
        read_json(path, PRIVATE_FORMAT, "zkinfer private values file")
    }
}

impl ProofFile {
    /// A proof file for `graph` proven for `binding` on quantized `inputs` with `outputs`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(vk_hash: &[u8; 32], k: u32, graph: &Graph, binding: Fr, inputs: &[Tensor], outputs: &[Tensor], proof: &[u8], prove_seconds: f64) -> Result<Self> {
        let invalid = |why| ProverError::Invalid { what: "public values", why };
        let revealed = public::revealed(graph, inputs, outputs).map_err(invalid)?;
        let instances = public::instances_of(graph, binding, &revealed).map_err(invalid)?;
        let (r_in, rest) = revealed.split_at(graph.inputs.len());
        let (r_out, r_w) = rest.split_at(graph.outputs.len());
        let weights = graph
            .params
            .iter()
            .zip(r_w)
            .map(|(p, r)| {
                let quantized = match r {
                    public::Revealed::Values(v) => v.to_vec(),
                    _ => vec![],
                };
                let digest = match r {
                    public::Revealed::Digest(d) => Some(fr_to_hex(d)),
                    _ => None,
                };
                TensorValues { name: p.name.clone(), shape: p.shape.clone(), visibility: p.visibility, digest, quantized, values: vec![] }
            })
            .collect();
        Ok(ProofFile {
            format: PROOF_FORMAT.into(),
            model_hash: hex::encode(vk_hash),
            k,
            instances: instances.iter().map(fr_to_hex).collect(),
            proof: format!("0x{}", hex::encode(proof)),
            inputs: graph.inputs.iter().zip(inputs).zip(r_in).map(|((s, t), r)| tensor_values(&s.name, &s.shape, s.scale, s.zero_point, s.visibility, t, Some(r))).collect(),
            outputs: graph.outputs.iter().zip(outputs).zip(r_out).map(|((o, t), r)| tensor_values(&o.name, &o.shape, o.scale, o.zero_point, o.visibility, t, Some(r))).collect(),
            weights,
            prove_seconds,
            shards: vec![],
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
            let bad = |why: String| Err(ProverError::Invalid { what: "proof file", why });
            match o.visibility {
                Visibility::Public if o.quantized.len() != n || o.values.len() != n => return bad(format!("tensor `{}` does not have shape {:?}", o.name, o.shape)),
                Visibility::Hashed | Visibility::Private | Visibility::Linked if !o.quantized.is_empty() || !o.values.is_empty() => {
                    return bad(format!("{} tensor `{}` lists values: a proof file never carries them", o.visibility, o.name))
                }
                _ => {}
            }
            if matches!(o.visibility, Visibility::Hashed | Visibility::Linked) != o.digest.is_some() {
                return bad(format!("tensor `{}` is {}: a digest goes with hashed tensors only", o.name, o.visibility));
            }
            o.revealed()?;
        }
        for w in &self.weights {
            let n: usize = w.shape.iter().product();
            let bad = |why: String| Err(ProverError::Invalid { what: "proof file", why });
            let want = if w.visibility == Visibility::Public { n } else { 0 };
            if w.quantized.len() != want || !w.values.is_empty() {
                return bad(format!("weight tensor `{}` ({}) lists {} values, expected {want}", w.name, w.visibility, w.quantized.len() + w.values.len()));
            }
            if (w.visibility == Visibility::Hashed) != w.digest.is_some() {
                return bad(format!("weight tensor `{}` is {}: a digest goes with hashed tensors only", w.name, w.visibility));
            }
            w.revealed()?;
        }
        Ok(())
    }

    /// Checks the listed inputs and outputs are exactly what the public instances encode for
    /// `graph`, so the decoded values shown to users are the proven ones.
    pub fn check_against(&self, graph: &Graph) -> Result<()> {
        let invalid = |why| ProverError::Invalid { what: "proof file", why };
        // (name, visibility, shape, scale, zero point) of each input, then each output
        let specs = graph.inputs.iter().map(|s| (&s.name, s.visibility, &s.shape, s.scale, s.zero_point)).chain(graph.outputs.iter().map(|o| (&o.name, o.visibility, &o.shape, o.scale, o.zero_point)));
        let listed: Vec<&TensorValues> = self.inputs.iter().chain(&self.outputs).collect();
        if listed.len() != graph.inputs.len() + graph.outputs.len() || self.inputs.len() != graph.inputs.len() {
            return Err(invalid(format!("the file lists {} inputs and {} outputs, the model has {} and {}", self.inputs.len(), self.outputs.len(), graph.inputs.len(), graph.outputs.len())));
        }
        for ((name, vis, shape, scale, zp), t) in specs.zip(&listed) {
            if &t.name != name || t.visibility != vis {
                return Err(invalid(format!("the file lists `{}` ({}) where the model has `{name}` ({vis})", t.name, t.visibility)));
            }
            if &t.shape != shape {
                return Err(invalid(format!("tensor `{name}` is listed with shape {:?}, the model's is {shape:?}", t.shape)));
            }
            // the decoded values shown must be the proven integers, decoded
            if vis == Visibility::Public && t.values != dequantize(scale, zp, &Tensor { shape: shape.clone(), data: t.quantized.clone() }) {
                return Err(invalid(format!("the decoded values of `{name}` are not its proven quantized values")));
            }
        }
        if self.weights.len() != graph.params.len() {
            return Err(invalid(format!("the file lists {} weight tensors, the model has {}", self.weights.len(), graph.params.len())));
        }
        for (p, w) in graph.params.iter().zip(&self.weights) {
            if w.name != p.name || w.visibility != p.visibility || w.shape != p.shape {
                return Err(invalid(format!("the file lists weights `{}` ({}, {:?}) where the model has `{}` ({}, {:?})", w.name, w.visibility, w.shape, p.name, p.visibility, p.shape)));
            }
        }
        let revealed = listed.iter().copied().chain(&self.weights).map(|t| t.revealed()).collect::<Result<Vec<_>>>()?;
        let want = public::instances_of(graph, self.binding()?, &revealed).map_err(invalid)?;
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
