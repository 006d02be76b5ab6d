//! Unit tests of the one-stop query on the in-memory store: name index, filters, paging, the public view.

use super::ledger::{Ledger, SharedStore};
use super::query::Search;
use crate::store::memory::MemoryStore;
use gongxin_core::crypto::SigningKey;
use gongxin_core::date::Day;
use gongxin_core::template::{f, Kind};
use gongxin_core::testdata;
use std::collections::BTreeMap;
use std::sync::Arc;

fn today() -> Day {
    Day::from_ymd(2026, 12, 2).unwrap()
}

fn county() -> Arc<Ledger> {
    let store: SharedStore = Arc::new(MemoryStore::new());
    Arc::new(Ledger::new("430102", "芙蓉区", "county", SigningKey::generate(), store))
}

fn import(l: &Ledger, kind: Kind, seed: u64, n: usize) -> Vec<BTreeMap<String, String>> {
    let rows = testdata::rows(kind, seed, "430102", n);
    let numbered = rows.iter().cloned().enumerate().map(|(i, r)| (i as u64 + 1, r)).collect();
    let out = l.import(kind, "t", numbered, None).unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors.first());
    rows
}

fn search(l: &Ledger, q: Search) -> Vec<serde_json::Value> {
    l.search(&q, today())
        .unwrap()
        .hits
        .iter()
        .map(|h| serde_json::from_slice(&h.state.current.to_payload_json()).unwrap())
        .collect()
}

#[test]
fn by_name_prefix_with_and_without_the_division() {
    let l = county();
    let rows = import(&l, Kind::License, 3, 60);
    let org = rows.iter().find(|r| r[f::CATEGORY] == "法人及非法人组织").expect("an organisation row");
    let name = org[f::NAME].clone();
    let keys = gongxin_core::names::index_keys(&name);
    for prefix in keys.iter().map(|k| k.chars().take(4).collect::<String>()) {
        let found = search(&l, Search { name: Some(prefix.clone()), limit: 200, ..Default::default() });
        assert!(found.iter().any(|r| r["subject"]["name"] == name.as_str()), "{prefix} finds {name}");
        assert!(
            found.iter().all(|r| gongxin_core::names::index_keys(r["subject"]["name"].as_str().unwrap())
                .iter()
                .any(|k| k.starts_with(&prefix))),
            "only names with that prefix"
        );
    }
    let err = l.search(&Search { name: Some("长".into()), ..Default::default() }, today()).unwrap_err();
    assert!(err.to_string().contains("两个字"), "{err}");
}

#[test]
fn filters_and_paging() {
    let l = county();
    import(&l, Kind::License, 4, 40);
    import(&l, Kind::Penalty, 5, 40);
    let all = Search { name: Some("长沙".into()), limit: 200, ..Default::default() };
    let every = l.search(&all, today()).unwrap();
    let licences = l.search(&Search { kind: Some("license".into()), ..all.clone() }, today()).unwrap();
    assert!(licences.hits.iter().all(|h| h.kind == "license"));
    assert!(licences.hits.len() < every.hits.len() || every.hits.iter().all(|h| h.kind == "license"));
    // Pages of 5 cover the same records, in the same order, without overlap.
    let mut paged = Vec::new();
    let mut offset = 0;
    loop {
        let p = l.search(&Search { offset, limit: 5, ..all.clone() }, today()).unwrap();
        paged.extend(p.hits.iter().map(|h| h.state.id.clone()));
        if !p.more {
            break;
        }
        offset = p.matched;
    }
    assert_eq!(paged, every.hits.iter().map(|h| h.state.id.clone()).collect::<Vec<_>>());
    let none = l.search(&Search { from: Some(Day::from_ymd(2099, 1, 1).unwrap()), ..all.clone() }, today()).unwrap();
    assert!(none.hits.is_empty());
}

#[test]
fn no_public_output_carries_an_unmasked_id_number_or_a_withheld_record() {
    let l = county();
    let mut rows = import(&l, Kind::License, 6, 120);
    rows.extend(import(&l, Kind::Penalty, 7, 120));
    let ids: Vec<String> = rows
        .iter()
        .flat_map(|r| [r.get(f::ID_NO), r.get(f::LEGAL_REP_ID_NO)])
        .flatten()
        .filter(|v| v.len() >= 8)
        .cloned()
        .collect();
    assert!(ids.len() > 10, "the sample has natural persons and legal representatives");
    let mut outputs = Vec::new();
    let mut natural_penalties = 0;
    for r in &rows {
        let code = [f::CODE1_USCC, f::ID_NO, f::CODE2_REG_NO]
            .iter()
            .filter_map(|k| r.get(*k))
            .find(|v| !v.is_empty() && *v != "00000000000000000X")
            .cloned()
            .unwrap();
        let public =
            l.search(&Search { code: Some(code.clone()), public: true, ..Default::default() }, today()).unwrap();
        for h in &public.hits {
            assert!(
                !(h.kind == "penalty" && h.state.current.subject().is_some_and(|s| s.is_natural_person())),
                "a natural person's penalty is not public"
            );
            outputs.push(serde_json::to_string(&h.state).unwrap());
        }
        if r[f::CATEGORY] == "自然人" && r.contains_key(f::P_DOC_NO) {
            natural_penalties += 1;
        }
        // The operator's view is unmasked.
        let full = l.search(&Search { code: Some(code), ..Default::default() }, today()).unwrap();
        assert!(!full.hits.is_empty());
    }
    let name_out =
        l.search(&Search { name: Some("长沙".into()), public: true, limit: 200, ..Default::default() }, today());
    outputs.extend(name_out.unwrap().hits.iter().map(|h| serde_json::to_string(&h.state).unwrap()));
    let text = outputs.join("\n");
    for id in &ids {
        assert!(!text.contains(id.as_str()), "an unmasked ID number {id} in public output");
    }
    let _ = natural_penalties;
}

