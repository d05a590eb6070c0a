//! Linked shards: how the public instances of a sharded model's shard proofs fit together,
//! and the native check that they do.
//!
//! A sharded model is proved as one proof per shard ([`zkinfer_circuits::ir::shard`]). The
//! proofs together show that the model computed its output when, besides each proof
//! verifying under its shard's key:
//! * every shard proves the same binding (instance 0);
//! * the model's own public instances (what a single-circuit proof would expose: inputs and
//!   outputs by their visibility) are the ones of the shards that take or make each tensor;
//! * every link holds: the `linked` output of the shard that makes a boundary tensor equals
//!   the `linked` input of each shard that uses it (salted digests, so equal values), and a
//!   public or hashed weight tensor used by several shards has the same instances in each.
//!
//! [`Wiring`] is that structure, derived from the graphs alone (never from a proof), and
//! [`Wiring::check`] checks it on instances. [`sharded_id`] is the identity of the whole: the
//! model graph and every shard's identity (which covers its key, graph, shape and instance
//! layout, [`crate::identity`]).

use std::ops::Range;

use halo2_proofs::halo2curves::bn256::Fr;
use sha2::{Digest, Sha256};
use zkinfer_circuits::ir::{Graph, ValueId, Visibility};
use zkinfer_circuits::public::{self, BINDING};

use crate::error::{ProverError, Result};
use crate::identity::ModelId;

/// One boundary tensor handed from one shard to a later one (its salted digests), or one
/// instance of a public weight tensor that several shards use (its copies).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub tensor: String,
    /// (shard, instance index) of the maker's `linked` output digest.
    pub from: (usize, usize),
    /// (shard, instance index) of the user's `linked` input digest.
    pub to: (usize, usize),
}

/// Where one of the model's public tensors lies: among the model's instances and among one
/// shard's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exposed {
    pub tensor: String,
    pub model: Range<usize>,
    pub shard: usize,
    pub at: Range<usize>,
}

/// How the shard proofs of a sharded model fit together (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wiring {
    /// Public instances of the model (as a single circuit would have) and of each shard.
    pub model_instances: usize,
    pub shard_instances: Vec<usize>,
    pub exposed: Vec<Exposed>,
    pub links: Vec<Link>,
}

/// What a tensor is to a graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Input,
    Output,
    Weights,
}

/// (role, value, visibility, instance range, name) of each input, output and witness weight
/// tensor of `g`, in instance order.
fn tensors(g: &Graph) -> Vec<(Role, ValueId, Visibility, Range<usize>, String)> {
    let ids = g.inputs.iter().map(|i| (Role::Input, i.value)).chain(g.outputs.iter().map(|o| (Role::Output, o.value))).chain(g.params.iter().map(|p| (Role::Weights, p.value)));
    public::instance_layout(g).into_iter().zip(ids).map(|(t, (role, v))| (role, v, t.visibility, t.first..t.first + t.instances, t.name)).collect()
}

impl Wiring {
    /// The wiring of `model` cut into the shard graphs `shards` (from
    /// [`zkinfer_circuits::ir::shard::shard_graphs`]); an error if they do not fit together.
    pub fn new(model: &Graph, shards: &[Graph]) -> Result<Wiring> {
        let bad = |why: String| ProverError::Invalid { what: "shard graphs", why };
        if shards.is_empty() {
            return Err(bad("no shards".into()));
        }
        let per_shard: Vec<_> = shards.iter().map(tensors).collect();
        let mut exposed = Vec::new();
        let mut links = Vec::new();
        for (role, v, vis, range, name) in tensors(model) {
            if vis == Visibility::Private {
                continue;
            }
            // where the tensor is public: the model's inputs in the first shard, an output in
            // the shard that makes it, a weight tensor in every shard that uses it
            let found: Vec<(usize, Range<usize>)> = per_shard.iter().enumerate().filter(|&(s, _)| role != Role::Input || s == 0).filter_map(|(s, ts)| ts.iter().find(|t| t.0 == role && t.1 == v && t.2 == vis).map(|t| (s, t.3.clone()))).collect();
            let what = match role {
                Role::Input => "input",
                Role::Output => "output",
                Role::Weights => "weight tensor",
            };
            let Some((shard, at)) = found.first().cloned() else {
                return Err(bad(format!("model {what} `{name}` is in no shard")));
            };
            if let Some((s, other)) = found.iter().find(|(_, at)| at.len() != range.len()) {
                return Err(bad(format!("`{name}` has {} instances in shard {s}, {} in the model", other.len(), range.len())));
            }
            // a weight tensor public in several shards: each copy equal to the first
            for (s, other) in &found[1..] {
                links.extend(at.clone().zip(other.clone()).map(|(i, j)| Link { tensor: name.clone(), from: (shard, i), to: (*s, j) }));
            }
            exposed.push(Exposed { tensor: name, model: range, shard, at });
        }
        for (j, ts) in per_shard.iter().enumerate() {
            for (_, v, _, at, name) in ts.iter().filter(|t| t.0 == Role::Input && t.2 == Visibility::Linked) {
                let from = per_shard[..j]
                    .iter()
                    .enumerate()
                    .find_map(|(i, earlier)| earlier.iter().find(|t| t.0 == Role::Output && t.1 == *v && t.2 == Visibility::Linked).map(|t| (i, t.3.start)))
                    .ok_or_else(|| bad(format!("shard {j} takes `{name}`, which no earlier shard hands on")))?;
                links.push(Link { tensor: name.clone(), from, to: (j, at.start) });
            }
        }
        Ok(Wiring { model_instances: public::num_instances(model), shard_instances: shards.iter().map(public::num_instances).collect(), exposed, links })
    }

