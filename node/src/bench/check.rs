//! `gongxin-node bench check`: joint-punishment checks/s over mTLS gRPC with N list entries held (built through
//! the real append path into a sled store in a throwaway data dir), next to an empty unary handler of the same
//! service type on a second server with the same TLS configuration, in the same process and run; then latency
//! p50/p99 at half the measured peak, and the bytes of view rows and resident memory per million entries.
//!
//! Every check asks about a subject that is listed, so every answer folds a state, builds an inclusion proof and
//! signs a verdict (the work a real hit costs).
use crate::app::check::Checker;
use crate::app::ledger::Ledger;
use crate::grpc::check::{business_system_only, CheckService};
use crate::store::{Store, Table};
use crate::views::VIEW_TABLES;
use anyhow::{Context as _, Result};
use gongxin_certs::tls::{self, CaCert, TlsIdentity};
use gongxin_certs::{Algorithm, Ca, CaOptions, IssueOptions, NodeCode, Role};
use gongxin_core::crypto::SigningKey;
use gongxin_core::record::{ListEntry, ListType, Record, Subject, SubjectCategory};
use gongxin_core::state::PROVINCE;
use gongxin_core::testdata;
use gongxin_proto::check::v1 as pb;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Default, serde::Serialize)]
pub struct CheckFigures {
    pub bench: &'static str,
    pub entries: u64,
    /// List entries per append call while building.
    pub chunk: u64,
    pub build_seconds: f64,
    pub concurrency: usize,
    pub seconds: u64,
    /// `Checker::check` called directly, one thread: what the use case costs without gRPC and TLS.
    pub in_process_per_s: f64,
    pub empty_per_s: f64,
    pub check_per_s: f64,
    pub ratio_to_empty: f64,
    /// Verdicts per batch signature during the saturated run.
    pub verdicts_per_signature: f64,
    pub half_peak_rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The empty handler paced at the same rate: what the server stack, TLS and the client add on their own.
    pub empty_p50_ms: f64,
    pub empty_p99_ms: f64,
    pub view_bytes_per_entry: f64,
    pub view_mib_per_million: f64,
    pub rss_mib_after_build: f64,
    pub peak_rss_mib: f64,
}

/// An empty unary handler of the check service: same messages, same server stack, no work.
struct Empty;

#[tonic::async_trait]
impl pb::check_server::Check for Empty {
    async fn check(
        &self,
        _r: tonic::Request<pb::CheckRequest>,
    ) -> Result<tonic::Response<pb::CheckReply>, tonic::Status> {
        Ok(tonic::Response::new(pb::CheckReply::default()))
    }
    async fn feedback(
        &self,
        _r: tonic::Request<pb::FeedbackRequest>,
    ) -> Result<tonic::Response<pb::FeedbackReply>, tonic::Status> {
        Ok(tonic::Response::new(pb::FeedbackReply::default()))
    }
    async fn report(
        &self,
        _r: tonic::Request<pb::ReportRequest>,
    ) -> Result<tonic::Response<pb::ReportReply>, tonic::Status> {
        Ok(tonic::Response::new(pb::ReportReply::default()))
    }
}

pub(crate) fn rss_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

fn subject_uscc(i: u64) -> String {
    testdata::make_uscc('9', '1', "430102", &format!("{:08}", i % 100_000_000))
}

fn list_entry(i: u64, authority_uscc: &str) -> Record {
    Record::ListEntry(ListEntry {
        subject: Subject {
            name: format!("湖南基准测试{i}有限公司"),
            category: SubjectCategory::Organization,
            uscc: Some(subject_uscc(i)),
            reg_no: None,
            org_code: None,
            tax_no: None,
            institution_no: None,
            social_org_no: None,
            legal_rep: None,
            legal_rep_id_type: None,
            legal_rep_id_no: None,
            id_type: None,
            id_no: None,
        },
        list_type: ListType::SeriousDishonesty,
        reason: "基准测试".into(),
        basis: "基准测试".into(),
        decision_doc_no: format!("湘基准〔2026〕{i}号"),
        start: gongxin_core::date::Day::from_ymd(2026, 1, 1).unwrap_or(gongxin_core::date::LONG_TERM),
        end: gongxin_core::date::LONG_TERM,
        authority: "湖南省发展和改革委员会".into(),
        authority_uscc: authority_uscc.to_string(),
        measures: Vec::new(),
        catalogue_version: None,
    })
}

async fn bind() -> Result<(tokio::net::TcpListener, u16)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}

