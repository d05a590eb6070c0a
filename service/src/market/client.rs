//! Typed calls to the deployed ModelRegistry and InferenceMarket on any [`Chain`].
//!
//! Every state-changing call returns the [`Receipt`]; a revert is `success == false` with the
//! revert data (see [`Receipt::reason`]), so tests can assert on it. [`Receipt::ok`] turns a
//! revert into an error naming the call and the decoded reason.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, SolEvent, SolValue};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::abi::{describe_revert, InferenceMarket as M, ModelRegistry as R};
use super::chain::{Chain, Receipt};

impl Receipt {
    /// Why the transaction failed, decoded ("" when it succeeded).
    pub fn reason(&self) -> String {
        if self.success { String::new() } else { describe_revert(&self.output) }
    }

    /// The receipt of a successful transaction, or an error naming `what` and the reason.
    pub fn ok(self, what: &str) -> Result<Receipt> {
        if !self.success {
            bail!("{what} reverted: {}", self.reason());
        }
        Ok(self)
    }
}

/// Market constructor parameters.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MarketParams {
    /// Protocol fee in basis points of each payment (at most 500).
    pub fee_bps: u64,
    /// Share of a claimer's locked stake slashed to the requester on expiry, in basis points.
    pub slash_bps: u64,
    /// Seconds between a stake withdrawal request and the withdrawal.
    pub unbonding_delay: u64,
    /// Least stake a claim locks, in wei.
    pub min_stake: U256,
    pub fee_recipient: Address,
}

impl MarketParams {
    /// 1% fee, 50% slash, one-day unbonding, 0.01 ETH minimum stake.
    pub fn defaults(fee_recipient: Address) -> Self {
        MarketParams { fee_bps: 100, slash_bps: 5_000, unbonding_delay: 86_400, min_stake: U256::from(10u64).pow(U256::from(16)), fee_recipient }
    }
}

/// A model registered on the market's registry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegisteredModel {
    pub id: u64,
    pub verifier: Address,
    /// The model identity (`zkinfer_prover::identity`; the registry's `vkHash`).
    pub vk_hash: B256,
    pub n_inputs: u32,
    pub n_outputs: u32,
    /// Public instances of the witness weights (0 for fixed weights) and their keccak256.
    #[serde(default)]
    pub n_params: u32,
    #[serde(default)]
    pub params_hash: B256,
}

/// Addresses of a deployed registry and market.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Market {
    pub chain_id: u64,
    pub registry: Address,
    pub market: Address,
    pub params: MarketParams,
    /// Models registered through this deployment file (`zkinfer market register`).
    #[serde(default)]
    pub models: Vec<RegisteredModel>,
    /// Block of the market's deployment: where event scans start.
    #[serde(default)]
    pub deploy_block: u64,
}

/// Creation bytecode of the two contracts.
pub struct MarketCode {
    pub registry: Vec<u8>,
    pub market: Vec<u8>,
}

/// Compiles `verifier-contract/src/{ModelRegistry,InferenceMarket}.sol` with the pinned
/// solcjs, with the settings the forge tests use (optimizer 200 runs, evm paris).
pub fn compile_market() -> Result<MarketCode> {
    let dir = zkinfer_prover::evm::contracts_dir()?;
    zkinfer_prover::evm::install_solc(&dir)?;
    let files = [PathBuf::from("src/ModelRegistry.sol"), PathBuf::from("src/InferenceMarket.sol")];
    let out = zkinfer_prover::evm::compile_files(&dir, &files, Some(200))?;
    let get = |name: &str| -> Result<Vec<u8>> {
        out.iter().find(|c| c.name == name).map(|c| c.bytecode.clone()).with_context(|| format!("{name} missing from the compiler output"))
    };
    Ok(MarketCode { registry: get("ModelRegistry")?, market: get("InferenceMarket")? })
}

fn deploy(chain: &mut dyn Chain, from: &PrivateKeySigner, code: Vec<u8>, what: &str) -> Result<(Address, Receipt)> {
    let r = chain.send(from, None, code.into(), U256::ZERO)?.ok(&format!("deploying {what}"))?;
    let a = r.contract.with_context(|| format!("deploying {what} created no contract"))?;
    Ok((a, r))
}

/// Compiles `verifier-contract/src/AggregatedVerifierAdapter.sol` (pinned solcjs, the market's
/// settings): its creation bytecode (constructor arguments not appended), runtime code and
/// the runtime's immutable ranges.
pub fn compile_adapter() -> Result<zkinfer_prover::evm::CompiledVerifier> {
    let dir = zkinfer_prover::evm::contracts_dir()?;
    zkinfer_prover::evm::install_solc(&dir)?;
    let out = zkinfer_prover::evm::compile_files(&dir, &[PathBuf::from("src/AggregatedVerifierAdapter.sol")], Some(200))?;
    out.into_iter().find(|c| c.name == "AggregatedVerifierAdapter").context("AggregatedVerifierAdapter missing from the compiler output")
}

