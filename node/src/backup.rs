//! `gongxin-node backup` and `restore`: one tar archive with everything a node needs to come back — the store
//! (a consistent export, taken by the running node itself over its admin socket, or read directly when the
//! node is stopped), `node.key`, `node.pub.pem`, `gongxin.toml`, the anchor and TLS files — and a restore that
//! refuses a store whose own signed checkpoints do not verify with the key being restored, leaving nothing
//! half-written (it works in a staging directory renamed into place only at the end).
//!
//! A restored node starts with its signing held (`restore.pending`): the first uplink round compares the
//! parent's copy of the node's log with the local head (`Ledger::compare_with_parent`); an older backup (the
//! parent holds more) keeps signing stopped and names the gap.

use crate::app::ledger::SigningHold;
use crate::app::Ledger;
use crate::config::Config;
use crate::store::log::Log;
use crate::store::{Store, TransferSummary};
use anyhow::{anyhow, bail, Context, Result};
use gongxin_core::crypto::{PublicKey, SigningKey};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Left in a restored data dir until the parent check has passed (removed by `Ledger::compare_with_parent`).
pub const RESTORED_MARKER: &str = "restore.pending";
/// How the marker written by `gongxin-node init --recover` starts.
pub const RECOVER_MARKER_TEXT: &str = "re-initialised with --recover";
/// The store export inside the archive.
pub const STORE_ENTRY: &str = "store.gxs";
/// The archive's first entry: what it holds.
pub const MANIFEST: &str = "gongxin-backup.json";
const FORMAT: u32 = 1;
/// Largest non-store file restored (keys, certificates, config).
const MAX_SMALL_FILE: u64 = 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    code: String,
    created: String,
    store_records: u64,
    store_sm3: String,
    files: Vec<ManifestFile>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ManifestFile {
    /// Path inside the archive (= inside the restored data dir).
    name: String,
    /// Written 0600 (private keys, the store) instead of 0644.
    private: bool,
    /// The config path it came from when that lies outside the data dir (restored under `external/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outside: Option<String>,
}

/// The file the running node writes its export to: a plain name inside its data dir.
pub fn export_path(data_dir: &Path, name: &str) -> Result<PathBuf, String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !ok {
        return Err(format!("{name:?} is not a plain file name ([A-Za-z0-9._-], not starting with '.')"));
    }
    Ok(data_dir.join(name))
}

fn create_private(path: &Path) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("创建文件失败 cannot create {} (it must not exist)", path.display()))
}

/// Writes a durable export of `log`'s store to the new file `path` (0600).
pub fn export_store<S: Store>(log: &Log<S>, path: &Path) -> Result<TransferSummary> {
    let f = create_private(path)?;
    let mut w = std::io::BufWriter::new(f);
    let s = log.export_durable(&mut w).context("export store")?;
    let f = w.into_inner().map_err(|e| anyhow!("write {}: {e}", path.display()))?;
    f.sync_all().with_context(|| format!("sync {}", path.display()))?;
    Ok(s)
}

/// At start: a restored data dir holds signing until the first uplink round has compared the parent's cursor;
/// a node without a parent has nothing to compare with (the marker is removed).
pub fn hold_if_restored(cfg: &Config, ledger: &Ledger) {
    let marker = cfg.data_dir.join(RESTORED_MARKER);
    if !marker.exists() {
        return;
    }
    // A node re-initialised with `init --recover` has an empty log and must take it back before signing index 0
    // again: it keeps the hold even without a parent configured (the log says why).
    let recovering = std::fs::read(&marker).is_ok_and(|m| m.starts_with(RECOVER_MARKER_TEXT.as_bytes()));
    if recovering || cfg.federation.as_ref().and_then(|f| f.parent.as_ref()).is_some() {
        tracing::warn!(marker = %marker.display(), "{}", SigningHold::AwaitingParent { marker: marker.clone() });
        ledger.hold_signing(SigningHold::AwaitingParent { marker });
    } else {
        tracing::info!("restored data dir without a parent: nothing to compare, marker removed");
        let _ = std::fs::remove_file(&marker);
    }
}

