//! A phone paired for push approval: its public key, the factor behind an approval.
#![forbid(unsafe_code)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::VerifyingKey;
use serde::{Deserialize, Serialize};

/// A phone paired for push approval: only its public key is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// The id the approval service gave it.
    pub id: String,
    /// b64u of the uncompressed SEC1 P-256 point (65 bytes).
    pub public_key: String,
    /// What the phone calls itself ("Pixel 8", "iPhone"), for `twofold devices`.
    #[serde(default)]
    pub name: String,
    /// Unix time of pairing.
    pub added: u64,
    /// Unix time of `twofold devices USER --remove`; a removed device approves nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<u64>,
}

impl Device {
    /// The device's public key, if `public_key` holds an uncompressed P-256 point.
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        parse_public_key(&self.public_key)
    }

    /// Checks what a record file says about the device.
    pub fn validate(&self) -> Result<(), String> {
        if self.verifying_key().is_none() {
            return Err(format!(
                "device {:?}: public_key is not a P-256 point",
                self.id
            ));
        }
        if self.id.is_empty() || self.id.chars().any(char::is_control) {
            return Err("device with an empty or malformed id".into());
        }
        Ok(())
    }
}

/// Parses b64u of an uncompressed SEC1 P-256 point (65 bytes, leading 0x04).
pub fn parse_public_key(b64u: &str) -> Option<VerifyingKey> {
    let bytes = URL_SAFE_NO_PAD.decode(b64u).ok()?;
    if bytes.len() != 65 || bytes[0] != 0x04 {
        return None;
    }
    VerifyingKey::from_sec1_bytes(&bytes).ok()
}
