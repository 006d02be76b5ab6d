//! The one audit orchestration (issue 8 item 6): for every origin of a registry subtree, gather its checkpoints
//! from every vantage point, walk its leaves since the last mark and finish it with [`OriginAudit`]. The node
//! runs it over its store (`gongxin audit run`), `verify-bundle` over an export bundle; both go through
//! [`audit_subtree`] and [`AuditSource`], so the vantage labels, the order of the steps and the sorting of the
//! results exist once.

use super::{Finding, Mark, OriginAudit, OriginResult, Report, Seen, Sla};
use crate::checkpoint::SignedCheckpoint;
use crate::crypto::{PublicKey, SigningKey, Verifier};
use crate::registry::Registry;
use crate::sync::Anchor;
use std::ops::Range;

/// Vantage label of the checkpoints the auditor holds for an origin (its mirror, or the bundle's copy of it).
pub const VANTAGE_MIRROR: &str = "province mirror";
/// Vantage label of the checkpoint the previous audit accepted.
pub const VANTAGE_LAST_AUDIT: &str = "last audit";
/// Leaves read from the source at a time.
const CHUNK: u64 = 4096;

/// A leaf as the audit reads it: `(index, leaf bytes, signature, payload)`.
pub type AuditLeaf = (u64, Vec<u8>, Vec<u8>, Option<Vec<u8>>);

/// What the audit of one origin reads: the auditor's store, or an evaluator bundle.
pub trait AuditSource {
    type Error;

    /// The origin's signing keys, oldest first.
    fn keys(&self, code: &str) -> Vec<PublicKey>;
    /// Who delivered the origin's log to the auditor (blamed for a bad checkpoint in it).
    fn delivered_by(&self, code: &str) -> String;
    /// The signed checkpoints held for the origin (seen as [`VANTAGE_MIRROR`]).
    fn checkpoints(&self, code: &str) -> Result<Vec<SignedCheckpoint>, Self::Error>;
    /// The mark the leaf walk continues from (`None`: from leaf 0).
    fn resume(&self, code: &str) -> Result<Option<Mark>, Self::Error>;
    /// Leaves the source itself verified up to the resume mark in this run (signatures, headers, payload digests,
    /// roots), counted as checked. The store verified nothing now: 0.
    fn verified(&self, _code: &str) -> u64 {
        0
    }
    /// The checkpoint the previous audit accepted, signed by the origin, and who delivered it (seen as
    /// [`VANTAGE_LAST_AUDIT`]).
    fn last_audit(&self, code: &str) -> Result<Option<(SignedCheckpoint, String)>, Self::Error>;
    /// Anchors of the origin's checkpoints written by relaying nodes: `(relayer, anchor)`.
    fn anchors(&self, code: &str) -> Result<Vec<(String, Anchor)>, Self::Error>;
    /// How many leaves of the origin the source holds.
    fn held(&self, code: &str) -> Result<u64, Self::Error>;
    /// The held leaves in `range`, in index order (fewer when the source holds fewer).
    fn leaves(&self, code: &str, range: Range<u64>) -> Result<Vec<AuditLeaf>, Self::Error>;
    /// Findings already held as evidence about the origin (stored equivocations, an earlier report's evidence).
    fn findings(&self, code: &str) -> Result<Vec<Finding>, Self::Error>;
}

/// The outcome of [`audit_subtree`]: the origins, problem origins first, and the marks to keep for the next run
/// (origins without evidence whose walk ended on a checkpoint).
#[derive(Debug, Clone)]
pub struct AuditRun {
    pub origins: Vec<OriginResult>,
    pub marks: Vec<(String, Mark)>,
}

