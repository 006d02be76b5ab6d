//! Evaluator bundles: a directory anyone can check offline, trusting no node (DESIGN §5).
//!
//! Layout, per origin `<code>`:
//! - `keys/<code>.pem` — the origin's SM2 public key (SPKI PEM);
//! - `checkpoints/<code>/<size>.note` — exact signed checkpoint bytes, with `<size>.sig` (DER SM2 signature);
//! - `entries/<code>/<index>.bin` — exact leaf bytes (also the signed bytes), with `<index>.sig`;
//! - `payloads/<code>/<index>.<ext>` — record bodies whose SM3 digest is the `payload-sm3` inside the leaf
//!   (absent where the payload may not leave its origin);
//! - `VERIFYING.md` and `verify-openssl.sh` — how to check all of it with OpenSSL alone.
//!
//! Writing is the CLI's job (it fetches from the node's admin API); checking is [`verify`], used by
//! `gongxin verify-bundle` and the tests. The rules checked are the node's own (`core::merkle`,
//! `core::checkpoint`, `core::envelope`, `crypto`), never a second copy.

use crate::core::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::core::envelope::LeafHeader;
use crate::core::merkle::Frontier;
use crate::crypto::{self, Digest, PublicKey, Verifier};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

const VERIFYING_MD: &str = include_str!("bundle/VERIFYING.md");
const VERIFY_SH: &str = include_str!("bundle/verify-openssl.sh");

/// The first bad object found, named by its path inside the bundle.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{file}: {reason}")]
pub struct BundleError {
    pub file: String,
    pub reason: String,
}

fn berr(file: impl Into<String>, reason: impl Into<String>) -> BundleError {
    BundleError { file: file.into(), reason: reason.into() }
}

/// Writes a bundle directory. Refuses to write into a non-empty directory.
pub struct BundleWriter {
    root: PathBuf,
}

impl BundleWriter {
    pub fn create(root: &Path) -> std::io::Result<Self> {
        if root.exists() && std::fs::read_dir(root)?.next().is_some() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not empty; choose a new --out directory", root.display()),
            ));
        }
        for d in ["keys", "checkpoints", "entries", "payloads"] {
            std::fs::create_dir_all(root.join(d))?;
        }
        Ok(Self { root: root.to_path_buf() })
    }

    fn put(&self, rel: &str, bytes: &[u8]) -> std::io::Result<()> {
        let p = self.root.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut f = std::fs::File::create(&p)?;
        f.write_all(bytes)
    }

    pub fn key(&self, code: &str, key: &PublicKey) -> std::io::Result<()> {
        self.put(&format!("keys/{code}.pem"), key.to_spki_pem().as_bytes())
    }

    pub fn checkpoint(&self, code: &str, size: u64, cp: &SignedCheckpoint) -> std::io::Result<()> {
        self.put(&format!("checkpoints/{code}/{size}.note"), &cp.note)?;
        self.put(&format!("checkpoints/{code}/{size}.sig"), &cp.signature)
    }

    pub fn entry(
        &self,
        code: &str,
        index: u64,
        leaf: &[u8],
        signature: &[u8],
        payload: Option<(&[u8], &str)>,
    ) -> std::io::Result<()> {
        self.put(&format!("entries/{code}/{index}.bin"), leaf)?;
        self.put(&format!("entries/{code}/{index}.sig"), signature)?;
        if let Some((bytes, ext)) = payload {
            let ext = if ext.chars().all(|c| c.is_ascii_alphanumeric()) && !ext.is_empty() { ext } else { "bin" };
            self.put(&format!("payloads/{code}/{index}.{ext}"), bytes)?;
        }
        Ok(())
    }

    /// Writes the OpenSSL guide and script. Call last.
    pub fn finish(self) -> std::io::Result<PathBuf> {
        self.put("VERIFYING.md", VERIFYING_MD.as_bytes())?;
        self.put("verify-openssl.sh", VERIFY_SH.as_bytes())?;
        Ok(self.root)
    }
}

/// What [`verify`] checked for one origin.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OriginReport {
    pub code: String,
    pub entries: u64,
    pub checkpoints: u64,
    pub payloads: u64,
    pub latest_size: u64,
    pub root: String,
    pub latest_timestamp: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BundleReport {
    pub origins: Vec<OriginReport>,
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

fn read(root: &Path, p: &Path) -> Result<Vec<u8>, BundleError> {
    std::fs::read(p).map_err(|e| berr(rel(root, p), format!("cannot read: {e}")))
}

/// Lists `dir` as (stem, extension, path); a missing directory is empty.
fn list(root: &Path, dir: &Path) -> Result<Vec<(String, String, PathBuf)>, BundleError> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| berr(rel(root, dir), format!("cannot list: {e}")))?;
    for e in rd {
        let e = e.map_err(|e| berr(rel(root, dir), format!("cannot list: {e}")))?;
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let (stem, ext) = name.split_once('.').unwrap_or((&name, ""));
        out.push((stem.to_string(), ext.to_string(), p));
    }
    out.sort();
    Ok(out)
}

