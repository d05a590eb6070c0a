//! The steps that join a compiled model to the market: register its verifier, turn an input
//! file into a job's input instances, and prove for a claimed job.

use alloy_primitives::{Address, B256, U256};
use alloy_signer_local::PrivateKeySigner;
use anyhow::{bail, Context, Result};
use halo2_proofs::halo2curves::bn256::Bn256;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use zkinfer_circuits::ir::Graph;
use zkinfer_circuits::public;
use zkinfer_prover::artifacts::ProofFile;

use super::chain::{Chain, Receipt};
use super::chain::{fmt_eth, parse_eth};
use super::client::{compile_market, deploy_verifier, inputs_hash, Market, MarketParams, RegisteredModel};
use super::{fr_to_u256, u256_to_fr};
use crate::files::{Settings, Workdir};
use crate::pipeline;

/// Number of public input, output and weight instances of a model (binding excluded).
pub fn instance_counts(g: &Graph) -> (usize, usize, usize) {
    let c = public::tensor_instance_counts(g);
    let (n_in, n_out) = (g.inputs.len(), g.outputs.len());
    (c[..n_in].iter().sum(), c[n_in..n_in + n_out].iter().sum(), c[n_in + n_out..].iter().sum())
}

/// What the registry pins of a model's weights: the number of weight instances and their
/// keccak256 (`keccak256("")` for fixed weights, which the verifying key commits to). A model
/// with private weights cannot be registered: nothing would say which weights a paid proof
/// used.
pub fn registered_params(s: &Settings) -> Result<(u32, B256)> {
    let (_, _, n_params) = instance_counts(&s.graph);
    if s.graph.params.iter().any(|p| p.visibility == zkinfer_circuits::ir::Visibility::Private) {
        bail!("the model's weights are private witnesses: a proof would not say which weights computed the output, so the market cannot pay for it; compile with --weight-visibility hashed (or fixed)");
    }
    if n_params == 0 {
        return Ok((0, alloy_primitives::keccak256([])));
    }
    let h = s.weights_hash.as_deref().context("the settings record no weights hash (compiled by an older zkinfer?): compile the model again")?;
    let mut b = [0u8; 32];
    hex::decode_to_slice(h.trim_start_matches("0x"), &mut b).with_context(|| format!("settings weights_hash `{h}` is not 32 hex bytes"))?;
    Ok((n_params as u32, B256::from(b)))
}

/// Generates and compiles the model's Solidity verifier, deploys it, and registers the model
/// with the sha256 of its verifying key as commitment. Returns the model and the receipts of
/// the deployment and the registration.
pub fn register_model(chain: &mut dyn Chain, market: &Market, owner: &PrivateKeySigner, wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>) -> Result<(RegisteredModel, [Receipt; 2])> {
    let report = pipeline::evm_verifier(wd, s, params, None)?;
    register_compiled(chain, market, owner, wd, s, &report.bytecode, &report.parts)
}

/// [`register_model`] with the verifier already compiled (`bytecode`: its creation code, of
/// the head when it is split into `parts`, the parts' creation codes). The deployment receipt
/// is the head's; installing the parts adds their gas to it.
pub fn register_compiled(chain: &mut dyn Chain, market: &Market, owner: &PrivateKeySigner, wd: &Workdir, s: &Settings, bytecode: &[u8], parts: &[Vec<u8>]) -> Result<(RegisteredModel, [Receipt; 2])> {
    let id = pipeline::recorded_id(wd, s)?;
    let (n_params, params_hash) = registered_params(s)?;
    let (verifier, r1) = deploy_verifier(chain, owner, bytecode, parts)?;
    let (n_in, n_out, _) = instance_counts(&s.graph);
    let (m, r2) = market.register(chain, owner, verifier, B256::from(id.0), n_in as u32, n_out as u32, n_params, params_hash)?;
    Ok((m, [r1, r2]))
}

