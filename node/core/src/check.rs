//! The joint-punishment check (联合惩戒 "触发-反馈"): given the list entries held about a subject (as folded
//! [`RecordState`]s), the measure asked about and a day, decide `restrict`, `incentive` or `none`, and build the
//! signed verdict. A verdict carries each hit's signed leaf, payload, origin-signed checkpoint and inclusion
//! proof, so a caller can check every hit offline with the origin's key ([`verify_hit`]).
//!
//! Verdicts are signed in batches: the answering node signs one [`BatchStatement`] — the SM3 Merkle root
//! (RFC 6962 hashing, as the logs) over the leaf hashes of every verdict answered while the previous batch was
//! being signed — and each verdict travels with its inclusion proof to that root ([`BatchProof`]). A lone caller
//! gets a batch of one (the root is then the verdict's own leaf hash); under load one signature covers up to
//! [`MAX_BATCH`] answers, which is what lets a node answer far more checks than it can make signatures.
//!
//! *Invariant:* a verdict is the bytes of [`Verdict::signed_bytes`] (compact JSON); its identifier is the hex of
//! its Merkle leaf hash, SM3(0x00 ‖ bytes), so feedback names exactly one answer and the same digest is what the
//! signed batch root covers ([`verify_verdict`] checks both).

use crate::catalogue::Catalogue;
use crate::checkpoint::SignedCheckpoint;
use crate::crypto::{self, PublicKey, SigningKey};
use crate::date::Day;
use crate::envelope::LeafHeader;
use crate::merkle;
use crate::record::Record;
use crate::state::RecordState;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The leaf kind of a feedback entry (反馈).
pub const FEEDBACK_KIND: &str = "check_feedback";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// A dishonesty list in force triggers the measure: restrict.
    Restrict,
    /// Nothing held triggers the measure.
    None,
    /// Only a positive list (守信红名单) triggers it: an incentive applies.
    Incentive,
}

/// A list entry that triggers the measure on the day asked, with the evidence to check it offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    pub origin: String,
    pub index: u64,
    pub list_type: String,
    pub start: Day,
    pub end: Day,
    pub measure: String,
    pub legal_basis: String,
    /// Amendments applied to the entry (`origin/index`), if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amended_by: Vec<String>,
    pub proof: HitProof,
}

/// The signed leaf, its payload, a checkpoint of the origin that includes it and the inclusion proof (all
/// base64 except the proof hashes, hex).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HitProof {
    pub leaf: String,
    pub signature: String,
    pub payload: String,
    pub checkpoint: String,
    pub checkpoint_signature: String,
    pub inclusion: Vec<String>,
}

/// What an answer rests on: the newest province checkpoint held, and how stale it is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Basis {
    pub province_size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province_time: Option<String>,
    /// Seconds between the province checkpoint's time and the answer (absent when none is held).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalogue_version: Option<u32>,
    /// Whether this node holds any record about the subject at all.
    pub subject_known: bool,
}

/// The signed answer to one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    #[serde(default = "crate::format::v1", skip_serializing_if = "crate::format::is_v1")]
    pub format: u32,
    /// The answering node.
    pub node: String,
    pub issued_at: String,
    /// The subject code asked about.
    pub subject: String,
    pub measure: String,
    /// The day asked about.
    pub date: Day,
    pub decision: Decision,
    pub hits: Vec<Hit>,
    pub basis: Basis,
    /// Warnings the caller must see (stale view, unknown subject), Chinese first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Why a check cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error("本节点尚无措施清单，无法判断 (no measure catalogue is in force on {0}: the province has not published one yet)")]
    NoCatalogue(Day),
    #[error("措施 '{asked}' 不在措施清单第 {version} 版中，可用: {known} (unknown measure)")]
    UnknownMeasure { asked: String, version: u32, known: String },
}

