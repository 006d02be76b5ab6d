//! Department CSV exports: the reader never panics and stays within its limits.
#![no_main]
use gongxin_core::{layout, sheet, template::Kind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = sheet::Limits { rows: 1_000, columns: 64, cells: 10_000, field_bytes: 4_096, ..Default::default() };
    if let Ok(t) = sheet::read_table_with(data, "fuzz.csv", &limits) {
        assert!(t.rows.len() < 1_000 && t.rows.iter().all(|r| r.len() <= 64));
    }
    // Header detection and row assembly (issue 12): no panic either.
    let opts = layout::ReadOptions { limits, ..Default::default() };
    if let Ok(x) = layout::read_export(Kind::Penalty, data, "fuzz.csv", &opts) {
        assert!(x.data.iter().all(|d| d.rows.len() < 1_000));
    }
});
