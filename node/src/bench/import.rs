//! `gongxin-node bench import`: generated 行政许可/行政处罚 rows through the node's real import path —
//! `Ledger::import` (validate → sign → append → flush, one atomic batch and one signed checkpoint per chunk) on a
//! sled store in a throwaway data dir — timed, with the bytes the store occupies per record.
//!
//! Declared as a child module of `bench` so it shares that module's `openssl speed` runner.

use super::Output;
use crate::app::Ledger;
use crate::config::{Config, LogFormat};
use anyhow::{bail, Context as _};
use gongxin_core::crypto::SigningKey;
use gongxin_core::template::{self, Kind, RefData};
use gongxin_core::testdata::Generator;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The county whose node the benchmark plays (芙蓉区, Changsha).
const COUNTY: &str = "430102";

#[derive(Debug, Default, serde::Serialize)]
pub struct ImportFigures {
    /// Rows offered to the import (half licences, half penalties, alternating chunks).
    pub rows: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub duplicates: u64,
    pub chunk_rows: usize,
    pub chunks: usize,
    /// Wall time of the import calls only (rows generated beforehand).
    pub seconds: f64,
    pub rows_per_s: f64,
    /// rows/s over the first and the last tenth of the chunks, and last ÷ first: whether an import slows down as
    /// the store grows (issue 14 item 6: within 20 %).
    pub first_tenth_rows_per_s: f64,
    pub last_tenth_rows_per_s: f64,
    pub growth_ratio: f64,
    /// Log entries in the store after the import.
    pub records: u64,
    /// Sum of the store directory's file sizes (apparent bytes) after the last flush.
    pub store_bytes: u64,
    /// The same in allocated blocks (what `du` shows).
    pub store_bytes_allocated: u64,
    pub bytes_on_disk_per_record: f64,
    pub bytes_allocated_per_record: f64,
    /// Average payload (record body JSON) and leaf (signed header) sizes, for scale.
    pub payload_bytes_avg: f64,
    pub leaf_bytes_avg: f64,
    pub signature_bytes_avg: f64,
    /// Leaf + signature + payload: what a record is before any store overhead (issue 14's "raw bytes").
    pub raw_bytes_per_record: f64,
    /// `bytes_on_disk_per_record` ÷ `raw_bytes_per_record` (target ≤ 1.5).
    pub disk_to_raw: f64,
    /// Whether the store uses sled's page compression (zstd, `store::sled::COMPRESSION_LEVEL`).
    pub compressed: bool,
    /// Key + value bytes per record in each table, before sled's own encoding and compression.
    pub logical_bytes_per_record: std::collections::BTreeMap<String, f64>,
    /// Bytes on disk per record after the store is closed and opened again (sled's recovery path).
    pub bytes_on_disk_per_record_after_reopen: f64,
    /// Same run, one core, in process: the crate's SM2 sign/s (what one row costs in signing alone) and
    /// row validation alone.
    pub sm2_sign_per_s: f64,
    pub validate_rows_per_s: f64,
    /// Share of the import's wall time explained by signing alone (rows_per_s / sm2_sign_per_s).
    pub sign_share_of_import: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openssl_sm2_sign_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import_rows_per_s_to_openssl_sign: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openssl_note: Option<String>,
    pub store_dir: String,
}

/// Removes the throwaway data dir when the benchmark ends, however it ends.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn make_temp_dir(parent: &Path) -> anyhow::Result<TempDir> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let dir = parent.join(format!("gongxin-bench-import-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(TempDir(dir))
}

/// A county node's data dir with a fresh SM2 key and the config `Ledger::open` needs.
fn county_config(dir: &Path) -> anyhow::Result<Config> {
    use std::io::Write as _;
    let div = RefData::embedded().divisions.current(COUNTY).context("county 430102 missing from the division table")?;
    let key = SigningKey::generate();
    let key_path = dir.join("node.key");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_path)
        .with_context(|| format!("create {}", key_path.display()))?;
    f.write_all(key.to_pkcs8_pem().as_bytes()).with_context(|| format!("write {}", key_path.display()))?;
    Ok(Config {
        data_dir: dir.to_path_buf(),
        code: COUNTY.to_string(),
        name: div.name.clone(),
        level: div.level.as_str().to_string(),
        log_format: LogFormat::Text,
        log_level: "warn".into(),
        log_output: crate::config::LogOutput::Stderr,
        log_utc_offset: time::UtcOffset::UTC,
        division_parent: div.parent.clone(),
        heartbeat: Duration::from_secs(60),
        federation: None,
        http: crate::config::HttpConfig::default(),
        store_cache_bytes: crate::store::sled::DEFAULT_CACHE_BYTES,
    })
}

