//! The joint-punishment check API (`gongxin.check.v1.Check`): on the mTLS port for business-system
//! certificates of this node (and nothing else), and on the admin socket for the node's operator.

use super::convert::check as convert;
use crate::app::check::Checker;
use crate::app::AppError;
use gongxin_proto::check::v1 as pb;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Decode limit for check messages: a check request is a few codes; feedback may carry one verdict.
pub const MAX_DECODE_BYTES: usize = 4 * 1024 * 1024;
/// Encode limit: a verdict with many hits and their proofs.
pub const MAX_ENCODE_BYTES: usize = 16 * 1024 * 1024;

pub struct CheckService {
    checker: Arc<Checker>,
    /// `Some` on the mTLS port: who is calling comes from the certificate; `None` on the admin socket.
    remote: bool,
}

impl CheckService {
    pub fn local(checker: Arc<Checker>) -> Self {
        Self { checker, remote: false }
    }

    pub fn remote(checker: Arc<Checker>) -> Self {
        Self { checker, remote: true }
    }

    pub fn into_server(self) -> pb::check_server::CheckServer<Self> {
        pb::check_server::CheckServer::new(self)
            .max_decoding_message_size(MAX_DECODE_BYTES)
            .max_encoding_message_size(MAX_ENCODE_BYTES)
    }

    fn reporter<T>(&self, req: &Request<T>) -> String {
        if !self.remote {
            return "operator".into();
        }
        gongxin_certs::tls::request_identity(req)
            .map(|id| format!("{} ({})", id.name, id.serial))
            .unwrap_or_else(|_| "business-system".into())
    }
}

/// Interceptor for the mTLS port: only a business-system certificate of this node may ask.
pub fn business_system_only(me: String) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |req: Request<()>| {
        let id = gongxin_certs::tls::request_identity(&req)
            .map_err(|e| Status::unauthenticated(format!("client certificate required: {e}")))?;
        if id.role != gongxin_certs::Role::BusinessSystem || id.code.as_str() != me {
            tracing::warn!(peer = %id.code.as_str(), role = ?id.role, "refused: check API needs a business-system certificate of this node");
            return Err(Status::permission_denied(format!(
                "核查接口只接受本节点 {me} 的业务系统证书；收到的是 {} 的{}证书 (the check API needs a business-system certificate of node {me})",
                id.code.as_str(),
                id.role.label_zh()
            )));
        }
        Ok(req)
    }
}

fn status_of(e: AppError) -> Status {
    use gongxin_core::check::CheckError;
    match e {
        AppError::Invalid { .. } => Status::invalid_argument(e.to_string()),
        AppError::Check(CheckError::UnknownMeasure { .. }) => Status::invalid_argument(e.to_string()),
        AppError::Check(CheckError::NoCatalogue(_)) => Status::failed_precondition(e.to_string()),
        AppError::Busy { .. } => Status::resource_exhausted(e.to_string()),
        other => {
            tracing::error!(error = %other, "check request failed");
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

#[tonic::async_trait]
impl pb::check_server::Check for CheckService {
    async fn check(&self, req: Request<pb::CheckRequest>) -> Result<Response<pb::CheckReply>, Status> {
        let q = convert::query(req.into_inner())?;
        let v = self.checker.check_async(q).await.map_err(status_of)?;
        Ok(Response::new(convert::reply(v, self.checker.signer_pem().to_string())))
    }

    async fn feedback(&self, req: Request<pb::FeedbackRequest>) -> Result<Response<pb::FeedbackReply>, Status> {
        let reporter = self.reporter(&req);
        let r = req.into_inner();
        let action = convert::action(&r.action)?;
        let proof = convert::batch_proof(&r)?;
        let c = self.checker.clone();
        let index = blocking(move || {
            let given = proof.as_ref().map(|p| (r.verdict.as_slice(), p));
            c.feedback(&r.verdict_id, given, action, &r.note, &reporter)
        })
        .await?;
        Ok(Response::new(pb::FeedbackReply { index }))
    }

    async fn report(&self, req: Request<pb::ReportRequest>) -> Result<Response<pb::ReportReply>, Status> {
        let since = convert::since(&req.into_inner().since)?;
        let c = self.checker.clone();
        let report = blocking(move || c.report(since)).await?;
        Ok(Response::new(pb::ReportReply { report_json: serde_json::to_string(&report).unwrap_or_default() }))
    }
}
