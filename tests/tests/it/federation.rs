//! Real federations on loopback: seven `gongxin-node` processes, mTLS gRPC, a real CA and registry.

use gongxin_core::template::Kind;
use gongxin_core::testdata;
use gongxin_tests::fed::{Fed, HUNAN6};
use gongxin_tests::{cli, text};
use std::time::Duration;

pub(crate) fn import(fed: &Fed, code: &str, kind: Kind, seed: u64, n: usize) -> u64 {
    let rows = testdata::rows(kind, seed, code, n);
    let file = fed.root.join(format!("{code}-{seed}.csv"));
    std::fs::write(&file, testdata::to_csv(kind, &rows)).unwrap();
    let out =
        cli(&["import", "--data-dir", &fed.dir(code), "--kind", kind.as_str(), file.to_str().unwrap(), "-o", "json"]);
    assert!(out.status.success(), "import at {code}: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["size"].as_u64().unwrap()
}

#[test]
fn county_data_reaches_city_and_province_with_identical_roots() {
    let tmp = tempfile::tempdir().unwrap();
    let mut fed = Fed::up(tmp.path(), HUNAN6).unwrap();
    let counties = ["430102", "430104", "430302", "430321"];
    let mut sizes = std::collections::BTreeMap::new();
    for (i, c) in counties.iter().enumerate() {
        import(&fed, c, Kind::License, 10 + i as u64, 30);
        sizes.insert(c.to_string(), import(&fed, c, Kind::Penalty, 20 + i as u64, 20));
    }
    fed.wait_until("the province to mirror every county", Duration::from_secs(90), |f| {
        let p = f.logs("430000");
        counties.iter().all(|c| p.get(*c).map(|s| s.0) == Some(sizes[*c]))
    })
    .unwrap();
    // Each city holds exactly its own counties.
    let changsha = fed.logs("430100");
    assert!(changsha.contains_key("430102") && changsha.contains_key("430104"));
    assert!(!changsha.contains_key("430302"), "a city mirrors only its subtree: {changsha:?}");
    // The province returns the county's records byte for byte.
    let rows = testdata::rows(Kind::License, 10, "430102", 30);
    let uscc = &subject_of(&rows[0]);
    let at_county = cli(&["query", "--data-dir", &fed.dir("430102"), "--uscc", uscc, "-o", "json"]);
    let at_province = cli(&["query", "--data-dir", &fed.dir("430000"), "--uscc", uscc, "-o", "json"]);
    let a: serde_json::Value = serde_json::from_slice(&at_county.stdout).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&at_province.stdout).unwrap();
    assert!(!a["records"].as_array().unwrap().is_empty());
    assert_eq!(a["records"], b["records"], "the province returns the county's records unchanged");
    // Identical roots: each county's log has the county's size and root in all three stores that hold it
    // (county, city, province), re-derived from the stored leaves once the nodes are stopped.
    let heads: Vec<(&str, (u64, String))> = counties.iter().map(|c| (*c, fed.own_head(c))).collect();
    for code in HUNAN6.iter().map(|(c, _)| *c) {
        fed.stop(code).unwrap();
    }
    for (c, head) in heads {
        assert_eq!(head.0, sizes[c], "{c}'s own log");
        let city = fed.nodes[c].parent.clone().unwrap();
        for holder in [c, city.as_str(), "430000"] {
            assert_eq!(fed.stored_log(holder, c).unwrap(), head, "{holder}'s copy of {c}");
        }
    }
}

/// A code the subject index knows the row's entity by.
fn subject_of(row: &std::collections::BTreeMap<String, String>) -> String {
    let get = |k: &str| row.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    get("行政相对人代码_1(统一社会信用代码)")
        .filter(|u| u != "00000000000000000X")
        .or_else(|| get("证件号码"))
        .or_else(|| get("行政相对人代码_2(工商注册号)"))
        .expect("a generated row identifies its subject")
}

fn list_entry_json(uscc: &str, doc: &str) -> String {
    serde_json::json!({
        "kind": "list_entry",
        "subject": {"name": "湖南某某建材有限公司", "category": "法人及非法人组织", "uscc": uscc},
        "list_type": "严重失信主体名单",
        "reason": "拒不履行法院生效判决",
        "basis": "《关于加快推进失信被执行人信用监督、警示和惩戒机制建设的意见》",
        "decision_doc_no": doc,
        "start": "2026-11-01",
        "end": "2029-10-31",
        "authority": "湖南省发展和改革委员会",
        "authority_uscc": testdata::make_uscc('1', '1', "430000", "00614005"),
        "measures": ["政府采购", "财政资金", "项目审批"],
        "catalogue_version": "2026.1"
    })
    .to_string()
}

