//! Registry versions (DESIGN §3), on the province: changes are staged (kept in the store, `Meta` key
//! `registry.staged`, so staging survives a restart and is backed up with the store), checked to leave an
//! applicable registry, then applied as one signed entry of the province log.

use super::federation::{Federation, PROVINCE, REGISTRY_INDEX_META};
use super::{now_rfc3339, AppError};
use crate::store::{Batch, Store, Table};
use gongxin_core::format;
use gongxin_core::registry::{Change, Registry, REGISTRY_KIND};

/// `Meta` key prefix of the staged changes: one value per change (`registry.staged/` + its position, 4 bytes
/// big-endian), so a whole province staged at once stays within the store's value limit.
const STAGED_PREFIX: &[u8] = b"registry.staged/";
/// The single-value form of earlier builds, still read (and removed on the next save).
const STAGED_META_V1: &[u8] = b"registry.staged";
/// Changes that may be staged at once (a province has about 140 nodes).
pub const MAX_STAGED: usize = 4096;

/// One staged change as stored: versioned like every persisted document.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct StagedChange {
    #[serde(default = "format::v1", skip_serializing_if = "format::is_v1")]
    format: u32,
    change: Change,
}

/// The staged changes in the single-value form of earlier builds.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Staged {
    #[serde(default = "format::v1", skip_serializing_if = "format::is_v1")]
    format: u32,
    changes: Vec<Change>,
}

fn staged_key(position: usize) -> Vec<u8> {
    let mut k = STAGED_PREFIX.to_vec();
    k.extend_from_slice(&u32::try_from(position).unwrap_or(u32::MAX).to_be_bytes());
    k
}

impl Federation {
    /// The changes staged for the next registry version, oldest first.
    pub fn staged(&self) -> Result<Vec<Change>, AppError> {
        let store = self.ledger.log().store();
        let mut out = Vec::new();
        if let Some(v) = store.get(Table::Meta, STAGED_META_V1)? {
            let s: Staged = serde_json::from_slice(&v).map_err(|e| AppError::corrupt("staged registry changes", e))?;
            format::check("staged registry changes", s.format)?;
            out.extend(s.changes);
        }
        for (_, v) in store.scan_prefix(Table::Meta, STAGED_PREFIX, MAX_STAGED + 1)? {
            let s: StagedChange =
                serde_json::from_slice(&v).map_err(|e| AppError::corrupt("staged registry change", e))?;
            format::check("staged registry change", s.format)?;
            out.push(s.change);
        }
        Ok(out)
    }

    /// Replaces the staged changes with `changes` in one batch.
    fn save_staged(&self, changes: Vec<Change>) -> Result<(), AppError> {
        let store = self.ledger.log().store();
        let mut b = Batch::new();
        b.delete(Table::Meta, STAGED_META_V1.to_vec());
        for (k, _) in store.scan_prefix(Table::Meta, STAGED_PREFIX, MAX_STAGED + 1)? {
            b.delete(Table::Meta, k);
        }
        for (i, change) in changes.into_iter().enumerate() {
            let v = serde_json::to_vec(&StagedChange { format: format::V1, change })
                .map_err(|e| AppError::corrupt("staged registry change", e))?;
            b.put(Table::Meta, staged_key(i), v);
        }
        store.apply(b)?;
        store.flush()?;
        Ok(())
    }

    /// Stages one change; refused (nothing staged) unless every staged change still applies.
    pub fn stage(&self, change: Change) -> Result<Vec<Change>, AppError> {
        if self.me != PROVINCE {
            return Err(AppError::NotProvince { action: "stage registry changes", me: self.me.clone() });
        }
        let _w = self.staging_lock.lock().map_err(|_| AppError::Poisoned { what: "registry staging" })?;
        let mut staged = self.staged()?;
        if staged.len() >= MAX_STAGED {
            return Err(AppError::Invalid {
                field: "registry staging",
                reason: format!(
                    "已暂存 {MAX_STAGED} 项变更，请先 apply 或 discard / {MAX_STAGED} changes are staged: apply or discard them first"
                ),
            });
        }
        staged.push(change);
        let mut next = self.registry();
        for c in &staged {
            next = next.apply(c, "staged")?;
        }
        self.save_staged(staged.clone())?;
        Ok(staged)
    }

    /// Drops every staged change (province only); the registry itself is unchanged.
    pub fn discard_staged(&self) -> Result<(), AppError> {
        if self.me != PROVINCE {
            return Err(AppError::NotProvince { action: "discard registry changes", me: self.me.clone() });
        }
        let _s = self.staging_lock.lock().map_err(|_| AppError::Poisoned { what: "registry staging" })?;
        self.save_staged(Vec::new())
    }

    /// Applies every staged change as registry version `current + 1` (`want`, when not 0, must be that
    /// version), publishes it, and clears the staging.
    pub fn apply_staged(&self, want: u64) -> Result<Registry, AppError> {
        if self.me != PROVINCE {
            return Err(AppError::NotProvince { action: "apply registry changes", me: self.me.clone() });
        }
        // Held until the staging is cleared, so a change staged meanwhile is neither applied half nor lost.
        let _s = self.staging_lock.lock().map_err(|_| AppError::Poisoned { what: "registry staging" })?;
        let staged = self.staged()?;
        if staged.is_empty() {
            return Err(AppError::NothingStaged);
        }
        let current = self.registry();
        let next_version = current.version + 1;
        if want != 0 && want != next_version {
            return Err(AppError::RegistryVersion { next: next_version, asked: want });
        }
        let at = now_rfc3339();
        let mut next = current;
        for c in &staged {
            next = next.apply(c, &at)?;
        }
        next.version = next_version;
        self.publish_registry(&next)?;
        self.save_staged(Vec::new())?;
        Ok(next)
    }

    /// Applies a new registry version on the province: appended to the province's own log, signed, with the
    /// registry index written in the same batch (computed under the writer lock).
    pub fn publish_registry(&self, reg: &Registry) -> Result<u64, AppError> {
        if self.me != PROVINCE {
            return Err(AppError::NotProvince { action: "publish the registry", me: self.me.clone() });
        }
        reg.validate()?;
        self.ledger.append_system(REGISTRY_KIND, &format!("registry/v{}", reg.version), reg.to_json(), |index| {
            vec![(REGISTRY_INDEX_META, index.to_be_bytes().to_vec())]
        })?;
        self.reload_registry()?;
        Ok(reg.version)
    }
}
