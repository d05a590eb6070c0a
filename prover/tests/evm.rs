//! The Solidity verifier: generate, compile with solcjs, deploy in revm, and check it accepts
//! the honest proof and rejects tampered ones. Prints gas and code size.

mod common;

use std::time::Instant;

use zkinfer_circuits::layout::ctx::Shape;
use zkinfer_prover::evm::instances::loop_instances;
use zkinfer_prover::evm::split::compile_split_in;
use zkinfer_prover::evm::{compile_sol, compile_verifier, contracts_dir, gen_sol, gen_sol_straight, install_calldata, install_solc, EvmVerifier, VerifierCode, EIP170_LIMIT};
use zkinfer_prover::{prove, verify, Fr, Verdict};

struct Measured {
    sol_len: usize,
    deployed_size: usize,
    deploy_gas: u64,
    verify_gas: u64,
}

fn run(shape: Shape, enforce_eip170: bool) -> Measured {
    let s = if shape == Shape::default() { common::shared() } else { Box::leak(Box::new(common::setup(shape))) };
    run_setup(s, shape, enforce_eip170)
}

fn run_setup(s: &common::Setup, shape: Shape, enforce_eip170: bool) -> Measured {
    let proof = prove(&s.params, &s.pk, &s.circuit, &s.instances, common::rng()).expect("prove");
    assert_eq!(zkinfer_prover::verify(&s.params, s.pk.get_vk(), &s.instances, &proof), Verdict::Valid);

    let t = Instant::now();
    let sol = gen_sol(&s.params, s.pk.get_vk(), s.instances.len()).expect("gen sol");
    eprintln!("[timing] gen_sol ({shape:?}): {:.2?}, {} bytes of Solidity", t.elapsed(), sol.len());
    if let Ok(dir) = std::env::var("ZKINFER_DUMP_SOL") {
        std::fs::write(format!("{dir}/verifier_{}_{}_{}.sol", shape.width, shape.lookup_width, s.instances.len()), &sol).expect("dump");
    }
    let dir = contracts_dir().expect("verifier-contract dir");
    install_solc(&dir).expect("install solcjs");
    let t = Instant::now();
    let compiled = compile_sol(&sol).expect("compile");
    eprintln!(
        "[timing] solcjs compile ({shape:?}): {:.2?}; {} {}: creation {} bytes, runtime {} bytes (EIP-170 limit {EIP170_LIMIT})",
        t.elapsed(),
        compiled.name,
        compiled.solc_version,
        compiled.bytecode.len(),
        compiled.deployed_bytecode.len()
    );

    let t = Instant::now();
    let mut v = EvmVerifier::deploy_with(&compiled.bytecode, enforce_eip170).expect("deploy");
    assert!(v.deployed_size() > 0);
    assert_eq!(v.deployed_size(), compiled.deployed_bytecode.len());
    let ok = v.verify(&s.instances, &proof).expect("call");
    eprintln!("[timing] revm deploy + verify call: {:.2?}", t.elapsed());
    assert!(ok.success, "honest proof rejected on chain: {}", ok.detail);
    assert!(ok.gas_used > 21_000);
    eprintln!(
        "EVM ({shape:?}): verify gas {}, deploy gas {}, deployed code {} bytes, calldata {} bytes",
        ok.gas_used,
        ok.deploy_gas,
        ok.deployed_size,
        zkinfer_prover::evm::calldata(&s.instances, &proof).len()
    );

    for i in [0, proof.len() / 2, proof.len() - 1] {
        let mut bad = proof.clone();
        bad[i] ^= 1;
        let out = v.verify(&s.instances, &bad).expect("call");
        assert!(!out.success, "flipped proof byte {i} accepted on chain");
        eprintln!("flipped byte {i}: {} (gas {})", out.detail, out.gas_used);
    }
    let mut wrong = s.instances.clone();
    let last = wrong.len() - 1;
    wrong[last] += Fr::one();
    assert!(!verify(&s.params, s.pk.get_vk(), &wrong, &proof).is_valid());
    let out = v.verify(&wrong, &proof).expect("call");
    assert!(!out.success, "changed output accepted on chain");
    let mut wrong_in = s.instances.clone();
    wrong_in[1] += Fr::one();
    assert!(!v.verify(&wrong_in, &proof).expect("call").success, "changed input accepted on chain");
    let mut rebound = s.instances.clone();
    rebound[0] += Fr::one();
    assert!(!v.verify(&rebound, &proof).expect("call").success, "changed binding accepted on chain");
    assert!(!v.call(Vec::new()).expect("call").success, "empty calldata accepted on chain");
    // the honest proof still verifies after the failed calls
    assert!(v.verify(&s.instances, &proof).expect("call").success);

    Measured { sol_len: sol.len(), deployed_size: ok.deployed_size, deploy_gas: ok.deploy_gas, verify_gas: ok.gas_used }
}

