//! Protobuf ⇄ application values, one module per service. Nothing else in the node sees a protobuf type beyond
//! the service handlers, and every conversion from the wire that can fail says which field and why
//! ([`ConvertError`], mapped to `INVALID_ARGUMENT`).

use tonic::Status;

/// A wire message that does not convert: the field (a path such as `entries[3].payload_ext`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConvertError {
    pub field: String,
    pub reason: String,
}

impl ConvertError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConvertError { field: field.into(), reason: reason.into() }
    }
}

impl From<ConvertError> for Status {
    fn from(e: ConvertError) -> Status {
        Status::invalid_argument(e.to_string())
    }
}

/// `gongxin.sync.v1`.
pub mod sync {
    use super::ConvertError;
    use crate::app::mirror::{Cosignature, WireEntry};
    use crate::store::log::{MAX_EXT_LEN, MAX_LEAF_LEN, MAX_PAYLOAD_LEN, MAX_SIGNATURE_LEN};
    use gongxin_core::checkpoint::SignedCheckpoint;
    use gongxin_proto::sync::v1 as pb;

    /// An origin named on the wire: six ASCII digits, checked before anything else reads, logs or stores it
    /// (a peer's string never reaches a log line or an error message raw; the refusal shows at most 16 escaped
    /// characters of it).
    pub fn origin(field: &str, s: &str) -> Result<String, ConvertError> {
        if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(s.to_string());
        }
        let shown: String = s.chars().take(16).flat_map(char::escape_default).collect();
        let more = if s.chars().count() > 16 { "…" } else { "" };
        Err(ConvertError::new(field, format!("\"{shown}{more}\" ({} bytes) is not a six-digit division code", s.len())))
    }

    /// One wire entry, checked for the sizes the store accepts (so a bad batch is refused before any work).
    pub fn entry(at: usize, e: pb::Entry) -> Result<WireEntry, ConvertError> {
        let field = |f: &str| format!("entries[{at}].{f}");
        let too_long =
            |f: &str, len: usize, max: usize| ConvertError::new(field(f), format!("{len} bytes, at most {max}"));
        if e.leaf.len() > MAX_LEAF_LEN {
            return Err(too_long("leaf", e.leaf.len(), MAX_LEAF_LEN));
        }
        if e.signature.len() > MAX_SIGNATURE_LEN {
            return Err(too_long("signature", e.signature.len(), MAX_SIGNATURE_LEN));
        }
        if e.payload.len() > MAX_PAYLOAD_LEN {
            return Err(too_long("payload", e.payload.len(), MAX_PAYLOAD_LEN));
        }
        if e.payload_ext.len() > MAX_EXT_LEN {
            return Err(too_long("payload_ext", e.payload_ext.len(), MAX_EXT_LEN));
        }
        if e.payload_ext.is_empty() && !e.payload.is_empty() {
            return Err(ConvertError::new(field("payload_ext"), "empty while a payload is present"));
        }
        let payload = (!e.payload_ext.is_empty()).then_some((e.payload, e.payload_ext));
        Ok(WireEntry { index: e.index, leaf: e.leaf, signature: e.signature, payload })
    }

    pub fn entries(es: Vec<pb::Entry>) -> Result<Vec<WireEntry>, ConvertError> {
        es.into_iter().enumerate().map(|(i, e)| entry(i, e)).collect()
    }

    pub fn entry_to_pb(e: WireEntry) -> pb::Entry {
        let (payload, payload_ext) = e.payload.unwrap_or_default();
        pb::Entry { index: e.index, leaf: e.leaf, signature: e.signature, payload, payload_ext }
    }

    /// The required checkpoint of a batch.
    pub fn checkpoint(n: Option<pb::SignedNote>) -> Result<SignedCheckpoint, ConvertError> {
        let n = n.ok_or_else(|| ConvertError::new("checkpoint", "missing"))?;
        Ok(SignedCheckpoint { note: n.note, signature: n.signature })
    }

    pub fn checkpoint_to_pb(c: SignedCheckpoint) -> pb::SignedNote {
        pb::SignedNote { note: c.note, signature: c.signature }
    }

    pub fn cosignature(c: Option<pb::Cosignature>) -> Result<Cosignature, ConvertError> {
        let c = c.ok_or_else(|| ConvertError::new("cosignature", "missing"))?;
        Ok(Cosignature { cosigner: c.cosigner, time: c.time, signature: c.signature })
    }

    pub fn cosignature_to_pb(c: Cosignature) -> pb::Cosignature {
        pb::Cosignature { cosigner: c.cosigner, time: c.time, signature: c.signature }
    }
}

