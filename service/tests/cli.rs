//! The `zkinfer` binary end to end, and its answers to bad input: every failure must exit
//! non-zero with a message naming the problem, and never panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use prost::Message;
use zkinfer_circuits::onnx::proto;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn zkinfer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkinfer")).args(args).current_dir(repo()).output().expect("runs zkinfer")
}

fn tmp(name: &str) -> PathBuf {
    // (the directories of earlier runs whose process is gone: a test that fails, or does not
    // clean up, leaves its directory behind, and keys take hundreds of MB)
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| {
        for e in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.strip_prefix("zkinfer-cli-").and_then(|r| r.split('-').next()).and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|p| p != std::process::id() && !Path::new(&format!("/proc/{p}")).exists()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    });
    let d = std::env::temp_dir().join(format!("zkinfer-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

/// Asserts a clean failure whose stderr contains `needle`.
fn fails_with(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, got success; stderr: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
    assert!(err.contains(needle), "stderr lacks `{needle}`: {err}");
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "command failed: {err}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const MLP: &str = "models/digits_mlp_int8/model.onnx";

fn compiled(name: &str) -> PathBuf {
    let d = tmp(name);
    ok(&zkinfer(&["compile", MLP, "-o", d.to_str().expect("utf8")]));
    ok(&zkinfer(&["setup", d.to_str().expect("utf8")]));
    d
}

/// A float tensor's value info with static `dims`, for hand-built ONNX models.
fn float_value_info(name: &str, dims: &[i64]) -> proto::ValueInfoProto {
    proto::ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(proto::TypeProto {
            value: Some(proto::type_proto::Value::TensorType(proto::type_proto::Tensor {
                elem_type: Some(1),
                shape: Some(proto::TensorShapeProto {
                    dim: dims.iter().map(|&n| proto::tensor_shape_proto::Dimension { value: Some(proto::tensor_shape_proto::dimension::Value::DimValue(n)), ..Default::default() }).collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn write_input(dir: &Path, json: &str) -> String {
    let p = dir.join("in.json");
    std::fs::write(&p, json).expect("write");
    p.to_str().expect("utf8").to_string()
}

#[test]
fn prove_verify_and_reject_tampering() {
    let d = compiled("e2e");
    let ds = d.to_str().expect("utf8");
    let out = ok(&zkinfer(&["prove", ds, "--input", "models/digits_mlp_int8/input.json"]));
    assert!(out.contains("proof:"), "{out}");
    let proof = d.join("proof.json");
    ok(&zkinfer(&["verify", ds, proof.to_str().expect("utf8")]));

    // an edited instance that no longer matches the listed outputs is refused outright
    let mut p: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&proof).expect("read")).expect("json");
    let inst = p["instances"].as_array_mut().expect("instances");
    let last = inst.len() - 1;
    inst[last] = serde_json::Value::String(format!("0x{}", "00".repeat(31) + "05"));
    let forged = d.join("forged.json");
    std::fs::write(&forged, serde_json::to_string(&p).expect("ser")).expect("write");
    fails_with(&zkinfer(&["verify", ds, forged.to_str().expect("utf8")]), "not the proven public instances");

    // the real attack: claim other outputs, with instances re-packed to match: INVALID
    let settings: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("settings.json")).expect("settings")).expect("json");
    let graph: zkinfer_circuits::ir::Graph = serde_json::from_value(settings["graph"].clone()).expect("graph");
    let mut p: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&proof).expect("read")).expect("json");
    let tensors = |v: &serde_json::Value| -> Vec<zkinfer_circuits::ir::Tensor> {
        v.as_array()
            .expect("tensors")
            .iter()
            .map(|t| zkinfer_circuits::ir::Tensor {
                shape: serde_json::from_value(t["shape"].clone()).expect("shape"),
                data: serde_json::from_value(t["quantized"].clone()).expect("quantized"),
            })
            .collect()
    };
    let mut outs = tensors(&p["outputs"]);
    outs[0].data[0] = if outs[0].data[0] == 0 { 1 } else { outs[0].data[0] - 1 };
    p["outputs"][0]["quantized"] = serde_json::to_value(&outs[0].data).expect("ser");
    let o = &graph.outputs[0];
    p["outputs"][0]["values"] = serde_json::to_value(zkinfer_circuits::exec::dequantize(o.scale, o.zero_point, &outs[0])).expect("ser");
    let inst = zkinfer_circuits::public::instances(&graph, &tensors(&p["inputs"]), &outs).expect("in range");
    p["instances"] = serde_json::to_value(inst.iter().map(zkinfer_prover::util::fr_to_hex).collect::<Vec<_>>()).expect("ser");
    std::fs::write(&forged, serde_json::to_string(&p).expect("ser")).expect("write");
    fails_with(&zkinfer(&["verify", ds, forged.to_str().expect("utf8")]), "verification failed");

    // flip one proof byte
    let mut p: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&proof).expect("read")).expect("json");
    let s = p["proof"].as_str().expect("proof").to_string();
    let mut b = s.into_bytes();
    b[100] = if b[100] == b'0' { b'1' } else { b'0' };
    p["proof"] = serde_json::Value::String(String::from_utf8(b).expect("hex"));
    std::fs::write(&forged, serde_json::to_string(&p).expect("ser")).expect("write");
    fails_with(&zkinfer(&["verify", ds, forged.to_str().expect("utf8")]), "verification failed");
}

#[test]
fn proof_for_another_model_is_refused() {
    let a = compiled("model-a");
    let b = tmp("model-b");
    let bs = b.to_str().expect("utf8");
    ok(&zkinfer(&["compile", "models/digits_mlp_int8_qop/model.onnx", "-o", bs]));
    ok(&zkinfer(&["setup", bs]));
    ok(&zkinfer(&["prove", a.to_str().expect("utf8"), "--input", "models/digits_mlp_int8/input.json"]));
    let proof = a.join("proof.json");
    fails_with(&zkinfer(&["verify", bs, proof.to_str().expect("utf8")]), "was made for model");
}

#[test]
fn bad_inputs_are_named() {
    let d = compiled("inputs");
    let ds = d.to_str().expect("utf8");
    let prove = |json: &str| zkinfer(&["prove", ds, "--input", &write_input(&d, json)]);
    fails_with(&prove(r#"{"input_data": [[0.5, 0.5]]}"#), "expected 64 values");
    fails_with(&prove(r#"{"input_data": [[0.5, "NaN"]]}"#), "is not a number");
    fails_with(&prove(r#"{"input_data": [[1e300]]}"#), "expected 64 values");
    let big = format!("{{\"input_data\": [[{}]]}}", vec!["1000.0"; 64].join(","));
    fails_with(&prove(&big), "outside the representable range");
    fails_with(&prove(r#"{"data": []}"#), "no `input_data`");
    fails_with(&prove("{not json"), "not a valid file");
    fails_with(&zkinfer(&["prove", ds, "--input", "/nonexistent/in.json"]), "cannot read");
    // saturating instead of rejecting works
    ok(&zkinfer(&["prove", ds, "--saturate", "--input", &write_input(&d, &big)]));
}

#[test]
fn malformed_models_are_rejected() {
    let d = tmp("models");
    let out = d.join("o");
    let os = out.to_str().expect("utf8");
    fails_with(&zkinfer(&["compile", "/nonexistent/model.onnx", "-o", os]), "cannot read");
    let junk = d.join("junk.onnx");
    std::fs::write(&junk, b"\x0a\xff\xff\xff\xff\x0fnot an onnx file at all").expect("write");
    fails_with(&zkinfer(&["compile", junk.to_str().expect("utf8"), "-o", os]), "ONNX");
    let bytes = std::fs::read(repo().join(MLP)).expect("model");
    let cut = d.join("cut.onnx");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    fails_with(&zkinfer(&["compile", cut.to_str().expect("utf8"), "-o", os]), "ONNX");

    // a valid model with an op the importer does not know
    let vi = |name: &str| float_value_info(name, &[4]);
    let node = proto::NodeProto { op_type: Some("Hardmax".into()), name: Some("mystery".into()), input: vec!["x".into()], output: vec!["y".into()], ..Default::default() };
    let m = proto::ModelProto {
        ir_version: Some(8),
        graph: Some(proto::GraphProto { node: vec![node], input: vec![vi("x")], output: vec![vi("y")], ..Default::default() }),
        ..Default::default()
    };
    let p = d.join("hardmax.onnx");
    std::fs::write(&p, m.encode_to_vec()).expect("write");
    fails_with(&zkinfer(&["compile", p.to_str().expect("utf8"), "-o", os]), "unsupported ONNX op `Hardmax` (node `mystery`)");
}

#[test]
fn corrupt_or_missing_artifacts_are_named() {
    let d = compiled("artifacts");
    let ds = d.to_str().expect("utf8");
    let input = "models/digits_mlp_int8/input.json";
    // corrupt proving key
    let pk = d.join("pk.bin");
    let mut bytes = std::fs::read(&pk).expect("pk");
    let n = bytes.len();
    bytes.truncate(n / 3);
    std::fs::write(&pk, &bytes).expect("write");
    let out = zkinfer(&["prove", ds, "--input", input]);
    fails_with(&out, "pk.bin");
    // settings missing
    let empty = tmp("empty");
    fails_with(&zkinfer(&["prove", empty.to_str().expect("utf8"), "--input", input]), "zkinfer compile");
    // garbage proof file
    let bad = d.join("bad.json");
    std::fs::write(&bad, "{\"format\": \"zkinfer-proof/3\"}").expect("write");
    fails_with(&zkinfer(&["verify", ds, bad.to_str().expect("utf8")]), "bad.json");
}

/// `zkinfer market` verbs on the embedded chain (state kept in DIR/chain.json between
/// commands), and their clear errors.
#[test]
fn market_verbs_on_the_embedded_chain() {
    let d = compiled("market");
    let ds = d.to_str().expect("utf8");
    let m = tmp("market-dir");
    let ms = m.to_str().expect("utf8");
    let input = "models/digits_mlp_int8/input.json";
    let mk = |args: &[&str]| -> Output {
        let mut all = vec!["market", "--dir", ms];
        all.extend_from_slice(args);
        zkinfer(&all)
    };
    assert!(ok(&mk(&["deploy"])).contains("InferenceMarket"));
    fails_with(&mk(&["deploy"]), "already recorded");
    fails_with(&mk(&["post", ds, "--input", input, "--pay", "0.05"]), "not registered");
    fails_with(&mk(&["register-batch", ds, "--size", "2"]), "not registered");
    assert!(ok(&mk(&["register", ds])).contains("registered model 1"));
    fails_with(&mk(&["register-batch", ds, "--size", "1"]), "2 to 64 proofs");
    ok(&mk(&["stake", "--amount", "1"]));
    assert!(ok(&mk(&["post", ds, "--input", input, "--pay", "0.05", "--stake", "0.1"])).contains("posted job 1"));
    fails_with(&mk(&["claim", "9"]), "UnknownJob");
    ok(&mk(&["claim", "1"]));
    fails_with(&mk(&["claim", "1"]), "JobNotOpen");
    let other = write_input(&d, &format!("{{\"input_data\": [[{}]]}}", vec!["0.5"; 64].join(",")));
    fails_with(&mk(&["submit", "1", ds, "--input", &other]), "not the input job 1 was posted with");
    let out = ok(&mk(&["submit", "1", ds, "--input", input]));
    assert!(out.contains("job 1 paid") && out.contains("0.0495 ETH"), "{out}");
    fails_with(&mk(&["submit", "1", ds, "--input", input]), "JobNotClaimed");
    assert!(ok(&mk(&["withdraw"])).contains("withdrew 0.0495 ETH"));
    let st = ok(&mk(&["status"]));
    assert!(st.contains("job 1: paid"), "{st}");
    // the provider node's claim policy: each of jobs 2-4 is refused for one named reason,
    // then a job within every limit is claimed, proved, checked locally and paid
    let nd = m.join("node");
    let node = |extra: &[&str]| -> Output {
        let mut all = vec!["node", "--dir", ms, "--model", ds, "--data", nd.to_str().expect("utf8"), "--exit-when-idle", "--poll-ms", "50"];
        all.extend_from_slice(extra);
        zkinfer(&all)
    };
    for (job, flags, why) in [(2, &["--min-payment", "1"][..], "below --min-payment"), (3, &["--max-stake-ratio", "1"][..], "--max-stake-ratio"), (4, &["--prove-safety", "100000000"][..], "predicted to prove")] {
        assert!(ok(&mk(&["post", ds, "--input", input, "--pay", "0.05", "--stake", "0.1"])).contains(&format!("posted job {job}")));
        let out = node(flags);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(err.contains(&format!("job {job}: skipped")) && err.contains(why), "job {job} should be skipped ({why}): {err}");
    }
    assert!(ok(&mk(&["post", ds, "--input", input, "--pay", "0.05", "--stake", "0.1"])).contains("posted job 5"));
    let out = node(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("job 5: claimed") && err.contains("job 5: submitted"), "{err}");
    let st = ok(&mk(&["status"]));
    assert!(st.contains("job 5: paid") && st.contains("job 2: open"), "{st}");
    // a batch: refused without one input per job or without batch keys; then registered,
    // jobs 6 and 7 (posted after the batch verifier) proved together and paid with one
    // aggregated proof
    fails_with(&mk(&["submit-batch", ds, "--jobs", "2,3", "--input", input]), "one input per job");
    fails_with(&mk(&["submit-batch", ds, "--jobs", "2,3", "--input", input, "--input", input]), "register-batch");
    assert!(ok(&mk(&["register-batch", ds, "--size", "2", "--k", "20"])).contains("verifier of batches of 2"));
    for job in ["6", "7"] {
        assert!(ok(&mk(&["post", ds, "--input", input, "--pay", "0.05", "--stake", "0.1"])).contains(&format!("posted job {job}")));
        ok(&mk(&["claim", job]));
    }
    let out = ok(&mk(&["submit-batch", ds, "--jobs", "6,7", "--input", input, "--input", input]));
    assert!(out.contains("jobs [6, 7] paid"), "{out}");
    let st = ok(&mk(&["status"]));
    assert!(st.contains("job 6: paid") && st.contains("job 7: paid") && st.contains("job 3: open"), "{st}");
    fails_with(&mk(&["post", ds, "--input", input, "--pay", "lots"]), "not an amount of ether");
    let bad_key = m.join("bad.key");
    std::fs::write(&bad_key, "0x12").expect("write");
    fails_with(&mk(&["--key-file", bad_key.to_str().expect("utf8"), "claim", "1"]), "private key");
    fails_with(&zkinfer(&["market", "--dir", ms, "--rpc", "http://127.0.0.1:1", "status"]), "no Ethereum JSON-RPC node answers");
    // a corrupt chain file is named, and the deployment record is kept
    std::fs::write(m.join("chain.json"), "{").expect("write");
    fails_with(&mk(&["status"]), "chain.json");
    assert!(m.join("deployment.json").exists());
}

/// Hashed input and output: the proof file carries digests and no values (those go to
/// proof.private.json), verifies natively and in the EVM; `zkinfer hash` recomputes the
/// digests from the data and flags other data; a proof whose digest is swapped for the
/// digest of another input is rejected natively and on chain.
#[test]
fn hashed_visibility_end_to_end() {
    let d = tmp("hashed");
    let ds = d.to_str().expect("utf8");
    fails_with(&zkinfer(&["compile", MLP, "-o", ds, "--visibility", "nosuch=hashed"]), "no model input or output is named `nosuch`");
    fails_with(&zkinfer(&["compile", MLP, "-o", ds, "--input-visibility", "secret"]), "not a visibility");
    ok(&zkinfer(&["compile", MLP, "-o", ds, "--input-visibility", "hashed", "--output-visibility", "hashed"]));
    ok(&zkinfer(&["setup", ds]));
    let input = "models/digits_mlp_int8/input.json";
    let out = ok(&zkinfer(&["prove", ds, "--input", input]));
    assert!(out.contains("hashed, digest 0x"), "{out}");
    let proof = d.join("proof.json");
    let ps = proof.to_str().expect("utf8");
    let p: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&proof).expect("read")).expect("json");
    assert_eq!(p["instances"].as_array().expect("instances").len(), 3, "binding + two digests");
    for t in p["inputs"].as_array().expect("inputs").iter().chain(p["outputs"].as_array().expect("outputs")) {
        assert_eq!(t["visibility"], "hashed");
        assert!(t["quantized"].as_array().expect("list").is_empty() && t["values"].as_array().expect("list").is_empty(), "values leaked: {t}");
    }
    let private = d.join("proof.private.json");
    let priv_json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&private).expect("private values written")).expect("json");
    assert_eq!(priv_json["inputs"][0]["quantized"].as_array().expect("values").len(), 64);
    ok(&zkinfer(&["verify", ds, ps]));
    let out = ok(&zkinfer(&["hash", ds, "--input", input, "--proof", ps]));
    assert!(out.contains("matches the proof"), "{out}");
    let out = ok(&zkinfer(&["hash", ds, "--private", private.to_str().expect("utf8"), "--proof", ps]));
    assert_eq!(out.matches("matches the proof").count(), 2, "{out}");
    // other data: a different digest
    let other = write_input(&d, &format!("{{\"input_data\": [[{}]]}}", vec!["0.5"; 64].join(",")));
    fails_with(&zkinfer(&["hash", ds, "--input", &other, "--proof", ps]), "do not match the proof");
    // the proof with the digest of the other input in place of the real one
    let out = ok(&zkinfer(&["hash", ds, "--input", &other]));
    let other_digest = out.split_whitespace().last().expect("digest").to_string();
    let mut forged = p.clone();
    forged["instances"][1] = serde_json::Value::String(other_digest.clone());
    forged["inputs"][0]["digest"] = serde_json::Value::String(other_digest);
    let fp = d.join("forged.json");
    std::fs::write(&fp, serde_json::to_string(&forged).expect("ser")).expect("write");
    fails_with(&zkinfer(&["verify", ds, fp.to_str().expect("utf8")]), "verification failed");
    let out: serde_json::Value = serde_json::from_str(&ok(&zkinfer(&["evm-verifier", ds, "--proof", ps, "--json"]))).expect("json");
    assert_eq!(out["valid"], true, "{out}");
    // the cost model's gas prediction, which chose the shape, is what the EVM charges
    let settings: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("settings.json")).expect("settings")).expect("json");
    let (predicted, measured) = (settings["cost"]["verify_gas"].as_f64().expect("predicted gas"), out["gas_used"].as_f64().expect("gas"));
    assert!((predicted - measured).abs() < 0.02 * measured, "predicted {predicted} gas, measured {measured}");
    fails_with(&zkinfer(&["evm-verifier", ds, "--proof", fp.to_str().expect("utf8")]), "");
    // listing the values of a hashed tensor in a proof file is refused
    let mut leaky = p.clone();
    leaky["inputs"][0]["quantized"] = serde_json::json!([1]);
    std::fs::write(&fp, serde_json::to_string(&leaky).expect("ser")).expect("write");
    fails_with(&zkinfer(&["verify", ds, fp.to_str().expect("utf8")]), "never carries them");

    // a private output: one instance fewer, nothing about it in the proof
    let d2 = tmp("private");
    let d2s = d2.to_str().expect("utf8");
    ok(&zkinfer(&["compile", MLP, "-o", d2s, "--input-visibility", "hashed", "--output-visibility", "private"]));
    ok(&zkinfer(&["setup", d2s]));
    ok(&zkinfer(&["prove", d2s, "--input", input]));
    let p2: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d2.join("proof.json")).expect("read")).expect("json");
    assert_eq!(p2["instances"].as_array().expect("instances").len(), 2);
    ok(&zkinfer(&["verify", d2s, d2.join("proof.json").to_str().expect("utf8")]));
}

/// `--device cuda` without the CUDA prover installed (or without a GPU) is a clear error;
/// `--device auto` then proves on the CPU.
#[test]
fn device_selection_without_a_gpu() {
    let d = compiled("device");
    let ds = d.to_str().expect("utf8");
    let input = "models/digits_mlp_int8/input.json";
    let missing = Command::new(env!("CARGO_BIN_EXE_zkinfer")).args(["prove", ds, "--input", input, "--device", "cuda"]).env("ZKINFER_CUDA", d.join("no-such-exe")).current_dir(repo()).output().expect("runs");
    fails_with(&missing, "the CUDA prover is not installed");
    // installed but no GPU (this test machine has none; skip the check where one is present)
    if !Path::new("/dev/nvidia0").exists() {
        let fake = d.join("zkinfer-cuda");
        std::fs::write(&fake, "#!/bin/sh\nexit 7\n").expect("write");
        let out = Command::new(env!("CARGO_BIN_EXE_zkinfer")).args(["prove", ds, "--input", input, "--device", "cuda"]).env("ZKINFER_CUDA", &fake).current_dir(repo()).output().expect("runs");
        fails_with(&out, "no NVIDIA GPU");
    }
    let auto = Command::new(env!("CARGO_BIN_EXE_zkinfer")).args(["prove", ds, "--input", input, "--device", "auto"]).env("ZKINFER_CUDA", d.join("no-such-exe")).current_dir(repo()).output().expect("runs");
    let err = String::from_utf8_lossy(&auto.stderr);
    assert!(auto.status.success() && err.contains("proving on the CPU"), "{err}");
    ok(&zkinfer(&["verify", ds, d.join("proof.json").to_str().expect("utf8")]));
}

/// `synth-mlp` writes a model the importer takes and that proves; bad layer lists are refused.
#[test]
fn synthetic_mlp_proves() {
    let d = tmp("synth");
    let m = d.join("model");
    let ms = m.to_str().expect("utf8");
    fails_with(&zkinfer(&["synth-mlp", "--layers", "7", "-o", ms]), "at least two non-zero widths");
    ok(&zkinfer(&["synth-mlp", "--layers", "24,16,5", "-o", ms]));
    let (_, out) = compile_and_prove(&d, &m);
    assert!(out.contains("output output [1, 5]"), "{out}");
}

/// Compiles, sets up, proves and verifies the synthetic model written to `m` (model.onnx,
/// input.json) in `d`; returns compile's and prove's output.
fn compile_and_prove(d: &Path, m: &Path) -> (String, String) {
    let ds = d.to_str().expect("utf8");
    let compiled = ok(&zkinfer(&["compile", m.join("model.onnx").to_str().expect("utf8"), "-o", ds]));
    ok(&zkinfer(&["setup", ds]));
    let out = ok(&zkinfer(&["prove", ds, "--input", m.join("input.json").to_str().expect("utf8")]));
    ok(&zkinfer(&["verify", ds, d.join("proof.json").to_str().expect("utf8")]));
    (compiled, out)
}

/// `synth-cnn` writes a CNN the importer takes and that proves, and `compile` reports the cost
/// model's prediction; bad sizes are refused.
#[test]
fn synthetic_cnn_proves() {
    let d = tmp("synth-cnn");
    let m = d.join("model");
    let ms = m.to_str().expect("utf8");
    fails_with(&zkinfer(&["synth-cnn", "--input", "1,8", "--channels", "4", "-o", ms]), "channels,height,width");
    fails_with(&zkinfer(&["synth-cnn", "--input", "1,4,4", "--channels", "2,2,2", "-o", ms]), "cannot be halved 3 times");
    let out = ok(&zkinfer(&["synth-cnn", "--input", "1,8,8", "--channels", "2,4", "--classes", "3", "-o", ms]));
    // 2·1·9·64 + 4·2·9·16 + 4·2·2·3 MACs
    assert!(out.contains(&format!("{} MACs", 2 * 9 * 64 + 4 * 2 * 9 * 16 + 16 * 3)), "{out}");
    let (compiled, out) = compile_and_prove(&d, &m);
    assert!(compiled.contains("MaxPool") && compiled.contains("Conv") && compiled.contains("predicted prove"), "{compiled}");
    assert!(out.contains("output output [1, 3]"), "{out}");
}

/// `calibrate` on a float CNN (reference outputs in the input file, for machines without
/// onnxruntime): it tries
/// narrower activation ranges fitted to the sample, keeps a candidate within the tolerance,
/// records the choice, and the calibrated circuit proves and verifies. A tolerance no
/// candidate meets still writes the most accurate one and says so.
#[test]
fn calibrate_fits_activation_range() {
    let d = tmp("calibrate");
    let input: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(repo().join("models/digits_cnn/input.json")).expect("read")).expect("json");
    let expected: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(repo().join("models/digits_cnn/expected.json")).expect("read")).expect("json");
    let sample = d.join("sample.json");
    std::fs::write(&sample, serde_json::json!({ "input_data": input["input_data"], "output_data": expected["output_data"] }).to_string()).expect("write");
    let (ss, ds) = (sample.to_str().expect("utf8"), d.to_str().expect("utf8"));
    let model = "models/digits_cnn/model.onnx";
    // the reference is onnxruntime where models/.venv exists, else the file's output_data
    let out = ok(&zkinfer(&["calibrate", model, "--input", ss, "--bits", "8,10", "-o", ds]));
    assert!(out.contains("reference: "), "{out}");
    // a fitted row: act bits below the default 24
    assert!(out.lines().any(|l| l.starts_with("| 8 | ") && !l.starts_with("| 8 | 24 |")), "{out}");
    assert!(out.contains("(within tolerance)"), "{out}");
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("settings.json")).expect("settings")).expect("json");
    let act = s["options"]["act_bits"].as_u64().expect("act_bits");
    assert!((2..=24).contains(&act), "{s}");
    assert!(s["calibration"]["max_abs_error"].as_f64().expect("err") <= s["calibration"]["tolerance"].as_f64().expect("tol"));
    assert!(s["cost"]["prove_seconds"].as_f64().expect("cost") > 0.0);
    ok(&zkinfer(&["setup", ds]));
    let proved = ok(&zkinfer(&["prove", ds, "--input", "models/digits_cnn/input.json"]));
    assert!(proved.contains("output output [1, 10]"), "{proved}");
    ok(&zkinfer(&["verify", ds, d.join("proof.json").to_str().expect("utf8")]));
    // an unreachable tolerance: the most accurate candidate, flagged
    let strict = ok(&zkinfer(&["calibrate", model, "--input", ss, "--bits", "6", "--atol", "1e-9", "--rtol", "0", "-o", ds]));
    assert!(strict.contains("ABOVE tolerance"), "{strict}");
}

