//! Writes a bundle directory (the layout of `gongxin_core::bundle`), from what the CLI fetched over the node's
//! admin API.

use gongxin_core::audit::Report;
use gongxin_core::bundle::pack::{Pack, Packer};
use gongxin_core::checkpoint::SignedCheckpoint;
use gongxin_core::crypto::{Digest, PublicKey};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Whether a payload is a record holding personal information (judged on the day of the export, China time).
/// System payloads (registry, catalogue, reports) are not records and are always written.
fn holds_personal_data(payload: &[u8]) -> bool {
    let Ok(r) = serde_json::from_slice::<gongxin_core::record::Record>(payload) else { return false };
    // Without a clock the minor test cannot be made: the payload is treated as personal.
    crate::validate::today_cn().is_none_or(|today| gongxin_core::mask::holds_personal_data(&r, today))
}

/// The guide and script this CLI ships; `verify-bundle` checks a bundle's copies against them byte for byte.
pub const VERIFYING_MD: &str = include_str!("VERIFYING.md");
pub const VERIFY_SH: &str = include_str!("verify-openssl.sh");

/// Writes a bundle directory. Refuses to write into a non-empty directory or through a symbolic link; an
/// unmasked bundle holds full ID numbers in its payloads, so directories are 0700 and files 0600, each file
/// created new (`O_EXCL | O_NOFOLLOW`).
///
/// By default ([`BundleWriter::create`]) a record payload that holds personal information
/// (`gongxin_core::mask::holds_personal_data`) is left out: its signed leaf and signature are written, so every
/// root still verifies, and the leaf's payload digest stays unchecked, as for 不予共享 payloads. Payloads are
/// written whole only by [`BundleWriter::create_unmasked`] (`export-bundle --unmasked`, an operator's choice).
pub struct BundleWriter {
    root: PathBuf,
    /// Leave out payloads with personal information.
    masked: bool,
    /// Payloads left out so far (for the summary).
    withheld: std::sync::atomic::AtomicU64,
    /// The open pack of each origin (entries arrive in index order per origin).
    packers: std::sync::Mutex<BTreeMap<String, Packer>>,
}

impl BundleWriter {
    /// A bundle for the public record: payloads with personal information are left out.
    pub fn create(root: &Path) -> std::io::Result<Self> {
        Self::open(root, true)
    }

    /// A bundle with every payload as stored (full ID numbers included).
    pub fn create_unmasked(root: &Path) -> std::io::Result<Self> {
        Self::open(root, false)
    }

