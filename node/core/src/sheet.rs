//! Department export files → a header row and data rows of strings. Pure: takes the bytes (and the file
//! name only as a hint), reads no files. CSV in UTF-8 (with or without BOM), UTF-16 with BOM (Excel's
//! "Unicode text", tab-separated) or GB18030 (what Chinese Excel writes as "CSV"); XLSX workbooks (first
//! sheet) through calamine's streaming cell reader.
//!
//! Hostile files (issue 9): every size is bounded before it is allocated — the file, the decompressed
//! workbook parts (zip bombs), rows, columns, cells and one field ([`Limits`]). A limit that is hit is a
//! [`FileError::Limit`] naming it. XLS (BIFF), XLSB and ODS are refused: calamine reads those workbooks whole
//! into a dense range, sized by whatever cell positions the file claims.

use crate::template::{FileError, HeaderMap};
use calamine::{Data, Reader};
use std::collections::BTreeMap;
use std::io::{Cursor, Read};

/// Size limits of [`read_table`]. The defaults are far above any department export (the national templates
/// have fewer than 40 columns; Excel itself stops at 1 048 576 rows and 32 767 characters a cell) and keep
/// the memory of one read below roughly 1 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of the file itself.
    pub file_bytes: u64,
    /// Bytes of all workbook parts after decompression, together.
    pub unzipped_bytes: u64,
    /// Parts (files) in a workbook's ZIP container.
    pub zip_entries: u64,
    /// Rows, the header included.
    pub rows: u64,
    /// Columns of one row.
    pub columns: u64,
    /// Cells of the whole table, counting blank cells up to the last filled one of each row.
    pub cells: u64,
    /// Bytes (UTF-8) of one field.
    pub field_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            file_bytes: 256 << 20,
            unzipped_bytes: 256 << 20,
            zip_entries: 10_000,
            rows: 1_048_576,
            columns: 512,
            cells: 10_000_000,
            field_bytes: 65_536,
        }
    }
}

/// The limits by name, for [`FileError::Limit`].
pub mod limit {
    pub const FILE_BYTES: &str = "文件大小 file size (bytes)";
    pub const UNZIPPED_BYTES: &str = "解压后大小 decompressed size (bytes)";
    pub const ZIP_ENTRIES: &str = "工作簿部件数 parts in the workbook";
    pub const ROWS: &str = "行数 rows";
    pub const COLUMNS: &str = "列数 columns";
    pub const CELLS: &str = "单元格数 cells";
    pub const FIELD_BYTES: &str = "字段长度 field length (bytes)";
}

fn over(name: &'static str, max: u64, at: impl Into<String>) -> FileError {
    FileError::Limit { limit: name, max, at: at.into() }
}

fn at_row(row: u64) -> String {
    format!("第 {row} 行 row {row}")
}

fn at_cell(row: u64, col: u64) -> String {
    format!("第 {row} 行第 {col} 列 row {row}, column {col}")
}

/// A table as read from a file: the first row is the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// How the file was decoded, for messages (`UTF-8`, `UTF-8 (BOM)`, `GB18030`, `XLSX`, …).
    pub source_format: String,
}

/// Reads a department export with the default [`Limits`]. The format is detected from the content: a ZIP
/// signature means a workbook, anything else is CSV text.
pub fn read_table(bytes: &[u8], file_name: &str) -> Result<Table, FileError> {
    read_table_with(bytes, file_name, &Limits::default())
}

/// [`read_table`] with explicit limits: the first worksheet, its first non-blank row as the header.
pub fn read_table_with(bytes: &[u8], file_name: &str, limits: &Limits) -> Result<Table, FileError> {
    let wb = read_sheets_with(bytes, file_name, limits)?;
    let format = wb.source_format.clone();
    let first = wb.sheets.into_iter().next().map(|s| s.rows).unwrap_or_default();
    into_table(first, &format)
}

