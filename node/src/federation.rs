//! A node's membership in the federation: its registry view, mirrors of other origins' logs, and the verdicts
//! of `core::sync` carried out against the store. Used by the sync gRPC service (parent side) and by the uplink
//! (`peers`, child side). One writer at a time per mirror (`mirror_lock`); the node's own log is written only by
//! the `Ledger`.

use gongxin_core::checkpoint::SignedCheckpoint;
use gongxin_core::envelope::LeafHeader;
use gongxin_core::record::Record;
use gongxin_core::registry::{Registry, REGISTRY_KIND};
use gongxin_core::sync::{self, IncomingEntry, SyncError};
use gongxin_core::crypto::{PublicKey, Verifier};
use crate::ledger::{now_rfc3339, Ledger};
use crate::store::evidence::{self, Evidence, EvidenceObject};
use crate::store::log::{origin_code, Head, NewEntry, StoredEntry};
use base64::Engine as _;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

/// The province's code: root of the hierarchy, origin of the registry.
pub const PROVINCE: &str = "430000";
/// Origin-metadata name holding the index of the newest registry entry in the province log.
const REGISTRY_INDEX_META: &str = "registry.index";

/// Failure of a federation operation: a refusal by the sync rules, or a local fault.
#[derive(Debug, thiserror::Error)]
pub enum FedError {
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error("internal: {0}")]
    Internal(String),
}

fn internal(e: impl std::fmt::Display) -> FedError {
    FedError::Internal(e.to_string())
}

/// An entry as it travels between nodes.
#[derive(Debug, Clone)]
pub struct WireEntry {
    pub index: u64,
    pub leaf: Vec<u8>,
    pub signature: Vec<u8>,
    pub payload: Option<(Vec<u8>, String)>,
}

impl WireEntry {
    /// The form an entry leaves this node in: payloads of 不予共享 records never travel.
    pub fn outgoing(e: StoredEntry) -> Self {
        let shareable = LeafHeader::decode(&e.leaf).map(|h| h.share != "none").unwrap_or(false);
        WireEntry { index: e.index, leaf: e.leaf, signature: e.signature, payload: e.payload.filter(|_| shareable) }
    }
}

/// A parent's cosignature on an origin checkpoint it mirrored and flushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    pub cosigner: String,
    pub time: String,
    pub signature: Vec<u8>,
}

/// What a node knows about one child link or one origin, for `gongxin peer list`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LinkState {
    pub last_contact: Option<String>,
    pub last_error: Option<String>,
    pub state: String,
}

pub struct Federation {
    me: String,
    ledger: Arc<Ledger>,
    verifier: Verifier,
    province_key: PublicKey,
    registry: RwLock<Registry>,
    mirror_lock: Mutex<()>,
    /// Children seen by this node as a parent: code → link state.
    pub children: Mutex<BTreeMap<String, LinkState>>,
    /// This node's uplink, and the parent's cursor per origin as last reported.
    pub uplink: Mutex<(LinkState, BTreeMap<String, u64>)>,
}

impl Federation {
    pub fn new(me: &str, ledger: Arc<Ledger>, province_key: PublicKey) -> Result<Self, FedError> {
        let fed = Federation {
            me: me.to_string(),
            ledger,
            verifier: Verifier::new(),
            province_key,
            registry: RwLock::new(Registry::empty()),
            mirror_lock: Mutex::new(()),
            children: Mutex::new(BTreeMap::new()),
            uplink: Mutex::new((LinkState { state: "starting".into(), ..Default::default() }, BTreeMap::new())),
        };
        fed.reload_registry()?;
        Ok(fed)
    }

