//! Narrowing: an elementwise op whose readers all pick elements by explicit index (views and
//! elementwise operands), and not all of them, computes only the elements read. A causal
//! softmax reads the kept half of its scores (the front end's view of the kept
//! elements and the exponentials' operand), so the rescale of `Q·Kᵀ` before it shrinks by half.
//!
//! No proven value changes: each kept element is the same function of the same operand cells,
//! and an element no op reads constrains nothing downstream (the product `Q·Kᵀ` itself is
//! checked whole by its own chip).

use super::{Coef, Operand, QOp, QuantizedGraph, TensorId};

/// The elements of `t` each reader picks, or `None` when one reads it whole (or `t` is a
/// graph input or output).
pub(super) fn elements_read(g: &QuantizedGraph, t: TensorId) -> Option<Vec<bool>> {
    if g.outputs.contains(&t) || g.inputs.contains(&t) {
        return None;
    }
    let mut read = vec![false; g.tensors[t].len()];
    for op in &g.ops {
        match op {
            QOp::View(v) => {
                for &(i, e) in &v.map {
                    if v.inputs[i as usize] == t {
                        read[e as usize] = true;
                    }
                }
            }
            QOp::Elementwise(e) => {
                for x in [&e.a, &e.b].into_iter().flatten() {
                    if x.tensor == t {
                        read_index(x, &mut read)?;
                    }
                }
            }
            other => {
                if other.family().inputs().contains(&t) {
                    return None;
                }
            }
        }
    }
    Some(read)
}

/// Marks the elements an indexed operand reads; `None` for an operand that reads in order.
fn read_index(x: &Operand, read: &mut [bool]) -> Option<()> {
    for &i in x.index.as_ref()? {
        read[i as usize] = true;
    }
    Some(())
}

/// Restricts op `i` (elementwise, writing `t`) to the elements `keep` of its output, and moves
/// every reader's indices to the new positions.
fn narrow(g: &mut QuantizedGraph, i: usize, t: TensorId, keep: &[u32]) {
    let mut pos = vec![u32::MAX; g.tensors[t].len()];
    for (n, &e) in keep.iter().enumerate() {
        pos[e as usize] = n as u32;
    }
    if let QOp::Elementwise(op) = &mut g.ops[i] {
        for x in [&mut op.a, &mut op.b].into_iter().flatten() {
            x.index = Some(keep.iter().map(|&e| x.at(e as usize) as u32).collect());
        }
        for c in [&mut op.qa, &mut op.qb, &mut op.qm, &mut op.qc] {
            if let Coef::Each(v) = c {
                *v = keep.iter().map(|&e| v[e as usize]).collect();
            }
        }
    }
    for op in &mut g.ops {
        match op {
            QOp::View(v) => {
                let inputs = v.inputs.clone();
                for (input, e) in &mut v.map {
                    if inputs[*input as usize] == t {
                        *e = pos[*e as usize];
                    }
                }
            }
            QOp::Elementwise(e) => {
                for x in [&mut e.a, &mut e.b].into_iter().flatten() {
                    if let (true, Some(ix)) = (x.tensor == t, &mut x.index) {
                        ix.iter_mut().for_each(|e| *e = pos[*e as usize]);
                    }
                }
            }
            _ => {}
        }
    }
    let tensor = &mut g.tensors[t];
    tensor.shape = vec![keep.len()];
    tensor.name = format!("{} (elements read)", tensor.name);
}

