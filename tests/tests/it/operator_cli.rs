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
    // The reading end is closed before the child writes: without SIGPIPE's default action, println! panics (101).
    let mut child = Command::new(cli_bin())
        .args(["record", "template", "list_entry"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.signal(), Some(libc_sigpipe()), "{:?} {err}", out.status);
}

/// SIGPIPE's number on Linux.
fn libc_sigpipe() -> i32 {
    13
}