#[test]
fn solidity_verifier_accepts_honest_and_rejects_tampered_proofs() {
    let m = run(Shape::default(), true);
    assert!(m.deployed_size <= EIP170_LIMIT);
    eprintln!("default shape: sol {} B, runtime {} B, deploy gas {}, verify gas {}", m.sol_len, m.deployed_size, m.deploy_gas, m.verify_gas);
}

#[test]
fn narrower_shape_gives_a_smaller_verifier() {
    let narrow = run(Shape::new(4, 2), true);
    eprintln!("shape 4/2: sol {} B, runtime {} B, deploy gas {}, verify gas {}", narrow.sol_len, narrow.deployed_size, narrow.deploy_gas, narrow.verify_gas);
    assert!(narrow.deployed_size <= EIP170_LIMIT);
}

/// How the verifier grows with the number of public values: u8 inputs, 15 to a packed
/// instance; zkinfer's verifier (instances in loops) against snark-verifier's straight-line one
/// (split into contracts over EIP-170, see `evm::split`).
/// `cargo test --release -p zkinfer-prover --test evm -- --ignored --nocapture verifier_size_vs`
#[test]
#[ignore = "measurement, slow"]
fn verifier_size_vs_public_values() {
    let dir = contracts_dir().expect("dir");
    install_solc(&dir).expect("install solcjs");
    // (4/1: the shape `compile` picks for small models, by gas; 6/2: the default layout)
    for shape in [Shape::new(4, 1), Shape::default()] {
        for (n_in, n_out) in [(8, 2), (90, 10), (290, 10), (990, 10), (2990, 10)] {
            let g = common::dense_graph(n_in, n_out);
            let input = zkinfer_circuits::ir::Tensor::new(vec![1, n_in], (0..n_in as i64).map(|i| (i * 7) % 256).collect()).expect("shape");
            let s = common::setup_graph(&g, input, shape);
            let proof = prove(&s.params, &s.pk, &s.circuit, &s.instances, common::rng()).expect("prove");
            let calldata = zkinfer_prover::evm::calldata(&s.instances, &proof);
            // Transaction calldata: 4 gas per zero byte, 16 per other byte (before EIP-7623's floor).
            let calldata_gas: u64 = calldata.iter().map(|&b| if b == 0 { 4 } else { 16 }).sum();
            // zkinfer's verifier (instances in loops), then snark-verifier's straight-line one
            for (what, sol) in [("loops", gen_sol(&s.params, s.pk.get_vk(), s.instances.len())), ("straight", gen_sol_straight(&s.params, s.pk.get_vk(), s.instances.len()))] {
                let code = compile_verifier(&sol.expect("gen sol")).expect("compile");
                let ok = EvmVerifier::deploy_code(&code).expect("deploy").verify(&s.instances, &proof).expect("call");
                assert!(ok.success, "{}", ok.detail);
                eprintln!(
                    "SCALING {what:8} shape {}/{} public values {:5} instances {:4} k {:2}: {} contract(s), largest {:6} B, total {:6} B; verify gas {:8} (calldata {:6}, execution {:8}); deploy gas {:9}",
                    shape.width, shape.lookup_width, n_in + n_out, s.instances.len(), s.k, code.contracts(), code.largest_runtime(), code.total_runtime(), ok.gas_used, calldata_gas, ok.gas_used - 21_000 - calldata_gas, ok.deploy_gas
                );
            }
        }
    }
}

