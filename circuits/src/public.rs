//! Public instances: the binding value (instance [`BINDING`]), then for each input tensor,
//! then each output tensor, then each witness weight tensor ([`Graph::params`]), by its
//! [`Visibility`]: its quantized values packed several per
//! field element (`public`), one Poseidon digest of those packed elements (`hashed`,
//! [`crate::hash`]), or nothing (`private`).
//!
//! The binding is any field element the prover commits to; the circuit copies it into an
//! advice cell (so the permutation argument fixes it) and uses it nowhere else. A proof made
//! for one binding does not verify for another: the inference market sets it to
//! `keccak256(chainid, market, jobId, provider) mod r`, so a proof cannot be replayed for
//! another job or by another provider. Outside the market it is zero.
//!
//! Packing: Every value is range-checked to `[lo, hi]` in the circuit, so
//! `Σ_i (v_i - lo)·2^(8·bytes·i)` is injective as long as it stays below the field's modulus:
//! a word holds at most 30 bytes (240 bits). Packing cuts the verifier's per-instance cost
//! (calldata and gas) by up to 30x for 8-bit tensors. The layout computes a word from two
//! halves of at most 15 bytes each, whose integer shadows fit i128, joined by one row
//! ([`LayoutCtx::wide_sum`]).

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::PrimeField;

use crate::ir::{Graph, Tensor, ValueId, Visibility};
use crate::layout::circuit::fe;
use crate::layout::ctx::{limbs_for, AValue, LayoutCtx, Operand, LIMB_BITS};

/// Bits of one half of a packed field element: keeps the integer shadow of the layout
/// within i128. A word is two halves (at most 240 bits, below the BN254 scalar modulus).
pub const HALF_BITS: u32 = 120;

/// How one tensor's values are packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packing {
    pub lo: i64,
    /// Bytes per value.
    pub bytes: usize,
    /// Values per field element (twice [`Self::half`]).
    pub per_elem: usize,
    /// Values in the low half of a word; the high half holds the rest.
    pub half: usize,
}

impl Packing {
    pub fn new(lo: i64, hi: i64) -> Self {
        let bytes = limbs_for(hi as i128 - lo as i128);
        // the layout's integer shadow of a packed element, Σ 256^(bytes·i)·v_i and its offset
        // Σ 256^(bytes·i)·lo, must stay within i128: fewer values per element when the
        // range lies far from zero
        let m = crate::ir::bound_bits(lo, hi) as usize;
        let fit = 124usize.saturating_sub(m) / (LIMB_BITS as usize * bytes) + 1;
        let half = ((HALF_BITS / LIMB_BITS) as usize / bytes).min(fit).max(1);
        Packing { lo, bytes, per_elem: 2 * half, half }
    }

    fn weight(&self, i: usize) -> i128 {
        1i128 << (LIMB_BITS as usize * self.bytes * i)
    }

    /// Number of field elements for `n` values.
    pub fn elems(&self, n: usize) -> usize {
        n.div_ceil(self.per_elem)
    }

    fn span(&self) -> i128 {
        1i128 << (LIMB_BITS as usize * self.bytes)
    }

    /// Packs plain values; `None` if one lies outside `[lo, lo + 2^(8·bytes))`, where
    /// packing would stop being injective.
    pub fn pack(&self, values: &[i64]) -> Option<Vec<Fr>> {
        if values.iter().any(|&v| !(0..self.span()).contains(&(v as i128 - self.lo as i128))) {
            return None;
        }
        let half = |vs: &[i64]| -> i128 { vs.iter().enumerate().map(|(i, &v)| (v - self.lo) as i128 * self.weight(i)).sum() };
        let shift = fe(self.weight(self.half));
        Some(
            values
                .chunks(self.per_elem)
                .map(|ch| {
                    let (low, high) = ch.split_at(ch.len().min(self.half));
                    fe(half(low)) + fe(half(high)) * shift
                })
                .collect(),
        )
    }

