//! Proof aggregation: one model proof verified inside a second, narrow circuit (snark-verifier's
//! `AggregationCircuit` on halo2-base), so that the EVM verifies a proof whose verifier cost no
//! longer depends on the model circuit's columns, lookups or gates.
//!
//! 1. [`prove_inner`]: the model circuit is proved as usual but with the Poseidon transcript
//!    (what a circuit can re-run cheaply); [`verify_inner`] checks it natively.
//! 2. [`setup`]: keys of the aggregation circuit for one model verifying key, generated from a
//!    dummy proof of that key (no model input needed). The model's key is a constant of the
//!    aggregation circuit, so the aggregation key proves statements about that model only.
//! 3. [`prove`]: the aggregation proof (Keccak transcript, like model proofs). Its public
//!    instances are the KZG accumulator (12 limbs, [`ACCUMULATOR_LIMBS`]) followed by the model
//!    proof's own instances, re-exposed unchanged (binding, digests, public values).
//! 4. [`verify`] natively, or [`crate::evm`] on chain: both check the aggregation proof *and*
//!    the accumulator's pairing, which is what makes the model proof's check complete.

use std::panic::{catch_unwind, AssertUnwindSafe};

use halo2_base::gates::circuit::CircuitBuilderStage;
use halo2_base::gates::flex_gate::MultiPhaseThreadBreakPoints;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{create_proof, keygen_pk, keygen_vk, verify_proof, ProvingKey, VerifyingKey};
use halo2_proofs::poly::commitment::{Params, ParamsProver};
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::multiopen::{ProverSHPLONK, VerifierSHPLONK};
use halo2_proofs::poly::kzg::strategy::SingleStrategy;
use halo2_proofs::transcript::TranscriptWriterBuffer;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use snark_verifier_sdk::halo2::aggregation::{AggregationCircuit, AggregationConfigParams, VerifierUniversality};
use snark_verifier_sdk::halo2::{gen_dummy_snark_from_protocol, PoseidonTranscript, POSEIDON_SPEC};
use snark_verifier_sdk::snark_verifier::loader::native::NativeLoader;
use snark_verifier_sdk::snark_verifier::pcs::kzg::KzgDecidingKey;
use snark_verifier_sdk::snark_verifier::system::halo2::transcript::evm::EvmTranscript;
use snark_verifier_sdk::snark_verifier::system::halo2::{compile, Config};
use snark_verifier_sdk::snark_verifier::verifier::plonk::PlonkProtocol;
use snark_verifier_sdk::snark_verifier::verifier::SnarkVerifier;
use snark_verifier_sdk::{CircuitExt, PlonkVerifier, LIMBS, SHPLONK};
pub use snark_verifier_sdk::Snark;
use zkinfer_circuits::layout::circuit::{instance_values, ModelCircuit};

use crate::error::{ProverError, Result};
use crate::prove::ProofTranscriptWriter;
use crate::srs::srs_fingerprint;
use crate::{fsutil, util};
use crate::verify::Verdict;

/// Public instances the accumulator takes ahead of the model's own: two G1 points, each
/// coordinate in 3 limbs of 88 bits.
pub const ACCUMULATOR_LIMBS: usize = 4 * LIMBS;

/// A model (or shard) circuit's protocol as the aggregation circuit sees it.
pub type Protocol = PlonkProtocol<G1Affine>;

/// The smallest aggregation circuit size (`2^k` rows) snark-verifier's in-circuit verifier fits.
pub const MIN_K: u32 = 18;

/// The model circuit's protocol as the aggregation circuit sees it (from its verifying key).
pub fn inner_protocol(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, num_instances: usize) -> PlonkProtocol<G1Affine> {
    compile(params, vk, Config::kzg().with_num_instance(vec![num_instances]))
}

