//! Elementwise chip: one element per row,
//!
//! ```text
//! qa·a + qb·b + qm·a·b + qc + rs·2^(B-1) = (1 + rs·(2^B - 1))·q + rs·r
//! r ∈ [0, 2^B)                                    // the rounding remainder (range table)
//! q + 2^(B-1) ∈ [0, 2^B)                          // q is an activation (range table)
//! (ftag, fn·q, fn·out) ∈ function table           // out = f(q) for a non-identity function
//! (1 - fn)·(out - q) = 0                          // out = q for the identity
//! ```
//!
//! With the identity in the function table (`identity_table`), the last three become one
//! lookup, `(ftag, q, out) ∈ function table`, which also range-checks `q`.
//!
//! With `remainder_rows` as well, each element takes two rows and the `r` column is gone: the
//! row below holds `q' = out' = r - 2^(B-1)` under tag 0, so the same function lookup (the
//! identity over `[-2^(B-1), 2^(B-1))`) range-checks the remainder, and the gate reads
//! `r = q[next] + 2^(B-1)`. One advice column and one lookup fewer per lane.
//!
//! The coefficients are fixed columns, already multiplied by `2^(B-d)` for a rescale by `2^d`,
//! so one remainder range serves every shift (`rs = 1`); without a rescale (`rs = 0`) `q` is the
//! linear part exactly. Gates are enabled by a selector (halo2 checks gates on blinding rows
//! too); on unused rows every fixed cell is zero and the witness is zero.

use super::limbs::LimbCols;
use super::table::TableConfig;
use super::{AdvCol, Assigner, Wit};
use crate::field::{fe, pow2, F};
use crate::graph::{ElemOp, FnKind, QuantizedGraph};
use crate::plan::{CircuitShape, Col, ElSeg, Pos};
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

/// Columns of one elementwise lane.
#[derive(Clone, Debug)]
pub struct ElemLane {
    /// First operand (equality-enabled).
    pub a: Column<Advice>,
    /// Second operand, when the circuit has binary ops.
    pub b: Option<Column<Advice>>,
    /// Quotient.
    pub q: Column<Advice>,
    /// Remainder (absent with `remainder_rows`: it sits in `q` one row down).
    pub r: Option<Column<Advice>>,
    /// Output (equality-enabled).
    pub out: Column<Advice>,
    qa: Column<Fixed>,
    qb: Option<Column<Fixed>>,
    qm: Option<Column<Fixed>>,
    qc: Column<Fixed>,
    rs: Column<Fixed>,
    ftag: Column<Fixed>,
    /// Function-table selectors ([`CircuitShape::bank_selectors`]): with one table, `is_fn`
    /// (1 on rows with a non-identity function; absent with the identity in the table); with
    /// several, one per table, 1 on rows whose function that table holds.
    sel: Vec<Column<Fixed>>,
    /// Whether the identity is in the function table.
    identity: bool,
    enable: Selector,
    /// Rows per element (2 with `remainder_rows`).
    stride: u32,
    /// The limb columns (lookups on limbs).
    pub limbs: Option<LimbCols>,
}