    /// Lays out the packing of range-checked cells; returns the packed cells (a word of more
    /// than [`Self::half`] values is a wide cell: its two halves joined by one row).
    pub fn pack_cells(&self, ctx: &mut LayoutCtx, cells: &[AValue]) -> Vec<AValue> {
        let half = |ctx: &mut LayoutCtx, ch: &[AValue]| {
            let terms: Vec<(Operand, i128)> = ch.iter().enumerate().map(|(i, &c)| (Operand::Cell(c), self.weight(i))).collect();
            let off: i128 = (0..ch.len()).map(|i| self.weight(i)).sum::<i128>() * self.lo as i128;
            ctx.lin(&terms, -off)
        };
        cells
            .chunks(self.per_elem)
            .map(|ch| {
                let (low, high) = ch.split_at(ch.len().min(self.half));
                let low = half(ctx, low);
                if high.is_empty() {
                    return low;
                }
                let high = half(ctx, high);
                ctx.wide_sum(low, high, LIMB_BITS * (self.bytes * self.half) as u32)
            })
            .collect()
    }
}

/// Packing of a value: by its (range-checked) bounds.
pub fn packing_of(g: &Graph, v: ValueId) -> Packing {
    let i = g.info(v);
    Packing::new(i.lo, i.hi)
}

/// Packing of each input tensor (by its declared quantized range), then each output, then
/// each witness weight tensor (by its declared range).
pub fn packings(g: &Graph) -> Vec<Packing> {
    let ins = g.inputs.iter().map(|s| Packing::new(s.lo, s.hi));
    let outs = g.outputs.iter().map(|o| packing_of(g, o.value));
    let params = g.params.iter().map(|p| packing_of(g, p.value));
    ins.chain(outs).chain(params).collect()
}

/// Index of the binding value among the public instances.
pub const BINDING: usize = 0;

/// What the public instances hold of one tensor.
#[derive(Clone, Copy, Debug)]
pub enum Revealed<'a> {
    /// A public tensor's quantized values.
    Values(&'a [i64]),
    /// A hashed tensor's digest.
    Digest(Fr),
    /// A private tensor.
    Nothing,
}

/// Visibility, name, value count and packing of each input tensor, then each output, then
/// each witness weight tensor.
fn tensors(g: &Graph) -> impl Iterator<Item = (Visibility, &str, usize, Packing)> {
    let ins = g.inputs.iter().map(|s| (s.visibility, s.name.as_str(), s.shape.iter().product::<usize>()));
    let outs = g.outputs.iter().map(|o| (o.visibility, o.name.as_str(), o.shape.iter().product::<usize>()));
    let params = g.params.iter().map(|p| (p.visibility, p.name.as_str(), p.shape.iter().product::<usize>()));
    ins.chain(outs).chain(params).zip(packings(g)).map(|((v, name, n), p)| (v, name, n, p))
}

/// The public instances for `binding` and what is revealed of each input, output and
/// witness weight tensor, in that order (as the graph's visibilities say); an error names a
/// tensor that does not fit.
pub fn instances_of(g: &Graph, binding: Fr, revealed: &[Revealed<'_>]) -> Result<Vec<Fr>, String> {
    let ts: Vec<_> = tensors(g).collect();
    if revealed.len() != ts.len() {
        return Err(format!("expected {} input, {} output and {} weight tensors, got {}", g.inputs.len(), g.outputs.len(), g.params.len(), revealed.len()));
    }
    let mut out = vec![binding];
    for ((vis, name, n, p), r) in ts.into_iter().zip(revealed) {
        match (vis, r) {
            (Visibility::Public, Revealed::Values(v)) => {
                if v.len() != n {
                    return Err(format!("tensor `{name}` has {} values, the model has {n}", v.len()));
                }
                out.extend(p.pack(v).ok_or_else(|| format!("tensor `{name}` has a value outside its range"))?);
            }
            (Visibility::Hashed | Visibility::Linked, Revealed::Digest(d)) => out.push(*d),
            (Visibility::Private, Revealed::Nothing) => {}
            (vis, r) => return Err(format!("tensor `{name}` is {vis}, but {} is given for it", match r { Revealed::Values(_) => "its values are", Revealed::Digest(_) => "a digest is", Revealed::Nothing => "nothing is" })),
        }
    }
    Ok(out)
}

/// What the proof reveals of a tensor known in full: its values, digest or nothing.
fn reveal<'a>(vis: Visibility, name: &str, n: usize, p: &Packing, data: &'a [i64]) -> Result<Revealed<'a>, String> {
    if data.len() != n {
        return Err(format!("tensor `{name}` has {} values, the model has {n}", data.len()));
    }
    Ok(match vis {
        Visibility::Public => Revealed::Values(data),
        Visibility::Hashed => Revealed::Digest(crate::hash::tensor_digest(p, data).ok_or_else(|| format!("tensor `{name}` has a value outside its range"))?),
        Visibility::Private => Revealed::Nothing,
        Visibility::Linked => return Err(format!("tensor `{name}` is a shard link: its digest is salted, only the shard's layout computes it")),
    })
}

