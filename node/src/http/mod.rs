//! The node's small HTTP side (DESIGN §2 `http`, §7): the status page `/` (every node), the one-stop query
//! `/query` and the joint-punishment check `/check` (cities and the province), `/metrics` (Prometheus text
//! 0.0.4), `/livez` and `/readyz`. Server-rendered HTML in Chinese first, inline CSS, no scripts, no external
//! assets; every value is escaped (`pages::esc`).
//!
//! Plain HTTP listens on loopback only (`[http] listen`, default `127.0.0.1:0`; a non-loopback address is refused
//! by `config`) and serves the public view; the bound address goes to `DATA_DIR/http.addr`. The operator view
//! (the query page unmasked) is served by a second listener, `[http] operator_listen`, over mutual TLS with the
//! node's federation identity, whose handshake lets in operator certificates of this node only
//! (`grpc::guard::OperatorCheck`); its address goes to `DATA_DIR/https.addr`. Both answer GET only.
//!
//! *Invariant:* HTTP is read-only: handlers call app read APIs only. Handlers see the node through [`Reader`],
//! whose methods are the read use cases (`Federation::peer_view`, `Federation::last_report`, `Ledger::search`,
//! `Checker::check` — which signs a verdict but writes no store —, log heads, evidence); it holds the app handles
//! privately. Enforced by `tests::http_calls_no_writing_use_case`, which fails when a source file of this room
//! names a use case that writes the store, and by the router (GET routes only).

pub mod metrics;
mod pages;

use crate::app::check::{CheckQuery, Checker, SignedVerdict};
use crate::app::export::{ChildView, LogView, ParentView};
use crate::app::query::{Page, Search};
use crate::app::{AppError, Federation, Ledger};
use crate::config::Config;
use anyhow::{Context, Result};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics::Metrics;
use std::path::PathBuf;
use std::sync::Arc;

/// Requests served at once; more get 503 (the pages read the store on the blocking pool).
pub const MAX_CONCURRENT: usize = 16;
/// Most directory entries walked to size the store (sled keeps a handful of files).
const MAX_STORE_FILES: usize = 10_000;

/// The node as the HTTP side sees it: read use cases only (see the module's invariant).
pub struct Reader {
    code: String,
    name: String,
    level: String,
    store_dir: PathBuf,
    tls_cert: Option<PathBuf>,
    parent: Option<(String, String)>,
    ledger: Arc<Ledger>,
    fed: Option<Arc<Federation>>,
    checker: Arc<Checker>,
}

/// What the status page shows.
#[derive(Debug, Default)]
pub struct StatusView {
    pub code: String,
    pub name: String,
    pub level: String,
    pub registry_version: Option<u64>,
    pub parent: Option<ParentView>,
    pub children: Vec<ChildView>,
    pub logs: Vec<LogView>,
    pub evidence: Option<usize>,
    /// (time, per origin (code, status word)).
    pub audit: Option<(String, Vec<(String, String)>)>,
    pub cert_expiry_days: Option<i64>,
    pub store_bytes: Option<u64>,
}

/// One readiness check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Readiness {
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
}

impl Reader {
    /// Whether the query and check pages are served: cities (prefecture level) and the province.
    pub fn serves_queries(&self) -> bool {
        matches!(self.level.as_str(), "province" | "prefecture")
    }

    pub fn status(&self) -> Result<StatusView, AppError> {
        let mut v = StatusView {
            code: self.code.clone(),
            name: self.name.clone(),
            level: self.level.clone(),
            cert_expiry_days: self.cert_expiry_days(),
            store_bytes: store_bytes(&self.store_dir),
            ..Default::default()
        };
        match &self.fed {
            Some(fed) => {
                let p = fed.peer_view(self.parent.as_ref().map(|(c, a)| (c.as_str(), a.as_str())))?;
                v.registry_version = Some(p.registry_version);
                v.parent = p.parent;
                v.children = p.children;
                v.logs = p.logs;
                v.evidence = Some(p.evidence);
                v.audit = fed.last_report()?.map(|r| {
                    let per = r.origins.iter().map(|o| (o.code.clone(), status_word(&o.status))).collect();
                    (r.at, per)
                });
            }
            None => {
                for (origin, head) in self.ledger.log().origins()? {
                    v.logs.push(LogView {
                        origin,
                        name: None,
                        size: head.size,
                        latest_checkpoint_at: None,
                        age_seconds: None,
                    });
                }
            }
        }
        Ok(v)
    }

