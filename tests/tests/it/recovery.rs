//! A county takes its own log back from its city's mirror (deploy/RUNBOOK.md §5): after a restore from an older
//! backup (the gap is filled, then signing resumes), and after losing its disk and key (`init --recover`, the
//! province re-issues its keys with `registry rekey`). Real node processes, real mTLS, real signatures; the
//! province audits the result and an evaluator bundle of it verifies.

use crate::federation::import;
use gongxin_certs::{IssueOptions, NodeCode, Role};
use gongxin_core::audit::{Report, Status};
use gongxin_core::template::Kind;
use gongxin_tests::fed::Fed;
use gongxin_tests::{cli, eventually, node_cmd, text};
use std::time::Duration;

const TOPO3: &[(&str, Option<&str>)] = &[("430000", None), ("430100", Some("430000")), ("430102", Some("430100"))];

fn audit_ok(fed: &Fed) -> Report {
    let out = cli(&["audit", "run", "--data-dir", &fed.dir("430000"), "-o", "json"]);
    let r: Report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{r:?}");
    assert!(r.origins.iter().all(|o| o.evidence.is_empty()), "{r:?}");
    r
}

fn node_log(fed: &Fed, code: &str) -> String {
    std::fs::read_to_string(fed.nodes[code].dir.join("node.log")).unwrap_or_default()
}

