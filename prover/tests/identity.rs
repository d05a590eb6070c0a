//! The model identity covers the constraint system, not just the key bytes.
//!
//! The forgery it stops: halo2 rebuilds gates and lookups from the circuit shape, not from
//! the key bytes. Shape A = 4 advice columns with range lookups on 2 of them and shape B = 4
//! columns, 1 lookup column and the dot-product term have the same fixed and equality
//! columns, so A's key bytes read as a B key: A's first range selector becomes B's
//! dot-product selector and its second B's only range selector. For a requantization
//! y = round(100·x / 2^8) the range checks vanish and y can be anything. sha256 of the key
//! bytes (the old identity) is the same for both; the identity is not.

mod common;

use zkinfer_circuits::ir::{Graph, InputSpec, OutputSpec, Tensor};
use zkinfer_circuits::layout::circuit::{instance_values, ModelCircuit};
use zkinfer_circuits::layout::ctx::{Col, LayoutCtx, Shape, XCell};
use zkinfer_circuits::layout::lay_out;
use zkinfer_circuits::ops::{Op, Rescale, RescaleTerm};
use zkinfer_prover::identity::{model_id, IdentityParts};
use zkinfer_prover::keys::{load_vk, read_vk, vk_bytes, write_keys};
use zkinfer_prover::{keygen, k_for_rows, prove, srs, verify, vk_hash, Fr, ProverError, Verdict};

const A: Shape = Shape::new(4, 2);
const B: Shape = Shape { width: 4, lookup_width: 1, tables: false, hash: false, dot: true, public_column: false, pairs: false };

/// y = clamp(round(100·x / 2^8), 0, 127), x in [0, 255]: x = 200 gives 78.
fn rescale_graph() -> Graph {
    let mut g = Graph::default();
    let x = g.add_value("x", vec![1, 1], 0, 255).expect("bound");
    g.inputs.push(InputSpec { name: "x".into(), value: x, shape: vec![1, 1], scale: 1.0, zero_point: 0, lo: 0, hi: 255, saturates: false, visibility: Default::default() });
    let r = Rescale { terms: vec![RescaleTerm { input: x, zero_point: 0, mult: vec![100] }], channel_axis: 1, bias: vec![], shift: 8, out_zp: 0, lo: 0, hi: 127, half_even: false };
    let y = g.add_node("q", Op::Rescale(r)).expect("rescale");
    g.outputs.push(OutputSpec { name: "y".into(), value: y, shape: vec![1, 1], scale: 1.0, zero_point: 0, visibility: Default::default() });
    g
}

/// A's layout as the circuit its fixed columns describe under shape B: rows with a range
/// check on x[0] are dot rows, and x[1]'s range checks move to x[0].
fn read_as_b(a: &LayoutCtx) -> LayoutCtx {
    let mut b = a.clone();
    b.shape = B;
    for row in &mut b.rows {
        let (l0, l1) = (row.x[0].is_some_and(|c| c.lookup), row.x[1].is_some_and(|c| c.lookup));
        row.q_dot = l0;
        for (j, l) in [(0, l1), (1, false)] {
            match (&mut row.x[j], l) {
                (Some(c), _) => c.lookup = l,
                (None, true) => row.x[j] = Some(XCell { val: 0, lookup: true, inverse: false }),
                (None, false) => {}
            }
        }
        // dot rows need every product cell assigned
        if row.q_dot {
            for j in 0..4 {
                row.x[j].get_or_insert(XCell { val: 0, lookup: false, inverse: false });
            }
        }
    }
    b
}

fn set(ctx: &mut LayoutCtx, row: usize, col: Col, v: i128) {
    match col {
        Col::X(j) => ctx.rows[row].x[j].as_mut().expect("assigned cell").val = v,
        Col::Out => ctx.rows[row].out = Some(v),
    }
}

