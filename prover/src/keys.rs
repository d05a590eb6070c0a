//! Key generation, and the proving/verifying key files.
//!
//! A key file is a fixed header followed by the halo2 key bytes (`SerdeFormat::RawBytes`):
//!
//! ```text
//! magic        8 bytes   "ZKIVK003" (verifying key) or "ZKIPK003" (proving key); version 003 = with the model identity
//! k            u32 LE    the circuit has 2^k rows
//! width        u32 LE    circuit Shape::width
//! lookup_width u32 LE    circuit Shape::lookup_width
//! srs          32 bytes  srs_fingerprint of the SRS the key was made with
//! vk_hash      32 bytes  sha256 of the verifying key bytes (a consistency check of the payload)
//! model_id     32 bytes  the model identity (crate::identity) computed at setup
//! payload_len  u64 LE
//! checksum     32 bytes  sha256 of all the bytes above and the payload
//! payload      the key, as written by halo2
//! ```
//!
//! The checksum is checked before halo2 parses anything, so a corrupt file is a clear
//! error: halo2's readers panic on some malformed input. The checksum only detects damage:
//! anyone can rewrite a header and recompute it. What makes a key trustworthy is its
//! identity: [`load_vk`] / [`load_pk`] parse the key with the settings' shape (refusing a
//! header that says another), recompute [`crate::identity::model_id`] from the key, the
//! settings and the SRS, and refuse a key whose recorded identity differs.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use halo2_proofs::halo2curves::bn256::{Bn256, G1Affine};
use halo2_proofs::plonk::{keygen_pk, keygen_vk, ProvingKey, VerifyingKey};
use halo2_proofs::poly::commitment::Params;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::SerdeFormat;
use sha2::{Digest, Sha256};
use zkinfer_circuits::layout::circuit::ModelCircuit;
use zkinfer_circuits::layout::ctx::Shape;

use crate::error::{ProverError, Result};
use crate::identity::{model_id, IdentityParts, ModelId};
use crate::sizing::{check_fits, check_shape};
use crate::srs::srs_fingerprint;
use crate::{fsutil, util};

const VK_MAGIC: &[u8; 8] = b"ZKIVK003";
const PK_MAGIC: &[u8; 8] = b"ZKIPK003";
const HEADER_LEN: usize = 8 + 4 + 4 + 4 + 32 + 32 + 32 + 8 + 32;
const CHECKSUM_AT: usize = HEADER_LEN - 32;
const FORMAT: SerdeFormat = SerdeFormat::RawBytes;

/// Which key a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Verifying,
    Proving,
}

impl KeyKind {
    fn magic(self) -> &'static [u8; 8] {
        match self {
            KeyKind::Verifying => VK_MAGIC,
            KeyKind::Proving => PK_MAGIC,
        }
    }

    fn what(self) -> &'static str {
        match self {
            KeyKind::Verifying => "zkinfer verifying key file",
            KeyKind::Proving => "zkinfer proving key file",
        }
    }
}

/// What a key file says about its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyHeader {
    pub kind: KeyKind,
    pub k: u32,
    pub shape: Shape,
    pub srs_fingerprint: [u8; 32],
    pub vk_hash: [u8; 32],
    /// The model identity recorded at setup.
    pub model_id: ModelId,
}

impl KeyHeader {
    /// Checks `params` are the SRS (at the same size) the key was generated with.
    pub fn check_params(&self, params: &ParamsKZG<Bn256>) -> Result<()> {
        let what = match self.kind {
            KeyKind::Verifying => "the verifying key",
            KeyKind::Proving => "the proving key",
        };
        if srs_fingerprint(params) != self.srs_fingerprint {
            return Err(ProverError::SrsMismatch { what: what.into() });
        }
        if params.k() != self.k {
            return Err(ProverError::KMismatch { what: format!("the SRS given for {what}"), expected: self.k, found: params.k() });
        }
        Ok(())
    }
}