/// An aggregation proof's protocol as another aggregation circuit sees it (an inner level of a
/// tree, [`crate::aggregate_shards::TreeGlue`]): its first [`ACCUMULATOR_LIMBS`] instances are
/// the accumulator it defers, which the outer circuit folds into its own.
pub fn aggregation_protocol(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, num_instances: usize) -> PlonkProtocol<G1Affine> {
    compile(params, vk, Config::kzg().with_num_instance(vec![num_instances]).with_accumulator_indices(AggregationCircuit::accumulator_indices()))
}

/// Proves the model circuit with the Poseidon transcript, for aggregation. Same checks as
/// [`crate::prove::prove`]; the result is verified natively before it is returned.
pub fn prove_inner(params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, circuit: &ModelCircuit, rng: impl RngCore + Send) -> Result<Snark> {
    crate::prove::check_ready(params, pk, circuit)?;
    if circuit.ctx.shape.public_column {
        // (its point is drawn from a keccak of its words and a commitment, which an
        // aggregation circuit does not recompute)
        return Err(ProverError::Invalid { what: "circuit", why: "a circuit with the public column cannot be aggregated (batches, `aggregate`): compile the model with --public-column never".into() });
    }
    let instances = instance_values(&circuit.ctx);
    let columns: [&[Fr]; 1] = [&instances];
    let proof = catch_unwind(AssertUnwindSafe(|| {
        let mut transcript = PoseidonTranscript::<NativeLoader, Vec<u8>>::from_spec(vec![], POSEIDON_SPEC.clone());
        create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(params, pk, std::slice::from_ref(circuit), &[&columns], rng, &mut transcript)
            .map_err(|e| ProverError::halo2("proving", e))?;
        Ok::<_, ProverError>(transcript.finalize())
    }))
    .map_err(|p| ProverError::halo2("proving", util::panic_message(&p)))??;
    let snark = Snark::new(inner_protocol(params, pk.get_vk(), instances.len()), vec![instances], proof);
    match verify_inner(params, pk.get_vk(), &snark) {
        Verdict::Valid => Ok(snark),
        Verdict::Invalid(why) => Err(ProverError::Witness(format!("the model proof for aggregation does not verify: {why}"))),
    }
}

/// Verifies a model proof made by [`prove_inner`] natively.
pub fn verify_inner(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, snark: &Snark) -> Verdict {
    let Some(instances) = snark.instances.first() else {
        return Verdict::Invalid("the model proof has no instance column".into());
    };
    let columns: [&[Fr]; 1] = [instances];
    let res = catch_unwind(AssertUnwindSafe(|| {
        let mut transcript = PoseidonTranscript::<NativeLoader, &[u8]>::from_spec(snark.proof(), POSEIDON_SPEC.clone());
        verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<'_, Bn256>, _, _, SingleStrategy<'_, Bn256>>(
            params.verifier_params(),
            vk,
            SingleStrategy::new(params),
            &[&columns],
            &mut transcript,
        )
    }));
    match res {
        Err(p) => Verdict::Invalid(format!("verifier failed on malformed input: {}", util::panic_message(&p))),
        Ok(Err(e)) => Verdict::Invalid(format!("proof rejected: {e}")),
        Ok(Ok(())) => Verdict::Valid,
    }
}

/// What proving with an aggregation key needs besides the key: the circuit's configuration
/// and where halo2-base breaks its cells into columns (both fixed by [`setup`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AggregationLayout {
    pub k: u32,
    pub num_advice: usize,
    pub num_lookup_advice: usize,
    pub num_fixed: usize,
    pub lookup_bits: usize,
    pub break_points: MultiPhaseThreadBreakPoints,
    /// Public instances of the aggregated model proof.
    pub inner_instances: usize,
    /// `vk_hash` (hex) of the model key the aggregation circuit verifies.
    pub inner_vk_hash: String,
    /// The model identity ([`crate::identity`], hex) of that key with its settings, set by
    /// whoever made the keys: the key bytes alone do not say which circuit they are.
    #[serde(default)]
    pub inner_model_id: String,
    /// `srs_fingerprint` (hex) of the SRS the aggregation keys were made with.
    pub srs: String,
}

