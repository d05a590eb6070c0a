//! One proof for a sharded model (issue 21, part 3): the tiny model cut into two shards, each
//! proved (Poseidon transcript), aggregated by a circuit that also holds the link between
//! them; verified natively and in the EVM, its public instances exactly the model's. A shard
//! proof that is valid on its own but starts from another tensor than the first shard ended
//! with gives an aggregation proof that does not verify: the circuit's link constraint, not a
//! pre-check, rejects it (`glue_is_what_rejects_a_broken_link`, heavy, shows that without the
//! constraint the same set verifies).

mod common;

use rand::rngs::OsRng;
use zkinfer_circuits::exec;
use zkinfer_circuits::ir::shard::shard_graphs;
use zkinfer_circuits::ir::{Graph, Tensor};
use zkinfer_circuits::layout::circuit::ModelCircuit;
use zkinfer_circuits::layout::ctx::Shape;
use zkinfer_circuits::layout::lay_out_salted;
use zkinfer_prover::aggregate::{self, ACCUMULATOR_LIMBS};
use zkinfer_prover::aggregate_shards::{self, Glue};
use zkinfer_prover::linked::Wiring;
use zkinfer_prover::{evm, srs, Fr};
use snark_verifier_sdk::Snark;

/// The aggregation circuit's size: the default of `zkinfer aggregate`, where two shards'
/// verifier fits EIP-170 (at 20 its 30.9 KB do not).
const AGG_K: u32 = 21;
/// The mutation check needs no EVM: a smaller circuit, more columns, same work.
const MUTATION_K: u32 = 20;
const SALT: u128 = 0x0123_4567_89ab_cdef_0011_2233_4455;

struct Sharded {
    model: Graph,
    shards: Vec<Graph>,
    setups: Vec<common::Setup>,
    vals: Vec<Tensor>,
    wiring: Wiring,
}

fn sharded() -> Sharded {
    let model = common::tiny_graph();
    let shards = shard_graphs(&model, &[1, 2]).expect("two shards");
    let vals = exec::run(&model, &[common::tiny_input()]).expect("run");
    let setups = shards.iter().map(|g| common::setup_graph(g, vals[g.inputs[0].value].clone(), Shape::new(6, 2))).collect();
    let wiring = Wiring::new(&model, &shards).expect("wiring");
    Sharded { model, shards, setups, vals, wiring }
}

impl Sharded {
    /// Shard `i` proved for aggregation on `input` with the test salt.
    fn snark(&self, i: usize, input: Tensor) -> Snark {
        let ctx = lay_out_salted(&self.shards[i], &[input], Shape::new(6, 2), SALT).expect("layout");
        aggregate::prove_inner(&self.setups[i].params, &self.setups[i].pk, &ModelCircuit { ctx }, OsRng).expect("shard proof")
    }

    fn honest(&self) -> Vec<Snark> {
        (0..self.shards.len()).map(|i| self.snark(i, self.vals[self.shards[i].inputs[0].value].clone())).collect()
    }

    /// Shard 1 proved from the tensor shard 0 hands on with one value changed (same salt):
    /// a valid proof of shard 1, whose link digest is not shard 0's.
    fn forged(&self) -> Vec<Snark> {
        let mut other = self.vals[self.shards[1].inputs[0].value].clone();
        other.data[0] += 1;
        let mut set = self.honest();
        set[1] = self.snark(1, other);
        assert!(aggregate::verify_inner(&self.setups[1].params, self.setups[1].pk.get_vk(), &set[1]).is_valid(), "the forged shard proof is valid on its own");
        let inst: Vec<Vec<Fr>> = set.iter().map(|s| s.instances.concat()).collect();
        let e = self.wiring.check(&self.model_instances(), &inst).expect_err("the native check sees the broken link");
        assert!(e.contains("link broken"), "{e}");
        set
    }

    fn model_instances(&self) -> Vec<Fr> {
        let outs: Vec<Tensor> = self.model.outputs.iter().map(|o| self.vals[o.value].clone()).collect();
        zkinfer_circuits::public::instances(&self.model, &[common::tiny_input()], &outs).expect("instances")
    }

