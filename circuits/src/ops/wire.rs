//! Wire: every output element is an element of one of the inputs, or a constant. Concat,
//! Slice, Split, Gather (constant indices), Transpose, Pad, Expand, Tile, Trilu, Resize
//! (nearest), DepthToSpace... all lower to this one op. It costs no constraints beyond one
//! constant cell per distinct constant: outputs are the input cells themselves.

use serde::{Deserialize, Serialize};

use super::Facts;
use crate::error::{CircuitError, Result};
use crate::ir::tensor::numel;
use crate::ir::{Graph, Tensor, ValueId};
use crate::layout::ctx::{AValue, LayoutCtx};
use crate::layout::CellTensor;

/// Where one output element comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Src {
    /// (input number, flat index in that input)
    In(u32, u32),
    Const(i64),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Wire {
    pub inputs: Vec<ValueId>,
    pub shape: Vec<usize>,
    /// Written as strided runs (see [`runs`]); files with one entry per element still load.
    #[serde(with = "runs")]
    pub src: Vec<Src>,
}

impl Wire {
    pub fn inputs(&self) -> Vec<ValueId> {
        self.inputs.clone()
    }

    pub fn infer(&self, g: &Graph, node: &str) -> Result<Facts> {
        let bad = |why: String| CircuitError::Shape { node: node.into(), why };
        if numel(&self.shape) != self.src.len() {
            return Err(bad(format!("{} sources for shape {:?}", self.src.len(), self.shape)));
        }
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for s in &self.src {
            let (a, b) = match *s {
                Src::In(t, i) => {
                    let v = *self.inputs.get(t as usize).ok_or_else(|| bad(format!("input {t} does not exist")))?;
                    let info = g.info(v);
                    if i as usize >= numel(&info.shape) {
                        return Err(bad(format!("index {i} outside input {t} of shape {:?}", info.shape)));
                    }
                    (info.lo, info.hi)
                }
                Src::Const(c) => (c, c),
            };
            lo = lo.min(a);
            hi = hi.max(b);
        }
        if self.src.is_empty() {
            (lo, hi) = (0, 0);
        }
        Ok((self.shape.clone(), lo, hi))
    }

    pub fn eval(&self, inputs: &[&Tensor]) -> Tensor {
        let data = self
            .src
            .iter()
            .map(|s| match *s {
                Src::In(t, i) => inputs[t as usize].data[i as usize],
                Src::Const(c) => c,
            })
            .collect();
        Tensor { shape: self.shape.clone(), data }
    }

    pub fn layout(&self, ctx: &mut LayoutCtx, _g: &Graph, inputs: &[&CellTensor]) -> CellTensor {
        let mut consts: Vec<(i64, AValue)> = Vec::new();
        let cells = self
            .src
            .iter()
            .map(|s| match *s {
                Src::In(t, i) => inputs[t as usize].cells[i as usize],
                Src::Const(c) => match consts.iter().find(|(v, _)| *v == c) {
                    Some((_, a)) => *a,
                    None => {
                        let a = ctx.constant(c as i128);
                        consts.push((c, a));
                        a
                    }
                },
            })
            .collect();
        CellTensor { shape: self.shape.clone(), cells }
    }
}

/// The on-disk form of a wire's sources: strided runs instead of one JSON object per
/// element. A broadcast in attention repeats the same rows thousands of times; written
/// element by element, nanoGPT's shard settings took 540 MB each.
///
/// ```text
/// [t, start, step, n, reps, rep_step]   In(t, start + r·rep_step + i·step) for r < reps, i < n
/// [c, n]                                n copies of Const(c)
/// {"In": [t, i]}  {"Const": c}          one element (the earlier form, still read)
/// ```
///
/// The model identity hashes the graph with the sources one per element
/// ([`with_expanded_sources`]), so it does not depend on this encoding.
pub mod runs {
    use std::cell::Cell;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Src;

    /// The most elements one wire may have when read from a file (2^28: 4 GiB in memory).
    pub const MAX_SOURCES: u64 = 1 << 28;

    thread_local! {
        static EXPANDED: Cell<bool> = const { Cell::new(false) };
    }

    /// Runs `f` with wires serialized one source per element (the model identity's form).
    pub fn with_expanded_sources<R>(f: impl FnOnce() -> R) -> R {
        struct Reset(bool);
        impl Drop for Reset {
            fn drop(&mut self) {
                EXPANDED.with(|e| e.set(self.0));
            }
        }
        let _reset = Reset(EXPANDED.with(|e| e.replace(true)));
        f()
    }

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Item {
        Run([i64; 6]),
        Consts([i64; 2]),
        One(Src),
    }