/// Hashed weights end to end. Two CNNs of one architecture with different weights compile
/// to the same verifying key, and neither settings file holds a weight. Each proof verifies
/// under the other model's key with its own weights digests, which `zkinfer hash --weights`
/// recomputes from the weights file. A proof carrying the other model's weight digests fails
/// natively and in the EVM, and so does `--expect` with another digest. Proving without the
/// weights file is a clear error; verifying needs none. Public and private weights prove and
/// verify (natively and in the EVM) too.
#[test]
fn hashed_weights_share_one_key() {
    let d = tmp("weights");
    let s = |p: &Path| p.to_str().expect("utf8").to_string();
    let (a, b) = (d.join("a"), d.join("b"));
    for (m, seed) in [(&a, "1"), (&b, "2")] {
        let model = m.join("model");
        ok(&zkinfer(&["synth-cnn", "--input", "1,6,6", "--channels", "2", "--classes", "3", "--seed", seed, "-o", &s(&model)]));
        let out = ok(&zkinfer(&["compile", &s(&model.join("model.onnx")), "-o", &s(m), "--weight-visibility", "hashed"]));
        assert!(out.contains("weights: hashed (4 tensors"), "{out}");
        ok(&zkinfer(&["setup", &s(m)]));
        ok(&zkinfer(&["prove", &s(m), "--input", &s(&model.join("input.json"))]));
    }
    let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert_ne!(read(a.join("weights.json")), read(b.join("weights.json")));
    assert_eq!(read(a.join("vk.bin")), read(b.join("vk.bin")), "one verifying key for both sets of weights");
    let settings: serde_json::Value = serde_json::from_slice(&read(a.join("settings.json"))).expect("json");
    for n in settings["graph"]["nodes"].as_array().expect("nodes") {
        if let Some(w) = n["op"].get("weight") {
            assert!(w["data"].as_array().expect("data").is_empty() && n["op"]["params"].is_object(), "weights in the settings: {n}");
        }
    }
    let (pa, pb) = (a.join("proof.json"), b.join("proof.json"));
    // a verifier holding only model a's directory accepts a's proof (the weights recorded at
    // compile time) and b's only given b's published digests: a valid proof with unknown
    // weights says nothing about which model ran
    let out = ok(&zkinfer(&["verify", &s(&a), &s(&pa)]));
    assert!(out.contains("the ones recorded at compile time"), "{out}");
    fails_with(&zkinfer(&["verify", &s(&a), &s(&pb)]), "other weights");
    let proof_b0: serde_json::Value = serde_json::from_slice(&read(pb.clone())).expect("json");
    let expect_b: Vec<String> = proof_b0["weights"].as_array().expect("weights").iter().map(|w| format!("--expect={}={}", w["name"].as_str().expect("name"), w["digest"].as_str().expect("digest"))).collect();
    let mut args = vec!["verify".to_string(), s(&a), s(&pb)];
    args.extend(expect_b.iter().cloned());
    ok(&zkinfer(&args.iter().map(String::as_str).collect::<Vec<_>>()));
    let out = ok(&zkinfer(&["hash", &s(&a), "--weights", &s(&a.join("weights.json")), "--proof", &s(&pa)]));
    assert_eq!(out.matches("matches the proof").count(), 4, "{out}");
    fails_with(&zkinfer(&["hash", &s(&a), "--weights", &s(&b.join("weights.json")), "--proof", &s(&pa)]), "do not match the proof");
    let proof_a: serde_json::Value = serde_json::from_slice(&read(pa.clone())).expect("json");
    let proof_b: serde_json::Value = serde_json::from_slice(&read(pb.clone())).expect("json");
    let wa = proof_a["weights"].as_array().expect("weights");
    assert_eq!(wa.len(), 4);
    assert!(wa.iter().all(|w| w["visibility"] == "hashed" && w["quantized"].as_array().expect("list").is_empty()));
    let (name, digest_b) = (wa[0]["name"].as_str().expect("name"), proof_b["weights"][0]["digest"].as_str().expect("digest"));
    fails_with(&zkinfer(&["verify", &s(&a), &s(&pa), "--expect", &format!("{name}={digest_b}")]), "the proof is about other data");
    fails_with(&zkinfer(&["verify", &s(&a), &s(&pb), "--expect", &format!("{name}={digest_b}")]), "other weights");
    // a's proof claiming b's weights
    let mut forged = proof_a.clone();
    let n = forged["instances"].as_array().expect("instances").len();
    for i in 0..4 {
        forged["instances"][n - 4 + i] = proof_b["instances"][n - 4 + i].clone();
        forged["weights"][i]["digest"] = proof_b["weights"][i]["digest"].clone();
    }
    let fp = d.join("forged.json");
    std::fs::write(&fp, serde_json::to_string(&forged).expect("ser")).expect("write");
    fails_with(&zkinfer(&["verify", &s(&a), &s(&fp)]), "verification failed");
    assert!(ok(&zkinfer(&["evm-verifier", &s(&a), "--proof", &s(&pb)])).contains("valid"));
    fails_with(&zkinfer(&["evm-verifier", &s(&a), "--proof", &s(&fp)]), "");
    // without the weights file: verifying works, proving is refused by name
    std::fs::remove_file(a.join("weights.json")).expect("rm");
    ok(&zkinfer(&["verify", &s(&a), &s(&pa)]));
    fails_with(&zkinfer(&["prove", &s(&a), "--input", &s(&a.join("model/input.json"))]), "are not loaded");
    // public weights are listed in the proof; private ones add no instance
    for (vis, extra) in [("public", true), ("private", false)] {
        let m = d.join(vis);
        ok(&zkinfer(&["compile", &s(&b.join("model/model.onnx")), "-o", &s(&m), "--weight-visibility", vis]));
        ok(&zkinfer(&["setup", &s(&m)]));
        ok(&zkinfer(&["prove", &s(&m), "--input", &s(&b.join("model/input.json"))]));
        if vis == "private" {
            // nothing pins private weights: valid only when the verifier accepts any weights
            fails_with(&zkinfer(&["verify", &s(&m), &s(&m.join("proof.json"))]), "private witnesses");
            ok(&zkinfer(&["verify", &s(&m), &s(&m.join("proof.json")), "--any-weights"]));
        } else {
            ok(&zkinfer(&["verify", &s(&m), &s(&m.join("proof.json"))]));
        }
        assert!(ok(&zkinfer(&["evm-verifier", &s(&m), "--proof", &s(&m.join("proof.json"))])).contains("valid"), "{vis} weights in the EVM");
        let p: serde_json::Value = serde_json::from_slice(&read(m.join("proof.json"))).expect("json");
        let listed: usize = p["weights"].as_array().map_or(0, |w| w.iter().map(|t| t["quantized"].as_array().expect("list").len()).sum());
        assert_eq!(listed > 0, extra, "{vis}: {listed} weight values listed");
        assert_eq!(p["instances"].as_array().expect("list").len() > n - 4, extra, "{vis}");
    }
    fails_with(&zkinfer(&["compile", &s(&b.join("model/model.onnx")), "-o", &s(&d.join("x")), "--weight-visibility", "secret"]), "not a weight visibility");
    fails_with(&zkinfer(&["compile", &s(&b.join("model/model.onnx")), "-o", &s(&d.join("x")), "--weight-visibility", "hashed", "--weight-bits", "3"]), "outside its declared range");
}

