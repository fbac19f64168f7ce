//! Conv, Gemm and MatMul of int8 activations by constant int8 weights (QOperator and QDQ), and
//! the requantization of accumulators (see `int8::linear` for the arithmetic).

use super::*;

/// Where a linear op's outputs go: its geometry, output shape and elements per channel, and a
/// bias added element by element (none: empty).
pub(super) struct Layout {
    pub(super) geometry: Geometry,
    pub(super) shape: Vec<usize>,
    pub(super) inner: usize,
    pub(super) element_bias: Vec<i64>,
}

/// A Conv/Gemm/MatMul of a QDQ pattern, waiting for its QuantizeLinear.
pub(super) struct Pending {
    pub(super) node: String,
    pub(super) acc: TensorId,
    pub(super) weights: Weights,
    pub(super) x: QParams,
    pub(super) alpha: f32,
    pub(super) inner: usize,
    pub(super) offsets: Vec<i64>,
    pub(super) shape: Vec<usize>,
}

pub(super) fn bias_of(bias: Option<&Const>, m: usize, name: &str) -> Result<Vec<i64>, ImportError> {
    match bias {
        None => Ok(vec![0; m]),
        Some(b) => {
            let v = ints(b, name, "the bias")?;
            if v.len() != m {
                return Err(ImportError::at(
                    name,
                    format!("bias has {} values for {m} channels", v.len()),
                ));
            }
            Ok(v)
        }
    }
}

/// Whether a bias of `bias` shape broadcast to `out` is one value per output channel (the last
/// axis): every axis before its last is 1.
fn per_channel(bias: &[usize], out: &[usize]) -> bool {
    let n = out.last().copied().unwrap_or(0);
    bias.iter().product::<usize>() == n
        && bias
            .split_last()
            .is_none_or(|(&l, lead)| l == n && lead.iter().all(|&d| d == 1))
}

/// A conv's weights and its layout: geometry, output shape `[1, m, oh, ow]`, elements per
/// channel.
pub(super) fn conv_weights(
    np: &pb::NodeProto,
    name: &str,
    x: &Act,
    (w, params): (&Const, QParams),
    bias: Option<&Const>,
) -> Result<(Weights, Layout), ImportError> {
    let attrs = Attrs::new(np, name);
    let fe = |e: crate::FrontendError| ImportError::at(name, e.to_string());
    let groups = attrs.int("group").map_err(fe)?.unwrap_or(1);
    let ([_, c, h, wd], [m, wc, kh, kw]) = (dims4(&x.shape, name)?, dims4(&w.t.shape, name)?);
    crate::ops::batch_of_one(name, &x.shape).map_err(fe)?;
    let groups = usize::try_from(groups)
        .ok()
        .filter(|&g| g >= 1 && c.is_multiple_of(g) && m.is_multiple_of(g) && wc * g == c)
        .ok_or_else(|| {
            ImportError::at(
                name,
                format!("group {groups} does not divide the {c} input and {m} output channels of weights {:?}", w.t.shape),
            )
        })?;
    let window = Window::parse(&attrs, true).map_err(fe)?;
    window.plane(name, &x.shape).map_err(fe)?;
    let (out, pads) = window.resolve(name, [h, wd], [kh, kw]).map_err(fe)?;
    let geometry = Geometry::Conv2d {
        c,
        h,
        w: wd,
        kernel: [kh, kw],
        stride: window.strides,
        pad: [pads[0], pads[1]],
        dilation: window.dilations,
        out,
        groups,
    };
    params.check_axis(name, 0)?;
    let weights = Weights {
        w: ints(w, name, "the weights")?,
        bias: bias_of(bias, m, name)?,
        element_bias: 0,
        m,
        groups,
        params,
    };
    let layout = Layout {
        geometry,
        shape: vec![1, m, out[0], out[1]],
        inner: out[0] * out[1],
        element_bias: Vec::new(),
    };
    Ok((weights, layout))
}

