//! The log layout on top of any [`Store`], keyed by origin (DESIGN §5, §6).
//!
//! One set of tables holds the node's own log and the mirrored logs of its descendants alike; every key starts
//! with the origin's division code as a big-endian `u32`, so an origin's rows are contiguous and in index order.
//!
//! | table        | key                                   | value                                        |
//! |--------------|---------------------------------------|----------------------------------------------|
//! | `Head`       | origin                                | size u64 ‖ root 32                           |
//! | `Leaf`       | origin ‖ index u64                    | exact leaf bytes                             |
//! | `LeafSig`    | origin ‖ index                        | DER SM2 signature over the leaf              |
//! | `Payload`    | origin ‖ index ‖ chunk u16            | chunk 0: ext_len u8 ‖ ext ‖ total u32 ‖ data; then data |
//! | `Subtree`    | origin ‖ level u8 ‖ index u64         | aligned subtree hash 32 (levels ≥ 3 only)    |
//! | `Checkpoint` | origin ‖ size u64                     | note_len u32 ‖ note ‖ DER signature          |
//! | `OriginMeta` | origin ‖ name                         | caller's bytes (cursor and the like)         |
//!
//! The derived indexes (natural key, subject) are the `views` module's, added to the same prepared batch.
//!
//! An append is prepared (pure computation with [`gongxin_core::merkle`] over the stored subtree hashes), then
//! committed as ONE atomic store batch followed by a flush; `commit` returns only after the flush.

use super::{prefix_end, Batch, Store, StoreError, Table, MAX_VALUE_LEN};
use gongxin_core::checkpoint::{Checkpoint, SignedCheckpoint};
use gongxin_core::crypto::Digest;
use gongxin_core::merkle::{self, Frontier, MerkleError, SubtreeSource};
use std::ops::Range;
use std::sync::{Mutex, RwLock, RwLockReadGuard};

/// Largest leaf (a signed record header is a few hundred bytes).
pub const MAX_LEAF_LEN: usize = 4096;
/// Largest leaf signature (DER SM2 signatures are 70–72 bytes).
pub const MAX_SIGNATURE_LEN: usize = 256;
/// Largest payload (record body) accepted.
pub const MAX_PAYLOAD_LEN: usize = 120 * 1024;
/// Payloads are stored in chunks of this many bytes, so every store value stays small.
pub const PAYLOAD_CHUNK: usize = 4096;
/// Largest subject key (a code such as a USCC or ID number).
pub const MAX_SUBJECT_LEN: usize = 256;
/// Largest payload extension name.
pub const MAX_EXT_LEN: usize = 16;
/// Largest per-origin metadata name.
pub const MAX_META_NAME_LEN: usize = 64;
/// Leaves read per store scan when walking a whole log.
const SCAN_PAGE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("origin {origin:?} is not a 6-digit division code")]
    BadOrigin { origin: String },
    #[error("entry {position} of the batch: {field} is {len} bytes, more than the {max} allowed")]
    TooLarge { position: usize, field: &'static str, len: usize, max: usize },
    #[error("entry {position} of the batch: {reason}")]
    InvalidEntry { position: usize, reason: String },
    #[error(
        "log {origin} moved on while a batch was prepared (prepared at size {expected}, now {found}); prepare again"
    )]
    Stale { origin: String, expected: u64, found: u64 },
    #[error("checkpoint for log {origin}: {reason}")]
    Checkpoint { origin: String, reason: String },
    #[error("log {origin}: {reason}")]
    Range { origin: String, reason: String },
    #[error("log {origin} is damaged: {reason}")]
    Corrupt { origin: String, reason: String },
    #[error("metadata name {name:?}: {reason}")]
    BadMetaName { name: String, reason: String },
}

/// Size and root of one origin's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub size: u64,
    pub root: Digest,
}

impl Head {
    pub fn empty() -> Self {
        Head { size: 0, root: merkle::empty_root() }
    }
}

/// One entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// Exact leaf bytes (the signed record header).
    pub leaf: Vec<u8>,
    /// DER SM2 signature over `leaf` by the origin.
    pub signature: Vec<u8>,
    /// Record body and its kind of content (`json`), if held here.
    pub payload: Option<(Vec<u8>, String)>,
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub origin: String,
    pub index: u64,
    pub leaf: Vec<u8>,
    pub signature: Vec<u8>,
    pub payload: Option<(Vec<u8>, String)>,
}

/// A computed, not yet written append: the whole batch of store writes and the resulting head.
#[derive(Debug)]
pub struct Prepared {
    origin: u32,
    old: Head,
    new: Head,
    batch: Batch,
}

impl Prepared {
    pub fn origin(&self) -> String {
        origin_string(self.origin)
    }
    pub fn old_size(&self) -> u64 {
        self.old.size
    }
    pub fn new_size(&self) -> u64 {
        self.new.size
    }
    pub fn new_root(&self) -> Digest {
        self.new.root
    }

    /// The batch the derived views add their rows to (`views::index_batch` only), so they commit atomically
    /// with the entries.
    pub(crate) fn view_batch(&mut self) -> &mut Batch {
        &mut self.batch
    }

    /// Adds a per-origin metadata write (a sync cursor, say) to the same atomic batch.
    pub fn set_origin_meta(&mut self, name: &str, value: &[u8]) -> Result<(), LogError> {
        check_meta_name(name)?;
        self.batch.put(Table::OriginMeta, meta_key(self.origin, name), value.to_vec());
        Ok(())
    }
}

/// Parses a 6-digit division code into its key form.
pub fn origin_code(origin: &str) -> Result<u32, LogError> {
    if origin.len() != 6 || !origin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LogError::BadOrigin { origin: origin.to_string() });
    }
    origin.parse().map_err(|_| LogError::BadOrigin { origin: origin.to_string() })
}

fn origin_string(o: u32) -> String {
    format!("{o:06}")
}

/// The (origin, index) key suffix shared by the leaf tables and the views.
pub(crate) fn origin_index_key(o: u32, index: u64) -> Vec<u8> {
    idx_key(o, index)
}

fn idx_key(o: u32, index: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(12);
    k.extend_from_slice(&o.to_be_bytes());
    k.extend_from_slice(&index.to_be_bytes());
    k
}

fn chunk_key(o: u32, index: u64, chunk: u16) -> Vec<u8> {
    let mut k = idx_key(o, index);
    k.extend_from_slice(&chunk.to_be_bytes());
    k
}

fn subtree_key(o: u32, level: u8, index: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(13);
    k.extend_from_slice(&o.to_be_bytes());
    k.push(level);
    k.extend_from_slice(&index.to_be_bytes());
    k
}

