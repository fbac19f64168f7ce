//! Token-id embeddings of imported models: `Gather` of a quantized table (QDQ: its
//! DequantizeLinear; QOperator: the int8 initializer) by an int32/int64 graph input, as the
//! float front end proves them (`ops/embed.rs`): the ids are public, checked against the
//! table's rows by a lookup of `x ↦ x` over `[0, V)`, and each column `c` of a row is the
//! table `f_c(i) = W[i][c]` over the ids; a view interleaves the columns.

use super::*;

/// An int32/int64 graph input (token ids): public, range-checked by the Gather that reads it.
#[derive(Clone, Debug)]
pub(super) struct TokenInput {
    pub(super) raw: TensorId,
    pub(super) shape: Vec<usize>,
}

impl Importer {
    /// `Gather(table, ids)` along axis 0 of a quantized table by token ids.
    pub(super) fn embedding(
        &mut self,
        np: &pb::NodeProto,
        name: &str,
        ids: &TokenInput,
    ) -> Result<Val, ImportError> {
        let fe = |e: crate::FrontendError| ImportError::at(name, e.to_string());
        let axis = Attrs::new(np, name).int("axis").map_err(fe)?.unwrap_or(0);
        if axis != 0 {
            return Err(ImportError::at(
                name,
                format!("a Gather by token ids along axis {axis} (only 0: rows of a table)"),
            ));
        }
        // QDQ: the table's DequantizeLinear; QOperator: the int8 initializer itself, whose
        // parameters the ops reading the rows declare.
        let (table, params) = match self.val(np, 0, name) {
            Ok(Val::DqConst(c, p)) => (c.clone(), Some(p.clone())),
            _ => (self.konst(np, 0, name)?.clone(), None),
        };
        if int_range(table.elem).is_none() {
            return Err(ImportError::at(
                name,
                "an embedding table must be int8 or uint8",
            ));
        }
        let values = ints(&table, name, "an embedding table")?;
        let (&rows, rest) = table
            .t
            .shape
            .split_first()
            .ok_or_else(|| ImportError::at(name, "a Gather from a scalar"))?;
        let width: usize = rest.iter().product();
        if rows == 0 || width == 0 || width > usize::from(u16::MAX) {
            return Err(ImportError::at(
                name,
                format!("a table of shape {:?} cannot be gathered", table.t.shape),
            ));
        }
        let checked = self.token_range_check(name, ids, rows)?;
        let q = params.as_ref();
        let n: usize = ids.shape.iter().product();
        let mut cols = Vec::with_capacity(width);
        for c in 0..width {
            self.g.functions.push(FnKind::Tabulated {
                lo: 0,
                values: (0..rows).map(|r| values[r * width + c]).collect(),
            });
            let func = u32::try_from(self.g.functions.len() - 1).unwrap_or(u32::MAX);
            let col = self.tensor(
                &format!("{name} (column {c})"),
                vec![n],
                TensorKind::Activation,
                q,
            )?;
            self.g.ops.push(QOp::Elementwise(identity_step(
                format!("{name} column {c}"),
                (checked, col),
                func,
            )));
            cols.push(col);
        }
        let mut shape = ids.shape.clone();
        shape.extend_from_slice(rest);
        let out = self.tensor(&output(np, name)?, shape.clone(), TensorKind::Activation, q)?;
        self.g.ops.push(QOp::View(ViewOp {
            name: format!("{name} rows"),
            inputs: cols,
            output: out,
            map: (0..n)
                .flat_map(|p| (0..width).map(move |c| (c as u16, p as u32)))
                .collect(),
        }));
        let range = int_range(table.elem).unwrap_or((-128, 127));
        Ok(match params {
            Some(q) => Val::Dq(Act { id: out, q, shape }),
            None => Val::IntInput(IntInput {
                id: out,
                shape,
                range,
            }),
        })
    }

    /// `ids` checked to lie in `[0, rows)` (a table of `x ↦ x`), once per table size.
    fn token_range_check(
        &mut self,
        name: &str,
        ids: &TokenInput,
        rows: usize,
    ) -> Result<TensorId, ImportError> {
        if let Some(&id) = self.token_checks.get(&(ids.raw, rows)) {
            return Ok(id);
        }
        let hi = i64::try_from(rows).unwrap_or(i64::MAX) - 1;
        // The ids must fit the activation range (a table of 2^(bits−1) rows or more widens it).
        let need = 64 - (hi.max(1) as u64).leading_zeros() + 1;
        self.min_bits = self.min_bits.max(need);
        self.g.functions.push(FnKind::Tabulated {
            lo: 0,
            values: (0..=hi).collect(),
        });
        let func = u32::try_from(self.g.functions.len() - 1).unwrap_or(u32::MAX);
        let raw_name = self.g.tensors[ids.raw].name.clone();
        let checked = self.tensor(
            &format!("{raw_name} (rows of {rows})"),
            vec![ids.shape.iter().product()],
            TensorKind::Activation,
            None,
        )?;
        self.g.ops.push(QOp::Elementwise(identity_step(
            format!("{name} ids range check"),
            (ids.raw, checked),
            func,
        )));
        self.token_checks.insert((ids.raw, rows), checked);
        Ok(checked)
    }
}
