//! `gongxin-node bench query`: the one-stop query with N records held (generated 行政许可/行政处罚 records
//! appended through the real append path — signed leaves, one atomic batch per chunk, views in the same batch —
//! into a sled store in a throwaway data dir): p50/p99 latency of a code lookup, a name-prefix search returning
//! its first page, and a credit profile, and the bytes of index per record.
//!
//! Subjects to ask about are sampled evenly over the whole store while it is built, so lookups hit old and new
//! records alike (a cache warmed only by the newest appends would flatter the figures).

use crate::app::check::today_in_china;
use crate::app::ledger::Ledger;
use crate::app::query::Search;
use crate::store::{Store, Table};
use crate::views::VIEW_TABLES;
use anyhow::{Context as _, Result};
use gongxin_core::crypto::SigningKey;
use gongxin_core::record::Record;
use gongxin_core::template::Kind;
use gongxin_core::testdata::Generator;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// The county whose node the benchmark plays (芙蓉区, Changsha).
const COUNTY: &str = "430102";
/// Records per append call (one atomic batch, one signed checkpoint).
const CHUNK: u64 = 5_000;
/// Subjects kept to ask about.
const SAMPLES: u64 = 4_096;
/// Results a name search's first page returns (the public site's page size).
pub const NAME_PAGE: usize = 20;
/// Rows per scan when totalling the index tables.
const SCAN_CHUNK: usize = 10_000;

#[derive(Debug, Default, serde::Serialize)]
pub struct QueryFigures {
    pub bench: &'static str,
    pub records: u64,
    pub build_seconds: f64,
    pub build_records_per_s: f64,
    /// Queries timed per kind (one thread; code, name and profile take turns on each sampled subject).
    pub queries_each: usize,
    pub code_p50_ms: f64,
    pub code_p99_ms: f64,
    /// First page of `name_page` results for a four-character prefix of a sampled name.
    pub name_page: usize,
    pub name_p50_ms: f64,
    pub name_p99_ms: f64,
    /// Average results on a name search's first page (a page that is never full would flatter the figure).
    pub name_hits_avg: f64,
    pub profile_p50_ms: f64,
    pub profile_p99_ms: f64,
    /// Key + value bytes of the view tables (natural key, subject, amendment target, kind, name) per record,
    /// before sled's own encoding and compression; and per table.
    pub index_bytes_per_record: f64,
    pub index_bytes_per_record_by_table: BTreeMap<String, f64>,
    /// The store directory's apparent bytes per record.
    pub store_bytes_per_record: f64,
    pub peak_rss_mib: f64,
}

/// One subject to ask about: its code and a name prefix that finds it.
struct Sample {
    code: String,
    prefix: String,
}

fn sample_of(r: &Record) -> Option<Sample> {
    let s = r.subject()?;
    let code = s.keys().into_iter().next()?;
    let keys = gongxin_core::names::index_keys(&s.name);
    let prefix: String = keys.last()?.chars().take(4).collect();
    (prefix.chars().count() >= 2).then_some(Sample { code, prefix })
}

/// Latencies (ms) of the three queries, each call timed on its own; the three kinds take turns on the same
/// subject so that none of them runs on caches warmed by the others alone.
#[derive(Default)]
struct Timings {
    code: Vec<f64>,
    name: Vec<f64>,
    profile: Vec<f64>,
}

fn time_ms<T>(into: &mut Vec<f64>, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let t = Instant::now();
    let out = f()?;
    into.push(t.elapsed().as_secs_f64() * 1e3);
    Ok(out)
}

fn p50_p99(mut lat: Vec<f64>) -> (f64, f64) {
    lat.sort_by(|a, b| a.total_cmp(b));
    (super::check::pct(&lat, 0.5), super::check::pct(&lat, 0.99))
}

/// Key + value bytes of one table, scanned a chunk at a time (never the whole table in memory).
fn table_bytes(store: &dyn Store, table: Table) -> Result<u64> {
    let mut total = 0u64;
    crate::store::scan_pages(store, table, &[], None, SCAN_CHUNK, |rows| {
        total += rows.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum::<u64>();
        Ok::<_, crate::store::StoreError>(true)
    })?;
    Ok(total)
}

