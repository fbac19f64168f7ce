//! The CUDA prover runs in its own executable, `zkinfer-cuda` (crate `gpu/cuda`, built with
//! `scripts/build-cuda`), installed next to `zkinfer`.
//!
//! Why a separate process: halo2-axiom-gpu's CUDA runtime initialises a device while the
//! program starts, before `main`, and aborts the process where no GPU is usable. Linked into
//! `zkinfer` it would make `--device auto` (fall back to the CPU) impossible, so `zkinfer`
//! links no CUDA code, finds a GPU through the driver first ([`crate::probe_cuda`]) and only
//! then starts `zkinfer-cuda`. A crash of the GPU prover is reported as an error of this
//! process, never a panic of `zkinfer`.
//!
//! The interface is the `prove` subcommand of `zkinfer-cuda`, which takes the same model
//! folder, input and output file as `zkinfer prove` and writes the same proof file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};
use thiserror::Error;

/// File name of the CUDA prover executable.
pub const HELPER_NAME: &str = "zkinfer-cuda";

/// The CUDA prover failed or could not be started.
#[derive(Debug, Error)]
pub enum HelperError {
    /// The executable could not be started.
    #[error("could not start the CUDA prover {path}: {source}")]
    Start {
        /// The executable.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It ran past the time limit and was stopped.
    #[error("the CUDA prover {path} was stopped after {seconds} s (the time limit)")]
    TimedOut {
        /// The executable.
        path: String,
        /// The limit.
        seconds: u64,
    },
    /// Waiting for it failed.
    #[error("waiting for the CUDA prover {path}: {source}")]
    Wait {
        /// The executable.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It ran and failed (its own message is on stderr).
    #[error("the CUDA prover {path} failed ({status}; its own message, if any, is above)")]
    Failed {
        /// The executable.
        path: String,
        /// Exit status.
        status: String,
    },
}

/// Finds `zkinfer-cuda` next to the running executable, or says why there is none.
pub fn find_helper() -> Result<PathBuf, String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot locate this executable to find {HELPER_NAME}: {e}"))?;
    helper_beside(&exe)
}

/// `zkinfer-cuda` in the folder of `exe`, if it is a file there.
pub fn helper_beside(exe: &Path) -> Result<PathBuf, String> {
    let dir = exe.parent().unwrap_or(Path::new("."));
    let path = dir.join(HELPER_NAME);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "the CUDA prover `{HELPER_NAME}` is not installed in {} (build it with scripts/build-cuda; see docs/gpu.md)",
            dir.display()
        ))
    }
}

/// Runs `helper prove DIR --input INPUT --out OUT [--quiet]`, its output shown to the user;
/// with a `limit`, stops it (and fails) when it runs longer.
pub fn prove_with_helper(
    helper: &Path,
    dir: &Path,
    input: &Path,
    out: &Path,
    quiet: bool,
    limit: Option<Duration>,
) -> Result<(), HelperError> {
    let path = || helper.display().to_string();
    let mut cmd = Command::new(helper);
    cmd.arg("prove")
        .arg(dir)
        .arg("--input")
        .arg(input)
        .arg("--out")
        .arg(out);
    if quiet {
        cmd.arg("--quiet");
    }
    let mut child = cmd.spawn().map_err(|source| HelperError::Start {
        path: path(),
        source,
    })?;
    let status = match limit {
        None => child.wait().map(Some),
        Some(limit) => wait_at_most(&mut child, limit),
    }
    .map_err(|source| HelperError::Wait {
        path: path(),
        source,
    })?;
    match status {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(HelperError::Failed {
            path: path(),
            status: s.to_string(),
        }),
        None => Err(HelperError::TimedOut {
            path: path(),
            seconds: limit.map_or(0, |l| l.as_secs()),
        }),
    }
}

/// Waits for `child` up to `limit`; past it, kills it and returns `None`.
fn wait_at_most(child: &mut Child, limit: Duration) -> std::io::Result<Option<ExitStatus>> {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait()? {
            return Ok(Some(s));
        }
        if start.elapsed() >= limit {
            let _ = child.kill();
            // Reaped either way; a helper that finished just before the kill keeps its result.
            return Ok(child.wait().ok().filter(ExitStatus::success));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helper_is_looked_for_beside_the_executable() {
        let tmp = std::env::temp_dir().join(format!("zkinfer-helper-test-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let exe = tmp.join("zkinfer");
        let why = helper_beside(&exe).unwrap_err();
        assert!(
            why.contains("not installed") && why.contains("scripts/build-cuda"),
            "{why}"
        );
        std::fs::write(tmp.join(HELPER_NAME), b"").unwrap();
        assert_eq!(helper_beside(&exe).unwrap(), tmp.join(HELPER_NAME));
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn a_failing_or_missing_helper_is_an_error() {
        let missing = Path::new("/nonexistent/zkinfer-cuda");
        let p = Path::new(".");
        let e = prove_with_helper(missing, p, p, p, true, None).unwrap_err();
        assert!(matches!(e, HelperError::Start { .. }), "{e}");
        // `false` exits with 1 whatever its arguments.
        if let Ok(f) = which_false() {
            for limit in [None, Some(Duration::from_secs(60))] {
                let e = prove_with_helper(&f, p, p, p, true, limit).unwrap_err();
                assert!(matches!(e, HelperError::Failed { .. }), "{e}");
            }
        }
    }

    /// Writes an executable script through `sh`, so this process never holds the file open
    /// for writing (a process forked meanwhile by a parallel test would inherit that handle
    /// and make starting the script fail with "text file busy").
    #[cfg(unix)]
    fn write_script(path: &Path, body: &str) {
        use std::io::Write;
        let mut sh = Command::new("sh")
            .arg("-c")
            .arg("cat > \"$0\" && chmod 755 \"$0\"")
            .arg(path)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = sh.stdin.take().unwrap();
        stdin
            .write_all(format!("#!/bin/sh\n{body}\n").as_bytes())
            .unwrap();
        drop(stdin);
        assert!(sh.wait().unwrap().success());
    }

    #[cfg(unix)]
    #[test]
    fn a_helper_past_the_time_limit_is_stopped() {
        let tmp = std::env::temp_dir().join(format!("zkinfer-helper-hang-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let hang = tmp.join(HELPER_NAME);
        write_script(&hang, "exec sleep 30");
        let p = Path::new(".");
        let t = Instant::now();
        let e = prove_with_helper(&hang, p, p, p, true, Some(Duration::from_secs(1))).unwrap_err();
        assert!(matches!(e, HelperError::TimedOut { seconds: 1, .. }), "{e}");
        // Stopped, not waited for.
        assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
        assert!(e.to_string().contains("stopped after 1 s"), "{e}");
        // A quick helper within the limit succeeds.
        let quick = tmp.join("quick");
        write_script(&quick, "exit 0");
        prove_with_helper(&quick, p, p, p, true, Some(Duration::from_secs(60))).unwrap();
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    fn which_false() -> Result<PathBuf, ()> {
        ["/bin/false", "/usr/bin/false"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or(())
    }
}
