//! The audit of the sync chain over this node's store (DESIGN §5, issue 4): gathers every vantage point of
//! every origin in the registry subtree, runs `gongxin_core::audit`, signs the report, appends it to this
//! node's log and keeps the last audited mark per origin.

use super::evidence::Evidence;
use super::federation::{Federation, PROVINCE};
use super::{now_rfc3339, AppError};
use base64::Engine as _;
use gongxin_core::checkpoint::SignedCheckpoint;
use gongxin_core::envelope::LeafHeader;
use gongxin_core::registry::Registry;
use gongxin_core::sync;
use std::collections::BTreeMap;

/// Origin-metadata name of the last audited mark of an origin.
pub const AUDIT_MARK_META: &str = "audit.last";
/// Origin-metadata name (on the auditor's own log) of the index of its newest audit report.
const AUDIT_REPORT_META: &str = "audit.report";

/// Stored evidence as report findings: one per (kind, culprit), with the count, the first and last time, and the
/// digests of the first few pieces (the objects themselves stay in the store), so the signed report stays
/// small however much evidence a sender provoked.
fn group_evidence<'a>(evidence: impl Iterator<Item = &'a Evidence>) -> Vec<gongxin_core::audit::Finding> {
    const DIGESTS_SHOWN: usize = 4;
    let mut groups: BTreeMap<(&'static str, String), Vec<&Evidence>> = BTreeMap::new();
    for e in evidence {
        let culprit = if e.kind.blames_origin() { e.origin.clone() } else { e.received_from.clone() };
        groups.entry((e.kind.as_str(), culprit)).or_default().push(e);
    }
    groups
        .into_iter()
        .map(|((kind, culprit), es)| {
            let first = es.first().map(|e| e.at.as_str()).unwrap_or_default();
            let last = es.last().map(|e| e.at.as_str()).unwrap_or_default();
            let shown: Vec<&str> = es.iter().take(DIGESTS_SHOWN).map(|e| e.digest.as_str()).collect();
            let example = es.first().map(|e| e.detail.as_str()).unwrap_or_default();
            gongxin_core::audit::Finding {
                kind: kind.to_string(),
                culprit,
                detail: format!(
                    "{} piece(s) of evidence recorded {first} … {last} (e.g. {example}); SM3 {}{}",
                    es.len(),
                    shown.join(", "),
                    if es.len() > DIGESTS_SHOWN { ", …" } else { "" }
                ),
            }
        })
        .collect()
}

impl Federation {
    /// The node that delivers `code`'s log to this node: the child of this node on the path to `code`.
    fn relay_of(&self, reg: &Registry, code: &str) -> String {
        let mut at = code.to_string();
        for _ in 0..=reg.nodes.len() {
            match reg.node(&at).and_then(|n| n.parent.clone()) {
                Some(p) if p == self.me => return at,
                Some(p) => at = p,
                None => break,
            }
        }
        code.to_string()
    }

    /// Anchors written by relaying nodes whose logs this node holds, by origin: (relayer, anchor).
    fn anchors(&self) -> Result<BTreeMap<String, Vec<(String, sync::Anchor)>>, AppError> {
        let log = self.ledger.log();
        let reg = self.registry();
        let mut out: BTreeMap<String, Vec<(String, sync::Anchor)>> = BTreeMap::new();
        for (origin, head) in log.origins()? {
            let relays = origin == self.me || reg.children(&origin).next().is_some();
            if !relays || origin == PROVINCE && self.me != PROVINCE {
                continue;
            }
            let mut at = 0;
            while at < head.size {
                let upto = (at + 4096).min(head.size);
                for e in log.entries(&origin, at..upto)? {
                    let Ok(h) = LeafHeader::decode(&e.leaf) else { continue };
                    if h.kind != sync::ANCHOR_KIND {
                        continue;
                    }
                    if let Some(a) = e.payload.and_then(|(p, _)| serde_json::from_slice::<sync::Anchor>(&p).ok()) {
                        out.entry(a.origin.clone()).or_default().push((origin.clone(), a));
                    }
                }
                at = upto;
            }
        }
        Ok(out)
    }

    /// Audits every origin of the registry in this node's subtree, signs the report, appends it to this node's
    /// log and keeps the last audited mark per origin (DESIGN §5, issue 4).
    pub fn run_audit(&self, sla: gongxin_core::audit::Sla) -> Result<gongxin_core::audit::Report, AppError> {
        use gongxin_core::audit::{self, AuditLeaf, AuditSource, Finding, Mark, REPORT_KIND};
        use gongxin_core::crypto::PublicKey;

        /// The store as the audit sees it (`gongxin_core::audit::audit_subtree` runs the orchestration).
        struct StoreAudit<'a> {
            fed: &'a Federation,
            reg: Registry,
            anchors: BTreeMap<String, Vec<(String, sync::Anchor)>>,
            evidence: Vec<Evidence>,
        }
        impl StoreAudit<'_> {
            fn mark(&self, code: &str) -> Result<Option<Mark>, AppError> {
                let Some(v) = self.fed.ledger.log().origin_meta(code, AUDIT_MARK_META)? else { return Ok(None) };
                let m: Mark = serde_json::from_slice(&v).map_err(|e| AppError::corrupt("audit mark", e))?;
                gongxin_core::format::check("audit mark", m.format)?;
                Ok(Some(m))
            }
        }
        impl AuditSource for StoreAudit<'_> {
            type Error = AppError;
            fn keys(&self, code: &str) -> Vec<PublicKey> {
                self.fed.keys_for(code)
            }
            fn delivered_by(&self, code: &str) -> String {
                if code == self.fed.me {
                    self.fed.me.clone()
                } else {
                    self.fed.relay_of(&self.reg, code)
                }
            }
            fn checkpoints(&self, code: &str) -> Result<Vec<SignedCheckpoint>, AppError> {
                Ok(self.fed.ledger.log().checkpoints(code)?)
            }
            fn resume(&self, code: &str) -> Result<Option<Mark>, AppError> {
                self.mark(code)
            }
            fn last_audit(&self, code: &str) -> Result<Option<(SignedCheckpoint, String)>, AppError> {
                let dec = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_default();
                Ok(self.mark(code)?.map(|m| {
                    let signed = SignedCheckpoint { note: dec(&m.checkpoint_b64), signature: dec(&m.signature_b64) };
                    (signed, self.fed.me.clone())
                }))
            }
            fn anchors(&self, code: &str) -> Result<Vec<(String, sync::Anchor)>, AppError> {
                Ok(self.anchors.get(code).cloned().unwrap_or_default())
            }
            fn held(&self, code: &str) -> Result<u64, AppError> {
                Ok(self.fed.ledger.log().head(code)?.size)
            }
            fn leaves(&self, code: &str, range: std::ops::Range<u64>) -> Result<Vec<AuditLeaf>, AppError> {
                let entries = self.fed.ledger.log().entries(code, range)?;
                Ok(entries.into_iter().map(|e| (e.index, e.leaf, e.signature, e.payload.map(|p| p.0))).collect())
            }
            fn findings(&self, code: &str) -> Result<Vec<Finding>, AppError> {
                Ok(group_evidence(self.evidence.iter().filter(|e| e.origin == code)))
            }
        }

        let source =
            StoreAudit { fed: self, reg: self.registry(), anchors: self.anchors()?, evidence: self.evidence()? };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let run = audit::audit_subtree(&source, &source.reg, &self.me, &self.me, &self.verifier, now, &sla)?;
        let (mut report, marks) = run.into_report(&self.me, &now_rfc3339(), sla);
        report.sign(self.ledger.signing_key());
        let log = self.ledger.log();
        let json = serde_json::to_vec(&report).map_err(|e| AppError::corrupt("audit report", e))?;
        self.ledger.append_system(REPORT_KIND, &format!("audit/{}", report.at), json, |index| {
            vec![(AUDIT_REPORT_META, index.to_be_bytes().to_vec())]
        })?;
        for (code, m) in marks {
            log.set_origin_meta(
                &code,
                AUDIT_MARK_META,
                &serde_json::to_vec(&m).map_err(|e| AppError::corrupt("audit mark", e))?,
            )?;
        }
        Ok(report)
    }

    /// The newest signed audit report in this node's log.
    pub fn last_report(&self) -> Result<Option<gongxin_core::audit::Report>, AppError> {
        let log = self.ledger.log();
        let Some(idx) = log.origin_meta(&self.me, AUDIT_REPORT_META)? else { return Ok(None) };
        let idx = u64::from_be_bytes(
            idx.as_slice().try_into().map_err(|_| AppError::corrupt("report index", "not 8 bytes"))?,
        );
        let Some(e) = log.entry(&self.me, idx)? else { return Ok(None) };
        let Some((p, _)) = e.payload else { return Ok(None) };
        let r: gongxin_core::audit::Report =
            serde_json::from_slice(&p).map_err(|e| AppError::corrupt("audit report", e))?;
        gongxin_core::format::check("audit report", r.format)?;
        Ok(Some(r))
    }
}
