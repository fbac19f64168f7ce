//! What both requantization lanes ([`super::requant`], three rows per element, and
//! [`super::requant_row`], one) do the same way in the model circuit: write their cells through
//! the [`Assigner`] (test overrides by role) and lay out a segment of an op, element by
//! element, each accumulator copied from its home.

use super::requant::{CellWriter, RequantCells, RequantChipError};
use super::requant_row::RowCells;
use super::{AdvCol, Assigner, ModelConfig, Wit};
use crate::field::F;
use crate::graph::requant::Dyadic;
use crate::graph::{QOp, QuantizedGraph, RequantOp};
use crate::plan::{Col, ElSeg, Pos};
use halo2_proofs::circuit::{Cell, Value};
use halo2_proofs::plonk::{Advice, Column, Error, Fixed, Selector};

/// A requantization lane laid out one element at a time.
pub trait ElementLane {
    /// The witness of one element.
    type Cells;
    /// Rows per element.
    const ROWS: u32;

    /// Lays out one element at `row` (`cells` is `None` during key generation) and returns
    /// its `acc` and `y` cells.
    fn assign_element(
        &self,
        w: &mut impl CellWriter,
        row: u32,
        at: (&Dyadic, i64),
        cells: Option<&Self::Cells>,
    ) -> Result<(Cell, Cell), Error>;

    /// The sentinel row (see [`super::sentinel`]).
    fn sentinel(&self, w: &mut impl CellWriter, row: u32);

    /// The role of advice column `col` in lane `index`, for test overrides.
    fn role(&self, col: Column<Advice>, index: u16) -> AdvCol;
}

/// Writes one lane's cells through the model circuit's [`Assigner`].
struct ModelWriter<'x, 'a, 'r, L> {
    a: &'x mut Assigner<'a, 'r>,
    lane: &'x L,
    index: u16,
}

impl<L: ElementLane> CellWriter for ModelWriter<'_, '_, '_, L> {
    fn advice(&mut self, col: Column<Advice>, row: u32, v: Value<F>) -> Cell {
        let role = self.lane.role(col, self.index);
        self.a.advice(role, col, row, v);
        Cell {
            row_offset: row as usize,
            column: col.into(),
        }
    }

    fn fixed(&mut self, col: Column<Fixed>, row: u32, v: F) {
        self.a.fixed(col, row, v);
    }

    fn enable(&mut self, s: &Selector, row: u32) -> Result<(), Error> {
        self.a.enable(s, row)
    }
}

/// The sentinel row of lane `index` in the model circuit.
pub(crate) fn assign_sentinel<L: ElementLane>(
    lane: &L,
    a: &mut Assigner<'_, '_>,
    index: u16,
    row: u32,
) {
    lane.sentinel(&mut ModelWriter { a, lane, index }, row);
}

/// Lays out one segment of a requantization op in lane `index` of the model circuit, each
/// element's witness from `honest` (its rule, accumulator and offset), each accumulator copied
/// from its home (`Col::Rq`).
pub(crate) fn assign_segment<L: ElementLane>(
    lane: &L,
    a: &mut Assigner<'_, '_>,
    (index, seg): (u16, &ElSeg),
    (op, wit, homes): (&RequantOp, Wit<'_>, &[Vec<Pos>]),
    honest: impl Fn(&Dyadic, (i64, i64)) -> Result<L::Cells, RequantChipError>,
) -> Result<(), Error> {
    for i in 0..seg.len {
        let (e, row) = ((seg.e0 + i) as usize, seg.start + L::ROWS * i);
        let rule = op.rule(e).ok_or(Error::Synthesis)?;
        let offset = op.offset(e);
        let cells = match wit.int(op.input, e) {
            Some(acc) => {
                let acc = i64::try_from(acc).map_err(|_| Error::Synthesis)?;
                Some(honest(rule, (acc, offset)).map_err(|_| Error::Synthesis)?)
            }
            None => None,
        };
        let mut w = ModelWriter {
            a: &mut *a,
            lane,
            index,
        };
        lane.assign_element(&mut w, row, (rule, offset), cells.as_ref())?;
        let src = homes[op.input].get(e).ok_or(Error::Synthesis)?;
        let at = Pos {
            col: Col::Rq(index),
            row,
        };
        a.copy(at, *src)?;
    }
    Ok(())
}

/// Lays out every requantization segment of the layout in its lane (three-row or one-row
/// lanes, as the shape says).
pub(crate) fn assign_all(
    a: &mut Assigner<'_, '_>,
    cfg: &ModelConfig,
    (g, segs): (&QuantizedGraph, &[ElSeg]),
    wit: Wit<'_>,
    homes: &[Vec<Pos>],
) -> Result<(), Error> {
    let clamp = match cfg.rq_row.is_empty() {
        true => None,
        false => Some(g.requant_clamp_width().ok_or(Error::Synthesis)?),
    };
    for seg in segs {
        let QOp::Requant(op) = &g.ops[seg.op as usize] else {
            return Err(Error::Synthesis);
        };
        let (at, data) = ((seg.lane, seg), (op, wit, homes));
        let lane = seg.lane as usize;
        match (cfg.rq.get(lane), cfg.rq_row.get(lane), clamp) {
            (Some(l), _, _) => assign_segment(l, a, at, data, |rule, acc| {
                RequantCells::honest(rule, acc, l.dims())
            })?,
            (None, Some(l), Some(clamp)) => assign_segment(l, a, at, data, |rule, acc| {
                RowCells::honest(rule, acc, l.dims(), clamp)
            })?,
            _ => return Err(Error::Synthesis),
        }
    }
    Ok(())
}
