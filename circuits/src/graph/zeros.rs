//! Known zeros: elements that are the constant zero whatever the input — a masked softmax's
//! masked elements, for instance, which are a constant op's zero read through views. The
//! matmul chip's Freivalds check leaves such elements of `A` out (see
//! [`MatMulOp::a_zeros`](super::MatMulOp)).

use super::{QOp, QuantizedGraph, TensorId};

/// Which elements of tensors are known zeros: found in one pass over the ops in order (a
/// view's from its inputs', so a tensor read before it is written has none), kept only for
/// tensors that have some. Safe on a graph not yet validated: what it cannot resolve is not
/// a known zero.
pub struct KnownZeros {
    zeros: Vec<Option<Vec<bool>>>,
}

impl KnownZeros {
    /// Finds the known zeros of every tensor of `g`.
    pub fn new(g: &QuantizedGraph) -> Self {
        let mut zeros: Vec<Option<Vec<bool>>> = vec![None; g.tensors.len()];
        for op in &g.ops {
            let (out, found) = match op {
                QOp::Elementwise(e) if e.a.is_none() && e.b.is_none() => {
                    let len = g.tensors.get(e.output).map_or(0, |t| t.len());
                    let z: Vec<bool> = (0..len).map(|i| e.constant(g, i) == Some(0)).collect();
                    (e.output, z)
                }
                QOp::View(v) => {
                    let at = |&(i, e): &(u16, u32)| {
                        let t = *v.inputs.get(i as usize)?;
                        zeros.get(t)?.as_ref()?.get(e as usize).copied()
                    };
                    if !v
                        .inputs
                        .iter()
                        .any(|&t| zeros.get(t).is_some_and(Option::is_some))
                    {
                        continue;
                    }
                    (
                        v.output,
                        v.map.iter().map(|m| at(m).unwrap_or(false)).collect(),
                    )
                }
                _ => continue,
            };
            if let (Some(slot), true) = (zeros.get_mut(out), found.contains(&true)) {
                *slot = Some(found);
            }
        }
        KnownZeros { zeros }
    }

    /// Whether element `e` of tensor `t` is a known zero.
    pub fn is_zero(&self, t: TensorId, e: usize) -> bool {
        let z = self.zeros.get(t).and_then(Option::as_ref);
        z.and_then(|z| z.get(e)).copied().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Coef, ElemOp, ViewOp};

    fn constant(output: TensorId, qc: Coef, shift: u32) -> QOp {
        QOp::Elementwise(ElemOp {
            name: "c".into(),
            output,
            a: None,
            b: None,
            qa: Coef::Const(0),
            qb: Coef::Const(0),
            qm: Coef::Const(0),
            qc,
            shift,
            func: 0,
        })
    }

    fn view(inputs: Vec<TensorId>, output: TensorId, map: Vec<(u16, u32)>) -> QOp {
        QOp::View(ViewOp {
            name: "v".into(),
            inputs,
            output,
            map,
        })
    }

    /// Zeros of a constant reach through a chain of views; a non-zero constant's elements, a
    /// view read before its input is written, an out-of-range map entry and a shift past the
    /// width (a malformed file) are no known zeros, and nothing panics.
    #[test]
    fn zeros_follow_views_and_nothing_else() {
        let mut g = QuantizedGraph::empty(8);
        let c = g.push_activation("c", 2);
        let v1 = g.push_activation("v1", 3);
        let v2 = g.push_activation("v2", 3);
        let early = g.push_activation("early", 1);
        let late = g.push_activation("late", 1);
        let odd = g.push_activation("odd", 1);
        g.ops = vec![
            view(vec![late], early, vec![(0, 0)]),
            constant(c, Coef::Each(vec![0, 5]), 0),
            view(vec![c], v1, vec![(0, 1), (0, 0), (0, 9)]),
            view(vec![v1, c], v2, vec![(0, 1), (1, 1), (1, 0)]),
            constant(late, Coef::Const(0), 0),
            constant(odd, Coef::Const(0), 99),
        ];
        let z = KnownZeros::new(&g);
        let row = |t: TensorId, n: usize| (0..n).map(|e| z.is_zero(t, e)).collect::<Vec<_>>();
        assert_eq!(row(c, 2), [true, false]);
        assert_eq!(row(v1, 3), [false, true, false]);
        assert_eq!(row(v2, 3), [true, false, true]);
        assert_eq!(row(early, 1), [false]);
        assert_eq!(row(late, 1), [true]);
        assert_eq!(row(odd, 1), [false]);
        assert!(!z.is_zero(99, 0));
    }
}
