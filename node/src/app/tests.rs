//! Unit tests of the use cases on the in-memory store: no processes, no network.

use super::evidence::{Evidence, EvidenceKind, EvidenceObject};
use super::federation::{Federation, PROVINCE, REGISTRY_INDEX_META};
use super::ledger::{Ledger, SharedStore};
use super::mirror::WireEntry;
use crate::store::memory::MemoryStore;
use crate::store::{Store, Table};
use crate::views;
use gongxin_core::crypto::SigningKey;
use gongxin_core::envelope::LeafHeader;
use gongxin_core::registry::{KeyEntry, NodeEntry, NodeStatus, Registry, REGISTRY_KIND};
use gongxin_core::template::Kind;
use gongxin_core::testdata;
use std::sync::Arc;

const CITY: &str = "430100";

fn ledger(code: &str, key: &SigningKey) -> (Arc<Ledger>, SharedStore) {
    let store: SharedStore = Arc::new(MemoryStore::new());
    (Arc::new(Ledger::new(code, "测试", "county", key.clone(), store.clone())), store)
}

fn node(code: &str, parent: Option<&str>, key: &SigningKey) -> NodeEntry {
    NodeEntry {
        code: code.into(),
        name: code.into(),
        level: if parent.is_none() { "province" } else { "prefecture" }.into(),
        parent: parent.map(str::to_string),
        keys: vec![KeyEntry {
            spki_pem: key.public_key().to_spki_pem(),
            valid_from: "2026-01-01T00:00:00Z".into(),
            valid_until: None,
        }],
        tls_fingerprints: vec![format!("{code}-fingerprint")],
        status: NodeStatus::Active,
    }
}

/// A province with a registry listing itself and one city.
fn province(pk: &SigningKey, ck: &SigningKey) -> (Arc<Federation>, SharedStore) {
    let (l, store) = ledger(PROVINCE, pk);
    let fed = Federation::new(PROVINCE, l, pk.public_key()).unwrap();
    let reg = Registry {
        format: 1,
        version: 1,
        issued_at: "2026-01-01T00:00:00Z".into(),
        nodes: vec![node(PROVINCE, None, pk), node(CITY, Some(PROVINCE), ck)],
    };
    fed.publish_registry(&reg).unwrap();
    (Arc::new(fed), store)
}

fn rows(seed: u64, n: usize) -> Vec<(u64, std::collections::BTreeMap<String, String>)> {
    testdata::rows(Kind::Penalty, seed, "430102", n).into_iter().enumerate().map(|(i, r)| (i as u64 + 1, r)).collect()
}

#[test]
fn import_is_atomic_with_views_and_skips_duplicates() {
    let k = SigningKey::generate();
    let (l, _) = ledger("430102", &k);
    let batch = rows(7, 50);
    let first = l.import(Kind::Penalty, "t", batch.clone(), None).unwrap();
    assert_eq!(first.accepted + first.errors.len() as u64, 50);
    assert!(first.accepted > 40, "{:?}", first.errors);
    assert_eq!(first.size, first.accepted);
    // Same rows again: every accepted one is a duplicate by natural key, nothing appended.
    let again = l.import(Kind::Penalty, "t", batch.clone(), None).unwrap();
    assert_eq!((again.accepted, again.duplicates, again.size), (0, first.accepted, first.size));
    // The subject view answers for a subject of the first valid row.
    let e = l.entries(0, 1).unwrap().remove(0);
    let body: serde_json::Value = serde_json::from_slice(&e.payload.unwrap().0).unwrap();
    let subject = body["subject"]["uscc"].as_str().or(body["subject"]["id_no"].as_str()).unwrap().to_string();
    let hits = l.query(&subject).unwrap();
    assert!(hits.iter().any(|h| h.index == 0), "{subject}");
    assert!(l.query("  ").is_err());
}

#[test]
fn concurrent_evidence_is_all_kept() {
    let (pk, ck) = (SigningKey::generate(), SigningKey::generate());
    let (fed, _) = province(&pk, &ck);
    std::thread::scope(|s| {
        for t in 0..8 {
            let fed = fed.clone();
            s.spawn(move || {
                for i in 0..40 {
                    fed.record_evidence(
                        EvidenceKind::RelayTampering,
                        CITY,
                        CITY,
                        format!("thread {t} item {i}"),
                        vec![EvidenceObject::signed("x", b"leaf", b"sig")],
                    );
                }
            });
        }
    });
    let all: Vec<Evidence> = fed.evidence().unwrap();
    assert_eq!(all.len(), 8 * 40, "evidence recorded at the same time must not overwrite each other");
}

