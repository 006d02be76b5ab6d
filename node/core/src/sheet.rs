//! Department export files → a header row and data rows of strings. Pure: takes the bytes (and the file
//! name only as a hint), reads no files. CSV in UTF-8 (with or without BOM), UTF-16 with BOM (Excel's
//! "Unicode text", tab-separated) or GB18030 (what Chinese Excel writes as "CSV"); XLSX/XLS/ODS workbooks
//! (first sheet) through calamine.

use crate::template::{FileError, HeaderMap};
use calamine::{Data, Reader};
use std::collections::BTreeMap;
use std::io::Cursor;

/// A table as read from a file: the first row is the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// How the file was decoded, for messages (`UTF-8`, `UTF-8 (BOM)`, `GB18030`, `XLSX`, …).
    pub source_format: String,
}

/// Reads a department export. The format is detected from the content: ZIP (XLSX/ODS) and OLE (XLS)
/// signatures mean a workbook, anything else is CSV text.
pub fn read_table(bytes: &[u8], file_name: &str) -> Result<Table, FileError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(FileError::Empty);
    }
    let is_zip = bytes.starts_with(b"PK\x03\x04");
    let is_ole = bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]);
    let lower = file_name.to_ascii_lowercase();
    if is_zip || is_ole {
        return read_workbook(bytes);
    }
    if lower.ends_with(".xlsx") || lower.ends_with(".xls") {
        return Err(FileError::Workbook {
            reason: format!("{file_name} 的扩展名是 Excel，但内容不是 Excel 工作簿 (extension says Excel, content is not a workbook)"),
        });
    }
    read_csv(bytes, &lower)
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

fn read_csv(bytes: &[u8], lower_name: &str) -> Result<Table, FileError> {
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
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(text.as_bytes());
    let mut all: Vec<Vec<String>> = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            FileError::Csv { line, reason: e.to_string() }
        })?;
        all.push(rec.iter().map(str::to_string).collect());
    }
    into_table(all, format)
}

fn into_table(mut all: Vec<Vec<String>>, format: &str) -> Result<Table, FileError> {
    // Leading blank lines before the header are skipped.
    while all.first().is_some_and(|r| r.iter().all(|c| c.trim().is_empty())) {
        all.remove(0);
    }
    if all.is_empty() {
        return Err(FileError::Empty);
    }
    let headers = all.remove(0).into_iter().map(|h| h.trim().trim_start_matches('\u{feff}').to_string()).collect();
    Ok(Table { headers, rows: all, source_format: format.to_string() })
}

fn read_workbook(bytes: &[u8]) -> Result<Table, FileError> {
    let mut wb = calamine::open_workbook_auto_from_rs(Cursor::new(bytes.to_vec()))
        .map_err(|e| FileError::Workbook { reason: e.to_string() })?;
    let format = match &wb {
        calamine::Sheets::Xls(_) => "XLS",
        calamine::Sheets::Xlsx(_) => "XLSX",
        calamine::Sheets::Xlsb(_) => "XLSB",
        calamine::Sheets::Ods(_) => "ODS",
    };
    let range = match wb.worksheet_range_at(0) {
        Some(Ok(r)) => r,
        Some(Err(e)) => return Err(FileError::Workbook { reason: e.to_string() }),
        None => return Err(FileError::Workbook { reason: "工作簿没有工作表 (no worksheet)".to_string() }),
    };
    // Rows are laid out from A1, so that column numbers match what the operator sees.
    let (row0, col0) = range.start().unwrap_or((0, 0));
    let mut all: Vec<Vec<String>> = vec![Vec::new(); row0 as usize];
    for row in range.rows() {
        let mut cells = vec![String::new(); col0 as usize];
        cells.extend(row.iter().map(cell_text));
        all.push(cells);
    }
    into_table(all, format)
}

/// The text of one workbook cell as an operator would read it: dates as `YYYY-MM-DD`, integral numbers
/// without `.0`, other numbers in their shortest exact decimal form.
fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(x) => {
            if x.fract() == 0.0 && x.abs() < 1e21 {
                format!("{x:.0}")
            } else {
                x.to_string()
            }
        }
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Data::DateTime(dt) => {
            let (y, m, day, h, min, s, ms) = dt.to_ymd_hms_milli();
            if (h, min, s, ms) == (0, 0, 0, 0) {
                format!("{y:04}-{m:02}-{day:02}")
            } else {
                format!("{y:04}-{m:02}-{day:02} {h:02}:{min:02}:{s:02}")
            }
        }
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
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
}