/// The hits among `states` for `measure` on `day`: list entries in force whose own measures (or, when they name
/// none, the catalogue's mapping for their list type) include it. Returns the decision and, per hit, the state
/// it came from (for its proof) and the legal basis.
pub fn evaluate<'a>(
    states: &'a [RecordState],
    measure: &str,
    day: Day,
    catalogue: &Catalogue,
) -> Result<(Decision, Vec<(&'a RecordState, String)>), CheckError> {
    let Some(m) = catalogue.measure(measure) else {
        return Err(CheckError::UnknownMeasure {
            asked: measure.to_string(),
            version: catalogue.version,
            known: catalogue.codes().join("、"),
        });
    };
    let mut hits = Vec::new();
    let (mut negative, mut positive) = (false, false);
    for s in states {
        let Some(l) = s.list_entry() else { continue };
        if !s.listed_on(day) {
            continue;
        }
        let basis = if l.measures.is_empty() {
            match catalogue.triggers(l.list_type, measure, day) {
                Some(t) => t.legal_basis.to_string(),
                None => continue,
            }
        } else if l.measures.iter().any(|x| x == measure) {
            format!("{}；{}", l.basis, m.legal_basis)
        } else {
            continue;
        };
        if l.list_type.is_positive() {
            positive = true;
        } else {
            negative = true;
        }
        hits.push((s, basis));
    }
    let decision = if negative {
        Decision::Restrict
    } else if positive {
        Decision::Incentive
    } else {
        Decision::None
    };
    Ok((decision, hits))
}

/// Builds a [`Hit`] from a state and its proof.
pub fn hit(state: &RecordState, measure: &str, legal_basis: String, proof: HitProof) -> Option<Hit> {
    let l = state.list_entry()?;
    Some(Hit {
        origin: state.id.origin.clone(),
        index: state.id.index,
        list_type: l.list_type.to_string(),
        start: l.start,
        end: l.end,
        measure: measure.to_string(),
        legal_basis,
        amended_by: state.history.iter().filter(|s| s.ignored.is_none()).map(|s| s.by.to_string()).collect(),
        proof,
    })
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(what: &str, s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD.decode(s).map_err(|e| format!("{what}: not base64: {e}"))
}

impl HitProof {
    pub fn new(
        leaf: &[u8],
        signature: &[u8],
        payload: &[u8],
        cp: &SignedCheckpoint,
        inclusion: &[crypto::Digest],
    ) -> Self {
        Self {
            leaf: b64(leaf),
            signature: b64(signature),
            payload: b64(payload),
            checkpoint: b64(&cp.note),
            checkpoint_signature: b64(&cp.signature),
            inclusion: inclusion.iter().map(hex::encode).collect(),
        }
    }
}

/// Checks one hit offline against the key of its origin: the leaf is signed by the origin and sits at the hit's
/// origin and index, the payload matches the leaf's digest and says what the hit says, the checkpoint is signed
/// by the origin, and the inclusion proof leads from the leaf to the checkpoint's root.
pub fn verify_hit(hit: &Hit, origin_key: &PublicKey) -> Result<(), String> {
    let p = &hit.proof;
    let leaf = unb64("leaf", &p.leaf)?;
    let sig = unb64("signature", &p.signature)?;
    let payload = unb64("payload", &p.payload)?;
    let note = unb64("checkpoint", &p.checkpoint)?;
    let cp_sig = unb64("checkpoint_signature", &p.checkpoint_signature)?;
    origin_key.verify(&leaf, &sig).map_err(|e| format!("leaf signature: {e}"))?;
    let header = LeafHeader::decode_at(&leaf, &hit.origin, hit.index).map_err(|e| format!("leaf: {e}"))?;
    if crypto::sm3(&payload) != header.payload_digest {
        return Err("payload does not match the leaf's digest".into());
    }
    match Record::from_payload_json(&payload).map_err(|e| e.to_string())? {
        Record::ListEntry(l) if l.list_type.to_string() == hit.list_type => {}
        _ => return Err("payload is not the list entry the hit names".into()),
    }
    let cp = SignedCheckpoint { note, signature: cp_sig }.verify(origin_key).map_err(|e| format!("checkpoint: {e}"))?;
    if cp.origin_code() != Some(hit.origin.as_str()) {
        return Err("checkpoint is of another origin".into());
    }
    let mut hashes = Vec::with_capacity(p.inclusion.len());
    for h in &p.inclusion {
        let v = hex::decode(h).map_err(|e| format!("inclusion: {e}"))?;
        let d: crypto::Digest = v.try_into().map_err(|_| "inclusion: a hash is not 32 bytes".to_string())?;
        hashes.push(d);
    }
    merkle::verify_inclusion(&merkle::leaf_hash(&leaf), hit.index, cp.size, &hashes, &cp.root)
        .map_err(|e| format!("inclusion proof: {e}"))
}

/// The first line of a batch statement.
pub const BATCH_HEADER: &str = "gongxin verdict batch v1";
/// Most verdicts under one batch signature (an inclusion proof is then at most 8 hashes).
pub const MAX_BATCH: usize = 256;
/// Longest batch statement accepted when parsing (header, code, time, size, root: well under this).
const MAX_STATEMENT_BYTES: usize = 256;

/// What a node signs for a batch of verdicts: who answered, when, how many verdicts, and the Merkle root over
/// their leaf hashes. Encoded as five text lines ([`BatchStatement::encode`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchStatement {
    pub node: String,
    pub issued_at: String,
    pub size: u64,
    pub root: crypto::Digest,
}

impl BatchStatement {
    /// `gongxin verdict batch v1\n<node>\n<issued_at>\n<size>\n<root, base64>\n`: the exact signed bytes.
    pub fn encode(&self) -> Vec<u8> {
        format!("{BATCH_HEADER}\n{}\n{}\n{}\n{}\n", self.node, self.issued_at, self.size, b64(&self.root)).into_bytes()
    }

    /// Parses the exact form [`Self::encode`] writes; anything else (other lines, a size of 0 or above
    /// [`MAX_BATCH`], a root that is not 32 bytes, trailing bytes) is refused.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_STATEMENT_BYTES {
            return Err(format!("batch statement: longer than {MAX_STATEMENT_BYTES} bytes"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| "batch statement: not UTF-8".to_string())?;
        let body = text.strip_suffix('\n').ok_or("batch statement: must end with a newline")?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [header, node, issued_at, size, root] = lines[..] else {
            return Err(format!("batch statement: {} lines, expected 5", lines.len()));
        };
        if header != BATCH_HEADER {
            return Err(format!("batch statement: first line is not '{BATCH_HEADER}'"));
        }
        if node.len() != 6 || !node.bytes().all(|b| b.is_ascii_digit()) {
            return Err("batch statement: the node is not a six-digit division code".into());
        }
        time::OffsetDateTime::parse(issued_at, &time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("batch statement: time '{issued_at}': {e}"))?;
        let size: u64 = size.parse().map_err(|_| format!("batch statement: size '{size}' is not a number"))?;
        if size == 0 || size > MAX_BATCH as u64 {
            return Err(format!("batch statement: size {size} outside 1..={MAX_BATCH}"));
        }
        let root: crypto::Digest =
            unb64("batch statement root", root)?.try_into().map_err(|_| "batch statement: root is not 32 bytes")?;
        let s = Self { node: node.to_string(), issued_at: issued_at.to_string(), size, root };
        if s.encode() != bytes {
            return Err("batch statement: not in canonical form".into());
        }
        Ok(s)
    }
}

/// A verdict's place under a batch signature: the signed statement, the DER SM2 signature over it, the
/// verdict's position in the batch and the inclusion proof from its leaf hash to the statement's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchProof {
    pub statement: Vec<u8>,
    pub signature: Vec<u8>,
    pub index: u64,
    pub inclusion: Vec<crypto::Digest>,
}