/// `calibrate` with a tolerance no precision meets, on a model with a function table: it
/// retries with finer tables (2^14 and 2^16 points), keeps the most accurate candidate, and
/// records its table size; `compile --table-bits` takes it too and refuses nonsense.
#[test]
fn calibrate_tries_finer_tables() {
    let d = tmp("calibrate-tables");
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(repo().join("models/ops/gelu/samples.json")).expect("read")).expect("json");
    let sample = d.join("sample.json");
    std::fs::write(&sample, serde_json::json!({ "input_data": [s["inputs"][0]], "output_data": [s["outputs"][0]] }).to_string()).expect("write");
    let (ss, ds) = (sample.to_str().expect("utf8"), d.to_str().expect("utf8"));
    let model = "models/ops/gelu/model.onnx";
    let out = ok(&zkinfer(&["calibrate", model, "--input", ss, "--bits", "16", "--atol", "1e-12", "--rtol", "0", "-o", ds]));
    assert!(out.contains("| 16 (2^14 tables) |") && out.contains("| 16 (2^16 tables) |"), "{out}");
    let err = |l: &str| l.split('|').nth(7).and_then(|e| e.trim().parse::<f64>().ok());
    let best = out.lines().filter(|l| l.starts_with("| 16")).filter_map(err).fold(f64::INFINITY, f64::min);
    let plain = out.lines().filter(|l| l.starts_with("| 16 |")).filter_map(err).fold(f64::INFINITY, f64::min);
    // on this model the 2^12-point grid is what limits accuracy (4.0e-4 -> 2.5e-5 here)
    assert!(best < plain / 4.0, "finer tables should help on gelu: {out}");
    let settings: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("settings.json")).expect("settings")).expect("json");
    let kept = settings["calibration"]["max_abs_error"].as_f64().expect("err");
    assert!((kept - best).abs() <= 1e-3 * best, "the most accurate candidate is kept ({kept} vs {best}): {out}");
    assert!(settings["options"]["table_bits"].as_u64().is_some_and(|t| t >= 14), "{settings}");
    ok(&zkinfer(&["compile", model, "-o", ds, "--table-bits", "14"]));
    let settings: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("settings.json")).expect("settings")).expect("json");
    assert_eq!(settings["options"]["table_bits"], 14);
    fails_with(&zkinfer(&["compile", model, "-o", ds, "--table-bits", "30"]), "must be between 4 and 16");
}

