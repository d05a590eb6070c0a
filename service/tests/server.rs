//! The gRPC prover service end to end: `zkinfer serve` runs as a real process on loopback and
//! the generated client talks to it. Covers the API, bad requests and their status codes,
//! back-pressure (full queue), cancellation that stops the prover, restart recovery after
//! kill -9 during proving, and the API token.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use tonic::{Code, Request};
use zkinfer_service::server::proto::prover_client::ProverClient;
use zkinfer_service::server::proto::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("zkinfer-server-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A running `zkinfer serve`, killed (SIGKILL) on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(data: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_zkinfer"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .current_dir(repo())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start zkinfer serve");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let url = loop {
            let line = lines.next().expect("server printed its address").expect("utf8");
            if let Some(rest) = line.strip_prefix("zkinfer serve: listening on ") {
                break format!("http://{}", rest.split_whitespace().next().expect("addr"));
            }
        };
        // keep draining stderr so the server never blocks on a full pipe
        std::thread::spawn(move || for _ in lines {});
        Server { child, url }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

async fn client(url: &str) -> ProverClient<Channel> {
    ProverClient::connect(url.to_string()).await.expect("connect").max_encoding_message_size(64 << 20)
}

fn onnx(model: &str) -> Vec<u8> {
    std::fs::read(repo().join("models").join(model).join("model.onnx")).expect("model")
}

fn input(model: &str) -> Vec<Tensor> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(repo().join("models").join(model).join("input.json")).expect("input")).expect("json");
    v["input_data"].as_array().expect("list").iter().map(|l| Tensor { values: l.as_array().expect("list").iter().map(|x| x.as_f64().expect("number")).collect() }).collect()
}

async fn register_and_setup(c: &mut ProverClient<Channel>, model: &str) -> String {
    let m = c.register_model(RegisterModelRequest { name: model.into(), source: Some(register_model_request::Source::Onnx(onnx(model))), ..Default::default() }).await.expect("register").into_inner();
    assert_eq!(m.state, "registered");
    let m = c.compile(CompileRequest { model_id: m.model_id, ..Default::default() }).await.expect("compile").into_inner();
    assert!(m.state == "compiled" && m.k > 0, "{m:?}");
    let m = c.setup(ModelRef { model_id: m.model_id }).await.expect("setup").into_inner();
    assert_eq!(m.state, "ready");
    m.model_id
}

