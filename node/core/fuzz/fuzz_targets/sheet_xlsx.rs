//! XLSX workbooks (ZIP + XML, seeded with real workbooks): the reader never panics or over-allocates.
#![no_main]
use gongxin_core::{layout, sheet, template::Kind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = sheet::Limits {
        unzipped_bytes: 4 << 20,
        rows: 1_000,
        columns: 64,
        cells: 10_000,
        field_bytes: 4_096,
        ..Default::default()
    };
    if let Ok(t) = sheet::read_table_with(data, "fuzz.xlsx", &limits) {
        assert!(t.rows.len() < 1_000 && t.rows.iter().all(|r| r.len() <= 64));
    }
    // Every sheet, header detection and cell notes (issue 12): no panic either.
    let opts = layout::ReadOptions { limits, include_hidden: true, ..Default::default() };
    if let Ok(x) = layout::read_export(Kind::License, data, "fuzz.xlsx", &opts) {
        assert!(x.data.iter().all(|d| d.rows.len() < 1_000));
    }
});
