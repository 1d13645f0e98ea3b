//! Temporary access passes: an administrator hands one out (`twofold pass USER`) so a user can
//! enroll, or enroll again after losing the phone, without a second factor. Random, shown once,
//! stored only as a salted hash (as recovery codes are), valid until its expiry, and once only
//! if so issued.
#![forbid(unsafe_code)]

use crate::encoding::hex;
use crate::factor::recovery::{ALPHABET, constant_time_eq, hash, unhex};
use crate::secret::SecretString;
use serde::{Deserialize, Serialize};

/// Characters of a pass: 16 × 5 bits = 80 bits, shown as four groups of four.
const PASS_CHARS: usize = 16;
/// Longest validity an administrator may give (30 days, as Entra allows).
pub const MAX_HOURS: u32 = 30 * 24;
/// Validity unless `--hours` says otherwise.
pub const DEFAULT_HOURS: u32 = 8;

/// A stored pass: no pass, only its salted hash, and when and how often it may be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessPass {
    /// Hex salt.
    pub salt: String,
    /// Hex SHA-256 of the salt followed by the normalised pass.
    pub hash: String,
    /// Unix time of issue.
    pub issued: u64,
    /// Unix time from which it is refused.
    pub expires: u64,
    /// Good for one sign-in only.
    pub once: bool,
    /// Sign-ins it let through so far.
    #[serde(default)]
    pub uses: u32,
}

/// Why a typed pass was refused, as written in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassRefusal {
    Wrong,
    Expired,
    Used,
}

impl PassRefusal {
    /// The audit log's reason.
    pub fn as_str(self) -> &'static str {
        match self {
            PassRefusal::Wrong => "wrong_pass",
            PassRefusal::Expired => "expired_pass",
            PassRefusal::Used => "used_pass",
        }
    }
}

/// A new pass valid for `hours` from `now`: what to show once, and what to store.
pub fn issue(
    now: u64,
    hours: u32,
    once: bool,
) -> Result<(SecretString, AccessPass), getrandom::Error> {
    let mut raw = [0u8; PASS_CHARS];
    getrandom::fill(&mut raw)?;
    let pass: String = raw
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect();
    let salt: [u8; 16] = crate::secret::random_bytes()?;
    let stored = AccessPass {
        salt: hex(&salt),
        hash: hash(&salt, &pass),
        issued: now,
        expires: now.saturating_add(u64::from(hours) * 3600),
        once,
        uses: 0,
    };
    let shown = pass
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-");
    Ok((SecretString::new(shown), stored))
}

/// The canonical form of a typed pass (case, dashes and spaces, i/l/o read as 1/0), or
/// `None` if it cannot be one.
pub fn normalize(typed: &str) -> Option<SecretString> {
    let mut out = String::with_capacity(PASS_CHARS);
    for c in typed.trim().chars() {
        let c = match c.to_ascii_lowercase() {
            '-' | ' ' => continue,
            'i' | 'l' => '1',
            'o' => '0',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || out.len() == PASS_CHARS {
            return None;
        }
        out.push(c);
    }
    (out.len() == PASS_CHARS).then(|| SecretString::new(out))
}

impl AccessPass {
    /// Checks a normalised pass at `now`; on success counts the use (the caller saves it, or
    /// removes a once-only pass).
    pub fn redeem(&mut self, pass: &SecretString, now: u64) -> Result<(), PassRefusal> {
        let right = unhex(&self.salt).is_some_and(|salt| {
            constant_time_eq(hash(&salt, pass.expose()).as_bytes(), self.hash.as_bytes())
        });
        if !right {
            return Err(PassRefusal::Wrong);
        }
        if now >= self.expires {
            return Err(PassRefusal::Expired);
        }
        if self.once && self.uses > 0 {
            return Err(PassRefusal::Used);
        }
        self.uses = self.uses.saturating_add(1);
        Ok(())
    }

    /// Whether nothing more can be done with it (expired, or used once-only).
    pub fn spent(&self, now: u64) -> bool {
        now >= self.expires || (self.once && self.uses > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_pass_reads_as_four_groups_and_only_it_matches() {
        let (shown, mut stored) = issue(1000, 1, false).unwrap();
        let text = shown.expose();
        assert_eq!(text.len(), 19, "{text}");
        assert_eq!(text.split('-').count(), 4);
        assert!(!stored.hash.contains(&text.replace('-', "")));
        let typed = normalize(&text.to_uppercase().replace('-', " ")).unwrap();
        assert_eq!(stored.redeem(&typed, 1001), Ok(()));
        assert_eq!(stored.redeem(&typed, 1002), Ok(()), "not once-only");
        assert_eq!(stored.uses, 2);
        let other = normalize("0000-0000-0000-0000").unwrap();
        assert_eq!(stored.redeem(&other, 1003), Err(PassRefusal::Wrong));
    }

    #[test]
    fn an_expired_or_used_once_pass_is_refused() {
        let (shown, mut stored) = issue(1000, 2, true).unwrap();
        let typed = normalize(shown.expose()).unwrap();
        assert_eq!(
            stored.clone().redeem(&typed, 1000 + 7200),
            Err(PassRefusal::Expired)
        );
        assert_eq!(stored.redeem(&typed, 1000), Ok(()));
        assert!(stored.spent(1001));
        assert_eq!(stored.redeem(&typed, 1001), Err(PassRefusal::Used));
    }

    #[test]
    fn only_pass_shaped_answers_normalise() {
        assert!(normalize("123456").is_none());
        assert!(normalize("abcd-efgh-jk01").is_none(), "a recovery code");
        assert!(normalize("abcd-efgh-jkmn-pqrs-t").is_none());
        assert!(
            normalize("abcd-efgh-jkmn-pqru").is_none(),
            "u is not in the alphabet"
        );
        assert!(normalize("ABCD EFGH JKMN PQRS").is_some());
    }
}
