//! `gongxin import --data-dir DIR --kind license|penalty|list FILE [--sheet NAME|N] [--dry-run] [-o json]`: send a
//! department export to the node, which validates, signs and appends it chunk by chunk (each chunk one atomic,
//! flushed batch). Workbooks: every visible worksheet in the template, each reported as read or skipped.
//! A row whose key is already stored with other content is reported as a change (with the fields that differ),
//! never skipped silently; repeated rows are summarised (count and the first few).

use crate::validate::summarise_rows;
use crate::{client, exit, Output};
use clap::Args as ClapArgs;
use gongxin_core::layout::{self, ReadOptions, SheetChoice};
use gongxin_core::{sheet, template};
use gongxin_proto::admin::v1 as pb;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Rows per import call (the node caps a call at 5 000).
const CHUNK_ROWS: usize = 1_000;

/// Changed rows listed one per line before the rest are summarised.
const SHOW_CHANGES: usize = 20;

#[derive(ClapArgs, Debug)]
pub struct Args {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Template of the file: license (行政许可), penalty (行政处罚) or list (名单).
    #[arg(long)]
    pub kind: template::Kind,
    /// Read only this worksheet of a workbook: its name, or its position counting from 1 (hidden sheets too).
    #[arg(long)]
    pub sheet: Option<SheetChoice>,
    /// Also read hidden worksheets.
    #[arg(long)]
    pub include_hidden: bool,
    /// Show what the import would do (accept, skip, change, reject) without writing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Accept rows whose 地方编码/authority lies outside this node's subtree, for this reason (logged by the node).
    #[arg(long, value_name = "REASON")]
    pub foreign: Option<String>,
    /// Accept a 地方编码 retired before the decision date (old records), with a warning.
    #[arg(long)]
    pub allow_retired_division: bool,
    /// CSV (UTF-8 or GB18030) or XLSX department export.
    pub file: PathBuf,
    /// Government sharing class of every row (无条件共享 / 有条件共享 / 不予共享), as the department's data
    /// catalogue sets it; default: per record (自然人 → 有条件共享, otherwise 无条件共享).
    #[arg(long)]
    pub share: Option<String>,
    /// Where to write the rejected rows (default: FILE.rejects.csv next to the file).
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

fn default_rejects_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".rejects.csv");
    file.with_file_name(name)
}

/// Writes the rejected rows as they were in the file, with a leading 行号 and a trailing 错误原因 column, in
/// UTF-8 with BOM so Excel opens it correctly.
pub fn write_rejects(
    path: &Path,
    table: &sheet::Table,
    errors: &BTreeMap<u64, Vec<pb::RowError>>,
) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["行号".to_string()];
    header.extend(table.headers.iter().map(|h| neutralise(h)));
    header.push("错误原因".into());
    w.write_record(&header)?;
    for (row, errs) in errors {
        let cells = table.rows.get((*row as usize).wrapping_sub(1)).cloned().unwrap_or_default();
        let mut rec = vec![row.to_string()];
        rec.extend(cells);
        rec.resize(table.headers.len() + 1, String::new());
        rec.push(errs.iter().map(|e| format!("{}: {}", e.field, e.reason)).collect::<Vec<_>>().join("；"));
        w.write_record(rec.iter().map(|c| neutralise(c)))?;
    }
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend(w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?);
    crate::files::write_private(path, &bytes)?;
    Ok(())
}

