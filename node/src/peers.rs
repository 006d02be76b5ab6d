//! Outbound link of a child to its parent (DESIGN §5): up-sync of its own log and the mirrors it relays, then
//! down-sync of the logs the parent offers. Reconnects with backoff; keeps working (import, query) while down.

use crate::app::ledger::SigningHold;
use crate::app::mirror::{Cosignature, WireEntry};
use crate::app::Federation;
use crate::grpc::guard::ParentCheck;
use crate::grpc::sync::{entries_from_pb, entry_to_pb, MAX_MESSAGE_BYTES};
use anyhow::{anyhow, Context, Result};
use gongxin_certs::tls::{CaCert, TlsIdentity};
use gongxin_certs::NodeCode;
use gongxin_core::backoff::Backoff;
use gongxin_core::checkpoint::SignedCheckpoint;
use gongxin_core::sync;
use gongxin_proto::sync::v1 as pb;
use gongxin_proto::sync::v1::sync_client::SyncClient;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Channel;

/// Entries per upload/pull batch the child asks for.
pub const BATCH_ENTRIES: u64 = 2_000;
/// Upload batches a child keeps in flight to its parent at once (the parent's listener allows two uploads per
/// peer certificate, `grpc::guard::Budget`).
pub const UPLOAD_WINDOW: usize = 2;
/// Request bytes a child keeps in flight beyond the first upload: a second upload is sent before the first is
/// answered only while both fit, so the parent's per-peer byte budget (one largest upload + 16 MiB) always holds.
pub const PIPELINED_BYTES: usize = 16 << 20;
/// Bound on one RPC (unary calls: this also bounds a stalled stream).
pub const RPC_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Uplink {
    pub fed: Arc<Federation>,
    pub parent_code: String,
    pub parent_addr: String,
    pub tls: TlsIdentity,
    pub ca: CaCert,
    pub interval: Duration,
    /// The parent's certificate is checked against the registry at every handshake (and, before the
    /// registry names the parent, after the first down-sync and before any upload).
    parent_check: Arc<ParentCheck>,
}

/// The innermost cause of a failed connect: the connector's TLS message (a `tls_profile` mismatch is named
/// there by `describe_tls_error`) rather than tonic's "transport error".
fn connect_error(e: &tonic::transport::Error) -> String {
    let mut msg = e.to_string();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        msg = c.to_string();
        cause = c.source();
    }
    msg
}

fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

impl Uplink {
    pub fn new(
        fed: Arc<Federation>,
        parent_code: String,
        parent_addr: String,
        tls: TlsIdentity,
        ca: CaCert,
        interval: Duration,
    ) -> Self {
        let parent_check = Arc::new(ParentCheck::new(fed.clone(), parent_code.clone()));
        Uplink { fed, parent_code, parent_addr, tls, ca, interval, parent_check }
    }

    fn set_state(&self, state: &str, error: Option<String>) {
        self.fed.note_uplink(state, error);
    }

    async fn connect(&self) -> Result<SyncClient<Channel>> {
        let code = NodeCode::parse(&self.parent_code)?;
        // Both TLS profiles take this one path: rustls with the provider of the federation CA's algorithm,
        // terminated in gongxin-certs (tonic's own TLS cannot carry the sm2 profile).
        let config = gongxin_certs::tls::rustls_client_config_checked(&self.tls, &self.ca, self.parent_check.clone())?;
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", self.parent_addr))
            .with_context(|| format!("parent address {:?}", self.parent_addr))?
            .connect_timeout(Duration::from_secs(10))
            .timeout(RPC_TIMEOUT)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true);
        let channel = endpoint
            .connect_with_connector(gongxin_certs::tls::connector(config, &code)?)
            .await
            .map_err(|e| anyhow!("{}", connect_error(&e)))
            .with_context(|| format!("connect to parent {} at {}", self.parent_code, self.parent_addr))?;
        Ok(SyncClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }

    /// Runs forever: sync rounds every `interval`, reconnecting with backoff after any failure.
    pub async fn run(self) {
        let mut backoff = Backoff::new();
        let mut sent_heartbeats: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        loop {
            // Runs rounds until one fails; only the error comes back.
            let res: Result<std::convert::Infallible> = async {
                let mut client = self.connect().await?;
                loop {
                    self.round(&mut client, &mut sent_heartbeats).await?;
                    self.set_state("ok", None);
                    backoff.reset();
                    tokio::time::sleep(self.interval).await;
                }
            }
            .await;
            let Err(e) = res;
            let delay = backoff.next_delay(random_unit());
            tracing::warn!(parent = %self.parent_code, error = %format!("{e:#}"), retry_in = ?delay, "uplink failed");
            self.set_state("backoff", Some(format!("{e:#}")));
            sent_heartbeats.clear();
            tokio::time::sleep(delay).await;
        }
    }