#[test]
fn a_reheadered_key_is_another_model() {
    let g = rescale_graph();
    let x = Tensor::new(vec![1, 1], vec![200]).expect("x");
    let honest = lay_out(&g, std::slice::from_ref(&x), A).expect("layout");
    let k = k_for_rows(ModelCircuit { ctx: honest.clone() }.rows());
    let (params, _) = srs::dev_srs(k).expect("srs");
    let pk_a = keygen(&params, &ModelCircuit { ctx: honest.clone() }).expect("keygen A");
    assert_eq!(instance_values(&honest)[2], Fr::from(78u64), "the honest output");

    // the same fixed columns under shape B: the same key bytes, the old identity collides
    let as_b = read_as_b(&honest);
    let pk_b = keygen(&params, &ModelCircuit { ctx: as_b.clone() }).expect("keygen B");
    assert_eq!(vk_bytes(pk_a.get_vk()), vk_bytes(pk_b.get_vk()), "A's key bytes are a B key");
    assert_eq!(vk_hash(pk_a.get_vk()), vk_hash(pk_b.get_vk()));
    assert_ne!(pk_a.get_vk().transcript_repr(), pk_b.get_vk().transcript_repr());

    // the forgery: under B nothing range-checks the rescale, so y = 5 instead of 78 (rows
    // as laid out by Rescale: y's limb, the hi - y gap, the remainder; the dot terms of the
    // former range-check rows are cancelled with free cells)
    let mut forged = as_b.clone();
    let y = 5i128;
    let rows = &honest.rows;
    let find = |pred: &dyn Fn(&zkinfer_circuits::layout::ctx::Row) -> bool| rows.iter().position(pred).expect("row");
    let limb = find(&|r| r.q_out && r.x[0].is_some_and(|c| c.lookup && c.val == 78));
    let gap = find(&|r| r.c == -127);
    let rem = find(&|r| r.w[2] == 100 && r.w[3] == -256);
    set(&mut forged, limb, Col::X(0), y);
    set(&mut forged, limb, Col::Out, y);
    let y_cell = zkinfer_circuits::layout::ctx::CellRef { row: limb, col: Col::Out };
    for (a, b) in &honest.copies {
        for (from, to) in [(a, b), (b, a)] {
            if *from == y_cell {
                set(&mut forged, to.row, to.col, y);
            }
        }
    }
    set(&mut forged, gap, Col::X(0), 127 - y);
    let r = 100 * 200 - 256 * y + 128;
    set(&mut forged, rem, Col::X(0), r);
    // rows that define their out cell (out = Σ w·x + c) follow
    for row in &mut forged.rows {
        if row.q_out && !row.q_chain && !row.q_mul && !row.q_dot {
            row.out = Some(row.c + (0..4).map(|j| row.w[j] * row.x[j].map_or(0, |c| c.val)).sum::<i128>());
        }
    }
    // cancel x0·x2 + x1·x3 on the dot rows with x1 (and x3 where x1·x3 is free)
    for i in [limb, gap] {
        let (x0, x2) = (forged.rows[i].x[0].map_or(0, |c| c.val), forged.rows[i].x[2].map_or(0, |c| c.val));
        set(&mut forged, i, Col::X(1), 1);
        set(&mut forged, i, Col::X(3), -x0 * x2);
    }
    let (x0, x2, x3) = (r, 200i128, y);
    assert_eq!((x0 * x2) % x3, 0);
    set(&mut forged, rem, Col::X(1), -(x0 * x2) / x3);
    forged.check().expect("the forged witness satisfies every constraint of B");
    let inst = instance_values(&forged);
    assert_eq!(inst[2], Fr::from(5u64), "forged output");
    let proof = prove(&params, &pk_b, &ModelCircuit { ctx: forged }, &inst, common::rng()).expect("prove forged");
    assert_eq!(verify(&params, pk_b.get_vk(), &inst, &proof), Verdict::Valid, "the forgery is a valid proof under the re-headered key");

    // the identity tells the two apart, and the key files refuse the swap
    let (ga, gb) = (g.clone(), g);
    let parts_a = IdentityParts { shape: A, params: &params, graph: &ga };
    let parts_b = IdentityParts { shape: B, params: &params, graph: &gb };
    assert_ne!(model_id(pk_a.get_vk(), &parts_a), model_id(pk_b.get_vk(), &parts_b));
    let dir = common::scratch("identity-reheader");
    let (vk_path, pk_path) = (dir.join("vk.bin"), dir.join("pk.bin"));
    let honest_id = write_keys(&vk_path, &pk_path, &pk_a, &parts_a).expect("write A");
    assert_eq!(load_vk(&vk_path, &parts_a).expect("honest").1.model_id, honest_id);
    // re-header: width word says B, checksum recomputed (the old reader accepted this)
    let mut bytes = std::fs::read(&vk_path).expect("vk");
    bytes[12..16].copy_from_slice(&(4u32 | 1 << 18).to_le_bytes());
    bytes[16..20].copy_from_slice(&1u32.to_le_bytes());
    let rehead = |bytes: &mut Vec<u8>| {
        use sha2::{Digest, Sha256};
        let sum: [u8; 32] = Sha256::new().chain_update(&bytes[..124]).chain_update(&bytes[156..]).finalize().into();
        bytes[124..156].copy_from_slice(&sum);
    };
    rehead(&mut bytes);
    std::fs::write(&vk_path, &bytes).expect("write");
    let (vk_read, h) = read_vk(&vk_path).expect("a well-formed file");
    assert_eq!(h.shape, B);
    assert_eq!(vk_hash(&vk_read), vk_hash(pk_a.get_vk()), "same key bytes");
    for parts in [&parts_a, &parts_b] {
        let e = load_vk(&vk_path, parts).expect_err("re-headered key");
        assert!(matches!(e, ProverError::IdentityMismatch { .. }), "{e}");
    }
    // an attacker who also rewrites the recorded identity gets B's identity, not A's
    let forged_id = model_id(&vk_read, &parts_b);
    bytes[84..116].copy_from_slice(&forged_id.0);
    rehead(&mut bytes);
    std::fs::write(&vk_path, &bytes).expect("write");
    let (_, h) = load_vk(&vk_path, &parts_b).expect("self-consistent B files");
    assert_ne!(h.model_id, honest_id, "a proof checked against model A's identity is refused");
}

