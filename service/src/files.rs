//! The files of a compiled-model directory and their versioned JSON formats.
//!
//! ```text
//! OUT/settings.json   compiled circuit: IR graph, layout shape, k   (zkinfer-settings/2)
//! OUT/pk.bin OUT/vk.bin   keys (headers checked on load)
//! OUT/weights.json    witness weights (weights visibility public/hashed/private only):
//!                     the prover's, never needed to verify          (zkinfer-weights/1)
//! OUT/proof.json      proof, public instances, decoded outputs      (zkinfer-proof/3)
//! OUT/Verifier.sol OUT/verifier.json   EVM verifier source and bytecode
//! ```

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use zkinfer_circuits::ir::{Graph, Tensor};
use zkinfer_circuits::layout::ctx::Shape;
use zkinfer_circuits::onnx::ImportOptions;

/// Version 2: circuits with the binding instance (public instance 0).
pub const SETTINGS_FORMAT: &str = "zkinfer-settings/2";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    pub format: String,
    pub model: String,
    pub model_sha256: String,
    pub options: ImportOptions,
    pub shape: Shape,
    pub k: u32,
    pub rows: usize,
    pub num_instances: usize,
    /// Set by `zkinfer calibrate`: how the options were chosen and the error they gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// keccak256 of the witness weight tensors' public instances (32-byte big-endian words:
    /// packed values, or one Poseidon digest per hashed tensor), as `ModelRegistry.paramsHash`
    /// stores it: which weights the model owner compiled. `zkinfer verify` accepts a proof
    /// only with these weights (or the digests given with `--expect`). Absent for fixed
    /// weights (the verifying key commits to them) and private ones (nothing pins them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_hash: Option<String>,
    /// The cost model's prediction for the chosen shape (absent in older settings files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    pub graph: Graph,
}

/// What the cost model ([`zkinfer_prover::cost`]) predicts for a compiled circuit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cost {
    pub counts: zkinfer_prover::cost::Counts,
    /// `2^k`-point MSMs and extended-domain polynomials the prover computes.
    pub msms: usize,
    pub ext_polys: usize,
    /// Predicted proving time on the reference 2-core machine, seconds.
    pub prove_seconds: f64,
    /// Predicted deployed size of the Solidity verifier, bytes.
    pub verifier_bytes: usize,
    /// Predicted gas of one EVM verification of a direct proof (the whole transaction;
    /// 0 in settings written before it was predicted).
    #[serde(default)]
    pub verify_gas: u64,
}

impl Cost {
    pub fn of(circuit: &zkinfer_circuits::layout::circuit::ModelCircuit, k: u32, public_values: usize) -> Cost {
        Cost::of_counts(zkinfer_prover::cost::Counts::of(circuit, k), public_values)
    }

    pub fn of_counts(counts: zkinfer_prover::cost::Counts, public_values: usize) -> Cost {
        Cost { counts, msms: counts.msms(), ext_polys: counts.ext_polys(), prove_seconds: counts.prove_seconds(), verifier_bytes: counts.verifier_bytes(public_values), verify_gas: counts.verify_gas(public_values) }
    }
}

/// The outcome of `zkinfer calibrate`, kept in the settings file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Calibration {
    pub target: String,
    pub input: String,
    /// Where the reference outputs came from (onnxruntime, or the input file's output_data).
    pub reference: String,
    pub scale_bits: u32,
    pub max_abs_error: f64,
    pub tolerance: f64,
}

pub struct Workdir(pub PathBuf);

impl Workdir {
    pub fn settings(&self) -> PathBuf {
        self.0.join("settings.json")
    }
    pub fn pk(&self) -> PathBuf {
        self.0.join("pk.bin")
    }
    pub fn vk(&self) -> PathBuf {
        self.0.join("vk.bin")
    }
    pub fn proof(&self) -> PathBuf {
        self.0.join("proof.json")
    }
    pub fn sol(&self) -> PathBuf {
        self.0.join("Verifier.sol")
    }
    pub fn verifier(&self) -> PathBuf {
        self.0.join("verifier.json")
    }
    /// Where each input and output lies among the public instances and how to decode it
    /// (written by `evm-verifier`; docs/instances.md).
    pub fn instance_layout(&self) -> PathBuf {
        self.0.join("instances.json")
    }

    /// The shard plan of `compile --max-k | --shards` (`shards.json`).
    pub fn shard_plan(&self) -> PathBuf {
        self.0.join("shards.json")
    }
    /// The directory of shard `i` of a sharded model (settings and keys, [`crate::sharding`]).
    pub fn shard(&self, i: usize) -> Workdir {
        Workdir(self.0.join("shards").join(i.to_string()))
    }

