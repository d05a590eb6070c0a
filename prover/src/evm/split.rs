//! Verifiers too large for one contract, deployed as a head contract and its parts.
//!
//! snark-verifier's Solidity verifier is one straight-line assembly block. It grows by about
//! 165 bytes of code per public instance, so a model with a few hundred public values gets a
//! verifier over EIP-170's 24,576-byte limit and cannot be deployed on Ethereum at all.
//!
//! [`compile_verifier`] compiles the generated verifier as it is when it fits. Otherwise it cuts
//! the block's top-level statements into consecutive chunks, one per contract:
//!
//! - The verifier keeps its whole state in memory at fixed addresses; between top-level
//!   statements the only other live value is `success` (the constants `f_p`, `f_q` and the
//!   point check are declared again in every part). So a chunk can run in another contract if
//!   it gets the memory and `success` and gives them back.
//! - The **head** (`Halo2Verifier`, the address a registry names) runs the first chunk. For each
//!   part it then calls (STATICCALL) with `memory ++ calldata ++ [memory size, success]`. The
//!   part copies the memory back, runs its chunk with every `calldataload` offset moved past the
//!   memory, and returns `memory ++ [success]`. The head ends with the original verdict: revert
//!   unless `success`.
//! - **Parts are created by the head**: `installVerifierPart(bytes)` accepts only the creation
//!   code whose keccak256 the head holds for the next part, and CREATEs it. So part `i` lives at
//!   the address of the head's CREATE with nonce `i`, which the head computes. The head has no
//!   immutables and no owner: its runtime code, which a registry pins by hash, commits to every
//!   part, and anyone may install the parts.
//! - A head whose parts are not all installed rejects every proof: a call to an address without
//!   code returns nothing, and the head insists on getting the memory back.
//!
//! The cost is about 10k gas per part (a call, the memory copied twice) on top of the
//! verifier's own; total code still grows with the public instances, but every contract stays
//! under EIP-170.

use std::path::Path;

use sha3::{Digest, Keccak256};

use super::chain::EIP170_LIMIT;
use super::solc::{compile_source_in, CompiledVerifier};
use crate::error::{ProverError, Result};

/// Solidity signature of the head's part installer. Its selector (0x3e043320) is above
/// any instance's (an instance is below the BN254 scalar modulus, first byte at most 0x30), so
/// a verification call never reaches it.
pub const INSTALL_SIGNATURE: &str = "installVerifierPart(bytes)";

/// The most contracts a verifier may be split into.
pub const MAX_CONTRACTS: usize = 8;

/// Runtime bytes each contract is planned to fill at most (the head also holds the installer).
const PLANNED_FILL: usize = EIP170_LIMIT * 4 / 5;

/// A compiled verifier: one contract (`parts` empty) or a head and its parts.
#[derive(Clone, Debug)]
pub struct VerifierCode {
    /// The contract that is called with `instances ++ proof` (and that a registry names).
    pub head: CompiledVerifier,
    /// Parts, in order: each one's creation code is passed to the head's
    /// [`INSTALL_SIGNATURE`] after the head is deployed.
    pub parts: Vec<CompiledVerifier>,
}

impl VerifierCode {
    /// The largest runtime code among the contracts (what EIP-170 limits).
    pub fn largest_runtime(&self) -> usize {
        std::iter::once(&self.head).chain(&self.parts).map(|c| c.deployed_bytecode.len()).max().unwrap_or(0)
    }

    /// Runtime code of all contracts together.
    pub fn total_runtime(&self) -> usize {
        std::iter::once(&self.head).chain(&self.parts).map(|c| c.deployed_bytecode.len()).sum()
    }

    /// Number of contracts (1 when the verifier was not split).
    pub fn contracts(&self) -> usize {
        1 + self.parts.len()
    }
}

/// The 4-byte selector of [`INSTALL_SIGNATURE`].
pub fn install_selector() -> [u8; 4] {
    let h = Keccak256::digest(INSTALL_SIGNATURE.as_bytes());
    [h[0], h[1], h[2], h[3]]
}

