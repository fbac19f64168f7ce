//! Wrapper levels on the GPU: halo2-axiom-gpu proves snark-verifier-sdk's aggregation circuits
//! (single-phase, halo2-axiom's `Circuit` and proving keys, which it takes as they are) as a
//! `LevelBackend` of the wrapper's seam; `zkinfer prove --wrap --device cuda` runs it.

use crate::plonk::{gpu_params, CudaPlonk};
use halo2_axiom_gpu::poly::kzg::commitment::KZGCommitmentScheme;
use halo2_axiom_gpu::poly::kzg::multiopen::ProverSHPLONK;
use halo2_proofs::halo2curves::bn256::{Bn256, G1Affine};
use halo2_proofs::transcript::{EncodedChallenge, TranscriptWrite};
use zkinfer_prover::BackendError;
use zkinfer_wrap::backend::{LevelBackend, LevelJob};

/// halo2-axiom-gpu's prover for wrapper levels (each level's SRS copied over for it).
pub struct CudaLevels;

impl LevelBackend for CudaLevels {
    const NAME: &'static str = "cuda";

    fn prove<E, T>(&self, job: LevelJob<'_>, transcript: &mut T) -> Result<(), BackendError>
    where
        E: EncodedChallenge<G1Affine>,
        T: TranscriptWrite<G1Affine, E>,
    {
        CudaPlonk::check_circuit(job.pk)?;
        let params = gpu_params(job.params).map_err(|e| BackendError::Failed(e.to_string()))?;
        halo2_axiom_gpu::plonk::create_proof::<
            KZGCommitmentScheme<Bn256>,
            ProverSHPLONK<'_, Bn256>,
            E,
            _,
            T,
            _,
        >(
            &params,
            job.pk,
            &[job.circuit],
            &[&[job.instances]],
            rand::rngs::OsRng,
            transcript,
        )
        .map_err(|e| BackendError::Failed(format!("{e:?}")))
    }
}
