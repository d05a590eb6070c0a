//! `zkinfer market ...`: the on-chain market, one verb per step. Without `--rpc` every verb
//! runs on the embedded revm chain saved in `DIR/chain.json` (no node needed); with `--rpc URL`
//! on that node (anvil, a testnet, ...). The deployment (contract addresses, registered models)
//! is kept in `DIR/deployment.json`.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, U256};
use alloy_signer_local::PrivateKeySigner;
use anyhow::{bail, Context, Result};
use zkinfer_circuits::onnx::ImportOptions;

use super::SrsArgs;
use crate::files::{read_inputs, Workdir};
use crate::market::chain::{dev_signer, fmt_eth, parse_eth, signer, Chain, Receipt};
use crate::market::client::{compile_market, state_name, Market, MarketParams, RegisteredModel};
use crate::market::flow;
use crate::market::local::LocalChain;
use crate::market::rpc::RpcChain;
use crate::pipeline;

#[derive(clap::Args)]
pub struct Args {
    /// JSON-RPC endpoint, e.g. http://127.0.0.1:8545. Default: the embedded revm chain in DIR/chain.json.
    #[arg(long, global = true)]
    rpc: Option<String>,
    /// Directory of the deployment record (and of the embedded chain).
    #[arg(long, global = true, default_value = "out/market")]
    dir: PathBuf,
    /// File holding the sender's private key, hex (or set $ZKINFER_KEY; never on the command
    /// line, where other users of the machine can read it). Default: the public dev account
    /// of the verb's role (0 operator, 1 requester, 2 provider): local chains (id 31337) only.
    #[arg(long, global = true)]
    key_file: Option<PathBuf>,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(clap::Subcommand)]
