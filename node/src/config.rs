//! Node configuration: the file type mirrors the TOML (unknown keys refused), the runtime type is validated.
//! Parse once, at start-up or in `gongxin-node config check`.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Name of the config file inside a data dir.
pub const CONFIG_FILE: &str = "gongxin.toml";
/// The only config format this build understands.
pub const CONFIG_VERSION: u32 = 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    config_version: u32,
    node: FileNode,
    #[serde(default)]
    log: FileLog,
    #[serde(default)]
    checkpoint: FileCheckpoint,
    #[serde(default)]
    federation: Option<FileFederation>,
    #[serde(default)]
    http: Option<FileHttp>,
    #[serde(default)]
    store: Option<FileStore>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFederation {
    province_key: PathBuf,
    ca_cert: PathBuf,
    tls_cert: PathBuf,
    tls_key: PathBuf,
    #[serde(default)]
    listen: Option<String>,
    #[serde(default)]
    parent_code: Option<String>,
    #[serde(default)]
    parent_addr: Option<String>,
    #[serde(default)]
    sync_interval_seconds: Option<u64>,
    #[serde(default)]
    tls_profile: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileNode {
    code: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLog {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    file: Option<PathBuf>,
    #[serde(default)]
    rotation: Option<String>,
    #[serde(default)]
    keep_files: Option<usize>,
    #[serde(default)]
    utc_offset: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCheckpoint {
    #[serde(default)]
    heartbeat_seconds: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where log lines go (`[log] output`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogOutput {
    /// Standard error (the default; under systemd the journal captures it).
    Stderr,
    /// A file rotated by `tracing-appender`, at most `keep` files kept.
    File { path: PathBuf, rotation: LogRotation, keep: usize },
    /// The systemd journal's native protocol (structured fields).
    Journal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogRotation {
    Hourly,
    Daily,
    Never,
}

/// The division facts config validation needs: name, level, parent code (None for the province).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DivisionInfo {
    pub name: String,
    pub level: String,
    pub parent: Option<String>,
}

/// Default fixed offset of log timestamps (China Standard Time, no DST, no tz database).
pub const DEFAULT_UTC_OFFSET: &str = "+08:00";

/// Checks a `[log] level`: one of error|warn|info|debug|trace|off, or an EnvFilter directive list whose every
/// directive names a level (`info,gongxin_node::peers=debug`). A bare word that is not a level ("verbose") is
/// refused: EnvFilter would take it as a target name and silently log nothing useful.
pub fn check_log_level(level: &str) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
    let hint = "只能是 error、warn、info、debug、trace，或 EnvFilter 指令如 \"info,gongxin_node::peers=debug\" \
                / use error, warn, info, debug, trace, or an EnvFilter directive such as \"info,gongxin_node::peers=debug\"";
    if level.trim().is_empty() {
        return Err(format!("为空 is empty; {hint}"));
    }
    for d in level.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let lvl = d.rsplit_once('=').map(|(_, l)| l).unwrap_or(d);
        if !LEVELS.contains(&lvl.to_ascii_lowercase().as_str()) {
            return Err(format!("{level:?} 中的 {d:?} 不是日志级别 is not a log level; {hint}"));
        }
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(level)
        .map(|_| ())
        .map_err(|e| format!("{level:?} 无法解析 does not parse ({e}); {hint}"))
}

/// Parses `[log] utc_offset` ("+08:00", "-05:30", "Z"): a fixed offset, never a zone name.
pub fn parse_utc_offset(s: &str) -> Result<time::UtcOffset, String> {
    let bad = || {
        format!(
            "{s:?} 不是固定时差 is not a fixed offset; 写成 \"+08:00\"（北京时间）或 \"Z\" / write \"+08:00\" or \"Z\" \
             (zone names such as Asia/Shanghai are not read: no tz database)"
        )
    };
    if s == "Z" || s == "z" {
        return Ok(time::UtcOffset::UTC);
    }
    let b = s.as_bytes();
    if b.len() != 6 || !(b[0] == b'+' || b[0] == b'-') || b[3] != b':' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<i8>().ok()).ok_or_else(bad);
    let (h, m) = (num(1..3)?, num(4..6)?);
    if !(0..=23).contains(&h) || !(0..=59).contains(&m) {
        return Err(bad());
    }
    let sign = if b[0] == b'-' { -1 } else { 1 };
    time::UtcOffset::from_hms(sign * h, sign * m, 0).map_err(|_| bad())
}

/// Validated runtime configuration of one node.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub code: String,
    pub name: String,
    pub level: String,
    pub log_format: LogFormat,
    pub log_level: String,
    pub log_output: LogOutput,
    /// Fixed offset of log timestamps (`[log] utc_offset`, default +08:00).
    pub log_utc_offset: time::UtcOffset,
    /// The parent the division table gives (None for the province).
    pub division_parent: Option<String>,
    pub heartbeat: Duration,
    /// Federation membership; `None` = standalone node.
    pub federation: Option<FederationConfig>,
    /// The HTTP side (status pages, metrics, health): `[http]`.
    pub http: HttpConfig,
    /// sled's page cache budget in bytes (`[store] cache_mib`).
    pub store_cache_bytes: u64,
}

/// Where a node finds its federation anchor and TLS identity, and its links.
#[derive(Clone, Debug)]
pub struct FederationConfig {
    /// The province's SM2 public key (SPKI PEM), handed over out of band.
    pub province_key: PathBuf,
    /// The federation CA certificate (PEM).
    pub ca_cert: PathBuf,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// Address children connect to (parents only).
    pub listen: Option<std::net::SocketAddr>,
    /// The parent's code and address (all but the province).
    pub parent: Option<(String, String)>,
    pub sync_interval: Duration,
    /// The federation's TLS profile (`tls_profile`, default `ecdsa`): must be the algorithm of `ca_cert`.
    pub tls_profile: gongxin_certs::Algorithm,
}

impl Config {
    pub fn key_path(&self) -> PathBuf {
        self.data_dir.join("node.key")
    }
    pub fn public_key_path(&self) -> PathBuf {
        self.data_dir.join("node.pub.pem")
    }
    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join("store")
    }
    /// Opens this node's sled store with the configured cache budget.
    pub fn open_store(&self) -> Result<crate::store::sled::SledStore, crate::store::StoreError> {
        crate::store::sled::SledStore::open_with_cache(&self.store_path(), self.store_cache_bytes)
    }
    pub fn admin_socket(&self) -> PathBuf {
        admin_socket(&self.data_dir)
    }
    pub fn pid_path(&self) -> PathBuf {
        self.data_dir.join("node.pid")
    }
}

/// The admin API's Unix socket inside a data dir (the CLI finds the node through it).
pub fn admin_socket(data_dir: &Path) -> PathBuf {
    data_dir.join(gongxin_proto::admin::ADMIN_SOCKET_FILE)
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {field}: {reason}")]
    Invalid { path: PathBuf, field: &'static str, reason: String },
}

/// Loads and validates `DATA_DIR/gongxin.toml`. `division` answers whether a code is a current division and
/// gives its name, level and parent.
pub fn load(data_dir: &Path, division: impl Fn(&str) -> Option<DivisionInfo>) -> Result<Config, ConfigError> {
    let path = data_dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
    parse(&text, data_dir, &path, division)
}

fn parse(
    text: &str,
    data_dir: &Path,
    path: &Path,
    division: impl Fn(&str) -> Option<DivisionInfo>,
) -> Result<Config, ConfigError> {
    let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: format!("{}(hint: compare with the annotated file `gongxin-node init` writes)", e),
    })?;
    let invalid = |field, reason: String| ConfigError::Invalid { path: path.to_path_buf(), field, reason };
    if file.config_version != CONFIG_VERSION {
        return Err(invalid(
            "config_version",
            format!("is {}, this build understands {CONFIG_VERSION}", file.config_version),
        ));
    }
    let me = division(&file.node.code).ok_or_else(|| {
        invalid(
            "node.code",
            format!("{} is not a current Hunan division code (data/hunan_divisions.csv)", file.node.code),
        )
    })?;
    if let Some(n) = &file.node.name {
        if n.trim() != me.name {
            return Err(invalid(
                "node.name",
                format!(
                    "是 {n:?}，但行政区划表中 {} 的名称是 {:?}；请改为 name = {:?} 或删去此行 / is {n:?}, but the division \
                     table names {} {:?}: set name = {:?} or remove the line",
                    file.node.code, me.name, me.name, file.node.code, me.name, me.name
                ),
            ));
        }
    }
    let log_format = match file.log.format.as_deref().unwrap_or("text") {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            return Err(invalid(
                "log.format",
                format!("是 {other:?}，只能是 \"text\" 或 \"json\" / is {other:?}; use \"text\" or \"json\""),
            ))
        }
    };
    let log_level = file.log.level.unwrap_or_else(|| "info".to_string());
    check_log_level(&log_level).map_err(|r| invalid("log.level", r))?;
    let log_utc_offset = parse_utc_offset(file.log.utc_offset.as_deref().unwrap_or(DEFAULT_UTC_OFFSET))
        .map_err(|r| invalid("log.utc_offset", r))?;
    let output = file.log.output.as_deref().unwrap_or("stderr");
    if output != "file" && (file.log.file.is_some() || file.log.rotation.is_some() || file.log.keep_files.is_some()) {
        return Err(invalid(
            "log.file",
            format!(
                "file、rotation、keep_files 只在 output = \"file\" 时有效，现在 output = {output:?} / file, rotation and \
                 keep_files apply only with output = \"file\" (output is {output:?})"
            ),
        ));
    }
    let log_output = match output {
        "stderr" => LogOutput::Stderr,
        "journal" => LogOutput::Journal,
        "file" => {
            let p = file.log.file.clone().unwrap_or_else(|| PathBuf::from("logs/node.log"));
            let path = if p.is_absolute() { p } else { data_dir.join(p) };
            if path.file_name().is_none() {
                return Err(invalid(
                    "log.file",
                    format!("{} 不是文件名 names no file / names no file", path.display()),
                ));
            }
            let rotation = match file.log.rotation.as_deref().unwrap_or("daily") {
                "daily" => LogRotation::Daily,
                "hourly" => LogRotation::Hourly,
                "never" => LogRotation::Never,
                other => {
                    return Err(invalid(
                        "log.rotation",
                        format!(
                            "是 {other:?}，只能是 \"daily\"、\"hourly\" 或 \"never\" / is {other:?}; use \"daily\", \
                             \"hourly\" or \"never\""
                        ),
                    ))
                }
            };
            let keep = file.log.keep_files.unwrap_or(14);
            if !(1..=366).contains(&keep) {
                return Err(invalid("log.keep_files", format!("是 {keep}，应为 1..=366 / is {keep}; use 1..=366")));
            }
            LogOutput::File { path, rotation, keep }
        }
        other => {
            return Err(invalid(
                "log.output",
                format!(
                    "是 {other:?}，只能是 \"stderr\"、\"file\" 或 \"journal\" / is {other:?}; use \"stderr\", \"file\" \
                     or \"journal\""
                ),
            ))
        }
    };
    let heartbeat = file.checkpoint.heartbeat_seconds.unwrap_or(60);
    if !(1..=86_400).contains(&heartbeat) {
        return Err(invalid("checkpoint.heartbeat_seconds", format!("is {heartbeat}; use 1..=86400")));
    }
    let federation = match file.federation {
        None => None,
        Some(f) => {
            let abs = |p: PathBuf| if p.is_absolute() { p } else { data_dir.join(p) };
            let listen = match f.listen {
                None => None,
                Some(l) => Some(l.parse().map_err(|_| {
                    invalid("federation.listen", format!("{l:?} is not an address such as \"127.0.0.1:7400\""))
                })?),
            };
            let parent = match (f.parent_code, f.parent_addr) {
                (None, None) => None,
                (Some(c), Some(a)) => {
                    if me.parent.as_deref() != Some(c.as_str()) {
                        let want = match &me.parent {
                            Some(p) => {
                                let pname = division(p).map(|d| d.name).unwrap_or_default();
                                format!(
                                    "行政区划表中 {} {} 的上级是 {p} {pname}；请写 parent_code = \"{p}\" / the division \
                                     table's parent of {} is {p} {pname}: set parent_code = \"{p}\"",
                                    file.node.code, me.name, file.node.code
                                )
                            }
                            None => format!(
                                "{} 是省级节点，没有上级；请删去 parent_code 和 parent_addr / {} is the province and has \
                                 no parent: remove parent_code and parent_addr",
                                file.node.code, file.node.code
                            ),
                        };
                        return Err(invalid("federation.parent_code", format!("是 {c:?}，{want}")));
                    }
                    Some((c, a))
                }
                _ => {
                    return Err(invalid(
                        "federation.parent_code",
                        "parent_code and parent_addr go together (both or neither)".into(),
                    ))
                }
            };
            if parent.is_none() && file.node.code != "430000" {
                return Err(invalid("federation.parent_code", "every node but the province needs a parent".into()));
            }
            let interval = f.sync_interval_seconds.unwrap_or(5);
            if !(1..=3600).contains(&interval) {
                return Err(invalid("federation.sync_interval_seconds", format!("is {interval}; use 1..=3600")));
            }
            let tls_profile = match f.tls_profile.as_deref().unwrap_or("ecdsa") {
                "ecdsa" => gongxin_certs::Algorithm::EcdsaP256,
                "sm2" => gongxin_certs::Algorithm::Sm2,
                other => {
                    return Err(invalid(
                        "federation.tls_profile",
                        format!(
                        "是 {other:?}，只能是 \"sm2\"（国密 RFC 8998）或 \"ecdsa\"（默认）/ is {other:?}; use \"sm2\" \
                             (national cryptography, RFC 8998) or \"ecdsa\" (the default); it must match the \
                             algorithm of the federation CA certificate (`gongxin pki inspect anchor/ca.pem`)"
                    ),
                    ))
                }
            };
            Some(FederationConfig {
                tls_profile,
                province_key: abs(f.province_key),
                ca_cert: abs(f.ca_cert),
                tls_cert: abs(f.tls_cert),
                tls_key: abs(f.tls_key),
                listen,
                parent,
                sync_interval: Duration::from_secs(interval),
            })
        }
    };
    let http = parse_http(file.http, &invalid)?;
    let store_cache_bytes = parse_store(file.store, &invalid)?;
    if http.operator_listen.is_some() && federation.is_none() {
        return Err(invalid(
            "http.operator_listen",
            "运维 HTTPS 使用本节点的联邦 TLS 证书与 CA，须先配置 [federation] / the operator HTTPS view uses this \
             node's federation TLS certificate and CA: configure [federation] first"
                .into(),
        ));
    }
    Ok(Config {
        http,
        store_cache_bytes,
        federation,
        data_dir: data_dir.to_path_buf(),
        code: file.node.code,
        name: me.name,
        level: me.level,
        division_parent: me.parent,
        log_format,
        log_level,
        log_output,
        log_utc_offset,
        heartbeat: Duration::from_secs(heartbeat),
    })
}