    pub fn weights(&self) -> PathBuf {
        self.0.join("weights.json")
    }

    /// Reads the settings, with the witness weights attached when the weights file is there
    /// (a verifier's copy of the directory has none, and needs none).
    pub fn load_settings(&self) -> Result<Settings> {
        let p = self.settings();
        let mut s: Settings = read_json(&p).with_context(|| format!("run `zkinfer compile MODEL -o {}` first", self.0.display()))?;
        if s.format != SETTINGS_FORMAT {
            bail!("{}: format `{}` is not {SETTINGS_FORMAT}; recompile the model", p.display(), s.format);
        }
        if !s.graph.params.is_empty() && self.weights().exists() {
            let w = WeightsFile::read(&self.weights())?;
            w.attach(&mut s.graph).with_context(|| format!("{} does not fit the model in {}", self.weights().display(), p.display()))?;
        }
        Ok(s)
    }

    /// Writes the settings, and the witness weights (when the model has them) to their own
    /// file.
    pub fn write_settings(&self, s: &Settings) -> Result<()> {
        if !s.graph.params.is_empty() {
            write_json(&self.weights(), &WeightsFile::of(&s.graph)?)?;
        }
        write_json(&self.settings(), s)
    }
}

/// keccak256 of field elements as 32-byte big-endian words: Solidity's
/// `keccak256(abi.encodePacked(uint256[]))` of them.
pub fn words_hash(words: &[zkinfer_prover::Fr]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(32 * words.len());
    for w in words {
        buf.extend(zkinfer_prover::util::fr_to_be_bytes(w));
    }
    alloy_primitives::keccak256(&buf).0
}

/// [`Settings::weights_hash`] of a graph whose witness weights are loaded (`None` when they
/// are fixed or private).
pub fn weights_hash(g: &Graph) -> Result<Option<String>> {
    if g.params.iter().all(|p| p.visibility == zkinfer_circuits::ir::Visibility::Private) {
        return Ok(None);
    }
    let words = zkinfer_circuits::public::param_instances(g).map_err(anyhow::Error::msg)?;
    Ok(Some(format!("0x{}", hex::encode(words_hash(&words)))))
}

/// `format` of a [`WeightsFile`].
pub const WEIGHTS_FORMAT: &str = "zkinfer-weights/1";

/// The quantized witness weight tensors of a model ([`zkinfer_circuits::ir::Graph::params`]),
/// kept apart from the settings: whoever verifies needs the settings but never the weights.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WeightsFile {
    pub format: String,
    pub tensors: Vec<WeightTensor>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WeightTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub quantized: Vec<i64>,
}

impl WeightsFile {
    /// The weights of `g` (all must be loaded).
    pub fn of(g: &Graph) -> Result<Self> {
        let ts = g.param_tensors()?;
        Ok(WeightsFile { format: WEIGHTS_FORMAT.into(), tensors: g.params.iter().zip(ts).map(|(p, t)| WeightTensor { name: p.name.clone(), shape: t.shape, quantized: t.data }).collect() })
    }

    pub fn read(p: &Path) -> Result<Self> {
        let w: WeightsFile = read_json(p)?;
        if w.format != WEIGHTS_FORMAT {
            bail!("{}: format `{}` is not {WEIGHTS_FORMAT}", p.display(), w.format);
        }
        Ok(w)
    }

    /// Sets `g`'s weights from this file, checking names, shapes and declared ranges.
    pub fn attach(&self, g: &mut Graph) -> Result<()> {
        if self.tensors.len() != g.params.len() {
            bail!("it has {} weight tensors, the model {}", self.tensors.len(), g.params.len());
        }
        for (t, p) in self.tensors.iter().zip(&g.params) {
            if t.name != p.name || t.shape != p.shape {
                bail!("it has tensor `{}` {:?} where the model has `{}` {:?}", t.name, t.shape, p.name, p.shape);
            }
        }
        let ts: Vec<Tensor> = self.tensors.iter().map(|t| Tensor { shape: t.shape.clone(), data: t.quantized.clone() }).collect();
        g.set_params(&ts)?;
        Ok(())
    }
}

pub fn read_json<T: for<'de> Deserialize<'de>>(p: &Path) -> Result<T> {
    let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a valid file of this kind (corrupt or wrong version)", p.display()))
}

