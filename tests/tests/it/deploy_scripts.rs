//! The operator scripts in `deploy/local/` run end to end with the binaries under test (passed through
//! `GONGXIN_NODE_BIN` / `GONGXIN_BIN`, so the scripts build nothing), on throwaway directories.

use gongxin_tests::{cli, cli_bin, node_bin, text, workspace_root};
use std::path::Path;
use std::process::{Command, Output};

/// Runs `bash deploy/local/SCRIPT ARGS…` with the test binaries.
fn script(name: &str, args: &[&str]) -> Output {
    Command::new("bash")
        .arg(workspace_root().join("deploy/local").join(name))
        .args(args)
        .env("GONGXIN_NODE_BIN", node_bin())
        .env("GONGXIN_BIN", cli_bin())
        .env_remove("GONGXIN_DATA_DIR")
        .output()
        .expect("run deploy script")
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\nstderr: {}", text(&out.stdout), text(&out.stderr)))
}

fn assert_ok(out: &Output, what: &str) -> String {
    let so = text(&out.stdout);
    assert!(out.status.success(), "{what} failed ({}):\n{so}\n---- stderr\n{}", out.status, text(&out.stderr));
    so
}

/// 296 valid rows in the 8 sample files (deploy/sample/README.md); 74 of them are 芙蓉区 430102's
/// (80 rows, 6 deliberately bad).
const VALID_430102: u64 = 74;

#[test]
fn demo_runs_end_to_end_and_can_be_rerun() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let d = dir.to_str().unwrap();

    let out = script("demo.sh", &[d]);
    let so = assert_ok(&out, "demo.sh");
    for needle in [
        "拒绝 rejected 3",                              // validate / import report the bad rows
        "重复跳过 duplicates 37",                       // the second import of the licence file
        &format!("log size unchanged: {VALID_430102}"), // ...adds nothing
        "record(s) about 9",                            // the query found the chosen entity
        "bundle verified",
        &format!("OK 430102: {VALID_430102} leaves"), // the OpenSSL-only script
        "node stopped cleanly",
    ] {
        assert!(so.contains(needle), "demo output lacks {needle:?}:\n{so}");
    }

    // Independently of the script's own messages: the node is gone (it removes its pid file on a clean stop),
    // the rejects went to the demo dir (not next to the samples) and the bundle verifies.
    assert!(!dir.join("430102/node.pid").exists(), "node.pid left behind: the node did not stop cleanly");
    let rejects = std::fs::read_to_string(dir.join("rejects/430102_license.rejects.csv")).unwrap();
    assert_eq!(rejects.lines().count(), 4, "header + 3 rejected rows: {rejects}");
    let out = cli(&["verify-bundle", dir.join("bundle").to_str().unwrap(), "-o", "json"]);
    let v = json(&out);
    assert!(out.status.success(), "{v}");
    assert_eq!(v["origins"][0]["code"], "430102", "{v}");
    assert_eq!(v["origins"][0]["entries"], VALID_430102, "{v}");

    // A second run over the previous demo replaces it and gives the same log.
    let out = script("demo.sh", &[d]);
    let so = assert_ok(&out, "demo.sh (second run)");
    assert!(so.contains("removing the previous demo run"), "{so}");
    assert!(so.contains(&format!("OK 430102: {VALID_430102} leaves")), "{so}");
}

