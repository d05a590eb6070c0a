//! Small file helpers: whole-file reads with the path in the error, and atomic writes.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{ProverError, Result};

/// Reads a whole file.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| ProverError::io(path, e))
}

/// Writes `path` atomically: the bytes go to a temporary file in the same directory, which is
/// then renamed over `path`, so readers never see a half-written file.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    let tmp = temp_sibling(path);
    let res = (|| {
        let file = fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::new(file);
        write(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        // Best effort: the temporary file may not exist, and the original error matters more.
        let _ = fs::remove_file(&tmp);
        return Err(ProverError::io(path, e));
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes))
}

fn temp_sibling(path: &Path) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    path.with_file_name(format!(".{name}.tmp-{}-{nanos}-{n}", std::process::id()))
}
