//! The halo2 circuit: columns, the universal gate, the range lookups, the Poseidon gadget
//! ([`super::poseidon`]) and assignment of a [`LayoutCtx`]. Single phase (no challenges), so the CUDA prover can prove it too.

use halo2_proofs::circuit::{Cell, Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Any, Circuit, Column, ConstraintSystem, Error, Expression, Fixed, Instance, TableColumn};
use halo2_proofs::poly::Rotation;

use super::ctx::{Col, LayoutCtx, Shape, LIMB};
use super::poseidon::{self, PoseidonConfig};

/// Field element of a signed integer. (`from_raw`, one Montgomery multiplication: ff's
/// default `from_u128` doubles 64 times, and this runs for every cell of a layout.)
pub fn fe(v: i128) -> Fr {
    let a = v.unsigned_abs();
    let m = Fr::from_raw([a as u64, (a >> 64) as u64, 0, 0]);
    if v < 0 { -m } else { m }
}

/// The kinds of constraint the circuit is made of. Test builds can switch one kind off
/// ([`mutation::without`]) to show that a forgery test depends on it; other builds have no
/// such switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstraintKind {
    /// The universal gate (and its dot-product term).
    Gate,
    /// The range lookups of limb cells.
    Range,
    /// The function-table lookup.
    FnTable,
    /// Copy constraints between cells.
    Copy,
    /// Cells equal to public instances.
    Instance,
    /// The Poseidon gadget's gates and its message copies.
    Poseidon,
    /// The copies of the public words into the public column and from it into the words'
    /// evaluation ([`super::public_column`]; not in [`Self::ALL`]: circuits without the
    /// column lack it, and its own forgery test removes it).
    PublicColumn,
}

impl ConstraintKind {
    pub const ALL: [ConstraintKind; 6] = [ConstraintKind::Gate, ConstraintKind::Range, ConstraintKind::FnTable, ConstraintKind::Copy, ConstraintKind::Instance, ConstraintKind::Poseidon];
}

/// Test-only mutation switch: runs a closure with one kind of constraint removed from every
/// circuit configured or synthesized on this thread.
#[cfg(test)]
pub mod mutation {
    use super::ConstraintKind;
    use std::cell::Cell;

    thread_local!(static OFF: Cell<Option<ConstraintKind>> = const { Cell::new(None) });

    thread_local!(static WORDS: std::cell::RefCell<Option<Vec<halo2_proofs::halo2curves::bn256::Fr>>> = const { std::cell::RefCell::new(None) });

    /// Runs a closure with the public column holding `words` in every circuit synthesized on
    /// this thread, whatever the cells that pack them hold (a forged column).
    pub fn with_words<T>(words: Vec<halo2_proofs::halo2curves::bn256::Fr>, f: impl FnOnce() -> T) -> T {
        with_slot(&WORDS, words, f)
    }

    type Words = std::cell::RefCell<Option<Vec<halo2_proofs::halo2curves::bn256::Fr>>>;

    /// Runs `f` with `slot` holding `words`, emptied again afterwards (even if `f` panics).
    fn with_slot<T>(slot: &'static std::thread::LocalKey<Words>, words: Vec<halo2_proofs::halo2curves::bn256::Fr>, f: impl FnOnce() -> T) -> T {
        slot.with(|w| *w.borrow_mut() = Some(words));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        slot.with(|w| *w.borrow_mut() = None);
        r.unwrap_or_else(|p| std::panic::resume_unwind(p))
    }

    pub(crate) fn forged_words() -> Option<Vec<halo2_proofs::halo2curves::bn256::Fr>> {
        WORDS.with(|w| w.borrow().clone())
    }

    thread_local!(static EVAL: std::cell::RefCell<Option<Vec<halo2_proofs::halo2curves::bn256::Fr>>> = const { std::cell::RefCell::new(None) });

    /// Runs a closure with the words' evaluation (not the column) computed over `words` in
    /// every circuit synthesized on this thread (a forged evaluation).
    pub fn with_eval_words<T>(words: Vec<halo2_proofs::halo2curves::bn256::Fr>, f: impl FnOnce() -> T) -> T {
        with_slot(&EVAL, words, f)
    }

