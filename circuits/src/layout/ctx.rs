//! `LayoutCtx`: the virtual row builder every gadget writes into.
//!
//! The circuit has one universal gate over `width` advice columns `x[j]`, an advice column
//! `out`, and fixed columns `w[j]`, `c`, `q_out`, `q_chain`, `q_mul`:
//!
//! ```text
//! q_out·out = q_chain·out[-1] + c + Σ_j w[j]·x[j] + q_mul·x[0]·x[1]
//!             + q_dot·Σ_{j<width/2} x[j]·x[width/2+j]
//! ```
//!
//! (the `q_dot` column exists only in circuits with witness weights, `Shape::dot`). The flags
//! `q_out` and `q_chain` share one fixed column, `q_o = q_out + 2·q_chain`, from which the
//! gate recovers each flag by a cubic ([`super::circuit::flag_of`]).
//!
//! A row whose fixed columns are all zero constrains nothing, so rows that only carry
//! range-checked cells need no selector. Columns `x[0..lookup_width]` each have a lookup
//! `q_range[j]·x[j] ∈ [0, 2^LIMB_BITS)`.
//!
//! Gadgets never see columns: they pass [`Operand`]s and coefficients, and get back
//! [`AValue`]s (an assigned cell with its integer value). Reusing an `AValue` in another row
//! adds a copy constraint. The row structure depends only on the graph (never on witness
//! values), so key generation and proving lay out identical circuits.

/// Bits per range-check limb: the lookup table is `[0, 2^LIMB_BITS)`.
use halo2_proofs::halo2curves::bn256::Fr;

pub const LIMB_BITS: u32 = 8;
pub const LIMB: i128 = 1 << LIMB_BITS;

/// Where a cell lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Col {
    X(usize),
    Out,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CellRef {
    pub row: usize,
    pub col: Col,
}

/// An assigned value: a cell and its integer value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AValue {
    pub cell: CellRef,
    pub val: i128,
}

/// One input of a linear row.
#[derive(Clone, Copy, Debug)]
pub enum Operand {
    /// An existing value, copied in.
    Cell(AValue),
    /// A fresh witness.
    New(i128),
    /// A fresh witness range-checked to `[0, 2^LIMB_BITS)` by the lookup.
    Limb(i128),
    /// A fresh witness holding the field inverse of the given integer (0 for 0).
    Inverse(i128),
}

/// One x-cell of a row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XCell {
    /// The integer value, or for an inverse cell the integer it inverts.
    pub val: i128,
    pub lookup: bool,
    /// The assigned field element is `val^-1` (0 when `val = 0`).
    pub inverse: bool,
}

/// One row of the universal gate, with its witness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub x: Vec<Option<XCell>>,
    pub w: Vec<i128>,
    pub c: i128,
    pub q_out: bool,
    pub q_chain: bool,
    pub q_mul: bool,
    /// Dot-product row: `Σ_{j<width/2} x[j]·x[width/2+j]` is added.
    pub q_dot: bool,
    /// Function-table tag (index into [`LayoutCtx::tables`] plus one; 0 = no lookup):
    /// `(tag, x[0], x[1])` must be a row of the table.
    pub tag: u32,
    pub out: Option<i128>,
}

impl Row {
    fn new(width: usize) -> Self {
        Row { x: vec![None; width], w: vec![0; width], c: 0, q_out: false, q_chain: false, q_mul: false, q_dot: false, tag: 0, out: None }
    }

    /// The gate's value on this row given the previous row's `out` (0 means satisfied), in
    /// wrapping i128 arithmetic: exact for every row but a wide one ([`LayoutCtx::wide_sum`]),
    /// whose shadow wraps the same way (its field value is checked by [`LayoutCtx::check`]).
    pub fn residual(&self, prev_out: i128) -> i128 {
        let xv = |j: usize| self.x[j].map_or(0, |c| c.val);
        let mut r = if self.q_out { self.out.unwrap_or(0) } else { 0 };
        if self.q_chain {
            r = r.wrapping_sub(prev_out);
        }
        r = r.wrapping_sub(self.c);
        for j in 0..self.x.len() {
            r = r.wrapping_sub(self.w[j].wrapping_mul(xv(j)));
        }
        if self.q_dot {
            let h = self.x.len() / 2;
            for j in 0..h {
                r = r.wrapping_sub(xv(j).wrapping_mul(xv(h + j)));
            }
        }
        if self.q_mul {
            let inv = |j: usize| self.x[j].is_some_and(|c| c.inverse);
            r -= match (inv(0), inv(1)) {
                (false, false) => xv(0) * xv(1),
                // a·a^-1 = 1 for a ≠ 0; any other product with an inverse is not an integer
                (false, true) if xv(1) != 0 => if xv(0) == xv(1) { 1 } else { return i128::MIN },
                (true, false) if xv(0) != 0 => if xv(1) == xv(0) { 1 } else { return i128::MIN },
                _ => 0,
            };
        }
        r
    }
}

