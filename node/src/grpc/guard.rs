//! Who is calling, and how much they may send, settled before a request body is decoded (issue 9 items 3–5).
//!
//! - [`RegistryCheck`]: the TLS layer of the federation listener refuses node certificates that are not the
//!   registered certificate of an active node; other roles (operator, auditor, business systems) pass on to the
//!   per-service checks.
//! - [`ParentCheck`]: the uplink refuses a parent whose certificate is not the registry's for that code.
//! - [`sync_interceptor`]: the sync service authorises the sender (registered, active, registered certificate)
//!   from the connection's certificate before tonic decodes the body, and hands the code to the handlers.
//! - [`GuardLayer`]: per-RPC request size limits, a bound on uploads in flight and on request bytes in flight
//!   per peer certificate and in total, refused with `RESOURCE_EXHAUSTED` naming the rule; it also marks
//!   requests in flight for the listener's idle watchdog.

use crate::app::Federation;
use bytes::{Buf, Bytes};
use gongxin_certs::listen::{ActivityGuard, PeerConn};
use gongxin_certs::tls::PeerCheck;
use gongxin_certs::{PeerIdentity, Role};
use gongxin_core::sync::{SyncError, MAX_BATCH_ENTRIES};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tonic::body::Body;
use tonic::{Request, Status};

/// The sync service's path prefix and its upload RPC.
const SYNC: &str = "/gongxin.sync.v1.Sync/";
const UPLOAD: &str = "/gongxin.sync.v1.Sync/Upload";
const PULL_LISTS: &str = "/gongxin.sync.v1.Sync/PullLists";
const AUDIT: &str = "/gongxin.audit.v1.Audit/";

/// Largest upload request (gRPC frame included): a full batch of [`MAX_BATCH_ENTRIES`] entries with payloads.
pub const MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;
/// Largest request of every other sync and audit RPC (an origin, a start, a count).
pub const MAX_SMALL_REQUEST_BYTES: usize = 4 * 1024;
/// Largest list-feed request: one cursor per registered origin (`grpc::convert::feed::MAX_CURSORS`).
pub const MAX_FEED_REQUEST_BYTES: usize = 256 * 1024;
/// Largest request of any other service on the listener (the remote admin API; it has its own decode limit).
pub const MAX_OTHER_REQUEST_BYTES: usize = 32 * 1024 * 1024;

/// The request size limit of the RPC at `path`, and the rule's name.
pub fn request_limit(path: &str) -> (usize, &'static str) {
    if path == UPLOAD {
        (MAX_UPLOAD_BYTES, "max_upload_bytes")
    } else if path == PULL_LISTS {
        (MAX_FEED_REQUEST_BYTES, "max_feed_request_bytes")
    } else if path.starts_with(SYNC) || path.starts_with(AUDIT) {
        (MAX_SMALL_REQUEST_BYTES, "max_small_request_bytes")
    } else {
        (MAX_OTHER_REQUEST_BYTES, "max_request_bytes")
    }
}

/// Bounds on what is in flight at once. A child pipelines at most `peers::UPLOAD_WINDOW` (2) uploads, and a
/// finished upload's slot is given back a moment after its reply leaves, so three per certificate is the slack.
#[derive(Clone, Debug)]
pub struct Budget {
    pub uploads_per_peer: usize,
    pub uploads_total: usize,
    pub bytes_per_peer: usize,
    pub bytes_total: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            uploads_per_peer: 3,
            uploads_total: 8,
            bytes_per_peer: MAX_UPLOAD_BYTES + (16 << 20),
            bytes_total: 3 * MAX_UPLOAD_BYTES,
        }
    }
}

#[derive(Default)]
struct Use {
    uploads: usize,
    bytes: usize,
}

#[derive(Default)]
struct InFlight {
    total: Use,
    peers: HashMap<String, Use>,
}

/// The tower layer of the federation listener (see the module doc).
#[derive(Clone)]
pub struct GuardLayer {
    budget: Budget,
    state: Arc<Mutex<InFlight>>,
    metrics: Arc<crate::http::metrics::Metrics>,
}

impl GuardLayer {
    pub fn new(budget: Budget) -> Self {
        GuardLayer { budget, state: Arc::new(Mutex::new(InFlight::default())), metrics: Arc::default() }
    }

    /// The same layer counting its refusals into the node's metrics.
    pub fn with_metrics(mut self, metrics: Arc<crate::http::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = Guard<S>;
    fn layer(&self, inner: S) -> Guard<S> {
        Guard { inner, layer: self.clone() }
    }
}

#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    layer: GuardLayer,
}

