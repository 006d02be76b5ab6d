//! `gongxin-node init` and `gongxin-node run`: set up a data dir, then serve it until a signal arrives.

use crate::app::Ledger;
use crate::config::{self, Config, DivisionInfo};
use crate::grpc::admin::AdminService;
use anyhow::{bail, Context, Result};
use gongxin_core::crypto::SigningKey;
use gongxin_core::template::RefData;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

/// Division lookup for config validation: current codes only (a node is a current division), with the parent
/// the table gives (`parent_code` column of node/data/hunan_divisions.csv: county → its city, city → 430000).
pub fn division_lookup(refs: &RefData) -> impl Fn(&str) -> Option<DivisionInfo> + '_ {
    move |code| {
        refs.divisions.current(code).map(|d| DivisionInfo {
            name: d.name.clone(),
            level: d.level.as_str().to_string(),
            parent: d.parent.clone(),
        })
    }
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    f.write_all(contents).with_context(|| format!("write {}", path.display()))?;
    f.sync_all().with_context(|| format!("sync {}", path.display()))?;
    Ok(())
}

/// Creates a data dir: SM2 key (0600), public key PEM, annotated config. Refuses to touch an initialised dir.
/// Returns the operator message (what was done, the next step).
/// With `recover`, the new node holds signing (the restore marker) until its first uplink round has taken its
/// own log back from the parent's mirror.
pub fn init(code: &str, data_dir: &Path, recover: bool) -> Result<String> {
    let refs = RefData::embedded();
    let Some(div) = refs.divisions.current(code) else {
        bail!(
            "{code} 不是现行湖南行政区划代码 is not a current Hunan division code (see node/data/hunan_divisions.csv)"
        );
    };
    if data_dir.join(config::CONFIG_FILE).exists() || data_dir.join("node.key").exists() {
        bail!("{} 已初始化 is already initialised; choose another --data-dir", data_dir.display());
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("create {}", data_dir.display()))?;
    std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("chmod 0700 {}", data_dir.display()))?;
    let key = SigningKey::generate();
    write_new(&data_dir.join("node.key"), key.to_pkcs8_pem().as_bytes(), 0o600)?;
    write_new(&data_dir.join("node.pub.pem"), key.public_key().to_spki_pem().as_bytes(), 0o644)?;
    write_new(&data_dir.join(config::CONFIG_FILE), config::annotated_template(code, &div.name).as_bytes(), 0o644)?;
    if recover {
        write_new(
            &data_dir.join(crate::backup::RESTORED_MARKER),
            format!(
                "{}: signing waits until the own log is taken back from the parent\n",
                crate::backup::RECOVER_MARKER_TEXT
            )
            .as_bytes(),
            0o600,
        )?;
        let pubkey = data_dir.join("node.pub.pem");
        return Ok(format!(
            "已重建节点 re-initialised node {code} {} in {}（新密钥 new key {}）\n\
             下一步 next: 省级 `gongxin registry rekey --code {code} --key {} --cert 新TLS证书` 并 `registry apply`；\
             填好 gongxin.toml 的 [federation]/[tls] 后 `gongxin-node run`：首轮上行从上级镜像取回本节点日志，之后才签发新记录 \
             / at the province re-issue the keys, fill in [federation] and [tls], then run: the first uplink round \
             takes this node's log back from its parent's mirror before anything new is signed",
            div.name,
            data_dir.display(),
            pubkey.display(),
            pubkey.display()
        ));
    }
    Ok(format!(
        "已初始化节点 initialised node {code} {} ({}) in {}\n下一步 next: gongxin-node run --data-dir {}",
        div.name,
        div.level.as_str(),
        data_dir.display(),
        data_dir.display()
    ))
}

/// Loads and validates the config of a data dir.
pub fn load_config(data_dir: &Path) -> Result<Config> {
    let refs = RefData::embedded();
    Ok(config::load(data_dir, division_lookup(refs))?)
}