/// What the public instances hold of each input, output and witness weight tensor, given
/// the inputs and outputs (the weights come from the graph; a private one need not be
/// loaded).
pub fn revealed<'a>(g: &'a Graph, inputs: &'a [Tensor], outputs: &'a [Tensor]) -> Result<Vec<Revealed<'a>>, String> {
    if inputs.len() != g.inputs.len() || outputs.len() != g.outputs.len() {
        return Err(format!("expected {} input and {} output tensors, got {}", g.inputs.len(), g.outputs.len(), inputs.len() + outputs.len()));
    }
    let ts: Vec<Option<&[i64]>> = inputs.iter().chain(outputs).map(|t| Some(t.data.as_slice())).chain(g.params.iter().map(|p| p.data.as_deref())).collect();
    tensors(g)
        .zip(ts)
        .map(|((vis, name, n, p), t)| match (vis, t) {
            (Visibility::Private, _) => Ok(Revealed::Nothing),
            (_, Some(data)) => reveal(vis, name, n, &p, data),
            (_, None) => Err(format!("the values of weight tensor `{name}` are not loaded")),
        })
        .collect()
}

/// The public instances for plain quantized inputs and outputs, with binding zero; an error
/// names a tensor whose count or values do not fit the model.
pub fn instances(g: &Graph, inputs: &[Tensor], outputs: &[Tensor]) -> Result<Vec<Fr>, String> {
    bound_instances(g, Fr::zero(), inputs, outputs)
}

/// The public instances for `binding` and plain quantized inputs and outputs (hashed
/// tensors contribute their digest, private ones nothing).
pub fn bound_instances(g: &Graph, binding: Fr, inputs: &[Tensor], outputs: &[Tensor]) -> Result<Vec<Fr>, String> {
    instances_of(g, binding, &revealed(g, inputs, outputs)?)
}

/// The public instances encoding the input tensors alone (what a market job posts: values,
/// or digests for hashed inputs).
pub fn input_instances(g: &Graph, inputs: &[Tensor]) -> Result<Vec<Fr>, String> {
    if inputs.len() != g.inputs.len() {
        return Err(format!("expected {} input tensors, got {}", g.inputs.len(), inputs.len()));
    }
    let mut out = Vec::new();
    for ((vis, name, n, p), t) in tensors(g).zip(inputs) {
        match reveal(vis, name, n, &p, &t.data)? {
            Revealed::Values(v) => out.extend(p.pack(v).ok_or_else(|| format!("tensor `{name}` has a value outside its range"))?),
            Revealed::Digest(d) => out.push(d),
            Revealed::Nothing => {}
        }
    }
    Ok(out)
}

