//! `gongxin registry add|suspend|revoke|apply|show` (province): changes are staged, then applied as the next
//! signed registry version in the province log, from where every node receives it by down-sync.

use crate::{client, exit, Output};
use clap::{Args as ClapArgs, Subcommand};
use comfy_table::Table;
use gongxin_core::registry::{Change, KeyEntry, NodeEntry, NodeStatus, Registry};
use gongxin_core::template::RefData;
use gongxin_core::crypto::PublicKey;
use gongxin_proto::admin::v1 as pb;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Stage adding (or replacing) a node: its SM2 public key and TLS certificate.
    Add(AddArgs),
    /// Stage suspending a node (refused as a peer until reactivated with `add`).
    Suspend(CodeArgs),
    /// Stage revoking a node for good.
    Revoke(CodeArgs),
    /// Apply the staged changes as the next registry version.
    Apply(ApplyArgs),
    /// Show the current registry and the staged changes.
    Show(ShowArgs),
}

#[derive(ClapArgs, Debug)]
pub struct AddArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The node's division code.
    #[arg(long)]
    pub code: String,
    /// Display name (default: the division's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Parent node code (default: from the division table; none for the province).
    #[arg(long)]
    pub parent: Option<String>,
    /// The node's SM2 public key (node.pub.pem).
    #[arg(long)]
    pub key: PathBuf,
    /// The node's TLS certificate (PEM) issued by the federation CA.
    #[arg(long)]
    pub cert: PathBuf,
}

#[derive(ClapArgs, Debug)]
pub struct CodeArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    #[arg(long)]
    pub code: String,
}

#[derive(ClapArgs, Debug)]
pub struct ApplyArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The version you expect to create (as shown by `registry show`); refused if it differs.
    #[arg(long)]
    pub version: Option<u64>,
}

#[derive(ClapArgs, Debug)]
pub struct ShowArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

fn build_entry(a: &AddArgs) -> anyhow::Result<NodeEntry> {
    use anyhow::Context as _;
    let refs = RefData::embedded();
    let div = refs.divisions.current(&a.code);
    let pem = std::fs::read_to_string(&a.key).with_context(|| format!("read {}", a.key.display()))?;
    PublicKey::from_spki_pem(&pem).with_context(|| format!("{}", a.key.display()))?;
    let certs = gongxin_certs::load_certs_pem(&a.cert).with_context(|| format!("{}", a.cert.display()))?;
    let cert = certs.first().ok_or_else(|| anyhow::anyhow!("{}: no certificate", a.cert.display()))?;
    let id = gongxin_certs::parse_identity(cert).with_context(|| format!("{}", a.cert.display()))?;
    if id.code.as_str() != a.code || id.role != gongxin_certs::Role::Node {
        anyhow::bail!(
            "{} is a {:?} certificate of {}, not a node certificate of {}",
            a.cert.display(),
            id.role,
            id.code.as_str(),
            a.code
        );
    }
    let parent = match &a.parent {
        Some(p) => Some(p.clone()),
        None => div.and_then(|d| d.parent.clone()),
    };
    Ok(NodeEntry {
        code: a.code.clone(),
        name: a.name.clone().or_else(|| div.map(|d| d.name.clone())).unwrap_or_else(|| a.code.clone()),
        level: div.map(|d| d.level.as_str().to_string()).unwrap_or_else(|| "unknown".into()),
        parent,
        keys: vec![KeyEntry { spki_pem: pem, valid_from: gongxin_core::date::rfc3339(time::OffsetDateTime::now_utc()), valid_until: None }],
        tls_fingerprints: vec![id.fingerprint],
        status: NodeStatus::Active,
    })
}

