//! Mutual TLS through tonic on 127.0.0.1: a tiny gRPC server (the standard health service) with the server
//! config, clients with the client config, and the ways a connection must fail.
use crate::{code, issue, new_ca};
use gongxin_certs::tls::{self, CaCert, TlsIdentity};
use gongxin_certs::{parse_key_pem, Ca, CertError, IssueOptions, IssuedCert, PeerIdentity, Role};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Server};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

struct TestServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<PeerIdentity>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the health service with `server_config`; every request's client identity is recorded by an
/// interceptor through `tls::request_identity`, as real handlers will do it.
async fn start(identity: &TlsIdentity, ca: &CaCert) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (_reporter, health) = tonic_health::server::health_reporter();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let interceptor = move |req: tonic::Request<()>| match tls::request_identity(&req) {
        Ok(id) => {
            record.lock().expect("lock").push(id);
            Ok(req)
        }
        Err(e) => Err(tonic::Status::unauthenticated(e.to_string())),
    };
    let router = Server::builder()
        .tls_config(tls::server_config(identity, ca).expect("server config"))
        .expect("tls config")
        .layer(tonic::service::InterceptorLayer::new(interceptor))
        .add_service(health);
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let task = tokio::spawn(async move {
        let _ = router.serve_with_incoming(incoming).await;
    });
    TestServer { addr, seen, task }
}

/// One health check over a fresh connection; Ok(()) only if the RPC succeeded.
async fn health_check(endpoint: Endpoint) -> Result<(), String> {
    let endpoint = endpoint.connect_timeout(Duration::from_secs(5)).timeout(Duration::from_secs(5));
    let channel = endpoint.connect().await.map_err(|e| format!("connect: {e:?}"))?;
    HealthClient::new(channel)
        .check(HealthCheckRequest { service: String::new() })
        .await
        .map(|_| ())
        .map_err(|s| format!("rpc: {s:?}"))
}

async fn check_as(server: &TestServer, client: &IssuedCert, ca: &CaCert, server_code: &str) -> Result<(), String> {
    let id = TlsIdentity::from_issued(client).map_err(|e| e.to_string())?;
    let ep =
        tls::endpoint(&format!("https://{}", server.addr), &id, ca, &code(server_code)).map_err(|e| e.to_string())?;
    health_check(ep).await
}

fn node_identity(ca: &Ca, c: &str) -> TlsIdentity {
    TlsIdentity::from_issued(&issue(ca, Role::Node, c, None)).expect("node identity")
}

#[tokio::test]
async fn good_clients_pass_and_are_identified() {
    let ca = new_ca("Federation CA");
    let anchor = CaCert::from(&ca);
    let server = start(&node_identity(&ca, "430100"), &anchor).await;

    let county = issue(&ca, Role::Node, "430102", None);
    check_as(&server, &county, &anchor, "430100").await.expect("county node → city");
    let operator = issue(&ca, Role::Operator, "430100", Some("张三"));
    check_as(&server, &operator, &anchor, "430100").await.expect("operator → its node");

    let seen = server.seen.lock().expect("lock").clone();
    let got: Vec<(Role, String, String)> = seen.iter().map(|i| (i.role, i.code.to_string(), i.name.clone())).collect();
    assert_eq!(
        got,
        vec![
            (Role::Node, "430102".to_string(), "430102".to_string()),
            (Role::Operator, "430100".to_string(), "张三".to_string())
        ]
    );
    assert_eq!(seen[0].fingerprint, county.identity().expect("id").fingerprint);
}

