//! One proof for a sharded model: every shard proof verified inside one aggregation circuit
//! (snark-verifier's `AggregationCircuit`, as [`crate::aggregate`] does for one proof), with
//! the links between shards checked *inside* it.
//!
//! The aggregation circuit re-exposes nothing of the shards but what the model itself
//! exposes: its public instances are the KZG accumulator (12 limbs), then exactly the
//! instances a single-circuit proof of the model would have (binding, inputs and outputs by
//! their visibility), so the Solidity verifier and the market see one proof of the model. The
//! link digests and the shards' other instances stay private witnesses of the aggregation
//! circuit, bound by copy constraints ([`Glue`]):
//! * every shard's binding equals shard 0's (the one exposed);
//! * every link: the maker's `linked` output digest equals each user's `linked` input digest.
//!
//! Each shard's verifying key is a constant of the circuit (no universality), so the
//! aggregation key proves statements about these shards, wired this way, only.

use std::panic::{catch_unwind, AssertUnwindSafe};

use halo2_base::gates::circuit::CircuitBuilderStage;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{ProvingKey, VerifyingKey};
use halo2_proofs::poly::commitment::Params;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use rand::RngCore;
use sha2::{Digest, Sha256};
use snark_verifier_sdk::halo2::aggregation::{AggregationCircuit, AggregationConfigParams, VerifierUniversality};
use snark_verifier_sdk::halo2::gen_dummy_snark_from_protocol;
use snark_verifier_sdk::snark_verifier::verifier::plonk::PlonkProtocol;
use snark_verifier_sdk::{Snark, SHPLONK};
use zkinfer_circuits::public::BINDING;

use crate::aggregate::{self, AggregationLayout};
use crate::error::{ProverError, Result};
use crate::linked::Wiring;
use crate::util;

/// (shard, instance index) of a shard proof's public instance.
pub type Slot = (usize, usize);

/// What the aggregation circuit adds to verifying the shard proofs: instances held equal,
/// and the instances it exposes (in order, after the accumulator).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glue {
    pub equal: Vec<(Slot, Slot)>,
    pub expose: Vec<Slot>,
}

impl Glue {
    /// The glue of a sharded model: bindings and links equal; the model's public instances
    /// exposed (shard 0's binding, then each public tensor's instances from the shard that
    /// takes or makes it, in the model's instance order).
    pub fn of(w: &Wiring) -> Glue {
        let mut equal: Vec<(Slot, Slot)> = (1..w.shard_instances.len()).map(|s| ((0, BINDING), (s, BINDING))).collect();
        equal.extend(w.links.iter().map(|l| (l.from, l.to)));
        let mut exposed: Vec<_> = w.exposed.iter().collect();
        exposed.sort_by_key(|e| e.model.start);
        let mut expose = vec![(0, BINDING)];
        for e in exposed {
            expose.extend(e.at.clone().map(|i| (e.shard, i)));
        }
        Glue { equal, expose }
    }

    /// The same glue without its equalities: only for tests showing that they are what
    /// rejects a broken link.
    #[doc(hidden)]
    pub fn without_equalities(&self) -> Glue {
        Glue { equal: vec![], expose: self.expose.clone() }
    }

    fn check(&self, counts: &[usize]) -> Result<()> {
        let ok = |&(s, i): &Slot| counts.get(s).is_some_and(|&n| i < n);
        if self.equal.iter().all(|(a, b)| ok(a) && ok(b)) && self.expose.iter().all(ok) {
            Ok(())
        } else {
            Err(ProverError::Invalid { what: "shard aggregation", why: format!("the glue refers to instances the shard proofs do not have ({counts:?})") })
        }
    }
}

fn circuit(stage: CircuitBuilderStage, config: AggregationConfigParams, params: &ParamsKZG<Bn256>, snarks: Vec<Snark>, glue: &Glue) -> Result<AggregationCircuit> {
    let counts: Vec<usize> = snarks.iter().map(|s| s.instances.iter().map(Vec::len).sum()).collect();
    glue.check(&counts)?;
    catch_unwind(AssertUnwindSafe(|| {
        let mut c = AggregationCircuit::new::<SHPLONK>(stage, config, params, snarks, VerifierUniversality::None);
        let prev = c.previous_instances().clone();
        let ctx = c.builder.main(0);
        for &(a, b) in &glue.equal {
            ctx.constrain_equal(&prev[a.0][a.1], &prev[b.0][b.1]);
        }
        c.builder.assigned_instances[0].extend(glue.expose.iter().map(|&(s, i)| prev[s][i]));
        c
    }))
    .map_err(|p| ProverError::halo2("shard aggregation witness", util::panic_message(&p)))
}

