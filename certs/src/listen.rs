//! The federation's mTLS listener with connection hygiene (issue 9 item 4): accept errors (EMFILE and the
//! like) back off instead of spinning; connections are capped in total, per source IP and per client
//! certificate; a TLS handshake has a deadline; a connection that starts no request soon after its handshake
//! (a peer that never sends the HTTP/2 preface), or has no request in flight for the idle timeout, is closed.
//! Every refusal is logged naming the peer and the rule (rate-limited per rule, so a flood cannot flood the log).
//!
//! The established connection ([`Conn`]) carries a [`PeerConn`] as tonic connect info: the handlers'
//! [`crate::tls::request_identity`] reads the verified certificate from it, and a server layer marks requests
//! in flight through [`PeerConn::activity`] so the idle watchdog knows the connection is in use.

use crate::identity::{parse_identity, PeerIdentity};
use rustls_pki_types::CertificateDer;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

/// Bounds of one listener. [`Limits::default`] is what a node uses; [`Limits::for_fd_limit`] fits the total
/// under a process's descriptor limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A TLS handshake not finished within this is dropped.
    pub handshake_timeout: Duration,
    /// A connection that has started no request this long after its handshake is closed (a peer that never
    /// sends the HTTP/2 preface, or sends it and nothing else).
    pub first_request_timeout: Duration,
    /// A connection with no request in flight for this long is closed (a client reconnects when it needs to).
    pub idle_timeout: Duration,
    /// Connections open at once, handshaking or established.
    pub max_connections: usize,
    /// Connections open at once from one source IP address.
    pub max_per_ip: usize,
    /// Established connections open at once with one client certificate.
    pub max_per_certificate: usize,
    /// TLS handshakes in progress at once; a connection beyond it is closed at once.
    pub max_handshakes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake_timeout: Duration::from_secs(10),
            first_request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            max_connections: 2048,
            max_per_ip: 512,
            max_per_certificate: 32,
            max_handshakes: 1024,
        }
    }
}

impl Limits {
    /// The defaults, with the total cut so that connections use at most 60 % of `fd_limit` descriptors (the
    /// rest stay for the store, the log and outbound links).
    pub fn for_fd_limit(fd_limit: u64) -> Limits {
        let d = Limits::default();
        let fit = usize::try_from(fd_limit.saturating_mul(6) / 10).unwrap_or(usize::MAX).max(16);
        let max_connections = d.max_connections.min(fit);
        Limits {
            max_connections,
            max_per_ip: d.max_per_ip.min(max_connections),
            max_handshakes: d.max_handshakes.min(max_connections),
            ..d
        }
    }
}

/// Requests in flight on one connection and when the last one ended, for the idle watchdog.
#[derive(Debug)]
pub struct Activity {
    in_flight: AtomicUsize,
    started_any: AtomicBool,
    last_end: Mutex<Instant>,
}

impl Activity {
    fn new() -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            started_any: AtomicBool::new(false),
            last_end: Mutex::new(Instant::now()),
        }
    }

    /// Marks a request in flight until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> ActivityGuard {
        self.started_any.store(true, Ordering::SeqCst);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        ActivityGuard(self.clone())
    }

    fn last_end(&self) -> Instant {
        *self.last_end.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the watchdog should look again, or `Err(rule)` if the connection is to be closed now.
    fn next_deadline(&self, opened: Instant, limits: &Limits, now: Instant) -> Result<Instant, &'static str> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return Ok(now + limits.idle_timeout);
        }
        if !self.started_any.load(Ordering::SeqCst) {
            let due = opened + limits.first_request_timeout;
            return if now >= due { Err("first_request_timeout (no request after the handshake)") } else { Ok(due) };
        }
        let due = self.last_end() + limits.idle_timeout;
        if now >= due {
            Err("idle_timeout (no request in flight)")
        } else {
            Ok(due)
        }
    }
}

/// See [`Activity::begin`].
#[derive(Debug)]
pub struct ActivityGuard(Arc<Activity>);

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        *self.0.last_end.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the server knows of an established connection: tonic's connect info for [`Conn`], so it is in every
/// request's extensions.
#[derive(Clone, Debug)]
pub struct PeerConn {
    pub remote: SocketAddr,
    /// The client's chain as the TLS layer verified it, leaf first.
    pub certs: Arc<Vec<CertificateDer<'static>>>,
    /// The Gongxin identity of the leaf, if it has one.
    pub identity: Option<PeerIdentity>,
    pub activity: Arc<Activity>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
    per_cert: HashMap<String, usize>,
}

