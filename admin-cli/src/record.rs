//! `gongxin record add --data-dir DIR FILE.json`: sign and append one list entry, commitment or amendment
//! (DESIGN §4) given as JSON, e.g. a province-wide 严重失信主体名单 entry that then reaches every county.

use crate::{client, exit, Output};
use clap::{Args as ClapArgs, Subcommand};
use gongxin_proto::admin::v1 as pb;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Sign and append one record given as JSON (`{"kind":"list_entry", …}`).
    Add(AddArgs),
}

#[derive(ClapArgs, Debug)]
pub struct AddArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// JSON file holding one record.
    pub file: PathBuf,
    /// Sharing class override (无条件共享 / 有条件共享 / 不予共享).
    #[arg(long)]
    pub share: Option<String>,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

pub fn run(c: Command) -> i32 {
    let Command::Add(a) = c;
    let json = match std::fs::read_to_string(&a.file) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("错误 error: 无法读取 cannot read {}: {e}", a.file.display());
            return exit::USAGE;
        }
    };
    let rt = match client::runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            return exit::USAGE;
        }
    };
    let res = rt.block_on(async {
        let mut c = client::connect(&a.data_dir).await?;
        let r =
            c.publish(pb::PublishRequest { record_json: json, share_type: a.share.clone().unwrap_or_default() }).await;
        anyhow::Ok(r)
    });
    match res {
        Ok(Ok(r)) => {
            let r = r.into_inner();
            match a.output {
                Output::Json => println!(
                    "{}",
                    serde_json::json!({"accepted": r.accepted, "duplicates": r.duplicates, "size": r.size, "root": hex::encode(&r.root)})
                ),
                Output::Table => println!(
                    "已签名追加 appended: 接受 accepted {}, 重复 duplicates {}; 日志条目 log size {}",
                    r.accepted, r.duplicates, r.size
                ),
            }
            exit::OK
        }
        Ok(Err(s)) if s.code() == tonic::Code::InvalidArgument => {
            eprintln!("错误 error: {}: {}", a.file.display(), s.message());
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
