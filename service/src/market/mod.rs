//! The on-chain market driver: deploys `verifier-contract/src/{ModelRegistry,InferenceMarket}.sol`
//! and a model's snark-verifier contract, and runs the job flow (post -> claim -> prove with
//! the job's binding -> submit -> paid, or expire -> refund + slash) on a [`chain::Chain`]:
//! the embedded revm chain ([`local`]) or a JSON-RPC node ([`rpc`], alloy).
//!
//! A proof for a job carries `bindingOf(jobId, provider)` (keccak of chain id, market, job and
//! provider, mod r) as public instance 0 (see `zkinfer_circuits::public`), so it is valid for
//! that job and provider only.

pub mod abi;
pub mod chain;
pub mod client;
pub mod flow;
pub mod local;
pub mod rpc;

use alloy_primitives::U256;
use anyhow::{Context, Result};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::PrimeField;

/// A field element as a `uint256`.
pub fn fr_to_u256(f: &Fr) -> U256 {
    U256::from_le_bytes(f.to_repr())
}

/// A `uint256` below the BN254 scalar modulus as a field element.
pub fn u256_to_fr(u: U256) -> Result<Fr> {
    Option::from(Fr::from_repr(u.to_le_bytes::<32>())).context("value is not below the BN254 scalar field modulus")
}
