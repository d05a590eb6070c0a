//! Choosing `k` (the circuit has `2^k` rows) and checking a circuit fits.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Circuit, ConstraintSystem};
use zkinfer_circuits::layout::circuit::ModelCircuit;
use zkinfer_circuits::layout::ctx::Shape;

use crate::error::{ProverError, Result};

/// Rows kept free for halo2's blinding factors and bookkeeping, with margin.
pub const RESERVED_ROWS: usize = 16;

/// Smallest `k` with `2^k >= rows + RESERVED_ROWS`.
pub fn k_for_rows(rows: usize) -> u32 {
    (rows + RESERVED_ROWS).next_power_of_two().trailing_zeros()
}

/// Smallest `k` that fits `circuit`.
pub fn k_for(circuit: &ModelCircuit) -> u32 {
    k_for_rows(circuit.rows())
}

/// Rows halo2 itself needs at the end of the domain for this shape (blinding + last row).
pub fn halo2_reserved_rows(shape: Shape) -> usize {
    let mut cs = ConstraintSystem::<Fr>::default();
    let _ = ModelCircuit::configure_with_params(&mut cs, shape);
    cs.blinding_factors() + 1
}

/// Checks the shape is one the circuit can be configured with.
pub fn check_shape(shape: Shape) -> Result<()> {
    if shape.width < 2 || shape.lookup_width < 1 || shape.lookup_width > shape.width || shape.width > 1024 {
        return Err(ProverError::Invalid {
            what: "circuit shape",
            why: format!("{shape:?}: need 2 <= width <= 1024 and 1 <= lookup_width <= width"),
        });
    }
    if shape.hash && shape.width < zkinfer_circuits::layout::poseidon::MIN_WIDTH {
        return Err(ProverError::Invalid { what: "circuit shape", why: format!("{shape:?}: hashing needs width >= {}", zkinfer_circuits::layout::poseidon::MIN_WIDTH) });
    }
    Ok(())
}

/// Checks `circuit` fits in `2^k` rows. halo2 panics instead of erroring when it does not.
pub fn check_fits(circuit: &ModelCircuit, k: u32) -> Result<()> {
    check_shape(circuit.ctx.shape)?;
    let rows = circuit.rows();
    let reserved = halo2_reserved_rows(circuit.ctx.shape);
    if k >= usize::BITS || rows + reserved > 1usize << k {
        return Err(ProverError::NotEnoughRows { rows, reserved, k, need_k: k_for_rows(rows) });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_for_rows_leaves_room() {
        assert_eq!(k_for_rows(0), 4);
        assert_eq!(k_for_rows(16), 5);
        assert_eq!(k_for_rows(256), 9);
        assert_eq!(k_for_rows(1008), 10);
        assert_eq!(k_for_rows(1009), 11);
        assert!(halo2_reserved_rows(Shape::default()) < RESERVED_ROWS);
    }
}
