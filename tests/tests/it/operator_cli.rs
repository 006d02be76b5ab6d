//! Issue 13 item 7, the `gongxin` CLI as a new operator meets it, against real nodes: the registry order is
//! explained and a whole file is staged parents first, staged changes can be discarded, registry commands on a
//! non-province node are refused naming the province, annotated record templates are accepted as printed, a
//! mistyped data dir is named as such, and output into a closed pipe ends quietly.

use gongxin_tests::fed::Fed;
use gongxin_tests::{cli, cli_bin, text};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

const THREE: &[(&str, Option<&str>)] = &[("430000", None), ("430100", Some("430000")), ("430102", Some("430100"))];

fn staged(fed: &Fed) -> Vec<String> {
    let out = cli(&["registry", "show", "--data-dir", &fed.dir("430000"), "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["staged"].as_array().unwrap().iter().map(|c| c["upsert"]["code"].as_str().unwrap_or("?").to_string()).collect()
}

#[test]
fn registry_order_batch_discard_and_non_province_refusal() {
    let tmp = tempfile::tempdir().unwrap();
    let mut fed = Fed::create(tmp.path(), THREE, 1).unwrap();
    fed.start("430000").unwrap();
    let p = fed.dir("430000");
    let key = |c: &str| fed.nodes[c].dir.join("node.pub.pem").display().to_string();
    let cert = |c: &str| fed.nodes[c].dir.join("tls/node.pem").display().to_string();

    let add = |c: &str| {
        let (k, t) = (key(c), cert(c));
        cli(&["registry", "add", "--data-dir", &p, "--code", c, "--key", &k, "--cert", &t])
    };

    // The county before its city: refused, and the message says the order.
    let out = add("430102");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.starts_with("错误 error: ") && err.contains("省、市、县"), "{err}");
    assert!(staged(&fed).is_empty());

    // The province staged, the county still before its city: the message names the missing parent.
    let out = add("430000");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = add("430102");
    let err = text(&out.stderr);
    assert!(!out.status.success() && err.contains("上级 430100 尚未登记") && err.contains("省、市、县"), "{err}");
    assert_eq!(staged(&fed), ["430000"]);

    // Discard: nothing staged, nothing published.
    let out = cli(&["registry", "discard", "--data-dir", &p]);
    assert!(out.status.success() && text(&out.stdout).contains("discarded"), "{}", text(&out.stderr));
    assert!(staged(&fed).is_empty());
    let out = cli(&["registry", "apply", "--data-dir", &p]);
    assert!(!out.status.success() && text(&out.stderr).contains("nothing staged"), "{}", text(&out.stderr));

    // A whole file, counties first: staged parents first, then applied as version 1.
    let csv = tmp.path().join("nodes.csv");
    let rows: String = ["430102", "430100", "430000"].iter().map(|c| format!("{c},{},{}\n", key(c), cert(c))).collect();
    std::fs::write(&csv, format!("code,key,cert\n{rows}")).unwrap();
    let out = cli(&["registry", "add", "--data-dir", &p, "--batch", csv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(staged(&fed), ["430000", "430100", "430102"]);
    let out = cli(&["registry", "apply", "--data-dir", &p, "--version", "1", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["current"]["version"], 1);
    assert_eq!(v["current"]["nodes"].as_array().unwrap().len(), 3);

    // On the city, registry changes are refused naming the province and the node asked.
    fed.start("430100").unwrap();
    let c = fed.dir("430100");
    let out = cli(&["registry", "revoke", "--data-dir", &c, "--code", "430102"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("只有省级节点 (430000)") && err.contains("430100"), "{err}");
    let out = cli(&["registry", "discard", "--data-dir", &c]);
    assert!(text(&out.stderr).contains("只有省级节点"), "{}", text(&out.stderr));

    // A mistyped data dir is named, before anything is read or sent.
    let sample = gongxin_tests::workspace_root().join("deploy/sample/430102_license.csv");
    let typo = format!("{c}-typo");
    let out = cli(&["import", "--kind", "license", "--data-dir", &typo, sample.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("数据目录不存在 no such data dir") && !err.contains("interrupted"), "{err}");
}

#[test]
fn record_templates_are_accepted_as_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut fed = Fed::create(tmp.path(), &THREE[..1], 1).unwrap();
    fed.start("430000").unwrap();
    for kind in ["list_entry", "commitment"] {
        let out = cli(&["record", "template", kind]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let body = text(&out.stdout);
        assert!(body.starts_with("// ") && body.contains(&format!("\"kind\": \"{kind}\"")), "{body}");
        let file = tmp.path().join(format!("{kind}.jsonc"));
        std::fs::write(&file, &body).unwrap();
        let out = cli(&["record", "add", "--data-dir", &fed.dir("430000"), file.to_str().unwrap(), "-o", "json"]);
        assert!(out.status.success(), "{kind}: {}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["accepted"], 1, "{kind}: {v}");
    }
    let out = cli(&["record", "template", "penalty"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("错误 error: 参数值无效 invalid value"), "{}", text(&out.stderr));
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    // The reading end is closed before the child starts (so before it writes, whatever the scheduling): without
    // SIGPIPE's default action, println! panics (101).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = Command::new(cli_bin())
        .args(["record", "template", "list_entry"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.signal(), Some(libc_sigpipe()), "{:?} {err}", out.status);
}

/// SIGPIPE's number on Linux.
fn libc_sigpipe() -> i32 {
    13
}

#[test]
fn status_is_one_screen_with_warnings_an_operator_can_act_on() {
    let tmp = tempfile::tempdir().unwrap();
    let mut fed = Fed::up(tmp.path(), THREE).unwrap();
    let root = tmp.path().to_path_buf();
    let status = |code: &str| {
        let dir = root.join(code);
        let out = cli(&["status", "--data-dir", dir.to_str().unwrap(), "-o", "json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let sample = gongxin_tests::workspace_root().join("deploy/sample/430102_license.csv");
    let out = cli(&["import", "--kind", "license", "--data-dir", &fed.dir("430102"), sample.to_str().unwrap()]);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", text(&out.stderr));
    let (size, _) = fed.own_head("430102");
    let v = status("430102");
    assert_eq!((v["code"].as_str(), v["level"].as_str()), (Some("430102"), Some("county")), "{v}");
    assert_eq!(v["log"]["size"].as_u64(), Some(size), "{v}");
    assert_eq!(v["log"]["last_entry_kind"], "license", "{v}");
    assert!(v["disk"]["available_bytes"].as_u64().is_some_and(|a| a > 0), "{v}");
    fed.wait_until("the backlogs of the county and the city to drain", std::time::Duration::from_secs(60), |_| {
        ["430102", "430100"].iter().all(|c| {
            let v = status(c);
            v["link"]["parent"]["state"] == "ok" && v["link"]["backlog_entries"] == 0
        })
    })
    .unwrap();
    // Nothing to act on but, perhaps, this shared machine's own disk.
    let v = status("430100");
    let warned: Vec<&str> = v["warnings"].as_array().unwrap().iter().filter_map(|w| w.as_str()).collect();
    assert!(warned.iter().all(|w| w.contains("low disk")), "{v}");

    // The county stops: its city warns, naming it, once two sync intervals pass without contact.
    fed.stop("430102").unwrap();
    fed.wait_until("the city to warn about 430102", std::time::Duration::from_secs(30), |_| {
        status("430100")["warnings"].as_array().unwrap().iter().any(|w| {
            let w = w.as_str().unwrap_or("");
            w.contains("430102") && w.contains("late")
        })
    })
    .unwrap();
    let out = cli(&["status", "--data-dir", &fed.dir("430100")]);
    let screen = text(&out.stdout);
    assert!(screen.contains("节点 node") && screen.contains("警告 warning: 下级 430102"), "{screen}");
    // A stopped node is said to be stopped.
    let out = cli(&["status", "--data-dir", &fed.dir("430102")]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("节点未运行 node not running"), "{}", text(&out.stderr));
}
