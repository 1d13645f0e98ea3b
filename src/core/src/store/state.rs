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

    /// The file contents for this state: what `toml::to_string` writes (written directly when
    /// the state is plain, see [`plain_toml::Writer`]).
    pub fn to_toml(&self) -> Result<String, String> {
        if let Some(text) = self.plain_toml() {
            return Ok(text);
        }
        toml::to_string(self).map_err(|e| e.to_string())
    }

    /// The state written field by field, in the order and with the omissions of the serde
    /// attributes above; `None` when something in it is not plain (remembered successes are
    /// tables: left to `toml::to_string`).
    fn plain_toml(&self) -> Option<String> {
        // Every field named: a new one does not compile until it is written here too.
        let UserState {
            last_step,
            failures,
            locked_until,
            used_recovery,
            last_success,
            remembered,
            push_backoff_until,
            push_suspended_until,
            push_challenge,
            push_challenge_at,
            push_pending_until,
            enrollment,
            sms_code_hash,
            sms_code_salt,
            sms_code_until,
            sms_sends,
            guard_seq,
        } = self;
        if !remembered.is_empty() {
            return None;
        }
        let mut w = plain_toml::Writer::new();
        w.int("last_step", *last_step)
            .int("failures", u64::from(*failures))
            .int("locked_until", *locked_until)
            .strings("used_recovery", used_recovery)
            .int("last_success", *last_success);
        let numbers = [
            ("push_backoff_until", *push_backoff_until),
            ("push_suspended_until", *push_suspended_until),
        ];
        for (key, n) in numbers {
            if n != 0 {
                w.int(key, n);
            }
        }
        if !push_challenge.is_empty() {
            w.string("push_challenge", push_challenge);
        }
        for (key, n) in [
            ("push_challenge_at", *push_challenge_at),
            ("push_pending_until", *push_pending_until),
        ] {
            if n != 0 {
                w.int(key, n);
            }
        }
        for (key, text) in [
            ("enrollment", enrollment),
            ("sms_code_hash", sms_code_hash),
            ("sms_code_salt", sms_code_salt),
        ] {
            if !text.is_empty() {
                w.string(key, text);
            }
        }
        if *sms_code_until != 0 {
            w.int("sms_code_until", *sms_code_until);
        }
        if !sms_sends.is_empty() {
            w.ints("sms_sends", sms_sends);
        }
        if *guard_seq != 0 {
            w.int("guard_seq", *guard_seq);
        }
        w.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state with every field set (named one by one: a new field must be added here).
    fn busy() -> UserState {
        UserState {
            last_step: 59_871_563,
            failures: 2,
            locked_until: 1_796_146_999,
            used_recovery: vec!["104bc82499e7bffe".into(), "f3313a73270a65c9".into()],
            last_success: 1_796_146_913,
            remembered: Vec::new(),
            push_backoff_until: 5,
            push_suspended_until: 6,
            push_challenge: "c-0123456789abcdef".into(),
            push_challenge_at: 7,
            push_pending_until: 8,
            enrollment: "6c9ba083947b6a92".into(),
            sms_code_hash: "d78cfb0362d08551".into(),
            sms_code_salt: "54480fb8097b0a71".into(),
            sms_code_until: 9,
            sms_sends: vec![1, 2, 3],
            guard_seq: 10,
        }
    }

    #[test]
    fn the_state_file_is_written_as_the_toml_serializer_writes_it() {
        let fresh = UserState::default();
        let enrolled = UserState {
            last_step: 1,
            enrollment: "6c9ba083947b6a92".into(),
            guard_seq: 1,
            ..UserState::default()
        };
        for state in [fresh, enrolled, busy()] {
            let written = state.plain_toml().expect("plain");
            assert_eq!(Ok(&written), toml::to_string(&state).as_ref(), "{state:?}");
            assert_eq!(UserState::parse(written.as_bytes()), Ok(state));
        }
    }

    #[test]
    fn a_state_that_is_not_plain_is_written_by_the_serializer() {
        let remembered = UserState {
            remembered: vec![Remembered {
                service: "sshd".into(),
                rhost: "192.0.2.1".into(),
                until: 3,
            }],
            ..busy()
        };
        let quoted = UserState {
            push_challenge: "a\"b".into(),
            ..busy()
        };
        let huge = UserState {
            last_step: u64::MAX,
            ..busy()
        };
        for state in [&remembered, &quoted, &huge] {
            assert_eq!(state.plain_toml(), None);
            assert_eq!(
                state.to_toml().ok(),
                toml::to_string(state).ok(),
                "{state:?}"
            );
        }
        let written = remembered.to_toml().expect("written");
        assert_eq!(UserState::parse(written.as_bytes()), Ok(remembered));
    }
}