/// A dense layer's weights (`n × k` rows from `B`, transposed unless `trans_b`) and its layout
/// over an input of `rows × k`.
pub(super) fn dense_weights(
    name: &str,
    x: &Act,
    (w, params): (&Const, QParams),
    bias: Option<&Const>,
    trans_b: bool,
) -> Result<(Weights, Layout), ImportError> {
    let (&k, lead) = x
        .shape
        .split_last()
        .ok_or_else(|| ImportError::at(name, "a scalar input"))?;
    let rows: usize = lead.iter().product();
    let &[b0, b1] = w.t.shape.as_slice() else {
        return Err(ImportError::at(name, "weights must be a matrix"));
    };
    let (wk, n) = if trans_b { (b1, b0) } else { (b0, b1) };
    if wk != k {
        return Err(ImportError::at(
            name,
            format!(
                "weights {:?} do not match the input {:?}",
                w.t.shape, x.shape
            ),
        ));
    }
    let raw = ints(w, name, "the weights")?;
    let rows_of_w: Vec<i64> = match trans_b {
        true => raw,
        false => (0..n)
            .flat_map(|c| (0..k).map(move |t| (c, t)))
            .map(|(c, t)| raw[t * n + c])
            .collect(),
    };
    let mut shape = lead.to_vec();
    shape.push(n);
    let geometry = Geometry::Dense {
        outer: 1,
        inner: rows,
        xs: [0, k, 1],
        ys: [0, n, 1],
        sets: None,
    };
    // A bias of one value per output channel goes into the weights; any other broadcastable
    // one (per row, per element) is added element by element.
    let per_element = match bias {
        Some(b) if !per_channel(&b.t.shape, &shape) => {
            let v = ints(b, name, "the bias")?;
            let fe = |e: crate::FrontendError| ImportError::at(name, e.to_string());
            if crate::tensor::broadcast_shape(&b.t.shape, &shape, name).map_err(fe)? != shape {
                return Err(ImportError::at(
                    name,
                    format!(
                        "bias of shape {:?} does not broadcast to the output {shape:?}",
                        b.t.shape
                    ),
                ));
            }
            let at = crate::tensor::broadcast_index(&b.t.shape, &shape);
            at.iter().map(|&i| v[i as usize]).collect()
        }
        _ => Vec::new(),
    };
    let channel_bias = if per_element.is_empty() { bias } else { None };
    params.check_axis(name, if trans_b { 0 } else { 1 })?;
    let weights = Weights {
        w: rows_of_w,
        bias: bias_of(channel_bias, n, name)?,
        element_bias: per_element.iter().map(|b: &i64| b.abs()).max().unwrap_or(0),
        m: n,
        groups: 1,
        params,
    };
    Ok((
        weights,
        Layout {
            geometry,
            shape,
            inner: 1,
            element_bias: per_element,
        },
    ))
}

/// A MatMul's constant left operand `A` (`m × k`, one channel per row) applied to each column
/// of `x`'s last two axes (`[…, k, n]`), and the layout of the product `[…, m, n]`.
pub(super) fn left_weights(
    name: &str,
    x: &Act,
    (a, params): (&Const, QParams),
) -> Result<(Weights, Layout), ImportError> {
    let &[m, k] = a.t.shape.as_slice() else {
        return Err(ImportError::at(
            name,
            "a MatMul's constant left operand must be a matrix",
        ));
    };
    let (lead, tail) = x.shape.split_at(x.shape.len().saturating_sub(2));
    let &[kx, n] = tail else {
        return Err(ImportError::at(
            name,
            "a MatMul's right operand must have two axes or more",
        ));
    };
    if kx != k {
        return Err(ImportError::at(
            name,
            format!("shapes {:?} and {:?} do not multiply", a.t.shape, x.shape),
        ));
    }
    let geometry = Geometry::Dense {
        outer: lead.iter().product(),
        inner: n,
        xs: [k * n, 1, n],
        ys: [m * n, 1, n],
        sets: None,
    };
    params.check_axis(name, 0)?;
    let weights = Weights {
        w: ints(a, name, "the weights")?,
        bias: vec![0; m],
        element_bias: 0,
        m,
        groups: 1,
        params,
    };
    let mut shape = lead.to_vec();
    shape.extend([m, n]);
    let layout = Layout {
        geometry,
        shape,
        inner: n,
        element_bias: Vec::new(),
    };
    Ok((weights, layout))
}