/// Generates the proving key (which contains the verifying key, `pk.get_vk()`) for `circuit`
/// with `params` of the circuit's size.
pub fn keygen(params: &ParamsKZG<Bn256>, circuit: &ModelCircuit) -> Result<ProvingKey<G1Affine>> {
    check_fits(circuit, params.k())?;
    // Backstop: halo2 panics on some malformed circuits instead of returning an error.
    catch_unwind(AssertUnwindSafe(|| {
        let vk = keygen_vk(params, circuit).map_err(|e| ProverError::halo2("verifying key generation", e))?;
        keygen_pk(params, vk, circuit).map_err(|e| ProverError::halo2("proving key generation", e))
    }))
    .map_err(|p| ProverError::halo2("key generation", util::panic_message(&p)))?
}

/// The verifying key as bytes (`SerdeFormat::RawBytes`).
pub fn vk_bytes(vk: &VerifyingKey<G1Affine>) -> Vec<u8> {
    vk.to_bytes(FORMAT)
}

/// sha256 of the verifying key bytes. Not an identity: the same bytes read under another
/// circuit shape are another circuit (see [`crate::identity`]).
pub fn vk_hash(vk: &VerifyingKey<G1Affine>) -> [u8; 32] {
    Sha256::digest(vk_bytes(vk)).into()
}

/// Writes the verifying and proving key files of `pk`, generated for `parts` (whose shape,
/// SRS and graph, with the key, give the model identity recorded in both); returns the identity.
pub fn write_keys(vk_path: &Path, pk_path: &Path, pk: &ProvingKey<G1Affine>, parts: &IdentityParts<'_>) -> Result<ModelId> {
    write_keys_of(vk_path, Some(pk_path), pk, parts)
}

/// [`write_keys`], the proving key file only when `pk_path` is given (`None`: only the
/// verifying key is kept; the proving key is made again when needed, [`check_regenerated_pk`]).
pub fn write_keys_of(vk_path: &Path, pk_path: Option<&Path>, pk: &ProvingKey<G1Affine>, parts: &IdentityParts<'_>) -> Result<ModelId> {
    let vk = pk.get_vk();
    let id = model_id(vk, parts);
    let payload = vk_bytes(vk);
    let header = |kind| KeyHeader { kind, k: vk.get_domain().k(), shape: parts.shape, srs_fingerprint: srs_fingerprint(parts.params), vk_hash: Sha256::digest(&payload).into(), model_id: id };
    write_key(vk_path, &header(KeyKind::Verifying), &payload)?;
    if let Some(pk_path) = pk_path {
        write_key(pk_path, &header(KeyKind::Proving), &pk.to_bytes(FORMAT))?;
    }
    Ok(id)
}

/// Checks a proving key made again (`pk`, from [`keygen`]) in place of a proving key file that
/// was not kept: accepted only when its verifying key is, byte for byte, `vk`, the one the
/// verifying key file at `vk_path` holds (read and checked first by [`load_vk`], before the
/// key generation is spent).
pub fn check_regenerated_pk(vk_path: &Path, vk: &VerifyingKey<G1Affine>, pk: &ProvingKey<G1Affine>) -> Result<()> {
    if vk_bytes(vk) != vk_bytes(pk.get_vk()) {
        return Err(ProverError::IdentityMismatch {
            path: vk_path.into(),
            why: "the proving key made again from these settings and this SRS does not give this verifying key: the settings or the SRS changed since setup".into(),
        });
    }
    Ok(())
}

/// Reads a verifying key file for `parts` and checks it belongs to them: the header's shape
/// is the settings' shape, the SRS is the key's, and the identity computed from the key,
/// the shape, the SRS and the graph is the one recorded at setup. Returns the key, its
/// header and the identity.
pub fn load_vk(path: &Path, parts: &IdentityParts<'_>) -> Result<(VerifyingKey<G1Affine>, KeyHeader)> {
    let (vk, header) = read_vk(path)?;
    check_identity(path, &header, &vk, parts)?;
    Ok((vk, header))
}

