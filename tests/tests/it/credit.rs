//! The joint-punishment check across a real federation: a list entry set at a county of 长沙 is found by a check
//! at a county of 湘潭, the verdict verifies with OpenSSL and its hit by inclusion proof, the removal propagates,
//! the uplink cut leaves an answer that says how stale it is, and the business-system role is refused
//! everywhere but the check.

use gongxin_certs::tls::{CaCert, TlsIdentity};
use gongxin_certs::{IssueOptions, NodeCode, Role};
use gongxin_core::check::{verify_hit, Verdict};
use gongxin_core::crypto::SigningKey;
use gongxin_core::testdata;
use gongxin_proto::check::v1 as cpb;
use gongxin_tests::fed::{mtls_channel, Fed, HUNAN6};
use gongxin_tests::{cli, text};
use std::path::Path;
use std::time::Duration;
use tonic::Code;

const CHANGSHA_COUNTY: &str = "430102";
const XIANGTAN_COUNTY: &str = "430302";

fn list_json(uscc: &str, doc: &str) -> String {
    serde_json::json!({
        "kind": "list_entry",
        "subject": {"name": "长沙某某劳务有限公司", "category": "法人及非法人组织", "uscc": uscc},
        "list_type": "拖欠农民工工资失信联合惩戒对象名单",
        "reason": "拖欠农民工工资数额巨大",
        "basis": "《保障农民工工资支付条例》第四十八条",
        "decision_doc_no": doc,
        "start": "2026-06-01",
        "end": "2029-05-31",
        "authority": "长沙市芙蓉区人力资源和社会保障局",
        "authority_uscc": testdata::make_uscc('1', '1', CHANGSHA_COUNTY, "00712345"),
    })
    .to_string()
}

