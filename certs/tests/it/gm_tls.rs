//! The RFC 8998 profile end to end on 127.0.0.1: rustls client and server with SM2 certificates complete a
//! TLS 1.3 mutual-auth handshake with TLS_SM4_GCM_SM3 / curveSM2 and exchange data; the same through tonic
//! (serve_with_incoming + connect_with_connector); and the ways it must fail.
use crate::sm2::{issue_sm2, new_sm2_ca};
use crate::{code, issue, new_ca};
use gongxin_certs::tls::{self, CaCert, TlsIdentity};
use gongxin_certs::{parse_identity, Algorithm, Ca, CertError, IssueOptions, PeerIdentity, Role};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn id(ca: &Ca, role: Role, c: &str) -> TlsIdentity {
    let name = if role == Role::Node { None } else { Some("测试") };
    TlsIdentity::from_issued(&issue_sm2(ca, role, c, name)).expect("identity")
}

/// One raw TLS server that accepts a single connection, echoes what it reads uppercased, and reports the
/// negotiated parameters and the client's identity.
async fn one_shot_server(
    config: Arc<rustls::ServerConfig>,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<Result<(u16, u16, PeerIdentity), String>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await.map_err(|e| format!("accept: {e}"))?;
        let (_, conn) = tls.get_ref();
        let suite = conn.negotiated_cipher_suite().map(|s| u16::from(s.suite())).unwrap_or(0);
        let group = conn.negotiated_key_exchange_group().map(|g| u16::from(g.name())).unwrap_or(0);
        let peer = conn.peer_certificates().and_then(|c| c.first().cloned()).ok_or("no client certificate")?;
        let who = parse_identity(&peer).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 200_000];
        tls.read_exact(&mut buf).await.map_err(|e| format!("read: {e}"))?;
        buf.make_ascii_uppercase();
        tls.write_all(&buf).await.map_err(|e| format!("write: {e}"))?;
        tls.shutdown().await.map_err(|e| format!("shutdown: {e}"))?;
        Ok((suite, group, who))
    });
    (addr, task)
}

async fn client_exchange(
    addr: std::net::SocketAddr,
    config: Arc<rustls::ClientConfig>,
    server: &str,
) -> Result<(u16, u16, PeerIdentity), String> {
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = tls::server_name(&code(server)).map_err(|e| e.to_string())?;
    let mut tls =
        tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(|e| format!("connect: {e}"))?;
    let (_, conn) = tls.get_ref();
    let suite = conn.negotiated_cipher_suite().map(|s| u16::from(s.suite())).unwrap_or(0);
    let group = conn.negotiated_key_exchange_group().map(|g| u16::from(g.name())).unwrap_or(0);
    let peer = conn.peer_certificates().and_then(|c| c.first().cloned()).ok_or("no server certificate")?;
    let who = parse_identity(&peer).map_err(|e| e.to_string())?;
    let data: Vec<u8> = (0..200_000u32).map(|i| b"abcdefghij"[(i % 10) as usize]).collect();
    tls.write_all(&data).await.map_err(|e| format!("write: {e}"))?;
    let mut back = Vec::new();
    tls.read_to_end(&mut back).await.map_err(|e| format!("read: {e}"))?;
    if back != data.to_ascii_uppercase() {
        return Err("echo differs".into());
    }
    Ok((suite, group, who))
}

#[tokio::test]
async fn sm2_mutual_tls_handshake_and_data() {
    let ca = new_sm2_ca("SM2 federation");
    let anchor = CaCert::from(&ca);
    let server_cfg = tls::rustls_server_config(&id(&ca, Role::Node, "430100"), &anchor).expect("server config");
    let client_cfg = tls::rustls_client_config(&id(&ca, Role::Node, "430102"), &anchor).expect("client config");
    let (addr, server) = one_shot_server(server_cfg).await;
    let (suite, group, server_id) = client_exchange(addr, client_cfg, "430100").await.expect("client");
    let (s_suite, s_group, client_id) = server.await.expect("join").expect("server");
    assert_eq!((suite, group), (0x00c6, 0x0029), "TLS_SM4_GCM_SM3 with curveSM2");
    assert_eq!((s_suite, s_group), (0x00c6, 0x0029));
    assert_eq!((server_id.code.as_str(), server_id.role), ("430100", Role::Node));
    assert_eq!((client_id.code.as_str(), client_id.role), ("430102", Role::Node));
}