/// Writes JSON atomically (temporary file + rename), so a crash never leaves half a file.
pub fn write_json<T: Serialize>(p: &Path, v: &T) -> Result<()> {
    ensure_parent(p)?;
    Ok(zkinfer_prover::artifacts::write_json(p, v)?)
}

fn ensure_parent(p: &Path) -> Result<()> {
    if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    Ok(())
}

/// Writes bytes atomically and durably (unique temporary file, fsync, rename): concurrent
/// writers never see each other's half-written files, and a crash leaves the old or the new
/// content.
pub fn write_atomic(p: &Path, bytes: &[u8]) -> Result<()> {
    ensure_parent(p)?;
    Ok(zkinfer_prover::fsutil::write_bytes_atomic(p, bytes)?)
}

/// Reads an EZKL-style input file: `{"input_data": [[...], ...]}`, one flat list per input
/// (numbers, or booleans read as 0/1; other keys are skipped). The lists are parsed straight
/// into `f64` vectors, without a JSON tree in between (8 bytes per value instead of ~40), so
/// large tensors cost little more than their values; errors name the offending entry.
pub fn read_inputs(p: &Path) -> Result<Vec<Vec<f64>>> {
    let text = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
    let mut de = serde_json::Deserializer::from_slice(&text);
    let file = input_json::File::deserialize(&mut de).and_then(|f| de.end().map(|()| f)).map_err(|e| {
        if e.is_data() {
            anyhow::anyhow!("{}: {e}", p.display())
        } else {
            anyhow::anyhow!("{} is not a valid file of this kind (corrupt or wrong version): {e}", p.display())
        }
    })?;
    file.0.with_context(|| format!("{}: no `input_data` key", p.display()))
}

/// The typed, tree-free reader behind [`read_inputs`].
mod input_json {
    use std::fmt;

    use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    /// `input_data`'s lists, when the key is present.
    pub struct File(pub Option<Vec<Vec<f64>>>);

