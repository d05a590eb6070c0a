//! Batch settlement with real proofs on the embedded chain (revm): several jobs of one model,
//! from two requesters, proved one by one, the proofs aggregated into one proof that
//! `InferenceMarket.submitBatch` checks with the model's batch verifier. A batch holding one bad
//! proof is refused and pays nobody; the honest batch pays every job. The same through a wrapped
//! root, and the provider node settling a batch by itself, are the heavy test
//! `a_wrapped_batch_is_paid_and_the_provider_node_settles_one`.
//!
//! `ZKINFER_BATCH_SIZES=2,4 ZKINFER_BATCH_K=21 cargo test --release -p zkinfer-service --test batch -- --ignored --nocapture batch_gas_per_job`
//! measures gas per job for other batch sizes (`ZKINFER_BATCH_ROOT_K=23`: with the root wrapped
//! at that size, `market register-batch --root-k`).

use std::path::{Path, PathBuf};

use alloy_primitives::U256;
use zkinfer_circuits::onnx::ImportOptions;
use zkinfer_prover::{aggregate, Fr, Verdict};
use zkinfer_service::batch::{self, BatchPlan};
use zkinfer_service::files::{write_json, Settings, Workdir};
use zkinfer_service::market::abi::JobState;
use zkinfer_service::market::chain::{parse_eth, Chain};
use zkinfer_service::market::client::{compile_market, Market, MarketParams};
use zkinfer_service::market::flow::{batch_jobs, job_inputs, register_batch, register_model, BatchSubmission, Roles};
use zkinfer_service::market::local::LocalChain;
use zkinfer_service::pipeline;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn samples(n: usize) -> Vec<Vec<Vec<f64>>> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(repo().join("models/digits_mlp_int8/samples.json")).expect("samples")).expect("json");
    let inputs = v["inputs"].as_array().expect("inputs");
    (0..n).map(|i| vec![inputs[i % inputs.len()].as_array().expect("sample").iter().map(|x| x.as_f64().expect("number")).collect()]).collect()
}

struct Batch {
    jobs_gas: Vec<u64>,
    submit_gas: u64,
    verifier_bytes: usize,
    contracts: usize,
    aggregate_seconds: f64,
}

