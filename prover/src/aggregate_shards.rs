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
//!
//! Many shards: one circuit verifying every shard proof grows with their number (about 13
//! advice columns at k 19 per proof), so past a few shards the proofs are aggregated as a
//! two-level tree ([`TreeGlue`]): each group of consecutive shards is aggregated by its own
//! circuit (the links inside the group checked there, the Poseidon transcript), exposing only
//! what the rest of the model needs from it; a root circuit verifies the group proofs (folding
//! their accumulators into its own) with the links between groups. The root's instances are the
//! same as a one-level aggregation's, so its verifier, the market and the node see no
//! difference; each step holds one circuit's key.

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

/// A placeholder proof of `protocol` for key generation (the circuit's structure does not
/// depend on the values); an aggregation protocol's accumulator is a valid one (the generator
/// twice), so that loading it as curve points is well defined.
fn dummy_snark(protocol: &PlonkProtocol<G1Affine>) -> Result<Snark> {
    let mut snark = catch_unwind(AssertUnwindSafe(|| gen_dummy_snark_from_protocol::<SHPLONK>(protocol.clone()))).map_err(|e| ProverError::halo2("shard aggregation keygen", util::panic_message(&e)))?;
    let acc: Vec<&(usize, usize)> = protocol.accumulator_indices.iter().flatten().collect();
    if !acc.is_empty() {
        use halo2_proofs::halo2curves::bn256::Fq;
        use halo2_proofs::halo2curves::group::{prime::PrimeCurveAffine, Curve};
        use snark_verifier_sdk::snark_verifier::util::arithmetic::fe_to_limbs;
        let g = G1Affine::generator().to_curve().to_affine();
        let coords = [g.x, g.y, g.x, g.y];
        let limbs: Vec<Fr> = coords.iter().flat_map(|c| fe_to_limbs::<Fq, Fr, { snark_verifier_sdk::LIMBS }, { snark_verifier_sdk::BITS }>(*c)).collect();
        for (&&(col, row), v) in acc.iter().zip(limbs) {
            if let Some(cell) = snark.instances.get_mut(col).and_then(|c| c.get_mut(row)) {
                *cell = v;
            }
        }
    }
    Ok(snark)
}

fn keygen_circuit(params: &ParamsKZG<Bn256>, protocols: &[PlonkProtocol<G1Affine>], glue: &Glue) -> Result<(AggregationCircuit, AggregationConfigParams)> {
    let k = params.k();
    let dummies = protocols.iter().map(dummy_snark).collect::<Result<Vec<_>>>()?;
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
    check_snarks(protocols, &snarks)?;
    prove_glued(params, pk, layout, snarks, glue, rng)
}

/// [`prove`] for a group of a tree level ([`Tree`]): the proof with the
/// Poseidon transcript, as a snark the root aggregation verifies.
pub fn prove_group(params: &ParamsKZG<Bn256>, protocols: &[PlonkProtocol<G1Affine>], pk: &ProvingKey<G1Affine>, layout: &AggregationLayout, snarks: Vec<Snark>, glue: &Glue, rng: impl RngCore + Send) -> Result<Snark> {
    check_snarks(protocols, &snarks)?;
    aggregate::check_proving_key(params, pk, layout)?;
    let c = circuit(CircuitBuilderStage::Prover, layout.config(), params, snarks, glue)?;
    aggregate::prove_circuit_inner(params, pk, layout, c, rng, "shard group aggregation proving")
}

fn check_snarks(protocols: &[PlonkProtocol<G1Affine>], snarks: &[Snark]) -> Result<()> {
    if snarks.len() != protocols.len() {
        return Err(ProverError::Invalid { what: "shard proofs", why: format!("{} proofs for {} shards", snarks.len(), protocols.len()) });
    }
    for (i, (snark, protocol)) in snarks.iter().zip(protocols).enumerate() {
        if snark.protocol.preprocessed != protocol.preprocessed || snark.instances.len() != 1 || snark.instances[0].len() != protocol.num_instance.first().copied().unwrap_or(0) {
            return Err(ProverError::Invalid { what: "shard proof", why: format!("proof {i} was made for another key than shard {i}'s") });
        }
    }
    Ok(())
}

