//! Issue 13's "done when", end to end on real processes: a province, a city and a county started from the
//! example configs in `deploy/config/` (only the ports are the testkit's), `/metrics` scraped and parsed by a
//! Prometheus text parser we did not write, `/readyz`, the status page in headless Chromium, then the county
//! backed up while it runs, restored into a new data dir, started, and its evaluator bundle verified against the
//! original's root. (`systemd-analyze verify` of the unit is `ops::systemd_unit_verifies`.)

use crate::federation::import;
use crate::web::{browse, get, http_addr, scrape, value};
use gongxin_core::template::Kind;
use gongxin_tests::fed::Fed;
use gongxin_tests::{cli, node_cmd, text, workspace_root, NodeProc};
use std::time::Duration;

const THREE: &[(&str, Option<&str>, &str, u16)] = &[
    ("430000", None, "province", 7480),
    ("430100", Some("430000"), "city", 7481),
    ("430102", Some("430100"), "county", 7482),
];

#[test]
fn a_federation_from_the_example_configs_is_watched_backed_up_and_restored() {
    let tmp = tempfile::tempdir().unwrap();
    let topology: Vec<(&str, Option<&str>)> = THREE.iter().map(|(c, p, _, _)| (*c, *p)).collect();
    let mut fed = Fed::create(tmp.path(), &topology, 1).unwrap();
    for (code, _, file, port) in THREE {
        let example = std::fs::read_to_string(workspace_root().join("deploy/config").join(format!("{file}.toml")))
            .unwrap()
            // Port 0, so parallel tests cannot collide; everything else as the operator's file says.
            .replace(&format!("listen = \"127.0.0.1:{port}\""), "listen = \"127.0.0.1:0\"");
        fed.adopt_config(code, &example).unwrap();
    }
    fed.start("430000").unwrap();
    fed.register_all().unwrap();
    for code in ["430100", "430102"] {
        fed.start(code).unwrap();
        fed.wait_until(&format!("{code} to receive the registry"), Duration::from_secs(60), |f| {
            f.peers(code)["registry_version"].as_u64().unwrap_or(0) >= 1
        })
        .unwrap();
    }
    for (code, ..) in THREE {
        let out = node_cmd(&["config", "check", "--data-dir", &fed.dir(code)]);
        assert!(out.status.success(), "{code}: {}", text(&out.stderr));
    }
    let size = import(&fed, "430102", Kind::Penalty, 31, 30);
    fed.wait_mirrored("430000", &[("430102", size)], Duration::from_secs(60)).unwrap();

    // Health and metrics: the county is ready (store, registry, uplink), and the province's gauge for the
    // county's log says what the county's own log says.
    fed.wait_until("the county to be ready", Duration::from_secs(30), |f| get(f, "430102", "/readyz").0 == 200)
        .unwrap();
    let (st, body) = get(&fed, "430102", "/readyz");
    assert_eq!(st, 200, "{body}");
    let s = scrape(&fed, "430000");
    assert_eq!(value(&s, "gongxin_log_size_entries", &[("origin", "430102")]), Some(size as f64));
    assert_eq!(value(&s, "gongxin_node_info", &[("code", "430000"), ("level", "province")]), Some(1.0));
    let s = scrape(&fed, "430102");
    assert_eq!(value(&s, "gongxin_import_rows_total", &[("outcome", "accepted")]), Some(30.0));

    // The status page, rendered by a real browser.
    let dom = browse(&format!("http://{}/", http_addr(&fed, "430102")), "operations-county-status.png");
    assert!(dom.contains("芙蓉区") && dom.contains("430102") && dom.contains("430100"), "{dom}");

    // `gongxin status` names the status page the node serves.
    let out = cli(&["status", "--data-dir", &fed.dir("430102"), "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["http"], format!("http://{}/", http_addr(&fed, "430102")), "{v}");

    // Backup while the county runs, restore into a new data dir, start it, and verify its bundle.
    let root = {
        let out = cli(&["log", "show", "--data-dir", &fed.dir("430102"), "-o", "json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["root"].clone()
    };
    let archive = tmp.path().join("county.tar");
    let out = node_cmd(&["backup", "--data-dir", &fed.dir("430102"), "--out", archive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    fed.stop("430102").unwrap();
    let restored = tmp.path().join("restored-430102");
    let out = node_cmd(&["restore", "--from", archive.to_str().unwrap(), "--data-dir", restored.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let node = NodeProc::start(&restored).unwrap();
    let out = cli(&["log", "show", "--data-dir", node.dir_str(), "-o", "json"]);
    let head: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((head["size"].as_u64(), &head["root"]), (Some(size), &root), "{head}");
    let bundle = tmp.path().join("bundle");
    let out = cli(&["export-bundle", "--data-dir", node.dir_str(), "--out", bundle.to_str().unwrap(), "--unmasked"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = cli(&["verify-bundle", bundle.to_str().unwrap(), "-o", "json"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["origins"][0]["entries"].as_u64(), &v["origins"][0]["root"]), (Some(size), &root), "{v}");
    // The restored county checks its head against the city's copy and, finding nothing missing, signs again.
    eventually_released(&restored);
}

/// The restore hold (`restore.pending`) is lifted once the first uplink round found the parent holding no more.
fn eventually_released(dir: &std::path::Path) {
    gongxin_tests::eventually("the restored county to compare its head with its city", Duration::from_secs(60), || {
        !dir.join("restore.pending").exists()
    })
    .unwrap();
}
