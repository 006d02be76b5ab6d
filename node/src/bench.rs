//! `gongxin-node bench …`: benchmark figures measured in one run next to their baselines.
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum Command {}

pub fn run(c: Command) -> anyhow::Result<()> {
    match c {}
}
