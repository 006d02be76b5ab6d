//! Issue 12, data-driven: every way real department exports go wrong, as a small file built here from code
//! (CSV text, and an XLSX workbook written by rust_xlsxwriter), with the verdict and message expected. One
//! `check` per case; the file goes through the same path as `gongxin validate`/`import`
//! (`layout::read_export` → `template::validate_row_with`).

use gongxin_core::date::Day;
use gongxin_core::layout::{read_export, Export, ReadOptions, SheetChoice};
use gongxin_core::record::Record;
use gongxin_core::template::{f, fields, Checks, FileError, Kind, RefData, RowError};
use gongxin_core::testdata::{self, Generator};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use std::collections::BTreeMap;

/// One cell of a case.
#[derive(Debug, Clone)]
enum C {
    T(String),
    /// A number cell (CSV: the number as Excel's General format would write it).
    N(f64),
    /// A date-time cell `(y, m, d, h, min, s)` formatted `yyyy/m/d h:mm` (CSV: that text).
    D(u16, u8, u8, u16, u8, u8),
}

fn t(s: &str) -> C {
    C::T(s.to_string())
}

#[derive(Debug, Clone, Default)]
struct Sheet {
    name: String,
    hidden: bool,
    rows: Vec<Vec<C>>,
    /// (first_row, first_col, last_row, last_col), 0-based; the value is the top-left cell of `rows`.
    merges: Vec<(u32, u16, u32, u16)>,
}

fn sheet(name: &str, rows: Vec<Vec<C>>) -> Sheet {
    Sheet { name: name.into(), rows, ..Sheet::default() }
}

fn xlsx(sheets: &[Sheet]) -> Vec<u8> {
    let mut wb = Workbook::new();
    let date_fmt = Format::new().set_num_format("yyyy/m/d h:mm");
    let first_visible = sheets.iter().position(|s| !s.hidden).unwrap_or(0);
    for (i, s) in sheets.iter().enumerate() {
        let ws = wb.add_worksheet();
        ws.set_name(&s.name).unwrap();
        for (r, row) in s.rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let (r, c) = (r as u32, c as u16);
                if s.merges.iter().any(|m| (m.0..=m.2).contains(&r) && (m.1..=m.3).contains(&c)) {
                    continue;
                }
                match cell {
                    C::T(x) if x.is_empty() => {}
                    C::T(x) => {
                        ws.write_string(r, c, x).unwrap();
                    }
                    C::N(x) => {
                        ws.write_number(r, c, *x).unwrap();
                    }
                    C::D(y, m, d, h, mi, sec) => {
                        let dt = ExcelDateTime::from_ymd(*y, *m, *d).unwrap().and_hms(*h, *mi, *sec).unwrap();
                        ws.write_datetime_with_format(r, c, &dt, &date_fmt).unwrap();
                    }
                }
            }
        }
        for m in &s.merges {
            let text = match s.rows.get(m.0 as usize).and_then(|r| r.get(m.1 as usize)) {
                Some(C::T(x)) => x.clone(),
                _ => String::new(),
            };
            ws.merge_range(m.0, m.1, m.2, m.3, &text, &Format::new()).unwrap();
        }
        if i == first_visible {
            ws.set_active(true);
        }
        if s.hidden {
            ws.set_hidden(true);
        }
    }
    wb.save_to_buffer().unwrap()
}

fn csv(s: &Sheet) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
    for row in &s.rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| match c {
                C::T(x) => x.clone(),
                C::N(x) if x.fract() == 0.0 && x.abs() >= 1e15 => format!("{x:E}").replace('E', "E+"),
                C::N(x) => x.to_string(),
                C::D(y, m, d, h, mi, _) => format!("{y}/{m}/{d} {h}:{mi:02}"),
            })
            .collect();
        w.write_record(&cells).unwrap();
    }
    w.into_inner().unwrap()
}

/// The header of a template, as cells.
fn header(kind: Kind) -> Vec<C> {
    fields(kind).iter().map(|s| t(s.name)).collect()
}

/// A valid generated row as cells in template order, with `edits` applied (canonical field → cell).
fn row(kind: Kind, seed: u64, edits: &[(&str, C)]) -> Vec<C> {
    let mut g = Generator::new(seed, "430102");
    let mut m = g.row(kind);
    // A company subject keeps the cases simple; the generator picks one for most seeds.
    for _ in 0..20 {
        if kind == Kind::List || m.get(f::CATEGORY).map(String::as_str) == Some("法人及非法人组织") {
            break;
        }
        m = g.row(kind);
    }
    let mut cells: BTreeMap<String, C> = m.into_iter().map(|(k, v)| (k, C::T(v))).collect();
    for (k, v) in edits {
        cells.insert((*k).to_string(), v.clone());
    }
    fields(kind).iter().map(|s| cells.get(s.name).cloned().unwrap_or(t(""))).collect()
}

fn value(kind: Kind, seed: u64, field: &str) -> String {
    let r = row(kind, seed, &[]);
    let i = fields(kind).iter().position(|s| s.name == field).unwrap();
    match &r[i] {
        C::T(x) => x.clone(),
        _ => String::new(),
    }
}

