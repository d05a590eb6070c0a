//! Aggregation: a hashed-I/O model proof aggregated into a proof whose verifier does not depend
//! on the model circuit; verified natively and in the EVM; tampering anywhere is rejected,
//! including an aggregation of a model proof that does not verify (caught by the circuit's
//! accumulator, not by a pre-check).

mod common;

use rand::rngs::OsRng;
use zkinfer_circuits::ir::Visibility;
use zkinfer_circuits::layout::ctx::Shape;
use zkinfer_prover::aggregate::{self, ACCUMULATOR_LIMBS};
use zkinfer_prover::{evm, srs, Fr};

/// The aggregation circuit's size in tests (more columns than the k = 21 default, same work).
const AGG_K: u32 = 20;

#[test]
fn aggregated_proof_verifies_and_rejects_tampering() {
    let mut g = common::tiny_graph();
    g.inputs[0].visibility = Visibility::Hashed;
    g.outputs[0].visibility = Visibility::Hashed;
    let s = common::setup_graph(&g, common::tiny_input(), Shape::new(6, 2));
    let snark = aggregate::prove_inner(&s.params, &s.pk, &s.circuit, OsRng).expect("model proof");
    assert_eq!(snark.instances[0], s.instances, "the model proof carries the circuit's instances");
    let mut bad_inner = snark.clone();
    bad_inner.instances[0][1] += Fr::one(); // the input digest
    assert!(!aggregate::verify_inner(&s.params, s.pk.get_vk(), &bad_inner).is_valid());

    let (agg_params, _) = srs::dev_srs(AGG_K).expect("dev srs");
    let (pk, layout) = aggregate::setup(&agg_params, &s.params, s.pk.get_vk(), s.instances.len()).expect("aggregation setup");
    let dir = std::env::temp_dir().join(format!("zkinfer-agg-test-{}", std::process::id()));
    aggregate::write_keys(&dir, &pk, &layout).expect("write keys");
    let (vk, read_layout) = aggregate::read_vk(&dir).expect("read vk");
    assert_eq!(read_layout.break_points, layout.break_points);
    // a verifier regenerates the aggregation key from the model key: this one is the model's,
    // and it is not the aggregation key of another model with the same instance layout
    aggregate::check_vk(&agg_params, &s.params, s.pk.get_vk(), &read_layout, &vk).expect("the stored aggregation key is this model's");
    let mut g2 = g.clone();
    match &mut g2.nodes[0].op {
        zkinfer_circuits::ops::Op::Dense(d) => d.bias[0] += 1,
        other => panic!("the tiny model starts with a Dense, not {other:?}"),
    }
    let other = common::setup_graph(&g2, common::tiny_input(), Shape::new(6, 2));
    assert_eq!(other.instances.len(), s.instances.len());
    let e = aggregate::check_vk(&agg_params, &other.params, other.pk.get_vk(), &read_layout, &vk).expect_err("another model's key");
    assert!(e.to_string().contains("not the aggregation key of this model key"), "{e}");

    // a model proof that does not verify is refused before any work
    let e = aggregate::prove(&agg_params, &s.params, s.pk.get_vk(), &pk, &layout, bad_inner.clone(), OsRng).expect_err("invalid model proof");
    assert!(e.to_string().contains("does not verify"), "{e}");

    let (proof, instances) = aggregate::prove(&agg_params, &s.params, s.pk.get_vk(), &pk, &layout, snark.clone(), OsRng).expect("aggregate");
    assert_eq!(&instances[ACCUMULATOR_LIMBS..], s.instances.as_slice(), "model instances are re-exposed unchanged");
    assert!(aggregate::verify(&agg_params, &vk, &instances, &proof).is_valid());

    let sol = aggregate::gen_sol(&agg_params, &vk, instances.len()).expect("solidity");
    let compiled = evm::compile_sol(&sol).expect("solc");
    let ok = evm::evm_verify(&compiled.bytecode, &instances, &proof).expect("evm");
    assert!(ok.success, "{}", ok.detail);
    eprintln!("aggregated proof: {} bytes, EVM verify gas {}, deployed {} bytes", proof.len(), ok.gas_used, compiled.deployed_bytecode.len());

    let reject = |what: &str, inst: &[Fr], pr: &[u8]| {
        assert!(!aggregate::verify(&agg_params, &vk, inst, pr).is_valid(), "native accepted {what}");
        let o = evm::evm_verify(&compiled.bytecode, inst, pr).expect("evm call");
        assert!(!o.success, "EVM accepted {what}");
    };
    let mut p = proof.clone();
    p[proof.len() / 2] ^= 1;
    reject("a flipped proof byte", &instances, &p);
    for (what, i) in [("a changed accumulator limb", 0), ("a changed binding", ACCUMULATOR_LIMBS), ("a changed input digest", ACCUMULATOR_LIMBS + 1), ("a changed output digest", instances.len() - 1)] {
        let mut inst = instances.clone();
        inst[i] += Fr::one();
        reject(what, &inst, &proof);
    }

    // the circuit itself rejects an invalid model proof: aggregating it without the pre-check
    // gives a proof whose accumulator fails the pairing, natively and in the EVM
    let (p, inst) = aggregate::prove_unverified(&agg_params, &pk, &layout, bad_inner, OsRng).expect("aggregation circuit still proves");
    reject("the aggregation of an invalid model proof", &inst, &p);

    // corrupt key files are named errors
    let vk_file = dir.join("vk.bin");
    let mut bytes = std::fs::read(&vk_file).expect("vk file");
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    std::fs::write(&vk_file, &bytes).expect("write");
    let e = aggregate::read_vk(&dir).expect_err("corrupt vk");
    assert!(e.to_string().contains("checksum"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