/// Checks that `adapter` (a registry entry's verifier, whose code the registry pinned as
/// `registered_code_hash`) is an `AggregatedVerifierAdapter` in front of a verifier whose
/// runtime code hashes to `verifier_code_hash`, for `n_instances` model instances. Its code
/// must be the compiled adapter's up to the immutables (so its getters tell the truth), and
/// those immutables the expected ones; the adapter itself refuses a verifier whose code
/// changed since.
pub fn check_adapter(chain: &dyn Chain, compiled: &zkinfer_prover::evm::CompiledVerifier, adapter: Address, registered_code_hash: B256, verifier_code_hash: B256, n_instances: usize) -> Result<()> {
    use super::abi::AggregatedVerifierAdapter as A;
    let code = chain.code(adapter)?;
    if alloy_primitives::keccak256(&code) != registered_code_hash {
        bail!("the code at {adapter} is not the code the registry pinned");
    }
    if !compiled.is_runtime_of(&code) {
        bail!("{adapter} is not an AggregatedVerifierAdapter compiled from verifier-contract/src/AggregatedVerifierAdapter.sol");
    }
    let view = |data: Vec<u8>| -> Result<Bytes> {
        match chain.call(adapter, data.into())? {
            Ok(ret) => Ok(ret),
            Err(revert) => bail!("a getter of the adapter at {adapter} reverted: {}", describe_revert(&revert)),
        }
    };
    let pinned = decode::<A::verifierCodeHashCall>(view(A::verifierCodeHashCall {}.abi_encode())?)?;
    if pinned != verifier_code_hash {
        bail!("the adapter at {adapter} pins a verifier with code hash {pinned}, not this model's aggregation verifier ({verifier_code_hash})");
    }
    let n = decode::<A::nInstancesCall>(view(A::nInstancesCall {}.abi_encode())?)?;
    if n != U256::from(n_instances) {
        bail!("the adapter at {adapter} expects {n} model instances, the model has {n_instances}");
    }
    Ok(())
}

/// Deploys an `AggregatedVerifierAdapter` in front of the aggregation verifier `verifier` for a
/// model with `n_instances` public instances (binding, inputs, outputs, params); returns its
/// address: what the registry should name as the model's verifier.
pub fn deploy_adapter(chain: &mut dyn Chain, from: &PrivateKeySigner, adapter_code: &[u8], verifier: Address, n_instances: usize) -> Result<(Address, Receipt)> {
    let mut code = adapter_code.to_vec();
    code.extend_from_slice(&(verifier, U256::from(n_instances)).abi_encode_params());
    deploy(chain, from, code, "the aggregated-verifier adapter")
}

/// Deploys a snark-verifier contract (creation bytecode) and returns its address. A verifier
/// split into contracts (`parts`: their creation codes, see `zkinfer_prover::evm::split`) is
/// its head, deployed from `bytecode`, then each part installed through the head; the receipt
/// is the head's with every installation's gas added.
pub fn deploy_verifier(chain: &mut dyn Chain, from: &PrivateKeySigner, bytecode: &[u8], parts: &[Vec<u8>]) -> Result<(Address, Receipt)> {
    let (head, mut receipt) = deploy(chain, from, bytecode.to_vec(), "the verifier")?;
    for (i, part) in parts.iter().enumerate() {
        let r = chain.send(from, Some(head), zkinfer_prover::evm::install_calldata(part).into(), U256::ZERO)?.ok(&format!("installing part {} of the verifier", i + 1))?;
        receipt.gas_used += r.gas_used;
    }
    Ok((head, receipt))
}

fn decode<C: SolCall>(ret: Bytes) -> Result<C::Return> {
    C::abi_decode_returns(&ret).map_err(|e| anyhow::anyhow!("cannot decode the return value of {}: {e}", C::SIGNATURE))
}

impl Market {
    /// Deploys a registry and a market using it.
    pub fn deploy(chain: &mut dyn Chain, from: &PrivateKeySigner, code: &MarketCode, params: MarketParams) -> Result<(Market, Vec<Receipt>)> {
        let (registry, r1) = deploy(chain, from, code.registry.clone(), "ModelRegistry")?;
        let args = (registry, params.fee_recipient, U256::from(params.fee_bps), U256::from(params.slash_bps), U256::from(params.unbonding_delay), params.min_stake).abi_encode_params();
        let (market, r2) = deploy(chain, from, [code.market.clone(), args].concat(), "InferenceMarket")?;
        let deploy_block = r2.block;
        Ok((Market { chain_id: chain.chain_id()?, registry, market, params, models: Vec::new(), deploy_block }, vec![r1, r2]))
    }