/// Checks the size and the kind of file; returns the lower-cased name.
fn sniff(bytes: &[u8], file_name: &str, limits: &Limits) -> Result<String, FileError> {
    if bytes.len() as u64 > limits.file_bytes {
        return Err(over(limit::FILE_BYTES, limits.file_bytes, ""));
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(FileError::Empty);
    }
    let is_zip = bytes.starts_with(b"PK\x03\x04");
    let is_ole = bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]);
    let lower = file_name.to_ascii_lowercase();
    if is_ole {
        return Err(FileError::Workbook {
            reason: format!(
                "{file_name} 是旧版 Excel 97-2003 (.xls) 工作簿，不予读取；请在 Excel 中另存为 .xlsx 或 \"CSV UTF-8\" \
                 (XLS workbooks are not read: save it as XLSX or CSV UTF-8)"
            ),
        });
    }
    if !is_zip && (lower.ends_with(".xlsx") || lower.ends_with(".xls")) {
        return Err(FileError::Workbook {
            reason: format!("{file_name} 的扩展名是 Excel，但内容不是 Excel 工作簿 (extension says Excel, content is not a workbook)"),
        });
    }
    Ok(lower)
}

fn decode_text(bytes: &[u8]) -> Result<(String, &'static str), FileError> {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return match std::str::from_utf8(rest) {
            Ok(s) => Ok((s.to_string(), "UTF-8 (BOM)")),
            Err(e) => Err(encoding_error(rest, e.valid_up_to(), 3)),
        };
    }
    for (bom, enc, label) in
        [(&[0xFF, 0xFE][..], encoding_rs::UTF_16LE, "UTF-16LE"), (&[0xFE, 0xFF][..], encoding_rs::UTF_16BE, "UTF-16BE")]
    {
        if bytes.starts_with(bom) {
            let (text, had_errors) = enc.decode_with_bom_removal(bytes);
            if had_errors {
                return Err(FileError::Encoding { line: 1, byte_offset: 0 });
            }
            return Ok((text.into_owned(), label));
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok((s.to_string(), "UTF-8")),
        Err(utf8_err) => match encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(bytes) {
            Some(text) => Ok((text.into_owned(), "GB18030")),
            None => {
                // Report the position of whichever decoding got further: that is most likely the
                // encoding the file was meant to be in.
                let gb = gb18030_error_offset(bytes).unwrap_or(0);
                let offset = gb.max(utf8_err.valid_up_to());
                Err(encoding_error(bytes, offset, 0))
            }
        },
    }
}

fn encoding_error(bytes: &[u8], offset: usize, skipped: usize) -> FileError {
    let line = bytes[..offset.min(bytes.len())].iter().filter(|b| **b == b'\n').count() as u64 + 1;
    FileError::Encoding { line, byte_offset: offset + skipped }
}

fn gb18030_error_offset(bytes: &[u8]) -> Option<usize> {
    let mut decoder = encoding_rs::GB18030.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(bytes.len() * 3 + 16);
    let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut out, true);
    match result {
        encoding_rs::DecoderResult::Malformed(bad, _) => Some(read.saturating_sub(bad as usize)),
        _ => None,
    }
}

/// Counts rows and cells against the limits as a table is built.
struct Budget<'a> {
    limits: &'a Limits,
    cells: u64,
}

impl Budget<'_> {
    /// Admits a row of `width` cells that is the `row`-th (1-based) of the table.
    fn row(&mut self, row: u64, width: u64) -> Result<(), FileError> {
        if row > self.limits.rows {
            return Err(over(limit::ROWS, self.limits.rows, at_row(row)));
        }
        if width > self.limits.columns {
            return Err(over(limit::COLUMNS, self.limits.columns, at_row(row)));
        }
        self.cells = self.cells.saturating_add(width);
        if self.cells > self.limits.cells {
            return Err(over(limit::CELLS, self.limits.cells, at_row(row)));
        }
        Ok(())
    }
}

