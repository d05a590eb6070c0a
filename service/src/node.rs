//! The provider node (`zkinfer node`): watches an InferenceMarket, claims open jobs for the
//! models it serves, proves them through the prover service's durable job queue (the same
//! [`crate::server`] store and workers), submits the proofs on chain and records the outcome.
//!
//! Everything it decides is recorded in its SQLite store before the next step (`market_jobs`:
//! skipped / lost / claimed / proving / paid / failed), so a restarted node resumes jobs it
//! claimed and never reconsiders (so never re-claims or re-submits) a job it has recorded.
//! Two nodes competing for a job both try to claim it; the market lets exactly one succeed
//! (the other's claim reverts with JobNotOpen and is recorded as lost).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolEvent;
use anyhow::{bail, Context, Result};
use zkinfer_circuits::public;
use zkinfer_prover::artifacts::ProofFile;
use zkinfer_prover::{G1Affine, ModelId, VerifyingKey};

use crate::files::{write_json, AggregatedProof, Settings, Workdir};
use crate::market::abi::InferenceMarket as M;
use crate::market::chain::{fmt_eth, Chain};
use crate::market::client::Market;
use crate::market::flow::{instance_counts, registered_params, Submission};
use crate::market::u256_to_fr;
use crate::server::proto::JobState;
use crate::server::store::Store;
use crate::server::worker::{spawn_workers, Shared};

/// Node settings.
pub struct NodeConfig {
    pub data: PathBuf,
    pub models: Vec<PathBuf>,
    pub workers: u32,
    pub poll: Duration,
    /// Skip jobs whose deadline is closer than this (seconds).
    pub min_time_left: u64,
    /// Return once nothing is claimed or proving and no new job appeared (tests, cron).
    pub exit_when_idle: bool,
    pub prover_exe: PathBuf,
    pub srs: Option<PathBuf>,
    pub policy: ClaimPolicy,
    /// Batch settlement (`None`: every job proved and submitted alone).
    pub batch: Option<BatchConfig>,
}

impl NodeConfig {
    /// One pass over the chain (returns when idle) with one worker polling every 20 ms,
    /// the default claim policy and no batching: what tests and one-shot runs start from.
    pub fn one_pass(data: PathBuf, models: Vec<PathBuf>, prover_exe: PathBuf) -> NodeConfig {
        NodeConfig {
            data,
            models,
            workers: 1,
            poll: Duration::from_millis(20),
            min_time_left: 60,
            exit_when_idle: true,
            prover_exe,
            srs: None,
            policy: ClaimPolicy::default(),
            batch: None,
        }
    }
}

/// Batch settlement: claimed jobs of a model proved together and settled with one
/// `submitBatch`, for models with a batch verifier of `size` (see [`crate::batch`]).
#[derive(Clone, Debug)]
pub struct BatchConfig {
    pub size: usize,
    /// The batch circuits' sizes (and whether the root is wrapped).
    pub plan: crate::batch::BatchPlan,
    /// Longest a claimed job waits for others to fill a batch (seconds).
    pub max_wait: u64,
}

/// What the node accepts to claim: a claim locks stake that is slashed if no valid proof
/// reaches the market in time, so the node claims only what it can deliver and what is worth it.
#[derive(Clone, Debug)]
pub struct ClaimPolicy {
    /// Most jobs claimed or proving at once.
    pub max_claims: usize,
    /// Smallest payment worth a claim (wei): below it the submit's gas is not covered.
    pub min_payment: U256,
    /// Payment tokens accepted (`Address::ZERO` = ETH). A job in any other token is skipped:
    /// an unknown token can lie about balances or block transfers.
    pub tokens: Vec<Address>,
    /// Largest stake / payment ratio accepted.
    pub max_stake_ratio: f64,
    /// The cost model's predicted prove time is multiplied by this (the prediction is for
    /// the 2-core reference machine; other loads and machines differ).
    pub prove_safety: f64,
}

impl Default for ClaimPolicy {
    fn default() -> Self {
        ClaimPolicy { max_claims: 2, min_payment: U256::ZERO, tokens: vec![Address::ZERO], max_stake_ratio: 10.0, prove_safety: 2.0 }
    }
}

impl ClaimPolicy {
    /// Why a job is not worth claiming, if it is not (token, dust, stake ratio).
    pub fn refuse(&self, token: Address, amount: U256, stake: U256) -> Option<String> {
        if !self.tokens.contains(&token) {
            return Some(format!("paid in token {token}, not an accepted one (--token)"));
        }
        if amount < self.min_payment {
            return Some(format!("pays {}, below --min-payment {}", fmt_eth(amount), fmt_eth(self.min_payment)));
        }
        let milli = U256::from((self.max_stake_ratio.max(0.0) * 1000.0).min(1e18) as u64);
        if stake.saturating_mul(U256::from(1000u64)) > amount.saturating_mul(milli) {
            return Some(format!("stake {} against a payment of {} is above --max-stake-ratio {}", fmt_eth(stake), fmt_eth(amount), self.max_stake_ratio));
        }
        None
    }
}

/// Seconds a proof of `m` is expected to take on this node (the cost model's prediction
/// times the safety factor; at least one second).
fn predicted_prove_secs(m: &Served, policy: &ClaimPolicy) -> u64 {
    let p = m.predicted_seconds * policy.prove_safety;
    // (an f64 -> u64 cast saturates; a year is more than any deadline)
    (p.ceil().max(1.0) as u64).min(365 * 86_400)
}