/// Runs `concurrency` callers over `channels` for `secs`; returns calls/s. Every call must succeed.
async fn saturate(channels: &[tonic::transport::Channel], concurrency: usize, secs: f64, entries: u64) -> Result<f64> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let mut c = pb::check_client::CheckClient::new(channels[t % channels.len()].clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut i = t as u64 * 7919;
            while Instant::now() < deadline {
                i = (i + 104_729) % entries.max(1);
                let req =
                    pb::CheckRequest { uscc: subject_uscc(i), measure: "政府采购".into(), ..Default::default() };
                c.check(req).await.map_err(|s| anyhow::anyhow!("check failed: {s}"))?;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let start = Instant::now();
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// Issues calls at `rate`/s (open loop, spread over `concurrency` callers) for `secs`; returns sorted latencies.
async fn paced(
    channels: &[tonic::transport::Channel],
    concurrency: usize,
    rate: f64,
    secs: f64,
    entries: u64,
) -> Result<Vec<f64>> {
    let per_task = rate / concurrency as f64;
    let interval = Duration::from_secs_f64(1.0 / per_task.max(0.001));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let mut c = pb::check_client::CheckClient::new(channels[t % channels.len()].clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut i = t as u64 * 31;
            while Instant::now() < deadline {
                tick.tick().await;
                i = (i + 104_729) % entries.max(1);
                let req =
                    pb::CheckRequest { uscc: subject_uscc(i), measure: "政府采购".into(), ..Default::default() };
                let t0 = Instant::now();
                c.check(req).await.map_err(|s| anyhow::anyhow!("check failed: {s}"))?;
                lat.push(t0.elapsed().as_secs_f64() * 1e3);
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort_by(|a, b| a.total_cmp(b));
    Ok(all)
}

pub(crate) fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub fn run(entries: u64, seconds: u64, concurrency: usize, chunk: u64, json_only: bool) -> Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("注意：调试构建，数字无意义，请使用 --release / note: debug build — figures are meaningless");
    }
    let entries = entries.max(1);
    let concurrency = concurrency.max(1);
    let dir = super::import::make_temp_dir(&std::env::temp_dir())?;
    let store = crate::store::sled::SledStore::open(&dir.0.join("store")).context("open sled")?;
    let ledger = Arc::new(Ledger::new(PROVINCE, "湖南省", "province", SigningKey::generate(), Arc::new(store)));
    ledger.heartbeat()?;
    ledger.publish_catalogue(gongxin_core::catalogue::EMBEDDED.as_bytes())?;
    eprintln!("写入 {entries} 条名单（真实追加路径）/ appending {entries} list entries through the real append path …");
    let authority = testdata::make_uscc('1', '1', PROVINCE, "00614005");
    let start = Instant::now();
    let mut i = 0;
    while i < entries {
        let n = (entries - i).min(chunk.max(1));
        let batch: Vec<(u64, Record)> = (i..i + n).map(|k| (k + 1, list_entry(k, &authority))).collect();
        ledger.append_records(batch, None)?;
        i += n;
    }
    let build_seconds = start.elapsed().as_secs_f64();
    let mut view_bytes = 0u64;
    for t in VIEW_TABLES {
        if t == Table::NaturalKey || t == Table::Subject || t == Table::KindIndex || t == Table::AmendTarget {
            for (k, v) in ledger.log().store().scan(t, &[], None, usize::MAX, false)? {
                view_bytes += (k.len() + v.len()) as u64;
            }
        }
    }
    let rss_after_build = rss_mib("VmRSS:");
    let in_process_per_s = {
        let c = Checker::new(ledger.clone());
        let start = Instant::now();
        let mut n = 0u64;
        let mut i = 0u64;
        while start.elapsed() < Duration::from_secs(seconds.max(1)) {
            i = (i + 104_729) % entries;
            let q =
                crate::app::check::CheckQuery { subject: subject_uscc(i), measure: "政府采购".into(), day: None };
            c.check(q)?;
            n += 1;
        }
        n as f64 / start.elapsed().as_secs_f64()
    };

    let ca = Ca::create_with(&CaOptions::default(), Algorithm::EcdsaP256)?;
    let issue = |role, code: &str| -> Result<TlsIdentity> {
        let opts = IssueOptions { name: Some("bench".into()), ..Default::default() };
        Ok(TlsIdentity::from_issued(&ca.issue(role, &NodeCode::parse(code)?, &opts)?)?)
    };
    let anchor = CaCert::from(&ca);
    let server_cfg = tls::rustls_server_config(&issue(Role::Node, PROVINCE)?, &anchor)?;
    let client_cfg = tls::rustls_client_config(&issue(Role::BusinessSystem, PROVINCE)?, &anchor)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let fig = rt.block_on(async {
        let checker = Arc::new(Checker::new(ledger.clone()));
        let real = tonic::service::interceptor::InterceptedService::new(
            CheckService::remote(checker.clone()).into_server(),
            business_system_only(PROVINCE.to_string()),
        );
        let empty = tonic::service::interceptor::InterceptedService::new(
            pb::check_server::CheckServer::new(Empty),
            business_system_only(PROVINCE.to_string()),
        );
        let (real_listener, real_port) = bind().await?;
        let (empty_listener, empty_port) = bind().await?;
        let real_incoming = tls::incoming(real_listener, server_cfg.clone());
        let empty_incoming = tls::incoming(empty_listener, server_cfg);
        // The node's server stack: the guard layer (request limits, budgets, the listener's activity watchdog).
        let guard = || crate::grpc::guard::GuardLayer::new(crate::grpc::guard::Budget::default());
        tokio::spawn(
            tonic::transport::Server::builder().layer(guard()).add_service(real).serve_with_incoming(real_incoming),
        );
        tokio::spawn(
            tonic::transport::Server::builder().layer(guard()).add_service(empty).serve_with_incoming(empty_incoming),
        );
        let code = NodeCode::parse(PROVINCE)?;
        let mut real_ch = Vec::new();
        let mut empty_ch = Vec::new();
        for _ in 0..4 {
            real_ch.push(tls::connect(&format!("127.0.0.1:{real_port}"), client_cfg.clone(), &code).await?);
            empty_ch.push(tls::connect(&format!("127.0.0.1:{empty_port}"), client_cfg.clone(), &code).await?);
        }
        let secs = seconds.max(1) as f64;
        saturate(&empty_ch, concurrency, 0.5, entries).await?;
        saturate(&real_ch, concurrency, 0.5, entries).await?;
        let empty_per_s = saturate(&empty_ch, concurrency, secs, entries).await?;
        let (b0, v0) = checker.signing_counts();
        let check_per_s = saturate(&real_ch, concurrency, secs, entries).await?;
        let (b1, v1) = checker.signing_counts();
        let verdicts_per_signature = (v1 - v0) as f64 / (b1 - b0).max(1) as f64;
        let half = check_per_s / 2.0;
        let lat = paced(&real_ch, concurrency, half, secs, entries).await?;
        let empty_lat = paced(&empty_ch, concurrency, half, secs, entries).await?;
        anyhow::Ok(CheckFigures {
            bench: "check",
            entries,
            chunk,
            build_seconds,
            concurrency,
            seconds,
            in_process_per_s,
            empty_per_s,
            check_per_s,
            ratio_to_empty: check_per_s / empty_per_s,
            verdicts_per_signature,
            half_peak_rate: half,
            p50_ms: pct(&lat, 0.50),
            p99_ms: pct(&lat, 0.99),
            empty_p50_ms: pct(&empty_lat, 0.50),
            empty_p99_ms: pct(&empty_lat, 0.99),
            view_bytes_per_entry: view_bytes as f64 / entries as f64,
            view_mib_per_million: view_bytes as f64 / entries as f64 * 1e6 / (1 << 20) as f64,
            rss_mib_after_build: rss_after_build,
            peak_rss_mib: rss_mib("VmHWM:"),
        })
    })?;
    if !json_only {
        println!(
            "联合惩戒核查 joint-punishment check over mTLS gRPC (ecdsa profile), {} list entries held",
            fig.entries
        );
        println!(
            "  build: {:.1} s ({:.0} entries/s through the append path)",
            fig.build_seconds,
            fig.entries as f64 / fig.build_seconds
        );
        println!("  Checker::check in process, one thread: {:>9.0} checks/s", fig.in_process_per_s);
        println!("  empty unary handler: {:>9.0} calls/s", fig.empty_per_s);
        println!(
            "  check (hit, proof, signed verdict): {:>9.0} calls/s = {:.2} of empty ({:.1} verdicts per batch signature)",
            fig.check_per_s, fig.ratio_to_empty, fig.verdicts_per_signature
        );
        println!(
            "  at half peak ({:.0}/s): p50 {:.2} ms, p99 {:.2} ms (empty handler at that rate: p50 {:.2} ms, p99 {:.2} ms)",
            fig.half_peak_rate, fig.p50_ms, fig.p99_ms, fig.empty_p50_ms, fig.empty_p99_ms
        );
        println!(
            "  views: {:.0} bytes per entry ({:.0} MiB per million, on disk in sled); RSS {:.0} MiB after build, peak {:.0} MiB",
            fig.view_bytes_per_entry, fig.view_mib_per_million, fig.rss_mib_after_build, fig.peak_rss_mib
        );
    }
    println!("{}", serde_json::to_string(&fig)?);
    Ok(())
}
