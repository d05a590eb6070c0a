//! A chain behind a JSON-RPC endpoint (anvil, a testnet, mainnet), driven with alloy.
//! Transactions are signed locally with the given key (alloy-signer-local) and sent as raw
//! transactions. Before sending, each transaction is simulated with `eth_call`: one that
//! would revert is reported with its decoded revert reason and never sent (no gas is spent).

use alloy_network::{EthereumWallet, TransactionBuilder};
use alloy_primitives::{Address, Bytes, Log, B256, U256};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_types_eth::{BlockNumberOrTag, Filter, TransactionRequest};
use alloy_signer_local::PrivateKeySigner;
use anyhow::{Context, Result};

use super::chain::{Chain, Receipt};

/// Blocks per eth_getLogs request (providers commonly allow 10,000 or fewer).
const LOG_CHUNK: u64 = 5_000;

pub struct RpcChain {
    url: String,
    rt: tokio::runtime::Runtime,
}

impl RpcChain {
    /// Connects to `url` (http or https) and checks that it answers `eth_chainId`.
    pub fn connect(url: &str) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
        let me = RpcChain { url: url.to_string(), rt };
        me.chain_id().with_context(|| format!("no Ethereum JSON-RPC node answers at {url}"))?;
        Ok(me)
    }

    fn reader(&self) -> Result<impl Provider> {
        let url = self.url.parse().with_context(|| format!("`{}` is not a URL", self.url))?;
        Ok(ProviderBuilder::new().connect_http(url))
    }
}

fn revert_data(e: &alloy_provider::transport::TransportError) -> Option<Bytes> {
    e.as_error_resp().and_then(|p| p.as_revert_data())
}

impl Chain for RpcChain {
    fn describe(&self) -> String {
        format!("JSON-RPC {}", self.url)
    }

    fn chain_id(&self) -> Result<u64> {
        let p = self.reader()?;
        Ok(self.rt.block_on(p.get_chain_id())?)
    }

    fn timestamp(&self) -> Result<u64> {
        let p = self.reader()?;
        let block = self.rt.block_on(async { p.get_block_by_number(BlockNumberOrTag::Latest).await })?.context("the node has no latest block")?;
        Ok(block.header.timestamp)
    }

    fn advance_time(&mut self, secs: u64) -> Result<()> {
        let p = self.reader()?;
        self.rt.block_on(async {
            p.raw_request::<_, serde_json::Value>("evm_increaseTime".into(), (secs,)).await?;
            p.raw_request::<_, serde_json::Value>("evm_mine".into(), Vec::<u64>::new()).await?;
            Ok::<_, alloy_provider::transport::TransportError>(())
        })
        .context("the node does not support evm_increaseTime/evm_mine (only dev nodes such as anvil can move time)")
    }

    fn balance(&self, who: Address) -> Result<U256> {
        let p = self.reader()?;
        Ok(self.rt.block_on(async { p.get_balance(who).await })?)
    }

    fn code(&self, who: Address) -> Result<Bytes> {
        let p = self.reader()?;
        Ok(self.rt.block_on(async { p.get_code_at(who).await })?)
    }

    fn call(&self, to: Address, data: Bytes) -> Result<std::result::Result<Bytes, Bytes>> {
        let p = self.reader()?;
        let tx = TransactionRequest::default().with_to(to).with_input(data);
        match self.rt.block_on(async { p.call(tx).await }) {
            Ok(out) => Ok(Ok(out)),
            Err(e) => match revert_data(&e) {
                Some(d) => Ok(Err(d)),
                None if e.as_error_resp().is_some_and(|p| p.message.contains("revert")) => Ok(Err(Bytes::new())),
                None => Err(e.into()),
            },
        }
    }

    fn logs(&self, address: Address, topic0: B256, topic1: Option<B256>, from_block: u64) -> Result<Vec<Log>> {
        let p = self.reader()?;
        let latest = self.rt.block_on(async { p.get_block_number().await })?;
        let mut out = Vec::new();
        // public providers cap the block range of eth_getLogs: ask in chunks
        let mut start = from_block;
        while start <= latest {
            let end = (start + LOG_CHUNK - 1).min(latest);
            let mut f = Filter::new().address(address).event_signature(topic0).from_block(start).to_block(end);
            if let Some(t1) = topic1 {
                f = f.topic1(t1);
            }
            let logs = self.rt.block_on(async { p.get_logs(&f).await }).with_context(|| format!("eth_getLogs for blocks {start}..={end}"))?;
            out.extend(logs.into_iter().map(|l| l.inner));
            start = end + 1;
        }
        Ok(out)
    }

    fn send(&mut self, from: &PrivateKeySigner, to: Option<Address>, data: Bytes, value: U256) -> Result<Receipt> {
        let url = self.url.parse().with_context(|| format!("`{}` is not a URL", self.url))?;
        let p = ProviderBuilder::new().wallet(EthereumWallet::from(from.clone())).connect_http(url);
        let mut tx = TransactionRequest::default().with_from(from.address()).with_value(value);
        tx = match to {
            Some(to) => tx.with_to(to).with_input(data),
            None => tx.with_deploy_code(data),
        };
        self.rt.block_on(async {
            // Simulate first: a reverting transaction is reported, not sent.
            if let Err(e) = p.call(tx.clone()).await {
                if let Some(d) = revert_data(&e) {
                    return Ok(Receipt::not_sent(d));
                }
                return Err(anyhow::Error::from(e).context("eth_call (simulation) failed"));
            }
            // the state can change between the simulation and the gas estimate (another
            // sender's transaction): a revert there is an outcome too, and nothing was sent
            let pending = match p.send_transaction(tx).await {
                Ok(p) => p,
                Err(e) => match revert_data(&e) {
                    Some(d) => return Ok(Receipt::not_sent(d)),
                    None => return Err(anyhow::Error::from(e).context("sending the transaction failed")),
                },
            };
            let r = pending.get_receipt().await.context("waiting for the receipt failed")?;
            Ok(Receipt {
                success: r.status(),
                gas_used: r.gas_used,
                fee: U256::from(r.gas_used) * U256::from(r.effective_gas_price),
                output: Bytes::new(),
                logs: r.inner.logs().iter().map(|l| l.inner.clone()).collect(),
                contract: r.contract_address,
                tx_hash: Some(format!("{:?}", r.transaction_hash)),
                block: r.block_number.unwrap_or(0),
            })
        })
    }
}
