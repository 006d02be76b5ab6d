//! The sled 0.34.7 `Store`: one sled tree, each key prefixed with its table's tag byte, so that one
//! `apply_batch` covers every table atomically (sled batches are atomic within a tree).
//!
//! Durability: `flush` runs sled's flush, which on Linux ends in `sync_file_range` and leaves the drive's write
//! cache alone, then `fsync`s the data file and any blob files sled wrote, so a reported flush survives power
//! loss too.

use super::{Batch, Op, Pairs, Store, StoreError, Table, Visitor};
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

/// Name of the single sled tree holding every table.
const TREE: &str = "gongxin.v1";
/// Default page cache budget in MiB (sled's own default is 1 GiB, too much beside a county's other services).
pub const DEFAULT_CACHE_MIB: u64 = 128;
/// The same in bytes.
pub const DEFAULT_CACHE_BYTES: u64 = DEFAULT_CACHE_MIB << 20;
/// zstd level of sled's page compression (issue 14: payload JSON is most of a record's bytes).
pub const COMPRESSION_LEVEL: i32 = 3;

/// Whether the store in `dir` uses sled's page compression. sled fixes it when a store is created and refuses
/// to reopen with the other setting, so an existing store keeps what its `conf` file says (stores made before
/// compression stay uncompressed until moved through `store export`/`store import`); a new store is compressed.
fn compressed(dir: &Path) -> Result<bool, StoreError> {
    let conf = dir.join("conf");
    // sled's `conf` is text lines followed by a binary CRC: read the lines, not the whole file, as text.
    let read = File::open(&conf).and_then(|f| {
        use std::io::Read as _;
        let mut bytes = Vec::new();
        f.take(4096).read_to_end(&mut bytes).map(|_| bytes)
    });
    match read {
        Ok(bytes) => match String::from_utf8_lossy(&bytes)
            .lines()
            .find_map(|l| l.strip_prefix("use_compression:"))
            .map(str::trim)
        {
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            _ => Err(StoreError::Engine {
                context: format!("读取存储配置 read {}", conf.display()),
                message: "no use_compression line (not a sled store?)".into(),
            }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(source) => Err(StoreError::Io { context: format!("read {}", conf.display()), source }),
    }
}

pub struct SledStore {
    dir: PathBuf,
    db: sled::Db,
    tree: sled::Tree,
    data_file: File,
    /// Whether sled compresses this store's pages (read from its `conf` when opened; sled fixes it at creation).
    compressed: bool,
    /// Writers (apply) take it shared; `for_each` takes it exclusively to see one consistent state.
    gate: RwLock<()>,
    synced_blobs: Mutex<HashSet<OsString>>,
    /// Batches applied since opened (`Store::writes`).
    writes: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn engine(context: impl Into<String>) -> impl FnOnce(sled::Error) -> StoreError {
    let context = context.into();
    move |e| match e {
        sled::Error::Io(source) => StoreError::Io { context, source },
        other => StoreError::Engine { context, message: other.to_string() },
    }
}

fn prefixed(table: Table, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(table.tag());
    k.extend_from_slice(key);
    k
}

impl SledStore {
    /// Opens (creating if needed) the store in directory `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        let shown = dir.display().to_string();
        let compressed = compressed(dir)?;
        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .use_compression(compressed)
            .compression_factor(COMPRESSION_LEVEL);
        // sled's file lock is released by its flusher thread shortly after the last handle is dropped, so a store
        // reopened right after a close (a restart, a test) may briefly find it held: retry for up to 2 s before
        // calling it another process's.
        let mut tries = 0;
        let db = loop {
            match config.open() {
                Err(e) if tries < 20 && e.to_string().contains("could not acquire lock") => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                other => {
                    break other
                        .map_err(engine(format!("打开存储 open store {shown} (is another gongxin-node using it?)")))?
                }
            }
        };
        let tree = db.open_tree(TREE).map_err(engine(format!("open tree {TREE} in {shown}")))?;
        let data_path = dir.join("db");
        let data_file = File::open(&data_path)
            .map_err(|source| StoreError::Io { context: format!("open {}", data_path.display()), source })?;
        // Make the directory entries of sled's files durable once.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            db,
            tree,
            data_file,
            compressed,
            gate: RwLock::new(()),
            synced_blobs: Mutex::default(),
            writes: Default::default(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether this store uses sled's page compression (fixed when it was created).
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// Bytes sled reports on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db.size_on_disk().map_err(engine("measure store size"))
    }

    fn sync_new_blobs(&self) -> Result<(), StoreError> {
        let blob_dir = self.dir.join("blobs");
        let entries = match std::fs::read_dir(&blob_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(StoreError::Io { context: format!("list {}", blob_dir.display()), source }),
        };
        let mut synced = self.synced_blobs.lock().map_err(|_| StoreError::Poisoned)?;
        let mut any = false;
        for entry in entries {
            let entry =
                entry.map_err(|source| StoreError::Io { context: format!("list {}", blob_dir.display()), source })?;
            let name = entry.file_name();
            if synced.contains(&name) {
                continue;
            }
            match File::open(entry.path()) {
                Ok(f) => f.sync_all().map_err(|source| StoreError::Io {
                    context: format!("fsync {}", entry.path().display()),
                    source,
                })?,
                // sled removes blobs it no longer needs; one that vanished needs no sync.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(StoreError::Io { context: format!("open {}", entry.path().display()), source })
                }
            }
            synced.insert(name);
            any = true;
        }
        if any {
            File::open(&blob_dir)
                .and_then(|d| d.sync_all())
                .map_err(|source| StoreError::Io { context: format!("fsync {}", blob_dir.display()), source })?;
        }
        Ok(())
    }
}

impl Store for SledStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let v = self.tree.get(prefixed(table, key)).map_err(engine(format!("read {table:?}")))?;
        Ok(v.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
        reverse: bool,
    ) -> Result<Pairs, StoreError> {
        let lo = prefixed(table, start);
        let hi = match end {
            Some(e) => prefixed(table, e),
            None => vec![table.tag() + 1],
        };
        if hi <= lo || limit == 0 {
            return Ok(Vec::new());
        }
        let iter = self.tree.range(lo..hi);
        let mut out = Vec::new();
        let mut take = |item: sled::Result<(sled::IVec, sled::IVec)>| -> Result<bool, StoreError> {
            let (k, v) = item.map_err(engine(format!("scan {table:?}")))?;
            out.push((k[1..].to_vec(), v.to_vec()));
            Ok(out.len() < limit)
        };
        if reverse {
            for item in iter.rev() {
                if !take(item)? {
                    break;
                }
            }
        } else {
            for item in iter {
                if !take(item)? {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        batch.check_limits()?;
        let n = batch.len();
        let mut b = sled::Batch::default();
        for op in batch.into_ops() {
            match op {
                Op::Put { table, key, value } => b.insert(prefixed(table, &key), value),
                Op::Delete { table, key } => b.remove(prefixed(table, &key)),
            }
        }
        let _g = self.gate.read().map_err(|_| StoreError::Poisoned)?;
        let r = self.tree.apply_batch(b).map_err(engine(format!("write a batch of {n} operations")));
        // Raised whatever the outcome: a failed batch may have left part of itself behind in sled's memory.
        self.writes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        r
    }

    fn writes(&self) -> Option<u64> {
        Some(self.writes.load(std::sync::atomic::Ordering::SeqCst))
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.tree.flush().map_err(engine("flush store"))?;
        self.sync_new_blobs()?;
        self.data_file
            .sync_all()
            .map_err(|source| StoreError::Io { context: format!("fsync {}", self.dir.join("db").display()), source })
    }

    fn for_each(&self, f: &mut Visitor<'_>) -> Result<(), StoreError> {
        let _g = self.gate.write().map_err(|_| StoreError::Poisoned)?;
        for item in self.tree.iter() {
            let (k, v) = item.map_err(engine("walk the store"))?;
            let table = k
                .first()
                .and_then(|t| Table::from_tag(*t))
                .ok_or_else(|| StoreError::corrupt(Table::Meta, &k, "key without a known table tag"))?;
            f(table, &k[1..], &v)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(store: &SledStore, key: &[u8]) {
        let mut b = Batch::new();
        b.put(Table::Payload, key.to_vec(), "湖南省长沙市芙蓉区 行政处罚决定书 ".repeat(40).into_bytes());
        store.apply(b).unwrap();
        store.flush().unwrap();
    }

    #[test]
    fn a_new_store_is_compressed_and_stays_so_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path()).unwrap();
        assert!(s.is_compressed());
        roundtrip(&s, b"a");
        drop(s);
        let s = SledStore::open(dir.path()).unwrap();
        assert!(s.is_compressed());
        assert!(s.get(Table::Payload, b"a").unwrap().unwrap().starts_with("湖南省".as_bytes()));
    }

    #[test]
    fn a_store_made_before_compression_keeps_opening_uncompressed() {
        let dir = tempfile::tempdir().unwrap();
        {
            // What an older gongxin-node made: sled's default, no compression.
            let db = sled::Config::new().path(dir.path()).open().unwrap();
            let t = db.open_tree(TREE).unwrap();
            t.insert(prefixed(Table::Meta, b"old"), b"v".to_vec()).unwrap();
            db.flush().unwrap();
        }
        let s = SledStore::open(dir.path()).unwrap();
        assert!(!s.is_compressed());
        assert_eq!(s.get(Table::Meta, b"old").unwrap().as_deref(), Some(&b"v"[..]));
        roundtrip(&s, b"b");
        drop(s);
        let s = SledStore::open(dir.path()).unwrap();
        assert!(!s.is_compressed());
        assert!(s.get(Table::Payload, b"b").unwrap().is_some());
    }

    #[test]
    fn a_damaged_conf_file_is_named_not_guessed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("conf"), "segment_size: 524288\n").unwrap();
        let e = SledStore::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("use_compression") && e.contains("conf"), "{e}");
    }
}
