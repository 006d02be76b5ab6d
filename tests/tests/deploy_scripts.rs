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
