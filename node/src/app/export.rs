//! What leaves the node through the admin and audit APIs, as typed values the gRPC layer converts: an origin's
//! export (checkpoints, audit mark, consistency proof, entries), proofs for the auditor, and the peer view of
//! `gongxin peer list`.

use super::audit::AUDIT_MARK_META;
use super::federation::{Federation, LinkState};
use super::ledger::Ledger;
use super::AppError;
use crate::store::log::StoredEntry;
use gongxin_core::checkpoint::SignedCheckpoint;
use gongxin_core::crypto::Digest;
use serde::Serialize;

/// The head of an origin export: checkpoints up to the held size (so every one is covered by the exported
/// leaves), the last audit mark, and the consistency proof from the audited size to the newest checkpoint.
#[derive(Debug, Clone, Default)]
pub struct OriginExport {
    /// Held entries.
    pub held: u64,
    /// Size of the newest exported checkpoint.
    pub size: u64,
    pub checkpoints: Vec<(u64, SignedCheckpoint)>,
    pub audit_mark_json: Option<Vec<u8>>,
    /// `(old, new, hashes)`.
    pub consistency: Option<(u64, u64, Vec<Digest>)>,
}

/// An RFC 9162 proof with the root it leads to (and, for inclusion, the leaf and its signature).
#[derive(Debug, Clone, Default)]
pub struct Proof {
    pub hashes: Vec<Digest>,
    pub root: Digest,
    pub leaf: Option<(Vec<u8>, Vec<u8>)>,
}

impl Ledger {
    pub fn export_origin(&self, origin: &str) -> Result<OriginExport, AppError> {
        let log = self.log();
        let held = log.head(origin)?.size;
        let mut checkpoints = Vec::new();
        for c in log.checkpoints(origin)? {
            let size = c.parse().map(|p| p.size).map_err(|e| AppError::corrupt("stored checkpoint", e))?;
            if size <= held {
                checkpoints.push((size, c));
            }
        }
        let newest = checkpoints.iter().map(|c| c.0).max().unwrap_or(0);
        let mut out = OriginExport { held, size: newest, checkpoints, ..Default::default() };
        if let Some(m) = log.origin_meta(origin, AUDIT_MARK_META)? {
            let mark: gongxin_core::audit::Mark =
                serde_json::from_slice(&m).map_err(|e| AppError::corrupt("audit mark", e))?;
            gongxin_core::format::check("audit mark", mark.format)?;
            if mark.size <= newest {
                out.consistency = Some((mark.size, newest, log.consistency_proof(origin, mark.size, newest)?));
            }
            out.audit_mark_json = Some(m);
        }
        Ok(out)
    }

    /// Entries `[start, end)` of any held origin.
    pub fn origin_entries(&self, origin: &str, start: u64, end: u64) -> Result<Vec<StoredEntry>, AppError> {
        Ok(self.log().entries(origin, start..end)?)
    }

    /// Every stored checkpoint of `origin`.
    pub fn origin_checkpoints(&self, origin: &str) -> Result<Vec<SignedCheckpoint>, AppError> {
        Ok(self.log().checkpoints(origin)?)
    }

    pub fn inclusion_proof(&self, origin: &str, index: u64, size: u64) -> Result<Option<Proof>, AppError> {
        let log = self.log();
        let hashes = log.inclusion_proof(origin, index, size)?;
        let root = log.root_at(origin, size)?;
        Ok(log.entry(origin, index)?.map(|e| Proof { hashes, root, leaf: Some((e.leaf, e.signature)) }))
    }

    pub fn consistency_proof(&self, origin: &str, old: u64, new: u64) -> Result<Proof, AppError> {
        let log = self.log();
        Ok(Proof { hashes: log.consistency_proof(origin, old, new)?, root: log.root_at(origin, new)?, leaf: None })
    }
}

