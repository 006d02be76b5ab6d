//! The audit of the sync chain over this node's store (DESIGN §5, issue 4): gathers every vantage point of
//! every origin in the registry subtree, runs `gongxin_core::audit`, signs the report, appends it to this
//! node's log and keeps the last audited mark per origin.

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
        use gongxin_core::audit::{Finding, Mark, OriginAudit, Report, Seen, REPORT_KIND};
        let reg = self.registry();
        let log = self.ledger.log();
        let anchors = self.anchors()?;
        let evidence = self.evidence()?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut origins = Vec::new();
        let mut marks = Vec::new();
        for node in reg.nodes.iter().filter(|n| reg.in_subtree(&self.me, &n.code)) {
            let code = node.code.as_str();
            let relay = if code == self.me { self.me.clone() } else { self.relay_of(&reg, code) };
            let mark: Option<Mark> =
                log.origin_meta(code, AUDIT_MARK_META)?.and_then(|v| serde_json::from_slice(&v).ok());
            let mut audit = OriginAudit::new(code, self.keys_for(code), &self.me, &self.verifier, mark.as_ref());
            for cp in log.checkpoints(code)? {
                audit.see(Seen {
                    vantage: "province mirror".into(),
                    delivered_by: relay.clone(),
                    signed: cp,
                    received_at: None,
                });
            }
            if let Some(m) = &mark {
                let dec = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_default();
                let signed = SignedCheckpoint { note: dec(&m.checkpoint_b64), signature: dec(&m.signature_b64) };
                audit.see(Seen {
                    vantage: "last audit".into(),
                    delivered_by: self.me.clone(),
                    signed,
                    received_at: None,
                });
            }
            for (relayer, a) in anchors.get(code).map(Vec::as_slice).unwrap_or(&[]) {
                audit.see_anchor(relayer, a);
            }
            let head = log.head(code)?;
            let mut at = audit.start();
            while at < head.size {
                let upto = (at + 4096).min(head.size);
                let chunk: Vec<(u64, Vec<u8>, Vec<u8>, Option<Vec<u8>>)> = log
                    .entries(code, at..upto)?
                    .into_iter()
                    .map(|e| (e.index, e.leaf, e.signature, e.payload.map(|p| p.0)))
                    .collect();
                if chunk.is_empty() {
                    break;
                }
                audit.feed(&chunk);
                at = upto;
            }
            let stored: Vec<Finding> = evidence
                .iter()
                .filter(|e| e.origin == code)
                .map(|e| Finding {
                    kind: e.kind.as_str().to_string(),
                    culprit: if e.kind.blames_origin() { e.origin.clone() } else { e.received_from.clone() },
                    detail: format!("{} (evidence recorded {}, delivered by {})", e.detail, e.at, e.received_from),
                })
                .collect();
            let (result, mark) = audit.finish(head.size, now, &sla, stored);
            if let Some(m) = mark {
                marks.push((code.to_string(), m));
            }
            origins.push(result);
        }
        // Problem origins first.
        origins.sort_by(|a, b| b.status.cmp(&a.status).then(a.code.cmp(&b.code)));
        let mut report = Report { auditor: self.me.clone(), at: now_rfc3339(), sla, origins, signature: String::new() };
        report.signature =
            base64::engine::general_purpose::STANDARD.encode(self.ledger.signing_key().sign(&report.signed_bytes()));
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
        Ok(Some(serde_json::from_slice(&p).map_err(|e| AppError::corrupt("audit report", e))?))
    }
}
