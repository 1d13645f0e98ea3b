//! Talking to the administrator or user at the terminal.
#![forbid(unsafe_code)]

use std::io::{BufRead, IsTerminal, Write};

/// Whether standard input is a terminal (interactive use) rather than a pipe (scripts, CI).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// Prints `prompt` (to stderr, so stdout stays clean for --json) and reads one line.
pub fn ask(prompt: &str) -> Option<String> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    match std::io::stdin().lock().take_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim().to_string()),
    }
}

trait TakeLine {
    fn take_line(&mut self, buf: &mut String) -> std::io::Result<usize>;
}

impl<R: BufRead> TakeLine for R {
    /// Reads one line, at most 4 KiB, so a runaway pipe cannot exhaust memory.
    fn take_line(&mut self, buf: &mut String) -> std::io::Result<usize> {
        let mut limited = std::io::Read::take(self, 4096);
        limited.read_line(buf)
    }
}

pub use twofold_core::signin::enrollment::grouped;
