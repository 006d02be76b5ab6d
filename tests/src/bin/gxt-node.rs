//! Shim so integration tests get `CARGO_BIN_EXE_gongxin-node` (see FACTS.md).
fn main() {
    std::process::exit(gongxin_node::cli::main_entry());
}
