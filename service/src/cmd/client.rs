//! `zkinfer client ...`: talks to `zkinfer serve` over gRPC.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::Request;

use crate::files::{read_inputs, write_atomic};
use crate::server::api::state_name;
use crate::server::proto::prover_client::ProverClient;
use crate::server::proto::*;

#[derive(clap::Args)]
pub struct Args {
    /// Server URL.
    #[arg(long, global = true, default_value = "http://127.0.0.1:50051")]
    server: String,
    /// API token (or $ZKINFER_API_TOKEN), sent as `authorization: Bearer <token>`.
    #[arg(long, global = true)]
    token: Option<String>,
    /// CA certificate (PEM) to check a TLS server's certificate with (the URL is https://).
    #[arg(long, global = true)]
    tls_ca: Option<PathBuf>,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(clap::Subcommand)]
enum Verb {
    /// Server version and queue occupancy.
    Health,
    /// Upload an ONNX model; prints its id (sha256 of the file).
    Register {
        /// The ONNX model file.
        onnx: PathBuf,
        /// A display name (default: the file name).
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        vis: super::compile::VisibilityArgs,
    },
    /// Import the model and size its circuit (idempotent).
    Compile {
        /// The model id `register` printed.
        model: String,
        /// Cut the model into shards of at most 2^K rows each (as `zkinfer compile --max-k`).
        #[arg(long, value_name = "K")]
        max_k: Option<u32>,
        /// Plan exactly N shards.
        #[arg(long, value_name = "N")]
        shards: Option<u32>,
    },
    /// Compile the model and generate its keys (idempotent).
    Setup {
        /// The model id `register` printed.
        model: String,
    },
    /// Queue a proof; with --wait, follow it and write the proof file.
    Prove {
        /// The model id `register` printed.
        model: String,
        /// The input ({"input_data": [[...]]}).
        #[arg(long)]
        input: PathBuf,
        /// Binding value (public instance 0), hex; default 0 (unbound).
        #[arg(long, default_value = "")]
        binding: String,
        /// Saturate input values outside the quantized range instead of rejecting them.
        #[arg(long)]
        saturate: bool,
        /// Follow the job until it ends and write its proof (to --out).
        #[arg(long)]
        wait: bool,
        /// Where --wait writes the proof.
        #[arg(short, long, default_value = "proof.json")]
        out: PathBuf,
    },
    /// Follow a job's progress until it ends.
    Watch {
        /// The job id.
        job: String,
    },
    /// List recent jobs.
    Jobs {
        /// Only this model's jobs (default: all).
        #[arg(long, default_value = "")]
        model: String,
    },
    /// Cancel a queued or running job.
    Cancel {
        /// The job id.
        job: String,
    },
    /// Write a finished job's proof file.
    GetProof {
        /// The job id.
        job: String,
        /// Where to write the proof.
        #[arg(short, long, default_value = "proof.json")]
        out: PathBuf,
    },
    /// Verify a proof file on the server.
    Verify {
        /// The model id.
        model: String,
        /// The proof file.
        proof: PathBuf,
    },
    /// Load test: CLIENTS concurrent clients each submit JOBS proofs of MODEL on INPUT and
    /// wait for them; prints throughput and p50/p99 latency, and checks no job was lost or
    /// duplicated (every submitted id ends done, exactly once).
    Load {
        /// The model id.
        model: String,
        /// The input every job proves.
        #[arg(long)]
        input: PathBuf,
        /// Concurrent clients.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Jobs per client.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
    },
    /// Write the model's Solidity verifier (Verifier.sol) and bytecode (verifier.bin).
    EvmVerifier {
        /// The model id.
        model: String,
        /// Output directory.
        #[arg(short, long, default_value = ".")]
        out: PathBuf,
    },
}

struct Client {
    inner: ProverClient<Channel>,
    token: Option<String>,
}

impl Client {
    fn req<T>(&self, msg: T) -> Result<Request<T>> {
        let mut r = Request::new(msg);
        if let Some(t) = &self.token {
            let v: MetadataValue<_> = format!("Bearer {t}").parse().context("the token is not valid header text")?;
            r.metadata_mut().insert("authorization", v);
        }
        Ok(r)
    }
}

