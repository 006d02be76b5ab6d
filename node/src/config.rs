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

/// Validated runtime configuration of one node.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub code: String,
    pub name: String,
    pub level: String,
    pub log_format: LogFormat,
    pub log_level: String,
    pub heartbeat: Duration,
    /// Federation membership; `None` = standalone node.
    pub federation: Option<FederationConfig>,
    /// The HTTP side (status pages, metrics, health): `[http]`.
    pub http: HttpConfig,
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

/// Loads and validates `DATA_DIR/gongxin.toml`. `known_division` answers whether a code is a current
/// division and gives its name and level.
pub fn load(data_dir: &Path, division: impl Fn(&str) -> Option<(String, String)>) -> Result<Config, ConfigError> {
    let path = data_dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
    parse(&text, data_dir, &path, division)
}

fn parse(
    text: &str,
    data_dir: &Path,
    path: &Path,
    division: impl Fn(&str) -> Option<(String, String)>,
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
    let (div_name, level) = division(&file.node.code).ok_or_else(|| {
        invalid(
            "node.code",
            format!("{} is not a current Hunan division code (data/hunan_divisions.csv)", file.node.code),
        )
    })?;
    let log_format = match file.log.format.as_deref().unwrap_or("text") {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => return Err(invalid("log.format", format!("is {other:?}; use \"text\" or \"json\""))),
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
                    if division(&c).is_none() {
                        return Err(invalid("federation.parent_code", format!("{c} is not a current division code")));
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
    Ok(Config {
        http: parse_http(file.http, &invalid)?,
        federation,
        data_dir: data_dir.to_path_buf(),
        code: file.node.code,
        name: file.node.name.unwrap_or(div_name),
        level,
        log_format,
        log_level: file.log.level.unwrap_or_else(|| "info".to_string()),
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
}

/// Where the status pages, `/metrics`, `/livez` and `/readyz` are served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    pub enabled: bool,
    /// A loopback address (port 0: the kernel picks; the bound address is written to `DATA_DIR/http.addr`).
    pub listen: std::net::SocketAddr,
}

/// The default: on, loopback, a port the kernel picks.
pub const HTTP_DEFAULT_LISTEN: &str = "127.0.0.1:0";

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { enabled: true, listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)) }
    }
}

fn parse_http(
    f: Option<FileHttp>,
    invalid: &impl Fn(&'static str, String) -> ConfigError,
) -> Result<HttpConfig, ConfigError> {
    let f = f.unwrap_or(FileHttp { enabled: None, listen: None });
    let text = f.listen.unwrap_or_else(|| HTTP_DEFAULT_LISTEN.to_string());
    let listen: std::net::SocketAddr = text.parse().map_err(|_| {
        invalid("http.listen", format!("{text:?} 不是地址 is not an address such as \"127.0.0.1:7480\""))
    })?;
    if !listen.ip().is_loopback() {
        return Err(invalid(
            "http.listen",
            format!(
                "{listen} 不是本机回环地址：HTTP 页面目前只在回环地址（127.0.0.1 或 ::1）上提供，因为非回环访问须用本节点运维证书的 \
                 TLS，尚未实现；请用反向代理或 SSH 隧道 / is not a loopback address: the HTTP side is served on loopback only \
                 (TLS with operator certificates for remote access is not built yet); use an SSH tunnel or a reverse proxy"
            ),
        ));
    }
    Ok(HttpConfig { enabled: f.enabled.unwrap_or(true), listen })
}

// ---- end of [http] ------------------------------------------------------------------------------------------

/// The annotated config `gongxin-node init` writes.
pub fn annotated_template(code: &str, name: &str) -> String {
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
# 日志级别 / level: error, warn, info, debug, trace
level = "info"

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
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn div(code: &str) -> Option<(String, String)> {
        (code == "430102").then(|| ("芙蓉区".to_string(), "county".to_string()))
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
        let t = annotated_template("430102", "x").replace("[log]", "[log]\ncolour = 1");
        let e = parse(&t, Path::new("/d"), Path::new("/d/g.toml"), div).unwrap_err().to_string();
        assert!(e.contains("colour"), "{e}");
        let t = annotated_template("439999", "x");
        let e = parse(&t, Path::new("/d"), Path::new("/d/g.toml"), div).unwrap_err().to_string();
        assert!(e.contains("node.code"), "{e}");
        let t = annotated_template("430102", "x").replace("config_version = 1", "config_version = 2");
        let e = parse(&t, Path::new("/d"), Path::new("/d/g.toml"), div).unwrap_err().to_string();
        assert!(e.contains("config_version"), "{e}");
    }

    #[test]
    fn http_defaults_to_loopback_and_refuses_other_addresses() {
        let p = |t: &str| parse(t, Path::new("/d"), Path::new("/d/g.toml"), div);
        let c = p(&annotated_template("430102", "x")).unwrap();
        assert_eq!(c.http, HttpConfig { enabled: true, listen: "127.0.0.1:0".parse().unwrap() });
        let without = annotated_template("430102", "x").split("\n[http]").next().unwrap().to_string();
        assert_eq!(p(&without).unwrap().http, c.http, "no [http] section: the same default");
        let t = annotated_template("430102", "x").replace("listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:80\"");
        let e = p(&t).unwrap_err().to_string();
        assert!(e.contains("http.listen") && e.contains("回环") && e.contains("loopback"), "{e}");
        let t = annotated_template("430102", "x").replace("listen = \"127.0.0.1:0\"", "listen = \"[::1]:7480\"");
        assert_eq!(p(&t).unwrap().http.listen, "[::1]:7480".parse().unwrap());
        let t = annotated_template("430102", "x").replace("enabled = true", "enabled = false");
        assert!(!p(&t).unwrap().http.enabled);
        let t = annotated_template("430102", "x").replace("[http]", "[http]\nport = 1");
        assert!(p(&t).unwrap_err().to_string().contains("port"));
    }

    fn federation(extra: &str) -> String {
        let fed = "\n[federation]\nprovince_key = \"a/p.pem\"\nca_cert = \"a/ca.pem\"\ntls_cert = \"t/n.pem\"\n\
                   tls_key = \"t/n.key\"\nparent_code = \"430102\"\nparent_addr = \"127.0.0.1:7400\"\n";
        format!("{}{fed}{extra}", annotated_template("430102", "x"))
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
}
