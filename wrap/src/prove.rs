//! Proving a wrapper: each level's aggregation circuit over the proof below it (the model
//! proof for the first); lower levels prove with the Poseidon transcript (what the next level
//! replays in-circuit), the last with the Keccak transcript (what the Solidity verifier replays).

use crate::backend::{LevelJob, LevelProver, PoseidonWriter};
use crate::circuit::{accumulator_indices, build_first, build_outer, guarded};
use crate::inner::{snark, verify_model_proof};
use crate::keys::{LevelKey, WrapProvingKey};
use crate::WrapError;
use halo2_base::gates::circuit::CircuitBuilderStage;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{ProvingKey, VerifyingKey};
use halo2_proofs::poly::commitment::Params;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use snark_verifier_sdk::halo2::aggregation::AggregationCircuit;
use snark_verifier_sdk::halo2::POSEIDON_SPEC;
use snark_verifier_sdk::snark_verifier::system::halo2::{compile, Config};
use snark_verifier_sdk::{CircuitExt, Snark};
use zkinfer_circuits::compiled::ModelDigest;
use zkinfer_prover::workflow::step;
use zkinfer_prover::{BackendError, Progress};
use zkinfer_verifier::instances::encode;
use zkinfer_verifier::transcript::KeccakTranscript;
use zkinfer_verifier::{check_statement, ProofFile, VerifierKey, WrapperProof, WRAPPED_TRANSCRIPT};

/// The wrapper proof of the model proof in `proof` (made by [`crate::inner::PoseidonPlonk`]),
/// with the SRS of each level's size among `params`, each level proven by `levels` (a step of
/// `progress`).
/// The model proof is checked first: a wrapper over an invalid one is refused, never made.
pub fn wrap(
    pk: &WrapProvingKey,
    params: &[ParamsKZG<Bn256>],
    inner: &VerifierKey,
    proof: &ProofFile,
    levels: &dyn LevelProver,
    progress: &dyn Progress,
) -> Result<WrapperProof, WrapError> {
    if pk.digest != inner.digest || pk.inner_vk_sha256 != inner.vk_sha256 {
        return Err(WrapError::Keys(
            "wrap_pk.bin was made for another model or setup; run `zkinfer setup --wrap` again"
                .into(),
        ));
    }
    if proof.transcript != WRAPPED_TRANSCRIPT {
        return Err(WrapError::Prove(
            "the model proof was not made for a wrapper (prove with --wrap)".into(),
        ));
    }
    let statement = check_statement(inner, proof)?;
    let public = statement.public.field;
    let bytes = proof.proof_bytes()?;
    verify_model_proof(inner, &public, &bytes)?;
    let level_params = pk
        .levels
        .iter()
        .map(|l| params.iter().find(|p| p.k() == l.config.degree))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            WrapError::Keys(
                "the wrapper's SRS files do not match its levels; run `zkinfer setup --wrap` again"
                    .into(),
            )
        })?;
    let mut below = snark(inner, &public, bytes)?;
    let count = pk.levels.len();
    for (i, (level, p)) in pk.levels.iter().zip(level_params).enumerate() {
        let name = format!(
            "wrapper level {} of {count} (k = {}, {})",
            i + 1,
            level.config.degree,
            levels.name()
        );
        let first = (i == 0).then_some(&inner.digest);
        let last = i + 1 == count;
        let (level_pk, _) = step(
            progress,
            &format!("loading wrapper level {}'s key", i + 1),
            || level.proving_key(),
        );
        let level_pk = level_pk?;
        let (done, _) = step(progress, &name, || {
            prove_level(levels, level, &level_pk, p, below, first, last)
        });
        let (instances, proof) = done?;
        if last {
            return Ok(WrapperProof {
                vk_sha256: pk.vk_sha256,
                instances: encode(&instances),
                proof: format!("0x{}", hex::encode(proof)),
            });
        }
        below = level_snark(level_pk.get_vk(), p, instances, proof)?;
    }
    Err(WrapError::Keys("wrap_pk.bin has no levels".into()))
}

/// Proves one level (key `pk`) over `below` on `levels` (`first`: the model digest, for the first level;
/// `last`: the level a chain verifies, Keccak transcript; the others Poseidon). Returns its
/// public values and proof.
fn prove_level(
    levels: &dyn LevelProver,
    level: &LevelKey,
    pk: &ProvingKey<G1Affine>,
    params: &ParamsKZG<Bn256>,
    below: Snark,
    first: Option<&ModelDigest>,
    last: bool,
) -> Result<(Vec<Fr>, Vec<u8>), WrapError> {
    let (instances, circuit) = level_circuit(level, params, below, first)?;
    let job = LevelJob {
        params,
        pk,
        circuit,
        instances: &instances,
    };
    let proof = if last {
        let mut t = KeccakTranscript::new(Vec::new());
        backend_run(levels, || levels.prove_keccak(job, &mut t))?;
        t.into_inner()
    } else {
        let mut t = PoseidonWriter::from_spec(vec![], POSEIDON_SPEC.clone());
        backend_run(levels, || levels.prove_poseidon(job, &mut t))?;
        t.finalize()
    };
    Ok((instances, proof))
}

/// A level's circuit over `below`, with its public values.
fn level_circuit(
    level: &LevelKey,
    params: &ParamsKZG<Bn256>,
    below: Snark,
    first: Option<&ModelDigest>,
) -> Result<(Vec<Fr>, AggregationCircuit), WrapError> {
    let circuit = guarded(|| {
        let c = match first {
            Some(d) => build_first(CircuitBuilderStage::Prover, level.config, params, below, d),
            None => build_outer(CircuitBuilderStage::Prover, level.config, params, below),
        };
        c.use_break_points(level.break_points.clone())
    })
    .map_err(|e| WrapError::Prove(format!("building the wrapper circuit: {e}")))?;
    let instances = circuit.instances().into_iter().next().unwrap_or_default();
    Ok((instances, circuit))
}

/// Runs one level's proof on `levels`, its panics (snark-verifier-sdk's, the backend's)
/// turned into errors.
fn backend_run(
    levels: &dyn LevelProver,
    run: impl FnOnce() -> Result<(), BackendError>,
) -> Result<(), WrapError> {
    let name = levels.name();
    guarded(run)
        .map_err(|e| WrapError::Prove(format!("{name}: {e}")))?
        .map_err(|e| WrapError::Prove(format!("{name}: {e}")))
}

/// A lower level's proof as the next level takes it.
fn level_snark(
    vk: &VerifyingKey<G1Affine>,
    params: &ParamsKZG<Bn256>,
    instances: Vec<Fr>,
    proof: Vec<u8>,
) -> Result<Snark, WrapError> {
    let protocol = guarded(|| {
        compile(
            params,
            vk,
            Config::kzg()
                .with_num_instance(vec![instances.len()])
                .with_accumulator_indices(Some(accumulator_indices())),
        )
    })
    .map_err(|e| WrapError::Prove(format!("snark-verifier cannot read a wrapper level: {e}")))?;
    Ok(Snark::new(protocol, vec![instances], proof))
}
