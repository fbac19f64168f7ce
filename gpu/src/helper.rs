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
//! The interface is [`crate::contract`]: `zkinfer-cuda prove` takes the same model folder,
//! input and output file as `zkinfer prove` and writes the same proof file.

use crate::contract::{
    ContractError, HelperCommand, HelperEnv, HelperInfo, ProveRequest, HELPER_NAME,
};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use thiserror::Error;

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
    /// The chosen GPU cannot be handed to it.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// `info` printed something else than [`HelperInfo`].
    #[error("the CUDA prover {path} is not this zkinfer's (`info`: {why})")]
    BadInfo {
        /// The executable.
        path: String,
        /// What was wrong.
        why: String,
    },
    /// `info` failed: it could not start (a CUDA runtime abort, typically) or exited with an
    /// error; `why` is the telling line of its stderr.
    #[error("the CUDA prover {path} does not start ({status}: {why})")]
    NoStart {
        /// The executable.
        path: String,
        /// Exit status.
        status: String,
        /// From its stderr.
        why: String,
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

/// Runs `helper info` (stopped after `limit`) and reads what it prints.
pub fn helper_info(helper: &Path, limit: Duration) -> Result<HelperInfo, HelperError> {
    let path = || helper.display().to_string();
    let mut child = Command::new(helper)
        .args(HelperCommand::Info.to_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| HelperError::Start {
            path: path(),
            source,
        })?;
    // Read on threads, so a chatty helper cannot block on a full pipe while we wait; a
    // process it left behind holding a pipe open delays us at most a few seconds.
    let drain = |r: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(r) = r {
                let _ = r.take(1 << 20).read_to_end(&mut buf);
            }
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        });
        move || rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default()
    };
    let out = drain(child.stdout.take().map(|o| Box::new(o) as _));
    let err = drain(child.stderr.take().map(|e| Box::new(e) as _));
    let status = wait_at_most(&mut child, limit).map_err(|source| HelperError::Wait {
        path: path(),
        source,
    })?;
    let Some(status) = status else {
        return Err(HelperError::TimedOut {
            path: path(),
            seconds: limit.as_secs(),
        });
    };
    let (out, err) = (out(), err());
    if !status.success() {
        // A zkinfer-cuda from before `info` existed: clap's usage error.
        if status.code() == Some(2) && err.contains("unrecognized subcommand") {
            return Err(HelperError::BadInfo {
                path: path(),
                why: "it has no `info` subcommand (an older build?)".into(),
            });
        }
        return Err(HelperError::NoStart {
            path: path(),
            status: status.to_string(),
            why: clip(failure_line(&err)),
        });
    }
    serde_json::from_str(out.trim()).map_err(|e| HelperError::BadInfo {
        path: path(),
        why: format!("{e} in {:?}", clip(last_line(&out))),
    })
}

/// The line of a failed program's stderr that says most: the first naming an error (a CUDA
/// runtime panic is followed by "aborting" lines and a backtrace), else the last one.
fn failure_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.to_ascii_lowercase().contains("error"))
        .map(str::trim)
        .unwrap_or_else(|| last_line(stderr))
}

/// At most 200 characters of `s`, for messages.
fn clip(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// The last non-empty line of a program's output, for messages.
fn last_line(s: &str) -> &str {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output")
}

/// Why the CUDA prover cannot be started here.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum HelperMissing {
    /// The running executable cannot be located.
    #[error("cannot locate this executable to find {HELPER_NAME}: {0}")]
    NoExe(String),
    /// No `zkinfer-cuda` beside it.
    #[error("the CUDA prover `{HELPER_NAME}` is not installed in {dir} (build it with scripts/build-cuda; see docs/gpu.md)")]
    NotInstalled {
        /// Where it was looked for.
        dir: String,
    },
}

/// Finds `zkinfer-cuda` next to the running executable, or says why there is none.
pub fn find_helper() -> Result<PathBuf, HelperMissing> {
    let exe = std::env::current_exe().map_err(|e| HelperMissing::NoExe(e.to_string()))?;
    helper_beside(&exe)
}

/// `zkinfer-cuda` in the folder of `exe`, if it is a file there.
pub fn helper_beside(exe: &Path) -> Result<PathBuf, HelperMissing> {
    let dir = exe.parent().unwrap_or(Path::new("."));
    let path = dir.join(HELPER_NAME);
    if path.is_file() {
        Ok(path)
    } else {
        Err(HelperMissing::NotInstalled {
            dir: dir.display().to_string(),
        })
    }
}

