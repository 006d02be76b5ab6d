//! `gongxin pki …`: federation CA and certificates (built on `gongxin-certs`).
//!
//! ```text
//! gongxin pki ca init --dir DIR [--algorithm ecdsa|sm2] [--name NAME] [--days N] [--force]
//! gongxin pki issue node     --ca-dir DIR --code 430102 [--name 芙蓉区] [--out DIR] [--stem S] [--days N] [--force]
//! gongxin pki issue operator --ca-dir DIR --code 430102 --name 张三 [...]
//! gongxin pki issue auditor  --ca-dir DIR --code 430000 --name 李四 [...]
//! gongxin pki inspect FILE [--ca CA.pem] [-o table|json]
//! ```
//! Results go to stdout (a table, or one JSON object with `-o json`); the next step to take goes to stderr.
//! Exit codes: 0 done; 1 `inspect` found a problem (expired, not a Gongxin certificate, not issued by `--ca`);
//! 2 bad arguments, unreadable input, or a file that would be overwritten without `--force`.
use crate::{exit, Output};
use clap::{Args, Subcommand};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use gongxin_certs::ca::{default_days, CA_CERT_FILE, CA_KEY_FILE};
use gongxin_certs::tls::{verify_client_cert, verify_server_cert, CaCert};
use gongxin_certs::{
    format_utc, inspect, load_certs_pem, Algorithm, Ca, CaOptions, CertError, CertInfo, CertKind, IssueOptions,
    NodeCode, Role,
};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The federation CA (kept at the province).
    #[command(subcommand)]
    Ca(CaCommand),
    /// Issue a certificate signed by the federation CA.
    #[command(subcommand)]
    Issue(IssueCommand),
    /// Show subject, node code, role, issuer and expiry of a certificate file.
    Inspect(InspectArgs),
}

#[derive(Subcommand, Debug)]
pub enum CaCommand {
    /// Create a new federation CA: writes DIR/ca.pem and DIR/ca.key (0600).
    Init(CaInitArgs),
}

#[derive(Args, Debug)]
pub struct CaInitArgs {
    /// Directory for ca.pem and ca.key (created 0700 if missing).
    #[arg(long)]
    pub dir: PathBuf,
    /// Common name of the CA certificate.
    #[arg(long, default_value = "Gongxin Federation CA")]
    pub name: String,
    /// Validity in days.
    #[arg(long, default_value_t = 3650)]
    pub days: u32,
    /// Signature algorithm of the CA and of every certificate it issues = the federation's TLS profile
    /// (`tls_profile` in every node's config): sm2 (国密, RFC 8998) or ecdsa (P-256).
    #[arg(long, value_enum, default_value_t = AlgorithmArg::Ecdsa)]
    pub algorithm: AlgorithmArg,
    /// Overwrite an existing CA (every certificate it issued stops being trusted once nodes get the new ca.pem).
    #[arg(long)]
    pub force: bool,
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// `--algorithm` of `pki ca init` (clap refuses anything else).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AlgorithmArg {
    /// ECDSA P-256 with SHA-256 (TLS profile `ecdsa`).
    Ecdsa,
    /// SM2 with SM3 (TLS profile `sm2`, RFC 8998).
    Sm2,
}