    pub(crate) fn forged_eval_words() -> Option<Vec<halo2_proofs::halo2curves::bn256::Fr>> {
        EVAL.with(|w| w.borrow().clone())
    }

    pub fn without<T>(kind: ConstraintKind, f: impl FnOnce() -> T) -> T {
        OFF.with(|o| o.set(Some(kind)));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        OFF.with(|o| o.set(None));
        r.unwrap_or_else(|p| std::panic::resume_unwind(p))
    }

    pub(crate) fn on(kind: ConstraintKind) -> bool {
        OFF.with(|o| o.get()) != Some(kind)
    }
}

/// Whether `kind` is part of the circuit (always, outside test builds).
#[inline]
pub(crate) fn enabled(kind: ConstraintKind) -> bool {
    #[cfg(test)]
    {
        mutation::on(kind)
    }
    #[cfg(not(test))]
    {
        let _ = kind;
        true
    }
}

#[derive(Clone, Debug)]
pub struct ModelConfig {
    pub x: Vec<Column<Advice>>,
    pub out: Column<Advice>,
    pub w: Vec<Column<Fixed>>,
    pub c: Column<Fixed>,
    /// `q_out + 2·q_chain` of the row (one column for both flags, see [`flag_of`]).
    pub q_o: Column<Fixed>,
    pub q_mul: Column<Fixed>,
    /// The dot-product selector (present when `shape.dot`).
    pub q_dot: Option<Column<Fixed>>,
    pub q_range: Vec<Column<Fixed>>,
    /// The range table `[0, 2^LIMB_BITS)`, or with `shape.pairs` its two columns of every pair
    /// of limbs (absent when `shape.tables`: the range rows are then part of the function
    /// table, see [`FnLookup`]).
    pub table: Option<Vec<TableColumn>>,
    /// Function-table lookup (present when `shape.tables`): on a row with `tag ≠ 0`,
    /// `x[1] = f_tag(x[0])`.
    pub fn_lookup: Option<FnLookup>,
    /// The Poseidon gadget's columns (present when `shape.hash`).
    pub poseidon: Option<PoseidonConfig>,
    /// The public words' column (present when `shape.public_column`; the last advice
    /// column, after `out`).
    pub p: Option<Column<Advice>>,
    pub instance: Column<Instance>,
}

/// The function-table lookup, which also carries the range checks. Its table starts with the
/// `2^LIMB_BITS` rows `(0, v, 0)`, then each function's rows `(tag, tag·x, tag·f(x))`, tag >= 1
/// (scaled by the tag, so that the tag column itself selects: no separate selector column).
/// Column 0's lookup is `(tag, (q_range[0] + tag)·x[0], tag·x[1])`: a range row has tag 0,
/// so it must match some `(0, x[0], 0)`; a function row has `q_range[0] = 0` and matches
/// `(tag, tag·x[0], tag·x[1])` only where `x[1] = f_tag(x[0])` (tag is a nonzero constant,
/// so the scaling is invertible); other rows give `(0, 0, 0)`. The other lookup columns'
/// lookups are `(0, q_range[j]·x[j], 0)`. Against a range lookup beside a function lookup
/// with its own selector, this is one lookup argument, one table column and one selector
/// column fewer (about 44k gas of verification), and a range check still matches only the
/// tag-0 rows.
#[derive(Clone, Debug)]
pub struct FnLookup {
    pub tag: Column<Fixed>,
    pub fn_tag: TableColumn,
    pub fn_in: TableColumn,
    pub fn_out: TableColumn,
}

/// The bit of `q_out` in the fixed column `q_o`, which holds `q_out + 2·q_chain` (0 to 3).
pub const Q_OUT: u64 = 1;
/// The bit of `q_chain` in `q_o`.
pub const Q_CHAIN: u64 = 2;

