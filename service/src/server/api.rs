//! The gRPC handlers (`service/proto/zkinfer.proto`): validate the request, touch the store,
//! and map every failure to a status code that names the problem.

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use zkinfer_circuits::ir::Visibility;
use zkinfer_circuits::onnx::VisibilityOptions;
use zkinfer_prover::artifacts::ProofFile;

use super::proto::prover_server::Prover;
use super::proto::*;
use super::store::{now, JobRow, ModelRow};
use super::worker::Shared;
use crate::cmd::compile::Sharding;
use crate::cmd::server_task::{read_sharding, srs_k, AGGREGATION_K, AGGREGATION_VK_CHECKED, SHARDING_FILE, VISIBILITY_FILE};
use crate::files::{Settings, Workdir};
use crate::pipeline;

/// Largest ONNX upload and request, bytes.
pub const MAX_REQUEST_BYTES: usize = 256 << 20;
/// Most input values in one proof request.
pub const MAX_INPUT_VALUES: usize = 1 << 24;

pub struct Api {
    pub shared: Arc<Shared>,
    /// One Compile/Setup at a time per model.
    pub setup_locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Where `RegisterModel` may read a server-side `path` from (never elsewhere; without it,
    /// models come as bytes only). The API token is checked before any handler runs
    /// ([`super::guard`]).
    pub models_dir: Option<std::path::PathBuf>,
    /// Import, compile and setup children running at once (server-wide).
    pub heavy: Arc<tokio::sync::Semaphore>,
    pub workers: u32,
    pub queue_capacity: u32,
    pub srs: Option<std::path::PathBuf>,
}

fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}

fn blocking_err(e: tokio::task::JoinError) -> Status {
    Status::internal(format!("worker task failed: {e}"))
}

impl Api {
    /// A server-side model path, confined to the configured models directory: resolved
    /// (symbolic links and `..` included) and refused unless inside it.
    fn confine(&self, p: &str) -> Result<String, Status> {
        let Some(root) = &self.models_dir else {
            return Err(Status::permission_denied("this server reads no server-side paths (start it with --models-dir DIR to allow paths inside DIR); send the ONNX bytes instead"));
        };
        let root = root.canonicalize().map_err(|e| Status::internal(format!("models directory {}: {e}", root.display())))?;
        // one answer for a missing file and a file outside: nothing is learnt about the rest
        // of the file system
        let refuse = || Status::permission_denied(format!("{p}: no such model file inside the models directory"));
        let full = root.join(p).canonicalize().map_err(|_| refuse())?;
        if !full.starts_with(&root) {
            return Err(refuse());
        }
        Ok(full.display().to_string())
    }