fn status(e: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", e.code(), e.message())
}

fn show_job(j: &Job) -> String {
    let mut s = format!("job {} ({}): {}", j.job_id, &j.model_id[..j.model_id.len().min(12)], state_name(j.state));
    if !j.phase.is_empty() {
        s += &format!(" [{}]", j.phase);
    }
    if j.state == JobState::Running as i32 && j.percent > 0.0 {
        s += &format!(" {:.0}%, ~{:.0} s left", j.percent, j.eta_seconds);
    }
    if j.state == JobState::Done as i32 {
        s += &format!(", proved in {:.2} s", j.prove_seconds);
    }
    if !j.error.is_empty() {
        s += &format!(": {}", j.error);
    }
    s
}

pub fn run(a: Args) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    rt.block_on(run_async(a))
}

/// Follows a job: a progress bar on a terminal, one line per update otherwise.
async fn watch(c: &mut Client, job: &str) -> Result<Job> {
    let mut stream = c.inner.watch_job(c.req(JobRef { job_id: job.into() })?).await.map_err(status)?.into_inner();
    let bar = indicatif::ProgressBar::new(100);
    bar.set_style(indicatif::ProgressStyle::with_template("{spinner} job {prefix} {msg:24} [{bar:30}] {pos:>3}% ETA {eta}").map_err(|e| anyhow::anyhow!("{e}"))?.progress_chars("=> "));
    bar.set_prefix(job[..job.len().min(8)].to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let mut last = None;
    while let Some(j) = stream.message().await.map_err(status)? {
        if bar.is_hidden() {
            say!("{}", show_job(&j));
        } else {
            bar.set_message(format!("{}{}", state_name(j.state), if j.phase.is_empty() { String::new() } else { format!(" [{}]", j.phase) }));
            bar.set_position(j.percent as u64);
        }
        last = Some(j);
    }
    bar.finish_and_clear();
    let end = last.context("the server closed the stream without a job state")?;
    if !bar.is_hidden() {
        say!("{}", show_job(&end));
    }
    Ok(end)
}

async fn run_async(a: Args) -> Result<()> {
    let token = a.token.clone().or_else(|| std::env::var("ZKINFER_API_TOKEN").ok()).filter(|t| !t.is_empty());
    let mut endpoint = tonic::transport::Endpoint::from_shared(a.server.clone()).with_context(|| format!("`{}` is not a server URL", a.server))?;
    if let Some(ca) = &a.tls_ca {
        crate::tls_provider();
        let pem = std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?;
        endpoint = endpoint.tls_config(tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(pem))).context("TLS configuration")?;
    }
    let channel = endpoint.connect().await.with_context(|| format!("cannot connect to a zkinfer server at {} (start one with `zkinfer serve`)", a.server))?;
    let inner = ProverClient::new(channel)
        .max_decoding_message_size(crate::server::api::MAX_REQUEST_BYTES)
        .max_encoding_message_size(crate::server::api::MAX_REQUEST_BYTES);
    let mut c = Client { inner, token };
    match a.verb {
        Verb::Health => {
            let h = c.inner.health(c.req(HealthRequest {})?).await.map_err(status)?.into_inner();
            say!("zkinfer {}: {} queued, {} running, {} worker(s), queue capacity {}", h.version, h.queued, h.running, h.workers, h.queue_capacity);
        }
        Verb::Register { onnx, name, vis } => {
            let bytes = std::fs::read(&onnx).with_context(|| format!("cannot read {}", onnx.display()))?;
            let name = if name.is_empty() { onnx.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default() } else { name };
            let v = vis.options();
            let visibility = (!v.is_default()).then(|| TensorVisibility {
                inputs: v.inputs.name().into(),
                outputs: v.outputs.name().into(),
                tensors: v.tensors.iter().map(|(k, x)| (k.clone(), x.name().to_string())).collect(),
            });
            let m = c.inner.register_model(c.req(RegisterModelRequest { name, source: Some(register_model_request::Source::Onnx(bytes)), visibility })?).await.map_err(status)?.into_inner();
            say!("model {} ({}): {}", m.model_id, m.name, m.state);
        }
        Verb::Compile { model, max_k, shards } => {
            let m = c.inner.compile(c.req(CompileRequest { model_id: model, max_k: max_k.unwrap_or(0), shards: shards.unwrap_or(0) })?).await.map_err(status)?.into_inner();
            say!("model {}: {}, k = {}{}, {} public instances", m.model_id, m.state, m.k, shard_note(&m), m.num_instances);
        }
        Verb::Setup { model } => {
            let m = c.inner.setup(c.req(ModelRef { model_id: model })?).await.map_err(status)?.into_inner();
            say!("model {}: {}, k = {}{}, {} public instances, identity {}", m.model_id, m.state, m.k, shard_note(&m), m.num_instances, m.vk_hash);
        }
        Verb::Prove { model, input, binding, saturate, wait, out } => {
            let inputs = read_inputs(&input)?.into_iter().map(|values| Tensor { values }).collect();
            let j = c.inner.submit_proof(c.req(SubmitProofRequest { model_id: model, inputs, binding, saturate })?).await.map_err(status)?.into_inner();
            say!("{}", show_job(&j));
            if wait {
                let end = watch(&mut c, &j.job_id).await?;
                if end.state != JobState::Done as i32 {
                    bail!("job {} ended {}: {}", end.job_id, state_name(end.state), end.error);
                }
                let p = c.inner.get_proof(c.req(JobRef { job_id: j.job_id })?).await.map_err(status)?.into_inner();
                write_atomic(&out, p.proof_json.as_bytes())?;
                say!("proof -> {}", out.display());
            }
        }
        Verb::Watch { job } => {
            let end = watch(&mut c, &job).await?;
            if end.state != JobState::Done as i32 {
                bail!("job {job} ended {}", state_name(end.state));
            }
        }
        Verb::Jobs { model } => {
            let r = c.inner.list_jobs(c.req(ListJobsRequest { model_id: model, limit: 100 })?).await.map_err(status)?.into_inner();
            for j in &r.jobs {
                say!("{}", show_job(j));
            }
        }
        Verb::Cancel { job } => {
            let j = c.inner.cancel_job(c.req(JobRef { job_id: job })?).await.map_err(status)?.into_inner();
            say!("{}", show_job(&j));
        }
        Verb::GetProof { job, out } => {
            let p = c.inner.get_proof(c.req(JobRef { job_id: job })?).await.map_err(status)?.into_inner();
            write_atomic(&out, p.proof_json.as_bytes())?;
            say!("proof -> {}", out.display());
        }
        Verb::Verify { model, proof } => {
            let proof_json = std::fs::read_to_string(&proof).with_context(|| format!("cannot read {}", proof.display()))?;
            let v = c.inner.verify(c.req(VerifyRequest { model_id: model, proof_json })?).await.map_err(status)?.into_inner();
            if v.valid {
                say!("valid");
            } else {
                bail!("INVALID: {}", v.reason);
            }
        }
        Verb::Load { model, input, clients, jobs } => {
            let inputs: Vec<Tensor> = read_inputs(&input)?.into_iter().map(|values| Tensor { values }).collect();
            let r = load(&c, &model, inputs, clients, jobs).await?;
            say!("{r}");
        }
        Verb::EvmVerifier { model, out } => {
            let r = c.inner.get_evm_verifier(c.req(ModelRef { model_id: model })?).await.map_err(status)?.into_inner();
            write_atomic(&out.join("Verifier.sol"), r.solidity.as_bytes())?;
            write_atomic(&out.join("verifier.bin"), hex::encode(&r.bytecode).as_bytes())?;
            for (i, part) in r.parts.iter().enumerate() {
                write_atomic(&out.join(format!("verifier.part{}.bin", i + 1)), hex::encode(part).as_bytes())?;
            }
            if r.parts.is_empty() {
                say!("Verifier.sol and verifier.bin -> {} ({} bytes deployed)", out.display(), r.deployed_size);
            } else {
                say!("Verifier.sol, verifier.bin (the head) and verifier.part1..{}.bin -> {} (split for EIP-170, the largest contract {} bytes): deploy the head, then call its installVerifierPart(bytes) with each part in order", r.parts.len(), out.display(), r.deployed_size);
            }
        }
    }
    Ok(())
}