/// One split of a glue: the proofs cut into consecutive `groups`, each group's glue over its
/// own proofs (local indices), and the root's glue over the group proofs (each: the
/// accumulator, then what its glue exposes). Made by [`Glue::split`]; [`Glue::tree`] applies
/// it level by level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeGlue {
    pub groups: Vec<std::ops::Range<usize>>,
    pub group: Vec<Glue>,
    pub root: Glue,
}

/// At most this many proofs per aggregation circuit: past it, proofs are aggregated as a tree
/// ([`Glue::tree`]). Batches of job proofs use it ([`Glue::tree`]); sharded models use
/// [`SHARD_FAN_IN`] and [`GROUP_FAN_IN`] ([`Glue::tree_by`]).
pub const FAN_IN: usize = 4;

/// A sharded model's tree: at most this many shard proofs per group. The aggregation circuit's
/// memory grows with its columns (about 1.1 GB per column at k 21, measured), and its columns
/// with the proofs it verifies: four shard proofs of shape 6/3 with function tables and link
/// digests (nanoGPT's) take 12 advice columns at k 21, three about 9.
pub const SHARD_FAN_IN: usize = 3;

/// A sharded model's tree above the shard groups: at most this many group proofs per circuit
/// (the root included). A group proof costs the circuit that verifies it more than a shard
/// proof (nanoGPT's root over three took 13 advice columns at k 21 and 17.7 GB); two keep
/// every aggregation step within about 14 GB.
pub const GROUP_FAN_IN: usize = 2;

/// The groups of one tree level over `n` proofs: `ceil(n / fan_in)` consecutive groups, at
/// most `fan_in` proofs each and as even as possible (`None`: `n` fits one aggregation
/// circuit).
pub fn level_groups(n: usize, fan_in: usize) -> Option<Vec<std::ops::Range<usize>>> {
    let fan_in = fan_in.max(2);
    if n <= fan_in {
        return None;
    }
    let groups = n.div_ceil(fan_in);
    Some((0..groups).map(|g| g * n / groups..(g + 1) * n / groups).collect())
}

/// The shape of [`Glue::tree_by`] over `n` proofs without the glue: each level's group sizes
/// (a group of one is passed on, not aggregated), then how many proofs the root verifies.
pub fn tree_sizes(n: usize, leaf: usize, upper: usize) -> (Vec<Vec<usize>>, usize) {
    let (mut levels, mut n, mut fan_in) = (Vec::new(), n, leaf);
    while let Some(groups) = level_groups(n, fan_in) {
        levels.push(groups.iter().map(|g| g.len()).collect());
        n = groups.len();
        fan_in = upper;
    }
    (levels, n)
}

/// One level of an aggregation tree: its proofs (the shard proofs, or the proofs the level
/// before passes up) cut into consecutive `groups`, each aggregated under its own glue (local
/// indices), except the groups that `pass`: a group of one proof that [`Glue::tree_by`] does
/// not aggregate (an odd number of proofs under a fan-in of two). Its proof goes up to the
/// next level as it is, with its own protocol, key and instances; it has no circuit, no keys
/// and an empty glue, and the level above holds its instances as the proof's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Level {
    pub groups: Vec<std::ops::Range<usize>>,
    pub glue: Vec<Glue>,
    pub pass: Vec<bool>,
}

impl Level {
    /// Whether group `g` is passed on rather than aggregated.
    pub fn passes(&self, g: usize) -> bool {
        self.pass.get(g).copied().unwrap_or(false)
    }

    /// Number of aggregation circuits (groups not passed on).
    pub fn circuits(&self) -> usize {
        (0..self.groups.len()).filter(|&g| !self.passes(g)).count()
    }
}

