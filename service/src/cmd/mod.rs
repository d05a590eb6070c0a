//! Subcommands: one module each; this file only parses and dispatches.

mod aggregate;
mod bench_kernels;
mod calibrate;
mod check_suite;
mod client;
pub mod compile;
mod demo;
mod evm;
mod hash;
mod market;
mod node;
pub mod prove;
mod serve;
pub mod server_task;
mod setup;
pub mod synth;
mod verify;

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "zkinfer",
    version,
    about = "Zero-knowledge proofs of ONNX model inference (halo2/KZG on BN254)",
    after_help = "Exit status: 0 success; 1 error (bad input, files that do not belong together, I/O); \
2 bad command line; 3 a proof was checked and rejected (verify, evm-verifier, aggregate --verify, \
hash --proof). With --json, stdout holds one JSON object: the command's report, or \
{\"error\": MESSAGE, \"exit_code\": N}.\nDocs: README.md and docs/ (docs/cli.md lists every command)."
)]
pub struct Cli {
    /// Print one JSON object on stdout instead of text (compile, calibrate, setup, prove,
    /// verify, hash, evm-verifier, aggregate, check-suite); progress and errors still go to
    /// stderr.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Import an ONNX model and lay out its circuit: writes OUT/settings.json.
    Compile(compile::Args),
    /// Pick fixed-point scales and lookup ranges from sample data; writes OUT/settings.json.
    Calibrate(calibrate::Args),
    /// Generate proving and verifying keys (UNSAFE dev SRS unless --srs is given).
    Setup(setup::Args),
    /// Run the model on an input and prove the output.
    Prove(prove::Args),
    /// Verify a proof natively.
    Verify(verify::Args),
    /// Poseidon digests of input/output/weight tensors, as hashed visibility makes them public;
    /// checks them against a proof with --proof.
    Hash(hash::Args),
    /// Generate the Solidity verifier, compile it (solcjs) and verify a proof in an in-process EVM.
    EvmVerifier(evm::Args),
    /// Aggregate a model proof into a fixed-size proof whose EVM verifier does not depend on the model.
    Aggregate(aggregate::Args),
    /// Run every step on the bundled digits model, with tamper checks.
    Demo(demo::Args),
    /// Compile, set up, prove and verify every model folder under DIR; print a coverage table.
    CheckSuite(check_suite::Args),
    /// On-chain market: deploy, register, stake, post, claim, submit, expire, withdraw, status
    /// (embedded revm chain, or --rpc URL).
    Market(market::Args),
    /// Run the gRPC prover service (durable job queue in a data directory).
    Serve(serve::Args),
    /// Talk to a running `zkinfer serve`.
    Client(client::Args),
    /// Provider node: claim market jobs for the given models, prove, submit, get paid.
    Node(node::Args),
    /// Time MSM and NTT at 2^k elements on the CPU, and the GPU in a zkinfer-cuda build.
    BenchKernels(bench_kernels::Args),
    /// Write a synthetic float MLP of any size (ONNX + input) for benchmarks.
    SynthMlp(synth::Args),
    /// Write a synthetic float CNN of any size (ONNX + input) for benchmarks.
    SynthCnn(synth::CnnArgs),
    /// Write a synthetic float single-head self-attention block (ONNX + input) for benchmarks.
    SynthAttention(synth::AttentionArgs),
    /// The server's heavy steps (import, compile, setup), run in a child process.
    #[command(hide = true)]
    ServerTask(server_task::Args),
}

/// A proof that was checked and found invalid (as opposed to an error that kept it from being
/// checked): exit status [`EXIT_REJECTED`].
#[derive(Debug)]
pub struct Rejected(pub String);

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Rejected {}

/// A command line that was refused (unknown option, missing argument): exit status
/// [`EXIT_USAGE`].
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Exit status of an error.
pub const EXIT_ERROR: i32 = 1;
/// Exit status of a command line clap refuses.
pub const EXIT_USAGE: i32 = 2;
/// Exit status of a proof checked and rejected ([`Rejected`]).
pub const EXIT_REJECTED: i32 = 3;

