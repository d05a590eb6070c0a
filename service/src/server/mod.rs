//! The gRPC prover service (`zkinfer serve`): API in [`api`], durable state in [`store`],
//! proving workers in [`worker`]. The protocol is `service/proto/zkinfer.proto`.

pub mod api;
pub mod guard;
pub mod metrics;
pub mod store;
pub mod worker;

/// Types and client/server stubs generated from `service/proto/zkinfer.proto`.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    tonic::include_proto!("zkinfer.v1");
}

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

/// Server settings.
pub struct Config {
    pub listen: SocketAddr,
    pub data: PathBuf,
    /// Proofs run at the same time.
    pub workers: u32,
    /// Jobs that may wait in the queue; more are refused with RESOURCE_EXHAUSTED.
    pub queue_capacity: u32,
    pub token: Option<String>,
    pub srs: Option<PathBuf>,
    /// The executable the workers run to prove (`zkinfer`).
    pub prover_exe: PathBuf,
    /// Where to serve Prometheus metrics (`GET /metrics`), if anywhere.
    pub metrics: Option<SocketAddr>,
    /// Metrics may be served beyond loopback (they show job counts and timings).
    pub metrics_public: bool,
    /// The only directory `RegisterModel` may read a server-side path from.
    pub models_dir: Option<PathBuf>,
    /// TLS certificate chain and private key (PEM files): serve over TLS (rustls).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Finished jobs (rows and files: inputs, proofs) are deleted this long after they end;
    /// `None` keeps them.
    pub retention: Option<std::time::Duration>,
}

/// Runs the server until the process is stopped.
pub async fn serve(cfg: Config) -> Result<()> {
    if !cfg.listen.ip().is_loopback() && cfg.token.as_deref().is_none_or(str::is_empty) {
        bail!("listening on {} (beyond loopback) needs an API token: --token or $ZKINFER_API_TOKEN", cfg.listen);
    }
    if cfg.metrics.is_some_and(|a| !a.ip().is_loopback()) && !cfg.metrics_public {
        bail!("metrics on {} would be served beyond loopback: add --metrics-public to mean it", cfg.metrics.map(|a| a.to_string()).unwrap_or_default());
    }
    if cfg.workers == 0 || cfg.queue_capacity == 0 {
        bail!("--workers and --queue must be at least 1");
    }
    let store = store::Store::open(&cfg.data)?;
    let (queued, _) = store.counts()?;
    let shared = Arc::new(worker::Shared {
        store,
        wake: tokio::sync::Notify::new(),
        running: Default::default(),
        prover_exe: cfg.prover_exe.clone(),
        srs: cfg.srs.clone(),
    });
    worker::spawn_workers(shared.clone(), cfg.workers as usize);
    if let Some(keep) = cfg.retention {
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                let before = store::now() - keep.as_secs() as i64;
                let s = shared.clone();
                match tokio::task::spawn_blocking(move || s.store.purge_finished(before)).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!(jobs = n, "finished jobs past retention deleted"),
                    Ok(Err(e)) => tracing::warn!(error = %format!("{e:#}"), "job retention pass failed"),
                    Err(e) => tracing::warn!(error = %e, "job retention pass failed"),
                }
                tokio::time::sleep(std::time::Duration::from_secs(600).min(keep.max(std::time::Duration::from_secs(10)))).await;
            }
        });
    }
    if let Some(addr) = cfg.metrics {
        let listener = metrics::bind(addr).await?;
        tokio::spawn(metrics::serve_metrics(listener, shared.clone()));
    }
    let api = api::Api { shared, setup_locks: Default::default(), models_dir: cfg.models_dir.clone(), heavy: Arc::new(tokio::sync::Semaphore::new(cfg.workers as usize)), workers: cfg.workers, queue_capacity: cfg.queue_capacity, srs: cfg.srs.clone() };
    let svc = proto::prover_server::ProverServer::new(api).max_decoding_message_size(api::MAX_REQUEST_BYTES).max_encoding_message_size(api::MAX_REQUEST_BYTES);
    let listener = tokio::net::TcpListener::bind(cfg.listen).await.with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    // the line tests and scripts wait for
    eprintln!("zkinfer serve: listening on {addr} ({}data {}, {} worker(s), queue {}, {} job(s) queued from before{})", if cfg.tls.is_some() { "TLS, " } else { "" }, cfg.data.display(), cfg.workers, cfg.queue_capacity, queued, if cfg.token.is_some() { ", token required for mutating calls" } else { "" });
    let mut builder = tonic::transport::Server::builder();
    if let Some((cert, key)) = &cfg.tls {
        crate::tls_provider();
        let read = |p: &PathBuf| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
        let identity = tonic::transport::Identity::from_pem(read(cert)?, read(key)?);
        builder = builder.tls_config(tonic::transport::ServerTlsConfig::new().identity(identity)).context("TLS certificate or key")?;
    }
    builder
        // per connection: streams at once, and how long a call may take to answer (streams
        // such as WatchJob answer at once and then stream); idle connections are probed
        .concurrency_limit_per_connection(32)
        .max_concurrent_streams(Some(64))
        .timeout(std::time::Duration::from_secs(3600))
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(20)))
        .layer(guard::GuardLayer { token: cfg.token.as_deref().map(Arc::from) })
        .add_service(svc)
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
        .context("the gRPC server stopped")
}