    /// One round: pull what the parent offers (registry first), then upload what the parent lacks.
    pub async fn round(&self, client: &mut SyncClient<Channel>, sent: &mut BTreeMap<String, Vec<u8>>) -> Result<()> {
        let fed = self.fed.clone();
        let me = fed.me().to_string();
        // Down-sync first: the province log brings the registry (and the parent's key, which the receipts
        // of the up-sync are checked against).
        let offer = client.offer(pb::OfferRequest {}).await?.into_inner();
        for log in offer.logs {
            loop {
                let mine = self.held_size(&log.origin).await?;
                if mine >= log.size {
                    if mine > log.size {
                        tracing::warn!(origin = %log.origin, mine, offered = log.size, "parent offers less than held (lagging or lying parent)");
                    }
                    break;
                }
                let (entries, cp) = Self::pull_batch(client, &log.origin, mine).await?;
                if entries.is_empty() {
                    break;
                }
                let f = fed.clone();
                let (p, o) = (self.parent_code.clone(), log.origin.clone());
                tokio::task::spawn_blocking(move || f.apply_pulled(&p, &o, mine, entries, cp))
                    .await?
                    .map_err(|e| anyhow!("down-sync of {} refused: {e}", log.origin))?;
            }
        }

        // Nothing leaves this node for a parent the registry does not vouch for: the handshake checked the
        // certificate if the registry already named the parent; on first start the down-sync above has just
        // brought the registry, so the certificate of this connection is checked now.
        self.parent_check.confirmed().map_err(|e| anyhow!("{e}"))?;
        self.pull_lists(client).await?;

        let reg = fed.registry();
        // This node's own log (also when still empty: its heartbeat says it is alive) and every registered
        // node of its subtree (the mirrors it relays, heartbeats included).
        let mut relayed: Vec<String> = vec![me.clone()];
        relayed
            .extend(reg.nodes.iter().filter(|n| n.code != me && reg.in_subtree(&me, &n.code)).map(|n| n.code.clone()));
        for origin in relayed {
            let held = self.held_size(&origin).await?;
            let has_checkpoint = {
                let f = fed.clone();
                let o = origin.clone();
                tokio::task::spawn_blocking(move || f.ledger().log().latest_checkpoint(&o)).await??.is_some()
            };
            if has_checkpoint {
                self.upload_origin(client, &origin, held, sent).await?;
            }
        }
        Ok(())
    }

    /// The list feed: list entries of other subtrees, each verified on its own, until the parent has no more.
    async fn pull_lists(&self, client: &mut SyncClient<Channel>) -> Result<()> {
        for _ in 0..1000 {
            let cursors = {
                let f = self.fed.clone();
                tokio::task::spawn_blocking(move || f.feed_cursors()).await??
            };
            let req = pb::PullListsRequest { cursors: crate::grpc::convert::feed::cursors_to_pb(&cursors) };
            let reply = match client.pull_lists(req).await {
                Ok(r) => r.into_inner(),
                Err(s) if s.code() == tonic::Code::Unimplemented => {
                    tracing::warn!(parent = %self.parent_code, "parent serves no list feed (older version)");
                    return Ok(());
                }
                Err(s) => return Err(s.into()),
            };
            let batch =
                crate::grpc::convert::feed::batch(reply).map_err(|e| anyhow!("list feed from the parent: {e}"))?;
            let more = batch.more;
            let f = self.fed.clone();
            let p = self.parent_code.clone();
            let new = tokio::task::spawn_blocking(move || f.apply_feed(&p, batch))
                .await?
                .map_err(|e| anyhow!("list feed from {} refused: {e}", self.parent_code))?;
            if new > 0 {
                tracing::info!(parent = %self.parent_code, new, "list feed applied");
            }
            if !more {
                break;
            }
        }
        Ok(())
    }