impl ElemLane {
    /// Declares the lane's gate and lookups.
    pub fn configure(
        meta: &mut ConstraintSystem<F>,
        table: &mut TableConfig,
        shape: &CircuitShape,
    ) -> Self {
        let (binary, bits) = (shape.elem_binary, shape.bits);
        // Validated shapes have remainder rows only with the identity in the table.
        let stride = shape.elem_stride();
        let split = stride == 2;
        let a = meta.advice_column();
        let b = binary.then(|| meta.advice_column());
        let q = meta.advice_column();
        let r = (!split).then(|| meta.advice_column());
        let out = meta.advice_column();
        meta.enable_equality(a);
        if let Some(b) = b {
            meta.enable_equality(b);
        }
        meta.enable_equality(out);
        let qa = meta.fixed_column();
        let qb = binary.then(|| meta.fixed_column());
        let qm = binary.then(|| meta.fixed_column());
        let (qc, rs, ftag) = (
            meta.fixed_column(),
            meta.fixed_column(),
            meta.fixed_column(),
        );
        let sel: Vec<Column<Fixed>> = (0..shape.bank_selectors())
            .map(|_| meta.fixed_column())
            .collect();
        let (identity, banks) = (shape.identity_table, shape.fn_banks() as usize);
        let enable = meta.selector();
        let half = Expression::Constant(pow2(bits - 1));
        let full_minus_one = Expression::Constant(pow2(bits) - F::ONE);
        meta.create_gate("elementwise", |vc| {
            let cur = Rotation::cur();
            let av = vc.query_advice(a, cur);
            let mut lin = vc.query_fixed(qa, cur) * av.clone() + vc.query_fixed(qc, cur);
            if let (Some(b), Some(qb), Some(qm)) = (b, qb, qm) {
                let bv = vc.query_advice(b, cur);
                lin =
                    lin + vc.query_fixed(qb, cur) * bv.clone() + vc.query_fixed(qm, cur) * av * bv;
            }
            let rsv = vc.query_fixed(rs, cur);
            let qv = vc.query_advice(q, cur);
            let rv = match r {
                Some(r) => vc.query_advice(r, cur),
                None => vc.query_advice(q, Rotation::next()) + half.clone(),
            };
            let outv = vc.query_advice(out, cur);
            let en = vc.query_selector(enable);
            let mut gates = vec![
                en.clone()
                    * (lin + rsv.clone() * half.clone()
                        - qv.clone()
                        - rsv.clone() * full_minus_one.clone() * qv.clone()
                        - rsv * rv),
            ];
            if !identity {
                // Rows with no function: out = q.
                let fnv = sel
                    .iter()
                    .map(|&c| vc.query_fixed(c, cur))
                    .fold(Expression::Constant(F::ZERO), |s, v| s + v);
                gates.push(en * (Expression::Constant(F::ONE) - fnv) * (outv - qv));
            }
            gates
        });
        if let Some(r) = r {
            table.range_lookup(meta, "elementwise remainder", |vc| {
                vc.query_advice(r, Rotation::cur())
            });
        }
        if !identity {
            let half2 = Expression::Constant(pow2(bits - 1));
            table.range_lookup(meta, "elementwise range", |vc| {
                vc.query_advice(q, Rotation::cur()) + half2
            });
        }
        let limbs = match shape.limbed() {
            true => Some(LimbCols::configure(
                meta,
                table,
                (ftag, q, out),
                shape.limb_bits,
            )),
            false => {
                Self::function_lookups(meta, table, (ftag, q, out), &sel, banks);
                None
            }
        };
        ElemLane {
            limbs,
            a,
            b,
            q,
            r,
            out,
            qa,
            qb,
            qm,
            qc,
            rs,
            ftag,
            sel,
            identity,
            enable,
            stride,
        }
    }

    /// The lane's function lookups: with one table, `(ftag, q, out)` (identity in the table)
    /// or `(ftag, fn·q, fn·out)`; with several, `(s·ftag, s·q, s·out)` into each table under
    /// its selector `s`.
    fn function_lookups(
        meta: &mut ConstraintSystem<F>,
        table: &TableConfig,
        (ftag, q, out): (Column<Fixed>, Column<Advice>, Column<Advice>),
        sel: &[Column<Fixed>],
        banks: usize,
    ) {
        let cur = Rotation::cur();
        if banks == 1 {
            table.function_lookup(meta, "elementwise function", 0, |vc| {
                let [t, qv, ov] = [
                    vc.query_fixed(ftag, cur),
                    vc.query_advice(q, cur),
                    vc.query_advice(out, cur),
                ];
                match sel.first() {
                    None => [t, qv, ov],
                    Some(&f) => {
                        let f = vc.query_fixed(f, cur);
                        [t, f.clone() * qv, f * ov]
                    }
                }
            });
            return;
        }
        for (b, &s) in sel.iter().enumerate() {
            table.function_lookup(meta, "elementwise function (split tables)", b, |vc| {
                let s = vc.query_fixed(s, cur);
                [
                    s.clone() * vc.query_fixed(ftag, cur),
                    s.clone() * vc.query_advice(q, cur),
                    s * vc.query_advice(out, cur),
                ]
            });
        }
    }

    /// Three fixed columns that only this lane's gate reads, and only on rows where its
    /// selector is on: free for another chip on rows the lane does not use (the Poseidon chip
    /// keeps its round constants there).
    pub fn free_fixed(&self) -> [Column<Fixed>; 3] {
        [self.qa, self.qc, self.rs]
    }

    /// The sentinel row (see [`super::sentinel`]): `q = out = 1` (and `r = 1`), with `fn = 1`
    /// under tag 0, so each of the lane's lookups has a non-zero input there: `(0, 1, 1)` is in
    /// the function table (the identity part of it with `identity_table`), `1` and
    /// `1 + 2^(B-1)` in the range table. The selector is off and no cell of the row is copied:
    /// nothing of the statement depends on it.
    pub(crate) fn assign_sentinel(
        &self,
        a: &mut Assigner<'_, '_>,
        lane: u16,
        row: u32,
        wit: Wit<'_>,
    ) {
        let one = wit.map(Some(1));
        a.advice(AdvCol::ElQ(lane), self.q, row, one);
        a.advice(AdvCol::ElOut(lane), self.out, row, one);
        if let Some(r) = self.r {
            a.advice(AdvCol::ElR(lane), r, row, one);
        }
        for &s in &self.sel {
            a.fixed(s, row, F::ONE);
        }
        if let Some(limbs) = &self.limbs {
            limbs.assign(a, (lane, row), &FnKind::Identity, (Some(1), Some(1)), wit);
        }
    }

