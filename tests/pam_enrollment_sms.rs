//! First sign-in with `[sms]` configured, through real libpam: after the app, a phone number
//! (guide steps 14–16), confirmed only by the code sent to it ("R" resends), skippable; then
//! the default sign-in method (step 17), which the next sign-in starts with.

mod common;

use common::sms::*;
use common::{Host, RHOST, code_now, user_name};
use twofold_core::factor::totp::{Algorithm, TotpParams};
use twofold_core::secret::SecretString;
use twofold_core::signin::choice::Choice;
use twofold_core::store::{UserRecord, UserStore};
use twofold_pam_client::Message;

/// An account every Debian system has: enrollment at sign-in needs a real one.
const ACCOUNT: &str = "daemon";
const ENROLL: &str = "[enrollment]\nunenrolled = \"enroll\"\n";

fn key_in(prompt: &str) -> Option<String> {
    let line = prompt
        .lines()
        .find_map(|l| l.strip_prefix("Light background, or won't scan? Key: "))?;
    Some(line.trim_end().replace(' ', ""))
}

fn app_code(key: &str) -> String {
    code_now(&TotpParams {
        secret: SecretString::new(key.to_string()),
        algorithm: Algorithm::SHA1,
        digits: 6,
        period: 30,
        skew: None,
    })
}

fn record(host: &Host) -> UserRecord {
    let store = UserStore::open(&host.state_dir).unwrap();
    store.load_record(&user_name(ACCOUNT)).unwrap().unwrap()
}

/// Runs the first sign-in; `answer` gets each prompt and returns what to type ("<app>" for
/// the app's code, "<sms>" for the code the gateway got).
fn enroll(
    host: &Host,
    gw: &CommandGateway,
    mut answer: impl FnMut(&str, usize) -> String,
) -> (String, Vec<String>) {
    let mut prompts = Vec::new();
    let mut key = String::new();
    let outcome = host.sign_in_with(ACCOUNT, Some(RHOST), &mut |msg: Message<'_>| match msg {
        Message::PromptEchoOn(text) | Message::PromptEchoOff(text) => {
            prompts.push(text.to_string());
            if let Some(k) = key_in(text) {
                key = k;
            }
            let typed = match answer(text, prompts.len()).as_str() {
                "<app>" => app_code(&key),
                "<sms>" => gw.last_code(),
                other => other.to_string(),
            };
            Some(typed.into_bytes())
        }
        _ => None,
    });
    (outcome.name.to_string(), prompts)
}

#[test]
fn the_number_is_verified_only_by_the_code_sent_to_it_and_becomes_the_default() {
    let host = Host::new();
    let gw = CommandGateway::install_with(&host, 0, 0, "", ENROLL);
    common::wait_for_step_margin(
        &TotpParams {
            secret: SecretString::new("AAAAAAAAAAAAAAAA".into()),
            algorithm: Algorithm::SHA1,
            digits: 6,
            period: 30,
            skew: None,
        },
        3,
    );
    let mut wrong_seen = false;
    let (outcome, prompts) = enroll(&host, &gw, |prompt, n| match n {
        1 => "<app>".into(),
        2 => {
            assert_eq!(
                prompt,
                "Optional: your mobile number for codes by text message (Enter: skip): "
            );
            "06 12345678".into()
        }
        3 => {
            assert_eq!(
                prompt,
                "We sent a 6-digit code to +31 6 ****5678.\nCode (R: resend code, S: skip): "
            );
            let right = gw.last_code();
            if right == "000000" {
                "111111"
            } else {
                "000000"
            }
            .into()
        }
        4 => {
            assert!(prompt.starts_with("Wrong code."), "{prompt}");
            assert!(
                record(&host).phone.is_none(),
                "not verified after a wrong code"
            );
            wrong_seen = true;
            "R".into()
        }
        5 => "<sms>".into(),
        6 => {
            assert_eq!(prompt, "Default sign-in method: app, sms? (Enter: app): ");
            "sms".into()
        }
        _ => String::new(),
    });

    assert_eq!(outcome, "PAM_SUCCESS", "{prompts:#?}");
    assert!(wrong_seen);
    let last = prompts.last().unwrap();
    assert!(last.contains("✓ SMS verified (+31 6 ****5678)."), "{last}");
    assert!(
        last.contains("Default sign-in method: code by text message to +31 6 ****5678."),
        "{last}"
    );
    assert!(last.contains("Recovery codes"), "{last}");
    assert_eq!(gw.numbers(), [NUMBER, NUMBER], "sent, then resent");
    let saved = record(&host);
    let phone = saved.phone.unwrap();
    assert_eq!(phone.number, NUMBER);
    assert_eq!(phone.verified_by, "code");
    assert_eq!(saved.default_method, Some(Choice::Sms));
    let d = host.last_decision();
    d.assert_decision(ACCOUNT, "success", "enrolled");
    assert!(d.get("detail").contains("phone verified"), "{}", d.raw);
    assert!(
        !host.audit_text().contains("612345678"),
        "no number in the log"
    );

    // The next sign-in starts with a text message.
    let (outcome, transcript) = host.sign_in(ACCOUNT, &[]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert!(
        transcript[0].starts_with("PROMPT_ECHO_OFF: Code sent by text message to +31 6 ****5678."),
        "{transcript:?}"
    );
    assert_eq!(gw.numbers().len(), 3);
}

#[test]
fn the_phone_step_can_be_skipped_and_a_bad_number_is_explained() {
    let host = Host::new();
    let gw = CommandGateway::install_with(&host, 0, 0, "", ENROLL);
    let (outcome, prompts) = enroll(&host, &gw, |prompt, n| match n {
        1 => "<app>".into(),
        2 => "12ab34".into(),
        3 => {
            assert!(
                prompt.starts_with("That number cannot be used: only digits"),
                "{prompt}"
            );
            "06 12345678".into()
        }
        4 => "S".into(),
        _ => String::new(),
    });

    assert_eq!(outcome, "PAM_SUCCESS", "{prompts:#?}");
    assert_eq!(
        prompts.len(),
        5,
        "no default-method question without a number: {prompts:#?}"
    );
    assert!(prompts[4].contains("Recovery codes"));
    assert!(!prompts[4].contains("SMS verified"));
    let saved = record(&host);
    assert!(saved.phone.is_none(), "skipped: no number saved");
    assert_eq!(saved.default_method, None);
    assert_eq!(gw.numbers(), [NUMBER], "the code was sent before the skip");
}

#[test]
fn resend_stops_at_the_send_limit_and_says_so() {
    let host = Host::new();
    let gw = CommandGateway::install_with(&host, 0, 0, "max_sends = 1\n", ENROLL);
    let (outcome, prompts) = enroll(&host, &gw, |_, n| match n {
        1 => "<app>".into(),
        2 => "+31612345678".into(),
        3 => "R".into(),
        _ => String::new(),
    });

    assert_eq!(outcome, "PAM_SUCCESS", "{prompts:#?}");
    let last = prompts.last().unwrap();
    assert!(
        last.contains("No more text messages can be sent to you for")
            && last.contains("so no number was saved."),
        "{last}"
    );
    assert_eq!(gw.numbers().len(), 1, "no second text");
    assert!(record(&host).phone.is_none());
}