/// A cell as it may go into a file meant for Excel: one starting with `= + - @`, a tab or a carriage return
/// would be read as a formula (`=HYPERLINK(…)`, `=cmd|…`), so it gets a leading `'`, which Excel shows as text.
pub fn neutralise(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

/// Everything the node said about one worksheet.
#[derive(Default)]
struct SheetOutcome {
    accepted: u64,
    duplicates: u64,
    errors: BTreeMap<u64, Vec<pb::RowError>>,
    skipped: Vec<pb::RowError>,
    changed: Vec<pb::RowError>,
    warnings: Vec<pb::RowError>,
}

/// Writes the rejected rows of every sheet: like [`write_rejects`], with a leading 工作表 column when more than
/// one sheet was read.
fn write_rejects_sheets(path: &Path, sheets: &[(&layout::DataSheet, &SheetOutcome)]) -> anyhow::Result<()> {
    if let [(d, o)] = sheets {
        let table = sheet::Table { headers: d.headers.clone(), rows: d.cells.clone(), source_format: String::new() };
        return write_rejects(path, &table, &o.errors);
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let width = sheets.iter().map(|(d, _)| d.headers.len()).max().unwrap_or(0);
    let mut header = vec!["工作表".to_string(), "行号".to_string()];
    if let Some((d, _)) = sheets.first() {
        header.extend(d.headers.iter().map(|h| neutralise(h)));
    }
    header.resize(width + 2, String::new());
    header.push("错误原因".into());
    w.write_record(&header)?;
    for (d, o) in sheets {
        for (row, errs) in &o.errors {
            let cells = d.cells.get((*row as usize).wrapping_sub(1)).cloned().unwrap_or_default();
            let mut rec = vec![d.name.clone(), row.to_string()];
            rec.extend(cells);
            rec.resize(width + 2, String::new());
            rec.push(errs.iter().map(|e| format!("{}: {}", e.field, e.reason)).collect::<Vec<_>>().join("；"));
            w.write_record(rec.iter().map(|c| neutralise(c)))?;
        }
    }
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend(w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?);
    crate::files::write_private(path, &bytes)?;
    Ok(())
}

pub fn run(a: Args) -> i32 {
    let bytes = match crate::files::read_bounded(&a.file, sheet::Limits::default().file_bytes, true) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("错误 error: 无法读取 cannot read {}: {e}", a.file.display());
            return exit::USAGE;
        }
    };
    let name = a.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let opts = ReadOptions { sheet: a.sheet.clone(), include_hidden: a.include_hidden, ..ReadOptions::default() };
    let export = match layout::read_export(a.kind, &bytes, &name, &opts) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("错误 error: {}: {e}", a.file.display());
            return exit::USAGE;
        }
    };
    if let Some(reason) = &a.foreign {
        if reason.trim().is_empty() {
            eprintln!("错误 error: --foreign 需要写明原因 (--foreign needs a reason)");
            return exit::USAGE;
        }
    }
    let multi = export.is_workbook;
    let prefix = |d: &layout::DataSheet| if multi { format!("工作表 \"{}\" ", d.name) } else { String::new() };
    if multi {
        for s in &export.sheets {
            let verb = if s.read { "读取 read" } else { "跳过 skipped" };
            eprintln!("工作表 sheet \"{}\"：{verb}：{}", s.name, s.detail);
        }
    }
    for d in &export.data {
        if !multi && d.map.layout != template::Layout::Template {
            eprintln!("提示 note: 表头格式 layout: {}", d.map.layout.describe(a.kind));
        }
        for w in d.map.warnings() {
            eprintln!("警告 warning: {}{w}", prefix(d));
        }
        for n in &d.notes {
            eprintln!("提示 note: {}{n}", prefix(d));
        }
    }
    // Before any row is sent: a mistyped --data-dir or a stopped node is said as such, not as an interrupted import.
    if let Err(u) = client::probe(&a.data_dir) {
        eprintln!("错误 error: {}", u.message(&a.data_dir));
        return exit::NODE;
    }
    let Some(rt) = client::command_runtime() else { return exit::USAGE };
    let bar = ProgressBar::new(export.row_count() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} 导入 importing [{bar:40}] {pos}/{len} 行 rows ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let result = rt.block_on(async {
        let mut c = client::connect(&a.data_dir).await?;
        let (mut size, mut root) = (0u64, Vec::new());
        let mut outcomes: Vec<SheetOutcome> = Vec::new();
        for d in &export.data {
            let mut o = SheetOutcome::default();
            let source = if multi { format!("{name}#{}", d.name) } else { name.clone() };
            for chunk in d.rows.chunks(CHUNK_ROWS) {
                let req = pb::ImportRequest {
                    kind: a.kind.as_str().to_string(),
                    source: source.clone(),
                    share_type: a.share.clone().unwrap_or_default(),
                    rows: chunk
                        .iter()
                        .map(|r| pb::ImportRow {
                            row: r.row,
                            fields: r.fields.clone().into_iter().collect(),
                            notes: r.notes.clone().into_iter().collect(),
                        })
                        .collect(),
                    dry_run: a.dry_run,
                    foreign_reason: a.foreign.clone().unwrap_or_default(),
                    allow_retired_division: a.allow_retired_division,
                };
                let r = c.import(req).await?.into_inner();
                o.accepted += r.accepted;
                o.duplicates += r.duplicates;
                size = r.size;
                root = r.root;
                for e in r.errors {
                    o.errors.entry(e.row).or_default().push(e);
                }
                o.skipped.extend(r.skipped);
                o.changed.extend(r.changed);
                o.warnings.extend(r.warnings);
                bar.inc(chunk.len() as u64);
            }
            outcomes.push(o);
        }
        anyhow::Ok((size, root, outcomes))
    });
    bar.finish_and_clear();
    let (size, root, outcomes) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("错误 error: 导入中断 import interrupted (chunks already acknowledged are stored; re-running the import skips them): {e:#}");
            return exit::NODE;
        }
    };
    let pairs: Vec<(&layout::DataSheet, &SheetOutcome)> = export.data.iter().zip(outcomes.iter()).collect();
    let accepted: u64 = outcomes.iter().map(|o| o.accepted).sum();
    let duplicates: u64 = outcomes.iter().map(|o| o.duplicates).sum();
    let rejected: u64 = outcomes.iter().map(|o| o.errors.len() as u64).sum();
    let changed: u64 = outcomes.iter().map(|o| o.changed.len() as u64).sum();
    let rejects_path = a.rejects.clone().unwrap_or_else(|| default_rejects_path(&a.file));
    let rejects_file = if rejected == 0 || a.dry_run {
        None
    } else {
        if let Err(e) = write_rejects_sheets(&rejects_path, &pairs) {
            eprintln!("错误 error: 无法写入拒绝行文件 cannot write {}: {e:#}", rejects_path.display());
            return exit::USAGE;
        }
        Some(rejects_path.display().to_string())
    };
    let sheet_of = |d: &layout::DataSheet| if multi { d.name.clone() } else { String::new() };
    match a.output {
        Output::Json => {
            let entry = |d: &layout::DataSheet, e: &pb::RowError| {
                let mut v = serde_json::json!({"row": e.row, "field": e.field, "reason": e.reason});
                if multi {
                    v["sheet"] = serde_json::json!(sheet_of(d));
                }
                v
            };
            let (mut errs, mut dups, mut chg, mut warns) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (d, o) in &pairs {
                errs.extend(o.errors.values().flatten().map(|e| entry(d, e)));
                dups.extend(o.skipped.iter().map(|e| entry(d, e)));
                chg.extend(o.changed.iter().map(|e| {
                    let mut v = entry(d, e);
                    v["fields"] = serde_json::json!(e.field.split(',').collect::<Vec<_>>());
                    v
                }));
                warns.extend(o.warnings.iter().map(|e| entry(d, e)));
            }
            let sheets: Vec<_> = export
                .sheets
                .iter()
                .map(|s| serde_json::json!({"name": s.name, "read": s.read, "detail": s.detail}))
                .collect();
            println!(
                "{}",
                serde_json::json!({
                    "file": a.file.display().to_string(), "kind": a.kind.as_str(), "dry_run": a.dry_run,
                    "accepted": accepted, "duplicates": duplicates, "changed": changed, "rejected": rejected,
                    "size": size, "root": hex::encode(&root), "rejects_file": rejects_file,
                    "errors": errs, "skipped": dups, "changes": chg, "warnings": warns, "sheets": sheets,
                })
            );
        }
        Output::Table => {
            for (d, o) in &pairs {
                let p = prefix(d);
                for e in o.errors.values().flatten() {
                    eprintln!("{p}第 {} 行 row {}: {}: {}", e.row, e.row, e.field, e.reason);
                }
                for e in &o.warnings {
                    eprintln!("警告 warning: {p}第 {} 行 row {}: {}: {}", e.row, e.row, e.field, e.reason);
                }
                for e in o.changed.iter().take(SHOW_CHANGES) {
                    eprintln!(
                        "变更 changed: {p}第 {} 行 row {}: 不同的字段 differing fields [{}]: {}",
                        e.row, e.row, e.field, e.reason
                    );
                }
                if o.changed.len() > SHOW_CHANGES {
                    let rest: Vec<String> =
                        o.changed.iter().skip(SHOW_CHANGES).map(|e| format!("第 {} 行", e.row)).collect();
                    eprintln!(
                        "变更 changed: {p}另有 {} 行内容与已有记录不同，未导入：{}；完整列表见 -o json ({} more changed rows)",
                        rest.len(),
                        summarise_rows(&rest),
                        rest.len()
                    );
                }
                if !o.skipped.is_empty() {
                    let rows: Vec<String> = o.skipped.iter().map(|s| format!("第 {} 行", s.row)).collect();
                    eprintln!(
                        "重复 duplicates: {p}{} 行与已存储的记录完全相同，已跳过：{} ({} rows identical to stored records, skipped)",
                        o.skipped.len(),
                        summarise_rows(&rows),
                        o.skipped.len()
                    );
                }
            }
            let tail = rejects_file.map(|p| format!("; 拒绝行已写入 rejected rows written to {p}")).unwrap_or_default();
            if a.dry_run {
                println!(
                    "试运行，未写入任何数据 dry run, nothing written {}: 将接受 would accept {accepted}, 重复跳过 duplicates {duplicates}, 变更 changed {changed}, 拒绝 rejected {rejected}; 日志条目 log size {size}",
                    a.file.display()
                );
            } else {
                println!(
                    "导入完成 import done {}: 接受 accepted {accepted}, 重复跳过 duplicates {duplicates}, 变更未导入 changed {changed}, 拒绝 rejected {rejected}; 日志条目 log size {size}{tail}",
                    a.file.display()
                );
            }
            if changed > 0 {
                eprintln!(
                    "下一步 next: 变更的行未导入；如确为更正，请用 gongxin amend … 更正 (changed rows were not imported: correct them with an amendment)"
                );
            }
        }
    }
    if rejected > 0 || changed > 0 {
        exit::PROBLEMS
    } else {
        exit::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        for (cell, want) in [
            ("=HYPERLINK(\"http://x\",\"a\")", "'=HYPERLINK(\"http://x\",\"a\")"),
            ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("长沙市", "长沙市"),
            ("2024/01/02", "2024/01/02"),
            ("", ""),
        ] {
            assert_eq!(neutralise(cell), want, "{cell:?}");
        }
    }

    /// Issue 9: the rejects file copied `=HYPERLINK(…)` verbatim, and was written through a symlink planted
    /// next to the input.
    #[cfg(unix)]
    #[test]
    fn rejects_file_is_neutralised_private_and_not_written_through_a_link() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let input = d.path().join("in.csv");
        let path = default_rejects_path(&input);
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let table = sheet::Table {
            headers: vec!["名称".into(), "=H".into()],
            rows: vec![vec!["=HYPERLINK(\"http://evil\",\"点我\")".into(), "@x".into()]],
            source_format: "UTF-8".into(),
        };
        let mut errors = BTreeMap::new();
        errors.insert(1, vec![pb::RowError { row: 1, field: "名称".into(), reason: "-bad".into() }]);
        write_rejects(&path, &table, &errors).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("'=HYPERLINK") && text.contains("'@x") && text.contains("'=H"), "{text}");
        assert!(!text.contains(",=") && !text.contains("\"=HYPERLINK"), "{text}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
