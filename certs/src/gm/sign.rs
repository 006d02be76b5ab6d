//! SM2 signatures in TLS 1.3: the signature scheme sm2sig_sm3 (RFC 8998 §3.2.1, 0x0708) for CertificateVerify,
//! and SM2-with-SM3 certificate signatures for chain verification.
//!
//! The two use different signer IDs, and each verification algorithm is bound to one:
//! - CertificateVerify: `TLSv1.3+GM+Cipher+Suite` (RFC 8998 §3.2.1: "the ID ... MUST be the string
//!   TLSv1.3+GM+Cipher+Suite"), the value Tongsuo and OpenSSL 3.x use for TLS 1.3;
//! - certificate signatures: `1234567812345678` (GB/T 32918, what our CA signs with; see [`crate::sm2x509`]).
//!
//! So a certificate signed with the TLS ID, or a CertificateVerify made with the certificate ID, is refused.
use crate::sm2x509::{Sm2Key, CERT_SIGNER_ID};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{
    AlgorithmIdentifier, InvalidSignature, PrivateKeyDer, SignatureVerificationAlgorithm, SubjectPublicKeyInfoDer,
};
use rustls::sign::{Signer, SigningKey};
use rustls::{Error, SignatureAlgorithm, SignatureScheme};
use sm2::dsa::signature::{Signer as _, Verifier as _};
use std::sync::Arc;

/// Code point of sm2sig_sm3.
pub const SM2SIG_SM3_ID: u16 = 0x0708;
/// The signer ID of TLS 1.3 CertificateVerify signatures (RFC 8998 §3.2.1).
pub const TLS13_SIGNER_ID: &str = "TLSv1.3+GM+Cipher+Suite";

pub const SM2SIG_SM3: SignatureScheme = SignatureScheme::Unknown(SM2SIG_SM3_ID);

/// AlgorithmIdentifier contents (no outer SEQUENCE) of an SM2 public key: id-ecPublicKey, curve SM2.
const SM2_PUBLIC_KEY_ALG: &[u8] = &[
    0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, // 1.2.840.10045.2.1 id-ecPublicKey
    0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d, // 1.2.156.10197.1.301 SM2
];
/// AlgorithmIdentifier contents of SM2-with-SM3 (no parameters), as our CA and OpenSSL write it.
const SM2_WITH_SM3_ALG: &[u8] = &[0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x75];

/// An SM2 signature verification bound to one signer ID.
#[derive(Debug)]
pub struct Sm2Verify {
    id: &'static str,
}

/// Verifies certificate signatures (ID 1234567812345678).
pub static SM2_CERT_SIGNATURE: Sm2Verify = Sm2Verify { id: CERT_SIGNER_ID };
/// Verifies TLS 1.3 CertificateVerify signatures (ID TLSv1.3+GM+Cipher+Suite).
pub static SM2_TLS13_SIGNATURE: Sm2Verify = Sm2Verify { id: TLS13_SIGNER_ID };

/// What the provider verifies: SM2-with-SM3 certificate chains, and sm2sig_sm3 in CertificateVerify.
pub static SUPPORTED_SIG_ALGS: WebPkiSupportedAlgorithms =
    WebPkiSupportedAlgorithms { all: &[&SM2_CERT_SIGNATURE], mapping: &[(SM2SIG_SM3, &[&SM2_TLS13_SIGNATURE])] };

impl SignatureVerificationAlgorithm for Sm2Verify {
    fn verify_signature(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), InvalidSignature> {
        let key = sm2::dsa::VerifyingKey::from_sec1_bytes(self.id, public_key).map_err(|_| InvalidSignature)?;
        let sig = sm2::dsa::Signature::from_der(signature).map_err(|_| InvalidSignature)?;
        key.verify(message, &sig).map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        AlgorithmIdentifier::from_slice(SM2_PUBLIC_KEY_ALG)
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        AlgorithmIdentifier::from_slice(SM2_WITH_SM3_ALG)
    }
}

/// An SM2 private key as a rustls signing key: offers sm2sig_sm3 only.
#[derive(Debug)]
pub struct Sm2SigningKey {
    key: Sm2Key,
    spki: Vec<u8>,
}

impl Sm2SigningKey {
    pub fn new(key: Sm2Key) -> Result<Sm2SigningKey, Error> {
        use sm2::pkcs8::EncodePublicKey;
        let spki = key
            .secret()
            .public_key()
            .to_public_key_der()
            .map_err(|e| Error::General(format!("SM2 public key: {e}")))?
            .into_vec();
        Ok(Sm2SigningKey { key, spki })
    }
}

impl SigningKey for Sm2SigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        if !offered.contains(&SM2SIG_SM3) {
            return None;
        }
        let signer = sm2::dsa::SigningKey::new(TLS13_SIGNER_ID, self.key.secret()).ok()?;
        Some(Box::new(Sm2Signer(signer)))
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(SubjectPublicKeyInfoDer::from(self.spki.as_slice()))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        // The TLS 1.2 SignatureAlgorithm registry has no SM2 entry; 0x08 is the low byte of sm2sig_sm3.
        SignatureAlgorithm::Unknown(0x08)
    }
}

