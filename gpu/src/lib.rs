//! Proving backends.
//!
//! The prover commits through [`kzg::RoutedKzg`], a KZG scheme whose MSMs run on an [`Msm`]
//! backend. [`CpuMsm`] (halo2curves' Pippenger) is the only backend so far; [`device`] finds
//! CUDA GPUs through the driver and chooses the backend for `--device`.

pub mod device;
pub mod kzg;
pub mod msm;

pub use device::{
    probe_cuda, select, Backend, DeviceChoice, DeviceError, GpuInfo, Probe, Selection,
};
pub use kzg::{RoutedKzg, RoutedParams, RoutedShplonk};
pub use msm::{CpuMsm, G1Msm, Msm};
