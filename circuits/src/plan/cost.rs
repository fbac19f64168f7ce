//! Choosing `k` and the lane configuration: a small search over shapes that fit the graph,
//! ranked by a proving-time model fitted to measurements on the 2-core reference machine
//! (see `benches/RESULTS.md`; on the shared models at k = 11..13 the estimates are within
//! about 15% of measured times). Every candidate is checked by running the real layout.

use super::layout::{chunk_width, Chip, Layout, LayoutError};
use super::shape::{shared_fits, CircuitShape, MatvecCheck, MAX_FN_TABLES, MAX_K, RESERVED_ROWS};
use super::target::Target;
use crate::graph::{QOp, QuantizedGraph, PAD};
use crate::public_io::PublicIo;
use std::ops::RangeInclusive;

/// Per-row costs (seconds per row of `2^k`) of the proving steps that scale with columns.
#[derive(Clone, Copy, Debug)]
pub struct CostModel {
    /// Per advice column: commitment, iFFT, coset FFTs, evaluation.
    pub advice: f64,
    /// Per fixed column: coset FFTs and evaluation.
    pub fixed: f64,
    /// Per lookup argument: three committed columns and sorting.
    pub lookup: f64,
    /// Per permutation product column.
    pub perm: f64,
    /// Fixed per-row overhead (quotient pieces, vanishing, opening).
    pub base: f64,
    /// Fixed overhead in seconds.
    pub constant: f64,
}

impl Default for CostModel {
    fn default() -> Self {
        CostModel {
            advice: 4.4e-6,
            fixed: 1.4e-6,
            lookup: 14.0e-6,
            perm: 5.2e-6,
            base: 28e-6,
            constant: 0.03,
        }
    }
}

impl CostModel {
    /// Estimated proving seconds for a shape.
    pub fn estimate(&self, s: &CircuitShape) -> f64 {
        let n = (1u64 << s.k) as f64;
        // At constraint degree 5 a permutation product covers three columns.
        let perm_products = s.equality_columns().div_ceil(3) as f64;
        n * (self.advice * s.advice_columns() as f64
            + self.fixed * s.fixed_columns() as f64
            + self.lookup * s.lookups() as f64
            + self.perm * perm_products
            + self.base)
            + self.constant
    }
}

/// The workload a graph puts on each chip.
#[derive(Clone, Debug, Default)]
pub struct Workload {
    /// Per linear op: `(outputs per group, inputs (non-padded) per group, the op's shared
    /// product)`, one entry per group.
    linear: Vec<(usize, usize, Option<[usize; 3]>)>,
    /// The shared products of linear ops (`[n, k, m]`, see `LinearOp::shared_product`).
    shared: Vec<[usize; 3]>,
    /// Elementwise rows.
    pub elem_rows: usize,
    /// Whether any elementwise op has two operands.
    pub binary: bool,
    /// Max-pool rows and the largest window.
    pub max_rows: usize,
    max_window: usize,
    /// Dot-product rows and the longest product (single phase: one row per term).
    pub dot_rows: usize,
    dot_len: usize,
    /// Matmul rows and the tallest region (Freivalds check: one region per batch).
    pub mm_rows: usize,
    mm_len: usize,
    /// Requantization rows (three per element).
    pub requant_rows: usize,
    /// Public values.
    pub instances: usize,
    /// Public input values (the rest of `instances` are outputs).
    pub input_values: usize,
    /// Rows of the tallest lookup table with the functions split as far as shapes may.
    pub table_rows: usize,
}

