//! The local admin API (`gongxin.admin.v1.Admin`), served on `DATA_DIR/admin.sock`.
//!
//! Authentication is the file system: the data dir is 0700 and the socket 0600, so only the account that runs
//! the node (and root) can connect. See ARCHITECTURE.md.

use super::convert::admin as convert;
use crate::app::{AppError, Federation, Ledger};
use gongxin_core::registry::Change;
use gongxin_proto::admin::v1 as pb;

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
    parent: Option<(String, String)>,
    /// Set on the admin socket only: where `BackupStore` may write (never over the mTLS port).
    data_dir: Option<std::path::PathBuf>,
    /// Served on the mTLS port to registered operator certificates: registry changes also need the
    /// registry-operator role (on the admin socket the operating system is the authenticator).
    remote: bool,
}

impl AdminService {
    pub fn new(ledger: Arc<Ledger>) -> Self {
        Self { ledger, fed: None, parent: None, data_dir: None, remote: false }
    }

    /// Allows `BackupStore` into `data_dir` (the local admin socket).
    pub fn with_data_dir(mut self, data_dir: std::path::PathBuf) -> Self {
        self.data_dir = Some(data_dir);
        self
    }

    /// An admin service of a federated node.
    pub fn federated(ledger: Arc<Ledger>, fed: Arc<Federation>, parent: Option<(String, String)>) -> Self {
        Self { ledger, fed: Some(fed), parent, data_dir: None, remote: false }
    }

    /// The admin service of the mTLS port (see `remote`).
    pub fn remote(mut self) -> Self {
        self.remote = true;
        self
    }

    /// Over the mTLS port, a registry change needs a registered registry operator's certificate.
    fn may_change_registry<T>(&self, fed: &Federation, req: &Request<T>) -> Result<(), Status> {
        if !self.remote {
            return Ok(());
        }
        let id = gongxin_certs::tls::request_identity(req)
            .map_err(|e| Status::unauthenticated(format!("client certificate required: {e}")))?;
        crate::grpc::guard::authorize_operator(fed, &id, true).map_err(|e| {
            tracing::warn!(fingerprint = %id.fingerprint, "refused registry change: {e}");
            Status::permission_denied(e.to_string())
        })
    }

    fn fed(&self) -> Result<Arc<Federation>, Status> {
        self.fed.clone().ok_or_else(|| {
            Status::failed_precondition("this node runs standalone: add a [federation] section to gongxin.toml")
        })
    }

    fn registry_reply(fed: &Federation, staged: &[Change]) -> pb::RegistryReply {
        pb::RegistryReply {
            current_json: String::from_utf8(fed.registry().to_json()).unwrap_or_default(),
            staged_json: serde_json::to_string(staged).unwrap_or_default(),
        }
    }