/// Calldata that installs a part: `installVerifierPart(creation_code)`, ABI-encoded.
pub fn install_calldata(creation_code: &[u8]) -> Vec<u8> {
    let mut out = install_selector().to_vec();
    let word = |n: usize| {
        let mut w = [0u8; 32];
        w[24..].copy_from_slice(&(n as u64).to_be_bytes());
        w
    };
    out.extend_from_slice(&word(32));
    out.extend_from_slice(&word(creation_code.len()));
    out.extend_from_slice(creation_code);
    out.resize(out.len() + (32 - creation_code.len() % 32) % 32, 0);
    out
}

/// Compiles a generated verifier (`sol`, snark-verifier's `Halo2Verifier`) with the solcjs in
/// `dir`: as one contract when its runtime code fits EIP-170, else split into as few contracts
/// as fit (at most [`MAX_CONTRACTS`]).
pub fn compile_verifier_in(dir: &Path, sol: &str) -> Result<VerifierCode> {
    let whole = super::solc::compile_sol_in(dir, sol)?;
    if whole.deployed_bytecode.len() <= EIP170_LIMIT {
        return Ok(VerifierCode { head: whole, parts: vec![] });
    }
    let first = whole.deployed_bytecode.len().div_ceil(PLANNED_FILL).max(2);
    for n in first..=MAX_CONTRACTS {
        if let Some(code) = compile_split_in(dir, sol, n)? {
            return Ok(code);
        }
    }
    Err(ProverError::Evm(format!(
        "the verifier ({} bytes of runtime code) does not fit in {MAX_CONTRACTS} contracts of EIP-170's {EIP170_LIMIT} bytes",
        whole.deployed_bytecode.len()
    )))
}

/// Compiles `sol` split into `n >= 2` contracts; `None` when one of them is over EIP-170.
pub fn compile_split_in(dir: &Path, sol: &str, n: usize) -> Result<Option<VerifierCode>> {
    let parsed = Parsed::new(sol).map_err(|e| ProverError::Evm(format!("cannot split the generated verifier: {e}")))?;
    if n < 2 || n > parsed.body.len() || n > MAX_CONTRACTS {
        return Err(ProverError::Evm(format!("cannot split the verifier into {n} contracts")));
    }
    let chunks = chunks(&parsed.body, n);
    let parts_sol = parsed.parts_source(&chunks[1..]).map_err(|e| ProverError::Evm(format!("cannot split the generated verifier: {e}")))?;
    let mut compiled = compile_source_in(dir, &parts_sol)?;
    let mut parts = Vec::with_capacity(n - 1);
    for i in 1..n {
        let name = part_name(i);
        let at = compiled.iter().position(|c| c.name == name).ok_or_else(|| ProverError::Solc(format!("{name} missing from the compiler output")))?;
        parts.push(compiled.swap_remove(at));
    }
    if parts.iter().any(|p| p.deployed_bytecode.len() > EIP170_LIMIT) {
        return Ok(None);
    }
    let hashes: Vec<[u8; 32]> = parts.iter().map(|p| Keccak256::digest(&p.bytecode).into()).collect();
    let head = super::solc::compile_sol_in(dir, &parsed.head_source(&chunks[0], &hashes))?;
    if head.deployed_bytecode.len() > EIP170_LIMIT {
        return Ok(None);
    }
    Ok(Some(VerifierCode { head, parts }))
}

fn part_name(i: usize) -> String {
    format!("Halo2VerifierPart{i}")
}

/// Consecutive groups of `stmts`, `n` of them, of about equal source length.
fn chunks(stmts: &[String], n: usize) -> Vec<&[String]> {
    let total: usize = stmts.iter().map(String::len).sum();
    let mut out = Vec::with_capacity(n);
    let (mut start, mut acc) = (0, 0);
    for (i, s) in stmts.iter().enumerate() {
        acc += s.len();
        let left = stmts.len() - i - 1;
        let groups_left = n - out.len() - 1;
        // Close the group once it holds its share, leaving a statement for every later group.
        if groups_left > 0 && (acc * n >= total * (out.len() + 1) || left == groups_left) && left >= groups_left {
            out.push(&stmts[start..=i]);
            start = i + 1;
        }
    }
    out.push(&stmts[start..]);
    out
}

