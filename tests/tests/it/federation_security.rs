//! Refusals (DESIGN §3, issue 3 item 6) and bad input on the sync API, against real nodes over real mTLS:
//! every refusal gets the right gRPC status, is logged, stores nothing, and the node keeps serving.

use gongxin_certs::tls::{self, CaCert, TlsIdentity};
use gongxin_certs::{Ca, CaOptions, IssueOptions, NodeCode, Role};
use gongxin_core::crypto::{PublicKey, SigningKey};
use gongxin_core::sync::cosignature_statement;
use gongxin_proto::admin::v1 as apb;
use gongxin_proto::sync::v1 as pb;
use gongxin_tests::fed::{mtls_channel, signed_checkpoint, signed_entries, Fed, HUNAN6};
use gongxin_tests::{cli, text};
use std::path::Path;
use std::time::Duration;
use tonic::Code;

pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

pub(crate) fn identity_of(dir: &Path) -> TlsIdentity {
    TlsIdentity::load(dir.join("tls/node.pem"), dir.join("tls/node.key")).unwrap()
}

pub(crate) fn issued(ca: &Ca, role: Role, code: &str) -> TlsIdentity {
    let opts = IssueOptions { name: Some("测试".into()), ..Default::default() };
    TlsIdentity::from_issued(&ca.issue(role, &NodeCode::parse(code).unwrap(), &opts).unwrap()).unwrap()
}

pub(crate) async fn sync_client(
    port: u16,
    server: &str,
    id: &TlsIdentity,
    ca: &CaCert,
) -> Result<pb::sync_client::SyncClient<tonic::transport::Channel>, String> {
    let ch = mtls_channel(port, id, ca, server).await.map_err(|e| format!("{e:#}"))?;
    Ok(pb::sync_client::SyncClient::new(ch).max_encoding_message_size(256 << 20))
}

pub(crate) async fn cursor_code(port: u16, server: &str, id: &TlsIdentity, ca: &CaCert, origin: &str) -> Code {
    match sync_client(port, server, id, ca).await {
        Err(_) => Code::Unavailable,
        Ok(mut c) => match c.cursor(pb::CursorRequest { origin: origin.into() }).await {
            Ok(_) => Code::Ok,
            Err(s) => s.code(),
        },
    }
}

/// Waits until `code`'s peer view shows registry `version`.
pub(crate) fn wait_registry(fed: &Fed, code: &str, version: u64) {
    fed.wait_until(&format!("{code} to receive registry v{version}"), Duration::from_secs(60), |f| {
        let v: serde_json::Value =
            serde_json::from_slice(&cli(&["peer", "list", "--data-dir", &f.dir(code), "-o", "json"]).stdout)
                .unwrap_or_default();
        v["registry_version"] == version
    })
    .unwrap();
}

