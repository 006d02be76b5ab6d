//! The read-only audit and proof API (`gongxin.audit.v1.Audit`) on the mTLS port. Only the province auditor
//! role may call it; the auditor role may call nothing else (the sync and admin services refuse it).

use super::convert::audit as convert;
use crate::app::{Federation, PROVINCE};
use gongxin_proto::audit::v1 as pb;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct AuditService {
    fed: Arc<Federation>,
}

impl AuditService {
    pub fn new(fed: Arc<Federation>) -> Self {
        Self { fed }
    }

    pub fn into_server(self) -> pb::audit_server::AuditServer<Self> {
        pb::audit_server::AuditServer::new(self)
            .max_decoding_message_size(crate::grpc::guard::MAX_SMALL_REQUEST_BYTES)
            .max_encoding_message_size(crate::grpc::sync::MAX_MESSAGE_BYTES)
    }
}

/// Interceptor: the caller must present an auditor certificate of the province.
pub fn auditor_only(req: Request<()>) -> Result<Request<()>, Status> {
    let id = gongxin_certs::tls::request_identity(&req)
        .map_err(|e| Status::unauthenticated(format!("client certificate required: {e}")))?;
    if id.role != gongxin_certs::Role::Auditor || id.code.as_str() != PROVINCE {
        tracing::warn!(peer = %id.code.as_str(), role = ?id.role, "refused: audit API needs the province auditor role");
        return Err(Status::permission_denied(format!(
            "the audit API needs an auditor certificate of {PROVINCE}; got a {:?} certificate of {}",
            id.role,
            id.code.as_str()
        )));
    }
    Ok(req)
}

/// A wire origin, checked as six digits before anything looks it up.
fn origin(s: &str) -> Result<String, Status> {
    Ok(super::convert::sync::origin("origin", s)?)
}

fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}

/// A failure of the app as the auditor sees it: its own mistakes are not INTERNAL.
fn app(e: crate::app::AppError) -> Status {
    super::sync::status_of_app("auditor", e)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Status> + Send + 'static) -> Result<T, Status> {
    tokio::task::spawn_blocking(f).await.map_err(internal)?
}

#[tonic::async_trait]
impl pb::audit_server::Audit for AuditService {
    async fn latest_report(
        &self,
        _req: Request<pb::LatestReportRequest>,
    ) -> Result<Response<pb::LatestReportReply>, Status> {
        let fed = self.fed.clone();
        let r = blocking(move || fed.last_report().map_err(app)).await?;
        Ok(Response::new(pb::LatestReportReply {
            report_json: r.map(|r| serde_json::to_string(&r).unwrap_or_default()).unwrap_or_default(),
        }))
    }

    async fn checkpoints(
        &self,
        req: Request<pb::CheckpointsRequest>,
    ) -> Result<Response<pb::CheckpointsReply>, Status> {
        let origin = origin(&req.into_inner().origin)?;
        let fed = self.fed.clone();
        let cps = blocking(move || fed.ledger().origin_checkpoints(&origin).map_err(app)).await?;
        Ok(Response::new(pb::CheckpointsReply {
            checkpoints: cps.into_iter().map(convert::checkpoint_to_pb).collect(),
        }))
    }

    async fn inclusion_proof(
        &self,
        req: Request<pb::InclusionProofRequest>,
    ) -> Result<Response<pb::ProofReply>, Status> {
        let r = req.into_inner();
        let o = origin(&r.origin)?;
        let fed = self.fed.clone();
        let p = blocking(move || fed.ledger().inclusion_proof(&o, r.index, r.size).map_err(app))
            .await?
            .ok_or_else(|| Status::not_found("no such leaf"))?;
        Ok(Response::new(convert::proof_to_pb(p)))
    }

    async fn consistency_proof(
        &self,
        req: Request<pb::ConsistencyProofRequest>,
    ) -> Result<Response<pb::ProofReply>, Status> {
        let r = req.into_inner();
        let o = origin(&r.origin)?;
        let fed = self.fed.clone();
        let p = blocking(move || fed.ledger().consistency_proof(&o, r.old, r.new).map_err(app)).await?;
        Ok(Response::new(convert::proof_to_pb(p)))
    }
}