/// CSV through `csv_core`, one field at a time into a buffer of the field limit: no record, field or row
/// grows past its limit before it is refused (a 100 MB line of commas stops at the column limit).
fn read_csv_rows(
    bytes: &[u8],
    lower_name: &str,
    limits: &Limits,
) -> Result<(Vec<Vec<String>>, &'static str), FileError> {
    let (text, format) = decode_text(bytes)?;
    let first_line = text.lines().next().unwrap_or("");
    let delimiter = if lower_name.ends_with(".tsv")
        || format.starts_with("UTF-16")
        || first_line.matches('\t').count() > first_line.matches(',').count()
    {
        b'\t'
    } else {
        b','
    };
    let mut reader = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
    let field_cap = usize::try_from(limits.field_bytes).unwrap_or(usize::MAX).saturating_add(1).min(1 << 30);
    let mut buf = vec![0u8; field_cap];
    let mut len = 0usize;
    let mut input = text.as_bytes();
    let mut record: Vec<String> = Vec::new();
    let mut all: Vec<Vec<String>> = Vec::new();
    let mut budget = Budget { limits, cells: 0 };
    loop {
        let (res, nin, nout) = reader.read_field(input, &mut buf[len..]);
        input = &input[nin..];
        len += nout;
        match res {
            csv_core::ReadFieldResult::InputEmpty => {}
            csv_core::ReadFieldResult::OutputFull => {
                let line = reader.line();
                return Err(over(limit::FIELD_BYTES, limits.field_bytes, at_cell(line, record.len() as u64 + 1)));
            }
            csv_core::ReadFieldResult::Field { record_end } => {
                if len as u64 > limits.field_bytes {
                    let line = reader.line();
                    return Err(over(limit::FIELD_BYTES, limits.field_bytes, at_cell(line, record.len() as u64 + 1)));
                }
                if record.len() as u64 >= limits.columns {
                    return Err(over(limit::COLUMNS, limits.columns, at_row(all.len() as u64 + 1)));
                }
                // Fields split only at ASCII bytes of valid UTF-8 text, so they are valid UTF-8 too.
                record.push(String::from_utf8_lossy(&buf[..len]).into_owned());
                len = 0;
                if record_end {
                    budget.row(all.len() as u64 + 1, record.len() as u64)?;
                    all.push(std::mem::take(&mut record));
                }
            }
            csv_core::ReadFieldResult::End => break,
        }
    }
    Ok((all, format))
}

fn into_table(mut all: Vec<Vec<String>>, format: &str) -> Result<Table, FileError> {
    // Leading blank lines before the header are skipped.
    let blank = all.iter().take_while(|r| r.iter().all(|c| c.trim().is_empty())).count();
    all.drain(..blank);
    if all.is_empty() {
        return Err(FileError::Empty);
    }
    let headers = all.remove(0).into_iter().map(|h| h.trim().trim_start_matches('\u{feff}').to_string()).collect();
    Ok(Table { headers, rows: all, source_format: format.to_string() })
}

/// Checks a workbook's ZIP container before calamine opens it: the number of parts, and the bytes each part
/// really decompresses to (not the sizes the directory claims), all together under the limit. Also refuses a
/// shared-string table that announces more strings than the cell limit (calamine reserves that many).
fn check_zip(bytes: &[u8], limits: &Limits) -> Result<(), FileError> {
    let bad = |e: &dyn std::fmt::Display| FileError::Workbook { reason: e.to_string() };
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| bad(&e))?;
    if zip.len() as u64 > limits.zip_entries {
        return Err(over(limit::ZIP_ENTRIES, limits.zip_entries, ""));
    }
    let mut left = limits.unzipped_bytes;
    let mut chunk = vec![0u8; 64 << 10];
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).map_err(|e| bad(&e))?;
        let name = part.name().map_err(|e| bad(&e))?.to_ascii_lowercase();
        let shared = name.ends_with("sharedstrings.xml");
        let mut kept: Vec<u8> = Vec::new();
        loop {
            let n = match part.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(bad(&format!("{name}: {e}"))),
            };
            if n as u64 > left {
                return Err(over(limit::UNZIPPED_BYTES, limits.unzipped_bytes, format!("{name}")));
            }
            left -= n as u64;
            if shared {
                kept.extend_from_slice(&chunk[..n]);
            }
        }
        if shared {
            check_unique_count(&kept, limits)?;
        }
    }
    Ok(())
}

