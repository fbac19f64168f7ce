//! Public-input encoding: one instance column holding the quantized inputs, then the quantized
//! outputs, as field elements (negative values as `p - |v|`), written as 32-byte big-endian hex.

use crate::error::VerifyError;
use zkinfer_circuits::compiled::IoSpec;
use zkinfer_circuits::field::{fe, from_hex, to_hex, to_signed, F};

/// Hex encoding of quantized values.
pub fn encode(values: &[i128]) -> Vec<String> {
    values.iter().map(|&v| to_hex(&fe(v))).collect()
}

/// Decoded public values.
#[derive(Clone, Debug, PartialEq)]
pub struct PublicValues {
    /// Field elements, as proven.
    pub field: Vec<F>,
    /// Quantized inputs per graph input.
    pub inputs: Vec<Vec<i128>>,
    /// Quantized outputs per graph output.
    pub outputs: Vec<Vec<i128>>,
}

impl PublicValues {
    /// Real-valued inputs.
    pub fn real_inputs(&self, io: &IoSpec) -> Vec<Vec<f64>> {
        dequantize(&self.inputs, io.inputs.iter().map(|t| t.scale))
    }

    /// Real-valued outputs.
    pub fn real_outputs(&self, io: &IoSpec) -> Vec<Vec<f64>> {
        dequantize(&self.outputs, io.outputs.iter().map(|t| t.scale))
    }
}

/// `v · 2^-scale` per tensor.
pub fn dequantize(vals: &[Vec<i128>], scales: impl Iterator<Item = i32>) -> Vec<Vec<f64>> {
    vals.iter()
        .zip(scales)
        .map(|(v, s)| v.iter().map(|&x| x as f64 * (-(s as f64)).exp2()).collect())
        .collect()
}

/// Decodes and range-checks the instance column of a proof file.
pub fn decode(io: &IoSpec, columns: &[Vec<String>]) -> Result<PublicValues, VerifyError> {
    let [col] = columns else {
        return Err(VerifyError::Format(format!(
            "'instances' must hold exactly one column, got {}",
            columns.len()
        )));
    };
    let expected = io.instance_count();
    if col.len() != expected {
        return Err(VerifyError::InstanceCount {
            expected,
            got: col.len(),
        });
    }
    let half = 1i128 << (io.bits - 1);
    let mut field = Vec::with_capacity(col.len());
    let mut ints = Vec::with_capacity(col.len());
    for (i, h) in col.iter().enumerate() {
        let x = from_hex(h).ok_or_else(|| {
            VerifyError::Format(format!(
                "instance #{i} is not a canonical 32-byte hex field element"
            ))
        })?;
        let v = to_signed(&x, half as u128).filter(|v| *v < half).ok_or(
            VerifyError::InstanceRange {
                index: i,
                lo: -half,
                hi: half - 1,
            },
        )?;
        field.push(x);
        ints.push(v);
    }
    let split =
        |tensors: &[zkinfer_circuits::compiled::IoTensor], at: &mut usize| -> Vec<Vec<i128>> {
            tensors
                .iter()
                .map(|t| {
                    let n: usize = t.shape.iter().product();
                    let v = ints[*at..*at + n].to_vec();
                    *at += n;
                    v
                })
                .collect()
        };
    let mut at = 0;
    let inputs = split(&io.inputs, &mut at);
    let outputs = split(&io.outputs, &mut at);
    Ok(PublicValues {
        field,
        inputs,
        outputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkinfer_circuits::compiled::IoTensor;

    fn io() -> IoSpec {
        let t = |n: &str, len| IoTensor {
            name: n.into(),
            shape: vec![1, len],
            scale: 2,
        };
        IoSpec {
            bits: 8,
            inputs: vec![t("x", 2)],
            outputs: vec![t("y", 1)],
        }
    }

    #[test]
    fn decodes_and_checks_public_values() {
        let col = encode(&[3, -128, 127]);
        let v = decode(&io(), &[col.clone()]).unwrap();
        assert_eq!(v.inputs, vec![vec![3, -128]]);
        assert_eq!(v.outputs, vec![vec![127]]);
        assert_eq!(v.real_outputs(&io()), vec![vec![31.75]]);
        assert!(matches!(
            decode(&io(), &[encode(&[3, 128, 0])]),
            Err(VerifyError::InstanceRange { index: 1, .. })
        ));
        assert!(matches!(
            decode(&io(), &[encode(&[3, -129, 0])]),
            Err(VerifyError::InstanceRange { .. })
        ));
        assert!(matches!(
            decode(&io(), &[encode(&[3, 4])]),
            Err(VerifyError::InstanceCount { .. })
        ));
        assert!(matches!(
            decode(&io(), &[col.clone(), col.clone()]),
            Err(VerifyError::Format(_))
        ));
        let mut bad = col;
        bad[0] = "0x12".into();
        assert!(matches!(decode(&io(), &[bad]), Err(VerifyError::Format(_))));
    }
}
