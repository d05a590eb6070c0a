//! Generates the gRPC types and stubs from proto/zkinfer.proto with the protoc binary of the
//! `protoc-bin-vendored` crate (no system protoc needed).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    println!("cargo:rerun-if-changed=proto/zkinfer.proto");
    tonic_prost_build::configure().compile_protos(&["proto/zkinfer.proto"], &["proto"])?;
    Ok(())
}
