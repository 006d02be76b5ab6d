//! `gongxin peer list --data-dir DIR [-o json]`: the node's parent and children, per-origin cursors, lag in
//! entries and seconds, last contact and state.

use crate::{client, exit, Output};
use clap::{Args as ClapArgs, Subcommand};
use comfy_table::Table;
use gongxin_proto::admin::v1 as pb;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Parent, children and logs held, with lag.
    List(ListArgs),
}

#[derive(ClapArgs, Debug)]
pub struct ListArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

/// A link state as shown in the table: Chinese first (the JSON keeps the plain value).
fn state(v: &serde_json::Value) -> String {
    let zh = match v.as_str() {
        Some("ok") => "正常",
        Some("late") => "迟到",
        Some("refused") => "被拒",
        Some("never seen") => "未联系",
        Some("starting") => "启动中",
        Some("unreachable") => "不可达",
        Some("backoff") => "重试中",
        _ => return s(v),
    };
    format!("{zh} {}", s(v))
}

/// A JSON value as a table cell: `-` for null, strings unquoted.
pub(crate) fn s(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "-".into(),
        serde_json::Value::String(x) => x.clone(),
        other => other.to_string(),
    }
}

pub fn run(c: Command) -> i32 {
    let Command::List(a) = c;
    let Some(rt) = client::command_runtime() else { return exit::USAGE };
    let reply = match rt.block_on(async {
        let mut c = client::connect(&a.data_dir).await?;
        anyhow::Ok(c.peers(pb::PeersRequest {}).await?.into_inner())
    }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            return exit::NODE;
        }
    };
    let v: serde_json::Value = serde_json::from_str(&reply.json).unwrap_or(serde_json::Value::Null);
    if a.output == Output::Json {
        println!("{v}");
        return exit::OK;
    }
    if v["standalone"] == true {
        println!("节点 {} 单机运行 runs standalone (no [federation] section)", s(&v["code"]));
        return exit::OK;
    }
    println!(
        "节点 node {} — 名册版本 registry version {} — 证据 evidence {}",
        s(&v["code"]),
        s(&v["registry_version"]),
        s(&v["evidence"])
    );
    if let Some(p) = v.get("parent").filter(|p| !p.is_null()) {
        println!(
            "上级 parent {} {}: 状态 state {}, 最近联系 last contact {} ({} s ago){}",
            s(&p["code"]),
            s(&p["addr"]),
            state(&p["state"]),
            s(&p["last_contact"]),
            s(&p["last_contact_age_seconds"]),
            p.get("last_error")
                .filter(|e| !e.is_null())
                .map(|e| format!(", 最近错误 last error: {}", s(e)))
                .unwrap_or_default()
        );
        let mut t = Table::new();
        t.set_header(vec!["来源 origin", "本地 held", "上级游标 parent cursor", "滞后条目 lag entries"]);
        for o in p["origins"].as_array().cloned().unwrap_or_default() {
            t.add_row(vec![s(&o["origin"]), s(&o["held"]), s(&o["parent_cursor"]), s(&o["lag_entries"])]);
        }
        println!("{t}");
    }
    let children = v["children"].as_array().cloned().unwrap_or_default();
    if !children.is_empty() {
        let mut t = Table::new();
        t.set_header(vec![
            "下级 child",
            "名称 name",
            "名册状态 status",
            "链路 state",
            "最近联系 last contact",
            "秒前 age s",
            "最近错误 last error",
        ]);
        for c in children {
            t.add_row(vec![
                s(&c["code"]),
                s(&c["name"]),
                s(&c["status"]),
                state(&c["state"]),
                s(&c["last_contact"]),
                s(&c["last_contact_age_seconds"]),
                s(&c["last_error"]),
            ]);
        }
        println!("{t}");
    }
    let mut t = Table::new();
    t.set_header(vec!["日志 log", "名称 name", "条目 size", "最新检查点 latest checkpoint", "滞后秒 lag s"]);
    for l in v["logs"].as_array().cloned().unwrap_or_default() {
        t.add_row(vec![
            s(&l["origin"]),
            s(&l["name"]),
            s(&l["size"]),
            s(&l["latest_checkpoint_at"]),
            s(&l["age_seconds"]),
        ]);
    }
    println!("{t}");
    exit::OK
}