/// Asks the node serving `data_dir` to export its store to `name` in the data dir.
fn export_by_running_node(data_dir: &Path, name: &str) -> Result<TransferSummary> {
    use gongxin_proto::admin::v1 as pb;
    let sock = crate::config::admin_socket(data_dir);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let channel = tonic::transport::Endpoint::try_from("http://[::1]:50051")?
            .connect_with_connector(tower::service_fn(move |_: http::Uri| {
                let sock = sock.clone();
                async move {
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tokio::net::UnixStream::connect(sock).await?))
                }
            }))
            .await
            .context("connect to the node's admin socket")?;
        let mut c = pb::admin_client::AdminClient::new(channel);
        let r = c
            .backup_store(pb::BackupStoreRequest { file_name: name.to_string() })
            .await
            .map_err(|s| {
                anyhow!("运行中的节点未能导出存储 the running node did not export its store: {}", s.message())
            })?
            .into_inner();
        let digest: [u8; 32] = hex::decode(&r.sm3_hex)
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| anyhow!("node answered a malformed digest {:?}", r.sm3_hex))?;
        Ok(TransferSummary { records: r.records, bytes: r.bytes, digest })
    })
}

/// Whether a node answers on the data dir's admin socket.
fn node_is_running(data_dir: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(crate::config::admin_socket(data_dir)).is_ok()
}

/// The archive name of a config path: relative inside the data dir, else under `external/`.
fn archive_name(data_dir: &Path, path: &Path, field: &str) -> (String, Option<String>) {
    if let Ok(rel) = path.strip_prefix(data_dir) {
        if rel.components().all(|c| matches!(c, Component::Normal(_))) {
            if let Some(s) = rel.to_str() {
                return (s.to_string(), None);
            }
        }
    }
    let base = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    (format!("external/{field}-{base}"), Some(path.display().to_string()))
}

fn append_file(b: &mut tar::Builder<std::fs::File>, name: &str, src: &Path, private: bool) -> Result<()> {
    let mut f =
        std::fs::File::open(src).with_context(|| format!("备份需要的文件无法读取 cannot read {}", src.display()))?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        bail!("{} 不是普通文件 is not a regular file", src.display());
    }
    let mut h = tar::Header::new_gnu();
    h.set_size(meta.len());
    h.set_mode(if private { 0o600 } else { 0o644 });
    h.set_mtime(
        meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs()),
    );
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append_data(&mut h, name, &mut f).with_context(|| format!("archive {}", src.display()))?;
    Ok(())
}