/// The exit status for an error: [`EXIT_REJECTED`] when a proof was rejected, [`EXIT_USAGE`]
/// for a refused command line, else [`EXIT_ERROR`].
pub fn exit_code(e: &anyhow::Error) -> i32 {
    if e.chain().any(|c| c.is::<Rejected>()) {
        EXIT_REJECTED
    } else if e.chain().any(|c| c.is::<Usage>()) {
        EXIT_USAGE
    } else {
        EXIT_ERROR
    }
}

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether commands print their text report (`say!`); off with `--json` and in the Python
/// package, which get the JSON report instead.
pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// Turns the text report off (`--json`, the Python package).
pub fn set_quiet(q: bool) {
    QUIET.store(q, std::sync::atomic::Ordering::Relaxed);
}

/// The executables' `main`: parse, run, print the report (`--json`) or the error chain, and
/// exit with the documented status (see `zkinfer --help`).
pub fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let json = cli.json;
    set_quiet(json);
    match run(cli) {
        Ok(report) => {
            if json {
                say_json(&report);
            }
        }
        Err(e) => {
            let code = exit_code(&e);
            eprintln!("error: {e:#}");
            if json {
                say_json(&serde_json::json!({ "error": format!("{e:#}"), "exit_code": code }));
            }
            std::process::exit(code);
        }
    }
}

