//! Batches: the proofs of several jobs of one model aggregated into one proof, which
//! `InferenceMarket.submitBatch` checks with one call to the model's batch verifier.
//!
//! The batch circuit is the shard aggregation circuit ([`aggregate_shards`]) over `n` copies of
//! the model's protocol with nothing held equal: it verifies the `n` proofs (each with the
//! Poseidon transcript, each for its own job's binding, input and output) and exposes every
//! instance of each, in order, after the accumulator. So each job stays bound to its own
//! binding (job id, provider, market, chain), input and output; if one proof is bad the
//! aggregated proof fails and the whole batch is refused.
//!
//! Keys live in `DIR/batch-<n>/` (a batch circuit is specific to its model and size).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::ProvingKey;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use zkinfer_circuits::ir::Tensor;
use zkinfer_circuits::layout::circuit::ModelCircuit;
use zkinfer_circuits::layout::lay_out;
use zkinfer_prover::aggregate::{self, AggregationLayout};
use zkinfer_prover::aggregate_shards::{self, Glue};
use zkinfer_prover::verify::Verdict;
pub use zkinfer_prover::aggregate::Snark;

use crate::files::{Settings, Workdir};
use crate::pipeline;

/// Where the keys of batches of `n` proofs of the model in `wd` live.
pub fn batch_dir(wd: &Workdir, n: usize) -> PathBuf {
    wd.0.join(format!("batch-{n}"))
}

/// The glue of a batch of `n` proofs with `per` instances each: nothing equal, every instance
/// exposed, proof by proof.
pub fn glue(n: usize, per: usize) -> Glue {
    Glue { equal: vec![], expose: (0..n).flat_map(|j| (0..per).map(move |i| (j, i))).collect() }
}

/// The batch circuit's keys for `n` proofs of a model.
pub struct BatchKeys {
    pub pk: ProvingKey<G1Affine>,
    pub layout: AggregationLayout,
    /// The SRS at the batch circuit's size.
    pub params: ParamsKZG<Bn256>,
    /// The model proof's protocol, `n` times.
    pub protocols: Vec<aggregate::Protocol>,
    pub glue: Glue,
    /// Seconds spent making the keys (`None`: read from `DIR/batch-<n>/`).
    pub made_in: Option<f64>,
}

/// The keys for batches of `n` (2..=64) proofs of the model in `wd` at 2^`k` rows: read from
/// `DIR/batch-<n>/` when they are for this model key, size and SRS, else made and written there.
pub fn batch_keys(wd: &Workdir, s: &Settings, srs: Option<&Path>, n: usize, k: u32, step: &dyn Fn(&str)) -> Result<BatchKeys> {
    if !(2..=64).contains(&n) {
        bail!("a batch holds 2 to 64 proofs, not {n}");
    }
    if crate::sharding::load(wd, s)?.is_some() {
        bail!("batches of a sharded model are not supported: each of its proofs is already an aggregation");
    }
    let model_params = pipeline::load_params(srs, s.k)?;
    let (vk, header) = pipeline::load_vk(wd, s, &model_params)?;
    let per = s.graph.num_instances();
    let protocol = aggregate::inner_protocol(&model_params, &vk, per);
    let hash = zkinfer_prover::keys::vk_hash(&vk);
    let hashes = vec![hash; n];
    let protocols = vec![protocol; n];
    let glue = glue(n, per);
    let params = pipeline::load_params(srs, k).context("batch SRS")?;
    let dir = batch_dir(wd, n);
    let vks_hash = aggregate_shards::shards_vk_hash(&hashes);
    let fingerprint = hex::encode(zkinfer_prover::srs::srs_fingerprint(&params));
    let reuse = aggregate::read_layout(&dir).ok().filter(|l| l.k == k && l.inner_vk_hash == vks_hash && l.inner_model_id == header.model_id.hex() && l.srs == fingerprint);
    let (pk, layout, made_in) = match reuse {
        Some(_) => {
            let (pk, layout) = aggregate::read_pk(&dir)?;
            (pk, layout, None)
        }
        None => {
            step(&format!("batch keys for {n} proofs (k = {k})"));
            let t = Instant::now();
            let (pk, mut layout) = aggregate_shards::setup(&params, &protocols, &hashes, &glue)?;
            layout.inner_model_id = header.model_id.hex();
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            aggregate::write_keys(&dir, &pk, &layout)?;
            (pk, layout, Some(t.elapsed().as_secs_f64()))
        }
    };
    Ok(BatchKeys { pk, layout, params, protocols, glue, made_in })
}

