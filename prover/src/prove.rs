//! Witness generation and proving.

use crate::error::{BackendError, ProverError};
use crate::kzg::{RoutedKzg, RoutedParams, RoutedShplonk};
use crate::msm::G1Msm;
use halo2_proofs::halo2curves::bn256::{Fr, G1Affine};
use halo2_proofs::plonk::{create_proof, ProvingKey};
use halo2_proofs::transcript::{EncodedChallenge, TranscriptWrite};
use std::sync::Arc;
use zkinfer_circuits::compiled::CompiledModel;
use zkinfer_circuits::input::InputData;
use zkinfer_circuits::{CircuitPlan, ModelCircuit};
use zkinfer_verifier::instances::PublicValues;
use zkinfer_verifier::transcript::{KeccakChallenge, KeccakTranscript};
use zkinfer_verifier::{ProofFile, VkHash};

/// A model ready to prove: compiled graph, layout and proving key.
pub struct Prover<M: G1Msm> {
    model: Arc<CompiledModel>,
    graph: Arc<zkinfer_circuits::QuantizedGraph>,
    plan: Arc<CircuitPlan>,
    pk: ProvingKey<G1Affine>,
    vk_sha256: VkHash,
    params: RoutedParams<M>,
}

/// A PLONK prover: KZG (BN254) with SHPLONK openings and the Keccak transcript, the proof
/// format [`zkinfer_verifier`] checks. Implemented by the CPU prover here and by the CUDA
/// prover (`zkinfer-cuda`).
pub trait PlonkBackend {
    /// Name for messages.
    fn name(&self) -> &'static str;

    /// Proves `circuit` with public `instances` (one instance column); returns the proof bytes.
    fn create_proof(
        &self,
        pk: &ProvingKey<G1Affine>,
        circuit: ModelCircuit,
        instances: &[Fr],
    ) -> Result<Vec<u8>, BackendError>;
}

/// halo2-axiom's prover, with its MSMs routed through `M`.
pub struct CpuPlonk<'a, M: G1Msm>(pub &'a RoutedParams<M>);

impl<M: G1Msm> PlonkBackend for CpuPlonk<'_, M> {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn create_proof(
        &self,
        pk: &ProvingKey<G1Affine>,
        circuit: ModelCircuit,
        instances: &[Fr],
    ) -> Result<Vec<u8>, BackendError> {
        let mut transcript = KeccakTranscript::new(Vec::new());
        prove_into::<M, KeccakChallenge, _>(self.0, pk, circuit, instances, &mut transcript)?;
        Ok(transcript.into_inner())
    }
}

/// halo2-axiom's CPU prover (MSMs through `M`) writing into any transcript `T`: the Keccak one
/// of ordinary proofs, or another (a wrapper's model proof uses Poseidon).
pub fn prove_into<M: G1Msm, E: EncodedChallenge<G1Affine>, T: TranscriptWrite<G1Affine, E>>(
    params: &RoutedParams<M>,
    pk: &ProvingKey<G1Affine>,
    circuit: ModelCircuit,
    instances: &[Fr],
    transcript: &mut T,
) -> Result<(), BackendError> {
    create_proof::<RoutedKzg<M>, RoutedShplonk<'_, M>, E, _, _, ModelCircuit>(
        params,
        pk,
        &[circuit],
        &[&[instances]],
        rand::rngs::OsRng,
        transcript,
    )
    .map_err(|e| BackendError::Failed(format!("{e:?}")))
}

/// The witness of one input: quantized values of every tensor.
pub struct Witness {
    values: Vec<Vec<i128>>,
}

impl Witness {
    /// Flips the lowest bit of tensor `t`'s first value, breaking the relation of the op that
    /// produced it (for negative tests of provers). False when `t` has no values.
    pub(crate) fn perturb(&mut self, t: usize) -> bool {
        match self.values.get_mut(t).and_then(|v| v.first_mut()) {
            Some(x) => {
                *x ^= 1;
                true
            }
            None => false,
        }
    }
}