/// Each case: what the client presents / expects, and that the handshake (or first read) fails.
#[tokio::test]
async fn sm2_handshakes_that_must_fail() {
    let ca = new_sm2_ca("SM2 federation");
    let anchor = CaCert::from(&ca);
    let other_sm2 = new_sm2_ca("Another SM2 CA");
    let ecdsa = new_ca("ECDSA federation");
    let server_cfg = tls::rustls_server_config(&id(&ca, Role::Node, "430100"), &anchor).expect("server config");

    // A client certificate from another SM2 CA.
    let foreign =
        tls::rustls_client_config(&id(&other_sm2, Role::Node, "430102"), &CaCert::from(&other_sm2)).expect("config");
    // A client that trusts only another CA (so refuses our server).
    let distrusting = {
        let mine = id(&other_sm2, Role::Node, "430102");
        tls::rustls_client_config(&mine, &CaCert::from(&other_sm2)).expect("config")
    };
    // An ECDSA federation client with ring's default suites (AES-GCM, X25519, ECDSA): no common algorithm.
    let ecdsa_client = {
        let i = TlsIdentity::from_issued(&issue(&ecdsa, Role::Node, "430102", None)).expect("identity");
        tls::rustls_client_config(&i, &CaCert::from(&ecdsa)).expect("config")
    };
    let good = tls::rustls_client_config(&id(&ca, Role::Node, "430102"), &anchor).expect("config");

    for (what, client, server_name) in [
        ("client certificate from another SM2 CA", foreign, "430100"),
        ("client does not trust the server's CA", distrusting, "430100"),
        ("ECDSA/AES/X25519 client", ecdsa_client, "430100"),
        ("server is not the node the client expects", good, "430101"),
    ] {
        let (addr, server) = one_shot_server(server_cfg.clone()).await;
        let client = tokio::time::timeout(Duration::from_secs(10), client_exchange(addr, client, server_name)).await;
        let server = tokio::time::timeout(Duration::from_secs(10), server).await;
        let client_ok = matches!(client, Ok(Ok(_)));
        let server_ok = matches!(server, Ok(Ok(Ok(_))));
        assert!(!client_ok && !server_ok, "{what}: accepted (client {client:?}, server {server:?})");
    }
}

#[test]
fn sm2_configs_refuse_mismatched_identities() {
    let ca = new_sm2_ca("SM2 federation");
    let anchor = CaCert::from(&ca);
    let ecdsa = new_ca("ECDSA federation");
    // An operator certificate cannot serve.
    let e = tls::rustls_server_config(&id(&ca, Role::Operator, "430100"), &anchor).unwrap_err();
    assert!(e.to_string().contains("node certificate"), "{e}");
    // An SM2 certificate in an ECDSA federation and the other way round.
    let e = tls::rustls_client_config(&id(&ca, Role::Node, "430102"), &CaCert::from(&ecdsa)).unwrap_err();
    assert!(e.to_string().contains("is sm2 but the federation CA is ecdsa"), "{e}");
    let ecdsa_id = TlsIdentity::from_issued(&issue(&ecdsa, Role::Node, "430100", None)).expect("identity");
    let e = tls::rustls_server_config(&ecdsa_id, &anchor).unwrap_err();
    assert!(e.to_string().contains("is ecdsa but the federation CA is sm2"), "{e}");
    // tonic's own TLS cannot carry SM2: a clear refusal instead of a late handshake failure.
    let e = tls::server_config(&id(&ca, Role::Node, "430100"), &anchor).unwrap_err();
    assert!(e.to_string().contains("rustls_server_config"), "{e}");
    let e = tls::client_config(&id(&ca, Role::Node, "430102"), &anchor, &code("430100")).unwrap_err();
    assert!(e.to_string().contains("rustls_client_config"), "{e}");
    // A key that does not belong to the certificate.
    let a = issue_sm2(&ca, Role::Node, "430102", None);
    let b = issue_sm2(&ca, Role::Node, "430102", None);
    let e = TlsIdentity::from_pem(a.cert_pem.as_bytes(), b.key_pem.as_bytes(), "a.pem", "b.key").unwrap_err();
    assert!(matches!(e, CertError::KeyMismatch { .. }), "{e}");
}

