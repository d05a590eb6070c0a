//! Public instances read in loops: a verifier whose code does not grow with them.
//!
//! snark-verifier's Solidity verifier is straight-line code, and three parts of it are written
//! out once per public instance:
//!
//! 1. the copy of instance `i` from calldata into memory (`mstore(I_i, mod(calldataload(32 i), f_q))`);
//! 2. the Lagrange basis polynomial of row `i` at the challenge `z`,
//!    `L_i(z) = ω^i (z^n − 1) / (n (z − ω^i))`: a numerator `A_i = ((z^n − 1)/n) · ω^i`, a
//!    denominator `B_i = z − ω^i` (inverted with the others in one batch inversion) and
//!    `L_i = A_i · B_i⁻¹`, with two 32-byte constants per row;
//! 3. the instance polynomial's evaluation, `Σ_i instance_i · L_i(z)`.
//!
//! That is about 165 bytes of code per instance, and a model with a few hundred
//! public values gets a verifier over EIP-170. [`loop_instances`] rewrites the generated source
//! so that (1) is a loop and (2)+(3) are one loop that sums the fractions as one:
//!
//! ```text
//! Σ_i x_i ω^i / (z − ω^i) = Σ_i x_i / (u_i − 1) = num / den,   u_i = z ω^−i,
//! num ← num·(u_i − 1) + x_i · den,   den ← den·(u_i − 1),   u_(i+1) = u_i · ω^−1
//! ```
//!
//! `den` joins the verifier's existing batch inversion in place of the removed `B_i`, and the
//! evaluation becomes `((z^n − 1)/n) · num · den⁻¹`, the same field element the straight-line
//! code computes (so the verdict on every proof is the same). Rows whose `L_i` the verifier
//! also needs elsewhere (row 0 is `l_0` of the permutation argument) keep their straight-line
//! code. The loops' only instance-dependent part is their bound, so the code size no longer
//! depends on the number of public values.
//!
//! The rewrite recognises the generated statements exactly (the constants must be `ω^i` and
//! `−ω^i` of the circuit's domain, every removed memory word must be unreferenced elsewhere, the
//! batch inversion must have the generated shape) and refuses otherwise, so a different
//! snark-verifier release cannot be rewritten into something else silently.

use std::collections::{BTreeSet, HashMap};

use halo2_base::utils::fe_to_biguint;
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::Field;

/// A Yul expression: a call or an atom (identifier or literal).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expr {
    Call(String, Vec<Expr>),
    Atom(String),
}

impl Expr {
    fn call(&self, name: &str, arity: usize) -> Option<&[Expr]> {
        match self {
            Expr::Call(n, args) if n == name && args.len() == arity => Some(args),
            _ => None,
        }
    }

    fn atom(&self) -> Option<&str> {
        match self {
            Expr::Atom(a) => Some(a),
            Expr::Call(..) => None,
        }
    }

    /// A literal small enough to be a memory address or length.
    fn num(&self) -> Option<u64> {
        parse_u64(self.atom()?)
    }

    /// `mload(LITERAL)`'s address.
    fn mload(&self) -> Option<u64> {
        self.call("mload", 1)?[0].num()
    }

    fn visit(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        if let Expr::Call(_, args) = self {
            for a in args {
                a.visit(f);
            }
        }
    }
}

fn parse_u64(a: &str) -> Option<u64> {
    if let Some(h) = a.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else if !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) {
        a.parse().ok()
    } else {
        None
    }
}

