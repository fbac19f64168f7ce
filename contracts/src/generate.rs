//! Solidity verifier generation with snark-verifier's EVM loader: the verifier reads
//! `instances ‖ proof` from calldata, replays the Keccak transcript, checks the PLONK
//! identities and the SHPLONK pairing, and reverts unless the proof is valid. A wrapper's
//! verifier also folds in the accumulator its first 12 public words carry.

use crate::error::ContractError;
use halo2_proofs::halo2curves::bn256::{Bn256, Fq, Fr, G1Affine};
use halo2_proofs::plonk::VerifyingKey;
use halo2_proofs::poly::commitment::ParamsProver;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use snark_verifier::loader::evm::EvmLoader;
use snark_verifier::pcs::kzg::{Bdfg21, KzgAs, KzgDecidingKey, LimbsEncoding};
use snark_verifier::system::halo2::{compile, transcript::evm::EvmTranscript, Config};
use snark_verifier::verifier::plonk::{PlonkProtocol, PlonkVerifier};
use snark_verifier::verifier::SnarkVerifier;
use std::rc::Rc;
use zkinfer_verifier::VerifierKey;
use zkinfer_wrap::circuit::ACCUMULATOR_WORDS;
use zkinfer_wrap::WrapVerifierKey;

type Plonk = PlonkVerifier<KzgAs<Bn256, Bdfg21>, LimbsEncoding<3, 88>>;

/// Name of the generated verifier contract.
pub const VERIFIER_CONTRACT: &str = "Halo2Verifier";

/// What a verifier for a key has to combine: the numbers that set its gas and code size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifierStats {
    /// Commitments in the verifying key (fixed and permutation columns).
    pub key_commitments: usize,
    /// Commitments read from the proof (advice, lookup, permutation-product, vanishing and
    /// quotient polynomials).
    pub proof_commitments: usize,
    /// Polynomial evaluations read from the proof.
    pub evaluations: usize,
    /// Distinct rotations the polynomials are opened at.
    pub rotations: usize,
}

/// What snark-verifier needs to build a verifier: the key, its SRS points, the number of
/// public values and where (if anywhere) an accumulator sits among them.
struct Spec<'a> {
    params: &'a ParamsKZG<Bn256>,
    vk: &'a VerifyingKey<G1Affine>,
    instances: usize,
    accumulator: Option<Vec<(usize, usize)>>,
}

impl Spec<'_> {
    fn of_model(key: &VerifierKey) -> Spec<'_> {
        Spec {
            params: key.kzg_params(),
            vk: key.halo2(),
            instances: key.io.instance_count(),
            accumulator: None,
        }
    }

    fn of_wrapper(key: &WrapVerifierKey) -> Spec<'_> {
        Spec {
            params: key.kzg_params(),
            vk: key.halo2(),
            instances: key.instance_count(),
            accumulator: Some((0..ACCUMULATOR_WORDS).map(|i| (0, i)).collect()),
        }
    }

    fn protocol(&self) -> PlonkProtocol<G1Affine> {
        compile(
            self.params,
            self.vk,
            Config::kzg()
                .with_num_instance(vec![self.instances])
                .with_accumulator_indices(self.accumulator.clone()),
        )
    }

    fn stats(&self) -> Result<VerifierStats, ContractError> {
        let run = || {
            let protocol = self.protocol();
            let mut rotations: Vec<i32> = protocol.queries.iter().map(|q| q.rotation.0).collect();
            rotations.sort_unstable();
            rotations.dedup();
            VerifierStats {
                key_commitments: protocol.preprocessed.len(),
                proof_commitments: protocol.num_witness.iter().sum::<usize>()
                    + protocol.quotient.num_chunk(),
                evaluations: protocol.evaluations.len(),
                rotations: rotations.len(),
            }
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).map_err(|_| {
            ContractError::Generate("snark-verifier failed on this verifying key".into())
        })
    }

    fn solidity(&self) -> Result<String, ContractError> {
        let failed = |e: snark_verifier::Error| ContractError::Generate(format!("{e:?}"));
        let run = || -> Result<String, ContractError> {
            let params = self.params;
            let dk: KzgDecidingKey<Bn256> = (params.get_g()[0], params.g2(), params.s_g2()).into();
            let loader = EvmLoader::new::<Fq, Fr>();
            let protocol = self.protocol().loaded(&loader);
            let mut transcript = EvmTranscript::<_, Rc<EvmLoader>, _, _>::new(&loader);
            let instances = transcript.load_instances(vec![self.instances]);
            let proof =
                Plonk::read_proof(&dk, &protocol, &instances, &mut transcript).map_err(failed)?;
            Plonk::verify(&dk, &protocol, &instances, &proof).map_err(failed)?;
            Ok(loader.solidity_code())
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
            Ok(r) => r,
            Err(_) => Err(ContractError::Generate(
                "snark-verifier failed on this verifying key".into(),
            )),
        }
    }
}

/// [`VerifierStats`] of the verifier snark-verifier builds for `key`.
pub fn verifier_stats(key: &VerifierKey) -> Result<VerifierStats, ContractError> {
    Spec::of_model(key).stats()
}

/// [`VerifierStats`] of a wrapper's verifier.
pub fn wrapper_stats(key: &WrapVerifierKey) -> Result<VerifierStats, ContractError> {
    Spec::of_wrapper(key).stats()
}

/// Solidity source of a verifier contract for `key` (contract [`VERIFIER_CONTRACT`]). Its
/// fallback function takes calldata `instances ‖ proof` (see
/// [`ProofFile::calldata`](zkinfer_verifier::ProofFile::calldata)) and reverts unless the
/// proof is valid.
pub fn verifier_solidity(key: &VerifierKey) -> Result<String, ContractError> {
    Spec::of_model(key).solidity()
}

/// Solidity source of a wrapper's verifier (contract [`VERIFIER_CONTRACT`]): calldata
/// `instances ‖ proof` of the wrapper (see
/// [`WrapperProof::calldata`](zkinfer_verifier::WrapperProof::calldata)); besides the wrapper
/// proof it checks the pairing of the accumulator in the first 12 public words, which makes
/// the model proof inside valid.
pub fn wrapper_solidity(key: &WrapVerifierKey) -> Result<String, ContractError> {
    Spec::of_wrapper(key).solidity()
}
