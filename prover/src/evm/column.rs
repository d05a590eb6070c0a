//! The EVM verifier of a public-column circuit ([`crate::public_column`]): called with the
//! same calldata as every zkinfer verifier, `binding ‖ words ‖ proof` (32-byte big-endian
//! words, then the proof bytes), it derives the circuit's three instances itself.
//!
//! snark-verifier generates the verifier for three instances (`binding, c, h`), which reads
//! them from calldata words 0-2 and the proof from byte 0x60 on. [`column_verifier`] rewrites
//! that source:
//!
//! - the copies of instances 1 and 2 become one block that checks every word is below `r`,
//!   copies the words and the proof's public-column commitment `C_P` (64 bytes) into scratch
//!   memory, takes `c = keccak256(words ‖ C_P) mod r` and `h = Σ w_i c^(n−1−i)` (one
//!   `calldataload`, `mulmod` and `addmod` per word, in a loop unrolled [`UNROLL`] times),
//!   stores them where the copies did, and zeroes the scratch memory again;
//! - every other `calldataload` of a literal offset (the proof) moves by `32·(n − 2)`, as the
//!   proof now starts after `1 + n` words instead of 3.
//!
//! The code size does not depend on `n` (but for the last few words, written out), and the
//! execution gas grows by about 93 a word instead of an instance's 376 (2 to 2,001 words:
//! `cargo test --release -p zkinfer-prover --test evm_column -- --ignored --nocapture`). The rewrite recognises the generated statements exactly and
//! refuses otherwise, so another snark-verifier release cannot be rewritten silently.

use crate::error::{ProverError, Result};

/// `mstore(ADDR, mod(calldataload(OFF), f_q))` with literal `ADDR` and `OFF`: `(ADDR, OFF)`.
fn instance_copy(line: &str) -> Option<(u64, u64)> {
    let rest = line.trim().strip_prefix("mstore(")?.strip_suffix(", f_q))")?;
    let (addr, off) = rest.split_once(", mod(calldataload(")?;
    let off = off.strip_suffix(')')?;
    Some((literal(addr)?, literal(off)?))
}

