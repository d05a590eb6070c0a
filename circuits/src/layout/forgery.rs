//! The forgery suite: adversarial witnesses that change a model's output and are consistent
//! with every constraint but the one under test, and the mutation check that shows each
//! test bites.
//!
//! Tampering with an instance of an honest proof fails through Fiat–Shamir alone, so it says
//! nothing about the circuit. Here a forger edits the witness itself:
//!
//! * **solved** — the output value moves by one step; the edit spreads along copy
//!   constraints, and every gate it breaks is re-balanced through a free cell of that row (a
//!   limb, a remainder, a gap, an accumulator): what a cheating prover would do. Gates, copies
//!   and function tables then hold; only range lookups can stop it.
//! * **hint** — a gadget's free hint (a quotient, a clamp, a claimed maximum) is chosen
//!   dishonestly and every later cell computed honestly from it ([`super::cheat`]): the
//!   witness a cheating prover would write. Only range checks can stop it.
//! * **gate** — the output value and its copies move, nothing is re-balanced.
//! * **copy** — only the output's instance row moves: the copy into it is broken.
//! * **instance** — the witness is honest, the public output is not.
//! * **table** — a function-table output moves and the gates after it are re-balanced.
//! * **digest** — a hashed input moves (its digest recomputed honestly from the new data by
//!   the gadget) while the public digest stays the honest one.
//!
//! Each forgery must be rejected by the MockProver and by a real proof (KZG, SHPLONK); the
//! mutation check ([`super::circuit::mutation`]) then removes each kind of constraint in turn
//! and requires some forgery to pass without it, so no kind of constraint is untested.

use std::collections::{HashMap, HashSet, VecDeque};

use halo2_proofs::dev::MockProver;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{create_proof, keygen_pk, keygen_vk, verify_proof};
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::multiopen::{ProverSHPLONK, VerifierSHPLONK};
use halo2_proofs::poly::kzg::strategy::SingleStrategy;
use halo2_proofs::transcript::{Blake2bRead, Blake2bWrite, Challenge255, TranscriptReadBuffer, TranscriptWriterBuffer};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::cheat::{self, Site};
use super::circuit::{instance_values, mutation, ConstraintKind, ModelCircuit};
use super::ctx::{CellRef, Col, LayoutCtx, Shape, XCell};
use super::lay_out;
use super::tests::k_for;
use crate::ir::{Graph, Tensor, Visibility};

/// One forged witness and the public instances it claims.
#[derive(Clone)]
struct Forgery {
    name: String,
    ctx: LayoutCtx,
    instances: Vec<Fr>,
}

fn get(ctx: &LayoutCtx, c: CellRef) -> i128 {
    ctx.value(c)
}

fn put(ctx: &mut LayoutCtx, c: CellRef, v: i128) {
    match c.col {
        Col::X(j) => ctx.rows[c.row].x[j].get_or_insert(XCell { val: 0, lookup: false, inverse: false }).val = v,
        Col::Out => ctx.rows[c.row].out = Some(v),
    }
    // a wide word follows its halves
    ctx.refresh_wide_row(c.row);
}

/// Cells connected by copy constraints.
struct Copies(HashMap<CellRef, Vec<CellRef>>);

impl Copies {
    fn of(ctx: &LayoutCtx) -> Self {
        let mut m: HashMap<CellRef, Vec<CellRef>> = HashMap::new();
        for (a, b) in &ctx.copies {
            m.entry(*a).or_default().push(*b);
            m.entry(*b).or_default().push(*a);
        }
        Copies(m)
    }

    fn component(&self, c: CellRef) -> Vec<CellRef> {
        let (mut seen, mut todo) = (HashSet::from([c]), VecDeque::from([c]));
        while let Some(x) = todo.pop_front() {
            for &y in self.0.get(&x).into_iter().flatten() {
                if seen.insert(y) {
                    todo.push_back(y);
                }
            }
        }
        seen.into_iter().collect()
    }

