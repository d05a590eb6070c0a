//! The five stages, shared by the CLI subcommands and `zkinfer demo`:
//! compile -> setup -> prove -> verify -> evm-verifier.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use zkinfer_circuits::exec;
use zkinfer_circuits::ir::{Graph, Tensor};
use zkinfer_circuits::layout::circuit::{instance_values, ModelCircuit};
use zkinfer_prover::evm;
use zkinfer_circuits::layout::{ctx::Shape, lay_out};
use zkinfer_circuits::onnx::{import_file, ImportOptions};
use halo2_proofs::halo2curves::bn256::{Bn256, Fr};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use zkinfer_prover::{cost, keys, sizing, srs, verify::Verdict, Device};

use crate::files::{sha256_hex, Cost, Settings, Workdir, SETTINGS_FORMAT};
use zkinfer_prover::artifacts::{PrivateValues, ProofFile};

/// Circuit shapes `compile` chooses from when none is given: `width` advice columns of
/// which `lookup_width` carry range lookups.
pub const AUTO_SHAPES: [Shape; 7] = [
    Shape::new(4, 2),
    Shape::new(4, 4),
    Shape::new(6, 2),
    Shape::new(6, 3),
    Shape::new(6, 4),
    Shape::new(8, 2),
    Shape::new(8, 4),
];

/// Imports an ONNX model and sizes its circuit. Without a `shape`, lays it out in each of
/// [`AUTO_SHAPES`] and keeps the one the cost model ([`zkinfer_prover::cost`]) predicts
/// proves fastest among those whose Solidity verifier is predicted to fit EIP-170's
/// 24,576 bytes with 2% margin (the size model errs by under 1%); when none fits (too many
/// public values), the fastest.
pub fn compile(model: &Path, opts: ImportOptions, shape: Option<Shape>) -> Result<Settings> {
    let bytes = std::fs::read(model).with_context(|| format!("cannot read model {}", model.display()))?;
    let graph = import_file(model, &opts)?;
    // Interpolated tables need fewer table rows but more rows per element, and only the
    // whole layout shows which wins: compile with direct tables too, and keep the faster
    // (the interpolated one, at least as accurate, on a tie).
    let mut variants = vec![(opts.clone(), graph)];
    if opts.interpolate && variants[0].1.nodes.iter().any(|n| matches!(n.op, zkinfer_circuits::ops::Op::Interp(_))) {
        let direct = ImportOptions { interpolate: false, ..opts.clone() };
        // (a direct variant that does not import, e.g. a table over the size limit, is no
        // candidate)
        if let Ok(g) = import_file(model, &direct) {
            variants.push((direct, g));
        }
    }
    let limit = cost::EIP170_LIMIT * 98 / 100;
    // (does not fit the verifier limit, predicted seconds): smaller is better; only the best
    // layout so far is kept in memory
    let mut best: Option<((bool, f64), u32, ModelCircuit, Cost, usize)> = None;
    for (v, (_, graph)) in variants.iter().enumerate() {
        let inputs = reference_inputs(graph);
        // the Poseidon gadget of hashed tensors needs 6 advice columns
        let hashing = graph.has_hashed();
        let auto = AUTO_SHAPES.iter().copied().filter(|s| !hashing || s.width >= zkinfer_circuits::layout::poseidon::MIN_WIDTH).collect();
        for sh in shape.map_or(auto, |s| vec![s]) {
            let circuit = match lay_out(graph, &inputs, sh) {
                Ok(ctx) => ModelCircuit { ctx },
                // the first variant's errors are the model's; the direct one is an alternative
                Err(_) if v > 0 => continue,
                Err(e) => return Err(e.into()),
            };
            let k = sizing::k_for(&circuit);
            let c = Cost::of(&circuit, k, graph.num_instances());
            let fits = c.verifier_bytes <= limit;
            let key = (!fits, c.prove_seconds);
            if best.as_ref().map_or(true, |(b, ..)| key < *b) {
                best = Some((key, k, circuit, c, v));
            }
        }
    }
    let (_, k, circuit, cost, v) = best.context("no circuit shape to try")?;
    let (opts, graph) = variants.swap_remove(v);
    let shape = circuit.ctx.shape;
    Ok(Settings {
        format: SETTINGS_FORMAT.into(),
        model: model.display().to_string(),
        model_sha256: sha256_hex(&bytes),
        options: opts,
        shape,
        k,
        rows: circuit.rows(),
        num_instances: graph.num_instances(),
        calibration: None,
        cost: Some(cost),
        graph,
    })
}

/// Inputs holding the real value 0 (the zero point, within range): lays out the same
/// circuit as any other input, for key generation.
pub fn reference_inputs(g: &Graph) -> Vec<Tensor> {
    g.inputs.iter().map(|s| Tensor::filled(s.shape.clone(), s.zero_point.clamp(s.lo, s.hi))).collect()
}

/// The graph keys are generated from: witness weights set to zero, since the circuit's
/// structure does not depend on them (one key serves every set of weights in range).
pub fn keygen_graph(g: &Graph) -> std::borrow::Cow<'_, Graph> {
    if g.params.is_empty() {
        return std::borrow::Cow::Borrowed(g);
    }
    let mut g = g.clone();
    for p in &mut g.params {
        p.data = None;
    }
    g.fill_missing_params();
    std::borrow::Cow::Owned(g)
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
    let ctx = lay_out(&keygen_graph(&s.graph), &reference_inputs(&s.graph), s.shape)?;
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

