//! Row allocation: where every op's cells go, and where every tensor element lives ("home").
//!
//! The layout is a deterministic function of the graph and the shape, so key generation,
//! proving and tests all agree on it without storing it. Chips run in parallel *lanes* (column
//! groups); each lane fills rows from the top. Regions never span lanes.

use super::shape::{CircuitShape, ShapeError};
use super::target::TargetError;
use crate::chips::matmul::{self, Product};
use crate::graph::{Coef, ElemOp, FnKind, MatMulOp, MaxOp, Operand, QOp, QuantizedGraph, PAD};
use crate::poseidon::{permutations, sponge_rows};
use crate::public_io::{values_per_word, PublicIo};
use std::collections::HashMap;
use thiserror::Error;

/// An equality-enabled column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Col {
    /// Matvec lane inputs and outputs.
    MvX(u16),
    /// Elementwise first operand.
    ElA(u16),
    /// Elementwise second operand.
    ElB(u16),
    /// Elementwise output.
    ElOut(u16),
    /// Max-pool window inputs.
    MxX(u16),
    /// Max-pool running maximum.
    MxM(u16),
    /// Dot-product left factor.
    DotX(u16),
    /// Dot-product right factor.
    DotW(u16),
    /// Dot-product running sum.
    DotAcc(u16),
    /// Requantization accumulators and outputs (one-row lanes: accumulators).
    Rq(u16),
    /// One-row requantization lanes: outputs.
    RqY(u16),
    /// Pack chip values.
    PackV,
    /// Pack chip running words.
    PackAcc,
    /// The public instance column.
    Inst,
}

/// One packed instance word: pack-chip rows `start .. start + len`, instance row = its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackWord {
    /// First row.
    pub start: u32,
    /// Values in the word.
    pub len: u32,
}

/// One Poseidon sponge of hashed public I/O (see [`crate::chips::poseidon`]): rows
/// `start .. start + sponge_rows(..)` of the pack columns, its hash on instance row = its index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sponge {
    /// First row.
    pub start: u32,
    /// Domain tag (the number of values hashed).
    pub domain: u64,
    /// The cells holding the words absorbed, in order.
    pub words: Vec<Pos>,
}

/// A cell of an equality-enabled column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pos {
    /// Column.
    pub col: Col,
    /// Absolute row.
    pub row: u32,
}

/// One output chunk of one linear group, in a matvec lane: `c` Horner rows holding the outputs
/// (last output first), then one row per non-padded input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MvRegion {
    /// Lane.
    pub lane: u16,
    /// First row.
    pub start: u32,
    /// Op index in the graph.
    pub op: u32,
    /// Group index within the op.
    pub group: u32,
    /// First output row of the weight set covered.
    pub m0: u32,
    /// Outputs covered.
    pub c: u32,
    /// Non-padded inputs.
    pub taps: u32,
}

impl MvRegion {
    /// Rows occupied.
    pub fn rows(&self) -> u32 {
        self.c + self.taps
    }
}

/// Consecutive elements of one elementwise op in one lane, one per row (every other row with
/// `remainder_rows`: the remainder takes the row below).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElSeg {
    /// Lane.
    pub lane: u16,
    /// First row.
    pub start: u32,
    /// Op index.
    pub op: u32,
    /// First element.
    pub e0: u32,
    /// Elements.
    pub len: u32,
}

/// One max-pool window (one row per window element) or one dot product (one row per term).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRegion {
    /// Lane.
    pub lane: u16,
    /// First row.
    pub start: u32,
    /// Op index.
    pub op: u32,
    /// Output element (max pool) or output ordinal (dot product).
    pub item: u32,
    /// Rows.
    pub len: u32,
}

