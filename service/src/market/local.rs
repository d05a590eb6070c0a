//! The embedded chain: revm in process (Osaka rules, chain id 31337 like anvil, no gas price),
//! with the development accounts funded at genesis. Its state can be saved to and loaded from
//! a JSON file, so separate `zkinfer market ...` commands share one chain without any node.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, Bytes, Log, B256, U256};
use alloy_signer_local::PrivateKeySigner;
use anyhow::{bail, Context, Result};
use revm::context::result::{EVMError, ExecutionResult, Output};
use revm::context::TxEnv;
use revm::database::{Cache, InMemoryDB};
use revm::handler::{MainnetContext, MainnetEvm};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{eip7825, TxKind};
use revm::state::AccountInfo;
use revm::{Context as EvmContext, DatabaseRef, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext};
use serde::{Deserialize, Serialize};

use super::chain::{dev_signer, Chain, Receipt, DEV_KEYS};

/// Chain id of the local chain (anvil's default).
pub const LOCAL_CHAIN_ID: u64 = 31337;
/// Balance of each development account at genesis.
pub const GENESIS_ETH: u64 = 10_000;
/// Genesis time: 2026-01-01T00:00:00Z.
const GENESIS_TIME: u64 = 1_767_225_600;
const STATE_FORMAT: &str = "zkinfer-local-chain/1";

/// Saved state of the local chain.
#[derive(Serialize, Deserialize)]
struct State {
    format: String,
    chain_id: u64,
    number: u64,
    timestamp: u64,
    cache: Cache,
    /// Every log of every successful transaction, in order.
    #[serde(default)]
    logs: Vec<Log>,
}

/// The in-process chain. Each transaction is mined in its own block, 12 s after the previous.
pub struct LocalChain {
    evm: MainnetEvm<MainnetContext<InMemoryDB>>,
    file: Option<PathBuf>,
    logs: Vec<Log>,
}

impl LocalChain {
    /// A fresh chain with [`DEV_KEYS`] funded with [`GENESIS_ETH`] each.
    pub fn new() -> Result<Self> {
        let mut db = InMemoryDB::default();
        let eth = U256::from(GENESIS_ETH) * U256::from(10u64).pow(U256::from(18));
        for i in 0..DEV_KEYS.len() {
            db.insert_account_info(dev_signer(i)?.address(), AccountInfo { balance: eth, ..Default::default() });
        }
        Ok(Self::with_db(db, 1, GENESIS_TIME))
    }

    fn with_db(db: InMemoryDB, number: u64, timestamp: u64) -> Self {
        let ctx = EvmContext::mainnet()
            .with_db(db)
            .modify_cfg_chained(|cfg| {
                cfg.set_spec_and_mainnet_gas_params(SpecId::OSAKA);
                cfg.chain_id = LOCAL_CHAIN_ID;
            })
            .modify_block_chained(|b| {
                b.number = U256::from(number);
                b.timestamp = U256::from(timestamp);
                b.basefee = 0;
                b.gas_limit = 60_000_000;
            });
        LocalChain { evm: ctx.build_mainnet(), file: None, logs: Vec::new() }
    }

    /// Opens the chain saved in `file`, or starts a fresh one there when it does not exist.
    /// [`Self::save`] writes it back.
    pub fn open(file: &Path) -> Result<Self> {
        let mut me = if file.exists() {
            let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
            let st: State = serde_json::from_str(&text).with_context(|| format!("{} is not a saved zkinfer local chain (corrupt or another version)", file.display()))?;
            if st.format != STATE_FORMAT || st.chain_id != LOCAL_CHAIN_ID {
                bail!("{}: format {} / chain {} is not {STATE_FORMAT} / {LOCAL_CHAIN_ID}", file.display(), st.format, st.chain_id);
            }
            let mut db = InMemoryDB::default();
            db.cache = st.cache;
            let mut me = Self::with_db(db, st.number, st.timestamp);
            me.logs = st.logs;
            me
        } else {
            Self::new()?
        };
        me.file = Some(file.to_path_buf());
        Ok(me)
    }

    /// Writes the chain to the file it was opened from (atomically); no-op for a fresh chain.
    pub fn save(&self) -> Result<()> {
        let Some(file) = &self.file else { return Ok(()) };
        let b = &self.evm.ctx.block;
        let st = State {
            format: STATE_FORMAT.into(),
            chain_id: LOCAL_CHAIN_ID,
            number: b.number.saturating_to(),
            timestamp: b.timestamp.saturating_to(),
            cache: self.evm.ctx.journaled_state.database.cache.clone(),
            logs: self.logs.clone(),
        };
        let json = serde_json::to_vec(&st).context("cannot serialize the local chain")?;
        crate::files::write_atomic(file, &json)
    }

