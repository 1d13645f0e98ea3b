//! One-time recovery codes: shown once, stored only as salted hashes, each usable once.
#![forbid(unsafe_code)]

use crate::encoding::hex;
use crate::secret::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Crockford's base32 alphabet: no i, l, o, u, so codes read aloud or typed are unambiguous.
pub(crate) const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters per code: 12 × 5 bits = 60 bits, far beyond guessing within the rate limit
/// and beyond an offline search of a stolen hash.
const CODE_CHARS: usize = 12;

/// A stored recovery code: random salt (also its id) and SHA-256(salt ‖ code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryHash {
    /// Hex salt; doubles as the id recorded in the state when the code is used.
    pub id: String,
    /// Hex SHA-256 of the salt followed by the normalised code.
    pub hash: String,
}

/// Makes `count` fresh codes: the displayable codes (shown once) and their hashes (stored).
pub fn generate(count: usize) -> Result<(Vec<SecretString>, Vec<RecoveryHash>), getrandom::Error> {
    let mut codes = Vec::with_capacity(count);
    let mut hashes = Vec::with_capacity(count);
    for _ in 0..count {
        let mut raw = [0u8; CODE_CHARS];
        getrandom::fill(&mut raw)?;
        let code: String = raw
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
            .collect();
        let salt: [u8; 16] = crate::secret::random_bytes()?;
        hashes.push(RecoveryHash {
            id: hex(&salt),
            hash: hash(&salt, &code),
        });
        codes.push(SecretString::new(format!(
            "{}-{}-{}",
            &code[0..4],
            &code[4..8],
            &code[8..12]
        )));
    }
    Ok((codes, hashes))
}

/// Digits of a scratch code imported from google-authenticator.
const IMPORTED_DIGITS: usize = 8;

/// The canonical form of a typed code, or `None` if it cannot be a recovery code.
/// Also accepts the 8-digit scratch codes imported from google-authenticator.
pub fn normalize(typed: &str) -> Option<SecretString> {
    let trimmed = typed.trim();
    if trimmed.len() == IMPORTED_DIGITS && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Some(SecretString::new(trimmed.to_string()));
    }
    let mut out = String::with_capacity(CODE_CHARS);
    for c in typed.chars() {
        let c = match c.to_ascii_lowercase() {
            '-' | ' ' => continue,
            'i' | 'l' => '1',
            'o' => '0',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
            return None;
        }
        out.push(c);
    }
    (out.len() == CODE_CHARS).then(|| SecretString::new(out))
}

/// Hashes codes issued elsewhere (imported scratch codes), already in canonical form.
pub fn hash_existing(codes: &[String]) -> Result<Vec<RecoveryHash>, getrandom::Error> {
    let mut hashes = Vec::with_capacity(codes.len());
    for code in codes {
        let salt: [u8; 16] = crate::secret::random_bytes()?;
        hashes.push(RecoveryHash {
            id: hex(&salt),
            hash: hash(&salt, code),
        });
    }
    Ok(hashes)
}

/// The id of the unused code matching `code` (already normalised); all codes are hashed and
/// compared in constant time so timing does not tell which one was close.
pub fn find_match<'a>(
    code: &SecretString,
    stored: &'a [RecoveryHash],
    used: &[String],
) -> Option<&'a str> {
    let mut found = None;
    for entry in stored {
        let Some(salt) = unhex(&entry.id) else {
            continue;
        };
        let candidate = hash(&salt, code.expose());
        let equal = constant_time_eq(candidate.as_bytes(), entry.hash.as_bytes());
        if equal && !used.contains(&entry.id) {
            found = Some(entry.id.as_str());
        }
    }
    found
}

/// Hex SHA-256(salt ‖ code): how recovery codes and access passes are stored.
pub(crate) fn hash(salt: &[u8], code: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(code.as_bytes());
    hex(&h.finalize())
}

/// Hex to bytes; `None` for anything else.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Byte equality whose time does not depend on where the inputs differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_match_their_hashes_only() {
        let (codes, hashes) = generate(10).unwrap();
        assert_eq!(codes.len(), 10);
        for (code, entry) in codes.iter().zip(&hashes) {
            assert!(!entry.hash.contains(code.expose()));
            let n = normalize(code.expose()).unwrap();
            assert_eq!(find_match(&n, &hashes, &[]), Some(entry.id.as_str()));
            assert_eq!(
                find_match(&n, &hashes, std::slice::from_ref(&entry.id)),
                None,
                "used code"
            );
        }
        let other = normalize("0000-0000-0000").unwrap();
        assert_eq!(find_match(&other, &hashes, &[]), None);
    }

    #[test]
    fn typing_variants_are_accepted() {
        let a = normalize("ABCD-EFGH-JK01").unwrap();
        let b = normalize("abcd efgh jkol").unwrap();
        assert_eq!(a.expose(), b.expose());
        assert!(normalize("123456").is_none());
        assert!(
            normalize("abcd-efgh-jku1").is_none(),
            "u is not in the alphabet"
        );
        assert!(normalize("abcd-efgh-jk01-x").is_none());
    }
}
