//! `gongxin-node bench …`: benchmark figures measured in one run next to their baselines.
use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};
use gongxin_core::crypto::{self, PublicKey, SigningKey, Verifier};
use std::time::{Duration, Instant};

pub mod audit;
pub mod check;
pub mod import;
pub mod query;
pub mod tls;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// SM2 sign/verify and SM3 throughput, next to `openssl speed sm2` run in the same invocation.
    /// SM2 签名/验签与 SM3 吞吐量，并与同一次运行中的 OpenSSL 对比。
    Crypto {
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Output,
        /// Seconds spent on each measurement (OpenSSL is run with the same value).
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// First check that the fast verifier agrees with the crate's verifier on N random valid signatures and
        /// N tampered ones (use 100000 in a release build for the full check).
        #[arg(long, value_name = "N")]
        check: Option<usize>,
        /// Repeat every measurement (OpenSSL's too) this many times and keep the best, to damp the noise of a
        /// shared machine.
        #[arg(long, default_value_t = 1)]
        rounds: u32,
        /// Do not run `openssl speed` even if openssl is on the PATH.
        #[arg(long)]
        no_openssl: bool,
        /// Divide one-core figures by wall-clock time (and run `openssl speed -elapsed`) instead of by the
        /// measuring thread's CPU time (OpenSSL's default basis). Only meaningful on an otherwise idle machine.
        #[arg(long)]
        wall_clock: bool,
    },
    /// Import generated rows through the node's real path (validate, sign, append, flush) into a sled store in a
    /// throwaway data dir: rows/s and bytes on disk per record.
    /// 生成的数据经真实导入路径（校验、签名、追加、落盘）写入临时 sled 存储：每秒行数与每条记录占用磁盘字节数。
    Import {
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Output,
        #[arg(long, default_value_t = 100_000)]
        rows: u64,
        /// Rows per import call, as `gongxin import` sends them (each call is one atomic, flushed batch).
        #[arg(long, default_value_t = 1_000)]
        chunk: usize,
        /// Parent directory of the throwaway data dir (default: the system temp dir); put it on the disk a real
        /// node would use.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// Do not run `openssl speed` for the sign/s context figure.
        #[arg(long)]
        no_openssl: bool,
    },
    /// The province audits a federation of N records across six origins (built in-process, real signatures),
    /// next to the verify-bound ceiling of the same run.
    /// 省级审计 N 条记录（6 个来源）所需时间，并与同次运行测得的验签上限对比。
    Audit {
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Output,
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
    },
    /// The one-stop query with N records held (appended through the real path into a sled store): p50/p99 of a
    /// code lookup, a name-prefix first page and a profile; index bytes per record.
    /// 持有 N 条记录时的一站式查询：按代码、按名称前缀（首页）与信用档案的 p50/p99 延迟；每条记录的索引字节。
    Query {
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
        /// Queries timed per kind.
        #[arg(long, default_value_t = 2_000)]
        queries: usize,
        /// Print only the JSON line.
        #[arg(long)]
        json: bool,
    },
    /// Joint-punishment checks/s over mTLS gRPC with N list entries held, next to an empty unary handler on the
    /// same TLS in the same run; p50/p99 latency at half the peak; view bytes and memory per million entries.
    /// 持有 N 条名单时经 mTLS gRPC 的核查次数/秒，与同次运行的空处理函数对比；半峰值时的 p50/p99 延迟；每百万条的视图字节与内存。
    Check {
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
        /// Seconds per measurement.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Concurrent callers (over four connections).
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// List entries per append call while building (each call is one atomic, flushed batch; `gongxin import`
        /// sends 1,000 rows a call). sled holds every page version a batch makes until the batch ends, so the
        /// node's peak memory rises with this: 422 MiB at 5,000, 126 MiB at 1,000, 78 MiB at 200 (20k entries).
        #[arg(long, default_value_t = 1_000)]
        chunk: u64,
        /// Print only the JSON line.
        #[arg(long)]
        json: bool,
    },
    /// Mutual-TLS handshakes/s and bulk MB/s of both TLS profiles (ecdsa, sm2) over loopback sockets in one
    /// run, with their ratios and one JSON line.
    /// 两种 TLS 配置（ecdsa、sm2）在本机回环上的双向认证握手次数/秒与批量吞吐 MB/s，并给出比值与一行 JSON。
    Tls {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// MiB sent per bulk round (one acknowledgement per round).
        #[arg(long, default_value_t = 8)]
        mb: usize,
        /// Print only the JSON line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

pub fn run(c: Command) -> anyhow::Result<()> {
    match c {
        Command::Crypto { output, seconds, check, rounds, no_openssl, wall_clock } => {
            WALL_CLOCK.store(wall_clock, std::sync::atomic::Ordering::Relaxed);
            crypto_bench(output, seconds, check, rounds.max(1), no_openssl)
        }
        Command::Import { output, rows, chunk, dir, no_openssl } => import::run(output, rows, chunk, dir, no_openssl),
        Command::Audit { output, records } => audit::run(records, output == Output::Json),
        Command::Tls { seconds, mb, json } => tls::run(seconds, mb, json),
        Command::Check { entries, seconds, concurrency, chunk, json } => {
            check::run(entries, seconds, concurrency, chunk, json)
        }
        Command::Query { records, queries, json } => query::run(records, queries, json),
    }
}

/// What a one-core rate is divided by.
///
/// `openssl speed` divides by the CPU user time of its process unless given `-elapsed`; on a shared machine that
/// is well below the wall-clock time, so a wall-clock figure of ours against its CPU-time figure is biased
/// against us by however much other work the machine does. One-core figures are therefore divided by the CPU
/// time of the measuring thread when Linux reports it (`/proc/thread-self/schedstat`), and otherwise (or with
/// `--wall-clock`) by wall-clock time with OpenSSL run as `openssl speed -elapsed`: either way both sides share
/// one basis.
/// All-cores figures are always wall-clock (they measure parallel throughput).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Basis {
    ThreadCpu,
    Wall,
}

