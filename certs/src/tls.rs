//! The mutual-TLS configuration of the federation (DESIGN §3): TLS 1.3 only, certificates issued by the
//! federation CA on both sides, client certificate mandatory. Two profiles: `ecdsa` (ring; through tonic's
//! own TLS or the rustls functions below) and `sm2` (RFC 8998, [`crate::gm`]; rustls functions only).
//!
//! tonic 0.14 builds its rustls configuration itself from the process-wide default `CryptoProvider`, so the
//! protocol policy is expressed as that provider: [`crypto_provider`] is ring with the TLS 1.3 cipher suites
//! only, and [`server_config`] / [`client_config`] install it (once) before returning. The SM2 provider
//! is never installed process-wide: [`rustls_server_config`] / [`rustls_client_config`] carry it in their
//! configuration, so both profiles can live in one process (tests run them side by side).
use crate::ca::{Algorithm, Ca};
use crate::identity::{parse_identity, NodeCode, PeerIdentity, Role};
use crate::pem::{self, parse_certs_pem, parse_key_pem};
use crate::{CertError, Result};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

/// Bound on one TLS handshake, both sides.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The crypto provider of the federation: ring, TLS 1.3 cipher suites only (so TLS 1.2 cannot be negotiated).
pub fn crypto_provider() -> CryptoProvider {
    let mut p = rustls::crypto::ring::default_provider();
    p.cipher_suites.retain(|s| s.version() == &rustls::version::TLS13);
    p
}

/// Installs [`crypto_provider`] as the process-wide default (tonic builds its configurations from it).
/// Idempotent. Fails if another default that allows anything but TLS 1.3 was installed first.
pub fn install_crypto_provider() -> Result<()> {
    if CryptoProvider::get_default().is_none() {
        // Losing a race to another thread installing the same provider is fine; the check below decides.
        let _ = crypto_provider().install_default();
    }
    let current = CryptoProvider::get_default()
        .ok_or_else(|| CertError::Tls("no process-wide rustls crypto provider could be installed".into()))?;
    let tls13_only = !current.cipher_suites.is_empty()
        && current.cipher_suites.iter().all(|s| s.version() == &rustls::version::TLS13);
    if !tls13_only {
        return Err(CertError::Tls(
            "a different process-wide rustls CryptoProvider (allowing TLS 1.2) was installed before \
             gongxin_certs::tls; install gongxin_certs::tls::crypto_provider() instead"
                .into(),
        ));
    }
    Ok(())
}

/// The federation CA certificate as a trust root (what a node receives as part of its anchor).
#[derive(Clone, Debug)]
pub struct CaCert {
    pem: String,
    der: CertificateDer<'static>,
}

impl CaCert {
    /// Loads a CA certificate PEM file (the first certificate in it).
    pub fn load(path: impl AsRef<Path>) -> Result<CaCert> {
        let path = path.as_ref();
        let bytes = pem::read(path, "read CA certificate")?;
        CaCert::from_pem(&bytes, &path.display().to_string())
    }

    /// Parses CA certificate PEM text; `what` names the source in errors.
    pub fn from_pem(pem_text: &[u8], what: &str) -> Result<CaCert> {
        let der = parse_certs_pem(pem_text, what)?
            .into_iter()
            .next()
            .ok_or_else(|| CertError::Pem { what: what.to_string(), reason: "no certificate".into() })?;
        let cert = crate::identity::parse_der(&der)?;
        if !cert.is_ca() {
            return Err(CertError::NotGongxin(format!("{what}: not a CA certificate")));
        }
        let pem = String::from_utf8(pem_text.to_vec())
            .map_err(|_| CertError::Pem { what: what.to_string(), reason: "not UTF-8 text".into() })?;
        Ok(CaCert { pem, der })
    }

    pub fn pem(&self) -> &str {
        &self.pem
    }

    pub fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// The algorithm of the federation PKI this CA anchors (the TLS profile of the federation).
    pub fn algorithm(&self) -> Algorithm {
        Algorithm::of_cert(&self.der)
    }

