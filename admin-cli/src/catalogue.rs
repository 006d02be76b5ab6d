//! `gongxin catalogue publish|show`: the measure catalogue (联合奖惩措施清单). The province publishes it as a signed
//! entry of its log; every node that mirrors the province log uses the version in force on the day asked.

use crate::{client, exit, Output};
use clap::{Args as ClapArgs, Subcommand};
use gongxin_proto::admin::v1 as pb;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Publish a catalogue (province only) [default: the one shipped with the software].
    Publish(PublishArgs),
    /// The catalogues this node holds and their measures.
    Show(ShowArgs),
}

#[derive(ClapArgs, Debug)]
pub struct PublishArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Catalogue JSON (see node/data/measures.json for the format).
    #[arg(long)]
    pub file: Option<PathBuf>,
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

pub fn run(c: Command) -> i32 {
    let Some(rt) = client::command_runtime() else { return exit::USAGE };
    match c {
        Command::Publish(a) => {
            let json = match &a.file {
                None => String::new(),
                Some(p) => match std::fs::read_to_string(p) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("错误 error: 无法读取 cannot read {}: {e}", p.display());
                        return exit::USAGE;
                    }
                },
            };
            let res = rt.block_on(async {
                let mut c = client::connect(&a.data_dir).await?;
                anyhow::Ok(c.publish_catalogue(pb::PublishCatalogueRequest { catalogue_json: json }).await)
            });
            match res {
                Ok(Ok(r)) => {
                    let r = r.into_inner();
                    if a.output == Output::Json {
                        println!("{}", serde_json::json!({"version": r.version, "index": r.index}));
                        return exit::OK;
                    }
                    println!(
                        "已发布措施清单第 {} 版 catalogue version {} published at log index {}",
                        r.version, r.version, r.index
                    );
                    exit::OK
                }
                Ok(Err(s)) => {
                    eprintln!("错误 error: {}", s.message());
                    if matches!(s.code(), tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition) {
                        exit::PROBLEMS
                    } else {
                        exit::NODE
                    }
                }
                Err(e) => {
                    eprintln!("错误 error: {e:#}");
                    exit::NODE
                }
            }
        }
        Command::Show(a) => {
            let res = rt.block_on(async {
                let mut c = client::connect(&a.data_dir).await?;
                anyhow::Ok(c.catalogues(pb::CataloguesRequest {}).await?.into_inner())
            });
            let r = match res {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("错误 error: {e:#}");
                    return exit::NODE;
                }
            };
            let all: Vec<gongxin_core::catalogue::Catalogue> =
                serde_json::from_str(&r.catalogues_json).unwrap_or_default();
            match a.output {
                Output::Json => println!("{}", r.catalogues_json),
                Output::Table => {
                    if all.is_empty() {
                        println!("本节点尚无措施清单 no catalogue held (the province publishes it: gongxin catalogue publish)");
                    }
                    for c in &all {
                        println!(
                            "第 {} 版 version {}: {}（自 {} 起 from）",
                            c.version, c.version, c.title, c.effective_from
                        );
                        for m in &c.measures {
                            println!("  {}  {}  —  {}", m.code, m.name, m.legal_basis);
                        }
                    }
                }
            }
            exit::OK
        }
    }
}
