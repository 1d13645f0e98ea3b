//! `/etc/twofold/twofold.toml`: every key, its default, and validation that names file, key and reason.
#![forbid(unsafe_code)]

use crate::factor::totp::Algorithm;
use crate::store::file::{Dir, Policy};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

mod errors;
mod sections;
mod serve;
pub use crate::fleet::config::{DEFAULT_KEY_FILE, FleetConfig, Offline};
pub use crate::push::config::{DEFAULT_TOKEN_FILE, FailMode, PushConfig, PushMode, check_url};
pub use crate::sms::SmsConfig;
pub use sections::{
    AlertsConfig, EnrollmentConfig, PolicyConfig, RateLimitConfig, RecoveryConfig, RememberConfig,
    TotpConfig, Unenrolled, WriteErrorPolicy,
};
pub use serve::{
    Database, PROTOCOL_MAX_CHALLENGE_SECONDS, ServeConfig, authority_host, is_loopback_host,
    parse_network,
};

/// Where the configuration is read from unless `config=` / `--config` say otherwise.
pub const DEFAULT_PATH: &str = "/etc/twofold/twofold.toml";

/// The whole configuration. Every field has a default, so an absent file means "defaults".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory holding `users/` and `state/` (root-owned, 0700).
    pub state_dir: PathBuf,
    /// Name shown in authenticator apps next to the account.
    pub issuer: String,
    /// The language of prompts and messages for users whose record names none ("en", "nl":
    /// a catalogue in src/core/locales/).
    pub language: String,
    /// `"syslog"` (authpriv) or an absolute path of a file to append audit lines to.
    pub audit_log: String,
    /// What a sign-in does when a correct code was given but the state (replay protection,
    /// counters) cannot be saved, e.g. a full or read-only disk: `"deny"` or `"allow"`.
    pub on_state_write_error: WriteErrorPolicy,
    /// Parameters for newly enrolled users and the accepted clock skew.
    pub totp: TotpConfig,
    /// Failure counting and lockout.
    pub rate_limit: RateLimitConfig,
    /// Recovery codes.
    pub recovery: RecoveryConfig,
    /// What happens to users without a record.
    pub enrollment: EnrollmentConfig,
    /// Who needs the second factor.
    pub policy: PolicyConfig,
    /// Skipping the second factor for a while after a success.
    pub remember: RememberConfig,
    /// Push approval (`[push]`).
    pub push: PushConfig,
    /// Telling the administrator about reports (`[alerts]`).
    pub alerts: AlertsConfig,
    /// Text-message codes (`[sms]`).
    pub sms: SmsConfig,
    /// Fleet mode (`[fleet]`): records kept by the service, sealed with the fleet key.
    pub fleet: FleetConfig,
    /// `[serve]`, the approval service's section, kept unparsed: the module ignores it (a typo
    /// there must not stop sign-ins); `twofold serve` and `check-config` read it with
    /// [`Config::serve_config`].
    pub serve: toml::Table,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            state_dir: PathBuf::from("/var/lib/twofold"),
            issuer: "twofold".into(),
            language: crate::messages::FALLBACK.into(),
            audit_log: "syslog".into(),
            on_state_write_error: WriteErrorPolicy::Deny,
            totp: TotpConfig::default(),
            rate_limit: RateLimitConfig::default(),
            recovery: RecoveryConfig::default(),
            enrollment: EnrollmentConfig::default(),
            policy: PolicyConfig::default(),
            remember: RememberConfig::default(),
            push: PushConfig::default(),
            alerts: AlertsConfig::default(),
            sms: SmsConfig::default(),
            fleet: FleetConfig::default(),
            serve: toml::Table::new(),
        }
    }
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// `line N` or the key's dotted name; empty for whole-file problems.
    pub at: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.reason)
        } else {
            write!(f, "{}: {}: {}", self.file.display(), self.at, self.reason)
        }
    }
}

