//! SM2 signatures and SM3 digests: the one implementation every part of Gongxin uses (DESIGN §3).
//!
//! Signatures follow GB/T 32918 with SM3 and the default distinguishing ID `1234567812345678`, DER-encoded,
//! so `openssl pkeyutl -verify -rawin -digest sm3 -pkeyopt distid:1234567812345678` accepts them. Private keys
//! are PKCS#8 PEM, public keys SubjectPublicKeyInfo PEM, byte-compatible with OpenSSL 3.

use sm2::dsa::signature::{Signer, Verifier as _};
use sm2::elliptic_curve::Generate;
use sm2::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};

pub mod check;
mod ct_sign;
mod fast;
mod verifier;
#[cfg(test)]
mod verifier_tests;

pub use verifier::{Verifier, VerifierStats, DEFAULT_MAX_TABLES, TABLE_BYTES};

/// Bytes of the signer's fixed-base table for G (one per process, built on first signature).
pub const SIGN_TABLE_BYTES: usize = ct_sign::G_TABLE_BYTES;

/// The default SM2 distinguishing ID of GB/T 32918 / GM/T 0009.
pub const DIST_ID: &str = "1234567812345678";

/// An SM3 digest.
pub type Digest = [u8; 32];

/// SM3 of `data`.
pub fn sm3(data: &[u8]) -> Digest {
    use sm3::Digest as _;
    sm3::Sm3::digest(data).into()
}

/// SM3 over the concatenation of `parts`, without copying them together.
pub fn sm3_parts(parts: &[&[u8]]) -> Digest {
    use sm3::Digest as _;
    let mut h = sm3::Sm3::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("invalid SM2 private key (expected PKCS#8 PEM of an SM2 key): {0}")]
    PrivateKey(String),
    #[error("invalid SM2 public key (expected SubjectPublicKeyInfo PEM of an SM2 key): {0}")]
    PublicKey(String),
    #[error("malformed SM2 signature (expected DER SEQUENCE of r and s): {0}")]
    SignatureEncoding(String),
    #[error("SM2 signature does not verify")]
    BadSignature,
}

/// A node's SM2 signing key.
#[derive(Clone)]
pub struct SigningKey {
    inner: sm2::dsa::SigningKey,
    secret: sm2::SecretKey,
    /// d and (1 + d)^-1 for the constant-time fixed-base signer.
    scalars: ct_sign::SecretScalars,
    /// Z_A of the public key with the default ID.
    za: Digest,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("public", &self.public_key()).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh random key from the operating system's RNG.
    pub fn generate() -> Self {
        Self::from_secret(sm2::SecretKey::generate()).expect("a generated SM2 secret key is valid")
    }

    fn from_secret(secret: sm2::SecretKey) -> Result<Self, CryptoError> {
        let inner = sm2::dsa::SigningKey::new(DIST_ID, &secret).map_err(|e| CryptoError::PrivateKey(e.to_string()))?;
        let scalars = ct_sign::SecretScalars::new(&secret.to_nonzero_scalar())
            .ok_or_else(|| CryptoError::PrivateKey("d = n - 1 is not a valid SM2 private key".into()))?;
        let za = fast::za(DIST_ID.as_bytes(), inner.verifying_key().as_affine());
        Ok(Self { inner, secret, scalars, za })
    }

    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, CryptoError> {
        let secret = sm2::SecretKey::from_pkcs8_pem(pem).map_err(|e| CryptoError::PrivateKey(e.to_string()))?;
        Self::from_secret(secret)
    }

    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). Write it with mode 0600.
    pub fn to_pkcs8_pem(&self) -> String {
        self.secret.to_pkcs8_pem(LineEnding::LF).expect("PKCS#8 encoding of a valid key").to_string()
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_verifying_key(self.inner.verifying_key().clone())
    }

    /// DER-encoded SM2 signature over `msg` (SM3 with the default ID, Z_A prepended as the standard requires).
    ///
    /// Constant-time fixed-base signer (`ct_sign`): the same RFC 6979 nonce as the crate's signer, hence the same
    /// signature as [`Self::sign_reference`], several times faster.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let e = sm3_parts(&[&self.za, msg]);
        self.scalars.sign_digest(&e).to_der().to_vec()
    }

    /// The `sm2` crate's own signer. Not used in production: kept as the reference the tests compare [`Self::sign`]
    /// with and the benchmark measures it against.
    pub fn sign_reference(&self, msg: &[u8]) -> Vec<u8> {
        let sig: sm2::dsa::Signature = self.inner.sign(msg);
        sig.to_der().to_vec()
    }
}

/// An SM2 public key bound to the default distinguishing ID.
#[derive(Clone)]
pub struct PublicKey {
    inner: sm2::dsa::VerifyingKey,
    /// Z_A = SM3(ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A) for the default ID, computed once.
    za: Digest,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.inner.as_affine() == other.inner.as_affine()
    }
}
impl Eq for PublicKey {}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", hex::encode(&self.to_sec1_uncompressed()[1..9]))
    }
}

impl PublicKey {
    pub fn from_spki_pem(pem: &str) -> Result<Self, CryptoError> {
        let pk = sm2::PublicKey::from_public_key_pem(pem).map_err(|e| CryptoError::PublicKey(e.to_string()))?;
        Self::from_public(pk)
    }

