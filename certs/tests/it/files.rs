//! Files: modes, no overwrite without force, loading back, refusing bad key files.
use crate::{issue, new_ca};
use gongxin_certs::tls::{verify_client_cert, CaCert, TlsIdentity};
use gongxin_certs::{load_certs_pem, load_key_pem, Ca, CertError, IssuedCert, Role};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::SystemTime;

fn mode(p: &std::path::Path) -> u32 {
    fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn ca_save_load_and_issue_from_loaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_dir = dir.path().join("pki/ca");
    let ca = new_ca("Federation CA");
    let (cert_path, key_path) = ca.save(&ca_dir, false).expect("save CA");
    assert_eq!(mode(&key_path), 0o600);
    assert_eq!(mode(&cert_path), 0o644);
    assert_eq!(mode(&ca_dir), 0o700);
    assert_eq!(fs::read_to_string(&cert_path).expect("read"), ca.cert_pem());

    // Nothing is overwritten without force, and nothing is half-written.
    let original_key = fs::read(&key_path).expect("read key");
    let other = new_ca("Other CA");
    assert!(matches!(other.save(&ca_dir, false), Err(CertError::Exists { .. })));
    assert_eq!(fs::read(&key_path).expect("read key"), original_key);
    fs::remove_file(&cert_path).expect("remove cert");
    assert!(matches!(other.save(&ca_dir, false), Err(CertError::Exists { .. })), "key alone still blocks");
    assert!(!cert_path.exists(), "no certificate written next to the old key");
    ca.save(&ca_dir, true).expect("force rewrites");

    let loaded = Ca::load(&ca_dir).expect("load CA");
    assert_eq!(loaded.cert_der(), ca.cert_der());
    let anchor = CaCert::load(&cert_path).expect("load anchor");
    let node = issue(&loaded, Role::Node, "430102", None);
    verify_client_cert(&anchor, std::slice::from_ref(&node.cert_der), SystemTime::now())
        .expect("issued by the loaded CA");

    let (c, k) = node.save(&dir.path().join("out"), None, false).expect("save node");
    assert_eq!(c.file_name().and_then(|n| n.to_str()), Some("node-430102.pem"));
    assert_eq!(mode(&k), 0o600);
    assert!(matches!(node.save(&dir.path().join("out"), None, false), Err(CertError::Exists { .. })));
    assert_eq!(load_certs_pem(&c).expect("certs")[0], node.cert_der);
    load_key_pem(&k).expect("key");
    let id = TlsIdentity::load(&c, &k).expect("TLS identity from files");
    assert_eq!(id.identity().role, Role::Node);

    // Loose key permissions are refused with the fix in the message.
    fs::set_permissions(&k, fs::Permissions::from_mode(0o640)).expect("chmod");
    let e = TlsIdentity::load(&c, &k).unwrap_err();
    assert!(matches!(e, CertError::KeyPermissions { mode: 0o640, .. }), "{e}");
    assert!(e.to_string().contains("chmod 600"), "{e}");
    fs::set_permissions(&key_path, fs::Permissions::from_mode(0o604)).expect("chmod");
    assert!(matches!(Ca::load(&ca_dir), Err(CertError::KeyPermissions { .. })));
}

#[test]
fn ca_load_refuses_mismatched_or_non_ca_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = new_ca("A");
    let b = new_ca("B");
    a.save(dir.path().join("a"), false).expect("save a");
    b.save(dir.path().join("b"), false).expect("save b");
    fs::copy(dir.path().join("b/ca.key"), dir.path().join("a/ca.key")).expect("copy");
    let e = Ca::load(dir.path().join("a")).unwrap_err();
    assert!(matches!(e, CertError::KeyMismatch { .. }), "{e}");

    // A node certificate in place of ca.pem.
    let node: IssuedCert = issue(&b, Role::Node, "430102", None);
    fs::write(dir.path().join("b/ca.pem"), &node.cert_pem).expect("write");
    let e = Ca::load(dir.path().join("b")).unwrap_err();
    assert!(e.to_string().contains("not a CA certificate"), "{e}");
    assert!(CaCert::load(dir.path().join("b/ca.pem")).is_err());

    let e = Ca::load(dir.path().join("missing")).unwrap_err();
    assert!(matches!(e, CertError::Io { .. }) && e.to_string().contains("missing/ca.pem"), "{e}");
}

#[test]
fn bad_stems_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = issue(&new_ca("CA"), Role::Node, "430102", None);
    for stem in ["", "../x", "a/b", ".hidden"] {
        assert!(matches!(node.save(dir.path(), Some(stem), false), Err(CertError::InvalidName { .. })), "{stem:?}");
    }
    let (c, _) = node.save(dir.path(), Some("tls"), false).expect("custom stem");
    assert!(c.ends_with("tls.pem"));
}
