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
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

/// A one-line summary of a record body for the table view.
fn summary(kind: &str, body: &serde_json::Value) -> String {
    let pick =
        |keys: &[&str]| keys.iter().filter_map(|k| body.get(*k).and_then(|v| v.as_str())).collect::<Vec<_>>().join(" ");
    match kind {
        "license" => pick(&["行政许可决定文书号", "许可内容", "许可决定日期"]),
        "penalty" => pick(&["行政处罚决定书文号", "处罚类别", "处罚决定日期"]),
        _ => String::new(),
    }
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
                    serde_json::json!({
                        "origin": r.origin,
                        "index": r.index,
                        "kind": r.kind,
                        "record": serde_json::from_str::<serde_json::Value>(&r.body_json).unwrap_or(serde_json::Value::Null),
                    })
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
            t.set_header(vec!["来源 origin", "序号 index", "类型 kind", "摘要 summary"]);
            for r in &reply.records {
                let body: serde_json::Value = serde_json::from_str(&r.body_json).unwrap_or(serde_json::Value::Null);
                t.add_row(vec![r.origin.clone(), r.index.to_string(), r.kind.clone(), summary(&r.kind, &body)]);
            }
            println!("{t}");
            println!("共 {} 条记录 {} record(s) about {}", reply.records.len(), reply.records.len(), a.uscc);
        }
    }
    exit::OK
}
