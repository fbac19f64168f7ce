//! `CircuitPlan`: the third front-end stage. Chooses the circuit shape (k, lanes, widths) for a
//! quantized graph and lays every op out in rows. Depends only on the quantized graph.

mod cost;
mod layout;
mod shape;
mod target;

pub use cost::{choose_shape, Choice, CostModel, Objective, SearchOptions, Workload, GAS_SLACK};
pub use layout::{
    chunk_width, Chip, Col, ElSeg, LaneRows, Layout, LayoutError, MvRegion, PackWord, Pos,
    RunRegion, Sponge, UncheckedInput,
};
pub use shape::{CircuitShape, MatvecCheck, ShapeError, MAX_K, RESERVED_ROWS};
pub use target::{Target, TargetError};

use crate::graph::QuantizedGraph;

/// Shape and layout of a compiled model.
#[derive(Clone, Debug)]
pub struct CircuitPlan {
    /// Column configuration.
    pub shape: CircuitShape,
    /// Row allocation.
    pub layout: Layout,
}

impl CircuitPlan {
    /// Lays out `graph` in a given shape.
    pub fn new(graph: &QuantizedGraph, shape: CircuitShape) -> Result<Self, LayoutError> {
        shape.validate()?;
        if shape.bits != graph.bits {
            return Err(LayoutError::Bits {
                shape: shape.bits,
                graph: graph.bits,
            });
        }
        let widths = (graph.requant_limbs(), graph.requant_wide());
        if shape.requant_lanes > 0 && (shape.requant_limbs, shape.requant_wide.max(1)) != widths {
            return Err(LayoutError::RequantWidths {
                shape: (shape.requant_limbs, shape.requant_wide.max(1)),
                graph: widths,
            });
        }
        if shape.requant_row && shape.requant_lanes > 0 && graph.requant_clamp_width().is_none() {
            return Err(LayoutError::RequantClamp);
        }
        let layout = Layout::new(graph, &shape)?;
        Ok(CircuitPlan { shape, layout })
    }
}