pub(super) struct GemmAttrs {
    pub(super) alpha: f32,
    pub(super) beta: f32,
    pub(super) trans_a: bool,
    pub(super) trans_b: bool,
}

pub(super) fn gemm_attrs(np: &pb::NodeProto, name: &str) -> Result<GemmAttrs, ImportError> {
    let a = Attrs::new(np, name);
    let fe = |e: crate::FrontendError| ImportError::at(name, e.to_string());
    Ok(GemmAttrs {
        trans_a: a.int("transA").map_err(fe)?.unwrap_or(0) != 0,
        alpha: a.float("alpha").map_err(fe)?.unwrap_or(1.0) as f32,
        beta: a.float("beta").map_err(fe)?.unwrap_or(1.0) as f32,
        trans_b: a.int("transB").map_err(fe)?.unwrap_or(0) != 0,
    })
}

impl Importer {
    /// The linear op of `w` over `x`; returns the accumulator and its offsets.
    pub(super) fn linear(
        &mut self,
        name: &str,
        x: &Act,
        w: &Weights,
        geometry: Geometry,
        shape: &[usize],
    ) -> Result<(TensorId, Vec<i64>), ImportError> {
        // (Sizes are capped before anything is allocated per output element.)
        crate::tensor::checked_len(shape, name)
            .map_err(|e| ImportError::at(name, e.to_string()))?;
        let acc = self.tensor(
            &format!("{name} (accumulator)"),
            shape.to_vec(),
            TensorKind::Accumulator,
            None,
        )?;
        let op = w.op(name, (x.id, acc), geometry);
        let n = shape.iter().product();
        let offsets = Weights::offsets(&op, x.q.zp(0), n);
        self.g.ops.push(QOp::Linear(op));
        Ok((acc, offsets))
    }

    /// The requantization of a linear op's accumulator to `y`.
    pub(super) fn requant(
        &mut self,
        p: &Pending,
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
        y.affine(out)?; // an activation's parameters, checked before the fit relies on them
        let r = Requant {
            x: &p.x,
            y,
            alpha: p.alpha,
        };
        let rules: Vec<ChannelRule> = p.weights.rules(&p.node, &r)?;
        let acc = Accumulated {
            id: p.acc,
            shape: p.shape.clone(),
            inner: p.inner,
            offsets: p.offsets.clone(),
        };
        self.requantize(&p.node, acc, &rules, y, out)
    }

    /// Accumulator `acc` of `shape` (plus `offsets`, one per element; none: empty) requantized
    /// to `y` by one rule for every element.
    pub(super) fn requantize_all(
        &mut self,
        name: &str,
        (id, shape, offsets): (TensorId, Vec<usize>, Vec<i64>),
        rule: ChannelRule,
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
        let inner = shape.iter().product();
        let acc = Accumulated {
            id,
            shape,
            inner,
            offsets,
        };
        self.requantize(name, acc, &[rule], y, out)
    }

    /// `acc` requantized to `y` by `rules` (one per `acc.inner` elements), reported for
    /// `compile`'s summary.
    pub(super) fn requantize(
        &mut self,
        node: &str,
        acc: Accumulated,
        rules: &[ChannelRule],
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
        let quotient_bits = self.quotient_bits(quotient_bound(rules));
        self.report_requant(node, rules);
        let id = self.tensor(out, acc.shape.clone(), TensorKind::Activation, Some(y))?;
        self.g.ops.push(QOp::Requant(RequantOp {
            name: node.to_string(),
            input: acc.id,
            output: id,
            rules: rules.iter().map(|c| c.rule).collect(),
            inner: u32::try_from(acc.inner).unwrap_or(u32::MAX),
            offsets: acc.offsets,
            quotient_bits,
        }));
        Ok(Act {
            id,
            q: y.clone(),
            shape: acc.shape,
        })
    }