/// The quantized input tensors encoded by `instances` (as [`input_instances`] makes them);
/// an error when the count is wrong or a word is not a valid packing.
pub fn unpack_inputs(g: &Graph, instances: &[Fr]) -> Result<Vec<Tensor>, String> {
    let mut at = 0;
    let mut out = Vec::new();
    if let Some(s) = g.inputs.iter().find(|s| s.visibility != Visibility::Public) {
        return Err(format!("input `{}` is {}: its values are not in the public instances", s.name, s.visibility));
    }
    for s in &g.inputs {
        let p = Packing::new(s.lo, s.hi);
        let n: usize = s.shape.iter().product();
        let words = instances.get(at..at + p.elems(n)).ok_or_else(|| format!("too few input instances for `{}`", s.name))?;
        at += p.elems(n);
        let mut data = Vec::with_capacity(n);
        for (w, word) in words.iter().enumerate() {
            let count = p.per_elem.min(n - w * p.per_elem);
            let bytes = word.to_repr();
            let used = count * p.bytes;
            if bytes[used..].iter().any(|&b| b != 0) {
                return Err(format!("input instance {} of `{}` is not a packing of {count} values", at - words.len() + w, s.name));
            }
            for i in 0..count {
                let mut v: i64 = 0;
                for b in (0..p.bytes).rev() {
                    v = (v << 8) | bytes[i * p.bytes + b] as i64;
                }
                let v = v + p.lo;
                if v > s.hi {
                    return Err(format!("input `{}` value {v} is above its range [{}, {}]", s.name, s.lo, s.hi));
                }
                data.push(v);
            }
        }
        out.push(Tensor { shape: s.shape.clone(), data });
    }
    if at != instances.len() {
        return Err(format!("{} input instances, the model has {at}", instances.len()));
    }
    Ok(out)
}

/// Number of public instances: the binding, then each input's and output's (packed values,
/// a digest, or none).
pub fn num_instances(g: &Graph) -> usize {
    1 + tensor_instance_counts(g).iter().sum::<usize>()
}

/// Where the witness weight tensors' instances lie among all public instances (the binding
/// included): after the inputs' and outputs'.
pub fn param_instance_range(g: &Graph) -> std::ops::Range<usize> {
    let counts = tensor_instance_counts(g);
    let io = g.inputs.len() + g.outputs.len();
    let start = 1 + counts[..io].iter().sum::<usize>();
    start..start + counts[io..].iter().sum::<usize>()
}

/// The public instances of the witness weight tensors alone (values packed, or digests),
/// from the weights loaded in the graph; empty when the weights are fixed or private.
pub fn param_instances(g: &Graph) -> Result<Vec<Fr>, String> {
    let n_io = g.inputs.len() + g.outputs.len();
    let mut out = Vec::new();
    for ((vis, name, n, p), spec) in tensors(g).skip(n_io).zip(&g.params) {
        if vis == Visibility::Private {
            continue;
        }
        let data = spec.data.as_deref().ok_or_else(|| format!("the values of weight tensor `{name}` are not loaded"))?;
        match reveal(vis, name, n, &p, data)? {
            Revealed::Values(v) => out.extend(p.pack(v).ok_or_else(|| format!("tensor `{name}` has a value outside its range"))?),
            Revealed::Digest(d) => out.push(d),
            Revealed::Nothing => {}
        }
    }
    Ok(out)
}

/// Number of public instances of each input tensor, then each output tensor, then each
/// witness weight tensor (the binding excluded).
pub fn tensor_instance_counts(g: &Graph) -> Vec<usize> {
    tensors(g)
        .map(|(vis, _, n, p)| match vis {
            Visibility::Public => p.elems(n),
            Visibility::Hashed | Visibility::Linked => 1,
            Visibility::Private => 0,
        })
        .collect()
}

/// Where one tensor lies among the public instances and how to read it: what a contract (the
/// Solidity kit's `Zkinfer.decode`) or another language needs to decode the values.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TensorLayout {
    /// "input", "output" or "weights".
    pub role: String,
    pub name: String,
    pub shape: Vec<usize>,
    pub visibility: Visibility,
    /// Index of the tensor's first instance (instance 0 is the binding).
    pub first: usize,
    /// Number of instances: packed words (public), 1 (hashed: the Poseidon digest), 0 (private).
    pub instances: usize,
    /// Packing of a public tensor: value `j` is `((word[first + j / per_word] >> (8·bytes·(j %
    /// per_word))) & (2^(8·bytes) − 1)) + lo`.
    pub lo: i64,
    pub bytes: usize,
    pub per_word: usize,
    /// Quantization: real value = (q − zero_point) · scale (weights: none).
    pub scale: Option<f64>,
    pub zero_point: Option<i64>,
}

