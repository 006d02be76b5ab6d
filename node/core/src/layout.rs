//! From worksheets to data rows (issue 12): which worksheets of a workbook hold data in the template (hidden ones
//! only when asked), where the header row is (title rows and merged titles above it, a 必填/选填 notes row under
//! it), which rows are not data (blank, border-only or 序号-only rows), and what each cell was (number, date,
//! merged). Every sheet and every skipped row is reported, so nothing is lost silently. Pure, like `sheet`.

use crate::sheet::{self, Limits, Sheet};
use crate::template::{self, CellNote, FileError, HeaderMap, Kind};
use std::collections::BTreeMap;

/// Header rows are looked for among the first rows of a sheet.
pub const HEADER_SEARCH_ROWS: usize = 30;

/// Fewest distinct template columns a row must name to be taken for a header.
const MIN_HEADER_SCORE: usize = 3;

/// Which worksheet to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SheetChoice {
    /// By name (exact, after trimming).
    Name(String),
    /// By 1-based position in the workbook, hidden sheets counted.
    Index(usize),
}

impl std::str::FromStr for SheetChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty sheet name".into());
        }
        Ok(match t.parse::<usize>() {
            Ok(n) if n >= 1 => SheetChoice::Index(n),
            _ => SheetChoice::Name(t.to_string()),
        })
    }
}

impl std::fmt::Display for SheetChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SheetChoice::Name(n) => f.write_str(n),
            SheetChoice::Index(i) => write!(f, "{i}"),
        }
    }
}

/// How to read a file.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub limits: Limits,
    /// Read only this worksheet (hidden or not).
    pub sheet: Option<SheetChoice>,
    /// Also read hidden worksheets.
    pub include_hidden: bool,
}

/// One data row: its number (counting rows below the header from 1, so the first data row under a header is
/// row 1 and a notes row under the header is row 1 too), the line in the sheet, its fields and cell notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRow {
    pub row: u64,
    pub line: u64,
    pub fields: BTreeMap<String, String>,
    /// Canonical field → [`CellNote::tag`].
    pub notes: BTreeMap<String, String>,
}

/// A worksheet read as data.
#[derive(Debug, Clone)]
pub struct DataSheet {
    /// Worksheet name (empty for CSV).
    pub name: String,
    /// 1-based line of the header.
    pub header_line: u64,
    pub headers: Vec<String>,
    pub map: HeaderMap,
    pub rows: Vec<DataRow>,
    /// The sheet's cells from the line after the header, as read (for the rejects file): `cells[row - 1]`.
    pub cells: Vec<Vec<String>>,
    /// What was skipped on this sheet and why (title rows, notes row, 序号-only rows).
    pub notes: Vec<String>,
}

/// What happened to one worksheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetReport {
    pub name: String,
    pub read: bool,
    /// Why it was skipped, or how it was read (layout, header line, rows).
    pub detail: String,
}

/// A department export read for one template.
#[derive(Debug, Clone)]
pub struct Export {
    pub source_format: String,
    pub is_workbook: bool,
    pub sheets: Vec<SheetReport>,
    pub data: Vec<DataSheet>,
}

impl Export {
    pub fn row_count(&self) -> usize {
        self.data.iter().map(|d| d.rows.len()).sum()
    }
}

