//! Evaluator bundles: a directory anyone can check offline, trusting no node (DESIGN §5).
//!
//! Layout, per origin `<code>` (a single node's bundle holds its own origin; a federation bundle every origin the
//! province holds):
//! - `keys/<code>.pem` — the origin's current SM2 public key (SPKI PEM);
//! - `checkpoints/<code>/<size>.note` — exact signed checkpoint bytes, with `<size>.sig` (DER SM2 signature);
//! - `entries/<code>/<index>.bin` — exact leaf bytes (also the signed bytes), with `<index>.sig`;
//! - `payloads/<code>/<index>.<ext>` — record bodies whose SM3 digest is the `payload-sm3` inside the leaf
//!   (absent where the payload may not leave its origin);
//! - `VERIFYING.md` and `verify-openssl.sh` — how to check all of it with OpenSSL alone.
//!
//! A federation bundle (`gongxin export-bundle --all` on the province) adds:
//! - `registry.json` — the newest registry document, byte for byte the payload of the newest `registry` leaf of
//!   the province log (so it is signed by the province through that leaf);
//! - `keys/<code>/<n>.pem` — every key the registry lists for the node, oldest first (`n` from 0);
//! - `reports/<index>.json` with `<index>.sig` — the signed audit reports, byte for byte the payloads of the
//!   `audit_report` leaves at `<index>` of the province log, and the DER signature of their signed bytes;
//! - `audit/<code>.note` with `<code>.sig` — the origin-signed checkpoint the last audit accepted;
//! - `proofs/<code>/<old>-<new>.proof` — RFC 9162 consistency proof (one lowercase hex hash per line) from the
//!   audited size to the newest checkpoint.
//!
//! Writing is the CLI's job (it fetches from the node's admin API); checking is [`verify`], used by
//! `gongxin verify-bundle` and the tests. The rules checked are the node's own (`core::merkle`,
//! `core::checkpoint`, `core::envelope`, `core::registry`, `core::audit`, `crypto`), never a second copy.

use base64::Engine as _;
use gongxin_core::audit::{Finding, Mark, OriginAudit, OriginResult, Report, Seen, Status, REPORT_KIND};
use gongxin_core::checkpoint::{Checkpoint, SignedCheckpoint};
use gongxin_core::crypto::{self, Digest, PublicKey, Verifier};
use gongxin_core::envelope::LeafHeader;
use gongxin_core::merkle::{self, Frontier};
use gongxin_core::registry::{Registry, REGISTRY_KIND};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

const VERIFYING_MD: &str = include_str!("bundle/VERIFYING.md");
const VERIFY_SH: &str = include_str!("bundle/verify-openssl.sh");

/// Top-level names of a single-node bundle.
const SINGLE_NAMES: [&str; 6] = ["keys", "checkpoints", "entries", "payloads", "VERIFYING.md", "verify-openssl.sh"];
/// Top-level names only a federation bundle has.
const FEDERATION_NAMES: [&str; 4] = ["registry.json", "reports", "audit", "proofs"];

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

    /// The registry document, exactly the payload of the newest `registry` leaf of the province log.
    pub fn registry(&self, json: &[u8]) -> std::io::Result<()> {
        self.put("registry.json", json)
    }

    /// A signed audit report, exactly the payload of the `audit_report` leaf at `index` of the province log.
    /// Its DER signature (decoded from the report's `signature` field) is written beside it.
    pub fn report(&self, index: u64, json: &[u8]) -> std::io::Result<()> {
        let sig = report_signed_parts(json).map(|(_, sig)| sig).unwrap_or_default();
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

    /// Writes the OpenSSL guide and script. Call last.
    pub fn finish(self) -> std::io::Result<PathBuf> {
        self.put("VERIFYING.md", VERIFYING_MD.as_bytes())?;
        self.put("verify-openssl.sh", VERIFY_SH.as_bytes())?;
        Ok(self.root)
    }
}