/// A served model: registry id -> compiled model and its id in the node's store.
struct Served {
    local_id: String,
    settings: Settings,
    /// The cost model's prediction of one proof on the reference machine (seconds): the
    /// model's, or for a sharded model every shard's plus the aggregation's.
    predicted_seconds: f64,
    /// A sharded model: what its aggregated proofs are checked with.
    aggregated: Option<AggregatedModel>,
    /// Batches of this model's jobs, when it has a batch verifier the node recognises.
    batch: Option<BatchServe>,
}

/// How the node settles a model's jobs in batches.
struct BatchServe {
    /// The model directory given to the node (batch keys in DIR/batch-<size>/).
    dir: PathBuf,
    keys: crate::batch::BatchKeys,
    /// The first job the market lets the batch verifier settle.
    first_job: u64,
    /// Predicted seconds of a whole batch (every proof and the aggregation), reference machine.
    predicted_seconds: f64,
}

/// A sharded model's aggregation (its proofs are aggregated proofs of every shard).
#[derive(Clone)]
struct AggregatedModel {
    /// The aggregation circuit's size.
    k: u32,
    vk: VerifyingKey<G1Affine>,
    /// sha256 of `vk`, hex.
    vk_hash: String,
    /// Predicted seconds: every shard proved, then the aggregation.
    predicted_seconds: f64,
}

/// How a registry entry must verify a model's proofs.
#[derive(Clone)]
enum Expected {
    /// The model's own Solidity verifier, by the keccak256 of its runtime code.
    Verifier(B256),
    /// An `AggregatedVerifierAdapter` in front of the aggregation verifier (keccak256 of its
    /// runtime code), for this many model instances.
    Adapter { verifier_code_hash: B256, n_instances: usize },
}

fn log(msg: &str) {
    tracing::info!(target: "zkinfer_node", "{msg}");
}

