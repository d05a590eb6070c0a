use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::server::{serve, Config};

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on. Beyond loopback an API token is required.
    #[arg(long, default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// Data directory: zkinfer.db (SQLite), models/, jobs/.
    #[arg(long, default_value = "out/server")]
    data: PathBuf,
    /// Proofs run at the same time (each in its own process).
    #[arg(long, default_value_t = 1)]
    workers: u32,
    /// Jobs that may wait; beyond it SubmitProof answers RESOURCE_EXHAUSTED.
    #[arg(long = "queue", default_value_t = 64)]
    queue_capacity: u32,
    /// API token required on mutating calls (or $ZKINFER_API_TOKEN).
    #[arg(long)]
    token: Option<String>,
    /// Serve Prometheus metrics (jobs by state, prove-time histogram) at http://ADDR/metrics.
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// Allow --metrics beyond loopback.
    #[arg(long)]
    metrics_public: bool,
    /// A directory RegisterModel may read server-side model paths from (paths are resolved
    /// and must stay inside it). Without it, models are uploaded as bytes only.
    #[arg(long)]
    models_dir: Option<PathBuf>,
    /// Hours a finished job (its inputs and proof) is kept before it is deleted; 0 keeps
    /// jobs forever.
    #[arg(long, default_value_t = 168)]
    job_retention_hours: u64,
    /// Serve over TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// SRS file for setup/prove/verify. Without it: the UNSAFE dev SRS (tests and demos only).
    #[arg(long)]
    srs: Option<PathBuf>,
    #[command(flatten)]
    log: super::LogArgs,
}

pub fn run(a: Args) -> Result<()> {
    a.log.init();
    let token = a.token.or_else(|| std::env::var("ZKINFER_API_TOKEN").ok()).filter(|t| !t.is_empty());
    if a.srs.is_none() {
        eprintln!("zkinfer serve: WARNING: no --srs: keys and proofs use the UNSAFE dev SRS (tests and demos only)");
    }
    let cfg = Config {
        listen: a.listen,
        data: a.data,
        workers: a.workers,
        queue_capacity: a.queue_capacity,
        token,
        srs: a.srs,
        prover_exe: std::env::current_exe().context("cannot find the zkinfer executable")?,
        metrics: a.metrics,
        metrics_public: a.metrics_public,
        models_dir: a.models_dir,
        tls: a.tls_cert.zip(a.tls_key),
        retention: (a.job_retention_hours > 0).then(|| std::time::Duration::from_secs(a.job_retention_hours.saturating_mul(3600))),
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("cannot start the async runtime")?;
    rt.block_on(serve(cfg))
}
