//! LSTM (forward, reverse or bidirectional; default activations), unrolled over its fixed
//! sequence length into existing families, one unrolling per direction (a reverse one walks the
//! steps from the last; `Y` lists each step's `h` of every direction at that step's time).
//! Per step `t`, with gates in ONNX's order `i, o, f, c`:
//!
//! - `z = W·x_t + R·h_(t-1) + Wb + Rb`: one constant-weight linear map over every step's input
//!   (with the biases), one over `h_(t-1)` (a constant initial state is folded into the gates'
//!   constants instead);
//! - `i, o, f = sigmoid(z)`, `c~ = tanh(z)`: the rescale of `z` fused with the table;
//! - `c_t = f ⊙ c_(t-1) + i ⊙ c~` and `h_t = o ⊙ tanh(c_t)`: elementwise products and sums.
//!
//! Gates and `h` have scale `B - 2` (values in [-1, 1]); `c` the scale of its bound
//! `|c_0| + t + 1`; `z` the scale of its bound for inputs within the input's calibrated bound.

use super::{input, shape_err, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::{Lin, NewTensor, QRef, QuantCtx};
use crate::tensor::Tensor;
use crate::FrontendError;
use std::any::Any;
use zkinfer_circuits::graph::{
    det_sigmoid, det_tanh, Coef, FnKind, Geometry, LinearOp, Operand, QOp, TensorKind, WeightSet,
};

/// Which way an LSTM walks its sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Forward,
    Reverse,
    Bidirectional,
}

impl Direction {
    /// `num_directions`: the leading dimension of the weights, states and `Y_h`.
    fn count(self) -> usize {
        match self {
            Direction::Bidirectional => 2,
            _ => 1,
        }
    }

    /// Whether direction `d` of the weights walks from the last step to the first.
    fn backwards(self, d: usize) -> bool {
        self == Direction::Reverse || (self == Direction::Bidirectional && d == 1)
    }
}

/// An LSTM with the default activations.
#[derive(Debug)]
pub struct Lstm {
    hidden: usize,
    direction: Direction,
    /// `layout = 1`: batch first (`X` `[B, S, I]`, `Y` `[B, S, D, H]`, states `[B, D, H]`).
    batch_first: bool,
    /// Which of `Y`, `Y_h`, `Y_c` the node names.
    outputs: Vec<bool>,
}

/// The constant parameters of one direction, checked against the input's shape.
struct Params<'t> {
    /// `[4H, I]`.
    w: &'t [f64],
    /// `[4H, H]`.
    r: &'t [f64],
    /// `Wb + Rb`, `[4H]`.
    bias: Vec<f64>,
    /// `[B, H]` each.
    h0: Vec<f64>,
    c0: Vec<f64>,
    /// Sequence length, batch, input size.
    sbi: [usize; 3],
    /// Whether this direction walks from the last step.
    backwards: bool,
    /// Whether `X` is `[B, S, I]` (layout 1).
    batch_first: bool,
}

impl Params<'_> {
    /// The row of `X` (and of its input projection) at step `t` of batch element `bb`.
    fn row(&self, t: usize, bb: usize) -> usize {
        let [s, b, _] = self.sbi;
        match self.batch_first {
            true => bb * s + t,
            false => t * b + bb,
        }
    }
}

/// One direction's unrolling: `h` of every step (by time), the last `h` and `c` (of the last
/// step walked), and their scales.
struct Walked {
    hs: Vec<QRef>,
    h_last: QRef,
    c_last: QRef,
    s_g: i32,
    s_c: i32,
}