/// One signed batch: the statement, its signature, and the inclusion proof of each verdict in batch order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedBatch {
    pub statement: Vec<u8>,
    pub signature: Vec<u8>,
    pub proofs: Vec<Vec<crypto::Digest>>,
}

impl SignedBatch {
    /// The batch proof of the verdict at position `at`, if the batch has one.
    pub fn proof(&self, at: usize) -> Option<BatchProof> {
        Some(BatchProof {
            statement: self.statement.clone(),
            signature: self.signature.clone(),
            index: at as u64,
            inclusion: self.proofs.get(at)?.clone(),
        })
    }
}

/// Signs one batch, given the leaf hashes of its verdicts (1..=[`MAX_BATCH`], in batch order).
pub fn sign_batch(node: &str, issued_at: &str, leaves: &[crypto::Digest], key: &SigningKey) -> SignedBatch {
    let mut tree = merkle::MemoryTree::new();
    for l in leaves {
        tree.push_hash(*l);
    }
    let size = tree.size();
    let statement =
        BatchStatement { node: node.to_string(), issued_at: issued_at.to_string(), size, root: tree.root() }.encode();
    let signature = key.sign(&statement);
    let proofs = (0..size).map(|i| merkle::inclusion_proof(&tree, i, size).unwrap_or_default()).collect();
    SignedBatch { statement, signature, proofs }
}

