//! The sync service (`gongxin.sync.v1.Sync`) a parent serves to its children over mTLS. Every call is
//! authenticated by the client certificate and authorised against the registry by [`SyncAuth`] before its
//! body is decoded, and refused with `PERMISSION_DENIED` (logged, no link state changed) otherwise. Heavy
//! work runs on the blocking pool.

use super::convert::sync as convert;
use super::guard::{AuthorizedNode, SyncAuth};
use crate::app::mirror::WireEntry;
use crate::app::{AppError, Federation};
use gongxin_core::sync::SyncError;
use gongxin_proto::sync::v1 as pb;
use std::sync::Arc;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};

/// Decode limit of the uplink for sync replies, and encode limit of both sides (a 5 000-entry batch with
/// payloads stays well below). Requests the server decodes are bounded per RPC by [`super::guard`].
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

pub struct SyncService {
    fed: Arc<Federation>,
}

/// The sync service as served: the authorisation of [`SyncAuth`] runs before tonic decodes a request.
pub type SyncServer = InterceptedService<pb::sync_server::SyncServer<SyncService>, SyncAuth>;

impl SyncService {
    pub fn new(fed: Arc<Federation>) -> Self {
        Self { fed }
    }

    pub fn into_server(self) -> SyncServer {
        let auth = SyncAuth { fed: self.fed.clone() };
        let server = pb::sync_server::SyncServer::new(self)
            .max_decoding_message_size(super::guard::MAX_UPLOAD_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        InterceptedService::new(server, auth)
    }

    /// The registered node behind the request, as [`SyncAuth`] settled it before the body was decoded.
    fn sender<T>(&self, req: &Request<T>, rpc: &str) -> Result<String, Status> {
        match req.extensions().get::<AuthorizedNode>() {
            Some(AuthorizedNode(code)) => Ok(code.clone()),
            None => {
                tracing::error!(rpc, "sync request without authorisation (service built without SyncAuth)");
                Err(Status::permission_denied("sync request was not authorised"))
            }
        }
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
        other => status_of_app(peer, other),
    }
}

/// The status of a failure that is not a sync refusal: what the caller got wrong is INVALID_ARGUMENT or
/// FAILED_PRECONDITION (or ABORTED: try again); INTERNAL is kept for faults of this node (store, damage, locks).
pub fn status_of_app(peer: &str, e: AppError) -> Status {
    use crate::store::log::LogError;
    let m = e.to_string();
    match e {
        AppError::Sync(s) => status_of(peer, AppError::Sync(s)),
        AppError::Invalid { .. } | AppError::Registry(_) | AppError::Amend(_) => Status::invalid_argument(m),
        AppError::Check(_) | AppError::SigningHeld { .. } => Status::failed_precondition(m),
        AppError::NotProvince { .. } | AppError::NothingStaged | AppError::RegistryVersion { .. } => {
            Status::failed_precondition(m)
        }
        AppError::Format(_) => Status::failed_precondition(m),
        AppError::Busy { .. } => Status::resource_exhausted(m),
        AppError::Log(LogError::Stale { .. }) => Status::aborted(m),
        AppError::Log(
            LogError::BadOrigin { .. }
            | LogError::TooLarge { .. }
            | LogError::InvalidEntry { .. }
            | LogError::Checkpoint { .. }
            | LogError::Range { .. }
            | LogError::BadMetaName { .. },
        ) => Status::invalid_argument(m),
        AppError::Log(LogError::Store(_) | LogError::Corrupt { .. })
        | AppError::Store(_)
        | AppError::Corrupt { .. }
        | AppError::Poisoned { .. } => {
            tracing::error!(peer, error = %m, "sync request failed");
            Status::internal(m)
        }
    }
}

/// For the uplink (the client side of this service), the same conversions.
pub use super::convert::sync::{entries as entries_from_pb, entry_to_pb};

/// The metrics label of a refusal (what the caller got wrong), or `None` for a fault of this node.
fn refusal_reason(e: &AppError) -> Option<&'static str> {
    use crate::store::log::LogError;
    Some(match e {
        AppError::Sync(SyncError::Forbidden(_)) => "forbidden",
        AppError::Sync(SyncError::Cursor { .. }) => "cursor",
        AppError::Sync(SyncError::TooLarge { .. }) => "too_large",
        AppError::Sync(SyncError::Equivocation { .. }) => "equivocation",
        AppError::Sync(SyncError::BadEntry { .. }) => "bad_entry",
        AppError::Sync(SyncError::BadCheckpoint { .. }) => "bad_checkpoint",
        AppError::Log(LogError::Store(_) | LogError::Corrupt { .. })
        | AppError::Store(_)
        | AppError::Corrupt { .. }
        | AppError::Poisoned { .. } => return None,
        _ => "invalid",
    })
}

