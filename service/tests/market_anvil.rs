//! The market on a real node: starts anvil (npm `@foundry-rs/anvil`, installed by
//! verifier-contract/install.sh) on 127.0.0.1 at a free port, deploys verifier + registry +
//! market with alloy, runs post -> claim -> prove -> submit -> paid and checks the balances
//! (gas fees included), checks that a bad proof is refused, then expires a job after moving
//! the node's clock. anvil is stopped by its PID when the test ends, pass or fail.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_primitives::U256;
use zkinfer_circuits::layout::ctx::Shape;
use zkinfer_circuits::onnx::ImportOptions;
use zkinfer_service::files::{read_inputs, write_json, Settings, Workdir};
use zkinfer_service::market::abi::JobState;
use zkinfer_service::market::chain::{parse_eth, Chain};
use zkinfer_service::market::client::{compile_market, Market, MarketParams, RegisteredModel};
use zkinfer_service::market::flow::{job_inputs, prove_for_job, register_model, run_paid_job, Roles, Submission};
use zkinfer_service::market::rpc::RpcChain;
use zkinfer_service::pipeline;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An empty scratch directory for this test process.
fn fresh_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("zkinfer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("dir");
    d
}

/// Compiles `onnx` into `wd` (with `shape`, or the one compile picks) and makes its keys
/// (UNSAFE dev SRS: tests only).
fn compiled(wd: &Workdir, onnx: &Path, shape: Option<Shape>) -> (Settings, zkinfer_prover::ParamsKZG<zkinfer_prover::Bn256>) {
    let s = pipeline::compile(onnx, ImportOptions::default(), shape, pipeline::Objective::default()).expect("compile");
    write_json(&wd.settings(), &s).expect("settings");
    let params = pipeline::load_params(None, s.k).expect("UNSAFE dev srs (test only)");
    pipeline::setup(wd, &s, &params).expect("setup");
    (s, params)
}

/// A running anvil, killed (by PID) on drop.
struct Anvil {
    child: Child,
    url: String,
}

