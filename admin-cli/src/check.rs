//! `gongxin check`: the joint-punishment check (联合惩戒核查) on the local node, its feedback (反馈) and the
//! feedback report.
//!
//! ```text
//! gongxin check --data-dir DIR --uscc CODE --measure 政府采购 [--as-of YYYY-MM-DD] [-o json]
//! gongxin check --data-dir DIR --id-type 身份证 --id NUMBER --measure 担任高管
//! gongxin check feedback --data-dir DIR --verdict ID --action 已限制|未限制 --note TEXT
//! gongxin check report --data-dir DIR [--since YYYY-MM-DD] [-o json]
//! ```

use crate::{client, exit, Output};
use base64::Engine as _;
use clap::{Args as ClapArgs, Subcommand};
use gongxin_core::check::Verdict;
use gongxin_proto::check::v1 as pb;
use std::path::PathBuf;

#[derive(ClapArgs, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    pub sub: Option<Sub>,
    #[command(flatten)]
    pub ask: AskArgs,
}

#[derive(ClapArgs, Debug)]
pub struct AskArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR", required = true)]
    pub data_dir: Option<PathBuf>,
    /// Unified social credit code of the entity.
    #[arg(long, conflicts_with = "id")]
    pub uscc: Option<String>,
    /// Document type of a natural person (身份证, 护照号, …), with --id.
    #[arg(long, requires = "id")]
    pub id_type: Option<String>,
    /// Document number of a natural person.
    #[arg(long)]
    pub id: Option<String>,
    /// Measure code from the catalogue, e.g. 政府采购, 财政资金, 行政许可 (`gongxin catalogue show` lists them).
    #[arg(long, required = true)]
    pub measure: Option<String>,
    /// The day asked about [default: today].
    #[arg(long)]
    pub as_of: Option<String>,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(Subcommand, Debug)]
pub enum Sub {
    /// Record what the business system did with a verdict (appended to this node's log, synced up).
    Feedback(FeedbackArgs),
    /// Count feedback per measure and origin of the entries hit (a city or the province: its subtree).
    Report(ReportArgs),
}

#[derive(ClapArgs, Debug)]
pub struct FeedbackArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The verdict's identifier (`verdict_id` of the check's answer).
    #[arg(long)]
    pub verdict: String,
    /// 已限制 or 未限制.
    #[arg(long)]
    pub action: String,
    #[arg(long, default_value = "")]
    pub note: String,
    /// The saved JSON answer of `gongxin check -o json`, for a verdict the node no longer remembers.
    #[arg(long)]
    pub answer: Option<PathBuf>,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(ClapArgs, Debug)]
pub struct ReportArgs {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    #[arg(long)]
    pub since: Option<String>,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn fail(s: tonic::Status) -> i32 {
    eprintln!("错误 error: {}", s.message());
    match s.code() {
        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => exit::PROBLEMS,
        _ => exit::NODE,
    }
}

pub fn run(a: Args) -> i32 {
    let Some(rt) = client::command_runtime() else { return exit::USAGE };
    match a.sub {
        Some(Sub::Feedback(f)) => rt.block_on(feedback(f)),
        Some(Sub::Report(r)) => rt.block_on(report(r)),
        None => rt.block_on(ask(a.ask)),
    }
}

/// The JSON answer: decision, hits, what it rests on, and the signed verdict.
pub fn answer_json(reply: &pb::CheckReply, v: &Verdict) -> serde_json::Value {
    serde_json::json!({
        "decision": v.decision,
        "subject": v.subject,
        "measure": v.measure,
        "date": v.date,
        "hits": v.hits.iter().map(|h| serde_json::json!({
            "origin": h.origin, "index": h.index, "list_type": h.list_type, "start": h.start, "end": h.end,
            "measure": h.measure, "legal_basis": h.legal_basis, "amended_by": h.amended_by,
        })).collect::<Vec<_>>(),
        "as_of": v.basis,
        "notes": v.notes,
        "verdict_id": reply.verdict_id,
        "verdict": b64(&reply.verdict),
        "signature": b64(&reply.signature),
        "batch": b64(&reply.batch),
        "batch_index": reply.batch_index,
        "batch_proof": reply.batch_proof.iter().map(|h| hex::encode(h)).collect::<Vec<_>>(),
        "signer": reply.signer,
        "signer_key_pem": reply.signer_key_pem,
    })
}

async fn ask(a: AskArgs) -> i32 {
    let Some(data_dir) = a.data_dir else { return exit::USAGE };
    let (uscc, id_no) = match (a.uscc, a.id) {
        (Some(u), None) => (u, String::new()),
        (None, Some(i)) => (String::new(), i),
        _ => {
            eprintln!("错误 error: 请给出 --uscc 或 --id (give --uscc CODE or --id-type TYPE --id NUMBER)");
            return exit::USAGE;
        }
    };
    let req = pb::CheckRequest {
        uscc,
        id_type: a.id_type.unwrap_or_default(),
        id_no,
        measure: a.measure.unwrap_or_default(),
        as_of: a.as_of.unwrap_or_default(),
    };
    let mut c = match client::connect_check(&data_dir).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            return exit::NODE;
        }
    };
    let reply = match c.check(req).await {
        Ok(r) => r.into_inner(),
        Err(s) => return fail(s),
    };
    let v = match Verdict::parse(&reply.verdict) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("错误 error: 节点返回的结论无法解析 the node's verdict does not parse: {e}");
            return exit::NODE;
        }
    };
    match a.output {
        Output::Json => println!("{}", answer_json(&reply, &v)),
        Output::Table => {
            let word = match v.decision {
                gongxin_core::check::Decision::Restrict => "限制 restrict",
                gongxin_core::check::Decision::Incentive => "激励 incentive",
                gongxin_core::check::Decision::None => "无 none",
            };
            println!("核查结论 decision: {word}  （{} / {} / {}）", v.subject, v.measure, v.date);
            for h in &v.hits {
                println!(
                    "  命中 hit {}/{} {} {}–{}  依据 {}",
                    h.origin, h.index, h.list_type, h.start, h.end, h.legal_basis
                );
            }
            let b = &v.basis;
            println!(
                "  省级数据 province view: 第 {} 条, {}{}",
                b.province_size,
                b.province_time.as_deref().unwrap_or("无 none"),
                b.stale_seconds.map(|s| format!(", {s} 秒前 s ago")).unwrap_or_default()
            );
            for n in &v.notes {
                println!("  注意 note: {n}");
            }
            println!("  结论编号 verdict id: {}  签发节点 signer: {}", reply.verdict_id, reply.signer);
        }
    }
    exit::OK
}