/// The memory store, counting values read outside the name index (each candidate a search loads costs some).
struct CountingStore {
    inner: MemoryStore,
    gets: std::sync::atomic::AtomicUsize,
}

impl crate::store::Store for CountingStore {
    fn get(&self, table: crate::store::Table, key: &[u8]) -> Result<Option<Vec<u8>>, crate::store::StoreError> {
        self.gets.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.get(table, key)
    }
    fn scan(
        &self,
        table: crate::store::Table,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
        reverse: bool,
    ) -> Result<crate::store::Pairs, crate::store::StoreError> {
        let rows = self.inner.scan(table, start, end, limit, reverse)?;
        if table != crate::store::Table::Name {
            self.gets.fetch_add(rows.len(), std::sync::atomic::Ordering::Relaxed);
        }
        Ok(rows)
    }
    fn apply(&self, batch: crate::store::Batch) -> Result<(), crate::store::StoreError> {
        self.inner.apply(batch)
    }
    fn flush(&self) -> Result<(), crate::store::StoreError> {
        self.inner.flush()
    }
    fn for_each(&self, f: &mut crate::store::Visitor<'_>) -> Result<(), crate::store::StoreError> {
        self.inner.for_each(f)
    }
}

/// A name search loads records only until its page is full (it walks the name index in order and stops), and a
/// search past the rows one search may read says `more` instead of ending silently.
#[test]
fn a_name_search_stops_at_its_page() {
    let store = Arc::new(CountingStore { inner: MemoryStore::new(), gets: Default::default() });
    let l = Arc::new(Ledger::new("430102", "芙蓉区", "county", SigningKey::generate(), store.clone()));
    import(&l, Kind::License, 8, 600);
    let all = Search { name: Some("长沙".into()), limit: 200, ..Default::default() };
    let gets = |q: &Search| {
        let before = store.gets.load(std::sync::atomic::Ordering::Relaxed);
        let page = l.search(q, today()).unwrap();
        (page, store.gets.load(std::sync::atomic::Ordering::Relaxed) - before)
    };
    let (full, full_gets) = gets(&all);
    assert!(full.hits.len() > 100, "the sample has many 长沙 names: {}", full.hits.len());
    let (first, first_gets) = gets(&Search { limit: 5, ..all.clone() });
    assert_eq!(first.hits.len(), 5);
    assert!(first.more);
    assert_eq!(
        first.hits.iter().map(|h| &h.state.id).collect::<Vec<_>>(),
        full.hits.iter().take(5).map(|h| &h.state.id).collect::<Vec<_>>()
    );
    assert!(
        first_gets * 10 < full_gets,
        "a page of 5 read {first_gets} values, all {} read {full_gets}",
        full.hits.len()
    );
    // Names come in index order: each hit's smallest index key starting with the prefix never decreases.
    let first_key = |h: &super::credit::StateHit| {
        let name = h.state.current.subject().map(|s| s.name.clone()).unwrap_or_default();
        gongxin_core::names::index_keys(&name).into_iter().filter(|k| k.starts_with("长沙")).min().unwrap()
    };
    let keys: Vec<String> = full.hits.iter().map(first_key).collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "name order");
}

/// The name-index walk visits rows in key order, stops when asked, and tells "bounded" from "exhausted".
#[test]
fn the_name_walk_is_bounded_and_stops_when_asked() {
    use crate::views::{walk_name_prefix, Walk};
    let l = county();
    import(&l, Kind::License, 9, 500);
    let store = l.log().store();
    let count = |max: usize| {
        let mut n = 0;
        let walk = walk_name_prefix(store, "长沙", max, |_, _| {
            n += 1;
            Ok::<_, crate::store::log::LogError>(true)
        })
        .unwrap();
        (walk, n)
    };
    let (walk, rows) = count(usize::MAX);
    assert_eq!(walk, Walk::Exhausted);
    assert!(rows > crate::views::NAME_CHUNK, "more rows than one chunk: {rows}");
    assert_eq!(count(rows), (Walk::Exhausted, rows));
    assert_eq!(count(rows - 1), (Walk::Bounded, rows - 1));
    let mut seen = 0;
    let stopped = walk_name_prefix(store, "长沙", usize::MAX, |_, _| {
        seen += 1;
        Ok::<_, crate::store::log::LogError>(seen < 7)
    });
    assert_eq!((stopped.unwrap(), seen), (Walk::Stopped, 7));
}
