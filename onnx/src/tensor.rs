//! Float tensors for the front end: shape inference, constant folding, calibration and the
//! float interpreter all run on these (in `f64`; integer dtypes are carried exactly).

use super::FrontendError;

/// Element type, as far as the front end cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// Floating point.
    Float,
    /// Integer (shapes, indices).
    Int,
    /// Boolean.
    Bool,
}

/// A dense row-major tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values.
    pub data: Vec<f64>,
    /// Element type.
    pub dtype: DType,
}

impl Tensor {
    /// A float tensor.
    pub fn float(shape: Vec<usize>, data: Vec<f64>) -> Self {
        Tensor {
            shape,
            data,
            dtype: DType::Float,
        }
    }

    /// An integer tensor.
    pub fn int(shape: Vec<usize>, data: Vec<f64>) -> Self {
        Tensor {
            shape,
            data,
            dtype: DType::Int,
        }
    }

    /// Zeros of a shape.
    pub fn zeros(shape: Vec<usize>, dtype: DType) -> Self {
        let n = shape.iter().product();
        Tensor {
            shape,
            data: vec![0.0; n],
            dtype,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Rank.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Values as integers (for shape-like inputs).
    pub fn ints(&self) -> Vec<i64> {
        self.data.iter().map(|&v| v as i64).collect()
    }
}

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The most elements a tensor computed from a model's shapes may have (2^26: 512 MB of f64);
/// a larger one (a corrupted or hostile shape) is an error, not an allocation.
pub const MAX_ELEMENTS: usize = 1 << 26;

/// The number of elements of `shape`, if at most [`MAX_ELEMENTS`].
pub fn checked_len(shape: &[usize], node: &str) -> Result<usize, FrontendError> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| FrontendError::Shape {
            node: node.to_string(),
            detail: format!("shape {shape:?} has more than 2^26 elements"),
        })
}

/// Numpy broadcast of two shapes (at most [`MAX_ELEMENTS`] elements).
pub fn broadcast_shape(a: &[usize], b: &[usize], node: &str) -> Result<Vec<usize>, FrontendError> {
    let n = a.len().max(b.len());
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out.push(match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(FrontendError::Shape {
                    node: node.to_string(),
                    detail: format!("shapes {a:?} and {b:?} do not broadcast"),
                })
            }
        });
    }
    checked_len(&out, node)?;
    Ok(out)
}

/// For each element of `out_shape`, the flat index of the broadcast source of shape `src`.
pub fn broadcast_index(src: &[usize], out_shape: &[usize]) -> Vec<u32> {
    let n: usize = out_shape.iter().product();
    let off = out_shape.len() - src.len();
    let sst = strides(src);
    let ost = strides(out_shape);
    (0..n)
        .map(|e| {
            let mut idx = 0;
            for (d, &dim) in src.iter().enumerate() {
                if dim != 1 {
                    let coord = (e / ost[d + off]) % out_shape[d + off];
                    idx += coord * sst[d];
                }
            }
            idx as u32
        })
        .collect()
}

/// Elementwise binary op with broadcasting.
pub fn broadcast_binary(
    a: &Tensor,
    b: &Tensor,
    node: &str,
    f: impl Fn(f64, f64) -> f64,
) -> Result<Tensor, FrontendError> {
    let shape = broadcast_shape(&a.shape, &b.shape, node)?;
    let ia = broadcast_index(&a.shape, &shape);
    let ib = broadcast_index(&b.shape, &shape);
    let data = ia
        .iter()
        .zip(&ib)
        .map(|(&i, &j)| f(a.data[i as usize], b.data[j as usize]))
        .collect();
    let dtype = if a.dtype == DType::Float || b.dtype == DType::Float {
        DType::Float
    } else {
        a.dtype
    };
    Ok(Tensor { shape, data, dtype })
}

/// Permutes axes; returns the tensor and, for each output element, its source index.
pub fn transpose_index(shape: &[usize], perm: &[usize]) -> (Vec<usize>, Vec<u32>) {
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let ist = strides(shape);
    let ost = strides(&out_shape);
    let n: usize = shape.iter().product();
    let idx = (0..n)
        .map(|e| {
            let mut src = 0;
            for (d, &p) in perm.iter().enumerate() {
                let coord = (e / ost[d]) % out_shape[d];
                src += coord * ist[p];
            }
            src as u32
        })
        .collect();
    (out_shape, idx)
}

/// [`axis`] of a tensor that has dimensions (a scalar has no axis to split, gather, squeeze or
/// concatenate along).
pub fn dim_axis(a: i64, rank: usize, node: &str) -> Result<usize, FrontendError> {
    if rank == 0 {
        return Err(FrontendError::Shape {
            node: node.to_string(),
            detail: "a scalar has no axis to take".into(),
        });
    }
    axis(a, rank, node)
}

/// Resolves a possibly negative axis.
pub fn axis(a: i64, rank: usize, node: &str) -> Result<usize, FrontendError> {
    let r = rank as i64;
    let v = if a < 0 { a + r } else { a };
    if v < 0 || v >= r.max(1) {
        return Err(FrontendError::Shape {
            node: node.to_string(),
            detail: format!("axis {a} out of range for rank {rank}"),
        });
    }
    Ok(v as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting() {
        assert_eq!(
            broadcast_shape(&[2, 1, 3], &[4, 1], "n").unwrap(),
            vec![2, 4, 3]
        );
        assert!(broadcast_shape(&[2, 3], &[4], "n").is_err());
        assert_eq!(broadcast_index(&[3], &[2, 3]), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(broadcast_index(&[2, 1], &[2, 3]), vec![0, 0, 0, 1, 1, 1]);
    }

    #[test]
    fn transposes() {
        let (s, idx) = transpose_index(&[2, 3], &[1, 0]);
        assert_eq!(s, vec![3, 2]);
        assert_eq!(idx, vec![0, 3, 1, 4, 2, 5]);
    }
}
