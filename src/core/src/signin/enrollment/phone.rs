//! First sign-in, after the app (and push): a phone number for text-message codes, confirmed
//! by a code sent to it ("Resend code" within the send limit; skippable), as the guide's steps
//! 14–16; then the default sign-in method when there is more than one (step 17).
#![forbid(unsafe_code)]

use crate::clock::Clock;
use crate::config::Config;
use crate::conversation::Conversation;
use crate::messages::{self, Texts};
use crate::signin::choice::Choice;
use crate::sms::deliver::{self, Undelivered};
use crate::sms::{PhoneError, PhoneNumber};
use crate::store::UserStore;
use crate::store::record::Phone;
use crate::username::UserName;

/// Numbers (or codes) a user may get wrong before the step gives up.
const ATTEMPTS: usize = 3;

/// How the phone step ended.
#[derive(Debug)]
pub enum PhoneSetup {
    /// `[sms]` is not configured: not offered.
    NotConfigured,
    /// No number (the user skipped, or went away).
    Skipped,
    /// Confirmed and saved; the masked number.
    Verified(String),
    /// The text could not be sent (why, for the log); nothing saved.
    NotSent(String),
    /// `[sms] max_sends` reached: no text for this many seconds; nothing saved.
    Limit(u64),
    /// Wrong codes (or numbers) every time; nothing saved.
    GaveUp,
    /// The record could not be read or written.
    Failed(String),
}

impl PhoneSetup {
    /// What the user reads above the recovery codes.
    pub fn status(&self, texts: Texts) -> String {
        match self {
            PhoneSetup::NotConfigured | PhoneSetup::Skipped => String::new(),
            PhoneSetup::Verified(masked) => texts.fill("sms.phone_verified", &[("phone", masked)]),
            PhoneSetup::NotSent(_) | PhoneSetup::Failed(_) => {
                texts.get("sms.phone_not_sent").into()
            }
            PhoneSetup::GaveUp => texts.get("sms.phone_gave_up").into(),
            PhoneSetup::Limit(left) => {
                texts.fill("sms.phone_limit", &[("time", &texts.duration(*left))])
            }
        }
    }

    /// For the audit line's `detail` (never the number or a code).
    pub fn detail(&self) -> Option<String> {
        Some(match self {
            PhoneSetup::NotConfigured => return None,
            PhoneSetup::Skipped => "phone skipped".into(),
            PhoneSetup::Verified(_) => "phone verified".into(),
            PhoneSetup::NotSent(e) => format!("phone not verified, text not sent: {e}"),
            PhoneSetup::GaveUp => "phone not verified, wrong codes".into(),
            PhoneSetup::Limit(_) => "phone not verified, send limit reached".into(),
            PhoneSetup::Failed(e) => format!("phone not saved: {e}"),
        })
    }
}

