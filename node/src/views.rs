//! Derived indexes over the logs (DESIGN §2 `views`): the natural-key index (duplicate detection at import,
//! amendment targets), the subject index (query by USCC, registration number or ID number), the amendment-target
//! index (which amendments point at a record, so its state folds at read time) and the kind index (list entries
//! and their amendments, catalogues, check feedback), over the node's own log, its mirrors and the list entries
//! fed to it from other subtrees (`Table::FeedItem`).
//!
//! *Invariant:* a view row is written only by [`index_batch`] (log entries) or [`feed_rows`] (fed items), inside
//! the same atomic store batch as the entries it derives from, for the node's own appends, mirror ingests and
//! feed ingests alike (`app::ledger`, `app::mirror`, `app::feed` call them; nothing else writes the view tables).
//! [`reindex`] rebuilds every view from the logs and fed items alone; `tests::reindexed_store_equals_incremental`
//! shows the two agree.
//!
//! | table         | key                                                        | value |
//! |---------------|------------------------------------------------------------|-------|
//! | `NaturalKey`  | digest 32 ‖ origin u32 ‖ index u64                          | empty |
//! | `Subject`     | len u16 ‖ subject ‖ origin ‖ index                          | empty |
//! | `AmendTarget` | target natural key 32 ‖ target origin u32 ‖ origin ‖ index  | empty |
//! | `KindIndex`   | class u8 ‖ origin ‖ index                                   | empty |
//! | `Name`        | normalised name key ‖ 0 ‖ origin ‖ index                    | empty |

use crate::store::log::{origin_code, origin_index_key, origin_index_suffix, LogError, Prepared, MAX_SUBJECT_LEN};
use crate::store::{Batch, Store, StoreError, Table};
use gongxin_core::crypto::Digest;
use gongxin_core::envelope::LeafHeader;
use gongxin_core::record::Record;
use gongxin_core::state::PROVINCE;

/// The view tables, in the order [`reindex`] clears and rebuilds them.
pub const VIEW_TABLES: [Table; 5] =
    [Table::NaturalKey, Table::Subject, Table::AmendTarget, Table::KindIndex, Table::Name];

/// Classes of the kind index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum KindClass {
    /// A list entry, or an amendment of one: what travels to every node and what a check reads.
    List = 1,
    /// A measure catalogue published by the province.
    Catalogue = 2,
    /// Check feedback (反馈).
    Feedback = 3,
}

/// What the views derive from one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    pub natural_key: Digest,
    pub subjects: Vec<Vec<u8>>,
    /// For an amendment: its target's natural-key digest and origin.
    pub amends: Option<(Digest, u32)>,
    pub class: Option<KindClass>,
    /// Name search keys of the subject (`core::names::index_keys`).
    pub names: Vec<String>,
}

/// The one derivation: from the signed leaf header and, when held, the record body. `record` may be passed when
/// the caller has just built the payload from it (own appends), so it is not parsed again.
pub fn derive(header: &LeafHeader, payload: Option<&[u8]>, record: Option<&Record>) -> Derived {
    let parsed;
    let record = match record {
        Some(r) => Some(r),
        None if is_record_kind(&header.kind) => {
            parsed = payload.and_then(|p| Record::from_payload_json(p).ok());
            parsed.as_ref()
        }
        None => None,
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
    let mut amends = None;
    let mut class = None;
    match record {
        Some(Record::ListEntry(_)) => class = Some(KindClass::List),
        Some(Record::Amendment(a)) => {
            if let Ok(o) = origin_code(&a.target.origin) {
                amends = Some((gongxin_core::crypto::sm3(a.target.natural_key.as_bytes()), o));
            }
            if a.target.natural_key.starts_with("list_entry|") {
                class = Some(KindClass::List);
            }
        }
        _ => {}
    }
    if header.kind == gongxin_core::catalogue::CATALOGUE_KIND && header.origin == PROVINCE {
        class = Some(KindClass::Catalogue);
    } else if header.kind == gongxin_core::check::FEEDBACK_KIND {
        class = Some(KindClass::Feedback);
    }
    let names = record.and_then(Record::subject).map(|s| gongxin_core::names::index_keys(&s.name)).unwrap_or_default();
    Derived { natural_key: header.natural_key, subjects, amends, class, names }
}

fn is_record_kind(kind: &str) -> bool {
    matches!(kind, "license" | "penalty" | "list_entry" | "commitment" | "amendment")
}

fn subject_prefix(subject: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + subject.len() + 12);
    k.extend_from_slice(&(subject.len() as u16).to_be_bytes());
    k.extend_from_slice(subject);
    k
}

