//! Parser for the classic `~/.google_authenticator` file written by
//! `google-authenticator(1)` and kept up to date by `pam_google_authenticator(8)`.
//!
//! Layout (see `/usr/share/doc/libpam-google-authenticator/FILEFORMAT`):
//! line 1 is the base32 secret; option lines start with `" ` followed by an
//! upper-case name and space-separated arguments; every other line is an
//! eight-digit emergency scratch code. Blank lines are skipped, as the PAM
//! module skips them. Option names recognised here:
//!
//! * `TOTP_AUTH`: time-based codes are enabled (required for import).
//! * `HOTP_COUNTER n`: counter-based codes; refused with [`ImportError::Hotp`].
//! * `WINDOW_SIZE n`: total number of codes accepted, 1..=100 (as the PAM module).
//! * `STEP_SIZE n`: seconds per code, 1..=60. The PAM module refuses every login
//!   outside that range, so a file beyond it never worked and is not imported.
//! * `RATE_LIMIT n m ts...`: n logins per m seconds, n 1..=100, m 1..=3600 (as
//!   the PAM module); the trailing login timestamps are checked, then dropped.
//! * `DISALLOW_REUSE ts...`: codes are single-use; the used time steps are
//!   checked, then dropped.
//! * `TIME_SKEW n`: clock drift of the user's device, in steps, learnt by the
//!   PAM module; kept so the caller can decide what to do with it.
//!
//! Ignored: `RESETTING_TIME_SKEW` (half-finished skew learning), `LAST0`..`LAST9`
//! (grace-period logins of newer releases), and any option not listed here.

mod lines;

use lines::{check_option, is_scratch_code, normalise_secret, option};
use std::fmt;

/// Largest file accepted; the PAM module refuses anything bigger too.
pub const MAX_FILE_SIZE: usize = 64 * 1024;
/// Shortest secret accepted, in decoded bytes (80 bits, RFC 4226's minimum).
const MIN_SECRET_BYTES: usize = 10;
/// Options whose value is imported; each may appear once.
const KNOWN: &str = "TOTP_AUTH WINDOW_SIZE STEP_SIZE RATE_LIMIT DISALLOW_REUSE TIME_SKEW";

/// `RATE_LIMIT`: at most `attempts` logins within any `seconds` interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub attempts: u32,
    pub seconds: u32,
}

/// A classic ~/.google_authenticator file, as twofold can use it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct GoogleAuthenticatorFile {
    /// Upper-case RFC 4648 base32, no spaces or padding, >= 10 bytes decoded.
    pub secret_base32: String,
    /// `WINDOW_SIZE`: total number of codes accepted (Google's default is 3).
    pub window_size: Option<u32>,
    /// `STEP_SIZE` in seconds (default 30).
    pub step_size: Option<u32>,
    pub disallow_reuse: bool,
    pub rate_limit: Option<RateLimit>,
    /// `TIME_SKEW`: steps to add to the server's clock to match the device.
    pub time_skew: Option<i32>,
    /// Unused emergency scratch codes, eight digits each, in file order.
    pub scratch_codes: Vec<String>,
}

impl GoogleAuthenticatorFile {
    /// The window as a symmetric number of steps accepted either side of now.
    /// Google accepts steps `-(w-1)/2 ..= w/2`, so an even window loses its
    /// one extra future step here rather than gaining a past one.
    pub fn skew_steps(&self) -> u32 {
        self.window_size.map_or(1, |w| w.saturating_sub(1) / 2)
    }

    /// Seconds per code, with Google's default of 30.
    pub fn step_seconds(&self) -> u32 {
        self.step_size.unwrap_or(30)
    }
}

impl fmt::Debug for GoogleAuthenticatorFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleAuthenticatorFile")
            .field("secret_base32", &"<redacted>")
            .field("window_size", &self.window_size)
            .field("step_size", &self.step_size)
            .field("disallow_reuse", &self.disallow_reuse)
            .field("rate_limit", &self.rate_limit)
            .field("time_skew", &self.time_skew)
            .field(
                "scratch_codes",
                &format_args!("<{} redacted>", self.scratch_codes.len()),
            )
            .finish()
    }
}