    /// Checks shard proofs' instances against the model's public instances (see the module
    /// docs); the error says which part does not fit.
    pub fn check(&self, model: &[Fr], shards: &[Vec<Fr>]) -> std::result::Result<(), String> {
        if shards.len() != self.shard_instances.len() {
            return Err(format!("{} shard proofs, the model has {} shards", shards.len(), self.shard_instances.len()));
        }
        if model.len() != self.model_instances {
            return Err(format!("{} public instances, the model has {}", model.len(), self.model_instances));
        }
        for (i, (inst, &n)) in shards.iter().zip(&self.shard_instances).enumerate() {
            if inst.len() != n {
                return Err(format!("shard {i} has {} public instances, its circuit {n}", inst.len()));
            }
            if inst[BINDING] != model[BINDING] {
                return Err(format!("shard {i} is bound to another binding than the proof"));
            }
        }
        for e in &self.exposed {
            if shards[e.shard][e.at.clone()] != model[e.model.clone()] {
                return Err(format!("`{}`: the model's public values are not the ones shard {} proves", e.tensor, e.shard));
            }
        }
        for l in &self.links {
            if shards[l.from.0][l.from.1] != shards[l.to.0][l.to.1] {
                return Err(format!("link broken: shard {} does not start from the `{}` shard {} ended with", l.to.0, l.tensor, l.from.0));
            }
        }
        Ok(())
    }
}

/// Domain separator (and version) of a sharded model's identity.
const DOMAIN: &[u8] = b"zkinfer-sharded-model-id/1";

