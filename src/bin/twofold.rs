//! The `twofold` command.
//!
//! The approval service (`twofold serve`, src/serve/) is compiled into this binary only, not
//! into the library: the library is also the PAM module (pam_twofold.so), and the service's
//! async runtime, TLS and database must never be part of what sshd and sudo load.

#[path = "../serve/mod.rs"]
mod serve;

/// jemalloc keeps no headers next to allocations, so the untouched parts of each waiting
/// connection's 8 KiB buffers stay out of resident memory: with 10,000 waiting requests the
/// service holds 94 MB instead of 132 MB with glibc's allocator (scripts/bench-push).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    twofold::cli::main(serve::command)
}
