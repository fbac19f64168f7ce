//! What every [`PlonkBackend`] must do, written once and run for each backend: the CPU backend
//! in the test suite (`prover/tests/conformance.rs`), the CUDA backend in
//! `zkinfer-cuda-check selftest` on a GPU machine.
//!
//! A backend conforms on a model when its proof verifies with the unchanged verifier (for the
//! public values the prover computed from the witness), is rejected once tampered with (proof
//! bytes, public instances, length), and when witnesses with one value changed (an
//! intermediate value, an output) yield no accepted proof.

use crate::error::ProverError;
use crate::msm::G1Msm;
use crate::prove::{CpuPlonk, PlonkBackend, Prover};
use halo2_proofs::halo2curves::ff::Field;
use zkinfer_circuits::field::F;
use zkinfer_circuits::input::InputData;
use zkinfer_verifier::{instances, verify, verify_raw, VerifierKey};

/// One named check and its outcome.
#[derive(Clone, Debug)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// Whether the backend behaved as required.
    pub passed: bool,
    /// What happened.
    pub detail: String,
}

/// The outcome of every check on one model.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Checks in the order run.
    pub checks: Vec<Check>,
}

impl Report {
    fn record(&mut self, name: &'static str, passed: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            passed,
            detail: detail.into(),
        });
    }

    /// Whether every check passed (and at least one ran).
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.passed)
    }

    /// The failed checks, one line each (`name: detail`).
    pub fn failures(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect()
    }
}

/// Whether the verifier accepts `proof` (bytes) for `public` under `key`.
fn accepts(key: &VerifierKey, public: &[F], proof: &[u8]) -> bool {
    verify_raw(key, public, proof).is_ok()
}

/// Runs every check for `backend` on `prover`'s model and `input`; `key` is the model's
/// verifying key. Errors only where the CPU reference itself cannot be made (bad input, a
/// key that does not verify the CPU proof); a backend's failures are recorded in the report.
pub fn check_backend<M: G1Msm>(
    prover: &Prover<M>,
    key: &VerifierKey,
    input: &InputData,
    backend: &dyn PlonkBackend,
) -> Result<Report, ProverError> {
    let mut r = Report::default();
    // The CPU prover's proof must verify, or the key (not the backend) is at fault.
    let reference = prover.prove_with(prover.witness(input)?, &CpuPlonk(prover.params()))?;
    verify(key, &reference)
        .map_err(|e| ProverError::Prove(format!("the CPU reference proof does not verify: {e}")))?;

    let proof = match prover.prove_with(prover.witness(input)?, backend) {
        Ok(p) => {
            r.record("proves", true, format!("{} backend", backend.name()));
            p
        }
        Err(e) => {
            r.record("proves", false, e.to_string());
            return Ok(r);
        }
    };
    match verify(key, &proof) {
        Ok(_) => r.record("verifies", true, "accepted by the verifier crate"),
        Err(e) => {
            // The tamper checks would pass vacuously on a proof that never verified.
            r.record("verifies", false, e.to_string());
            return Ok(r);
        }
    }

    let bytes = proof
        .proof_bytes()
        .map_err(|e| ProverError::Prove(e.to_string()))?;
    let public = instances::from_listed(&key.io, &proof.inputs, &proof.outputs)
        .map_err(|e| ProverError::Prove(e.to_string()))?
        .field;
    let positions = [0, bytes.len() / 2, bytes.len().saturating_sub(1)];
    let accepted: Vec<usize> = positions
        .into_iter()
        .filter(|&at| {
            let mut bad = bytes.clone();
            bad[at] ^= 1;
            accepts(key, &public, &bad)
        })
        .collect();
    r.record(
        "flipped proof bytes rejected",
        accepted.is_empty() && !bytes.is_empty(),
        format!(
            "bytes {positions:?} of {}; accepted: {accepted:?}",
            bytes.len()
        ),
    );
    let last = public.len().saturating_sub(1);
    let accepted: Vec<usize> = [0, last]
        .into_iter()
        .filter(|&i| i < public.len())
        .filter(|&i| {
            let mut bad = public.clone();
            bad[i] += F::ONE;
            accepts(key, &bad, &bytes)
        })
        .collect();
    r.record(
        "changed public instances rejected",
        accepted.is_empty() && !public.is_empty(),
        format!("instances 0 and {last} plus one; accepted: {accepted:?}"),
    );
    let short = &bytes[..bytes.len().saturating_sub(32)];
    r.record(
        "truncated proof rejected",
        !accepts(key, &public, short),
        format!("{} of {} bytes", short.len(), bytes.len()),
    );

    // Witnesses with one value changed: the first intermediate tensor (its consumers' copies
    // and gates break) and the first output (its copy into the public values breaks). The
    // backend must not produce a proof that verifies; an error is fine.
    let g = &prover.model().graph;
    let intermediate = (0..g.tensors.len())
        .find(|t| !g.inputs.contains(t) && !g.outputs.contains(t) && !g.tensors[*t].is_empty());
    for (check, tensor) in [
        ("changed intermediate value not accepted", intermediate),
        ("changed output not accepted", g.outputs.first().copied()),
    ] {
        let Some(t) = tensor else {
            r.record(check, true, "the model has no such tensor");
            continue;
        };
        let mut w = prover.witness(input)?;
        if !w.perturb(t) {
            r.record(check, true, "the tensor is empty");
            continue;
        }
        match prover.prove_with(w, backend) {
            Err(e) => r.record(check, true, format!("tensor {t}: refused: {e}")),
            Ok(p) => match verify(key, &p) {
                Err(e) => r.record(check, true, format!("tensor {t}: rejected: {e}")),
                Ok(_) => r.record(
                    check,
                    false,
                    format!("tensor {t} one quantum off: the proof VERIFIED"),
                ),
            },
        }
    }
    Ok(r)
}
