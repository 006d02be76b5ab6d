//! SM2 certificates (GB/T 32918 signatures with SM3, `SM2-with-SM3` = OID 1.2.156.10197.1.501, signer ID
//! `1234567812345678`), built with `x509-cert`'s builder and the RustCrypto `sm2` signer. rcgen cannot make
//! them (closed algorithm set). The profile is the same as the ECDSA path in [`crate::ca`]: same subject, SAN
//! URIs, DNS SAN, key usage and extended key usage, so [`crate::parse_identity`] reads both alike.
use crate::{CertError, Result};
use rustls_pki_types::CertificateDer;
use sm2::elliptic_curve::Generate;
use sm2::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use std::time::SystemTime;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::der::asn1::{Ia5String, OctetString, Utf8StringRef};
use x509_cert::der::oid::db::rfc4519;
use x509_cert::der::oid::db::rfc5280::{ID_KP_CLIENT_AUTH, ID_KP_SERVER_AUTH};
use x509_cert::der::{self, Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
    SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};
use x509_cert::TbsCertificate;

/// The signer ID of certificate signatures (GB/T 32918.2 default; what OpenSSL needs as `distid`).
pub const CERT_SIGNER_ID: &str = "1234567812345678";
/// OID of `SM2-with-SM3` signatures.
pub const SM2_WITH_SM3_OID: &str = "1.2.156.10197.1.501";
/// OID of the SM2 curve in a SubjectPublicKeyInfo (`id-ecPublicKey` parameters).
pub const SM2_CURVE_OID: &str = "1.2.156.10197.1.301";

/// An SM2 private key (PKCS#8 on disk, the structure OpenSSL 3 writes for `genpkey -algorithm SM2`).
#[derive(Clone)]
pub struct Sm2Key {
    secret: sm2::SecretKey,
}

impl std::fmt::Debug for Sm2Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sm2Key(<redacted>)")
    }
}

impl Sm2Key {
    pub fn generate() -> Result<Sm2Key> {
        let secret = sm2::SecretKey::try_generate()
            .map_err(|_| CertError::Tls("system random number generator failed".into()))?;
        Ok(Sm2Key { secret })
    }

    pub fn from_pkcs8_der(der: &[u8]) -> Result<Sm2Key> {
        let secret = sm2::SecretKey::from_pkcs8_der(der)
            .map_err(|e| CertError::Tls(format!("not an SM2 PKCS#8 private key: {e}")))?;
        Ok(Sm2Key { secret })
    }

    pub fn to_pkcs8_pem(&self) -> Result<String> {
        self.secret
            .to_pkcs8_pem(LineEnding::LF)
            .map(|p| p.to_string())
            .map_err(|e| CertError::Tls(format!("encode SM2 private key: {e}")))
    }

    pub(crate) fn secret(&self) -> &sm2::SecretKey {
        &self.secret
    }

    /// The signer for certificate signatures (ID [`CERT_SIGNER_ID`]).
    fn cert_signer(&self) -> Result<DerSigner> {
        self.signer_with_id(CERT_SIGNER_ID)
    }

    fn signer_with_id(&self, id: &str) -> Result<DerSigner> {
        sm2::dsa::SigningKey::new(id, &self.secret)
            .map(DerSigner)
            .map_err(|_| CertError::Tls("SM2 signing key rejected".into()))
    }

    /// Uncompressed SEC1 public point, as it appears in the SubjectPublicKeyInfo bit string.
    pub fn public_sec1(&self) -> Vec<u8> {
        use sm2::elliptic_curve::sec1::ToSec1Point;
        self.secret.public_key().to_sec1_point(false).as_bytes().to_vec()
    }

    fn spki(&self) -> Result<SubjectPublicKeyInfoOwned> {
        let signer = self.cert_signer()?;
        SubjectPublicKeyInfoOwned::from_key(signer.0.verifying_key())
            .map_err(|e| CertError::Tls(format!("SM2 public key info: {e}")))
    }
}

/// The crate's SM2 signer, producing the DER `SEQUENCE { r, s }` that X.509 (and OpenSSL) expect in a
/// certificate's signature bit string; the crate's own `Signature` encodes as raw `r || s`.
struct DerSigner(sm2::dsa::SigningKey);

impl sm2::dsa::signature::Signer<sm2::dsa::DerSignature> for DerSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<sm2::dsa::DerSignature, sm2::dsa::signature::Error> {
        let sig: sm2::dsa::Signature = self.0.try_sign(msg)?;
        Ok(sig.to_der())
    }
}

impl sm2::dsa::signature::KeypairRef for DerSigner {
    type VerifyingKey = sm2::dsa::VerifyingKey;
}

impl AsRef<sm2::dsa::VerifyingKey> for DerSigner {
    fn as_ref(&self) -> &sm2::dsa::VerifyingKey {
        self.0.verifying_key()
    }
}