/// Calibration on one sample whose table inputs all round to one point of pass 1's coarse
/// probing grid: the observed range must be widened by that grid's step, or pass 2's table
/// (the point ± 10% of a zero width) clamps the real input (7e-4 error on this model before
/// the fix, with the default activation range).
#[test]
fn calibrated_table_covers_the_probe_grid() {
    let d = tmp("calibrate-probe");
    let vi = |name: &str| float_value_info(name, &[1, 1]);
    let node = proto::NodeProto { op_type: Some("Sigmoid".into()), name: Some("sig".into()), input: vec!["x".into()], output: vec!["y".into()], ..Default::default() };
    let m = proto::ModelProto {
        ir_version: Some(8),
        opset_import: vec![proto::OperatorSetIdProto { domain: Some(String::new()), version: Some(13) }],
        graph: Some(proto::GraphProto { node: vec![node], input: vec![vi("x")], output: vec![vi("y")], ..Default::default() }),
        ..Default::default()
    };
    let model = d.join("sigmoid.onnx");
    std::fs::write(&model, m.encode_to_vec()).expect("write");
    let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
    let sample = d.join("sample.json");
    std::fs::write(&sample, serde_json::json!({ "input_data": [[0.3]], "output_data": [[sig(0.3)]] }).to_string()).expect("write");
    let ds = d.join("out");
    let out = ok(&zkinfer(&["calibrate", model.to_str().expect("utf8"), "--input", sample.to_str().expect("utf8"), "--bits", "16", "--atol", "1e-4", "--rtol", "0", "-o", ds.to_str().expect("utf8")]));
    let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("| 16 |")).collect();
    assert!(!rows.is_empty() && rows.iter().all(|l| l.ends_with("| yes |")), "every candidate within 1e-4: {out}");
}

