//! Pack chip: public values packed into few instance words (see [`crate::public_io`]).
//!
//! ```text
//! first row of a word: acc = v + 2^(B-1)
//! next rows:           acc = acc_prev · 2^B + v + 2^(B-1)
//! ```
//!
//! The last `acc` of a word is copied to its instance row. Input values live in `v` (their
//! home: the input's range-check op copies them from here); output values are copied into `v`
//! from wherever they were computed. Every packed value is range-checked elsewhere (inputs by
//! their range-check op, outputs are activations), so each slot is below `2^B` and a word has
//! one preimage.

use super::{known, AdvCol, Assigner};
use crate::field::{fe, pow2, F};
use crate::plan::{Col, PackWord, Pos};
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Selector};
use halo2_proofs::poly::Rotation;

/// Columns of the pack chip.
#[derive(Clone, Debug)]
pub struct PackConfig {
    /// Packed values (equality-enabled).
    pub v: Column<Advice>,
    /// Running word (equality-enabled).
    pub acc: Column<Advice>,
    first: Selector,
    next: Selector,
}

impl PackConfig {
    /// Declares the chip's gate.
    pub fn configure(meta: &mut ConstraintSystem<F>, bits: u32) -> Self {
        let (v, acc) = (meta.advice_column(), meta.advice_column());
        meta.enable_equality(v);
        meta.enable_equality(acc);
        let (first, next) = (meta.selector(), meta.selector());
        let half = Expression::Constant(pow2(bits - 1));
        let shift = Expression::Constant(pow2(bits));
        meta.create_gate("pack", |vc| {
            let cur = Rotation::cur();
            let slot = vc.query_advice(v, cur) + half;
            let accv = vc.query_advice(acc, cur);
            let prev = vc.query_advice(acc, Rotation::prev());
            vec![
                vc.query_selector(first) * (accv.clone() - slot.clone()),
                vc.query_selector(next) * (accv - prev * shift - slot),
            ]
        });
        PackConfig {
            v,
            acc,
            first,
            next,
        }
    }

    /// Assigns the packed values (`values[row]`, unknown at key generation), copies output
    /// values in from `sources` (row, home) and, when `to_instance`, each word to its instance
    /// row (hashed I/O hashes the words instead).
    pub(crate) fn assign(
        &self,
        a: &mut Assigner<'_, '_>,
        bits: u32,
        values: Option<&[i128]>,
        words: &[PackWord],
        sources: &[(u32, Pos)],
        to_instance: bool,
    ) -> Result<(), Error> {
        let half = 1i128 << (bits - 1);
        let shift = pow2(bits);
        for (w, word) in words.iter().enumerate() {
            let mut acc: Option<F> = Some(F::zero());
            for i in 0..word.len {
                let row = word.start + i;
                let v = values.map(|vs| vs[row as usize]);
                acc = acc.zip(v).map(|(acc, v)| acc * shift + fe(v + half));
                a.advice(AdvCol::PackV, self.v, row, known(v.map(fe)));
                a.advice(AdvCol::PackAcc, self.acc, row, known(acc));
                a.enable(if i == 0 { &self.first } else { &self.next }, row)?;
            }
            if !to_instance {
                continue;
            }
            a.copy(
                Pos {
                    col: Col::PackAcc,
                    row: word.start + word.len - 1,
                },
                Pos {
                    col: Col::Inst,
                    row: w as u32,
                },
            )?;
        }
        for &(row, home) in sources {
            a.copy(
                Pos {
                    col: Col::PackV,
                    row,
                },
                home,
            )?;
        }
        Ok(())
    }
}
