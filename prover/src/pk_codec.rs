//! A compact file form for halo2 proving keys.
//!
//! halo2's own form stores every polynomial of a proving key twice (values and coefficients),
//! 32 bytes per entry: a wrapper key at k = 22 is gigabytes. Almost all of it is derived: the
//! coefficient forms are inverse FFTs of the value forms, `l₀`, `l_last` and `l_active` follow
//! from the domain and the number of blinding rows, and each permutation entry is `δʲ·ωⁱ` for
//! the cell `(j, i)` its copy cycle maps to. This form stores only the verifying key, the fixed
//! columns' values (tagged: zero, one, a small or a negated small integer take one or nine
//! bytes) and the permutation as one `u32` cell index per entry, and recomputes the rest when
//! read. The result is the same proving key, field element for field element.

use halo2_proofs::arithmetic::parallelize;
use halo2_proofs::halo2curves::bn256::{Fr, G1Affine};
use halo2_proofs::halo2curves::ff::{Field, PrimeField};
use halo2_proofs::plonk::{permutation, Circuit, ProvingKey, VerifyingKey};
use halo2_proofs::poly::{EvaluationDomain, LagrangeCoeff, Polynomial};
use halo2_proofs::SerdeFormat;
use rayon::prelude::*;

/// Why a proving key could not be written or read in the compact form.
#[derive(Debug, thiserror::Error)]
pub enum PkCodecError {
    /// The bytes are not a compact proving key.
    #[error("malformed proving key: {0}")]
    Malformed(String),
    /// The key's permutation has more cells than a `u32` index can name.
    #[error("the proving key is too large for the compact form ({columns} permutation columns of 2^{k} rows)")]
    TooLarge { columns: usize, k: u32 },
}

const TAG_ZERO: u8 = 0;
const TAG_ONE: u8 = 1;
const TAG_SMALL: u8 = 2;
const TAG_NEG_SMALL: u8 = 3;
const TAG_FULL: u8 = 4;

// ---------------------------------------------------------------- writing

