//! The application layer (DESIGN §2 `app`): the node's use cases, and the only code that writes the store.
//!
//! | room          | use cases |
//! |---------------|-----------|
//! | `ledger`      | the node's own log: import, publish, system entries, heartbeats, status, queries |
//! | `federation`  | the node's place in the federation: registry view, peer link state, who may call |
//! | `registry`    | staging and publishing registry versions (province) |
//! | `mirror`      | ingest of mirrored batches (up- and down-sync), anchors, receipts, cosignatures |
//! | `evidence`    | evidence kept forever, one writer |
//! | `audit`       | the audit of the sync chain over the store, its signed report and marks |
//! | `export`      | what leaves through the admin and audit APIs: origin exports, proofs, the peer view |
//! | `credit`      | record state over everything held (amendment targets, folding), catalogues, writing amendments |
//! | `check`       | the joint-punishment check: signed verdicts with proofs, feedback, the feedback report |
//! | `publication` | 7-working-day compliance: late publications and late withdrawals per authority and origin |
//! | `query`       | the one-stop query: by code or name prefix, filters, paging, the public (masked) view |
//! | `feed`        | list entries of origins the node does not mirror, each with its own proof |
//!
//! *Invariant:* one writer per log. The own log is written under `Ledger`'s writer lock, every mirror under
//! `Federation`'s mirror lock, evidence under the evidence lock; every read-modify-write (next index, next
//! evidence sequence, registry index) happens inside the lock that serialises its writers
//! (`tests::concurrent_*` fail without them).
//! *Invariant:* gRPC handlers hold no store handle of their own: they convert and call these use cases.

pub mod audit;
pub mod check;
pub mod credit;
#[cfg(test)]
mod credit_tests;
pub mod evidence;
pub mod export;
pub mod federation;
pub mod feed;
pub mod ledger;
pub mod mirror;
pub mod publication;
pub mod query;
#[cfg(test)]
mod query_tests;
pub mod registry;
#[cfg(test)]
mod tests;

pub use federation::{Federation, PROVINCE};
pub use ledger::Ledger;

use crate::store::log::LogError;
use crate::store::StoreError;
use gongxin_core::registry::RegistryError;
use gongxin_core::sync::SyncError;

/// Why a use case failed. Every variant says what it is about; callers map them to statuses by variant.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A refusal by the sync rules (who may send what, batch checks, equivocation).
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Format(#[from] gongxin_core::format::FormatError),
    /// An amendment that does not apply to its target (names the target).
    #[error(transparent)]
    Amend(#[from] gongxin_core::state::AmendRefusal),
    /// A check that cannot be answered (no catalogue, unknown measure).
    #[error(transparent)]
    Check(#[from] gongxin_core::check::CheckError),
    /// The request itself is wrong: `field` names what, `reason` why.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// Something stored is not what this node wrote.
    #[error("{what} is damaged: {reason}")]
    Corrupt { what: &'static str, reason: String },
    #[error(
        "只有省级节点 ({PROVINCE}) 能执行此操作，本节点是 {me}：请对省级节点的数据目录运行此命令 / only the province \
         ({PROVINCE}) may {action}; this node is {me}: run the command against the province's data dir"
    )]
    NotProvince { action: &'static str, me: String },
    #[error("nothing staged: use `gongxin registry add|suspend|revoke` first")]
    NothingStaged,
    #[error("would create registry version {next}, not {asked}; run `gongxin registry show`")]
    RegistryVersion { next: u64, asked: u64 },
    #[error("a lock of the {what} was poisoned by a panic in another thread")]
    Poisoned { what: &'static str },
    /// Too much is waiting already: try again shortly (`what` says which bound, Chinese first).
    #[error("{what}")]
    Busy { what: &'static str },
    /// The node signs no new entries of its own log (`app::ledger::SigningHold`, with what to do).
    #[error("{reason}")]
    SigningHeld { reason: String },
}

impl AppError {
    pub(crate) fn corrupt(what: &'static str, reason: impl std::fmt::Display) -> Self {
        AppError::Corrupt { what, reason: reason.to_string() }
    }
}

/// Current UTC time as RFC 3339 with seconds precision.
pub fn now_rfc3339() -> String {
    gongxin_core::date::rfc3339(time::OffsetDateTime::now_utc())
}