/// The bytes a report's signature covers and the DER signature, from the exact report JSON: the province signs
/// the report serialised with an empty `signature` field, which is the last field. So the signed bytes are the
/// file with its final `"signature":"<base64>"}` replaced by `"signature":""}`.
pub fn report_signed_parts(json: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    const FIELD: &[u8] = b",\"signature\":\"";
    let body = json.strip_suffix(b"\"}")?;
    let at = body.windows(FIELD.len()).rposition(|w| w == FIELD)?;
    let b64 = &body[at + FIELD.len()..];
    if b64.is_empty() || !b64.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')) {
        return None;
    }
    let sig = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let mut signed = body[..at + FIELD.len()].to_vec();
    signed.extend_from_slice(b"\"}");
    Some((signed, sig))
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
    if !dir.is_dir() {
        return Err(berr(rel(root, dir), "expected a directory"));
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

fn load_key(root: &Path, p: &Path) -> Result<PublicKey, BundleError> {
    let pem = String::from_utf8(read(root, p)?).map_err(|_| berr(rel(root, p), "not UTF-8 PEM"))?;
    PublicKey::from_spki_pem(&pem).map_err(|e| berr(rel(root, p), e.to_string()))
}

fn unix(ts: &str) -> Option<i64> {
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).ok().map(|t| t.unix_timestamp())
}

/// A signature by any of `keys` (the newest first).
fn signed_by_any(verifier: &Verifier, keys: &[PublicKey], msg: &[u8], sig: &[u8]) -> bool {
    verifier.verify_any(keys, msg, sig).is_ok()
}

/// Checks a whole bundle offline; see [`verify_with`].
pub fn verify(root: &Path) -> Result<BundleReport, BundleError> {
    verify_with(root, None)
}