impl Lstm {
    /// Lowers node `node`, an LSTM over its activation input 0 with the constants `inputs`
    /// (its inputs from #1 on; #0 is not read).
    pub(super) fn lower(
        &self,
        q: &mut QuantCtx<'_>,
        node: usize,
        inputs: &[Option<&Tensor>],
    ) -> Result<(), FrontendError> {
        let x = q.act_input(node, 0)?;
        let shape = q.graph.tensors[x.id].shape.clone();
        let ps = self.params(&q.node(node).name, &shape, inputs)?;
        // One scale for `c` in every direction (`Y_c` lists them together).
        let s = ps.first().map_or(0, |p| p.sbi[0]);
        // `Y`'s view lists every step's `h` of every direction (inputs numbered by `u16`).
        if self.outputs.first() == Some(&true) && s * ps.len() > usize::from(u16::MAX) {
            return Err(q.err(node, format!("an LSTM over {s} steps is too long")));
        }
        let c0 = ps.iter().flat_map(|p| &p.c0);
        let c_bound = c0.fold(0.0f64, |m, v| m.max(v.abs())) + s as f64;
        let walks = ps
            .iter()
            .map(|p| Unroll::new(q, node, x, p, (self.hidden, c_bound))?.run(q))
            .collect::<Result<Vec<_>, _>>()?;
        bind_outputs(
            q,
            node,
            &walks,
            (&self.outputs, self.batch_first, self.hidden),
        )
    }

    /// Checks shapes and unsupported inputs; `x`'s shape is `[S, B, I]` (`[B, S, I]` in
    /// layout 1). One set per direction.
    fn params<'t>(
        &self,
        node: &str,
        x_shape: &[usize],
        inputs: &[Option<&'t Tensor>],
    ) -> Result<Vec<Params<'t>>, FrontendError> {
        let (h, dirs) = (self.hidden, self.direction.count());
        let (s, b, i) = match (x_shape, self.batch_first) {
            (&[s, b, i], false) | (&[b, s, i], true) => (s, b, i),
            _ => {
                return Err(shape_err(
                    node,
                    match self.batch_first {
                        false => "LSTM input must be [seq_length, batch, input_size]",
                        true => "LSTM input must be [batch, seq_length, input_size] (layout 1)",
                    },
                ))
            }
        };
        let (s, b, i) = (&s, &b, &i);
        let (w, r) = (input(node, inputs, 1)?, input(node, inputs, 2)?);
        if w.shape != [dirs, 4 * h, *i] || r.shape != [dirs, 4 * h, h] {
            return Err(shape_err(
                node,
                format!(
                    "W {:?} / R {:?} do not fit {dirs} direction(s), hidden_size {h} and input size {i}",
                    w.shape, r.shape
                ),
            ));
        }
        let opt = |k: usize| inputs.get(k).copied().flatten();
        let bias = |d: usize| match opt(3) {
            None => Ok(vec![0.0; 4 * h]),
            Some(t) if t.shape == [dirs, 8 * h] => {
                let t = &t.data[d * 8 * h..(d + 1) * 8 * h];
                Ok((0..4 * h).map(|k| t[k] + t[4 * h + k]).collect())
            }
            Some(t) => Err(shape_err(
                node,
                format!("B {:?} is not [{dirs}, {}]", t.shape, 8 * h),
            )),
        };
        if let Some(l) = opt(4) {
            if l.shape != [*b] || l.data.iter().any(|&v| v as usize != *s) {
                return Err(shape_err(
                    node,
                    format!(
                        "sequence_lens {:?} other than the sequence length {s} for each of {b}",
                        l.shape
                    ),
                ));
            }
        }
        // The outputs and the input projection stay within the tensor size limit.
        crate::tensor::checked_len(&[*s, dirs, *b, h], node)?;
        crate::tensor::checked_len(&[*s, *b, 4 * h], node)?;
        // `[D, B, H]`, or `[B, D, H]` batch first: direction `d`'s `[B, H]`.
        let state_shape = match self.batch_first {
            true => [*b, dirs, h],
            false => [dirs, *b, h],
        };
        let state = |k: usize, d: usize| match opt(k) {
            None => Ok(vec![0.0; b * h]),
            Some(t) if t.shape == state_shape => Ok((0..*b)
                .flat_map(|bb| {
                    let at = match self.batch_first {
                        true => (bb * dirs + d) * h,
                        false => (d * b + bb) * h,
                    };
                    t.data[at..at + h].iter().copied()
                })
                .collect()),
            Some(t) => Err(shape_err(
                node,
                format!("initial state {:?} is not {state_shape:?}", t.shape),
            )),
        };
        if opt(7).is_some() {
            return Err(shape_err(node, "peephole weights (P) are not supported"));
        }
        let (wn, rn) = (4 * h * i, 4 * h * h);
        (0..dirs)
            .map(|d| {
                Ok(Params {
                    w: &w.data[d * wn..(d + 1) * wn],
                    r: &r.data[d * rn..(d + 1) * rn],
                    bias: bias(d)?,
                    h0: state(5, d)?,
                    c0: state(6, d)?,
                    sbi: [*s, *b, *i],
                    backwards: self.direction.backwards(d),
                    batch_first: self.batch_first,
                })
            })
            .collect()
    }
}