fn today() -> Day {
    Day::from_ymd(2026, 12, 2).unwrap()
}

struct Outcome {
    export: Export,
    accepted: Vec<(String, u64, Record)>,
    errors: Vec<(String, RowError)>,
    warnings: Vec<(String, RowError)>,
}

fn run(kind: Kind, bytes: &[u8], name: &str, opts: &ReadOptions, checks: &Checks) -> Result<Outcome, FileError> {
    let export = read_export(kind, bytes, name, opts)?;
    let (mut accepted, mut errors, mut warnings) = (Vec::new(), Vec::new(), Vec::new());
    for d in &export.data {
        for r in &d.rows {
            let (res, w) = gongxin_core::template::validate_row_with(
                kind,
                r.row,
                &r.fields,
                &r.notes,
                RefData::embedded(),
                checks,
            );
            warnings.extend(w.into_iter().map(|w| (d.name.clone(), w)));
            match res {
                Ok(rec) => accepted.push((d.name.clone(), r.row, rec)),
                Err(es) => errors.extend(es.into_iter().map(|e| (d.name.clone(), e))),
            }
        }
    }
    Ok(Outcome { export, accepted, errors, warnings })
}

fn checks() -> Checks {
    Checks { today: Some(today()), allow_retired_division: false }
}

/// Which files a case is built as.
#[derive(Clone, Copy, PartialEq)]
enum As {
    Both,
    Xlsx,
    Csv,
}

/// The files of a case: (name, bytes).
fn files(sheets: &[Sheet], r#as: As) -> Vec<(&'static str, Vec<u8>)> {
    let mut v = Vec::new();
    if r#as != As::Csv {
        v.push(("case.xlsx", xlsx(sheets)));
    }
    if r#as != As::Xlsx {
        v.push(("case.csv", csv(&sheets[0])));
    }
    v
}