    fn linked(&self, c: CellRef) -> bool {
        self.0.contains_key(&c)
    }
}

/// Sets `c` and every cell copied from or to it.
fn set_component(ctx: &mut LayoutCtx, copies: &Copies, c: CellRef, v: i128) {
    for x in copies.component(c) {
        put(ctx, x, v);
    }
}

/// How the gate's residual on `row` changes per unit of x cell `j` (the gate is affine in each
/// cell: its weight, plus the other factor where the cell is in a product); `None` for cells
/// the forger leaves alone (inverse cells, a function-table lookup's cells).
fn coefficient(row: &super::ctx::Row, j: usize) -> Option<i128> {
    let x = row.x[j]?;
    if x.inverse || (row.tag != 0 && j < 2) {
        return None;
    }
    let xv = |i: usize| row.x[i].map_or(0, |c| c.val);
    if row.q_mul && j < 2 && row.x[1 - j].is_some_and(|c| c.inverse) {
        return None;
    }
    let mut k = -row.w[j];
    if row.q_mul && j < 2 {
        k -= xv(1 - j);
    }
    if row.q_dot {
        let h = row.x.len() / 2;
        k -= if j < h { xv(j + h) } else { xv(j - h) };
    }
    (k != 0).then_some(k)
}

/// Re-balances every gate from row `from` on by moving one cell per broken row: a free cell
/// (in no copy; limbs first) whose coefficient ([`coefficient`]) divides the residual, the
/// row's own `out` (which the next row's chain then sees), the previous row's `out` in a chain,
/// or a cell moved with all its copies. Returns false when some gate could not be re-balanced.
fn rebalance(ctx: &mut LayoutCtx, copies: &Copies, from: usize, pinned: &HashSet<CellRef>) -> bool {
    let hashed: HashSet<CellRef> = ctx.hashes.iter().flat_map(|h| h.cells.iter().map(|c| c.cell)).collect();
    for _sweep in 0..32 {
        let mut all_ok = true;
        'rows: for r in from..ctx.rows.len() {
            let prev = if r == 0 { 0 } else { ctx.rows[r - 1].out.unwrap_or(0) };
            let res = ctx.rows[r].residual(prev);
            if res == 0 {
                continue;
            }
            all_ok = false;
            let row = &ctx.rows[r];
            let free = |c: CellRef| !copies.linked(c) && !pinned.contains(&c) && !hashed.contains(&c);
            let movable = |c: CellRef| copies.linked(c) && copies.component(c).iter().all(|x| x.row >= from && !pinned.contains(x) && !hashed.contains(x));
            let width = row.x.len();
            // candidates: (preference: limbs, other cells, out; cell; coefficient in the residual)
            let mut cands: Vec<(u8, CellRef, i128)> = (0..width)
                .filter_map(|j| coefficient(row, j).map(|k| (if row.x[j].is_some_and(|x| x.lookup) { 0 } else { 1 }, CellRef { row: r, col: Col::X(j) }, k)))
                .filter(|&(_, c, _)| free(c))
                .collect();
            if row.q_out && row.out.is_some() && free(CellRef { row: r, col: Col::Out }) {
                cands.push((2, CellRef { row: r, col: Col::Out }, 1));
            }
            // a product with an inverse cell (a·a⁻¹ = 1, a ≠ 0): the inverse follows its partner
            if row.q_mul {
                for (inv, other) in [(1usize, 0usize), (0, 1)] {
                    let c = CellRef { row: r, col: Col::X(inv) };
                    if row.x[inv].is_some_and(|x| x.inverse) && row.x[other].is_some_and(|x| !x.inverse && x.val != 0) && (free(c) || movable(c)) {
                        let v = row.x[other].map_or(0, |x| x.val);
                        set_component(ctx, copies, c, v);
                        continue 'rows;
                    }
                }
            }
            // a chained row: the previous row's out (that row is re-balanced in the next sweep)
            if row.q_chain && r > from && ctx.rows[r - 1].q_out && free(CellRef { row: r - 1, col: Col::Out }) {
                cands.push((2, CellRef { row: r - 1, col: Col::Out }, -1));
            }
            // last resort: a cell copied elsewhere, moved with its copies (all at or after
            // `from`, none pinned); the rows it reaches are re-balanced in the next sweep
            for j in 0..width {
                let c = CellRef { row: r, col: Col::X(j) };
                if let Some(k) = coefficient(row, j).filter(|_| movable(c)) {
                    cands.push((3, c, k));
                }
            }
            let out = CellRef { row: r, col: Col::Out };
            if row.q_out && row.out.is_some() && movable(out) {
                cands.push((3, out, 1));
            }
            cands.sort_by_key(|&(p, _, _)| p);
            let Some(&(_, c, coef)) = cands.iter().find(|&&(_, _, coef)| res.checked_rem(coef) == Some(0)) else {
                if std::env::var("FORGERY_DEBUG").is_ok() {
                    eprintln!("  cannot re-balance row {r} (residual {res}): {:?} w={:?} c={} q_out={} q_chain={} q_mul={} q_dot={} tag={} out={:?} cands={cands:?}", row.x, row.w, row.c, row.q_out, row.q_chain, row.q_mul, row.q_dot, row.tag, row.out);
                }
                return false;
            };
            let Some(v) = res.checked_div(coef).and_then(|d| get(ctx, c).checked_sub(d)) else { return false };
            set_component(ctx, copies, c, v);
        }
        if all_ok {
            return true;
        }
    }
    if std::env::var("FORGERY_DEBUG").is_ok() {
        let mut prev = 0;
        let broken: Vec<usize> = (0..ctx.rows.len()).filter(|&r| { let b = r >= from && ctx.rows[r].residual(prev) != 0; prev = ctx.rows[r].out.unwrap_or(0); b }).take(5).collect();
        eprintln!("  re-balancing does not settle; rows still broken: {broken:?}");
    }
    false
}

