//! Interoperability of the RFC 8998 profile with Tongsuo (an implementation no one here wrote): Tongsuo's
//! `s_client` against our rustls server, and our rustls client against Tongsuo's `s_server`, with SM2
//! certificates from our CA, TLS_SM4_GCM_SM3, curveSM2 and sm2sig_sm3 (Tongsuo's `-enable_sm_tls13_strict`,
//! which allows nothing else), and assertions on what the peer itself reports.
//!
//! Tongsuo is built from the source carried by the `tongsuo-src` crate into `<target>/tongsuo-<version>/`
//! (never committed) the first time `GONGXIN_TONGSUO=1` is set; once built, the tests use the cached binary
//! without the variable. Without either they print why they did nothing and pass.
use crate::code;
use crate::sm2::{issue_sm2, new_sm2_ca};
use gongxin_certs::tls::{self, CaCert, TlsIdentity};
use gongxin_certs::{parse_identity, Ca, PeerIdentity, Role};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// Options that make Tongsuo speak exactly RFC 8998 and nothing else.
const RFC8998: [&str; 8] = [
    "-tls1_3",
    "-ciphersuites",
    "TLS_SM4_GCM_SM3",
    "-groups",
    "curveSM2",
    "-sigalgs",
    "sm2sig_sm3",
    "-enable_sm_tls13_strict",
];

static BUILD: Mutex<()> = Mutex::new(());

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The Tongsuo `openssl` binary, building it first if `GONGXIN_TONGSUO` is set (about 8 minutes on two
/// cores, niced). None (with a message) if it is neither built nor asked for.
fn tongsuo() -> Option<PathBuf> {
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let dir = target_dir().join(format!("tongsuo-{}", tongsuo_src::version()));
    let bin = dir.join("build/apps/openssl");
    if bin.exists() {
        return Some(bin);
    }
    if std::env::var_os("GONGXIN_TONGSUO").is_none() {
        eprintln!(
            "Tongsuo interop skipped: set GONGXIN_TONGSUO=1 to build Tongsuo {} into {} (cached afterwards)",
            tongsuo_src::version(),
            dir.display()
        );
        return None;
    }
    let build = dir.join("build");
    std::fs::create_dir_all(&build).expect("create Tongsuo build dir");
    let jobs = std::env::var("GONGXIN_TONGSUO_JOBS").unwrap_or_else(|_| "1".into());
    let run = |cmd: &mut Command, what: &str| {
        let status = cmd.current_dir(&build).status().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(status.success(), "{what} failed: {status}");
    };
    let config = tongsuo_src::source_dir().join("config");
    run(
        Command::new("nice").args(["-n", "15"]).arg(config).args(["no-shared", "no-tests", "no-module", "enable-ntls"]),
        "configure Tongsuo",
    );
    run(Command::new("nice").args(["-n", "15", "make", &format!("-j{jobs}"), "build_programs"]), "build Tongsuo");
    assert!(bin.exists(), "Tongsuo built but {} is missing", bin.display());
    Some(bin)
}

struct Pki {
    _dir: tempfile::TempDir,
    path: PathBuf,
    ca: Ca,
}

/// An SM2 CA with a node certificate for 430100 and an operator certificate for 430102, on disk for Tongsuo.
fn pki() -> Pki {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = new_sm2_ca("Gongxin SM2 interop CA");
    ca.save(dir.path(), false).expect("save CA");
    issue_sm2(&ca, Role::Node, "430100", None).save(dir.path(), Some("server"), false).expect("save");
    issue_sm2(&ca, Role::Operator, "430102", Some("测试")).save(dir.path(), Some("client"), false).expect("save");
    Pki { path: dir.path().to_path_buf(), _dir: dir, ca }
}

fn load(p: &Pki, stem: &str) -> TlsIdentity {
    TlsIdentity::load(p.path.join(format!("{stem}.pem")), p.path.join(format!("{stem}.key"))).expect("identity")
}

#[tokio::test]
async fn tongsuo_s_client_against_our_server() {
    let Some(bin) = tongsuo() else { return };
    let p = pki();
    let anchor = CaCert::from(&p.ca);
    let config = tls::rustls_server_config(&load(&p, "server"), &anchor).expect("server config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let tls = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await.map_err(|e| format!("accept: {e}"))?;
        let (_, conn) = tls.get_ref();
        let suite = conn.negotiated_cipher_suite().map(|s| u16::from(s.suite()));
        let group = conn.negotiated_key_exchange_group().map(|g| u16::from(g.name()));
        let peer = conn.peer_certificates().and_then(|c| c.first().cloned()).ok_or("no client certificate")?;
        let who = parse_identity(&peer).map_err(|e| e.to_string())?;
        let mut tls = tokio::io::BufReader::new(tls);
        let mut line = String::new();
        tls.read_line(&mut line).await.map_err(|e| format!("read: {e}"))?;
        tls.get_mut().write_all(format!("pong {}", line).as_bytes()).await.map_err(|e| e.to_string())?;
        tls.get_mut().shutdown().await.map_err(|e| e.to_string())?;
        Ok::<_, String>((suite, group, who, line))
    });

    let dir = p.path.clone();
    let client = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(bin)
            .arg("s_client")
            .args(["-connect", &addr.to_string()])
            .args(RFC8998)
            .args(["-cert", "client.pem", "-key", "client.key", "-CAfile", "ca.pem"])
            .args(["-servername", "n430100.gongxin.internal", "-verify_hostname", "n430100.gongxin.internal"])
            .args(["-verify_return_error", "-ign_eof"])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start s_client");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(b"ping\n");
        }
        let out = child.wait_with_output().expect("s_client output");
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    let out = tokio::time::timeout(Duration::from_secs(60), client).await.expect("s_client in time").expect("join");
    let (suite, group, who, line) = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server in time")
        .expect("join")
        .expect(&out);

    // What Tongsuo reports about the connection.
    for want in [
        "New, TLSv1.3, Cipher is TLS_SM4_GCM_SM3",
        "Peer signature type: sm2sig_sm3",
        "Peer Temp Key: ECDH, SM2, 256 bits",
        "Verification: OK",
        "Verify return code: 0 (ok)",
        "pong ping",
    ] {
        assert!(out.contains(want), "Tongsuo s_client output lacks {want:?}:\n{out}");
    }
    // What our side saw.
    assert_eq!((suite, group), (Some(0x00c6), Some(0x0029)));
    assert_eq!((who.code.as_str(), who.role), ("430102", Role::Operator));
    assert_eq!(line, "ping\n");
}

