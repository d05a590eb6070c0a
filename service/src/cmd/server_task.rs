//! `zkinfer server-task` (hidden): the heavy steps of the gRPC server, run in a child process
//! so that a model that exhausts memory or crashes the importer or key generation takes down
//! only the child. The server ([`crate::server::api`]) runs them behind a global limit and
//! reads the one JSON line they print.

use std::path::PathBuf;

use anyhow::{Context, Result};
use zkinfer_circuits::onnx::{import_file, ImportOptions, VisibilityOptions};

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
    /// Compile DIR/model.onnx (DIR/visibility.json if present) into DIR/settings.json.
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
            let s = pipeline::compile(&wd.0.join("model.onnx"), ImportOptions { visibility, ..ImportOptions::default() }, None, pipeline::Objective::default())?;
            wd.write_settings(&s)?;
            serde_json::json!({ "k": s.k, "num_instances": s.num_instances })
        }
        Task::Setup { dir, srs } => {
            let wd = Workdir(dir);
            let s = wd.load_settings()?;
            let params = pipeline::load_params(Some(&srs), s.k)?;
            let id = pipeline::setup(&wd, &s, &params)?;
            serde_json::json!({ "k": s.k, "num_instances": s.num_instances, "model_id": id.hex() })
        }
    };
    say!("{out}");
    Ok(())
}