/// A file the node needs: it must exist, be a readable regular file, and (`private`) be unreadable to group
/// and others. The message names the config field and the fix, Chinese first.
fn check_file(path: &Path, field: &str, private: bool) -> Result<()> {
    let fix = if private { format!("chmod 600 {}", path.display()) } else { format!("chmod 644 {}", path.display()) };
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{field}：文件 {} 不存在，请放入该文件或改正 gongxin.toml 中的路径 / {field}: file {} does not exist: put it \
             there or correct the path in gongxin.toml",
            path.display(),
            path.display()
        ),
        Err(e) => bail!("{field}：无法读取 {} cannot read ({e})", path.display()),
        Ok(m) if !m.is_file() => {
            bail!("{field}：{} 不是普通文件 is not a regular file", path.display())
        }
        Ok(_) => {}
    }
    if let Err(e) = std::fs::File::open(path) {
        bail!(
            "{field}：运行节点的账户无法读取 {}（{e}）；请 chown 给该账户并 {fix} / {field}: {} is not readable by the \
             account running the node ({e}): chown it to that account and {fix}",
            path.display(),
            path.display()
        );
    }
    if private {
        gongxin_certs::pem::check_private_mode(path).with_context(|| {
            format!(
                "{field}：私钥权限过宽，拒绝启动 refusing to start: the private key {} is readable by others",
                path.display()
            )
        })?;
    }
    Ok(())
}

/// `[log] file`: the nearest existing ancestor of its directory must be a directory this account may write.
fn check_log_dir(path: &Path) -> Result<()> {
    let mut d = path.parent().unwrap_or(Path::new("."));
    while !d.exists() {
        match d.parent() {
            Some(p) if !p.as_os_str().is_empty() => d = p,
            _ => break,
        }
    }
    if !d.is_dir() {
        bail!(
            "log.file：{} 不是目录，无法写入日志 {}；请改正 [log] file / log.file: {} is not a directory, so {} cannot be \
             written: correct [log] file",
            d.display(),
            path.display(),
            d.display(),
            path.display()
        );
    }
    let c = std::ffi::CString::new(d.as_os_str().as_encoded_bytes()).context("log.file: path with a NUL byte")?;
    // SAFETY: access(2) reads the NUL-terminated path it is given and nothing else.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
        bail!(
            "log.file：运行节点的账户不能写目录 {}；请 chown 给该账户或改用数据目录内的路径（systemd 下只有数据目录可写）\
             / log.file: the account running the node cannot write {}: chown it or use a path inside the data dir \
             (under the systemd unit only the data dir is writable)",
            d.display(),
            d.display()
        );
    }
    Ok(())
}

/// Every file `run` reads, checked before anything starts (`config check` and `run` alike).
pub fn check_files(cfg: &Config) -> Result<()> {
    check_file(&cfg.key_path(), "node.key（节点签名私钥 the node's SM2 key）", true)?;
    if let crate::config::LogOutput::File { path, .. } = &cfg.log_output {
        check_log_dir(path)?;
    }
    if let Some(f) = &cfg.federation {
        check_file(&f.province_key, "federation.province_key", false)?;
        check_file(&f.ca_cert, "federation.ca_cert", false)?;
        check_file(&f.tls_cert, "federation.tls_cert", false)?;
        check_file(&f.tls_key, "federation.tls_key", true)?;
    }
    Ok(())
}

/// What `gongxin-node config check` and `run` check before starting: the config, every file it names (modes
/// of private keys), the anchor CA against `tls_profile`. Any failure is exit 78.
pub fn preflight(data_dir: &Path) -> Result<Config> {
    let cfg = load_config(data_dir)?;
    check_files(&cfg)?;
    if let Some(f) = &cfg.federation {
        load_anchor_ca(f)?;
    }
    Ok(cfg)
}