#[test]
fn demo_refuses_a_directory_it_did_not_create() {
    let tmp = tempfile::tempdir().unwrap();
    let precious = tmp.path().join("precious.txt");
    std::fs::write(&precious, "keep me").unwrap();
    let out = script("demo.sh", &[tmp.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stderr).contains("refusing"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1, "the script created files in a foreign dir");

    // A previous demo dir with a foreign file in it is refused as well, and nothing is removed.
    let demo = tmp.path().join("demo");
    std::fs::create_dir(&demo).unwrap();
    std::fs::write(demo.join(".gongxin-demo"), "").unwrap();
    std::fs::create_dir(demo.join("bundle")).unwrap();
    std::fs::write(demo.join("notes.txt"), "mine").unwrap();
    let out = script("demo.sh", &[demo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(demo.join("bundle").is_dir() && demo.join("notes.txt").is_file());
    assert!(!Path::new(&demo.join("430102")).exists());
}

/// Brings a federation made by `federation.sh` down when dropped, so a failed assertion leaves no nodes behind.
struct FedDown<'a>(&'a str);

impl Drop for FedDown<'_> {
    fn drop(&mut self) {
        let _ = script("federation.sh", &["down", self.0]);
    }
}

#[test]
fn federation_demo_brings_county_data_to_the_province() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fed");
    let d = dir.to_str().unwrap();
    let _down = FedDown(d);
    let counties = ["430102", "430104", "430302", "430321"];

    let t = std::time::Instant::now();
    let out = script("federation.sh", &["demo", d, "--keep"]);
    let so = assert_ok(&out, "federation.sh demo --keep");
    eprintln!("federation.sh demo took {:?}", t.elapsed());
    assert!(so.contains("430102 74/74, 430104 74/74, 430302 74/74, 430321 74/74"), "{so}");
    assert!(so.contains("2 record(s) about"), "the province's query found nothing:\n{so}");
    assert!(so.contains("核查结论 decision: 限制 restrict"), "the 湘潭县 check did not find 芙蓉区's list:\n{so}");

    // Independently of the script's messages: every county's own log is mirrored in full at the province, each
    // city holds exactly its own counties, and the province answers a query with the county's records.
    let dd = |c: &str| dir.join(c).to_str().unwrap().to_string();
    let peers = |c: &str| json(&cli(&["peer", "list", "--data-dir", &dd(c), "-o", "json"]));
    let sizes = |v: &serde_json::Value| -> std::collections::BTreeMap<String, u64> {
        v["logs"]
            .as_array()
            .unwrap_or_else(|| panic!("no logs in {v}"))
            .iter()
            .map(|l| (l["origin"].as_str().unwrap().to_string(), l["size"].as_u64().unwrap()))
            .collect()
    };
    let province = sizes(&peers("430000"));
    for c in counties {
        let own = json(&cli(&["log", "show", "--data-dir", &dd(c), "-o", "json"]));
        // 430102 also holds the demo's list entry.
        let want = VALID_430102 + u64::from(c == "430102");
        assert_eq!(own["size"], want, "county {c}: 80 sample rows, 6 bad");
        assert_eq!(province.get(c).copied(), own["size"].as_u64(), "province's mirror of {c}: {province:?}");
    }
    let changsha = sizes(&peers("430100"));
    assert!(changsha.contains_key("430102") && changsha.contains_key("430104"), "{changsha:?}");
    assert!(!changsha.contains_key("430302") && !changsha.contains_key("430321"), "{changsha:?}");
    let uscc = "91430321Y8XA3EPD69"; // the subject the script picked from 430321's samples
    assert!(so.contains(uscc), "{so}");
    let q = |c: &str| json(&cli(&["query", "--data-dir", &dd(c), "--uscc", uscc, "-o", "json"]))["records"].clone();
    assert!(!q("430321").as_array().unwrap().is_empty());
    assert_eq!(q("430000"), q("430321"), "the province returns the county's records unchanged");

    // stop / start one node: its pid file goes and comes back, and its data is still there.
    let pid_file = dir.join("430102/node.pid");
    assert!(pid_file.exists());
    assert_ok(&script("federation.sh", &["stop", d, "430102"]), "federation.sh stop");
    assert!(!pid_file.exists(), "node.pid left after stop");
    let st = assert_ok(&script("federation.sh", &["status", d]), "federation.sh status");
    assert!(st.contains("430102  已停止 stopped") && st.contains("430000  运行中 running"), "{st}");
    assert_ok(&script("federation.sh", &["start", d, "430102"]), "federation.sh start");
    assert!(pid_file.exists());
    let own = json(&cli(&["log", "show", "--data-dir", &dd("430102"), "-o", "json"]));
    assert_eq!(own["size"], VALID_430102 + 1, "the samples and the demo's list entry");

    // down: every node stops cleanly (each removes its pid file on a clean exit).
    assert_ok(&script("federation.sh", &["down", d]), "federation.sh down");
    let st = assert_ok(&script("federation.sh", &["status", d]), "federation.sh status");
    assert_eq!(st.matches("已停止 stopped").count(), 7, "{st}");
    for c in ["430000", "430100", "430300", "430102", "430104", "430302", "430321"] {
        assert!(!dir.join(c).join("node.pid").exists(), "{c} did not stop cleanly");
    }
}

#[test]
fn federation_demo_without_keep_stops_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fed");
    let d = dir.to_str().unwrap();
    let _down = FedDown(d);
    // An unknown profile is refused before anything is made.
    let out = script("federation.sh", &["demo", d, "--tls", "gm"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--tls gm"), "{}", text(&out.stderr));
    assert!(!dir.exists());
    // The demo on the sm2 profile (RFC 8998): SM2 CA and certificates, every node on tls_profile = "sm2", and
    // the sample data still reaches the province.
    let out = script("federation.sh", &["demo", d, "--tls", "sm2"]);
    let so = assert_ok(&out, "federation.sh demo --tls sm2");
    assert_eq!(so.matches("已停止 stopped").count(), 7, "{so}");
    assert!(so.contains("430102 74/74, 430104 74/74, 430302 74/74, 430321 74/74"), "{so}");
    assert!(so.contains("tls_profile = sm2"), "{so}");
    let ca = json(&cli(&["pki", "inspect", dir.join("pki/ca.pem").to_str().unwrap(), "-o", "json"]));
    assert_eq!(ca["algorithm"], "sm2", "{ca}");
    for c in ["430000", "430100", "430321"] {
        let cfg = std::fs::read_to_string(dir.join(c).join("gongxin.toml")).unwrap();
        assert!(cfg.contains("tls_profile = \"sm2\""), "{c}: {cfg}");
        let cert = json(&cli(&["pki", "inspect", dir.join(c).join("tls/node.pem").to_str().unwrap(), "-o", "json"]));
        assert_eq!(cert["algorithm"], "sm2", "{cert}");
    }
    let st = assert_ok(&script("federation.sh", &["status", d]), "federation.sh status");
    assert_eq!(st.matches("已停止 stopped").count(), 7, "{st}");
    // A second `up` over a stopped federation replaces it (fresh PKI, empty logs); over a foreign directory it
    // refuses and touches nothing.
    let ca_before = std::fs::read(dir.join("pki/ca.pem")).unwrap();
    let so = assert_ok(&script("federation.sh", &["up", d]), "federation.sh up over a stopped federation");
    assert!(so.contains("removing the previous federation"), "{so}");
    assert_ne!(std::fs::read(dir.join("pki/ca.pem")).unwrap(), ca_before, "up made no fresh CA");
    let own = json(&cli(&["log", "show", "--data-dir", dir.join("430102").to_str().unwrap(), "-o", "json"]));
    assert_eq!(own["size"], 0, "{own}");
    assert_ok(&script("federation.sh", &["down", d]), "federation.sh down");
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("keep.txt"), "x").unwrap();
    let out = script("federation.sh", &["up", foreign.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);
}