    pub fn me(&self) -> &str {
        &self.me
    }

    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    pub fn registry(&self) -> Registry {
        self.registry.read().map(|r| r.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Reloads the newest registry from the province log held here (own log on the province, mirror elsewhere)
    /// and refreshes the verifier's per-signer tables (revoked keys dropped).
    pub fn reload_registry(&self) -> Result<(), FedError> {
        let log = self.ledger.log();
        let Some(idx) = log.origin_meta(PROVINCE, REGISTRY_INDEX_META).map_err(internal)? else {
            return Ok(());
        };
        let idx =
            u64::from_be_bytes(idx.as_slice().try_into().map_err(|_| internal("registry index meta is not 8 bytes"))?);
        let entry = log.entry(PROVINCE, idx).map_err(internal)?.ok_or_else(|| internal("registry entry missing"))?;
        let (payload, _) = entry.payload.ok_or_else(|| internal("registry entry has no payload"))?;
        let reg = Registry::from_json(&payload).map_err(internal)?;
        let mut keys = reg.live_keys();
        keys.push(self.province_key.clone());
        self.verifier.set_keys(keys.iter());
        tracing::info!(version = reg.version, nodes = reg.nodes.len(), "registry loaded");
        *self.registry.write().unwrap_or_else(|p| p.into_inner()) = reg;
        Ok(())
    }

    /// Applies a new registry version on the province: appended to the province's own log, signed.
    pub fn publish_registry(&self, reg: &Registry) -> Result<u64, FedError> {
        if self.me != PROVINCE {
            return Err(SyncError::Forbidden("only the province publishes the registry".into()).into());
        }
        reg.validate().map_err(internal)?;
        let index = self.ledger.log().head(PROVINCE).map_err(internal)?.size;
        let idx = self
            .ledger
            .append_system(
                REGISTRY_KIND,
                &format!("registry/v{}", reg.version),
                reg.to_json(),
                &[(REGISTRY_INDEX_META, index.to_be_bytes().to_vec())],
            )
            .map_err(internal)?;
        debug_assert_eq!(idx, index);
        self.reload_registry()?;
        Ok(reg.version)
    }

    /// Signing keys of `origin`, oldest first: the anchor's province key, or the registry's.
    pub fn keys_for(&self, origin: &str) -> Vec<PublicKey> {
        let mut keys = self.registry().keys(origin);
        if origin == PROVINCE && !keys.contains(&self.province_key) {
            keys.push(self.province_key.clone());
        }
        keys
    }

    /// Checks that an authenticated TLS peer is a registered, active node whose certificate is the registered
    /// one. Returns its code.
    pub fn authorize_node(&self, code: &str, role_is_node: bool, fingerprint: &str) -> Result<String, SyncError> {
        if !role_is_node {
            return Err(SyncError::Forbidden(format!("certificate of {code} is not a node certificate")));
        }
        let reg = self.registry();
        sync::cert_matches(&reg, code, fingerprint)?;
        if !reg.is_active(code) {
            let st = reg.node(code).map(|n| n.status.as_str()).unwrap_or("unknown");
            return Err(SyncError::Forbidden(format!("node {code} is {st}")));
        }
        Ok(code.to_string())
    }

    /// Notes contact from a child (for `peer list`).
    pub fn touch_child(&self, code: &str, error: Option<String>) {
        let mut c = self.children.lock().unwrap_or_else(|p| p.into_inner());
        let s = c.entry(code.to_string()).or_default();
        s.last_contact = Some(now_rfc3339());
        s.state = if error.is_some() { "refused".into() } else { "ok".into() };
        if error.is_some() {
            s.last_error = error;
        }
    }

    /// Parent side: where this node's mirror of `origin` stands, for `sender`.
    pub fn cursor(&self, sender: &str, origin: &str) -> Result<Head, FedError> {
        sync::may_upload(&self.registry(), &self.me, sender, origin)?;
        Ok(self.ledger.log().head(origin).map_err(internal)?)
    }

    /// Parent side: an upload batch from `sender`. Verified, committed atomically with its checkpoint and
    /// flushed; only then cosigned.
    pub fn accept_upload(
        &self,
        sender: &str,
        origin: &str,
        start: u64,
        entries: Vec<WireEntry>,
        cp: SignedCheckpoint,
    ) -> Result<(Head, Cosignature), FedError> {
        sync::may_upload(&self.registry(), &self.me, sender, origin)?;
        if origin == self.me {
            return Err(SyncError::Forbidden(format!("{sender} may not upload this node's own log")).into());
        }
        let (head, appended) = self.ingest(sender, origin, start, entries, &cp)?;
        if appended > 0 && self.me != PROVINCE {
            self.anchor(origin, sender, &cp)?;
        }
        let time = now_rfc3339();
        let signature = self.ledger.signing_key().sign(&sync::cosignature_statement(&self.me, &time, &cp.note));
        Ok((head, Cosignature { cosigner: self.me.clone(), time, signature }))
    }

    /// Child side: stores a parent's cosignature as a receipt for `origin` at `size`.
    pub fn store_receipt(&self, origin: &str, size: u64, cosig: &Cosignature) -> Result<(), FedError> {
        let mut v = Vec::new();
        v.extend_from_slice(&size.to_be_bytes());
        v.extend_from_slice(&(cosig.time.len() as u16).to_be_bytes());
        v.extend_from_slice(cosig.time.as_bytes());
        v.extend_from_slice(&cosig.signature);
        self.ledger.log().set_origin_meta(origin, &format!("receipt.{}", cosig.cosigner), &v).map_err(internal)?;
        Ok(())
    }

    /// Parent side: the logs offered to children for down-sync (the province log).
    pub fn offered(&self, sender: &str) -> Result<Vec<(String, u64)>, FedError> {
        sync::may_pull(&self.registry(), &self.me, sender)?;
        let head = self.ledger.log().head(PROVINCE).map_err(internal)?;
        Ok(if head.size > 0 { vec![(PROVINCE.to_string(), head.size)] } else { Vec::new() })
    }

    /// Parent side: a down-sync batch of an offered log, ending on a signed checkpoint.
    pub fn serve_pull(
        &self,
        sender: &str,
        origin: &str,
        start: u64,
        max: u64,
    ) -> Result<(Vec<WireEntry>, SignedCheckpoint), FedError> {
        sync::may_pull(&self.registry(), &self.me, sender)?;
        if origin != PROVINCE {
            return Err(SyncError::Forbidden(format!("log {origin} is not offered for down-sync")).into());
        }
        let log = self.ledger.log();
        let sizes: Vec<u64> =
            log.checkpoints(origin).map_err(internal)?.iter().filter_map(|c| c.parse().ok().map(|p| p.size)).collect();
        let max = max.clamp(1, sync::MAX_BATCH_ENTRIES as u64);
        let end = sync::batch_end(&sizes, start, max).or_else(|| sizes.iter().copied().max().filter(|&s| s == start));
        let Some(end) = end else {
            return Err(SyncError::Cursor {
                origin: origin.into(),
                expected: sizes.iter().copied().max().unwrap_or(0),
                got: start,
            }
            .into());
        };
        let cp = log.checkpoint_at(origin, end).map_err(internal)?.ok_or_else(|| internal("checkpoint vanished"))?;
        let entries = log.entries(origin, start..end).map_err(internal)?.into_iter().map(WireEntry::outgoing).collect();
        Ok((entries, cp))
    }

    /// Child side: a down-sync batch from the parent, verified against the origin's signed checkpoint.
    pub fn apply_pulled(
        &self,
        parent: &str,
        origin: &str,
        start: u64,
        entries: Vec<WireEntry>,
        cp: SignedCheckpoint,
    ) -> Result<Head, FedError> {
        if origin == self.me {
            return Err(SyncError::Forbidden("a parent may not send this node its own log".into()).into());
        }
        Ok(self.ingest(parent, origin, start, entries, &cp)?.0)
    }

    /// Writes an anchor into this node's own log: the origin checkpoint it just mirrored, so the relaying
    /// node's view travels upward signed by it, and the audit can compare vantage points.
    fn anchor(&self, origin: &str, from: &str, cp: &SignedCheckpoint) -> Result<(), FedError> {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let parsed = cp.parse().map_err(internal)?;
        let anchor = sync::Anchor {
            origin: origin.to_string(),
            size: parsed.size,
            root: hex::encode(parsed.root),
            received_from: from.to_string(),
            received_at: now_rfc3339(),
            checkpoint_b64: b64(&cp.note),
            signature_b64: b64(&cp.signature),
        };
        self.ledger
            .append_system(
                sync::ANCHOR_KIND,
                &format!("anchor/{origin}/{}", parsed.size),
                serde_json::to_vec(&anchor).map_err(internal)?,
                &[],
            )
            .map_err(internal)?;
        Ok(())
    }

    fn record_evidence(&self, kind: &str, origin: &str, from: &str, detail: String, objects: Vec<EvidenceObject>) {
        let ev = Evidence {
            kind: kind.into(),
            origin: origin.into(),
            received_from: from.into(),
            at: now_rfc3339(),
            detail,
            objects,
        };
        tracing::error!(kind, origin, from, detail = %ev.detail, "EVIDENCE recorded");
        match origin_code(origin) {
            Ok(o) => {
                if let Err(e) = evidence::record(self.ledger.log().store(), o, &ev) {
                    tracing::error!(error = %e, "could not store evidence");
                }
            }
            Err(e) => tracing::error!(error = %e, "evidence for a malformed origin"),
        }
    }

    /// All evidence held by this node.
    pub fn evidence(&self) -> Result<Vec<Evidence>, FedError> {
        evidence::all(self.ledger.log().store()).map_err(internal)
    }

    /// The shared mirror path of up- and down-sync.
    fn ingest(
        &self,
        from: &str,
        origin: &str,
        start: u64,
        entries: Vec<WireEntry>,
        cp: &SignedCheckpoint,
    ) -> Result<(Head, u64), FedError> {
        let keys = self.keys_for(origin);
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let checkpoint = match sync::check_checkpoint(origin, cp, &keys, &self.verifier) {
            Ok(c) => c,
            Err(e) => {
                if from != origin && e.to_string().contains("signature") {
                    self.record_evidence(
                        "forged-checkpoint",
                        origin,
                        from,
                        format!("{from} relayed a checkpoint of {origin} that {origin} did not sign"),
                        vec![EvidenceObject {
                            what: "received checkpoint".into(),
                            bytes_b64: b64(&cp.note),
                            signature_b64: b64(&cp.signature),
                        }],
                    );
                }
                return Err(e.into());
            }
        };
        let end = start + entries.len() as u64;
        if checkpoint.size != end {
            return Err(SyncError::BadCheckpoint(format!(
                "checkpoint of size {} does not end the batch [{start}, {end})",
                checkpoint.size
            ))
            .into());
        }
        let _g = self.mirror_lock.lock().map_err(|_| internal("mirror lock poisoned"))?;
        let log = self.ledger.log();
        let head = log.head(origin).map_err(internal)?;
        if start > head.size {
            return Err(SyncError::Cursor { origin: origin.into(), expected: head.size, got: start }.into());
        }

        // Two signed checkpoints of one size with different roots: equivocation.
        if let Some(held) = log.checkpoint_at(origin, checkpoint.size).map_err(internal)? {
            if let Ok(h) = held.parse() {
                if h.root != checkpoint.root {
                    self.record_evidence(
                        "equivocation-checkpoint",
                        origin,
                        from,
                        format!("two checkpoints of size {} signed by {origin} with different roots", checkpoint.size),
                        vec![
                            EvidenceObject {
                                what: "held checkpoint".into(),
                                bytes_b64: b64(&held.note),
                                signature_b64: b64(&held.signature),
                            },
                            EvidenceObject {
                                what: "received checkpoint".into(),
                                bytes_b64: b64(&cp.note),
                                signature_b64: b64(&cp.signature),
                            },
                        ],
                    );
                    return Err(SyncError::Equivocation {
                        origin: origin.into(),
                        reason: format!("two signed checkpoints of size {} with different roots", checkpoint.size),
                    }
                    .into());
                }
            }
        }

        // Entries already held must be byte-identical (idempotent resend); a different signed leaf is evidence.
        let overlap = ((head.size - start) as usize).min(entries.len());
        for e in &entries[..overlap] {
            let held = log.entry(origin, e.index).map_err(internal)?.ok_or_else(|| internal("held entry missing"))?;
            if held.leaf != e.leaf {
                let signed = keys.iter().any(|k| self.verifier.verify(k, &e.leaf, &e.signature).is_ok());
                if !signed {
                    return Err(SyncError::BadEntry {
                        index: e.index,
                        reason: "differs from the held leaf and is not signed by the origin (forged)".into(),
                    }
                    .into());
                }
                self.record_evidence(
                    "equivocation-leaf",
                    origin,
                    from,
                    format!("a different leaf signed by {origin} at known index {}", e.index),
                    vec![
                        EvidenceObject {
                            what: "held leaf".into(),
                            bytes_b64: b64(&held.leaf),
                            signature_b64: b64(&held.signature),
                        },
                        EvidenceObject {
                            what: "received leaf".into(),
                            bytes_b64: b64(&e.leaf),
                            signature_b64: b64(&e.signature),
                        },
                    ],
                );
                return Err(SyncError::Equivocation {
                    origin: origin.into(),
                    reason: format!("different leaf at known index {}", e.index),
                }
                .into());
            }
        }
        let new: Vec<WireEntry> = entries.into_iter().skip(overlap).collect();
        if new.is_empty() {
            // A resend or a heartbeat (the batch ends at or below the held size): the checkpoint must match what
            // is held, and is kept if newer.
            let root = log.root_at(origin, checkpoint.size).map_err(internal)?;
            if root != checkpoint.root {
                self.record_evidence(
                    "history-rewrite",
                    origin,
                    from,
                    format!(
                        "checkpoint of size {} signed by {origin} is inconsistent with its signed leaves",
                        checkpoint.size
                    ),
                    vec![EvidenceObject {
                        what: "received checkpoint".into(),
                        bytes_b64: b64(&cp.note),
                        signature_b64: b64(&cp.signature),
                    }],
                );
                return Err(SyncError::Equivocation {
                    origin: origin.into(),
                    reason: "checkpoint inconsistent with held leaves".into(),
                }
                .into());
            }
            let newer = match log.checkpoint_at(origin, checkpoint.size).map_err(internal)? {
                None => true,
                Some(h) => {
                    h.parse().ok().and_then(|p| p.timestamp().map(str::to_string))
                        < checkpoint.timestamp().map(str::to_string)
                }
            };
            if newer {
                log.put_checkpoint(origin, cp.clone()).map_err(internal)?;
            }
            return Ok((head, 0));
        }

        let incoming: Vec<IncomingEntry<'_>> = new
            .iter()
            .map(|e| IncomingEntry {
                index: e.index,
                leaf: &e.leaf,
                signature: &e.signature,
                payload: e.payload.as_ref().map(|p| p.0.as_slice()),
            })
            .collect();
        let headers = match sync::check_entries(origin, head.size, &incoming, &keys, &self.verifier) {
            Ok(h) => h,
            Err(SyncError::BadEntry { index, reason }) if from != origin => {
                // A relayed leaf or payload that does not match the origin's signature: the relay altered it.
                if reason.contains("signature") || reason.contains("payload SM3") {
                    let e = new.iter().find(|e| e.index == index);
                    self.record_evidence(
                        "relay-tampering",
                        origin,
                        from,
                        format!("{from} relayed leaf {index} of {origin}: {reason}"),
                        e.map(|e| {
                            vec![EvidenceObject {
                                what: "received leaf".into(),
                                bytes_b64: b64(&e.leaf),
                                signature_b64: b64(&e.signature),
                            }]
                        })
                        .unwrap_or_default(),
                    );
                }
                return Err(SyncError::BadEntry { index, reason }.into());
            }
            Err(e) => return Err(e.into()),
        };
        let mut registry_index = None;
        let new_entries: Vec<NewEntry> = new
            .into_iter()
            .zip(&headers)
            .map(|(e, h)| {
                if h.kind == REGISTRY_KIND && origin == PROVINCE {
                    registry_index = Some(h.index);
                }
                let subjects = e
                    .payload
                    .as_ref()
                    .and_then(|(p, _)| Record::from_payload_json(p).ok())
                    .map(|r| r.subject_keys().into_iter().map(String::into_bytes).collect())
                    .unwrap_or_default();
                NewEntry {
                    leaf: e.leaf,
                    signature: e.signature,
                    payload: e.payload,
                    natural_key: h.natural_key,
                    subjects,
                }
            })
            .collect();
        let mut prepared = log.prepare_append(origin, new_entries).map_err(internal)?;
        if prepared.new_root() != checkpoint.root {
            return Err(SyncError::BadCheckpoint(format!(
                "root {} re-derived from the batch differs from the signed checkpoint root {} (altered, reordered or missing entries)",
                hex::encode(prepared.new_root()),
                hex::encode(checkpoint.root)
            ))
            .into());
        }
        if let Some(i) = registry_index {
            prepared.set_origin_meta(REGISTRY_INDEX_META, &i.to_be_bytes()).map_err(internal)?;
        }
        let appended = prepared.new_size() - head.size;
        let head = log.commit(prepared, Some(cp.clone())).map_err(internal)?;
        drop(_g);
        if registry_index.is_some() {
            self.reload_registry()?;
        }
        Ok((head, appended))
    }
}

/// Origin-metadata name of the last audited mark of an origin.
pub const AUDIT_MARK_META: &str = "audit.last";
/// Origin-metadata name (on the auditor's own log) of the index of its newest audit report.
const AUDIT_REPORT_META: &str = "audit.report";

impl Federation {
    /// The node that delivers `code`'s log to this node: the child of this node on the path to `code`.
    fn relay_of(&self, reg: &Registry, code: &str) -> String {
        let mut at = code.to_string();
        for _ in 0..=reg.nodes.len() {
            match reg.node(&at).and_then(|n| n.parent.clone()) {
                Some(p) if p == self.me => return at,
                Some(p) => at = p,
                None => break,
            }
        }
        code.to_string()
    }

    /// Anchors written by relaying nodes whose logs this node holds, by origin: (relayer, anchor).
    fn anchors(&self) -> Result<BTreeMap<String, Vec<(String, sync::Anchor)>>, FedError> {
        let log = self.ledger.log();
        let reg = self.registry();
        let mut out: BTreeMap<String, Vec<(String, sync::Anchor)>> = BTreeMap::new();
        for (origin, head) in log.origins().map_err(internal)? {
            let relays = origin == self.me || reg.children(&origin).next().is_some();
            if !relays || origin == PROVINCE && self.me != PROVINCE {
                continue;
            }
            let mut at = 0;
            while at < head.size {
                let upto = (at + 4096).min(head.size);
                for e in log.entries(&origin, at..upto).map_err(internal)? {
                    let Ok(h) = LeafHeader::decode(&e.leaf) else { continue };
                    if h.kind != sync::ANCHOR_KIND {
                        continue;
                    }
                    if let Some(a) = e.payload.and_then(|(p, _)| serde_json::from_slice::<sync::Anchor>(&p).ok()) {
                        out.entry(a.origin.clone()).or_default().push((origin.clone(), a));
                    }
                }
                at = upto;
            }
        }
        Ok(out)
    }

    /// Audits every origin of the registry in this node's subtree, signs the report, appends it to this node's
    /// log and keeps the last audited mark per origin (DESIGN §5, issue 4).
    pub fn run_audit(&self, sla: gongxin_core::audit::Sla) -> Result<gongxin_core::audit::Report, FedError> {
        use gongxin_core::audit::{self, AuditLeaf, AuditSource, Finding, Mark, REPORT_KIND};

        /// The store as the audit sees it (`core::audit::audit_subtree` runs the orchestration).
        struct StoreAudit<'a> {
            fed: &'a Federation,
            reg: Registry,
            anchors: BTreeMap<String, Vec<(String, sync::Anchor)>>,
            evidence: Vec<Evidence>,
        }
        impl StoreAudit<'_> {
            fn mark(&self, code: &str) -> Result<Option<Mark>, FedError> {
                let meta = self.fed.ledger.log().origin_meta(code, AUDIT_MARK_META).map_err(internal)?;
                Ok(meta.and_then(|v| serde_json::from_slice(&v).ok()))
            }
        }
        impl AuditSource for StoreAudit<'_> {
            type Error = FedError;
            fn keys(&self, code: &str) -> Vec<PublicKey> {
                self.fed.keys_for(code)
            }
            fn delivered_by(&self, code: &str) -> String {
                if code == self.fed.me {
                    self.fed.me.clone()
                } else {
                    self.fed.relay_of(&self.reg, code)
                }
            }
            fn checkpoints(&self, code: &str) -> Result<Vec<SignedCheckpoint>, FedError> {
                self.fed.ledger.log().checkpoints(code).map_err(internal)
            }
            fn resume(&self, code: &str) -> Result<Option<Mark>, FedError> {
                self.mark(code)
            }
            fn last_audit(&self, code: &str) -> Result<Option<(SignedCheckpoint, String)>, FedError> {
                let dec = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_default();
                Ok(self.mark(code)?.map(|m| {
                    let signed = SignedCheckpoint { note: dec(&m.checkpoint_b64), signature: dec(&m.signature_b64) };
                    (signed, self.fed.me.clone())
                }))
            }
            fn anchors(&self, code: &str) -> Result<Vec<(String, sync::Anchor)>, FedError> {
                Ok(self.anchors.get(code).cloned().unwrap_or_default())
            }
            fn held(&self, code: &str) -> Result<u64, FedError> {
                Ok(self.fed.ledger.log().head(code).map_err(internal)?.size)
            }
            fn leaves(&self, code: &str, range: std::ops::Range<u64>) -> Result<Vec<AuditLeaf>, FedError> {
                let entries = self.fed.ledger.log().entries(code, range).map_err(internal)?;
                Ok(entries.into_iter().map(|e| (e.index, e.leaf, e.signature, e.payload.map(|p| p.0))).collect())
            }
            fn findings(&self, code: &str) -> Result<Vec<Finding>, FedError> {
                Ok(self
                    .evidence
                    .iter()
                    .filter(|e| e.origin == code)
                    .map(|e| Finding {
                        kind: e.kind.clone(),
                        culprit: if e.kind.starts_with("equivocation") || e.kind == "history-rewrite" {
                            e.origin.clone()
                        } else {
                            e.received_from.clone()
                        },
                        detail: format!("{} (evidence recorded {}, delivered by {})", e.detail, e.at, e.received_from),
                    })
                    .collect())
            }
        }