/// Shape of the columns: how many x columns, how many of them have range lookups, whether
/// the circuit has the function-table lookup (set by [`crate::layout::lay_out`] when the
/// graph has [`crate::ops::Table`] nodes) and the Poseidon columns (set when a tensor is
/// hashed, [`crate::layout::poseidon`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shape {
    pub width: usize,
    pub lookup_width: usize,
    #[serde(default)]
    pub tables: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hash: bool,
    /// The dot-product gate term (set when the graph has witness weights).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dot: bool,
    /// The public words (the binding aside) sit in one committed advice column instead of the
    /// instance column, which then holds only the binding, a point `c` and the words'
    /// polynomial evaluated at `c` ([`crate::layout::public_column`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public_column: bool,
    /// The range lookups check two limb columns at once: columns `(2i, 2i+1)` form one
    /// lookup argument of the pair `(q_range[2i]·x[2i], q_range[2i+1]·x[2i+1])` against a
    /// table of all `2^(2·LIMB_BITS)` pairs of limbs ([`super::circuit`]). Every limb is still
    /// checked to `[0, 2^LIMB_BITS)`, and the layout is the same as without pairs; the circuit
    /// has half the lookup arguments for its lookup columns, and its table needs `2^16` rows
    /// (so `k >= 17`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pairs: bool,
}

impl Shape {
    pub const fn new(width: usize, lookup_width: usize) -> Self {
        Shape { width, lookup_width, tables: false, hash: false, dot: false, public_column: false, pairs: false }
    }

    /// The same shape with paired range lookups ([`Shape::pairs`]).
    pub const fn paired(self) -> Self {
        Shape { pairs: true, ..self }
    }
}

/// A Poseidon digest to prove: of the values of `cells` (packed tensor elements, in order)
/// under `domain`, exposed as public instance row `instance`.
#[derive(Clone, Debug)]
pub struct HashPlan {
    pub cells: Vec<AValue>,
    /// The hash's domain separator ([`crate::hash::tensor_domain`]).
    pub domain: u64,
    pub instance: usize,
}

impl Default for Shape {
    fn default() -> Self {
        Shape::new(6, 2)
    }
}

/// A function table: `values[i]` is the output for input `lo + i`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FnTable {
    pub lo: i64,
    pub values: Vec<i64>,
}

/// The virtual circuit: rows, copy constraints and public-instance bindings.
#[derive(Clone, Debug)]
pub struct LayoutCtx {
    pub shape: Shape,
    pub rows: Vec<Row>,
    pub copies: Vec<(CellRef, CellRef)>,
    /// (cell, instance row); row [`crate::public::BINDING`] is taken by [`Self::binding`].
    pub instances: Vec<(CellRef, usize)>,
    /// The binding value: public instance 0, copied into advice cell `x[0]` of row 0 so that
    /// a proof is valid only for this value. It constrains nothing else; callers choose it
    /// (zero by default; the inference market binds job id and provider).
    pub binding: Fr,
    /// Rows used by each graph node, in node order (input range checks are not counted).
    pub node_rows: Vec<usize>,
    /// First row of each graph node, in node order.
    pub node_start: Vec<usize>,
    /// Function tables used by [`Self::lookup`], tag = index + 1.
    pub tables: Vec<FnTable>,
    /// Digests proven by the Poseidon gadget, in instance order.
    pub hashes: Vec<HashPlan>,
    /// Rows whose `out` is a *wide* value, a field element beyond i128 ([`Self::wide_sum`]):
    /// the row's field value of `out` (its `out` holds the wrapped i128 shadow).
    pub wide: std::collections::HashMap<usize, Fr>,
    /// The point `c` at which a public-column circuit evaluates its words
    /// ([`crate::layout::public_column`]); unused otherwise. Zero until the prover sets it.
    pub point: Fr,
    /// Row currently used to pack single-limb range checks, and its next free lookup column.
    pack: Option<(usize, usize)>,
    /// A cell constrained to zero, filling unused product slots of dot rows.
    zero: Option<AValue>,
}

