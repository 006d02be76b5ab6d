//! `gongxin-node bench tls`: mutual-TLS handshakes/s and bulk MB/s of both profiles (`ecdsa`: ring; `sm2`:
//! RFC 8998, gongxin-certs' provider) in one run, over real loopback TCP sockets, with the configurations the
//! node uses (`tls::rustls_server_config` / `tls::rustls_client_config`) and certificates of a throwaway CA
//! of each algorithm. Server and client run in two threads; figures are per wall-clock second.
//!
//! Handshakes are full ones (client-side resumption switched off, so every handshake verifies both
//! certificate chains and both CertificateVerify signatures): what a node pays when a child reconnects
//! without a ticket. Bulk is one connection sending `--mb` MiB per round, acknowledged by the server.
use anyhow::{anyhow, Context as _, Result};
use gongxin_certs::tls::{self, CaCert, TlsIdentity};
use gongxin_certs::{Algorithm, Ca, CaOptions, IssueOptions, NodeCode, Role};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Default, serde::Serialize)]
pub struct ProfileFigures {
    pub profile: &'static str,
    pub cipher_suite: String,
    pub kx_group: String,
    pub handshakes_per_s: f64,
    pub bulk_mb_per_s: f64,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct TlsFigures {
    pub bench: &'static str,
    pub seconds: u64,
    pub mb_per_round: usize,
    pub ecdsa: ProfileFigures,
    pub sm2: ProfileFigures,
    pub handshake_ratio_sm2_to_ecdsa: f64,
    pub bulk_ratio_sm2_to_ecdsa: f64,
}

struct Pair {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

fn configs(alg: Algorithm) -> Result<Pair> {
    let ca = Ca::create_with(&CaOptions::default(), alg)?;
    let issue = |role, code: &str| -> Result<TlsIdentity> {
        let opts = IssueOptions { name: Some("bench".into()), ..Default::default() };
        Ok(TlsIdentity::from_issued(&ca.issue(role, &NodeCode::parse(code)?, &opts)?)?)
    };
    let anchor = CaCert::from(&ca);
    let server = tls::rustls_server_config(&issue(Role::Node, "430100")?, &anchor)?;
    let client = tls::rustls_client_config(&issue(Role::Node, "430102")?, &anchor)?;
    // Full handshakes only: no session resumption from the client's ticket cache.
    let mut client = (*client).clone();
    client.resumption = rustls::client::Resumption::disabled();
    Ok(Pair { server, client: Arc::new(client) })
}

/// Server thread: accepts connections; each is answered in the mode its first byte asks for:
/// `h` = handshake then one byte back; `b` = read `len` bytes per round, answer one byte per round.
fn serve(listener: TcpListener, config: Arc<rustls::ServerConfig>, round_bytes: usize) {
    for tcp in listener.incoming() {
        let Ok(tcp) = tcp else { continue };
        let _ = tcp.set_nodelay(true);
        let Ok(conn) = rustls::ServerConnection::new(config.clone()) else { continue };
        let mut s = rustls::StreamOwned::new(conn, tcp);
        let mut mode = [0u8; 1];
        if s.read_exact(&mut mode).is_err() {
            continue;
        }
        match mode[0] {
            b'h' => {
                let _ = s.write_all(b"k").and_then(|()| s.flush());
            }
            b'b' => {
                let mut buf = vec![0u8; 64 << 10];
                'rounds: loop {
                    let mut got = 0usize;
                    while got < round_bytes {
                        let want = (round_bytes - got).min(buf.len());
                        match s.read(&mut buf[..want]) {
                            Ok(0) | Err(_) => break 'rounds,
                            Ok(n) => got += n,
                        }
                    }
                    if s.write_all(b"k").and_then(|()| s.flush()).is_err() {
                        break;
                    }
                }
            }
            b'q' => return,
            _ => {}
        }
    }
}

fn connect(
    addr: std::net::SocketAddr,
    config: &Arc<rustls::ClientConfig>,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let name = tls::server_name(&NodeCode::parse("430100")?)?;
    let tcp = TcpStream::connect(addr).context("connect to the loopback server")?;
    tcp.set_nodelay(true)?;
    let conn = rustls::ClientConnection::new(config.clone(), name).map_err(|e| anyhow!("client connection: {e}"))?;
    Ok(rustls::StreamOwned::new(conn, tcp))
}

/// RFC 8998 code points by their names (rustls knows them only as numbers).
fn suite_name(id: u16, rustls_name: String) -> String {
    match id {
        gongxin_certs::gm::TLS_SM4_GCM_SM3_ID => "TLS_SM4_GCM_SM3 (0x00C6)".into(),
        gongxin_certs::gm::TLS_SM4_CCM_SM3_ID => "TLS_SM4_CCM_SM3 (0x00C7)".into(),
        _ => format!("{rustls_name} (0x{id:04X})"),
    }
}

fn group_name(id: u16, rustls_name: String) -> String {
    if id == gongxin_certs::gm::CURVE_SM2_ID {
        "curveSM2 (0x0029)".into()
    } else {
        rustls_name
    }
}

fn measure(alg: Algorithm, secs: f64, mb: usize) -> Result<ProfileFigures> {
    let pair = configs(alg)?;
    let listener = TcpListener::bind("127.0.0.1:0").context("bind a loopback port")?;
    let addr = listener.local_addr()?;
    let round_bytes = mb << 20;
    let server_cfg = pair.server.clone();
    let server = std::thread::spawn(move || serve(listener, server_cfg, round_bytes));
    let mut one = [0u8; 1];

    // Handshakes: connect, complete the mutual handshake, one byte each way (so the server finished too).
    let mut suite = String::new();
    let mut group = String::new();
    let mut run_handshakes = |limit: f64| -> Result<f64> {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed().as_secs_f64() < limit {
            let mut c = connect(addr, &pair.client)?;
            c.write_all(b"h")?;
            c.flush()?;
            c.read_exact(&mut one).context("handshake round trip")?;
            if suite.is_empty() {
                suite = c
                    .conn
                    .negotiated_cipher_suite()
                    .map(|s| suite_name(u16::from(s.suite()), format!("{:?}", s.suite())))
                    .unwrap_or_default();
                group = c
                    .conn
                    .negotiated_key_exchange_group()
                    .map(|g| group_name(u16::from(g.name()), format!("{:?}", g.name())))
                    .unwrap_or_default();
            }
            n += 1;
        }
        Ok(n as f64 / start.elapsed().as_secs_f64())
    };
    run_handshakes(0.2)?; // warm-up
    let handshakes_per_s = run_handshakes(secs)?;

    // Bulk: one connection, `mb` MiB per round, one byte back per round.
    let mut c = connect(addr, &pair.client)?;
    c.write_all(b"b")?;
    let chunk = vec![0x5au8; 64 << 10];
    let mut round = |c: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>| -> Result<()> {
        let mut sent = 0usize;
        while sent < round_bytes {
            let n = chunk.len().min(round_bytes - sent);
            c.write_all(&chunk[..n])?;
            sent += n;
        }
        c.flush()?;
        c.read_exact(&mut one).context("bulk round acknowledgement")?;
        Ok(())
    };
    round(&mut c)?; // warm-up
    let start = Instant::now();
    let mut rounds = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        round(&mut c)?;
        rounds += 1;
    }
    let bulk_mb_per_s = (rounds as f64 * round_bytes as f64) / 1e6 / start.elapsed().as_secs_f64();
    c.conn.send_close_notify();
    let _ = c.flush();
    drop(c);