    /// Assigns one segment of an elementwise op.
    pub(crate) fn assign(
        &self,
        a: &mut Assigner<'_, '_>,
        seg: &ElSeg,
        op: &ElemOp,
        g: &QuantizedGraph,
        wit: Wit<'_>,
        homes: &[Vec<Pos>],
    ) -> Result<(), Error> {
        let lane = seg.lane;
        let pre = op.premul(g.bits);
        let func = &g.functions[op.func as usize];
        let zero = wit.map(Some(0));
        let half = 1i128 << (g.bits - 1);
        // The selector to set on the op's rows and on remainder rows (tag 0), if any.
        let banks = g.function_banks(self.identity, self.sel.len() as u32);
        let pick = |func: u32| -> Option<Column<Fixed>> {
            match (self.sel.len(), self.identity) {
                (0, _) => None,
                (1, false) => (func > 0).then_some(self.sel[0]),
                (_, identity) if func > 0 || identity => {
                    let b = banks.bank_of.get(func as usize).copied().unwrap_or(0);
                    self.sel.get(b as usize).copied()
                }
                _ => None,
            }
        };
        let (op_sel, rem_sel) = (pick(op.func), pick(0));
        for i in 0..seg.len {
            let e = (seg.e0 + i) as usize;
            let row = seg.start + self.stride * i;
            match &op.a {
                Some(o) => {
                    a.advice(AdvCol::ElA(lane), self.a, row, wit.get(o.tensor, o.at(e)));
                    a.copy(
                        Pos {
                            col: Col::ElA(lane),
                            row,
                        },
                        homes[o.tensor][o.at(e)],
                    )?;
                }
                None => a.advice(AdvCol::ElA(lane), self.a, row, zero),
            }
            if let Some(bcol) = self.b {
                match &op.b {
                    Some(o) => {
                        a.advice(AdvCol::ElB(lane), bcol, row, wit.get(o.tensor, o.at(e)));
                        a.copy(
                            Pos {
                                col: Col::ElB(lane),
                                row,
                            },
                            homes[o.tensor][o.at(e)],
                        )?;
                    }
                    None => a.advice(AdvCol::ElB(lane), bcol, row, zero),
                }
            }
            let rounded = wit.vals.map(|v| op.round(op.lin(e, v), g.bits));
            a.advice(
                AdvCol::ElQ(lane),
                self.q,
                row,
                wit.map(rounded.map(|x| x.q)),
            );
            match self.r {
                Some(rcol) => a.advice(AdvCol::ElR(lane), rcol, row, wit.map(rounded.map(|x| x.r))),
                None => {
                    // The remainder row: (tag 0, r - 2^(B-1), r - 2^(B-1)) in the lookup.
                    let shifted = wit.map(rounded.map(|x| x.r - half));
                    a.advice(AdvCol::ElQ(lane), self.q, row + 1, shifted);
                    a.advice(AdvCol::ElOut(lane), self.out, row + 1, shifted);
                    a.advice(AdvCol::ElA(lane), self.a, row + 1, zero);
                    if let Some(bcol) = self.b {
                        a.advice(AdvCol::ElB(lane), bcol, row + 1, zero);
                    }
                    if let Some(s) = rem_sel {
                        a.fixed(s, row + 1, F::ONE);
                    }
                    if let Some(limbs) = &self.limbs {
                        let r = rounded.map(|x| x.r - half);
                        limbs.assign(a, (lane, row + 1), &FnKind::Identity, (r, r), wit);
                    }
                }
            }
            let out = rounded.map(|x| func.eval(x.q as i64) as i128);
            a.advice(AdvCol::ElOut(lane), self.out, row, wit.map(out));
            if let Some(limbs) = &self.limbs {
                limbs.assign(a, (lane, row), func, (rounded.map(|x| x.q), out), wit);
            }
            a.fixed(self.qa, row, fe(op.qa.at(e) as i128 * pre));
            if let (Some(qb), Some(qm)) = (self.qb, self.qm) {
                a.fixed(qb, row, fe(op.qb.at(e) as i128 * pre));
                a.fixed(qm, row, fe(op.qm.at(e) as i128 * pre));
            }
            a.fixed(self.qc, row, fe(op.qc.at(e) as i128 * pre));
            a.fixed(self.rs, row, if op.shift > 0 { F::ONE } else { F::ZERO });
            a.fixed(self.ftag, row, F::from(op.func as u64));
            if let Some(s) = op_sel {
                a.fixed(s, row, F::ONE);
            }
            a.enable(&self.enable, row)?;
        }
        Ok(())
    }
}