impl x509_cert::spki::SignatureAlgorithmIdentifier for DerSigner {
    type Params = der::AnyRef<'static>;
    const SIGNATURE_ALGORITHM_IDENTIFIER: x509_cert::spki::AlgorithmIdentifier<Self::Params> =
        <sm2::dsa::SigningKey as x509_cert::spki::SignatureAlgorithmIdentifier>::SIGNATURE_ALGORITHM_IDENTIFIER;
}

/// True if the DER certificate's public key is on the SM2 curve.
pub fn is_sm2_cert(cert_der: &[u8]) -> bool {
    x509_cert::Certificate::from_der(cert_der)
        .ok()
        .and_then(|c| {
            let alg = &c.tbs_certificate().subject_public_key_info().algorithm;
            let curve = alg.parameters.as_ref()?.decode_as::<der::asn1::ObjectIdentifier>().ok()?;
            Some(curve.to_string() == SM2_CURVE_OID)
        })
        .unwrap_or(false)
}

/// Which kind of certificate [`build`] makes.
pub(crate) enum Profile {
    /// The self-signed federation CA (path length 0).
    Ca,
    /// An end-entity certificate with these SANs and extended key usages.
    EndEntity { uris: Vec<String>, dns: Vec<String>, server_auth: bool },
}

/// What goes into one certificate.
pub(crate) struct Params<'a> {
    /// Subject as (attribute, value) pairs in order: `O`, optionally `OU`, `CN`.
    pub subject: Vec<(DnAttr, String)>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// Positive serial number bytes (big-endian).
    pub serial: &'a [u8],
    pub profile: Profile,
}

#[derive(Clone, Copy)]
pub(crate) enum DnAttr {
    O,
    Ou,
    Cn,
}

/// The issuing CA: its certificate (for the issuer name and key identifier) and key.
pub(crate) struct Issuer<'a> {
    pub cert_der: &'a [u8],
    pub key: &'a Sm2Key,
}

/// Builds and signs a certificate for `subject_key`, self-signed when `issuer` is None.
pub(crate) fn build(
    params: &Params<'_>,
    subject_key: &Sm2Key,
    issuer: Option<Issuer<'_>>,
) -> Result<CertificateDer<'static>> {
    build_with_id(params, subject_key, issuer, CERT_SIGNER_ID)
}

/// [`build`] with another signer ID (tests: a certificate signed with the wrong ID must be refused).
pub(crate) fn build_with_id(
    params: &Params<'_>,
    subject_key: &Sm2Key,
    issuer: Option<Issuer<'_>>,
    signer_id: &str,
) -> Result<CertificateDer<'static>> {
    let gen_err = |what: &str, e: &dyn std::fmt::Display| CertError::Tls(format!("build SM2 certificate: {what}: {e}"));
    let subject = name(&params.subject)?;
    let spki = subject_key.spki()?;
    let ski = key_id(&spki)?;
    let (issuer_name, aki, signer) = match &issuer {
        Some(i) => {
            let cert = x509_cert::Certificate::from_der(i.cert_der).map_err(|e| gen_err("CA certificate", &e))?;
            let issuer_spki = &cert.tbs_certificate().subject_public_key_info();
            (cert.tbs_certificate().subject().clone(), key_id(issuer_spki)?, i.key.signer_with_id(signer_id)?)
        }
        None => (subject.clone(), ski.clone(), subject_key.signer_with_id(signer_id)?),
    };
    let serial = SerialNumber::new(params.serial).map_err(|e| gen_err("serial", &e))?;
    let validity = Validity::new(time(params.not_before)?, time(params.not_after)?);
    let profile = FixedProfile { subject: subject.clone(), issuer: issuer_name };
    let mut b = CertificateBuilder::new(profile, serial, validity, spki).map_err(|e| gen_err("builder", &e))?;

    let ext = |e: std::result::Result<(), der::Error>| e.map_err(|e| gen_err("extension", &e));
    match &params.profile {
        Profile::Ca => {
            ext(b.add_extension(&BasicConstraints { ca: true, path_len_constraint: Some(0) }))?;
            ext(b.add_extension(&KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature)))?;
            ext(b.add_extension(&SubjectKeyIdentifier(OctetString::new(ski).map_err(|e| gen_err("SKI", &e))?)))?;
        }
        Profile::EndEntity { uris, dns, server_auth } => {
            let mut names = Vec::new();
            for u in uris {
                names.push(GeneralName::UniformResourceIdentifier(
                    Ia5String::new(u).map_err(|e| gen_err("SAN URI", &e))?,
                ));
            }
            for d in dns {
                names.push(GeneralName::DnsName(Ia5String::new(d).map_err(|e| gen_err("SAN DNS", &e))?));
            }
            ext(b.add_extension(&SubjectAltName(names)))?;
            ext(b.add_extension(&KeyUsage(KeyUsages::DigitalSignature.into())))?;
            let mut eku = Vec::new();
            if *server_auth {
                eku.push(ID_KP_SERVER_AUTH);
            }
            eku.push(ID_KP_CLIENT_AUTH);
            ext(b.add_extension(&ExtendedKeyUsage(eku)))?;
            ext(b.add_extension(&BasicConstraints { ca: false, path_len_constraint: None }))?;
            ext(b.add_extension(&SubjectKeyIdentifier(OctetString::new(ski).map_err(|e| gen_err("SKI", &e))?)))?;
            ext(b.add_extension(&AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(aki).map_err(|e| gen_err("AKI", &e))?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            }))?;
        }
    }
    let cert = b.build::<_, sm2::dsa::DerSignature>(&signer).map_err(|e| gen_err("sign", &e))?;
    let der = cert.to_der().map_err(|e| gen_err("encode", &e))?;
    Ok(CertificateDer::from(der))
}