#[test]
fn concurrent_registry_index_always_names_a_registry_leaf() {
    let (pk, ck) = (SigningKey::generate(), SigningKey::generate());
    let (fed, _) = province(&pk, &ck);
    let base = fed.registry();
    std::thread::scope(|s| {
        let f = fed.clone();
        s.spawn(move || {
            for i in 0..150 {
                f.ledger().append_system("anchor", &format!("noise/{i}"), b"{}".to_vec(), |_| Vec::new()).unwrap();
            }
        });
        for v in 2..60 {
            let mut next = base.clone();
            next.version = v;
            fed.publish_registry(&next).unwrap();
            let log = fed.ledger().log();
            let meta = log.origin_meta(PROVINCE, REGISTRY_INDEX_META).unwrap().unwrap();
            let idx = u64::from_be_bytes(meta.as_slice().try_into().unwrap());
            let leaf = log.entry(PROVINCE, idx).unwrap().unwrap().leaf;
            assert_eq!(LeafHeader::decode(&leaf).unwrap().kind, REGISTRY_KIND, "registry index {idx} at v{v}");
            assert_eq!(fed.registry().version, v);
        }
    });
}

fn view_rows(store: &SharedStore) -> Vec<(Table, Vec<u8>)> {
    let mut out = Vec::new();
    for t in views::VIEW_TABLES {
        for (k, _) in store.scan(t, &[], None, usize::MAX, false).unwrap() {
            out.push((t, k));
        }
    }
    out
}

#[test]
fn reindexed_store_equals_incremental_for_own_and_mirrored_logs() {
    let (pk, ck) = (SigningKey::generate(), SigningKey::generate());
    let (fed, pstore) = province(&pk, &ck);
    // The city's own log, imported in two chunks, then uploaded to the province (a mirror ingest).
    let (city, _) = ledger(CITY, &ck);
    city.import(Kind::Penalty, "t", rows(1, 30), None).unwrap();
    city.import(
        Kind::License,
        "t",
        testdata::rows(Kind::License, 2, "430102", 20)
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i as u64 + 1, r))
            .collect(),
        None,
    )
    .unwrap();
    let size = city.status().unwrap().size;
    let entries: Vec<WireEntry> = city.entries(0, size).unwrap().into_iter().map(WireEntry::outgoing).collect();
    let cp = city.checkpoints().unwrap().pop().unwrap();
    fed.accept_upload(CITY, CITY, 0, entries, cp).unwrap();
    // The province's own log holds province records too.
    fed.ledger().import(Kind::Penalty, "t", rows(3, 10), None).unwrap();
    let incremental = view_rows(&pstore);
    assert!(incremental.iter().any(|(t, _)| *t == Table::Subject));
    let r = views::reindex(fed.ledger().log()).unwrap();
    assert!(r.rows_removed > 0 && r.entries > size);
    assert_eq!(view_rows(&pstore), incremental, "a store rebuilt from its logs has the same views");
    // A store whose views were lost gets them back.
    let mut b = crate::store::Batch::new();
    for (t, k) in &incremental {
        b.delete(*t, k.clone());
    }
    pstore.apply(b).unwrap();
    assert!(view_rows(&pstore).is_empty());
    views::reindex(fed.ledger().log()).unwrap();
    assert_eq!(view_rows(&pstore), incremental);
}

#[test]
fn a_resent_leaf_of_another_index_frames_nobody() {
    // A relay resends a genuine, origin-signed leaf at a different (already held) index: refused as misplaced,
    // and no equivocation evidence is recorded against the honest origin.
    let (pk, ck) = (SigningKey::generate(), SigningKey::generate());
    let (fed, _) = province(&pk, &ck);
    let (city, _) = ledger(CITY, &ck);
    city.import(Kind::Penalty, "t", rows(4, 5), None).unwrap();
    let size = city.status().unwrap().size;
    let mut entries: Vec<WireEntry> = city.entries(0, size).unwrap().into_iter().map(WireEntry::outgoing).collect();
    let cp = city.checkpoints().unwrap().pop().unwrap();
    fed.accept_upload(CITY, CITY, 0, entries.clone(), cp.clone()).unwrap();
    let (leaf1, sig1) = (entries[1].leaf.clone(), entries[1].signature.clone());
    entries[0].leaf = leaf1;
    entries[0].signature = sig1;
    let err = fed.accept_upload(CITY, CITY, 0, entries, cp).unwrap_err();
    assert!(err.to_string().contains("expected 430100 0"), "{err}");
    assert!(fed.evidence().unwrap().is_empty(), "no evidence against the honest origin");
}