    fn keys(&self, glue: &Glue, params: &zkinfer_prover::ParamsKZG<zkinfer_prover::Bn256>) -> (zkinfer_prover::ProvingKey<zkinfer_prover::G1Affine>, aggregate::AggregationLayout, Vec<snark_verifier_sdk::snark_verifier::verifier::plonk::PlonkProtocol<zkinfer_prover::G1Affine>>) {
        let protocols: Vec<_> = self.setups.iter().zip(&self.shards).map(|(s, g)| aggregate::inner_protocol(&s.params, s.pk.get_vk(), g.num_instances())).collect();
        let hashes: Vec<[u8; 32]> = self.setups.iter().map(|s| zkinfer_prover::vk_hash(s.pk.get_vk())).collect();
        let (pk, layout) = aggregate_shards::setup(params, &protocols, &hashes, glue).expect("aggregation setup");
        (pk, layout, protocols)
    }
}

#[test]
fn sharded_model_aggregates_into_one_proof_with_links_in_the_circuit() {
    let t = sharded();
    assert_eq!(t.wiring.links.len(), 1);
    let honest = t.honest();
    let model = t.model_instances();
    let inst: Vec<Vec<Fr>> = honest.iter().map(|s| s.instances.concat()).collect();
    t.wiring.check(&model, &inst).expect("honest shards fit together");

    let glue = Glue::of(&t.wiring);
    let (params, _) = srs::dev_srs(AGG_K).expect("dev srs");
    let (pk, layout, protocols) = t.keys(&glue, &params);
    assert_eq!(layout.num_instances(), ACCUMULATOR_LIMBS + model.len());
    // a proof of another shard in a slot is refused before any work
    let e = aggregate_shards::prove(&params, &protocols, &pk, &layout, vec![honest[1].clone(), honest[0].clone()], &glue, OsRng).expect_err("swapped shards");
    assert!(e.to_string().contains("another key"), "{e}");

    let (proof, instances) = aggregate_shards::prove(&params, &protocols, &pk, &layout, honest, &glue, OsRng).expect("aggregate");
    assert_eq!(&instances[ACCUMULATOR_LIMBS..], model.as_slice(), "the public instances are the model's, links and shard instances stay private");
    let vk = pk.get_vk();
    assert!(aggregate::verify(&params, vk, &instances, &proof).is_valid());
    let sol = aggregate::gen_sol(&params, vk, instances.len()).expect("solidity");
    let compiled = evm::compile_sol(&sol).expect("solc");
    let ok = evm::evm_verify(&compiled.bytecode, &instances, &proof).expect("evm");
    assert!(ok.success, "{}", ok.detail);
    eprintln!("sharded aggregation (2 shards, k = {AGG_K}): {} bytes, EVM verify gas {}, deployed {} bytes", proof.len(), ok.gas_used, compiled.deployed_bytecode.len());
    let mut changed = instances.clone();
    *changed.last_mut().expect("instances") += Fr::one();
    assert!(!aggregate::verify(&params, vk, &changed, &proof).is_valid());
    assert!(!evm::evm_verify(&compiled.bytecode, &changed, &proof).expect("evm").success);

    // a broken link: every shard proof valid, the aggregation proof is not
    let (p, i) = aggregate_shards::prove_glued(&params, &pk, &layout, t.forged(), &glue, OsRng).expect("the circuit still proves");
    assert!(!aggregate::verify(&params, vk, &i, &p).is_valid(), "a broken link aggregated into a valid proof");
    assert!(!evm::evm_verify(&compiled.bytecode, &i, &p).expect("evm").success, "the EVM accepted a broken link");
}

/// The mutation check of the test above: with the glue's equalities removed (its own keys),
/// the same forged shard set aggregates into a proof that verifies, so the link constraint is
/// what rejects it. Heavy (a second aggregation setup): `cargo test --release -p
/// zkinfer-prover --test aggregate_shards -- --ignored`.
#[test]
#[ignore]
fn glue_is_what_rejects_a_broken_link() {
    let t = sharded();
    let loose = Glue::of(&t.wiring).without_equalities();
    let (params, _) = srs::dev_srs(MUTATION_K).expect("dev srs");
    let (pk, layout, _) = t.keys(&loose, &params);
    let (p, i) = aggregate_shards::prove_glued(&params, &pk, &layout, t.forged(), &loose, OsRng).expect("prove");
    assert!(aggregate::verify(&params, pk.get_vk(), &i, &p).is_valid(), "without the link constraint the forged set verifies");
}

/// Groups of a tree: each shard aggregated alone (the smallest aggregation size), the root at
/// the EVM size.
const GROUP_K: u32 = 19;

