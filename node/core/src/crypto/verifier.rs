//! [`Verifier`]: the one SM2 verifier used by sync, audit and `verify-bundle`.
//!
//! It keeps a fixed-base table (see `fast.rs`) for each registered signer key, so that verifying a signature of a
//! known node costs about 66 mixed point additions instead of a full two-point multiplication. Keys that are not
//! registered are verified on a variable-time path without a per-key table (the generator table plus wNAF).
//! All of this is variable time, which is fine: every input of a verification is public.
//!
//! Cost: the point is accumulated in Jacobian coordinates and never made affine; the final check compares `X`
//! with `x1·Z²` for the (at most two) admissible `x1` (see `fast::x_matches`), so a verification needs no field
//! inversion. [`Verifier::verify_batch`] therefore costs about the same per signature on one core as
//! [`Verifier::verify`]; its gain is spreading the work over all cores.
//!
//! Memory: one table is [`TABLE_BYTES`] (256 KiB). At most `max_tables` tables are held at once
//! ([`DEFAULT_MAX_TABLES`] = 192, 48 MiB, enough for the ~140 nodes of a province); when a new table would
//! exceed the cap, the least recently used ones are dropped (their keys stay registered and the table is rebuilt on
//! next use). While several threads build tables at the same moment the count can exceed the cap by at most the
//! number of those threads. The process-wide generator table adds one more [`TABLE_BYTES`].

use super::fast::{self, FixedBaseTable, Jacobian, Prepared};
use super::{CryptoError, PublicKey};
use sm2::elliptic_curve::sec1::ToSec1Point;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Default cap on the number of per-signer tables held at once.
pub const DEFAULT_MAX_TABLES: usize = 192;

/// Bytes of memory held by one per-signer table.
pub const TABLE_BYTES: usize = FixedBaseTable::bytes();

/// Smallest number of signatures worth handing to a thread of its own in [`Verifier::verify_batch`].
const MIN_ITEMS_PER_THREAD: usize = 16;

type KeyBytes = [u8; 64];

fn key_bytes(key: &PublicKey) -> KeyBytes {
    let point = key.affine().to_sec1_point(false);
    let mut out = [0u8; 64];
    out.copy_from_slice(&point.as_bytes()[1..65]);
    out
}

struct Entry {
    key: PublicKey,
    table: Mutex<Option<Arc<FixedBaseTable>>>,
    /// Value of the verifier's clock when this key was last used (for least-recently-used eviction).
    last_used: AtomicU64,
}

/// Figures about a [`Verifier`], for metrics and the benchmark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierStats {
    pub registered_keys: usize,
    pub tables_held: usize,
    pub table_bytes_held: usize,
    pub max_tables: usize,
    /// Verifications that used a per-signer table, since creation.
    pub table_verifications: u64,
    /// Verifications of keys without a table (not registered), since creation.
    pub fallback_verifications: u64,
    /// Tables built since creation (including rebuilds after eviction).
    pub tables_built: u64,
    /// Tables dropped to respect `max_tables`, since creation.
    pub tables_evicted: u64,
}

/// SM2 verifier with per-signer precomputed tables. `Send + Sync`: share it behind an `Arc`.
pub struct Verifier {
    keys: RwLock<HashMap<KeyBytes, Arc<Entry>>>,
    max_tables: usize,
    /// Logical clock for least-recently-used eviction; entries record the value at their last use.
    clock: AtomicU64,
    table_verifications: AtomicU64,
    fallback_verifications: AtomicU64,
    tables_built: AtomicU64,
    tables_evicted: AtomicU64,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("stats", &self.stats()).finish()
    }
}

impl Verifier {
    /// A verifier holding at most [`DEFAULT_MAX_TABLES`] per-signer tables.
    pub fn new() -> Self {
        Self::with_max_tables(DEFAULT_MAX_TABLES)
    }

    /// A verifier holding at most `max_tables` per-signer tables (0 disables tables: every key takes the
    /// fallback path).
    pub fn with_max_tables(max_tables: usize) -> Self {
        Self {
            keys: RwLock::new(HashMap::new()),
            max_tables,
            clock: AtomicU64::new(1),
            table_verifications: AtomicU64::new(0),
            fallback_verifications: AtomicU64::new(0),
            tables_built: AtomicU64::new(0),
            tables_evicted: AtomicU64::new(0),
        }
    }