#[test]
fn a_county_restored_from_an_older_backup_takes_the_gap_back_from_its_city_then_signs_on() {
    let tmp = tempfile::tempdir().unwrap();
    let mut fed = Fed::up(tmp.path(), TOPO3).unwrap();
    let first = import(&fed, "430102", Kind::License, 31, 10);
    fed.wait_mirrored("430100", &[("430102", first)], Duration::from_secs(60)).unwrap();
    let archive = tmp.path().join("county.tar");
    let out = node_cmd(&["backup", "--data-dir", &fed.dir("430102"), "--out", archive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // After the backup the county signs more, and its city mirrors them; then the county's disk is lost.
    let later = import(&fed, "430102", Kind::Penalty, 32, 5);
    fed.wait_mirrored("430100", &[("430102", later)], Duration::from_secs(60)).unwrap();
    // The county's head (size and root) is what its city mirrors.
    let city_copy = fed.own_head("430102");
    assert_eq!(fed.logs("430100")["430102"].0, city_copy.0);
    fed.stop("430102").unwrap();
    let dir = fed.nodes["430102"].dir.clone();
    std::fs::remove_dir_all(&dir).unwrap();
    let out = node_cmd(&["restore", "--from", archive.to_str().unwrap(), "--data-dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    fed.start("430102").unwrap();

    // The gap is named, then filled from the city's mirror: the county holds exactly the city's copy.
    eventually("the gap to be taken back", Duration::from_secs(60), || {
        let l = node_log(&fed, "430102");
        l.contains(&format!("gap {first}..{later}")) && l.contains("took this node's log back")
    })
    .unwrap();
    assert_eq!(fed.own_head("430102"), city_copy);
    eventually("the restore marker to go", Duration::from_secs(30), || !dir.join("restore.pending").exists()).unwrap();
    // Signing resumes at the right index: the new entries continue the log the city holds.
    let more = import(&fed, "430102", Kind::License, 33, 4);
    assert_eq!(more, later + 4);
    fed.wait_mirrored("430000", &[("430102", more)], Duration::from_secs(60)).unwrap();
    fed.wait_province_has_every_checkpoint(Duration::from_secs(60)).unwrap();
    let r = audit_ok(&fed);
    let county = r.origins.iter().find(|o| o.code == "430102").expect("county audited");
    assert_eq!(county.status, Status::Ok, "{r:?}");
}

#[test]
fn a_county_that_lost_its_disk_and_key_is_rekeyed_and_takes_its_log_back() {
    let tmp = tempfile::tempdir().unwrap();
    let mut fed = Fed::up(tmp.path(), TOPO3).unwrap();
    let n = import(&fed, "430102", Kind::Penalty, 41, 12);
    fed.wait_mirrored("430000", &[("430102", n)], Duration::from_secs(60)).unwrap();
    let city_copy = fed.own_head("430102");
    assert_eq!(fed.logs("430100")["430102"].0, city_copy.0);
    let old_pub = std::fs::read_to_string(fed.nodes["430102"].dir.join("node.pub.pem")).unwrap();
    fed.stop("430102").unwrap();
    let dir = fed.nodes["430102"].dir.clone();
    std::fs::remove_dir_all(&dir).unwrap();

    // A new machine: new SM2 key (held from signing), new TLS certificate, the same anchor.
    let out = node_cmd(&["init", "--code", "430102", "--data-dir", dir.to_str().unwrap(), "--recover"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("registry rekey"), "{}", text(&out.stdout));
    assert!(dir.join("restore.pending").exists());
    let new_pub = std::fs::read_to_string(dir.join("node.pub.pem")).unwrap();
    assert_ne!(new_pub, old_pub);
    let issued = fed.ca.issue(Role::Node, &NodeCode::parse("430102").unwrap(), &IssueOptions::default()).unwrap();
    issued.save(&dir.join("tls"), Some("node"), false).unwrap();
    std::fs::create_dir_all(dir.join("anchor")).unwrap();
    std::fs::write(dir.join("anchor/ca.pem"), fed.ca.cert_pem()).unwrap();
    std::fs::copy(fed.nodes["430000"].dir.join("node.pub.pem"), dir.join("anchor/province.pub.pem")).unwrap();

    // A rekey of a node the registry does not hold, or with a certificate of another node, is refused.
    let p = fed.dir("430000");
    let (key, cert) = (dir.join("node.pub.pem"), dir.join("tls/node.pem"));
    let (key, cert) = (key.to_str().unwrap(), cert.to_str().unwrap());
    let out = cli(&["registry", "rekey", "--data-dir", &p, "--code", "430104", "--key", key, "--cert", cert]);
    assert!(!out.status.success() && text(&out.stderr).contains("430104"), "{}", text(&out.stderr));
    let out = cli(&["registry", "rekey", "--data-dir", &p, "--code", "430102", "--key", key, "--cert", cert]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = cli(&["registry", "apply", "--data-dir", &p, "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let reg: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys = reg["current"]["nodes"].as_array().unwrap().iter().find(|n| n["code"] == "430102").unwrap()["keys"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(keys.len(), 2, "the old key stays: {keys:?}");
    assert!(keys[0]["valid_until"].is_string() && keys[1]["valid_until"].is_null(), "{keys:?}");
    fed.wait_until("the city to hold the new registry", Duration::from_secs(60), |f| {
        f.peers("430100")["registry_version"].as_u64().unwrap_or(0) >= 2
    })
    .unwrap();

    fed.start("430102").unwrap();
    eventually("the county to take its log back", Duration::from_secs(60), || {
        node_log(&fed, "430102").contains("took this node's log back")
    })
    .unwrap();
    assert_eq!(fed.own_head("430102"), city_copy);
    eventually("the restore marker to go", Duration::from_secs(30), || !dir.join("restore.pending").exists()).unwrap();
    // New entries are signed with the new key at the next index, and the city and the province accept them.
    let more = import(&fed, "430102", Kind::License, 42, 3);
    assert_eq!(more, n + 3);
    fed.wait_mirrored("430000", &[("430102", more)], Duration::from_secs(60)).unwrap();
    fed.wait_province_has_every_checkpoint(Duration::from_secs(60)).unwrap();
    audit_ok(&fed);
    // An evaluator's bundle of the whole federation verifies: old entries with the old key, new ones with the new.
    let bundle = tmp.path().join("bundle");
    let out = cli(&["export-bundle", "--data-dir", &p, "--out", bundle.to_str().unwrap(), "--all"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let anchor = fed.nodes["430000"].dir.join("node.pub.pem");
    let out = cli(&["verify-bundle", bundle.to_str().unwrap(), "--anchor", anchor.to_str().unwrap(), "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
}

#[test]
fn a_node_reinitialised_to_recover_signs_nothing_before_it_has_its_log_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n");
    let out = node_cmd(&["init", "--code", "430102", "--data-dir", dir.to_str().unwrap(), "--recover"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Standalone (no parent configured): the hold stays, an import is refused and names why.
    let node = gongxin_tests::NodeProc::start(&dir).unwrap();
    let rows = gongxin_core::testdata::rows(Kind::License, 5, "430102", 2);
    let file = tmp.path().join("x.csv");
    std::fs::write(&file, gongxin_core::testdata::to_csv(Kind::License, &rows)).unwrap();
    let out = cli(&["import", "--data-dir", node.dir_str(), "--kind", "license", file.to_str().unwrap()]);
    assert!(!out.status.success(), "a re-initialised node signed before taking its log back");
    assert!(text(&out.stderr).contains("restored from a backup"), "{}", text(&out.stderr));
    assert!(dir.join("restore.pending").exists());
}
