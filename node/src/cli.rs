//! Command line of the `gongxin-node` daemon binary: `init`, `run`, `config check`, `store`, `backup`,
//! `restore`, `bench`.
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
        /// Re-initialise a node whose disk or key was lost: it signs nothing until it has taken its own log back
        /// from its parent's mirror (the province first re-issues its key: `gongxin registry rekey`).
        /// 重建丢失的节点：从上级镜像取回本节点日志之前不签发新记录。
        #[arg(long)]
        recover: bool,
    },
    /// Serve a data dir until SIGINT/SIGTERM.
    Run {
        #[arg(long, env = "GONGXIN_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Whole-store export and import (the node must be stopped); see `backup`/`restore` for a full backup.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Back up a data dir into one tar archive (store, node.key, node.pub.pem, gongxin.toml, anchor and TLS
    /// files), also while the node runs: the running node writes a consistent export itself.
    Backup {
        #[arg(long, env = "GONGXIN_DATA_DIR")]
        data_dir: PathBuf,
        /// Archive to write (must not exist; written 0600).
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore an archive written by `backup` into an empty or absent data dir; refuses a store whose signed
    /// checkpoints do not verify with the archived node.key.
    Restore {
        /// Archive written by `gongxin-node backup`.
        #[arg(long)]
        from: PathBuf,
        #[arg(long, env = "GONGXIN_DATA_DIR")]
        data_dir: PathBuf,
    },
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
        /// Import even though the store's checkpoints were signed by another key than DATA_DIR/node.key
        /// (keys re-issued through the registry); without it such a store is refused.
        #[arg(long)]
        new_key: bool,
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
        Command::Init { code, data_dir, recover } => {
            crate::daemon::init(&code, &data_dir, recover).map(|m| println!("{m}"))
        }
        Command::Run { data_dir } => {
            if let Err(e) = crate::daemon::preflight(&data_dir) {
                eprintln!("错误 error: 配置无效 invalid config: {e:#}");
                return EXIT_CONFIG;
            }
            crate::daemon::run(&data_dir)
        }
        Command::Backup { data_dir, out } => crate::backup::backup(&data_dir, &out).map(|m| println!("{m}")),
        Command::Restore { from, data_dir } => crate::backup::restore(&from, &data_dir).map(|m| println!("{m}")),
        Command::Config(ConfigCommand::Check { data_dir }) => match crate::daemon::preflight(&data_dir) {
            Ok(c) => {
                println!("配置有效 config OK: node {} {} ({})", c.code, c.name, c.level);
                Ok(())
            }
            Err(e) => {
                eprintln!("错误 error: {e:#}");
                return EXIT_CONFIG;
            }
        },
        Command::Store(StoreCommand::Export { data_dir, out }) => crate::daemon::store_export(&data_dir, &out),
        Command::Store(StoreCommand::Import { data_dir, input, new_key }) => {
            crate::daemon::store_import(&data_dir, &input, new_key)
        }
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
