use std::path::PathBuf;

use anyhow::Result;
use zkinfer_circuits::layout::ctx::Shape;
use zkinfer_circuits::onnx::ImportOptions;

use crate::files::{write_json, Workdir};
use crate::pipeline;

#[derive(clap::Args)]
pub struct Args {
    /// The ONNX model.
    model: PathBuf,
    /// Output directory.
    #[arg(short, long)]
    out: PathBuf,
    /// Fixed-point scale bits for float inputs / weights / activations (float models only).
    #[arg(long, default_value_t = ImportOptions::default().input_scale_bits)]
    input_scale_bits: u32,
    #[arg(long, default_value_t = ImportOptions::default().param_scale_bits)]
    param_scale_bits: u32,
    #[arg(long, default_value_t = ImportOptions::default().act_scale_bits)]
    act_scale_bits: u32,
    /// Advice columns of the multiply-accumulate gate.
    #[arg(long, default_value_t = Shape::default().width)]
    width: usize,
    /// How many of them carry range lookups.
    #[arg(long, default_value_t = Shape::default().lookup_width)]
    lookup_width: usize,
}

pub fn run(a: Args) -> Result<()> {
    let opts = ImportOptions { input_scale_bits: a.input_scale_bits, param_scale_bits: a.param_scale_bits, act_scale_bits: a.act_scale_bits, ..ImportOptions::default() };
    zkinfer_prover::sizing::check_shape(Shape { width: a.width, lookup_width: a.lookup_width })?;
    let s = pipeline::compile(&a.model, opts, Shape { width: a.width, lookup_width: a.lookup_width })?;
    let wd = Workdir(a.out);
    write_json(&wd.settings(), &s)?;
    println!("compiled {}: {} nodes, {} rows, k = {}, {} public values -> {}", s.model, s.graph.nodes.len(), s.rows, s.k, s.num_instances, wd.settings().display());
    Ok(())
}