/// calamine reserves `uniqueCount` strings up front: a count above the cell limit is refused here.
fn check_unique_count(xml: &[u8], limits: &Limits) -> Result<(), FileError> {
    let key = b"uniqueCount";
    let mut from = 0;
    while let Some(p) = xml[from..].windows(key.len()).position(|w| w == key) {
        let mut i = from + p + key.len();
        from = i;
        while xml.get(i).is_some_and(|b| b.is_ascii_whitespace() || *b == b'=') {
            i += 1;
        }
        if !matches!(xml.get(i), Some(b'"') | Some(b'\'')) {
            continue;
        }
        i += 1;
        let digits: Vec<u8> = xml[i..].iter().take_while(|b| b.is_ascii_digit() || **b == b'+').copied().collect();
        let n = std::str::from_utf8(&digits).ok().and_then(|s| s.trim_start_matches('+').parse::<u64>().ok());
        let too_many = match n {
            Some(n) => n > limits.cells,
            None => digits.iter().filter(|b| b.is_ascii_digit()).count() > 0,
        };
        if too_many {
            return Err(over(limit::CELLS, limits.cells, "sharedStrings.xml uniqueCount"));
        }
    }
    Ok(())
}

/// What kind of workbook cell a value came from, where it matters for validation (codes typed into number
/// cells, dates, merged ranges). CSV cells are plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CellKind {
    /// A number cell. `exact`: the text is exactly the number typed (an integer below 2^53, or a decimal
    /// within Excel's 15 significant digits); otherwise the digits of a long code are already lost.
    Number { exact: bool },
    /// A date (or date-time) cell, rendered `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`.
    Date,
}

/// A merged range of a worksheet, 0-based inclusive (row, column) corners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merge {
    pub first: (u32, u32),
    pub last: (u32, u32),
}

/// One worksheet (or the one table of a CSV file) as read: every row from line 1, nothing skipped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sheet {
    /// The worksheet's name (empty for CSV).
    pub name: String,
    /// False for hidden and very hidden worksheets.
    pub visible: bool,
    /// Rows from line 1 (`rows[0]` is line 1), each as wide as its last filled cell.
    pub rows: Vec<Vec<String>>,
    /// Kinds of the cells that are not text, by 0-based (row, column).
    pub kinds: BTreeMap<(usize, usize), CellKind>,
    /// Merged ranges.
    pub merged: Vec<Merge>,
}

impl Sheet {
    /// The top-left cell of the merged range that covers (row, col), when (row, col) is covered but is
    /// not itself the top-left cell (where the range's value is).
    pub fn merged_into(&self, row: usize, col: usize) -> Option<(usize, usize)> {
        let (r, c) = (u32::try_from(row).ok()?, u32::try_from(col).ok()?);
        self.merged
            .iter()
            .find(|m| (m.first.0..=m.last.0).contains(&r) && (m.first.1..=m.last.1).contains(&c) && m.first != (r, c))
            .map(|m| (m.first.0 as usize, m.first.1 as usize))
    }
}

/// A whole file: its worksheets in workbook order (one for CSV).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workbook {
    pub sheets: Vec<Sheet>,
    /// `UTF-8`, `UTF-8 (BOM)`, `GB18030`, `UTF-16LE`, `XLSX`, …
    pub source_format: String,
    /// True for an XLSX workbook.
    pub is_workbook: bool,
}