fn literal(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Moves every `calldataload(LITERAL)` of `line` by `shift` bytes (a computed offset is an
/// error: it could not be moved safely).
fn shift_calldata(line: &str, shift: i64) -> std::result::Result<String, String> {
    super::split::map_calldataload(line, |arg| {
        let off = literal(arg).ok_or_else(|| format!("calldataload offset `{arg}` out of range"))?;
        let moved = off as i64 + shift;
        if moved < 0 {
            return Err(format!("calldataload({off:#x}) would move before the calldata"));
        }
        Ok(format!("{moved:#x}"))
    })
}

/// Words per iteration of the evaluation loop: unrolled, the loop's own bookkeeping (about 45
/// gas an iteration without solc's optimizer, which the verifier cannot use) is paid once per
/// this many words.
const UNROLL: usize = 8;

/// The Yul that folds the words at calldata `0x20..` into `h` (Horner's rule at `c`) and
/// checks each is below r: a loop over [`UNROLL`] words at a time, then the rest written out.
fn horner_steps(words: usize) -> String {
    let step = |at: &str| format!("                {{\n                    let w := calldataload({at})\n                    success := and(success, lt(w, f_q))\n                    h := addmod(mulmod(h, c, f_q), w, f_q)\n                }}\n");
    let mut out = String::new();
    let looped = words / UNROLL * UNROLL;
    if looped > 0 {
        out.push_str(&format!("            for {{ let p := 0x20 }} lt(p, {:#x}) {{ p := add(p, {:#x}) }} {{\n", 0x20 + 32 * looped, 32 * UNROLL));
        for j in 0..UNROLL {
            out.push_str(&step(&if j == 0 { "p".to_string() } else { format!("add(p, {:#x})", 32 * j) }));
        }
        out.push_str("            }\n");
    }
    for i in looped..words {
        out.push_str(&step(&format!("{:#x}", 0x20 + 32 * i)).replacen("                ", "            ", 1));
    }
    out
}

/// Rewrites `sol`, snark-verifier's verifier for the three instances of a public-column circuit
/// whose public column is advice column `column` (its commitment the proof's `column`-th
/// point), into one called with `binding ‖ words ‖ proof` for `words` public words.
pub fn column_verifier(sol: &str, words: usize, column: usize) -> Result<String> {
    rewrite(sol, words, column).map_err(|why| ProverError::Evm(format!("cannot derive the public-column verifier from the generated one ({why})")))
}

fn rewrite(sol: &str, words: usize, column: usize) -> std::result::Result<String, String> {
    let lines: Vec<&str> = sol.lines().collect();
    // (the proof's evaluations are read with the same statement, from 0x60 on)
    let copies: Vec<(usize, (u64, u64))> = lines.iter().enumerate().filter_map(|(i, l)| instance_copy(l).map(|c| (i, c))).filter(|(_, (_, off))| *off < 0x60).collect();
    let [(i0, (a0, 0)), (i1, (a1, 0x20)), (i2, (a2, 0x40))] = copies[..] else {
        return Err(format!("expected the copies of three instances from calldata 0x0, 0x20, 0x40, found {copies:?}"));
    };
    if i1 != i0 + 1 || i2 != i1 + 1 || a1 != a0 + 0x20 || a2 != a1 + 0x20 {
        return Err("the three instance copies are not consecutive".into());
    }
    if !lines.iter().any(|l| l.trim() == "let x := calldataload(0x60)") {
        return Err("the proof is not read from calldata 0x60 on".into());
    }
    if lines.iter().any(|l| l.contains("calldatacopy") || l.contains("calldatasize")) {
        return Err("the verifier reads its calldata other than by calldataload".into());
    }
    let n = words as i64;
    let shift = 32 * (n - 2);
    let words_end = 32 * (1 + words as u64);
    // the commitment's offset in the new calldata: after the binding, the words and the
    // advice commitments before it
    let cp_at = words_end + 64 * column as u64;
    let scratch = a2 + 0x20;
    let hashed = 32 * words as u64 + 0x40;
    let block = format!(
        "{{
            // zkinfer: the public column. Calldata is `binding ‖ {words} words ‖ proof`; the
            // instances are c = keccak256(words ‖ C_P) mod r (C_P: the proof's commitment to
            // the column) and h = Σ w_i c^(n-1-i); every word must be below r.
            calldatacopy({scratch:#x}, 0x20, {wb:#x})
            calldatacopy({cp_scratch:#x}, {cp_at:#x}, 0x40)
            let c := mod(keccak256({scratch:#x}, {hashed:#x}), f_q)
            let h := 0
{steps}            mstore({a1:#x}, c)
            mstore({a2:#x}, h)
            // the scratch memory back to zero (calldata past its end reads as zeros)
            calldatacopy({scratch:#x}, calldatasize(), {hashed:#x})
        }}",
        wb = 32 * words as u64,
        cp_scratch = scratch + 32 * words as u64,
        steps = horner_steps(words),
    );
    let mut out = String::with_capacity(sol.len() + block.len());
    for (i, line) in lines.iter().enumerate() {
        if i == i1 {
            out.push_str(&block);
        } else if i == i2 {
            continue;
        } else if i == i0 {
            out.push_str(line);
        } else {
            out.push_str(&shift_calldata(line, shift)?);
        }
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rewrite_moves_the_proof_and_derives_two_instances() {
        let sol = "x\n  mstore(0xa0, mod(calldataload(0x0), f_q))\nmstore(0xc0, mod(calldataload(0x20), f_q))\nmstore(0xe0, mod(calldataload(0x40), f_q))\n  let x := calldataload(0x60)\n  let y := calldataload(0x80)\n";
        let out = column_verifier(sol, 5, 2).expect("rewrite");
        // 5 words: the proof starts at 32·6 = 0xc0 instead of 0x60
        assert!(out.contains("let x := calldataload(0xc0)") && out.contains("let y := calldataload(0xe0)"), "{out}");
        assert!(out.contains("mstore(0xa0, mod(calldataload(0x0), f_q))"));
        assert!(!out.contains("calldataload(0x20), f_q"));
        // C_P: the third commitment, after the binding and 5 words: 0xc0 + 2·64 = 0x140
        assert!(out.contains("calldatacopy(0x1a0, 0x140, 0x40)"), "{out}");
        assert!(column_verifier("mstore(0xa0, mod(calldataload(0x0), f_q))\n", 5, 2).is_err());
        // 5 words: no loop, each word's step written out; 19: a loop over 16, then 3
        assert!(!out.contains("for {") && out.matches("let w := calldataload(").count() == 5, "{out}");
        let out = column_verifier(sol, 19, 2).expect("rewrite");
        assert!(out.contains("for { let p := 0x20 } lt(p, 0x220) { p := add(p, 0x100) }"), "{out}");
        assert_eq!(out.matches("let w := calldataload(").count(), 8 + 3);
        // words 16-18 at 0x220, 0x240, 0x260; the proof from 32·20 = 0x280 on
        assert!(out.contains("calldataload(add(p, 0xe0))") && ["0x220", "0x240", "0x260", "0x280"].iter().all(|o| out.contains(&format!("calldataload({o})"))), "{out}");
        let computed = sol.replace("calldataload(0x80)", "calldataload(add(1, 2))");
        assert!(column_verifier(&computed, 5, 2).is_err());
    }
}
