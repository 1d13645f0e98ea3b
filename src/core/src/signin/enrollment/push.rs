//! Pairing the phone for push approval during enrollment at first sign-in (`[push]`
//! configured), inside the same conversation: one prompt with the pairing QR code ("Paired?
//! Press Enter. Or type S to skip, U to show the address"), a bounded wait for the phone, its proof
//! checked and its key stored, then a test push whose number the next prompt shows. Push is an
//! extra: whatever happens here, the enrollment with the app stands.
#![forbid(unsafe_code)]

use crate::clock::Clock;
use crate::config::Config;
use crate::conversation::Conversation;
use crate::messages::Texts;
use crate::push::pairing::{Offer, PairingError, TestPush, save_device, unpair};
use crate::push::service::Service;
use crate::push::verify::PushVerdict;
use crate::qr::{self, QrStyle};
use crate::store::UserStore;
use crate::username::UserName;

/// After Enter on the pairing prompt, how long to wait for a phone that is still sending
/// (seconds). A phone that has paired already answers at once; a user who skips types S and
/// waits for nothing. Short all the same: an SSH client shows nothing while the module waits.
const PAIRING_GRACE: u64 = 10;
/// After Enter on the test push prompt, how long to wait for the phone's answer (seconds).
const TEST_PUSH_WAIT: u64 = 30;

/// What came of offering push at enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushSetup {
    /// `[push]` is not configured: not offered.
    NotConfigured,
    /// The service (or the host token) could not be used: not offered.
    Unavailable(String),
    /// No phone paired: the user skipped (or went away).
    Skipped,
    /// A phone answered but its pairing did not verify; nothing stored.
    Refused(String),
    /// Paired and stored, and how the test push went: anything but approved undid the pairing.
    Paired(TestResult),
}

/// How the test push after pairing ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestResult {
    Approved,
    Denied,
    NoAnswer,
    /// The answer did not verify (the audit reason).
    Invalid(&'static str),
    /// It could not be sent.
    NotSent(String),
}

impl PushSetup {
    /// The line shown above the recovery codes ("" when there is nothing to say).
    pub fn status(&self, texts: Texts) -> &'static str {
        match self {
            PushSetup::NotConfigured | PushSetup::Skipped => "",
            PushSetup::Unavailable(_) => texts.get("enroll_push.unavailable"),
            PushSetup::Refused(_) => texts.get("enroll_push.refused"),
            PushSetup::Paired(TestResult::Approved) => texts.get("enroll_push.approved"),
            PushSetup::Paired(_) => texts.get("enroll_push.not_approved"),
        }
    }

    /// For the audit line's `detail` (never a secret, a number or the pairing URL).
    pub fn detail(&self) -> Option<String> {
        Some(match self {
            PushSetup::NotConfigured => return None,
            PushSetup::Unavailable(e) => format!("push unavailable: {e}"),
            PushSetup::Skipped => "push skipped".into(),
            PushSetup::Refused(e) => format!("push pairing refused: {e}"),
            PushSetup::Paired(TestResult::Approved) => "push paired, test approved".into(),
            PushSetup::Paired(TestResult::Denied) => "push unpaired, test denied".into(),
            PushSetup::Paired(TestResult::NoAnswer) => "push unpaired, test not answered".into(),
            PushSetup::Paired(TestResult::Invalid(why)) => format!("push unpaired, test {why}"),
            PushSetup::Paired(TestResult::NotSent(e)) => {
                format!("push unpaired, test not sent: {e}")
            }
        })
    }
}

/// Where a pairing is offered.
#[derive(Clone, Copy)]
pub struct Place<'a> {
    /// A local terminal, not SSH.
    pub console: bool,
    /// The user's language.
    pub texts: Texts,
    /// Fleet mode: the paired device joins the fleet's record.
    pub fleet: Option<&'a crate::signin::fleet::FleetSignIn>,
}

