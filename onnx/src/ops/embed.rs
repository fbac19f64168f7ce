//! Gather of a constant table by computed integer indices (token-id embeddings,
//! `Gather(W, ids)` with `W` of shape `[V, ...]` and `axis = 0`).
//!
//! Each element position `c` of a table row becomes one tabulated function
//! `f_c(i) = W[i][c]` over the indices `[0, V)`, so the lookup both reads the table and proves
//! the index is a row of it. The output is the view that interleaves the columns. The table's
//! scale comes from its own largest entry, not from calibration: any row may be picked.

use crate::quantize::{Lin, NewTensor, QuantCtx};
use crate::FrontendError;
use zkinfer_circuits::graph::FnKind;

/// Lowers `Gather(table, indices)` for a constant table and computed integer indices.
pub(super) fn lower(q: &mut QuantCtx<'_>, node: usize, axis: i64) -> Result<(), FrontendError> {
    let table = q
        .const_input(node, 0)
        .ok_or_else(|| q.err(node, "the gathered table must be constant"))?;
    if axis != 0 {
        return Err(q.err(
            node,
            format!("Gather by computed indices is supported along axis 0 only (got axis {axis})"),
        ));
    }
    let ids = q.act_input(node, 1)?;
    let integer = q
        .input_id(node, 1)
        .is_some_and(|t| q.model.tensors[t].dtype == crate::tensor::DType::Int);
    if ids.scale != 0 || !integer {
        return Err(q.err(
            node,
            "Gather indices must be integers from an int32/int64 graph input",
        ));
    }
    let rows = *table
        .shape
        .first()
        .ok_or_else(|| q.err(node, "cannot gather from a scalar"))?;
    if rows == 0 || rows >= 1 << (q.bits - 1) {
        return Err(q.err(
            node,
            format!(
                "a table of {rows} rows does not fit {} bit activations",
                q.bits
            ),
        ));
    }
    let width = table.len() / rows;
    if width > usize::from(u16::MAX) {
        return Err(q.err(node, format!("table rows of {width} elements are too wide")));
    }
    let scale = q.scale_for_max(table.data.iter().fold(0.0f64, |m, v| m.max(v.abs())));
    let n = q.graph.tensors[ids.id].len();
    let out = q.node(node).outputs[0];
    let name = q.model.tensors[out].name.clone();
    let op_name = q.node(node).name.clone();
    let mut cols = Vec::with_capacity(width);
    for c in 0..width {
        let values = (0..rows)
            .map(|r| q.fixed(node, table.data[r * width + c], scale))
            .collect::<Result<Vec<_>, _>>()?;
        let col = q.emit(
            format!("{op_name} (column {c})"),
            NewTensor {
                name: &format!("{name} (column {c})"),
                shape: vec![n],
                scale,
            },
            Lin::of(ids),
            0,
            FnKind::Tabulated { lo: 0, values },
        );
        cols.push(col.id);
    }
    let map = (0..n)
        .flat_map(|p| (0..width).map(move |c| (c as u16, p as u32)))
        .collect();
    q.bind_view(node, cols, map, scale, out);
    Ok(())
}