async fn wait_for(c: &mut ProverClient<Channel>, job: &str, want: JobState, secs: u64) -> Job {
    let t = Instant::now();
    loop {
        let j = c.get_job(JobRef { job_id: job.into() }).await.expect("job").into_inner();
        if j.state == want as i32 {
            return j;
        }
        assert!(t.elapsed() < Duration::from_secs(secs), "job {job} did not reach {want:?} in {secs} s: {j:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn code<T: std::fmt::Debug>(r: Result<tonic::Response<T>, tonic::Status>) -> (Code, String) {
    let e = r.expect_err("expected an error status");
    (e.code(), e.message().to_string())
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let t = Instant::now();
    let mut s = loop {
        match std::net::TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(e) => {
                assert!(t.elapsed() < Duration::from_secs(10), "metrics endpoint not up: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn api_and_bad_requests() {
    let data = tmp("api");
    let metrics = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").to_string();
    let server = Server::start(&data, &["--metrics", &metrics]);
    rt().block_on(async {
        let mut c = client(&server.url).await;
        let h = c.health(HealthRequest {}).await.expect("health").into_inner();
        assert_eq!((h.workers, h.queue_capacity), (1, 64));

        // bad models: not ONNX, empty, nothing given, unreadable path
        let bad = |source| RegisterModelRequest { name: String::new(), source, ..Default::default() };
        let (k, msg) = code(c.register_model(bad(Some(register_model_request::Source::Onnx(b"not onnx".to_vec())))).await);
        assert_eq!(k, Code::InvalidArgument, "{msg}");
        assert!(msg.contains("ONNX"), "{msg}");
        assert_eq!(code(c.register_model(bad(Some(register_model_request::Source::Onnx(vec![])))).await).0, Code::InvalidArgument);
        assert_eq!(code(c.register_model(bad(None)).await).0, Code::InvalidArgument);
        // server-side paths: refused unless the server was given a models directory
        let (k, msg) = code(c.register_model(bad(Some(register_model_request::Source::Path("/etc/passwd".into())))).await);
        assert_eq!(k, Code::PermissionDenied, "{msg}");
        assert!(msg.contains("--models-dir"), "{msg}");

        // proving before setup is refused
        let reg = c.register_model(RegisterModelRequest { name: String::new(), source: Some(register_model_request::Source::Onnx(onnx("digits_mlp_int8"))), ..Default::default() }).await.expect("register").into_inner();
        let early = SubmitProofRequest { model_id: reg.model_id.clone(), inputs: input("digits_mlp_int8"), binding: String::new(), saturate: false };
        assert_eq!(code(c.submit_proof(early).await).0, Code::FailedPrecondition);
        let id = register_and_setup(&mut c, "digits_mlp_int8").await;
        // registering the same bytes again is the same model; setup is idempotent
        let again = c.register_model(RegisterModelRequest { name: "x".into(), source: Some(register_model_request::Source::Onnx(onnx("digits_mlp_int8"))), ..Default::default() }).await.expect("again").into_inner();
        assert_eq!((again.model_id.as_str(), again.state.as_str()), (id.as_str(), "ready"));
        let m = c.get_model(ModelRef { model_id: id[..10].into() }).await.expect("prefix").into_inner();
        assert_eq!(m.inputs[0].shape, vec![1, 64]);

        // bad proof requests
        let req = |model_id: &str, inputs: Vec<Tensor>, binding: &str| SubmitProofRequest { model_id: model_id.into(), inputs, binding: binding.into(), saturate: false };
        assert_eq!(code(c.submit_proof(req("abc", input("digits_mlp_int8"), "")).await).0, Code::InvalidArgument);
        assert_eq!(code(c.submit_proof(req("0123456789abcdef", input("digits_mlp_int8"), "")).await).0, Code::NotFound);
        let (k, msg) = code(c.submit_proof(req(&id, vec![Tensor { values: vec![0.5; 63] }], "")).await);
        assert_eq!(k, Code::InvalidArgument);
        assert!(msg.contains("63"), "{msg}");
        let (k, msg) = code(c.submit_proof(req(&id, vec![], "")).await);
        assert!(k == Code::InvalidArgument && msg.contains("input"), "{msg}");
        let mut nan = input("digits_mlp_int8");
        nan[0].values[3] = f64::NAN;
        assert_eq!(code(c.submit_proof(req(&id, nan, "")).await).0, Code::InvalidArgument);
        let mut big = input("digits_mlp_int8");
        big[0].values[0] = 1e9;
        assert_eq!(code(c.submit_proof(req(&id, big, "")).await).0, Code::InvalidArgument);
        assert_eq!(code(c.submit_proof(req(&id, input("digits_mlp_int8"), "0xzz")).await).0, Code::InvalidArgument);
        assert_eq!(code(c.get_job(JobRef { job_id: "nope!".into() }).await).0, Code::InvalidArgument);
        assert_eq!(code(c.get_job(JobRef { job_id: "abcdef".into() }).await).0, Code::NotFound);

        // a real proof, followed with WatchJob
        let j = c.submit_proof(req(&id, input("digits_mlp_int8"), "0x1234")).await.expect("submit").into_inner();
        assert_eq!(j.state, JobState::Queued as i32);
        let mut stream = c.watch_job(JobRef { job_id: j.job_id.clone() }).await.expect("watch").into_inner();
        let mut states = vec![];
        while let Some(u) = stream.message().await.expect("stream") {
            states.push(u.state);
        }
        assert_eq!(states.last(), Some(&(JobState::Done as i32)), "{states:?}");
        let p = c.get_proof(JobRef { job_id: j.job_id.clone() }).await.expect("proof").into_inner();
        let v = c.verify(VerifyRequest { model_id: id.clone(), proof_json: p.proof_json.clone() }).await.expect("verify").into_inner();
        assert!(v.valid, "{}", v.reason);
        // the binding was applied: instance 0 is 0x1234
        let pf: serde_json::Value = serde_json::from_str(&p.proof_json).expect("json");
        assert!(pf["instances"][0].as_str().expect("hex").ends_with("1234"));
        // a tampered proof is invalid; a proof with lying decoded values is refused
        let mut t: serde_json::Value = pf.clone();
        let s = t["proof"].as_str().expect("hex").to_string();
        let flipped = format!("{}{}", &s[..100], if &s[100..101] == "0" { "1" } else { "0" }) + &s[101..];
        t["proof"] = serde_json::Value::String(flipped);
        let v = c.verify(VerifyRequest { model_id: id.clone(), proof_json: t.to_string() }).await.expect("verify").into_inner();
        assert!(!v.valid);
        let mut lie = pf.clone();
        lie["outputs"][0]["quantized"][0] = serde_json::json!(lie["outputs"][0]["quantized"][0].as_i64().expect("int") + 1);
        assert_eq!(code(c.verify(VerifyRequest { model_id: id.clone(), proof_json: lie.to_string() }).await).0, Code::InvalidArgument);
        assert_eq!(code(c.verify(VerifyRequest { model_id: id.clone(), proof_json: "{".into() }).await).0, Code::InvalidArgument);
        // a finished job cannot be cancelled
        assert_eq!(code(c.cancel_job(JobRef { job_id: j.job_id.clone() }).await).0, Code::FailedPrecondition);
        let list = c.list_jobs(ListJobsRequest { model_id: String::new(), limit: 0 }).await.expect("list").into_inner();
        assert_eq!(list.jobs.len(), 1);
        let evm = c.get_evm_verifier(ModelRef { model_id: id.clone() }).await.expect("evm").into_inner();
        assert!(evm.solidity.contains("contract") && evm.deployed_size > 0 && !evm.bytecode.is_empty());
    });
    let page = http_get(&metrics, "/metrics");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("zkinfer_jobs{state=\"done\"} 1") && page.contains("zkinfer_prove_seconds_count 1"), "{page}");
    assert!(http_get(&metrics, "/").starts_with("HTTP/1.1 404"));
}

/// Back-pressure, cancellation and restart recovery on the CNN (a few seconds per proof).
#[test]
fn queue_full_cancel_and_restart_recovery() {
    let data = tmp("queue");
    let mut server = Server::start(&data, &["--workers", "1", "--queue", "1"]);
    let rt = rt();
    let (id, job2) = rt.block_on(async {
        let mut c = client(&server.url).await;
        let id = register_and_setup(&mut c, "digits_cnn_int8").await;
        let req = || SubmitProofRequest { model_id: id.clone(), inputs: input("digits_cnn_int8"), binding: String::new(), saturate: false };
        let j1 = c.submit_proof(req()).await.expect("job 1").into_inner();
        wait_for(&mut c, &j1.job_id, JobState::Running, 30).await;
        let j2 = c.submit_proof(req()).await.expect("job 2 waits in the queue").into_inner();
        let (k, msg) = code(c.submit_proof(req()).await);
        assert_eq!(k, Code::ResourceExhausted, "{msg}");
        // cancelling the running job stops its prover; the queued one starts
        let cj = c.cancel_job(JobRef { job_id: j1.job_id.clone() }).await.expect("cancel").into_inner();
        assert_eq!(cj.state, JobState::Cancelled as i32);
        wait_for(&mut c, &j2.job_id, JobState::Running, 30).await;
        let j1 = c.get_job(JobRef { job_id: j1.job_id.clone() }).await.expect("job 1").into_inner();
        assert_eq!(j1.state, JobState::Cancelled as i32);
        assert!(!data.join("jobs").join(&j1.job_id).join("proof.json").exists(), "the cancelled prover wrote a proof");
        assert_eq!(code(c.get_proof(JobRef { job_id: j1.job_id.clone() }).await).0, Code::FailedPrecondition);
        (id, j2.job_id)
    });
    // kill -9 while job 2 is proving; a new server on the same data finishes it
    server.kill();
    let server = Server::start(&data, &["--workers", "1", "--queue", "1"]);
    rt.block_on(async {
        let mut c = client(&server.url).await;
        let j = wait_for(&mut c, &job2, JobState::Done, 120).await;
        assert_eq!(j.attempts, 2, "re-queued once after the crash");
        let p = c.get_proof(JobRef { job_id: job2.clone() }).await.expect("proof").into_inner();
        let v = c.verify(VerifyRequest { model_id: id, proof_json: p.proof_json }).await.expect("verify").into_inner();
        assert!(v.valid, "{}", v.reason);
    });
}

#[test]
fn token_guards_mutating_calls() {
    let data = tmp("auth");
    let server = Server::start(&data, &["--token", "s3cret"]);
    rt().block_on(async {
        let mut c = client(&server.url).await;
        c.health(HealthRequest {}).await.expect("health needs no token");
        let reg = || RegisterModelRequest { name: String::new(), source: Some(register_model_request::Source::Onnx(onnx("digits_mlp_int8"))), ..Default::default() };
        assert_eq!(code(c.register_model(reg()).await).0, Code::Unauthenticated);
        let mut wrong = Request::new(reg());
        wrong.metadata_mut().insert("authorization", "Bearer s3creT".parse().expect("header"));
        assert_eq!(code(c.register_model(wrong).await).0, Code::Unauthenticated);
        let mut right = Request::new(reg());
        right.metadata_mut().insert("authorization", "Bearer s3cret".parse().expect("header"));
        c.register_model(right).await.expect("with the token");
        // without the token, a large upload is refused like a small one (before it is decoded)
        let junk = RegisterModelRequest { name: String::new(), source: Some(register_model_request::Source::Onnx(vec![7u8; 8 << 20])), ..Default::default() };
        assert_eq!(code(c.register_model(junk).await).0, Code::Unauthenticated);
        // with it, a small method's request over its limit is cut off, not decoded
        let mut huge = Request::new(JobRef { job_id: "a".repeat(200 << 10) });
        huge.metadata_mut().insert("authorization", "Bearer s3cret".parse().expect("header"));
        let (k, msg) = code(c.get_job(huge).await);
        assert!(k != Code::NotFound && k != Code::InvalidArgument && k != Code::Ok, "{k:?}: {msg}");
        eprintln!("oversized GetJob: {k:?}: {msg}");
    });
    // a models directory confines server-side paths
    let server = Server::start(&tmp("paths"), &["--models-dir", repo().join("models").to_str().expect("utf8")]);
    rt().block_on(async {
        let mut c = client(&server.url).await;
        let path = |p: &str| RegisterModelRequest { name: String::new(), source: Some(register_model_request::Source::Path(p.into())), ..Default::default() };
        c.register_model(path("digits_mlp_int8/model.onnx")).await.expect("inside the models directory");
        for outside in ["../README.md", "/etc/passwd", "digits_mlp_int8/../../Cargo.toml"] {
            let (k, msg) = code(c.register_model(path(outside)).await);
            assert!(k == Code::PermissionDenied || k == Code::InvalidArgument, "{outside}: {k:?} {msg}");
            assert!(!msg.contains("ONNX"), "{outside} was read: {msg}");
        }
    });
    // metrics beyond loopback need saying so
    let out = Command::new(env!("CARGO_BIN_EXE_zkinfer")).args(["serve", "--listen", "127.0.0.1:0", "--metrics", "0.0.0.0:0", "--data"]).arg(tmp("metrics")).output().expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--metrics-public"), "{}", String::from_utf8_lossy(&out.stderr));
    // beyond loopback without a token: refused at start
    let out = Command::new(env!("CARGO_BIN_EXE_zkinfer")).args(["serve", "--listen", "0.0.0.0:0", "--data"]).arg(tmp("open")).output().expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("token"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Bounded load test: 32 concurrent clients, one MLP proof each, against a 2-worker server
/// with a queue of 8 (so back-pressure is exercised); `zkinfer client load` checks every job
/// finished exactly once. Prints throughput and latency (not asserted: no timing asserts).
#[test]
fn load_32_concurrent_clients() {
    let data = tmp("load");
    let server = Server::start(&data, &["--workers", "2", "--queue", "8"]);
    let id = rt().block_on(async {
        let mut c = client(&server.url).await;
        register_and_setup(&mut c, "digits_mlp_int8").await
    });
    let out = Command::new(env!("CARGO_BIN_EXE_zkinfer"))
        .args(["client", "--server", &server.url, "load", &id, "--input", "models/digits_mlp_int8/input.json", "--clients", "32", "--jobs", "1"])
        .current_dir(repo())
        .output()
        .expect("run the load client");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "load failed: {}{}", text, String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("32 jobs done") && text.contains("no job lost or duplicated"), "{text}");
    eprintln!("{text}");
}

/// RegisterModel with a visibility: another id than the public registration of the same
/// ONNX, the visibility reported per tensor, proofs carrying digests; bad visibilities are
/// INVALID_ARGUMENT and store nothing.
#[test]
fn registration_with_hashed_visibility() {
    let data = tmp("visibility");
    let server = Server::start(&data, &[]);
    rt().block_on(async {
        let mut c = client(&server.url).await;
        let reg = |vis: Option<TensorVisibility>| RegisterModelRequest { name: String::new(), source: Some(register_model_request::Source::Onnx(onnx("digits_mlp_int8"))), visibility: vis };
        let public = c.register_model(reg(None)).await.expect("register").into_inner();
        let hashed = TensorVisibility { inputs: "hashed".into(), outputs: "hashed".into(), tensors: Default::default() };
        let m = c.register_model(reg(Some(hashed.clone()))).await.expect("register hashed").into_inner();
        assert_ne!(m.model_id, public.model_id, "another visibility is another model");
        let (k, msg) = code(c.register_model(reg(Some(TensorVisibility { inputs: "secret".into(), ..hashed.clone() }))).await);
        assert!(k == Code::InvalidArgument && msg.contains("not a visibility"), "{k:?} {msg}");
        let mut unknown = hashed.clone();
        unknown.tensors.insert("nosuch".into(), "private".into());
        let (k, msg) = code(c.register_model(reg(Some(unknown))).await);
        assert!(k == Code::InvalidArgument && msg.contains("nosuch"), "{k:?} {msg}");
        let m = c.setup(ModelRef { model_id: m.model_id }).await.expect("setup").into_inner();
        assert_eq!(m.num_instances, 3, "binding + two digests");
        assert_eq!(m.inputs[0].visibility, "hashed");
        let j = c.submit_proof(SubmitProofRequest { model_id: m.model_id.clone(), inputs: input("digits_mlp_int8"), binding: String::new(), saturate: false }).await.expect("submit").into_inner();
        wait_for(&mut c, &j.job_id, JobState::Done, 120).await;
        let p = c.get_proof(JobRef { job_id: j.job_id.clone() }).await.expect("proof").into_inner();
        let pj: serde_json::Value = serde_json::from_str(&p.proof_json).expect("json");
        assert!(pj["inputs"][0]["digest"].is_string() && pj["inputs"][0]["quantized"].as_array().expect("list").is_empty(), "{pj}");
        let v = c.verify(VerifyRequest { model_id: m.model_id.clone(), proof_json: p.proof_json.clone() }).await.expect("verify").into_inner();
        assert!(v.valid, "{}", v.reason);
    });
}

/// TLS: a server with a certificate answers a client that trusts its CA over https, and a
/// plaintext client gets nothing. (The certificate is made with the openssl command line.)
#[test]
fn tls_serves_trusting_clients_only() {
    let d = tmp("tls");
    std::fs::create_dir_all(&d).expect("tmp dir");
    let (cert, key) = (d.join("cert.pem"), d.join("key.pem"));
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(&d).output().expect("the openssl command line is needed to make test certificates");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    // a CA, a server certificate it signs, and another CA the server's certificate is not from
    for ca in ["ca", "other"] {
        let (key, pem) = (format!("{ca}-key.pem"), format!("{ca}.pem"));
        openssl(&[&["req", "-x509"][..], &ec, &["-days", "1", "-subj", "/CN=zkinfer test CA", "-keyout", &key, "-out", &pem]].concat());
    }
    openssl(&[&["req"][..], &ec, &["-subj", "/CN=localhost", "-keyout", "key.pem", "-out", "leaf.csr"]].concat());
    std::fs::write(d.join("leaf.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n").expect("ext");
    openssl(&["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", "1", "-extfile", "leaf.ext", "-out", "cert.pem"]);
    let (ca, other) = (d.join("ca.pem"), d.join("other.pem"));
    let server = Server::start(&d.join("data"), &["--tls-cert", cert.to_str().expect("utf8"), "--tls-key", key.to_str().expect("utf8")]);
    let port = server.url.rsplit(':').next().expect("port").to_string();
    let https = format!("https://localhost:{port}");
    let ok = Command::new(env!("CARGO_BIN_EXE_zkinfer")).args(["client", "--server", &https, "--tls-ca", ca.to_str().expect("utf8"), "health"]).output().expect("client");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("queue capacity"));
    let plain = Command::new(env!("CARGO_BIN_EXE_zkinfer")).args(["client", "--server", &server.url, "health"]).output().expect("client");
    assert!(!plain.status.success(), "a plaintext client was answered");
    // a client that does not trust the certificate is refused too
    let untrusting = Command::new(env!("CARGO_BIN_EXE_zkinfer")).args(["client", "--server", &https, "--tls-ca", other.to_str().expect("utf8"), "health"]).output().expect("client");
    assert!(!untrusting.status.success(), "a client that does not trust the certificate connected");
}

/// Issue 21 through the service: a model compiled into shards over gRPC (`Compile` with
/// `shards`), set up shard by shard with its aggregation key (its EVM verifier handed out at
/// once), proved as one aggregated proof by a worker and verified through the aggregation key
/// (a changed output or instance refused); a request for another cut of a model already set up
/// is refused.
#[test]
fn sharded_model_through_the_service() {
    let data = tmp("sharded");
    let mlp = data.with_extension("mlp");
    let _ = std::fs::remove_dir_all(&mlp);
    let synth = Command::new(env!("CARGO_BIN_EXE_zkinfer")).args(["synth-mlp", "--layers", "16,24,4", "-o"]).arg(&mlp).output().expect("synth-mlp");
    assert!(synth.status.success(), "{}", String::from_utf8_lossy(&synth.stderr));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(mlp.join("input.json")).expect("input")).expect("json");
    let inputs: Vec<Tensor> = v["input_data"].as_array().expect("list").iter().map(|l| Tensor { values: l.as_array().expect("list").iter().map(|x| x.as_f64().expect("number")).collect() }).collect();
    let server = Server::start(&data, &[]);
    rt().block_on(async {
        let mut c = client(&server.url).await;
        let onnx = std::fs::read(mlp.join("model.onnx")).expect("onnx");
        let m = c.register_model(RegisterModelRequest { name: "mlp".into(), source: Some(register_model_request::Source::Onnx(onnx)), ..Default::default() }).await.expect("register").into_inner();
        let id = m.model_id.clone();
        let (k, msg) = code(c.compile(CompileRequest { model_id: id.clone(), max_k: 40, shards: 0 }).await);
        assert!(k == Code::InvalidArgument && msg.contains("max_k 40"), "{k:?} {msg}");
        let m = c.compile(CompileRequest { model_id: id.clone(), max_k: 0, shards: 2 }).await.expect("compile").into_inner();
        assert!(m.state == "compiled" && m.shards == 2 && m.k > 0, "{m:?}");
        let m = c.setup(ModelRef { model_id: id.clone() }).await.expect("setup").into_inner();
        assert!(m.state == "ready" && m.shards == 2 && !m.vk_hash.is_empty(), "{m:?}");
        // the same cut again is a no-op; another one would replace the keys
        let same = c.compile(CompileRequest { model_id: id.clone(), max_k: 0, shards: 2 }).await.expect("compile again").into_inner();
        assert_eq!((same.state.as_str(), same.vk_hash.as_str()), ("ready", m.vk_hash.as_str()));
        let (k, msg) = code(c.compile(CompileRequest { model_id: id.clone(), max_k: 0, shards: 3 }).await);
        assert!(k == Code::FailedPrecondition && msg.contains("in 2 shards") && msg.contains("replace its keys"), "{k:?} {msg}");
        // setup made the aggregation key: its verifier is there before any proof
        let e = c.get_evm_verifier(ModelRef { model_id: id.clone() }).await.expect("evm verifier").into_inner();
        assert!(e.solidity.contains("contract") && !e.bytecode.is_empty() && e.deployed_size > 0 && e.deployed_size <= 24_576, "{} bytes", e.deployed_size);

        let j = c.submit_proof(SubmitProofRequest { model_id: id.clone(), inputs, binding: "0x2a".into(), saturate: false }).await.expect("submit").into_inner();
        let j = wait_for(&mut c, &j.job_id, JobState::Done, 1800).await;
        assert!(j.prove_seconds > 0.0, "{j:?}");
        let p = c.get_proof(JobRef { job_id: j.job_id.clone() }).await.expect("proof").into_inner();
        let pj: serde_json::Value = serde_json::from_str(&p.proof_json).expect("json");
        assert!(pj["aggregation_vk_hash"].is_string() && pj["outputs"][0]["values"].as_array().is_some_and(|v| v.len() == 4), "{pj}");
        let v = c.verify(VerifyRequest { model_id: id.clone(), proof_json: p.proof_json.clone() }).await.expect("verify").into_inner();
        assert!(v.valid, "{}", v.reason);
        // a listed output that is not the proven one, and a proven instance changed
        let mut bad = pj.clone();
        let q = bad["outputs"][0]["quantized"][0].as_i64().expect("quantized output");
        bad["outputs"][0]["quantized"][0] = (q + 1).into();
        let v = c.verify(VerifyRequest { model_id: id.clone(), proof_json: bad.to_string() }).await.expect("verify").into_inner();
        assert!(!v.valid && !v.reason.is_empty(), "a changed output was accepted");
        let mut bad = pj.clone();
        let last = bad["instances"].as_array().expect("instances").len() - 1;
        bad["instances"][last] = format!("0x{}", "0".repeat(63) + "1").into();
        let v = c.verify(VerifyRequest { model_id: id.clone(), proof_json: bad.to_string() }).await.expect("verify").into_inner();
        assert!(!v.valid && !v.reason.is_empty(), "a changed instance was accepted");
        let (k, msg) = code(c.verify(VerifyRequest { model_id: id.clone(), proof_json: "{\"proof\": 1}".into() }).await);
        assert!(k == Code::InvalidArgument && msg.contains("aggregated proof"), "{k:?} {msg}");
    });
    let _ = std::fs::remove_dir_all(&mlp);
}
