//! The proof transcript: Keccak-256 Fiat–Shamir in the byte layout of snark-verifier's
//! `EvmTranscript`, so one proof verifies both here and in a generated Solidity verifier.
//!
//! - Absorbing a scalar appends its 32-byte big-endian encoding; a point appends `x` then `y`
//!   (32 bytes big-endian each). The point at infinity cannot be absorbed.
//! - Squeezing hashes the buffer (plus a `0x01` byte when the buffer holds only the previous
//!   challenge's hash), replaces the buffer with the hash, and returns the hash, read as a
//!   big-endian integer, reduced modulo the scalar field.
//! - Proof bytes are the absorbed scalars and points in the same encoding; reading rejects
//!   non-canonical field elements and points not on the curve.

use halo2_proofs::halo2curves::bn256::{Fq, Fr, G1Affine};
use halo2_proofs::halo2curves::ff::{FromUniformBytes, PrimeField};
use halo2_proofs::halo2curves::CurveAffine;
use halo2_proofs::transcript::{
    EncodedChallenge, Transcript, TranscriptRead, TranscriptReadBuffer, TranscriptWrite,
    TranscriptWriterBuffer,
};
use sha3::{Digest, Keccak256};
use std::io::{self, Read, Write};

/// A challenge derived from a Keccak hash.
#[derive(Clone, Copy, Debug)]
pub struct KeccakChallenge(Fr);

impl EncodedChallenge<G1Affine> for KeccakChallenge {
    type Input = [u8; 32];

    fn new(hash: &[u8; 32]) -> Self {
        let mut wide = [0u8; 64];
        for (i, b) in hash.iter().rev().enumerate() {
            wide[i] = *b;
        }
        KeccakChallenge(Fr::from_uniform_bytes(&wide))
    }

    fn get_scalar(&self) -> Fr {
        self.0
    }
}

/// Keccak transcript over a proof stream (a reader when verifying, a writer when proving).
#[derive(Debug)]
pub struct KeccakTranscript<S> {
    stream: S,
    buf: Vec<u8>,
}

fn be32(repr: impl AsRef<[u8]>) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, b) in out.iter_mut().zip(repr.as_ref().iter().rev()) {
        *o = *b;
    }
    out
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

impl<S> KeccakTranscript<S> {
    /// Wraps a stream.
    pub fn new(stream: S) -> Self {
        KeccakTranscript {
            stream,
            buf: Vec::new(),
        }
    }

    /// Returns the stream.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S> Transcript<G1Affine, KeccakChallenge> for KeccakTranscript<S> {
    fn squeeze_challenge(&mut self) -> KeccakChallenge {
        if self.buf.len() == 32 {
            self.buf.push(1);
        }
        let hash: [u8; 32] = Keccak256::digest(&self.buf).into();
        self.buf = hash.to_vec();
        KeccakChallenge::new(&hash)
    }

    fn common_point(&mut self, point: G1Affine) -> io::Result<()> {
        let c = Option::from(point.coordinates())
            .ok_or_else(|| invalid("cannot absorb the point at infinity"))?;
        let c: halo2_proofs::halo2curves::Coordinates<G1Affine> = c;
        self.buf.extend_from_slice(&be32(c.x().to_repr()));
        self.buf.extend_from_slice(&be32(c.y().to_repr()));
        Ok(())
    }

    fn common_scalar(&mut self, scalar: Fr) -> io::Result<()> {
        self.buf.extend_from_slice(&be32(scalar.to_repr()));
        Ok(())
    }
}

fn read32<R: Read>(r: &mut R) -> io::Result<[u8; 32]> {
    let mut b = [0u8; 32];
    r.read_exact(&mut b)?;
    Ok(b)
}

fn le<T: Default + AsMut<[u8]>>(be: [u8; 32]) -> T {
    let mut repr = T::default();
    for (o, b) in repr.as_mut().iter_mut().zip(be.iter().rev()) {
        *o = *b;
    }
    repr
}

impl<R: Read> TranscriptRead<G1Affine, KeccakChallenge> for KeccakTranscript<R> {
    fn read_point(&mut self) -> io::Result<G1Affine> {
        let (x, y) = (read32(&mut self.stream)?, read32(&mut self.stream)?);
        let x: Option<Fq> = Fq::from_repr(le(x)).into();
        let y: Option<Fq> = Fq::from_repr(le(y)).into();
        let p = x
            .zip(y)
            .and_then(|(x, y)| Option::from(G1Affine::from_xy(x, y)))
            .ok_or_else(|| invalid("proof contains an invalid curve point"))?;
        self.common_point(p)?;
        Ok(p)
    }

    fn read_scalar(&mut self) -> io::Result<Fr> {
        let s: Option<Fr> = Fr::from_repr(le(read32(&mut self.stream)?)).into();
        let s = s.ok_or_else(|| invalid("proof contains a non-canonical scalar"))?;
        self.common_scalar(s)?;
        Ok(s)
    }
}