impl Config {
    /// Whether a sign-in under this configuration may need a way out of the process
    /// ([`crate::outside`], for the module `pam_twofold_outside.so`): push approval, a fleet's
    /// service, a text-message gateway or an alert command. Without any of them, app and
    /// recovery codes need only files.
    pub fn reaches_outside(&self) -> bool {
        self.push.enabled()
            || self.fleet.enabled()
            || self.sms.enabled()
            || !self.alerts.command.is_empty()
    }

    /// Reads and validates the file. A missing file at the default path means defaults;
    /// a missing file named explicitly is an error.
    pub fn load(path: &Path, explicit: bool) -> Result<Config, Vec<ConfigError>> {
        Config::load_with_policy(path, explicit, Policy::config())
    }

    /// Like [`Config::load`], with the owner and mode rules given (the service, which runs as
    /// its own user, reads a root-owned file).
    pub fn load_with_policy(
        path: &Path,
        explicit: bool,
        policy: Policy,
    ) -> Result<Config, Vec<ConfigError>> {
        let err = |at: &str, reason: String| {
            vec![ConfigError {
                file: path.into(),
                at: at.into(),
                reason,
            }]
        };
        let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str()))
        else {
            return Err(err("", "not a file path".into()));
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let bytes = match Dir::open(dir, policy).and_then(|d| d.read(name)) {
            Ok(Some(bytes)) => bytes,
            Ok(None) if !explicit => return Ok(Config::default()),
            Ok(None) => return Err(err("", "no such file".into())),
            Err(e) if e.is_not_found() && !explicit => return Ok(Config::default()),
            Err(e) => {
                // The file's own path is already in front of the message.
                let text = e.to_string();
                let own = format!("{}: ", path.display());
                return Err(err(
                    "",
                    text.strip_prefix(&own).unwrap_or(&text).to_string(),
                ));
            }
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| err("", "not UTF-8 text".into()))?;
        Config::parse(text, path)
    }

    /// Parses and validates configuration text; `file` is used in messages. Every mistake is
    /// reported, type errors (with key and line) and then the checks of the values read.
    pub fn parse(text: &str, file: &Path) -> Result<Config, Vec<ConfigError>> {
        let error = |at: String, reason: String| ConfigError {
            file: file.into(),
            at,
            reason,
        };
        let (config, mut errors) = match errors::parse_all::<Config>(text) {
            Ok(config) => (Some(config), Vec::new()),
            Err((config, mistakes)) => (
                config,
                mistakes
                    .into_iter()
                    .map(|m| error(m.at, m.reason))
                    .collect(),
            ),
        };
        // The values that were read are checked even when others were not.
        if let Some(config) = &config {
            errors.extend(
                config
                    .problems()
                    .into_iter()
                    .map(|(key, reason)| error(key.into(), reason)),
            );
        }
        match config {
            Some(mut config) if errors.is_empty() => {
                // In a fleet, push goes to the fleet's service unless [push] names another.
                if config.push.url.is_none() {
                    config.push.url = config.fleet.urls.first().cloned();
                }
                Ok(config)
            }
            _ => Err(errors),
        }
    }

    /// Semantic checks, as (key, reason).
    fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if !self.state_dir.is_absolute() {
            p.push(("state_dir", "must be an absolute path".to_string()));
        }
        if self.issuer.is_empty() || self.issuer.contains(':') {
            p.push(("issuer", "must be non-empty and contain no ':'".into()));
        }
        if !crate::messages::is_known(&self.language) {
            p.push((
                "language",
                format!(
                    "must be one of {} (got {:?})",
                    crate::messages::languages().collect::<Vec<_>>().join(", "),
                    self.language
                ),
            ));
        }
        if self.audit_log != "syslog" && !Path::new(&self.audit_log).is_absolute() {
            p.push((
                "audit_log",
                "must be \"syslog\" or an absolute file path".into(),
            ));
        }
        if let Err(e) = self.totp.algorithm.parse::<Algorithm>() {
            p.push(("totp.algorithm", e));
        }
        if !(6..=8).contains(&self.totp.digits) {
            p.push((
                "totp.digits",
                format!("must be 6, 7 or 8 (got {})", self.totp.digits),
            ));
        }
        if !(15..=300).contains(&self.totp.period) {
            p.push((
                "totp.period",
                format!("must be 15..=300 seconds (got {})", self.totp.period),
            ));
        }
        if self.totp.skew > 10 {
            p.push((
                "totp.skew",
                format!("must be 0..=10 steps (got {})", self.totp.skew),
            ));
        }
        if self.rate_limit.max_failures == 0 {
            p.push(("rate_limit.max_failures", "must be at least 1".into()));
        }
        if self.rate_limit.lockout_seconds > 7 * 86400 {
            p.push((
                "rate_limit.lockout_seconds",
                "must be at most 604800 (a week)".into(),
            ));
        }
        if self.rate_limit.failure_delay_ms > 30_000 {
            p.push((
                "rate_limit.failure_delay_ms",
                "must be at most 30000".into(),
            ));
        }
        if let Some(deadline) = &self.enrollment.deadline
            && parse_date(deadline).is_none()
        {
            p.push((
                "enrollment.deadline",
                format!("must be a date YYYY-MM-DD (got {deadline:?})"),
            ));
        }
        if !["auto", "ansi", "utf8", "light"].contains(&self.enrollment.qr.as_str()) {
            p.push((
                "enrollment.qr",
                format!(
                    "must be \"auto\", \"utf8\", \"light\" or \"ansi\" (got {:?})",
                    self.enrollment.qr
                ),
            ));
        }
        if self.remember.seconds > 30 * 86400 {
            p.push((
                "remember.seconds",
                "must be at most 2592000 (30 days)".into(),
            ));
        }
        if !(1..=100).contains(&self.recovery.count) {
            p.push((
                "recovery.count",
                format!("must be 1..=100 (got {})", self.recovery.count),
            ));
        }
        self.push.problems(&mut p);
        self.sms.problems(&mut p);
        self.fleet.problems(&mut p);
        if let Some(program) = self.alerts.command.first()
            && !Path::new(program).is_absolute()
        {
            p.push((
                "alerts.command",
                format!("the program must be an absolute path (got {program:?})"),
            ));
        }
        if !(1..=60).contains(&self.alerts.timeout_seconds) {
            p.push((
                "alerts.timeout_seconds",
                format!("must be 1..=60 (got {})", self.alerts.timeout_seconds),
            ));
        }
        p
    }

    /// The `[serve]` section, parsed and validated; `file` is used in messages.
    pub fn serve_config(&self, file: &Path) -> Result<ServeConfig, Vec<ConfigError>> {
        let error = |at: &str, reason: String| ConfigError {
            file: file.into(),
            at: at.into(),
            reason,
        };
        let serve = ServeConfig::deserialize(toml::Value::Table(self.serve.clone()))
            .map_err(|e| vec![error("serve", errors::plain(e.message()))])?;
        let problems: Vec<ConfigError> = serve
            .problems()
            .into_iter()
            .map(|(key, reason)| error(key, reason))
            .collect();
        if problems.is_empty() {
            Ok(serve)
        } else {
            Err(problems)
        }
    }

    /// What applies to a user without a record at `now`: the deadline turns `allow` and
    /// `enroll` into `refuse` after the given day.
    pub fn unenrolled_at(&self, now: u64) -> Unenrolled {
        let expired = self
            .enrollment
            .deadline
            .as_deref()
            .and_then(parse_date)
            .is_some_and(|end| now >= end);
        if expired {
            Unenrolled::Refuse
        } else {
            self.enrollment.unenrolled
        }
    }

    /// The algorithm for new enrollments (validated at load).
    pub fn algorithm(&self) -> Algorithm {
        self.totp.algorithm.parse().unwrap_or_default()
    }
}

/// Unix time at the END of a `YYYY-MM-DD` day (UTC), i.e. the first second after it.
fn parse_date(text: &str) -> Option<u64> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || d < 1
        || d > month_days[(m - 1) as usize]
    {
        return None;
    }
    // Days since 1970-01-01 (civil-from-days inverse, proleptic Gregorian).
    let (yy, mm) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from((days + 1) * 86_400).ok()
}

#[cfg(test)]
mod tests;
