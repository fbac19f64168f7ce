//! `zkinfer verify DIR --proof PROOF.json`: the verifier crate; a wrapped proof (`prove --wrap`)
//! also with the wrapper's key (`wrap_vk.bin`).

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use zkinfer_circuits::compiled::ModelDigest;
use zkinfer_verifier::{verify, ProofFile, VerifierKey, VerifyError, VK_FILE};
use zkinfer_wrap::workflow::load_wrap_vk;
use zkinfer_wrap::{verify_wrapped, WrapError};

/// Verify a proof.
#[derive(Args)]
pub struct Verify {
    /// Model folder holding vk.bin (from `zkinfer setup`).
    pub dir: PathBuf,
    /// Proof file written by `zkinfer prove`.
    #[arg(long)]
    pub proof: PathBuf,
    /// Refuse a key made with the insecure development SRS (`zkinfer setup` without --srs),
    /// under which anyone can forge proofs; without this flag such a key only gets a warning.
    #[arg(long)]
    pub require_trusted_srs: bool,
}

/// The warning for a key made with the development SRS (printed on stderr).
pub const DEVELOPMENT_SRS_WARNING: &str = "warning: this verifying key was made with the insecure development SRS: its secret is public, so anyone can forge a proof that verifies under it (use --require-trusted-srs to refuse such keys; `zkinfer setup DIR --srs FILE` with a trusted ceremony's parameters)";

/// Up to eight values of a tensor.
pub fn preview(v: &[f64]) -> String {
    let head: Vec<String> = v.iter().take(8).map(|x| format!("{x:.6}")).collect();
    if v.len() > 8 {
        format!("[{}, ... ({} values)]", head.join(", "), v.len())
    } else {
        format!("[{}]", head.join(", "))
    }
}

/// The digest recorded in the folder's settings.json, if present (as written there, and parsed).
fn settings_digest(dir: &std::path::Path) -> Option<(String, Option<ModelDigest>)> {
    let text = std::fs::read_to_string(dir.join("settings.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let d = v.get("model_digest")?.as_str()?;
    Some((d.to_string(), ModelDigest::from_hex(d)))
}

fn check(
    dir: &std::path::Path,
    proof: &std::path::Path,
    require_trusted_srs: bool,
) -> Result<zkinfer_verifier::Verified, VerifyError> {
    let key = VerifierKey::load(&dir.join(VK_FILE))?;
    if key.development_srs() {
        if require_trusted_srs {
            return Err(VerifyError::UntrustedSrs);
        }
        eprintln!("{DEVELOPMENT_SRS_WARNING}");
    }
    if let Some((d, parsed)) = settings_digest(dir) {
        if parsed != Some(key.digest) {
            return Err(VerifyError::Key(zkinfer_circuits::compiled::ArtifactError::Invalid {
                what: dir.join(VK_FILE).display().to_string(),
                detail: format!("is for model {}, but settings.json describes model {d}; run `zkinfer setup` again", key.digest),
            }));
        }
    }
    let proof = ProofFile::load(proof)?;
    if proof.is_wrapped() {
        let wrap = load_wrap_vk(dir).map_err(as_verify_error)?;
        return verify_wrapped(&key, &wrap, &proof).map_err(as_verify_error);
    }
    verify(&key, &proof)
}

/// A wrapper's rejection, for the one `rejected: ...` line.
fn as_verify_error(e: WrapError) -> VerifyError {
    match e {
        WrapError::Verify(v) => v,
        other => VerifyError::Invalid(other.to_string()),
    }
}

impl Verify {
    /// Runs the command: exit 0 when verified, 1 with the reason otherwise.
    pub fn run(self) -> Result<ExitCode> {
        let wrapped = ProofFile::load(&self.proof).is_ok_and(|p| p.is_wrapped());
        match check(&self.dir, &self.proof, self.require_trusted_srs) {
            Ok(v) => {
                println!("verified: the outputs come from the committed model applied to the proven input{}", if wrapped { " (model proof and wrapper proof)" } else { "" });
                for (i, o) in v.outputs.iter().enumerate() {
                    println!("  output #{i}: {}", preview(o));
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                println!("rejected: {e}");
                Ok(ExitCode::FAILURE)
            }
        }
    }
}