/// CPU time (user + system) this thread has run, in seconds, from `/proc/thread-self/schedstat`.
fn thread_cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

/// Runs `f` repeatedly for about `secs` seconds; returns operations per second (`f` returns how many it did),
/// divided by thread CPU time or wall-clock time as `basis` says.
fn rate_once(secs: f64, basis: Basis, f: &mut impl FnMut() -> usize) -> f64 {
    // Short warm-up so lazily built tables and caches are not timed.
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(100) {
        f();
    }
    let cpu_start = if basis == Basis::ThreadCpu { thread_cpu_seconds() } else { None };
    let start = Instant::now();
    let mut ops = 0usize;
    while start.elapsed().as_secs_f64() < secs {
        ops += f();
    }
    let wall = start.elapsed().as_secs_f64();
    match (cpu_start, cpu_start.and_then(|_| thread_cpu_seconds())) {
        (Some(a), Some(b)) if b > a => ops as f64 / (b - a),
        _ => ops as f64 / wall,
    }
}

/// Best of `ROUNDS` runs of [`rate_once`] on the one-core basis.
fn rate(secs: f64, f: impl FnMut() -> usize) -> f64 {
    rate_on(secs, one_core_basis(), f)
}

/// Best of `ROUNDS` runs of [`rate_once`] on wall-clock time (for figures that use several threads).
fn rate_wall(secs: f64, f: impl FnMut() -> usize) -> f64 {
    rate_on(secs, Basis::Wall, f)
}

fn rate_on(secs: f64, basis: Basis, mut f: impl FnMut() -> usize) -> f64 {
    let rounds = ROUNDS.load(std::sync::atomic::Ordering::Relaxed).max(1);
    (0..rounds).map(|_| rate_once(secs, basis, &mut f)).fold(0.0, f64::max)
}

/// Set by `bench crypto --wall-clock`.
static WALL_CLOCK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn one_core_basis() -> Basis {
    if !WALL_CLOCK.load(std::sync::atomic::Ordering::Relaxed) && thread_cpu_seconds().is_some() {
        Basis::ThreadCpu
    } else {
        Basis::Wall
    }
}

static ROUNDS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

#[derive(Debug, Default, serde::Serialize)]
struct CryptoFigures {
    cores: usize,
    seconds: u64,
    rounds: u32,
    /// Divisor of the one-core figures: "thread_cpu" (OpenSSL's default basis) or "wall" (OpenSSL run with
    /// `-elapsed`). All-cores figures are wall-clock.
    one_core_timing: &'static str,
    /// The production signer (constant-time fixed-base table for G).
    sm2_sign_per_s: f64,
    /// The `sm2` crate's signer (`SigningKey::sign_reference`, the path used before), in the same run.
    sm2_sign_reference_per_s: f64,
    /// sm2_sign_per_s / sm2_sign_reference_per_s.
    sign_ratio_to_reference: f64,
    sm2_verify_per_s: f64,
    sm2_verify_registered_per_s: f64,
    sm2_verify_registered_all_cores_per_s: f64,
    sm2_verify_registered_batched_1core_per_s: f64,
    sm2_verify_unregistered_per_s: f64,
    sm2_verify_all_cores_per_s: f64,
    sm3_mb_per_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    openssl_sm2_sign_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    openssl_sm2_verify_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sign_ratio_to_openssl: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sign_reference_ratio_to_openssl: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verify_ratio_to_openssl: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verify_registered_ratio_to_openssl: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    openssl_note: Option<String>,
    table_bytes_per_signer: usize,
    /// The signer's fixed-base table for G (one per process).
    sign_table_bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    agreement_checked: Option<usize>,
}