/// Parses one expression (the whole of `s`).
fn parse_expr(s: &str) -> Option<Expr> {
    fn go(s: &[u8], i: &mut usize) -> Option<Expr> {
        while *i < s.len() && s[*i].is_ascii_whitespace() {
            *i += 1;
        }
        let start = *i;
        while *i < s.len() && (s[*i].is_ascii_alphanumeric() || s[*i] == b'_') {
            *i += 1;
        }
        if start == *i {
            return None;
        }
        let name = std::str::from_utf8(&s[start..*i]).ok()?.to_string();
        while *i < s.len() && s[*i].is_ascii_whitespace() {
            *i += 1;
        }
        if *i < s.len() && s[*i] == b'(' {
            *i += 1;
            let mut args = Vec::new();
            loop {
                while *i < s.len() && s[*i].is_ascii_whitespace() {
                    *i += 1;
                }
                if *i < s.len() && s[*i] == b')' && args.is_empty() {
                    *i += 1;
                    break;
                }
                args.push(go(s, i)?);
                while *i < s.len() && s[*i].is_ascii_whitespace() {
                    *i += 1;
                }
                match s.get(*i)? {
                    b',' => *i += 1,
                    b')' => {
                        *i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
            Some(Expr::Call(name, args))
        } else {
            Some(Expr::Atom(name))
        }
    }
    let b = s.trim().as_bytes();
    let mut i = 0;
    let e = go(b, &mut i)?;
    (i == b.len()).then_some(e)
}

/// One line of the generated code, as far as the rewrite needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stmt {
    /// `NAME(...)` as a statement, e.g. `mstore(a, b)`.
    Expr(Expr),
    /// `[let] NAME := EXPR`.
    Assign(String, Expr),
    /// Anything else (`{`, `}`, `let v`, blank, ...).
    Other,
}

fn parse_stmt(line: &str) -> Stmt {
    let t = line.trim();
    let t2 = t.strip_prefix("let ").unwrap_or(t);
    if let Some((lhs, rhs)) = t2.split_once(":=") {
        let lhs = lhs.trim();
        if !lhs.is_empty() && lhs.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            if let Some(e) = parse_expr(rhs) {
                return Stmt::Assign(lhs.to_string(), e);
            }
        }
        return Stmt::Other;
    }
    match parse_expr(t) {
        Some(e @ Expr::Call(..)) => Stmt::Expr(e),
        _ => Stmt::Other,
    }
}

/// `mstore(ADDR, VALUE)` with a literal address.
fn as_mstore(s: &Stmt) -> Option<(u64, &Expr)> {
    match s {
        Stmt::Expr(e) => {
            let a = e.call("mstore", 2)?;
            Some((a[0].num()?, &a[1]))
        }
        _ => None,
    }
}

fn is_fq(e: &Expr) -> bool {
    e.atom() == Some("f_q")
}

fn decimal(f: &Fr) -> String {
    fe_to_biguint(f).to_string()
}

/// The literal `a` denotes the field element `f`.
fn lit_is(a: &Expr, f: &Fr) -> bool {
    let Some(a) = a.atom() else { return false };
    if let Some(h) = a.strip_prefix("0x") {
        fe_to_biguint(f).to_str_radix(16) == h.trim_start_matches('0').to_lowercase() || (h.trim_start_matches('0').is_empty() && bool::from(f.is_zero()))
    } else {
        a == decimal(f)
    }
}

/// What was found for one instance row.
struct Row {
    /// line index and address of `A_i = ((z^n − 1)/n) · ω^i`
    a: (usize, u64),
    /// line index and address of `B_i = z − ω^i`
    b: (usize, u64),
    /// line index and address of `L_i = A_i · B_i⁻¹`
    l: (usize, u64),
}

/// Rewrites snark-verifier's generated verifier `sol` for a circuit whose domain generator is
/// `omega` and which has `n` public instances (one instance column) so that the instances are
/// read and evaluated in loops (see the module docs). Errors name what was not recognised.
pub fn loop_instances(sol: &str, omega: Fr, n: usize) -> Result<String, String> {
    if n < 2 {
        return Err(format!("{n} public instance(s): nothing to gain"));
    }
    let lines: Vec<&str> = sol.lines().collect();
    let stmts: Vec<Stmt> = lines.iter().map(|l| parse_stmt(l)).collect();
    let blank = |i: usize| lines[i].trim().is_empty();
    let next_code = |mut i: usize| {
        while i < lines.len() && blank(i) {
            i += 1;
        }
        i
    };
    let prev_code = |i: usize| (0..i).rev().find(|&j| !blank(j));

    // 1. The copies from calldata.
    // `mstore(A, mod(calldataload(OFF), f_q))` gives A − OFF: the same for every copy.
    let copy_at = |idx: usize| -> Option<u64> {
        let (addr, v) = as_mstore(&stmts[idx])?;
        let m = v.call("mod", 2)?;
        let off = m[0].call("calldataload", 1)?[0].num()?;
        (is_fq(&m[1]) && addr >= off).then(|| addr - off)
    };
    let first = (0..stmts.len())
        .find(|&i| as_mstore(&stmts[i]).and_then(|(_, v)| v.call("mod", 2)).and_then(|m| m[0].call("calldataload", 1)).and_then(|c| c[0].num()) == Some(0))
        .ok_or("no copy of the first instance from calldata")?;
    let inst_base = copy_at(first).ok_or("the first instance copy is not `mstore(A, mod(calldataload(0x0), f_q))`")?;
    for i in 0..n {
        let ok = first + i < stmts.len()
            && copy_at(first + i) == Some(inst_base)
            && as_mstore(&stmts[first + i]).map(|(a, _)| a) == Some(inst_base + 32 * i as u64);
        if !ok {
            return Err(format!("instance {i} is not copied from calldata where expected (line {})", first + i + 1));
        }
    }
    let inst_addr = |i: usize| inst_base + 32 * i as u64;

    // 3. The evaluation Σ instance_i · L_i: `{`, `let result := ...`, n − 1 `result := ...`,
    //    `mstore(DEST, result)`, `}`.
    let sum_first = (0..stmts.len())
        .find(|&i| match &stmts[i] {
            Stmt::Assign(v, e) if v == "result" => e.call("mulmod", 3).is_some_and(|a| a[1].mload() == Some(inst_addr(0))),
            _ => false,
        })
        .ok_or("no evaluation of the instance polynomial")?;
    let mut lag = Vec::with_capacity(n);
    for i in 0..n {
        let l = match &stmts[sum_first + i] {
            Stmt::Assign(v, e) if v == "result" && i == 0 => e.call("mulmod", 3).filter(|a| is_fq(&a[2]) && a[1].mload() == Some(inst_addr(0))).and_then(|a| a[0].mload()),
            Stmt::Assign(v, e) if v == "result" => e
                .call("addmod", 3)
                .filter(|a| is_fq(&a[2]) && a[1].atom() == Some("result"))
                .and_then(|a| a[0].call("mulmod", 3))
                .filter(|m| is_fq(&m[2]) && m[1].mload() == Some(inst_addr(i)))
                .and_then(|m| m[0].mload()),
            _ => None,
        };
        lag.push(l.ok_or_else(|| format!("term {i} of the instance evaluation not recognised (line {})", sum_first + i + 1))?);
    }
    let sum_dest = match as_mstore(&stmts[sum_first + n]) {
        Some((d, v)) if v.atom() == Some("result") => d,
        _ => return Err(format!("the instance evaluation is not stored (line {})", sum_first + n + 1)),
    };
    let sum_open = prev_code(sum_first).filter(|&i| lines[i].trim() == "{").ok_or("the instance evaluation is not a block")?;
    let sum_close = sum_first + n + 1;
    if lines.get(sum_close).map(|l| l.trim()) != Some("}") {
        return Err("the instance evaluation block does not end where expected".into());
    }

    // 2. The Lagrange rows: L_i = A_i · B_i, A_i = ZN · ω^i, B_i = Z + (−ω^i).
    let mut def: HashMap<u64, usize> = HashMap::new();
    for (i, s) in stmts.iter().enumerate() {
        if let Some((a, _)) = as_mstore(s) {
            def.entry(a).or_insert(i);
        }
    }
    let (mut zn, mut z) = (None, None);
    let mut rows = Vec::with_capacity(n);
    let mut w = Fr::ONE;
    for (i, &l) in lag.iter().enumerate() {
        let err = |what: &str| format!("Lagrange row {i}: {what}");
        let li = *def.get(&l).ok_or_else(|| err("L_i is not stored"))?;
        let m = as_mstore(&stmts[li]).and_then(|(_, v)| v.call("mulmod", 3)).filter(|m| is_fq(&m[2])).ok_or_else(|| err("L_i is not A_i · B_i"))?;
        let (a, b) = (m[0].mload().ok_or_else(|| err("A_i"))?, m[1].mload().ok_or_else(|| err("B_i"))?);
        let ai = *def.get(&a).ok_or_else(|| err("A_i is not stored"))?;
        let bi = *def.get(&b).ok_or_else(|| err("B_i is not stored"))?;
        let am = as_mstore(&stmts[ai]).and_then(|(_, v)| v.call("mulmod", 3)).filter(|m| is_fq(&m[2]) && lit_is(&m[1], &w)).ok_or_else(|| err("A_i is not (z^n - 1)/n · ω^i"))?;
        let bm = as_mstore(&stmts[bi]).and_then(|(_, v)| v.call("addmod", 3)).filter(|m| is_fq(&m[2]) && lit_is(&m[1], &(-w))).ok_or_else(|| err("B_i is not z - ω^i"))?;
        let (zn_i, z_i) = (am[0].mload().ok_or_else(|| err("A_i's factor"))?, bm[0].mload().ok_or_else(|| err("B_i's z"))?);
        if *zn.get_or_insert(zn_i) != zn_i || *z.get_or_insert(z_i) != z_i {
            return Err(err("not the same z as row 0"));
        }
        if !(ai < li && bi < li && li < sum_open) {
            return Err(err("computed out of order"));
        }
        rows.push(Row { a: (ai, a), b: (bi, b), l: (li, l) });
        w *= omega;
    }
    let (zn, z) = (zn.expect("n >= 2"), z.expect("n >= 2"));

    // The batch inversion that holds the B_i: `{`, `let prod := mload(D0)`, pairs
    // `prod := mulmod(mload(Dj), prod, f_q)` / `mstore(Pj, prod)`, `}` ... `{`, `let inv := mload(X)`,
    // `let v`, triples `v := mload(Dj)` / `mstore(Dj, mulmod(mload(P(j-1)), inv, f_q))` /
    // `inv := mulmod(v, inv, f_q)` for j = m..1, `mstore(D0, inv)`, `}`.
    let b_set: BTreeSet<u64> = rows.iter().map(|r| r.b.1).collect();
    let prod_first = (0..stmts.len())
        .filter(|&i| matches!(&stmts[i], Stmt::Assign(v, e) if v == "prod" && e.mload().is_some()))
        .find(|&i| {
            // the block whose denominators include B_1
            let mut j = i + 1;
            loop {
                j = next_code(j);
                match &stmts.get(j) {
                    Some(Stmt::Assign(v, e)) if v == "prod" => {
                        if e.call("mulmod", 3).and_then(|a| a[0].mload()).is_some_and(|d| d == rows[1].b.1) {
                            return true;
                        }
                        j += 1;
                    }
                    Some(s) if as_mstore(s).is_some() => j += 1,
                    _ => return false,
                }
            }
        })
        .ok_or("no batch inversion of the Lagrange denominators")?;
    let prod_open = prev_code(prod_first).filter(|&i| lines[i].trim() == "{").ok_or("the batch inversion's products are not a block")?;
    let mut d = vec![match &stmts[prod_first] {
        Stmt::Assign(_, e) => e.mload().expect("filtered"),
        _ => unreachable!(),
    }];
    let mut p = Vec::new();
    let mut j = prod_first + 1;
    let prod_close = loop {
        j = next_code(j);
        match stmts.get(j) {
            Some(Stmt::Assign(v, e)) if v == "prod" => {
                let dj = e.call("mulmod", 3).filter(|a| a[1].atom() == Some("prod") && is_fq(&a[2])).and_then(|a| a[0].mload()).ok_or("batch inversion: product step not recognised")?;
                let k = next_code(j + 1);
                let pj = as_mstore(&stmts[k]).filter(|(_, v)| v.atom() == Some("prod")).map(|(a, _)| a).ok_or("batch inversion: product not stored")?;
                d.push(dj);
                p.push(pj);
                j = k + 1;
            }
            _ if lines.get(j).map(|l| l.trim()) == Some("}") => break j,
            _ => return Err("batch inversion: unexpected statement among the products".into()),
        }
    };
    let m = p.len();
    let p_last = *p.last().ok_or("batch inversion of one element")?;
    // the inversion's back substitution
    let inv_first = (prod_close..stmts.len())
        .find(|&i| matches!(&stmts[i], Stmt::Assign(v, _) if v == "inv"))
        .ok_or("batch inversion: no back substitution")?;
    let inv_src = match &stmts[inv_first] {
        Stmt::Assign(_, e) => e.mload().ok_or("batch inversion: `inv` is not loaded from memory")?,
        _ => unreachable!(),
    };
    let inv_open = prev_code(inv_first).filter(|&i| lines[i].trim() == "{").ok_or("batch inversion: back substitution is not a block")?;
    let mut k = next_code(inv_first + 1);
    if lines[k].trim() != "let v" {
        return Err("batch inversion: no `let v`".into());
    }
    for jj in (1..=m).rev() {
        let prev = if jj == 1 { d[0] } else { p[jj - 2] };
        let k1 = next_code(k + 1);
        let k2 = next_code(k1 + 1);
        let k3 = next_code(k2 + 1);
        let ok = matches!(&stmts[k1], Stmt::Assign(v, e) if v == "v" && e.mload() == Some(d[jj]))
            && as_mstore(&stmts[k2]).is_some_and(|(a, e)| a == d[jj] && e.call("mulmod", 3).is_some_and(|x| x[0].mload() == Some(prev) && x[1].atom() == Some("inv") && is_fq(&x[2])))
            && matches!(&stmts[k3], Stmt::Assign(v, e) if v == "inv" && e.call("mulmod", 3).is_some_and(|x| x[0].atom() == Some("v") && x[1].atom() == Some("inv") && is_fq(&x[2])));
        if !ok {
            return Err(format!("batch inversion: back substitution step {jj} not recognised"));
        }
        k = k3;
    }
    let k_last = next_code(k + 1);
    if as_mstore(&stmts[k_last]) != Some((d[0], &Expr::Atom("inv".into()))) {
        return Err("batch inversion: the first element's inverse is not stored".into());
    }
    let inv_close = next_code(k_last + 1);
    if lines.get(inv_close).map(|l| l.trim()) != Some("}") {
        return Err("batch inversion: back substitution does not end where expected".into());
    }
    if !(rows.iter().all(|r| r.l.0 > inv_close) && sum_open > inv_close && prod_open > rows.iter().map(|r| r.a.0.max(r.b.0)).max().unwrap_or(0)) {
        return Err("the Lagrange rows and the batch inversion are not in the generated order".into());
    }
    if !b_set.iter().all(|b| d.contains(b)) {
        return Err("a Lagrange denominator is not in the batch inversion".into());
    }

    // Which rows can go: their three words must be used nowhere else. Lines the rewrite
    // replaces do not count; memory ranges read by keccak256/staticcall must not cover them.
    let replaced = |i: usize| (prod_open..=prod_close).contains(&i) || (inv_open..=inv_close).contains(&i) || (sum_open..=sum_close).contains(&i);
    let mut uses: HashMap<u64, BTreeSet<usize>> = HashMap::new();
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for (i, s) in stmts.iter().enumerate() {
        if replaced(i) {
            continue;
        }
        let e = match s {
            Stmt::Expr(e) | Stmt::Assign(_, e) => e,
            Stmt::Other => {
                // unparsed lines: count any literal in them as a use
                for tok in lines[i].split(|c: char| !c.is_ascii_alphanumeric()) {
                    if let Some(v) = parse_u64(tok) {
                        uses.entry(v).or_default().insert(i);
                    }
                }
                continue;
            }
        };
        e.visit(&mut |x| {
            if let Some(v) = x.num() {
                uses.entry(v).or_default().insert(i);
            }
            if let Some(a) = x.call("keccak256", 2) {
                if let (Some(s), Some(l)) = (a[0].num(), a[1].num()) {
                    ranges.push((s, s + l));
                }
            }
            if let Some(a) = x.call("staticcall", 6) {
                for (s, l) in [(&a[2], &a[3]), (&a[4], &a[5])] {
                    if let (Some(s), Some(l)) = (s.num(), l.num()) {
                        ranges.push((s, s + l));
                    }
                }
            }
        });
    }
    let only_in = |addr: u64, allowed: &[usize]| -> bool {
        uses.get(&addr).is_none_or(|u| u.iter().all(|i| allowed.contains(i))) && !ranges.iter().any(|&(s, e)| s < addr + 32 && addr < e)
    };
    let removed: Vec<usize> = (0..n)
        .filter(|&i| {
            let r = &rows[i];
            only_in(r.l.1, &[r.l.0]) && only_in(r.a.1, &[r.a.0, r.l.0]) && only_in(r.b.1, &[r.b.0, r.l.0])
        })
        .collect();
    if removed.is_empty() {
        return Err("every instance row's Lagrange value is used elsewhere".into());
    }
    // the words that hold num and den: the first removed row's A and B
    let (num_slot, den_slot) = (rows[removed[0]].a.1, rows[removed[0]].b.1);
    let gone_b: BTreeSet<u64> = removed.iter().map(|&i| rows[i].b.1).collect();
    let mut d2: Vec<u64> = d.iter().copied().filter(|x| !gone_b.contains(x)).collect();
    d2.push(den_slot);
    let m2 = d2.len() - 1;
    if m2 == 0 || m2 > m {
        return Err("nothing to remove from the batch inversion".into());
    }
    // reuse the last m2 product words, so the last one (inverted by the modexp) stays
    let p2 = &p[m - m2..];
    debug_assert_eq!(*p2.last().expect("m2 >= 1"), p_last);

    // Emit.
    let removed_lines: BTreeSet<usize> = removed.iter().flat_map(|&i| [rows[i].a.0, rows[i].b.0, rows[i].l.0]).collect();
    let omega_inv = decimal(&Option::<Fr>::from(omega.invert()).ok_or("ω is not invertible")?);
    let minus_one = decimal(&-Fr::ONE);
    let bytes = 32 * n as u64;
    let inst_end = inst_base + bytes;
    let mut out = String::with_capacity(sol.len());
    let mut i = 0;
    while i < lines.len() {
        if i == first {
            out.push_str(&format!(
                "{{\n            // the {n} public instances, from calldata (zkinfer: one loop instead of one statement each)\n            for {{ let p := 0 }} lt(p, {bytes:#x}) {{ p := add(p, 0x20) }} {{\n                mstore(add({inst_base:#x}, p), mod(calldataload(p), f_q))\n            }}\n        }}\n"
            ));
            i += n;
            continue;
        }
        if removed_lines.contains(&i) {
            i += 1;
            continue;
        }
        if i == prod_open {
            // Σ x_i ω^i / (z − ω^i) = Σ x_i / (z ω^-i − 1) as num / den, one fraction (zkinfer;
            // see prover/src/evm/instances.rs)
            out.push_str(&format!(
                "{{\n            let u := mload({z:#x})\n            let num := 0\n            let den := 1\n            for {{ let p := {inst_base:#x} }} lt(p, {inst_end:#x}) {{ p := add(p, 0x20) }} {{\n                let d := addmod(u, {minus_one}, f_q)\n                num := addmod(mulmod(num, d, f_q), mulmod(mload(p), den, f_q), f_q)\n                den := mulmod(den, d, f_q)\n                u := mulmod(u, {omega_inv}, f_q)\n            }}\n            mstore({num_slot:#x}, num)\n            mstore({den_slot:#x}, den)\n        }}\n"
            ));
            out.push_str(&format!("{{\n            let prod := mload({:#x})\n", d2[0]));
            for jj in 1..=m2 {
                out.push_str(&format!("            prod := mulmod(mload({:#x}), prod, f_q)\n            mstore({:#x}, prod)\n", d2[jj], p2[jj - 1]));
            }
            out.push_str("        }\n");
            i = prod_close + 1;
            continue;
        }
        if i == inv_open {
            out.push_str(&format!("{{\n            let inv := mload({inv_src:#x})\n            let v\n"));
            for jj in (1..=m2).rev() {
                let prev = if jj == 1 { d2[0] } else { p2[jj - 2] };
                out.push_str(&format!(
                    "            v := mload({:#x})\n            mstore({:#x}, mulmod(mload({prev:#x}), inv, f_q))\n            inv := mulmod(v, inv, f_q)\n",
                    d2[jj], d2[jj]
                ));
            }
            out.push_str(&format!("            mstore({:#x}, inv)\n        }}\n", d2[0]));
            i = inv_close + 1;
            continue;
        }
        if i == sum_open {
            out.push_str(&format!("mstore({sum_dest:#x}, mulmod(mload({zn:#x}), mulmod(mload({num_slot:#x}), mload({den_slot:#x}), f_q), f_q))\n"));
            i = sum_close + 1;
            continue;
        }
        out.push_str(lines[i]);
        out.push('\n');
        i += 1;
    }
    Ok(out)
}