    /// Runs `zkinfer server-task ARGS` (import, compile, setup) in a child process, at most
    /// [`Api::heavy`] at a time, without the server's secrets; returns the JSON line it prints,
    /// or its error.
    async fn task(&self, args: &[&std::ffi::OsStr]) -> anyhow::Result<serde_json::Value> {
        let mut all: Vec<&std::ffi::OsStr> = vec!["server-task".as_ref()];
        all.extend_from_slice(args);
        let out = self.child(&all).await?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let why = err.lines().rev().find_map(|l| l.strip_prefix("error: ")).map(str::to_string);
            anyhow::bail!("{}", why.unwrap_or_else(|| format!("the {} step stopped ({}){}", args.first().map(|a| a.to_string_lossy()).unwrap_or_default(), out.status, if err.trim().is_empty() { String::new() } else { format!(": {}", err.trim()) })));
        }
        let line = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string();
        Ok(serde_json::from_str(&line)?)
    }

    /// Compiles a stored model (its settings.json, in a child process) and records it.
    async fn compile_model(&self, id: &str) -> anyhow::Result<()> {
        let dir = self.shared.store.model_dir(id);
        let out = self.task(&["compile".as_ref(), dir.as_os_str()]).await?;
        let (k, n) = (out["k"].as_u64().unwrap_or_default() as u32, out["num_instances"].as_u64().unwrap_or_default() as u32);
        self.shared.store.set_model_compiled(id, k, n)?;
        Ok(())
    }

    /// The model for an id or unique prefix (at least 8 hex digits).
    fn resolve(&self, id: &str) -> Result<ModelRow, Status> {
        let id = id.trim().to_ascii_lowercase();
        if id.len() < 8 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Status::invalid_argument(format!("`{id}` is not a model id (hex, at least 8 digits)")));
        }
        let ids = self.shared.store.models_with_prefix(&id).map_err(internal)?;
        match ids.as_slice() {
            [one] => self.shared.store.model(one).map_err(internal)?.ok_or_else(|| Status::not_found(format!("no model {id}"))),
            [] => Err(Status::not_found(format!("no model {id}"))),
            _ => Err(Status::invalid_argument(format!("model id prefix `{id}` is ambiguous"))),
        }
    }

    /// Runs `zkinfer ARGS` in a child process, at most [`Api::heavy`] at a time, without the
    /// server's secrets; returns its exit status and output.
    async fn child(&self, args: &[&std::ffi::OsStr]) -> anyhow::Result<std::process::Output> {
        let _permit = self.heavy.acquire().await?;
        let mut cmd = tokio::process::Command::new(&self.shared.prover_exe);
        cmd.args(args).env_remove("ZKINFER_API_TOKEN").env_remove("ZKINFER_KEY");
        cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).kill_on_drop(true);
        cmd.output().await.map_err(|e| anyhow::anyhow!("cannot start {}: {e}", self.shared.prover_exe.display()))
    }

    /// Verifies an aggregated proof of a sharded model (`zkinfer aggregate --verify` in a child
    /// process, with the aggregation key checked against the shard keys: regenerated the first
    /// time, then known by its hash, recorded beside it).
    async fn verify_aggregated(&self, m: &ModelRow, wd: &Workdir, proof_json: &str) -> Result<Response<VerifyReply>, Status> {
        // a well-formed file first: its problems are the request's
        serde_json::from_str::<crate::files::AggregatedProof>(proof_json).map_err(|e| Status::invalid_argument(format!("proof_json is not a zkinfer aggregated proof file (model {} is sharded): {e}", m.id)))?;
        let agg = wd.0.join("aggregate");
        let (vk, _) = zkinfer_prover::aggregate::read_vk(&agg).map_err(|e| Status::failed_precondition(format!("model {} has no aggregation key (call Setup again, or submit a proof, which makes it): {e}", m.id)))?;
        let sha = hex::encode(zkinfer_prover::keys::vk_hash(&vk));
        let checked = agg.join(AGGREGATION_VK_CHECKED);
        let known = std::fs::read_to_string(&checked).is_ok_and(|c| c.trim() == sha);
        let file = tempfile_in(&self.shared.store.tmp_dir(), proof_json.as_bytes()).map_err(internal)?;
        let mut args: Vec<std::ffi::OsString> = vec!["aggregate".into(), wd.0.clone().into(), "--verify".into(), file.path().into(), "--json".into()];
        if let Some(srs) = self.srs_for(sharded_srs_k(m)) {
            args.extend(["--srs".into(), srs.into()]);
        }
        if known {
            args.extend(["--aggregation-vk".into(), sha.clone().into()]);
        }
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let out = self.child(&args).await.map_err(|e| Status::internal(format!("{e:#}")))?;
        let last: serde_json::Value = String::from_utf8_lossy(&out.stdout).lines().last().and_then(|l| serde_json::from_str(l).ok()).unwrap_or_default();
        match out.status.code() {
            Some(0) => {
                if !known {
                    crate::files::write_atomic(&checked, sha.as_bytes()).map_err(internal)?;
                }
                Ok(Response::new(VerifyReply { valid: true, reason: String::new() }))
            }
            // rejected (exit 3), or refused as not this model's (a file that does not belong)
            Some(3) | Some(1) if last.get("error").is_some() => {
                let why = last["error"].as_str().unwrap_or_default().to_string();
                Ok(Response::new(VerifyReply { valid: false, reason: why }))
            }
            _ => Err(Status::internal(format!("verifying the aggregated proof failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()))),
        }
    }

    /// The SRS file for size `k`: the configured one, else the cached dev SRS (if written).
    fn srs_for(&self, k: u32) -> Option<std::path::PathBuf> {
        self.srs.clone().or_else(|| Some(self.shared.store.dev_srs_path(k)).filter(|p| p.exists()))
    }

    fn setup_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.setup_locks.lock().unwrap_or_else(|p| p.into_inner()).entry(id.to_string()).or_default().clone()
    }

    fn ready(&self, id: &str) -> Result<(ModelRow, Settings), Status> {
        let m = self.resolve(id)?;
        if m.state != "ready" {
            return Err(Status::failed_precondition(format!("model {} is {}: call Setup first{}", m.id, m.state, if m.error.is_empty() { String::new() } else { format!(" ({})", m.error) })));
        }
        let s = Workdir(self.shared.store.model_dir(&m.id)).load_settings().map_err(internal)?;
        Ok((m, s))
    }

    fn job_row(&self, id: &str) -> Result<JobRow, Status> {
        if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Status::invalid_argument(format!("`{id}` is not a job id")));
        }
        self.shared.store.job(id).map_err(internal)?.ok_or_else(|| Status::not_found(format!("no job {id}")))
    }

    fn job_msg(&self, j: &JobRow) -> Job {
        let mut msg = Job {
            job_id: j.id.clone(),
            model_id: j.model_id.clone(),
            state: j.state,
            phase: j.phase.clone(),
            percent: 0.0,
            eta_seconds: 0.0,
            error: j.error.clone(),
            created_at: j.created_at,
            updated_at: j.updated_at,
            prove_seconds: j.prove_seconds as f32,
            attempts: j.attempts,
        };
        if j.state == JobState::Done as i32 {
            msg.percent = 100.0;
        } else if j.state == JobState::Running as i32 {
            // estimate from this model's finished jobs
            let mean = self.shared.store.model(&j.model_id).ok().flatten().map_or(0.0, |m| m.mean_prove_seconds);
            if mean > 0.0 {
                let elapsed = (now() - j.started_at).max(0) as f64;
                msg.percent = (100.0 * elapsed / mean).min(99.0) as f32;
                msg.eta_seconds = (mean - elapsed).max(0.0) as f32;
            }
        }
        msg
    }
}

