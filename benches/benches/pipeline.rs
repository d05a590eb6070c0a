//! compile / setup / prove / verify of the bundled models.
//! `cargo bench -p zkinfer-benches` (prints k, rows, proof bytes, peak RSS per model).

use criterion::{criterion_group, criterion_main, Criterion};
use zkinfer_benches::{load, peak_rss_mib};
use zkinfer_circuits::layout::circuit::{instance_values, ModelCircuit};
use zkinfer_circuits::layout::{ctx::Shape, lay_out};
use zkinfer_circuits::onnx::{import_file, ImportOptions};
use zkinfer_prover::{keys, prove, sizing, srs, verify};

const MODELS: [&str; 4] = ["digits_mlp_int8", "digits_mlp", "digits_cnn_int8", "digits_cnn"];

fn pipeline(c: &mut Criterion) {
    for m in MODELS {
        let (g, inputs) = load(m);
        let path = zkinfer_benches::models_dir().join(m).join("model.onnx");
        let mut grp = c.benchmark_group(m);
        grp.sample_size(10);
        grp.bench_function("compile", |b| {
            b.iter(|| {
                let g = import_file(&path, &ImportOptions::default()).expect("import");
                lay_out(&g, &inputs, Shape::default()).expect("layout")
            })
        });
        let circuit = ModelCircuit { ctx: lay_out(&g, &inputs, Shape::default()).expect("layout") };
        let k = sizing::k_for(&circuit);
        let (params, _) = srs::dev_srs(k).expect("dev srs (benchmark only)");
        grp.bench_function("setup", |b| b.iter(|| keys::keygen(&params, &circuit).expect("keygen")));
        let pk = keys::keygen(&params, &circuit).expect("keygen");
        let inst = instance_values(&circuit.ctx);
        grp.bench_function("prove", |b| b.iter(|| prove::prove(&params, &pk, &circuit, &inst, rand::rngs::OsRng).expect("prove")));
        let proof = prove::prove(&params, &pk, &circuit, &inst, rand::rngs::OsRng).expect("prove");
        grp.bench_function("verify", |b| b.iter(|| assert!(verify::verify(&params, pk.get_vk(), &inst, &proof).is_valid())));
        grp.finish();
        eprintln!(
            "{m}: k = {k}, rows = {}, copies = {}, proof = {} bytes, peak RSS so far = {:.0} MiB",
            circuit.ctx.rows.len(),
            circuit.ctx.copies.len(),
            proof.len(),
            peak_rss_mib()
        );
    }
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
