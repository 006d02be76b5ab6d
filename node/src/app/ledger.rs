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
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// The leaf kind of the signed note that records why rows outside this node's subtree were accepted.
pub const FOREIGN_IMPORT_KIND: &str = "foreign_import";

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
    /// Rows whose natural key is stored with different content: not appended, reported with the fields that
    /// differ (field: the differing fields, comma-separated).
    pub changed: Vec<RowError>,
    /// Accepted rows with a remark (a retired 地方编码 allowed, a foreign row accepted with its reason).
    pub warnings: Vec<RowError>,
    pub size: u64,
    pub root: Digest,
}

/// One row to import: its number, canonical fields and workbook cell notes (`template::CellNote` tags).
#[derive(Debug, Clone, Default)]
pub struct ImportRow {
    pub row: u64,
    pub fields: BTreeMap<String, String>,
    pub notes: BTreeMap<String, String>,
}

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub share: Option<ShareType>,
    /// Validate and compare with the store, write nothing.
    pub dry_run: bool,
    /// Accept rows whose 地方编码/authority lies outside this node's subtree, for this recorded reason.
    pub foreign: Option<String>,
    /// Accept a 地方编码 retired before the decision date (old records), with a warning.
    pub allow_retired_division: bool,
}

/// Today in China (UTC+8), for the future-date check.
fn today_cn() -> Option<gongxin_core::date::Day> {
    let offset = time::UtcOffset::from_hms(8, 0, 0).ok()?;
    Some(gongxin_core::date::Day(time::OffsetDateTime::now_utc().to_offset(offset).date()))
}

/// Top-level (and subject) fields whose values differ between two records of one kind, by payload JSON key.
fn differing_fields(old: &Record, new: &Record) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return vec!["(记录 record)".into()];
    };
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        match (a.get(k), b.get(k)) {
            (Some(serde_json::Value::Object(x)), Some(serde_json::Value::Object(y))) => {
                let sub: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for s in sub {
                    if x.get(s) != y.get(s) {
                        out.push(format!("{k}.{s}"));
                    }
                }
            }
            (x, y) if x != y => out.push(k.clone()),
            _ => {}
        }
    }
    out
}

pub struct NodeStatus {
    pub code: String,
    pub name: String,
    pub level: String,
    pub size: u64,
    pub root: Digest,
    pub checkpoint: Option<SignedCheckpoint>,
    pub public_key_pem: String,
    /// Kind and recorded-at of the newest own entry (None for an empty log).
    pub last_entry: Option<(String, String)>,
}

pub struct Ledger {
    code: String,
    name: String,
    level: String,
    key: SigningKey,
    log: Log<SharedStore>,
    refs: &'static RefData,
    writer: Mutex<()>,
    /// The node's counters (`http::metrics`), shared with every use case that counts.
    metrics: Arc<crate::http::metrics::Metrics>,
    /// Set while this node must not sign new entries of its own log (see [`SigningHold`]).
    hold: Mutex<Option<SigningHold>>,
    /// The restore marker of an [`SigningHold::AwaitingParent`] hold, kept when it turns into a gap, so the
    /// marker goes when the gap is closed.
    marker: Mutex<Option<std::path::PathBuf>>,
}

/// Why a node signs no new entries: its parent's mirror may hold entries of this node's log it lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SigningHold {
    /// Restored from a backup: held until the first uplink round compares the parent's cursor with the local
    /// head; released (and the marker file removed) when the parent holds no more than the local log.
    AwaitingParent { marker: std::path::PathBuf },
    /// The parent holds more entries of this log than the node: signing index `local` again would fork the log.
    Gap { parent: String, parent_size: u64, local: u64 },
}

