//! Enrollment at first sign-in, inside the PAM conversation: explanation, QR code and key,
//! a code from the app, then (with `[push]` configured) pairing the phone for push approval
//! (push.rs), then the recovery codes once. The record is saved only after a correct code.
#![forbid(unsafe_code)]

mod phone;
mod push;

pub use phone::PhoneSetup;
pub use push::{Place, PushSetup, TestResult, offer as offer_push};

use crate::clock::Clock;
use crate::config::Config;
use crate::conversation::Conversation;
use crate::enrollment::{self, EnrollOptions};
use crate::messages::{self, Texts};
use crate::qr::{self, QrStyle};
use crate::signin::choice::Choice;
use crate::store::UserStore;
use crate::username::UserName;

/// Codes a user may type before this sign-in gives up.
const ATTEMPTS: usize = 3;

/// How a guided enrollment ended.
#[derive(Debug)]
pub enum Outcome {
    /// Saved; the sign-in may complete. Whether a phone was paired and a number confirmed too.
    Enrolled(PushSetup, PhoneSetup),
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

/// How one guided enrollment runs.
pub struct Setting<'a> {
    /// A local terminal, not SSH.
    pub console: bool,
    /// The language of its texts; the user's choice (`[enrollment] ask_language`) changes it.
    pub texts: &'a mut Texts,
    /// The enrollment this one replaces (a temporary access pass at a sign-in of an enrolled
    /// user): replaced only once the new app's code is confirmed, its language kept.
    pub replaces: Option<&'a crate::store::UserRecord>,
    /// Fleet mode: the record is published to the fleet's service (`None` on a single host).
    pub fleet: Option<&'a super::fleet::FleetSignIn>,
}