/// Runs the node until stopped (or idle, with `exit_when_idle`).
pub fn run(cfg: NodeConfig, chain: &mut dyn Chain, market: &Market, key: &PrivateKeySigner) -> Result<()> {
    market.check_chain(chain)?;
    check_not_dev(chain.chain_id()?, key, cfg.srs.is_none())?;
    let store = Store::open(&cfg.data)?;
    let served = serve_models(&cfg, chain, market, &store)?;
    if served.is_empty() {
        bail!("none of the given models is registered on the market's registry (register them with `zkinfer market register`)");
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("cannot start the async runtime")?;
    let shared = Arc::new(Shared { store, wake: tokio::sync::Notify::new(), running: Default::default(), prover_exe: cfg.prover_exe.clone(), srs: cfg.srs.clone() });
    {
        let _in_runtime = rt.enter();
        spawn_workers(shared.clone(), cfg.workers as usize);
    }
    let store = &shared.store;
    log(&format!("provider {} on {}, market {}, serving model(s) {:?}", key.address(), chain.describe(), market.market, served.keys().collect::<Vec<_>>()));
    // a batch interrupted by a restart: its jobs are claimed and looked at again
    for row in store.market_jobs(Some("batching"))? {
        store.set_market_job(row.job, "claimed", "", "batch interrupted by a restart", 0)?;
    }
    let mut batches = Batches::default();
    loop {
        // a long-running node survives a flaky RPC endpoint: the scan stops at the first job it
        // could not decide and starts there again next pass (with --exit-when-idle, errors end it)
        let new = match scan_new_jobs(&cfg, chain, market, key, store, &served) {
            Ok(n) => n,
            Err(e) if !cfg.exit_when_idle => {
                log(&format!("scanning the market failed, retrying: {e:#}"));
                1
            }
            Err(e) => return Err(e),
        };
        // batches first; jobs waiting for a batch are not proved alone yet
        let held = match batches.pass(&cfg, chain, market, key, store, &served) {
            Ok(held) => held,
            Err(e) => {
                log(&format!("batching failed, proving jobs alone: {e:#}"));
                Default::default()
            }
        };
        // an error on one job (a flaky node, a missing event) is logged and retried next pass
        for row in store.market_jobs(Some("claimed"))? {
            if held.contains(&row.job) {
                continue;
            }
            if let Err(e) = queue_proof(chain, market, store, &shared, &served, row.job) {
                log(&format!("job {}: cannot queue the proof yet: {e:#}", row.job));
            }
        }
        for row in store.market_jobs(Some("proving"))? {
            if let Err(e) = finish_proof(&cfg, chain, market, key, store, &served, row.job, &row.local_job) {
                log(&format!("job {}: cannot submit yet: {e:#}", row.job));
            }
        }
        let busy = !store.market_jobs(Some("claimed"))?.is_empty() || !store.market_jobs(Some("proving"))?.is_empty();
        if cfg.exit_when_idle && !busy && new == 0 {
            log("idle: exiting");
            return Ok(());
        }
        std::thread::sleep(cfg.poll);
    }
}

/// On any chain but a local one (the embedded chain and anvil, chain id 31337), refuses the
/// public development keys (anyone can take their funds) and the UNSAFE dev SRS (anyone can
/// forge proofs against it, so a requester could never trust the node's proofs).
pub fn check_not_dev(id: u64, key: &PrivateKeySigner, dev_srs: bool) -> Result<()> {
    if id == crate::market::local::LOCAL_CHAIN_ID {
        return Ok(());
    }
    let dev = crate::market::chain::DEV_KEYS.iter().filter_map(|k| crate::market::chain::signer(k).ok()).any(|d| d.address() == key.address());
    if dev {
        bail!("the provider key is a public development key (anvil/hardhat): refused on chain {id}; give your own key with --key-file or $ZKINFER_KEY");
    }
    if dev_srs {
        bail!("without --srs the node would prove against the UNSAFE dev SRS, whose secret is public: refused on chain {id}; pass a ceremony SRS file with --srs");
    }
    Ok(())
}

/// Copies each compiled model into the store (by verifying-key hash) and finds its registry ids:
/// entries whose verifying-key hash, instance counts AND verifier code hash (keccak of the
/// runtime code of this model's own compiled Solidity verifier) all match. The vk hash alone
/// is only a claim by whoever registered the entry: an entry pointing at another verifier
/// (e.g. one that always reverts) could otherwise make the node claim jobs it can never be
/// paid for, and lose stake.
fn serve_models(cfg: &NodeConfig, chain: &dyn Chain, market: &Market, store: &Store) -> Result<BTreeMap<u64, Served>> {
    let mut by_vk = BTreeMap::new();
    let mut adapter = None;
    for dir in &cfg.models {
        let wd = Workdir(dir.clone());
        let s = wd.load_settings()?;
        let (id, expected, aggregated, k) = match crate::sharding::load(&wd, &s)? {
            None => {
                let (id, code_hash) = single_model(cfg, &wd, &s)?;
                (id, Expected::Verifier(code_hash), None, s.k)
            }
            Some(sh) => {
                let (id, code_hash, agg) = sharded_model(cfg, &wd, &s, &sh)?;
                if adapter.is_none() {
                    adapter = Some(crate::market::client::compile_adapter()?);
                }
                // the SRS file handed to the prover serves every shard and the aggregation
                let k = sh.shards.iter().map(|(_, ss)| ss.k).chain([agg.k]).max().unwrap_or(agg.k);
                (id, Expected::Adapter { verifier_code_hash: code_hash, n_instances: public::num_instances(&s.graph) }, Some(agg), k)
            }
        };
        let local_id = id.hex();
        copy_model(dir, &store.model_dir(&local_id))?;
        store.add_model(&local_id, &dir.display().to_string())?;
        if cfg.srs.is_none() {
            store.cache_dev_srs(k)?; // UNSAFE dev SRS, once per k, for the workers
        }
        store.set_model_ready(&local_id, k, s.num_instances as u32, &local_id)?;
        by_vk.insert(B256::from(id.0), (local_id, s, expected, aggregated, dir.clone()));
    }
    let count: u64 = {
        let data = alloy_sol_types::SolCall::abi_encode(&crate::market::abi::ModelRegistry::modelCountCall {});
        match chain.call(market.registry, data.into())? {
            Ok(ret) => U256::from_be_slice(&ret).saturating_to(),
            Err(_) => bail!("cannot read the registry's modelCount"),
        }
    };
    let mut served = BTreeMap::new();
    for id in 1..=count {
        let m = market.model(chain, id)?;
        if let Some((local_id, s, expected, aggregated, dir)) = by_vk.get(&m.vkHash) {
            let (n_in, n_out, _) = instance_counts(&s.graph);
            if (m.nInputs as usize, m.nOutputs as usize) != (n_in, n_out) {
                log(&format!("registry model {id} has the vk hash of {local_id} but other instance counts; not served"));
                continue;
            }
            // the weights the entry pays for must be this node's (else every proof is refused)
            // (the weights file loaded now, which proofs use, and the compiled record)
            let live = crate::files::weights_hash(&s.graph).map(|h| h.unwrap_or_default());
            let live_ok = |h: &B256| s.graph.params.is_empty() || live.as_ref().is_ok_and(|l| l.trim_start_matches("0x").eq_ignore_ascii_case(&hex::encode(h)));
            match registered_params(s) {
                Ok((n, h)) if (m.nParams, m.paramsHash) == (n, h) && live_ok(&h) => {}
                Ok(_) => {
                    log(&format!("registry model {id} has the vk hash of {local_id} but other weights; not served"));
                    continue;
                }
                Err(e) => {
                    log(&format!("registry model {id} ({local_id}) not served: {e:#}"));
                    continue;
                }
            }
            match expected {
                Expected::Verifier(code_hash) if m.verifierCodeHash != *code_hash => {
                    log(&format!("registry model {id} has the vk hash of {local_id} but another verifier's code; not served"));
                    continue;
                }
                Expected::Verifier(_) => {}
                Expected::Adapter { verifier_code_hash, n_instances } => {
                    let compiled = adapter.as_ref().context("the adapter is compiled for every sharded model")?;
                    if let Err(e) = crate::market::client::check_adapter(chain, compiled, m.verifier, m.verifierCodeHash, *verifier_code_hash, *n_instances) {
                        log(&format!("registry model {id} has the vk hash of {local_id} but does not verify with its aggregation verifier ({e:#}); not served"));
                        continue;
                    }
                }
            }
            let predicted_seconds = match aggregated {
                Some(a) => a.predicted_seconds,
                None => s.cost.as_ref().map_or(1.0, |c| c.prove_seconds),
            };
            let batch = match (&cfg.batch, aggregated) {
                (Some(bc), None) => batch_serve(cfg, bc, chain, market, id, dir, s, predicted_seconds).unwrap_or_else(|e| {
                    log(&format!("model {id}: no batches: {e:#}"));
                    None
                }),
                _ => None,
            };
            served.insert(id, Served { local_id: local_id.clone(), settings: s.clone(), predicted_seconds, aggregated: aggregated.clone(), batch });
        }
    }
    Ok(served)
}

/// Batches of model `id` (registry and market id), when the market has a batch verifier of
/// `bc.size` for it whose code is the one compiled here from the model's key.
#[allow(clippy::too_many_arguments)]
fn batch_serve(cfg: &NodeConfig, bc: &BatchConfig, chain: &dyn Chain, market: &Market, id: u64, dir: &std::path::Path, s: &Settings, single_seconds: f64) -> Result<Option<BatchServe>> {
    let (verifier, first_job) = market.batch_verifier(chain, id, bc.size)?;
    if verifier == Address::ZERO {
        log(&format!("model {id}: no batch verifier of size {} on the market; its jobs are proved one by one", bc.size));
        return Ok(None);
    }
    let wd = Workdir(dir.to_path_buf());
    let keys = crate::batch::batch_keys(&wd, s, cfg.srs.as_deref(), bc.size, bc.plan, &|step| log(&format!("model {id}: {step}")))?;
    let compiled = crate::pipeline::aggregation_verifier(&crate::batch::batch_dir(&wd, bc.size), keys.params(), keys.vk(), keys.layout().num_instances())?;
    if alloy_primitives::keccak256(chain.code(verifier)?) != alloy_primitives::keccak256(&compiled.deployed_bytecode) {
        log(&format!("model {id}: the market's batch verifier {verifier} is not the one compiled here for batches of {} at {}; its jobs are proved one by one", bc.size, bc.plan));
        return Ok(None);
    }
    let predicted_seconds = single_seconds * bc.size as f64 + crate::batch::aggregation_seconds(&keys);
    log(&format!("model {id}: batches of {} (verifier {verifier}, jobs from {first_job}, {predicted_seconds:.0} s predicted each)", bc.size));
    Ok(Some(BatchServe { dir: dir.to_path_buf(), keys, first_job: first_job.saturating_to(), predicted_seconds }))
}

/// A single-circuit model: its identity, recomputed from key, settings and SRS (a key that
/// does not belong to its settings is refused here, before any job is claimed), and the
/// keccak256 of its Solidity verifier's runtime code (compiled once into DIR/verifier.json).
fn single_model(cfg: &NodeConfig, wd: &Workdir, s: &Settings) -> Result<(ModelId, B256)> {
    let params = crate::pipeline::load_params(cfg.srs.as_deref(), s.k)?;
    let (_, header) = crate::pipeline::load_vk(wd, s, &params)?;
    if !wd.verifier().exists() {
        crate::pipeline::evm_verifier(wd, s, &params, None)?;
    }
    let v: serde_json::Value = crate::files::read_json(&wd.verifier())?;
    let runtime = hex::decode(v["deployed_bytecode"].as_str().unwrap_or_default().trim_start_matches("0x")).with_context(|| format!("{}: deployed_bytecode is not hex", wd.verifier().display()))?;
    Ok((header.model_id, alloy_primitives::keccak256(&runtime)))
}

/// A sharded model: its identity (from every shard key, each checked against its settings and
/// the SRS), the keccak256 of its aggregation verifier's runtime code, and its aggregation key.
/// The aggregation keys in DIR/aggregate/ (as `market register` made them; made here when
/// missing) must be these shards'.
fn sharded_model(cfg: &NodeConfig, wd: &Workdir, s: &Settings, sh: &crate::sharding::Sharded) -> Result<(ModelId, B256, AggregatedModel)> {
    let agg_dir = wd.0.join("aggregate");
    let k = zkinfer_prover::aggregate::read_layout(&agg_dir).map(|l| l.k).unwrap_or(crate::sharding::AGGREGATION_K);
    let keys = crate::sharding::aggregation_keys(s, sh, cfg.srs.as_deref(), &agg_dir, k, &|step| log(&format!("{}: {step}", wd.0.display())))?;
    let vk = keys.pk.get_vk().clone();
    let compiled = crate::pipeline::aggregation_verifier(&agg_dir, &keys.params, &vk, keys.layout.num_instances())?;
    let vk_hash = hex::encode(zkinfer_prover::keys::vk_hash(&vk));
    let predicted_seconds = sh.plan.total_seconds() + crate::sharding::aggregation_seconds(sh, &agg_dir, &keys.layout);
    Ok((keys.id, alloy_primitives::keccak256(&compiled.deployed_bytecode), AggregatedModel { k, vk, vk_hash, predicted_seconds }))
}

/// Copies what proving a model needs into the node's store (`to`), once: settings, keys,
/// witness weights, and for a sharded model its plan, every shard and the aggregation keys.
/// Files are hard-linked where the file system allows (proving keys are large; every writer
/// replaces files by renaming, so a link never changes under the store), else copied.
fn copy_model(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    let single = ["settings.json", "pk.bin", "vk.bin", "weights.json", "shards.json"];
    let mut files: Vec<PathBuf> = single.iter().map(PathBuf::from).collect();
    for sub in ["shards", "aggregate"] {
        let root = from.join(sub);
        if !root.is_dir() {
            continue;
        }
        let mut stack = vec![root];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).with_context(|| format!("cannot list {}", d.display()))? {
                let p = e?.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(rel) = p.strip_prefix(from) {
                    files.push(rel.to_path_buf());
                }
            }
        }
    }
    for f in files {
        let (src, dst) = (from.join(&f), to.join(&f));
        // the weights and the aggregation keys are taken afresh (the registry check ran on
        // the source's); settings and keys are those of the identity the store names them by
        let refresh = f == std::path::Path::new("weights.json") || f.starts_with("aggregate");
        if !src.exists() || (dst.exists() && !refresh) {
            continue;
        }
        if dst.exists() {
            std::fs::remove_file(&dst).with_context(|| format!("cannot replace {}", dst.display()))?;
        }
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        if std::fs::hard_link(&src, &dst).is_err() {
            let bytes = std::fs::read(&src).with_context(|| format!("cannot read {}", src.display()))?;
            crate::files::write_atomic(&dst, &bytes)?;
        }
    }
    Ok(())
}