/// The listener's shared state: connection counts and the refusal log's rate limiter.
struct Shared {
    limits: Limits,
    counts: Mutex<Counts>,
    log: Mutex<HashMap<&'static str, Window>>,
}

/// Refusal lines logged per rule and second before they are only counted.
pub const LOG_BURST: u32 = 20;

struct Window {
    start: std::time::Instant,
    logged: u32,
    suppressed: u64,
}

impl Shared {
    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Logs a refusal of `peer` under `rule`: up to [`LOG_BURST`] lines per rule and second, then only a
    /// count, carried by the next line logged for that rule (so a flood cannot flood the log).
    fn refused(&self, peer: &SocketAddr, rule: &'static str, detail: &str) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        let e = log.entry(rule).or_insert(Window { start: now, logged: 0, suppressed: 0 });
        if now.duration_since(e.start) >= Duration::from_secs(1) {
            e.start = now;
            e.logged = 0;
        }
        if e.logged >= LOG_BURST {
            e.suppressed += 1;
            return;
        }
        e.logged += 1;
        let suppressed = std::mem::take(&mut e.suppressed);
        drop(log);
        tracing::warn!(%peer, rule, suppressed, "connection refused / 拒绝连接: {detail}");
    }

    /// Admits a new TCP connection from `ip`, or names the rule it breaks.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, &'static str> {
        let mut c = self.counts();
        if c.total >= self.limits.max_connections {
            return Err("max_connections");
        }
        let n = c.per_ip.entry(ip).or_insert(0);
        if *n >= self.limits.max_per_ip {
            return Err("max_per_ip");
        }
        *n += 1;
        c.total += 1;
        Ok(Slot { shared: self.clone(), ip, cert: None })
    }
}

/// One admitted connection's place in the counts, given back on drop.
struct Slot {
    shared: Arc<Shared>,
    ip: IpAddr,
    cert: Option<String>,
}

impl Slot {
    fn claim_certificate(&mut self, fingerprint: &str) -> Result<(), &'static str> {
        let mut c = self.shared.counts();
        let n = c.per_cert.entry(fingerprint.to_string()).or_insert(0);
        if *n >= self.shared.limits.max_per_certificate {
            return Err("max_per_certificate");
        }
        *n += 1;
        drop(c);
        self.cert = Some(fingerprint.to_string());
        Ok(())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.shared.counts();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_ip.remove(&self.ip);
            }
        }
        if let Some(f) = self.cert.take() {
            if let Some(n) = c.per_cert.get_mut(&f) {
                *n -= 1;
                if *n == 0 {
                    c.per_cert.remove(&f);
                }
            }
        }
    }
}

/// An established, admitted mTLS connection. Reading fails with `TimedOut` when the watchdog closes it.
pub struct Conn {
    inner: tokio_rustls::server::TlsStream<TcpStream>,
    info: PeerConn,
    opened: Instant,
    watchdog: Pin<Box<Sleep>>,
    closed: bool,
    shared: Arc<Shared>,
    _slot: Slot,
}

impl Conn {
    pub fn peer(&self) -> &PeerConn {
        &self.info
    }

    /// Polls the watchdog; `Err` once the connection is to be closed.
    fn poll_watchdog(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            if self.watchdog.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            match self.info.activity.next_deadline(self.opened, &self.shared.limits, Instant::now()) {
                Ok(next) => self.watchdog.as_mut().reset(next),
                Err(rule) => {
                    self.closed = true;
                    let who = self.info.identity.as_ref().map(|i| format!("{} {}", i.role, i.code)).unwrap_or_default();
                    self.shared.refused(&self.info.remote, rule, &format!("closed idle connection of {who}"));
                    return Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, rule));
                }
            }
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.closed {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "closed by the idle watchdog")));
        }
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => match self.poll_watchdog(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = PeerConn;
    fn connect_info(&self) -> PeerConn {
        self.info.clone()
    }
}

/// Doubling delay for accept errors: 10 ms up to 1 s, reset by a successful accept.
struct AcceptBackoff(Duration);

impl AcceptBackoff {
    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(1));
        d
    }
    fn reset(&mut self) {
        self.0 = Duration::from_millis(10);
    }
}