impl AggregationLayout {
    pub(crate) fn config(&self) -> AggregationConfigParams {
        AggregationConfigParams { degree: self.k, num_advice: self.num_advice, num_lookup_advice: self.num_lookup_advice, num_fixed: self.num_fixed, lookup_bits: self.lookup_bits }
    }

    /// The cost model's counts for the aggregation circuit (its prediction of the proving time
    /// is [`crate::cost::Counts::prove_seconds`]; fitted on model circuits, not on these).
    pub fn counts(&self) -> crate::cost::Counts {
        use halo2_proofs::plonk::{Circuit, ConstraintSystem};
        let mut cs = ConstraintSystem::<Fr>::default();
        let _ = AggregationCircuit::configure_with_params(&mut cs, self.config());
        crate::cost::Counts::of_cs(&cs, self.k, false)
    }

    /// Public instances of an aggregation proof: the accumulator, then the model's.
    pub fn num_instances(&self) -> usize {
        ACCUMULATOR_LIMBS + self.inner_instances
    }
}

fn circuit(stage: CircuitBuilderStage, config: AggregationConfigParams, params: &ParamsKZG<Bn256>, snark: Snark) -> Result<AggregationCircuit> {
    catch_unwind(AssertUnwindSafe(|| {
        let mut c = AggregationCircuit::new::<SHPLONK>(stage, config, params, [snark], VerifierUniversality::None);
        c.expose_previous_instances(false);
        c
    }))
    .map_err(|p| ProverError::halo2("aggregation witness", util::panic_message(&p)))
}

/// Keys of the aggregation circuit at `2^k` rows (`params` at that size) for the model key
/// `inner_vk` (with `inner_instances` public instances, `inner_params` its SRS).
pub fn setup(params: &ParamsKZG<Bn256>, inner_params: &ParamsKZG<Bn256>, inner_vk: &VerifyingKey<G1Affine>, inner_instances: usize) -> Result<(ProvingKey<G1Affine>, AggregationLayout)> {
    check_size(params)?;
    if inner_params.get_g()[0] != params.get_g()[0] || inner_params.s_g2() != params.s_g2() {
        return Err(ProverError::SrsMismatch { what: "the aggregation SRS (it must be the model's SRS at a larger size)".into() });
    }
    let (c, config) = keygen_circuit(params, inner_params, inner_vk, inner_instances)?;
    keygen(params, c, config, inner_instances, hex::encode(crate::keys::vk_hash(inner_vk)), "aggregation keygen")
}

/// Refuses an aggregation size below [`MIN_K`].
pub(crate) fn check_size(params: &ParamsKZG<Bn256>) -> Result<()> {
    let k = params.k();
    if k < MIN_K {
        return Err(ProverError::Invalid { what: "aggregation size", why: format!("k = {k} is below the minimum {MIN_K}") });
    }
    Ok(())
}

/// Keys of the aggregation circuit `c` laid out by key generation (configuration `config`),
/// with its layout record (`inner_instances` exposed after the accumulator; `inner_vk_hash`:
/// what it aggregates). Shared by the model and the shard aggregation.
pub(crate) fn keygen(params: &ParamsKZG<Bn256>, c: AggregationCircuit, config: AggregationConfigParams, inner_instances: usize, inner_vk_hash: String, what: &'static str) -> Result<(ProvingKey<G1Affine>, AggregationLayout)> {
    let vk = keygen_vk(params, &c).map_err(|e| ProverError::halo2(what, e))?;
    let pk = keygen_pk(params, vk, &c).map_err(|e| ProverError::halo2(what, e))?;
    let layout = AggregationLayout {
        k: params.k(),
        num_advice: config.num_advice,
        num_lookup_advice: config.num_lookup_advice,
        num_fixed: config.num_fixed,
        lookup_bits: config.lookup_bits,
        break_points: c.break_points(),
        inner_instances,
        inner_vk_hash,
        inner_model_id: String::new(),
        srs: hex::encode(srs_fingerprint(params)),
    };
    Ok((pk, layout))
}