impl Anvil {
    fn start() -> Anvil {
        let dir = zkinfer_prover::evm::contracts_dir().expect("verifier-contract dir");
        zkinfer_prover::evm::install_solc(&dir).expect("install.sh installs solc, forge and anvil");
        let bin = dir.join("node_modules/.bin/anvil");
        assert!(bin.exists(), "anvil is not installed at {} (verifier-contract/install.sh should install @foundry-rs/anvil)", bin.display());
        let port = TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--silent", "--chain-id", "31337"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start anvil");
        eprintln!("anvil pid {} on 127.0.0.1:{port}", child.id());
        Anvil { child, url: format!("http://127.0.0.1:{port}") }
    }

    fn connect(&mut self) -> RpcChain {
        let t = Instant::now();
        loop {
            match RpcChain::connect(&self.url) {
                Ok(c) => return c,
                Err(e) => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        panic!("anvil exited early: {status}");
                    }
                    assert!(t.elapsed() < Duration::from_secs(60), "anvil did not answer within 60 s: {e:#}");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        // Child::kill sends SIGKILL to the PID we started; then reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A job posted with a 600 s deadline, claimed by the provider, and its honest proof (not
/// submitted).
#[allow(clippy::too_many_arguments)]
fn claimed_and_proved(chain: &mut RpcChain, m: &Market, model: &RegisteredModel, roles: &Roles, wd: &Workdir, s: &Settings, params: &zkinfer_prover::ParamsKZG<zkinfer_prover::Bn256>, data: &[Vec<f64>], pay: U256, stake: U256) -> (u64, Submission) {
    let inputs = job_inputs(s, data).expect("inputs");
    let deadline = chain.timestamp().expect("time") + 600;
    let (job, r) = m.post_job(chain, &roles.requester, model.id, &inputs, deadline, pay, stake).expect("post");
    let job = job.unwrap_or_else(|| panic!("post: {}", r.reason()));
    m.claim(chain, &roles.provider, job).expect("tx").ok("claim").expect("claimed");
    let sub = prove_for_job(chain, m, model, wd, s, params, job, roles.provider.address(), data).expect("prove");
    (job, sub)
}

#[test]
fn market_flow_on_anvil() {
    let mut anvil = Anvil::start();
    let mut chain = anvil.connect();
    assert_eq!(chain.chain_id().expect("chain id"), 31337);

    let wd = Workdir(fresh_dir("anvil"));
    let (s, params) = compiled(&wd, &repo().join("models/digits_mlp_int8/model.onnx"), Some(Shape::new(4, 2)));
    let data = read_inputs(&repo().join("models/digits_mlp_int8/input.json")).expect("input");

    let roles = Roles::dev().expect("dev keys (anvil's public accounts)");
    let code = compile_market().expect("compile market");
    let (m, _) = Market::deploy(&mut chain, &roles.operator, &code, MarketParams::defaults(roles.operator.address())).expect("deploy");
    m.check_chain(&chain).expect("deployed");
    assert!(m.deploy_block > 0, "the deployment block is recorded (event scans start there)");
    let (model, _) = register_model(&mut chain, &m, &roles.operator, &wd, &s, &params).expect("register");
    let eth = |x: &str| parse_eth(x).expect("eth");
    m.deposit(&mut chain, &roles.provider, eth("1")).expect("tx").ok("deposit").expect("staked");

    // post -> claim -> prove -> submit -> paid; run_paid_job checks the provider's balance grew
    // by exactly the payment minus the 1% fee minus its gas fees
    let (pay, stake) = (eth("0.05"), eth("0.2"));
    let requester_before = chain.balance(roles.requester.address()).expect("balance");
    let rep = run_paid_job(&mut chain, &m, &model, &roles, &wd, &s, &params, &data, pay, stake).expect("paid job on anvil");
    eprintln!("anvil gas: post {}, claim {}, submit {}, withdrawFunds {}; provider +{} wei", rep.post_gas, rep.claim_gas, rep.submit_gas, rep.withdraw_gas, rep.provider_delta);
    assert!(rep.provider_delta > 0);
    let requester_after = chain.balance(roles.requester.address()).expect("balance");
    assert!(requester_before - requester_after >= pay, "the requester paid");
    assert_eq!(m.withdrawable(&chain, roles.operator.address()).expect("fee"), pay / U256::from(100u64));

    // a bad proof is refused (simulated, never mined) and a double submit too
    let sub = &rep.submission;
    let mut bad = sub.proof.clone();
    bad[100] ^= 1;
    let r = m.submit(&mut chain, &roles.provider, rep.job, &sub.inputs, &sub.outputs, &sub.params, &bad).expect("tx");
    assert!(!r.success && r.reason().contains("JobNotClaimed"), "{}", r.reason());

    let (job, sub) = claimed_and_proved(&mut chain, &m, &model, &roles, &wd, &s, &params, &data, pay, stake);
    let r = m.submit(&mut chain, &roles.provider, job, &sub.inputs, &sub.outputs, &sub.params, &bad).expect("tx");
    assert!(!r.success && r.reason().contains("InvalidProof"), "{}", r.reason());
    assert_eq!(m.job(&chain, job).expect("job").state(), JobState::Claimed);

    // the provider misses the deadline: expiry refunds the requester and slashes half the stake
    chain.advance_time(601).expect("evm_increaseTime");
    let r = m.submit(&mut chain, &roles.provider, job, &sub.inputs, &sub.outputs, &sub.params, &sub.proof).expect("tx");
    assert!(!r.success && r.reason().contains("DeadlinePassed"), "{}", r.reason());
    let credit = m.withdrawable(&chain, roles.requester.address()).expect("credit");
    m.expire(&mut chain, &roles.requester, job).expect("tx").ok("expire").expect("expired");
    assert_eq!(m.withdrawable(&chain, roles.requester.address()).expect("credit"), credit + pay + stake / U256::from(2u64));
    assert_eq!(m.job(&chain, job).expect("job").state(), JobState::Expired);
}

/// Two provider nodes (`zkinfer node`, separate keys and data) compete for jobs on anvil:
/// every job is claimed by exactly one of them and paid once; a restarted node does nothing
/// more (no transaction).
#[test]
fn two_provider_nodes_on_anvil() {
    let mut anvil = Anvil::start();
    let mut chain = anvil.connect();
    let base = fresh_dir("nodes");
    let wd = Workdir(base.join("mlp"));
    let (s, params) = compiled(&wd, &repo().join("models/digits_mlp_int8/model.onnx"), None);
    let data = read_inputs(&repo().join("models/digits_mlp_int8/input.json")).expect("input");

    // dev account 0 operates and requests; 1 and 2 are the providers
    let operator = zkinfer_service::market::chain::dev_signer(0).expect("key");
    let providers = [zkinfer_service::market::chain::dev_signer(1).expect("key"), zkinfer_service::market::chain::dev_signer(2).expect("key")];
    let (m, _) = Market::deploy(&mut chain, &operator, &compile_market().expect("compile"), MarketParams::defaults(operator.address())).expect("deploy");
    let (model, _) = register_model(&mut chain, &m, &operator, &wd, &s, &params).expect("register");
    let eth = |x: &str| parse_eth(x).expect("eth");
    for p in &providers {
        m.deposit(&mut chain, p, eth("1")).expect("tx").ok("deposit").expect("staked");
    }
    let market_dir = base.join("market");
    m.save(&market_dir.join("deployment.json")).expect("deployment");

    let node = |i: usize, extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zkinfer"));
        cmd.args(["node", "--rpc", &anvil.url, "--dir"])
            .arg(&market_dir)
            .env("ZKINFER_KEY", zkinfer_service::market::chain::DEV_KEYS[i + 1])
            .args(["--model"])
            .arg(&wd.0)
            .arg("--data")
            .arg(base.join(format!("node{i}")))
            .args(["--poll-ms", "200", "--min-time-left", "10"])
            .args(extra)
            .current_dir(repo());
        cmd
    };
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    // each node logs to a file, shown when the test fails
    let log_path = |i: usize| base.join(format!("node{i}.log"));
    let node_logs = || (0..2).map(|i| format!("--- node {i} ---\n{}", std::fs::read_to_string(log_path(i)).unwrap_or_default())).collect::<Vec<_>>().join("\n");
    let nodes: Vec<Kill> = (0..2)
        .map(|i| {
            let f = std::fs::File::create(log_path(i)).expect("node log");
            Kill(node(i, &[]).stdout(Stdio::null()).stderr(f).spawn().expect("start node"))
        })
        .collect();

    let inputs = job_inputs(&s, &data).expect("inputs");
    let (pay, stake) = (eth("0.05"), eth("0.1"));
    // job 1 is a trap: a registry entry claiming this model's vk hash and instance counts but
    // pointing at other code (here the registry itself); nodes must not claim it
    let (fake, _) = m.register(&mut chain, &operator, m.registry, model.vk_hash, model.n_inputs, model.n_outputs, model.n_params, model.params_hash).expect("fake entry");
    let deadline = chain.timestamp().expect("time") + 3600;
    let (trap, _) = m.post_job(&mut chain, &operator, fake.id, &inputs, deadline, pay, stake).expect("post trap");
    assert_eq!(trap, Some(1));
    let n_jobs = 4u64;
    for _ in 0..n_jobs {
        let deadline = chain.timestamp().expect("time") + 3600;
        let (job, r) = m.post_job(&mut chain, &operator, model.id, &inputs, deadline, pay, stake).expect("post");
        assert!(job.is_some(), "post: {}", r.reason());
    }
    let t = Instant::now();
    loop {
        let states: Vec<_> = (2..=n_jobs + 1).map(|j| m.job(&chain, j).expect("job").state()).collect();
        if states.iter().all(|s| *s == JobState::Paid) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(240), "jobs not all paid: {states:?}\n{}", node_logs());
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(nodes);
    let fee = pay / U256::from(100u64);
    let mut credited = U256::ZERO;
    let mut claimed = [0u64; 2];
    assert_eq!(m.job(&chain, 1).expect("trap").state(), JobState::Open, "a node claimed a job for a verifier it does not know");
    for j in 2..=n_jobs + 1 {
        let p = m.job(&chain, j).expect("job").provider;
        let i = providers.iter().position(|k| k.address() == p).expect("paid to one of the two nodes");
        claimed[i] += 1;
    }
    for p in &providers {
        credited += m.withdrawable(&chain, p.address()).expect("credit");
    }
    assert_eq!(credited, U256::from(n_jobs) * (pay - fee), "every job paid exactly once");
    eprintln!("jobs claimed per node: {claimed:?}");
    // restarted, each node reconciles its records with the chain (a node killed between its
    // submit and recording it finds the job paid) without sending any transaction
    for (i, p) in providers.iter().enumerate() {
        let before = chain.balance(p.address()).expect("balance");
        let out = node(i, &["--exit-when-idle"]).output().expect("restart node");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(chain.balance(p.address()).expect("balance"), before, "restarted node {i} sent a transaction");
        let store = zkinfer_service::server::store::Store::open(&base.join(format!("node{i}"))).expect("node store");
        let paid = store.market_jobs(Some("paid")).expect("rows");
        assert_eq!(paid.len() as u64, claimed[i], "node {i} records: {:?}", store.market_jobs(None).expect("rows"));
        for r in &paid {
            assert_eq!(m.job(&chain, r.job).expect("job").provider, p.address());
        }
    }
}

/// Models with public inputs and outputs whose verifiers are too large for one contract
/// (EIP-170) as snark-verifier writes them: a LeNet-style CNN on a 28x28 image and a
/// single-head attention block on 8 tokens of width 16. Each verifier is deployed as a head and
/// its parts; the market pays a job proved for each on anvil and refuses a bad proof and a
/// changed output.
#[test]
fn public_io_cnn_and_attention_verify_and_pay_on_anvil() {
    let mut anvil = Anvil::start();
    let mut chain = anvil.connect();
    let d = fresh_dir("anvil-split");
    let roles = Roles::dev().expect("dev keys (anvil's public accounts)");
    let (m, _) = Market::deploy(&mut chain, &roles.operator, &compile_market().expect("compile"), MarketParams::defaults(roles.operator.address())).expect("deploy");
    let eth = |x: &str| parse_eth(x).expect("eth");
    m.deposit(&mut chain, &roles.provider, eth("2")).expect("tx").ok("deposit").expect("staked");
    let (cnn, cnn_input, _) = zkinfer_service::cmd::synth::cnn(&[1, 28, 28], &[4], 10, 7).expect("synthetic CNN");
    let (attention, attention_input) = zkinfer_service::cmd::synth::attention(8, 16, 7).expect("synthetic attention");
    for (name, onnx, input) in [("cnn28", cnn, cnn_input), ("attention8x16", attention, attention_input)] {
        std::fs::write(d.join(format!("{name}.onnx")), onnx).expect("write");
        let wd = Workdir(d.join(name));
        let (s, params) = compiled(&wd, &d.join(format!("{name}.onnx")), None);
        let data = vec![input];
        let report = pipeline::evm_verifier(&wd, &s, &params, None).expect("verifier");
        eprintln!("{name}: {} public instances, verifier in {} contracts, {} bytes in all, the largest {}", s.graph.num_instances(), report.parts.len() + 1, report.total_size, report.deployed_size);
        assert!(report.deployed_size <= zkinfer_prover::evm::EIP170_LIMIT);
        // The instances are read in loops: one contract whatever the number of public values
        // (the straight-line verifiers were 47 KB and 36 KB, split into 3 and 2 contracts).
        // (many public values: 784 and 128 inputs, packed up to 30 to an instance)
        let values: usize = s.graph.inputs.iter().map(|t| t.shape.iter().product::<usize>()).chain(s.graph.outputs.iter().map(|t| t.shape.iter().product::<usize>())).sum();
        assert!(values > 100 && s.graph.num_instances() > 20, "{name}: {values} public values in {} instances", s.graph.num_instances());
        assert!(report.parts.is_empty(), "{name}: the verifier needed {} contracts", report.parts.len() + 1);

        let (model, [deployed, _]) = register_model(&mut chain, &m, &roles.operator, &wd, &s, &params).expect("register (head + parts)");
        eprintln!("{name}: verifier deployed (parts installed): {} gas", deployed.gas_used);
        let (pay, stake) = (eth("0.05"), eth("0.2"));
        let rep = run_paid_job(&mut chain, &m, &model, &roles, &wd, &s, &params, &data, pay, stake).expect("paid job");
        eprintln!("{name}: submit {} gas", rep.submit_gas);
        assert!(rep.provider_delta > 0);

        let (job, sub) = claimed_and_proved(&mut chain, &m, &model, &roles, &wd, &s, &params, &data, pay, stake);
        let mut bad = sub.proof.clone();
        bad[sub.proof.len() / 2] ^= 1;
        let r = m.submit(&mut chain, &roles.provider, job, &sub.inputs, &sub.outputs, &sub.params, &bad).expect("tx");
        assert!(!r.success && r.reason().contains("InvalidProof"), "{name}: {}", r.reason());
        let mut wrong = sub.outputs.clone();
        wrong[0] += U256::from(1u64);
        let r = m.submit(&mut chain, &roles.provider, job, &sub.inputs, &wrong, &sub.params, &sub.proof).expect("tx");
        assert!(!r.success && r.reason().contains("InvalidProof"), "{name}: {}", r.reason());
        let r = m.submit(&mut chain, &roles.provider, job, &sub.inputs, &sub.outputs, &sub.params, &sub.proof).expect("tx");
        assert!(r.success, "{name}: {}", r.reason());
        // (run_paid_job checks the credit of its own job: leave none behind)
        m.withdraw_funds(&mut chain, &roles.provider).expect("tx").ok("withdrawFunds").expect("withdrawn");
    }
    let _ = std::fs::remove_dir_all(&d);
}