/// One direction of the float LSTM: `(Y [S, B, H]` by time, and `h`, `c` `[B, H]` of the last
/// step walked).
fn run_float(x: &[f64], p: &Params<'_>, h: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let [s, b, i] = p.sbi;
    let (mut hs, mut cs) = (p.h0.clone(), p.c0.clone());
    let mut y = vec![0.0; s * b * h];
    for step in 0..s {
        let t = if p.backwards { s - 1 - step } else { step };
        let mut next_h = vec![0.0; b * h];
        for bb in 0..b {
            let xt = &x[p.row(t, bb) * i..][..i];
            let hp = &hs[bb * h..][..h];
            let z = |row: usize| {
                let wx: f64 = (0..i).map(|k| p.w[row * i + k] * xt[k]).sum();
                let rh: f64 = (0..h).map(|k| p.r[row * h + k] * hp[k]).sum();
                wx + rh + p.bias[row]
            };
            for j in 0..h {
                let (ig, og) = (det_sigmoid(z(j)), det_sigmoid(z(h + j)));
                let (fg, cg) = (det_sigmoid(z(2 * h + j)), det_tanh(z(3 * h + j)));
                let c = fg * cs[bb * h + j] + ig * cg;
                cs[bb * h + j] = c;
                next_h[bb * h + j] = og * det_tanh(c);
            }
        }
        hs = next_h;
        y[t * b * h..(t + 1) * b * h].copy_from_slice(&hs);
    }
    (y, hs, cs)
}

impl OnnxOp for Lstm {
    fn skips_unnamed_outputs(&self) -> bool {
        true
    }

    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let x = input(node, inputs, 0)?;
        let ps = self.params(node, &x.shape, inputs)?;
        let ([s, b, _], h) = (ps.first().map_or([0; 3], |p| p.sbi), self.hidden);
        let runs: Vec<_> = ps.iter().map(|p| run_float(&x.data, p, h)).collect();
        let dirs = runs.len();
        let layout = OutputLayout::new([s, dirs, b, h], self.batch_first);
        let y = layout
            .y()
            .map(|(t, d, e)| runs[d].0[t * b * h + e])
            .collect();
        let h_last = layout.last().map(|(d, e)| runs[d].1[e]).collect();
        let c_last = layout.last().map(|(d, e)| runs[d].2[e]).collect();
        let all = [
            Tensor::float(layout.y_shape(), y),
            Tensor::float(layout.last_shape(), h_last),
            Tensor::float(layout.last_shape(), c_last),
        ];
        Ok(all
            .into_iter()
            .zip(&self.outputs)
            .filter(|(_, &named)| named)
            .map(|(t, _)| t)
            .collect())
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let what = "W, R, B, sequence_lens and the initial states";
        let inputs = constant_inputs(q, node, what)?;
        self.lower(q, node, &inputs)
    }

    fn parameter_inputs(&self) -> &'static [usize] {
        &[4]
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Inputs #1 on of `node`, each a constant where given (else an error naming `what` must be).
pub(super) fn constant_inputs<'a>(
    q: &QuantCtx<'a>,
    node: usize,
    what: &str,
) -> Result<Vec<Option<&'a Tensor>>, FrontendError> {
    let n = q.node(node);
    if (1..n.inputs.len())
        .any(|k| q.input_id(node, k).is_some() && q.const_input(node, k).is_none())
    {
        return Err(q.err(node, format!("{what} must be constants")));
    }
    Ok((0..n.inputs.len())
        .map(|k| q.const_input(node, k))
        .collect())
}