/// One request's share of the budget, given back when both its body and its response are done.
struct Ticket {
    layer: GuardLayer,
    peer: String,
    /// An upload slot is held (taken at the first body frame of an upload).
    upload: AtomicBool,
    bytes: Mutex<usize>,
}

impl Ticket {
    fn state(&self) -> std::sync::MutexGuard<'_, InFlight> {
        self.layer.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes an upload slot, or names the rule that refuses it.
    fn start_upload(&self) -> Result<(), String> {
        let b = &self.layer.budget;
        let mut st = self.state();
        let mine = st.peers.get(&self.peer).map_or(0, |u| u.uploads);
        if mine >= b.uploads_per_peer {
            return Err(format!(
                "同一证书同时上传过多 uploads_per_peer: at most {} uploads in flight per peer certificate",
                b.uploads_per_peer
            ));
        }
        if st.total.uploads >= b.uploads_total {
            return Err(format!("同时上传过多 uploads_total: at most {} uploads in flight in total", b.uploads_total));
        }
        st.total.uploads += 1;
        st.peers.entry(self.peer.clone()).or_default().uploads += 1;
        self.upload.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Counts `n` more request bytes in flight, or names the rule that refuses them.
    fn add_bytes(&self, n: usize) -> Result<(), String> {
        let b = &self.layer.budget;
        let mut st = self.state();
        let mine = st.peers.get(&self.peer).map_or(0, |u| u.bytes);
        if mine.saturating_add(n) > b.bytes_per_peer {
            return Err(format!(
                "同一证书在途请求数据过多 bytes_per_peer: at most {} request bytes in flight per peer certificate",
                b.bytes_per_peer
            ));
        }
        if st.total.bytes.saturating_add(n) > b.bytes_total {
            return Err(format!(
                "在途请求数据过多 bytes_total: at most {} request bytes in flight in total",
                b.bytes_total
            ));
        }
        st.total.bytes += n;
        st.peers.entry(self.peer.clone()).or_default().bytes += n;
        drop(st);
        *self.bytes.lock().unwrap_or_else(|p| p.into_inner()) += n;
        Ok(())
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let bytes = *self.bytes.lock().unwrap_or_else(|p| p.into_inner());
        let upload = usize::from(self.upload.load(Ordering::SeqCst));
        let mut st = self.state();
        st.total.bytes = st.total.bytes.saturating_sub(bytes);
        st.total.uploads = st.total.uploads.saturating_sub(upload);
        if let Some(u) = st.peers.get_mut(&self.peer) {
            u.bytes = u.bytes.saturating_sub(bytes);
            u.uploads = u.uploads.saturating_sub(upload);
            if u.bytes == 0 && u.uploads == 0 {
                st.peers.remove(&self.peer);
            }
        }
    }
}

fn exhausted(ticket: &Ticket, rpc: &str, rule: String) -> Status {
    ticket.layer.metrics.sync_refused("resource_limit");
    tracing::warn!(peer = %ticket.peer, rpc, rule = %rule, "refused: resource limit / 超出资源限制");
    Status::resource_exhausted(rule)
}

impl<S> tower::Service<http::Request<Body>> for Guard<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let path = req.uri().path().to_string();
        let conn = req.extensions().get::<PeerConn>();
        let peer = match conn {
            Some(c) => match &c.identity {
                Some(id) => format!("{} {} ({})", id.role, id.code, &id.fingerprint[..id.fingerprint.len().min(16)]),
                None => c.remote.to_string(),
            },
            None => "local".to_string(),
        };
        // In flight (for the idle watchdog) until the response body has been sent, streams included.
        let activity = conn.map(|c| c.activity.begin());
        let upload = path == UPLOAD;
        // Budgets are taken as the body is read, which tonic does only after the service's interceptor has
        // authorised the caller: a refused caller takes no upload slot and no bytes.
        let ticket =
            Arc::new(Ticket { layer: self.layer.clone(), peer, upload: AtomicBool::new(false), bytes: Mutex::new(0) });
        let (limit, rule) = request_limit(&path);
        let (parts, body) = req.into_parts();
        let limited = Limited {
            inner: body,
            read: 0,
            limit,
            rule,
            rpc: path,
            ticket: ticket.clone(),
            scan: BodyScan::new(upload),
        };
        let fut = self.inner.call(http::Request::from_parts(parts, Body::new(limited)));
        Box::pin(async move {
            let res = fut.await;
            drop(ticket);
            res.map(|r| match activity {
                Some(a) => r.map(|inner| Body::new(Sending { inner, _activity: a })),
                None => r,
            })
        })
    }
}

