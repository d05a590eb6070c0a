//! The market flow in an in-process EVM (revm) with real zkinfer proofs and the real
//! contracts (compiled with the pinned solcjs): a valid proof pays; a tampered proof, a wrong
//! output, a proof of another model, a proof bound to another job (replay), an unbound proof,
//! a copied proof sent by someone else, other inputs, a double claim, a double submit and a
//! submit after the deadline all fail and move no funds; expiry refunds and slashes.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, U256};
use halo2_proofs::halo2curves::bn256::{Bn256, Fr};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use zkinfer_circuits::layout::ctx::Shape;
use zkinfer_circuits::onnx::ImportOptions;
use zkinfer_service::files::{read_inputs, write_json, Settings, Workdir};
use zkinfer_service::market::abi::JobState;
use zkinfer_service::market::chain::{parse_eth, Chain};
use zkinfer_service::market::client::{compile_market, Market, MarketParams};
use zkinfer_service::market::flow::{job_inputs, prove_for_job, register_model, run_paid_job, Roles, Submission};
use zkinfer_service::market::local::LocalChain;
use zkinfer_service::pipeline;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Compiles and sets up `model` with `shape` in a fresh directory (UNSAFE dev SRS: tests only).
fn model_dir(name: &str, model: &str, shape: Shape) -> (Workdir, Settings, ParamsKZG<Bn256>) {
    let d = std::env::temp_dir().join(format!("zkinfer-market-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("dir");
    let wd = Workdir(d);
    let s = pipeline::compile(&repo().join(model), ImportOptions::default(), Some(shape), pipeline::Objective::default()).expect("compile");
    write_json(&wd.settings(), &s).expect("settings");
    let params = pipeline::load_params(None, s.k).expect("dev srs");
    pipeline::setup(&wd, &s, &params).expect("setup");
    (wd, s, params)
}

/// Everything whose change would mean money moved.
#[derive(Debug, PartialEq, Eq)]
struct Money {
    market: U256,
    requester: U256,
    provider: U256,
    provider_credit: U256,
    requester_credit: U256,
    provider_stake: (U256, U256),
}

fn money(chain: &LocalChain, m: &Market, roles: &Roles) -> Money {
    Money {
        market: chain.balance(m.market).expect("balance"),
        requester: chain.balance(roles.requester.address()).expect("balance"),
        provider: chain.balance(roles.provider.address()).expect("balance"),
        provider_credit: m.withdrawable(chain, roles.provider.address()).expect("credit"),
        requester_credit: m.withdrawable(chain, roles.requester.address()).expect("credit"),
        provider_stake: m.stake_of(chain, roles.provider.address()).expect("stake"),
    }
}

#[test]
fn market_flow_with_real_proofs_in_revm() {
    const MLP: &str = "models/digits_mlp_int8/model.onnx";
    let (wd, s, params) = model_dir("a", MLP, Shape::new(4, 2));
    // the same network laid out in another shape: another circuit and verifying key with the
    // same public instance counts, i.e. "a proof of a different model" the market must refuse
    let (wd_b, s_b, params_b) = model_dir("b", MLP, Shape::new(6, 2));
    let data = read_inputs(&repo().join("models/digits_mlp_int8/input.json")).expect("input");
    let mut other = data.clone();
    other[0][0] = if other[0][0] > 0.5 { 0.0 } else { 1.0 };

    let mut chain = LocalChain::new().expect("chain");
    let roles = Roles::dev().expect("roles");
    let code = compile_market().expect("solcjs compiles the market");
    let (m, _) = Market::deploy(&mut chain, &roles.operator, &code, MarketParams::defaults(roles.operator.address())).expect("deploy");
    let (model, [deploy_v, reg]) = register_model(&mut chain, &m, &roles.operator, &wd, &s, &params).expect("register");
    let (model_b, _) = register_model(&mut chain, &m, &roles.operator, &wd_b, &s_b, &params_b).expect("register b");
    assert_ne!(model.vk_hash, model_b.vk_hash);
    assert_eq!(m.model(&chain, model.id).expect("model").vkHash, model.vk_hash);
    eprintln!("gas: verifier deploy {}, register {}", deploy_v.gas_used, reg.gas_used);

    let eth = |x: &str| parse_eth(x).expect("eth");
    let (pay, stake) = (eth("0.05"), eth("0.2"));
    m.deposit(&mut chain, &roles.provider, eth("1")).expect("deposit").ok("deposit").expect("deposit ok");

    // ---- the happy path: post -> claim -> prove -> submit -> paid
    let rep = run_paid_job(&mut chain, &m, &model, &roles, &wd, &s, &params, &data, pay, stake).expect("paid job");
    eprintln!("gas: post {}, claim {}, submit (with verification) {}, withdrawFunds {}", rep.post_gas, rep.claim_gas, rep.submit_gas, rep.withdraw_gas);
    assert_eq!(rep.paid, pay - pay / U256::from(100u64), "1% fee");
    assert_eq!(m.withdrawable(&chain, roles.operator.address()).expect("fee"), pay / U256::from(100u64));
    // double submit of the paid job: rejected, no funds move
    let before = money(&chain, &m, &roles);
    let sub1 = rep.submission.clone();
    let r = m.submit(&mut chain, &roles.provider, rep.job, &sub1.inputs, &sub1.outputs, &sub1.params, &sub1.proof).expect("tx");
    assert!(!r.success && r.reason().contains("JobNotClaimed"), "double submit: {}", r.reason());
    assert_eq!(money(&chain, &m, &roles), before);

    // ---- job 2: same input; attacks while it is claimed
    let inputs = job_inputs(&s, &data).expect("inputs");
    let deadline = chain.timestamp().expect("time") + 3600;
    let (job, r) = m.post_job(&mut chain, &roles.requester, model.id, &inputs, deadline, pay, stake).expect("post");
    let job = job.unwrap_or_else(|| panic!("post failed: {}", r.reason()));
    // an account without stake cannot claim
    let r = m.claim(&mut chain, &roles.operator, job).expect("tx");
    assert!(!r.success && r.reason().contains("InsufficientStake"), "{}", r.reason());
    m.claim(&mut chain, &roles.provider, job).expect("tx").ok("claim").expect("claim ok");
    // double claim
    let r = m.claim(&mut chain, &roles.provider, job).expect("tx");
    assert!(!r.success && r.reason().contains("JobNotOpen"), "double claim: {}", r.reason());

    let before = money(&chain, &m, &roles);
    let sub = prove_for_job(&chain, &m, &model, &wd, &s, &params, job, roles.provider.address(), &data).expect("prove for job 2");
    assert_eq!(sub.outputs, sub1.outputs, "same input, same output");
    let attempts: Vec<(&str, Submission, &str)> = {
        let mut tampered = sub.clone();
        let mid = tampered.proof.len() / 2;
        tampered.proof[mid] ^= 1;
        let mut wrong_out = sub.clone();
        wrong_out.outputs[0] += U256::from(1u64);
        let mut other_inputs = sub.clone();
        other_inputs.inputs = job_inputs(&s, &other).expect("inputs");
        // replay: job 1's valid proof (bound to job 1) for job 2
        let replay = sub1.clone();
        // unbound: a valid proof for binding 0
        let unbound = Submission::from_proof(&s.graph, pipeline::prove(&wd, &s, &params, &data, false, Fr::zero()).expect("prove")).expect("split");
        // another model's circuit, bound to this very job and provider
        let binding = zkinfer_service::market::u256_to_fr(m.binding_of(&chain, job, roles.provider.address()).expect("binding")).expect("fr");
        let of_b = Submission::from_proof(&s_b.graph, pipeline::prove(&wd_b, &s_b, &params_b, &data, false, binding).expect("prove b")).expect("split");
        assert_eq!((of_b.inputs.clone(), of_b.outputs.clone()), (sub.inputs.clone(), sub.outputs.clone()), "model b computes the same numbers");
        vec![
            ("tampered proof", tampered, "InvalidProof"),
            ("wrong output", wrong_out, "InvalidProof"),
            ("other inputs", other_inputs, "InputsMismatch"),
            ("replay of job 1's proof", replay, "InvalidProof"),
            ("unbound proof", unbound, "InvalidProof"),
            ("proof of another model", of_b, "InvalidProof"),
        ]
    };
    for (what, a, want) in &attempts {
        let r = m.submit(&mut chain, &roles.provider, job, &a.inputs, &a.outputs, &a.params, &a.proof).expect("tx");
        assert!(!r.success, "{what} was accepted");
        assert!(r.reason().contains(want), "{what}: expected {want}, got {}", r.reason());
        assert_eq!(money(&chain, &m, &roles), before, "{what} moved funds");
        assert_eq!(m.job(&chain, job).expect("job").state(), JobState::Claimed, "{what} changed the job");
        eprintln!("rejected {what}: {} (gas {})", r.reason(), r.gas_used);
    }
    // the valid proof copied by someone else (front-running): not the claimer
    let r = m.submit(&mut chain, &roles.requester, job, &sub.inputs, &sub.outputs, &sub.params, &sub.proof).expect("tx");
    assert!(!r.success && r.reason().contains("NotProvider"), "{}", r.reason());
    assert_eq!(money(&chain, &m, &roles), before);
    // the honest submission still pays
    m.submit(&mut chain, &roles.provider, job, &sub.inputs, &sub.outputs, &sub.params, &sub.proof).expect("tx").ok("honest submit").expect("paid");
    assert_eq!(m.job(&chain, job).expect("job").state(), JobState::Paid);
    assert_eq!(m.withdrawable(&chain, roles.provider.address()).expect("credit"), before.provider_credit + rep.paid);

    // ---- job 3: the provider misses the deadline: late proof refused, expiry refunds + slashes
    let deadline = chain.timestamp().expect("time") + 600;
    let (job3, _) = m.post_job(&mut chain, &roles.requester, model.id, &inputs, deadline, pay, stake).expect("post");
    let job3 = job3.expect("job 3");
    m.claim(&mut chain, &roles.provider, job3).expect("tx").ok("claim").expect("claim 3");
    let late = prove_for_job(&chain, &m, &model, &wd, &s, &params, job3, roles.provider.address(), &data).expect("prove job 3");
    let r = m.expire(&mut chain, &roles.requester, job3).expect("tx");
    assert!(!r.success && r.reason().contains("DeadlineNotReached"), "{}", r.reason());
    chain.advance_time(601).expect("time");
    let before = money(&chain, &m, &roles);
    let r = m.submit(&mut chain, &roles.provider, job3, &late.inputs, &late.outputs, &late.params, &late.proof).expect("tx");
    assert!(!r.success && r.reason().contains("DeadlinePassed"), "late submit: {}", r.reason());
    assert_eq!(money(&chain, &m, &roles), before);
    let r = m.expire(&mut chain, &roles.requester, job3).expect("tx").ok("expire").expect("expired");
    let slash = stake / U256::from(2u64);
    let after = money(&chain, &m, &roles);
    assert_eq!(after.requester_credit, before.requester_credit + pay + slash, "refund + 50% slash");
    assert_eq!(after.provider_stake, (before.provider_stake.0 - slash, before.provider_stake.1 - stake));
    assert_eq!(m.job(&chain, job3).expect("job").state(), JobState::Expired);
    eprintln!("gas: expire {}", r.gas_used);
    // the expired job cannot be paid or expired again
    let r = m.submit(&mut chain, &roles.provider, job3, &late.inputs, &late.outputs, &late.params, &late.proof).expect("tx");
    assert!(!r.success && r.reason().contains("JobNotClaimed"), "{}", r.reason());
    let r = m.expire(&mut chain, &roles.requester, job3).expect("tx");
    assert!(!r.success && r.reason().contains("JobNotActive"), "{}", r.reason());
    let _: Address = m.market;
}

/// The local chain's state survives a save and reload (separate CLI commands share it), and a
/// corrupt state file is a clear error.
#[test]
fn local_chain_state_roundtrips() {
    let dir = std::env::temp_dir().join(format!("zkinfer-market-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let file = dir.join("chain.json");
    let roles = Roles::dev().expect("roles");
    let mut chain = LocalChain::open(&file).expect("fresh");
    let code = compile_market().expect("compile");
    let (m, _) = Market::deploy(&mut chain, &roles.operator, &code, MarketParams::defaults(roles.operator.address())).expect("deploy");
    m.deposit(&mut chain, &roles.provider, U256::from(12345u64)).expect("tx").ok("deposit").expect("ok");
    chain.advance_time(1000).expect("time");
    let t = chain.timestamp().expect("time");
    chain.save().expect("save");
    let back = LocalChain::open(&file).expect("reload");
    m.check_chain(&back).expect("contracts are there");
    assert_eq!(m.stake_of(&back, roles.provider.address()).expect("stake").0, U256::from(12345u64));
    assert_eq!(back.timestamp().expect("time"), t);
    std::fs::write(&file, b"{\"format\": 1").expect("write");
    let err = LocalChain::open(&file).err().expect("corrupt state is an error");
    assert!(err.to_string().contains("chain.json"), "{err}");
}

/// A model with a hashed input: the job posts the input's Poseidon digest instead of the
/// input, the provider (who holds the data off chain) proves and is paid; a proof on other data
/// (another digest) is refused as not the job's input.
#[test]
fn market_job_with_committed_input() {
    const MLP: &str = "models/digits_mlp_int8/model.onnx";
    let d = std::env::temp_dir().join(format!("zkinfer-market-{}-hashed", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("dir");
    let wd = Workdir(d);
    let mut opts = ImportOptions::default();
    opts.visibility.inputs = zkinfer_circuits::ir::Visibility::Hashed;
    let s = pipeline::compile(&repo().join(MLP), opts, None, pipeline::Objective::default()).expect("compile");
    write_json(&wd.settings(), &s).expect("settings");
    let params = pipeline::load_params(None, s.k).expect("dev srs");
    pipeline::setup(&wd, &s, &params).expect("setup");
    let data = read_inputs(&repo().join("models/digits_mlp_int8/input.json")).expect("input");
    let inputs = job_inputs(&s, &data).expect("inputs");
    assert_eq!(inputs.len(), 1, "the job posts one digest, not the 64 pixels");

    let mut chain = LocalChain::new().expect("chain");
    let roles = Roles::dev().expect("roles");
    let (m, _) = Market::deploy(&mut chain, &roles.operator, &compile_market().expect("compile"), MarketParams::defaults(roles.operator.address())).expect("deploy");
    let (model, _) = register_model(&mut chain, &m, &roles.operator, &wd, &s, &params).expect("register");
    let eth = |x: &str| parse_eth(x).expect("eth");
    let (pay, stake) = (eth("0.05"), eth("0.1"));
    m.deposit(&mut chain, &roles.provider, eth("1")).expect("deposit").ok("deposit").expect("ok");
    let rep = run_paid_job(&mut chain, &m, &model, &roles, &wd, &s, &params, &data, pay, stake).expect("paid job");
    eprintln!("hashed-input job: post {} gas, submit (with verification) {} gas", rep.post_gas, rep.submit_gas);

    // a job for this input; the provider proves on other data
    let deadline = chain.timestamp().expect("time") + 3600;
    let (job, _) = m.post_job(&mut chain, &roles.requester, model.id, &inputs, deadline, pay, stake).expect("post");
    let job = job.expect("job");
    m.claim(&mut chain, &roles.provider, job).expect("tx").ok("claim").expect("claimed");
    let mut other = data.clone();
    other[0][0] = if other[0][0] > 0.5 { 0.0 } else { 1.0 };
    assert!(prove_for_job(&chain, &m, &model, &wd, &s, &params, job, roles.provider.address(), &other).is_err(), "other data is not the job's input");
    let binding = zkinfer_service::market::u256_to_fr(m.binding_of(&chain, job, roles.provider.address()).expect("binding")).expect("fr");
    let forged = Submission::from_proof(&s.graph, pipeline::prove(&wd, &s, &params, &other, false, binding).expect("prove")).expect("split");
    let before = money(&chain, &m, &roles);
    let r = m.submit(&mut chain, &roles.provider, job, &forged.inputs, &forged.outputs, &forged.params, &forged.proof).expect("tx");
    assert!(!r.success && r.reason().contains("InputsMismatch"), "{}", r.reason());
    // and the real digest with the other data's proof is an invalid proof
    let r = m.submit(&mut chain, &roles.provider, job, &inputs, &forged.outputs, &forged.params, &forged.proof).expect("tx");
    assert!(!r.success && r.reason().contains("InvalidProof"), "{}", r.reason());
    assert_eq!(money(&chain, &m, &roles), before);
    let sub = prove_for_job(&chain, &m, &model, &wd, &s, &params, job, roles.provider.address(), &data).expect("prove");
    m.submit(&mut chain, &roles.provider, job, &sub.inputs, &sub.outputs, &sub.params, &sub.proof).expect("tx").ok("honest submit").expect("paid");
}

/// The provider node checks its own proof before it submits: a flaky prover whose first proof
/// is bound to another job and whose second has a flipped byte costs two re-proofs, not the
/// stake. The node sends only the third (honest) proof, and the job is paid.
#[test]
#[cfg(unix)]
fn node_proves_again_after_a_bad_proof() {
    use std::os::unix::fs::PermissionsExt;
    use zkinfer_service::node::{self, NodeConfig};
    const MLP: &str = "models/digits_mlp_int8/model.onnx";
    let (wd, s, params) = model_dir("node", MLP, Shape::new(4, 2));
    let data = read_inputs(&repo().join("models/digits_mlp_int8/input.json")).expect("input");
    let mut chain = LocalChain::new().expect("chain");
    let roles = Roles::dev().expect("roles");
    let code = compile_market().expect("solcjs compiles the market");
    let (m, _) = Market::deploy(&mut chain, &roles.operator, &code, MarketParams::defaults(roles.operator.address())).expect("deploy");
    let (model, _) = register_model(&mut chain, &m, &roles.operator, &wd, &s, &params).expect("register");
    let eth = |x: &str| parse_eth(x).expect("eth");
    m.deposit(&mut chain, &roles.provider, eth("1")).expect("deposit").ok("deposit").expect("deposit ok");
    let inputs = job_inputs(&s, &data).expect("inputs");
    let deadline = chain.timestamp().expect("time") + 3600;
    let (job, r) = m.post_job(&mut chain, &roles.requester, model.id, &inputs, deadline, eth("0.05"), eth("0.1")).expect("post");
    let job = job.unwrap_or_else(|| panic!("post failed: {}", r.reason()));

    let dir = std::env::temp_dir().join(format!("zkinfer-market-{}-flaky", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let script = dir.join("flaky-prover");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
# a flaky prover: proof 1 is bound to another job, proof 2 has a flipped hex digit
n=$(cat "{dir}/calls" 2>/dev/null || echo 0)
echo $((n + 1)) > "{dir}/calls"
out=""; prev=""
for a in "$@"; do
  shift
  [ "$prev" = --out ] && out="$a"
  [ "$prev" = --binding ] && [ "$n" = 0 ] && a=0x7
  set -- "$@" "$a"
  prev="$a"
done
"{real}" "$@" || exit $?
if [ "$n" = 1 ]; then
  sed -E -i 's/("proof": *"0x.{{100}})0/\11/; t; s/("proof": *"0x.{{100}})./\10/' "$out"
fi
"#,
            dir = dir.display(),
            real = env!("CARGO_BIN_EXE_zkinfer")
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let cfg = NodeConfig::one_pass(dir.join("node"), vec![wd.0.clone()], script);
    let before = m.withdrawable(&chain, roles.provider.address()).expect("credit");
    node::run(cfg, &mut chain, &m, &roles.provider).expect("node runs until idle");
    let calls = std::fs::read_to_string(dir.join("calls")).expect("the node ran the prover");
    assert_eq!(calls.trim(), "3", "two bad proofs, each proved again, then the honest one");
    let j = m.job(&chain, job).expect("job");
    assert_eq!(j.state(), JobState::Paid, "the honest proof was submitted and paid");
    assert_eq!(m.withdrawable(&chain, roles.provider.address()).expect("credit") - before, eth("0.05") - eth("0.0005"));
}

/// The provider node serves a sharded model only from a registry entry whose verifier is a
/// genuine `AggregatedVerifierAdapter` in front of the model's own aggregation verifier:
/// `check_adapter` accepts the adapter as deployed and refuses another verifier behind it,
/// another instance count, a code hash the registry did not pin, and a contract that is not an
/// adapter. (A contract stands in for the aggregation verifier: only its code hash matters.)
#[test]
fn the_node_checks_an_aggregated_models_adapter() {
    use zkinfer_service::market::client::{check_adapter, compile_adapter, deploy_adapter, deploy_verifier};
    let mut chain = LocalChain::new().expect("chain");
    let roles = Roles::dev().expect("roles");
    let code = compile_market().expect("solcjs compiles the market");
    let (stand_in, _) = deploy_verifier(&mut chain, &roles.operator, &code.registry, &[]).expect("deploy");
    let compiled = compile_adapter().expect("solcjs compiles the adapter");
    assert!(!compiled.immutable_ranges.is_empty(), "the adapter's immutables are located");
    let (adapter, _) = deploy_adapter(&mut chain, &roles.operator, &compiled.bytecode, stand_in, 3).expect("deploy");
    let hash = |a: Address| alloy_primitives::keccak256(chain.code(a).expect("code"));
    let (adapter_hash, verifier_hash) = (hash(adapter), hash(stand_in));
    check_adapter(&chain, &compiled, adapter, adapter_hash, verifier_hash, 3).expect("the deployed adapter");
    let refused = |r: anyhow::Result<()>, needle: &str| {
        let e = format!("{:#}", r.expect_err(needle));
        assert!(e.contains(needle), "{e}");
    };
    let other = alloy_primitives::keccak256(b"another verifier");
    refused(check_adapter(&chain, &compiled, adapter, adapter_hash, other, 3), "pins a verifier with code hash");
    refused(check_adapter(&chain, &compiled, adapter, adapter_hash, verifier_hash, 4), "expects 3 model instances");
    refused(check_adapter(&chain, &compiled, adapter, other, verifier_hash, 3), "not the code the registry pinned");
    refused(check_adapter(&chain, &compiled, stand_in, verifier_hash, verifier_hash, 3), "is not an AggregatedVerifierAdapter");
    // the immutables are what differs from the compiled runtime: without their ranges masked
    // the genuine adapter would not be recognised, so the comparison is byte-exact elsewhere
    let unmasked = zkinfer_prover::evm::CompiledVerifier { immutable_ranges: vec![], ..compiled.clone() };
    refused(check_adapter(&chain, &unmasked, adapter, adapter_hash, verifier_hash, 3), "is not an AggregatedVerifierAdapter");
}