/// Where everything goes.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Usable rows per column.
    pub usable: usize,
    /// For every tensor element, the cell that holds it.
    pub homes: Vec<Vec<Pos>>,
    /// Matvec regions.
    pub mv: Vec<MvRegion>,
    /// Elementwise segments.
    pub el: Vec<ElSeg>,
    /// Max-pool windows.
    pub mx: Vec<RunRegion>,
    /// Dot products.
    pub dot: Vec<RunRegion>,
    /// Requantization segments (three rows per element, or one: `CircuitShape::requant_row`).
    pub rq: Vec<ElSeg>,
    /// Public input values (instance rows `0..n_inputs`).
    pub n_inputs: usize,
    /// Public output values (instance rows `n_inputs..n_inputs + n_outputs`).
    pub n_outputs: usize,
    /// Packed public I/O: the words (inputs' words first) over pack rows holding the input
    /// values, then the output values.
    pub words: Vec<PackWord>,
    /// Packed public I/O: pack row of each output value and the cell it is copied from.
    pub pack_sources: Vec<(u32, Pos)>,
    /// Hashed public I/O: the input sponge, then the output sponge.
    pub sponges: Vec<Sponge>,
    /// Rows of the public values (instance or pack rows).
    pub io_rows: u32,
    /// Rows of the Poseidon sponges (hashed I/O), at the bottom of the usable rows.
    pub hash_rows: u32,
    /// Rows used in each lane, per chip.
    pub lane_rows: LaneRows,
}

/// Rows used per lane.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaneRows {
    /// Matvec lanes.
    pub mv: Vec<u32>,
    /// Elementwise lanes.
    pub el: Vec<u32>,
    /// Max lanes.
    pub mx: Vec<u32>,
    /// Dot lanes.
    pub dot: Vec<u32>,
    /// Requantization lanes.
    pub rq: Vec<u32>,
}

impl LaneRows {
    /// The most rows any lane uses.
    pub fn max(&self) -> u32 {
        self.mv
            .iter()
            .chain(&self.el)
            .chain(&self.mx)
            .chain(&self.dot)
            .chain(&self.rq)
            .copied()
            .max()
            .unwrap_or(0)
    }
}

/// A chip family with lanes, as named in [`LayoutError`] messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Chip {
    /// Matrix-vector lanes.
    Matvec,
    /// Elementwise lanes.
    Elementwise,
    /// Elementwise lanes with a second operand.
    BinaryElementwise,
    /// Max-pool lanes.
    MaxPool,
    /// Dot-product lanes.
    DotProduct,
    /// Matmul lanes with weight columns.
    MatmulWeights,
    /// Requantization lanes.
    Requant,
}

impl Chip {
    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Chip::Matvec => "matvec",
            Chip::Elementwise => "elementwise",
            Chip::BinaryElementwise => "binary elementwise",
            Chip::MaxPool => "max-pool",
            Chip::DotProduct => "dot-product",
            Chip::MatmulWeights => "matmul (weight columns)",
            Chip::Requant => "requantization",
        }
    }
}

