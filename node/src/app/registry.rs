//! Registry versions (DESIGN §3), on the province: changes are staged (kept in the store, `Meta` key
//! `registry.staged`, so staging survives a restart and is backed up with the store), checked to leave an
//! applicable registry, then applied as one signed entry of the province log.

use super::federation::{Federation, PROVINCE, REGISTRY_INDEX_META};
use super::{now_rfc3339, AppError};
use crate::store::{Batch, Store, Table};
use gongxin_core::format;
use gongxin_core::registry::{Change, Registry, REGISTRY_KIND};

/// `Meta` key of the staged changes.
const STAGED_META: &[u8] = b"registry.staged";

/// The staged changes as stored: versioned like every persisted document.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Staged {
    #[serde(default = "format::v1", skip_serializing_if = "format::is_v1")]
    format: u32,
    changes: Vec<Change>,
}

impl Federation {
    /// The changes staged for the next registry version, oldest first.
    pub fn staged(&self) -> Result<Vec<Change>, AppError> {
        match self.ledger.log().store().get(Table::Meta, STAGED_META)? {
            None => Ok(Vec::new()),
            Some(v) => {
                let s: Staged =
                    serde_json::from_slice(&v).map_err(|e| AppError::corrupt("staged registry changes", e))?;
                format::check("staged registry changes", s.format)?;
                Ok(s.changes)
            }
        }
    }

    fn save_staged(&self, changes: Vec<Change>) -> Result<(), AppError> {
        let store = self.ledger.log().store();
        let mut b = Batch::new();
        if changes.is_empty() {
            b.delete(Table::Meta, STAGED_META.to_vec());
        } else {
            let v = serde_json::to_vec(&Staged { format: format::V1, changes })
                .map_err(|e| AppError::corrupt("staged registry changes", e))?;
            b.put(Table::Meta, STAGED_META.to_vec(), v);
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
