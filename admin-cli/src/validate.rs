//! `gongxin validate --kind license|penalty|list FILE [--sheet NAME|N] [-o json]`: checks a department export
//! offline, with the node's own validation code, and lists every rejected row with its row number, field and
//! reason. Workbooks: every visible worksheet whose header matches the template is read; each sheet is
//! reported as read or skipped, and why.
//!
//! Exit codes: 0 every row passes, 1 some row is rejected, 2 usage error (bad arguments, unreadable file,
//! unknown encoding, missing template column, no data sheet).

use crate::{exit, Output};
use clap::Args as ClapArgs;
use comfy_table::{ContentArrangement, Table};
use gongxin_core::layout::{self, ReadOptions, SheetChoice};
use gongxin_core::template::{self, Checks, Kind, RefData};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How many rows a summary of repeated rows names before it says "and N more".
pub const SHOW_FIRST: usize = 5;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Template of the file: license (行政许可), penalty (行政处罚) or list (名单).
    #[arg(long)]
    pub kind: Kind,
    /// CSV (UTF-8, UTF-8 with BOM, GB18030) or XLSX department export.
    pub file: PathBuf,
    /// Read only this worksheet of a workbook: its name, or its position counting from 1 (hidden sheets too).
    #[arg(long)]
    pub sheet: Option<SheetChoice>,
    /// Also read hidden worksheets.
    #[arg(long)]
    pub include_hidden: bool,
    /// Accept a 地方编码 retired before the decision date (old records), with a warning.
    #[arg(long)]
    pub allow_retired_division: bool,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

/// One problem of one row, with its worksheet when the file is a workbook.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SheetRowError {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sheet: String,
    pub row: u64,
    pub field: String,
    pub reason: String,
}

/// What happened to one worksheet.
#[derive(Debug, Clone, Serialize)]
pub struct SheetInfo {
    pub name: String,
    pub read: bool,
    pub detail: String,
}

/// The JSON report, fields in this order (`sheets` only for workbooks).
#[derive(Debug, Serialize)]
pub struct Report {
    pub accepted: u64,
    pub rejected: u64,
    pub errors: Vec<SheetRowError>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sheets: Vec<SheetInfo>,
}

/// Outcome of checking one file's bytes: the report plus warnings for stderr.
pub struct Checked {
    pub report: Report,
    pub warnings: Vec<String>,
    pub source_format: String,
}

/// Options of [`check_bytes_with`].
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    pub read: ReadOptions,
    pub checks: Checks,
}

/// Today in China (UTC+8).
pub fn today_cn() -> Option<gongxin_core::date::Day> {
    let offset = time::UtcOffset::from_hms(8, 0, 0).ok()?;
    Some(gongxin_core::date::Day(time::OffsetDateTime::now_utc().to_offset(offset).date()))
}

/// "row 3, row 9, … and 4 more" for a list of rows (summaries instead of one line each).
pub fn summarise_rows(rows: &[String]) -> String {
    let mut s = rows.iter().take(SHOW_FIRST).cloned().collect::<Vec<_>>().join("、");
    if rows.len() > SHOW_FIRST {
        s.push_str(&format!(" 等，另有 {} 行 (and {} more)", rows.len() - SHOW_FIRST, rows.len() - SHOW_FIRST));
    }
    s
}

/// Validates the bytes of a department export (today's date, first matching sheets). `Err` is a file-level
/// problem (usage error).
pub fn check_bytes(kind: Kind, bytes: &[u8], file_name: &str) -> Result<Checked, template::FileError> {
    let opts = CheckOptions { checks: Checks { today: today_cn(), ..Checks::default() }, ..CheckOptions::default() };
    check_bytes_with(kind, bytes, file_name, &opts)
}

