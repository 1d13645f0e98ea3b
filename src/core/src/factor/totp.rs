//! Time-based one-time passwords (RFC 6238) with replay protection by time step.
#![forbid(unsafe_code)]

use crate::secret::SecretString;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use subtle::ConstantTimeEq;
use totp_rs::{Builder, Secret};

/// The HMAC behind the codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Algorithm {
    /// What every authenticator app supports; the default.
    #[default]
    SHA1,
    SHA256,
    SHA512,
}

impl Algorithm {
    fn to_totp_rs(self) -> totp_rs::Algorithm {
        match self {
            Algorithm::SHA1 => totp_rs::Algorithm::SHA1,
            Algorithm::SHA256 => totp_rs::Algorithm::SHA256,
            Algorithm::SHA512 => totp_rs::Algorithm::SHA512,
        }
    }

    /// Key length RFC 4226 recommends: the HMAC's output size.
    pub fn key_len(self) -> usize {
        match self {
            Algorithm::SHA1 => 20,
            Algorithm::SHA256 => 32,
            Algorithm::SHA512 => 64,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // Case and dashes do not matter ("sha-256"); compared without allocating, as every
        // sign-in reads one from the configuration.
        let letters = || {
            s.bytes()
                .filter(|&b| b != b'-')
                .map(|b| b.to_ascii_uppercase())
        };
        let candidates = [
            ("SHA1", Algorithm::SHA1),
            ("SHA256", Algorithm::SHA256),
            ("SHA512", Algorithm::SHA512),
        ];
        for (name, algorithm) in candidates {
            if letters().eq(name.bytes()) {
                return Ok(algorithm);
            }
        }
        Err(format!(
            "unknown algorithm {s:?} (expected SHA1, SHA256 or SHA512)"
        ))
    }
}

/// Shortest key accepted (bytes): 80 bits, what google-authenticator files carry.
pub const MIN_KEY_LEN: usize = 10;

/// A user's TOTP key and parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TotpParams {
    /// The shared key, base32 (RFC 4648, no padding).
    pub secret: SecretString,
    pub algorithm: Algorithm,
    pub digits: u8,
    /// Seconds per step.
    pub period: u32,
    /// Steps accepted either side of now; absent: the configuration's `totp.skew`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skew: Option<u8>,
}

impl TotpParams {
    /// Checks ranges and that the key decodes.
    pub fn validate(&self) -> Result<(), String> {
        if !(6..=8).contains(&self.digits) {
            return Err(format!(
                "totp.digits must be 6, 7 or 8 (got {})",
                self.digits
            ));
        }
        if !(1..=3600).contains(&self.period) {
            return Err(format!(
                "totp.period must be 1..=3600 seconds (got {})",
                self.period
            ));
        }
        if self.skew.is_some_and(|s| s > 10) {
            return Err("totp.skew must be at most 10 steps".into());
        }
        let key = decode_base32(self.secret.expose()).ok_or("totp.secret is not valid base32")?;
        if key.as_bytes().len() < MIN_KEY_LEN {
            return Err(format!(
                "totp.secret is shorter than {} bits",
                MIN_KEY_LEN * 8
            ));
        }
        Ok(())
    }

    fn totp(&self, skew: u8) -> Option<totp_rs::Totp> {
        let key = decode_base32(self.secret.expose())?;
        Some(
            Builder::new()
                .with_algorithm(self.algorithm.to_totp_rs())
                .with_digits(self.digits)
                .with_step_duration(u64::from(self.period))
                .with_skew(u16::from(skew))
                .with_secret(key)
                .build_noncompliant(),
        )
    }