/// The splitter, on snark-verifier's straight-line verifier (zkinfer's own reads the instances in
/// loops and stays under EIP-170 whatever their number; splitting remains for verifiers too
/// large for other reasons).
#[test]
fn verifier_over_eip170_is_split_into_contracts_that_verify_together() {
    // 1,500 8-bit inputs pack into 100 public instances (~165 bytes of straight-line verifier
    // code each): over 24,576 bytes as one contract.
    let g = common::dense_graph(1500, 2);
    let input = zkinfer_circuits::ir::Tensor::new(vec![1, 1500], (0..1500).map(|i| (i * 13) % 256).collect()).expect("shape");
    let s = common::setup_graph(&g, input, Shape::default());
    let sol = gen_sol_straight(&s.params, s.pk.get_vk(), s.instances.len()).expect("gen sol");
    if let Ok(dir) = std::env::var("ZKINFER_DUMP_SOL") {
        std::fs::write(format!("{dir}/verifier_30.sol"), &sol).expect("dump");
    }
    let dir = contracts_dir().expect("dir");
    install_solc(&dir).expect("install solcjs");
    // As one contract it is refused with the sizes.
    let whole = compile_sol(&sol).expect("compile");
    let err = EvmVerifier::deploy(&whole.bytecode).err().expect("over the limit");
    eprintln!("{err}");
    match err {
        zkinfer_prover::ProverError::ContractTooLarge { size, limit } => {
            assert_eq!(size, whole.deployed_bytecode.len());
            assert_eq!(limit, EIP170_LIMIT);
        }
        other => panic!("unexpected error: {other}"),
    }
    let code = compile_verifier(&sol).expect("split");
    assert!(code.contracts() >= 2, "not split");
    assert!(code.largest_runtime() <= EIP170_LIMIT);
    eprintln!("split: {} contracts, runtime sizes {:?} (whole {} B)", code.contracts(), std::iter::once(&code.head).chain(&code.parts).map(|c| c.deployed_bytecode.len()).collect::<Vec<_>>(), whole.deployed_bytecode.len());
    let proof = prove(&s.params, &s.pk, &s.circuit, &s.instances, common::rng()).expect("prove");
    check_split(&code, &s.instances, &proof);
    // The same proof against the unsplit verifier (EIP-170 lifted): the same verdicts, and the
    // split's gas overhead.
    let mut one = EvmVerifier::deploy_with(&whole.bytecode, false).expect("deploy unsplit");
    let base = one.verify(&s.instances, &proof).expect("call");
    assert!(base.success);
    let split = EvmVerifier::deploy_code(&code).expect("deploy").verify(&s.instances, &proof).expect("call");
    eprintln!("verify gas: one contract {} (EIP-170 lifted), {} contracts {} (+{})", base.gas_used, code.contracts(), split.gas_used, split.gas_used - base.gas_used);
}

