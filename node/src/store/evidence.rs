//! Evidence kept forever (DESIGN §5): the exact conflicting signed objects when an origin equivocates or a
//! relay tampers. Stored in the `Evidence` table under (origin, sequence); never overwritten or deleted.

use super::{Batch, Store, StoreError, Table};
use serde::{Deserialize, Serialize};

/// One conflicting object, exactly as received or stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceObject {
    /// What it is: `stored checkpoint`, `received checkpoint`, `stored leaf`, `received leaf`, …
    pub what: String,
    /// Base64 of the exact bytes.
    pub bytes_b64: String,
    /// Base64 of the DER signature over `bytes`, when there is one.
    #[serde(default)]
    pub signature_b64: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// `equivocation-checkpoint`, `equivocation-leaf`, …
    pub kind: String,
    /// The node whose signed objects conflict.
    pub origin: String,
    /// Who delivered the conflicting object (the peer that sent it).
    pub received_from: String,
    /// RFC 3339 UTC.
    pub at: String,
    pub detail: String,
    pub objects: Vec<EvidenceObject>,
}

fn key(origin: u32, seq: u64) -> Vec<u8> {
    let mut k = origin.to_be_bytes().to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Appends `ev` (never replacing earlier evidence) and flushes.
pub fn record(store: &impl Store, origin_code: u32, ev: &Evidence) -> Result<(), StoreError> {
    let prefix = origin_code.to_be_bytes();
    let next = store
        .scan_prefix(Table::Evidence, &prefix, usize::MAX)?
        .last()
        .and_then(|(k, _)| k.get(4..12).map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")) + 1))
        .unwrap_or(0);
    let mut v = serde_json::to_vec(ev).map_err(|e| StoreError::corrupt(Table::Evidence, &prefix, e.to_string()))?;
    if v.len() > super::MAX_VALUE_LEN {
        // Keep the statement; drop object bytes that do not fit (the detail still names them).
        let mut slim = ev.clone();
        for o in &mut slim.objects {
            o.bytes_b64 = format!("<{} base64 chars omitted: too large to store>", o.bytes_b64.len());
        }
        v = serde_json::to_vec(&slim).map_err(|e| StoreError::corrupt(Table::Evidence, &prefix, e.to_string()))?;
    }
    let mut b = Batch::new();
    b.put(Table::Evidence, key(origin_code, next), v);
    store.apply(b)?;
    store.flush()
}

/// All evidence held, in (origin, sequence) order.
pub fn all(store: &impl Store) -> Result<Vec<Evidence>, StoreError> {
    store
        .scan_prefix(Table::Evidence, &[], usize::MAX)?
        .into_iter()
        .map(|(k, v)| serde_json::from_slice(&v).map_err(|e| StoreError::corrupt(Table::Evidence, &k, e.to_string())))
        .collect()
}
