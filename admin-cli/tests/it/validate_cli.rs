//! `gongxin validate` end to end: the real binary on the shipped samples and on broken files.

use gongxin_core::template::{f, Kind};
use gongxin_core::testdata;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/sample").join(name)
}

fn gongxin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gongxin"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot start gongxin: {e}"))
}

fn validate(kind: &str, file: &Path, json: bool) -> Output {
    let file = file.to_string_lossy().into_owned();
    let mut args = vec!["validate", "--kind", kind, file.as_str()];
    if json {
        args.extend(["-o", "json"]);
    }
    gongxin(&args)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `-o json` and returns (exit code, accepted, rejected, [(row, field)]).
fn json_report(kind: &str, file: &Path) -> (i32, u64, u64, Vec<(u64, String)>) {
    let out = validate(kind, file, true);
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("{\"accepted\":"), "stdout: {stdout}\nstderr: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let obj = v.as_object().cloned().unwrap_or_default();
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    // `sheets` (what happened to each worksheet) only for workbooks.
    assert_eq!(keys.len(), if obj.contains_key("sheets") { 4 } else { 3 }, "{stdout}");
    for k in ["accepted", "rejected", "errors"] {
        assert!(obj.contains_key(k), "{stdout}");
    }
    let errors: Vec<(u64, String)> = v["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let o = e.as_object().cloned().unwrap_or_default();
            assert_eq!(o.len(), if o.contains_key("sheet") { 4 } else { 3 }, "error entry {e}");
            assert!(!e["reason"].as_str().unwrap_or("").is_empty());
            (e["row"].as_u64().unwrap_or(0), e["field"].as_str().unwrap_or("").to_string())
        })
        .collect();
    (
        out.status.code().unwrap_or(-1),
        v["accepted"].as_u64().unwrap_or(999),
        v["rejected"].as_u64().unwrap_or(999),
        errors,
    )
}

#[test]
fn samples_report_their_bad_rows() {
    // (file, kind, bad rows with one expected field each), as documented in deploy/sample/README.md.
    type Case<'a> = (&'a str, &'a str, [(u64, &'a str); 3]);
    let cases: [Case; 8] = [
        ("430102_license.csv", "license", [(5, f::CODE1_USCC), (12, f::L_DATE), (27, f::ID_NO)]),
        ("430102_penalty.csv", "penalty", [(3, f::P_FINE), (18, f::ID_NO), (33, f::DIVISION)]),
        ("430104_license.csv", "license", [(8, f::CODE1_USCC), (21, f::L_CATEGORY), (36, f::L_AUTHORITY_USCC)]),
        ("430104_penalty.csv", "penalty", [(6, f::P_FINE), (15, f::P_CATEGORY), (29, f::P_AUTHORITY_USCC)]),
        ("430302_license.xlsx", "license", [(4, f::CODE2_REG_NO), (19, f::L_STATUS), (31, f::CODE3_ORG_CODE)]),
        ("430302_penalty.xlsx", "penalty", [(9, f::P_CONFISCATION), (22, f::P_VALID_UNTIL), (38, f::CATEGORY)]),
        ("430321_license.csv", "license", [(2, f::ID_NO), (17, f::L_TO), (40, f::ID_NO)]),
        ("430321_penalty.csv", "penalty", [(11, f::P_SUSPENDED), (25, f::P_DATE), (34, f::P_FINE)]),
    ];
    for (file, kind, bad) in cases {
        let (code, accepted, rejected, errors) = json_report(kind, &sample(file));
        assert_eq!((code, accepted, rejected), (1, 37, 3), "{file}: {errors:?}");
        let rows: std::collections::BTreeSet<u64> = errors.iter().map(|(r, _)| *r).collect();
        assert_eq!(rows, bad.iter().map(|(r, _)| *r).collect(), "{file}");
        for (row, field) in bad {
            assert!(errors.iter().any(|(r, f)| *r == row && f == field), "{file}: row {row} {field} in {errors:?}");
        }
    }
}

#[test]
fn table_output_lists_rows_and_a_summary() {
    let out = validate("license", &sample("430102_license.csv"), false);
    assert_eq!(out.status.code(), Some(1));
    let s = text(&out.stdout);
    assert!(s.contains("校验位应为"), "{s}");
    assert!(s.contains("2023/02/29"), "{s}");
    assert!(s.contains("共 40 行，通过 37，拒绝 3 (rows 40, accepted 37, rejected 3)"), "{s}");
    assert!(s.contains("UTF-8 (BOM)"), "{s}");
    let gb = validate("penalty", &sample("430104_penalty.csv"), false);
    assert!(text(&gb.stdout).contains("GB18030"), "{}", text(&gb.stdout));
}