/// `gongxin.sync.v1` list feed.
pub mod feed {
    use super::ConvertError;
    use crate::app::feed::{FeedBatch, FeedItem, FeedWire, MAX_ITEMS, MAX_PART, MAX_PROOF};
    use gongxin_core::checkpoint::SignedCheckpoint;
    use gongxin_proto::sync::v1 as pb;
    use std::collections::BTreeMap;

    /// Most cursors a request or reply may carry (one per registered node is far below).
    pub const MAX_CURSORS: usize = 4096;

    pub fn cursors(v: Vec<pb::ListCursor>) -> Result<BTreeMap<String, u64>, ConvertError> {
        if v.len() > MAX_CURSORS {
            return Err(ConvertError::new("cursors", format!("{} cursors; at most {MAX_CURSORS}", v.len())));
        }
        let mut out = BTreeMap::new();
        for (i, c) in v.into_iter().enumerate() {
            let origin = super::sync::origin(&format!("cursors[{i}].origin"), &c.origin)?;
            out.insert(origin, c.covered);
        }
        Ok(out)
    }

    pub fn cursors_to_pb(m: &BTreeMap<String, u64>) -> Vec<pb::ListCursor> {
        m.iter().map(|(o, c)| pb::ListCursor { origin: o.clone(), covered: *c }).collect()
    }

    pub fn batch_to_pb(b: FeedBatch) -> pb::PullListsReply {
        pb::PullListsReply {
            covered: cursors_to_pb(&b.covered),
            more: b.more,
            items: b
                .items
                .into_iter()
                .map(|w| pb::ListItem {
                    origin: w.origin,
                    index: w.index,
                    leaf: w.item.leaf,
                    signature: w.item.signature,
                    payload: w.item.payload,
                    checkpoint: Some(pb::SignedNote {
                        note: w.item.checkpoint.note,
                        signature: w.item.checkpoint.signature,
                    }),
                    inclusion: w.item.inclusion.iter().map(|h| h.to_vec()).collect(),
                })
                .collect(),
        }
    }

    /// A reply from the parent, checked for shape and sizes before any verification.
    pub fn batch(r: pb::PullListsReply) -> Result<FeedBatch, ConvertError> {
        if r.items.len() > MAX_ITEMS {
            return Err(ConvertError::new("items", format!("{} items; at most {MAX_ITEMS}", r.items.len())));
        }
        let mut items = Vec::with_capacity(r.items.len());
        for (i, it) in r.items.into_iter().enumerate() {
            let f = |x: &str| format!("items[{i}].{x}");
            let origin = super::sync::origin(&f("origin"), &it.origin)?;
            for (name, len) in
                [("leaf", it.leaf.len()), ("signature", it.signature.len()), ("payload", it.payload.len())]
            {
                if len > MAX_PART {
                    return Err(ConvertError::new(f(name), format!("{len} bytes; at most {MAX_PART}")));
                }
            }
            let cp = it.checkpoint.ok_or_else(|| ConvertError::new(f("checkpoint"), "missing"))?;
            if cp.note.len() > MAX_PART || cp.signature.len() > MAX_PART {
                return Err(ConvertError::new(f("checkpoint"), "too long"));
            }
            if it.inclusion.len() > MAX_PROOF {
                return Err(ConvertError::new(
                    f("inclusion"),
                    format!("{} hashes; at most {MAX_PROOF}", it.inclusion.len()),
                ));
            }
            let mut inclusion = Vec::with_capacity(it.inclusion.len());
            for (j, h) in it.inclusion.into_iter().enumerate() {
                let d: [u8; 32] = h
                    .try_into()
                    .map_err(|_| ConvertError::new(format!("items[{i}].inclusion[{j}]"), "not 32 bytes"))?;
                inclusion.push(d);
            }
            items.push(FeedWire {
                origin,
                index: it.index,
                item: FeedItem {
                    leaf: it.leaf,
                    signature: it.signature,
                    payload: it.payload,
                    checkpoint: SignedCheckpoint { note: cp.note, signature: cp.signature },
                    inclusion,
                },
            });
        }
        Ok(FeedBatch { items, covered: cursors(r.covered)?, more: r.more })
    }
}

