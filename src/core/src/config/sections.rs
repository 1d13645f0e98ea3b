//! The sections of `/etc/twofold/twofold.toml` other than `[push]` and `[serve]`, with their defaults.
#![forbid(unsafe_code)]

use serde::Deserialize;

/// `[enrollment]`: users who have no record yet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrollmentConfig {
    /// `"refuse"` (default), `"allow"` (through without a second factor) or `"enroll"` (set up
    /// inside the sign-in).
    pub unenrolled: Unenrolled,
    /// Last day (UTC, `YYYY-MM-DD`) on which `allow`/`enroll` apply; afterwards such users are refused.
    pub deadline: Option<String>,
    /// How the QR code is drawn inside the sign-in: `"auto"` (the default: `"ansi"` at a local
    /// terminal, `"utf8"` over SSH, whose client shows escape sequences in prompts as text),
    /// `"utf8"` (plain half blocks for dark backgrounds; the user can type L to redraw it for a
    /// light one), `"light"` (the same for light backgrounds; D redraws it for dark ones) or
    /// `"ansi"` (explicit colours that scan on any background, for consoles only).
    pub qr: String,
    /// Ask "Language / Taal: [en] nl" before the QR code and keep the answer in the user's
    /// record. Off by default: the configuration's `language` applies, with one prompt less.
    pub ask_language: bool,
    /// First-sign-in enrollment needs a temporary access pass (`twofold pass USER`), so a
    /// stolen password alone cannot enroll a new phone.
    pub require_pass: bool,
}

/// `[alerts]`: how the administrator is told about a sign-in reported as "not me".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// An argv template, run without a shell: `["/usr/local/bin/page-admin", "{user}", "{host}"]`;
    /// `{event}`, `{user}`, `{host}`, `{service}`, `{rhost}`, `{time}` are filled in, and the
    /// same as key=value lines arrive on stdin. Empty: no alert (the audit line only).
    pub command: Vec<String>,
    /// Killed after this long (seconds); the sign-in waits for it.
    pub timeout_seconds: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            command: Vec::new(),
            timeout_seconds: 5,
        }
    }
}

/// See [`EnrollmentConfig::unenrolled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Unenrolled {
    #[default]
    Refuse,
    Allow,
    Enroll,
}

/// `[policy]`: group-based requirement; module arguments may override per service.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// If not empty, only members of these groups need the second factor.
    pub require_groups: Vec<String>,
    /// Members of these groups never need it (wins over `require_groups`).
    pub exempt_groups: Vec<String>,
}

/// `[remember]`: after a success, skip the second factor for the same user, service and
/// remote address for a while. Off by default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RememberConfig {
    /// Seconds to remember a success; 0 turns it off.
    pub seconds: u64,
    /// Also remember for local services without a remote address (sudo, su, login).
    pub local: bool,
}

/// `[totp]`: parameters given to new enrollments (existing records keep theirs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TotpConfig {
    pub algorithm: String,
    pub digits: u8,
    pub period: u32,
    /// Steps accepted either side of the current one (clock skew between host and phone).
    pub skew: u8,
}

/// `[rate_limit]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Consecutive failures after which the second factor is locked.
    pub max_failures: u32,
    /// How long a lockout lasts (seconds); `twofold unlock USER` ends it early.
    pub lockout_seconds: u64,
    /// Delay libpam adds after a failure, per consecutive failure (milliseconds, capped at 10 failures).
    pub failure_delay_ms: u64,
}

/// `[recovery]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecoveryConfig {
    /// Codes generated at enrollment and by `twofold recovery-codes`.
    pub count: usize,
}

/// See [`Config::on_state_write_error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteErrorPolicy {
    /// Refuse the sign-in (replay protection could not be recorded). Default.
    Deny,
    /// Let a correct code through anyway, logged at error level.
    Allow,
}

impl Default for EnrollmentConfig {
    fn default() -> Self {
        EnrollmentConfig {
            unenrolled: Unenrolled::Refuse,
            deadline: None,
            qr: "auto".into(),
            ask_language: false,
            require_pass: false,
        }
    }
}

impl Default for TotpConfig {
    fn default() -> Self {
        TotpConfig {
            algorithm: "SHA1".into(),
            digits: 6,
            period: 30,
            skew: 1,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            max_failures: 5,
            lockout_seconds: 900,
            failure_delay_ms: 2000,
        }
    }
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig { count: 10 }
    }
}
