//! The list feed: list entries and their amendments of origins this node does not mirror, each kept with the
//! origin-signed checkpoint and inclusion proof that make it verifiable on its own (DESIGN §6: lists reach every
//! node). A county need not mirror other counties' logs to know their lists.
//!
//! Stored in `Table::FeedItem` under (origin, index); [`FeedItem::encode`] is the value.

use super::federation::{Federation, PROVINCE};
use super::AppError;
use crate::store::log::{origin_code, origin_index_key, origin_index_suffix};
use crate::store::{Batch, Store, Table};
use crate::views::{self, KindClass};
use gongxin_core::checkpoint::SignedCheckpoint;
use gongxin_core::crypto::{self, Digest};
use gongxin_core::envelope::LeafHeader;
use gongxin_core::merkle;
use gongxin_core::sync::{self, Refusal, SyncError};
use std::collections::BTreeMap;

/// Most items in one feed reply.
pub const MAX_ITEMS: usize = 2_000;
/// Meta key of the child's feed cursors: JSON `{origin: covered size}`.
const FEED_CURSORS_META: &[u8] = b"feed.cursors";

/// One item as it travels: (origin, index) and the self-contained proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedWire {
    pub origin: String,
    pub index: u64,
    pub item: FeedItem,
}

/// A feed reply: items, and per origin the size up to which every list entry has been sent.
#[derive(Debug, Clone, Default)]
pub struct FeedBatch {
    pub items: Vec<FeedWire>,
    pub covered: BTreeMap<String, u64>,
    pub more: bool,
}

/// Why a fed item is refused (names the origin and index).
fn refused(origin: &str, index: u64, why: impl std::fmt::Display) -> AppError {
    AppError::Invalid { field: "feed item", reason: format!("{origin}/{index}: {why}") }
}

impl Federation {
    /// The child's cursors: per origin fed to it, the size up to which it holds every list entry.
    pub fn feed_cursors(&self) -> Result<BTreeMap<String, u64>, AppError> {
        match self.ledger.log().store().get(Table::Meta, FEED_CURSORS_META)? {
            None => Ok(BTreeMap::new()),
            Some(v) => serde_json::from_slice(&v).map_err(|e| AppError::corrupt("feed cursors", e)),
        }
    }

    /// Parent side: list entries and their amendments of every origin outside the caller's subtree (and other
    /// than the province, whose log travels whole), from `cursors` on, each with a proof to a checkpoint its
    /// origin signed. Mirrored and own logs are proven against their newest checkpoint; fed items are passed on
    /// with the proof they came with.
    pub fn serve_feed(&self, caller: &str, cursors: &BTreeMap<String, u64>) -> Result<FeedBatch, AppError> {
        let reg = self.registry();
        sync::may_pull(&reg, &self.me, caller)?;
        let wanted = |o: &str| o != PROVINCE && !reg.in_subtree(caller, o) && reg.node(o).is_some();
        let log = self.ledger.log();
        let store = log.store();
        let mut out = FeedBatch::default();
        // Origins whose logs are held here.
        let mut held = Vec::new();
        for (origin, _) in log.origins()? {
            if wanted(&origin) {
                held.push(origin);
            }
        }
        for origin in &held {
            let Some(cp) = log.latest_checkpoint(origin)? else { continue };
            let size = cp.parse().map_err(|e| AppError::corrupt("checkpoint", e))?.size;
            let from = cursors.get(origin).copied().unwrap_or(0);
            if from >= size {
                out.covered.insert(origin.clone(), size);
                continue;
            }
            let room = MAX_ITEMS - out.items.len();
            let rows = views::class_in_origin(store, KindClass::List, origin, from, size, room + 1)?;
            let full = rows.len() > room;
            for index in rows.into_iter().take(room) {
                let Some(e) = log.entry(origin, index)? else { continue };
                let Some((payload, _)) = e.payload else { continue };
                let inclusion = log.inclusion_proof(origin, index, size)?;
                out.items.push(FeedWire {
                    origin: origin.clone(),
                    index,
                    item: FeedItem { leaf: e.leaf, signature: e.signature, payload, checkpoint: cp.clone(), inclusion },
                });
            }
            if full {
                let last = out.items.last().map(|w| w.index + 1).unwrap_or(from);
                out.covered.insert(origin.clone(), last);
                out.more = true;
                return Ok(out);
            }
            out.covered.insert(origin.clone(), size);
        }
        // Origins known here only through the feed.
        for (origin, covered) in self.feed_cursors()? {
            if !wanted(&origin) || held.contains(&origin) {
                continue;
            }
            let from = cursors.get(&origin).copied().unwrap_or(0);
            if from >= covered {
                out.covered.insert(origin, covered);
                continue;
            }
            let o = origin_code(&origin)?;
            let start = origin_index_key(o, from);
            let end = origin_index_key(o, covered);
            let room = MAX_ITEMS - out.items.len();
            let rows = store.scan(Table::FeedItem, &start, Some(&end), room + 1, false)?;
            let full = rows.len() > room;
            for (k, v) in rows.into_iter().take(room) {
                let (_, index) = origin_index_suffix(Table::FeedItem, &k)?;
                let item = FeedItem::decode(&v).map_err(|e| AppError::corrupt("fed item", e))?;
                out.items.push(FeedWire { origin: origin.clone(), index, item });
            }
            if full {
                let last = out.items.last().map(|w| w.index + 1).unwrap_or(from);
                out.covered.insert(origin, last);
                out.more = true;
                return Ok(out);
            }
            out.covered.insert(origin, covered);
        }
        Ok(out)
    }