/// Checks a verdict offline against the answering node's key: the statement is signed by that key, names the
/// node the verdict names, and the verdict's leaf hash sits at `proof.index` under the statement's root. Returns
/// the parsed verdict. (Each hit is then checked with [`verify_hit`] against its origin's key.)
pub fn verify_verdict(verdict: &[u8], proof: &BatchProof, node_key: &PublicKey) -> Result<Verdict, String> {
    node_key.verify(&proof.statement, &proof.signature).map_err(|e| format!("batch signature: {e}"))?;
    let st = BatchStatement::parse(&proof.statement)?;
    let v = Verdict::parse(verdict)?;
    if v.node != st.node {
        return Err(format!("the verdict is of node {}, the signed batch of node {}", v.node, st.node));
    }
    merkle::verify_inclusion(&Verdict::leaf_of(verdict), proof.index, st.size, &proof.inclusion, &st.root)
        .map_err(|e| format!("the verdict is not in the signed batch: {e}"))?;
    Ok(v)
}

impl Verdict {
    /// The exact verdict bytes (what the batch root covers, through their leaf hash).
    pub fn signed_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The verdict's Merkle leaf hash, SM3(0x00 ‖ bytes).
    pub fn leaf_of(bytes: &[u8]) -> crypto::Digest {
        merkle::leaf_hash(bytes)
    }

    /// Parses signed bytes (known format only).
    pub fn parse(bytes: &[u8]) -> Result<Verdict, String> {
        let v: Verdict = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        crate::format::check("verdict", v.format).map_err(|e| e.to_string())?;
        Ok(v)
    }

    /// The verdict's identifier: hex of its leaf hash ([`Verdict::leaf_of`]).
    pub fn id_of(bytes: &[u8]) -> String {
        hex::encode(Self::leaf_of(bytes))
    }
}

/// What a business system did with a verdict (反馈), appended to the answering node's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    #[serde(default = "crate::format::v1", skip_serializing_if = "crate::format::is_v1")]
    pub format: u32,
    /// The verdict's identifier.
    pub verdict: String,
    pub action: FeedbackAction,
    pub note: String,
    /// Who reported it (the business system's certificate name, or `operator`).
    pub reporter: String,
    /// From the verdict, so reports need not keep verdicts: the measure, decision and hits (`origin/index`).
    pub measure: String,
    pub decision: Decision,
    pub hits: Vec<String>,
    pub reported_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FeedbackAction {
    #[serde(rename = "已限制")]
    Restricted,
    #[serde(rename = "未限制")]
    NotRestricted,
}

impl std::str::FromStr for FeedbackAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "已限制" => Ok(FeedbackAction::Restricted),
            "未限制" => Ok(FeedbackAction::NotRestricted),
            o => Err(format!("'{o}' 应为 已限制 或 未限制 (action must be 已限制 or 未限制)")),
        }
    }
}

