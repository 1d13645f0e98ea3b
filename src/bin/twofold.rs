//! The `twofold` command.
fn main() -> std::process::ExitCode {
    twofold::cli::main()
}