#[tokio::test]
async fn bad_clients_and_servers_fail() {
    let ca = new_ca("Federation CA");
    let other = new_ca("Federation CA");
    let anchor = CaCert::from(&ca);
    let server = start(&node_identity(&ca, "430100"), &anchor).await;
    let url = format!("https://{}", server.addr);

    // No client certificate at all.
    let no_cert = Endpoint::from_shared(url.clone()).expect("uri").tls_config(
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(anchor.pem()))
            .domain_name(code("430100").dns_name()),
    );
    let e = health_check(no_cert.expect("endpoint")).await.unwrap_err();
    assert!(e.contains("CertificateRequired"), "{e}");

    // A certificate from another CA (same CA name, different key).
    let foreign = issue(&other, Role::Node, "430102", None);
    let e = check_as(&server, &foreign, &anchor, "430100").await.unwrap_err();
    assert!(e.contains("DecryptError") || e.contains("UnknownCA"), "{e}");
    let stranger = issue(&new_ca("Stranger CA"), Role::Node, "430102", None);
    let e = check_as(&server, &stranger, &anchor, "430100").await.unwrap_err();
    assert!(e.contains("UnknownCA") || e.contains("BadCertificate"), "{e}");

    // An expired certificate of the right CA.
    let expired = ca
        .issue(
            Role::Node,
            &code("430102"),
            &IssueOptions {
                days: Some(1),
                not_before: Some(time::OffsetDateTime::now_utc() - time::Duration::days(5)),
                ..Default::default()
            },
        )
        .expect("issue expired");
    let e = check_as(&server, &expired, &anchor, "430100").await.unwrap_err();
    assert!(e.contains("CertificateExpired"), "{e}");

    // The client expects a different node than the one answering.
    let county = issue(&ca, Role::Node, "430102", None);
    let e = check_as(&server, &county, &anchor, "430300").await.unwrap_err();
    assert!(e.contains("NotValidForName"), "{e}");

    // The client trusts another CA than the server's issuer.
    let e = check_as(&server, &county, &CaCert::from(&other), "430100").await.unwrap_err();
    assert!(e.contains("UnknownIssuer") || e.contains("BadSignature"), "{e}");

    // Nothing above reached the service.
    assert!(server.seen.lock().expect("lock").is_empty(), "a refused client reached the service");
    // And the server still serves a good client afterwards.
    check_as(&server, &county, &anchor, "430100").await.expect("good client after the bad ones");
    assert_eq!(server.seen.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn only_tls13_is_spoken() {
    let ca = new_ca("Federation CA");
    let anchor = CaCert::from(&ca);
    let server = start(&node_identity(&ca, "430100"), &anchor).await;
    let client = issue(&ca, Role::Node, "430102", None);

    let v13 = raw_handshake(server.addr, &ca, &client, &rustls::version::TLS13).await.expect("TLS 1.3 handshake");
    assert_eq!(v13, (rustls::ProtocolVersion::TLSv1_3, Some(b"h2".to_vec())));
    let e = raw_handshake(server.addr, &ca, &client, &rustls::version::TLS12).await.unwrap_err();
    assert!(e.contains("AlertReceived(ProtocolVersion)") || e.contains("AlertReceived(HandshakeFailure)"), "{e}");
}

/// A plain rustls client (all ring cipher suites, one protocol version) that only does the handshake.
async fn raw_handshake(
    addr: SocketAddr,
    ca: &Ca,
    client: &IssuedCert,
    version: &'static rustls::SupportedProtocolVersion,
) -> Result<(rustls::ProtocolVersion, Option<Vec<u8>>), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der().clone()).expect("root");
    let key = parse_key_pem(client.key_pem.as_bytes(), "key").expect("key");
    let chain = vec![client.cert_der.clone()];
    tokio::task::spawn_blocking(move || {
        let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[version])
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| e.to_string())?;
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        let name = rustls_pki_types::ServerName::try_from("n430100.gongxin.internal").expect("name");
        let mut conn = rustls::ClientConnection::new(Arc::new(cfg), name).map_err(|e| e.to_string())?;
        let mut sock = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).map_err(|e| format!("{e:?}"))?;
        }
        let version = conn.protocol_version().ok_or("no version")?;
        Ok((version, conn.alpn_protocol().map(<[u8]>::to_vec)))
    })
    .await
    .expect("join")
}

#[test]
fn config_builders_refuse_misuse() {
    let ca = new_ca("CA");
    let anchor = CaCert::from(&ca);
    let op = TlsIdentity::from_issued(&issue(&ca, Role::Operator, "430102", Some("张三"))).expect("id");
    let e = tls::server_config(&op, &anchor).unwrap_err();
    assert!(matches!(e, CertError::Tls(_)) && e.to_string().contains("node certificate"), "{e}");
    let e = tls::endpoint("http://127.0.0.1:1", &op, &anchor, &code("430102")).unwrap_err();
    assert!(e.to_string().contains("https://"), "{e}");
    tls::endpoint("https://127.0.0.1:1", &op, &anchor, &code("430102")).expect("https endpoint");
    tls::install_crypto_provider().expect("idempotent install");
    let p = rustls::crypto::CryptoProvider::get_default().expect("installed");
    assert!(p.cipher_suites.iter().all(|s| s.version() == &rustls::version::TLS13));
}
