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
//! Past [`aggregate_shards::FAN_IN`] (4) proofs the batch is aggregated as a tree (groups of
//! at most four job proofs, then groups of group proofs, then the root; [`Glue::tree`]), so
//! no circuit verifies more than four proofs: a batch of 16 or 64 needs circuits no larger
//! than a batch of 4. The root exposes every job's instances in job order, as one circuit
//! would, so the batch verifier and `submitBatch` are the same.
//!
//! With a wrapped root ([`BatchPlan::root_k`]) the circuit that would be the root becomes a
//! group, and the root verifies that one proof at its own, larger size: it needs few columns,
//! so the verifier the chain runs checks fewer commitments (less gas), for one more
//! aggregation proof.
//!
//! Keys live in `DIR/batch-<n>/` (a batch circuit is specific to its model and size; a tree's
//! group keys in `DIR/batch-<n>/groups/`), with the plan they were made for in `plan.json`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::VerifyingKey;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use zkinfer_circuits::ir::Tensor;
use zkinfer_circuits::layout::circuit::ModelCircuit;
use zkinfer_circuits::layout::lay_out;
use zkinfer_prover::aggregate::{self, AggregationLayout};
use zkinfer_prover::identity::ModelId;
use zkinfer_prover::aggregate_shards::{self, Glue, Tree};
use zkinfer_prover::verify::Verdict;
pub use zkinfer_prover::aggregate::Snark;

use crate::files::{Settings, Workdir};
use crate::sharding::AggregationKeys;
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

/// How batches are aggregated: every aggregation circuit below the root at 2^`k` rows, the root
/// too unless `root_k` wraps it: then the circuit that would be the root is one more group (at
/// 2^`k` rows) and the root, at 2^`root_k` rows, verifies that one proof
/// ([`Glue::wrapped_tree`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BatchPlan {
    pub k: u32,
    #[serde(default)]
    pub root_k: Option<u32>,
}

impl BatchPlan {
    /// The root circuit's size (the batch verifier's circuit).
    pub fn root_k(&self) -> u32 {
        self.root_k.unwrap_or(self.k)
    }