/// The flag `bit` (Q_OUT or Q_CHAIN) of a `q_o` value `m` in 0..=3, as the cubic through the
/// four points: `Σ_{v: v & bit ≠ 0} Π_{u ≠ v} (m - u) / (v - u)`. One fixed column instead of
/// two costs no degree: the gate's `q_o` terms reach 4 (5 under the Poseidon switch), the
/// degree the lookups already need, and saves the verifier a commitment and an evaluation
/// (about 9k gas) and the prover one column's cosets.
pub fn flag_of(m: &Expression<Fr>, bit: u64) -> Expression<Fr> {
    let mut sum = Expression::Constant(Fr::zero());
    for v in (0u64..4).filter(|v| v & bit != 0) {
        let mut term = Expression::Constant(Fr::one());
        let mut den = Fr::one();
        for u in (0u64..4).filter(|&u| u != v) {
            term = term * (m.clone() - Expression::Constant(Fr::from(u)));
            den *= Fr::from(v) - Fr::from(u);
        }
        sum = sum + term * Expression::Constant(den.invert().expect("distinct points"));
    }
    sum
}

impl ModelConfig {
    pub fn configure(meta: &mut ConstraintSystem<Fr>, shape: Shape) -> Self {
        let x: Vec<_> = (0..shape.width).map(|_| meta.advice_column()).collect();
        let out = meta.advice_column();
        let p = shape.public_column.then(|| meta.advice_column());
        let w: Vec<_> = (0..shape.width).map(|_| meta.fixed_column()).collect();
        let (c, q_o, q_mul) = (meta.fixed_column(), meta.fixed_column(), meta.fixed_column());
        let q_dot = shape.dot.then(|| meta.fixed_column());
        let q_range: Vec<_> = (0..shape.lookup_width).map(|_| meta.fixed_column()).collect();
        let table: Option<Vec<TableColumn>> = (!shape.tables).then(|| (0..if shape.pairs { 2 } else { 1 }).map(|_| meta.lookup_table_column()).collect());
        let instance = meta.instance_column();
        for col in x.iter().chain(std::iter::once(&out)).chain(p.iter()) {
            meta.enable_equality(*col);
        }
        meta.enable_equality(instance);

        // the Poseidon gadget shares x[0..6], w[0..6] and c, and switches the universal gate
        // off on its rows
        let poseidon = (shape.hash && enabled(ConstraintKind::Poseidon)).then(|| {
            let xs: [Column<Advice>; 6] = std::array::from_fn(|j| x[j]);
            let ws: [Column<Fixed>; 6] = std::array::from_fn(|j| w[j]);
            PoseidonConfig::configure(meta, xs, ws, c)
        });
        meta.create_gate("universal", |m| {
            let q = |col: Column<Fixed>, m: &mut halo2_proofs::plonk::VirtualCells<'_, Fr>| m.query_fixed(col, Rotation::cur());
            let xs: Vec<Expression<Fr>> = x.iter().map(|&col| m.query_advice(col, Rotation::cur())).collect();
            let o = m.query_advice(out, Rotation::cur());
            let o_prev = m.query_advice(out, Rotation::prev());
            let qo = q(q_o, m);
            let (q_out, q_chain) = (flag_of(&qo, Q_OUT), flag_of(&qo, Q_CHAIN));
            let mut e = q_out * o - q_chain * o_prev - q(c, m) - q(q_mul, m) * xs[0].clone() * xs[1].clone();
            for (j, xj) in xs.iter().enumerate() {
                e = e - q(w[j], m) * xj.clone();
            }
            if let Some(qd) = q_dot {
                let h = xs.len() / 2;
                let dot = (1..h).fold(xs[0].clone() * xs[h].clone(), |acc, j| acc + xs[j].clone() * xs[h + j].clone());
                e = e - q(qd, m) * dot;
            }
            let e = if enabled(ConstraintKind::Gate) { e } else { Expression::Constant(Fr::zero()) * e };
            match &poseidon {
                Some(p) => vec![PoseidonConfig::off(p.q_abs, p.q_full, p.q_part, m) * e],
                None => vec![e],
            }
        });
        let zero = || Expression::Constant(Fr::zero());
        let (range_on, fn_on) = (enabled(ConstraintKind::Range), enabled(ConstraintKind::FnTable));
        // `q_range[j]·x[j]`, or 0 for a column without range lookups
        let limb = |m: &mut halo2_proofs::plonk::VirtualCells<'_, Fr>, j: usize| -> Expression<Fr> {
            if j < q_range.len() { m.query_fixed(q_range[j], Rotation::cur()) * m.query_advice(x[j], Rotation::cur()) } else { zero() }
        };
        let fn_lookup = shape.tables.then(|| {
            let tag = meta.fixed_column();
            let (fn_tag, fn_in, fn_out) = (meta.lookup_table_column(), meta.lookup_table_column(), meta.lookup_table_column());
            meta.lookup("range and function table", |m| {
                let qr = |m: &mut halo2_proofs::plonk::VirtualCells<'_, Fr>, j: usize| if range_on && j < q_range.len() { m.query_fixed(q_range[j], Rotation::cur()) } else { zero() };
                let t = if fn_on { m.query_fixed(tag, Rotation::cur()) } else { zero() };
                let a = m.query_advice(x[0], Rotation::cur());
                let b = m.query_advice(x[1], Rotation::cur());
                // with pairs, the tag-0 rows hold every pair of limbs: column 1's limb is
                // checked here too
                let out = if shape.pairs { (qr(m, 1) + t.clone()) * b } else { t.clone() * b };
                vec![(t.clone(), fn_tag), ((qr(m, 0) + t) * a, fn_in), (out, fn_out)]
            });
            FnLookup { tag, fn_tag, fn_in, fn_out }
        });
        // the range lookups of the other columns (of every column without function tables):
        // `q_range[j]·x[j]` in the range table, or `(0, q_range[j]·x[j], 0)` in its tag-0 rows;
        // with pairs, columns `(j, j+1)` together, `(q_range[j]·x[j], q_range[j+1]·x[j+1])` in
        // the pair table, or `(0, q_range[j]·x[j], q_range[j+1]·x[j+1])` in the tag-0 rows
        let step = if shape.pairs { 2 } else { 1 };
        let first = if fn_lookup.is_some() { step } else { 0 };
        for j in (first..shape.lookup_width).step_by(step).filter(|_| range_on) {
            meta.lookup(if shape.pairs { "range pair" } else { "range" }, |m| {
                let a = limb(m, j);
                match (&table, &fn_lookup) {
                    (Some(t), _) if shape.pairs => vec![(a, t[0]), (limb(m, j + 1), t[1])],
                    (Some(t), _) => vec![(a, t[0])],
                    (None, Some(fl)) => vec![(zero(), fl.fn_tag), (a, fl.fn_in), (if shape.pairs { limb(m, j + 1) } else { zero() }, fl.fn_out)],
                    (None, None) => unreachable!("a circuit without function tables has the range table"),
                }
            });
        }
        ModelConfig { x, out, w, c, q_o, q_mul, q_dot, q_range, table, fn_lookup, poseidon, p, instance }
    }
}

