//! zkinfer's compiler and circuit.
//!
//! Three typed stages, each inspectable:
//!
//! 1. [`frontend::OnnxModel`] (feature `onnx`): the ONNX graph, validated, with shapes fixed
//!    (batch 1) and constant/shape subgraphs folded.
//! 2. [`graph::QuantizedGraph`]: fixed-point integer ops with calibrated scales.
//! 3. [`plan::CircuitPlan`]: the circuit shape (k, lanes) and the row layout.
//!
//! [`circuit::ModelCircuit`] turns a graph and a plan into a halo2 circuit using the chips in
//! [`chips`]. Everything except [`frontend`] builds without the ONNX front end, so a verifier
//! can rebuild the constraint system from a [`plan::CircuitShape`] alone.

pub mod chips;
pub mod circuit;
pub mod compiled;
pub mod field;
#[cfg(feature = "onnx")]
pub mod frontend;
pub mod graph;
pub mod input;
pub mod plan;
pub mod poseidon;
pub mod public_io;

pub use circuit::ModelCircuit;
pub use compiled::{CompiledModel, ModelDigest};
pub use graph::QuantizedGraph;
pub use plan::{CircuitPlan, CircuitShape};