    pub fn into_server(self) -> pb::admin_server::AdminServer<Self> {
        pb::admin_server::AdminServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

fn status_of(e: AppError) -> Status {
    match e {
        AppError::Invalid { .. } | AppError::Registry(_) | AppError::Amend(_) => {
            Status::invalid_argument(e.to_string())
        }
        AppError::Check(_) | AppError::SigningHeld { .. } => Status::failed_precondition(e.to_string()),
        AppError::NotProvince { .. } | AppError::NothingStaged | AppError::RegistryVersion { .. } => {
            Status::failed_precondition(e.to_string())
        }
        AppError::Sync(gongxin_core::sync::SyncError::Forbidden(r)) => Status::permission_denied(r.to_string()),
        other => {
            tracing::error!(error = %other, "admin request failed");
            Status::internal(other.to_string())
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, AppError> + Send + 'static) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("worker failed: {e}")))?
        .map_err(status_of)
}

type EntryStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::Entry, Status>> + Send>>;

#[tonic::async_trait]
impl pb::admin_server::Admin for AdminService {
    async fn status(&self, _req: Request<pb::StatusRequest>) -> Result<Response<pb::StatusReply>, Status> {
        let l = self.ledger.clone();
        let s = blocking(move || l.status()).await?;
        let (checkpoint, checkpoint_sig) = s.checkpoint.map(|c| (c.note, c.signature)).unwrap_or_default();
        let (last_entry_kind, last_entry_at) = s.last_entry.unwrap_or_default();
        Ok(Response::new(pb::StatusReply {
            last_entry_kind,
            last_entry_at,
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
        let rows = convert::rows(req.rows);
        let opts = crate::app::ledger::ImportOptions {
            share: convert::share(&req.share_type)?,
            dry_run: req.dry_run,
            foreign: Some(req.foreign_reason.trim().to_string()).filter(|r| !r.is_empty()),
            allow_retired_division: req.allow_retired_division,
        };
        let l = self.ledger.clone();
        let source = req.source;
        let out = blocking(move || l.import_with(kind, &source, rows, &opts)).await?;
        Ok(Response::new(convert::import_reply(out)))
    }

    async fn publish(&self, req: Request<pb::PublishRequest>) -> Result<Response<pb::ImportReply>, Status> {
        let req = req.into_inner();
        let share = convert::share(&req.share_type)?;
        let l = self.ledger.clone();
        let out = blocking(move || l.publish(req.record_json.as_bytes(), share)).await?;
        Ok(Response::new(convert::import_reply(out)))
    }

    async fn query(&self, req: Request<pb::QueryRequest>) -> Result<Response<pb::QueryReply>, Status> {
        let search = convert::search(req.into_inner())?;
        let l = self.ledger.clone();
        let today = crate::app::check::today_in_china();
        let page = blocking(move || l.search(&search, today)).await?;
        Ok(Response::new(pb::QueryReply {
            matched: page.matched as u64,
            more: page.more,
            records: page.hits.into_iter().map(|h| convert::query_record(h, today)).collect(),
        }))
    }

    async fn amend(&self, req: Request<pb::AmendRequest>) -> Result<Response<pb::ImportReply>, Status> {
        let spec = convert::amend_spec(req.into_inner(), crate::app::check::today_in_china())?;
        let l = self.ledger.clone();
        let out = blocking(move || l.amend(spec)).await?;
        Ok(Response::new(convert::import_reply(out)))
    }

    async fn publish_catalogue(
        &self,
        req: Request<pb::PublishCatalogueRequest>,
    ) -> Result<Response<pb::PublishCatalogueReply>, Status> {
        let json = req.into_inner().catalogue_json;
        let json = if json.trim().is_empty() { gongxin_core::catalogue::EMBEDDED.to_string() } else { json };
        let l = self.ledger.clone();
        let (index, version) = blocking(move || l.publish_catalogue(json.as_bytes())).await?;
        Ok(Response::new(pb::PublishCatalogueReply { index, version }))
    }

    async fn report_publication(
        &self,
        req: Request<pb::ReportPublicationRequest>,
    ) -> Result<Response<pb::ReportPublicationReply>, Status> {
        let since = req.into_inner().since;
        let since = if since.trim().is_empty() {
            None
        } else {
            Some(gongxin_core::date::parse(&since).map_err(|e| Status::invalid_argument(format!("since: {e}")))?)
        };
        let l = self.ledger.clone();
        let r = blocking(move || l.publication_report(since, gongxin_core::calendar::WorkCalendar::embedded())).await?;
        Ok(Response::new(pb::ReportPublicationReply { report_json: serde_json::to_string(&r).unwrap_or_default() }))
    }

    async fn profile(&self, req: Request<pb::ProfileRequest>) -> Result<Response<pb::ProfileReply>, Status> {
        let code = req.into_inner().uscc;
        if code.trim().is_empty() || code.len() > 64 {
            return Err(Status::invalid_argument("uscc: 须给出主体代码 (a subject code of at most 64 bytes)"));
        }
        let l = self.ledger.clone();
        let today = crate::app::check::today_in_china();
        let p = blocking(move || l.profile(&code, today)).await?;
        Ok(Response::new(pb::ProfileReply { profile_json: serde_json::to_string(&p).unwrap_or_default() }))
    }

    async fn report_duplicates(
        &self,
        _req: Request<pb::ReportDuplicatesRequest>,
    ) -> Result<Response<pb::ReportPublicationReply>, Status> {
        let l = self.ledger.clone();
        let r = blocking(move || l.duplicate_origins()).await?;
        Ok(Response::new(pb::ReportPublicationReply { report_json: serde_json::to_string(&r).unwrap_or_default() }))
    }

    async fn catalogues(&self, _req: Request<pb::CataloguesRequest>) -> Result<Response<pb::CataloguesReply>, Status> {
        let l = self.ledger.clone();
        let all = blocking(move || l.catalogues()).await?;
        Ok(Response::new(pb::CataloguesReply { catalogues_json: serde_json::to_string(&all).unwrap_or_default() }))
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
                            let msg = convert::entry_to_pb(e);
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
            checkpoints: cps.into_iter().map(convert::checkpoint_to_pb).collect(),
        }))
    }

    async fn registry_show(&self, _req: Request<pb::RegistryRequest>) -> Result<Response<pb::RegistryReply>, Status> {
        let fed = self.fed()?;
        let f = fed.clone();
        let staged = blocking(move || f.staged()).await?;
        Ok(Response::new(Self::registry_reply(&fed, &staged)))
    }

    async fn registry_stage(
        &self,
        req: Request<pb::RegistryStageRequest>,
    ) -> Result<Response<pb::RegistryReply>, Status> {
        let fed = self.fed()?;
        self.may_change_registry(&fed, &req)?;
        let change: Change = serde_json::from_str(&req.into_inner().change_json)
            .map_err(|e| Status::invalid_argument(format!("change_json: {e}")))?;
        let f = fed.clone();
        let staged = blocking(move || f.stage(change)).await?;
        Ok(Response::new(Self::registry_reply(&fed, &staged)))
    }

    async fn registry_apply(
        &self,
        req: Request<pb::RegistryApplyRequest>,
    ) -> Result<Response<pb::RegistryReply>, Status> {
        let fed = self.fed()?;
        self.may_change_registry(&fed, &req)?;
        let want = req.into_inner().version;
        let f = fed.clone();
        blocking(move || f.apply_staged(want)).await?;
        Ok(Response::new(Self::registry_reply(&fed, &[])))
    }

    async fn registry_discard(&self, req: Request<pb::RegistryRequest>) -> Result<Response<pb::RegistryReply>, Status> {
        let fed = self.fed()?;
        self.may_change_registry(&fed, &req)?;
        let f = fed.clone();
        blocking(move || f.discard_staged()).await?;
        Ok(Response::new(Self::registry_reply(&fed, &[])))
    }

    async fn peers(&self, _req: Request<pb::PeersRequest>) -> Result<Response<pb::PeersReply>, Status> {
        let json = match self.fed.clone() {
            None => serde_json::json!({"code": self.ledger.code(), "standalone": true}).to_string(),
            Some(fed) => {
                let parent = self.parent.clone();
                let view =
                    blocking(move || fed.peer_view(parent.as_ref().map(|(c, a)| (c.as_str(), a.as_str())))).await?;
                serde_json::to_string(&view).map_err(|e| Status::internal(e.to_string()))?
            }
        };
        Ok(Response::new(pb::PeersReply { json }))
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
        let report = blocking(move || fed.run_audit(sla)).await?;
        Ok(Response::new(pb::AuditReply { report_json: serde_json::to_string(&report).unwrap_or_default() }))
    }

    async fn audit_show(&self, _req: Request<pb::AuditShowRequest>) -> Result<Response<pb::AuditReply>, Status> {
        let fed = self.fed()?;
        let report = blocking(move || fed.last_report()).await?;
        Ok(Response::new(pb::AuditReply {
            report_json: report.map(|r| serde_json::to_string(&r).unwrap_or_default()).unwrap_or_default(),
        }))
    }

    type ExportOriginStream = ExportOriginStream;

    async fn backup_store(
        &self,
        req: Request<pb::BackupStoreRequest>,
    ) -> Result<Response<pb::BackupStoreReply>, Status> {
        let dir = self
            .data_dir
            .clone()
            .ok_or_else(|| Status::permission_denied("BackupStore is served on the local admin socket only"))?;
        let name = req.into_inner().file_name;
        let path =
            crate::backup::export_path(&dir, &name).map_err(|e| Status::invalid_argument(format!("file_name: {e}")))?;
        let ledger = self.ledger.clone();
        let s = tokio::task::spawn_blocking(move || crate::backup::export_store(ledger.log(), &path))
            .await
            .map_err(|e| Status::internal(format!("worker failed: {e}")))?
            .map_err(|e| {
                tracing::error!(error = %format!("{e:#}"), "backup export failed");
                Status::internal(format!("{e:#}"))
            })?;
        tracing::info!(records = s.records, bytes = s.bytes, file = %name, "store exported for a backup");
        Ok(Response::new(pb::BackupStoreReply { records: s.records, bytes: s.bytes, sm3_hex: hex::encode(s.digest) }))
    }

    async fn export_origin(
        &self,
        req: Request<pb::ExportOriginRequest>,
    ) -> Result<Response<Self::ExportOriginStream>, Status> {
        let r = req.into_inner();
        let l = self.ledger.clone();
        let head = blocking({
            let (l, origin) = (l.clone(), r.origin.clone());
            move || l.export_origin(&origin)
        })
        .await?;
        let end = if r.end == 0 { head.size } else { r.end.min(head.size) };
        if r.start > end {
            return Err(Status::out_of_range(format!("start {} is beyond the exported size {end}", r.start)));
        }
        let first = convert::export_head_to_pb(head);
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
                match l.origin_entries(&origin, at, upto) {
                    Ok(es) => {
                        for e in es {
                            let item =
                                pb::ExportOriginItem { entry: Some(convert::entry_to_pb(e)), ..Default::default() };
                            if tx.blocking_send(Ok(item)).is_err() {
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
}

type ExportOriginStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::ExportOriginItem, Status>> + Send>>;
