//! `gongxin export-bundle --data-dir DIR --out OUT` and `gongxin verify-bundle OUT` (offline).

use crate::{client, exit, Output};
use clap::Args as ClapArgs;
use comfy_table::Table;
use gongxin_node::bundle::{self, BundleWriter};
use gongxin_node::core::checkpoint::SignedCheckpoint;
use gongxin_node::crypto::PublicKey;
use gongxin_proto::admin::v1 as pb;
use std::path::PathBuf;

#[derive(ClapArgs, Debug)]
pub struct ExportArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// New (or empty) directory to write the bundle into.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(ClapArgs, Debug)]
pub struct VerifyArgs {
    /// Bundle directory written by `gongxin export-bundle`.
    pub dir: PathBuf,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

pub fn export(a: ExportArgs) -> i32 {
    let rt = match client::runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            return exit::USAGE;
        }
    };
    let writer = match BundleWriter::create(&a.out) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("错误 error: {}: {e}", a.out.display());
            return exit::USAGE;
        }
    };
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
        let root = writer.finish()?;
        anyhow::Ok((status.code, n, cps.len(), root))
    });
    match res {
        Ok((code, n, cps, root)) => {
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

pub fn verify(a: VerifyArgs) -> i32 {
    match bundle::verify(&a.dir) {
        Ok(report) => {
            match a.output {
                Output::Json => println!("{}", serde_json::json!({"ok": true, "origins": report.origins})),
                Output::Table => {
                    let mut t = Table::new();
                    t.set_header(vec![
                        "节点 origin",
                        "条目 entries",
                        "检查点 checkpoints",
                        "载荷 payloads",
                        "根 root",
                        "时间 latest",
                    ]);
                    for o in &report.origins {
                        t.add_row(vec![
                            o.code.clone(),
                            o.entries.to_string(),
                            o.checkpoints.to_string(),
                            o.payloads.to_string(),
                            o.root[..16].to_string() + "…",
                            o.latest_timestamp.clone().unwrap_or_default(),
                        ]);
                    }
                    println!("{t}");
                    println!("核验通过 bundle verified: every signature, payload digest and Merkle root checks out");
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
