//! The CUDA prover (feature `cuda`): halo2-axiom-gpu behind [`PlonkBackend`].
//!
//! halo2-axiom-gpu reads halo2-axiom's proving keys and writes proofs in the same format (KZG,
//! SHPLONK, our Keccak transcript), so setup is shared with the CPU prover and the verifier is
//! unchanged. It proves single-phase circuits only (models compiled with `--matvec-check
//! direct`); [`CudaPlonk::check_circuit`] says so instead of letting it panic.
//!
//! Linking this (and calling it) starts halo2-axiom-gpu's CUDA runtime, which aborts the
//! process where no GPU is usable: only the `zkinfer-cuda` executable enables this feature,
//! and `zkinfer` starts it after finding a GPU (`zkinfer_gpu::helper`).

use crate::error::ProverError;
use crate::prove::PlonkBackend;
use halo2_axiom_gpu::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG as GpuParamsKZG};
use halo2_axiom_gpu::poly::kzg::multiopen::ProverSHPLONK;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::ProvingKey;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::SerdeFormat;
use zkinfer_circuits::ModelCircuit;
use zkinfer_verifier::transcript::{KeccakChallenge, KeccakTranscript};

// `--optimize gpu-prove-time` sizes circuits by halo2-axiom-gpu's MSM dispatch rule: a
// dependency update that moves it fails here.
const _: () = assert!(
    1usize << zkinfer_circuits::plan::GPU_MIN_K
        == halo2_axiom_gpu::cuda::funcs::multiexp::GPU_MSM_THRESHOLD
);

/// halo2-axiom-gpu's prover with its copy of the KZG parameters.
pub struct CudaPlonk {
    params: GpuParamsKZG<Bn256>,
}

impl CudaPlonk {
    /// Takes the CPU prover's parameters over (both crates serialize them alike).
    pub fn new(params: &ParamsKZG<Bn256>) -> Result<Self, ProverError> {
        let mut bytes = Vec::new();
        params
            .write_custom(&mut bytes, SerdeFormat::RawBytesUnchecked)
            .map_err(|e| ProverError::Srs(format!("serializing the KZG parameters: {e}")))?;
        let params =
            GpuParamsKZG::<Bn256>::read_custom(&mut &bytes[..], SerdeFormat::RawBytesUnchecked)
                .map_err(|e| {
                    ProverError::Srs(format!("loading the KZG parameters for the GPU: {e}"))
                })?;
        Ok(CudaPlonk { params })
    }

    /// Refuses circuits halo2-axiom-gpu cannot prove (it asserts on more than one phase).
    pub fn check_circuit(pk: &ProvingKey<G1Affine>) -> Result<(), ProverError> {
        let cs = pk.get_vk().cs();
        if cs.num_challenges() > 0 || cs.advice_column_phase().iter().any(|&p| p > 0) {
            return Err(ProverError::Prove(
                "this model's circuit has two phases (compiled with --matvec-check freivalds); the CUDA prover proves single-phase circuits only: compile it with --optimize gpu-prove-time (or --matvec-check direct), or prove with --device cpu".into(),
            ));
        }
        Ok(())
    }
}

impl PlonkBackend for CudaPlonk {
    fn name(&self) -> &'static str {
        "cuda"
    }

    fn create_proof(
        &self,
        pk: &ProvingKey<G1Affine>,
        circuit: ModelCircuit,
        instances: &[Fr],
    ) -> Result<Vec<u8>, String> {
        let mut transcript = KeccakTranscript::new(Vec::new());
        halo2_axiom_gpu::plonk::create_proof::<
            KZGCommitmentScheme<Bn256>,
            ProverSHPLONK<'_, Bn256>,
            KeccakChallenge,
            _,
            _,
            ModelCircuit,
        >(
            &self.params,
            pk,
            &[circuit],
            &[&[instances]],
            rand::rngs::OsRng,
            &mut transcript,
        )
        .map_err(|e| format!("{e:?}"))?;
        Ok(transcript.into_inner())
    }
}