/// An aggregation tree of any depth: `levels[0]` groups the shard proofs, each later level
/// groups the proofs of the level before, and `root` aggregates the last level's proofs
/// (each: the accumulator, then what its glue exposes). Made by [`Glue::tree`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    pub levels: Vec<Level>,
    pub root: Glue,
}

impl Glue {
    /// This glue over `n` proofs as a tree in which no circuit aggregates more than `fan_in`
    /// proofs: levels of [`level_groups`], each made by [`Glue::split`] of the glue above it,
    /// until the root's proofs fit one circuit (`None`: the `n` proofs already do). Up to
    /// `fan_in`² proofs that is two levels (groups, then the root), and each further factor
    /// of `fan_in` adds one.
    pub fn tree(&self, n: usize, fan_in: usize) -> Result<Option<Tree>> {
        self.tree_by(n, fan_in, fan_in)
    }

    /// [`Glue::tree`] with one fan-in for the groups of the `n` leaf proofs (`leaf`: also the
    /// most the root may verify when they need no tree) and another for every level above
    /// them and the root (`upper`, over group proofs).
    pub fn tree_by(&self, n: usize, leaf: usize, upper: usize) -> Result<Option<Tree>> {
        let (mut levels, mut glue, mut n, mut fan_in) = (Vec::new(), self.clone(), n, leaf);
        while let Some(groups) = level_groups(n, fan_in) {
            // a group of one would be a circuit that only passes its proof on: pass the proof
            let pass: Vec<bool> = groups.iter().map(|g| g.len() == 1).collect();
            let t = glue.split_passing(&groups, &pass)?;
            n = groups.len();
            levels.push(Level { groups, glue: t.group, pass });
            glue = t.root;
            fan_in = upper;
        }
        Ok((!levels.is_empty()).then_some(Tree { levels, root: glue }))
    }

    /// [`Glue::tree`] with one more level: the circuit that would be the root (or the only
    /// circuit) becomes a group of its own, and the root verifies that one proof, exposing what
    /// it exposes. The root then does little work, so it fits few columns at a larger size:
    /// its verifier, the one the chain runs, checks fewer commitments (a "wrapped" root).
    pub fn wrapped_tree(&self, n: usize, fan_in: usize) -> Result<Tree> {
        let (mut levels, glue, n) = match self.tree(n, fan_in)? {
            Some(t) => {
                let last = t.levels.last().map_or(n, |l| l.groups.len());
                (t.levels, t.root, last)
            }
            None => (vec![], self.clone(), n),
        };
        let t = glue.split(&[0..n])?;
        levels.push(Level { groups: t.groups, glue: t.group, pass: vec![false] });
        Ok(Tree { levels, root: t.root })
    }
}

impl Glue {
    /// This (one-level) glue over the shards as a two-level tree over `groups` (consecutive,
    /// non-empty, covering every shard the glue refers to). Instances held equal become classes;
    /// each class is held equal inside every group it touches (to the group's first member),
    /// and where it spans groups, each group exposes its first member and the root holds those
    /// equal. Each instance the model exposes is exposed by its group and by the root, in the
    /// same order as here. No instance is exposed by a group unless the root needs it.
    pub fn split(&self, groups: &[std::ops::Range<usize>]) -> Result<TreeGlue> {
        self.split_passing(groups, &vec![false; groups.len()])
    }