/// Accepts TCP connections on `listener` under `limits` and completes each TLS handshake in its own task,
/// yielding only established, admitted connections (for `tonic::transport::Server::serve_with_incoming`).
/// `describe` turns a handshake error into words for the log. Must be called inside a Tokio runtime; the
/// accept loop ends when the returned stream is dropped and the next connection arrives.
pub fn serve(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    limits: Limits,
    describe: fn(&io::Error) -> String,
) -> impl tokio_stream::Stream<Item = io::Result<Conn>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let pending = Arc::new(tokio::sync::Semaphore::new(limits.max_handshakes.max(1)));
    let shared = Arc::new(Shared { limits, counts: Mutex::new(Counts::default()), log: Mutex::new(HashMap::new()) });
    tokio::spawn(async move {
        let mut backoff = AcceptBackoff(Duration::from_millis(10));
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(c) => {
                    backoff.reset();
                    c
                }
                Err(e) => {
                    // Out of file descriptors (EMFILE/ENFILE) and the like: back off instead of spinning.
                    let delay = backoff.next();
                    let any: SocketAddr = ([0, 0, 0, 0], 0).into();
                    shared.refused(&any, "accept_error", &format!("accept failed: {e}; retrying in {delay:?}"));
                    tokio::time::sleep(delay).await;
                    continue;
                }
            };
            if tx.is_closed() {
                return;
            }
            let mut slot = match shared.admit(peer.ip()) {
                Ok(s) => s,
                Err(rule) => {
                    drop(tcp);
                    shared.refused(&peer, rule, "too many connections / 连接数超过上限");
                    continue;
                }
            };
            // Bound the handshakes in flight: beyond the bound a connection is closed at once (shed), so a
            // flood of silent connections neither grows tasks nor keeps the backlog full.
            let Ok(permit) = pending.clone().try_acquire_owned() else {
                drop(tcp);
                drop(slot);
                shared.refused(&peer, "max_handshakes", "too many TLS handshakes in progress / 握手过多");
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, tx, shared) = (acceptor.clone(), tx.clone(), shared.clone());
            tokio::spawn(async move {
                let done = tokio::time::timeout(shared.limits.handshake_timeout, acceptor.accept(tcp)).await;
                drop(permit);
                let tls = match done {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        return shared.refused(
                            &peer,
                            "tls_handshake",
                            &format!("TLS handshake refused: {}", describe(&e)),
                        )
                    }
                    Err(_) => {
                        let t = shared.limits.handshake_timeout;
                        return shared.refused(&peer, "handshake_timeout", &format!("TLS handshake not done in {t:?}"));
                    }
                };
                let certs: Vec<CertificateDer<'static>> =
                    tls.get_ref().1.peer_certificates().map(|c| c.to_vec()).unwrap_or_default();
                let identity = certs.first().and_then(|c| parse_identity(c).ok());
                if let Some(id) = &identity {
                    if let Err(rule) = slot.claim_certificate(&id.fingerprint) {
                        let m = format!("too many connections with the certificate of {} {}", id.role, id.code);
                        return shared.refused(&peer, rule, &m);
                    }
                }
                let info =
                    PeerConn { remote: peer, certs: Arc::new(certs), identity, activity: Arc::new(Activity::new()) };
                let opened = Instant::now();
                let watchdog = Box::pin(tokio::time::sleep_until(opened + shared.limits.first_request_timeout));
                let conn =
                    Conn { inner: tls, info, opened, watchdog, closed: false, shared: shared.clone(), _slot: slot };
                let _ = tx.send(Ok(conn)).await;
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_fits_under_the_descriptor_limit() {
        assert_eq!(Limits::for_fd_limit(1024).max_connections, 614);
        assert_eq!(Limits::for_fd_limit(1 << 20).max_connections, Limits::default().max_connections);
        assert!(Limits::for_fd_limit(0).max_connections >= 16);
    }

    #[test]
    fn the_watchdog_closes_silent_and_idle_connections_only() {
        let l = Limits::default();
        let a = Arc::new(Activity::new());
        let opened = Instant::now();
        assert!(a.next_deadline(opened, &l, opened).is_ok());
        assert!(a.next_deadline(opened, &l, opened + l.first_request_timeout).is_err(), "no request at all");
        let g = a.begin();
        let later = opened + l.idle_timeout * 3;
        assert!(a.next_deadline(opened, &l, later).is_ok(), "a request in flight keeps it open");
        drop(g);
        let ended = Instant::now();
        assert!(a.next_deadline(opened, &l, ended + l.idle_timeout / 2).is_ok());
        assert!(a.next_deadline(opened, &l, ended + l.idle_timeout).is_err(), "idle since the last request");
    }
}
