//! The local admin API (`gongxin.admin.v1.Admin`), served on `DATA_DIR/admin.sock`.
//!
//! Authentication is the file system: the data dir is 0700 and the socket 0600, so only the account that runs
//! the node (and root) can connect. See ARCHITECTURE.md.

use gongxin_core::record::ShareType;
use gongxin_core::registry::Change;
use crate::federation::Federation;
use crate::ledger::{Ledger, LedgerError};
use gongxin_proto::admin::v1 as pb;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Largest import chunk the node accepts in one call (rows).
pub const MAX_IMPORT_ROWS: usize = 5_000;
/// Decode limit for admin messages.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

pub struct AdminService {
    ledger: Arc<Ledger>,
    fed: Option<Arc<Federation>>,
    staged_path: PathBuf,
    parent: Option<(String, String)>,
}

/// File (in the data dir) holding registry changes staged on the province until applied.
pub const STAGED_FILE: &str = "registry-staged.json";

impl AdminService {
    pub fn new(ledger: Arc<Ledger>) -> Self {
        Self { ledger, fed: None, staged_path: PathBuf::new(), parent: None }
    }

    /// An admin service of a federated node.
    pub fn federated(
        ledger: Arc<Ledger>,
        fed: Arc<Federation>,
        data_dir: &Path,
        parent: Option<(String, String)>,
    ) -> Self {
        Self { ledger, fed: Some(fed), staged_path: data_dir.join(STAGED_FILE), parent }
    }

    fn fed(&self) -> Result<Arc<Federation>, Status> {
        self.fed.clone().ok_or_else(|| {
            Status::failed_precondition("this node runs standalone: add a [federation] section to gongxin.toml")
        })
    }