/// RFC 5280 §4.2.1.2 method (1): SHA-1 of the subject public key bit string.
fn key_id(spki: &SubjectPublicKeyInfoOwned) -> Result<Vec<u8>> {
    let bits = spki.subject_public_key.raw_bytes();
    Ok(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, bits).as_ref().to_vec())
}

fn name(attrs: &[(DnAttr, String)]) -> Result<Name> {
    let mut seq = RdnSequence::default();
    for (attr, value) in attrs {
        let oid = match attr {
            DnAttr::O => rfc4519::O,
            DnAttr::Ou => rfc4519::OU,
            DnAttr::Cn => rfc4519::CN,
        };
        let bad = |_: der::Error| CertError::InvalidName {
            name: value.clone(),
            reason: "cannot be encoded as a UTF8String in a certificate subject",
        };
        let utf8 = Utf8StringRef::new(value).map_err(bad)?;
        let value = der::Any::from(utf8);
        let rdn = RelativeDistinguishedName::try_from(vec![AttributeTypeAndValue { oid, value }]).map_err(bad)?;
        seq.push(rdn);
    }
    // Through DER so that Name's own checks apply (the direct constructor is behind a "hazmat" feature).
    let der = seq.to_der().map_err(|e| CertError::Tls(format!("encode subject: {e}")))?;
    Name::from_der(&der).map_err(|e| CertError::Tls(format!("subject: {e}")))
}

fn time(t: SystemTime) -> Result<Time> {
    Time::try_from(t).map_err(|e| CertError::Validity(format!("time not encodable in a certificate: {e}")))
}

/// A builder profile that adds nothing: every extension is added explicitly in [`build`].
struct FixedProfile {
    subject: Name,
    issuer: Name,
}

impl BuilderProfile for FixedProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Algorithm, Ca, CaOptions, NodeCode, Role};

    /// A node certificate issued by `ca`'s key but signed with another signer ID is refused by the chain
    /// verification (the ID is part of what is checked), while the same certificate with the right ID passes.
    #[test]
    fn certificate_signed_with_the_wrong_id_is_refused() {
        let ca = Ca::create_with(&CaOptions::default(), Algorithm::Sm2).expect("ca");
        let anchor = crate::tls::CaCert::from(&ca);
        let key = Sm2Key::generate().expect("key");
        let code = NodeCode::parse("430102").expect("code");
        let now = SystemTime::now();
        let params = |serial: &'static [u8]| Params {
            subject: vec![(DnAttr::O, "Gongxin federation".into()), (DnAttr::Cn, "430102".into())],
            not_before: now - std::time::Duration::from_secs(60),
            not_after: now + std::time::Duration::from_secs(3600),
            serial,
            profile: Profile::EndEntity {
                uris: vec![code.uri(), Role::Node.uri()],
                dns: vec![code.dns_name()],
                server_auth: true,
            },
        };
        let ca_key = ca.sm2_key().expect("sm2 CA");
        let issuer = || Issuer { cert_der: ca.cert_der(), key: ca_key };
        let good = build(&params(&[1]), &key, Some(issuer())).expect("build");
        crate::tls::verify_client_cert(&anchor, &[good], now).expect("right ID verifies");
        for id in [crate::gm::TLS13_SIGNER_ID, "", "1234567812345679"] {
            let bad = build_with_id(&params(&[2]), &key, Some(issuer()), id).expect("build");
            let e = crate::tls::verify_client_cert(&anchor, &[bad], now).expect_err("wrong ID accepted");
            assert!(e.to_string().contains("BadSignature") || e.to_string().contains("signature"), "{id:?}: {e}");
        }
    }
}