/// Registers a sharded model: deploys its aggregation verifier (`agg_bytecode`, creation code)
/// and an `AggregatedVerifierAdapter` in front of it, and registers the adapter under the
/// sharded model's identity. Returns the model and the three receipts.
pub fn register_aggregated(chain: &mut dyn Chain, market: &Market, owner: &PrivateKeySigner, s: &Settings, id: zkinfer_prover::ModelId, agg_bytecode: &[u8], agg_parts: &[Vec<u8>]) -> Result<(RegisteredModel, [Receipt; 3])> {
    let (n_params, params_hash) = registered_params(s)?;
    let (verifier, r1) = deploy_verifier(chain, owner, agg_bytecode, agg_parts)?;
    let (n_in, n_out, _) = instance_counts(&s.graph);
    let (adapter, r2) = super::client::deploy_adapter(chain, owner, &super::client::compile_adapter()?.bytecode, verifier, public::num_instances(&s.graph))?;
    let (m, r3) = market.register(chain, owner, adapter, B256::from(id.0), n_in as u32, n_out as u32, n_params, params_hash)?;
    Ok((m, [r1, r2, r3]))
}

/// The job's input instances for float input data (quantized like `zkinfer prove` does).
pub fn job_inputs(s: &Settings, data: &[Vec<f64>]) -> Result<Vec<U256>> {
    let inputs = pipeline::quantize_inputs(&s.graph, data, false)?;
    let inst = public::input_instances(&s.graph, &inputs).map_err(anyhow::Error::msg)?;
    Ok(inst.iter().map(fr_to_u256).collect())
}

/// What a provider submits for a job.
#[derive(Clone, Debug)]
pub struct Submission {
    pub inputs: Vec<U256>,
    pub outputs: Vec<U256>,
    /// The witness weights' instances (empty for fixed weights).
    pub params: Vec<U256>,
    pub proof: Vec<u8>,
    pub file: ProofFile,
}

impl Submission {
    /// Splits a proof file's instances into the job's inputs and outputs (binding dropped).
    pub fn from_proof(g: &Graph, file: ProofFile) -> Result<Self> {
        let inst: Vec<U256> = file.instances_fr()?.iter().map(fr_to_u256).collect();
        let (n_in, n_out, n_params) = instance_counts(g);
        if inst.len() != 1 + n_in + n_out + n_params {
            bail!("the proof has {} public instances, the model {}", inst.len(), 1 + n_in + n_out + n_params);
        }
        let (o, p) = (1 + n_in, 1 + n_in + n_out);
        Ok(Submission { inputs: inst[1..o].to_vec(), outputs: inst[o..p].to_vec(), params: inst[p..].to_vec(), proof: file.proof_bytes()?, file })
    }

    /// An aggregated proof (`instances`: the accumulator, then the model's; `proof`: the
    /// aggregation proof) as the model's `AggregatedVerifierAdapter` takes it: the model's
    /// instances split as for a direct proof, and `proof = accumulator words ++ proof`.
    /// `decoded`: the model's values, for the record.
    pub fn from_aggregated(g: &Graph, instances: &[halo2_proofs::halo2curves::bn256::Fr], proof: &[u8], decoded: ProofFile) -> Result<Self> {
        let acc = zkinfer_prover::aggregate::ACCUMULATOR_LIMBS;
        let inst: Vec<U256> = instances.iter().map(fr_to_u256).collect();
        let (n_in, n_out, n_params) = instance_counts(g);
        if inst.len() != acc + 1 + n_in + n_out + n_params {
            bail!("the aggregated proof has {} public instances, the model's aggregation {}", inst.len(), acc + 1 + n_in + n_out + n_params);
        }
        let (o, p) = (acc + 1 + n_in, acc + 1 + n_in + n_out);
        let mut words: Vec<u8> = inst[..acc].iter().flat_map(|w| w.to_be_bytes::<32>()).collect();
        words.extend_from_slice(proof);
        Ok(Submission { inputs: inst[acc + 1..o].to_vec(), outputs: inst[o..p].to_vec(), params: inst[p..].to_vec(), proof: words, file: decoded })
    }
}

