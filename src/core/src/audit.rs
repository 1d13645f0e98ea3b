//! The audit log: one key=value line per decision, to syslog (authpriv) or a file.
//! Never a secret, a code or a typed answer.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;

/// Syslog severity of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

/// LOG_AUTHPRIV, the facility for security messages that only root may read.
const AUTHPRIV: u8 = 10;

/// Where audit lines go.
#[derive(Debug, Clone)]
pub enum AuditSink {
    /// The system log (`/dev/log`), facility authpriv.
    Syslog,
    /// Appended to a file (created 0600).
    File(std::path::PathBuf),
    /// Discarded (unit tests).
    Null,
}

impl AuditSink {
    /// From the configuration's `audit_log` value.
    pub fn from_config(value: &str) -> Self {
        if value == "syslog" {
            AuditSink::Syslog
        } else {
            AuditSink::File(value.into())
        }
    }

    /// Writes one line; failure to log must not change the decision. A file that cannot be
    /// opened or written sends the line to syslog instead — never to stderr, which for sudo
    /// and su is the user's terminal.
    pub fn write(&self, severity: Severity, line: &str) {
        let result = match self {
            AuditSink::Syslog => to_syslog(severity, line),
            AuditSink::File(path) => std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(path)
                // One write(2) per line: with O_APPEND the line cannot interleave with another
                // process's (`writeln!` would issue the text and the newline separately).
                .and_then(|mut f| {
                    let mut text = String::with_capacity(line.len() + 1);
                    text.push_str(line);
                    text.push('\n');
                    f.write_all(text.as_bytes())
                }),
            AuditSink::Null => Ok(()),
        };
        if let (Err(e), AuditSink::File(path)) = (&result, self) {
            let note = Line::new("audit_log_unusable")
                .kv("path", &path.display().to_string())
                .kv("error", &e.to_string())
                .finish();
            let _ = to_syslog(Severity::Error, &note);
            let _ = to_syslog(severity, line);
        }
    }
}

/// One datagram to `/dev/log` (system calls through rustix: the module binds no socket
/// functions at load for it).
fn to_syslog(severity: Severity, line: &str) -> std::io::Result<()> {
    use rustix::net::{AddressFamily, SendFlags, SocketAddrUnix, SocketFlags, SocketType};
    let socket = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let priority = AUTHPRIV * 8 + severity as u8;
    let pid = rustix::process::getpid().as_raw_nonzero();
    let message = format!("<{priority}>twofold[{pid}]: {line}");
    let log = SocketAddrUnix::new("/dev/log")?;
    rustix::net::sendto(&socket, message.as_bytes(), SendFlags::empty(), &log)?;
    Ok(())
}

/// Builds a `key=value key=value` line; values with spaces, quotes or control characters are
/// quoted and escaped so one event is always one parseable line.
#[derive(Default)]
pub struct Line(String);

impl Line {
    /// Starts a line with the event name.
    pub fn new(event: &str) -> Self {
        let mut l = Line(String::with_capacity(160));
        l.0.push_str(event);
        l
    }

    /// Adds `key=value`.
    pub fn kv(mut self, key: &str, value: &str) -> Self {
        self.0.push(' ');
        self.0.push_str(key);
        self.0.push('=');
        quote_into(&mut self.0, value);
        self
    }

    /// The finished line.
    pub fn finish(self) -> String {
        self.0
    }
}

/// Appends `value`, quoted and escaped unless it is plain.
fn quote_into(out: &mut String, value: &str) {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' && c != '=');
    if plain {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_single_and_parseable() {
        let l = Line::new("auth")
            .kv("user", "alice")
            .kv("rhost", "")
            .kv("reason", "bad \"x\"\nnext")
            .finish();
        assert_eq!(
            l,
            "auth user=alice rhost=\"\" reason=\"bad \\\"x\\\"\\x0anext\""
        );
        assert!(!l.contains('\n'));
    }
}
