//! Operating a node (issue 13): `config check` checks what `run` needs, the example configs of `deploy/config/`
//! pass it, the systemd unit verifies, sd_notify readiness, logs (offset timestamps, no ANSI into a file, file
//! output, SIGHUP level change), `backup` of a running node and a `restore` that refuses a swapped key, the
//! key check of `store import` (the restored county that takes a gap back from its city is in `recovery`).

use gongxin_certs::Algorithm;
use gongxin_core::template::Kind;
use gongxin_core::testdata;
use gongxin_tests::fed::Fed;
use gongxin_tests::{cli, eventually, node_bin, node_cmd, text, workspace_root, NodeProc};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

const TOPO3: &[(&str, Option<&str>)] = &[("430000", None), ("430100", Some("430000")), ("430102", Some("430100"))];

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn chmod(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\nstderr: {}", text(&out.stdout), text(&out.stderr)))
}

fn import_rows(dir: &str, seed: u64, n: usize) {
    let rows = testdata::rows(Kind::Penalty, seed, "430102", n);
    let file = Path::new(dir).with_extension(format!("{seed}.csv"));
    std::fs::write(&file, testdata::to_csv(Kind::Penalty, &rows)).unwrap();
    let out = cli(&["import", "--data-dir", dir, "--kind", "penalty", file.to_str().unwrap()]);
    assert!(out.status.success(), "import: {}", text(&out.stderr));
}

/// `config check` and `run` both exit 78, naming the file or field and the fix.
fn refused_78(dir: &str, needles: &[&str]) {
    for args in [vec!["config", "check", "--data-dir", dir], vec!["run", "--data-dir", dir]] {
        let out = node_cmd(&args);
        let e = text(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{args:?}: {e}");
        assert!(e.starts_with("错误"), "{e}");
        for n in needles {
            assert!(e.contains(n), "{args:?}: {n:?} not in {e}");
        }
    }
}

#[test]
fn config_check_and_run_refuse_missing_unreadable_and_lax_files_and_wrong_parent() {
    let tmp = tempfile::tempdir().unwrap();
    let fed = Fed::create_with(tmp.path(), TOPO3, 1, Algorithm::EcdsaP256).unwrap();
    let d = fed.dir("430102");
    let dir = fed.nodes["430102"].dir.clone();
    // The county needs its parent's port in the config: write it by hand (nothing is started).
    let cfg = std::fs::read_to_string(workspace_root().join("deploy/config/county.toml")).unwrap();
    std::fs::write(dir.join("gongxin.toml"), &cfg).unwrap();
    assert!(node_cmd(&["config", "check", "--data-dir", &d]).status.success());

    chmod(&dir.join("node.key"), 0o640);
    refused_78(&d, &["node.key", "chmod 600", "拒绝启动"]);
    chmod(&dir.join("node.key"), 0o600);

    let tls_key = dir.join("tls/node.key");
    chmod(&tls_key, 0o644);
    refused_78(&d, &["federation.tls_key", "chmod 600"]);
    chmod(&tls_key, 0o600);

    std::fs::rename(dir.join("anchor/ca.pem"), dir.join("anchor/ca.pem.away")).unwrap();
    refused_78(&d, &["federation.ca_cert", "不存在", "ca.pem"]);
    std::fs::rename(dir.join("anchor/ca.pem.away"), dir.join("anchor/ca.pem")).unwrap();

    // Unreadable (mode 000) counts only for a non-root account; root reads anything, so only check when not root.
    if not_root() {
        chmod(&dir.join("tls/node.pem"), 0o000);
        refused_78(&d, &["federation.tls_cert", "无法读取"]);
        chmod(&dir.join("tls/node.pem"), 0o644);
    }

    std::fs::write(dir.join("gongxin.toml"), cfg.replace("parent_code = \"430100\"", "parent_code = \"430300\""))
        .unwrap();
    refused_78(&d, &["federation.parent_code", "430100", "长沙市"]);
    std::fs::write(dir.join("gongxin.toml"), cfg.replace("name = \"芙蓉区\"", "name = \"芙蓉新区\"")).unwrap();
    refused_78(&d, &["node.name", "\"芙蓉区\""]);
    std::fs::write(dir.join("gongxin.toml"), cfg.replace("level = \"info\"", "level = \"verbose\"")).unwrap();
    refused_78(&d, &["log.level", "verbose"]);
    std::fs::write(dir.join("gongxin.toml"), &cfg).unwrap();
    assert!(node_cmd(&["config", "check", "--data-dir", &d]).status.success());
}

fn not_root() -> bool {
    // The effective uid from /proc (no libc in this crate).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) != Some("0")))
        .unwrap_or(false)
}

#[test]
fn example_configs_pass_config_check_on_real_data_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    let fed = Fed::create_with(tmp.path(), TOPO3, 1, Algorithm::EcdsaP256).unwrap();
    for (code, file) in [("430000", "province.toml"), ("430100", "city.toml"), ("430102", "county.toml")] {
        let example = workspace_root().join("deploy/config").join(file);
        std::fs::copy(&example, fed.nodes[code].dir.join("gongxin.toml")).unwrap();
        let out = node_cmd(&["config", "check", "--data-dir", &fed.dir(code)]);
        assert!(out.status.success(), "{file}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains(code), "{}", text(&out.stdout));
    }
}

#[test]
fn systemd_unit_verifies() {
    let analyze = Path::new("/usr/bin/systemd-analyze");
    assert!(analyze.exists(), "systemd-analyze is needed for this test (apt-get install systemd)");
    let tmp = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(workspace_root().join("deploy/systemd/gongxin-node.service")).unwrap();
    for needle in [
        "Type=notify",
        "ExecStartPre=/usr/local/bin/gongxin-node config check --data-dir /var/lib/gongxin",
        "StateDirectory=gongxin",
        "User=gongxin",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
        "UMask=0077",
        "LimitNOFILE=",
    ] {
        assert!(unit.contains(needle), "unit lacks {needle:?}");
    }
    // Every directive line is preceded by a comment line somewhere in its block (each hardening line says why).
    let copy = tmp.path().join("gongxin-node.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/gongxin-node", node_bin().to_str().unwrap())).unwrap();
    let out = std::process::Command::new(analyze).arg("verify").arg(&copy).output().unwrap();
    let err = text(&out.stderr);
    let about_unit: Vec<&str> = err.lines().filter(|l| l.contains("gongxin-node.service")).collect();
    assert!(about_unit.is_empty(), "systemd-analyze verify: {err}");
}

