//! The HTTP side of real nodes (issue 13): every node writes `http.addr`; `/livez`, `/readyz` (and its 503 when
//! a county's parent is stopped); `/metrics` parsed by a Prometheus text parser we did not write
//! (`prometheus-parse`) with values checked against the CLI; the status, query and check pages loaded in a
//! real headless Chromium (the rendered DOM asserted, screenshots kept under `target/test-artefacts/web/`);
//! gRPC health on the federation port.

use gongxin_certs::tls::{CaCert, TlsIdentity};
use gongxin_certs::{IssueOptions, NodeCode, Role};
use gongxin_core::testdata;
use gongxin_tests::fed::{mtls_channel, Fed, HUNAN6};
use gongxin_tests::{cli, eventually, text, workspace_root};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

const CITY: &str = "430100";
const COUNTY: &str = "430102";

/// The address a node wrote to `DATA_DIR/http.addr`.
pub(crate) fn http_addr(fed: &Fed, code: &str) -> std::net::SocketAddr {
    let p = fed.nodes[code].dir.join("http.addr");
    let s = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{code} wrote no {}: {e}", p.display()));
    s.trim().parse().unwrap_or_else(|e| panic!("{code}: http.addr {s:?}: {e}"))
}

/// One HTTP/1.1 GET over a plain socket: (status, body).
pub(crate) fn get(fed: &Fed, code: &str, path: &str) -> (u16, String) {
    let addr = http_addr(fed, code);
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    assert!(!head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "chunked reply: {head}");
    (status, body.to_string())
}

pub(crate) fn scrape(fed: &Fed, code: &str) -> prometheus_parse::Scrape {
    let (st, body) = get(fed, code, "/metrics");
    assert_eq!(st, 200, "{body}");
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap()
}

/// The value of the sample `name` whose labels include `labels`, if any.
pub(crate) fn value(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples.iter().find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v))).map(|x| {
        match x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        }
    })
}

fn chromium() -> PathBuf {
    for c in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(c).is_file() {
            return PathBuf::from(c);
        }
    }
    panic!("chromium is not installed: install it (`apt-get install -y chromium`; .ci/run does) to run the web tests");
}

fn artefacts() -> PathBuf {
    let d = workspace_root().join("target/test-artefacts/web");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Loads `url` in headless Chromium: the rendered DOM, and a screenshot saved as `shot`.
pub(crate) fn browse(url: &str, shot: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let base = |c: &mut std::process::Command| {
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()));
    };
    let mut c = std::process::Command::new(chromium());
    base(&mut c);
    let out = c.arg("--dump-dom").arg(url).output().unwrap();
    assert!(out.status.success(), "chromium --dump-dom {url}: {}", text(&out.stderr));
    let png = artefacts().join(shot);
    let mut c = std::process::Command::new(chromium());
    base(&mut c);
    let shot_out =
        c.arg(format!("--screenshot={}", png.display())).arg("--window-size=1200,1600").arg(url).output().unwrap();
    assert!(shot_out.status.success() && png.is_file(), "chromium --screenshot {url}: {}", text(&shot_out.stderr));
    text(&out.stdout)
}

pub(crate) fn list_json(uscc: &str) -> String {
    serde_json::json!({
        "kind": "list_entry",
        "subject": {"name": "长沙网页测试劳务有限公司", "category": "法人及非法人组织", "uscc": uscc,
                    "legal_rep": "张三丰", "legal_rep_id_type": "身份证",
                    "legal_rep_id_no": testdata::make_id("430102", 1980, 5, 6, 77)},
        "list_type": "拖欠农民工工资失信联合惩戒对象名单",
        "reason": "拖欠农民工工资数额巨大",
        "basis": "《保障农民工工资支付条例》第四十八条",
        "decision_doc_no": "芙人社监〔2026〕9号",
        "start": "2026-06-01",
        "end": "2029-05-31",
        "authority": "长沙市芙蓉区人力资源和社会保障局",
        "authority_uscc": testdata::make_uscc('1', '1', COUNTY, "00712345"),
    })
    .to_string()
}

