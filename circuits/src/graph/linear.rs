//! Linear family: constant-weight linear maps.
//!
//! A map is a set of *groups*. Each group applies one weight set `W (m × k)` and bias `b (m)` to
//! `k` gathered input elements and writes `m` output elements:
//! `y[out[i]] = Σ_j W[i][j] · x[gather[j]] + b[i]`. Gemm and MatMul with a constant operand are
//! one group per row of the computed operand; Conv is one group per output position (im2col);
//! average pools are one group per output element. The geometry generates groups on demand,
//! so large convolutions do not store their im2col indices.

use super::{
    EvalError, GraphError, IntOp, OpDefect, QuantizedGraph, TensorId, TensorKind, Window2d,
};
use serde::{Deserialize, Serialize};

fn one() -> usize {
    1
}

/// Marker for a padded (zero) input in a gather list.
pub const PAD: u32 = u32::MAX;

/// A constant weight matrix and bias, at the op's weight scale.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WeightSet {
    /// Outputs per group.
    pub m: usize,
    /// Inputs per group.
    pub k: usize,
    /// Row-major `m × k` weights.
    pub w: Vec<i64>,
    /// Bias per output, at the accumulator scale.
    pub b: Vec<i64>,
}

/// How groups are generated.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Geometry {
    /// Groups indexed by `(outer, inner)`; input `(p, j)` lives at
    /// `outer·xs[0] + inner·xs[1] + j·xs[2]`, output `(p, i)` at `outer·ys[0] + inner·ys[1] + i·ys[2]`.
    Dense {
        outer: usize,
        inner: usize,
        xs: [usize; 3],
        ys: [usize; 3],
        /// Weight set per group (`None`: set 0 for all).
        sets: Option<Vec<u32>>,
    },
    /// 2-D convolution over an `(c, h, w)` input, one group per output position and channel
    /// group: with `groups = G` (ONNX's `group`), output channels `g·m … (g+1)·m − 1` read input
    /// channels `g·c/G … (g+1)·c/G − 1` only, with weight set `g` (`m` rows each).
    Conv2d {
        c: usize,
        h: usize,
        w: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        /// Top, left padding.
        pad: [usize; 2],
        dilation: [usize; 2],
        out: [usize; 2],
        /// Channel groups (1: an ordinary convolution).
        #[serde(default = "one")]
        groups: usize,
    },
    /// 2-D average pool, one group per output element; the weight set depends on how many
    /// window elements are counted.
    AvgPool2d {
        c: usize,
        h: usize,
        w: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 2],
        /// Bottom, right padding (bounds the padded border that may count).
        pad_end: [usize; 2],
        out: [usize; 2],
        /// Whether padded positions count towards the divisor.
        count_include_pad: bool,
        /// `(count, weight set)` pairs.
        set_for_count: Vec<(u32, u32)>,
    },
}

/// The largest value of any size, stride, padding or dilation a geometry may hold, so that the
/// index arithmetic of a loaded (possibly crafted) model cannot overflow.
const MAX_GEOMETRY: usize = 1 << 20;

impl Geometry {
    /// Checks every parameter against [`MAX_GEOMETRY`].
    fn check_bounds(&self) -> Result<(), OpDefect> {
        let params: Vec<usize> = match self {
            Geometry::Dense {
                outer,
                inner,
                xs,
                ys,
                ..
            } => [*outer, *inner]
                .iter()
                .chain(xs)
                .chain(ys)
                .copied()
                .collect(),
            Geometry::Conv2d {
                c,
                h,
                w,
                kernel,
                stride,
                pad,
                dilation,
                out,
                groups,
            } => [*c, *h, *w, *groups]
                .iter()
                .chain(kernel)
                .chain(stride)
                .chain(pad)
                .chain(dilation)
                .chain(out)
                .copied()
                .collect(),
            Geometry::AvgPool2d {
                c,
                h,
                w,
                kernel,
                stride,
                pad,
                pad_end,
                out,
                ..
            } => [*c, *h, *w]
                .iter()
                .chain(kernel)
                .chain(stride)
                .chain(pad)
                .chain(pad_end)
                .chain(out)
                .copied()
                .collect(),
        };
        if let Geometry::Conv2d { groups, c, .. } = self {
            if *groups == 0 || !c.is_multiple_of(*groups) {
                return Err(OpDefect::Geometric(
                    "a convolution's channel groups must divide its input channels",
                ));
            }
        }
        match params.iter().find(|&&v| v > MAX_GEOMETRY) {
            Some(&value) => Err(OpDefect::Geometry {
                value,
                max: MAX_GEOMETRY,
            }),
            None => Ok(()),
        }
    }

