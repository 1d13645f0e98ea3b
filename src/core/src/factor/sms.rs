//! Text-message codes: six random digits, kept in the user's state only as a salted hash, one
//! live code at a time (a new one supersedes it), valid `[sms] code_seconds`, usable once, and
//! at most `[sms] max_sends` sent per `send_window_seconds`. Pure: state, limits, time and
//! randomness in; the code to send (or why not) out. Delivery is `crate::sms`'s.
#![forbid(unsafe_code)]

use super::recovery::{constant_time_eq, hash, unhex};
use crate::encoding::hex;
use crate::secret::SecretString;
use crate::sms::SmsConfig;
use crate::store::UserState;

/// Digits in a text-message code.
pub const DIGITS: usize = 6;

/// Why no code may be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendRefusal {
    /// `max_sends` reached; the next send is allowed at this Unix time.
    LimitReached { next_at: u64 },
}

/// Makes a new code for the user, records its hash and the send in `state` (superseding any
/// live code), and returns it to be sent. `random` gives the digits (the OS in production).
pub fn issue(
    state: &mut UserState,
    config: &SmsConfig,
    now: u64,
    random: &mut dyn FnMut() -> Result<[u8; 16], getrandom::Error>,
) -> Result<Result<SecretString, SendRefusal>, getrandom::Error> {
    let window_start = now.saturating_sub(config.send_window_seconds);
    state.sms_sends.retain(|&t| t > window_start && t <= now);
    if state.sms_sends.len() >= config.max_sends as usize {
        let oldest = state.sms_sends.iter().copied().min().unwrap_or(now);
        let next_at = oldest.saturating_add(config.send_window_seconds);
        return Ok(Err(SendRefusal::LimitReached { next_at }));
    }
    let bytes = random()?;
    // 8 bytes as a number modulo 10^6: the bias (2^64 mod 10^6 out of 2^64) is negligible.
    let mut n = [0u8; 8];
    n.copy_from_slice(&bytes[..8]);
    let code = format!("{:06}", u64::from_le_bytes(n) % 1_000_000);
    let salt = &bytes[8..];
    state.sms_code_salt = hex(salt);
    state.sms_code_hash = hash(salt, &code);
    state.sms_code_until = now.saturating_add(config.code_seconds);
    state.sms_sends.push(now);
    Ok(Ok(SecretString::new(code)))
}

/// Whether a code is live in `state` at `now`.
pub fn is_live(state: &UserState, now: u64) -> bool {
    !state.sms_code_hash.is_empty() && now < state.sms_code_until
}

/// Checks `code` (digits only) against the live code; on a match the code is used up. An
/// expired code is forgotten here too, so it can never match later.
pub fn take(state: &mut UserState, code: &str, now: u64) -> bool {
    if !is_live(state, now) {
        forget(state);
        return false;
    }
    let Some(salt) = unhex(&state.sms_code_salt) else {
        forget(state);
        return false;
    };
    let matches = constant_time_eq(hash(&salt, code).as_bytes(), state.sms_code_hash.as_bytes());
    if matches {
        forget(state);
    }
    matches
}

/// Removes the live code (used, expired, or its text message could not be sent).
pub fn forget(state: &mut UserState) {
    state.sms_code_hash.clear();
    state.sms_code_salt.clear();
    state.sms_code_until = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn config() -> SmsConfig {
        SmsConfig {
            max_sends: 3,
            send_window_seconds: 600,
            code_seconds: 300,
            ..SmsConfig::default()
        }
    }

    fn os() -> impl FnMut() -> Result<[u8; 16], getrandom::Error> {
        crate::secret::random_bytes::<16>
    }

    fn issue_ok(state: &mut UserState, now: u64) -> String {
        let code = issue(state, &config(), now, &mut os()).unwrap().unwrap();
        code.expose().to_string()
    }

    #[test]
    fn the_right_code_works_once_and_is_stored_only_hashed() {
        let mut state = UserState::default();
        let code = issue_ok(&mut state, NOW);
        assert_eq!(code.len(), DIGITS);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        let text = state.to_toml().unwrap();
        assert!(!text.contains(&code), "{text}");
        assert!(take(&mut state, &code, NOW + 10));
        assert!(!take(&mut state, &code, NOW + 11), "used up");
    }

    #[test]
    fn wrong_expired_and_superseded_codes_fail() {
        let mut state = UserState::default();
        let code = issue_ok(&mut state, NOW);
        let wrong = if code == "000000" { "000001" } else { "000000" };
        assert!(!take(&mut state, wrong, NOW + 1));
        assert!(is_live(&state, NOW + 1), "a wrong code leaves the live one");
        assert!(
            !take(&mut state, &code, NOW + 300),
            "expired at code_seconds"
        );
        let first = issue_ok(&mut state, NOW + 400);
        let second = issue_ok(&mut state, NOW + 401);
        if first != second {
            assert!(!take(&mut state, &first, NOW + 402), "superseded");
        }
        assert!(take(&mut state, &second, NOW + 402));
    }

    #[test]
    fn the_send_limit_holds_within_the_window_and_frees_up_after_it() {
        let mut state = UserState::default();
        for i in 0..3 {
            issue_ok(&mut state, NOW + i);
        }
        let refused = issue(&mut state, &config(), NOW + 100, &mut os()).unwrap();
        assert_eq!(
            refused.err(),
            Some(SendRefusal::LimitReached { next_at: NOW + 600 })
        );
        assert!(
            issue(&mut state, &config(), NOW + 600, &mut os())
                .unwrap()
                .is_ok()
        );
    }
}
