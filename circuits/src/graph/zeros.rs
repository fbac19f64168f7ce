//! Known zeros: elements that are the constant zero whatever the input — a masked softmax's
//! masked elements, for instance, which are a constant op's zero read through views. The
//! matmul chip's Freivalds check leaves such elements of `A` out (see
//! [`MatMulOp::a_zeros`](super::MatMulOp)).

use super::{QOp, QuantizedGraph, TensorId};
use std::collections::HashMap;

/// Which elements of tensors are known zeros, resolved through views once per tensor.
pub struct KnownZeros<'g> {
    g: &'g QuantizedGraph,
    /// The op writing each tensor.
    producer: Vec<Option<usize>>,
    memo: HashMap<TensorId, Vec<bool>>,
}

impl<'g> KnownZeros<'g> {
    /// Indexes the graph's producers.
    pub fn new(g: &'g QuantizedGraph) -> Self {
        let mut producer = vec![None; g.tensors.len()];
        for (i, op) in g.ops.iter().enumerate() {
            if let Some(p) = producer.get_mut(op.family().output()) {
                p.get_or_insert(i);
            }
        }
        KnownZeros {
            g,
            producer,
            memo: HashMap::new(),
        }
    }

    /// For each element of `t`: whether it is the constant zero (an element of a constant
    /// op's output equal to zero, read through any number of views).
    pub fn of(&mut self, t: TensorId) -> Vec<bool> {
        if let Some(z) = self.memo.get(&t) {
            return z.clone();
        }
        let len = self.g.tensors.get(t).map_or(0, |x| x.len());
        // A view reading its own output (a malformed graph) finds no zeros there.
        self.memo.insert(t, vec![false; len]);
        let op = self.producer.get(t).copied().flatten();
        let zeros = match op.and_then(|i| self.g.ops.get(i)) {
            Some(QOp::Elementwise(e)) => {
                (0..len).map(|i| e.constant(self.g, i) == Some(0)).collect()
            }
            Some(QOp::View(v)) => {
                // Views come before their readers, so the inputs' answers are found first.
                let inputs: Vec<Vec<bool>> = v.inputs.iter().map(|&s| self.of(s)).collect();
                let at = |&(i, e): &(u16, u32)| {
                    let src = inputs.get(i as usize)?;
                    src.get(e as usize).copied()
                };
                let mut z: Vec<bool> = v.map.iter().map(|m| at(m).unwrap_or(false)).collect();
                z.resize(len, false);
                z
            }
            _ => vec![false; len],
        };
        self.memo.insert(t, zeros.clone());
        zeros
    }
}