/// Looks at jobs posted since the last scan: claims the open ones it serves. Returns how many
/// new jobs it saw.
fn scan_new_jobs(cfg: &NodeConfig, chain: &mut dyn Chain, market: &Market, key: &PrivateKeySigner, store: &Store, served: &BTreeMap<u64, Served>) -> Result<u64> {
    let last: u64 = store.meta("last_job")?.and_then(|v| v.parse().ok()).unwrap_or(0);
    let count = market.job_count(chain)?;
    for id in last + 1..=count {
        // jobs in flight, and the proving time queued ahead of a new one
        let in_flight: Vec<u64> = store.market_jobs(Some("claimed"))?.into_iter().chain(store.market_jobs(Some("proving"))?).map(|r| r.job).collect();
        if in_flight.len() >= cfg.policy.max_claims {
            // decided later, once a claimed job is done (the next scan resumes at this job)
            return Ok(id - 1 - last);
        }
        let mut queued = 0u64;
        for &f in &in_flight {
            if let Some(m) = market.job(chain, f).ok().and_then(|fj| served.get(&fj.modelId)) {
                queued = queued.saturating_add(predicted_prove_secs(m, &cfg.policy));
            }
        }
        let queued = queued / u64::from(cfg.workers.max(1));
        let j = market.job(chain, id)?;
        let now = chain.timestamp()?;
        // a claim sent before a crash, but not recorded: resume it
        if j.state() == crate::market::abi::JobState::Claimed && j.provider == key.address() {
            store.set_market_job(id, "claimed", "", "claim found on chain after a restart", 0)?;
            store.set_meta("last_job", &id.to_string())?;
            continue;
        }
        let why_not = if j.state() != crate::market::abi::JobState::Open {
            Some(format!("not open ({})", crate::market::client::state_name(j.state())))
        } else if !served.contains_key(&j.modelId) {
            Some(format!("model {} not served", j.modelId))
        } else if let Some(why) = cfg.policy.refuse(j.token, j.amount, U256::from(j.stake)) {
            Some(why)
        } else if j.deadline < now.saturating_add(queued).saturating_add(predicted_prove_secs(&served[&j.modelId], &cfg.policy)).saturating_add(cfg.min_time_left) {
            let need = predicted_prove_secs(&served[&j.modelId], &cfg.policy);
            Some(format!("deadline {} too close: {} s left, {need} s predicted to prove + {queued} s queued ahead + {} s submit margin", j.deadline, j.deadline.saturating_sub(now), cfg.min_time_left))
        } else if let Err(why) = job_inputs(chain, market, &served[&j.modelId].settings, id) {
            // never claim a job whose inputs the model cannot take: it could only be slashed
            Some(format!("inputs unusable: {why:#}"))
        } else {
            let free = market.free_stake(chain, key.address())?;
            (free < U256::from(j.stake)).then(|| format!("needs stake {}, free stake {}", fmt_eth(U256::from(j.stake)), fmt_eth(free)))
        };
        match why_not {
            Some(why) => {
                store.set_market_job(id, "skipped", "", &why, 0)?;
                log(&format!("job {id}: skipped: {why}"));
            }
            None => {
                // Another node may claim the job between our check and our transaction: the
                // claim then reverts (as a receipt, or as an error while the transaction is
                // prepared). Either way the chain, not the outcome of our call, says who holds
                // the job; if it cannot be read now, the job is looked at again next pass.
                // (succeeded, reverted, gas, reason)
                let (sent, reverted, gas, why) = match market.claim(chain, key, id) {
                    Ok(r) => (r.success, !r.success, r.gas_used, r.reason()),
                    Err(e) => (false, false, 0, format!("{e:#}")),
                };
                let j = market.job(chain, id).with_context(|| format!("job {id}: claim outcome ({why})"))?;
                if j.state() == crate::market::abi::JobState::Claimed && j.provider == key.address() {
                    store.set_market_job(id, "claimed", "", "", gas)?;
                    log(&format!("job {id}: claimed (gas {gas})"));
                } else if j.state() != crate::market::abi::JobState::Open {
                    let why = format!("claimed by another provider ({}): {why}", crate::market::client::state_name(j.state()));
                    store.set_market_job(id, "lost", "", &why, 0)?;
                    log(&format!("job {id}: lost: {why}"));
                } else if sent {
                    bail!("job {id}: the claim succeeded but the job is still open");
                } else if reverted {
                    store.set_market_job(id, "failed", "", &why, 0)?;
                    log(&format!("job {id}: claim failed: {why}"));
                } else {
                    // e.g. the endpoint failed: try this job again next pass
                    bail!("job {id}: claim not sent: {why}");
                }
            }
        }
        store.set_meta("last_job", &id.to_string())?;
    }
    Ok(count.saturating_sub(last))
}

