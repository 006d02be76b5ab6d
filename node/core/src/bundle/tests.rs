//! Bundle verification over an in-memory source: the trait is all the core needs.

use super::*;
use crate::crypto::SigningKey;

use super::MemSource as Mem;

const CODE: &str = "430102";

pub(crate) use crate::testdata::signed_log;

/// A single-node bundle of `n` leaves with signed checkpoints at the sizes `cps`.
fn bundle(n: u64, cps: &[u64]) -> Mem {
    let key = SigningKey::generate();
    let mut m = Mem::default();
    m.0.insert(format!("keys/{CODE}.pem"), key.public_key().to_spki_pem().into_bytes());
    let (leaves, checkpoints) = signed_log(&key, CODE, n, cps);
    for (i, (leaf, sig, payload)) in leaves.into_iter().enumerate() {
        m.0.insert(format!("entries/{CODE}/{i}.bin"), leaf);
        m.0.insert(format!("entries/{CODE}/{i}.sig"), sig);
        m.0.insert(format!("payloads/{CODE}/{i}.json"), payload);
    }
    for cp in checkpoints {
        let size = cp.parse().map(|c| c.size).unwrap_or_default();
        m.0.insert(format!("checkpoints/{CODE}/{size}.note"), cp.note);
        m.0.insert(format!("checkpoints/{CODE}/{size}.sig"), cp.signature);
    }
    m
}

/// Verifies `m` after `tamper`; the error's file and reason, or `ok`.
fn check(tamper: impl FnOnce(&mut Mem), expected: &str) {
    let mut m = bundle(12, &[3, 12]);
    tamper(&mut m);
    let got = match verify(&m) {
        Ok(r) => format!("ok {} entries {} payloads", r.origins[0].entries, r.origins[0].payloads),
        Err(e) => e.to_string(),
    };
    assert!(got.starts_with(expected), "expected {expected:?}, got {got:?}");
}

#[test]
fn a_bundle_checks_out_and_every_fault_names_its_file() {
    check(|_| {}, "ok 12 entries 12 payloads");
    check(|m| m.0.clear(), "keys/: the bundle holds no origin key");
    check(
        |m| drop(m.0.remove("entries/430102/4.bin")),
        "entries/430102/4.bin: missing leaf (its signature is present)",
    );
    check(|m| drop(m.0.remove("entries/430102/4.sig")), "entries/430102/4.sig: missing signature of the leaf");
    check(|m| m.0.get_mut("entries/430102/5.bin").unwrap().push(b'x'), "entries/430102/5.sig: ");
    check(|m| m.0.get_mut("payloads/430102/6.json").unwrap().push(b' '), "payloads/430102/6.json: SM3 ");
    check(
        |m| drop(m.0.remove("checkpoints/430102/3.sig")),
        "checkpoints/430102/3.sig: missing signature of the checkpoint",
    );
    check(
        |m| drop(m.0.insert("checkpoints/430102/3.note".into(), m.0["checkpoints/430102/12.note"].clone())),
        "checkpoints/430102/3.sig: checkpoint ",
    );
    check(|m| drop(m.0.insert("notes.txt".into(), b"hi".to_vec())), "notes.txt: unexpected file or directory");
    check(
        |m| drop(m.0.insert("reports/1.json".into(), b"{}".to_vec())),
        "registry.json: missing: the bundle has reports",
    );
    check(|m| drop(m.0.insert("keys/430102.pem".into(), b"junk".to_vec())), "keys/430102.pem: ");
}
