//! The signed log leaf: a small, canonical text header describing one record (DESIGN §4 "Envelope").
//!
//! The leaf bytes are exactly what the origin signs and what the Merkle tree hashes. The payload (the full
//! record body) is stored beside the leaf and bound to it by `payload-sm3`; it travels only where the share type
//! allows, so a 不予共享 record still appears in every mirrored log. The format is line-oriented UTF-8 so an
//! evaluator can read a leaf with `cat`:
//!
//! ```text
//! gongxin-leaf/v1
//! origin 430102
//! index 17
//! kind penalty
//! share conditional
//! disclosure public
//! recorded-at 2026-11-30T04:05:06Z
//! decided-on 2026-11-01
//! natural-key-sm3 <64 hex>
//! payload-sm3 <64 hex>
//! ```
//!
//! Every line is `name value`, in exactly this order, ending in `\n`; anything else is refused.

use crate::crypto::Digest;
use crate::record::{Disclosure, ShareType};

/// The leaf token of a government sharing class.
pub fn share_token(s: ShareType) -> &'static str {
    match s {
        ShareType::Unconditional => "unconditional",
        ShareType::Conditional => "conditional",
        ShareType::NotShared => "none",
    }
}

/// The sharing class of a leaf token; `None` for anything else.
pub fn share_of_token(t: &str) -> Option<ShareType> {
    [ShareType::Unconditional, ShareType::Conditional, ShareType::NotShared].into_iter().find(|s| share_token(*s) == t)
}

/// The leaf token of a public disclosure class.
pub fn disclosure_token(d: Disclosure) -> &'static str {
    match d {
        Disclosure::Public => "public",
        Disclosure::OnAuthorisedQuery => "authorized",
        Disclosure::GovernmentOnly => "internal",
    }
}

/// The disclosure class of a leaf token; `None` for anything else.
pub fn disclosure_of_token(t: &str) -> Option<Disclosure> {
    [Disclosure::Public, Disclosure::OnAuthorisedQuery, Disclosure::GovernmentOnly]
        .into_iter()
        .find(|d| disclosure_token(*d) == t)
}

const MAGIC: &str = "gongxin-leaf/v1";
const FIELDS: [&str; 9] =
    ["origin", "index", "kind", "share", "disclosure", "recorded-at", "decided-on", "natural-key-sm3", "payload-sm3"];

/// The decoded leaf header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafHeader {
    /// Six-digit division code of the originating node.
    pub origin: String,
    /// Position of this leaf in the origin's log (0-based).
    pub index: u64,
    /// Record kind code: `license`, `penalty`, `list_entry`, `commitment`, `amendment`, or a system kind.
    pub kind: String,
    /// Government sharing class (leaf token `unconditional`, `conditional`, `none`).
    pub share: ShareType,
    /// Public disclosure class (leaf token `public`, `authorized`, `internal`).
    pub disclosure: Disclosure,
    /// When the origin node appended the record, RFC 3339 UTC, seconds precision.
    pub recorded_at: String,
    /// The decision date of the record (`YYYY-MM-DD`), or `-` when the kind has none.
    pub decided_on: String,
    /// SM3 of the record's natural key (authority code + document number).
    pub natural_key: Digest,
    /// SM3 of the exact payload bytes.
    pub payload_digest: Digest,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LeafError {
    #[error("leaf line {line}: {reason}")]
    Malformed { line: usize, reason: String },
    #[error("leaf says origin {found_origin} index {found_index}, expected {origin} {index}")]
    Misplaced { origin: String, index: u64, found_origin: String, found_index: u64 },
}

