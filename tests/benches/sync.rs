//! End-to-end sync benchmark on a real three-node federation (county 430102 → city 430100 → province 430000),
//! real `gongxin-node` processes on loopback mTLS, records imported with the real `gongxin import` CLI.
//!
//! Run: `cargo bench -p gongxin-tests --bench sync`. Cargo builds the package's binaries (`gxt-node`,
//! `gxt-cli`) in the bench profile before running a benchmark, and the testkit finds them next to the bench
//! executable (`target/release/`). Running the bench executable by hand needs them built first:
//! `cargo build --release -p gongxin-tests --bins`.
//!
//! Environment knobs: `GONGXIN_BENCH_RECORDS` (default 100000), `GONGXIN_BENCH_CATCHUP` (50000),
//! `GONGXIN_BENCH_FILE_ROWS` (rows per imported CSV file, 10000), `GONGXIN_BENCH_KEEP=1` keeps the federation's
//! directory for inspection, `GONGXIN_TLS_PROFILE=sm2` runs the federation on the sm2 TLS profile (RFC 8998;
//! default ecdsa).
//!
//! Measured:
//! 1. 100k records imported at the county (CSV files through `gongxin import`, which sends 1000-row chunks),
//!    while the federation syncs: time from the first import call until the province's mirror of the county
//!    holds them all → records/s, next to the crypto-bound ceiling measured in this same run (one SM2 sign at
//!    the county plus one verify at the city and one at the province per record, on 2 cores).
//! 2. Catch-up: the city stopped, 50k imported at the county, the city restarted: time until the province holds
//!    them all, next to the verify-bound ceiling (two verifies per record on 2 cores).
//! 3. Peak RSS (VmHWM) and CPU time of each node process, read from /proc before it is stopped.
//! 4. Afterwards, with the nodes stopped, the province's and the city's stores are opened and the mirrored log
//!    of the county is re-derived from its stored leaves: its root must equal the county's own root.

use anyhow::{bail, Context, Result};
use gongxin_core::crypto::{PublicKey, SigningKey, Verifier};
use gongxin_core::template::Kind;
use gongxin_core::testdata::{self, Generator};
use gongxin_node::store::log::Log;
use gongxin_node::store::sled::SledStore;
use gongxin_tests::fed::Fed;
use gongxin_tests::{cli, cli_bin, node_bin, text};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PROVINCE: &str = "430000";
const CITY: &str = "430100";
const COUNTY: &str = "430102";
const TOPOLOGY: &[(&str, Option<&str>)] = &[(PROVINCE, None), (CITY, Some(PROVINCE)), (COUNTY, Some(CITY))];
const POLL: Duration = Duration::from_millis(500);
const PHASE_LIMIT: Duration = Duration::from_secs(900);

fn env_usize(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().with_context(|| format!("{name}={v:?} is not a number")),
        Err(_) => Ok(default),
    }
}