/// `gongxin check … -o json` at `code` (exit status checked).
fn check(fed: &Fed, code: &str, uscc: &str, measure: &str) -> serde_json::Value {
    let out = cli(&["check", "--data-dir", &fed.dir(code), "--uscc", uscc, "--measure", measure, "-o", "json"]);
    assert!(out.status.success(), "check at {code}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn unb64(dir: &Path, name: &str, b64: &str) -> Vec<u8> {
    let (src, dst) = (dir.join(format!("{name}.b64")), dir.join(name));
    std::fs::write(&src, b64).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["base64", "-d", "-A", "-in", src.to_str().unwrap(), "-out", dst.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::read(dst).unwrap()
}

fn node_key(fed: &Fed, code: &str) -> SigningKey {
    SigningKey::from_pkcs8_pem(&std::fs::read_to_string(fed.nodes[code].dir.join("node.key")).unwrap()).unwrap()
}

#[test]
fn a_county_list_is_checked_in_another_city_verified_offline_and_its_removal_propagates() {
    let tmp = tempfile::tempdir().unwrap();
    let mut fed = Fed::up(tmp.path(), HUNAN6).unwrap();
    let out = cli(&["catalogue", "publish", "--data-dir", &fed.dir("430000")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = cli(&["catalogue", "publish", "--data-dir", &fed.dir(CHANGSHA_COUNTY)]);
    assert_eq!(out.status.code(), Some(1), "only the province publishes catalogues: {}", text(&out.stderr));

    let uscc = testdata::make_uscc('9', '1', CHANGSHA_COUNTY, "MA4PQ7R2");
    let file = tmp.path().join("list.json");
    std::fs::write(&file, list_json(&uscc, "芙人社监〔2026〕8号")).unwrap();
    let out = cli(&["record", "add", "--data-dir", &fed.dir(CHANGSHA_COUNTY), file.to_str().unwrap(), "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let index = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["size"].as_u64().unwrap() - 1;

    // Found at the origin once the province's catalogue arrived, and at a county of another city once the feed
    // brought the entry.
    fed.wait_until("the county to hold the catalogue", Duration::from_secs(60), |f| {
        let out = cli(&["catalogue", "show", "--data-dir", &f.dir(CHANGSHA_COUNTY), "-o", "json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .is_ok_and(|v| v.as_array().is_some_and(|a| !a.is_empty()))
    })
    .unwrap();
    assert_eq!(check(&fed, CHANGSHA_COUNTY, &uscc, "政府采购")["decision"], "restrict");
    fed.wait_until("a 湘潭 county to see the 长沙 county's list", Duration::from_secs(90), |f| {
        let out = cli(&[
            "check",
            "--data-dir",
            &f.dir(XIANGTAN_COUNTY),
            "--uscc",
            &uscc,
            "--measure",
            "政府采购",
            "-o",
            "json",
        ]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).is_ok_and(|v| v["decision"] == "restrict")
    })
    .unwrap();
    let answer = check(&fed, XIANGTAN_COUNTY, &uscc, "政府采购");
    let hits = answer["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{answer}");
    assert_eq!(hits[0]["origin"], CHANGSHA_COUNTY);
    assert_eq!(hits[0]["index"], index);
    assert_eq!(hits[0]["list_type"], "拖欠农民工工资失信联合惩戒对象名单");
    assert!(hits[0]["legal_basis"].as_str().unwrap().contains("保障农民工工资支付条例"));
    assert_eq!(answer["signer"], XIANGTAN_COUNTY);
    assert!(answer["as_of"]["province_size"].as_u64().unwrap() > 0, "{answer}");
    assert!(answer["as_of"]["stale_seconds"].as_i64().unwrap() < 600, "{answer}");
    // A measure the entry's list type does not trigger.
    assert_eq!(check(&fed, XIANGTAN_COUNTY, &uscc, "发行债券")["decision"], "none");

    // The verdict's batch statement verifies with OpenSSL against the answering node's key (and fails when one
    // byte changes); the statement's root is, for a batch of one, OpenSSL's SM3 of 0x00 || verdict, and in any
    // case the verdict's leaf hash with its inclusion proof.
    let work = tmp.path().join("verdict");
    std::fs::create_dir_all(&work).unwrap();
    let bytes = unb64(&work, "verdict.json", answer["verdict"].as_str().unwrap());
    let batch = unb64(&work, "batch.txt", answer["batch"].as_str().unwrap());
    let signature = unb64(&work, "verdict.sig", answer["signature"].as_str().unwrap());
    std::fs::write(work.join("signer.pem"), answer["signer_key_pem"].as_str().unwrap()).unwrap();
    assert_eq!(node_key(&fed, XIANGTAN_COUNTY).public_key().to_spki_pem(), answer["signer_key_pem"].as_str().unwrap());
    let openssl_verify = |file: &str| {
        std::process::Command::new("openssl")
            .current_dir(&work)
            .args(["pkeyutl", "-verify", "-pubin", "-inkey", "signer.pem", "-rawin", "-digest", "sm3"])
            .args(["-pkeyopt", "distid:1234567812345678", "-in", file, "-sigfile", "verdict.sig"])
            .output()
            .unwrap()
    };
    let ok = openssl_verify("batch.txt");
    assert!(ok.status.success(), "{}{}", text(&ok.stdout), text(&ok.stderr));
    let mut tampered = batch.clone();
    let at = tampered.iter().position(|b| *b == b'v').unwrap();
    tampered[at] = b'w';
    std::fs::write(work.join("tampered.txt"), &tampered).unwrap();
    assert!(!openssl_verify("tampered.txt").status.success(), "a changed batch statement must not verify");
    let proof = gongxin_core::check::BatchProof {
        statement: batch.clone(),
        signature,
        index: answer["batch_index"].as_u64().unwrap(),
        inclusion: answer["batch_proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| hex::decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
            .collect(),
    };
    let key = node_key(&fed, XIANGTAN_COUNTY).public_key();
    let verified = gongxin_core::check::verify_verdict(&bytes, &proof, &key).unwrap();
    if proof.inclusion.is_empty() {
        let mut leaf_input = vec![0u8];
        leaf_input.extend_from_slice(&bytes);
        std::fs::write(work.join("leaf.bin"), &leaf_input).unwrap();
        let out = std::process::Command::new("openssl")
            .current_dir(&work)
            .args(["dgst", "-sm3", "-binary", "leaf.bin"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let root_line = text(&batch).lines().nth(4).unwrap().to_string();
        assert_eq!(unb64(&work, "root.bin", &root_line), out.stdout, "the batch root is SM3(0x00 || verdict)");
    }
    let mut changed = bytes.clone();
    let at = changed.iter().position(|b| *b == b'r').unwrap();
    changed[at] = b's';
    assert!(gongxin_core::check::verify_verdict(&changed, &proof, &key).is_err(), "a changed verdict must not verify");
    // Each hit verifies offline with the origin's key and its inclusion proof.
    let v = Verdict::parse(&bytes).unwrap();
    assert_eq!(v, verified);
    assert_eq!(Verdict::id_of(&bytes), answer["verdict_id"].as_str().unwrap());
    let origin_key = node_key(&fed, CHANGSHA_COUNTY).public_key();
    verify_hit(&v.hits[0], &origin_key).unwrap();
    assert!(verify_hit(&v.hits[0], &node_key(&fed, XIANGTAN_COUNTY).public_key()).is_err());

    // Feedback at the answering county travels up; the province counts it. Feedback from a saved answer sends
    // the verdict with its batch proof; an altered proof is refused.
    let feedback = |action: &str, more: &[&str]| {
        let dir = fed.dir(XIANGTAN_COUNTY);
        let id = answer["verdict_id"].as_str().unwrap();
        let mut args = vec!["check", "feedback", "--data-dir", &dir, "--verdict", id, "--action", action];
        args.extend_from_slice(more);
        cli(&args)
    };
    let out = feedback("已限制", &["--note", "取消其投标资格"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let saved = work.join("answer.json");
    std::fs::write(&saved, answer.to_string()).unwrap();
    let feedback_from = |file: &Path| feedback("未限制", &["--answer", file.to_str().unwrap()]);
    let mut altered = answer.clone();
    altered["batch_index"] = serde_json::json!(answer["batch_index"].as_u64().unwrap() + 1);
    let altered_file = work.join("altered.json");
    std::fs::write(&altered_file, altered.to_string()).unwrap();
    let out = feedback_from(&altered_file);
    assert!(!out.status.success(), "an altered batch proof must be refused");
    assert!(text(&out.stderr).contains("不是本节点签发的结论"), "{}", text(&out.stderr));
    let out = feedback_from(&saved);
    assert!(out.status.success(), "{}", text(&out.stderr));
    fed.wait_until("the province to count the feedback", Duration::from_secs(90), |f| {
        let out = cli(&["check", "report", "--data-dir", &f.dir("430000"), "-o", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["rows"].as_array().is_some_and(|rows| {
            rows.iter().any(|r| r["origin"] == CHANGSHA_COUNTY && r["measure"] == "政府采购" && r["restricted"] == 1)
        })
    })
    .unwrap();

    // Removal at the origin (effective yesterday) propagates to the other city.
    let out = cli(&[
        "amend",
        "--data-dir",
        &fed.dir(CHANGSHA_COUNTY),
        "--target",
        &format!("{CHANGSHA_COUNTY}/{index}"),
        "--action",
        "移出名单",
        "--doc-no",
        "芙人社监〔2026〕9号",
        "--reason",
        "已全额支付拖欠工资",
        "--effective",
        "2026-11-30",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The wrong node may not amend it: 湘潭's county holds the entry but is not its origin.
    let out = cli(&[
        "amend",
        "--data-dir",
        &fed.dir(XIANGTAN_COUNTY),
        "--target",
        &format!("{CHANGSHA_COUNTY}/{index}"),
        "--action",
        "撤销",
        "--doc-no",
        "X-1",
        "--reason",
        "r",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("{CHANGSHA_COUNTY}/{index}")), "{}", text(&out.stderr));
    fed.wait_until("the removal to reach 湘潭", Duration::from_secs(90), |f| {
        check(f, XIANGTAN_COUNTY, &uscc, "政府采购")["decision"] == "none"
    })
    .unwrap();
    let q = cli(&["query", "--data-dir", &fed.dir(XIANGTAN_COUNTY), "--uscc", &uscc, "--history", "-o", "json"]);
    let q: serde_json::Value = serde_json::from_slice(&q.stdout).unwrap();
    assert_eq!(q["records"][0]["status"], "已移出", "{q}");
    assert_eq!(q["records"][0]["history"][0]["action"], "移出名单", "{q}");

    // The credit profile at the 湘潭 county: the fed list entry with its removal, and the feedback given on it.
    let out = cli(&["profile", "--data-dir", &fed.dir(XIANGTAN_COUNTY), "--uscc", &uscc, "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let p: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(p["lists"].as_array().unwrap().len(), 1, "{p}");
    assert_eq!(p["lists"][0]["status"], "已移出", "{p}");
    assert_eq!(p["lists"][0]["history"][0]["action"], "移出名单");
    assert_eq!(p["feedback"][0]["action"], "已限制", "{p}");
    assert_eq!(p["name"], "长沙某某劳务有限公司");

    // Offline: with its city stopped, the county still answers from its own state and says how old it is.
    fed.stop("430300").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let offline = check(&fed, XIANGTAN_COUNTY, &uscc, "政府采购");
    assert_eq!(offline["decision"], "none");
    assert!(offline["as_of"]["stale_seconds"].as_i64().unwrap() >= 3, "{offline}");
    let unknown = check(&fed, XIANGTAN_COUNTY, &testdata::make_uscc('9', '1', "430302", "MA4ZZZZ1"), "政府采购");
    assert_eq!(unknown["decision"], "none");
    assert_eq!(unknown["as_of"]["subject_known"], false);
    assert!(unknown["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("未掌握")), "{unknown}");
}

async fn check_code(port: u16, server: &str, id: &TlsIdentity, ca: &CaCert, uscc: &str) -> Code {
    let Ok(ch) = mtls_channel(port, id, ca, server).await else { return Code::Unavailable };
    let req = cpb::CheckRequest { uscc: uscc.into(), measure: "政府采购".into(), ..Default::default() };
    match cpb::check_client::CheckClient::new(ch).check(req).await {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    }
}

#[test]
fn the_business_system_role_may_call_the_check_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let fed = Fed::up(tmp.path(), HUNAN6).unwrap();
    assert!(cli(&["catalogue", "publish", "--data-dir", &fed.dir("430000")]).status.success());
    let xiangtan = fed.nodes["430300"].port.unwrap();
    let ca = CaCert::from(&fed.ca);
    let issue = |role: Role, code: &str| {
        let opts = IssueOptions { name: Some("湘潭市财政局采购系统".into()), ..Default::default() };
        TlsIdentity::from_issued(&fed.ca.issue(role, &NodeCode::parse(code).unwrap(), &opts).unwrap()).unwrap()
    };
    // Through the CLI too: `pki issue business-system` writes a certificate of that role.
    let certs = tmp.path().join("bs");
    let ca_dir = fed.root.join("pki");
    let out = cli(&[
        "pki",
        "issue",
        "business-system",
        "--ca-dir",
        ca_dir.to_str().unwrap(),
        "--code",
        "430300",
        "--name",
        "湘潭市财政局",
        "--out",
        certs.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let issued: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(issued["role"], "business-system");
    let bs = TlsIdentity::load(issued["cert"].as_str().unwrap(), issued["key"].as_str().unwrap()).unwrap();
    let uscc = testdata::make_uscc('9', '1', "430302", "MA4AAAA1");
    let r = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    fed.wait_until("the city to hold the catalogue", Duration::from_secs(60), |_| {
        r.block_on(check_code(xiangtan, "430300", &bs, &ca, &uscc)) == Code::Ok
    })
    .unwrap();
    // Another node's business system, a node certificate and an operator certificate: refused on the check.
    assert_eq!(
        r.block_on(check_code(xiangtan, "430300", &issue(Role::BusinessSystem, "430100"), &ca, &uscc)),
        Code::PermissionDenied
    );
    let city_node =
        TlsIdentity::load(fed.nodes["430302"].dir.join("tls/node.pem"), fed.nodes["430302"].dir.join("tls/node.key"))
            .unwrap();
    assert_eq!(r.block_on(check_code(xiangtan, "430300", &city_node, &ca, &uscc)), Code::PermissionDenied);
    assert_eq!(
        r.block_on(check_code(xiangtan, "430300", &issue(Role::Operator, "430300"), &ca, &uscc)),
        Code::PermissionDenied
    );

    // The business-system certificate on sync, admin and audit.
    r.block_on(async {
        let ch = mtls_channel(xiangtan, &bs, &ca, "430300").await.unwrap();
        let sync = gongxin_proto::sync::v1::sync_client::SyncClient::new(ch.clone())
            .cursor(gongxin_proto::sync::v1::CursorRequest { origin: "430302".into() })
            .await;
        assert_eq!(sync.unwrap_err().code(), Code::PermissionDenied, "sync");
        let admin = gongxin_proto::admin::v1::admin_client::AdminClient::new(ch.clone())
            .status(gongxin_proto::admin::v1::StatusRequest {})
            .await;
        assert_eq!(admin.unwrap_err().code(), Code::PermissionDenied, "admin");
        let audit = gongxin_proto::audit::v1::audit_client::AuditClient::new(ch)
            .latest_report(gongxin_proto::audit::v1::LatestReportRequest {})
            .await;
        assert_eq!(audit.unwrap_err().code(), Code::PermissionDenied, "audit");
    });
    // The city keeps serving its county afterwards.
    let size = crate::federation::import(&fed, "430302", gongxin_core::template::Kind::License, 3, 5);
    fed.wait_mirrored("430300", &[("430302", size)], Duration::from_secs(60)).unwrap();
}