    fn roots(&self) -> Result<Arc<RootCertStore>> {
        let mut roots = RootCertStore::empty();
        roots.add(self.der.clone()).map_err(|e| CertError::Tls(format!("CA certificate as trust anchor: {e}")))?;
        Ok(Arc::new(roots))
    }
}

impl From<&Ca> for CaCert {
    fn from(ca: &Ca) -> CaCert {
        CaCert { pem: ca.cert_pem().to_string(), der: ca.cert_der().clone() }
    }
}

/// One side's certificate chain and private key, checked to belong together and to carry a Gongxin identity.
#[derive(Clone)]
pub struct TlsIdentity {
    cert_pem: String,
    key_pem: String,
    identity: PeerIdentity,
    algorithm: Algorithm,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").field("identity", &self.identity).field("key_pem", &"<redacted>").finish()
    }
}

impl TlsIdentity {
    /// Loads a certificate (chain) file and its key file; the key file must be mode 0600 or stricter.
    pub fn load(cert_path: impl AsRef<Path>, key_path: impl AsRef<Path>) -> Result<TlsIdentity> {
        let (cert_path, key_path) = (cert_path.as_ref(), key_path.as_ref());
        let cert = pem::read(cert_path, "read certificate file")?;
        let key = pem::read_private(key_path)?;
        TlsIdentity::from_pem(&cert, &key, &cert_path.display().to_string(), &key_path.display().to_string())
    }

    /// Builds an identity from PEM text; `cert_what` / `key_what` name the sources in errors.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8], cert_what: &str, key_what: &str) -> Result<TlsIdentity> {
        let chain = parse_certs_pem(cert_pem, cert_what)?;
        let key = parse_key_pem(key_pem, key_what)?;
        let provider = provider_for(Algorithm::of_cert(&chain[0]));
        let certified = rustls::sign::CertifiedKey::from_der(chain.clone(), key, &provider).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => CertError::KeyMismatch { what: format!("{cert_what} / {key_what}") },
            other => CertError::Pem { what: key_what.to_string(), reason: format!("unusable private key: {other}") },
        })?;
        if certified.keys_match().is_err() {
            return Err(CertError::KeyMismatch { what: format!("{cert_what} / {key_what}") });
        }
        let identity = parse_identity(&chain[0]).map_err(|e| match e {
            CertError::NotGongxin(m) => CertError::NotGongxin(format!("{cert_what}: {m}")),
            other => other,
        })?;
        let text = |b: &[u8], what: &str| {
            String::from_utf8(b.to_vec())
                .map_err(|_| CertError::Pem { what: what.to_string(), reason: "not UTF-8 text".into() })
        };
        Ok(TlsIdentity {
            cert_pem: text(cert_pem, cert_what)?,
            key_pem: text(key_pem, key_what)?,
            identity,
            algorithm: Algorithm::of_cert(&chain[0]),
        })
    }

    /// From a certificate just issued (tests, testkit).
    pub fn from_issued(issued: &crate::IssuedCert) -> Result<TlsIdentity> {
        TlsIdentity::from_pem(issued.cert_pem.as_bytes(), issued.key_pem.as_bytes(), "issued certificate", "issued key")
    }

    /// Who this identity is.
    pub fn identity(&self) -> &PeerIdentity {
        &self.identity
    }

    /// The algorithm of the certificate (and so the TLS profile it can be used with).
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn chain_and_key(&self) -> Result<(Vec<CertificateDer<'static>>, rustls_pki_types::PrivateKeyDer<'static>)> {
        Ok((
            parse_certs_pem(self.cert_pem.as_bytes(), "identity")?,
            parse_key_pem(self.key_pem.as_bytes(), "identity")?,
        ))
    }

    fn tonic_identity(&self) -> Identity {
        Identity::from_pem(&self.cert_pem, &self.key_pem)
    }
}