/// The binding to prove `job` with, after checking that it is for `model`, claimed by
/// `provider`, and posted with the input `data` (`named`: the model, for the error).
#[allow(clippy::too_many_arguments)]
fn job_binding(chain: &dyn Chain, market: &Market, model: &RegisteredModel, named: &str, s: &Settings, job: u64, provider: Address, data: &[Vec<f64>]) -> Result<halo2_proofs::halo2curves::bn256::Fr> {
    let j = market.job(chain, job)?;
    if j.modelId != model.id {
        bail!("job {job} is for model {}, not {named}", j.modelId);
    }
    if j.provider != provider {
        bail!("job {job} is claimed by {}, not by {provider}", j.provider);
    }
    let inputs = job_inputs(s, data)?;
    if inputs_hash(&inputs) != j.inputsHash {
        bail!("the input given is not the input job {job} was posted with");
    }
    u256_to_fr(market.binding_of(chain, job, provider)?)
}

/// Proves the model on `data` for `job` as claimed by `provider`: checks the job is claimed by
/// this provider for this model and input, then proves with the job's binding.
pub fn prove_for_job(chain: &dyn Chain, market: &Market, model: &RegisteredModel, wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>, job: u64, provider: Address, data: &[Vec<f64>]) -> Result<Submission> {
    let binding = job_binding(chain, market, model, &format!("model {} ({})", model.id, wd.0.display()), s, job, provider, data)?;
    let file = pipeline::prove(wd, s, params, data, false, binding)?;
    Submission::from_proof(&s.graph, file)
}

/// [`prove_for_job`] for a sharded model: every shard proved for the job's binding and the
/// proofs aggregated (keys in `agg_dir`, made when missing, at 2^`k` rows); the submission's
/// proof is the 12 accumulator words then the aggregation proof, as the model's
/// `AggregatedVerifierAdapter` expects.
#[allow(clippy::too_many_arguments)]
pub fn prove_sharded_for_job(chain: &dyn Chain, market: &Market, model: &RegisteredModel, s: &Settings, sh: &crate::sharding::Sharded, srs: Option<&std::path::Path>, agg_dir: &std::path::Path, k: u32, job: u64, provider: Address, data: &[Vec<f64>]) -> Result<Submission> {
    let binding = job_binding(chain, market, model, &format!("model {}", model.id), s, job, provider, data)?;
    let tensors = pipeline::quantize_inputs(&s.graph, data, false)?;
    let agg = crate::sharding::prove_aggregated(s, sh, srs, agg_dir, k, &tensors, binding, &|_| {})?;
    Submission::from_aggregated(&s.graph, &agg.instances, &agg.proof, agg.decoded)
}

/// Makes (or reads, `DIR/batch-<n>/`) the keys of batches of `n` jobs of the registered
/// single-circuit `model`, compiles their verifier (split into contracts when over EIP-170),
/// deploys it and names it the model's batch verifier for `n` (the model's owner only).
/// Returns the verifier's address, the receipts (deployment with the parts' installation, then
/// the registration) and the keys.
#[allow(clippy::too_many_arguments)]
pub fn register_batch(chain: &mut dyn Chain, market: &Market, owner: &PrivateKeySigner, wd: &Workdir, s: &Settings, srs: Option<&std::path::Path>, model: &RegisteredModel, n: usize, plan: crate::batch::BatchPlan) -> Result<(Address, [Receipt; 2], crate::batch::BatchKeys)> {
    let keys = crate::batch::batch_keys(wd, s, srs, n, plan, &|_| {})?;
    let dir = crate::batch::batch_dir(wd, n);
    let compiled = pipeline::aggregation_verifier(&dir, keys.params(), keys.vk(), keys.layout().num_instances())?;
    let (verifier, r1) = deploy_verifier(chain, owner, &compiled.bytecode, &compiled.parts)?;
    let r2 = market.register_batch_verifier(chain, owner, model.id, n, verifier)?.ok("registerBatchVerifier")?;
    Ok((verifier, [r1, r2], keys))
}

