//! The list feed: list entries and their amendments of origins this node does not mirror, each kept with the
//! origin-signed checkpoint and inclusion proof that make it verifiable on its own (DESIGN §6: lists reach every
//! node). A county need not mirror other counties' logs to know their lists.
//!
//! Stored in `Table::FeedItem` under (origin, index); [`FeedItem::encode`] is the value.

use gongxin_core::checkpoint::SignedCheckpoint;
use gongxin_core::crypto::Digest;

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
