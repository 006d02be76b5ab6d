//! `gongxin validate --kind license|penalty FILE [-o json]`: checks a department export offline, with the
//! node's own validation code, and lists every rejected row with its row number, field and reason.
//!
//! Exit codes: 0 every row passes, 1 some row is rejected, 2 usage error (bad arguments, unreadable file,
//! unknown encoding, missing template column).

use crate::{exit, Output};
use clap::Args as ClapArgs;
use comfy_table::{ContentArrangement, Table};
use gongxin_core::sheet;
use gongxin_core::template::{self, Kind, RefData, RowError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Template of the file: license (行政许可) or penalty (行政处罚).
    #[arg(long)]
    pub kind: Kind,
    /// CSV (UTF-8, UTF-8 with BOM, GB18030) or XLSX department export.
    pub file: PathBuf,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

/// The JSON report, fields in this order.
#[derive(Debug, Serialize)]
pub struct Report {
    pub accepted: u64,
    pub rejected: u64,
    pub errors: Vec<RowError>,
}

/// Outcome of checking one file's bytes: the report plus warnings for stderr.
pub struct Checked {
    pub report: Report,
    pub warnings: Vec<String>,
    pub source_format: String,
}

/// Validates the bytes of a department export. `Err` is a file-level problem (usage error).
pub fn check_bytes(kind: Kind, bytes: &[u8], file_name: &str) -> Result<Checked, template::FileError> {
    let table = sheet::read_table(bytes, file_name)?;
    let map = template::map_headers(kind, &table.headers)?;
    let mut warnings = map.warnings();
    let refs = RefData::embedded();
    let mut report = Report { accepted: 0, rejected: 0, errors: Vec::new() };
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for (row, fields) in sheet::iter_rows(&table, &map) {
        match template::validate_row(kind, row, &fields, refs) {
            Ok(record) => {
                report.accepted += 1;
                if let Some(first) = seen.insert(record.natural_key(), row) {
                    warnings.push(format!(
                        "第 {row} 行与第 {first} 行的机关和决定文书号相同，导入时将作为重复记录跳过 \
                         (row {row} repeats the authority and document number of row {first}; import will skip it)"
                    ));
                }
            }
            Err(errs) => {
                report.rejected += 1;
                report.errors.extend(errs);
            }
        }
    }
    if report.accepted + report.rejected == 0 {
        warnings.push("文件只有表头，没有数据行 (the file has a header but no data rows)".to_string());
    }
    Ok(Checked { report, warnings, source_format: table.source_format })
}

pub fn run(args: Args) -> i32 {
    let shown = args.file.display().to_string();
    let bytes = match crate::files::read_bounded(&args.file, sheet::Limits::default().file_bytes, true) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("错误 error: 无法读取文件 cannot read {shown}: {e}");
            return exit::USAGE;
        }
    };
    let name = args.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let checked = match check_bytes(args.kind, &bytes, &name) {
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
            if !r.errors.is_empty() {
                let mut t = Table::new();
                t.set_content_arrangement(ContentArrangement::Dynamic);
                t.set_header(vec!["行 row", "字段 field", "原因 reason"]);
                for e in &r.errors {
                    t.add_row(vec![e.row.to_string(), e.field.clone(), e.reason.clone()]);
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