fn crypto_bench(
    output: Output,
    seconds: u64,
    check: Option<usize>,
    rounds: u32,
    no_openssl: bool,
) -> anyhow::Result<()> {
    ROUNDS.store(rounds, std::sync::atomic::Ordering::Relaxed);
    let secs = seconds.max(1) as f64;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut fig = CryptoFigures {
        cores,
        seconds,
        rounds,
        table_bytes_per_signer: crypto::TABLE_BYTES,
        sign_table_bytes: crypto::SIGN_TABLE_BYTES,
        one_core_timing: match one_core_basis() {
            Basis::ThreadCpu => "thread_cpu",
            Basis::Wall => "wall",
        },
        ..CryptoFigures::default()
    };
    if cfg!(debug_assertions) {
        eprintln!("note: debug build — figures are meaningless; use `cargo run --release -p gongxin-node -- bench crypto` / 注意：调试构建，请使用 --release");
    }

    if let Some(n) = check {
        eprintln!(
            "checking agreement with the crate's verifier on {n} valid + {n} tampered signatures / 正在核对一致性 …"
        );
        let started = Instant::now();
        let report = crypto::check::agreement_check(n, 16, &|done| {
            if done % 10_000 < 512 {
                eprintln!("  {done}/{n}");
            }
        })
        .context("fast SM2 verifier self-check failed / 快速验签自检失败")?;
        eprintln!(
            "  ok: {} valid accepted and {} tampered rejected by all paths in {:.1}s",
            report.valid,
            report.tampered,
            started.elapsed().as_secs_f64()
        );
        fig.agreement_checked = Some(n);
    }

    // Signatures over record-header-sized messages (about 200 bytes), several distinct ones.
    let key = SigningKey::generate();
    let public = key.public_key();
    let msgs: Vec<Vec<u8>> = (0..1024u32)
        .map(|i| {
            let mut m = crypto::sm3(&i.to_be_bytes()).repeat(6);
            m.truncate(200);
            m
        })
        .collect();
    let sigs: Vec<Vec<u8>> = msgs.iter().map(|m| key.sign(m)).collect();
    anyhow::ensure!(
        msgs.iter().zip(&sigs).take(64).all(|(m, s)| key.sign_reference(m) == *s),
        "the constant-time signer and the crate's signer disagree / 两种签名实现结果不一致"
    );

    let mut i = 0usize;
    fig.sm2_sign_per_s = rate(secs, || {
        i = (i + 1) % msgs.len();
        std::hint::black_box(key.sign(&msgs[i]));
        1
    });
    fig.sm2_sign_reference_per_s = rate(secs, || {
        i = (i + 1) % msgs.len();
        std::hint::black_box(key.sign_reference(&msgs[i]));
        1
    });
    fig.sign_ratio_to_reference = fig.sm2_sign_per_s / fig.sm2_sign_reference_per_s;
    fig.sm2_verify_per_s = rate(secs, || {
        i = (i + 1) % msgs.len();
        public.verify(&msgs[i], &sigs[i]).expect("benchmark signature verifies");
        1
    });
    let unregistered = Verifier::new();
    fig.sm2_verify_unregistered_per_s = rate(secs, || {
        i = (i + 1) % msgs.len();
        unregistered.verify(&public, &msgs[i], &sigs[i]).expect("benchmark signature verifies");
        1
    });
    let verifier = Verifier::new();
    verifier.register(&public);
    verifier.build_tables();
    fig.sm2_verify_registered_per_s = rate(secs, || {
        i = (i + 1) % msgs.len();
        verifier.verify(&public, &msgs[i], &sigs[i]).expect("benchmark signature verifies");
        1
    });
    let items: Vec<(&PublicKey, &[u8], &[u8])> =
        msgs.iter().zip(&sigs).map(|(m, s)| (&public, m.as_slice(), s.as_slice())).collect();
    fig.sm2_verify_registered_batched_1core_per_s = rate(secs, || {
        let res = verifier.verify_batch_on(&items, 1);
        assert!(res.iter().all(|r| r.is_ok()), "benchmark batch verifies");
        items.len()
    });
    fig.sm2_verify_registered_all_cores_per_s = rate_wall(secs, || {
        let res = verifier.verify_batch(&items);
        assert!(res.iter().all(|r| r.is_ok()), "benchmark batch verifies");
        items.len()
    });
    let plain_all = Verifier::with_max_tables(0);
    fig.sm2_verify_all_cores_per_s = rate_wall(secs, || {
        let res = plain_all.verify_batch(&items);
        assert!(res.iter().all(|r| r.is_ok()), "benchmark batch verifies");
        items.len()
    });
    let block = vec![0x5au8; 1 << 20];
    fig.sm3_mb_per_s = rate(secs, || {
        std::hint::black_box(crypto::sm3(&block));
        1
    }) * (block.len() as f64)
        / 1e6;

    if no_openssl {
        fig.openssl_note = Some("skipped (--no-openssl)".into());
    } else {
        let mut best: anyhow::Result<(f64, f64)> = Err(anyhow::anyhow!("not run"));
        for _ in 0..rounds {
            let r = openssl_speed_sm2_on(seconds.max(1), one_core_basis() == Basis::Wall);
            best = match (best, r) {
                (Ok((s0, v0)), Ok((s1, v1))) => Ok((s0.max(s1), v0.max(v1))),
                (Ok(b), Err(_)) => Ok(b),
                (Err(_), r) => r,
            };
            if best.is_err() {
                break;
            }
        }
        match best {
            Ok((sign, verify)) => {
                fig.openssl_sm2_sign_per_s = Some(sign);
                fig.openssl_sm2_verify_per_s = Some(verify);
                fig.sign_ratio_to_openssl = Some(fig.sm2_sign_per_s / sign);
                fig.sign_reference_ratio_to_openssl = Some(fig.sm2_sign_reference_per_s / sign);
                fig.verify_ratio_to_openssl = Some(fig.sm2_verify_per_s / verify);
                fig.verify_registered_ratio_to_openssl = Some(fig.sm2_verify_registered_per_s / verify);
            }
            Err(e) => {
                eprintln!("openssl figures skipped: {e:#}");
                fig.openssl_note = Some(format!("{e:#}"));
            }
        }
    }

    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&fig)?),
        Output::Table => print_table(&fig),
    }
    Ok(())
}

