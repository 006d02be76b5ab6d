//! Bundle verification over an in-memory source: the trait is all the core needs.

use super::*;
use crate::crypto::SigningKey;

use super::MemSource as Mem;

const CODE: &str = "430102";

pub(crate) use crate::testdata::signed_log;

/// Packs of `leaves` (leaf, signature, payload), `per` entries a pack (a bundle writer puts 256 in each).
pub(crate) fn pack_log(leaves: &[(Vec<u8>, Vec<u8>, Vec<u8>)], per: usize) -> Vec<pack::Pack> {
    let mut packer = pack::Packer::new();
    let mut out = Vec::new();
    for (i, (leaf, sig, payload)) in leaves.iter().enumerate() {
        if i % per == 0 {
            out.extend(packer.finish());
        }
        out.extend(packer.push(i as u64, leaf, sig, Some((payload, "json"))).unwrap());
    }
    out.extend(packer.finish());
    out
}

/// Edits the file `path` of `m` in place.
fn edit(m: &mut Mem, path: &str, f: impl FnOnce(&mut Vec<u8>)) {
    f(m.0.get_mut(path).unwrap());
}

/// A single-node bundle of `n` leaves with signed checkpoints at the sizes `cps`.
fn bundle(n: u64, cps: &[u64]) -> Mem {
    let key = SigningKey::generate();
    let mut m = Mem::default();
    m.0.insert(format!("keys/{CODE}.pem"), key.public_key().to_spki_pem().into_bytes());
    let (leaves, checkpoints) = signed_log(&key, CODE, n, cps);
    for p in pack_log(&leaves, 5) {
        m.0.insert(format!("entries/{CODE}/{}.idx", p.first), p.index.into_bytes());
        m.0.insert(format!("entries/{CODE}/{}.pack", p.first), p.bytes);
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
    // 12 entries in packs of 5: 0.pack (0-4), 5.pack (5-9), 10.pack (10-11).
    check(|m| drop(m.0.remove("entries/430102/5.pack")), "entries/430102/5.pack: missing (its .idx is present)");
    check(|m| drop(m.0.remove("entries/430102/5.idx")), "entries/430102/5.idx: missing (its .pack is present)");
    check(
        |m| {
            m.0.remove("entries/430102/5.pack");
            m.0.remove("entries/430102/5.idx");
        },
        "entries/430102/10.pack: starts at entry 10, but the packs before it end at entry 5",
    );
    check(|m| edit(m, "entries/430102/5.pack", |b| b[3] ^= 1), "entries/430102/5.pack#5: signature of the leaf");
    check(
        |m| edit(m, "entries/430102/5.pack", |b| *b.last_mut().unwrap() ^= 1),
        "entries/430102/5.pack#9: payload SM3 ",
    );
    check(|m| edit(m, "entries/430102/5.pack", |b| b.push(b' ')), "entries/430102/5.pack: 1 bytes after the last");
    check(|m| edit(m, "entries/430102/5.idx", |b| b[0] = b'6'), "entries/430102/5.idx: line 1: index \"6\"");
    check(|m| drop(m.0.insert("entries/430102/5.sig".into(), vec![])), "entries/430102/5.sig: unexpected entry");
    check(
        |m| {
            m.0.remove("entries/430102/10.pack");
            m.0.remove("entries/430102/10.idx");
        },
        "entries/430102/: missing entries: the checkpoint of size 12 covers them, the packs end at entry 10",
    );
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
