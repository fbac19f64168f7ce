//! Public-input encoding: one instance column holding the inputs, then the outputs, encoded as
//! the model's [`PublicIo`](zkinfer_circuits::public_io::PublicIo) says (one value per
//! instance, or packed), written as 32-byte big-endian hex. A verifier never trusts the listed
//! instances: it recomputes them from the listed values.

use crate::error::VerifyError;
use zkinfer_circuits::compiled::{IoSpec, IoTensor};
use zkinfer_circuits::field::{from_hex, to_hex, F};
use zkinfer_circuits::public_io::instances;

/// Hex encoding of instances.
pub fn encode(instances: &[F]) -> Vec<String> {
    instances.iter().map(to_hex).collect()
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
        dequantize(&self.inputs, &io.inputs)
    }

    /// Real-valued outputs.
    pub fn real_outputs(&self, io: &IoSpec) -> Vec<Vec<f64>> {
        dequantize(&self.outputs, &io.outputs)
    }
}

/// The listed real values of integers, per tensor ([`IoTensor::real`]).
pub fn dequantize(vals: &[Vec<i128>], tensors: &[IoTensor]) -> Vec<Vec<f64>> {
    vals.iter()
        .zip(tensors)
        .map(|(v, t)| v.iter().map(|&x| t.real(x)).collect())
        .collect()
}

/// Recovers the quantized values behind listed real values: each must be `v · 2^-scale` for
/// an integer `v` in the model's range (exactly what `prove` writes).
fn requantize(
    field: &'static str,
    listed: &[Vec<f64>],
    tensors: &[IoTensor],
    bits: u32,
) -> Result<Vec<Vec<i128>>, VerifyError> {
    if listed.len() != tensors.len() {
        return Err(VerifyError::ValuesMismatch {
            field,
            detail: format!(
                "{} tensors listed, the model has {}",
                listed.len(),
                tensors.len()
            ),
        });
    }
    listed
        .iter()
        .zip(tensors)
        .enumerate()
        .map(|(t, (vals, spec))| {
            let n: usize = spec.shape.iter().product();
            if vals.len() != n {
                return Err(VerifyError::ValuesMismatch {
                    field,
                    detail: format!("tensor #{t} has {} values, the model has {n}", vals.len()),
                });
            }
            vals.iter()
                .enumerate()
                .map(|(i, &x)| {
                    spec.integer_of(x, bits).ok_or(VerifyError::NotAValue {
                        field,
                        tensor: t,
                        index: i,
                        value: x,
                    })
                })
                .collect()
        })
        .collect()
}

/// The public values a proof file lists, and the instances they must have been proven with.
pub fn from_listed(
    io: &IoSpec,
    inputs: &[Vec<f64>],
    outputs: &[Vec<f64>],
) -> Result<PublicValues, VerifyError> {
    let inputs = requantize("inputs", inputs, &io.inputs, io.bits)?;
    let outputs = requantize("outputs", outputs, &io.outputs, io.bits)?;
    let flat = |v: &[Vec<i128>]| v.iter().flatten().copied().collect::<Vec<_>>();
    let field = instances(io.public_io, io.bits, &flat(&inputs), &flat(&outputs));
    Ok(PublicValues {
        field,
        inputs,
        outputs,
    })
}

