//! The Poseidon gadget: proves `digest = hash::digest(packed cells)` for each `hashed` tensor
//! ([`crate::hash`] defines the hash; this file only constrains it).
//!
//! It adds no advice columns: its rows follow the model's rows in the same columns, with the
//! universal gate switched off there (it is multiplied by `1 - q_full - q_part - q_abs`) and
//! three fixed selectors of its own. A hashing circuit needs `width >= 6`. On its rows
//! `x[0..3]` hold the state, `x[3..6]` the S-box squares (and on absorb rows the message), the
//! fixed `w[0..3]` the round constants. One hash of `n` elements takes
//! `blocks · (1 + 65) + 1` rows, `blocks = max(1, ⌈n/2⌉)`:
//!
//! ```text
//! absorb row (q_abs):  x' = x + (0, w3·x3, w4·x4)    x3, x4 = message, copy-constrained to the
//!                      packed cells; w3, w4 ∈ {0, 1} (0 = padding); on the first block w5 = 1
//!                      and x = (c, 0, 0) with c = the capacity domain·2^64
//! round rows (q_full / q_part, 65): a = x[0..3] + w[0..3], x[3+j] = a_j², x' = M·(x[3+j]²·a_j)
//!                      (partial rounds: only j = 0 goes through the S-box)
//! output row (no selector): x0 = the digest, copy-constrained to its public instance
//! ```
//!
//! Every Poseidon constraint has degree at most 4 (the squares are witnessed) and the switched
//! universal gate 4, below the degree 5 the lookup arguments already need: hashing does not
//! enlarge the extended evaluation domain.