#[tokio::test]
async fn our_client_against_tongsuo_s_server() {
    let Some(bin) = tongsuo() else { return };
    let (suite, group, who, page) = our_client_vs_s_server(&bin, "TLS_SM4_GCM_SM3").await;
    assert_eq!((suite, group), (Some(0x00c6), Some(0x0029)), "{page}");
    assert_eq!((who.code.as_str(), who.role), ("430100", Role::Node));
    // What Tongsuo reports about the connection, in the page it served.
    for want in ["New, TLSv1.3, Cipher is TLS_SM4_GCM_SM3", "Client certificate", "Peer signature type: sm2sig_sm3"] {
        assert!(page.contains(want), "s_server page lacks {want:?}:\n{page}");
    }
}

/// TLS_SM4_CCM_SM3 both ways: Tongsuo's s_server allowing only CCM, and Tongsuo's s_client offering only CCM.
#[tokio::test]
async fn sm4_ccm_with_tongsuo_both_ways() {
    let Some(bin) = tongsuo() else { return };
    let (suite, group, _, page) = our_client_vs_s_server(&bin, "TLS_SM4_CCM_SM3").await;
    assert_eq!((suite, group), (Some(0x00c7), Some(0x0029)), "{page}");
    assert!(page.contains("New, TLSv1.3, Cipher is TLS_SM4_CCM_SM3"), "{page}");

    let p = pki();
    let config = tls::rustls_server_config(&load(&p, "server"), &CaCert::from(&p.ca)).expect("server config");
    let (addr, server) = serve_n(config, 1).await;
    let mut args = strs(&RFC8998);
    args[2] = "TLS_SM4_CCM_SM3".into();
    args.extend(strs(&["-cert", "client.pem", "-key", "client.key"]));
    let out = s_client(&bin, &p.path, addr, args).await;
    let results = server.await.expect("join");
    assert!(out.contains("New, TLSv1.3, Cipher is TLS_SM4_CCM_SM3") && out.contains("pong ping"), "{out}");
    let (suite, group, _) = results[0].as_ref().expect("server side");
    assert_eq!((*suite, *group), (0x00c7, 0x0029));
}