struct Sm2Signer(sm2::dsa::SigningKey);

impl std::fmt::Debug for Sm2Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sm2Signer(sm2sig_sm3)")
    }
}

impl Signer for Sm2Signer {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let sig: sm2::dsa::Signature =
            self.0.try_sign(message).map_err(|_| Error::General("SM2 signing failed".into()))?;
        Ok(sig.to_der().to_vec())
    }

    fn scheme(&self) -> SignatureScheme {
        SM2SIG_SM3
    }
}

/// Loads SM2 PKCS#8 private keys (the only kind the SM2 profile uses).
#[derive(Debug)]
pub struct Sm2KeyProvider;

impl rustls::crypto::KeyProvider for Sm2KeyProvider {
    fn load_private_key(&self, key_der: PrivateKeyDer<'static>) -> Result<Arc<dyn SigningKey>, Error> {
        let PrivateKeyDer::Pkcs8(der) = key_der else {
            return Err(Error::General("the SM2 profile needs a PKCS#8 SM2 private key".into()));
        };
        let key = Sm2Key::from_pkcs8_der(der.secret_pkcs8_der()).map_err(|e| Error::General(e.to_string()))?;
        Ok(Arc::new(Sm2SigningKey::new(key)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Sm2Key {
        Sm2Key::generate().expect("key")
    }

    #[test]
    fn certificate_verify_uses_the_tls_id_and_is_refused_with_any_other() {
        let k = key();
        let signing = Sm2SigningKey::new(k.clone()).expect("signing key");
        let signer = signing.choose_scheme(&[SignatureScheme::ECDSA_NISTP256_SHA256, SM2SIG_SM3]).expect("scheme");
        assert_eq!(signer.scheme(), SM2SIG_SM3);
        let msg = b"TLS 1.3, server CertificateVerify";
        let sig = signer.sign(msg).expect("sign");
        let public = k.public_sec1();
        assert!(SM2_TLS13_SIGNATURE.verify_signature(&public, msg, &sig).is_ok());
        // The same signature under the certificate ID, a changed message, a changed signature: refused.
        assert!(SM2_CERT_SIGNATURE.verify_signature(&public, msg, &sig).is_err());
        assert!(SM2_TLS13_SIGNATURE.verify_signature(&public, b"other", &sig).is_err());
        let mut bad = sig.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(SM2_TLS13_SIGNATURE.verify_signature(&public, msg, &bad).is_err());
        // Another key's public point: refused.
        assert!(SM2_TLS13_SIGNATURE.verify_signature(&key().public_sec1(), msg, &sig).is_err());
        // Garbage instead of DER.
        assert!(SM2_TLS13_SIGNATURE.verify_signature(&public, msg, &[0x30, 0x00]).is_err());
    }

    #[test]
    fn key_provider_loads_only_sm2_pkcs8() {
        use rustls::crypto::KeyProvider as _;
        let pem = key().to_pkcs8_pem().expect("pem");
        let der = crate::parse_key_pem(pem.as_bytes(), "sm2").expect("parse");
        assert!(Sm2KeyProvider.load_private_key(der).is_ok());
        let ecdsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("ecdsa");
        let der = crate::parse_key_pem(ecdsa.serialize_pem().as_bytes(), "ecdsa").expect("parse");
        assert!(Sm2KeyProvider.load_private_key(der).is_err(), "a P-256 key was taken for SM2");
        let sec1 = PrivateKeyDer::Sec1(vec![0x30, 0x00].into());
        assert!(Sm2KeyProvider.load_private_key(sec1).is_err());
    }

    #[test]
    fn only_sm2sig_sm3_is_offered() {
        let signing = Sm2SigningKey::new(key()).expect("signing key");
        assert!(signing.choose_scheme(&[SignatureScheme::ECDSA_NISTP256_SHA256, SignatureScheme::ED25519]).is_none());
        assert!(signing.public_key().is_some());
    }

    #[test]
    fn standard_signature_verifies() {
        // GB/T 32918.5-2017 Annex A (recommended curve), signer ID 1234567812345678: the (r, s) of the
        // standard over "message digest" verifies with the standard's public key under the certificate ID.
        let public = super::super::tests_support::unhex(
            "0409F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020\
             CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13",
        );
        let r = super::super::tests_support::unhex("F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3");
        let s = super::super::tests_support::unhex("B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA");
        let sig = sm2::dsa::Signature::from_scalars(
            <[u8; 32]>::try_from(r.as_slice()).expect("r"),
            <[u8; 32]>::try_from(s.as_slice()).expect("s"),
        )
        .expect("sig");
        let der = sig.to_der().to_vec();
        assert!(SM2_CERT_SIGNATURE.verify_signature(&public, b"message digest", &der).is_ok());
        assert!(SM2_TLS13_SIGNATURE.verify_signature(&public, b"message digest", &der).is_err());
    }
}
