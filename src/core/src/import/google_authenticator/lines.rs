//! The lines of a `~/.google_authenticator` file: option lines, their arguments, scratch codes
//! and the secret.

use super::*;

/// Splits `" NAME arg arg` into the name and its arguments.
pub(super) fn option(line: &str) -> Option<(&str, Vec<&str>)> {
    let rest = line.strip_prefix("\" ")?;
    let end = rest.find([' ', '\t']).unwrap_or(rest.len());
    let (name, args) = rest.split_at(end);
    let args = args.split([' ', '\t']).filter(|a| !a.is_empty());
    Some((name, args.collect()))
}

/// Records one option line in `file`, or says what is wrong with its arguments.
pub(super) fn check_option(
    file: &mut GoogleAuthenticatorFile,
    name: &str,
    args: &[&str],
) -> Result<(), String> {
    match (name, args) {
        ("WINDOW_SIZE", [n]) => file.window_size = Some(ranged(n, 1, 100)?),
        ("STEP_SIZE", [n]) => file.step_size = Some(ranged(n, 1, 60)?),
        ("TIME_SKEW", [n]) => {
            let skew = n
                .parse()
                .map_err(|_| "needs a whole number of steps, such as -2")?;
            file.time_skew = Some(skew);
        }
        ("RATE_LIMIT", [attempts, seconds, logins @ ..]) => {
            file.rate_limit = Some(RateLimit {
                attempts: ranged(attempts, 1, 100)?,
                seconds: ranged(seconds, 1, 3600)?,
            });
            timestamps(logins)?;
        }
        ("DISALLOW_REUSE", used) => {
            timestamps(used)?;
            file.disallow_reuse = true;
        }
        ("WINDOW_SIZE" | "STEP_SIZE" | "TIME_SKEW", _) => {
            return Err("needs exactly one value".into());
        }
        ("RATE_LIMIT", _) => {
            return Err("needs a number of attempts and a number of seconds".into());
        }
        _ => {} // TOTP_AUTH (recorded by the caller) and ignored options.
    }
    Ok(())
}

/// Plain decimal digits only: no sign, no spaces, no overflow.
fn unsigned(text: &str) -> Option<u64> {
    text.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| text.parse().ok())?
}

fn ranged(text: &str, min: u32, max: u32) -> Result<u32, String> {
    unsigned(text)
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| format!("needs a whole number from {min} to {max}"))
}

fn timestamps(values: &[&str]) -> Result<(), String> {
    if values.iter().any(|v| unsigned(v).is_none()) {
        return Err("has a recorded timestamp that is not a whole number".into());
    }
    Ok(())
}

pub(super) fn is_scratch_code(line: &str) -> bool {
    // The PAM module only ever accepts codes from 10000000 to 99999999.
    line.len() == 8 && line.bytes().all(|b| b.is_ascii_digit()) && !line.starts_with('0')
}

/// Upper-cases, drops blanks and `=` padding, then checks the RFC 4648
/// alphabet, that the length is one whole bytes can encode to, and >= 80 bits.
pub(super) fn normalise_secret(line: &str) -> Option<String> {
    let mut secret: String = line
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    secret.truncate(secret.trim_end_matches('=').len());
    let alphabet = |b: u8| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b);
    let whole_bytes = !matches!(secret.len() % 8, 1 | 3 | 6);
    (secret.bytes().all(alphabet) && whole_bytes && secret.len() * 5 / 8 >= MIN_SECRET_BYTES)
        .then_some(secret)
}