/// Checks that a proof file's `instances` are exactly `expected`.
pub fn check(expected: &[F], columns: &[Vec<String>]) -> Result<(), VerifyError> {
    let [col] = columns else {
        return Err(VerifyError::Format(format!(
            "'instances' must hold exactly one column, got {}",
            columns.len()
        )));
    };
    if col.len() != expected.len() {
        return Err(VerifyError::InstanceCount {
            expected: expected.len(),
            got: col.len(),
        });
    }
    for (i, (h, want)) in col.iter().zip(expected).enumerate() {
        let x = from_hex(h).ok_or_else(|| {
            VerifyError::Format(format!(
                "instance #{i} is not a canonical 32-byte hex field element"
            ))
        })?;
        if x != *want {
            return Err(VerifyError::ValuesMismatch {
                field: "instances",
                detail: format!(
                    "instance #{i} is not the encoding of the listed inputs and outputs"
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkinfer_circuits::field::fe;
    use zkinfer_circuits::public_io::PublicIo;

    fn io(public_io: PublicIo) -> IoSpec {
        let t = |n: &str, len| IoTensor {
            name: n.into(),
            shape: vec![1, len],
            scale: 2,
            integer: false,
            range: None,
            affine: None,
        };
        IoSpec {
            bits: 8,
            public_io,
            inputs: vec![t("x", 2)],
            outputs: vec![t("y", 1)],
        }
    }

    #[test]
    fn recomputes_instances_from_listed_values() {
        let plain = io(PublicIo::Plain);
        let v = from_listed(&plain, &[vec![0.75, -32.0]], &[vec![31.75]]).unwrap();
        assert_eq!(v.inputs, vec![vec![3, -128]]);
        assert_eq!(v.outputs, vec![vec![127]]);
        assert_eq!(v.field, vec![fe(3), fe(-128), fe(127)]);
        assert_eq!(v.real_outputs(&plain), vec![vec![31.75]]);
        check(&v.field, &[encode(&v.field)]).unwrap();
        let packed =
            from_listed(&io(PublicIo::Packed), &[vec![0.75, -32.0]], &[vec![31.75]]).unwrap();
        assert_eq!(packed.field.len(), 2);
        assert_eq!(packed.field[0], fe(131) * fe(256) + fe(0));
    }

    #[test]
    fn int8_outputs_must_be_on_the_models_grid_and_in_its_range() {
        use zkinfer_circuits::graph::requant::AffineScale;
        let mut io = io(PublicIo::Plain);
        io.bits = 10;
        let s = 0.005_566_796_f32;
        io.outputs[0].affine = Some(AffineScale::new(s, -128, (-128, 127)).unwrap());
        let on_grid = |q: i64| f64::from((q + 128) as f32 * s);
        let v = from_listed(&io, &[vec![0.0, 0.0]], &[vec![on_grid(-79)]]).unwrap();
        assert_eq!(v.outputs, vec![vec![-79]]);
        assert_eq!(v.real_outputs(&io), vec![vec![on_grid(-79)]]);
        // Off the grid (a hair away, or half a step), or outside [qmin, qmax].
        let hair = on_grid(-79) * (1.0 + 1e-9);
        for bad in [
            hair,
            on_grid(-79) + f64::from(s) / 2.0,
            on_grid(128),
            on_grid(-129),
        ] {
            assert!(
                matches!(
                    from_listed(&io, &[vec![0.0, 0.0]], &[vec![bad]]),
                    Err(VerifyError::NotAValue { .. })
                ),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn rejects_values_that_are_not_model_values() {
        let io = io(PublicIo::Packed);
        for bad in [32.0, -32.25, 0.1, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                from_listed(&io, &[vec![0.0, 0.0]], &[vec![bad]]),
                Err(VerifyError::NotAValue {
                    field: "outputs",
                    ..
                })
            ));
        }
        assert!(matches!(
            from_listed(&io, &[vec![0.0]], &[vec![0.0]]),
            Err(VerifyError::ValuesMismatch {
                field: "inputs",
                ..
            })
        ));
        assert!(matches!(
            from_listed(&io, &[vec![0.0, 0.0]], &[]),
            Err(VerifyError::ValuesMismatch {
                field: "outputs",
                ..
            })
        ));
    }

    #[test]
    fn checks_listed_instances() {
        let want = vec![fe(1), fe(-2)];
        let col = encode(&want);
        check(&want, std::slice::from_ref(&col)).unwrap();
        assert!(matches!(
            check(&want, &[encode(&[fe(1), fe(2)])]),
            Err(VerifyError::ValuesMismatch {
                field: "instances",
                ..
            })
        ));
        assert!(matches!(
            check(&want, &[encode(&[fe(1)])]),
            Err(VerifyError::InstanceCount { .. })
        ));
        assert!(matches!(
            check(&want, &[col.clone(), col.clone()]),
            Err(VerifyError::Format(_))
        ));
        let mut bad = col;
        bad[0] = "0x12".into();
        assert!(matches!(check(&want, &[bad]), Err(VerifyError::Format(_))));
    }
}