impl Workload {
    /// Measures a graph.
    pub fn of(g: &QuantizedGraph) -> Workload {
        let exact = g.banked_table_rows(false, MAX_FN_TABLES);
        let mut w = Workload {
            // Requantization lanes need the full range table: no limbs.
            table_rows: match g.limb_width().filter(|_| g.requant_limbs() == 0) {
                Some(l) => exact.min(g.knot_table_rows(l).max(1 << l)),
                None => exact,
            },
            ..Default::default()
        };
        let count = |ts: &[usize]| ts.iter().map(|&t| g.tensors[t].len()).sum::<usize>();
        w.input_values = count(&g.inputs);
        w.instances = w.input_values + count(&g.outputs);
        for op in &g.ops {
            match op {
                QOp::Linear(l) => {
                    let shared = l.shared_product();
                    w.shared.extend(shared);
                    for p in 0..l.group_count() {
                        let grp = l.group(p);
                        let taps = grp.gather.iter().filter(|&&x| x != PAD).count();
                        w.linear.push((l.sets[grp.set].m, taps, shared));
                    }
                }
                QOp::Elementwise(e) => {
                    w.elem_rows += g.tensors[e.output].len();
                    w.binary |= e.b.is_some();
                }
                QOp::MaxPool(m) => {
                    for o in 0..m.outputs() {
                        let len = m.window(o).len();
                        w.max_rows += len;
                        w.max_window = w.max_window.max(len);
                    }
                }
                QOp::MatMul(m) => {
                    for e in m.dot_outputs(g) {
                        let len = m.dot_terms(e).1.len();
                        w.dot_rows += len;
                        w.dot_len = w.dot_len.max(len);
                    }
                    let rows = crate::chips::matmul::region_rows(m) as usize;
                    w.mm_rows += rows * m.batches.len();
                    w.mm_len = w.mm_len.max(rows);
                }
                QOp::Requant(r) => {
                    w.requant_rows +=
                        crate::chips::requant::ROWS as usize * g.tensors[r.output].len();
                }
                QOp::View(_) => {}
            }
        }
        w
    }

    /// The groups left to matvec lanes when matmul lanes have `mm_w` weight columns.
    fn matvec_groups(&self, mm_w: u32) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.linear
            .iter()
            .filter(move |(_, _, sh)| !sh.is_some_and(|d| shared_fits(d, mm_w)))
            .map(|&(m, taps, _)| (m, taps))
    }

    /// Rows of the shared products in matmul lanes of `mm_w` weight columns, and the tallest.
    fn shared_rows(&self, mm_w: u32) -> (usize, usize) {
        self.shared
            .iter()
            .filter(|&&d| shared_fits(d, mm_w))
            .map(|&d| crate::chips::matmul::shared_rows(d, mm_w) as usize)
            .fold((0, 0), |(sum, top), r| (sum + r, top.max(r)))
    }

    /// Matvec rows when the widest lane is `w`, and rows of chunks wider than `narrow`.
    fn linear_rows(&self, widths: &[u32], narrow: usize, mm_w: u32) -> (usize, usize) {
        let mut total = 0;
        let mut wide = 0;
        for (m, taps) in self.matvec_groups(mm_w) {
            let cw = chunk_width(m, widths);
            let chunks = m.div_ceil(cw);
            let rows = m + chunks * taps;
            total += rows;
            if cw > narrow {
                wide += rows;
            }
        }
        (total, wide)
    }

    /// Rows of products of computed matrices, and the tallest of their regions.
    pub fn products(&self, freivalds: bool) -> (usize, usize) {
        match freivalds {
            true => (self.mm_rows, self.mm_len),
            false => (self.dot_rows, self.dot_len),
        }
    }

    /// Tallest single region (a lower bound on usable rows).
    fn tallest(&self, shape: &CircuitShape) -> usize {
        let mm_w = shape.matmul_weights;
        let lin = self
            .matvec_groups(mm_w)
            .map(|(m, taps)| chunk_width(m, &shape.matvec) + taps)
            .max()
            .unwrap_or(0);
        lin.max(self.max_window)
            .max(self.products(shape.dot_freivalds()).1)
            .max(self.shared_rows(mm_w).1)
    }

    fn distinct_widths(&self) -> Vec<u32> {
        let mut ws: Vec<u32> = self
            .linear
            .iter()
            .map(|&(m, _, _)| m.min(256) as u32)
            .collect();
        ws.sort_unstable();
        ws.dedup();
        ws
    }
}

/// What the shape search minimises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Objective {
    /// Estimated proving time.
    #[default]
    ProveTime,
    /// Verifier work (commitments, hence on-chain gas and contract size), then proving time:
    /// among shapes within [`GAS_SLACK`] commitments of the fewest, the fastest.
    VerifyGas,
    /// Proving on a backend with requirements (the CUDA prover: `zkinfer_gpu::CUDA_TARGET`):
    /// circuits it can prove of at least `2^min_k` rows, the fastest of them by the
    /// (CPU-fitted) cost model.
    ProveTimeOn(Target),
}

impl Objective {
    /// Refuses a matvec check this objective cannot lay out (a single-phase target's circuits
    /// have no Freivalds challenge); checked by [`choose_shape`], and by the front end before
    /// any work.
    pub fn check(self, matvec_check: MatvecCheck) -> Result<(), LayoutError> {
        match self {
            Objective::ProveTimeOn(t) => Ok(t.check_matvec(matvec_check)?),
            Objective::ProveTime | Objective::VerifyGas => Ok(()),
        }
    }
}