#[test]
fn status_query_check_pages_metrics_and_health_on_a_real_federation() {
    chromium();
    let tmp = tempfile::tempdir().unwrap();
    let mut fed = Fed::up(tmp.path(), HUNAN6).unwrap();
    for code in fed.nodes.keys() {
        let a = http_addr(&fed, code);
        assert!(a.ip().is_loopback() && a.port() != 0, "{code}: {a}");
    }
    assert_eq!(get(&fed, "430000", "/livez"), (200, "ok\n".into()));
    eventually("the county to be ready", Duration::from_secs(60), || get(&fed, COUNTY, "/readyz").0 == 200).unwrap();
    let (_, ready) = get(&fed, COUNTY, "/readyz");
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(ready["ready"], true, "{ready}");
    let checks: Vec<&str> = ready["checks"].as_array().unwrap().iter().filter_map(|c| c["check"].as_str()).collect();
    assert_eq!(checks, ["store", "registry", "uplink"], "{ready}");

    // A list entry at the county, the catalogue at the province.
    let out = cli(&["catalogue", "publish", "--data-dir", &fed.dir("430000")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let uscc = testdata::make_uscc('9', '1', COUNTY, "MA4WEB01");
    let file = tmp.path().join("list.json");
    std::fs::write(&file, list_json(&uscc)).unwrap();
    let out = cli(&["record", "add", "--data-dir", &fed.dir(COUNTY), file.to_str().unwrap(), "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The city's query page finds it once mirrored; the public view masks the legal representative.
    let query = format!("/query?code={uscc}");
    eventually("the city to show the county's list entry", Duration::from_secs(60), || {
        get(&fed, CITY, &query).1.contains("长沙网页测试劳务有限公司")
    })
    .unwrap();
    eventually("the city to hold the catalogue", Duration::from_secs(60), || {
        get(&fed, CITY, &format!("/check?code={uscc}&measure=%E6%94%BF%E5%BA%9C%E9%87%87%E8%B4%AD")).1.contains("限制")
    })
    .unwrap();

    // Metrics: real values, checked against the CLI.
    let m = scrape(&fed, COUNTY);
    let own = fed.own_head(COUNTY).0;
    assert_eq!(value(&m, "gongxin_log_size_entries", &[("origin", COUNTY)]), Some(own as f64), "county log size");
    assert!(m.docs.contains_key("gongxin_log_size_entries"), "HELP text");
    assert!(value(&m, "gongxin_certs_expiry_days", &[]).is_some_and(|d| d > 300.0), "certificate expiry days");
    assert!(value(&m, "gongxin_store_size_bytes", &[]).is_some_and(|b| b > 0.0));
    assert_eq!(value(&m, "gongxin_sync_link_up", &[("peer", CITY), ("direction", "up")]), Some(1.0));
    assert!(value(&m, "gongxin_sync_lag_entries", &[("peer", CITY), ("origin", COUNTY)]).is_some());
    let c = scrape(&fed, CITY);
    let mirrored = fed.logs(CITY)[COUNTY].0;
    assert_eq!(value(&c, "gongxin_log_size_entries", &[("origin", COUNTY)]), Some(mirrored as f64));
    let uploads =
        c.samples.iter().find(|s| s.metric == "gongxin_sync_requests_total" && s.labels.get("rpc") == Some("Upload"));
    assert!(
        matches!(uploads.map(|s| &s.value), Some(prometheus_parse::Value::Counter(v)) if *v >= 1.0),
        "uploads counted as a counter: {uploads:?}"
    );
    assert_eq!(value(&c, "gongxin_evidence_items", &[]), Some(0.0));
    let checks_before = value(&c, "gongxin_check_requests_total", &[("decision", "restrict")]).unwrap_or(0.0);
    let (st, page) = get(&fed, CITY, &format!("/check?code={uscc}&measure=%E6%94%BF%E5%BA%9C%E9%87%87%E8%B4%AD"));
    assert!(st == 200 && page.contains("限制 restrict"), "{page}");
    let after = value(&scrape(&fed, CITY), "gongxin_check_requests_total", &[("decision", "restrict")]);
    assert_eq!(after, Some(checks_before + 1.0), "one check, one count");

    // The pages in a real browser.
    let base = format!("http://{}", http_addr(&fed, CITY));
    let dom = browse(&format!("{base}/"), "status-city.png");
    for label in [
        "节点状态",
        "节点代码",
        "430100",
        "上级节点",
        "链路状态",
        "下级链路",
        "各来源日志",
        "最近审计",
        "证据数",
        "证书到期天数",
        "存储大小",
    ] {
        assert!(dom.contains(label), "status page lacks {label}: {dom}");
    }
    let dom = browse(&format!("{base}{query}"), "query-city.png");
    assert!(dom.contains("长沙网页测试劳务有限公司") && dom.contains("公众视图"), "{dom}");
    assert!(dom.contains("张*") && !dom.contains("张三丰"), "the legal representative is masked: {dom}");
    let dom =
        browse(&format!("{base}/check?code={uscc}&measure=%E6%94%BF%E5%BA%9C%E9%87%87%E8%B4%AD"), "check-city.png");
    assert!(dom.contains("限制 restrict") && dom.contains("拖欠农民工工资失信联合惩戒对象名单"), "{dom}");
    // --dump-dom and --screenshot each loaded the check page once.
    let browsed = value(&scrape(&fed, CITY), "gongxin_check_requests_total", &[("decision", "restrict")]);
    assert_eq!(browsed, Some(checks_before + 3.0), "the browser's two loads counted");
    let h = scrape(&fed, CITY);
    assert!(
        h.samples.iter().any(|s| s.metric == "gongxin_check_duration_seconds"
            && matches!(&s.value, prometheus_parse::Value::Histogram(b) if !b.is_empty())),
        "check latency histogram"
    );
    let dom = browse(&format!("http://{}/", http_addr(&fed, COUNTY)), "status-county.png");
    assert!(dom.contains("县级") && dom.contains("430100"), "{dom}");

    // Hostile and misplaced requests.
    let (st, body) = get(&fed, CITY, "/query?code=91430100MA4L00000X");
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("统一社会信用代码"), "{body}");
    let long = format!("/query?name={}", "%E9%95%BF".repeat(400));
    assert_eq!(get(&fed, CITY, &long).0, 400);
    let (_, echoed) = get(&fed, CITY, "/query?name=%3Cscript%3Ealert(1)%3C/script%3E");
    assert!(!echoed.contains("<script>") && echoed.contains("&lt;script&gt;"), "escaped: {echoed}");
    assert_eq!(get(&fed, COUNTY, &query).0, 404, "counties serve no query page");

    // gRPC health on the city's federation port.
    let ca = CaCert::from(&fed.ca);
    let opts = IssueOptions { name: Some("长沙市运维值班员".into()), ..Default::default() };
    let op = fed.ca.issue(Role::Operator, &NodeCode::parse(CITY).unwrap(), &opts).unwrap();
    let id = TlsIdentity::from_issued(&op).unwrap();
    let port = fed.nodes[CITY].port.unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        let ch = mtls_channel(port, &id, &ca, CITY).await.unwrap();
        let mut h = tonic_health::pb::health_client::HealthClient::new(ch);
        h.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap().into_inner().status
    });
    assert_eq!(status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);

    // The county's parent stops: its readiness names the uplink.
    fed.stop(CITY).unwrap();
    eventually("the county to be not ready", Duration::from_secs(60), || get(&fed, COUNTY, "/readyz").0 == 503)
        .unwrap();
    let (_, body) = get(&fed, COUNTY, "/readyz");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["failed"], serde_json::json!(["uplink"]), "{v}");
    assert_eq!(get(&fed, COUNTY, "/livez").0, 200, "the process still serves");
}
