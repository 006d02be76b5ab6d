//! `gongxin import --data-dir DIR --kind license|penalty FILE [-o json]`: send a department export to the node,
//! which validates, signs and appends it chunk by chunk (each chunk one atomic, flushed batch).

use crate::{client, exit, Output};
use clap::Args as ClapArgs;
use gongxin_core::{sheet, template};
use gongxin_proto::admin::v1 as pb;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Rows per import call (the node caps a call at 5 000).
const CHUNK_ROWS: usize = 1_000;

#[derive(ClapArgs, Debug)]
pub struct Args {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Template of the file: license (行政许可) or penalty (行政处罚).
    #[arg(long)]
    pub kind: template::Kind,
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

pub fn run(a: Args) -> i32 {
    let bytes = match crate::files::read_bounded(&a.file, sheet::Limits::default().file_bytes, true) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("错误 error: 无法读取 cannot read {}: {e}", a.file.display());
            return exit::USAGE;
        }
    };
    let name = a.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let table = match sheet::read_table(&bytes, &name) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("错误 error: {}: {e}", a.file.display());
            return exit::USAGE;
        }
    };
    let map = match template::map_headers(a.kind, &table.headers) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("错误 error: {}: {e}", a.file.display());
            return exit::USAGE;
        }
    };
    for w in map.warnings() {
        eprintln!("提示 warning: {w}");
    }
    let rows = sheet::table_rows(&table, &map);
    let rt = match client::runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            return exit::USAGE;
        }
    };
    let bar = ProgressBar::new(rows.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} 导入 importing [{bar:40}] {pos}/{len} 行 rows ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let result = rt.block_on(async {
        let mut c = client::connect(&a.data_dir).await?;
        let (mut accepted, mut duplicates, mut size, mut root) = (0u64, 0u64, 0u64, Vec::new());
        let mut errors: BTreeMap<u64, Vec<pb::RowError>> = BTreeMap::new();
        let mut skipped = Vec::new();
        for chunk in rows.chunks(CHUNK_ROWS) {
            let req = pb::ImportRequest {
                kind: a.kind.as_str().to_string(),
                source: name.clone(),
                share_type: a.share.clone().unwrap_or_default(),
                rows: chunk
                    .iter()
                    .map(|(row, fields)| pb::ImportRow { row: *row, fields: fields.clone().into_iter().collect() })
                    .collect(),
            };
            let r = c.import(req).await?.into_inner();
            accepted += r.accepted;
            duplicates += r.duplicates;
            size = r.size;
            root = r.root;
            for e in r.errors {
                errors.entry(e.row).or_default().push(e);
            }
            skipped.extend(r.skipped);
            bar.inc(chunk.len() as u64);
        }
        anyhow::Ok((accepted, duplicates, size, root, errors, skipped))
    });
    bar.finish_and_clear();
    let (accepted, duplicates, size, root, errors, skipped) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("错误 error: 导入中断 import interrupted (chunks already acknowledged are stored; re-running the import skips them): {e:#}");
            return exit::NODE;
        }
    };
    let rejects_path = a.rejects.clone().unwrap_or_else(|| default_rejects_path(&a.file));
    let rejects_file = if errors.is_empty() {
        None
    } else {
        if let Err(e) = write_rejects(&rejects_path, &table, &errors) {
            eprintln!("错误 error: 无法写入拒绝行文件 cannot write {}: {e:#}", rejects_path.display());
            return exit::USAGE;
        }
        Some(rejects_path.display().to_string())
    };
    let rejected = errors.len() as u64;
    let flat: Vec<&pb::RowError> = errors.values().flatten().collect();
    match a.output {
        Output::Json => {
            let errs: Vec<_> =
                flat.iter().map(|e| serde_json::json!({"row": e.row, "field": e.field, "reason": e.reason})).collect();
            let dups: Vec<_> = skipped.iter().map(|e| serde_json::json!({"row": e.row, "reason": e.reason})).collect();
            println!(
                "{}",
                serde_json::json!({
                    "file": a.file.display().to_string(), "kind": a.kind.as_str(),
                    "accepted": accepted, "duplicates": duplicates, "rejected": rejected,
                    "size": size, "root": hex::encode(&root), "rejects_file": rejects_file,
                    "errors": errs, "skipped": dups,
                })
            );
        }
        Output::Table => {
            for e in &flat {
                eprintln!("第 {} 行 row {}: {}: {}", e.row, e.row, e.field, e.reason);
            }
            for s in &skipped {
                eprintln!("第 {} 行 row {}: 重复 duplicate: {}", s.row, s.row, s.reason);
            }
            let tail = rejects_file.map(|p| format!("; 拒绝行已写入 rejected rows written to {p}")).unwrap_or_default();
            println!(
                "导入完成 import done {}: 接受 accepted {accepted}, 重复跳过 duplicates {duplicates}, 拒绝 rejected {rejected}; 日志条目 log size {size}{tail}",
                a.file.display()
            );
        }
    }
    if rejected > 0 {
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
