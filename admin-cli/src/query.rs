//! `gongxin query --data-dir DIR --uscc CODE | --name TEXT [filters] [--public] [-o json]`: the one-stop query
//! over what the node holds, each record with its current state (and, with `--history`, every step).

use crate::{client, exit, Output};
use clap::Args as ClapArgs;
use comfy_table::Table;
use gongxin_proto::admin::v1 as pb;
use std::path::PathBuf;

#[derive(ClapArgs, Debug)]
pub struct Args {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Unified social credit code (or another subject code: 工商注册号, 组织机构代码, ID number).
    #[arg(long, required_unless_present = "name", conflicts_with = "name")]
    pub uscc: Option<String>,
    /// Name prefix: the whole name or the part after its division names (湘江餐饮 finds 长沙市湘江餐饮管理有限公司).
    #[arg(long)]
    pub name: Option<String>,
    /// Only this kind: license, penalty, list_entry, commitment.
    #[arg(long)]
    pub kind: Option<String>,
    /// Only records of this origin (division code).
    #[arg(long)]
    pub origin: Option<String>,
    /// Decision date from / to (YYYY-MM-DD, inclusive).
    #[arg(long)]
    pub from: Option<String>,
    #[arg(long)]
    pub to: Option<String>,
    /// Only records in this state today: 有效, 在列, 已移出, 已修复, 已撤销, 已撤回, 已到期, 已更正.
    #[arg(long)]
    pub status: Option<String>,
    /// The public view (as 信用湖南 shows it): names and numbers masked, natural persons' penalties and minors
    /// withheld, 公示 records in their publicity window only.
    #[arg(long)]
    pub public: bool,
    /// Skip this many matches (paging).
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
    /// Page size (at most 200).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Also show every amendment of each record (更正, 撤销, 移出名单, …), in the order applied.
    #[arg(long)]
    pub history: bool,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

/// A one-line summary of a record body for the table view.
fn summary(kind: &str, body: &serde_json::Value) -> String {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join("、"),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let pick =
        |keys: &[&str]| keys.iter().map(|k| text(&body[*k])).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
    let name = text(&body["subject"]["name"]);
    let what = match kind {
        "license" => pick(&["decision_doc_no", "content", "decision_date"]),
        "penalty" => pick(&["decision_doc_no", "categories", "decision_date"]),
        "list_entry" => pick(&["list_type", "decision_doc_no", "start", "end"]),
        "commitment" => pick(&["commitment_type", "doc_no", "date"]),
        "amendment" => pick(&["action", "doc_no", "effective_date"]),
        _ => String::new(),
    };
    let mut s = format!("{name} {what}");
    if s.chars().count() > 80 {
        s = s.chars().take(79).collect::<String>() + "…";
    }
    s
}

pub fn run(a: Args) -> i32 {
    let Some(rt) = client::command_runtime() else { return exit::USAGE };
    let reply = rt.block_on(async {
        let mut c = client::connect(&a.data_dir).await?;
        let req = pb::QueryRequest {
            uscc: a.uscc.clone().unwrap_or_default(),
            name: a.name.clone().unwrap_or_default(),
            kind: a.kind.clone().unwrap_or_default(),
            origin: a.origin.clone().unwrap_or_default(),
            from: a.from.clone().unwrap_or_default(),
            to: a.to.clone().unwrap_or_default(),
            status: a.status.clone().unwrap_or_default(),
            public: a.public,
            offset: a.offset,
            limit: a.limit,
        };
        anyhow::Ok(c.query(req).await?.into_inner())
    });
    let reply = match reply {
        Ok(r) => r,
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            return exit::NODE;
        }
    };
    let what = a.uscc.clone().or_else(|| a.name.clone()).unwrap_or_default();
    match a.output {
        Output::Json => {
            let records: Vec<serde_json::Value> = reply
                .records
                .iter()
                .map(|r| {
                    let state: serde_json::Value = serde_json::from_str(&r.state_json).unwrap_or(serde_json::Value::Null);
                    let mut v = serde_json::json!({
                        "origin": r.origin,
                        "index": r.index,
                        "kind": r.kind,
                        "status": r.status,
                        "record": serde_json::from_str::<serde_json::Value>(&r.body_json).unwrap_or(serde_json::Value::Null),
                    });
                    for k in ["void", "repaired", "removed"] {
                        if let Some(x) = state.get(k) {
                            v[k] = x.clone();
                        }
                    }
                    if a.history {
                        v["history"] = state.get("history").cloned().unwrap_or(serde_json::Value::Array(vec![]));
                        v["original"] = state.get("original").cloned().unwrap_or(serde_json::Value::Null);
                    }
                    v
                })
                .collect();
            println!(
                "{}",
                serde_json::json!({ "subject": what, "public": a.public, "records": records, "matched": reply.matched, "more": reply.more })
            );
        }
        Output::Table => {
            if reply.records.is_empty() {
                println!("未找到记录 no records held about {what}");
                return exit::OK;
            }
            let mut t = Table::new();
            t.set_header(vec!["来源 origin", "序号 index", "类型 kind", "状态 status", "摘要 summary"]);
            for r in &reply.records {
                let body: serde_json::Value = serde_json::from_str(&r.body_json).unwrap_or(serde_json::Value::Null);
                t.add_row(vec![
                    r.origin.clone(),
                    r.index.to_string(),
                    r.kind.clone(),
                    r.status.clone(),
                    summary(&r.kind, &body),
                ]);
            }
            println!("{t}");
            println!("共 {} 条记录 {} record(s) about {what}", reply.records.len(), reply.records.len());
            if reply.more {
                println!(
                    "还有更多，用 --offset {} 查看下一页 (more: next page with --offset {})",
                    reply.matched, reply.matched
                );
            }
            if a.history {
                for r in &reply.records {
                    let state: serde_json::Value =
                        serde_json::from_str(&r.state_json).unwrap_or(serde_json::Value::Null);
                    let steps = state["history"].as_array().cloned().unwrap_or_default();
                    if steps.is_empty() {
                        continue;
                    }
                    println!("\n{}/{} 修改记录 history:", r.origin, r.index);
                    for s in steps {
                        let by = format!("{}/{}", s["by"]["origin"].as_str().unwrap_or("?"), s["by"]["index"]);
                        let ignored =
                            s["ignored"].as_str().map(|w| format!("  [未采用 ignored: {w}]")).unwrap_or_default();
                        println!(
                            "  {} {} {} 文号 {} 原因 {} ({by}){ignored}",
                            s["effective"].as_str().unwrap_or(""),
                            s["action"].as_str().unwrap_or(""),
                            s["authority"].as_str().unwrap_or(""),
                            s["doc_no"].as_str().unwrap_or(""),
                            s["reason"].as_str().unwrap_or(""),
                        );
                    }
                }
            }
        }
    }
    exit::OK
}
