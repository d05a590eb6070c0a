//! Constant tensors (initializers and Constant nodes), decoded from any of the TensorProto
//! data fields (`raw_data`, `float_data`, `int32_data`, `int64_data`, `double_data`).

use super::proto::{tensor_proto::DataType, TensorProto};
use crate::error::{CircuitError, Result};

/// A decoded constant: float data as f64, integer data as i64.
#[derive(Clone, Debug, PartialEq)]
pub enum ConstData {
    Float(Vec<f64>),
    Int(Vec<i64>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Const {
    pub dims: Vec<usize>,
    pub dtype: DataType,
    pub data: ConstData,
}

impl Const {
    pub fn len(&self) -> usize {
        match &self.data {
            ConstData::Float(v) => v.len(),
            ConstData::Int(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values as f64 (integers converted).
    pub fn floats(&self) -> Vec<f64> {
        match &self.data {
            ConstData::Float(v) => v.clone(),
            ConstData::Int(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }

    /// Integer values; `None` for float data.
    pub fn ints(&self) -> Option<&[i64]> {
        match &self.data {
            ConstData::Int(v) => Some(v),
            ConstData::Float(_) => None,
        }
    }
}

/// Inclusive range of an integer ONNX type, for quantized tensors.
pub fn int_range(dt: DataType) -> Option<(i64, i64)> {
    Some(match dt {
        DataType::Uint8 => (0, 255),
        DataType::Int8 => (-128, 127),
        DataType::Uint16 => (0, 65535),
        DataType::Int16 => (-32768, 32767),
        DataType::Int32 => (i32::MIN as i64, i32::MAX as i64),
        _ => return None,
    })
}

pub fn decode(t: &TensorProto) -> Result<Const> {
    let name = t.name().to_string();
    let bad = |why: String| CircuitError::Malformed(format!("tensor `{name}`: {why}"));
    if t.data_location() == super::proto::tensor_proto::DataLocation::External {
        return Err(bad("external data files are not supported; save the model with weights embedded".into()));
    }
    let dims = t.dims.iter().map(|&d| usize::try_from(d).map_err(|_| bad(format!("negative dimension {d}")))).collect::<Result<Vec<_>>>()?;
    let n: usize = dims.iter().product();
    let dtype = DataType::try_from(t.data_type()).map_err(|_| bad(format!("unknown data type {}", t.data_type())))?;
    let raw = t.raw_data();
    let from_raw = |w: usize| -> Result<Vec<&[u8]>> {
        if raw.len() != n * w {
            return Err(bad(format!("raw_data has {} bytes, expected {} for {n} elements", raw.len(), n * w)));
        }
        Ok(raw.chunks_exact(w).collect())
    };
    let arr = |c: &[u8]| -> [u8; 8] {
        let mut a = [0u8; 8];
        a[..c.len()].copy_from_slice(c);
        a
    };
    let data = if !raw.is_empty() {
        match dtype {
            DataType::Float => ConstData::Float(from_raw(4)?.iter().map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect()),
            DataType::Double => ConstData::Float(from_raw(8)?.iter().map(|c| f64::from_le_bytes(arr(c))).collect()),
            DataType::Uint8 => ConstData::Int(from_raw(1)?.iter().map(|c| c[0] as i64).collect()),
            DataType::Int8 => ConstData::Int(from_raw(1)?.iter().map(|c| c[0] as i8 as i64).collect()),
            DataType::Uint16 => ConstData::Int(from_raw(2)?.iter().map(|c| u16::from_le_bytes([c[0], c[1]]) as i64).collect()),
            DataType::Int16 => ConstData::Int(from_raw(2)?.iter().map(|c| i16::from_le_bytes([c[0], c[1]]) as i64).collect()),
            DataType::Int32 => ConstData::Int(from_raw(4)?.iter().map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64).collect()),
            DataType::Int64 => ConstData::Int(from_raw(8)?.iter().map(|c| i64::from_le_bytes(arr(c))).collect()),
            DataType::Bool => ConstData::Int(from_raw(1)?.iter().map(|c| (c[0] != 0) as i64).collect()),
            other => return Err(bad(format!("data type {other:?} is not supported"))),
        }
    } else {
        match dtype {
            DataType::Float => ConstData::Float(t.float_data.iter().map(|&x| x as f64).collect()),
            DataType::Double => ConstData::Float(t.double_data.clone()),
            DataType::Int64 => ConstData::Int(t.int64_data.clone()),
            DataType::Uint8 | DataType::Int8 | DataType::Uint16 | DataType::Int16 | DataType::Int32 | DataType::Bool => {
                ConstData::Int(t.int32_data.iter().map(|&x| x as i64).collect())
            }
            other => return Err(bad(format!("data type {other:?} is not supported"))),
        }
    };
    let c = Const { dims, dtype, data };
    if c.len() != n {
        return Err(bad(format!("holds {} values, its dims {:?} need {n}", c.len(), c.dims)));
    }
    if let ConstData::Float(v) = &c.data {
        if let Some(x) = v.iter().find(|x| !x.is_finite()) {
            return Err(bad(format!("contains the non-finite value {x}")));
        }
    }
    Ok(c)
}
