//! What the market driver needs from a chain, implemented by the in-process revm chain
//! ([`super::local::LocalChain`]) and by a JSON-RPC node ([`super::rpc::RpcChain`]).

use alloy_primitives::{Address, Bytes, Log, B256, U256};
use alloy_signer_local::PrivateKeySigner;
use anyhow::{Context, Result};

/// The outcome of a transaction. A revert is an outcome (`success == false`, `output` = the
/// revert data), not an error; errors are for transactions that could not be executed.
#[derive(Clone, Debug)]
pub struct Receipt {
    pub success: bool,
    /// Gas used by the transaction (21,000 base + calldata + execution).
    pub gas_used: u64,
    /// What the sender paid for gas, in wei (zero on the local chain, which has no gas price).
    pub fee: U256,
    /// Return data on success, revert data on failure (empty from a JSON-RPC node on success).
    pub output: Bytes,
    pub logs: Vec<Log>,
    /// The new contract of a deployment.
    pub contract: Option<Address>,
    /// Transaction hash (JSON-RPC chains only).
    pub tx_hash: Option<String>,
    /// Block the transaction was included in (0 when it was not sent).
    pub block: u64,
}

impl Receipt {
    /// A transaction found to revert before it was sent (no gas spent), with its revert data.
    pub fn not_sent(revert: Bytes) -> Receipt {
        Receipt { success: false, gas_used: 0, fee: U256::ZERO, output: revert, logs: vec![], contract: None, tx_hash: None, block: 0 }
    }
}

/// A chain the market driver can deploy to, transact with and read.
pub trait Chain {
    /// Human-readable description, e.g. `local revm chain (out/market/chain.json)`.
    fn describe(&self) -> String;
    fn chain_id(&self) -> Result<u64>;
    /// Timestamp of the block the next transaction lands in (approximately, on a live node).
    fn timestamp(&self) -> Result<u64>;
    /// Moves the chain's clock forward (local chain, or a dev node such as anvil).
    fn advance_time(&mut self, secs: u64) -> Result<()>;
    fn balance(&self, who: Address) -> Result<U256>;
    fn code(&self, who: Address) -> Result<Bytes>;
    /// A read-only call: `Ok(return data)`, or `Err(revert data)` when it reverts.
    fn call(&self, to: Address, data: Bytes) -> Result<std::result::Result<Bytes, Bytes>>;
    /// Logs emitted by `address` since block `from_block` with first topic `topic0` (and
    /// second topic `topic1` when given), oldest first.
    fn logs(&self, address: Address, topic0: B256, topic1: Option<B256>, from_block: u64) -> Result<Vec<Log>>;
    /// Sends a transaction from `from` (a call when `to` is given, else a deployment).
    fn send(&mut self, from: &PrivateKeySigner, to: Option<Address>, data: Bytes, value: U256) -> Result<Receipt>;
}

/// The well-known development keys of anvil and hardhat (mnemonic "test test ... junk").
/// PUBLIC KEYS: anyone can spend from these accounts on any chain. For the local chain, anvil
/// and tests only.
/// Roles in the CLI: 0 deploys and registers, 1 requests, 2 provides.
pub const DEV_KEYS: [&str; 3] = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
];

/// Parses a hex private key (`0x` optional).
pub fn signer(key: &str) -> Result<PrivateKeySigner> {
    key.trim().trim_start_matches("0x").parse::<PrivateKeySigner>().map_err(|e| anyhow::anyhow!("not a secp256k1 private key (64 hex digits): {e}"))
}

/// Development account `i` (see [`DEV_KEYS`]).
pub fn dev_signer(i: usize) -> Result<PrivateKeySigner> {
    signer(DEV_KEYS.get(i).context("no such dev account")?)
}

/// Wei in `eth` ether (decimal, up to 18 fractional digits), e.g. `"0.05"`.
pub fn parse_eth(eth: &str) -> Result<U256> {
    let s = eth.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let ok = |p: &str| p.chars().all(|c| c.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !ok(int) || !ok(frac) || frac.len() > 18 {
        anyhow::bail!("`{eth}` is not an amount of ether (e.g. 0.05)");
    }
    let digits = format!("{int}{frac:0<18}");
    U256::from_str_radix(&digits, 10).map_err(|e| anyhow::anyhow!("`{eth}`: {e}"))
}

/// An amount of wei as ether, e.g. `0.05 ETH`.
pub fn fmt_eth(wei: U256) -> String {
    let s = format!("{wei:0>19}");
    let (int, frac) = s.split_at(s.len() - 18);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() { format!("{int} ETH") } else { format!("{int}.{frac} ETH") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ether_amounts_parse_and_print() {
        assert_eq!(parse_eth("1").expect("1"), U256::from(10u64).pow(U256::from(18)));
        assert_eq!(parse_eth("0.05").expect("0.05"), U256::from(5u64) * U256::from(10u64).pow(U256::from(16)));
        assert_eq!(parse_eth(".5").expect(".5"), U256::from(5u64) * U256::from(10u64).pow(U256::from(17)));
        for bad in ["", ".", "-1", "1e3", "0.0000000000000000001", "abc"] {
            assert!(parse_eth(bad).is_err(), "{bad}");
        }
        assert_eq!(fmt_eth(parse_eth("0.05").expect("ok")), "0.05 ETH");
        assert_eq!(fmt_eth(U256::from(3u64)), "0.000000000000000003 ETH");
        assert_eq!(fmt_eth(parse_eth("12").expect("ok")), "12 ETH");
    }

    #[test]
    fn dev_keys_are_anvils() {
        let a = dev_signer(0).expect("key").address();
        assert_eq!(format!("{a:?}").to_lowercase(), "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266");
        assert!(signer("0x12").is_err());
    }
}