/// Serves the data dir until SIGINT/SIGTERM.
pub fn run(data_dir: &Path) -> Result<()> {
    let cfg = load_config(data_dir).context("load config")?;
    let log = crate::logging::init(&cfg)?;
    // The SM2 signing key is refused when others may read it, exactly like the TLS key.
    gongxin_certs::pem::check_private_mode(&cfg.key_path())
        .context("节点签名私钥权限检查未通过，拒绝启动 refusing to start: the node's SM2 key")?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("start runtime")?;
    rt.block_on(serve(cfg, log))
}

/// systemd's readiness protocol (`Type=notify`); a no-op when NOTIFY_SOCKET is unset.
fn notify_systemd(state: sd_notify::NotifyState<'_>) {
    if let Err(e) = sd_notify::notify(&[state]) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

/// SIGHUP re-reads `[log] level` (systemctl reload).
fn spawn_sighup(log: crate::logging::LogHandle, data_dir: std::path::PathBuf) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("SIGHUP handler not installed: log level changes need a restart");
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let (l, d) = (&log, data_dir.as_path());
            crate::logging::reload_level(l, d);
        }
    });
}

async fn serve(cfg: Config, log: crate::logging::LogHandle) -> Result<()> {
    tracing::info!(version = env!("CARGO_PKG_VERSION"), code = %cfg.code, name = %cfg.name, "gongxin-node starting");
    spawn_sighup(log, cfg.data_dir.clone());
    let metrics = Arc::new(crate::http::metrics::Metrics::new());
    let ledger = Arc::new(Ledger::open(&cfg).context("open ledger")?.with_metrics(metrics));
    crate::backup::hold_if_restored(&cfg, &ledger);
    // The first checkpoint (also of an empty log) so the node is never without a signed head.
    {
        let l = ledger.clone();
        tokio::task::spawn_blocking(move || l.heartbeat()).await?.context("sign initial checkpoint")?;
    }
    let sock = cfg.admin_socket();
    if sock.exists() {
        // A live node would answer on it; a stale socket from a killed process is removed.
        if tokio::net::UnixStream::connect(&sock).await.is_ok() {
            bail!("another gongxin-node is serving {} (admin socket in use)", cfg.data_dir.display());
        }
        std::fs::remove_file(&sock).with_context(|| format!("remove stale {}", sock.display()))?;
    }
    let listener = tokio::net::UnixListener::bind(&sock).with_context(|| format!("bind {}", sock.display()))?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))?;
    std::fs::write(cfg.pid_path(), format!("{}\n", std::process::id()))?;
    tracing::info!(socket = %sock.display(), "admin API listening");

    let heartbeat = {
        let l = ledger.clone();
        let every = cfg.heartbeat;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let l = l.clone();
                match tokio::task::spawn_blocking(move || l.heartbeat()).await {
                    Ok(Ok(())) => tracing::debug!("heartbeat checkpoint signed"),
                    Ok(Err(e)) => tracing::error!(error = %e, "heartbeat checkpoint failed"),
                    Err(e) => tracing::error!(error = %e, "heartbeat task failed"),
                }
            }
        })
    };

    let checker = Arc::new(crate::app::check::Checker::new(ledger.clone()));
    let mut admin = AdminService::new(ledger.clone()).with_data_dir(cfg.data_dir.clone());
    let mut fed_handle = None;
    if let Some(f) = &cfg.federation {
        let fed_parts = start_federation(&cfg, f, ledger.clone(), checker.clone()).await?;
        fed_handle = Some(fed_parts.clone());
        admin =
            AdminService::federated(ledger.clone(), fed_parts, f.parent.clone()).with_data_dir(cfg.data_dir.clone());
    }
    crate::http::spawn(&cfg, ledger.clone(), fed_handle, checker.clone()).await.context("start the HTTP side")?;

    let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
    let shutdown = async {
        // First polled when the admin server starts serving: the admin socket and every listener are bound.
        notify_systemd(sd_notify::NotifyState::Ready);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {},
        }
        tracing::info!("signal received, shutting down");
        notify_systemd(sd_notify::NotifyState::Stopping);
    };
    tonic::transport::Server::builder()
        .add_service(admin.into_server())
        .add_service(crate::grpc::check::CheckService::local(checker).into_server())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .context("admin API server")?;
    heartbeat.abort();
    let _ = std::fs::remove_file(&sock);
    let _ = std::fs::remove_file(cfg.pid_path());
    tracing::info!("stopped");
    Ok(())
}

