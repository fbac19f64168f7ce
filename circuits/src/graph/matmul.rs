//! MatMul family: products of two computed tensors, `C[b,i,j] = Σ_t A[b,i,t] · B[b,t,j]`,
//! with numpy broadcasting of the batch dimensions resolved into per-batch offsets.

use super::zeros::KnownZeros;
use super::{EvalError, GraphError, IntOp, OpDefect, QOp, QuantizedGraph, TensorId, TensorKind};
use serde::{Deserialize, Serialize};

/// Product of two activations; the output is an accumulator.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MatMulOp {
    /// Source node.
    pub name: String,
    /// Left operand.
    pub a: TensorId,
    /// Right operand.
    pub b: TensorId,
    /// Output.
    pub output: TensorId,
    /// Rows, inner dimension, columns.
    pub ikj: [usize; 3],
    /// Per batch: element offsets of A, B and C.
    pub batches: Vec<[usize; 3]>,
    /// Per column `k` of `A` (empty: none), how many of its first rows (`i = 0, 1, …`) are
    /// known zeros in every batch ([`KnownZeros`]): the Freivalds check leaves them out.
    #[serde(default)]
    pub a_zeros: Vec<u32>,
}

/// Marks the known zeros of every matrix product's left operand ([`MatMulOp::a_zeros`]), such
/// as a causal attention's masked probabilities; returns how many elements the products skip.
pub fn skip_known_zeros(g: &mut QuantizedGraph) -> usize {
    let zeros = KnownZeros::new(g);
    let found: Vec<Option<Vec<u32>>> = (g.ops.iter())
        .map(|op| match op {
            QOp::MatMul(m) => Some(m.leading_zeros(&zeros)),
            _ => None,
        })
        .collect();
    let mut skipped = 0;
    for (op, z) in g.ops.iter_mut().zip(found) {
        if let (QOp::MatMul(m), Some(z)) = (op, z) {
            let per_batch: usize = z.iter().map(|&c| c as usize).sum();
            skipped += per_batch * m.batches.len();
            m.a_zeros = if per_batch == 0 { Vec::new() } else { z };
        }
    }
    skipped
}

impl MatMulOp {
    /// Number of output elements.
    pub fn outputs(&self) -> usize {
        self.batches.len() * self.ikj[0] * self.ikj[2]
    }

    /// Output element `e` as `(batch, i, j)`.
    fn position(&self, e: usize) -> (usize, usize, usize) {
        let [ni, _, nj] = self.ikj;
        let r = e % (ni * nj);
        (e / (ni * nj), r / nj, r % nj)
    }

    /// For output element `e`: its flat index and the `(a, b)` element pairs it sums.
    pub fn terms(&self, e: usize) -> (usize, Vec<(u32, u32)>) {
        let [_, nk, nj] = self.ikj;
        let (bt, i, j) = self.position(e);
        let [ao, bo, co] = self.batches[bt];
        let pairs = (0..nk)
            .map(|t| ((ao + i * nk + t) as u32, (bo + t * nj + j) as u32))
            .collect();
        (co + i * nj + j, pairs)
    }

    /// For output element `e`: its flat index and the pairs a dot lane sums, those of
    /// [`terms`](Self::terms) less the ones whose `A` element is a known zero
    /// ([`a_zeros`](Self::a_zeros)); where every one is, the first stays (a sum of no term
    /// has no row).
    pub fn dot_terms(&self, e: usize) -> (usize, Vec<(u32, u32)>) {
        let (o, mut pairs) = self.terms(e);
        if self.a_zeros.is_empty() {
            return (o, pairs);
        }
        let (_, i, _) = self.position(e);
        let first = pairs[0];
        let mut t = 0;
        pairs.retain(|_| {
            t += 1;
            i >= self.a_zeros_at(t - 1)
        });
        if pairs.is_empty() {
            pairs.push(first);
        }
        (o, pairs)
    }

    /// The output elements a dot lane computes, in order: those some op reads, or all of them
    /// where one reads the product whole or in order, or it is a graph output. An element no
    /// op reads constrains nothing (a causal attention's masked scores, once the rescale
    /// after `Q·Kᵀ` is narrowed to the kept ones).
    pub fn dot_outputs(&self, g: &QuantizedGraph) -> Vec<usize> {
        let read = super::narrow::elements_read(g, self.output);
        let nj = self.ikj[2];
        (0..self.outputs())
            .filter(|&e| {
                let (bt, i, j) = self.position(e);
                let o = self.batches[bt][2] + i * nj + j;
                read.as_ref()
                    .is_none_or(|r| r.get(o).copied().unwrap_or(true))
            })
            .collect()
    }

    /// Known zeros of `A` in column `k` (none when [`a_zeros`](Self::a_zeros) is empty).
    pub fn a_zeros_at(&self, k: usize) -> usize {
        self.a_zeros.get(k).map_or(0, |&z| z as usize)
    }

