//! The one error type of the `prover` crate.
//!
//! A proof that fails to verify is not an error: see [`crate::verify::Verdict`] and
//! [`crate::evm::EvmOutcome`]. Errors are for things the caller must fix (a missing or corrupt
//! file, an SRS that is too small, a missing Solidity compiler, ...), and each message says how.

use std::path::PathBuf;

use thiserror::Error;
use zkinfer_circuits::CircuitError;

/// Everything that can go wrong between a laid-out circuit and a verified proof.
#[derive(Debug, Error)]
pub enum ProverError {
    #[error("cannot access {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("{path} is not a valid {what}: {why}; regenerate it (or check you passed the right file)")]
    Corrupt { path: PathBuf, what: &'static str, why: String },

    #[error("{path} has format `{found}`, expected `{expected}`; it was written by another (version of the) tool, regenerate it")]
    FormatMismatch { path: PathBuf, expected: String, found: String },

    #[error("the SRS supports circuits up to k = {have} (2^{have} rows) but k = {need} is needed; use a larger SRS file (e.g. kzg_bn254_{need}.srs)")]
    SrsTooSmall { have: u32, need: u32 },

    #[error("{what} is for k = {found} but k = {expected} is needed; load the SRS at k = {expected} (a larger SRS file is downsized) or regenerate the keys")]
    KMismatch { what: String, expected: u32, found: u32 },

    #[error("{what} was generated with a different SRS than the one given; use the SRS the keys were generated with, or regenerate the keys")]
    SrsMismatch { what: String },

    #[error("circuit needs {rows} rows plus {reserved} reserved rows, more than 2^{k}; use k >= {need_k}")]
    NotEnoughRows { rows: usize, reserved: usize, k: u32, need_k: u32 },

    #[error("the given public instances differ from the circuit's own (first difference at index {index} of {len}); pass instance_values(&circuit.ctx)")]
    InstanceMismatch { index: usize, len: usize },

    #[error("the circuit witness is inconsistent ({0}); this is a bug in the layout, please report it")]
    Witness(String),

    #[error(transparent)]
    Circuit(#[from] CircuitError),

    #[error("halo2 {stage} failed: {why}")]
    Halo2 { stage: &'static str, why: String },

    #[error("EVM: {0}")]
    Evm(String),

    #[error("verifier contract is {size} bytes, over the EIP-170 limit of {limit} bytes: it cannot be deployed on Ethereum mainnet; the verifier grows ~165 bytes per public instance and ~1.8 KB per column: use fewer public instances or a narrower circuit shape")]
    ContractTooLarge { size: usize, limit: usize },

    #[error("Solidity compilation failed: {0}")]
    Solc(String),

    #[error("{path} does not belong to this model: {why}; run `zkinfer setup` again, or use the settings the key was made with")]
    IdentityMismatch { path: PathBuf, why: String },

    #[error("invalid {what}: {why}")]
    Invalid { what: &'static str, why: String },
}

impl ProverError {
    /// An [`ProverError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ProverError::Io { path: path.into(), source }
    }

    /// A [`ProverError::Corrupt`] for `path`.
    pub fn corrupt(path: impl Into<PathBuf>, what: &'static str, why: impl Into<String>) -> Self {
        ProverError::Corrupt { path: path.into(), what, why: why.into() }
    }

    /// A [`ProverError::Halo2`] from a halo2 error.
    pub fn halo2(stage: &'static str, e: impl std::fmt::Display) -> Self {
        ProverError::Halo2 { stage, why: e.to_string() }
    }
}

pub type Result<T> = std::result::Result<T, ProverError>;
