//! Evaluator bundles: a directory anyone can check offline, trusting no node (DESIGN §5).
//!
//! Layout, per origin `<code>` (a single node's bundle holds its own origin; a federation bundle every origin the
//! province holds):
//! - `keys/<code>.pem` — the origin's current SM2 public key (SPKI PEM);
//! - `checkpoints/<code>/<size>.note` — exact signed checkpoint bytes, with `<size>.sig` (DER SM2 signature);
//! - `entries/<code>/<first>.pack` with `<first>.idx` — packs of up to 256 consecutive entries ([`pack`]): each
//!   entry's exact leaf bytes (also the signed bytes), its DER signature and its record body, whose SM3 digest is
//!   the `payload-sm3` inside the leaf (left out where the payload may not leave its origin or holds personal
//!   information); so a bundle has O(entries / 256) files and its packs are the raw bytes;
//! - `VERIFYING.md` and `verify-openssl.sh` — how to check all of it with OpenSSL alone.
//!
//! A federation bundle (`gongxin export-bundle --all` on the province) adds:
//! - `registry.json` — the newest registry document, byte for byte the payload of the newest `registry` leaf of
//!   the province log (so it is signed by the province through that leaf);
//! - `keys/<code>/<n>.pem` — every key the registry lists for the node, oldest first (`n` from 0);
//! - `reports/<index>.json` with `<index>.sig` — the signed audit reports, byte for byte the payloads of the
//!   `audit_report` leaves at `<index>` of the province log, and the DER signature of [`Report::signed_bytes`];
//! - `audit/<code>.note` with `<code>.sig` — the origin-signed checkpoint the last audit accepted;
//! - `proofs/<code>/<old>-<new>.proof` — RFC 9162 consistency proof (one lowercase hex hash per line) from the
//!   audited size to the newest checkpoint.
//!
//! Writing is the CLI's job (it fetches from the node's admin API, `admin-cli/src/bundle/`); checking is
//! [`verify_with`], over a [`BundleSource`] (the CLI's directory reader, or anything else holding the files), so
//! this crate does no I/O. The rules checked are the node's own (`merkle`, `checkpoint`, `envelope`, `registry`,
//! `audit` with its one orchestration [`crate::audit::audit_subtree`], `crypto`), never a second copy.

mod federation;
mod origin;
pub mod pack;

use crate::audit::Report;
use crate::checkpoint::SignedCheckpoint;
use crate::crypto::{PublicKey, Verifier};
use std::collections::{BTreeMap, BTreeSet};

/// Top-level names of a single-node bundle.
const SINGLE_NAMES: [&str; 5] = ["keys", "checkpoints", "entries", "VERIFYING.md", "verify-openssl.sh"];
/// Top-level names only a federation bundle has.
const FEDERATION_NAMES: [&str; 4] = ["registry.json", "reports", "audit", "proofs"];

/// The first bad object found, named by its path inside the bundle.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{file}: {reason}")]
pub struct BundleError {
    pub file: String,
    pub reason: String,
}

/// A [`BundleError`] about `file` (a path inside the bundle).
pub fn berr(file: impl Into<String>, reason: impl Into<String>) -> BundleError {
    BundleError { file: file.into(), reason: reason.into() }
}

/// What a path inside a bundle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    File,
    Dir,
}

/// One name in a bundle directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub name: String,
    pub kind: ItemKind,
}

/// Where the files of a bundle come from. Paths are relative to the bundle root, `/`-separated (`""` is the root
/// itself, `entries/430102/0.pack` a pack of entries), so every error names the file inside the bundle. Errors of the source
/// itself (unreadable files) name the path too.
pub trait BundleSource {
    /// How the bundle itself is named in messages (for a directory: its path).
    fn name(&self) -> String;
    /// The names in directory `dir`, in any order; `None` when `dir` does not exist, an error when it is not a
    /// directory or cannot be listed.
    fn list(&self, dir: &str) -> Result<Option<Vec<Item>>, BundleError>;
    /// The bytes of file `path`. A source reading from outside refuses files longer than
    /// [`max_file_bytes`], symbolic links and special files (FIFOs, devices) without blocking on them.
    fn read(&self, path: &str) -> Result<Vec<u8>, BundleError>;
    /// What `path` is, `None` when it does not exist.
    fn kind(&self, path: &str) -> Option<ItemKind>;
}