/// The aggregation circuit for the model key `inner_vk`, as key generation lays it out (from
/// a dummy proof of the key's protocol), and its configuration. Deterministic: the same model
/// key, SRS and `k` give the same circuit, so the same keys.
fn keygen_circuit(params: &ParamsKZG<Bn256>, inner_params: &ParamsKZG<Bn256>, inner_vk: &VerifyingKey<G1Affine>, inner_instances: usize) -> Result<(AggregationCircuit, AggregationConfigParams)> {
    let k = params.k();
    let protocol = inner_protocol(inner_params, inner_vk, inner_instances);
    let dummy = catch_unwind(AssertUnwindSafe(|| gen_dummy_snark_from_protocol::<SHPLONK>(protocol)))
        .map_err(|p| ProverError::halo2("aggregation keygen", util::panic_message(&p)))?;
    let start = AggregationConfigParams { degree: k, lookup_bits: k as usize - 1, ..Default::default() };
    let mut c = circuit(CircuitBuilderStage::Keygen, start, params, dummy)?;
    let config = catch_unwind(AssertUnwindSafe(|| c.calculate_params(Some(20))))
        .map_err(|p| ProverError::halo2("aggregation keygen", util::panic_message(&p)))?;
    Ok((c, config))
}

/// Checks that `vk` (read from an aggregation key directory) is the aggregation verifying key
/// of the model key `inner_vk`: regenerates it (key generation is deterministic) and compares
/// the bytes. An aggregation key made for another circuit (another model, or the same key
/// bytes read under another shape) would accept proofs of that circuit instead.
pub fn check_vk(params: &ParamsKZG<Bn256>, inner_params: &ParamsKZG<Bn256>, inner_vk: &VerifyingKey<G1Affine>, layout: &AggregationLayout, vk: &VerifyingKey<G1Affine>) -> Result<()> {
    if params.k() != layout.k {
        return Err(ProverError::KMismatch { what: "the aggregation SRS".into(), expected: layout.k, found: params.k() });
    }
    let (c, config) = keygen_circuit(params, inner_params, inner_vk, layout.inner_instances)?;
    check_regenerated(params, c, config, layout, vk, "this model key")
}

/// Compares the aggregation key `vk` with the one key generation gives for the circuit `c`
/// (configuration `config`; `of`: what it was regenerated from, for the error).
pub(crate) fn check_regenerated(params: &ParamsKZG<Bn256>, c: AggregationCircuit, config: AggregationConfigParams, layout: &AggregationLayout, vk: &VerifyingKey<G1Affine>, of: &str) -> Result<()> {
    if (config.num_advice, config.num_lookup_advice, config.num_fixed, config.lookup_bits) != (layout.num_advice, layout.num_lookup_advice, layout.num_fixed, layout.lookup_bits) {
        return Err(ProverError::Invalid { what: "aggregation key", why: format!("its layout is not the one key generation gives for {of}") });
    }
    let want = keygen_vk(params, &c).map_err(|e| ProverError::halo2("aggregation keygen", e))?;
    if crate::keys::vk_bytes(&want) != crate::keys::vk_bytes(vk) {
        return Err(ProverError::Invalid { what: "aggregation key", why: format!("it is not the aggregation key of {of} (regenerated, it differs)") });
    }
    Ok(())
}