    /// For an average pool: the gathered window of group `p` and how many of its positions
    /// count towards the divisor. Empty for other geometries.
    pub fn avg_window(&self, p: usize) -> (Vec<u32>, u32) {
        let Geometry::AvgPool2d {
            h,
            w,
            kernel,
            stride,
            pad,
            pad_end,
            out,
            count_include_pad,
            ..
        } = self
        else {
            return (Vec::new(), 0);
        };
        let plane = out[0] * out[1];
        let (ch, q) = (p / plane, p % plane);
        let (oh, ow) = (q / out[1], q % out[1]);
        let mut gather = Vec::with_capacity(kernel[0] * kernel[1]);
        let mut counted = 0u32;
        for i in 0..kernel[0] {
            for j in 0..kernel[1] {
                let ih = (oh * stride[0] + i) as isize - pad[0] as isize;
                let iw = (ow * stride[1] + j) as isize - pad[1] as isize;
                if ih >= 0 && iw >= 0 && (ih as usize) < *h && (iw as usize) < *w {
                    gather.push((ch * h * w + ih as usize * w + iw as usize) as u32);
                    counted += 1;
                } else {
                    gather.push(PAD);
                    // Padded positions count when asked, but never beyond the padded border.
                    let inside = ih >= -(pad[0] as isize)
                        && iw >= -(pad[1] as isize)
                        && ih < (*h + pad_end[0]) as isize
                        && iw < (*w + pad_end[1]) as isize;
                    if *count_include_pad && inside {
                        counted += 1;
                    }
                }
            }
        }
        (gather, counted)
    }
}

/// One materialized group.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearGroup {
    /// Weight set index.
    pub set: usize,
    /// Input element per weight column, or [`PAD`].
    pub gather: Vec<u32>,
    /// Output element per weight row.
    pub out: Vec<u32>,
}

/// Constant-weight linear map.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinearOp {
    /// Source node.
    pub name: String,
    /// Input tensor (an activation).
    pub input: TensorId,
    /// Output tensor (an accumulator).
    pub output: TensorId,
    /// Weight sets.
    pub sets: Vec<WeightSet>,
    /// Group generator.
    pub geometry: Geometry,
}

impl LinearOp {
    /// The exact sum of each row of the `rows × n` tensor `input` (weights 1), into `output`.
    pub fn row_sums(
        name: &str,
        (input, output): (TensorId, TensorId),
        (rows, n): (usize, usize),
    ) -> Self {
        LinearOp {
            name: name.to_string(),
            input,
            output,
            sets: vec![WeightSet {
                m: 1,
                k: n,
                w: vec![1; n],
                b: vec![0],
            }],
            geometry: Geometry::Dense {
                outer: rows,
                inner: 1,
                xs: [n, 0, 1],
                ys: [1, 0, 1],
                sets: None,
            },
        }
    }

    /// The op as one matrix product `Y (n × m) = X (n × k) · Wᵀ + b`, as `[n, k, m]`: a dense
    /// map whose `n ≥ 2` groups (rows of `X`, e.g. tokens) all apply weight set 0. Such an
    /// op can be checked at the matrix level, each weight placed once.
    pub fn shared_product(&self) -> Option<[usize; 3]> {
        let Geometry::Dense { sets: None, .. } = &self.geometry else {
            return None;
        };
        let n = self.group_count();
        let ws = self.sets.first()?;
        (n >= 2).then_some([n, ws.k, ws.m])
    }

    /// Number of groups.
    pub fn group_count(&self) -> usize {
        match &self.geometry {
            Geometry::Dense { outer, inner, .. } => outer * inner,
            Geometry::Conv2d { out, groups, .. } => out[0] * out[1] * groups,
            Geometry::AvgPool2d { c, out, .. } => c * out[0] * out[1],
        }
    }

    /// Materializes group `p`.
    pub fn group(&self, p: usize) -> LinearGroup {
        match &self.geometry {
            Geometry::Dense {
                inner,
                xs,
                ys,
                sets,
                ..
            } => {
                let (o, i) = (p / inner, p % inner);
                let set = sets.as_ref().map(|s| s[p] as usize).unwrap_or(0);
                let ws = &self.sets[set];
                let xb = o * xs[0] + i * xs[1];
                let yb = o * ys[0] + i * ys[1];
                LinearGroup {
                    set,
                    gather: (0..ws.k).map(|j| (xb + j * xs[2]) as u32).collect(),
                    out: (0..ws.m).map(|r| (yb + r * ys[2]) as u32).collect(),
                }
            }
            Geometry::Conv2d {
                c,
                h,
                w,
                kernel,
                stride,
                pad,
                dilation,
                out,
                groups,
            } => {
                let plane = out[0] * out[1];
                let (g, q) = (p / plane, p % plane);
                let (oh, ow) = (q / out[1], q % out[1]);
                let win = Window2d {
                    hw: [*h, *w],
                    kernel: *kernel,
                    stride: *stride,
                    pad: *pad,
                    dilation: *dilation,
                };
                let (in_plane, per) = (h * w, c / (*groups).max(1));
                let gather = (g * per..(g + 1) * per)
                    .flat_map(|ch| {
                        win.taps(oh, ow)
                            .map(move |t| t.map_or(PAD, |i| (ch * in_plane + i) as u32))
                    })
                    .collect();
                let m = self.sets.get(g).map_or(0, |s| s.m);
                LinearGroup {
                    set: g,
                    gather,
                    out: (0..m).map(|r| ((g * m + r) * plane + q) as u32).collect(),
                }
            }
            Geometry::AvgPool2d { set_for_count, .. } => {
                let (gather, counted) = self.geometry.avg_window(p);
                let set = set_for_count
                    .iter()
                    .find(|(c, _)| *c == counted)
                    .map(|(_, s)| *s as usize)
                    .unwrap_or(usize::MAX);
                LinearGroup {
                    set,
                    gather,
                    out: vec![p as u32],
                }
            }
        }
    }

