//! The advice columns of a laid-out circuit, built straight from its rows: one field vector
//! per physical advice column (`x[0..width]`, then `out`), of the proving key's length `n`.
//!
//! They are exactly the values [`super::circuit::ModelCircuit`]'s `synthesize` assigns (cells
//! it leaves unassigned are zero), so a proof from them (`create_proof_from_advice`) commits
//! to the same advice as halo2's own synthesis would; `prover/tests/witness.rs` checks this
//! cell by cell and commitment by commitment. What this saves the prover: halo2's synthesis pass keeps every advice cell
//! as an `Assigned<Fr>` (a possible fraction, 2–3× the size of a field element) next to the
//! field columns, one serial pass over the whole layout; here the columns are filled in
//! parallel (rayon), and the caller can drop the layout before the proof starts.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::Field;
use rayon::prelude::*;

use super::circuit::fe;
use super::ctx::{LayoutCtx, XCell};
use super::poseidon::{self, TraceRow};
use super::public_column;

/// Rows per parallel work item.
const CHUNK: usize = 1 << 12;

/// The field element an x-cell holds: its value, or for an inverse cell the field inverse of
/// its value (0 for 0).
pub fn x_value(xc: &XCell) -> Fr {
    if xc.inverse { fe(xc.val).invert().unwrap_or(Fr::ZERO) } else { fe(xc.val) }
}

/// The `width + 1` advice columns of `ctx` at `n` rows (`width + 2` with the public column:
/// its words at rows `0..`, their evaluation at `ctx.point` after the digests' rows). Errors (naming the problem) when the
/// layout is malformed ([`LayoutCtx::check_structure`]), does not fit `n` rows or row 0, the
/// binding's cell, is taken. `n` is the number of rows the layout may use: a prover passes
/// the domain size and has checked beforehand that the layout leaves halo2's blinding rows
/// at the end free (`zkinfer_prover::sizing::check_fits`), since those are overwritten.
pub fn advice_columns(ctx: &LayoutCtx, n: usize) -> Result<Vec<Vec<Fr>>, String> {
    advice_columns_at(ctx, n, ctx.point)
}

/// [`advice_columns`] with the public words (with the public column) evaluated at `point`
/// instead of `ctx.point`.
pub fn advice_columns_at(ctx: &LayoutCtx, n: usize, point: Fr) -> Result<Vec<Vec<Fr>>, String> {
    ctx.check_structure()?;
    let width = ctx.shape.width;
    if ctx.rows.first().is_none_or(|r| r.x[0].is_some()) {
        return Err("row 0 must be free for the binding".into());
    }
    // the Poseidon traces, after the model's rows (as `synthesize` places them)
    let traces: Vec<Vec<TraceRow>> = ctx
        .hashes
        .par_iter()
        .map(|h| {
            let msg: Vec<Fr> = h.cells.iter().map(|c| ctx.fvalue(c.cell)).collect();
            poseidon::trace(h.domain, &msg)
        })
        .collect();
    let hashed = ctx.rows.len() + traces.iter().map(Vec::len).sum::<usize>();
    let words = if ctx.shape.public_column { super::circuit::public_words(ctx) } else { vec![] };
    let eval = public_column::trace(&words, point);
    let total = (hashed + eval.len()).max(words.len());
    if total > n {
        return Err(format!("the layout has {total} rows, the circuit {n}"));
    }
    let mut columns: Vec<Vec<Fr>> = (0..=width)
        .into_par_iter()
        .map(|j| {
            let mut col = vec![Fr::ZERO; n];
            col[..ctx.rows.len()].par_chunks_mut(CHUNK).zip(ctx.rows.par_chunks(CHUNK)).for_each(|(cells, rows)| {
                for (cell, row) in cells.iter_mut().zip(rows) {
                    let v = if j < width { row.x[j].as_ref().map(x_value) } else { row.out.map(fe) };
                    if let Some(v) = v {
                        *cell = v;
                    }
                }
            });
            if j == 0 {
                col[0] = ctx.binding;
            }
            if j == width {
                // wide `out` cells hold field elements beyond the integer shadow
                for (&r, &v) in &ctx.wide {
                    col[r] = v;
                }
            }
            if j < width && j < 2 * crate::hash::T {
                let mut at = ctx.rows.len();
                for row in traces.iter().flatten() {
                    col[at] = row.x[j];
                    at += 1;
                }
            }
            for (r, row) in eval.iter().enumerate() {
                match j {
                    0 => col[hashed + r] = row.x0,
                    1 => col[hashed + r] = row.x1,
                    _ if j == width => col[hashed + r] = row.out,
                    _ => {}
                }
            }
            col
        })
        .collect();
    if ctx.shape.public_column {
        let mut p = vec![Fr::ZERO; n];
        p[..words.len()].copy_from_slice(&words);
        columns.push(p);
    }
    Ok(columns)
}
