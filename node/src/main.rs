fn main() {
    std::process::exit(gongxin_node::cli::main_entry());
}