    pub fn search(&self, q: &Search) -> Result<Page, AppError> {
        self.ledger.search(q, crate::app::check::today_in_china())
    }

    pub fn check(&self, q: CheckQuery) -> Result<SignedVerdict, AppError> {
        self.checker.check(q)
    }

    /// The readiness checks: the store answers, the registry is known (federated nodes), the uplink is ok
    /// (federated nodes but the province).
    pub fn readiness(&self) -> Vec<Readiness> {
        let mut out = Vec::new();
        let store = self.ledger.log().head(&self.code);
        out.push(Readiness {
            check: "store",
            ok: store.is_ok(),
            detail: match store {
                Ok(h) => format!("存储可读 store readable; own log {} entries", h.size),
                Err(e) => format!("存储不可读 store not readable: {e}"),
            },
        });
        if let Some(fed) = &self.fed {
            let version = fed.registry().version;
            out.push(Readiness {
                check: "registry",
                ok: version > 0,
                detail: if version > 0 {
                    format!("节点名册第 {version} 版 registry version {version}")
                } else {
                    "尚未收到节点名册 no registry received yet".into()
                },
            });
            if let Some((parent, _)) = &self.parent {
                let (_, up, _) = fed.link_snapshot();
                let ok = up.state == "ok";
                out.push(Readiness {
                    check: "uplink",
                    ok,
                    detail: format!(
                        "上级 {parent} 链路 {} uplink to {parent} is {}{}",
                        up.state,
                        up.state,
                        up.last_error.filter(|_| !ok).map(|e| format!(": {e}")).unwrap_or_default()
                    ),
                });
            }
        }
        out
    }

    /// The state gauges of one scrape.
    pub fn metrics_state(&self) -> metrics::State {
        let mut s = metrics::State { node: (self.code.clone(), self.level.clone()), ..Default::default() };
        match self.status() {
            Ok(v) => {
                s.logs = v.logs.iter().map(|l| (l.origin.clone(), l.size, l.age_seconds)).collect();
                if let Some(p) = &v.parent {
                    let since = p.last_contact_age_seconds;
                    for o in &p.origins {
                        let secs = if o.lag_entries == 0 { Some(0) } else { since };
                        s.lag.push((p.code.clone(), o.origin.clone(), o.lag_entries, secs));
                    }
                    s.links.push((p.code.clone(), "up", p.state == "ok", since));
                }
                for c in &v.children {
                    s.links.push((c.code.clone(), "down", c.state == "ok", c.last_contact_age_seconds));
                }
                s.evidence = v.evidence.map(|n| u64::try_from(n).unwrap_or(u64::MAX));
                s.cert_expiry_days = v.cert_expiry_days;
                s.store_bytes = v.store_bytes;
            }
            Err(e) => tracing::warn!(error = %e, "metrics: status not readable"),
        }
        s
    }

    fn cert_expiry_days(&self) -> Option<i64> {
        let certs = gongxin_certs::load_certs_pem(self.tls_cert.as_ref()?).ok()?;
        let info = gongxin_certs::inspect(certs.first()?.as_ref()).ok()?;
        Some((info.not_after - time::OffsetDateTime::now_utc()).whole_days())
    }
}

fn status_word(s: &gongxin_core::audit::Status) -> String {
    match serde_json::to_value(s) {
        Ok(serde_json::Value::String(w)) => w,
        _ => format!("{s:?}"),
    }
}