/// The node's batching state (in memory: a restart only resets waiting times).
#[derive(Default)]
struct Batches {
    /// When each claimed job was first seen waiting for a batch.
    waiting_since: BTreeMap<u64, std::time::Instant>,
    /// Jobs whose batch failed: proved alone from then on.
    alone: std::collections::BTreeSet<u64>,
}

impl Batches {
    /// Settles every full batch whose deadlines allow it; returns the claimed jobs still
    /// waiting for a batch. A job waits only while a failed batch would still leave time to
    /// prove it alone, and at most the configured wait.
    fn pass(&mut self, cfg: &NodeConfig, chain: &mut dyn Chain, market: &Market, key: &PrivateKeySigner, store: &Store, served: &BTreeMap<u64, Served>) -> Result<std::collections::BTreeSet<u64>> {
        let mut held = std::collections::BTreeSet::new();
        let Some(bc) = &cfg.batch else { return Ok(held) };
        let claimed = store.market_jobs(Some("claimed"))?;
        for (&id, m) in served {
            let Some(b) = &m.batch else { continue };
            let now = chain.timestamp()?;
            let batch_secs = (b.predicted_seconds * cfg.policy.prove_safety).ceil().max(1.0) as u64;
            let alone_secs = predicted_prove_secs(m, &cfg.policy);
            let poll = cfg.poll.as_secs().saturating_add(1);
            let mut ready = vec![];
            let mut can_wait = vec![];
            for row in &claimed {
                if self.alone.contains(&row.job) || row.job < b.first_job {
                    continue;
                }
                let j = market.job(chain, row.job)?;
                if j.modelId != id {
                    continue;
                }
                if j.deadline >= now.saturating_add(batch_secs).saturating_add(cfg.min_time_left) {
                    ready.push(row.job);
                }
                let waited = self.waiting_since.entry(row.job).or_insert_with(std::time::Instant::now).elapsed().as_secs();
                if waited < bc.max_wait && j.deadline >= now.saturating_add(batch_secs).saturating_add(alone_secs).saturating_add(cfg.min_time_left).saturating_add(poll) {
                    can_wait.push(row.job);
                }
            }
            if ready.len() >= bc.size {
                let jobs = &ready[..bc.size];
                settle_batch(cfg, chain, market, key, store, m, b, jobs, &mut self.alone)?;
                held.extend(can_wait.iter().copied().filter(|j| !jobs.contains(j) && !self.alone.contains(j)));
            } else {
                held.extend(can_wait);
            }
        }
        Ok(held)
    }
}

