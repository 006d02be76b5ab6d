//! The province exports an evaluator bundle of the whole federation (`export-bundle --all`), and an evaluator
//! checks it offline with `gongxin verify-bundle` and with OpenSSL alone; corrupt, truncated, incomplete and
//! mixed bundles get a verdict naming the first bad object, never a panic and never a false ok.

use crate::federation::import;
use gongxin_core::audit::{Report, Status};
use gongxin_core::crypto::SigningKey;
use gongxin_core::template::Kind;
use gongxin_tests::fed::{Fed, HUNAN6};
use gongxin_tests::{cli, copy_dir, text};
use std::path::Path;
use std::time::Duration;

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\nstderr: {}", text(&out.stdout), text(&out.stderr)))
}

fn only_file(dir: &Path) -> std::path::PathBuf {
    let mut v: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(v.len(), 1, "{v:?}");
    v.pop().unwrap()
}

/// Base64 through OpenSSL (the test package has no base64 crate).
fn b64(bytes: &[u8]) -> String {
    use std::io::Write as _;
    let mut c = std::process::Command::new("openssl")
        .args(["base64", "-A"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(bytes).unwrap();
    text(&c.wait_with_output().unwrap().stdout).trim().to_string()
}

/// Every registered origin is `ok` with a heartbeat and no evidence; each of `mirrored` was checked in full.
fn assert_all_ok(report: &Report, mirrored: &[(&str, u64)]) {
    for o in &report.origins {
        assert_eq!(o.status, Status::Ok, "{}: {report:?}", o.code);
        assert!(o.latest_heartbeat.is_some() && o.evidence.is_empty(), "{o:?}");
    }
    for (code, size) in mirrored {
        let o = report.origins.iter().find(|o| o.code == *code).unwrap_or_else(|| panic!("{code} not audited"));
        assert_eq!((o.mirror_size, o.leaves_checked, o.lag_entries), (*size, *size, 0), "{o:?}");
    }
}

type Tamper = Box<dyn Fn(&Path)>;

/// Rewrites the report file `rel` of a bundle copy with `f` (its `.sig` stays).
fn edit_report(rel: &str, f: impl Fn(&[u8]) -> Vec<u8> + 'static) -> Tamper {
    let rel = rel.to_string();
    Box::new(move |b: &Path| {
        let path = b.join(&rel);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, f(&bytes)).unwrap();
    })
}

fn openssl_path(b: &Path) -> std::process::Output {
    std::process::Command::new("bash").arg(b.join("verify-openssl.sh")).arg(b).output().unwrap()
}

#[test]
fn federation_bundle_exports_verifies_and_refuses_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let fed = Fed::up(tmp.path(), HUNAN6).unwrap();
    let a = import(&fed, "430102", Kind::Penalty, 1, 40);
    let b = import(&fed, "430321", Kind::Penalty, 2, 25);
    fed.wait_mirrored("430000", &[("430102", a), ("430321", b)], Duration::from_secs(90)).unwrap();
    // Every node has a fresh heartbeat at the province, nothing was tampered with and nobody lags: the audit
    // must find all seven origins `ok` (exit 0), the two counties' mirrors checked leaf by leaf.
    fed.wait_province_has_every_checkpoint(Duration::from_secs(60)).unwrap();
    let out = cli(&["audit", "run", "--data-dir", &fed.dir("430000"), "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let report: Report = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report.origins.len(), 7, "{report:?}");
    assert_all_ok(&report, &[("430102", a), ("430321", b)]);
    // More data after the audit, so the consistency proof from the audited checkpoint is not trivial.
    let a2 = import(&fed, "430102", Kind::Penalty, 3, 10);
    fed.wait_until("the province to mirror the new batch", Duration::from_secs(60), |f| {
        f.logs("430000").get("430102").map(|s| s.0) == Some(a2)
    })
    .unwrap();

    let p = fed.dir("430000");
    let bundle = tmp.path().join("bundle");
    let bs = bundle.to_str().unwrap();
    // --since is refused clearly, before anything is written.
    let out = cli(&["export-bundle", "--data-dir", &p, "--out", bs, "--all", "--since", "2026-01-01"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--since 2026-01-01") && text(&out.stderr).contains("not supported"));
    assert!(!bundle.exists() || std::fs::read_dir(&bundle).unwrap().next().is_none());

    // The evaluator's copy, with every payload (an operator's choice; the default leaves personal data out).
    let out = cli(&["export-bundle", "--data-dir", &p, "--out", bs, "--all", "--unmasked"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    for f in ["registry.json", "keys/430000.pem", "keys/430102/0.pem", "audit/430102.note", "audit/430102.sig"] {
        assert!(bundle.join(f).is_file(), "{f} missing");
    }
    let proof = only_file(&bundle.join("proofs/430102"));
    let proof_name = proof.file_name().unwrap().to_str().unwrap().to_string();
    assert!(proof_name.starts_with(&format!("{a}-{a2}")), "{proof_name}");
    assert!(!std::fs::read_to_string(&proof).unwrap().is_empty());
    let report_path = std::fs::read_dir(bundle.join("reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a report");
    let report_name = format!("reports/{}", report_path.file_name().unwrap().to_str().unwrap());
    let report_stem = report_name.trim_end_matches("json").to_string();

    // Gongxin verifies it, the province key pinned by the anchor.
    let anchor = fed.nodes["430000"].dir.join("node.pub.pem");
    let out = cli(&["verify-bundle", bs, "--anchor", anchor.to_str().unwrap(), "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let v = json(&out);
    assert_eq!(v["ok"], true);
    let f = &v["federation"];
    assert_eq!(f["province"], "430000");
    assert_eq!(f["anchor_pinned"], true);
    assert_eq!(f["reports"].as_array().unwrap().len(), 1);
    assert!(f["proofs"].as_u64().unwrap() >= 3, "{f}");
    let origins = v["origins"].as_array().unwrap();
    assert_eq!(origins.len(), 7);
    let o = origins.iter().find(|o| o["code"] == "430102").unwrap();
    assert_eq!(o["entries"], a2);
    // Not-shared payloads never reach the province, so payloads ≤ entries; the penalty rows are shared.
    assert_eq!(o["payloads"], a2);
    let audit: Report = serde_json::from_value(f["audit"].clone()).unwrap();
    assert_eq!(audit.origins.len(), 7);
    let c = audit.origins.iter().find(|o| o.code == "430102").unwrap();
    assert_eq!((c.mirror_size, c.leaves_checked), (a2, a2));
    assert_eq!(format!("{:?}", c.status), "Ok", "{audit:?}");
    // The table: the per-origin audit table and a clear verdict.
    let out = cli(&["verify-bundle", bs]);
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out.stdout);
    assert!(t.contains("正常 ok") && t.contains("federation bundle VERIFIED") && t.contains("compare with"), "{t}");
    // A wrong anchor is refused.
    let other = tmp.path().join("other.pem");
    std::fs::write(&other, SigningKey::generate().public_key().to_spki_pem()).unwrap();
    let out = cli(&["verify-bundle", bs, "--anchor", other.to_str().unwrap(), "-o", "json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["file"], "keys/430000.pem");

    // OpenSSL alone.
    let sh = openssl_path(&bundle);
    assert!(sh.status.success(), "OpenSSL-only path failed: {}{}", text(&sh.stdout), text(&sh.stderr));
    let so = text(&sh.stdout);
    assert!(
        so.contains(&format!("OK 430102: {a2} leaves")) && so.contains(&format!("audited checkpoint {a} consistent")),
        "{so}"
    );

    // A report's signed bytes are defined once, `Report::signed_bytes`; the sed recipe VERIFYING.md gives the
    // evaluator (and verify-openssl.sh runs) yields exactly those bytes from the report file.
    let doc = std::fs::read_to_string(bundle.join("VERIFYING.md")).unwrap();
    let recipe = doc
        .lines()
        .find_map(|l| l.trim().strip_prefix("sed -E '"))
        .and_then(|r| r.split_once("' "))
        .map(|(recipe, _)| recipe.to_string())
        .expect("VERIFYING.md gives the sed recipe for a report's signed bytes");
    let script = std::fs::read_to_string(bundle.join("verify-openssl.sh")).unwrap();
    assert!(script.contains(&format!("sed -E '{recipe}'")), "verify-openssl.sh uses another recipe than VERIFYING.md");
    let sed = std::process::Command::new("sed").args(["-E", &recipe]).arg(&report_path).output().unwrap();
    assert!(sed.status.success(), "{}", text(&sed.stderr));
    let report: Report = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    assert!(!report.signature.is_empty());
    assert_eq!(text(&sed.stdout), text(&report.signed_bytes()), "the sed recipe and Report::signed_bytes disagree");

    // Bad input: each case names the first bad object; both verifiers refuse where the script checks it.
    let foreign = SigningKey::generate();
    let rp = report_name.clone();
    let cases: Vec<(&str, &str, bool, Tamper)> = vec![
        (
            "report signed by another province key",
            report_name.as_str(),
            true,
            Box::new(move |b: &Path| {
                let path = b.join(&rp);
                let mut r: Report = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                r.signature = b64(&foreign.sign(&r.signed_bytes()));
                std::fs::write(&path, serde_json::to_vec(&r).unwrap()).unwrap();
                std::fs::write(path.with_extension("sig"), foreign.sign(&r.signed_bytes())).unwrap();
            }),
        ),
        (
            "report altered after signing",
            report_name.as_str(),
            true,
            edit_report(&report_name, |bytes| {
                String::from_utf8_lossy(bytes).replacen("\"lag_entries\":0", "\"lag_entries\":7", 1).into_bytes()
            }),
        ),
        (
            "truncated report",
            report_name.as_str(),
            true,
            edit_report(&report_name, |bytes| bytes[..bytes.len() / 2].to_vec()),
        ),
        // The same fields in another order: it parses to the same report and its `signed_bytes` verify, but the
        // file is not the payload the province signed in its log.
        (
            "report with its body reordered",
            report_name.as_str(),
            true,
            edit_report(&report_name, |bytes| {
                let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
                let f = |k: &str| serde_json::to_string(&v[k]).unwrap();
                let s = format!(
                    "{{\"at\":{},\"auditor\":{},\"sla\":{},\"origins\":{},\"signature\":{}}}",
                    f("at"),
                    f("auditor"),
                    f("sla"),
                    f("origins"),
                    f("signature")
                );
                assert_ne!(s.as_bytes(), bytes);
                s.into_bytes()
            }),
        ),
        (
            "report with a field after its signature",
            report_name.as_str(),
            true,
            edit_report(&report_name, |bytes| [bytes.strip_suffix(b"}").unwrap(), b",\"note\":\"x\"}"].concat()),
        ),
        ("report with its signature field altered", report_stem.as_str(), true, {
            let other = SigningKey::generate();
            edit_report(&report_name, move |bytes| {
                let mut r: Report = serde_json::from_slice(bytes).unwrap();
                r.signature = b64(&other.sign(&r.signed_bytes()));
                serde_json::to_vec(&r).unwrap()
            })
        }),
        (
            "missing report",
            report_name.as_str(),
            true,
            Box::new({
                let rp = report_name.clone();
                move |b: &Path| {
                    std::fs::remove_file(b.join(&rp)).unwrap();
                    std::fs::remove_file(b.join(&rp).with_extension("sig")).unwrap();
                }
            }),
        ),
        (
            "origin key not in the registry",
            "keys/430102.pem",
            true,
            Box::new(|b: &Path| {
                std::fs::write(b.join("keys/430102.pem"), SigningKey::generate().public_key().to_spki_pem()).unwrap()
            }),
        ),
        (
            "key history of another federation",
            "keys/430104/0.pem",
            true,
            Box::new(|b: &Path| {
                let k = SigningKey::generate().public_key().to_spki_pem();
                std::fs::write(b.join("keys/430104/0.pem"), &k).unwrap();
                std::fs::write(b.join("keys/430104.pem"), &k).unwrap();
            }),
        ),
        (
            "registry document not the one the province published",
            "registry.json",
            true,
            Box::new(|b: &Path| {
                let s = std::fs::read_to_string(b.join("registry.json")).unwrap();
                std::fs::write(b.join("registry.json"), s.replacen("\"version\":", "\"version\":1", 1)).unwrap();
            }),
        ),
        (
            "missing registry",
            "registry.json",
            true,
            Box::new(|b: &Path| std::fs::remove_file(b.join("registry.json")).unwrap()),
        ),
        (
            "missing key of a registered node",
            "keys/430104.pem",
            false,
            Box::new(|b: &Path| std::fs::remove_file(b.join("keys/430104.pem")).unwrap()),
        ),
        (
            "tampered consistency proof",
            "proofs/430102/",
            false,
            Box::new(|b: &Path| {
                let p = only_file(&b.join("proofs/430102"));
                let s = std::fs::read_to_string(&p).unwrap();
                let flipped = if s.starts_with('0') { s.replacen('0', "1", 1) } else { format!("0{}", &s[1..]) };
                std::fs::write(p, flipped).unwrap();
            }),
        ),
        (
            "missing consistency proof",
            "proofs/430102/",
            false,
            Box::new(|b: &Path| std::fs::remove_file(only_file(&b.join("proofs/430102"))).unwrap()),
        ),
        (
            "corrupt audited checkpoint",
            "audit/430102.sig",
            true,
            Box::new(|b: &Path| std::fs::write(b.join("audit/430102.note"), b"gongxin.hunan/430102 sm3\n1\n").unwrap()),
        ),
        (
            "altered leaf",
            "entries/430102/0.pack#3",
            true,
            Box::new(|b: &Path| {
                let at = gongxin_tests::entry_span(b, "430102", 3);
                gongxin_tests::replace_in(&at.pack, at.leaf, "index 3", "index 4");
            }),
        ),
        (
            "pack longer than its index says",
            "entries/430102/0.pack",
            true,
            Box::new(|b: &Path| {
                use std::io::Write as _;
                let mut f = std::fs::OpenOptions::new().append(true).open(b.join("entries/430102/0.pack")).unwrap();
                f.write_all(b"extra").unwrap();
            }),
        ),
        (
            "bundle truncated below what the signed report audited",
            "entries/430321/",
            false,
            Box::new(|b: &Path| {
                for d in ["entries", "checkpoints", "proofs"] {
                    let _ = std::fs::remove_dir_all(b.join(d).join("430321"));
                }
                let _ = std::fs::remove_file(b.join("audit/430321.note"));
                let _ = std::fs::remove_file(b.join("audit/430321.sig"));
            }),
        ),
        (
            "garbage file",
            "notes.txt",
            false,
            Box::new(|b: &Path| std::fs::write(b.join("notes.txt"), b"hello").unwrap()),
        ),
        // Issue 9: an altered script was reported "verified" and the evaluator told to run it.
        (
            "altered verify-openssl.sh",
            "verify-openssl.sh",
            false,
            Box::new(|b: &Path| {
                let p = b.join("verify-openssl.sh");
                let mut sh = std::fs::read(&p).unwrap();
                sh.extend_from_slice(b"\necho verified; exit 0\n");
                std::fs::write(&p, sh).unwrap();
            }),
        ),
        // Issue 9: links out of the bundle were followed, FIFOs read forever.
        (
            "key replaced by a symbolic link out of the bundle",
            "keys/430102.pem",
            false,
            Box::new(|b: &Path| {
                let p = b.join("keys/430102.pem");
                let outside = b.with_extension("outside.pem");
                std::fs::copy(&p, &outside).unwrap();
                std::fs::remove_file(&p).unwrap();
                std::os::unix::fs::symlink(&outside, &p).unwrap();
            }),
        ),
        (
            "FIFO among the leaves",
            "entries/430102/",
            false,
            Box::new(|b: &Path| {
                let st = std::process::Command::new("mkfifo").arg(b.join("entries/430102/999.bin")).status().unwrap();
                assert!(st.success());
            }),
        ),
    ];
    for (what, name, openssl_too, tamper) in cases {
        let copy = tmp.path().join(format!("t-{}", what.replace(' ', "-")));
        copy_dir(&bundle, &copy);
        tamper(&copy);
        let out = cli(&["verify-bundle", copy.to_str().unwrap(), "-o", "json"]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{what}: accepted or crashed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let v = json(&out);
        assert_eq!(v["ok"], false, "{what}");
        assert!(v["file"].as_str().unwrap().starts_with(name), "{what}: expected {name}, got {v}");
        assert!(!v["reason"].as_str().unwrap().is_empty());
        let t = cli(&["verify-bundle", copy.to_str().unwrap()]);
        assert!(text(&t.stderr).contains("verification FAILED"), "{what}: {}", text(&t.stderr));
        if openssl_too {
            let sh = openssl_path(&copy);
            assert!(!sh.status.success(), "OpenSSL path accepted: {what}: {}", text(&sh.stdout));
        }
    }
    // A reordered or extended report is refused by its bytes (SM3 against the signed leaf), not by its signature.
    for what in ["report with its body reordered", "report with a field after its signature"] {
        let copy = tmp.path().join(format!("t-{}", what.replace(' ', "-")));
        let v = json(&cli(&["verify-bundle", copy.to_str().unwrap(), "-o", "json"]));
        assert!(v["reason"].as_str().unwrap().contains("differs from the report published"), "{what}: {v}");
    }
}

/// `verify-bundle` throughput on a real federation bundle (province, city, county) of at least 50 000 records:
/// the province's own log holds them (imported on the province, so the measurement does not depend on sync
/// speed), the county's mirrored log a few thousand more.
/// Run in release: `cargo test --release -p gongxin-tests --test it bundle_federation::verify_bundle_throughput -- --ignored --nocapture`
/// (`GONGXIN_BENCH_RECORDS` overrides the province's record count).
#[test]
#[ignore]
fn verify_bundle_throughput() {
    let n: usize = std::env::var("GONGXIN_BENCH_RECORDS").ok().and_then(|s| s.parse().ok()).unwrap_or(50_000);
    let topo: &[(&str, Option<&str>)] = &[("430000", None), ("430100", Some("430000")), ("430102", Some("430100"))];
    let tmp = tempfile::tempdir().unwrap();
    let fed = Fed::up(tmp.path(), topo).unwrap();
    let county = import(&fed, "430102", Kind::Penalty, 12, 2_000);
    let t = std::time::Instant::now();
    import(&fed, "430000", Kind::Penalty, 11, n);
    eprintln!("imported {n} records on the province in {:.1} s", t.elapsed().as_secs_f64());
    fed.wait_until("the province to mirror the county", Duration::from_secs(600), |f| {
        f.logs("430000").get("430102").map(|s| s.0) == Some(county)
    })
    .unwrap();
    fed.wait_province_has_every_checkpoint(Duration::from_secs(60)).unwrap();
    let out = cli(&["audit", "run", "--data-dir", &fed.dir("430000"), "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    assert_all_ok(&serde_json::from_slice(&out.stdout).unwrap(), &[("430102", county)]);
    let bundle = tmp.path().join("bundle");
    let t = std::time::Instant::now();
    let out = cli(&["export-bundle", "--data-dir", &fed.dir("430000"), "--out", bundle.to_str().unwrap(), "--all"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    eprintln!("export-bundle --all: {:.1} s", t.elapsed().as_secs_f64());
    // The first run reads the files just written (in the page cache), as does the second.
    for run in 1..=2 {
        let t = std::time::Instant::now();
        let out = cli(&["verify-bundle", bundle.to_str().unwrap(), "-o", "json"]);
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
        let records: u64 =
            json(&out)["origins"].as_array().unwrap().iter().map(|o| o["entries"].as_u64().unwrap()).sum();
        assert!(records >= n as u64);
        eprintln!(
            "verify-bundle run {run}: {records} records in {secs:.2} s = {:.0} records/s ({} cores)",
            records as f64 / secs,
            std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1)
        );
    }
}
