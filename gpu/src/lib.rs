//! Proving backends.
//!
//! The prover commits through [`kzg::RoutedKzg`], a KZG scheme whose MSMs run on an [`Msm`]
//! backend. [`CpuMsm`] (halo2curves' Pippenger) is the default and the only backend in builds
//! without the `cuda` feature.

pub mod kzg;
pub mod msm;

pub use kzg::{RoutedKzg, RoutedParams, RoutedShplonk};
pub use msm::{CpuMsm, G1Msm, Msm};