/// The first value cell of the first output tensor (public), found through its packing row,
/// and the row its node starts at.
fn output_value_cell(g: &Graph, ctx: &LayoutCtx) -> Option<(CellRef, usize)> {
    let counts = crate::public::tensor_instance_counts(g);
    let idx = 1 + counts[..g.inputs.len()].iter().sum::<usize>();
    let (packed, _) = ctx.instances.iter().find(|(_, i)| *i == idx)?;
    // a wide word joins two halves: its x[0] is a copy of the low half's cell
    let mut r = packed.row;
    if ctx.wide.contains_key(&r) {
        let low = CellRef { row: r, col: Col::X(0) };
        r = ctx.copies.iter().find(|(_, b)| *b == low)?.0.row;
    }
    // the value with weight 1 opens the half's chain
    let j = loop {
        let row = &ctx.rows[r];
        if let Some(j) = (0..row.x.len()).find(|&j| row.w[j] == 1 && row.x[j].is_some()) {
            break j;
        }
        if !row.q_chain || r == 0 {
            return None;
        }
        r -= 1;
    };
    let node = g.nodes.iter().position(|n| n.output == g.outputs[0].value)?;
    Some((CellRef { row: r, col: Col::X(j) }, ctx.node_start[node]))
}

/// A step within the output's bounds.
fn step(g: &Graph, v: i128) -> i128 {
    let info = g.info(g.outputs[0].value);
    if v < info.hi as i128 { v + 1 } else { v - 1 }
}

/// The honest witness with the output's first value and every copy of it moved one step.
fn moved_output(g: &Graph, honest: &LayoutCtx) -> Option<(LayoutCtx, Copies, CellRef, usize)> {
    let (cell, start) = output_value_cell(g, honest)?;
    let copies = Copies::of(honest);
    let mut ctx = honest.clone();
    let v = step(g, get(&ctx, cell));
    set_component(&mut ctx, &copies, cell, v);
    Some((ctx, copies, cell, start))
}

