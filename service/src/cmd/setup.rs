use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;

use super::SrsArgs;
use crate::files::Workdir;
use crate::pipeline;

#[derive(clap::Args)]
pub struct Args {
    /// Directory written by `zkinfer compile`.
    dir: PathBuf,
    #[command(flatten)]
    srs: SrsArgs,
}

pub fn run(a: Args) -> Result<()> {
    let wd = Workdir(a.dir);
    let s = wd.load_settings()?;
    let t = Instant::now();
    let params = pipeline::load_params(a.srs.srs.as_deref(), s.k)?;
    let id = pipeline::setup(&wd, &s, &params)?;
    say!("keys for k = {} written to {} and {} ({:.2} s)", s.k, wd.pk().display(), wd.vk().display(), t.elapsed().as_secs_f64());
    say!("model {id} (the model identity: proofs, the service and the market registry name the model by it)");
    Ok(())
}
