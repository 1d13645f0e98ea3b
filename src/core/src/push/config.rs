//! `[push]` in `/etc/twofold/twofold.toml`: where the approval service is, how long a sign-in
//! waits, and what happens when the service cannot be reached.
#![forbid(unsafe_code)]

use crate::push::endpoint::Endpoint;
use serde::Deserialize;
use std::path::PathBuf;

/// Where the host token is kept unless `host_token_file` says otherwise.
pub const DEFAULT_TOKEN_FILE: &str = "/etc/twofold/host-token";

/// `[push]`. Push approval is on when `url` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// The service as this host reaches it; https:// unless on loopback.
    pub url: Option<String>,
    /// This machine's name as the phone shows it (default: the kernel's host name).
    pub host_name: Option<String>,
    /// The host token (root-owned, 0600).
    pub host_token_file: PathBuf,
    /// Trust only this CA bundle for https:// (default: the system's bundle).
    pub ca_file: Option<PathBuf>,
    /// How long a sign-in waits for the phone.
    pub timeout_seconds: u64,
    /// How long connecting to the service may take; an answer may take as long again.
    pub connect_timeout_ms: u64,
    /// What a sign-in does when the service cannot be reached.
    pub fail_mode: FailMode,
    /// No push for this long after a denial or a timeout (codes still work).
    pub backoff_seconds: u64,
    /// Push suspended for this long after "not me" (codes still work).
    pub report_suspend_seconds: u64,
    /// How the sign-in waits: prompt (SSH), wait (console), auto.
    pub mode: PushMode,
    /// The phone page's base URL as phones reach it (default: `url`).
    pub page_url: Option<String>,
}

/// See [`PushConfig::fail_mode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// Ask for a code from the app instead (default).
    #[default]
    Code,
    /// Refuse the sign-in.
    Deny,
    /// Let the sign-in through without a second factor, logged at error level.
    Allow,
}

/// See [`PushConfig::mode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PushMode {
    /// `prompt` when there is a remote host or the service is sshd, `wait` otherwise.
    #[default]
    Auto,
    /// The number goes into the prompt; Enter after approving, or type a code.
    Prompt,
    /// The number is shown, and the sign-in waits for the phone.
    Wait,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            url: None,
            host_name: None,
            host_token_file: PathBuf::from(DEFAULT_TOKEN_FILE),
            ca_file: None,
            timeout_seconds: 60,
            connect_timeout_ms: 2000,
            fail_mode: FailMode::Code,
            backoff_seconds: 30,
            // A report means someone else has the password: a day of codes only, unless an
            // administrator resumes push sooner (`twofold unlock`).
            report_suspend_seconds: 86_400,
            mode: PushMode::Auto,
            page_url: None,
        }
    }
}

/// A service URL: https:// unless the host is loopback.
pub fn check_url(url: &str) -> Result<Endpoint, String> {
    let endpoint = Endpoint::parse(url)?;
    if !endpoint.tls && !endpoint.is_loopback() {
        return Err("must be https:// unless the host is 127.0.0.1, ::1 or localhost".into());
    }
    Ok(endpoint)
}

impl PushConfig {
    /// Semantic checks, as (key, reason).
    pub fn problems(&self, p: &mut Vec<(&'static str, String)>) {
        if let Some(url) = &self.url
            && let Err(e) = check_url(url)
        {
            p.push(("push.url", e));
        }
        if let Some(url) = &self.page_url
            && let Err(e) = check_url(url)
        {
            p.push(("push.page_url", e));
        }
        if let Some(name) = &self.host_name
            && !host_name_ok(name)
        {
            p.push((
                "push.host_name",
                "must be 1-253 printable characters".into(),
            ));
        }
        if !self.host_token_file.is_absolute() {
            p.push(("push.host_token_file", "must be an absolute path".into()));
        }
        if self.ca_file.as_ref().is_some_and(|f| !f.is_absolute()) {
            p.push(("push.ca_file", "must be an absolute path".into()));
        }
        if !(2..=crate::push::protocol::MAX_CHALLENGE_SECONDS).contains(&self.timeout_seconds) {
            p.push(("push.timeout_seconds", "must be 2..=300".into()));
        }
        if !(50..=30_000).contains(&self.connect_timeout_ms) {
            p.push(("push.connect_timeout_ms", "must be 50..=30000".into()));
        }
        if self.backoff_seconds > 86_400 {
            p.push((
                "push.backoff_seconds",
                "must be at most 86400 (a day)".into(),
            ));
        }
        if self.report_suspend_seconds > 30 * 86_400 {
            p.push((
                "push.report_suspend_seconds",
                "must be at most 2592000 (30 days)".into(),
            ));
        }
    }

    /// Whether push approval is configured at all.
    pub fn enabled(&self) -> bool {
        self.url.is_some()
    }

    /// This host's name as challenges carry it.
    pub fn host_name(&self) -> String {
        if let Some(name) = &self.host_name {
            return name.clone();
        }
        let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let kernel = kernel.trim();
        if host_name_ok(kernel) {
            kernel.to_string()
        } else {
            "localhost".into()
        }
    }

    /// The phone page's base URL, without a trailing `/`.
    pub fn page_url(&self) -> String {
        let url = self.page_url.as_ref().or(self.url.as_ref());
        url.map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_default()
    }
}

fn host_name_ok(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.chars().all(|c| !c.is_control())
}
