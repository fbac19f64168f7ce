//! Fused elementwise expressions: a chain of elementwise ops on one tensor with constants (a
//! GELU written as nine Mul/Add/Pow/Tanh nodes, an Erf, ...) tabulated as one function. The
//! expression is a short postfix program over IEEE-754 doubles using only basic operations and
//! the deterministic `det_*` functions, so its table is the same on every machine; the program
//! (constants as their bits) is part of the function's key, hence of the model digest.

use super::tables::{det_exp, det_sigmoid, det_tanh};
use serde::{Deserialize, Serialize};

/// Longest program accepted.
pub const MAX_STEPS: usize = 256;

/// One step of a postfix program over a stack of reals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Step {
    /// Push the input.
    X,
    /// Push a constant.
    Const(f64),
    /// Pop `b`, pop `a`, push `a + b` (likewise below).
    Add,
    Sub,
    Mul,
    Div,
    /// Replace the top `v` by `v^n` (repeated multiplication, `n` in 0..=8).
    PowI(u32),
    /// Replace the top by its hyperbolic tangent (`det_tanh`).
    Tanh,
    /// ... its logistic sigmoid (`det_sigmoid`).
    Sigmoid,
    /// ... its error function (`det_erf`).
    Erf,
    /// ... its exponential (`det_exp`).
    Exp,
    /// ... its square root (IEEE, correctly rounded).
    Sqrt,
}

/// Runs `steps` on input `x`; `None` for an invalid program (stack underflow, more than one
/// value left, too long) or a non-finite result.
pub fn run(steps: &[Step], x: f64) -> Option<f64> {
    if steps.len() > MAX_STEPS {
        return None;
    }
    let mut st: Vec<f64> = Vec::with_capacity(8);
    for s in steps {
        match s {
            Step::X => st.push(x),
            Step::Const(c) => st.push(*c),
            Step::Add | Step::Sub | Step::Mul | Step::Div => {
                let (b, a) = (st.pop()?, st.pop()?);
                st.push(match s {
                    Step::Add => a + b,
                    Step::Sub => a - b,
                    Step::Mul => a * b,
                    _ => a / b,
                });
            }
            Step::PowI(n) if *n <= 8 => {
                let v = st.pop()?;
                st.push((0..*n).fold(1.0, |p, _| p * v));
            }
            Step::PowI(_) => return None,
            unary => {
                let v = st.pop()?;
                st.push(match unary {
                    Step::Tanh => det_tanh(v),
                    Step::Sigmoid => det_sigmoid(v),
                    Step::Erf => det_erf(v),
                    Step::Exp => det_exp(v),
                    _ => v.sqrt(),
                });
            }
        }
    }
    match st.as_slice() {
        [y] if y.is_finite() => Some(*y),
        _ => None,
    }
}

/// A stable text form of a program, for keys and descriptions.
pub fn key(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| match s {
            Step::X => "x".to_string(),
            Step::Const(c) => format!("{:#x}", c.to_bits()),
            Step::PowI(n) => format!("pow{n}"),
            other => format!("{other:?}").to_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `1/√π`.
const FRAC_1_SQRT_PI: f64 = 0.564_189_583_547_756_3;

/// `erf(x)` using only basic IEEE operations and `det_exp`: its Taylor series below 3 in
/// magnitude (terms to 1e-17), the continued fraction of `erfc` above.
pub fn det_erf(x: f64) -> f64 {
    let a = x.abs();
    let y = if a < 3.0 {
        // erf(a) = 2/√π Σ (-1)^n a^(2n+1) / (n! (2n+1)).
        let (mut term, mut sum) = (a, a);
        let a2 = a * a;
        for n in 1..120 {
            term = -term * a2 / n as f64;
            let t = term / (2 * n + 1) as f64;
            sum += t;
            if t.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        2.0 * FRAC_1_SQRT_PI * sum
    } else if a < 27.0 {
        // erfc(a) = e^(-a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + ...))))).
        let mut f = a;
        for k in (1..=60).rev() {
            f = a + (k as f64 / 2.0) / f;
        }
        1.0 - det_exp(-a * a) * FRAC_1_SQRT_PI / f
    } else {
        1.0
    };
    if x < 0.0 {
        -y
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_reference_values() {
        // erf at a few points (Abramowitz & Stegun table 7.1 and high-precision values).
        for (x, want) in [
            (0.0, 0.0),
            (0.1, 0.112_462_916_018_284_9),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (2.9, 0.999_958_902_121_900_8),
            (3.0, 0.999_977_909_503_001_4),
            (4.0, 0.999_999_984_582_742_1),
            (-1.5, -0.966_105_146_475_310_7),
        ] {
            assert!(
                (det_erf(x) - want).abs() < 1e-14,
                "erf({x}) = {}",
                det_erf(x)
            );
        }
        assert_eq!(det_erf(40.0), 1.0);
    }

    #[test]
    fn programs_run_or_are_refused() {
        let gelu_tanh = [
            Step::X,
            Step::Const(0.5),
            Step::Mul,
            Step::X,
            Step::X,
            Step::PowI(3),
            Step::Const(0.044715),
            Step::Mul,
            Step::Add,
            Step::Const(0.797_884_560_802_865_4),
            Step::Mul,
            Step::Tanh,
            Step::Const(1.0),
            Step::Add,
            Step::Mul,
        ];
        let y = run(&gelu_tanh, 1.0).unwrap();
        assert!((y - 0.841_191_990_607_477_4).abs() < 1e-12, "{y}");
        assert_eq!(run(&[Step::Add], 1.0), None);
        assert_eq!(run(&[Step::X, Step::X], 1.0), None);
        assert_eq!(run(&[Step::X, Step::Const(0.0), Step::Div], 1.0), None);
        assert_eq!(run(&[Step::X, Step::PowI(9)], 1.0), None);
        assert!(key(&gelu_tanh).starts_with("x 0x3fe0000000000000 mul x x pow3"));
    }
}
