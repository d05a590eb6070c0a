//! The five stages, shared by the CLI subcommands and `zkinfer demo`:
//! compile -> setup -> prove -> verify -> evm-verifier.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use zkinfer_circuits::exec;
use zkinfer_circuits::ir::{Graph, Tensor};
use zkinfer_circuits::layout::circuit::{instance_values, ModelCircuit};
use zkinfer_circuits::layout::{ctx::Shape, lay_out};
use zkinfer_circuits::onnx::{import_file, ImportOptions};
use halo2_proofs::halo2curves::bn256::{Bn256, Fr};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use zkinfer_prover::{keys, sizing, srs, util, verify::Verdict};

use crate::files::{sha256_hex, OutputTensor, ProofFile, Settings, Workdir, PROOF_FORMAT, SETTINGS_FORMAT};

/// Imports an ONNX model and sizes its circuit.
pub fn compile(model: &Path, opts: ImportOptions, shape: Shape) -> Result<Settings> {
    let bytes = std::fs::read(model).with_context(|| format!("cannot read model {}", model.display()))?;
    let graph = import_file(model, &opts)?;
    let inputs = reference_inputs(&graph);
    let ctx = lay_out(&graph, &inputs, shape)?;
    let circuit = ModelCircuit { ctx };
    let k = sizing::k_for(&circuit);
    Ok(Settings {
        format: SETTINGS_FORMAT.into(),
        model: model.display().to_string(),
        model_sha256: sha256_hex(&bytes),
        options: opts,
        shape,
        k,
        rows: circuit.rows(),
        num_instances: graph.num_instances(),
        graph,
    })
}

/// Inputs holding the real value 0 (the zero point, within range): lays out the same
/// circuit as any other input, for key generation.
pub fn reference_inputs(g: &Graph) -> Vec<Tensor> {
    g.inputs.iter().map(|s| Tensor::filled(s.shape.clone(), s.zero_point.clamp(s.lo, s.hi))).collect()
}

/// The SRS for `k`: a file when given, else the UNSAFE deterministic dev SRS.
pub fn load_params(srs_file: Option<&Path>, k: u32) -> Result<ParamsKZG<Bn256>> {
    Ok(match srs_file {
        Some(p) => srs::load_srs(p, k)?,
        None => srs::dev_srs(k)?.0,
    })
}

/// Generates and stores the keys of a compiled model.
pub fn setup(wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>) -> Result<()> {
    let ctx = lay_out(&s.graph, &reference_inputs(&s.graph), s.shape)?;
    let circuit = ModelCircuit { ctx };
    let pk = keys::keygen(params, &circuit)?;
    keys::write_vk(&wd.vk(), pk.get_vk(), s.shape, params)?;
    keys::write_pk(&wd.pk(), &pk, s.shape, params)?;
    Ok(())
}

/// Quantizes float inputs for the model (rejecting NaN, wrong lengths, out-of-range values).
pub fn quantize_inputs(g: &Graph, data: &[Vec<f64>], saturate: bool) -> Result<Vec<Tensor>> {
    if data.len() != g.inputs.len() {
        bail!("the model has {} input(s), the input file gives {}", g.inputs.len(), data.len());
    }
    g.inputs.iter().zip(data).map(|(spec, x)| Ok(exec::quantize_input(spec, x, saturate)?)).collect()
}

/// Proves the model on `data`; returns the proof file.
pub fn prove(wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>, data: &[Vec<f64>], saturate: bool) -> Result<ProofFile> {
    let inputs = quantize_inputs(&s.graph, data, saturate)?;
    let (pk, header) = keys::read_pk(&wd.pk())?;
    header.check_params(params)?;
    let start = Instant::now();
    let outs = exec::outputs(&s.graph, &inputs)?;
    let ctx = lay_out(&s.graph, &inputs, s.shape)?;
    let instances = instance_values(&ctx);
    let circuit = ModelCircuit { ctx };
    let proof = zkinfer_prover::prove::prove(params, &pk, &circuit, &instances, rand::rngs::OsRng)?;
    let secs = start.elapsed().as_secs_f64();
    let outputs = s
        .graph
        .outputs
        .iter()
        .zip(&outs)
        .map(|(o, t)| OutputTensor { name: o.name.clone(), shape: o.shape.clone(), quantized: t.data.clone(), values: exec::dequantize(o.scale, o.zero_point, t) })
        .collect();
    Ok(ProofFile {
        format: PROOF_FORMAT.into(),
        model_hash: hex::encode(header.vk_hash),
        k: header.k,
        instances: instances.iter().map(util::fr_to_hex).collect(),
        proof: format!("0x{}", hex::encode(&proof)),
        outputs,
        prove_seconds: secs,
    })
}

/// Decodes a proof file's instances and proof bytes.
pub fn decode_proof(p: &ProofFile) -> Result<(Vec<Fr>, Vec<u8>)> {
    if p.format != PROOF_FORMAT {
        bail!("proof format `{}` is not {PROOF_FORMAT}", p.format);
    }
    let instances = p.instances.iter().map(|h| util::fr_from_hex(h)).collect::<std::result::Result<Vec<_>, _>>()?;
    let proof = hex::decode(p.proof.trim_start_matches("0x")).context("the proof is not hex")?;
    Ok((instances, proof))
}

/// Verifies a proof file natively. Errors for files that do not belong together; a proof
/// that fails verification is an `Invalid` verdict.
pub fn verify(wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>, p: &ProofFile) -> Result<Verdict> {
    let (vk, header) = keys::read_vk(&wd.vk())?;
    let model = hex::encode(header.vk_hash);
    if p.model_hash != model {
        bail!("the proof was made for model {}, but {} holds model {model}", p.model_hash, wd.0.display());
    }
    let (instances, proof) = decode_proof(p)?;
    if instances.len() != s.num_instances {
        bail!("the proof has {} public values, the model needs {}", instances.len(), s.num_instances);
    }
    Ok(zkinfer_prover::verify::verify(params, &vk, &instances, &proof))
}
