//! The user's record: what enrollment writes and sign-ins only read.
#![forbid(unsafe_code)]

use crate::factor::device::Device;
use crate::factor::recovery::RecoveryHash;
use crate::factor::totp::TotpParams;
use serde::{Deserialize, Serialize};

/// Record format version written by this build.
pub const RECORD_VERSION: u32 = 1;

/// `users/<name>.toml`: the TOTP key and parameters, and paired push devices. Recovery code
/// hashes live apart (`recovery/<name>.toml`), read only when a recovery code is typed, so the
/// everyday sign-in parses a few lines instead of ten hashes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRecord {
    /// Format version; records from a newer twofold are refused rather than misread.
    pub version: u32,
    /// Unix time of enrollment.
    pub created: u64,
    /// Time-based one-time password parameters and key.
    pub totp: TotpParams,
    /// Devices paired for push approval (`[[devices]]`); older records have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
}

/// `recovery/<name>.toml`: salted hashes of the user's recovery codes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryFile {
    #[serde(default)]
    pub code: Vec<RecoveryHash>,
}

impl RecoveryFile {
    /// Parses a recovery file's contents.
    pub fn parse(text: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(text).map_err(|_| "not UTF-8 text".to_string())?;
        toml::from_str(text).map_err(|e| one_line(&e.to_string()))
    }
}

impl UserRecord {
    /// Parses and validates a record file's contents.
    pub fn parse(text: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(text).map_err(|_| "not UTF-8 text".to_string())?;
        if text.trim().is_empty() {
            return Err("empty file".into());
        }
        let record: UserRecord = toml::from_str(text).map_err(|e| one_line(&e.to_string()))?;
        if record.version != RECORD_VERSION {
            return Err(format!(
                "record version {} is not supported (expected {RECORD_VERSION})",
                record.version
            ));
        }
        record.totp.validate()?;
        for device in &record.devices {
            device.validate()?;
        }
        Ok(record)
    }

    /// Devices that may approve (paired and not removed).
    pub fn active_devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.iter().filter(|d| d.removed.is_none())
    }

    /// The file contents for this record.
    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string(self).map_err(|e| e.to_string())
    }
}

/// Collapses a multi-line parser message into one log-friendly line.
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
