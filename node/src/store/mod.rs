//! Storage: the narrow `Store` trait, its sled and in-memory implementations, and the log layout (DESIGN §6).
//!
//! A store is a fixed set of [`Table`]s of byte keys and byte values, ordered by key. All writes go through
//! [`Store::apply`], which applies one [`Batch`] atomically (all of it or none of it, also across a crash), and
//! nothing is durable until [`Store::flush`] returns. The store owns its on-disk encoding; callers use
//! big-endian keys so that byte order is numeric order. [`Store::export`] and [`Store::import`] move the whole
//! store through a portable stream (backup, and leaving sled one day).
//!
//! Values are kept small ([`MAX_VALUE_LEN`]): sled writes any page over about 128 KiB to a separate blob file
//! that it does not fsync, and a leaf page holds up to 17 values, so bigger things (payloads) are split by the
//! layer above.

pub mod log;
pub mod memory;
pub mod sled;

use gongxin_core::crypto::Digest;
use std::io::{Read, Write};

/// Largest value a store accepts. 17 values per sled leaf page × 7 KiB stays under sled's 128 KiB blob threshold.
pub const MAX_VALUE_LEN: usize = 7 * 1024;
/// Largest key a store accepts.
pub const MAX_KEY_LEN: usize = 1024;

/// The fixed set of tables. The tag byte is part of the on-disk and export encoding: never reuse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Table {
    /// Node-wide small settings and markers.
    Meta = 1,
    /// Per origin: tree head (size, root).
    Head = 2,
    /// (origin, index) → exact leaf bytes.
    Leaf = 3,
    /// (origin, index) → DER signature over the leaf.
    LeafSig = 4,
    /// (origin, index, chunk) → payload pieces.
    Payload = 5,
    /// (natural key digest, origin, index) → empty.
    NaturalKey = 6,
    /// (subject length, subject, origin, index) → empty.
    Subject = 7,
    /// (origin, level, index) → aligned subtree hash.
    Subtree = 8,
    /// (origin, size) → signed checkpoint.
    Checkpoint = 9,
    /// (origin, name) → per-origin metadata such as a sync cursor.
    OriginMeta = 10,
    /// Evidence kept forever (equivocation and the like); keys chosen by the writer.
    Evidence = 11,
    /// View: (target natural key digest, target origin, amending origin, index) → empty.
    AmendTarget = 12,
    /// View: (kind class, origin, index) → empty: list entries and their amendments, catalogues, feedback.
    KindIndex = 13,
    /// (origin, index) → a list-relevant entry of an origin this node does not mirror, with its own proof.
    FeedItem = 14,
    /// View: (normalised name key, 0, origin, index) → empty: search by name prefix (`core::names`).
    Name = 15,
}

impl Table {
    pub const ALL: [Table; 15] = [
        Table::Meta,
        Table::Head,
        Table::Leaf,
        Table::LeafSig,
        Table::Payload,
        Table::NaturalKey,
        Table::Subject,
        Table::Subtree,
        Table::Checkpoint,
        Table::OriginMeta,
        Table::Evidence,
        Table::AmendTarget,
        Table::KindIndex,
        Table::FeedItem,
        Table::Name,
    ];

    pub fn tag(self) -> u8 {
        self as u8
    }

    pub fn from_tag(tag: u8) -> Option<Table> {
        Self::ALL.iter().copied().find(|t| t.tag() == tag)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("存储读写失败 store I/O failed: {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("存储引擎错误 sled failed: {context}: {message}")]
    Engine { context: String, message: String },
    #[error("value for table {table:?} key {key} is {len} bytes, more than the {max} a store value may hold")]
    ValueTooLarge { table: Table, key: String, len: usize, max: usize },
    #[error("key for table {table:?} is {len} bytes, more than the {max} allowed")]
    KeyTooLarge { table: Table, len: usize, max: usize },
    #[error("stored value for table {table:?} key {key} is corrupt: {reason}")]
    Corrupt { table: Table, key: String, reason: String },
    #[error("导入失败 import refused: {0}")]
    Import(String),
    #[error("store lock poisoned by a panic in another thread")]
    Poisoned,
}

impl StoreError {
    pub(crate) fn corrupt(table: Table, key: &[u8], reason: impl Into<String>) -> Self {
        StoreError::Corrupt { table, key: hex::encode(key), reason: reason.into() }
    }
}

/// One write operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put { table: Table, key: Vec<u8>, value: Vec<u8> },
    Delete { table: Table, key: Vec<u8> },
}

/// Writes applied together, atomically, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    ops: Vec<Op>,
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(&mut self, table: Table, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(Op::Put { table, key: key.into(), value: value.into() });
    }

