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
    /// Write only the verifying keys: proving then makes each proving key again (about one key
    /// generation per proof) and accepts it only when it gives the verifying key written here.
    /// For models whose proving keys do not fit the disk (3.8 GB per shard of 2^21 rows).
    #[arg(long)]
    no_proving_key: bool,
}

pub fn run(a: Args) -> Result<serde_json::Value> {
    let wd = Workdir(a.dir);
    let s = wd.load_settings()?;
    let t = Instant::now();
    let progress = super::Progress::start("setup");
    if let Some(sh) = crate::sharding::load(&wd, &s)? {
        let (id, ids) = crate::sharding::setup_keys(&s, &sh, a.srs.srs.as_deref(), !a.no_proving_key, &|step| progress.step(step))?;
        drop(progress);
        for (i, ((w, ss), sid)) in sh.shards.iter().zip(&ids).enumerate() {
            say!("shard {i}: {} for k = {} in {} (shard model {sid})", if a.no_proving_key { "verifying key" } else { "keys" }, ss.k, w.0.display());
        }
        say!("{} shards set up ({:.2} s)", ids.len(), t.elapsed().as_secs_f64());
        say!("model {id} (the sharded model's identity: its graph and every shard's)");
        return Ok(serde_json::json!({"model_id": id.hex(), "shards": ids.iter().map(|i| i.hex()).collect::<Vec<_>>(), "k": sh.shards.iter().map(|(_, ss)| ss.k).max(), "seconds": t.elapsed().as_secs_f64(), "dev_srs": a.srs.srs.is_none()}));
    }
    progress.step(if a.srs.srs.is_some() { "loading the SRS" } else { "dev SRS (UNSAFE: tests and demos only)" });
    let params = pipeline::load_params(a.srs.srs.as_deref(), s.k)?;
    progress.step(&format!("keys for 2^{} rows", s.k));
    let id = pipeline::setup_keys(&wd, &s, &params, !a.no_proving_key)?;
    drop(progress);
    if a.no_proving_key {
        say!("verifying key for k = {} written to {} ({:.2} s); no proving key: proving makes it again", s.k, wd.vk().display(), t.elapsed().as_secs_f64());
    } else {
        say!("keys for k = {} written to {} and {} ({:.2} s)", s.k, wd.pk().display(), wd.vk().display(), t.elapsed().as_secs_f64());
    }
    say!("model {id} (the model identity: proofs, the service and the market registry name the model by it)");
    Ok(serde_json::json!({"model_id": id.hex(), "k": s.k, "pk": (!a.no_proving_key).then(|| wd.pk()), "vk": wd.vk(), "seconds": t.elapsed().as_secs_f64(), "dev_srs": a.srs.srs.is_none()}))
}