/// `out = c + Σ w·x` for a row whose gate defines its out cell that way.
fn linear_out(row: &super::ctx::Row) -> i128 {
    (0..row.x.len()).fold(row.c, |acc, j| acc.wrapping_add(row.w[j].wrapping_mul(row.x[j].map_or(0, |x| x.val))))
}

fn forge_solved(g: &Graph, honest: &LayoutCtx) -> Option<Forgery> {
    let (mut ctx, copies, cell, start) = moved_output(g, honest)?;
    let pinned: HashSet<CellRef> = copies.component(cell).into_iter().collect();
    rebalance(&mut ctx, &copies, start, &pinned).then(|| Forgery { name: "solved".into(), instances: instance_values(&ctx), ctx })
}

fn forge_gate(g: &Graph, honest: &LayoutCtx) -> Option<Forgery> {
    let (mut ctx, ..) = moved_output(g, honest)?;
    // the instance rows follow (out = packing of the value cells)
    let inst_rows: HashSet<usize> = ctx.instances.iter().map(|(c, _)| c.row).collect();
    for r in inst_rows {
        let row = &ctx.rows[r];
        if row.q_out && !row.q_chain && !row.q_mul && !row.q_dot {
            ctx.rows[r].out = Some(linear_out(row));
            ctx.refresh_wide_row(r);
        }
    }
    Some(Forgery { name: "gate".into(), instances: instance_values(&ctx), ctx })
}

fn forge_copy(g: &Graph, honest: &LayoutCtx) -> Option<Forgery> {
    let (cell, _) = output_value_cell(g, honest)?;
    let mut ctx = honest.clone();
    let v = step(g, get(&ctx, cell));
    put(&mut ctx, cell, v);
    // the packing chain from that row on, then the wide word joining it (if any): only the
    // value's own copy into the packing is broken
    let mut r = cell.row;
    loop {
        let prev = if ctx.rows[r].q_chain { ctx.rows[r - 1].out.unwrap_or(0) } else { 0 };
        ctx.rows[r].out = Some(prev.wrapping_add(linear_out(&ctx.rows[r])));
        if r + 1 < ctx.rows.len() && ctx.rows[r + 1].q_chain {
            r += 1;
        } else {
            break;
        }
    }
    let end = CellRef { row: r, col: Col::Out };
    let new = get(&ctx, end);
    for c in Copies::of(&ctx).component(end) {
        if c != end && ctx.wide.contains_key(&c.row) {
            put(&mut ctx, c, new);
        }
    }
    Some(Forgery { name: "copy".into(), instances: instance_values(&ctx), ctx })
}

fn forge_instance(g: &Graph, honest: &LayoutCtx) -> Option<Forgery> {
    let counts = crate::public::tensor_instance_counts(g);
    let idx = 1 + counts[..g.inputs.len()].iter().sum::<usize>();
    let mut instances = instance_values(honest);
    *instances.get_mut(idx)? += Fr::one();
    Some(Forgery { name: "instance".into(), ctx: honest.clone(), instances })
}

/// A function-table output moved by one, the gates after it re-balanced.
fn forge_table(honest: &LayoutCtx) -> Option<Forgery> {
    let copies = Copies::of(honest);
    let r = honest.rows.iter().rposition(|row| row.tag != 0)?;
    let cell = CellRef { row: r, col: Col::X(1) };
    let mut ctx = honest.clone();
    set_component(&mut ctx, &copies, cell, get(honest, cell) + 1);
    let pinned: HashSet<CellRef> = copies.component(cell).into_iter().chain([CellRef { row: r, col: Col::X(0) }]).collect();
    rebalance(&mut ctx, &copies, r, &pinned).then(|| Forgery { name: "table".into(), instances: instance_values(&ctx), ctx })
}