#[test]
fn sd_notify_ready_after_listeners_and_stopping_on_term() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n");
    NodeProc::init("430102", &dir).unwrap();
    let sock_path = tmp.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut child = std::process::Command::new(node_bin())
        .args(["run", "--data-dir", dir.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &sock_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).expect("READY=1 within 30 s");
    assert_eq!(text(&buf[..n]).trim(), "READY=1");
    // Ready means the admin API answers.
    assert!(cli(&["log", "show", "--data-dir", dir.to_str().unwrap()]).status.success());
    assert!(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let n = sock.recv(&mut buf).expect("STOPPING=1 on SIGTERM");
    assert_eq!(text(&buf[..n]).trim(), "STOPPING=1");
    assert!(child.wait().unwrap().success());
}

#[test]
fn logs_have_offset_timestamps_no_ansi_and_sighup_changes_the_level() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n");
    NodeProc::init("430102", &dir).unwrap();
    let node = NodeProc::start(&dir).unwrap();
    let log = || std::fs::read_to_string(dir.join("node.log")).unwrap_or_default();
    eventually("the start line", Duration::from_secs(10), || log().contains("gongxin-node starting")).unwrap();
    let l = log();
    assert!(!l.contains('\u{1b}'), "ANSI codes in a log file: {l}");
    let first = l.lines().next().unwrap_or("");
    assert!(first.get(19..).is_some_and(|t| t.contains("+08:00")), "timestamp without +08:00: {first}");
    // SIGHUP applies the config's level (over RUST_LOG=info of the testkit).
    let cfg = dir.join("gongxin.toml");
    let t = std::fs::read_to_string(&cfg).unwrap().replace("level = \"info\"", "level = \"debug\"");
    std::fs::write(&cfg, t).unwrap();
    let pid = node.pid().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    eventually("the level change to be logged", Duration::from_secs(10), || {
        log().contains("log level changed") && log().contains("to=debug")
    })
    .unwrap();
    // An invalid level on SIGHUP keeps the one in force, and says so.
    let t = std::fs::read_to_string(&cfg).unwrap().replace("level = \"debug\"", "level = \"verbose\"");
    std::fs::write(&cfg, t).unwrap();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    eventually("the refusal", Duration::from_secs(10), || log().contains("log level unchanged")).unwrap();
    assert!(cli(&["log", "show", "--data-dir", dir.to_str().unwrap()]).status.success(), "still serving");
}

