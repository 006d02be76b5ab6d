//! The one-stop query and the publication report through the CLI on a real node: search by name prefix, the
//! public view masks every ID number, `report publication` lists late records with their due dates.

use gongxin_core::template::{f, Kind};
use gongxin_core::testdata;
use gongxin_tests::{cli, text, NodeProc};

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

#[test]
fn query_by_name_public_view_and_publication_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = tmp.path().join("430102");
    NodeProc::init("430102", &dd).unwrap();
    let node = NodeProc::start(&dd).unwrap();
    let d = node.dir_str();
    let rows = testdata::rows(Kind::License, 21, "430102", 80);
    let file = tmp.path().join("l.csv");
    std::fs::write(&file, testdata::to_csv(Kind::License, &rows)).unwrap();
    let out = cli(&["import", "--data-dir", d, "--kind", "license", file.to_str().unwrap(), "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // By the trade name (the part after the division names), two characters and up.
    let org = rows.iter().find(|r| r[f::CATEGORY] == "法人及非法人组织").unwrap();
    let keys = gongxin_core::names::index_keys(&org[f::NAME]);
    let trade: String = keys.last().unwrap().chars().take(3).collect();
    let v = json(&cli(&["query", "--data-dir", d, "--name", &trade, "-o", "json"]));
    let names: Vec<&str> =
        v["records"].as_array().unwrap().iter().map(|r| r["record"]["subject"]["name"].as_str().unwrap()).collect();
    assert!(names.contains(&org[f::NAME].as_str()), "{trade} → {names:?}");

    // The public view of every record: no ID number of the sample appears unmasked.
    let ids: Vec<&String> = rows
        .iter()
        .flat_map(|r| [r.get(f::ID_NO), r.get(f::LEGAL_REP_ID_NO)])
        .flatten()
        .filter(|s| s.len() >= 15)
        .collect();
    assert!(!ids.is_empty());
    let public = cli(&["query", "--data-dir", d, "--name", "长沙", "--public", "--limit", "200", "-o", "json"]);
    let mut text_out = text(&public.stdout);
    for r in rows.iter().take(30) {
        let code = [f::CODE1_USCC, f::ID_NO, f::CODE2_REG_NO]
            .iter()
            .filter_map(|k| r.get(*k))
            .find(|v| !v.is_empty() && *v != "00000000000000000X")
            .unwrap();
        text_out.push_str(&text(&cli(&["query", "--data-dir", d, "--uscc", code, "--public", "-o", "json"]).stdout));
    }
    for id in ids {
        assert!(!text_out.contains(id.as_str()), "unmasked {id} in public output");
    }

    // Sample decisions are years old: every one was published late, with its due date.
    let r = json(&cli(&["report", "publication", "--data-dir", d, "-o", "json"]));
    assert_eq!(r["checked"], 80);
    assert_eq!(r["late_total"], 80);
    let late = &r["late"][0];
    for k in ["origin", "index", "doc_no", "decided", "due", "published"] {
        assert!(!late[k].is_null(), "{k} missing: {late}");
    }
    assert!(late["due"].as_str().unwrap() > late["decided"].as_str().unwrap());
}
