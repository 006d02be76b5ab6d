//! `gongxin log show --data-dir DIR [-o json]`: size, root and the latest signed checkpoint of the node's log.

use crate::{client, exit, Output};
use base64::Engine as _;
use clap::{Args as ClapArgs, Subcommand};
use gongxin_proto::admin::v1 as pb;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print size, root and the latest signed checkpoint.
    Show(ShowArgs),
}

#[derive(ClapArgs, Debug)]
pub struct ShowArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

pub fn run(c: Command) -> i32 {
    let Command::Show(a) = c;
    let Some(rt) = client::command_runtime() else { return exit::USAGE };
    let s = match rt.block_on(async {
        let mut c = client::connect(&a.data_dir).await?;
        anyhow::Ok(c.status(pb::StatusRequest {}).await?.into_inner())
    }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            return exit::NODE;
        }
    };
    let note = String::from_utf8_lossy(&s.checkpoint).into_owned();
    let sig = base64::engine::general_purpose::STANDARD.encode(&s.checkpoint_sig);
    match a.output {
        Output::Json => println!(
            "{}",
            serde_json::json!({
                "code": s.code, "name": s.name, "level": s.level, "size": s.size, "root": hex::encode(&s.root),
                "checkpoint": note, "checkpoint_signature_der_base64": sig,
            })
        ),
        Output::Table => {
            println!("节点 node:   {} {} ({})", s.code, s.name, s.level);
            println!("条目 size:   {}", s.size);
            println!("根 root:     {}", hex::encode(&s.root));
            println!("最新签名检查点 latest signed checkpoint:");
            print!("{note}");
            println!("签名 signature (DER, base64): {sig}");
        }
    }
    exit::OK
}