/// [`load_vk`] for a proving key file.
pub fn load_pk(path: &Path, parts: &IdentityParts<'_>) -> Result<(ProvingKey<G1Affine>, KeyHeader)> {
    let (pk, header) = read_pk(path)?;
    check_identity(path, &header, pk.get_vk(), parts)?;
    Ok((pk, header))
}

fn check_identity(path: &Path, h: &KeyHeader, vk: &VerifyingKey<G1Affine>, parts: &IdentityParts<'_>) -> Result<()> {
    if h.shape != parts.shape {
        return Err(ProverError::IdentityMismatch {
            path: path.into(),
            why: format!("its header says circuit shape {:?}, the settings say {:?}: the same key bytes read under another shape are another circuit", h.shape, parts.shape),
        });
    }
    h.check_params(parts.params)?;
    let id = model_id(vk, parts);
    if id != h.model_id {
        return Err(ProverError::IdentityMismatch {
            path: path.into(),
            why: format!("it records model {}, but the key with these settings and this SRS is model {id}: the settings or the key changed since setup", h.model_id),
        });
    }
    Ok(())
}

/// Reads a verifying key file written by [`write_vk`].
pub fn read_vk(path: &Path) -> Result<(VerifyingKey<G1Affine>, KeyHeader)> {
    let bytes = fsutil::read(path)?;
    let (header, payload) = parse_header(path, &bytes, KeyKind::Verifying)?;
    let shape = header.shape;
    let vk = parse_payload(path, KeyKind::Verifying, payload, |r| VerifyingKey::read::<_, ModelCircuit>(r, FORMAT, shape))?;
    check_parsed(path, &header, &vk)?;
    Ok((vk, header))
}

/// Reads a proving key file written by [`write_pk`].
pub fn read_pk(path: &Path) -> Result<(ProvingKey<G1Affine>, KeyHeader)> {
    let bytes = fsutil::read(path)?;
    let (header, payload) = parse_header(path, &bytes, KeyKind::Proving)?;
    let shape = header.shape;
    let pk = parse_payload(path, KeyKind::Proving, payload, |r| ProvingKey::read::<_, ModelCircuit>(r, FORMAT, shape))?;
    check_parsed(path, &header, pk.get_vk())?;
    Ok((pk, header))
}

fn write_key(path: &Path, h: &KeyHeader, payload: &[u8]) -> Result<()> {
    let mut head = Vec::with_capacity(HEADER_LEN);
    head.extend_from_slice(h.kind.magic());
    head.extend_from_slice(&h.k.to_le_bytes());
    // the width word carries shape flags in its high 16 bits (bit 16: function tables, bit 17:
    // Poseidon columns, bit 18: dot-product selector, bit 19: public column, bit 20: paired
    // range lookups)
    for (i, d) in [h.shape.width, h.shape.lookup_width].into_iter().enumerate() {
        let d = u16::try_from(d).map_err(|_| ProverError::Invalid { what: "circuit shape", why: format!("{:?} too wide", h.shape) })? as u32;
        let flags = if i == 0 { (h.shape.tables as u32) << 16 | (h.shape.hash as u32) << 17 | (h.shape.dot as u32) << 18 | (h.shape.public_column as u32) << 19 | (h.shape.pairs as u32) << 20 } else { 0 };
        head.extend_from_slice(&(d | flags).to_le_bytes());
    }
    head.extend_from_slice(&h.srs_fingerprint);
    head.extend_from_slice(&h.vk_hash);
    head.extend_from_slice(&h.model_id.0);
    head.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    let sum = checksum(&head, payload);
    head.extend_from_slice(&sum);
    debug_assert_eq!(head.len(), HEADER_LEN);
    fsutil::write_atomic(path, |w| {
        w.write_all(&head)?;
        w.write_all(payload)
    })
}

fn checksum(head: &[u8], payload: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(head);
    h.update(payload);
    h.finalize().into()
}

