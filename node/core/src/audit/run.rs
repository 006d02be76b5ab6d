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
