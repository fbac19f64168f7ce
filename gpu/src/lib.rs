//! Finding GPUs and the zkinfer ↔ zkinfer-cuda process contract.
//!
//! [`device`] finds CUDA GPUs through the driver and chooses the backend for `--device`;
//! [`arch`] checks that the CUDA prover's kernels run on them; [`contract`] is the command
//! line and environment both executables share; [`helper`] starts the CUDA prover, which runs
//! in the separate `zkinfer-cuda` executable (crate `gpu/cuda`, the implementation of the
//! prover's `PlonkBackend` seam on halo2-axiom-gpu); [`prove`] runs it for one proof and holds
//! `--device auto`'s fall-back to the CPU. No CUDA is needed to build this crate.

pub mod arch;
pub mod contract;
pub mod device;
pub mod helper;
pub mod prove;

use zkinfer_circuits::plan::Target;
use zkinfer_circuits::CircuitShape;

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

/// Why the CUDA prover cannot prove a circuit of this shape, if it cannot.
pub fn cuda_blocker(shape: &CircuitShape) -> Option<String> {
    CUDA_TARGET.check_shape(shape).err().map(|e| e.to_string())
}

/// What the user should know before the CUDA prover proves a circuit of this shape, if
/// anything: below `2^min_k` rows it computes the commitments on the CPU.
pub fn cuda_hint(shape: &CircuitShape) -> Option<String> {
    let min = CUDA_TARGET.min_k;
    (!CUDA_TARGET.fills(shape.k)).then(|| {
        format!(
            "this circuit has 2^{} rows; below 2^{min} the CUDA prover computes the commitments on the CPU, which leaves the GPU less to do: `zkinfer compile --optimize gpu-prove-time` lays a model out for the GPU (or add `--k {min}` to the options it was compiled with)",
            shape.k
        )
    })
}

pub use arch::{cuda_arch_of, ArchMismatch, ArchParseError, KernelTargets, Runs};
pub use contract::{
    visible_devices_for, ContractError, HelperCommand, HelperEnv, HelperInfo, ProveRequest,
    CHOSEN_GPU_ENV, HELPER_NAME,
};
pub use device::{
    check_driver, choose, probe_cuda, select, Backend, CudaReadiness, DeviceChoice, DeviceError,
    GpuInfo, OldDriver, Probe, Selection, Unready, HELPER_CUDA,
};
pub use helper::{find_helper, helper_info, prove_with_helper, HelperError, HelperMissing};
pub use prove::{prove_on, GpuJob, GpuProveError, Proved};