    /// Greedy encoding: maximal arithmetic runs, then maximal repetitions of equal-length
    /// runs whose starts advance by a constant.
    fn encode(src: &[Src]) -> Vec<Item> {
        // pass 1: (t, start, step, n) runs and constant runs
        enum Flat {
            In(i64, i64, i64, i64),
            Const(i64, i64),
        }
        let mut flat: Vec<Flat> = Vec::new();
        let mut k = 0;
        while k < src.len() {
            match src[k] {
                Src::Const(c) => {
                    let n = src[k..].iter().take_while(|s| **s == Src::Const(c)).count();
                    flat.push(Flat::Const(c, n as i64));
                    k += n;
                }
                Src::In(t, i) => {
                    let step = match src.get(k + 1) {
                        Some(&Src::In(t2, i2)) if t2 == t => i2 as i64 - i as i64,
                        _ => 0,
                    };
                    // a run as long as the one before it with the same step stops there, so
                    // that repeated rows line up for pass 2 (a broadcast row's last copy would
                    // otherwise run on into the next row)
                    let cap = match flat.last() {
                        Some(&Flat::In(t0, _, step0, n0)) if t0 == t as i64 && step0 == step => n0 as usize,
                        _ => usize::MAX,
                    };
                    let mut n = 1;
                    while let Some(&Src::In(t2, i2)) = src.get(k + n) {
                        if n == cap || t2 != t || i2 as i64 != i as i64 + step * n as i64 {
                            break;
                        }
                        n += 1;
                    }
                    flat.push(Flat::In(t as i64, i as i64, step, n as i64));
                    k += n;
                }
            }
        }
        // pass 2: repetitions of runs
        let mut out = Vec::new();
        let mut j = 0;
        while j < flat.len() {
            match flat[j] {
                Flat::Const(c, n) => {
                    out.push(if n == 1 { Item::One(Src::Const(c)) } else { Item::Consts([c, n]) });
                    j += 1;
                }
                Flat::In(t, start, step, n) => {
                    let rep_step = match flat.get(j + 1) {
                        Some(&Flat::In(t2, s2, st2, n2)) if t2 == t && st2 == step && n2 == n => s2 - start,
                        _ => 0,
                    };
                    let mut reps = 1;
                    while let Some(&Flat::In(t2, s2, st2, n2)) = flat.get(j + reps) {
                        if t2 != t || st2 != step || n2 != n || s2 != start + rep_step * reps as i64 {
                            break;
                        }
                        reps += 1;
                    }
                    out.push(if n == 1 && reps == 1 { Item::One(Src::In(t as u32, start as u32)) } else { Item::Run([t, start, step, n, reps as i64, rep_step]) });
                    j += reps;
                }
            }
        }
        out
    }

