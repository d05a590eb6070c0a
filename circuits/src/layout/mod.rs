//! Circuit layout: gadgets write virtual rows into a [`LayoutCtx`]; [`circuit`] turns them
//! into a halo2 circuit; [`witness`] builds its advice columns directly for proving.

pub mod cheat;
pub mod circuit;
pub mod ctx;
pub mod poseidon;
pub mod public_column;
pub mod witness;
#[cfg(test)]
mod forgery;
#[cfg(test)]
pub(crate) mod tests;

use ctx::{AValue, HashPlan, LayoutCtx, Shape};

use crate::error::{CircuitError, Result};
use crate::ir::{Graph, Tensor, Visibility};
use crate::public::{packing_of, Packing};

/// Most rows a laid-out circuit may have (2^24): beyond it layout stops with
/// [`CircuitError::TooLarge`] instead of exhausting memory.
pub const MAX_ROWS: usize = 1 << 24;

/// A tensor of assigned cells.
#[derive(Clone, Debug)]
pub struct CellTensor {
    pub shape: Vec<usize>,
    pub cells: Vec<AValue>,
}

/// Lays out the whole graph on the given quantized inputs (and the graph's witness weights,
/// [`Graph::params`]). Public instances are the binding value ([`LayoutCtx::binding`], zero
/// until set), then the packed input elements, then the packed output elements, then the
/// witness weights', in order ([`crate::public`]).
///
/// `linked` tensors (shard boundaries) are digested with salt zero: enough for key generation
/// and tests; a shard proof uses [`lay_out_salted`].
pub fn lay_out(g: &Graph, inputs: &[Tensor], shape: Shape) -> Result<LayoutCtx> {
    lay_out_salted(g, inputs, shape, 0)
}

/// Most bits of a shard link salt ([`crate::hash::link_domain`]).
pub const SALT_BITS: u32 = 120;