/// `gongxin.admin.v1`.
pub mod admin {
    use super::ConvertError;
    use crate::app::export::OriginExport;
    use crate::app::ledger::{ImportOutcome, ImportRow};
    use crate::store::log::StoredEntry;
    use gongxin_core::checkpoint::SignedCheckpoint;
    use gongxin_core::record::ShareType;
    use gongxin_core::template::RowError;
    use gongxin_proto::admin::v1 as pb;
    use std::collections::BTreeMap;

    /// An optional sharing class (`share_type`; empty = the record's default).
    pub fn share(s: &str) -> Result<Option<ShareType>, ConvertError> {
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<ShareType>().map(Some).map_err(|e| ConvertError::new("share_type", e.to_string()))
    }

    pub fn rows(rows: Vec<pb::ImportRow>) -> Vec<ImportRow> {
        rows.into_iter()
            .map(|r| ImportRow {
                row: r.row,
                fields: r.fields.into_iter().collect::<BTreeMap<_, _>>(),
                notes: r.notes.into_iter().collect(),
            })
            .collect()
    }

    /// A record with its state, for `gongxin query`.
    pub fn query_record(h: crate::app::credit::StateHit, today: gongxin_core::date::Day) -> pb::QueryRecord {
        let st = &h.state;
        pb::QueryRecord {
            origin: st.id.origin.clone(),
            index: st.id.index,
            kind: h.kind.clone(),
            body_json: String::from_utf8(st.current.to_payload_json()).unwrap_or_default(),
            state_json: serde_json::to_string(st).unwrap_or_default(),
            status: st.status_on(today).to_string(),
        }
    }