/// Whether two layouts are the same circuit (fixed columns, lookups, copies, instance and
/// hash bindings), whatever their witness values.
fn same_circuit(a: &LayoutCtx, b: &LayoutCtx) -> bool {
    let fixed = |r: &super::ctx::Row| (r.w.clone(), r.c, r.q_out, r.q_chain, r.q_mul, r.q_dot, r.tag, r.x.iter().map(|x| x.map(|c| (c.lookup, c.inverse))).collect::<Vec<_>>(), r.out.is_some());
    a.shape == b.shape
        && a.rows.len() == b.rows.len()
        && a.rows.iter().zip(&b.rows).all(|(x, y)| fixed(x) == fixed(y))
        && a.copies == b.copies
        && a.instances == b.instances
        && a.tables == b.tables
        && a.hashes.iter().map(|h| (h.cells.iter().map(|c| c.cell).collect::<Vec<_>>(), h.domain, h.instance)).eq(b.hashes.iter().map(|h| (h.cells.iter().map(|c| c.cell).collect::<Vec<_>>(), h.domain, h.instance)))
}

/// A gadget's free hint chosen dishonestly ([`super::cheat`]) and every later cell computed
/// honestly from it: per kind of hint, the first site whose cheat moves a public output.
/// Consistent with every gate, copy and table; only a range check can stop it.
fn forge_hints(g: &Graph, inputs: &[Tensor], shape: Shape, honest: &LayoutCtx) -> Vec<Forgery> {
    let counts = crate::public::tensor_instance_counts(g);
    let outs = 1 + counts[..g.inputs.len()].iter().sum::<usize>()..1 + counts[..g.inputs.len() + g.outputs.len()].iter().sum::<usize>();
    let honest_inst = instance_values(honest);
    let mut found = Vec::new();
    for site in [Site::Rescale, Site::Clamp, Site::Div, Site::MaxPool] {
        for n in 0..512 {
            let (res, reached) = cheat::armed(site, n, || lay_out(g, inputs, shape));
            if !reached {
                break;
            }
            let Ok(ctx) = res else { continue };
            let instances = instance_values(&ctx);
            if same_circuit(honest, &ctx) && instances[outs.clone()] != honest_inst[outs.clone()] {
                found.push(Forgery { name: format!("hint-{site:?}"), ctx, instances });
                break;
            }
        }
    }
    found
}

/// The honest witness for another value of a hashed input, claiming the honest input's
/// digest: the gadget hashes the data the witness holds, so only the digest's binding to its
/// public instance stands in the way.
fn forge_digest(g: &Graph, inputs: &[Tensor], shape: Shape, honest: &LayoutCtx) -> Option<Forgery> {
    let h = honest.hashes.first()?;
    let i = g.inputs.iter().position(|s| s.visibility == Visibility::Hashed)?;
    let mut other = inputs.to_vec();
    let spec = &g.inputs[i];
    let v = other[i].data[0];
    other[i].data[0] = if v < spec.hi { v + 1 } else { v - 1 };
    let ctx = lay_out(g, &other, shape).ok()?;
    let mut instances = instance_values(&ctx);
    instances[h.instance] = instance_values(honest)[h.instance];
    Some(Forgery { name: "digest".into(), ctx, instances })
}

fn mock_accepts(ctx: &LayoutCtx, instances: &[Fr]) -> bool {
    let c = ModelCircuit { ctx: ctx.clone() };
    MockProver::run(k_for(c.rows()), &c, vec![instances.to_vec()]).is_ok_and(|m| m.verify().is_ok())
}

