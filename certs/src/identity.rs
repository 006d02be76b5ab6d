//! Node codes, roles, and reading them back out of a certificate.
use crate::{CertError, Result};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

/// URI SAN prefix naming the node a certificate belongs to.
pub const NODE_URI_PREFIX: &str = "urn:gongxin:node:";
/// URI SAN prefix naming the role of a certificate.
pub const ROLE_URI_PREFIX: &str = "urn:gongxin:role:";
/// DNS suffix of node server names: node `430102` serves TLS as `n430102.gongxin.internal`.
pub const NODE_DNS_SUFFIX: &str = "gongxin.internal";

/// A GB/T 2260 administrative division code used as a node identity (`430000`, `430100`, `430102`).
///
/// Only the shape is checked here (six digits, a province prefix in 11–82); whether the code is a member of
/// the federation is the registry's business.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeCode(String);

impl NodeCode {
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |reason| CertError::InvalidCode { code: s.to_string(), reason };
        if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("expected six digits (GB/T 2260), e.g. 430102 / 应为6位行政区划代码"));
        }
        let province: u32 = s[..2].parse().map_err(|_| bad("expected six digits"))?;
        if !(11..=82).contains(&province) {
            return Err(bad("first two digits are not a province code (11-82) / 前两位不是省级代码"));
        }
        Ok(NodeCode(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for a province-level code (`430000`).
    pub fn is_province(&self) -> bool {
        self.0.ends_with("0000")
    }

    /// The URI SAN naming this node: `urn:gongxin:node:430102`.
    pub fn uri(&self) -> String {
        format!("{NODE_URI_PREFIX}{}", self.0)
    }

    /// The TLS server name of this node: `n430102.gongxin.internal`. Clients pass it to
    /// [`crate::tls::client_config`]; it is in the DNS SAN of the node's certificate.
    pub fn dns_name(&self) -> String {
        format!("n{}.{NODE_DNS_SUFFIX}", self.0)
    }
}

impl fmt::Display for NodeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for NodeCode {
    type Err = CertError;
    fn from_str(s: &str) -> Result<Self> {
        NodeCode::parse(s)
    }
}

/// What a certificate holder may do (DESIGN §3, authorization per RPC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// A node: serves and calls the sync API as the node named by the code.
    Node,
    /// A person operating the node named by the code (admin API of that node only).
    Operator,
    /// A person auditing on behalf of the node named by the code (the province auditor: code `430000`).
    Auditor,
    /// A business system (县财政局's procurement system, say) asking the node named by the code the
    /// joint-punishment check; refused on admin, sync and audit.
    BusinessSystem,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Node, Role::Operator, Role::Auditor, Role::BusinessSystem];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
            Role::BusinessSystem => "business-system",
        }
    }

    /// Chinese label for operator-facing output.
    pub fn label_zh(self) -> &'static str {
        match self {
            Role::Node => "节点",
            Role::Operator => "操作员",
            Role::Auditor => "审计员",
            Role::BusinessSystem => "业务系统",
        }
    }

    /// The URI SAN naming this role: `urn:gongxin:role:operator`.
    pub fn uri(self) -> String {
        format!("{ROLE_URI_PREFIX}{}", self.as_str())
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = CertError;
    fn from_str(s: &str) -> Result<Self> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| CertError::InvalidRole(s.to_string()))
    }
}

/// The identity of a verified peer, read from its end-entity certificate by [`parse_identity`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    pub code: NodeCode,
    pub role: Role,
    /// The subject common name (for logs; never used for decisions).
    pub name: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Serial number, lowercase hex of its big-endian bytes.
    pub serial: String,
    /// SHA-256 of the certificate DER, lowercase hex: what the registry records as the TLS identity.
    pub fingerprint: String,
}

/// Reads the Gongxin identity (node code and role URIs) out of a DER end-entity certificate.
///
/// This does not verify the certificate: call it on certificates the TLS stack has already verified
/// (`tonic::Request::peer_certs()`), or after [`crate::tls::verify_client_cert`]. It rejects CA certificates,
/// certificates without exactly one node URI and one role URI, and node certificates whose DNS SAN does not
/// match their code.
pub fn parse_identity(cert_der: &[u8]) -> Result<PeerIdentity> {
    let cert = parse_der(cert_der)?;
    if cert.is_ca() {
        return Err(CertError::NotGongxin("this is a CA certificate, not a node/operator/auditor one".into()));
    }
    let sans = read_sans(&cert)?;
    let code = match sans.codes.as_slice() {
        [one] => one.clone(),
        [] => return Err(CertError::NotGongxin(format!("no {NODE_URI_PREFIX}<code> URI in the SAN"))),
        _ => return Err(CertError::NotGongxin(format!("more than one {NODE_URI_PREFIX}<code> URI in the SAN"))),
    };
    let role = match sans.roles.as_slice() {
        [one] => *one,
        [] => return Err(CertError::NotGongxin(format!("no {ROLE_URI_PREFIX}<role> URI in the SAN"))),
        _ => return Err(CertError::NotGongxin(format!("more than one {ROLE_URI_PREFIX}<role> URI in the SAN"))),
    };
    if role == Role::Node && !sans.dns.iter().any(|d| d.eq_ignore_ascii_case(&code.dns_name())) {
        return Err(CertError::NotGongxin(format!("node certificate of {code} lacks DNS SAN {}", code.dns_name())));
    }
    Ok(PeerIdentity {
        code,
        role,
        name: common_name(&cert),
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        serial: hex(cert.raw_serial()),
        fingerprint: fingerprint(cert_der),
    })
}