impl<M: G1Msm> Prover<M> {
    /// Assembles a prover.
    pub fn new(
        model: Arc<CompiledModel>,
        pk: ProvingKey<G1Affine>,
        vk_sha256: VkHash,
        params: RoutedParams<M>,
    ) -> Result<Self, ProverError> {
        use halo2_proofs::poly::commitment::Params;
        if params.k() != model.shape.k {
            return Err(ProverError::Srs(format!(
                "SRS has k = {}, the model needs k = {}",
                params.k(),
                model.shape.k
            )));
        }
        let plan = Arc::new(model.plan()?);
        let graph = Arc::new(model.graph.clone());
        Ok(Prover {
            model,
            graph,
            plan,
            pk,
            vk_sha256,
            params,
        })
    }

    /// Quantizes an input and evaluates the integer model, checking every range.
    pub fn witness(&self, input: &InputData) -> Result<Witness, ProverError> {
        let q = input.quantize(&self.model.io())?;
        Ok(Witness {
            values: self.model.graph.eval(&q)?,
        })
    }

    /// Proves one witness on the CPU (MSMs through `M`).
    pub fn prove(&self, w: Witness) -> Result<ProofFile, ProverError> {
        self.prove_with(w, &CpuPlonk(&self.params))
    }

    /// Proves one witness with another PLONK backend (e.g. a GPU prover). The proof bytes go
    /// into the same proof file and verify with the same key.
    pub fn prove_with(
        &self,
        w: Witness,
        backend: &dyn PlonkBackend,
    ) -> Result<ProofFile, ProverError> {
        let g = &self.model.graph;
        let io = self.model.io();
        let input_ints: Vec<Vec<i128>> = g.inputs.iter().map(|&t| w.values[t].clone()).collect();
        let output_ints: Vec<Vec<i128>> = g.outputs.iter().map(|&t| w.values[t].clone()).collect();
        let circuit = ModelCircuit::with_witness(self.graph.clone(), self.plan.clone(), w.values);
        let public = circuit.instances();
        // Backends may panic on internal errors; a user gets an error, never a panic.
        let run = || backend.create_proof(&self.pk, circuit, &public);
        let proof = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
            Ok(r) => r?,
            Err(p) => {
                let why = p
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| p.downcast_ref::<&str>().copied())
                    .unwrap_or("no message");
                return Err(ProverError::Prove(format!(
                    "internal error while proving ({} backend): {why}",
                    backend.name()
                )));
            }
        };
        let public = PublicValues {
            field: public,
            inputs: input_ints,
            outputs: output_ints,
        };
        Ok(ProofFile::new(
            self.model.digest,
            self.vk_sha256,
            &io,
            &public,
            &proof,
        ))
    }

    /// Checks a (Keccak-transcript) proof this prover made as a verifier will, before anyone
    /// sees it: a proving key damaged on disk yet well-formed, or a backend's fault, is then
    /// an error instead of a proof that does not verify.
    pub fn check(&self, proof: &ProofFile) -> Result<(), ProverError> {
        use halo2_proofs::poly::commitment::ParamsProver;
        let kzg = self.params.kzg();
        let damaged = |why: String| {
            ProverError::Prove(format!(
                "the proof made does not verify ({why}): the proving key or the SRS may be \
                 damaged; run `zkinfer setup` again"
            ))
        };
        let key = zkinfer_verifier::VerifierKey::new(
            self.model.digest,
            self.model.shape.clone(),
            self.model.io(),
            self.pk.get_vk().clone(),
            kzg.get_g().first().copied().unwrap_or_default(),
            kzg.g2(),
            kzg.s_g2(),
        )
        .map_err(|e| damaged(e.to_string()))?;
        zkinfer_verifier::verify(&key, proof).map_err(|e| damaged(e.to_string()))?;
        Ok(())
    }

    /// The CPU prover's KZG parameters (halo2's type inside).
    pub fn params(&self) -> &RoutedParams<M> {
        &self.params
    }

    /// The proving key.
    pub fn pk(&self) -> &ProvingKey<G1Affine> {
        &self.pk
    }

    /// The compiled model.
    pub fn model(&self) -> &CompiledModel {
        &self.model
    }
}
