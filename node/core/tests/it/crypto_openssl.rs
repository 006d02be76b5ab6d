//! SM2 interoperability with real OpenSSL 3 processes (issue 2 item 5, issue 5 item 3): OpenSSL verifies node
//! signatures, the node verifies OpenSSL signatures, keys move both ways, and a wrong ID or one flipped bit fails
//! on both sides. Every verdict of the node is taken from both the crate's verifier and the fast `Verifier`.

use gongxin_core::crypto::{PublicKey, SigningKey, Verifier, DIST_ID};
use std::path::Path;
use std::process::Command;

fn openssl(args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl {args:?} (OpenSSL 3 must be on the PATH): {e}"))
}

fn distid(id: &str) -> String {
    format!("distid:{id}")
}

/// `openssl pkeyutl -verify` of `sig` over `msg` with the SPKI PEM at `pub_pem`; true when OpenSSL accepts.
fn openssl_verifies(dir: &Path, pub_pem: &Path, msg: &[u8], sig: &[u8], id: &str) -> bool {
    let m = dir.join("verify.msg");
    let s = dir.join("verify.sig");
    std::fs::write(&m, msg).unwrap();
    std::fs::write(&s, sig).unwrap();
    let out = openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        pub_pem.to_str().unwrap(),
        "-rawin",
        "-in",
        m.to_str().unwrap(),
        "-sigfile",
        s.to_str().unwrap(),
        "-digest",
        "sm3",
        "-pkeyopt",
        &distid(id),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        assert!(stdout.contains("Signature Verified Successfully"), "openssl said: {stdout}");
        true
    } else {
        false
    }
}

