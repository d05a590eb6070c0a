//! The proof file: roundtrip, format check, corruption.

mod common;

use zkinfer_circuits::exec;
use zkinfer_prover::artifacts::{ProofFile, PROOF_FORMAT};
use zkinfer_prover::{prove, verify, vk_hash, Fr, ProverError, Verdict};

fn proof_file() -> ProofFile {
    let s = common::shared();
    let proof = prove(&s.params, &s.pk, &s.circuit, &s.instances, common::rng()).expect("prove");
    let g = common::tiny_graph();
    let outs = exec::outputs(&g, &[common::tiny_input()]).expect("exec");
    ProofFile::new(&vk_hash(s.pk.get_vk()), s.k, &g, Fr::zero(), &[common::tiny_input()], &outs, &proof, 0.25).expect("proof file")
}

#[test]
fn proof_file_roundtrips_and_still_verifies() {
    let s = common::shared();
    let dir = common::scratch("artifacts-roundtrip");
    let path = dir.join("proof.json");
    let f = proof_file();
    f.write(&path).expect("write");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(&format!("\"format\": \"{PROOF_FORMAT}\"")));
    let back = ProofFile::read(&path).expect("read back");
    assert_eq!(back, f);
    assert_eq!(back.instances_fr().expect("instances"), s.instances);
    assert_eq!(back.model_hash_bytes().expect("hash"), vk_hash(s.pk.get_vk()));
    let proof = back.proof_bytes().expect("proof");
    assert_eq!(verify(&s.params, s.pk.get_vk(), &back.instances_fr().expect("instances"), &proof), Verdict::Valid);
    // no temporary files left behind
    let names: Vec<_> = std::fs::read_dir(&dir).expect("dir").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn wrong_format_and_corruption_are_clear_errors() {
    let dir = common::scratch("artifacts-bad");
    let path = dir.join("proof.json");
    let f = proof_file();

    let mut other = f.clone();
    other.format = "zkinfer-proof/999".into();
    zkinfer_prover::artifacts::write_json(&path, &other).expect("write");
    let err = ProofFile::read(&path).expect_err("format");
    assert!(matches!(err, ProverError::FormatMismatch { .. }), "{err}");
    eprintln!("{err}");

    std::fs::write(&path, b"{\"format\": \"zkinfer-proof/3\", \"proof\": ").expect("write");
    let err = ProofFile::read(&path).expect_err("truncated");
    assert!(matches!(err, ProverError::Corrupt { .. }), "{err}");
    eprintln!("{err}");

    std::fs::write(&path, b"{\"hello\": 1}").expect("write");
    let err = ProofFile::read(&path).expect_err("no format");
    assert!(err.to_string().contains("no \"format\" field"), "{err}");

    // decoded values that are not the listed integers, decoded
    let mut shown = f.clone();
    shown.outputs[0].values[0] += 1.0;
    let err = shown.check_against(&common::tiny_graph()).expect_err("values differ from the quantized ones");
    assert!(err.to_string().contains("decoded values of `y`"), "{err}");
    // integers (and their decoding) that are not the instances
    let mut lying = f.clone();
    lying.outputs[0].quantized[0] += 1;
    let o = &common::tiny_graph().outputs[0];
    lying.outputs[0].values = zkinfer_circuits::exec::dequantize(o.scale, o.zero_point, &zkinfer_circuits::ir::Tensor { shape: o.shape.clone(), data: lying.outputs[0].quantized.clone() });
    lying.write(&path).expect("write");
    let read = ProofFile::read(&path).expect("well-formed");
    let err = read.check_against(&common::tiny_graph()).expect_err("outputs differ from instances");
    assert!(err.to_string().contains("not the proven public instances"), "{err}");
    eprintln!("{err}");
    assert!(f.check_against(&common::tiny_graph()).is_ok());

    let mut bad_hex = f.clone();
    bad_hex.instances[0] = format!("0x{}", "f".repeat(64));
    bad_hex.write(&path).expect("write");
    let err = ProofFile::read(&path).expect_err("non-canonical instance");
    assert!(matches!(err, ProverError::Corrupt { .. }), "{err}");
    eprintln!("{err}");
}
