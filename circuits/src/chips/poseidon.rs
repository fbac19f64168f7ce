//! Poseidon chip: the sponge of [`crate::poseidon`] over packed public words, for hashed public
//! I/O. The state `(x0, x1, x2)` lives in three advice columns: `cap` (its own) and the pack
//! chip's `acc` and `v` columns; the round constants `rc` live in three fixed columns of
//! elementwise lane 0 that its gate leaves free off its rows. The sponges take the last usable
//! rows (the layout keeps lane 0's segments above them), so hashing adds one advice column and
//! two fixed (selector) columns to the circuit.
//!
//! Rows of one sponge, each relation on three consecutive rows (`prev`, `cur`, `next`, the
//! rotations the circuit already opens):
//!
//! ```text
//! state row s:  init (first chunk): x = (rc0, 0, 0), rc0 = the domain tag
//! word row:     absorb: x[next] = x[prev] + (0, acc, v), the words copied into acc and v;
//!               a lone last word's partner is copied from the init row's `v`, a zero
//! per round, a state row then a square row:
//!   full:       y_i = (x_i[prev] + rc_i)^2,  x[next] = M · (y_i^2 · (x_i[prev] + rc_i))_i
//!   partial:    y_0 = (x_0[prev] + rc_0)^2,  x[next] = M · (y_0^2·(x_0+rc_0), x_1+rc_1, x_2+rc_2)
//! ```
//!
//! Splitting each S-box into a square and a product keeps every gate at degree 4, within the
//! circuit's degree 5 (a whole `x^5` behind a selector would need 6 and double the extended
//! domain). Each chunk takes [`crate::poseidon::CHUNK_ROWS`] rows; the final state row holds
//! the hash in `x1`, copied to the sponge's instance row.

use super::pack::PackConfig;
use super::{known, AdvCol, Assigner};
use crate::field::F;
use crate::plan::{Col, Pos, Sponge};
use crate::poseidon::{constants, is_full_round, round, State, RATE, ROUNDS, WIDTH};
use halo2_proofs::circuit::Value;
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{
    Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector, VirtualCells,
};
use halo2_proofs::poly::Rotation;

/// Columns and selectors of the Poseidon chip.
#[derive(Clone, Debug)]
pub struct PoseidonConfig {
    /// State element 0 (the capacity); elements 1 and 2 are the pack chip's `acc` and `v`.
    pub cap: Column<Advice>,
    acc: Column<Advice>,
    v: Column<Advice>,
    rc: [Column<Fixed>; WIDTH],
    init: Selector,
    absorb: Selector,
    full: Selector,
    partial: Selector,
}

