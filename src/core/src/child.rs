//! Running an administrator's program without a shell: a clean environment, input on stdin,
//! killed at a deadline, its exit status checked. Used by alerts and the text-message gateway.
#![forbid(unsafe_code)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `program` with `args`, writes `input` to its stdin and waits at most `timeout`.
/// The error says what went wrong in words fit for a log line (never `input`).
pub fn run(program: &str, args: &[String], input: &[u8], timeout: Duration) -> Result<(), String> {
    match crate::outside::get() {
        Some(outside) => (outside.run)(program, args, input, timeout),
        None => Err(format!(
            "cannot run {program}: no way out of this process is installed"
        )),
    }
}

/// [`run`] with `std::process`: the way [`crate::outside::SYSTEM`] installs.
pub(crate) fn spawn_and_wait(
    program: &str,
    args: &[String],
    input: &[u8],
    timeout: Duration,
) -> Result<(), String> {
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A program that does not read its stdin is not an error.
        let _ = stdin.write_all(input);
    }
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("{program} exited with {status}")),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{program} killed after {} s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for {program}: {e}")),
        }
    }
}
