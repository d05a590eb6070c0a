//! Geometry of 2-D sliding windows, shared by Conv, MaxPool and SumPool (NCHW layout).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window2d {
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    /// top, left, bottom, right
    pub pads: [usize; 4],
    pub dilations: [usize; 2],
}

impl Window2d {
    /// Output height and width for an input of `h`×`w`; `None` if the window does not fit.
    pub fn out_hw(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let eh = self.dilations[0] * (self.kernel[0].checked_sub(1)?) + 1;
        let ew = self.dilations[1] * (self.kernel[1].checked_sub(1)?) + 1;
        let ph = h + self.pads[0] + self.pads[2];
        let pw = w + self.pads[1] + self.pads[3];
        if ph < eh || pw < ew || self.strides[0] == 0 || self.strides[1] == 0 {
            return None;
        }
        Some(((ph - eh) / self.strides[0] + 1, (pw - ew) / self.strides[1] + 1))
    }

    /// In-bounds taps of output position (oy, ox): (ky, kx, iy, ix).
    pub fn taps(&self, oy: usize, ox: usize, h: usize, w: usize) -> Vec<(usize, usize, usize, usize)> {
        let mut v = Vec::with_capacity(self.kernel[0] * self.kernel[1]);
        for ky in 0..self.kernel[0] {
            let iy = (oy * self.strides[0] + ky * self.dilations[0]) as isize - self.pads[0] as isize;
            if iy < 0 || iy >= h as isize {
                continue;
            }
            for kx in 0..self.kernel[1] {
                let ix = (ox * self.strides[1] + kx * self.dilations[1]) as isize - self.pads[1] as isize;
                if ix < 0 || ix >= w as isize {
                    continue;
                }
                v.push((ky, kx, iy as usize, ix as usize));
            }
        }
        v
    }
}

impl Window2d {
    /// For pooling an NCHW input of `x` shape: the output shape and, for every output element
    /// (row-major), the flat input indices of its in-bounds taps.
    pub fn pool_plan(&self, x: &[usize]) -> Option<(Vec<usize>, Vec<Vec<usize>>)> {
        let (oh, ow) = self.out_hw(x[2], x[3])?;
        let (h, w) = (x[2], x[3]);
        let mut plan = Vec::with_capacity(x[0] * x[1] * oh * ow);
        for nc in 0..x[0] * x[1] {
            for oy in 0..oh {
                for ox in 0..ow {
                    plan.push(self.taps(oy, ox, h, w).iter().map(|&(_, _, iy, ix)| (nc * h + iy) * w + ix).collect());
                }
            }
        }
        Some((vec![x[0], x[1], oh, ow], plan))
    }
}