enum Verb {
    /// Deploy ModelRegistry + InferenceMarket (compiled with the pinned solcjs).
    Deploy {
        /// Protocol fee, basis points of each payment (at most 500).
        #[arg(long, default_value_t = 100)]
        fee_bps: u64,
        /// Share of a late provider's locked stake slashed to the requester, basis points.
        #[arg(long, default_value_t = 5_000)]
        slash_bps: u64,
        /// Delay between a stake withdrawal request and the withdrawal, seconds.
        #[arg(long, default_value_t = 86_400)]
        unbonding_secs: u64,
        /// Least stake a claim locks, ETH.
        #[arg(long, default_value = "0.01")]
        min_stake: String,
    },
    /// Deploy a compiled model's Solidity verifier and register the model (vk hash, instance counts).
    Register {
        /// Directory from `zkinfer compile` + `zkinfer setup`.
        model_dir: PathBuf,
        #[command(flatten)]
        srs: SrsArgs,
    },
    /// Deploy the verifier of batches of SIZE jobs of a registered single-circuit model and name
    /// it the model's batch verifier (the model's owner only; only jobs posted from now on may be
    /// settled with it). Providers then settle SIZE claimed jobs with one aggregated proof
    /// (`zkinfer node --batch SIZE --batch-k K`).
    RegisterBatch {
        /// Directory from `zkinfer compile` + `zkinfer setup` of a registered model (the batch
        /// keys go to DIR/batch-SIZE/).
        model_dir: PathBuf,
        /// Jobs per batch (2..=64).
        #[arg(long)]
        size: usize,
        /// log2 of the batch circuit's rows (18..=23): more rows give fewer columns, a cheaper
        /// verifier and more memory.
        #[arg(long, default_value_t = 21)]
        k: u32,
        /// Wrap the root: the batch circuit (or a tree's root) proves at --k, and one more
        /// aggregation of that single proof at 2^ROOT_K rows (22 or 23) is what the chain
        /// verifies, with few columns: less gas per batch, for one more proof (minutes) and,
        /// at 23, about 17 GB of memory.
        #[arg(long, value_name = "ROOT_K")]
        root_k: Option<u32>,
        #[command(flatten)]
        srs: SrsArgs,
    },
    /// Add ETH to the sender's provider stake.
    Stake {
        /// ETH to add, e.g. 0.5.
        #[arg(long)]
        amount: String,
    },
    /// Post a job: the model's input instances, the payment (ETH) and a deadline.
    Post {
        /// Directory from `zkinfer compile` + `zkinfer setup` of a registered model.
        model_dir: PathBuf,
        /// The job's input ({"input_data": [[...]]}); its quantized values are posted.
        #[arg(long)]
        input: PathBuf,
        /// Payment, ETH.
        #[arg(long)]
        pay: String,
        /// Stake the claimer must lock, ETH (at least the market's minimum).
        #[arg(long, default_value = "0")]
        stake: String,
        /// Seconds from now until the deadline.
        #[arg(long, default_value_t = 3600)]
        deadline_secs: u64,
    },
    /// Claim an open job (locks stake).
    Claim {
        /// The job id.
        job: u64,
    },
    /// Prove the job's model on its input with the job's binding and submit; paid if it verifies.
    Submit {
        /// The job id.
        job: u64,
        /// Directory from `zkinfer compile` + `zkinfer setup` of the job's model.
        model_dir: PathBuf,
        /// The job's input (must match what was posted).
        #[arg(long)]
        input: PathBuf,
        #[command(flatten)]
        srs: SrsArgs,
    },
    /// Prove several claimed jobs of one model and settle them with one aggregated proof
    /// (`submitBatch`; the model's batch verifier of that size must be registered with
    /// `register-batch`, whose keys in DIR/batch-N/ are used).
    SubmitBatch {
        /// Directory from `zkinfer compile` + `zkinfer setup` of the jobs' model.
        model_dir: PathBuf,
        /// The job ids, increasing, comma-separated (e.g. 3,4,7): the batch size.
        #[arg(long, value_delimiter = ',', required = true)]
        jobs: Vec<u64>,
        /// Each job's input in the order of --jobs (must match what was posted), one
        /// --input per job.
        #[arg(long = "input", required = true)]
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        srs: SrsArgs,
    },
    /// Expire a job past its deadline: refund the requester, slash the claimer.
    Expire {
        /// The job id.
        job: u64,
    },
    /// Send the sender the ETH credited to it (payments, refunds, fees).
    Withdraw,
    /// Show the market, its jobs (or one job) and the dev accounts' balances.
    Status {
        /// One job's id (default: every job).
        job: Option<u64>,
    },
    /// Move the chain's clock forward (embedded chain or anvil).
    AdvanceTime {
        /// Seconds to move the clock forward.
        secs: u64,
    },
    /// The whole flow on a fresh chain with the bundled model, with attacks and a gas table.
    Demo {
        /// The model folder (model.onnx and input.json).
        #[arg(long, default_value = "models/digits_mlp_int8")]
        model: PathBuf,
    },
}

enum AnyChain {
    Local(LocalChain),
    Rpc(RpcChain),
}

impl AnyChain {
    fn open(a: &Args) -> Result<Self> {
        Ok(match &a.rpc {
            Some(url) => AnyChain::Rpc(RpcChain::connect(url)?),
            None => AnyChain::Local(LocalChain::open(&a.dir.join("chain.json"))?),
        })
    }

    fn get(&mut self) -> &mut dyn Chain {
        match self {
            AnyChain::Local(c) => c,
            AnyChain::Rpc(c) => c,
        }
    }

    fn save(&self) -> Result<()> {
        match self {
            AnyChain::Local(c) => c.save(),
            AnyChain::Rpc(_) => Ok(()),
        }
    }
}

fn key_for(a: &Args, role: usize) -> Result<PrivateKeySigner> {
    if let Some(f) = &a.key_file {
        let k = std::fs::read_to_string(f).with_context(|| format!("--key-file {}", f.display()))?;
        return signer(&k).with_context(|| format!("--key-file {}", f.display()));
    }
    match std::env::var("ZKINFER_KEY").ok() {
        Some(k) => signer(&k).context("$ZKINFER_KEY"),
        None => dev_signer(role),
    }
}

fn report(what: &str, r: &Receipt) {
    let tx = r.tx_hash.as_deref().map(|h| format!(", tx {h}")).unwrap_or_default();
    say!("{what}: gas {}{tx}", r.gas_used);
}