fn meta_key(o: u32, name: &str) -> Vec<u8> {
    let mut k = o.to_be_bytes().to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

fn check_meta_name(name: &str) -> Result<(), LogError> {
    let bad = |reason: &str| Err(LogError::BadMetaName { name: name.to_string(), reason: reason.to_string() });
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_META_NAME_LEN {
        return bad("too long");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return bad("only ASCII letters, digits, '-', '_' and '.' are allowed");
    }
    Ok(())
}

/// Decodes the trailing `origin ‖ index` of an index key.
pub(crate) fn origin_index_suffix(table: Table, key: &[u8]) -> Result<(String, u64), StoreError> {
    if key.len() < 12 {
        return Err(StoreError::corrupt(table, key, "key too short for origin and index"));
    }
    let tail = &key[key.len() - 12..];
    let o = u32::from_be_bytes(tail[..4].try_into().expect("4 bytes"));
    let i = u64::from_be_bytes(tail[4..].try_into().expect("8 bytes"));
    Ok((origin_string(o), i))
}

fn decode_head(key: &[u8], v: &[u8]) -> Result<Head, StoreError> {
    if v.len() != 40 {
        return Err(StoreError::corrupt(Table::Head, key, format!("head is {} bytes, expected 40", v.len())));
    }
    Ok(Head { size: u64::from_be_bytes(v[..8].try_into().expect("8 bytes")), root: v[8..].try_into().expect("32") })
}

fn encode_head(h: &Head) -> Vec<u8> {
    let mut v = h.size.to_be_bytes().to_vec();
    v.extend_from_slice(&h.root);
    v
}

fn encode_checkpoint(cp: &SignedCheckpoint) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + cp.note.len() + cp.signature.len());
    v.extend_from_slice(&(cp.note.len() as u32).to_be_bytes());
    v.extend_from_slice(&cp.note);
    v.extend_from_slice(&cp.signature);
    v
}

fn decode_checkpoint(key: &[u8], v: &[u8]) -> Result<SignedCheckpoint, StoreError> {
    let bad = |r: &str| StoreError::corrupt(Table::Checkpoint, key, r);
    let len =
        u32::from_be_bytes(v.get(..4).ok_or_else(|| bad("shorter than its length field"))?.try_into().expect("4"));
    let rest = &v[4..];
    let len = len as usize;
    if rest.len() < len {
        return Err(bad("note shorter than its length"));
    }
    Ok(SignedCheckpoint { note: rest[..len].to_vec(), signature: rest[len..].to_vec() })
}

/// Aligned subtree hashes of one origin, read from the store (through the log's cache of upper levels).
struct StoredSubtrees<'a, S: ?Sized> {
    store: &'a S,
    origin: u32,
    cache: &'a SubtreeCache,
}

impl<S: Store + ?Sized> SubtreeSource for StoredSubtrees<'_, S> {
    type Error = StoreError;
    fn aligned(&self, level: u8, index: u64) -> Result<Option<Digest>, StoreError> {
        if level < STORED_MIN_LEVEL {
            return self.from_leaves(level, index);
        }
        if let Some(d) = self.cache.get(self.origin, level, index) {
            return Ok(Some(d));
        }
        let key = subtree_key(self.origin, level, index);
        match self.store.get(Table::Subtree, &key)? {
            None => Ok(None),
            Some(v) => {
                let d: Digest = v.as_slice().try_into().map_err(|_| {
                    StoreError::corrupt(Table::Subtree, &key, format!("{} bytes, expected 32", v.len()))
                })?;
                self.cache.put(self.origin, level, index, d);
                Ok(Some(d))
            }
        }
    }
}

impl<S: Store + ?Sized> StoredSubtrees<'_, S> {
    /// The hash of a low subtree (fewer than 2^[`STORED_MIN_LEVEL`] leaves), computed from its leaves as stored:
    /// `None` until every one of them is held.
    fn from_leaves(&self, level: u8, index: u64) -> Result<Option<Digest>, StoreError> {
        let width = 1u64 << level;
        let (Some(first), Some(end)) =
            (index.checked_mul(width), index.checked_add(1).and_then(|i| i.checked_mul(width)))
        else {
            return Ok(None);
        };
        let rows = self.store.scan(
            Table::Leaf,
            &idx_key(self.origin, first),
            Some(&idx_key(self.origin, end)),
            width as usize,
            false,
        )?;
        if rows.len() as u64 != width {
            return Ok(None);
        }
        // A full subtree of 2^level leaves: its hash is the tree head over them.
        let leaves: Vec<&[u8]> = rows.iter().map(|(_, leaf)| leaf.as_slice()).collect();
        Ok(Some(merkle::root_of_leaves(&leaves)))
    }
}

/// Aligned subtrees below this level (2, 4 or 8 leaves and the leaves' own hashes) are not stored: they are
/// computed from the leaves when a proof or the frontier needs one (at most 7 leaves read per level-0..2 sibling
/// of a proof, 7 for the frontier of an append), which saves 1.75 of the 2 subtree rows an append wrote per
/// record. A store written before this kept every level; its low rows are left in place and no longer read.
pub const STORED_MIN_LEVEL: u8 = 3;

/// Stored subtree hashes are kept in memory once read: each covers 2^level ≥ 8 leaves, so they are few (a
/// quarter of the leaf count in all: n/8 + n/16 + …), and every inclusion or consistency proof reads the same
/// upper ones.
pub const CACHED_MIN_LEVEL: u8 = STORED_MIN_LEVEL;
/// Most subtree hashes the cache holds (about 64 B each with the map's overhead, estimated: some 32 MiB at most);
/// when full it starts again empty.
pub const CACHED_SUBTREES: usize = 1 << 19;

/// Memory copy of durable aligned subtree hashes. Sound because an aligned subtree of an append-only log never
/// changes once written: the hash of leaves `[i·2^l, (i+1)·2^l)` is fixed by those leaves, and a different
/// leaf at a held index is refused as evidence, never written (`Log::prepare`). Only values read back from
/// the store enter it; the proofs read under the visibility gate, `prepare_append` without it, so it
/// may see a batch applied and not yet flushed — whose hashes are the same ones the leaves fix, and whose loss in
/// a crash takes this process-local cache with it.
#[derive(Default)]
struct SubtreeCache {
    map: RwLock<std::collections::HashMap<(u32, u8, u64), Digest>>,
}

impl SubtreeCache {
    fn get(&self, origin: u32, level: u8, index: u64) -> Option<Digest> {
        if level < CACHED_MIN_LEVEL {
            return None;
        }
        self.map.read().ok()?.get(&(origin, level, index)).copied()
    }

    fn put(&self, origin: u32, level: u8, index: u64, d: Digest) {
        if level < CACHED_MIN_LEVEL {
            return;
        }
        if let Ok(mut m) = self.map.write() {
            if m.len() >= CACHED_SUBTREES {
                m.clear();
            }
            m.insert((origin, level, index), d);
        }
    }
}