/// Rows of the range table: every limb, or with pairs every pair of limbs.
pub fn range_rows(pairs: bool) -> usize {
    if pairs { (LIMB * LIMB) as usize } else { LIMB as usize }
}

/// Rows the lookup tables take: the range table ([`range_rows`]), which with function
/// tables (`tables`) is followed by their rows in the same columns ([`FnLookup`]).
pub fn table_rows(tables: bool, pairs: bool, fn_tables: &[super::ctx::FnTable]) -> usize {
    range_rows(pairs) + if tables { fn_tables.iter().map(|t| t.values.len()).sum::<usize>() } else { 0 }
}

/// A laid-out model, ready for keygen, proving or the MockProver.
#[derive(Clone, Debug)]
pub struct ModelCircuit {
    pub ctx: LayoutCtx,
}

impl ModelCircuit {
    /// Rows the circuit needs, including the lookup table's ([`table_rows`]).
    pub fn rows(&self) -> usize {
        (self.ctx.rows.len() + self.hash_rows() + self.word_rows()).max(self.table_rows()).max(self.public_words_len())
    }

    /// Rows of the public words' evaluation (after the digests'; none without the public
    /// column, [`super::public_column`]).
    pub fn word_rows(&self) -> usize {
        if self.ctx.shape.public_column { super::public_column::rows_for(self.public_words_len()) } else { 0 }
    }

