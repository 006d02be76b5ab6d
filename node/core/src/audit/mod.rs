//! The province's audit of the sync chain (DESIGN §5 "Audit"), pure: the node gathers, for one origin, every
//! checkpoint it can see (its own mirror, the anchors the relaying city wrote in its log, the last audited one)
//! and the leaves mirrored since the last audit; [`OriginAudit`] checks them and gives the origin's status.

use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::crypto::{Digest, PublicKey, Verifier};
use crate::envelope::LeafHeader;
use crate::merkle::Frontier;
use crate::sync::Anchor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod run;
pub use run::{audit_subtree, AuditLeaf, AuditRun, AuditSource, VANTAGE_LAST_AUDIT, VANTAGE_MIRROR};

/// Record kind of signed audit reports in the province log.
pub const REPORT_KIND: &str = "audit_report";
/// Most findings one origin's result lists (the signed report must stay well below a payload's size).
pub const MAX_FINDINGS: usize = 32;
/// Allowed clock skew between nodes when ordering times, seconds.
pub const SKEW_SECS: i64 = 300;

/// Freshness and lag limits (defaults from the issue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sla {
    pub stale_after_secs: i64,
    pub lag_entries: u64,
    pub lag_secs: i64,
}

impl Default for Sla {
    fn default() -> Self {
        Sla { stale_after_secs: 3600, lag_entries: 1000, lag_secs: 900 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Lagging,
    Stale,
    Evidence,
}

/// One finding that makes an origin's status `evidence`: what, who is to blame, and the objects that show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// `equivocation`, `history-rewrite`, `forged-checkpoint`, `forged-record`, `relay-tampering`,
    /// `missing-leaf`, `payload-mismatch`, `time-order`.
    pub kind: String,
    /// The node the finding blames.
    pub culprit: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginResult {
    pub code: String,
    pub status: Status,
    /// Largest tree size the origin is known (by a valid signature) to have reached.
    pub origin_size: u64,
    pub mirror_size: u64,
    pub lag_entries: u64,
    pub lag_seconds: i64,
    pub latest_heartbeat: Option<String>,
    pub leaves_checked: u64,
    pub evidence: Vec<Finding>,
    /// What to do next, for operators (empty when `ok`).
    pub advice: String,
}

/// What the last audit accepted for an origin: the size, root and frontier to continue from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// Format version (absent: 1).
    #[serde(default = "crate::format::v1", skip_serializing_if = "crate::format::is_v1")]
    pub format: u32,
    pub size: u64,
    pub root: String,
    pub frontier: Vec<String>,
    pub checkpoint_b64: String,
    pub signature_b64: String,
}

/// A checkpoint as seen from one vantage point.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `province mirror`, `anchor by 430100`, `last audit`, …
    pub vantage: String,
    /// Who delivered it (blamed if its signature is bad).
    pub delivered_by: String,
    pub signed: SignedCheckpoint,
    /// Upper bound on the checkpoint's time: when the vantage point received it.
    pub received_at: Option<String>,
}

fn secs(ts: &str) -> Option<i64> {
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).ok().map(|t| t.unix_timestamp())
}

/// The audit of one origin, fed in steps by the node.
pub struct OriginAudit<'a> {
    code: String,
    keys: Vec<PublicKey>,
    verifier: &'a Verifier,
    findings: Vec<Finding>,
    /// Valid checkpoints by size (first seen kept; conflicts become findings).
    valid: BTreeMap<u64, (Checkpoint, Seen)>,
    frontier: Frontier,
    start: u64,
    leaves_checked: u64,
    /// The auditing node: leaves were verified when it stored them, so a mismatch found later is its store's.
    local: String,
}

