//! The circuit cost model: what proving a circuit of a given shape at `2^k` rows costs, and
//! how large its Solidity verifier gets, predicted from the constraint system alone (no keys).
//!
//! Proving time is dominated by two kernels, so the model counts them:
//! * **MSMs of `2^k` points** (commitments): one per advice column, three per lookup
//!   (permuted input, permuted table, grand product), one per permutation grand-product
//!   chunk (`d - 2` columns each), `d - 1` quotient pieces, the vanishing argument's random
//!   polynomial and SHPLONK's two opening witnesses (`d` is the constraint degree).
//! * **Polynomials on the extended domain** (`2^k · 2^⌈log2(d-1)⌉` points: coset FFTs and the
//!   quotient evaluation): every advice, fixed and instance column, the permutation's sigma
//!   and grand-product polynomials and the lookups' three polynomials each.
//!
//! In units of one `2^k`-point MSM, the work is `msms · 16/k + EXT_WEIGHT · ext_polys ·
//! 2^ext_log / 4` (Pippenger's work per point falls like 1/k; `EXT_WEIGHT` is one
//! 2^(k+2)-point NTT over one 2^k-point MSM, 0.083 s / 0.19 s at k = 16 in
//! `zkinfer bench-kernels` on the reference machine), and
//! `prove_seconds = BASE_S + MSM_NS · 1e-9 · 2^k · work`. `MSM_NS` (the MSM time per point
//! at k = 16: 2.9 µs in `bench-kernels`, 3.5 µs fitted, which includes what the count
//! leaves out) and `BASE_S` were fitted by least squares to prove
//! times measured on the 2-core x86-64 build machine (`bash benches/costmodel/run.sh`
//! re-measures them, prints prediction against measurement and the refitted constants). On
//! other machines the times scale, and the *ranking* of shapes, which is what `compile` uses
//! the model for, carries over.
//!
//! The verifier's deployed size grows with the columns and lookups whose commitments and
//! evaluations it handles and the gates it evaluates, not with the public instances (it reads
//! them in loops, see `evm::instances`); [`Counts::verifier_bytes`] is a linear fit to the
//! sizes `zkinfer evm-verifier` measured (solc 0.8.19, optimizer off).
//!
//! Verification gas ([`Counts::verify_gas`]) is linear in the same counts: every advice
//! column, fixed column and lookup adds commitments and evaluations the verifier reads and
//! multiplies into its final MSM (one elliptic-curve multiplication, about 6k gas, per
//! commitment), every public instance its Lagrange term and calldata, and every contract a
//! split verifier needs beyond the first a call with the memory copied there and back.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Any, Circuit, ConstraintSystem};
use serde::{Deserialize, Serialize};
use zkinfer_circuits::layout::circuit::ModelCircuit;
use zkinfer_circuits::layout::ctx::Shape;

/// Nanoseconds per point of one MSM at k = 16 (fitted; see the module docs).
pub const MSM_NS: f64 = 3536.0;
/// One extended-domain polynomial (blow-up 4) in units of one MSM (from the kernel timings).
pub const EXT_WEIGHT: f64 = 0.44;
/// Fixed cost of a proof, seconds (fitted).
pub const BASE_S: f64 = 0.192;

/// Counts of what the prover and the verifier handle, for one shape and `k`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub k: u32,
    pub advice: usize,
    pub fixed: usize,
    pub instance: usize,
    pub lookups: usize,
    /// Columns in the permutation argument.
    pub permutation_columns: usize,
    /// The constraint system's degree.
    pub degree: usize,
    /// Polynomial evaluations in the proof (one per query, plus the argument's own).
    pub evaluations: usize,
    /// Whether the Poseidon gadget is present (its gates add to the verifier).
    #[serde(default)]
    pub hash: bool,
    /// Whether the public words sit in a committed column (`Shape::public_column`; its
    /// column is among `advice`): the verifier then reads three instances and hashes and
    /// evaluates the words.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public_column: bool,
}

impl Counts {
    /// Counts for a circuit of `shape` at `2^k` rows.
    pub fn new(shape: Shape, k: u32) -> Counts {
        let mut cs = ConstraintSystem::<Fr>::default();
        let _ = ModelCircuit::configure_with_params(&mut cs, shape);
        Counts { public_column: shape.public_column, ..Counts::of_cs(&cs, k, shape.hash) }
    }