impl std::fmt::Display for SigningHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SigningHold::AwaitingParent { .. } => write!(
                f,
                "本节点从备份恢复，等待与上级核对日志头后才签发新记录 restored from a backup: no new entries are signed \
                 until the first uplink round has compared the parent's copy of this log with the local head"
            ),
            SigningHold::Gap { parent, parent_size, local } => write!(
                f,
                "上级 {parent} 持有本节点日志 {parent_size} 条，本地只有 {local} 条（缺第 {local}..{parent_size} 条）：\
                 停止签发新记录，请按 deploy/RUNBOOK.md“从市级镜像恢复县级节点”处理 / the parent {parent} holds \
                 {parent_size} entries of this node's log, this node only {local} (gap {local}..{parent_size}): \
                 signing new entries is stopped (a new entry at index {local} would fork the log); restore from the \
                 parent's mirror (deploy/RUNBOOK.md)"
            ),
        }
    }
}

impl Ledger {
    /// Opens the node's store and key as configured.
    pub fn open(cfg: &Config) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let key_path = cfg.key_path();
        let pem = std::fs::read_to_string(&key_path).with_context(|| format!("read {}", key_path.display()))?;
        let key = SigningKey::from_pkcs8_pem(&pem).with_context(|| format!("load {}", key_path.display()))?;
        let store = cfg.open_store().with_context(|| format!("open store {}", cfg.store_path().display()))?;
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
            metrics: Arc::default(),
            hold: Mutex::new(None),
            marker: Mutex::new(None),
        }
    }

    /// The same ledger counting into `metrics` (the one `Metrics` of the process, created in `daemon`).
    pub fn with_metrics(mut self, metrics: Arc<crate::http::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn metrics(&self) -> &Arc<crate::http::metrics::Metrics> {
        &self.metrics
    }

    fn lock_writer(&self) -> Result<MutexGuard<'_, ()>, AppError> {
        self.writer.lock().map_err(|_| AppError::Poisoned { what: "own log writer" })
    }

    /// The writer lock for signing new entries: refused while a [`SigningHold`] is set.
    fn lock_signer(&self) -> Result<MutexGuard<'_, ()>, AppError> {
        let w = self.lock_writer()?;
        if let Some(h) = self.signing_hold() {
            return Err(AppError::SigningHeld { reason: h.to_string() });
        }
        Ok(w)
    }

    /// Why new entries are not signed, if they are not.
    pub fn signing_hold(&self) -> Option<SigningHold> {
        self.hold.lock().map(|h| h.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Stops signing new entries of the own log (a restored node before its parent check, or a gap).
    pub fn hold_signing(&self, hold: SigningHold) {
        let mut h = self.hold.lock().unwrap_or_else(|p| p.into_inner());
        if let SigningHold::AwaitingParent { marker } = &hold {
            *self.marker.lock().unwrap_or_else(|p| p.into_inner()) = Some(marker.clone());
        }
        // A gap is never downgraded to "awaiting".
        if !matches!(*h, Some(SigningHold::Gap { .. })) {
            *h = Some(hold);
        }
    }

    /// The parent holds `parent_size` entries of this node's log. More than the local head: signing stops
    /// (returns the hold). Otherwise an [`SigningHold::AwaitingParent`] is released, and so is a gap once the
    /// local log holds everything the parent was seen to hold (its entries were taken back, see
    /// `Federation::recover_own`); the restore marker is removed.
    pub fn compare_with_parent(&self, parent: &str, parent_size: u64) -> Result<Option<SigningHold>, AppError> {
        let _w = self.lock_writer()?;
        let local = self.log.head(&self.code)?.size;
        let mut h = self.hold.lock().unwrap_or_else(|p| p.into_inner());
        if parent_size > local {
            // A gap never shrinks: the largest size the parent was seen to hold is what must be taken back.
            let seen = match h.as_ref() {
                Some(SigningHold::Gap { parent_size: s, .. }) => (*s).max(parent_size),
                _ => parent_size,
            };
            let gap = SigningHold::Gap { parent: parent.to_string(), parent_size: seen, local };
            *h = Some(gap.clone());
            return Ok(Some(gap));
        }
        let release = match h.as_ref() {
            Some(SigningHold::AwaitingParent { .. }) => true,
            Some(SigningHold::Gap { parent_size: seen, .. }) => local >= *seen,
            None => false,
        };
        if release {
            if let Some(marker) = self.marker.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = std::fs::remove_file(marker);
            }
            *h = None;
        }
        Ok(h.clone())
    }

    /// The own log's writer lock for taking entries back from the parent's mirror: only while signing is held
    /// on a gap (otherwise the node's own log is written by signing only).
    pub(crate) fn lock_for_recovery(&self) -> Result<MutexGuard<'_, ()>, AppError> {
        let w = self.lock_writer()?;
        match self.signing_hold() {
            Some(SigningHold::Gap { .. }) => Ok(w),
            _ => Err(gongxin_core::sync::SyncError::Forbidden(gongxin_core::sync::Refusal::OwnLogPulled).into()),
        }
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
        let _w = self.lock_signer()?;
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
        // Best effort: the status must answer even when the newest entry cannot be read (a full disk, where a
        // failed batch may leave sled's in-memory view torn until the restart recovers from the durable state).
        let last_entry = head.size.checked_sub(1).and_then(|i| {
            let e = self
                .log
                .entry(&self.code, i)
                .map_err(|e| tracing::warn!(error = %e, "newest entry unreadable"))
                .ok()??;
            let h = LeafHeader::decode_at(&e.leaf, &self.code, i).ok()?;
            Some((h.kind, h.recorded_at))
        });
        Ok(NodeStatus {
            last_entry,
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
        let rows = rows.into_iter().map(|(row, fields)| ImportRow { row, fields, notes: BTreeMap::new() }).collect();
        self.import_with(kind, source, rows, &ImportOptions { share, ..ImportOptions::default() })
    }

    /// [`Ledger::import`] with cell notes and options: rows outside this node's subtree are refused unless
    /// `foreign` gives a reason (logged with the rows); a dry run writes nothing.
    pub fn import_with(
        &self,
        kind: Kind,
        source: &str,
        rows: Vec<ImportRow>,
        opts: &ImportOptions,
    ) -> Result<ImportOutcome, AppError> {
        let checks = template::Checks { today: today_cn(), allow_retired_division: opts.allow_retired_division };
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let mut records = Vec::new();
        let mut foreign_rows: Vec<u64> = Vec::new();
        // Validation is pure: every core takes a share of the rows; the results are used in row order.
        let refs = self.refs;
        let validated =
            par_map(&rows, |r| template::validate_row_with(kind, r.row, &r.fields, &r.notes, refs, &checks));
        for (r, (result, w)) in rows.iter().zip(validated) {
            warnings.extend(w);
            match result {
                Ok(rec) => match template::belongs_to(&rec, &self.code, self.refs) {
                    Ok(()) => records.push((r.row, rec)),
                    Err((field, reason)) => match &opts.foreign {
                        Some(why) => {
                            warnings.push(RowError {
                                row: r.row,
                                field: field.clone(),
                                reason: format!("外地记录，按 --foreign 接受：{why} (foreign row accepted: {why})"),
                            });
                            tracing::warn!(
                                source,
                                row = r.row,
                                field,
                                reason = why.as_str(),
                                "foreign row accepted outside this node's subtree"
                            );
                            foreign_rows.push(r.row);
                            records.push((r.row, rec));
                        }
                        None => errors.push(RowError { row: r.row, field, reason }),
                    },
                },
                Err(errs) => errors.extend(errs),
            }
        }
        let before = self.log.head(&self.code)?.size;
        let mut out = self.append_records_with(records, opts.share, opts.dry_run)?;
        if let (Some(why), false, false) = (&opts.foreign, opts.dry_run, foreign_rows.is_empty()) {
            if out.size > before {
                // The reason travels with the data: a signed note in this node's own log names the file, the rows
                // and the log range they were appended in.
                let note = serde_json::json!({
                    "kind": kind.as_str(), "source": source, "reason": why, "rows": foreign_rows,
                    "log_range": [before, out.size],
                });
                let nk = format!("foreign-import|{source}|{before}|{}", out.size);
                let payload = serde_json::to_vec(&note).map_err(|e| AppError::corrupt("foreign note", e))?;
                let at = self.append_system(FOREIGN_IMPORT_KIND, &nk, payload, |_| Vec::new())?;
                out.size = at + 1;
            }
        }
        out.errors = errors;
        out.warnings.extend(warnings);
        self.metrics.import_chunk(&out, opts.dry_run);
        tracing::info!(source, kind = ?kind, accepted = out.accepted, rejected = out.errors.len(),
            duplicates = out.duplicates, changed = out.changed.len(), dry_run = opts.dry_run, "import chunk");
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
        let out = self.append_records(vec![(1, record)], share)?;
        // A record whose key is held with other content is not appended: say so instead of "0 accepted".
        if let Some(c) = out.changed.first() {
            return Err(AppError::Invalid { field: "record", reason: format!("{} [{}]", c.reason, c.field) });
        }
        Ok(out)
    }

    /// Signs `records` (skipping natural keys already held) and appends them as one atomic, flushed batch
    /// ending in a signed checkpoint. Returns only after the batch is durable.
    pub(crate) fn append_records(
        &self,
        records: Vec<(u64, Record)>,
        share: Option<ShareType>,
    ) -> Result<ImportOutcome, AppError> {
        self.append_records_with(records, share, false)
    }

    /// The stored record under a natural key, if its payload is here and parses.
    fn stored_record(&self, at: &(String, u64)) -> Result<Option<Record>, AppError> {
        let Some(e) = self.log.entry(&at.0, at.1)? else { return Ok(None) };
        Ok(e.payload.and_then(|(p, _)| Record::from_payload_json(&p).ok()))
    }

    /// Records appended before the natural key named the subject (`kind|authority|文书号`, issue 12) are indexed
    /// under that shorter key: the stored record is this one when its key, as computed now, is `nk`.
    fn stored_under_legacy_key(&self, nk: &str) -> Result<Option<(String, Record)>, AppError> {
        let Some((legacy, _subject)) = nk.rsplit_once('|') else { return Ok(None) };
        let Some(at) = views::find_natural_key(self.log.store(), &crypto::sm3(legacy.as_bytes()))? else {
            return Ok(None);
        };
        Ok(self
            .stored_record(&at)?
            .filter(|r| r.natural_key() == nk)
            .map(|r| (format!("日志 {} 第 {} 条 log {} index {}", at.0, at.1, at.0, at.1), r)))
    }

    /// [`Ledger::append_records`]; a known natural key with the same content is a duplicate, with different
    /// content a change (reported with the differing fields, never appended); `dry_run` writes nothing.
    fn append_records_with(
        &self,
        records: Vec<(u64, Record)>,
        share: Option<ShareType>,
        dry_run: bool,
    ) -> Result<ImportOutcome, AppError> {
        let _w = if dry_run { self.lock_writer()? } else { self.lock_signer()? };
        let head = self.log.head(&self.code)?;
        let mut out = ImportOutcome::default();
        let mut seen: HashMap<Digest, (u64, Record)> = HashMap::new();
        let mut to_sign: Vec<(Record, u64, Digest)> = Vec::new();
        let mut entries = Vec::new();
        let mut derived = Vec::new();
        let recorded_at = now_rfc3339();
        for (row, record) in records {
            let nk = record.natural_key();
            let nk_digest = crypto::sm3(nk.as_bytes());
            let earlier = match seen.get(&nk_digest) {
                Some((first, r)) => Some((format!("本次第 {first} 行 row {first} of this import"), r.clone())),
                None => match views::find_natural_key(self.log.store(), &nk_digest)? {
                    Some(at) => self
                        .stored_record(&at)?
                        .map(|r| (format!("日志 {} 第 {} 条 log {} index {}", at.0, at.1, at.0, at.1), r))
                        .or_else(|| Some((format!("log {} index {}", at.0, at.1), record.clone()))),
                    None => self.stored_under_legacy_key(&nk)?,
                },
            };
            if let Some((where_, old)) = earlier {
                let diff = differing_fields(&old, &record);
                if diff.is_empty() {
                    out.duplicates += 1;
                    out.skipped.push(RowError {
                        row,
                        field: "自然键 natural key".into(),
                        reason: format!("已存在，跳过 already stored, skipped: {nk}"),
                    });
                } else {
                    out.changed.push(RowError {
                        row,
                        field: diff.join(","),
                        reason: format!(
                            "与已有记录（{where_}）的机关、文书号和主体相同但内容不同，未导入；如为更正请用 gongxin amend … 更正 \
                             (same key as a stored record but different content: not imported; correct it with an amendment): {nk}"
                        ),
                    });
                }
                continue;
            }
            seen.insert(nk_digest, (row, record.clone()));
            let index = head.size + to_sign.len() as u64;
            to_sign.push((record, index, nk_digest));
        }
        // Signing (payload, leaf, SM3, SM2) is the cost of an import: every core signs a contiguous share, in
        // index order; nothing is written before the whole batch is ready.
        for (entry, d) in
            par_map(&to_sign, |(record, index, nk)| self.entry_for(record, *index, *nk, &recorded_at, share))
        {
            entries.push(entry);
            derived.push(d);
        }
        if entries.is_empty() || dry_run {
            out.accepted = entries.len() as u64;
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

    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<StoredEntry>, AppError> {
        Ok(self.log.entries(&self.code, start..end)?)
    }

    pub fn checkpoints(&self) -> Result<Vec<SignedCheckpoint>, AppError> {
        Ok(self.log.checkpoints(&self.code)?)
    }
}

/// Rows below this are mapped on the calling thread (threads cost more than they save).
const PAR_MIN_ITEMS: usize = 64;

/// Maps `f` over `items` on every core (scoped threads over contiguous shares) and returns the results in the
/// items' order. A panic in a worker is resumed on the caller (as if `f` had run there).
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores <= 1 || items.len() < PAR_MIN_ITEMS {
        return items.iter().map(f).collect();
    }
    let share = items.len().div_ceil(cores);
    let f = &f;
    std::thread::scope(|s| {
        let workers: Vec<_> =
            items.chunks(share).map(|c| s.spawn(move || c.iter().map(f).collect::<Vec<R>>())).collect();
        let mut out = Vec::with_capacity(items.len());
        for w in workers {
            match w.join() {
                Ok(part) => out.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

#[cfg(test)]
mod import_tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use gongxin_core::testdata;

    fn ledger() -> Ledger {
        Ledger::new("430102", "芙蓉区", "county", SigningKey::generate(), Arc::new(MemoryStore::new()))
    }

    fn rows(seed: u64, n: usize) -> Vec<ImportRow> {
        testdata::rows(Kind::License, seed, "430102", n)
            .into_iter()
            .enumerate()
            .map(|(i, fields)| ImportRow { row: i as u64 + 1, fields, notes: BTreeMap::new() })
            .collect()
    }

    #[test]
    fn par_map_keeps_the_order_and_resumes_a_worker_panic() {
        let items: Vec<u64> = (0..1000).collect();
        assert_eq!(par_map(&items, |x| x * 2), items.iter().map(|x| x * 2).collect::<Vec<_>>());
        let r = std::panic::catch_unwind(|| par_map(&items, |x| if *x == 999 { panic!("boom") } else { *x }));
        assert!(r.is_err());
    }

    #[test]
    fn a_large_chunk_is_signed_on_every_core_in_index_order() {
        let l = ledger();
        let plain = |v: Vec<ImportRow>| v.into_iter().map(|r| (r.row, r.fields)).collect::<Vec<_>>();
        let out = l.import(Kind::License, "t", plain(rows(11, 300)), None).unwrap();
        assert_eq!((out.accepted, out.size), (300, 300));
        let pk = l.signing_key().public_key();
        for (i, e) in l.entries(0, 300).unwrap().iter().enumerate() {
            let h = LeafHeader::decode_at(&e.leaf, "430102", i as u64).unwrap();
            assert_eq!(h.index, i as u64);
            pk.verify(&e.leaf, &e.signature).unwrap();
            let (payload, _) = e.payload.as_ref().unwrap();
            assert_eq!(h.payload_digest, crypto::sm3(payload));
        }
        // The same rows again: every one a duplicate (the natural keys were indexed in order).
        assert_eq!(l.import(Kind::License, "t", plain(rows(11, 300)), None).unwrap().duplicates, 300);
    }

    /// A store written before the natural key named the subject: its records are indexed under
    /// `kind|authority|文书号`. Re-importing them is a duplicate (or a change), never a second copy.
    #[test]
    fn records_under_the_legacy_key_are_recognised() {
        let l = ledger();
        let batch = rows(3, 4);
        for r in &batch {
            let rec = template::validate_row(Kind::License, r.row, &r.fields, l.refs).unwrap();
            let nk = rec.natural_key();
            let (legacy, _) = nk.rsplit_once('|').unwrap();
            l.append_system("license", legacy, rec.to_payload_json(), |_| Vec::new()).unwrap();
        }
        let out = l.import_with(Kind::License, "t", batch.clone(), &ImportOptions::default()).unwrap();
        assert_eq!((out.accepted, out.duplicates, out.changed.len(), out.size), (0, 4, 0, 4), "{:?}", out.errors);
        let mut changed = batch;
        changed[1].fields.insert(template::f::L_CONTENT.into(), "更正后的许可内容".into());
        let out = l.import_with(Kind::License, "t", changed, &ImportOptions::default()).unwrap();
        assert_eq!((out.accepted, out.duplicates, out.size), (0, 3, 4));
        assert_eq!((out.changed[0].row, out.changed[0].field.as_str()), (2, "content"));
    }

    /// `record publish` of a list entry whose key is held with another reason is refused, naming the field.
    #[test]
    fn a_changed_published_record_is_refused_not_counted_as_zero() {
        let l = ledger();
        let row = testdata::Generator::new(9, "430102").list_row();
        let rec = template::validate_row(Kind::List, 1, &row, l.refs).unwrap();
        assert_eq!(l.publish(&rec.to_payload_json(), None).unwrap().accepted, 1);
        assert_eq!(l.publish(&rec.to_payload_json(), None).unwrap().duplicates, 1);
        let Record::ListEntry(mut e) = rec else { panic!("not a list entry") };
        e.reason = "另一个原因".into();
        match l.publish(&Record::ListEntry(e).to_payload_json(), None) {
            Err(AppError::Invalid { reason, .. }) => assert!(reason.ends_with("[reason]"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(l.status().unwrap().size, 1);
    }

    #[test]
    fn dry_run_writes_nothing_and_a_change_lists_its_fields() {
        let l = ledger();
        let dry = ImportOptions { dry_run: true, ..ImportOptions::default() };
        let out = l.import_with(Kind::License, "t", rows(5, 6), &dry).unwrap();
        assert_eq!((out.accepted, out.size), (6, 0));
        assert_eq!(l.status().unwrap().size, 0);
        l.import_with(Kind::License, "t", rows(5, 6), &ImportOptions::default()).unwrap();
        let mut changed = rows(5, 6);
        changed[0].fields.insert(template::f::L_CONTENT.into(), "新内容".into());
        changed[0].fields.insert(template::f::NAME.into(), "长沙新名称有限公司".into());
        let out = l.import_with(Kind::License, "t", changed, &dry).unwrap();
        assert_eq!(out.changed[0].field, "content,subject.name");
        assert_eq!((out.accepted, out.duplicates, out.size), (0, 5, 6));
    }
}
