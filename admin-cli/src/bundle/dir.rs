//! A bundle directory on disk as a [`BundleSource`] for the core's offline verification.

use gongxin_core::bundle::{berr, BundleError, BundleSource, Item, ItemKind};
use std::path::{Path, PathBuf};

/// The bundle rooted at a directory. Paths inside it are `/`-separated and relative to the root.
pub struct BundleDir {
    root: PathBuf,
}

impl BundleDir {
    pub fn new(root: &Path) -> Self {
        BundleDir { root: root.to_path_buf() }
    }

    fn path(&self, rel: &str) -> PathBuf {
        rel.split('/').filter(|s| !s.is_empty()).fold(self.root.clone(), |p, s| p.join(s))
    }

    /// How `rel` is named in messages: the bundle-relative path, or the root's path for the root itself.
    fn shown(&self, rel: &str) -> String {
        if rel.is_empty() {
            self.root.display().to_string()
        } else {
            rel.to_string()
        }
    }
}

impl BundleSource for BundleDir {
    fn name(&self) -> String {
        self.root.display().to_string()
    }

    fn list(&self, dir: &str) -> Result<Option<Vec<Item>>, BundleError> {
        let p = self.path(dir);
        if !p.exists() {
            return Ok(None);
        }
        if !p.is_dir() {
            return Err(berr(self.shown(dir), "expected a directory"));
        }
        let rd = std::fs::read_dir(&p).map_err(|e| berr(self.shown(dir), format!("cannot list: {e}")))?;
        let mut out = Vec::new();
        for e in rd {
            let e = e.map_err(|e| berr(self.shown(dir), format!("cannot list: {e}")))?;
            // The directory entry's type costs no stat; a link is followed, as `Path::is_dir` does.
            let is_dir = match e.file_type() {
                Ok(t) if !t.is_symlink() => t.is_dir(),
                _ => e.path().is_dir(),
            };
            let kind = if is_dir { ItemKind::Dir } else { ItemKind::File };
            out.push(Item { name: e.file_name().to_string_lossy().into_owned(), kind });
        }
        Ok(Some(out))
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, BundleError> {
        std::fs::read(self.path(path)).map_err(|e| berr(self.shown(path), format!("cannot read: {e}")))
    }

    fn kind(&self, path: &str) -> Option<ItemKind> {
        let m = std::fs::metadata(self.path(path)).ok()?;
        Some(if m.is_dir() { ItemKind::Dir } else { ItemKind::File })
    }
}
