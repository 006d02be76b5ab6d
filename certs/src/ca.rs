//! The federation CA: create, save, load, and issue node / operator / auditor certificates.
use crate::identity::{self, parse_der, CertInfo, NodeCode, PeerIdentity, Role};
use crate::pem::{self, ensure_writable, write_file};
use crate::sm2x509::{self, DnAttr, Sm2Key};
use crate::{CertError, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};
use rustls_pki_types::CertificateDer;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// File name of the CA certificate inside a CA directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key inside a CA directory (mode 0600).
pub const CA_KEY_FILE: &str = "ca.key";
/// Organization written into every subject.
pub const ORGANIZATION: &str = "Gongxin federation";

/// Longest validity accepted for anything, in days (100 years).
const MAX_DAYS: u32 = 36_500;
/// Issued certificates start this long before "now" so that a county whose clock is a little behind accepts them.
const BACKDATE: Duration = Duration::hours(1);

/// The signature algorithm of a federation PKI: the CA's key and every certificate it issues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256 (rcgen, ring). The TLS profile `ecdsa`.
    #[default]
    EcdsaP256,
    /// SM2 with SM3 (GB/T 32918, signer ID `1234567812345678`). The TLS profile `sm2` (RFC 8998).
    Sm2,
}

impl Algorithm {
    pub const ALL: [Algorithm; 2] = [Algorithm::EcdsaP256, Algorithm::Sm2];

    /// `ecdsa` or `sm2` (the spelling of `--algorithm` and of `tls_profile`).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::EcdsaP256 => "ecdsa",
            Algorithm::Sm2 => "sm2",
        }
    }

    /// The algorithm of a DER certificate's public key (SM2 curve or anything else = ECDSA profile).
    pub fn of_cert(cert_der: &[u8]) -> Algorithm {
        if sm2x509::is_sm2_cert(cert_der) {
            Algorithm::Sm2
        } else {
            Algorithm::EcdsaP256
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = CertError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ecdsa" | "ecdsa-p256" => Ok(Algorithm::EcdsaP256),
            "sm2" => Ok(Algorithm::Sm2),
            other => Err(CertError::Tls(format!("algorithm {other:?}: expected sm2 or ecdsa"))),
        }
    }
}

/// Parameters of a new federation CA.
#[derive(Clone, Debug)]
pub struct CaOptions {
    /// Subject common name.
    pub name: String,
    /// Validity in days.
    pub days: u32,
}

impl Default for CaOptions {
    fn default() -> Self {
        CaOptions { name: "Gongxin Federation CA".into(), days: 3650 }
    }
}

/// Parameters of one issued certificate; the defaults suit production.
#[derive(Clone, Debug, Default)]
pub struct IssueOptions {
    /// Node: optional place name (`芙蓉区`) added to the common name. Operator/auditor: the person's name
    /// (required).
    pub name: Option<String>,
    /// Validity in days; default [`default_days`] of the role.
    pub days: Option<u32>,
    /// Start of validity; default one hour ago. Tests set it in the past to make expired certificates.
    pub not_before: Option<OffsetDateTime>,
}

/// Default validity of a role, in days: two years for nodes (offline counties renew rarely), one year for people.
pub fn default_days(role: Role) -> u32 {
    match role {
        Role::Node => 730,
        Role::Operator | Role::Auditor | Role::BusinessSystem => 365,
    }
}

/// A freshly issued certificate and its private key, both PEM. The key is PKCS#8.
#[derive(Clone)]
pub struct IssuedCert {
    pub role: Role,
    pub code: NodeCode,
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: CertificateDer<'static>,
}