// ---- [http]: the HTTP side (node/src/http/) --------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHttp {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    listen: Option<String>,
    #[serde(default)]
    operator_listen: Option<String>,
}

/// Where the status pages, `/metrics`, `/livez` and `/readyz` are served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    pub enabled: bool,
    /// A loopback address (port 0: the kernel picks; the bound address is written to `DATA_DIR/http.addr`).
    pub listen: std::net::SocketAddr,
    /// The operator view over HTTPS (any address): mutual TLS with the node's own TLS identity, only operator
    /// certificates of this node are let in (the bound address is written to `DATA_DIR/https.addr`).
    pub operator_listen: Option<std::net::SocketAddr>,
}

/// The default: on, loopback, a port the kernel picks.
pub const HTTP_DEFAULT_LISTEN: &str = "127.0.0.1:0";

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { enabled: true, listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)), operator_listen: None }
    }
}

fn parse_http(
    f: Option<FileHttp>,
    invalid: &impl Fn(&'static str, String) -> ConfigError,
) -> Result<HttpConfig, ConfigError> {
    let f = f.unwrap_or(FileHttp { enabled: None, listen: None, operator_listen: None });
    let text = f.listen.unwrap_or_else(|| HTTP_DEFAULT_LISTEN.to_string());
    let listen: std::net::SocketAddr = text.parse().map_err(|_| {
        invalid("http.listen", format!("{text:?} 不是地址 is not an address such as \"127.0.0.1:7480\""))
    })?;
    if !listen.ip().is_loopback() {
        return Err(invalid(
            "http.listen",
            format!(
                "{listen} 不是本机回环地址：无 TLS 的 HTTP 只在回环地址（127.0.0.1 或 ::1）上提供；远程访问请设 \
                 operator_listen（HTTPS，须出示本节点运维证书）/ is not a loopback address: plain HTTP is served on \
                 loopback only; for remote access set operator_listen (HTTPS with operator certificates of this node)"
            ),
        ));
    }
    let operator_listen = f
        .operator_listen
        .map(|t| {
            t.parse::<std::net::SocketAddr>().map_err(|_| {
                invalid("http.operator_listen", format!("{t:?} 不是地址 is not an address such as \"0.0.0.0:7443\""))
            })
        })
        .transpose()?;
    Ok(HttpConfig { enabled: f.enabled.unwrap_or(true), listen, operator_listen })
}

// ---- end of [http] ------------------------------------------------------------------------------------------

// ---- [store]: the sled store (node/src/store/sled.rs) --------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStore {
    #[serde(default)]
    cache_mib: Option<u64>,
}