/// Prints one JSON object on stdout (ends quietly on a closed pipe).
fn say_json(v: &serde_json::Value) {
    use std::io::Write as _;
    if let Err(e) = writeln!(std::io::stdout(), "{v}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// Runs a command line (`argv[0]` is the program name) in this process and returns its JSON
/// report; the text report is not printed. What the Python package calls.
pub fn run_args<I, T>(argv: I) -> Result<serde_json::Value>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(argv).map_err(|e| Usage(e.render().to_string().trim_end().to_string()))?;
    run(cli)
}

/// Runs a parsed command; returns its report (JSON: what `--json` prints).
pub fn run(cli: Cli) -> Result<serde_json::Value> {
    // a build whose field arithmetic this CPU cannot run stops here, by name, not on an
    // illegal instruction in the middle of a proof
    zkinfer_prover::cpu::check()?;
    let json = cli.json;
    // the commands without a JSON report: `--json` is refused rather than ignored
    let plain = |name: &str, r: Result<()>| -> Result<serde_json::Value> {
        if json {
            bail!("--json: `zkinfer {name}` has no JSON report (compile, calibrate, setup, prove, verify, hash, evm-verifier, aggregate and check-suite have)");
        }
        r.map(|()| serde_json::Value::Null)
    };
    match cli.cmd {
        Cmd::Compile(a) => compile::run(a),
        Cmd::Calibrate(a) => calibrate::run(a),
        Cmd::Setup(a) => setup::run(a),
        Cmd::Prove(a) => prove::run(a),
        Cmd::Verify(a) => verify::run(a),
        Cmd::Hash(a) => hash::run(a),
        Cmd::EvmVerifier(a) => evm::run(a),
        Cmd::Aggregate(a) => aggregate::run(a),
        Cmd::CheckSuite(a) => check_suite::run(a),
        Cmd::Demo(a) => plain("demo", if json { Ok(()) } else { demo::run(a) }),
        Cmd::Market(a) => plain("market", if json { Ok(()) } else { market::run(a) }),
        Cmd::Serve(a) => plain("serve", if json { Ok(()) } else { serve::run(a) }),
        Cmd::Client(a) => plain("client", if json { Ok(()) } else { client::run(a) }),
        Cmd::Node(a) => plain("node", if json { Ok(()) } else { node::run(a) }),
        Cmd::BenchKernels(a) => plain("bench-kernels", if json { Ok(()) } else { bench_kernels::run(a) }),
        Cmd::SynthMlp(a) => plain("synth-mlp", if json { Ok(()) } else { synth::run(a) }),
        Cmd::SynthCnn(a) => plain("synth-cnn", if json { Ok(()) } else { synth::run_cnn(a) }),
        Cmd::SynthAttention(a) => plain("synth-attention", if json { Ok(()) } else { synth::run_attention(a) }),
        Cmd::ServerTask(a) => plain("server-task", if json { Ok(()) } else { server_task::run(a) }),
    }
}

/// Options shared by the commands that need an SRS.
#[derive(clap::Args, Clone)]
pub struct SrsArgs {
    /// SRS file (halo2 ParamsKZG format, e.g. from a powers-of-tau ceremony). Without it an
    /// UNSAFE deterministic dev SRS is generated: for tests and demos only.
    #[arg(long)]
    pub srs: Option<PathBuf>,
}

/// Logging options of the long-running commands (`serve`, `node`).
#[derive(clap::Args, Clone)]
pub struct LogArgs {
    /// Log one JSON object per line (for log collectors) instead of text.
    #[arg(long)]
    pub log_json: bool,
    /// Least severity logged: error, warn, info, debug or trace.
    #[arg(long, default_value = "info")]
    pub log_level: tracing::Level,
}

impl LogArgs {
    /// Installs the structured logger (stderr).
    pub fn init(&self) {
        let b = tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(self.log_level).with_target(false).with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
        // a second init (tests running commands in-process) keeps the first logger
        let _ = if self.log_json { b.json().try_init() } else { b.try_init() };
    }
}

/// The JSON report of a written settings file (compile, calibrate): where it is, the circuit's
/// size and shape, the cost model's prediction, and each input and output with its
/// visibility, shape and quantization (`real = (q - zero_point) * scale`).
pub fn settings_report(wd: &crate::files::Workdir, s: &crate::files::Settings) -> serde_json::Value {
    let g = &s.graph;
    let out_lo_hi = |v| {
        let i = g.info(v);
        (i.lo, i.hi)
    };
    serde_json::json!({
        "settings": wd.settings(),
        "model": s.model,
        "model_sha256": s.model_sha256,
        "k": s.k,
        "rows": s.rows,
        "width": s.shape.width,
        "lookup_width": s.shape.lookup_width,
        "pair_lookups": s.shape.pairs,
        "num_instances": s.num_instances,
        "nodes": g.nodes.len(),
        "predicted_prove_seconds": s.cost.as_ref().map(|c| c.prove_seconds),
        "predicted_verifier_bytes": s.cost.as_ref().map(|c| c.verifier_bytes),
        "predicted_verify_gas": s.cost.as_ref().map(|c| c.verify_gas).filter(|&g| g > 0),
        "inputs": g.inputs.iter().map(|i| serde_json::json!({"name": i.name, "shape": i.shape, "visibility": i.visibility, "scale": i.scale, "zero_point": i.zero_point, "lo": i.lo, "hi": i.hi})).collect::<Vec<_>>(),
        "outputs": g.outputs.iter().map(|o| { let (lo, hi) = out_lo_hi(o.value); serde_json::json!({"name": o.name, "shape": o.shape, "visibility": o.visibility, "scale": o.scale, "zero_point": o.zero_point, "lo": lo, "hi": hi}) }).collect::<Vec<_>>(),
        "weights": g.params.first().map(|p| p.visibility),
        "notes": g.notes,
        "calibration": s.calibration,
    })
}

/// A spinner on stderr with the current step, drawn only on a terminal (quiet in pipes and
/// logs); [`set_progress_hook`] also receives each step (the Python package's progress).
pub struct Progress {
    bar: indicatif::ProgressBar,
    what: String,
}

type Hook = Box<dyn Fn(&str, &str) + Send + Sync>;
static HOOK: std::sync::Mutex<Option<Hook>> = std::sync::Mutex::new(None);

/// Receives `(command, step)` whenever a long command starts a step (None: no hook).
pub fn set_progress_hook(h: Option<Hook>) {
    if let Ok(mut g) = HOOK.lock() {
        *g = h;
    }
}

impl Progress {
    /// Starts the spinner for `what` (a command name).
    pub fn start(what: &str) -> Self {
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress { bar, what: what.to_string() }
    }

    /// A new step.
    pub fn step(&self, step: &str) {
        self.bar.set_message(format!("{}: {step}", self.what));
        if let Ok(g) = HOOK.lock() {
            if let Some(h) = g.as_ref() {
                h(&self.what, step);
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// `docs/cli.md`: every command with its options, from the same definitions `--help` prints
/// (a test keeps the file equal to this).
pub fn cli_markdown() -> String {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    cmd.build();
    let mut md = String::new();
    md.push_str("# Command reference\n\n");
    md.push_str("Generated from the command definitions (`zkinfer --help`, `zkinfer COMMAND --help` print the same);\n");
    md.push_str("`cargo test -p zkinfer-service --lib cli_doc` checks this file is current, and\n");
    md.push_str("`ZKINFER_BLESS=1` with that command rewrites it.\n\n");
    md.push_str("## Output, progress and exit status\n\n");
    md.push_str("- Commands print a text report on stdout. With `--json` (compile, calibrate, setup, prove,\n");
    md.push_str("  verify, hash, evm-verifier, aggregate, check-suite) stdout holds one JSON object instead:\n");
    md.push_str("  the command's report, or `{\"error\": MESSAGE, \"exit_code\": N}`. Other commands refuse `--json`.\n");
    md.push_str("- Long steps (calibrate, setup, prove, aggregate) show a spinner with the current step on\n");
    md.push_str("  stderr when it is a terminal; in pipes and logs they print nothing extra.\n");
    md.push_str("- Errors go to stderr as `error: MESSAGE` (the message names the file, tensor or value at fault).\n\n");
    md.push_str("| exit status | meaning |\n|---|---|\n");
    md.push_str(&format!("| 0 | success |\n| {EXIT_ERROR} | error: bad input, files that do not belong together, I/O, a failed step |\n"));
    md.push_str(&format!("| {EXIT_USAGE} | the command line was refused (unknown command or option, missing argument) |\n"));
    md.push_str(&format!("| {EXIT_REJECTED} | a proof was checked and rejected (verify, evm-verifier, aggregate --verify, hash --proof) |\n\n"));
    md.push_str("## Commands\n\n");
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        md.push_str(&format!("- [`{}`](#zkinfer-{}): {}\n", sub.get_name(), sub.get_name(), first_line(sub.get_about())));
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        doc_command(&mut md, "zkinfer", sub);
    }
    md
}

fn first_line(s: Option<&clap::builder::StyledStr>) -> String {
    s.map(|s| s.to_string()).unwrap_or_default().lines().next().unwrap_or_default().to_string()
}

fn doc_command(md: &mut String, parent: &str, c: &clap::Command) {
    let name = format!("{parent} {}", c.get_name());
    md.push_str(&format!("\n### {name}\n\n"));
    if let Some(about) = c.get_long_about().or(c.get_about()) {
        md.push_str(&format!("{about}\n\n"));
    }
    let mut usage = c.clone().bin_name(&name);
    md.push_str(&format!("```\n{}\n```\n\n", usage.render_usage().to_string().trim_start_matches("Usage: ")));
    let args: Vec<_> = c.get_arguments().filter(|a| !a.is_hide_set() && a.get_id() != "help" && a.get_id() != "json").collect();
    if !args.is_empty() {
        md.push_str("| argument | meaning |\n|---|---|\n");
        for a in args {
            let flag = match (a.get_long(), a.get_short()) {
                (Some(l), Some(s)) => format!("`-{s}`, `--{l}`"),
                (Some(l), None) => format!("`--{l}`"),
                _ => format!("`{}`", a.get_value_names().and_then(|v| v.first()).map(|v| v.to_string()).unwrap_or_else(|| a.get_id().to_string().to_uppercase())),
            };
            let mut help = a.get_long_help().or(a.get_help()).map(|h| h.to_string()).unwrap_or_default().replace('\n', " ").replace('|', "\\|");
            let defaults: Vec<String> = a.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
            if !defaults.is_empty() && a.get_action().takes_values() {
                help.push_str(&format!(" (default: `{}`)", defaults.join(",")));
            }
            let values: Vec<String> = a.get_possible_values().iter().filter(|v| !v.is_hide_set()).map(|v| v.get_name().to_string()).collect();
            if !values.is_empty() && a.get_action().takes_values() {
                help.push_str(&format!(" [one of: {}]", values.join(", ")));
            }
            md.push_str(&format!("| {flag} | {help} |\n"));
        }
    }
    for sub in c.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        doc_command(md, &name, sub);
    }
}

#[cfg(test)]
mod tests {
    /// docs/cli.md is what the command definitions say (rewrite with ZKINFER_BLESS=1).
    #[test]
    fn cli_doc_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/cli.md");
        let want = super::cli_markdown();
        if std::env::var_os("ZKINFER_BLESS").is_some() {
            std::fs::write(&path, &want).expect("write docs/cli.md");
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(have == want, "docs/cli.md is not current: run ZKINFER_BLESS=1 cargo test -p zkinfer-service --lib cli_doc");
    }

    /// Every visible command and option has help text, so that `--help` and docs/cli.md
    /// explain everything.
    #[test]
    fn every_command_and_option_is_documented() {
        use clap::CommandFactory;
        fn walk(c: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in c.get_arguments().filter(|a| !a.is_hide_set() && a.get_id() != "help" && a.get_id() != "version") {
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} {}", a.get_id()));
                }
            }
            for s in c.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
                if s.get_about().is_none() {
                    missing.push(format!("{path} {}", s.get_name()));
                }
                walk(s, &format!("{path} {}", s.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        let mut cmd = super::Cli::command();
        cmd.build();
        walk(&cmd, "zkinfer", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }
}
