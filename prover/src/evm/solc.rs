//! Compiling the Solidity verifier with the pinned solcjs in `verifier-contract/`
//! (`node verifier-contract/compile.js in.sol -o out.json`, optimizer off).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;

use crate::error::{ProverError, Result};

/// Environment variable naming the `verifier-contract` directory.
pub const CONTRACTS_DIR_ENV: &str = "ZKINFER_CONTRACTS_DIR";

/// A compiled verifier contract.
#[derive(Clone, Debug)]
pub struct CompiledVerifier {
    /// Contract name (`Halo2Verifier` for snark-verifier output).
    pub name: String,
    /// Creation (deployment) bytecode.
    pub bytecode: Vec<u8>,
    /// Runtime bytecode, as stored on chain; EIP-170 limits it to 24,576 bytes.
    pub deployed_bytecode: Vec<u8>,
    /// `(start, length)` byte ranges of `deployed_bytecode` that the constructor fills with
    /// the contract's immutables (zero in `deployed_bytecode`).
    pub immutable_ranges: Vec<(usize, usize)>,
    pub abi: serde_json::Value,
    pub solc_version: String,
}

impl CompiledVerifier {
    /// Whether `code` (runtime code read from a chain) is this contract's, up to the values of
    /// its immutables: equal length, every byte outside the immutable ranges equal.
    pub fn is_runtime_of(&self, code: &[u8]) -> bool {
        if code.len() != self.deployed_bytecode.len() {
            return false;
        }
        let mut masked = code.to_vec();
        for &(start, len) in &self.immutable_ranges {
            match masked.get_mut(start..start.saturating_add(len)) {
                Some(r) => r.fill(0),
                None => return false,
            }
        }
        masked == self.deployed_bytecode
    }
}

#[derive(Deserialize)]
struct CompileOutput {
    contracts: std::collections::BTreeMap<String, ContractOutput>,
    #[serde(rename = "solcVersion", default)]
    solc_version: String,
}

#[derive(Deserialize)]
struct ContractOutput {
    bytecode: String,
    #[serde(rename = "deployedBytecode")]
    deployed_bytecode: String,
    #[serde(rename = "immutableRanges", default)]
    immutable_ranges: Vec<(usize, usize)>,
    #[serde(default)]
    abi: serde_json::Value,
}

/// Finds the `verifier-contract` directory (the one holding `compile.js`): `$ZKINFER_CONTRACTS_DIR`,
/// else `verifier-contract/` in the current directory or an ancestor, else next to this crate's
/// source tree.
pub fn contracts_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(CONTRACTS_DIR_ENV) {
        let dir = PathBuf::from(dir);
        if dir.join("compile.js").is_file() {
            return Ok(dir);
        }
        return Err(ProverError::Solc(format!("${CONTRACTS_DIR_ENV} = {} has no compile.js", dir.display())));
    }
    let from_cwd = std::env::current_dir().ok().into_iter().flat_map(|d| d.ancestors().map(Path::to_path_buf).collect::<Vec<_>>());
    let from_src = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().map(Path::to_path_buf).collect::<Vec<_>>();
    from_cwd
        .chain(from_src)
        .map(|d| d.join("verifier-contract"))
        .find(|d| d.join("compile.js").is_file())
        .ok_or_else(|| {
            ProverError::Solc(format!(
                "cannot find verifier-contract/compile.js; run from the zkinfer repository or set {CONTRACTS_DIR_ENV}"
            ))
        })
}

