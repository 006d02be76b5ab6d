//! One county node end to end, as an operator drives it: real `gongxin-node` processes on real sled stores,
//! the real `gongxin` CLI over the admin socket, real SM2 signatures checked by OpenSSL.

use gongxin_core::template::Kind;
use gongxin_core::testdata;
use gongxin_tests::{cli, copy_dir, node_cmd, text, walk, NodeProc};
use std::path::Path;
use std::time::Duration;

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\nstderr: {}", text(&out.stdout), text(&out.stderr)))
}

fn write_csv(path: &Path, kind: Kind, seed: u64, n: usize) -> Vec<std::collections::BTreeMap<String, String>> {
    let rows = testdata::rows(kind, seed, "430102", n);
    std::fs::write(path, testdata::to_csv(kind, &rows)).unwrap();
    rows
}

#[test]
fn import_query_export_verify_and_tamper() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = tmp.path().join("430102");
    NodeProc::init("430102", &dd).unwrap();
    let node = NodeProc::start(&dd).unwrap();
    let d = node.dir_str();

    // 40 good licence rows plus two broken ones: a bad USCC check character and a missing decision date.
    let mut rows = testdata::rows(Kind::License, 7, "430102", 40);
    let mut bad1 = rows[0].clone();
    let code = bad1["行政相对人代码_1(统一社会信用代码)"].clone();
    let last = code.chars().last().unwrap();
    let wrong = if last == '0' { '1' } else { '0' };
    bad1.insert("行政相对人代码_1(统一社会信用代码)".into(), format!("{}{}", &code[..17], wrong));
    bad1.insert("行政许可决定文书号".into(), "坏行-1".into());
    let mut bad2 = rows[1].clone();
    bad2.insert("许可决定日期".into(), "2024/13/40".into());
    bad2.insert("行政许可决定文书号".into(), "坏行-2".into());
    rows.push(bad1);
    rows.push(bad2);
    let csv = tmp.path().join("许可.csv");
    std::fs::write(&csv, testdata::to_csv(Kind::License, &rows)).unwrap();
    let csv_s = csv.to_str().unwrap();

    let out = cli(&["import", "--data-dir", d, "--kind", "license", csv_s, "-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "rejected rows give exit 1: {}", text(&out.stderr));
    let j = json(&out);
    assert_eq!(j["accepted"], 40);
    assert_eq!(j["rejected"], 2);
    assert_eq!(j["size"], 40);
    let errs = j["errors"].as_array().unwrap();
    assert!(
        errs.iter().any(|e| e["row"] == 41 && e["field"].as_str().unwrap().contains("统一社会信用代码")),
        "{errs:?}"
    );
    assert!(errs.iter().any(|e| e["row"] == 42 && e["field"] == "许可决定日期"), "{errs:?}");
    let rejects = std::fs::read_to_string(j["rejects_file"].as_str().unwrap()).unwrap();
    assert_eq!(rejects.lines().count(), 3, "header + two rejected rows: {rejects}");
    assert!(rejects.contains("坏行-1") && rejects.contains("坏行-2"));

    // Importing the same file again adds nothing.
    let out = cli(&["import", "--data-dir", d, "--kind", "license", csv_s, "-o", "json"]);
    let j = json(&out);
    assert_eq!(j["accepted"], 0);
    assert_eq!(j["duplicates"], 40);
    assert_eq!(j["size"], 40);

    // Penalties too, into the same log.
    let pen = tmp.path().join("处罚.csv");
    let penalties = write_csv(&pen, Kind::Penalty, 8, 25);
    let out = cli(&["import", "--data-dir", d, "--kind", "penalty", pen.to_str().unwrap(), "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json(&out)["size"], 65);

    // Query by the subject of the third licence row.
    let uscc = rows[2]["行政相对人代码_1(统一社会信用代码)"].clone();
    let out = cli(&["query", "--data-dir", d, "--uscc", &uscc, "-o", "json"]);
    assert!(out.status.success());
    let recs = json(&out)["records"].as_array().unwrap().clone();
    assert!(!recs.is_empty(), "no record for {uscc}");
    assert!(recs.iter().all(|r| r["origin"] == "430102"));
    assert!(recs.iter().any(|r| r["record"].to_string().contains(&rows[2]["行政许可决定文书号"])));

    // Log head: size 65 and a signed checkpoint naming the node.
    let out = cli(&["log", "show", "--data-dir", d, "-o", "json"]);
    let head = json(&out);
    assert_eq!(head["size"], 65);
    assert!(head["checkpoint"].as_str().unwrap().starts_with("gongxin.hunan/430102 sm3\n65\n"), "{head}");

    // The default bundle leaves out payloads with personal information: no ID number of any row is in any of
    // its files, and both verifiers still accept it (every leaf and root is there).
    let masked = tmp.path().join("masked");
    let out = cli(&["export-bundle", "--data-dir", d, "--out", masked.to_str().unwrap(), "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let withheld = json(&out)["payloads_withheld"].as_u64().unwrap();
    assert!(withheld > 0 && text(&out.stderr).contains("--unmasked"), "{}", text(&out.stderr));
    let ids: Vec<&String> = rows
        .iter()
        .chain(&penalties)
        .flat_map(|r| r.values())
        .filter(|v| {
            v.len() == 18 && v.is_ascii() && v[..17].bytes().all(|b| b.is_ascii_digit()) && !v.starts_with("91")
        })
        .collect();
    assert!(!ids.is_empty(), "the sample rows carry ID numbers");
    for f in walk(&masked) {
        let body = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        for id in &ids {
            assert!(!body.contains(id.as_str()), "{} holds the ID number {id}", f.display());
        }
    }
    let out = cli(&["verify-bundle", masked.to_str().unwrap(), "-o", "json"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(json(&out)["origins"][0]["payloads"].as_u64(), Some(65 - withheld));
    let sh = std::process::Command::new("bash").arg(masked.join("verify-openssl.sh")).arg(&masked).output().unwrap();
    assert!(sh.status.success(), "OpenSSL-only path failed: {}{}", text(&sh.stdout), text(&sh.stderr));

    // Export unmasked, verify with Gongxin and with OpenSSL alone.
    let bundle = tmp.path().join("bundle");
    let b = bundle.to_str().unwrap();
    let out = cli(&["export-bundle", "--data-dir", d, "--out", b, "--unmasked"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = cli(&["verify-bundle", b, "-o", "json"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let v = json(&out);
    assert_eq!(v["origins"][0]["entries"], 65);
    assert_eq!(v["origins"][0]["root"], head["root"]);
    let sh = std::process::Command::new("bash").arg(bundle.join("verify-openssl.sh")).arg(&bundle).output().unwrap();
    assert!(sh.status.success(), "OpenSSL-only path failed: {}{}", text(&sh.stdout), text(&sh.stderr));
    assert!(text(&sh.stdout).contains("OK 430102: 65 leaves"), "{}", text(&sh.stdout));

    // Tampering: each is caught by both verifiers, naming the file.
    let tamper_cases: Vec<(&str, Box<dyn Fn(&Path)>)> = vec![
        (
            "entries/430102/0.pack#3",
            Box::new(|b: &Path| {
                let at = gongxin_tests::entry_span(b, "430102", 3);
                gongxin_tests::replace_in(&at.pack, at.payload.unwrap(), "20", "21");
            }),
        ),
        (
            "entries/430102/0.pack#5",
            Box::new(|b: &Path| {
                let at = gongxin_tests::entry_span(b, "430102", 5);
                gongxin_tests::replace_in(&at.pack, at.leaf, "kind license", "kind penalty");
            }),
        ),
        ("entries/430102/0.idx", Box::new(|b: &Path| std::fs::remove_file(b.join("entries/430102/0.idx")).unwrap())),
    ];
    for (name, tamper) in tamper_cases {
        let copy = tmp.path().join(format!("t-{}", name.replace('/', "_")));
        copy_dir(&bundle, &copy);
        tamper(&copy);
        let out = cli(&["verify-bundle", copy.to_str().unwrap(), "-o", "json"]);
        assert_eq!(out.status.code(), Some(1), "tampered {name} was accepted");
        let v = json(&out);
        assert_eq!(v["ok"], false);
        assert!(v["file"].as_str().unwrap().contains(name), "expected {name}, got {v}");
        let sh = std::process::Command::new("bash").arg(copy.join("verify-openssl.sh")).arg(&copy).output().unwrap();
        assert!(!sh.status.success(), "OpenSSL path accepted tampered {name}");
    }
}

#[test]
fn sigkill_during_import_loses_no_acknowledged_chunk() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = tmp.path().join("430102");
    NodeProc::init("430102", &dd).unwrap();
    let mut node = NodeProc::start(&dd).unwrap();
    let d = node.dir_str().to_string();
    let size_now = |d: &str| json(&cli(&["log", "show", "--data-dir", d, "-o", "json"]))["size"].as_u64().unwrap();

    // Start an import, kill the node once at least one chunk of it is acknowledged, restart it. If the whole
    // file was stored before the kill landed, nothing was interrupted: import a bigger file and try again.
    // `gongxin import` sends 1000-row chunks one after the other, each once the previous one is acknowledged
    // (flushed). `log show` may already count a chunk that is applied but not yet flushed, so a size of
    // `done + k * 1000` proves only the first k - 1 chunks acknowledged.
    let mut done = 0; // entries held before the import that gets interrupted
    let (big, acknowledged, total, size) = 'attempts: {
        for attempt in 0..3u32 {
            let n = 6_000u64 << (2 * attempt);
            let big = tmp.path().join(format!("big{attempt}.csv"));
            write_csv(&big, Kind::Penalty, 99 + u64::from(attempt), n as usize);
            let import = std::process::Command::new(gongxin_tests::cli_bin())
                .args(["import", "--data-dir", &d, "--kind", "penalty", big.to_str().unwrap(), "-o", "json"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut acknowledged = done;
            gongxin_tests::eventually("a chunk of the import acknowledged", Duration::from_secs(600), || {
                acknowledged = size_now(&d).saturating_sub(1000).max(done);
                acknowledged > done
            })
            .unwrap();
            node.kill();
            let out = import.wait_with_output().unwrap();
            // Restart: every acknowledged chunk is there, and the log holds whole chunks only.
            node = NodeProc::start(&dd).unwrap();
            let size = size_now(&d);
            assert!(size >= acknowledged, "acknowledged entries lost: {size} < {acknowledged}");
            assert!(size % 1000 == 0, "torn batch: size {size} is not a whole number of 1000-row chunks");
            if size < done + n {
                assert!(!out.status.success(), "the import reported success but the log lacks rows");
                break 'attempts (big, acknowledged, done + n, size);
            }
            eprintln!("the import of {n} rows was stored whole before the kill; trying a bigger file");
            done += n;
        }
        panic!("three imports were stored whole before a SIGKILL landed: nothing was interrupted");
    };
    assert!(acknowledged > done && size < total);

    // The bundle of the restarted node verifies (root = signed checkpoints).
    let bundle = tmp.path().join("b");
    assert!(cli(&["export-bundle", "--data-dir", &d, "--out", bundle.to_str().unwrap()]).status.success());
    let v = cli(&["verify-bundle", bundle.to_str().unwrap(), "-o", "json"]);
    assert!(v.status.success(), "{}", text(&v.stdout));

    // Re-running the import completes the file without duplicating what was stored.
    let out = cli(&["import", "--data-dir", &d, "--kind", "penalty", big.to_str().unwrap(), "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let j = json(&out);
    assert_eq!(j["duplicates"].as_u64().unwrap(), size - done);
    assert_eq!(j["size"].as_u64().unwrap(), total);
    drop(node);
}

#[test]
fn operator_errors_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = tmp.path().join("n");
    let d = dd.to_str().unwrap();
    // Not a current division code.
    let out = node_cmd(&["init", "--code", "439999", "--data-dir", d]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("439999"));
    // Init, then refuse a second init; key is 0600.
    NodeProc::init("430104", &dd).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(dd.join("node.key")).unwrap().permissions().mode() & 0o777, 0o600);
    let out = node_cmd(&["init", "--code", "430104", "--data-dir", d]);
    assert!(!out.status.success() && text(&out.stderr).contains("already initialised"));
    // The key is a PKCS#8 SM2 key OpenSSL reads.
    let o = std::process::Command::new("openssl")
        .args(["pkey", "-in"])
        .arg(dd.join("node.key"))
        .args(["-noout", "-text"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("SM2"), "{}", text(&o.stdout));
    // Config check: fine, then an unknown key is named and exits 78.
    assert!(node_cmd(&["config", "check", "--data-dir", d]).status.success());
    let cfg = dd.join("gongxin.toml");
    let t = std::fs::read_to_string(&cfg).unwrap().replace("[log]", "[log]\ncolour = \"red\"");
    std::fs::write(&cfg, t).unwrap();
    let out = node_cmd(&["config", "check", "--data-dir", d]);
    assert_eq!(out.status.code(), Some(78));
    assert!(text(&out.stderr).contains("colour"), "{}", text(&out.stderr));
    // No node running: exit 3 with a hint.
    let out = cli(&["log", "show", "--data-dir", d]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("gongxin-node run"), "{}", text(&out.stderr));
}

#[test]
fn store_backup_restores_the_same_log() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    NodeProc::init("430102", &a).unwrap();
    let node = NodeProc::start(&a).unwrap();
    let csv = tmp.path().join("p.csv");
    write_csv(&csv, Kind::Penalty, 3, 120);
    assert!(cli(&["import", "--data-dir", node.dir_str(), "--kind", "penalty", csv.to_str().unwrap()])
        .status
        .success());
    let head_a = json(&cli(&["log", "show", "--data-dir", node.dir_str(), "-o", "json"]));
    // A running node holds the store: export refuses with a hint.
    let backup = tmp.path().join("backup.gxs");
    let busy = node_cmd(&["store", "export", "--data-dir", node.dir_str(), "--out", backup.to_str().unwrap()]);
    assert!(!busy.status.success() && text(&busy.stderr).contains("stop the node"), "{}", text(&busy.stderr));
    drop(node);
    let _ = std::fs::remove_file(&backup);
    let out = node_cmd(&["store", "export", "--data-dir", a.to_str().unwrap(), "--out", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Restore into a fresh data dir with the same identity.
    let b = tmp.path().join("b");
    std::fs::create_dir_all(&b).unwrap();
    for f in ["node.key", "node.pub.pem", "gongxin.toml"] {
        std::fs::copy(a.join(f), b.join(f)).unwrap();
    }
    let out = node_cmd(&["store", "import", "--data-dir", b.to_str().unwrap(), "--in", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Importing twice is refused (the store is no longer empty).
    assert!(!node_cmd(&["store", "import", "--data-dir", b.to_str().unwrap(), "--in", backup.to_str().unwrap()])
        .status
        .success());
    let node_b = NodeProc::start(&b).unwrap();
    let head_b = json(&cli(&["log", "show", "--data-dir", node_b.dir_str(), "-o", "json"]));
    assert_eq!(head_a["size"], 120);
    assert_eq!(head_a["size"], head_b["size"]);
    assert_eq!(head_a["root"], head_b["root"]);
}