    /// `gongxin query`'s request.
    pub fn search(r: pb::QueryRequest) -> Result<crate::app::query::Search, ConvertError> {
        let opt = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let day = |field: &'static str, s: &str| -> Result<Option<gongxin_core::date::Day>, ConvertError> {
            if s.trim().is_empty() {
                return Ok(None);
            }
            gongxin_core::date::parse(s).map(Some).map_err(|e| ConvertError::new(field, e.to_string()))
        };
        for (field, v) in [("uscc", &r.uscc), ("name", &r.name), ("kind", &r.kind), ("status", &r.status)] {
            if v.len() > 256 {
                return Err(ConvertError::new(field, "超过 256 字节 (too long)"));
            }
        }
        let origin = match opt(r.origin) {
            None => None,
            Some(o) => Some(super::sync::origin("origin", &o)?),
        };
        Ok(crate::app::query::Search {
            from: day("from", &r.from)?,
            to: day("to", &r.to)?,
            code: opt(r.uscc),
            name: opt(r.name),
            kind: opt(r.kind),
            origin,
            status: opt(r.status),
            public: r.public,
            offset: r.offset as usize,
            limit: if r.limit == 0 { 50 } else { r.limit as usize },
        })
    }

    /// `gongxin amend`'s request.
    pub fn amend_spec(
        r: pb::AmendRequest,
        today: gongxin_core::date::Day,
    ) -> Result<crate::app::credit::AmendSpec, ConvertError> {
        use gongxin_core::record::{AmendmentAction, Record};
        let origin = super::sync::origin("target_origin", &r.target_origin)?;
        let action: AmendmentAction = r.action.parse().map_err(|e: String| ConvertError::new("action", e))?;
        let non_empty = |field: &'static str, v: String| {
            if v.trim().is_empty() {
                Err(ConvertError::new(field, "不能为空 (required)"))
            } else if v.chars().count() > 2000 {
                Err(ConvertError::new(field, "过长 (too long)"))
            } else {
                Ok(v.trim().to_string())
            }
        };
        let effective = if r.effective.trim().is_empty() {
            today
        } else {
            gongxin_core::date::parse(&r.effective).map_err(|e| ConvertError::new("effective", e.to_string()))?
        };
        let corrected = if r.corrected_json.trim().is_empty() {
            None
        } else {
            Some(
                serde_json::from_str::<Record>(&r.corrected_json)
                    .map_err(|e| ConvertError::new("corrected_json", e.to_string()))?,
            )
        };
        let authority = match (r.authority.trim().is_empty(), r.authority_uscc.trim().is_empty()) {
            (true, true) => None,
            (false, false) => {
                gongxin_core::uscc::validate(r.authority_uscc.trim())
                    .map_err(|e| ConvertError::new("authority_uscc", e.to_string()))?;
                Some((r.authority.trim().to_string(), r.authority_uscc.trim().to_string()))
            }
            _ => return Err(ConvertError::new("authority", "须同时给出 --authority 与 --authority-uscc (give both)")),
        };
        Ok(crate::app::credit::AmendSpec {
            target: gongxin_core::state::EntryId::new(&origin, r.target_index),
            action,
            doc_no: non_empty("doc_no", r.doc_no)?,
            reason: non_empty("reason", r.reason)?,
            effective,
            authority,
            corrected,
        })
    }

    pub fn import_reply(out: ImportOutcome) -> pb::ImportReply {
        let row_errors = |v: Vec<RowError>| -> Vec<pb::RowError> {
            v.into_iter().map(|e| pb::RowError { row: e.row, field: e.field, reason: e.reason }).collect()
        };
        pb::ImportReply {
            accepted: out.accepted,
            duplicates: out.duplicates,
            errors: row_errors(out.errors),
            skipped: row_errors(out.skipped),
            changed: row_errors(out.changed),
            warnings: row_errors(out.warnings),
            size: out.size,
            root: out.root.to_vec(),
        }
    }

    pub fn entry_to_pb(e: StoredEntry) -> pb::Entry {
        let (payload, payload_ext) = e.payload.unwrap_or_default();
        pb::Entry { index: e.index, leaf: e.leaf, signature: e.signature, payload, payload_ext }
    }

    pub fn checkpoint_to_pb(c: SignedCheckpoint) -> pb::SignedCheckpoint {
        pb::SignedCheckpoint {
            size: c.parse().map(|p| p.size).unwrap_or_default(),
            note: c.note,
            signature: c.signature,
        }
    }

    pub fn export_head_to_pb(h: OriginExport) -> pb::ExportOriginItem {
        let mut item = pb::ExportOriginItem {
            size: h.size,
            checkpoints: h
                .checkpoints
                .into_iter()
                .map(|(size, c)| pb::SignedCheckpoint { size, note: c.note, signature: c.signature })
                .collect(),
            ..Default::default()
        };
        if let Some((old, new, hashes)) = h.consistency {
            item.consistency_proof = hashes.iter().map(|d| d.to_vec()).collect();
            item.proof_old_size = old;
            item.proof_new_size = new;
        }
        if let Some(m) = h.audit_mark_json {
            item.audit_mark_json = String::from_utf8_lossy(&m).into_owned();
        }
        item
    }
}