impl FeedbackAction {
    pub fn as_str(&self) -> &'static str {
        match self {
            FeedbackAction::Restricted => "已限制",
            FeedbackAction::NotRestricted => "未限制",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::record::{Amendment, AmendmentAction, ListEntry, ListType, RecordRef, Subject, SubjectCategory};
    use crate::state::EntryId;

    fn day(s: &str) -> Day {
        crate::date::parse(s).unwrap()
    }

    fn list(list_type: ListType, doc: &str, measures: &[&str]) -> Record {
        Record::ListEntry(ListEntry {
            subject: Subject {
                name: "某某建设有限公司".into(),
                category: SubjectCategory::Organization,
                uscc: Some("91430102MA4L0XXXXX".into()),
                reg_no: None,
                org_code: None,
                tax_no: None,
                institution_no: None,
                social_org_no: None,
                legal_rep: None,
                legal_rep_id_type: None,
                legal_rep_id_no: None,
                id_type: None,
                id_no: None,
            },
            list_type,
            reason: "r".into(),
            basis: "认定依据".into(),
            decision_doc_no: doc.into(),
            start: day("2026-01-10"),
            end: day("2027-01-09"),
            authority: "a".into(),
            authority_uscc: "11430000006000000X".into(),
            measures: measures.iter().map(|s| s.to_string()).collect(),
            catalogue_version: None,
        })
    }

    #[test]
    fn decisions() {
        let cat = Catalogue::embedded().unwrap();
        let d = day("2026-06-01");
        let black = RecordState::new(EntryId::new("430102", 1), list(ListType::SeriousDishonesty, "1", &[]));
        let red = RecordState::new(EntryId::new("430102", 2), list(ListType::RedList, "2", &[]));
        let own = RecordState::new(EntryId::new("430102", 3), list(ListType::AbnormalOperation, "3", &["发行债券"]));

        let (dec, hits) = evaluate(std::slice::from_ref(&black), "政府采购", d, &cat).unwrap();
        assert_eq!(dec, Decision::Restrict);
        assert_eq!(hits.len(), 1);
        let (dec, _) = evaluate(std::slice::from_ref(&black), "政府采购", day("2027-01-10"), &cat).unwrap();
        assert_eq!(dec, Decision::None, "expired at its end date");
        let (dec, _) = evaluate(std::slice::from_ref(&red), "绿色通道", d, &cat).unwrap();
        assert_eq!(dec, Decision::Incentive);
        let (dec, _) = evaluate(&[black.clone(), red.clone()], "优先支持", d, &cat).unwrap();
        assert_eq!(dec, Decision::Incentive, "a blacklist entry does not trigger an incentive measure");
        // An entry's own measures replace the catalogue's mapping for its type.
        let (dec, hits) = evaluate(std::slice::from_ref(&own), "发行债券", d, &cat).unwrap();
        assert_eq!(dec, Decision::Restrict);
        assert!(hits[0].1.starts_with("认定依据"));
        let (dec, _) = evaluate(std::slice::from_ref(&own), "政府采购", d, &cat).unwrap();
        assert_eq!(dec, Decision::None);
        // Removal ends it.
        let mut removed = black.clone();
        removed.apply(
            EntryId::new("430102", 9),
            &Amendment {
                target: RecordRef { origin: "430102".into(), index: Some(1), natural_key: black.current.natural_key() },
                action: AmendmentAction::RemoveFromList,
                reason: "r".into(),
                doc_no: "x".into(),
                effective_date: day("2026-05-01"),
                authority: "a".into(),
                authority_uscc: "b".into(),
                corrected: None,
            },
        );
        assert_eq!(evaluate(std::slice::from_ref(&removed), "政府采购", d, &cat).unwrap().0, Decision::None);
        assert!(matches!(evaluate(&[], "不存在的措施", d, &cat), Err(CheckError::UnknownMeasure { .. })));
    }

    #[test]
    fn a_hit_verifies_offline_and_tampering_fails() {
        let key = SigningKey::generate();
        let record = list(ListType::SeriousDishonesty, "1", &[]);
        let payload = record.to_payload_json();
        let mut leaves = Vec::new();
        for i in 0..5u64 {
            let h = LeafHeader {
                origin: "430102".into(),
                index: i,
                kind: "list_entry".into(),
                share: crate::record::ShareType::Unconditional,
                disclosure: crate::record::Disclosure::Public,
                recorded_at: "2026-01-10T00:00:00Z".into(),
                decided_on: "2026-01-10".into(),
                natural_key: crypto::sm3(record.natural_key().as_bytes()),
                payload_digest: crypto::sm3(&payload),
            };
            leaves.push(h.encode());
        }
        let tree = merkle::MemoryTree::from_leaves(&leaves);
        let cp = SignedCheckpoint::sign(&Checkpoint::new("430102", 5, tree.root(), "2026-01-10T00:00:00Z"), &key);
        let proof = merkle::inclusion_proof(&tree, 3, 5).unwrap();
        let state = RecordState::new(EntryId::new("430102", 3), record);
        let hp = HitProof::new(&leaves[3], &key.sign(&leaves[3]), &payload, &cp, &proof);
        let h = hit(&state, "政府采购", "basis".into(), hp).unwrap();
        verify_hit(&h, &key.public_key()).unwrap();
        assert!(verify_hit(&h, &SigningKey::generate().public_key()).is_err(), "another key");
        let mut moved = h.clone();
        moved.index = 2;
        assert!(verify_hit(&moved, &key.public_key()).is_err(), "another index");
        let mut other = h.clone();
        other.list_type = "守信红名单".into();
        assert!(verify_hit(&other, &key.public_key()).is_err(), "another list type");
        let mut bad_proof = h.clone();
        bad_proof.proof.inclusion[0] = hex::encode([0u8; 32]);
        assert!(verify_hit(&bad_proof, &key.public_key()).is_err(), "a wrong proof hash");
    }

    #[test]
    fn verdict_bytes_round_trip() {
        let v = verdict_for("91430102MA4L0XXXXX");
        let key = SigningKey::generate();
        let bytes = v.signed_bytes();
        let proof = sign_batch("430102", "2026-12-02T00:00:01Z", &[Verdict::leaf_of(&bytes)], &key).proof(0).unwrap();
        assert_eq!(verify_verdict(&bytes, &proof, &key.public_key()).unwrap(), v);
        assert_eq!(Verdict::parse(&bytes).unwrap(), v);
        assert_eq!(Verdict::id_of(&bytes).len(), 64);
        // A batch of one: the root is the verdict's own leaf hash.
        assert_eq!(BatchStatement::parse(&proof.statement).unwrap().root, Verdict::leaf_of(&bytes));
    }

    fn verdict_for(subject: &str) -> Verdict {
        Verdict {
            format: 1,
            node: "430102".into(),
            issued_at: "2026-12-02T00:00:00Z".into(),
            subject: subject.into(),
            measure: "政府采购".into(),
            date: day("2026-12-02"),
            decision: Decision::None,
            hits: vec![],
            basis: Basis::default(),
            notes: vec![],
        }
    }

    #[test]
    fn every_verdict_of_a_batch_verifies_and_nothing_else_does() {
        let key = SigningKey::generate();
        let bytes: Vec<Vec<u8>> =
            (0..7).map(|i| verdict_for(&format!("91430102MA4L0XXX{i:02}")).signed_bytes()).collect();
        let leaves: Vec<_> = bytes.iter().map(|b| Verdict::leaf_of(b)).collect();
        let batch = sign_batch("430102", "2026-12-02T00:00:01Z", &leaves, &key);
        assert_eq!(batch.proofs.len(), 7);
        assert!(batch.proof(7).is_none());
        let statement = batch.statement.clone();
        let proof = |i: usize| batch.proof(i).unwrap();
        for (i, b) in bytes.iter().enumerate() {
            verify_verdict(b, &proof(i), &key.public_key()).unwrap();
        }
        // Another position, another key, a changed verdict, a changed statement, another node's verdict.
        assert!(verify_verdict(&bytes[1], &proof(2), &key.public_key()).is_err());
        assert!(verify_verdict(&bytes[1], &proof(1), &SigningKey::generate().public_key()).is_err());
        let mut changed = bytes[3].clone();
        let at = changed.iter().position(|b| *b == b'X').unwrap();
        changed[at] = b'Y';
        assert!(verify_verdict(&changed, &proof(3), &key.public_key()).is_err());
        let mut p = proof(0);
        p.statement = BatchStatement::parse(&statement)
            .map(|mut s| {
                s.size = 8;
                s.encode()
            })
            .unwrap();
        assert!(verify_verdict(&bytes[0], &p, &key.public_key()).is_err(), "statement no longer signed");
        let mut other = verdict_for("91430102MA4L0XXX00");
        other.node = "430103".into();
        let ob = other.signed_bytes();
        let single = sign_batch("430102", "2026-12-02T00:00:01Z", &[Verdict::leaf_of(&ob)], &key);
        let err = verify_verdict(&ob, &single.proof(0).unwrap(), &key.public_key()).unwrap_err();
        assert!(err.contains("430103"), "{err}");
    }

    #[test]
    fn batch_statements_parse_only_in_their_exact_form() {
        let good = BatchStatement {
            node: "430102".into(),
            issued_at: "2026-12-02T00:00:01Z".into(),
            size: 3,
            root: [7u8; 32],
        };
        assert_eq!(BatchStatement::parse(&good.encode()).unwrap(), good);
        let text = String::from_utf8(good.encode()).unwrap();
        for bad in [
            text.replace("batch v1", "batch v2"),
            text.replace("430102", "43010"),
            text.replace("\n3\n", "\n0\n"),
            text.replace("\n3\n", "\n257\n"),
            text.replace("\n3\n", "\n03\n"),
            text.replace("2026-12-02T00:00:01Z", "zzzz"),
            text.trim_end().to_string(),
            format!("{text}extra\n"),
            text.replace(&b64(&[7u8; 32]), &b64(&[7u8; 31])),
        ] {
            assert!(BatchStatement::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(BatchStatement::parse(&vec![b'a'; 10_000]).is_err());
    }
}
