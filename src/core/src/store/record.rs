//! The user's record: what enrollment writes and sign-ins only read.
#![forbid(unsafe_code)]

use crate::factor::device::Device;
use crate::factor::recovery::RecoveryHash;
use crate::factor::totp::TotpParams;
use crate::store::plain_toml;
use serde::{Deserialize, Serialize};

/// Record format version written by this build.
pub const RECORD_VERSION: u32 = 1;

/// `users/<name>.toml`: one enrollment, written by one rename — the TOTP key and parameters,
/// the recovery code hashes, the confirmed step and paired push devices — so a crash or a
/// failed write leaves the old enrollment or the new one, never a mix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRecord {
    /// Format version; records from a newer twofold are refused rather than misread.
    pub version: u32,
    /// Unix time of enrollment.
    pub created: u64,
    /// This enrollment's random id: state and guard files of an earlier enrollment (other id)
    /// are not carried over. Empty in records written before ids existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The step of the code that confirmed the enrollment: it and earlier steps are refused,
    /// even if the state file written after the record was lost.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub confirmed_step: u64,
    /// Time-based one-time password parameters and key.
    pub totp: TotpParams,
    /// Devices paired for push approval (`[[devices]]`); older records have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
    /// The phone number for text-message codes, once confirmed (`[phone]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
    /// The method a sign-in starts with (`"push"`, `"app"` or `"sms"`); none: push if a phone
    /// is paired, else the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_method: Option<crate::signin::choice::Choice>,
    /// Salted hashes of the recovery codes (`[[recovery]]`). `None` in the older layout, where
    /// they live in `recovery/<name>.toml`; the next recovery-code renewal moves them here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Vec<RecoveryHash>>,
    /// The user's language for prompts and messages ("nl"); `None`: the configuration's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// True when [`UserRecord::parse_without_recovery`] left the recovery hashes in the file;
    /// such a record is for reading only ([`crate::store::UserStore::save_record`] refuses it).
    #[serde(skip)]
    pub recovery_deferred: bool,
}

/// A confirmed phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phone {
    /// E.164 with the plus: `+31612345678`.
    pub number: String,
    /// Unix time it was confirmed.
    pub verified: u64,
    /// `"code"` (a code sent to it was typed back) or `"admin"` (`twofold phone --verified`).
    pub verified_by: String,
}

/// Where the recovery code hashes begin in a record file: [`UserRecord::to_toml`] writes them
/// last, as `[[recovery]]` tables.
const RECOVERY_TABLES: &str = "\n[[recovery]]\n";
/// The last line [`UserRecord::to_toml`] writes: a file without it (cut short, or from an
/// older build) is parsed whole, so a damaged record is still refused as malformed.
const END_LINE: &str = "\n# end of record\n";

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// `recovery/<name>.toml` (older layout): salted hashes of the user's recovery codes.
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
        toml::from_str(text).map_err(|e| syntax_error(text, &e))
    }
}

impl UserRecord {
    /// Parses and validates a record file's contents.
    pub fn parse(text: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(text).map_err(|_| "not UTF-8 text".to_string())?;
        if text.trim().is_empty() {
            return Err("empty file".into());
        }
        let record: UserRecord = plain_toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
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
        if let Some(phone) = &record.phone {
            crate::sms::PhoneNumber::from_stored(&phone.number)
                .map_err(|e| format!("phone.number: {e}"))?;
        }
        Ok(record)
    }

    /// Parses what a sign-in needs: everything but the recovery code hashes — ten salted
    /// hashes, most of the file and of the parsing work, needed only when a recovery code is
    /// typed ([`crate::store::UserStore::recovery_of`] reads them then). A head that does not
    /// parse on its own (a hand-edited file, a string spanning the marker) means the whole file
    /// is parsed, so the result is never more than the full parse would give.
    pub fn parse_without_recovery(text: &[u8]) -> Result<Self, String> {
        let Some(at) = std::str::from_utf8(text)
            .ok()
            .filter(|t| t.ends_with(END_LINE))
            .and_then(|t| find(t.as_bytes(), RECOVERY_TABLES.as_bytes()))
        else {
            return Self::parse(text);
        };
        match Self::parse(&text[..=at]) {
            Ok(mut record) if record.recovery.is_none() => {
                record.recovery_deferred = true;
                Ok(record)
            }
            _ => Self::parse(text),
        }
    }

    /// Devices that may approve (paired and not removed).
    pub fn active_devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.iter().filter(|d| d.removed.is_none())
    }

    /// The confirmed phone number, if any.
    pub fn phone_number(&self) -> Option<crate::sms::PhoneNumber> {
        let phone = self.phone.as_ref()?;
        crate::sms::PhoneNumber::from_stored(&phone.number).ok()
    }

    /// The file contents for this record.
    pub fn to_toml(&self) -> Result<String, String> {
        let mut text = toml::to_string(self).map_err(|e| e.to_string())?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&END_LINE[1..]);
        Ok(text)
    }
}