impl SyncService {
    /// Runs `f` on the blocking pool; a refusal is counted by reason and mapped to its status.
    async fn blocking<T: Send + 'static>(
        &self,
        peer: String,
        f: impl FnOnce() -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, Status> {
        let metrics = self.fed.ledger().metrics().clone();
        tokio::task::spawn_blocking(f).await.map_err(|e| Status::internal(format!("worker failed: {e}")))?.map_err(
            |e| {
                refusal_reason(&e).into_iter().for_each(|r| metrics.sync_refused(r));
                status_of(&peer, e)
            },
        )
    }
}

#[tonic::async_trait]
impl pb::sync_server::Sync for SyncService {
    async fn cursor(&self, req: Request<pb::CursorRequest>) -> Result<Response<pb::CursorReply>, Status> {
        let sender = self.sender(&req, "Cursor")?;
        self.fed.ledger().metrics().sync_request("Cursor");
        let origin = convert::origin("origin", &req.into_inner().origin)?;
        let fed = self.fed.clone();
        let (s, o) = (sender.clone(), origin.clone());
        let head = self.blocking(sender.clone(), move || fed.cursor(&s, &o)).await?;
        self.fed.touch_child(&sender, None);
        Ok(Response::new(pb::CursorReply { origin, next_index: head.size, root: head.root.to_vec() }))
    }

    async fn upload(&self, req: Request<pb::UploadRequest>) -> Result<Response<pb::UploadReply>, Status> {
        let sender = self.sender(&req, "Upload")?;
        self.fed.ledger().metrics().sync_request("Upload");
        let r = req.into_inner();
        let origin = convert::origin("origin", &r.origin)?;
        let cp = convert::checkpoint(r.checkpoint)?;
        let entries: Vec<WireEntry> = convert::entries(r.entries)?;
        let fed = self.fed.clone();
        let s = sender.clone();
        let res = self.blocking(sender.clone(), move || fed.accept_upload(&s, &origin, r.start, entries, cp)).await;
        self.fed.touch_child(&sender, res.as_ref().err().map(|e| e.message().to_string()));
        let (head, cosig) = res?;
        Ok(Response::new(pb::UploadReply { size: head.size, cosignature: Some(convert::cosignature_to_pb(cosig)) }))
    }

    async fn offer(&self, req: Request<pb::OfferRequest>) -> Result<Response<pb::OfferReply>, Status> {
        let sender = self.sender(&req, "Offer")?;
        self.fed.ledger().metrics().sync_request("Offer");
        let fed = self.fed.clone();
        let s = sender.clone();
        let logs = self.blocking(sender, move || fed.offered(&s)).await?;
        Ok(Response::new(pb::OfferReply {
            logs: logs.into_iter().map(|(origin, size)| pb::OfferedLog { origin, size }).collect(),
        }))
    }

    async fn pull(&self, req: Request<pb::PullRequest>) -> Result<Response<pb::PullReply>, Status> {
        let sender = self.sender(&req, "Pull")?;
        self.fed.ledger().metrics().sync_request("Pull");
        let r = req.into_inner();
        let origin = convert::origin("origin", &r.origin)?;
        let fed = self.fed.clone();
        let s = sender.clone();
        let (entries, cp) =
            self.blocking(sender, move || fed.serve_pull(&s, &origin, r.start, r.max_entries as u64)).await?;
        Ok(Response::new(pb::PullReply {
            entries: entries.into_iter().map(convert::entry_to_pb).collect(),
            checkpoint: Some(convert::checkpoint_to_pb(cp)),
        }))
    }

    async fn pull_lists(&self, req: Request<pb::PullListsRequest>) -> Result<Response<pb::PullListsReply>, Status> {
        let sender = self.sender(&req, "PullLists")?;
        self.fed.ledger().metrics().sync_request("PullLists");
        let cursors = super::convert::feed::cursors(req.into_inner().cursors)?;
        let fed = self.fed.clone();
        let s = sender.clone();
        let batch = self.blocking(sender, move || fed.serve_feed(&s, &cursors)).await?;
        Ok(Response::new(super::convert::feed::batch_to_pb(batch)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::log::LogError;
    use tonic::Code;

    #[test]
    fn what_the_caller_got_wrong_is_never_internal() {
        let check = |e: AppError, want: Code| assert_eq!(status_of("430102", e).code(), want);
        check(AppError::Invalid { field: "origin", reason: "bad".into() }, Code::InvalidArgument);
        check(AppError::Log(LogError::BadOrigin { origin: "x".into() }), Code::InvalidArgument);
        check(
            AppError::Log(LogError::Range { origin: "430102".into(), reason: "past the end".into() }),
            Code::InvalidArgument,
        );
        check(AppError::Log(LogError::Stale { origin: "430102".into(), expected: 1, found: 2 }), Code::Aborted);
        check(AppError::NotProvince { action: "publish the registry", me: "430100".into() }, Code::FailedPrecondition);
        check(AppError::NothingStaged, Code::FailedPrecondition);
        // Faults of this node stay INTERNAL.
        check(AppError::Corrupt { what: "registry entry", reason: "missing".into() }, Code::Internal);
        check(AppError::Poisoned { what: "mirror writer" }, Code::Internal);
    }
}