    async fn upload_origin(
        &self,
        client: &mut SyncClient<Channel>,
        origin: &str,
        mut held: u64,
        sent: &mut BTreeMap<String, Vec<u8>>,
    ) -> Result<()> {
        let fed = self.fed.clone();
        let mut cursor = client.cursor(pb::CursorRequest { origin: origin.to_string() }).await?.into_inner().next_index;
        if origin == fed.me() {
            // The parent's copy of this node's own log against the local head: a restored (older) store must not
            // sign entries the parent already holds under the same indices. It takes them back from the
            // parent's mirror first, each verified with this node's registered keys.
            let compare = |cursor: u64| {
                let (f, p) = (fed.clone(), self.parent_code.clone());
                tokio::task::spawn_blocking(move || f.ledger().compare_with_parent(&p, cursor))
            };
            if let Some(h @ SigningHold::Gap { .. }) = compare(cursor).await?? {
                tracing::warn!(parent = %self.parent_code, parent_size = cursor, local = held, "{h}");
                let taken = self
                    .recover_own(client, cursor)
                    .await
                    .map_err(|e| anyhow!("{h}; taking the entries back from the parent's mirror failed: {e:#}"))?;
                held = self.held_size(origin).await?;
                if let Some(h @ SigningHold::Gap { .. }) = compare(cursor).await?? {
                    tracing::error!(parent = %self.parent_code, parent_size = cursor, local = held, "{h}");
                    return Err(anyhow!("{h}"));
                }
                tracing::warn!(
                    parent = %self.parent_code,
                    taken,
                    size = held,
                    "已从上级镜像取回本节点日志，恢复签发 took this node's log back from the parent's mirror \
                     (every entry verified with its registered keys); signing resumes"
                );
            }
        }
        if cursor > held {
            return Err(anyhow!("parent claims {cursor} entries of {origin} but this node holds only {held}"));
        }
        let checkpoints = {
            let f = fed.clone();
            let o = origin.to_string();
            tokio::task::spawn_blocking(move || f.ledger().log().checkpoints(&o)).await??
        };
        let sizes: Vec<u64> = checkpoints.iter().filter_map(|c| c.parse().ok().map(|p| p.size)).collect();
        // Pipelined: up to UPLOAD_WINDOW uploads in flight, the next batch read while earlier ones travel and
        // are verified; receipts are checked and kept strictly in order, and the first failure ends the round
        // (the batches behind it are dropped; the parent refuses or waits for what comes out of order).
        let mut in_flight: std::collections::VecDeque<(u64, Vec<u8>, usize, tokio::task::JoinHandle<_>)> =
            std::collections::VecDeque::new();
        let mut next = cursor;
        // The batch read but not sent yet (it did not fit beside what is in flight).
        let mut ready: Option<(u64, pb::UploadRequest)> = None;
        loop {
            let end = sync::batch_end(&sizes, next, BATCH_ENTRIES);
            if ready.is_none() && in_flight.len() < UPLOAD_WINDOW {
                if let Some(end) = end {
                    let (entries, cp) = {
                        let f = fed.clone();
                        let o = origin.to_string();
                        let start = next;
                        tokio::task::spawn_blocking(move || -> Result<_> {
                            let log = f.ledger().log();
                            let entries: Vec<pb::Entry> = log
                                .entries(&o, start..end)?
                                .into_iter()
                                .map(|e| entry_to_pb(WireEntry::outgoing(e)))
                                .collect();
                            let cp = log
                                .checkpoint_at(&o, end)?
                                .ok_or_else(|| anyhow!("checkpoint {end} of {o} vanished"))?;
                            Ok((entries, cp))
                        })
                        .await??
                    };
                    let req = pb::UploadRequest {
                        origin: origin.to_string(),
                        start: next,
                        entries,
                        checkpoint: Some(pb::SignedNote { note: cp.note, signature: cp.signature }),
                    };
                    ready = Some((end, req));
                    next = end;
                }
            }
            if let Some((end, req)) = ready.take() {
                let bytes = prost::Message::encoded_len(&req);
                let pending: usize = in_flight.iter().map(|f| f.2).sum();
                if in_flight.is_empty() || (in_flight.len() < UPLOAD_WINDOW && pending + bytes <= PIPELINED_BYTES) {
                    let note = req.checkpoint.as_ref().map(|c| c.note.clone()).unwrap_or_default();
                    let mut c = client.clone();
                    in_flight.push_back((end, note, bytes, tokio::spawn(async move { c.upload(req).await })));
                    continue;
                }
                ready = Some((end, req));
            }
            let Some((end, note, _, call)) = in_flight.pop_front() else { break };
            let reply = match call.await {
                Ok(r) => r,
                Err(e) => {
                    in_flight.iter().for_each(|f| f.3.abort());
                    return Err(anyhow!("upload task failed: {e}"));
                }
            };
            let reply = match reply {
                Ok(r) => r.into_inner(),
                Err(status) => {
                    in_flight.iter().for_each(|f| f.3.abort());
                    return Err(status.into());
                }
            };
            if let Err(e) = self.keep_receipt(origin, end, &note, reply.cosignature).await {
                in_flight.iter().for_each(|f| f.3.abort());
                return Err(e);
            }
            sent.insert(origin.to_string(), note);
            cursor = end;
        }
        // Heartbeat: the newest checkpoint of the size the parent holds, if not sent yet (freshness).
        if let Some(latest) = checkpoints.iter().filter(|c| c.parse().map(|p| p.size == cursor).unwrap_or(false)).last()
        {
            if sent.get(origin) != Some(&latest.note) {
                let reply = client
                    .upload(pb::UploadRequest {
                        origin: origin.to_string(),
                        start: cursor,
                        entries: Vec::new(),
                        checkpoint: Some(pb::SignedNote {
                            note: latest.note.clone(),
                            signature: latest.signature.clone(),
                        }),
                    })
                    .await?
                    .into_inner();
                self.keep_receipt(origin, cursor, &latest.note, reply.cosignature).await?;
                sent.insert(origin.to_string(), latest.note.clone());
            }
        }
        fed.note_parent_cursor(origin, cursor);
        Ok(())
    }

