use std::path::PathBuf;

use anyhow::Result;

use super::SrsArgs;
use crate::files::{read_inputs, Workdir};
use crate::pipeline;

#[derive(clap::Args)]
pub struct Args {
    /// Directory written by `zkinfer compile` and `zkinfer setup`.
    dir: PathBuf,
    /// Input file: {"input_data": [[...]]}.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the proof (default DIR/proof.json).
    #[arg(short, long)]
    out: Option<PathBuf>,
    /// Saturate input values outside the quantized range instead of rejecting them.
    #[arg(long)]
    saturate: bool,
    #[command(flatten)]
    srs: SrsArgs,
}

pub fn run(a: Args) -> Result<()> {
    let wd = Workdir(a.dir);
    let s = wd.load_settings()?;
    let data = read_inputs(&a.input)?;
    let params = pipeline::load_params(a.srs.srs.as_deref(), s.k)?;
    let p = pipeline::prove(&wd, &s, &params, &data, a.saturate)?;
    let out = a.out.unwrap_or_else(|| wd.proof());
    p.write(&out)?;
    for o in &p.outputs {
        say!("output {} {:?}: {:?}", o.name, o.shape, o.values);
    }
    say!("proof: {} bytes, {:.2} s -> {}", (p.proof.len() - 2) / 2, p.prove_seconds, out.display());
    Ok(())
}