/// Proves `jobs` (claimed by this node, of model `m`) together and settles them with one
/// `submitBatch`. Any failure puts them back to claimed, to be proved alone (`alone`).
#[allow(clippy::too_many_arguments)]
fn settle_batch(cfg: &NodeConfig, chain: &mut dyn Chain, market: &Market, key: &PrivateKeySigner, store: &Store, m: &Served, b: &BatchServe, jobs: &[u64], alone: &mut std::collections::BTreeSet<u64>) -> Result<()> {
    for &job in jobs {
        store.set_market_job(job, "batching", "", &format!("in a batch of {}", jobs.len()), 0)?;
    }
    log(&format!("jobs {jobs:?}: proving them as one batch"));
    let s = &m.settings;
    let attempt = (|| -> Result<(crate::market::chain::Receipt, crate::market::flow::BatchSubmission)> {
        let mut batch = Vec::with_capacity(jobs.len());
        for &job in jobs {
            let j = market.job(chain, job)?;
            if j.state() != crate::market::abi::JobState::Claimed || j.provider != key.address() {
                bail!("job {job} is {} on chain", crate::market::client::state_name(j.state()));
            }
            let inputs = job_inputs(chain, market, s, job)?;
            let binding = u256_to_fr(market.binding_of(chain, job, key.address())?)?;
            batch.push(crate::batch::BatchJob { inputs, binding });
        }
        let wd = Workdir(b.dir.clone());
        // (prove_batch checks every job proof and the aggregated proof natively)
        let p = crate::batch::prove_batch(&wd, s, cfg.srs.as_deref(), &b.keys, &batch, &|step| log(&format!("jobs {jobs:?}: {step}")))?;
        let sub = crate::market::flow::BatchSubmission::new(&s.graph, jobs, &p.instances, &p.proof)?;
        for (i, &job) in jobs.iter().enumerate() {
            if crate::market::client::inputs_hash(&sub.inputs[i]) != market.job(chain, job)?.inputsHash {
                bail!("the batch proof's inputs for job {job} are not the posted ones");
            }
        }
        let r = market.submit_batch(chain, key, &sub.jobs, &sub.inputs, &sub.outputs, &sub.params, &sub.proof)?;
        Ok((r, sub))
    })();
    match attempt {
        Ok((r, sub)) if r.success => {
            let per_job = r.gas_used / jobs.len() as u64;
            for (i, &job) in jobs.iter().enumerate() {
                let j = market.job(chain, job)?;
                let fee = j.amount * U256::from(market.params.fee_bps) / U256::from(10_000u64);
                let note = format!("paid {} in a batch of {} (outputs {:?})", fmt_eth(j.amount - fee), jobs.len(), sub.outputs[i]);
                store.set_market_job(job, "paid", "", &note, per_job)?;
            }
            log(&format!("jobs {jobs:?}: settled in one batch (gas {}, {per_job} per job)", r.gas_used));
        }
        other => {
            let why = match other {
                Ok((r, _)) => format!("submitBatch reverted: {}", r.reason()),
                Err(e) => format!("{e:#}"),
            };
            for &job in jobs {
                alone.insert(job);
                store.set_market_job(job, "claimed", "", &format!("batch failed ({why}); proving it alone"), 0)?;
            }
            log(&format!("jobs {jobs:?}: batch failed ({why}); proving them alone"));
        }
    }
    Ok(())
}