/// Reads every worksheet of a department export (or its one CSV table), bounded by `limits` (the cell
/// budget is shared by all worksheets).
pub fn read_sheets_with(bytes: &[u8], file_name: &str, limits: &Limits) -> Result<Workbook, FileError> {
    let lower = sniff(bytes, file_name, limits)?;
    if bytes.starts_with(b"PK\x03\x04") {
        return read_workbook(bytes, limits);
    }
    let (rows, format) = read_csv_rows(bytes, &lower, limits)?;
    Ok(Workbook {
        sheets: vec![Sheet { name: String::new(), visible: true, rows, ..Sheet::default() }],
        source_format: format.to_string(),
        is_workbook: false,
    })
}

fn read_workbook(bytes: &[u8], limits: &Limits) -> Result<Workbook, FileError> {
    check_zip(bytes, limits)?;
    let bad = |e: &dyn std::fmt::Display| FileError::Workbook { reason: e.to_string() };
    let mut wb: calamine::Xlsx<_> = match calamine::open_workbook_from_rs(Cursor::new(bytes)) {
        Ok(wb) => wb,
        Err(e) => {
            return Err(FileError::Workbook {
                reason: format!(
                    "{e}；只读取 .xlsx 工作簿，XLSB/ODS 请另存为 .xlsx 或 \"CSV UTF-8\" \
                     (only XLSX workbooks are read: save XLSB/ODS as XLSX or CSV UTF-8)"
                ),
            })
        }
    };
    let metas: Vec<(String, bool)> = wb
        .sheets_metadata()
        .iter()
        .filter(|m| m.typ == calamine::SheetType::WorkSheet)
        .map(|m| (m.name.clone(), m.visible == calamine::SheetVisible::Visible))
        .collect();
    if metas.is_empty() {
        return Err(FileError::Workbook { reason: "工作簿没有工作表 (no worksheet)".to_string() });
    }
    let mut budget = Budget { limits, cells: 0 };
    let mut sheets = Vec::with_capacity(metas.len());
    for (name, visible) in metas {
        let mut cells: BTreeMap<(u32, u32), (String, Option<CellKind>)> = BTreeMap::new();
        {
            let mut reader = wb.worksheet_cells_reader(&name).map_err(|e| bad(&e))?;
            while let Some(cell) = reader.next_cell().map_err(|e| bad(&e))? {
                let (row, col) = cell.get_position();
                let value: Data = cell.get_value().clone().into();
                if value == Data::Empty {
                    continue;
                }
                let (r1, c1) = (u64::from(row) + 1, u64::from(col) + 1);
                if r1 > limits.rows {
                    return Err(over(limit::ROWS, limits.rows, at_cell(r1, c1)));
                }
                if c1 > limits.columns {
                    return Err(over(limit::COLUMNS, limits.columns, at_cell(r1, c1)));
                }
                let (text, kind) = cell_text(&value);
                if text.len() as u64 > limits.field_bytes {
                    return Err(over(limit::FIELD_BYTES, limits.field_bytes, at_cell(r1, c1)));
                }
                if text.is_empty() {
                    continue;
                }
                cells.insert((row, col), (text, kind));
                if budget.cells.saturating_add(cells.len() as u64) > limits.cells {
                    return Err(over(limit::CELLS, limits.cells, at_cell(r1, c1)));
                }
            }
        }
        let mut merged = Vec::new();
        if let Ok(dims) = wb.merge_cells_by_sheet_name(&name) {
            for d in dims.into_iter().take(usize::try_from(limits.cells).unwrap_or(usize::MAX)) {
                merged.push(Merge { first: d.start, last: d.end });
            }
        }
        // Rows are laid out from A1, so that column numbers match what the operator sees; each row is as wide
        // as its last filled cell, and that width is what the cell budget counts.
        let mut widths: BTreeMap<u32, u32> = BTreeMap::new();
        for &(r, c) in cells.keys() {
            widths.insert(r, c + 1);
        }
        for (&r, &w) in &widths {
            budget.row(u64::from(r) + 1, u64::from(w))?;
        }
        let height = widths.keys().next_back().map_or(0, |r| *r as usize + 1);
        let mut rows: Vec<Vec<String>> = Vec::with_capacity(height);
        for r in 0..height as u32 {
            let w = widths.get(&r).copied().unwrap_or(0) as usize;
            rows.push(vec![String::new(); w]);
        }
        let mut kinds = BTreeMap::new();
        for ((r, c), (text, kind)) in cells {
            if let Some(slot) = rows.get_mut(r as usize).and_then(|row| row.get_mut(c as usize)) {
                *slot = text;
            }
            if let Some(k) = kind {
                kinds.insert((r as usize, c as usize), k);
            }
        }
        sheets.push(Sheet { name, visible, rows, kinds, merged });
    }
    Ok(Workbook { sheets, source_format: "XLSX".to_string(), is_workbook: true })
}