    // Stop the server thread.
    let mut q = connect(addr, &pair.client)?;
    let _ = q.write_all(b"q").and_then(|()| q.flush());
    drop(q);
    let _ = server.join();
    Ok(ProfileFigures { profile: alg.as_str(), cipher_suite: suite, kx_group: group, handshakes_per_s, bulk_mb_per_s })
}

pub fn run(seconds: u64, mb: usize, json_only: bool) -> Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("注意：调试构建，数字无意义，请使用 --release / note: debug build — figures are meaningless; use `cargo run --release -p gongxin-node --features bench -- bench tls`");
    }
    let secs = seconds.max(1) as f64;
    let mb = mb.max(1);
    eprintln!("测量 ecdsa 与 sm2 两种 TLS 配置（本机回环，{secs} 秒/项）/ measuring both TLS profiles over loopback …");
    let ecdsa = measure(Algorithm::EcdsaP256, secs, mb).context("ecdsa profile")?;
    let sm2 = measure(Algorithm::Sm2, secs, mb).context("sm2 profile")?;
    let fig = TlsFigures {
        bench: "tls",
        seconds,
        mb_per_round: mb,
        handshake_ratio_sm2_to_ecdsa: sm2.handshakes_per_s / ecdsa.handshakes_per_s,
        bulk_ratio_sm2_to_ecdsa: sm2.bulk_mb_per_s / ecdsa.bulk_mb_per_s,
        ecdsa,
        sm2,
    };
    if !json_only {
        println!("TLS 1.3 mutual authentication over loopback TCP, server and client in two threads, wall clock");
        println!("{:<8} {:<40} {:<12} {:>14} {:>12}", "profile", "cipher suite", "group", "handshakes/s", "bulk MB/s");
        for p in [&fig.ecdsa, &fig.sm2] {
            println!(
                "{:<8} {:<40} {:<12} {:>14.0} {:>12.1}",
                p.profile, p.cipher_suite, p.kx_group, p.handshakes_per_s, p.bulk_mb_per_s
            );
        }
        println!(
            "sm2 / ecdsa: handshakes {:.2}x, bulk {:.3}x",
            fig.handshake_ratio_sm2_to_ecdsa, fig.bulk_ratio_sm2_to_ecdsa
        );
    }
    println!("{}", serde_json::to_string(&fig)?);
    Ok(())
}
