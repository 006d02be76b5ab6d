//! Versions of the persisted and signed formats (registry, audit reports and marks, anchors, evidence, record
//! payloads). Each document carries `format` (absent means 1: everything written before versioning); a reader
//! refuses a version it does not know, by name, instead of misreading it. A new version adds a reader arm
//! here and a migration note in ARCHITECTURE.md, the way Garage versions its cluster layout.

/// The one format version every document has today.
pub const V1: u32 = 1;

/// Serde default for documents written before the `format` field existed.
pub fn v1() -> u32 {
    V1
}

/// For `#[serde(skip_serializing_if)]`: documents of version 1 are written without the field, so their bytes
/// (and the digests and signatures over them) stay what they were before versioning.
pub fn is_v1(v: &u32) -> bool {
    *v == V1
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: format version {found} is unknown to this build (it reads version {V1}); upgrade the node")]
pub struct FormatError {
    pub what: &'static str,
    pub found: u32,
}

/// Accepts the versions this build reads.
pub fn check(what: &'static str, found: u32) -> Result<(), FormatError> {
    if found == V1 {
        Ok(())
    } else {
        Err(FormatError { what, found })
    }
}