    fn staged(&self) -> Result<Vec<Change>, Status> {
        match std::fs::read(&self.staged_path) {
            Ok(b) => {
                serde_json::from_slice(&b).map_err(|e| Status::internal(format!("{}: {e}", self.staged_path.display())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(Status::internal(format!("{}: {e}", self.staged_path.display()))),
        }
    }

    fn save_staged(&self, staged: &[Change]) -> Result<(), Status> {
        let tmp = self.staged_path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            std::fs::write(&tmp, serde_json::to_vec_pretty(staged).unwrap_or_default())?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &self.staged_path)
        };
        write().map_err(|e| Status::internal(format!("{}: {e}", self.staged_path.display())))
    }

    fn registry_reply(&self, fed: &Federation) -> Result<pb::RegistryReply, Status> {
        Ok(pb::RegistryReply {
            current_json: String::from_utf8(fed.registry().to_json()).unwrap_or_default(),
            staged_json: serde_json::to_string(&self.staged()?).unwrap_or_default(),
        })
    }

    fn peers_json(&self) -> Result<serde_json::Value, LedgerError> {
        let Some(fed) = &self.fed else {
            return Ok(serde_json::json!({"code": self.ledger.code(), "standalone": true}));
        };
        let log = self.ledger.log();
        let store_err = |e: crate::store::log::LogError| LedgerError::Store(e.to_string());
        let reg = fed.registry();
        let now = time::OffsetDateTime::now_utc();
        let age = |ts: Option<String>| -> Option<i64> {
            let t = time::OffsetDateTime::parse(&ts?, &time::format_description::well_known::Rfc3339).ok()?;
            Some((now - t).whole_seconds().max(0))
        };
        let mut mirrors = Vec::new();
        for (origin, head) in log.origins().map_err(store_err)? {
            let latest = log.latest_checkpoint(&origin).map_err(store_err)?.and_then(|c| c.parse().ok());
            let ts = latest.as_ref().and_then(|c| c.timestamp().map(str::to_string));
            mirrors.push(serde_json::json!({
                "origin": origin, "name": reg.node(&origin).map(|n| n.name.clone()),
                "size": head.size, "latest_checkpoint_at": ts, "age_seconds": age(ts.clone()),
            }));
        }
        let (link, cursors) = fed.uplink.lock().map(|u| u.clone()).unwrap_or_default();
        let parent = self.parent.as_ref().map(|(code, addr)| {
            let origins: Vec<_> = cursors
                .iter()
                .map(|(o, c)| {
                    let held = log.head(o).map(|h| h.size).unwrap_or(0);
                    serde_json::json!({"origin": o, "held": held, "parent_cursor": c, "lag_entries": held.saturating_sub(*c)})
                })
                .collect();
            serde_json::json!({
                "code": code, "addr": addr, "state": link.state, "last_contact": link.last_contact,
                "last_contact_age_seconds": age(link.last_contact.clone()), "last_error": link.last_error, "origins": origins,
            })
        });
        let seen = fed.children.lock().map(|c| c.clone()).unwrap_or_default();
        let children: Vec<_> = reg
            .children(self.ledger.code())
            .map(|n| {
                let s = seen.get(&n.code).cloned().unwrap_or_default();
                serde_json::json!({
                    "code": n.code, "name": n.name, "status": n.status.as_str(),
                    "state": if s.state.is_empty() { "never seen".to_string() } else { s.state },
                    "last_contact": s.last_contact, "last_contact_age_seconds": age(s.last_contact.clone()),
                    "last_error": s.last_error,
                })
            })
            .collect();
        let evidence = fed.evidence().map(|e| e.len()).unwrap_or(0);
        Ok(serde_json::json!({
            "code": self.ledger.code(), "registry_version": reg.version, "parent": parent,
            "children": children, "logs": mirrors, "evidence": evidence,
        }))
    }

    pub fn into_server(self) -> pb::admin_server::AdminServer<Self> {
        pb::admin_server::AdminServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

fn status_of(e: LedgerError) -> Status {
    match e {
        LedgerError::BadRequest(m) => Status::invalid_argument(m),
        other => {
            tracing::error!(error = %other, "admin request failed");
            Status::internal(other.to_string())
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, LedgerError> + Send + 'static) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("worker failed: {e}")))?
        .map_err(status_of)
}

fn parse_share(s: &str) -> Result<Option<ShareType>, Status> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<ShareType>().map(Some).map_err(|e| Status::invalid_argument(format!("share_type: {e}")))
}

fn import_reply(out: crate::ledger::ImportOutcome) -> pb::ImportReply {
    let row_errors = |v: Vec<gongxin_core::template::RowError>| -> Vec<pb::RowError> {
        v.into_iter().map(|e| pb::RowError { row: e.row, field: e.field, reason: e.reason }).collect()
    };
    pb::ImportReply {
        accepted: out.accepted,
        duplicates: out.duplicates,
        errors: row_errors(out.errors),
        skipped: row_errors(out.skipped),
        size: out.size,
        root: out.root.to_vec(),
    }
}

type EntryStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::Entry, Status>> + Send>>;

#[tonic::async_trait]
impl pb::admin_server::Admin for AdminService {
    async fn status(&self, _req: Request<pb::StatusRequest>) -> Result<Response<pb::StatusReply>, Status> {
        let l = self.ledger.clone();
        let s = blocking(move || l.status()).await?;
        let (checkpoint, checkpoint_sig) = s.checkpoint.map(|c| (c.note, c.signature)).unwrap_or_default();
        Ok(Response::new(pb::StatusReply {
            code: s.code,
            name: s.name,
            level: s.level,
            size: s.size,
            root: s.root.to_vec(),
            checkpoint,
            checkpoint_sig,
            public_key_pem: s.public_key_pem,
        }))
    }

    async fn import(&self, req: Request<pb::ImportRequest>) -> Result<Response<pb::ImportReply>, Status> {
        let req = req.into_inner();
        if req.rows.len() > MAX_IMPORT_ROWS {
            return Err(Status::invalid_argument(format!(
                "chunk has {} rows; at most {MAX_IMPORT_ROWS} per call",
                req.rows.len()
            )));
        }
        let kind = req.kind.parse().map_err(|e: String| Status::invalid_argument(e))?;
        let rows: Vec<(u64, BTreeMap<String, String>)> =
            req.rows.into_iter().map(|r| (r.row, r.fields.into_iter().collect())).collect();
        let share = parse_share(&req.share_type)?;
        let l = self.ledger.clone();
        let source = req.source;
        let out = blocking(move || l.import(kind, &source, rows, share)).await?;
        Ok(Response::new(import_reply(out)))
    }

    async fn publish(&self, req: Request<pb::PublishRequest>) -> Result<Response<pb::ImportReply>, Status> {
        let req = req.into_inner();
        let share = parse_share(&req.share_type)?;
        let l = self.ledger.clone();
        let out = blocking(move || l.publish(req.record_json.as_bytes(), share)).await?;
        Ok(Response::new(import_reply(out)))
    }

    async fn query(&self, req: Request<pb::QueryRequest>) -> Result<Response<pb::QueryReply>, Status> {
        let key = req.into_inner().uscc;
        let l = self.ledger.clone();
        let hits = blocking(move || l.query(&key)).await?;
        Ok(Response::new(pb::QueryReply {
            records: hits
                .into_iter()
                .map(|h| pb::QueryRecord { origin: h.origin, index: h.index, kind: h.kind, body_json: h.body_json })
                .collect(),
        }))
    }

    type EntriesStream = EntryStream;

    async fn entries(&self, req: Request<pb::EntriesRequest>) -> Result<Response<Self::EntriesStream>, Status> {
        let r = req.into_inner();
        let l = self.ledger.clone();
        let size = blocking({
            let l = l.clone();
            move || Ok(l.status()?.size)
        })
        .await?;
        let end = if r.end == 0 { size } else { r.end.min(size) };
        if r.start > end {
            return Err(Status::out_of_range(format!("start {} is beyond the log size {size}", r.start)));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::task::spawn_blocking(move || {
            const PAGE: u64 = 512;
            let mut at = r.start;
            while at < end {
                let upto = (at + PAGE).min(end);
                match l.entries(at, upto) {
                    Ok(es) => {
                        for e in es {
                            let msg = pb::Entry {
                                index: e.index,
                                leaf: e.leaf,
                                signature: e.signature,
                                payload: e.payload.as_ref().map(|p| p.0.clone()).unwrap_or_default(),
                                payload_ext: e.payload.map(|p| p.1).unwrap_or_default(),
                            };
                            if tx.blocking_send(Ok(msg)).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(status_of(e)));
                        return;
                    }
                }
                at = upto;
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn checkpoints(
        &self,
        _req: Request<pb::CheckpointsRequest>,
    ) -> Result<Response<pb::CheckpointsReply>, Status> {
        let l = self.ledger.clone();
        let cps = blocking(move || l.checkpoints()).await?;
        Ok(Response::new(pb::CheckpointsReply {
            checkpoints: cps
                .into_iter()
                .map(|c| pb::SignedCheckpoint {
                    size: c.parse().map(|p| p.size).unwrap_or_default(),
                    note: c.note,
                    signature: c.signature,
                })
                .collect(),
        }))
    }

    async fn registry_show(&self, _req: Request<pb::RegistryRequest>) -> Result<Response<pb::RegistryReply>, Status> {
        let fed = self.fed()?;
        Ok(Response::new(self.registry_reply(&fed)?))
    }

    async fn registry_stage(
        &self,
        req: Request<pb::RegistryStageRequest>,
    ) -> Result<Response<pb::RegistryReply>, Status> {
        let fed = self.fed()?;
        let change: Change = serde_json::from_str(&req.into_inner().change_json)
            .map_err(|e| Status::invalid_argument(format!("change: {e}")))?;
        let mut staged = self.staged()?;
        staged.push(change);
        // Staging must leave an applicable registry.
        let mut next = fed.registry();
        for c in &staged {
            next = next.apply(c, "staged").map_err(|e| Status::invalid_argument(e.to_string()))?;
        }
        self.save_staged(&staged)?;
        Ok(Response::new(self.registry_reply(&fed)?))
    }

    async fn registry_apply(
        &self,
        req: Request<pb::RegistryApplyRequest>,
    ) -> Result<Response<pb::RegistryReply>, Status> {
        let fed = self.fed()?;
        let staged = self.staged()?;
        if staged.is_empty() {
            return Err(Status::failed_precondition("nothing staged: use `gongxin registry add|suspend|revoke` first"));
        }
        let current = fed.registry();
        let want = req.into_inner().version;
        if want != 0 && want != current.version + 1 {
            return Err(Status::failed_precondition(format!(
                "would create version {}, not {want}; run `gongxin registry show`",
                current.version + 1
            )));
        }
        let at = crate::ledger::now_rfc3339();
        let mut next = current.clone();
        for c in &staged {
            next = next.apply(c, &at).map_err(|e| Status::invalid_argument(e.to_string()))?;
        }
        next.version = current.version + 1;
        let f = fed.clone();
        tokio::task::spawn_blocking(move || f.publish_registry(&next))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        self.save_staged(&[])?;
        Ok(Response::new(self.registry_reply(&fed)?))
    }

    async fn peers(&self, _req: Request<pb::PeersRequest>) -> Result<Response<pb::PeersReply>, Status> {
        let v = self.peers_json().map_err(status_of)?;
        Ok(Response::new(pb::PeersReply { json: v.to_string() }))
    }

    async fn audit_run(&self, req: Request<pb::AuditRunRequest>) -> Result<Response<pb::AuditReply>, Status> {
        let fed = self.fed()?;
        let r = req.into_inner();
        let d = gongxin_core::audit::Sla::default();
        let sla = gongxin_core::audit::Sla {
            stale_after_secs: if r.stale_after_secs > 0 { r.stale_after_secs } else { d.stale_after_secs },
            lag_entries: if r.lag_entries > 0 { r.lag_entries } else { d.lag_entries },
            lag_secs: if r.lag_secs > 0 { r.lag_secs } else { d.lag_secs },
        };
        let report = tokio::task::spawn_blocking(move || fed.run_audit(sla))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(pb::AuditReply { report_json: serde_json::to_string(&report).unwrap_or_default() }))
    }

    async fn audit_show(&self, _req: Request<pb::AuditShowRequest>) -> Result<Response<pb::AuditReply>, Status> {
        let fed = self.fed()?;
        let report = tokio::task::spawn_blocking(move || fed.last_report())
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(pb::AuditReply {
            report_json: report.map(|r| serde_json::to_string(&r).unwrap_or_default()).unwrap_or_default(),
        }))
    }

    type ExportOriginStream = ExportOriginStream;

    async fn export_origin(
        &self,
        req: Request<pb::ExportOriginRequest>,
    ) -> Result<Response<Self::ExportOriginStream>, Status> {
        let r = req.into_inner();
        let l = self.ledger.clone();
        let first = blocking({
            let (l, origin) = (l.clone(), r.origin.clone());
            move || export_origin_head(&l, &origin)
        })
        .await?;
        let end = if r.end == 0 { first.size } else { r.end.min(first.size) };
        if r.start > end {
            return Err(Status::out_of_range(format!("start {} is beyond the exported size {end}", r.start)));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let origin = r.origin;
        tokio::task::spawn_blocking(move || {
            if tx.blocking_send(Ok(first)).is_err() {
                return;
            }
            const PAGE: u64 = 512;
            let mut at = r.start;
            while at < end {
                let upto = (at + PAGE).min(end);
                match l.log().entries(&origin, at..upto) {
                    Ok(es) => {
                        for e in es {
                            let entry = pb::Entry {
                                index: e.index,
                                leaf: e.leaf,
                                signature: e.signature,
                                payload: e.payload.as_ref().map(|p| p.0.clone()).unwrap_or_default(),
                                payload_ext: e.payload.map(|p| p.1).unwrap_or_default(),
                            };
                            let item = pb::ExportOriginItem { entry: Some(entry), ..Default::default() };
                            if tx.blocking_send(Ok(item)).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(Status::internal(e.to_string())));
                        return;
                    }
                }
                at = upto;
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }
}

type ExportOriginStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::ExportOriginItem, Status>> + Send>>;

use crate::federation::AUDIT_MARK_META;

/// First item of `ExportOrigin`: checkpoints up to the held size (so every one is covered by the exported
/// leaves), the last audit mark, and the consistency proof from the audited size to the newest checkpoint.
fn export_origin_head(l: &Ledger, origin: &str) -> Result<pb::ExportOriginItem, LedgerError> {
    let log = l.log();
    let err = |e: crate::store::log::LogError| LedgerError::BadRequest(format!("origin {origin}: {e}"));
    let size = log.head(origin).map_err(err)?.size;
    let mut checkpoints = Vec::new();
    for c in log.checkpoints(origin).map_err(err)? {
        let cp_size = c.parse().map(|p| p.size).map_err(|e| LedgerError::Store(format!("origin {origin}: {e}")))?;
        if cp_size <= size {
            checkpoints.push(pb::SignedCheckpoint { size: cp_size, note: c.note, signature: c.signature });
        }
    }
    let newest = checkpoints.iter().map(|c| c.size).max().unwrap_or(0);
    let mark = log.origin_meta(origin, AUDIT_MARK_META).map_err(err)?;
    let mut item = pb::ExportOriginItem { size: newest, checkpoints, ..Default::default() };
    if let Some(m) = mark {
        let parsed: gongxin_core::audit::Mark =
            serde_json::from_slice(&m).map_err(|e| LedgerError::Store(format!("origin {origin}: audit mark: {e}")))?;
        if parsed.size <= newest {
            item.consistency_proof =
                log.consistency_proof(origin, parsed.size, newest).map_err(err)?.iter().map(|d| d.to_vec()).collect();
            item.proof_old_size = parsed.size;
            item.proof_new_size = newest;
        }
        item.audit_mark_json = String::from_utf8_lossy(&m).into_owned();
    }
    Ok(item)
}
