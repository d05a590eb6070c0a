//! Conv (2-D, NCHW, grouped): `y[n,o,oy,ox] = Σ (x[n,c,iy,ix] - input_zp)·weight[o,c',ky,kx] + bias[o]`
//! over in-bounds taps. Padding holds the real value 0, i.e. the input's zero point, so padded
//! taps contribute nothing.
//!
//! Fixed weights are coefficients of linear chains; witness weights ([`WitnessParams`]) are
//! multiplied by the centered input in dot-product chains, as in [`super::dense`].

use serde::{Deserialize, Serialize};

use super::dense::{centered, witness_data, WitnessParams};
use super::{to_i64_bounds, window::Window2d, Facts};
use crate::error::{CircuitError, Result};
use crate::ir::{Graph, Tensor, ValueId};
use crate::layout::{ctx::LayoutCtx, ctx::Operand, CellTensor};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv {
    pub input: ValueId,
    pub input_zp: i64,
    /// [OC, C/group, KH, KW], zero point removed.
    pub weight: Tensor,
    /// [OC]
    pub bias: Vec<i64>,
    pub window: Window2d,
    pub group: usize,
    /// Witness weights: `weight` then has its shape but no data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<WitnessParams>,
}

/// One output element's taps: (input flat index, weight flat index).
type Taps = Vec<(usize, usize)>;

impl Conv {
    pub fn inputs(&self) -> Vec<ValueId> {
        let mut v = vec![self.input];
        v.extend(self.params.iter().flat_map(|p| p.values()));
        v
    }

    fn out_shape(&self, x: &[usize]) -> Option<Vec<usize>> {
        let (oh, ow) = self.window.out_hw(x[2], x[3])?;
        Some(vec![x[0], self.weight.shape[0], oh, ow])
    }

    /// For every output element, the taps feeding it.
    fn plan(&self, x: &[usize]) -> Vec<(usize, Taps)> {
        let Some(os) = self.out_shape(x) else { return vec![] };
        let (c_in, h, w) = (x[1], x[2], x[3]);
        let (oc, cg, kh, kw) = (self.weight.shape[0], self.weight.shape[1], self.weight.shape[2], self.weight.shape[3]);
        let oc_per_group = oc / self.group;
        let mut plan = Vec::with_capacity(os.iter().product());
        for n in 0..x[0] {
            for o in 0..oc {
                let g = o / oc_per_group;
                for oy in 0..os[2] {
                    for ox in 0..os[3] {
                        let taps_at = self.window.taps(oy, ox, h, w);
                        let mut taps = Vec::with_capacity(cg * taps_at.len());
                        for ci in 0..cg {
                            let c = g * cg + ci;
                            for &(ky, kx, iy, ix) in &taps_at {
                                taps.push((((n * c_in + c) * h + iy) * w + ix, ((o * cg + ci) * kh + ky) * kw + kx));
                            }
                        }
                        let flat = ((n * oc + o) * os[2] + oy) * os[3] + ox;
                        plan.push((flat, taps));
                    }
                }
            }
        }
        plan
    }

    pub fn infer(&self, g: &Graph, node: &str) -> Result<Facts> {
        let x = g.info(self.input);
        let bad = |why: String| CircuitError::Shape { node: node.into(), why };
        if x.shape.len() != 4 || self.weight.shape.len() != 4 {
            return Err(bad(format!("Conv needs 4-D input and weight, got {:?} and {:?}", x.shape, self.weight.shape)));
        }
        let oc = self.weight.shape[0];
        let bias_len = match self.params {
            Some(p) => {
                p.check(g, &self.weight.shape, oc).map_err(bad)?;
                oc
            }
            None => self.bias.len(),
        };
        if self.group == 0 || x.shape[1] != self.weight.shape[1] * self.group || oc % self.group != 0 || bias_len != oc {
            return Err(bad(format!(
                "input channels {} do not match weight {:?} with group {} / bias [{}]",
                x.shape[1], self.weight.shape, self.group, self.bias.len()
            )));
        }
        let shape = self.out_shape(&x.shape).ok_or_else(|| bad(format!("kernel does not fit input {:?}", x.shape)))?;
        let (lo, hi) = (x.lo as i128 - self.input_zp as i128, x.hi as i128 - self.input_zp as i128);
        let oc_len: usize = shape[2] * shape[3];
        if let Some(p) = self.params {
            // every output has at most C/group·KH·KW taps
            let taps = self.weight.shape[1] * self.weight.shape[2] * self.weight.shape[3];
            let (lo, hi) = to_i64_bounds(p.acc_bounds(g, taps, lo, hi));
            return Ok((shape, lo.min(0), hi.max(0)));
        }
        let (mut blo, mut bhi) = (i128::MAX, i128::MIN);
        for (flat, taps) in self.plan(&x.shape) {
            let o = (flat / oc_len) % oc;
            let (mut a, mut b) = (self.bias[o] as i128, self.bias[o] as i128);
            for (_, wi) in taps {
                let w = self.weight.data[wi];
                let (p, q) = (w as i128 * lo, w as i128 * hi);
                a += p.min(q);
                b += p.max(q);
            }
            blo = blo.min(a);
            bhi = bhi.max(b);
        }
        let (lo, hi) = to_i64_bounds((blo, bhi));
        Ok((shape, lo, hi))
    }

    pub fn eval(&self, inputs: &[&Tensor]) -> Tensor {
        let x = inputs[0];
        let shape = self.out_shape(&x.shape).expect("validated by infer");
        let oc_len = shape[2] * shape[3];
        let (weight, bias) = match &self.params {
            Some(p) => witness_data(inputs, p),
            None => (self.weight.data.as_slice(), Some(self.bias.as_slice())),
        };
        let mut data = vec![0; shape.iter().product()];
        for (flat, taps) in self.plan(&x.shape) {
            let o = (flat / oc_len) % shape[1];
            data[flat] = bias.map_or(0, |b| b[o]) + taps.iter().map(|&(i, wi)| (x.data[i] - self.input_zp) * weight[wi]).sum::<i64>();
        }
        Tensor { shape, data }
    }

    pub fn layout(&self, ctx: &mut LayoutCtx, _g: &Graph, inputs: &[&CellTensor]) -> CellTensor {
        let x = inputs[0];
        let shape = self.out_shape(&x.shape).expect("validated by infer");
        let oc_len = shape[2] * shape[3];
        let mut cells = Vec::with_capacity(shape.iter().product());
        if let Some(p) = &self.params {
            let (w, b) = (inputs[1], inputs.get(2).copied());
            let xc = centered(ctx, &x.cells, self.input_zp);
            for (flat, taps) in self.plan(&x.shape) {
                let o = (flat / oc_len) % shape[1];
                let pairs: Vec<_> = taps.iter().map(|&(i, wi)| (xc[i], w.cells[wi])).collect();
                debug_assert_eq!(cells.len(), flat);
                cells.push(ctx.dot(&pairs, &p.bias_term(b, o), 0));
            }
            return CellTensor { shape, cells };
        }
        for (flat, taps) in self.plan(&x.shape) {
            let o = (flat / oc_len) % shape[1];
            let mut c = self.bias[o] as i128;
            let mut terms = Vec::with_capacity(taps.len());
            for (i, wi) in taps {
                let w = self.weight.data[wi];
                if w != 0 {
                    terms.push((Operand::Cell(x.cells[i]), w as i128));
                    c -= self.input_zp as i128 * w as i128;
                }
            }
            debug_assert_eq!(cells.len(), flat);
            cells.push(ctx.lin(&terms, c));
        }
        CellTensor { shape, cells }
    }
}
