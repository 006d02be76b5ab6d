//! `gongxin registry add|suspend|revoke|discard|apply|show` (province): changes are staged, then applied as the
//! next signed registry version in the province log, from where every node receives it by down-sync. A node's
//! parent must be registered (or staged) before it: the province, then its cities, then their counties —
//! `registry add --batch FILE` stages a whole list in that order.

use crate::{client, exit, Output};
use clap::{Args as ClapArgs, Subcommand};
use comfy_table::Table;
use gongxin_core::crypto::PublicKey;
use gongxin_core::registry::{Change, KeyEntry, NodeEntry, NodeStatus, OperatorEntry, Registry};
use gongxin_core::template::RefData;
use gongxin_proto::admin::v1 as pb;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Stage adding (or replacing) a node: its SM2 public key and TLS certificate. Order: province, cities,
    /// counties (a parent before its children); `--batch FILE` stages a whole CSV in that order.
    Add(AddArgs),
    /// Stage re-issuing a node's keys after its disk or key was lost: the new SM2 key is added (the old ones
    /// stay, closed, so what they signed still verifies) and its TLS certificate is replaced. The node then
    /// takes its log back from its parent's mirror (`gongxin-node init --recover`, deploy/RUNBOOK.md §5).
    /// 重新签发节点密钥（服务器或私钥丢失）：新增 SM2 密钥（旧密钥保留并截止），替换 TLS 证书。
    Rekey(RekeyArgs),
    /// Register or revoke an operator certificate of a node: only registered, unrevoked operator certificates
    /// may use a node's remote admin API and operator HTTPS view; registry changes over the province's remote
    /// admin API need `--registry-operator`. 登记或吊销节点的运维证书。
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Stage suspending a node (refused as a peer until reactivated with `add`).
    Suspend(CodeArgs),
    /// Stage revoking a node for good.
    Revoke(CodeArgs),
    /// Apply the staged changes as the next registry version.
    Apply(ApplyArgs),
    /// Drop every staged change (nothing is published).
    Discard(ShowArgs),
    /// Show the current registry and the staged changes.
    Show(ShowArgs),
}

#[derive(ClapArgs, Debug)]
pub struct AddArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The node's division code.
    #[arg(long, required_unless_present = "batch")]
    pub code: Option<String>,
    /// Display name (default: the division's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Parent node code (default: from the division table; none for the province).
    #[arg(long)]
    pub parent: Option<String>,
    /// The node's SM2 public key (node.pub.pem).
    #[arg(long, required_unless_present = "batch")]
    pub key: Option<PathBuf>,
    /// The node's TLS certificate (PEM) issued by the federation CA.
    #[arg(long, required_unless_present = "batch")]
    pub cert: Option<PathBuf>,
    /// CSV with the header `code,key,cert` (optional `name,parent` columns; paths relative to the file): every
    /// row is staged, parents before children whatever the file's order.
    #[arg(long, conflicts_with_all = ["code", "key", "cert", "name", "parent"])]
    pub batch: Option<PathBuf>,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(ClapArgs, Debug)]
pub struct RekeyArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The registered node whose keys are re-issued.
    #[arg(long)]
    pub code: String,
    /// The node's new SM2 public key (node.pub.pem of the re-initialised data dir).
    #[arg(long)]
    pub key: PathBuf,
    /// The node's new TLS certificate (PEM) issued by the federation CA.
    #[arg(long)]
    pub cert: PathBuf,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(Subcommand, Debug)]
pub enum OperatorCommand {
    /// Stage registering an operator certificate (issued by `gongxin pki issue operator`) of the node it names.
    Add(OperatorArgs),
    /// Stage revoking an operator certificate for good (before it expires).
    Revoke(OperatorArgs),
}

#[derive(ClapArgs, Debug)]
pub struct OperatorArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The operator certificate (PEM); its node code and name are read from it.
    #[arg(long)]
    pub cert: PathBuf,
    /// May stage, apply and discard registry changes over the province's remote admin API (province operators
    /// only). 名册操作员。
    #[arg(long)]
    pub registry_operator: bool,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

/// The registry change for an operator certificate file.
fn operator_change(a: &OperatorArgs, status: NodeStatus) -> anyhow::Result<Change> {
    let id = cert_identity(&a.cert)?;
    if id.role != gongxin_certs::Role::Operator {
        anyhow::bail!(
            "{} 不是运维证书 / is a {:?} certificate of {}, not an operator certificate",
            a.cert.display(),
            id.role,
            id.code.as_str()
        );
    }
    Ok(Change::Operator {
        code: id.code.as_str().to_string(),
        operator: OperatorEntry {
            fingerprint: id.fingerprint,
            name: id.name,
            registry_operator: a.registry_operator,
            status,
        },
    })
}

#[derive(ClapArgs, Debug)]
pub struct CodeArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    #[arg(long)]
    pub code: String,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(ClapArgs, Debug)]
pub struct ApplyArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The version you expect to create (as shown by `registry show`); refused if it differs.
    #[arg(long)]
    pub version: Option<u64>,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(ClapArgs, Debug)]
