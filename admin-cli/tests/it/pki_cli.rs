//! `gongxin pki …` through the built binary: files and modes, `--force`, next steps, inspect output.
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn gongxin(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_gongxin"))
        .args(args)
        .current_dir(dir)
        .env_remove("GONGXIN_CA_DIR")
        .output()
        .expect("run gongxin");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(dir: &Path, args: &[&str]) -> Run {
    let r = gongxin(dir, args);
    assert_eq!(r.code, 0, "gongxin {args:?}\nstdout: {}\nstderr: {}", r.stdout, r.stderr);
    r
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[test]
fn ca_init_writes_0600_key_and_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let r = ok(d, &["pki", "ca", "init", "--dir", "ca", "--name", "湖南共信测试CA"]);
    assert!(r.stdout.contains("ca/ca.pem") && r.stdout.contains("ca/ca.key"), "{}", r.stdout);
    assert!(r.stdout.contains("CN=湖南共信测试CA"), "{}", r.stdout);
    assert!(
        r.stderr.contains("下一步 / Next") && r.stderr.contains("gongxin pki issue node --ca-dir ca"),
        "{}",
        r.stderr
    );
    assert_eq!(mode(&d.join("ca/ca.key")), 0o600);
    assert_eq!(mode(&d.join("ca/ca.pem")), 0o644);
    assert_eq!(mode(&d.join("ca")), 0o700);

    let key_before = fs::read(d.join("ca/ca.key")).expect("key");
    let pem_before = fs::read(d.join("ca/ca.pem")).expect("pem");
    let r = gongxin(d, &["pki", "ca", "init", "--dir", "ca"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("already exists") && r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(fs::read(d.join("ca/ca.key")).expect("key"), key_before, "key overwritten without --force");
    assert_eq!(fs::read(d.join("ca/ca.pem")).expect("pem"), pem_before);

    let r = ok(d, &["pki", "ca", "init", "--dir", "ca", "--force", "-o", "json"]);
    let v = json(&r.stdout);
    assert_eq!(v["ca_key"], "ca/ca.key");
    assert_ne!(fs::read(d.join("ca/ca.key")).expect("key"), key_before, "--force made a new key");
    assert_eq!(mode(&d.join("ca/ca.key")), 0o600);
}

#[test]
fn issue_every_role_then_inspect() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    ok(d, &["pki", "ca", "init", "--dir", "ca", "--name", "Test CA"]);

    let r = ok(d, &["pki", "issue", "node", "--ca-dir", "ca", "--code", "430102", "--name", "芙蓉区", "--out", "n"]);
    assert!(r.stdout.contains("n430102.gongxin.internal"), "{}", r.stdout);
    assert!(r.stderr.contains("gongxin pki inspect n/node-430102.pem --ca ca/ca.pem"), "{}", r.stderr);
    assert_eq!(mode(&d.join("n/node-430102.key")), 0o600);

    let r = ok(
        d,
        &[
            "pki", "issue", "operator", "--ca-dir", "ca", "--code", "430102", "--name", "张三", "--out", "o", "-o",
            "json",
        ],
    );
    let issued = json(&r.stdout);
    assert_eq!(
        (issued["role"].as_str(), issued["code"].as_str(), issued["name"].as_str()),
        (Some("operator"), Some("430102"), Some("张三"))
    );
    assert!(r.stderr.contains("张三") && r.stderr.contains("下一步 / Next"), "{}", r.stderr);
    assert_eq!(mode(&d.join("o/operator-430102.key")), 0o600);

    let r = ok(
        d,
        &[
            "pki", "issue", "auditor", "--ca-dir", "ca", "--code", "430000", "--name", "李四", "--out", "a", "--days",
            "30",
        ],
    );
    assert!(!r.stderr.contains("注意 note"), "province auditor needs no warning: {}", r.stderr);
    let r = ok(d, &["pki", "issue", "auditor", "--ca-dir", "ca", "--code", "430100", "--name", "王五", "--out", "a"]);
    assert!(r.stderr.contains("注意 note"), "a city auditor is flagged: {}", r.stderr);

    // inspect, JSON: everything the brief names, with the right values.
    let r = ok(d, &["pki", "inspect", "o/operator-430102.pem", "--ca", "ca/ca.pem", "-o", "json"]);
    let v = json(&r.stdout);
    assert_eq!(v["kind"], "operator");
    assert_eq!(v["role"], "operator");
    assert_eq!(v["code"], "430102");
    assert_eq!(v["verified"], true);
    assert_eq!(v["fingerprint"], issued["fingerprint"]);
    assert_eq!(v["not_after"], issued["not_after"]);
    assert!(v["subject"].as_str().is_some_and(|s| s.contains("CN=张三")), "{v}");
    assert!(v["issuer"].as_str().is_some_and(|s| s.contains("CN=Test CA")), "{v}");
    let days = v["days_to_expiry"].as_i64().expect("days");
    assert!((364..=365).contains(&days), "{days}");
    assert_eq!(v["problems"], serde_json::json!([]));

    let v = json(&ok(d, &["pki", "inspect", "a/auditor-430000.pem", "-o", "json"]).stdout);
    assert_eq!((v["role"].as_str(), v["code"].as_str()), (Some("auditor"), Some("430000")));
    assert!((29..=30).contains(&v["days_to_expiry"].as_i64().expect("days")), "{v}");
    assert_eq!(v["verified"], serde_json::Value::Null);

    // inspect, table.
    let r = ok(d, &["pki", "inspect", "n/node-430102.pem", "--ca", "ca/ca.pem"]);
    for want in ["430102", "node 节点", "CN=430102 芙蓉区", "CN=Test CA", "n430102.gongxin.internal", "ok 通过", "729"]
    {
        assert!(r.stdout.contains(want), "missing {want:?} in\n{}", r.stdout);
    }
    let r = ok(d, &["pki", "inspect", "ca/ca.pem", "--ca", "ca/ca.pem"]);
    assert!(r.stdout.contains("CA 根证书"), "{}", r.stdout);

    // Not issued by the CA given: shown, but exit 1 with the reason.
    ok(d, &["pki", "ca", "init", "--dir", "other"]);
    let r = gongxin(d, &["pki", "inspect", "n/node-430102.pem", "--ca", "other/ca.pem", "-o", "json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = json(&r.stdout);
    assert_eq!(v["verified"], false);
    assert!(v["problems"][0].as_str().is_some_and(|p| p.contains("未通过根证书验证")), "{v}");
}

#[test]
fn issue_refuses_to_overwrite_without_force() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    ok(d, &["pki", "ca", "init", "--dir", "ca"]);
    let args = ["pki", "issue", "node", "--ca-dir", "ca", "--code", "430104", "--out", "n", "-o", "json"];
    let first = json(&ok(d, &args).stdout);
    let key_before = fs::read(d.join("n/node-430104.key")).expect("key");
    let r = gongxin(d, &args);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("node-430104") && r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(fs::read(d.join("n/node-430104.key")).expect("key"), key_before);

    // The key alone is enough to block: no certificate is written beside someone else's key.
    fs::remove_file(d.join("n/node-430104.pem")).expect("rm");
    assert_eq!(gongxin(d, &args).code, 2);
    assert!(!d.join("n/node-430104.pem").exists());

    let mut forced = args.to_vec();
    forced.push("--force");
    let second = json(&ok(d, &forced).stdout);
    assert_ne!(first["fingerprint"], second["fingerprint"]);
    assert_eq!(mode(&d.join("n/node-430104.key")), 0o600);
    let v = json(&ok(d, &["pki", "inspect", "n/node-430104.pem", "-o", "json"]).stdout);
    assert_eq!(v["fingerprint"], second["fingerprint"]);

    // --stem picks the file names.
    ok(d, &["pki", "issue", "node", "--ca-dir", "ca", "--code", "430104", "--out", "n", "--stem", "tls"]);
    assert_eq!(mode(&d.join("n/tls.key")), 0o600);
    assert!(d.join("n/tls.pem").exists());
}

#[test]
fn bad_input_is_a_usage_error_with_a_reason() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    ok(d, &["pki", "ca", "init", "--dir", "ca"]);
    let cases: &[(&[&str], &str)] = &[
        (&["pki", "issue", "node", "--ca-dir", "ca", "--code", "43010"], "six digits"),
        (&["pki", "issue", "node", "--ca-dir", "ca", "--code", "990000"], "province code"),
        (&["pki", "issue", "operator", "--ca-dir", "ca", "--code", "430102"], "--name"),
        (&["pki", "issue", "node", "--ca-dir", "nope", "--code", "430102"], "nope/ca.pem"),
        (&["pki", "issue", "node", "--ca-dir", "ca", "--code", "430102", "--days", "4000"], "outlive the CA"),
        (&["pki", "inspect", "ca/ca.key"], "no CERTIFICATE"),
        (&["pki", "inspect", "missing.pem"], "missing.pem"),
        (&["pki", "inspect", "ca/ca.pem", "-o", "yaml"], "yaml"),
    ];
    for (args, want) in cases {
        let r = gongxin(d, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{args:?}: expected {want:?} in {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }
    // A CA key readable by others is refused, and the fix is named.
    fs::set_permissions(d.join("ca/ca.key"), fs::Permissions::from_mode(0o644)).expect("chmod");
    let r = gongxin(d, &["pki", "issue", "node", "--ca-dir", "ca", "--code", "430102"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("chmod 600"), "{}", r.stderr);
    assert!(!d.join("node-430102.pem").exists());
}

#[test]
fn ca_init_algorithm_sm2_issues_sm2_certificates_and_inspect_names_the_algorithm() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let r = ok(d, &["pki", "ca", "init", "--dir", "ca", "--algorithm", "sm2", "-o", "json"]);
    assert_eq!(json(&r.stdout)["algorithm"], "sm2", "{}", r.stdout);
    assert!(r.stderr.contains("tls_profile = \"sm2\""), "{}", r.stderr);
    let r = ok(d, &["pki", "issue", "node", "--ca-dir", "ca", "--code", "430102", "--out", "tls", "-o", "json"]);
    assert_eq!(json(&r.stdout)["algorithm"], "sm2", "{}", r.stdout);
    let r = ok(d, &["pki", "inspect", "tls/node-430102.pem", "--ca", "ca/ca.pem", "-o", "json"]);
    let v = json(&r.stdout);
    assert_eq!((v["algorithm"].as_str(), v["verified"].as_bool()), (Some("sm2"), Some(true)), "{v}");
    let r = ok(d, &["pki", "inspect", "ca/ca.pem"]);
    assert!(r.stdout.contains("algorithm 算法") && r.stdout.contains("sm2"), "{}", r.stdout);
    // The default stays ecdsa; anything else is refused by clap (exit 2).
    let r = ok(d, &["pki", "ca", "init", "--dir", "ca2", "-o", "json"]);
    assert_eq!(json(&r.stdout)["algorithm"], "ecdsa");
    let r = gongxin(d, &["pki", "ca", "init", "--dir", "ca3", "--algorithm", "rsa"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!d.join("ca3").exists());
}