pub fn run(records: u64, queries: usize, json_only: bool) -> Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("注意：调试构建，数字无意义，请使用 --release / note: debug build — figures are meaningless");
    }
    let records = records.max(1);
    let queries = queries.max(1);
    let dir = super::import::make_temp_dir(&std::env::temp_dir())?;
    let store_dir = dir.0.join("store");
    let store = crate::store::sled::SledStore::open(&store_dir).context("open sled")?;
    let ledger = Arc::new(Ledger::new(COUNTY, "芙蓉区", "county", SigningKey::generate(), Arc::new(store)));
    eprintln!("写入 {records} 条记录（真实追加路径）/ appending {records} records through the real append path …");
    let mut gen = Generator::new(14, COUNTY);
    let stride = (records / SAMPLES).max(1);
    let mut samples = Vec::new();
    let start = Instant::now();
    let mut i = 0u64;
    while i < records {
        let n = (records - i).min(CHUNK);
        let kind = if (i / CHUNK) % 2 == 0 { Kind::License } else { Kind::Penalty };
        let mut batch = Vec::with_capacity(n as usize);
        for k in i..i + n {
            let r = gen.record(kind);
            if k % stride == 0 {
                samples.extend(sample_of(&r));
            }
            batch.push((k - i + 1, r));
        }
        let out = ledger.append_records(batch, None)?;
        anyhow::ensure!(out.errors.is_empty(), "generated records refused: {:?}", out.errors.first());
        i += n;
        if !json_only && (i / CHUNK) % 200 == 0 {
            eprintln!("  {i} / {records} ({:.0} s)", start.elapsed().as_secs_f64());
        }
    }
    let build_seconds = start.elapsed().as_secs_f64();
    anyhow::ensure!(!samples.is_empty(), "no subject sampled");
    let today = today_in_china();

    let mut t = Timings::default();
    let mut name_hits = 0usize;
    for i in 0..queries {
        let s = &samples[(i * 7919) % samples.len()];
        let page = time_ms(&mut t.code, || {
            Ok(ledger.search(&Search { code: Some(s.code.clone()), limit: 50, ..Default::default() }, today)?)
        })?;
        anyhow::ensure!(!page.hits.is_empty(), "code {} not found", s.code);
        let page = time_ms(&mut t.name, || {
            Ok(ledger
                .search(&Search { name: Some(s.prefix.clone()), limit: NAME_PAGE, ..Default::default() }, today)?)
        })?;
        anyhow::ensure!(!page.hits.is_empty(), "name prefix {} found nothing", s.prefix);
        name_hits += page.hits.len();
        let p = time_ms(&mut t.profile, || Ok(ledger.profile(&s.code, today)?))?;
        anyhow::ensure!(p.licenses.len() + p.penalties.len() > 0, "empty profile for {}", s.code);
    }
    let ((code_p50_ms, code_p99_ms), (name_p50_ms, name_p99_ms), (profile_p50_ms, profile_p99_ms)) =
        (p50_p99(t.code), p50_p99(t.name), p50_p99(t.profile));

    let store = ledger.log().store();
    let mut by_table = BTreeMap::new();
    let mut index_bytes = 0u64;
    for t in VIEW_TABLES {
        let b = table_bytes(store, t)?;
        index_bytes += b;
        by_table.insert(format!("{t:?}"), b as f64 / records as f64);
    }
    store.flush()?;
    let (store_bytes, _) = super::import::dir_size(&store_dir)?;
    let fig = QueryFigures {
        bench: "query",
        records,
        build_seconds,
        build_records_per_s: records as f64 / build_seconds.max(1e-9),
        queries_each: queries,
        code_p50_ms,
        code_p99_ms,
        name_page: NAME_PAGE,
        name_p50_ms,
        name_p99_ms,
        name_hits_avg: name_hits as f64 / queries as f64,
        profile_p50_ms,
        profile_p99_ms,
        index_bytes_per_record: index_bytes as f64 / records as f64,
        index_bytes_per_record_by_table: by_table,
        store_bytes_per_record: store_bytes as f64 / records as f64,
        peak_rss_mib: super::check::rss_mib("VmHWM:"),
    };
    if !json_only {
        println!("一站式查询基准 / query benchmark: {records} records held");
        println!(
            "  build: {:.1} s ({:.0} records/s through the append path)",
            fig.build_seconds, fig.build_records_per_s
        );
        println!("  code lookup     p50 {:.3} ms  p99 {:.3} ms  (target p99 < 5 ms)", fig.code_p50_ms, fig.code_p99_ms);
        println!(
            "  name, 1st page  p50 {:.3} ms  p99 {:.3} ms  (target p99 < 20 ms; {:.1} of {} results a page)",
            fig.name_p50_ms, fig.name_p99_ms, fig.name_hits_avg, NAME_PAGE
        );
        println!("  profile         p50 {:.3} ms  p99 {:.3} ms", fig.profile_p50_ms, fig.profile_p99_ms);
        println!(
            "  index: {:.0} bytes/record (key+value, before sled); store {:.0} bytes/record on disk; peak RSS {:.0} MiB",
            fig.index_bytes_per_record, fig.store_bytes_per_record, fig.peak_rss_mib
        );
    }
    println!("{}", serde_json::to_string(&fig)?);
    Ok(())
}