/// `gongxin.audit.v1`.
pub mod audit {
    use crate::app::export::Proof;
    use gongxin_core::checkpoint::SignedCheckpoint;
    use gongxin_proto::audit::v1 as pb;

    pub fn proof_to_pb(p: Proof) -> pb::ProofReply {
        let (leaf, leaf_signature) = p.leaf.unwrap_or_default();
        pb::ProofReply {
            hashes: p.hashes.iter().map(|h| h.to_vec()).collect(),
            leaf,
            leaf_signature,
            root: p.root.to_vec(),
        }
    }

    pub fn checkpoint_to_pb(c: SignedCheckpoint) -> pb::SignedNote {
        pb::SignedNote { note: c.note, signature: c.signature }
    }
}

#[cfg(test)]
mod tests {
    use gongxin_proto::sync::v1 as pb;

    #[test]
    fn wire_entries_that_do_not_convert_name_the_field() {
        let ok = pb::Entry { index: 0, leaf: b"l".to_vec(), signature: b"s".to_vec(), ..Default::default() };
        assert!(super::sync::entries(vec![ok.clone()]).is_ok());
        let mut big = ok.clone();
        big.leaf = vec![0; crate::store::log::MAX_LEAF_LEN + 1];
        let e = super::sync::entries(vec![ok.clone(), big]).unwrap_err();
        assert_eq!(e.field, "entries[1].leaf");
        let mut orphan = ok.clone();
        orphan.payload = b"{}".to_vec();
        assert_eq!(super::sync::entries(vec![orphan]).unwrap_err().field, "entries[0].payload_ext");
        assert_eq!(super::sync::checkpoint(None).unwrap_err().field, "checkpoint");
        assert_eq!(super::sync::origin("origin", "430102").unwrap(), "430102");
        let e = super::sync::origin("origin", "4301\n\x1b[31mFORGED LOG LINE 4301024301024301024301").unwrap_err();
        assert!(!e.reason.contains('\n') && !e.reason.contains('\x1b') && e.reason.len() < 120, "{e}");
        let s: tonic::Status = super::sync::checkpoint(None).unwrap_err().into();
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
    }
}

/// `gongxin.check.v1`.
pub mod check {
    use super::ConvertError;
    use crate::app::check::{normalise_subject, CheckQuery, SignedVerdict};
    use gongxin_core::check::{BatchProof, FeedbackAction, MAX_BATCH};
    use gongxin_core::date::Day;
    use gongxin_proto::check::v1 as pb;

    /// Longest subject code or measure accepted.
    const MAX_FIELD: usize = 128;
    /// Most hashes in a batch inclusion proof: the depth of a full batch.
    pub const MAX_BATCH_PROOF: usize = MAX_BATCH.ilog2() as usize;

    fn day(field: &'static str, s: &str) -> Result<Option<Day>, ConvertError> {
        if s.trim().is_empty() {
            return Ok(None);
        }
        gongxin_core::date::parse(s).map(Some).map_err(|e| ConvertError::new(field, e.to_string()))
    }

    pub fn query(r: pb::CheckRequest) -> Result<CheckQuery, ConvertError> {
        let subject = match (r.uscc.trim().is_empty(), r.id_no.trim().is_empty()) {
            (false, true) => r.uscc,
            (true, false) => {
                if !r.id_type.trim().is_empty() {
                    r.id_type.parse::<gongxin_core::record::IdType>().map_err(|e| ConvertError::new("id_type", e))?;
                }
                r.id_no
            }
            (false, false) => {
                return Err(ConvertError::new("uscc", "只能给出 uscc 或 id_no 之一 (give uscc or id_no, not both)"))
            }
            (true, true) => return Err(ConvertError::new("uscc", "须给出 uscc 或 id_no (give uscc or id_no)")),
        };
        if subject.len() > MAX_FIELD || r.measure.len() > MAX_FIELD {
            return Err(ConvertError::new("uscc", format!("超过 {MAX_FIELD} 字节 (too long)")));
        }
        if r.measure.trim().is_empty() {
            return Err(ConvertError::new("measure", "须给出措施，如 政府采购 (measure required)"));
        }
        Ok(CheckQuery {
            subject: normalise_subject(&subject),
            measure: r.measure.trim().to_string(),
            day: day("as_of", &r.as_of)?,
        })
    }