/// Largest integer an `f64` holds exactly (2^53).
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// The text of one workbook cell as an operator would read it: dates as `YYYY-MM-DD` (with the time when it
/// is not midnight), integral numbers without `.0`, other numbers rounded to Excel's 15 significant digits.
fn cell_text(d: &Data) -> (String, Option<CellKind>) {
    match d {
        Data::Empty => (String::new(), None),
        Data::String(s) => (s.clone(), None),
        Data::Int(i) => (i.to_string(), Some(CellKind::Number { exact: true })),
        Data::Float(x) => {
            if x.fract() == 0.0 && x.abs() < 1e21 {
                (format!("{x:.0}"), Some(CellKind::Number { exact: x.abs() < EXACT_INT }))
            } else {
                let rounded: f64 = format!("{x:.14e}").parse().unwrap_or(*x);
                (rounded.to_string(), Some(CellKind::Number { exact: true }))
            }
        }
        Data::Bool(b) => (if *b { "TRUE" } else { "FALSE" }.to_string(), None),
        Data::DateTime(dt) => {
            let (y, m, day, h, min, s, ms) = dt.to_ymd_hms_milli();
            let text = if (h, min, s, ms) == (0, 0, 0, 0) {
                format!("{y:04}-{m:02}-{day:02}")
            } else {
                format!("{y:04}-{m:02}-{day:02} {h:02}:{min:02}:{s:02}")
            };
            (text, Some(CellKind::Date))
        }
        Data::DateTimeIso(s) | Data::DurationIso(s) => (s.clone(), None),
        Data::Error(e) => (format!("#{e:?}"), None),
    }
}

/// Data rows of a table as canonical field maps, numbered from 1 (header excluded). Entirely blank rows
/// are skipped but keep their number, so numbers match the file.
pub fn table_rows(table: &Table, map: &HeaderMap) -> Vec<(u64, BTreeMap<String, String>)> {
    iter_rows(table, map).collect()
}

