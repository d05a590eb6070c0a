//! Public words in a committed column (`Shape::public_column`).
//!
//! Without it every packed public word (the values of public inputs and outputs, and the
//! digests of hashed ones) is an instance row, and an EVM verifier pays for each instance
//! (about 0.3-0.45k gas in its loops and transcript). With it the words sit in one more
//! advice column `P`, rows `0..n` in instance order, each held equal to the cell that packs
//! it; the instance column holds only three values:
//!
//! | row | value |
//! |---|---|
//! | [`crate::public::BINDING`] | the binding |
//! | [`POINT`] | a point `c` |
//! | [`EVAL`] | `h = Σ_i w_i c^(n−1−i)`, the words' polynomial at `c` ([`horner`]) |
//!
//! The evaluation is laid out after the model's rows (and the digests'), two rows of the
//! universal gate per word ([`trace`]): `acc·c` then `+ w_i`, each `w_i` copied from `P`.
//!
//! Soundness rests on how `c` is drawn: `c = keccak256(w_0 ‖ … ‖ w_(n−1) ‖ C_P) mod r`, where
//! `C_P` is `P`'s commitment as it stands in the proof (the prover learns it before proving,
//! `zkinfer_prover::public_column`). A verifier recomputes `c` from the words it is given and
//! the proof's `C_P`, then `h`, and checks the proof with the three instances. The commitment
//! fixes the words the circuit used before `c` is known, so words that differ from them
//! agree at `c` with probability at most `n/r`. Without `C_P` in the hash a prover could pick
//! its witness after learning `c`, and one linear equation mod `r` in the words is a
//! knapsack that lattice reduction solves.

use halo2_proofs::circuit::{Cell, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Any, Column, Error};

use super::circuit::{ModelConfig, Q_CHAIN, Q_OUT};

/// Instance row of the point `c`.
pub const POINT: usize = 1;
/// Instance row of the words' polynomial evaluated at `c`.
pub const EVAL: usize = 2;
/// Instance rows of a public-column circuit.
pub const INSTANCES: usize = 3;

/// Rows the evaluation of `n` words takes after the model's: one for the first word, then
/// two per word.
pub fn rows_for(n: usize) -> usize {
    (2 * n).saturating_sub(1)
}

/// `Σ_i w_i c^(n−1−i)` (Horner's rule; 0 for no words).
pub fn horner(words: &[Fr], c: Fr) -> Fr {
    words.iter().fold(Fr::zero(), |acc, w| acc * c + w)
}

/// What a row of the evaluation computes with the universal gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// `out = x[0]` (`x[0]` = the first word).
    First,
    /// `out = x[0]·x[1]` (the accumulator times `c`).
    Mul,
    /// `out = out[−1] + x[0]` (plus the next word).
    Add,
}

/// One row of the evaluation: its step and its three advice cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceRow {
    pub step: Step,
    pub x0: Fr,
    pub x1: Fr,
    pub out: Fr,
}

/// The evaluation's rows for `words` at `c`; the last row's `out` is [`horner`]`(words, c)`.
pub fn trace(words: &[Fr], c: Fr) -> Vec<TraceRow> {
    let mut rows = Vec::with_capacity(rows_for(words.len()));
    let mut acc = Fr::zero();
    for (i, &w) in words.iter().enumerate() {
        if i == 0 {
            acc = w;
            rows.push(TraceRow { step: Step::First, x0: w, x1: Fr::zero(), out: acc });
            continue;
        }
        let t = acc * c;
        rows.push(TraceRow { step: Step::Mul, x0: acc, x1: c, out: t });
        acc = t + w;
        rows.push(TraceRow { step: Step::Add, x0: w, x1: Fr::zero(), out: acc });
    }
    rows
}

/// What [`assign`] leaves for the instance column: the cells that must equal [`POINT`] and
/// the one that must equal [`EVAL`] (none without words).
pub struct Assigned {
    pub point_cells: Vec<Cell>,
    pub eval_cell: Option<Cell>,
}

fn cell(column: Column<Advice>, row: usize) -> Cell {
    let column: Column<Any> = column.into();
    Cell { row_offset: row, column }
}

/// Lays the evaluation of `words` at `c` into `region` from row `at`: advice, the universal
/// gate's fixed columns, and the copies of each word from `P` (`config.p`, rows `0..n`) and
/// of each accumulator into the next row. The fixed columns depend on `words.len()` only.
pub fn assign(region: &mut Region<'_, Fr>, config: &ModelConfig, at: usize, words: &[Fr], c: Fr) -> Result<Assigned, Error> {
    let p = config.p.ok_or(Error::Synthesis)?;
    let (x0, x1, out) = (config.x[0], config.x[1], config.out);
    let mut point_cells = Vec::new();
    let mut prev_out: Option<Cell> = None;
    let mut word = 0;
    for (i, row) in trace(words, c).iter().enumerate() {
        let r = at + i;
        region.assign_advice(x0, r, Value::known(row.x0));
        region.assign_advice(x1, r, Value::known(row.x1));
        region.assign_advice(out, r, Value::known(row.out));
        let one = Fr::one();
        match row.step {
            Step::First | Step::Add => {
                region.assign_fixed(config.w[0], r, one);
                let flags = if row.step == Step::Add { Q_OUT + Q_CHAIN } else { Q_OUT };
                region.assign_fixed(config.q_o, r, Fr::from(flags));
                if super::circuit::enabled(super::circuit::ConstraintKind::PublicColumn) {
                    region.constrain_equal(cell(x0, r), cell(p, word));
                }
                word += 1;
            }
            Step::Mul => {
                region.assign_fixed(config.q_mul, r, one);
                region.assign_fixed(config.q_o, r, Fr::from(Q_OUT));
                region.constrain_equal(cell(x0, r), prev_out.ok_or(Error::Synthesis)?);
                point_cells.push(cell(x1, r));
            }
        }
        prev_out = Some(cell(out, r));
    }
    Ok(Assigned { point_cells, eval_cell: prev_out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_evaluates_the_words_polynomial() {
        let c = Fr::from(7);
        let words: Vec<Fr> = [3u64, 0, 5, 11].iter().map(|&v| Fr::from(v)).collect();
        // 3·7³ + 0·7² + 5·7 + 11
        assert_eq!(horner(&words, c), Fr::from(3 * 343 + 35 + 11));
        let t = trace(&words, c);
        assert_eq!(t.len(), rows_for(words.len()));
        assert_eq!(t.last().map(|r| r.out), Some(horner(&words, c)));
        for pair in t.windows(2) {
            let (prev, row) = (pair[0], pair[1]);
            match row.step {
                Step::Mul => assert_eq!(row.out, row.x0 * row.x1),
                Step::Add => assert_eq!(row.out, prev.out + row.x0),
                Step::First => panic!("one first row"),
            }
        }
        assert_eq!(horner(&[], c), Fr::zero());
        assert!(trace(&[], c).is_empty());
        assert_eq!(rows_for(1), 1);
    }
}