/// Audits every origin of `reg` in the subtree of `top`, as `local` (the auditing node, blamed for what its own
/// store got wrong), at `now` (unix seconds) against `sla`.
pub fn audit_subtree<S: AuditSource>(
    src: &S,
    reg: &Registry,
    top: &str,
    local: &str,
    verifier: &Verifier,
    now: i64,
    sla: &Sla,
) -> Result<AuditRun, S::Error> {
    let mut origins = Vec::new();
    let mut marks = Vec::new();
    for node in reg.nodes.iter().filter(|n| reg.in_subtree(top, &n.code)) {
        let code = node.code.as_str();
        let resume = src.resume(code)?;
        let mut audit = OriginAudit::new(code, src.keys(code), local, verifier, resume.as_ref());
        let delivered_by = src.delivered_by(code);
        for signed in src.checkpoints(code)? {
            audit.see(Seen {
                vantage: VANTAGE_MIRROR.into(),
                delivered_by: delivered_by.clone(),
                signed,
                received_at: None,
            });
        }
        if let Some((signed, delivered_by)) = src.last_audit(code)? {
            audit.see(Seen { vantage: VANTAGE_LAST_AUDIT.into(), delivered_by, signed, received_at: None });
        }
        for (relayer, a) in src.anchors(code)? {
            audit.see_anchor(&relayer, &a);
        }
        let held = src.held(code)?;
        let mut at = audit.start();
        while at < held {
            let upto = (at + CHUNK).min(held);
            let chunk = src.leaves(code, at..upto)?;
            if chunk.is_empty() {
                break;
            }
            audit.feed(&chunk);
            at = upto;
        }
        let verified = src.verified(code);
        let (mut result, mark) = audit.finish(held, now, sla, src.findings(code)?);
        result.leaves_checked += verified;
        if let Some(m) = mark {
            marks.push((code.to_string(), m));
        }
        origins.push(result);
    }
    // Problem origins first.
    origins.sort_by(|a, b| b.status.cmp(&a.status).then(a.code.cmp(&b.code)));
    Ok(AuditRun { origins, marks })
}

impl AuditRun {
    /// The report of this run, unsigned (`signature` empty), and the marks to keep.
    pub fn into_report(self, auditor: &str, at: &str, sla: Sla) -> (Report, Vec<(String, Mark)>) {
        let report = Report {
            format: crate::format::V1,
            auditor: auditor.to_string(),
            at: at.to_string(),
            sla,
            origins: self.origins,
            signature: String::new(),
        };
        (report, self.marks)
    }
}