    /// [`Glue::split`] in which the groups marked in `pass` (each of one proof) are not
    /// aggregated: their proof goes to the root as it is, so the root refers to its instances
    /// by their own index, and every instance of it in a class is one of the class's
    /// representatives that the root holds equal (its group, having no circuit, holds nothing).
    pub fn split_passing(&self, groups: &[std::ops::Range<usize>], pass: &[bool]) -> Result<TreeGlue> {
        let bad = |why: String| ProverError::Invalid { what: "aggregation tree", why };
        if pass.len() != groups.len() || groups.iter().zip(pass).any(|(g, &p)| p && g.len() != 1) {
            return Err(bad(format!("only groups of one proof pass on ({pass:?} for groups {groups:?})")));
        }
        if groups.is_empty() || groups[0].start != 0 || groups.windows(2).any(|w| w[0].end != w[1].start) || groups.iter().any(|g| g.is_empty()) {
            return Err(bad(format!("groups {groups:?} are not consecutive, non-empty and from shard 0")));
        }
        let n = groups[groups.len() - 1].end;
        let group_of = |s: usize| groups.iter().position(|g| g.contains(&s));
        let mut slots: Vec<Slot> = self.equal.iter().flat_map(|&(a, b)| [a, b]).chain(self.expose.iter().copied()).collect();
        slots.sort_unstable();
        slots.dedup();
        if let Some(s) = slots.iter().find(|s| s.0 >= n) {
            return Err(bad(format!("the glue refers to shard {}, the groups cover {n}", s.0)));
        }
        // union-find over the slots held equal
        let idx = |s: &Slot| slots.binary_search(s).expect("collected above");
        let mut parent: Vec<usize> = (0..slots.len()).collect();
        fn find(p: &mut [usize], mut i: usize) -> usize {
            while p[i] != i {
                p[i] = p[p[i]];
                i = p[i];
            }
            i
        }
        for (a, b) in &self.equal {
            let (ra, rb) = (find(&mut parent, idx(a)), find(&mut parent, idx(b)));
            if ra != rb {
                parent[ra.max(rb)] = ra.min(rb);
            }
        }
        let mut classes: std::collections::BTreeMap<usize, Vec<Slot>> = std::collections::BTreeMap::new();
        for &(a, b) in &self.equal {
            for s in [a, b] {
                let r = find(&mut parent, idx(&s));
                let c = classes.entry(r).or_default();
                if !c.contains(&s) {
                    c.push(s);
                }
            }
        }
        let local = |s: Slot, g: usize| (s.0 - groups[g].start, s.1);
        let mut group: Vec<Glue> = groups.iter().map(|_| Glue { equal: vec![], expose: vec![] }).collect();
        let expose = |group: &mut Vec<Glue>, g: usize, s: Slot| -> Slot {
            if pass[g] {
                // the proof itself goes up: its instances keep their index
                return (g, s.1);
            }
            let l = local(s, g);
            let pos = match group[g].expose.iter().position(|&e| e == l) {
                Some(p) => p,
                None => {
                    group[g].expose.push(l);
                    group[g].expose.len() - 1
                }
            };
            (g, aggregate::ACCUMULATOR_LIMBS + pos)
        };
        let mut root = Glue { equal: vec![], expose: vec![] };
        // the model's instances first, so that each group exposes them in model order
        for &s in &self.expose {
            let g = group_of(s.0).ok_or_else(|| bad(format!("shard {} is in no group", s.0)))?;
            let at = expose(&mut group, g, s);
            root.expose.push(at);
        }
        for members in classes.values() {
            let mut reps: Vec<Slot> = Vec::new();
            for (g, range) in groups.iter().enumerate() {
                let inside: Vec<Slot> = members.iter().copied().filter(|s| range.contains(&s.0)).collect();
                let Some(&first) = inside.first() else { continue };
                if pass[g] {
                    // no circuit to hold them equal here: the root holds each of them
                    reps.extend(inside);
                    continue;
                }
                group[g].equal.extend(inside[1..].iter().map(|&s| (local(first, g), local(s, g))));
                reps.push(first);
            }
            if reps.len() > 1 {
                let at: Vec<Slot> = reps.iter().map(|&s| expose(&mut group, group_of(s.0).expect("in a group"), s)).collect();
                root.equal.extend(at[1..].iter().map(|&b| (at[0], b)));
            }
        }
        Ok(TreeGlue { groups: groups.to_vec(), group, root })
    }
}

