//! The operator view over HTTPS (issue 13): `[http] operator_listen` serves the same pages over mutual TLS with
//! the node's federation identity; only operator certificates of that node get through the handshake, and they
//! see the query page unmasked, while the loopback page stays the public view. Real nodes, a real TLS client
//! built from the same certs functions (either profile).

use crate::web::{get, list_json};
use gongxin_certs::tls::{CaCert, TlsIdentity};
use gongxin_certs::{IssuedCert, NodeCode, Role};
use gongxin_core::testdata;
use gongxin_tests::fed::Fed;
use gongxin_tests::{cli, eventually, text};
use std::time::Duration;

const TOPO3: &[(&str, Option<&str>)] = &[("430000", None), ("430100", Some("430000")), ("430102", Some("430100"))];
const CITY: &str = "430100";

/// One GET over mutual TLS (HTTP/2, as a tonic channel speaks it) to the node `server` on loopback `port`,
/// presenting `id`: (status, body), or the error when the server refused the certificate.
async fn https_get(
    port: u16,
    id: &TlsIdentity,
    ca: &CaCert,
    server: &str,
    path: &str,
) -> Result<(u16, String), String> {
    use tonic::codegen::{Body as _, Service as _};
    let cfg = gongxin_certs::tls::rustls_client_config(id, ca).map_err(|e| e.to_string())?;
    let code = NodeCode::parse(server).map_err(|e| e.to_string())?;
    let mut ch =
        gongxin_certs::tls::connect(&format!("127.0.0.1:{port}"), cfg, &code).await.map_err(|e| e.to_string())?;
    let req = tonic::codegen::http::Request::builder()
        .method("GET")
        .uri(format!("http://{}{path}", code.dns_name()))
        .body(tonic::body::Body::empty())
        .map_err(|e| e.to_string())?;
    std::future::poll_fn(|cx| ch.poll_ready(cx)).await.map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(Duration::from_secs(30), ch.call(req))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| format!("{e:?}"))?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Ok(data) = frame.into_data() {
            bytes.extend_from_slice(&data);
        }
    }
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

fn issue(fed: &Fed, role: Role, code: &str) -> IssuedCert {
    fed.issue(role, code).unwrap()
}

fn identity(fed: &Fed, role: Role, code: &str) -> TlsIdentity {
    TlsIdentity::from_issued(&issue(fed, role, code)).unwrap()
}