/// Bounds of `[store] cache_mib`: below 16 MiB sled thrashes; above 16 GiB is more than this software needs.
pub const STORE_CACHE_MIB: std::ops::RangeInclusive<u64> = 16..=16 * 1024;

fn parse_store(
    f: Option<FileStore>,
    invalid: &impl Fn(&'static str, String) -> ConfigError,
) -> Result<u64, ConfigError> {
    let mib = f.and_then(|f| f.cache_mib).unwrap_or(crate::store::sled::DEFAULT_CACHE_MIB);
    if !STORE_CACHE_MIB.contains(&mib) {
        return Err(invalid(
            "store.cache_mib",
            format!(
                "{mib} 超出范围，应在 {} 到 {} 之间 / is out of range {}..={} (MiB of sled's page cache)",
                STORE_CACHE_MIB.start(),
                STORE_CACHE_MIB.end(),
                STORE_CACHE_MIB.start(),
                STORE_CACHE_MIB.end()
            ),
        ));
    }
    Ok(mib << 20)
}

// ---- end of [store] -----------------------------------------------------------------------------------------

/// The annotated config `gongxin-node init` writes.
pub fn annotated_template(code: &str, name: &str) -> String {
    const STORE_CACHE_DEFAULT_MIB: u64 = crate::store::sled::DEFAULT_CACHE_MIB;
    format!(
        r#"# 共信 Gongxin 节点配置 / node configuration
# 修改后请运行 `gongxin-node config check --data-dir <目录>` 检查。
# After editing, run `gongxin-node config check --data-dir <DIR>`. Unknown keys are refused.

# 配置格式版本 / format version of this file (this build understands 1)
config_version = {CONFIG_VERSION}

[node]
# 本节点的行政区划代码（GB/T 2260），即节点身份 / this node's division code = its identity
code = "{code}"
# 显示名称 / display name
name = "{name}"

[log]
# 日志格式 text 或 json / log format: "text" or "json"
format = "text"
# 日志级别 / level: error, warn, info, debug, trace (or an EnvFilter directive such as "info,gongxin_node::peers=debug");
# 运行中修改后发送 SIGHUP（systemctl reload gongxin-node）即生效 / after editing, SIGHUP applies it to the running node
level = "info"
# 输出 stderr（默认；systemd 下进入 journal）、file（按日轮转）或 journal（journald 原生协议）
# output: "stderr" (default; under systemd it reaches the journal), "file" (rotated) or "journal" (native journald)
# output = "stderr"
# output = "file" 时：文件、轮转（daily|hourly|never）、保留文件数 / with output = "file": path, rotation, files kept
# file = "logs/node.log"
# rotation = "daily"
# keep_files = 14
# 时间戳的固定时差，默认北京时间 / fixed offset of timestamps (default +08:00, China Standard Time)
# utc_offset = "+08:00"

[checkpoint]
# 空闲时签发心跳检查点的间隔（秒）/ seconds between signed heartbeat checkpoints while idle
heartbeat_seconds = 60

# 加入联邦 / joining the federation: uncomment and fill in (paths relative to the data dir).
# 没有此节时节点单机运行 / without this section the node runs standalone.
# [federation]
# 省级 SM2 公钥（信任锚，线下交付）/ the province's SM2 public key (trust anchor, handed over out of band)
# province_key = "anchor/province.pub.pem"
# 联邦 CA 证书 / the federation CA certificate
# ca_cert = "anchor/ca.pem"
# 本节点 TLS 证书和私钥（gongxin pki issue node）/ this node's TLS certificate and key
# tls_cert = "tls/node.pem"
# tls_key = "tls/node.key"
# 下级节点连接的地址（省、市）/ address children connect to (province and cities)
# listen = "127.0.0.1:7400"
# 上级节点 / the parent node (all but the province)
# parent_code = "430100"
# parent_addr = "127.0.0.1:7401"
# 同步间隔（秒）/ seconds between sync rounds
# sync_interval_seconds = 5
# 联邦 TLS 配置：sm2（国密 RFC 8998）或 ecdsa（默认），须与联邦 CA 证书的算法一致
# the federation's TLS profile: "sm2" (RFC 8998) or "ecdsa" (default); must match the CA certificate's algorithm
# tls_profile = "ecdsa"

# 状态页、信用查询页、指标与健康检查（只读）/ status pages, query pages, metrics and health (read-only).
# 实际监听地址写入数据目录下的 http.addr / the bound address is written to DATA_DIR/http.addr.
[http]
# 是否开启 / on or off
enabled = true
# 只允许本机回环地址；端口 0 由系统选择 / loopback only; port 0 lets the kernel pick
listen = "{HTTP_DEFAULT_LISTEN}"
# 运维视图（未脱敏）经 HTTPS 提供，须出示本节点的运维证书（gongxin pki issue operator）；实际地址写入 https.addr。
# 需要 [federation] 的 TLS 证书与 CA。/ the operator (unmasked) view over HTTPS, for operator certificates of this
# node only; needs [federation]'s TLS files; the bound address is written to DATA_DIR/https.addr.
# operator_listen = "0.0.0.0:7443"

# 存储（sled）/ the store (sled)
[store]
# 页缓存上限（MiB，16–16384）；记录越多、查询越频繁，可适当加大 / page cache budget in MiB (16–16384)
cache_mib = {STORE_CACHE_DEFAULT_MIB}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn div(code: &str) -> Option<DivisionInfo> {
        let d = |name: &str, level: &str, parent: Option<&str>| DivisionInfo {
            name: name.into(),
            level: level.into(),
            parent: parent.map(str::to_string),
        };
        match code {
            "430000" => Some(d("湖南省", "province", None)),
            "430100" => Some(d("长沙市", "prefecture", Some("430000"))),
            "430102" => Some(d("芙蓉区", "county", Some("430100"))),
            "430300" => Some(d("湘潭市", "prefecture", Some("430000"))),
            _ => None,
        }
    }

    #[test]
    fn template_parses() {
        let c = parse(&annotated_template("430102", "芙蓉区"), Path::new("/d"), Path::new("/d/g.toml"), div).unwrap();
        assert_eq!(c.code, "430102");
        assert_eq!(c.level, "county");
        assert_eq!(c.heartbeat, Duration::from_secs(60));
    }

    #[test]
    fn unknown_key_and_bad_values_are_named() {
        let t = annotated_template("430102", "芙蓉区").replace("[log]", "[log]\ncolour = 1");
        let e = parse(&t, Path::new("/d"), Path::new("/d/g.toml"), div).unwrap_err().to_string();
        assert!(e.contains("colour"), "{e}");
        let t = annotated_template("439999", "x");
        let e = parse(&t, Path::new("/d"), Path::new("/d/g.toml"), div).unwrap_err().to_string();
        assert!(e.contains("node.code"), "{e}");
        let t = annotated_template("430102", "芙蓉区").replace("config_version = 1", "config_version = 2");
        let e = parse(&t, Path::new("/d"), Path::new("/d/g.toml"), div).unwrap_err().to_string();
        assert!(e.contains("config_version"), "{e}");
    }

    #[test]
    fn store_cache_is_configurable_within_bounds() {
        let p = |t: &str| parse(t, Path::new("/d"), Path::new("/d/g.toml"), div);
        let t = annotated_template("430102", "芙蓉区");
        assert_eq!(p(&t).unwrap().store_cache_bytes, crate::store::sled::DEFAULT_CACHE_BYTES);
        let without = t.split("\n[store]").next().unwrap().to_string();
        assert_eq!(p(&without).unwrap().store_cache_bytes, crate::store::sled::DEFAULT_CACHE_BYTES);
        let line = format!("cache_mib = {}", crate::store::sled::DEFAULT_CACHE_MIB);
        assert_eq!(p(&t.replace(&line, "cache_mib = 512")).unwrap().store_cache_bytes, 512 << 20);
        for bad in ["cache_mib = 8", "cache_mib = 100000"] {
            let e = p(&t.replace(&line, bad)).unwrap_err().to_string();
            assert!(e.contains("store.cache_mib") && e.contains("16"), "{bad}: {e}");
        }
        let e = p(&t.replace("[store]", "[store]\ncompress = true")).unwrap_err().to_string();
        assert!(e.contains("compress"), "{e}");
    }

    #[test]
    fn http_defaults_to_loopback_and_refuses_other_addresses() {
        let p = |t: &str| parse(t, Path::new("/d"), Path::new("/d/g.toml"), div);
        let c = p(&annotated_template("430102", "芙蓉区")).unwrap();
        assert_eq!(c.http, HttpConfig { enabled: true, listen: "127.0.0.1:0".parse().unwrap(), operator_listen: None });
        let without = annotated_template("430102", "芙蓉区").split("\n[http]").next().unwrap().to_string();
        assert_eq!(p(&without).unwrap().http, c.http, "no [http] section: the same default");
        let t = annotated_template("430102", "芙蓉区").replace("listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:80\"");
        let e = p(&t).unwrap_err().to_string();
        assert!(e.contains("http.listen") && e.contains("回环") && e.contains("loopback"), "{e}");
        let t = annotated_template("430102", "芙蓉区").replace("listen = \"127.0.0.1:0\"", "listen = \"[::1]:7480\"");
        assert_eq!(p(&t).unwrap().http.listen, "[::1]:7480".parse().unwrap());
        let t = annotated_template("430102", "芙蓉区").replace("enabled = true", "enabled = false");
        assert!(!p(&t).unwrap().http.enabled);
        let t = annotated_template("430102", "芙蓉区").replace("[http]", "[http]\nport = 1");
        assert!(p(&t).unwrap_err().to_string().contains("port"));
        // The operator HTTPS view may listen anywhere, but needs the federation's TLS files.
        let op = "# operator_listen = \"0.0.0.0:7443\"";
        let t = annotated_template("430102", "芙蓉区").replace(op, "operator_listen = \"0.0.0.0:7443\"");
        let e = p(&t).unwrap_err().to_string();
        assert!(e.contains("http.operator_listen") && e.contains("[federation]"), "{e}");
        let t = federation("").replace(op, "operator_listen = \"0.0.0.0:7443\"");
        assert_eq!(p(&t).unwrap().http.operator_listen, Some("0.0.0.0:7443".parse().unwrap()));
        let t = federation("").replace(op, "operator_listen = \"everywhere\"");
        assert!(p(&t).unwrap_err().to_string().contains("http.operator_listen"));
    }

    fn federation(extra: &str) -> String {
        let fed = "\n[federation]\nprovince_key = \"a/p.pem\"\nca_cert = \"a/ca.pem\"\ntls_cert = \"t/n.pem\"\n\
                   tls_key = \"t/n.key\"\nparent_code = \"430100\"\nparent_addr = \"127.0.0.1:7400\"\n";
        format!("{}{fed}{extra}", annotated_template("430102", "芙蓉区"))
    }

    #[test]
    fn tls_profile_defaults_to_ecdsa_and_refuses_unknown_values() {
        let p = |t: &str| parse(t, Path::new("/d"), Path::new("/d/g.toml"), div);
        let c = p(&federation("")).unwrap();
        assert_eq!(c.federation.unwrap().tls_profile, gongxin_certs::Algorithm::EcdsaP256);
        let c = p(&federation("tls_profile = \"sm2\"\n")).unwrap();
        assert_eq!(c.federation.unwrap().tls_profile, gongxin_certs::Algorithm::Sm2);
        let e = p(&federation("tls_profile = \"gm\"\n")).unwrap_err().to_string();
        assert!(e.contains("federation.tls_profile") && e.contains("\"sm2\"") && e.contains("\"gm\""), "{e}");
    }

    fn refusal(t: &str) -> String {
        parse(t, Path::new("/d"), Path::new("/d/g.toml"), div).unwrap_err().to_string()
    }

    fn log_section(extra: &str) -> String {
        annotated_template("430102", "芙蓉区")
            .replace("[log]\n", &format!("[log]\n{extra}\n"))
            .replace("format = \"text\"\n# 日志级别", "# 日志级别")
    }

    #[test]
    fn log_level_verbose_is_refused_naming_the_field() {
        let t = annotated_template("430102", "芙蓉区").replace("level = \"info\"", "level = \"verbose\"");
        let e = refusal(&t);
        assert!(e.contains("log.level") && e.contains("verbose") && e.contains("不是日志级别"), "{e}");
        for ok in ["warn", "TRACE", "info,gongxin_node::peers=debug", "off"] {
            assert!(check_log_level(ok).is_ok(), "{ok}");
        }
        for bad in ["", "info,peers", "loud", "gongxin_node=chatty"] {
            assert!(check_log_level(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn log_enums_are_checked_and_named() {
        let e = refusal(&log_section("format = \"xml\""));
        assert!(e.contains("log.format") && e.contains("\"json\""), "{e}");
        let e = refusal(&log_section("output = \"syslog\""));
        assert!(e.contains("log.output") && e.contains("\"journal\""), "{e}");
        let e = refusal(&log_section("output = \"file\"\nrotation = \"weekly\""));
        assert!(e.contains("log.rotation"), "{e}");
        let e = refusal(&log_section("output = \"file\"\nkeep_files = 0"));
        assert!(e.contains("log.keep_files"), "{e}");
        let e = refusal(&log_section("file = \"x.log\""));
        assert!(e.contains("log.file") && e.contains("output = \"file\""), "{e}");
        let e = refusal(&log_section("utc_offset = \"Asia/Shanghai\""));
        assert!(e.contains("log.utc_offset") && e.contains("+08:00"), "{e}");
        let c =
            parse(&log_section("output = \"file\"\nutc_offset = \"-05:30\""), Path::new("/d"), Path::new("/g"), div)
                .unwrap();
        assert_eq!(
            c.log_output,
            LogOutput::File { path: PathBuf::from("/d/logs/node.log"), rotation: LogRotation::Daily, keep: 14 }
        );
        assert_eq!(c.log_utc_offset, time::UtcOffset::from_hms(-5, -30, 0).unwrap());
        let c = parse(&annotated_template("430102", "芙蓉区"), Path::new("/d"), Path::new("/g"), div).unwrap();
        assert_eq!(c.log_utc_offset, time::UtcOffset::from_hms(8, 0, 0).unwrap());
        assert_eq!(c.log_output, LogOutput::Stderr);
        assert!(parse_utc_offset("+24:00").is_err() && parse_utc_offset("+0800").is_err());
        assert_eq!(parse_utc_offset("Z").unwrap(), time::UtcOffset::UTC);
    }

    #[test]
    fn node_name_must_be_the_division_tables_name() {
        let e = refusal(&annotated_template("430102", "芙蓉新区"));
        assert!(e.contains("node.name") && e.contains("\"芙蓉区\"") && e.contains("芙蓉新区"), "{e}");
        // Without a name the table's is used.
        let t = annotated_template("430102", "芙蓉区").replace("name = \"芙蓉区\"\n", "");
        assert_eq!(parse(&t, Path::new("/d"), Path::new("/g"), div).unwrap().name, "芙蓉区");
    }

    #[test]
    fn parent_code_must_be_the_division_tables_parent() {
        // A county under another city.
        let e = refusal(&federation("").replace("parent_code = \"430100\"", "parent_code = \"430300\""));
        assert!(
            e.contains("federation.parent_code") && e.contains("parent_code = \"430100\"") && e.contains("长沙市"),
            "{e}"
        );
        // A county pointing at the province directly (skipping its city).
        let e = refusal(&federation("").replace("parent_code = \"430100\"", "parent_code = \"430000\""));
        assert!(e.contains("federation.parent_code") && e.contains("430100"), "{e}");
        // A city's parent is the province.
        let city = federation("")
            .replace("code = \"430102\"", "code = \"430100\"")
            .replace("name = \"芙蓉区\"", "name = \"长沙市\"")
            .replace("parent_code = \"430100\"", "parent_code = \"430000\"");
        assert_eq!(
            parse(&city, Path::new("/d"), Path::new("/g"), div).unwrap().division_parent.as_deref(),
            Some("430000")
        );
        // The province has none.
        let prov =
            city.replace("code = \"430100\"", "code = \"430000\"").replace("name = \"长沙市\"", "name = \"湖南省\"");
        let e = refusal(&prov);
        assert!(e.contains("federation.parent_code") && e.contains("省级"), "{e}");
    }
}
