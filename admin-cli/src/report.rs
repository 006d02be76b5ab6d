//! `gongxin report publication [--since DATE] [-o json]`: licences and penalties published later than 7 working
//! days after their decision, and withdrawals later than 3 working days, per authority and origin, over every log
//! the node holds (a city and the province: their subtrees).

use crate::{client, exit, Output};
use clap::{Args as ClapArgs, Subcommand};
use gongxin_proto::admin::v1 as pb;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// 7-working-day compliance (双公示 7 个工作日内公开).
    Publication(PublicationArgs),
    /// Records held under two or more origins (the same record imported at two counties).
    Duplicates(DuplicatesArgs),
}

#[derive(ClapArgs, Debug)]
pub struct DuplicatesArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

fn duplicates(a: DuplicatesArgs) -> i32 {
    let Some(rt) = client::command_runtime() else { return exit::USAGE };
    let res = rt.block_on(async {
        let mut c = client::connect(&a.data_dir).await?;
        anyhow::Ok(c.report_duplicates(pb::ReportDuplicatesRequest {}).await?.into_inner())
    });
    let reply = match res {
        Ok(r) => r,
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            return exit::NODE;
        }
    };
    let v: serde_json::Value = serde_json::from_str(&reply.report_json).unwrap_or_default();
    match a.output {
        Output::Json => println!("{}", reply.report_json),
        Output::Table => {
            println!("同一记录出现在多个来源 records under two or more origins: {} 组 groups", v["groups"]);
            for d in v["listed"].as_array().cloned().unwrap_or_default().iter().take(50) {
                let entries: Vec<&str> =
                    d["entries"].as_array().map(|a| a.iter().filter_map(|x| x.as_str()).collect()).unwrap_or_default();
                println!("  {}  ←  {}", d["natural_key"].as_str().unwrap_or(""), entries.join(", "));
            }
        }
    }
    if v["groups"].as_u64().unwrap_or(0) > 0 {
        exit::PROBLEMS
    } else {
        exit::OK
    }
}

#[derive(ClapArgs, Debug)]
pub struct PublicationArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Only records decided on or after this day (YYYY-MM-DD).
    #[arg(long)]
    pub since: Option<String>,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

pub fn run(c: Command) -> i32 {
    let a = match c {
        Command::Publication(a) => a,
        Command::Duplicates(a) => return duplicates(a),
    };
    let Some(rt) = client::command_runtime() else { return exit::USAGE };
    let res = rt.block_on(async {
        let mut c = client::connect(&a.data_dir).await?;
        anyhow::Ok(
            c.report_publication(pb::ReportPublicationRequest { since: a.since.clone().unwrap_or_default() }).await,
        )
    });
    let reply = match res {
        Ok(Ok(r)) => r.into_inner(),
        Ok(Err(s)) => {
            eprintln!("错误 error: {}", s.message());
            return if s.code() == tonic::Code::InvalidArgument { exit::USAGE } else { exit::NODE };
        }
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            return exit::NODE;
        }
    };
    let v: serde_json::Value = serde_json::from_str(&reply.report_json).unwrap_or_default();
    match a.output {
        Output::Json => println!("{}", reply.report_json),
        Output::Table => {
            println!(
                "公开时限检查 publication deadlines: 检查 {} 条，超期 {} 条 ({} checked, {} late)",
                v["checked"], v["late_total"], v["checked"], v["late_total"]
            );
            let mut t = comfy_table::Table::new();
            t.set_header(vec!["来源 origin", "部门 authority", "已公开 published", "超期 late"]);
            for r in v["rows"].as_array().cloned().unwrap_or_default() {
                t.add_row(vec![
                    r["origin"].as_str().unwrap_or("").to_string(),
                    r["authority"].as_str().unwrap_or("").to_string(),
                    r["published"].to_string(),
                    r["late"].to_string(),
                ]);
            }
            println!("{t}");
            for (title, key) in
                [("超期公开 late publications", "late"), ("超期撤回 late withdrawals", "late_withdrawals")]
            {
                let list = v[key].as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    continue;
                }
                println!("{title}:");
                for l in list.iter().take(50) {
                    println!(
                        "  {}/{} {} 决定 {} 应于 {} 前 公开于 {}",
                        l["origin"].as_str().unwrap_or(""),
                        l["index"],
                        l["doc_no"].as_str().unwrap_or(""),
                        l["decided"].as_str().unwrap_or(""),
                        l["due"].as_str().unwrap_or(""),
                        l["published_on"].as_str().unwrap_or("")
                    );
                }
                if list.len() > 50 {
                    println!("  …（共 {} 条，-o json 查看全部 / -o json for all）", list.len());
                }
            }
            if let Some(m) = v["no_calendar"].as_object().filter(|m| !m.is_empty()) {
                println!("注意 note: 节假日数据缺少这些年份，相关记录无法判断 (no calendar data for): {m:?}");
            }
        }
    }
    exit::OK
}