/// Expects exactly one rejected row error `(row, field)` whose reason starts with `reason`, and nothing else.
fn check_one_error(kind: Kind, sheets: &[Sheet], r#as: As, row_no: u64, field: &str, reason: &str) {
    for (name, bytes) in files(sheets, r#as) {
        let o = run(kind, &bytes, name, &ReadOptions::default(), &checks()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got: Vec<(u64, &str, &str)> =
            o.errors.iter().map(|(_, e)| (e.row, e.field.as_str(), e.reason.as_str())).collect();
        assert_eq!(got.len(), 1, "{name}: {got:#?}");
        assert_eq!((got[0].0, got[0].1), (row_no, field), "{name}: {got:#?}");
        assert!(got[0].2.starts_with(reason), "{name}: reason\n  {}\nshould start with\n  {reason}", got[0].2);
    }
}

/// Expects every row accepted; returns the records of the last file (XLSX when both).
fn check_ok(kind: Kind, sheets: &[Sheet], r#as: As, rows: usize) -> Vec<Record> {
    let mut last = Vec::new();
    for (name, bytes) in files(sheets, r#as) {
        let o = run(kind, &bytes, name, &ReadOptions::default(), &checks()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(o.errors.is_empty(), "{name}: {:#?}", o.errors);
        assert_eq!(o.accepted.len(), rows, "{name}");
        last = o.accepted.into_iter().map(|(_, _, r)| r).collect();
    }
    last
}

fn file_error(kind: Kind, sheets: &[Sheet], r#as: As, opts: &ReadOptions) -> Vec<String> {
    files(sheets, r#as)
        .into_iter()
        .map(|(name, bytes)| match run(kind, &bytes, name, opts, &checks()) {
            Err(e) => e.to_string(),
            Ok(o) => panic!("{name}: expected a file error, got {} rows, {:?}", o.accepted.len(), o.errors),
        })
        .collect()
}

const L: Kind = Kind::License;
const P: Kind = Kind::Penalty;

// ---- 1. Workbooks -------------------------------------------------------------------------------------------

#[test]
fn every_visible_data_sheet_is_read_and_others_are_reported() {
    let sheets = vec![
        sheet("填报说明", vec![vec![t("填报说明：行政相对人名称填写全称……")], vec![t("日期格式 YYYY/MM/DD")]]),
        sheet("一月", vec![header(L), row(L, 1, &[]), row(L, 2, &[])]),
        Sheet { hidden: true, ..sheet("旧数据", vec![header(L), row(L, 3, &[])]) },
        sheet("二月", vec![header(L), row(L, 4, &[])]),
    ];
    let o = run(L, &xlsx(&sheets), "a.xlsx", &ReadOptions::default(), &checks()).unwrap();
    let read: Vec<(&str, bool)> = o.export.sheets.iter().map(|s| (s.name.as_str(), s.read)).collect();
    assert_eq!(read, vec![("填报说明", false), ("一月", true), ("旧数据", false), ("二月", true)]);
    assert_eq!(o.export.sheets[0].detail, "填报说明等非数据工作表，已跳过 (instructions, not a data sheet: skipped)");
    assert_eq!(
        o.export.sheets[2].detail,
        "隐藏工作表，已跳过；如需读取请用 --sheet \"旧数据\" (hidden worksheet skipped: choose it with --sheet)"
    );
    assert!(o.export.sheets[1].detail.starts_with("行政许可模板（中文表头）"), "{}", o.export.sheets[1].detail);
    let rows: Vec<(&str, u64)> = o.accepted.iter().map(|(s, r, _)| (s.as_str(), *r)).collect();
    assert_eq!(rows, vec![("一月", 1), ("一月", 2), ("二月", 1)]);

    // Hidden sheets on request, or one sheet chosen by name or number.
    let all = ReadOptions { include_hidden: true, ..ReadOptions::default() };
    assert_eq!(run(L, &xlsx(&sheets), "a.xlsx", &all, &checks()).unwrap().accepted.len(), 4);
    for choice in [SheetChoice::Name("旧数据".into()), SheetChoice::Index(3)] {
        let one = ReadOptions { sheet: Some(choice), ..ReadOptions::default() };
        let o = run(L, &xlsx(&sheets), "a.xlsx", &one, &checks()).unwrap();
        assert_eq!(o.accepted.iter().map(|(s, _, _)| s.as_str()).collect::<Vec<_>>(), vec!["旧数据"]);
    }
    let missing = ReadOptions { sheet: Some(SheetChoice::Name("三月".into())), ..ReadOptions::default() };
    assert_eq!(
        file_error(L, &sheets, As::Xlsx, &missing),
        vec!["工作簿中没有工作表 \"三月\"；现有工作表：填报说明，一月，旧数据，二月 (no worksheet named or numbered 三月)"]
    );
}

#[test]
fn a_workbook_without_a_data_sheet_names_every_sheet() {
    let sheets = vec![
        sheet("填报说明", vec![vec![t("说明")]]),
        sheet("处罚", vec![header(P), row(P, 1, &[])]),
        sheet("Sheet3", vec![]),
    ];
    assert_eq!(
        file_error(L, &sheets, As::Xlsx, &ReadOptions::default()),
        vec![
            "工作簿中没有行政许可模板的数据工作表 (no worksheet holds license data)；工作表 \"填报说明\"：填报说明等非数据工作表，已跳过 \
             (instructions, not a data sheet: skipped)；工作表 \"处罚\"：表头是行政处罚模板，不是行政许可模板，已跳过（请用 --kind penalty \
             单独导入）(a penalty sheet, skipped)；工作表 \"Sheet3\"：空工作表 (empty worksheet)"
        ]
    );
}

#[test]
fn a_data_sheet_with_missing_columns_rejects_the_workbook_by_sheet() {
    let mut h = header(L);
    h.retain(|c| !matches!(c, C::T(x) if x == f::L_DOC_NO));
    let mut r = row(L, 1, &[]);
    r.truncate(h.len());
    let sheets = vec![sheet("一月", vec![header(L), row(L, 2, &[])]), sheet("二月", vec![h, r])];
    let e = file_error(L, &sheets, As::Xlsx, &ReadOptions::default());
    assert_eq!(
        e,
        vec!["工作表 \"二月\"：行政许可模板缺少必需列：行政许可决定文书号 (missing required columns for license)"]
    );
}

// ---- 2. Header detection ------------------------------------------------------------------------------------

#[test]
fn title_rows_notes_row_serial_column_and_trailing_serial_rows() {
    let mut h = vec![t("序号")];
    h.extend(header(L));
    let notes: Vec<C> = std::iter::once(t(""))
        .chain(fields(L).iter().map(|s| t(if s.required_column { "必填" } else { "选填" })))
        .collect();
    let with_serial = |n: f64, r: Vec<C>| std::iter::once(C::N(n)).chain(r).collect::<Vec<C>>();
    let mut s = sheet(
        "许可",
        vec![
            vec![t("芙蓉区2024年行政许可信息公示表")],
            vec![t("填报单位：芙蓉区市场监督管理局")],
            h,
            notes,
            with_serial(1.0, row(L, 1, &[])),
            with_serial(2.0, row(L, 2, &[])),
            vec![C::N(3.0)],
            vec![C::N(4.0)],
            vec![],
        ],
    );
    s.merges.push((0, 0, 0, 10));
    for (name, bytes) in files(&[s], As::Both) {
        let o = run(L, &bytes, name, &ReadOptions::default(), &checks()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(o.errors.is_empty(), "{name}: {:#?}", o.errors);
        let d = &o.export.data[0];
        assert_eq!(d.header_line, 3, "{name}");
        assert!(d.map.unknown.is_empty(), "{name}: 序号 is not an unknown column: {:?}", d.map.unknown);
        assert_eq!(
            d.notes,
            vec![
                "表头上方 2 行标题（如 \"芙蓉区2024年行政许可信息公示表\"）已跳过 (2 title row(s) above the header skipped)",
                "表头下第 1 行（第 4 行）是填写说明（必填/选填），已跳过 (notes row under the header skipped)",
                "2 行只有序号（或只有边框）没有数据，已跳过 (2 rows holding nothing but a 序号 skipped)",
            ],
            "{name}"
        );
        // Row numbers count from the line under the header (the notes row is row 1).
        assert_eq!(o.accepted.iter().map(|(_, r, _)| *r).collect::<Vec<_>>(), vec![2, 3], "{name}");
    }
    // Without a 序号 column, trailing rows with a bare row number in the first cell are the same thing.
    let s = sheet("许可", vec![header(L), row(L, 1, &[]), vec![C::N(2.0)], vec![t("3")]]);
    for (name, bytes) in files(&[s], As::Both) {
        let o = run(L, &bytes, name, &ReadOptions::default(), &checks()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((o.accepted.len(), o.errors.len()), (1, 0), "{name}: {:?}", o.errors);
        assert_eq!(
            o.export.data[0].notes,
            vec!["2 行只有序号（或只有边框）没有数据，已跳过 (2 rows holding nothing but a 序号 skipped)"],
            "{name}"
        );
    }
}

#[test]
fn national_field_code_headers_are_recognised_and_named() {
    let codes: BTreeMap<&str, &str> = gongxin_core::template::FIELD_CODES
        .iter()
        .filter(|(c, _)| c.starts_with("CF_") || *c == "BZ")
        .map(|(c, n)| (*n, *c))
        .collect();
    let h: Vec<C> = fields(P).iter().map(|s| t(codes.get(s.name).copied().unwrap_or(s.name))).collect();
    let s = sheet("Sheet1", vec![h, row(P, 1, &[]), row(P, 2, &[])]);
    for (name, bytes) in files(&[s], As::Both) {
        let o = run(P, &bytes, name, &ReadOptions::default(), &checks()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((o.accepted.len(), o.errors.len()), (2, 0), "{name}: {:?}", o.errors);
        assert_eq!(o.export.data[0].map.layout, gongxin_core::template::Layout::FieldCodes);
        assert!(
            o.export.sheets[0].detail.starts_with("信用中国数据交换格式（字段代码表头，如 XK_XDR_MC、CF_WSH）"),
            "{}",
            o.export.sheets[0].detail
        );
    }
}

#[test]
fn the_2016_layout_is_named_not_listed_as_missing_columns() {
    let h: Vec<C> = [
        "行政许可决定书文号",
        "项目名称",
        "审批类别",
        "许可内容",
        "行政相对人名称",
        "行政相对人代码_1(统一社会信用代码)",
        "行政相对人代码_2(组织机构代码)",
        "法定代表人姓名",
        "许可决定日期",
        "许可截止期",
        "许可机关",
        "当前状态",
        "地方编码",
        "数据更新时间戳",
    ]
    .iter()
    .map(|x| t(x))
    .collect();
    let s = sheet("Sheet1", vec![h, vec![t("x")]]);
    for e in file_error(L, &[s], As::Both, &ReadOptions::default()) {
        assert!(
            e.starts_with(
                "表头是2016 版双公示模板，无法对应到现行模板：表头含 项目名称、审批类别、许可截止期、数据更新时间戳"
            ),
            "{e}"
        );
        assert!(!e.contains("缺少必需列"), "{e}");
    }
}

// ---- 3. Cells -----------------------------------------------------------------------------------------------

#[test]
fn date_time_cells_with_a_zero_time_are_dates() {
    let s = sheet(
        "Sheet1",
        vec![header(L), row(L, 1, &[(f::L_DATE, C::D(2024, 3, 5, 0, 0, 0)), (f::L_FROM, C::D(2024, 3, 5, 0, 0, 0))])],
    );
    let recs = check_ok(L, &[s], As::Both, 1);
    let Record::License(l) = &recs[0] else { panic!() };
    assert_eq!((l.decision_date.to_string(), l.valid_from.to_string()), ("2024-03-05".into(), "2024-03-05".into()));
    // The text forms Java and Oracle systems write.
    for text in ["2024-03-05 00:00:00.0", "2024/3/5 0:00", "2024-03-05 00:00:00"] {
        let s = sheet("Sheet1", vec![header(L), row(L, 1, &[(f::L_DATE, t(text)), (f::L_FROM, t(text))])]);
        check_ok(L, &[s], As::Both, 1);
    }
}

#[test]
fn a_time_of_day_on_a_date_field_is_an_error_naming_it() {
    let s = sheet("Sheet1", vec![header(L), row(L, 1, &[(f::L_DATE, C::D(2024, 3, 5, 9, 30, 0))])]);
    check_one_error(
        L,
        &[s.clone()],
        As::Xlsx,
        1,
        f::L_DATE,
        "日期 '2024-03-05 09:30:00' 带有非零的时刻，此字段只填日期",
    );
    check_one_error(L, &[s], As::Csv, 1, f::L_DATE, "日期 '2024/3/5 9:30' 带有非零的时刻，此字段只填日期");
}

#[test]
fn a_date_serial_gets_a_hint() {
    let s = sheet("Sheet1", vec![header(L), row(L, 1, &[(f::L_DATE, C::N(45356.0))])]);
    check_one_error(
        L,
        &[s],
        As::Both,
        1,
        f::L_DATE,
        "日期 '45356' 是 Excel 日期序列号，即 2024-03-05：请将该列设为日期格式或按 YYYY/MM/DD 填写",
    );
}

#[test]
fn codes_in_number_cells() {
    // An 18-digit ID number in a number cell has lost its digits: say so, not "check character".
    let mut g = Generator::new(3, "430102");
    let id = g.id_number();
    let id_num: f64 = id[..17].parse::<f64>().unwrap() * 10.0 + 1.0;
    let person = |no: C| {
        row(
            P,
            1,
            &[
                (f::CATEGORY, t("自然人")),
                (f::NAME, t("张三")),
                (f::CODE1_USCC, t("")),
                (f::CODE3_ORG_CODE, t("")),
                (f::CODE4_TAX_NO, t("")),
                (f::LEGAL_REP, t("")),
                (f::LEGAL_REP_ID_TYPE, t("")),
                (f::LEGAL_REP_ID_NO, t("")),
                (f::ID_TYPE, t("身份证")),
                (f::ID_NO, no),
            ],
        )
    };
    let s = sheet("Sheet1", vec![header(P), person(C::N(id_num))]);
    check_one_error(P, &[s.clone()], As::Xlsx, 1, f::ID_NO, "单元格是数字格式，Excel 只保留 15 位有效数字");
    // As CSV, Excel writes it in scientific notation: that hint.
    check_one_error(P, &[s], As::Csv, 1, f::ID_NO, "身份证号码应为 18 位");
    // A 15-digit registration number fits a number cell exactly: read as typed.
    let reg = testdata::make_reg_no("430102", 12_345);
    let shop = |reg: C| {
        row(
            L,
            1,
            &[
                (f::CATEGORY, t("个体工商户")),
                (f::CODE1_USCC, t(gongxin_core::uscc::PLACEHOLDER)),
                (f::CODE2_REG_NO, reg),
                (f::CODE3_ORG_CODE, t("")),
                (f::CODE4_TAX_NO, t("")),
            ],
        )
    };
    let s = sheet("Sheet1", vec![header(L), shop(C::N(reg.parse::<f64>().unwrap()))]);
    let recs = check_ok(L, &[s], As::Xlsx, 1);
    let Record::License(l) = &recs[0] else { panic!() };
    assert_eq!(l.subject.reg_no.as_deref(), Some(reg.as_str()));
    // A code in a number cell that fails its check also says the cell is a number.
    let s = sheet("Sheet1", vec![header(L), row(L, 1, &[(f::CODE3_ORG_CODE, C::N(12_345_678.0))])]);
    for (name, bytes) in files(&[s], As::Xlsx) {
        let o = run(L, &bytes, name, &ReadOptions::default(), &checks()).unwrap();
        let reasons: Vec<&str> = o.errors.iter().map(|(_, e)| e.reason.as_str()).collect();
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert!(
            reasons[0].ends_with("；该单元格是数字格式（开头的 0、末位 X 会丢失）：请将该列设为文本 (the cell is a number: set the column to text)"),
            "{reasons:?}"
        );
    }
}

#[test]
fn merged_cells_are_reported_as_merged() {
    let mut s = sheet("Sheet1", vec![header(L), row(L, 1, &[]), row(L, 2, &[]), row(L, 3, &[])]);
    let col = fields(L).iter().position(|x| x.name == f::L_AUTHORITY).unwrap() as u16;
    s.merges.push((1, col, 3, col));
    let o = run(L, &xlsx(&[s]), "a.xlsx", &ReadOptions::default(), &checks()).unwrap();
    let got: Vec<(u64, &str, &str)> =
        o.errors.iter().map(|(_, e)| (e.row, e.field.as_str(), e.reason.as_str())).collect();
    let why = "单元格属于合并单元格，值只在第 1 行：请取消合并并在每一行填写 (merged cell: the value is only in row 1; unmerge and fill every row)";
    assert_eq!(got, vec![(2, f::L_AUTHORITY, why), (3, f::L_AUTHORITY, why)]);
}

#[test]
fn placeholders_in_optional_amounts_are_empty() {
    for p in ["/", "无", "—"] {
        let s = sheet(
            "Sheet1",
            vec![header(P), row(P, 1, &[(f::P_CATEGORY, t("警告")), (f::P_FINE, t(p)), (f::P_CONFISCATION, t(p))])],
        );
        let recs = check_ok(P, &[s], As::Both, 1);
        let Record::Penalty(x) = &recs[0] else { panic!() };
        assert_eq!((x.fine, x.confiscation), (None, None), "{p}");
    }
}

#[test]
fn long_term_in_valid_until_is_2099_12_31() {
    let s = sheet("Sheet1", vec![header(L), row(L, 1, &[(f::L_TO, t("长期"))])]);
    let recs = check_ok(L, &[s], As::Both, 1);
    let Record::License(l) = &recs[0] else { panic!() };
    assert!(l.valid_to.is_long_term());
    let s = sheet("Sheet1", vec![header(L), row(L, 1, &[(f::L_DATE, t("长期"))])]);
    check_one_error(L, &[s], As::Both, 1, f::L_DATE, "'长期' 只能用于有效期至/处罚有效期，此处应填日期");
}

#[test]
fn invisible_characters_are_named_with_their_code_point() {
    let code = value(L, 1, f::CODE1_USCC);
    for (bad, msg) in [
        (format!("{code}\u{200B}"), "第 19 个字符是不可见字符 零宽空格 U+200B，请删除 (character 19 is the invisible ZERO WIDTH SPACE U+200B: delete it)"),
        (format!("{}\u{00A0}{}", &code[..9], &code[9..]), "第 10 个字符是不可见字符 不换行空格 U+00A0，请删除 (character 10 is the invisible NO-BREAK SPACE U+00A0: delete it)"),
        (format!("\u{FEFF}\u{200D}{code}"), "第 1 个字符是不可见字符 零宽连接符 U+200D，请删除 (character 1 is the invisible ZERO WIDTH JOINER U+200D: delete it)"),
    ] {
        let s = sheet("Sheet1", vec![header(L), row(L, 1, &[(f::CODE1_USCC, C::T(bad))])]);
        check_one_error(L, &[s], As::Both, 1, f::CODE1_USCC, msg);
    }
    // In a name, too (a zero-width space makes two subjects of one).
    let s = sheet("Sheet1", vec![header(L), row(L, 1, &[(f::NAME, t("长沙\u{200B}某某有限公司"))])]);
    check_one_error(L, &[s], As::Both, 1, f::NAME, "第 3 个字符是不可见字符 零宽空格 U+200B");
}

#[test]
fn a_leading_apostrophe_on_a_code_is_explained() {
    let code = value(L, 1, f::CODE1_USCC);
    let s = sheet("Sheet1", vec![header(L), row(L, 1, &[(f::CODE1_USCC, C::T(format!("'{code}")))])]);
    check_one_error(
        L,
        &[s],
        As::Both,
        1,
        f::CODE1_USCC,
        &format!("开头的 ' 是 Excel 的文本标记，导出时被当成了字符：请删除开头的 '，实际值为 {code}"),
    );
}

// ---- 6. Plausibility ----------------------------------------------------------------------------------------

#[test]
fn decision_dates_in_the_future_are_refused() {
    let s = sheet("Sheet1", vec![header(L), row(L, 1, &[(f::L_DATE, t("2026/12/03")), (f::L_FROM, t("2026/12/03"))])]);
    check_one_error(
        L,
        &[s],
        As::Both,
        1,
        f::L_DATE,
        "日期 2026-12-03 晚于今天 2026-12-02 (decision date is in the future)",
    );
}

#[test]
fn impossible_id_numbers_are_refused() {
    let person = |id: &str| {
        row(
            P,
            1,
            &[
                (f::CATEGORY, t("自然人")),
                (f::NAME, t("张三")),
                (f::CODE1_USCC, t("")),
                (f::CODE3_ORG_CODE, t("")),
                (f::CODE4_TAX_NO, t("")),
                (f::LEGAL_REP, t("")),
                (f::LEGAL_REP_ID_TYPE, t("")),
                (f::LEGAL_REP_ID_NO, t("")),
                (f::ID_TYPE, t("身份证")),
                (f::ID_NO, t(id)),
                (f::P_DATE, t("2024/03/05")),
                (f::P_VALID_UNTIL, t("2025/03/05")),
                (f::P_PUBLICITY_UNTIL, t("2025/03/05")),
            ],
        )
    };
    for (id, why) in [
        (testdata::make_id("430102", 2024, 6, 1, 11), "身份证号码中的出生日期 2024-06-01 晚于处罚决定日期 2024-03-05"),
        (testdata::make_id("430102", 1899, 6, 1, 11), "身份证号码中的出生日期 1899-06-01 早于 1900 年"),
        (testdata::make_id("990102", 1980, 6, 1, 11), "身份证号码前 2 位 99 不是省级行政区划代码"),
        (testdata::make_id("439999", 1980, 6, 1, 11), "身份证号码地址码 439999 不在湖南省行政区划表（含历史代码）中"),
    ] {
        let s = sheet("Sheet1", vec![header(P), person(&id)]);
        check_one_error(P, &[s], As::Both, 1, f::ID_NO, why);
    }
    // Another province's ID numbers are fine.
    let s = sheet("Sheet1", vec![header(P), person(&testdata::make_id("110105", 1980, 6, 1, 11))]);
    check_ok(P, &[s], As::Both, 1);
}

#[test]
fn uscc_positions_1_and_2_must_be_a_registration_authority_and_type() {
    let body = "MA4L0000";
    for (first, second, why) in [
        ('B', '1', "第 1 位登记管理部门代码 'B' 不存在（应为 1–9、A、N、Y）"),
        ('9', '9', "第 2 位机构类别代码 '9' 不是登记管理部门 9（工商（市场监管））的机构类别（应为 1/2/3）"),
    ] {
        let code = testdata::make_uscc(first, second, "430102", body);
        let s = sheet("Sheet1", vec![header(L), row(L, 1, &[(f::CODE1_USCC, C::T(code)), (f::CODE3_ORG_CODE, t(""))])]);
        check_one_error(L, &[s], As::Both, 1, f::CODE1_USCC, why);
    }
}

#[test]
fn a_division_code_retired_before_the_decision_is_an_error_or_an_allowed_warning() {
    // 430122 望城县 was retired in 2011.
    let s = sheet("Sheet1", vec![header(L), row(L, 1, &[(f::DIVISION, t("430122"))])]);
    check_one_error(
        L,
        &[s.clone()],
        As::Both,
        1,
        f::DIVISION,
        "地方编码 430122（望城县）已于 2011 年停用，早于决定日期",
    );
    let allow = Checks { allow_retired_division: true, ..checks() };
    let o = run(L, &csv(&s), "a.csv", &ReadOptions::default(), &allow).unwrap();
    assert_eq!((o.accepted.len(), o.errors.len(), o.warnings.len()), (1, 0, 1));
    assert!(o.warnings[0].1.reason.ends_with("；已按 --allow-retired-division 接受 (accepted as asked)"));
}

#[test]
fn publicity_end_is_judged_by_the_rule_in_force_on_the_decision_date() {
    // Not market regulation, decided under 国家发展改革委令第58号: 3 months to 3 years.
    let general = [
        (f::P_DATE, t("2024/03/05")),
        (f::P_VALID_UNTIL, t("2025/03/05")),
        (f::P_AUTHORITY, t("长沙市芙蓉区城市管理和综合执法局")),
        (f::P_VIOLATION_TYPE, t("未经批准设置户外广告")),
        (f::P_BASIS, t("《城市市容和环境卫生管理条例》第三十六条")),
        (f::P_CATEGORY, t("罚款")),
        (f::P_CONTENT, t("罚款人民币5000元")),
        (f::P_FINE, t("0.5")),
        (f::P_CONFISCATION, t("")),
        (f::P_SUSPENDED, t("")),
    ];
    // A market-regulation fine of 5,000 yuan for a company under 市场监管总局令第45号: exactly 3 months.
    let mut market = general.to_vec();
    market[2] = (f::P_AUTHORITY, t("长沙市芙蓉区市场监督管理局"));
    let cases: [(&[(&str, C)], &str, Option<(&str, &str, &str)>); 6] = [
        (&general, "2024/06/05", None),
        (&general, "2027/03/05", None),
        (&general, "2024/06/04", Some(("国家发展改革委令第58号", "2024-06-05", "2027-03-05"))),
        (&general, "2027/03/06", Some(("国家发展改革委令第58号", "2024-06-05", "2027-03-05"))),
        (&market, "2024/06/05", None),
        (&market, "2025/03/05", Some(("市场监管总局令第45号", "2024-06-05", "2024-06-05"))),
    ];
    for (base, until, err) in cases {
        let mut e = base.to_vec();
        e.push((f::P_PUBLICITY_UNTIL, t(until)));
        let s = sheet("Sheet1", vec![header(P), row(P, 1, &e)]);
        match err {
            None => {
                check_ok(P, &[s], As::Both, 1);
            }
            Some((rule, min, max)) => {
                let shown = until.replace('/', "-");
                let why = format!("公示截止期 {shown} 不符合《{rule}》：应在 {min} 至 {max} 之间");
                check_one_error(P, &[s], As::Both, 1, f::P_PUBLICITY_UNTIL, &why);
            }
        }
    }
}

// ---- 4. Identity --------------------------------------------------------------------------------------------

#[test]
fn the_natural_key_includes_the_subject() {
    let a = row(L, 1, &[(f::L_DOC_NO, t("无"))]);
    let b = row(L, 2, &[(f::L_DOC_NO, t("无"))]);
    let s = sheet("Sheet1", vec![header(L), a, b]);
    let recs = check_ok(L, &[s], As::Both, 2);
    assert_ne!(recs[0].natural_key(), recs[1].natural_key());
    assert!(recs[0].natural_key().ends_with(&format!("|无|{}", value(L, 1, f::CODE1_USCC))));
}

// ---- The list template ----------------------------------------------------------------------------------------

#[test]
fn list_rows_become_list_entries() {
    let mut g = Generator::new(5, "430102");
    let mut rows = vec![header(Kind::List)];
    for _ in 0..30 {
        let m = g.list_row();
        rows.push(fields(Kind::List).iter().map(|s| C::T(m.get(s.name).cloned().unwrap_or_default())).collect());
    }
    let recs = check_ok(Kind::List, &[sheet("名单", rows)], As::Both, 30);
    use gongxin_core::record::SubjectCategory as S;
    let mut cats = std::collections::BTreeSet::new();
    for r in &recs {
        let Record::ListEntry(e) = r else { panic!("{r:?}") };
        cats.insert(e.subject.category);
        assert_eq!(e.catalogue_version, None);
        if e.subject.uscc.as_deref().is_some_and(|u| u.starts_with("92")) {
            assert_eq!(e.subject.category, S::IndividualBusiness);
        }
    }
    assert_eq!(cats.len(), 3, "{cats:?}");
}

fn list_row(edits: &[(&str, &str)]) -> Vec<C> {
    let mut m: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in [
        (f::LS_NAME, "长沙某某有限公司"),
        (f::LS_USCC, ""),
        (f::LS_TYPE, "严重失信主体名单"),
        (f::LS_REASON, "提供虚假材料"),
        (f::LS_BASIS, "《严重失信主体名单管理办法》第八条"),
        (f::LS_DOC_NO, "芙市监列字〔2024〕1号"),
        (f::LS_START, "2024/03/05"),
        (f::LS_END, "长期"),
        (f::LS_AUTHORITY, "芙蓉区市场监督管理局"),
        (f::LS_MEASURES, "政府采购、财政资金；行政许可,政府采购"),
    ] {
        m.insert(k.into(), v.into());
    }
    m.insert(f::LS_USCC.into(), value(L, 1, f::CODE1_USCC));
    m.insert(f::LS_AUTHORITY_USCC.into(), value(L, 1, f::L_AUTHORITY_USCC));
    for (k, v) in edits {
        m.insert((*k).into(), (*v).into());
    }
    fields(Kind::List).iter().map(|s| C::T(m.get(s.name).cloned().unwrap_or_default())).collect()
}

#[test]
fn list_measures_long_term_and_errors() {
    let s = sheet("名单", vec![header(Kind::List), list_row(&[])]);
    let recs = check_ok(Kind::List, &[s], As::Both, 1);
    let Record::ListEntry(e) = &recs[0] else { panic!() };
    assert_eq!(e.measures, vec!["政府采购", "财政资金", "行政许可"]);
    assert!(e.end.is_long_term());
    assert_eq!(e.list_type, gongxin_core::record::ListType::SeriousDishonesty);

    let s = sheet("名单", vec![header(Kind::List), list_row(&[(f::LS_END, "2024/01/01")])]);
    check_one_error(Kind::List, &[s], As::Both, 1, f::LS_END, "有效期至 2024-01-01 早于 列入日期 2024-03-05");
    let s = sheet("名单", vec![header(Kind::List), list_row(&[(f::LS_TYPE, "黑名单")])]);
    check_one_error(Kind::List, &[s], As::Both, 1, f::LS_TYPE, "'黑名单' 不是允许的取值");
    let s = sheet("名单", vec![header(Kind::List), list_row(&[(f::LS_USCC, "")])]);
    check_one_error(Kind::List, &[s], As::Both, 1, f::LS_USCC, "统一社会信用代码与证件类型+证件号码必须填一项");
    let id = testdata::make_id("430102", 1980, 6, 1, 11);
    let s = sheet(
        "名单",
        vec![
            header(Kind::List),
            list_row(&[(f::LS_USCC, ""), (f::LS_ID_TYPE, "身份证"), (f::LS_ID_NO, &id), (f::LS_NAME, "张三")]),
        ],
    );
    let recs = check_ok(Kind::List, &[s], As::Both, 1);
    let Record::ListEntry(e) = &recs[0] else { panic!() };
    assert_eq!(e.subject.category, gongxin_core::record::SubjectCategory::NaturalPerson);
    assert_eq!(e.subject.id_no.as_deref(), Some(id.as_str()));
    // A list file is not a licence file and says so.
    let s = sheet("名单", vec![header(Kind::List), list_row(&[])]);
    let e = file_error(L, &[s], As::Csv, &ReadOptions::default());
    assert!(e[0].contains("--kind list"), "{e:?}");
}

// ---- 5. Belongs here ------------------------------------------------------------------------------------------

#[test]
fn rows_of_another_county_do_not_belong_here() {
    use gongxin_core::template::{belongs_to, validate_row};
    let refs = RefData::embedded();
    let mut g = Generator::new(7, "430102");
    let rec = validate_row(L, 1, &g.row(L), refs).unwrap();
    assert_eq!(belongs_to(&rec, "430102", refs), Ok(()));
    assert_eq!(belongs_to(&rec, "430100", refs), Ok(()));
    assert_eq!(belongs_to(&rec, "430000", refs), Ok(()));
    let (field, why) = belongs_to(&rec, "430104", refs).unwrap_err();
    assert_eq!(field, f::DIVISION);
    assert!(why.starts_with("地方编码 430102（芙蓉区）不属于本节点 430104（岳麓区）的辖区"), "{why}");
    // Without 地方编码: the authority's registration division decides; a city authority is fine in its county.
    let mut row = g.row(L);
    row.remove(f::DIVISION);
    let rec = validate_row(L, 1, &row, refs).unwrap();
    assert_eq!(belongs_to(&rec, "430102", refs), Ok(()));
    assert_eq!(belongs_to(&rec, "430104", refs).map_err(|e| e.0), Err(f::L_AUTHORITY_USCC.to_string()));
}