    /// Counts for any configured constraint system at `k` (`hash`: whether the Poseidon
    /// gadget is in it, for the verifier's size).
    pub fn of_cs(cs: &ConstraintSystem<Fr>, k: u32, hash: bool) -> Counts {
        let degree = cs.degree();
        let permutation_columns = cs.permutation().get_columns().len();
        let fixed_queries = cs.permutation().get_columns().iter().filter(|c| matches!(c.column_type(), Any::Fixed)).count();
        let advice_queries: usize = cs.num_advice_queries().iter().sum();
        let lookups = cs.lookups().len();
        let chunks = Self::chunks(permutation_columns, degree);
        // advice queries, fixed columns (one query each here), instance, per lookup 5
        // (z, z·ω, a', a'·ω⁻¹, s'), per permutation chunk 3 (z, z·ω, z·ω^last) less one,
        // each sigma once, the random poly once
        let evaluations = advice_queries + cs.num_fixed_columns() + fixed_queries + 5 * lookups + (3 * chunks).saturating_sub(1) + permutation_columns + 1;
        Counts { k, advice: cs.num_advice_columns(), fixed: cs.num_fixed_columns(), instance: cs.num_instance_columns(), lookups, permutation_columns, degree, evaluations, hash, public_column: false }
    }

    /// Counts for a laid-out circuit at `k`.
    pub fn of(circuit: &ModelCircuit, k: u32) -> Counts {
        Counts::new(circuit.ctx.shape, k)
    }

    fn chunks(columns: usize, degree: usize) -> usize {
        columns.div_ceil(degree.saturating_sub(2).max(1))
    }

    /// Grand-product chunks of the permutation argument.
    pub fn permutation_chunks(&self) -> usize {
        Self::chunks(self.permutation_columns, self.degree)
    }

    /// Number of `2^k`-point MSMs the prover computes.
    pub fn msms(&self) -> usize {
        self.advice + 3 * self.lookups + self.permutation_chunks() + (self.degree - 1) + 1 + 2
    }

    /// Polynomials evaluated over the extended domain.
    pub fn ext_polys(&self) -> usize {
        self.advice + self.fixed + self.instance + 3 * self.lookups + self.permutation_chunks() + self.permutation_columns
    }

    /// log2 of the extended domain's blow-up.
    pub fn ext_log(&self) -> u32 {
        (self.degree.max(2) - 1).next_power_of_two().trailing_zeros()
    }

    /// The prover's work in units of one `2^k`-point MSM (module docs).
    pub fn work(&self) -> f64 {
        self.msms() as f64 * 16.0 / self.k.max(1) as f64 + EXT_WEIGHT * self.ext_polys() as f64 * (1u64 << self.ext_log()) as f64 / 4.0
    }

    /// Predicted proving time in seconds on the reference machine (module docs).
    pub fn prove_seconds(&self) -> f64 {
        BASE_S + MSM_NS * 1e-9 * (1u64 << self.k) as f64 * self.work()
    }

    /// Predicted gas of one verification of a direct proof in the EVM with `public_values`
    /// instances: the whole transaction (21,000 base, the proof and instances as calldata,
    /// execution), as `zkinfer evm-verifier` reports it. Within 1% of the measured gas on 40
    /// circuits (7 shapes of 6 bundled model variants, `benches/costmodel/run.sh`).
    pub fn verify_gas(&self, public_values: usize) -> u64 {
        let extra_contracts = self.verifier_bytes(public_values).div_ceil(EIP170_LIMIT).saturating_sub(1);
        GAS_BASE
            + GAS_PER_ADVICE * self.advice as u64
            + GAS_PER_FIXED * self.fixed as u64
            + GAS_PER_LOOKUP * self.lookups as u64
            + if self.public_column { GAS_PER_INSTANCE + GAS_PER_COLUMN_WORD * public_values.saturating_sub(1) as u64 } else { GAS_PER_INSTANCE * public_values as u64 }
            + if self.hash { GAS_HASH } else { 0 }
            + GAS_PER_CONTRACT * extra_contracts as u64
    }

