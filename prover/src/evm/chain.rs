//! An in-process EVM (revm, Osaka rules, EIP-170 code-size limit on) to deploy the verifier
//! contract and call it, reporting gas. A reverted call is an outcome (`success: false`), not
//! an error.

use halo2_proofs::halo2curves::bn256::Fr;
use revm::context::result::{EVMError, ExecutionResult, HaltReason, Output};
use revm::context::TxEnv;
use revm::database::InMemoryDB;
use revm::handler::{MainnetContext, MainnetEvm};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{eip170, eip7825, Address, Bytes, TxKind};
use revm::{Context, DatabaseRef, ExecuteCommitEvm, MainBuilder, MainContext};

use crate::error::{ProverError, Result};

/// EIP-170: the most bytes of runtime code a contract may have on Ethereum mainnet.
pub const EIP170_LIMIT: usize = eip170::MAX_CODE_SIZE;

/// Gas limit of every transaction: the Osaka per-transaction cap (EIP-7825).
const TX_GAS: u64 = eip7825::TX_GAS_LIMIT_CAP;

/// Sender of all transactions.
const CALLER: Address = Address::repeat_byte(0x5a);

/// The result of calling the verifier on one proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvmOutcome {
    /// The call returned without reverting: the proof verified on chain.
    pub success: bool,
    /// Gas used by the call transaction (21,000 base + calldata + execution, or EIP-7623's
    /// calldata floor where that is more).
    pub gas_used: u64,
    /// The call's execution gas alone: without the 21,000 base, the calldata (EIP-2028: 16
    /// gas a nonzero byte, 4 a zero one) and the floor.
    pub execution_gas: u64,
    /// Runtime code size of the deployed verifier, in bytes (of its largest contract when it is
    /// split: what EIP-170 limits).
    pub deployed_size: usize,
    /// Contracts the verifier is made of (1 unless it was split, see [`super::split`]).
    pub contracts: usize,
    /// Gas used by the deployment transaction.
    pub deploy_gas: u64,
    /// How the call ended, for humans ("returned", "reverted", "halted: ...").
    pub detail: String,
}

/// A deployed verifier in a fresh in-memory chain.
pub struct EvmVerifier {
    evm: MainnetEvm<MainnetContext<InMemoryDB>>,
    address: Address,
    nonce: u64,
    deployed_size: usize,
    deploy_gas: u64,
    contracts: usize,
}

impl EvmVerifier {
    /// Deploys `deployment_bytecode` (creation code) with the EIP-170 limit on.
    pub fn deploy(deployment_bytecode: &[u8]) -> Result<Self> {
        Self::deploy_with(deployment_bytecode, true)
    }

    /// Deploys `deployment_bytecode`; `enforce_eip170 = false` lifts the code-size limit, for
    /// measuring verifiers too large for mainnet.
    pub fn deploy_with(deployment_bytecode: &[u8], enforce_eip170: bool) -> Result<Self> {
        let ctx = Context::mainnet().with_db(InMemoryDB::default()).modify_cfg_chained(|cfg| {
            cfg.set_spec_and_mainnet_gas_params(SpecId::OSAKA);
            if !enforce_eip170 {
                cfg.limit_contract_code_size = Some(usize::MAX / 4);
            }
        });
        let mut me = EvmVerifier { evm: ctx.build_mainnet(), address: Address::ZERO, nonce: 0, deployed_size: 0, deploy_gas: 0, contracts: 1 };
        let res = me.transact(TxKind::Create, deployment_bytecode.to_vec())?;
        match res {
            ExecutionResult::Success { output: Output::Create(_, Some(address)), gas, .. } => {
                me.address = address;
                me.deploy_gas = gas.tx_gas_used();
            }
            ExecutionResult::Halt { reason: HaltReason::CreateContractSizeLimit, .. } if enforce_eip170 => {
                // Measure the size by deploying again without the limit.
                let size = Self::deploy_with(deployment_bytecode, false)?.deployed_size;
                return Err(ProverError::ContractTooLarge { size, limit: EIP170_LIMIT });
            }
            other => return Err(ProverError::Evm(format!("verifier deployment failed: {}", describe(&other)))),
        }
        let code = me
            .evm
            .ctx
            .journaled_state
            .database
            .basic_ref(me.address)
            .map_err(|e| ProverError::Evm(format!("cannot read deployed code: {e}")))?
            .and_then(|info| info.code)
            .map(|c| c.original_byte_slice().len())
            .unwrap_or(0);
        if code == 0 {
            return Err(ProverError::Evm("verifier deployment left no code at the contract address (constructor returned nothing)".into()));
        }
        me.deployed_size = code;
        Ok(me)
    }

