//! Issue → read back, and verification against the CA as the TLS stack does it.
use crate::{code, issue, new_ca};
use gongxin_certs::tls::{verify_client_cert, verify_server_cert, CaCert, TlsIdentity};
use gongxin_certs::{inspect, parse_identity, CertError, CertKind, IssueOptions, Role};
use rustls::CertificateError as CE;
use std::time::SystemTime;
use time::{Duration, OffsetDateTime};

/// SHA-256 through OpenSSL, an implementation independent of the crate under test.
fn openssl_sha256(b: &[u8]) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-r"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run openssl");
    child.stdin.take().expect("stdin").write_all(b).expect("write");
    let out = child.wait_with_output().expect("openssl output");
    String::from_utf8(out.stdout).expect("utf8").split_whitespace().next().expect("digest").to_string()
}

#[test]
fn issue_then_read_back_every_role() {
    let ca = new_ca("Test Federation CA");
    let before = OffsetDateTime::now_utc();
    let cases = [
        (Role::Node, "430102", Some("芙蓉区"), "430102 芙蓉区", 730),
        (Role::Node, "430100", None, "430100", 730),
        (Role::Operator, "430102", Some("张三"), "张三", 365),
        (Role::Auditor, "430000", Some("李四"), "李四", 365),
    ];
    for (role, c, name, cn, days) in cases {
        let issued = issue(&ca, role, c, name);
        let der = issued.cert_der.as_ref();
        let id = parse_identity(der).expect("parse identity");
        assert_eq!((id.role, id.code.as_str(), id.name.as_str()), (role, c, cn));
        let expect_after = before + Duration::days(days);
        assert!((id.not_after - expect_after).abs() < Duration::minutes(2), "{role}: not_after {}", id.not_after);
        assert!(id.not_before < before, "backdated start");
        assert_eq!(id.serial.len(), 32, "16-byte serial: {}", id.serial);
        assert_eq!(id.fingerprint, openssl_sha256(der));
        assert_eq!(issued.identity().expect("identity"), id);

        let info = inspect(der).expect("inspect");
        assert_eq!(info.kind, CertKind::Gongxin(role));
        assert!(info.subject.contains(&format!("CN={cn}")), "{}", info.subject);
        assert!(info.subject.contains(&format!("OU={role}")), "{}", info.subject);
        assert!(info.issuer.contains("CN=Test Federation CA"), "{}", info.issuer);
        assert_eq!(info.days_to_expiry(OffsetDateTime::now_utc()), days - 1);
        let want_dns: Vec<String> = if role == Role::Node { vec![format!("n{c}.gongxin.internal")] } else { vec![] };
        assert_eq!(info.dns_names, want_dns);

        // The same certificate is understood by OpenSSL: URIs, EKU and the issuer signature.
        let text = openssl_text(&issued.cert_pem);
        assert!(text.contains(&format!("URI:urn:gongxin:node:{c}")), "{text}");
        assert!(text.contains(&format!("URI:urn:gongxin:role:{role}")), "{text}");
        assert_eq!(text.contains("TLS Web Server Authentication"), role == Role::Node, "{text}");
        assert!(text.contains("TLS Web Client Authentication"), "{text}");
        assert!(openssl_verify(ca.cert_pem(), &issued.cert_pem), "openssl verify {role} {c}");
    }

    let ca_info = ca.info().expect("CA info");
    assert_eq!(ca_info.kind, CertKind::Ca);
    assert_eq!(ca_info.code, None);
    assert!(matches!(parse_identity(ca.cert_der()), Err(CertError::NotGongxin(_))));
}

fn openssl_text(pem: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("c.pem");
    std::fs::write(&p, pem).expect("write");
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&p)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn openssl_verify(ca_pem: &str, cert_pem: &str) -> bool {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ca.pem"), ca_pem).expect("write");
    std::fs::write(dir.path().join("c.pem"), cert_pem).expect("write");
    std::process::Command::new("openssl")
        .args(["verify", "-CAfile", "ca.pem", "c.pem"])
        .current_dir(dir.path())
        .output()
        .expect("run openssl")
        .status
        .success()
}

/// The webpki reason of a rejection.
fn reason(e: &CertError) -> &CE {
    match e {
        CertError::Rejected(rustls::Error::InvalidCertificate(ce)) => ce,
        other => panic!("expected a certificate rejection, got {other}"),
    }
}