/// Aggregates the model proof `snark` (from [`prove_inner`], checked here first): returns the
/// aggregation proof and its public instances (accumulator limbs, then `snark`'s instances).
pub fn prove(params: &ParamsKZG<Bn256>, inner_params: &ParamsKZG<Bn256>, inner_vk: &VerifyingKey<G1Affine>, pk: &ProvingKey<G1Affine>, layout: &AggregationLayout, snark: Snark, rng: impl RngCore + Send) -> Result<(Vec<u8>, Vec<Fr>)> {
    if snark.instances.len() != 1 || snark.instances[0].len() != layout.inner_instances {
        return Err(ProverError::Invalid { what: "model proof", why: format!("it has {:?} instances, the aggregation key expects {}", snark.instances.iter().map(Vec::len).collect::<Vec<_>>(), layout.inner_instances) });
    }
    // the aggregation circuit is built for this key's protocol: a proof of another model must
    // not reach it (its witness would not satisfy the circuit, and halo2-base may panic)
    if snark.protocol.preprocessed != inner_protocol(inner_params, inner_vk, layout.inner_instances).preprocessed {
        return Err(ProverError::Invalid { what: "model proof", why: "it was made for another verifying key than the aggregation key's model".into() });
    }
    if layout.inner_vk_hash != hex::encode(crate::keys::vk_hash(inner_vk)) {
        return Err(ProverError::Invalid { what: "aggregation key", why: "it was made for another model key".into() });
    }
    if let Verdict::Invalid(why) = verify_inner(inner_params, inner_vk, &snark) {
        return Err(ProverError::Invalid { what: "model proof", why: format!("it does not verify: {why}") });
    }
    prove_unverified(params, pk, layout, snark, rng)
}

/// [`prove`] without checking that the model proof verifies: the aggregation circuit then
/// still proves, but its accumulator fails the pairing check, so [`verify`] and the EVM
/// verifier reject the result. Only for tests showing exactly that.
#[doc(hidden)]
pub fn prove_unverified(params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, layout: &AggregationLayout, snark: Snark, rng: impl RngCore + Send) -> Result<(Vec<u8>, Vec<Fr>)> {
    check_proving_key(params, pk, layout)?;
    if snark.instances.len() != 1 || snark.instances[0].len() != layout.inner_instances {
        return Err(ProverError::Invalid { what: "model proof", why: format!("it has {:?} instances, the aggregation key expects {}", snark.instances.iter().map(Vec::len).collect::<Vec<_>>(), layout.inner_instances) });
    }
    let c = circuit(CircuitBuilderStage::Prover, layout.config(), params, snark)?;
    prove_circuit(params, pk, layout, c, rng, "aggregation proving")
}

/// Refuses an SRS or key of another size, or an SRS other than the key's.
pub(crate) fn check_proving_key(params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, layout: &AggregationLayout) -> Result<()> {
    if params.k() != layout.k || pk.get_vk().get_domain().k() != layout.k {
        return Err(ProverError::KMismatch { what: "the aggregation SRS or key".into(), expected: layout.k, found: params.k() });
    }
    if hex::encode(srs_fingerprint(params)) != layout.srs {
        return Err(ProverError::SrsMismatch { what: "the aggregation key".into() });
    }
    Ok(())
}

/// The aggregation circuit `c` with the key's break points, and its public instances, checked
/// to be as many as the key expects.
fn with_break_points(layout: &AggregationLayout, c: AggregationCircuit) -> Result<(AggregationCircuit, Vec<Fr>)> {
    let c = c.use_break_points(layout.break_points.clone());
    let instances = c.instances().into_iter().next().unwrap_or_default();
    if instances.len() != layout.num_instances() {
        return Err(ProverError::Witness(format!("the aggregation circuit exposes {} instances, expected {}", instances.len(), layout.num_instances())));
    }
    Ok((c, instances))
}

/// Proves the aggregation circuit `c` (its witness built for proving) with the key's break
/// points; returns the proof and its public instances.
pub(crate) fn prove_circuit(params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, layout: &AggregationLayout, c: AggregationCircuit, rng: impl RngCore + Send, what: &'static str) -> Result<(Vec<u8>, Vec<Fr>)> {
    let (c, instances) = with_break_points(layout, c)?;
    let columns: [&[Fr]; 1] = [&instances];
    let proof = catch_unwind(AssertUnwindSafe(|| {
        let mut transcript = ProofTranscriptWriter::init(Vec::new());
        create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(params, pk, &[c], &[&columns], rng, &mut transcript).map_err(|e| ProverError::halo2(what, e))?;
        Ok::<_, ProverError>(transcript.finalize())
    }))
    .map_err(|p| ProverError::halo2(what, util::panic_message(&p)))??;
    Ok((proof, instances))
}