/// `openssl pkeyutl -sign` of `msg` with the PKCS#8 PEM at `key_pem`; returns the DER signature.
fn openssl_sign(dir: &Path, key_pem: &Path, msg: &[u8], id: &str) -> Vec<u8> {
    let m = dir.join("sign.msg");
    let s = dir.join("sign.sig");
    std::fs::write(&m, msg).unwrap();
    let out = openssl(&[
        "pkeyutl",
        "-sign",
        "-inkey",
        key_pem.to_str().unwrap(),
        "-rawin",
        "-in",
        m.to_str().unwrap(),
        "-digest",
        "sm3",
        "-pkeyopt",
        &distid(id),
        "-out",
        s.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "openssl pkeyutl -sign failed: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(&s).unwrap()
}

/// The node's verdict, asserting that the crate's verifier and the fast verifier (with and without the key
/// registered) agree.
fn node_verifies(key: &PublicKey, msg: &[u8], sig: &[u8]) -> bool {
    let plain = key.verify(msg, sig).is_ok();
    let registered = Verifier::new();
    registered.register(key);
    let fast_registered = registered.verify(key, msg, sig).is_ok();
    let fast_fallback = Verifier::new().verify(key, msg, sig).is_ok();
    assert_eq!(plain, fast_registered, "registered-signer path disagrees with the crate");
    assert_eq!(plain, fast_fallback, "fallback path disagrees with the crate");
    plain
}

fn flip(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v[bit / 8] ^= 1 << (bit % 8);
    v
}

#[test]
fn openssl_verifies_node_signatures_and_rejects_wrong_id_and_flipped_bits() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate();
    let public = key.public_key();
    let pub_pem = dir.path().join("pub.pem");
    std::fs::write(&pub_pem, public.to_spki_pem()).unwrap();

    // OpenSSL reads the node's PKCS#8 private key and derives the same SPKI public key.
    let key_pem = dir.path().join("key.pem");
    std::fs::write(&key_pem, key.to_pkcs8_pem()).unwrap();
    let out = openssl(&["pkey", "-in", key_pem.to_str().unwrap(), "-pubout"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), public.to_spki_pem());

    let msg = "行政处罚 430102 record header — signed by the node".as_bytes();
    let sig = key.sign(msg);
    assert!(openssl_verifies(dir.path(), &pub_pem, msg, &sig, DIST_ID), "OpenSSL rejects a node signature");
    assert!(node_verifies(&public, msg, &sig));

    // Wrong distinguishing ID: OpenSSL rejects.
    assert!(!openssl_verifies(dir.path(), &pub_pem, msg, &sig, "1234567812345679"));
    assert!(public.verify_with_id("1234567812345679", msg, &sig).is_err());

    // One flipped bit of the message, of r, of s: both sides reject.
    for bit in [0, 7, 100, msg.len() * 8 - 1] {
        let m = flip(msg, bit);
        assert!(!openssl_verifies(dir.path(), &pub_pem, &m, &sig, DIST_ID), "message bit {bit}");
        assert!(!node_verifies(&public, &m, &sig), "message bit {bit}");
    }
    // r's value starts after 30 len 02 len [00]; s's value is the last 32 bytes.
    let r_start = if sig[3] == 0x21 { 5 } else { 4 };
    for bit in [r_start * 8 + 3, (r_start + 31) * 8, (sig.len() - 32) * 8 + 1, sig.len() * 8 - 1] {
        let s = flip(&sig, bit);
        assert!(!openssl_verifies(dir.path(), &pub_pem, msg, &s, DIST_ID), "signature bit {bit}");
        assert!(!node_verifies(&public, msg, &s), "signature bit {bit}");
    }
    // Another key: both reject.
    let other = SigningKey::generate().public_key();
    let other_pem = dir.path().join("other.pem");
    std::fs::write(&other_pem, other.to_spki_pem()).unwrap();
    assert!(!openssl_verifies(dir.path(), &other_pem, msg, &sig, DIST_ID));
    assert!(!node_verifies(&other, msg, &sig));
}

#[test]
fn node_verifies_openssl_signatures_and_rejects_wrong_id_and_flipped_bits() {
    let dir = tempfile::tempdir().unwrap();
    let key_pem = dir.path().join("key.pem");
    let out = openssl(&["genpkey", "-algorithm", "SM2", "-out", key_pem.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = openssl(&["pkey", "-in", key_pem.to_str().unwrap(), "-pubout"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pub_pem = String::from_utf8(out.stdout).unwrap();
    let public = PublicKey::from_spki_pem(&pub_pem).expect("node reads OpenSSL's SPKI PEM");
    let signing = SigningKey::from_pkcs8_pem(&std::fs::read_to_string(&key_pem).unwrap())
        .expect("node reads OpenSSL's PKCS#8 PEM");
    assert_eq!(signing.public_key(), public);

    let verifier = Verifier::new();
    verifier.register(&public);
    for i in 0..8u32 {
        let msg = format!("checkpoint 430102 size {i}\n").repeat(i as usize + 1).into_bytes();
        let sig = openssl_sign(dir.path(), &key_pem, &msg, DIST_ID);
        assert!(node_verifies(&public, &msg, &sig), "node rejects OpenSSL signature {i}");
        verifier.verify(&public, &msg, &sig).unwrap();
        // One flipped bit of the message or of the signature value: rejected.
        assert!(!node_verifies(&public, &flip(&msg, i as usize * 9), &sig));
        assert!(!node_verifies(&public, &msg, &flip(&sig, sig.len() * 8 - 1 - i as usize * 17)));
    }
    // A signature OpenSSL made with another ID (or with its default empty ID) does not verify for the node's ID.
    let msg = b"made with another ID";
    let other_id = openssl_sign(dir.path(), &key_pem, msg, "ALICE123@YAHOO.COM");
    assert!(!node_verifies(&public, msg, &other_id));
    public.verify_with_id("ALICE123@YAHOO.COM", msg, &other_id).expect("right ID given explicitly");
    // And the node's own signature by this (OpenSSL-generated) key verifies in OpenSSL.
    let pub_path = dir.path().join("pub.pem");
    std::fs::write(&pub_path, &pub_pem).unwrap();
    let sig = signing.sign(msg);
    assert!(openssl_verifies(dir.path(), &pub_path, msg, &sig, DIST_ID));
    assert!(verifier.stats().table_verifications > 0);
}

/// A sample of random messages: the verdicts of OpenSSL, the crate and the fast verifier are equal on valid
/// signatures and on tampered ones (one bit of message, r or s).
#[test]
fn openssl_and_fast_verifier_agree_on_a_sample() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate();
    let public = key.public_key();
    let pub_pem = dir.path().join("pub.pem");
    std::fs::write(&pub_pem, public.to_spki_pem()).unwrap();
    let verifier = Verifier::new();
    verifier.register(&public);
    let mut seed = gongxin_core::crypto::sm3(&public.to_sec1_uncompressed());
    let mut rejected = 0;
    for i in 0..24usize {
        seed = gongxin_core::crypto::sm3(&seed);
        let msg = seed[..(seed[0] as usize % 32) + 1].to_vec();
        let sig = key.sign(&msg);
        let (m, s) = match i % 4 {
            0 => (msg.clone(), sig.clone()),
            1 => (flip(&msg, seed[1] as usize % (msg.len() * 8)), sig.clone()),
            // A bit inside r's value, or inside s's value (the last 32 bytes).
            2 => (msg.clone(), flip(&sig, (6 + seed[2] as usize % 28) * 8 + seed[3] as usize % 8)),
            _ => (msg.clone(), flip(&sig, (sig.len() - 1 - seed[2] as usize % 30) * 8 + seed[3] as usize % 8)),
        };
        let ossl = openssl_verifies(dir.path(), &pub_pem, &m, &s, DIST_ID);
        let node = node_verifies(&public, &m, &s);
        assert_eq!(ossl, node, "case {i}: OpenSSL {ossl}, node {node}");
        assert_eq!(verifier.verify(&public, &m, &s).is_ok(), node);
        assert_eq!(node, i % 4 == 0, "case {i}");
        if !node {
            rejected += 1;
        }
    }
    assert_eq!(rejected, 18);
}
