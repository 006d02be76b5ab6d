//! Shim so integration tests get `CARGO_BIN_EXE_gongxin`.
fn main() {
    std::process::exit(gongxin_admin_cli::main_entry());
}