    /// Deploys a compiled verifier: its head, then each part through the head's installer.
    /// `deploy_gas` and the size then cover every contract (the size is the largest's).
    pub fn deploy_code(code: &super::VerifierCode) -> Result<Self> {
        let parts: Vec<&[u8]> = code.parts.iter().map(|p| p.bytecode.as_slice()).collect();
        let mut me = Self::deploy_parts(&code.head.bytecode, &parts)?;
        me.deployed_size = code.largest_runtime();
        Ok(me)
    }

    /// Deploys a verifier from creation codes: `head`, then each of `parts` through the head's
    /// installer (none for a verifier in one contract).
    pub fn deploy_parts(head: &[u8], parts: &[&[u8]]) -> Result<Self> {
        let mut me = Self::deploy(head)?;
        for (i, part) in parts.iter().enumerate() {
            let o = me.call(super::install_calldata(part))?;
            if !o.success {
                return Err(ProverError::Evm(format!("installing part {} of the verifier failed: {}", i + 1, o.detail)));
            }
            me.deploy_gas += o.gas_used;
        }
        me.contracts = 1 + parts.len();
        Ok(me)
    }

    /// Address of the deployed verifier.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Runtime code size of the deployed verifier.
    pub fn deployed_size(&self) -> usize {
        self.deployed_size
    }

    /// Calls the verifier with `instances` and `proof`.
    pub fn verify(&mut self, instances: &[Fr], proof: &[u8]) -> Result<EvmOutcome> {
        self.call(super::calldata(instances, proof))
    }

    /// Calls the verifier with raw calldata.
    pub fn call(&mut self, calldata: Vec<u8>) -> Result<EvmOutcome> {
        let intrinsic = 21_000 + calldata.iter().map(|&b| if b == 0 { 4u64 } else { 16 }).sum::<u64>();
        let res = self.transact(TxKind::Call(self.address), calldata)?;
        let (gas_used, spent) = match &res {
            ExecutionResult::Success { gas, .. } | ExecutionResult::Revert { gas, .. } | ExecutionResult::Halt { gas, .. } => (gas.tx_gas_used(), gas.spent_sub_refunded()),
        };
        let execution_gas = spent.saturating_sub(intrinsic);
        Ok(EvmOutcome { success: res.is_success(), gas_used, execution_gas, deployed_size: self.deployed_size, contracts: self.contracts, deploy_gas: self.deploy_gas, detail: describe(&res) })
    }

    fn transact(&mut self, kind: TxKind, data: Vec<u8>) -> Result<ExecutionResult> {
        let tx = TxEnv::builder()
            .caller(CALLER)
            .kind(kind)
            .data(Bytes::from(data))
            .gas_limit(TX_GAS)
            .gas_price(0)
            .nonce(self.nonce)
            .build()
            .map_err(|e| ProverError::Evm(format!("cannot build transaction: {e:?}")))?;
        let res = self.evm.transact_commit(tx).map_err(|e| match e {
            EVMError::Transaction(t) => ProverError::Evm(format!("transaction rejected: {t}")),
            other => ProverError::Evm(format!("EVM failure: {other}")),
        })?;
        // Every executed transaction, reverted or not, bumps the sender's nonce.
        self.nonce += 1;
        Ok(res)
    }
}

fn describe(res: &ExecutionResult) -> String {
    match res {
        ExecutionResult::Success { .. } => "returned".into(),
        ExecutionResult::Revert { output, .. } => format!("reverted (output 0x{})", hex::encode(output)),
        ExecutionResult::Halt { reason, .. } => format!("halted: {reason:?}"),
    }
}

/// Deploys `deployment_bytecode` in a fresh in-memory chain and calls it once with `instances`
/// and `proof`.
pub fn evm_verify(deployment_bytecode: &[u8], instances: &[Fr], proof: &[u8]) -> Result<EvmOutcome> {
    EvmVerifier::deploy(deployment_bytecode)?.verify(instances, proof)
}

/// [`evm_verify`] for a verifier that may be split: deploys every contract, then calls it once.
pub fn evm_verify_code(code: &super::VerifierCode, instances: &[Fr], proof: &[u8]) -> Result<EvmOutcome> {
    EvmVerifier::deploy_code(code)?.verify(instances, proof)
}

/// [`evm_verify`] from creation codes: the head and its parts (see [`EvmVerifier::deploy_parts`]).
pub fn evm_verify_parts(head: &[u8], parts: &[&[u8]], instances: &[Fr], proof: &[u8]) -> Result<EvmOutcome> {
    EvmVerifier::deploy_parts(head, parts)?.verify(instances, proof)
}
