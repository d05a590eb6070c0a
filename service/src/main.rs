//! `zkinfer`: prove that an ONNX model produced an output, and verify it natively or on an EVM.

use clap::Parser;
use zkinfer_service::cmd;

fn main() {
    let cli = cmd::Cli::parse();
    if let Err(e) = cmd::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