fn parse_index(root: &Path, stem: &str, p: &Path) -> Result<u64, BundleError> {
    match stem.parse::<u64>() {
        Ok(i) if i.to_string() == stem => Ok(i),
        _ => Err(berr(rel(root, p), "unexpected file: name is not a decimal index")),
    }
}

fn is_code(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Checks a whole bundle offline: every signature (checkpoints and entries) against the origin's key, leaf
/// contents (origin, index), payload digests, index continuity, and that the Merkle root re-derived from the
/// leaves equals every signed checkpoint's root. Returns the first bad object.
pub fn verify(root: &Path) -> Result<BundleReport, BundleError> {
    if !root.is_dir() {
        return Err(berr(root.display().to_string(), "not a bundle directory"));
    }
    let mut codes = BTreeSet::new();
    for (stem, ext, p) in list(root, &root.join("keys"))? {
        if ext != "pem" || !is_code(&stem) {
            return Err(berr(rel(root, &p), "unexpected file in keys/ (expected <code>.pem)"));
        }
        codes.insert(stem);
    }
    for d in ["checkpoints", "entries", "payloads"] {
        for (stem, ext, p) in list(root, &root.join(d))? {
            if !ext.is_empty() || !is_code(&stem) {
                return Err(berr(rel(root, &p), format!("unexpected entry in {d}/ (expected a <code> directory)")));
            }
            if !codes.contains(&stem) {
                return Err(berr(rel(root, &p), format!("origin {stem} has no key keys/{stem}.pem")));
            }
        }
    }
    if codes.is_empty() {
        return Err(berr("keys/", "the bundle holds no origin key"));
    }
    let verifier = Verifier::new();
    let origins = codes.iter().map(|c| verify_origin(root, c, &verifier)).collect::<Result<Vec<_>, _>>()?;
    Ok(BundleReport { origins })
}

fn verify_origin(root: &Path, code: &str, verifier: &Verifier) -> Result<OriginReport, BundleError> {
    let key_path = root.join("keys").join(format!("{code}.pem"));
    let pem = String::from_utf8(read(root, &key_path)?).map_err(|_| berr(rel(root, &key_path), "not UTF-8 PEM"))?;
    let key = PublicKey::from_spki_pem(&pem).map_err(|e| berr(rel(root, &key_path), e.to_string()))?;

    // Checkpoints: signature, origin, size; collected by size.
    let mut checkpoints: BTreeMap<u64, (Checkpoint, PathBuf)> = BTreeMap::new();
    let cdir = root.join("checkpoints").join(code);
    let files = list(root, &cdir)?;
    for (stem, ext, p) in &files {
        let size = parse_index(root, stem, p)?;
        match ext.as_str() {
            "note" => {
                let sig_path = p.with_extension("sig");
                if !sig_path.exists() {
                    return Err(berr(rel(root, &sig_path), "missing signature of the checkpoint"));
                }
                let signed = SignedCheckpoint { note: read(root, p)?, signature: read(root, &sig_path)? };
                verifier
                    .verify(&key, &signed.note, &signed.signature)
                    .map_err(|e| berr(rel(root, &sig_path), format!("checkpoint {e}")))?;
                let cp = signed.parse().map_err(|e| berr(rel(root, p), e.to_string()))?;
                if cp.origin_code() != Some(code) {
                    return Err(berr(rel(root, p), format!("origin line {:?} does not name {code}", cp.origin)));
                }
                if cp.size != size {
                    return Err(berr(rel(root, p), format!("checkpoint size {} does not match file name", cp.size)));
                }
                checkpoints.insert(size, (cp, p.clone()));
            }
            "sig" => {
                if !p.with_extension("note").exists() {
                    return Err(berr(
                        rel(root, &p.with_extension("note")),
                        "missing checkpoint note (its signature is present)",
                    ));
                }
            }
            _ => return Err(berr(rel(root, p), "unexpected file (expected <size>.note / <size>.sig)")),
        }
    }
    let Some((&latest_size, (latest_cp, _))) = checkpoints.iter().next_back() else {
        return Err(berr(rel(root, &cdir), format!("no signed checkpoint for origin {code}")));
    };
    let latest_timestamp = latest_cp.timestamp().map(str::to_string);

    // Entries: contiguous 0..n, each .bin with its .sig.
    let edir = root.join("entries").join(code);
    let mut indices = BTreeSet::new();
    for (stem, ext, p) in list(root, &edir)? {
        let i = parse_index(root, &stem, &p)?;
        match ext.as_str() {
            "bin" => {
                indices.insert(i);
            }
            "sig" => {
                if !p.with_extension("bin").exists() {
                    return Err(berr(rel(root, &p.with_extension("bin")), "missing leaf (its signature is present)"));
                }
            }
            _ => return Err(berr(rel(root, &p), "unexpected file (expected <index>.bin / <index>.sig)")),
        }
    }
    let n = indices.len() as u64;
    if let Some(missing) = (0..n).find(|i| !indices.contains(i)) {
        return Err(berr(format!("entries/{code}/{missing}.bin"), "missing leaf: indices must be contiguous from 0"));
    }
    if latest_size != n {
        let (p, why) = if latest_size > n {
            (format!("entries/{code}/{n}.bin"), format!("missing leaf: the checkpoint of size {latest_size} covers it"))
        } else {
            (format!("entries/{code}/{latest_size}.bin"), "leaf beyond the latest signed checkpoint".to_string())
        };
        return Err(berr(p, why));
    }

    // Payloads by index.
    let mut payloads: BTreeMap<u64, PathBuf> = BTreeMap::new();
    for (stem, _ext, p) in list(root, &root.join("payloads").join(code))? {
        let i = parse_index(root, &stem, &p)?;
        if i >= n {
            return Err(berr(rel(root, &p), "payload of a leaf that is not in the bundle"));
        }
        if payloads.insert(i, p.clone()).is_some() {
            return Err(berr(rel(root, &p), "second payload for the same leaf"));
        }
    }

    // Walk the leaves in order: signature, header, payload digest, and the root at every checkpoint size.
    let mut frontier = Frontier::new();
    let check_root = |frontier: &Frontier| -> Result<(), BundleError> {
        if let Some((cp, p)) = checkpoints.get(&frontier.size()) {
            if cp.root != frontier.root() {
                return Err(berr(
                    rel(root, p),
                    format!(
                        "root {} differs from the root {} re-derived from the leaves",
                        hex::encode(cp.root),
                        hex::encode(frontier.root())
                    ),
                ));
            }
        }
        Ok(())
    };
    check_root(&frontier)?;
    // Signatures are checked a chunk at a time on all cores (the shared verifier, with a table for this key);
    // everything else in index order, so the first bad object reported is the first in the log.
    const CHUNK: u64 = 4096;
    verifier.register(&key);
    let mut at = 0;
    while at < n {
        let upto = (at + CHUNK).min(n);
        let mut chunk = Vec::with_capacity((upto - at) as usize);
        for i in at..upto {
            let leaf_path = edir.join(format!("{i}.bin"));
            let sig_path = edir.join(format!("{i}.sig"));
            let leaf = read(root, &leaf_path)?;
            if !sig_path.exists() {
                return Err(berr(rel(root, &sig_path), "missing signature of the leaf"));
            }
            let sig = read(root, &sig_path)?;
            chunk.push((i, leaf_path, sig_path, leaf, sig));
        }
        let items: Vec<(&PublicKey, &[u8], &[u8])> =
            chunk.iter().map(|(_, _, _, leaf, sig)| (&key, leaf.as_slice(), sig.as_slice())).collect();
        let verdicts = verifier.verify_batch(&items);
        for ((i, leaf_path, sig_path, leaf, _), verdict) in chunk.iter().zip(verdicts) {
            let i = *i;
            verdict.map_err(|e| berr(rel(root, sig_path), e.to_string()))?;
            let h = LeafHeader::decode(leaf).map_err(|e| berr(rel(root, leaf_path), e.to_string()))?;
            if h.origin != code || h.index != i {
                return Err(berr(
                    rel(root, leaf_path),
                    format!("leaf says origin {} index {}, expected {code} {i}", h.origin, h.index),
                ));
            }
            if let Some(p) = payloads.get(&i) {
                let d: Digest = crypto::sm3(&read(root, p)?);
                if d != h.payload_digest {
                    return Err(berr(
                        rel(root, p),
                        format!(
                            "SM3 {} differs from payload-sm3 {} in the signed leaf",
                            hex::encode(d),
                            hex::encode(h.payload_digest)
                        ),
                    ));
                }
            }
            frontier.push_leaf(leaf);
            check_root(&frontier)?;
        }
        at = upto;
    }
    Ok(OriginReport {
        code: code.to_string(),
        entries: n,
        checkpoints: checkpoints.len() as u64,
        payloads: payloads.len() as u64,
        latest_size,
        root: hex::encode(frontier.root()),
        latest_timestamp,
    })
}