/// Commitments a verify-gas search may trade for proving time.
pub const GAS_SLACK: usize = 2;

/// Options for the shape search.
#[derive(Clone, Debug, Default)]
pub struct SearchOptions {
    /// What to minimise.
    pub objective: Objective,
    /// Force this `k`.
    pub k: Option<u32>,
    /// Cost model (defaults to the fitted one).
    pub model: Option<CostModel>,
    /// Public input/output encoding.
    pub public_io: PublicIo,
    /// How matvec lanes check their outputs.
    pub matvec_check: MatvecCheck,
}

/// Chosen shape, its layout and the estimated proving time.
#[derive(Clone, Debug)]
pub struct Choice {
    /// Shape.
    pub shape: CircuitShape,
    /// Layout under that shape.
    pub layout: Layout,
    /// Estimated proving seconds on the reference machine.
    pub estimate_s: f64,
}

fn ceil_log2(x: usize) -> u32 {
    usize::BITS - x.saturating_sub(1).leading_zeros()
}

/// Searches the shape with the lowest estimated proving time.
pub fn choose_shape(g: &QuantizedGraph, opts: &SearchOptions) -> Result<Choice, LayoutError> {
    let w = Workload::of(g);
    let model = opts.model.unwrap_or_default();
    let width_sets = width_sets(&w.distinct_widths());
    let (ks, floor) = k_range(g, &w, opts)?;
    // Only the shapes are kept: a layout of a large model takes hundreds of megabytes, and
    // the chosen shape's is made again at the end.
    let mut all: Vec<(CircuitShape, f64)> = Vec::new();
    let k_hi = *ks.end();
    let mut last_err = LayoutError::TooFewRows {
        k: k_hi,
        needed: floor,
        usable: base_shape(g, &w, opts, k_hi).usable_rows(),
    };
    for k in ks {
        let base = base_shape(g, &w, opts, k);
        let usable = base.usable_rows();
        for shape in candidate_shapes(g, &w, &base, &width_sets) {
            let needed = w.tallest(&shape);
            if needed > usable {
                if k == k_hi {
                    last_err = LayoutError::TooFewRows { k, needed, usable };
                }
                continue;
            }
            if let Some((shape, _)) = lay_out_growing(g, shape, &mut last_err) {
                let estimate_s = model.estimate(&shape);
                all.push((shape, estimate_s));
            }
        }
    }
    let (shape, estimate_s) = best_choice(all, opts.objective).ok_or(last_err)?;
    let layout = Layout::new(g, &shape)?;
    Ok(Choice {
        shape,
        layout,
        estimate_s,
    })
}

/// The matvec lane width classes to try, given the distinct natural widths (sorted).
fn width_sets(widths: &[u32]) -> Vec<Vec<u32>> {
    let mut width_sets: Vec<Vec<u32>> = Vec::new();
    if widths.is_empty() {
        return width_sets;
    }
    // Uniform lanes of each natural width, and of powers of two below the widest.
    let mut uniform: Vec<u32> = widths.to_vec();
    let maxw = *widths.last().unwrap_or(&1);
    let mut p = 1;
    while p < maxw {
        uniform.push(p);
        p *= 2;
    }
    uniform.sort_unstable();
    uniform.dedup();
    for &u in &uniform {
        width_sets.push(vec![u]);
    }
    // One wide class for the widest ops plus a narrow class for the rest.
    for &small in &uniform {
        if small < maxw {
            width_sets.push(vec![maxw, small]);
        }
    }
    width_sets
}

/// The range of `k` to search, and the fewest rows any shape needs (the lookup table or the
/// public values, plus the reserved rows).
fn k_range(
    g: &QuantizedGraph,
    w: &Workload,
    opts: &SearchOptions,
) -> Result<(RangeInclusive<u32>, usize), LayoutError> {
    let io_rows = opts
        .public_io
        .rows(g.bits, w.input_values, w.instances - w.input_values);
    // Plus the sentinel row.
    let floor = (w.table_rows.max(io_rows) + RESERVED_ROWS + 1).max(32);
    opts.objective.check(opts.matvec_check)?;
    let natural = ceil_log2(floor).max(5);
    let k_lo = opts.k.unwrap_or(match opts.objective {
        Objective::ProveTimeOn(t) => natural.max(t.min_k),
        _ => natural,
    });
    let span = match opts.objective {
        Objective::ProveTime => 4,
        Objective::VerifyGas => 7,
        Objective::ProveTimeOn(_) => 2,
    };
    // At least as far as the CPU search would go, so every model that fits there fits here.
    let k_hi = opts.k.unwrap_or((k_lo + span).max(natural + 4).min(MAX_K));
    Ok((k_lo..=k_hi, floor))
}

