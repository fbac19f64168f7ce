//! Shared pieces of the benchmarks.

use std::path::{Path, PathBuf};
use thiserror::Error;

/// A shared model could not be compiled or set up.
#[derive(Debug, Error)]
pub enum PrepareError {
    /// Compiling failed.
    #[error(transparent)]
    Compile(#[from] zkinfer_onnx::FrontendError),
    /// Saving the compiled model failed.
    #[error(transparent)]
    Save(#[from] zkinfer_circuits::compiled::ArtifactError),
    /// Setup failed.
    #[error(transparent)]
    Setup(#[from] zkinfer_prover::ProverError),
}

/// The shared models the targets name, smallest first.
pub const MODELS: &[&str] = &[
    "1l_mlp",
    "1l_conv",
    "2l_relu_sigmoid_conv",
    "4l_relu_conv_fc",
    "variable_cnn",
];

/// Folder of a model: a shared one (`../shared/models/NAME` beside the checkout), else one
/// bundled in `models/NAME` (e.g. `lenet`).
pub fn shared_model(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../../shared/models").join(name);
    if shared.exists() {
        shared
    } else {
        root.join("../models").join(name)
    }
}

/// Peak resident set size of this process, in bytes (Linux `VmHWM`).
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Compiles a shared model into `dir` and runs setup with the development SRS.
pub fn prepare(name: &str, dir: &Path) -> Result<(f64, f64, zkinfer_onnx::Compiled), PrepareError> {
    prepare_with(name, dir, &Default::default())
}

/// [`prepare`] with explicit compile options.
pub fn prepare_with(
    name: &str,
    dir: &Path,
    opts: &zkinfer_onnx::CompileOptions,
) -> Result<(f64, f64, zkinfer_onnx::Compiled), PrepareError> {
    let src = shared_model(name);
    let t = std::time::Instant::now();
    let c = zkinfer_onnx::compile(&src.join("network.onnx"), &src.join("input.json"), opts)?;
    let compile_s = t.elapsed().as_secs_f64();
    c.model.save(dir)?;
    let t = std::time::Instant::now();
    zkinfer_prover::setup(dir, None, &zkinfer_prover::Silent)?;
    Ok((compile_s, t.elapsed().as_secs_f64(), c))
}