/// Runs `helper prove` with `request` in the environment `env` (the chosen GPU as its device
/// 0), its output shown to the user; with a `limit`, stops it (and fails) when it runs longer.
pub fn prove_with_helper(
    helper: &Path,
    env: &HelperEnv,
    request: &ProveRequest,
    limit: Option<Duration>,
) -> Result<(), HelperError> {
    let path = || helper.display().to_string();
    let mut cmd = Command::new(helper);
    env.apply(&mut cmd);
    cmd.args(HelperCommand::Prove(request.clone()).to_args());
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
    use crate::device::test_gpu as gpu;
    use crate::device::GpuInfo;

    fn request() -> ProveRequest {
        ProveRequest {
            dir: ".".into(),
            input: ".".into(),
            out: ".".into(),
            quiet: true,
            wrap: false,
        }
    }

    fn on(gpu: &GpuInfo) -> HelperEnv {
        HelperEnv::for_gpu(gpu, None).unwrap()
    }

    #[test]
    fn the_helper_is_looked_for_beside_the_executable() {
        let tmp = std::env::temp_dir().join(format!("zkinfer-helper-test-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let exe = tmp.join("zkinfer");
        let why = helper_beside(&exe).unwrap_err().to_string();
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
        let e = prove_with_helper(missing, &on(&gpu(0, "G")), &request(), None).unwrap_err();
        assert!(matches!(e, HelperError::Start { .. }), "{e}");
        // `false` exits with 1 whatever its arguments.
        if let Ok(f) = which_false() {
            for limit in [None, Some(Duration::from_secs(60))] {
                let e = prove_with_helper(&f, &on(&gpu(0, "G")), &request(), limit).unwrap_err();
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
        let t = Instant::now();
        let e = prove_with_helper(
            &hang,
            &on(&gpu(0, "G")),
            &request(),
            Some(Duration::from_secs(1)),
        )
        .unwrap_err();
        assert!(matches!(e, HelperError::TimedOut { seconds: 1, .. }), "{e}");
        // Stopped, not waited for.
        assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
        assert!(e.to_string().contains("stopped after 1 s"), "{e}");
        // A quick helper within the limit succeeds.
        let quick = tmp.join("quick");
        write_script(&quick, "exit 0");
        prove_with_helper(
            &quick,
            &on(&gpu(0, "G")),
            &request(),
            Some(Duration::from_secs(60)),
        )
        .unwrap();
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn info_is_read_or_its_failure_explained() {
        let tmp = std::env::temp_dir().join(format!("zkinfer-helper-info-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let h = tmp.join(HELPER_NAME);
        let minute = Duration::from_secs(60);
        write_script(
            &h,
            "[ \"$1\" = info ] || exit 2\necho 'CUDA init' >&2\necho '{\"version\":\"9.9.9\",\"cuda_arch\":\"80,90\"}'",
        );
        let info = helper_info(&h, minute).unwrap();
        assert_eq!(
            info,
            HelperInfo {
                version: "9.9.9".into(),
                cuda_arch: "80,90".into()
            }
        );
        // `info` fails with an error whose message names `needle`.
        let info_fails = |script: &str, needle: &str| {
            write_script(&h, script);
            let e = helper_info(&h, minute).unwrap_err();
            assert!(e.to_string().contains(needle), "{e}");
            e
        };
        let e = info_fails(
            "echo 'usage: zkinfer-cuda prove ...'",
            "usage: zkinfer-cuda",
        );
        assert!(matches!(e, HelperError::BadInfo { .. }), "{e}");
        let e = info_fails(
            "echo 'error: no CUDA-capable device is detected' >&2\nexit 1",
            "no CUDA-capable device",
        );
        assert!(matches!(e, HelperError::NoStart { .. }), "{e}");
        // An older zkinfer-cuda without `info`: not "does not start".
        let e = info_fails(
            "echo \"error: unrecognized subcommand 'info'\" >&2\nexit 2",
            "no `info` subcommand",
        );
        assert!(matches!(e, HelperError::BadInfo { .. }), "{e}");
        // A flood on stdout is quoted in part.
        write_script(&h, "head -c 100000 /dev/zero | tr '\\0' x; echo");
        let e = helper_info(&h, minute).unwrap_err();
        assert!(matches!(e, HelperError::BadInfo { .. }), "{e}");
        assert!(e.to_string().len() < 400, "{}", e.to_string().len());
        // An abort while the CUDA runtime starts: the error line, not the last one.
        info_fails(
            "echo 'thread panicked at vm_pool.rs:165:38:' >&2\necho 'called unwrap() on an Err value: CudaError { name: \"cudaErrorInsufficientDriver\" }' >&2\necho 'aborting.' >&2\nkill -ABRT $$",
            "cudaErrorInsufficientDriver",
        );
        write_script(&h, "exec sleep 30");
        let e = helper_info(&h, Duration::from_secs(1)).unwrap_err();
        assert!(matches!(e, HelperError::TimedOut { .. }), "{e}");
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
