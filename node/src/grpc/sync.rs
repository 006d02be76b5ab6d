//! The sync service (`gongxin.sync.v1.Sync`) a parent serves to its children over mTLS. Every call is
//! authenticated by the client certificate, authorised against the registry, and refused with
//! `PERMISSION_DENIED` (logged) otherwise. Heavy work runs on the blocking pool.

use super::convert::sync as convert;
use crate::app::mirror::WireEntry;
use crate::app::{AppError, Federation};
use gongxin_core::sync::SyncError;
use gongxin_proto::sync::v1 as pb;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Decode/encode limit for sync messages (a 5 000-entry batch with payloads stays well below).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

pub struct SyncService {
    fed: Arc<Federation>,
}

impl SyncService {
    pub fn new(fed: Arc<Federation>) -> Self {
        Self { fed }
    }

    pub fn into_server(self) -> pb::sync_server::SyncServer<Self> {
        pb::sync_server::SyncServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// The registered node behind the request's client certificate.
    fn sender<T>(&self, req: &Request<T>, rpc: &str) -> Result<String, Status> {
        let id = gongxin_certs::tls::request_identity(req).map_err(|e| {
            tracing::warn!(rpc, error = %e, "refused: no usable client certificate");
            Status::unauthenticated(format!("client certificate required: {e}"))
        })?;
        let code = id.code.as_str().to_string();
        self.fed.authorize_node(&code, id.role == gongxin_certs::Role::Node, &id.fingerprint).map_err(|e| {
            tracing::warn!(rpc, peer = %code, error = %e, "refused");
            self.fed.touch_child(&code, Some(e.to_string()));
            Status::permission_denied(e.to_string())
        })
    }
}

/// Maps a federation failure to the gRPC status the peer sees (and logs refusals).
pub fn status_of(peer: &str, e: AppError) -> Status {
    match e {
        AppError::Sync(s) => {
            tracing::warn!(peer, error = %s, "sync request refused");
            match s {
                SyncError::Forbidden(_) => Status::permission_denied(s.to_string()),
                SyncError::Cursor { .. } => Status::failed_precondition(s.to_string()),
                SyncError::TooLarge { .. } => Status::resource_exhausted(s.to_string()),
                SyncError::Equivocation { .. } => Status::aborted(s.to_string()),
                SyncError::BadEntry { .. } | SyncError::BadCheckpoint { .. } => Status::invalid_argument(s.to_string()),
            }
        }
        other => {
            tracing::error!(peer, error = %other, "sync request failed");
            Status::internal(other.to_string())
        }
    }
}

/// For the uplink (the client side of this service), the same conversions.
pub use super::convert::sync::{entries as entries_from_pb, entry_to_pb};

async fn blocking<T: Send + 'static>(
    peer: String,
    f: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, Status> {
    let p = peer.clone();
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("worker failed: {e}")))?
        .map_err(|e| status_of(&p, e))
}

#[tonic::async_trait]
impl pb::sync_server::Sync for SyncService {
    async fn cursor(&self, req: Request<pb::CursorRequest>) -> Result<Response<pb::CursorReply>, Status> {
        let sender = self.sender(&req, "Cursor")?;
        let origin = convert::origin("origin", &req.into_inner().origin)?;
        let fed = self.fed.clone();
        let (s, o) = (sender.clone(), origin.clone());
        let head = blocking(sender.clone(), move || fed.cursor(&s, &o)).await?;
        self.fed.touch_child(&sender, None);
        Ok(Response::new(pb::CursorReply { origin, next_index: head.size, root: head.root.to_vec() }))
    }

    async fn upload(&self, req: Request<pb::UploadRequest>) -> Result<Response<pb::UploadReply>, Status> {
        let sender = self.sender(&req, "Upload")?;
        let r = req.into_inner();
        let origin = convert::origin("origin", &r.origin)?;
        let cp = convert::checkpoint(r.checkpoint)?;
        let entries: Vec<WireEntry> = convert::entries(r.entries)?;
        let fed = self.fed.clone();
        let s = sender.clone();
        let res = blocking(sender.clone(), move || fed.accept_upload(&s, &origin, r.start, entries, cp)).await;
        self.fed.touch_child(&sender, res.as_ref().err().map(|e| e.message().to_string()));
        let (head, cosig) = res?;
        Ok(Response::new(pb::UploadReply { size: head.size, cosignature: Some(convert::cosignature_to_pb(cosig)) }))
    }

    async fn offer(&self, req: Request<pb::OfferRequest>) -> Result<Response<pb::OfferReply>, Status> {
        let sender = self.sender(&req, "Offer")?;
        let fed = self.fed.clone();
        let s = sender.clone();
        let logs = blocking(sender, move || fed.offered(&s)).await?;
        Ok(Response::new(pb::OfferReply {
            logs: logs.into_iter().map(|(origin, size)| pb::OfferedLog { origin, size }).collect(),
        }))
    }

    async fn pull(&self, req: Request<pb::PullRequest>) -> Result<Response<pb::PullReply>, Status> {
        let sender = self.sender(&req, "Pull")?;
        let r = req.into_inner();
        let origin = convert::origin("origin", &r.origin)?;
        let fed = self.fed.clone();
        let s = sender.clone();
        let (entries, cp) =
            blocking(sender, move || fed.serve_pull(&s, &origin, r.start, r.max_entries as u64)).await?;
        Ok(Response::new(pb::PullReply {
            entries: entries.into_iter().map(convert::entry_to_pb).collect(),
            checkpoint: Some(convert::checkpoint_to_pb(cp)),
        }))
    }

    async fn pull_lists(&self, req: Request<pb::PullListsRequest>) -> Result<Response<pb::PullListsReply>, Status> {
        let sender = self.sender(&req, "PullLists")?;
        let cursors = super::convert::feed::cursors(req.into_inner().cursors)?;
        let fed = self.fed.clone();
        let s = sender.clone();
        let batch = blocking(sender, move || fed.serve_feed(&s, &cursors)).await?;
        Ok(Response::new(super::convert::feed::batch_to_pb(batch)))
    }
}
