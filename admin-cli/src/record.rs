//! `gongxin record add --data-dir DIR FILE.json`: sign and append one list entry, commitment or amendment
//! (DESIGN §4) given as JSON, e.g. a province-wide 严重失信主体名单 entry that then reaches every county.
//! `gongxin record template KIND` prints an annotated example (whole-line `//` notes, skipped by `add`).

use crate::{client, exit, Output};
use clap::{Args as ClapArgs, Subcommand};
use gongxin_proto::admin::v1 as pb;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Sign and append one record given as JSON (`{"kind":"list_entry", …}`); whole lines starting with `//` are
    /// skipped, so a filled-in `record template` is accepted as it is.
    Add(AddArgs),
    /// Print an annotated example to fill in: list_entry (名单条目), commitment (信用承诺), amendment (修改).
    Template(TemplateArgs),
}

#[derive(ClapArgs, Debug)]
pub struct TemplateArgs {
    #[arg(value_enum)]
    pub kind: TemplateKind,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
#[value(rename_all = "snake_case")]
pub enum TemplateKind {
    ListEntry,
    Commitment,
    Amendment,
}

impl TemplateKind {
    /// The annotated example (valid once its `//` lines are skipped).
    pub fn text(self) -> &'static str {
        match self {
            TemplateKind::ListEntry => include_str!("../templates/list_entry.jsonc"),
            TemplateKind::Commitment => include_str!("../templates/commitment.jsonc"),
            TemplateKind::Amendment => include_str!("../templates/amendment.jsonc"),
        }
    }
}

/// The JSON of an annotated record file: whole lines whose first non-blank characters are `//` are dropped
/// (a `//` inside a value, such as a URL, is kept: only whole lines are notes).
pub fn strip_notes(text: &str) -> String {
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
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
    let a = match c {
        Command::Add(a) => a,
        Command::Template(t) => {
            print!("{}", t.kind.text());
            return exit::OK;
        }
    };
    let json = match std::fs::read_to_string(&a.file) {
        Ok(j) => strip_notes(&j),
        Err(e) => {
            eprintln!("错误 error: 无法读取 cannot read {}: {e}", a.file.display());
            return exit::USAGE;
        }
    };
    let Some(rt) = client::command_runtime() else { return exit::USAGE };
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

#[cfg(test)]
mod tests {
    use super::*;
    use gongxin_core::record::Record;

    #[test]
    fn every_template_is_a_valid_record_once_its_notes_are_skipped() {
        for (kind, want) in [
            (TemplateKind::ListEntry, "list_entry"),
            (TemplateKind::Commitment, "commitment"),
            (TemplateKind::Amendment, "amendment"),
        ] {
            let json = strip_notes(kind.text());
            let r: Record = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{want}: {e}\n{json}"));
            assert_eq!(r.kind_str(), want);
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            for code in [&v["authority_uscc"], &v["subject"]["uscc"]].into_iter().filter_map(|c| c.as_str()) {
                gongxin_core::uscc::validate(code).unwrap_or_else(|e| panic!("{want}: {code}: {e}"));
            }
            // The notes are Chinese first and explain the fields.
            assert!(kind.text().lines().next().is_some_and(|l| l.starts_with("// ") && !l.is_ascii()), "{want}");
        }
        assert_eq!(strip_notes("  // x\n{\"u\": \"http://a\"}"), "{\"u\": \"http://a\"}");
    }
}
