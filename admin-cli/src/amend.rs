//! `gongxin amend`: write an amendment of a held record (移出名单, 信用修复, 撤销, 撤回, 更正) without hand-written
//! JSON. The node refuses it, naming the target, unless the record is held and this node is its origin or the
//! province.

use crate::{client, exit, Output};
use clap::Args as ClapArgs;
use gongxin_proto::admin::v1 as pb;
use std::path::PathBuf;

#[derive(ClapArgs, Debug)]
pub struct Args {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The record to amend: ORIGIN/INDEX, e.g. 430102/17 (see `gongxin query`).
    #[arg(long)]
    pub target: String,
    /// 移出名单 / 信用修复 / 撤销 / 撤回 / 更正.
    #[arg(long)]
    pub action: String,
    /// Document number of the amending decision.
    #[arg(long)]
    pub doc_no: String,
    #[arg(long)]
    pub reason: String,
    /// Effective date YYYY-MM-DD [default: today].
    #[arg(long)]
    pub effective: Option<String>,
    /// The full corrected record as JSON (更正 only).
    #[arg(long)]
    pub corrected: Option<PathBuf>,
    /// Amending authority and its USCC [default: the target record's authority].
    #[arg(long, requires = "authority_uscc")]
    pub authority: Option<String>,
    #[arg(long, requires = "authority")]
    pub authority_uscc: Option<String>,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

pub fn run(a: Args) -> i32 {
    let Some((origin, index)) = a.target.split_once('/') else {
        eprintln!("错误 error: --target 应为 地方编码/序号，如 430102/17 (expected ORIGIN/INDEX)");
        return exit::USAGE;
    };
    let Ok(index) = index.trim().parse::<u64>() else {
        eprintln!("错误 error: --target 的序号 '{index}' 不是数字 (index is not a number)");
        return exit::USAGE;
    };
    let corrected_json = match &a.corrected {
        None => String::new(),
        Some(p) => match std::fs::read_to_string(p) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("错误 error: 无法读取 cannot read {}: {e}", p.display());
                return exit::USAGE;
            }
        },
    };
    let req = pb::AmendRequest {
        target_origin: origin.trim().to_string(),
        target_index: index,
        action: a.action.clone(),
        doc_no: a.doc_no.clone(),
        reason: a.reason.clone(),
        effective: a.effective.clone().unwrap_or_default(),
        corrected_json,
        authority: a.authority.clone().unwrap_or_default(),
        authority_uscc: a.authority_uscc.clone().unwrap_or_default(),
    };
    let Some(rt) = client::command_runtime() else { return exit::USAGE };
    let res = rt.block_on(async {
        let mut c = client::connect(&a.data_dir).await?;
        anyhow::Ok(c.amend(req).await)
    });
    match res {
        Ok(Ok(r)) => {
            let r = r.into_inner();
            match a.output {
                Output::Json => println!(
                    "{}",
                    serde_json::json!({"accepted": r.accepted, "duplicates": r.duplicates, "size": r.size, "index": r.size.saturating_sub(1)})
                ),
                Output::Table if r.accepted == 0 => {
                    println!("未追加 nothing appended: 同一文号的修改已存在 (an amendment with this document number is held)")
                }
                Output::Table => println!(
                    "已签名追加修改 amendment appended: {} {} → 日志序号 log index {}",
                    a.action,
                    a.target,
                    r.size.saturating_sub(1)
                ),
            }
            exit::OK
        }
        Ok(Err(s)) if matches!(s.code(), tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition) => {
            eprintln!("错误 error: {}", s.message());
            exit::PROBLEMS
        }
        Ok(Err(s)) => {
            eprintln!("错误 error: {}", s.message());
            exit::NODE
        }
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            exit::NODE
        }
    }
}
