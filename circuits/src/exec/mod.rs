//! The integer reference executor: defines "the" output a proof attests to.

use crate::error::{CircuitError, Result};
use crate::ir::{Graph, InputSpec, Tensor};

/// Quantizes float input values as the model's QuantizeLinear would:
/// `q = round_half_even(x / scale) + zero_point`, rejecting NaN/inf and values outside
/// `[lo, hi]` (or saturating them when `saturate` is set).
pub fn quantize_input(spec: &InputSpec, values: &[f64], saturate: bool) -> Result<Tensor> {
    let expected: usize = spec.shape.iter().product();
    if values.len() != expected {
        return Err(CircuitError::InputLength { name: spec.name.clone(), expected, got: values.len(), shape: spec.shape.clone() });
    }
    let mut data = Vec::with_capacity(values.len());
    for (index, &x) in values.iter().enumerate() {
        if !x.is_finite() {
            return Err(CircuitError::NotFinite { name: spec.name.clone(), index, value: x });
        }
        let q = (x / spec.scale).round_ties_even() + spec.zero_point as f64;
        if q < spec.lo as f64 || q > spec.hi as f64 {
            if !saturate {
                let min = (spec.lo - spec.zero_point) as f64 * spec.scale;
                let max = (spec.hi - spec.zero_point) as f64 * spec.scale;
                let hint = if spec.saturates { " (the model's QuantizeLinear would saturate it: --saturate does the same)" } else { "" };
                return Err(CircuitError::OutOfRange { name: spec.name.clone(), index, value: x, min, max, hint });
            }
        }
        data.push((q.clamp(spec.lo as f64, spec.hi as f64)) as i64);
    }
    Ok(Tensor { shape: spec.shape.clone(), data })
}

/// Runs the graph on quantized inputs (and its witness weights); returns every value
/// (indexed by `ValueId`).
pub fn run(g: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    if inputs.len() != g.inputs.len() {
        return Err(CircuitError::InputCount { expected: g.inputs.len(), got: inputs.len() });
    }
    let mut vals: Vec<Option<Tensor>> = vec![None; g.values.len()];
    for (spec, t) in g.inputs.iter().zip(inputs) {
        let info = g.info(spec.value);
        if t.len() != info.shape.iter().product::<usize>() {
            return Err(CircuitError::InputLength { name: spec.name.clone(), expected: info.shape.iter().product(), got: t.len(), shape: info.shape.clone() });
        }
        if let Some((index, &v)) = t.data.iter().enumerate().find(|(_, &v)| v < info.lo || v > info.hi) {
            return Err(CircuitError::OutOfRange {
                name: spec.name.clone(),
                index,
                value: v as f64,
                min: info.lo as f64,
                max: info.hi as f64,
                hint: "",
            });
        }
        vals[spec.value] = Some(Tensor { shape: info.shape.clone(), data: t.data.clone() });
    }
    for (p, t) in g.params.iter().zip(g.param_tensors()?) {
        vals[p.value] = Some(t);
    }
    for node in &g.nodes {
        let ins: Vec<&Tensor> = node
            .op
            .inputs()
            .iter()
            .map(|&i| vals[i].as_ref().ok_or_else(|| CircuitError::Internal(format!("value {i} used before defined"))))
            .collect::<Result<_>>()?;
        let out = node.op.eval(&ins);
        let info = g.info(node.output);
        debug_assert!(out.data.iter().all(|&v| v >= info.lo && v <= info.hi), "bound violated at {}", info.name);
        vals[node.output] = Some(out);
    }
    Ok(vals.into_iter().map(|v| v.unwrap_or(Tensor { shape: vec![0], data: vec![] })).collect())
}

/// Runs the graph and returns just its outputs.
pub fn outputs(g: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let vals = run(g, inputs)?;
    Ok(g.outputs.iter().map(|o| vals[o.value].clone()).collect())
}

/// Decodes a quantized output to floats.
pub fn dequantize(scale: f64, zero_point: i64, t: &Tensor) -> Vec<f64> {
    t.data.iter().map(|&q| (q - zero_point) as f64 * scale).collect()
}