    /// Reads a deployment file (`zkinfer market deploy` writes it).
    pub fn load(path: &Path) -> Result<Market> {
        crate::files::read_json(path).with_context(|| format!("run `zkinfer market deploy` first ({} is missing or corrupt)", path.display()))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        crate::files::write_json(path, self)
    }

    /// Checks that `chain` is the chain this market was deployed on and the contracts are there.
    pub fn check_chain(&self, chain: &dyn Chain) -> Result<()> {
        let id = chain.chain_id()?;
        if id != self.chain_id {
            bail!("the market was deployed on chain {}, but {} is chain {id}", self.chain_id, chain.describe());
        }
        for (what, a) in [("ModelRegistry", self.registry), ("InferenceMarket", self.market)] {
            if chain.code(a)?.is_empty() {
                bail!("no {what} contract at {a} on {} (a different or reset chain?)", chain.describe());
            }
        }
        Ok(())
    }

    fn view<C: SolCall>(&self, chain: &dyn Chain, to: Address, call: C) -> Result<C::Return> {
        match chain.call(to, call.abi_encode().into())? {
            Ok(ret) => decode::<C>(ret),
            Err(revert) => bail!("{} reverted: {}", C::SIGNATURE, describe_revert(&revert)),
        }
    }

    fn send<C: SolCall>(&self, chain: &mut dyn Chain, from: &PrivateKeySigner, to: Address, call: C, value: U256) -> Result<Receipt> {
        chain.send(from, Some(to), call.abi_encode().into(), value)
    }

    /// Registers a model; returns its id (from the ModelRegistered event).
    /// `params_hash`: keccak256 of the weight instances (of none: `keccak256("")`).
    #[allow(clippy::too_many_arguments)]
    pub fn register(&self, chain: &mut dyn Chain, owner: &PrivateKeySigner, verifier: Address, vk_hash: B256, n_inputs: u32, n_outputs: u32, n_params: u32, params_hash: B256) -> Result<(RegisteredModel, Receipt)> {
        let call = R::registerCall { verifier, vkHash: vk_hash, nInputs: n_inputs, nOutputs: n_outputs, nParams: n_params, paramsHash: params_hash };
        let r = self.send(chain, owner, self.registry, call, U256::ZERO)?.ok("register")?;
        let ev = r.logs.iter().find_map(|l| (l.address == self.registry).then(|| R::ModelRegistered::decode_log(l).ok()).flatten()).context("register emitted no ModelRegistered event")?;
        let id: u64 = ev.data.modelId.try_into().context("model id does not fit u64")?;
        Ok((RegisteredModel { id, verifier, vk_hash, n_inputs, n_outputs, n_params, params_hash }, r))
    }

    pub fn model(&self, chain: &dyn Chain, id: u64) -> Result<R::Model> {
        self.view(chain, self.registry, R::getModelCall { modelId: U256::from(id) })
    }

    /// Adds `amount` wei to the sender's stake.
    pub fn deposit(&self, chain: &mut dyn Chain, provider: &PrivateKeySigner, amount: U256) -> Result<Receipt> {
        self.send(chain, provider, self.market, M::depositCall {}, amount)
    }

    /// Posts a job paid in ETH; on success returns the job id (from the JobPosted event).
    pub fn post_job(&self, chain: &mut dyn Chain, requester: &PrivateKeySigner, model: u64, inputs: &[U256], deadline: u64, pay: U256, stake: U256) -> Result<(Option<u64>, Receipt)> {
        let call = M::postJobCall { modelId: U256::from(model), inputInstances: inputs.to_vec(), deadline, token: Address::ZERO, amount: pay, stakeRequired: stake };
        let r = self.send(chain, requester, self.market, call, pay)?;
        let id = r.logs.iter().find_map(|l| (l.address == self.market).then(|| M::JobPosted::decode_log(l).ok()).flatten()).map(|e| e.data.jobId.saturating_to());
        if r.success && id.is_none() {
            bail!("postJob emitted no JobPosted event");
        }
        Ok((id, r))
    }