/// Installs the pinned solcjs (`bash install.sh` in `dir`; does nothing when installed).
pub fn install_solc(dir: &Path) -> Result<()> {
    let out = Command::new("bash")
        .arg(dir.join("install.sh"))
        .output()
        .map_err(|e| ProverError::Solc(format!("cannot run bash {}/install.sh: {e}", dir.display())))?;
    if !out.status.success() {
        return Err(ProverError::Solc(format!(
            "{}/install.sh failed ({}): {}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Compiles `sol` with the solcjs in [`contracts_dir`].
pub fn compile_sol(sol: &str) -> Result<CompiledVerifier> {
    compile_sol_in(&contracts_dir()?, sol)
}

/// Compiles `sol` (one contract) with `dir/compile.js`, optimizer off.
pub fn compile_sol_in(dir: &Path, sol: &str) -> Result<CompiledVerifier> {
    let json = run_compile(dir, sol)?;
    parse_output(&json).map_err(ProverError::Solc)
}

/// Compiles `sol` (any number of contracts) with `dir/compile.js`, optimizer off; returns every
/// contract.
pub fn compile_source_in(dir: &Path, sol: &str) -> Result<Vec<CompiledVerifier>> {
    let json = run_compile(dir, sol)?;
    let out: CompileOutput = serde_json::from_slice(&json).map_err(|e| ProverError::Solc(format!("unexpected compile.js output: {e}")))?;
    out.contracts.into_iter().map(|(name, c)| contract(name, c, &out.solc_version, false).map_err(ProverError::Solc)).collect()
}

fn run_compile(dir: &Path, sol: &str) -> Result<Vec<u8>> {
    if !dir.join("node_modules/solc/package.json").is_file() {
        return Err(ProverError::Solc(format!("solcjs is not installed: run `bash {}/install.sh`", dir.display())));
    }
    let work = TempDir::new()?;
    let (src, out_path) = (work.0.join("Verifier.sol"), work.0.join("verifier.json"));
    std::fs::write(&src, sol).map_err(|e| ProverError::io(&src, e))?;
    let out = Command::new("node")
        .arg(dir.join("compile.js"))
        .arg(&src)
        .arg("-o")
        .arg(&out_path)
        .output()
        .map_err(|e| ProverError::Solc(format!("cannot run node (is Node >= 18 installed?): {e}")))?;
    if !out.status.success() {
        return Err(ProverError::Solc(format!("compile.js failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim())));
    }
    std::fs::read(&out_path).map_err(|e| ProverError::io(&out_path, e))
}

/// Compiles Solidity `files` (paths relative to `dir`; they may import each other by relative
/// path) with `dir/compile.js`, run in `dir`; `optimizer_runs` turns the optimizer on (evm version paris). Returns every
/// contract with its bytecode and ABI (interfaces and abstract contracts have empty bytecode).
pub fn compile_files(dir: &Path, files: &[PathBuf], optimizer_runs: Option<u32>) -> Result<Vec<CompiledVerifier>> {
    if !dir.join("node_modules/solc/package.json").is_file() {
        return Err(ProverError::Solc(format!("solcjs is not installed: run `bash {}/install.sh`", dir.display())));
    }
    let dir = &dir.canonicalize().map_err(|e| ProverError::io(dir, e))?;
    let work = TempDir::new()?;
    let out_path = work.0.join("contracts.json");
    let mut cmd = Command::new("node");
    cmd.current_dir(dir).arg(dir.join("compile.js")).args(files).arg("-o").arg(&out_path).args(["--evm-version", "paris"]);
    if let Some(runs) = optimizer_runs {
        cmd.arg("--optimize").arg("--runs").arg(runs.to_string());
    }
    let out = cmd.output().map_err(|e| ProverError::Solc(format!("cannot run node (is Node >= 18 installed?): {e}")))?;
    if !out.status.success() {
        return Err(ProverError::Solc(format!("compile.js failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim())));
    }
    let json = std::fs::read(&out_path).map_err(|e| ProverError::io(&out_path, e))?;
    let out: CompileOutput = serde_json::from_slice(&json).map_err(|e| ProverError::Solc(format!("unexpected compile.js output: {e}")))?;
    out.contracts.into_iter().map(|(name, c)| contract(name, c, &out.solc_version, true).map_err(ProverError::Solc)).collect()
}

fn parse_output(json: &[u8]) -> std::result::Result<CompiledVerifier, String> {
    let out: CompileOutput = serde_json::from_slice(json).map_err(|e| format!("unexpected compile.js output: {e}"))?;
    if out.contracts.len() != 1 {
        return Err(format!("expected one contract, got {:?}", out.contracts.keys().collect::<Vec<_>>()));
    }
    let Some((name, c)) = out.contracts.into_iter().next() else {
        return Err("no contract in the output".into());
    };
    contract(name, c, &out.solc_version, false)
}

fn contract(name: String, c: ContractOutput, solc_version: &str, allow_empty: bool) -> std::result::Result<CompiledVerifier, String> {
    let decode = |what: &str, s: &str| hex::decode(s.trim_start_matches("0x")).map_err(|e| format!("{what} of {name} is not hex: {e}"));
    let bytecode = decode("bytecode", &c.bytecode)?;
    let deployed_bytecode = decode("deployedBytecode", &c.deployed_bytecode)?;
    if !allow_empty && (bytecode.is_empty() || deployed_bytecode.is_empty()) {
        return Err(format!("{name} compiled to empty bytecode"));
    }
    if c.immutable_ranges.iter().any(|&(start, len)| start.checked_add(len).is_none_or(|end| end > deployed_bytecode.len())) {
        return Err(format!("{name}: an immutable range lies outside its runtime code"));
    }
    Ok(CompiledVerifier { name: name.clone(), bytecode, deployed_bytecode, immutable_ranges: c.immutable_ranges, abi: c.abi, solc_version: solc_version.to_string() })
}

/// A scratch directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("zkinfer-solc-{}-{nanos}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| ProverError::io(&dir, e))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover scratch directory in /tmp is harmless.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