/// zkinfer's verifier reads the public instances in loops (`evm::instances`): its code size does
/// not grow with them, it gives the straight-line verifier's verdicts, and the loops carry the
/// verdict (each mutation of the evaluation loop makes the honest proof fail).
#[test]
fn instance_loops_keep_the_verifier_size_flat() {
    let dir = contracts_dir().expect("dir");
    install_solc(&dir).expect("install solcjs");
    let mut sizes = Vec::new();
    // 10 public values (3 packed instances) and 1,502 (102): the straight-line verifier of the
    // second is over EIP-170
    for n_in in [8, 1500] {
        let g = common::dense_graph(n_in, 2);
        let input = zkinfer_circuits::ir::Tensor::new(vec![1, n_in], (0..n_in as i64).map(|i| (i * 13) % 256).collect()).expect("shape");
        let s = common::setup_graph(&g, input, Shape::new(4, 1));
        let n = s.instances.len();
        let proof = prove(&s.params, &s.pk, &s.circuit, &s.instances, common::rng()).expect("prove");
        let sol = gen_sol(&s.params, s.pk.get_vk(), n).expect("gen sol");
        assert_eq!(sol.matches("for { let p := ").count(), 2, "the instance loops are missing");
        let code = compile_verifier(&sol).expect("compile");
        assert_eq!(code.contracts(), 1, "{n} instances: split into {} contracts", code.contracts());
        let mut v = EvmVerifier::deploy_code(&code).expect("deploy");
        let ok = v.verify(&s.instances, &proof).expect("call");
        assert!(ok.success, "honest proof rejected: {}", ok.detail);
        // the straight-line verifier (EIP-170 lifted): the same verdicts
        let straight_sol = gen_sol_straight(&s.params, s.pk.get_vk(), n).expect("gen sol");
        // the rewrite recognises the generated code exactly: another domain's ω, or another
        // instance count, is refused rather than rewritten into something else
        let omega = s.pk.get_vk().get_domain().get_omega();
        assert_eq!(loop_instances(&straight_sol, omega, n).expect("rewrite"), sol);
        let err = loop_instances(&straight_sol, omega * omega, n).expect_err("wrong omega accepted");
        assert!(err.contains("ω^i"), "{err}");
        assert!(loop_instances(&straight_sol, omega, n + 1).is_err(), "wrong instance count accepted");
        assert!(loop_instances(&straight_sol, omega, n - 1).is_err() || n == 2, "wrong instance count accepted");
        let straight = compile_sol(&straight_sol).expect("compile");
        let mut sv = EvmVerifier::deploy_with(&straight.bytecode, false).expect("deploy");
        let base = sv.verify(&s.instances, &proof).expect("call");
        assert!(base.success);
        eprintln!(
            "{n} instances (k {}): loops {} B runtime, verify gas {}; straight-line {} B, verify gas {}",
            s.k,
            code.largest_runtime(),
            ok.gas_used,
            straight.deployed_bytecode.len(),
            base.gas_used
        );
        for i in 0..n {
            let mut wrong = s.instances.clone();
            wrong[i] += Fr::one();
            assert!(!v.verify(&wrong, &proof).expect("call").success, "changed instance {i} accepted");
            if i == 0 || i == n - 1 {
                assert!(!sv.verify(&wrong, &proof).expect("call").success);
            }
        }
        for i in [0, proof.len() / 2, proof.len() - 1] {
            let mut bad = proof.clone();
            bad[i] ^= 1;
            assert!(!v.verify(&s.instances, &bad).expect("call").success, "flipped proof byte {i} accepted");
        }
        // Changing an instance fails through the transcript alone; these show the evaluation
        // loop itself is checked: the honest proof must fail once the loop is wrong.
        let mut mutants = Vec::new();
        // the last nonzero instance left out (a zero instance adds nothing to the sum): the
        // evaluation loop's end `lt(p, END)` moved back
        let last = s.instances.iter().rposition(|x| *x != Fr::zero()).expect("a nonzero instance");
        let eval_loop = sol.rfind("for { let p := ").expect("evaluation loop");
        let at = eval_loop + sol[eval_loop..].find("lt(p, ").expect("loop bound") + "lt(p, ".len();
        let len = sol[at..].find(')').expect("bound");
        let end = u64::from_str_radix(sol[at..at + len].trim_start_matches("0x"), 16).expect("hex bound");
        let fewer = format!("{}{:#x}{}", &sol[..at], end - 32 * (n - last) as u64, &sol[at + len..]);
        mutants.push(("one instance left out", fewer));
        mutants.push(("wrong powers of omega", sol.replacen("u := mulmod(u, ", "u := mulmod(mulmod(u, 2, f_q), ", 1)));
        mutants.push(("denominator not accumulated", sol.replacen("den := mulmod(den, d, f_q)", "den := den", 1)));
        mutants.push(("instances read one word off", sol.replacen("mulmod(mload(p), den, f_q)", "mulmod(mload(add(p, 0x20)), den, f_q)", 1)));
        for (what, bad_sol) in mutants {
            assert_ne!(bad_sol, sol, "{what}: mutation not applied");
            let c = compile_sol(&bad_sol).expect("compile");
            let out = EvmVerifier::deploy_with(&c.bytecode, false).expect("deploy").verify(&s.instances, &proof).expect("call");
            assert!(!out.success, "{what}: the honest proof still verified, so the loop is not what decides");
        }
        sizes.push(code.largest_runtime());
    }
    // the same code but for the loops' bounds and a few wider memory offsets
    assert!(sizes[1] <= sizes[0] + 128, "runtime grew from {} to {} bytes", sizes[0], sizes[1]);
}