/// The identity of a sharded model: the model graph (which fixes the wiring with the shard
/// graphs) and each shard's identity, in order.
pub fn sharded_id(model: &Graph, shards: &[ModelId]) -> Result<ModelId> {
    let graph = serde_json::to_vec(model).map_err(|e| ProverError::Invalid { what: "model graph", why: e.to_string() })?;
    let mut h = Sha256::new();
    h.update((DOMAIN.len() as u64).to_le_bytes());
    h.update(DOMAIN);
    h.update(Sha256::digest(&graph));
    h.update((shards.len() as u64).to_le_bytes());
    for id in shards {
        h.update(id.0);
    }
    Ok(ModelId(h.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkinfer_circuits::ir::shard::shard_graphs;
    use zkinfer_circuits::onnx::{import_file, ImportOptions};

    /// Model and shard instances that fit `w`: distinct model values, each shard bound to the
    /// model's binding and holding the model values it exposes, each link's two ends equal.
    fn fitting_instances(w: &Wiring) -> (Vec<Fr>, Vec<Vec<Fr>>) {
        let model: Vec<Fr> = (0..w.model_instances).map(|i| Fr::from(i as u64 + 7)).collect();
        let mut inst: Vec<Vec<Fr>> = w.shard_instances.iter().map(|&n| vec![Fr::from(0); n]).collect();
        for s in &mut inst {
            s[BINDING] = model[BINDING];
        }
        for e in &w.exposed {
            inst[e.shard][e.at.clone()].copy_from_slice(&model[e.model.clone()]);
        }
        for (k, l) in w.links.iter().enumerate() {
            inst[l.from.0][l.from.1] = Fr::from(1000 + k as u64);
            inst[l.to.0][l.to.1] = Fr::from(1000 + k as u64);
        }
        (model, inst)
    }

    /// Every link joins a maker's linked output to a later user's linked input of the same
    /// tensor, the model's inputs and outputs are found in the shards, and the check refuses
    /// a broken link, another binding and changed model values.
    #[test]
    fn wiring_joins_shards() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/digits_cnn/model.onnx");
        let g = import_file(&path, &ImportOptions::default()).expect("import");
        let n = g.nodes.len();
        let ends = vec![n / 3, 2 * n / 3, n];
        let shards = shard_graphs(&g, &ends).expect("shards");
        let w = Wiring::new(&g, &shards).expect("wiring");
        assert!(!w.links.is_empty());
        for l in &w.links {
            assert!(l.from.0 < l.to.0, "{l:?}");
        }
        assert_eq!(w.exposed.len(), g.inputs.len() + g.outputs.len());
        let (model, inst) = fitting_instances(&w);
        assert_eq!(w.check(&model, &inst), Ok(()));
        let mut broken = inst.clone();
        let l = &w.links[0];
        broken[l.to.0][l.to.1] += Fr::from(1);
        assert!(w.check(&model, &broken).unwrap_err().contains("link broken"));
        let mut rebound = inst.clone();
        rebound[1][BINDING] = Fr::from(99);
        assert!(w.check(&model, &rebound).is_err());
        let mut other = model.clone();
        *other.last_mut().expect("instances") += Fr::from(1);
        assert!(w.check(&other, &inst).is_err());
        assert!(w.check(&model, &inst[..2]).is_err());
    }

    /// Witness weights: each shard takes the weight tensors its nodes use, with the model's
    /// visibility; the model's weight instances are found in the shards (hashed: the digests),
    /// and the check refuses a shard proving other weights.
    #[test]
    fn wiring_exposes_witness_weights_from_their_shards() {
        use zkinfer_circuits::ir::{Visibility, WeightVisibility};
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/digits_cnn/model.onnx");
        let mut opts = ImportOptions::default();
        opts.visibility.weights = WeightVisibility::Hashed;
        let g = import_file(&path, &opts).expect("import");
        assert!(g.params.len() >= 2);
        let n = g.nodes.len();
        let shards = shard_graphs(&g, &[n / 2, n]).expect("shards");
        // every weight tensor goes to exactly the shards that use it, hashed as in the model
        for p in &g.params {
            let holders: Vec<usize> = shards.iter().enumerate().filter(|(_, s)| s.params.iter().any(|q| q.value == p.value && q.visibility == Visibility::Hashed)).map(|(i, _)| i).collect();
            assert_eq!(holders.len(), 1, "`{}` in shards {holders:?}", p.name);
        }
        assert!(shards.iter().all(|s| !s.params.is_empty()), "both halves have weights");
        let w = Wiring::new(&g, &shards).expect("wiring");
        assert_eq!(w.exposed.len(), g.inputs.len() + g.outputs.len() + g.params.len());
        let (model, inst) = fitting_instances(&w);
        assert_eq!(w.check(&model, &inst), Ok(()));
        let last = w.exposed.iter().max_by_key(|e| e.model.start).expect("a weight tensor");
        let mut other = inst.clone();
        other[last.shard][last.at.start] += Fr::from(1);
        assert!(w.check(&model, &other).unwrap_err().contains(&last.tensor));
    }

    /// A public weight tensor used by two shards is exposed once and its copies are linked;
    /// a private one used by two shards is refused (nothing would tie the copies together).
    #[test]
    fn shared_weights_are_linked_or_refused() {
        use zkinfer_circuits::ir::{InputSpec, OutputSpec, ParamSpec, Visibility};
        use zkinfer_circuits::ops::{Dense, Op, WitnessParams};
        let shared = |vis: Visibility| {
            let mut g = Graph::default();
            let x = g.add_value("x", vec![1, 2], -8, 7).expect("x");
            g.inputs.push(InputSpec { name: "x".into(), value: x, shape: vec![1, 2], scale: 1.0, zero_point: 0, lo: -8, hi: 7, saturates: false, visibility: Visibility::Public });
            let w = g.add_value("w", vec![2, 2], -8, 7).expect("w");
            g.params.push(ParamSpec { name: "w".into(), value: w, shape: vec![2, 2], visibility: vis, data: Some(vec![1, 2, 3, 4]) });
            let dense = |input| Op::Dense(Dense { input, input_zp: 0, weight: zkinfer_circuits::ir::Tensor { shape: vec![2, 2], data: vec![] }, bias: vec![], params: Some(WitnessParams { weight: w, bias: None }) });
            let a = g.add_node("a", dense(x)).expect("a");
            let b = g.add_node("b", dense(a)).expect("b");
            g.outputs.push(OutputSpec { name: "b".into(), value: b, shape: vec![1, 2], scale: 1.0, zero_point: 0, visibility: Visibility::Public });
            g
        };
        let g = shared(Visibility::Public);
        let shards = shard_graphs(&g, &[1, 2]).expect("shards");
        assert!(shards.iter().all(|s| s.params.len() == 1));
        let w = Wiring::new(&g, &shards).expect("wiring");
        let copies: Vec<_> = w.links.iter().filter(|l| l.tensor == "w").collect();
        assert!(!copies.is_empty() && copies.iter().all(|l| l.from.0 == 0 && l.to.0 == 1), "{copies:?}");
        let e = shard_graphs(&shared(Visibility::Private), &[1, 2]).expect_err("private and shared").to_string();
        assert!(e.contains("private weight tensor `w`"), "{e}");
    }
}
