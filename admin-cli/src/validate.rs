//! `gongxin validate --kind license|penalty FILE [-o json]`.
use clap::Args as ClapArgs;

#[derive(ClapArgs, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> i32 {
    eprintln!("validate: not built yet");
    crate::exit::USAGE
}
