//! The command gateway: `[sms.command] argv`, run without a shell, `{phone}` filled in, the
//! message on stdin, killed after `[sms] timeout_seconds`, exit status 0 meaning "sent".
//! Covers gammu-smsd-inject, ModemManager's mmcli wrapped in a script, a provider's CLI.
#![forbid(unsafe_code)]

use super::{CommandGateway, Text};
use std::time::Duration;

pub(super) fn send(
    gateway: &CommandGateway,
    phone: &str,
    text: &Text<'_>,
    timeout: Duration,
) -> Result<(), String> {
    let Some((program, args)) = gateway.argv.split_first() else {
        return Err("[sms.command] argv is empty".into());
    };
    let args: Vec<String> = args
        .iter()
        .map(|a| super::fill(a, &[("phone", phone)], &|v| v.to_string()))
        .collect();
    let mut input = text.message.expose().as_bytes().to_vec();
    input.push(b'\n');
    let result = crate::child::run(program, &args, &input, timeout);
    zeroize::Zeroize::zeroize(&mut input);
    result
}