#[test]
fn a_clean_file_exits_zero() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("clean.csv");
    std::fs::write(&path, testdata::to_csv(Kind::Penalty, &testdata::rows(Kind::Penalty, 5, "430321", 120)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json_report("penalty", &path), (0, 120, 0, vec![]));
    let out = validate("penalty", &path, false);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("gongxin import"), "next step hint: {}", text(&out.stderr));
}

fn usage_error(kind: &str, name: &str, bytes: &[u8], expect_in_stderr: &str) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
    let out = validate(kind, &path, true);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{name}: {err}");
    assert!(out.stdout.is_empty(), "{name}: nothing on stdout for a usage error");
    assert!(err.contains(expect_in_stderr), "{name}: '{expect_in_stderr}' not in {err}");
}

#[test]
fn file_level_problems_are_usage_errors() {
    let good = testdata::to_csv(Kind::License, &testdata::rows(Kind::License, 1, "430102", 3));
    let good = text(&good);
    // Missing required column: drop 行政许可决定文书号 from the header.
    let missing = good.replacen(&format!(",{}", f::L_DOC_NO), "", 1);
    usage_error("license", "missing.csv", missing.as_bytes(), f::L_DOC_NO);
    // A penalty file checked as a licence file.
    let penalty = testdata::to_csv(Kind::Penalty, &testdata::rows(Kind::Penalty, 1, "430102", 3));
    usage_error("license", "penalty.csv", &penalty, "--kind penalty");
    // Neither UTF-8 nor GB18030.
    let mut bad = good.clone().into_bytes();
    bad.extend_from_slice(b"\xFF\xFE\xFD,\x80\n");
    usage_error("license", "latin.csv", &bad, "GB18030");
    // Empty file, a broken workbook, text named .xlsx.
    usage_error("license", "empty.csv", b"", "empty");
    usage_error("license", "broken.xlsx", b"PK\x03\x04this is not a zip", "workbook");
    usage_error("license", "text.xlsx", good.as_bytes(), "workbook");
    // A column given twice.
    let (header, rest) = good.split_once("\r\n").unwrap_or((&good, ""));
    let dup = format!("{header},统一社会信用代码\r\n{rest}");
    usage_error("license", "dup.csv", dup.as_bytes(), "出现两次");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let file = sample("430102_license.csv").to_string_lossy().into_owned();
    for args in [
        vec!["validate", "--kind", "permit", file.as_str()],
        vec!["validate", "--kind", "license", file.as_str(), "-o", "yaml"],
        vec!["validate", "--kind", "license"],
        vec!["validate", "--kind", "license", "/nonexistent/gongxin/file.csv"],
    ] {
        let out = gongxin(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn warnings_go_to_stderr_and_json_stays_clean() {
    let rows = testdata::rows(Kind::License, 9, "430104", 4);
    let mut dup = rows.clone();
    dup.push(rows[0].clone());
    let csv = text(&testdata::to_csv(Kind::License, &dup));
    let (header, rest) = csv.split_once("\r\n").unwrap_or((&csv, ""));
    let with_unknown = format!("{header},经办人\r\n{rest}");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("warn.csv");
    std::fs::write(&path, with_unknown).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json_report("license", &path), (0, 5, 0, vec![]));
    let err = text(&validate("license", &path, true).stderr);
    assert!(
        err.contains("经办人")
            && err.contains("1 行与前面的行机关、决定文书号和主体相同")
            && err.contains("第 5 行（同第 1 行）"),
        "{err}"
    );
}

/// Issue 9: a 2.4 KB workbook with one cell at XFD1048576 aborted `validate` (a 512 GiB allocation, exit 134).
/// It is refused quickly with exit 2 and a message naming the limit.
#[test]
fn far_cell_workbook_is_refused_with_exit_2_naming_the_limit() {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/xfd1048576.xlsx");
    let started = std::time::Instant::now();
    let out = validate("license", &file, false);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("文件超出读取限制") && stderr.contains("列数 columns") && stderr.contains("上限 512"),
        "{stderr}"
    );
    assert!(stderr.contains("第 1048576 行第 16384 列"), "{stderr}");
    assert!(started.elapsed().as_secs() < 30);
}

/// A CSV of 100 MB of commas used many GB; now it stops at the column limit of its first line, exit 2.
#[test]
fn csv_of_commas_is_refused_with_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("commas.csv");
    std::fs::write(&file, vec![b','; 100 << 20]).unwrap();
    let out = validate("license", &file, false);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("列数 columns") && stderr.contains("第 1 行 row 1"), "{stderr}");
}

