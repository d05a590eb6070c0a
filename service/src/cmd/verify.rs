use std::path::PathBuf;

use anyhow::{bail, Result};

use super::SrsArgs;
use crate::files::Workdir;
use zkinfer_prover::artifacts::ProofFile;
use crate::pipeline;

#[derive(clap::Args)]
pub struct Args {
    /// Directory with settings.json and vk.bin.
    dir: PathBuf,
    /// The proof file.
    proof: PathBuf,
    #[command(flatten)]
    srs: SrsArgs,
}

pub fn run(a: Args) -> Result<()> {
    let wd = Workdir(a.dir);
    let s = wd.load_settings()?;
    let p = ProofFile::read(&a.proof)?;
    let params = pipeline::load_params(a.srs.srs.as_deref(), s.k)?;
    let v = pipeline::verify(&wd, &s, &params, &p)?;
    say!("proof {}: {v}", a.proof.display());
    if !v.is_valid() {
        bail!("verification failed");
    }
    Ok(())
}