    /// Public words of the layout: its public values but the binding.
    fn public_words_len(&self) -> usize {
        public_len(&self.ctx) - 1
    }

    /// Rows the lookup tables need whatever the model's size ([`table_rows`]).
    pub fn table_rows(&self) -> usize {
        table_rows(self.ctx.shape.tables, self.ctx.shape.pairs, &self.ctx.tables)
    }

    /// Rows of the Poseidon gadget (after the model's rows).
    pub fn hash_rows(&self) -> usize {
        self.ctx.hashes.iter().map(|h| poseidon::rows_for(h.cells.len())).sum()
    }

    fn cell(config: &ModelConfig, r: usize, col: Col) -> Cell {
        let column: Column<Any> = match col {
            Col::X(j) => config.x[j].into(),
            Col::Out => config.out.into(),
        };
        Cell { row_offset: r, column }
    }
}

impl Circuit<Fr> for ModelCircuit {
    type Config = ModelConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = Shape;

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn params(&self) -> Shape {
        self.ctx.shape
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, params: Shape) -> ModelConfig {
        ModelConfig::configure(meta, params)
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> ModelConfig {
        ModelConfig::configure(meta, Shape::default())
    }

    fn synthesize(&self, config: ModelConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        // range rows: every limb v, or with pairs every pair (a, b) at row a + 2^LIMB_BITS·b
        let pairs = self.ctx.shape.pairs;
        let range_row = |i: usize| -> (Fr, Fr) { if pairs { (Fr::from((i % LIMB as usize) as u64), Fr::from((i / LIMB as usize) as u64)) } else { (Fr::from(i as u64), Fr::zero()) } };
        if let Some(range) = &config.table {
            layouter.assign_table(
                || "range table",
                |mut table| {
                    for i in 0..range_rows(pairs) {
                        let (a, b) = range_row(i);
                        table.assign_cell(|| "range", range[0], i, || Value::known(a))?;
                        if pairs {
                            table.assign_cell(|| "range", range[1], i, || Value::known(b))?;
                        }
                    }
                    Ok(())
                },
            )?;
        }
        if let Some(fl) = &config.fn_lookup {
            layouter.assign_table(
                || "range and function tables",
                |mut table| {
                    // rows (0, v, 0), v in the range (or (0, a, b) with pairs): the range
                    // checks, and (0, 0, 0) for rows without a lookup
                    for v in 0..range_rows(pairs) {
                        let (a, b) = range_row(v);
                        for (col, e) in [(fl.fn_tag, Fr::zero()), (fl.fn_in, a), (fl.fn_out, b)] {
                            table.assign_cell(|| "range", col, v, || Value::known(e))?;
                        }
                    }
                    let mut r = range_rows(pairs) - 1;
                    for (i, t) in self.ctx.tables.iter().enumerate() {
                        let tag = Fr::from(i as u64 + 1);
                        for (j, &v) in t.values.iter().enumerate() {
                            r += 1;
                            table.assign_cell(|| "fn tag", fl.fn_tag, r, || Value::known(tag))?;
                            table.assign_cell(|| "fn in", fl.fn_in, r, || Value::known(tag * fe(t.lo as i128 + j as i128)))?;
                            table.assign_cell(|| "fn out", fl.fn_out, r, || Value::known(tag * fe(v as i128)))?;
                        }
                    }
                    Ok(())
                },
            )?;
        }
        let one = Fr::one();
        let (digests, eval) = layouter.assign_region(
            || "model",
            |mut region| {
                for (r, row) in self.ctx.rows.iter().enumerate() {
                    for (j, xc) in row.x.iter().enumerate() {
                        if let Some(xc) = xc {
                            region.assign_advice(config.x[j], r, Value::known(super::witness::x_value(xc)));
                            if xc.lookup {
                                region.assign_fixed(config.q_range[j], r, one);
                            }
                        }
                        if row.w[j] != 0 {
                            region.assign_fixed(config.w[j], r, fe(row.w[j]));
                        }
                    }
                    if let Some(o) = row.out {
                        let v = self.ctx.wide.get(&r).copied().unwrap_or_else(|| fe(o));
                        region.assign_advice(config.out, r, Value::known(v));
                    }
                    if row.c != 0 {
                        region.assign_fixed(config.c, r, fe(row.c));
                    }
                    if row.tag != 0 {
                        let fl = config.fn_lookup.as_ref().expect("function tables are on when rows use them");
                        region.assign_fixed(fl.tag, r, Fr::from(row.tag as u64));
                    }
                    let qo = row.q_out as u64 * Q_OUT + row.q_chain as u64 * Q_CHAIN;
                    if qo != 0 {
                        region.assign_fixed(config.q_o, r, Fr::from(qo));
                    }
                    if row.q_mul {
                        region.assign_fixed(config.q_mul, r, one);
                    }
                    if row.q_dot {
                        region.assign_fixed(config.q_dot.ok_or(Error::Synthesis)?, r, one);
                    }
                }
                // the binding instance's cell (row 0 has no gate and no lookup)
                if self.ctx.rows.first().is_none_or(|r| r.x[0].is_some()) {
                    return Err(Error::Synthesis);
                }
                region.assign_advice(config.x[0], 0, Value::known(self.ctx.binding));
                for (a, b) in self.ctx.copies.iter().filter(|_| enabled(ConstraintKind::Copy)) {
                    region.constrain_equal(Self::cell(&config, a.row, a.col), Self::cell(&config, b.row, b.col));
                }
                // the public words in their column, each held equal to the cell that packs it
                let words = config.p.map(|_| column_words(&self.ctx));
                if let (Some(p), Some(words)) = (config.p, &words) {
                    for (i, w) in words.iter().enumerate() {
                        region.assign_advice(p, i, Value::known(*w));
                    }
                    for (c, i) in self.ctx.instances.iter().filter(|_| enabled(ConstraintKind::PublicColumn)) {
                        let word = i.checked_sub(1).ok_or(Error::Synthesis)?;
                        region.constrain_equal(Self::cell(&config, c.row, c.col), Cell { row_offset: word, column: p.into() });
                    }
                }
                // the digests, in the rows after the model's
                let mut digests = Vec::with_capacity(self.ctx.hashes.len());
                if !self.ctx.hashes.is_empty() && enabled(ConstraintKind::Poseidon) {
                    let pc = config.poseidon.as_ref().ok_or(Error::Synthesis)?;
                    let mut at = self.ctx.rows.len();
                    for h in &self.ctx.hashes {
                        let msg: Vec<Fr> = h.cells.iter().map(|c| self.ctx.fvalue(c.cell)).collect();
                        let cells: Vec<Cell> = h.cells.iter().map(|c| Self::cell(&config, c.cell.row, c.cell.col)).collect();
                        let (digest, next) = pc.assign(&mut region, at, h.domain, &msg, &cells)?;
                        digests.push((digest, h.instance));
                        at = next;
                    }
                }
                // with the public column: the digests are words too, then the words' evaluation
                let (Some(p), Some(words)) = (config.p, words) else {
                    return Ok((digests, None));
                };
                if enabled(ConstraintKind::PublicColumn) {
                    for (cell, i) in digests.drain(..) {
                        let word = i.checked_sub(1).ok_or(Error::Synthesis)?;
                        region.constrain_equal(cell, Cell { row_offset: word, column: p.into() });
                    }
                }
                digests.clear();
                let at = self.ctx.rows.len() + self.hash_rows();
                #[cfg(test)]
                let words = mutation::forged_eval_words().unwrap_or(words);
                let eval = super::public_column::assign(&mut region, &config, at, &words, self.ctx.point)?;
                Ok((digests, Some(eval)))
            },
        )?;
        if !enabled(ConstraintKind::Instance) {
            return Ok(());
        }
        layouter.constrain_instance(Self::cell(&config, 0, Col::X(0)), config.instance, crate::public::BINDING);
        if let Some(eval) = eval {
            for cell in eval.point_cells {
                layouter.constrain_instance(cell, config.instance, super::public_column::POINT);
            }
            if let Some(cell) = eval.eval_cell {
                layouter.constrain_instance(cell, config.instance, super::public_column::EVAL);
            }
            return Ok(());
        }
        for (c, i) in &self.ctx.instances {
            layouter.constrain_instance(Self::cell(&config, c.row, c.col), config.instance, *i);
        }
        for (cell, i) in digests {
            layouter.constrain_instance(cell, config.instance, i);
        }
        Ok(())
    }
}

/// Public instance values of a laid-out circuit, in instance-row order: its
/// [`public_values`], or with the public column the binding, the point `ctx.point` and the
/// words' evaluation there ([`super::public_column`]).
pub fn instance_values(ctx: &LayoutCtx) -> Vec<Fr> {
    if ctx.shape.public_column {
        let words = public_words(ctx);
        return vec![ctx.binding, ctx.point, super::public_column::horner(&words, ctx.point)];
    }
    public_values(ctx)
}

/// The words the public column holds: the layout's, or in test builds a forged column
/// ([`mutation::with_words`]).
fn column_words(ctx: &LayoutCtx) -> Vec<Fr> {
    #[cfg(test)]
    if let Some(words) = mutation::forged_words() {
        return words;
    }
    public_words(ctx)
}

/// How many public values a layout has ([`public_values`]).
fn public_len(ctx: &LayoutCtx) -> usize {
    ctx.instances.iter().map(|(_, i)| i + 1).chain(ctx.hashes.iter().map(|h| h.instance + 1)).max().unwrap_or(0).max(crate::public::BINDING + 1)
}

/// The public words of a layout: its [`public_values`] but the binding.
pub fn public_words(ctx: &LayoutCtx) -> Vec<Fr> {
    let mut v = public_values(ctx);
    v.remove(crate::public::BINDING);
    v
}

/// The public values of a laid-out circuit, in order: the binding, then the packed inputs and
/// outputs (and digests). Without the public column they are its instances.
pub fn public_values(ctx: &LayoutCtx) -> Vec<Fr> {
    let n = public_len(ctx);
    let mut v = vec![Fr::zero(); n];
    v[crate::public::BINDING] = ctx.binding;
    for (c, i) in &ctx.instances {
        v[*i] = ctx.fvalue(*c);
    }
    for h in &ctx.hashes {
        let msg: Vec<Fr> = h.cells.iter().map(|c| ctx.fvalue(c.cell)).collect();
        v[h.instance] = crate::hash::digest_in(h.domain, &msg);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::fe;
    use halo2_proofs::halo2curves::bn256::Fr;
    use halo2_proofs::halo2curves::ff::PrimeField;

    /// `fe` builds the element from its limbs instead of ff's double-and-add `from_u128`;
    /// both must agree everywhere, signs and the 64-bit limb boundary included.
    #[test]
    fn fe_matches_the_field_embedding() {
        let edges = [0i128, 1, -1, 2, (1 << 64) - 1, 1 << 64, (1 << 64) + 1, -(1 << 64), i64::MAX as i128, i64::MIN as i128, i128::MAX, i128::MIN, i128::MIN + 1, 0x1234_5678_9abc_def0_1122_3344_5566_7788];
        for v in edges {
            let expect = if v < 0 { -Fr::from_u128(v.unsigned_abs()) } else { Fr::from_u128(v as u128) };
            assert_eq!(fe(v), expect, "{v}");
        }
        assert_eq!(fe(-5) + fe(5), Fr::zero());
        assert_eq!(fe(1 << 62) * fe(1 << 62), fe(1 << 124));
    }

    /// The two flags sharing the `q_o` column come back exactly from each of its four values,
    /// and sharing it leaves the constraint system's degree at the 5 the lookups need.
    #[test]
    fn shared_flag_column_decodes_both_flags() {
        use super::{flag_of, ModelConfig, Q_CHAIN, Q_OUT};
        use crate::layout::ctx::Shape;
        use halo2_proofs::plonk::{ConstraintSystem, Expression};
        for m in 0u64..4 {
            let e = Expression::Constant(Fr::from(m));
            let eval = |x: &Expression<Fr>| x.evaluate(&|c| c, &|_| unreachable!(), &|_| unreachable!(), &|_| unreachable!(), &|_| unreachable!(), &|_| unreachable!(), &|a| -a, &|a, b| a + b, &|a, b| a * b, &|a, s| a * s);
            assert_eq!(eval(&flag_of(&e, Q_OUT)), Fr::from(m & Q_OUT != 0), "q_out of {m}");
            assert_eq!(eval(&flag_of(&e, Q_CHAIN)), Fr::from(m & Q_CHAIN != 0), "q_chain of {m}");
        }
        for shape in [Shape::new(2, 1), Shape::new(4, 2), Shape { tables: true, dot: true, ..Shape::new(6, 2) }, Shape { hash: true, tables: true, ..Shape::new(6, 3) }, Shape::new(4, 4).paired(), Shape { tables: true, ..Shape::new(6, 3).paired() }] {
            let mut cs = ConstraintSystem::<Fr>::default();
            let _ = ModelConfig::configure(&mut cs, shape);
            assert_eq!(cs.degree(), 5, "{shape:?}");
        }
    }

    /// With paired range lookups every limb column is still checked on its own: a limb out of
    /// range in either column of a pair (the second one included, which the pair's table
    /// column checks) is rejected, with or without function tables (columns 0 and 1 then go
    /// through the function-table lookup's tag-0 rows), and accepted once the range lookups
    /// are removed. The forgeries keep every gate satisfied: four limbs summed with
    /// coefficient 1, the total moved into one limb.
    #[test]
    fn pair_lookups_check_every_limb() {
        use super::{mutation, ConstraintKind, ModelCircuit};
        use crate::layout::ctx::{FnTable, LayoutCtx, Operand, Shape};
        use halo2_proofs::dev::MockProver;
        for tables in [false, true] {
            let shape = Shape { tables, ..Shape::new(4, 4).paired() };
            let mut ctx = LayoutCtx::new(shape);
            if tables {
                let tag = ctx.table_tag(&FnTable { lo: -2, values: vec![4, 1, 0, 1, 4] });
                let x = ctx.constant(-1);
                let y = ctx.lookup(tag, x);
                assert_eq!(y.val, 1);
            }
            let placed = ctx.assert_zero(&[(Operand::Limb(100), 1), (Operand::Limb(100), 1), (Operand::Limb(100), 1), (Operand::Limb(100), 1)], -400);
            let row = placed[0].cell.row;
            ctx.check().expect("honest");
            let inst = super::instance_values(&ctx);
            let k = crate::layout::tests::k_for(ModelCircuit { ctx: ctx.clone() }.rows());
            assert_eq!(k, 17, "the pair table needs 2^17 rows");
            let accepts = |c: &LayoutCtx| MockProver::run(k, &ModelCircuit { ctx: c.clone() }, vec![inst.clone()]).expect("mock runs").verify().is_ok();
            assert!(accepts(&ctx), "honest witness rejected ({shape:?})");
            for bad_col in 0..4 {
                let mut forged = ctx.clone();
                for (j, x) in forged.rows[row].x.iter_mut().enumerate().take(4) {
                    let x = x.as_mut().expect("limb cell");
                    assert!(x.lookup);
                    x.val = if j == bad_col { 400 } else { 0 };
                }
                assert!(forged.check().is_err(), "the integer check sees the limb");
                assert!(!accepts(&forged), "limb 400 in column {bad_col} accepted ({shape:?})");
                assert!(mutation::without(ConstraintKind::Range, || accepts(&forged)), "column {bad_col}: the forgery must break only the range lookup ({shape:?})");
            }
        }
    }
}