impl LayoutCtx {
    pub fn new(shape: Shape) -> Self {
        assert!(shape.width >= 2 && shape.lookup_width >= 1 && shape.lookup_width <= shape.width, "invalid layout shape");
        // Row 0 has no gate: the gate reads `out` at rotation -1, which at row 0 would wrap
        // into the blinding rows. Its cell x[0] holds the binding instance.
        let rows = vec![Row::new(shape.width)];
        LayoutCtx { shape, rows, copies: Vec::new(), instances: Vec::new(), binding: Fr::zero(), node_rows: Vec::new(), node_start: Vec::new(), tables: Vec::new(), hashes: Vec::new(), wide: Default::default(), point: Fr::zero(), pack: None, zero: None }
    }

    /// Binds `v` to public instance row `index`.
    pub fn expose(&mut self, v: AValue, index: usize) {
        self.instances.push((v.cell, index));
    }

    fn push_row(&mut self) -> usize {
        self.rows.push(Row::new(self.shape.width));
        self.rows.len() - 1
    }

    /// Puts `op` into (row, col); returns the cell now holding it.
    fn place(&mut self, row: usize, col: usize, op: Operand) -> AValue {
        let cell = CellRef { row, col: Col::X(col) };
        let (val, lookup, inverse) = match op {
            Operand::Cell(a) => {
                self.copies.push((a.cell, cell));
                (a.val, false, false)
            }
            Operand::New(v) => (v, false, false),
            Operand::Limb(v) => (v, true, false),
            Operand::Inverse(v) => (v, false, true),
        };
        debug_assert!(!lookup || col < self.shape.lookup_width);
        debug_assert!(!inverse || col < 2, "inverse cells only enter products");
        self.rows[row].x[col] = Some(XCell { val, lookup, inverse });
        AValue { cell, val }
    }

    /// Lays out `Σ coef·operand + c`; with `want_out` the result is returned as a new cell,
    /// otherwise the sum is constrained to be zero. Also returns where each operand was put.
    fn linear(&mut self, terms: &[(Operand, i128)], c: i128, want_out: bool) -> (Option<AValue>, Vec<AValue>) {
        let (w, lw) = (self.shape.width, self.shape.lookup_width);
        // Limbs need lookup columns; everything else prefers the other columns.
        let mut limbs: Vec<usize> = Vec::new();
        let mut others: Vec<usize> = Vec::new();
        for (i, (op, _)) in terms.iter().enumerate() {
            match op {
                Operand::Limb(_) => limbs.push(i),
                _ => others.push(i),
            }
        }
        let mut placed: Vec<Option<AValue>> = vec![None; terms.len()];
        let (mut li, mut oi) = (0, 0);
        let mut acc: i128 = c;
        let mut first = true;
        let mut last_out: Option<AValue> = None;
        loop {
            let r = self.push_row();
            let mut free: Vec<usize> = (0..w).collect();
            // limbs first, into lookup columns
            let mut col = 0;
            while li < limbs.len() && col < lw {
                let t = limbs[li];
                placed[t] = Some(self.place(r, col, terms[t].0));
                self.rows[r].w[col] = terms[t].1;
                acc += terms[t].1 * placed[t].map_or(0, |a| a.val);
                free.retain(|&f| f != col);
                li += 1;
                col += 1;
            }
            // then the rest, non-lookup columns first
            free.sort_by_key(|&f| (f < lw, f));
            for f in free {
                if oi >= others.len() {
                    break;
                }
                let t = others[oi];
                placed[t] = Some(self.place(r, f, terms[t].0));
                self.rows[r].w[f] = terms[t].1;
                acc += terms[t].1 * placed[t].map_or(0, |a| a.val);
                oi += 1;
            }
            let row = &mut self.rows[r];
            row.c = if first { c } else { 0 };
            row.q_chain = !first;
            let done = li >= limbs.len() && oi >= others.len();
            if !done || want_out {
                row.q_out = true;
                row.out = Some(acc);
                last_out = Some(AValue { cell: CellRef { row: r, col: Col::Out }, val: acc });
            }
            first = false;
            if done {
                break;
            }
        }
        let placed = placed.into_iter().map(|p| p.expect("every term is placed")).collect();
        (if want_out { last_out } else { None }, placed)
    }