/// The generated verifier's assembly block, as top-level statements.
struct Parsed {
    /// `let data`, its check, `let success`, `let f_p`, `let f_q`, `function validate_ec_point`.
    prologue: Vec<String>,
    /// Everything that computes the verdict.
    body: Vec<String>,
    /// `if iszero(success) { revert(0, 0) }` and `return(0, 0)`.
    epilogue: Vec<String>,
}

impl Parsed {
    fn new(sol: &str) -> std::result::Result<Self, String> {
        const OPEN: &str = "assembly (\"memory-safe\") {";
        let start = sol.find(OPEN).ok_or("no `assembly (\"memory-safe\")` block")? + OPEN.len();
        let stmts = statements(&sol[start..])?;
        let is_prologue = |s: &str| s.starts_with("let ") || s.starts_with("if iszero(eq(data") || s.starts_with("function ");
        let is_epilogue = |s: &str| s.starts_with("if iszero(success)") || s.starts_with("return(");
        let p = stmts.iter().take_while(|s| is_prologue(s.trim_start())).count();
        let e = stmts[p..].iter().rev().take_while(|s| is_epilogue(s.trim_start())).count();
        let (prologue, rest) = stmts.split_at(p);
        let (body, epilogue) = rest.split_at(rest.len() - e);
        if !prologue.iter().any(|s| s.trim_start().starts_with("let success := true")) {
            return Err("no `let success := true` at the start".into());
        }
        if epilogue.len() != 2 {
            return Err("the block does not end with the success check and return".into());
        }
        if let Some(s) = body.iter().find(|s| {
            let t = s.trim_start();
            t.starts_with("let ") || t.starts_with("function ") || t.contains("calldatasize") || t.contains("msize") || t.contains("return(")
        }) {
            return Err(format!("unexpected top-level statement `{}`", s.trim().lines().next().unwrap_or_default()));
        }
        if body.len() < 2 {
            return Err("too few statements to split".into());
        }
        Ok(Parsed { prologue: prologue.to_vec(), body: body.to_vec(), epilogue: epilogue.to_vec() })
    }

    /// The declarations every part repeats: constants and functions, not `data` or `success`.
    fn shared_declarations(&self) -> impl Iterator<Item = &String> {
        self.prologue.iter().filter(|s| {
            let t = s.trim_start();
            !(t.starts_with("let data") || t.starts_with("if iszero(eq(data") || t.starts_with("let success"))
        })
    }

    /// One source with a contract per chunk: `Halo2VerifierPart1`, `Halo2VerifierPart2`, ...
    fn parts_source(&self, chunks: &[&[String]]) -> std::result::Result<String, String> {
        let mut sol = String::from("// SPDX-License-Identifier: MIT\n\npragma solidity 0.8.19;\n");
        for (i, chunk) in chunks.iter().enumerate() {
            sol.push_str(&format!(
                "\n/// Part {} of a split zkinfer verifier: created by its head (`Halo2Verifier`), called\n/// with `memory ++ calldata ++ [memory size, success]`, returns `memory ++ [success]`.\ncontract {} {{\n    fallback(bytes calldata) external returns (bytes memory) {{\n        assembly {{\n",
                i + 1,
                part_name(i + 1)
            ));
            sol.push_str("            let part_mem := calldataload(sub(calldatasize(), 64))\n");
            sol.push_str("            let success := calldataload(sub(calldatasize(), 32))\n");
            sol.push_str("            calldatacopy(0, 0, part_mem)\n");
            sol.push_str("            let part_base := part_mem\n");
            for s in self.shared_declarations() {
                sol.push_str(s);
            }
            for s in chunk.iter() {
                sol.push_str(&rebase_calldata(s)?);
            }
            sol.push_str("            let part_end := msize()\n            mstore(part_end, success)\n            return(0, add(part_end, 32))\n        }\n    }\n}\n");
        }
        Ok(sol)
    }

