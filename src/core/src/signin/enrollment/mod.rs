//! Enrollment at first sign-in, inside the PAM conversation: explanation, QR code and key,
//! a code from the app, then (with `[push]` configured) pairing the phone for push approval
//! (push.rs), then the recovery codes once. The record is saved only after a correct code.
#![forbid(unsafe_code)]

mod push;

pub use push::{PushSetup, TestResult};

use crate::clock::Clock;
use crate::config::Config;
use crate::conversation::Conversation;
use crate::enrollment::{self, EnrollOptions};
use crate::messages;
use crate::qr::{self, QrStyle};
use crate::store::UserStore;
use crate::username::UserName;

/// Codes a user may type before this sign-in gives up.
const ATTEMPTS: usize = 3;

/// How a guided enrollment ended.
#[derive(Debug)]
pub enum Outcome {
    /// Saved; the sign-in may complete. Whether a phone was paired too.
    Enrolled(PushSetup),
    /// Every typed code was wrong; nothing saved.
    WrongCodes,
    /// The user went away (no answer); nothing saved.
    NoAnswer,
    /// Another sign-in enrolled this user meanwhile; nothing overwritten.
    AlreadyEnrolled,
    /// Could not prepare or save.
    Failed(String),
}

/// Runs the enrollment dialogue for `user`.
pub fn run(
    conv: &mut dyn Conversation,
    store: &UserStore,
    user: &UserName,
    config: &Config,
    clock: &dyn Clock,
) -> Outcome {
    let pending = match enrollment::prepare(config, EnrollOptions::default(), clock) {
        Ok(pending) => pending,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let totp = &pending.record.totp;
    let uri = totp.otpauth_uri(&config.issuer, user.as_str());
    let style: QrStyle = config.enrollment.qr.parse().unwrap_or(QrStyle::Utf8);
    let drawing = match qr::render(&uri, style) {
        Ok(drawing) => drawing,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let key = messages::ENROLL_KEY
        .replace("{key}", &grouped(totp.secret.expose()))
        .replace("{digits}", &totp.digits.to_string());
    let mut prompt = format!(
        "{}{drawing}{key}{}",
        messages::ENROLL_INTRO,
        messages::ENROLL_PROMPT
    );
    let mut confirmed = None;
    for _ in 0..ATTEMPTS {
        let Ok(answer) = conv.ask_visible(&prompt) else {
            return Outcome::NoAnswer;
        };
        confirmed = enrollment::confirm(&pending, answer.expose(), config, clock);
        if confirmed.is_some() {
            break;
        }
        prompt = messages::ENROLL_RETRY.to_string();
    }
    let Some(step) = confirmed else {
        return Outcome::WrongCodes;
    };
    match enrollment::save_new(store, user, &pending, step) {
        Ok(true) => {}
        Ok(false) => return Outcome::AlreadyEnrolled,
        Err(e) => return Outcome::Failed(e.to_string()),
    }
    let push = push::offer(conv, store, user, config, clock);
    let codes: String = pending
        .recovery_codes
        .iter()
        .map(|c| format!("    {}\n", c.expose()))
        .collect();
    let _ = conv.ask_visible(&format!(
        "{}{}{codes}{}",
        push.status(),
        messages::ENROLL_DONE,
        messages::ENROLL_CONTINUE
    ));
    Outcome::Enrolled(push)
}

/// Groups a base32 key in fours for reading and typing.
pub fn grouped(key: &str) -> String {
    key.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
