//! The `sm2` TLS profile (RFC 8998) end to end, in the same `cargo test` run as the default `ecdsa` suite:
//! a federation of real node processes whose CA, certificates and every mTLS link are SM2, carrying the main
//! flows (county data to the province, the province's list down to every county, a clean audit, an evaluator
//! bundle that verifies, refusals); and a peer on the other profile refused, with a message naming the peer
//! and the profile rule on both ends. `GONGXIN_TLS_PROFILE=sm2` runs the rest of the suite on `sm2` as well.

use crate::federation::{import, publish_list_and_check_every_county};
use gongxin_certs::tls::{CaCert, TlsIdentity};
use gongxin_certs::{Algorithm, Ca, CaOptions, IssueOptions, NodeCode, Role};
use gongxin_core::audit::{Report, Status};
use gongxin_core::template::Kind;
use gongxin_proto::admin::v1 as apb;
use gongxin_proto::sync::v1 as pb;
use gongxin_tests::fed::{mtls_channel, Fed, HUNAN6};
use gongxin_tests::{cli, node_cmd, text};
use std::time::Duration;
use tonic::Code;

fn issued(ca: &Ca, role: Role, code: &str) -> TlsIdentity {
    let opts = IssueOptions { name: Some("测试".into()), ..Default::default() };
    TlsIdentity::from_issued(&ca.issue(role, &NodeCode::parse(code).unwrap(), &opts).unwrap()).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// The code of a sync `Cursor` call as `id` (the handler decides from `request_identity`).
fn cursor_code(port: u16, server: &str, id: &TlsIdentity, ca: &CaCert, origin: &str) -> Result<Code, String> {
    rt().block_on(async {
        let ch = mtls_channel(port, id, ca, server).await.map_err(|e| format!("{e:#}"))?;
        Ok(match pb::sync_client::SyncClient::new(ch).cursor(pb::CursorRequest { origin: origin.into() }).await {
            Ok(_) => Code::Ok,
            Err(s) => s.code(),
        })
    })
}

fn admin_code(port: u16, server: &str, id: &TlsIdentity, ca: &CaCert) -> Code {
    rt().block_on(async {
        let ch = mtls_channel(port, id, ca, server).await.unwrap();
        match apb::admin_client::AdminClient::new(ch).status(apb::StatusRequest {}).await {
            Ok(_) => Code::Ok,
            Err(s) => s.code(),
        }
    })
}

#[test]
fn sm2_federation_carries_the_main_flows() {
    let tmp = tempfile::tempdir().unwrap();
    let fed = Fed::up_with(tmp.path(), HUNAN6, Algorithm::Sm2).unwrap();
    assert_eq!(fed.ca.algorithm(), Algorithm::Sm2);
    for n in fed.nodes.values() {
        let cfg = std::fs::read_to_string(n.dir.join("gongxin.toml")).unwrap();
        assert!(cfg.contains("tls_profile = \"sm2\""), "{cfg}");
    }

    // County data reaches the city and the province over SM2 links.
    let a = import(&fed, "430102", Kind::License, 1, 40);
    let b = import(&fed, "430321", Kind::Penalty, 2, 25);
    fed.wait_until("the province to mirror both counties", Duration::from_secs(90), |f| {
        let l = f.logs("430000");
        l.get("430102").map(|s| s.0) == Some(a) && l.get("430321").map(|s| s.0) == Some(b)
    })
    .unwrap();
    assert_eq!(fed.logs("430100").get("430102").map(|s| s.0), Some(a));

    // A province list entry goes down to every county.
    publish_list_and_check_every_county(&fed);

    // The audit over the SM2-carried mirrors is clean.
    fed.wait_province_has_every_checkpoint(Duration::from_secs(60)).unwrap();
    let out = cli(&["audit", "run", "--data-dir", &fed.dir("430000"), "-o", "json"]);
    let report: Report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{report:?}");
    assert_eq!(report.origins.len(), 7);
    assert!(report.origins.iter().all(|o| o.status == Status::Ok), "{report:?}");

    // The evaluator bundle verifies offline.
    let bundle = tmp.path().join("bundle");
    let bs = bundle.to_str().unwrap();
    let out = cli(&["export-bundle", "--data-dir", &fed.dir("430000"), "--out", bs, "--all"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let anchor = fed.nodes["430000"].dir.join("node.pub.pem");
    let out = cli(&["verify-bundle", bs, "--anchor", anchor.to_str().unwrap(), "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));

    // request_identity over the sm2 listener: the registered county is served, the city's operator reaches
    // the admin API, a county of another city and an operator of another node are refused per RPC.
    let ca = CaCert::from(&fed.ca);
    let changsha = fed.nodes["430100"].port.unwrap();
    let county_dir = &fed.nodes["430102"].dir;
    let county = TlsIdentity::load(county_dir.join("tls/node.pem"), county_dir.join("tls/node.key")).unwrap();
    assert_eq!(cursor_code(changsha, "430100", &county, &ca, "430102"), Ok(Code::Ok));
    let x = &fed.nodes["430302"].dir;
    let xiangtan_county = TlsIdentity::load(x.join("tls/node.pem"), x.join("tls/node.key")).unwrap();
    assert_eq!(cursor_code(changsha, "430100", &xiangtan_county, &ca, "430302"), Ok(Code::PermissionDenied));
    let op = fed.issue(Role::Operator, "430100").unwrap();
    fed.register_operator(&op, false, false).unwrap();
    assert_eq!(admin_code(changsha, "430100", &TlsIdentity::from_issued(&op).unwrap(), &ca), Code::Ok);
    assert_eq!(admin_code(changsha, "430100", &issued(&fed.ca, Role::Operator, "430102"), &ca), Code::PermissionDenied);

    // Refusals at the TLS layer: an SM2 certificate of another CA, and a client on the ecdsa profile.
    let stranger_ca = Ca::create_with(&CaOptions::default(), Algorithm::Sm2).unwrap();
    let stranger = issued(&stranger_ca, Role::Node, "430102");
    let r = cursor_code(changsha, "430100", &stranger, &CaCert::from(&stranger_ca), "430102");
    assert!(r.is_err() || r == Ok(Code::Unavailable), "a certificate of another SM2 CA is served: {r:?}");
    let ecdsa_ca = Ca::create_with(&CaOptions::default(), Algorithm::EcdsaP256).unwrap();
    let ecdsa = issued(&ecdsa_ca, Role::Node, "430102");
    let e = cursor_code(changsha, "430100", &ecdsa, &CaCert::from(&ecdsa_ca), "430102").unwrap_err();
    assert!(e.contains("tls_profile") && e.contains("430100"), "{e}");
    let city_log = text(&std::fs::read(fed.nodes["430100"].dir.join("node.log")).unwrap());
    assert!(city_log.contains("TLS handshake refused"), "{city_log}");
}

#[test]
fn a_peer_on_the_other_profile_is_refused_with_a_message_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let topo = &HUNAN6[..4]; // province, 长沙市, 湘潭市, 芙蓉区
    let mut fed = Fed::create_with(tmp.path(), topo, 1, Algorithm::Sm2).unwrap();
    fed.start("430000").unwrap();
    fed.register_all().unwrap();
    fed.start("430100").unwrap();
    fed.wait_until("430100 to receive the registry", Duration::from_secs(60), |f| {
        f.peers("430100")["registry_version"].as_u64().unwrap_or(0) >= 1
    })
    .unwrap();
    let dir = fed.dir("430102");
    let check = |fed: &Fed| {
        fed.write_config("430102").unwrap();
        node_cmd(&["config", "check", "--data-dir", &dir])
    };

    // An unknown profile and a profile that is not the CA's are refused by `config check` (exit 78).
    fed.write_config("430102").unwrap();
    let cfg = std::fs::read_to_string(fed.nodes["430102"].dir.join("gongxin.toml")).unwrap();
    std::fs::write(
        fed.nodes["430102"].dir.join("gongxin.toml"),
        cfg.replace("tls_profile = \"sm2\"", "tls_profile = \"gm\""),
    )
    .unwrap();
    let out = node_cmd(&["config", "check", "--data-dir", &dir]);
    assert_eq!(out.status.code(), Some(78));
    let e = text(&out.stderr);
    assert!(e.contains("federation.tls_profile") && e.contains("\"sm2\"") && e.contains("只能是"), "{e}");
    fed.nodes.get_mut("430102").unwrap().tls_profile = Algorithm::EcdsaP256;
    let out = check(&fed);
    assert_eq!(out.status.code(), Some(78));
    let e = text(&out.stderr);
    assert!(e.starts_with("错误") && e.contains("联邦 CA 证书") && e.contains("tls_profile = \"sm2\""), "{e}");

    // 芙蓉区 set up on the ecdsa profile (its own ecdsa CA and certificate, consistently configured) joins the
    // sm2 federation: its config is valid, but the link to 长沙市 is refused at the handshake.
    let ecdsa_ca = Ca::create_with(&CaOptions::default(), Algorithm::EcdsaP256).unwrap();
    let n = &fed.nodes["430102"];
    ecdsa_ca
        .issue(Role::Node, &NodeCode::parse("430102").unwrap(), &IssueOptions::default())
        .unwrap()
        .save(&n.dir.join("tls"), Some("node"), true)
        .unwrap();
    std::fs::write(n.dir.join("anchor/ca.pem"), ecdsa_ca.cert_pem()).unwrap();
    let out = check(&fed);
    assert!(out.status.success(), "{}", text(&out.stderr));
    fed.start("430102").unwrap();
    fed.wait_until("芙蓉区 to report the refused link to its parent", Duration::from_secs(60), |f| {
        let p = &f.peers("430102")["parent"];
        p["state"] == "backoff"
            && p["last_error"].as_str().is_some_and(|e| {
                e.contains("connect to parent 430100") && e.contains("tls_profile = sm2") && e.contains("不一致")
            })
    })
    .unwrap();
    let county_log = text(&std::fs::read(fed.nodes["430102"].dir.join("node.log")).unwrap());
    assert!(county_log.contains("uplink failed") && county_log.contains("tls_profile"), "{county_log}");
    fed.wait_until("长沙市 to log the refused handshake", Duration::from_secs(30), |f| {
        let log = text(&std::fs::read(f.nodes["430100"].dir.join("node.log")).unwrap_or_default());
        log.contains("TLS handshake refused") && log.contains("tls_profile = ecdsa")
    })
    .unwrap();
    // Nothing of the county reached the city.
    assert!(fed.logs("430100").get("430102").is_none());
}
