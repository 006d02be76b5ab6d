//! `gongxin audit run|show --data-dir DIR [-o json]`: the province (or a city, for its subtree) audits the sync
//! chain; the signed report lists every origin's state, lag and evidence, problem origins first.

use crate::{client, exit, Output};
use clap::{Args as ClapArgs, Subcommand};
use comfy_table::Table;
use gongxin_core::audit::{Report, Status};
use gongxin_proto::admin::v1 as pb;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Audit now; the signed report is appended to the node's log.
    Run(RunArgs),
    /// Print the newest signed report.
    Show(ShowArgs),
}

#[derive(ClapArgs, Debug)]
pub struct RunArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// A heartbeat older than this is stale (seconds; default 3600).
    #[arg(long)]
    pub stale_after: Option<i64>,
    /// More entries behind than this is lagging (default 1000).
    #[arg(long)]
    pub lag_entries: Option<u64>,
    /// More seconds behind than this is lagging (default 900).
    #[arg(long)]
    pub lag_seconds: Option<i64>,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(ClapArgs, Debug)]
pub struct ShowArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

fn status_zh(s: Status) -> &'static str {
    match s {
        Status::Ok => "正常 ok",
        Status::Lagging => "滞后 lagging",
        Status::Stale => "失联 stale",
        Status::Evidence => "证据 evidence",
    }
}

/// Prints a report as a table (problem origins first) or JSON; returns exit 1 when any origin is not `ok`.
pub fn print(report: &Report, output: Output) -> i32 {
    match output {
        Output::Json => println!("{}", serde_json::to_string(report).unwrap_or_default()),
        Output::Table => {
            println!("审计报告 audit report by {} at {}", report.auditor, report.at);
            let mut t = Table::new();
            t.set_header(vec![
                "节点 origin",
                "状态 status",
                "来源 origin size",
                "镜像 mirror",
                "滞后条目 lag",
                "滞后秒 lag s",
                "最新心跳 heartbeat",
                "下一步 next",
            ]);
            for o in &report.origins {
                t.add_row(vec![
                    o.code.clone(),
                    status_zh(o.status).to_string(),
                    o.origin_size.to_string(),
                    o.mirror_size.to_string(),
                    o.lag_entries.to_string(),
                    o.lag_seconds.to_string(),
                    o.latest_heartbeat.clone().unwrap_or_else(|| "-".into()),
                    o.advice.clone(),
                ]);
            }
            println!("{t}");
            for o in report.origins.iter().filter(|o| !o.evidence.is_empty()) {
                for f in &o.evidence {
                    println!("证据 evidence {}: {} — 责任节点 culprit {} — {}", o.code, f.kind, f.culprit, f.detail);
                }
            }
        }
    }
    if report.origins.iter().all(|o| o.status == Status::Ok) {
        exit::OK
    } else {
        exit::PROBLEMS
    }
}

pub fn run(c: Command) -> i32 {
    let (data_dir, output) = match &c {
        Command::Run(a) => (a.data_dir.clone(), a.output),
        Command::Show(a) => (a.data_dir.clone(), a.output),
    };
    let Some(rt) = client::command_runtime() else { return exit::USAGE };
    let reply = rt.block_on(async {
        let mut cl = client::connect(&data_dir).await?;
        let r = match &c {
            Command::Run(a) => {
                cl.audit_run(pb::AuditRunRequest {
                    stale_after_secs: a.stale_after.unwrap_or(0),
                    lag_entries: a.lag_entries.unwrap_or(0),
                    lag_secs: a.lag_seconds.unwrap_or(0),
                })
                .await?
            }
            Command::Show(_) => cl.audit_show(pb::AuditShowRequest {}).await?,
        };
        anyhow::Ok(r.into_inner())
    });
    let reply = match reply {
        Ok(r) => r,
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            return exit::NODE;
        }
    };
    if reply.report_json.is_empty() {
        eprintln!("还没有审计报告 no audit report yet: run `gongxin audit run --data-dir {}`", data_dir.display());
        return exit::PROBLEMS;
    }
    match serde_json::from_str::<Report>(&reply.report_json) {
        Ok(r) => print(&r, output),
        Err(e) => {
            eprintln!("错误 error: unreadable report: {e}");
            exit::NODE
        }
    }
}
