//! The local admin API (`gongxin.admin.v1.Admin`), served on `DATA_DIR/admin.sock`.
//!
//! Authentication is the file system: the data dir is 0700 and the socket 0600, so only the account that runs
//! the node (and root) can connect. See ARCHITECTURE.md.

use crate::ledger::{Ledger, LedgerError};
use gongxin_proto::admin::v1 as pb;
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Largest import chunk the node accepts in one call (rows).
pub const MAX_IMPORT_ROWS: usize = 5_000;
/// Decode limit for admin messages.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

pub struct AdminService {
    ledger: Arc<Ledger>,
}

impl AdminService {
    pub fn new(ledger: Arc<Ledger>) -> Self {
        Self { ledger }
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
        let l = self.ledger.clone();
        let source = req.source;
        let out = blocking(move || l.import(kind, &source, rows)).await?;
        let row_errors = |v: Vec<crate::core::template::RowError>| -> Vec<pb::RowError> {
            v.into_iter().map(|e| pb::RowError { row: e.row, field: e.field, reason: e.reason }).collect()
        };
        Ok(Response::new(pb::ImportReply {
            accepted: out.accepted,
            duplicates: out.duplicates,
            errors: row_errors(out.errors),
            skipped: row_errors(out.skipped),
            size: out.size,
            root: out.root.to_vec(),
        }))
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
}