    /// The time step whose code equals `code`, within `skew` steps of `now`: the latest such
    /// step, so that a code which happens to be valid for two steps of the window cannot be
    /// accepted once for each (replay protection keeps steps above the last accepted one).
    /// Each candidate is compared in constant time; the key's HMAC state is made once for the
    /// window (RFC 4226 HOTP, RFC 6238 time steps; checked against totp-rs and the RFC vectors).
    pub fn matching_step(&self, code: &str, now: u64, default_skew: u8) -> Option<u64> {
        let skew = u64::from(self.skew.unwrap_or(default_skew));
        let typed = parse_code(code, self.digits)?;
        let key = decode_base32(self.secret.expose())?;
        let origin = now / u64::from(self.period.max(1));
        let window = (origin.saturating_sub(skew)..=origin.saturating_add(skew)).rev();
        let key = key.as_bytes();
        match self.algorithm {
            Algorithm::SHA1 => latest_match::<Hmac<sha1::Sha1>>(key, window, self.digits, typed),
            Algorithm::SHA256 => {
                latest_match::<Hmac<sha2::Sha256>>(key, window, self.digits, typed)
            }
            Algorithm::SHA512 => {
                latest_match::<Hmac<sha2::Sha512>>(key, window, self.digits, typed)
            }
        }
    }

    /// The code for the step containing `time` (demo, tests, enrollment display).
    pub fn code_at(&self, time: u64) -> Option<String> {
        Some(self.totp(0)?.generate(time).to_string())
    }

    /// The step containing `time`.
    pub fn step_at(&self, time: u64) -> u64 {
        time / u64::from(self.period.max(1))
    }

    /// The `otpauth://` URI apps scan: carries issuer, account, algorithm, digits and period.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        // The label is the account alone: the issuer parameter names the issuer (Key Uri
        // Format: the label's "Issuer:" prefix is optional), and 8 bytes less keep the QR code
        // of a name up to 15 characters at version 4 (19 rows), so it fits an 80x24 screen.
        let mut uri = format!(
            "otpauth://totp/{}?secret={}&issuer={}",
            percent_encode(account),
            self.secret.expose(),
            percent_encode(issuer),
        );
        // SHA1, 6 digits and 30 s are what every app assumes (Key Uri Format): left out, they
        // keep the QR code a version smaller, which is what lets it fit an 80x24 terminal.
        if self.algorithm != Algorithm::SHA1 {
            uri.push_str(&format!("&algorithm={}", self.algorithm));
        }
        if self.digits != 6 {
            uri.push_str(&format!("&digits={}", self.digits));
        }
        if self.period != 30 {
            uri.push_str(&format!("&period={}", self.period));
        }
        uri
    }
}

/// A fresh random key for `algorithm`, base32.
pub fn generate_secret(algorithm: Algorithm) -> Result<SecretString, getrandom::Error> {
    let mut key = vec![0u8; algorithm.key_len()];
    getrandom::fill(&mut key)?;
    let encoded = Secret::from(key).to_base32();
    Ok(SecretString::new(encoded))
}

/// Normalises a base32 key as people type it (lower case, spaces, padding) and checks it.
pub fn normalize_base32(text: &str) -> Option<SecretString> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let cleaned = SecretString::new(cleaned);
    decode_base32(cleaned.expose())?;
    Some(cleaned)
}

/// A typed code: exactly `digits` ASCII digits.
fn parse_code(code: &str, digits: u8) -> Option<u32> {
    if code.len() != usize::from(digits) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    code.parse().ok()
}

/// The first step of `steps` whose HOTP value equals `typed`.
fn latest_match<M: Mac + KeyInit + Clone>(
    key: &[u8],
    steps: impl Iterator<Item = u64>,
    digits: u8,
    typed: u32,
) -> Option<u64> {
    let keyed = <M as KeyInit>::new_from_slice(key).ok()?;
    let modulus = 10u32.checked_pow(u32::from(digits))?;
    let mut found = None;
    for step in steps {
        let mut mac = keyed.clone();
        mac.update(&step.to_be_bytes());
        let tag = mac.finalize().into_bytes();
        // RFC 4226 dynamic truncation.
        let offset = usize::from(tag[tag.len() - 1] & 0x0f);
        let value = u32::from_be_bytes([
            tag[offset],
            tag[offset + 1],
            tag[offset + 2],
            tag[offset + 3],
        ]) & 0x7fff_ffff;
        if bool::from((value % modulus).ct_eq(&typed)) {
            found = Some(step);
            break;
        }
    }
    found
}