fn model_of(m: &Market, wd: &Workdir) -> Result<RegisteredModel> {
    let s = wd.load_settings()?;
    let h = alloy_primitives::B256::from(crate::pipeline::recorded_id(wd, &s)?.0);
    m.models.iter().rev().find(|x| x.vk_hash == h).cloned().with_context(|| format!("the model in {} is not registered on this market: run `zkinfer market register {}`", wd.0.display(), wd.0.display()))
}

pub fn run(a: Args) -> Result<()> {
    if let Verb::Demo { model } = &a.verb {
        return demo(&a, model);
    }
    let mut chain = AnyChain::open(&a)?;
    // the public dev keys (the default) only on local chains
    let id = chain.get().chain_id()?;
    if id != crate::market::local::LOCAL_CHAIN_ID {
        for role in 0..3 {
            crate::node::check_not_dev(id, &key_for(&a, role)?, false)?;
        }
    }
    let deployment = a.dir.join("deployment.json");
    let res = run_verb(&a, chain.get(), &deployment);
    // the embedded chain keeps every mined transaction, also when a later step failed
    chain.save()?;
    res
}

fn run_verb(a: &Args, chain: &mut dyn Chain, deployment: &Path) -> Result<()> {
    if let Verb::Deploy { fee_bps, slash_bps, unbonding_secs, min_stake } = &a.verb {
        if deployment.exists() {
            bail!("a market is already recorded in {}; use another --dir to deploy a new one", deployment.display());
        }
        let op = key_for(a, 0)?;
        let params = MarketParams { fee_bps: *fee_bps, slash_bps: *slash_bps, unbonding_delay: *unbonding_secs, min_stake: parse_eth(min_stake)?, fee_recipient: op.address() };
        let (m, rs) = Market::deploy(chain, &op, &compile_market()?, params)?;
        m.save(deployment)?;
        say!("deployed on {}: ModelRegistry {} (gas {}), InferenceMarket {} (gas {})", chain.describe(), m.registry, rs[0].gas_used, m.market, rs[1].gas_used);
        say!("deployment record: {}", deployment.display());
        return Ok(());
    }
    let mut m = Market::load(deployment)?;
    m.check_chain(chain)?;
    match &a.verb {
        Verb::Deploy { .. } | Verb::Demo { .. } => unreachable!("handled above"),
        Verb::Register { model_dir, srs } => {
            let wd = Workdir(model_dir.clone());
            let s = wd.load_settings()?;
            let (model, last) = match crate::sharding::load(&wd, &s)? {
                None => {
                    let params = pipeline::load_params(srs.srs.as_deref(), s.k)?;
                    let (model, rs) = flow::register_model(chain, &m, &key_for(a, 0)?, &wd, &s, &params)?;
                    report(&format!("verifier deployed at {}", model.verifier), &rs[0]);
                    let [_, last] = rs;
                    (model, last)
                }
                Some(sh) => {
                    // one aggregated proof per job: the aggregation verifier behind an adapter
                    let agg_dir = wd.0.join("aggregate");
                    let k = zkinfer_prover::aggregate::read_layout(&agg_dir).map(|l| l.k).unwrap_or(crate::sharding::AGGREGATION_K);
                    let keys = crate::sharding::aggregation_keys(&s, &sh, srs.srs.as_deref(), &agg_dir, k, &|step| say!("{step}"))?;
                    let compiled = pipeline::aggregation_verifier(&agg_dir, &keys.params, keys.pk.get_vk(), keys.layout.num_instances())?;
                    let (model, rs) = flow::register_aggregated(chain, &m, &key_for(a, 0)?, &s, keys.id, &compiled.bytecode, &compiled.parts)?;
                    report(&format!("aggregation verifier for {} shards deployed ({} contracts, the largest {} bytes)", sh.shards.len(), compiled.parts.len() + 1, compiled.largest_runtime), &rs[0]);
                    report(&format!("adapter deployed at {} (the registered verifier)", model.verifier), &rs[1]);
                    let [_, _, last] = rs;
                    (model, last)
                }
            };
            report(&format!("registered model {} (identity {}, {} input / {} output / {} weight instances)", model.id, model.vk_hash, model.n_inputs, model.n_outputs, model.n_params), &last);
            m.models.push(model);
            m.save(deployment)?;
        }
        Verb::RegisterBatch { model_dir, size, k, root_k, srs } => {
            let wd = Workdir(model_dir.clone());
            let s = wd.load_settings()?;
            let model = model_of(&m, &wd)?;
            let plan = crate::batch::BatchPlan { k: *k, root_k: *root_k };
            say!("batch keys for {size} proofs at {plan} ({}; made once)", crate::batch::batch_dir(&wd, *size).display());
            let (verifier, [deployed, registered], _) = flow::register_batch(chain, &m, &key_for(a, 0)?, &wd, &s, srs.srs.as_deref(), &model, *size, plan)?;
            report(&format!("batch verifier deployed at {verifier}"), &deployed);
            report(&format!("named model {}'s verifier of batches of {size}", model.id), &registered);
        }
        Verb::Stake { amount } => {
            let r = m.deposit(chain, &key_for(a, 2)?, parse_eth(amount)?)?.ok("deposit")?;
            report(&format!("staked {amount} ETH"), &r);
        }
        Verb::Post { model_dir, input, pay, stake, deadline_secs } => {
            let wd = Workdir(model_dir.clone());
            let s = wd.load_settings()?;
            let model = model_of(&m, &wd)?;
            let inputs = flow::job_inputs(&s, &read_inputs(input)?)?;
            let deadline = chain.timestamp()? + deadline_secs;
            let (job, r) = m.post_job(chain, &key_for(a, 1)?, model.id, &inputs, deadline, parse_eth(pay)?, parse_eth(stake)?)?;
            let r = r.ok("postJob")?;
            report(&format!("posted job {} for model {} paying {pay} ETH, deadline {deadline}", job.unwrap_or_default(), model.id), &r);
        }
        Verb::Claim { job } => {
            let r = m.claim(chain, &key_for(a, 2)?, *job)?.ok("claim")?;
            report(&format!("claimed job {job}"), &r);
        }
        Verb::Submit { job, model_dir, input, srs } => {
            let wd = Workdir(model_dir.clone());
            let s = wd.load_settings()?;
            let model = model_of(&m, &wd)?;
            let provider = key_for(a, 2)?;
            let sub = match crate::sharding::load(&wd, &s)? {
                None => {
                    let params = pipeline::load_params(srs.srs.as_deref(), s.k)?;
                    flow::prove_for_job(chain, &m, &model, &wd, &s, &params, *job, provider.address(), &read_inputs(input)?)?
                }
                Some(sh) => {
                    let agg_dir = wd.0.join("aggregate");
                    let k = zkinfer_prover::aggregate::read_layout(&agg_dir).map(|l| l.k).unwrap_or(crate::sharding::AGGREGATION_K);
                    flow::prove_sharded_for_job(chain, &m, &model, &s, &sh, srs.srs.as_deref(), &agg_dir, k, *job, provider.address(), &read_inputs(input)?)?
                }
            };
            say!("proved job {job} ({:.2} s); outputs {:?}", sub.file.prove_seconds, sub.file.outputs.iter().map(|o| &o.values).collect::<Vec<_>>());
            let r = m.submit(chain, &provider, *job, &sub.inputs, &sub.outputs, &sub.params, &sub.proof)?.ok("submit")?;
            report(&format!("submitted: proof verified on chain, job {job} paid; {} credited to the provider", fmt_eth(m.withdrawable(chain, provider.address())?)), &r);
        }
        Verb::SubmitBatch { model_dir, jobs, inputs, srs } => {
            if inputs.len() != jobs.len() {
                anyhow::bail!("{} jobs but {} --input files: give one input per job, in the order of --jobs", jobs.len(), inputs.len());
            }
            let wd = Workdir(model_dir.clone());
            let s = wd.load_settings()?;
            let model = model_of(&m, &wd)?;
            let n = jobs.len();
            let plan = crate::batch::read_plan(&wd, n)?;
            let provider = key_for(a, 2)?;
            let data = inputs.iter().map(|p| read_inputs(p)).collect::<Result<Vec<_>>>()?;
            let keys = crate::batch::batch_keys(&wd, &s, srs.srs.as_deref(), n, plan, &|step| say!("{step}"))?;
            let sub = flow::prove_batch_for_jobs(chain, &m, &model, &wd, &s, srs.srs.as_deref(), &keys, jobs, provider.address(), &data)?;
            let r = m.submit_batch(chain, &provider, &sub.jobs, &sub.inputs, &sub.outputs, &sub.params, &sub.proof)?.ok("submitBatch")?;
            report(&format!("submitted a batch of {n}: one aggregated proof verified on chain, jobs {jobs:?} paid ({} gas per job); {} credited to the provider", r.gas_used / n as u64, fmt_eth(m.withdrawable(chain, provider.address())?)), &r);
        }
        Verb::Expire { job } => {
            let r = m.expire(chain, &key_for(a, 1)?, *job)?.ok("expire")?;
            report(&format!("expired job {job}"), &r);
        }
        Verb::Withdraw => {
            let who = key_for(a, 2)?;
            let amount = m.withdrawable(chain, who.address())?;
            let r = m.withdraw_funds(chain, &who)?.ok("withdrawFunds")?;
            report(&format!("withdrew {} to {}", fmt_eth(amount), who.address()), &r);
        }
        Verb::Status { job } => status(chain, &m, *job)?,
        Verb::AdvanceTime { secs } => {
            chain.advance_time(*secs)?;
            say!("chain time is now {}", chain.timestamp()?);
        }
    }
    Ok(())
}

