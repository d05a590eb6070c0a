//! The proving workers. Each proof runs in a child process (`zkinfer prove ... --phases`), so
//! cancelling a job really stops the work (the child is killed) and a crash while proving
//! cannot take the server down. Workers take the oldest queued job from the store; a job
//! that was running when the server died is queued again on restart (see [`super::store`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{oneshot, Notify};

use super::proto::JobState;
use super::store::Store;

/// Shared by the API and the workers.
pub struct Shared {
    pub store: Store,
    /// Wakes idle workers when a job is queued.
    pub wake: Notify,
    /// Kill switches of the running children, by job id.
    pub running: Mutex<HashMap<String, oneshot::Sender<()>>>,
    /// The executable that proves (`zkinfer`).
    pub prover_exe: PathBuf,
    /// `--srs FILE` for the children.
    pub srs: Option<PathBuf>,
}

impl Shared {
    /// Stops the child proving `job`, if any.
    pub fn kill(&self, job: &str) {
        let tx = self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(job);
        if let Some(tx) = tx {
            let _ = tx.send(());
        }
    }
}

/// Starts `n` workers on the current tokio runtime.
pub fn spawn_workers(shared: Arc<Shared>, n: usize) {
    for _ in 0..n {
        let s = shared.clone();
        tokio::spawn(async move {
            loop {
                match s.store.take_next() {
                    Ok(Some(job)) => {
                        tracing::info!(job = %job.id, model = %job.model_id, attempt = job.attempts, "job started");
                        run_job(&s, job.id, job.model_id).await
                    }
                    Ok(None) => {
                        // sleep until a job is queued (or poll: a job queued by another path)
                        let _ = tokio::time::timeout(Duration::from_secs(2), s.wake.notified()).await;
                    }
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), "worker cannot read the job queue");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }
}

async fn run_job(s: &Shared, job: String, model: String) {
    let (state, error, secs) = match prove_child(s, &job, &model).await {
        Ok(secs) => (JobState::Done, String::new(), secs),
        Err(e) => (JobState::Failed, e, 0.0),
    };
    match state {
        JobState::Done => tracing::info!(job = %job, prove_seconds = secs, "job done"),
        _ => tracing::warn!(job = %job, error = %error, "job failed or cancelled"),
    }
    if let Err(e) = s.store.finish(&job, state, &error, secs) {
        tracing::error!(job = %job, error = %format!("{e:#}"), "cannot record the end of the job");
    }
}

/// Runs the prover child for `job`; returns the prove seconds, or why it failed.
async fn prove_child(s: &Shared, job: &str, model: &str) -> Result<f64, String> {
    let jd = s.store.job_dir(job);
    let out = jd.join("proof.json");
    let mut cmd = tokio::process::Command::new(&s.prover_exe);
    let dir = crate::files::Workdir(s.store.model_dir(model));
    if dir.shard_plan().exists() {
        // a sharded model: every shard proved, then one aggregated proof (with the keys in
        // DIR/aggregate/, at their size)
        cmd.arg("aggregate").arg(&dir.0).arg("--out").arg(&out).arg("--phases");
        let k = zkinfer_prover::aggregate::read_layout(&dir.0.join("aggregate")).map_or(crate::cmd::server_task::AGGREGATION_K, |l| l.k);
        cmd.arg("--k").arg(k.to_string());
    } else {
        cmd.arg("prove").arg(&dir.0).arg("--out").arg(&out).arg("--phases");
    }
    let quantized = jd.join("input_q.json");
    if quantized.exists() {
        cmd.arg("--quantized-input").arg(quantized);
    } else {
        cmd.arg("--input").arg(jd.join("input.json"));
    }
    if let Ok(b) = std::fs::read_to_string(jd.join("binding")) {
        cmd.arg("--binding").arg(b.trim());
    }
    if jd.join("saturate").exists() {
        cmd.arg("--saturate");
    }
    // the configured SRS, else the dev SRS the server cached at setup (else the child derives it)
    let mut k = s.store.model(model).ok().flatten().map_or(0, |m| m.k);
    if dir.shard_plan().exists() {
        // (the shards' SRS serves the aggregation circuit too: cached at setup for both)
        k = k.max(crate::cmd::server_task::AGGREGATION_K);
    }
    match &s.srs {
        Some(srs) => {
            cmd.arg("--srs").arg(srs);
        }
        None if s.store.dev_srs_path(k).exists() => {
            cmd.arg("--srs").arg(s.store.dev_srs_path(k));
        }
        None => {}
    }
    // the prover needs no secret of the server or the node
    cmd.env_remove("ZKINFER_API_TOKEN").env_remove("ZKINFER_KEY");
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| format!("cannot start the prover {}: {e}", s.prover_exe.display()))?;
    let (tx, mut rx) = oneshot::channel();
    s.running.lock().unwrap_or_else(|p| p.into_inner()).insert(job.to_string(), tx);
    // a cancel that came before the kill switch was registered found nothing to kill
    if s.store.job(job).ok().flatten().is_none_or(|j| j.state != JobState::Running as i32) {
        s.kill(job);
    }
    let mut lines = BufReader::new(child.stderr.take().ok_or("no stderr pipe")?).lines();
    let mut last_error = String::new();
    let status = loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(l)) => {
                    if let Some(p) = l.strip_prefix("zkinfer-phase: ") {
                        let _ = s.store.set_phase(job, p.trim());
                    } else if let Some(e) = l.strip_prefix("error: ") {
                        last_error = e.to_string();
                    }
                }
                // stderr closed: wait for the exit status (still killable)
                _ => break tokio::select! {
                    st = child.wait() => st,
                    _ = &mut rx => { let _ = child.kill().await; s.running.lock().unwrap_or_else(|p| p.into_inner()).remove(job); return Err("cancelled".into()); }
                },
            },
            _ = &mut rx => {
                let _ = child.kill().await;
                return Err("cancelled".into());
            }
        }
    };
    s.running.lock().unwrap_or_else(|p| p.into_inner()).remove(job);
    let status = status.map_err(|e| format!("prover child: {e}"))?;
    if !status.success() {
        return Err(if last_error.is_empty() { format!("the prover exited with {status}") } else { last_error });
    }
    let text = std::fs::read_to_string(&out).map_err(|e| format!("the prover wrote no proof: {e}"))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("the proof file is corrupt: {e}"))?;
    // (an aggregated proof: its shard or model proofs plus the aggregation)
    let secs = |f: &str| v.get(f).and_then(|x| x.as_f64());
    Ok(secs("prove_seconds").unwrap_or_else(|| secs("model_prove_seconds").unwrap_or(0.0) + secs("aggregate_prove_seconds").unwrap_or(0.0)))
}