/// One proof of a batch: its quantized inputs and the binding it is proved for.
pub struct BatchJob {
    pub inputs: Vec<Tensor>,
    pub binding: Fr,
}

/// An aggregated proof of a batch.
pub struct BatchProof {
    pub proof: Vec<u8>,
    /// The accumulator (12 limbs), then each job's instances in turn.
    pub instances: Vec<Fr>,
    /// Seconds proving the jobs, and aggregating their proofs.
    pub jobs_seconds: f64,
    pub aggregate_seconds: f64,
}

/// Proves each job (Poseidon transcript, each verified natively) and aggregates the proofs
/// with `keys` ([`prove_jobs`], then [`aggregate_jobs`]).
pub fn prove_batch(wd: &Workdir, s: &Settings, srs: Option<&Path>, keys: &BatchKeys, jobs: &[BatchJob], step: &dyn Fn(&str)) -> Result<BatchProof> {
    if jobs.len() != keys.protocols.len() {
        bail!("{} jobs for a batch of {}", jobs.len(), keys.protocols.len());
    }
    let t = Instant::now();
    let snarks = prove_jobs(wd, s, srs, jobs, step)?;
    let jobs_seconds = t.elapsed().as_secs_f64();
    let mut p = aggregate_jobs(keys, snarks, step)?;
    p.jobs_seconds = jobs_seconds;
    Ok(p)
}

/// Each job's proof with the Poseidon transcript (verified natively), as the batch circuit
/// takes them.
pub fn prove_jobs(wd: &Workdir, s: &Settings, srs: Option<&Path>, jobs: &[BatchJob], step: &dyn Fn(&str)) -> Result<Vec<Snark>> {
    let params = pipeline::load_params(srs, s.k)?;
    let (pk, _) = pipeline::load_pk(wd, s, &params)?;
    let mut snarks = Vec::with_capacity(jobs.len());
    for (i, job) in jobs.iter().enumerate() {
        step(&format!("proof {}/{} (Poseidon transcript, k = {})", i + 1, jobs.len(), s.k));
        let mut ctx = lay_out(&s.graph, &job.inputs, s.shape)?;
        ctx.binding = job.binding;
        snarks.push(aggregate::prove_inner(&params, &pk, &ModelCircuit { ctx }, rand::rngs::OsRng)?);
    }
    Ok(snarks)
}

/// Aggregates the job proofs `snarks` with `keys`; the result is checked natively. Proofs that
/// do not verify give an aggregated proof that does not verify either (an error here; the
/// `unchecked` variant [`aggregate_jobs_unchecked`] returns it, for tests of the verifiers).
pub fn aggregate_jobs(keys: &BatchKeys, snarks: Vec<Snark>, step: &dyn Fn(&str)) -> Result<BatchProof> {
    let p = aggregate_jobs_unchecked(keys, snarks, step)?;
    if let Verdict::Invalid(why) = aggregate::verify(&keys.params, keys.pk.get_vk(), &p.instances, &p.proof) {
        bail!("the batch proof does not verify: {why}");
    }
    Ok(p)
}

/// [`aggregate_jobs`] without the native check of the result.
pub fn aggregate_jobs_unchecked(keys: &BatchKeys, snarks: Vec<Snark>, step: &dyn Fn(&str)) -> Result<BatchProof> {
    step(&format!("aggregation of {} proofs (k = {})", snarks.len(), keys.layout.k));
    let t = Instant::now();
    let (proof, instances) = aggregate_shards::prove(&keys.params, &keys.protocols, &keys.pk, &keys.layout, snarks, &keys.glue, rand::rngs::OsRng)?;
    Ok(BatchProof { proof, instances, jobs_seconds: 0.0, aggregate_seconds: t.elapsed().as_secs_f64() })
}
