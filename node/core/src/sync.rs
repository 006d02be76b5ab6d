//! Sync rules (DESIGN §5), pure: who may send what to whom, what makes a batch acceptable, where a batch ends,
//! and the cosignature statement. The gRPC layer gathers the inputs, calls these, and carries out the verdict.

use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::crypto::{PublicKey, Verifier};
use crate::envelope::LeafHeader;
use crate::registry::Registry;

/// Record kind of anchors: a relaying node's statement, in its own log, of an origin checkpoint it mirrored.
pub const ANCHOR_KIND: &str = "anchor";

/// Payload of an anchor entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Anchor {
    /// Format version (absent: 1).
    #[serde(default = "crate::format::v1", skip_serializing_if = "crate::format::is_v1")]
    pub format: u32,
    pub origin: String,
    pub size: u64,
    /// Hex SM3 root of the origin's checkpoint.
    pub root: String,
    pub received_from: String,
    /// RFC 3339 UTC time the relaying node committed the batch (bounds the checkpoint's time from above).
    pub received_at: String,
    /// The origin-signed checkpoint, exactly (base64 of the note and of its DER signature).
    pub checkpoint_b64: String,
    pub signature_b64: String,
}

/// Most entries in one upload or pull batch.
pub const MAX_BATCH_ENTRIES: usize = 5_000;

/// Why a batch or request is refused. Each maps to one gRPC status in `grpc::sync`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// Not allowed: unknown, suspended or revoked node, wrong role, origin outside the sender's subtree.
    #[error("permission denied: {0}")]
    Forbidden(Refusal),
    /// The batch does not start where the receiver stands.
    #[error("batch starts at {got} but the receiver's cursor for {origin} is {expected}")]
    Cursor { origin: String, expected: u64, got: u64 },
    /// Malformed, forged, reordered or truncated content.
    #[error("entry {index}: {problem}")]
    BadEntry { index: u64, problem: EntryProblem },
    #[error("checkpoint of {origin}: {problem}")]
    BadCheckpoint { origin: String, problem: CheckpointProblem },
    #[error("batch too large: {entries} entries, at most {max}")]
    TooLarge { entries: usize, max: usize },
    /// The origin signed two different histories: kept as evidence.
    #[error("equivocation by {origin}: {what}")]
    Equivocation { origin: String, what: Equivocation },
}

/// Why a caller is not allowed what it asked. Each names the node or origin and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("node {node} is not in the registry (version {version})")]
    NotRegistered { node: String, version: u64 },
    #[error("node {node} is {status}")]
    NotActive { node: String, status: &'static str },
    #[error("node {node} is not a registered child of {parent}")]
    NotAChild { node: String, parent: String },
    #[error("origin {origin} is not in the registry")]
    UnknownOrigin { origin: String },
    #[error("{sender} may not relay origin {origin}: not in its subtree")]
    OutsideSubtree { sender: String, origin: String },
    #[error("the certificate of {node} is not the one in the registry")]
    CertificateNotRegistered { node: String },
    #[error("certificate of {node} is not a node certificate")]
    NotANodeCertificate { node: String },
    #[error("no SM2 key known for origin {origin}")]
    NoKey { origin: String },
    #[error("{sender} may not upload this node's own log")]
    OwnLogUpload { sender: String },
    #[error("log {origin} is not offered for down-sync")]
    NotOffered { origin: String },
    #[error("本节点 {node} 的远程管理接口与运维页面只接受本节点的运维证书 / the remote admin API and operator pages of node {node} accept operator certificates of {node} only; got a {role} certificate of {code}")]
    NotAnOperatorOf { node: String, role: String, code: String },
    #[error("运维证书未在名册中登记 the operator certificate {fingerprint} of {node} is not registered (gongxin registry operator add)")]
    OperatorNotRegistered { node: String, fingerprint: String },
    #[error("运维证书已吊销 the operator certificate {fingerprint} of {node} is revoked")]
    OperatorRevoked { node: String, fingerprint: String },
    #[error("需要名册操作员角色 registry changes need a registry operator (gongxin registry operator add --registry-operator); {fingerprint} of {node} is not one")]
    NotRegistryOperator { node: String, fingerprint: String },
    /// Only a node whose signing is held on a gap takes its own log back (`Federation::recover_own`).
    #[error("a parent may send this node its own log only while its signing is held on a gap (restore)")]
    OwnLogPulled,
}