/// The instance layout of every input, output and witness weight tensor, in instance order.
pub fn instance_layout(g: &Graph) -> Vec<TensorLayout> {
    let quant = g
        .inputs
        .iter()
        .map(|i| ("input", Some((i.scale, i.zero_point)), i.shape.clone()))
        .chain(g.outputs.iter().map(|o| ("output", Some((o.scale, o.zero_point)), o.shape.clone())))
        .chain(g.params.iter().map(|p| ("weights", None, p.shape.clone())));
    let mut at = 1;
    tensors(g)
        .zip(tensor_instance_counts(g))
        .zip(quant)
        .map(|(((vis, name, _, p), count), (role, q, shape))| {
            let t = TensorLayout { role: role.into(), name: name.into(), shape, visibility: vis, first: at, instances: count, lo: p.lo, bytes: p.bytes, per_word: p.per_elem, scale: q.map(|q| q.0), zero_point: q.map(|q| q.1) };
            at += count;
            t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::InputSpec;

    #[test]
    fn the_layout_decodes_the_instances() {
        let mut g = Graph::default();
        for (name, n, lo, hi) in [("a", 37usize, -128i64, 127i64), ("b", 5, 0, 70_000)] {
            let v = g.add_value(name, vec![1, n], lo, hi).expect("value");
            g.inputs.push(InputSpec { name: name.into(), value: v, shape: vec![1, n], scale: 0.5, zero_point: 3, lo, hi, saturates: false, visibility: Default::default() });
        }
        let a: Vec<i64> = (0..37).map(|i| (i * 7 % 256) - 128).collect();
        let b = vec![0, 1, 65_535, 70_000, 12];
        let inst = input_instances(&g, &[Tensor::new(vec![1, 37], a.clone()).expect("a"), Tensor::new(vec![1, 5], b.clone()).expect("b")]).expect("pack");
        let words: Vec<Fr> = std::iter::once(Fr::zero()).chain(inst).collect();
        let layout = instance_layout(&g);
        assert_eq!(layout[0].first, 1);
        assert_eq!(layout[1].first, 1 + layout[0].instances);
        for (t, want) in layout.iter().zip([a, b]) {
            let n: usize = t.shape.iter().product();
            let got: Vec<i64> = (0..n)
                .map(|j| {
                    let w = words[t.first + j / t.per_word].to_repr();
                    let off = t.bytes * (j % t.per_word);
                    (0..t.bytes).rev().fold(0i64, |v, k| (v << 8) | w[off + k] as i64) + t.lo
                })
                .collect();
            assert_eq!(got, want, "{}", t.name);
            assert_eq!((t.scale, t.zero_point), (Some(0.5), Some(3)));
        }
    }

    #[test]
    fn input_instances_unpack_to_the_inputs() {
        let mut g = Graph::default();
        for (name, n, lo, hi) in [("a", 37usize, -128i64, 127i64), ("b", 5, 0, 70_000)] {
            let v = g.add_value(name, vec![1, n], lo, hi).expect("value");
            g.inputs.push(InputSpec { name: name.into(), value: v, shape: vec![1, n], scale: 1.0, zero_point: 0, lo, hi, saturates: false, visibility: Default::default() });
        }
        let a = Tensor::new(vec![1, 37], (0..37).map(|i| (i * 7 % 256) - 128).collect()).expect("a");
        let b = Tensor::new(vec![1, 5], vec![0, 1, 65_535, 70_000, 12]).expect("b");
        let inst = input_instances(&g, &[a.clone(), b.clone()]).expect("pack");
        assert_eq!(unpack_inputs(&g, &inst).expect("unpack"), vec![a, b]);
        assert!(unpack_inputs(&g, &inst[1..]).is_err(), "too few words");
        let mut bad = inst.clone();
        bad[0] = -Fr::one();
        assert!(unpack_inputs(&g, &bad).is_err(), "not a packing");
        let mut over = inst;
        let last = over.len() - 1;
        over[last] = Fr::from(70_001u64);
        assert!(unpack_inputs(&g, &over).is_err(), "above the range");
    }
}