#[test]
fn verifier_accepts_own_ca_and_rejects_the_rest() {
    let ca = new_ca("Federation CA");
    let other = new_ca("Federation CA"); // same name, different key: must still be rejected
    let anchor = CaCert::from(&ca);
    let now = SystemTime::now();

    let node = issue(&ca, Role::Node, "430102", None);
    let id = verify_client_cert(&anchor, std::slice::from_ref(&node.cert_der), now).expect("own node cert as client");
    assert_eq!((id.role, id.code.as_str()), (Role::Node, "430102"));
    verify_server_cert(&anchor, std::slice::from_ref(&node.cert_der), &code("430102"), now)
        .expect("own node as server");

    let foreign = issue(&other, Role::Node, "430102", None);
    let e = verify_client_cert(&anchor, std::slice::from_ref(&foreign.cert_der), now).unwrap_err();
    assert!(matches!(reason(&e), CE::BadSignature), "same issuer name, other key: {e}");
    let stranger_ca = new_ca("Another Federation CA");
    let e = verify_client_cert(&anchor, &[issue(&stranger_ca, Role::Node, "430102", None).cert_der], now).unwrap_err();
    assert!(matches!(reason(&e), CE::UnknownIssuer), "{e}");
    assert!(verify_server_cert(&anchor, std::slice::from_ref(&foreign.cert_der), &code("430102"), now).is_err());

    // A node certificate only serves its own name.
    let e = verify_server_cert(&anchor, std::slice::from_ref(&node.cert_der), &code("430100"), now).unwrap_err();
    assert!(matches!(reason(&e), CE::NotValidForNameContext { .. }), "{e}");

    // An operator certificate is for clients only (no serverAuth extended key usage).
    let op = issue(&ca, Role::Operator, "430102", Some("张三"));
    verify_client_cert(&anchor, std::slice::from_ref(&op.cert_der), now).expect("operator as client");
    let e = verify_server_cert(&anchor, std::slice::from_ref(&op.cert_der), &code("430102"), now).unwrap_err();
    assert!(matches!(reason(&e), CE::InvalidPurposeContext { .. } | CE::NotValidForNameContext { .. }), "{e}");

    // Expired, and not yet valid.
    let expired = ca
        .issue(
            Role::Operator,
            &code("430102"),
            &IssueOptions {
                name: Some("王五".into()),
                days: Some(1),
                not_before: Some(OffsetDateTime::now_utc() - Duration::days(10)),
            },
        )
        .expect("issue expired");
    let e = verify_client_cert(&anchor, std::slice::from_ref(&expired.cert_der), now).unwrap_err();
    assert!(matches!(reason(&e), CE::ExpiredContext { .. }), "{e}");
    let later = now - std::time::Duration::from_secs(3 * 3600);
    let e = verify_client_cert(&anchor, std::slice::from_ref(&op.cert_der), later).unwrap_err();
    assert!(matches!(reason(&e), CE::NotValidYetContext { .. }), "{e}");

    // A self-signed stranger is no Gongxin identity either way.
    let stranger = rcgen::generate_simple_self_signed(vec!["n430102.gongxin.internal".to_string()]).expect("rcgen");
    assert!(verify_client_cert(&anchor, &[stranger.cert.der().clone()], now).is_err());
    assert!(matches!(parse_identity(stranger.cert.der()), Err(CertError::NotGongxin(_))));
}

#[test]
fn bad_issue_requests_are_refused_with_a_reason() {
    let ca = new_ca("CA");
    let c = code("430102");
    let e = ca.issue(Role::Operator, &c, &IssueOptions::default()).unwrap_err();
    assert!(matches!(e, CertError::InvalidName { .. }), "{e}");
    let e = ca.issue(Role::Auditor, &c, &IssueOptions { name: Some("  ".into()), ..Default::default() }).unwrap_err();
    assert!(matches!(e, CertError::InvalidName { .. }), "{e}");
    let e = ca.issue(Role::Node, &c, &IssueOptions { days: Some(0), ..Default::default() }).unwrap_err();
    assert!(matches!(e, CertError::Validity(_)), "{e}");
    let e = ca.issue(Role::Node, &c, &IssueOptions { days: Some(3651), ..Default::default() }).unwrap_err();
    assert!(e.to_string().contains("outlive the CA") && e.to_string().contains("use at most 36"), "{e}");
    let e =
        ca.issue(Role::Operator, &c, &IssueOptions { name: Some("a\u{7}b".into()), ..Default::default() }).unwrap_err();
    assert!(e.to_string().contains("control"), "{e}");
}

#[test]
fn tls_identity_requires_the_matching_key() {
    let ca = new_ca("CA");
    let a = issue(&ca, Role::Node, "430102", None);
    let b = issue(&ca, Role::Node, "430104", None);
    let id = TlsIdentity::from_issued(&a).expect("matching pair");
    assert_eq!(id.identity().code.as_str(), "430102");
    let e = TlsIdentity::from_pem(a.cert_pem.as_bytes(), b.key_pem.as_bytes(), "a.pem", "b.key").unwrap_err();
    assert!(matches!(e, CertError::KeyMismatch { .. }), "{e}");
    assert!(e.to_string().contains("a.pem / b.key"), "{e}");
    // A CA certificate is not an identity.
    let e = TlsIdentity::from_pem(ca.cert_pem().as_bytes(), a.key_pem.as_bytes(), "ca.pem", "a.key").unwrap_err();
    assert!(matches!(e, CertError::KeyMismatch { .. } | CertError::NotGongxin(_)), "{e}");
}