    /// The head: the installer, the first chunk, one call per part, the verdict.
    fn head_source(&self, chunk: &[String], part_hashes: &[[u8; 32]]) -> String {
        let n = part_hashes.len();
        let mut sol = String::from("// SPDX-License-Identifier: MIT\n\npragma solidity 0.8.19;\n\n");
        sol.push_str(&format!(
            "/// A zkinfer verifier split into this head and {n} parts (EIP-170). Call it with\n/// `instances ++ proof`: it reverts unless the proof verifies. Until every part is installed\n/// (`installVerifierPart`, with each part's creation code in order, by anyone) it rejects\n/// every proof.\ncontract Halo2Verifier {{\n"
        ));
        sol.push_str("    /// @notice Creates the next part from `code`, which must be its creation code (checked\n    ///         against the keccak256 this contract holds).\n");
        sol.push_str(&format!(
            "    function installVerifierPart(bytes calldata code) external {{\n        for (uint256 i = 1; i <= {n}; i++) {{\n            address at = _part(i);\n            if (at.code.length != 0) continue;\n            require(keccak256(code) == _partHash(i), \"Halo2Verifier: not the creation code of the next part\");\n            bytes memory c = code;\n            address created;\n            assembly {{\n                created := create(0, add(c, 32), mload(c))\n            }}\n            require(created == at && at.code.length != 0, \"Halo2Verifier: creating the part failed\");\n            return;\n        }}\n        revert(\"Halo2Verifier: every part is installed\");\n    }}\n\n"
        ));
        sol.push_str("    /// @notice Whether every part is installed (before that, every proof is rejected).\n");
        sol.push_str(&format!(
            "    function verifierPartsInstalled() external view returns (bool) {{\n        for (uint256 i = 1; i <= {n}; i++) {{\n            if (_part(i).code.length == 0) return false;\n        }}\n        return true;\n    }}\n\n"
        ));
        sol.push_str("    /// @dev The address of this contract's CREATE with nonce `i` (1 <= i <= 127).\n    function _part(uint256 i) private view returns (address) {\n        return address(uint160(uint256(keccak256(abi.encodePacked(bytes2(0xd694), address(this), uint8(i))))));\n    }\n\n");
        sol.push_str("    function _partHash(uint256 i) private pure returns (bytes32) {\n");
        for (i, h) in part_hashes.iter().enumerate() {
            sol.push_str(&format!("        if (i == {}) return 0x{};\n", i + 1, hex::encode(h)));
        }
        sol.push_str("        return 0;\n    }\n\n");
        sol.push_str("    fallback(bytes calldata) external returns (bytes memory) {\n        assembly {\n");
        for s in &self.prologue {
            sol.push_str(s);
        }
        for s in chunk {
            sol.push_str(s);
        }
        sol.push_str("            let part_state := msize()\n");
        for i in 1..=n {
            // The part's address: keccak256(rlp([this, i])), computed in the scratch word.
            sol.push_str(&format!(
                "            {{
                let saved := mload(0)
                mstore(0, or(shl(248, 0xd6), or(shl(240, 0x94), shl(80, address()))))
                mstore8(22, {i})
                let part := and(keccak256(0, 23), 0xffffffffffffffffffffffffffffffffffffffff)
                mstore(0, saved)
                let len := calldatasize()
                calldatacopy(part_state, 0, len)
                mstore(add(part_state, len), part_state)
                mstore(add(add(part_state, len), 32), success)
                let ok := staticcall(gas(), part, 0, add(add(part_state, len), 64), 0, 0)
                let r := returndatasize()
                if or(iszero(ok), lt(r, add(part_state, 32))) {{ revert(0, 0) }}
                returndatacopy(0, 0, r)
                part_state := sub(r, 32)
                success := mload(part_state)
            }}
"
            ));
        }
        for s in &self.epilogue {
            sol.push_str(s);
        }
        sol.push_str("        }\n    }\n}\n");
        sol
    }
}

