use std::path::PathBuf;

use anyhow::{Context, Result};
use zkinfer_circuits::ir::Visibility;
use zkinfer_prover::{Device, Fr};

use super::SrsArgs;
use crate::files::{read_inputs, Workdir};
use crate::pipeline;

#[derive(clap::Args)]
pub struct Args {
    /// Directory written by `zkinfer compile` and `zkinfer setup`.
    dir: PathBuf,
    /// Input file: {"input_data": [[...]]}.
    #[arg(long, required_unless_present = "quantized_input", conflicts_with = "quantized_input")]
    input: Option<PathBuf>,
    /// Already quantized input: {"quantized": [[int, ...], ...]}, one list per model input
    /// (e.g. decoded from a market job's input instances).
    #[arg(long)]
    quantized_input: Option<PathBuf>,
    /// Where to write the proof (default DIR/proof.json).
    #[arg(short, long)]
    out: Option<PathBuf>,
    /// Saturate input values outside the quantized range instead of rejecting them.
    #[arg(long)]
    saturate: bool,
    /// Binding value (public instance 0), hex, up to 64 digits: a market job's
    /// `bindingOf(jobId, provider)`. Default 0 (unbound).
    #[arg(long, value_parser = parse_binding)]
    binding: Option<Fr>,
    /// Run as a `zkinfer serve` worker: print `zkinfer-phase: NAME` lines to stderr as phases
    /// start, and stop when the server process goes away.
    #[arg(long, hide = true)]
    phases: bool,
    /// Where to prove: cpu; cuda (the `zkinfer-cuda` executable from scripts/build-cuda.sh,
    /// on an NVIDIA GPU; an error when either is missing); auto (cuda when both are there,
    /// else cpu).
    #[arg(long, value_enum, default_value_t = DeviceArg::default_for_build())]
    device: DeviceArg,
    #[command(flatten)]
    srs: SrsArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceArg {
    Cpu,
    Cuda,
    Auto,
}

impl DeviceArg {
    fn default_for_build() -> Self {
        if Device::Cuda.available_in_build() { DeviceArg::Cuda } else { DeviceArg::Cpu }
    }
}

/// The CUDA prover executable, if installed and a GPU is present: `$ZKINFER_CUDA`, else
/// `zkinfer-cuda` beside this executable.
fn cuda_prover() -> std::result::Result<PathBuf, String> {
    let exe = match std::env::var_os("ZKINFER_CUDA") {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe().map_err(|e| format!("cannot locate this executable: {e}"))?.with_file_name("zkinfer-cuda"),
    };
    if !exe.is_file() {
        return Err(format!("the CUDA prover is not installed ({} is missing; build it with scripts/build-cuda.sh, or set $ZKINFER_CUDA)", exe.display()));
    }
    if !std::path::Path::new("/dev/nvidia0").exists() && !std::path::Path::new("/proc/driver/nvidia/version").exists() {
        return Err("no NVIDIA GPU or driver on this machine (/dev/nvidia0 and /proc/driver/nvidia/version are missing)".into());
    }
    Ok(exe)
}

/// Runs this same `prove` command in the CUDA prover executable; its report is the proof
/// file it wrote.
fn prove_in(exe: &std::path::Path, out: &std::path::Path) -> Result<serde_json::Value> {
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    let mut skip = false;
    for a in std::env::args_os().skip(1) {
        if skip {
            skip = false;
        } else if a == "--device" {
            skip = true;
        } else if !a.to_string_lossy().starts_with("--device=") {
            args.push(a);
        }
    }
    args.extend(["--device".into(), "cuda".into()]);
    let mut cmd = std::process::Command::new(exe);
    cmd.args(&args);
    if super::quiet() {
        // (`--json` is among the arguments: its JSON report is not this process's)
        cmd.stdout(std::process::Stdio::null());
    }
    let status = cmd.status().with_context(|| format!("cannot run {}", exe.display()))?;
    if !status.success() {
        anyhow::bail!("the CUDA prover {} failed ({status})", exe.display());
    }
    let p = zkinfer_prover::artifacts::ProofFile::read(out)?;
    Ok(report(&p, out, None))
}

/// The JSON report of a written proof: where it is, its size and time, and each output.
fn report(p: &zkinfer_prover::artifacts::ProofFile, out: &std::path::Path, private: Option<&std::path::Path>) -> serde_json::Value {
    serde_json::json!({
        "proof": out,
        "private_values": private,
        "model_id": p.model_hash,
        "proof_bytes": p.proof_bytes().map(|b| b.len()).unwrap_or(0) + p.shards.iter().map(|sp| sp.proof_bytes().map(|b| b.len()).unwrap_or(0)).sum::<usize>(),
        "shards": p.shards.len(),
        "prove_seconds": p.prove_seconds,
        "instances": p.instances,
        "outputs": p.outputs,
    })
}

/// Reads `{"quantized": [[int, ...], ...]}` as the model's input tensors.
pub fn read_quantized(p: &std::path::Path, g: &zkinfer_circuits::ir::Graph) -> Result<Vec<zkinfer_circuits::ir::Tensor>> {
    #[derive(serde::Deserialize)]
    struct Q {
        quantized: Vec<Vec<i64>>,
    }
    let q: Q = crate::files::read_json(p)?;
    if q.quantized.len() != g.inputs.len() {
        anyhow::bail!("{}: {} tensors for the model's {} input(s)", p.display(), q.quantized.len(), g.inputs.len());
    }
    g.inputs.iter().zip(q.quantized).map(|(s, d)| {
            let n = d.len();
            zkinfer_circuits::ir::Tensor::new(s.shape.clone(), d).ok_or_else(|| anyhow::anyhow!("{}: input `{}` has {n} values, its shape is {:?}", p.display(), s.name, s.shape))
        })
        .collect()
}

/// Parses a binding: `0x` + up to 64 hex digits, below the BN254 scalar field modulus.
pub fn parse_binding(s: &str) -> std::result::Result<Fr, String> {
    let digits = s.strip_prefix("0x").unwrap_or(s);
    if digits.is_empty() || digits.len() > 64 {
        return Err(format!("`{s}`: expected 1 to 64 hex digits"));
    }
    zkinfer_prover::util::fr_from_hex(&format!("{digits:0>64}")).map_err(|e| e.to_string())
}

pub fn run(a: Args) -> Result<serde_json::Value> {
    if a.phases {
        exit_with_parent();
    }
    let device = match a.device {
        DeviceArg::Cpu => Device::Cpu,
        _ if Device::Cuda.available_in_build() => Device::Cuda,
        requested => match cuda_prover() {
            Ok(exe) => return prove_in(&exe, &a.out.clone().unwrap_or_else(|| Workdir(a.dir.clone()).proof())),
            Err(why) if requested == DeviceArg::Auto => {
                eprintln!("--device auto: {why}; proving on the CPU");
                Device::Cpu
            }
            Err(why) => anyhow::bail!("--device cuda: {why}"),
        },
    };
    let wd = Workdir(a.dir);
    let s = wd.load_settings()?;
    let sharded = crate::sharding::load(&wd, &s)?;
    if sharded.is_none() {
        crate::sharding::refuse_lone_shard(&wd, &s)?;
    }
    // (a sharded model loads each shard's SRS in turn)
    let params = match &sharded {
        None => Some(pipeline::load_params(a.srs.srs.as_deref(), s.k)?),
        Some(_) => None,
    };
    // a spinner with the phase on a terminal (hidden otherwise); phase lines for the server
    let spinner = (!a.phases).then(|| super::Progress::start("prove"));
    let phase = |p: &str| match &spinner {
        Some(s) => s.step(p),
        None => eprintln!("zkinfer-phase: {p}"),
    };
    let binding = a.binding.unwrap_or(Fr::zero());
    phase("witness");
    let inputs = match (&a.input, &a.quantized_input) {
        (Some(input), _) => pipeline::quantize_inputs(&s.graph, &read_inputs(input)?, a.saturate)?,
        (None, Some(q)) => read_quantized(q, &s.graph)?,
        (None, None) => anyhow::bail!("give --input or --quantized-input"),
    };
    let p = match (&sharded, &params) {
        (Some(sh), _) => crate::sharding::prove(&s, sh, a.srs.srs.as_deref(), &inputs, binding, device, &phase)?,
        (None, Some(params)) => pipeline::prove_tensors(&wd, &s, params, &inputs, binding, device, &phase)?,
        (None, None) => unreachable!("the SRS is loaded for a single circuit"),
    };
    phase("write");
    drop(spinner);
    let out = a.out.unwrap_or_else(|| wd.proof());
    p.file.write(&out)?;
    let mut private_at = None;
    if let Some(private) = &p.private {
        let at = private_path(&out);
        private.write(&at)?;
        say!("values of the hashed/private tensors (keep them, they are not in the proof) -> {}", at.display());
        private_at = Some(at);
    }
    for o in &p.file.outputs {
        match o.visibility {
            Visibility::Public => say!("output {} {:?}: {:?}", o.name, o.shape, o.values),
            Visibility::Hashed => say!("output {} {:?}: hashed, digest {}", o.name, o.shape, o.digest.as_deref().unwrap_or("?")),
            Visibility::Private | Visibility::Linked => say!("output {} {:?}: {}", o.name, o.shape, o.visibility),
        }
    }
    let p = p.file;
    for (i, sp) in p.shards.iter().enumerate() {
        say!("shard {i}: k = {}, proof {} bytes, {:.2} s", sp.k, sp.proof.len().saturating_sub(2) / 2, sp.prove_seconds);
    }
    let bytes = (p.proof.len() - 2) / 2 + p.shards.iter().map(|sp| sp.proof.len().saturating_sub(2) / 2).sum::<usize>();
    say!("proof: {bytes} bytes{}, {:.2} s -> {}", if p.shards.is_empty() { String::new() } else { format!(" in {} linked shard proofs", p.shards.len()) }, p.prove_seconds, out.display());
    Ok(report(&p, &out, private_at.as_deref()))
}

/// Where the values of a proof's hashed and private tensors go: beside the proof,
/// `NAME.private.json`.
pub fn private_path(proof: &std::path::Path) -> PathBuf {
    let stem = proof.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "proof".into());
    proof.with_file_name(format!("{stem}.private.json"))
}

/// Ends this process when its parent (the server) dies, e.g. on kill -9: an orphan is
/// re-parented, so the parent pid changes. The restarted server proves the job again.
pub(super) fn exit_with_parent() {
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_millis(250));
        if std::os::unix::process::parent_id() != parent {
            eprintln!("error: the server stopped; abandoning the proof");
            std::process::exit(3);
        }
    });
}