    pub fn delete(&mut self, table: Table, key: impl Into<Vec<u8>>) {
        self.ops.push(Op::Delete { table, key: key.into() });
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    pub fn into_ops(self) -> Vec<Op> {
        self.ops
    }

    /// Checks the size limits of every operation; stores call this before writing anything.
    pub fn check_limits(&self) -> Result<(), StoreError> {
        for op in &self.ops {
            let (table, key) = match op {
                Op::Put { table, key, .. } | Op::Delete { table, key } => (*table, key),
            };
            if key.len() > MAX_KEY_LEN {
                return Err(StoreError::KeyTooLarge { table, len: key.len(), max: MAX_KEY_LEN });
            }
            if let Op::Put { value, .. } = op {
                if value.len() > MAX_VALUE_LEN {
                    return Err(StoreError::ValueTooLarge {
                        table,
                        key: hex::encode(key),
                        len: value.len(),
                        max: MAX_VALUE_LEN,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Callback of [`Store::for_each`]: table, key, value.
pub type Visitor<'a> = dyn FnMut(Table, &[u8], &[u8]) -> Result<(), StoreError> + 'a;

/// Key/value pairs returned by a scan.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// The smallest key greater than every key starting with `prefix`, or `None` if there is none (all 0xFF).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Calls `f` with successive pages of at most `page` pairs of `table` with `start ≤ key < end` (no `end`: to the
/// end of the table), ascending, one `scan` per page, until the range is exhausted or `f` returns `false`: a long
/// range is never held in memory at once. Returns `true` when the range was exhausted.
pub fn scan_pages<S: Store + ?Sized, E: From<StoreError>>(
    store: &S,
    table: Table,
    start: &[u8],
    end: Option<&[u8]>,
    page: usize,
    mut f: impl FnMut(Pairs) -> Result<bool, E>,
) -> Result<bool, E> {
    let page = page.max(1);
    let mut from = start.to_vec();
    loop {
        let rows = store.scan(table, &from, end, page, false)?;
        let full = rows.len() == page;
        match rows.last() {
            Some((last, _)) => {
                from = last.clone();
                from.push(0);
            }
            None => return Ok(true),
        }
        if !f(rows)? {
            return Ok(false);
        }
        if !full {
            return Ok(true);
        }
    }
}

/// What an export or import moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferSummary {
    pub records: u64,
    pub bytes: u64,
    /// SM3 over the stream before the trailer.
    pub digest: Digest,
}

/// The narrow storage interface. Implementations: [`sled::SledStore`] and [`memory::MemoryStore`].
pub trait Store: Send + Sync {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Up to `limit` pairs with `start ≤ key < end` (no `end`: to the end of the table), in ascending key order,
    /// or descending when `reverse`.
    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
        reverse: bool,
    ) -> Result<Pairs, StoreError>;

    /// Applies every operation of `batch` or none of them, also across a crash. Not durable before `flush`.
    fn apply(&self, batch: Batch) -> Result<(), StoreError>;

    /// Makes every applied batch durable. Returns only when it is.
    fn flush(&self) -> Result<(), StoreError>;

    /// A count of the batches applied so far, raised after each one is applied, so that a reader that reads it
    /// before reading anything knows, when it is unchanged later, that nothing was written in between. `None`
    /// (the default): this store does not count, and nothing may be cached over it.
    fn writes(&self) -> Option<u64> {
        None
    }

    /// Calls `f` for every pair of every table, in table-tag then key order, with writers held off so the
    /// walk sees one consistent state.
    fn for_each(&self, f: &mut Visitor<'_>) -> Result<(), StoreError>;

    /// Pairs whose key starts with `prefix`, ascending, at most `limit`.
    fn scan_prefix(&self, table: Table, prefix: &[u8], limit: usize) -> Result<Pairs, StoreError> {
        let end = prefix_end(prefix);
        self.scan(table, prefix, end.as_deref(), limit, false)
    }

    /// True when no table holds anything.
    fn is_empty(&self) -> Result<bool, StoreError> {
        for t in Table::ALL {
            if !self.scan(t, &[], None, 1, false)?.is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Writes the whole store to `out` in the portable export format (see [`export_format`]).
    fn export(&self, out: &mut dyn Write) -> Result<TransferSummary, StoreError> {
        export_format::export(self, out)
    }

    /// Loads an export into this store, which must be empty, then flushes.
    fn import(&self, input: &mut dyn Read) -> Result<TransferSummary, StoreError> {
        export_format::import(self, input)
    }
}

/// A shared store is a store (so `Log<Arc<SledStore>>` and `Log<Arc<dyn Store>>` work).
impl<T: Store + ?Sized> Store for std::sync::Arc<T> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(table, key)
    }
    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
        reverse: bool,
    ) -> Result<Pairs, StoreError> {
        (**self).scan(table, start, end, limit, reverse)
    }
    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        (**self).apply(batch)
    }
    fn flush(&self) -> Result<(), StoreError> {
        (**self).flush()
    }
    fn writes(&self) -> Option<u64> {
        (**self).writes()
    }
    fn for_each(&self, f: &mut Visitor<'_>) -> Result<(), StoreError> {
        (**self).for_each(f)
    }
}

/// The portable export stream.
///
/// ```text
/// "GONGXIN-STORE-EXPORT\n" 0x01                        magic and format version
/// repeated: tag:u8 key_len:u32be key value_len:u32be value
/// 0xFF count:u64be sm3:32                              trailer: record count, SM3 of every byte before 0xFF
/// ```
///
/// Import writes a marker (`Meta` key [`IMPORT_MARKER`]) in its first batch and removes it in its last, so a
/// store left behind by a failed import is recognisable.
pub mod export_format {
    use super::*;

    pub const MAGIC: &[u8] = b"GONGXIN-STORE-EXPORT\n\x01";
    pub const TRAILER_TAG: u8 = 0xFF;
    pub const IMPORT_MARKER: &[u8] = b"\x00import-incomplete";
    const IMPORT_BATCH_OPS: usize = 2000;

    struct HashingWriter<'a> {
        out: &'a mut dyn Write,
        hasher: sm3::Sm3,
        bytes: u64,
    }

    impl HashingWriter<'_> {
        fn write(&mut self, data: &[u8]) -> Result<(), StoreError> {
            use sm3::Digest as _;
            self.hasher.update(data);
            self.bytes += data.len() as u64;
            self.out.write_all(data).map_err(|e| StoreError::Io { context: "write export stream".into(), source: e })
        }
    }

    pub fn export<S: Store + ?Sized>(store: &S, out: &mut dyn Write) -> Result<TransferSummary, StoreError> {
        use sm3::Digest as _;
        let mut w = HashingWriter { out, hasher: sm3::Sm3::new(), bytes: 0 };
        w.write(MAGIC)?;
        let mut records = 0u64;
        store.for_each(&mut |table, key, value| {
            records += 1;
            w.write(&[table.tag()])?;
            w.write(&(key.len() as u32).to_be_bytes())?;
            w.write(key)?;
            w.write(&(value.len() as u32).to_be_bytes())?;
            w.write(value)
        })?;
        let digest: Digest = w.hasher.clone().finalize().into();
        let bytes = w.bytes;
        let mut trailer = vec![TRAILER_TAG];
        trailer.extend_from_slice(&records.to_be_bytes());
        trailer.extend_from_slice(&digest);
        w.out.write_all(&trailer).map_err(|e| StoreError::Io { context: "write export trailer".into(), source: e })?;
        w.out.flush().map_err(|e| StoreError::Io { context: "flush export stream".into(), source: e })?;
        Ok(TransferSummary { records, bytes: bytes + trailer.len() as u64, digest })
    }

    struct HashingReader<'a> {
        input: &'a mut dyn Read,
        hasher: sm3::Sm3,
        bytes: u64,
    }

    impl HashingReader<'_> {
        fn read(&mut self, len: usize, what: &str, record: u64) -> Result<Vec<u8>, StoreError> {
            use sm3::Digest as _;
            let mut buf = vec![0u8; len];
            self.input.read_exact(&mut buf).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    StoreError::Import(format!("stream ends inside {what} of record {record} (truncated export?)"))
                } else {
                    StoreError::Io { context: format!("read {what} of record {record}"), source: e }
                }
            })?;
            self.hasher.update(&buf);
            self.bytes += len as u64;
            Ok(buf)
        }

        fn read_len(&mut self, what: &str, record: u64, max: usize) -> Result<usize, StoreError> {
            let b = self.read(4, what, record)?;
            let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
            if len > max {
                return Err(StoreError::Import(format!("record {record}: {what} {len} exceeds the limit {max}")));
            }
            Ok(len)
        }
    }

    pub fn import<S: Store + ?Sized>(store: &S, input: &mut dyn Read) -> Result<TransferSummary, StoreError> {
        use sm3::Digest as _;
        if !store.is_empty()? {
            return Err(StoreError::Import(
                "目标存储非空 the target store is not empty; import needs a fresh store".into(),
            ));
        }
        let mut r = HashingReader { input, hasher: sm3::Sm3::new(), bytes: 0 };
        let magic = r.read(MAGIC.len(), "header", 0)?;
        if magic != MAGIC {
            return Err(StoreError::Import("not a Gongxin store export (bad header or unknown version)".into()));
        }
        let mut batch = Batch::new();
        batch.put(Table::Meta, IMPORT_MARKER, b"1".to_vec());
        let mut records = 0u64;
        let mut last: Option<(u8, Vec<u8>)> = None;
        loop {
            let record = records + 1;
            // The tag byte is hashed only if it is not the trailer tag.
            let mut tag = [0u8; 1];
            r.input.read_exact(&mut tag).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    StoreError::Import(format!("stream ends before record {record} or the trailer (truncated export?)"))
                } else {
                    StoreError::Io { context: format!("read tag of record {record}"), source: e }
                }
            })?;
            if tag[0] == TRAILER_TAG {
                break;
            }
            {
                r.hasher.update(tag);
                r.bytes += 1;
            }
            let table = Table::from_tag(tag[0])
                .ok_or_else(|| StoreError::Import(format!("record {record}: unknown table tag {}", tag[0])))?;
            let klen = r.read_len("key length", record, MAX_KEY_LEN)?;
            let key = r.read(klen, "key", record)?;
            let vlen = r.read_len("value length", record, MAX_VALUE_LEN)?;
            let value = r.read(vlen, "value", record)?;
            if table == Table::Meta && key == IMPORT_MARKER {
                return Err(StoreError::Import(format!(
                    "record {record}: the export comes from a store whose own import never finished"
                )));
            }
            let ord = (tag[0], key.clone());
            if last.as_ref().is_some_and(|l| *l >= ord) {
                return Err(StoreError::Import(format!("record {record}: keys out of order or repeated")));
            }
            last = Some(ord);
            batch.put(table, key, value);
            records += 1;
            if batch.len() >= IMPORT_BATCH_OPS {
                store.apply(std::mem::take(&mut batch))?;
            }
        }
        let digest: Digest = r.hasher.clone().finalize().into();
        let mut trailer = [0u8; 40];
        r.input.read_exact(&mut trailer).map_err(|_| StoreError::Import("stream ends inside the trailer".into()))?;
        let count = u64::from_be_bytes(trailer[..8].try_into().expect("8 bytes"));
        if count != records {
            return Err(StoreError::Import(format!(
                "trailer counts {count} records but the stream holds {records}; the target store is incomplete, \
                 delete it"
            )));
        }
        if trailer[8..] != digest {
            return Err(StoreError::Import(
                "SM3 of the stream does not match its trailer (corrupted export); the target store is incomplete, \
                 delete it"
                    .into(),
            ));
        }
        let mut extra = [0u8; 1];
        if r.input.read(&mut extra).map_err(|e| StoreError::Io { context: "read after trailer".into(), source: e })?
            != 0
        {
            return Err(StoreError::Import("bytes after the trailer".into()));
        }
        batch.delete(Table::Meta, IMPORT_MARKER);
        store.apply(batch)?;
        store.flush()?;
        Ok(TransferSummary { records, bytes: r.bytes + 41, digest })
    }
}