/// Top-level statements of a Yul block starting right after its `{`, up to its `}`. A
/// statement ends at the end of a line where braces and parentheses are balanced.
fn statements(text: &str) -> std::result::Result<Vec<String>, String> {
    let (mut out, mut cur) = (Vec::new(), String::new());
    let (mut brace, mut paren) = (0i64, 0i64);
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        if cur.is_empty() && code.trim().is_empty() {
            continue;
        }
        if cur.is_empty() && brace == 0 && paren == 0 && code.trim() == "}" {
            return Ok(out);
        }
        for c in code.chars() {
            match c {
                '{' => brace += 1,
                '}' => brace -= 1,
                '(' => paren += 1,
                ')' => paren -= 1,
                _ => {}
            }
            if brace < 0 || paren < 0 {
                return Err(format!("unbalanced line `{}`", line.trim()));
            }
        }
        cur.push_str(line);
        cur.push('\n');
        if brace == 0 && paren == 0 {
            out.push(std::mem::take(&mut cur));
        }
    }
    Err("the assembly block does not end".into())
}

/// `calldataload(LITERAL)` becomes `calldataload(add(part_base, LITERAL))`.
fn rebase_calldata(stmt: &str) -> std::result::Result<String, String> {
    map_calldataload(stmt, |arg| Ok(format!("add(part_base, {arg})")))
}

/// Replaces the offset of every `calldataload(OFFSET)` in `stmt` with `f(OFFSET)`. Every offset
/// must be a literal (decimal or 0x-hex): a computed one is an error, as it could not be moved
/// safely.
pub(super) fn map_calldataload(stmt: &str, f: impl Fn(&str) -> std::result::Result<String, String>) -> std::result::Result<String, String> {
    const CALL: &str = "calldataload(";
    let (mut out, mut rest) = (String::with_capacity(stmt.len() + 64), stmt);
    while let Some(i) = rest.find(CALL) {
        out.push_str(&rest[..i + CALL.len()]);
        rest = &rest[i + CALL.len()..];
        let j = rest.find(')').ok_or("unclosed calldataload")?;
        let arg = rest[..j].trim();
        let literal = arg.strip_prefix("0x").map_or(!arg.is_empty() && arg.bytes().all(|b| b.is_ascii_digit()), |h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if !literal {
            return Err(format!("calldataload of a computed offset `{arg}`"));
        }
        out.push_str(&f(arg)?);
        rest = &rest[j..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_installer_is_unreachable_from_verification_calldata() {
        // An instance word is below the BN254 scalar modulus 0x30644e72...: first byte <= 0x30.
        assert!(install_selector()[0] > 0x30, "selector {:02x?}", install_selector());
        // the value the docs and the contract kit quote
        assert_eq!(install_selector(), [0x3e, 0x04, 0x33, 0x20]);
        let cd = install_calldata(&[1, 2, 3]);
        assert_eq!(cd.len(), 4 + 32 + 32 + 32);
        assert_eq!(cd[4 + 31], 32);
        assert_eq!(cd[4 + 63], 3);
        assert_eq!(&cd[4 + 64..4 + 67], &[1, 2, 3]);
    }

    #[test]
    fn statements_and_rebasing() {
        let src = "assembly (\"memory-safe\") {\n  let success := true\n  let f_q := 7\n  function f(x) -> y {\n    y := x\n  }\n  mstore(0xa0, mod(calldataload(0x0), f_q))\n  {\n    let x := calldataload(0x20) // a {comment}\n    mstore(0xc0, x)\n  }\n  success := and(eq(1,\n 1), success)\n  if iszero(success) { revert(0, 0) }\n  return(0, 0)\n}\n}\n";
        let p = Parsed::new(src).unwrap();
        assert_eq!(p.prologue.len(), 3);
        assert_eq!(p.body.len(), 3);
        assert_eq!(p.epilogue.len(), 2);
        assert_eq!(rebase_calldata(&p.body[1]).unwrap().matches("calldataload(add(part_base, 0x20))").count(), 1);
        assert!(rebase_calldata("calldataload(add(1, 2))").is_err());
        let stmts: Vec<String> = (0..10).map(|i| "x".repeat(i + 1)).collect();
        for n in 2..=6 {
            let c = chunks(&stmts, n);
            assert_eq!(c.len(), n);
            assert!(c.iter().all(|g| !g.is_empty()));
            assert_eq!(c.concat(), stmts);
        }
    }
}