/// A real proof of the forged witness under the honest circuit's keys: whether it verifies.
fn real_proof_verifies(honest: &LayoutCtx, f: &Forgery) -> bool {
    let k = k_for(ModelCircuit { ctx: honest.clone() }.rows());
    let mut rng = ChaCha8Rng::seed_from_u64(k as u64);
    let params = ParamsKZG::<Bn256>::setup(k, &mut rng);
    let honest_c = ModelCircuit { ctx: honest.clone() };
    let vk = keygen_vk(&params, &honest_c).expect("keygen vk");
    let pk = keygen_pk(&params, vk, &honest_c).expect("keygen pk");
    let inst: [&[Fr]; 1] = [&f.instances];
    let mut tw = Blake2bWrite::<_, G1Affine, Challenge255<_>>::init(vec![]);
    let forged = ModelCircuit { ctx: f.ctx.clone() };
    if create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(&params, &pk, &[forged], &[&inst], &mut rng, &mut tw).is_err() {
        return false;
    }
    let proof = tw.finalize();
    let mut tr = Blake2bRead::<_, G1Affine, Challenge255<_>>::init(&proof[..]);
    verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<'_, Bn256>, _, _, SingleStrategy<'_, Bn256>>(&params, pk.get_vk(), SingleStrategy::new(&params), &[&inst], &mut tr).is_ok()
}

/// Runs every forgery of one graph: each is rejected by the MockProver and by a real proof,
/// and accepted once some one kind of constraint is removed. Returns, per forgery, the kinds
/// whose removal lets it through.
fn run_suite(name: &str, g: &Graph, inputs: &[Tensor], shape: Shape, real: bool) -> Vec<(String, Vec<ConstraintKind>)> {
    let honest = lay_out(g, inputs, shape).expect("layout");
    honest.check().expect("honest witness");
    assert!(mock_accepts(&honest, &instance_values(&honest)), "{name}: honest witness rejected");
    let mut forgeries: Vec<Forgery> = [forge_solved(g, &honest), forge_gate(g, &honest), forge_copy(g, &honest), forge_instance(g, &honest), forge_table(&honest), forge_digest(g, inputs, shape, &honest)].into_iter().flatten().collect();
    forgeries.extend(forge_hints(g, inputs, shape, &honest));
    let mut out = Vec::new();
    for f in &forgeries {
        assert!(!mock_accepts(&f.ctx, &f.instances), "{name}/{}: forgery accepted by the MockProver", f.name);
        if real {
            assert!(!real_proof_verifies(&honest, f), "{name}/{}: forgery verified as a real proof", f.name);
        }
        let bites: Vec<ConstraintKind> = ConstraintKind::ALL.into_iter().filter(|&kind| mutation::without(kind, || mock_accepts(&f.ctx, &f.instances))).collect();
        eprintln!("{name}/{}: rejected; accepted without {bites:?}", f.name);
        if bites.is_empty() {
            // it breaks several kinds at once (still rejected): say which, for the record
            let c = ModelCircuit { ctx: f.ctx.clone() };
            let fails = MockProver::run(k_for(c.rows()), &c, vec![f.instances.clone()]).map(|m| m.verify().err().unwrap_or_default()).unwrap_or_default();
            eprintln!("  breaks: {:?}", fails.iter().take(3).map(|e| format!("{e}")).collect::<Vec<_>>());
            assert!(f.name == "solved" || f.name == "table", "{name}/{}: a single-constraint forgery isolates no constraint kind", f.name);
        }
        if f.name.starts_with("hint-") {
            assert!(bites.contains(&ConstraintKind::Range), "{name}/{}: a dishonest hint must be stopped by the range checks alone, got {bites:?}", f.name);
        }
        out.push((format!("{name}/{}", f.name), bites));
    }
    out
}

