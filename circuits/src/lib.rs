//! zkinfer's quantized graph, circuit plan, chips and circuit.
//!
//! Two typed stages, each inspectable, follow the ONNX front end (the `zkinfer-onnx` crate,
//! whose `OnnxModel` is the first stage):
//!
//! 1. [`graph::QuantizedGraph`]: fixed-point integer ops with calibrated scales.
//! 2. [`plan::CircuitPlan`]: the circuit shape (k, lanes) and the row layout.
//!
//! [`circuit::ModelCircuit`] turns a graph and a plan into a halo2 circuit using the chips in
//! [`chips`]. Nothing here depends on ONNX, so a verifier can rebuild the constraint system
//! from a [`plan::CircuitShape`] alone.

pub mod chips;
pub mod circuit;
pub mod compiled;
pub mod field;
pub mod graph;
pub mod input;
pub mod plan;
pub mod poseidon;
pub mod public_io;

pub use circuit::ModelCircuit;
pub use compiled::{CompiledModel, ModelDigest};
pub use graph::QuantizedGraph;
pub use plan::{CircuitPlan, CircuitShape};