    fn check(&self) -> Result<()> {
        for (what, k) in [("k", Some(self.k)), ("root k", self.root_k)] {
            if let Some(k) = k {
                if !(18..=25).contains(&k) {
                    bail!("batch {what} {k}: an aggregation circuit needs 18..=25");
                }
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for BatchPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.root_k {
            None => write!(f, "k {}", self.k),
            Some(r) => write!(f, "k {}, wrapped root at k {r}", self.k),
        }
    }
}

/// The plan the keys in `DIR/batch-<n>/` were made for (`plan.json`; keys made before plans
/// were recorded: their root's size, unwrapped).
pub fn read_plan(wd: &Workdir, n: usize) -> Result<BatchPlan> {
    let dir = batch_dir(wd, n);
    let file = dir.join("plan.json");
    match std::fs::read(&file) {
        Ok(b) => {
            let p: BatchPlan = serde_json::from_slice(&b).with_context(|| format!("{}: not a batch plan", file.display()))?;
            p.check().with_context(|| file.display().to_string())?;
            Ok(p)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let k = aggregate::read_layout(&dir).map(|l| l.k).with_context(|| format!("no batch keys for {n} jobs in {}: run `zkinfer market register-batch {} --size {n}` first", dir.display(), wd.0.display()))?;
            Ok(BatchPlan { k, root_k: None })
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", file.display())),
    }
}

/// The keys of batches of `n` proofs of one model.
pub struct BatchKeys {
    pub plan: BatchPlan,
    /// Batches of up to [`aggregate_shards::FAN_IN`] proofs: the one circuit's keys. A tree's
    /// root keys are read from disk only after its groups are proved (and dropped after), so
    /// that no step holds two proving keys; until then only what checking needs is held.
    root: Root,
    /// Past [`aggregate_shards::FAN_IN`] proofs, the tree whose groups aggregate the job proofs
    /// before the root (group keys in `DIR/batch-<n>/groups/`, loaded one at a time), with the
    /// root's member protocols and key hashes (the last level's groups).
    pub tree: Option<Tree>,
    root_members: (Vec<aggregate::Protocol>, Vec<[u8; 32]>),
    pub n: usize,
    dir: PathBuf,
    srs: Option<PathBuf>,
    /// The job proofs' protocol and key hash, `n` times.
    leaves: Vec<aggregate::Protocol>,
    leaf_hashes: Vec<[u8; 32]>,
    id: ModelId,
}

enum Root {
    Held(AggregationKeys),
    /// A tree's root: its SRS, verifying key and layout.
    Verifier(ParamsKZG<Bn256>, VerifyingKey<G1Affine>, AggregationLayout),
}

impl BatchKeys {
    /// The root (or only) circuit's SRS: the batch verifier's.
    pub fn params(&self) -> &ParamsKZG<Bn256> {
        match &self.root {
            Root::Held(r) => &r.params,
            Root::Verifier(p, ..) => p,
        }
    }

    /// The root (or only) circuit's verifying key: the batch verifier checks its proofs.
    pub fn vk(&self) -> &VerifyingKey<G1Affine> {
        match &self.root {
            Root::Held(r) => r.pk.get_vk(),
            Root::Verifier(_, vk, _) => vk,
        }
    }

    /// The root (or only) circuit's layout (its `inner_model_id` is the model's identity).
    pub fn layout(&self) -> &AggregationLayout {
        match &self.root {
            Root::Held(r) => &r.layout,
            Root::Verifier(.., l) => l,
        }
    }
}

/// The keys for batches of `n` (2..=64) proofs of the model in `wd`, aggregated as `plan` says:
/// read from `DIR/batch-<n>/` when they are for this model key, size, plan and SRS, else made
/// and written there. Past [`aggregate_shards::FAN_IN`] proofs the batch is aggregated as a
/// tree ([`Glue::tree`]): no circuit verifies more than that many proofs, so a batch of 16 or 64
/// needs no larger circuit than a batch of 4.
pub fn batch_keys(wd: &Workdir, s: &Settings, srs: Option<&Path>, n: usize, plan: BatchPlan, step: &dyn Fn(&str)) -> Result<BatchKeys> {
    if !(2..=64).contains(&n) {
        bail!("a batch holds 2 to 64 proofs, not {n}");
    }
    plan.check()?;
    let k = plan.k;
    if crate::sharding::load(wd, s)?.is_some() {
        bail!("batches of a sharded model are not supported: each of its proofs is already an aggregation");
    }
    if s.shape.public_column {
        bail!("batches of a model whose public words sit in a committed column are not supported (the batch circuit would have to recompute each proof's keccak point): compile it with --public-column never");
    }
    let model_params = pipeline::load_params(srs, s.k)?;
    let (vk, header) = pipeline::load_vk(wd, s, &model_params)?;
    let per = s.graph.num_instances();
    let protocol = aggregate::inner_protocol(&model_params, &vk, per);
    let hash = zkinfer_prover::keys::vk_hash(&vk);
    let (leaves, leaf_hashes) = (vec![protocol; n], vec![hash; n]);
    let glue = glue(n, per);
    let dir = batch_dir(wd, n);
    let tree = match plan.root_k {
        None => glue.tree(n, aggregate_shards::FAN_IN)?,
        Some(_) => Some(glue.wrapped_tree(n, aggregate_shards::FAN_IN)?),
    };
    let id = header.model_id;
    let (root, root_members) = match &tree {
        None => (crate::sharding::keys_for(&dir, srs, k, leaves.clone(), &leaf_hashes, glue, id, step).context("batch keys")?, (vec![], vec![])),
        Some(t) => {
            let (gp, gh) = crate::sharding::group_protocols(t, &dir, srs, k, &leaves, &leaf_hashes, &id, step).context("batch keys")?;
            (crate::sharding::keys_for(&dir, srs, plan.root_k(), gp.clone(), &gh, t.root.clone(), id, step).context("batch keys")?, (gp, gh))
        }
    };
    let plan_file = dir.join("plan.json");
    std::fs::write(&plan_file, serde_json::to_vec_pretty(&plan)?).with_context(|| format!("writing {}", plan_file.display()))?;
    let root = match tree {
        None => Root::Held(root),
        // (the root's proving key is dropped here, read again after the groups)
        Some(_) => Root::Verifier(root.params, root.pk.get_vk().clone(), root.layout),
    };
    Ok(BatchKeys { plan, root, tree, root_members, n, dir, srs: srs.map(Path::to_path_buf), leaves, leaf_hashes, id })
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
    if jobs.len() != keys.n {
        bail!("{} jobs for a batch of {}", jobs.len(), keys.n);
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
    if let Verdict::Invalid(why) = aggregate::verify(keys.params(), keys.vk(), &p.instances, &p.proof) {
        bail!("the batch proof does not verify: {why}");
    }
    Ok(p)
}

/// [`aggregate_jobs`] without the native check of the result.
pub fn aggregate_jobs_unchecked(keys: &BatchKeys, snarks: Vec<Snark>, step: &dyn Fn(&str)) -> Result<BatchProof> {
    if snarks.len() != keys.n {
        bail!("{} proofs for a batch of {}", snarks.len(), keys.n);
    }
    let t = Instant::now();
    let (snarks, loaded) = match (&keys.tree, &keys.root) {
        (None, Root::Held(_)) => (snarks, None),
        (Some(tree), _) => {
            let snarks = crate::sharding::prove_levels(tree, &keys.dir, keys.srs.as_deref(), keys.plan.k, snarks, keys.leaves.clone(), keys.leaf_hashes.clone(), keys.id, step)?.0;
            // the groups' keys are gone: now the root's
            let (gp, gh) = &keys.root_members;
            let root = crate::sharding::keys_for(&keys.dir, keys.srs.as_deref(), keys.plan.root_k(), gp.clone(), gh, tree.root.clone(), keys.id, step).context("batch root keys")?;
            if root.pk.get_vk().transcript_repr() != keys.vk().transcript_repr() {
                bail!("the batch root keys in {} changed since they were loaded: load the batch keys again", keys.dir.display());
            }
            (snarks, Some(root))
        }
        (None, Root::Verifier(..)) => bail!("batch keys without the root's proving key"),
    };
    let r = match (&loaded, &keys.root) {
        (Some(r), _) | (None, Root::Held(r)) => r,
        (None, Root::Verifier(..)) => bail!("batch keys without the root's proving key"),
    };
    step(&format!("aggregation of {} proofs (k = {})", snarks.len(), r.layout.k));
    let (proof, instances) = aggregate_shards::prove(&r.params, &r.protocols, &r.pk, &r.layout, snarks, &r.glue, rand::rngs::OsRng)?;
    Ok(BatchProof { proof, instances, jobs_seconds: 0.0, aggregate_seconds: t.elapsed().as_secs_f64() })
}

/// The cost model's prediction of a batch's aggregation steps (every group of a tree and the
/// root), seconds on the reference machine.
pub fn aggregation_seconds(keys: &BatchKeys) -> f64 {
    keys.layout().counts().prove_seconds() + keys.tree.as_ref().map_or(0.0, |t| crate::sharding::tree_seconds(t, &keys.dir))
}