/// Loads the anchor and TLS identity, opens the federation state, and starts the mTLS listener (parents) and
/// the uplink (children). Returns the federation handle for the admin API.
async fn start_federation(
    cfg: &Config,
    f: &crate::config::FederationConfig,
    ledger: Arc<Ledger>,
    checker: Arc<crate::app::check::Checker>,
) -> Result<Arc<crate::app::federation::Federation>> {
    use gongxin_certs::tls::TlsIdentity;
    let province_pem = std::fs::read_to_string(&f.province_key)
        .with_context(|| format!("read the anchor's province key {}", f.province_key.display()))?;
    let province_key = gongxin_core::crypto::PublicKey::from_spki_pem(&province_pem)
        .with_context(|| format!("load the anchor's province key {}", f.province_key.display()))?;
    let ca = load_anchor_ca(f)?;
    let tls = TlsIdentity::load(&f.tls_cert, &f.tls_key).context("load this node's TLS identity")?;
    if tls.algorithm() != f.tls_profile {
        bail!(
            "本节点 TLS 证书 {} 的算法是 {}，与 tls_profile = \"{}\" 不一致；请用联邦 CA 重新签发证书 \
             (gongxin pki issue node) / this node's TLS certificate is {}, but tls_profile = \"{}\"",
            f.tls_cert.display(),
            tls.algorithm(),
            f.tls_profile,
            tls.algorithm(),
            f.tls_profile
        );
    }
    if tls.identity().code.as_str() != cfg.code {
        bail!(
            "TLS certificate {} is for node {}, not {}",
            f.tls_cert.display(),
            tls.identity().code.as_str(),
            cfg.code
        );
    }
    if cfg.code == crate::app::federation::PROVINCE && ledger.signing_key().public_key() != province_key {
        bail!("this is the province, but its SM2 key is not the anchor's province key {}", f.province_key.display());
    }
    let fed = {
        let (code, l) = (cfg.code.clone(), ledger.clone());
        Arc::new(
            tokio::task::spawn_blocking(move || crate::app::federation::Federation::new(&code, l, province_key))
                .await?
                .map_err(|e| anyhow::anyhow!("open federation state: {e}"))?,
        )
    };
    fed.expect_contact_every(f.sync_interval);
    if let Some(addr) = f.listen {
        serve_federation(cfg, f, addr, &tls, &ca, &ledger, &fed, checker).await?;
    }
    if let Some((parent_code, parent_addr)) = f.parent.clone() {
        let uplink = crate::peers::Uplink::new(fed.clone(), parent_code, parent_addr, tls, ca, f.sync_interval);
        tokio::spawn(uplink.run());
    }
    Ok(fed)
}

/// The soft limit on open file descriptors of this process (the connection caps are fitted under it).
fn fd_limit() -> u64 {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the struct it is given; nothing else is touched.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 {
        r.rlim_cur
    } else {
        1024
    }
}

