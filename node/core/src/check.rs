//! The joint-punishment check (联合惩戒 "触发-反馈"): given the list entries held about a subject (as folded
//! [`RecordState`]s), the measure asked about and a day, decide `restrict`, `incentive` or `none`, and build the
//! signed verdict. A verdict carries each hit's signed leaf, payload, origin-signed checkpoint and inclusion
//! proof, so a caller can check every hit offline with the origin's key ([`verify_hit`]).
//!
//! *Invariant:* a verdict's signed bytes are [`Verdict::signed_bytes`] alone (compact JSON); its identifier is
//! the hex SM3 of those bytes, so feedback names exactly one answer.

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

impl Verdict {
    /// The exact bytes the answering node signs.
    pub fn signed_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses signed bytes (known format only).
    pub fn parse(bytes: &[u8]) -> Result<Verdict, String> {
        let v: Verdict = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        crate::format::check("verdict", v.format).map_err(|e| e.to_string())?;
        Ok(v)
    }

    /// The verdict's identifier: hex SM3 of its signed bytes.
    pub fn id_of(bytes: &[u8]) -> String {
        hex::encode(crypto::sm3(bytes))
    }

    /// Signs the verdict: `(bytes, DER signature)`.
    pub fn sign(&self, key: &SigningKey) -> (Vec<u8>, Vec<u8>) {
        let bytes = self.signed_bytes();
        let sig = key.sign(&bytes);
        (bytes, sig)
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
        let v = Verdict {
            format: 1,
            node: "430102".into(),
            issued_at: "2026-12-02T00:00:00Z".into(),
            subject: "91430102MA4L0XXXXX".into(),
            measure: "政府采购".into(),
            date: day("2026-12-02"),
            decision: Decision::None,
            hits: vec![],
            basis: Basis::default(),
            notes: vec![],
        };
        let key = SigningKey::generate();
        let (bytes, sig) = v.sign(&key);
        key.public_key().verify(&bytes, &sig).unwrap();
        assert_eq!(Verdict::parse(&bytes).unwrap(), v);
        assert_eq!(Verdict::id_of(&bytes).len(), 64);
    }
}