/// The server side: presents `identity` (must be a node certificate), accepts only clients that present a
/// certificate issued by `ca` for client authentication. TLS 1.3 only.
///
/// Who the client is, and what it may do, is decided per RPC from [`request_identity`].
pub fn server_config(identity: &TlsIdentity, ca: &CaCert) -> Result<ServerTlsConfig> {
    check_server_identity(identity)?;
    refuse_sm2_in_tonic(identity, ca)?;
    install_crypto_provider()?;
    ca.roots()?; // reject an unusable trust anchor now rather than at the first handshake
    Ok(ServerTlsConfig::new()
        .identity(identity.tonic_identity())
        .client_ca_root(Certificate::from_pem(ca.pem()))
        .client_auth_optional(false)
        .timeout(HANDSHAKE_TIMEOUT))
}

/// The client side: presents `identity` (node, operator or auditor), accepts only a server whose certificate
/// is issued by `ca` and names node `server_code` (DNS SAN `n<code>.gongxin.internal`). TLS 1.3 only.
///
/// tonic applies it only to `https://` URIs (an `http://` endpoint with this config silently talks plain
/// text), so prefer [`endpoint`], which refuses anything else. The name checked is the one derived from
/// `server_code`, not the URI's host, so a node may be reached by IP address.
pub fn client_config(identity: &TlsIdentity, ca: &CaCert, server_code: &NodeCode) -> Result<ClientTlsConfig> {
    refuse_sm2_in_tonic(identity, ca)?;
    install_crypto_provider()?;
    ca.roots()?;
    Ok(ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca.pem()))
        .identity(identity.tonic_identity())
        .domain_name(server_code.dns_name())
        .timeout(HANDSHAKE_TIMEOUT))
}

/// A tonic endpoint for node `server_code` at `uri` (which must be `https://host:port`) with [`client_config`].
pub fn endpoint(uri: &str, identity: &TlsIdentity, ca: &CaCert, server_code: &NodeCode) -> Result<Endpoint> {
    if !uri.starts_with("https://") {
        return Err(CertError::Tls(format!(
            "endpoint {uri:?}: must start with https:// (tonic does not use TLS for other schemes)"
        )));
    }
    Endpoint::from_shared(uri.to_string())
        .map_err(|e| CertError::Tls(format!("endpoint {uri:?}: {e}")))?
        .tls_config(client_config(identity, ca, server_code)?)
        .map_err(|e| CertError::Tls(format!("endpoint {uri:?}: {e}")))
}

/// The identity of the client of a gRPC request, from the certificate the TLS layer verified.
/// Fails (the caller answers `UNAUTHENTICATED`) if the connection carried no certificate.
pub fn request_identity<T>(request: &tonic::Request<T>) -> Result<PeerIdentity> {
    if let Some(conn) = request.extensions().get::<crate::listen::PeerConn>() {
        // Our listener parsed the verified leaf once per connection.
        let leaf =
            conn.certs.first().ok_or_else(|| CertError::Tls("the connection carried no client certificate".into()))?;
        return match &conn.identity {
            Some(id) => Ok(id.clone()),
            None => parse_identity(leaf),
        };
    }
    let certs =
        request.peer_certs().ok_or_else(|| CertError::Tls("the connection carried no client certificate".into()))?;
    let leaf = certs.first().ok_or_else(|| CertError::Tls("the connection carried no client certificate".into()))?;
    parse_identity(leaf)
}