    impl<'de> de::Deserialize<'de> for File {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(FileVisitor)
        }
    }

    struct FileVisitor;
    impl<'de> Visitor<'de> for FileVisitor {
        type Value = File;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object with an `input_data` key")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<File, A::Error> {
            let mut data = None;
            while let Some(key) = m.next_key::<String>()? {
                if key == "input_data" {
                    if data.is_some() {
                        return Err(de::Error::custom("`input_data` given twice"));
                    }
                    data = Some(m.next_value_seed(Lists)?);
                } else {
                    m.next_value::<IgnoredAny>()?;
                }
            }
            Ok(File(data))
        }
    }

    /// `[[...], ...]`
    struct Lists;
    impl<'de> DeserializeSeed<'de> for Lists {
        type Value = Vec<Vec<f64>>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Lists {
        type Value = Vec<Vec<f64>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("`input_data` to be a list of lists")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(l) = s.next_element_seed(List(out.len()))? {
                out.push(l);
            }
            Ok(out)
        }
    }

    /// `input_data[i]`
    struct List(usize);
    impl<'de> DeserializeSeed<'de> for List {
        type Value = Vec<f64>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for List {
        type Value = Vec<f64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "input_data[{}] to be a list", self.0)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(s.size_hint().unwrap_or(0));
            while let Some(v) = s.next_element_seed(Value(self.0, out.len()))? {
                out.push(v);
            }
            Ok(out)
        }
    }

    /// `input_data[i][j]`: a number, or a boolean as 0/1.
    struct Value(usize, usize);
    impl Value {
        fn not_a_number<E: de::Error>(&self, what: fmt::Arguments) -> E {
            E::custom(format!("input_data[{}][{}] = {what} is not a number", self.0, self.1))
        }
    }
    impl<'de> DeserializeSeed<'de> for Value {
        type Value = f64;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<f64, D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Value {
        type Value = f64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "input_data[{}][{}] to be a number", self.0, self.1)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<f64, E> {
            Ok(v as i64 as f64)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
            Err(self.not_a_number(format_args!("{v:?}")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
            Err(self.not_a_number(format_args!("null")))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<f64, A::Error> {
            Err(self.not_a_number(format_args!("a list")))
        }
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<f64, A::Error> {
            Err(self.not_a_number(format_args!("an object")))
        }
    }
}

#[cfg(test)]
mod input_tests {
    use super::read_inputs;

    fn read(json: &str) -> Result<Vec<Vec<f64>>, String> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("zkinfer-input-{}-{n}.json", std::process::id()));
        std::fs::write(&p, json).expect("write");
        let r = read_inputs(&p).map_err(|e| format!("{e:#}"));
        let _ = std::fs::remove_file(&p);
        r
    }

    #[test]
    fn inputs_parse_without_a_tree_and_errors_name_the_entry() {
        let ok = read(r#"{"output_data": [[{"x": 1}]], "input_data": [[0.5, -2, 3e2, true, false], [], [18446744073709551615]]}"#).expect("valid");
        assert_eq!(ok, vec![vec![0.5, -2.0, 300.0, 1.0, 0.0], vec![], vec![18446744073709551615.0]]);
        for (json, what) in [
            (r#"{"input_data": [[0.5, "NaN"]]}"#, r#"input_data[0][1] = "NaN" is not a number"#),
            (r#"{"input_data": [[1], [2, null]]}"#, "input_data[1][1] = null is not a number"),
            (r#"{"input_data": [[1, [2]]]}"#, "input_data[0][1] = a list is not a number"),
            (r#"{"input_data": [3]}"#, "input_data[0] to be a list"),
            (r#"{"input_data": 3}"#, "list of lists"),
            (r#"{"data": []}"#, "no `input_data` key"),
            (r#"[1, 2]"#, "an object with an `input_data` key"),
            (r#"{"input_data": [[1]], "input_data": [[2]]}"#, "given twice"),
            (r#"{"input_data": [[1, 2"#, "not a valid file"),
            (r#"{"input_data": [[1]]} trailing"#, "not a valid file"),
        ] {
            let e = read(json).expect_err(json);
            assert!(e.contains(what), "{json}: {e}");
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// An aggregated proof (`zkinfer aggregate`, DIR/aggregated.json; the provider node's proofs of
/// sharded models).
#[derive(Serialize, Deserialize)]
pub struct AggregatedProof {
    pub format: String,
    /// The model identity (the aggregated proof is about this model).
    pub model_hash: String,
    /// sha256 of the aggregation verifying key.
    pub aggregation_vk_hash: String,
    /// The aggregation circuit's size.
    pub k: u32,
    /// Public instances (32-byte big-endian hex): 12 accumulator limbs, then the model proof's
    /// instances (binding, then packed public values and digests, as in proof.json).
    pub instances: Vec<String>,
    pub proof: String,
    /// The model proof's inputs, outputs and weights as their instances encode them
    /// (decoded values of public tensors, digests of hashed ones), checked against the
    /// instances by `--verify`.
    #[serde(default)]
    pub inputs: Vec<zkinfer_prover::artifacts::TensorValues>,
    #[serde(default)]
    pub outputs: Vec<zkinfer_prover::artifacts::TensorValues>,
    #[serde(default)]
    pub weights: Vec<zkinfer_prover::artifacts::TensorValues>,
    pub model_prove_seconds: f64,
    pub aggregate_prove_seconds: f64,
}

/// Version 2: the model identity, the decoded inputs and outputs.
pub const AGGREGATED_FORMAT: &str = "zkinfer-aggregated/2";

impl AggregatedProof {
    pub fn instances_fr(&self) -> Result<Vec<zkinfer_prover::Fr>> {
        Ok(self.instances.iter().map(|s| zkinfer_prover::util::fr_from_hex(s)).collect::<std::result::Result<_, _>>()?)
    }

    pub fn proof_bytes(&self) -> Result<Vec<u8>> {
        hex::decode(self.proof.strip_prefix("0x").unwrap_or(&self.proof)).context("proof is not hex")
    }

    /// The model proof the aggregated one stands for, as a proof file without proof bytes:
    /// the model's instances (the accumulator dropped) and the listed inputs, outputs and
    /// weights (`k`: the model's, for the record). Its `validate` / `check_against` check the
    /// listed values against the instances.
    pub fn model_proof(&self, k: u32) -> zkinfer_prover::artifacts::ProofFile {
        zkinfer_prover::artifacts::ProofFile {
            format: zkinfer_prover::artifacts::PROOF_FORMAT.into(),
            model_hash: self.model_hash.clone(),
            k,
            instances: self.instances.get(zkinfer_prover::aggregate::ACCUMULATOR_LIMBS..).unwrap_or_default().to_vec(),
            proof: "0x".into(),
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
            weights: self.weights.clone(),
            prove_seconds: self.model_prove_seconds + self.aggregate_prove_seconds,
            shards: vec![],
        }
    }

    pub fn read(p: &Path) -> Result<Self> {
        let a: AggregatedProof = read_json(p)?;
        if a.format != AGGREGATED_FORMAT {
            bail!("{} has format `{}`, expected `{AGGREGATED_FORMAT}`", p.display(), a.format);
        }
        Ok(a)
    }
}
