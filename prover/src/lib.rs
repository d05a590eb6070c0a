//! zkinfer prover: SRS, key generation, proving, native and EVM verification, and the on-disk
//! artifacts, for circuits laid out by `zkinfer-circuits`.
//!
//! Flow: [`srs::dev_srs`] or [`srs::load_srs`] → [`keys::keygen`] → [`prove::prove`] →
//! [`verify::verify`] (native) or [`evm::gen_sol`] → [`evm::compile_sol`] → [`evm::evm_verify`].
//! Proofs use SHPLONK KZG on BN254 with the Keccak transcript, so one proof verifies both ways.
//! [`aggregate`] wraps a model proof in an aggregation proof whose EVM verifier cost does not
//! depend on the model.

pub mod aggregate;
pub mod aggregate_shards;
pub mod artifacts;
pub mod cost;
pub mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
pub mod error;
pub mod evm;
pub mod fsutil;
pub mod identity;
pub mod kernels;
pub mod keys;
pub mod linked;
pub mod prove;
pub mod public_column;
pub mod shard;
pub mod sizing;
pub mod srs;
pub mod util;
pub mod verify;

pub use error::{ProverError, Result};
pub use identity::{model_id, IdentityParts, ModelId};
pub use keys::{keygen, vk_hash};
pub use prove::{prove, prove_on, prove_owned, Device};
pub use sizing::k_for_rows;
pub use verify::{verify, Verdict};

/// Re-exports of the proving system types in this crate's API.
pub use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
pub use halo2_proofs::plonk::{ProvingKey, VerifyingKey};
pub use halo2_proofs::poly::kzg::commitment::ParamsKZG;