/// The shape at `k` before its matvec lanes are chosen: as many elementwise, max-pool and
/// dot-product lanes as the workload fills.
fn base_shape(g: &QuantizedGraph, w: &Workload, opts: &SearchOptions, k: u32) -> CircuitShape {
    let mut base = CircuitShape {
        k,
        bits: g.bits,
        public_io: opts.public_io,
        matvec_check: opts.matvec_check,
        ..Default::default()
    };
    let usable = base.usable_rows();
    base.elem_lanes = w.elem_rows.div_ceil(usable).max(1) as u32;
    base.elem_binary = w.binary;
    base.max_lanes = w.max_rows.div_ceil(usable) as u32;
    // Matmul lanes (4 columns) where they take fewer columns than dot lanes (3 each).
    let lanes = |rows: usize| rows.div_ceil(usable);
    base.matmul_lanes =
        opts.matvec_check == MatvecCheck::Freivalds && 4 * lanes(w.mm_rows) < 3 * lanes(w.dot_rows);
    base.dot_lanes = lanes(w.products(base.dot_freivalds()).0) as u32;
    base.requant_lanes = lanes(w.requant_rows) as u32;
    (base.requant_limbs, base.requant_wide) = match base.requant_lanes {
        0 => (0, 0),
        _ => (g.requant_limbs(), g.requant_wide()),
    };
    base
}

/// The matvec lanes of each width set: enough lanes of each class for its rows at `usable`
/// rows per lane (one empty set when the graph has no linear ops).
fn matvec_candidates(
    w: &Workload,
    width_sets: &[Vec<u32>],
    usable: usize,
    mm_w: u32,
) -> Vec<Vec<u32>> {
    if width_sets.is_empty() || w.matvec_groups(mm_w).next().is_none() {
        return vec![vec![]];
    }
    width_sets
        .iter()
        .map(|ws| {
            let maxw = ws[0].max(*ws.last().unwrap_or(&1));
            if ws.len() == 1 {
                let (total, _) = w.linear_rows(ws, usize::MAX, mm_w);
                vec![ws[0]; total.div_ceil(usable).max(1)]
            } else {
                let (small, wide_w) = (ws[1], maxw);
                let widths_all = [wide_w, small];
                let (total, wide) = w.linear_rows(&widths_all, small as usize, mm_w);
                let nw = wide.div_ceil(usable).max(1);
                let ns = total.div_ceil(usable).saturating_sub(nw);
                let mut v = vec![wide_w; nw];
                v.extend(std::iter::repeat_n(small, ns));
                v
            }
        })
        .collect()
}

/// Weight columns per matmul lane tried when shared products go there: fewer columns place
/// each weight row's `w` weights in more rows (each product's `B` runs take `⌈m / w⌉` rows),
/// but every fixed column costs its coset FFTs in every proof however sparse it is.
const MATMUL_WEIGHTS: [u32; 3] = [4, 8, 16];

/// The shapes to try at `base`'s `k`: each matvec candidate with each table variant, with
/// elementwise lanes for its row stride; with the Freivalds check and shared products, also
/// with those in matmul lanes (of each width in [`MATMUL_WEIGHTS`]).
fn candidate_shapes(
    g: &QuantizedGraph,
    w: &Workload,
    base: &CircuitShape,
    width_sets: &[Vec<u32>],
) -> Vec<CircuitShape> {
    let usable = base.usable_rows();
    let mut bases = vec![base.clone()];
    if base.matvec_check == MatvecCheck::Freivalds {
        for weights in MATMUL_WEIGHTS {
            let (shared, _) = w.shared_rows(weights);
            if shared == 0 {
                continue;
            }
            let mut with = base.clone();
            with.matmul_lanes = true;
            with.matmul_weights = weights;
            with.dot_lanes = (w.mm_rows + shared).div_ceil(usable) as u32;
            with.matmul_weight_lanes = shared.div_ceil(usable) as u32;
            bases.push(with);
        }
    }
    // Function table without / with the identity, with the remainders in rows, and (for a
    // graph whose functions are interpolated) lookups on limbs.
    let mut tables = vec![(false, false, 0), (true, false, 0), (true, true, 0)];
    tables.extend(
        g.limb_width()
            .filter(|_| g.requant_limbs() == 0)
            .map(|l| (true, true, l)),
    );
    bases
        .into_iter()
        .flat_map(|b| {
            matvec_candidates(w, width_sets, usable, b.matmul_weights)
                .into_iter()
                .map(move |mv| (b.clone(), mv))
        })
        .flat_map(|bm| tables.iter().map(move |&t| (bm.clone(), t)))
        .filter_map(
            |((base, mv), (identity_table, remainder_rows, limb_bits))| {
                let mut shape = base;
                shape.matvec = mv;
                shape.identity_table = identity_table;
                shape.remainder_rows = remainder_rows;
                shape.limb_bits = limb_bits;
                shape.fn_tables = match limb_bits {
                    0 => fewest_fn_tables(g, identity_table, usable)?,
                    _ => 0,
                };
                shape.elem_lanes = (w.elem_rows * shape.elem_stride() as usize)
                    .div_ceil(usable)
                    .max(1) as u32;
                Some(shape)
            },
        )
        .flat_map(|shape| {
            let one_row = one_row_requant(g, w, &shape);
            std::iter::once(shape).chain(one_row)
        })
        .collect()
}

