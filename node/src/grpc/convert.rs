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