/// What `submitBatch` takes: per job its inputs and outputs, the weights' instances (the same
/// for every job), and the 12 accumulator words followed by the aggregation proof.
#[derive(Clone, Debug)]
pub struct BatchSubmission {
    pub jobs: Vec<u64>,
    pub inputs: Vec<Vec<U256>>,
    pub outputs: Vec<Vec<U256>>,
    pub params: Vec<U256>,
    pub proof: Vec<u8>,
}

impl BatchSubmission {
    /// Splits a batch proof's instances (accumulator, then each job's) into the calldata of
    /// `submitBatch`; every job must carry the same weight instances.
    pub fn new(g: &Graph, jobs: &[u64], instances: &[halo2_proofs::halo2curves::bn256::Fr], proof: &[u8]) -> Result<Self> {
        let acc = zkinfer_prover::aggregate::ACCUMULATOR_LIMBS;
        let (n_in, n_out, n_params) = instance_counts(g);
        let per = 1 + n_in + n_out + n_params;
        if instances.len() != acc + per * jobs.len() {
            bail!("the batch proof has {} public instances, {} jobs of this model need {}", instances.len(), jobs.len(), acc + per * jobs.len());
        }
        let inst: Vec<U256> = instances.iter().map(fr_to_u256).collect();
        let mut words: Vec<u8> = inst[..acc].iter().flat_map(|w| w.to_be_bytes::<32>()).collect();
        words.extend_from_slice(proof);
        let job = |j: usize| &inst[acc + j * per..acc + (j + 1) * per];
        let params = job(0)[1 + n_in + n_out..].to_vec();
        if (1..jobs.len()).any(|j| job(j)[1 + n_in + n_out..] != params[..]) {
            bail!("the jobs of a batch were proved with different weights");
        }
        Ok(BatchSubmission {
            jobs: jobs.to_vec(),
            inputs: (0..jobs.len()).map(|j| job(j)[1..1 + n_in].to_vec()).collect(),
            outputs: (0..jobs.len()).map(|j| job(j)[1 + n_in..1 + n_in + n_out].to_vec()).collect(),
            params,
            proof: words,
        })
    }
}

/// The batch jobs for `jobs` (each claimed by `provider` for `model`, posted with `data[i]`):
/// their quantized inputs and bindings, checked as [`prove_for_job`] checks a job.
#[allow(clippy::too_many_arguments)]
pub fn batch_jobs(chain: &dyn Chain, market: &Market, model: &RegisteredModel, wd: &Workdir, s: &Settings, jobs: &[u64], provider: Address, data: &[Vec<Vec<f64>>]) -> Result<Vec<crate::batch::BatchJob>> {
    if jobs.len() != data.len() {
        bail!("{} jobs and {} inputs", jobs.len(), data.len());
    }
    jobs.iter()
        .zip(data)
        .map(|(&job, d)| {
            let binding = job_binding(chain, market, model, &format!("model {} ({})", model.id, wd.0.display()), s, job, provider, d)?;
            Ok(crate::batch::BatchJob { inputs: pipeline::quantize_inputs(&s.graph, d, false)?, binding })
        })
        .collect()
}

/// Proves `jobs` and aggregates their proofs with `keys` (see [`crate::batch`]): the
/// submission for `submitBatch`.
#[allow(clippy::too_many_arguments)]
pub fn prove_batch_for_jobs(chain: &dyn Chain, market: &Market, model: &RegisteredModel, wd: &Workdir, s: &Settings, srs: Option<&std::path::Path>, keys: &crate::batch::BatchKeys, jobs: &[u64], provider: Address, data: &[Vec<Vec<f64>>]) -> Result<BatchSubmission> {
    let batch = batch_jobs(chain, market, model, wd, s, jobs, provider, data)?;
    let p = crate::batch::prove_batch(wd, s, srs, keys, &batch, &|_| {})?;
    BatchSubmission::new(&s.graph, jobs, &p.instances, &p.proof)
}