/// Bytes of the files under `dir` (bounded walk: at most [`MAX_STORE_FILES`] entries, links not followed).
fn store_bytes(dir: &std::path::Path) -> Option<u64> {
    let mut total = 0u64;
    let mut seen = 0usize;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).ok()?.flatten() {
            seen += 1;
            if seen > MAX_STORE_FILES {
                return Some(total);
            }
            let Ok(md) = e.path().symlink_metadata() else { continue };
            if md.is_dir() {
                stack.push(e.path());
            } else if md.is_file() {
                total = total.saturating_add(md.len());
            }
        }
    }
    Some(total)
}

/// Shared by the handlers.
struct Web {
    reader: Arc<Reader>,
    metrics: Arc<Metrics>,
    busy: Arc<tokio::sync::Semaphore>,
    /// Served over the operator HTTPS listener, whose every client presented an operator certificate of this
    /// node (checked in the TLS handshake): the query page shows the operator (unmasked) view.
    operator: bool,
}

/// Starts the HTTP listener as configured (`[http]`), writes `DATA_DIR/http.addr`, and serves in the
/// background. The one call `daemon::serve` makes into this room.
pub async fn spawn(
    cfg: &Config,
    ledger: Arc<Ledger>,
    fed: Option<Arc<Federation>>,
    checker: Arc<Checker>,
) -> Result<()> {
    if !cfg.http.enabled {
        tracing::info!("HTTP side disabled ([http] enabled = false)");
        return Ok(());
    }
    let metrics = ledger.metrics().clone();
    let reader = Reader {
        code: cfg.code.clone(),
        name: cfg.name.clone(),
        level: cfg.level.clone(),
        store_dir: cfg.store_path(),
        tls_cert: cfg.federation.as_ref().map(|f| f.tls_cert.clone()),
        parent: cfg.federation.as_ref().and_then(|f| f.parent.clone()),
        ledger,
        fed,
        checker,
    };
    let reader = Arc::new(reader);
    let busy = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT));
    if let (Some(addr), Some(f), Some(fed)) = (cfg.http.operator_listen, cfg.federation.as_ref(), reader.fed.clone()) {
        let web =
            Arc::new(Web { reader: reader.clone(), metrics: metrics.clone(), busy: busy.clone(), operator: true });
        spawn_operator(cfg, f, fed, addr, router(web)).await?;
    }
    let web = Arc::new(Web { reader, metrics, busy, operator: false });
    let listener = tokio::net::TcpListener::bind(cfg.http.listen)
        .await
        .with_context(|| format!("bind HTTP {}", cfg.http.listen))?;
    let local = listener.local_addr()?;
    let addr_file = write_bound_addr(&cfg.data_dir, "http.addr", local)?;
    tracing::info!(%local, file = %addr_file.display(), "HTTP status pages and metrics (loopback, read-only)");
    let app = router(web);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "HTTP listener stopped");
        }
    });
    Ok(())
}

/// Writes a listener's bound address (the real port when the config asks for port 0) to `DATA_DIR/name`, whole:
/// a temp file renamed into place. Returns the path.
pub(crate) fn write_bound_addr(data_dir: &std::path::Path, name: &str, local: std::net::SocketAddr) -> Result<PathBuf> {
    let addr_file = data_dir.join(name);
    let tmp = data_dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, format!("{local}\n"))
        .and_then(|()| std::fs::rename(&tmp, &addr_file))
        .with_context(|| format!("write {}", addr_file.display()))?;
    Ok(addr_file)
}

/// The operator HTTPS listener's connections, TLS-terminated by `gongxin-certs` (handshake deadline,
/// connection caps, idle watchdog, `grpc::guard::OperatorCheck`), as axum's listener.
struct OperatorListener {
    conns: std::pin::Pin<Box<dyn tokio_stream::Stream<Item = std::io::Result<gongxin_certs::listen::Conn>> + Send>>,
    local: std::net::SocketAddr,
}