#[test]
fn file_output_writes_json_lines_into_the_rotated_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n");
    NodeProc::init("430102", &dir).unwrap();
    let cfg = dir.join("gongxin.toml");
    let t = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("format = \"text\"", "format = \"json\"")
        .replace("# output = \"stderr\"", "output = \"file\"");
    std::fs::write(&cfg, t).unwrap();
    let mut node = NodeProc::start(&dir).unwrap();
    let logs = dir.join("logs");
    let found = || -> String {
        std::fs::read_dir(&logs)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with("node.log"))
                    .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default()
    };
    eventually("a JSON start line in logs/node.log.*", Duration::from_secs(10), || {
        found().contains("gongxin-node starting")
    })
    .unwrap();
    let line = found().lines().find(|l| l.contains("gongxin-node starting")).unwrap().to_string();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(v["timestamp"].as_str().unwrap().ends_with("+08:00"), "{line}");
    assert_eq!(mode(&logs), 0o700);
    node.stop().unwrap();
}

#[test]
fn backup_of_a_running_node_restores_and_a_swapped_key_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    NodeProc::init("430102", &a).unwrap();
    let mut node = NodeProc::start(&a).unwrap();
    import_rows(node.dir_str(), 3, 40);
    let head = json(&cli(&["log", "show", "--data-dir", node.dir_str(), "-o", "json"]));
    assert_eq!(head["size"], 40);
    let archive = tmp.path().join("a.tar");
    let out = node_cmd(&["backup", "--data-dir", node.dir_str(), "--out", archive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("exported by the running node"), "{}", text(&out.stdout));
    assert_eq!(mode(&archive), 0o600);
    // The export the node wrote for it is gone; a second backup to the same file is refused.
    assert!(!std::fs::read_dir(&a).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with("backup-")));
    let again = node_cmd(&["backup", "--data-dir", node.dir_str(), "--out", archive.to_str().unwrap()]);
    assert!(!again.status.success() && text(&again.stderr).contains("must not exist"), "{}", text(&again.stderr));
    // The node goes on after the backup.
    import_rows(node.dir_str(), 4, 5);

    // Into a non-empty directory: refused.
    let busy = tmp.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("x"), b"x").unwrap();
    let out = node_cmd(&["restore", "--from", archive.to_str().unwrap(), "--data-dir", busy.to_str().unwrap()]);
    assert!(!out.status.success() && text(&out.stderr).contains("非空"), "{}", text(&out.stderr));

    let b = tmp.path().join("b");
    let out = node_cmd(&["restore", "--from", archive.to_str().unwrap(), "--data-dir", b.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mode(&b), 0o700);
    assert_eq!(mode(&b.join("node.key")), 0o600);
    assert_eq!(mode(&b.join("gongxin.toml")), 0o644);
    assert_eq!(std::fs::read(b.join("node.key")).unwrap(), std::fs::read(a.join("node.key")).unwrap());
    assert!(b.join("restore.pending").exists());
    assert!(node_cmd(&["config", "check", "--data-dir", b.to_str().unwrap()]).status.success());
    let node_b = NodeProc::start(&b).unwrap();
    let head_b = json(&cli(&["log", "show", "--data-dir", node_b.dir_str(), "-o", "json"]));
    assert_eq!(head_b["size"], 40);
    assert_eq!(head_b["root"], head["root"]);
    // Standalone: nothing to compare with, signing goes on.
    assert!(!b.join("restore.pending").exists());
    drop(node_b);

    // An archive whose node.key was swapped (another node's key with its public key): refused, nothing written.
    node.stop().unwrap();
    let other = tmp.path().join("other");
    NodeProc::init("430102", &other).unwrap();
    for f in ["node.key", "node.pub.pem"] {
        std::fs::copy(other.join(f), a.join(f)).unwrap();
    }
    let swapped = tmp.path().join("swapped.tar");
    let out = node_cmd(&["backup", "--data-dir", a.to_str().unwrap(), "--out", swapped.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("node stopped"), "{}", text(&out.stdout));
    let c = tmp.path().join("c");
    let out = node_cmd(&["restore", "--from", swapped.to_str().unwrap(), "--data-dir", c.to_str().unwrap()]);
    let e = text(&out.stderr);
    assert!(!out.status.success(), "a swapped key was restored");
    assert!(e.contains("node.key") && e.contains("拒绝恢复") && e.contains("does not verify"), "{e}");
    assert!(!c.exists(), "nothing is left half-written");
    let leftovers: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("restoring"))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
}

