use std::path::PathBuf;

use anyhow::Result;
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

pub fn run(a: Args) -> Result<serde_json::Value> {
    let wd = Workdir(a.dir);
    let s = wd.load_settings()?;
    if a.compiled {
        let path = a.proof.clone().unwrap_or_else(|| wd.proof());
        let params = pipeline::load_params(a.srs.srs.as_deref(), s.k)?;
        let o = pipeline::evm_verify_compiled(&wd, &s, &params, &ProofFile::read(&path)?)?;
        say!("EVM verification of {} with {}: {} ({}), gas used {}", path.display(), wd.verifier().display(), if o.success { "valid" } else { "REJECTED" }, o.detail, o.gas_used);
        if !o.success {
            return Err(super::Rejected(format!("the EVM verifier rejected the proof ({})", o.detail)).into());
        }
        return Ok(serde_json::json!({"verifier": wd.verifier(), "proof": path, "valid": true, "gas_used": o.gas_used}));
    }
    let params = pipeline::load_params(a.srs.srs.as_deref(), s.k)?;
    let proof_path = a.proof.or_else(|| Some(wd.proof()).filter(|p| p.exists()));
    let proof = proof_path.as_deref().map(ProofFile::read).transpose()?;
    let r = pipeline::evm_verifier(&wd, &s, &params, proof.as_ref())?;
    say!("Solidity verifier: {} ({} bytes of source); bytecode: {}; instance layout: {}", wd.sol().display(), r.sol_bytes, wd.verifier().display(), wd.instance_layout().display());
    if r.parts.is_empty() {
        say!("deployed size: {} bytes (EIP-170 limit 24,576)", r.deployed_size);
    } else {
        say!("deployed size: {} bytes in {} contracts, the largest {} bytes (EIP-170 limit 24,576 per contract): the head (Halo2Verifier) and {} parts it creates with installVerifierPart", r.total_size, r.parts.len() + 1, r.deployed_size, r.parts.len());
    }
    let mut report = serde_json::json!({
        "solidity": wd.sol(),
        "verifier": wd.verifier(),
        "instance_layout": wd.instance_layout(),
        "solidity_bytes": r.sol_bytes,
        "deployed_bytes": r.deployed_size,
        "deployed_bytes_total": r.total_size,
        "contracts": r.parts.len() + 1,
        "fits_eip170": r.deployed_size <= zkinfer_prover::cost::EIP170_LIMIT,
    });
    if let Some(o) = r.outcome {
        say!("EVM verification of {}: {} ({}), gas used {} (deploy gas {})", proof_path.as_ref().map(|p| p.display().to_string()).unwrap_or_default(), if o.success { "valid" } else { "REJECTED" }, o.detail, o.gas_used, o.deploy_gas);
        if !o.success {
            return Err(super::Rejected(format!("the EVM verifier rejected the proof ({})", o.detail)).into());
        }
        report["proof"] = serde_json::json!(proof_path);
        report["valid"] = true.into();
        report["gas_used"] = o.gas_used.into();
        report["deploy_gas"] = o.deploy_gas.into();
        // the verifier's own gas: without the 21k base, the calldata and EIP-7623's calldata
        // floor (which binds for proofs with many public words)
        report["execution_gas"] = o.execution_gas.into();
        // what the transaction's calldata costs (EIP-2028: 16 gas a nonzero byte, 4 a zero
        // byte), so that reports can give the verifier's own gas apart from it and the 21k base
        if let Some(p) = &proof {
            let data = zkinfer_prover::evm::calldata(&p.instances_fr()?, &p.proof_bytes()?);
            report["calldata_bytes"] = data.len().into();
            report["calldata_gas"] = data.iter().map(|&b| if b == 0 { 4u64 } else { 16 }).sum::<u64>().into();
        }
    }
    Ok(report)
}