/// The three parties of the flow.
pub struct Roles {
    /// Deploys the contracts and registers models (and receives the protocol fee).
    pub operator: PrivateKeySigner,
    pub requester: PrivateKeySigner,
    pub provider: PrivateKeySigner,
}

impl Roles {
    /// The development accounts 0, 1, 2 (PUBLIC keys: local chain and anvil only).
    pub fn dev() -> Result<Self> {
        use super::chain::dev_signer;
        Ok(Roles { operator: dev_signer(0)?, requester: dev_signer(1)?, provider: dev_signer(2)? })
    }
}

/// Gas and money of one paid job.
#[derive(Clone, Debug)]
pub struct JobReport {
    pub job: u64,
    pub post_gas: u64,
    pub claim_gas: u64,
    pub submit_gas: u64,
    pub withdraw_gas: u64,
    /// What the provider received (payment minus protocol fee), in wei.
    pub paid: U256,
    /// Provider's ETH balance change over the whole job, gas fees included.
    pub provider_delta: i128,
    pub prove_seconds: f64,
    pub submission: Submission,
}

fn wei_i128(u: U256) -> Result<i128> {
    i128::try_from(u).map_err(|_| anyhow::anyhow!("amount {u} does not fit i128"))
}

/// The happy path for one job: the requester posts `data` paying `pay`, the provider (already
/// staked) claims, proves with the job's binding, submits, and withdraws its payment. Checks
/// the job ends Paid and the provider's balance grew by exactly the payment minus fee and gas.
#[allow(clippy::too_many_arguments)]
pub fn run_paid_job(chain: &mut dyn Chain, market: &Market, model: &RegisteredModel, roles: &Roles, wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>, data: &[Vec<f64>], pay: U256, stake: U256) -> Result<JobReport> {
    let provider = roles.provider.address();
    let before = chain.balance(provider)?;
    let inputs = job_inputs(s, data)?;
    let deadline = chain.timestamp()? + 3600;
    let (job, post) = market.post_job(chain, &roles.requester, model.id, &inputs, deadline, pay, stake)?;
    let post = post.ok("postJob")?;
    let job = job.unwrap_or_default();
    let claim = market.claim(chain, &roles.provider, job)?.ok("claim")?;
    let sub = prove_for_job(chain, market, model, wd, s, params, job, provider, data)?;
    let submit = market.submit(chain, &roles.provider, job, &sub.inputs, &sub.outputs, &sub.params, &sub.proof)?.ok("submit")?;
    let j = market.job(chain, job)?;
    if j.state() != super::abi::JobState::Paid {
        bail!("job {job} is {} after a successful submit", super::client::state_name(j.state()));
    }
    let paid = market.withdrawable(chain, provider)?;
    let withdraw = market.withdraw_funds(chain, &roles.provider)?.ok("withdrawFunds")?;
    let after = chain.balance(provider)?;
    let fees = claim.fee + submit.fee + withdraw.fee;
    let delta = wei_i128(after)? - wei_i128(before)?;
    let fee_cut = pay * U256::from(market.params.fee_bps) / U256::from(10_000u64);
    if paid != pay - fee_cut || delta != wei_i128(paid)? - wei_i128(fees)? {
        bail!("provider was credited {paid} and its balance changed by {delta} wei; expected {} and {} (gas {fees})", pay - fee_cut, wei_i128(pay - fee_cut)? - wei_i128(fees)?);
    }
    Ok(JobReport {
        job,
        post_gas: post.gas_used,
        claim_gas: claim.gas_used,
        submit_gas: submit.gas_used,
        withdraw_gas: withdraw.gas_used,
        paid,
        provider_delta: delta,
        prove_seconds: sub.file.prove_seconds,
        submission: sub,
    })
}