fn put_rows(batch: &mut Batch, key: &[u8], d: &Derived) -> u64 {
    let mut rows = 1 + d.subjects.len() as u64;
    let mut nk = d.natural_key.to_vec();
    nk.extend_from_slice(key);
    batch.put(Table::NaturalKey, nk, Vec::new());
    for s in &d.subjects {
        let mut sk = subject_prefix(s);
        sk.extend_from_slice(key);
        batch.put(Table::Subject, sk, Vec::new());
    }
    if let Some((target, o)) = d.amends {
        let mut k = target.to_vec();
        k.extend_from_slice(&o.to_be_bytes());
        k.extend_from_slice(key);
        batch.put(Table::AmendTarget, k, Vec::new());
        rows += 1;
    }
    if let Some(c) = d.class {
        let mut k = vec![c as u8];
        k.extend_from_slice(key);
        batch.put(Table::KindIndex, k, Vec::new());
        rows += 1;
    }
    for n in &d.names {
        let mut k = n.as_bytes().to_vec();
        k.push(0);
        k.extend_from_slice(key);
        batch.put(Table::Name, k, Vec::new());
        rows += 1;
    }
    rows
}

/// Rows read from the name index per store scan by [`walk_name_prefix`].
pub const NAME_CHUNK: usize = 256;

/// How a [`walk_name_prefix`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// The visitor asked to stop.
    Stopped,
    /// Every row with the prefix was visited.
    Exhausted,
    /// `max_rows` rows were visited and more remain.
    Bounded,
}

/// Visits the entries whose subject's name (or its part after the leading division names) starts with `prefix`
/// (already normalised), in name order, reading the index [`NAME_CHUNK`] rows at a time, until `visit` returns
/// `false` or `max_rows` rows are visited: a search that fills its page early reads no further.
pub fn walk_name_prefix<E: From<LogError> + From<StoreError>>(
    store: &impl Store,
    prefix: &str,
    max_rows: usize,
    mut visit: impl FnMut(String, u64) -> Result<bool, E>,
) -> Result<Walk, E> {
    if prefix.is_empty() {
        return Ok(Walk::Exhausted);
    }
    let end = crate::store::prefix_end(prefix.as_bytes());
    let (mut visited, mut ended) = (0usize, Walk::Exhausted);
    crate::store::scan_pages(
        store,
        Table::Name,
        prefix.as_bytes(),
        end.as_deref(),
        NAME_CHUNK,
        |rows| -> Result<bool, E> {
            for (k, _) in &rows {
                if visited == max_rows {
                    // A row past the bound exists: more may match.
                    ended = Walk::Bounded;
                    return Ok(false);
                }
                let (origin, index) = origin_index_suffix(Table::Name, k).map_err(|e| E::from(LogError::from(e)))?;
                visited += 1;
                if !visit(origin, index)? {
                    ended = Walk::Stopped;
                    return Ok(false);
                }
            }
            Ok(true)
        },
    )?;
    Ok(ended)
}

