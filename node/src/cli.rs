//! Command line of the `gongxin-node` daemon binary: `init`, `run`, `config check`, `bench`.
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "gongxin-node", version, about = "共信 Gongxin node daemon")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a node's data dir: SM2 key (0600), public key, annotated config.
    Init {
        /// The node's GB/T 2260 division code, e.g. 430102.
        #[arg(long)]
        code: String,
        #[arg(long, env = "GONGXIN_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Serve a data dir until SIGINT/SIGTERM.
    Run {
        #[arg(long, env = "GONGXIN_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Whole-store backup and restore (the node must be stopped).
    #[command(subcommand)]
    Store(StoreCommand),
    /// Benchmarks (figures printed, nothing asserted).
    #[command(subcommand)]
    #[cfg(feature = "bench")]
    Bench(crate::bench::Command),
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Parse and validate DATA_DIR/gongxin.toml; exit 78 if it is invalid.
    Check {
        #[arg(long, env = "GONGXIN_DATA_DIR")]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Write the whole store as a portable stream (backup; also the way out of sled one day).
    Export {
        #[arg(long, env = "GONGXIN_DATA_DIR")]
        data_dir: PathBuf,
        /// Output file (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Rebuild every derived view (natural-key and subject indexes, …) from the logs alone (the node must be
    /// stopped). Safe to repeat; use after restoring an old backup or when a view is suspected damaged.
    Reindex {
        #[arg(long, env = "GONGXIN_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Restore a stream written by `store export` into the (empty) store of a data dir.
    Import {
        #[arg(long, env = "GONGXIN_DATA_DIR")]
        data_dir: PathBuf,
        /// File written by `store export`.
        #[arg(long = "in")]
        input: PathBuf,
    },
}

/// Exit code for an invalid configuration (EX_CONFIG).
pub const EXIT_CONFIG: i32 = 78;

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
        Command::Init { code, data_dir } => crate::daemon::init(&code, &data_dir).map(|m| println!("{m}")),
        Command::Run { data_dir } => {
            if let Err(e) = crate::daemon::load_config(&data_dir) {
                eprintln!("错误 error: 配置无效 invalid config: {e:#}");
                return EXIT_CONFIG;
            }
            crate::daemon::run(&data_dir)
        }
        Command::Config(ConfigCommand::Check { data_dir }) => {
            match crate::daemon::load_config(&data_dir).and_then(|c| match &c.federation {
                Some(f) => crate::daemon::load_anchor_ca(f).map(|_| c),
                None => Ok(c),
            }) {
                Ok(c) => {
                    println!("配置有效 config OK: node {} {} ({})", c.code, c.name, c.level);
                    Ok(())
                }
                Err(e) => {
                    eprintln!("错误 error: {e:#}");
                    return EXIT_CONFIG;
                }
            }
        }
        Command::Store(StoreCommand::Export { data_dir, out }) => crate::daemon::store_export(&data_dir, &out),
        Command::Store(StoreCommand::Import { data_dir, input }) => crate::daemon::store_import(&data_dir, &input),
        Command::Store(StoreCommand::Reindex { data_dir }) => crate::daemon::store_reindex(&data_dir),
        #[cfg(feature = "bench")]
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