impl std::fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCert")
            .field("role", &self.role)
            .field("code", &self.code)
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl IssuedCert {
    /// File stem used when none is given: `node-430102`, `operator-430102`, `auditor-430000`.
    pub fn default_stem(role: Role, code: &NodeCode) -> String {
        format!("{role}-{code}")
    }

    /// The identity as a peer would see it.
    pub fn identity(&self) -> Result<PeerIdentity> {
        identity::parse_identity(&self.cert_der)
    }

    /// Writes `<dir>/<stem>.pem` (0644) and `<dir>/<stem>.key` (0600) and returns their paths. Neither file is
    /// written if either exists and `force` is false. `dir` is created if missing.
    pub fn save(&self, dir: &Path, stem: Option<&str>, force: bool) -> Result<(PathBuf, PathBuf)> {
        let stem = stem.map(str::to_string).unwrap_or_else(|| Self::default_stem(self.role, &self.code));
        if stem.is_empty() || stem.contains(['/', '\\']) || stem.starts_with('.') {
            return Err(CertError::InvalidName { name: stem, reason: "file stem must be a plain file name" });
        }
        let cert_path = dir.join(format!("{stem}.pem"));
        let key_path = dir.join(format!("{stem}.key"));
        save_pair(dir, &cert_path, self.cert_pem.as_bytes(), &key_path, self.key_pem.as_bytes(), force)?;
        Ok((cert_path, key_path))
    }
}

/// The federation CA: its certificate and signing key.
pub struct Ca {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    key: CaKey,
}

enum CaKey {
    EcdsaP256(Box<KeyPair>),
    Sm2(Sm2Key),
}

impl CaKey {
    fn pem(&self) -> Result<String> {
        match self {
            CaKey::EcdsaP256(k) => Ok(k.serialize_pem()),
            CaKey::Sm2(k) => k.to_pkcs8_pem(),
        }
    }
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").field("cert_pem", &self.cert_pem).field("key", &"<redacted>").finish()
    }
}

impl Ca {
    /// Creates a new self-signed CA (ECDSA P-256) in memory. Use [`Ca::save`] to write it.
    pub fn create(opts: &CaOptions) -> Result<Ca> {
        Ca::create_with(opts, Algorithm::EcdsaP256)
    }

