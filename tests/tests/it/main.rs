//! The one integration-test binary of `gongxin-tests`: every area is a module here, so the testkit and the
//! dependencies are linked once. Add a test to a module (or a new module below), not a new file in `tests/`:
//! `only_one_test_binary` fails if a second test target appears.
//!
//! Run one area with a filter, e.g. `cargo test -p gongxin-tests --test it federation::`.

mod audit;
mod boundaries;
mod bundle_federation;
mod credit;
mod deploy_scripts;
mod federation;
mod federation_security;
mod full_disk;
mod hostile_peers;
mod hostile_suite;
mod import;
mod operations;
mod operator_cli;
mod operator_web;
mod ops;
mod query;
mod recovery;
mod single_node;
mod tls_profile;
mod web;

/// Cargo turns every `tests/*.rs` and `tests/*/main.rs` into its own binary; this package has exactly one.
#[test]
fn only_one_test_binary() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut targets: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs") || p.join("main.rs").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    targets.sort();
    assert_eq!(targets, ["it"], "test targets in {}: move new tests into a module of tests/it", dir.display());
}