#[test]
fn aggregate_errors_are_named() {
    let d = compiled("aggregate-errors");
    let dir = d.to_str().expect("utf8");
    // no aggregation keys yet
    fails_with(&zkinfer(&["aggregate", dir, "--verify", "nowhere.json"]), "nowhere.json");
    let p = d.join("aggregated.json");
    std::fs::write(&p, r#"{"format": "zkinfer-aggregated/2", "model_hash": "00", "aggregation_vk_hash": "00", "k": 21, "instances": [], "proof": "0x", "model_prove_seconds": 0, "aggregate_prove_seconds": 0}"#).expect("write");
    fails_with(&zkinfer(&["aggregate", dir, "--verify", p.to_str().expect("utf8")]), "layout.json");
    std::fs::write(&p, r#"{"format": "zkinfer-proof/1"}"#).expect("write");
    fails_with(&zkinfer(&["aggregate", dir, "--verify", p.to_str().expect("utf8")]), "aggregated.json");
    // sizes outside 18..=23 are refused before any work
    let input = write_input(&d, "[0.5]");
    fails_with(&zkinfer(&["aggregate", dir, "--input", &input, "--k", "17"]), "17");
    // a missing input file is named
    fails_with(&zkinfer(&["aggregate", dir, "--input", "missing-input.json"]), "missing-input.json");
}

/// A model whose ranges only data can size (1/x over an input whose static range reaches 0):
/// compile without a sample names the problem and the fix; with `--input` it sizes the
/// divisor from the sample, and the model proves and verifies.
#[test]
fn compile_sizes_ranges_from_a_sample() {
    let d = tmp("sized");
    let ds = d.to_str().expect("utf8");
    let model = "models/ops/reciprocal/model.onnx";
    let input = "models/ops/reciprocal/input.json";
    let out = zkinfer(&["compile", model, "-o", ds]);
    fails_with(&out, "includes zero");
    fails_with(&out, "--input SAMPLE.json");
    let text = ok(&zkinfer(&["compile", model, "-o", ds, "--input", input]));
    assert!(text.contains("sized 1 range(s) from"), "{text}");
    ok(&zkinfer(&["setup", ds]));
    ok(&zkinfer(&["prove", ds, "--input", input]));
    ok(&zkinfer(&["verify", ds, d.join("proof.json").to_str().expect("utf8")]));
    fails_with(&zkinfer(&["compile", model, "-o", ds, "--input", "nowhere.json"]), "nowhere.json");
}

/// `aggregate` end to end: the aggregated proof verifies with the aggregation key regenerated
/// from the model key (or pinned by its digest); a wrong digest, outputs listed other than the
/// proven ones and a changed instance are refused.
#[test]
fn aggregate_then_verify_from_the_command_line() {
    let d = compiled("aggregate-e2e");
    let dir = d.to_str().expect("utf8");
    let all = |out: Output| -> String {
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "command failed: {text}");
        text
    };
    let out = all(zkinfer(&["aggregate", dir, "--input", "models/digits_mlp_int8/input.json", "--k", "18"]));
    assert!(out.contains("verified natively"), "{out}");
    let agg = d.join("aggregated.json");
    let ap = agg.to_str().expect("utf8");
    let text = all(zkinfer(&["aggregate", dir, "--verify", ap]));
    assert!(text.contains("regenerated from the model key and equal") && text.contains(": valid"), "{text}");
    let sha = text.split_whitespace().skip_while(|w| *w != "--aggregation-vk").nth(1).expect("verify prints the key digest").to_string();
    let pinned = |ap: &str| zkinfer(&["aggregate", dir, "--verify", ap, "--aggregation-vk", &sha]);
    assert!(all(pinned(ap)).contains(": valid"));
    fails_with(&zkinfer(&["aggregate", dir, "--verify", ap, "--aggregation-vk", &"0".repeat(64)]), "not the expected");
    // outputs listed other than the proven ones
    let honest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&agg).expect("read")).expect("json");
    let mut f = honest.clone();
    let q = f["outputs"][0]["quantized"][0].as_i64().expect("an output value");
    f["outputs"][0]["quantized"][0] = serde_json::json!(q + 1);
    std::fs::write(&agg, f.to_string()).expect("write");
    fails_with(&pinned(ap), "listed inputs and outputs");
    // a changed accumulator limb: the proof no longer verifies
    let mut f = honest.clone();
    let limb = f["instances"][0].as_str().expect("hex").to_string();
    f["instances"][0] = serde_json::json!(format!("{}{}", &limb[..limb.len() - 1], if limb.ends_with('0') { '1' } else { '0' }));
    std::fs::write(&agg, f.to_string()).expect("write");
    fails_with(&pinned(ap), "INVALID");
    std::fs::write(&agg, honest.to_string()).expect("write");
    assert!(all(pinned(ap)).contains(": valid"));
    let _ = std::fs::remove_dir_all(&d);
}

