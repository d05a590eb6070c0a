//! Prove and verify natively: honest proofs are valid, tampered ones invalid.

mod common;

use std::time::Instant;

use zkinfer_circuits::layout::circuit::{instance_values, ModelCircuit};
use zkinfer_circuits::public::BINDING;
use zkinfer_prover::{prove, verify, Fr, ProverError, Verdict};

#[test]
fn honest_proof_is_valid_and_tampering_is_detected() {
    let s = common::shared();
    let t = Instant::now();
    let proof = prove(&s.params, &s.pk, &s.circuit, &s.instances, common::rng()).expect("prove");
    eprintln!("[timing] prove (k = {}): {:.2?}, proof {} bytes, {} instances", s.k, t.elapsed(), proof.len(), s.instances.len());
    let vk = s.pk.get_vk();

    let t = Instant::now();
    assert_eq!(verify(&s.params, vk, &s.instances, &proof), Verdict::Valid);
    eprintln!("[timing] native verify: {:.2?}", t.elapsed());

    for i in [0, proof.len() / 2, proof.len() - 1] {
        let mut bad = proof.clone();
        bad[i] ^= 1;
        let v = verify(&s.params, vk, &s.instances, &bad);
        assert!(!v.is_valid(), "flipped proof byte {i} accepted");
        eprintln!("flipped byte {i}: {v}");
    }

    let mut wrong = s.instances.clone();
    let last = wrong.len() - 1;
    wrong[last] += Fr::one();
    assert!(!verify(&s.params, vk, &wrong, &proof).is_valid(), "changed output accepted");

    let mut wrong_in = s.instances.clone();
    wrong_in[BINDING + 1] += Fr::one();
    assert!(!verify(&s.params, vk, &wrong_in, &proof).is_valid(), "changed input accepted");

    let mut rebound = s.instances.clone();
    rebound[BINDING] = Fr::from(42);
    assert!(!verify(&s.params, vk, &rebound, &proof).is_valid(), "proof for binding 0 accepted for another binding");

    assert!(!verify(&s.params, vk, &s.instances[..last], &proof).is_valid(), "missing instance accepted");

    let mut long = proof.clone();
    long.push(0);
    assert!(matches!(verify(&s.params, vk, &s.instances, &long), Verdict::Invalid(_)), "trailing byte accepted");
    assert!(!verify(&s.params, vk, &s.instances, &proof[..proof.len() - 32]).is_valid(), "truncated proof accepted");
    assert!(!verify(&s.params, vk, &s.instances, &[]).is_valid(), "empty proof accepted");
}

/// A proof made for one binding (as the market binds a job and provider) verifies only for it,
/// with the same keys as unbound proofs.
#[test]
fn bound_proof_verifies_only_for_its_binding() {
    let s = common::shared();
    let binding = -Fr::from(7); // r - 7: a full-width field element
    let mut circuit = ModelCircuit { ctx: s.circuit.ctx.clone() };
    circuit.ctx.binding = binding;
    let instances = instance_values(&circuit.ctx);
    assert_eq!(instances[BINDING], binding);
    assert_eq!(&instances[BINDING + 1..], &s.instances[BINDING + 1..]);
    let err = prove(&s.params, &s.pk, &circuit, &s.instances, common::rng()).expect_err("instances of another binding");
    assert!(matches!(err, ProverError::InstanceMismatch { index: 0, .. }), "{err}");
    let proof = prove(&s.params, &s.pk, &circuit, &instances, common::rng()).expect("prove");
    let vk = s.pk.get_vk();
    assert_eq!(verify(&s.params, vk, &instances, &proof), Verdict::Valid);
    assert!(!verify(&s.params, vk, &s.instances, &proof).is_valid(), "bound proof accepted with binding 0");
    let mut other = instances.clone();
    other[BINDING] += Fr::one();
    assert!(!verify(&s.params, vk, &other, &proof).is_valid(), "bound proof accepted for another binding");
}

#[test]
fn proving_with_wrong_instances_or_srs_size_is_an_error() {
    let s = common::shared();
    let mut wrong = s.instances.clone();
    let last = wrong.len() - 1;
    wrong[last] += Fr::one();
    let err = prove(&s.params, &s.pk, &s.circuit, &wrong, common::rng()).expect_err("wrong instances");
    assert!(matches!(err, ProverError::InstanceMismatch { index, .. } if index == last), "{err}");

    let (small, _) = zkinfer_prover::srs::dev_srs(s.k - 1).expect("srs");
    let err = prove(&small, &s.pk, &s.circuit, &s.instances, common::rng()).expect_err("wrong k");
    assert!(matches!(err, ProverError::KMismatch { .. }), "{err}");
    eprintln!("{err}");
}

#[test]
fn keygen_rejects_too_small_k() {
    let s = common::shared();
    let (small, _) = zkinfer_prover::srs::dev_srs(s.k - 1).expect("srs");
    let err = zkinfer_prover::keygen(&small, &s.circuit).expect_err("too small");
    assert!(matches!(err, ProverError::NotEnoughRows { .. }), "{err}");
    eprintln!("{err}");
}