    /// The sums of `input`'s `rows` rows of `n` (an accumulator named `{name} ({what})`).
    pub(super) fn row_sums(
        &mut self,
        (name, what): (&str, &str),
        input: TensorId,
        (rows, n): (usize, usize),
    ) -> Result<TensorId, ImportError> {
        let sum = self.tensor(
            &format!("{name} ({what})"),
            vec![rows],
            TensorKind::Accumulator,
            None,
        )?;
        let op = LinearOp::row_sums(name, (input, sum), (rows, n));
        self.g.ops.push(QOp::Linear(op));
        Ok(sum)
    }

    /// Notes `node`'s requantization `rules` for `compile`'s summary.
    pub(super) fn report_requant(&mut self, node: &str, rules: &[ChannelRule]) {
        self.requants.push(RequantReport {
            node: node.to_string(),
            channels: rules.len(),
            exact: rules.iter().filter(|c| c.exact).count(),
            half_even: rules
                .iter()
                .filter(|c| c.exact && c.rule.rounding() == Rounding::HalfEven)
                .count(),
        });
    }

    /// The bits of a requantization's quotients before the clamp (at most `quotient`, with the
    /// clamp's headroom), noted for the graph's width.
    pub(super) fn quotient_bits(&mut self, quotient: i64) -> u32 {
        let need = u64::try_from(quotient.max(256)).unwrap_or(u64::MAX) + 2;
        let bits = (64 - need.leading_zeros() + 1).min(62);
        self.q_bits = self.q_bits.max(bits);
        bits
    }

    /// A linear op, pending its requantization.
    pub(super) fn pending(
        &mut self,
        name: &str,
        x: &Act,
        w: Weights,
        layout: Layout,
        alpha: f32,
    ) -> Result<Pending, ImportError> {
        if !(w.params.scales.len() == 1 || w.params.scales.len() == w.m) {
            return Err(ImportError::at(
                name,
                "weight scales must be one per tensor or one per output channel",
            ));
        }
        let (acc, mut offsets) = self.linear(name, x, &w, layout.geometry, &layout.shape)?;
        for (o, b) in offsets.iter_mut().zip(&layout.element_bias) {
            *o = o.saturating_add(*b);
        }
        Ok(Pending {
            node: name.to_string(),
            acc,
            weights: w,
            x: x.q.clone(),
            alpha,
            inner: layout.inner,
            offsets,
            shape: layout.shape,
        })
    }

    /// QLinearConv's and QLinearMatMul's operands: `x` (0, its parameters at 1, 2), the
    /// weights (3) with theirs (4, 5), and the output's parameters (6, 7).
    fn qlinear_operands(
        &self,
        np: &pb::NodeProto,
        name: &str,
    ) -> Result<(Act, (Const, QParams), QParams), ImportError> {
        let x = self.qlinear_act(np, 0, name)?;
        let wp = self.params(np, (4, 5), name)?;
        let y = self.params(np, (6, 7), name)?;
        let w = self.konst(np, 3, name)?.clone();
        Ok((x, (w, wp), y))
    }

    pub(super) fn qlinear_conv(
        &mut self,
        np: &pb::NodeProto,
        name: &str,
    ) -> Result<Val, ImportError> {
        let (x, (w, wp), y) = self.qlinear_operands(np, name)?;
        let bias = self.opt_konst(np, 8, name)?;
        let (w, layout) = conv_weights(np, name, &x, (&w, wp), bias.as_ref())?;
        let p = self.pending(name, &x, w, layout, 1.0)?;
        self.requant(&p, &y, &output(np, name)?).map(Val::Q)
    }

    pub(super) fn qdq_conv(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
        let x = self.dq_act(np, 0, name)?;
        let (w, wp) = self.dq_const(np, 1, name)?;
        let bias = self.opt_dq_const(np, 2, name)?;
        let (w, layout) = conv_weights(np, name, &x, (&w, wp), bias.as_ref())?;
        Ok(Val::Pending(Box::new(
            self.pending(name, &x, w, layout, 1.0)?,
        )))
    }

