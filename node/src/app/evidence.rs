//! Evidence kept forever (DESIGN §5): the exact conflicting signed objects when an origin equivocates or a
//! relay tampers. Stored in the `Evidence` table under (origin u32, sequence u64); never overwritten or deleted.
//!
//! Bounded: a piece of evidence is kept once (de-duplicated by the SM3 of its kind, origin and objects), at most
//! [`MAX_PER_ORIGIN`] per origin; beyond that only a per-origin count grows, so no sender can grow the store or
//! the audit report without bound by repeating itself.
//!
//! *Invariant:* one writer. The next sequence number is read and the record written under the federation's
//! evidence lock, so two pieces of evidence recorded at once never take the same key
//! (`app::tests::concurrent_evidence_is_all_kept` fails without the lock).

use super::federation::Federation;
use super::{now_rfc3339, AppError};
use crate::store::log::origin_code;
use crate::store::{Batch, Store, Table, MAX_VALUE_LEN};
use gongxin_core::format;
use serde::{Deserialize, Serialize};

/// What a piece of evidence shows. Chosen by the error variant that found it, never by message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidenceKind {
    /// Two checkpoints of one size signed by the origin with different roots.
    EquivocationCheckpoint,
    /// A different leaf signed by the origin at an index already held.
    EquivocationLeaf,
    /// A checkpoint signed by the origin that its own signed leaves contradict.
    HistoryRewrite,
    /// A relay delivered a checkpoint the origin did not sign.
    ForgedCheckpoint,
    /// A relay delivered a leaf or payload the origin did not sign.
    RelayTampering,
}

impl EvidenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::EquivocationCheckpoint => "equivocation-checkpoint",
            EvidenceKind::EquivocationLeaf => "equivocation-leaf",
            EvidenceKind::HistoryRewrite => "history-rewrite",
            EvidenceKind::ForgedCheckpoint => "forged-checkpoint",
            EvidenceKind::RelayTampering => "relay-tampering",
        }
    }

    /// Is the origin to blame (it signed both objects), rather than the node that delivered them?
    pub fn blames_origin(self) -> bool {
        matches!(
            self,
            EvidenceKind::EquivocationCheckpoint | EvidenceKind::EquivocationLeaf | EvidenceKind::HistoryRewrite
        )
    }
}

/// One conflicting object, exactly as received or stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceObject {
    /// What it is: `stored checkpoint`, `received checkpoint`, `stored leaf`, `received leaf`, …
    pub what: String,
    /// Base64 of the exact bytes.
    pub bytes_b64: String,
    /// Base64 of the DER signature over `bytes`, when there is one.
    #[serde(default)]
    pub signature_b64: String,
}