/// Every gadget family, forged; then the mutation check over the whole suite.
#[test]
fn forgeries_are_rejected_and_every_constraint_kind_bites() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ops");
    let mut results = Vec::new();
    // rescale with clamping (dense -> rescale -> relu), ties to even
    results.extend(rescale_family());
    // div, sqrt, tables and interpolation, comparisons and one-hot selection, max, sorting
    for (name, real) in [("div_one_plus_sq", true), ("sqrt", true), ("sigmoid_int8", true), ("gelu", true), ("argmax", true), ("where", false), ("reducemax", false), ("topk", false), ("softmax_int8", false)] {
        let d = dir.join(name);
        let g = crate::onnx::import_file(&d.join("model.onnx"), &crate::onnx::ImportOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("samples.json")).expect("samples")).expect("json");
        let x: Vec<f64> = s["inputs"][0].as_array().expect("input").iter().map(|v| v.as_f64().expect("number")).collect();
        let q = crate::exec::quantize_input(&g.inputs[0], &x, true).expect("quantize");
        results.extend(run_suite(name, &g, &[q], Shape::default(), real));
    }
    // max pool, a direct function table, and Poseidon with packing of a hashed input
    results.extend(maxpool_family());
    results.extend(table_family());
    results.extend(hashed_family());
    // sums of products of two activations on dot-product rows (attention's MatMuls)
    results.extend(product_sum_family());
    for kind in ConstraintKind::ALL {
        let caught: Vec<&str> = results.iter().filter(|(_, b)| b.contains(&kind)).map(|(n, _)| n.as_str()).collect();
        eprintln!("without {kind:?}: {} forgeries pass ({caught:?})", caught.len());
        assert!(!caught.is_empty(), "no forgery depends on {kind:?}: removing it would go unnoticed");
    }
    let solved: Vec<&str> = results.iter().filter(|(n, _)| n.ends_with("/solved")).map(|(n, _)| n.as_str()).collect();
    eprintln!("re-balanced forgeries: {solved:?}");
    // every family has a forgery that only the range checks stop: re-balanced, or a dishonest hint
    // (but the pure function tables, whose outputs only the table fixes, and the sums of
    // products, whose cells are all copies of their inputs: nothing in them is free to re-balance)
    let families: HashSet<&str> = results.iter().map(|(n, _)| n.split('/').next().expect("name")).filter(|f| !["sigmoid_int8", "table", "product_sum", "product_sum_zp"].contains(f)).collect();
    for fam in families {
        let range_only = results.iter().filter(|(n, b)| n.starts_with(&format!("{fam}/")) && (n.ends_with("/solved") || n.contains("/hint-")) && b.contains(&ConstraintKind::Range)).count();
        assert!(range_only > 0, "{fam}: no forgery that only the range checks stop");
    }
}

fn rescale_family() -> Vec<(String, Vec<ConstraintKind>)> {
    use crate::ops::{Op, Rescale, RescaleTerm};
    let mut res = Vec::new();
    for (name, half_even, lo, hi, x) in [("rescale_clamp", false, 0i64, 100i64, 200i64), ("rescale_tie_even", true, -128, 127, 77)] {
        let mut g = Graph::default();
        let v = g.add_value("x", vec![1, 2], 0, 255).expect("bound");
        g.inputs.push(crate::ir::InputSpec { name: "x".into(), value: v, shape: vec![1, 2], scale: 1.0, zero_point: 0, lo: 0, hi: 255, saturates: false, visibility: Default::default() });
        let mult = if half_even { 128 } else { 100 };
        let r = Rescale { terms: vec![RescaleTerm { input: v, zero_point: 3, mult: vec![mult] }], channel_axis: 1, bias: vec![], shift: 8, out_zp: 0, lo, hi, half_even };
        let y = g.add_node("q", Op::Rescale(r)).expect("rescale");
        g.outputs.push(crate::ir::OutputSpec { name: "y".into(), value: y, shape: vec![1, 2], scale: 1.0, zero_point: 0, visibility: Default::default() });
        res.extend(run_suite(name, &g, &[Tensor::new(vec![1, 2], vec![x, 255]).expect("x")], Shape::default(), true));
    }
    res
}

