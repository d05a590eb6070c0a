//! Key files: roundtrip, and clear errors (never panics) for corrupt or mismatched files.

mod common;

use std::time::Instant;

use sha2::{Digest, Sha256};

use zkinfer_circuits::layout::ctx::Shape;
use zkinfer_prover::keys::{read_pk, read_vk, vk_bytes, write_keys, KeyKind};
use zkinfer_prover::IdentityParts;
use zkinfer_prover::{prove, srs, verify, vk_hash, ProverError, Verdict};

#[test]
fn vk_and_pk_roundtrip_through_files() {
    let s = common::shared();
    let dir = common::scratch("keys-roundtrip");
    let (vk_path, pk_path) = (dir.join("model.vk"), dir.join("model.pk"));
    let t = Instant::now();
    let g = common::tiny_graph();
    write_keys(&vk_path, &pk_path, &s.pk, &IdentityParts { shape: Shape::default(), params: &s.params, graph: &g }).expect("write keys");
    eprintln!("[timing] write vk + pk: {:.2?}", t.elapsed());
    let vk_len = std::fs::metadata(&vk_path).expect("vk").len();
    let pk_len = std::fs::metadata(&pk_path).expect("pk").len();
    eprintln!("vk file {vk_len} bytes, pk file {pk_len} bytes");

    let t = Instant::now();
    let (vk, vh) = read_vk(&vk_path).expect("read vk");
    let (pk, ph) = read_pk(&pk_path).expect("read pk");
    eprintln!("[timing] read vk + pk: {:.2?}", t.elapsed());
    assert_eq!(vk_bytes(&vk), vk_bytes(s.pk.get_vk()));
    assert_eq!(vk_hash(&vk), vk_hash(s.pk.get_vk()));
    assert_eq!((vh.kind, ph.kind), (KeyKind::Verifying, KeyKind::Proving));
    assert_eq!((vh.k, vh.shape, vh.vk_hash), (s.k, Shape::default(), vk_hash(&vk)));
    assert_eq!((ph.vk_hash, ph.model_id), (vh.vk_hash, vh.model_id));
    vh.check_params(&s.params).expect("same srs");

    let proof = prove(&s.params, &pk, &s.circuit, &s.instances, common::rng()).expect("prove with read pk");
    assert_eq!(verify(&s.params, &vk, &s.instances, &proof), Verdict::Valid);
}

#[test]
fn corrupt_truncated_or_swapped_key_files_give_clear_errors() {
    let s = common::shared();
    let dir = common::scratch("keys-corrupt");
    let (vk_path, pk_path) = (dir.join("model.vk"), dir.join("model.pk"));
    let g = common::tiny_graph();
    write_keys(&vk_path, &pk_path, &s.pk, &IdentityParts { shape: Shape::default(), params: &s.params, graph: &g }).expect("write keys");
    let good = std::fs::read(&vk_path).expect("read");

    let bad_path = dir.join("bad.vk");
    let check = |bytes: &[u8], expect: &str| {
        std::fs::write(&bad_path, bytes).expect("write");
        let err = read_vk(&bad_path).expect_err("must fail");
        let msg = err.to_string();
        eprintln!("{msg}");
        assert!(matches!(err, ProverError::Corrupt { .. }), "{msg}");
        assert!(msg.contains(expect), "`{msg}` lacks `{expect}`");
    };
    let mut flipped = good.clone();
    let mid = good.len() / 2 + 40;
    flipped[mid] ^= 0x10;
    check(&flipped, "checksum mismatch");
    check(&good[..good.len() - 7], "truncated");
    check(&good[..10], "shorter than");
    check(b"hello world, definitely not a key file at all, but long enough to hold a header.......................................", "does not start with");
    check(&std::fs::read(&pk_path).expect("pk"), "proving key file instead");

    // A self-consistent file whose header claims another shape: halo2 must not panic.
    let mut reshaped = good.clone();
    reshaped[12] = 4; // width 8 -> 4
    check(&reshaped, "checksum mismatch");
    let sum: [u8; 32] = Sha256::new().chain_update(&reshaped[..124]).chain_update(&reshaped[156..]).finalize().into();
    reshaped[124..156].copy_from_slice(&sum);
    check(&reshaped, "");

    let err = read_pk(&vk_path).expect_err("vk is not a pk");
    assert!(err.to_string().contains("verifying key file instead"), "{err}");
    let err = read_vk(&dir.join("missing.vk")).expect_err("missing");
    assert!(matches!(err, ProverError::Io { .. }), "{err}");
}

#[test]
fn keys_remember_their_srs() {
    let s = common::shared();
    let dir = common::scratch("keys-srs");
    let vk_path = dir.join("model.vk");
    let g = common::tiny_graph();
    write_keys(&vk_path, &dir.join("model.pk"), &s.pk, &IdentityParts { shape: Shape::default(), params: &s.params, graph: &g }).expect("write keys");
    let (_, h) = read_vk(&vk_path).expect("read vk");
    // Another SRS of the same size.
    let other = halo2_proofs::poly::kzg::commitment::ParamsKZG::<zkinfer_prover::Bn256>::setup(s.k, common::rng());
    let err = h.check_params(&other).expect_err("other srs");
    assert!(matches!(err, ProverError::SrsMismatch { .. }), "{err}");
    // The same SRS at another size.
    let (bigger, _) = srs::dev_srs(s.k + 1).expect("srs");
    let err = h.check_params(&bigger).expect_err("other k");
    assert!(matches!(err, ProverError::KMismatch { .. }), "{err}");
}
