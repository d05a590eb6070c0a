//! `zkinfer hash DIR --input F | --quantized-input F | --private F | --tensor NAME=F |
//! --weights F [--proof P]`: the
//! Poseidon digest of tensors as a `hashed` visibility puts them in public instances
//! ([`zkinfer_circuits::hash`]), so anyone holding the data can check a published commitment
//! or a proof's digest against it.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use zkinfer_circuits::ir::Tensor;
use zkinfer_circuits::public::packings;
use zkinfer_prover::artifacts::{PrivateValues, ProofFile};
use zkinfer_prover::util::fr_to_hex;

use crate::files::{read_inputs, Workdir};
use crate::pipeline;

#[derive(clap::Args)]
pub struct Args {
    /// Directory written by `zkinfer compile` (its settings.json gives the tensors' ranges).
    dir: PathBuf,
    /// Model inputs, EZKL format `{"input_data": [...]}`, quantized as the model does.
    #[arg(long, group = "data")]
    input: Option<PathBuf>,
    /// Already quantized model inputs: `{"quantized": [[int, ...], ...]}`.
    #[arg(long, group = "data")]
    quantized_input: Option<PathBuf>,
    /// A `*.private.json` file written by `zkinfer prove` (inputs and/or outputs by name).
    #[arg(long, group = "data")]
    private: Option<PathBuf>,
    /// One model input alone: NAME=FILE, FILE a JSON list of floats (flattened), quantized as
    /// the model does (e.g. to compute the commitment of an enrolled template).
    #[arg(long, group = "data", value_name = "NAME=FILE")]
    tensor: Option<String>,
    /// A weights file written by `zkinfer compile --weight-visibility ...` (e.g. DIR/weights.json,
    /// or another model's of the same architecture): the digest of each weight tensor.
    #[arg(long, group = "data")]
    weights: Option<PathBuf>,
    /// Saturate out-of-range input values (as `prove --saturate`).
    #[arg(long)]
    saturate: bool,
    /// Compare with the digests in this proof file; exit non-zero on any difference.
    #[arg(long)]
    proof: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<serde_json::Value> {
    let wd = Workdir(a.dir);
    let s = wd.load_settings()?;
    let g = &s.graph;
    let packs = packings(g);
    let n_in = g.inputs.len();
    // a proof or private-values file must be of this directory's model (when its keys exist)
    let model = crate::pipeline::recorded_id(&wd, &s).ok().map(|id| id.hex());
    // (name, index among inputs then outputs, tensor)
    let mut tensors: Vec<(String, usize, Tensor)> = Vec::new();
    match (&a.input, &a.quantized_input, &a.private) {
        _ if a.tensor.is_some() => {
            let spec = a.tensor.as_deref().unwrap_or_default();
            let (name, file) = spec.split_once('=').with_context(|| format!("--tensor `{spec}`: expected NAME=FILE"))?;
            let i = g.inputs.iter().position(|s| s.name == name).with_context(|| format!("the model has no input `{name}` (inputs: {:?})", g.inputs.iter().map(|s| &s.name).collect::<Vec<_>>()))?;
            let values: Vec<f64> = crate::files::read_json(std::path::Path::new(file))?;
            let t = zkinfer_circuits::exec::quantize_input(&g.inputs[i], &values, a.saturate)?;
            tensors.push((name.to_string(), i, t));
        }
        (Some(f), _, _) => {
            for (i, t) in pipeline::quantize_inputs(g, &read_inputs(f)?, a.saturate)?.into_iter().enumerate() {
                tensors.push((g.inputs[i].name.clone(), i, t));
            }
        }
        (_, Some(f), _) => {
            for (i, t) in super::prove::read_quantized(f, g)?.into_iter().enumerate() {
                tensors.push((g.inputs[i].name.clone(), i, t));
            }
        }
        (_, _, Some(f)) => {
            let p = PrivateValues::read(f)?;
            if let Some(m) = &model {
                if &p.model_hash != m {
                    bail!("{} holds values of model {}, but {} holds model {m}", f.display(), p.model_hash, wd.0.display());
                }
            }
            for t in p.inputs.iter().chain(&p.outputs) {
                let at = g.inputs.iter().position(|x| x.name == t.name).or_else(|| g.outputs.iter().position(|o| o.name == t.name).map(|i| n_in + i));
                let at = at.with_context(|| format!("{}: the model has no input or output `{}`", f.display(), t.name))?;
                let shape = if at < n_in { &g.inputs[at].shape } else { &g.outputs[at - n_in].shape };
                let data = Tensor::new(shape.clone(), t.quantized.clone()).with_context(|| format!("{}: `{}` has {} values, its shape is {shape:?}", f.display(), t.name, t.quantized.len()))?;
                tensors.push((t.name.clone(), at, data));
            }
        }
        _ if a.weights.is_some() => {
            let f = a.weights.as_deref().unwrap_or(std::path::Path::new(""));
            let mut gw = g.clone();
            crate::files::WeightsFile::read(f)?.attach(&mut gw).with_context(|| format!("{} does not fit the model in {}", f.display(), wd.0.display()))?;
            let first = n_in + g.outputs.len();
            for (i, (p, t)) in gw.params.iter().zip(gw.param_tensors()?).enumerate() {
                tensors.push((p.name.clone(), first + i, t));
            }
        }
        _ => bail!("give --input, --quantized-input, --private, --tensor or --weights"),
    }
    let proof = a.proof.as_deref().map(ProofFile::read).transpose()?;
    if let (Some(p), Some(m)) = (&proof, &model) {
        if &p.model_hash != m {
            bail!("the proof was made for model {}, but {} holds model {m}", p.model_hash, wd.0.display());
        }
    }
    let mut differ = 0;
    let mut digests = serde_json::Map::new();
    for (name, at, t) in &tensors {
        let d = zkinfer_circuits::hash::tensor_digest(&packs[*at], &t.data).with_context(|| format!("`{name}` has a value outside the range its packing covers"))?;
        let hex = fr_to_hex(&d);
        digests.insert(name.clone(), hex.clone().into());
        let Some(p) = &proof else {
            say!("{name}: {hex}");
            continue;
        };
        let listed = p.inputs.iter().chain(&p.outputs).chain(&p.weights).find(|x| &x.name == name);
        match listed.and_then(|x| x.digest.as_deref()) {
            Some(h) if h.eq_ignore_ascii_case(&hex) => say!("{name}: {hex} matches the proof"),
            Some(h) => {
                differ += 1;
                say!("{name}: {hex} DIFFERS from the proof's {h}");
            }
            None => {
                differ += 1;
                say!("{name}: {hex}; the proof has no digest for `{name}` (it is not hashed there)");
            }
        }
    }
    if differ > 0 {
        return Err(super::Rejected(format!("{differ} digest(s) do not match the proof")).into());
    }
    if proof.is_some() {
        say!("(digests compared only: `zkinfer verify` checks the proof itself)");
    }
    Ok(serde_json::json!({"digests": digests, "matches_proof": proof.as_ref().map(|_| true)}))
}