/// The province publishes a list entry about a company registered in 岳麓区; waits until every county holds
/// the province log and checks that each answers the blacklist check from it.
pub(crate) fn publish_list_and_check_every_county(fed: &Fed) {
    let uscc = testdata::Generator::new(5, "430104").company_uscc();
    let file = fed.root.join("list.json");
    std::fs::write(&file, list_entry_json(&uscc, "湘发改信用〔2026〕12号")).unwrap();
    let out = cli(&["record", "add", "--data-dir", &fed.dir("430000"), file.to_str().unwrap(), "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let province_size = fed.own_head("430000").0;
    let counties = ["430102", "430104", "430302", "430321"];
    fed.wait_until("every county to hold the province log", Duration::from_secs(60), |f| {
        counties.iter().all(|c| f.logs(c).get("430000").map(|s| s.0) == Some(province_size))
    })
    .unwrap();
    for c in counties {
        let q = cli(&["query", "--data-dir", &fed.dir(c), "--uscc", &uscc, "-o", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&q.stdout).unwrap();
        let recs = v["records"].as_array().unwrap();
        assert_eq!(recs.len(), 1, "county {c} answers the blacklist check: {v}");
        assert_eq!(recs[0]["origin"], "430000");
        assert_eq!(recs[0]["record"]["list_type"], "严重失信主体名单");
    }
}

#[test]
fn province_list_reaches_every_county_and_unshared_payloads_stay_home() {
    let tmp = tempfile::tempdir().unwrap();
    let fed = Fed::up(tmp.path(), HUNAN6).unwrap();
    publish_list_and_check_every_county(&fed);

    // 不予共享: the signed leaves travel, the payloads do not.
    let rows = testdata::rows(Kind::Penalty, 77, "430302", 10);
    let csv = tmp.path().join("secret.csv");
    std::fs::write(&csv, testdata::to_csv(Kind::Penalty, &rows)).unwrap();
    let out = cli(&[
        "import",
        "--data-dir",
        &fed.dir("430302"),
        "--kind",
        "penalty",
        "--share",
        "不予共享",
        csv.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let size = fed.own_head("430302").0;
    fed.wait_until("the province to mirror 430302", Duration::from_secs(60), |f| {
        f.logs("430000").get("430302").map(|s| s.0) == Some(size)
    })
    .unwrap();
    let subject = &subject_of(&rows[0]);
    let home = cli(&["query", "--data-dir", &fed.dir("430302"), "--uscc", subject, "-o", "json"]);
    let away = cli(&["query", "--data-dir", &fed.dir("430000"), "--uscc", subject, "-o", "json"]);
    let home: serde_json::Value = serde_json::from_slice(&home.stdout).unwrap();
    let away: serde_json::Value = serde_json::from_slice(&away.stdout).unwrap();
    assert!(!home["records"].as_array().unwrap().is_empty(), "the county holds its own record");
    assert!(away["records"].as_array().unwrap().is_empty(), "the payload must not reach the province: {away}");
}

/// `gongxin query --uscc SUBJECT -o json` at `code`: the records.
fn query(fed: &Fed, code: &str, subject: &str) -> serde_json::Value {
    let out = cli(&["query", "--data-dir", &fed.dir(code), "--uscc", subject, "-o", "json"]);
    assert!(out.status.success(), "query at {code}: {}", text(&out.stderr));
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["records"].clone()
}

/// How many times `code`'s uplink has failed and gone into backoff, from its log.
fn uplink_failures(fed: &Fed, code: &str) -> usize {
    std::fs::read_to_string(fed.nodes[code].dir.join("node.log")).unwrap_or_default().matches("uplink failed").count()
}

#[test]
fn uplink_cut_and_restored_converges() {
    let tmp = tempfile::tempdir().unwrap();
    let mut fed = Fed::up(tmp.path(), HUNAN6).unwrap();
    let first = import(&fed, "430102", Kind::License, 1, 20);
    fed.wait_until("first batch at the province", Duration::from_secs(60), |f| {
        f.logs("430000").get("430102").map(|s| s.0) == Some(first)
    })
    .unwrap();
    fed.wait_until("the county's uplink to report a good round", Duration::from_secs(30), |f| {
        f.peers("430102")["parent"]["state"] == "ok"
    })
    .unwrap();
    let failures_before = uplink_failures(&fed, "430102");

    // Cut 长沙市 off: the county notices, says which parent it cannot reach, and keeps retrying.
    fed.kill("430100");
    fed.wait_until("the county to retry its dead uplink three times", Duration::from_secs(60), |f| {
        let p = &f.peers("430102")["parent"];
        p["code"] == "430100"
            && p["state"] == "backoff"
            && p["last_error"].as_str().is_some_and(|e| e.contains("connect to parent 430100"))
            && uplink_failures(f, "430102") >= failures_before + 3
    })
    .unwrap();
    // Meanwhile the county imports and answers queries on its own log.
    let (_, root_first) = fed.own_head("430102");
    let second = import(&fed, "430102", Kind::Penalty, 2, 30);
    assert!(second > first);
    let (size, root_second) = fed.own_head("430102");
    assert_eq!(size, second);
    assert_ne!(root_second, root_first);
    let rows = testdata::rows(Kind::Penalty, 2, "430102", 30);
    let subject = subject_of(&rows[0]);
    let at_county = query(&fed, "430102", &subject);
    assert!(
        at_county.as_array().unwrap().iter().any(|r| r["origin"] == "430102"),
        "the cut-off county answers about its new record: {at_county}"
    );

    // Restore: the county and the city catch up by themselves, and every hop holds the county's log exactly.
    fed.start("430100").unwrap();
    fed.wait_until("the city and the province to catch up", Duration::from_secs(90), |f| {
        f.logs("430100").get("430102").map(|s| s.0) == Some(second)
            && f.logs("430000").get("430102").map(|s| s.0) == Some(second)
    })
    .unwrap();
    assert_eq!(query(&fed, "430000", &subject), at_county, "the province returns the county's records unchanged");
    for code in ["430000", "430100", "430102"] {
        fed.stop(code).unwrap();
        let held = fed.stored_log(code, "430102").unwrap();
        assert_eq!(held, (second, root_second.clone()), "{code}'s copy of 430102, re-derived from its leaves");
    }
}

/// Imports `n` penalty rows at 芙蓉区 and returns the new size; `seeds` collects what was imported.
fn import_round(fed: &Fed, seeds: &mut Vec<(u64, usize)>, n: usize) -> u64 {
    let seed = 100 + seeds.len() as u64;
    seeds.push((seed, n));
    import(fed, "430102", Kind::Penalty, seed, n)
}

#[test]
fn sigkill_mid_sync_loses_and_duplicates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut fed = Fed::up(tmp.path(), HUNAN6).unwrap();
    let mut seeds = Vec::new();
    let mut expected = 0;
    // Kill each of county, city and province in turn while a sync of 芙蓉区's new entries is observably in
    // flight: the next hop (`watch`) holds some but not all of them. The county's upload to the city, the
    // city's relay to the province and the province's receipt are each cut.
    for (victim, watch) in [("430102", "430100"), ("430100", "430000"), ("430000", "430000")] {
        let mut before = expected;
        fed.wait_until("the previous round to reach the province", Duration::from_secs(120), |f| {
            f.logs("430100").get("430102").map_or(before == 0, |s| s.0 == before)
                && f.logs("430000").get("430102").map_or(before == 0, |s| s.0 == before)
        })
        .unwrap();
        expected = import_round(&fed, &mut seeds, 3_000);
        let mut caught = None;
        for attempt in 0..6 {
            let start = std::time::Instant::now();
            let mut held = fed.logs(watch).get("430102").map_or(0, |s| s.0);
            while held == before {
                assert!(start.elapsed() < Duration::from_secs(60), "no sync of 430102 to {watch} started in 60 s");
                held = fed.logs(watch).get("430102").map_or(0, |s| s.0);
            }
            assert!(held <= expected, "{watch} holds {held} entries of 430102, more than the {expected} imported");
            if held < expected {
                caught = Some(held);
                break;
            }
            // The whole round went through between two looks: import more rows and look again.
            eprintln!("victim {victim}: {watch} already held all {expected}; importing more (attempt {attempt})");
            before = expected;
            expected = import_round(&fed, &mut seeds, 3_000 * (attempt + 2));
        }
        let held = caught.unwrap_or_else(|| panic!("never caught a sync to {watch} in flight (victim {victim})"));
        fed.kill(victim);
        eprintln!("killed {victim} while {watch} held {held} of {expected} entries of 430102 (round from {before})");
        fed.start(victim).unwrap();
    }
    fed.wait_until("the city and the province to hold every county entry", Duration::from_secs(180), |f| {
        f.logs("430000").get("430102").map(|s| s.0) == Some(expected)
            && f.logs("430100").get("430102").map(|s| s.0) == Some(expected)
    })
    .unwrap();
    // Nothing duplicated or lost: records of every import come back from the city and the province exactly as
    // from the county, and the three copies of the county's log have its size and root, re-derived from the
    // stored leaves (a duplicate would change the size, a lost or altered leaf the root).
    let (size, root) = fed.own_head("430102");
    assert_eq!(size, expected);
    for (seed, n) in &seeds {
        let rows = testdata::rows(Kind::Penalty, *seed, "430102", *n);
        for row in [&rows[0], &rows[n / 2], &rows[n - 1]] {
            let subject = subject_of(row);
            let at_county = query(&fed, "430102", &subject);
            assert!(!at_county.as_array().unwrap().is_empty(), "seed {seed}: nothing about {subject}");
            assert_eq!(query(&fed, "430100", &subject), at_county, "seed {seed}: the city's records of {subject}");
            assert_eq!(query(&fed, "430000", &subject), at_county, "seed {seed}: the province's records of {subject}");
        }
    }
    for code in ["430000", "430100", "430102"] {
        fed.stop(code).unwrap();
        assert_eq!(fed.stored_log(code, "430102").unwrap(), (expected, root.clone()), "{code}'s copy of 430102");
    }
}
