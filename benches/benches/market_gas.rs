//! Gas report of the on-chain market with real zkinfer proofs: `cargo bench -p zkinfer-benches
//! --bench market_gas` (set `ZKINFER_RPC=http://127.0.0.1:8545` to measure on a node such as
//! anvil instead of the embedded revm chain). Gas is deterministic, so this prints a table once
//! per model instead of timing repetitions. Models: the bundled MLP and CNN (int8), or the
//! directories named in `ZKINFER_BENCH_MODELS` (comma-separated, each with model.onnx and
//! input.json).

use std::path::{Path, PathBuf};

use anyhow::Result;
use zkinfer_circuits::onnx::ImportOptions;
use zkinfer_service::files::{read_inputs, write_json, Workdir};
use zkinfer_service::market::chain::Chain;
use zkinfer_service::market::flow::settle;
use zkinfer_service::market::local::LocalChain;
use zkinfer_service::market::rpc::RpcChain;
use zkinfer_service::pipeline;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn one(model: &Path) -> Result<String> {
    let wd = Workdir(std::env::temp_dir().join(format!("zkinfer-gas-{}-{}", std::process::id(), model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())));
    let s = pipeline::compile(&model.join("model.onnx"), ImportOptions::default(), None, pipeline::Objective::default())?;
    write_json(&wd.settings(), &s)?;
    let params = pipeline::load_params(None, s.k)?; // UNSAFE dev SRS: benchmark only
    pipeline::setup(&wd, &s, &params)?;
    let data = read_inputs(&model.join("input.json"))?;
    let mut chain: Box<dyn Chain> = match std::env::var("ZKINFER_RPC") {
        Ok(url) => Box::new(RpcChain::connect(&url)?),
        Err(_) => Box::new(LocalChain::new()?),
    };
    let st = settle(chain.as_mut(), &wd, &s, &params, &data, None)?;
    let (n_in, n_out, n_params) = zkinfer_service::market::flow::instance_counts(&s.graph);
    Ok(format!("model {} (k = {}, shape {}/{}, {} public instances: binding + {n_in} input + {n_out} output + {n_params} weight words)\n{}", model.display(), s.k, s.shape.width, s.shape.lookup_width, 1 + n_in + n_out + n_params, st.table()))
}

fn main() {
    // `cargo test --benches` runs bench targets with no `--bench` flag: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let models: Vec<PathBuf> = match std::env::var("ZKINFER_BENCH_MODELS") {
        // relative to the repository root (cargo runs benches in benches/)
        Ok(list) => list.split(',').map(|m| repo().join(m)).collect(),
        Err(_) => ["models/digits_mlp_int8", "models/digits_cnn_int8"].iter().map(|m| repo().join(m)).collect(),
    };
    for m in models {
        match one(&m) {
            Ok(t) => println!("{t}\n"),
            Err(e) => println!("model {}: error: {e:#}\n", m.display()),
        }
    }
}
