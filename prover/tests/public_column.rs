//! Real proofs of circuits whose public words sit in a committed column
//! (`Shape::public_column`): the prover learns the column's commitment before it proves, the
//! proof verifies for its own public values only, and every input a verifier derives the
//! instances from (the words, the commitment in the proof bytes) is bound.

mod common;

use common::{dense_graph, rng};
use zkinfer_circuits::ir::Tensor;
use zkinfer_circuits::layout::circuit::{public_values, ModelCircuit};
use zkinfer_circuits::layout::ctx::Shape;
use zkinfer_circuits::layout::lay_out;
use zkinfer_circuits::layout::public_column::horner;
use zkinfer_prover::public_column::{commitment_in, instances, point, POINT_BYTES};
use zkinfer_prover::verify::verify_values;
use zkinfer_prover::{k_for_rows, keygen, prove, srs, verify, Device, Fr};

#[test]
fn a_public_column_proof_verifies_for_its_own_words_only() {
    // 100 inputs of one byte and 6 outputs: 4 input words and 1 output word
    let g = dense_graph(100, 6);
    let input = Tensor::new(vec![1, 100], (0..100).map(|i| (i * 53 % 256) as i64).collect()).expect("shape");
    let shape = Shape { public_column: true, ..Shape::new(4, 1) };
    let mut ctx = lay_out(&g, &[input], shape).expect("layout");
    ctx.binding = Fr::from(0xb1d);
    let values = public_values(&ctx);
    assert_eq!(values.len(), 1 + 4 + 1);
    let circuit = ModelCircuit { ctx };
    let k = k_for_rows(circuit.rows());
    let (params, _) = srs::dev_srs(k).expect("dev srs (UNSAFE, tests only)");
    let pk = keygen(&params, &circuit).expect("keygen");
    let vk = pk.get_vk();
    assert_eq!(vk.cs().num_instance_columns(), 1);

    let proof = prove(&params, &pk, &circuit, &values, rng()).expect("prove");
    assert!(verify_values(&params, vk, true, &values, &proof).is_valid(), "honest proof rejected");
    // its instances are (binding, c, h) with c drawn from the words and the proof's commitment
    let derived = instances(vk, &values, &proof).expect("instances");
    let c = point(&values[1..], &commitment_in(vk, &proof).expect("commitment"));
    assert_eq!(derived, vec![values[0], c, horner(&values[1..], c)]);
    assert!(verify(&params, vk, &derived, &proof).is_valid());
    // the public values themselves are not its instances
    assert!(!verify(&params, vk, &values, &proof).is_valid(), "the words verified as plain instances");

    // another output, another input word, another binding: refused
    for (i, what) in [(values.len() - 1, "output"), (2, "input"), (0, "binding")] {
        let mut other = values.clone();
        other[i] += Fr::one();
        assert!(!verify_values(&params, vk, true, &other, &proof).is_valid(), "a changed {what} accepted");
    }
    // a word dropped or added: refused
    assert!(!verify_values(&params, vk, true, &values[..values.len() - 1], &proof).is_valid(), "a missing word accepted");
    let mut longer = values.clone();
    longer.push(Fr::zero());
    assert!(!verify_values(&params, vk, true, &longer, &proof).is_valid(), "an extra zero word accepted");
    // the commitment the point is drawn from is the proof's: changing it changes everything
    let at = (vk.cs().num_advice_columns() - 1) * POINT_BYTES;
    let mut tampered = proof.clone();
    tampered[at + 31] ^= 1;
    assert!(!verify_values(&params, vk, true, &values, &tampered).is_valid(), "a changed commitment accepted");
    // a proof too short to hold the commitment is an invalid verdict, not a panic
    assert!(!verify_values(&params, vk, true, &values, &proof[..at]).is_valid());

    // a second proof (other blinding) verifies too, with another point
    let proof2 = prove(&params, &pk, &circuit, &values, rand::rngs::OsRng).expect("prove again");
    assert!(verify_values(&params, vk, true, &values, &proof2).is_valid());
    assert_ne!(instances(vk, &values, &proof2).expect("instances")[1], c, "the point depends on the commitment's blinding");

    // wrong public values are an error before any proving; the CUDA path is refused by name
    let mut wrong = values.clone();
    wrong[1] += Fr::one();
    assert!(prove(&params, &pk, &circuit, &wrong, rng()).is_err());
    if Device::Cuda.available_in_build() {
        let e = zkinfer_prover::prove_on(Device::Cuda, &params, &pk, &circuit, &values, rng()).expect_err("cuda refused");
        assert!(e.to_string().contains("CPU"), "{e}");
    }
}
