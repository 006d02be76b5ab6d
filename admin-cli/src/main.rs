fn main() {
    std::process::exit(gongxin_admin_cli::main_entry());
}
