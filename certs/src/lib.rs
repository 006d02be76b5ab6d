//! Everything X.509 and rustls for Gongxin lives here (DESIGN §2, §3): the federation CA, node, operator and
//! auditor certificates, PEM loading, and the one mutual-TLS configuration used by the node, the CLI and the
//! tests. Nothing outside this crate builds a TLS configuration, so a different signature scheme (an SM2
//! certificate provider, RFC 8998 `sm2sig_sm3`) can later be plugged in here alone.
//!
//! # How an identity is written into a certificate
//!
//! Every end-entity certificate is issued by the federation CA and carries (for both algorithms, see
//! [`Algorithm`]: ECDSA P-256 with SHA-256 made by rcgen, or SM2 with SM3 made by `x509-cert`'s builder in
//! [`sm2x509`]):
//!
//! | where | value | meaning |
//! |---|---|---|
//! | SAN URI | `urn:gongxin:node:430102` | the node (GB/T 2260 division code) the certificate belongs to; exactly one |
//! | SAN URI | `urn:gongxin:role:node` / `…:operator` / `…:auditor` | the role; exactly one |
//! | SAN DNS | `n430102.gongxin.internal` | node certificates only: the TLS server name a client checks (`tonic`'s `domain_name`) |
//! | Extended key usage | `serverAuth` + `clientAuth` (node), `clientAuth` only (operator, auditor) | an operator or auditor certificate cannot serve TLS |
//! | Subject | `O=Gongxin federation, OU=<role>, CN=<code> <name>` (node) or `CN=<person name>` | for humans only |
//!
//! The URIs are the authoritative identity: [`parse_identity`] reads them (and nothing from the subject) and
//! rejects a certificate that has none, two, or malformed ones. The role of an operator or auditor is always
//! relative to the node in the code URI: `operator` of `430102` may use the admin API of node 430102 only;
//! the province auditor is `auditor` of `430000`. Whether a code is in the registry, and whether the
//! certificate matches its registry entry, is decided by the node, not here.
//!
//! # Files
//!
//! A CA directory holds `ca.pem` (the certificate, handed to every node out of band as part of the anchor) and
//! `ca.key` (PKCS#8, mode 0600, kept offline at the province). Issued pairs are written as `<stem>.pem` and
//! `<stem>.key` (0600); no file is ever overwritten unless `force` is given. Private keys whose file is
//! readable or writable by group or others are refused when loaded.
//!
//! # TLS
//!
//! A federation has one TLS profile, the algorithm of its CA ([`Ca::create_with`], [`tls::CaCert::algorithm`]):
//!
//! - `ecdsa`: [`tls::server_config`] and [`tls::client_config`] build the tonic configurations: TLS 1.3 only,
//!   client certificate mandatory, both sides verified against the federation CA alone. Because tonic builds
//!   its rustls configuration from the process-wide default crypto provider, these functions install
//!   [`tls::crypto_provider`] (ring, TLS 1.3 suites only) as that default and refuse to work if a different
//!   one is already installed.
//! - `sm2` (RFC 8998, [`gm`]): tonic's own TLS cannot carry it (it only uses the process-wide provider and
//!   cannot take a ready rustls configuration), so TLS is terminated here: [`tls::rustls_server_config`] +
//!   [`tls::incoming`] for `Server::serve_with_incoming`, and [`tls::rustls_client_config`] +
//!   [`tls::connect`] (or [`tls::connector`] for `Endpoint::connect_with_connector`, `http://` URI) for
//!   clients. `tonic::Request::peer_certs()` and [`tls::request_identity`] work the same. These rustls
//!   functions accept either profile (the provider is chosen by the CA's algorithm), so a node can use one
//!   code path for both; a certificate whose algorithm differs from the CA's is refused with a message.
//!
//! OpenSSL 3.0 verifies our SM2 certificates with `openssl verify -vfyopt distid:1234567812345678 -CAfile
//! ca.pem cert.pem` (its default SM2 ID is empty, so without the option it reports a signature failure);
//! Tongsuo needs no option.

pub mod ca;
pub mod gm;
pub mod identity;
pub mod listen;
pub mod pem;
pub mod sm2x509;
pub mod tls;

pub use ca::{Algorithm, Ca, CaOptions, IssueOptions, IssuedCert};
pub use identity::{format_utc, inspect, parse_identity, CertInfo, CertKind, NodeCode, PeerIdentity, Role};
pub use pem::{load_certs_pem, load_key_pem, parse_certs_pem, parse_key_pem};
pub use rustls_pki_types::{CertificateDer, PrivateKeyDer};
pub use tls::{CaCert, TlsIdentity};

use std::path::PathBuf;

/// Everything that can go wrong in this crate. Each variant carries what an operator needs to fix it.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: already exists; pass --force to overwrite / 文件已存在，如需覆盖请加 --force", path.display())]
    Exists { path: PathBuf },
    #[error("{what}: {reason}")]
    Pem { what: String, reason: String },
    #[error(
        "{}: private key file has mode {mode:04o}, readable or writable by group/others; run `chmod 600 {}` \
         / 私钥文件权限过宽，请执行 chmod 600",
        path.display(),
        path.display()
    )]
    KeyPermissions { path: PathBuf, mode: u32 },
    #[error("node code {code:?}: {reason}")]
    InvalidCode { code: String, reason: &'static str },
    #[error("role {0:?}: expected node, operator or auditor")]
    InvalidRole(String),
    #[error("name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("validity: {0}")]
    Validity(String),
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("certificate: {0}")]
    Parse(String),
    #[error("not a Gongxin certificate: {0}")]
    NotGongxin(String),
    #[error("{what}: the private key does not belong to the certificate / 私钥与证书不匹配")]
    KeyMismatch { what: String },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("certificate rejected: {0}")]
    Rejected(#[source] rustls::Error),
}

pub type Result<T, E = CertError> = std::result::Result<T, E>;
