//! The crate graph enforces the two boundaries of ARCHITECTURE.md: the core crate has no I/O dependency, and the
//! CLI does not link the daemon. Checked with `cargo tree` on the real workspace (dev-dependencies included for
//! the CLI, normal ones for the core).

use std::process::Command;

fn tree(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "--offline", "--prefix", "none", "--format", "{p}"])
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run cargo tree");
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn crates(t: &str) -> Vec<String> {
    t.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect()
}

#[test]
fn core_depends_on_no_io_crate() {
    let deps = crates(&tree(&["-p", "gongxin-core", "-e", "normal"]));
    assert!(deps.iter().any(|d| d == "sm2"), "cargo tree output looks wrong: {deps:?}");
    for banned in ["tokio", "tonic", "sled", "mio", "hyper", "gongxin-node", "socket2"] {
        assert!(!deps.iter().any(|d| d == banned), "gongxin-core depends on {banned}");
    }
}

#[test]
fn cli_does_not_link_the_daemon() {
    let deps = crates(&tree(&["-p", "gongxin-admin-cli"]));
    assert!(deps.iter().any(|d| d == "gongxin-core"), "cargo tree output looks wrong: {deps:?}");
    assert!(!deps.iter().any(|d| d == "gongxin-node"), "gongxin-admin-cli links the daemon crate gongxin-node");
}
