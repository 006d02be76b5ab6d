//! `gongxin query --data-dir DIR --uscc CODE [-o json]`: the records a node holds about one entity.

use crate::{client, exit, Output};
use clap::Args as ClapArgs;
use comfy_table::Table;
use gongxin_proto::admin::v1 as pb;
use std::path::PathBuf;

#[derive(ClapArgs, Debug)]
pub struct Args {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Unified social credit code (or another subject code: registration number, ID number).
    #[arg(long)]
    pub uscc: String,
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
    let rt = match client::runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            return exit::USAGE;
        }
    };
    let reply = rt.block_on(async {
        let mut c = client::connect(&a.data_dir).await?;
        anyhow::Ok(c.query(pb::QueryRequest { uscc: a.uscc.clone() }).await?.into_inner())
    });
    let reply = match reply {
        Ok(r) => r,
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            return exit::NODE;
        }
    };
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
            println!("{}", serde_json::json!({ "subject": a.uscc, "records": records }));
        }
        Output::Table => {
            if reply.records.is_empty() {
                println!("未找到记录 no records held about {}", a.uscc);
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
            println!("共 {} 条记录 {} record(s) about {}", reply.records.len(), reply.records.len(), a.uscc);
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