    pub(super) fn qgemm(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
        let x = self.qlinear_act(np, 0, name)?;
        let wp = self.params(np, (4, 5), name)?;
        if arg(np, 7).is_none() {
            return Err(ImportError::at(
                name,
                "QGemm with a float output (no y_scale) is not imported",
            ));
        }
        let y = self.params(np, (7, 8), name)?;
        let w = self.konst(np, 3, name)?.clone();
        let bias = self.opt_konst(np, 6, name)?;
        let a = gemm_attrs(np, name)?;
        let x = self.gemm_input(x, &a, name)?;
        let (w, layout) = dense_weights(name, &x, (&w, wp), bias.as_ref(), a.trans_b)?;
        let p = self.pending(name, &x, w, layout, a.alpha)?;
        self.requant(&p, &y, &output(np, name)?).map(Val::Q)
    }

    pub(super) fn qdq_gemm(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
        let x = self.dq_act(np, 0, name)?;
        let (w, wp) = self.dq_const(np, 1, name)?;
        let bias = self.opt_dq_const(np, 2, name)?;
        let a = gemm_attrs(np, name)?;
        if a.beta != 1.0 {
            return Err(ImportError::at(name, "Gemm with beta ≠ 1 is not imported"));
        }
        let x = self.gemm_input(x, &a, name)?;
        let (w, layout) = dense_weights(name, &x, (&w, wp), bias.as_ref(), a.trans_b)?;
        Ok(Val::Pending(Box::new(
            self.pending(name, &x, w, layout, a.alpha)?,
        )))
    }

    /// A Gemm's `A`: the input, or its transpose (a view) with `transA`.
    pub(super) fn gemm_input(
        &mut self,
        x: Act,
        a: &GemmAttrs,
        name: &str,
    ) -> Result<Act, ImportError> {
        if !a.trans_a {
            return Ok(x);
        }
        let &[r, c] = x.shape.as_slice() else {
            return Err(ImportError::at(name, "Gemm's A must be a matrix"));
        };
        let shape = vec![c, r];
        let id = self.tensor(
            &format!("{name} (A transposed)"),
            shape.clone(),
            TensorKind::Activation,
            Some(&x.q),
        )?;
        let (_, idx) = crate::tensor::transpose_index(&x.shape, &[1, 0]);
        self.g.ops.push(QOp::View(ViewOp {
            name: format!("{name} transA"),
            inputs: vec![x.id],
            output: id,
            map: idx.into_iter().map(|e| (0u16, e)).collect(),
        }));
        Ok(Act { id, q: x.q, shape })
    }

    pub(super) fn qlinear_matmul(
        &mut self,
        np: &pb::NodeProto,
        name: &str,
    ) -> Result<Val, ImportError> {
        if arg(np, 0).is_some_and(|n| self.consts.contains_key(n)) {
            // A constant on the left: `A·x`.
            let x = self.qlinear_act(np, 3, name)?;
            let (a, ap) = (
                self.konst(np, 0, name)?.clone(),
                self.params(np, (1, 2), name)?,
            );
            let y = self.params(np, (6, 7), name)?;
            let (w, layout) = left_weights(name, &x, (&a, ap))?;
            let p = self.pending(name, &x, w, layout, 1.0)?;
            return self.requant(&p, &y, &output(np, name)?).map(Val::Q);
        }
        let (x, (w, wp), y) = self.qlinear_operands(np, name)?;
        let (w, layout) = dense_weights(name, &x, (&w, wp), None, false)?;
        let p = self.pending(name, &x, w, layout, 1.0)?;
        self.requant(&p, &y, &output(np, name)?).map(Val::Q)
    }

    pub(super) fn qdq_matmul(
        &mut self,
        np: &pb::NodeProto,
        name: &str,
    ) -> Result<Val, ImportError> {
        if let Ok((a, ap)) = self.dq_const(np, 0, name) {
            // A constant on the left: `A·x`.
            let x = self.dq_act(np, 1, name)?;
            let (w, layout) = left_weights(name, &x, (&a, ap))?;
            return Ok(Val::Pending(Box::new(
                self.pending(name, &x, w, layout, 1.0)?,
            )));
        }
        let x = self.dq_act(np, 0, name)?;
        let (w, wp) = self.dq_const(np, 1, name)?;
        let (w, layout) = dense_weights(name, &x, (&w, wp), None, false)?;
        Ok(Val::Pending(Box::new(
            self.pending(name, &x, w, layout, 1.0)?,
        )))
    }
}
