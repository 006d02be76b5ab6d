//! Unit tests of the use cases on the in-memory store: no processes, no network.

use super::evidence::{Evidence, EvidenceKind, EvidenceObject};
use super::federation::{Federation, PROVINCE, REGISTRY_INDEX_META};
use super::ledger::{Ledger, SharedStore};
use super::mirror::WireEntry;
use crate::store::memory::MemoryStore;
use crate::store::{Store, Table};
use crate::views;
use gongxin_core::checkpoint::{Checkpoint, SignedCheckpoint};
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
        operators: vec![],
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

/// The city's log with `n` penalty rows of `seed`, and its entries and latest checkpoint as the city would upload.
fn city_batch(ck: &SigningKey, seed: u64, n: usize) -> (Arc<Ledger>, Vec<WireEntry>, SignedCheckpoint) {
    let (city, _) = ledger(CITY, ck);
    city.import(Kind::Penalty, "t", rows(seed, n), None).unwrap();
    let size = city.status().unwrap().size;
    let entries = city.entries(0, size).unwrap().into_iter().map(WireEntry::outgoing).collect();
    let cp = city.checkpoints().unwrap().pop().unwrap();
    (city, entries, cp)
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
    let hits = l.states_about(&subject).unwrap();
    assert!(hits.iter().any(|h| h.state.id.index == 0), "{subject}");
    assert!(l.states_about("  ").is_err());
}

#[test]
fn concurrent_evidence_is_all_kept() {
    let (pk, ck) = (SigningKey::generate(), SigningKey::generate());
    let (fed, _) = province(&pk, &ck);
    std::thread::scope(|s| {
        for t in 0..8 {
            let fed = fed.clone();
            s.spawn(move || {
                for i in 0..30 {
                    fed.record_evidence(
                        EvidenceKind::RelayTampering,
                        CITY,
                        CITY,
                        format!("thread {t} item {i}"),
                        vec![EvidenceObject::signed("x", format!("leaf {t} {i}").as_bytes(), b"sig")],
                    );
                }
            });
        }
    });
    let all: Vec<Evidence> = fed.evidence().unwrap();
    assert_eq!(all.len(), 8 * 30, "evidence recorded at the same time must not overwrite each other");
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
    let (_, mut entries, cp) = city_batch(&ck, 4, 5);
    fed.accept_upload(CITY, CITY, 0, entries.clone(), cp.clone()).unwrap();
    let (leaf1, sig1) = (entries[1].leaf.clone(), entries[1].signature.clone());
    entries[0].leaf = leaf1;
    entries[0].signature = sig1;
    let err = fed.accept_upload(CITY, CITY, 0, entries, cp).unwrap_err();
    assert!(err.to_string().contains("expected 430100 0"), "{err}");
    assert!(fed.evidence().unwrap().is_empty(), "no evidence against the honest origin");
}

#[test]
fn checkpoint_times_are_parsed_bounded_and_monotonic() {
    let (pk, ck) = (SigningKey::generate(), SigningKey::generate());
    let (fed, _) = province(&pk, &ck);
    let (city, entries, cp) = city_batch(&ck, 5, 5);
    let head = city.status().unwrap();
    fed.accept_upload(CITY, CITY, 0, entries, cp).unwrap();
    let heartbeat = |ts: &str| SignedCheckpoint::sign(&Checkpoint::new(CITY, head.size, head.root, ts), &ck);
    // An origin-signed heartbeat dated `zzzz` or far in the future is refused, naming the time.
    for bad in ["zzzz", "2999-01-01T00:00:00Z"] {
        let err = fed.accept_upload(CITY, CITY, head.size, Vec::new(), heartbeat(bad)).unwrap_err();
        assert!(err.to_string().contains("timestamp"), "{bad}: {err}");
    }
    // A proper later heartbeat is still taken and kept (the bad ones blocked nothing).
    let later = super::now_rfc3339();
    fed.accept_upload(CITY, CITY, head.size, Vec::new(), heartbeat(&later)).unwrap();
    let kept = fed.ledger().log().checkpoint_at(CITY, head.size).unwrap().unwrap();
    assert_eq!(kept.parse().unwrap().timestamp(), Some(later.as_str()));
}

#[test]
fn a_start_near_u64_max_is_refused_not_wrapped() {
    let (pk, ck) = (SigningKey::generate(), SigningKey::generate());
    let (fed, _) = province(&pk, &ck);
    let (_, entries, cp) = city_batch(&ck, 6, 3);
    let err = fed.accept_upload(CITY, CITY, u64::MAX - 1, entries, cp).unwrap_err();
    assert!(matches!(err, super::AppError::Sync(gongxin_core::sync::SyncError::Cursor { .. })), "{err}");
}

