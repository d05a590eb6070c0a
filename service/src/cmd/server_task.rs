//! `zkinfer server-task` (hidden): the heavy steps of the gRPC server, run in a child process
//! so that a model that exhausts memory or crashes the importer or key generation takes down
//! only the child. The server ([`crate::server::api`]) runs them behind a global limit and
//! reads the one JSON line they print.

use std::path::PathBuf;

use anyhow::{Context, Result};
use zkinfer_circuits::onnx::{import_file, ImportOptions, VisibilityOptions};

use super::compile::Sharding;
use crate::files::Workdir;
use crate::pipeline;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    task: Task,
}

#[derive(clap::Subcommand)]
enum Task {
    /// Check that an ONNX file imports (with the visibility options in JSON, if given).
    Import {
        onnx: PathBuf,
        #[arg(long)]
        visibility: Option<String>,
    },
    /// Compile DIR/model.onnx (DIR/visibility.json and DIR/sharding.json if present) into
    /// DIR/settings.json (and shards).
    Compile { dir: PathBuf },
    /// Generate DIR's keys with the SRS file given.
    Setup {
        dir: PathBuf,
        #[arg(long)]
        srs: PathBuf,
    },
}

/// The visibility options a stored model was registered with.
pub const VISIBILITY_FILE: &str = "visibility.json";
/// The sharding options it was compiled with ([`super::compile::Sharding`]; absent: one circuit).
pub const SHARDING_FILE: &str = "sharding.json";

/// A stored model's sharding options.
pub fn read_sharding(dir: &std::path::Path) -> Result<Sharding> {
    let f = dir.join(SHARDING_FILE);
    Ok(if f.exists() { crate::files::read_json(&f)? } else { Sharding::default() })
}

/// Beside a sharded model's aggregation key (DIR/aggregate/): the sha256 of that key, written
/// when the server made it from the shard keys or regenerated it from them and found it equal;
/// Verify then passes it (`aggregate --verify --aggregation-vk`) instead of regenerating.
pub const AGGREGATION_VK_CHECKED: &str = "vk.checked";

/// The aggregation circuit's size a server uses for sharded models (`zkinfer aggregate`'s
/// default).
pub const AGGREGATION_K: u32 = 21;

/// The largest circuit a stored model's proofs need an SRS for: its own k, or for a sharded
/// model its largest shard's and the aggregation circuit's.
pub fn srs_k(wd: &Workdir, s: &crate::files::Settings) -> Result<u32> {
    Ok(match crate::sharding::load(wd, s)? {
        Some(sh) => sh.shards.iter().map(|(_, ss)| ss.k).max().unwrap_or(0).max(AGGREGATION_K),
        None => s.k,
    })
}

pub fn run(a: Args) -> Result<()> {
    let out = match a.task {
        Task::Import { onnx, visibility } => {
            let visibility: VisibilityOptions = match visibility {
                Some(v) => serde_json::from_str(&v).context("--visibility")?,
                None => VisibilityOptions::default(),
            };
            let g = import_file(&onnx, &ImportOptions { visibility, ..ImportOptions::default() })?;
            serde_json::json!({ "nodes": g.nodes.len() })
        }
        Task::Compile { dir } => {
            let wd = Workdir(dir);
            let vis_file = wd.0.join(VISIBILITY_FILE);
            let visibility = if vis_file.exists() { crate::files::read_json(&vis_file)? } else { VisibilityOptions::default() };
            let sharding = read_sharding(&wd.0)?;
            let model = wd.0.join("model.onnx");
            super::compile::compile_into(&model, Workdir(wd.0.clone()), ImportOptions { visibility, ..ImportOptions::default() }, None, None, None, sharding)?;
            report(&wd, None)?
        }
        Task::Setup { dir, srs } => {
            let wd = Workdir(dir);
            let s = wd.load_settings()?;
            let id = match crate::sharding::load(&wd, &s)? {
                Some(sh) => {
                    let id = crate::sharding::setup(&s, &sh, Some(&srs), &|_| {})?.0;
                    // the aggregation keys too (made from the shard keys just made, so their
                    // hash is recorded as checked), so that the first proof does not wait for
                    // them and Verify/GetEvmVerifier work at once
                    let agg = wd.0.join("aggregate");
                    let keys = crate::sharding::aggregation_keys(&s, &sh, Some(&srs), &agg, AGGREGATION_K, &|_| {})?;
                    crate::files::write_atomic(&agg.join(AGGREGATION_VK_CHECKED), hex::encode(zkinfer_prover::keys::vk_hash(keys.pk.get_vk())).as_bytes())?;
                    id
                }
                None => pipeline::setup(&wd, &s, &pipeline::load_params(Some(&srs), s.k)?)?,
            };
            report(&wd, Some(id.hex()))?
        }
    };
    say!("{out}");
    Ok(())
}

/// What the server records of a compiled (or set up) model: k (a sharded model's largest
/// shard's), its public instances, its shards (0: one circuit) and its identity.
fn report(wd: &Workdir, model_id: Option<String>) -> Result<serde_json::Value> {
    let s = wd.load_settings()?;
    let (k, shards) = match crate::sharding::load(wd, &s)? {
        Some(sh) => (sh.shards.iter().map(|(_, ss)| ss.k).max().unwrap_or(0), sh.shards.len()),
        None => (s.k, 0),
    };
    let mut r = serde_json::json!({ "k": k, "num_instances": s.num_instances, "shards": shards });
    if let Some(id) = model_id {
        r["model_id"] = id.into();
    }
    Ok(r)
}