/// The scales and projections shared by every step of one direction's lowering.
struct Unroll<'p> {
    node: usize,
    op: String,
    /// The node's name, with " (reverse)" for a direction walking backwards: its tensors'.
    name: String,
    p: &'p Params<'p>,
    h: usize,
    /// Scale of gates and `h` (`B - 2`), of `z`, of its accumulators, of `c`.
    s_g: i32,
    s_z: i32,
    s_acc: i32,
    s_c: i32,
    /// `W·x_t + b` for every step, `[S·B, 4H]`.
    acc_x: usize,
    /// `R` quantized at the scale that puts `R·h` at `s_acc`.
    r: WeightSet,
}

/// `h` or `c` of the previous step: the constant initial state, or a computed tensor.
#[derive(Clone, Copy)]
enum State {
    Initial,
    Computed(QRef),
}

/// The finest scale at which values of magnitude up to `bound` fit `bits`.
fn scale_of(bound: f64, bits: u32) -> i32 {
    let limit = ((1i64 << (bits - 1)) - 1) as f64;
    ((limit / bound.max(1e-30)).log2().floor() as i32).clamp(-2 * bits as i32, 3 * bits as i32)
}

impl<'p> Unroll<'p> {
    /// Chooses the scales and lowers the input projection of every step.
    fn new(
        q: &mut QuantCtx<'_>,
        node: usize,
        x: QRef,
        p: &'p Params<'p>,
        (h, c_bound): (usize, f64),
    ) -> Result<Self, FrontendError> {
        let bits = q.bits;
        let op = q.node(node).name.clone();
        let name = match p.backwards {
            true => format!("{op} (reverse)"),
            false => op.clone(),
        };
        let [s, b, i] = p.sbi;
        let s_g = bits as i32 - 2;
        let x_bound = q.bound(q.input_id(node, 0).unwrap_or(usize::MAX));
        let h_bound = p.h0.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        let z_bound = (0..4 * h)
            .map(|row| {
                let wx: f64 = (0..i).map(|k| p.w[row * i + k].abs()).sum::<f64>() * x_bound;
                let rh: f64 = (0..h).map(|k| p.r[row * h + k].abs()).sum::<f64>() * h_bound;
                wx + rh + p.bias[row].abs()
            })
            .fold(0.0f64, f64::max);
        let s_z = scale_of(z_bound, bits);
        let s_acc = s_z + bits as i32;
        let s_c = scale_of(c_bound, bits);
        if 2 * s_g - s_c > bits as i32 {
            return Err(q.err(
                node,
                format!("an LSTM over {s} steps needs more than {bits} bits"),
            ));
        }
        let quant = |q: &QuantCtx<'_>, v: &[f64], scale: i32| {
            v.iter()
                .map(|&v| q.fixed(node, v, scale))
                .collect::<Result<Vec<_>, _>>()
        };
        let wx = WeightSet {
            m: 4 * h,
            k: i,
            w: quant(q, p.w, s_acc - x.scale)?,
            b: quant(q, &p.bias, s_acc)?,
        };
        let r = WeightSet {
            m: 4 * h,
            k: h,
            w: quant(q, p.r, s_acc - s_g)?,
            b: vec![0; 4 * h],
        };
        let acc_name = format!("{name} (W·x + b)");
        let acc_x = q.new_tensor(
            &acc_name,
            vec![s * b * 4 * h],
            s_acc,
            TensorKind::Accumulator,
        );
        q.push(QOp::Linear(LinearOp {
            name: op.clone(),
            input: x.id,
            output: acc_x,
            sets: vec![wx],
            geometry: dense(s * b, i, 4 * h),
        }));
        Ok(Unroll {
            node,
            op,
            name,
            p,
            h,
            s_g,
            s_z,
            s_acc,
            s_c,
            acc_x,
            r,
        })
    }

    /// Lowers every step, walking backwards for a reverse direction.
    fn run(self, q: &mut QuantCtx<'_>) -> Result<Walked, FrontendError> {
        let s = self.p.sbi[0];
        let (mut hp, mut cp) = (State::Initial, State::Initial);
        let mut hs = vec![None; s];
        for step in 0..s {
            let t = if self.p.backwards { s - 1 - step } else { step };
            let (ht, ct) = self.step(q, t, hp, cp)?;
            hs[t] = Some(ht);
            (hp, cp) = (State::Computed(ht), State::Computed(ct));
        }
        let (State::Computed(h_last), State::Computed(c_last)) = (hp, cp) else {
            return Err(q.err(self.node, "an LSTM over an empty sequence"));
        };
        Ok(Walked {
            hs: hs.into_iter().flatten().collect(),
            h_last,
            c_last,
            s_g: self.s_g,
            s_c: self.s_c,
        })
    }

    /// One step: the gates from `z`, then `c_t` and `h_t`.
    fn step(
        &self,
        q: &mut QuantCtx<'_>,
        t: usize,
        hp: State,
        cp: State,
    ) -> Result<(QRef, QRef), FrontendError> {
        let [_, b, _] = self.p.sbi;
        let h = self.h;
        let bits = q.bits;
        // R·h_(t-1): a linear map of the computed state, or constants from the initial one.
        let (acc_h, qc) = match hp {
            State::Computed(hq) => {
                let name = format!("{} (R·h)[{t}]", self.name);
                let acc = q.new_tensor(&name, vec![b * 4 * h], self.s_acc, TensorKind::Accumulator);
                q.push(QOp::Linear(LinearOp {
                    name: self.op.clone(),
                    input: hq.id,
                    output: acc,
                    sets: vec![self.r.clone()],
                    geometry: dense(b, h, 4 * h),
                }));
                (Some(acc), vec![0.0; b * 4 * h])
            }
            State::Initial => {
                let r = self.p.r;
                let consts = (0..b * 4 * h)
                    .map(|e| {
                        let (bb, row) = (e / (4 * h), e % (4 * h));
                        (0..h)
                            .map(|k| r[row * h + k] * self.p.h0[bb * h + k])
                            .sum::<f64>()
                    })
                    .collect();
                (None, consts)
            }
        };
        let mut gates = Vec::with_capacity(4);
        for (g, label) in ["i", "o", "f", "c"].iter().enumerate() {
            let func = if g == 3 {
                FnKind::Tanh {
                    in_scale: self.s_z,
                    out_scale: self.s_g,
                }
            } else {
                FnKind::Sigmoid {
                    in_scale: self.s_z,
                    out_scale: self.s_g,
                }
            };
            // Rows of `W·x + b` (at step `t`, in `X`'s order) or of `R·h` (`[B, 4H]`).
            let idx = |row: &dyn Fn(usize) -> usize| -> Vec<u32> {
                (0..b * h)
                    .map(|e| (row(e / h) * 4 * h + g * h + e % h) as u32)
                    .collect()
            };
            let consts = (0..b * h)
                .map(|e| q.fixed(self.node, qc[(e / h) * 4 * h + g * h + e % h], self.s_acc))
                .collect::<Result<Vec<_>, _>>()?;
            let lin = Lin {
                a: Some(Operand {
                    tensor: self.acc_x,
                    index: Some(idx(&|bb| self.p.row(t, bb))),
                }),
                qa: Coef::Const(1),
                b: acc_h.map(|tensor| Operand {
                    tensor,
                    index: Some(idx(&|bb| bb)),
                }),
                qb: Coef::Const(i64::from(acc_h.is_some())),
                qc: Coef::Each(consts),
                ..Lin::default()
            };
            let name = format!("{} {label}[{t}]", self.name);
            gates.push(q.emit(
                self.op.clone(),
                new(&name, vec![b * h], self.s_g),
                lin,
                bits,
                func,
            ));
        }
        let [ig, og, fg, cg] = [gates[0], gates[1], gates[2], gates[3]];
        let ct = self.cell(q, t, [ig, fg, cg], cp)?;
        // h_t = o ⊙ tanh(c_t).
        let tanh = FnKind::Tanh {
            in_scale: self.s_c,
            out_scale: self.s_g,
        };
        let tc_name = format!("{} tanh(c)[{t}]", self.name);
        let tc = q.emit(
            self.op.clone(),
            new(&tc_name, vec![b * h], self.s_g),
            Lin::of(ct),
            0,
            tanh,
        );
        let h_name = format!("{} h[{t}]", self.name);
        let ht = q.emit(
            self.op.clone(),
            new(&h_name, vec![b * h], self.s_g),
            product(og, tc),
            self.s_g as u32,
            FnKind::Identity,
        );
        Ok((ht, ct))
    }

    /// `c_t = f ⊙ c_(t-1) + i ⊙ c~`.
    fn cell(
        &self,
        q: &mut QuantCtx<'_>,
        t: usize,
        [ig, fg, cg]: [QRef; 3],
        cp: State,
    ) -> Result<QRef, FrontendError> {
        let [_, b, _] = self.p.sbi;
        let len = b * self.h;
        let (s_g, s_c) = (self.s_g, self.s_c);
        let p1_name = format!("{} i·c~[{t}]", self.name);
        let p1 = q.emit(
            self.op.clone(),
            new(&p1_name, vec![len], s_c),
            product(ig, cg),
            (2 * s_g - s_c) as u32,
            FnKind::Identity,
        );
        let c_name = format!("{} c[{t}]", self.name);
        let lin = match cp {
            State::Initial if self.p.c0.iter().all(|&v| v == 0.0) => return Ok(p1),
            // 2^s_g·p1 + round(c0·2^s_c)·f, at scale s_c + s_g.
            State::Initial => Lin {
                a: Some(Operand {
                    tensor: p1.id,
                    index: None,
                }),
                qa: Coef::Const(1 << s_g),
                b: Some(Operand {
                    tensor: fg.id,
                    index: None,
                }),
                qb: Coef::Each(
                    self.p
                        .c0
                        .iter()
                        .map(|&v| q.fixed(self.node, v, s_c))
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                ..Lin::default()
            },
            State::Computed(c) => {
                let p2_name = format!("{} f·c[{t}]", self.name);
                let p2 = q.emit(
                    self.op.clone(),
                    new(&p2_name, vec![len], s_c),
                    product(fg, c),
                    s_g as u32,
                    FnKind::Identity,
                );
                let lin = Lin {
                    b: Some(Operand {
                        tensor: p2.id,
                        index: None,
                    }),
                    qb: Coef::Const(1),
                    ..Lin::of(p1)
                };
                return Ok(q.emit(
                    self.op.clone(),
                    new(&c_name, vec![len], s_c),
                    lin,
                    0,
                    FnKind::Identity,
                ));
            }
        };
        Ok(q.emit(
            self.op.clone(),
            new(&c_name, vec![len], s_c),
            lin,
            s_g as u32,
            FnKind::Identity,
        ))
    }
}

