//! The node's logs (`[log]` of gongxin.toml): text or JSON lines to stderr, to a rotated file
//! (`tracing-appender`, a bounded number of files kept) or to the systemd journal (`tracing-journald`);
//! timestamps in RFC 3339 with a fixed offset (default +08:00, no tz database); ANSI colours only when stderr is
//! a terminal. The level filter sits behind a `reload` handle so SIGHUP can apply a new `[log] level` to the
//! running node.

use crate::config::{Config, LogFormat, LogOutput, LogRotation};
use anyhow::{anyhow, Context, Result};
use std::io::IsTerminal;
use std::os::unix::fs::PermissionsExt;
use tracing_subscriber::fmt::time::OffsetTime;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

type Filtered = tracing_subscriber::layer::Layered<reload::Layer<EnvFilter, Registry>, Registry>;
type BoxedLayer = Box<dyn Layer<Filtered> + Send + Sync>;

/// Changes the level of the installed subscriber.
pub struct LogHandle {
    filter: reload::Handle<EnvFilter, Registry>,
    current: std::sync::Mutex<String>,
}

impl LogHandle {
    /// The directive in force.
    pub fn current(&self) -> String {
        self.current.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Applies `level` (already checked by `config::check_log_level`). Returns the previous directive.
    pub fn set_level(&self, level: &str) -> Result<String> {
        let filter = EnvFilter::builder().parse(level).map_err(|e| anyhow!("log.level {level:?}: {e}"))?;
        self.filter.reload(filter).map_err(|e| anyhow!("apply log.level {level:?}: {e}"))?;
        let mut cur = self.current.lock().map_err(|_| anyhow!("log level lock poisoned"))?;
        Ok(std::mem::replace(&mut *cur, level.to_string()))
    }
}

/// The timer every output uses: RFC 3339 with the configured fixed offset.
fn timer(cfg: &Config) -> OffsetTime<time::format_description::well_known::Rfc3339> {
    OffsetTime::new(cfg.log_utc_offset, time::format_description::well_known::Rfc3339)
}

fn fmt_layer<W>(cfg: &Config, writer: W, ansi: bool) -> BoxedLayer
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let b = tracing_subscriber::fmt::layer().with_timer(timer(cfg)).with_writer(writer);
    match cfg.log_format {
        LogFormat::Json => b.json().boxed(),
        LogFormat::Text => b.with_ansi(ansi).boxed(),
    }
}

/// The rotating file appender of `output = "file"`: `DIR/NAME.YYYY-MM-DD` (daily), `…-HH` (hourly) or `NAME`
/// (never), at most `keep` files, the directory created 0700.
pub fn file_appender(
    path: &std::path::Path,
    rotation: LogRotation,
    keep: usize,
) -> Result<tracing_appender::rolling::RollingFileAppender> {
    use tracing_appender::rolling::{Builder, Rotation};
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).context("log.file: a UTF-8 file name")?;
    if !dir.exists() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("创建日志目录失败 cannot create the log directory {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("chmod 0700 {}", dir.display()))?;
    }
    let rotation = match rotation {
        LogRotation::Daily => Rotation::DAILY,
        LogRotation::Hourly => Rotation::HOURLY,
        LogRotation::Never => Rotation::NEVER,
    };
    Builder::new().rotation(rotation).filename_prefix(name).max_log_files(keep).build(dir).with_context(|| {
        format!("日志文件无法写入 cannot write log file {} (log.file in gongxin.toml)", path.display())
    })
}

/// Installs the global subscriber for `cfg`. `RUST_LOG`, when set, overrides `[log] level` at start (SIGHUP
/// then applies the config's level). Refuses `output = "journal"` when no journald socket is reachable.
pub fn init(cfg: &Config) -> Result<LogHandle> {
    let initial = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => v,
        _ => cfg.log_level.clone(),
    };
    let filter = EnvFilter::builder().parse(&initial).unwrap_or_else(|_| EnvFilter::new(&cfg.log_level));
    let (filter, handle) = reload::Layer::new(filter);
    let output: BoxedLayer = match &cfg.log_output {
        LogOutput::Stderr => fmt_layer(cfg, std::io::stderr, std::io::stderr().is_terminal()),
        LogOutput::File { path, rotation, keep } => fmt_layer(cfg, file_appender(path, *rotation, *keep)?, false),
        LogOutput::Journal => tracing_journald::layer()
            .map_err(|e| {
                anyhow!(
                    "无法连接 systemd journal（log.output = \"journal\"）：{e}；请改用 output = \"stderr\"（systemd 仍会收集）\
                     / cannot reach the systemd journal: {e}; use output = \"stderr\" (systemd collects it too)"
                )
            })?
            .with_syslog_identifier("gongxin-node".into())
            .boxed(),
    };
    // A second init in one process (tests) keeps the first subscriber; the handle then changes nothing visible.
    let _ = tracing_subscriber::registry().with(filter).with(output).try_init();
    Ok(LogHandle { filter: handle, current: std::sync::Mutex::new(initial) })
}

/// SIGHUP: re-reads `[log] level` from the data dir's config and applies it; a config that no longer
/// validates keeps the level in force (logged).
pub fn reload_level(handle: &LogHandle, data_dir: &std::path::Path) {
    match crate::daemon::load_config(data_dir) {
        Ok(cfg) => {
            if cfg.log_level == handle.current() {
                tracing::info!(level = %cfg.log_level, "SIGHUP: log level unchanged");
                return;
            }
            match handle.set_level(&cfg.log_level) {
                Ok(old) => tracing::info!(from = %old, to = %cfg.log_level, "SIGHUP: 日志级别已更改 log level changed"),
                Err(e) => tracing::error!(error = %format!("{e:#}"), "SIGHUP: log level not changed"),
            }
        }
        Err(e) => tracing::error!(
            error = %format!("{e:#}"),
            "SIGHUP: 配置无效，日志级别不变 config invalid, log level unchanged"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_appender_writes_under_a_new_private_dir_and_bounds_its_files() {
        use std::io::Write;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("logs/node.log");
        let mut a = file_appender(&path, LogRotation::Never, 3).unwrap();
        a.write_all(b"line\n").unwrap();
        a.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "line\n");
        let mode = std::fs::metadata(tmp.path().join("logs")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn unwritable_log_dir_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("logs"), b"a file, not a dir").unwrap();
        let e = file_appender(&tmp.path().join("logs/node.log"), LogRotation::Daily, 3).unwrap_err();
        assert!(format!("{e:#}").contains("node.log"), "{e:#}");
    }

    #[test]
    fn level_reloads_through_the_handle() {
        let (filter, handle) = reload::Layer::new(EnvFilter::new("info"));
        let sub = tracing_subscriber::registry().with(filter);
        let h = LogHandle { filter: handle, current: std::sync::Mutex::new("info".into()) };
        tracing::subscriber::with_default(sub, || {
            assert!(!tracing::enabled!(tracing::Level::DEBUG));
            assert_eq!(h.set_level("debug").unwrap(), "info");
            assert!(tracing::enabled!(tracing::Level::DEBUG));
            assert_eq!(h.current(), "debug");
        });
    }
}