/// The logs held by a node, over any store.
pub struct Log<S: Store> {
    store: S,
    /// Serialises commits, so a prepared batch is written only onto the head it was computed from.
    commit_lock: Mutex<()>,
    /// Readers see only what is durable: every write holds this exclusively from `apply` until its `flush`
    /// returned, every public read holds it shared. So nothing applied but not yet flushed (lost by a crash) is
    /// ever read — not by `log show`, not by the uplink that would upload it (`tests::reads_wait_for_the_flush`).
    visible: RwLock<()>,
    subtrees: SubtreeCache,
}

impl<S: Store> Log<S> {
    pub fn new(store: S) -> Self {
        Self { store, commit_lock: Mutex::new(()), visible: RwLock::new(()), subtrees: SubtreeCache::default() }
    }

    fn read_gate(&self) -> Result<RwLockReadGuard<'_, ()>, LogError> {
        Ok(self.visible.read().map_err(|_| StoreError::Poisoned)?)
    }

    /// Applies `batch` and flushes it with readers held off, so they never see it before it is durable.
    fn apply_durably(&self, batch: Batch) -> Result<(), LogError> {
        let _w = self.visible.write().map_err(|_| StoreError::Poisoned)?;
        self.store.apply(batch)?;
        self.store.flush()?;
        Ok(())
    }

    /// The whole store as an export stream (`store::transfer`) of one durable state: writers of the logs are held
    /// off for the walk (the visibility lock, shared), and the store's own walk is atomic against batches. The
    /// live backup (`gongxin-node backup` while the node runs) uses it.
    pub fn export_durable(&self, out: &mut dyn std::io::Write) -> Result<super::TransferSummary, LogError> {
        let _r = self.read_gate()?;
        Ok(self.store.export(out)?)
    }

    /// The underlying store (for tables this layout does not cover, such as `Evidence` and `Meta`).
    pub fn store(&self) -> &S {
        &self.store
    }

    fn merkle_err(&self, o: u32, e: MerkleError<StoreError>) -> LogError {
        match e {
            MerkleError::Source(s) => LogError::Store(s),
            other => LogError::Corrupt { origin: origin_string(o), reason: other.to_string() },
        }
    }

    fn head_of(&self, o: u32) -> Result<Head, LogError> {
        let key = o.to_be_bytes();
        match self.store.get(Table::Head, &key)? {
            None => Ok(Head::empty()),
            Some(v) => Ok(decode_head(&key, &v)?),
        }
    }

    /// Size and root of `origin`'s log (size 0 and SM3("") if nothing is held).
    pub fn head(&self, origin: &str) -> Result<Head, LogError> {
        let _r = self.read_gate()?;
        self.head_of(origin_code(origin)?)
    }

    /// Every origin with a log here, with its head, in code order.
    pub fn origins(&self) -> Result<Vec<(String, Head)>, LogError> {
        let _r = self.read_gate()?;
        let mut out = Vec::new();
        for (k, v) in self.store.scan(Table::Head, &[], None, usize::MAX, false)? {
            let o: [u8; 4] =
                k.as_slice().try_into().map_err(|_| StoreError::corrupt(Table::Head, &k, "key not 4 bytes"))?;
            out.push((origin_string(u32::from_be_bytes(o)), decode_head(&k, &v)?));
        }
        Ok(out)
    }

    /// Computes the append of `entries` to `origin`'s log: new size, new root and every store write. Writes
    /// nothing; [`Log::commit`] does.
    pub fn prepare_append(&self, origin: &str, entries: Vec<NewEntry>) -> Result<Prepared, LogError> {
        let o = origin_code(origin)?;
        for (position, e) in entries.iter().enumerate() {
            check_entry(position, e)?;
        }
        let old = self.head_of(o)?;
        let src = StoredSubtrees { store: &self.store, origin: o, cache: &self.subtrees };
        let mut frontier = Frontier::load(&src, old.size).map_err(|e| self.merkle_err(o, e))?;
        if frontier.root() != old.root {
            return Err(LogError::Corrupt {
                origin: origin_string(o),
                reason: format!("stored subtree hashes do not give the stored root at size {}", old.size),
            });
        }
        let mut batch = Batch::new();
        for e in entries {
            let index = frontier.size();
            for a in frontier.push_leaf(&e.leaf) {
                if a.level >= STORED_MIN_LEVEL {
                    batch.put(Table::Subtree, subtree_key(o, a.level, a.index), a.hash.to_vec());
                }
            }
            let key = idx_key(o, index);
            batch.put(Table::Leaf, key.clone(), e.leaf);
            batch.put(Table::LeafSig, key.clone(), e.signature);
            if let Some((payload, ext)) = e.payload {
                put_payload(&mut batch, o, index, &payload, &ext);
            }
        }
        let new = Head { size: frontier.size(), root: frontier.root() };
        batch.put(Table::Head, o.to_be_bytes().to_vec(), encode_head(&new));
        Ok(Prepared { origin: o, old, new, batch })
    }

    /// Writes a prepared append, and `checkpoint` (which must be of the new size and root) with it, as ONE
    /// atomic batch, then flushes. Returns the new head only once it is durable.
    pub fn commit(&self, prepared: Prepared, checkpoint: Option<SignedCheckpoint>) -> Result<Head, LogError> {
        let Prepared { origin: o, old, new, mut batch } = prepared;
        let _guard = self.commit_lock.lock().map_err(|_| StoreError::Poisoned)?;
        let current = self.head_of(o)?;
        if current != old {
            return Err(LogError::Stale { origin: origin_string(o), expected: old.size, found: current.size });
        }
        if let Some(cp) = checkpoint {
            let parsed = self.check_checkpoint(o, &cp)?;
            if parsed.size != new.size || parsed.root != new.root {
                return Err(LogError::Checkpoint {
                    origin: origin_string(o),
                    reason: format!(
                        "checkpoint is of size {} root {}, the batch gives size {} root {}",
                        parsed.size,
                        hex::encode(parsed.root),
                        new.size,
                        hex::encode(new.root)
                    ),
                });
            }
            batch.put(Table::Checkpoint, idx_key(o, new.size), encode_checkpoint(&cp));
        }
        self.apply_durably(batch)?;
        Ok(new)
    }

    fn check_checkpoint(&self, o: u32, cp: &SignedCheckpoint) -> Result<Checkpoint, LogError> {
        let err = |reason: String| LogError::Checkpoint { origin: origin_string(o), reason };
        let parsed = cp.parse().map_err(|e| err(e.to_string()))?;
        match parsed.origin_code() {
            Some(code) if code == origin_string(o) => {}
            _ => return Err(err(format!("origin line {:?} does not name log {}", parsed.origin, origin_string(o)))),
        }
        if cp.signature.is_empty() || cp.signature.len() > MAX_SIGNATURE_LEN {
            return Err(err(format!("signature is {} bytes", cp.signature.len())));
        }
        if 4 + cp.note.len() + cp.signature.len() > MAX_VALUE_LEN {
            return Err(err("note and signature too large to store".into()));
        }
        Ok(parsed)
    }

    /// Stores a signed checkpoint of an already stored size (a heartbeat, or one received for a mirror), after
    /// checking that its root is the log's root at that size. Replaces an earlier checkpoint of the same size.
    pub fn put_checkpoint(&self, origin: &str, checkpoint: SignedCheckpoint) -> Result<(), LogError> {
        let o = origin_code(origin)?;
        let _guard = self.commit_lock.lock().map_err(|_| StoreError::Poisoned)?;
        let parsed = self.check_checkpoint(o, &checkpoint)?;
        let head = self.head_of(o)?;
        if parsed.size > head.size {
            return Err(LogError::Checkpoint {
                origin: origin_string(o),
                reason: format!("checkpoint size {} is beyond the stored size {}", parsed.size, head.size),
            });
        }
        let root = self.root_at_unlocked(o, parsed.size)?;
        if root != parsed.root {
            return Err(LogError::Checkpoint {
                origin: origin_string(o),
                reason: format!(
                    "checkpoint root {} differs from the stored tree's root {} at size {}",
                    hex::encode(parsed.root),
                    hex::encode(root),
                    parsed.size
                ),
            });
        }
        let mut batch = Batch::new();
        batch.put(Table::Checkpoint, idx_key(o, parsed.size), encode_checkpoint(&checkpoint));
        self.apply_durably(batch)?;
        Ok(())
    }

    /// Every stored checkpoint of `origin`, by size.
    pub fn checkpoints(&self, origin: &str) -> Result<Vec<SignedCheckpoint>, LogError> {
        let _r = self.read_gate()?;
        let o = origin_code(origin)?;
        let rows = self.store.scan_prefix(Table::Checkpoint, &o.to_be_bytes(), usize::MAX)?;
        Ok(rows.iter().map(|(k, v)| decode_checkpoint(k, v)).collect::<Result<_, _>>()?)
    }

    /// The checkpoint of the largest size stored for `origin`.
    pub fn latest_checkpoint(&self, origin: &str) -> Result<Option<SignedCheckpoint>, LogError> {
        let _r = self.read_gate()?;
        let o = origin_code(origin)?;
        let p = o.to_be_bytes();
        let end = prefix_end(&p);
        let rows = self.store.scan(Table::Checkpoint, &p, end.as_deref(), 1, true)?;
        Ok(rows.first().map(|(k, v)| decode_checkpoint(k, v)).transpose()?)
    }

    /// The checkpoint stored for `origin` at exactly `size`.
    pub fn checkpoint_at(&self, origin: &str, size: u64) -> Result<Option<SignedCheckpoint>, LogError> {
        let _r = self.read_gate()?;
        let o = origin_code(origin)?;
        let key = idx_key(o, size);
        Ok(self.store.get(Table::Checkpoint, &key)?.map(|v| decode_checkpoint(&key, &v)).transpose()?)
    }

    /// One entry, or `None` beyond the log's end.
    pub fn entry(&self, origin: &str, index: u64) -> Result<Option<StoredEntry>, LogError> {
        if index == u64::MAX {
            return Ok(None);
        }
        // Point reads, not the three range scans of `entries` (a check or a query loads entries one at a time).
        let _r = self.read_gate()?;
        let o = origin_code(origin)?;
        let key = idx_key(o, index);
        let Some(leaf) = self.store.get(Table::Leaf, &key)? else { return Ok(None) };
        let signature = self.store.get(Table::LeafSig, &key)?.ok_or_else(|| LogError::Corrupt {
            origin: origin_string(o),
            reason: format!("leaves or signatures missing near index {index}"),
        })?;
        let first_key = chunk_key(o, index, 0);
        let rows = match self.store.get(Table::Payload, &first_key)? {
            None => Vec::new(),
            // A payload that fits its first chunk (most do) is whole; a longer one is read by its prefix.
            Some(first) if payload_is_whole(&first) => vec![(first_key, first)],
            Some(_) => self.store.scan_prefix(Table::Payload, &key, usize::MAX)?,
        };
        let payload = PayloadReader::new(o, rows).take(index)?;
        Ok(Some(StoredEntry { origin: origin_string(o), index, leaf, signature, payload }))
    }

    /// The entries at `range` that are stored (the range is cut at the log's end), in index order.
    pub fn entries(&self, origin: &str, range: Range<u64>) -> Result<Vec<StoredEntry>, LogError> {
        let _r = self.read_gate()?;
        let o = origin_code(origin)?;
        if range.start >= range.end {
            return Ok(Vec::new());
        }
        let (lo, hi) = (idx_key(o, range.start), idx_key(o, range.end));
        let leaves = self.store.scan(Table::Leaf, &lo, Some(&hi), usize::MAX, false)?;
        let sigs = self.store.scan(Table::LeafSig, &lo, Some(&hi), usize::MAX, false)?;
        let chunks = self.store.scan(
            Table::Payload,
            &chunk_key(o, range.start, 0),
            Some(&chunk_key(o, range.end, 0)),
            usize::MAX,
            false,
        )?;
        let corrupt = |reason: String| LogError::Corrupt { origin: origin_string(o), reason };
        if sigs.len() != leaves.len() {
            return Err(corrupt(format!("{} leaves but {} signatures in {range:?}", leaves.len(), sigs.len())));
        }
        let mut payloads = PayloadReader::new(o, chunks);
        let mut out = Vec::with_capacity(leaves.len());
        for (expected, ((lk, leaf), (sk, signature))) in (range.start..).zip(leaves.into_iter().zip(sigs)) {
            let (_, index) = origin_index_suffix(Table::Leaf, &lk)?;
            if lk != sk || index != expected {
                return Err(corrupt(format!("leaves or signatures missing near index {expected}")));
            }
            let payload = payloads.take(index)?;
            out.push(StoredEntry { origin: origin_string(o), index, leaf, signature, payload });
        }
        Ok(out)
    }

    /// Deletes the payload of one entry (when the law requires it); the leaf, and so the log, stays verifiable.
    pub fn purge_payload(&self, origin: &str, index: u64) -> Result<bool, LogError> {
        let o = origin_code(origin)?;
        let _guard = self.commit_lock.lock().map_err(|_| StoreError::Poisoned)?;
        let chunks = self.store.scan_prefix(Table::Payload, &idx_key(o, index), usize::MAX)?;
        if chunks.is_empty() {
            return Ok(false);
        }
        let mut batch = Batch::new();
        for (k, _) in chunks {
            batch.delete(Table::Payload, k);
        }
        self.apply_durably(batch)?;
        Ok(true)
    }

    fn check_size(&self, o: u32, size: u64) -> Result<(), LogError> {
        let head = self.head_of(o)?;
        if size > head.size {
            return Err(LogError::Range {
                origin: origin_string(o),
                reason: format!("size {size} is beyond the stored size {}", head.size),
            });
        }
        Ok(())
    }

    fn root_at_unlocked(&self, o: u32, size: u64) -> Result<Digest, LogError> {
        let src = StoredSubtrees { store: &self.store, origin: o, cache: &self.subtrees };
        merkle::root(&src, size).map_err(|e| self.merkle_err(o, e))
    }

    /// The root of `origin`'s log when it had `size` entries.
    pub fn root_at(&self, origin: &str, size: u64) -> Result<Digest, LogError> {
        let _r = self.read_gate()?;
        let o = origin_code(origin)?;
        self.check_size(o, size)?;
        self.root_at_unlocked(o, size)
    }

    /// RFC 9162 inclusion proof of entry `index` in the tree of size `size`.
    pub fn inclusion_proof(&self, origin: &str, index: u64, size: u64) -> Result<Vec<Digest>, LogError> {
        let _r = self.read_gate()?;
        let o = origin_code(origin)?;
        self.check_size(o, size)?;
        if index >= size {
            return Err(LogError::Range {
                origin: origin_string(o),
                reason: format!("index {index} is not below size {size}"),
            });
        }
        let src = StoredSubtrees { store: &self.store, origin: o, cache: &self.subtrees };
        merkle::inclusion_proof(&src, index, size).map_err(|e| self.merkle_err(o, e))
    }

    /// RFC 9162 consistency proof from size `old` to size `new`.
    pub fn consistency_proof(&self, origin: &str, old: u64, new: u64) -> Result<Vec<Digest>, LogError> {
        let _r = self.read_gate()?;
        let o = origin_code(origin)?;
        self.check_size(o, new)?;
        if old > new {
            return Err(LogError::Range {
                origin: origin_string(o),
                reason: format!("old size {old} exceeds new size {new}"),
            });
        }
        let src = StoredSubtrees { store: &self.store, origin: o, cache: &self.subtrees };
        merkle::consistency_proof(&src, old, new).map_err(|e| self.merkle_err(o, e))
    }

    /// Size and root recomputed from the stored leaf bytes alone (not from stored hashes), checking that the
    /// leaves are contiguous from index 0. For verification after a crash or a restore.
    pub fn recompute_head(&self, origin: &str) -> Result<Head, LogError> {
        let _r = self.read_gate()?;
        let o = origin_code(origin)?;
        let mut frontier = Frontier::new();
        let end = idx_key(o, u64::MAX);
        loop {
            let start = idx_key(o, frontier.size());
            let page = self.store.scan(Table::Leaf, &start, Some(&end), SCAN_PAGE, false)?;
            if page.is_empty() {
                break;
            }
            for (k, leaf) in &page {
                let (_, index) = origin_index_suffix(Table::Leaf, k)?;
                if index != frontier.size() {
                    return Err(LogError::Corrupt {
                        origin: origin_string(o),
                        reason: format!("leaf {} is missing (next stored leaf is {index})", frontier.size()),
                    });
                }
                frontier.push_leaf(leaf);
            }
        }
        Ok(Head { size: frontier.size(), root: frontier.root() })
    }

    /// Root recomputed from the stored leaf bytes alone; see [`Log::recompute_head`].
    pub fn recompute_root(&self, origin: &str) -> Result<Digest, LogError> {
        Ok(self.recompute_head(origin)?.root)
    }

    /// Per-origin metadata (a sync cursor, say).
    pub fn origin_meta(&self, origin: &str, name: &str) -> Result<Option<Vec<u8>>, LogError> {
        let _r = self.read_gate()?;
        let o = origin_code(origin)?;
        check_meta_name(name)?;
        Ok(self.store.get(Table::OriginMeta, &meta_key(o, name))?)
    }

    /// Writes per-origin metadata on its own, flushed. To write it together with entries, use
    /// [`Prepared::set_origin_meta`].
    pub fn set_origin_meta(&self, origin: &str, name: &str, value: &[u8]) -> Result<(), LogError> {
        let o = origin_code(origin)?;
        check_meta_name(name)?;
        let mut batch = Batch::new();
        batch.put(Table::OriginMeta, meta_key(o, name), value.to_vec());
        self.apply_durably(batch)?;
        Ok(())
    }
}