fn model_msg(m: &ModelRow, wd: &Workdir) -> Model {
    let s = wd.load_settings().ok();
    let s = s.as_ref();
    let shards = crate::files::read_json::<zkinfer_prover::shard::ShardPlan>(&wd.shard_plan()).map_or(0, |p| if p.shards.len() > 1 { p.shards.len() as u32 } else { 0 });
    let tensors = |v: Vec<(String, Vec<usize>, Visibility)>| v.into_iter().map(|(name, shape, vis)| TensorInfo { name, shape: shape.into_iter().map(|d| d as u64).collect(), visibility: vis.name().into() }).collect();
    Model {
        model_id: m.id.clone(),
        name: m.name.clone(),
        state: m.state.clone(),
        k: m.k,
        num_instances: m.num_instances,
        vk_hash: m.vk_hash.clone(),
        error: m.error.clone(),
        inputs: s.map_or(vec![], |s| tensors(s.graph.inputs.iter().map(|i| (i.name.clone(), i.shape.clone(), i.visibility)).collect())),
        outputs: s.map_or(vec![], |s| tensors(s.graph.outputs.iter().map(|o| (o.name.clone(), o.shape.clone(), o.visibility)).collect())),
        shards,
    }
}

/// The SRS size a set-up sharded model needs: its largest shard's (recorded at Setup as its
/// k) or the aggregation circuit's (without reading every shard's settings again).
fn sharded_srs_k(m: &ModelRow) -> u32 {
    m.k.max(AGGREGATION_K)
}