    /// A new cell equal to `low + 2^shift·high` as a field element, which may exceed i128
    /// (two packed halves of one public word, [`crate::public::Packing`]): one row
    /// `out = x[0] + 2^shift·x[1]`, `out` recorded in [`Self::wide`]. `shift` <= 126.
    pub fn wide_sum(&mut self, low: AValue, high: AValue, shift: u32) -> AValue {
        assert!(shift <= 126, "wide_sum shift {shift} beyond an i128 coefficient");
        let k = 1i128 << shift;
        let r = self.push_row();
        self.place(r, 0, Operand::Cell(low));
        self.place(r, 1, Operand::Cell(high));
        let row = &mut self.rows[r];
        row.w[0] = 1;
        row.w[1] = k;
        row.q_out = true;
        self.wide.insert(r, Fr::zero());
        self.refresh_wide_row(r);
        AValue { cell: CellRef { row: r, col: Col::Out }, val: self.rows[r].out.expect("set by refresh_wide_row") }
    }

    /// Sets a wide row's `out` (field value and wrapped shadow) from its cells, as made by
    /// [`Self::wide_sum`] or after a test changed them; other rows are left alone.
    pub fn refresh_wide_row(&mut self, r: usize) {
        if !self.wide.contains_key(&r) {
            return;
        }
        let row = &mut self.rows[r];
        let xv = |j: usize| row.x[j].map_or(0, |x| x.val);
        let shadow = (0..row.x.len()).fold(row.c, |acc, j| acc.wrapping_add(row.w[j].wrapping_mul(xv(j))));
        let v = linear_field_sum(row);
        row.out = Some(shadow);
        self.wide.insert(r, v);
    }

    /// A new cell equal to `c + Σ coef·operand`.
    pub fn lin(&mut self, terms: &[(Operand, i128)], c: i128) -> AValue {
        let (out, _) = self.linear(terms, c, true);
        out.expect("want_out yields a cell")
    }

    /// Like [`Self::lin`], also returning the cells the operands were placed in.
    pub fn lin_placed(&mut self, terms: &[(Operand, i128)], c: i128) -> (AValue, Vec<AValue>) {
        let (out, placed) = self.linear(terms, c, true);
        (out.expect("want_out yields a cell"), placed)
    }

    /// Constrains `c + Σ coef·operand = 0`; returns where the operands were placed.
    pub fn assert_zero(&mut self, terms: &[(Operand, i128)], c: i128) -> Vec<AValue> {
        self.linear(terms, c, false).1
    }

    /// Constrains `a · (b + k) = 0`; returns the cells of `a` and `b`.
    pub fn assert_product_zero(&mut self, a: Operand, b: Operand, k: i128) -> (AValue, AValue) {
        let r = self.push_row();
        let a = self.place(r, 0, a);
        let b = self.place(r, 1, b);
        let row = &mut self.rows[r];
        row.q_mul = true;
        row.w[0] = k;
        (a, b)
    }

