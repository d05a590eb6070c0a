//! The identity-check example (models/identity_match, README "Privacy"): an embedding CNN on a
//! private image, compared with a hashed template (its Poseidon digest is the registered
//! commitment); only the match bit is public. Genuine and impostor probes, a wrong template
//! and a tampered result, all through the `zkinfer` binary with real proofs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use zkinfer_circuits::ir::Graph;
use zkinfer_circuits::public::{instances_of, Revealed};
use zkinfer_prover::util::{fr_from_hex, fr_to_hex};

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

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json")
}

/// The match bit a proof file shows.
fn matched(proof: &Path) -> f64 {
    json(proof)["outputs"][0]["values"][0].as_f64().expect("match value")
}

#[test]
fn identity_check_with_private_image_and_hashed_template() {
    let m = repo().join("models/identity_match");
    let d = std::env::temp_dir().join(format!("zkinfer-identity-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("dir");
    let ds = d.to_str().expect("utf8");
    ok(&zkinfer(&["compile", "models/identity_match/model.onnx", "-o", ds, "--visibility", "image=private", "--visibility", "template=hashed"]));
    ok(&zkinfer(&["setup", ds]));

    // enrollment: the registered commitment of each person's template
    let samples = json(&m.join("samples.json"));
    let templates = json(&m.join("templates.json"));
    let commitment = |person: usize| -> String {
        let f = d.join(format!("template{person}.json"));
        std::fs::write(&f, templates["templates"][person].to_string()).expect("write");
        let out = ok(&zkinfer(&["hash", ds, "--tensor", &format!("template={}", f.display())]));
        out.split_whitespace().last().expect("digest").to_string()
    };
    let persons: Vec<usize> = samples["persons"].as_array().expect("persons").iter().map(|v| v.as_u64().expect("id") as usize).collect();
    let want: Vec<f64> = samples["outputs"].as_array().expect("outputs").iter().map(|v| v[0].as_f64().expect("bit")).collect();

    // a genuine probe: match = 1, and the proof is about the registered template
    let genuine = d.join("genuine.json");
    ok(&zkinfer(&["prove", ds, "--input", "models/identity_match/input.json", "-o", genuine.to_str().expect("utf8")]));
    assert_eq!(matched(&genuine), 1.0);
    let p = json(&genuine);
    assert_eq!(p["instances"].as_array().expect("instances").len(), 3, "binding, template digest, match");
    for t in p["inputs"].as_array().expect("inputs") {
        assert!(t["quantized"].as_array().expect("list").is_empty(), "input values leaked into the proof: {}", t["name"]);
    }
    let registered = commitment(persons[0]);
    let gs = genuine.to_str().expect("utf8");
    ok(&zkinfer(&["verify", ds, gs, "--expect", &format!("template={registered}")]));
    // a wrong template: the proof does not match another person's commitment
    let other = commitment((persons[0] + 1) % 10);
    fails_with(&zkinfer(&["verify", ds, gs, "--expect", &format!("template={other}")]), "the proof is about other data");

    // impostor probes (another person's image against the registered template): match = 0
    let impostor = d.join("impostor.json");
    ok(&zkinfer(&["prove", ds, "--input", "models/identity_match/impostor.json", "-o", impostor.to_str().expect("utf8")]));
    assert_eq!(matched(&impostor), 0.0);
    ok(&zkinfer(&["verify", ds, impostor.to_str().expect("utf8"), "--expect", &format!("template={}", commitment(persons[1]))]));
    // more sample pairs, genuine and impostor alike, give ORT's decision
    for i in [2usize, 5] {
        let f = d.join(format!("pair{i}.json"));
        std::fs::write(&f, serde_json::json!({ "input_data": samples["inputs"][i] }).to_string()).expect("write");
        let pf = d.join(format!("proof{i}.json"));
        ok(&zkinfer(&["prove", ds, "--input", f.to_str().expect("utf8"), "-o", pf.to_str().expect("utf8")]));
        assert_eq!(matched(&pf), want[i], "pair {i}");
        ok(&zkinfer(&["verify", ds, pf.to_str().expect("utf8"), "--expect", &format!("template={}", commitment(persons[i]))]));
    }

    // a tampered result: the impostor's proof claiming a match, with consistent instances
    let settings = json(&d.join("settings.json"));
    let graph: Graph = serde_json::from_value(settings["graph"].clone()).expect("graph");
    let mut forged = json(&impostor);
    let digest = fr_from_hex(forged["inputs"][1]["digest"].as_str().expect("digest")).expect("hex");
    let one = [1i64];
    let inst = instances_of(&graph, Default::default(), &[Revealed::Nothing, Revealed::Digest(digest), Revealed::Values(&one)]).expect("instances");
    forged["instances"] = serde_json::json!(inst.iter().map(fr_to_hex).collect::<Vec<_>>());
    forged["outputs"][0]["quantized"] = serde_json::json!([1]);
    forged["outputs"][0]["values"] = serde_json::json!([1.0]);
    let fp = d.join("forged.json");
    std::fs::write(&fp, forged.to_string()).expect("write");
    fails_with(&zkinfer(&["verify", ds, fp.to_str().expect("utf8")]), "verification failed");
    // and on chain
    ok(&zkinfer(&["evm-verifier", ds, "--proof", gs]));
    fails_with(&zkinfer(&["evm-verifier", ds, "--proof", fp.to_str().expect("utf8")]), "rejected");
}
