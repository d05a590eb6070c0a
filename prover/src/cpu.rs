//! The CPU features this build's field arithmetic needs.
//!
//! With the `asm` feature (on by default), the BN254 field multiplication under every MSM, FFT
//! and key generation runs as x86-64 assembly that uses the ADX and BMI2 instructions
//! (`mulx`, `adcx`, `adox`; every Intel CPU since Broadwell, every AMD CPU since Zen). On a CPU
//! without them that code would stop the process with an illegal instruction in the middle of
//! a proof, so entry points call [`check`] first and report the problem by name.

use crate::error::{ProverError, Result};

/// The instruction-set extensions the field arithmetic of this build uses and the CPU lacks
/// (empty when it has them all, on other architectures, and in builds without `asm`).
pub fn missing_features() -> Vec<&'static str> {
    #[cfg(all(feature = "asm", target_arch = "x86_64"))]
    {
        let mut missing = vec![];
        if !std::arch::is_x86_feature_detected!("adx") {
            missing.push("adx");
        }
        if !std::arch::is_x86_feature_detected!("bmi2") {
            missing.push("bmi2");
        }
        missing
    }
    #[cfg(not(all(feature = "asm", target_arch = "x86_64")))]
    {
        vec![]
    }
}

/// An error naming the missing CPU features, if this build cannot run here.
pub fn check() -> Result<()> {
    let missing = missing_features();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ProverError::Invalid {
        what: "CPU",
        why: format!(
            "this build multiplies field elements in x86-64 assembly that needs the {} instruction set extension(s), which this CPU lacks; rebuild without it: cargo build --release -p zkinfer-service --no-default-features (the `asm` feature)",
            missing.join(" and ")
        ),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_machine_runs_this_build() {
        // the check lists a missing feature exactly when the CPU reports one missing (it
        // cannot show an illegal instruction being avoided on a CPU that has them)
        #[cfg(all(feature = "asm", target_arch = "x86_64"))]
        assert_eq!(super::check().is_ok(), std::arch::is_x86_feature_detected!("adx") && std::arch::is_x86_feature_detected!("bmi2"));
        #[cfg(not(all(feature = "asm", target_arch = "x86_64")))]
        assert!(super::check().is_ok());
    }
}