/// `gongxin-node backup --data-dir DIR --out FILE`. Works while the node runs. Returns the operator message.
pub fn backup(data_dir: &Path, out: &Path) -> Result<String> {
    let cfg = crate::daemon::load_config(data_dir)?;
    let archive = create_private(out)?;
    let export_name = format!("backup-{}-{}.gxs", std::process::id(), crate::app::now_rfc3339().replace(':', ""));
    let export = data_dir.join(&export_name);
    let res = (|| -> Result<String> {
        let running = node_is_running(data_dir);
        let summary = if running {
            export_by_running_node(data_dir, &export_name)?
        } else {
            let store = cfg.open_store().with_context(|| format!("open store {}", cfg.store_path().display()))?;
            export_store(&Log::new(store), &export)?
        };
        let mut files = vec![
            ManifestFile { name: crate::config::CONFIG_FILE.into(), private: false, outside: None },
            ManifestFile { name: "node.key".into(), private: true, outside: None },
            ManifestFile { name: "node.pub.pem".into(), private: false, outside: None },
        ];
        let mut sources = vec![data_dir.join(crate::config::CONFIG_FILE), cfg.key_path(), cfg.public_key_path()];
        if let Some(f) = &cfg.federation {
            for (field, path, private) in [
                ("province_key", &f.province_key, false),
                ("ca_cert", &f.ca_cert, false),
                ("tls_cert", &f.tls_cert, false),
                ("tls_key", &f.tls_key, true),
            ] {
                let (name, outside) = archive_name(data_dir, path, field);
                files.push(ManifestFile { name, private, outside });
                sources.push(path.clone());
            }
        }
        let manifest = Manifest {
            format: FORMAT,
            code: cfg.code.clone(),
            created: crate::app::now_rfc3339(),
            store_records: summary.records,
            store_sm3: hex::encode(summary.digest),
            files,
        };
        let mut b = tar::Builder::new(archive.try_clone()?);
        let json = serde_json::to_vec_pretty(&manifest)?;
        let mut h = tar::Header::new_gnu();
        h.set_size(json.len() as u64);
        h.set_mode(0o600);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append_data(&mut h, MANIFEST, json.as_slice())?;
        for (m, src) in manifest.files.iter().zip(&sources) {
            append_file(&mut b, &m.name, src, m.private)?;
        }
        append_file(&mut b, STORE_ENTRY, &export, true)?;
        b.into_inner()?.sync_all().with_context(|| format!("sync {}", out.display()))?;
        Ok(format!(
            "已备份 backed up node {} ({}): {} store records (SM3 {}), {} files -> {}{}",
            cfg.code,
            if running {
                "节点运行中，由节点导出 exported by the running node"
            } else {
                "节点已停止 node stopped"
            },
            summary.records,
            hex::encode(summary.digest),
            manifest.files.len() + 1,
            out.display(),
            if manifest.files.iter().any(|f| f.outside.is_some()) {
                "\n注意 note: 数据目录外的文件存于 external/ files outside the data dir are kept under external/"
            } else {
                ""
            }
        ))
    })();
    let _ = std::fs::remove_file(&export);
    if res.is_err() {
        let _ = std::fs::remove_file(out);
    }
    res
}

/// A restore target: absent, or an empty directory.
fn check_target(dir: &Path) -> Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "目标目录 {} 非空，恢复只写入空目录或不存在的目录 / {} is not empty: restore writes only into an \
                     empty or absent directory",
                    dir.display(),
                    dir.display()
                );
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(anyhow!("{}: {e}", dir.display())),
    }
}

/// A safe relative path inside the archive: normal components only.
fn safe_name(p: &Path) -> Result<PathBuf> {
    if p.as_os_str().is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        bail!("归档中的路径不安全 unsafe path in the archive: {}", p.display());
    }
    Ok(p.to_path_buf())
}

/// Checks that every signed checkpoint of `code`'s own log verifies with `key`, and that the newest one is
/// of the stored head (size and root). Returns how many were checked.
pub fn verify_own_checkpoints<S: Store>(log: &Log<S>, code: &str, key: &PublicKey) -> Result<usize> {
    let head = log.head(code)?;
    let cps = log.checkpoints(code)?;
    if cps.is_empty() {
        if head.size > 0 {
            bail!("存储中本节点 {code} 的日志有 {} 条但没有签名检查点 the store holds {} entries of {code} but no signed checkpoint", head.size, head.size);
        }
        return Ok(0);
    }
    let mut newest: Option<gongxin_core::checkpoint::Checkpoint> = None;
    for cp in &cps {
        let parsed = cp.verify(key).map_err(|e| {
            anyhow!(
                "存储中本节点 {code} 的签名检查点不能用要恢复的 node.key 验证（{e}）：备份中的私钥与存储不符，拒绝恢复 / a signed \
                 checkpoint of {code}'s own log does not verify with the node.key being restored ({e}): the key does not \
                 belong to this store; refusing"
            )
        })?;
        if newest.as_ref().is_none_or(|n| parsed.size >= n.size) {
            newest = Some(parsed);
        }
    }
    let newest = newest.ok_or_else(|| anyhow!("no checkpoint"))?;
    if newest.size != head.size || log.root_at(code, newest.size)? != newest.root {
        bail!(
            "存储中本节点 {code} 的最新签名检查点（{} 条）与日志头（{} 条）不符 the newest signed checkpoint (size {}) is not of \
             the stored head (size {})",
            newest.size,
            head.size,
            newest.size,
            head.size
        );
    }
    Ok(cps.len())
}