/// A response body that keeps its connection marked in use until it is sent.
struct Sending {
    inner: Body,
    _activity: ActivityGuard,
}

impl http_body::Body for Sending {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that stops with `RESOURCE_EXHAUSTED` once it passes its RPC's limit or the in-flight budget,
/// and (uploads) once it carries more entries than a batch may have, before tonic has decoded any of it.
struct Limited {
    inner: Body,
    read: usize,
    limit: usize,
    rule: &'static str,
    rpc: String,
    ticket: Arc<Ticket>,
    scan: BodyScan,
}

impl http_body::Body for Limited {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => f,
            other => return other,
        };
        let Some(data) = frame.data_ref() else { return Poll::Ready(Some(Ok(frame))) };
        if self.scan.count_entries && !self.ticket.upload.load(Ordering::SeqCst) {
            if let Err(rule) = self.ticket.start_upload() {
                return Poll::Ready(Some(Err(exhausted(&self.ticket, &self.rpc, rule))));
            }
        }
        let n = data.remaining();
        let data = data.clone(); // a reference count, not a copy
        let entries = self.scan.feed(data.chunk());
        self.read = self.read.saturating_add(n);
        let declared = self.scan.declared.map_or(0, |d| d.saturating_add(5));
        if self.read as u64 > self.limit as u64 || declared > self.limit as u64 {
            let rule = format!("请求过大 {}: {} takes at most {} bytes per request", self.rule, self.rpc, self.limit);
            return Poll::Ready(Some(Err(exhausted(&self.ticket, &self.rpc, rule))));
        }
        if entries > MAX_BATCH_ENTRIES {
            let rule = format!("条目过多 max_batch_entries: an upload carries at most {MAX_BATCH_ENTRIES} entries");
            return Poll::Ready(Some(Err(exhausted(&self.ticket, &self.rpc, rule))));
        }
        if let Err(rule) = self.ticket.add_bytes(n) {
            return Poll::Ready(Some(Err(exhausted(&self.ticket, &self.rpc, rule))));
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Reads a request body as it streams in, without decoding it: the 5-byte gRPC message prefix (so a message
/// declared larger than its RPC's limit is refused before any of it is buffered) and, for uploads, the
/// top-level protobuf fields, counting `entries` (field 3): an empty entry is 2 bytes on the wire but about a
/// hundred once decoded, so the count is bounded before tonic decodes. Stops on anything it does not
/// understand (compressed messages, groups) and leaves the verdict to the decoder.
#[derive(Default)]
struct BodyScan {
    count_entries: bool,
    state: Scan,
    compressed: bool,
    declared: Option<u64>,
    varint: u64,
    shift: u32,
    field: u64,
    entries: usize,
}

#[derive(Default, Clone, Copy)]
enum Scan {
    #[default]
    Prefix,
    Length(u8),
    Tag,
    SkipVarint,
    Len,
    Skip(u64),
    Stop,
}

impl BodyScan {
    fn new(count_entries: bool) -> Self {
        BodyScan { count_entries, ..Default::default() }
    }

    /// Feeds more bytes; returns the entries counted so far.
    fn feed(&mut self, mut bytes: &[u8]) -> usize {
        while let Some((&b, rest)) = bytes.split_first() {
            match self.state {
                Scan::Stop => break,
                Scan::Prefix => {
                    self.compressed = b != 0;
                    self.state = Scan::Length(4);
                    bytes = rest;
                }
                Scan::Length(n) => {
                    self.varint = (self.varint << 8) | u64::from(b);
                    bytes = rest;
                    if n > 1 {
                        self.state = Scan::Length(n - 1);
                        continue;
                    }
                    self.declared = Some(std::mem::take(&mut self.varint));
                    // Only uncompressed upload messages are counted (tonic refuses compressed ones here).
                    self.state = if self.count_entries && !self.compressed { Scan::Tag } else { Scan::Stop };
                }
                Scan::Skip(n) => {
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(bytes.len());
                    bytes = &bytes[take..];
                    let left = n - take as u64;
                    self.state = if left == 0 { Scan::Tag } else { Scan::Skip(left) };
                }
                Scan::Tag | Scan::Len | Scan::SkipVarint => {
                    bytes = rest;
                    if self.shift >= 64 {
                        self.state = Scan::Stop;
                        continue;
                    }
                    self.varint |= u64::from(b & 0x7f) << self.shift;
                    self.shift += 7;
                    if b & 0x80 != 0 {
                        continue;
                    }
                    let v = std::mem::take(&mut self.varint);
                    self.shift = 0;
                    self.state = match self.state {
                        Scan::Tag => {
                            self.field = v >> 3;
                            match v & 7 {
                                0 => Scan::SkipVarint,
                                1 => Scan::Skip(8),
                                2 => Scan::Len,
                                5 => Scan::Skip(4),
                                _ => Scan::Stop,
                            }
                        }
                        Scan::Len => {
                            if self.field == 3 {
                                self.entries += 1;
                            }
                            if v == 0 {
                                Scan::Tag
                            } else {
                                Scan::Skip(v)
                            }
                        }
                        _ => Scan::Tag,
                    };
                }
            }
        }
        self.entries
    }
}

/// The TLS-layer check of the federation listener: a node certificate must be the registered certificate of
/// an active node; other roles pass on to the per-service checks (admin: operator of this node, audit: the
/// province auditor, sync: nodes only).
pub struct RegistryCheck {
    pub fed: Arc<Federation>,
}

impl std::fmt::Debug for RegistryCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryCheck").field("node", &self.fed.me()).finish()
    }
}

impl PeerCheck for RegistryCheck {
    fn check(&self, peer: &PeerIdentity) -> Result<(), String> {
        if peer.role != Role::Node {
            return Ok(());
        }
        self.fed.authorize_node(peer.code.as_str(), true, &peer.fingerprint).map(|_| ()).map_err(|e| {
            format!("节点证书未登记 node certificate of {} refused at the TLS layer (registry): {e}", peer.code)
        })
    }
}

/// The one operator rule (`core::sync::operator_may`) for a certificate the TLS layer verified: an operator
/// certificate of this node, registered and not revoked, and a registry operator for `registry_change`. Used by
/// the remote admin API (interceptor and registry RPCs) and by [`OperatorCheck`].
pub fn authorize_operator(fed: &Federation, id: &PeerIdentity, registry_change: bool) -> Result<(), SyncError> {
    let cert = gongxin_core::sync::OperatorCert {
        role: id.role.to_string(),
        is_operator: id.role == Role::Operator,
        code: id.code.as_str(),
        fingerprint: &id.fingerprint,
    };
    fed.authorize_operator(&cert, registry_change)
}

/// The TLS-layer check of the operator HTTPS listener: [`authorize_operator`] in the handshake, so no other
/// certificate reaches a page.
pub struct OperatorCheck {
    pub fed: Arc<Federation>,
}

impl std::fmt::Debug for OperatorCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorCheck").field("node", &self.fed.me()).finish()
    }
}

