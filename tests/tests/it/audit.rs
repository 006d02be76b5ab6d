//! The province audits the sync chain of a real federation; evidence is produced by really tampering with a
//! store or a stream, and the audit names the culprit.

use crate::federation::import;
use gongxin_certs::tls::{CaCert, TlsIdentity};
use gongxin_certs::NodeCode;
use gongxin_core::audit::{Report, Status};
use gongxin_core::checkpoint::Checkpoint;
use gongxin_core::crypto::{PublicKey, SigningKey};
use gongxin_core::envelope::LeafHeader;
use gongxin_core::merkle;
use gongxin_core::template::Kind;
use gongxin_node::store::{sled::SledStore, Batch, Store, Table};
use gongxin_proto::sync::v1 as pb;
use gongxin_tests::fed::{mtls_channel, signed_checkpoint, signed_entries, Fed, HUNAN6};
use gongxin_tests::{cli, text};
use std::time::Duration;

fn audit(fed: &Fed) -> (Option<i32>, Report) {
    let out = cli(&["audit", "run", "--data-dir", &fed.dir("430000"), "-o", "json"]);
    let r: Report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)));
    (out.status.code(), r)
}

#[test]
fn clean_federation_audits_ok_then_a_tampered_store_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let mut fed = Fed::up(tmp.path(), HUNAN6).unwrap();
    let a = import(&fed, "430102", Kind::Penalty, 1, 40);
    let b = import(&fed, "430321", Kind::Penalty, 2, 25);
    fed.wait_mirrored("430000", &[("430102", a), ("430321", b)], Duration::from_secs(90)).unwrap();
    // Without a heartbeat of every node at the province an origin would be `stale`, not `ok`.
    fed.wait_province_has_every_checkpoint(Duration::from_secs(60)).unwrap();
    let before = fed.own_head("430000").0;
    let (code, report) = audit(&fed);
    assert_eq!(code, Some(0), "{report:?}");
    assert_eq!(report.auditor, "430000");
    assert_eq!(report.origins.len(), 7);
    assert!(report.origins.iter().all(|o| o.status == Status::Ok), "{report:?}");
    let c = report.origins.iter().find(|o| o.code == "430102").unwrap();
    assert_eq!((c.mirror_size, c.leaves_checked, c.lag_entries), (a, a, 0));
    // Signed by the province and appended to its log; `audit show` gives it back.
    let pk = PublicKey::from_spki_pem(&std::fs::read_to_string(fed.nodes["430000"].dir.join("node.pub.pem")).unwrap())
        .unwrap();
    assert!(report.verify(&pk));
    assert_eq!(fed.own_head("430000").0, before + 1);
    let shown = cli(&["audit", "show", "--data-dir", &fed.dir("430000"), "-o", "json"]);
    assert_eq!(serde_json::from_slice::<Report>(&shown.stdout).unwrap(), report);
    let table = cli(&["audit", "show", "--data-dir", &fed.dir("430000")]);
    assert!(text(&table.stdout).contains("正常 ok"));

    // More data, then somebody edits a mirrored leaf in the province's store while it is down.
    let a2 = import(&fed, "430102", Kind::Penalty, 3, 10);
    fed.wait_until("the province to mirror the new batch", Duration::from_secs(60), |f| {
        f.logs("430000").get("430102").map(|s| s.0) == Some(a2)
    })
    .unwrap();
    fed.kill("430000");
    {
        let store = SledStore::open(&fed.nodes["430000"].dir.join("store")).unwrap();
        let mut key = 430102u32.to_be_bytes().to_vec();
        key.extend_from_slice(&(a + 2).to_be_bytes());
        let leaf = store.get(Table::Leaf, &key).unwrap().unwrap();
        let mut h = LeafHeader::decode(&leaf).unwrap();
        h.decided_on = "2020-01-01".into();
        let mut batch = Batch::new();
        batch.put(Table::Leaf, key, h.encode());
        store.apply(batch).unwrap();
        store.flush().unwrap();
    }
    fed.start("430000").unwrap();
    let (code, report) = audit(&fed);
    assert_eq!(code, Some(1));
    assert_eq!(report.origins[0].code, "430102", "problem origins first: {report:?}");
    assert_eq!(report.origins[0].status, Status::Evidence);
    let f = &report.origins[0].evidence;
    assert!(
        f.iter().any(|f| f.kind == "forged-record"
            && f.culprit == "430000"
            && f.detail.contains(&format!("leaf {}", a + 2))),
        "{f:?}"
    );
    assert!(report.origins.iter().filter(|o| o.code != "430102").all(|o| o.status == Status::Ok));
}

