//! The node's own log: validate import rows, sign them, append them with their view rows as one atomic flushed
//! batch with a freshly signed checkpoint, answer queries. The only writer of the node's own origin (its
//! writer lock also covers every read-modify-write of the next index).

use super::{now_rfc3339, AppError};
use crate::config::Config;
use crate::store::log::{Log, NewEntry, StoredEntry};
use crate::store::Store;
use crate::views::{self, Derived};
use gongxin_core::checkpoint::{Checkpoint, SignedCheckpoint};
use gongxin_core::crypto::{self, Digest, SigningKey};
use gongxin_core::envelope::LeafHeader;
use gongxin_core::record::{Record, ShareType};
use gongxin_core::template::{self, Kind, RefData, RowError};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// The store every use case works on: sled in production, memory in unit tests.
pub type SharedStore = Arc<dyn Store>;

/// What one import call did.
#[derive(Debug, Default)]
pub struct ImportOutcome {
    pub accepted: u64,
    pub duplicates: u64,
    /// Rejected rows (row, field, reason), and rows skipped as duplicates (field `自然键`).
    pub errors: Vec<RowError>,
    pub skipped: Vec<RowError>,
    pub size: u64,
    pub root: Digest,
}

pub struct NodeStatus {
    pub code: String,
    pub name: String,
    pub level: String,
    pub size: u64,
    pub root: Digest,
    pub checkpoint: Option<SignedCheckpoint>,
    pub public_key_pem: String,
}

pub struct Hit {
    pub origin: String,
    pub index: u64,
    pub kind: String,
    pub body_json: String,
}

pub struct Ledger {
    code: String,
    name: String,
    level: String,
    key: SigningKey,
    log: Log<SharedStore>,
    refs: &'static RefData,
    writer: Mutex<()>,
}