/// Paired range lookups ([`Shape::pairs`]) are a circuit of their own: a real proof of the
/// paired layout verifies (and a wrong output does not), its identity and key header say
/// pairs, and its keys are refused for the same layout without pairs, and the other way round,
/// even when the header's pair flag is rewritten with the checksum.
#[test]
fn pair_lookups_are_part_of_the_identity() {
    let g = rescale_graph();
    let x = Tensor::new(vec![1, 1], vec![200]).expect("x");
    let paired = A.paired();
    let ctx = lay_out(&g, std::slice::from_ref(&x), paired).expect("layout");
    assert!(ctx.shape.pairs);
    let circuit = ModelCircuit { ctx: ctx.clone() };
    let k = k_for_rows(circuit.rows());
    assert_eq!(k, 17, "the pair table's 2^16 rows");
    let (params, _) = srs::dev_srs(k).expect("srs");
    let pk = keygen(&params, &circuit).expect("keygen");
    let inst = instance_values(&ctx);
    assert_eq!(inst[2], Fr::from(78u64), "the honest output");
    let proof = prove(&params, &pk, &circuit, &inst, common::rng()).expect("prove");
    assert_eq!(verify(&params, pk.get_vk(), &inst, &proof), Verdict::Valid);
    let mut wrong = inst.clone();
    wrong[2] = Fr::from(79u64);
    assert_ne!(verify(&params, pk.get_vk(), &wrong, &proof), Verdict::Valid, "a wrong output");

    // the same layout without pairs: another key and another identity
    let unpaired = ModelCircuit { ctx: { let mut c = ctx.clone(); c.shape.pairs = false; c } };
    let pk_u = keygen(&params, &unpaired).expect("keygen unpaired");
    assert_ne!(vk_hash(pk.get_vk()), vk_hash(pk_u.get_vk()));
    let parts_p = IdentityParts { shape: paired, params: &params, graph: &g };
    let parts_u = IdentityParts { shape: A, params: &params, graph: &g };
    assert_ne!(model_id(pk.get_vk(), &parts_p), model_id(pk_u.get_vk(), &parts_u));
    assert_ne!(model_id(pk.get_vk(), &parts_p), model_id(pk.get_vk(), &parts_u), "the pair flag is in the identity");
    let dir = common::scratch("identity-pairs");
    let (vk_path, pk_path) = (dir.join("vk.bin"), dir.join("pk.bin"));
    let id = write_keys(&vk_path, &pk_path, &pk, &parts_p).expect("write");
    let (_, h) = load_vk(&vk_path, &parts_p).expect("paired keys load");
    assert_eq!((h.model_id, h.shape), (id, paired));
    assert!(load_vk(&vk_path, &parts_u).is_err(), "paired keys read as unpaired");
    // the header's pair flag (bit 20 of the width word) cleared, checksum recomputed
    let mut bytes = std::fs::read(&vk_path).expect("vk");
    let w = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
    assert_eq!(w >> 20 & 1, 1, "the header says pairs");
    bytes[12..16].copy_from_slice(&(w & !(1 << 20)).to_le_bytes());
    use sha2::{Digest, Sha256};
    let sum: [u8; 32] = Sha256::new().chain_update(&bytes[..124]).chain_update(&bytes[156..]).finalize().into();
    bytes[124..156].copy_from_slice(&sum);
    std::fs::write(&vk_path, &bytes).expect("write");
    for parts in [&parts_p, &parts_u] {
        assert!(load_vk(&vk_path, parts).is_err(), "a re-headered paired key loaded as {:?}", parts.shape);
    }
}