#[test]
fn every_unauthorised_caller_is_refused_and_nothing_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let fed = Fed::up(tmp.path(), HUNAN6).unwrap();
    let ca = CaCert::from(&fed.ca);
    let changsha = fed.nodes["430100"].port.unwrap();
    let province = fed.nodes["430000"].port.unwrap();
    wait_registry(&fed, "430100", 1);
    let r = rt();
    let county = identity_of(&fed.nodes["430102"].dir);
    assert_eq!(
        r.block_on(cursor_code(changsha, "430100", &county, &ca, "430102")),
        Code::Ok,
        "the registered county is served"
    );

    // No client certificate: the TLS handshake fails, no RPC reaches the service.
    tls::install_crypto_provider().unwrap();
    let no_cert = r.block_on(async {
        let cfg = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(ca.pem()))
            .domain_name(NodeCode::parse("430100").unwrap().dns_name());
        let ch = tonic::transport::Endpoint::from_shared(format!("https://127.0.0.1:{changsha}"))
            .unwrap()
            .tls_config(cfg)
            .unwrap()
            .connect()
            .await;
        match ch {
            Err(_) => Code::Unavailable,
            Ok(ch) => {
                match pb::sync_client::SyncClient::new(ch).cursor(pb::CursorRequest { origin: "430102".into() }).await {
                    Ok(_) => Code::Ok,
                    Err(s) => s.code(),
                }
            }
        }
    });
    assert_ne!(no_cert, Code::Ok, "no client certificate");

    // A certificate from another CA (same node code).
    let other_ca = Ca::create(&CaOptions::default()).unwrap();
    let foreign = issued(&other_ca, Role::Node, "430102");
    assert_ne!(
        r.block_on(cursor_code(changsha, "430100", &foreign, &ca, "430102")),
        Code::Ok,
        "certificate of another CA"
    );

    // A valid federation certificate of a node that is not in the registry, and a valid certificate of a
    // registered code that is not the registered certificate: refused at the TLS layer (no RPC gets through;
    // `hostile_peers` checks the log), so not a per-RPC PERMISSION_DENIED.
    // (The code of a failed handshake varies with how far tonic got: never OK, never a per-RPC refusal.)
    let at_tls = |c: Code| {
        eprintln!("refused at the TLS layer: {c:?}");
        !matches!(c, Code::Ok | Code::PermissionDenied)
    };
    let stranger = issued(&fed.ca, Role::Node, "430111");
    assert!(at_tls(r.block_on(cursor_code(changsha, "430100", &stranger, &ca, "430111"))));
    let twin = issued(&fed.ca, Role::Node, "430102");
    assert!(at_tls(r.block_on(cursor_code(changsha, "430100", &twin, &ca, "430102"))));
    // An operator or auditor certificate on the node-to-node API.
    let auditor = issued(&fed.ca, Role::Auditor, "430000");
    assert_eq!(r.block_on(cursor_code(province, "430000", &auditor, &ca, "430100")), Code::PermissionDenied);

    // A county uploading another county's origin; a city relaying a county of another city; a county skipping
    // its city. Each batch is validly signed by the origin, so only the refusal keeps it out of the store.
    let origin_key = |code: &str| {
        SigningKey::from_pkcs8_pem(&std::fs::read_to_string(fed.nodes[code].dir.join("node.key")).unwrap()).unwrap()
    };
    let upload = |port: u16, server: &str, id: &TlsIdentity, origin: &str| -> Code {
        let key = origin_key(origin);
        let entries = signed_entries(&key, origin, 0, 3, "uploaded-by-the-wrong-caller");
        let leaves: Vec<Vec<u8>> = entries.iter().map(|e| e.leaf.clone()).collect();
        let checkpoint = signed_checkpoint(&key, origin, &leaves, &gongxin_node::app::now_rfc3339());
        r.block_on(async {
            let mut c = sync_client(port, server, id, &ca).await.unwrap();
            let req = pb::UploadRequest { origin: origin.into(), start: 0, entries, checkpoint: Some(checkpoint) };
            c.upload(req).await.err().map(|s| s.code()).unwrap_or(Code::Ok)
        })
    };
    assert_eq!(
        upload(changsha, "430100", &county, "430104"),
        Code::PermissionDenied,
        "county uploads another county's origin"
    );
    let xiangtan = identity_of(&fed.nodes["430300"].dir);
    assert_eq!(
        upload(province, "430000", &xiangtan, "430102"),
        Code::PermissionDenied,
        "city relays a county of another city"
    );
    assert_eq!(upload(province, "430000", &county, "430102"), Code::PermissionDenied, "county skips its city");

    // The admin API over mTLS: an operator certificate of another node is refused, this node's is served.
    let admin_status = |id: &TlsIdentity| -> Code {
        r.block_on(async {
            let ch = mtls_channel(changsha, id, &ca, "430100").await.unwrap();
            match apb::admin_client::AdminClient::new(ch).status(apb::StatusRequest {}).await {
                Ok(_) => Code::Ok,
                Err(s) => s.code(),
            }
        })
    };
    assert_eq!(
        admin_status(&issued(&fed.ca, Role::Operator, "430104")),
        Code::PermissionDenied,
        "operator of another node"
    );
    assert_eq!(admin_status(&county), Code::PermissionDenied, "a node certificate is not an operator");
    let op = fed.issue(Role::Operator, "430100").unwrap();
    let op_id = TlsIdentity::from_issued(&op).unwrap();
    assert_eq!(admin_status(&op_id), Code::PermissionDenied, "this node's operator, not registered");
    fed.register_operator(&op, false, false).unwrap();
    assert_eq!(admin_status(&op_id), Code::Ok, "this node's registered operator");

    // A revoked node: once the registry change reaches the city, 岳麓区 is refused.
    let p = fed.dir("430000");
    assert!(cli(&["registry", "revoke", "--data-dir", &p, "--code", "430104"]).status.success());
    // Version 2 registered the city's operator above.
    let out = cli(&["registry", "apply", "--data-dir", &p, "--version", "3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_registry(&fed, "430100", 3);
    let yuelu = identity_of(&fed.nodes["430104"].dir);
    assert!(at_tls(r.block_on(cursor_code(changsha, "430100", &yuelu, &ca, "430104"))), "revoked node (TLS layer)");

    // Nothing was stored for any refused caller (the empty logs of 430102 and 430104 are still empty at the
    // city and the province), and the city still serves its registered county.
    let held = fed.logs("430100");
    assert!(!held.contains_key("430111"), "{held:?}");
    assert_eq!(held.get("430104").map_or(0, |s| s.0), 0, "{held:?}");
    assert_eq!(held.get("430102").map_or(0, |s| s.0), 0, "{held:?}");
    let at_province = fed.logs("430000");
    assert_eq!(at_province.get("430102").map_or(0, |s| s.0), 0, "{at_province:?}");
    assert_eq!(r.block_on(cursor_code(changsha, "430100", &county, &ca, "430102")), Code::Ok);
    let log = std::fs::read_to_string(fed.nodes["430100"].dir.join("node.log")).unwrap();
    assert!(log.contains("refused"), "refusals are logged");
}

#[test]
fn forged_replayed_reordered_truncated_oversized_and_lying_batches() {
    let tmp = tempfile::tempdir().unwrap();
    // 芙蓉区 is registered but not started: the test speaks for it with its own key and certificate.
    let mut fed = Fed::create(tmp.path(), HUNAN6, 1).unwrap();
    fed.start("430000").unwrap();
    fed.register_all().unwrap();
    fed.start("430100").unwrap();
    wait_registry(&fed, "430100", 1);
    let dir = fed.nodes["430102"].dir.clone();
    let key = SigningKey::from_pkcs8_pem(&std::fs::read_to_string(dir.join("node.key")).unwrap()).unwrap();
    let city_key =
        PublicKey::from_spki_pem(&std::fs::read_to_string(fed.nodes["430100"].dir.join("node.pub.pem")).unwrap())
            .unwrap();
    let ca = CaCert::from(&fed.ca);
    let port = fed.nodes["430100"].port.unwrap();
    let id = identity_of(&dir);
    let r = rt();
    let mut c = r.block_on(sync_client(port, "430100", &id, &ca)).unwrap();
    let mut up = |start: u64, es: Vec<pb::Entry>, cp: pb::SignedNote| -> Result<pb::UploadReply, tonic::Status> {
        r.block_on(c.upload(pb::UploadRequest { origin: "430102".into(), start, entries: es, checkpoint: Some(cp) }))
            .map(|x| x.into_inner())
    };
    let all = signed_entries(&key, "430102", 0, 5, "a");
    let leaves: Vec<Vec<u8>> = all.iter().map(|e| e.leaf.clone()).collect();

    // A good batch [0,3): stored, flushed and cosigned by the city.
    let cp3 = signed_checkpoint(&key, "430102", &leaves[..3], "2026-11-30T00:00:03Z");
    let ok = up(0, all[..3].to_vec(), cp3.clone()).unwrap();
    assert_eq!(ok.size, 3);
    let cs = ok.cosignature.unwrap();
    assert_eq!(cs.cosigner, "430100");
    city_key.verify(&cosignature_statement("430100", &cs.time, &cp3.note), &cs.signature).unwrap();
    // Replayed: idempotent.
    assert_eq!(up(0, all[..3].to_vec(), cp3.clone()).unwrap().size, 3);

    let cp5 = signed_checkpoint(&key, "430102", &leaves, "2026-11-30T00:00:05Z");
    // A peer that lies about its cursor (starts beyond what the city holds).
    assert_eq!(up(4, all[4..].to_vec(), cp5.clone()).unwrap_err().code(), Code::FailedPrecondition);
    // Reordered.
    assert_eq!(up(3, vec![all[4].clone(), all[3].clone()], cp5.clone()).unwrap_err().code(), Code::InvalidArgument);
    // Truncated: the checkpoint covers more than the batch.
    assert_eq!(up(3, vec![all[3].clone()], cp5.clone()).unwrap_err().code(), Code::InvalidArgument);
    // Forged: an altered leaf keeps its old signature.
    let mut forged = all[3..].to_vec();
    forged[0].leaf =
        String::from_utf8(forged[0].leaf.clone()).unwrap().replace("kind license", "kind penalty").into_bytes();
    assert_eq!(up(3, forged, cp5.clone()).unwrap_err().code(), Code::InvalidArgument);
    // Altered payload.
    let mut altered = all[3..].to_vec();
    altered[1].payload = b"{\"kind\":\"test\",\"n\":999}".to_vec();
    assert_eq!(up(3, altered, cp5.clone()).unwrap_err().code(), Code::InvalidArgument);
    // A checkpoint signed by somebody else.
    let mallory = SigningKey::generate();
    assert_eq!(
        up(3, all[3..].to_vec(), signed_checkpoint(&mallory, "430102", &leaves, "2026-11-30T00:00:05Z"))
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    // Oversized: more entries than a batch may hold, and a message above the decode limit.
    let many = signed_entries(&key, "430102", 3, 5_001, "m");
    let many_leaves: Vec<Vec<u8>> = leaves[..3].iter().cloned().chain(many.iter().map(|e| e.leaf.clone())).collect();
    assert_eq!(
        up(3, many, signed_checkpoint(&key, "430102", &many_leaves, "2026-11-30T00:00:06Z")).unwrap_err().code(),
        Code::ResourceExhausted
    );
    let mut huge = all[3..4].to_vec();
    huge[0].payload = vec![b' '; 65 << 20];
    let huge_code = up(3, huge, cp5.clone()).unwrap_err().code();
    assert!(
        matches!(huge_code, Code::OutOfRange | Code::ResourceExhausted | Code::Internal | Code::Unknown),
        "{huge_code:?}"
    );

    // Equivocation: a different, validly signed history of the same size. Kept as evidence, never stored.
    let other = signed_entries(&key, "430102", 0, 3, "b");
    let other_leaves: Vec<Vec<u8>> = other.iter().map(|e| e.leaf.clone()).collect();
    let mut c2 = r.block_on(sync_client(port, "430100", &id, &ca)).unwrap();
    let eq = r
        .block_on(c2.upload(pb::UploadRequest {
            origin: "430102".into(),
            start: 0,
            entries: other.clone(),
            checkpoint: Some(signed_checkpoint(&key, "430102", &other_leaves, "2026-11-30T00:00:07Z")),
        }))
        .unwrap_err();
    assert_eq!(eq.code(), Code::Aborted, "{eq:?}");
    let peers: serde_json::Value =
        serde_json::from_slice(&cli(&["peer", "list", "--data-dir", &fed.dir("430100"), "-o", "json"]).stdout).unwrap();
    assert!(peers["evidence"].as_u64().unwrap() >= 1, "evidence kept: {peers}");

    // Nothing half-written: the mirror is exactly the good batch, and the good continuation is still accepted.
    assert_eq!(fed.logs("430100").get("430102").map(|s| s.0), Some(3));
    assert_eq!(
        r.block_on(c2.upload(pb::UploadRequest {
            origin: "430102".into(),
            start: 3,
            entries: all[3..].to_vec(),
            checkpoint: Some(cp5)
        }))
        .unwrap()
        .into_inner()
        .size,
        5
    );
    drop(fed.nodes.remove("430000"));
}