pub struct ShowArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

/// One node to stage: from the command line or one row of a `--batch` file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeSpec {
    code: String,
    name: Option<String>,
    parent: Option<String>,
    key: PathBuf,
    cert: PathBuf,
}

/// The Gongxin identity (role, node code, name, fingerprint) of the first certificate in a PEM file.
fn cert_identity(cert: &std::path::Path) -> anyhow::Result<gongxin_certs::PeerIdentity> {
    use anyhow::Context as _;
    let certs = gongxin_certs::load_certs_pem(cert).with_context(|| format!("{}", cert.display()))?;
    let first = certs.first().ok_or_else(|| anyhow::anyhow!("{}: no certificate", cert.display()))?;
    gongxin_certs::parse_identity(first).with_context(|| format!("{}", cert.display()))
}

/// A node's SM2 key (valid from now) and the fingerprint of its TLS certificate, which must be a node
/// certificate of `code`.
fn key_and_cert(code: &str, key: &std::path::Path, cert: &std::path::Path) -> anyhow::Result<(KeyEntry, String)> {
    use anyhow::Context as _;
    let pem = std::fs::read_to_string(key).with_context(|| format!("read {}", key.display()))?;
    PublicKey::from_spki_pem(&pem).with_context(|| format!("{}", key.display()))?;
    let id = cert_identity(cert)?;
    if id.code.as_str() != code || id.role != gongxin_certs::Role::Node {
        anyhow::bail!(
            "{} 不是 {} 的节点证书 / {} is a {:?} certificate of {}, not a node certificate of {}",
            cert.display(),
            code,
            cert.display(),
            id.role,
            id.code.as_str(),
            code
        );
    }
    let now = gongxin_core::date::rfc3339(time::OffsetDateTime::now_utc());
    Ok((KeyEntry { spki_pem: pem, valid_from: now, valid_until: None }, id.fingerprint))
}

fn build_entry(a: &NodeSpec) -> anyhow::Result<NodeEntry> {
    let refs = RefData::embedded();
    let div = refs.divisions.current(&a.code);
    let (key, fingerprint) = key_and_cert(&a.code, &a.key, &a.cert)?;
    let parent = match &a.parent {
        Some(p) => Some(p.clone()),
        None => div.and_then(|d| d.parent.clone()),
    };
    Ok(NodeEntry {
        code: a.code.clone(),
        name: a.name.clone().or_else(|| div.map(|d| d.name.clone())).unwrap_or_else(|| a.code.clone()),
        level: div.map(|d| d.level.as_str().to_string()).unwrap_or_else(|| "unknown".into()),
        parent,
        keys: vec![key],
        tls_fingerprints: vec![fingerprint],
        status: NodeStatus::Active,
        operators: vec![],
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
                        Change::Rekey { code, .. } => println!("  ~ {code} 新密钥与证书 new key and certificate"),
                        Change::Operator { code, operator: o } => println!(
                            "  ~ {code} 运维证书 operator {} {} -> {}{}",
                            o.name,
                            o.fingerprint,
                            o.status.as_str(),
                            if o.registry_operator { " (registry operator)" } else { "" }
                        ),
                    }
                }
                println!("下一步 next: gongxin registry apply --version {}", reg.version + 1);
            }
        }
    }
}

/// The rows of a `--batch` CSV (`code,key,cert[,name,parent]`, paths relative to the file), parents first.
fn read_batch(path: &std::path::Path) -> anyhow::Result<Vec<NodeSpec>> {
    use anyhow::Context as _;
    let base = path.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("read {}", path.display()))?;
    let headers = r.headers().with_context(|| format!("{}: header", path.display()))?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(code), Some(key), Some(cert)) = (col("code"), col("key"), col("cert")) else {
        anyhow::bail!("{}: 表头须有 code,key,cert 列 / the header must name the columns code,key,cert", path.display());
    };
    let (name, parent) = (col("name"), col("parent"));
    let mut out = Vec::new();
    for (i, row) in r.records().enumerate() {
        // Row 1 is the header.
        let line = i + 2;
        let row = row.with_context(|| format!("{}: 第 {line} 行 row {line}", path.display()))?;
        if out.len() >= MAX_BATCH {
            anyhow::bail!("{}: 超过 {MAX_BATCH} 行 more than {MAX_BATCH} rows", path.display());
        }
        let cell = |c: usize| row.get(c).unwrap_or("").to_string();
        let opt = |c: Option<usize>| c.map(cell).filter(|v| !v.is_empty());
        let spec = NodeSpec {
            code: cell(code),
            name: opt(name),
            parent: opt(parent),
            key: base.join(cell(key)),
            cert: base.join(cell(cert)),
        };
        if spec.code.is_empty() || cell(key).is_empty() || cell(cert).is_empty() {
            anyhow::bail!(
                "{}: 第 {line} 行 row {line}: code、key、cert 都必须填写 / code, key and cert are required",
                path.display()
            );
        }
        out.push(spec);
    }
    out.sort_by_key(|n| (depth(&n.code), n.code.clone()));
    Ok(out)
}