pub fn check_bytes_with(
    kind: Kind,
    bytes: &[u8],
    file_name: &str,
    opts: &CheckOptions,
) -> Result<Checked, template::FileError> {
    let export = layout::read_export(kind, bytes, file_name, &opts.read)?;
    let refs = RefData::embedded();
    let multi = export.is_workbook;
    let mut warnings = Vec::new();
    let mut report = Report { accepted: 0, rejected: 0, errors: Vec::new(), sheets: Vec::new() };
    if multi {
        for s in &export.sheets {
            report.sheets.push(SheetInfo { name: s.name.clone(), read: s.read, detail: s.detail.clone() });
            if !s.read {
                warnings.push(format!("工作表 \"{}\" 未读取 (sheet not read)：{}", s.name, s.detail));
            }
        }
    }
    let mut seen: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut repeats: Vec<String> = Vec::new();
    for d in &export.data {
        let at = |row: u64| if multi { format!("\"{}\" 第 {row} 行", d.name) } else { format!("第 {row} 行") };
        if !multi && d.map.layout != template::Layout::Template {
            warnings.push(format!("表头格式 layout: {}", d.map.layout.describe(kind)));
        }
        for w in d.map.warnings() {
            warnings.push(if multi { format!("工作表 \"{}\"：{w}", d.name) } else { w });
        }
        for n in &d.notes {
            warnings.push(if multi { format!("工作表 \"{}\"：{n}", d.name) } else { n.clone() });
        }
        for r in &d.rows {
            let (result, row_warnings) =
                template::validate_row_with(kind, r.row, &r.fields, &r.notes, refs, &opts.checks);
            for w in row_warnings {
                warnings.push(format!("{}，字段 {}：{}", at(w.row), w.field, w.reason));
            }
            match result {
                Ok(record) => {
                    report.accepted += 1;
                    if let Some((first_sheet, first)) = seen.get(&record.natural_key()) {
                        let first_at = if multi {
                            format!("\"{first_sheet}\" 第 {first} 行")
                        } else {
                            format!("第 {first} 行")
                        };
                        repeats.push(format!("{}（同{first_at}）", at(r.row)));
                    } else {
                        seen.insert(record.natural_key(), (d.name.clone(), r.row));
                    }
                }
                Err(errs) => {
                    report.rejected += 1;
                    report.errors.extend(errs.into_iter().map(|e| SheetRowError {
                        sheet: if multi { d.name.clone() } else { String::new() },
                        row: e.row,
                        field: e.field,
                        reason: e.reason,
                    }));
                }
            }
        }
    }
    if !repeats.is_empty() {
        warnings.push(format!(
            "{} 行与前面的行机关、决定文书号和主体相同，导入时将作为重复记录跳过：{} \
             ({} rows repeat an earlier row's authority, document number and subject; import will skip them)",
            repeats.len(),
            summarise_rows(&repeats),
            repeats.len()
        ));
    }
    if report.accepted + report.rejected == 0 {
        warnings.push("文件只有表头，没有数据行 (the file has a header but no data rows)".to_string());
    }
    Ok(Checked { report, warnings, source_format: export.source_format })
}

pub fn run(args: Args) -> i32 {
    let shown = args.file.display().to_string();
    let bytes = match crate::files::read_bounded(&args.file, gongxin_core::sheet::Limits::default().file_bytes, true) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("错误 error: 无法读取文件 cannot read {shown}: {e}");
            return exit::USAGE;
        }
    };
    let name = args.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let opts = CheckOptions {
        read: ReadOptions { sheet: args.sheet.clone(), include_hidden: args.include_hidden, ..ReadOptions::default() },
        checks: Checks { today: today_cn(), allow_retired_division: args.allow_retired_division },
    };
    let checked = match check_bytes_with(args.kind, &bytes, &name, &opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("错误 error: {shown}: {e}");
            return exit::USAGE;
        }
    };
    for w in &checked.warnings {
        eprintln!("警告 warning: {w}");
    }
    let r = &checked.report;
    match args.output {
        Output::Json => match serde_json::to_string(r) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("错误 error: cannot encode the report: {e}");
                return exit::USAGE;
            }
        },
        Output::Table => {
            for s in r.sheets.iter().filter(|s| s.read) {
                println!("工作表 sheet \"{}\"：{}", s.name, s.detail);
            }
            if !r.errors.is_empty() {
                let mut t = Table::new();
                t.set_content_arrangement(ContentArrangement::Dynamic);
                let multi = !r.sheets.is_empty();
                if multi {
                    t.set_header(vec!["工作表 sheet", "行 row", "字段 field", "原因 reason"]);
                } else {
                    t.set_header(vec!["行 row", "字段 field", "原因 reason"]);
                }
                for e in &r.errors {
                    let mut cells = vec![e.row.to_string(), e.field.clone(), e.reason.clone()];
                    if multi {
                        cells.insert(0, e.sheet.clone());
                    }
                    t.add_row(cells);
                }
                println!("{t}");
            }
            println!(
                "{shown}（{}，{}）：共 {} 行，通过 {}，拒绝 {} (rows {}, accepted {}, rejected {})",
                args.kind.chinese(),
                checked.source_format,
                r.accepted + r.rejected,
                r.accepted,
                r.rejected,
                r.accepted + r.rejected,
                r.accepted,
                r.rejected
            );
            if r.rejected == 0 && r.accepted > 0 {
                eprintln!("下一步 next: gongxin import --data-dir DIR --kind {} {shown}", args.kind);
            }
        }
    }
    if r.rejected > 0 {
        exit::PROBLEMS
    } else {
        exit::OK
    }
}
