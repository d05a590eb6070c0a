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

use alloy_primitives::{B256, U256};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolEvent;
use anyhow::{bail, Context, Result};
use zkinfer_circuits::public;
use zkinfer_prover::artifacts::ProofFile;

use crate::files::{write_json, Settings, Workdir};
use crate::market::abi::InferenceMarket as M;
use crate::market::chain::{fmt_eth, Chain};
use crate::market::client::Market;
use crate::market::flow::{instance_counts, Submission};
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
}

/// A served model: registry id -> compiled model and its id in the node's store.
struct Served {
    local_id: String,
    settings: Settings,
}

fn log(msg: &str) {
    tracing::info!(target: "zkinfer_node", "{msg}");
}

/// Runs the node until stopped (or idle, with `exit_when_idle`).
pub fn run(cfg: NodeConfig, chain: &mut dyn Chain, market: &Market, key: &PrivateKeySigner) -> Result<()> {
    market.check_chain(chain)?;
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
        // an error on one job (a flaky node, a missing event) is logged and retried next pass
        for row in store.market_jobs(Some("claimed"))? {
            if let Err(e) = queue_proof(chain, market, store, &shared, &served, row.job) {
                log(&format!("job {}: cannot queue the proof yet: {e:#}", row.job));
            }
        }
        for row in store.market_jobs(Some("proving"))? {
            if let Err(e) = finish_proof(chain, market, key, store, &served, row.job, &row.local_job) {
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

/// Copies each compiled model into the store (by verifying-key hash) and finds its registry ids:
/// entries whose verifying-key hash, instance counts AND verifier code hash (keccak of the
/// runtime code of this model's own compiled Solidity verifier) all match. The vk hash alone
/// is only a claim by whoever registered the entry: an entry pointing at another verifier
/// (e.g. one that always reverts) could otherwise make the node claim jobs it can never be
/// paid for, and lose stake.
fn serve_models(cfg: &NodeConfig, chain: &dyn Chain, market: &Market, store: &Store) -> Result<BTreeMap<u64, Served>> {
    let mut by_vk = BTreeMap::new();
    for dir in &cfg.models {
        let wd = Workdir(dir.clone());
        let s = wd.load_settings()?;
        let (_, header) = zkinfer_prover::keys::read_vk(&wd.vk())?;
        let vk = B256::from(header.vk_hash);
        let local_id = hex::encode(header.vk_hash);
        if !wd.verifier().exists() {
            let params = crate::pipeline::load_params(cfg.srs.as_deref(), s.k)?;
            crate::pipeline::evm_verifier(&wd, &s, &params, None)?;
        }
        let v: serde_json::Value = crate::files::read_json(&wd.verifier())?;
        let runtime = hex::decode(v["deployed_bytecode"].as_str().unwrap_or_default().trim_start_matches("0x")).with_context(|| format!("{}: deployed_bytecode is not hex", wd.verifier().display()))?;
        let code_hash = alloy_primitives::keccak256(&runtime);
        let local = Workdir(store.model_dir(&local_id));
        for f in ["settings.json", "pk.bin", "vk.bin"] {
            if !local.0.join(f).exists() {
                let bytes = std::fs::read(dir.join(f)).with_context(|| format!("cannot read {}", dir.join(f).display()))?;
                crate::files::write_atomic(&local.0.join(f), &bytes)?;
            }
        }
        store.add_model(&local_id, &dir.display().to_string())?;
        if cfg.srs.is_none() {
            store.cache_dev_srs(s.k)?; // UNSAFE dev SRS, once per k, for the workers
        }
        store.set_model_ready(&local_id, s.k, s.num_instances as u32, &local_id)?;
        by_vk.insert(vk, (local_id, s, code_hash));
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
        if let Some((local_id, s, code_hash)) = by_vk.get(&m.vkHash) {
            let (n_in, n_out) = instance_counts(&s.graph);
            if (m.nInputs as usize, m.nOutputs as usize) != (n_in, n_out) {
                log(&format!("registry model {id} has the vk hash of {local_id} but other instance counts; not served"));
                continue;
            }
            if m.verifierCodeHash != *code_hash {
                log(&format!("registry model {id} has the vk hash of {local_id} but another verifier's code; not served"));
                continue;
            }
            served.insert(id, Served { local_id: local_id.clone(), settings: s.clone() });
        }
    }
    Ok(served)
}

/// Looks at jobs posted since the last scan: claims the open ones it serves. Returns how many
/// new jobs it saw.
fn scan_new_jobs(cfg: &NodeConfig, chain: &mut dyn Chain, market: &Market, key: &PrivateKeySigner, store: &Store, served: &BTreeMap<u64, Served>) -> Result<u64> {
    let last: u64 = store.meta("last_job")?.and_then(|v| v.parse().ok()).unwrap_or(0);
    let count = market.job_count(chain)?;
    for id in last + 1..=count {
        let j = market.job(chain, id)?;
        let now = chain.timestamp()?;
        // a claim sent before a crash, but not recorded: resume it
        if j.state == M::JobState::Claimed && j.provider == key.address() {
            store.set_market_job(id, "claimed", "", "claim found on chain after a restart", 0)?;
            store.set_meta("last_job", &id.to_string())?;
            continue;
        }
        let why_not = if j.state != M::JobState::Open {
            Some(format!("not open ({})", crate::market::client::state_name(j.state)))
        } else if !served.contains_key(&j.modelId) {
            Some(format!("model {} not served", j.modelId))
        } else if j.deadline < now + cfg.min_time_left {
            Some(format!("deadline {} too close", j.deadline))
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
                if j.state == M::JobState::Claimed && j.provider == key.address() {
                    store.set_market_job(id, "claimed", "", "", gas)?;
                    log(&format!("job {id}: claimed (gas {gas})"));
                } else if j.state != M::JobState::Open {
                    let why = format!("claimed by another provider ({}): {why}", crate::market::client::state_name(j.state));
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

/// Submits a finished proof on chain.
fn finish_proof(chain: &mut dyn Chain, market: &Market, key: &PrivateKeySigner, store: &Store, served: &BTreeMap<u64, Served>, job: u64, local: &str) -> Result<()> {
    let Some(row) = store.job(local)? else {
        // the local job vanished (e.g. data dir edited): prove again
        return store.set_market_job(job, "claimed", "", "local job missing", 0);
    };
    if row.state == JobState::Queued as i32 || row.state == JobState::Running as i32 {
        return Ok(());
    }
    if row.state != JobState::Done as i32 {
        log(&format!("job {job}: proving failed: {}", row.error));
        return store.set_market_job(job, "failed", local, &format!("proving failed: {}", row.error), 0);
    }
    let j = market.job(chain, job)?;
    // a node killed between its submit and recording it finds the job already paid
    if j.state != M::JobState::Claimed || j.provider != key.address() {
        let (state, note) = if j.state == M::JobState::Paid && j.provider == key.address() {
            ("paid", "paid (recorded after a restart)".to_string())
        } else {
            ("failed", format!("job is {} on chain", crate::market::client::state_name(j.state)))
        };
        log(&format!("job {job}: {note}"));
        return store.set_market_job(job, state, local, &note, 0);
    }
    let m = served.get(&j.modelId).context("model no longer served")?;
    let file = ProofFile::read(&store.job_dir(local).join("proof.json"))?;
    let sub = Submission::from_proof(&m.settings.graph, file)?;
    let r = market.submit(chain, key, job, &sub.inputs, &sub.outputs, &sub.proof)?;
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