/// Issue 12: a workbook with an instructions tab, a hidden stale tab and two data tabs. Every sheet is reported;
/// the data tabs are read (errors name their sheet), the hidden one only with `--sheet`.
#[test]
fn workbook_sheets_are_reported_and_chosen() {
    use rust_xlsxwriter::Workbook;
    let names: Vec<&str> = gongxin_core::template::fields(Kind::Penalty).iter().map(|s| s.name).collect();
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("填报说明").unwrap();
    ws.write_string(0, 0, "填写说明").unwrap();
    for (sheet, seed, hidden, bad_row) in
        [("旧表", 1u64, true, None), ("一月", 2, false, Some(2usize)), ("二月", 3, false, None)]
    {
        let ws = wb.add_worksheet();
        ws.set_name(sheet).unwrap();
        ws.set_hidden(hidden);
        ws.write_string(0, 0, format!("{sheet}行政处罚公示")).unwrap();
        for (c, h) in names.iter().enumerate() {
            ws.write_string(1, c as u16, *h).unwrap();
        }
        for (i, mut r) in testdata::rows(Kind::Penalty, seed, "430102", 3).into_iter().enumerate() {
            if bad_row == Some(i + 1) {
                r.insert(f::P_DATE.into(), "2099/01/01".into());
            }
            for (c, h) in names.iter().enumerate() {
                if let Some(v) = r.get(*h) {
                    ws.write_string(2 + i as u32, c as u16, v).unwrap();
                }
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("处罚.xlsx");
    std::fs::write(&path, wb.save_to_buffer().unwrap()).unwrap();
    let p = path.to_string_lossy().into_owned();

    let out = gongxin(&["validate", "--kind", "penalty", &p, "-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["accepted"].as_u64(), v["rejected"].as_u64()), (Some(5), Some(1)), "{v}");
    let read: Vec<(String, bool)> = v["sheets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["read"].as_bool().unwrap()))
        .collect();
    let want = [("填报说明", false), ("旧表", false), ("一月", true), ("二月", true)];
    assert_eq!(read, want.map(|(n, r)| (n.to_string(), r)));
    let e = &v["errors"][0];
    assert_eq!((e["sheet"].as_str(), e["row"].as_u64(), e["field"].as_str()), (Some("一月"), Some(2), Some(f::P_DATE)));
    assert!(e["reason"].as_str().unwrap().contains("晚于今天"), "{e}");
    let err = text(&out.stderr);
    assert!(err.contains("工作表 \"旧表\" 未读取 (sheet not read)：隐藏工作表，已跳过"), "{err}");
    assert!(err.contains("工作表 \"一月\"：表头上方 1 行标题（如 \"一月行政处罚公示\"）已跳过"), "{err}");

    // The hidden sheet alone, by name or by number.
    for choice in ["旧表", "2"] {
        let out = gongxin(&["validate", "--kind", "penalty", &p, "--sheet", choice, "-o", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["accepted"], 3, "{v}");
    }
    let out = gongxin(&["validate", "--kind", "penalty", &p, "--sheet", "三月"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("工作簿中没有工作表 \"三月\"；现有工作表：填报说明，旧表，一月，二月"));
    // As a licence file: no sheet holds licence data, and each says why.
    let out = gongxin(&["validate", "--kind", "license", &p]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("工作簿中没有行政许可模板的数据工作表") && err.contains("请用 --kind penalty 单独导入"),
        "{err}"
    );
}

/// Issue 12: a CSV with the national field-code header (`CF_XDR_MC`, `CF_WSH`, …) is read, and the layout named.
#[test]
fn field_code_headers_are_read_and_the_layout_named() {
    let rows = testdata::rows(Kind::Penalty, 4, "430102", 6);
    let csv = text(&testdata::to_csv(Kind::Penalty, &rows));
    let (header, rest) = csv.split_once("\r\n").unwrap();
    let codes: std::collections::BTreeMap<&str, &str> = gongxin_core::template::FIELD_CODES
        .iter()
        .filter(|(c, _)| !c.starts_with("XK_"))
        .map(|(c, n)| (*n, *c))
        .collect();
    let coded: Vec<&str> = header.split(',').map(|h| codes.get(h).copied().unwrap_or(h)).collect();
    assert!(coded.contains(&"CF_WSH") && coded.contains(&"CF_XDR_MC"), "{coded:?}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("codes.csv");
    std::fs::write(&path, format!("{}\r\n{rest}", coded.join(","))).unwrap();
    assert_eq!(json_report("penalty", &path), (0, 6, 0, vec![]));
    let err = text(&validate("penalty", &path, false).stderr);
    assert!(err.contains("表头格式 layout: 信用中国数据交换格式（字段代码表头，如 XK_XDR_MC、CF_WSH）"), "{err}");
}

/// A saved answer for `check feedback --answer` is read only if it is a regular file within a bound: a device or
/// FIFO is refused as a usage error before anything is read (it used to be read to the end, forever for
/// /dev/zero).
#[test]
fn a_saved_answer_that_is_no_regular_file_is_refused() {
    let args = ["check", "feedback", "--data-dir", "/nonexistent/gongxin", "--verdict", "x", "--action", "已限制"];
    let out = gongxin(&[&args[..], &["--answer", "/dev/zero"]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("不是普通文件"), "{}", text(&out.stderr));
}