    /// Child side: checks every item on its own (registered origin key signed the leaf and the checkpoint, the
    /// leaf sits at its origin and index, the payload matches, it is a list entry or an amendment of one, the
    /// inclusion proof leads to the checkpoint root) and stores the batch atomically with its view rows and the
    /// new cursors. Items of logs held here are skipped. Returns how many items were new.
    pub fn apply_feed(&self, parent: &str, batch: FeedBatch) -> Result<u64, AppError> {
        if batch.items.len() > MAX_ITEMS {
            return Err(SyncError::TooLarge { entries: batch.items.len(), max: MAX_ITEMS }.into());
        }
        let log = self.ledger.log();
        let store = log.store();
        let reg = self.registry();
        let mut b = Batch::new();
        let mut new = 0u64;
        let mut cursors = self.feed_cursors()?;
        let _g = self.lock_mirrors()?;
        for w in &batch.items {
            let (origin, index) = (w.origin.as_str(), w.index);
            origin_code(origin).map_err(|_| refused(origin, index, "not a division code"))?;
            if origin == self.me || origin == PROVINCE || log.head(origin)?.size > 0 {
                continue;
            }
            if reg.node(origin).is_none() {
                return Err(
                    SyncError::Forbidden(Refusal::NotRegistered { node: origin.into(), version: reg.version }).into()
                );
            }
            let keys = self.keys_for(origin);
            let item = &w.item;
            let header = LeafHeader::decode_at(&item.leaf, origin, index).map_err(|e| refused(origin, index, e))?;
            self.verifier
                .verify_any(&keys, &item.leaf, &item.signature)
                .map_err(|_| refused(origin, index, "叶子签名不是来源节点的 (leaf not signed by its origin)"))?;
            if crypto::sm3(&item.payload) != header.payload_digest {
                return Err(refused(origin, index, "载荷与叶子摘要不符 (payload does not match the leaf digest)"));
            }
            let derived = views::derive(&header, Some(&item.payload), None);
            if derived.class != Some(KindClass::List) {
                return Err(refused(origin, index, "不是名单或名单的修改 (not a list entry or an amendment of one)"));
            }
            let cp = sync::check_checkpoint(origin, &item.checkpoint, &keys, &self.verifier)?;
            merkle::verify_inclusion(&merkle::leaf_hash(&item.leaf), index, cp.size, &item.inclusion, &cp.root)
                .map_err(|e| refused(origin, index, format!("包含证明无效 (inclusion proof): {e}")))?;
            let key = origin_index_key(origin_code(origin)?, index);
            if let Some(held) = store.get(Table::FeedItem, &key)? {
                let held = FeedItem::decode(&held).map_err(|e| AppError::corrupt("fed item", e))?;
                if held.leaf != item.leaf {
                    // Two leaves signed by the origin at one index: refuse and say so (the held one stays).
                    tracing::error!(%origin, index, %parent, "two different signed leaves of one index in the list feed");
                    return Err(SyncError::Equivocation {
                        origin: origin.into(),
                        what: gongxin_core::sync::Equivocation::LeafAtIndex { index },
                    }
                    .into());
                }
                continue;
            }
            b.put(Table::FeedItem, key, item.encode());
            views::feed_rows(&mut b, origin, index, &derived)?;
            new += 1;
        }
        for (origin, size) in batch.covered {
            if origin_code(&origin).is_err() || reg.node(&origin).is_none() || origin == self.me {
                continue;
            }
            let c = cursors.entry(origin).or_insert(0);
            *c = (*c).max(size);
        }
        let json = serde_json::to_vec(&cursors).map_err(|e| AppError::corrupt("feed cursors", e))?;
        b.put(Table::Meta, FEED_CURSORS_META.to_vec(), json);
        store.apply(b)?;
        store.flush()?;
        Ok(new)
    }
}