#[test]
fn sm2_chain_verification_offline() {
    let ca = new_sm2_ca("SM2 federation");
    let anchor = CaCert::from(&ca);
    let node = issue_sm2(&ca, Role::Node, "430102", None);
    let now = SystemTime::now();
    let who = tls::verify_client_cert(&anchor, std::slice::from_ref(&node.cert_der), now).expect("verifies");
    assert_eq!(who.code.as_str(), "430102");
    tls::verify_server_cert(&anchor, std::slice::from_ref(&node.cert_der), &code("430102"), now).expect("server");

    // A flipped bit in the signature value (the last bytes of the DER).
    let mut bad = node.cert_der.to_vec();
    let n = bad.len();
    bad[n - 3] ^= 0x01;
    let e = tls::verify_client_cert(&anchor, &[bad.into()], now).unwrap_err();
    assert!(e.to_string().contains("BadSignature"), "{e}");
    // Expired (checked two years ahead), and an operator certificate as a server.
    let later = now + Duration::from_secs(800 * 86_400);
    assert!(tls::verify_client_cert(&anchor, std::slice::from_ref(&node.cert_der), later).is_err());
    let op = issue_sm2(&ca, Role::Operator, "430102", Some("张三"));
    assert!(tls::verify_server_cert(&anchor, std::slice::from_ref(&op.cert_der), &code("430102"), now).is_err());
    // An ECDSA certificate against the SM2 anchor: no algorithm to verify it with.
    let ecdsa = new_ca("ECDSA");
    let e_node = issue(&ecdsa, Role::Node, "430102", None);
    assert!(tls::verify_client_cert(&anchor, std::slice::from_ref(&e_node.cert_der), now).is_err());
    // Issued long ago: not_before in the past is honoured.
    let old = ca
        .issue(
            Role::Node,
            &code("430103"),
            &IssueOptions {
                not_before: Some(time::OffsetDateTime::now_utc() - time::Duration::days(400)),
                days: Some(30),
                ..Default::default()
            },
        )
        .expect("issue");
    assert!(tls::verify_client_cert(&anchor, std::slice::from_ref(&old.cert_der), now).is_err());
}

/// gRPC over the SM2 profile: tonic's server on `tls::incoming`, the client through `tls::connect`; the
/// handler sees the client's identity through `request_identity` exactly as with the ECDSA profile.
#[tokio::test]
async fn sm2_grpc_through_tonic() {
    grpc_through_tonic(Algorithm::Sm2).await;
}

/// The same code path carries the ECDSA profile (one path for both in the node).
#[tokio::test]
async fn ecdsa_grpc_through_the_same_path() {
    grpc_through_tonic(Algorithm::EcdsaP256).await;
}

fn any_ca(algorithm: Algorithm, name: &str) -> Ca {
    Ca::create_with(&gongxin_certs::CaOptions { name: name.into(), days: 3650 }, algorithm).expect("CA")
}