    pub fn from_spki_der(der: &[u8]) -> Result<Self, CryptoError> {
        let pk = sm2::PublicKey::from_public_key_der(der).map_err(|e| CryptoError::PublicKey(e.to_string()))?;
        Self::from_public(pk)
    }

    pub fn from_sec1(bytes: &[u8]) -> Result<Self, CryptoError> {
        let inner = sm2::dsa::VerifyingKey::from_sec1_bytes(DIST_ID, bytes)
            .map_err(|e| CryptoError::PublicKey(e.to_string()))?;
        Ok(Self::from_verifying_key(inner))
    }

    fn from_public(pk: sm2::PublicKey) -> Result<Self, CryptoError> {
        let inner = sm2::dsa::VerifyingKey::new(DIST_ID, pk).map_err(|e| CryptoError::PublicKey(e.to_string()))?;
        Ok(Self::from_verifying_key(inner))
    }

    fn from_verifying_key(inner: sm2::dsa::VerifyingKey) -> Self {
        let za = fast::za(DIST_ID.as_bytes(), inner.as_affine());
        Self { inner, za }
    }

    /// SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn to_spki_pem(&self) -> String {
        self.inner.to_public_key_pem(LineEnding::LF).expect("SPKI encoding of a valid key")
    }

    pub fn to_spki_der(&self) -> Vec<u8> {
        self.inner.to_public_key_der().expect("SPKI encoding of a valid key").into_vec()
    }

    /// Uncompressed SEC1 point `04‖x‖y` (65 bytes).
    pub fn to_sec1_uncompressed(&self) -> Vec<u8> {
        self.inner.to_sec1_bytes().to_vec()
    }

    /// SM3 of the SPKI DER: a stable key identifier.
    pub fn key_id(&self) -> Digest {
        sm3(&self.to_spki_der())
    }

    /// The crate's verifier, the plain path. Verifies a DER signature over `msg`.
    pub fn verify(&self, msg: &[u8], der_sig: &[u8]) -> Result<(), CryptoError> {
        let sig = sm2::dsa::Signature::from_der(der_sig).map_err(|e| CryptoError::SignatureEncoding(e.to_string()))?;
        self.inner.verify(msg, &sig).map_err(|_| CryptoError::BadSignature)
    }

    /// Verifies a DER signature made with another distinguishing ID than the default (for test vectors and
    /// foreign signers; Gongxin itself always uses [`DIST_ID`]). Uses the crate's verifier.
    pub fn verify_with_id(&self, id: &str, msg: &[u8], der_sig: &[u8]) -> Result<(), CryptoError> {
        let sig = sm2::dsa::Signature::from_der(der_sig).map_err(|e| CryptoError::SignatureEncoding(e.to_string()))?;
        let vk = sm2::dsa::VerifyingKey::new(id, sm2::PublicKey::from(&self.inner))
            .map_err(|e| CryptoError::PublicKey(format!("distinguishing ID too long: {e}")))?;
        vk.verify(msg, &sig).map_err(|_| CryptoError::BadSignature)
    }

    /// Z_A of GB/T 32918.2 §5.5 for this key and the default ID: the value hashed in front of every message.
    pub fn za(&self) -> Digest {
        self.za
    }

    /// e = SM3(Z_A ‖ msg), the digest an SM2 signature over `msg` signs.
    pub fn message_digest(&self, msg: &[u8]) -> Digest {
        sm3_parts(&[&self.za, msg])
    }

    pub(crate) fn affine(&self) -> &sm2::AffinePoint {
        self.inner.as_affine()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sm3_known_answers() {
        assert_eq!(hex::encode(sm3(b"")), "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b");
        assert_eq!(hex::encode(sm3(b"abc")), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
        assert_eq!(sm3_parts(&[b"a", b"", b"bc"]), sm3(b"abc"));
    }

    #[test]
    fn sign_verify_roundtrip_and_pem() {
        let k = SigningKey::generate();
        let sig = k.sign(b"hello");
        assert!((70..=72).contains(&sig.len()), "DER length {}", sig.len());
        k.public_key().verify(b"hello", &sig).unwrap();
        assert!(matches!(k.public_key().verify(b"hellO", &sig), Err(CryptoError::BadSignature)));
        let k2 = SigningKey::from_pkcs8_pem(&k.to_pkcs8_pem()).unwrap();
        assert_eq!(k2.public_key(), k.public_key());
        let p2 = PublicKey::from_spki_pem(&k.public_key().to_spki_pem()).unwrap();
        p2.verify(b"hello", &sig).unwrap();
        assert_eq!(k2.sign(b"hello"), sig, "deterministic nonces: the reloaded key signs identically");
    }

    #[test]
    fn sign_equals_the_crate_signer_and_verifies_with_both_verifiers() {
        let v = Verifier::new();
        for i in 0..20u32 {
            let k = SigningKey::generate();
            let pk = k.public_key();
            if i % 2 == 1 {
                v.register(&pk);
            }
            assert_eq!(k.za, pk.za());
            for len in [0usize, 1, 31, 64, 200] {
                let msg: Vec<u8> = (0..len).map(|j| (j as u32 * 31 + i) as u8).collect();
                let sig = k.sign(&msg);
                assert_eq!(sig, k.sign_reference(&msg));
                pk.verify(&msg, &sig).expect("crate verifier");
                v.verify(&pk, &msg, &sig).expect("project verifier");
            }
        }
    }
}