/// The most bytes a [`BundleSource`] reads of the file at `path` (bundle-relative), by kind: every file of a
/// bundle is bounded before it is read, so a hostile bundle (a huge file, `/dev/zero` behind a name) cannot
/// exhaust the evaluator's memory. Signatures, notes and keys are far smaller than these; packs hold at most
/// one entry past their byte target; the registry and reports are bounded well above what a node stores.
pub fn max_file_bytes(path: &str) -> u64 {
    let (top, name) = (path.split('/').next().unwrap_or(""), path.rsplit('/').next().unwrap_or(""));
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    match (top, ext) {
        (_, "sig") => 1 << 10,
        (_, "note") => 8 << 10,
        ("keys", _) => 16 << 10,
        ("entries", "pack") => pack::MAX_PACK_BYTES,
        ("entries", "idx") => pack::MAX_INDEX_BYTES,
        ("proofs", _) => 64 << 10,
        ("registry.json", _) | ("reports", _) => 16 << 20,
        _ => 1 << 20,
    }
}

/// A bundle held in memory (tests, fuzzing): files by bundle-relative path; directories are the prefixes.
#[derive(Debug, Clone, Default)]
pub struct MemSource(pub BTreeMap<String, Vec<u8>>);

impl BundleSource for MemSource {
    fn name(&self) -> String {
        "mem:".into()
    }
    fn list(&self, dir: &str) -> Result<Option<Vec<Item>>, BundleError> {
        if self.0.contains_key(dir) {
            return Err(berr(dir, "expected a directory"));
        }
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let mut items: BTreeMap<String, ItemKind> = BTreeMap::new();
        for rest in self.0.keys().filter_map(|k| k.strip_prefix(&prefix)) {
            match rest.split_once('/') {
                Some((d, _)) => items.insert(d.to_string(), ItemKind::Dir),
                None => items.insert(rest.to_string(), ItemKind::File),
            };
        }
        if items.is_empty() && !dir.is_empty() {
            return Ok(None);
        }
        Ok(Some(items.into_iter().map(|(name, kind)| Item { name, kind }).collect()))
    }
    fn read(&self, path: &str) -> Result<Vec<u8>, BundleError> {
        self.0.get(path).cloned().ok_or_else(|| berr(path, "cannot read: not found"))
    }
    fn kind(&self, path: &str) -> Option<ItemKind> {
        if self.0.contains_key(path) {
            Some(ItemKind::File)
        } else if path.is_empty() || self.0.keys().any(|k| k.starts_with(&format!("{path}/"))) {
            Some(ItemKind::Dir)
        } else {
            None
        }
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

/// One signed audit report found in a federation bundle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportCheck {
    /// Its index in the province log (`reports/<index>.json`).
    pub index: u64,
    pub at: String,
    pub origins: usize,
    /// Origins the report did not find `ok`.
    pub not_ok: Vec<String>,
}

/// What [`verify`] checked of a federation bundle beyond its origins.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FederationCheck {
    pub province: String,
    /// SM3 of the SPKI DER of the province's current key: compare it with the anchor received out of band
    /// (`openssl pkey -pubin -in keys/<province>.pem -outform DER | openssl dgst -sm3`).
    pub province_key_sm3: String,
    /// True when the caller gave the anchor and it matched.
    pub anchor_pinned: bool,
    pub registry_version: u64,
    /// Index of the registry's leaf in the province log.
    pub registry_index: u64,
    pub reports: Vec<ReportCheck>,
    /// Origins with an audited checkpoint and a verified consistency proof to their newest checkpoint.
    pub proofs: u64,
    /// The audit rules of `core::audit` re-run offline over the bundle, as of the newest signed time in it,
    /// with the evidence of the newest signed report carried over. Unsigned (`signature` empty).
    pub audit: Report,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BundleReport {
    pub origins: Vec<OriginReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub federation: Option<FederationCheck>,
}

/// `dir/name` (`name` at the root).
fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// One name of a listed directory, split at its first dot.
struct Listed {
    stem: String,
    ext: String,
    path: String,
    is_dir: bool,
}

/// Lists `dir` by (stem, extension); a missing directory is empty.
fn list<S: BundleSource + ?Sized>(src: &S, dir: &str) -> Result<Vec<Listed>, BundleError> {
    let Some(items) = src.list(dir)? else { return Ok(Vec::new()) };
    let mut out: Vec<Listed> = items
        .into_iter()
        .map(|it| {
            let (stem, ext) = it.name.split_once('.').unwrap_or((&it.name, ""));
            Listed {
                stem: stem.to_string(),
                ext: ext.to_string(),
                path: join(dir, &it.name),
                is_dir: it.kind == ItemKind::Dir,
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.stem, &a.ext, &a.path).cmp(&(&b.stem, &b.ext, &b.path)));
    Ok(out)
}

fn exists<S: BundleSource + ?Sized>(src: &S, path: &str) -> bool {
    src.kind(path).is_some()
}

fn parse_index(stem: &str, path: &str) -> Result<u64, BundleError> {
    match stem.parse::<u64>() {
        Ok(i) if i.to_string() == stem => Ok(i),
        _ => Err(berr(path, "unexpected file: name is not a decimal index")),
    }
}

fn is_code(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit())
}

fn load_key<S: BundleSource + ?Sized>(src: &S, path: &str) -> Result<PublicKey, BundleError> {
    let pem = String::from_utf8(src.read(path)?).map_err(|_| berr(path, "not UTF-8 PEM"))?;
    PublicKey::from_spki_pem(&pem).map_err(|e| berr(path, e.to_string()))
}

/// A signed note and its signature file; `what` names it in the message when the signature is missing.
fn read_signed<S: BundleSource + ?Sized>(
    src: &S,
    note_path: &str,
    sig_path: &str,
    what: &str,
) -> Result<SignedCheckpoint, BundleError> {
    if !exists(src, sig_path) {
        return Err(berr(sig_path, format!("missing signature of the {what}")));
    }
    Ok(SignedCheckpoint { note: src.read(note_path)?, signature: src.read(sig_path)? })
}

/// A signature by any of `keys` (the newest first).
fn signed_by_any(verifier: &Verifier, keys: &[PublicKey], msg: &[u8], sig: &[u8]) -> bool {
    verifier.verify_any(keys, msg, sig).is_ok()
}

/// Checks a whole bundle offline; see [`verify_with`].
pub fn verify<S: BundleSource + ?Sized>(src: &S) -> Result<BundleReport, BundleError> {
    verify_with(src, None)
}

/// Checks a whole bundle offline: every signature (checkpoints and entries) against the origin's keys, leaf
/// contents (origin, index), payload digests, index continuity, and that the Merkle root re-derived from the
/// leaves equals every signed checkpoint's root. A federation bundle (one with `registry.json`) is also checked
/// for: the registry being the newest one the province log publishes, every key being the registry's, every
/// audit report signed by the province and published in its log and covering no more than the bundle holds, every
/// audited checkpoint signed and consistent (proof and re-derived root) with the newest checkpoint. `anchor`, when
/// given, pins the province key. Returns the first bad object.
pub fn verify_with<S: BundleSource + ?Sized>(src: &S, anchor: Option<&PublicKey>) -> Result<BundleReport, BundleError> {
    let top = match (src.kind(""), src.list("")) {
        (Some(ItemKind::Dir), Ok(Some(items))) => items,
        (Some(ItemKind::Dir), Err(e)) => return Err(e),
        _ => return Err(berr(src.name(), "not a bundle directory")),
    };
    let federation = exists(src, "registry.json");
    let mut names: Vec<String> = top.into_iter().map(|i| i.name).collect();
    names.sort();
    for name in &names {
        if SINGLE_NAMES.contains(&name.as_str()) {
            continue;
        }
        if FEDERATION_NAMES.contains(&name.as_str()) {
            if !federation {
                return Err(berr(
                    "registry.json",
                    format!("missing: the bundle has {name}, which only a federation bundle has"),
                ));
            }
            continue;
        }
        return Err(berr(name.as_str(), "unexpected file or directory in a bundle"));
    }
    if anchor.is_some() && !federation {
        return Err(berr("registry.json", "missing: a province anchor was given but this is not a federation bundle"));
    }

    // Keys: `<code>.pem`, and in a federation bundle the history directory `<code>/`.
    let mut codes = BTreeSet::new();
    let mut history = BTreeSet::new();
    for l in list(src, "keys")? {
        if l.ext == "pem" && is_code(&l.stem) {
            codes.insert(l.stem);
        } else if federation && l.ext.is_empty() && is_code(&l.stem) && l.is_dir {
            history.insert(l.stem);
        } else {
            let want = if federation { "<code>.pem or <code>/<n>.pem" } else { "<code>.pem" };
            return Err(berr(l.path, format!("unexpected file in keys/ (expected {want})")));
        }
    }
    let mut dirs = vec!["checkpoints", "entries"];
    if federation {
        dirs.push("proofs");
    }
    for d in dirs {
        for l in list(src, d)? {
            if !l.ext.is_empty() || !is_code(&l.stem) || !l.is_dir {
                return Err(berr(l.path, format!("unexpected entry in {d}/ (expected a <code> directory)")));
            }
            if !codes.contains(&l.stem) {
                return Err(berr(
                    format!("keys/{}.pem", l.stem),
                    format!("missing: the bundle has {} but no key of origin {}", l.path, l.stem),
                ));
            }
        }
    }
    if codes.is_empty() {
        return Err(berr("keys/", "the bundle holds no origin key"));
    }
    let verifier = Verifier::new();
    if !federation {
        let mut origins = Vec::new();
        for code in &codes {
            let key = load_key(src, &format!("keys/{code}.pem"))?;
            origins.push(origin::verify_origin(src, code, &[key], &verifier, &[], false)?.report);
        }
        return Ok(BundleReport { origins, federation: None });
    }
    federation::verify_federation(src, &codes, &history, &verifier, anchor)
}

#[cfg(test)]
pub(crate) mod tests;