impl Ledger {
    /// Opens the node's store and key as configured.
    pub fn open(cfg: &Config) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let key_path = cfg.key_path();
        let pem = std::fs::read_to_string(&key_path).with_context(|| format!("read {}", key_path.display()))?;
        let key = SigningKey::from_pkcs8_pem(&pem).with_context(|| format!("load {}", key_path.display()))?;
        let store = crate::store::sled::SledStore::open(&cfg.store_path())
            .with_context(|| format!("open store {}", cfg.store_path().display()))?;
        Ok(Self::new(&cfg.code, &cfg.name, &cfg.level, key, Arc::new(store)))
    }

    /// A ledger over any store (the in-memory one in unit tests).
    pub fn new(code: &str, name: &str, level: &str, key: SigningKey, store: SharedStore) -> Self {
        Self {
            code: code.to_string(),
            name: name.to_string(),
            level: level.to_string(),
            key,
            log: Log::new(store),
            refs: RefData::embedded(),
            writer: Mutex::new(()),
        }
    }

    fn lock_writer(&self) -> Result<MutexGuard<'_, ()>, AppError> {
        self.writer.lock().map_err(|_| AppError::Poisoned { what: "own log writer" })
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    /// The logs this node holds (its own and its mirrors).
    pub fn log(&self) -> &Log<SharedStore> {
        &self.log
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// Appends one system entry (e.g. a registry version on the province) to the node's own log, signed,
    /// with the origin-metadata `meta(index)` gives written in the same atomic batch. The index is computed under
    /// the writer lock, so metadata that names it (the registry's or the report's index) names this entry.
    /// Returns its index.
    pub fn append_system(
        &self,
        kind: &str,
        natural_key: &str,
        payload: Vec<u8>,
        meta: impl FnOnce(u64) -> Vec<(&'static str, Vec<u8>)>,
    ) -> Result<u64, AppError> {
        let _w = self.lock_writer()?;
        let head = self.log.head(&self.code)?;
        let recorded_at = now_rfc3339();
        let nk = crypto::sm3(natural_key.as_bytes());
        let header = LeafHeader {
            origin: self.code.clone(),
            index: head.size,
            kind: kind.to_string(),
            share: ShareType::Unconditional,
            disclosure: gongxin_core::record::Disclosure::GovernmentOnly,
            recorded_at: recorded_at.clone(),
            decided_on: recorded_at[..10].to_string(),
            natural_key: nk,
            payload_digest: crypto::sm3(&payload),
        };
        let leaf = header.encode();
        let signature = self.key.sign(&leaf);
        let derived = views::derive(&header, None, None);
        let entry = NewEntry { leaf, signature, payload: Some((payload, "json".into())) };
        let mut prepared = self.log.prepare_append(&self.code, vec![entry])?;
        views::index_batch(&mut prepared, &[derived])?;
        for (name, value) in meta(head.size) {
            prepared.set_origin_meta(name, &value)?;
        }
        let cp = self.sign_checkpoint(prepared.new_size(), prepared.new_root());
        self.log.commit(prepared, Some(cp))?;
        Ok(head.size)
    }

    pub fn status(&self) -> Result<NodeStatus, AppError> {
        let head = self.log.head(&self.code)?;
        Ok(NodeStatus {
            code: self.code.clone(),
            name: self.name.clone(),
            level: self.level.clone(),
            size: head.size,
            root: head.root,
            checkpoint: self.log.latest_checkpoint(&self.code)?,
            public_key_pem: self.key.public_key().to_spki_pem(),
        })
    }

    fn sign_checkpoint(&self, size: u64, root: Digest) -> SignedCheckpoint {
        SignedCheckpoint::sign(&Checkpoint::new(&self.code, size, root, &now_rfc3339()), &self.key)
    }

    /// Signs a heartbeat checkpoint of the current head (freshness while idle).
    pub fn heartbeat(&self) -> Result<(), AppError> {
        let _w = self.lock_writer()?;
        let head = self.log.head(&self.code)?;
        let cp = self.sign_checkpoint(head.size, head.root);
        self.log.put_checkpoint(&self.code, cp)?;
        Ok(())
    }

    /// Validates `rows`, skips natural keys already held, signs the rest and appends them as one atomic,
    /// flushed batch ending in a signed checkpoint. Returns only after the batch is durable.
    pub fn import(
        &self,
        kind: Kind,
        source: &str,
        rows: Vec<(u64, BTreeMap<String, String>)>,
        share: Option<ShareType>,
    ) -> Result<ImportOutcome, AppError> {
        let mut errors = Vec::new();
        let mut records = Vec::new();
        for (row, fields) in rows {
            match template::validate_row(kind, row, &fields, self.refs) {
                Ok(r) => records.push((row, r)),
                Err(errs) => errors.extend(errs),
            }
        }
        let mut out = self.append_records(records, share)?;
        out.errors = errors;
        tracing::info!(source, kind = ?kind, accepted = out.accepted, rejected = out.errors.len(),
            duplicates = out.duplicates, "import chunk");
        Ok(out)
    }

    /// Publishes one record given as JSON (list entries, commitments, amendments): checked, signed, appended.
    pub fn publish(&self, record_json: &[u8], share: Option<ShareType>) -> Result<ImportOutcome, AppError> {
        let record: Record = serde_json::from_slice(record_json)
            .map_err(|e| AppError::Invalid { field: "record JSON", reason: e.to_string() })?;
        let mut problems = Vec::new();
        let (authority, subject) = match &record {
            Record::ListEntry(r) => (r.authority_uscc.as_str(), Some(&r.subject)),
            Record::Commitment(r) => (r.authority_uscc.as_str(), Some(&r.subject)),
            Record::Amendment(r) => (r.authority_uscc.as_str(), None),
            Record::License(_) | Record::Penalty(_) => {
                return Err(AppError::Invalid {
                    field: "kind",
                    reason: "licences and penalties are imported from the 双公示 template: use `gongxin import`".into(),
                })
            }
        };
        if let Err(e) = gongxin_core::uscc::validate(authority) {
            problems.push(format!("authority_uscc: {e}"));
        }
        if let Some(s) = subject {
            if s.keys().is_empty() {
                problems.push("subject: no code to identify the entity".into());
            }
            if let Some(u) = s.uscc.as_deref().filter(|u| !gongxin_core::uscc::is_placeholder(u)) {
                if let Err(e) = gongxin_core::uscc::validate(u) {
                    problems.push(format!("subject.uscc: {e}"));
                }
            }
            if let Some(id) = s.id_no.as_deref() {
                if let Err(e) = gongxin_core::idcard::validate(id) {
                    problems.push(format!("subject.id_no: {e}"));
                }
            }
        }
        if !problems.is_empty() {
            return Err(AppError::Invalid { field: "record", reason: problems.join("; ") });
        }
        if let Record::Amendment(a) = &record {
            self.check_amendment(a)?;
        }
        self.append_records(vec![(1, record)], share)
    }

    /// Signs `records` (skipping natural keys already held) and appends them as one atomic, flushed batch
    /// ending in a signed checkpoint. Returns only after the batch is durable.
    pub(crate) fn append_records(
        &self,
        records: Vec<(u64, Record)>,
        share: Option<ShareType>,
    ) -> Result<ImportOutcome, AppError> {
        let _w = self.lock_writer()?;
        let head = self.log.head(&self.code)?;
        let mut out = ImportOutcome::default();
        let mut seen: HashSet<Digest> = HashSet::new();
        let mut entries = Vec::new();
        let mut derived = Vec::new();
        let recorded_at = now_rfc3339();
        for (row, record) in records {
            let nk = record.natural_key();
            let nk_digest = crypto::sm3(nk.as_bytes());
            if !seen.insert(nk_digest) || views::find_natural_key(self.log.store(), &nk_digest)?.is_some() {
                out.duplicates += 1;
                out.skipped.push(RowError {
                    row,
                    field: "自然键 natural key".into(),
                    reason: format!("已存在，跳过 already stored, skipped: {nk}"),
                });
                continue;
            }
            let index = head.size + entries.len() as u64;
            let (entry, d) = self.entry_for(&record, index, nk_digest, &recorded_at, share);
            entries.push(entry);
            derived.push(d);
        }
        if entries.is_empty() {
            out.size = head.size;
            out.root = head.root;
            return Ok(out);
        }
        out.accepted = entries.len() as u64;
        let mut prepared = self.log.prepare_append(&self.code, entries)?;
        views::index_batch(&mut prepared, &derived)?;
        let cp = self.sign_checkpoint(prepared.new_size(), prepared.new_root());
        let head = self.log.commit(prepared, Some(cp))?;
        out.size = head.size;
        out.root = head.root;
        Ok(out)
    }

    fn entry_for(
        &self,
        record: &Record,
        index: u64,
        natural_key: Digest,
        recorded_at: &str,
        share: Option<ShareType>,
    ) -> (NewEntry, Derived) {
        let payload = record.to_payload_json();
        let header = LeafHeader {
            origin: self.code.clone(),
            index,
            kind: record.kind_str().to_string(),
            share: share.unwrap_or_else(|| record.share_type()),
            disclosure: record.disclosure(),
            recorded_at: recorded_at.to_string(),
            decided_on: record.decision_date().to_string(),
            natural_key,
            payload_digest: crypto::sm3(&payload),
        };
        let leaf = header.encode();
        let signature = self.key.sign(&leaf);
        let derived = views::derive(&header, None, Some(record));
        (NewEntry { leaf, signature, payload: Some((payload, "json".to_string())) }, derived)
    }

    /// Records held about an entity (any subject code: USCC, registration number, ID number).
    pub fn query(&self, subject: &str) -> Result<Vec<Hit>, AppError> {
        let subject = subject.trim();
        if subject.is_empty() {
            return Err(AppError::Invalid { field: "subject", reason: "empty subject code".into() });
        }
        let mut hits = Vec::new();
        for (origin, index) in views::by_subject(self.log.store(), subject.as_bytes())? {
            let Some(e) = self.log.entry(&origin, index)? else { continue };
            let kind = LeafHeader::decode(&e.leaf).map(|h| h.kind).unwrap_or_else(|_| "?".into());
            let body_json = e.payload.map(|(p, _)| String::from_utf8_lossy(&p).into_owned()).unwrap_or_default();
            hits.push(Hit { origin, index, kind, body_json });
        }
        Ok(hits)
    }

    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<StoredEntry>, AppError> {
        Ok(self.log.entries(&self.code, start..end)?)
    }

    pub fn checkpoints(&self) -> Result<Vec<SignedCheckpoint>, AppError> {
        Ok(self.log.checkpoints(&self.code)?)
    }
}
