//! Issue 12 and the list template of issue 10, end to end: a real county node, the real `gongxin import` over the
//! admin socket. List import; a re-imported row with other content reported as a change (never skipped
//! silently); duplicates summarised; `--dry-run` writes nothing; rows of another county refused unless
//! `--foreign REASON`; a multi-sheet workbook with a title row and date-time cells.

use gongxin_core::template::{f, fields, Kind};
use gongxin_core::testdata;
use gongxin_tests::{cli, text, NodeProc};
use std::collections::BTreeMap;
use std::path::Path;

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\nstderr: {}", text(&out.stdout), text(&out.stderr)))
}

fn import(d: &str, kind: &str, file: &Path, extra: &[&str]) -> std::process::Output {
    let file = file.to_str().unwrap();
    let mut args = vec!["import", "--data-dir", d, "--kind", kind, file];
    args.extend_from_slice(extra);
    cli(&args)
}

fn size(d: &str) -> u64 {
    let out = cli(&["log", "show", "--data-dir", d, "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    json(&out)["size"].as_u64().unwrap()
}

fn list_rows(seed: u64, n: usize) -> Vec<BTreeMap<String, String>> {
    let mut g = testdata::Generator::new(seed, "430102");
    (0..n).map(|_| g.list_row()).collect()
}

#[test]
fn list_import_changes_duplicates_dry_run_and_foreign_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = tmp.path().join("430102");
    NodeProc::init("430102", &dd).unwrap();
    let node = NodeProc::start(&dd).unwrap();
    let d = node.dir_str();

    // A list file: --dry-run says what would happen and writes nothing.
    let rows = list_rows(11, 20);
    let lst = tmp.path().join("名单.csv");
    std::fs::write(&lst, testdata::to_csv(Kind::List, &rows)).unwrap();
    let out = import(d, "list", &lst, &["--dry-run", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let j = json(&out);
    assert_eq!((j["dry_run"].as_bool(), j["accepted"].as_u64()), (Some(true), Some(20)), "{j}");
    assert_eq!(size(d), 0, "a dry run writes nothing");
    let out = import(d, "list", &lst, &["--dry-run"]);
    assert!(text(&out.stdout).contains("试运行，未写入任何数据 dry run, nothing written"), "{}", text(&out.stdout));

    // The real import: 20 list entries, queryable by subject, with their measures.
    let out = import(d, "list", &lst, &["-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json(&out)["accepted"], 20);
    assert_eq!(size(d), 20);
    let with_measures = rows.iter().find(|r| r.contains_key(f::LS_MEASURES) && r.contains_key(f::LS_USCC)).unwrap();
    let out = cli(&["query", "--data-dir", d, "--uscc", &with_measures[f::LS_USCC], "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let recs = json(&out)["records"].as_array().unwrap().clone();
    let entry = recs.iter().find(|r| r["kind"] == "list_entry").unwrap_or_else(|| panic!("{recs:?}"));
    let body = &entry["record"];
    assert_eq!(body["measures"], serde_json::json!(["政府采购", "财政资金", "行政许可"]), "{body}");
    assert_eq!(body["list_type"], "严重失信主体名单");

    // Again: 20 duplicates, summarised in one line (not 20), nothing appended.
    let out = import(d, "list", &lst, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let dup_lines: Vec<&str> = err.lines().filter(|l| l.contains("重复 duplicates")).collect();
    assert_eq!(dup_lines.len(), 1, "{err}");
    assert!(
        dup_lines[0].contains(
            "20 行与已存储的记录完全相同，已跳过：第 1 行、第 2 行、第 3 行、第 4 行、第 5 行 等，另有 15 行"
        ),
        "{err}"
    );
    assert_eq!(size(d), 20);

    // One row changed (same authority, document number and subject; another reason): a change naming the
    // field, not imported, exit 1.
    let mut changed = rows.clone();
    changed[3].insert(f::LS_REASON.into(), "更正后的列入原因".into());
    std::fs::write(&lst, testdata::to_csv(Kind::List, &changed)).unwrap();
    let out = import(d, "list", &lst, &["-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let j = json(&out);
    assert_eq!((j["accepted"].as_u64(), j["duplicates"].as_u64(), j["changed"].as_u64()), (Some(0), Some(19), Some(1)));
    assert_eq!(j["changes"][0]["row"], 4);
    assert_eq!(j["changes"][0]["fields"], serde_json::json!(["reason"]));
    assert_eq!(size(d), 20);
    let out = import(d, "list", &lst, &[]);
    assert!(
        text(&out.stderr).contains("变更 changed: 第 4 行 row 4: 不同的字段 differing fields [reason]"),
        "{}",
        text(&out.stderr)
    );

    // Another county's licence rows: refused by 地方编码, unless --foreign with a reason.
    let foreign = testdata::rows(Kind::License, 12, "430104", 3);
    let lic = tmp.path().join("岳麓区许可.csv");
    std::fs::write(&lic, testdata::to_csv(Kind::License, &foreign)).unwrap();
    let out = import(d, "license", &lic, &["-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let j = json(&out);
    assert_eq!((j["accepted"].as_u64(), j["rejected"].as_u64()), (Some(0), Some(3)));
    assert_eq!(j["errors"][0]["field"], f::DIVISION);
    assert!(
        j["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("地方编码 430104（岳麓区）不属于本节点 430102（芙蓉区）的辖区"),
        "{j}"
    );
    let out = import(d, "license", &lic, &["--foreign", "区划调整前由芙蓉区代办", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let j = json(&out);
    assert_eq!(j["accepted"], 3);
    assert!(j["warnings"][0]["reason"].as_str().unwrap().contains("区划调整前由芙蓉区代办"), "{j}");
    assert_eq!(size(d), 24, "3 rows and the signed note recording why they were accepted");
    let log = std::fs::read_to_string(dd.join("node.log")).unwrap_or_default();
    assert!(log.contains("foreign row accepted") && log.contains("区划调整前由芙蓉区代办"), "the node logs the reason");
}

/// A department workbook as they come: an instructions tab first, a hidden stale tab, two data tabs with a
/// merged title row, a notes row, a 序号 column and date-time cells.
#[test]
fn multi_sheet_workbook_with_title_rows_and_date_times() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let tmp = tempfile::tempdir().unwrap();
    let dd = tmp.path().join("430102");
    NodeProc::init("430102", &dd).unwrap();
    let node = NodeProc::start(&dd).unwrap();
    let d = node.dir_str();

    let mut wb = Workbook::new();
    let dt_fmt = Format::new().set_num_format("yyyy/m/d h:mm");
    let ws = wb.add_worksheet();
    ws.set_name("填报说明").unwrap();
    ws.write_string(0, 0, "1. 日期格式 YYYY/MM/DD；2. 统一社会信用代码 18 位").unwrap();
    let names: Vec<&str> = fields(Kind::License).iter().map(|s| s.name).collect();
    for (sheet, seed, n, hidden) in [("旧数据", 1u64, 4usize, true), ("一季度", 2, 5, false), ("二季度", 3, 6, false)]
    {
        let ws = wb.add_worksheet();
        ws.set_name(sheet).unwrap();
        if hidden {
            ws.set_hidden(true);
        }
        ws.merge_range(0, 0, 0, 6, &format!("芙蓉区{sheet}行政许可公示"), &Format::new()).unwrap();
        ws.write_string(1, 0, "序号").unwrap();
        for (c, h) in names.iter().enumerate() {
            ws.write_string(1, c as u16 + 1, *h).unwrap();
            let note = if fields(Kind::License)[c].required_column { "必填" } else { "选填" };
            ws.write_string(2, c as u16 + 1, note).unwrap();
        }
        for (i, r) in testdata::rows(Kind::License, seed, "430102", n).iter().enumerate() {
            let row = 3 + i as u32;
            ws.write_number(row, 0, (i + 1) as f64).unwrap();
            for (c, h) in names.iter().enumerate() {
                let v = r.get(*h).cloned().unwrap_or_default();
                let parts: Vec<u16> = v.split('/').filter_map(|p| p.parse().ok()).collect();
                if *h == f::L_DATE && parts.len() == 3 {
                    let when = ExcelDateTime::from_ymd(parts[0], parts[1] as u8, parts[2] as u8)
                        .unwrap()
                        .and_hms(0, 0, 0)
                        .unwrap();
                    ws.write_datetime_with_format(row, c as u16 + 1, &when, &dt_fmt).unwrap();
                } else if !v.is_empty() {
                    ws.write_string(row, c as u16 + 1, &v).unwrap();
                }
            }
        }
    }
    let path = tmp.path().join("许可.xlsx");
    std::fs::write(&path, wb.save_to_buffer().unwrap()).unwrap();

    let out = import(d, "license", &path, &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    for line in [
        "工作表 sheet \"填报说明\"：跳过 skipped：填报说明等非数据工作表，已跳过",
        "工作表 sheet \"旧数据\"：跳过 skipped：隐藏工作表，已跳过；如需读取请用 --sheet \"旧数据\"",
        "工作表 sheet \"一季度\"：读取 read：行政许可模板（中文表头）(license template, Chinese headers)，表头在第 2 行，数据 5 行",
        "工作表 sheet \"二季度\"：读取 read：行政许可模板（中文表头）(license template, Chinese headers)，表头在第 2 行，数据 6 行",
        "提示 note: 工作表 \"一季度\" 表头上方 1 行标题（如 \"芙蓉区一季度行政许可公示\"）已跳过",
    ] {
        assert!(err.contains(line), "'{line}' not in:\n{err}");
    }
    assert_eq!(size(d), 11);
    // The hidden sheet on request.
    let out = import(d, "license", &path, &["--sheet", "旧数据", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json(&out)["accepted"], 4);
    assert_eq!(size(d), 15);
}