fn print_table(f: &CryptoFigures) {
    let ratio = |v: f64, base: Option<f64>| base.map(|b| format!("{:.2}×", v / b)).unwrap_or_else(|| "-".into());
    let rows: Vec<(&str, String, String)> = vec![
        (
            "SM2 sign/s, 1 core (fixed-base table, constant time)",
            format!("{:.0}", f.sm2_sign_per_s),
            ratio(f.sm2_sign_per_s, f.openssl_sm2_sign_per_s),
        ),
        (
            "SM2 sign/s, 1 core (crate signer, reference)",
            format!("{:.0}", f.sm2_sign_reference_per_s),
            ratio(f.sm2_sign_reference_per_s, f.openssl_sm2_sign_per_s),
        ),
        (
            "SM2 verify/s, 1 core (crate, plain path)",
            format!("{:.0}", f.sm2_verify_per_s),
            ratio(f.sm2_verify_per_s, f.openssl_sm2_verify_per_s),
        ),
        (
            "SM2 verify/s, 1 core (unregistered key)",
            format!("{:.0}", f.sm2_verify_unregistered_per_s),
            ratio(f.sm2_verify_unregistered_per_s, f.openssl_sm2_verify_per_s),
        ),
        (
            "SM2 verify/s, 1 core (registered signer)",
            format!("{:.0}", f.sm2_verify_registered_per_s),
            ratio(f.sm2_verify_registered_per_s, f.openssl_sm2_verify_per_s),
        ),
        (
            "SM2 verify/s, 1 core, batched (registered signer)",
            format!("{:.0}", f.sm2_verify_registered_batched_1core_per_s),
            ratio(f.sm2_verify_registered_batched_1core_per_s, f.openssl_sm2_verify_per_s),
        ),
        (
            "SM2 verify/s, all cores (registered signer)",
            format!("{:.0}", f.sm2_verify_registered_all_cores_per_s),
            ratio(f.sm2_verify_registered_all_cores_per_s, f.openssl_sm2_verify_per_s),
        ),
        (
            "SM2 verify/s, all cores (unregistered key)",
            format!("{:.0}", f.sm2_verify_all_cores_per_s),
            ratio(f.sm2_verify_all_cores_per_s, f.openssl_sm2_verify_per_s),
        ),
        ("SM3 MB/s, 1 core", format!("{:.1}", f.sm3_mb_per_s), "-".into()),
        (
            "OpenSSL SM2 sign/s (openssl speed)",
            f.openssl_sm2_sign_per_s.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into()),
            "1.00×".into(),
        ),
        (
            "OpenSSL SM2 verify/s (openssl speed)",
            f.openssl_sm2_verify_per_s.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into()),
            "1.00×".into(),
        ),
    ];
    let w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    println!(
        "{:<w$}  {:>10}  {:>9}",
        "measure (cores: ".to_string() + &f.cores.to_string() + ")",
        "value",
        "vs openssl"
    );
    for (name, v, r) in rows {
        println!("{name:<w$}  {v:>10}  {r:>9}");
    }
    println!("per-signer table: {} KiB", f.table_bytes_per_signer / 1024);
    println!(
        "signer: {:.2}× the crate's signer; generator table {} KiB (one per process)",
        f.sign_ratio_to_reference,
        f.sign_table_bytes / 1024
    );
    match f.one_core_timing {
        "thread_cpu" => println!("1-core figures per CPU-second of the measuring thread, as `openssl speed` divides by CPU time; all-cores figures per wall-clock second"),
        _ => println!("1-core figures per wall-clock second (OpenSSL run with -elapsed); all-cores figures likewise"),
    }
    if let Some(n) = &f.openssl_note {
        println!("openssl: {n}");
    }
    if let Some(n) = f.agreement_checked {
        println!("agreement with the crate's verifier checked on {n} valid + {n} tampered signatures");
    }
}