fn maxpool_family() -> Vec<(String, Vec<ConstraintKind>)> {
    use crate::ops::window::Window2d;
    use crate::ops::{MaxPool, Op};
    let mut g = Graph::default();
    let v = g.add_value("x", vec![1, 1, 4, 4], -50, 50).expect("bound");
    g.inputs.push(crate::ir::InputSpec { name: "x".into(), value: v, shape: vec![1, 1, 4, 4], scale: 1.0, zero_point: 0, lo: -50, hi: 50, saturates: false, visibility: Default::default() });
    let y = g.add_node("pool", Op::MaxPool(MaxPool { input: v, window: Window2d { kernel: [2, 2], strides: [2, 2], pads: [0; 4], dilations: [1, 1] } })).expect("pool");
    g.outputs.push(crate::ir::OutputSpec { name: "y".into(), value: y, shape: g.info(y).shape.clone(), scale: 1.0, zero_point: 0, visibility: Default::default() });
    let x = Tensor::new(vec![1, 1, 4, 4], (0..16).map(|i| (i * 37 % 101) - 50).collect()).expect("x");
    run_suite("maxpool", &g, &[x], Shape::default(), true)
}

fn table_family() -> Vec<(String, Vec<ConstraintKind>)> {
    use crate::ops::{Op, Table};
    let mut g = Graph::default();
    let v = g.add_value("x", vec![1, 4], -8, 7).expect("bound");
    g.inputs.push(crate::ir::InputSpec { name: "x".into(), value: v, shape: vec![1, 4], scale: 1.0, zero_point: 0, lo: -8, hi: 7, saturates: false, visibility: Default::default() });
    let values: Vec<i64> = (-8i64..=7).map(|x| x * x / 2 + 1).collect();
    let y = g.add_node("t", Op::Table(Table { input: v, func: "Square".into(), lo: -8, values })).expect("table");
    g.outputs.push(crate::ir::OutputSpec { name: "y".into(), value: y, shape: vec![1, 4], scale: 1.0, zero_point: 0, visibility: Default::default() });
    let x = Tensor::new(vec![1, 4], vec![-8, 3, 0, 7]).expect("x");
    run_suite("table", &g, &[x], Shape::default(), true)
}

/// A sum of products as a chain of dot-product rows ending in the output (no zero points),
/// and one whose zero-point terms end it on a linear row: moving the output is stopped by the
/// gate (the chain's last row), breaking its copy by the copy constraint.
fn product_sum_family() -> Vec<(String, Vec<ConstraintKind>)> {
    let mut res = Vec::new();
    for (name, za, zb) in [("product_sum", 0, 0), ("product_sum_zp", 3, -2)] {
        let (g, inputs) = super::tests::product_sum_graph(za, zb, 5);
        let found = run_suite(name, &g, &inputs, Shape::new(4, 1), true);
        assert!(found.iter().any(|(n, b)| n.ends_with("/gate") && b == &[ConstraintKind::Gate]), "{name}: the moved sum is stopped by the gate alone: {found:?}");
        res.extend(found);
    }
    res
}

fn hashed_family() -> Vec<(String, Vec<ConstraintKind>)> {
    use crate::ops::{Op, Rescale, RescaleTerm};
    let mut g = Graph::default();
    let v = g.add_value("x", vec![1, 3], 0, 255).expect("bound");
    g.inputs.push(crate::ir::InputSpec { name: "x".into(), value: v, shape: vec![1, 3], scale: 1.0, zero_point: 0, lo: 0, hi: 255, saturates: false, visibility: Visibility::Hashed });
    let r = Rescale { terms: vec![RescaleTerm { input: v, zero_point: 0, mult: vec![1 << 8] }], channel_axis: 1, bias: vec![], shift: 8, out_zp: 0, lo: 0, hi: 255, half_even: false };
    let y = g.add_node("id", Op::Rescale(r)).expect("rescale");
    g.outputs.push(crate::ir::OutputSpec { name: "y".into(), value: y, shape: vec![1, 3], scale: 1.0, zero_point: 0, visibility: Default::default() });
    let x = Tensor::new(vec![1, 3], vec![7, 200, 31]).expect("x");
    run_suite("hashed_input", &g, &[x], Shape::new(6, 2), true)
}