/// Verifies a client certificate chain (leaf first) against `ca` at time `now`, exactly as the TLS server
/// does, and returns its identity. For offline checks (registry entries, `gongxin pki inspect --ca`).
pub fn verify_client_cert(ca: &CaCert, chain: &[CertificateDer<'_>], now: SystemTime) -> Result<PeerIdentity> {
    let (leaf, rest) = chain.split_first().ok_or_else(|| CertError::Parse("empty certificate chain".into()))?;
    let verifier = WebPkiClientVerifier::builder_with_provider(ca.roots()?, Arc::new(provider_for(ca.algorithm())))
        .build()
        .map_err(|e| CertError::Tls(format!("client verifier: {e}")))?;
    verifier.verify_client_cert(leaf, rest, unix_time(now)?).map_err(CertError::Rejected)?;
    parse_identity(leaf)
}

/// Verifies a server certificate chain against `ca` and the name of node `server_code` at time `now`, exactly
/// as the TLS client does, and returns its identity.
pub fn verify_server_cert(
    ca: &CaCert,
    chain: &[CertificateDer<'_>],
    server_code: &NodeCode,
    now: SystemTime,
) -> Result<PeerIdentity> {
    let (leaf, rest) = chain.split_first().ok_or_else(|| CertError::Parse("empty certificate chain".into()))?;
    let verifier = WebPkiServerVerifier::builder_with_provider(ca.roots()?, Arc::new(provider_for(ca.algorithm())))
        .build()
        .map_err(|e| CertError::Tls(format!("server verifier: {e}")))?;
    let name = ServerName::try_from(server_code.dns_name())
        .map_err(|e| CertError::Tls(format!("server name {}: {e}", server_code.dns_name())))?;
    use rustls::client::danger::ServerCertVerifier;
    verifier.verify_server_cert(leaf, rest, &name, &[], unix_time(now)?).map_err(CertError::Rejected)?;
    parse_identity(leaf)
}

fn unix_time(now: SystemTime) -> Result<UnixTime> {
    let since = now.duration_since(SystemTime::UNIX_EPOCH).map_err(|_| CertError::Tls("clock before 1970".into()))?;
    Ok(UnixTime::since_unix_epoch(since))
}

fn check_server_identity(identity: &TlsIdentity) -> Result<()> {
    if identity.identity.role != Role::Node {
        return Err(CertError::Tls(format!(
            "a server needs a node certificate; this one is {} of {} / 服务端必须使用节点证书",
            identity.identity.role, identity.identity.code
        )));
    }
    Ok(())
}

fn refuse_sm2_in_tonic(identity: &TlsIdentity, ca: &CaCert) -> Result<()> {
    if identity.algorithm == Algorithm::Sm2 || ca.algorithm() == Algorithm::Sm2 {
        return Err(CertError::Tls(
            "SM2 certificates cannot go through tonic's own TLS (it builds rustls from the process-wide ring \
             provider); use tls::rustls_server_config + tls::incoming, or tls::rustls_client_config + tls::connect"
                .into(),
        ));
    }
    Ok(())
}

/// The crypto provider of a profile: [`crypto_provider`] (ring, TLS 1.3 suites) for `ecdsa`,
/// [`crate::gm::provider`] (RFC 8998) for `sm2`.
pub fn provider_for(algorithm: Algorithm) -> CryptoProvider {
    match algorithm {
        Algorithm::EcdsaP256 => crypto_provider(),
        Algorithm::Sm2 => crate::gm::provider(),
    }
}

fn same_profile(identity: &TlsIdentity, ca: &CaCert) -> Result<Algorithm> {
    let (mine, theirs) = (identity.algorithm, ca.algorithm());
    if mine != theirs {
        return Err(CertError::Tls(format!(
            "the certificate of {} {} is {mine} but the federation CA is {theirs}: a node of an {theirs} federation \
             needs an {theirs} certificate / 证书算法与联盟根证书不一致",
            identity.identity.role, identity.identity.code
        )));
    }
    Ok(theirs)
}

/// A rustls server configuration (for either profile, chosen by the federation CA's algorithm): TLS 1.3 only,
/// presents `identity` (a node certificate of the same algorithm as `ca`), requires a client certificate
/// issued by `ca`. For the `sm2` profile this is the only way to serve (tonic cannot take it; serve with
/// [`incoming`] and `tonic::transport::Server::serve_with_incoming`). Client identities are read per RPC
/// with [`request_identity`] as before.
pub fn rustls_server_config(identity: &TlsIdentity, ca: &CaCert) -> Result<Arc<rustls::ServerConfig>> {
    server_config_with(identity, ca, None)
}

/// [`rustls_server_config`] whose client verifier also consults `check` once the chain has verified against
/// the CA: a certificate `check` refuses fails the handshake (the node refuses node certificates that are not
/// registered active nodes here, before any request is read).
pub fn rustls_server_config_checked(
    identity: &TlsIdentity,
    ca: &CaCert,
    check: Arc<dyn PeerCheck>,
) -> Result<Arc<rustls::ServerConfig>> {
    server_config_with(identity, ca, Some(check))
}

/// [`rustls_server_config_checked`] for an HTTPS listener: the same mutual TLS 1.3 (either profile), offering
/// HTTP/2 and HTTP/1.1 (browsers and `curl` ask for either), not only gRPC's `h2`.
pub fn https_server_config_checked(
    identity: &TlsIdentity,
    ca: &CaCert,
    check: Arc<dyn PeerCheck>,
) -> Result<Arc<rustls::ServerConfig>> {
    let mut config = (*server_config_with(identity, ca, Some(check))?).clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn server_config_with(
    identity: &TlsIdentity,
    ca: &CaCert,
    check: Option<Arc<dyn PeerCheck>>,
) -> Result<Arc<rustls::ServerConfig>> {
    check_server_identity(identity)?;
    let provider = Arc::new(provider_for(same_profile(identity, ca)?));
    let webpki = WebPkiClientVerifier::builder_with_provider(ca.roots()?, provider.clone())
        .build()
        .map_err(|e| CertError::Tls(format!("client verifier: {e}")))?;
    let verifier: Arc<dyn rustls::server::danger::ClientCertVerifier> = match check {
        Some(check) => Arc::new(CheckedClientVerifier { inner: webpki, check }),
        None => webpki,
    };
    let (chain, key) = identity.chain_and_key()?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| CertError::Tls(format!("server config: {e}")))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| CertError::Tls(format!("server certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// A rustls client configuration (either profile, by the CA's algorithm): TLS 1.3 only, presents `identity`,
/// accepts only a server certificate issued by `ca`. The name checked is given per connection: use
/// [`server_name`] of the node's code (or [`connect`], which does).
pub fn rustls_client_config(identity: &TlsIdentity, ca: &CaCert) -> Result<Arc<rustls::ClientConfig>> {
    client_config_with(identity, ca, None)
}

/// [`rustls_client_config`] whose server verifier also consults `check` once the chain and name have
/// verified: a child refuses a parent whose certificate is not the one the registry holds for it.
pub fn rustls_client_config_checked(
    identity: &TlsIdentity,
    ca: &CaCert,
    check: Arc<dyn PeerCheck>,
) -> Result<Arc<rustls::ClientConfig>> {
    client_config_with(identity, ca, Some(check))
}

fn client_config_with(
    identity: &TlsIdentity,
    ca: &CaCert,
    check: Option<Arc<dyn PeerCheck>>,
) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(provider_for(same_profile(identity, ca)?));
    let webpki = WebPkiServerVerifier::builder_with_provider(ca.roots()?, provider.clone())
        .build()
        .map_err(|e| CertError::Tls(format!("server verifier: {e}")))?;
    let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = match check {
        Some(check) => Arc::new(CheckedServerVerifier { inner: webpki, check }),
        None => webpki,
    };
    let (chain, key) = identity.chain_and_key()?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| CertError::Tls(format!("client config: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(chain, key)
        .map_err(|e| CertError::Tls(format!("client certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// A decision about a TLS peer beyond the CA, made by the node (from its registry) during the handshake.
pub trait PeerCheck: Send + Sync + std::fmt::Debug {
    /// Called after the peer's chain verified against the CA, with its identity; `Err(rule)` refuses the
    /// handshake, and `rule` (which should name the peer and why) is what the refusal log shows.
    fn check(&self, peer: &PeerIdentity) -> std::result::Result<(), String>;
}

/// A peer refused by a [`PeerCheck`] (the error inside rustls' `CertificateError::Other`).
#[derive(Debug)]
pub struct PeerRefused(pub String);

impl std::fmt::Display for PeerRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PeerRefused {}

fn refuse(reason: String) -> rustls::Error {
    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(Arc::new(PeerRefused(
        reason,
    )))))
}

fn checked(check: &dyn PeerCheck, end_entity: &CertificateDer<'_>) -> std::result::Result<(), rustls::Error> {
    let id = parse_identity(end_entity).map_err(|e| refuse(format!("not a Gongxin certificate: {e}")))?;
    check.check(&id).map_err(refuse)
}

/// The handshake-signature methods of a checked verifier: the CA verifier's (either profile's schemes).
macro_rules! delegate_signature_checks {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            self.inner.verify_tls12_signature(message, cert, dss)
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            self.inner.verify_tls13_signature(message, cert, dss)
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.inner.supported_verify_schemes()
        }
    };
}

/// The CA's client verifier, then a [`PeerCheck`]; everything else (signature schemes of either profile)
/// is the CA verifier's.
#[derive(Debug)]
struct CheckedClientVerifier {
    inner: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    check: Arc<dyn PeerCheck>,
}

impl rustls::server::danger::ClientCertVerifier for CheckedClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> std::result::Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        let ok = self.inner.verify_client_cert(end_entity, intermediates, now)?;
        checked(self.check.as_ref(), end_entity)?;
        Ok(ok)
    }
    delegate_signature_checks!();
}

/// The CA's server verifier (chain and name), then a [`PeerCheck`].
#[derive(Debug)]
struct CheckedServerVerifier {
    inner: Arc<dyn rustls::client::danger::ServerCertVerifier>,
    check: Arc<dyn PeerCheck>,
}

impl rustls::client::danger::ServerCertVerifier for CheckedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let ok = self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        checked(self.check.as_ref(), end_entity)?;
        Ok(ok)
    }
    delegate_signature_checks!();
}

/// The TLS server name of node `code` (`n430102.gongxin.internal`).
pub fn server_name(code: &NodeCode) -> Result<ServerName<'static>> {
    ServerName::try_from(code.dns_name()).map_err(|e| CertError::Tls(format!("server name {}: {e}", code.dns_name())))
}

/// Accepts TCP connections on `listener` and completes each TLS handshake in its own task, under the default
/// [`crate::listen::Limits`] (handshake deadline, connection caps, idle watchdog), yielding only established
/// connections: a slow or failed handshake never holds up the others. Pass the stream to
/// `tonic::transport::Server::serve_with_incoming`; [`request_identity`] works in handlers. Failed handshakes
/// are dropped (the peer sees the TLS alert) and logged. Must be called inside a Tokio runtime.
pub fn incoming(
    listener: tokio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
) -> impl tokio_stream::Stream<Item = std::io::Result<crate::listen::Conn>> {
    incoming_with(listener, config, crate::listen::Limits::default())
}

/// [`incoming`] with explicit limits.
pub fn incoming_with(
    listener: tokio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    limits: crate::listen::Limits,
) -> impl tokio_stream::Stream<Item = std::io::Result<crate::listen::Conn>> {
    let describe = match profile_of(&config.crypto_provider().cipher_suites) {
        Algorithm::Sm2 => |e: &std::io::Error| describe_io_error(Algorithm::Sm2, e),
        Algorithm::EcdsaP256 => |e: &std::io::Error| describe_io_error(Algorithm::EcdsaP256, e),
    };
    crate::listen::serve(listener, config, limits, describe)
}

/// A tonic channel to node `server_code` at `addr` (`host:port`) over TLS with `config` (from
/// [`rustls_client_config`]), for the `sm2` profile (works for `ecdsa` too). The server name checked is
/// derived from `server_code`, not from `addr`.
pub async fn connect(
    addr: &str,
    config: Arc<rustls::ClientConfig>,
    server_code: &NodeCode,
) -> Result<tonic::transport::Channel> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| CertError::Tls(format!("endpoint {addr:?}: {e}")))?
        .connect_timeout(HANDSHAKE_TIMEOUT);
    endpoint
        .connect_with_connector(connector(config, server_code)?)
        .await
        .map_err(|e| CertError::Tls(format!("connect to {} at {addr}: {e:?}", server_code)))
}

