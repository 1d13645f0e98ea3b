//! Enrollment at first sign-in, inside the PAM conversation: explanation, QR code and key,
//! a code from the app, then (with `[push]` configured) pairing the phone for push approval
//! (push.rs), then the recovery codes once. The record is saved only after a correct code.
#![forbid(unsafe_code)]

mod push;

pub use push::{PushSetup, TestResult, offer as offer_push};

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

/// How the QR code is drawn for this sign-in: `qr = "auto"` (the default) is the colour form
/// at a console, whose terminal shows colours (it scans on any background), and plain half
/// blocks over SSH, whose client shows escapes as text (the user can type L for a light
/// background).
pub fn style_for(config: &Config, console: bool) -> QrStyle {
    match config.enrollment.qr.as_str() {
        "auto" if console => QrStyle::Ansi,
        "auto" => QrStyle::Utf8,
        other => other.parse().unwrap_or(QrStyle::Utf8),
    }
}

/// Runs the enrollment dialogue for `user`; `console`: a local terminal, not SSH.
pub fn run(
    conv: &mut dyn Conversation,
    store: &UserStore,
    user: &UserName,
    config: &Config,
    clock: &dyn Clock,
    console: bool,
    fleet: Option<&super::fleet::FleetSignIn>,
) -> Outcome {
    let pending = match enrollment::prepare(config, EnrollOptions::default(), clock) {
        Ok(pending) => pending,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let totp = &pending.record.totp;
    let uri = totp.otpauth_uri(&config.issuer, user.as_str());
    let mut style = style_for(config, console);
    let key = KeyText {
        grouped: grouped(totp.secret.expose()),
        digits: totp.digits,
    };
    let mut prompt = match screen(&uri, style, &key) {
        Ok(prompt) => prompt,
        Err(e) => return Outcome::Failed(e),
    };
    let mut confirmed = None;
    let mut attempts = 0;
    // Redrawing for the other background is not an attempt; bounded all the same.
    for _ in 0..ATTEMPTS + 6 {
        let Ok(answer) = conv.ask_visible(&prompt) else {
            return Outcome::NoAnswer;
        };
        if let Some(other) = redraw(style, answer.expose()) {
            style = other;
            prompt = match screen(&uri, style, &key) {
                Ok(prompt) => prompt,
                Err(e) => return Outcome::Failed(e),
            };
            continue;
        }
        confirmed = enrollment::confirm(&pending, answer.expose(), config, clock);
        attempts += 1;
        if confirmed.is_some() || attempts == ATTEMPTS {
            break;
        }
        // The key is the same for every attempt of this sign-in: the app's entry stays valid.
        prompt = messages::ENROLL_RETRY.to_string();
    }
    let Some(step) = confirmed else {
        return Outcome::WrongCodes;
    };
    let saved = match fleet {
        Some(fleet) => fleet.publish_new(store, user, &enrollment::committed(&pending, Some(step))),
        None => enrollment::save_new(store, user, &pending, step).map_err(|e| e.to_string()),
    };
    match saved {
        Ok(true) => {}
        Ok(false) => return Outcome::AlreadyEnrolled,
        Err(e) => return Outcome::Failed(e),
    }
    let push = push::offer(conv, store, user, config, clock, console, fleet);
    let codes: String = pending
        .recovery_codes
        .iter()
        .map(|c| format!("    {}\n", c.expose()))
        .collect();
    let _ = conv.ask_visible(&format!(
        "{}{}{codes}{}",
        messages::wrap_prompt(push.status()),
        messages::ENROLL_DONE,
        messages::ENROLL_CONTINUE
    ));
    Outcome::Enrolled(push)
}

/// The key in text under the QR code.
struct KeyText {
    grouped: String,
    digits: u8,
}

impl KeyText {
    /// One line for a 6-digit key that fits 78 columns (the usual 160-bit key): a version-4
    /// QR code takes 21 rows over SSH and at a console alike, which leaves three lines of 24
    /// for the first line, the key and the question. Two lines otherwise, with the digits.
    fn for_screen(&self) -> String {
        let one = messages::ENROLL_KEY_ONE_LINE.replace("{key}", &self.grouped);
        if self.digits == 6 && one.trim_end().chars().count() <= messages::WIDTH {
            return one;
        }
        messages::ENROLL_KEY
            .replace("{key}", &self.grouped)
            .replace("{digits}", &self.digits.to_string())
    }
}

/// The first enrollment prompt: a line, the QR code, the key, the question. Fits 80x24 for
/// the QR code of a short account name at version 4 or 5.
fn screen(uri: &str, style: QrStyle, key: &KeyText) -> Result<String, String> {
    let drawing = qr::render(uri, style).map_err(|e| e.to_string())?;
    let key = key.for_screen();
    let question = match style {
        QrStyle::Utf8 => messages::ENROLL_PROMPT,
        QrStyle::Light => messages::ENROLL_PROMPT_LIGHT,
        QrStyle::Ansi | QrStyle::None => messages::ENROLL_PROMPT_ANY,
    };
    Ok(format!(
        "{}{drawing}{key}{question}",
        messages::ENROLL_INTRO
    ))
}

/// "L" or "D" typed at a plain half-block code: the style to redraw it in.
pub(crate) fn redraw(style: QrStyle, answer: &str) -> Option<QrStyle> {
    match (style, answer.trim().to_ascii_lowercase().as_str()) {
        (QrStyle::Utf8, "l" | "light") => Some(QrStyle::Light),
        (QrStyle::Light, "d" | "dark") => Some(QrStyle::Utf8),
        _ => None,
    }
}

/// Groups a base32 key in fours for reading and typing.
pub fn grouped(key: &str) -> String {
    key.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::factor::totp::{Algorithm, TotpParams, generate_secret};

    #[test]
    fn the_first_screen_fits_80x24_for_any_key_of_a_short_name() {
        // The QR code's version depends on the key (how its characters split into encoding
        // segments): many random keys cover both the version-3 and the version-4 case.
        let mut rows_seen = std::collections::BTreeSet::new();
        for _ in 0..64 {
            let totp = TotpParams {
                secret: generate_secret(Algorithm::SHA1).unwrap(),
                algorithm: Algorithm::SHA1,
                digits: 6,
                period: 30,
                skew: None,
            };
            let uri = totp.otpauth_uri("twofold-test", "tfnarrow");
            let key = KeyText {
                grouped: grouped(totp.secret.expose()),
                digits: 6,
            };
            for style in [QrStyle::Utf8, QrStyle::Light, QrStyle::Ansi] {
                let text = screen(&uri, style, &key).unwrap();
                let lines: Vec<&str> = text.split('\n').collect();
                rows_seen.insert(lines.len());
                assert!(
                    lines.len() <= 24,
                    "{style:?}: {} lines\n{text}",
                    lines.len()
                );
                assert!(lines[0].starts_with("More information required"));
                assert!(
                    lines.iter().any(|l| l.contains(&key.grouped)),
                    "the key is on the screen"
                );
            }
        }
        assert!(
            rows_seen.len() > 1,
            "both QR sizes were drawn: {rows_seen:?}"
        );
    }
}
