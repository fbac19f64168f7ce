//! zkinfer's CUDA prover: halo2-axiom-gpu behind the prover's `PlonkBackend` seam
//! ([`plonk::CudaPlonk`], feature `cuda`) and the wrapper's `LevelProver` seam
//! ([`wrap::CudaLevels`]), and the `zkinfer-cuda` executable that proves model folders with
//! them (`prove [--wrap]`, `info`). It is separate from `zkinfer` because halo2-axiom-gpu's
//! CUDA runtime aborts at start-up where no GPU is usable (see `zkinfer_gpu::helper`). Its
//! differential checks and benchmarks are another executable, `zkinfer-cuda-check` (crate
//! `gpu/cuda-check`), so this one links no ONNX front end.

#[cfg(feature = "cuda")]
pub mod plonk;
#[cfg(feature = "cuda")]
pub mod run;
#[cfg(feature = "cuda")]
pub mod wrap;

/// The CUDA_ARCH this build's kernels were compiled for (build.rs; empty: not recorded).
pub const CUDA_ARCH: &str = env!("ZKINFER_CUDA_ARCH");
