//! SM2 certificates: issued by an SM2 federation CA, read back by our parser, and read and verified by
//! OpenSSL 3 (an implementation we did not write).
use crate::{code, new_ca};
use gongxin_certs::{parse_identity, Algorithm, Ca, CaOptions, CertError, IssueOptions, IssuedCert, Role};
use std::path::Path;
use std::process::Command;

pub fn new_sm2_ca(name: &str) -> Ca {
    Ca::create_with(&CaOptions { name: name.into(), days: 3650 }, Algorithm::Sm2).expect("create SM2 CA")
}

pub fn issue_sm2(ca: &Ca, role: Role, c: &str, name: Option<&str>) -> IssuedCert {
    ca.issue(role, &code(c), &IssueOptions { name: name.map(str::to_string), ..Default::default() }).expect("issue")
}

fn openssl(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// OpenSSL 3.0 verifies SM2 signatures with an empty ID unless told `distid`; ours use 1234567812345678.
const DISTID: &str = "distid:1234567812345678";

#[test]
fn sm2_certificates_are_read_and_verified_by_openssl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let ca = new_sm2_ca("Gongxin SM2 CA");
    assert_eq!(ca.algorithm(), Algorithm::Sm2);
    ca.save(dir.join("ca"), false).expect("save CA");

    let (ok, text) = openssl(&["x509", "-in", "ca/ca.pem", "-noout", "-text"], dir);
    assert!(ok, "{text}");
    assert!(text.contains("Signature Algorithm: SM2-with-SM3"), "{text}");
    assert!(text.contains("ASN1 OID: SM2"), "{text}");
    assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
    // The self-signature of the CA verifies too. `openssl verify -check_ss_sig` of OpenSSL 3.0 ignores
    // `-vfyopt distid:` for the self-signature (it fails with the empty ID), so check the signed bytes with
    // pkeyutl, where the ID can be given.
    let (_, parsed) = x509_parser::parse_x509_certificate(ca.cert_der()).expect("parse CA");
    std::fs::write(dir.join("tbs.der"), parsed.tbs_certificate.as_ref()).expect("write tbs");
    std::fs::write(dir.join("sig.der"), parsed.signature_value.data.as_ref()).expect("write sig");
    let (ok, text) = openssl(&["x509", "-in", "ca/ca.pem", "-noout", "-pubkey", "-out", "ca.pub"], dir);
    assert!(ok, "{text}");
    let (ok, text) = openssl(
        &["pkeyutl", "-verify", "-pubin", "-inkey", "ca.pub", "-rawin", "-digest", "sm3", "-pkeyopt", DISTID]
            .into_iter()
            .chain(["-in", "tbs.der", "-sigfile", "sig.der"])
            .collect::<Vec<_>>(),
        dir,
    );
    assert!(ok && text.contains("Signature Verified Successfully"), "{text}");

    let cases = [
        (Role::Node, "430102", None, "TLS Web Server Authentication, TLS Web Client Authentication"),
        (Role::Operator, "430102", Some("张三"), "TLS Web Client Authentication"),
        (Role::Auditor, "430000", Some("李四"), "TLS Web Client Authentication"),
    ];
    for (role, c, name, eku) in cases {
        let cert = issue_sm2(&ca, role, c, name);
        let (pem, _key) = cert.save(dir, None, false).expect("save");
        let pem = pem.file_name().and_then(|n| n.to_str()).expect("name").to_string();

        let id = parse_identity(&cert.cert_der).expect("identity");
        assert_eq!((id.role, id.code.as_str()), (role, c));
        assert_eq!(Algorithm::of_cert(&cert.cert_der), Algorithm::Sm2);
        assert_eq!(gongxin_certs::inspect(&cert.cert_der).expect("inspect").algorithm, Algorithm::Sm2);

        let (ok, text) = openssl(&["x509", "-in", &pem, "-noout", "-text"], dir);
        assert!(ok, "{text}");
        assert!(text.contains("Signature Algorithm: SM2-with-SM3"), "{text}");
        assert!(text.contains(&format!("URI:urn:gongxin:node:{c}, URI:urn:gongxin:role:{role}")), "{text}");
        assert!(text.contains(eku), "{text}");
        assert!(text.contains("CA:FALSE"), "{text}");
        assert_eq!(text.contains("DNS:n430102.gongxin.internal"), role == Role::Node, "{text}");

        let (ok, text) = openssl(&["verify", "-vfyopt", DISTID, "-CAfile", "ca/ca.pem", &pem], dir);
        assert!(ok && text.contains(": OK"), "{role}: {text}");
        // With OpenSSL 3.0's default (empty) ID the signature does not verify: proof that it was made with
        // the standard ID and not an empty one.
        let (ok, text) = openssl(&["verify", "-CAfile", "ca/ca.pem", &pem], dir);
        assert!(!ok, "{role}: verified with an empty SM2 ID: {text}");
        // The private key file is an SM2 key OpenSSL reads, and it belongs to the certificate.
        let key = pem.replace(".pem", ".key");
        let (ok, k) = openssl(&["pkey", "-in", &key, "-pubout"], dir);
        assert!(ok, "{k}");
        let (ok, c) = openssl(&["x509", "-in", &pem, "-noout", "-pubkey"], dir);
        assert!(ok, "{c}");
        assert_eq!(k, c, "{role}: key and certificate differ");
    }
}

#[test]
fn sm2_ca_round_trips_through_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = new_sm2_ca("Round trip");
    ca.save(dir.path(), false).expect("save");
    let loaded = Ca::load(dir.path()).expect("load");
    assert_eq!(loaded.algorithm(), Algorithm::Sm2);
    assert_eq!(loaded.cert_der(), ca.cert_der());
    let node = issue_sm2(&loaded, Role::Node, "430100", Some("长沙市"));
    std::fs::write(dir.path().join("n.pem"), &node.cert_pem).expect("write");
    let (ok, text) = openssl(&["verify", "-vfyopt", DISTID, "-CAfile", "ca.pem", "n.pem"], dir.path());
    assert!(ok, "{text}");
    assert_eq!(parse_identity(&node.cert_der).expect("identity").name, "430100 长沙市");
}

#[test]
fn sm2_ca_refuses_a_foreign_key() {
    let sm2 = new_sm2_ca("A");
    let other_sm2 = new_sm2_ca("B");
    let ecdsa = new_ca("C");
    let dir = tempfile::tempdir().expect("tempdir");
    ecdsa.save(dir.path().join("e"), false).expect("save");
    other_sm2.save(dir.path().join("o"), false).expect("save");
    let ecdsa_key = std::fs::read(dir.path().join("e/ca.key")).expect("read");
    let other_key = std::fs::read(dir.path().join("o/ca.key")).expect("read");
    let e = Ca::from_pem(sm2.cert_pem().as_bytes(), &other_key, "test").unwrap_err();
    assert!(matches!(e, CertError::KeyMismatch { .. }), "{e}");
    let e = Ca::from_pem(sm2.cert_pem().as_bytes(), &ecdsa_key, "test").unwrap_err();
    assert!(e.to_string().contains("SM2"), "{e}");
}

#[test]
fn algorithm_names() {
    for a in Algorithm::ALL {
        assert_eq!(a.as_str().parse::<Algorithm>().expect("parse"), a);
    }
    assert!("rsa".parse::<Algorithm>().is_err());
    assert_eq!(Algorithm::of_cert(new_ca("E").cert_der()), Algorithm::EcdsaP256);
}