#[test]
fn evidence_is_deduplicated_and_capped_per_origin() {
    use super::evidence::MAX_PER_ORIGIN;
    let (pk, ck) = (SigningKey::generate(), SigningKey::generate());
    let (fed, store) = province(&pk, &ck);
    let ev = |n: usize| vec![EvidenceObject::signed("received leaf", format!("leaf {n}").as_bytes(), b"sig")];
    // The same objects relayed a thousand times are one piece of evidence.
    for _ in 0..1000 {
        fed.record_evidence(EvidenceKind::RelayTampering, CITY, CITY, "again".into(), ev(0));
    }
    assert_eq!(fed.evidence().unwrap().len(), 1);
    // Distinct evidence stops at the cap per origin; the rest is counted.
    for n in 1..MAX_PER_ORIGIN + 50 {
        fed.record_evidence(EvidenceKind::RelayTampering, CITY, CITY, format!("n {n}"), ev(n));
    }
    assert_eq!(fed.evidence().unwrap().len(), MAX_PER_ORIGIN);
    let rows = store.scan_prefix(Table::Meta, b"evidence.dropped", 10).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(u64::from_be_bytes(rows[0].1.clone().try_into().unwrap()), 50);
    // Another origin still has room.
    fed.record_evidence(EvidenceKind::ForgedCheckpoint, PROVINCE, CITY, "p".into(), ev(0));
    assert_eq!(fed.evidence().unwrap().len(), MAX_PER_ORIGIN + 1);
    // And the audit report stays small: findings are grouped with counts and digests.
    let report = fed.run_audit(Default::default()).unwrap();
    let json = serde_json::to_vec(&report).unwrap();
    assert!(json.len() < 16 * 1024, "report is {} bytes", json.len());
    let city = report.origins.iter().find(|o| o.code == CITY).unwrap();
    assert_eq!(city.evidence.len(), 1, "{:?}", city.evidence);
    assert!(city.evidence[0].detail.contains("256"), "{}", city.evidence[0].detail);
}

#[test]
fn a_whole_province_can_be_staged_at_once() {
    use gongxin_core::registry::Change;
    let (pk, ck) = (SigningKey::generate(), SigningKey::generate());
    let (fed, _) = province(&pk, &ck);
    // More than one store value could hold (7 KiB): each staged change is its own value.
    for i in 0..150 {
        let mut n = node(&format!("43{:04}", 102 + i), Some(CITY), &SigningKey::generate());
        n.level = "county".into();
        fed.stage(Change::Upsert(n)).unwrap();
    }
    assert_eq!(fed.staged().unwrap().len(), 150);
    let before = fed.registry().nodes.len();
    fed.apply_staged(0).unwrap();
    assert_eq!(fed.registry().nodes.len(), before + 150);
    assert!(fed.staged().unwrap().is_empty());
    assert!(matches!(fed.apply_staged(0), Err(super::AppError::NothingStaged)));
}

#[test]
fn a_change_staged_during_an_apply_is_never_lost() {
    use gongxin_core::registry::Change;
    let (pk, ck) = (SigningKey::generate(), SigningKey::generate());
    let (fed, _) = province(&pk, &ck);
    let counties: Vec<String> = (0..40).map(|i| format!("4301{:02}", i + 2)).collect();
    std::thread::scope(|s| {
        let f = fed.clone();
        let cs = counties.clone();
        let stager = s.spawn(move || {
            for c in &cs {
                let mut n = node(c, Some(CITY), &SigningKey::generate());
                n.level = "county".into();
                f.stage(Change::Upsert(n)).unwrap();
            }
        });
        while !stager.is_finished() {
            match fed.apply_staged(0) {
                Ok(_) | Err(super::AppError::NothingStaged) => {}
                Err(e) => panic!("{e}"),
            }
        }
    });
    let _ = fed.apply_staged(0);
    let reg = fed.registry();
    let missing: Vec<&String> = counties.iter().filter(|c| reg.node(c).is_none()).collect();
    assert!(missing.is_empty(), "staged but never applied: {missing:?}");
}

