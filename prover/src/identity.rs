//! The model identity: one digest that names everything a verifier's verdict depends on.
//!
//! A proof "for model X" must mean that model X computed the output. What decides whether a
//! proof verifies, and what its public instances mean, is:
//!
//! * the constraint system: gates, lookups, the permutation's columns, selector compression,
//!   k. halo2 reads these from the circuit's [`Shape`], not from the key bytes, so the same
//!   key bytes read under another shape are another circuit (one with the range checks
//!   turned into another gate's selector, say). halo2's `transcript_repr` is a Blake2b digest
//!   of the pinned verifying key (constraint system, domain, fixed and permutation
//!   commitments) and covers all of it;
//! * the key bytes themselves (sha256, belt and braces) and the shape they were read with;
//! * the SRS points the verifier uses: `g[0]`, `g2` and `s_g2`;
//! * the public-instance layout: the number of instances and, through the IR graph, every
//!   tensor's shape, bounds, scale, zero point, visibility and packing (the graph is the
//!   reference semantics the instances are decoded with). Witness weights' values are not in
//!   the graph (one key serves every set of weights in range); their digests are public
//!   instances, checked separately.
//!
//! [`model_id`] computes it; [`crate::keys`] records it in both key files at setup, and every
//! reader recomputes it from what it is about to trust ([`crate::keys::load_vk`],
//! [`crate::keys::load_pk`]) and refuses a mismatch. Proof files, the service's store and the
//! market's `ModelRegistry.vkHash` carry it.

use std::io::Write;

use halo2_proofs::halo2curves::bn256::{Bn256, G1Affine};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::VerifyingKey;
use halo2_proofs::poly::commitment::ParamsProver;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::{SerdeCurveAffine, SerdeFormat};
use sha2::{Digest, Sha256};
use zkinfer_circuits::ir::Graph;
use zkinfer_circuits::layout::ctx::Shape;

use crate::error::{ProverError, Result};

/// Domain separator (and version) of the identity digest.
const DOMAIN: &[u8] = b"zkinfer-model-id/1";

/// A model's identity (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModelId(pub [u8; 32]);

impl ModelId {
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits (an optional `0x` prefix allowed).
    pub fn from_hex(s: &str) -> Result<ModelId> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s.trim().trim_start_matches("0x"), &mut b).map_err(|e| ProverError::Invalid { what: "model identity", why: format!("`{s}` is not 64 hex digits: {e}") })?;
        Ok(ModelId(b))
    }
}

impl std::fmt::Display for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

/// What the identity is computed from, besides the verifying key: the circuit's shape, the
/// verifier's SRS points and the graph (the public-instance layout and the semantics).
pub struct IdentityParts<'a> {
    pub shape: Shape,
    pub params: &'a ParamsKZG<Bn256>,
    pub graph: &'a Graph,
}

/// The identity of the model whose verifying key is `vk` (read with `parts.shape`).
pub fn model_id(vk: &VerifyingKey<G1Affine>, parts: &IdentityParts<'_>) -> ModelId {
    let mut h = Sha256::new();
    let mut field = |tag: &str, bytes: &[u8]| {
        h.update((tag.len() as u32).to_le_bytes());
        h.update(tag.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field("domain", DOMAIN);
    field("transcript_repr", vk.transcript_repr().to_repr().as_ref());
    field("vk_sha256", &crate::keys::vk_hash(vk));
    field("k", &vk.get_domain().k().to_le_bytes());
    let s = parts.shape;
    let shape = [s.width as u64, s.lookup_width as u64, s.tables as u64, s.hash as u64, s.dot as u64];
    field("shape", &shape.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>());
    // (a field of its own, so that the identities of circuits without it stay as they were)
    if s.public_column {
        field("public_column", &[1]);
    }
    if s.pairs {
        field("pair_lookups", &[1]);
    }
    field("srs_verifier", &verifier_points(parts.params));
    field("num_instances", &(parts.graph.num_instances() as u64).to_le_bytes());
    field("graph_sha256", &graph_digest(parts.graph));
    ModelId(h.finalize().into())
}

/// `g[0]`, `g2` and `s_g2`: the SRS points a KZG verifier uses.
fn verifier_points(params: &ParamsKZG<Bn256>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64 + 128 * 2);
    // (writing into a Vec cannot fail)
    let _ = params.get_g()[0].write(&mut buf, SerdeFormat::RawBytes);
    let _ = params.g2().write(&mut buf, SerdeFormat::RawBytes);
    let _ = params.s_g2().write(&mut buf, SerdeFormat::RawBytes);
    buf
}

/// sha256 of the graph's JSON (witness weight values are never serialized with it), with
/// wire sources written one per element (the form every release has hashed).
pub fn graph_digest(g: &Graph) -> [u8; 32] {
    struct HashWriter(Sha256);
    impl Write for HashWriter {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.update(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = HashWriter(Sha256::new());
    // serializing plain serde data into a writer that never fails cannot fail; wires are
    // hashed one source per element, whatever the file encoding
    zkinfer_circuits::ops::wire::runs::with_expanded_sources(|| {
        let _ = serde_json::to_writer(&mut w, g);
    });
    w.0.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkinfer_circuits::ops::{Op, Src, Wire};

    /// The graph digest (part of every model identity) hashes wire sources one per element,
    /// as before the files wrote them as runs: identities of compiled models do not change.
    #[test]
    fn graph_digest_hashes_wires_element_by_element() {
        let mut g = Graph::default();
        let x = g.add_value("x", vec![3], -5, 5).expect("value");
        let src: Vec<Src> = (0..2).flat_map(|_| (0..3).map(|i| Src::In(0, i))).collect();
        g.add_node("w", Op::Wire(Wire { inputs: vec![x], shape: vec![2, 3], src: src.clone() })).expect("node");
        let compact = serde_json::to_string(&g).expect("json");
        let runs = r#""src":[[0,0,1,3,2,0]]"#;
        assert!(compact.contains(runs), "{compact}");
        let expanded = compact.replace(runs, &format!(r#""src":{}"#, serde_json::to_string(&src).expect("json")));
        assert!(expanded.contains(r#"{"In":[0,2]},{"In":[0,0]}"#), "{expanded}");
        let want: [u8; 32] = Sha256::digest(expanded.as_bytes()).into();
        assert_eq!(graph_digest(&g), want);
        let back: Graph = serde_json::from_str(&compact).expect("read back");
        assert_eq!(graph_digest(&back), want);
    }
}