fn check_entry(position: usize, e: &NewEntry) -> Result<(), LogError> {
    let too_large = |field, len, max| Err(LogError::TooLarge { position, field, len, max });
    let invalid = |reason: &str| Err(LogError::InvalidEntry { position, reason: reason.to_string() });
    if e.leaf.is_empty() {
        return invalid("leaf is empty");
    }
    if e.leaf.len() > MAX_LEAF_LEN {
        return too_large("leaf", e.leaf.len(), MAX_LEAF_LEN);
    }
    if e.signature.is_empty() {
        return invalid("signature is empty");
    }
    if e.signature.len() > MAX_SIGNATURE_LEN {
        return too_large("signature", e.signature.len(), MAX_SIGNATURE_LEN);
    }
    if let Some((payload, ext)) = &e.payload {
        if payload.len() > MAX_PAYLOAD_LEN {
            return too_large("payload", payload.len(), MAX_PAYLOAD_LEN);
        }
        if ext.is_empty()
            || ext.len() > MAX_EXT_LEN
            || !ext.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return invalid(&format!("payload extension {ext:?} must be 1–{MAX_EXT_LEN} lowercase letters or digits"));
        }
    }
    Ok(())
}

fn put_payload(batch: &mut Batch, o: u32, index: u64, payload: &[u8], ext: &str) {
    let mut first = Vec::with_capacity(1 + ext.len() + 4 + PAYLOAD_CHUNK);
    first.push(ext.len() as u8);
    first.extend_from_slice(ext.as_bytes());
    first.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    let mut chunks = payload.chunks(PAYLOAD_CHUNK);
    first.extend_from_slice(chunks.next().unwrap_or(&[]));
    batch.put(Table::Payload, chunk_key(o, index, 0), first);
    for (i, c) in chunks.enumerate() {
        batch.put(Table::Payload, chunk_key(o, index, (i + 1) as u16), c.to_vec());
    }
}