/// Offers pairing to a user whose record was just saved (or who typed "pair" after a good
/// code).
pub fn offer(
    conv: &mut dyn Conversation,
    store: &UserStore,
    user: &UserName,
    config: &Config,
    clock: &dyn Clock,
    place: Place<'_>,
) -> PushSetup {
    let Place {
        console,
        texts,
        fleet,
    } = place;
    if !config.push.enabled() {
        return PushSetup::NotConfigured;
    }
    let service = match Service::for_host(&config.push) {
        Ok(service) => service,
        Err(e) => return PushSetup::Unavailable(e.to_string()),
    };
    let offer = match Offer::open(&service, &config.push, user) {
        Ok(offer) => offer,
        Err(e) => return PushSetup::Unavailable(e.to_string()),
    };
    let mut style = super::style_for(config, console);
    let address = texts.fill("enroll_push.url", &[("url", &offer.url)]);
    // The code and one line above it fill an 80x24 screen; the address is shown on request
    // (or at once when there is no code to show: a URL too long for a QR code still works
    // typed or pasted).
    let screen = |style: QrStyle| {
        let drawing = qr::render(&offer.url, style).unwrap_or_default();
        if drawing.is_empty() {
            format!("{address}{}", texts.get("enroll_push.prompt_url"))
        } else {
            let question = match style {
                QrStyle::Utf8 => texts.get("enroll_push.prompt_dark"),
                QrStyle::Light => texts.get("enroll_push.prompt_light"),
                QrStyle::Ansi | QrStyle::None => texts.get("enroll_push.prompt"),
            };
            format!("{}{drawing}{question}", texts.get("enroll_push.offer"))
        }
    };
    let mut prompt = screen(style);
    loop {
        let Ok(answer) = conv.ask_visible(&prompt) else {
            return PushSetup::Skipped;
        };
        if let Some(other) = super::redraw(style, answer.expose()) {
            style = other;
            prompt = screen(style);
            continue;
        }
        match answer.expose().trim().to_ascii_lowercase().as_str() {
            "" => break,
            "u" | "url" => prompt = format!("{address}{}", texts.get("enroll_push.prompt_url")),
            // Skipping waits for nothing.
            _ => return PushSetup::Skipped,
        }
    }
    let device = match offer.wait(&service, PAIRING_GRACE, clock) {
        Ok(Some(device)) => device,
        Ok(None) | Err(PairingError::Expired) => return PushSetup::Skipped,
        Err(e @ (PairingError::BadProof | PairingError::Malformed)) => {
            return PushSetup::Refused(e.to_string());
        }
        Err(e) => return PushSetup::Unavailable(e.to_string()),
    };
    if let Err(e) = save_device(store, user, device.clone()) {
        return PushSetup::Unavailable(e.to_string());
    }
    // Only an approved test push confirms the pairing; anything else undoes it.
    let undo = |result: TestResult| {
        let _ = unpair(store, user, &service, &device.id);
        PushSetup::Paired(result)
    };
    let test = match TestPush::send(&service, &config.push, user, &device.id, clock) {
        Ok(test) => test,
        Err(e) => return undo(TestResult::NotSent(e.to_string())),
    };
    let name = match device.name.as_str() {
        "" => texts.get("enroll_push.your_phone"),
        name => name,
    };
    let number = test.number.to_string();
    let prompt = texts.fill("enroll_push.test", &[("name", name), ("number", &number)]);
    if conv.ask_visible(&prompt).is_err() {
        test.withdraw(&service);
        return undo(TestResult::NoAnswer);
    }
    let result = match test.wait(
        &service,
        std::slice::from_ref(&device),
        TEST_PUSH_WAIT,
        clock,
    ) {
        Ok(Some(PushVerdict::Approved)) => TestResult::Approved,
        Ok(Some(PushVerdict::Denied | PushVerdict::Reported)) => TestResult::Denied,
        Ok(Some(PushVerdict::Invalid(why))) => TestResult::Invalid(why.as_str()),
        Ok(None) => TestResult::NoAnswer,
        Err(e) => TestResult::NotSent(e.to_string()),
    };
    if result == TestResult::Approved {
        // In a fleet the device joins the sealed record, so that every host trusts it.
        if let Some(fleet) = fleet
            && let Err(e) = fleet.publish_cached(store, user)
        {
            let _ = unpair(store, user, &service, &device.id);
            return PushSetup::Unavailable(e);
        }
        return PushSetup::Paired(result);
    }
    test.withdraw(&service);
    undo(result)
}