/// How a model is cut, in words.
fn describe(s: Sharding) -> String {
    match (s.max_k, s.shards) {
        (None, None) => format!("as one circuit (shards of 2^{} rows past that size, `compile`'s default)", crate::cmd::compile::DEFAULT_MAX_K),
        (Some(k), None) => format!("in shards of at most 2^{k} rows"),
        (None, Some(n)) => format!("in {n} shards"),
        (Some(k), Some(n)) => format!("in {n} shards of at most 2^{k} rows"),
    }
}

/// Writes `bytes` to a new file in `dir` (removed when dropped).
fn tempfile_in(dir: &Path, bytes: &[u8]) -> std::io::Result<TempFile> {
    std::fs::create_dir_all(dir)?;
    let p = dir.join(format!("verify-{}.json", random_id()));
    std::fs::write(&p, bytes)?;
    Ok(TempFile(p))
}

struct TempFile(std::path::PathBuf);

impl TempFile {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn random_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

type JobStream = Pin<Box<dyn Stream<Item = Result<Job, Status>> + Send>>;

#[tonic::async_trait]
impl Prover for Api {
    async fn health(&self, _: Request<HealthRequest>) -> Result<Response<HealthReply>, Status> {
        let (queued, running) = self.shared.store.counts().map_err(internal)?;
        Ok(Response::new(HealthReply { version: env!("CARGO_PKG_VERSION").into(), queued, running, workers: self.workers, queue_capacity: self.queue_capacity }))
    }

    async fn register_model(&self, req: Request<RegisterModelRequest>) -> Result<Response<Model>, Status> {
        let r = req.into_inner();
        let (bytes, default_name) = match r.source {
            Some(register_model_request::Source::Onnx(b)) => (b, String::new()),
            Some(register_model_request::Source::Path(p)) => {
                let p = self.confine(&p)?;
                let meta = std::fs::metadata(&p).map_err(|e| Status::invalid_argument(format!("cannot read {p}: {e}")))?;
                if !meta.is_file() || meta.len() > MAX_REQUEST_BYTES as u64 {
                    return Err(Status::invalid_argument(format!("{p} is not a regular file of at most {MAX_REQUEST_BYTES} bytes")));
                }
                let path = p.clone();
                let bytes = tokio::task::spawn_blocking(move || std::fs::read(path)).await.map_err(blocking_err)?.map_err(|e| Status::invalid_argument(format!("cannot read {p}: {e}")))?;
                let name = Path::new(&p).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                (bytes, name)
            }
            None => return Err(Status::invalid_argument("give the model as `onnx` bytes or a server-side `path`")),
        };
        if bytes.is_empty() {
            return Err(Status::invalid_argument("the ONNX model is empty"));
        }
        let vis = visibility_options(r.visibility.as_ref()).map_err(Status::invalid_argument)?;
        // the same ONNX with another visibility is another circuit: another id
        let id = if vis.is_default() {
            crate::files::sha256_hex(&bytes)
        } else {
            let mut b = bytes.clone();
            b.extend_from_slice(b"\nzkinfer-visibility:");
            b.extend_from_slice(&serde_json::to_vec(&vis).map_err(internal)?);
            crate::files::sha256_hex(&b)
        };
        let store = &self.shared.store;
        let dir = store.model_dir(&id);
        let onnx = dir.join("model.onnx");
        if !onnx.exists() {
            // import first: an unsupported or malformed model is refused and nothing is stored
            let scratch = std::env::temp_dir().join(format!("zkinfer-upload-{}.onnx", random_id()));
            std::fs::write(&scratch, &bytes).map_err(internal)?;
            let vis_json = serde_json::to_string(&vis).map_err(internal)?;
            let imported = self.task(&["import".as_ref(), scratch.as_os_str(), "--visibility".as_ref(), vis_json.as_ref()]).await;
            let _ = std::fs::remove_file(&scratch);
            imported.map_err(|e| Status::invalid_argument(format!("the ONNX model cannot be proven: {e:#}")))?;
            if !vis.is_default() {
                crate::files::write_json(&dir.join(VISIBILITY_FILE), &vis).map_err(internal)?;
            }
            crate::files::write_atomic(&onnx, &bytes).map_err(internal)?;
        }
        let name = if !r.name.is_empty() { r.name } else if !default_name.is_empty() { default_name } else { id[..12].to_string() };
        let m = store.add_model(&id, &name).map_err(internal)?;
        tracing::info!(model = %id, name = %m.name, "model registered");
        Ok(Response::new(model_msg(&m, &Workdir(dir))))
    }