/// Reads a department export for template `kind`: every visible worksheet whose header matches the template
/// (or the one chosen), with the header found among the first rows.
pub fn read_export(kind: Kind, bytes: &[u8], file_name: &str, opts: &ReadOptions) -> Result<Export, FileError> {
    let wb = sheet::read_sheets_with(bytes, file_name, &opts.limits)?;
    let names: Vec<String> = wb.sheets.iter().map(|s| s.name.clone()).collect();
    let chosen: Option<usize> = match &opts.sheet {
        None => None,
        Some(choice) if !wb.is_workbook => {
            return Err(FileError::Workbook {
                reason: format!(
                    "--sheet {choice} 只用于 XLSX 工作簿，CSV 文件只有一张表 (--sheet applies to workbooks only)"
                ),
            })
        }
        Some(SheetChoice::Index(i)) => match i.checked_sub(1).filter(|j| *j < wb.sheets.len()) {
            Some(j) => Some(j),
            None => return Err(FileError::NoSuchSheet { wanted: i.to_string(), available: names }),
        },
        Some(SheetChoice::Name(n)) => match names.iter().position(|x| x.trim() == n) {
            Some(i) => Some(i),
            None => return Err(FileError::NoSuchSheet { wanted: n.clone(), available: names }),
        },
    };
    let mut out = Export {
        source_format: wb.source_format.clone(),
        is_workbook: wb.is_workbook,
        sheets: Vec::new(),
        data: Vec::new(),
    };
    let mut last_error: Option<FileError> = None;
    let considered = wb.sheets.len();
    for (i, sh) in wb.sheets.iter().enumerate() {
        if let Some(c) = chosen {
            if c != i {
                out.sheets.push(SheetReport {
                    name: sh.name.clone(),
                    read: false,
                    detail: "未选择（--sheet）(not chosen)".into(),
                });
                continue;
            }
        } else if !sh.visible && !opts.include_hidden {
            out.sheets.push(SheetReport {
                name: sh.name.clone(),
                read: false,
                detail: format!(
                    "隐藏工作表，已跳过；如需读取请用 --sheet \"{}\" (hidden worksheet skipped: choose it with --sheet)",
                    sh.name
                ),
            });
            continue;
        }
        match read_data_sheet(kind, sh) {
            Ok(Some(d)) => {
                out.sheets.push(SheetReport {
                    name: sh.name.clone(),
                    read: true,
                    detail: format!(
                        "{}，表头在第 {} 行，数据 {} 行 (header on line {}, {} data rows)",
                        d.map.layout.describe(kind),
                        d.header_line,
                        d.rows.len(),
                        d.header_line,
                        d.rows.len()
                    ),
                });
                out.data.push(d);
            }
            Ok(None) => {
                let why = not_data_reason(kind, sh);
                out.sheets.push(SheetReport { name: sh.name.clone(), read: false, detail: why.clone() });
                last_error.get_or_insert(sheet_error(kind, sh, why));
            }
            Err(e) => {
                // A sheet that is data in the template but broken (missing columns, 2016 layout) rejects the file:
                // its rows would otherwise be lost without a word.
                if !wb.is_workbook || considered == 1 {
                    return Err(e);
                }
                return Err(FileError::InSheet { sheet: sh.name.clone(), error: Box::new(e) });
            }
        }
    }
    if out.data.is_empty() {
        if !wb.is_workbook || considered == 1 || chosen.is_some() {
            if let Some(e) = last_error {
                return Err(e);
            }
        }
        let sheets = out.sheets.iter().map(|s| (s.name.clone(), s.detail.clone())).collect();
        return Err(FileError::NoDataSheet { kind, sheets });
    }
    Ok(out)
}

/// The error of a file whose only sheet holds no data in the template: the best header candidate's missing
/// columns, with a hint (another template, or why no header was found).
fn sheet_error(kind: Kind, sh: &Sheet, why: String) -> FileError {
    let candidate = sh
        .rows
        .iter()
        .take(HEADER_SEARCH_ROWS)
        .max_by_key(|r| Kind::ALL.iter().map(|k| template::header_score(*k, r)).max().unwrap_or(0))
        .cloned()
        .unwrap_or_default();
    match template::map_headers(kind, &candidate) {
        Err(FileError::MissingColumns { kind, missing, hint }) => {
            FileError::MissingColumns { kind, missing, hint: hint.or(Some(why)) }
        }
        Err(FileError::Empty) | Ok(_) => FileError::Empty,
        Err(e) => e,
    }
}

/// Why a sheet without a template header is skipped.
fn not_data_reason(kind: Kind, sh: &Sheet) -> String {
    let rows = sh.rows.iter().take(HEADER_SEARCH_ROWS);
    let filled: Vec<&Vec<String>> = rows.filter(|r| r.iter().any(|c| !c.trim().is_empty())).collect();
    if filled.is_empty() {
        return "空工作表 (empty worksheet)".into();
    }
    for other in Kind::ALL.into_iter().filter(|k| *k != kind) {
        if filled.iter().any(|r| template::map_headers(other, r).is_ok()) {
            return format!(
                "表头是{}模板，不是{}模板，已跳过（请用 --kind {other} 单独导入）(a {other} sheet, skipped)",
                other.chinese(),
                kind.chinese()
            );
        }
    }
    let name = sh.name.as_str();
    if ["说明", "填报", "指南", "字典", "代码表"].iter().any(|w| name.contains(w)) {
        return "填报说明等非数据工作表，已跳过 (instructions, not a data sheet: skipped)".to_string();
    }
    format!(
        "前 {HEADER_SEARCH_ROWS} 行中没有{}模板的表头行，已跳过 (no {kind} header row among the first {HEADER_SEARCH_ROWS} rows: skipped)",
        kind.chinese()
    )
}