        let source = StoreAudit { fed: self, reg: self.registry(), anchors: self.anchors()?, evidence: self.evidence()? };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let run = audit::audit_subtree(&source, &source.reg, &self.me, &self.me, &self.verifier, now, &sla)?;
        let (mut report, marks) = run.into_report(&self.me, &now_rfc3339(), sla);
        report.sign(self.ledger.signing_key());
        let log = self.ledger.log();
        let json = serde_json::to_vec(&report).map_err(internal)?;
        let index = log.head(&self.me).map_err(internal)?.size;
        self.ledger
            .append_system(
                REPORT_KIND,
                &format!("audit/{}", report.at),
                json,
                &[(AUDIT_REPORT_META, index.to_be_bytes().to_vec())],
            )
            .map_err(internal)?;
        for (code, m) in marks {
            log.set_origin_meta(&code, AUDIT_MARK_META, &serde_json::to_vec(&m).map_err(internal)?)
                .map_err(internal)?;
        }
        Ok(report)
    }

    /// The newest signed audit report in this node's log.
    pub fn last_report(&self) -> Result<Option<gongxin_core::audit::Report>, FedError> {
        let log = self.ledger.log();
        let Some(idx) = log.origin_meta(&self.me, AUDIT_REPORT_META).map_err(internal)? else { return Ok(None) };
        let idx = u64::from_be_bytes(idx.as_slice().try_into().map_err(|_| internal("report index meta"))?);
        let Some(e) = log.entry(&self.me, idx).map_err(internal)? else { return Ok(None) };
        let Some((p, _)) = e.payload else { return Ok(None) };
        Ok(Some(serde_json::from_slice(&p).map_err(internal)?))
    }
}