use halo2_proofs::circuit::{Cell, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{Advice, Any, Column, ConstraintSystem, Error, Expression, Fixed};
use halo2_proofs::poly::Rotation;

use crate::hash::{self, RATE, ROUNDS, T};

/// Advice columns a hashing circuit needs.
pub const MIN_WIDTH: usize = 2 * T;

/// Rows one hash of `n` message elements takes.
pub fn rows_for(n: usize) -> usize {
    n.div_ceil(RATE).max(1) * (1 + ROUNDS) + 1
}

/// The gadget's selectors and the shared columns it uses.
#[derive(Clone, Debug)]
pub struct PoseidonConfig {
    pub x: [Column<Advice>; 2 * T],
    pub w: [Column<Fixed>; 2 * T],
    pub c: Column<Fixed>,
    pub q_abs: Column<Fixed>,
    pub q_full: Column<Fixed>,
    pub q_part: Column<Fixed>,
}

/// One row of a hash's trace: the values of `x[0..6]` and of the fixed columns.
#[derive(Clone, Debug, Default)]
pub struct TraceRow {
    pub x: [Fr; 2 * T],
    pub w: [Fr; 2 * T],
    pub c: Fr,
    pub abs: bool,
    pub full: bool,
    pub part: bool,
}

/// The rows proving the digest of `msg` under `domain` ([`hash::digest_in`]); the last row's
/// `x[0]` is the digest. The row structure depends only on `msg.len()` and `domain`.
pub fn trace(domain: u64, msg: &[Fr]) -> Vec<TraceRow> {
    let c = hash::constants();
    let blocks = hash::blocks(msg);
    let cap = hash::capacity(domain);
    let mut rows = Vec::with_capacity(rows_for(msg.len()));
    let mut state = [cap, Fr::ZERO, Fr::ZERO];
    let bit = |b: bool| if b { Fr::ONE } else { Fr::ZERO };
    for (b, block) in blocks.iter().enumerate() {
        let real = |j: usize| bit(b * RATE + j < msg.len());
        rows.push(TraceRow {
            x: [state[0], state[1], state[2], block[0], block[1], Fr::ZERO],
            w: [Fr::ZERO, Fr::ZERO, Fr::ZERO, real(0), real(1), bit(b == 0)],
            c: if b == 0 { cap } else { Fr::ZERO },
            abs: true,
            ..Default::default()
        });
        state[1] += block[0];
        state[2] += block[1];
        for r in 0..ROUNDS {
            let full = hash::is_full(r);
            let mut x = [state[0], state[1], state[2], Fr::ZERO, Fr::ZERO, Fr::ZERO];
            for j in 0..T {
                if full || j == 0 {
                    x[T + j] = (state[j] + c.rc[r][j]).square();
                }
            }
            let w = [c.rc[r][0], c.rc[r][1], c.rc[r][2], Fr::ZERO, Fr::ZERO, Fr::ZERO];
            rows.push(TraceRow { x, w, full, part: !full, ..Default::default() });
            hash::round(&mut state, r);
        }
    }
    rows.push(TraceRow { x: [state[0], state[1], state[2], Fr::ZERO, Fr::ZERO, Fr::ZERO], ..Default::default() });
    rows
}

impl PoseidonConfig {
    /// Creates the selectors and gates over the shared columns (`x` with equality enabled).
    /// The caller multiplies its own gates by [`Self::off`].
    pub fn configure(meta: &mut ConstraintSystem<Fr>, x: [Column<Advice>; 2 * T], w: [Column<Fixed>; 2 * T], c: Column<Fixed>) -> Self {
        let (q_abs, q_full, q_part) = (meta.fixed_column(), meta.fixed_column(), meta.fixed_column());
        let mds = hash::constants().mds;
        meta.create_gate("poseidon absorb", |m| {
            let q = m.query_fixed(q_abs, Rotation::cur());
            let cur: Vec<_> = x.iter().map(|&col| m.query_advice(col, Rotation::cur())).collect();
            let next: Vec<_> = x[..T].iter().map(|&col| m.query_advice(col, Rotation::next())).collect();
            let f: Vec<_> = w.iter().map(|&col| m.query_fixed(col, Rotation::cur())).collect();
            let cap = m.query_fixed(c, Rotation::cur());
            let init = q.clone() * f[5].clone();
            vec![
                q.clone() * (next[0].clone() - cur[0].clone()),
                q.clone() * (next[1].clone() - cur[1].clone() - f[3].clone() * cur[3].clone()),
                q * (next[2].clone() - cur[2].clone() - f[4].clone() * cur[4].clone()),
                init.clone() * (cur[0].clone() - cap),
                init.clone() * cur[1].clone(),
                init * cur[2].clone(),
            ]
        });
        for (name, sel, full) in [("poseidon full round", q_full, true), ("poseidon partial round", q_part, false)] {
            meta.create_gate(name, |m| {
                let q = m.query_fixed(sel, Rotation::cur());
                let a: Vec<Expression<Fr>> = (0..T).map(|j| m.query_advice(x[j], Rotation::cur()) + m.query_fixed(w[j], Rotation::cur())).collect();
                let sq: Vec<_> = (0..T).map(|j| m.query_advice(x[T + j], Rotation::cur())).collect();
                let next: Vec<_> = x[..T].iter().map(|&col| m.query_advice(col, Rotation::next())).collect();
                let boxed = |j: usize| -> Expression<Fr> { if full || j == 0 { sq[j].clone() * sq[j].clone() * a[j].clone() } else { a[j].clone() } };
                let mut out = Vec::new();
                for j in 0..T {
                    if full || j == 0 {
                        out.push(q.clone() * (sq[j].clone() - a[j].clone() * a[j].clone()));
                    }
                }
                for (i, row) in mds.iter().enumerate() {
                    let mix = (0..T).fold(Expression::Constant(Fr::ZERO), |acc, j| acc + Expression::Constant(row[j]) * boxed(j));
                    out.push(q.clone() * (next[i].clone() - mix));
                }
                out
            });
        }
        PoseidonConfig { x, w, c, q_abs, q_full, q_part }
    }

    /// `1 - q_abs - q_full - q_part`: zero on the gadget's rows, one elsewhere.
    pub fn off(q_abs: Column<Fixed>, q_full: Column<Fixed>, q_part: Column<Fixed>, m: &mut halo2_proofs::plonk::VirtualCells<'_, Fr>) -> Expression<Fr> {
        Expression::Constant(Fr::ONE) - m.query_fixed(q_abs, Rotation::cur()) - m.query_fixed(q_full, Rotation::cur()) - m.query_fixed(q_part, Rotation::cur())
    }

    fn cell(col: Column<Advice>, row: usize) -> Cell {
        Cell { row_offset: row, column: Column::<Any>::from(col) }
    }

    /// Assigns the trace of `msg` (under `domain`) from row `start`; the message cells are copy-constrained to
    /// `msg_cells` (same length). Returns the digest's cell and the next free row.
    pub fn assign(&self, region: &mut Region<'_, Fr>, start: usize, domain: u64, msg: &[Fr], msg_cells: &[Cell]) -> Result<(Cell, usize), Error> {
        self.assign_trace(region, start, &trace(domain, msg), msg_cells)
    }

    /// [`Self::assign`] with a given trace (tests corrupt it).
    pub fn assign_trace(&self, region: &mut Region<'_, Fr>, start: usize, rows: &[TraceRow], msg_cells: &[Cell]) -> Result<(Cell, usize), Error> {
        if rows.len() != rows_for(msg_cells.len()) {
            return Err(Error::Synthesis);
        }
        let one = Fr::ONE;
        for (i, row) in rows.iter().enumerate() {
            let r = start + i;
            for j in 0..2 * T {
                region.assign_advice(self.x[j], r, Value::known(row.x[j]));
                if row.w[j] != Fr::ZERO {
                    region.assign_fixed(self.w[j], r, row.w[j]);
                }
            }
            if row.c != Fr::ZERO {
                region.assign_fixed(self.c, r, row.c);
            }
            for (flag, col) in [(row.abs, self.q_abs), (row.full, self.q_full), (row.part, self.q_part)] {
                if flag {
                    region.assign_fixed(col, r, one);
                }
            }
        }
        // message element i sits on the absorb row of block i / RATE, in x[3 + i % RATE]
        for (i, cell) in msg_cells.iter().enumerate() {
            let row = start + (i / RATE) * (1 + ROUNDS);
            region.constrain_equal(*cell, Self::cell(self.x[T + i % RATE], row));
        }
        let last = start + rows.len() - 1;
        Ok((Self::cell(self.x[0], last), last + 1))
    }
}

#[cfg(test)]
mod tests {
    use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner};
    use halo2_proofs::dev::MockProver;
    use halo2_proofs::plonk::{Circuit, Instance};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn trace_ends_in_the_digest() {
        for n in [0usize, 1, 2, 5] {
            let msg: Vec<Fr> = (0..n).map(|i| Fr::from(1000 + i as u64)).collect();
            let t = trace(hash::plain_domain(n), &msg);
            assert_eq!(t.len(), rows_for(n));
            assert_eq!(t.last().expect("rows").x[0], hash::digest(&msg), "n = {n}");
        }
    }

    /// The gadget alone: message cells in an advice column, the digest as instance 0.
    #[derive(Clone)]
    struct HashCircuit {
        msg: Vec<Fr>,
        rows: Vec<TraceRow>,
    }

    impl Circuit<Fr> for HashCircuit {
        type Config = (PoseidonConfig, Column<Advice>, Column<Instance>);
        type FloorPlanner = SimpleFloorPlanner;
        type Params = ();

        fn without_witnesses(&self) -> Self {
            self.clone()
        }

        fn configure(meta: &mut ConstraintSystem<Fr>) -> Self::Config {
            let m = meta.advice_column();
            meta.enable_equality(m);
            let inst = meta.instance_column();
            meta.enable_equality(inst);
            let x = [(); 2 * T].map(|_| meta.advice_column());
            for col in x {
                meta.enable_equality(col);
            }
            let w = [(); 2 * T].map(|_| meta.fixed_column());
            let c = meta.fixed_column();
            (PoseidonConfig::configure(meta, x, w, c), m, inst)
        }

        fn synthesize(&self, (pc, m, inst): Self::Config, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
            let digest = layouter.assign_region(
                || "hash",
                |mut region| {
                    let cells: Vec<Cell> = self.msg.iter().enumerate().map(|(i, v)| region.assign_advice(m, i, Value::known(*v)).cell()).collect();
                    Ok(pc.assign_trace(&mut region, 0, &self.rows, &cells)?.0)
                },
            )?;
            layouter.constrain_instance(digest, inst, 0);
            Ok(())
        }
    }

    /// The trace cells the digest depends on: every state cell, the squares each round uses,
    /// and the message cells of absorb rows (the rest are unused witness).
    fn used_cells(rows: &[TraceRow], n: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (r, row) in rows.iter().enumerate() {
            for j in 0..T {
                out.push((r, j));
                let used = if row.full { true } else if row.part { j == 0 } else if row.abs { j < RATE && (r / (1 + ROUNDS)) * RATE + j < n } else { false };
                if used {
                    out.push((r, T + j));
                }
            }
        }
        out
    }

    #[test]
    fn gadget_is_sound() {
        for n in [1usize, 3] {
            let msg: Vec<Fr> = (0..n).map(|i| Fr::from(77 + i as u64) * Fr::from(u64::MAX)).collect();
            let rows = trace(hash::plain_domain(n), &msg);
            let digest = hash::digest(&msg);
            let k = 9;
            let honest = HashCircuit { msg: msg.clone(), rows: rows.clone() };
            assert_eq!(MockProver::run(k, &honest, vec![vec![digest]]).expect("mock").verify(), Ok(()));
            assert!(MockProver::run(k, &honest, vec![vec![digest + Fr::ONE]]).expect("mock").verify().is_err(), "wrong digest accepted");
            // another message with the honest trace: the copy constraints catch it
            let mut other = honest.clone();
            other.msg[n - 1] += Fr::ONE;
            assert!(MockProver::run(k, &other, vec![vec![digest]]).expect("mock").verify().is_err(), "message not bound to the trace");
            // another message with its own trace: a different digest
            let mut m2 = msg.clone();
            m2[0] += Fr::ONE;
            let c2 = HashCircuit { msg: m2.clone(), rows: trace(hash::plain_domain(n), &m2) };
            assert!(MockProver::run(k, &c2, vec![vec![digest]]).expect("mock").verify().is_err(), "digest does not depend on the message");
            // every used trace cell is constrained (all of them for the short message, a sample otherwise)
            let cells = used_cells(&rows, n);
            let mut rng = ChaCha8Rng::seed_from_u64(11);
            let picks: Vec<usize> = if n == 1 { (0..cells.len()).collect() } else { (0..60).map(|_| rng.gen_range(0..cells.len())).collect() };
            for i in picks {
                let (r, j) = cells[i];
                let mut bad = honest.clone();
                bad.rows[r].x[j] += Fr::ONE;
                assert!(MockProver::run(k, &bad, vec![vec![digest]]).expect("mock").verify().is_err(), "corrupting row {r} x[{j}] was not detected");
            }
        }
    }
}
