//! Bundle verification over an in-memory source: the trait is all the core needs.

use super::*;
use crate::checkpoint::Checkpoint;
use crate::crypto::{sm3, SigningKey};
use crate::envelope::LeafHeader;
use crate::merkle::Frontier;
use std::collections::BTreeMap;

/// Files by bundle-relative path; directories are the prefixes.
#[derive(Clone, Default)]
struct Mem(BTreeMap<String, Vec<u8>>);

impl BundleSource for Mem {
    fn name(&self) -> String {
        "mem:".into()
    }
    fn list(&self, dir: &str) -> Result<Option<Vec<Item>>, BundleError> {
        if self.0.contains_key(dir) {
            return Err(berr(dir, "expected a directory"));
        }
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let mut items: BTreeMap<String, ItemKind> = BTreeMap::new();
        for rest in self.0.keys().filter_map(|k| k.strip_prefix(&prefix)) {
            match rest.split_once('/') {
                Some((d, _)) => items.insert(d.to_string(), ItemKind::Dir),
                None => items.insert(rest.to_string(), ItemKind::File),
            };
        }
        if items.is_empty() && !dir.is_empty() {
            return Ok(None);
        }
        Ok(Some(items.into_iter().map(|(name, kind)| Item { name, kind }).collect()))
    }
    fn read(&self, path: &str) -> Result<Vec<u8>, BundleError> {
        self.0.get(path).cloned().ok_or_else(|| berr(path, "cannot read: not found"))
    }
    fn kind(&self, path: &str) -> Option<ItemKind> {
        if self.0.contains_key(path) {
            Some(ItemKind::File)
        } else if path.is_empty() || self.0.keys().any(|k| k.starts_with(&format!("{path}/"))) {
            Some(ItemKind::Dir)
        } else {
            None
        }
    }
}

const CODE: &str = "430102";

/// A log of `n` leaves of `code` signed by `key`: `(leaf, signature, payload)` each, and signed checkpoints at the
/// sizes `cps` (dated `2026-12-01T00:00:01Z`).
pub(crate) fn signed_log(
    key: &SigningKey,
    code: &str,
    n: u64,
    cps: &[u64],
) -> (Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>, Vec<SignedCheckpoint>) {
    let (mut leaves, mut checkpoints, mut f) = (Vec::new(), Vec::new(), Frontier::new());
    for i in 0..n {
        let payload = format!("{{\"i\":{i}}}").into_bytes();
        let leaf = LeafHeader {
            origin: code.into(),
            index: i,
            kind: "penalty".into(),
            share: crate::record::ShareType::Unconditional,
            disclosure: crate::record::Disclosure::Public,
            recorded_at: "2026-12-01T00:00:00Z".into(),
            decided_on: "-".into(),
            natural_key: sm3(&i.to_be_bytes()),
            payload_digest: sm3(&payload),
        }
        .encode();
        f.push_leaf(&leaf);
        if cps.contains(&(i + 1)) {
            checkpoints
                .push(SignedCheckpoint::sign(&Checkpoint::new(code, i + 1, f.root(), "2026-12-01T00:00:01Z"), key));
        }
        leaves.push((key.sign(&leaf), leaf, payload));
    }
    (leaves.into_iter().map(|(sig, leaf, payload)| (leaf, sig, payload)).collect(), checkpoints)
}

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