/// Reads the claimed job's inputs from its JobPosted event and queues the proof.
fn queue_proof(chain: &dyn Chain, market: &Market, store: &Store, shared: &Shared, served: &BTreeMap<u64, Served>, job: u64) -> Result<()> {
    let j = market.job(chain, job)?;
    let Some(m) = served.get(&j.modelId) else {
        return store.set_market_job(job, "failed", "", "model no longer served", 0);
    };
    let inputs = job_inputs(chain, market, &m.settings, job)?;
    let binding = market.binding_of(chain, job, j.provider)?;
    let local = format!("{:032x}", rand::random::<u128>());
    let jd = store.job_dir(&local);
    write_json(&jd.join("input_q.json"), &serde_json::json!({ "quantized": inputs.iter().map(|t| &t.data).collect::<Vec<_>>() }))?;
    crate::files::write_atomic(&jd.join("binding"), format!("{binding:#x}").as_bytes())?;
    if !store.add_job(&local, &m.local_id, u32::MAX)? {
        bail!("cannot queue the proof of job {job}");
    }
    store.set_market_job(job, "proving", &local, "", 0)?;
    shared.wake.notify_one();
    log(&format!("job {job}: proving (local job {local})"));
    Ok(())
}

/// The job's quantized input tensors, decoded from its JobPosted event.
fn job_inputs(chain: &dyn Chain, market: &Market, s: &Settings, job: u64) -> Result<Vec<zkinfer_circuits::ir::Tensor>> {
    let logs = chain.logs(market.market, M::JobPosted::SIGNATURE_HASH, Some(B256::from(U256::from(job))), market.deploy_block)?;
    let ev = logs.iter().find_map(|l| M::JobPosted::decode_log(l).ok()).with_context(|| format!("no JobPosted event for job {job}"))?;
    let words: Vec<_> = ev.data.inputInstances.iter().map(|w| u256_to_fr(*w)).collect::<Result<_>>()?;
    public::unpack_inputs(&s.graph, &words).map_err(anyhow::Error::msg)
}

/// Checks a finished proof natively, then submits it on chain. A proof that does not verify
/// is never sent (the market would refuse it and the stake stays at risk): it is proved again
/// while the deadline leaves time for it.
#[allow(clippy::too_many_arguments)]
fn finish_proof(cfg: &NodeConfig, chain: &mut dyn Chain, market: &Market, key: &PrivateKeySigner, store: &Store, served: &BTreeMap<u64, Served>, job: u64, local: &str) -> Result<()> {
    let Some(row) = store.job(local)? else {
        // the local job vanished (e.g. data dir edited): prove again
        return store.set_market_job(job, "claimed", "", "local job missing", 0);
    };
    if row.state == JobState::Queued as i32 || row.state == JobState::Running as i32 {
        return Ok(());
    }
    let j = market.job(chain, job)?;
    if row.state != JobState::Done as i32 {
        // the stake is lost at the deadline anyway: prove again while there is time (the
        // prover crashed, the node restarted mid-proof too often, ...)
        let now = chain.timestamp()?;
        let time_left = served.get(&j.modelId).is_some_and(|m| j.deadline > now.saturating_add(predicted_prove_secs(m, &cfg.policy)).saturating_add(cfg.min_time_left));
        let ours = j.state() == crate::market::abi::JobState::Claimed && j.provider == key.address();
        let (state, note) = if ours && time_left { ("claimed", format!("proving failed: {}; proving again", row.error)) } else { ("failed", format!("proving failed: {}", row.error)) };
        log(&format!("job {job}: {note}"));
        return store.set_market_job(job, state, local, &note, 0);
    }
    // a node killed between its submit and recording it finds the job already paid
    if j.state() != crate::market::abi::JobState::Claimed || j.provider != key.address() {
        let (state, note) = if j.state() == crate::market::abi::JobState::Paid && j.provider == key.address() {
            ("paid", "paid (recorded after a restart)".to_string())
        } else {
            ("failed", format!("job is {} on chain", crate::market::client::state_name(j.state())))
        };
        log(&format!("job {job}: {note}"));
        return store.set_market_job(job, state, local, &note, 0);
    }
    let m = served.get(&j.modelId).context("model no longer served")?;
    let sub = match own_proof(cfg, chain, market, store, m, &j, job, key.address(), local) {
        Ok(sub) => sub,
        Err(e) => {
            let now = chain.timestamp()?;
            let retry = j.deadline > now.saturating_add(predicted_prove_secs(m, &cfg.policy)).saturating_add(cfg.min_time_left);
            let note = format!("own proof not submitted: {e:#}{}", if retry { "; proving again" } else { "; no time left to prove again" });
            log(&format!("job {job}: {note}"));
            return store.set_market_job(job, if retry { "claimed" } else { "failed" }, local, &note, 0);
        }
    };
    let r = market.submit(chain, key, job, &sub.inputs, &sub.outputs, &sub.params, &sub.proof)?;
    if r.success {
        let fee = j.amount * U256::from(market.params.fee_bps) / U256::from(10_000u64);
        let note = format!("paid {} (outputs {:?})", fmt_eth(j.amount - fee), sub.file.outputs.iter().map(|o| &o.quantized).collect::<Vec<_>>());
        store.set_market_job(job, "paid", local, &note, r.gas_used)?;
        log(&format!("job {job}: submitted (gas {}), {note}", r.gas_used));
    } else {
        let why = r.reason();
        store.set_market_job(job, "failed", local, &format!("submit reverted: {why}"), 0)?;
        log(&format!("job {job}: submit reverted: {why}"));
    }
    Ok(())
}