/// Binds the named outputs: `Y` `[S, D, B, H]` (each step's `h` of every direction),
/// `Y_h` and `Y_c` `[D, B, H]` (each direction's last), as views.
fn bind_outputs(
    q: &mut QuantCtx<'_>,
    node: usize,
    walks: &[Walked],
    (named, batch_first, hidden): (&[bool], bool, usize),
) -> Result<(), FrontendError> {
    let Some(first) = walks.first() else {
        return Err(q.err(node, "an LSTM without a direction"));
    };
    let (s, dirs) = (first.hs.len(), walks.len());
    let per = q.graph.tensors[first.h_last.id]
        .shape
        .iter()
        .product::<usize>();
    let layout = OutputLayout::new([s, dirs, per / hidden.max(1), hidden], batch_first);
    let outs = q.node(node).outputs.clone();
    let mut slots = named.iter().enumerate().filter(|(_, &n)| n).map(|(k, _)| k);
    for &out in &outs {
        let Some(k) = slots.next() else { break };
        let (inputs, map, scale): (Vec<usize>, Vec<(u16, u32)>, i32) = match k {
            // `Y`'s views list each step's `h` of every direction, step by step.
            0 => (
                (0..s)
                    .flat_map(|t| walks.iter().map(move |w| w.hs[t].id))
                    .collect(),
                layout
                    .y()
                    .map(|(t, d, e)| ((t * dirs + d) as u16, e as u32))
                    .collect(),
                first.s_g,
            ),
            1 | 2 => (
                walks
                    .iter()
                    .map(|w| if k == 1 { w.h_last.id } else { w.c_last.id })
                    .collect(),
                layout.last().map(|(d, e)| (d as u16, e as u32)).collect(),
                if k == 1 { first.s_g } else { first.s_c },
            ),
            _ => continue,
        };
        q.bind_view(node, inputs, map, scale, out);
    }
    Ok(())
}