fn status(chain: &mut dyn Chain, m: &Market, job: Option<u64>) -> Result<()> {
    say!("{}: registry {}, market {}, time {}", chain.describe(), m.registry, m.market, chain.timestamp()?);
    say!("fee {} bps, slash {} bps, min stake {}", m.params.fee_bps, m.params.slash_bps, fmt_eth(m.params.min_stake));
    for x in &m.models {
        say!("model {}: verifier {}, identity {}", x.id, x.verifier, x.vk_hash);
    }
    let jobs: Vec<u64> = match job {
        Some(j) => vec![j],
        None => (1..=m.job_count(chain)?).collect(),
    };
    for j in jobs {
        let x = m.job(chain, j)?;
        let who = if x.provider == Address::ZERO { String::new() } else { format!(", provider {}", x.provider) };
        say!("job {j}: {}, model {}, {} (stake {}), deadline {}{who}", state_name(x.state()), x.modelId, fmt_eth(x.amount), fmt_eth(U256::from(x.stake)), x.deadline);
    }
    for (name, i) in [("operator", 0), ("requester", 1), ("provider", 2)] {
        let a = dev_signer(i)?.address();
        let (total, locked) = m.stake_of(chain, a)?;
        say!("{name} {a}: balance {}, credited {}, stake {} ({} locked)", fmt_eth(chain.balance(a)?), fmt_eth(m.withdrawable(chain, a)?), fmt_eth(total), fmt_eth(locked));
    }
    Ok(())
}

/// The whole flow on a fresh chain (in memory, or the --rpc node) with a gas table.
fn demo(a: &Args, model: &Path) -> Result<()> {
    let mut chain: Box<dyn Chain> = match &a.rpc {
        Some(url) => Box::new(RpcChain::connect(url)?),
        None => Box::new(LocalChain::new()?),
    };
    let chain = chain.as_mut();
    let wd = Workdir(a.dir.join("demo-model"));
    let s = pipeline::compile(&model.join("model.onnx"), ImportOptions::default(), None, pipeline::Objective::default())?;
    wd.write_settings(&s)?;
    let params = pipeline::load_params(None, s.k)?;
    pipeline::setup(&wd, &s, &params)?;
    say!("model {} compiled and set up (k = {}, UNSAFE dev SRS: demo only)", model.display(), s.k);
    let rep = flow::settle(chain, &wd, &s, &params, &read_inputs(&model.join("input.json"))?, None)?;
    say!("{}", rep.table());
    Ok(())
}