fn token_ok(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl LeafHeader {
    /// Canonical bytes: what is signed and hashed.
    pub fn encode(&self) -> Vec<u8> {
        let values = self.values();
        debug_assert!(values.iter().all(|v| token_ok(v)), "leaf values must be single tokens: {values:?}");
        let mut out = String::with_capacity(320);
        out.push_str(MAGIC);
        out.push('\n');
        for (name, value) in FIELDS.iter().zip(values.iter()) {
            out.push_str(name);
            out.push(' ');
            out.push_str(value);
            out.push('\n');
        }
        out.into_bytes()
    }

    fn values(&self) -> [String; 9] {
        [
            self.origin.clone(),
            self.index.to_string(),
            self.kind.clone(),
            share_token(self.share).to_string(),
            disclosure_token(self.disclosure).to_string(),
            self.recorded_at.clone(),
            self.decided_on.clone(),
            hex::encode(self.natural_key),
            hex::encode(self.payload_digest),
        ]
    }

    /// [`LeafHeader::decode`], and the leaf must be `origin`'s leaf at `index` (where it was found in a log).
    pub fn decode_at(bytes: &[u8], origin: &str, index: u64) -> Result<Self, LeafError> {
        let h = Self::decode(bytes)?;
        if h.origin != origin || h.index != index {
            return Err(LeafError::Misplaced {
                origin: origin.to_string(),
                index,
                found_origin: h.origin,
                found_index: h.index,
            });
        }
        Ok(h)
    }

    /// May the payload of this record leave its origin? Not for 不予共享 records (DESIGN §4).
    pub fn payload_may_travel(&self) -> bool {
        self.share != ShareType::NotShared
    }

    /// Is `payload` the record body this leaf commits to?
    pub fn payload_matches(&self, payload: &[u8]) -> bool {
        crate::crypto::sm3(payload) == self.payload_digest
    }

    /// Strict parse of canonical leaf bytes; `decode(encode(h)) == h` and nothing else decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, LeafError> {
        let bad = |line: usize, reason: &str| LeafError::Malformed { line, reason: reason.to_string() };
        let text = std::str::from_utf8(bytes).map_err(|_| bad(0, "not UTF-8"))?;
        let body = text.strip_suffix('\n').ok_or_else(|| bad(0, "does not end in a newline"))?;
        let mut lines = body.split('\n');
        if lines.next() != Some(MAGIC) {
            return Err(bad(1, "first line is not gongxin-leaf/v1"));
        }
        let mut values: Vec<&str> = Vec::with_capacity(FIELDS.len());
        for (i, name) in FIELDS.iter().enumerate() {
            let line = lines.next().ok_or_else(|| bad(i + 2, &format!("missing field {name}")))?;
            let value = line
                .strip_prefix(name)
                .and_then(|r| r.strip_prefix(' '))
                .ok_or_else(|| bad(i + 2, &format!("expected field {name}")))?;
            if !token_ok(value) {
                return Err(bad(i + 2, &format!("field {name} has an empty or spaced value")));
            }
            values.push(value);
        }
        if lines.next().is_some() {
            return Err(bad(FIELDS.len() + 2, "unexpected extra line"));
        }
        let origin = values[0];
        if origin.len() != 6 || !origin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(2, "origin is not a six-digit division code"));
        }
        let index: u64 = values[1].parse().map_err(|_| bad(3, "index is not a decimal integer"))?;
        if values[1] != index.to_string() {
            return Err(bad(3, "index is not in canonical decimal form"));
        }
        let digest = |i: usize| -> Result<Digest, LeafError> {
            let v = values[i];
            if v.len() != 64 || v.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(bad(i + 2, "digest is not 64 lowercase hex digits"));
            }
            let mut d = [0u8; 32];
            hex::decode_to_slice(v, &mut d).map_err(|_| bad(i + 2, "digest is not hex"))?;
            Ok(d)
        };
        Ok(LeafHeader {
            origin: origin.to_string(),
            index,
            kind: values[2].to_string(),
            share: share_of_token(values[3])
                .ok_or_else(|| bad(5, "share is not unconditional, conditional or none"))?,
            disclosure: disclosure_of_token(values[4])
                .ok_or_else(|| bad(6, "disclosure is not public, authorized or internal"))?,
            recorded_at: values[5].to_string(),
            decided_on: values[6].to_string(),
            natural_key: digest(7)?,
            payload_digest: digest(8)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LeafHeader {
        LeafHeader {
            origin: "430102".into(),
            index: 17,
            kind: "penalty".into(),
            share: ShareType::Conditional,
            disclosure: Disclosure::Public,
            recorded_at: "2026-11-30T04:05:06Z".into(),
            decided_on: "2026-11-01".into(),
            natural_key: crate::crypto::sm3(b"k"),
            payload_digest: crate::crypto::sm3(b"p"),
        }
    }

    #[test]
    fn roundtrip_is_exact() {
        let h = sample();
        let b = h.encode();
        assert_eq!(LeafHeader::decode(&b).unwrap(), h);
        assert!(String::from_utf8(b).unwrap().starts_with("gongxin-leaf/v1\norigin 430102\nindex 17\n"));
    }

    #[test]
    fn non_canonical_forms_are_refused() {
        let good = String::from_utf8(sample().encode()).unwrap();
        let variants = [
            good.replace("index 17", "index 017"),
            good.replace("origin 430102", "origin 43010"),
            good.trim_end().to_string(),
            format!("{good}extra 1\n"),
            good.replace("kind penalty\n", ""),
            good.replace("share conditional", "share  conditional"),
            good.to_uppercase(),
        ];
        for v in variants {
            assert!(LeafHeader::decode(v.as_bytes()).is_err(), "accepted: {v}");
        }
    }
}