/// [`prove_circuit`] with the Poseidon transcript: a proof another aggregation circuit verifies
/// (an inner level of a tree), as a snark of `protocol`.
pub(crate) fn prove_circuit_inner(params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, layout: &AggregationLayout, c: AggregationCircuit, rng: impl RngCore + Send, what: &'static str) -> Result<Snark> {
    let (c, instances) = with_break_points(layout, c)?;
    let columns: [&[Fr]; 1] = [&instances];
    let proof = catch_unwind(AssertUnwindSafe(|| {
        let mut transcript = PoseidonTranscript::<NativeLoader, Vec<u8>>::from_spec(vec![], POSEIDON_SPEC.clone());
        create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(params, pk, &[c], &[&columns], rng, &mut transcript).map_err(|e| ProverError::halo2(what, e))?;
        Ok::<_, ProverError>(transcript.finalize())
    }))
    .map_err(|p| ProverError::halo2(what, util::panic_message(&p)))??;
    let protocol = aggregation_protocol(params, pk.get_vk(), instances.len());
    Ok(Snark::new(protocol, vec![instances], proof))
}

/// Verifies an aggregation proof natively: the proof itself and the accumulator it carries
/// (the deferred pairing check of the model proof).
pub fn verify(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, instances: &[Fr], proof: &[u8]) -> Verdict {
    if instances.len() < ACCUMULATOR_LIMBS {
        return Verdict::Invalid(format!("an aggregation proof has at least {ACCUMULATOR_LIMBS} instances, got {}", instances.len()));
    }
    let res = catch_unwind(AssertUnwindSafe(|| {
        let protocol = compile(
            params,
            vk,
            Config::kzg().with_num_instance(vec![instances.len()]).with_accumulator_indices(AggregationCircuit::accumulator_indices()),
        );
        let dk: KzgDecidingKey<Bn256> = (params.get_g()[0], params.g2(), params.s_g2()).into();
        let columns = vec![instances.to_vec()];
        let mut rest = proof;
        let mut transcript = EvmTranscript::<G1Affine, NativeLoader, &mut &[u8], Vec<u8>>::new(&mut rest);
        let res = PlonkVerifier::<SHPLONK>::read_proof(&dk, &protocol, &columns, &mut transcript)
            .and_then(|p| PlonkVerifier::<SHPLONK>::verify(&dk, &protocol, &columns, &p));
        drop(transcript);
        res.map(|()| rest.len())
    }));
    match res {
        Err(p) => Verdict::Invalid(format!("verifier failed on malformed input: {}", util::panic_message(&p))),
        Ok(Err(e)) => Verdict::Invalid(format!("proof rejected: {e:?}")),
        Ok(Ok(0)) => Verdict::Valid,
        Ok(Ok(rest)) => Verdict::Invalid(format!("{rest} unexpected bytes after the proof")),
    }
}

/// The Solidity verifier of aggregation proofs for `vk` (contract `Halo2Verifier`, same calldata
/// layout as model verifiers: [`crate::evm::calldata`]).
pub fn gen_sol(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, num_instances: usize) -> Result<String> {
    let sol = catch_unwind(AssertUnwindSafe(|| snark_verifier_sdk::evm::gen_evm_verifier_sol_code::<AggregationCircuit, SHPLONK>(params, vk, vec![num_instances])))
        .map_err(|p| ProverError::Evm(format!("Solidity verifier generation failed: {}", util::panic_message(&p))))?;
    Ok(crate::evm::with_instance_loops(sol, vk, num_instances))
}

const PK_MAGIC: &[u8; 8] = b"ZKIAPK01";
const VK_MAGIC: &[u8; 8] = b"ZKIAVK01";
const KEY_FORMAT: halo2_proofs::SerdeFormat = halo2_proofs::SerdeFormat::RawBytes;

