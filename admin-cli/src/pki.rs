//! `gongxin pki …`: federation CA and certificates (built on `gongxin-certs`).
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum Command {}

pub fn run(c: Command) -> i32 {
    match c {}
}
