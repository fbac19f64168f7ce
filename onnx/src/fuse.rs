//! Fusion of elementwise chains: a connected group of elementwise nodes (Add, Sub, Mul, Div,
//! Pow with a small integer exponent, Tanh, Sigmoid, Erf) that reads one computed tensor and
//! scalar constants, contains a non-linear op, and has one tensor read outside it, is one
//! function of that tensor. It is lowered as one table lookup (`FnKind::Expr`): a tanh- or
//! erf-GELU written as nine ONNX nodes becomes one elementwise op instead of nine, and is
//! computed from the exact input instead of eight intermediate roundings.

use crate::quantize::{Lin, NewTensor, QuantCtx};
use crate::FrontendError;
use zkinfer_circuits::graph::expr::{self, Step};
use zkinfer_circuits::graph::FnKind;

/// Node types a chain may contain.
const FUSABLE: [&str; 8] = ["Add", "Sub", "Mul", "Div", "Pow", "Tanh", "Sigmoid", "Erf"];
const NON_LINEAR: [&str; 3] = ["Tanh", "Sigmoid", "Erf"];

/// A chain found from its first node.
struct Chain {
    /// The computed tensor it reads.
    source: usize,
    /// Its nodes.
    nodes: Vec<usize>,
    /// The one tensor read outside it.
    out: usize,
}

/// The value of a scalar constant ONNX tensor.
fn scalar(q: &QuantCtx<'_>, t: usize) -> Option<f64> {
    q.constant(t).filter(|c| c.len() == 1).map(|c| c.data[0])
}

/// Whether node `c` can be part of a chain over a source of `shape`: a fusable type, not yet
/// lowered, one output of the source's shape, and a small integer exponent for Pow.
fn fusable(q: &QuantCtx<'_>, c: usize, shape: &[usize]) -> bool {
    let n = q.node(c);
    let op = n.op_type.as_str();
    let pow_ok = op != "Pow"
        || q.input_id(c, 1)
            .and_then(|e| scalar(q, e))
            .is_some_and(|e| e.fract() == 0.0 && (0.0..=8.0).contains(&e));
    FUSABLE.contains(&op)
        && !q.is_done(c)
        && pow_ok
        && n.outputs.len() == 1
        && q.shape(n.outputs[0]) == shape
}

impl Chain {
    /// The chain that node `first` starts, if any: the largest group ending in one node
    /// reachable from `first` whose inputs, traced back, are only `first`'s source and scalar
    /// constants, and whose intermediate values nothing else reads.
    fn find(q: &QuantCtx<'_>, first: usize) -> Option<Self> {
        let n = q.node(first);
        let computed: Vec<usize> = n
            .inputs
            .iter()
            .flatten()
            .copied()
            .filter(|&t| scalar(q, t).is_none())
            .collect();
        let [source] = computed.as_slice() else {
            return None;
        };
        let shape = q.shape(*source).to_vec();
        if !fusable(q, first, &shape) {
            return None;
        }
        // Nodes reachable from `first` through fusable nodes, latest first.
        let mut reach = vec![first];
        let mut i = 0;
        while let Some(&c) = reach.get(i) {
            i += 1;
            for &d in &q.model.consumers[q.node(c).outputs[0]] {
                if !reach.contains(&d) && fusable(q, d, &shape) {
                    reach.push(d);
                }
            }
        }
        reach.sort_unstable_by(|a, b| b.cmp(a));
        reach
            .into_iter()
            .find_map(|last| Self::ending_at(q, last, *source, &shape))
            .filter(|c| c.nodes.contains(&first))
    }

    /// The group that computes node `last`'s output from `source`, if it is a valid chain.
    fn ending_at(q: &QuantCtx<'_>, last: usize, source: usize, shape: &[usize]) -> Option<Self> {
        let mut nodes = Vec::new();
        let mut stack = vec![last];
        while let Some(c) = stack.pop() {
            if nodes.contains(&c) {
                continue;
            }
            if !fusable(q, c, shape) || nodes.len() >= expr::MAX_STEPS {
                return None;
            }
            nodes.push(c);
            for t in q.node(c).inputs.iter() {
                let t = (*t)?;
                if t == source || scalar(q, t).is_some() {
                    continue;
                }
                stack.push(q.model.tensors[t].producer?);
            }
        }
        let out = q.node(last).outputs[0];
        // Only the last value leaves the group.
        let leaks = nodes.iter().filter(|&&c| c != last).any(|&c| {
            let t = q.node(c).outputs[0];
            q.model.outputs.contains(&t) || q.model.consumers[t].iter().any(|d| !nodes.contains(d))
        });
        let non_linear = nodes
            .iter()
            .any(|&c| NON_LINEAR.contains(&q.node(c).op_type.as_str()));
        (!leaks && nodes.len() >= 3 && non_linear).then_some(Chain { source, nodes, out })
    }

