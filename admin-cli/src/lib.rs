//! `gongxin`: the operator and auditor tool. It talks to a node only through the node's admin API (a gRPC
//! Unix socket in the data dir); `validate` and `verify-bundle` work offline and call the core crate
//! (`gongxin-core`). It depends on core, proto and certs, never on the daemon (`cargo tree -p gongxin-admin-cli`).

pub mod amend;
pub mod audit;
pub mod bundle;
pub mod catalogue;
pub mod check;
pub mod client;
pub mod files;
pub mod import;
pub mod log;
pub mod peer;
pub mod pki;
pub mod profile;
pub mod query;
pub mod record;
pub mod registry;
pub mod report;
pub mod status;
pub mod validate;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit codes (documented in README.md).
pub mod exit {
    /// Everything succeeded.
    pub const OK: i32 = 0;
    /// The command ran, but found problems (rejected rows, a failed verification).
    pub const PROBLEMS: i32 = 1;
    /// Usage error: bad arguments, unreadable input.
    pub const USAGE: i32 = 2;
    /// The node could not be reached or refused the request.
    pub const NODE: i32 = 3;
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq, Default)]
pub enum Output {
    #[default]
    Table,
    Json,
}

#[derive(Parser, Debug)]
#[command(name = "gongxin", version, about = "共信 Gongxin operator and auditor tool")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// One screen about the node: log, link and backlog, children, last audit, evidence, disk, warnings.
    Status(status::Args),
    /// Check a department export offline (no node needed).
    Validate(validate::Args),
    /// Validate, sign and append a department export on the local node.
    Import(import::Args),
    /// Sign and append a list entry, commitment or amendment given as JSON.
    #[command(subcommand)]
    Record(record::Command),
    /// Records held about one entity, with their state after amendments (--history: every step).
    Query(query::Args),
    /// The credit profile (信用档案) of one entity: licences, penalties, lists, commitments, feedback, with history.
    Profile(profile::Args),
    /// Amend a held record: 移出名单, 信用修复, 撤销, 撤回, 更正.
    Amend(amend::Args),
    /// The joint-punishment check (联合惩戒核查): is this entity under a measure today? Also feedback, report.
    Check(check::Args),
    /// The measure catalogue (联合奖惩措施清单): publish (province), show.
    #[command(subcommand)]
    Catalogue(catalogue::Command),
    /// Reports over what the node holds: publication (7-working-day compliance).
    #[command(subcommand)]
    Report(report::Command),
    /// The node's log: size, root, latest signed checkpoint.
    #[command(subcommand)]
    Log(log::Command),
    /// Write an evaluator bundle of the node's log (keys, checkpoints, leaves, payloads, OpenSSL guide).
    ExportBundle(bundle::ExportArgs),
    /// Check an evaluator bundle offline; exit 1 naming the first bad file.
    VerifyBundle(bundle::VerifyArgs),
    /// Federation registry on the province: add, suspend, revoke (staged), apply, show.
    #[command(subcommand)]
    Registry(registry::Command),
    /// Audit the sync chain (province; a city for its subtree): run, show.
    #[command(subcommand)]
    Audit(audit::Command),
    /// Links to the parent and children, with lag.
    #[command(subcommand)]
    Peer(peer::Command),
    /// Federation PKI: CA, node/operator/auditor certificates.
    #[command(subcommand)]
    Pki(pki::Command),
}

/// Runs the CLI with the process arguments and returns the exit code.
pub fn main_entry() -> i32 {
    quiet_broken_pipe();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            if !e.use_stderr() {
                // --help and --version.
                let _ = e.print();
                return exit::OK;
            }
            // clap's own text is English; the line above it says in Chinese what kind of mistake it is.
            eprintln!("错误 error: {}", usage_kind(e.kind()));
            let _ = e.print();
            return exit::USAGE;
        }
    };
    match cli.command {
        Command::Status(a) => status::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Import(a) => import::run(a),
        Command::Query(a) => query::run(a),
        Command::Amend(a) => amend::run(a),
        Command::Profile(a) => profile::run(a),
        Command::Check(a) => check::run(a),
        Command::Catalogue(c) => catalogue::run(c),
        Command::Report(c) => report::run(c),
        Command::Record(c) => record::run(c),
        Command::Log(c) => log::run(c),
        Command::ExportBundle(a) => bundle::export(a),
        Command::VerifyBundle(a) => bundle::verify(a),
        Command::Pki(c) => pki::run(c),
        Command::Registry(c) => registry::run(c),
        Command::Peer(c) => peer::run(c),
        Command::Audit(c) => audit::run(c),
    }
}

/// Output into a closed pipe (`gongxin peer list | head`) ends the process quietly, as for other Unix tools,
/// instead of a panic in `println!`: SIGPIPE gets its default action back (Rust starts with it ignored).
fn quiet_broken_pipe() {
    // SAFETY: resetting a signal's disposition to its default at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The Chinese name of a command-line mistake (clap's messages themselves are English only).
fn usage_kind(kind: clap::error::ErrorKind) -> &'static str {
    use clap::error::ErrorKind::*;
    match kind {
        InvalidValue | ValueValidation => "参数值无效 invalid value",
        UnknownArgument => "未知参数 unknown argument",
        InvalidSubcommand => "未知子命令 unknown subcommand",
        MissingRequiredArgument => "缺少必需参数 missing required argument",
        MissingSubcommand | DisplayHelpOnMissingArgumentOrSubcommand => "缺少子命令 missing subcommand",
        ArgumentConflict => "参数冲突 conflicting arguments",
        TooManyValues | TooFewValues | WrongNumberOfValues => "参数个数不对 wrong number of values",
        NoEquals => "参数需要用 = 给值 the argument needs a value with =",
        _ => "命令行有误 invalid command line",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent_and_usage_errors_are_named_in_chinese() {
        Cli::command().debug_assert();
        let e = Cli::try_parse_from(["gongxin", "peer", "lst"]).unwrap_err();
        assert_eq!(usage_kind(e.kind()), "未知子命令 unknown subcommand");
        let e = Cli::try_parse_from(["gongxin", "query", "--nope"]).unwrap_err();
        assert_eq!(usage_kind(e.kind()), "未知参数 unknown argument");
    }
}
