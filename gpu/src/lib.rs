//! Proving backends.
//!
//! The prover commits through [`kzg::RoutedKzg`], a KZG scheme whose MSMs run on an [`Msm`]
//! backend ([`CpuMsm`]: halo2curves' Pippenger). [`device`] finds CUDA GPUs through the driver
//! and chooses the backend for `--device`; the CUDA prover itself (halo2-axiom-gpu) runs in the
//! separate `zkinfer-cuda` executable ([`helper`], crate `gpu/cuda`).

pub mod device;
pub mod helper;
pub mod kzg;
pub mod msm;

pub use device::{
    probe_cuda, select, Backend, CudaReadiness, DeviceChoice, DeviceError, GpuInfo, Probe,
    Selection,
};
pub use helper::{find_helper, prove_with_helper, HelperError, HELPER_NAME};
pub use kzg::{RoutedKzg, RoutedParams, RoutedShplonk};
pub use msm::{CpuMsm, G1Msm, Msm};