/// Many shards (issue 21, part 3): the tree of aggregations, here with each of the two shards in
/// its own group so that the link crosses groups and only the root holds it. The root proof
/// verifies natively and in the EVM with exactly the model's instances; a broken link gives
/// group proofs and a root proof, but the root proof does not verify; and with the root's
/// equalities removed (its own keys) the same forged set verifies, so the root's link
/// constraint is what rejects it. Heavy (three aggregation setups, about 20 minutes on 2
/// cores): `cargo test --release -p zkinfer-prover --test aggregate_shards -- --ignored`.
#[test]
#[ignore]
fn a_tree_of_aggregations_holds_the_links_between_groups() {
    let t = sharded();
    let tree = Glue::of(&t.wiring).split(&[0..1, 1..2]).expect("tree");
    assert!(tree.group.iter().all(|g| g.equal.is_empty()), "one shard per group: every link is the root's");
    assert!(!tree.root.equal.is_empty());
    let protocols: Vec<_> = t.setups.iter().zip(&t.shards).map(|(s, g)| aggregate::inner_protocol(&s.params, s.pk.get_vk(), g.num_instances())).collect();
    let hashes: Vec<[u8; 32]> = t.setups.iter().map(|s| zkinfer_prover::vk_hash(s.pk.get_vk())).collect();
    let (gparams, _) = srs::dev_srs(GROUP_K).expect("dev srs");
    let groups: Vec<_> = (0..2).map(|g| aggregate_shards::setup(&gparams, &protocols[g..g + 1], &hashes[g..g + 1], &tree.group[g]).expect("group setup")).collect();
    let gprotocols: Vec<_> = groups.iter().map(|(pk, layout)| aggregate::aggregation_protocol(&gparams, pk.get_vk(), layout.num_instances())).collect();
    let ghashes: Vec<[u8; 32]> = groups.iter().map(|(pk, _)| zkinfer_prover::vk_hash(pk.get_vk())).collect();
    let group_snarks = |set: Vec<Snark>| -> Vec<Snark> {
        set.into_iter().enumerate().map(|(g, s)| aggregate_shards::prove_group(&gparams, &protocols[g..g + 1], &groups[g].0, &groups[g].1, vec![s], &tree.group[g], OsRng).expect("group proof")).collect()
    };
    let (params, _) = srs::dev_srs(AGG_K).expect("dev srs");
    let (pk, layout) = aggregate_shards::setup(&params, &gprotocols, &ghashes, &tree.root).expect("root setup");
    let model = t.model_instances();
    assert_eq!(layout.num_instances(), ACCUMULATOR_LIMBS + model.len());

    let honest = group_snarks(t.honest());
    let (proof, instances) = aggregate_shards::prove(&params, &gprotocols, &pk, &layout, honest, &tree.root, OsRng).expect("root proof");
    assert_eq!(&instances[ACCUMULATOR_LIMBS..], model.as_slice(), "the root exposes the model's instances only");
    assert!(aggregate::verify(&params, pk.get_vk(), &instances, &proof).is_valid());
    let compiled = evm::compile_sol(&aggregate::gen_sol(&params, pk.get_vk(), instances.len()).expect("solidity")).expect("solc");
    let ok = evm::evm_verify(&compiled.bytecode, &instances, &proof).expect("evm");
    assert!(ok.success, "{}", ok.detail);
    eprintln!("tree of aggregations (2 groups of 1 shard, group k = {GROUP_K}, root k = {AGG_K}): {} bytes, EVM verify gas {}, deployed {} bytes", proof.len(), ok.gas_used, compiled.deployed_bytecode.len());

    // a link broken between groups: both group proofs are made, the root proof does not verify
    let forged = group_snarks(t.forged());
    let (p, i) = aggregate_shards::prove(&params, &gprotocols, &pk, &layout, forged.clone(), &tree.root, OsRng).expect("the root still proves");
    assert!(!aggregate::verify(&params, pk.get_vk(), &i, &p).is_valid(), "a broken link between groups aggregated into a valid proof");
    assert!(!evm::evm_verify(&compiled.bytecode, &i, &p).expect("evm").success, "the EVM accepted a broken link between groups");
    // ... because of the root's equalities: without them, the same group proofs verify
    let loose = tree.root.without_equalities();
    let (lpk, llayout) = aggregate_shards::setup(&params, &gprotocols, &ghashes, &loose).expect("loose root setup");
    let (p, i) = aggregate_shards::prove(&params, &gprotocols, &lpk, &llayout, forged, &loose, OsRng).expect("prove");
    assert!(aggregate::verify(&params, lpk.get_vk(), &i, &p).is_valid(), "without the root's link constraint the forged set verifies");
}