impl<'a> OriginAudit<'a> {
    /// `local` is the auditing node; `last` the mark of the previous audit of this origin.
    pub fn new(code: &str, keys: Vec<PublicKey>, local: &str, verifier: &'a Verifier, last: Option<&Mark>) -> Self {
        let frontier = last
            .and_then(|m| {
                let hashes: Option<Vec<Digest>> = m
                    .frontier
                    .iter()
                    .map(|h| {
                        let mut d = [0u8; 32];
                        hex::decode_to_slice(h, &mut d).ok().map(|_| d)
                    })
                    .collect();
                Frontier::from_hashes(m.size, &hashes?).ok()
            })
            .unwrap_or_default();
        OriginAudit {
            code: code.to_string(),
            keys,
            verifier,
            findings: Vec::new(),
            valid: BTreeMap::new(),
            start: frontier.size(),
            frontier,
            leaves_checked: 0,
            local: local.to_string(),
        }
    }

    fn find(&mut self, kind: &str, culprit: &str, detail: String) {
        self.findings.push(Finding { kind: kind.into(), culprit: culprit.into(), detail });
    }

    /// Size the leaf walk starts from (the last audited size).
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Adds a checkpoint seen from some vantage point: signature, origin line, equal sizes ⇒ equal roots.
    pub fn see(&mut self, seen: Seen) {
        let parsed = match seen.signed.parse() {
            Ok(p) => p,
            Err(e) => {
                return self.find(
                    "forged-checkpoint",
                    &seen.delivered_by,
                    format!("{}: unparsable checkpoint: {e}", seen.vantage),
                )
            }
        };
        if parsed.origin_code() != Some(self.code.as_str()) {
            return self.find(
                "forged-checkpoint",
                &seen.delivered_by,
                format!("{}: checkpoint names {:?}", seen.vantage, parsed.origin),
            );
        }
        if self.verifier.verify_any(&self.keys, &seen.signed.note, &seen.signed.signature).is_err() {
            return self.find(
                "forged-checkpoint",
                &seen.delivered_by.clone(),
                format!("{}: checkpoint of size {} is not signed by {}", seen.vantage, parsed.size, self.code),
            );
        }
        if let (Some(ts), Some(recv)) = (parsed.timestamp().and_then(secs), seen.received_at.as_deref().and_then(secs))
        {
            if ts > recv + SKEW_SECS {
                self.find(
                    "time-order",
                    &self.code.clone(),
                    format!("{}: checkpoint of size {} is dated after it was received", seen.vantage, parsed.size),
                );
            }
        }
        match self.valid.get(&parsed.size) {
            Some((held, first)) if held.root != parsed.root => {
                let detail = format!(
                    "two checkpoints of size {} signed by {} with different roots ({} from {}, {} from {})",
                    parsed.size,
                    self.code,
                    hex::encode(held.root),
                    first.vantage,
                    hex::encode(parsed.root),
                    seen.vantage
                );
                self.find("equivocation", &self.code.clone(), detail);
            }
            Some(_) => {
                // Keep the newest heartbeat of a size for freshness.
                let newer = parsed.timestamp() > self.valid[&parsed.size].0.timestamp();
                if newer {
                    self.valid.insert(parsed.size, (parsed, seen));
                }
            }
            None => {
                self.valid.insert(parsed.size, (parsed, seen));
            }
        }
    }

    /// Checks the anchor payload itself against the checkpoint it carries.
    pub fn see_anchor(&mut self, relayer: &str, anchor: &Anchor) {
        use base64::Engine as _;
        let dec = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_default();
        let signed = SignedCheckpoint { note: dec(&anchor.checkpoint_b64), signature: dec(&anchor.signature_b64) };
        if let Ok(p) = signed.parse() {
            if hex::encode(p.root) != anchor.root || p.size != anchor.size {
                self.find(
                    "relay-tampering",
                    relayer,
                    format!("anchor by {relayer} misstates size/root of {}'s checkpoint {}", self.code, p.size),
                );
            }
        }
        self.see(Seen {
            vantage: format!("anchor by {relayer}"),
            delivered_by: relayer.to_string(),
            signed,
            received_at: Some(anchor.received_at.clone()),
        });
    }