/// Registers the model and its batch verifier for `n`, posts `n` jobs (alternating two
/// requesters), claims them, proves them; checks a batch holding one bad proof is refused, then
/// settles the honest batch.
fn run(d: &Path, n: usize, plan: BatchPlan, with_node: bool, check_bad: bool) -> Batch {
    let _ = std::fs::remove_dir_all(d);
    let wd = Workdir(d.join("mlp"));
    let s: Settings = pipeline::compile(&repo().join("models/digits_mlp_int8/model.onnx"), ImportOptions::default(), None, pipeline::Objective::default()).expect("compile");
    write_json(&wd.settings(), &s).expect("settings");
    let params = pipeline::load_params(None, s.k).expect("UNSAFE dev srs (test only)");
    pipeline::setup(&wd, &s, &params).expect("setup");
    let data = samples(n);

    let mut chain = LocalChain::new().expect("chain");
    let roles = Roles::dev().expect("roles");
    let (m, _) = Market::deploy(&mut chain, &roles.operator, &compile_market().expect("compile"), MarketParams::defaults(roles.operator.address())).expect("deploy");
    let (model, _) = register_model(&mut chain, &m, &roles.operator, &wd, &s, &params).expect("register");
    let (verifier, [deployed, registered], keys) = register_batch(&mut chain, &m, &roles.operator, &wd, &s, None, &model, n, plan).expect("register batch verifier");
    let compiled = pipeline::aggregation_verifier(&batch::batch_dir(&wd, n), keys.params(), keys.vk(), keys.layout().num_instances()).expect("cached verifier");
    eprintln!(
        "batch of {n} at {plan}: {} public instances, verifier {verifier} in {} contract(s), the largest {} B; deploy {} gas, registerBatchVerifier {} gas",
        keys.layout().num_instances(),
        compiled.parts.len() + 1,
        compiled.largest_runtime,
        deployed.gas_used,
        registered.gas_used
    );
    assert_eq!(m.batch_verifier(&chain, model.id, n).expect("view").0, verifier);

    let eth = |x: &str| parse_eth(x).expect("eth");
    let (pay, stake) = (eth("0.05"), eth("0.1"));
    m.deposit(&mut chain, &roles.provider, eth("10")).expect("tx").ok("deposit").expect("staked");
    let deadline = chain.timestamp().expect("time") + 3600;
    let mut jobs = vec![];
    let mut jobs_gas = vec![];
    for (i, d) in data.iter().enumerate() {
        // two requesters: the requester and the operator
        let requester = if i % 2 == 0 { &roles.requester } else { &roles.operator };
        let (job, r) = m.post_job(&mut chain, requester, model.id, &job_inputs(&s, d).expect("inputs"), deadline, pay, stake).expect("post");
        let job = job.unwrap_or_else(|| panic!("post: {}", r.reason()));
        let c = m.claim(&mut chain, &roles.provider, job).expect("tx").ok("claim").expect("claimed");
        jobs_gas.push(r.gas_used + c.gas_used);
        jobs.push(job);
    }
    let batch_jobs = batch_jobs(&chain, &m, &model, &wd, &s, &jobs, roles.provider.address(), &data).expect("jobs");
    let snarks = batch::prove_jobs(&wd, &s, None, &batch_jobs, &|_| {}).expect("job proofs");

    // One bad proof: the last job's proof claiming another output. The batch circuit still
    // aggregates it, but the aggregated proof fails, natively and in the market.
    if check_bad {
        let mut forged = snarks.clone();
        *forged[n - 1].instances[0].last_mut().expect("an output instance") += Fr::one();
        let bad = batch::aggregate_jobs_unchecked(&keys, forged, &|_| {}).expect("aggregate");
        assert!(!aggregate::verify(keys.params(), keys.vk(), &bad.instances, &bad.proof).is_valid(), "a batch with a bad proof verified");
        let sub = BatchSubmission::new(&s.graph, &jobs, &bad.instances, &bad.proof).expect("submission");
        let r = m.submit_batch(&mut chain, &roles.provider, &sub.jobs, &sub.inputs, &sub.outputs, &sub.params, &sub.proof).expect("tx");
        assert!(!r.success && r.reason().contains("InvalidBatchProof"), "a batch with a bad proof: {}", r.reason());
    }

    let good = batch::aggregate_jobs(&keys, snarks, &|_| {}).expect("aggregate");
    assert_eq!(aggregate::verify(keys.params(), keys.vk(), &good.instances, &good.proof), Verdict::Valid);
    let sub = BatchSubmission::new(&s.graph, &jobs, &good.instances, &good.proof).expect("submission");
    // the honest proof with one job's output changed
    let mut outputs = sub.outputs.clone();
    outputs[0][0] += U256::from(1u64);
    let r = m.submit_batch(&mut chain, &roles.provider, &sub.jobs, &sub.inputs, &outputs, &sub.params, &sub.proof).expect("tx");
    assert!(!r.success && r.reason().contains("InvalidBatchProof"), "a changed output: {}", r.reason());
    // nobody was paid so far
    for &job in &jobs {
        assert_eq!(m.job(&chain, job).expect("job").state(), JobState::Claimed);
    }
    assert_eq!(m.withdrawable(&chain, roles.provider.address()).expect("credit"), U256::ZERO);

    let r = m.submit_batch(&mut chain, &roles.provider, &sub.jobs, &sub.inputs, &sub.outputs, &sub.params, &sub.proof).expect("tx");
    assert!(r.success, "honest batch: {}", r.reason());
    for &job in &jobs {
        assert_eq!(m.job(&chain, job).expect("job").state(), JobState::Paid);
    }
    let fee = pay / U256::from(100u64);
    assert_eq!(m.withdrawable(&chain, roles.provider.address()).expect("credit"), (pay - fee) * U256::from(n as u64));
    // each job's outputs are its own input's: the integer executor's on that input
    for (j, d) in data.iter().enumerate() {
        let proved = zkinfer_service::market::flow::Submission::from_proof(&s.graph, pipeline::prove(&wd, &s, &params, d, false, Fr::zero()).expect("prove")).expect("sub");
        assert_eq!(sub.outputs[j], proved.outputs, "job {j}'s outputs");
    }
    if with_node {
        node_settles_a_batch(d, &mut chain, &m, &roles, &wd, &s, model.id, n, plan, &data, pay, stake);
    }
    let _ = std::fs::remove_dir_all(d);
    Batch { jobs_gas, submit_gas: r.gas_used, verifier_bytes: compiled.largest_runtime, contracts: compiled.parts.len() + 1, aggregate_seconds: good.aggregate_seconds }
}

