//! Mirrors of other origins' logs (DESIGN §5): a parent's side of up-sync (cursor, accept, cosign), both
//! sides of down-sync, and the one ingest path they share: the verdicts of `gongxin_core::sync` carried out
//! against the store — verify → one atomic batch with the entries, their view rows and the origin's checkpoint
//! → flush → only then acknowledge.

use super::evidence::{EvidenceKind, EvidenceObject};
use super::federation::{Federation, PROVINCE, REGISTRY_INDEX_META};
use super::{now_rfc3339, AppError};
use crate::store::log::{Head, NewEntry, StoredEntry};
use crate::views;
use base64::Engine as _;
use gongxin_core::checkpoint::SignedCheckpoint;
use gongxin_core::envelope::LeafHeader;
use gongxin_core::registry::REGISTRY_KIND;
use gongxin_core::sync::{self, CheckpointProblem, EntryProblem, Equivocation, IncomingEntry, Refusal, SyncError};

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
        let shareable = LeafHeader::decode(&e.leaf).map(|h| h.payload_may_travel()).unwrap_or(false);
        WireEntry { index: e.index, leaf: e.leaf, signature: e.signature, payload: e.payload.filter(|_| shareable) }
    }

    /// The entry as the checks of `gongxin_core::sync` read it.
    pub fn incoming(&self) -> IncomingEntry<'_> {
        IncomingEntry {
            index: self.index,
            leaf: &self.leaf,
            signature: &self.signature,
            payload: self.payload.as_ref().map(|p| p.0.as_slice()),
        }
    }
}

/// How long a batch that starts past the held size waits for the batch ahead of it (pipelined uploads: a child
/// keeps [`crate::peers::UPLOAD_WINDOW`] uploads in flight, and the second can reach the writer first).
pub const ORDER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A parent's cosignature on an origin checkpoint it mirrored and flushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    pub cosigner: String,
    pub time: String,
    pub signature: Vec<u8>,
}