    /// Feeds the next mirrored leaves, in index order from [`OriginAudit::start`]: each `(index, leaf, signature,
    /// payload)`. Checks continuity, signatures (batched), payload digests and leaf times; re-derives the root.
    pub fn feed(&mut self, leaves: &[(u64, Vec<u8>, Vec<u8>, Option<Vec<u8>>)]) {
        if self.keys.is_empty() {
            return self.find("forged-record", &self.code.clone(), "no key for the origin in the registry".into());
        }
        let items: Vec<(&[u8], &[u8])> = leaves.iter().map(|(_, l, s, _)| (l.as_slice(), s.as_slice())).collect();
        let verdicts = self.verifier.verify_batch_any(&self.keys, &items);
        for ((index, leaf, _sig, payload), verdict) in leaves.iter().zip(verdicts) {
            let want = self.frontier.size();
            if *index != want {
                self.find(
                    "missing-leaf",
                    &self.local.clone(),
                    format!("leaf {want} of {} is missing from the mirror (next held is {index})", self.code),
                );
                return;
            }
            if verdict.is_err() {
                let local = self.local.clone();
                self.find("forged-record", &local, format!("leaf {index} of {} in the mirror of {local} does not carry {}'s signature (altered after it was verified and stored)", self.code, self.code));
            }
            match LeafHeader::decode_at(leaf, &self.code, *index) {
                Ok(h) => {
                    if let Some(p) = payload {
                        if !h.payload_matches(p) {
                            let local = self.local.clone();
                            self.find("payload-mismatch", &local, format!("payload of leaf {index} of {} in the mirror of {local} differs from its signed digest", self.code));
                        }
                    }
                    if let (Some(t), Some((cp, _))) =
                        (secs(&h.recorded_at), self.valid.range(index + 1..).next().map(|(_, v)| v))
                    {
                        if let Some(ct) = cp.timestamp().and_then(secs) {
                            if t > ct + SKEW_SECS {
                                let code = self.code.clone();
                                self.find(
                                    "time-order",
                                    &code,
                                    format!("leaf {index} is dated after the checkpoint that covers it"),
                                );
                            }
                        }
                    }
                }
                Err(e) => {
                    let local = self.local.clone();
                    self.find("forged-record", &local, format!("leaf {index} of {}: {e}", self.code));
                }
            }
            self.frontier.push_leaf(leaf);
            self.leaves_checked += 1;
            self.check_root_here();
        }
    }

    fn check_root_here(&mut self) {
        let size = self.frontier.size();
        if let Some((cp, seen)) = self.valid.get(&size) {
            if cp.root != self.frontier.root() {
                let detail = format!(
                    "checkpoint of size {size} ({}) does not match the root re-derived from the mirrored leaves",
                    seen.vantage
                );
                // The mirror's own checkpoints were root-checked when stored: a mismatch now is the store's;
                // an anchor or last-audit checkpoint that the leaves do not reach is a rewritten history.
                let culprit = if seen.vantage == VANTAGE_MIRROR { self.local.clone() } else { self.code.clone() };
                self.find("history-rewrite", &culprit, detail);
            }
        }
    }