    async fn compile(&self, req: Request<CompileRequest>) -> Result<Response<Model>, Status> {
        let r = req.into_inner();
        let m = self.resolve(&r.model_id)?;
        // 0: not asked (keep what the model has)
        let asked = Sharding { max_k: (r.max_k > 0).then_some(r.max_k), shards: (r.shards > 0).then_some(r.shards as usize) };
        asked.check().map_err(|e| Status::invalid_argument(format!("{e:#}")))?;
        let lock = self.setup_lock(&m.id);
        let _one_at_a_time = lock.lock().await;
        let m = self.resolve(&m.id)?;
        let wd = Workdir(self.shared.store.model_dir(&m.id));
        let mut recompile = false;
        if asked.is_on() {
            let had = read_sharding(&wd.0).map_err(internal)?;
            if had != asked {
                if m.state == "ready" {
                    return Err(Status::failed_precondition(format!(
                        "model {} is set up {}: compiling it {} would replace its keys, and proofs made with them could no longer be checked here (a model id stands for one circuit or cut per server: use another data directory for another cut)",
                        m.id,
                        describe(had),
                        describe(asked)
                    )));
                }
                crate::files::write_json(&wd.0.join(SHARDING_FILE), &asked).map_err(internal)?;
                recompile = true;
            }
        }
        if recompile || m.state == "registered" || m.state == "failed" || wd.load_settings().is_err() {
            if let Err(e) = self.compile_model(&m.id).await {
                let why = format!("{e:#}");
                self.shared.store.set_model_failed(&m.id, &why).map_err(internal)?;
                return Err(Status::failed_precondition(format!("compiling model {} failed: {why}", m.id)));
            }
        }
        let m = self.resolve(&m.id)?;
        Ok(Response::new(model_msg(&m, &wd)))
    }

    async fn setup(&self, req: Request<ModelRef>) -> Result<Response<Model>, Status> {
        let m = self.resolve(&req.get_ref().model_id)?;
        let lock = self.setup_lock(&m.id);
        let _one_at_a_time = lock.lock().await;
        let m = self.resolve(&m.id)?;
        let wd = Workdir(self.shared.store.model_dir(&m.id));
        if m.state != "ready" {
            let res = async {
                if wd.load_settings().is_err() {
                    self.compile_model(&m.id).await?;
                }
                let s = wd.load_settings()?;
                // without --srs: the UNSAFE dev SRS, cached once per k for the workers (a
                // sharded model's: for its largest shard and the aggregation circuit)
                let srs = match self.srs.clone() {
                    Some(p) => p,
                    None => {
                        let shared = self.shared.clone();
                        let k = srs_k(&wd, &s)?;
                        tokio::task::spawn_blocking(move || shared.store.cache_dev_srs(k)).await??
                    }
                };
                let out = self.task(&["setup".as_ref(), wd.0.as_os_str(), "--srs".as_ref(), srs.as_os_str()]).await?;
                let id = out["model_id"].as_str().map(str::to_string).ok_or_else(|| anyhow::anyhow!("setup printed no model id"))?;
                let k = out["k"].as_u64().unwrap_or(s.k as u64) as u32;
                anyhow::Ok((k, s.num_instances as u32, id))
            }
            .await;
            match res {
                Ok((k, n, vk)) => {
                    tracing::info!(model = %m.id, k, "model set up");
                    self.shared.store.set_model_ready(&m.id, k, n, &vk).map_err(internal)?
                }
                Err(e) => {
                    let why = format!("{e:#}");
                    tracing::warn!(model = %m.id, error = %why, "setup failed");
                    self.shared.store.set_model_failed(&m.id, &why).map_err(internal)?;
                    return Err(Status::failed_precondition(format!("setup of model {} failed: {why}", m.id)));
                }
            }
        }
        let m = self.resolve(&m.id)?;
        Ok(Response::new(model_msg(&m, &wd)))
    }