/// Where `needle` first occurs in `haystack`: a plain scan, cheaper than `str::find`'s set-up
/// for a needle found within the first few hundred bytes.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    (0..haystack.len())
        .find(|&i| haystack[i] == first && haystack.get(i + 1..i + needle.len()) == Some(rest))
}

/// Collapses a multi-line parser message into one log-friendly line.
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Describes a parse error of a secret-bearing file without any of its content: the TOML
/// parser's message quotes the offending line (a record's is the key itself), so only where
/// it is goes into a log line.
pub fn syntax_error(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(
                "not a valid file of this kind (TOML syntax or field error at line {line}, column {column})"
            )
        }
        None => "not a valid file of this kind (TOML syntax or field error)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_record_error_never_quotes_the_file() {
        let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
        let text = format!("version = 1\ncreated = 0\n[totp]\nsecret = \"{secret}\ndigits = 6\n");
        let e = UserRecord::parse(text.as_bytes()).err().unwrap_or_default();
        assert!(e.contains("line 4"), "{e}");
        assert!(!e.contains(secret) && !e.contains("JBSW"), "{e}");
        let typed = format!("version = 1\ncreated = \"{secret}\"\n");
        let e = UserRecord::parse(typed.as_bytes())
            .err()
            .unwrap_or_default();
        assert!(!e.contains("JBSW"), "{e}");
    }

    fn record_with(name: &str) -> UserRecord {
        let (_, hashes) = crate::factor::recovery::generate(10).unwrap();
        let device = crate::push::device::TestDevice::new("dev-1").unwrap();
        let d = Device {
            id: "dev-1".into(),
            public_key: device.public_key_b64u(),
            name: name.to_string(),
            added: 1,
            removed: None,
        };
        UserRecord {
            version: RECORD_VERSION,
            created: 1,
            id: "0123456789abcdef".into(),
            confirmed_step: 7,
            totp: TotpParams {
                secret: crate::secret::SecretString::new("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into()),
                algorithm: crate::factor::totp::Algorithm::SHA1,
                digits: 6,
                period: 30,
                skew: None,
            },
            devices: vec![d],
            phone: None,
            default_method: None,
            recovery: Some(hashes),
            language: None,
            recovery_deferred: false,
        }
    }

    #[test]
    fn a_sign_in_reads_everything_but_the_recovery_hashes() {
        let record = record_with("Pixel");
        let text = record.to_toml().unwrap();
        let full = UserRecord::parse(text.as_bytes()).unwrap();
        let quick = UserRecord::parse_without_recovery(text.as_bytes()).unwrap();
        assert_eq!(full.recovery.as_ref().map(Vec::len), Some(10));
        assert!(!full.recovery_deferred);
        assert!(quick.recovery.is_none() && quick.recovery_deferred);
        assert_eq!(quick.id, full.id);
        assert_eq!(quick.confirmed_step, full.confirmed_step);
        assert_eq!(quick.totp.secret.expose(), full.totp.secret.expose());
        assert_eq!(quick.devices, full.devices);
    }

    #[test]
    fn the_recovery_tables_are_found_where_str_find_finds_them() {
        for (haystack, needle) in [
            ("ab\n[[recovery]]\nx", RECOVERY_TABLES),
            ("\n[[recovery]]\n", RECOVERY_TABLES),
            ("\n[[recovery]]", RECOVERY_TABLES),
            ("", RECOVERY_TABLES),
            ("aaab", "ab"),
            ("abc", ""),
        ] {
            assert_eq!(
                find(haystack.as_bytes(), needle.as_bytes()),
                haystack.find(needle).filter(|_| !needle.is_empty()),
                "{haystack:?} {needle:?}"
            );
        }
    }

    #[test]
    fn a_record_cut_short_is_read_whole_and_refused() {
        let text = record_with("Pixel").to_toml().unwrap();
        let cut = &text.as_bytes()[..text.len() - 40];
        assert!(UserRecord::parse(cut).is_err());
        assert!(UserRecord::parse_without_recovery(cut).is_err());
    }

    #[test]
    fn a_record_without_recovery_tables_parses_whole() {
        let mut record = record_with("Pixel");
        record.recovery = None;
        let text = record.to_toml().unwrap();
        let quick = UserRecord::parse_without_recovery(text.as_bytes()).unwrap();
        assert!(!quick.recovery_deferred);
        assert!(quick.recovery.is_none());
    }

    #[test]
    fn a_device_name_holding_the_marker_does_not_change_what_is_read() {
        let record = record_with("evil\n[[recovery]]\nid = \"x\"");
        let text = record.to_toml().unwrap();
        let full = UserRecord::parse(text.as_bytes()).unwrap();
        let quick = UserRecord::parse_without_recovery(text.as_bytes()).unwrap();
        assert_eq!(quick.devices, full.devices);
        assert_eq!(quick.devices[0].name, "evil\n[[recovery]]\nid = \"x\"");
        assert_eq!(
            quick.recovery.as_ref().map(Vec::len).unwrap_or(10),
            10,
            "either deferred or the whole set"
        );
    }
}