/// The federation mTLS listener (parents): sync, remote admin, audit, check and gRPC health on one port. TLS (either profile) is
/// terminated in gongxin-certs with connection hygiene (`listen::Limits`) and the registry consulted at the
/// handshake (`guard::RegistryCheck`); `guard::GuardLayer` bounds what each request may send before it is
/// decoded. Add a service with one more `.add_service(..)` line below.
async fn serve_federation(
    cfg: &Config,
    f: &crate::config::FederationConfig,
    addr: std::net::SocketAddr,
    tls: &gongxin_certs::tls::TlsIdentity,
    ca: &gongxin_certs::tls::CaCert,
    ledger: &Arc<Ledger>,
    fed: &Arc<crate::app::federation::Federation>,
    checker: Arc<crate::app::check::Checker>,
) -> Result<()> {
    use crate::grpc::guard;
    use tonic::service::interceptor::InterceptedService;
    let check = Arc::new(guard::RegistryCheck { fed: fed.clone() });
    let server_tls =
        gongxin_certs::tls::rustls_server_config_checked(tls, ca, check).context("build the mTLS server config")?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("bind {addr}"))?;
    let local = listener.local_addr()?;
    let addr_file = crate::http::write_bound_addr(&cfg.data_dir, "listen.addr", local)?;
    let limits = gongxin_certs::listen::Limits::for_fd_limit(fd_limit());
    tracing::info!(%local, file = %addr_file.display(), tls_profile = %f.tls_profile,
        max_connections = limits.max_connections, "federation mTLS listener (sync, remote admin, audit)");
    let op_fed = fed.clone();
    let operator_only = move |req: tonic::Request<()>| -> Result<tonic::Request<()>, tonic::Status> {
        let id = gongxin_certs::tls::request_identity(&req)
            .map_err(|e| tonic::Status::unauthenticated(format!("client certificate required: {e}")))?;
        // An operator certificate of this node, registered and not revoked (the registry-operator role is
        // checked per RPC).
        if let Err(e) = guard::authorize_operator(&op_fed, &id, false) {
            tracing::warn!(peer = %id.code.as_str(), role = ?id.role, operator = ?id.name, fingerprint = %id.fingerprint,
                "refused: {e}");
            return Err(tonic::Status::permission_denied(e.to_string()));
        }
        Ok(req)
    };
    let remote_admin = AdminService::federated(ledger.clone(), fed.clone(), f.parent.clone()).remote();
    let incoming = gongxin_certs::tls::incoming_with(listener, server_tls, limits);
    let router = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(10)))
        .max_concurrent_streams(Some(64))
        // What a connection may have buffered before the service reads it (refused callers' bodies are never read).
        .initial_stream_window_size(Some(256 * 1024))
        .initial_connection_window_size(Some(1024 * 1024))
        .http2_max_header_list_size(Some(16 * 1024))
        .timeout(crate::peers::RPC_TIMEOUT)
        .layer(guard::GuardLayer::new(guard::Budget::default()).with_metrics(ledger.metrics().clone()))
        .add_service(crate::grpc::sync::SyncService::new(fed.clone()).into_server())
        .add_service(health_service().await)
        .add_service(InterceptedService::new(remote_admin.into_server(), operator_only))
        .add_service(InterceptedService::new(
            crate::grpc::audit::AuditService::new(fed.clone()).into_server(),
            crate::grpc::audit::auditor_only,
        ))
        .add_service(InterceptedService::new(
            crate::grpc::check::CheckService::remote(checker).into_server(),
            crate::grpc::check::business_system_only(cfg.code.clone()),
        ));
    tokio::spawn(async move {
        if let Err(e) = router.serve_with_incoming(incoming).await {
            tracing::error!(error = %e, "federation listener stopped");
        }
    });
    Ok(())
}

/// gRPC health (`grpc.health.v1.Health`) on the mTLS port: SERVING for the whole server and the sync service.
async fn health_service() -> tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>
{
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
    reporter.set_serving::<gongxin_proto::sync::v1::sync_server::SyncServer<crate::grpc::sync::SyncService>>().await;
    service
}