    /// Lays out `a·b + Σ coef·operand + c`: returned as a new cell with `want_out`, else
    /// constrained to zero. Returns the cells of `a`, `b` and the terms, in that order. Terms
    /// beyond the product row's `width - 2` free slots are summed on rows of their own first
    /// (and at width 2, where the row has no free slot, the product is added to them after).
    pub fn mul_add(&mut self, a: Operand, b: Operand, terms: &[(Operand, i128)], c: i128, want_out: bool) -> (Option<AValue>, Vec<AValue>) {
        let room = self.shape.width - 2;
        if terms.len() > room {
            if room == 0 {
                let (p, mut cells) = self.mul_add(a, b, &[], 0, true);
                let mut all = vec![(Operand::Cell(p.expect("want_out yields a cell")), 1)];
                all.extend_from_slice(terms);
                let (out, placed) = self.linear(&all, c, want_out);
                cells.extend(placed.into_iter().skip(1));
                return (out, cells);
            }
            let keep = room - 1;
            let (s, rest) = self.lin_placed(&terms[keep..], 0);
            let mut head = terms[..keep].to_vec();
            head.push((Operand::Cell(s), 1));
            let (out, mut cells) = self.mul_add(a, b, &head, c, want_out);
            cells.pop();
            cells.extend(rest);
            return (out, cells);
        }
        let r = self.push_row();
        let ab_inverse = matches!(b, Operand::Inverse(_));
        let a = self.place(r, 0, a);
        let b = self.place(r, 1, b);
        let mut acc = if ab_inverse { (a.val != 0 && a.val == b.val) as i128 } else { a.val * b.val } + c;
        let mut placed = vec![a, b];
        for (j, (op, coef)) in terms.iter().enumerate() {
            let p = self.place(r, j + 2, *op);
            self.rows[r].w[j + 2] = *coef;
            acc += coef * p.val;
            placed.push(p);
        }
        let row = &mut self.rows[r];
        row.q_mul = true;
        row.c = c;
        let out = want_out.then(|| {
            row.q_out = true;
            row.out = Some(acc);
            AValue { cell: CellRef { row: r, col: Col::Out }, val: acc }
        });
        (out, placed)
    }

    /// A new cell equal to `Σ a_i·b_i + Σ coef·operand + c`: rows of `width/2` products
    /// each (the `q_dot` term) chained through `out`, then one linear row for the terms.
    /// Product slots a last row leaves unused get a copy of a zero cell, so a prover cannot
    /// add anything through them.
    pub fn dot(&mut self, pairs: &[(AValue, AValue)], terms: &[(Operand, i128)], c: i128) -> AValue {
        assert!(self.shape.dot, "dot products are off in this shape");
        let h = self.shape.width / 2;
        // (made before the chain: its row must not sit between two chained rows)
        let zero = (pairs.len() % h != 0).then(|| self.zero_cell());
        let mut acc = c;
        let mut last: Option<AValue> = None;
        for chunk in pairs.chunks(h) {
            let r = self.push_row();
            for (j, &(a, b)) in chunk.iter().enumerate() {
                self.place(r, j, Operand::Cell(a));
                self.place(r, h + j, Operand::Cell(b));
                acc += a.val * b.val;
            }
            if let Some(z) = zero.filter(|_| chunk.len() < h) {
                for j in chunk.len()..h {
                    self.place(r, j, Operand::Cell(z));
                }
            }
            let row = &mut self.rows[r];
            row.q_dot = true;
            row.q_chain = last.is_some();
            row.c = if last.is_none() { c } else { 0 };
            row.q_out = true;
            row.out = Some(acc);
            last = Some(AValue { cell: CellRef { row: r, col: Col::Out }, val: acc });
        }
        match last {
            None => self.lin(terms, c),
            Some(prev) if terms.is_empty() => prev,
            Some(prev) => {
                let mut all = vec![(Operand::Cell(prev), 1)];
                all.extend_from_slice(terms);
                self.lin(&all, 0)
            }
        }
    }

    /// The shared cell constrained to zero.
    fn zero_cell(&mut self) -> AValue {
        match self.zero {
            Some(z) => z,
            None => {
                let z = self.constant(0);
                self.zero = Some(z);
                z
            }
        }
    }

    /// Tag of a function table, registering it on first use.
    pub fn table_tag(&mut self, t: &FnTable) -> u32 {
        match self.tables.iter().position(|x| x == t) {
            Some(i) => i as u32 + 1,
            None => {
                self.tables.push(t.clone());
                self.tables.len() as u32
            }
        }
    }

    /// A new cell holding `table(x)`, constrained by the function-table lookup.
    pub fn lookup(&mut self, tag: u32, x: AValue) -> AValue {
        debug_assert!(self.shape.tables, "function tables are off in this shape");
        let t = &self.tables[tag as usize - 1];
        let y = t.values[(x.val - t.lo as i128) as usize] as i128;
        let r = self.push_row();
        self.place(r, 0, Operand::Cell(x));
        let y = self.place(r, 1, Operand::New(y));
        self.rows[r].tag = tag;
        y
    }