#[cfg(test)]
mod tests {
    //! Model tests: both stores behave like a `BTreeMap` under random operation sequences, and export/import
    //! round-trips between them.
    use super::memory::MemoryStore;
    use super::sled::SledStore;
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum ModelOp {
        Batch(Vec<(u8, Vec<u8>, Option<Vec<u8>>)>),
        Get(u8, Vec<u8>),
        Scan(u8, Vec<u8>, Option<Vec<u8>>, usize, bool),
        Prefix(u8, Vec<u8>),
        Flush,
    }

    fn small_key() -> impl Strategy<Value = Vec<u8>> {
        // A tiny alphabet so keys collide, prefix each other and fall into scan ranges.
        proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0x7F), Just(0xFF)], 0..4)
    }

    fn op() -> impl Strategy<Value = ModelOp> {
        let table = 0u8..Table::ALL.len() as u8;
        prop_oneof![
            4 => proptest::collection::vec(
                (table.clone(), small_key(), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8))),
                0..6
            )
            .prop_map(ModelOp::Batch),
            2 => (table.clone(), small_key()).prop_map(|(t, k)| ModelOp::Get(t, k)),
            2 => (table.clone(), small_key(), proptest::option::of(small_key()), 0usize..6, any::<bool>())
                .prop_map(|(t, s, e, l, r)| ModelOp::Scan(t, s, e, l, r)),
            1 => (table, small_key()).prop_map(|(t, k)| ModelOp::Prefix(t, k)),
            1 => Just(ModelOp::Flush),
        ]
    }

    type Model = BTreeMap<(Table, Vec<u8>), Vec<u8>>;

    fn model_scan(m: &Model, t: Table, start: &[u8], end: Option<&[u8]>, limit: usize, rev: bool) -> Pairs {
        let it =
            m.iter().filter(|((tt, k), _)| *tt == t && k.as_slice() >= start && end.is_none_or(|e| k.as_slice() < e));
        let v: Pairs = it.map(|((_, k), v)| (k.clone(), v.clone())).collect();
        if rev {
            v.into_iter().rev().take(limit).collect()
        } else {
            v.into_iter().take(limit).collect()
        }
    }

    fn run_model(store: &dyn Store, ops: &[ModelOp]) -> Model {
        let mut model = Model::new();
        for op in ops {
            match op {
                ModelOp::Batch(items) => {
                    let mut b = Batch::new();
                    for (t, k, v) in items {
                        let t = Table::ALL[*t as usize];
                        match v {
                            Some(v) => {
                                b.put(t, k.clone(), v.clone());
                                model.insert((t, k.clone()), v.clone());
                            }
                            None => {
                                b.delete(t, k.clone());
                                model.remove(&(t, k.clone()));
                            }
                        }
                    }
                    store.apply(b).unwrap();
                }
                ModelOp::Get(t, k) => {
                    let t = Table::ALL[*t as usize];
                    assert_eq!(store.get(t, k).unwrap(), model.get(&(t, k.clone())).cloned(), "get {t:?} {k:?}");
                }
                ModelOp::Scan(t, s, e, l, r) => {
                    let t = Table::ALL[*t as usize];
                    assert_eq!(
                        store.scan(t, s, e.as_deref(), *l, *r).unwrap(),
                        model_scan(&model, t, s, e.as_deref(), *l, *r),
                        "scan {t:?} {s:?}..{e:?} limit {l} rev {r}"
                    );
                }
                ModelOp::Prefix(t, p) => {
                    let t = Table::ALL[*t as usize];
                    let want: Pairs = model
                        .iter()
                        .filter(|((tt, k), _)| *tt == t && k.starts_with(p))
                        .map(|((_, k), v)| (k.clone(), v.clone()))
                        .collect();
                    assert_eq!(store.scan_prefix(t, p, usize::MAX).unwrap(), want, "prefix {t:?} {p:?}");
                }
                ModelOp::Flush => store.flush().unwrap(),
            }
        }
        // Final state: every table equals the model.
        let mut all = Model::new();
        store
            .for_each(&mut |t, k, v| {
                all.insert((t, k.to_vec()), v.to_vec());
                Ok(())
            })
            .unwrap();
        assert_eq!(all, model);
        assert_eq!(store.is_empty().unwrap(), model.is_empty());
        model
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

        #[test]
        fn memory_store_behaves_like_a_btreemap(ops in proptest::collection::vec(op(), 1..60)) {
            run_model(&MemoryStore::new(), &ops);
        }

        #[test]
        fn sled_store_behaves_like_a_btreemap_and_survives_reopen(ops in proptest::collection::vec(op(), 1..60)) {
            let dir = tempfile::tempdir().unwrap();
            let model = {
                let s = SledStore::open(dir.path()).unwrap();
                let m = run_model(&s, &ops);
                s.flush().unwrap();
                m
            };
            let s = SledStore::open(dir.path()).unwrap();
            run_model_check_only(&s, &model);
            // Export from sled, import into memory and back into a fresh sled: same content, same digest.
            let mut buf = Vec::new();
            let sum = s.export(&mut buf).unwrap();
            prop_assert_eq!(sum.records, model.len() as u64);
            let mem = MemoryStore::new();
            let sum2 = mem.import(&mut buf.as_slice()).unwrap();
            prop_assert_eq!(sum.digest, sum2.digest);
            run_model_check_only(&mem, &model);
            let dir2 = tempfile::tempdir().unwrap();
            let s2 = SledStore::open(dir2.path()).unwrap();
            s2.import(&mut buf.as_slice()).unwrap();
            let mut buf2 = Vec::new();
            s2.export(&mut buf2).unwrap();
            prop_assert_eq!(buf, buf2);
        }
    }

    fn run_model_check_only(store: &dyn Store, model: &Model) {
        let mut all = Model::new();
        store
            .for_each(&mut |t, k, v| {
                all.insert((t, k.to_vec()), v.to_vec());
                Ok(())
            })
            .unwrap();
        assert_eq!(&all, model);
    }

    #[test]
    fn oversized_values_and_keys_are_refused_without_writing_anything() {
        let dir = tempfile::tempdir().unwrap();
        let stores: Vec<Box<dyn Store>> =
            vec![Box::new(MemoryStore::new()), Box::new(SledStore::open(dir.path()).unwrap())];
        for s in stores {
            let mut b = Batch::new();
            b.put(Table::Leaf, b"ok".to_vec(), vec![1u8; 10]);
            b.put(Table::Payload, b"big".to_vec(), vec![0u8; MAX_VALUE_LEN + 1]);
            let err = s.apply(b).unwrap_err();
            assert!(
                matches!(err, StoreError::ValueTooLarge { table: Table::Payload, len, .. } if len == MAX_VALUE_LEN + 1)
            );
            assert!(err.to_string().contains("Payload"), "{err}");
            assert_eq!(s.get(Table::Leaf, b"ok").unwrap(), None, "nothing of a refused batch is written");
            let mut b = Batch::new();
            b.put(Table::Leaf, vec![0u8; MAX_KEY_LEN + 1], vec![]);
            assert!(matches!(s.apply(b), Err(StoreError::KeyTooLarge { .. })));
        }
    }

    #[test]
    fn import_refuses_damaged_streams() {
        let src = MemoryStore::new();
        let mut b = Batch::new();
        // More records than one import batch, so a late failure happens after a first batch was written.
        for i in 0u32..2100 {
            b.put(Table::Leaf, i.to_be_bytes().to_vec(), vec![i as u8; 20]);
        }
        src.apply(b).unwrap();
        let mut good = Vec::new();
        src.export(&mut good).unwrap();

        let check = |bytes: &[u8], want: &str| {
            let dst = MemoryStore::new();
            let err = dst.import(&mut &bytes[..]).unwrap_err().to_string();
            assert!(err.contains(want), "expected {want:?} in {err:?}");
        };
        check(&good[..good.len() - 10], "trailer");
        check(&good[..100], "stream ends inside");
        check(b"not an export at all, clearly not", "not a Gongxin store export");
        // A bit flipped inside the value of the fifth record (22-byte header, 33-byte records, 13 bytes before
        // a value) is caught only by the trailer's SM3.
        let mut flipped = good.clone();
        flipped[MAGIC_LEN + 33 * 4 + 13 + 5] ^= 1;
        check(&flipped, "SM3 of the stream does not match");
        let mut extra = good.clone();
        extra.push(0);
        check(&extra, "bytes after the trailer");
        let mut bad_tag = good.clone();
        bad_tag[MAGIC_LEN] = 77;
        check(&bad_tag, "unknown table tag 77");

        // A failed import leaves its marker; a non-empty target is refused.
        let dst = MemoryStore::new();
        assert!(dst.import(&mut &flipped[..]).is_err());
        assert_eq!(dst.get(Table::Meta, export_format::IMPORT_MARKER).unwrap(), Some(b"1".to_vec()));
        let full = MemoryStore::new();
        full.import(&mut &good[..]).unwrap();
        assert_eq!(full.get(Table::Meta, export_format::IMPORT_MARKER).unwrap(), None);
        assert!(full.import(&mut &good[..]).unwrap_err().to_string().contains("not empty"));
    }

    const MAGIC_LEN: usize = export_format::MAGIC.len();

    #[test]
    fn prefix_end_handles_ff() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF, 0xFF]), None);
        assert_eq!(prefix_end(&[]), None);
    }
}
