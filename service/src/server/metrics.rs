//! A Prometheus text endpoint (`GET /metrics`) for `zkinfer serve --metrics ADDR`: jobs by
//! state and the prove-time histogram, read from the store at each scrape (so the numbers
//! survive restarts). A minimal HTTP/1.1 responder on its own listener; anything but
//! `GET /metrics` gets 404.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::proto::JobState;
use super::store::Store;
use super::worker::Shared;

/// Upper bounds (seconds) of the prove-time histogram buckets.
pub const BUCKETS: [f64; 10] = [0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0];

/// The metrics page.
pub fn render(store: &Store) -> Result<String> {
    let mut out = String::new();
    out += "# HELP zkinfer_jobs Proof jobs by state.\n# TYPE zkinfer_jobs gauge\n";
    for (s, n) in store.state_counts()? {
        let name = match s {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Unspecified => continue,
        };
        let _ = writeln!(out, "zkinfer_jobs{{state=\"{name}\"}} {n}");
    }
    let (cum, sum, count) = store.prove_histogram(&BUCKETS)?;
    out += "# HELP zkinfer_prove_seconds Prove time of finished jobs.\n# TYPE zkinfer_prove_seconds histogram\n";
    for (b, c) in BUCKETS.iter().zip(&cum) {
        let _ = writeln!(out, "zkinfer_prove_seconds_bucket{{le=\"{b}\"}} {c}");
    }
    let _ = writeln!(out, "zkinfer_prove_seconds_bucket{{le=\"+Inf\"}} {count}\nzkinfer_prove_seconds_sum {sum}\nzkinfer_prove_seconds_count {count}");
    Ok(out)
}

/// Binds the metrics address (before the gRPC listener, so a bad address stops the start).
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} for metrics"))?;
    eprintln!("zkinfer serve: metrics on http://{}/metrics", listener.local_addr()?);
    Ok(listener)
}

/// Serves `/metrics` on `listener` until the process ends.
pub async fn serve_metrics(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let (mut sock, _) = match listener.accept().await {
            Ok(c) => c,
            Err(_) => continue,
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            // read the request head (it may arrive in several segments), at most 4 KiB, 5 s
            let mut buf = Vec::with_capacity(1024);
            let read_head = async {
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 4096 {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            };
            if tokio::time::timeout(std::time::Duration::from_secs(5), read_head).await.is_err() {
                return;
            }
            let head = String::from_utf8_lossy(&buf);
            let (status, body) = if head.starts_with("GET /metrics ") || head.starts_with("GET /metrics\r") {
                match render(&shared.store) {
                    Ok(b) => ("200 OK", b),
                    Err(e) => ("500 Internal Server Error", format!("{e:#}\n")),
                }
            } else {
                ("404 Not Found", "only GET /metrics\n".to_string())
            };
            let resp = format!("HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}