impl EvidenceObject {
    pub fn signed(what: &str, bytes: &[u8], signature: &[u8]) -> Self {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        EvidenceObject { what: what.to_string(), bytes_b64: b64(bytes), signature_b64: b64(signature) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Format version (absent: 1).
    #[serde(default = "format::v1", skip_serializing_if = "format::is_v1")]
    pub format: u32,
    pub kind: EvidenceKind,
    /// The node whose signed objects conflict.
    pub origin: String,
    /// Who delivered the conflicting object (the peer that sent it).
    pub received_from: String,
    /// RFC 3339 UTC.
    pub at: String,
    pub detail: String,
    pub objects: Vec<EvidenceObject>,
    /// [`content_digest`] (hex), for de-duplication and for reports that name evidence without carrying it.
    #[serde(default)]
    pub digest: String,
}

/// Most pieces of evidence kept per origin; later ones are counted, not stored.
pub const MAX_PER_ORIGIN: usize = 256;
/// Origin-metadata name of the count of evidence not kept because the origin reached [`MAX_PER_ORIGIN`].
const DROPPED_META: &[u8] = b"evidence.dropped";

/// What [`Federation::append_evidence`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Stored,
    Duplicate,
    OverCap,
}

/// SM3 over what the evidence shows (kind, origin, objects): equal digests are the same evidence.
pub fn content_digest(ev: &Evidence) -> String {
    let mut parts: Vec<&[u8]> = vec![ev.kind.as_str().as_bytes(), b"\0", ev.origin.as_bytes()];
    for o in &ev.objects {
        parts.extend_from_slice(&[
            b"\0",
            o.what.as_bytes(),
            b"\0",
            o.bytes_b64.as_bytes(),
            b"\0",
            o.signature_b64.as_bytes(),
        ]);
    }
    hex::encode(gongxin_core::crypto::sm3_parts(&parts))
}

fn key(origin: u32, seq: u64) -> Vec<u8> {
    let mut k = origin.to_be_bytes().to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Appends `ev` under the next sequence number of its origin and flushes, unless the same evidence is held or the
/// origin is at the cap (then only the drop count grows). The caller holds the evidence lock.
fn append_locked(store: &impl Store, origin_code: u32, ev: &Evidence) -> Result<Recorded, AppError> {
    let prefix = origin_code.to_be_bytes();
    let held = store.scan_prefix(Table::Evidence, &prefix, MAX_PER_ORIGIN + 1)?;
    for (_, v) in &held {
        if serde_json::from_slice::<Evidence>(v).is_ok_and(|h| h.digest == ev.digest) {
            return Ok(Recorded::Duplicate);
        }
    }
    if held.len() >= MAX_PER_ORIGIN {
        let mut k = DROPPED_META.to_vec();
        k.extend_from_slice(&prefix);
        let n = store.get(Table::Meta, &k)?.and_then(|v| v.try_into().ok()).map(u64::from_be_bytes).unwrap_or(0);
        let mut b = Batch::new();
        b.put(Table::Meta, k, (n + 1).to_be_bytes().to_vec());
        store.apply(b)?;
        store.flush()?;
        return Ok(Recorded::OverCap);
    }
    let last = held.last();
    let next = match last {
        None => 0,
        Some((k, _)) => {
            let seq: [u8; 8] = k
                .get(4..12)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| AppError::corrupt("evidence key", hex::encode(k)))?;
            u64::from_be_bytes(seq) + 1
        }
    };
    let encode = |e: &Evidence| serde_json::to_vec(e).map_err(|err| AppError::corrupt("evidence", err));
    let mut v = encode(ev)?;
    if v.len() > MAX_VALUE_LEN {
        // Keep the statement; drop object bytes that do not fit (the detail still names them).
        let mut slim = ev.clone();
        for o in &mut slim.objects {
            o.bytes_b64 = format!("<{} base64 chars omitted: too large to store>", o.bytes_b64.len());
        }
        v = encode(&slim)?;
    }
    let mut b = Batch::new();
    b.put(Table::Evidence, key(origin_code, next), v);
    store.apply(b)?;
    store.flush()?;
    Ok(Recorded::Stored)
}

/// All evidence held, in (origin, sequence) order.
pub fn all(store: &impl Store) -> Result<Vec<Evidence>, AppError> {
    let mut out = Vec::new();
    for (k, v) in store.scan_prefix(Table::Evidence, &[], usize::MAX)? {
        let e: Evidence = serde_json::from_slice(&v)
            .map_err(|err| AppError::corrupt("evidence", format!("key {}: {err}", hex::encode(&k))))?;
        format::check("evidence", e.format)?;
        out.push(e);
    }
    Ok(out)
}

impl Federation {
    /// Records evidence (logged as an error too). Failing to store it is logged, not returned: the refusal that
    /// found it stands either way.
    pub(crate) fn record_evidence(
        &self,
        kind: EvidenceKind,
        origin: &str,
        from: &str,
        detail: String,
        objects: Vec<EvidenceObject>,
    ) {
        let mut ev = Evidence {
            format: format::V1,
            kind,
            origin: origin.into(),
            received_from: from.into(),
            at: now_rfc3339(),
            detail,
            objects,
            digest: String::new(),
        };
        ev.digest = content_digest(&ev);
        match self.append_evidence(&ev) {
            Ok(Recorded::Stored) => {
                tracing::error!(kind = kind.as_str(), origin, from, detail = %ev.detail, digest = %ev.digest, "EVIDENCE recorded")
            }
            Ok(Recorded::Duplicate) => {
                tracing::warn!(kind = kind.as_str(), origin, from, digest = %ev.digest, "evidence already held")
            }
            Ok(Recorded::OverCap) => {
                tracing::error!(
                    kind = kind.as_str(),
                    origin,
                    from,
                    "evidence for this origin is at its cap; counted, not stored"
                )
            }
            Err(e) => tracing::error!(error = %e, "could not store evidence"),
        }
    }

    pub(crate) fn append_evidence(&self, ev: &Evidence) -> Result<Recorded, AppError> {
        let o = origin_code(&ev.origin)?;
        let _g = self.evidence_lock.lock().map_err(|_| AppError::Poisoned { what: "evidence writer" })?;
        append_locked(self.ledger.log().store(), o, ev)
    }

    /// All evidence held by this node.
    pub fn evidence(&self) -> Result<Vec<Evidence>, AppError> {
        all(self.ledger.log().store())
    }
}
