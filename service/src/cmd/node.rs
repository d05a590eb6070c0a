use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::market::chain::{dev_signer, signer};
use crate::market::client::Market;
use crate::market::local::LocalChain;
use crate::market::rpc::RpcChain;
use crate::node::{self, NodeConfig};

#[derive(clap::Args)]
pub struct Args {
    /// JSON-RPC endpoint. Default: the embedded chain in DIR/chain.json.
    #[arg(long)]
    rpc: Option<String>,
    /// Market directory holding deployment.json (`zkinfer market deploy`).
    #[arg(long, default_value = "out/market")]
    dir: PathBuf,
    /// The provider's private key, hex (or $ZKINFER_KEY). Default: public dev account 2.
    #[arg(long)]
    key: Option<String>,
    /// A compiled model directory (`zkinfer compile` + `setup`) to serve; repeatable.
    #[arg(long = "model", required = true)]
    models: Vec<PathBuf>,
    /// The node's data directory (its SQLite store, queued proofs).
    #[arg(long, default_value = "out/node")]
    data: PathBuf,
    /// Proofs run at the same time.
    #[arg(long, default_value_t = 1)]
    workers: u32,
    /// Milliseconds between polls of the market.
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// Skip jobs whose deadline is closer than this many seconds.
    #[arg(long, default_value_t = 60)]
    min_time_left: u64,
    /// Exit once nothing is claimed or proving and no new job appeared.
    #[arg(long)]
    exit_when_idle: bool,
    /// SRS file (default: the UNSAFE dev SRS, tests and demos only).
    #[arg(long)]
    srs: Option<PathBuf>,
    #[command(flatten)]
    log: super::LogArgs,
}

pub fn run(a: Args) -> Result<()> {
    a.log.init();
    let key = match a.key.clone().or_else(|| std::env::var("ZKINFER_KEY").ok()) {
        Some(k) => signer(&k).context("--key / $ZKINFER_KEY")?,
        None => dev_signer(2)?,
    };
    let market = Market::load(&a.dir.join("deployment.json"))?;
    let cfg = NodeConfig {
        data: a.data,
        models: a.models,
        workers: a.workers,
        poll: Duration::from_millis(a.poll_ms),
        min_time_left: a.min_time_left,
        exit_when_idle: a.exit_when_idle,
        prover_exe: std::env::current_exe().context("cannot find the zkinfer executable")?,
        srs: a.srs,
    };
    match &a.rpc {
        Some(url) => {
            let mut chain = RpcChain::connect(url)?;
            node::run(cfg, &mut chain, &market, &key)
        }
        None => {
            // the embedded chain lives in a file other commands also write: one pass only
            if !cfg.exit_when_idle {
                anyhow::bail!("on the embedded chain the node runs one pass: add --exit-when-idle (or use --rpc URL)");
            }
            let mut chain = LocalChain::open(&a.dir.join("chain.json"))?;
            let res = node::run(cfg, &mut chain, &market, &key);
            chain.save()?;
            res
        }
    }
}