impl From<AlgorithmArg> for Algorithm {
    fn from(a: AlgorithmArg) -> Algorithm {
        match a {
            AlgorithmArg::Ecdsa => Algorithm::EcdsaP256,
            AlgorithmArg::Sm2 => Algorithm::Sm2,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum IssueCommand {
    /// A node certificate (TLS server and client): node code in the SAN.
    Node(IssueArgs),
    /// An operator certificate: may use the admin API of the node with this code.
    Operator(IssueArgs),
    /// An auditor certificate: the province auditor uses code 430000.
    Auditor(IssueArgs),
    /// A business-system certificate (e.g. --name 县财政局): may call only the joint-punishment check of the
    /// node with this code, on its mTLS port.
    BusinessSystem(IssueArgs),
}

#[derive(Args, Debug)]
pub struct IssueArgs {
    /// Directory holding ca.pem and ca.key.
    #[arg(long, env = "GONGXIN_CA_DIR")]
    pub ca_dir: PathBuf,
    /// Node code (GB/T 2260 division code), e.g. 430102.
    #[arg(long)]
    pub code: String,
    /// Node: place name (optional, e.g. 芙蓉区). Operator/auditor: the person's name (required).
    #[arg(long)]
    pub name: Option<String>,
    /// Validity in days [default: 730 for nodes, 365 for operators and auditors].
    #[arg(long)]
    pub days: Option<u32>,
    /// Directory to write <stem>.pem and <stem>.key into (created 0700 if missing).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// File name stem [default: <role>-<code>, e.g. node-430102].
    #[arg(long)]
    pub stem: Option<String>,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Certificate file (PEM; the first certificate is shown).
    pub file: PathBuf,
    /// Also verify the certificate against this CA certificate (as a TLS peer would, now).
    #[arg(long)]
    pub ca: Option<PathBuf>,
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

pub fn run(c: Command) -> i32 {
    let result = match c {
        Command::Ca(CaCommand::Init(a)) => ca_init(&a),
        Command::Issue(IssueCommand::Node(a)) => issue(Role::Node, &a),
        Command::Issue(IssueCommand::Operator(a)) => issue(Role::Operator, &a),
        Command::Issue(IssueCommand::Auditor(a)) => issue(Role::Auditor, &a),
        Command::Issue(IssueCommand::BusinessSystem(a)) => issue(Role::BusinessSystem, &a),
        Command::Inspect(a) => inspect_file(&a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("错误 error: {e}");
            exit::USAGE
        }
    }
}

fn ca_init(a: &CaInitArgs) -> Result<i32, CertError> {
    let algorithm = Algorithm::from(a.algorithm);
    let ca = Ca::create_with(&CaOptions { name: a.name.clone(), days: a.days }, algorithm)?;
    let (cert_path, key_path) = ca.save(&a.dir, a.force)?;
    let info = ca.info()?;
    match a.output {
        Output::Json => println!(
            "{}",
            json!({
                "ca_cert": cert_path.display().to_string(),
                "ca_key": key_path.display().to_string(),
                "subject": info.subject,
                "algorithm": algorithm.as_str(),
                "not_after": format_utc(info.not_after),
                "fingerprint": info.fingerprint,
            })
        ),
        Output::Table => {
            println!("已创建联邦根证书 / federation CA created");
            println!("  algorithm:   {algorithm} (tls_profile = \"{algorithm}\")");
            println!("  {}  (certificate 证书)", cert_path.display());
            println!("  {}  (private key 私钥, 0600)", key_path.display());
            println!("  subject:     {}", info.subject);
            println!("  not after:   {}", format_utc(info.not_after));
            println!("  fingerprint: {}", info.fingerprint);
        }
    }
    let dir = a.dir.display();
    eprintln!();
    eprintln!("下一步 / Next:");
    eprintln!(
        "  1. 妥善离线保管 {CA_KEY_FILE}，不要拷贝到任何节点 / keep {CA_KEY_FILE} offline; it never goes to a node."
    );
    eprintln!("  2. 签发省级节点证书 / issue the province node certificate:");
    eprintln!("     gongxin pki issue node --ca-dir {dir} --code 430000 --out <dir>");
    eprintln!(
        "  3. 把 {CA_CERT_FILE} 作为信任锚随节点一起分发 / hand {dir}/{CA_CERT_FILE} to every node with its anchor."
    );
    eprintln!(
        "  4. 每个节点配置 [federation] 中写 tls_profile = \"{algorithm}\" / set tls_profile = \"{algorithm}\" in every node's [federation]."
    );
    Ok(exit::OK)
}

fn issue(role: Role, a: &IssueArgs) -> Result<i32, CertError> {
    let code = NodeCode::parse(&a.code)?;
    let name = a.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if role != Role::Node && name.is_none() {
        eprintln!("错误 error: {role} certificates need --name <姓名或系统名称 person's or system's name>");
        return Ok(exit::USAGE);
    }
    let ca = Ca::load(&a.ca_dir)?;
    let opts = IssueOptions { name: a.name.clone(), days: a.days, not_before: None };
    let issued = ca.issue(role, &code, &opts)?;
    let (cert_path, key_path) = issued.save(&a.out, a.stem.as_deref(), a.force)?;
    let id = issued.identity()?;
    match a.output {
        Output::Json => println!(
            "{}",
            json!({
                "role": role.as_str(),
                "code": code.as_str(),
                "name": id.name,
                "cert": cert_path.display().to_string(),
                "key": key_path.display().to_string(),
                "dns_name": (role == Role::Node).then(|| code.dns_name()),
                "algorithm": ca.algorithm().as_str(),
                "not_after": format_utc(id.not_after),
                "serial": id.serial,
                "fingerprint": id.fingerprint,
            })
        ),
        Output::Table => {
            println!("已签发{}证书 / {role} certificate issued: {code} {}", role.label_zh(), name.unwrap_or(""));
            println!("  {}  (certificate 证书)", cert_path.display());
            println!("  {}  (private key 私钥, 0600)", key_path.display());
            if role == Role::Node {
                println!("  TLS name:    {}", code.dns_name());
            }
            println!("  algorithm:   {} (the CA's)", ca.algorithm());
            println!("  not after:   {} ({} days)", format_utc(id.not_after), a.days.unwrap_or(default_days(role)));
            println!("  fingerprint: {}", id.fingerprint);
        }
    }
    let ca_pem = a.ca_dir.join(CA_CERT_FILE);
    let (cert, key, ca_pem) = (cert_path.display(), key_path.display(), ca_pem.display());
    eprintln!();
    if role == Role::Auditor && !code.is_province() {
        eprintln!("注意 note: {code} 不是省级代码；审计接口要求省级审计员 / audit RPCs need an auditor of the province (e.g. 430000).");
    }
    eprintln!("下一步 / Next:");
    match role {
        Role::Node => {
            eprintln!("  1. 将 {cert}、{key} 和 {ca_pem} 安全拷贝到节点 {code}，并在节点配置的 TLS 设置中引用它们");
            eprintln!("     copy {cert}, {key} and {ca_pem} to node {code} and point its TLS settings at them.");
            eprintln!("  2. 在名册中登记该证书指纹 / record the fingerprint in the registry entry of {code}.");
        }
        Role::BusinessSystem => {
            eprintln!("  1. 通过安全渠道把 {cert}、{key} 和 {ca_pem} 交给业务系统 {} 的管理员", id.name);
            eprintln!(
                "     hand {cert}, {key} and {ca_pem} to the administrator of {} over a secure channel.",
                id.name
            );
            eprintln!("  2. 该系统只能调用节点 {code} 的联合惩戒核查接口 gongxin.check.v1.Check（mTLS 端口）");
            eprintln!("     it may call only gongxin.check.v1.Check on node {code}'s mTLS port.");
        }
        Role::Operator | Role::Auditor => {
            eprintln!("  1. 通过安全渠道把 {cert} 和 {key} 交给 {}（私钥只给本人）", id.name);
            eprintln!("     hand {cert} and {key} to {} over a secure channel; the key is theirs alone.", id.name);
        }
    }
    eprintln!("  检查 / check: gongxin pki inspect {cert} --ca {ca_pem}");
    Ok(exit::OK)
}

fn inspect_file(a: &InspectArgs) -> Result<i32, CertError> {
    let chain = load_certs_pem(&a.file)?;
    let info = inspect(&chain[0])?;
    let verification = match &a.ca {
        None => None,
        Some(ca_path) => Some(verify_against(ca_path, &chain, &info)?),
    };
    let days = info.days_to_expiry_now();
    let expired = info.is_expired_now();
    let mut problems: Vec<String> = Vec::new();
    if expired {
        problems.push(format!("expired {} days ago / 证书已过期", -days));
    }
    if let Some(p) = &info.problem {
        problems.push(p.clone());
    }
    if let Some(Err(e)) = &verification {
        problems.push(format!("not accepted under the given CA / 未通过根证书验证: {e}"));
    }
    match a.output {
        Output::Json => println!("{}", inspect_json(&a.file, chain.len(), &info, days, &verification, &problems)),
        Output::Table => print_inspect_table(&a.file, chain.len(), &info, days, &verification, &problems),
    }
    if problems.is_empty() {
        if matches!(info.kind, CertKind::Gongxin(_)) && days < 30 {
            eprintln!(
                "下一步 / Next: 证书将在 {days} 天内到期，请重新签发 / expires within {days} days: issue a new one."
            );
        }
        Ok(exit::OK)
    } else {
        Ok(exit::PROBLEMS)
    }
}

/// Verifies as a TLS peer would: every Gongxin certificate as a client; a node certificate also as the server
/// of its own node name.
fn verify_against(
    ca_path: &Path,
    chain: &[gongxin_certs::CertificateDer<'static>],
    info: &CertInfo,
) -> Result<Result<(), String>, CertError> {
    let ca = CaCert::load(ca_path)?;
    if info.kind == CertKind::Ca {
        return Ok(if ca.der() == &chain[0] { Ok(()) } else { Err("a different CA certificate".to_string()) });
    }
    let now = std::time::SystemTime::now();
    let client = verify_client_cert(&ca, chain, now).map(|_| ()).map_err(|e| e.to_string());
    let server = match (&info.kind, &info.code) {
        (CertKind::Gongxin(Role::Node), Some(code)) => {
            verify_server_cert(&ca, chain, code, now).map(|_| ()).map_err(|e| e.to_string())
        }
        _ => Ok(()),
    };
    Ok(client.and(server))
}

fn kind_str(kind: CertKind) -> &'static str {
    match kind {
        CertKind::Ca => "ca",
        CertKind::Gongxin(r) => r.as_str(),
        CertKind::Other => "other",
    }
}

fn inspect_json(
    file: &Path,
    chain_len: usize,
    info: &CertInfo,
    days: i64,
    verification: &Option<Result<(), String>>,
    problems: &[String],
) -> serde_json::Value {
    json!({
        "file": file.display().to_string(),
        "kind": kind_str(info.kind),
        "subject": info.subject,
        "algorithm": info.algorithm.as_str(),
        "issuer": info.issuer,
        "code": info.code.as_ref().map(|c| c.as_str()),
        "role": info.role.map(|r| r.as_str()),
        "dns_names": info.dns_names,
        "not_before": format_utc(info.not_before),
        "not_after": format_utc(info.not_after),
        "days_to_expiry": days,
        "serial": info.serial,
        "fingerprint": info.fingerprint,
        "chain_length": chain_len,
        "verified": verification.as_ref().map(|v| v.is_ok()),
        "problems": problems,
    })
}

fn print_inspect_table(
    file: &Path,
    chain_len: usize,
    info: &CertInfo,
    days: i64,
    verification: &Option<Result<(), String>>,
    problems: &[String],
) {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    let kind = match info.kind {
        CertKind::Ca => "CA 根证书".to_string(),
        CertKind::Gongxin(r) => format!("{r} {}", r.label_zh()),
        CertKind::Other => "other 非共信证书".to_string(),
    };
    let dash = || "-".to_string();
    let rows: Vec<(&str, String)> = vec![
        ("file 文件", file.display().to_string()),
        ("kind 类型", kind),
        ("subject 主体", info.subject.clone()),
        ("algorithm 算法", format!("{} (tls_profile = \"{}\")", info.algorithm, info.algorithm)),
        ("code 节点代码", info.code.as_ref().map(|c| c.to_string()).unwrap_or_else(dash)),
        ("role 角色", info.role.map(|r| format!("{r} {}", r.label_zh())).unwrap_or_else(dash)),
        ("issuer 签发者", info.issuer.clone()),
        ("not before 生效", format_utc(info.not_before)),
        ("not after 到期", format_utc(info.not_after)),
        ("days to expiry 剩余天数", days.to_string()),
        ("serial 序列号", info.serial.clone()),
        ("SHA-256 指纹", info.fingerprint.clone()),
    ];
    for (k, v) in rows {
        t.add_row(vec![k.to_string(), v]);
    }
    if !info.dns_names.is_empty() {
        t.add_row(vec!["TLS name 域名".to_string(), info.dns_names.join(", ")]);
    }
    if chain_len > 1 {
        t.add_row(vec!["chain 证书链".to_string(), format!("{chain_len} certificates (first shown)")]);
    }
    if let Some(v) = verification {
        let s = match v {
            Ok(()) => "ok 通过".to_string(),
            Err(_) => "FAILED 未通过".to_string(),
        };
        t.add_row(vec!["verified 验证".to_string(), s]);
    }
    println!("{t}");
    for p in problems {
        println!("问题 / problem: {p}");
    }
}
