//! The model circuit: a quantized graph laid out by a [`CircuitPlan`], synthesized by the chips.

use crate::chips::matmul::Product;
use crate::chips::{self, AdvCol, Assigner, ModelConfig, Tamper, Wit};
use crate::field::F;
use crate::graph::{QOp, QuantizedGraph};
use crate::plan::{CircuitPlan, CircuitShape, Col, Pos, RunRegion};
use crate::public_io::{instances, pack as pack_words};
use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::plonk::{Circuit, ConstraintSystem, Error};
use std::sync::Arc;

/// A model circuit, with or without a witness.
#[derive(Clone, Debug)]
pub struct ModelCircuit {
    /// The quantized model.
    pub graph: Arc<QuantizedGraph>,
    /// Its shape and layout.
    pub plan: Arc<CircuitPlan>,
    /// Values of every tensor (absent for key generation).
    pub witness: Option<Arc<Vec<Vec<i128>>>>,
    /// Cell overrides (negative tests only).
    pub tamper: Arc<Tamper>,
}

impl ModelCircuit {
    /// Circuit for key generation.
    pub fn for_keygen(graph: Arc<QuantizedGraph>, plan: Arc<CircuitPlan>) -> Self {
        ModelCircuit {
            graph,
            plan,
            witness: None,
            tamper: Arc::default(),
        }
    }

    /// Circuit with the values of every tensor (from [`QuantizedGraph::eval`]).
    pub fn with_witness(
        graph: Arc<QuantizedGraph>,
        plan: Arc<CircuitPlan>,
        values: Vec<Vec<i128>>,
    ) -> Self {
        ModelCircuit {
            graph,
            plan,
            witness: Some(Arc::new(values)),
            tamper: Arc::default(),
        }
    }

    /// Quantized inputs then outputs, flattened (the values the pack chip holds).
    fn public_values(&self) -> Option<(Vec<i128>, Vec<i128>)> {
        let vals = self.witness.as_ref()?;
        let flat = |ts: &[usize]| ts.iter().flat_map(|&t| vals[t].iter().copied()).collect();
        Some((flat(&self.graph.inputs), flat(&self.graph.outputs)))
    }

    /// Public instances of this witness (see [`crate::public_io`]).
    pub fn instances(&self) -> Vec<F> {
        match self.public_values() {
            Some((i, o)) => instances(self.plan.shape.public_io, self.graph.bits, &i, &o),
            None => Vec::new(),
        }
    }

    /// Returns a copy with one advice cell overridden (negative tests).
    pub fn tampered(&self, col: AdvCol, row: u32, value: F) -> Self {
        let mut t = (*self.tamper).clone();
        t.insert((col, row), value);
        ModelCircuit {
            tamper: Arc::new(t),
            ..self.clone()
        }
    }
}

/// Shape used by `configure()` when no parameters are given (never used by zkinfer itself).
/// The product a matmul region proves: a batch of a product of computed matrices, or a
/// constant-weight linear op the shape sends to the matmul lanes.
fn product<'a>(op: &'a QOp, reg: &RunRegion, shape: &CircuitShape) -> Option<Product<'a>> {
    match op {
        QOp::MatMul(m) => Some(Product::Computed(m, reg.item as usize)),
        QOp::Linear(l) => shape
            .shared_product(l)
            .map(|_| Product::Shared(l, shape.matmul_weights)),
        _ => None,
    }
}

fn fallback_shape() -> CircuitShape {
    CircuitShape {
        k: 4,
        bits: 8,
        elem_lanes: 1,
        ..Default::default()
    }
}

impl Circuit<F> for ModelCircuit {
    type Config = ModelConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = CircuitShape;

    fn without_witnesses(&self) -> Self {
        ModelCircuit {
            witness: None,
            tamper: Arc::default(),
            ..self.clone()
        }
    }

    fn params(&self) -> CircuitShape {
        self.plan.shape.clone()
    }

    fn configure_with_params(meta: &mut ConstraintSystem<F>, shape: CircuitShape) -> ModelConfig {
        ModelConfig::configure(meta, &shape)
    }

    fn configure(meta: &mut ConstraintSystem<F>) -> ModelConfig {
        ModelConfig::configure(meta, &fallback_shape())
    }

