//! Where a wrapper level is proven: the one seam between the wrapper and a proving backend.
//! [`CpuLevels`] is halo2-axiom's prover; `zkinfer-cuda` implements the same trait with
//! halo2-axiom-gpu (the wrapper circuits are single-phase, which is what it proves).

use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{create_proof, ProvingKey};
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::multiopen::ProverSHPLONK;
use halo2_proofs::transcript::{EncodedChallenge, TranscriptWrite};
use snark_verifier_sdk::halo2::aggregation::AggregationCircuit;
use snark_verifier_sdk::halo2::PoseidonTranscript;
use snark_verifier_sdk::snark_verifier::loader::native::NativeLoader;
use zkinfer_prover::BackendError;
use zkinfer_verifier::transcript::KeccakTranscript;

/// The transcript of a lower level's proof (what the next level replays in-circuit).
pub type PoseidonWriter = PoseidonTranscript<NativeLoader, Vec<u8>>;
/// The transcript of the last level's proof (what the Solidity verifier replays).
pub type KeccakWriter = KeccakTranscript<Vec<u8>>;

/// One wrapper level to prove: its SRS, proving key, circuit (witness included) and public
/// values.
pub struct LevelJob<'a> {
    /// The level's SRS (2^k points).
    pub params: &'a ParamsKZG<Bn256>,
    /// Its proving key.
    pub pk: &'a ProvingKey<G1Affine>,
    /// Its circuit at the prover stage.
    pub circuit: AggregationCircuit,
    /// Its public values (one instance column).
    pub instances: &'a [Fr],
}

/// A prover of wrapper levels, as the wrapper calls it (object-safe: one method per
/// transcript). Backends implement [`LevelBackend`] instead, which gives this.
pub trait LevelProver {
    /// Its name in messages ("cpu", "cuda").
    fn name(&self) -> &'static str;
    /// A lower level's proof, with the Poseidon transcript.
    fn prove_poseidon(
        &self,
        job: LevelJob<'_>,
        transcript: &mut PoseidonWriter,
    ) -> Result<(), BackendError>;
    /// The last level's proof, with the Keccak transcript.
    fn prove_keccak(
        &self,
        job: LevelJob<'_>,
        transcript: &mut KeccakWriter,
    ) -> Result<(), BackendError>;
}

/// What a backend implements: one level's proof written into any transcript.
pub trait LevelBackend {
    /// Its name in messages.
    const NAME: &'static str;
    /// Proves `job` into `transcript`.
    fn prove<E, T>(&self, job: LevelJob<'_>, transcript: &mut T) -> Result<(), BackendError>
    where
        E: EncodedChallenge<G1Affine>,
        T: TranscriptWrite<G1Affine, E>;
}

impl<B: LevelBackend> LevelProver for B {
    fn name(&self) -> &'static str {
        B::NAME
    }

    fn prove_poseidon(
        &self,
        job: LevelJob<'_>,
        transcript: &mut PoseidonWriter,
    ) -> Result<(), BackendError> {
        self.prove(job, transcript)
    }

    fn prove_keccak(
        &self,
        job: LevelJob<'_>,
        transcript: &mut KeccakWriter,
    ) -> Result<(), BackendError> {
        self.prove(job, transcript)
    }
}

/// halo2-axiom's CPU prover (all cores).
pub struct CpuLevels;

impl LevelBackend for CpuLevels {
    const NAME: &'static str = "cpu";

    fn prove<E, T>(&self, job: LevelJob<'_>, transcript: &mut T) -> Result<(), BackendError>
    where
        E: EncodedChallenge<G1Affine>,
        T: TranscriptWrite<G1Affine, E>,
    {
        create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, E, _, T, _>(
            job.params,
            job.pk,
            &[job.circuit],
            &[&[job.instances]],
            rand::rngs::OsRng,
            transcript,
        )
        .map_err(|e| BackendError::Failed(format!("{e:?}")))
    }
}
