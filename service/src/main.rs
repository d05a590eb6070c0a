//! `zkinfer`: prove that an ONNX model produced an output, and verify it natively or on an EVM.

fn main() {
    zkinfer_service::cmd::main();
}