/// Loads the federation CA certificate of the anchor and checks that its algorithm is the configured
/// `tls_profile` (also run by `gongxin-node config check`).
pub fn load_anchor_ca(f: &crate::config::FederationConfig) -> Result<gongxin_certs::tls::CaCert> {
    let ca = gongxin_certs::tls::CaCert::load(&f.ca_cert).context("load the federation CA certificate")?;
    if ca.algorithm() != f.tls_profile {
        bail!(
            "联邦 CA 证书 {} 的算法是 {}，但配置 tls_profile = \"{}\"：一个联邦只用一种 TLS 配置，须与 CA 一致；\
             请把 [federation] 中的 tls_profile 改为 \"{}\"（或换用 {} 算法的 CA 与证书）/ the federation CA certificate \
             is {}, but tls_profile = \"{}\": a federation has one TLS profile, the algorithm of its CA; set \
             tls_profile = \"{}\"",
            f.ca_cert.display(),
            ca.algorithm(),
            f.tls_profile,
            ca.algorithm(),
            f.tls_profile,
            ca.algorithm(),
            f.tls_profile,
            ca.algorithm()
        );
    }
    Ok(ca)
}

/// `gongxin-node store export`: the whole store as one portable, digest-protected stream.
pub fn store_export(data_dir: &Path, out: &Path) -> Result<()> {
    use crate::store::Store as _;
    let cfg = load_config(data_dir)?;
    let store =
        cfg.open_store().with_context(|| format!("open store {} (stop the node first)", cfg.store_path().display()))?;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| format!("create {}", out.display()))?;
    let mut w = std::io::BufWriter::new(f);
    let summary = store.export(&mut w).context("export store")?;
    let f = w.into_inner().map_err(|e| anyhow::anyhow!("write {}: {e}", out.display()))?;
    f.sync_all()?;
    println!(
        "已导出 exported {} records, {} bytes, SM3 {} -> {}",
        summary.records,
        summary.bytes,
        hex::encode(summary.digest),
        out.display()
    );
    Ok(())
}

/// `gongxin-node store import`: restores an export into an empty store, then flushes.
pub fn store_reindex(data_dir: &Path) -> Result<()> {
    let cfg = load_config(data_dir)?;
    let store =
        cfg.open_store().with_context(|| format!("open store {} (stop the node first)", cfg.store_path().display()))?;
    let log = crate::store::log::Log::new(store);
    let r = crate::views::reindex(&log).context("reindex")?;
    println!(
        "已重建索引 reindexed {} entries of {} logs: {} view rows removed, {} written",
        r.entries, r.origins, r.rows_removed, r.rows_written
    );
    Ok(())
}