impl<R: Read> TranscriptReadBuffer<R, G1Affine, KeccakChallenge> for KeccakTranscript<R> {
    fn init(reader: R) -> Self {
        Self::new(reader)
    }
}

impl<W: Write> TranscriptWrite<G1Affine, KeccakChallenge> for KeccakTranscript<W> {
    fn write_point(&mut self, point: G1Affine) -> io::Result<()> {
        self.common_point(point)?;
        let c: halo2_proofs::halo2curves::Coordinates<G1Affine> = Option::from(point.coordinates())
            .ok_or_else(|| invalid("cannot write the point at infinity"))?;
        self.stream.write_all(&be32(c.x().to_repr()))?;
        self.stream.write_all(&be32(c.y().to_repr()))
    }

    fn write_scalar(&mut self, scalar: Fr) -> io::Result<()> {
        self.common_scalar(scalar)?;
        self.stream.write_all(&be32(scalar.to_repr()))
    }
}

impl<W: Write> TranscriptWriterBuffer<W, G1Affine, KeccakChallenge> for KeccakTranscript<W> {
    fn init(writer: W) -> Self {
        Self::new(writer)
    }

    fn finalize(self) -> W {
        self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_proofs::halo2curves::group::{prime::PrimeCurveAffine, Curve};

    #[test]
    fn write_then_read_gives_same_challenges() {
        let g = G1Affine::generator();
        let p = (g.to_curve() * Fr::from(7u64)).to_affine();
        let mut w = KeccakTranscript::new(Vec::new());
        w.common_scalar(Fr::from(3u64)).unwrap();
        w.write_point(p).unwrap();
        let c1 = w.squeeze_challenge().get_scalar();
        w.write_scalar(Fr::from(11u64)).unwrap();
        let c2 = w.squeeze_challenge().get_scalar();
        let c3 = w.squeeze_challenge().get_scalar();
        let bytes = w.finalize();
        assert_eq!(bytes.len(), 64 + 32);

        let mut r = KeccakTranscript::new(&bytes[..]);
        r.common_scalar(Fr::from(3u64)).unwrap();
        assert_eq!(r.read_point().unwrap(), p);
        assert_eq!(r.squeeze_challenge().get_scalar(), c1);
        assert_eq!(r.read_scalar().unwrap(), Fr::from(11u64));
        assert_eq!(r.squeeze_challenge().get_scalar(), c2);
        assert_eq!(r.squeeze_challenge().get_scalar(), c3);
        assert_ne!(c2, c3);
    }

    #[test]
    fn squeeze_layout() {
        // One absorbed scalar (32 bytes) gets a 0x01 byte appended before hashing, as in
        // snark-verifier's EvmTranscript; 64 bytes are hashed as they are.
        let mut t = KeccakTranscript::new(Vec::<u8>::new());
        t.common_scalar(Fr::from(0u64)).unwrap();
        let mut data = vec![0u8; 32];
        data.push(1);
        let h: [u8; 32] = Keccak256::digest(&data).into();
        assert_eq!(
            t.squeeze_challenge().get_scalar(),
            KeccakChallenge::new(&h).get_scalar()
        );
        // The next squeeze chains on the previous hash (32 bytes) plus 0x01.
        let mut data = h.to_vec();
        data.push(1);
        let h2: [u8; 32] = Keccak256::digest(&data).into();
        assert_eq!(
            t.squeeze_challenge().get_scalar(),
            KeccakChallenge::new(&h2).get_scalar()
        );
        let mut t = KeccakTranscript::new(Vec::<u8>::new());
        t.common_scalar(Fr::from(1u64)).unwrap();
        t.common_scalar(Fr::from(2u64)).unwrap();
        let mut data = vec![0u8; 64];
        data[31] = 1;
        data[63] = 2;
        let h: [u8; 32] = Keccak256::digest(&data).into();
        assert_eq!(
            t.squeeze_challenge().get_scalar(),
            KeccakChallenge::new(&h).get_scalar()
        );
        // Challenges are the hash read big-endian, reduced modulo r.
        let mut be = [0u8; 32];
        be[31] = 5;
        assert_eq!(KeccakChallenge::new(&be).get_scalar(), Fr::from(5u64));
    }

    #[test]
    fn rejects_bad_encodings() {
        let mut bytes = [0xffu8; 32].to_vec();
        let mut r = KeccakTranscript::new(&bytes[..]);
        assert!(r.read_scalar().is_err());
        bytes = vec![0u8; 64];
        bytes[31] = 1;
        bytes[63] = 1;
        let mut r = KeccakTranscript::new(&bytes[..]);
        assert!(r.read_point().is_err(), "(1, 1) is not on the curve");
        // Truncated input.
        let mut r = KeccakTranscript::new(&bytes[..40]);
        assert!(r.read_point().is_err());
    }
}