impl axum::serve::Listener for OperatorListener {
    type Io = gongxin_certs::listen::Conn;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        use tokio_stream::StreamExt as _;
        loop {
            match self.conns.next().await {
                Some(Ok(c)) => {
                    let remote = c.peer().remote;
                    if let Some(id) = &c.peer().identity {
                        tracing::info!(%remote, operator = ?id.name, fingerprint = %id.fingerprint, "operator HTTPS connection");
                    }
                    return (c, remote);
                }
                Some(Err(e)) => tracing::debug!(error = %e, "operator HTTPS connection not established"),
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Starts the operator HTTPS listener (`[http] operator_listen`) with the node's federation TLS identity and
/// writes `DATA_DIR/https.addr`.
async fn spawn_operator(
    cfg: &Config,
    f: &crate::config::FederationConfig,
    fed: Arc<Federation>,
    addr: std::net::SocketAddr,
    app: axum::Router,
) -> Result<()> {
    let tls =
        gongxin_certs::tls::TlsIdentity::load(&f.tls_cert, &f.tls_key).context("load this node's TLS identity")?;
    let ca = gongxin_certs::tls::CaCert::load(&f.ca_cert).context("load the federation CA certificate")?;
    let check = Arc::new(crate::grpc::guard::OperatorCheck { fed });
    let config = gongxin_certs::tls::https_server_config_checked(&tls, &ca, check).context("operator HTTPS config")?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("bind operator HTTPS {addr}"))?;
    let local = listener.local_addr()?;
    let addr_file = write_bound_addr(&cfg.data_dir, "https.addr", local)?;
    let limits = gongxin_certs::listen::Limits { max_connections: MAX_CONCURRENT * 4, ..Default::default() };
    let conns = Box::pin(gongxin_certs::tls::incoming_with(listener, config, limits));
    tracing::info!(%local, file = %addr_file.display(), "operator HTTPS view (operator certificates of this node only)");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(OperatorListener { conns, local }, app).await {
            tracing::error!(error = %e, "operator HTTPS listener stopped");
        }
    });
    Ok(())
}

fn router(web: Arc<Web>) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route("/", get(status_page))
        .route("/query", get(query_page))
        .route("/check", get(check_page))
        .route("/metrics", get(metrics_page))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .with_state(web)
}

type St = axum::extract::State<Arc<Web>>;

/// Runs `f` on the blocking pool under the concurrency bound.
async fn blocking<T: Send + 'static>(web: &Web, f: impl FnOnce(&Reader) -> T + Send + 'static) -> Result<T, Response> {
    let Ok(_permit) = web.busy.clone().try_acquire_owned() else {
        return Err((StatusCode::SERVICE_UNAVAILABLE, "忙 busy: too many requests in flight\n").into_response());
    };
    let r = web.reader.clone();
    tokio::task::spawn_blocking(move || f(&r)).await.map_err(|e| {
        tracing::error!(error = %e, "HTTP worker failed");
        (StatusCode::INTERNAL_SERVER_ERROR, "内部错误 internal error\n").into_response()
    })
}

