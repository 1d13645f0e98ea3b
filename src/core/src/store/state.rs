//! The user's state: what changes on every sign-in.
#![forbid(unsafe_code)]

use crate::store::plain_toml;
use crate::store::record::syntax_error;
use serde::{Deserialize, Serialize};

/// `state/<name>.toml`: replay protection, failure counts, lockout, used recovery codes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserState {
    /// The TOTP time step of the last accepted code; only later steps are accepted.
    #[serde(default)]
    pub last_step: u64,
    /// Consecutive failed attempts.
    #[serde(default)]
    pub failures: u32,
    /// Unix time until which the second factor is locked (0: not locked).
    #[serde(default)]
    pub locked_until: u64,
    /// Ids of recovery codes already used.
    #[serde(default)]
    pub used_recovery: Vec<String>,
    /// Unix time of the last successful second factor.
    #[serde(default)]
    pub last_success: u64,
    /// Recent successes that let the same service and remote address skip the second factor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remembered: Vec<Remembered>,
    /// Push approval: no push before this Unix time (after a denial or a timeout).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub push_backoff_until: u64,
    /// Push approval: suspended until this Unix time (after "report: not me").
    #[serde(default, skip_serializing_if = "is_zero")]
    pub push_suspended_until: u64,
    /// The id of the last push challenge, and until when it is pending (at most one per user).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub push_challenge: String,
    /// When the last push challenge was made.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub push_challenge_at: u64,
    /// When the last push challenge expires: while a sign-in still holds the push lock before
    /// then, no second push starts.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub push_pending_until: u64,
    /// The id of the enrollment (record) this state belongs to; a state of another enrollment
    /// is read as fresh.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub enrollment: String,
    /// Text-message code: salted hash of the one live code (empty: none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sms_code_hash: String,
    /// Its salt (hex).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sms_code_salt: String,
    /// Unix time after which it no longer counts.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sms_code_until: u64,
    /// When text messages were sent, within the send window (for `[sms] max_sends`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sms_sends: Vec<u64>,
    /// Sequence number of the guard slot written together with this file: whichever of the two
    /// is newer holds the failure count, lockout and last step (see `store::guard`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub guard_seq: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// One remembered success: where from, and until when it counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remembered {
    pub service: String,
    pub rhost: String,
    /// Unix time after which it no longer counts.
    pub until: u64,
}

impl UserState {
    /// Parses a state file; an empty file is a fresh state (a crash cannot leave one, but an
    /// administrator's `: > file` may).
    pub fn parse(text: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(text).map_err(|_| "not UTF-8 text".to_string())?;
        plain_toml::from_str(text).map_err(|e| syntax_error(text, &e))
    }

    /// The file contents for this state.
    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string(self).map_err(|e| e.to_string())
    }
}