/// Result of [`load`].
pub struct LoadReport {
    pub jobs: usize,
    pub wall_seconds: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub rejected_busy: usize,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} jobs done in {:.1} s: {:.2} proofs/s; latency (submit -> done) p50 {:.2} s, p99 {:.2} s, max {:.2} s; {} submissions retried after RESOURCE_EXHAUSTED; no job lost or duplicated",
            self.jobs,
            self.wall_seconds,
            self.jobs as f64 / self.wall_seconds,
            self.p50,
            self.p99,
            self.max,
            self.rejected_busy
        )
    }
}

async fn load(c: &Client, model: &str, inputs: Vec<Tensor>, clients: usize, jobs: usize) -> Result<LoadReport> {
    use std::time::Instant;
    if clients == 0 || jobs == 0 || clients * jobs > 1000 {
        bail!("--clients and --jobs must be at least 1, with at most 1000 jobs in all");
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (mut cl, token, model, inputs) = (c.inner.clone(), c.token.clone(), model.to_string(), inputs.clone());
        tasks.push(tokio::spawn(async move {
            let me = Client { inner: cl.clone(), token };
            let mut out = Vec::new();
            let mut busy = 0usize;
            for _ in 0..jobs {
                let t = Instant::now();
                let job = loop {
                    match cl.submit_proof(me.req(SubmitProofRequest { model_id: model.clone(), inputs: inputs.clone(), binding: String::new(), saturate: false })?).await {
                        Ok(j) => break j.into_inner(),
                        Err(e) if e.code() == tonic::Code::ResourceExhausted => {
                            busy += 1;
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        }
                        Err(e) => return Err(status(e)),
                    }
                };
                let mut stream = cl.watch_job(me.req(JobRef { job_id: job.job_id.clone() })?).await.map_err(status)?.into_inner();
                let mut last = None;
                while let Some(j) = stream.message().await.map_err(status)? {
                    last = Some(j);
                }
                let end = last.context("empty job stream")?;
                if end.state != JobState::Done as i32 {
                    bail!("job {} ended {}: {}", end.job_id, state_name(end.state), end.error);
                }
                out.push((job.job_id, t.elapsed().as_secs_f64()));
            }
            Ok::<_, anyhow::Error>((out, busy))
        }));
    }
    let mut done = Vec::new();
    let mut rejected_busy = 0;
    for t in tasks {
        let (v, b) = t.await.context("client task panicked")??;
        done.extend(v);
        rejected_busy += b;
    }
    let wall_seconds = start.elapsed().as_secs_f64();
    let mut ids: Vec<&String> = done.iter().map(|(id, _)| id).collect();
    ids.sort();
    ids.dedup();
    if ids.len() != clients * jobs || done.len() != clients * jobs {
        bail!("{} distinct jobs finished for {} submitted", ids.len(), clients * jobs);
    }
    // the server's own list agrees: every job is there once, done
    let mut inner = c.inner.clone();
    let list = inner.list_jobs(c.req(ListJobsRequest { model_id: model.to_string(), limit: 1000 })?).await.map_err(status)?.into_inner();
    for id in &ids {
        let n = list.jobs.iter().filter(|j| &&j.job_id == id).count();
        let ok = list.jobs.iter().any(|j| &&j.job_id == id && j.state == JobState::Done as i32);
        if n != 1 || !ok {
            bail!("job {id} appears {n} time(s) in the server's list (done: {ok})");
        }
    }
    let mut lat: Vec<f64> = done.iter().map(|(_, s)| *s).collect();
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1];
    Ok(LoadReport { jobs: lat.len(), wall_seconds, p50: q(0.5), p99: q(0.99), max: lat[lat.len() - 1], rejected_busy })
}

/// ", N shards (the largest)" for a sharded model.
fn shard_note(m: &Model) -> String {
    if m.shards > 1 { format!(" (largest of {} shards)", m.shards) } else { String::new() }
}