/// The provider node (`zkinfer node --batch n`) claims `n` new jobs and settles them with one
/// `submitBatch`.
#[allow(clippy::too_many_arguments)]
fn node_settles_a_batch(d: &Path, chain: &mut LocalChain, m: &Market, roles: &Roles, wd: &Workdir, s: &Settings, model: u64, n: usize, plan: BatchPlan, data: &[Vec<Vec<f64>>], pay: U256, stake: U256) {
    use zkinfer_service::node::{self, BatchConfig, ClaimPolicy, NodeConfig};
    let deadline = chain.timestamp().expect("time") + 3600;
    let mut jobs = vec![];
    for d in data {
        let (job, r) = m.post_job(chain, &roles.requester, model, &job_inputs(s, d).expect("inputs"), deadline, pay, stake).expect("post");
        jobs.push(job.unwrap_or_else(|| panic!("post: {}", r.reason())));
    }
    let before = m.withdrawable(chain, roles.provider.address()).expect("credit");
    let cfg = NodeConfig {
        policy: ClaimPolicy { max_claims: n, ..ClaimPolicy::default() },
        batch: Some(BatchConfig { size: n, plan, max_wait: 600 }),
        ..NodeConfig::one_pass(d.join("node"), vec![wd.0.clone()], PathBuf::from(env!("CARGO_BIN_EXE_zkinfer")))
    };
    node::run(cfg, chain, m, &roles.provider).expect("node runs until idle");
    for &job in &jobs {
        assert_eq!(m.job(chain, job).expect("job").state(), JobState::Paid, "job {job}");
    }
    let fee = pay / U256::from(100u64);
    assert_eq!(m.withdrawable(chain, roles.provider.address()).expect("credit") - before, (pay - fee) * U256::from(n as u64));
    let store = zkinfer_service::server::store::Store::open(&d.join("node")).expect("node store");
    let rows = store.market_jobs(Some("paid")).expect("rows");
    assert_eq!(rows.len(), n);
    for r in rows {
        assert!(r.note.contains(&format!("in a batch of {n}")), "job {} was not settled in a batch: {}", r.job, r.note);
    }
}

#[test]
fn a_batch_is_paid_with_one_aggregated_proof_and_one_bad_proof_pays_nobody() {
    let d = std::env::temp_dir().join(format!("zkinfer-batch-{}", std::process::id()));
    // the batch circuit's proof checked on chain as it is (`market register-batch` without
    // --root-k); the wrapped root is the heavy test below
    let b = run(&d, 2, BatchPlan { k: 20, root_k: None }, false, true);
    eprintln!(
        "batch of 2: submitBatch {} gas ({} per job), post+claim {:?}; verifier {} contract(s), largest {} B; aggregation {:.1} s",
        b.submit_gas,
        b.submit_gas / 2,
        b.jobs_gas,
        b.contracts,
        b.verifier_bytes,
        b.aggregate_seconds
    );
}

/// The same through a wrapped root (one more aggregation, of the batch circuit's proof: the
/// path that checks the fewest commitments on chain, `register-batch --root-k`): a batch with
/// one bad proof refused, the honest one paid; then the provider node (`zkinfer node --batch
/// 2`) claims two more jobs, proves them, aggregates and wraps the proofs and settles them with
/// one `submitBatch`. Heavy (six aggregation proofs, about 15 min on 2 cores):
/// `bash scripts/test.sh --heavy`.
#[test]
#[ignore = "heavy: bash scripts/test.sh --heavy"]
fn a_wrapped_batch_is_paid_and_the_provider_node_settles_one() {
    let d = std::env::temp_dir().join(format!("zkinfer-batch-wrapped-{}", std::process::id()));
    run(&d, 2, BatchPlan { k: 20, root_k: Some(20) }, true, true);
}

/// Gas per job against batch size (ZKINFER_BATCH_SIZES, default 2,4; ZKINFER_BATCH_K, default 21;
/// ZKINFER_BATCH_CHECK_BAD=0 skips the batch with a bad proof, which past 4 jobs costs a whole
/// second tree of aggregations).
#[test]
#[ignore = "measurement, slow"]
fn batch_gas_per_job() {
    let sizes: Vec<usize> = std::env::var("ZKINFER_BATCH_SIZES").unwrap_or_else(|_| "2,4".into()).split(',').map(|x| x.trim().parse().expect("size")).collect();
    let k: u32 = std::env::var("ZKINFER_BATCH_K").ok().map_or(21, |x| x.parse().expect("k"));
    let root_k: Option<u32> = std::env::var("ZKINFER_BATCH_ROOT_K").ok().map(|x| x.parse().expect("root k"));
    let plan = BatchPlan { k, root_k };
    for n in sizes {
        let d = std::env::temp_dir().join(format!("zkinfer-batch-gas-{}-{n}", std::process::id()));
        let t = std::time::Instant::now();
        let b = run(&d, n, plan, false, std::env::var("ZKINFER_BATCH_CHECK_BAD").map_or(true, |v| v != "0"));
        eprintln!(
            "BATCH n {n:2} {plan}: submitBatch {:8} gas, {:7} per job; verifier {} contract(s), largest {} B; aggregation {:.0} s, whole run {:.0} s",
            b.submit_gas,
            b.submit_gas / n as u64,
            b.contracts,
            b.verifier_bytes,
            b.aggregate_seconds,
            t.elapsed().as_secs_f64()
        );
    }
}
