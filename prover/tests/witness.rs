//! The prover's advice columns, built directly from the layout
//! (`zkinfer_circuits::layout::witness`), are exactly what halo2's synthesis assigns, cell by
//! cell and as commitments, on imported models that between them use function tables,
//! inverse cells, dot-product rows and Poseidon digests.

mod common;

use zkinfer_circuits::exec;
use zkinfer_circuits::layout::circuit::{instance_values, ModelCircuit};
use zkinfer_circuits::layout::ctx::{CellRef, Col, Shape};
use zkinfer_circuits::layout::{lay_out, witness};
use zkinfer_circuits::onnx::{import_file, ImportOptions, VisibilityOptions};
use zkinfer_prover::{keygen, k_for_rows, prove, prove_owned, srs, verify, Device, Fr, Verdict};

fn circuit(name: &str, opts: &ImportOptions) -> ModelCircuit {
    circuit_in(name, opts, Shape::new(6, 2))
}

fn circuit_in(name: &str, opts: &ImportOptions, shape: Shape) -> ModelCircuit {
    let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ops").join(name);
    let g = import_file(&d.join("model.onnx"), opts).unwrap_or_else(|e| panic!("{name}: {e}"));
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("samples.json")).expect("samples")).expect("json");
    let x: Vec<f64> = s["inputs"][0].as_array().expect("input").iter().map(|v| v.as_f64().expect("number")).collect();
    let q = exec::quantize_input(&g.inputs[0], &x, true).expect("quantize");
    ModelCircuit { ctx: lay_out(&g, &[q], shape).unwrap_or_else(|e| panic!("{name}: {e}")) }
}

#[test]
fn direct_advice_gives_the_synthesized_proof() {
    use zkinfer_circuits::ir::WeightVisibility;
    let hashed = ImportOptions { visibility: VisibilityOptions { weights: WeightVisibility::Hashed, ..Default::default() }, ..Default::default() };
    let cases = [("gelu", ImportOptions::default()), ("softmax_int8", ImportOptions::default()), ("attention", hashed)];
    let (mut tables, mut inverses, mut dots, mut hashes) = (false, false, false, false);
    for (name, opts) in &cases {
        let mut c = circuit(name, opts);
        c.ctx.binding = Fr::from(1234);
        let ctx = &c.ctx;
        tables |= !ctx.tables.is_empty();
        hashes |= !ctx.hashes.is_empty();
        dots |= ctx.rows.iter().any(|r| r.q_dot);
        inverses |= ctx.rows.iter().flat_map(|r| r.x.iter().flatten()).any(|x| x.inverse && x.val != 0);
        let instances = instance_values(ctx);
        let k = k_for_rows(c.rows());
        let (params, _) = srs::dev_srs(k).expect("dev srs (UNSAFE, tests only)");
        let pk = keygen(&params, &c).expect("keygen");

        let ours = witness::advice_columns(&c.ctx, 1usize << k).expect("advice");
        let theirs = zkinfer_prover::prove::synthesized_advice(&params, &pk, &c, &instances).expect("synthesis");
        assert_eq!(ours.len(), theirs.len(), "{name}: advice column count");
        for (j, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            if let Some(r) = (0..a.len()).find(|&r| a[r] != b[r]) {
                panic!("{name}: advice column {j} row {r}: direct {:?}, synthesis {:?}", a[r], b[r]);
            }
        }

        // With the same randomness both paths commit to the same advice (same values, same
        // blinding rows and blinds): the proof opens with those commitments, 64 bytes each.
        // (The rest of a proof is not reproducible from the rng alone: halo2 draws some
        // blinding in parallel.) Both proofs verify.
        let direct = prove(&params, &pk, &c, &instances, common::rng()).expect("prove");
        let synthesized = zkinfer_prover::prove::prove_synthesized(&params, &pk, &c, &instances, common::rng()).expect("prove via synthesis");
        let head = 64 * ours.len();
        assert!(direct.len() == synthesized.len() && direct[..head] == synthesized[..head], "{name}: the direct advice commits to other values than synthesis");
        assert_eq!(verify(&params, pk.get_vk(), &instances, &direct), Verdict::Valid, "{name}");
        assert_eq!(verify(&params, pk.get_vk(), &instances, &synthesized), Verdict::Valid, "{name}: via synthesis");
        eprintln!("{name}: k {k}, {} rows, same advice and commitments both ways, {}-byte proof", c.ctx.rows.len(), direct.len());

        // the consuming variant (used by the service) proves the same, from fresh randomness
        let owned = prove_owned(Device::Cpu, &params, &pk, c.clone(), &instances, rand::rngs::OsRng).expect("prove_owned");
        assert_eq!(verify(&params, pk.get_vk(), &instances, &owned), Verdict::Valid, "{name}: prove_owned");

        // a corrupted witness cell gives a proof that does not verify (the direct path has no
        // MockProver in front of it, only the integer pre-check, which this bypasses)
        let mut advice = witness::advice_columns(&c.ctx, 1usize << k).expect("advice");
        let r = (c.ctx.rows.len() / 2..c.ctx.rows.len()).find(|&r| c.ctx.rows[r].q_out).expect("a gate output row");
        advice[c.ctx.shape.width][r] += Fr::one();
        let bad = zkinfer_prover::prove::prove_advice(&params, &pk, &instances, advice, common::rng()).expect("halo2 proves any advice");
        assert!(!verify(&params, pk.get_vk(), &instances, &bad).is_valid(), "{name}: proof from a corrupted witness verifies");
    }
    assert!(tables && inverses && dots && hashes, "coverage lost: tables {tables}, inverses {inverses}, dots {dots}, hashes {hashes}");
}