/// A row of notes under the header: most of its cells say 必填/选填.
fn is_notes_row(cells: &[String]) -> bool {
    let filled: Vec<&str> = cells.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).collect();
    if filled.is_empty() {
        return false;
    }
    let noted = filled
        .iter()
        .filter(|c| {
            let c = c.trim_start_matches(['(', '（', '*', '【', '[']);
            ["必填", "选填", "条件必填", "非必填", "可选", "可填", "必须填写", "选择填写"]
                .iter()
                .any(|w| c.starts_with(w))
        })
        .count();
    noted * 2 > filled.len()
}

/// A row that holds nothing but a 序号 (or nothing: cells with borders only read as blank): only the 序号 column
/// is filled, or, without a 序号 column, only the first cell, with a row number.
fn only_serial(cells: &[String], serial_col: Option<usize>) -> bool {
    let filled: Vec<(usize, &str)> =
        cells.iter().enumerate().map(|(i, c)| (i, c.trim())).filter(|(_, c)| !c.is_empty()).collect();
    match (filled.as_slice(), serial_col) {
        ([], _) => true,
        ([(i, _)], Some(col)) => *i == col,
        ([(0, v)], None) => (1..=7).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()),
        _ => false,
    }
}

/// Reads one sheet as data of `kind`: `Ok(None)` when no header row of the template is found.
fn read_data_sheet(kind: Kind, sh: &Sheet) -> Result<Option<DataSheet>, FileError> {
    // The header: the best-scoring row among the first rows; ties go to the first.
    let mut best: Option<(usize, usize)> = None;
    for (i, r) in sh.rows.iter().enumerate().take(HEADER_SEARCH_ROWS) {
        let markers = template::layout_2016_markers(r);
        if markers.len() >= 2 {
            // Named as the 2016 layout, not as a list of missing columns.
            template::map_headers(kind, r)?;
        }
        let score = template::header_score(kind, r);
        if score >= MIN_HEADER_SCORE && best.is_none_or(|(_, s)| score > s) {
            best = Some((i, score));
        }
    }
    let Some((h, _)) = best else { return Ok(None) };
    let headers: Vec<String> = sh.rows[h].iter().map(|c| c.trim().trim_start_matches('\u{feff}').to_string()).collect();
    let map = match template::map_headers(kind, &headers) {
        Ok(m) => m,
        // A sheet in another template (a penalty tab in a licence workbook) is not this template's data.
        Err(FileError::MissingColumns { .. })
            if Kind::ALL.iter().any(|o| *o != kind && template::map_headers(*o, &headers).is_ok()) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let serial_col = headers.iter().position(|c| template::is_serial_header(c));
    let mut notes = Vec::new();
    let titles = sh.rows[..h].iter().filter(|r| r.iter().any(|c| !c.trim().is_empty())).count();
    if titles > 0 {
        let first: String = sh.rows[..h].iter().flatten().find(|c| !c.trim().is_empty()).cloned().unwrap_or_default();
        notes.push(format!(
            "表头上方 {titles} 行标题（如 \"{}\"）已跳过 ({titles} title row(s) above the header skipped)",
            first.chars().take(40).collect::<String>()
        ));
    }
    let body = &sh.rows[h + 1..];
    let mut rows = Vec::new();
    let mut serial_only = 0u64;
    // Trailing rows with nothing but a 序号 or borders are dropped; 序号-only rows among the data are counted.
    for (i, cells) in body.iter().enumerate() {
        let row = i as u64 + 1;
        let line = (h + 2 + i) as u64;
        if i == 0 && is_notes_row(cells) {
            notes.push(format!(
                "表头下第 1 行（第 {line} 行）是填写说明（必填/选填），已跳过 (notes row under the header skipped)"
            ));
            continue;
        }
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if only_serial(cells, serial_col) {
            serial_only += 1;
            continue;
        }
        let fields = map.fields(cells);
        let mut cell_notes = BTreeMap::new();
        for (c, name) in map.columns.iter().enumerate() {
            let Some(name) = name else { continue };
            let abs = h + 1 + i;
            if let Some(k) = sh.kinds.get(&(abs, c)) {
                cell_notes.insert((*name).to_string(), CellNote::from_cell(*k).tag());
            } else if let Some((tr, _)) = sh.merged_into(abs, c) {
                let top = if tr > h { (tr - h) as u64 } else { 0 };
                cell_notes.insert((*name).to_string(), CellNote::Merged { row: top }.tag());
            }
        }
        rows.push(DataRow { row, line, fields, notes: cell_notes });
    }
    if serial_only > 0 {
        notes.push(format!(
            "{serial_only} 行只有序号（或只有边框）没有数据，已跳过 ({serial_only} rows holding nothing but a 序号 skipped)"
        ));
    }
    Ok(Some(DataSheet {
        name: sh.name.clone(),
        header_line: h as u64 + 1,
        headers,
        map,
        rows,
        cells: body.to_vec(),
        notes,
    }))
}