    async fn get_model(&self, req: Request<ModelRef>) -> Result<Response<Model>, Status> {
        let m = self.resolve(&req.get_ref().model_id)?;
        Ok(Response::new(model_msg(&m, &Workdir(self.shared.store.model_dir(&m.id)))))
    }

    async fn submit_proof(&self, req: Request<SubmitProofRequest>) -> Result<Response<Job>, Status> {
        let r = req.into_inner();
        let (m, s) = self.ready(&r.model_id)?;
        let data: Vec<Vec<f64>> = r.inputs.into_iter().map(|t| t.values).collect();
        let total: usize = data.iter().map(Vec::len).sum();
        if total > MAX_INPUT_VALUES {
            return Err(Status::resource_exhausted(format!("{total} input values, more than the limit {MAX_INPUT_VALUES}")));
        }
        // reject bad inputs now, with the reason, instead of failing the job later
        pipeline::quantize_inputs(&s.graph, &data, r.saturate).map_err(|e| Status::invalid_argument(format!("{e:#}")))?;
        let binding = r.binding.trim();
        if !binding.is_empty() {
            crate::cmd::prove::parse_binding(binding).map_err(|e| Status::invalid_argument(format!("binding: {e}")))?;
        }
        let id = random_id();
        let jd = self.shared.store.job_dir(&id);
        crate::files::write_json(&jd.join("input.json"), &serde_json::json!({ "input_data": data })).map_err(internal)?;
        if !binding.is_empty() {
            crate::files::write_atomic(&jd.join("binding"), binding.as_bytes()).map_err(internal)?;
        }
        if r.saturate {
            crate::files::write_atomic(&jd.join("saturate"), b"1").map_err(internal)?;
        }
        if !self.shared.store.add_job(&id, &m.id, self.queue_capacity).map_err(internal)? {
            let _ = std::fs::remove_dir_all(&jd);
            return Err(Status::resource_exhausted(format!("the queue is full ({} jobs waiting); retry later", self.queue_capacity)));
        }
        self.shared.wake.notify_one();
        tracing::info!(job = %id, model = %m.id, "job queued");
        let j = self.job_row(&id)?;
        Ok(Response::new(self.job_msg(&j)))
    }

    type WatchJobStream = JobStream;