/// Imports an export stream into a new store at `dir` (which must not exist) and verifies the own
/// checkpoints with `key` (`allow_other_key`: warn instead of refusing). On refusal `dir` is removed.
pub fn import_verified(
    input: &mut dyn Read,
    dir: &Path,
    code: &str,
    key: &PublicKey,
    allow_other_key: bool,
) -> Result<(TransferSummary, Option<String>)> {
    if dir.exists() {
        bail!("{} exists", dir.display());
    }
    let res = (|| -> Result<(TransferSummary, Option<String>)> {
        let store =
            crate::store::sled::SledStore::open(dir).with_context(|| format!("open store {}", dir.display()))?;
        let summary = store.import(input).context("import store")?;
        store.flush().context("flush store")?;
        let log = Log::new(store);
        match verify_own_checkpoints(&log, code, key) {
            Ok(_) => Ok((summary, None)),
            Err(e) if allow_other_key => Ok((summary, Some(format!("{e:#}")))),
            Err(e) => Err(e),
        }
    })();
    if res.is_err() {
        let _ = std::fs::remove_dir_all(dir);
    }
    res
}

fn load_key(path: &Path) -> Result<SigningKey> {
    let pem = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    SigningKey::from_pkcs8_pem(&pem).with_context(|| format!("load {}", path.display()))
}

