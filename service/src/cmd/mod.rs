//! Subcommands: one module each; this file only parses and dispatches.

mod aggregate;
mod bench_kernels;
mod calibrate;
mod check_suite;
mod client;
mod compile;
mod demo;
mod evm;
mod hash;
mod market;
mod node;
pub mod prove;
mod serve;
pub mod server_task;
mod setup;
mod synth;
mod verify;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "zkinfer", version, about = "Zero-knowledge proofs of ONNX model inference (halo2/KZG on BN254)")]
pub struct Cli {
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
    /// The server's heavy steps (import, compile, setup), run in a child process.
    #[command(hide = true)]
    ServerTask(server_task::Args),
}

/// The executables' `main`: parse, run, print the error chain and exit 1 on failure.
pub fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Compile(a) => compile::run(a),
        Cmd::Calibrate(a) => calibrate::run(a),
        Cmd::Setup(a) => setup::run(a),
        Cmd::Prove(a) => prove::run(a),
        Cmd::Verify(a) => verify::run(a),
        Cmd::Hash(a) => hash::run(a),
        Cmd::EvmVerifier(a) => evm::run(a),
        Cmd::Aggregate(a) => aggregate::run(a),
        Cmd::Demo(a) => demo::run(a),
        Cmd::CheckSuite(a) => check_suite::run(a),
        Cmd::Market(a) => market::run(a),
        Cmd::Serve(a) => serve::run(a),
        Cmd::Client(a) => client::run(a),
        Cmd::Node(a) => node::run(a),
        Cmd::BenchKernels(a) => bench_kernels::run(a),
        Cmd::SynthMlp(a) => synth::run(a),
        Cmd::SynthCnn(a) => synth::run_cnn(a),
        Cmd::ServerTask(a) => server_task::run(a),
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