impl PeerCheck for OperatorCheck {
    fn check(&self, peer: &PeerIdentity) -> Result<(), String> {
        authorize_operator(&self.fed, peer, false).map_err(|e| e.to_string())
    }
}

/// The uplink's check of its parent: a node certificate for the parent's code that is the one the registry
/// holds for it. Before the registry names the parent (first start), the CA and the name decide, the
/// certificate is remembered, and the uplink uploads nothing until the registry confirms it
/// ([`ParentCheck::confirmed`]).
pub struct ParentCheck {
    pub fed: Arc<Federation>,
    pub parent: String,
    seen: Mutex<Option<String>>,
}

impl std::fmt::Debug for ParentCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParentCheck").field("parent", &self.parent).finish()
    }
}

impl ParentCheck {
    pub fn new(fed: Arc<Federation>, parent: String) -> Self {
        ParentCheck { fed, parent, seen: Mutex::new(None) }
    }

    /// The registry holds the parent's certificate of the current connection (checked after down-sync,
    /// before anything is uploaded).
    pub fn confirmed(&self) -> Result<(), String> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let fp = seen.ok_or_else(|| "no parent certificate seen yet".to_string())?;
        self.fed
            .authorize_node(&self.parent, true, &fp)
            .map(|_| ())
            .map_err(|e| format!("上级节点证书与名册不符 the parent's certificate is not the registry's: {e}"))
    }
}

impl PeerCheck for ParentCheck {
    fn check(&self, peer: &PeerIdentity) -> Result<(), String> {
        if peer.role != Role::Node || peer.code.as_str() != self.parent {
            return Err(format!(
                "上级节点证书不符 expected the node certificate of parent {}, got a {} certificate of {}",
                self.parent, peer.role, peer.code
            ));
        }
        if self.fed.registry().node(&self.parent).is_some() {
            self.fed
                .authorize_node(&self.parent, true, &peer.fingerprint)
                .map_err(|e| format!("上级节点证书与名册不符 parent {} refused (registry): {e}", self.parent))?;
        }
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(peer.fingerprint.clone());
        Ok(())
    }
}

