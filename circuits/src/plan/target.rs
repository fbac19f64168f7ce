//! What a proving backend needs of a circuit, stated once as data: the shape search lays a
//! circuit out for a [`Target`] (`Objective::ProveTimeOn`) and a backend checks a circuit
//! against the same value before proving. The CUDA prover's is `zkinfer_gpu::CUDA_TARGET`.

use super::shape::{CircuitShape, MatvecCheck};
use thiserror::Error;

/// A proving backend's requirements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// Its name in messages ("the CUDA prover").
    pub name: &'static str,
    /// From `2^min_k` rows on it does its work on its device (smaller circuits still prove).
    pub min_k: u32,
    /// Whether it proves single-phase circuits only (no Freivalds challenge).
    pub single_phase: bool,
}

/// A circuit a target cannot prove.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum TargetError {
    /// A two-phase circuit for a single-phase prover.
    #[error("{target} proves single-phase circuits only, and this one has two phases (--matvec-check freivalds): compile with --optimize gpu-prove-time, or --matvec-check direct")]
    TwoPhases {
        /// The target's name.
        target: &'static str,
    },
}

impl Target {
    /// Refuses a circuit with (`multi_phase`) or without challenges that the target cannot prove.
    pub fn check(&self, multi_phase: bool) -> Result<(), TargetError> {
        if self.single_phase && multi_phase {
            return Err(TargetError::TwoPhases { target: self.name });
        }
        Ok(())
    }

    /// [`Target::check`] for a laid-out circuit.
    pub fn check_shape(&self, shape: &CircuitShape) -> Result<(), TargetError> {
        self.check(shape.multi_phase())
    }

    /// [`Target::check`] for a matrix-vector check chosen before the layout.
    pub fn check_matvec(&self, matvec_check: MatvecCheck) -> Result<(), TargetError> {
        self.check(matvec_check != MatvecCheck::Direct)
    }

    /// Whether a circuit of `2^k` rows is large enough for the target to do its work on its
    /// device.
    pub fn fills(&self, k: u32) -> bool {
        k >= self.min_k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_phase_targets_refuse_two_phases() {
        let t = Target {
            name: "a prover",
            min_k: 14,
            single_phase: true,
        };
        assert!(t.check_matvec(MatvecCheck::Direct).is_ok());
        let e = t
            .check_matvec(MatvecCheck::Freivalds)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("a prover proves single-phase circuits only"),
            "{e}"
        );
        let any = Target {
            single_phase: false,
            ..t
        };
        assert!(any.check(true).is_ok());
        assert!(t.fills(14) && !t.fills(13));
    }
}
