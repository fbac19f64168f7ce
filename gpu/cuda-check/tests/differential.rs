//! CPU-vs-GPU differential checks (MSM, NTT, whole proofs of the shared models), run through
//! the `zkinfer-cuda-check selftest` executable so that a machine without a GPU never loads CUDA.
//!
//! Needs a GPU and the `cuda` feature (`cargo test -p zkinfer-cuda-check --features cuda --release`,
//! with the environment scripts/build-cuda sets up). Otherwise the test says on stderr why it
//! was skipped and passes: the default suite needs no GPU.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::io::Write;
use std::path::PathBuf;
use zkinfer_gpu::{probe_cuda, Probe};

/// Says why the checks did not run, on the real stderr (libtest does not capture it), so a
/// skip shows in the suite's output.
fn skipped(why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED gpu differential tests: {why}");
}

fn shared_models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models")
}

/// The `zkinfer-cuda-check` executable, if this build has it.
fn helper() -> Result<PathBuf, &'static str> {
    #[cfg(feature = "cuda")]
    {
        Ok(PathBuf::from(env!("CARGO_BIN_EXE_zkinfer-cuda-check")))
    }
    #[cfg(not(feature = "cuda"))]
    {
        Err("built without the `cuda` feature")
    }
}

#[test]
fn gpu_prover_matches_the_cpu_prover() {
    let gpus = match probe_cuda() {
        Probe::Found(g) if !g.is_empty() => g,
        Probe::Found(_) => return skipped("the CUDA driver reports no device"),
        Probe::Unavailable(why) => return skipped(&format!("no usable GPU ({why})")),
    };
    let exe = match helper() {
        Ok(p) => p,
        Err(why) => {
            return skipped(&format!(
                "found {}, but zkinfer-cuda-check was {why}",
                gpus[0]
            ));
        }
    };
    let out = std::process::Command::new(&exe)
        .arg("selftest")
        .arg("--models")
        .arg(shared_models())
        .output()
        .expect("start zkinfer-cuda-check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    println!("{stdout}");
    assert!(
        out.status.success(),
        "differential checks failed:\n{stdout}"
    );
    assert!(stdout.contains(", 0 failed"), "{stdout}");
}