    fn synthesize(&self, cfg: ModelConfig, mut layouter: impl Layouter<F>) -> Result<(), Error> {
        let g = &*self.graph;
        let layout = &self.plan.layout;
        let homes = &layout.homes;
        let wit = Wit {
            vals: self.witness.as_deref().map(|v| v.as_slice()),
        };
        layouter.assign_region(
            || "model",
            |mut region| {
                let mut a = Assigner {
                    region: &mut region,
                    cfg: &cfg,
                    tamper: &self.tamper,
                };
                cfg.table.assign(&mut a, g, cfg.shape.identity_table)?;
                chips::sentinel::assign(&mut a, &cfg, wit);
                for reg in &layout.mv {
                    let QOp::Linear(op) = &g.ops[reg.op as usize] else {
                        return Err(Error::Synthesis);
                    };
                    cfg.mv[reg.lane as usize].assign(&mut a, reg, op, wit, homes)?;
                }
                for seg in &layout.el {
                    let QOp::Elementwise(op) = &g.ops[seg.op as usize] else {
                        return Err(Error::Synthesis);
                    };
                    cfg.el[seg.lane as usize].assign(&mut a, seg, op, g, wit, homes)?;
                }
                for reg in &layout.mx {
                    let QOp::MaxPool(op) = &g.ops[reg.op as usize] else {
                        return Err(Error::Synthesis);
                    };
                    cfg.mx[reg.lane as usize].assign(&mut a, reg, op, wit, homes)?;
                }
                chips::requant_segment::assign_all(&mut a, &cfg, (g, &layout.rq), wit, homes)?;
                for reg in &layout.dot {
                    match (cfg.mm.get(reg.lane as usize), &g.ops[reg.op as usize]) {
                        (Some(lane), op) => {
                            let p = product(op, reg, &cfg.shape).ok_or(Error::Synthesis)?;
                            lane.assign(&mut a, reg, p, wit, homes)?
                        }
                        (None, QOp::MatMul(op)) => {
                            cfg.dot[reg.lane as usize].assign(&mut a, reg, op, wit, homes)?
                        }
                        (None, _) => return Err(Error::Synthesis),
                    }
                }
                if let Some(pack) = &cfg.pack {
                    let public = self.public_values();
                    let values = public.as_ref().map(|(i, o)| [i.as_slice(), o].concat());
                    pack.assign(
                        &mut a,
                        g.bits,
                        values.as_deref(),
                        &layout.words,
                        &layout.pack_sources,
                        cfg.poseidon.is_none(),
                    )?;
                    if let Some(hash) = &cfg.poseidon {
                        let words = public
                            .map(|(i, o)| vec![pack_words(&i, g.bits), pack_words(&o, g.bits)]);
                        hash.assign(&mut a, &layout.sponges, words.as_deref())?;
                    }
                } else {
                    // Plain: public outputs follow the inputs in the instance column.
                    let mut row = layout.n_inputs as u32;
                    for &t in &g.outputs {
                        for home in &homes[t] {
                            a.copy(
                                *home,
                                Pos {
                                    col: Col::Inst,
                                    row,
                                },
                            )?;
                            row += 1;
                        }
                    }
                }
                // Second phase: the Freivalds checks need the challenges.
                if let Some(ch) = cfg.challenge {
                    a.region.next_phase();
                    let r: Value<F> = a.region.get_challenge(ch);
                    for reg in &layout.mv {
                        let QOp::Linear(op) = &g.ops[reg.op as usize] else {
                            return Err(Error::Synthesis);
                        };
                        cfg.mv[reg.lane as usize].assign_acc(&mut a, reg, op, wit, r);
                    }
                    if let Some(cs) = cfg.challenge_s {
                        let s: Value<F> = a.region.get_challenge(cs);
                        for reg in &layout.dot {
                            let op = &g.ops[reg.op as usize];
                            let (Some(p), Some(lane)) =
                                (product(op, reg, &cfg.shape), cfg.mm.get(reg.lane as usize))
                            else {
                                return Err(Error::Synthesis);
                            };
                            lane.assign_acc(&mut a, reg, p, wit, (r, s));
                        }
                    }
                }
                Ok(())
            },
        )
    }
}