/// Largest leaf, signature, note or payload a fed item may carry.
pub const MAX_PART: usize = 1 << 20;
/// Most proof hashes (a tree of 2^64 leaves needs 64).
pub const MAX_PROOF: usize = 64;

/// One fed entry with its proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedItem {
    pub leaf: Vec<u8>,
    pub signature: Vec<u8>,
    pub payload: Vec<u8>,
    pub checkpoint: SignedCheckpoint,
    pub inclusion: Vec<Digest>,
}

impl FeedItem {
    /// `len u32 ‖ bytes` for leaf, signature, payload, checkpoint note and signature, then `count u8 ‖ hashes`.
    pub fn encode(&self) -> Vec<u8> {
        let parts: [&[u8]; 5] =
            [&self.leaf, &self.signature, &self.payload, &self.checkpoint.note, &self.checkpoint.signature];
        let mut out =
            Vec::with_capacity(parts.iter().map(|p| 4 + p.len()).sum::<usize>() + 1 + 32 * self.inclusion.len());
        for p in parts {
            out.extend_from_slice(&(p.len() as u32).to_be_bytes());
            out.extend_from_slice(p);
        }
        out.push(self.inclusion.len() as u8);
        for h in &self.inclusion {
            out.extend_from_slice(h);
        }
        out
    }

    pub fn decode(mut b: &[u8]) -> Result<FeedItem, &'static str> {
        let part = |b: &mut &[u8]| -> Result<Vec<u8>, &'static str> {
            if b.len() < 4 {
                return Err("truncated length");
            }
            let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
            if n > MAX_PART || b.len() < 4 + n {
                return Err("part too long or truncated");
            }
            let v = b[4..4 + n].to_vec();
            *b = &b[4 + n..];
            Ok(v)
        };
        let leaf = part(&mut b)?;
        let signature = part(&mut b)?;
        let payload = part(&mut b)?;
        let note = part(&mut b)?;
        let cp_sig = part(&mut b)?;
        let (&count, rest) = b.split_first().ok_or("truncated proof")?;
        if count as usize > MAX_PROOF || rest.len() != 32 * count as usize {
            return Err("proof length");
        }
        let inclusion = rest.chunks_exact(32).map(|c| c.try_into().unwrap_or([0u8; 32])).collect();
        Ok(FeedItem { leaf, signature, payload, checkpoint: SignedCheckpoint { note, signature: cp_sig }, inclusion })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let item = FeedItem {
            leaf: b"leaf".to_vec(),
            signature: vec![1, 2, 3],
            payload: b"{}".to_vec(),
            checkpoint: SignedCheckpoint { note: b"note".to_vec(), signature: vec![9] },
            inclusion: vec![[7u8; 32], [8u8; 32]],
        };
        let b = item.encode();
        assert_eq!(FeedItem::decode(&b).unwrap(), item);
        assert!(FeedItem::decode(&b[..b.len() - 1]).is_err());
        let mut extra = b.clone();
        extra.push(0);
        assert!(FeedItem::decode(&extra).is_err());
        assert!(FeedItem::decode(&[0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