fn decode_base32(text: &str) -> Option<Secret> {
    if text.is_empty()
        || !text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    {
        return None;
    }
    Secret::try_from_base32(text).ok()
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(secret_ascii: &str, algorithm: Algorithm) -> TotpParams {
        let encoded = Secret::from(secret_ascii.as_bytes().to_vec()).to_base32();
        TotpParams {
            secret: SecretString::new(encoded),
            algorithm,
            digits: 8,
            period: 30,
            skew: Some(0),
        }
    }

    // RFC 6238 appendix B: the keys are the ASCII strings repeated to the hash length.
    const SHA1_KEY: &str = "12345678901234567890";
    const SHA256_KEY: &str = "12345678901234567890123456789012";
    const SHA512_KEY: &str = "1234567890123456789012345678901234567890123456789012345678901234";

    #[test]
    fn rfc6238_appendix_b_vectors() {
        let table: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        let sha1 = params(SHA1_KEY, Algorithm::SHA1);
        let sha256 = params(SHA256_KEY, Algorithm::SHA256);
        let sha512 = params(SHA512_KEY, Algorithm::SHA512);
        for (time, c1, c256, c512) in table {
            assert_eq!(sha1.code_at(time).unwrap(), c1, "SHA1 at {time}");
            assert_eq!(sha256.code_at(time).unwrap(), c256, "SHA256 at {time}");
            assert_eq!(sha512.code_at(time).unwrap(), c512, "SHA512 at {time}");
            assert_eq!(sha1.matching_step(c1, time, 0), Some(time / 30));
            assert_eq!(sha256.matching_step(c256, time, 0), Some(time / 30));
            assert_eq!(sha512.matching_step(c512, time, 0), Some(time / 30));
        }
    }

    #[test]
    fn matching_agrees_with_totp_rs_and_prefers_the_latest_step() {
        for algorithm in [Algorithm::SHA1, Algorithm::SHA256, Algorithm::SHA512] {
            for digits in [6u8, 7, 8] {
                let mut p = params(SHA256_KEY, algorithm);
                p.digits = digits;
                p.skew = Some(2);
                let reference = p.totp(2).unwrap();
                for i in 0..200u64 {
                    let now = 1_700_000_000 + i * 7919;
                    for offset in [-3i64, -2, -1, 0, 1, 2, 3] {
                        let time = now.checked_add_signed(offset * 30).unwrap();
                        let code = p.code_at(time).unwrap();
                        let ours = p.matching_step(&code, now, 0);
                        let theirs = reference.check(&code, now);
                        // Both find a match, or neither; where both match, ours is the latest.
                        assert_eq!(
                            ours.is_some(),
                            theirs.is_some(),
                            "{algorithm} {digits} {time}"
                        );
                        if let (Some(ours), Some(theirs)) = (ours, theirs) {
                            assert!(ours >= theirs);
                            assert_eq!(p.code_at(ours * 30).unwrap(), code);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_code_valid_for_two_steps_matches_the_later_one() {
        // Find a key and time where two steps of a 6-digit window share a code.
        let mut p = params(SHA1_KEY, Algorithm::SHA1);
        p.digits = 6;
        p.skew = Some(10);
        let now = 1_700_000_000u64;
        let origin = now / 30;
        let mut seen = std::collections::HashMap::new();
        let mut pair = None;
        for key in 0..20_000u32 {
            p.secret = SecretString::new(
                Secret::from(format!("twofold-collision-{key}").into_bytes()).to_base32(),
            );
            seen.clear();
            for step in origin - 10..=origin + 10 {
                let code = p.code_at(step * 30).unwrap();
                if let Some(earlier) = seen.insert(code.clone(), step) {
                    pair = Some((code, earlier, step));
                    break;
                }
            }
            if pair.is_some() {
                break;
            }
        }
        let (code, earlier, later) = pair.expect("a collision within 20,000 keys");
        assert!(earlier < later);
        assert_eq!(p.matching_step(&code, now, 0), Some(later));
    }

    #[test]
    fn algorithm_names_ignore_case_and_dashes() {
        assert_eq!("sha1".parse::<Algorithm>(), Ok(Algorithm::SHA1));
        assert_eq!("SHA-256".parse::<Algorithm>(), Ok(Algorithm::SHA256));
        assert_eq!("Sha-5-12".parse::<Algorithm>(), Ok(Algorithm::SHA512));
        for bad in ["", "SHA", "SHA2", "SHA1 ", "SHA11", "MD5"] {
            assert!(bad.parse::<Algorithm>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_exactly_the_digits_are_a_code() {
        let mut p = params(SHA1_KEY, Algorithm::SHA1);
        p.digits = 6;
        let code = p.code_at(59).unwrap();
        assert_eq!(p.matching_step(&code, 59, 0), Some(1));
        for bad in [
            "",
            "+28708",
            " 287082",
            "2870820",
            "28708",
            "２８７０８２",
            "28708a",
        ] {
            assert_eq!(p.matching_step(bad, 59, 0), None, "{bad:?}");
        }
    }

    #[test]
    fn window_edges() {
        let mut p = params(SHA1_KEY, Algorithm::SHA1);
        p.digits = 6;
        p.skew = Some(1);
        let now = 1_700_000_000;
        let step = now / 30;
        let prev = p.code_at(now - 30).unwrap();
        let next = p.code_at(now + 30).unwrap();
        let too_old = p.code_at(now - 60).unwrap();
        let too_new = p.code_at(now + 60).unwrap();
        assert_eq!(p.matching_step(&prev, now, 0), Some(step - 1));
        assert_eq!(p.matching_step(&next, now, 0), Some(step + 1));
        assert_eq!(p.matching_step(&too_old, now, 0), None);
        assert_eq!(p.matching_step(&too_new, now, 0), None);
    }

    #[test]
    fn base32_is_normalised_and_checked() {
        let s = normalize_base32("jbsw y3dp ehpk 3pxp").unwrap();
        assert_eq!(s.expose(), "JBSWY3DPEHPK3PXP");
        assert!(normalize_base32("JBSWY3DP!").is_none());
        assert!(normalize_base32("").is_none());
        assert!(normalize_base32("JBSWY3DPEHPK3PX1").is_none());
        let generated = generate_secret(Algorithm::SHA1).unwrap();
        assert_eq!(generated.expose().len(), 32);
        assert!(normalize_base32(generated.expose()).is_some());
    }

    #[test]
    fn otpauth_uri_carries_every_parameter() {
        let mut p = params(SHA1_KEY, Algorithm::SHA256);
        p.digits = 7;
        p.period = 60;
        let uri = p.otpauth_uri("Example Corp", "alice@host");
        assert!(uri.starts_with("otpauth://totp/alice%40host?secret="));
        assert!(uri.ends_with("&issuer=Example%20Corp&algorithm=SHA256&digits=7&period=60"));
    }

    #[test]
    fn otpauth_uri_leaves_out_the_defaults_every_app_assumes() {
        let mut p = params(SHA1_KEY, Algorithm::SHA1);
        p.digits = 6;
        let uri = p.otpauth_uri("twofold", "alice");
        assert_eq!(
            uri,
            format!(
                "otpauth://totp/alice?secret={}&issuer=twofold",
                p.secret.expose()
            )
        );
    }

    #[test]
    fn validation_refuses_out_of_range_parameters() {
        let mut p = params(SHA1_KEY, Algorithm::SHA1);
        assert!(p.validate().is_ok());
        p.digits = 9;
        assert!(p.validate().is_err());
        p.digits = 6;
        p.period = 0;
        assert!(p.validate().is_err());
        p.period = 30;
        p.secret = SecretString::new("JBSWY3DP".into());
        assert!(p.validate().is_err(), "40-bit key must be refused");
    }
}