/// Asks for a number, sends a code to it and saves the number once the code comes back.
pub fn offer(
    conv: &mut dyn Conversation,
    store: &UserStore,
    user: &UserName,
    config: &Config,
    clock: &dyn Clock,
    texts: Texts,
) -> PhoneSetup {
    if !config.sms.enabled() {
        return PhoneSetup::NotConfigured;
    }
    let mut prompt = texts.get("sms.phone_prompt").to_string();
    let mut phone = None;
    for _ in 0..ATTEMPTS {
        let Ok(answer) = conv.ask_visible(&prompt) else {
            return PhoneSetup::Skipped;
        };
        let typed = answer.expose().trim();
        if typed.is_empty() || typed.eq_ignore_ascii_case("s") {
            return PhoneSetup::Skipped;
        }
        match PhoneNumber::parse(typed, config.sms.default_country.as_deref()) {
            Ok(number) => {
                phone = Some(number);
                break;
            }
            Err(e) => {
                let reason = match e {
                    PhoneError::Characters => "sms.phone_error_characters",
                    PhoneError::NoCountry => "sms.phone_error_no_country",
                    PhoneError::Length => "sms.phone_error_length",
                };
                let why = texts.fill("sms.phone_invalid", &[("why", texts.get(reason))]);
                prompt = format!(
                    "{}\n{}",
                    messages::wrap_prompt(&why),
                    texts.get("sms.phone_prompt")
                );
            }
        }
    }
    let Some(phone) = phone else {
        return PhoneSetup::GaveUp;
    };
    let record = match store.load_record(user) {
        Ok(Some(record)) => record,
        Ok(None) => return PhoneSetup::Failed("the record is gone".into()),
        Err(e) => return PhoneSetup::Failed(e.to_string()),
    };
    let masked = phone.masked();
    let mut wrong = 0;
    // Each turn sends a code ("R" asks for another, within the send limit).
    for _ in 0..ATTEMPTS + 2 {
        match deliver::send_code(store, user, &record, config, &phone, clock.now(), texts) {
            Ok(()) => {}
            Err(Undelivered::Limit(next_at)) => {
                return PhoneSetup::Limit(next_at.saturating_sub(clock.now()));
            }
            Err(e @ (Undelivered::Gateway(_) | Undelivered::Locked(_))) => {
                return PhoneSetup::NotSent(e.to_string());
            }
            Err(e) => return PhoneSetup::Failed(e.to_string()),
        }
        let mut prompt = texts.fill("sms.phone_code", &[("phone", &masked)]);
        loop {
            let Ok(answer) = conv.ask_visible(&prompt) else {
                return PhoneSetup::Skipped;
            };
            let typed = answer.expose().trim().to_ascii_lowercase();
            match typed.as_str() {
                "s" => return PhoneSetup::Skipped,
                "r" => break,
                "" => continue,
                _ => {}
            }
            match deliver::confirm_code(store, user, &record, config, &typed, clock.now()) {
                Ok(true) => {
                    let saved = store.update_record(user, |r| {
                        r.phone = Some(Phone {
                            number: phone.e164(),
                            verified: clock.now(),
                            verified_by: "code".into(),
                        });
                    });
                    return match saved {
                        Ok(true) => PhoneSetup::Verified(masked),
                        Ok(false) => PhoneSetup::Failed("the record is gone".into()),
                        Err(e) => PhoneSetup::Failed(e.to_string()),
                    };
                }
                Ok(false) => {
                    wrong += 1;
                    if wrong == ATTEMPTS {
                        return PhoneSetup::GaveUp;
                    }
                    prompt = texts.fill("sms.phone_wrong", &[("phone", &masked)]);
                }
                Err(e) => return PhoneSetup::Failed(e.to_string()),
            }
        }
    }
    PhoneSetup::GaveUp
}

/// Step 17: once a number is confirmed, the user picks the method sign-ins start with (Enter:
/// push if paired, else the app). Saved in the record; `None` when there was nothing to choose.
/// Without a number nothing is asked: push (if paired) runs first, as it always did.
pub fn choose_default(
    conv: &mut dyn Conversation,
    store: &UserStore,
    user: &UserName,
    push: bool,
    sms: bool,
    texts: Texts,
) -> Option<Choice> {
    let mut offered = vec![Choice::App];
    if push {
        offered.push(Choice::Push);
    }
    if sms {
        offered.push(Choice::Sms);
    }
    if !sms {
        return None;
    }
    let current = if push { Choice::Push } else { Choice::App };
    let word = |c: &Choice| match c {
        Choice::App => texts.get("sms.word_app"),
        Choice::Push => texts.get("sms.word_push"),
        Choice::Sms => texts.get("sms.word_sms"),
    };
    let names: Vec<&str> = offered.iter().map(word).collect();
    let prompt = texts.fill(
        "sms.default_prompt",
        &[("methods", &names.join(", ")), ("current", word(&current))],
    );
    let mut chosen = current;
    for _ in 0..ATTEMPTS {
        let Ok(answer) = conv.ask_visible(&prompt) else {
            break;
        };
        let typed = answer.expose().trim();
        if typed.is_empty() {
            break;
        }
        let picked = match crate::signin::choice::read(typed) {
            crate::signin::choice::Typed::Switch(choice) => Some(choice),
            _ => Choice::parse(typed),
        };
        if let Some(choice) = picked.filter(|c| offered.contains(c)) {
            chosen = choice;
            break;
        }
    }
    match store.update_record(user, |r| r.default_method = Some(chosen)) {
        Ok(true) => Some(chosen),
        _ => None,
    }
}