/// Checks a whole bundle offline: every signature (checkpoints and entries) against the origin's keys, leaf
/// contents (origin, index), payload digests, index continuity, and that the Merkle root re-derived from the
/// leaves equals every signed checkpoint's root. A federation bundle (one with `registry.json`) is also checked
/// for: the registry being the newest one the province log publishes, every key being the registry's, every
/// audit report signed by the province and published in its log and covering no more than the bundle holds, every
/// audited checkpoint signed and consistent (proof and re-derived root) with the newest checkpoint. `anchor`, when
/// given, pins the province key. Returns the first bad object.
pub fn verify_with(root: &Path, anchor: Option<&PublicKey>) -> Result<BundleReport, BundleError> {
    if !root.is_dir() {
        return Err(berr(root.display().to_string(), "not a bundle directory"));
    }
    let federation = root.join("registry.json").exists();
    let top = std::fs::read_dir(root).map_err(|e| berr(root.display().to_string(), format!("cannot list: {e}")))?;
    let mut names: Vec<String> = Vec::new();
    for e in top {
        let e = e.map_err(|e| berr(root.display().to_string(), format!("cannot list: {e}")))?;
        names.push(e.file_name().to_string_lossy().into_owned());
    }
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
    for (stem, ext, p) in list(root, &root.join("keys"))? {
        if ext == "pem" && is_code(&stem) {
            codes.insert(stem);
        } else if federation && ext.is_empty() && is_code(&stem) && p.is_dir() {
            history.insert(stem);
        } else {
            let want = if federation { "<code>.pem or <code>/<n>.pem" } else { "<code>.pem" };
            return Err(berr(rel(root, &p), format!("unexpected file in keys/ (expected {want})")));
        }
    }
    let mut dirs = vec!["checkpoints", "entries", "payloads"];
    if federation {
        dirs.push("proofs");
    }
    for d in dirs {
        for (stem, ext, p) in list(root, &root.join(d))? {
            if !ext.is_empty() || !is_code(&stem) || !p.is_dir() {
                return Err(berr(rel(root, &p), format!("unexpected entry in {d}/ (expected a <code> directory)")));
            }
            if !codes.contains(&stem) {
                return Err(berr(
                    format!("keys/{stem}.pem"),
                    format!("missing: the bundle has {} but no key of origin {stem}", rel(root, &p)),
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
            let key = load_key(root, &root.join("keys").join(format!("{code}.pem")))?;
            origins.push(verify_origin(root, code, &[key], &verifier, &[], false)?.report);
        }
        return Ok(BundleReport { origins, federation: None });
    }
    verify_federation(root, &codes, &history, &verifier, anchor)
}

/// Everything about one origin after its walk.
struct Walked {
    report: OriginReport,
    checkpoints: Vec<SignedCheckpoint>,
    /// Root of each checkpoint size, by size.
    roots: BTreeMap<u64, Digest>,
    frontier: Frontier,
    /// `(index, kind, payload digest)` of the registry and audit-report leaves.
    system: Vec<(u64, String, Digest)>,
}

fn verify_federation(
    root: &Path,
    codes: &BTreeSet<String>,
    history: &BTreeSet<String>,
    verifier: &Verifier,
    anchor: Option<&PublicKey>,
) -> Result<BundleReport, BundleError> {
    // The registry, and every key against it.
    let reg_bytes = read(root, &root.join("registry.json"))?;
    let reg = Registry::from_json(&reg_bytes).map_err(|e| berr("registry.json", e.to_string()))?;
    let Some(province) = reg.nodes.iter().find(|n| n.parent.is_none()).map(|n| n.code.clone()) else {
        return Err(berr("registry.json", "the registry lists no node"));
    };
    for n in &reg.nodes {
        if !codes.contains(&n.code) {
            return Err(berr(format!("keys/{}.pem", n.code), format!("missing: node {} is in registry.json", n.code)));
        }
    }
    let mut keys: BTreeMap<String, Vec<PublicKey>> = BTreeMap::new();
    for code in codes {
        let cur_path = root.join("keys").join(format!("{code}.pem"));
        let Some(node) = reg.node(code) else {
            return Err(berr(
                rel(root, &cur_path),
                format!("origin {code} is not in registry.json: a bundle mixing federations?"),
            ));
        };
        let registered: Vec<PublicKey> = node
            .keys
            .iter()
            .map(|k| PublicKey::from_spki_pem(&k.spki_pem))
            .collect::<Result<_, _>>()
            .map_err(|e| berr("registry.json", format!("node {code}: {e}")))?;
        let hdir = root.join("keys").join(code);
        if !history.contains(code) {
            return Err(berr(format!("keys/{code}/0.pem"), format!("missing: the key history of {code}")));
        }
        let files = list(root, &hdir)?;
        for (n, (stem, ext, p)) in files.iter().enumerate() {
            let i = parse_index(root, stem, p)?;
            if ext != "pem" || i != n as u64 {
                return Err(berr(rel(root, p), "unexpected file (expected <n>.pem numbered from 0 without gaps)"));
            }
            let k = load_key(root, p)?;
            if registered.get(n) != Some(&k) {
                return Err(berr(
                    rel(root, p),
                    format!("is not key {n} of {code} in registry.json: a bundle mixing federations?"),
                ));
            }
        }
        if files.len() != registered.len() {
            return Err(berr(
                format!("keys/{code}/{}.pem", files.len()),
                format!("missing: registry.json lists {} keys for {code}", registered.len()),
            ));
        }
        let current = load_key(root, &cur_path)?;
        if registered.last() != Some(&current) {
            return Err(berr(
                rel(root, &cur_path),
                format!("is not the newest key of {code} in registry.json: a bundle mixing federations?"),
            ));
        }
        verifier.register(&current);
        keys.insert(code.clone(), registered);
    }
    let province_keys = keys.get(&province).cloned().unwrap_or_default();
    let province_key_sm3 = province_keys.last().map(|k| hex::encode(k.key_id())).unwrap_or_default();
    if let Some(a) = anchor {
        if !province_keys.contains(a) {
            return Err(berr(
                format!("keys/{province}.pem"),
                format!(
                    "the province key (SM3 {province_key_sm3}) is not the anchor you gave (SM3 {}): a bundle of another federation?",
                    hex::encode(a.key_id())
                ),
            ));
        }
    }

    // Reports: signature by the province over the exact signed bytes.
    let mut reports: BTreeMap<u64, (Report, Vec<u8>)> = BTreeMap::new();
    for (stem, ext, p) in list(root, &root.join("reports"))? {
        let i = parse_index(root, &stem, &p)?;
        match ext.as_str() {
            "json" => {
                let bytes = read(root, &p)?;
                let Some((signed, sig)) = report_signed_parts(&bytes) else {
                    return Err(berr(
                        rel(root, &p),
                        "truncated or not a signed audit report (it must end with its \"signature\" field)",
                    ));
                };
                let report: Report = serde_json::from_slice(&bytes)
                    .map_err(|e| berr(rel(root, &p), format!("not an audit report: {e}")))?;
                let sig_path = p.with_extension("sig");
                if !sig_path.exists() {
                    return Err(berr(rel(root, &sig_path), "missing signature of the report"));
                }
                if read(root, &sig_path)? != sig {
                    return Err(berr(rel(root, &sig_path), "differs from the signature field of the report"));
                }
                if report.auditor != province {
                    return Err(berr(
                        rel(root, &p),
                        format!("auditor {} is not the province {province} of registry.json", report.auditor),
                    ));
                }
                if !signed_by_any(verifier, &province_keys, &signed, &sig) {
                    return Err(berr(
                        rel(root, &p),
                        format!("signature does not verify with the province key keys/{province}.pem (SM3 {province_key_sm3}): altered, or a report of another federation"),
                    ));
                }
                reports.insert(i, (report, bytes));
            }
            "sig" => {
                if !p.with_extension("json").exists() {
                    return Err(berr(
                        rel(root, &p.with_extension("json")),
                        "missing report (its signature is present)",
                    ));
                }
            }
            _ => return Err(berr(rel(root, &p), "unexpected file (expected <index>.json / <index>.sig)")),
        }
    }

    // Audited checkpoints (origin-signed), checked again by the walk against the re-derived root.
    let mut marks: BTreeMap<String, (Checkpoint, SignedCheckpoint)> = BTreeMap::new();
    for (stem, ext, p) in list(root, &root.join("audit"))? {
        let Some(ks) = keys.get(&stem) else {
            return Err(berr(
                rel(root, &p),
                "unexpected file in audit/ (expected <code>.note / <code>.sig of a known origin)",
            ));
        };
        match ext.as_str() {
            "note" => {
                let sig_path = p.with_extension("sig");
                if !sig_path.exists() {
                    return Err(berr(rel(root, &sig_path), "missing signature of the audited checkpoint"));
                }
                let signed = SignedCheckpoint { note: read(root, &p)?, signature: read(root, &sig_path)? };
                if !signed_by_any(verifier, ks, &signed.note, &signed.signature) {
                    return Err(berr(rel(root, &sig_path), format!("audited checkpoint is not signed by {stem}")));
                }
                let cp = signed.parse().map_err(|e| berr(rel(root, &p), e.to_string()))?;
                if cp.origin_code() != Some(stem.as_str()) {
                    return Err(berr(rel(root, &p), format!("origin line {:?} does not name {stem}", cp.origin)));
                }
                marks.insert(stem, (cp, signed));
            }
            "sig" => {
                if !p.with_extension("note").exists() {
                    return Err(berr(
                        rel(root, &p.with_extension("note")),
                        "missing audited checkpoint (its signature is present)",
                    ));
                }
            }
            _ => return Err(berr(rel(root, &p), "unexpected file (expected <code>.note / <code>.sig)")),
        }
    }

    // Every origin, the province first.
    let mut order: Vec<&String> = vec![&province];
    order.extend(codes.iter().filter(|c| **c != province));
    let mut walked: BTreeMap<String, Walked> = BTreeMap::new();
    for code in order {
        let extra: Vec<(u64, Digest, String)> =
            marks.get(code).map(|(cp, _)| vec![(cp.size, cp.root, format!("audit/{code}.note"))]).unwrap_or_default();
        let w = verify_origin(root, code, &keys[code], verifier, &extra, true)?;
        if let Some((cp, _)) = marks.get(code) {
            if cp.size > w.report.entries {
                return Err(berr(
                    format!("audit/{code}.note"),
                    format!(
                        "audited size {} is beyond the {} leaves of {code} in the bundle (truncated?)",
                        cp.size, w.report.entries
                    ),
                ));
            }
        }
        walked.insert(code.clone(), w);
    }

    // Consistency proofs from each audited checkpoint to the newest checkpoint.
    let mut proofs = 0;
    for code in codes {
        let files = list(root, &root.join("proofs").join(code))?;
        let w = &walked[code];
        let Some((mark, _)) = marks.get(code) else {
            if let Some((_, _, p)) = files.first() {
                return Err(berr(rel(root, p), format!("proof without an audited checkpoint audit/{code}.note")));
            }
            continue;
        };
        let Some((stem, ext, p)) = files.first() else {
            return Err(berr(
                format!("proofs/{code}/{}-{}.proof", mark.size, w.report.latest_size),
                "missing: the consistency proof from the audited checkpoint to the newest one",
            ));
        };
        if files.len() > 1 {
            return Err(berr(rel(root, &files[1].2), "second consistency proof for one origin"));
        }
        let sizes = stem.split_once('-').and_then(|(a, b)| {
            let (a, b) = (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?);
            (format!("{a}-{b}") == *stem).then_some((a, b))
        });
        let (Some((old, new)), "proof") = (sizes, ext.as_str()) else {
            return Err(berr(rel(root, p), "unexpected file (expected <old>-<new>.proof)"));
        };
        if old != mark.size {
            return Err(berr(rel(root, p), format!("starts at {old}, the audited checkpoint has size {}", mark.size)));
        }
        if new != w.report.latest_size {
            return Err(berr(
                rel(root, p),
                format!("ends at {new}, the newest checkpoint of {code} is {}", w.report.latest_size),
            ));
        }
        let Some(new_root) = w.roots.get(&new) else {
            return Err(berr(
                rel(root, p),
                format!("ends at {new}, but checkpoints/{code}/{new}.note is not in the bundle"),
            ));
        };
        let text = String::from_utf8(read(root, p)?).map_err(|_| berr(rel(root, p), "not text"))?;
        let mut hashes = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let mut d = [0u8; 32];
            hex::decode_to_slice(line, &mut d)
                .map_err(|_| berr(rel(root, p), format!("line {}: not a 32-byte hex hash", n + 1)))?;
            hashes.push(d);
        }
        merkle::verify_consistency(old, new, &hashes, &mark.root, new_root)
            .map_err(|e| berr(rel(root, p), format!("consistency proof from {old} to {new} does not verify: {e}")))?;
        proofs += 1;
    }

    // The registry and the reports are the payloads of signed leaves of the province log.
    let pw = &walked[&province];
    let Some((reg_index, _, reg_digest)) = pw.system.iter().rev().find(|(_, k, _)| k == REGISTRY_KIND) else {
        return Err(berr("registry.json", format!("the province log entries/{province}/ publishes no registry")));
    };
    if crypto::sm3(&reg_bytes) != *reg_digest {
        return Err(berr(
            "registry.json",
            format!("differs from the newest registry the province published (entries/{province}/{reg_index}.bin)"),
        ));
    }
    for (index, kind, digest) in &pw.system {
        if kind != REPORT_KIND {
            continue;
        }
        match reports.get(index) {
            None => {
                return Err(berr(
                    format!("reports/{index}.json"),
                    format!("missing: leaf {index} of the province log is an audit report"),
                ))
            }
            Some((_, bytes)) if crypto::sm3(bytes) != *digest => {
                return Err(berr(
                    format!("reports/{index}.json"),
                    format!("differs from the report published at entries/{province}/{index}.bin"),
                ))
            }
            Some(_) => {}
        }
    }
    for index in reports.keys() {
        if !pw.system.iter().any(|(i, k, _)| i == index && k == REPORT_KIND) {
            return Err(berr(
                format!("reports/{index}.json"),
                format!("is not published in the province log (entries/{province}/{index}.bin is not an audit report)"),
            ));
        }
    }
    // The newest report must not have audited more than the bundle holds.
    let newest = reports.iter().next_back();
    if let Some((i, (r, _))) = newest {
        for o in &r.origins {
            let held = walked.get(&o.code).map(|w| w.report.entries).unwrap_or(0);
            if held < o.mirror_size {
                return Err(berr(
                    format!("entries/{}/", o.code),
                    format!("the bundle holds {held} leaves of {} but the signed report reports/{i}.json audited {}: truncated bundle", o.code, o.mirror_size),
                ));
            }
        }
    }

    // The audit rules, re-run offline as of the newest signed time in the bundle.
    let mut newest_time: Option<(i64, String)> = None;
    let mut consider = |ts: &str| {
        if let Some(t) = unix(ts) {
            if newest_time.as_ref().is_none_or(|(n, _)| t > *n) {
                newest_time = Some((t, ts.to_string()));
            }
        }
    };
    for (r, _) in reports.values() {
        consider(&r.at);
    }
    for w in walked.values() {
        if let Some(ts) = &w.report.latest_timestamp {
            consider(ts);
        }
    }
    let (now, at) = newest_time.unwrap_or((0, String::new()));
    let sla = newest.map(|(_, (r, _))| r.sla).unwrap_or_default();
    let mut results: Vec<OriginResult> = Vec::new();
    for node in &reg.nodes {
        let w = &walked[&node.code];
        let n = w.report.entries;
        let mark = w.checkpoints.iter().find(|c| c.parse().is_ok_and(|p| p.size == n)).map(|c| Mark {
            size: n,
            root: hex::encode(w.frontier.root()),
            frontier: w.frontier.hashes().iter().map(hex::encode).collect(),
            checkpoint_b64: base64::engine::general_purpose::STANDARD.encode(&c.note),
            signature_b64: base64::engine::general_purpose::STANDARD.encode(&c.signature),
        });
        let mut audit = OriginAudit::new(&node.code, keys[&node.code].clone(), "bundle", verifier, mark.as_ref());
        for c in &w.checkpoints {
            audit.see(Seen {
                vantage: "province mirror".into(),
                delivered_by: province.clone(),
                signed: c.clone(),
                received_at: None,
            });
        }
        if let Some((_, signed)) = marks.get(&node.code) {
            audit.see(Seen {
                vantage: "last audit".into(),
                delivered_by: province.clone(),
                signed: signed.clone(),
                received_at: None,
            });
        }
        let carried: Vec<Finding> = newest
            .and_then(|(i, (r, _))| r.origins.iter().find(|o| o.code == node.code).map(|o| (i, o)))
            .map(|(i, o)| {
                o.evidence
                    .iter()
                    .map(|f| Finding {
                        kind: f.kind.clone(),
                        culprit: f.culprit.clone(),
                        detail: format!("{} (reported by {province} in reports/{i}.json)", f.detail),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (mut result, _) = audit.finish(n, now, &sla, carried);
        result.leaves_checked = n;
        results.push(result);
    }
    results.sort_by(|a, b| b.status.cmp(&a.status).then(a.code.cmp(&b.code)));
    let audit = Report {
        auditor: format!("{province} (offline re-check of the bundle)"),
        at,
        sla,
        origins: results,
        signature: String::new(),
    };
    let reports = reports
        .iter()
        .map(|(i, (r, _))| ReportCheck {
            index: *i,
            at: r.at.clone(),
            origins: r.origins.len(),
            not_ok: r.origins.iter().filter(|o| o.status != Status::Ok).map(|o| o.code.clone()).collect(),
        })
        .collect();
    let origins = codes.iter().map(|c| walked[c].report.clone()).collect();
    Ok(BundleReport {
        origins,
        federation: Some(FederationCheck {
            province,
            province_key_sm3,
            anchor_pinned: anchor.is_some(),
            registry_version: reg.version,
            registry_index: *reg_index,
            reports,
            proofs,
            audit,
        }),
    })
}

/// Walks one origin: checkpoints (signature by one of `keys`, origin, size), contiguous leaves with signatures,
/// headers and payload digests, and the root re-derived at every checkpoint size and at every `extra` size
/// (`(size, root, file)`). `allow_empty`: an origin with no checkpoint and no leaf is fine (a federation bundle
/// lists every registered node, held or not).
fn verify_origin(
    root: &Path,
    code: &str,
    keys: &[PublicKey],
    verifier: &Verifier,
    extra: &[(u64, Digest, String)],
    allow_empty: bool,
) -> Result<Walked, BundleError> {
    let Some(key) = keys.last().cloned() else {
        return Err(berr(format!("keys/{code}.pem"), "no key"));
    };

    // Checkpoints: signature, origin, size; collected by size.
    let mut checkpoints: BTreeMap<u64, (Checkpoint, PathBuf)> = BTreeMap::new();
    let mut signed_cps = Vec::new();
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
                if let Err(e) = verifier.verify(&key, &signed.note, &signed.signature) {
                    if !signed_by_any(verifier, keys, &signed.note, &signed.signature) {
                        return Err(berr(rel(root, &sig_path), format!("checkpoint {e}")));
                    }
                }
                let cp = signed.parse().map_err(|e| berr(rel(root, p), e.to_string()))?;
                if cp.origin_code() != Some(code) {
                    return Err(berr(rel(root, p), format!("origin line {:?} does not name {code}", cp.origin)));
                }
                if cp.size != size {
                    return Err(berr(rel(root, p), format!("checkpoint size {} does not match file name", cp.size)));
                }
                checkpoints.insert(size, (cp, p.clone()));
                signed_cps.push(signed);
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
    let (latest_size, latest_timestamp) = match checkpoints.iter().next_back() {
        Some((&s, (cp, _))) => (s, cp.timestamp().map(str::to_string)),
        None if allow_empty => (0, None),
        None => return Err(berr(rel(root, &cdir), format!("no signed checkpoint for origin {code}"))),
    };

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
    if checkpoints.is_empty() && n > 0 {
        return Err(berr(rel(root, &cdir), format!("no signed checkpoint covers the {n} leaves of origin {code}")));
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

    // Every root to compare with the re-derived one, by size.
    let mut expected: BTreeMap<u64, Vec<(Digest, String)>> = BTreeMap::new();
    for (size, (cp, p)) in &checkpoints {
        expected.entry(*size).or_default().push((cp.root, rel(root, p)));
    }
    for (size, r, file) in extra {
        expected.entry(*size).or_default().push((*r, file.clone()));
    }
    let check_root = |frontier: &Frontier| -> Result<(), BundleError> {
        for (want, file) in expected.get(&frontier.size()).map(Vec::as_slice).unwrap_or(&[]) {
            if *want != frontier.root() {
                return Err(berr(
                    file.as_str(),
                    format!(
                        "root {} differs from the root {} re-derived from the leaves",
                        hex::encode(want),
                        hex::encode(frontier.root())
                    ),
                ));
            }
        }
        Ok(())
    };

    // Walk the leaves in order: signature, header, payload digest, and the root at every checkpoint size.
    let mut frontier = Frontier::new();
    let mut system = Vec::new();
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
        let items: Vec<(&[u8], &[u8])> =
            chunk.iter().map(|(_, _, _, leaf, sig)| (leaf.as_slice(), sig.as_slice())).collect();
        let verdicts = verifier.verify_batch_any(keys, &items);
        for ((i, leaf_path, sig_path, leaf, _), verdict) in chunk.iter().zip(verdicts) {
            let i = *i;
            verdict.map_err(|e| berr(rel(root, sig_path), e.to_string()))?;
            let h = LeafHeader::decode_at(leaf, code, i).map_err(|e| berr(rel(root, leaf_path), e.to_string()))?;
            if let Some(p) = payloads.get(&i) {
                let body = read(root, p)?;
                if !h.payload_matches(&body) {
                    return Err(berr(
                        rel(root, p),
                        format!(
                            "SM3 {} differs from payload-sm3 {} in the signed leaf",
                            hex::encode(crypto::sm3(&body)),
                            hex::encode(h.payload_digest)
                        ),
                    ));
                }
            }
            if h.kind == REGISTRY_KIND || h.kind == REPORT_KIND {
                system.push((i, h.kind.clone(), h.payload_digest));
            }
            frontier.push_leaf(leaf);
            check_root(&frontier)?;
        }
        at = upto;
    }
    let roots = checkpoints.iter().map(|(s, (cp, _))| (*s, cp.root)).collect();
    Ok(Walked {
        report: OriginReport {
            code: code.to_string(),
            entries: n,
            checkpoints: checkpoints.len() as u64,
            payloads: payloads.len() as u64,
            latest_size,
            root: hex::encode(frontier.root()),
            latest_timestamp,
        },
        checkpoints: signed_cps,
        roots,
        frontier,
        system,
    })
}
