//! One text-message code from start to finish, for sign-in, enrollment and `twofold phone`:
//! made and saved under the user's lock, sent after the lock is released (a slow gateway must
//! not hold up the user's other sign-ins), dropped again if the text did not go out; and a
//! typed code checked against it, a wrong one counted like any failed answer.
#![forbid(unsafe_code)]

use super::{PhoneNumber, SendError, Text};
use crate::config::Config;
use crate::factor::sms::{self as code, SendRefusal};
use crate::messages::Texts;
use crate::secret::SecretString;
use crate::signin::ratelimit;
use crate::store::{StoreError, UserRecord, UserStore};
use crate::username::UserName;

/// Why no code went out.
#[derive(Debug, thiserror::Error)]
pub enum Undelivered {
    #[error("locked out until {0}")]
    Locked(u64),
    #[error("send limit reached until {0}")]
    Limit(u64),
    #[error("gateway: {0}")]
    Gateway(SendError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no randomness from the operating system: {0}")]
    Random(getrandom::Error),
}

/// Sends a new code to `phone` for `user` (whose record is `record`), superseding any live
/// one; the message is in the language of `texts`.
pub fn send_code(
    store: &UserStore,
    user: &UserName,
    record: &UserRecord,
    config: &Config,
    phone: &PhoneNumber,
    now: u64,
    texts: Texts,
) -> Result<(), Undelivered> {
    let lock = store.lock(user)?;
    let mut state = store.load_state_for(user, &lock, Some(record))?;
    if ratelimit::is_locked(&state, now) {
        return Err(Undelivered::Locked(state.locked_until));
    }
    let mut random = crate::secret::random_bytes::<16>;
    let code = match code::issue(&mut state, &config.sms, now, &mut random) {
        Ok(Ok(code)) => code,
        Ok(Err(SendRefusal::LimitReached { next_at })) => return Err(Undelivered::Limit(next_at)),
        Err(e) => return Err(Undelivered::Random(e)),
    };
    // Saved before it is sent: a text for a code the state does not hold would be useless.
    store.save_state(user, &lock, &state)?;
    drop(lock);
    let minutes = config.sms.code_seconds.div_ceil(60).to_string();
    let message = SecretString::new(texts.fill(
        "sms.text",
        &[
            ("issuer", &config.issuer),
            ("minutes", &minutes),
            ("code", code.expose()),
        ],
    ));
    let text = Text {
        phone,
        code: &code,
        message: &message,
    };
    super::send(&config.sms, &text).map_err(|e| {
        forget(store, user, record);
        Undelivered::Gateway(e)
    })
}

/// Drops the live code (its text did not go out), so nothing can match it.
fn forget(store: &UserStore, user: &UserName, record: &UserRecord) {
    let Ok(lock) = store.lock(user) else {
        return;
    };
    if let Ok(mut state) = store.load_state_for(user, &lock, Some(record)) {
        code::forget(&mut state);
        let _ = store.save_state(user, &lock, &state);
    }
}

/// Checks a code typed to confirm a number: only the text-message code counts here (an app
/// code proves nothing about the phone). A wrong one is counted towards the lockout.
pub fn confirm_code(
    store: &UserStore,
    user: &UserName,
    record: &UserRecord,
    config: &Config,
    typed: &str,
    now: u64,
) -> Result<bool, StoreError> {
    let lock = store.lock(user)?;
    let mut state = store.load_state_for(user, &lock, Some(record))?;
    if ratelimit::is_locked(&state, now) {
        return Ok(false);
    }
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    let right = typed.len() == code::DIGITS && code::take(&mut state, &typed, now);
    if right {
        ratelimit::record_success(&mut state, now);
    } else {
        ratelimit::record_failure(&mut state, &config.rate_limit, now);
    }
    store.save_state(user, &lock, &state)?;
    Ok(right)
}