    /// Predicted deployed size of the Solidity verifier with `public_values` instances (which
    /// it reads in loops: the size does not depend on them).
    pub fn verifier_bytes(&self, _public_values: usize) -> usize {
        VERIFIER_BASE + VERIFIER_PER_ADVICE * self.advice + VERIFIER_PER_LOOKUP * self.lookups + if self.hash { VERIFIER_HASH } else { 0 }
    }
}

/// Verifier size fit (bytes), see [`Counts::verifier_bytes`]: within 1% of the measured
/// size on 40 circuits (6 models × up to 7 shapes, `benches/costmodel/run.sh`), fitted to
/// snark-verifier's straight-line code (162 bytes per instance); since its instances are read in
/// loops, the base is 362 bytes more (the loops, measured with 3 instances) and an instance
/// adds nothing (3 to 202 instances: +73 bytes, wider memory offsets).
const VERIFIER_BASE: usize = 7555;
/// Per advice column (with its fixed coefficient column and permutation sigma).
const VERIFIER_PER_ADVICE: usize = 1151;
const VERIFIER_PER_LOOKUP: usize = 1387;
/// The Poseidon gadget's gates.
const VERIFIER_HASH: usize = 3077;

/// Verification gas fit, see [`Counts::verify_gas`] (the 2026-12-06 measurements in
/// `benches/costmodel/run.sh`'s gas table).
const GAS_BASE: u64 = 203_339;
/// Per advice column: its commitment and evaluations, its permutation sigma.
const GAS_PER_ADVICE: u64 = 19_676;
/// Per fixed column: its commitment and evaluation.
const GAS_PER_FIXED: u64 = 9_126;
/// Per lookup: three commitments, five evaluations and the argument's constraints.
const GAS_PER_LOOKUP: u64 = 25_763;
/// Calldata of one public word: 30 packed bytes (16 gas each when nonzero) and two zero bytes.
const GAS_CALLDATA_WORD: u64 = 30 * 16 + 2 * 4;
/// Per public instance read in the loops: its calldata and 376 gas of execution (its Lagrange
/// term and transcript absorption; 2026-12-07, 2 to 2,001 words at 2/1:
/// `cargo test --release -p zkinfer-prover --test evm_column -- --ignored --nocapture`). It
/// was 555 in the fit over 7-18 instances of 15-byte words, which changes no choice between
/// shapes: a model's shapes all have the same public values.
const GAS_PER_INSTANCE: u64 = 376 + GAS_CALLDATA_WORD;
/// Per public word of a public-column circuit: its calldata and 93 gas of execution (its
/// share of the keccak, one Horner step, the range check; same measurement).
const GAS_PER_COLUMN_WORD: u64 = 93 + GAS_CALLDATA_WORD;
/// The Poseidon gadget's gates.
const GAS_HASH: u64 = 1_739;
/// Per contract of a split verifier beyond the first.
const GAS_PER_CONTRACT: u64 = 15_675;

/// EIP-170's limit on deployed contract code.
pub const EIP170_LIMIT: usize = 24_576;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wider_and_more_lookups_cost_more_per_row() {
        let a = Counts::new(Shape::new(4, 2), 14);
        let b = Counts::new(Shape::new(8, 2), 14);
        let c = Counts::new(Shape::new(8, 4), 14);
        assert!(a.msms() < b.msms() && b.msms() < c.msms());
        assert!(a.prove_seconds() < b.prove_seconds() && b.prove_seconds() < c.prove_seconds());
        // one k less roughly halves the time
        let c13 = Counts::new(Shape::new(8, 4), 13);
        assert!(c13.prove_seconds() < 0.6 * c.prove_seconds());
        assert!(a.verifier_bytes(7) < c.verifier_bytes(7));
        // the instances are read in loops: no bigger with more of them
        assert_eq!(a.verifier_bytes(7), a.verifier_bytes(700));
        // gas follows the columns and lookups, not the rows
        assert!(a.verify_gas(7) < c.verify_gas(7) && a.verify_gas(7) < a.verify_gas(70));
        assert_eq!(c13.verify_gas(7), c.verify_gas(7));
        let narrow = Counts::new(Shape::new(4, 1), 14);
        assert!(narrow.verify_gas(7) < a.verify_gas(7));
    }
}
