//! Time-based one-time passwords (RFC 6238) with replay protection by time step.
#![forbid(unsafe_code)]

use crate::secret::SecretString;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
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
        match s.to_ascii_uppercase().replace('-', "").as_str() {
            "SHA1" => Ok(Algorithm::SHA1),
            "SHA256" => Ok(Algorithm::SHA256),
            "SHA512" => Ok(Algorithm::SHA512),
            _ => Err(format!(
                "unknown algorithm {s:?} (expected SHA1, SHA256 or SHA512)"
            )),
        }
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

    /// The time step whose code equals `code`, within `skew` steps of `now` (constant-time compare).
    pub fn matching_step(&self, code: &str, now: u64, default_skew: u8) -> Option<u64> {
        let skew = self.skew.unwrap_or(default_skew);
        self.totp(skew)?.check(code, now)
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
