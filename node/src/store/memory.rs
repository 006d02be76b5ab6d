//! In-memory `Store`: a `BTreeMap` behind a lock. Same semantics as the sled store except durability; keeps the
//! trait honest and makes tests fast.

use super::{Batch, Op, Pairs, Store, StoreError, Table, Visitor};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

type Map = BTreeMap<(Table, Vec<u8>), Vec<u8>>;

#[derive(Debug, Default)]
pub struct MemoryStore {
    map: RwLock<Map>,
    writes: std::sync::atomic::AtomicU64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let map = self.map.read().map_err(|_| StoreError::Poisoned)?;
        Ok(map.get(&(table, key.to_vec())).cloned())
    }

    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
        reverse: bool,
    ) -> Result<Pairs, StoreError> {
        let map = self.map.read().map_err(|_| StoreError::Poisoned)?;
        let lo = Bound::Included((table, start.to_vec()));
        let hi = match end {
            Some(e) => Bound::Excluded((table, e.to_vec())),
            None => match Table::ALL.iter().find(|t| **t > table) {
                Some(next) => Bound::Excluded((*next, Vec::new())),
                None => Bound::Unbounded,
            },
        };
        if let Some(e) = end {
            if e <= start {
                return Ok(Vec::new());
            }
        }
        let range = map.range((lo, hi)).map(|((_, k), v)| (k.clone(), v.clone()));
        Ok(if reverse { range.rev().take(limit).collect() } else { range.take(limit).collect() })
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        batch.check_limits()?;
        let mut map = self.map.write().map_err(|_| StoreError::Poisoned)?;
        for op in batch.into_ops() {
            match op {
                Op::Put { table, key, value } => {
                    map.insert((table, key), value);
                }
                Op::Delete { table, key } => {
                    map.remove(&(table, key));
                }
            }
        }
        self.writes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    fn writes(&self) -> Option<u64> {
        Some(self.writes.load(std::sync::atomic::Ordering::SeqCst))
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn for_each(&self, f: &mut Visitor<'_>) -> Result<(), StoreError> {
        // The read lock holds writers off for the whole walk.
        let map = self.map.read().map_err(|_| StoreError::Poisoned)?;
        for ((t, k), v) in map.iter() {
            f(*t, k, v)?;
        }
        Ok(())
    }
}