/// What is wrong with one entry of a batch. Evidence is chosen by these variants, never by message text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    #[error("out of order: expected index {expected}")]
    OutOfOrder { expected: u64 },
    #[error(transparent)]
    Leaf(#[from] crate::envelope::LeafError),
    #[error("payload of a 不予共享 record must not leave its origin")]
    PayloadNotShareable,
    #[error("payload SM3 differs from payload-sm3 in the signed leaf")]
    PayloadDigest,
    #[error("signature is not by origin {origin} (forged or altered leaf)")]
    NotSigned { origin: String },
    #[error("differs from the held leaf and is not signed by the origin (forged)")]
    ForgedResend,
}

impl EntryProblem {
    /// Does this problem show that a relay altered what the origin signed (when the sender is not the origin)?
    pub fn shows_tampering(&self) -> bool {
        matches!(self, EntryProblem::NotSigned { .. } | EntryProblem::PayloadDigest)
    }
}

/// What is wrong with a batch's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointProblem {
    #[error(transparent)]
    Malformed(#[from] crate::checkpoint::CheckpointError),
    #[error("origin line {found:?} does not name the origin")]
    WrongOrigin { found: String },
    #[error("signature is not by the origin")]
    NotSigned,
    #[error("checkpoint size {size} differs from the batch end {batch_end}")]
    Size { size: u64, batch_end: u64 },
    #[error("timestamp {found:?}: {why}")]
    Time { found: String, why: &'static str },
    #[error("root {derived} re-derived from the batch differs from the signed checkpoint root {signed} (altered, reordered or missing entries)")]
    Root { derived: String, signed: String },
}

/// The kind of double history an origin signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Equivocation {
    #[error("two signed checkpoints of size {size} with different roots")]
    CheckpointRoots { size: u64 },
    #[error("different leaf at known index {index}")]
    LeafAtIndex { index: u64 },
    #[error("checkpoint of size {size} inconsistent with held leaves")]
    InconsistentCheckpoint { size: u64 },
}

/// May `sender` (a registered node, authenticated by its certificate) upload records of `origin` to `me`?
/// Only a registered, active child of `me`, and only for origins in its own subtree.
pub fn may_upload(reg: &Registry, me: &str, sender: &str, origin: &str) -> Result<(), SyncError> {
    may_pull(reg, me, sender)?;
    if reg.node(origin).is_none() {
        return Err(SyncError::Forbidden(Refusal::UnknownOrigin { origin: origin.into() }));
    }
    if !reg.in_subtree(sender, origin) {
        return Err(SyncError::Forbidden(Refusal::OutsideSubtree { sender: sender.into(), origin: origin.into() }));
    }
    Ok(())
}

/// May `sender` use the sync service of `me` at all (cursor, down-sync)? Registered, active, and a child of `me`.
pub fn may_pull(reg: &Registry, me: &str, sender: &str) -> Result<(), SyncError> {
    let Some(n) = reg.node(sender) else {
        return Err(SyncError::Forbidden(Refusal::NotRegistered { node: sender.into(), version: reg.version }));
    };
    if !reg.is_active(sender) {
        return Err(SyncError::Forbidden(Refusal::NotActive { node: sender.into(), status: n.status.as_str() }));
    }
    if n.parent.as_deref() != Some(me) {
        return Err(SyncError::Forbidden(Refusal::NotAChild { node: sender.into(), parent: me.into() }));
    }
    Ok(())
}

/// A certificate presented to node `me` as an operator: its role and node code (as the TLS layer read them)
/// and its SHA-256 fingerprint.
pub struct OperatorCert<'a> {
    pub role: String,
    pub is_operator: bool,
    pub code: &'a str,
    pub fingerprint: &'a str,
}

/// May this certificate act for node `me`: an operator certificate of `me`, registered for it, not revoked, and
/// with the registry-operator role when `registry_change`? The one rule of the remote admin API and the
/// operator HTTPS view.
pub fn operator_may(reg: &Registry, me: &str, cert: &OperatorCert<'_>, registry_change: bool) -> Result<(), SyncError> {
    let refuse = |r| Err(SyncError::Forbidden(r));
    if !cert.is_operator || cert.code != me {
        let (role, code) = (cert.role.clone(), cert.code.to_string());
        return refuse(Refusal::NotAnOperatorOf { node: me.to_string(), role, code });
    }
    let (node, fingerprint) = (me.to_string(), cert.fingerprint.to_ascii_lowercase());
    match reg.operator(me, &fingerprint) {
        None => refuse(Refusal::OperatorNotRegistered { node, fingerprint }),
        Some(o) if o.status != crate::registry::NodeStatus::Active => {
            refuse(Refusal::OperatorRevoked { node, fingerprint })
        }
        Some(o) if registry_change && !o.registry_operator => {
            refuse(Refusal::NotRegistryOperator { node, fingerprint })
        }
        Some(_) => Ok(()),
    }
}