/// The connector behind [`connect`], for building an `Endpoint` with other settings (timeouts, keepalive):
/// `endpoint.connect_with_connector(tls::connector(config, &code)?)`, with an `http://` URI.
pub fn connector(
    config: Arc<rustls::ClientConfig>,
    server_code: &NodeCode,
) -> Result<
    impl tower::Service<
            http::Uri,
            Response = hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
            Error = std::io::Error,
            Future = impl Send,
        > + Clone
        + Send,
> {
    let name = server_name(server_code)?;
    let profile = profile_of(&config.crypto_provider().cipher_suites);
    let tls = tokio_rustls::TlsConnector::from(config);
    Ok(tower::service_fn(move |uri: http::Uri| {
        let (tls, name) = (tls.clone(), name.clone());
        async move {
            let authority = uri
                .authority()
                .map(|a| a.as_str().to_string())
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "URI without host:port"))?;
            let tcp = tokio::net::TcpStream::connect(authority).await?;
            tcp.set_nodelay(true)?;
            let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.connect(name, tcp))
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))?
                .map_err(|e| std::io::Error::new(e.kind(), describe_io_error(profile, &e)))?;
            Ok(hyper_util::rt::TokioIo::new(stream))
        }
    }))
}

/// The profile a rustls configuration speaks, from its cipher suites.
fn profile_of(suites: &[rustls::SupportedCipherSuite]) -> Algorithm {
    let sm = [crate::gm::TLS_SM4_GCM_SM3_ID, crate::gm::TLS_SM4_CCM_SM3_ID];
    if suites.iter().any(|s| sm.contains(&u16::from(s.suite()))) {
        Algorithm::Sm2
    } else {
        Algorithm::EcdsaP256
    }
}