/// (apparent bytes, allocated bytes) of every file under `dir`.
pub(crate) fn dir_size(dir: &Path) -> anyhow::Result<(u64, u64)> {
    let mut total = (0u64, 0u64);
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            let (a, b) = dir_size(&entry.path())?;
            total.0 += a;
            total.1 += b;
        } else {
            total.0 += meta.len();
            total.1 += meta.blocks() * 512;
        }
    }
    Ok(total)
}

/// Chunk kinds alternate licence, penalty, licence, … so the mix is half and half.
fn chunk_kind(i: usize) -> Kind {
    if i % 2 == 0 {
        Kind::License
    } else {
        Kind::Penalty
    }
}

type Chunk = (Kind, Vec<(u64, BTreeMap<String, String>)>);

/// Generates `rows` valid rows in chunks of `chunk_rows`, row numbers counting from 1 in each chunk as a file's
/// rows would.
fn generate(rows: u64, chunk_rows: usize) -> Vec<Chunk> {
    let mut g = Generator::new(2026, COUNTY);
    let mut chunks = Vec::new();
    let mut left = rows as usize;
    while left > 0 {
        let n = left.min(chunk_rows);
        let kind = chunk_kind(chunks.len());
        chunks.push((kind, (1..=n as u64).map(|r| (r, g.row(kind))).collect()));
        left -= n;
    }
    chunks
}

pub fn run(output: Output, rows: u64, chunk_rows: usize, dir: Option<PathBuf>, no_openssl: bool) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("note: debug build — figures are meaningless; use `cargo run --release -p gongxin-node -- bench import` / 注意：调试构建，请使用 --release");
    }
    let fig = measure(rows, chunk_rows, dir, no_openssl, Duration::from_secs(2))?;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&fig)?),
        Output::Table => print_table(&fig),
    }
    Ok(())
}