/// Like [`table_rows`], one row at a time (a 100k-row file need not hold every field map at once).
pub fn iter_rows<'a>(
    table: &'a Table,
    map: &'a HeaderMap,
) -> impl Iterator<Item = (u64, BTreeMap<String, String>)> + 'a {
    table
        .rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.iter().any(|c| !c.trim().is_empty()))
        .map(|(i, r)| (i as u64 + 1, map.fields(r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        let utf8 = "名称,日期\n长沙,2024/01/02\n";
        let t = read_table(utf8.as_bytes(), "a.csv").expect("utf8");
        assert_eq!(t.headers, vec!["名称", "日期"]);
        assert_eq!(t.rows, vec![vec!["长沙", "2024/01/02"]]);
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(utf8.as_bytes());
        assert_eq!(read_table(&bom, "a.csv").map(|t| t.headers), Ok(vec!["名称".into(), "日期".into()]));
        let (gb, _, _) = encoding_rs::GB18030.encode(utf8);
        let t = read_table(&gb, "a.csv").expect("gb18030");
        assert_eq!((t.rows[0][0].as_str(), t.source_format.as_str()), ("长沙", "GB18030"));
        // 0xFF is neither UTF-8 nor GB18030.
        let bad = b"a,b\nc,\xFF\xFF\n";
        assert_eq!(read_table(bad, "a.csv"), Err(FileError::Encoding { line: 2, byte_offset: 6 }));
    }
    /// A minimal XLSX workbook whose first sheet's `<sheetData>` is `sheet_data`; `shared` is the
    /// sharedStrings part, if any. Parts are deflated.
    pub(crate) fn xlsx(sheet_data: &str, shared: Option<&str>) -> Vec<u8> {
        use std::io::Write as _;
        let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let mut parts: Vec<(&str, String)> = vec![
            ("[Content_Types].xml", r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.into()),
            ("_rels/.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.into()),
            ("xl/workbook.xml", r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#.into()),
            ("xl/_rels/workbook.xml.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.into()),
            ("xl/worksheets/sheet1.xml", format!(r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{sheet_data}</sheetData></worksheet>"#)),
        ];
        if let Some(sst) = shared {
            parts.push(("xl/sharedStrings.xml", sst.to_string()));
        }
        for (name, body) in parts {
            z.start_file(name, opts).unwrap();
            z.write_all(body.as_bytes()).unwrap();
        }
        z.finish().unwrap().into_inner()
    }

    fn limit_of(r: Result<Table, FileError>) -> (&'static str, String) {
        match r {
            Err(FileError::Limit { limit, at, .. }) => (limit, at),
            other => panic!("expected a limit error, got {other:?}"),
        }
    }

    #[test]
    fn xlsx_reads_cells_from_a1() {
        let data = r#"<row r="1"><c r="A1" t="inlineStr"><is><t>名称</t></is></c><c r="B1" t="inlineStr"><is><t>日期</t></is></c></row><row r="3"><c r="B3"><v>42</v></c></row>"#;
        let t = read_table(&xlsx(data, None), "a.xlsx").expect("xlsx");
        assert_eq!(t.headers, vec!["名称", "日期"]);
        assert_eq!(t.rows, vec![vec![], vec![String::new(), "42".into()]]);
        assert_eq!(t.source_format, "XLSX");
    }

    /// Issue 9: a 2.4 KB workbook with one cell at XFD1048576 made calamine allocate 512 GiB and abort.
    #[test]
    fn xlsx_far_cell_is_refused_before_allocating() {
        let data = r#"<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>1</v></c></row>"#;
        let bytes = xlsx(data, None);
        assert!(bytes.len() < 3_000, "{}", bytes.len());
        let started = std::time::Instant::now();
        let (limit, at) = limit_of(read_table(&bytes, "a.xlsx"));
        assert_eq!((limit, at.as_str()), (limit::COLUMNS, "第 1048576 行第 16384 列 row 1048576, column 16384"));
        assert!(started.elapsed().as_secs() < 5);
        let msg = read_table(&bytes, "a.xlsx").unwrap_err().to_string();
        assert!(msg.starts_with("文件超出读取限制") && msg.contains("上限 512") && msg.contains("columns"), "{msg}");
        // A claimed `<dimension>` is not believed: only the cells are.
        let dim = xlsx(r#"<row r="1"><c r="A1"><v>1</v></c></row>"#, None);
        assert!(read_table(&dim, "a.xlsx").is_ok());
        // Rows: past the limit, refused by its row.
        let small = Limits { rows: 10, ..Limits::default() };
        let data = r#"<row r="1"><c r="A1"><v>1</v></c></row><row r="11"><c r="A11"><v>1</v></c></row>"#;
        assert_eq!(limit_of(read_table_with(&xlsx(data, None), "a.xlsx", &small)).0, limit::ROWS);
        // Cells count the blanks before the last filled cell of each row.
        let small = Limits { cells: 100, ..Limits::default() };
        let data: String = (1..=5).map(|r| format!(r#"<row r="{r}"><c r="Z{r}"><v>1</v></c></row>"#)).collect();
        assert_eq!(limit_of(read_table_with(&xlsx(&data, None), "a.xlsx", &small)).0, limit::CELLS);
    }

    #[test]
    fn xlsx_zip_bomb_and_huge_counts_are_refused() {
        // 2 MiB of one repeated row deflates to a few KB; the limit counts decompressed bytes.
        let row = r#"<row><c><v>1</v></c></row>"#;
        let data = row.repeat((2 << 20) / row.len());
        let bytes = xlsx(&data, None);
        assert!(bytes.len() < 64 << 10, "{}", bytes.len());
        let small = Limits { unzipped_bytes: 1 << 20, ..Limits::default() };
        let (limit, at) = limit_of(read_table_with(&bytes, "a.xlsx", &small));
        assert_eq!((limit, at.as_str()), (limit::UNZIPPED_BYTES, "xl/worksheets/sheet1.xml"));
        // calamine reserves `uniqueCount` strings before reading one.
        let sst = r#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="99999999999999999"><si><t>a</t></si></sst>"#;
        let bytes = xlsx(r#"<row r="1"><c r="A1" t="s"><v>0</v></c></row>"#, Some(sst));
        assert_eq!(limit_of(read_table(&bytes, "a.xlsx")).0, limit::CELLS);
        // A field longer than the limit.
        let long = format!(r#"<row r="1"><c r="A1" t="inlineStr"><is><t>{}</t></is></c></row>"#, "长".repeat(30_000));
        assert_eq!(limit_of(read_table(&xlsx(&long, None), "a.xlsx")).0, limit::FIELD_BYTES);
        // A file past the file-size limit is refused before it is looked at.
        let small = Limits { file_bytes: 100, ..Limits::default() };
        assert_eq!(limit_of(read_table_with(&[b'a'; 101], "a.csv", &small)).0, limit::FILE_BYTES);
    }

    #[test]
    fn xls_is_refused_by_name() {
        let ole = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0];
        match read_table(&ole, "a.xls") {
            Err(FileError::Workbook { reason }) => {
                assert!(reason.contains("XLS") && reason.contains("另存为"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    /// Issue 9: a 100 MB CSV of commas used many GB; it now stops at the column limit of its first line.
    #[test]
    fn csv_of_commas_stops_at_the_column_limit() {
        let commas = vec![b','; 100 << 20];
        let started = std::time::Instant::now();
        let (limit, at) = limit_of(read_table(&commas, "a.csv"));
        assert_eq!((limit, at.as_str()), (limit::COLUMNS, "第 1 行 row 1"));
        assert!(started.elapsed().as_secs() < 20);
        let small = Limits { rows: 3, ..Limits::default() };
        assert_eq!(limit_of(read_table_with(b"a\nb\nc\nd\n", "a.csv", &small)).0, limit::ROWS);
        let small = Limits { cells: 5, ..Limits::default() };
        assert_eq!(limit_of(read_table_with(b"a,b\nc,d\ne,f\n", "a.csv", &small)).0, limit::CELLS);
        let long = format!("a,b\n1,{}\n", "x".repeat(70_000));
        let (limit, at) = limit_of(read_table(long.as_bytes(), "a.csv"));
        assert_eq!((limit, at.as_str()), (limit::FIELD_BYTES, "第 2 行第 2 列 row 2, column 2"));
        // Within the limits nothing changes: quoted fields, blank lines, CRLF.
        let t = read_table(b"\n\na,b\r\n\"x,\"\"y\"\"\",2\r\n\r\nz,3", "a.csv").expect("csv");
        assert_eq!(t.headers, vec!["a", "b"]);
        assert_eq!(t.rows, vec![vec!["x,\"y\"".to_string(), "2".into()], vec!["z".into(), "3".into()]]);
    }
}