/// [`lay_out`] with the secret `salt` (below 2^[`SALT_BITS`]) of the graph's `linked`
/// tensors' digests. The salt sits in one range-checked advice cell that every link digest
/// of the layout starts with; it is constrained nowhere else: a different salt only gives
/// different digests, which then match no other shard's.
pub fn lay_out_salted(g: &Graph, inputs: &[Tensor], shape: Shape, salt: u128) -> Result<LayoutCtx> {
    if salt >> SALT_BITS != 0 {
        return Err(CircuitError::Internal(format!("a link salt has at most {SALT_BITS} bits")));
    }
    if inputs.len() != g.inputs.len() {
        return Err(CircuitError::InputCount { expected: g.inputs.len(), got: inputs.len() });
    }
    let tables = g.nodes.iter().any(|n| matches!(n.op, crate::ops::Op::Table(_) | crate::ops::Op::Interp(_)));
    let hash = g.has_hashed();
    let dot = g.has_dot();
    if hash && shape.width < poseidon::MIN_WIDTH {
        return Err(CircuitError::Unsupported { op: "hashed visibility".into(), node: "-".into(), why: format!("hashing needs a circuit width of at least {}, the shape has {}", poseidon::MIN_WIDTH, shape.width) });
    }
    let mut ctx = LayoutCtx::new(Shape { tables, hash, dot, ..shape });
    let mut vals: Vec<Option<CellTensor>> = vec![None; g.values.len()];
    let mut instance = crate::public::BINDING + 1;
    let mut salt = Salt { value: salt as i128, cell: None };
    for (spec, t) in g.inputs.iter().zip(inputs) {
        let info = g.info(spec.value);
        if t.shape != info.shape {
            return Err(CircuitError::Internal(format!("input {} has shape {:?}, expected {:?}", spec.name, t.shape, info.shape)));
        }
        if let Some(&v) = t.data.iter().find(|&&v| v < info.lo || v > info.hi) {
            return Err(CircuitError::OutOfRange { name: spec.name.clone(), index: 0, value: v as f64, min: info.lo as f64, max: info.hi as f64, hint: "" });
        }
        let cells: Vec<AValue> = t.data.iter().map(|&v| ctx.bounded(v as i128, info.lo as i128, info.hi as i128)).collect();
        reveal(&mut ctx, spec.visibility, Packing::new(info.lo, info.hi), &cells, &mut instance, &mut salt);
        vals[spec.value] = Some(CellTensor { shape: t.shape.clone(), cells });
    }
    // witness weights: range-checked to their declared range (which the bounds of every
    // accumulator assume), revealed after the outputs
    let mut param_cells = Vec::with_capacity(g.params.len());
    for (p, t) in g.params.iter().zip(g.param_tensors()?) {
        let info = g.info(p.value);
        if let Some((index, &v)) = t.data.iter().enumerate().find(|(_, &v)| v < info.lo || v > info.hi) {
            return Err(CircuitError::WeightRange { name: p.name.clone(), index, value: v, lo: info.lo, hi: info.hi });
        }
        let cells: Vec<AValue> = t.data.iter().map(|&v| ctx.bounded(v as i128, info.lo as i128, info.hi as i128)).collect();
        param_cells.push(cells.clone());
        vals[p.value] = Some(CellTensor { shape: t.shape.clone(), cells });
    }
    for node in &g.nodes {
        let ins: Vec<&CellTensor> = node
            .op
            .inputs()
            .iter()
            .map(|&i| vals[i].as_ref().ok_or_else(|| CircuitError::Internal(format!("value {i} used before defined"))))
            .collect::<Result<_>>()?;
        let before = ctx.rows.len();
        ctx.node_start.push(before);
        let out = node.op.layout(&mut ctx, g, &ins);
        ctx.node_rows.push(ctx.rows.len() - before);
        if ctx.rows.len() > MAX_ROWS {
            return Err(CircuitError::TooLarge { needed: usize::BITS - ctx.rows.len().leading_zeros(), max: MAX_ROWS.trailing_zeros() });
        }
        vals[node.output] = Some(out);
    }
    for o in &g.outputs {
        let t = vals[o.value].as_ref().ok_or_else(|| CircuitError::Internal(format!("output {} undefined", o.name)))?;
        // outputs are range-checked to their bounds by the op producing them (a Rescale, or
        // ops that preserve their input's checked range); pack by those bounds
        reveal(&mut ctx, o.visibility, packing_of(g, o.value), &t.cells, &mut instance, &mut salt);
    }
    for (p, cells) in g.params.iter().zip(&param_cells) {
        reveal(&mut ctx, p.visibility, packing_of(g, p.value), cells, &mut instance, &mut salt);
    }
    let total = ctx.rows.len() + ctx.hashes.iter().map(|h| poseidon::rows_for(h.cells.len())).sum::<usize>();
    if total > MAX_ROWS {
        return Err(CircuitError::TooLarge { needed: usize::BITS - total.leading_zeros(), max: MAX_ROWS.trailing_zeros() });
    }
    Ok(ctx)
}

/// What laying out a graph takes, counted without holding all its rows ([`count_rows`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowCount {
    /// The shape with the gadgets the graph needs switched on (as the whole layout's).
    pub shape: Shape,
    /// Rows of each node, in node order (as [`LayoutCtx::node_rows`]).
    pub node_rows: Vec<usize>,
    /// Every row: the nodes', the range checks of the inputs and witness weights, the packing
    /// of public values and the Poseidon gadget's rows for digests.
    pub total: usize,
    /// Rows the lookup tables need (the range table, the function tables), as
    /// [`circuit::ModelCircuit::table_rows`].
    pub table_rows: usize,
}

