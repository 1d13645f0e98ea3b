//! `/etc/twofold/twofold.toml`: every key, its default, and validation that names file, key and reason.
#![forbid(unsafe_code)]

use crate::factor::totp::Algorithm;
use crate::store::file::{Dir, Policy};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

mod push;
mod serve;
pub use push::{DEFAULT_TOKEN_FILE, FailMode, PushConfig, PushMode, check_url};
pub use serve::{
    PROTOCOL_MAX_CHALLENGE_SECONDS, ServeConfig, authority_host, is_loopback_host, parse_network,
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
    /// `[serve]`, the approval service's section, kept unparsed: the module ignores it (a typo
    /// there must not stop sign-ins); `twofold serve` and `check-config` read it with
    /// [`Config::serve_config`].
    pub serve: toml::Table,
}

/// `[enrollment]`: users who have no record yet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrollmentConfig {
    /// `"refuse"` (default), `"allow"` (through without a second factor) or `"enroll"` (set up
    /// inside the sign-in).
    pub unenrolled: Unenrolled,
    /// Last day (UTC, `YYYY-MM-DD`) on which `allow`/`enroll` apply; afterwards such users are refused.
    pub deadline: Option<String>,
    /// How the QR code is drawn inside the sign-in: `"utf8"` (plain half blocks; the default,
    /// because the OpenSSH client shows escape sequences in prompts as text) or `"ansi"`
    /// (explicit colours, for consoles only).
    pub qr: String,
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

impl Default for Config {
    fn default() -> Self {
        Config {
            state_dir: PathBuf::from("/var/lib/twofold"),
            issuer: "twofold".into(),
            audit_log: "syslog".into(),
            on_state_write_error: WriteErrorPolicy::Deny,
            totp: TotpConfig::default(),
            rate_limit: RateLimitConfig::default(),
            recovery: RecoveryConfig::default(),
            enrollment: EnrollmentConfig::default(),
            policy: PolicyConfig::default(),
            remember: RememberConfig::default(),
            push: PushConfig::default(),
            serve: toml::Table::new(),
        }
    }
}

impl Default for EnrollmentConfig {
    fn default() -> Self {
        EnrollmentConfig {
            unenrolled: Unenrolled::Refuse,
            deadline: None,
            qr: "utf8".into(),
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

    /// Parses and validates configuration text; `file` is used in messages.
    pub fn parse(text: &str, file: &Path) -> Result<Config, Vec<ConfigError>> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| format!("line {}", line_of(text, s.start)))
                .unwrap_or_default();
            vec![ConfigError {
                file: file.into(),
                at,
                reason: e.message().trim().to_string(),
            }]
        })?;
        let problems: Vec<ConfigError> = config
            .problems()
            .into_iter()
            .map(|(key, reason)| ConfigError {
                file: file.into(),
                at: key.into(),
                reason,
            })
            .collect();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
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
        if self.enrollment.qr != "ansi" && self.enrollment.qr != "utf8" {
            p.push((
                "enrollment.qr",
                format!(
                    "must be \"ansi\" or \"utf8\" (got {:?})",
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
            .map_err(|e| vec![error("serve", e.message().trim().to_string())])?;
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

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |t| t.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::parse("", Path::new("t.toml")).unwrap();
        assert_eq!(c.state_dir, PathBuf::from("/var/lib/twofold"));
        assert_eq!(c.totp.digits, 6);
        assert_eq!(c.rate_limit.max_failures, 5);
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        let text = "state_dir = \"relative\"\n[totp]\ndigits = 9\nalgorithm = \"MD5\"\n";
        let errs = Config::parse(text, Path::new("/etc/x.toml")).unwrap_err();
        let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            shown.contains(&"/etc/x.toml: state_dir: must be an absolute path".to_string()),
            "{shown:?}"
        );
        assert!(
            shown
                .iter()
                .any(|s| s.starts_with("/etc/x.toml: totp.digits: must be 6, 7 or 8"))
        );
        assert!(
            shown
                .iter()
                .any(|s| s.starts_with("/etc/x.toml: totp.algorithm: unknown algorithm"))
        );
    }

    #[test]
    fn deadline_ends_enrollment_after_the_day() {
        let c = Config::parse(
            "[enrollment]\nunenrolled = \"enroll\"\ndeadline = \"2027-01-31\"\n",
            Path::new("c"),
        )
        .unwrap();
        let end_of_day = 1_801_440_000; // 2027-02-01T00:00:00Z
        assert_eq!(c.unenrolled_at(end_of_day - 1), Unenrolled::Enroll);
        assert_eq!(c.unenrolled_at(end_of_day), Unenrolled::Refuse);
        assert!(
            Config::parse("[enrollment]\ndeadline = \"2027-02-30\"\n", Path::new("c")).is_err()
        );
        assert_eq!(parse_date("1970-01-01"), Some(86_400));
    }

    #[test]
    fn unknown_keys_and_syntax_errors_give_a_line() {
        let errs =
            Config::parse("issuer = \"x\"\n\n[totp]\ndigitz = 6\n", Path::new("c")).unwrap_err();
        assert_eq!(errs[0].at, "line 4");
        assert!(errs[0].reason.contains("digitz"), "{}", errs[0].reason);
        let errs = Config::parse("issuer = \n", Path::new("c")).unwrap_err();
        assert_eq!(errs[0].at, "line 1");
    }
}