impl PoseidonConfig {
    /// Declares the chip's gates over a fresh capacity column, the pack chip's columns and the
    /// borrowed fixed columns `rc`.
    pub fn configure(
        meta: &mut ConstraintSystem<F>,
        pack: &PackConfig,
        rc: [Column<Fixed>; WIDTH],
    ) -> Self {
        let cap = meta.advice_column();
        let (acc, v) = (pack.acc, pack.v);
        let (init, absorb, full, partial) = (
            meta.selector(),
            meta.selector(),
            meta.selector(),
            meta.selector(),
        );
        let cols = [cap, acc, v];
        let mds = constants().mds;
        let state = move |vc: &mut VirtualCells<'_, F>, rot: Rotation| {
            cols.map(|c| vc.query_advice(c, rot))
        };
        meta.create_gate("poseidon init", |vc| {
            let s = vc.query_selector(init);
            let [x0, x1, x2] = state(vc, Rotation::cur());
            let dom = vc.query_fixed(rc[0], Rotation::cur());
            vec![s.clone() * (x0 - dom), s.clone() * x1, s * x2]
        });
        meta.create_gate("poseidon absorb", |vc| {
            let s = vc.query_selector(absorb);
            let [x0, x1, x2] = state(vc, Rotation::prev());
            let [_, w1, w2] = state(vc, Rotation::cur());
            let [n0, n1, n2] = state(vc, Rotation::next());
            vec![
                s.clone() * (n0 - x0),
                s.clone() * (n1 - x1 - w1),
                s * (n2 - x2 - w2),
            ]
        });
        // `t_i = x_i + rc_i`; the first `boxed` elements go through the S-box.
        let mut round_gate = |name: &'static str, sel: Selector, boxed: usize| {
            meta.create_gate(name, |vc| {
                let s = vc.query_selector(sel);
                let x = state(vc, Rotation::prev());
                let y = state(vc, Rotation::cur());
                let next = state(vc, Rotation::next());
                let t: Vec<Expression<F>> = (0..WIDTH)
                    .map(|i| x[i].clone() + vc.query_fixed(rc[i], Rotation::cur()))
                    .collect();
                let mut out: Vec<Expression<F>> = (0..boxed)
                    .map(|i| s.clone() * (y[i].clone() - t[i].clone() * t[i].clone()))
                    .collect();
                let after_sbox: Vec<Expression<F>> = (0..WIDTH)
                    .map(|i| {
                        if i < boxed {
                            y[i].clone() * y[i].clone() * t[i].clone()
                        } else {
                            t[i].clone()
                        }
                    })
                    .collect();
                for (i, row) in mds.iter().enumerate() {
                    let mixed = row
                        .iter()
                        .zip(&after_sbox)
                        .map(|(m, b)| Expression::Constant(*m) * b.clone())
                        .fold(Expression::Constant(F::ZERO), |a, b| a + b);
                    out.push(s.clone() * (next[i].clone() - mixed));
                }
                out
            });
        };
        round_gate("poseidon full round", full, WIDTH);
        round_gate("poseidon partial round", partial, 1);
        PoseidonConfig {
            cap,
            acc,
            v,
            rc,
            init,
            absorb,
            full,
            partial,
        }
    }

    /// Assigns every sponge. `words[s]` are the word values of sponge `s` (unknown at key
    /// generation); each sponge's hash is copied to instance row `s`.
    pub(crate) fn assign(
        &self,
        a: &mut Assigner<'_, '_>,
        sponges: &[Sponge],
        words: Option<&[Vec<F>]>,
    ) -> Result<(), Error> {
        let c = constants();
        for (si, sp) in sponges.iter().enumerate() {
            let vals = words.and_then(|w| w.get(si));
            let mut x: Option<State> = Some([F::from(sp.domain), F::ZERO, F::ZERO]);
            let mut row = sp.start;
            a.fixed(self.rc[0], row, F::from(sp.domain));
            a.enable(&self.init, row)?;
            for (ci, chunk) in sp.words.chunks(RATE).enumerate() {
                // State row, then the word row.
                self.put_state(a, row, x);
                let word = |k: usize| -> Option<F> {
                    if k < chunk.len() {
                        vals.map(|v| v.get(ci * RATE + k).copied().unwrap_or(F::ZERO))
                    } else {
                        Some(F::ZERO)
                    }
                };
                let (w1, w2) = (word(0), word(1));
                let wrow = row + 1;
                a.advice(AdvCol::HashCap, self.cap, wrow, Value::known(F::ZERO));
                a.advice(AdvCol::PackAcc, self.acc, wrow, known(w1));
                a.advice(AdvCol::PackV, self.v, wrow, known(w2));
                let zero = Pos {
                    col: Col::PackV,
                    row: sp.start,
                };
                let sources = [chunk.first().copied(), chunk.get(1).copied().or(Some(zero))];
                for (src, col) in sources.into_iter().zip([Col::PackAcc, Col::PackV]) {
                    if let Some(src) = src {
                        a.copy(Pos { col, row: wrow }, src)?;
                    }
                }
                a.enable(&self.absorb, wrow)?;
                x = x
                    .zip(w1)
                    .zip(w2)
                    .map(|((s, w1), w2)| [s[0], s[1] + w1, s[2] + w2]);
                row += 2;
                // Rounds: a state row, then the square row carrying the gate and constants.
                for r in 0..ROUNDS {
                    self.put_state(a, row, x);
                    let sq = row + 1;
                    let full = is_full_round(r);
                    for (col, &k) in self.rc.iter().zip(&c.rc[r]) {
                        a.fixed(*col, sq, k);
                    }
                    a.enable(if full { &self.full } else { &self.partial }, sq)?;
                    let boxed = if full { WIDTH } else { 1 };
                    let y = x.map(|s| {
                        let mut y = [F::ZERO; WIDTH];
                        for i in 0..boxed {
                            y[i] = (s[i] + c.rc[r][i]).square();
                        }
                        y
                    });
                    self.put_state(a, sq, y);
                    x = x.map(|s| round(&s, r));
                    row += 2;
                }
            }
            self.put_state(a, row, x);
            a.copy(
                Pos {
                    col: Col::PackAcc,
                    row,
                },
                Pos {
                    col: Col::Inst,
                    row: si as u32,
                },
            )?;
        }
        Ok(())
    }

    fn put_state(&self, a: &mut Assigner<'_, '_>, row: u32, x: Option<State>) {
        let roles = [AdvCol::HashCap, AdvCol::PackAcc, AdvCol::PackV];
        for (i, (col, role)) in [self.cap, self.acc, self.v]
            .into_iter()
            .zip(roles)
            .enumerate()
        {
            a.advice(role, col, row, known(x.map(|s| s[i])));
        }
    }
}