/// Where each element of `Y` and of `Y_h`, `Y_c` comes from, in ONNX's order for the layout:
/// `(step, direction, element of [B, H])` and `(direction, element of [B, H])`.
struct OutputLayout {
    /// Steps, directions, batch, hidden.
    sdbh: [usize; 4],
    batch_first: bool,
}

impl OutputLayout {
    fn new(sdbh: [usize; 4], batch_first: bool) -> Self {
        OutputLayout { sdbh, batch_first }
    }

    /// `Y`: `[S, D, B, H]`, or `[B, S, D, H]` batch first.
    fn y_shape(&self) -> Vec<usize> {
        let [s, d, b, h] = self.sdbh;
        match self.batch_first {
            true => vec![b, s, d, h],
            false => vec![s, d, b, h],
        }
    }

    /// `Y_h`, `Y_c`: `[D, B, H]`, or `[B, D, H]` batch first.
    fn last_shape(&self) -> Vec<usize> {
        let [_, d, b, h] = self.sdbh;
        match self.batch_first {
            true => vec![b, d, h],
            false => vec![d, b, h],
        }
    }

    fn y(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let [s, d, b, h] = self.sdbh;
        let bf = self.batch_first;
        (0..s * d * b * h).map(move |n| {
            let (j, rest) = (n % h, n / h);
            let (outer, mid, inner) = match bf {
                // [B, S, D, H]
                true => (rest / (s * d), (rest / d) % s, rest % d),
                // [S, D, B, H]: (t, d, bb) from the row-major index
                false => (rest % b, rest / (d * b), (rest / b) % d),
            };
            let (bb, t, dd) = (outer, mid, inner);
            (t, dd, bb * h + j)
        })
    }