/// Counts the rows of [`lay_out`]`(g, inputs, shape)` node by node: each node is laid out
/// alone, on stand-in cells holding its inputs' values (the reference executor's), and
/// dropped before the next, so memory is bounded by the largest node and graphs of any size
/// can be planned (e.g. cut into shards). The nodes' counts are the whole layout's up to the
/// sharing of a partly used range-check row between neighbouring nodes; function tables used
/// by several nodes are counted once.
pub fn count_rows(g: &Graph, inputs: &[Tensor], shape: Shape) -> Result<RowCount> {
    let vals = crate::exec::run(g, inputs)?;
    let tables = g.nodes.iter().any(|n| matches!(n.op, crate::ops::Op::Table(_) | crate::ops::Op::Interp(_)));
    let shape = Shape { tables, hash: g.has_hashed(), dot: g.has_dot(), ..shape };
    let value = |v: crate::ir::ValueId| -> Result<&Tensor> { vals.get(v).ok_or_else(|| CircuitError::Internal(format!("value {v} has no value"))) };
    // what lies outside the nodes: the public values' frame, laid out on its own
    let mut frame = lay_out_salted(&Graph { nodes: vec![], outputs: vec![], ..g.clone() }, inputs, shape, 0)?;
    let mut instance = crate::public::BINDING + 1 + crate::public::tensor_instance_counts(g)[..g.inputs.len()].iter().sum::<usize>();
    let mut salt = Salt { value: 0, cell: None };
    for o in &g.outputs {
        let info = g.info(o.value);
        let cells: Vec<AValue> = value(o.value)?.data.iter().map(|&v| frame.bounded(v as i128, info.lo as i128, info.hi as i128)).collect();
        reveal(&mut frame, o.visibility, packing_of(g, o.value), &cells, &mut instance, &mut salt);
    }
    let mut total = frame.rows.len() + frame.hashes.iter().map(|h| poseidon::rows_for(h.cells.len())).sum::<usize>();
    let mut fn_tables: Vec<ctx::FnTable> = Vec::new();
    let mut node_rows = Vec::with_capacity(g.nodes.len());
    // a node's inputs only need to be cells holding their values: all of them stand in row 0's
    // first cell (no rows of their own; the copies a node makes from them are what it costs)
    let stand_in = |x: i64| AValue { cell: ctx::CellRef { row: 0, col: ctx::Col::X(0) }, val: x as i128 };
    for node in &g.nodes {
        let mut ctx = LayoutCtx::new(shape);
        let mut ins = Vec::new();
        for v in node.op.inputs() {
            let t = value(v)?;
            ins.push(CellTensor { shape: t.shape.clone(), cells: t.data.iter().map(|&x| stand_in(x)).collect() });
        }
        let refs: Vec<&CellTensor> = ins.iter().collect();
        let before = ctx.rows.len();
        node.op.layout(&mut ctx, g, &refs);
        let rows = ctx.rows.len() - before;
        node_rows.push(rows);
        total += rows;
        for t in ctx.tables {
            if !fn_tables.contains(&t) {
                fn_tables.push(t);
            }
        }
    }
    let table_rows = circuit::table_rows(tables, shape.pairs, &fn_tables);
    Ok(RowCount { shape, node_rows, total: total.max(table_rows), table_rows })
}

/// Makes range-checked `cells` public by `vis` from instance row `*instance` on: packed
/// values, or the Poseidon digest of the packed values (salted for a `linked` tensor), or
/// nothing.
fn reveal(ctx: &mut LayoutCtx, vis: Visibility, packing: Packing, cells: &[AValue], instance: &mut usize, salt: &mut Salt) {
    match vis {
        Visibility::Public => {
            for c in packing.pack_cells(ctx, cells) {
                ctx.expose(c, *instance);
                *instance += 1;
            }
        }
        Visibility::Hashed => {
            let packed = packing.pack_cells(ctx, cells);
            ctx.hashes.push(HashPlan { cells: packed, domain: crate::hash::tensor_domain(cells.len(), packing.bytes), instance: *instance });
            *instance += 1;
        }
        Visibility::Linked => {
            let salt_cell = salt.cell(ctx);
            let packed = packing.pack_cells(ctx, cells);
            let msg = std::iter::once(salt_cell).chain(packed).collect();
            ctx.hashes.push(HashPlan { cells: msg, domain: crate::hash::link_domain(cells.len(), packing.bytes), instance: *instance });
            *instance += 1;
        }
        Visibility::Private => {}
    }
}

/// The link salt of a layout: its advice cell, placed when the first `linked` tensor needs it.
struct Salt {
    value: i128,
    cell: Option<AValue>,
}

impl Salt {
    fn cell(&mut self, ctx: &mut LayoutCtx) -> AValue {
        *self.cell.get_or_insert_with(|| ctx.range(self.value, (SALT_BITS / ctx::LIMB_BITS) as usize))
    }
}