/// Narrows every elementwise op to the elements its readers pick (see the module docs), last
/// op first, so that a narrowed op's operands can narrow their producers; returns how many.
pub fn narrow_to_read(g: &mut QuantizedGraph) -> usize {
    let mut narrowed = 0;
    for i in (0..g.ops.len()).rev() {
        let QOp::Elementwise(op) = &g.ops[i] else {
            continue;
        };
        let t = op.output;
        // A graph input's range check stays whole: it bounds every public value.
        let operands = [&op.a, &op.b].into_iter().flatten();
        if operands.into_iter().any(|x| g.inputs.contains(&x.tensor)) {
            continue;
        }
        let Some(read) = elements_read(g, t) else {
            continue;
        };
        let keep: Vec<u32> = (0..read.len() as u32)
            .filter(|&e| read[e as usize])
            .collect();
        if !keep.is_empty() && keep.len() < read.len() {
            narrow(g, i, t, &keep);
            narrowed += 1;
        }
    }
    narrowed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{ElemOp, FnKind, ViewOp};

    fn tensor(g: &mut QuantizedGraph, name: &str, n: usize) -> TensorId {
        g.push_activation(name, n)
    }

    /// `round((qa·x[index] + qc) / 2)` into a new tensor of `n` elements.
    fn step(
        g: &mut QuantizedGraph,
        x: TensorId,
        index: Option<Vec<u32>>,
        qc: Coef,
        n: usize,
    ) -> TensorId {
        let output = tensor(g, "step", n);
        g.ops.push(QOp::Elementwise(ElemOp {
            name: format!("step {output}"),
            output,
            a: Some(Operand { tensor: x, index }),
            b: None,
            qa: Coef::Const(3),
            qb: Coef::Const(0),
            qm: Coef::Const(0),
            qc,
            shift: 1,
            func: 0,
        }));
        output
    }

    fn view(g: &mut QuantizedGraph, x: TensorId, elements: &[u32]) -> TensorId {
        let output = tensor(g, "view", elements.len());
        g.ops.push(QOp::View(ViewOp {
            name: "view".into(),
            inputs: vec![x],
            output,
            map: elements.iter().map(|&e| (0, e)).collect(),
        }));
        output
    }

    /// Input `x [6]`, its range check, and `s = step(check)` with one constant per element.
    fn graph() -> (QuantizedGraph, TensorId, TensorId) {
        let mut g = QuantizedGraph::empty(8);
        g.functions = vec![FnKind::Identity];
        let x = tensor(&mut g, "x", 6);
        g.inputs.push(x);
        let check = step(&mut g, x, None, Coef::Const(0), 6);
        let s = step(&mut g, check, None, Coef::Each(vec![1, 2, 3, 4, 5, 6]), 6);
        (g, check, s)
    }

    const X: [i128; 6] = [-7, 3, 11, -2, 5, 9];

    #[test]
    fn ops_read_in_part_compute_only_what_is_read() {
        let (mut g, _, s) = graph();
        let v = view(&mut g, s, &[4, 1]);
        let r = step(&mut g, s, Some(vec![1, 5, 1]), Coef::Const(0), 3);
        g.outputs = vec![v, r];
        g.validate().unwrap();
        let before = g.eval(&[X.to_vec()]).unwrap();
        assert_eq!(narrow_to_read(&mut g), 1);
        g.validate().unwrap();
        let after = g.eval(&[X.to_vec()]).unwrap();
        assert_eq!(g.tensors[s].len(), 3, "elements 1, 4 and 5 only");
        for t in [v, r] {
            assert_eq!(after[t], before[t]);
        }
        // Each kept element keeps its own constant.
        let QOp::Elementwise(op) = &g.ops[1] else {
            panic!("the step")
        };
        assert_eq!(op.qc, Coef::Each(vec![2, 5, 6]));
    }

    #[test]
    fn ops_read_whole_or_checking_an_input_stay() {
        // The range check of the input is read in part (through a view): it stays whole.
        let (mut g, check, _) = graph();
        g.ops.pop();
        let v = view(&mut g, check, &[0]);
        g.outputs = vec![v];
        assert_eq!(narrow_to_read(&mut g), 0);
        // A step read in part by a view and whole by another op (or as a graph output) stays.
        let (mut g, _, s) = graph();
        let v = view(&mut g, s, &[2]);
        let r = step(&mut g, s, None, Coef::Const(0), 6);
        g.outputs = vec![v, r];
        assert_eq!(narrow_to_read(&mut g), 0);
        g.outputs = vec![v, s];
        g.ops.pop();
        assert_eq!(narrow_to_read(&mut g), 0);
        assert_eq!(g.tensors[s].len(), 6);
    }
}