    /// Finishes the origin: status, sizes, lag and freshness against `sla` at `now` (unix seconds), and the mark
    /// to continue from next time (only when there is no evidence). `stored` are findings already held as evidence
    /// by the node (refused equivocations and the like).
    pub fn finish(
        mut self,
        mirror_size: u64,
        now: i64,
        sla: &Sla,
        stored: Vec<Finding>,
    ) -> (OriginResult, Option<Mark>) {
        use base64::Engine as _;
        self.check_root_here();
        if self.frontier.size() != mirror_size {
            self.find(
                "missing-leaf",
                &self.local.clone(),
                format!("re-derived {} leaves, the mirror claims {mirror_size}", self.frontier.size()),
            );
        }
        // Checkpoints below what was walked but above the last mark are compared as the walk passed them; those
        // beyond the mirror are the lag.
        self.findings.extend(stored);
        // Bounded: a damaged mirror can yield one finding per leaf; the report keeps the first ones and a count.
        if self.findings.len() > MAX_FINDINGS {
            let more = self.findings.len() - (MAX_FINDINGS - 1);
            self.findings.truncate(MAX_FINDINGS - 1);
            let local = self.local.clone();
            self.find(
                "more-findings",
                &local,
                format!("{more} more findings not listed; re-run the audit after fixing the first ones"),
            );
        }
        let origin_size = self.valid.keys().next_back().copied().unwrap_or(0).max(mirror_size);
        let latest = self.valid.values().filter_map(|(c, _)| c.timestamp().map(str::to_string)).max();
        let lag_entries = origin_size.saturating_sub(mirror_size);
        let lag_seconds = self
            .valid
            .range(mirror_size + 1..)
            .filter_map(|(_, (c, _))| c.timestamp().and_then(secs))
            .min()
            .map(|t| (now - t).max(0))
            .unwrap_or(0);
        let stale = latest.as_deref().and_then(secs).map(|t| now - t > sla.stale_after_secs).unwrap_or(true);
        let status = if !self.findings.is_empty() {
            Status::Evidence
        } else if stale {
            Status::Stale
        } else if lag_entries > sla.lag_entries || lag_seconds > sla.lag_secs {
            Status::Lagging
        } else {
            Status::Ok
        };
        let advice = match status {
            Status::Ok => String::new(),
            Status::Lagging => format!("联系 {} 检查上行链路 check the uplink of {} and its city", self.code, self.code),
            Status::Stale => format!("{} 超过时限没有心跳 no fresh heartbeat: check that the node runs and reaches its city", self.code),
            Status::Evidence => "保全证据并上报 keep the evidence below, report it, and do not accept further data from the culprit until resolved".into(),
        };
        let mark = (status != Status::Evidence)
            .then(|| {
                let (cp, seen) = self.valid.get(&self.frontier.size())?;
                (cp.root == self.frontier.root()).then(|| Mark {
                    format: crate::format::V1,
                    size: self.frontier.size(),
                    root: hex::encode(self.frontier.root()),
                    frontier: self.frontier.hashes().iter().map(hex::encode).collect(),
                    checkpoint_b64: base64::engine::general_purpose::STANDARD.encode(&seen.signed.note),
                    signature_b64: base64::engine::general_purpose::STANDARD.encode(&seen.signed.signature),
                })
            })
            .flatten();
        let result = OriginResult {
            code: self.code,
            status,
            origin_size,
            mirror_size,
            lag_entries,
            lag_seconds,
            latest_heartbeat: latest,
            leaves_checked: self.leaves_checked,
            evidence: self.findings,
            advice,
        };
        (result, mark)
    }
}

/// The signed report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Format version (absent: 1).
    #[serde(default = "crate::format::v1", skip_serializing_if = "crate::format::is_v1")]
    pub format: u32,
    pub auditor: String,
    pub at: String,
    pub sla: Sla,
    pub origins: Vec<OriginResult>,
    /// Base64 DER SM2 signature of the auditor over [`Report::signed_bytes`].
    #[serde(default)]
    pub signature: String,
}

impl Report {
    /// The bytes signed: the report's JSON (fields in declaration order, no white space) with an empty
    /// signature. The one definition of what a report signature covers: the node signs them, `verify-bundle`
    /// checks them (the OpenSSL script of VERIFYING.md reaches the same bytes by emptying the signature field).
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut r = self.clone();
        r.signature.clear();
        // Strings, numbers and lists only: serialising cannot fail; were it to, the empty bytes match no signature.
        serde_json::to_vec(&r).unwrap_or_default()
    }

    pub fn verify(&self, key: &PublicKey) -> bool {
        use base64::Engine as _;
        let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(&self.signature) else { return false };
        key.verify(&self.signed_bytes(), &sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_per_origin_are_bounded() {
        let v = Verifier::new();
        let audit = OriginAudit::new("430102", Vec::new(), "430000", &v, None);
        let stored: Vec<Finding> = (0..500)
            .map(|i| Finding { kind: "relay-tampering".into(), culprit: "430100".into(), detail: format!("item {i}") })
            .collect();
        let (r, _) = audit.finish(0, 0, &Sla::default(), stored);
        assert_eq!(r.evidence.len(), MAX_FINDINGS);
        assert_eq!(r.evidence.last().map(|f| f.kind.as_str()), Some("more-findings"));
        assert!(r.evidence.last().is_some_and(|f| f.detail.starts_with("469 more")), "{:?}", r.evidence.last());
    }
}