    /// A constrained constant cell.
    pub fn constant(&mut self, v: i128) -> AValue {
        self.lin(&[], v)
    }

    /// A new cell holding `v`, constrained to be 0 or 1 (`v·v - v = 0`).
    pub fn assert_bool(&mut self, v: i128) -> AValue {
        debug_assert!(v == 0 || v == 1);
        let r = self.push_row();
        let a = self.place(r, 0, Operand::New(v));
        self.place(r, 1, Operand::Cell(a));
        let row = &mut self.rows[r];
        row.q_mul = true;
        row.w[0] = -1;
        a
    }

    /// A new cell holding `val`, constrained to `[0, 2^(LIMB_BITS·limbs))`.
    pub fn range(&mut self, val: i128, limbs: usize) -> AValue {
        debug_assert!(limbs >= 1 && (limbs as u32) * LIMB_BITS < 127);
        debug_assert!(super::cheat::active() || (val >= 0 && val < 1i128 << (LIMB_BITS * limbs as u32)));
        if limbs == 1 {
            let (r, col) = match self.pack {
                Some((r, col)) if col < self.shape.lookup_width => (r, col),
                _ => (self.push_row(), 0),
            };
            self.pack = Some((r, col + 1));
            return self.place(r, col, Operand::Limb(val));
        }
        self.lin(&limb_terms(val, limbs, 1), 0)
    }

    /// A new cell holding `val`, constrained to the inclusive range `[lo, hi]`.
    pub fn bounded(&mut self, val: i128, lo: i128, hi: i128) -> AValue {
        debug_assert!(lo <= val && val <= hi);
        let n = limbs_for(hi - lo);
        let y = self.lin(&limb_terms(val - lo, n, 1), lo);
        if hi - lo + 1 != LIMB.pow(n as u32) {
            // also hi - y >= 0
            self.assert_range_of(hi - val, n, &[(Operand::Cell(y), 1)], -hi);
        }
        y
    }

    /// Constrains `s := -(c + Σ coef·operand)` to `[0, 2^(LIMB_BITS·limbs))`, where `s_val` is its value.
    pub fn assert_range_of(&mut self, s_val: i128, limbs: usize, terms: &[(Operand, i128)], c: i128) {
        let mut all = limb_terms(s_val, limbs, 1);
        all.extend_from_slice(terms);
        self.assert_zero(&all, c);
    }

    /// Checks that the layout is well formed for its shape: every row `width` cells wide, the
    /// gate terms and lookups it uses enabled by the shape (dot products, function tables,
    /// Poseidon columns), and every referenced cell inside the layout. [`Self::check`] and
    /// the advice builder ([`super::witness::advice_columns`]) run it first, so a malformed
    /// layout is an error, not a panic or a proof that cannot verify.
    pub fn check_structure(&self) -> std::result::Result<(), String> {
        let width = self.shape.width;
        if width < 2 {
            return Err(format!("shape {:?}: fewer than 2 x columns", self.shape));
        }
        for (i, row) in self.rows.iter().enumerate() {
            if row.x.len() != width || row.w.len() != width {
                return Err(format!("row {i}: {} cells and {} weights, the shape has {width} columns", row.x.len(), row.w.len()));
            }
            if row.q_dot && !self.shape.dot {
                return Err(format!("row {i}: a dot-product row, but the shape has no dot-product term"));
            }
            if row.tag != 0 && !self.shape.tables {
                return Err(format!("row {i}: a function-table lookup, but the shape has no function tables"));
            }
        }
        if !self.hashes.is_empty() && !(self.shape.hash && width >= 2 * crate::hash::T) {
            return Err(format!("{} Poseidon digest(s), but shape {:?} has no Poseidon columns (needs hash and width >= {})", self.hashes.len(), self.shape, 2 * crate::hash::T));
        }
        let inside = |c: &CellRef| {
            c.row < self.rows.len()
                && match c.col {
                    Col::Out => true,
                    Col::X(j) => j < width,
                }
        };
        let refs = self.copies.iter().flat_map(|(a, b)| [a, b]).chain(self.instances.iter().map(|(c, _)| c)).chain(self.hashes.iter().flat_map(|h| h.cells.iter().map(|v| &v.cell)));
        for c in refs {
            if !inside(c) {
                return Err(format!("cell {c:?} is outside the layout ({} rows, {width} columns)", self.rows.len()));
            }
        }
        Ok(())
    }