    async fn watch_job(&self, req: Request<JobRef>) -> Result<Response<JobStream>, Status> {
        let first = self.job_row(&req.get_ref().job_id)?;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let shared = self.shared.clone();
        let api = Api { shared: self.shared.clone(), setup_locks: Default::default(), models_dir: None, heavy: self.heavy.clone(), workers: self.workers, queue_capacity: self.queue_capacity, srs: None };
        tokio::spawn(async move {
            let mut last: Option<(i32, String, i64)> = None;
            let mut row = first;
            loop {
                let key = (row.state, row.phase.clone(), row.updated_at);
                let msg = api.job_msg(&row);
                let terminal = row.state != JobState::Queued as i32 && row.state != JobState::Running as i32;
                // send on every change, and every second while running (percent/ETA move)
                if last.as_ref() != Some(&key) || row.state == JobState::Running as i32 {
                    if tx.send(Ok(msg)).await.is_err() {
                        return; // the client went away
                    }
                    last = Some(key);
                }
                if terminal {
                    return;
                }
                let pause = Duration::from_millis(if row.state == JobState::Running as i32 { 1000 } else { 250 });
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = tx.closed() => return, // the client went away
                }
                row = match shared.store.job(&row.id) {
                    Ok(Some(r)) => r,
                    _ => return,
                };
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn get_job(&self, req: Request<JobRef>) -> Result<Response<Job>, Status> {
        let j = self.job_row(&req.get_ref().job_id)?;
        Ok(Response::new(self.job_msg(&j)))
    }

    async fn list_jobs(&self, req: Request<ListJobsRequest>) -> Result<Response<ListJobsReply>, Status> {
        let r = req.into_inner();
        let model = if r.model_id.is_empty() { None } else { Some(self.resolve(&r.model_id)?.id) };
        let limit = if r.limit == 0 { 100 } else { r.limit.min(1000) };
        let rows = self.shared.store.jobs(model.as_deref(), limit).map_err(internal)?;
        Ok(Response::new(ListJobsReply { jobs: rows.iter().map(|j| self.job_msg(j)).collect() }))
    }

    async fn cancel_job(&self, req: Request<JobRef>) -> Result<Response<Job>, Status> {
        let j = self.job_row(&req.get_ref().job_id)?;
        if !self.shared.store.cancel(&j.id).map_err(internal)? {
            return Err(Status::failed_precondition(format!("job {} is already {}", j.id, state_name(j.state))));
        }
        self.shared.kill(&j.id);
        tracing::info!(job = %j.id, "job cancelled");
        let j = self.job_row(&j.id)?;
        Ok(Response::new(self.job_msg(&j)))
    }

    async fn get_proof(&self, req: Request<JobRef>) -> Result<Response<ProofReply>, Status> {
        let j = self.job_row(&req.get_ref().job_id)?;
        if j.state != JobState::Done as i32 {
            return Err(Status::failed_precondition(format!("job {} is {}, no proof{}", j.id, state_name(j.state), if j.error.is_empty() { String::new() } else { format!(" ({})", j.error) })));
        }
        let p = self.shared.store.job_dir(&j.id).join("proof.json");
        let proof_json = std::fs::read_to_string(&p).map_err(|e| Status::data_loss(format!("the proof of job {} is missing: {e}", j.id)))?;
        Ok(Response::new(ProofReply { proof_json }))
    }

    async fn verify(&self, req: Request<VerifyRequest>) -> Result<Response<VerifyReply>, Status> {
        let r = req.into_inner();
        let (m, s) = self.ready(&r.model_id)?;
        let wd = Workdir(self.shared.store.model_dir(&m.id));
        if wd.shard_plan().exists() {
            return self.verify_aggregated(&m, &wd, &r.proof_json).await;
        }
        let p: ProofFile = serde_json::from_str(&r.proof_json).map_err(|e| Status::invalid_argument(format!("proof_json is not a zkinfer proof file: {e}")))?;
        let (shared, srs) = (self.shared.clone(), self.srs_for(s.k));
        let v = tokio::task::spawn_blocking(move || -> anyhow::Result<zkinfer_prover::Verdict> {
            let wd = Workdir(shared.store.model_dir(&m.id));
            let params = pipeline::load_params(srs.as_deref(), s.k)?;
            let v = pipeline::verify(&wd, &s, &params, &p)?;
            // a valid proof with other (or unpinned) weights is not a proof of this model
            Ok(match (&v, pipeline::check_weights(&s, &p, &[], false)) {
                (zkinfer_prover::Verdict::Valid, Err(e)) => zkinfer_prover::Verdict::Invalid(format!("{e:#}")),
                _ => v,
            })
        })
        .await
        .map_err(blocking_err)?
        .map_err(|e| Status::invalid_argument(format!("{e:#}")))?;
        Ok(Response::new(VerifyReply { valid: v.is_valid(), reason: match v { zkinfer_prover::Verdict::Valid => String::new(), zkinfer_prover::Verdict::Invalid(why) => why } }))
    }

    async fn get_evm_verifier(&self, req: Request<ModelRef>) -> Result<Response<EvmVerifierReply>, Status> {
        let (m, s) = self.ready(&req.get_ref().model_id)?;
        let wd = Workdir(self.shared.store.model_dir(&m.id));
        if wd.shard_plan().exists() {
            // the aggregation verifier, whose key Setup made
            let agg = wd.0.join("aggregate");
            let (vk, layout) = zkinfer_prover::aggregate::read_vk(&agg).map_err(|e| Status::failed_precondition(format!("model {} is sharded: its EVM verifier checks its aggregated proofs, and it has no aggregation key (call Setup again, or submit a proof, which makes it): {e}", m.id)))?;
            let srs = self.srs_for(sharded_srs_k(&m));
            let r = tokio::task::spawn_blocking(move || -> anyhow::Result<(String, pipeline::AggregationVerifier)> {
                let params = pipeline::load_params(srs.as_deref(), layout.k)?;
                let c = pipeline::aggregation_verifier(&agg, &params, &vk, layout.num_instances())?;
                Ok((std::fs::read_to_string(agg.join("Verifier.sol"))?, c))
            })
            .await
            .map_err(blocking_err)?
            .map_err(|e| Status::internal(format!("{e:#}")))?;
            let (solidity, c) = r;
            return Ok(Response::new(EvmVerifierReply { solidity, bytecode: c.bytecode, deployed_size: c.largest_runtime as u32, parts: c.parts }));
        }
        let (shared, srs) = (self.shared.clone(), self.srs_for(s.k));
        let r = tokio::task::spawn_blocking(move || -> anyhow::Result<(String, pipeline::EvmReport)> {
            let wd = Workdir(shared.store.model_dir(&m.id));
            let params = pipeline::load_params(srs.as_deref(), s.k)?;
            let r = pipeline::evm_verifier(&wd, &s, &params, None)?;
            Ok((std::fs::read_to_string(wd.sol())?, r))
        })
        .await
        .map_err(blocking_err)?
        .map_err(|e| Status::internal(format!("{e:#}")))?;
        let (solidity, r) = r;
        Ok(Response::new(EvmVerifierReply { solidity, bytecode: r.bytecode, deployed_size: r.deployed_size as u32, parts: r.parts }))
    }
}

/// A registered model's visibility choice, beside its model.onnx (absent: all public).

/// The request's visibility as import options; an error names a bad value.
fn visibility_options(v: Option<&crate::server::proto::TensorVisibility>) -> Result<VisibilityOptions, String> {
    let Some(v) = v else { return Ok(VisibilityOptions::default()) };
    let parse = |what: &str, s: &str| -> Result<Visibility, String> { if s.is_empty() { Ok(Visibility::Public) } else { s.parse().map_err(|e| format!("visibility of {what}: {e}")) } };
    let mut o = VisibilityOptions { inputs: parse("the inputs", &v.inputs)?, outputs: parse("the outputs", &v.outputs)?, tensors: Default::default(), weights: Default::default() };
    for (name, vis) in &v.tensors {
        o.tensors.insert(name.clone(), parse(&format!("`{name}`"), vis)?);
    }
    Ok(o)
}


pub fn state_name(s: i32) -> &'static str {
    match JobState::try_from(s) {
        Ok(JobState::Queued) => "queued",
        Ok(JobState::Running) => "running",
        Ok(JobState::Done) => "done",
        Ok(JobState::Failed) => "failed",
        Ok(JobState::Cancelled) => "cancelled",
        _ => "unknown",
    }
}