    /// Creates a new self-signed CA with `algorithm`; every certificate it issues uses the same algorithm.
    pub fn create_with(opts: &CaOptions, algorithm: Algorithm) -> Result<Ca> {
        check_name(&opts.name)?;
        check_days(opts.days)?;
        if algorithm == Algorithm::Sm2 {
            return Ca::create_sm2(opts);
        }
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, ORGANIZATION);
        dn.push(DnType::CommonName, opts.name.as_str());
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or_else(|_| OffsetDateTime::now_utc());
        params.not_before = now - BACKDATE;
        params.not_after = now + Duration::days(i64::from(opts.days));
        params.serial_number = Some(random_serial()?);
        let cert = params.self_signed(&key)?;
        Ok(Ca { cert_pem: cert.pem(), cert_der: cert.der().clone(), key: CaKey::EcdsaP256(Box::new(key)) })
    }

    fn create_sm2(opts: &CaOptions) -> Result<Ca> {
        let key = Sm2Key::generate()?;
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or_else(|_| OffsetDateTime::now_utc());
        let serial = random_serial_bytes()?;
        let params = sm2x509::Params {
            subject: vec![(DnAttr::O, ORGANIZATION.into()), (DnAttr::Cn, opts.name.clone())],
            not_before: (now - BACKDATE).into(),
            not_after: (now + Duration::days(i64::from(opts.days))).into(),
            serial: &serial,
            profile: sm2x509::Profile::Ca,
        };
        let cert_der = sm2x509::build(&params, &key, None)?;
        Ok(Ca { cert_pem: pem::to_pem("CERTIFICATE", &cert_der), cert_der, key: CaKey::Sm2(key) })
    }

    #[cfg(test)]
    pub(crate) fn sm2_key(&self) -> Option<&Sm2Key> {
        match &self.key {
            CaKey::Sm2(k) => Some(k),
            CaKey::EcdsaP256(_) => None,
        }
    }

    /// The algorithm of the CA key and of every certificate it issues.
    pub fn algorithm(&self) -> Algorithm {
        match self.key {
            CaKey::EcdsaP256(_) => Algorithm::EcdsaP256,
            CaKey::Sm2(_) => Algorithm::Sm2,
        }
    }

    /// Loads `<dir>/ca.pem` and `<dir>/ca.key` (which must be mode 0600 or stricter) and checks that they
    /// belong together and that the certificate is a CA.
    pub fn load(dir: impl AsRef<Path>) -> Result<Ca> {
        let dir = dir.as_ref();
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let cert_pem = pem::read(&cert_path, "read CA certificate")?;
        let key_pem = pem::read_private(&key_path)?;
        Ca::from_pem(&cert_pem, &key_pem, &dir.display().to_string())
    }

    /// Builds a CA from PEM text (`what` names the source in errors).
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8], what: &str) -> Result<Ca> {
        let certs = pem::parse_certs_pem(cert_pem, &format!("{what}/{CA_CERT_FILE}"))?;
        let cert_der = certs.into_iter().next().ok_or_else(|| CertError::Pem {
            what: format!("{what}/{CA_CERT_FILE}"),
            reason: "no certificate".into(),
        })?;
        let key_der = pem::parse_key_pem(key_pem, &format!("{what}/{CA_KEY_FILE}"))?;
        let cert = parse_der(&cert_der)?;
        if !cert.is_ca() {
            return Err(CertError::NotGongxin(format!("{what}/{CA_CERT_FILE} is not a CA certificate")));
        }
        let cert_public = cert.public_key().subject_public_key.data.as_ref();
        let (key, key_public) = match Algorithm::of_cert(&cert_der) {
            Algorithm::Sm2 => {
                let k = Sm2Key::from_pkcs8_der(key_der.secret_der()).map_err(|e| CertError::Pem {
                    what: format!("{what}/{CA_KEY_FILE}"),
                    reason: format!("the CA certificate is SM2 but the key is not: {e}"),
                })?;
                let public = k.public_sec1();
                (CaKey::Sm2(k), public)
            }
            Algorithm::EcdsaP256 => {
                let k = KeyPair::try_from(&key_der).map_err(|e| CertError::Pem {
                    what: format!("{what}/{CA_KEY_FILE}"),
                    reason: format!("unsupported private key: {e}"),
                })?;
                let public = k.public_key_raw().to_vec();
                (CaKey::EcdsaP256(Box::new(k)), public)
            }
        };
        if cert_public != key_public.as_slice() {
            return Err(CertError::KeyMismatch { what: what.to_string() });
        }
        let cert_pem = String::from_utf8(cert_pem.to_vec())
            .map_err(|_| CertError::Pem { what: format!("{what}/{CA_CERT_FILE}"), reason: "not UTF-8 text".into() })?;
        Ok(Ca { cert_pem, cert_der, key })
    }

    /// Writes `<dir>/ca.pem` (0644) and `<dir>/ca.key` (0600); neither is written if either exists and `force`
    /// is false. `dir` is created (0700) if missing.
    pub fn save(&self, dir: impl AsRef<Path>, force: bool) -> Result<(PathBuf, PathBuf)> {
        let dir = dir.as_ref();
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let key_pem = self.key.pem()?;
        save_pair(dir, &cert_path, self.cert_pem.as_bytes(), &key_path, key_pem.as_bytes(), force)?;
        Ok((cert_path, key_path))
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// Subject, validity etc. of the CA certificate.
    pub fn info(&self) -> Result<CertInfo> {
        identity::inspect(&self.cert_der)
    }

    /// Issues a certificate for `role` of node `code` (see the crate docs for what goes into it).
    pub fn issue(&self, role: Role, code: &NodeCode, opts: &IssueOptions) -> Result<IssuedCert> {
        let name = match (role, opts.name.as_deref().map(str::trim)) {
            (_, Some(n)) if !n.is_empty() => Some(n.to_string()),
            (Role::Node, _) => None,
            (_, _) => {
                return Err(CertError::InvalidName {
                    name: String::new(),
                    reason: "an operator, auditor or business-system certificate needs a name / 请提供姓名或系统名称",
                })
            }
        };
        if let Some(n) = &name {
            check_name(n)?;
        }
        let days = opts.days.unwrap_or_else(|| default_days(role));
        check_days(days)?;
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or_else(|_| OffsetDateTime::now_utc());
        let (not_before, start) = match opts.not_before {
            Some(t) => (t, t),
            None => (now - BACKDATE, now),
        };
        let not_after = start + Duration::days(i64::from(days));
        let ca_info = parse_der(&self.cert_der)?;
        let ca_not_after = ca_info.validity().not_after.to_datetime();
        if not_after > ca_not_after {
            let max = (ca_not_after - start).whole_days().max(0);
            return Err(CertError::Validity(format!(
                "{days} days would outlive the CA (it expires {ca_not_after}); use at most {max} days \
                 / 有效期不能超过根证书"
            )));
        }

        let cn = match (role, &name) {
            (Role::Node, Some(n)) => format!("{code} {n}"),
            (Role::Node, None) => code.to_string(),
            (_, Some(n)) => n.clone(),
            (_, None) => code.to_string(),
        };
        let ca_key = match &self.key {
            CaKey::EcdsaP256(k) => &**k,
            CaKey::Sm2(ca_key) => {
                let key = Sm2Key::generate()?;
                let serial = random_serial_bytes()?;
                let mut dns = Vec::new();
                if role == Role::Node {
                    dns.push(code.dns_name());
                }
                let params = sm2x509::Params {
                    subject: vec![
                        (DnAttr::O, ORGANIZATION.into()),
                        (DnAttr::Ou, role.as_str().into()),
                        (DnAttr::Cn, cn),
                    ],
                    not_before: not_before.into(),
                    not_after: not_after.into(),
                    serial: &serial,
                    profile: sm2x509::Profile::EndEntity {
                        uris: vec![code.uri(), role.uri()],
                        dns,
                        server_auth: role == Role::Node,
                    },
                };
                let issuer = sm2x509::Issuer { cert_der: &self.cert_der, key: ca_key };
                let cert_der = sm2x509::build(&params, &key, Some(issuer))?;
                return Ok(IssuedCert {
                    role,
                    code: code.clone(),
                    cert_pem: pem::to_pem("CERTIFICATE", &cert_der),
                    key_pem: key.to_pkcs8_pem()?,
                    cert_der,
                });
            }
        };
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, ORGANIZATION);
        dn.push(DnType::OrganizationalUnitName, role.as_str());
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.subject_alt_names = vec![SanType::URI(code.uri().try_into()?), SanType::URI(role.uri().try_into()?)];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = match role {
            Role::Node => {
                params.subject_alt_names.push(SanType::DnsName(code.dns_name().try_into()?));
                vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth]
            }
            Role::Operator | Role::Auditor | Role::BusinessSystem => vec![ExtendedKeyUsagePurpose::ClientAuth],
        };
        params.is_ca = IsCa::ExplicitNoCa;
        params.use_authority_key_identifier_extension = true;
        params.not_before = not_before;
        params.not_after = not_after;
        params.serial_number = Some(random_serial()?);

        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let issuer = Issuer::from_ca_cert_der(&self.cert_der, ca_key)?;
        let cert = params.signed_by(&key, &issuer)?;
        Ok(IssuedCert {
            role,
            code: code.clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
        })
    }
}

