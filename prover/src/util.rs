//! Field element encoding and other small helpers.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::PrimeField;

use crate::error::{ProverError, Result};

/// A field element as 32 bytes, big-endian (the EVM's and Solidity's `uint256` order).
pub fn fr_to_be_bytes(x: &Fr) -> [u8; 32] {
    let mut b = x.to_repr();
    b.reverse();
    b
}

/// Parses 32 big-endian bytes as a canonical field element (below the modulus).
pub fn fr_from_be_bytes(bytes: &[u8; 32]) -> Option<Fr> {
    let mut le = *bytes;
    le.reverse();
    Option::from(Fr::from_repr(le))
}

/// `0x` + 64 hex digits, big-endian.
pub fn fr_to_hex(x: &Fr) -> String {
    format!("0x{}", hex::encode(fr_to_be_bytes(x)))
}

/// Parses [`fr_to_hex`] output (the `0x` is optional; exactly 64 hex digits).
pub fn fr_from_hex(s: &str) -> Result<Fr> {
    let bad = |why: &str| ProverError::Invalid { what: "field element", why: format!("`{s}`: {why}") };
    let digits = s.strip_prefix("0x").unwrap_or(s);
    if digits.len() != 64 {
        return Err(bad("expected 64 hex digits (32 bytes, big-endian)"));
    }
    let mut b = [0u8; 32];
    hex::decode_to_slice(digits, &mut b).map_err(|e| bad(&e.to_string()))?;
    fr_from_be_bytes(&b).ok_or_else(|| bad("not below the BN254 scalar field modulus"))
}

/// The field element of a signed integer.
pub fn fr_from_i64(v: i64) -> Fr {
    zkinfer_circuits::layout::circuit::fe(v as i128)
}

/// The text of a caught panic.
pub fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_roundtrip_and_rejects_non_canonical() {
        for v in [0i64, 1, -1, 255, -123456789] {
            let x = fr_from_i64(v);
            assert_eq!(fr_from_hex(&fr_to_hex(&x)).expect("roundtrip"), x);
        }
        assert_eq!(fr_to_hex(&Fr::from(1u64)), format!("0x{}1", "0".repeat(63)));
        assert!(fr_from_hex(&format!("0x{}", "f".repeat(64))).is_err());
        assert!(fr_from_hex("0x12").is_err());
    }
}