    /// Takes this node's own log back from the parent's mirror up to `parent_size`, batch by batch, each ending
    /// on a checkpoint this node signed (verified in `Federation::recover_own`). Returns the entries taken.
    async fn recover_own(&self, client: &mut SyncClient<Channel>, parent_size: u64) -> Result<u64> {
        let fed = self.fed.clone();
        let me = fed.me().to_string();
        let mut taken = 0;
        loop {
            let mine = self.held_size(&me).await?;
            if mine >= parent_size {
                return Ok(taken);
            }
            let (entries, cp) = Self::pull_batch(client, &me, mine)
                .await
                .map_err(|e| anyhow!("the parent refused to send this node's own log: {e:#}"))?;
            if entries.is_empty() {
                return Err(anyhow!("the parent claims {parent_size} entries of this log but sent none from {mine}"));
            }
            let n = entries.len() as u64;
            let (f, p) = (fed.clone(), self.parent_code.clone());
            tokio::task::spawn_blocking(move || f.recover_own(&p, mine, entries, cp))
                .await?
                .map_err(|e| anyhow!("this node's own entries from {} refused: {e}", self.parent_code))?;
            taken += n;
        }
    }

    /// Entries of `origin` this node holds (its own log or a mirror).
    async fn held_size(&self, origin: &str) -> Result<u64> {
        let (f, o) = (self.fed.clone(), origin.to_string());
        Ok(tokio::task::spawn_blocking(move || f.ledger().log().head(&o)).await??.size)
    }

    /// One `Sync.Pull` batch of `origin` from `start`: its entries and the checkpoint it ends on (checked by the
    /// caller's apply, never here).
    async fn pull_batch(
        client: &mut SyncClient<Channel>,
        origin: &str,
        start: u64,
    ) -> Result<(Vec<WireEntry>, SignedCheckpoint)> {
        let req = pb::PullRequest { origin: origin.to_string(), start, max_entries: BATCH_ENTRIES as u32 };
        let r = client.pull(req).await?.into_inner();
        let cp = r.checkpoint.ok_or_else(|| anyhow!("parent sent a batch without a checkpoint"))?;
        Ok((entries_from_pb(r.entries)?, SignedCheckpoint { note: cp.note, signature: cp.signature }))
    }

    async fn keep_receipt(&self, origin: &str, size: u64, note: &[u8], c: Option<pb::Cosignature>) -> Result<()> {
        let c = c.ok_or_else(|| anyhow!("parent acknowledged without a cosignature"))?;
        let cosig = Cosignature { cosigner: c.cosigner, time: c.time, signature: c.signature };
        // The receipt must be the parent's own signature over exactly this checkpoint.
        if cosig.cosigner != self.parent_code {
            return Err(anyhow!("receipt cosigned by {} instead of the parent {}", cosig.cosigner, self.parent_code));
        }
        let statement = sync::cosignature_statement(&cosig.cosigner, &cosig.time, note);
        let keys = self.fed.keys_for(&self.parent_code);
        if keys.is_empty() {
            // The registry has not reached this node yet: the receipt cannot be checked, so it is not kept.
            tracing::warn!(parent = %self.parent_code, origin, size, "receipt not kept: parent key unknown until the registry arrives");
            return Ok(());
        }
        if !keys.iter().any(|k| self.fed.verifier().verify(k, &statement, &cosig.signature).is_ok()) {
            return Err(anyhow!("receipt from {} does not verify with its registered key", self.parent_code));
        }
        let f = self.fed.clone();
        let o = origin.to_string();
        tokio::task::spawn_blocking(move || f.store_receipt(&o, size, &cosig)).await??;
        Ok(())
    }
}