/// The model identity: `setup` prints it, `verify --model` pins it, and settings or a key
/// changed after setup are refused (a key re-headered with another circuit shape reads the
/// same bytes as another circuit; settings decode the instances).
#[test]
fn settings_and_keys_must_match_the_identity() {
    let d = tmp("identity");
    let ds = d.to_str().expect("utf8");
    ok(&zkinfer(&["compile", MLP, "-o", ds]));
    let out = zkinfer(&["setup", ds]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    let id = text.split_whitespace().skip_while(|w| *w != "model").nth(1).expect("setup prints `model <id>`").to_string();
    assert_eq!(id.len(), 64, "{text}");
    ok(&zkinfer(&["prove", ds, "--input", "models/digits_mlp_int8/input.json"]));
    let proof = d.join("proof.json");
    let ps = proof.to_str().expect("utf8");
    let p: serde_json::Value = serde_json::from_slice(&std::fs::read(&proof).expect("proof")).expect("json");
    assert_eq!(p["model_hash"].as_str(), Some(id.as_str()), "the proof names the model by its identity");
    ok(&zkinfer(&["verify", ds, ps, "--model", &id]));
    fails_with(&zkinfer(&["verify", ds, ps, "--model", &"ab".repeat(32)]), "not the expected");

    // settings edited after setup (an output's scale: the decoded values would change)
    let sp = d.join("settings.json");
    let orig = std::fs::read(&sp).expect("settings");
    let mut s: serde_json::Value = serde_json::from_slice(&orig).expect("json");
    let scale = s["graph"]["outputs"][0]["scale"].as_f64().expect("scale");
    s["graph"]["outputs"][0]["scale"] = serde_json::json!(scale * 2.0);
    std::fs::write(&sp, serde_json::to_vec(&s).expect("ser")).expect("write");
    fails_with(&zkinfer(&["verify", ds, ps]), "does not belong to this model");
    fails_with(&zkinfer(&["prove", ds, "--input", "models/digits_mlp_int8/input.json"]), "does not belong to this model");
    std::fs::write(&sp, &orig).expect("restore");
    ok(&zkinfer(&["verify", ds, ps]));

    // the verifying key re-headered with another shape (checksum recomputed, same key bytes)
    let vp = d.join("vk.bin");
    let good = std::fs::read(&vp).expect("vk");
    let mut bytes = good.clone();
    let width = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
    let lookup = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
    bytes[16..20].copy_from_slice(&(if lookup > 1 { lookup - 1 } else { lookup + 1 }).to_le_bytes());
    bytes[12..16].copy_from_slice(&(width | 1 << 18).to_le_bytes());
    use sha2::Digest;
    let sum: [u8; 32] = sha2::Sha256::new().chain_update(&bytes[..124]).chain_update(&bytes[156..]).finalize().into();
    bytes[124..156].copy_from_slice(&sum);
    std::fs::write(&vp, &bytes).expect("write");
    fails_with(&zkinfer(&["verify", ds, ps]), "circuit shape");
    std::fs::write(&vp, &good).expect("restore");
    ok(&zkinfer(&["verify", ds, ps]));
}

/// `--json` prints one JSON object (the report, or the error) and the exit status says what
/// happened: 0 ok, 1 error, 2 refused command line, 3 proof rejected.
#[test]
fn json_reports_and_exit_statuses() {
    let d = tmp("json");
    let ds = d.to_str().expect("utf8");
    let json = |out: &Output| -> serde_json::Value {
        let s = String::from_utf8_lossy(&out.stdout);
        assert_eq!(s.lines().count(), 1, "one line of JSON: {s}");
        serde_json::from_str(&s).expect("stdout is JSON")
    };
    let c = zkinfer(&["compile", MLP, "-o", ds, "--json"]);
    let r = json(&c);
    assert_eq!(c.status.code(), Some(0));
    assert!(r["k"].as_u64().expect("k") >= 4 && r["inputs"][0]["name"].is_string(), "{r}");
    let s = json(&zkinfer(&["setup", ds, "--json"]));
    assert_eq!(s["model_id"].as_str().map(str::len), Some(64));
    let proof = d.join("proof.json");
    let p = json(&zkinfer(&["prove", ds, "--input", "models/digits_mlp_int8/input.json", "--json"]));
    assert_eq!(p["model_id"], s["model_id"]);
    assert_eq!(p["outputs"][0]["quantized"].as_array().map(Vec::len), Some(10));
    let v = zkinfer(&["verify", ds, proof.to_str().expect("utf8"), "--json"]);
    assert_eq!(v.status.code(), Some(0));
    assert_eq!(json(&v)["valid"], true);
    // the proven outputs are the ones prove reported
    assert_eq!(json(&v)["outputs"][0]["quantized"], p["outputs"][0]["quantized"]);

    // rejected: a flipped proof byte -> 3, with the error as JSON
    let mut doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&proof).expect("read")).expect("json");
    let mut b = doc["proof"].as_str().expect("proof").to_string().into_bytes();
    b[100] = if b[100] == b'0' { b'1' } else { b'0' };
    doc["proof"] = String::from_utf8(b).expect("hex").into();
    let bad = d.join("bad.json");
    std::fs::write(&bad, doc.to_string()).expect("write");
    let v = zkinfer(&["verify", ds, bad.to_str().expect("utf8"), "--json"]);
    assert_eq!(v.status.code(), Some(3), "{}", String::from_utf8_lossy(&v.stderr));
    let e = json(&v);
    assert_eq!(e["exit_code"], 3);
    assert!(e["error"].as_str().expect("error").contains("verification failed"), "{e}");
    // an error: a missing file -> 1
    let v = zkinfer(&["verify", ds, d.join("missing.json").to_str().expect("utf8"), "--json"]);
    assert_eq!(v.status.code(), Some(1));
    assert!(json(&v)["error"].as_str().expect("error").contains("missing.json"));
    // a refused command line -> 2
    assert_eq!(zkinfer(&["verify", "--no-such-flag"]).status.code(), Some(2));
    // commands without a JSON report refuse --json instead of printing text
    let m = zkinfer(&["synth-mlp", "--layers", "4,2", "-o", ds, "--json"]);
    assert_eq!(m.status.code(), Some(1));
    assert!(json(&m)["error"].as_str().expect("error").contains("no JSON report"));
    // text mode prints no JSON
    assert!(!ok(&zkinfer(&["verify", ds, proof.to_str().expect("utf8")])).trim_start().starts_with('{'));
}

