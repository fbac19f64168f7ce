//! Proving backends.
//!
//! The prover commits through [`kzg::RoutedKzg`], a KZG scheme whose MSMs run on an [`Msm`]
//! backend ([`CpuMsm`]: halo2curves' Pippenger). [`device`] finds CUDA GPUs through the driver
//! and chooses the backend for `--device`; the CUDA prover itself (halo2-axiom-gpu) runs in the
//! separate `zkinfer-cuda` executable ([`helper`], crate `gpu/cuda`).

pub mod arch;
pub mod device;
pub mod helper;
pub mod kzg;
pub mod msm;

pub use arch::{cuda_arch_of, ArchMismatch, ArchParseError, KernelTargets, Runs};
pub use device::{
    check_driver, probe_cuda, select, Backend, CudaReadiness, DeviceChoice, DeviceError, GpuInfo,
    Probe, Selection, HELPER_CUDA,
};
pub use helper::{
    chosen_gpu, find_helper, helper_info, prove_with_helper, visible_devices_for, HelperError,
    HelperInfo, CHOSEN_GPU_ENV, HELPER_NAME,
};
pub use kzg::{RoutedKzg, RoutedParams, RoutedShplonk};
pub use msm::{CpuMsm, G1Msm, Msm};
