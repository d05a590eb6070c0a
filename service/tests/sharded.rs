//! Sharded models (issue 21, part 2): a CNN cut into three shards, each its own circuit and
//! key, proved and verified through the `zkinfer` binary; then the link attacks, each built
//! from real shard proofs that verify on their own, so that only the check under test can
//! reject them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use zkinfer_circuits::exec;
use zkinfer_circuits::ir::Tensor;
use zkinfer_prover::artifacts::ProofFile;
use zkinfer_prover::verify::Verdict;
use zkinfer_prover::Device;
use zkinfer_service::files::Workdir;
use zkinfer_service::{pipeline, sharding};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn zkinfer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkinfer")).args(args).current_dir(repo()).output().expect("runs zkinfer")
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "command failed: {err}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails_with(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure; stderr: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
    assert!(err.contains(needle), "stderr lacks `{needle}`: {err}");
}

fn invalid(v: Verdict, needle: &str) {
    match v {
        Verdict::Invalid(why) => assert!(why.contains(needle), "rejected, but for `{why}`, not `{needle}`"),
        Verdict::Valid => panic!("accepted; expected a rejection for `{needle}`"),
    }
}

#[test]
fn sharded_proofs_verify_and_link_attacks_are_rejected() {
    let d = std::env::temp_dir().join(format!("zkinfer-sharded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let ds = d.to_str().expect("utf8");
    let model = "models/digits_cnn/model.onnx";
    let input = "models/digits_cnn/input.json";
    let out = ok(&zkinfer(&["compile", model, "-o", ds, "--shards", "3"]));
    assert!(out.contains("shard 2:"), "{out}");
    ok(&zkinfer(&["setup", ds]));
    let proved = ok(&zkinfer(&["prove", ds, "--input", input]));
    assert!(proved.contains("in 3 linked shard proofs"), "{proved}");
    let proof_path = d.join("proof.json");
    let out = ok(&zkinfer(&["verify", ds, proof_path.to_str().expect("utf8")]));
    assert!(out.contains("valid"), "{out}");

    let wd = Workdir(d.clone());
    let s = wd.load_settings().expect("settings");
    let sh = sharding::load(&wd, &s).expect("load").expect("sharded");
    assert_eq!(sh.shards.len(), 3);
    let honest = ProofFile::read(&proof_path).expect("proof");
    // the sharded proof attests to what the model's executor computes on the input
    let data = zkinfer_service::files::read_inputs(&repo().join(input)).expect("input");
    let inputs = pipeline::quantize_inputs(&s.graph, &data, false).expect("quantize");
    let want = exec::outputs(&s.graph, &inputs).expect("exec");
    assert_eq!(honest.outputs[0].quantized, want[0].data);
    let verify = |p: &ProofFile| sharding::verify(&wd, &s, &sh, None, p).expect("files belong together");
    assert!(verify(&honest).is_valid());

    // every shard proved apart with one known salt: the values the model hands between shards
    let salt = 0x5eed_u128 << 64;
    let vals = exec::run(&s.graph, &inputs).expect("run");
    let shard_inputs = |i: usize, vals: &[Tensor]| -> Vec<Tensor> { sh.shards[i].1.graph.inputs.iter().map(|t| vals[t.value].clone()).collect() };
    let prove_shard = |i: usize, ins: &[Tensor], salt: u128| {
        let (w, ss) = &sh.shards[i];
        sharding::prove_shard(w, ss, &pipeline::load_params(None, ss.k).expect("dev SRS"), ins, salt, zkinfer_prover::Fr::zero(), Device::Cpu, &|| {}).expect("shard proves").0
    };
    let mut salted = honest.clone();
    for i in 0..3 {
        salted.shards[i] = prove_shard(i, &shard_inputs(i, &vals), salt);
    }
    assert!(verify(&salted).is_valid(), "shards proved apart with one salt fit together");

    // a middle shard started from another tensor (one value changed, in range), same salt:
    // its proof verifies on its own, only the links reject it
    let mut other = shard_inputs(1, &vals);
    let info = s.graph.info(sh.shards[1].1.graph.inputs[0].value);
    other[0].data[0] = if other[0].data[0] < info.hi { other[0].data[0] + 1 } else { other[0].data[0] - 1 };
    let mut forged = salted.clone();
    forged.shards[1] = prove_shard(1, &other, salt);
    let (w1, ss1) = &sh.shards[1];
    let (vk1, _) = pipeline::load_vk(w1, ss1, &pipeline::load_params(None, ss1.k).expect("srs")).expect("vk");
    let alone = zkinfer_prover::verify::verify(&pipeline::load_params(None, ss1.k).expect("srs"), &vk1, &forged.shards[1].instances_fr().expect("inst"), &forged.shards[1].proof_bytes().expect("proof"));
    assert!(alone.is_valid(), "the forged shard proof is a valid proof of its shard");
    invalid(verify(&forged), "link broken");

    // a shard proof from another salt (another proving run) does not link either
    let mut mixed = salted.clone();
    mixed.shards[2] = honest.shards[2].clone();
    invalid(verify(&mixed), "link broken");

    // reordered shards: named for the wrong slot, or renamed to fit it (then its proof fails
    // under the slot's key)
    let mut swapped = honest.clone();
    swapped.shards.swap(0, 1);
    invalid(verify(&swapped), "is a proof of shard");
    let mut renamed = swapped.clone();
    renamed.shards[0].model_hash = honest.shards[0].model_hash.clone();
    renamed.shards[1].model_hash = honest.shards[1].model_hash.clone();
    invalid(verify(&renamed), "shard 0");

    // a missing shard
    let mut missing = honest.clone();
    missing.shards.pop();
    invalid(verify(&missing), "2 shard proofs, the model has 3");

    // the model's public values must be the shards': another output, another binding
    let mut outs = want.clone();
    outs[0].data[0] += 1;
    let mut lied = ProofFile::new(&zkinfer_prover::identity::ModelId::from_hex(&honest.model_hash).expect("id").0, honest.k, &s.graph, zkinfer_prover::Fr::zero(), &inputs, &outs, &[], 0.0).expect("proof file");
    lied.shards = honest.shards.clone();
    invalid(verify(&lied), "not the ones shard 2 proves");
    let mut rebound = honest.clone();
    rebound.instances[0] = zkinfer_prover::util::fr_to_hex(&zkinfer_prover::Fr::one());
    invalid(verify(&rebound), "another binding");

    // a tampered shard proof
    let mut tampered = honest.clone();
    let mut bytes = tampered.shards[1].proof_bytes().expect("proof");
    bytes[40] ^= 1;
    tampered.shards[1].proof = format!("0x{}", hex::encode(bytes));
    invalid(verify(&tampered), "shard 1");

    // through the binary: a rejected sharded proof exits 3; single and sharded proofs are not
    // mixed up
    let bad = d.join("bad.json");
    forged.write(&bad).expect("write");
    let out = zkinfer(&["verify", ds, bad.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let single = d.join("single");
    let ss = single.to_str().expect("utf8");
    ok(&zkinfer(&["compile", model, "-o", ss]));
    ok(&zkinfer(&["setup", ss]));
    fails_with(&zkinfer(&["verify", ss, proof_path.to_str().expect("utf8")]), "sharded proof");
    ok(&zkinfer(&["prove", ss, "--input", input]));
    fails_with(&zkinfer(&["verify", ds, single.join("proof.json").to_str().expect("utf8")]), "single-circuit proof");
    // what does not handle sharded models yet says so
    fails_with(&zkinfer(&["evm-verifier", ds]), "compiled into 3 shards");
    // compiling again without shards removes them
    ok(&zkinfer(&["compile", model, "-o", ds]));
    assert!(!d.join("shards").exists() && !d.join("shards.json").exists());
    let _ = std::fs::remove_dir_all(&d);
}
/// Cuts inside nodes: a CNN whose single circuit needs k 15 is compiled with `--max-k 14`; its
/// first conv, pool and requantization are split into parts by output channels and the cut
/// falls between parts. The two shards prove and verify, attest to what the unsplit model
/// computes, and a shard started from another part slice (a real proof of its shard) is
/// rejected by the link.
#[test]
fn a_cut_inside_a_node_proves_and_its_links_hold() {
    let d = std::env::temp_dir().join(format!("zkinfer-split-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let model_dir = d.join("cnn");
    ok(&zkinfer(&["synth-cnn", "--input", "2,12,12", "--channels", "8,16", "-o", model_dir.to_str().expect("utf8")]));
    let (model, input) = (model_dir.join("model.onnx"), model_dir.join("input.json"));
    let (model, input) = (model.to_str().expect("utf8"), input.to_str().expect("utf8"));
    let whole = d.join("whole");
    ok(&zkinfer(&["compile", model, "-o", whole.to_str().expect("utf8")]));
    let single = Workdir(whole).load_settings().expect("settings");
    assert!(single.k > 14, "the model needs more than 2^14 rows as one circuit (k {})", single.k);
    let out_dir = d.join("split");
    let ds = out_dir.to_str().expect("utf8");
    let out = ok(&zkinfer(&["compile", model, "-o", ds, "--max-k", "14"]));
    assert!(out.contains("split into") && out.contains("shard 1:"), "{out}");
    let wd = Workdir(out_dir.clone());
    let s = wd.load_settings().expect("settings");
    let sh = sharding::load(&wd, &s).expect("load").expect("sharded");
    assert!(sh.shards.iter().all(|(_, ss)| ss.k <= 14), "every shard within --max-k");
    // the cut lies inside a split node: the later shard starts from part slices
    let (_, last) = sh.shards.last().expect("shards");
    assert!(!last.graph.inputs.is_empty() && last.graph.inputs.iter().all(|t| t.name.contains("/part")), "{:?}", last.graph.inputs.iter().map(|t| &t.name).collect::<Vec<_>>());

    ok(&zkinfer(&["setup", ds]));
    ok(&zkinfer(&["prove", ds, "--input", input]));
    let proof_path = out_dir.join("proof.json");
    assert!(ok(&zkinfer(&["verify", ds, proof_path.to_str().expect("utf8")])).contains("valid"));
    let honest = ProofFile::read(&proof_path).expect("proof");
    let data = zkinfer_service::files::read_inputs(Path::new(input)).expect("input");
    let inputs = pipeline::quantize_inputs(&single.graph, &data, false).expect("quantize");
    assert_eq!(honest.outputs[0].quantized, exec::outputs(&single.graph, &inputs).expect("exec")[0].data, "what the unsplit model computes");

    // each shard proved apart with one salt; then the last from another part slice
    let verify = |p: &ProofFile| sharding::verify(&wd, &s, &sh, None, p).expect("files belong together");
    let vals = exec::run(&s.graph, &inputs).expect("run");
    let salt = 0xc0ffee_u128 << 64;
    let prove_shard = |i: usize, ins: &[Tensor]| {
        let (w, ss) = &sh.shards[i];
        sharding::prove_shard(w, ss, &pipeline::load_params(None, ss.k).expect("dev SRS"), ins, salt, zkinfer_prover::Fr::zero(), Device::Cpu, &|| {}).expect("shard proves").0
    };
    let n = sh.shards.len();
    let mut salted = honest.clone();
    let shard_inputs = |i: usize| -> Vec<Tensor> { sh.shards[i].1.graph.inputs.iter().map(|t| vals[t.value].clone()).collect() };
    for i in 0..n {
        salted.shards[i] = prove_shard(i, &shard_inputs(i));
    }
    assert!(verify(&salted).is_valid(), "shards proved apart with one salt fit together");
    let mut other = shard_inputs(n - 1);
    let info = s.graph.info(last.graph.inputs[0].value);
    other[0].data[0] = if other[0].data[0] < info.hi { other[0].data[0] + 1 } else { other[0].data[0] - 1 };
    let mut forged = salted.clone();
    forged.shards[n - 1] = prove_shard(n - 1, &other);
    invalid(verify(&forged), "link broken");
    let _ = std::fs::remove_dir_all(&d);
}

/// Issue 21, part 3 through the binary: a sharded model (a small MLP, public input, hashed
/// weights) registered on the market (its aggregation verifier behind the adapter), a job
/// proved as one aggregated proof of both shards and paid (`market submit`).
#[test]
fn sharded_model_is_paid_through_the_market_with_one_aggregated_proof() {
    let d = std::env::temp_dir().join(format!("zkinfer-sharded-market-{}", std::process::id()));
    sharded_market_job(&d);
    let _ = std::fs::remove_dir_all(&d);
}

/// The same, then the provider node: a second job claimed, every shard proved and aggregated by
/// the node's worker, checked locally and paid; then `aggregate --verify` of the node's proof,
/// and of that proof listing an output it does not prove. Heavy (a second aggregation):
/// `bash scripts/test.sh --heavy`.
#[test]
#[ignore = "heavy: bash scripts/test.sh --heavy"]
fn the_provider_node_proves_and_is_paid_for_a_sharded_model() {
    let d = std::env::temp_dir().join(format!("zkinfer-sharded-node-{}", std::process::id()));
    let (ds, ms, input) = sharded_market_job(&d);
    let (ds, ms, input) = (ds.as_str(), ms.as_str(), input.as_str());
    let mk = |args: &[&str]| -> Output {
        let mut all = vec!["market", "--dir", ms];
        all.extend_from_slice(args);
        zkinfer(&all)
    };
    assert!(ok(&mk(&["post", ds, "--input", input, "--pay", "0.05", "--stake", "0.1"])).contains("posted job 2"));
    let nd = d.join("node");
    let out = zkinfer(&["node", "--dir", ms, "--model", ds, "--data", nd.to_str().expect("utf8"), "--exit-when-idle", "--poll-ms", "1000"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("job 2: claimed") && err.contains("job 2: submitted"), "{err}");
    assert!(ok(&mk(&["status"])).contains("job 2: paid"));

    // the node's aggregated proof outside the market, checked with the aggregation key's hash
    let proofs: Vec<PathBuf> = walk(&nd).into_iter().filter(|p| p.file_name().is_some_and(|n| n == "proof.json")).collect();
    assert_eq!(proofs.len(), 1, "{proofs:?}");
    let f: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&proofs[0]).expect("read")).expect("json");
    let sha = f["aggregation_vk_hash"].as_str().expect("sha").to_string();
    let ap = proofs[0].to_str().expect("utf8");
    let out = ok(&zkinfer(&["aggregate", ds, "--verify", ap, "--aggregation-vk", &sha]));
    assert!(out.contains("valid"), "{out}");
    // a listed output that is not the proven one is refused
    let mut f: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(ap).expect("read")).expect("json");
    let last = f["instances"].as_array().expect("instances").len() - 1;
    f["instances"][last] = serde_json::Value::String(format!("0x{}", "0".repeat(63) + "1"));
    let bad = d.join("bad-aggregated.json");
    std::fs::write(&bad, f.to_string()).expect("write");
    let out = zkinfer(&["aggregate", ds, "--verify", bad.to_str().expect("utf8"), "--aggregation-vk", &sha]);
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(&d);
}

/// Compiles a small MLP into two shards (public input and output, hashed weights), sets up,
/// proves and verifies it, deploys the market, registers the model and has job 1 paid with one
/// aggregated proof (`market submit`); returns the model, market and input paths.
fn sharded_market_job(d: &Path) -> (String, String, String) {
    let _ = std::fs::remove_dir_all(d);
    let ds = d.join("model");
    let ds = ds.to_str().expect("utf8");
    // public input and output (the node reads a job's input from the chain; few public values
    // keep the aggregation verifier under EIP-170)
    let mlp = d.join("mlp");
    ok(&zkinfer(&["synth-mlp", "--layers", "16,24,4", "-o", mlp.to_str().expect("utf8")]));
    let input = mlp.join("input.json");
    let input = input.to_str().expect("utf8");
    // hashed witness weights: each shard takes the tensors it uses, the proof exposes their
    // digests as a single-circuit proof would, and the registry pins them
    ok(&zkinfer(&["compile", mlp.join("model.onnx").to_str().expect("utf8"), "-o", ds, "--shards", "2", "--weight-visibility", "hashed"]));
    ok(&zkinfer(&["setup", ds]));
    ok(&zkinfer(&["prove", ds, "--input", input]));
    let out = ok(&zkinfer(&["verify", ds, Path::new(ds).join("proof.json").to_str().expect("utf8")]));
    assert!(out.contains("valid") && out.contains("weights"), "{out}");
    let ms = d.join("market");
    let ms = ms.to_str().expect("utf8");
    let mk = |args: &[&str]| -> Output {
        let mut all = vec!["market", "--dir", ms];
        all.extend_from_slice(args);
        zkinfer(&all)
    };
    ok(&mk(&["deploy"]));
    let out = ok(&mk(&["register", ds]));
    assert!(out.contains("adapter deployed") && out.contains("registered model 1"), "{out}");
    ok(&mk(&["stake", "--amount", "1"]));
    assert!(ok(&mk(&["post", ds, "--input", input, "--pay", "0.05", "--stake", "0.1"])).contains("posted job 1"));
    ok(&mk(&["claim", "1"]));
    let out = ok(&mk(&["submit", "1", ds, "--input", input]));
    assert!(out.contains("job 1 paid"), "{out}");
    assert!(ok(&mk(&["status"])).contains("job 1: paid"));
    (ds.to_string(), ms.to_string(), input.to_string())
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