/// With the public column: the column itself and the evaluation rows after the digests' are
/// what synthesis assigns; the direct proof verifies for its public values; a word of the
/// column that differs from the cell packing it gives a proof that does not verify.
#[test]
fn direct_advice_with_the_public_column_is_the_synthesized_one() {
    use zkinfer_circuits::ir::WeightVisibility;
    use zkinfer_circuits::layout::circuit::public_values;
    let hashed = ImportOptions { visibility: VisibilityOptions { weights: WeightVisibility::Hashed, ..Default::default() }, ..Default::default() };
    for (name, opts) in [("gelu", ImportOptions::default()), ("attention", hashed)] {
        let mut c = circuit_in(name, &opts, Shape { public_column: true, ..Shape::new(6, 2) });
        c.ctx.binding = Fr::from(99);
        c.ctx.point = Fr::from(0x5eed) * Fr::from(u64::MAX);
        let values = public_values(&c.ctx);
        let k = k_for_rows(c.rows());
        let (params, _) = srs::dev_srs(k).expect("dev srs (UNSAFE, tests only)");
        let pk = keygen(&params, &c).expect("keygen");
        let ours = witness::advice_columns(&c.ctx, 1usize << k).expect("advice");
        let theirs = zkinfer_prover::prove::synthesized_advice(&params, &pk, &c, &values).expect("synthesis");
        assert_eq!(ours.len(), c.ctx.shape.width + 2, "{name}: x, out and the public column");
        assert_eq!(ours.len(), theirs.len(), "{name}: advice column count");
        for (j, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            if let Some(r) = (0..a.len()).find(|&r| a[r] != b[r]) {
                panic!("{name}: advice column {j} row {r}: direct {:?}, synthesis {:?}", a[r], b[r]);
            }
        }
        let direct = prove(&params, &pk, &c, &values, common::rng()).expect("prove");
        assert!(zkinfer_prover::verify::verify_values(&params, pk.get_vk(), true, &values, &direct).is_valid(), "{name}");
        let mut advice = ours.clone();
        let p = advice.len() - 1;
        advice[p][values.len() - 2] += Fr::one();
        let inst = instance_values(&c.ctx);
        let bad = zkinfer_prover::prove::prove_advice(&params, &pk, &inst, advice, common::rng()).expect("halo2 proves any advice");
        assert!(!verify(&params, pk.get_vk(), &inst, &bad).is_valid(), "{name}: a public column that is not the packed words verifies");
        eprintln!("{name}: k {k}, {} words in the public column, {}-byte proof", values.len() - 1, direct.len());
    }
}

#[test]
fn advice_columns_reject_what_does_not_fit() {
    let c = circuit("gelu", &ImportOptions::default());
    let e = witness::advice_columns(&c.ctx, c.ctx.rows.len() - 1).expect_err("too few rows");
    assert!(e.contains("rows"), "{e}");
    let mut bad = c.ctx.clone();
    bad.rows[0].x[0] = Some(Default::default());
    let e = witness::advice_columns(&bad, 1 << 12).expect_err("row 0 taken");
    assert!(e.contains("binding"), "{e}");

    // malformed layouts are errors naming the problem, in the advice builder and the pre-check
    let mut short = c.ctx.clone();
    short.rows[3].x.pop();
    let mut dot = c.ctx.clone();
    dot.shape.dot = false;
    dot.rows[5].q_dot = true;
    let mut table = c.ctx.clone();
    table.shape.tables = false;
    let mut copy = c.ctx.clone();
    copy.copies.push((CellRef { row: copy.rows.len(), col: Col::Out }, CellRef { row: 1, col: Col::X(0) }));
    let mut wide = c.ctx.clone();
    wide.instances.push((CellRef { row: 1, col: Col::X(wide.shape.width) }, 1));
    let hashed = circuit("attention", &ImportOptions { visibility: VisibilityOptions { weights: zkinfer_circuits::ir::WeightVisibility::Hashed, ..Default::default() }, ..Default::default() });
    let mut nohash = hashed.ctx.clone();
    nohash.shape.hash = false;
    let cases = [(short, "cells"), (dot, "dot-product"), (table, "function tables"), (copy, "outside"), (wide, "outside"), (nohash, "Poseidon")];
    for (i, (ctx, what)) in cases.into_iter().enumerate() {
        let e = witness::advice_columns(&ctx, 1 << 14).expect_err("malformed layout");
        assert!(e.contains(what), "case {i}: {e}");
        let e = ctx.check().expect_err("malformed layout");
        assert!(e.contains(what), "case {i}: {e}");
    }
}