    fn last(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let [_, d, b, h] = self.sdbh;
        let bf = self.batch_first;
        (0..d * b * h).map(move |n| {
            let (j, rest) = (n % h, n / h);
            let (dd, bb) = match bf {
                true => (rest % d, rest / d),
                false => (rest / b, rest % b),
            };
            (dd, bb * h + j)
        })
    }
}

/// `a ⊙ b`, elementwise.
fn product(a: QRef, b: QRef) -> Lin {
    Lin {
        a: Some(Operand {
            tensor: a.id,
            index: None,
        }),
        b: Some(Operand {
            tensor: b.id,
            index: None,
        }),
        qm: Coef::Const(1),
        ..Lin::default()
    }
}

/// `rows` vectors of `k` values, each mapped to `m` outputs by one weight set.
fn dense(rows: usize, k: usize, m: usize) -> Geometry {
    Geometry::Dense {
        outer: rows,
        inner: 1,
        xs: [k, 0, 1],
        ys: [m, 0, 1],
        sets: None,
    }
}

fn new(name: &str, shape: Vec<usize>, scale: i32) -> NewTensor<'_> {
    NewTensor { name, shape, scale }
}

/// `LSTM`: any direction and layout, default activations, no clip, no coupled input-forget gate.
pub fn lstm(a: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(lstm_op(a)?))
}

