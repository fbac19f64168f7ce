//! Signed integers in the BN254 scalar field, and their canonical encodings.
//!
//! Quantized values are small signed integers. A negative value `v` is represented by the field
//! element `p - |v|`. Decoding accepts only elements within `i128` range of zero on either side,
//! which is what every public value produced by a compiled model satisfies.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::{Field, PrimeField};

/// The scalar field of BN254, the field every circuit value lives in.
pub type F = Fr;

/// Field element of a signed 128-bit integer. Witness generation converts every cell through
/// here, so a magnitude below `2^64` (almost all of them) takes one conversion.
pub fn fe(v: i128) -> F {
    let mag = v.unsigned_abs();
    let x = match u64::try_from(mag) {
        Ok(lo) => F::from(lo),
        Err(_) => F::from((mag >> 64) as u64) * F::from_raw([0, 1, 0, 0]) + F::from(mag as u64),
    };
    if v < 0 {
        -x
    } else {
        x
    }
}

/// Field element of a signed 64-bit integer.
pub fn fe64(v: i64) -> F {
    fe(v as i128)
}

/// `2^e` as a field element.
pub fn pow2(e: u32) -> F {
    F::from(2u64).pow_vartime([e as u64])
}

/// Decodes a field element as a signed integer if it is within `bound` of zero (exclusive
/// upper bound on the magnitude); returns `None` otherwise.
pub fn to_signed(x: &F, bound: u128) -> Option<i128> {
    let repr = x.to_repr();
    let bytes: &[u8] = repr.as_ref();
    // Little-endian repr. Non-negative small values have zero upper bytes.
    let small = |b: &[u8]| b[16..].iter().all(|&z| z == 0);
    if small(bytes) {
        let v = u128::from_le_bytes(bytes[..16].try_into().ok()?);
        return (v < bound).then_some(v as i128);
    }
    let neg = -*x;
    let nrepr = neg.to_repr();
    let nbytes: &[u8] = nrepr.as_ref();
    if small(nbytes) {
        let v = u128::from_le_bytes(nbytes[..16].try_into().ok()?);
        return (v <= bound && v != 0).then(|| -(v as i128));
    }
    None
}

/// Canonical big-endian 32-byte hex (`0x`-prefixed) of a field element, the encoding used for
/// public instances in proof files and in EVM calldata.
pub fn to_hex(x: &F) -> String {
    let mut bytes = x.to_repr().as_ref().to_vec();
    bytes.reverse();
    format!("0x{}", hex::encode(bytes))
}

/// Parses the encoding of [`to_hex`]. Rejects non-canonical values (at or above the modulus).
pub fn from_hex(s: &str) -> Option<F> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if s.len() != 64 {
        return None;
    }
    let mut bytes = hex::decode(s).ok()?;
    bytes.reverse();
    let mut repr = <F as PrimeField>::Repr::default();
    repr.as_mut().copy_from_slice(&bytes);
    Option::from(F::from_repr(repr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_roundtrip() {
        for v in [
            0i128,
            1,
            -1,
            255,
            -256,
            i64::MAX as i128,
            i64::MIN as i128,
            1 << 100,
            -(1 << 100),
        ] {
            assert_eq!(to_signed(&fe(v), 1 << 120), Some(v), "{v}");
        }
        // Both conversions, either side of 2^64, against the field's own.
        for m in [u64::MAX as u128, 1 << 64, (1 << 64) + 5, u128::MAX >> 1] {
            let v = m as i128;
            assert_eq!(fe(v), F::from_u128(m), "{v}");
            assert_eq!(fe(-v), -F::from_u128(m), "{v}");
        }
        assert_eq!(fe(i128::MIN), -F::from_u128(1 << 127));
        assert_eq!(to_signed(&fe(1000), 1000), None);
        assert_eq!(to_signed(&fe(-1000), 1000), Some(-1000));
        assert_eq!(to_signed(&fe(-1001), 1000), None);
        // A "large" field element is not a small integer.
        assert_eq!(
            to_signed(&(F::from(3u64).invert().unwrap()), 1 << 120),
            None
        );
    }

    #[test]
    fn hex_roundtrip_and_canonical() {
        for v in [0i128, 7, -7] {
            let h = to_hex(&fe(v));
            assert_eq!(from_hex(&h), Some(fe(v)));
        }
        // The modulus itself is not canonical.
        let modulus = "0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001";
        assert_eq!(from_hex(modulus), None);
        assert_eq!(from_hex("0x12"), None);
        assert_eq!(from_hex("zz"), None);
    }

    #[test]
    fn pow2_matches() {
        assert_eq!(pow2(10), F::from(1024u64));
        assert_eq!(pow2(0), F::from(1u64));
    }
}