/// Does the TLS certificate presented by `code` match its registry entry?
pub fn cert_matches(reg: &Registry, code: &str, fingerprint: &str) -> Result<(), SyncError> {
    let n = reg
        .node(code)
        .ok_or_else(|| SyncError::Forbidden(Refusal::NotRegistered { node: code.into(), version: reg.version }))?;
    if !n.tls_fingerprints.iter().any(|f| f.eq_ignore_ascii_case(fingerprint)) {
        return Err(SyncError::Forbidden(Refusal::CertificateNotRegistered { node: code.into() }));
    }
    Ok(())
}

/// One entry as received.
pub struct IncomingEntry<'a> {
    pub index: u64,
    pub leaf: &'a [u8],
    pub signature: &'a [u8],
    pub payload: Option<&'a [u8]>,
}

/// Checks a batch's entries: contiguous indices from `start`, canonical leaves of `origin` at those indices,
/// payload digests, no payload for 不予共享 records, and every signature by one of the origin's keys
/// (verified in parallel, verdicts in order). Returns the decoded headers.
pub fn check_entries(
    origin: &str,
    start: u64,
    entries: &[IncomingEntry<'_>],
    keys: &[PublicKey],
    verifier: &Verifier,
) -> Result<Vec<LeafHeader>, SyncError> {
    if entries.len() > MAX_BATCH_ENTRIES {
        return Err(SyncError::TooLarge { entries: entries.len(), max: MAX_BATCH_ENTRIES });
    }
    let signed = verify_signatures(entries, keys, verifier);
    check_entries_signed(origin, start, entries, keys, &signed)
}

/// Whether each entry's leaf is signed by one of `keys` (all cores, verdicts in input order). Reads no state, so
/// a receiver may run it before it takes its writer lock; [`check_entries_signed`] then uses the verdicts.
pub fn verify_signatures(entries: &[IncomingEntry<'_>], keys: &[PublicKey], verifier: &Verifier) -> Vec<bool> {
    let items: Vec<(&[u8], &[u8])> = entries.iter().map(|e| (e.leaf, e.signature)).collect();
    verifier.verify_batch_any(keys, &items).into_iter().map(|v| v.is_ok()).collect()
}

/// [`check_entries`] with the signature verdicts already computed by [`verify_signatures`] over exactly
/// `entries` (one verdict per entry, in order; a missing verdict counts as not signed).
pub fn check_entries_signed(
    origin: &str,
    start: u64,
    entries: &[IncomingEntry<'_>],
    keys: &[PublicKey],
    signed: &[bool],
) -> Result<Vec<LeafHeader>, SyncError> {
    if entries.len() > MAX_BATCH_ENTRIES {
        return Err(SyncError::TooLarge { entries: entries.len(), max: MAX_BATCH_ENTRIES });
    }
    if keys.is_empty() {
        return Err(SyncError::Forbidden(Refusal::NoKey { origin: origin.into() }));
    }
    let mut headers = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let want = start + i as u64;
        let bad = |problem: EntryProblem| SyncError::BadEntry { index: e.index, problem };
        if e.index != want {
            return Err(bad(EntryProblem::OutOfOrder { expected: want }));
        }
        let h = LeafHeader::decode_at(e.leaf, origin, want).map_err(|err| bad(err.into()))?;
        if let Some(p) = e.payload {
            if !h.payload_may_travel() {
                return Err(bad(EntryProblem::PayloadNotShareable));
            }
            if !h.payload_matches(p) {
                return Err(bad(EntryProblem::PayloadDigest));
            }
        }
        headers.push(h);
    }
    for (i, e) in entries.iter().enumerate() {
        if !signed.get(i).copied().unwrap_or(false) {
            return Err(SyncError::BadEntry {
                index: e.index,
                problem: EntryProblem::NotSigned { origin: origin.into() },
            });
        }
    }
    Ok(headers)
}

/// Checks an origin-signed checkpoint: signature by one of the origin's keys and an origin line naming it.
pub fn check_checkpoint(
    origin: &str,
    cp: &SignedCheckpoint,
    keys: &[PublicKey],
    verifier: &Verifier,
) -> Result<Checkpoint, SyncError> {
    let bad = |problem: CheckpointProblem| SyncError::BadCheckpoint { origin: origin.into(), problem };
    let parsed = cp.parse().map_err(|e| bad(e.into()))?;
    if parsed.origin_code() != Some(origin) {
        return Err(bad(CheckpointProblem::WrongOrigin { found: parsed.origin.clone() }));
    }
    if verifier.verify_any(keys, &cp.note, &cp.signature).is_err() {
        return Err(bad(CheckpointProblem::NotSigned));
    }
    Ok(parsed)
}

/// Largest amount a signed time may be ahead of the receiver's clock, seconds.
pub const MAX_FUTURE_SKEW_SECS: i64 = 300;

/// The checkpoint's signed time as unix seconds: present, RFC 3339, and not more than
/// [`MAX_FUTURE_SKEW_SECS`] after `now`. When `newest_held` (unix seconds of the newest checkpoint already held
/// for the origin) is given, the time must not go back before it by more than the skew either: an origin's
/// times only move forward. Times are compared as times, never as strings.
pub fn checkpoint_time(cp: &Checkpoint, now: i64, newest_held: Option<i64>) -> Result<i64, CheckpointProblem> {
    let shown = |s: &str| s.chars().take(40).flat_map(char::escape_default).collect::<String>();
    let Some(ts) = cp.timestamp() else {
        return Err(CheckpointProblem::Time { found: String::new(), why: "missing" });
    };
    let t = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .map_err(|_| CheckpointProblem::Time { found: shown(ts), why: "not an RFC 3339 time" })?
        .unix_timestamp();
    if t > now.saturating_add(MAX_FUTURE_SKEW_SECS) {
        return Err(CheckpointProblem::Time { found: shown(ts), why: "in the future" });
    }
    if newest_held.is_some_and(|h| t < h.saturating_sub(MAX_FUTURE_SKEW_SECS)) {
        return Err(CheckpointProblem::Time { found: shown(ts), why: "older than a checkpoint already held" });
    }
    Ok(t)
}

/// Where the next batch from `start` should end: the largest signed checkpoint size within `max` entries,
/// or, if none fits, the smallest one beyond `start` (a batch always ends on a checkpoint).
pub fn batch_end(checkpoint_sizes: &[u64], start: u64, max: u64) -> Option<u64> {
    let beyond = checkpoint_sizes.iter().copied().filter(|&s| s > start);
    let within = beyond.clone().filter(|&s| s <= start.saturating_add(max)).max();
    within.or_else(|| beyond.min())
}

/// The exact bytes a parent signs to cosign an origin's checkpoint it has mirrored and flushed.
pub fn cosignature_statement(cosigner: &str, time: &str, note: &[u8]) -> Vec<u8> {
    let mut v = format!("gongxin-cosignature/v1\ncosigner {cosigner}\ntime {time}\n").into_bytes();
    v.extend_from_slice(note);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{self, SigningKey};
    use crate::registry::{Change, KeyEntry, NodeEntry, NodeStatus};

    fn reg() -> Registry {
        let mut r = Registry::empty();
        for (c, p) in [
            ("430000", None),
            ("430100", Some("430000")),
            ("430102", Some("430100")),
            ("430104", Some("430100")),
            ("430300", Some("430000")),
            ("430302", Some("430300")),
        ] {
            let e = NodeEntry {
                code: c.into(),
                name: c.into(),
                level: "x".into(),
                parent: p.map(Into::into),
                keys: vec![KeyEntry {
                    spki_pem: SigningKey::generate().public_key().to_spki_pem(),
                    valid_from: "t".into(),
                    valid_until: None,
                }],
                tls_fingerprints: vec![format!("fp{c}")],
                status: NodeStatus::Active,
                operators: vec![],
            };
            r = r.apply(&Change::Upsert(e), "t").unwrap();
        }
        r
    }

    #[test]
    fn authorization_rules() {
        let r = reg();
        assert!(may_upload(&r, "430100", "430102", "430102").is_ok());
        assert!(may_upload(&r, "430000", "430100", "430102").is_ok(), "city relays its county");
        assert!(may_upload(&r, "430100", "430102", "430104").is_err(), "county uploads another county's origin");
        assert!(may_upload(&r, "430000", "430300", "430102").is_err(), "city relays a county of another city");
        assert!(may_upload(&r, "430000", "430102", "430102").is_err(), "county skips its city");
        assert!(may_upload(&r, "430100", "439999", "439999").is_err(), "unknown node");
        let revoked = r.apply(&Change::SetStatus { code: "430102".into(), status: NodeStatus::Revoked }, "t").unwrap();
        assert!(may_upload(&revoked, "430100", "430102", "430102").is_err(), "revoked node");
        assert!(cert_matches(&r, "430102", "FP430102").is_ok());
        assert!(cert_matches(&r, "430102", "fp430104").is_err());
    }

    #[test]
    fn batches_end_on_checkpoints() {
        let sizes = [0, 1000, 2000, 2500, 9000];
        assert_eq!(batch_end(&sizes, 0, 3000), Some(2500));
        assert_eq!(batch_end(&sizes, 2500, 3000), Some(9000));
        assert_eq!(batch_end(&sizes, 9000, 3000), None);
        assert_eq!(batch_end(&sizes, 1000, 1000), Some(2000));
    }

    #[test]
    fn checkpoint_times_are_times() {
        let cp = |ts: &str| Checkpoint::new("430102", 1, [0; 32], ts);
        let now = 1_780_000_000; // 2026-05-28
        let at = |ts: &str| checkpoint_time(&cp(ts), now, None);
        assert_eq!(at("2026-05-28T20:26:40Z"), Ok(now));
        assert!(matches!(at("zzzz"), Err(CheckpointProblem::Time { why: "not an RFC 3339 time", .. })));
        assert!(matches!(at("2099-01-01T00:00:00Z"), Err(CheckpointProblem::Time { why: "in the future", .. })));
        assert!(at("2026-05-28T20:30:00Z").is_ok(), "within the skew");
        let mut none = cp("x");
        none.extensions.clear();
        assert!(matches!(checkpoint_time(&none, now, None), Err(CheckpointProblem::Time { why: "missing", .. })));
        // Monotonic per origin: an hour before the newest held one is refused; a minute before is skew.
        let held = Some(now);
        assert!(checkpoint_time(&cp("2026-05-28T19:26:40Z"), now, held).is_err());
        assert!(checkpoint_time(&cp("2026-05-28T20:25:40Z"), now, held).is_ok());
        // A hostile string is shown escaped and bounded.
        let e = at("\u{1b}[31m2026\nforged-log-line-and-a-very-long-tail-of-text-0123456789").unwrap_err().to_string();
        assert!(!e.contains('\n') && !e.contains('\u{1b}') && e.len() < 120, "{e}");
    }

    #[test]
    fn entries_are_checked() {
        let key = SigningKey::generate();
        let v = Verifier::new();
        let payload = b"{}".to_vec();
        let mk = |i: u64, share: &str| {
            let h = LeafHeader {
                origin: "430102".into(),
                index: i,
                kind: "license".into(),
                share: crate::envelope::share_of_token(share).unwrap(),
                disclosure: crate::record::Disclosure::Public,
                recorded_at: "2026-01-01T00:00:00Z".into(),
                decided_on: "2026-01-01".into(),
                natural_key: crypto::sm3(&i.to_be_bytes()),
                payload_digest: crypto::sm3(&payload),
            };
            let leaf = h.encode();
            let sig = key.sign(&leaf);
            (leaf, sig)
        };
        let a = mk(5, "unconditional");
        let b = mk(6, "none");
        let keys = [key.public_key()];
        let ok = [
            IncomingEntry { index: 5, leaf: &a.0, signature: &a.1, payload: Some(&payload) },
            IncomingEntry { index: 6, leaf: &b.0, signature: &b.1, payload: None },
        ];
        assert_eq!(check_entries("430102", 5, &ok, &keys, &v).unwrap().len(), 2);
        // Wrong start (reordered/truncated), wrong origin, forged signature, 不予共享 payload travelling.
        assert!(matches!(check_entries("430102", 4, &ok, &keys, &v), Err(SyncError::BadEntry { .. })));
        assert!(check_entries("430104", 5, &ok, &keys, &v).is_err());
        let forged = [IncomingEntry { index: 5, leaf: &a.0, signature: &b.1, payload: None }];
        assert!(check_entries("430102", 5, &forged, &keys, &v).unwrap_err().to_string().contains("signature"));
        let leak = [IncomingEntry { index: 6, leaf: &b.0, signature: &b.1, payload: Some(&payload) }];
        assert!(check_entries("430102", 6, &leak, &keys, &v).unwrap_err().to_string().contains("不予共享"));
        let other = [SigningKey::generate().public_key()];
        assert!(check_entries("430102", 5, &ok, &other, &v).is_err());
        // Verdicts computed ahead (before a writer lock): a missing or false verdict is never taken as signed.
        let verdicts = verify_signatures(&ok, &keys, &v);
        assert_eq!(verdicts, vec![true, true]);
        assert_eq!(check_entries_signed("430102", 5, &ok, &keys, &verdicts).unwrap().len(), 2);
        assert!(check_entries_signed("430102", 5, &ok, &keys, &verdicts[..1]).is_err());
        assert!(check_entries_signed("430102", 5, &ok, &keys, &[true, false]).is_err());
    }
}
