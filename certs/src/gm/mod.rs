//! A rustls 0.23 `CryptoProvider` for RFC 8998 ("ShangMi (SM) Cipher Suites for TLS 1.3"): the national
//! cryptography TLS profile of the federation (`sm2`).
//!
//! | piece | code point | built on |
//! |---|---|---|
//! | cipher suite TLS_SM4_GCM_SM3 | 0x00C6 | [`sm4::Sm4Ct`] (constant-time S-box) in RustCrypto GCM, SM3, HKDF over HMAC-SM3 |
//! | cipher suite TLS_SM4_CCM_SM3 | 0x00C7 | the same with RustCrypto CCM |
//! | key exchange group curveSM2 | 0x0029 | RustCrypto `sm2` ECDH (constant-time scalar multiplication) |
//! | signature scheme sm2sig_sm3 | 0x0708 | RustCrypto `sm2` signatures, ID `TLSv1.3+GM+Cipher+Suite` |
//! | certificate signatures SM2-with-SM3 | OID 1.2.156.10197.1.501 | ID `1234567812345678`, verified by rustls-webpki |
//!
//! Nothing else is offered: a peer that speaks only AES/X25519/ECDSA fails the handshake. TLS 1.3 only
//! (RFC 8998 defines nothing for TLS 1.2).
pub mod kx;
pub mod sign;
pub mod sm4;
pub mod suite;

use rustls::crypto::CryptoProvider;

pub use kx::{CURVE_SM2, CURVE_SM2_ID};
pub use sign::{Sm2KeyProvider, SM2SIG_SM3, SM2SIG_SM3_ID, SUPPORTED_SIG_ALGS, TLS13_SIGNER_ID};
pub use suite::{TLS13_SM4_CCM_SM3, TLS13_SM4_GCM_SM3, TLS_SM4_CCM_SM3_ID, TLS_SM4_GCM_SM3_ID};

/// The RFC 8998 provider: TLS_SM4_GCM_SM3 (preferred) and TLS_SM4_CCM_SM3, curveSM2, sm2sig_sm3, SM2
/// certificates. Random numbers come from
/// the operating system through ring's `SystemRandom`.
pub fn provider() -> CryptoProvider {
    CryptoProvider {
        // GCM first (faster: GHASH is carry-less multiplication, CCM's CBC-MAC is a second SM4 pass).
        cipher_suites: vec![TLS13_SM4_GCM_SM3, TLS13_SM4_CCM_SM3],
        kx_groups: vec![&CURVE_SM2],
        signature_verification_algorithms: SUPPORTED_SIG_ALGS,
        secure_random: rustls::crypto::ring::default_provider().secure_random,
        key_provider: &Sm2KeyProvider,
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    pub(crate) fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
    }
}

/// Network input into the provider never panics: random key shares, records and signatures are refused.
#[cfg(test)]
mod garbage {
    use rustls::crypto::cipher::{AeadKey, InboundOpaqueMessage, Iv, Tls13AeadAlgorithm};
    use rustls::pki_types::SignatureVerificationAlgorithm;
    use rustls::{ContentType, ProtocolVersion};

    /// A small deterministic generator (xorshift64*), enough to vary lengths and bytes.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn bytes(&mut self, max: usize) -> Vec<u8> {
            let n = (self.next() as usize) % (max + 1);
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    #[test]
    fn random_input_is_refused_without_panic() {
        use rustls::crypto::SupportedKxGroup;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let public = crate::sm2x509::Sm2Key::generate().expect("key").public_sec1();
        for i in 0..2000 {
            let mut share = rng.bytes(80);
            if i % 2 == 0 && !share.is_empty() {
                share[0] = 0x04; // exercise the point decoding too
            }
            let kx = super::CURVE_SM2.start().expect("start");
            let _ = kx.complete(&share); // Ok only for a valid point; never a panic

            let mut body = rng.bytes(64);
            for aead in [&super::suite::Sm4GcmAead as &dyn Tls13AeadAlgorithm, &super::suite::Sm4CcmAead] {
                let mut dec = aead.decrypter(AeadKey::from([1u8; 32]), Iv::new([2u8; 12]));
                let msg = InboundOpaqueMessage::new(ContentType::ApplicationData, ProtocolVersion::TLSv1_2, &mut body);
                assert!(dec.decrypt(msg, i).is_err(), "random record accepted");
            }

            let sig = rng.bytes(80);
            let msg = rng.bytes(40);
            assert!(super::sign::SM2_TLS13_SIGNATURE.verify_signature(&public, &msg, &sig).is_err());
            assert!(super::sign::SM2_CERT_SIGNATURE.verify_signature(&share, &msg, &sig).is_err());
        }
    }
}