    /// Checks every row's gate, every copy and every limb range on the integer witness:
    /// a fast pre-check before handing the circuit to halo2 (after [`Self::check_structure`]).
    pub fn check(&self) -> std::result::Result<(), String> {
        self.check_structure()?;
        let mut prev = 0;
        for (i, row) in self.rows.iter().enumerate() {
            let res = row.residual(prev);
            if res != 0 {
                return Err(format!("row {i}: gate residual {res}"));
            }
            for (j, x) in row.x.iter().enumerate() {
                if let Some(x) = x {
                    if x.lookup && !(0..LIMB).contains(&x.val) {
                        return Err(format!("row {i} col {j}: limb {} out of range", x.val));
                    }
                }
            }
            if row.tag != 0 {
                let t = self.tables.get(row.tag as usize - 1).ok_or_else(|| format!("row {i}: unknown table tag {}", row.tag))?;
                let xv = |j: usize| row.x[j].map_or(0, |c| c.val);
                let idx = xv(0) - t.lo as i128;
                if idx < 0 || idx as usize >= t.values.len() || t.values[idx as usize] as i128 != xv(1) {
                    return Err(format!("row {i}: ({}, {}) is not in table {}", xv(0), xv(1), row.tag));
                }
            }
            prev = row.out.unwrap_or(0);
        }
        for (a, b) in &self.copies {
            let differ = if self.wide.is_empty() { self.value(*a) != self.value(*b) } else { self.fvalue(*a) != self.fvalue(*b) };
            if differ {
                return Err(format!("copy {a:?} -> {b:?} differs"));
            }
        }
        // wide rows: the gate in the field (their shadow only wraps)
        for (&r, &v) in &self.wide {
            let row = self.rows.get(r).ok_or_else(|| format!("wide row {r} is outside the layout"))?;
            if row.q_chain || row.q_mul || row.q_dot || row.tag != 0 || !row.q_out {
                return Err(format!("row {r}: a wide row must be a plain linear row"));
            }
            if linear_field_sum(row) != v {
                return Err(format!("row {r}: wide gate residual"));
            }
        }
        Ok(())
    }

    /// The integer shadow of a cell (for a wide cell, its wrapped i128; see [`Self::fvalue`]).
    pub fn value(&self, c: CellRef) -> i128 {
        let row = &self.rows[c.row];
        match c.col {
            Col::X(j) => row.x[j].map_or(0, |x| x.val),
            Col::Out => row.out.unwrap_or(0),
        }
    }

    /// The field element a cell holds (for an inverse cell, its integer's, not the inverse).
    pub fn fvalue(&self, c: CellRef) -> Fr {
        match (c.col, self.wide.get(&c.row)) {
            (Col::Out, Some(v)) => *v,
            _ => super::circuit::fe(self.value(c)),
        }
    }
}

/// `c + Σ_j w[j]·x[j]` of a plain linear row, in the field (a wide row's `out`).
fn linear_field_sum(row: &Row) -> Fr {
    let fe = super::circuit::fe;
    (0..row.x.len()).fold(fe(row.c), |acc, j| acc + fe(row.w[j]) * row.x[j].map_or(Fr::zero(), |x| fe(x.val)))
}

/// `val` as `n` limbs of `LIMB_BITS` bits, least significant first, each with coefficient
/// `sign·2^(LIMB_BITS·j)`. For `val` in `[0, 2^(LIMB_BITS·n))` every limb is in range; for
/// any other value (only a forged witness has one) the top limb holds the rest, so the limbs
/// still add up to `val` and only the range lookup objects.
pub fn limb_terms(val: i128, n: usize, sign: i128) -> Vec<(Operand, i128)> {
    (0..n)
        .map(|j| {
            let shifted = val >> (LIMB_BITS * j as u32);
            let limb = if j + 1 == n { shifted } else { shifted & (LIMB - 1) };
            (Operand::Limb(limb), sign * LIMB.pow(j as u32))
        })
        .collect()
}

/// Number of limbs to hold any value in `[0, span]`.
pub fn limbs_for(span: i128) -> usize {
    let bits = 128 - span.max(1).leading_zeros();
    bits.div_ceil(LIMB_BITS) as usize
}