/// `gongxin-node restore --from FILE --data-dir DIR`: DIR absent or empty. Returns the operator message.
pub fn restore(from: &Path, data_dir: &Path) -> Result<String> {
    let existed = check_target(data_dir)?;
    let name = data_dir.file_name().and_then(|n| n.to_str()).context("--data-dir needs a final UTF-8 component")?;
    let parent = data_dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    let staging = parent.join(format!(".{name}.restoring-{}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&staging).with_context(|| format!("create {}", staging.display()))?;
    let res = restore_into(from, &staging);
    let res = res.and_then(|msg| {
        if existed {
            std::fs::remove_dir(data_dir).with_context(|| format!("replace empty {}", data_dir.display()))?;
        }
        std::fs::rename(&staging, data_dir)
            .with_context(|| format!("rename {} -> {}", staging.display(), data_dir.display()))?;
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
        Ok(msg)
    });
    if res.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    res.map(|m| {
        format!(
            "{m}\n已恢复到 restored into {}\n下一步 next: gongxin-node config check --data-dir {}",
            data_dir.display(),
            data_dir.display()
        )
    })
}

fn restore_into(from: &Path, staging: &Path) -> Result<String> {
    let f = std::fs::File::open(from).with_context(|| format!("open {}", from.display()))?;
    let mut ar = tar::Archive::new(std::io::BufReader::new(f));
    let mut entries = ar.entries().context("read the archive")?;
    let mut first = entries
        .next()
        .ok_or_else(|| anyhow!("{} 是空归档 is an empty archive", from.display()))?
        .context("read the archive")?;
    if first.path()?.as_ref() != Path::new(MANIFEST) || first.size() > MAX_SMALL_FILE {
        bail!("{} 不是 gongxin-node backup 的归档 is not an archive written by gongxin-node backup", from.display());
    }
    let mut json = Vec::new();
    first.read_to_end(&mut json)?;
    let manifest: Manifest = serde_json::from_slice(&json).context("read the backup manifest")?;
    if manifest.format != FORMAT {
        bail!("backup format {} is not understood by this build (it reads {FORMAT})", manifest.format);
    }
    let mut seen: Vec<String> = Vec::new();
    let mut store_seen = false;
    for e in entries {
        let mut e = e.context("read the archive")?;
        if e.header().entry_type() != tar::EntryType::Regular {
            bail!("归档含非普通文件 the archive holds a non-regular entry: {}", e.path()?.display());
        }
        let rel = safe_name(&e.path()?)?;
        let rel_s = rel.to_str().context("non-UTF-8 name in the archive")?.to_string();
        let is_store = rel_s == STORE_ENTRY;
        let listed = manifest.files.iter().find(|m| m.name == rel_s);
        if !is_store && listed.is_none() {
            bail!("归档含清单外的文件 the archive holds a file its manifest does not list: {rel_s}");
        }
        if seen.contains(&rel_s) {
            bail!("归档中 {rel_s} 出现两次 appears twice in the archive");
        }
        if !is_store && e.size() > MAX_SMALL_FILE {
            bail!("{rel_s}: {} bytes, more than a key, certificate or config can be", e.size());
        }
        let private = is_store || listed.is_some_and(|m| m.private);
        let target = staging.join(&rel);
        if let Some(p) = target.parent() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(p)?;
        }
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if private { 0o600 } else { 0o644 })
            .open(&target)
            .with_context(|| format!("create {}", target.display()))?;
        std::io::copy(&mut e, &mut out).with_context(|| format!("write {}", target.display()))?;
        out.sync_all()?;
        store_seen |= is_store;
        seen.push(rel_s);
    }
    if !store_seen {
        bail!("归档中没有存储 the archive holds no {STORE_ENTRY}");
    }
    if let Some(m) = manifest.files.iter().find(|m| !seen.contains(&m.name)) {
        bail!("归档缺少清单中的文件 the archive lacks {}, listed in its manifest", m.name);
    }
    let cfg = crate::daemon::load_config(staging).context("the archived gongxin.toml")?;
    if cfg.code != manifest.code {
        bail!("archived config is of node {}, the manifest says {}", cfg.code, manifest.code);
    }
    let key = load_key(&cfg.key_path())?;
    let pk = key.public_key();
    let pub_pem = std::fs::read_to_string(cfg.public_key_path()).context("read node.pub.pem")?;
    if PublicKey::from_spki_pem(&pub_pem).ok().as_ref() != Some(&pk) {
        bail!("归档中的 node.pub.pem 不是 node.key 的公钥 the archived node.pub.pem is not node.key's public key; refusing");
    }
    let export = staging.join(STORE_ENTRY);
    let mut input = std::io::BufReader::new(std::fs::File::open(&export)?);
    let (summary, _) = import_verified(&mut input, &cfg.store_path(), &cfg.code, &pk, false)?;
    if hex::encode(summary.digest) != manifest.store_sm3 {
        bail!("存储导出的 SM3 与清单不符 the store export's SM3 differs from the manifest");
    }
    drop(input);
    std::fs::remove_file(&export)?;
    let mut m = create_private(&staging.join(RESTORED_MARKER))?;
    writeln!(m, "restored {} from {} (backup of {})", crate::app::now_rfc3339(), from.display(), manifest.created)?;
    m.sync_all()?;
    let outside: Vec<String> =
        manifest.files.iter().filter_map(|f| f.outside.as_ref().map(|o| format!("  {} -> {o}", f.name))).collect();
    Ok(format!(
        "已核验 verified: 本节点 {} 的签名检查点均可用 node.key 验证 every signed checkpoint of {}'s log verifies with the \
         restored node.key; {} store records{}",
        cfg.code,
        cfg.code,
        summary.records,
        if outside.is_empty() {
            String::new()
        } else {
            format!("\n请把数据目录外的文件复制回原处 copy these back to where gongxin.toml names them:\n{}", outside.join("\n"))
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use std::sync::Arc;

    fn ledger(key: SigningKey) -> Ledger {
        Ledger::new("430102", "芙蓉区", "county", key, Arc::new(MemoryStore::new()))
    }

    fn import(l: &Ledger, seed: u64, n: usize) -> Result<crate::app::ledger::ImportOutcome, crate::app::AppError> {
        let kind = gongxin_core::template::Kind::Penalty;
        let rows = gongxin_core::testdata::rows(kind, seed, "430102", n);
        l.import(kind, "t.csv", rows.into_iter().enumerate().map(|(i, r)| (i as u64 + 2, r)).collect(), None)
    }

    #[test]
    fn export_names_are_plain() {
        let d = Path::new("/data");
        assert_eq!(export_path(d, "backup-1.gxs").unwrap(), Path::new("/data/backup-1.gxs"));
        for bad in ["", "../x", "a/b", ".hidden", "x y", "node.key\0"] {
            assert!(export_path(d, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn own_checkpoints_verify_only_with_their_key() {
        let key = SigningKey::generate();
        let l = ledger(key.clone());
        l.heartbeat().unwrap();
        import(&l, 1, 5).unwrap();
        assert!(verify_own_checkpoints(l.log(), "430102", &key.public_key()).unwrap() >= 2);
        let other = SigningKey::generate();
        let e = verify_own_checkpoints(l.log(), "430102", &other.public_key()).unwrap_err().to_string();
        assert!(e.contains("拒绝恢复") && e.contains("node.key"), "{e}");
    }

    #[test]
    fn a_restored_node_holds_signing_until_the_parent_is_compared() {
        let tmp = tempfile::tempdir().unwrap();
        let marker = tmp.path().join(RESTORED_MARKER);
        std::fs::write(&marker, b"x").unwrap();
        let l = ledger(SigningKey::generate());
        import(&l, 2, 3).unwrap();
        l.hold_signing(SigningHold::AwaitingParent { marker: marker.clone() });
        let e = import(&l, 3, 1).unwrap_err();
        assert!(matches!(e, crate::app::AppError::SigningHeld { .. }), "{e}");
        // Heartbeats (no new entry) go on.
        l.heartbeat().unwrap();
        // The parent holds no more than the local head: released, marker removed, signing again.
        assert_eq!(l.compare_with_parent("430100", 3).unwrap(), None);
        assert!(!marker.exists());
        import(&l, 3, 1).unwrap();
    }

    #[test]
    fn a_parent_holding_more_stops_signing_and_names_the_gap() {
        let l = ledger(SigningKey::generate());
        import(&l, 4, 2).unwrap();
        let hold = l.compare_with_parent("430100", 7).unwrap();
        assert_eq!(hold, Some(SigningHold::Gap { parent: "430100".into(), parent_size: 7, local: 2 }));
        let e = import(&l, 5, 1).unwrap_err().to_string();
        assert!(e.contains("gap 2..7") && e.contains("上级 430100"), "{e}");
        // A later "awaiting" never hides the gap, and a smaller cursor does not release it.
        l.hold_signing(SigningHold::AwaitingParent { marker: PathBuf::from("/nonexistent") });
        assert!(matches!(l.signing_hold(), Some(SigningHold::Gap { .. })));
        assert!(matches!(l.compare_with_parent("430100", 1).unwrap(), Some(SigningHold::Gap { .. })));
        // A dry run still works.
        assert_eq!(l.log().head("430102").unwrap().size, 2);
    }

    #[test]
    fn restore_refuses_a_non_empty_target_and_a_non_backup() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("t");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(target.join("x"), b"x").unwrap();
        let e = restore(Path::new("/nonexistent.tar"), &target).unwrap_err().to_string();
        assert!(e.contains("非空"), "{e}");
        // Not a tar of ours: refused, staging gone, target not created.
        let junk = tmp.path().join("junk.tar");
        std::fs::write(&junk, vec![0u8; 2048]).unwrap();
        let fresh = tmp.path().join("fresh");
        assert!(restore(&junk, &fresh).is_err());
        assert!(!fresh.exists());
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(!names.iter().any(|n| n.to_string_lossy().contains("restoring")), "{names:?}");
    }

    #[test]
    fn unsafe_archive_paths_are_refused() {
        for bad in ["../x", "/etc/passwd", "a/../../b", ""] {
            assert!(safe_name(Path::new(bad)).is_err(), "{bad}");
        }
        assert!(safe_name(Path::new("anchor/ca.pem")).is_ok());
    }
}
