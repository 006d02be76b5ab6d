//! Runs the independent hostile-peer suite (`tests/hostile/suite.py`: Python grpcio with stubs generated from
//! `proto/` at run time, and raw HTTP/2 with the `h2` package) against a real federation, and the load
//! measurement (`tests/hostile/measure.py`, `--ignored`, prints figures). Python's ssl module speaks only the
//! `ecdsa` profile, so these federations are `ecdsa` whatever `GONGXIN_TLS_PROFILE` says; the Rust tests in
//! `hostile_peers` cover both profiles.
//!
//! Needs `python3` with `grpcio`, `grpcio-tools` and `h2` (`.ci/run` installs them).

use gongxin_certs::{Algorithm, IssueOptions, NodeCode, Role};
use gongxin_tests::fed::{Fed, HUNAN6};
use gongxin_tests::{text, workspace_root};
use std::path::Path;
use std::process::Command;

/// Brings up the federation, stops 长沙's county 芙蓉区 (so its certificate is used by the suite alone), writes
/// the certificates of each role and `fed.json`, and returns the federation and the file's path.
fn hostile_fed(root: &Path) -> (Fed, std::path::PathBuf) {
    let mut fed = Fed::up_with(root, HUNAN6, Algorithm::EcdsaP256).unwrap();
    fed.stop("430102").unwrap();
    let certs = root.join("hostile-certs");
    std::fs::create_dir_all(&certs).unwrap();
    let write = |name: &str, cert: &str, key: &str| -> serde_json::Value {
        let (c, k) = (certs.join(format!("{name}.pem")), certs.join(format!("{name}.key")));
        std::fs::write(&c, cert).unwrap();
        std::fs::write(&k, key).unwrap();
        serde_json::json!([c, k])
    };
    let issue = |name: &str, role: Role, code: &str| {
        let opts = IssueOptions { name: Some("测试".into()), ..Default::default() };
        let i = fed.ca.issue(role, &NodeCode::parse(code).unwrap(), &opts).unwrap();
        write(name, &i.cert_pem, &i.key_pem)
    };
    // Registered operators (item 10): the province's, without the registry-operator role; one of the city's,
    // registered and then revoked.
    let registered = |name: &str, code: &str, revoke: bool| {
        let i = fed.issue(Role::Operator, code).unwrap();
        fed.register_operator(&i, false, false).unwrap();
        if revoke {
            fed.register_operator(&i, false, true).unwrap();
        }
        write(name, &i.cert_pem, &i.key_pem)
    };
    let province_operator = registered("province_operator", "430000", false);
    let revoked_operator = registered("revoked_operator", "430100", true);
    let county_dir = &fed.nodes["430102"].dir;
    let county = write(
        "county",
        &std::fs::read_to_string(county_dir.join("tls/node.pem")).unwrap(),
        &std::fs::read_to_string(county_dir.join("tls/node.key")).unwrap(),
    );
    let yuelu_dir = &fed.nodes["430104"].dir;
    let county2 = write(
        "county2",
        &std::fs::read_to_string(yuelu_dir.join("tls/node.pem")).unwrap(),
        &std::fs::read_to_string(yuelu_dir.join("tls/node.key")).unwrap(),
    );
    let ca = certs.join("ca.pem");
    std::fs::write(&ca, fed.ca.cert_pem()).unwrap();
    let node = |code: &str| {
        let n = &fed.nodes[code];
        serde_json::json!({ "code": code, "port": n.port, "pid": n.proc.as_ref().and_then(|p| p.pid()), "dir": n.dir })
    };
    let desc = serde_json::json!({
        "proto_dir": workspace_root().join("proto/proto"),
        "out": root,
        "ca": ca,
        "city": node("430100"),
        "province": node("430000"),
        "certs": {
            "county": county,
            "county2": county2,
            "operator": issue("operator", Role::Operator, "430100"),
            "province_operator": province_operator,
            "revoked_operator": revoked_operator,
            "auditor": issue("auditor", Role::Auditor, "430000"),
            "stranger": issue("stranger", Role::Node, "430111"),
            "twin": issue("twin", Role::Node, "430102"),
        },
    });
    let path = root.join("fed.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&desc).unwrap()).unwrap();
    (fed, path)
}

fn python(script: &str, fed_json: &Path) -> std::process::Output {
    let dir = workspace_root().join("tests/hostile");
    let check = Command::new("python3").args(["-c", "import grpc, grpc_tools, h2"]).output();
    match check {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "python3 with grpcio, grpcio-tools and h2 is needed: pip install grpcio grpcio-tools h2 (as .ci/run does)"
        ),
    }
    Command::new("python3").arg(dir.join(script)).arg(fed_json).current_dir(&dir).output().unwrap()
}

#[test]
fn the_independent_hostile_peer_suite_is_refused_and_the_node_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let (fed, desc) = hostile_fed(tmp.path());
    let out = python("suite.py", &desc);
    let stdout = text(&out.stdout);
    println!("{stdout}\n{}", text(&out.stderr));
    assert!(out.status.success(), "hostile suite failed:\n{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("all 9 cases passed"), "{stdout}");
    // The city logged each refusal naming the rule.
    let log = std::fs::read_to_string(fed.nodes["430100"].dir.join("node.log")).unwrap();
    for rule in
        ["tls_handshake", "handshake_timeout", "first_request_timeout", "max_per_certificate", "uploads_per_peer"]
    {
        assert!(log.contains(rule), "no refusal logged for {rule}");
    }
    // And the federation still works end to end: the province serves the city.
    let v = fed.peers("430000");
    assert!(v["children"].as_array().is_some_and(|c| c.iter().any(|c| c["code"] == "430100")), "{v}");
}

/// Figures, not a pass/fail test: RSS of the city under 50 hostile upload streams and the latency of a
/// registered child's calls meanwhile, and what happens to many idle connections. Run with
/// `cargo test -p gongxin-tests --test it hostile_suite::measure -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure() {
    let tmp = tempfile::tempdir().unwrap();
    let (_fed, desc) = hostile_fed(tmp.path());
    let out = python("measure.py", &desc);
    println!("{}\n{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success());
}