    fn info(&self, who: Address) -> Result<Option<AccountInfo>> {
        self.evm.ctx.journaled_state.database.basic_ref(who).map_err(|e| anyhow::anyhow!("local chain: cannot read account {who}: {e}"))
    }

    fn tx(&self, from: Address, to: Option<Address>, data: Bytes, value: U256) -> Result<TxEnv> {
        let nonce = self.info(from)?.map_or(0, |i| i.nonce);
        TxEnv::builder()
            .caller(from)
            .kind(to.map_or(TxKind::Create, TxKind::Call))
            .data(data)
            .value(value)
            .gas_limit(eip7825::TX_GAS_LIMIT_CAP)
            .gas_price(0)
            .nonce(nonce)
            .chain_id(Some(LOCAL_CHAIN_ID))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build transaction: {e:?}"))
    }

    fn next_block(&mut self) {
        let b = &mut self.evm.ctx.block;
        b.number += U256::from(1);
        b.timestamp += U256::from(12);
    }
}

fn evm_err<E: std::fmt::Display>(e: EVMError<E>) -> anyhow::Error {
    match e {
        EVMError::Transaction(t) => anyhow::anyhow!("transaction rejected: {t}"),
        other => anyhow::anyhow!("EVM failure: {other}"),
    }
}

impl Chain for LocalChain {
    fn describe(&self) -> String {
        match &self.file {
            Some(f) => format!("local revm chain {LOCAL_CHAIN_ID} ({})", f.display()),
            None => format!("local revm chain {LOCAL_CHAIN_ID} (in memory)"),
        }
    }

    fn chain_id(&self) -> Result<u64> {
        Ok(LOCAL_CHAIN_ID)
    }

    fn timestamp(&self) -> Result<u64> {
        Ok(self.evm.ctx.block.timestamp.saturating_to())
    }

    fn advance_time(&mut self, secs: u64) -> Result<()> {
        self.evm.ctx.block.timestamp += U256::from(secs);
        Ok(())
    }

    fn balance(&self, who: Address) -> Result<U256> {
        Ok(self.info(who)?.map_or(U256::ZERO, |i| i.balance))
    }

    fn code(&self, who: Address) -> Result<Bytes> {
        Ok(self.info(who)?.and_then(|i| i.code).map(|c| c.original_bytes()).unwrap_or_default())
    }

    fn call(&self, to: Address, data: Bytes) -> Result<std::result::Result<Bytes, Bytes>> {
        // Execute on a throwaway copy: a call never changes the chain.
        let db = self.evm.ctx.journaled_state.database.clone();
        let b = &self.evm.ctx.block;
        let mut scratch = Self::with_db(db, b.number.saturating_to(), b.timestamp.saturating_to());
        let tx = scratch.tx(Address::ZERO, Some(to), data, U256::ZERO)?;
        let res = scratch.evm.transact(tx).map_err(evm_err)?.result;
        Ok(match res {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            ExecutionResult::Revert { output, .. } => Err(output),
            ExecutionResult::Halt { .. } => Err(Bytes::new()),
        })
    }

    fn logs(&self, address: Address, topic0: B256, topic1: Option<B256>, _from_block: u64) -> Result<Vec<Log>> {
        let topics_match = |l: &Log| {
            let t = l.topics();
            l.address == address && t.first() == Some(&topic0) && topic1.is_none_or(|t1| t.get(1) == Some(&t1))
        };
        Ok(self.logs.iter().filter(|l| topics_match(l)).cloned().collect())
    }

    fn send(&mut self, from: &PrivateKeySigner, to: Option<Address>, data: Bytes, value: U256) -> Result<Receipt> {
        let tx = self.tx(from.address(), to, data, value)?;
        let block: u64 = self.evm.ctx.block.number.saturating_to();
        let res = self.evm.transact_commit(tx).map_err(evm_err)?;
        self.next_block();
        let gas_used = res.tx_gas_used();
        Ok(match res {
            ExecutionResult::Success { output, logs, .. } => {
                let contract = match &output {
                    Output::Create(_, a) => *a,
                    Output::Call(_) => None,
                };
                self.logs.extend(logs.iter().cloned());
                Receipt { success: true, gas_used, fee: U256::ZERO, output: output.into_data(), logs, contract, tx_hash: None, block }
            }
            ExecutionResult::Revert { output, .. } => Receipt { success: false, gas_used, fee: U256::ZERO, output, logs: vec![], contract: None, tx_hash: None, block },
            // out of gas, invalid opcode, ...: no revert data, like on a node
            ExecutionResult::Halt { .. } => Receipt { success: false, gas_used, fee: U256::ZERO, output: Bytes::new(), logs: vec![], contract: None, tx_hash: None, block },
        })
    }
}
