//! `gongxin profile --data-dir DIR --uscc CODE [-o json]`: the credit profile (信用档案) of one entity: licences,
//! penalties with their publicity state, list entries, commitments and check feedback, each with its history.

use crate::{client, exit, Output};
use clap::Args as ClapArgs;
use gongxin_proto::admin::v1 as pb;
use std::path::PathBuf;

#[derive(ClapArgs, Debug)]
pub struct Args {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// USCC or another subject code (工商注册号, 组织机构代码, ID number).
    #[arg(long)]
    pub uscc: String,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

fn line(item: &serde_json::Value, what: &str) -> String {
    let r = &item["record"];
    let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
    let mut out = format!(
        "  {}/{} [{}] {}",
        item["origin"].as_str().unwrap_or(""),
        item["index"],
        item["status"].as_str().unwrap_or(""),
        match what {
            "license" => format!("{} {} {}", s("decision_doc_no"), s("content"), s("decision_date")),
            "penalty" => format!("{} {} {}", s("decision_doc_no"), s("violation_type"), s("decision_date")),
            "list" => format!("{} {} {}–{}", s("list_type"), s("decision_doc_no"), s("start"), s("end")),
            _ => format!("{} {} {}", s("commitment_type"), s("doc_no"), s("date")),
        }
    );
    if let Some(p) = item["in_publicity"].as_bool() {
        out.push_str(if p { "  公示中 in publicity" } else { "  未公示 not in publicity" });
    }
    if let Some(e) = item["publicity_ends"].as_str() {
        out.push_str(&format!(" 至 until {e}（{}）", item["publicity_rule"].as_str().unwrap_or("")));
    }
    for h in item["history"].as_array().cloned().unwrap_or_default() {
        out.push_str(&format!(
            "\n      {} {} {}{}",
            h["effective"].as_str().unwrap_or(""),
            h["action"].as_str().unwrap_or(""),
            h["doc_no"].as_str().unwrap_or(""),
            h["ignored"].as_str().map(|w| format!(" [未采用 ignored: {w}]")).unwrap_or_default()
        ));
    }
    out
}

pub fn run(a: Args) -> i32 {
    let Some(rt) = client::command_runtime() else { return exit::USAGE };
    let res = rt.block_on(async {
        let mut c = client::connect(&a.data_dir).await?;
        anyhow::Ok(c.profile(pb::ProfileRequest { uscc: a.uscc.clone() }).await)
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
    match a.output {
        Output::Json => println!("{}", reply.profile_json),
        Output::Table => {
            let v: serde_json::Value = serde_json::from_str(&reply.profile_json).unwrap_or_default();
            println!(
                "信用档案 credit profile: {} {}",
                v["subject"].as_str().unwrap_or(""),
                v["name"].as_str().unwrap_or("")
            );
            for (title, key, what) in [
                ("行政许可 licences", "licenses", "license"),
                ("行政处罚 penalties", "penalties", "penalty"),
                ("名单 list entries", "lists", "list"),
                ("信用承诺 commitments", "commitments", "commitment"),
            ] {
                let items = v[key].as_array().cloned().unwrap_or_default();
                println!("{title}: {}", items.len());
                for i in &items {
                    println!("{}", line(i, what));
                }
            }
            let fb = v["feedback"].as_array().cloned().unwrap_or_default();
            println!("核查反馈 check feedback: {}", fb.len());
            for f in fb {
                println!(
                    "  {} {} {} {}",
                    f["reported_at"].as_str().unwrap_or(""),
                    f["measure"].as_str().unwrap_or(""),
                    f["action"].as_str().unwrap_or(""),
                    f["reporter"].as_str().unwrap_or("")
                );
            }
        }
    }
    exit::OK
}
