//! The CUDA prover (feature `cuda`): halo2-axiom-gpu behind the prover's [`PlonkBackend`]
//! seam.
//!
//! halo2-axiom-gpu reads halo2-axiom's proving keys and writes proofs in the same format (KZG,
//! SHPLONK, our Keccak transcript), so setup is shared with the CPU prover and the verifier is
//! unchanged. It proves single-phase circuits only ([`CUDA_TARGET`]);
//! [`CudaPlonk::check_circuit`] says so instead of letting it panic.
//!
//! Linking this (and calling it) starts halo2-axiom-gpu's CUDA runtime, which aborts the
//! process where no GPU is usable: only the `zkinfer-cuda` executables enable this feature,
//! and `zkinfer` starts it after finding a GPU (`zkinfer_gpu::helper`).

use halo2_axiom_gpu::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG as GpuParamsKZG};
use halo2_axiom_gpu::poly::kzg::multiopen::ProverSHPLONK;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::ProvingKey;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::SerdeFormat;
use zkinfer_circuits::ModelCircuit;
use zkinfer_gpu::CUDA_TARGET;
use zkinfer_prover::{BackendError, PlonkBackend, ProverError};
use zkinfer_verifier::transcript::{KeccakChallenge, KeccakTranscript};

// `--optimize gpu-prove-time` sizes circuits by halo2-axiom-gpu's MSM dispatch rule: a
// dependency update that moves it fails here.
const _: () = assert!(
    1usize << CUDA_TARGET.min_k == halo2_axiom_gpu::cuda::funcs::multiexp::GPU_MSM_THRESHOLD
);

/// halo2-axiom-gpu's prover with its copy of the KZG parameters.
pub struct CudaPlonk {
    params: GpuParamsKZG<Bn256>,
}

impl CudaPlonk {
    /// Takes the CPU prover's parameters over.
    pub fn new(params: &ParamsKZG<Bn256>) -> Result<Self, ProverError> {
        Ok(CudaPlonk {
            params: gpu_params(params)?,
        })
    }

    /// Refuses circuits halo2-axiom-gpu cannot prove (it asserts on more than one phase).
    pub fn check_circuit(pk: &ProvingKey<G1Affine>) -> Result<(), BackendError> {
        let cs = pk.get_vk().cs();
        let multi_phase =
            cs.num_challenges() > 0 || cs.advice_column_phase().iter().any(|&p| p > 0);
        CUDA_TARGET
            .check(multi_phase)
            .map_err(|e| BackendError::Unsupported(e.to_string()))
    }
}

/// halo2-axiom-gpu's copy of the CPU prover's KZG parameters (both crates serialize them
/// alike).
pub fn gpu_params(params: &ParamsKZG<Bn256>) -> Result<GpuParamsKZG<Bn256>, ProverError> {
    let mut bytes = Vec::new();
    params
        .write_custom(&mut bytes, SerdeFormat::RawBytesUnchecked)
        .map_err(|e| ProverError::Srs(format!("serializing the KZG parameters: {e}")))?;
    GpuParamsKZG::<Bn256>::read_custom(&mut &bytes[..], SerdeFormat::RawBytesUnchecked)
        .map_err(|e| ProverError::Srs(format!("loading the KZG parameters for the GPU: {e}")))
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
    ) -> Result<Vec<u8>, BackendError> {
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
        .map_err(|e| BackendError::Failed(format!("{e:?}")))?;
        Ok(transcript.into_inner())
    }
}