    pub fn reply(v: SignedVerdict, key_pem: String) -> pb::CheckReply {
        pb::CheckReply {
            verdict: v.bytes,
            signature: v.batch.signature,
            signer: v.signer,
            verdict_id: v.id,
            signer_key_pem: key_pem,
            batch: v.batch.statement,
            batch_index: v.batch.index,
            batch_proof: v.batch.inclusion.iter().map(|d| d.to_vec()).collect(),
        }
    }

    /// The batch proof of a verdict given back with feedback (`None` when no verdict bytes are given). Sizes are
    /// bounded before anything is parsed: at most [`MAX_BATCH_PROOF`] hashes of 32 bytes.
    pub fn batch_proof(r: &pb::FeedbackRequest) -> Result<Option<BatchProof>, ConvertError> {
        if r.verdict.is_empty() {
            return Ok(None);
        }
        if r.batch.is_empty() {
            return Err(ConvertError::new(
                "batch",
                "附上结论原文时须同时附上签名批次 batch、batch_index 与 batch_proof (verdict given without its batch proof)",
            ));
        }
        if r.batch_proof.len() > MAX_BATCH_PROOF {
            return Err(ConvertError::new(
                "batch_proof",
                format!("最多 {MAX_BATCH_PROOF} 个哈希 (at most {MAX_BATCH_PROOF} hashes)"),
            ));
        }
        let inclusion = r
            .batch_proof
            .iter()
            .enumerate()
            .map(|(i, h)| {
                h.as_slice().try_into().map_err(|_| {
                    ConvertError::new(
                        "batch_proof",
                        format!("第 {} 个哈希不是 32 字节 (hash {i} is not 32 bytes)", i + 1),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(BatchProof {
            statement: r.batch.clone(),
            signature: r.signature.clone(),
            index: r.batch_index,
            inclusion,
        }))
    }

    pub fn action(s: &str) -> Result<FeedbackAction, ConvertError> {
        s.parse().map_err(|e: String| ConvertError::new("action", e))
    }

    pub fn since(s: &str) -> Result<Option<Day>, ConvertError> {
        day("since", s)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn with(f: impl FnOnce(&mut pb::FeedbackRequest)) -> pb::FeedbackRequest {
            let mut r = pb::FeedbackRequest {
                verdict: b"{}".to_vec(),
                batch: b"statement".to_vec(),
                batch_proof: vec![vec![7u8; 32]; 3],
                ..Default::default()
            };
            f(&mut r);
            r
        }

        /// A feedback's batch proof is bounded and shaped before anything parses it.
        #[test]
        fn batch_proofs_are_bounded_before_use() {
            assert_eq!(batch_proof(&with(|r| r.verdict.clear())).unwrap(), None);
            assert_eq!(batch_proof(&with(|_| ())).unwrap().unwrap().inclusion.len(), 3);
            let refused = |r: pb::FeedbackRequest| batch_proof(&r).unwrap_err().to_string();
            assert!(refused(with(|r| r.batch.clear())).contains("batch"));
            let long = with(|r| r.batch_proof = vec![vec![0u8; 32]; MAX_BATCH_PROOF + 1]);
            assert!(refused(long).contains(&format!("at most {MAX_BATCH_PROOF} hashes")));
            assert!(refused(with(|r| r.batch_proof[1].push(0))).contains("hash 1 is not 32 bytes"));
        }
    }
}
