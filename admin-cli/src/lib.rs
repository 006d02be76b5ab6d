//! `gongxin`: the operator and auditor tool. It talks to a node only through the node's admin API (a gRPC
//! Unix socket in the data dir); `validate` and `verify-bundle` work offline and reuse the node's own code.

pub mod pki;
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
    /// Check a department export offline (no node needed).
    Validate(validate::Args),
    /// Federation PKI: CA, node/operator/auditor certificates.
    #[command(subcommand)]
    Pki(pki::Command),
}

/// Runs the CLI with the process arguments and returns the exit code.
pub fn main_entry() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Pki(c) => pki::run(c),
    }
}