/// Operations per second of `f` over about `secs` seconds, after a short warm-up.
fn rate(secs: f64, mut f: impl FnMut()) -> f64 {
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(200) {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

struct Crypto {
    sign_per_s: f64,
    verify_plain_per_s: f64,
    verify_registered_per_s: f64,
}

/// One-core SM2 figures with the project's crypto, on messages shaped like the signed leaves (about 300 bytes).
fn measure_crypto() -> Crypto {
    let key = SigningKey::generate();
    let public = key.public_key();
    let msgs: Vec<Vec<u8>> = (0..256u32)
        .map(|i| {
            let mut m = gongxin_core::crypto::sm3(&i.to_be_bytes()).repeat(10);
            m.truncate(300);
            m
        })
        .collect();
    let sigs: Vec<Vec<u8>> = msgs.iter().map(|m| key.sign(m)).collect();
    let mut i = 0usize;
    let sign_per_s = rate(2.0, || {
        i = (i + 1) % msgs.len();
        std::hint::black_box(key.sign(&msgs[i]));
    });
    let verify_plain_per_s = rate(2.0, || {
        i = (i + 1) % msgs.len();
        public.verify(&msgs[i], &sigs[i]).expect("benchmark signature verifies");
    });
    // What the nodes use: the registry's keys are registered with the verifier (per-signer tables).
    let verifier = Verifier::new();
    verifier.register(&public);
    verifier.build_tables();
    let verify_registered_per_s = rate(2.0, || {
        i = (i + 1) % msgs.len();
        verifier.verify(&public, &msgs[i], &sigs[i]).expect("benchmark signature verifies");
    });
    Crypto { sign_per_s, verify_plain_per_s, verify_registered_per_s }
}

/// Records/s when every record costs one sign and two verifies of CPU time and 2 cores are fully busy.
fn ceiling(sign: f64, verify: f64) -> f64 {
    2.0 / (1.0 / sign + 2.0 / verify)
}

/// Size of the log of `origin` held by the node in `dir` (its own or a mirror), through `gongxin peer list`.
fn held(dir: &str, origin: &str) -> Option<u64> {
    let out = cli(&["peer", "list", "--data-dir", dir, "-o", "json"]);
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["logs"].as_array()?.iter().find(|l| l["origin"] == origin).and_then(|l| l["size"].as_u64())
}

/// Own log head (size, hex root) through `gongxin log show`.
fn own_head(dir: &str) -> Result<(u64, String)> {
    let out = cli(&["log", "show", "--data-dir", dir, "-o", "json"]);
    if !out.status.success() {
        bail!("log show {dir}: {}", text(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    Ok((v["size"].as_u64().context("log show: no size")?, v["root"].as_str().context("log show: no root")?.into()))
}

/// Samples the county's log size at the city and the province every [`POLL`] until the province holds
/// `target` entries or `stop` is set. Each sample is (seconds since `t0`, city size, province size).
struct Poller {
    samples: Arc<Mutex<Vec<(f64, Option<u64>, Option<u64>)>>>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Poller {
    fn start(city: String, province: String, target: u64, t0: Instant) -> Poller {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (samples.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) && t0.elapsed() < PHASE_LIMIT {
                let c = held(&city, COUNTY);
                let p = held(&province, COUNTY);
                s.lock().expect("poller lock").push((t0.elapsed().as_secs_f64(), c, p));
                if p >= Some(target) {
                    break;
                }
                std::thread::sleep(POLL);
            }
        });
        Poller { samples, stop, handle: Some(handle) }
    }

    /// Waits for the poller to finish; returns its samples.
    fn join(mut self) -> Vec<(f64, Option<u64>, Option<u64>)> {
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.samples.lock().expect("poller lock").clone()
    }

    fn last(&self) -> Option<(f64, Option<u64>, Option<u64>)> {
        self.samples.lock().expect("poller lock").last().copied()
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// First sample time at which the city / the province held `target` entries of the county.
fn reached(samples: &[(f64, Option<u64>, Option<u64>)], target: u64) -> (Option<f64>, Option<f64>) {
    let city = samples.iter().find(|s| s.1 >= Some(target)).map(|s| s.0);
    let prov = samples.iter().find(|s| s.2 >= Some(target)).map(|s| s.0);
    (city, prov)
}

#[derive(Clone, Copy, Debug, Default)]
struct ProcFigures {
    pid: u32,
    vm_hwm_kib: u64,
    vm_rss_kib: u64,
    cpu_seconds: f64,
}

impl ProcFigures {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({"pid": self.pid, "vm_hwm_kib": self.vm_hwm_kib, "vm_rss_kib": self.vm_rss_kib,
            "cpu_seconds": self.cpu_seconds})
    }
}

fn procs_json(m: &std::collections::BTreeMap<&str, ProcFigures>) -> serde_json::Value {
    serde_json::Value::Object(m.iter().map(|(k, v)| (k.to_string(), v.json())).collect())
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// Peak and current RSS and CPU time (user + system) of the node whose pid is in `dir/node.pid`.
fn proc_figures(dir: &Path, ticks: f64) -> Result<ProcFigures> {
    let pid: u32 = std::fs::read_to_string(dir.join("node.pid"))
        .with_context(|| format!("read {}/node.pid", dir.display()))?
        .trim()
        .parse()
        .context("node.pid is not a pid")?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("/proc/{pid}"))?;
    let kib = |name: &str| -> Result<u64> {
        let line = status.lines().find(|l| l.starts_with(name)).with_context(|| format!("no {name} for {pid}"))?;
        line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).with_context(|| format!("bad line {line:?}"))
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let after = stat.rsplit_once(')').map(|(_, r)| r).context("bad /proc stat")?;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks_used: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    Ok(ProcFigures { pid, vm_hwm_kib: kib("VmHWM:")?, vm_rss_kib: kib("VmRSS:")?, cpu_seconds: ticks_used / ticks })
}

/// Writes `n` rows of the county as CSV files of `file_rows` rows (licence and penalty files alternating).
fn write_files(g: &mut Generator, dir: &Path, tag: &str, n: usize, file_rows: usize) -> Result<Vec<(Kind, PathBuf)>> {
    let mut files = Vec::new();
    let mut left = n;
    while left > 0 {
        let k = left.min(file_rows);
        let kind = if files.len() % 2 == 0 { Kind::License } else { Kind::Penalty };
        let rows: Vec<_> = (0..k).map(|_| g.row(kind)).collect();
        let path = dir.join(format!("{tag}-{:03}-{}.csv", files.len(), kind.as_str()));
        std::fs::write(&path, testdata::to_csv(kind, &rows))?;
        files.push((kind, path));
        left -= k;
    }
    Ok(files)
}

/// Imports the files at the county through `gongxin import`; returns the rows accepted.
fn import_files(county_dir: &str, files: &[(Kind, PathBuf)]) -> Result<u64> {
    let mut accepted = 0;
    for (kind, path) in files {
        let p = path.to_str().context("utf-8 path")?;
        let out = cli(&["import", "--data-dir", county_dir, "--kind", kind.as_str(), p, "-o", "json"]);
        if !out.status.success() {
            bail!("gongxin import {p}: {}", text(&out.stderr));
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("import JSON")?;
        accepted += v["accepted"].as_u64().context("import JSON: no accepted")?;
    }
    Ok(accepted)
}

/// Re-derives the root of the county's log from the leaves stored in the (stopped) node's store in `dir`.
fn mirrored_root(dir: &Path) -> Result<(u64, String, String)> {
    let store = SledStore::open(&dir.join("store")).with_context(|| format!("open {}/store", dir.display()))?;
    let log = Log::new(store);
    let head = log.head(COUNTY)?;
    let recomputed = log.recompute_root(COUNTY)?;
    Ok((head.size, hex::encode(head.root), hex::encode(recomputed)))
}

fn stop(fed: &mut Fed, code: &str) -> Result<()> {
    let n = fed.nodes.get_mut(code).context("no such node")?;
    let mut p = n.proc.take().context("node not running")?;
    let st = p.stop()?;
    if !st.success() {
        bail!("node {code} exited with {st} on SIGTERM");
    }
    Ok(())
}

fn kib_to_mib(k: u64) -> f64 {
    k as f64 / 1024.0
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    if std::env::args().skip(1).any(|a| a != "--bench") {
        eprintln!("usage: cargo bench -p gongxin-tests --bench sync (knobs via GONGXIN_BENCH_* variables)");
    }
    for bin in [node_bin(), cli_bin()] {
        if !bin.exists() {
            bail!(
                "{} not found: run through `cargo bench -p gongxin-tests --bench sync`, or build it first with `cargo build --release -p gongxin-tests --bins`",
                bin.display()
            );
        }
    }
    if cfg!(debug_assertions) {
        eprintln!("note: debug build — figures are meaningless");
    }
    let records = env_usize("GONGXIN_BENCH_RECORDS", 100_000)?;
    let catchup = env_usize("GONGXIN_BENCH_CATCHUP", 50_000)?;
    let file_rows = env_usize("GONGXIN_BENCH_FILE_ROWS", 10_000)?.max(1);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let ticks = clock_ticks();

    eprintln!("[1/6] SM2 sign/verify, one core, in process (same-run ceiling) …");
    let before = measure_crypto();

    let tmp = tempfile::tempdir()?;
    let root = tmp.path().to_path_buf();
    eprintln!("[2/6] generating {records} + {catchup} rows as CSV files in {} …", root.display());
    let data = root.join("data");
    std::fs::create_dir(&data)?;
    let mut g = Generator::new(43_0102, COUNTY);
    let files1 = write_files(&mut g, &data, "main", records, file_rows)?;
    let files2 = write_files(&mut g, &data, "catchup", catchup, file_rows)?;

    eprintln!("[3/6] starting province, city, county (real processes, mTLS on loopback) …");
    let mut fed = Fed::up(&root, TOPOLOGY)?;
    let (pd, cd, kd) = (fed.dir(PROVINCE), fed.dir(CITY), fed.dir(COUNTY));
    // Wait until the city and the county hold the registry (the province log), so the first upload is not
    // refused and sent into backoff for reasons the benchmark does not measure.
    let province_size = own_head(&pd)?.0;
    fed.wait_until("the registry to reach city and county", Duration::from_secs(60), |_| {
        held(&cd, PROVINCE) >= Some(province_size) && held(&kd, PROVINCE) >= Some(province_size)
    })?;
    let base = own_head(&kd)?.0;
    let target1 = base + records as u64;

    eprintln!("[4/6] importing {records} records at the county while the federation syncs …");
    let t0 = Instant::now();
    let poller = Poller::start(cd.clone(), pd.clone(), target1, t0);
    let accepted1 = import_files(&kd, &files1)?;
    let import_secs = t0.elapsed().as_secs_f64();
    let at_import_end = poller.last();
    let samples1 = poller.join();
    let (city_secs, prov_secs) = reached(&samples1, target1);
    let Some(e2e_secs) = prov_secs else {
        bail!("the province did not reach {target1} entries of {COUNTY} within {PHASE_LIMIT:?}: {:?}", samples1.last());
    };
    if accepted1 != records as u64 {
        bail!("the county accepted {accepted1} of {records} generated rows");
    }
    let e2e_rate = records as f64 / e2e_secs;
    let mut procs1 = std::collections::BTreeMap::new();
    for code in [PROVINCE, CITY, COUNTY] {
        procs1.insert(code, proc_figures(Path::new(&fed.dir(code)), ticks)?);
    }

    eprintln!("[5/6] catch-up: city stopped, {catchup} records imported at the county, city restarted …");
    stop(&mut fed, CITY)?;
    let t1 = Instant::now();
    let accepted2 = import_files(&kd, &files2)?;
    let offline_import_secs = t1.elapsed().as_secs_f64();
    if accepted2 != catchup as u64 {
        bail!("the county accepted {accepted2} of {catchup} generated rows");
    }
    let target2 = target1 + catchup as u64;
    let t2 = Instant::now();
    fed.start(CITY)?;
    let city_ready_secs = t2.elapsed().as_secs_f64();
    let poller = Poller::start(cd.clone(), pd.clone(), target2, t2);
    let samples2 = poller.join();
    let (city2_secs, prov2_secs) = reached(&samples2, target2);
    let Some(catchup_secs) = prov2_secs else {
        bail!("the province did not reach {target2} entries of {COUNTY} within {PHASE_LIMIT:?}: {:?}", samples2.last());
    };
    let catchup_rate = catchup as f64 / catchup_secs;
    let mut procs2 = std::collections::BTreeMap::new();
    for code in [PROVINCE, CITY, COUNTY] {
        procs2.insert(code, proc_figures(Path::new(&fed.dir(code)), ticks)?);
    }

    eprintln!("[6/6] stopping the nodes and re-deriving the mirrored roots from the stores …");
    let (county_size, county_root) = own_head(&kd)?;
    for code in [COUNTY, CITY, PROVINCE] {
        stop(&mut fed, code)?;
    }
    let at_city = mirrored_root(Path::new(&cd))?;
    let at_province = mirrored_root(Path::new(&pd))?;
    for (who, (size, stored, recomputed)) in [("city", &at_city), ("province", &at_province)] {
        if *size != county_size || *stored != county_root || *recomputed != county_root {
            bail!(
                "{who}'s mirror of {COUNTY}: size {size}, stored root {stored}, recomputed {recomputed}; county has {county_size} {county_root}"
            );
        }
    }
    // The county's public key signs every record; check one mirrored leaf at the province with it too.
    let county_key = PublicKey::from_spki_pem(&std::fs::read_to_string(Path::new(&kd).join("node.pub.pem"))?)?;
    {
        let log = Log::new(SledStore::open(&Path::new(&pd).join("store"))?);
        let e = log.entry(COUNTY, county_size - 1)?.context("last mirrored entry missing at the province")?;
        county_key.verify(&e.leaf, &e.signature).context("mirrored leaf signature at the province")?;
    }

    // The machine is shared: the crypto figures are measured before and after the federation run, and the
    // better of the two is the ceiling (the conservative choice for the ratios).
    eprintln!("SM2 sign/verify again after the run …");
    let after = measure_crypto();
    let c = Crypto {
        sign_per_s: before.sign_per_s.max(after.sign_per_s),
        verify_plain_per_s: before.verify_plain_per_s.max(after.verify_plain_per_s),
        verify_registered_per_s: before.verify_registered_per_s.max(after.verify_registered_per_s),
    };
    let ceil_registered = ceiling(c.sign_per_s, c.verify_registered_per_s);
    let ceil_plain = ceiling(c.sign_per_s, c.verify_plain_per_s);
    // Catch-up: signing already done, two verifies per record on 2 cores.
    let ceil_catchup = 2.0 / (2.0 / c.verify_registered_per_s);
    let us_per_record = |cpu: f64| cpu * 1e6 / records as f64;

    // ---- report ----
    let mib = |m: &std::collections::BTreeMap<&str, ProcFigures>, c: &str| kib_to_mib(m[c].vm_hwm_kib);
    let city_peak = procs1[CITY].vm_hwm_kib.max(procs2[CITY].vm_hwm_kib);
    println!();
    println!(
        "Gongxin end-to-end sync, county {COUNTY} → city {CITY} → province {PROVINCE} (real processes, mTLS loopback)"
    );
    println!(
        "times are first poll (every {} ms, `gongxin peer list`) at which the node held all records",
        POLL.as_millis()
    );
    println!(
        "machine: {cores} cores, load average at start {}",
        loadavg.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    let rows: Vec<(String, String)> = vec![
        (
            "same run, 1 core: SM2 sign/s (before / after the run)".into(),
            format!("{:.0} / {:.0}", before.sign_per_s, after.sign_per_s),
        ),
        (
            "same run, 1 core: SM2 verify/s registered (before / after)".into(),
            format!("{:.0} / {:.0}", before.verify_registered_per_s, after.verify_registered_per_s),
        ),
        (
            "same run, 1 core: SM2 verify/s plain (before / after)".into(),
            format!("{:.0} / {:.0}", before.verify_plain_per_s, after.verify_plain_per_s),
        ),
        ("best of the two, used for the ceilings: SM2 sign/s".into(), format!("{:.0}", c.sign_per_s)),
        (
            "same run, 1 core: SM2 verify/s, registered signer (nodes' path)".into(),
            format!("{:.0}", c.verify_registered_per_s),
        ),
        ("same run, 1 core: SM2 verify/s, plain crate path".into(), format!("{:.0}", c.verify_plain_per_s)),
        ("crypto ceiling, 2 cores (1 sign + 2 registered verifies) rec/s".into(), format!("{ceil_registered:.0}")),
        ("crypto ceiling, 2 cores (1 sign + 2 plain verifies) rec/s".into(), format!("{ceil_plain:.0}")),
        (format!("import {records} at county via `gongxin import`, s"), format!("{import_secs:.1}")),
        ("  county import rows/s (while syncing)".into(), format!("{:.0}", records as f64 / import_secs)),
        (
            "  province held when import finished".into(),
            at_import_end.map(|s| s.2.unwrap_or(0).saturating_sub(base).to_string()).unwrap_or_else(|| "-".into()),
        ),
        (
            "  city has all, s after first import".into(),
            city_secs.map(|s| format!("{s:.1}")).unwrap_or_else(|| "-".into()),
        ),
        ("  province has all, s after first import".into(), format!("{e2e_secs:.1}")),
        ("END-TO-END records/s".into(), format!("{e2e_rate:.0}")),
        ("  ratio to ceiling (registered verify)".into(), format!("{:.2}", e2e_rate / ceil_registered)),
        ("  ratio to ceiling (plain verify)".into(), format!("{:.2}", e2e_rate / ceil_plain)),
        (format!("catch-up: import {catchup} at county, city down, s"), format!("{offline_import_secs:.1}")),
        ("  county import rows/s (no sync running)".into(), format!("{:.0}", catchup as f64 / offline_import_secs)),
        ("  city restart until ready, s".into(), format!("{city_ready_secs:.1}")),
        ("  city has all, s after restart".into(), city2_secs.map(|s| format!("{s:.1}")).unwrap_or_else(|| "-".into())),
        ("CATCH-UP: province has all, s after city restart".into(), format!("{catchup_secs:.1}")),
        ("  catch-up records/s".into(), format!("{catchup_rate:.0}")),
        (
            "  ratio to verify ceiling (2 registered verifies on 2 cores)".into(),
            format!("{:.2}", catchup_rate / ceil_catchup),
        ),
        ("peak RSS (VmHWM) province, MiB".into(), format!("{:.1}", mib(&procs2, PROVINCE))),
        ("peak RSS (VmHWM) city, MiB (max of both runs)".into(), format!("{:.1}", kib_to_mib(city_peak))),
        ("peak RSS (VmHWM) county, MiB".into(), format!("{:.1}", mib(&procs2, COUNTY))),
        (
            "CPU s, phase 1: province / city / county".into(),
            format!(
                "{:.1} / {:.1} / {:.1}",
                procs1[PROVINCE].cpu_seconds, procs1[CITY].cpu_seconds, procs1[COUNTY].cpu_seconds
            ),
        ),
        (
            "CPU µs per record, phase 1: province / city / county".into(),
            format!(
                "{:.0} / {:.0} / {:.0}",
                us_per_record(procs1[PROVINCE].cpu_seconds),
                us_per_record(procs1[CITY].cpu_seconds),
                us_per_record(procs1[COUNTY].cpu_seconds)
            ),
        ),
        (
            "  crypto alone, µs: 1 sign / 1 registered verify".into(),
            format!("{:.0} / {:.0}", 1e6 / c.sign_per_s, 1e6 / c.verify_registered_per_s),
        ),
        (
            "CPU s, catch-up: province / city (new process) / county".into(),
            format!(
                "{:.1} / {:.1} / {:.1}",
                procs2[PROVINCE].cpu_seconds - procs1[PROVINCE].cpu_seconds,
                procs2[CITY].cpu_seconds,
                procs2[COUNTY].cpu_seconds - procs1[COUNTY].cpu_seconds
            ),
        ),
        ("mirrored roots re-derived at city and province = county root".into(), format!("{county_size} entries ok")),
    ];
    let w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    for (name, v) in &rows {
        println!("{name}{}  {v:>18}", " ".repeat(w - name.chars().count()));
    }
    let json = serde_json::json!({
        "bench": "sync",
        "tls_profile": gongxin_tests::fed::env_profile().as_str(),
        "cores": cores,
        "loadavg_start": loadavg.trim(),
        "records": records,
        "sm2_sign_per_s": c.sign_per_s,
        "sm2_sign_per_s_before_after": [before.sign_per_s, after.sign_per_s],
        "sm2_verify_registered_per_s_before_after": [before.verify_registered_per_s, after.verify_registered_per_s],
        "sm2_verify_plain_per_s_before_after": [before.verify_plain_per_s, after.verify_plain_per_s],
        "sm2_verify_registered_per_s": c.verify_registered_per_s,
        "sm2_verify_plain_per_s": c.verify_plain_per_s,
        "ceiling_records_per_s": ceil_registered,
        "ceiling_plain_records_per_s": ceil_plain,
        "import_seconds": import_secs,
        "province_held_at_import_end": at_import_end.map(|s| s.2.unwrap_or(0).saturating_sub(base)),
        "city_all_seconds": city_secs,
        "end_to_end_seconds": e2e_secs,
        "end_to_end_records_per_s": e2e_rate,
        "ratio_to_ceiling": e2e_rate / ceil_registered,
        "ratio_to_plain_ceiling": e2e_rate / ceil_plain,
        "catchup_records": catchup,
        "catchup_offline_import_seconds": offline_import_secs,
        "catchup_city_ready_seconds": city_ready_secs,
        "catchup_city_all_seconds": city2_secs,
        "catchup_seconds": catchup_secs,
        "catchup_records_per_s": catchup_rate,
        "catchup_ratio_to_verify_ceiling": catchup_rate / ceil_catchup,
        "peak_rss_kib": {
            PROVINCE: procs2[PROVINCE].vm_hwm_kib,
            CITY: city_peak,
            COUNTY: procs2[COUNTY].vm_hwm_kib,
        },
        "phase1": procs_json(&procs1),
        "end": procs_json(&procs2),
        "county_size": county_size,
        "county_root": county_root,
        "samples_phase1": samples1.len(),
    });
    println!("{json}");
    if std::env::var_os("GONGXIN_BENCH_KEEP").is_some() {
        let kept = tmp.keep();
        eprintln!("kept {}", kept.display());
    }
    Ok(())
}