/// `gongxin peer list`: this node, its parent link, its children and every log it holds.
#[derive(Debug, Clone, Serialize)]
pub struct PeerView {
    pub code: String,
    pub registry_version: u64,
    pub parent: Option<ParentView>,
    pub children: Vec<ChildView>,
    pub logs: Vec<LogView>,
    pub evidence: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParentView {
    pub code: String,
    pub addr: String,
    pub state: String,
    pub last_contact: Option<String>,
    pub last_contact_age_seconds: Option<i64>,
    pub last_error: Option<String>,
    pub origins: Vec<RelayedView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RelayedView {
    pub origin: String,
    pub held: u64,
    pub parent_cursor: u64,
    pub lag_entries: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChildView {
    pub code: String,
    pub name: String,
    pub status: String,
    pub state: String,
    pub last_contact: Option<String>,
    pub last_contact_age_seconds: Option<i64>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogView {
    pub origin: String,
    pub name: Option<String>,
    pub size: u64,
    pub latest_checkpoint_at: Option<String>,
    pub age_seconds: Option<i64>,
}

/// Seconds from `ts` (RFC 3339) to `now`, never negative.
fn age(now: time::OffsetDateTime, ts: Option<&str>) -> Option<i64> {
    let t = time::OffsetDateTime::parse(ts?, &time::format_description::well_known::Rfc3339).ok()?;
    Some((now - t).whole_seconds().max(0))
}

/// The state shown for a link: `ok` turns `late` once the last contact is more than `late_after` seconds old
/// (a stopped child keeps its last state otherwise, as nothing else changes it).
fn shown_state(state: String, contact_age: Option<i64>, late_after: i64) -> String {
    match contact_age {
        Some(a) if state == "ok" && a > late_after => "late".to_string(),
        _ => state,
    }
}

impl Federation {
    /// The peer view; `parent` is the configured uplink (code, address), if any.
    pub fn peer_view(&self, parent: Option<(&str, &str)>) -> Result<PeerView, AppError> {
        let log = self.ledger.log();
        let reg = self.registry();
        let now = time::OffsetDateTime::now_utc();
        let mut logs = Vec::new();
        for (origin, head) in log.origins()? {
            let latest = log.latest_checkpoint(&origin)?.and_then(|c| c.parse().ok());
            let ts = latest.as_ref().and_then(|c| c.timestamp().map(str::to_string));
            logs.push(LogView {
                name: reg.node(&origin).map(|n| n.name.clone()),
                size: head.size,
                age_seconds: age(now, ts.as_deref()),
                latest_checkpoint_at: ts,
                origin,
            });
        }
        let (seen, link, cursors) = self.link_snapshot();
        let late = i64::try_from(self.late_after().as_secs()).unwrap_or(i64::MAX);
        let parent = match parent {
            None => None,
            Some((code, addr)) => {
                let mut origins = Vec::new();
                for (o, c) in &cursors {
                    let held = log.head(o).map(|h| h.size).unwrap_or(0);
                    origins.push(RelayedView {
                        origin: o.clone(),
                        held,
                        parent_cursor: *c,
                        lag_entries: held.saturating_sub(*c),
                    });
                }
                let contact_age = age(now, link.last_contact.as_deref());
                Some(ParentView {
                    code: code.to_string(),
                    addr: addr.to_string(),
                    state: shown_state(link.state, contact_age, late),
                    last_contact_age_seconds: contact_age,
                    last_contact: link.last_contact,
                    last_error: link.last_error,
                    origins,
                })
            }
        };
        let children = reg
            .children(&self.me)
            .map(|n| {
                let s: LinkState = seen.get(&n.code).cloned().unwrap_or_default();
                let contact_age = age(now, s.last_contact.as_deref());
                ChildView {
                    code: n.code.clone(),
                    name: n.name.clone(),
                    status: n.status.as_str().to_string(),
                    state: if s.state.is_empty() {
                        "never seen".to_string()
                    } else {
                        shown_state(s.state, contact_age, late)
                    },
                    last_contact_age_seconds: contact_age,
                    last_contact: s.last_contact,
                    last_error: s.last_error,
                }
            })
            .collect();
        Ok(PeerView {
            code: self.me.clone(),
            registry_version: reg.version,
            parent,
            children,
            logs,
            evidence: self.evidence()?.len(),
        })
    }
}