/// Adds the view rows of one fed item (an entry of an origin this node does not mirror) to `batch`, the batch
/// that stores the item.
pub fn feed_rows(batch: &mut Batch, origin: &str, index: u64, d: &Derived) -> Result<(), LogError> {
    put_rows(batch, &origin_index_key(origin_code(origin)?, index), d);
    Ok(())
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

/// Entries with this natural key held for `origin`, ascending by index.
pub fn natural_key_in(store: &impl Store, natural_key: &Digest, origin: &str) -> Result<Vec<u64>, LogError> {
    let mut prefix = natural_key.to_vec();
    prefix.extend_from_slice(&origin_code(origin)?.to_be_bytes());
    let rows = store.scan_prefix(Table::NaturalKey, &prefix, 64)?;
    Ok(rows.iter().map(|(k, _)| origin_index_suffix(Table::NaturalKey, k).map(|x| x.1)).collect::<Result<_, _>>()?)
}

/// The amendments (origin, index) that target the record with this natural key at `origin`. At most `limit`.
pub fn amendments_of(
    store: &impl Store,
    natural_key: &Digest,
    origin: &str,
    limit: usize,
) -> Result<Vec<(String, u64)>, LogError> {
    let mut prefix = natural_key.to_vec();
    prefix.extend_from_slice(&origin_code(origin)?.to_be_bytes());
    let rows = store.scan_prefix(Table::AmendTarget, &prefix, limit)?;
    Ok(rows.iter().map(|(k, _)| origin_index_suffix(Table::AmendTarget, k)).collect::<Result<_, _>>()?)
}

/// Entries of one kind class, across origins, in (origin, index) order; `after` continues a previous page.
pub fn by_class(
    store: &impl Store,
    class: KindClass,
    from: Option<(&str, u64)>,
    limit: usize,
) -> Result<Vec<(String, u64)>, LogError> {
    let prefix = [class as u8];
    let start = match from {
        Some((o, i)) => {
            let mut k = prefix.to_vec();
            k.extend_from_slice(&origin_index_key(origin_code(o)?, i));
            k
        }
        None => prefix.to_vec(),
    };
    let end = [class as u8 + 1];
    let rows = store.scan(Table::KindIndex, &start, Some(&end), limit, false)?;
    Ok(rows.iter().map(|(k, _)| origin_index_suffix(Table::KindIndex, k)).collect::<Result<_, _>>()?)
}

/// Indices of one origin's entries of `class` in `[from, to)`, ascending, at most `limit`.
pub fn class_in_origin(
    store: &impl Store,
    class: KindClass,
    origin: &str,
    from: u64,
    to: u64,
    limit: usize,
) -> Result<Vec<u64>, LogError> {
    let o = origin_code(origin)?;
    let key = |i: u64| {
        let mut k = vec![class as u8];
        k.extend_from_slice(&origin_index_key(o, i));
        k
    };
    let rows = store.scan(Table::KindIndex, &key(from), Some(&key(to)), limit, false)?;
    Ok(rows.iter().map(|(k, _)| origin_index_suffix(Table::KindIndex, k).map(|x| x.1)).collect::<Result<_, _>>()?)
}

/// The first stored entry with this natural key, across all origins.
pub fn find_natural_key(store: &impl Store, natural_key: &Digest) -> Result<Option<(String, u64)>, StoreError> {
    let rows = store.scan_prefix(Table::NaturalKey, natural_key, 1)?;
    rows.first().map(|(k, _)| origin_index_suffix(Table::NaturalKey, k)).transpose()
}

/// Entries about subject `key`, by origin and index, at most `limit`.
pub fn by_subject(store: &impl Store, key: &[u8], limit: usize) -> Result<Vec<(String, u64)>, StoreError> {
    if key.is_empty() || key.len() > MAX_SUBJECT_LEN {
        return Ok(Vec::new());
    }
    let rows = store.scan_prefix(Table::Subject, &subject_prefix(key), limit)?;
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
                out.rows_written += put_rows(&mut b, &origin_index_key(o, e.index), &d);
                out.entries += 1;
            }
            store.apply(b)?;
            at = upto;
        }
    }
    // Fed items (list entries of origins this node does not mirror) carry their own leaf and payload.
    crate::store::scan_pages(store, Table::FeedItem, &[], None, PAGE, |rows| {
        let mut b = Batch::new();
        for (k, v) in &rows {
            let (origin, index) = origin_index_suffix(Table::FeedItem, k)?;
            let Ok(item) = crate::app::feed::FeedItem::decode(v) else {
                return Err(LogError::Corrupt { origin, reason: format!("fed item {index} does not decode") });
            };
            let h = LeafHeader::decode_at(&item.leaf, &origin, index)
                .map_err(|err| LogError::Corrupt { origin: origin.clone(), reason: err.to_string() })?;
            let d = derive(&h, Some(&item.payload), None);
            out.rows_written += put_rows(&mut b, k, &d);
            out.entries += 1;
        }
        store.apply(b)?;
        Ok::<_, LogError>(true)
    })?;
    store.flush()?;
    Ok(out)
}