async fn grpc_through_tonic(algorithm: Algorithm) {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let ca = any_ca(algorithm, "federation");
    let anchor = CaCert::from(&ca);
    assert_eq!(anchor.algorithm(), algorithm);
    let server_cfg = tls::rustls_server_config(&id(&ca, Role::Node, "430100"), &anchor).expect("server config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let interceptor = move |req: tonic::Request<()>| match tls::request_identity(&req) {
        Ok(id) => {
            record.lock().expect("lock").push(id);
            Ok(req)
        }
        Err(e) => Err(tonic::Status::unauthenticated(e.to_string())),
    };
    let (_reporter, health) = tonic_health::server::health_reporter();
    let router = tonic::transport::Server::builder()
        .layer(tonic::service::InterceptorLayer::new(interceptor))
        .add_service(health);
    let server = tokio::spawn(router.serve_with_incoming(tls::incoming(listener, server_cfg)));

    // A connection that never says anything, and one that sends garbage, do not hold up a real client.
    let _idle = tokio::net::TcpStream::connect(addr).await.expect("idle connection");
    let mut garbage = tokio::net::TcpStream::connect(addr).await.expect("garbage connection");
    garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").await.expect("write garbage");
    let client_cfg = tls::rustls_client_config(&id(&ca, Role::Operator, "430100"), &anchor).expect("client config");
    let channel =
        tokio::time::timeout(Duration::from_secs(5), tls::connect(&addr.to_string(), client_cfg, &code("430100")))
            .await
            .expect("not held up by the idle connection")
            .expect("connect");
    for _ in 0..3 {
        HealthClient::new(channel.clone()).check(HealthCheckRequest { service: String::new() }).await.expect("rpc");
    }
    {
        let seen = seen.lock().expect("lock");
        assert_eq!(seen.len(), 3);
        assert_eq!((seen[0].code.as_str(), seen[0].role), ("430100", Role::Operator));
    }

    // A client of another federation (same algorithm) gets no RPC through.
    let other = any_ca(algorithm, "other");
    let foreign = tls::rustls_client_config(&id(&other, Role::Operator, "430100"), &CaCert::from(&other)).expect("cfg");
    let r = tokio::time::timeout(Duration::from_secs(10), async {
        let ch = tls::connect(&addr.to_string(), foreign, &code("430100")).await.map_err(|e| e.to_string())?;
        HealthClient::new(ch).check(HealthCheckRequest { service: String::new() }).await.map_err(|e| e.to_string())
    })
    .await;
    assert!(!matches!(r, Ok(Ok(_))), "foreign client got through: {r:?}");
    assert_eq!(seen.lock().expect("lock").len(), 3);
    server.abort();
}

/// Moves TLS bytes between an in-memory client and server until neither has anything to send.
fn pump(client: &mut rustls::ClientConnection, server: &mut rustls::ServerConnection) {
    loop {
        let mut moved = false;
        let mut buf = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buf).expect("client write_tls");
        }
        if !buf.is_empty() {
            moved = true;
            let mut rd = buf.as_slice();
            while !rd.is_empty() {
                server.read_tls(&mut rd).expect("server read_tls");
                server.process_new_packets().expect("server process");
            }
        }
        let mut buf = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut buf).expect("server write_tls");
        }
        if !buf.is_empty() {
            moved = true;
            let mut rd = buf.as_slice();
            while !rd.is_empty() {
                client.read_tls(&mut rd).expect("client read_tls");
                client.process_new_packets().expect("client process");
            }
        }
        if !moved {
            return;
        }
    }
}