/// Gas of every step of a demo settlement.
pub struct Settlement {
    pub chain: String,
    pub rows: Vec<(String, u64)>,
    pub paid: U256,
}

impl Settlement {
    pub fn table(&self) -> String {
        let mut t = format!("gas on {}:\n| step | gas |\n|---|---:|\n", self.chain);
        for (step, gas) in &self.rows {
            t += &format!("| {step} | {gas} |\n");
        }
        t.trim_end().to_string()
    }
}

/// Deploys the market, registers the model (verifier creation code and its parts' when already
/// compiled), stakes, runs one paid job and checks a replayed proof is refused, and one expired job.
pub fn settle(chain: &mut dyn Chain, wd: &Workdir, s: &Settings, params: &ParamsKZG<Bn256>, data: &[Vec<f64>], bytecode: Option<(&[u8], &[Vec<u8>])>) -> Result<Settlement> {
    let roles = Roles::dev()?;
    let (m, rs) = Market::deploy(chain, &roles.operator, &compile_market()?, MarketParams::defaults(roles.operator.address()))?;
    let mut rows = vec![("deploy ModelRegistry".to_string(), rs[0].gas_used), ("deploy InferenceMarket".to_string(), rs[1].gas_used)];
    let compiled;
    let (bytecode, parts) = match bytecode {
        Some(b) => b,
        None => {
            compiled = pipeline::evm_verifier(wd, s, params, None)?;
            (compiled.bytecode.as_slice(), compiled.parts.as_slice())
        }
    };
    let (model, [dv, reg]) = register_compiled(chain, &m, &roles.operator, wd, s, bytecode, parts)?;
    rows.push(("deploy model verifier".into(), dv.gas_used));
    rows.push(("register model".into(), reg.gas_used));
    let stake = m.deposit(chain, &roles.provider, parse_eth("1")?)?.ok("deposit")?;
    rows.push(("provider stakes (deposit)".into(), stake.gas_used));
    let (pay, lock) = (parse_eth("0.05")?, parse_eth("0.2")?);
    let rep = run_paid_job(chain, &m, &model, &roles, wd, s, params, data, pay, lock)?;
    say!("job {}: posted, claimed, proved with the job's binding ({:.2} s), submitted: verified on chain, provider paid {}", rep.job, rep.prove_seconds, fmt_eth(rep.paid));
    rows.push(("postJob (ETH)".into(), rep.post_gas));
    rows.push(("claim".into(), rep.claim_gas));
    rows.push(("submit (verifies the proof)".into(), rep.submit_gas));
    rows.push(("withdrawFunds".into(), rep.withdraw_gas));
    // replay: the paid job's proof for a new job is refused
    let inputs = job_inputs(s, data)?;
    let deadline = chain.timestamp()? + 600;
    let (job2, r) = m.post_job(chain, &roles.requester, model.id, &inputs, deadline, pay, lock)?;
    let job2 = job2.with_context(|| format!("postJob: {}", r.reason()))?;
    m.claim(chain, &roles.provider, job2)?.ok("claim")?;
    let sub = &rep.submission;
    let replay = m.submit(chain, &roles.provider, job2, &sub.inputs, &sub.outputs, &sub.params, &sub.proof)?;
    if replay.success {
        bail!("the market accepted job {}'s proof for job {job2}", rep.job);
    }
    say!("job {job2}: job {}'s proof replayed -> refused ({})", rep.job, replay.reason());
    chain.advance_time(601)?;
    let exp = m.expire(chain, &roles.requester, job2)?.ok("expire")?;
    say!("job {job2}: deadline passed -> expired: requester refunded {} + slashed stake {}", fmt_eth(pay), fmt_eth(lock * U256::from(m.params.slash_bps) / U256::from(10_000u64)));
    rows.push(("expire (refund + slash)".into(), exp.gas_used));
    Ok(Settlement { chain: chain.describe(), rows, paid: rep.paid })
}
