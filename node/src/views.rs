//! Derived indexes over the logs (DESIGN §2 `views`): today the natural-key index (duplicate detection at
//! import) and the subject index (query by USCC, registration number or ID number); the credit-state, list and
//! query views of the next issues belong here too.
//!
//! *Invariant:* a view row is written only by [`index_batch`], inside the same atomic store batch as the entries
//! it derives from, for the node's own appends and for mirror ingests alike (`app::ledger`, `app::mirror` call
//! it; nothing else writes the `NaturalKey` or `Subject` tables). [`reindex`] rebuilds every view from the
//! logs alone; `tests::reindexed_store_equals_incremental` shows the two agree.
//!
//! | table        | key                                   | value |
//! |--------------|---------------------------------------|-------|
//! | `NaturalKey` | digest 32 ‖ origin u32 ‖ index u64    | empty |
//! | `Subject`    | len u16 ‖ subject ‖ origin ‖ index    | empty |

use crate::store::log::{origin_code, origin_index_key, origin_index_suffix, LogError, Prepared, MAX_SUBJECT_LEN};
use crate::store::{Batch, Store, StoreError, Table};
use gongxin_core::crypto::Digest;
use gongxin_core::envelope::LeafHeader;
use gongxin_core::record::Record;

/// The view tables, in the order [`reindex`] clears and rebuilds them.
pub const VIEW_TABLES: [Table; 2] = [Table::NaturalKey, Table::Subject];

/// What the views derive from one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    pub natural_key: Digest,
    pub subjects: Vec<Vec<u8>>,
}

/// The one derivation: from the signed leaf header and, when held, the record body. `record` may be passed when
/// the caller has just built the payload from it (own appends), so it is not parsed again.
pub fn derive(header: &LeafHeader, payload: Option<&[u8]>, record: Option<&Record>) -> Derived {
    let parsed;
    let record = match record {
        Some(r) => Some(r),
        None => {
            parsed = payload.and_then(|p| Record::from_payload_json(p).ok());
            parsed.as_ref()
        }
    };
    let subjects = record
        .map(|r| {
            r.subject_keys()
                .into_iter()
                .map(String::into_bytes)
                .filter(|s| !s.is_empty() && s.len() <= MAX_SUBJECT_LEN)
                .collect()
        })
        .unwrap_or_default();
    Derived { natural_key: header.natural_key, subjects }
}

fn subject_prefix(subject: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + subject.len() + 12);
    k.extend_from_slice(&(subject.len() as u16).to_be_bytes());
    k.extend_from_slice(subject);
    k
}

fn put_rows(batch: &mut Batch, key: &[u8], d: &Derived) {
    let mut nk = d.natural_key.to_vec();
    nk.extend_from_slice(key);
    batch.put(Table::NaturalKey, nk, Vec::new());
    for s in &d.subjects {
        let mut sk = subject_prefix(s);
        sk.extend_from_slice(key);
        batch.put(Table::Subject, sk, Vec::new());
    }
}

/// Adds the view rows of the prepared entries (`derived[i]` belongs to entry `old_size + i`) to the prepared
/// append's own batch, so they are committed atomically with the entries.
pub fn index_batch(prepared: &mut Prepared, derived: &[Derived]) -> Result<(), LogError> {
    let o = origin_code(&prepared.origin())?;
    let first = prepared.old_size();
    let batch = prepared.view_batch();
    for (i, d) in derived.iter().enumerate() {
        put_rows(batch, &origin_index_key(o, first + i as u64), d);
    }
    Ok(())
}

/// The first stored entry with this natural key, across all origins.
pub fn find_natural_key(store: &impl Store, natural_key: &Digest) -> Result<Option<(String, u64)>, StoreError> {
    let rows = store.scan_prefix(Table::NaturalKey, natural_key, 1)?;
    rows.first().map(|(k, _)| origin_index_suffix(Table::NaturalKey, k)).transpose()
}

/// Every entry about subject `key`, by origin and index.
pub fn by_subject(store: &impl Store, key: &[u8]) -> Result<Vec<(String, u64)>, StoreError> {
    if key.is_empty() || key.len() > MAX_SUBJECT_LEN {
        return Ok(Vec::new());
    }
    let rows = store.scan_prefix(Table::Subject, &subject_prefix(key), usize::MAX)?;
    rows.iter().map(|(k, _)| origin_index_suffix(Table::Subject, k)).collect()
}

/// What [`reindex`] rebuilt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reindexed {
    pub origins: u64,
    pub entries: u64,
    pub rows_removed: u64,
    pub rows_written: u64,
}

/// Rebuilds every view from the logs alone: clears the view tables, then derives the rows of every held entry
/// of every origin, a page at a time, and flushes. Run on a stopped node (`gongxin-node store reindex`).
pub fn reindex<S: Store>(log: &crate::store::log::Log<S>) -> Result<Reindexed, LogError> {
    const PAGE: usize = 2000;
    let store = log.store();
    let mut out = Reindexed::default();
    for table in VIEW_TABLES {
        loop {
            let rows = store.scan(table, &[], None, PAGE, false)?;
            if rows.is_empty() {
                break;
            }
            let mut b = Batch::new();
            for (k, _) in rows {
                b.delete(table, k);
                out.rows_removed += 1;
            }
            store.apply(b)?;
        }
    }
    for (origin, head) in log.origins()? {
        out.origins += 1;
        let o = origin_code(&origin)?;
        let mut at = 0;
        while at < head.size {
            let upto = (at + PAGE as u64).min(head.size);
            let mut b = Batch::new();
            for e in log.entries(&origin, at..upto)? {
                let h = LeafHeader::decode_at(&e.leaf, &origin, e.index)
                    .map_err(|err| LogError::Corrupt { origin: origin.clone(), reason: err.to_string() })?;
                let d = derive(&h, e.payload.as_ref().map(|p| p.0.as_slice()), None);
                out.rows_written += 1 + d.subjects.len() as u64;
                put_rows(&mut b, &origin_index_key(o, e.index), &d);
                out.entries += 1;
            }
            store.apply(b)?;
            at = upto;
        }
    }
    store.flush()?;
    Ok(out)
}