/// Runs `openssl speed -seconds S sm2` and returns (sign/s, verify/s), divided by CPU user time (OpenSSL's
/// default).
fn openssl_speed_sm2(seconds: u64) -> anyhow::Result<(f64, f64)> {
    openssl_speed_sm2_on(seconds, false)
}

/// As [`openssl_speed_sm2`]; with `elapsed`, OpenSSL divides by wall-clock time (`-elapsed`) instead.
fn openssl_speed_sm2_on(seconds: u64, elapsed: bool) -> anyhow::Result<(f64, f64)> {
    let secs = seconds.to_string();
    let mut args = vec!["speed"];
    if elapsed {
        args.push("-elapsed");
    }
    args.extend(["-seconds", &secs, "sm2"]);
    let out = std::process::Command::new("openssl")
        .args(&args)
        .output()
        .context("run `openssl speed` (is openssl on the PATH?)")?;
    if !out.status.success() {
        anyhow::bail!(
            "`openssl speed sm2` exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parse_openssl_speed_sm2(&String::from_utf8_lossy(&out.stdout))
}

/// Parses the result line of `openssl speed sm2`, e.g.
/// ` 256 bits SM2 (CurveSM2)   0.0005s   0.0004s   2109.3   2610.7` (last two numbers: sign/s, verify/s).
fn parse_openssl_speed_sm2(stdout: &str) -> anyhow::Result<(f64, f64)> {
    let line = stdout
        .lines()
        .find(|l| l.contains("SM2") && l.contains("bits"))
        .context("no SM2 result line in `openssl speed` output")?;
    let nums: Vec<f64> = line.split_whitespace().filter_map(|t| t.parse::<f64>().ok()).collect();
    match nums.as_slice() {
        [.., sign, verify] if *sign > 0.0 && *verify > 0.0 => Ok((*sign, *verify)),
        _ => anyhow::bail!("cannot read sign/s and verify/s from `openssl speed` line: {line:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_cpu_time_counts_only_this_threads_work() {
        let Some(a) = thread_cpu_seconds() else {
            // Not Linux (or no schedstat): the benchmark then falls back to wall-clock time on both sides.
            assert_eq!(one_core_basis(), Basis::Wall);
            return;
        };
        let wall = Instant::now();
        let mut x = 0u64;
        while wall.elapsed() < Duration::from_millis(200) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let busy = thread_cpu_seconds().unwrap() - a;
        assert!(busy > 0.0 && busy <= wall.elapsed().as_secs_f64() + 0.01, "busy {busy}");
        // A sleeping thread accrues (almost) no CPU time.
        let b = thread_cpu_seconds().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert!(thread_cpu_seconds().unwrap() - b < 0.05);
    }

    #[test]
    fn parses_openssl_speed_output() {
        let out = "options: bn(64,64)\n                              sign    verify    sign/s verify/s\n 256 bits SM2 (CurveSM2)   0.0005s   0.0004s   2109.3   2610.7\n";
        assert_eq!(parse_openssl_speed_sm2(out).unwrap(), (2109.3, 2610.7));
        assert!(parse_openssl_speed_sm2("garbage\n").is_err());
        assert!(parse_openssl_speed_sm2(" 256 bits SM2 (CurveSM2) failed\n").is_err());
    }
}
