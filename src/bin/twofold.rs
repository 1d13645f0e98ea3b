//! The `twofold` command.
//!
//! The approval service (`twofold serve`, src/serve/) is compiled into this binary only, not
//! into the library: the library is also the PAM module (pam_twofold.so), and the service's
//! async runtime, TLS and database must never be part of what sshd and sudo load.

#[path = "../serve/mod.rs"]
mod serve;

fn main() -> std::process::ExitCode {
    twofold::cli::main(serve::command)
}
