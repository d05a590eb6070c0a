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
    /// File holding the provider's private key (hex); or set $ZKINFER_KEY. Never on the
    /// command line, where other users of the machine can read it. Default: public dev
    /// account 2, accepted on local chains (chain id 31337) only.
    #[arg(long)]
    key_file: Option<PathBuf>,
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
    /// SRS file (default: the UNSAFE dev SRS, tests and demos only; refused on chains other
    /// than local ones).
    #[arg(long)]
    srs: Option<PathBuf>,
    /// Most jobs claimed or proving at once (default: twice --workers).
    #[arg(long)]
    max_claims: Option<usize>,
    /// Smallest payment (ETH) worth claiming a job for.
    #[arg(long, default_value = "0")]
    min_payment: String,
    /// An ERC-20 token accepted as payment besides ETH (repeatable); jobs in other tokens are skipped.
    #[arg(long = "token")]
    tokens: Vec<String>,
    /// Largest stake / payment ratio of a job worth claiming.
    #[arg(long, default_value_t = 10.0)]
    max_stake_ratio: f64,
    /// Factor on the cost model's predicted prove time when judging if a deadline leaves time.
    #[arg(long, default_value_t = 2.0)]
    prove_safety: f64,
    /// Settle claimed jobs of a model N at a time with one aggregated proof (submitBatch), for
    /// models whose owner registered a batch verifier of this size that is the one compiled
    /// here from the model's key (keys in MODEL/batch-N/, made when missing). Jobs whose
    /// deadline leaves no time for a batch, or whose batch failed, are proved one by one.
    /// Raise --max-claims to at least N.
    #[arg(long, value_name = "N")]
    batch: Option<usize>,
    /// log2 of the batch circuit's rows (18..=23), as its verifier was registered with.
    #[arg(long, default_value_t = 21)]
    batch_k: u32,
    /// The wrapped root's log2 rows, as the batch verifier was registered with
    /// (`market register-batch --root-k`); none: the root is not wrapped.
    #[arg(long, value_name = "ROOT_K")]
    batch_root_k: Option<u32>,
    /// Longest a claimed job waits for others to fill a batch (seconds).
    #[arg(long, default_value_t = 600)]
    batch_wait: u64,
    #[command(flatten)]
    log: super::LogArgs,
}

pub fn run(a: Args) -> Result<()> {
    a.log.init();
    let key = match (&a.key_file, std::env::var("ZKINFER_KEY").ok()) {
        (Some(f), _) => signer(&std::fs::read_to_string(f).with_context(|| format!("--key-file {}", f.display()))?).with_context(|| format!("--key-file {}", f.display()))?,
        (None, Some(k)) => signer(&k).context("$ZKINFER_KEY")?,
        (None, None) => dev_signer(2)?,
    };
    let mut tokens = vec![alloy_primitives::Address::ZERO];
    for t in &a.tokens {
        tokens.push(t.parse().with_context(|| format!("--token `{t}`: not an address"))?);
    }
    if !(a.max_stake_ratio >= 0.0 && a.prove_safety > 0.0) {
        anyhow::bail!("--max-stake-ratio must be >= 0 and --prove-safety > 0");
    }
    let policy = node::ClaimPolicy {
        max_claims: a.max_claims.unwrap_or(2 * a.workers.max(1) as usize).max(1),
        min_payment: crate::market::chain::parse_eth(&a.min_payment).context("--min-payment")?,
        tokens,
        max_stake_ratio: a.max_stake_ratio,
        prove_safety: a.prove_safety,
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
        policy,
        batch: match a.batch {
            Some(size) if !(2..=64).contains(&size) => anyhow::bail!("--batch must be 2..=64, not {size}"),
            Some(size) => Some(node::BatchConfig { size, plan: crate::batch::BatchPlan { k: a.batch_k, root_k: a.batch_root_k }, max_wait: a.batch_wait }),
            None => None,
        },
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
