use std::path::PathBuf;

use anyhow::{bail, Result};
use zkinfer_prover::artifacts::ProofFile;

use super::SrsArgs;
use crate::files::Workdir;
use crate::pipeline;

#[derive(clap::Args)]
pub struct Args {
    /// Directory with settings.json and vk.bin.
    dir: PathBuf,
    /// A proof to verify in the in-process EVM (default: DIR/proof.json when it exists).
    #[arg(long)]
    proof: Option<PathBuf>,
    /// Verify with the verifier compiled before (DIR/verifier.json): no Solidity generation
    /// or solc (e.g. on a machine without Node.js).
    #[arg(long, requires = "proof")]
    compiled: bool,
    #[command(flatten)]
    srs: SrsArgs,
}

pub fn run(a: Args) -> Result<()> {
    let wd = Workdir(a.dir);
    let s = wd.load_settings()?;
    if a.compiled {
        let path = a.proof.clone().unwrap_or_else(|| wd.proof());
        let params = pipeline::load_params(a.srs.srs.as_deref(), s.k)?;
        let o = pipeline::evm_verify_compiled(&wd, &s, &params, &ProofFile::read(&path)?)?;
        say!("EVM verification of {} with {}: {} ({}), gas used {}", path.display(), wd.verifier().display(), if o.success { "valid" } else { "REJECTED" }, o.detail, o.gas_used);
        if !o.success {
            bail!("the EVM verifier rejected the proof");
        }
        return Ok(());
    }
    let params = pipeline::load_params(a.srs.srs.as_deref(), s.k)?;
    let proof_path = a.proof.or_else(|| Some(wd.proof()).filter(|p| p.exists()));
    let proof = proof_path.as_deref().map(ProofFile::read).transpose()?;
    let r = pipeline::evm_verifier(&wd, &s, &params, proof.as_ref())?;
    say!("Solidity verifier: {} ({} bytes of source); bytecode: {}", wd.sol().display(), r.sol_bytes, wd.verifier().display());
    say!("deployed size: {} bytes (EIP-170 limit 24,576)", r.deployed_size);
    if let Some(o) = r.outcome {
        say!("EVM verification of {}: {} ({}), gas used {} (deploy gas {})", proof_path.map(|p| p.display().to_string()).unwrap_or_default(), if o.success { "valid" } else { "REJECTED" }, o.detail, o.gas_used, o.deploy_gas);
        if !o.success {
            bail!("the EVM verifier rejected the proof");
        }
    }
    Ok(())
}