/// Appends the compact form of `pk` to `out`.
pub fn write_compact(pk: &ProvingKey<G1Affine>, out: &mut Vec<u8>) -> Result<(), PkCodecError> {
    let vk = pk.get_vk();
    let domain = vk.get_domain();
    let k = domain.k();
    let perms = pk.permutation().permutations();
    if (perms.len() as u64) << k > 1u64 << 32 {
        return Err(PkCodecError::TooLarge {
            columns: perms.len(),
            k,
        });
    }
    let vk_bytes = vk.to_bytes(SerdeFormat::RawBytesUnchecked);
    out.extend_from_slice(&(vk_bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(&vk_bytes);
    out.extend_from_slice(&(pk.fixed_values().len() as u32).to_le_bytes());
    out.extend_from_slice(&(perms.len() as u32).to_le_bytes());
    for column in pk.fixed_values() {
        for v in column.iter() {
            write_value(v, out);
        }
    }
    let cells = CellIndex::new(domain, perms.len());
    for (j, column) in perms.iter().enumerate() {
        let indices = cells.invert_column(j, column.values())?;
        out.reserve(indices.len() * 4);
        for i in indices {
            out.extend_from_slice(&i.to_le_bytes());
        }
    }
    Ok(())
}

fn write_value(v: &Fr, out: &mut Vec<u8>) {
    let small = |r: &[u8; 32]| -> Option<u64> {
        r[8..]
            .iter()
            .all(|b| *b == 0)
            .then(|| u64::from_le_bytes(r[..8].try_into().unwrap_or_default()))
    };
    let repr = v.to_repr();
    match small(&repr) {
        Some(0) => out.push(TAG_ZERO),
        Some(1) => out.push(TAG_ONE),
        Some(s) => {
            out.push(TAG_SMALL);
            out.extend_from_slice(&s.to_le_bytes());
        }
        None => match small(&(-*v).to_repr()) {
            Some(s) => {
                out.push(TAG_NEG_SMALL);
                out.extend_from_slice(&s.to_le_bytes());
            }
            None => {
                out.push(TAG_FULL);
                out.extend_from_slice(&repr);
            }
        },
    }
}

/// The permutation's cell values `δʲ·ωⁱ`, and their inverse (value to cell).
struct CellIndex {
    omega: Vec<Fr>,
    delta: Vec<Fr>,
    delta_inv: Vec<Fr>,
    /// `(first 8 bytes of ωⁱ's repr, i)`, sorted.
    by_key: Vec<(u64, u32)>,
}

fn key_of(v: &Fr) -> u64 {
    let r = v.to_repr();
    u64::from_le_bytes(r[..8].try_into().unwrap_or_default())
}

impl CellIndex {
    fn new(domain: &EvaluationDomain<Fr>, columns: usize) -> Self {
        let omega = omega_powers(domain);
        let delta = delta_powers(columns);
        let delta_inv = delta
            .iter()
            .map(|d| d.invert().unwrap_or(Fr::ZERO))
            .collect();
        let mut by_key: Vec<(u64, u32)> = omega
            .par_iter()
            .enumerate()
            .map(|(i, w)| (key_of(w), i as u32))
            .collect();
        by_key.par_sort_unstable();
        CellIndex {
            omega,
            delta,
            delta_inv,
            by_key,
        }
    }

    /// The row `i` with `ωⁱ = w`, if any.
    fn row_of(&self, w: &Fr) -> Option<u32> {
        let key = key_of(w);
        let start = self.by_key.partition_point(|(k, _)| *k < key);
        self.by_key[start..]
            .iter()
            .take_while(|(k, _)| *k == key)
            .map(|(_, i)| *i)
            .find(|i| self.omega[*i as usize] == *w)
    }

    /// The cell index `j'·n + i'` of every entry of permutation column `j`.
    fn invert_column(&self, j: usize, values: &[Fr]) -> Result<Vec<u32>, PkCodecError> {
        let n = self.omega.len();
        let found: Vec<Option<u32>> = values
            .par_iter()
            .enumerate()
            .map(|(i, v)| {
                if *v == self.omega[i] * self.delta[j] {
                    return Some((j * n + i) as u32);
                }
                (0..self.delta.len()).find_map(|c| {
                    self.row_of(&(*v * self.delta_inv[c]))
                        .map(|r| (c * n) as u32 + r)
                })
            })
            .collect();
        found
            .into_iter()
            .collect::<Option<Vec<u32>>>()
            .ok_or_else(|| PkCodecError::Malformed("a permutation entry names no cell".into()))
    }
}

fn omega_powers(domain: &EvaluationDomain<Fr>) -> Vec<Fr> {
    let omega = domain.get_omega();
    let mut powers = vec![Fr::ZERO; 1 << domain.k()];
    parallelize(&mut powers, |o, start| {
        let mut cur = omega.pow_vartime([start as u64]);
        for v in o.iter_mut() {
            *v = cur;
            cur *= &omega;
        }
    });
    powers
}

fn delta_powers(columns: usize) -> Vec<Fr> {
    let mut cur = Fr::ONE;
    (0..columns)
        .map(|_| {
            let d = cur;
            cur *= Fr::DELTA;
            d
        })
        .collect()
}

// ---------------------------------------------------------------- reading

/// Bounds-checked reader over the compact form.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PkCodecError> {
        if self.0.len() < n {
            return Err(PkCodecError::Malformed("truncated".into()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, PkCodecError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, PkCodecError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }

    fn value(&mut self) -> Result<Fr, PkCodecError> {
        let tag = self.take(1)?[0];
        Ok(match tag {
            TAG_ZERO => Fr::ZERO,
            TAG_ONE => Fr::ONE,
            TAG_SMALL => Fr::from(self.u64()?),
            TAG_NEG_SMALL => -Fr::from(self.u64()?),
            TAG_FULL => {
                let mut repr = [0u8; 32];
                repr.copy_from_slice(self.take(32)?);
                Option::from(Fr::from_repr(repr)).ok_or_else(|| {
                    PkCodecError::Malformed("a fixed value is not canonical".into())
                })?
            }
            t => return Err(PkCodecError::Malformed(format!("unknown value tag {t}"))),
        })
    }
}

/// Reads a proving key written by [`write_compact`] for a circuit of `2^k` rows, consuming all
/// of `bytes`. Any bytes give a key or an error, never a panic.
pub fn read_compact<C: Circuit<Fr>>(
    bytes: &[u8],
    k: u32,
    params: C::Params,
) -> Result<ProvingKey<G1Affine>, PkCodecError> {
    if k > 28 {
        return Err(malformed("implausible circuit size"));
    }
    let mut cur = Cursor(bytes);
    let vk_len = usize::try_from(cur.u64()?).map_err(|_| malformed("truncated"))?;
    let vk_bytes = cur.take(vk_len)?;
    // halo2's key starts with a version byte and k: refuse another size before reading it.
    if vk_bytes.get(1..5) != Some(&k.to_le_bytes()[..]) {
        return Err(PkCodecError::Malformed(format!(
            "not a key for a circuit of 2^{k} rows"
        )));
    }
    let vk = read_vk::<C>(vk_bytes, params)?;
    let domain = vk.get_domain().clone();
    let n = 1usize << domain.k();
    let fixed_count = cur.u32()? as usize;
    let perm_count = cur.u32()? as usize;
    if fixed_count != vk.cs().num_fixed_columns()
        || perm_count != vk.cs().permutation().get_columns().len()
    {
        return Err(malformed("column counts differ from the verifying key's"));
    }
    let fixed_values = (0..fixed_count)
        .map(|_| {
            let values = (0..n).map(|_| cur.value()).collect::<Result<Vec<_>, _>>()?;
            Ok(domain.lagrange_from_vec(values))
        })
        .collect::<Result<Vec<_>, PkCodecError>>()?;
    let indices = (0..perm_count)
        .map(|_| {
            let raw = cur.take(n * 4)?;
            Ok(raw
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        })
        .collect::<Result<Vec<Vec<u32>>, PkCodecError>>()?;
    if !cur.0.is_empty() {
        return Err(malformed("trailing bytes"));
    }
    let permutation = permutation_from_cells(&domain, &indices)?;
    assemble(vk, fixed_values, permutation)
}

fn malformed(detail: &str) -> PkCodecError {
    PkCodecError::Malformed(detail.into())
}

fn read_vk<C: Circuit<Fr>>(
    bytes: &[u8],
    params: C::Params,
) -> Result<VerifyingKey<G1Affine>, PkCodecError> {
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        VerifyingKey::<G1Affine>::read::<_, C>(
            &mut &bytes[..],
            SerdeFormat::RawBytesUnchecked,
            params,
        )
    }));
    match read {
        Ok(Ok(vk)) => Ok(vk),
        Ok(Err(e)) => Err(PkCodecError::Malformed(format!("verifying key: {e}"))),
        Err(_) => Err(malformed("verifying key")),
    }
}

/// The permutation's values `δʲ·ωⁱ` at the stored cells, and their coefficient forms.
fn permutation_from_cells(
    domain: &EvaluationDomain<Fr>,
    indices: &[Vec<u32>],
) -> Result<permutation::ProvingKey<G1Affine>, PkCodecError> {
    let n = 1usize << domain.k();
    let omega = omega_powers(domain);
    let delta = delta_powers(indices.len());
    let cells = indices.len() * n;
    let permutations = indices
        .iter()
        .map(|column| {
            let values = column
                .par_iter()
                .map(|&c| {
                    let c = c as usize;
                    (c < cells).then(|| omega[c % n] * delta[c / n])
                })
                .collect::<Option<Vec<Fr>>>()
                .ok_or_else(|| malformed("a permutation entry names no cell"))?;
            Ok(domain.lagrange_from_vec(values))
        })
        .collect::<Result<Vec<_>, PkCodecError>>()?;
    let polys = permutations
        .par_iter()
        .map(|p| domain.lagrange_to_coeff(p.clone()))
        .collect();
    Ok(permutation::ProvingKey::from_parts(permutations, polys))
}

/// The derived polynomials, computed as halo2's `keygen_pk` computes them.
fn assemble(
    vk: VerifyingKey<G1Affine>,
    fixed_values: Vec<Polynomial<Fr, LagrangeCoeff>>,
    permutation: permutation::ProvingKey<G1Affine>,
) -> Result<ProvingKey<G1Affine>, PkCodecError> {
    let domain = vk.get_domain();
    let n = 1usize << domain.k();
    let blinding = vk.cs().blinding_factors();
    let last = n
        .checked_sub(blinding + 1)
        .ok_or_else(|| malformed("fewer rows than blinding factors"))?;
    let fixed_polys = fixed_values
        .par_iter()
        .map(|p| domain.lagrange_to_coeff(p.clone()))
        .collect();
    let mut l0 = domain.empty_lagrange();
    l0[0] = Fr::ONE;
    let mut l_last = domain.empty_lagrange();
    l_last[last] = Fr::ONE;
    // 1 on every row but the last usable one and the blinding rows.
    let mut l_active = domain.empty_lagrange();
    for (i, v) in l_active.iter_mut().enumerate() {
        if i < last {
            *v = Fr::ONE;
        }
    }
    let l0 = domain.lagrange_to_coeff(l0);
    let l_last = domain.lagrange_to_coeff(l_last);
    let l_active = domain.lagrange_to_coeff(l_active);
    Ok(ProvingKey::from_parts(
        vk,
        l0,
        l_last,
        l_active,
        fixed_values,
        fixed_polys,
        permutation,
    ))
}
