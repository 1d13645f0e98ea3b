//! `twofold import-google-authenticator` against files that are not what they seem: a FIFO
//! (would block for ever), a file others can read, and wide or capped WINDOW_SIZE values.

mod cli_support;

use cli_support::*;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

fn ga_file(window: Option<u32>) -> String {
    let mut text = format!("{SECRET}\n\" RATE_LIMIT 3 30\n\" TOTP_AUTH\n\" DISALLOW_REUSE\n");
    if let Some(n) = window {
        text.push_str(&format!("\" WINDOW_SIZE {n}\n"));
    }
    text.push_str("12345678\n");
    text
}

#[test]
fn import_of_a_fifo_is_refused_at_once() {
    let env = Env::new();
    let fifo = env.path().join("google_authenticator");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let start = Instant::now();
    let out = env.run(&["import-google-authenticator", "una", fifo.to_str().unwrap()]);
    assert!(start.elapsed() < Duration::from_secs(5), "it did not block");
    out.expect_code(1);
    assert!(out.stderr.contains("not a regular file"), "{}", out.stderr);
    env.run(&["status", "una"]).expect_code(3);
}

#[test]
fn import_of_a_file_others_can_read_needs_force() {
    let env = Env::new();
    let file = env.path().join("google_authenticator");
    std::fs::write(&file, ga_file(None)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let path = file.to_str().unwrap();
    let out = env.run(&["import-google-authenticator", "vic", path]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("mode 0644") && out.stderr.contains("--force"),
        "{}",
        out.stderr
    );
    env.run(&["status", "vic"]).expect_code(3);
    let out = env.run(&["import-google-authenticator", "vic", path, "--force"]);
    out.expect_code(0);
    assert!(out.stderr.contains("Warning:"), "{}", out.stderr);
    env.run(&["status", "vic"]).expect_code(0);
}

#[test]
fn import_maps_window_size_to_skew_and_says_so() {
    for (window, skew, line) in [
        (
            Some(17),
            8,
            "WINDOW_SIZE 17 (17 codes accepted): accepted skew ±8 steps (±240 s) around the current code",
        ),
        (
            Some(4),
            1,
            "WINDOW_SIZE 4 (4 codes accepted): accepted skew ±1 step (±30 s) around the current code",
        ),
        (
            Some(1),
            0,
            "WINDOW_SIZE 1 (1 code accepted): accepted skew ±0 steps (±0 s) around the current code",
        ),
        (
            Some(31),
            10,
            "WINDOW_SIZE 31 (31 codes accepted): accepted skew ±10 steps (±300 s), capped from ±15 at twofold's maximum of 10",
        ),
        (
            None,
            1,
            "no WINDOW_SIZE (google-authenticator's default of 3 codes): accepted skew ±1 step (±30 s) around the current code",
        ),
    ] {
        let env = Env::new();
        let file = env.path().join("google_authenticator");
        write_private(&file, &ga_file(window));
        let out = env.run(&["import-google-authenticator", "wes", file.to_str().unwrap()]);
        out.expect_code(0);
        assert!(out.stdout.contains(line), "{window:?}: {}", out.stdout);
        let record = std::fs::read_to_string(env.record_path("wes")).unwrap();
        assert!(record.contains(&format!("skew = {skew}\n")), "{record}");
    }
}