    fn read_keys(&self) -> std::sync::RwLockReadGuard<'_, HashMap<KeyBytes, Arc<Entry>>> {
        // A poisoned lock only means another thread panicked mid-operation; the map itself is always consistent
        // (every mutation is a single insert/remove/replace), so keep going.
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_keys(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<KeyBytes, Arc<Entry>>> {
        self.keys.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a known signer. Its table is built on first use (or now, with [`Verifier::build_tables`]).
    /// Registering a key twice is harmless.
    pub fn register(&self, key: &PublicKey) {
        let kb = key_bytes(key);
        let mut keys = self.write_keys();
        keys.entry(kb).or_insert_with(|| {
            Arc::new(Entry { key: key.clone(), table: Mutex::new(None), last_used: AtomicU64::new(0) })
        });
    }

    /// Forgets a signer (for example a revoked key) and drops its table. Returns whether it was registered.
    /// Signatures by that key still verify afterwards, on the fallback path: whether a revoked key's signatures
    /// are acceptable is the caller's (the registry's) decision, not the verifier's.
    pub fn unregister(&self, key: &PublicKey) -> bool {
        self.write_keys().remove(&key_bytes(key)).is_some()
    }

    /// Makes the registered set exactly `keys` (the registry's current signer keys): new keys are registered,
    /// keys no longer present are dropped with their tables, tables of keys that stay are kept.
    pub fn set_keys<'a>(&self, keys: impl IntoIterator<Item = &'a PublicKey>) {
        let wanted: HashMap<KeyBytes, &PublicKey> = keys.into_iter().map(|k| (key_bytes(k), k)).collect();
        let mut map = self.write_keys();
        map.retain(|kb, _| wanted.contains_key(kb));
        for (kb, key) in wanted {
            map.entry(kb).or_insert_with(|| {
                Arc::new(Entry { key: key.clone(), table: Mutex::new(None), last_used: AtomicU64::new(0) })
            });
        }
    }

    pub fn is_registered(&self, key: &PublicKey) -> bool {
        self.read_keys().contains_key(&key_bytes(key))
    }

    /// Builds the tables of all registered keys that have none yet (up to the cap), in parallel, and the
    /// generator table. Optional: tables are otherwise built on first use.
    pub fn build_tables(&self) {
        fast::warm_generator_table();
        let mut entries: Vec<Arc<Entry>> = self.read_keys().values().cloned().collect();
        entries.truncate(self.max_tables);
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).max(1);
        let per = entries.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            for chunk in entries.chunks(per) {
                scope.spawn(move || {
                    for e in chunk {
                        let _ = self.table_for(e);
                    }
                });
            }
        });
    }

    pub fn stats(&self) -> VerifierStats {
        let keys = self.read_keys();
        let tables_held = keys.values().filter(|e| lock_slot(e).is_some()).count();
        VerifierStats {
            registered_keys: keys.len(),
            tables_held,
            table_bytes_held: tables_held * TABLE_BYTES,
            max_tables: self.max_tables,
            table_verifications: self.table_verifications.load(Ordering::Relaxed),
            fallback_verifications: self.fallback_verifications.load(Ordering::Relaxed),
            tables_built: self.tables_built.load(Ordering::Relaxed),
            tables_evicted: self.tables_evicted.load(Ordering::Relaxed),
        }
    }

    /// The table for a registered entry, building it if needed (and evicting others beyond the cap).
    fn table_for(&self, entry: &Entry) -> Option<Arc<FixedBaseTable>> {
        if self.max_tables == 0 {
            return None;
        }
        // Stamp the use; skip the shared read-modify-write when this key is already the most recent one.
        if entry.last_used.load(Ordering::Relaxed) != self.clock.load(Ordering::Relaxed) {
            let stamp = self.clock.fetch_add(1, Ordering::Relaxed) + 1;
            entry.last_used.store(stamp, Ordering::Relaxed);
        }
        let built = {
            let mut slot = lock_slot(entry);
            if let Some(t) = slot.as_ref() {
                return Some(t.clone());
            }
            // Built while holding this entry's lock, so concurrent first uses of one key build it once.
            let t = Arc::new(FixedBaseTable::new(entry.key.affine()));
            *slot = Some(t.clone());
            t
        };
        self.tables_built.fetch_add(1, Ordering::Relaxed);
        let stamp = self.clock.fetch_add(1, Ordering::Relaxed) + 1;
        entry.last_used.store(stamp, Ordering::Relaxed);
        self.evict_beyond_cap(entry);
        Some(built)
    }

    /// Drops least recently used tables until at most `max_tables` are held; never the one just built.
    fn evict_beyond_cap(&self, keep: &Entry) {
        let entries: Vec<Arc<Entry>> = self.read_keys().values().cloned().collect();
        let mut held: Vec<(u64, &Arc<Entry>)> = entries
            .iter()
            .filter(|e| !std::ptr::eq(e.as_ref(), keep) && lock_slot(e).is_some())
            .map(|e| (e.last_used.load(Ordering::Relaxed), e))
            .collect();
        let total = held.len() + 1;
        if total <= self.max_tables {
            return;
        }
        held.sort_by_key(|(t, _)| *t);
        for (_, e) in held.into_iter().take(total - self.max_tables) {
            if lock_slot(e).take().is_some() {
                self.tables_evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn lookup(&self, key: &PublicKey) -> Option<Arc<Entry>> {
        self.read_keys().get(&key_bytes(key)).cloned()
    }

    /// Verifies a DER signature over `msg` by `key` (default ID). Same verdict as [`PublicKey::verify`].
    pub fn verify(&self, key: &PublicKey, msg: &[u8], der_sig: &[u8]) -> Result<(), CryptoError> {
        let prepared = prepare(key, msg, der_sig)?;
        let point = self.point(key, &prepared);
        if prepared.accepts(&point) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    fn point(&self, key: &PublicKey, prepared: &Prepared) -> Jacobian {
        match self.lookup(key).and_then(|e| self.table_for(&e)) {
            Some(table) => {
                self.table_verifications.fetch_add(1, Ordering::Relaxed);
                prepared.point_with_table(&table)
            }
            None => {
                self.fallback_verifications.fetch_add(1, Ordering::Relaxed);
                prepared.point_without_table(key.affine())
            }
        }
    }

    /// Verifies one signature by any of a signer's `keys` (oldest first, as a registry lists them): the newest
    /// key is tried first, older ones (key rotation) only if it fails.
    pub fn verify_any(&self, keys: &[PublicKey], msg: &[u8], der_sig: &[u8]) -> Result<(), CryptoError> {
        let mut last = Err(CryptoError::BadSignature);
        for k in keys.iter().rev() {
            last = self.verify(k, msg, der_sig);
            if last.is_ok() {
                break;
            }
        }
        last
    }

    /// Verifies many `(message, signature)` pairs of one signer whose keys are `keys` (oldest first): a batch
    /// with the newest key on all cores, then [`Verifier::verify_any`] for the ones it rejects. Results in input
    /// order.
    pub fn verify_batch_any(&self, keys: &[PublicKey], items: &[(&[u8], &[u8])]) -> Vec<Result<(), CryptoError>> {
        let Some(newest) = keys.last() else {
            return items.iter().map(|_| Err(CryptoError::BadSignature)).collect();
        };
        let batch: Vec<(&PublicKey, &[u8], &[u8])> = items.iter().map(|(m, s)| (newest, *m, *s)).collect();
        let mut out = self.verify_batch(&batch);
        for (r, (m, s)) in out.iter_mut().zip(items) {
            if r.is_err() && keys.len() > 1 {
                if let ok @ Ok(()) = self.verify_any(&keys[..keys.len() - 1], m, s) {
                    *r = ok;
                }
            }
        }
        out
    }

    /// Verifies many signatures on all cores. Results are in input order; nothing is reordered or skipped.
    pub fn verify_batch(&self, items: &[(&PublicKey, &[u8], &[u8])]) -> Vec<Result<(), CryptoError>> {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        self.verify_batch_on(items, threads)
    }

    /// [`Verifier::verify_batch`] on at most `threads` threads (1 = the calling thread only).
    pub fn verify_batch_on(
        &self,
        items: &[(&PublicKey, &[u8], &[u8])],
        threads: usize,
    ) -> Vec<Result<(), CryptoError>> {
        let threads = threads.max(1).min(items.len() / MIN_ITEMS_PER_THREAD).max(1);
        if threads == 1 {
            return self.verify_chunk(items);
        }
        let per = items.len().div_ceil(threads);
        let mut out = Vec::with_capacity(items.len());
        std::thread::scope(|scope| {
            let handles: Vec<_> =
                items.chunks(per).map(|chunk| scope.spawn(move || self.verify_chunk(chunk))).collect();
            for h in handles {
                match h.join() {
                    Ok(results) => out.extend(results),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        });
        out
    }

    /// Verifies a chunk on this thread, in order.
    fn verify_chunk(&self, items: &[(&PublicKey, &[u8], &[u8])]) -> Vec<Result<(), CryptoError>> {
        items.iter().map(|(key, msg, sig)| self.verify(key, msg, sig)).collect()
    }
}

fn lock_slot(e: &Entry) -> std::sync::MutexGuard<'_, Option<Arc<FixedBaseTable>>> {
    // The slot is a single Option; a panic elsewhere cannot leave it half-written.
    e.table.lock().unwrap_or_else(|p| p.into_inner())
}

fn prepare(key: &PublicKey, msg: &[u8], der_sig: &[u8]) -> Result<Prepared, CryptoError> {
    let sig = sm2::dsa::Signature::from_der(der_sig).map_err(|e| CryptoError::SignatureEncoding(e.to_string()))?;
    let digest = key.message_digest(msg);
    Prepared::new(&digest, &sig).ok_or(CryptoError::BadSignature)
}