/// Rows a `--batch` file may hold (a province has about 140 nodes).
const MAX_BATCH: usize = 4096;

/// Depth of a division code in the hierarchy: province 0, city 1, county 2 (the staging order).
fn depth(code: &str) -> u8 {
    if code.ends_with("0000") {
        0
    } else if code.ends_with("00") {
        1
    } else {
        2
    }
}

fn stage(data_dir: &std::path::Path, change: &Change) -> Result<pb::RegistryReply, i32> {
    let change_json = serde_json::to_string(change).unwrap_or_default();
    call(data_dir, |mut c| {
        Box::pin(async move { Ok(c.registry_stage(pb::RegistryStageRequest { change_json }).await?.into_inner()) })
    })
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
        Command::Discard(a) => {
            return match call(&a.data_dir, |mut c| {
                Box::pin(async move { Ok(c.registry_discard(pb::RegistryRequest {}).await?.into_inner()) })
            }) {
                Ok(r) => {
                    print_reply(&r, a.output);
                    if a.output == Output::Table {
                        println!("已放弃待应用变更 staged changes discarded");
                    }
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
                    print_reply(&r, a.output);
                    if a.output == Output::Table {
                        println!("已发布 published: every node receives this version by down-sync");
                    }
                    exit::OK
                }
                Err(code) => code,
            };
        }
        Command::Add(a) => {
            let specs = match (&a.batch, &a.code, &a.key, &a.cert) {
                (Some(b), ..) => read_batch(b),
                (None, Some(code), Some(key), Some(cert)) => Ok(vec![NodeSpec {
                    code: code.clone(),
                    name: a.name.clone(),
                    parent: a.parent.clone(),
                    key: key.clone(),
                    cert: cert.clone(),
                }]),
                // clap requires --code, --key and --cert unless --batch is given.
                _ => Err(anyhow::anyhow!("--code, --key and --cert (or --batch FILE) are required")),
            };
            let entries = match specs.and_then(|v| v.iter().map(build_entry).collect::<anyhow::Result<Vec<_>>>()) {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("错误 error: {e:#}");
                    return exit::USAGE;
                }
            };
            let Some((last, first)) = entries.split_last() else {
                eprintln!("错误 error: 没有要登记的节点 nothing to stage");
                return exit::USAGE;
            };
            for (done, e) in first.iter().enumerate() {
                if let Err(code) = stage(&a.data_dir, &Change::Upsert(e.clone())) {
                    eprintln!(
                        "已暂存 {done} 个节点 {done} node(s) staged before this one; `gongxin registry show` lists them, \
                         `gongxin registry discard` drops them"
                    );
                    return code;
                }
            }
            (a.data_dir, Change::Upsert(last.clone()), a.output)
        }
        Command::Rekey(a) => match key_and_cert(&a.code, &a.key, &a.cert) {
            Ok((key, tls_fingerprint)) => (a.data_dir, Change::Rekey { code: a.code, key, tls_fingerprint }, a.output),
            Err(e) => {
                eprintln!("错误 error: {e:#}");
                return exit::USAGE;
            }
        },
        Command::Operator(c) => {
            let (a, status) = match c {
                OperatorCommand::Add(a) => (a, NodeStatus::Active),
                OperatorCommand::Revoke(a) => (a, NodeStatus::Revoked),
            };
            match operator_change(&a, status) {
                Ok(change) => (a.data_dir, change, a.output),
                Err(e) => {
                    eprintln!("错误 error: {e:#}");
                    return exit::USAGE;
                }
            }
        }
        Command::Suspend(a) => {
            (a.data_dir, Change::SetStatus { code: a.code, status: NodeStatus::Suspended }, a.output)
        }
        Command::Revoke(a) => (a.data_dir, Change::SetStatus { code: a.code, status: NodeStatus::Revoked }, a.output),
    };
    match stage(&data_dir, &change) {
        Ok(r) => {
            print_reply(&r, output);
            exit::OK
        }
        Err(code) => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_staged_parents_first_and_bad_rows_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("nodes.csv");
        std::fs::write(&f, "code,key,cert\n430102,c/k.pem,c/t.pem\n430100,b/k.pem,b/t.pem\n430000,a/k.pem,a/t.pem\n")
            .unwrap();
        let v = read_batch(&f).unwrap();
        let codes: Vec<&str> = v.iter().map(|n| n.code.as_str()).collect();
        assert_eq!(codes, ["430000", "430100", "430102"]);
        assert_eq!(v[0].key, tmp.path().join("a/k.pem"));
        std::fs::write(&f, "code,key\n430000,a\n").unwrap();
        assert!(read_batch(&f).unwrap_err().to_string().contains("code,key,cert"));
        std::fs::write(&f, "code,key,cert\n430000,,a\n").unwrap();
        let e = read_batch(&f).unwrap_err().to_string();
        assert!(e.contains("row 2"), "{e}");
    }
}