#[test]
fn store_import_refuses_a_store_signed_by_another_key_unless_new_key() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    NodeProc::init("430102", &a).unwrap();
    let node = NodeProc::start(&a).unwrap();
    import_rows(node.dir_str(), 5, 10);
    drop(node);
    let export = tmp.path().join("a.gxs");
    let out = node_cmd(&["store", "export", "--data-dir", a.to_str().unwrap(), "--out", export.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // B is the same node code with a freshly generated key.
    let b = tmp.path().join("b");
    NodeProc::init("430102", &b).unwrap();
    let args = ["store", "import", "--data-dir", b.to_str().unwrap(), "--in", export.to_str().unwrap()];
    let out = node_cmd(&args);
    let e = text(&out.stderr);
    assert!(!out.status.success(), "imported a store of another key");
    assert!(e.contains("--new-key") && e.contains("nothing imported"), "{e}");
    assert!(!b.join("store").exists(), "nothing written");
    let out = node_cmd(&[&args[..], &["--new-key"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("WARNING"), "{}", text(&out.stderr));
    // The same key imports without a warning.
    let c = tmp.path().join("c");
    std::fs::create_dir_all(&c).unwrap();
    for f in ["node.key", "node.pub.pem", "gongxin.toml"] {
        std::fs::copy(a.join(f), c.join(f)).unwrap();
    }
    let out = node_cmd(&["store", "import", "--data-dir", c.to_str().unwrap(), "--in", export.to_str().unwrap()]);
    assert!(out.status.success() && !text(&out.stderr).contains("WARNING"), "{}", text(&out.stderr));
}

/// The commands a runbook line names, after `bin ` at a word start: up to `max` lowercase words.
fn named_commands(doc: &str, bin: &str, max: usize) -> Vec<Vec<String>> {
    let pat = format!("{bin} ");
    let mut found = Vec::new();
    for (i, _) in doc.match_indices(&pat) {
        let before = doc[..i].chars().last();
        if !matches!(before, None | Some(' ' | '`' | '\n' | '（' | '：')) {
            continue;
        }
        let words: Vec<String> = doc[i + pat.len()..]
            .split([' ', '\n', '`', '，', '）', '。'])
            .take_while(|w| {
                !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !w.starts_with('-')
            })
            .take(max)
            .map(str::to_string)
            .collect();
        // `sudo -u gongxin gongxin-node …`: the account name, not a command.
        if !words.is_empty() && !words[0].starts_with("gongxin") && !found.contains(&words) {
            found.push(words);
        }
    }
    found
}

#[test]
fn runbook_covers_each_symptom_and_names_only_real_commands() {
    let doc = std::fs::read_to_string(workspace_root().join("deploy/RUNBOOK.md")).unwrap();
    for heading in [
        "上级链路中断 Uplink down",
        "磁盘满 Disk full",
        "证书即将到期 Certificate expiring",
        "发现证据 Evidence found",
        "从市级镜像恢复县级节点 Restore a county from its city's mirror",
    ] {
        assert!(doc.contains(heading), "RUNBOOK lacks {heading:?}");
    }
    let node_cmds = named_commands(&doc, "gongxin-node", 2);
    assert!(node_cmds.iter().any(|c| c[0] == "backup") && node_cmds.iter().any(|c| c[0] == "restore"), "{node_cmds:?}");
    for c in &node_cmds {
        let mut args: Vec<&str> = c.iter().map(String::as_str).collect();
        args.push("--help");
        let out = node_cmd(&args);
        assert!(out.status.success(), "RUNBOOK names `gongxin-node {}`: {}", c.join(" "), text(&out.stderr));
    }
    for c in named_commands(&doc, "gongxin", 3) {
        let mut args: Vec<&str> = c.iter().map(String::as_str).collect();
        args.push("--help");
        let out = cli(&args);
        assert!(out.status.success(), "RUNBOOK names `gongxin {}`: {}", c.join(" "), text(&out.stderr));
    }
}

#[test]
fn journal_output_without_a_journald_is_refused_cleanly() {
    if Path::new("/run/systemd/journal/socket").exists() {
        return; // a journald listens here: the refusal cannot be shown on this machine
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n");
    NodeProc::init("430102", &dir).unwrap();
    let cfg = dir.join("gongxin.toml");
    let t = std::fs::read_to_string(&cfg).unwrap().replace("# output = \"stderr\"", "output = \"journal\"");
    std::fs::write(&cfg, t).unwrap();
    assert!(node_cmd(&["config", "check", "--data-dir", dir.to_str().unwrap()]).status.success());
    let out = node_cmd(&["run", "--data-dir", dir.to_str().unwrap()]);
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.starts_with("错误") && e.contains("journal") && e.contains("output = \"stderr\""), "{e}");
    assert!(!dir.join("admin.sock").exists(), "nothing was served");
}