/// Files of the aggregation keys in `dir`: `layout.json`, `pk.bin`, `vk.bin` (each key file:
/// 8-byte magic, sha256 of the payload, the halo2 key bytes).
pub fn write_keys(dir: &std::path::Path, pk: &ProvingKey<G1Affine>, layout: &AggregationLayout) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| ProverError::io(dir, e))?;
    let json = serde_json::to_vec_pretty(layout).map_err(|e| ProverError::Invalid { what: "aggregation layout", why: e.to_string() })?;
    write_key(&dir.join("vk.bin"), VK_MAGIC, &pk.get_vk().to_bytes(KEY_FORMAT))?;
    write_key(&dir.join("pk.bin"), PK_MAGIC, &pk.to_bytes(KEY_FORMAT))?;
    // the layout last: its presence says the keys beside it are complete
    fsutil::write_bytes_atomic(&dir.join("layout.json"), &json)
}

fn write_key(path: &std::path::Path, magic: &[u8; 8], payload: &[u8]) -> Result<()> {
    use sha2::Digest;
    let sum = sha2::Sha256::digest(payload);
    fsutil::write_atomic(path, |w| {
        w.write_all(magic)?;
        w.write_all(&sum)?;
        w.write_all(payload)
    })
}

fn read_key(path: &std::path::Path, magic: &[u8; 8]) -> Result<Vec<u8>> {
    use sha2::Digest;
    let mut bytes = fsutil::read(path)?;
    if bytes.len() < 40 || &bytes[..8] != magic {
        return Err(ProverError::corrupt(path, "aggregation key file", format!("it does not start with {}", String::from_utf8_lossy(magic))));
    }
    if sha2::Sha256::digest(&bytes[40..])[..] != bytes[8..40] {
        return Err(ProverError::corrupt(path, "aggregation key file", "checksum mismatch (truncated or modified)"));
    }
    Ok(bytes.split_off(40))
}

/// Reads the aggregation layout in `dir`.
pub fn read_layout(dir: &std::path::Path) -> Result<AggregationLayout> {
    let path = dir.join("layout.json");
    serde_json::from_slice(&fsutil::read(&path)?).map_err(|e| ProverError::corrupt(&path, "aggregation layout", e.to_string()))
}

/// Reads the aggregation proving key and its layout from `dir` ([`write_keys`]).
pub fn read_pk(dir: &std::path::Path) -> Result<(ProvingKey<G1Affine>, AggregationLayout)> {
    read_with(dir, "pk.bin", PK_MAGIC, "aggregation proving key", |b, c| ProvingKey::<G1Affine>::from_bytes::<AggregationCircuit>(b, KEY_FORMAT, c))
}

/// Reads the aggregation verifying key and its layout from `dir` ([`write_keys`]).
pub fn read_vk(dir: &std::path::Path) -> Result<(VerifyingKey<G1Affine>, AggregationLayout)> {
    read_with(dir, "vk.bin", VK_MAGIC, "aggregation verifying key", |b, c| VerifyingKey::<G1Affine>::from_bytes::<AggregationCircuit>(b, KEY_FORMAT, c))
}

fn read_with<K>(dir: &std::path::Path, file: &str, magic: &[u8; 8], what: &'static str, parse: impl FnOnce(&[u8], AggregationConfigParams) -> std::io::Result<K>) -> Result<(K, AggregationLayout)> {
    let layout = read_layout(dir)?;
    let path = dir.join(file);
    let bytes = read_key(&path, magic)?;
    let config = layout.config();
    let key = catch_unwind(AssertUnwindSafe(|| parse(&bytes, config)))
        .map_err(|p| ProverError::corrupt(&path, what, util::panic_message(&p)))?
        .map_err(|e| ProverError::corrupt(&path, what, e.to_string()))?;
    Ok((key, layout))
}