/// The registered node a sync request comes from, put in the request's extensions by [`sync_interceptor`].
#[derive(Clone, Debug)]
pub struct AuthorizedNode(pub String);

/// Authorises a sync request before its body is decoded (a tonic interceptor runs before the codec): the
/// client certificate must be the registered certificate of an active node. A refusal changes no link state
/// (a hostile caller cannot make a registered peer look up or down).
#[derive(Clone)]
pub struct SyncAuth {
    pub fed: Arc<Federation>,
}

impl tonic::service::Interceptor for SyncAuth {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let id = gongxin_certs::tls::request_identity(&req).map_err(|e| {
            self.fed.ledger().metrics().sync_refused("unauthenticated");
            tracing::warn!(error = %e, "refused: no usable client certificate");
            Status::unauthenticated(format!("client certificate required: {e}"))
        })?;
        let code = id.code.as_str().to_string();
        self.fed.authorize_node(&code, id.role == Role::Node, &id.fingerprint).map_err(|e| {
            self.fed.ledger().metrics().sync_refused("not_registered");
            tracing::warn!(peer = %code, role = %id.role, error = %e, "refused: sync API / 拒绝同步请求");
            Status::permission_denied(e.to_string())
        })?;
        req.extensions_mut().insert(AuthorizedNode(code));
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gongxin_proto::common::v1 as cpb;
    use gongxin_proto::sync::v1 as pb;
    use prost::Message;

    fn framed(m: &pb::UploadRequest) -> Vec<u8> {
        let body = m.encode_to_vec();
        let mut out = vec![0u8];
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn entries_are_counted_in_any_split_without_decoding() {
        let e = |i: u64| cpb::Entry { index: i, leaf: vec![7; 300], signature: vec![1; 71], ..Default::default() };
        let m = pb::UploadRequest {
            origin: "430102".into(),
            start: 5,
            entries: (0..37).map(e).chain((0..20).map(|_| cpb::Entry::default())).collect(),
            checkpoint: Some(cpb::SignedNote { note: vec![3; 200], signature: vec![4; 70] }),
        };
        let bytes = framed(&m);
        for step in [1, 2, 3, 7, 64, 1000, bytes.len()] {
            let mut c = BodyScan::new(true);
            let mut n = 0;
            for chunk in bytes.chunks(step) {
                n = c.feed(chunk);
            }
            assert_eq!(n, 57, "chunks of {step}");
            assert_eq!(c.declared, Some(bytes.len() as u64 - 5));
        }
    }

    fn ticket(layer: &GuardLayer, peer: &str) -> Ticket {
        Ticket { layer: layer.clone(), peer: peer.into(), upload: AtomicBool::new(false), bytes: Mutex::new(0) }
    }

    #[test]
    fn uploads_and_bytes_in_flight_are_bounded_per_peer_and_in_total_and_given_back() {
        let layer =
            GuardLayer::new(Budget { uploads_per_peer: 1, uploads_total: 2, bytes_per_peer: 100, bytes_total: 150 });
        let (a1, a2, b, c) = (ticket(&layer, "a"), ticket(&layer, "a"), ticket(&layer, "b"), ticket(&layer, "c"));
        a1.start_upload().unwrap();
        assert!(a2.start_upload().unwrap_err().contains("uploads_per_peer"));
        b.start_upload().unwrap();
        assert!(c.start_upload().unwrap_err().contains("uploads_total"));
        a1.add_bytes(90).unwrap();
        assert!(a2.add_bytes(20).unwrap_err().contains("bytes_per_peer"));
        b.add_bytes(50).unwrap();
        assert!(c.add_bytes(20).unwrap_err().contains("bytes_total"));
        drop(a1);
        c.start_upload().unwrap();
        c.add_bytes(20).unwrap();
        drop((a2, b, c));
        let st = layer.state.lock().unwrap();
        assert_eq!((st.total.uploads, st.total.bytes, st.peers.len()), (0, 0, 0), "everything given back");
    }

    #[test]
    fn request_limits_are_per_rpc() {
        assert_eq!(request_limit(UPLOAD).0, MAX_UPLOAD_BYTES);
        assert_eq!(request_limit("/gongxin.sync.v1.Sync/Cursor").0, MAX_SMALL_REQUEST_BYTES);
        assert_eq!(request_limit("/gongxin.audit.v1.Audit/InclusionProof").0, MAX_SMALL_REQUEST_BYTES);
        assert_eq!(request_limit("/gongxin.admin.v1.Admin/Status").0, MAX_OTHER_REQUEST_BYTES);
    }
}