#[test]
fn the_operator_view_is_served_over_https_to_operator_certificates_of_the_node_only() {
    let tmp = tempfile::tempdir().unwrap();
    let mut fed = Fed::up(tmp.path(), TOPO3).unwrap();
    // The city gets an operator port (any address may be configured; tests bind loopback only).
    let dir = fed.nodes[CITY].dir.clone();
    let config = std::fs::read_to_string(dir.join("gongxin.toml")).unwrap();
    let op = "# operator_listen = \"0.0.0.0:7443\"";
    assert!(config.contains(op), "the init template documents operator_listen");
    fed.adopt_config(CITY, &config.replace(op, "operator_listen = \"127.0.0.1:0\"")).unwrap();
    fed.stop(CITY).unwrap();
    fed.start(CITY).unwrap();
    eventually("the city to write https.addr", Duration::from_secs(30), || dir.join("https.addr").exists()).unwrap();
    let addr: std::net::SocketAddr = std::fs::read_to_string(dir.join("https.addr")).unwrap().trim().parse().unwrap();

    // A list entry at the county whose legal representative is a natural person with an ID number.
    let uscc = testdata::make_uscc('9', '1', "430102", "MA4PQR01");
    let id_no = testdata::make_id("430102", 1980, 5, 6, 77);
    let file = tmp.path().join("list.json");
    std::fs::write(&file, list_json(&uscc)).unwrap();
    let out = cli(&["record", "add", "--data-dir", &fed.dir("430102"), file.to_str().unwrap(), "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let query = format!("/query?code={uscc}");
    eventually("the city to hold the county's entry", Duration::from_secs(60), || {
        get(&fed, CITY, &query).1.contains("长沙网页测试劳务有限公司")
    })
    .unwrap();
    // Loopback HTTP: the public view, the ID number masked.
    let (st, public) = get(&fed, CITY, &query);
    assert_eq!(st, 200);
    assert!(public.contains("公众视图") && !public.contains(&id_no), "{public}");

    let ca = CaCert::from(&fed.ca);
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The city's operator: refused until registered, then the unmasked operator view.
    let issued = issue(&fed, Role::Operator, CITY);
    let operator = TlsIdentity::from_issued(&issued).unwrap();
    let r = rt.block_on(https_get(addr.port(), &operator, &ca, CITY, &query));
    assert!(r.is_err(), "an unregistered operator certificate got an answer: {r:?}");
    fed.register_operator(&issued, false, false).unwrap();
    let (st, page) = rt.block_on(https_get(addr.port(), &operator, &ca, CITY, &query)).unwrap();
    assert_eq!(st, 200, "{page}");
    assert!(page.contains("运维视图") && page.contains(&id_no), "{page}");
    let (st, status) = rt.block_on(https_get(addr.port(), &operator, &ca, CITY, "/")).unwrap();
    assert!(st == 200 && status.contains("节点状态"), "{status}");

    // Everyone else is refused in the handshake: another node's operator, the city's own node certificate, a
    // business system and an auditor of the city.
    for (role, code) in
        [(Role::Operator, "430102"), (Role::Node, CITY), (Role::BusinessSystem, CITY), (Role::Auditor, "430000")]
    {
        let id = identity(&fed, role, code);
        let r = rt.block_on(https_get(addr.port(), &id, &ca, CITY, &query));
        assert!(r.is_err(), "{role:?} of {code} got an answer: {r:?}");
    }
    let log = std::fs::read_to_string(dir.join("node.log")).unwrap_or_default();
    assert!(log.contains("accept operator certificates of 430100 only"), "the refusal is logged");
    assert!(log.contains("is not registered"), "the unregistered operator's refusal is logged");

    // Revoked before it expires: refused from then on.
    fed.register_operator(&issued, false, true).unwrap();
    let r = rt.block_on(https_get(addr.port(), &operator, &ca, CITY, &query));
    assert!(r.is_err(), "a revoked operator certificate got an answer: {r:?}");
}

#[test]
fn remote_admin_needs_a_registered_operator_and_registry_changes_a_registry_operator() {
    use gongxin_proto::admin::v1 as apb;
    use tonic::Code;
    let tmp = tempfile::tempdir().unwrap();
    let fed = Fed::up(tmp.path(), TOPO3).unwrap();
    let ca = CaCert::from(&fed.ca);
    let port = fed.nodes["430000"].port.unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let call = |id: &TlsIdentity, discard: bool| -> Code {
        rt.block_on(async {
            let ch = gongxin_tests::fed::mtls_channel(port, id, &ca, "430000").await.unwrap();
            let mut c = apb::admin_client::AdminClient::new(ch);
            let r = if discard {
                c.registry_discard(apb::RegistryRequest {}).await.map(|_| ())
            } else {
                c.registry_show(apb::RegistryRequest {}).await.map(|_| ())
            };
            r.map_or_else(|s| s.code(), |()| Code::Ok)
        })
    };
    let plain = issue(&fed, Role::Operator, "430000");
    let plain_id = TlsIdentity::from_issued(&plain).unwrap();
    assert_eq!(call(&plain_id, false), Code::PermissionDenied, "not registered");
    fed.register_operator(&plain, false, false).unwrap();
    assert_eq!(call(&plain_id, false), Code::Ok, "registered: reads the registry");
    assert_eq!(call(&plain_id, true), Code::PermissionDenied, "but changes it only as a registry operator");
    let registrar = issue(&fed, Role::Operator, "430000");
    fed.register_operator(&registrar, true, false).unwrap();
    assert_eq!(call(&TlsIdentity::from_issued(&registrar).unwrap(), true), Code::Ok, "a registry operator");
    // A city's operator cannot be made a registry operator.
    let city_op = issue(&fed, Role::Operator, CITY);
    let e = fed.register_operator(&city_op, true, false).unwrap_err().to_string();
    assert!(e.contains("registry operators"), "{e}");
    // Revoked: refused on every call.
    fed.register_operator(&plain, false, true).unwrap();
    assert_eq!(call(&plain_id, false), Code::PermissionDenied, "revoked");
}
