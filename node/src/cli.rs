//! Command line of the `gongxin-node` daemon binary: `init`, `run`, `config check`, `bench`.
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "gongxin-node", version, about = "共信 Gongxin node daemon")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Benchmarks (figures printed, nothing asserted).
    #[command(subcommand)]
    Bench(crate::bench::Command),
}

/// Runs the daemon CLI with the process arguments and returns the exit code.
pub fn main_entry() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let res = match cli.command {
        Command::Bench(c) => crate::bench::run(c),
    };
    match res {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            1
        }
    }
}