/// What kind of certificate [`inspect`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertKind {
    /// A CA certificate (basic constraints CA=true), e.g. the federation CA.
    Ca,
    /// A Gongxin end-entity certificate with a valid identity.
    Gongxin(Role),
    /// Some other end-entity certificate (or a malformed Gongxin one; see `problem`).
    Other,
}

/// Everything `gongxin pki inspect` shows about one certificate.
#[derive(Clone, Debug)]
pub struct CertInfo {
    pub kind: CertKind,
    pub subject: String,
    pub issuer: String,
    pub code: Option<NodeCode>,
    pub role: Option<Role>,
    pub dns_names: Vec<String>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub serial: String,
    pub fingerprint: String,
    /// The public-key algorithm (`sm2` for the SM2 curve, `ecdsa` for anything else).
    pub algorithm: crate::Algorithm,
    /// Why a certificate that is not a CA is not a valid Gongxin identity, if so.
    pub problem: Option<String>,
}

impl CertInfo {
    /// Whole days until `not_after` (negative once expired; 0 on the last day).
    pub fn days_to_expiry(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_days()
    }

    /// [`CertInfo::days_to_expiry`] as of the system clock.
    pub fn days_to_expiry_now(&self) -> i64 {
        self.days_to_expiry(OffsetDateTime::now_utc())
    }

    /// True once `not_after` has passed (system clock).
    pub fn is_expired_now(&self) -> bool {
        self.not_after < OffsetDateTime::now_utc()
    }
}

/// A timestamp as RFC 3339 in UTC (`2028-11-29T04:26:10Z`), for display and JSON.
pub fn format_utc(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// Describes any certificate (CA, Gongxin end entity, or foreign), for display.
pub fn inspect(cert_der: &[u8]) -> Result<CertInfo> {
    let cert = parse_der(cert_der)?;
    let sans = read_sans(&cert)?;
    let (kind, problem) = if cert.is_ca() {
        (CertKind::Ca, None)
    } else {
        match parse_identity(cert_der) {
            Ok(id) => (CertKind::Gongxin(id.role), None),
            Err(e) => (CertKind::Other, Some(e.to_string())),
        }
    };
    Ok(CertInfo {
        kind,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        code: sans.codes.first().cloned(),
        role: sans.roles.first().copied(),
        dns_names: sans.dns,
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        serial: hex(cert.raw_serial()),
        fingerprint: fingerprint(cert_der),
        algorithm: crate::Algorithm::of_cert(cert_der),
        problem,
    })
}

/// SHA-256 of the DER bytes, lowercase hex.
pub fn fingerprint(cert_der: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, cert_der).as_ref())
}

pub(crate) fn parse_der(cert_der: &[u8]) -> Result<X509Certificate<'_>> {
    let (rest, cert) =
        x509_parser::parse_x509_certificate(cert_der).map_err(|e| CertError::Parse(format!("not X.509 DER: {e}")))?;
    if !rest.is_empty() {
        return Err(CertError::Parse(format!("{} trailing bytes after the certificate", rest.len())));
    }
    Ok(cert)
}

struct Sans {
    codes: Vec<NodeCode>,
    roles: Vec<Role>,
    dns: Vec<String>,
}

fn read_sans(cert: &X509Certificate<'_>) -> Result<Sans> {
    let mut out = Sans { codes: Vec::new(), roles: Vec::new(), dns: Vec::new() };
    let ext = cert
        .subject_alternative_name()
        .map_err(|e| CertError::Parse(format!("subject alternative name extension: {e}")))?;
    let Some(ext) = ext else { return Ok(out) };
    for name in &ext.value.general_names {
        match name {
            GeneralName::URI(uri) => {
                if let Some(code) = uri.strip_prefix(NODE_URI_PREFIX) {
                    out.codes
                        .push(NodeCode::parse(code).map_err(|e| CertError::NotGongxin(format!("SAN URI {uri}: {e}")))?);
                } else if let Some(role) = uri.strip_prefix(ROLE_URI_PREFIX) {
                    out.roles.push(role.parse().map_err(|e| CertError::NotGongxin(format!("SAN URI {uri}: {e}")))?);
                }
            }
            GeneralName::DNSName(dns) => out.dns.push(dns.to_string()),
            _ => {}
        }
    }
    Ok(out)
}

fn common_name(cert: &X509Certificate<'_>) -> String {
    cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).unwrap_or_default().to_string()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_codes() {
        for good in ["430000", "430100", "430102", "110101", "820000"] {
            assert_eq!(NodeCode::parse(good).map(|c| c.to_string()).ok().as_deref(), Some(good));
        }
        for bad in ["", "43010", "4301020", "43010x", "000000", "100000", "990000", "４３０１０２"] {
            assert!(NodeCode::parse(bad).is_err(), "{bad:?} accepted");
        }
        let c = NodeCode::parse("430102").unwrap();
        assert_eq!(c.uri(), "urn:gongxin:node:430102");
        assert_eq!(c.dns_name(), "n430102.gongxin.internal");
        assert!(!c.is_province());
        assert!(NodeCode::parse("430000").unwrap().is_province());
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            assert_eq!(r.uri(), format!("urn:gongxin:role:{r}"));
        }
        assert!("admin".parse::<Role>().is_err());
    }

    #[test]
    fn utc_format() {
        let t = OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
        assert_eq!(format_utc(t), "2030-03-17T17:46:40Z");
        let east8 = t.to_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap());
        assert_eq!(format_utc(east8), "2030-03-17T17:46:40Z");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(matches!(parse_identity(b"not a certificate"), Err(CertError::Parse(_))));
        assert!(matches!(inspect(&[0x30, 0x03, 0x02, 0x01, 0x01]), Err(CertError::Parse(_))));
    }
}