fn html(code: StatusCode, body: String) -> Response {
    (code, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

async fn livez(axum::extract::State(web): St) -> Response {
    web.metrics.http_request("livez");
    (StatusCode::OK, "ok\n").into_response()
}

async fn readyz(axum::extract::State(web): St) -> Response {
    web.metrics.http_request("readyz");
    let checks = match blocking(&web, |r| r.readiness()).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let ready = checks.iter().all(|c| c.ok);
    let failed: Vec<&str> = checks.iter().filter(|c| !c.ok).map(|c| c.check).collect();
    let body = serde_json::json!({ "ready": ready, "failed": failed, "checks": checks });
    let code = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, [(header::CONTENT_TYPE, "application/json")], format!("{body}\n")).into_response()
}

async fn metrics_page(axum::extract::State(web): St) -> Response {
    web.metrics.http_request("metrics");
    let state = match blocking(&web, |r| r.metrics_state()).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let body = web.metrics.render(&state);
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

async fn status_page(axum::extract::State(web): St) -> Response {
    web.metrics.http_request("status");
    match blocking(&web, |r| (r.status(), r.serves_queries())).await {
        Ok((Ok(v), q)) => html(StatusCode::OK, pages::status(&v, q)),
        Ok((Err(e), _)) => {
            html(StatusCode::INTERNAL_SERVER_ERROR, pages::error_page("状态不可读 status unavailable", &e.to_string()))
        }
        Err(resp) => resp,
    }
}

async fn query_page(axum::extract::State(web): St, uri: axum::http::Uri) -> Response {
    if !web.reader.serves_queries() {
        return not_here(&web, "信用查询 credit query");
    }
    let form = match pages::QueryForm::parse(&uri) {
        Ok(f) => f,
        Err(e) => return refused(&web, "信用查询", &e),
    };
    web.metrics.http_request("query");
    let operator = web.operator;
    let Some(search) = form.search(!operator) else {
        return html(StatusCode::OK, pages::query(&form, None, operator));
    };
    match blocking(&web, move |r| r.search(&search)).await {
        Ok(res) => html(StatusCode::OK, pages::query(&form, Some(res.map_err(|e| e.to_string())), operator)),
        Err(resp) => resp,
    }
}

async fn check_page(axum::extract::State(web): St, uri: axum::http::Uri) -> Response {
    if !web.reader.serves_queries() {
        return not_here(&web, "联合惩戒核查 joint-punishment check");
    }
    let form = match pages::CheckForm::parse(&uri) {
        Ok(f) => f,
        Err(e) => return refused(&web, "联合惩戒核查", &e),
    };
    web.metrics.http_request("check");
    let Some(q) = form.query() else { return html(StatusCode::OK, pages::check(&form, None)) };
    match blocking(&web, move |r| r.check(q)).await {
        Ok(res) => html(StatusCode::OK, pages::check(&form, Some(res.map_err(|e| e.to_string())))),
        Err(resp) => resp,
    }
}

fn refused(web: &Web, page: &str, e: &pages::InputError) -> Response {
    web.metrics.http_request("refused");
    html(StatusCode::BAD_REQUEST, pages::error_page(&format!("{page}：请求被拒绝 request refused"), &e.to_string()))
}

fn not_here(web: &Web, what: &str) -> Response {
    web.metrics.http_request("refused");
    html(
        StatusCode::NOT_FOUND,
        pages::error_page(
            what,
            "本节点为县级节点，只提供状态页；信用查询与联合惩戒核查在市级和省级节点 \
             (this is a county node: query and check pages are served by cities and the province)",
        ),
    )
}

async fn not_found(axum::extract::State(web): St) -> Response {
    web.metrics.http_request("refused");
    html(
        StatusCode::NOT_FOUND,
        pages::error_page("页面不存在 not found", "请从状态页 / 开始 (start at the status page /)"),
    )
}

#[cfg(test)]
mod tests {
    /// Use cases that write the store (or sign entries into the own log): none may be named by the HTTP side.
    const WRITERS: &[&str] = &[
        ".import(",
        ".import_with(",
        ".publish(",
        ".append_system(",
        ".heartbeat(",
        ".amend(",
        ".feedback(",
        ".accept_upload(",
        ".ingest",
        ".run_audit(",
        ".record_evidence(",
        ".stage",
        ".apply_registry(",
        "store_import",
        "reindex",
        "lock_writer",
    ];

    #[test]
    fn http_calls_no_writing_use_case() {
        for (file, src) in [
            ("mod.rs", include_str!("mod.rs")),
            ("pages.rs", include_str!("pages.rs")),
            ("metrics.rs", include_str!("metrics.rs")),
        ] {
            // This list itself is in the test module, after the marker.
            let code = src.split("#[cfg(test)]").next().unwrap_or(src);
            for w in WRITERS {
                assert!(!code.contains(w), "http/{file} names the writing use case {w:?}: HTTP is read-only");
            }
        }
    }

    #[test]
    fn store_size_is_counted_and_missing_dirs_are_none() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), [0u8; 100]).unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub").join("b"), [0u8; 23]).unwrap();
        assert_eq!(super::store_bytes(d.path()), Some(123));
        assert_eq!(super::store_bytes(&d.path().join("nope")), None);
    }
}
