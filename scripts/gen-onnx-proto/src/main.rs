//! Regenerates `circuits/src/onnx/proto/onnx.rs` from `onnx-ml.proto` using
//! protox (pure-Rust protobuf compiler) + prost-build, so no `protoc` is needed.
//!
//! Usage (from this directory):
//!   cargo run --release -- [PROTO_DIR] [OUT_FILE]
//! Defaults: PROTO_DIR = ../../circuits/src/onnx/proto,
//!           OUT_FILE  = ../../circuits/src/onnx/proto/onnx.rs

use std::path::PathBuf;

const HEADER: &str = "\
// @generated from onnx-ml.proto of onnx 1.23.2 (PyPI wheel `onnx==1.23.2`, package `onnx`)
// by protox 0.10 + prost-build 0.14 (scripts/gen-onnx-proto). DO NOT EDIT.
// Lint allowances are on the `mod` declaration that `include!`s this file.

";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let proto_dir = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "../../circuits/src/onnx/proto".to_string()),
    );
    let out_file = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "../../circuits/src/onnx/proto/onnx.rs".to_string()),
    );

    let fds = protox::compile(["onnx-ml.proto"], [&proto_dir])?;

    let tmp = tempdir()?;
    prost_build::Config::new()
        .out_dir(&tmp)
        .compile_fds(fds)?;

    // prost-build names the output after the protobuf package: `onnx.rs`.
    let generated = std::fs::read_to_string(tmp.join("onnx.rs"))?;
    std::fs::write(&out_file, format!("{HEADER}{generated}"))?;
    std::fs::remove_dir_all(&tmp)?;
    eprintln!("wrote {}", out_file.display());
    Ok(())
}

fn tempdir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("gen-onnx-proto-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
