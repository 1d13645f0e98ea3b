//! Secret text that is wiped from memory when dropped and never shown by Debug.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroize;

/// A secret string (a TOTP key in base32, a typed code): zeroised on drop, redacted in Debug.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a string, taking ownership so no copy is left behind.
    pub fn new(s: String) -> Self {
        SecretString(s)
    }

    /// Takes bytes that should be text; invalid UTF-8 is replaced, the input is wiped.
    pub fn from_bytes(mut bytes: Vec<u8>) -> Self {
        let s = String::from_utf8_lossy(&bytes).into_owned();
        bytes.zeroize();
        SecretString(s)
    }

    /// The secret itself; keep the borrow short.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

/// Fills a fresh buffer from the operating system's random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)?;
    Ok(buf)
}
