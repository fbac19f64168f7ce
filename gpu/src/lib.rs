//! Finding GPUs and the zkinfer ↔ zkinfer-cuda process contract.
//!
//! [`device`] finds CUDA GPUs through the driver and chooses the backend for `--device`;
//! [`arch`] checks that the CUDA prover's kernels run on them; [`helper`] starts the CUDA
//! prover, which runs in the separate `zkinfer-cuda` executable (crate `gpu/cuda`, the
//! implementation of the prover's `PlonkBackend` seam on halo2-axiom-gpu). No CUDA is needed to
//! build this crate.

pub mod arch;
pub mod device;
pub mod helper;

use zkinfer_circuits::plan::Target;

/// What the CUDA prover (halo2-axiom-gpu 1.0.1) needs of a circuit: a single phase (it has no
/// challenges), and from `2^14` rows on it computes the commitments on the GPU. It computes
/// MSMs of fewer than `2^14` points on the CPU, and a circuit of `2^k` rows commits to
/// polynomials of `2^k` points; four of the five shared models have CPU shapes of k = 10..11,
/// where the MSMs are a large part of the CPU proving time (`zkinfer-msm`,
/// `benches/RESULTS.md`) that the GPU would not take. `zkinfer-cuda` checks `min_k` against
/// halo2-axiom-gpu's threshold when it is built.
pub const CUDA_TARGET: Target = Target {
    name: "the CUDA prover",
    min_k: 14,
    single_phase: true,
};

pub use arch::{cuda_arch_of, ArchMismatch, ArchParseError, KernelTargets, Runs};
pub use device::{
    check_driver, probe_cuda, select, Backend, CudaReadiness, DeviceChoice, DeviceError, GpuInfo,
    Probe, Selection, HELPER_CUDA,
};
pub use helper::{
    chosen_gpu, find_helper, helper_info, prove_with_helper, visible_devices_for, HelperError,
    HelperInfo, CHOSEN_GPU_ENV, HELPER_NAME,
};