/// A handshake failure in words an operator can act on, for a side speaking `local`. A peer of the other
/// TLS profile shows up as "no algorithms in common" (we are the server) or as a handshake_failure alert
/// (we are the client); both are named as a likely `tls_profile` mismatch.
pub fn describe_tls_error(local: Algorithm, e: &rustls::Error) -> String {
    use rustls::{AlertDescription, CertificateError, PeerIncompatible};
    let other = match local {
        Algorithm::Sm2 => Algorithm::EcdsaP256,
        Algorithm::EcdsaP256 => Algorithm::Sm2,
    };
    let mismatch = |what: &str| {
        format!(
            "{what}: this side uses tls_profile = {local}; the peer is probably configured with tls_profile = \
             {other} (every node and client of a federation must use the federation's profile) / \
             对端TLS配置（{other}）与本端（{local}）不一致"
        )
    };
    match e {
        rustls::Error::PeerIncompatible(
            PeerIncompatible::NoCipherSuitesInCommon
            | PeerIncompatible::NoKxGroupsInCommon
            | PeerIncompatible::NoSignatureSchemesInCommon,
        ) => mismatch(&format!("the peer offered none of our algorithms ({e})")),
        rustls::Error::AlertReceived(AlertDescription::HandshakeFailure) => {
            mismatch("the peer refused our algorithms (handshake_failure alert)")
        }
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the peer's certificate is not issued by this federation's CA / 对端证书不是本联盟根证书签发".into()
        }
        rustls::Error::InvalidCertificate(CertificateError::BadSignature) => {
            "the peer's certificate signature does not verify against this federation's CA / 证书签名无效".into()
        }
        rustls::Error::InvalidCertificate(CertificateError::Other(o)) => match o.0.downcast_ref::<PeerRefused>() {
            Some(r) => format!("{r}"),
            None => e.to_string(),
        },
        other => other.to_string(),
    }
}

fn describe_io_error(local: Algorithm, e: &std::io::Error) -> String {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(tls) => describe_tls_error(local, tls),
        None => e.to_string(),
    }
}