/// `setup --no-proving-key` writes only the verifying keys (one circuit, and every shard of a
/// sharded model): prove makes each proving key again and the proofs verify; a verifying key
/// of another model in its place is refused, naming the file.
#[test]
fn setup_without_proving_keys_proves_by_making_them_again() {
    let d = tmp("no-pk");
    let s = |p: &Path| p.to_str().expect("utf8").to_string();
    let input = "models/digits_mlp_int8/input.json";
    let one = d.join("one");
    ok(&zkinfer(&["compile", MLP, "-o", &s(&one)]));
    let out = ok(&zkinfer(&["setup", &s(&one), "--no-proving-key"]));
    assert!(out.contains("no proving key") && !one.join("pk.bin").exists() && one.join("vk.bin").exists(), "{out}");
    ok(&zkinfer(&["prove", &s(&one), "--input", input]));
    assert!(ok(&zkinfer(&["verify", &s(&one), &s(&one.join("proof.json"))])).contains("valid"));
    let sharded = d.join("sharded");
    ok(&zkinfer(&["compile", MLP, "-o", &s(&sharded), "--shards", "2"]));
    ok(&zkinfer(&["setup", &s(&sharded)]));
    assert!(sharded.join("shards/0/pk.bin").exists());
    // (set up again without them: the earlier proving keys are removed)
    ok(&zkinfer(&["setup", &s(&sharded), "--no-proving-key"]));
    assert!(!sharded.join("shards/0/pk.bin").exists() && !sharded.join("shards/1/pk.bin").exists() && sharded.join("shards/1/vk.bin").exists());
    ok(&zkinfer(&["prove", &s(&sharded), "--input", input]));
    assert!(ok(&zkinfer(&["verify", &s(&sharded), &s(&sharded.join("proof.json"))])).contains("valid"));
    // another model's verifying key in place of the first shard's
    std::fs::copy(one.join("vk.bin"), sharded.join("shards/0/vk.bin")).expect("copy");
    fails_with(&zkinfer(&["prove", &s(&sharded), "--input", input]), "shards/0/vk.bin");
}

/// Without --max-k or --shards, a model whose single circuit needs more than 2^21 rows (a
/// 22.6M-MAC CNN: 2^22) is cut into shards of at most 2^21 rows, and says so; `--max-k 22`
/// keeps its one circuit and removes the shards; a model within 2^21 rows keeps one circuit.
#[test]
fn compile_shards_a_model_over_the_default_size() {
    let d = tmp("default-max-k");
    let s = |p: &Path| p.to_str().expect("utf8").to_string();
    let m = d.join("cnn");
    ok(&zkinfer(&["synth-cnn", "--input", "3,32,32", "--channels", "48,96,192", "-o", &s(&m)]));
    let out_dir = d.join("c");
    let r: serde_json::Value = serde_json::from_str(&ok(&zkinfer(&["compile", &s(&m.join("model.onnx")), "-o", &s(&out_dir), "--json"]))).expect("json");
    assert_eq!(r["k"].as_u64(), Some(22), "the single circuit's k: {r}");
    let shards = r["shards"].as_array().expect("sharded by default");
    assert!(shards.len() >= 2 && shards.iter().all(|s| s["k"].as_u64().expect("k") <= 21), "{r}");
    assert!(out_dir.join("shards").join("1").join("settings.json").exists());
    // (three shards or fewer: one aggregation circuit over them all)
    let tree = &r["aggregation_tree"];
    let want_root = if shards.len() <= 3 { shards.len() } else { 2 };
    assert_eq!(tree["root"].as_u64(), Some(want_root as u64), "{r}");
    // one circuit per group of two or more proofs (a group of one is passed on), and the root
    let levels = tree["levels"].as_array().expect("levels");
    let groups = levels.iter().flat_map(|l| l.as_array().expect("a level's group sizes").iter()).filter(|n| n.as_u64().expect("a size") > 1).count();
    assert_eq!(tree["circuits"].as_u64(), Some(groups as u64 + 1), "{r}");
    let text = ok(&zkinfer(&["compile", &s(&m.join("model.onnx")), "-o", &s(&out_dir)]));
    assert!(text.contains("more than 2^21 (the default --max-k)") && text.contains("--max-k 22 keeps one circuit") && text.contains("aggregation (`zkinfer aggregate`)"), "{text}");
    let r: serde_json::Value = serde_json::from_str(&ok(&zkinfer(&["compile", &s(&m.join("model.onnx")), "-o", &s(&out_dir), "--max-k", "22", "--json"]))).expect("json");
    assert!(r.get("shards").is_none() && r["k"].as_u64() == Some(22), "{r}");
    assert!(!out_dir.join("shards").exists(), "one circuit again: the shards are removed");
    // within the default: one circuit, no plan
    let small = d.join("small");
    let r: serde_json::Value = serde_json::from_str(&ok(&zkinfer(&["compile", MLP, "-o", &s(&small), "--json"]))).expect("json");
    assert!(r.get("shard_plan").is_none() && !small.join("shards.json").exists(), "{r}");
}