/// The aggregation proof without the per-shard checks of [`prove`] (each shard's protocol is
/// still the circuit's). Public for tests that aggregate deliberately broken shard sets.
#[doc(hidden)]
pub fn prove_glued(params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>, layout: &AggregationLayout, snarks: Vec<Snark>, glue: &Glue, rng: impl RngCore + Send) -> Result<(Vec<u8>, Vec<Fr>)> {
    aggregate::check_proving_key(params, pk, layout)?;
    let c = circuit(CircuitBuilderStage::Prover, layout.config(), params, snarks, glue)?;
    aggregate::prove_circuit(params, pk, layout, c, rng, "shard aggregation proving")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random instance values for shards with `counts` instances, made to satisfy `glue`'s
    /// equalities (each class takes the value of its first slot).
    fn satisfying(glue: &Glue, counts: &[usize], seed: u64) -> Vec<Vec<u64>> {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            x >> 16
        };
        let mut v: Vec<Vec<u64>> = counts.iter().map(|&n| (0..n).map(|_| next()).collect()).collect();
        for _ in 0..glue.equal.len() {
            for &(a, b) in &glue.equal {
                v[b.0][b.1] = v[a.0][a.1];
            }
        }
        v
    }

    /// What the tree computes from the shard instances: each group's exposed values (after a
    /// stand-in accumulator), whether every group's and the root's equalities hold, and what
    /// the root exposes.
    fn run_tree(t: &TreeGlue, v: &[Vec<u64>]) -> (bool, Vec<u64>) {
        run_levels(&Tree { levels: vec![Level { groups: t.groups.clone(), glue: t.group.clone(), pass: vec![false; t.groups.len()] }], root: t.root.clone() }, v)
    }

    /// A chain of 7 shards, each linked to the next and a skip link from 1 to 5, all bindings
    /// equal, the model's values exposed from shards 0 and 6: split into trees of every
    /// grouping, the tree accepts exactly what the flat glue accepts and exposes the same
    /// values, and each group exposes no more than the links crossing it need.
    #[test]
    fn a_tree_of_groups_checks_what_one_aggregation_checks() {
        let n = 7;
        let counts = vec![6usize; n];
        let mut equal: Vec<(Slot, Slot)> = (1..n).map(|s| ((0, BINDING), (s, BINDING))).collect();
        equal.extend((0..n - 1).map(|s| ((s, 5), (s + 1, 1))));
        equal.push(((1, 4), (5, 2)));
        let glue = Glue { equal, expose: vec![(0, BINDING), (0, 2), (0, 3), (6, 4)] };
        for fan_in in 2..=6 {
            let groups = level_groups(n, fan_in).expect("7 shards need a tree");
            let t = glue.split(&groups).expect("split");
            assert_eq!(t.groups.iter().map(|g| g.len()).sum::<usize>(), n);
            for seed in 0..20 {
                let v = satisfying(&glue, &counts, seed);
                let want: Vec<u64> = glue.expose.iter().map(|&(s, i)| v[s][i]).collect();
                assert_eq!(run_tree(&t, &v), (true, want), "fan-in {fan_in}: honest instances");
                // break one equality of the flat glue: the tree rejects it too
                for &(a, b) in &glue.equal {
                    let mut w = v.clone();
                    w[b.0][b.1] = w[b.0][b.1].wrapping_add(1);
                    let flat_ok = glue.equal.iter().all(|&(x, y)| w[x.0][x.1] == w[y.0][y.1]);
                    assert!(!flat_ok);
                    assert!(!run_tree(&t, &w).0, "fan-in {fan_in}: broken {a:?} = {b:?} accepted by the tree");
                }
            }
            // a group exposes: the model's values made in it, and one instance per class that
            // crosses its boundary (binding, and each link in or out)
            for (g, range) in t.groups.iter().enumerate() {
                let crossing = glue.equal.iter().filter(|(a, b)| range.contains(&a.0) != range.contains(&b.0)).count();
                assert!(t.group[g].expose.len() <= crossing + glue.expose.iter().filter(|s| range.contains(&s.0)).count() + 1, "fan-in {fan_in}, group {g}: {:?}", t.group[g].expose);
            }
        }
        assert!(level_groups(4, 4).is_none() && level_groups(5, 4).is_some());
        assert!(glue.split(&[0..3, 4..7]).is_err() && glue.split(&[0..3, 3..6]).is_err(), "gaps and missing shards refused");
    }

    /// What a tree of any depth computes: each level's groups from the proofs below (each
    /// exposing a stand-in accumulator, then its glue's values), whether every group's and the
    /// root's equalities hold, and what the root exposes.
    fn run_levels(t: &Tree, v: &[Vec<u64>]) -> (bool, Vec<u64>) {
        let mut ok = true;
        let mut proofs = v.to_vec();
        for level in &t.levels {
            let mut next = Vec::new();
            for (g, range) in level.groups.iter().enumerate() {
                let local = &proofs[range.clone()];
                if level.passes(g) {
                    assert!(level.glue[g].equal.is_empty() && level.glue[g].expose.is_empty() && local.len() == 1, "a group passed on has no glue");
                    next.push(local[0].clone());
                    continue;
                }
                ok &= level.glue[g].equal.iter().all(|&(a, b)| local[a.0][a.1] == local[b.0][b.1]);
                let mut inst = vec![0u64; aggregate::ACCUMULATOR_LIMBS];
                inst.extend(level.glue[g].expose.iter().map(|&(s, i)| local[s][i]));
                next.push(inst);
            }
            proofs = next;
        }
        ok &= t.root.equal.iter().all(|&(a, b)| proofs[a.0][a.1] == proofs[b.0][b.1]);
        (ok, t.root.expose.iter().map(|&(s, i)| proofs[s][i]).collect())
    }

    /// Over `seeds` random instance sets satisfying `glue`: tree `t` accepts them and exposes
    /// what `glue` exposes, and rejects each of them with any one of `glue`'s equalities broken.
    fn checks_what_the_glue_checks(t: &Tree, glue: &Glue, counts: &[usize], seeds: u64, what: &str) {
        for seed in 0..seeds {
            let v = satisfying(glue, counts, seed);
            let want: Vec<u64> = glue.expose.iter().map(|&(s, i)| v[s][i]).collect();
            assert_eq!(run_levels(t, &v), (true, want), "{what}: honest instances");
            for &(a, b) in &glue.equal {
                let mut w = v.clone();
                w[b.0][b.1] = w[b.0][b.1].wrapping_add(1);
                assert!(!run_levels(t, &w).0, "{what}: broken {a:?} = {b:?} accepted by the tree");
            }
        }
    }

    /// 23 shards (a chain, skip links across every level's boundaries, all bindings equal,
    /// the model's values exposed from the first, a middle and the last shard): with fan-in
    /// 2, 3 and 4 the tree takes 3 to 5 levels, no circuit aggregates more than the fan-in,
    /// and the tree accepts exactly what the flat glue accepts, exposing the same values. Up
    /// to fan-in² shards the tree is the two-level split of before (same groups, same keys).
    #[test]
    fn a_deeper_tree_checks_what_one_aggregation_checks() {
        let n = 23;
        let counts = vec![7usize; n];
        let mut equal: Vec<(Slot, Slot)> = (1..n).map(|s| ((0, BINDING), (s, BINDING))).collect();
        equal.extend((0..n - 1).map(|s| ((s, 5), (s + 1, 1))));
        equal.extend([((1, 4), (17, 2)), ((3, 6), (22, 3)), ((9, 4), (10, 6)), ((12, 4), (20, 2))]);
        let glue = Glue { equal, expose: vec![(0, BINDING), (0, 2), (11, 3), (22, 4), (22, 6)] };
        // (leaf fan-in, upper fan-in, depth): the last is a sharded model's tree
        for (leaf, upper, depth) in [(2, 2, 5), (3, 3, 3), (4, 4, 3), (SHARD_FAN_IN, GROUP_FAN_IN, 4)] {
            let t = if leaf == upper { glue.tree(n, leaf) } else { glue.tree_by(n, leaf, upper) }.expect("tree").expect("23 shards need a tree");
            assert_eq!(t.levels.len() + 1, depth, "fan-in {leaf}/{upper}");
            let mut below = n;
            for (l, level) in t.levels.iter().enumerate() {
                let fan_in = if l == 0 { leaf } else { upper };
                assert_eq!(level.groups.iter().map(|g| g.len()).sum::<usize>(), below);
                assert!(level.groups.iter().all(|g| g.len() <= fan_in && !g.is_empty()), "fan-in {fan_in}: {:?}", level.groups);
                for (g, range) in level.groups.iter().enumerate() {
                    assert_eq!(level.passes(g), range.len() == 1, "fan-in {leaf}/{upper}, level {l}: a group of one is passed on, no other");
                }
                below = level.groups.len();
            }
            assert!(below <= upper);
            checks_what_the_glue_checks(&t, &glue, &counts, 10, &format!("fan-in {leaf}/{upper}"));
        }
        // a sharded model's tree: up to SHARD_FAN_IN shards one circuit; 12 (nanoGPT's) four
        // groups of three, two of two group proofs, and the root over those two
        assert!(glue_of_chain(3).tree_by(3, SHARD_FAN_IN, GROUP_FAN_IN).expect("no tree").is_none());
        let t = glue_of_chain(12).tree_by(12, SHARD_FAN_IN, GROUP_FAN_IN).expect("tree").expect("a tree of 12");
        let sizes: Vec<Vec<usize>> = t.levels.iter().map(|l| l.groups.iter().map(|g| g.len()).collect()).collect();
        assert_eq!(sizes, vec![vec![3, 3, 3, 3], vec![2, 2]]);
        assert_eq!(tree_sizes(12, SHARD_FAN_IN, GROUP_FAN_IN), (sizes, 2));
        assert_eq!(tree_sizes(3, SHARD_FAN_IN, GROUP_FAN_IN), (vec![], 3));
        assert_eq!(tree_sizes(22, SHARD_FAN_IN, GROUP_FAN_IN), (vec![vec![2, 3, 3, 3, 2, 3, 3, 3], vec![2, 2, 2, 2], vec![2, 2]], 2));
        // odd numbers of group proofs: the group of one passes its proof on (13 shards: 5
        // groups, then one passed on and 2 circuits, then one passed on and 1 circuit, then
        // the root: 9 circuits, not 11)
        let t = glue_of_chain(13).tree_by(13, SHARD_FAN_IN, GROUP_FAN_IN).expect("tree").expect("a tree of 13");
        assert_eq!(t.levels.iter().map(|l| l.groups.iter().map(|g| g.len()).collect::<Vec<_>>()).collect::<Vec<_>>(), vec![vec![2, 3, 2, 3, 3], vec![1, 2, 2], vec![1, 2]]);
        assert_eq!(t.levels.iter().map(Level::circuits).collect::<Vec<_>>(), vec![5, 2, 1]);
        assert_eq!(t.levels[1].pass, vec![true, false, false]);
        let t7 = glue_of_chain(7).tree_by(7, SHARD_FAN_IN, GROUP_FAN_IN).expect("tree").expect("a tree of 7");
        assert_eq!(t7.levels.iter().map(Level::circuits).collect::<Vec<_>>(), vec![3, 1]);
        // every size from 4 to 40 shards, with links across the groups: the tree with groups
        // passed on accepts exactly what the flat glue accepts
        for m in 4..=40 {
            let mut g = glue_of_chain(m);
            g.equal.extend([((1, 3), (m - 1, 2)), ((0, 4), (m / 2, 4)), ((m / 2, 5), (m / 2 + 1, 6))]);
            g.expose.push((m / 2, 6));
            // and two instances of one proof held equal (a group of one shard proof under
            // fan-in 2 passes it on: the root must hold them)
            g.equal.extend((0..m).filter(|&s| s != m / 2 && s != m / 2 + 1).map(|s| ((s, 3), (s, 6))));
            for (leaf, upper) in [(SHARD_FAN_IN, GROUP_FAN_IN), (2, 2)] {
                let t = g.tree_by(m, leaf, upper).expect("tree").expect("a tree");
                assert!(t.levels.iter().flat_map(|l| l.groups.iter().zip(&l.pass)).all(|(r, &p)| p == (r.len() == 1)));
                checks_what_the_glue_checks(&t, &g, &vec![7; m], 4, &format!("{m} shards, fan-in {leaf}/{upper}, groups of one passed on"));
            }
        }
        // a group passed on holds one proof
        assert!(glue_of_chain(4).split_passing(&[0..2, 2..4], &[true, false]).is_err());
        assert!(glue_of_chain(4).split_passing(&[0..2, 2..4], &[false]).is_err());
        for m in 5..=16 {
            let groups = level_groups(m, 4).expect("a tree");
            let t = glue_of_chain(m).tree(m, 4).expect("tree").expect("a tree");
            assert_eq!(t.levels.len(), 1, "{m} shards: two levels");
            assert_eq!(t.levels[0].groups, groups);
            assert_eq!(t, {
                let s = glue_of_chain(m).split(&groups).expect("split");
                Tree { levels: vec![Level { groups: s.groups, glue: s.group, pass: vec![false; groups.len()] }], root: s.root }
            });
        }
        assert!(glue_of_chain(4).tree(4, 4).expect("no tree").is_none());
    }

    /// A wrapped tree is the tree with the root's circuit as one more level of one group and a
    /// root over that one proof: it accepts exactly what the flat glue accepts, exposes the same
    /// values, and its root holds nothing equal.
    #[test]
    fn a_wrapped_tree_checks_what_the_tree_checks() {
        let n = 23;
        let counts = vec![7usize; n];
        let mut equal: Vec<(Slot, Slot)> = (1..n).map(|s| ((0, BINDING), (s, BINDING))).collect();
        equal.extend((0..n - 1).map(|s| ((s, 5), (s + 1, 1))));
        equal.extend([((1, 4), (17, 2)), ((3, 6), (22, 3))]);
        let glue = Glue { equal, expose: vec![(0, BINDING), (0, 2), (11, 3), (22, 4)] };
        // 23 proofs (a tree below the wrap), 3 (one circuit below it), and a batch of 16
        for (glue, n, counts) in [(glue.clone(), n, counts.clone()), (glue_of_chain(3), 3, vec![7; 3]), (batch(16, 3), 16, vec![3; 16])] {
            let w = glue.wrapped_tree(n, 4).expect("wrapped");
            let plain = glue.tree(n, 4).expect("tree");
            assert_eq!(w.levels.len(), plain.as_ref().map_or(0, |t| t.levels.len()) + 1);
            let last = w.levels.last().expect("a level");
            assert_eq!(last.groups.len(), 1, "the wrapped circuit is one group");
            assert_eq!(last.groups[0].len(), plain.as_ref().map_or(n, |t| t.levels.last().expect("level").groups.len()));
            if let Some(p) = &plain {
                assert_eq!(&w.levels[..p.levels.len()], &p.levels[..], "the levels below are the tree's");
                assert_eq!(last.glue[0], p.root, "the wrapped group is the tree's root");
            }
            assert!(w.root.equal.is_empty());
            assert_eq!(w.root.expose, (0..glue.expose.len()).map(|i| (0, aggregate::ACCUMULATOR_LIMBS + i)).collect::<Vec<_>>());
            checks_what_the_glue_checks(&w, &glue, &counts, 5, &format!("{n} proofs, wrapped"));
        }
    }

    /// A batch's glue: nothing equal, every instance of every proof exposed in order.
    fn batch(n: usize, per: usize) -> Glue {
        Glue { equal: vec![], expose: (0..n).flat_map(|j| (0..per).map(move |i| (j, i))).collect() }
    }

    fn glue_of_chain(n: usize) -> Glue {
        let mut equal: Vec<(Slot, Slot)> = (1..n).map(|s| ((0, BINDING), (s, BINDING))).collect();
        equal.extend((0..n - 1).map(|s| ((s, 2), (s + 1, 1))));
        Glue { equal, expose: vec![(0, BINDING), (n - 1, 3)] }
    }
}