struct Profile {
    name: &'static str,
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

fn profiles() -> Vec<Profile> {
    let sm2 = new_sm2_ca("bench sm2");
    let ecdsa = new_ca("bench ecdsa");
    let mk = |name, ca: &Ca, server: TlsIdentity, client: TlsIdentity| {
        let anchor = CaCert::from(ca);
        Profile {
            name,
            server: tls::rustls_server_config(&server, &anchor).expect("server"),
            client: tls::rustls_client_config(&client, &anchor).expect("client"),
        }
    };
    let e = |role, c| TlsIdentity::from_issued(&issue(&ecdsa, role, c, None)).expect("identity");
    vec![
        mk("ecdsa (ring: AES-128-GCM, X25519, ECDSA P-256)", &ecdsa, e(Role::Node, "430100"), e(Role::Node, "430102")),
        mk(
            "sm2 (RFC 8998: SM4-GCM, curveSM2, sm2sig_sm3)",
            &sm2,
            id(&sm2, Role::Node, "430100"),
            id(&sm2, Role::Node, "430102"),
        ),
    ]
}

/// Mutual-auth handshakes per second and bulk MB/s (one thread, in memory, no sockets) for both profiles in
/// the same run. `cargo test -p gongxin-certs --release --test it -- --ignored --nocapture tls_speed`.
#[test]
#[ignore = "measurement; run in release"]
fn tls_speed() {
    use std::io::{Read, Write};
    use std::time::Instant;
    let name = tls::server_name(&code("430100")).expect("name");
    let mut rates = Vec::new();
    for p in profiles() {
        let start = Instant::now();
        let mut n = 0u32;
        while start.elapsed() < Duration::from_secs(3) {
            let mut c = rustls::ClientConnection::new(p.client.clone(), name.clone()).expect("client");
            let mut s = rustls::ServerConnection::new(p.server.clone()).expect("server");
            pump(&mut c, &mut s);
            assert!(!c.is_handshaking() && !s.is_handshaking());
            n += 1;
        }
        let hs = f64::from(n) / start.elapsed().as_secs_f64();

        let mut c = rustls::ClientConnection::new(p.client.clone(), name.clone()).expect("client");
        let mut s = rustls::ServerConnection::new(p.server.clone()).expect("server");
        pump(&mut c, &mut s);
        // 32 KiB per round trip: below rustls' default buffer limits on both sides.
        let chunk = vec![0x5au8; 32 << 10];
        let mut sink = vec![0u8; 32 << 10];
        let start = Instant::now();
        let mut bytes = 0usize;
        while start.elapsed() < Duration::from_secs(3) {
            c.writer().write_all(&chunk).expect("write");
            pump(&mut c, &mut s);
            let mut got = 0;
            while got < chunk.len() {
                got += s.reader().read(&mut sink[got..]).expect("read");
            }
            bytes += chunk.len();
        }
        let mbs = bytes as f64 / 1e6 / start.elapsed().as_secs_f64();
        eprintln!("{}: {hs:.0} handshakes/s, {mbs:.1} MB/s (encrypt + decrypt, one thread)", p.name);
        rates.push((hs, mbs));
    }
    eprintln!("sm2/ecdsa: handshakes {:.2}x, bulk {:.3}x", rates[1].0 / rates[0].0, rates[1].1 / rates[0].1);
}

/// Where the SM2 profile's bulk time goes: the constant-time SM4 alone, SM4-GCM, and the table-driven `sm4`
/// crate for comparison (one thread).
#[test]
#[ignore = "measurement; run in release"]
fn sm4_speed() {
    use aes_gcm::{AeadInOut, KeyInit};
    use std::time::Instant;
    let rate = |f: &mut dyn FnMut() -> usize| {
        let start = Instant::now();
        let mut bytes = 0;
        while start.elapsed() < Duration::from_secs(2) {
            bytes += f();
        }
        bytes as f64 / 1e6 / start.elapsed().as_secs_f64()
    };
    let ct = gongxin_certs::gm::sm4::Sm4Ct::from_key(&[7u8; 16]);
    let mut four = [[1u8; 16]; 4];
    let ours = rate(&mut || {
        for _ in 0..1000 {
            ct.encrypt4(std::hint::black_box(&mut four));
        }
        64_000
    });
    let portable = ct.clone().portable();
    let slow = rate(&mut || {
        for _ in 0..100 {
            portable.encrypt4(std::hint::black_box(&mut four));
        }
        6_400
    });
    let table = {
        use cipher::BlockCipherEncrypt;
        let c = <sm4::Sm4 as cipher::KeyInit>::new(&[7u8; 16].into());
        let mut blk = cipher::Block::<sm4::Sm4>::from([1u8; 16]);
        rate(&mut || {
            for _ in 0..1000 {
                c.encrypt_block(std::hint::black_box(&mut blk));
            }
            16_000
        })
    };
    let gcm = gongxin_certs::gm::suite::Sm4Gcm::new(&[7u8; 16].into());
    let mut buf = vec![0u8; 16 << 10];
    let seal = rate(&mut || {
        let _ = gcm.encrypt_inout_detached(&[0u8; 12].into(), b"", buf.as_mut_slice().into());
        16 << 10
    });
    eprintln!(
        "SM4 constant-time: {ours:.1} MB/s (portable path {slow:.1} MB/s); sm4 crate (table lookups, not \
         constant-time): {table:.1} MB/s; SM4-GCM seal 16 KiB: {seal:.1} MB/s"
    );
}

/// In memory, over the SM2 profile: data after a KeyUpdate (HKDF-Expand-Label "traffic upd" over SM3) still
/// flows both ways, and a record altered in transit is refused by the receiver (bad_record_mac).
#[test]
fn sm2_key_update_and_tampered_record() {
    use std::io::{Read, Write};
    let ca = new_sm2_ca("SM2 federation");
    let anchor = CaCert::from(&ca);
    let server_cfg = tls::rustls_server_config(&id(&ca, Role::Node, "430100"), &anchor).expect("server config");
    let client_cfg = tls::rustls_client_config(&id(&ca, Role::Node, "430102"), &anchor).expect("client config");
    let name = tls::server_name(&code("430100")).expect("name");
    let mut c = rustls::ClientConnection::new(client_cfg, name).expect("client");
    let mut s = rustls::ServerConnection::new(server_cfg).expect("server");
    pump(&mut c, &mut s);
    assert!(!c.is_handshaking() && !s.is_handshaking());
    assert_eq!(c.negotiated_cipher_suite().map(|x| u16::from(x.suite())), Some(0x00c6));

    let mut buf = [0u8; 64];
    for round in 0..3 {
        c.refresh_traffic_keys().expect("client key update");
        s.refresh_traffic_keys().expect("server key update");
        c.writer().write_all(format!("up {round}").as_bytes()).expect("write");
        s.writer().write_all(format!("down {round}").as_bytes()).expect("write");
        pump(&mut c, &mut s);
        let n = s.reader().read(&mut buf).expect("server read");
        assert_eq!(&buf[..n], format!("up {round}").as_bytes());
        let n = c.reader().read(&mut buf).expect("client read");
        assert_eq!(&buf[..n], format!("down {round}").as_bytes());
    }

    // Flip one bit of an application-data record on its way to the server.
    c.writer().write_all(b"tampered").expect("write");
    let mut wire = Vec::new();
    while c.wants_write() {
        c.write_tls(&mut wire).expect("write_tls");
    }
    let last = wire.len() - 1;
    wire[last - 20] ^= 0x01;
    let mut rd = wire.as_slice();
    s.read_tls(&mut rd).expect("read_tls");
    let e = s.process_new_packets().expect_err("altered record accepted");
    assert!(matches!(e, rustls::Error::DecryptError), "{e:?}");
}

/// A node of the other profile is named as such, on both sides of the failed handshake.
#[tokio::test]
async fn profile_mismatch_is_named() {
    let sm2 = new_sm2_ca("SM2 federation");
    let ecdsa = new_ca("ECDSA federation");
    let sm2_server = tls::rustls_server_config(&id(&sm2, Role::Node, "430100"), &CaCert::from(&sm2)).expect("cfg");
    let e_id = TlsIdentity::from_issued(&issue(&ecdsa, Role::Node, "430102", None)).expect("identity");
    let ecdsa_client = tls::rustls_client_config(&e_id, &CaCert::from(&ecdsa)).expect("cfg");

    // Server side, in memory: what the SM2 server's handshake error says.
    let name = tls::server_name(&code("430100")).expect("name");
    let mut c = rustls::ClientConnection::new(ecdsa_client.clone(), name).expect("client");
    let mut s = rustls::ServerConnection::new(sm2_server.clone()).expect("server");
    let mut hello = Vec::new();
    c.write_tls(&mut hello).expect("client hello");
    s.read_tls(&mut hello.as_slice()).expect("read");
    let e = s.process_new_packets().expect_err("handshake with an ECDSA client");
    let text = tls::describe_tls_error(Algorithm::Sm2, &e);
    assert!(text.contains("tls_profile = sm2") && text.contains("tls_profile = ecdsa"), "{text}");

    // Client side, over a socket: what `connect` reports.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (_reporter, health) = tonic_health::server::health_reporter();
    let router = tonic::transport::Server::builder().add_service(health);
    let server = tokio::spawn(router.serve_with_incoming(tls::incoming(listener, sm2_server)));
    let e = tls::connect(&addr.to_string(), ecdsa_client, &code("430100")).await.expect_err("connected");
    let text = format!("{e}");
    assert!(
        text.contains("tls_profile = ecdsa") && text.contains("probably configured with tls_profile = sm2"),
        "{text}"
    );
    server.abort();
}