    pub(crate) fn validate(&self, g: &QuantizedGraph) -> Result<(), GraphError> {
        let bad = |d| Err(GraphError::op(&self.name, d));
        if g.tensors[self.output].kind != TensorKind::Accumulator {
            return bad(OpDefect::Kind("output must be an accumulator"));
        }
        if g.tensors[self.input].kind != TensorKind::Activation {
            return bad(OpDefect::Kind("input must be an activation"));
        }
        if let Err(e) = self.geometry.check_bounds() {
            return bad(e);
        }
        for s in &self.sets {
            let sized = s.m <= MAX_GEOMETRY && s.k <= MAX_GEOMETRY;
            if !sized || s.w.len() != s.m * s.k || s.b.len() != s.m || s.m == 0 {
                return bad(OpDefect::WeightSet);
            }
            if s.w.iter().chain(&s.b).any(|v| v.unsigned_abs() >= 1 << 62) {
                return bad(OpDefect::TooLarge("weight"));
            }
        }
        let in_len = g.tensors[self.input].len();
        let out_len = g.tensors[self.output].len();
        let mut covered = vec![false; out_len];
        let groups = self.group_count();
        if groups > 1 << 26 {
            return bad(OpDefect::TooManyGroups);
        }
        for p in 0..groups {
            let grp = self.group(p);
            let group = |why| bad(OpDefect::Group { group: p, why });
            let Some(ws) = self.sets.get(grp.set) else {
                return group("has no weight set");
            };
            if grp.gather.len() != ws.k || grp.out.len() != ws.m {
                return group("does not match its weight set");
            }
            if grp.gather.iter().any(|&x| x != PAD && x as usize >= in_len) {
                return group("reads outside the input");
            }
            for &output in &grp.out {
                match covered.get_mut(output as usize) {
                    Some(c) if !*c => *c = true,
                    _ => return bad(OpDefect::GroupOutput { group: p, output }),
                }
            }
        }
        if covered.iter().any(|c| !c) {
            return bad(OpDefect::Unwritten);
        }
        Ok(())
    }
}

impl IntOp for LinearOp {
    fn name(&self) -> &str {
        &self.name
    }

    fn inputs(&self) -> Vec<TensorId> {
        vec![self.input]
    }

    fn output(&self) -> TensorId {
        self.output
    }

    fn describe(&self, g: &QuantizedGraph) -> String {
        let kind = match &self.geometry {
            Geometry::Dense { .. } => "dense",
            Geometry::Conv2d { .. } => "conv2d",
            Geometry::AvgPool2d { .. } => "avgpool2d",
        };
        let s = &self.sets[0];
        format!(
            "{kind} [{}] -> [{}]: {} group(s) of {}x{} weights",
            g.tensors[self.input].name,
            g.tensors[self.output].name,
            self.group_count(),
            s.m,
            s.k
        )
    }

    fn eval(&self, g: &QuantizedGraph, vals: &mut [Vec<i128>]) -> Result<(), EvalError> {
        let mut out = vec![0i128; g.tensors[self.output].len()];
        let x = &vals[self.input];
        for p in 0..self.group_count() {
            let grp = self.group(p);
            let ws = &self.sets[grp.set];
            for (i, &o) in grp.out.iter().enumerate() {
                let row = &ws.w[i * ws.k..(i + 1) * ws.k];
                let mut acc = ws.b[i] as i128;
                for (&wv, &xi) in row.iter().zip(&grp.gather) {
                    if xi != PAD {
                        acc += wv as i128 * x[xi as usize];
                    }
                }
                if acc.unsigned_abs() >= 1u128 << 100 {
                    return Err(EvalError::Overflow {
                        op: self.name.clone(),
                    });
                }
                out[o as usize] = acc;
            }
        }
        vals[self.output] = out;
        Ok(())
    }
}
