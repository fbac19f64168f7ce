//! Why a quantized graph breaks an invariant the layout and circuit rely on
//! ([`super::QuantizedGraph::validate`]).

use super::ImageError;
use thiserror::Error;

/// A graph-wide invariant is broken, or one op is malformed.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum GraphError {
    /// The bit width is outside the supported range.
    #[error("bits must be in {min}..={max}, got {got}")]
    Bits {
        /// The graph's bit width.
        got: u32,
        /// Smallest supported.
        min: u32,
        /// Largest supported.
        max: u32,
    },
    /// Function 0 is not the identity.
    #[error("function 0 must be the identity")]
    FirstFunction,
    /// An interpolated function with a step outside `1..bits`, or over a function that cannot
    /// be interpolated (the identity, a tabulated or an interpolated one).
    #[error("function {0} is an interpolation the circuit cannot check")]
    Interpolation(String),
    /// A function's image leaves its codomain (`op`: the first op that applies it).
    #[error("{}{source}", .op.as_ref().map(|o| format!("'{o}': ")).unwrap_or_default())]
    Image {
        /// The first op applying the function, if any.
        op: Option<String>,
        /// What leaves the codomain.
        source: ImageError,
    },
    /// A tensor whose values may leave the activation range (a wide function's output) read by
    /// an op other than an elementwise one.
    #[error("'{op}' reads '{tensor}', whose values may leave the activation range (only elementwise ops may read it)")]
    WideOperand {
        /// The reading op.
        op: String,
        /// The wide tensor.
        tensor: String,
    },
    /// A graph output whose values may leave the activation range.
    #[error("output '{0}' may leave the activation range")]
    WideOutput(String),
    /// A tensor is larger than any model may be.
    #[error("tensor '{tensor}' has more than {max} elements")]
    TensorTooLarge {
        /// The tensor.
        tensor: String,
        /// The limit.
        max: usize,
    },
    /// A graph input is not a tensor of the graph.
    #[error("input tensor {0} does not exist")]
    NoSuchInput(usize),
    /// A graph input is listed twice.
    #[error("input '{0}' is listed twice")]
    InputTwice(String),
    /// An op reads a tensor that is not produced before it.
    #[error("op '{op}' reads tensor {tensor} before it is produced")]
    ReadBeforeWrite {
        /// The op.
        op: String,
        /// The tensor.
        tensor: usize,
    },
    /// An op writes a tensor already written, or one that does not exist.
    #[error("op '{op}' writes tensor {tensor} twice or out of range")]
    WrittenTwice {
        /// The op.
        op: String,
        /// The tensor.
        tensor: usize,
    },
    /// A graph output is never produced.
    #[error("output tensor {0} is never produced")]
    OutputNotProduced(usize),
    /// A graph output is not range-checked by its producer.
    #[error("output '{0}' is not range-checked")]
    OutputUnchecked(String),
    /// One op is malformed.
    #[error("'{op}': {defect}")]
    Op {
        /// The op.
        op: String,
        /// What is wrong with it.
        defect: OpDefect,
    },
}

impl GraphError {
    /// `defect` of the op named `op`.
    pub(crate) fn op(op: &str, defect: OpDefect) -> Self {
        GraphError::Op {
            op: op.to_string(),
            defect,
        }
    }
}

/// What is wrong with one op of a graph.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum OpDefect {
    /// It reads or writes a tensor of the wrong kind (`what` names the operand and kind).
    #[error("{0}")]
    Kind(&'static str),
    /// An index addresses no element of the tensor.
    #[error("index {index} out of bounds for '{tensor}' ({len} elements)")]
    OutOfBounds {
        /// The index.
        index: usize,
        /// The tensor.
        tensor: String,
        /// Its length.
        len: usize,
    },
    /// It names a tensor that does not exist.
    #[error("tensor {0} missing")]
    NoSuchTensor(usize),
    /// A list has the wrong length (`what` names it).
    #[error("{what} has {got} entries, expected {want}")]
    Length {
        /// The list.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length it must have.
        want: usize,
    },
    /// A view names an input it does not have.
    #[error("bad input number")]
    NoSuchOperand,
    /// A view changes kind or scale.
    #[error("a view keeps kind and scale")]
    ViewChanges,
    /// A geometry parameter is too large.
    #[error("geometry parameter {value} exceeds {max}")]
    Geometry {
        /// The parameter.
        value: usize,
        /// The limit.
        max: usize,
    },
    /// A weight set does not have the shape it claims.
    #[error("malformed weight set")]
    WeightSet,
    /// A weight, bias or coefficient is too large for the field arithmetic.
    #[error("{0} too large")]
    TooLarge(&'static str),
    /// A linear op has more groups than any model may.
    #[error("too many groups")]
    TooManyGroups,
    /// A group of a linear op is malformed.
    #[error("group {group} {why}")]
    Group {
        /// The group.
        group: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// A group writes an output twice or out of range.
    #[error("group {group} writes output {output} twice or out of range")]
    GroupOutput {
        /// The group.
        group: usize,
        /// The output element.
        output: u32,
    },
    /// Some outputs are never written.
    #[error("some outputs are never written")]
    Unwritten,
    /// Sizes do not match the op's geometry (`what` says which).
    #[error("{0}")]
    Geometric(&'static str),
    /// A pool output has no input in its window.
    #[error("output {0} has an empty window")]
    EmptyWindow(usize),
    /// A coefficient applies to an operand the op does not have.
    #[error("coefficient on a missing operand {0}")]
    MissingOperand(&'static str),
    /// The rounding shift exceeds the bit width.
    #[error("shift {shift} exceeds bits {bits}")]
    Shift {
        /// The shift.
        shift: u32,
        /// The bit width.
        bits: u32,
    },
    /// The op applies a function the graph does not have.
    #[error("unknown function {0}")]
    UnknownFunction(usize),
}