fn call(
    data_dir: &std::path::Path,
    f: impl FnOnce(
        gongxin_proto::admin::v1::admin_client::AdminClient<tonic::transport::Channel>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<pb::RegistryReply, tonic::Status>>>>,
) -> Result<pb::RegistryReply, i32> {
    let rt = client::runtime().map_err(|e| {
        eprintln!("错误 error: {e:#}");
        exit::USAGE
    })?;
    rt.block_on(async {
        let c = client::connect(data_dir).await.map_err(|e| {
            eprintln!("错误 error: {e:#}");
            exit::NODE
        })?;
        f(c).await.map_err(|s| {
            eprintln!("错误 error: {}", s.message());
            if s.code() == tonic::Code::InvalidArgument || s.code() == tonic::Code::FailedPrecondition {
                exit::PROBLEMS
            } else {
                exit::NODE
            }
        })
    })
}

fn print_reply(r: &pb::RegistryReply, output: Output) {
    let reg: Registry = serde_json::from_str(&r.current_json).unwrap_or_else(|_| Registry::empty());
    let staged: Vec<Change> = serde_json::from_str(&r.staged_json).unwrap_or_default();
    match output {
        Output::Json => println!("{}", serde_json::json!({"current": reg, "staged": staged})),
        Output::Table => {
            println!("节点名册 registry version {} ({} 个节点 nodes) {}", reg.version, reg.nodes.len(), reg.issued_at);
            let mut t = Table::new();
            t.set_header(vec!["代码 code", "名称 name", "级别 level", "上级 parent", "状态 status"]);
            for n in &reg.nodes {
                t.add_row(vec![
                    n.code.clone(),
                    n.name.clone(),
                    n.level.clone(),
                    n.parent.clone().unwrap_or_default(),
                    n.status.as_str().to_string(),
                ]);
            }
            println!("{t}");
            if staged.is_empty() {
                println!("无待应用变更 nothing staged");
            } else {
                println!("待应用变更 staged changes ({}):", staged.len());
                for c in &staged {
                    match c {
                        Change::Upsert(n) => {
                            println!("  + {} {} (parent {})", n.code, n.name, n.parent.clone().unwrap_or_default())
                        }
                        Change::SetStatus { code, status } => println!("  ~ {code} -> {}", status.as_str()),
                    }
                }
                println!("下一步 next: gongxin registry apply --version {}", reg.version + 1);
            }
        }
    }
}

pub fn run(c: Command) -> i32 {
    let (data_dir, change, output) = match c {
        Command::Show(a) => {
            return match call(&a.data_dir, |mut c| {
                Box::pin(async move { Ok(c.registry_show(pb::RegistryRequest {}).await?.into_inner()) })
            }) {
                Ok(r) => {
                    print_reply(&r, a.output);
                    exit::OK
                }
                Err(code) => code,
            };
        }
        Command::Apply(a) => {
            let version = a.version.unwrap_or(0);
            return match call(&a.data_dir, |mut c| {
                Box::pin(async move { Ok(c.registry_apply(pb::RegistryApplyRequest { version }).await?.into_inner()) })
            }) {
                Ok(r) => {
                    print_reply(&r, Output::Table);
                    println!("已发布 published: every node receives this version by down-sync");
                    exit::OK
                }
                Err(code) => code,
            };
        }
        Command::Add(a) => match build_entry(&a) {
            Ok(e) => (a.data_dir, Change::Upsert(e), Output::Table),
            Err(e) => {
                eprintln!("错误 error: {e:#}");
                return exit::USAGE;
            }
        },
        Command::Suspend(a) => {
            (a.data_dir, Change::SetStatus { code: a.code, status: NodeStatus::Suspended }, Output::Table)
        }
        Command::Revoke(a) => {
            (a.data_dir, Change::SetStatus { code: a.code, status: NodeStatus::Revoked }, Output::Table)
        }
    };
    let change_json = serde_json::to_string(&change).unwrap_or_default();
    match call(&data_dir, |mut c| {
        Box::pin(async move { Ok(c.registry_stage(pb::RegistryStageRequest { change_json }).await?.into_inner()) })
    }) {
        Ok(r) => {
            print_reply(&r, output);
            exit::OK
        }
        Err(code) => code,
    }
}