/// Our client against Tongsuo's `s_server -www` restricted to `suite`: what we negotiated, the server's
/// identity, and the page in which Tongsuo describes the session.
async fn our_client_vs_s_server(bin: &Path, suite: &str) -> (Option<u16>, Option<u16>, PeerIdentity, String) {
    let p = pki();
    let anchor = CaCert::from(&p.ca);
    let mut rfc8998 = strs(&RFC8998);
    rfc8998[2] = suite.to_string();
    // s_server -www answers "GET /" with a page describing the session, including the client certificate.
    let mut server = Command::new(bin)
        .arg("s_server")
        .args(["-accept", "127.0.0.1:0", "-naccept", "1"])
        .args(&rfc8998)
        .args(["-cert", "server.pem", "-key", "server.key", "-CAfile", "ca.pem", "-Verify", "1"])
        .args(["-verify_return_error", "-www"])
        .current_dir(&p.path)
        .stdin(Stdio::piped()) // kept open: s_server quits at end of standard input
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start s_server");
    let stdout = server.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines.next().expect("s_server said ACCEPT").expect("read");
        if let Some(a) = line.strip_prefix("ACCEPT ") {
            break a.trim().to_string();
        }
    };
    let collector = std::thread::spawn(move || lines.map_while(Result::ok).count());

    let config = tls::rustls_client_config(&load(&p, "client"), &anchor).expect("client config");
    let result = tokio::time::timeout(Duration::from_secs(30), async {
        let tcp = tokio::net::TcpStream::connect(&addr).await.map_err(|e| e.to_string())?;
        let name = tls::server_name(&code("430100")).map_err(|e| e.to_string())?;
        let mut tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(|e| e.to_string())?;
        let (_, conn) = tls.get_ref();
        let suite = conn.negotiated_cipher_suite().map(|s| u16::from(s.suite()));
        let group = conn.negotiated_key_exchange_group().map(|g| u16::from(g.name()));
        let peer = conn.peer_certificates().and_then(|c| c.first().cloned()).ok_or("no server certificate")?;
        let who: PeerIdentity = parse_identity(&peer).map_err(|e| e.to_string())?;
        tls.write_all(b"GET / HTTP/1.0\r\n\r\n").await.map_err(|e| e.to_string())?;
        let mut page = Vec::new();
        // Tongsuo closes without close_notify after -www; keep what arrived.
        let _ = tls.read_to_end(&mut page).await;
        Ok::<_, String>((suite, group, who, String::from_utf8_lossy(&page).to_string()))
    })
    .await;
    drop(server.stdin.take());
    let _ = server.kill();
    let status = server.wait_with_output();
    let _ = collector.join();
    let stderr = status.map(|o| String::from_utf8_lossy(&o.stderr).to_string()).unwrap_or_default();
    result.expect("in time").unwrap_or_else(|e| panic!("{e}\ns_server: {stderr}"))
}

/// Our server for `n` connections one after the other: each reads a line and answers `pong <line>`.
/// Returns, per connection, the negotiated suite and group and the client identity, or why it failed.
async fn serve_n(
    config: Arc<rustls::ServerConfig>,
    n: usize,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<Vec<Result<(u16, u16, PeerIdentity), String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let task = tokio::spawn(async move {
        let mut results = Vec::new();
        for _ in 0..n {
            let one = async {
                let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
                let tls = acceptor.accept(tcp).await.map_err(|e| format!("accept: {e}"))?;
                let (_, conn) = tls.get_ref();
                let suite = conn.negotiated_cipher_suite().map(|s| u16::from(s.suite())).unwrap_or(0);
                let group = conn.negotiated_key_exchange_group().map(|g| u16::from(g.name())).unwrap_or(0);
                let peer = conn.peer_certificates().and_then(|c| c.first().cloned()).ok_or("no client certificate")?;
                let who = parse_identity(&peer).map_err(|e| e.to_string())?;
                let mut tls = tokio::io::BufReader::new(tls);
                let mut line = String::new();
                tls.read_line(&mut line).await.map_err(|e| format!("read: {e}"))?;
                tls.get_mut().write_all(format!("pong {line}").as_bytes()).await.map_err(|e| e.to_string())?;
                tls.get_mut().shutdown().await.map_err(|e| e.to_string())?;
                Ok::<_, String>((suite, group, who))
            };
            results.push(tokio::time::timeout(Duration::from_secs(20), one).await.unwrap_or(Err("timeout".into())));
        }
        results
    });
    (addr, task)
}