fn save_pair(dir: &Path, cert_path: &Path, cert: &[u8], key_path: &Path, key: &[u8], force: bool) -> Result<()> {
    ensure_writable(cert_path, force)?;
    ensure_writable(key_path, force)?;
    if !dir.exists() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir).map_err(|source| CertError::Io { action: "create directory", path: dir.into(), source })?;
    }
    // The key first: a crash in between leaves a key without certificate, never a certificate without its key.
    write_file(key_path, key, 0o600, force)?;
    write_file(cert_path, cert, 0o644, force)
}

fn check_name(name: &str) -> Result<()> {
    let bad = |reason| Err(CertError::InvalidName { name: name.to_string(), reason });
    if name.trim().is_empty() {
        return bad("empty");
    }
    if name.chars().count() > 64 {
        return bad("longer than 64 characters");
    }
    if name.chars().any(char::is_control) {
        return bad("contains control characters");
    }
    Ok(())
}

fn check_days(days: u32) -> Result<()> {
    if days == 0 || days > MAX_DAYS {
        return Err(CertError::Validity(format!("{days} days: expected 1..={MAX_DAYS}")));
    }
    Ok(())
}

/// A random positive 16-byte serial number.
fn random_serial() -> Result<rcgen::SerialNumber> {
    Ok(rcgen::SerialNumber::from_slice(&random_serial_bytes()?))
}

fn random_serial_bytes() -> Result<[u8; 16]> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CertError::Tls("system random number generator failed".into()))?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01; // never a leading zero byte, so the DER length is always 16
    Ok(bytes)
}