/// The finished proof of `job`, checked as the market will check it: a valid proof of this
/// model under the local verifier, bound to this job and provider, of the job's posted input,
/// with the registered weights. Any failure (a corrupt file, a prover fault, another job's
/// binding) is an error, and the node proves again rather than send it and lose the stake.
#[allow(clippy::too_many_arguments)]
fn own_proof(cfg: &NodeConfig, chain: &dyn Chain, market: &Market, store: &Store, m: &Served, j: &M::Job, job: u64, provider: Address, local: &str) -> Result<Submission> {
    let path = store.job_dir(local).join("proof.json");
    let sub = match &m.aggregated {
        None => {
            let file = ProofFile::read(&path)?;
            let wd = Workdir(store.model_dir(&m.local_id));
            let srs = match &cfg.srs {
                Some(p) => p.clone(),
                None => store.cache_dev_srs(m.settings.k)?,
            };
            let params = crate::pipeline::load_params(Some(&srs), m.settings.k)?;
            let verdict = crate::pipeline::verify(&wd, &m.settings, &params, &file)?;
            if !verdict.is_valid() {
                bail!("the local verifier rejects it ({verdict})");
            }
            Submission::from_proof(&m.settings.graph, file)?
        }
        Some(agg) => {
            let file = AggregatedProof::read(&path)?;
            if !file.model_hash.eq_ignore_ascii_case(&m.local_id) || file.aggregation_vk_hash != agg.vk_hash {
                bail!("it is an aggregated proof of model {} with aggregation key {}, not of {} with {}", file.model_hash, file.aggregation_vk_hash, m.local_id, agg.vk_hash);
            }
            let srs = match &cfg.srs {
                Some(p) => p.clone(),
                None => store.cache_dev_srs(agg.k)?,
            };
            let params = crate::pipeline::load_params(Some(&srs), agg.k)?;
            let (instances, proof) = (file.instances_fr()?, file.proof_bytes()?);
            if let zkinfer_prover::verify::Verdict::Invalid(why) = zkinfer_prover::aggregate::verify(&params, &agg.vk, &instances, &proof) {
                bail!("the local verifier rejects it ({why})");
            }
            let listed = file.model_proof(m.settings.k);
            listed.validate().and_then(|()| listed.check_against(&m.settings.graph)).context("its listed inputs and outputs")?;
            Submission::from_aggregated(&m.settings.graph, &instances, &proof, listed)?
        }
    };
    let binding = market.binding_of(chain, job, provider)?;
    let bound = sub.file.instances_fr()?.first().map(crate::market::fr_to_u256);
    if bound != Some(binding) {
        bail!("it is bound to {:#x}, not to this job and provider ({binding:#x})", bound.unwrap_or_default());
    }
    if crate::market::client::inputs_hash(&sub.inputs) != j.inputsHash {
        bail!("its inputs are not the ones job {job} was posted with");
    }
    let registered = market.model(chain, j.modelId)?;
    if crate::market::client::inputs_hash(&sub.params) != registered.paramsHash {
        bail!("its weights are not the ones model {} was registered with", j.modelId);
    }
    Ok(sub)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::chain::{dev_signer, parse_eth};

    #[test]
    fn dev_keys_and_the_dev_srs_only_on_local_chains() {
        let dev = dev_signer(2).expect("dev key");
        check_not_dev(31337, &dev, true).expect("local chain: dev key and dev SRS are fine");
        let e = check_not_dev(1, &dev, false).expect_err("mainnet with a dev key").to_string();
        assert!(e.contains("public development key"), "{e}");
        let own = PrivateKeySigner::random();
        let e = check_not_dev(8453, &own, true).expect_err("dev SRS on a real chain").to_string();
        assert!(e.contains("UNSAFE dev SRS"), "{e}");
        check_not_dev(8453, &own, false).expect("own key, real SRS");
    }

    #[test]
    fn claim_policy_refuses_unknown_tokens_dust_and_lopsided_stakes() {
        let eth = |x: &str| parse_eth(x).expect("eth");
        let p = ClaimPolicy { min_payment: eth("0.001"), ..ClaimPolicy::default() };
        assert_eq!(p.refuse(Address::ZERO, eth("0.05"), eth("0.1")), None);
        let token: Address = "0x00000000000000000000000000000000000000aa".parse().expect("address");
        assert!(p.refuse(token, eth("0.05"), eth("0.1")).expect("token").contains("not an accepted one"));
        assert!(ClaimPolicy { tokens: vec![Address::ZERO, token], ..p.clone() }.refuse(token, eth("0.05"), eth("0.1")).is_none());
        assert!(p.refuse(Address::ZERO, eth("0.0009"), U256::ZERO).expect("dust").contains("below --min-payment"));
        // 10x is the limit: 0.5 ETH stake for 0.05 ETH is fine, a wei more is not
        assert!(p.refuse(Address::ZERO, eth("0.05"), eth("0.5")).is_none());
        assert!(p.refuse(Address::ZERO, eth("0.05"), eth("0.5") + U256::from(1u64)).expect("ratio").contains("--max-stake-ratio"));
        // no overflow at the extremes
        assert!(p.refuse(Address::ZERO, U256::MAX, U256::MAX).is_none());
    }
}