/// Runs the enrollment dialogue for `user`.
pub fn run(
    conv: &mut dyn Conversation,
    store: &UserStore,
    user: &UserName,
    config: &Config,
    clock: &dyn Clock,
    setting: Setting<'_>,
) -> Outcome {
    let Setting {
        console,
        texts,
        replaces,
        fleet,
    } = setting;
    let mut pending = match enrollment::prepare(config, EnrollOptions::default(), clock) {
        Ok(pending) => pending,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    pending.record.language = match replaces {
        Some(old) => old.language.clone(),
        None if config.enrollment.ask_language => match choose_language(conv, *texts) {
            Some(chosen) => {
                *texts = chosen;
                Some(chosen.language().to_string())
            }
            None => return Outcome::NoAnswer,
        },
        None => None,
    };
    let texts = *texts;
    let totp = &pending.record.totp;
    let uri = totp.otpauth_uri(&config.issuer, user.as_str());
    let mut style = style_for(config, console);
    let key = KeyText {
        grouped: grouped(totp.secret.expose()),
        digits: totp.digits,
    };
    let mut prompt = match screen(&uri, style, &key, texts) {
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
            prompt = match screen(&uri, style, &key, texts) {
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
        prompt = texts.get("enroll.retry").to_string();
    }
    let Some(step) = confirmed else {
        return Outcome::WrongCodes;
    };
    let saved = match (fleet, replaces) {
        (Some(fleet), None) => {
            fleet.publish_new(store, user, &enrollment::committed(&pending, Some(step)))
        }
        // A pass replaces the enrollment: saved here, then published over the version this
        // host verified (compare-and-swap; on a conflict the service's record comes back).
        (Some(fleet), Some(_)) => enrollment::save(store, user, &pending, Some(step))
            .map_err(|e| e.to_string())
            .and_then(|()| fleet.publish_cached(store, user).map(|_| true)),
        (None, Some(_)) => enrollment::save(store, user, &pending, Some(step))
            .map(|()| true)
            .map_err(|e| e.to_string()),
        (None, None) => {
            enrollment::save_new(store, user, &pending, step).map_err(|e| e.to_string())
        }
    };
    match saved {
        Ok(true) => {}
        Ok(false) => return Outcome::AlreadyEnrolled,
        Err(e) => return Outcome::Failed(e),
    }
    let place = push::Place {
        console,
        texts,
        fleet,
    };
    let push = push::offer(conv, store, user, config, clock, place);
    let phone = phone::offer(conv, store, user, config, clock, texts);
    let paired = matches!(push, PushSetup::Paired(TestResult::Approved));
    let verified = matches!(phone, PhoneSetup::Verified(_));
    let default = phone::choose_default(conv, store, user, paired, verified, texts);
    let mut status = format!("{}{}", push.status(texts), phone.status(texts));
    if let Some(default) = default {
        let method = match (default, &phone) {
            (Choice::App, _) => texts.get("sms.method_app").to_string(),
            (Choice::Push, _) => texts.get("sms.method_push").to_string(),
            (Choice::Sms, PhoneSetup::Verified(masked)) => {
                texts.fill("sms.method_sms", &[("phone", masked)])
            }
            (Choice::Sms, _) => texts.fill("sms.method_sms", &[("phone", "")]),
        };
        status.push_str(&texts.fill("sms.default_done", &[("method", &method)]));
    }
    // The number and the default method went into this host's record: the fleet's copy too.
    if let Some(fleet) = fleet
        && (verified || default.is_some())
        && fleet.publish_cached(store, user).is_err()
    {
        status.push_str(texts.get("fleet.not_published"));
    }
    let codes: String = pending
        .recovery_codes
        .iter()
        .map(|c| format!("    {}\n", c.expose()))
        .collect();
    let _ = conv.ask_visible(&format!(
        "{}{}{codes}{}",
        messages::wrap_prompt(&status),
        texts.get("enroll.done"),
        texts.get("enroll.continue")
    ));
    Outcome::Enrolled(push, phone)
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
    fn for_screen(&self, texts: Texts) -> String {
        let one = texts.fill("enroll.key_one_line", &[("key", &self.grouped)]);
        if self.digits == 6 && one.trim_end().chars().count() <= messages::WIDTH {
            return one;
        }
        let digits = self.digits.to_string();
        texts.fill("enroll.key", &[("key", &self.grouped), ("digits", &digits)])
    }
}

/// The first enrollment prompt: a line, the QR code, the key, the question. Fits 80x24 for
/// the QR code of a short account name at version 4 or 5.
fn screen(uri: &str, style: QrStyle, key: &KeyText, texts: Texts) -> Result<String, String> {
    let drawing = qr::render(uri, style).map_err(|e| e.to_string())?;
    let key = key.for_screen(texts);
    let question = match style {
        QrStyle::Utf8 => texts.get("enroll.prompt"),
        QrStyle::Light => texts.get("enroll.prompt_light"),
        QrStyle::Ansi | QrStyle::None => texts.get("enroll.prompt_any"),
    };
    Ok(format!(
        "{}{drawing}{key}{question}",
        texts.get("enroll.intro")
    ))
}

/// "Language / Taal: [en] nl": one short line before the QR code; Enter keeps the language
/// in brackets (the configuration's). `None` when the user went away.
fn choose_language(conv: &mut dyn Conversation, current: Texts) -> Option<Texts> {
    let choices: Vec<String> = messages::languages()
        .map(|l| match l == current.language() {
            true => format!("[{l}]"),
            false => l.to_string(),
        })
        .collect();
    let prompt = format!("Language / Taal: {} ", choices.join(" "));
    // A typo asks again, a few times; then the language in brackets stands.
    for _ in 0..3 {
        let answer = conv.ask_visible(&prompt).ok()?;
        let typed = answer.expose().trim();
        if typed.is_empty() {
            return Some(current);
        }
        if messages::is_known(typed) {
            return Some(Texts::for_language(typed));
        }
    }
    Some(current)
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
            for (style, language) in [QrStyle::Utf8, QrStyle::Light, QrStyle::Ansi]
                .into_iter()
                .flat_map(|s| messages::languages().map(move |l| (s, l)))
            {
                let texts = Texts::for_language(language);
                let text = screen(&uri, style, &key, texts).unwrap();
                let lines: Vec<&str> = text.split('\n').collect();
                rows_seen.insert(lines.len());
                assert!(
                    lines.len() <= 24,
                    "{style:?} {language}: {} lines\n{text}",
                    lines.len()
                );
                assert!(lines[0].starts_with(texts.get("enroll.intro").trim_end()));
                // "(user@host) " goes in front of the first line over SSH: no longer than
                // the English one, which fits behind a 20-character "(user@host) ".
                let english = Texts::english().get("enroll.intro").trim_end();
                assert!(
                    lines[0].chars().count() <= english.chars().count(),
                    "{language}: {}",
                    lines[0]
                );
                assert!(
                    lines[1..].iter().all(|l| l.chars().count() <= 80),
                    "{language}: a line wider than 80 columns\n{text}"
                );
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
