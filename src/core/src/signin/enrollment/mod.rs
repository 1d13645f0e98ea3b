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
    match enrollment::save_new(store, user, &pending, step) {
        Ok(true) => {}
        Ok(false) => return Outcome::AlreadyEnrolled,
        Err(e) => return Outcome::Failed(e.to_string()),
    }
    let push = push::offer(conv, store, user, config, clock, console);
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
    /// Two lines under a plain half-block code (which a light terminal shows inverted); one
    /// under the colour form, whose quiet zone takes two lines of its own, so that a
    /// version-4 code still leaves the first line on an 80x24 console.
    fn for_style(&self, style: QrStyle) -> String {
        let text = match style {
            QrStyle::Ansi => messages::ENROLL_KEY_ONE_LINE,
            _ => messages::ENROLL_KEY,
        };
        text.replace("{key}", &self.grouped)
            .replace("{digits}", &self.digits.to_string())
    }
}

/// The first enrollment prompt: a line, the QR code, the key, the question. Fits 80x24 for
/// the QR code of a short account name at version 4 or 5.
fn screen(uri: &str, style: QrStyle, key: &KeyText) -> Result<String, String> {
    let drawing = qr::render(uri, style).map_err(|e| e.to_string())?;
    let key = key.for_style(style);
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