fn entries(key: &SigningKey, from: u64, n: u64, tag: &str) -> Vec<pb::Entry> {
    signed_entries(key, "430102", from, n, tag)
}

fn cp(key: &SigningKey, leaves: &[Vec<u8>]) -> pb::SignedNote {
    signed_checkpoint(key, "430102", leaves, &gongxin_node::app::now_rfc3339())
}

#[test]
fn equivocation_rewrite_forgery_and_relay_tampering_are_evidence_naming_the_culprit() {
    let tmp = tempfile::tempdir().unwrap();
    // Only the province runs; the test speaks as 长沙市 (relaying 芙蓉区) with their real keys and certificate.
    let mut fed = Fed::create(tmp.path(), HUNAN6, 1).unwrap();
    fed.start("430000").unwrap();
    fed.register_all().unwrap();
    let county =
        SigningKey::from_pkcs8_pem(&std::fs::read_to_string(fed.nodes["430102"].dir.join("node.key")).unwrap())
            .unwrap();
    let city_dir = fed.nodes["430100"].dir.clone();
    let id = TlsIdentity::load(city_dir.join("tls/node.pem"), city_dir.join("tls/node.key")).unwrap();
    let ca = CaCert::from(&fed.ca);
    let port = fed.nodes["430000"].port.unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut c = rt.block_on(async {
        let ch = mtls_channel(port, &id, &ca, "430000").await.unwrap();
        pb::sync_client::SyncClient::new(ch)
    });
    let mut up = |start: u64, es: Vec<pb::Entry>, note: pb::SignedNote| -> tonic::Code {
        rt.block_on(c.upload(pb::UploadRequest { origin: "430102".into(), start, entries: es, checkpoint: Some(note) }))
            .err()
            .map(|s| s.code())
            .unwrap_or(tonic::Code::Ok)
    };
    let good = entries(&county, 0, 4, "a");
    let leaves: Vec<Vec<u8>> = good.iter().map(|e| e.leaf.clone()).collect();
    assert_eq!(up(0, good[..3].to_vec(), cp(&county, &leaves[..3])), tonic::Code::Ok);

    // 1. Equivocation by the county: a different signed leaf at a known index, with its own checkpoint.
    let fork = entries(&county, 0, 3, "b");
    let fork_leaves: Vec<Vec<u8>> = fork.iter().map(|e| e.leaf.clone()).collect();
    assert_eq!(up(0, fork.clone(), cp(&county, &fork_leaves)), tonic::Code::Aborted);
    // 2. History rewrite: a checkpoint of an earlier size inconsistent with the signed leaves held.
    assert_eq!(up(2, vec![], cp(&county, &fork_leaves[..2])), tonic::Code::Aborted);
    // 3. A forged checkpoint relayed by the city (not signed by the county).
    let city_key = SigningKey::from_pkcs8_pem(&std::fs::read_to_string(city_dir.join("node.key")).unwrap()).unwrap();
    assert_eq!(up(3, good[3..].to_vec(), cp(&city_key, &leaves)), tonic::Code::InvalidArgument);
    // 4. Relay tampering: the city alters a payload on the way.
    let mut altered = good[3..].to_vec();
    altered[0].payload = b"{\"n\":3,\"tag\":\"x\"}".to_vec();
    assert_eq!(up(3, altered, cp(&county, &leaves)), tonic::Code::InvalidArgument);

    let out = cli(&["audit", "run", "--data-dir", &fed.dir("430000"), "-o", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Report = serde_json::from_slice(&out.stdout).unwrap();
    let o = report.origins.iter().find(|o| o.code == "430102").unwrap();
    assert_eq!(o.status, Status::Evidence);
    let has = |kind: &str, culprit: &str| o.evidence.iter().any(|f| f.kind.starts_with(kind) && f.culprit == culprit);
    assert!(has("equivocation", "430102"), "{:?}", o.evidence);
    assert!(has("history-rewrite", "430102"), "{:?}", o.evidence);
    assert!(has("forged-checkpoint", "430100"), "{:?}", o.evidence);
    assert!(has("relay-tampering", "430100"), "{:?}", o.evidence);
    // The table view puts it first and says what to do.
    let t = cli(&["audit", "show", "--data-dir", &fed.dir("430000")]);
    let s = text(&t.stdout);
    assert!(s.contains("证据 evidence") && s.contains("culprit 430100"), "{s}");
    drop(fed.nodes.remove("430000"));
}

#[test]
fn auditor_role_reads_audit_and_proofs_and_nothing_else() {
    use gongxin_certs::{IssueOptions, Role};
    use gongxin_proto::admin::v1 as apb;
    use gongxin_proto::audit::v1 as aud;
    let tmp = tempfile::tempdir().unwrap();
    let fed = Fed::up(tmp.path(), &HUNAN6[..4]).unwrap();
    let n = import(&fed, "430102", Kind::Penalty, 9, 12);
    fed.wait_until("the province to mirror 430102", Duration::from_secs(60), |f| {
        f.logs("430000").get("430102").map(|s| s.0) == Some(n)
    })
    .unwrap();
    let (_, report) = audit(&fed);
    let ca = CaCert::from(&fed.ca);
    let port = fed.nodes["430000"].port.unwrap();
    let issue = |role: Role, code: &str| {
        let o = IssueOptions { name: Some("审计员".into()), ..Default::default() };
        TlsIdentity::from_issued(&fed.ca.issue(role, &NodeCode::parse(code).unwrap(), &o).unwrap()).unwrap()
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let channel = |id: &TlsIdentity| rt.block_on(mtls_channel(port, id, &ca, "430000")).unwrap();
    let auditor = issue(Role::Auditor, "430000");
    let mut a = aud::audit_client::AuditClient::new(channel(&auditor));
    let latest = rt.block_on(a.latest_report(aud::LatestReportRequest {})).unwrap().into_inner();
    assert_eq!(serde_json::from_str::<Report>(&latest.report_json).unwrap(), report);
    // An inclusion proof the auditor checks itself against the origin-signed checkpoint.
    let cps = rt
        .block_on(a.checkpoints(aud::CheckpointsRequest { origin: "430102".into() }))
        .unwrap()
        .into_inner()
        .checkpoints;
    let last = cps.iter().map(|c| Checkpoint::parse(&c.note).unwrap()).max_by_key(|c| c.size).unwrap();
    let p = rt
        .block_on(a.inclusion_proof(aud::InclusionProofRequest { origin: "430102".into(), index: 5, size: last.size }))
        .unwrap()
        .into_inner();
    let hashes: Vec<[u8; 32]> = p.hashes.iter().map(|h| h.as_slice().try_into().unwrap()).collect();
    merkle::verify_inclusion(&merkle::leaf_hash(&p.leaf), 5, last.size, &hashes, &last.root).unwrap();
    let county_key =
        PublicKey::from_spki_pem(&std::fs::read_to_string(fed.nodes["430102"].dir.join("node.pub.pem")).unwrap())
            .unwrap();
    county_key.verify(&p.leaf, &p.leaf_signature).unwrap();
    // The auditor may not administer or sync; operators and nodes may not use the audit API.
    let denied_admin =
        rt.block_on(apb::admin_client::AdminClient::new(channel(&auditor)).status(apb::StatusRequest {})).unwrap_err();
    assert_eq!(denied_admin.code(), tonic::Code::PermissionDenied);
    let denied_sync =
        rt.block_on(pb::sync_client::SyncClient::new(channel(&auditor)).offer(pb::OfferRequest {})).unwrap_err();
    assert_eq!(denied_sync.code(), tonic::Code::PermissionDenied);
    for id in [issue(Role::Operator, "430000"), issue(Role::Auditor, "430100")] {
        let e = rt
            .block_on(aud::audit_client::AuditClient::new(channel(&id)).latest_report(aud::LatestReportRequest {}))
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
    }
    let node =
        TlsIdentity::load(fed.nodes["430100"].dir.join("tls/node.pem"), fed.nodes["430100"].dir.join("tls/node.key"))
            .unwrap();
    let e = rt
        .block_on(aud::audit_client::AuditClient::new(channel(&node)).latest_report(aud::LatestReportRequest {}))
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
}