impl std::fmt::Display for Chip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The graph does not fit the shape.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// A chip needs more lanes (or taller ones).
    #[error("the {chip} lanes are full: {needed} rows needed in one lane with {usable} usable")]
    NoRoom {
        chip: Chip,
        needed: usize,
        usable: usize,
    },
    /// No shape at the largest `k` searched has rows enough for the model's tallest part.
    #[error("k = {k} is too small for this model: it needs at least {needed} rows in one column (lookup tables, public values or its tallest region), {usable} are usable; choose a larger --k or leave it out")]
    TooFewRows {
        k: u32,
        needed: usize,
        usable: usize,
    },
    /// The model uses a chip the shape has no lanes for.
    #[error("the model needs {chip} lanes but the shape has none")]
    MissingChip { chip: Chip },
    /// The lookup table does not fit.
    #[error("the lookup table needs {needed} rows, only {usable} are usable at k={k}")]
    TableTooLarge {
        needed: usize,
        usable: usize,
        k: u32,
    },
    /// Too many public values.
    #[error("the public inputs and outputs need {needed} rows (values, packing and hashing), only {usable} are usable")]
    TooManyInstances { needed: usize, usable: usize },
    /// The shape cannot configure a circuit.
    #[error("invalid circuit shape: {0}")]
    Shape(#[from] ShapeError),
    /// The shape and the graph have different bit widths.
    #[error("invalid quantized graph: shape bits {shape} != graph bits {graph}")]
    Bits { shape: u32, graph: u32 },
    /// Requantization lanes whose limbs are not the ones the graph's rules need (the field
    /// bound of their division line is checked for the graph's).
    #[error("invalid circuit shape: requantization lanes of {shape:?} (remainder, quotient) limbs for a graph that needs {graph:?}")]
    RequantWidths {
        shape: (u32, u32),
        graph: (u32, u32),
    },
    /// One-row requantization lanes for a graph whose rules they cannot all hold.
    #[error("invalid circuit shape: one-row requantization lanes need one output width for every rule and quotients within the clamp table")]
    RequantClamp,
    /// Lookups on limbs for a graph whose functions are not interpolated at that width.
    #[error("lookups on {0}-bit limbs need every function interpolated between knots 2^{0} apart")]
    Limbs(u32),
    /// A public input is not range-checked where the packing needs it.
    #[error("invalid quantized graph: {0}")]
    Unchecked(#[from] UncheckedInput),
    /// A layout for a target that cannot prove it.
    #[error(transparent)]
    Target(#[from] TargetError),
}

/// Lane filler: each lane fills from row 0 up to its limit.
struct Lanes {
    next: Vec<u32>,
    limit: Vec<u32>,
}

impl Lanes {
    fn new(n: usize, usable: usize) -> Self {
        Lanes {
            next: vec![0; n],
            limit: vec![usable as u32; n],
        }
    }

    /// Least-filled lane among `eligible` where `rows` fit.
    fn place(
        &mut self,
        rows: u32,
        eligible: impl Fn(usize) -> bool,
        chip: Chip,
    ) -> Result<(u16, u32), LayoutError> {
        if self.next.is_empty() {
            return Err(LayoutError::MissingChip { chip });
        }
        let best = (0..self.next.len())
            .filter(|&l| eligible(l) && self.next[l] + rows <= self.limit[l])
            .min_by_key(|&l| (self.next[l], l));
        match best {
            Some(l) => {
                let start = self.next[l];
                self.next[l] += rows;
                Ok((l as u16, start))
            }
            None => Err(LayoutError::NoRoom {
                chip,
                needed: rows as usize,
                usable: self.limit.iter().copied().max().unwrap_or(0) as usize,
            }),
        }
    }
}

impl Lanes {
    /// Elements `0..n` of op `op`, `stride` rows each, in segments as long as the least
    /// filled lane has room for.
    fn segments(
        &mut self,
        (op, n): (u32, u32),
        stride: u32,
        chip: Chip,
    ) -> Result<Vec<ElSeg>, LayoutError> {
        let mut segs = Vec::new();
        let mut e0 = 0u32;
        while e0 < n {
            let (lane, start) = self.place(stride, |_| true, chip)?;
            let len = ((self.limit[lane as usize] - start) / stride).min(n - e0);
            self.next[lane as usize] = start + stride * len;
            segs.push(ElSeg {
                lane,
                start,
                op,
                e0,
                len,
            });
            e0 += len;
        }
        Ok(segs)
    }
}

/// The homes of segments' elements: row `offset` of each element's `stride` rows, in column
/// `col(lane)`.
fn segment_homes(segs: &[ElSeg], (stride, offset): (u32, u32), col: fn(u16) -> Col) -> Vec<Pos> {
    segs.iter()
        .flat_map(|s| {
            (0..s.len).map(move |i| Pos {
                col: col(s.lane),
                row: s.start + stride * i + offset,
            })
        })
        .collect()
}

/// Output chunk size of a linear op with `m` outputs per group, given the lane widths.
pub fn chunk_width(m: usize, widths: &[u32]) -> usize {
    let wmax = widths.iter().copied().max().unwrap_or(1) as usize;
    m.min(wmax).max(1)
}

impl Layout {
    /// Lays out `graph` in `shape`.
    pub fn new(graph: &QuantizedGraph, shape: &CircuitShape) -> Result<Layout, LayoutError> {
        let usable = shape.usable_rows();
        check_table(graph, shape, usable)?;
        let mut homes: Vec<Vec<Pos>> = vec![Vec::new(); graph.tensors.len()];
        let n_inputs = input_homes(graph, shape.public_io, &mut homes);
        let n_outputs: usize = graph.outputs.iter().map(|&t| graph.tensors[t].len()).sum();
        let io_rows = shape.public_io.rows(graph.bits, n_inputs, n_outputs);
        if io_rows > usable {
            return Err(LayoutError::TooManyInstances {
                needed: io_rows,
                usable,
            });
        }
        let (mv, mv_rows) = place_matvec(graph, shape, usable, &mut homes)?;
        let hash_rows = io_rows - (n_inputs + n_outputs);
        let mut lanes = OpLanes::new(shape, usable, hash_rows);
        check_inputs_range_checked(graph)?;
        lanes.place_ops(graph, shape, &mut homes)?;
        let io = (n_inputs, n_outputs);
        let (words, pack_sources) = pack_words(graph, shape.public_io, io, &homes);
        let sponges = match shape.public_io {
            PublicIo::Hashed => hash_sponges(
                &words,
                io,
                (usable - hash_rows) as u32,
                values_per_word(graph.bits),
            ),
            PublicIo::Plain | PublicIo::Packed => Vec::new(),
        };
        Ok(Layout {
            usable,
            homes,
            words,
            pack_sources,
            sponges,
            io_rows: (n_inputs + n_outputs) as u32,
            hash_rows: hash_rows as u32,
            mv,
            el: lanes.el,
            mx: lanes.mx,
            dot: lanes.dot,
            rq: lanes.rq,
            n_inputs,
            n_outputs,
            lane_rows: LaneRows {
                mv: mv_rows,
                el: lanes.el_lanes.next,
                mx: lanes.mx_lanes.next,
                dot: lanes.dot_lanes.next,
                rq: lanes.rq_lanes.next,
            },
        })
    }

    /// Rows each op occupies, summed over the lanes of every chip it uses (`ops` ops; the
    /// elementwise and requantization strides included).
    pub fn rows_per_op(&self, ops: usize, (elem_stride, rq): (u32, u32)) -> Vec<u64> {
        let mut rows = vec![0u64; ops];
        let mut add = |op: u32, n: u32| {
            if let Some(r) = rows.get_mut(op as usize) {
                *r += u64::from(n);
            }
        };
        self.mv.iter().for_each(|r| add(r.op, r.rows()));
        self.el.iter().for_each(|s| add(s.op, s.len * elem_stride));
        self.mx
            .iter()
            .chain(&self.dot)
            .for_each(|r| add(r.op, r.len));
        self.rq.iter().for_each(|s| add(s.op, s.len * rq));
        rows
    }

    /// Rows occupied in the fullest column: the tallest lane, or the public values and
    /// elementwise lane 0 with the sponges below them (hashed I/O).
    pub fn rows_used(&self) -> usize {
        let el0 = self.lane_rows.el.first().copied().unwrap_or(0);
        let shared = self.io_rows.max(el0) + self.hash_rows;
        self.lane_rows.max().max(shared) as usize
    }
}

/// Refuses a lookup table taller than the usable rows.
fn check_table(
    graph: &QuantizedGraph,
    shape: &CircuitShape,
    usable: usize,
) -> Result<(), LayoutError> {
    if shape.limbed() && !graph.fits_limbs(shape.limb_bits) {
        return Err(LayoutError::Limbs(shape.limb_bits));
    }
    let table_rows = graph.lookup_table_rows(shape);
    if table_rows > usable {
        return Err(LayoutError::TableTooLarge {
            needed: table_rows,
            usable,
            k: shape.k,
        });
    }
    Ok(())
}

/// Homes of the public inputs: consecutive rows of the instance column (plain I/O) or of the
/// pack chip's value column, from row 0. Returns the number of input values.
fn input_homes(graph: &QuantizedGraph, public_io: PublicIo, homes: &mut [Vec<Pos>]) -> usize {
    let input_col = match public_io {
        PublicIo::Plain => Col::Inst,
        PublicIo::Packed | PublicIo::Hashed => Col::PackV,
    };
    let mut row = 0u32;
    for &t in &graph.inputs {
        homes[t] = (0..graph.tensors[t].len())
            .map(|e| Pos {
                col: input_col,
                row: row + e as u32,
            })
            .collect();
        row += graph.tensors[t].len() as u32;
    }
    row as usize
}

/// Matvec: collect all chunks, place widest first so wide lanes are kept for them. Returns the
/// regions in lane order and the rows used in each matvec lane.
fn place_matvec(
    graph: &QuantizedGraph,
    shape: &CircuitShape,
    usable: usize,
    homes: &mut [Vec<Pos>],
) -> Result<(Vec<MvRegion>, Vec<u32>), LayoutError> {
    let mut chunks = matvec_chunks(graph, shape);
    chunks.sort_by_key(|r| std::cmp::Reverse(r.c));
    let mut mv_lanes = Lanes::new(shape.matvec.len(), usable);
    for r in &mut chunks {
        let c = r.c;
        let (lane, start) = mv_lanes.place(r.rows(), |l| shape.matvec[l] >= c, Chip::Matvec)?;
        r.lane = lane;
        r.start = start;
    }
    linear_output_homes(graph, &chunks, homes);
    chunks.sort_by_key(|r| (r.lane, r.start));
    Ok((chunks, mv_lanes.next))
}

/// Every output chunk of every linear group, in graph order and not yet placed (lane and start
/// row 0).
fn matvec_chunks(graph: &QuantizedGraph, shape: &CircuitShape) -> Vec<MvRegion> {
    let widths = &shape.matvec;
    let mut chunks = Vec::new();
    for (oi, op) in graph.ops.iter().enumerate() {
        let QOp::Linear(lin) = op else {
            continue;
        };
        // Shared products go to the matmul lanes.
        if shape.shared_product(lin).is_some() {
            continue;
        }
        for p in 0..lin.group_count() {
            let grp = lin.group(p);
            let m = lin.sets[grp.set].m;
            let taps = grp.gather.iter().filter(|&&x| x != PAD).count() as u32;
            let cw = chunk_width(m, widths);
            let mut m0 = 0;
            while m0 < m {
                let c = cw.min(m - m0);
                chunks.push(MvRegion {
                    lane: 0,
                    start: 0,
                    op: oi as u32,
                    group: p as u32,
                    m0: m0 as u32,
                    c: c as u32,
                    taps,
                });
                m0 += c;
            }
        }
    }
    chunks
}

/// Homes of linear outputs: Horner rows hold the chunk's outputs, last first.
fn linear_output_homes(graph: &QuantizedGraph, chunks: &[MvRegion], homes: &mut [Vec<Pos>]) {
    for r in chunks {
        let QOp::Linear(lin) = &graph.ops[r.op as usize] else {
            continue;
        };
        let grp = lin.group(r.group as usize);
        let out = &mut homes[lin.output];
        if out.is_empty() {
            *out = vec![
                Pos {
                    col: Col::Inst,
                    row: u32::MAX
                };
                graph.tensors[lin.output].len()
            ];
        }
        for i in 0..r.c {
            let o = grp.out[(r.m0 + i) as usize] as usize;
            out[o] = Pos {
                col: Col::MvX(r.lane),
                row: r.start + (r.c - 1 - i),
            };
        }
    }
}

/// The elementwise, max-pool and dot-product lanes and the regions placed in them, filled op
/// by op in graph order.
struct OpLanes {
    el_lanes: Lanes,
    mx_lanes: Lanes,
    dot_lanes: Lanes,
    rq_lanes: Lanes,
    el: Vec<ElSeg>,
    mx: Vec<RunRegion>,
    dot: Vec<RunRegion>,
    rq: Vec<ElSeg>,
    /// Matmul lanes with weight columns (the first ones).
    weight_lanes: usize,
    /// Where each shared product goes, by op (see [`OpLanes::reserve_shared`]).
    shared_at: HashMap<u32, (u16, u32)>,
}

impl OpLanes {
    fn new(shape: &CircuitShape, usable: usize, hash_rows: usize) -> Self {
        let mut el_lanes = Lanes::new(shape.elem_lanes as usize, usable);
        // Hashed I/O: the sponges take the last rows, where they borrow elementwise lane 0's
        // coefficient columns for their round constants (see `chips::poseidon`).
        if let Some(l0) = el_lanes.limit.first_mut() {
            *l0 -= hash_rows as u32;
        }
        OpLanes {
            el_lanes,
            mx_lanes: Lanes::new(shape.max_lanes as usize, usable),
            dot_lanes: Lanes::new(shape.dot_lanes as usize, usable),
            rq_lanes: Lanes::new(shape.requant_lanes as usize, usable),
            el: Vec::new(),
            mx: Vec::new(),
            dot: Vec::new(),
            rq: Vec::new(),
            weight_lanes: match shape.matmul_weight_columns() {
                0 => 0,
                _ => shape.matmul_weight_lanes as usize,
            },
            shared_at: HashMap::new(),
        }
    }

    /// Places the shared products first, largest first, in the lanes with weight columns:
    /// products of computed matrices, placed in graph order wherever there is room, then
    /// cannot crowd out a later shared product.
    fn reserve_shared(
        &mut self,
        graph: &QuantizedGraph,
        shape: &CircuitShape,
    ) -> Result<(), LayoutError> {
        let mut shared: Vec<(u32, u32)> = (graph.ops.iter().enumerate())
            .filter_map(|(oi, op)| match op {
                QOp::Linear(l) => shape
                    .shared_product(l)
                    .map(|d| (oi as u32, matmul::shared_rows(d, shape.matmul_weights))),
                _ => None,
            })
            .collect();
        shared.sort_by_key(|&(oi, len)| (std::cmp::Reverse(len), oi));
        let w = self.weight_lanes;
        for (oi, len) in shared {
            let at = self.dot_lanes.place(len, |l| l < w, Chip::MatmulWeights)?;
            self.shared_at.insert(oi, at);
        }
        Ok(())
    }

    /// Places every op but the linear ones (already placed) and sets its output's homes.
    fn place_ops(
        &mut self,
        graph: &QuantizedGraph,
        shape: &CircuitShape,
        homes: &mut [Vec<Pos>],
    ) -> Result<(), LayoutError> {
        self.reserve_shared(graph, shape)?;
        for (oi, op) in graph.ops.iter().enumerate() {
            let oi = oi as u32;
            match op {
                QOp::Linear(l) => {
                    if let Some(dims) = shape.shared_product(l) {
                        let p = Product::Shared(l, shape.matmul_weights);
                        let len = matmul::shared_rows(dims, shape.matmul_weights);
                        let mut out = unplaced(graph.tensors[l.output].len());
                        for (e, pos) in self.product(oi, p, len, 0)? {
                            out[e] = pos;
                        }
                        homes[l.output] = out;
                    }
                }
                QOp::Elementwise(e) => homes[e.output] = self.elementwise(graph, shape, oi, e)?,
                QOp::MaxPool(m) => homes[m.output] = self.max_pool(oi, m)?,
                QOp::Requant(r) => {
                    let n = graph.tensors[r.output].len() as u32;
                    homes[r.output] = self.requant(oi, n, shape.requant_row)?;
                }
                QOp::MatMul(m) => {
                    homes[m.output] = self.dot_products(graph, oi, m, shape.dot_freivalds())?
                }
                QOp::View(v) => {
                    let out = v
                        .map
                        .iter()
                        .map(|&(i, e)| homes[v.inputs[i as usize]][e as usize])
                        .collect();
                    homes[v.output] = out;
                }
            }
        }
        Ok(())
    }

    /// Elementwise op: segments of consecutive elements, each as long as its lane has room
    /// for. Returns the output's homes.
    fn elementwise(
        &mut self,
        graph: &QuantizedGraph,
        shape: &CircuitShape,
        op: u32,
        e: &ElemOp,
    ) -> Result<Vec<Pos>, LayoutError> {
        if e.b.is_some() && !shape.elem_binary {
            return Err(LayoutError::MissingChip {
                chip: Chip::BinaryElementwise,
            });
        }
        let n = graph.tensors[e.output].len() as u32;
        let stride = shape.elem_stride();
        let segs = self.el_lanes.segments((op, n), stride, Chip::Elementwise)?;
        let out = segment_homes(&segs, (stride, 0), Col::ElOut);
        self.el.extend(segs);
        Ok(out)
    }

    /// Requantization: segments of consecutive elements, three rows each, as long as their
    /// lane has room for; each output's home is its element's second row (`one_row`: one row
    /// each, the output beside the accumulator).
    fn requant(&mut self, op: u32, n: u32, one_row: bool) -> Result<Vec<Pos>, LayoutError> {
        let (rows, col, home): (_, fn(u16) -> Col, _) = match one_row {
            true => (crate::chips::requant_row::ROWS, Col::RqY, 0),
            false => (crate::chips::requant::ROWS, Col::Rq, 1),
        };
        let segs = self.rq_lanes.segments((op, n), rows, Chip::Requant)?;
        let out = segment_homes(&segs, (rows, home), col);
        self.rq.extend(segs);
        Ok(out)
    }

    /// Max pool: one region per window; each maximum's home is its window's last row.
    fn max_pool(&mut self, op: u32, m: &MaxOp) -> Result<Vec<Pos>, LayoutError> {
        let mut out = Vec::with_capacity(m.outputs());
        for o in 0..m.outputs() {
            let len = m.window(o).len() as u32;
            let (lane, start) = self.mx_lanes.place(len, |_| true, Chip::MaxPool)?;
            self.mx.push(RunRegion {
                lane,
                start,
                op,
                item: o as u32,
                len,
            });
            out.push(Pos {
                col: Col::MxM(lane),
                row: start + len - 1,
            });
        }
        Ok(out)
    }

    /// One matmul region of `len` rows for product `p` (item `item`); returns the homes of
    /// the output elements it writes, by element.
    fn product(
        &mut self,
        op: u32,
        p: Product<'_>,
        len: u32,
        item: usize,
    ) -> Result<Vec<(usize, Pos)>, LayoutError> {
        // Shared products only in lanes with weight columns; computed ones elsewhere first.
        let w = self.weight_lanes;
        let (lane, start) = match p {
            Product::Shared(..) => match self.shared_at.get(&op) {
                Some(&at) => at,
                None => self.dot_lanes.place(len, |l| l < w, Chip::MatmulWeights)?,
            },
            Product::Computed(..) => {
                match self.dot_lanes.place(len, |l| l >= w, Chip::DotProduct) {
                    Ok(at) => at,
                    Err(_) => self.dot_lanes.place(len, |_| true, Chip::DotProduct)?,
                }
            }
        };
        self.dot.push(RunRegion {
            lane,
            start,
            op,
            item: item as u32,
            len,
        });
        Ok(matmul::output_homes(p, lane, start))
    }

    /// Matrix product: one region per dot product some op reads, its terms less the known zeros
    /// of `A` ([`MatMulOp::dot_terms`]), each sum's home its region's last row; or,
    /// with the Freivalds check, one matmul region per batch, which holds the outputs.
    fn dot_products(
        &mut self,
        graph: &QuantizedGraph,
        op: u32,
        m: &MatMulOp,
        freivalds: bool,
    ) -> Result<Vec<Pos>, LayoutError> {
        let mut out = unplaced(graph.tensors[m.output].len());
        if freivalds {
            let len = matmul::region_rows(m);
            for b in 0..m.batches.len() {
                for (e, pos) in self.product(op, Product::Computed(m, b), len, b)? {
                    out[e] = pos;
                }
            }
            return Ok(out);
        }
        for e in m.dot_outputs(graph) {
            let (o, pairs) = m.dot_terms(e);
            let len = pairs.len() as u32;
            let (lane, start) = self.dot_lanes.place(len, |_| true, Chip::DotProduct)?;
            self.dot.push(RunRegion {
                lane,
                start,
                op,
                item: e as u32,
                len,
            });
            out[o] = Pos {
                col: Col::DotAcc(lane),
                row: start + len - 1,
            };
        }
        Ok(out)
    }
}

/// Packed public I/O: the words over the input values' pack rows, then over the output values'
/// (each as full as a word holds), and the pack row and home of each output value.
fn pack_words(
    graph: &QuantizedGraph,
    public_io: PublicIo,
    (n_inputs, n_outputs): (usize, usize),
    homes: &[Vec<Pos>],
) -> (Vec<PackWord>, Vec<(u32, Pos)>) {
    match public_io {
        PublicIo::Plain => return (Vec::new(), Vec::new()),
        PublicIo::Packed | PublicIo::Hashed => {}
    }
    let per = values_per_word(graph.bits) as u32;
    let mut words = Vec::new();
    for (start, n) in [(0, n_inputs as u32), (n_inputs as u32, n_outputs as u32)] {
        let mut i = 0;
        while i < n {
            let len = per.min(n - i);
            words.push(PackWord {
                start: start + i,
                len,
            });
            i += len;
        }
    }
    let sources = graph
        .outputs
        .iter()
        .flat_map(|&t| homes[t].iter().copied())
        .enumerate()
        .map(|(j, home)| (n_inputs as u32 + j as u32, home))
        .collect();
    (words, sources)
}

/// The two sponges of hashed public I/O from row `start` on (the last rows of the usable
/// area): one over the input words, one over the output words.
fn hash_sponges(
    words: &[PackWord],
    (n_in, n_out): (usize, usize),
    mut start: u32,
    per_word: usize,
) -> Vec<Sponge> {
    let end = |w: &PackWord| Pos {
        col: Col::PackAcc,
        row: w.start + w.len - 1,
    };
    let in_words = n_in.div_ceil(per_word);
    let mut out = Vec::with_capacity(2);
    for (domain, ws) in [(n_in, &words[..in_words]), (n_out, &words[in_words..])] {
        out.push(Sponge {
            start,
            domain: domain as u64,
            words: ws.iter().map(end).collect(),
        });
        start += sponge_rows(permutations(ws.len())) as u32;
    }
    out
}

/// A public input whose values are not all bounded by the circuit.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum UncheckedInput {
    /// Listed twice among the graph inputs.
    #[error("public input '{input}' is listed twice")]
    ListedTwice { input: String },
    /// Read by an op that is not an identity copy.
    #[error("'{op}' reads public input '{input}' before it is range-checked")]
    ReadUnchecked { op: String, input: String },
    /// An element no copy reads.
    #[error("element #{element} of public input '{input}' is never range-checked")]
    ElementUnchecked { input: String, element: usize },
    /// Also a graph output.
    #[error("public input '{input}' is also an output")]
    AlsoOutput { input: String },
}

/// Public inputs are unchecked field elements until an identity op copies them into the
/// activation domain (its lookup bounds `q = a`). Packed words have one preimage only if every
/// slot is bounded, so every reader of a public input must be such a copy, the copies together
/// must read every element, no input may be listed twice, and no input may itself be an output.
fn check_inputs_range_checked(graph: &QuantizedGraph) -> Result<(), UncheckedInput> {
    for (i, &t) in graph.inputs.iter().enumerate() {
        let input = graph.tensors[t].name.clone();
        if graph.inputs[..i].contains(&t) {
            return Err(UncheckedInput::ListedTwice { input });
        }
        let mut covered = vec![false; graph.tensors[t].len()];
        for op in graph
            .ops
            .iter()
            .filter(|op| op.family().inputs().contains(&t))
        {
            let Some((operand, n)) = identity_copy(graph, op) else {
                return Err(UncheckedInput::ReadUnchecked {
                    op: op.family().name().to_string(),
                    input,
                });
            };
            for e in 0..n {
                if let Some(c) = covered.get_mut(operand.at(e)) {
                    *c = true;
                }
            }
        }
        if let Some(element) = covered.iter().position(|&c| !c) {
            return Err(UncheckedInput::ElementUnchecked { input, element });
        }
        if graph.outputs.contains(&t) {
            return Err(UncheckedInput::AlsoOutput { input });
        }
    }
    Ok(())
}

/// Whether `f` copies its argument and bounds it within the activation domain.
fn bounding_identity(graph: &QuantizedGraph, f: &FnKind) -> bool {
    let half = i64::try_from(graph.half_range()).unwrap_or(i64::MAX);
    let d = f.domain(graph.bits);
    f.is_identity() && d.start >= -half && d.end <= half
}

/// The operand and element count of `op` when it is an identity copy (`out = a`, range-checked:
/// to the activation domain, or by a table of `x ↦ x` to its sub-domain).
fn identity_copy<'g>(graph: &QuantizedGraph, op: &'g QOp) -> Option<(&'g Operand, usize)> {
    match op {
        QOp::Elementwise(e)
            if e.b.is_none()
                && e.qa == Coef::Const(1)
                && e.qc == Coef::Const(0)
                && e.shift == 0
                && graph
                    .functions
                    .get(e.func as usize)
                    .is_some_and(|f| bounding_identity(graph, f)) =>
        {
            e.a.as_ref().map(|a| (a, graph.tensors[e.output].len()))
        }
        _ => None,
    }
}

/// Homes of `n` elements not placed yet (row `u32::MAX`).
fn unplaced(n: usize) -> Vec<Pos> {
    vec![
        Pos {
            col: Col::Inst,
            row: u32::MAX
        };
        n
    ]
}