    /// Payloads left out because they hold personal information.
    pub fn withheld(&self) -> u64 {
        self.withheld.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn open(root: &Path, masked: bool) -> std::io::Result<Self> {
        match std::fs::symlink_metadata(root) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{} 是符号链接 is a symbolic link; choose a new --out directory", root.display()),
                ))
            }
            Ok(_) if std::fs::read_dir(root)?.next().is_some() => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not empty; choose a new --out directory", root.display()),
                ))
            }
            Ok(_) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700))?;
                }
            }
            Err(_) => crate::files::create_private_dir(root)?,
        }
        let w = Self { root: root.to_path_buf(), masked, withheld: Default::default(), packers: Default::default() };
        for d in ["keys", "checkpoints", "entries"] {
            w.dirs(d)?;
        }
        Ok(w)
    }

    /// Creates `rel` and its parents inside the bundle, 0700 each, refusing a symbolic link in the way.
    fn dirs(&self, rel: &str) -> std::io::Result<()> {
        let mut p = self.root.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p.push(part);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_dir() => {}
                Ok(_) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        format!("{} exists and is not a directory", p.display()),
                    ))
                }
                Err(_) => crate::files::create_private_dir(&p)?,
            }
        }
        Ok(())
    }

    fn put(&self, rel: &str, bytes: &[u8]) -> std::io::Result<()> {
        if let Some((parent, _)) = rel.rsplit_once('/') {
            self.dirs(parent)?;
        }
        let mut f = crate::files::create_new_private(&self.root.join(rel))?;
        f.write_all(bytes)
    }

    pub fn key(&self, code: &str, key: &PublicKey) -> std::io::Result<()> {
        self.put(&format!("keys/{code}.pem"), key.to_spki_pem().as_bytes())
    }

    /// Federation bundles: every key of the node, oldest first, as the registry lists them; the last one is
    /// also written as the current key `keys/<code>.pem`.
    pub fn key_history(&self, code: &str, keys: &[PublicKey]) -> std::io::Result<()> {
        for (n, k) in keys.iter().enumerate() {
            self.put(&format!("keys/{code}/{n}.pem"), k.to_spki_pem().as_bytes())?;
        }
        match keys.last() {
            Some(k) => self.key(code, k),
            None => Ok(()),
        }
    }

    pub fn checkpoint(&self, code: &str, size: u64, cp: &SignedCheckpoint) -> std::io::Result<()> {
        self.put(&format!("checkpoints/{code}/{size}.note"), &cp.note)?;
        self.put(&format!("checkpoints/{code}/{size}.sig"), &cp.signature)
    }

    /// Entry `index` of origin `code` (entries of one origin in index order): its leaf, signature and payload
    /// go into the origin's open pack, written out as `entries/<code>/<first>.pack` and `.idx` when it is full.
    pub fn entry(
        &self,
        code: &str,
        index: u64,
        leaf: &[u8],
        signature: &[u8],
        payload: Option<(&[u8], &str)>,
    ) -> std::io::Result<()> {
        let payload = match payload {
            Some((bytes, _)) if self.masked && holds_personal_data(bytes) => {
                self.withheld.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                None
            }
            Some((bytes, ext)) => {
                let ext = if gongxin_core::bundle::pack::is_ext(ext) { ext } else { "bin" };
                Some((bytes, ext))
            }
            None => None,
        };
        let closed = {
            let mut packers = self.packers.lock().unwrap_or_else(|p| p.into_inner());
            let packer = packers.entry(code.to_string()).or_default();
            packer
                .push(index, leaf, signature, payload)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("origin {code}: {e}")))?
        };
        match closed {
            Some(p) => self.pack(code, &p),
            None => Ok(()),
        }
    }

    fn pack(&self, code: &str, p: &Pack) -> std::io::Result<()> {
        self.put(&format!("entries/{code}/{}.pack", p.first), &p.bytes)?;
        self.put(&format!("entries/{code}/{}.idx", p.first), p.index.as_bytes())
    }

    /// The registry document, exactly the payload of the newest `registry` leaf of the province log.
    pub fn registry(&self, json: &[u8]) -> std::io::Result<()> {
        self.put("registry.json", json)
    }

    /// A signed audit report, exactly the payload of the `audit_report` leaf at `index` of the province log.
    /// Its DER signature (decoded from the report's `signature` field) is written beside it (empty when the
    /// payload is not a signed report: `verify-bundle` then names the file).
    pub fn report(&self, index: u64, json: &[u8]) -> std::io::Result<()> {
        use base64::Engine as _;
        let sig = serde_json::from_slice::<Report>(json)
            .ok()
            .and_then(|r| base64::engine::general_purpose::STANDARD.decode(r.signature).ok())
            .unwrap_or_default();
        self.put(&format!("reports/{index}.json"), json)?;
        self.put(&format!("reports/{index}.sig"), &sig)
    }

    /// The origin-signed checkpoint the last audit accepted for `code`.
    pub fn audit_mark(&self, code: &str, cp: &SignedCheckpoint) -> std::io::Result<()> {
        self.put(&format!("audit/{code}.note"), &cp.note)?;
        self.put(&format!("audit/{code}.sig"), &cp.signature)
    }

    /// The consistency proof from the audited size `old` to the newest checkpoint size `new`.
    pub fn proof(&self, code: &str, old: u64, new: u64, proof: &[Digest]) -> std::io::Result<()> {
        let text: String = proof.iter().map(|h| hex::encode(h) + "\n").collect();
        self.put(&format!("proofs/{code}/{old}-{new}.proof"), text.as_bytes())
    }

    /// Writes the packs still open, then the OpenSSL guide and script. Call last.
    pub fn finish(self) -> std::io::Result<PathBuf> {
        let open: Vec<(String, Pack)> = {
            let mut packers = self.packers.lock().unwrap_or_else(|p| p.into_inner());
            packers.iter_mut().filter_map(|(code, p)| p.finish().map(|p| (code.clone(), p))).collect()
        };
        for (code, p) in &open {
            self.pack(code, p)?;
        }
        self.put("VERIFYING.md", VERIFYING_MD.as_bytes())?;
        self.put("verify-openssl.sh", VERIFY_SH.as_bytes())?;
        Ok(self.root)
    }
}