fn parse_header<'a>(path: &Path, bytes: &'a [u8], kind: KeyKind) -> Result<(KeyHeader, &'a [u8])> {
    let what = kind.what();
    let corrupt = |why: String| ProverError::corrupt(path, what, why);
    let magic = &bytes[..bytes.len().min(8)];
    if magic != kind.magic() {
        let other = if kind == KeyKind::Verifying { KeyKind::Proving } else { KeyKind::Verifying };
        let why = if magic == other.magic() {
            format!("it is a {} instead", other.what())
        } else if magic.len() == 8 && magic[..7] == kind.magic()[..7] {
            format!("it was made by another zkinfer version (key format {}, this one reads {}); run `zkinfer setup` again", String::from_utf8_lossy(&magic[5..]), String::from_utf8_lossy(&kind.magic()[5..]))
        } else {
            format!("it does not start with {:?}", String::from_utf8_lossy(kind.magic()))
        };
        return Err(corrupt(why));
    }
    if bytes.len() < HEADER_LEN {
        return Err(corrupt(format!("it is only {} bytes, shorter than the {HEADER_LEN}-byte header", bytes.len())));
    }
    let (head, payload) = bytes.split_at(HEADER_LEN);
    let u32_at = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    let arr32 = |i: usize| -> [u8; 32] {
        let mut a = [0u8; 32];
        a.copy_from_slice(&head[i..i + 32]);
        a
    };
    let k = u32_at(8);
    let (w, flags) = (u32_at(12) & 0xffff, u32_at(12) >> 16);
    if flags > 31 {
        return Err(corrupt(format!("unknown circuit shape flags {flags:#x}")));
    }
    let shape = Shape { width: w as usize, lookup_width: u32_at(16) as usize, tables: flags & 1 == 1, hash: flags & 2 == 2, dot: flags & 4 == 4, public_column: flags & 8 == 8, pairs: flags & 16 == 16 };
    let mut len_bytes = [0u8; 8];
    len_bytes.copy_from_slice(&head[116..124]);
    let payload_len = u64::from_le_bytes(len_bytes);
    if payload_len != payload.len() as u64 {
        return Err(corrupt(format!("header says {payload_len} key bytes follow, the file has {} (truncated?)", payload.len())));
    }
    if checksum(&head[..CHECKSUM_AT], payload) != arr32(CHECKSUM_AT) {
        return Err(corrupt("checksum mismatch: the file is damaged".into()));
    }
    if k > crate::srs::MAX_K {
        return Err(corrupt(format!("k = {k} is out of range")));
    }
    check_shape(shape).map_err(|e| corrupt(e.to_string()))?;
    Ok((KeyHeader { kind, k, shape, srs_fingerprint: arr32(20), vk_hash: arr32(52), model_id: ModelId(arr32(84)) }, payload))
}

fn parse_payload<T>(path: &Path, kind: KeyKind, payload: &[u8], read: impl FnOnce(&mut &[u8]) -> std::io::Result<T>) -> Result<T> {
    let mut r = payload;
    let parsed = catch_unwind(AssertUnwindSafe(|| read(&mut r)))
        .map_err(|p| ProverError::corrupt(path, kind.what(), format!("halo2 cannot parse the key ({})", util::panic_message(&p))))?
        .map_err(|e| ProverError::corrupt(path, kind.what(), format!("halo2 cannot parse the key ({e})")))?;
    if !r.is_empty() {
        return Err(ProverError::corrupt(path, kind.what(), format!("{} unexpected bytes after the key (written for another circuit shape?)", r.len())));
    }
    Ok(parsed)
}

fn check_parsed(path: &Path, h: &KeyHeader, vk: &VerifyingKey<G1Affine>) -> Result<()> {
    let k = vk.get_domain().k();
    if k != h.k {
        return Err(ProverError::corrupt(path, h.kind.what(), format!("header says k = {} but the key is for k = {k}", h.k)));
    }
    if vk_hash(vk) != h.vk_hash {
        return Err(ProverError::corrupt(path, h.kind.what(), "the key does not match its recorded hash (written for another circuit shape?)"));
    }
    Ok(())
}