/// Why a file cannot be imported. Never carries secret material.
#[derive(Debug, PartialEq, Eq)]
pub enum ImportError {
    TooLarge,
    NotUtf8,
    Empty,
    Hotp,
    NotTotp,
    BadSecret,
    /// `line` is 1-based.
    BadOption {
        line: usize,
        reason: String,
    },
    /// `line` is 1-based.
    BadScratchCode {
        line: usize,
    },
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let enrol = "enrol the user afresh with `twofold enroll`";
        let check = "check that this is the user's ~/.google_authenticator";
        let fix = "fix or delete that line, then import again";
        match self {
            Self::TooLarge => write!(
                f,
                "the file is over 64 KiB, which the PAM module refuses too; {check}"
            ),
            Self::NotUtf8 => write!(f, "the file is not text (not UTF-8, or NUL bytes); {check}"),
            Self::Empty => write!(
                f,
                "the file is empty, so there is nothing to import; {enrol}"
            ),
            Self::Hotp => write!(
                f,
                "this file is for counter-based (HOTP) codes; twofold supports only \
                 time-based (TOTP) codes — {enrol}"
            ),
            Self::NotTotp => write!(
                f,
                "the file has no `\" TOTP_AUTH` line, so time-based codes were never \
                 enabled for this user; {enrol}"
            ),
            Self::BadSecret => write!(
                f,
                "line 1 is not a base32 secret of at least 16 characters (A-Z, 2-7); \
                 the file looks damaged — {enrol}"
            ),
            Self::BadOption { line, reason } => write!(f, "line {line}: {reason}; {fix}"),
            Self::BadScratchCode { line } => write!(
                f,
                "line {line}: not a scratch code (exactly 8 digits, not starting with 0); {fix}"
            ),
        }
    }
}

impl std::error::Error for ImportError {}

/// Parses the contents of a `~/.google_authenticator` file.
pub fn parse(text: &[u8]) -> Result<GoogleAuthenticatorFile, ImportError> {
    if text.len() > MAX_FILE_SIZE {
        return Err(ImportError::TooLarge);
    }
    let text = std::str::from_utf8(text).map_err(|_| ImportError::NotUtf8)?;
    if text.contains('\0') {
        return Err(ImportError::NotUtf8);
    }
    if text.trim().is_empty() {
        return Err(ImportError::Empty);
    }
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    // HOTP first: it is the one problem that no edit to the file can fix.
    if lines[1..]
        .iter()
        .any(|l| option(l).is_some_and(|(name, _)| name == "HOTP_COUNTER"))
    {
        return Err(ImportError::Hotp);
    }
    let mut file = GoogleAuthenticatorFile {
        secret_base32: normalise_secret(lines[0]).ok_or(ImportError::BadSecret)?,
        ..GoogleAuthenticatorFile::default()
    };
    let mut seen: Vec<&str> = Vec::new();
    for (index, &line) in lines.iter().enumerate().skip(1) {
        let line_no = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with('"') {
            if !is_scratch_code(line) {
                return Err(ImportError::BadScratchCode { line: line_no });
            }
            file.scratch_codes.push(line.to_owned());
            continue;
        }
        // A `"` line not in the `" NAME` form is ignored, as the PAM module does.
        let Some((name, args)) = option(line) else {
            continue;
        };
        if KNOWN.split(' ').any(|k| k == name) && seen.contains(&name) {
            return Err(ImportError::BadOption {
                line: line_no,
                reason: format!("{name} appears more than once"),
            });
        }
        seen.push(name);
        check_option(&mut file, name, &args).map_err(|reason| ImportError::BadOption {
            line: line_no,
            reason: format!("{name} {reason}"),
        })?;
    }
    if !seen.contains(&"TOTP_AUTH") {
        return Err(ImportError::NotTotp);
    }
    Ok(file)
}

#[cfg(test)]
mod tests;