/// `compile --max-k` / `--shards` prints a shard plan and writes OUT/shards.json; a node that
/// cannot fit on its own is named.
#[test]
fn compile_plans_shards() {
    let d = tmp("shards");
    let ds = d.to_str().expect("utf8");
    let enc = "models/zoo/net_encoder_f32/model.onnx";
    // (the k of the fastest shape: the objective `--max-k` plans with; the default leans to
    // cheaper verification in more rows)
    let r: serde_json::Value = serde_json::from_str(&ok(&zkinfer(&["compile", enc, "-o", ds, "--optimize", "prove", "--json"]))).expect("json");
    let k = r["k"].as_u64().expect("k") as u32;
    let out = ok(&zkinfer(&["compile", enc, "-o", ds, "--max-k", &(k - 1).to_string()]));
    assert!(out.contains("shard plan"), "{out}");
    let plan: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("shards.json")).expect("shards.json")).expect("json");
    let shards = plan["shards"].as_array().expect("shards");
    assert!(shards.len() >= 2, "{plan}");
    assert!(shards.iter().all(|s| s["k"].as_u64().expect("k") < k as u64));
    let r: serde_json::Value = serde_json::from_str(&ok(&zkinfer(&["compile", enc, "-o", ds, "--shards", "3", "--json"]))).expect("json");
    assert_eq!(r["shard_plan"]["shards"].as_array().map(Vec::len), Some(3));
    // one shard alone cannot be proved (its links' digests come from the whole model's proof):
    // refused before any work, naming the model's directory
    let shard = d.join("shards").join("1");
    let out = zkinfer(&["prove", shard.to_str().expect("utf8"), "--input", "models/zoo/net_encoder_f32/input.json"]);
    fails_with(&out, "is one shard of a sharded model");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("prove {ds} instead")), "{}", String::from_utf8_lossy(&out.stderr));
    fails_with(&zkinfer(&["compile", "models/digits_cnn/model.onnx", "-o", ds, "--max-k", "10"]), "does not fit 2^10 rows on its own");
}

/// A model with 201 public words is compiled with them in a committed column by default (the
/// cost model predicts cheaper verification), as instances with `--public-column never`; it
/// proves and verifies natively and in the EVM with the same proof file and calldata as any
/// other, and a proof re-packed for another output is refused. The column is refused with
/// shards.
#[test]
fn public_column_end_to_end() {
    let d = tmp("public-column");
    let m = d.join("model");
    ok(&zkinfer(&["synth-mlp", "--layers", "2000,4,3", "-o", m.to_str().expect("utf8")]));
    let model = m.join("model.onnx");
    let (ms, ds) = (model.to_str().expect("utf8"), d.to_str().expect("utf8"));
    let never = ok(&zkinfer(&["compile", ms, "-o", ds, "--public-column", "never"]));
    assert!(never.contains("202 public values ->"), "{never}");
    fails_with(&zkinfer(&["compile", ms, "-o", ds, "--public-column", "always", "--shards", "2"]), "without --max-k/--shards");
    let compiled = ok(&zkinfer(&["compile", ms, "-o", ds]));
    assert!(compiled.contains("202 public values (their words in a committed column)"), "{compiled}");
    ok(&zkinfer(&["setup", ds]));
    ok(&zkinfer(&["prove", ds, "--input", m.join("input.json").to_str().expect("utf8")]));
    let proof = d.join("proof.json");
    let ps = proof.to_str().expect("utf8");
    ok(&zkinfer(&["verify", ds, ps]));
    let out: serde_json::Value = serde_json::from_str(&ok(&zkinfer(&["evm-verifier", ds, "--proof", ps, "--json"]))).expect("json");
    assert_eq!(out["valid"], true, "{out}");
    let settings: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("settings.json")).expect("settings")).expect("json");
    assert_eq!(settings["shape"]["public_column"], true);
    let (predicted, measured) = (settings["cost"]["verify_gas"].as_f64().expect("predicted gas"), out["gas_used"].as_f64().expect("gas"));
    assert!((predicted - measured).abs() < 0.03 * measured, "predicted {predicted} gas, measured {measured}");

    // another output, instances re-packed to match: refused natively and in the EVM
    let graph: zkinfer_circuits::ir::Graph = serde_json::from_value(settings["graph"].clone()).expect("graph");
    let mut p: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&proof).expect("read")).expect("json");
    let tensor = |t: &serde_json::Value| zkinfer_circuits::ir::Tensor { shape: serde_json::from_value(t["shape"].clone()).expect("shape"), data: serde_json::from_value(t["quantized"].clone()).expect("quantized") };
    let ins: Vec<_> = p["inputs"].as_array().expect("inputs").iter().map(tensor).collect();
    let mut outs: Vec<_> = p["outputs"].as_array().expect("outputs").iter().map(tensor).collect();
    outs[0].data[0] = if outs[0].data[0] == 0 { 1 } else { outs[0].data[0] - 1 };
    p["outputs"][0]["quantized"] = serde_json::to_value(&outs[0].data).expect("ser");
    let o = &graph.outputs[0];
    p["outputs"][0]["values"] = serde_json::to_value(zkinfer_circuits::exec::dequantize(o.scale, o.zero_point, &outs[0])).expect("ser");
    let inst = zkinfer_circuits::public::instances(&graph, &ins, &outs).expect("in range");
    p["instances"] = serde_json::to_value(inst.iter().map(zkinfer_prover::util::fr_to_hex).collect::<Vec<_>>()).expect("ser");
    let forged = d.join("forged.json");
    std::fs::write(&forged, serde_json::to_string(&p).expect("ser")).expect("write");
    fails_with(&zkinfer(&["verify", ds, forged.to_str().expect("utf8")]), "verification failed");
    let out = zkinfer(&["evm-verifier", ds, "--proof", forged.to_str().expect("utf8"), "--json"]);
    assert!(!out.status.success(), "a re-packed output verified in the EVM");

    // the market takes the model as it is: registered, a job posted, claimed, proved and paid
    // through the column verifier; batches are refused by name
    let md = d.join("market");
    let mk = |args: &[&str]| -> Output {
        let mut all = vec!["market", "--dir", md.to_str().expect("utf8")];
        all.extend_from_slice(args);
        zkinfer(&all)
    };
    let input = m.join("input.json");
    let input = input.to_str().expect("utf8");
    ok(&mk(&["deploy"]));
    assert!(ok(&mk(&["register", ds])).contains("registered model 1"));
    ok(&mk(&["stake", "--amount", "1"]));
    assert!(ok(&mk(&["post", ds, "--input", input, "--pay", "0.05", "--stake", "0.1"])).contains("posted job 1"));
    ok(&mk(&["claim", "1"]));
    let out = ok(&mk(&["submit", "1", ds, "--input", input]));
    assert!(out.contains("job 1 paid"), "{out}");
    fails_with(&mk(&["register-batch", ds, "--size", "2"]), "committed column");
}
