//! Delivering text-message codes: the number (phone.rs), the `[sms]` section (config.rs) and
//! the two gateways an administrator may configure, a program (command.rs) or an HTTP request
//! (http.rs). Blocking, no async runtime: this runs inside sshd and sudo. The code itself
//! (making, hashing, checking) is `crate::factor::sms`.
#![forbid(unsafe_code)]

mod command;
pub mod config;
pub mod deliver;
pub mod http;
pub mod phone;
mod secret_file;

pub use config::{BodyFormat, CommandGateway, GatewayKind, HttpGateway, PhoneFormat, SmsConfig};
pub use phone::{PhoneError, PhoneNumber};

use crate::secret::SecretString;
use std::time::Duration;

/// Why a text was not sent, in words for the audit log: never the code or the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("no [sms] gateway configured")]
    NotConfigured,
    #[error("{0}")]
    Failed(String),
}

/// What goes out: the number, the code and the whole message holding it.
pub struct Text<'a> {
    pub phone: &'a PhoneNumber,
    pub code: &'a SecretString,
    pub message: &'a SecretString,
}

/// Sends `text` through the configured gateway, within `[sms] timeout_seconds`.
pub fn send(config: &SmsConfig, text: &Text<'_>) -> Result<(), SendError> {
    let timeout = Duration::from_secs(config.timeout_seconds);
    let phone = text.phone.formatted(config.phone_format);
    let sent = match config.gateway {
        None => return Err(SendError::NotConfigured),
        Some(GatewayKind::Command) => command::send(&config.command, &phone, text, timeout),
        Some(GatewayKind::Http) => http::send(&config.http, &phone, text, timeout),
    };
    sent.map_err(SendError::Failed)
}

/// What `twofold check-config` reports about the gateway's files: a program that is not
/// there, or a secret file that is missing or readable by others (the sign-in would refuse it).
pub fn file_problems(config: &SmsConfig) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    match config.gateway {
        None => {}
        Some(GatewayKind::Command) => {
            if let Some(program) = config.command.argv.first()
                && !std::path::Path::new(program).is_file()
            {
                problems.push(("sms.command.argv", format!("{program}: no such program")));
            }
        }
        Some(GatewayKind::Http) => {
            let http = &config.http;
            for file in http.secret_headers.values() {
                if let Err(e) = secret_file::read(file) {
                    problems.push(("sms.http.secret_headers", e));
                }
            }
            if let Some(file) = &http.basic_password_file
                && let Err(e) = secret_file::read(file)
            {
                problems.push(("sms.http.basic_password_file", e));
            }
        }
    }
    problems
}

/// Fills `{name}` placeholders in one pass (a value holding "{code}" is not filled again);
/// `escape` prepares each value for where it goes.
pub(crate) fn fill(
    template: &str,
    values: &[(&str, &str)],
    escape: &dyn Fn(&str) -> String,
) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    'outer: while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        for (name, value) in values {
            let placeholder = format!("{{{name}}}");
            if after.starts_with(&placeholder) {
                out.push_str(&escape(value));
                rest = &after[placeholder.len()..];
                continue 'outer;
            }
        }
        out.push('{');
        rest = &after[1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_once() {
        let values = [
            ("phone", "+31612345678"),
            ("message", "code {code}"),
            ("code", "123456"),
        ];
        let same = |v: &str| v.to_string();
        assert_eq!(
            fill("{phone}: {message} {x} {", &values, &same),
            "+31612345678: code {code} {x} {"
        );
        assert_eq!(fill("{code}{code}", &values, &same), "123456123456");
    }
}