    /// Per column `k` of `A`, how many of its first rows are known zeros in every batch.
    fn leading_zeros(&self, known: &KnownZeros) -> Vec<u32> {
        let [ni, nk, _] = self.ikj;
        let mut offsets: Vec<usize> = self.batches.iter().map(|b| b[0]).collect();
        offsets.sort_unstable();
        offsets.dedup();
        (0..nk)
            .map(|k| {
                let lead = |&ao: &usize| {
                    (0..ni)
                        .take_while(|&i| known.is_zero(self.a, ao + i * nk + k))
                        .count()
                };
                offsets.iter().map(lead).min().unwrap_or(0) as u32
            })
            .collect()
    }

    /// Refuses a claim of known zeros ([`a_zeros`](Self::a_zeros)) the graph does not make,
    /// and one on a product too large to check (no such product fits a circuit).
    pub(crate) fn check_zeros(&self, known: &KnownZeros) -> Result<(), GraphError> {
        let [ni, nk, _] = self.ikj;
        if self.a_zeros.is_empty() {
            return Ok(());
        }
        let checked = (self.batches.len().checked_mul(ni)).and_then(|x| x.checked_mul(nk));
        let found = match checked {
            Some(n) if n <= super::MAX_TENSOR_LEN && self.a_zeros.len() == nk => {
                self.leading_zeros(known)
            }
            _ => Vec::new(),
        };
        if found.len() != nk || self.a_zeros.iter().zip(&found).any(|(c, f)| c > f) {
            return Err(GraphError::op(
                &self.name,
                OpDefect::Geometric("elements of A skipped as zeros are not known zeros"),
            ));
        }
        Ok(())
    }

    pub(crate) fn validate(&self, g: &QuantizedGraph) -> Result<(), GraphError> {
        let bad = |d| Err(GraphError::op(&self.name, d));
        let [ni, nk, nj] = self.ikj;
        if nk == 0 {
            return bad(OpDefect::Geometric("empty inner dimension"));
        }
        if ni == 0 || nj == 0 {
            return bad(OpDefect::Geometric("empty product"));
        }
        let (la, lb, lc) = (
            g.tensors[self.a].len(),
            g.tensors[self.b].len(),
            g.tensors[self.output].len(),
        );
        let sizes = [ni.checked_mul(nk), nk.checked_mul(nj), ni.checked_mul(nj)];
        let [Some(sa), Some(sb), Some(sc)] = sizes else {
            return bad(OpDefect::Geometric("dimensions too large"));
        };
        if Some(lc) != self.batches.len().checked_mul(sc) {
            return bad(OpDefect::Geometric("output size mismatch"));
        }
        for &[ao, bo, co] in &self.batches {
            let fits = |o: usize, n: usize, len: usize| o.checked_add(n).is_some_and(|e| e <= len);
            if !fits(ao, sa, la) || !fits(bo, sb, lb) || !fits(co, sc, lc) {
                return bad(OpDefect::Geometric("batch offsets out of range"));
            }
        }
        // Every output element is written by exactly one batch: the batches' blocks of `C`,
        // sorted, are the consecutive blocks of the output.
        let mut starts: Vec<usize> = self.batches.iter().map(|b| b[2]).collect();
        starts.sort_unstable();
        if starts.iter().enumerate().any(|(b, &co)| co != b * sc) {
            return bad(OpDefect::Geometric("batches overlap in the output"));
        }
        if g.tensors[self.output].kind != TensorKind::Accumulator {
            return bad(OpDefect::Kind("output must be an accumulator"));
        }
        for t in [self.a, self.b] {
            if g.tensors[t].kind != TensorKind::Activation {
                return bad(OpDefect::Kind("operands must be activations"));
            }
        }
        Ok(())
    }
}

impl IntOp for MatMulOp {
    fn name(&self) -> &str {
        &self.name
    }

    fn inputs(&self) -> Vec<TensorId> {
        vec![self.a, self.b]
    }

    fn output(&self) -> TensorId {
        self.output
    }

    fn describe(&self, g: &QuantizedGraph) -> String {
        format!(
            "[{}] x [{}] -> [{}] ({} batch(es) of {}x{}x{})",
            g.tensors[self.a].name,
            g.tensors[self.b].name,
            g.tensors[self.output].name,
            self.batches.len(),
            self.ikj[0],
            self.ikj[1],
            self.ikj[2]
        )
    }

    fn eval(&self, g: &QuantizedGraph, vals: &mut [Vec<i128>]) -> Result<(), EvalError> {
        let (a, b) = (&vals[self.a], &vals[self.b]);
        let mut out = vec![0i128; g.tensors[self.output].len()];
        for e in 0..self.outputs() {
            let (o, pairs) = self.terms(e);
            out[o] = pairs
                .iter()
                .map(|&(x, y)| a[x as usize] * b[y as usize])
                .sum();
        }
        vals[self.output] = out;
        Ok(())
    }
}