/// Runs Tongsuo's s_client once (sends `ping`, waits for the server to close) and returns its output.
async fn s_client(bin: &Path, dir: &Path, addr: std::net::SocketAddr, args: Vec<String>) -> String {
    let (bin, dir) = (bin.to_path_buf(), dir.to_path_buf());
    let run = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(bin)
            .arg("s_client")
            .args(["-connect", &addr.to_string()])
            .args(&args)
            .args(["-CAfile", "ca.pem", "-servername", "n430100.gongxin.internal", "-verify_return_error", "-ign_eof"])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start s_client");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(b"ping\n");
        }
        let out = child.wait_with_output().expect("s_client output");
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    tokio::time::timeout(Duration::from_secs(60), run).await.expect("s_client in time").expect("join")
}

fn strs(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Tongsuo offers X25519 first (key share for X25519 only): our server, which has only curveSM2, answers
/// with a HelloRetryRequest (the SM3 transcript's message_hash rule), and Tongsuo retries with curveSM2.
/// Then Tongsuo resumes the session from the ticket our server sent (PSK binder = HMAC-SM3 over the
/// truncated transcript; psk_dhe_ke with curveSM2).
#[tokio::test]
async fn tongsuo_hello_retry_and_resumption() {
    let Some(bin) = tongsuo() else { return };
    let p = pki();
    let config = tls::rustls_server_config(&load(&p, "server"), &CaCert::from(&p.ca)).expect("server config");
    let (addr, server) = serve_n(config, 2).await;
    let common = [
        "-tls1_3",
        "-ciphersuites",
        "TLS_SM4_GCM_SM3",
        "-sigalgs",
        "sm2sig_sm3",
        "-cert",
        "client.pem",
        "-key",
        "client.key",
    ];
    let mut first = strs(&common);
    first.extend(strs(&["-groups", "X25519:curveSM2", "-sess_out", "session.pem", "-msg"]));
    let out1 = s_client(&bin, &p.path, addr, first).await;
    let mut second = strs(&common);
    second.extend(strs(&["-groups", "curveSM2", "-sess_in", "session.pem"]));
    let out2 = s_client(&bin, &p.path, addr, second).await;
    let results = server.await.expect("join");

    assert!(out1.contains("New, TLSv1.3, Cipher is TLS_SM4_GCM_SM3") && out1.contains("pong ping"), "{out1}");
    assert!(out1.contains("Peer Temp Key: ECDH, SM2, 256 bits"), "{out1}");
    // `-msg` shows two ServerHello messages from us: the HelloRetryRequest and the real one.
    let server_hellos = out1.lines().filter(|l| l.starts_with("<<<") && l.contains("ServerHello")).count();
    assert_eq!(server_hellos, 2, "expected a HelloRetryRequest:\n{out1}");
    assert!(out2.contains("Reused, TLSv1.3, Cipher is TLS_SM4_GCM_SM3") && out2.contains("pong ping"), "{out2}");
    for r in &results {
        let (suite, group, who) = r.as_ref().expect("server side");
        assert_eq!((*suite, *group), (0x00c6, 0x0029));
        assert_eq!(who.code.as_str(), "430102");
    }
}

/// Tongsuo clients our server must turn away: no SM cipher suite offered, no client certificate, a client
/// certificate from another SM2 CA.
#[tokio::test]
async fn tongsuo_clients_refused_by_our_server() {
    let Some(bin) = tongsuo() else { return };
    let p = pki();
    let other = pki();
    std::fs::copy(other.path.join("client.pem"), p.path.join("foreign.pem")).expect("copy");
    std::fs::copy(other.path.join("client.key"), p.path.join("foreign.key")).expect("copy");
    let config = tls::rustls_server_config(&load(&p, "server"), &CaCert::from(&p.ca)).expect("server config");
    let cases: [(&str, Vec<String>); 3] = [
        (
            "AES only",
            strs(&["-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256", "-cert", "client.pem", "-key", "client.key"]),
        ),
        ("no client certificate", strs(&RFC8998)),
        ("client certificate of another CA", {
            let mut a = strs(&RFC8998);
            a.extend(strs(&["-cert", "foreign.pem", "-key", "foreign.key"]));
            a
        }),
    ];
    for (what, args) in cases {
        let (addr, server) = serve_n(config.clone(), 1).await;
        let out = s_client(&bin, &p.path, addr, args).await;
        let results = server.await.expect("join");
        assert!(results[0].is_err(), "{what}: our server accepted: {results:?}");
        assert!(!out.contains("pong ping"), "{what}: Tongsuo got an answer:\n{out}");
    }
}

/// The other way round for certificates: an SM2 CA and a node certificate (with our SAN conventions) made by
/// Tongsuo's `req`/`x509` verify with our chain verification, yield the identity, and its Tongsuo-written
/// PKCS#8 key serves TLS with our provider to Tongsuo's s_client.
#[tokio::test]
async fn tongsuo_made_certificates_work_with_ours() {
    let Some(bin) = tongsuo() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let conf = tongsuo_src::source_dir().join("apps/openssl.cnf");
    let run = |args: &[&str]| {
        let out = Command::new(&bin).args(args).current_dir(d).env("OPENSSL_CONF", &conf).output().expect("run");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=URI:urn:gongxin:node:430100,URI:urn:gongxin:role:node,DNS:n430100.gongxin.internal\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=critical,CA:FALSE\n",
    )
    .expect("write");
    run(&["genpkey", "-algorithm", "SM2", "-out", "ca.key"]);
    run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-sm3",
        "-subj",
        "/O=Gongxin federation/CN=Tongsuo CA",
        "-days",
        "30",
    ]
    .into_iter()
    .chain(["-addext", "basicConstraints=critical,CA:TRUE,pathlen:0", "-addext", "keyUsage=critical,keyCertSign"])
    .chain(["-out", "ca.pem"])
    .collect::<Vec<_>>());
    run(&["genpkey", "-algorithm", "SM2", "-out", "server.key"]);
    run(&[
        "req",
        "-new",
        "-key",
        "server.key",
        "-sm3",
        "-subj",
        "/O=Gongxin federation/OU=node/CN=430100",
        "-out",
        "s.csr",
    ]);
    run(&["x509", "-req", "-in", "s.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-sm3", "-days", "20"]
        .into_iter()
        .chain(["-extfile", "ext.cnf", "-out", "server.pem"])
        .collect::<Vec<_>>());
    std::fs::set_permissions(d.join("server.key"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");

    let anchor = CaCert::load(d.join("ca.pem")).expect("Tongsuo CA");
    assert_eq!(anchor.algorithm(), gongxin_certs::Algorithm::Sm2);
    let server = TlsIdentity::load(d.join("server.pem"), d.join("server.key")).expect("Tongsuo-made identity");
    let chain = gongxin_certs::load_certs_pem(d.join("server.pem")).expect("load");
    let who = tls::verify_server_cert(&anchor, &chain, &code("430100"), std::time::SystemTime::now()).expect("verify");
    assert_eq!((who.code.as_str(), who.role), ("430100", Role::Node));

    // Our server with Tongsuo's certificate and key; a Tongsuo client certificate from the same CA.
    run(&["genpkey", "-algorithm", "SM2", "-out", "client.key"]);
    std::fs::write(
        d.join("cext.cnf"),
        "subjectAltName=URI:urn:gongxin:node:430102,URI:urn:gongxin:role:operator\nextendedKeyUsage=clientAuth\n",
    )
    .expect("write");
    run(&[
        "req",
        "-new",
        "-key",
        "client.key",
        "-sm3",
        "-subj",
        "/O=Gongxin federation/OU=operator/CN=op",
        "-out",
        "c.csr",
    ]);
    run(&["x509", "-req", "-in", "c.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-sm3", "-days", "20"]
        .into_iter()
        .chain(["-extfile", "cext.cnf", "-out", "client.pem"])
        .collect::<Vec<_>>());
    let config = tls::rustls_server_config(&server, &anchor).expect("server config");
    let (addr, task) = serve_n(config, 1).await;
    let mut args = strs(&RFC8998);
    args.extend(strs(&["-cert", "client.pem", "-key", "client.key"]));
    let out = s_client(&bin, d, addr, args).await;
    let results = task.await.expect("join");
    assert!(out.contains("Cipher is TLS_SM4_GCM_SM3") && out.contains("pong ping"), "{out}");
    let (_, _, who) = results[0].as_ref().expect("server side");
    assert_eq!((who.code.as_str(), who.role), ("430102", Role::Operator));
}