/// The header of a payload's first chunk (`ext_len ext total:u32be`, see [`put_payload`]): the extension's
/// length, the header's length and the payload's total length. `None`: empty or truncated.
fn payload_header(first: &[u8]) -> Option<(usize, usize, usize)> {
    let ext_len = *first.first()? as usize;
    let header_len = 1 + ext_len + 4;
    let total: [u8; 4] = first.get(1 + ext_len..header_len)?.try_into().ok()?;
    Some((ext_len, header_len, u32::from_be_bytes(total) as usize))
}

/// Whether a payload's first chunk holds all of it (its header's length equals what follows the header). A
/// malformed chunk says no, and is then read with its siblings and refused by [`PayloadReader::take`].
fn payload_is_whole(first: &[u8]) -> bool {
    payload_header(first).is_some_and(|(_, header_len, total)| first.len() - header_len == total)
}

/// Reassembles payloads from an ordered scan of chunk rows.
struct PayloadReader {
    origin: u32,
    rows: std::iter::Peekable<std::vec::IntoIter<(Vec<u8>, Vec<u8>)>>,
}

impl PayloadReader {
    fn new(origin: u32, rows: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        Self { origin, rows: rows.into_iter().peekable() }
    }

    fn take(&mut self, index: u64) -> Result<Option<(Vec<u8>, String)>, LogError> {
        let corrupt = |reason: String| LogError::Corrupt { origin: origin_string(self.origin), reason };
        let prefix = idx_key(self.origin, index);
        // Skip rows of earlier indices (cannot happen with a consistent store, but never misattribute them).
        while self.rows.peek().is_some_and(|(k, _)| k[..k.len().min(12)] < prefix[..]) {
            self.rows.next();
        }
        let Some((k, first)) = self.rows.next_if(|(k, _)| k.starts_with(&prefix)) else { return Ok(None) };
        if k[12..] != [0, 0] {
            return Err(corrupt(format!("payload of entry {index} lacks its first chunk")));
        }
        if first.is_empty() {
            return Err(corrupt(format!("payload of entry {index} is empty")));
        }
        let (ext_len, header_len, total) =
            payload_header(&first).ok_or_else(|| corrupt(format!("payload header of entry {index} is truncated")))?;
        let ext = String::from_utf8(first[1..1 + ext_len].to_vec())
            .map_err(|_| corrupt(format!("payload extension of entry {index} is not UTF-8")))?;
        let mut data = first[header_len..].to_vec();
        let mut next_chunk = 1u16;
        while let Some((k, c)) = self.rows.next_if(|(k, _)| k.starts_with(&prefix)) {
            if k[12..] != next_chunk.to_be_bytes() {
                return Err(corrupt(format!("payload chunk {next_chunk} of entry {index} is missing")));
            }
            data.extend_from_slice(&c);
            next_chunk += 1;
        }
        if data.len() != total {
            return Err(corrupt(format!("payload of entry {index} is {} bytes, its header says {total}", data.len())));
        }
        Ok(Some((data, ext)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use crate::store::sled::SledStore;
    use gongxin_core::checkpoint::Checkpoint;
    use gongxin_core::crypto::{sm3, SigningKey};

    fn entry(key: &SigningKey, origin: &str, i: u64, payload_len: usize) -> NewEntry {
        let leaf = format!("gongxin-leaf/v1\norigin {origin}\nindex {i}\n").into_bytes();
        NewEntry {
            signature: key.sign(&leaf),
            payload: (payload_len > 0).then(|| (vec![(i % 251) as u8; payload_len], "json".to_string())),
            leaf,
        }
    }

    fn signed(key: &SigningKey, origin: &str, size: u64, root: Digest) -> SignedCheckpoint {
        SignedCheckpoint::sign(&Checkpoint::new(origin, size, root, "2026-01-01T00:00:00Z"), key)
    }

    fn exercise<S: Store>(log: &Log<S>) {
        let key = SigningKey::generate();
        let mut all: Vec<NewEntry> = Vec::new();
        // Two origins interleaved, batches of varied size, payloads from none to several chunks.
        for (b, (origin, n)) in
            [("430102", 3usize), ("430103", 5), ("430102", 1), ("430102", 13), ("430103", 2)].into_iter().enumerate()
        {
            let head = log.head(origin).unwrap();
            let entries: Vec<NewEntry> = (0..n as u64)
                .map(|j| entry(&key, origin, head.size + j, [0, 10, 5000, 9000][(b + j as usize) % 4]))
                .collect();
            if origin == "430102" {
                all.extend(entries.iter().cloned());
            }
            let prepared = log.prepare_append(origin, entries).unwrap();
            assert_eq!(prepared.new_size(), head.size + n as u64);
            let cp = signed(&key, origin, prepared.new_size(), prepared.new_root());
            let h = log.commit(prepared, Some(cp.clone())).unwrap();
            assert_eq!(log.head(origin).unwrap(), h);
            assert_eq!(log.latest_checkpoint(origin).unwrap(), Some(cp));
        }
        let h = log.head("430102").unwrap();
        assert_eq!(h.size, 17);
        assert_eq!(h.root, merkle::root_of_leaves(&all.iter().map(|e| e.leaf.clone()).collect::<Vec<_>>()));
        assert_eq!(log.recompute_head("430102").unwrap(), h);
        assert_eq!(log.head("430103").unwrap().size, 7);
        assert_eq!(log.head("430104").unwrap(), Head::empty());
        assert_eq!(log.origins().unwrap().iter().map(|(o, _)| o.as_str()).collect::<Vec<_>>(), ["430102", "430103"]);
        // Entries come back byte for byte, payloads reassembled.
        let got = log.entries("430102", 0..100).unwrap();
        assert_eq!(got.len(), 17);
        for (i, (g, e)) in got.iter().zip(&all).enumerate() {
            assert_eq!(g.index, i as u64);
            assert_eq!((&g.leaf, &g.signature, &g.payload), (&e.leaf, &e.signature, &e.payload), "entry {i}");
        }
        assert_eq!(log.entry("430102", 16).unwrap().unwrap().leaf, all[16].leaf);
        assert_eq!(log.entry("430102", 17).unwrap(), None);
        assert_eq!(log.entries("430102", 5..7).unwrap().len(), 2);
        // Proofs verify against stored roots and checkpoints.
        let cps = log.checkpoints("430102").unwrap();
        assert_eq!(cps.len(), 3);
        let sizes: Vec<u64> = cps.iter().map(|c| c.parse().unwrap().size).collect();
        assert_eq!(sizes, [3, 4, 17]);
        for m in 0..=17u64 {
            let rm = log.root_at("430102", m).unwrap();
            for i in 0..m {
                let p = log.inclusion_proof("430102", i, m).unwrap();
                merkle::verify_inclusion(&merkle::leaf_hash(&all[i as usize].leaf), i, m, &p, &rm).unwrap();
            }
            let p = log.consistency_proof("430102", m, 17).unwrap();
            merkle::verify_consistency(m, 17, &p, &rm, &h.root).unwrap();
        }
        assert!(matches!(log.inclusion_proof("430102", 3, 18), Err(LogError::Range { .. })));
        assert!(matches!(log.inclusion_proof("430102", 17, 17), Err(LogError::Range { .. })));
        assert!(matches!(log.consistency_proof("430102", 5, 4), Err(LogError::Range { .. })));
        // Heartbeat at an old size is accepted; a wrong root, a future size or another origin is refused.
        log.put_checkpoint("430102", signed(&key, "430102", 4, log.root_at("430102", 4).unwrap())).unwrap();
        let err = log.put_checkpoint("430102", signed(&key, "430102", 4, sm3(b"forged"))).unwrap_err();
        assert!(err.to_string().contains("differs from the stored tree"), "{err}");
        assert!(log.put_checkpoint("430102", signed(&key, "430102", 18, h.root)).is_err());
        assert!(log.put_checkpoint("430102", signed(&key, "430103", 17, h.root)).is_err());
        assert_eq!(log.latest_checkpoint("430102").unwrap().unwrap().parse().unwrap().size, 17);
        // Payload purge keeps the log verifiable.
        assert!(log.purge_payload("430102", 2).unwrap());
        assert_eq!(log.entry("430102", 2).unwrap().unwrap().payload, None);
        assert_eq!(log.entry("430102", 3).unwrap().unwrap().payload, all[3].payload);
        assert_eq!(log.recompute_root("430102").unwrap(), h.root);
        // Metadata, alone and within a batch.
        log.set_origin_meta("430103", "cursor", b"7").unwrap();
        assert_eq!(log.origin_meta("430103", "cursor").unwrap(), Some(b"7".to_vec()));
        let mut p = log.prepare_append("430103", vec![entry(&key, "430103", 7, 0)]).unwrap();
        p.set_origin_meta("cursor", b"8").unwrap();
        log.commit(p, None).unwrap();
        assert_eq!(log.origin_meta("430103", "cursor").unwrap(), Some(b"8".to_vec()));
        assert!(log.set_origin_meta("430103", "bad name", b"").is_err());
    }

    #[test]
    fn log_on_memory_store() {
        exercise(&Log::new(MemoryStore::new()));
    }

    #[test]
    fn log_on_sled_store_and_after_reopen_and_export() {
        let dir = tempfile::tempdir().unwrap();
        let (head, dump) = {
            let log = Log::new(SledStore::open(dir.path()).unwrap());
            exercise(&log);
            let mut dump = Vec::new();
            log.store().export(&mut dump).unwrap();
            (log.head("430102").unwrap(), dump)
        };
        let log = Log::new(SledStore::open(dir.path()).unwrap());
        assert_eq!(log.head("430102").unwrap(), head);
        assert_eq!(log.recompute_head("430102").unwrap(), head);
        let restored = Log::new(MemoryStore::new());
        restored.store().import(&mut dump.as_slice()).unwrap();
        assert_eq!(restored.head("430102").unwrap(), head);
        assert_eq!(restored.entries("430102", 0..100).unwrap(), log.entries("430102", 0..100).unwrap());
    }

    /// Subtree hashes from `CACHED_MIN_LEVEL` up are served from memory once read (the proof still comes out
    /// when their rows are gone), lower ones are computed from the stored leaves every time.
    #[test]
    fn upper_subtree_hashes_are_served_from_memory_once_read() {
        let key = SigningKey::generate();
        let log = Log::new(MemoryStore::new());
        let entries: Vec<NewEntry> = (0..64).map(|i| entry(&key, "430102", i, 0)).collect();
        let p = log.prepare_append("430102", entries).unwrap();
        let root = p.new_root();
        log.commit(p, Some(signed(&key, "430102", 64, root))).unwrap();
        let proof = log.inclusion_proof("430102", 5, 64).unwrap();
        let o = origin_code("430102").unwrap();
        let mut b = Batch::new();
        for level in CACHED_MIN_LEVEL..=5 {
            for i in 0..64u64 >> level {
                b.delete(Table::Subtree, subtree_key(o, level, i));
            }
        }
        log.store().apply(b).unwrap();
        assert_eq!(log.inclusion_proof("430102", 5, 64).unwrap(), proof, "upper levels from memory");
        let mut b = Batch::new();
        b.delete(Table::Leaf, idx_key(o, 4)); // the leaf-level sibling of index 5
        log.store().apply(b).unwrap();
        assert!(log.inclusion_proof("430102", 5, 64).is_err(), "level 0 is computed from the stored leaves");
    }

    #[test]
    fn bad_input_is_refused_with_a_reason_and_nothing_written() {
        let log = Log::new(MemoryStore::new());
        let key = SigningKey::generate();
        for bad in ["43010", "4301020", "43010a", "", "-43010"] {
            assert!(matches!(log.head(bad), Err(LogError::BadOrigin { .. })), "{bad}");
        }
        let mut big = entry(&key, "430102", 1, MAX_PAYLOAD_LEN + 1);
        let err = log.prepare_append("430102", vec![entry(&key, "430102", 0, 1), big.clone()]).unwrap_err();
        assert!(matches!(err, LogError::TooLarge { position: 1, field: "payload", .. }), "{err}");
        assert!(err.to_string().contains("payload"), "{err}");
        big.payload = Some((vec![1; MAX_PAYLOAD_LEN], "json".into()));
        let p = log.prepare_append("430102", vec![big.clone()]).unwrap();
        log.commit(p, None).unwrap();
        assert_eq!(log.entry("430102", 0).unwrap().unwrap().payload.unwrap().0.len(), MAX_PAYLOAD_LEN);
        let mut e = entry(&key, "430102", 1, 0);
        e.leaf = vec![0; MAX_LEAF_LEN + 1];
        assert!(matches!(log.prepare_append("430102", vec![e]), Err(LogError::TooLarge { field: "leaf", .. })));
        let mut e = entry(&key, "430102", 1, 3);
        e.payload = Some((vec![1], "../x".into()));
        assert!(matches!(log.prepare_append("430102", vec![e]), Err(LogError::InvalidEntry { .. })));

        // Two batches prepared from the same head: the second commit is stale and writes nothing.
        let a = log.prepare_append("430102", vec![entry(&key, "430102", 1, 0)]).unwrap();
        let b = log.prepare_append("430102", vec![entry(&key, "430102", 1, 0)]).unwrap();
        log.commit(a, None).unwrap();
        assert!(matches!(log.commit(b, None), Err(LogError::Stale { expected: 1, found: 2, .. })));
        // A checkpoint that does not match the batch refuses the whole batch.
        let head = log.head("430102").unwrap();
        let p = log.prepare_append("430102", vec![entry(&key, "430102", 2, 0)]).unwrap();
        let wrong = signed(&key, "430102", p.new_size(), head.root);
        let err = log.commit(p, Some(wrong)).unwrap_err();
        assert!(matches!(err, LogError::Checkpoint { .. }), "{err}");
        assert_eq!(log.head("430102").unwrap(), head);
        assert_eq!(log.entry("430102", 2).unwrap(), None);
    }

    /// A store whose flush takes a while, counting applied and flushed batches.
    struct SlowFlush {
        inner: MemoryStore,
        applied: std::sync::atomic::AtomicU64,
        flushed: std::sync::atomic::AtomicU64,
    }

    impl Store for SlowFlush {
        fn get(&self, t: Table, k: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            self.inner.get(t, k)
        }
        fn scan(
            &self,
            t: Table,
            s: &[u8],
            e: Option<&[u8]>,
            l: usize,
            r: bool,
        ) -> Result<crate::store::Pairs, StoreError> {
            self.inner.scan(t, s, e, l, r)
        }
        fn apply(&self, b: Batch) -> Result<(), StoreError> {
            self.inner.apply(b)?;
            self.applied.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
        fn flush(&self) -> Result<(), StoreError> {
            let n = self.applied.load(std::sync::atomic::Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(15));
            self.flushed.store(n, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
        fn for_each(&self, f: &mut crate::store::Visitor<'_>) -> Result<(), StoreError> {
            self.inner.for_each(f)
        }
    }

    #[test]
    fn reads_wait_for_the_flush() {
        use std::sync::atomic::Ordering::SeqCst;
        let log =
            Log::new(SlowFlush { inner: MemoryStore::new(), applied: Default::default(), flushed: Default::default() });
        let key = SigningKey::generate();
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                // One entry per batch: the head's size is the number of batches applied.
                for i in 0..12u64 {
                    let p = log.prepare_append("430102", vec![entry(&key, "430102", i, 10)]).unwrap();
                    log.commit(p, None).unwrap();
                }
                done.store(true, SeqCst);
            });
            let mut reads = 0;
            while !done.load(SeqCst) {
                let size = log.head("430102").unwrap().size;
                let seen = log.entries("430102", 0..u64::MAX).unwrap().len() as u64;
                let flushed = log.store().flushed.load(SeqCst);
                assert!(
                    size <= flushed && seen <= flushed,
                    "read size {size} / {seen} entries, only {flushed} flushed"
                );
                reads += 1;
            }
            assert!(reads > 10, "the reader ran while the writer committed");
        });
    }

    #[test]
    fn a_live_export_holds_only_flushed_batches() {
        use std::sync::atomic::Ordering::SeqCst;
        let log =
            Log::new(SlowFlush { inner: MemoryStore::new(), applied: Default::default(), flushed: Default::default() });
        let key = SigningKey::generate();
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..12u64 {
                    let p = log.prepare_append("430102", vec![entry(&key, "430102", i, 10)]).unwrap();
                    log.commit(p, None).unwrap();
                }
                done.store(true, SeqCst);
            });
            let mut exports = 0;
            while !done.load(SeqCst) {
                let mut bytes = Vec::new();
                log.export_durable(&mut bytes).unwrap();
                let flushed = log.store().flushed.load(SeqCst);
                let copy = MemoryStore::new();
                copy.import(&mut bytes.as_slice()).unwrap();
                let size = Log::new(copy).head("430102").unwrap().size;
                assert!(size <= flushed, "the export holds {size} batches, only {flushed} flushed");
                exports += 1;
            }
            assert!(exports > 3, "exports ran while the writer committed");
        });
    }

    /// Appends store no subtree row below `STORED_MIN_LEVEL` (an append wrote two rows per record before), and
    /// every root, inclusion and consistency proof still comes out right at sizes on and off the stored levels.
    #[test]
    fn low_subtrees_are_computed_from_the_leaves_not_stored() {
        let key = SigningKey::generate();
        let log = Log::new(MemoryStore::new());
        let o = origin_code("430102").unwrap();
        let mut leaves = Vec::new();
        let mut roots = vec![merkle::empty_root()];
        for n in [1u64, 2, 4, 1, 9, 3, 16, 5] {
            let start = leaves.len() as u64;
            let entries: Vec<NewEntry> = (start..start + n).map(|i| entry(&key, "430102", i, 0)).collect();
            leaves.extend(entries.iter().map(|e| e.leaf.clone()));
            let p = log.prepare_append("430102", entries).unwrap();
            log.commit(p, None).unwrap();
            for size in start + 1..=start + n {
                roots.push(merkle::root_of_leaves(&leaves[..size as usize]));
            }
            let size = leaves.len() as u64;
            assert_eq!(log.head("430102").unwrap().root, roots[size as usize], "root at {size}");
            let rows = log.store().scan_prefix(Table::Subtree, &o.to_be_bytes(), usize::MAX).unwrap();
            let want: u64 = (STORED_MIN_LEVEL as u32..64).map(|l| size >> l).sum();
            assert_eq!(rows.len() as u64, want, "subtree rows at size {size}");
            assert!(rows.iter().all(|(k, _)| k[4] >= STORED_MIN_LEVEL), "no row below level {STORED_MIN_LEVEL}");
        }
        let size = leaves.len() as u64;
        for old in 1..=size {
            assert_eq!(log.root_at("430102", old).unwrap(), roots[old as usize], "root_at {old}");
            let p = log.consistency_proof("430102", old, size).unwrap();
            merkle::verify_consistency(old, size, &p, &roots[old as usize], &roots[size as usize]).unwrap();
        }
        for index in 0..size {
            let p = log.inclusion_proof("430102", index, size).unwrap();
            let lh = merkle::leaf_hash(&leaves[index as usize]);
            merkle::verify_inclusion(&lh, index, size, &p, &roots[size as usize]).unwrap();
        }
    }

    #[test]
    fn damaged_subtree_hashes_are_detected() {
        let log = Log::new(MemoryStore::new());
        let key = SigningKey::generate();
        let p = log.prepare_append("430102", (0..20).map(|i| entry(&key, "430102", i, 0)).collect()).unwrap();
        log.commit(p, None).unwrap();
        // Overwrite the stored level-4 subtree over leaves 0..16.
        let mut b = Batch::new();
        b.put(Table::Subtree, subtree_key(430102, 4, 0), sm3(b"x").to_vec());
        log.store().apply(b).unwrap();
        let err = log.prepare_append("430102", vec![entry(&key, "430102", 20, 0)]).unwrap_err();
        assert!(matches!(err, LogError::Corrupt { .. }), "{err}");
        assert_ne!(log.root_at("430102", 20).unwrap(), log.recompute_root("430102").unwrap());
        // A missing leaf is reported by recompute.
        let mut b = Batch::new();
        b.delete(Table::Leaf, idx_key(430102, 3));
        log.store().apply(b).unwrap();
        let err = log.recompute_head("430102").unwrap_err();
        assert!(err.to_string().contains("leaf 3 is missing"), "{err}");
    }
}