/// Proves the model on `data` for `binding` (public instance 0: zero, or what a market job
/// requires); returns the proof file.
pub fn prove(wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>, data: &[Vec<f64>], saturate: bool, binding: Fr) -> Result<ProofFile> {
    Ok(prove_with(wd, s, params, data, saturate, binding, Device::Cpu, &|_| {})?.file)
}

/// A proof file and, when some tensors are hashed or private, their values (kept apart: the
/// proof file is what gets shared).
pub struct Proved {
    pub file: ProofFile,
    pub private: Option<PrivateValues>,
}

/// [`prove`], calling `phase` when a phase starts: "witness" (execute and lay out the model),
/// "prove" (commit and open).
#[allow(clippy::too_many_arguments)]
pub fn prove_with(wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>, data: &[Vec<f64>], saturate: bool, binding: Fr, device: Device, phase: &dyn Fn(&str)) -> Result<Proved> {
    phase("witness");
    let inputs = quantize_inputs(&s.graph, data, saturate)?;
    prove_tensors(wd, s, params, &inputs, binding, device, phase)
}

/// Proves the model on already quantized inputs (e.g. decoded from a market job's input
/// instances); `phase` as in [`prove_with`] (after "witness").
pub fn prove_tensors(wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>, inputs: &[Tensor], binding: Fr, device: Device, phase: &dyn Fn(&str)) -> Result<Proved> {
    let (pk, header) = keys::read_pk(&wd.pk())?;
    header.check_params(params)?;
    let start = Instant::now();
    let outs = exec::outputs(&s.graph, inputs)?;
    let mut ctx = lay_out(&s.graph, inputs, s.shape)?;
    ctx.binding = binding;
    let instances = instance_values(&ctx);
    let circuit = ModelCircuit { ctx };
    phase("prove");
    let proof = zkinfer_prover::prove::prove_owned(device, params, &pk, circuit, &instances, rand::rngs::OsRng)?;
    let secs = start.elapsed().as_secs_f64();
    let file = ProofFile::new(&header.vk_hash, header.k, &s.graph, binding, inputs, &outs, &proof, secs)?;
    Ok(Proved { file, private: PrivateValues::new(&header.vk_hash, &s.graph, inputs, &outs) })
}

/// Verifies a proof file natively. Errors for files that do not belong together; a proof
/// that fails verification is an `Invalid` verdict.
pub fn verify(wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>, p: &ProofFile) -> Result<Verdict> {
    let (vk, header) = keys::read_vk(&wd.vk())?;
    header.check_params(params)?;
    let model = hex::encode(header.vk_hash);
    if p.model_hash != model {
        bail!("the proof was made for model {}, but {} holds model {model}", p.model_hash, wd.0.display());
    }
    p.validate()?;
    p.check_against(&s.graph)?;
    let (instances, proof) = (p.instances_fr()?, p.proof_bytes()?);
    Ok(zkinfer_prover::verify::verify(params, &vk, &instances, &proof))
}

/// Result of the EVM step.
pub struct EvmReport {
    pub sol_bytes: usize,
    pub deployed_size: usize,
    /// Creation bytecode.
    pub bytecode: Vec<u8>,
    pub outcome: Option<evm::EvmOutcome>,
}

/// Generates the Solidity verifier, compiles it with the pinned solcjs, and (given a proof)
/// deploys it in an in-process EVM (revm) and calls it.
pub fn evm_verifier(wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>, proof: Option<&ProofFile>) -> Result<EvmReport> {
    let (vk, header) = keys::read_vk(&wd.vk())?;
    header.check_params(params)?;
    let sol = evm::gen_sol(params, &vk, s.num_instances)?;
    crate::files::write_atomic(&wd.sol(), sol.as_bytes())?;
    let compiled = evm::compile_sol(&sol)?;
    crate::files::write_json(&wd.verifier(), &serde_json::json!({
        "vk_hash": hex::encode(header.vk_hash),
        "solc": compiled.solc_version,
        "bytecode": format!("0x{}", hex::encode(&compiled.bytecode)),
        "deployed_bytecode": format!("0x{}", hex::encode(&compiled.deployed_bytecode)),
    }))?;
    let outcome = match proof {
        Some(p) => {
            p.validate()?;
            p.check_against(&s.graph)?;
            Some(evm::evm_verify(&compiled.bytecode, &p.instances_fr()?, &p.proof_bytes()?)?)
        }
        None => None,
    };
    Ok(EvmReport { sol_bytes: sol.len(), deployed_size: compiled.deployed_bytecode.len(), bytecode: compiled.bytecode, outcome })
}

/// Verifies `proof` in the in-process EVM with the verifier [`evm_verifier`] compiled before
/// (DIR/verifier.json, which must be for DIR's verifying key): no Solidity generation and no
/// solc, e.g. on a machine without Node.js.
pub fn evm_verify_compiled(wd: &Workdir, s: &Settings, proof: &ProofFile) -> Result<evm::EvmOutcome> {
    let (_, header) = keys::read_vk(&wd.vk())?;
    let v: serde_json::Value = crate::files::read_json(&wd.verifier())?;
    if v["vk_hash"].as_str() != Some(hex::encode(header.vk_hash).as_str()) {
        bail!("{} was not compiled for {}'s verifying key: run `zkinfer evm-verifier` again", wd.verifier().display(), wd.vk().display());
    }
    let code = hex::decode(v["bytecode"].as_str().unwrap_or_default().trim_start_matches("0x")).with_context(|| format!("{}: bytecode is not hex", wd.verifier().display()))?;
    proof.validate()?;
    proof.check_against(&s.graph)?;
    Ok(evm::evm_verify(&code, &proof.instances_fr()?, &proof.proof_bytes()?)?)
}