/// sha256 over the shard verifying keys' hashes: what `inner_vk_hash` records for a sharded
/// model's aggregation keys.
pub fn shards_vk_hash(vk_hashes: &[[u8; 32]]) -> String {
    let mut h = Sha256::new();
    h.update(b"zkinfer-shard-vks/1");
    for v in vk_hashes {
        h.update(v);
    }
    hex::encode(h.finalize())
}

fn keygen_circuit(params: &ParamsKZG<Bn256>, protocols: &[PlonkProtocol<G1Affine>], glue: &Glue) -> Result<(AggregationCircuit, AggregationConfigParams)> {
    let k = params.k();
    let dummies = protocols
        .iter()
        .map(|p| catch_unwind(AssertUnwindSafe(|| gen_dummy_snark_from_protocol::<SHPLONK>(p.clone()))).map_err(|e| ProverError::halo2("shard aggregation keygen", util::panic_message(&e))))
        .collect::<Result<Vec<_>>>()?;
    let start = AggregationConfigParams { degree: k, lookup_bits: k as usize - 1, ..Default::default() };
    let mut c = circuit(CircuitBuilderStage::Keygen, start, params, dummies, glue)?;
    let config = catch_unwind(AssertUnwindSafe(|| c.calculate_params(Some(20)))).map_err(|p| ProverError::halo2("shard aggregation keygen", util::panic_message(&p)))?;
    Ok((c, config))
}

/// Keys of the aggregation circuit at `2^k` rows (`params` at that size) for the shards whose
/// protocols ([`crate::aggregate::inner_protocol`] of each shard key) are `protocols`, glued
/// by `glue`; `vk_hashes` are the shard keys' hashes (recorded in the layout).
pub fn setup(params: &ParamsKZG<Bn256>, protocols: &[PlonkProtocol<G1Affine>], vk_hashes: &[[u8; 32]], glue: &Glue) -> Result<(ProvingKey<G1Affine>, AggregationLayout)> {
    aggregate::check_size(params)?;
    let (c, config) = keygen_circuit(params, protocols, glue)?;
    aggregate::keygen(params, c, config, glue.expose.len(), shards_vk_hash(vk_hashes), "shard aggregation keygen")
}

/// Checks that `vk` is the aggregation verifying key of these shards and glue: regenerates it
/// (deterministic) and compares the bytes.
pub fn check_vk(params: &ParamsKZG<Bn256>, protocols: &[PlonkProtocol<G1Affine>], glue: &Glue, layout: &AggregationLayout, vk: &VerifyingKey<G1Affine>) -> Result<()> {
    if params.k() != layout.k {
        return Err(ProverError::KMismatch { what: "the aggregation SRS".into(), expected: layout.k, found: params.k() });
    }
    let (c, config) = keygen_circuit(params, protocols, glue)?;
    aggregate::check_regenerated(params, c, config, layout, vk, "these shard keys")
}

/// Aggregates the shard proofs `snarks` (from [`crate::aggregate::prove_inner`], which
/// verifies each natively, in shard order; each checked here to be a proof for its shard's
/// protocol, `protocols`): returns the proof and its public instances (accumulator limbs,
/// then the model's instances). A set of shard proofs whose links do not hold still gives a
/// proof, but one that does not verify: the glue's copy constraints fail.
pub fn prove(params: &ParamsKZG<Bn256>, protocols: &[PlonkProtocol<G1Affine>], pk: &ProvingKey<G1Affine>, layout: &AggregationLayout, snarks: Vec<Snark>, glue: &Glue, rng: impl RngCore + Send) -> Result<(Vec<u8>, Vec<Fr>)> {
    if snarks.len() != protocols.len() {
        return Err(ProverError::Invalid { what: "shard proofs", why: format!("{} proofs for {} shards", snarks.len(), protocols.len()) });
    }
    for (i, (snark, protocol)) in snarks.iter().zip(protocols).enumerate() {
        if snark.protocol.preprocessed != protocol.preprocessed || snark.instances.len() != 1 || snark.instances[0].len() != protocol.num_instance.first().copied().unwrap_or(0) {
            return Err(ProverError::Invalid { what: "shard proof", why: format!("proof {i} was made for another key than shard {i}'s") });
        }
    }
    prove_glued(params, pk, layout, snarks, glue, rng)
}

/// The aggregation proof without the per-shard checks of [`prove`] (each shard's protocol is
/// still the circuit's). Public for tests that aggregate deliberately broken shard sets.
#[doc(hidden)]
pub fn prove_glued(params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, layout: &AggregationLayout, snarks: Vec<Snark>, glue: &Glue, rng: impl RngCore + Send) -> Result<(Vec<u8>, Vec<Fr>)> {
    aggregate::check_proving_key(params, pk, layout)?;
    let c = circuit(CircuitBuilderStage::Prover, layout.config(), params, snarks, glue)?;
    aggregate::prove_circuit(params, pk, layout, c, rng, "shard aggregation proving")
}