impl Report {
    /// Signs the report: the base64 DER signature over [`Report::signed_bytes`] goes into `signature`.
    pub fn sign(&mut self, key: &SigningKey) {
        use base64::Engine as _;
        self.signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&self.signed_bytes()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Status;
    use crate::bundle::tests::signed_log;
    use crate::registry::{KeyEntry, NodeEntry, NodeStatus};
    use std::collections::BTreeMap;

    /// Origins held in memory: keys, leaves, checkpoints, stored findings, and a resume mark.
    #[derive(Default)]
    struct Mem {
        keys: BTreeMap<String, Vec<PublicKey>>,
        leaves: BTreeMap<String, Vec<AuditLeaf>>,
        checkpoints: BTreeMap<String, Vec<SignedCheckpoint>>,
        findings: BTreeMap<String, Vec<Finding>>,
        marks: BTreeMap<String, Mark>,
    }

    impl AuditSource for Mem {
        type Error = std::convert::Infallible;
        fn keys(&self, code: &str) -> Vec<PublicKey> {
            self.keys.get(code).cloned().unwrap_or_default()
        }
        fn delivered_by(&self, code: &str) -> String {
            code.to_string()
        }
        fn checkpoints(&self, code: &str) -> Result<Vec<SignedCheckpoint>, Self::Error> {
            Ok(self.checkpoints.get(code).cloned().unwrap_or_default())
        }
        fn resume(&self, code: &str) -> Result<Option<Mark>, Self::Error> {
            Ok(self.marks.get(code).cloned())
        }
        fn last_audit(&self, _code: &str) -> Result<Option<(SignedCheckpoint, String)>, Self::Error> {
            Ok(None)
        }
        fn anchors(&self, _code: &str) -> Result<Vec<(String, Anchor)>, Self::Error> {
            Ok(Vec::new())
        }
        fn held(&self, code: &str) -> Result<u64, Self::Error> {
            Ok(self.leaves.get(code).map(|l| l.len() as u64).unwrap_or(0))
        }
        fn leaves(&self, code: &str, range: Range<u64>) -> Result<Vec<AuditLeaf>, Self::Error> {
            let all = self.leaves.get(code).map(Vec::as_slice).unwrap_or(&[]);
            Ok(all.iter().filter(|l| range.contains(&l.0)).cloned().collect())
        }
        fn findings(&self, code: &str) -> Result<Vec<Finding>, Self::Error> {
            Ok(self.findings.get(code).cloned().unwrap_or_default())
        }
    }

    fn node(code: &str, parent: Option<&str>, key: &SigningKey) -> NodeEntry {
        NodeEntry {
            code: code.into(),
            name: code.into(),
            level: "county".into(),
            parent: parent.map(str::to_string),
            keys: vec![KeyEntry {
                spki_pem: key.public_key().to_spki_pem(),
                valid_from: String::new(),
                valid_until: None,
            }],
            tls_fingerprints: Vec::new(),
            status: NodeStatus::Active,
            operators: vec![],
        }
    }

    #[test]
    fn one_run_audits_the_subtree_problem_origins_first_and_resumes_from_its_marks() {
        let keys: Vec<SigningKey> = (0..3).map(|_| SigningKey::generate()).collect();
        let reg = Registry {
            format: crate::format::V1,
            version: 1,
            issued_at: String::new(),
            nodes: vec![
                node("430000", None, &keys[0]),
                node("430102", Some("430100"), &keys[2]),
                node("430100", Some("430000"), &keys[1]),
            ],
        };
        let mut src = Mem::default();
        for (code, key) in ["430000", "430100", "430102"].into_iter().zip(&keys) {
            src.keys.insert(code.into(), vec![key.public_key()]);
        }
        let (leaves, cps) = signed_log(&keys[2], "430102", 5, &[2, 5]);
        let leaves = leaves.into_iter().enumerate().map(|(i, (l, s, p))| (i as u64, l, s, Some(p))).collect();
        src.leaves.insert("430102".into(), leaves);
        src.checkpoints.insert("430102".into(), cps);
        let stored = Finding { kind: "equivocation".into(), culprit: "430100".into(), detail: "held".into() };
        src.findings.insert("430100".into(), vec![stored]);
        let now = 1_796_083_201; // 2026-12-01T00:00:01Z
        let sla = Sla::default();
        let verifier = Verifier::new();

        // The city's subtree: the city (evidence) before its county (ok); the province is not in it.
        let run = audit_subtree(&src, &reg, "430100", "430100", &verifier, now, &sla).unwrap();
        let got: Vec<_> = run.origins.iter().map(|o| (o.code.as_str(), o.status, o.leaves_checked)).collect();
        assert_eq!(got, [("430100", Status::Evidence, 0), ("430102", Status::Ok, 5)]);
        assert_eq!(run.marks.iter().map(|(c, m)| (c.as_str(), m.size)).collect::<Vec<_>>(), [("430102", 5)]);
        let (report, marks) = run.into_report("430100", "2026-12-01T00:00:01Z", sla);
        assert_eq!((report.origins.len(), report.signature.as_str()), (2, ""));

        // The next run continues from the mark: nothing new to walk, still ok.
        src.marks.extend(marks);
        let run = audit_subtree(&src, &reg, "430000", "430000", &verifier, now, &sla).unwrap();
        let got: Vec<_> = run.origins.iter().map(|o| (o.code.as_str(), o.status, o.leaves_checked)).collect();
        assert_eq!(got, [("430100", Status::Evidence, 0), ("430000", Status::Stale, 0), ("430102", Status::Ok, 0)]);
    }
}