    pub fn serialize<S: Serializer>(src: &Vec<Src>, s: S) -> Result<S::Ok, S::Error> {
        if EXPANDED.with(|e| e.get()) {
            src.serialize(s)
        } else {
            encode(src).serialize(s)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Src>, D::Error> {
        let items = Vec::<Item>::deserialize(d)?;
        let mut total: u64 = 0;
        let mut add = |count: u64| -> Result<(), D::Error> {
            total = total.saturating_add(count);
            if total > MAX_SOURCES {
                return Err(D::Error::custom(format!("a wire with more than {MAX_SOURCES} sources")));
            }
            Ok(())
        };
        let mut src = Vec::new();
        for item in items {
            match item {
                Item::One(s) => {
                    add(1)?;
                    src.push(s);
                }
                Item::Consts([c, n]) => {
                    if n < 1 {
                        return Err(D::Error::custom(format!("a constant run [{c}, {n}] of fewer than one element")));
                    }
                    add(n as u64)?;
                    src.extend(std::iter::repeat_n(Src::Const(c), n as usize));
                }
                Item::Run(r @ [t, start, step, n, reps, rep_step]) => {
                    let bad = |why: &str| D::Error::custom(format!("wire run {r:?}: {why}"));
                    if n < 1 || reps < 1 {
                        return Err(bad("fewer than one element"));
                    }
                    add((n as u64).saturating_mul(reps as u64))?;
                    if !(0..=u32::MAX as i64).contains(&t) {
                        return Err(bad("input number out of range"));
                    }
                    // the index is linear in (r, i): its extremes are at the corners
                    let at = |r: i64, i: i64| start.checked_add(rep_step.checked_mul(r)?)?.checked_add(step.checked_mul(i)?);
                    for (r, i) in [(0, 0), (0, n - 1), (reps - 1, 0), (reps - 1, n - 1)] {
                        match at(r, i) {
                            Some(x) if (0..=u32::MAX as i64).contains(&x) => {}
                            _ => return Err(bad("an index outside 0..2^32")),
                        }
                    }
                    for r in 0..reps {
                        let base = start + rep_step * r;
                        src.extend((0..n).map(|i| Src::In(t as u32, (base + step * i) as u32)));
                    }
                }
            }
        }
        Ok(src)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct W {
            #[serde(with = "super")]
            src: Vec<Src>,
        }

        fn round_trip(src: Vec<Src>) -> String {
            let w = W { src };
            let json = serde_json::to_string(&w).expect("serialize");
            let back: W = serde_json::from_str(&json).expect("deserialize");
            assert_eq!(back, w, "{json}");
            let expanded = with_expanded_sources(|| serde_json::to_string(&w).expect("serialize"));
            let back: W = serde_json::from_str(&expanded).expect("deserialize the element-wise form");
            assert_eq!(back, w);
            json
        }

        #[test]
        fn broadcasts_transposes_and_constants_round_trip_compactly() {
            // [m, k] broadcast to [m, n, k] (attention's Q), [n, k] to [m, n, k] (K)
            let (m, n, k) = (7u32, 5u32, 3u32);
            let q: Vec<Src> = (0..m).flat_map(|i| (0..n).flat_map(move |_| (0..k).map(move |c| Src::In(0, i * k + c)))).collect();
            assert_eq!(round_trip(q).matches('[').count(), 1 + m as usize);
            let kk: Vec<Src> = (0..m).flat_map(|_| (0..n * k).map(|c| Src::In(1, c))).collect();
            assert_eq!(round_trip(kk), r#"{"src":[[1,0,1,15,7,0]]}"#);
            // transpose [a, b] -> [b, a]
            let (a, b) = (4u32, 6u32);
            let tr: Vec<Src> = (0..b).flat_map(|j| (0..a).map(move |i| Src::In(0, i * b + j))).collect();
            assert_eq!(round_trip(tr), r#"{"src":[[0,0,6,4,6,1]]}"#);
            // reversed slice, a pad with constants, a lone element, two inputs
            let mut mixed: Vec<Src> = (0..9u32).rev().map(|i| Src::In(0, i)).collect();
            mixed.extend([Src::Const(-3); 4]);
            mixed.push(Src::In(1, 7));
            mixed.push(Src::Const(5));
            mixed.extend((0..3u32).map(|i| Src::In(2, 4 * i + 1)));
            assert_eq!(round_trip(mixed), r#"{"src":[[0,8,-1,9,1,0],[-3,4],{"In":[1,7]},{"Const":5},[2,1,4,3,1,0]]}"#);
            round_trip(vec![]);
        }

        #[test]
        fn arbitrary_sources_round_trip() {
            // a deterministic pseudo-random walk mixing runs, jumps, repeats and constants
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            let mut next = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            for _ in 0..200 {
                let len = (next() % 60) as usize;
                let mut src = Vec::with_capacity(len);
                let mut cur = (next() % 3) as u32;
                for _ in 0..len {
                    src.push(match next() % 8 {
                        0 => Src::Const((next() % 5) as i64 - 2),
                        1 => Src::In((next() % 2) as u32, (next() % 40) as u32),
                        2 => Src::In(0, cur),
                        _ => {
                            cur = cur.wrapping_add(1) % 50;
                            Src::In(0, cur)
                        }
                    });
                }
                round_trip(src);
            }
        }

        #[test]
        fn malformed_runs_are_refused_with_a_reason() {
            for (json, why) in [
                (r#"{"src":[[0,0,1,0,1,0]]}"#, "fewer than one element"),
                (r#"{"src":[[0,5,-1,7,1,0]]}"#, "outside 0..2^32"),
                (r#"{"src":[[0,0,1,4294967295,2,4294967295]]}"#, "sources"),
                (r#"{"src":[[-1,0,1,2,1,0]]}"#, "input number"),
                (r#"{"src":[[3,0]]}"#, "fewer than one"),
                (r#"{"src":[[0,0,1]]}"#, "did not match"),
                (r#"{"src":[[0,0,1,9223372036854775807,9223372036854775807,1]]}"#, "sources"),
            ] {
                let err = serde_json::from_str::<W>(json).expect_err(json).to_string();
                assert!(err.contains(why), "{json}: {err}");
            }
        }
    }
}
