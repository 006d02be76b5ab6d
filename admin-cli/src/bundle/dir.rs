//! A bundle directory on disk as a [`BundleSource`] for the core's offline verification.
//!
//! Hostile bundles (issue 9): nothing below the root is followed if it is a symbolic link, special files
//! (FIFOs, sockets, devices) are refused without being opened for a blocking read, and every file is read with
//! the core's per-kind bound ([`gongxin_core::bundle::max_file_bytes`]).

use gongxin_core::bundle::{berr, max_file_bytes, BundleError, BundleSource, Item, ItemKind};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The bundle rooted at a directory. Paths inside it are `/`-separated and relative to the root.
pub struct BundleDir {
    root: PathBuf,
}

const LINK: &str = "符号链接，拒绝跟随 (a symbolic link: bundles may not contain links)";
const SPECIAL: &str = "特殊文件（FIFO、套接字或设备），拒绝读取 (a special file — FIFO, socket or device — refused)";

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

    /// Checks every component of `rel` below the root without following links: `Ok(None)` when some
    /// component does not exist, the final component's type otherwise; a link or special file anywhere is an
    /// error naming it.
    fn walk(&self, rel: &str) -> Result<Option<std::fs::FileType>, BundleError> {
        let mut p = self.root.clone();
        let mut done = String::new();
        let mut last = match std::fs::metadata(&p) {
            Ok(m) => m.file_type(),
            Err(_) => return Ok(None),
        };
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            if part == ".." || part == "." {
                return Err(berr(rel, "path leaves the bundle"));
            }
            p.push(part);
            done = if done.is_empty() { part.to_string() } else { format!("{done}/{part}") };
            let m = match std::fs::symlink_metadata(&p) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(berr(done, format!("cannot stat: {e}"))),
            };
            let t = m.file_type();
            if t.is_symlink() {
                return Err(berr(done, LINK));
            }
            if !t.is_dir() && !t.is_file() {
                return Err(berr(done, SPECIAL));
            }
            last = t;
        }
        Ok(Some(last))
    }
}

impl BundleSource for BundleDir {
    fn name(&self) -> String {
        self.root.display().to_string()
    }

    fn list(&self, dir: &str) -> Result<Option<Vec<Item>>, BundleError> {
        match self.walk(dir)? {
            None => return Ok(None),
            Some(t) if !t.is_dir() => return Err(berr(self.shown(dir), "expected a directory")),
            Some(_) => {}
        }
        let p = self.path(dir);
        let rd = std::fs::read_dir(&p).map_err(|e| berr(self.shown(dir), format!("cannot list: {e}")))?;
        let mut out = Vec::new();
        for e in rd {
            let e = e.map_err(|e| berr(self.shown(dir), format!("cannot list: {e}")))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = if dir.is_empty() { name.clone() } else { format!("{dir}/{name}") };
            // The entry's own type (lstat semantics): a link is refused, never followed.
            let t = e.file_type().map_err(|err| berr(rel.as_str(), format!("cannot stat: {err}")))?;
            let kind = if t.is_symlink() {
                return Err(berr(rel, LINK));
            } else if t.is_dir() {
                ItemKind::Dir
            } else if t.is_file() {
                ItemKind::File
            } else {
                return Err(berr(rel, SPECIAL));
            };
            out.push(Item { name, kind });
        }
        Ok(Some(out))
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, BundleError> {
        match self.walk(path)? {
            None => return Err(berr(path, "cannot read: not found")),
            Some(t) if !t.is_file() => return Err(berr(path, "cannot read: not a regular file")),
            Some(_) => {}
        }
        let max = max_file_bytes(path);
        // No-follow and non-blocking even after the check above, in case the file is swapped meanwhile.
        let f =
            crate::files::open_regular(&self.path(path), false).map_err(|e| berr(path, format!("cannot read: {e}")))?;
        let mut out = Vec::new();
        f.take(max + 1).read_to_end(&mut out).map_err(|e| berr(path, format!("cannot read: {e}")))?;
        if out.len() as u64 > max {
            return Err(berr(path, format!("文件超过此类文件的大小上限 {max} 字节 (larger than the limit of {max} bytes for this kind of file)")));
        }
        Ok(out)
    }

    fn kind(&self, path: &str) -> Option<ItemKind> {
        // A link or special file counts as a file: reading it is then refused by name.
        match self.walk(path) {
            Ok(None) => None,
            Ok(Some(t)) if t.is_dir() => Some(ItemKind::Dir),
            _ => Some(ItemKind::File),
        }
    }
}
