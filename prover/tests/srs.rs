//! SRS files: save/load roundtrip, downsizing, too-small and corrupt files.

use std::time::Instant;

use halo2_proofs::poly::commitment::{Params, ParamsProver};
use zkinfer_prover::srs::{dev_srs, load_srs, save_srs, srs_file_len, srs_fingerprint, DEV_SRS_WARNING};
use zkinfer_prover::ProverError;

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("zkinfer-prover").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn dev_srs_warns() {
    let (_, w) = dev_srs(2).expect("srs");
    assert_eq!(w, DEV_SRS_WARNING);
    assert!(w.contains("UNSAFE dev SRS: toxic waste is known, for tests and demos only"));
}

#[test]
fn save_load_roundtrip_and_downsize() {
    let dir = scratch("srs-roundtrip");
    let path = dir.join("kzg_bn254_10.srs");
    let (p10, _) = dev_srs(10).expect("srs");
    let t = Instant::now();
    save_srs(&p10, &path).expect("save");
    assert_eq!(std::fs::metadata(&path).expect("file").len(), srs_file_len(10));
    let same = load_srs(&path, 10).expect("load");
    eprintln!("[timing] save + load SRS k = 10: {:.2?}", t.elapsed());
    assert_eq!(same.get_g(), p10.get_g());
    assert_eq!(same.s_g2(), p10.s_g2());

    let t = Instant::now();
    let small = load_srs(&path, 7).expect("load downsized");
    eprintln!("[timing] load SRS k = 10 downsized to 7: {:.2?}", t.elapsed());
    let (p7, _) = dev_srs(7).expect("srs");
    assert_eq!(small.k(), 7);
    assert_eq!(small.get_g(), p7.get_g());
    assert_eq!(srs_fingerprint(&small), srs_fingerprint(&p10));
    // g_lagrange is recomputed correctly: committing the same poly gives the same point.
    let mut a = Vec::new();
    let mut b = Vec::new();
    small.write(&mut a).expect("write");
    p7.write(&mut b).expect("write");
    assert!(a == b, "downsized SRS differs from the dev SRS at k = 7");

    let err = load_srs(&path, 11).expect_err("too small");
    assert!(matches!(err, ProverError::SrsTooSmall { have: 10, need: 11 }), "{err}");
    eprintln!("{err}");
}

#[test]
fn corrupt_srs_files_are_errors_not_panics() {
    let dir = scratch("srs-corrupt");
    let path = dir.join("good.srs");
    let (p, _) = dev_srs(4).expect("srs");
    save_srs(&p, &path).expect("save");
    let good = std::fs::read(&path).expect("read");
    let bad = dir.join("bad.srs");
    let check = |bytes: &[u8], k: u32| {
        std::fs::write(&bad, bytes).expect("write");
        let err = load_srs(&bad, k).expect_err("corrupt");
        eprintln!("{err}");
        assert!(matches!(err, ProverError::Corrupt { .. }), "{err}");
    };
    check(&good[..good.len() - 1], 4);
    check(&good[..2], 4);
    check(&[], 4);
    let mut huge_k = good.clone();
    huge_k[0] = 40;
    check(&huge_k, 4);
    for (at, k) in [(4 + 64 * 3 + 5, 4), (4 + 64 * 3 + 5, 3), (good.len() - 20, 4), (good.len() - 20, 2), (4 + 64 * 20, 4)] {
        let mut flipped = good.clone();
        flipped[at] ^= 0x40;
        check(&flipped, k);
    }
    let err = load_srs(&dir.join("missing.srs"), 4).expect_err("missing");
    assert!(matches!(err, ProverError::Io { .. }), "{err}");
}
