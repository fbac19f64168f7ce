//! KZG with its commitments routed through an [`Msm`](crate::msm::Msm) backend, without forking
//! halo2: a [`CommitmentScheme`] whose prover parameters compute `commit` and
//! `commit_lagrange` with the backend, and a SHPLONK prover that delegates to halo2's.
//!
//! Proofs are byte-for-byte in the format of `KZGCommitmentScheme<Bn256>` with SHPLONK, so the
//! verifier uses halo2's stock scheme. The two opening MSMs inside halo2's SHPLONK prover still
//! run on halo2's CPU path.

use crate::msm::G1Msm;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine, G1};
use halo2_proofs::poly::commitment::{Blind, CommitmentScheme, Params, ParamsProver, Prover};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::poly::kzg::msm::MSMKZG;
use halo2_proofs::poly::kzg::multiopen::ProverSHPLONK;
use halo2_proofs::poly::{Coeff, LagrangeCoeff, Polynomial, ProverQuery};
use halo2_proofs::transcript::{EncodedChallenge, TranscriptWrite};
use halo2_proofs::{SerdeCurveAffine, SerdeFormat};
use rand_core::RngCore;
use std::io;
use std::marker::PhantomData;

/// KZG prover parameters whose MSMs go through `M`.
#[derive(Clone, Debug)]
pub struct RoutedParams<M> {
    inner: ParamsKZG<Bn256>,
    g_lagrange: Vec<G1Affine>,
    msm: M,
}

impl<M: G1Msm> RoutedParams<M> {
    /// Wraps halo2 parameters.
    pub fn new(inner: ParamsKZG<Bn256>, msm: M) -> io::Result<Self> {
        let g_lagrange = lagrange_of(&inner)?;
        Ok(RoutedParams {
            inner,
            g_lagrange,
            msm,
        })
    }

    /// The wrapped halo2 parameters.
    pub fn kzg(&self) -> &ParamsKZG<Bn256> {
        &self.inner
    }

    /// The MSM backend.
    pub fn backend(&self) -> &M {
        &self.msm
    }
}

/// Reads the Lagrange-basis points back from halo2's own serialization (halo2 keeps them
/// private): `k`, `n` monomial points, `n` Lagrange points, `g2`, `s·g2`.
fn lagrange_of(p: &ParamsKZG<Bn256>) -> io::Result<Vec<G1Affine>> {
    let mut bytes = Vec::new();
    p.write_custom(&mut bytes, SerdeFormat::RawBytesUnchecked)?;
    let n = 1usize << p.k();
    let point = 64;
    let start = 4 + n * point;
    let mut reader = bytes
        .get(start..start + n * point)
        .ok_or_else(|| io::Error::other("unexpected parameter layout"))?;
    (0..n)
        .map(|_| G1Affine::read(&mut reader, SerdeFormat::RawBytesUnchecked))
        .collect()
}

impl<'params, M: G1Msm> Params<'params, G1Affine> for RoutedParams<M> {
    type MSM = MSMKZG<Bn256>;

    fn k(&self) -> u32 {
        self.inner.k()
    }

    fn n(&self) -> u64 {
        self.inner.n()
    }

    fn downsize(&mut self, k: u32) {
        self.inner.downsize(k);
        self.g_lagrange = lagrange_of(&self.inner).unwrap_or_default();
    }

    fn empty_msm(&'params self) -> MSMKZG<Bn256> {
        self.inner.empty_msm()
    }

    fn commit_lagrange(&self, poly: &Polynomial<Fr, LagrangeCoeff>, _: Blind<Fr>) -> G1 {
        self.msm.msm(
            poly,
            &self.g_lagrange[..poly.len().min(self.g_lagrange.len())],
        )
    }

    fn write<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        Params::write(&self.inner, writer)
    }

    fn read<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        RoutedParams::new(
            <ParamsKZG<Bn256> as Params<G1Affine>>::read(reader)?,
            M::default(),
        )
    }
}

impl<'params, M: G1Msm> ParamsProver<'params, G1Affine> for RoutedParams<M> {
    type ParamsVerifier = ParamsKZG<Bn256>;

    fn new(k: u32) -> Self {
        let inner = <ParamsKZG<Bn256> as ParamsProver<G1Affine>>::new(k);
        let g_lagrange = lagrange_of(&inner).unwrap_or_default();
        RoutedParams {
            inner,
            g_lagrange,
            msm: M::default(),
        }
    }

    fn commit(&self, poly: &Polynomial<Fr, Coeff>, _: Blind<Fr>) -> G1 {
        let g = self.inner.get_g();
        self.msm.msm(poly, &g[..poly.len().min(g.len())])
    }

    fn get_g(&self) -> &[G1Affine] {
        self.inner.get_g()
    }

    fn verifier_params(&'params self) -> &'params ParamsKZG<Bn256> {
        &self.inner
    }
}

/// The routed commitment scheme.
#[derive(Debug)]
pub struct RoutedKzg<M>(PhantomData<M>);

impl<M: G1Msm> CommitmentScheme for RoutedKzg<M> {
    type Scalar = Fr;
    type Curve = G1Affine;
    type ParamsProver = RoutedParams<M>;
    type ParamsVerifier = ParamsKZG<Bn256>;

    fn new_params(k: u32) -> RoutedParams<M> {
        <RoutedParams<M> as ParamsProver<G1Affine>>::new(k)
    }

    fn read_params<R: io::Read>(reader: &mut R) -> io::Result<RoutedParams<M>> {
        <RoutedParams<M> as Params<G1Affine>>::read(reader)
    }
}

/// SHPLONK multi-opening for the routed scheme (delegates to halo2's).
#[derive(Debug)]
pub struct RoutedShplonk<'params, M> {
    params: &'params RoutedParams<M>,
}

impl<'params, M: G1Msm> Prover<'params, RoutedKzg<M>> for RoutedShplonk<'params, M> {
    const QUERY_INSTANCE: bool = false;

    fn new(params: &'params RoutedParams<M>) -> Self {
        RoutedShplonk { params }
    }

    fn create_proof<'com, E: EncodedChallenge<G1Affine>, T: TranscriptWrite<G1Affine, E>, R, I>(
        &self,
        rng: R,
        transcript: &mut T,
        queries: I,
    ) -> io::Result<()>
    where
        I: IntoIterator<Item = ProverQuery<'com, G1Affine>> + Clone,
        R: RngCore,
    {
        let inner = <ProverSHPLONK<'_, Bn256> as Prover<
            '_,
            halo2_proofs::poly::kzg::commitment::KZGCommitmentScheme<Bn256>,
        >>::new(&self.params.inner);
        inner.create_proof(rng, transcript, queries)
    }
}