/// Imports `rows` generated rows in chunks of `chunk_rows` into a fresh store under `dir` (default: the system
/// temp dir), which is removed afterwards; `context` is the time spent on each same-run context figure (sign/s,
/// validate rows/s). Fails unless every row was accepted, the final checkpoint verifies over all of them and
/// the stored entry signatures sampled verify.
pub fn measure(
    rows: u64,
    chunk_rows: usize,
    dir: Option<PathBuf>,
    no_openssl: bool,
    context: Duration,
) -> anyhow::Result<ImportFigures> {
    if rows == 0 || chunk_rows == 0 {
        bail!("--rows and --chunk must be at least 1");
    }
    if chunk_rows > 5_000 {
        bail!("--chunk {chunk_rows}: the node caps one import call at 5000 rows");
    }
    let parent = dir.unwrap_or_else(std::env::temp_dir);
    let tmp = make_temp_dir(&parent)?;
    let cfg = county_config(&tmp.0)?;

    eprintln!("generating {rows} rows / 正在生成测试数据 …");
    let chunks = generate(rows, chunk_rows);

    // Same-run context, measured before the import so the store's background threads are not competing.
    let sample: Vec<&Chunk> = chunks.iter().take(4).collect();
    let validate_rows_per_s = {
        let refs = RefData::embedded();
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < context / 2 {
            for (kind, rs) in &sample {
                for (row, fields) in rs {
                    // Generated rows are valid; a rejection here would make the import figure meaningless.
                    if template::validate_row(*kind, *row, fields, refs).is_err() {
                        bail!("generated {kind} row {row} does not validate");
                    }
                    n += 1;
                }
            }
        }
        n as f64 / started.elapsed().as_secs_f64()
    };
    let sm2_sign_per_s = {
        let key = SigningKey::generate();
        let msg = [0x42u8; 200];
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < context {
            std::hint::black_box(key.sign(&msg));
            n += 1;
        }
        n as f64 / started.elapsed().as_secs_f64()
    };

    let ledger = Ledger::open(&cfg).context("open the benchmark ledger")?;
    let mut fig = ImportFigures {
        rows,
        chunk_rows,
        chunks: chunks.len(),
        sm2_sign_per_s,
        validate_rows_per_s,
        store_dir: cfg.store_path().display().to_string(),
        ..ImportFigures::default()
    };
    eprintln!("importing {rows} rows in {} chunks of {chunk_rows} / 正在导入 …", chunks.len());
    let total = chunks.len();
    let tenth = (total / 10).max(1);
    let (mut first, mut last) = ((0u64, Duration::ZERO), (0u64, Duration::ZERO));
    let started = Instant::now();
    for (i, (kind, rs)) in chunks.into_iter().enumerate() {
        let n = rs.len() as u64;
        let t0 = Instant::now();
        let out = ledger.import(kind, "bench", rs, None).map_err(|e| anyhow::anyhow!("import chunk {i}: {e}"))?;
        let took = t0.elapsed();
        if i < tenth {
            first = (first.0 + n, first.1 + took);
        }
        if i >= total.saturating_sub(tenth) {
            last = (last.0 + n, last.1 + took);
        }
        fig.accepted += out.accepted;
        fig.rejected += out.errors.len() as u64;
        fig.duplicates += out.duplicates;
        fig.records = out.size;
        if (i + 1) % 10 == 0 || i + 1 == total {
            eprint!("\r  {}/{rows}", fig.accepted + fig.duplicates + fig.rejected);
        }
    }
    fig.seconds = started.elapsed().as_secs_f64();
    eprintln!();
    fig.rows_per_s = rows as f64 / fig.seconds;
    let rate = |(n, t): (u64, Duration)| if t.is_zero() { 0.0 } else { n as f64 / t.as_secs_f64() };
    fig.first_tenth_rows_per_s = rate(first);
    fig.last_tenth_rows_per_s = rate(last);
    fig.growth_ratio =
        if fig.first_tenth_rows_per_s > 0.0 { fig.last_tenth_rows_per_s / fig.first_tenth_rows_per_s } else { 0.0 };
    fig.sign_share_of_import = fig.rows_per_s / fig.sm2_sign_per_s;

    // What was stored must be what was claimed: every row accepted, and the head signed over all of them.
    if fig.accepted != rows || fig.records != rows {
        bail!(
            "import accepted {} of {rows} rows ({} rejected, {} duplicates), log size {}: generated rows must all be new and valid",
            fig.accepted,
            fig.rejected,
            fig.duplicates,
            fig.records
        );
    }
    let status = ledger.status().map_err(|e| anyhow::anyhow!("{e}"))?;
    let cp = status.checkpoint.context("no checkpoint after the import")?;
    let public = ledger.signing_key().public_key();
    let parsed = cp.verify(&public).map_err(|e| anyhow::anyhow!("final checkpoint does not verify: {e}"))?;
    if parsed.size != rows || parsed.root != status.root {
        bail!("final checkpoint covers {} entries, expected {rows} with the stored root", parsed.size);
    }
    let probe = ledger.entries(0, rows.min(1000)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (mut payload, mut leaf, mut signature) = (0usize, 0usize, 0usize);
    for e in &probe {
        public.verify(&e.leaf, &e.signature).map_err(|err| anyhow::anyhow!("entry {} signature: {err}", e.index))?;
        payload += e.payload.as_ref().map(|p| p.0.len()).unwrap_or(0);
        leaf += e.leaf.len();
        signature += e.signature.len();
    }
    let per_probe = |n: usize| n as f64 / probe.len().max(1) as f64;
    fig.payload_bytes_avg = per_probe(payload);
    fig.leaf_bytes_avg = per_probe(leaf);
    fig.signature_bytes_avg = per_probe(signature);
    fig.raw_bytes_per_record = fig.payload_bytes_avg + fig.leaf_bytes_avg + fig.signature_bytes_avg;
    let mut logical = std::collections::BTreeMap::<String, u64>::new();
    ledger
        .log()
        .store()
        .for_each(&mut |t, k, v| {
            *logical.entry(format!("{t:?}")).or_default() += (k.len() + v.len()) as u64;
            Ok(())
        })
        .map_err(|e| anyhow::anyhow!("read the store back: {e}"))?;
    fig.logical_bytes_per_record = logical.into_iter().map(|(t, n)| (t, n as f64 / rows as f64)).collect();

    // Every batch was flushed before `import` returned, so this is what a crash right now would leave on disk.
    let (apparent, allocated) = dir_size(&cfg.store_path())?;
    fig.store_bytes = apparent;
    fig.store_bytes_allocated = allocated;
    fig.bytes_on_disk_per_record = apparent as f64 / rows as f64;
    fig.bytes_allocated_per_record = allocated as f64 / rows as f64;
    fig.disk_to_raw = fig.bytes_on_disk_per_record / fig.raw_bytes_per_record.max(1.0);
    drop(ledger);
    let reopened = cfg.open_store().context("reopen the store")?;
    fig.compressed = reopened.is_compressed();
    drop(reopened);
    fig.bytes_on_disk_per_record_after_reopen = dir_size(&cfg.store_path())?.0 as f64 / rows as f64;

    if no_openssl {
        fig.openssl_note = Some("skipped (--no-openssl)".into());
    } else {
        match super::openssl_speed_sm2(3) {
            Ok((sign, _verify)) => {
                fig.openssl_sm2_sign_per_s = Some(sign);
                fig.import_rows_per_s_to_openssl_sign = Some(fig.rows_per_s / sign);
            }
            Err(e) => fig.openssl_note = Some(format!("{e:#}")),
        }
    }
    Ok(fig)
}

fn print_table(f: &ImportFigures) {
    let opt = |v: Option<f64>, p: usize| v.map(|v| format!("{v:.p$}")).unwrap_or_else(|| "-".into());
    let rows: Vec<(&str, String)> = vec![
        ("rows imported (licence/penalty alternating chunks)", f.accepted.to_string()),
        ("chunks × rows (one atomic flushed batch each)", format!("{} × {}", f.chunks, f.chunk_rows)),
        ("seconds", format!("{:.2}", f.seconds)),
        ("rows/s (validate + sign + append + flush)", format!("{:.0}", f.rows_per_s)),
        (
            "  first / last tenth rows/s (last ÷ first)",
            format!("{:.0} / {:.0} ({:.2})", f.first_tenth_rows_per_s, f.last_tenth_rows_per_s, f.growth_ratio),
        ),
        ("store bytes on disk per record (apparent)", format!("{:.0}", f.bytes_on_disk_per_record)),
        ("store bytes on disk per record (allocated)", format!("{:.0}", f.bytes_allocated_per_record)),
        ("  store size, MiB (apparent)", format!("{:.1}", f.store_bytes as f64 / 1048576.0)),
        (
            "  avg payload / leaf / signature bytes",
            format!("{:.0} / {:.0} / {:.0}", f.payload_bytes_avg, f.leaf_bytes_avg, f.signature_bytes_avg),
        ),
        ("on disk ÷ raw (leaf + signature + payload)", format!("{:.2}", f.disk_to_raw)),
        ("  compressed (sled zstd)", f.compressed.to_string()),
        ("  bytes on disk per record after reopen", format!("{:.0}", f.bytes_on_disk_per_record_after_reopen)),
        ("same run: SM2 sign/s, 1 core (crate)", format!("{:.0}", f.sm2_sign_per_s)),
        ("same run: validate rows/s, 1 core", format!("{:.0}", f.validate_rows_per_s)),
        ("import rows/s ÷ crate sign/s", format!("{:.2}", f.sign_share_of_import)),
        ("same run: openssl speed sm2 sign/s", opt(f.openssl_sm2_sign_per_s, 0)),
        ("import rows/s ÷ openssl sign/s", opt(f.import_rows_per_s_to_openssl_sign, 2)),
    ];
    let w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    for (name, v) in rows {
        let pad = w - name.chars().count();
        println!("{name}{}  {v:>12}", " ".repeat(pad));
    }
    for (t, n) in &f.logical_bytes_per_record {
        println!("  logical key+value bytes per record in {t}: {n:.0}");
    }
    if let Some(n) = &f.openssl_note {
        println!("openssl: {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_import_is_measured_on_a_real_store_and_cleaned_up() {
        let parent = std::env::temp_dir().join(format!("gongxin-bench-import-test-{}", std::process::id()));
        std::fs::create_dir_all(&parent).unwrap();
        let fig = measure(250, 100, Some(parent.clone()), true, Duration::from_millis(50)).unwrap();
        assert_eq!((fig.accepted, fig.records, fig.rejected, fig.duplicates), (250, 250, 0, 0));
        assert_eq!(fig.chunks, 3);
        assert!(fig.rows_per_s > 0.0 && fig.seconds > 0.0);
        // The store holds at least every payload and signed leaf it was given.
        assert!(fig.payload_bytes_avg > 100.0 && fig.leaf_bytes_avg > 100.0, "{fig:?}");
        assert!(fig.bytes_on_disk_per_record > fig.payload_bytes_avg + fig.leaf_bytes_avg, "{fig:?}");
        // The footprint figures: a compressed store, raw bytes from leaf, signature and payload, every table's
        // logical bytes (the payload table holds at least the payloads), the size after a reopen.
        assert!(fig.compressed, "{fig:?}");
        assert!(fig.signature_bytes_avg > 60.0 && fig.signature_bytes_avg < 80.0, "{fig:?}");
        let raw = fig.payload_bytes_avg + fig.leaf_bytes_avg + fig.signature_bytes_avg;
        assert!((fig.raw_bytes_per_record - raw).abs() < 1e-9 && fig.disk_to_raw > 0.0, "{fig:?}");
        assert!(fig.logical_bytes_per_record["Payload"] >= fig.payload_bytes_avg, "{fig:?}");
        assert!(fig.logical_bytes_per_record["Leaf"] >= fig.leaf_bytes_avg, "{fig:?}");
        assert!(fig.bytes_on_disk_per_record_after_reopen > 0.0, "{fig:?}");
        assert!(fig.first_tenth_rows_per_s > 0.0 && fig.last_tenth_rows_per_s > 0.0, "{fig:?}");
        // The throwaway data dir is gone.
        assert_eq!(std::fs::read_dir(&parent).unwrap().count(), 0);
        std::fs::remove_dir(&parent).unwrap();
    }
}