    pub fn claim(&self, chain: &mut dyn Chain, provider: &PrivateKeySigner, job: u64) -> Result<Receipt> {
        self.send(chain, provider, self.market, M::claimCall { jobId: U256::from(job) }, U256::ZERO)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn submit(&self, chain: &mut dyn Chain, provider: &PrivateKeySigner, job: u64, inputs: &[U256], outputs: &[U256], params: &[U256], proof: &[u8]) -> Result<Receipt> {
        let call = M::submitCall { jobId: U256::from(job), inputInstances: inputs.to_vec(), outputInstances: outputs.to_vec(), paramInstances: params.to_vec(), proof: proof.to_vec().into() };
        self.send(chain, provider, self.market, call, U256::ZERO)
    }

    /// Names `verifier` the model's verifier of batches of `size` jobs (the model's owner only).
    pub fn register_batch_verifier(&self, chain: &mut dyn Chain, owner: &PrivateKeySigner, model: u64, size: usize, verifier: Address) -> Result<Receipt> {
        let call = M::registerBatchVerifierCall { modelId: U256::from(model), size: U256::from(size), verifier };
        self.send(chain, owner, self.market, call, U256::ZERO)
    }

    /// Settles `jobs` (increasing ids, one model, claimed by `provider`) with one aggregated
    /// proof: `proof` is the 12 accumulator words then the aggregation proof.
    #[allow(clippy::too_many_arguments)]
    pub fn submit_batch(&self, chain: &mut dyn Chain, provider: &PrivateKeySigner, jobs: &[u64], inputs: &[Vec<U256>], outputs: &[Vec<U256>], params: &[U256], proof: &[u8]) -> Result<Receipt> {
        let call = M::submitBatchCall {
            jobIds: jobs.iter().map(|&j| U256::from(j)).collect(),
            inputInstances: inputs.to_vec(),
            outputInstances: outputs.to_vec(),
            paramInstances: params.to_vec(),
            proof: proof.to_vec().into(),
        };
        self.send(chain, provider, self.market, call, U256::ZERO)
    }

    /// The model's verifier of batches of `size` jobs (zero address: none) and the first job id
    /// it may settle.
    pub fn batch_verifier(&self, chain: &dyn Chain, model: u64, size: usize) -> Result<(Address, U256)> {
        let b = self.view(chain, self.market, M::batchVerifierCall { modelId: U256::from(model), size: U256::from(size) })?;
        Ok((b.verifier, b.firstJob))
    }

    pub fn expire(&self, chain: &mut dyn Chain, anyone: &PrivateKeySigner, job: u64) -> Result<Receipt> {
        self.send(chain, anyone, self.market, M::expireCall { jobId: U256::from(job) }, U256::ZERO)
    }

    pub fn cancel(&self, chain: &mut dyn Chain, requester: &PrivateKeySigner, job: u64) -> Result<Receipt> {
        self.send(chain, requester, self.market, M::cancelCall { jobId: U256::from(job) }, U256::ZERO)
    }

    /// Sends the sender everything credited to it in ETH.
    pub fn withdraw_funds(&self, chain: &mut dyn Chain, who: &PrivateKeySigner) -> Result<Receipt> {
        self.send(chain, who, self.market, M::withdrawFundsCall { token: Address::ZERO }, U256::ZERO)
    }

    pub fn job(&self, chain: &dyn Chain, job: u64) -> Result<M::Job> {
        self.view(chain, self.market, M::jobCall { jobId: U256::from(job) })
    }

    pub fn job_count(&self, chain: &dyn Chain) -> Result<u64> {
        Ok(self.view(chain, self.market, M::jobCountCall {})?.saturating_to())
    }

    /// The binding a proof for (`job`, `provider`) must carry as public instance 0.
    pub fn binding_of(&self, chain: &dyn Chain, job: u64, provider: Address) -> Result<U256> {
        self.view(chain, self.market, M::bindingOfCall { jobId: U256::from(job), provider })
    }

    /// ETH credited to `who`, waiting for `withdrawFunds`.
    pub fn withdrawable(&self, chain: &dyn Chain, who: Address) -> Result<U256> {
        self.view(chain, self.market, M::withdrawableCall { _0: Address::ZERO, _1: who })
    }

    /// Stake of `who` a claim can lock (not locked, not pending withdrawal).
    pub fn free_stake(&self, chain: &dyn Chain, who: Address) -> Result<U256> {
        self.view(chain, self.market, M::freeStakeOfCall { provider: who })
    }

    /// (total, locked) stake of `who`.
    pub fn stake_of(&self, chain: &dyn Chain, who: Address) -> Result<(U256, U256)> {
        let s = self.view(chain, self.market, M::stakeOfCall { provider: who })?;
        Ok((s.total, s.locked))
    }
}

/// `keccak256(abi.encodePacked(uint256[]))`: the market's commitment to a job's inputs.
pub fn inputs_hash(inputs: &[U256]) -> B256 {
    let packed: Vec<u8> = inputs.iter().flat_map(|w| w.to_be_bytes::<32>()).collect();
    alloy_primitives::keccak256(packed)
}

/// A human-readable job state.
pub fn state_name(s: super::abi::JobState) -> &'static str {
    match s {
        super::abi::JobState::None => "none (no such job)",
        super::abi::JobState::Open => "open",
        super::abi::JobState::Claimed => "claimed",
        super::abi::JobState::Paid => "paid",
        super::abi::JobState::Expired => "expired",
        super::abi::JobState::Cancelled => "cancelled",
        super::abi::JobState::Unknown(_) => "unknown"
    }
}