    /// The postfix program computing tensor `t` from the source.
    fn program(&self, q: &QuantCtx<'_>, t: usize, steps: &mut Vec<Step>) -> Option<()> {
        if t == self.source {
            steps.push(Step::X);
            return Some(());
        }
        if let Some(c) = scalar(q, t) {
            steps.push(Step::Const(c));
            return Some(());
        }
        let &node = self.nodes.iter().find(|&&c| q.node(c).outputs[0] == t)?;
        let n = q.node(node);
        let input = |i: usize| n.inputs.get(i).copied().flatten();
        let step = match n.op_type.as_str() {
            "Pow" => {
                self.program(q, input(0)?, steps)?;
                Step::PowI(scalar(q, input(1)?)? as u32)
            }
            unary @ ("Tanh" | "Sigmoid" | "Erf") => {
                self.program(q, input(0)?, steps)?;
                match unary {
                    "Tanh" => Step::Tanh,
                    "Sigmoid" => Step::Sigmoid,
                    _ => Step::Erf,
                }
            }
            binary => {
                self.program(q, input(0)?, steps)?;
                self.program(q, input(1)?, steps)?;
                match binary {
                    "Add" => Step::Add,
                    "Sub" => Step::Sub,
                    "Mul" => Step::Mul,
                    _ => Step::Div,
                }
            }
        };
        steps.push(step);
        (steps.len() <= expr::MAX_STEPS).then_some(())
    }
}

/// The finest output scale (at most `wanted`) at which `steps`, applied to every input of
/// the `bits`-bit domain at `in_scale`, fits the activation range; `None` where it does not
/// evaluate (a division by zero, a square root of a negative number).
pub(crate) fn fitting_scale(steps: &[Step], in_scale: i32, wanted: i32, bits: u32) -> Option<i32> {
    let half = 1i64 << (bits - 1);
    fitting_scale_on(steps, (in_scale, -half..half), wanted, bits)
}

/// [`fitting_scale`] over the quotients `domain` only (within the `bits`-bit range).
pub(crate) fn fitting_scale_on(
    steps: &[Step],
    (in_scale, domain): (i32, std::ops::Range<i64>),
    wanted: i32,
    bits: u32,
) -> Option<i32> {
    let half = 1i64 << (bits - 1);
    let mut max = 0.0f64;
    for x in domain.start.max(-half)..domain.end.min(half) {
        let y = expr::run(steps, x as f64 * (-(in_scale as f64)).exp2())?;
        max = max.max(y.abs());
    }
    let limit = (half - 1) as f64;
    let fit = if max > 0.0 {
        (limit / max).log2().floor() as i32
    } else {
        wanted
    };
    Some(wanted.min(fit).clamp(-2 * bits as i32, 3 * bits as i32))
}

/// Lowers the chain node `first` starts as one table, if it starts one; returns whether it
/// did (then every node of the chain is lowered).
pub fn elementwise_chain(q: &mut QuantCtx<'_>, first: usize) -> Result<bool, FrontendError> {
    let Some(chain) = Chain::find(q, first) else {
        return Ok(false);
    };
    let mut steps = Vec::new();
    let Some(x) = q.quantized(chain.source) else {
        return Ok(false);
    };
    if chain.program(q, chain.out, &mut steps).is_none() {
        return Ok(false);
    }
    let wanted = q.scale_for(chain.out);
    let Some(out_scale) = fitting_scale(&steps, x.scale, wanted, q.bits) else {
        return Ok(false);
    };
    let f = FnKind::Expr {
        steps,
        in_scale: x.scale,
        out_scale,
    };
    if f.check_image(q.bits).is_err() {
        return Ok(false);
    }
    let name = q.model.tensors[chain.out].name.clone();
    let shape = q.shape(chain.out).to_vec();
    let op = format!(
        "{} (fused chain of {})",
        q.node(first).name,
        chain.nodes.len()
    );
    let r = q.emit(
        op,
        NewTensor {
            name: &name,
            shape,
            scale: out_scale,
        },
        Lin::of(x),
        0,
        f,
    );
    q.bind(chain.out, r);
    for &c in &chain.nodes {
        q.mark_done(c);
    }
    Ok(true)
}