/// `shape` with one-row requantization lanes (`chips::requant_row`), where the graph's rules
/// fit them: a third of the rows, for more columns and a lookup more per lane.
fn one_row_requant(g: &QuantizedGraph, w: &Workload, shape: &CircuitShape) -> Option<CircuitShape> {
    if shape.requant_lanes == 0 || g.requant_clamp_width().is_none() {
        return None;
    }
    let values = w.requant_rows / crate::chips::requant::ROWS as usize;
    let rows = values * crate::chips::requant_row::ROWS as usize;
    let mut one = shape.clone();
    one.requant_row = true;
    one.requant_lanes = rows.div_ceil(shape.usable_rows()).max(1) as u32;
    Some(one)
}

/// The fewest function tables whose tallest fits `usable` rows (each more costs a lookup per
/// elementwise lane), or `None` when no split does.
fn fewest_fn_tables(g: &QuantizedGraph, identity: bool, usable: usize) -> Option<u32> {
    (1..=MAX_FN_TABLES).find(|&n| g.banked_table_rows(identity, n) <= usable)
}

/// Lays `g` out in `shape`, growing its lanes a little if the packing is not perfect. Keeps
/// the last layout error in `last_err`.
fn lay_out_growing(
    g: &QuantizedGraph,
    mut shape: CircuitShape,
    last_err: &mut LayoutError,
) -> Option<(CircuitShape, Layout)> {
    for _ in 0..4 {
        if shape.validate().is_err() {
            return None;
        }
        match Layout::new(g, &shape) {
            Ok(layout) => return Some((shape, layout)),
            Err(e) => {
                let grown = add_lane(&mut shape, &e);
                *last_err = e;
                if !grown {
                    return None;
                }
            }
        }
    }
    None
}

/// Adds a lane to the chip `e` reports full; false (and no change) for any other error.
fn add_lane(shape: &mut CircuitShape, e: &LayoutError) -> bool {
    let LayoutError::NoRoom { chip, .. } = e else {
        return false;
    };
    match chip {
        Chip::Matvec => {
            let wmax = shape.matvec.iter().copied().max().unwrap_or(1);
            shape.matvec.push(*shape.matvec.last().unwrap_or(&wmax));
        }
        Chip::Elementwise => shape.elem_lanes += 1,
        Chip::MaxPool => shape.max_lanes += 1,
        Chip::DotProduct => shape.dot_lanes += 1,
        Chip::Requant => shape.requant_lanes += 1,
        Chip::MatmulWeights => {
            shape.matmul_weight_lanes += 1;
            shape.dot_lanes = shape.dot_lanes.max(shape.matmul_weight_lanes);
        }
        Chip::BinaryElementwise => return false,
    }
    true
}

/// The fastest choice; for [`Objective::VerifyGas`], among those within [`GAS_SLACK`]
/// commitments of the fewest.
fn best_choice(all: Vec<(CircuitShape, f64)>, objective: Objective) -> Option<(CircuitShape, f64)> {
    let fewest = all
        .iter()
        .map(|(s, _)| s.verifier_commitments())
        .min()
        .unwrap_or(0);
    all.into_iter()
        .filter(|(s, _)| {
            objective != Objective::VerifyGas || s.verifier_commitments() <= fewest + GAS_SLACK
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
}