#[test]
fn a_child_takes_its_own_log_back_only_on_a_gap_and_a_parent_serves_nobody_else_s() {
    let (pk, ck) = (SigningKey::generate(), SigningKey::generate());
    let (prov, _) = province(&pk, &ck);
    // A second city, to ask for the first one's log.
    let other = SigningKey::generate();
    let mut reg = prov.registry();
    reg.version += 1;
    reg.nodes.push(node("430300", Some(PROVINCE), &other));
    prov.publish_registry(&reg).unwrap();
    let (city, entries, cp) = city_batch(&ck, 7, 6);
    let size = city.status().unwrap().size;
    prov.accept_upload(CITY, CITY, 0, entries, cp).unwrap();

    // Nobody else's log is served: only the province log and the caller's own.
    let err = prov.serve_pull("430300", CITY, 0, 100).unwrap_err();
    assert!(err.to_string().contains("not offered"), "{err}");
    let (back, back_cp) = prov.serve_pull(CITY, CITY, 0, 100).unwrap();
    assert_eq!(back.len() as u64, size);

    // The city lost its disk: a fresh store with its key, holding the registry from the province log.
    let (fresh, _) = ledger(CITY, &ck);
    let fed = Federation::new(CITY, fresh.clone(), pk.public_key()).unwrap();
    let (plog, pcp) = prov.serve_pull(CITY, PROVINCE, 0, 100).unwrap();
    fed.apply_pulled(PROVINCE, PROVINCE, 0, plog, pcp).unwrap();
    // Without a gap hold the own log is never taken from the parent (nor by the down-sync path).
    let err = fed.recover_own(PROVINCE, 0, back.clone(), back_cp.clone()).unwrap_err();
    assert!(err.to_string().contains("held on a gap"), "{err}");
    assert!(fed.apply_pulled(PROVINCE, CITY, 0, back.clone(), back_cp.clone()).is_err());
    assert_eq!(fresh.status().unwrap().size, 0);
    // On a gap: taken back, verified, and signing resumes at the next index.
    assert!(matches!(fresh.compare_with_parent(PROVINCE, size).unwrap(), Some(super::ledger::SigningHold::Gap { .. })));
    assert!(fresh.import(Kind::Penalty, "t", rows(8, 1), None).is_err(), "signing is held on the gap");
    // An altered entry is refused and nothing is written.
    let mut bad = back.clone();
    bad[2].signature = bad[1].signature.clone();
    assert!(fed.recover_own(PROVINCE, 0, bad, back_cp.clone()).is_err());
    assert_eq!(fresh.status().unwrap().size, 0);
    fed.recover_own(PROVINCE, 0, back, back_cp).unwrap();
    let head = fresh.status().unwrap();
    assert_eq!((head.size, head.root), (size, city.status().unwrap().root));
    assert_eq!(fresh.compare_with_parent(PROVINCE, size).unwrap(), None, "the gap is closed");
    fresh.import(Kind::Penalty, "t", rows(9, 2), None).unwrap();
    assert_eq!(fresh.status().unwrap().size, size + 2);
    // A gap never shrinks: seen at 9, a later claim of 1 does not release it before 9 entries are held.
    let (g, _) = ledger(CITY, &ck);
    assert!(g.compare_with_parent(PROVINCE, 9).unwrap().is_some());
    assert!(matches!(
        g.compare_with_parent(PROVINCE, 0).unwrap(),
        Some(super::ledger::SigningHold::Gap { parent_size: 9, .. })
    ));
}

#[test]
fn a_pipelined_batch_that_arrives_first_waits_for_the_one_ahead_of_it() {
    let (pk, ck) = (SigningKey::generate(), SigningKey::generate());
    let (fed, _) = province(&pk, &ck);
    let (city, _) = ledger(CITY, &ck);
    city.import(Kind::Penalty, "t", rows(21, 4), None).unwrap();
    let a = city.status().unwrap().size;
    let cp_a = city.checkpoints().unwrap().pop().unwrap();
    city.import(Kind::Penalty, "t", rows(22, 3), None).unwrap();
    let b = city.status().unwrap().size;
    let cp_b = city.checkpoints().unwrap().pop().unwrap();
    let first: Vec<WireEntry> = city.entries(0, a).unwrap().into_iter().map(WireEntry::outgoing).collect();
    let second: Vec<WireEntry> = city.entries(a, b).unwrap().into_iter().map(WireEntry::outgoing).collect();
    // The second batch reaches the writer first: it waits instead of being refused with the cursor.
    let f = fed.clone();
    let behind = std::thread::spawn(move || f.accept_upload(CITY, CITY, a, second, cp_b));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!behind.is_finished(), "the batch behind was answered before the one ahead of it arrived");
    assert_eq!(fed.cursor(CITY, CITY).unwrap().size, 0);
    fed.accept_upload(CITY, CITY, 0, first, cp_a).unwrap();
    let (head, _) = behind.join().unwrap().unwrap();
    assert_eq!(head.size, b);
    assert_eq!(fed.cursor(CITY, CITY).unwrap().size, b);
}