/// `gongxin-node store import`: restores an export into an empty store, then flushes. The stream is imported
/// into a staging store first and its own signed checkpoints are checked with DATA_DIR/node.key: another key
/// is refused (nothing written) unless `new_key`, which imports with a loud warning.
pub fn store_import(data_dir: &Path, input: &Path, new_key: bool) -> Result<()> {
    use crate::store::Store as _;
    let cfg = load_config(data_dir)?;
    let target = cfg.store_path();
    if target.exists() {
        let store =
            cfg.open_store().with_context(|| format!("open store {} (stop the node first)", target.display()))?;
        if !store.is_empty().context("read store")? {
            bail!("目标存储非空 the target store {} is not empty; import needs a fresh store", target.display());
        }
    }
    let pem = std::fs::read_to_string(cfg.key_path()).with_context(|| format!("read {}", cfg.key_path().display()))?;
    let key = SigningKey::from_pkcs8_pem(&pem).with_context(|| format!("load {}", cfg.key_path().display()))?;
    let f = std::fs::File::open(input).with_context(|| format!("open {}", input.display()))?;
    let staging = data_dir.join(format!("store.importing-{}", std::process::id()));
    let (summary, other_key) = crate::backup::import_verified(
        &mut std::io::BufReader::new(f),
        &staging,
        &cfg.code,
        &key.public_key(),
        new_key,
    )
    .map_err(|e| {
        if new_key {
            e
        } else {
            e.context("未导入 nothing imported; 若密钥已经名册重新签发，加 --new-key / if the key was re-issued through the registry, add --new-key")
        }
    })?;
    let moved = (|| -> Result<()> {
        if target.exists() {
            std::fs::remove_dir_all(&target).with_context(|| format!("replace empty {}", target.display()))?;
        }
        std::fs::rename(&staging, &target)
            .with_context(|| format!("rename {} -> {}", staging.display(), target.display()))
    })();
    if let Err(e) = moved {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    if let Some(why) = other_key {
        eprintln!(
            "警告 WARNING: 导入的存储不是用本目录的 node.key 签名的（--new-key）：{why}\n\
             新签发的检查点将用新密钥；上级只在名册登记新公钥后才接受 / the imported store was signed by another key than \
             {}; new checkpoints are signed with the new key, which parents accept only once the registry lists it",
            cfg.key_path().display()
        );
    }
    println!(
        "已导入 imported {} records, SM3 {} from {}",
        summary.records,
        hex::encode(summary.digest),
        input.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(dir: &Path) -> Config {
        init("430102", dir, false).unwrap();
        load_config(dir).unwrap()
    }

    #[test]
    fn check_files_names_a_missing_or_lax_node_key() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("n");
        let cfg = node(&dir);
        check_files(&cfg).unwrap();
        std::fs::set_permissions(cfg.key_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = format!("{:#}", check_files(&cfg).unwrap_err());
        assert!(e.contains("node.key") && e.contains("拒绝启动") && e.contains("chmod 600"), "{e}");
        std::fs::remove_file(cfg.key_path()).unwrap();
        let e = format!("{:#}", check_files(&cfg).unwrap_err());
        assert!(e.contains("node.key") && e.contains("不存在"), "{e}");
        std::fs::create_dir(cfg.key_path()).unwrap();
        let e = format!("{:#}", check_files(&cfg).unwrap_err());
        assert!(e.contains("不是普通文件"), "{e}");
    }

    #[test]
    fn check_files_refuses_a_log_file_under_a_non_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("n");
        let mut cfg = node(&dir);
        let path = dir.join("logs/deeper/node.log");
        cfg.log_output =
            crate::config::LogOutput::File { path: path.clone(), rotation: crate::config::LogRotation::Daily, keep: 3 };
        check_files(&cfg).unwrap();
        std::fs::write(dir.join("logs"), b"a file").unwrap();
        let e = format!("{:#}", check_files(&cfg).unwrap_err());
        assert!(e.starts_with("log.file") && e.contains("不是目录"), "{e}");
    }

    #[test]
    fn check_files_names_each_federation_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("n");
        let mut cfg = node(&dir);
        let p = |n: &str| dir.join(n);
        cfg.federation = Some(crate::config::FederationConfig {
            province_key: p("anchor/province.pub.pem"),
            ca_cert: p("anchor/ca.pem"),
            tls_cert: p("tls/node.pem"),
            tls_key: p("tls/node.key"),
            listen: None,
            parent: Some(("430100".into(), "127.0.0.1:1".into())),
            sync_interval: std::time::Duration::from_secs(5),
            tls_profile: gongxin_certs::Algorithm::EcdsaP256,
        });
        std::fs::create_dir_all(p("anchor")).unwrap();
        std::fs::create_dir_all(p("tls")).unwrap();
        for (i, (file, field)) in [
            ("anchor/province.pub.pem", "federation.province_key"),
            ("anchor/ca.pem", "federation.ca_cert"),
            ("tls/node.pem", "federation.tls_cert"),
            ("tls/node.key", "federation.tls_key"),
        ]
        .into_iter()
        .enumerate()
        {
            let e = format!("{:#}", check_files(&cfg).unwrap_err());
            assert!(e.contains(field) && e.contains(file) && e.contains("不存在"), "step {i}: {e}");
            write_new(&p(file), b"x", 0o600).unwrap();
        }
        check_files(&cfg).unwrap();
        std::fs::set_permissions(p("tls/node.key"), std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = format!("{:#}", check_files(&cfg).unwrap_err());
        assert!(e.contains("federation.tls_key") && e.contains("拒绝启动"), "{e}");
    }
}