/// Largest saved answer read: a reply within the check API's message limit, base64-encoded, fits well below.
const MAX_ANSWER_BYTES: u64 = 16 << 20;

/// Fills the verdict and its batch proof into `req` from a saved `gongxin check -o json` answer; `None` when a
/// field is missing or malformed.
fn fill_from_answer(v: &serde_json::Value, req: &mut pb::FeedbackRequest) -> Option<()> {
    let b64 = |k: &str| v[k].as_str().and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok());
    req.batch_proof =
        v["batch_proof"].as_array()?.iter().map(|h| hex::decode(h.as_str()?).ok()).collect::<Option<_>>()?;
    (req.verdict, req.signature, req.batch) = (b64("verdict")?, b64("signature")?, b64("batch")?);
    req.batch_index = v["batch_index"].as_u64()?;
    Some(())
}

async fn feedback(f: FeedbackArgs) -> i32 {
    let mut req = pb::FeedbackRequest { verdict_id: f.verdict, action: f.action, note: f.note, ..Default::default() };
    if let Some(path) = &f.answer {
        let bytes = match crate::files::read_bounded(path, MAX_ANSWER_BYTES, true) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("错误 error: {}: {e}", path.display());
                return exit::USAGE;
            }
        };
        let parsed = serde_json::from_slice::<serde_json::Value>(&bytes).ok();
        if parsed.as_ref().and_then(|v| fill_from_answer(v, &mut req)).is_none() {
            eprintln!("错误 error: {} 不是 `gongxin check -o json` 的输出 (not a saved check answer)", path.display());
            return exit::USAGE;
        }
    }
    let mut c = match client::connect_check(&f.data_dir).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            return exit::NODE;
        }
    };
    let output = f.output;
    match c.feedback(req).await {
        Ok(r) => {
            let index = r.into_inner().index;
            match output {
                Output::Json => println!("{}", serde_json::json!({"index": index})),
                Output::Table => println!("已记录反馈 feedback recorded: 日志序号 log index {index}"),
            }
            exit::OK
        }
        Err(s) => fail(s),
    }
}

async fn report(r: ReportArgs) -> i32 {
    let mut c = match client::connect_check(&r.data_dir).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            return exit::NODE;
        }
    };
    let reply = match c.report(pb::ReportRequest { since: r.since.unwrap_or_default() }).await {
        Ok(x) => x.into_inner(),
        Err(s) => return fail(s),
    };
    match r.output {
        Output::Json => println!("{}", reply.report_json),
        Output::Table => {
            let v: serde_json::Value = serde_json::from_str(&reply.report_json).unwrap_or_default();
            let mut t = comfy_table::Table::new();
            t.set_header(vec!["措施 measure", "名单来源 origin", "结论 verdicts", "命中 hits", "已限制", "未限制"]);
            for row in v["rows"].as_array().cloned().unwrap_or_default() {
                t.add_row(vec![
                    row["measure"].as_str().unwrap_or("").to_string(),
                    row["origin"].as_str().unwrap_or("").to_string(),
                    row["verdicts"].to_string(),
                    row["hits"].to_string(),
                    row["restricted"].to_string(),
                    row["not_restricted"].to_string(),
                ]);
            }
            println!("{t}");
            println!("共 {} 条反馈 feedback entries", v["feedback"]);
        }
    }
    exit::OK
}
