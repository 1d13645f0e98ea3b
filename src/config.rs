//! `/etc/twofold/twofold.toml`: every key, its default, and validation that names file, key and reason.
#![forbid(unsafe_code)]

use crate::factor::totp::Algorithm;
use crate::store::file::{Dir, Policy};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

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
        let bytes = match Dir::open(dir, Policy::config()).and_then(|d| d.read(name)) {
            Ok(Some(bytes)) => bytes,
            Ok(None) if !explicit => return Ok(Config::default()),
            Ok(None) => return Err(err("", "no such file".into())),
            Err(e) if e.is_not_found() && !explicit => return Ok(Config::default()),
            Err(e) => return Err(err("", e.to_string())),
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
        if !(1..=100).contains(&self.recovery.count) {
            p.push((
                "recovery.count",
                format!("must be 1..=100 (got {})", self.recovery.count),
            ));
        }
        p
    }

    /// The algorithm for new enrollments (validated at load).
    pub fn algorithm(&self) -> Algorithm {
        self.totp.algorithm.parse().unwrap_or_default()
    }
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
    fn unknown_keys_and_syntax_errors_give_a_line() {
        let errs =
            Config::parse("issuer = \"x\"\n\n[totp]\ndigitz = 6\n", Path::new("c")).unwrap_err();
        assert_eq!(errs[0].at, "line 4");
        assert!(errs[0].reason.contains("digitz"), "{}", errs[0].reason);
        let errs = Config::parse("issuer = \n", Path::new("c")).unwrap_err();
        assert_eq!(errs[0].at, "line 1");
    }
}