/// The LSTM of a node's attributes.
pub(super) fn lstm_op(a: &Attrs<'_>) -> Result<Lstm, FrontendError> {
    let hidden = a
        .int("hidden_size")?
        .filter(|&h| (1..=1 << 16).contains(&h));
    let Some(hidden) = hidden else {
        return Err(a.error("hidden_size", "must be set, 1..=65536"));
    };
    let direction = match a.string("direction")?.as_deref() {
        None | Some("forward") => Direction::Forward,
        Some("reverse") => Direction::Reverse,
        Some("bidirectional") => Direction::Bidirectional,
        Some(d) => {
            return Err(a.error(
                "direction",
                format!("'{d}' is not an LSTM direction (forward, reverse, bidirectional)"),
            ))
        }
    };
    let defaults = ["Sigmoid", "Tanh", "Tanh"];
    if let Some(acts) = a.strings("activations")? {
        if acts.iter().map(String::as_str).ne(defaults) {
            return Err(a.error(
                "activations",
                format!("{acts:?} are not supported (Sigmoid, Tanh, Tanh only)"),
            ));
        }
    }
    if a.float("clip")?.is_some() {
        return Err(a.error("clip", "is not supported"));
    }
    if a.int("input_forget")?.unwrap_or(0) != 0 {
        return Err(a.error("input_forget", "is not supported"));
    }
    let batch_first = match a.int("layout")?.unwrap_or(0) {
        0 => false,
        1 => true,
        l => return Err(a.error("layout", format!("{l} is not an LSTM layout (0 or 1)"))),
    };
    Ok(Lstm {
        hidden: hidden as usize,
        direction,
        batch_first,
        outputs: a.present_outputs(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Initial states and sequence lengths of the wrong shape are refused, not reinterpreted:
    /// layout 1 takes states `[B, D, H]`, layout 0 `[D, B, H]`.
    #[test]
    fn states_of_the_other_layout_are_refused() {
        let (h, b, s, i) = (2, 3, 4, 1);
        let w = Tensor::float(vec![2, 4 * h, i], vec![0.1; 2 * 4 * h * i]);
        let r = Tensor::float(vec![2, 4 * h, h], vec![0.1; 2 * 4 * h * h]);
        let states = |shape: Vec<usize>| Tensor::float(shape, vec![0.0; 2 * b * h]);
        let lstm = |batch_first| Lstm {
            hidden: h,
            direction: Direction::Bidirectional,
            batch_first,
            outputs: vec![true, true, true],
        };
        let run = |l: &Lstm, x: &[usize], st: &Tensor, lens: Option<&Tensor>| {
            let inputs = [None, Some(&w), Some(&r), None, lens, Some(st)];
            l.params("n", x, &inputs).map(|p| p.len())
        };
        let (first, second) = (lstm(true), lstm(false));
        assert_eq!(
            run(&first, &[b, s, i], &states(vec![b, 2, h]), None).unwrap(),
            2
        );
        assert_eq!(
            run(&second, &[s, b, i], &states(vec![2, b, h]), None).unwrap(),
            2
        );
        let e = run(&first, &[b, s, i], &states(vec![2, b, h]), None).unwrap_err();
        assert!(
            e.to_string()
                .contains("initial state [2, 3, 2] is not [3, 2, 2]"),
            "{e}"
        );
        assert!(run(&second, &[s, b, i], &states(vec![b, 2, h]), None).is_err());
        let lens = Tensor::float(vec![1], vec![s as f64]);
        assert!(run(&second, &[s, b, i], &states(vec![2, b, h]), Some(&lens)).is_err());
        let lens = Tensor::float(vec![b], vec![s as f64; b]);
        assert!(run(&second, &[s, b, i], &states(vec![2, b, h]), Some(&lens)).is_ok());
    }
}
