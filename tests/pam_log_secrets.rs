//! What a malformed file or an unusable audit log must never put into a log line or onto the
//! user's terminal. Through real libpam.

mod common;

use common::*;
use std::fs;
use std::os::fd::AsRawFd;

#[test]
fn malformed_record_never_puts_the_key_into_the_log() {
    let host = Host::new();
    let ray = host.enroll("ray");
    let secret = ray.secret();
    let text = fs::read_to_string(host.record_path("ray")).unwrap();
    assert!(text.contains(&secret));
    // An unterminated string on the key's line: the TOML parser's message quotes that line.
    for broken in [
        text.replace(&format!("\"{secret}\""), &format!("\"{secret}")),
        text.replace(&format!("\"{secret}\""), &secret),
        text.replacen("digits = 6", &format!("digits = \"{secret}\""), 1),
    ] {
        fs::write(host.record_path("ray"), &broken).unwrap();
        let (outcome, _) = host.sign_in("ray", &[&code_now(&ray.params)]);
        assert_eq!(outcome.name, "PAM_AUTHINFO_UNAVAIL");
        let d = host.last_decision();
        d.assert_decision("ray", "error", "bad_record");
        assert!(d.get("detail").contains("line "), "{}", d.raw);
        assert!(!d.raw.contains(&secret[..8]), "{}", d.raw);
    }
    host.assert_log_holds_none_of(&[secret]);
}

#[test]
fn malformed_state_file_content_never_reaches_the_log() {
    let host = Host::new();
    let sal = host.enroll("sal");
    let marker = "do-not-log-this-content";
    let junk = format!("last_step = \"{}\n", marker.repeat(2500));
    assert!(junk.len() > 50_000 && junk.len() < 64 * 1024);
    fs::write(host.state_path("sal"), &junk).unwrap();
    let (outcome, _) = host.sign_in("sal", &[&code_now(&sal.params)]);
    assert_eq!(outcome.name, "PAM_AUTHINFO_UNAVAIL");
    let d = host.last_decision();
    d.assert_decision("sal", "error", "bad_state");
    assert!(!d.raw.contains(marker), "{}", d.raw);
    assert!(d.raw.len() < 600, "{} bytes: {}", d.raw.len(), d.raw);
}

/// Points fd 2 at a file while `f` runs; returns what was written there.
fn stderr_of<T>(f: impl FnOnce() -> T) -> (T, String) {
    let file = tempfile::tempfile().unwrap();
    // SAFETY: plain descriptor calls; fd 2 is saved and restored around `f`.
    let saved = unsafe { libc::dup(2) };
    assert!(saved >= 0);
    // SAFETY: as above.
    assert!(unsafe { libc::dup2(file.as_raw_fd(), 2) } == 2);
    let out = f();
    // SAFETY: as above.
    unsafe {
        libc::dup2(saved, 2);
        libc::close(saved);
    }
    let mut file = file;
    use std::io::{Read, Seek};
    file.rewind().unwrap();
    let mut text = String::new();
    file.read_to_string(&mut text).unwrap();
    (out, text)
}

#[test]
fn unusable_audit_file_falls_back_to_syslog_never_to_stderr() {
    const TEST: &str = "unusable_audit_file_falls_back_to_syslog_never_to_stderr";
    if !is_root() {
        return skip(TEST, "needs root to capture syslog in a private /dev");
    }
    let host = Host::new();
    let tom = host.enroll("tom");
    // A directory where the audit file should be: it cannot be opened for appending.
    fs::create_dir(&host.audit_path).unwrap();
    let captured =
        capture_syslog(|| stderr_of(|| host.sign_in("tom", &[&wrong_code(&tom.params)]).0.name));
    let ((name, stderr), messages) = match captured {
        Ok(result) => result,
        Err(why) => return skip(TEST, &why),
    };
    assert_eq!(name, "PAM_AUTH_ERR");
    assert!(
        !stderr.contains("user=tom"),
        "the line went to stderr: {stderr}"
    );
    let lines = syslog_audit_lines(&messages);
    let texts: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert!(
        texts.iter().any(|l| l.starts_with("audit_log_unusable ")),
        "{texts:?}"
    );
    let auth = texts
        .iter()
        .find(|l| l.starts_with("auth "))
        .map(|l| Entry::parse(l))
        .unwrap_or_else(|| panic!("no auth line in syslog: {texts:?}"));
    auth.assert_decision("tom", "failure", "wrong_code");
}