/// Forcing a small verifier into 2 and 3 contracts: the same verdicts as one contract.
#[test]
fn a_split_verifier_gives_the_same_verdicts() {
    let s = common::shared();
    let proof = prove(&s.params, &s.pk, &s.circuit, &s.instances, common::rng()).expect("prove");
    let sol = gen_sol(&s.params, s.pk.get_vk(), s.instances.len()).expect("gen sol");
    let dir = contracts_dir().expect("dir");
    install_solc(&dir).expect("install solcjs");
    let base = EvmVerifier::deploy(&compile_sol(&sol).expect("compile").bytecode).expect("deploy").verify(&s.instances, &proof).expect("call");
    for n in [2, 3] {
        let code = compile_split_in(&dir, &sol, n).expect("split").expect("fits");
        assert_eq!(code.contracts(), n);
        let gas = check_split(&code, &s.instances, &proof);
        eprintln!("{n} contracts: verify gas {gas} (one contract {}, +{} per extra contract)", base.gas_used, (gas - base.gas_used) / (n as u64 - 1));
    }
}

/// Deploys a split verifier and checks it: an honest proof verifies only once every part is
/// installed, only the right code installs, tampered proofs and instances are rejected.
/// Returns the honest proof's gas.
fn check_split(code: &VerifierCode, instances: &[Fr], proof: &[u8]) -> u64 {
    let mut v = EvmVerifier::deploy(&code.head.bytecode).expect("deploy head");
    assert!(!v.verify(instances, proof).expect("call").success, "a head without its parts accepted a proof");
    // Another part's creation code (or a changed one) is refused.
    let mut changed = code.parts[0].bytecode.clone();
    let last = changed.len() - 1;
    changed[last] ^= 1;
    assert!(!v.call(install_calldata(&changed)).expect("call").success, "a changed part was installed");
    if code.parts.len() > 1 {
        assert!(!v.call(install_calldata(&code.parts[1].bytecode)).expect("call").success, "parts installed out of order");
    }
    for (i, p) in code.parts.iter().enumerate() {
        if i + 1 < code.parts.len() {
            assert!(!v.verify(instances, proof).expect("call").success, "a head with {i} of its parts accepted a proof");
        }
        let o = v.call(install_calldata(&p.bytecode)).expect("call");
        assert!(o.success, "installing part {}: {}", i + 1, o.detail);
    }
    assert!(!v.call(install_calldata(&code.parts[0].bytecode)).expect("call").success, "a part installed twice");
    let ok = v.verify(instances, proof).expect("call");
    assert!(ok.success, "honest proof rejected by the split verifier: {}", ok.detail);
    for i in [0, proof.len() / 3, proof.len() / 2, proof.len() - 1] {
        let mut bad = proof.to_vec();
        bad[i] ^= 1;
        assert!(!v.verify(instances, &bad).expect("call").success, "flipped proof byte {i} accepted by the split verifier");
    }
    for i in [0, 1, instances.len() - 1] {
        let mut wrong = instances.to_vec();
        wrong[i] += Fr::one();
        assert!(!v.verify(&wrong, proof).expect("call").success, "changed instance {i} accepted by the split verifier");
    }
    assert!(!v.call(Vec::new()).expect("call").success, "empty calldata accepted");
    assert!(v.verify(instances, proof).expect("call").success);
    ok.gas_used
}