impl Federation {
    /// Parent side: where this node's mirror of `origin` stands, for `sender`.
    pub fn cursor(&self, sender: &str, origin: &str) -> Result<Head, AppError> {
        sync::may_upload(&self.registry(), &self.me, sender, origin)?;
        Ok(self.ledger.log().head(origin)?)
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
    ) -> Result<(Head, Cosignature), AppError> {
        sync::may_upload(&self.registry(), &self.me, sender, origin)?;
        if origin == self.me {
            return Err(SyncError::Forbidden(Refusal::OwnLogUpload { sender: sender.into() }).into());
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
    pub fn store_receipt(&self, origin: &str, size: u64, cosig: &Cosignature) -> Result<(), AppError> {
        let time_len = u16::try_from(cosig.time.len())
            .map_err(|_| AppError::Invalid { field: "cosignature.time", reason: "too long".into() })?;
        let mut v = Vec::new();
        v.extend_from_slice(&size.to_be_bytes());
        v.extend_from_slice(&time_len.to_be_bytes());
        v.extend_from_slice(cosig.time.as_bytes());
        v.extend_from_slice(&cosig.signature);
        self.ledger.log().set_origin_meta(origin, &format!("receipt.{}", cosig.cosigner), &v)?;
        Ok(())
    }

    /// Parent side: the logs offered to children for down-sync (the province log).
    pub fn offered(&self, sender: &str) -> Result<Vec<(String, u64)>, AppError> {
        sync::may_pull(&self.registry(), &self.me, sender)?;
        let head = self.ledger.log().head(PROVINCE)?;
        Ok(if head.size > 0 { vec![(PROVINCE.to_string(), head.size)] } else { Vec::new() })
    }

    /// Parent side: a down-sync batch of an offered log, ending on a signed checkpoint.
    pub fn serve_pull(
        &self,
        sender: &str,
        origin: &str,
        start: u64,
        max: u64,
    ) -> Result<(Vec<WireEntry>, SignedCheckpoint), AppError> {
        sync::may_pull(&self.registry(), &self.me, sender)?;
        // The province log, and the caller's own log back from this node's mirror (a child restored from an
        // older backup or re-keyed after losing its disk takes back what it had signed; it verifies every
        // entry with its registered keys, see `recover_own`). No other origin is served.
        if origin != PROVINCE && origin != sender {
            return Err(SyncError::Forbidden(Refusal::NotOffered { origin: origin.into() }).into());
        }
        let log = self.ledger.log();
        let sizes: Vec<u64> = log.checkpoints(origin)?.iter().filter_map(|c| c.parse().ok().map(|p| p.size)).collect();
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
        let cp = log.checkpoint_at(origin, end)?.ok_or_else(|| AppError::corrupt("checkpoint", "vanished"))?;
        let entries = log.entries(origin, start..end)?.into_iter().map(WireEntry::outgoing).collect();
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
    ) -> Result<Head, AppError> {
        if origin == self.me {
            return Err(SyncError::Forbidden(Refusal::OwnLogPulled).into());
        }
        Ok(self.ingest(parent, origin, start, entries, &cp)?.0)
    }

    /// Child side: entries of this node's own log taken back from the parent's mirror. Only while signing is
    /// held on a gap (the parent holds more of this log than the node: restored from an older backup, or
    /// re-initialised with a new key after a lost disk), only from the parent, and verified like every mirrored
    /// batch (this node's registered keys over each leaf and the checkpoint, indices, payload digests, the
    /// root). Appended under the own log's writer lock, so no new entry can be signed in between.
    pub fn recover_own(
        &self,
        parent: &str,
        start: u64,
        entries: Vec<WireEntry>,
        cp: SignedCheckpoint,
    ) -> Result<Head, AppError> {
        let _w = self.ledger.lock_for_recovery()?;
        let me = self.me.clone();
        Ok(self.ingest(parent, &me, start, entries, &cp)?.0)
    }

    /// Writes an anchor into this node's own log: the origin checkpoint it just mirrored, so the relaying
    /// node's view travels upward signed by it, and the audit can compare vantage points.
    fn anchor(&self, origin: &str, from: &str, cp: &SignedCheckpoint) -> Result<(), AppError> {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let parsed = cp.parse().map_err(|e| AppError::corrupt("checkpoint", e))?;
        let anchor = sync::Anchor {
            format: gongxin_core::format::V1,
            origin: origin.to_string(),
            size: parsed.size,
            root: hex::encode(parsed.root),
            received_from: from.to_string(),
            received_at: now_rfc3339(),
            checkpoint_b64: b64(&cp.note),
            signature_b64: b64(&cp.signature),
        };
        let payload = serde_json::to_vec(&anchor).map_err(|e| AppError::corrupt("anchor", e))?;
        self.ledger
            .append_system(sync::ANCHOR_KIND, &format!("anchor/{origin}/{}", parsed.size), payload, |_| Vec::new())?;
        Ok(())
    }

    /// Takes the mirror writer lock once the mirror of `origin` holds at least `start` entries. A batch that starts
    /// past the held size waits (without the lock) for the batch ahead of it, at most [`ORDER_WAIT`] and only when
    /// one batch could fill the gap ([`sync::MAX_BATCH_ENTRIES`]); otherwise it is refused at once with the
    /// cursor, as before. What may wait is bounded by the listener's upload slots per peer (`grpc::guard`).
    fn wait_for_turn(&self, origin: &str, start: u64) -> Result<(std::sync::MutexGuard<'_, ()>, Head), AppError> {
        let deadline = std::time::Instant::now() + ORDER_WAIT;
        let mut g = self.lock_mirrors()?;
        loop {
            let head = self.ledger.log().head(origin)?;
            if start <= head.size {
                return Ok((g, head));
            }
            let now = std::time::Instant::now();
            if start - head.size > sync::MAX_BATCH_ENTRIES as u64 || now >= deadline {
                return Err(SyncError::Cursor { origin: origin.into(), expected: head.size, got: start }.into());
            }
            g = self
                .mirror_advanced
                .wait_timeout(g, deadline - now)
                .map_err(|_| AppError::Poisoned { what: "mirror writer" })?
                .0;
        }
    }

    /// The shared mirror path of up- and down-sync. Returns the new head and how many entries were appended.
    fn ingest(
        &self,
        from: &str,
        origin: &str,
        start: u64,
        entries: Vec<WireEntry>,
        cp: &SignedCheckpoint,
    ) -> Result<(Head, u64), AppError> {
        if entries.len() > sync::MAX_BATCH_ENTRIES {
            return Err(SyncError::TooLarge { entries: entries.len(), max: sync::MAX_BATCH_ENTRIES }.into());
        }
        // The wire index of every entry must be its place in the batch: it never decides anything the leaf's
        // signed index line does not say (checked against the held or the new leaf below).
        let Some(end) = start.checked_add(entries.len() as u64) else {
            return Err(SyncError::Cursor { origin: origin.into(), expected: 0, got: start }.into());
        };
        for (i, e) in entries.iter().enumerate() {
            let want = start + i as u64;
            if e.index != want {
                return Err(SyncError::BadEntry {
                    index: e.index,
                    problem: EntryProblem::OutOfOrder { expected: want },
                }
                .into());
            }
        }
        let keys = self.keys_for(origin);
        let checkpoint = match sync::check_checkpoint(origin, cp, &keys, &self.verifier) {
            Ok(c) => c,
            Err(e) => {
                if from != origin && matches!(e, SyncError::BadCheckpoint { problem: CheckpointProblem::NotSigned, .. })
                {
                    self.record_evidence(
                        EvidenceKind::ForgedCheckpoint,
                        origin,
                        from,
                        format!("{from} relayed a checkpoint of {origin} that {origin} did not sign"),
                        vec![EvidenceObject::signed("received checkpoint", &cp.note, &cp.signature)],
                    );
                }
                return Err(e.into());
            }
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let time_problem = |problem| SyncError::BadCheckpoint { origin: origin.into(), problem };
        let signed_at = sync::checkpoint_time(&checkpoint, now, None).map_err(time_problem)?;
        if checkpoint.size != end {
            return Err(SyncError::BadCheckpoint {
                origin: origin.into(),
                problem: CheckpointProblem::Size { size: checkpoint.size, batch_end: end },
            }
            .into());
        }
        // Signatures are checked before the writer lock (they depend on no stored state), so a batch in flight
        // behind another is verified while the one ahead of it is written. The verdicts are used below only for
        // the entries this node does not hold yet; held ones are compared byte for byte as before.
        let signed = {
            let incoming: Vec<IncomingEntry<'_>> = entries.iter().map(WireEntry::incoming).collect();
            sync::verify_signatures(&incoming, &keys, &self.verifier)
        };
        let log = self.ledger.log();
        let (_g, head) = self.wait_for_turn(origin, start)?;
        let held_time =
            |c: &SignedCheckpoint| c.parse().ok().and_then(|p| sync::checkpoint_time(&p, i64::MAX, None).ok());
        let newest_held = log.latest_checkpoint(origin)?.as_ref().and_then(held_time);

        // Two signed checkpoints of one size with different roots: equivocation.
        if let Some(held) = log.checkpoint_at(origin, checkpoint.size)? {
            if let Ok(h) = held.parse() {
                if h.root != checkpoint.root {
                    self.record_evidence(
                        EvidenceKind::EquivocationCheckpoint,
                        origin,
                        from,
                        format!("two checkpoints of size {} signed by {origin} with different roots", checkpoint.size),
                        vec![
                            EvidenceObject::signed("held checkpoint", &held.note, &held.signature),
                            EvidenceObject::signed("received checkpoint", &cp.note, &cp.signature),
                        ],
                    );
                    return Err(SyncError::Equivocation {
                        origin: origin.into(),
                        what: Equivocation::CheckpointRoots { size: checkpoint.size },
                    }
                    .into());
                }
            }
        }

        // Entries already held must be byte-identical (idempotent resend). A different leaf is evidence only when
        // the origin signed it AND its own index line places it at this index: a genuine leaf of another index,
        // resent here, frames nobody.
        let overlap = ((head.size - start) as usize).min(entries.len());
        for e in &entries[..overlap] {
            let held =
                log.entry(origin, e.index)?.ok_or_else(|| AppError::corrupt("mirrored log", "held entry missing"))?;
            if held.leaf == e.leaf {
                continue;
            }
            let placed = LeafHeader::decode_at(&e.leaf, origin, e.index);
            if let Err(err) = placed {
                return Err(SyncError::BadEntry { index: e.index, problem: err.into() }.into());
            }
            if self.verifier.verify_any(&keys, &e.leaf, &e.signature).is_err() {
                return Err(SyncError::BadEntry { index: e.index, problem: EntryProblem::ForgedResend }.into());
            }
            self.record_evidence(
                EvidenceKind::EquivocationLeaf,
                origin,
                from,
                format!("a different leaf signed by {origin} at known index {}", e.index),
                vec![
                    EvidenceObject::signed("held leaf", &held.leaf, &held.signature),
                    EvidenceObject::signed("received leaf", &e.leaf, &e.signature),
                ],
            );
            return Err(SyncError::Equivocation {
                origin: origin.into(),
                what: Equivocation::LeafAtIndex { index: e.index },
            }
            .into());
        }
        let new: Vec<WireEntry> = entries.into_iter().skip(overlap).collect();
        if new.is_empty() {
            // A resend or a heartbeat (the batch ends at or below the held size): the checkpoint must match what
            // is held, and is kept if newer.
            let root = log.root_at(origin, checkpoint.size)?;
            if root != checkpoint.root {
                self.record_evidence(
                    EvidenceKind::HistoryRewrite,
                    origin,
                    from,
                    format!(
                        "checkpoint of size {} signed by {origin} is inconsistent with its signed leaves",
                        checkpoint.size
                    ),
                    vec![EvidenceObject::signed("received checkpoint", &cp.note, &cp.signature)],
                );
                return Err(SyncError::Equivocation {
                    origin: origin.into(),
                    what: Equivocation::InconsistentCheckpoint { size: checkpoint.size },
                }
                .into());
            }
            let newer = match log.checkpoint_at(origin, checkpoint.size)? {
                None => true,
                Some(h) => held_time(&h).is_none_or(|t| t < signed_at),
            };
            if newer {
                log.put_checkpoint(origin, cp.clone())?;
            }
            return Ok((head, 0));
        }

        // Appending: the origin's signed time only moves forward.
        sync::checkpoint_time(&checkpoint, now, newest_held).map_err(time_problem)?;
        let incoming: Vec<IncomingEntry<'_>> = new.iter().map(WireEntry::incoming).collect();
        let headers = match sync::check_entries_signed(origin, head.size, &incoming, &keys, &signed[overlap..]) {
            Ok(h) => h,
            Err(SyncError::BadEntry { index, problem }) if from != origin => {
                // A relayed leaf or payload that does not match the origin's signature: the relay altered it.
                if problem.shows_tampering() {
                    let e = new.iter().find(|e| e.index == index);
                    self.record_evidence(
                        EvidenceKind::RelayTampering,
                        origin,
                        from,
                        format!("{from} relayed leaf {index} of {origin}: {problem}"),
                        e.map(|e| vec![EvidenceObject::signed("received leaf", &e.leaf, &e.signature)])
                            .unwrap_or_default(),
                    );
                }
                return Err(SyncError::BadEntry { index, problem }.into());
            }
            Err(e) => return Err(e.into()),
        };
        let mut registry_index = None;
        let mut derived = Vec::with_capacity(new.len());
        let mut new_entries = Vec::with_capacity(new.len());
        for (e, h) in new.into_iter().zip(&headers) {
            if h.kind == REGISTRY_KIND && origin == PROVINCE {
                registry_index = Some(h.index);
            }
            derived.push(views::derive(h, e.payload.as_ref().map(|p| p.0.as_slice()), None));
            new_entries.push(NewEntry { leaf: e.leaf, signature: e.signature, payload: e.payload });
        }
        let mut prepared = log.prepare_append(origin, new_entries)?;
        if prepared.new_root() != checkpoint.root {
            return Err(SyncError::BadCheckpoint {
                origin: origin.into(),
                problem: CheckpointProblem::Root {
                    derived: hex::encode(prepared.new_root()),
                    signed: hex::encode(checkpoint.root),
                },
            }
            .into());
        }
        views::index_batch(&mut prepared, &derived)?;
        if let Some(i) = registry_index {
            prepared.set_origin_meta(REGISTRY_INDEX_META, &i.to_be_bytes())?;
        }
        let appended = prepared.new_size() - head.size;
        let head = log.commit(prepared, Some(cp.clone()))?;
        drop(_g);
        self.mirror_advanced.notify_all();
        if registry_index.is_some() {
            self.reload_registry()?;
        }
        Ok((head, appended))
    }
}
