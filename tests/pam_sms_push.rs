//! A user with both a paired phone (push, against the real `twofold serve`) and a number for
//! text messages, through real libpam: the default method runs first, words switch between
//! the two inside the prompts, the menu lists both, and `methods=` takes one away.

mod common;

use common::push::{PushHost, number_in, push_config};
use common::sms::*;
use common::{RHOST, code_now};
use twofold_core::push::protocol::DecisionKind;
use twofold_core::signin::choice::Choice;
use twofold_pam_client::Message;

/// A paired user with a number and a command gateway; `default` is the default method.
fn host(default: Option<Choice>) -> (PushHost, CommandGateway) {
    let p = PushHost::new("");
    let push = push_config(&p.service.url, &p.token_path, "");
    let gw = CommandGateway::install_with(&p.host, 0, 0, "", &push);
    p.edit_record(|r| {
        r.phone = Some(twofold_core::store::record::Phone {
            number: NUMBER.into(),
            verified: common::now(),
            verified_by: "admin".into(),
        });
        r.default_method = default;
    });
    (p, gw)
}

/// Signs in; each prompt is answered by `answer` (given the prompt's text), and a number
/// shown is approved on the phone at once when `approve` is set.
fn sign_in(
    p: &PushHost,
    approve: bool,
    mut answer: impl FnMut(&str) -> String,
) -> (String, Vec<String>) {
    let mut transcript = Vec::new();
    let mut approved = false;
    let mut responder = |msg: Message<'_>| -> Option<Vec<u8>> {
        let (Message::PromptEchoOff(text) | Message::PromptEchoOn(text)) = msg else {
            return None;
        };
        transcript.push(text.to_string());
        if approve
            && !approved
            && let Some(n) = number_in(text)
        {
            p.answer(DecisionKind::Approve, &n.to_string());
            approved = true;
            return Some(Vec::new());
        }
        Some(answer(text).into_bytes())
    };
    let outcome = p.host.sign_in_with(p.user, Some(RHOST), &mut responder);
    (outcome.name.to_string(), transcript)
}

#[test]
fn the_default_text_message_runs_before_push_and_push_is_a_word_away() {
    let (p, gw) = host(Some(Choice::Sms));

    let (outcome, transcript) = sign_in(&p, true, |_| "push".into());

    assert_eq!(outcome, "PAM_SUCCESS", "{transcript:#?}");
    assert!(
        transcript[0].starts_with("Code sent by text message to +31 6 ****5678."),
        "{transcript:#?}"
    );
    assert!(
        transcript[1].starts_with("Approve the sign-in on your phone: number"),
        "{transcript:#?}"
    );
    assert_eq!(gw.messages().len(), 1);
    assert_eq!(p.host.last_decision().get("method"), "push");
}

#[test]
fn push_runs_first_without_a_default_and_sms_or_the_menu_can_be_typed_there() {
    let (p, gw) = host(None);

    let mut turn = 0;
    let (outcome, transcript) = sign_in(&p, false, |_| {
        turn += 1;
        match turn {
            1 => "?".into(),
            2 => "sms".into(),
            _ => gw.last_code(),
        }
    });

    assert_eq!(outcome, "PAM_SUCCESS", "{transcript:#?}");
    assert!(
        number_in(&transcript[0]).is_some(),
        "push first: {transcript:#?}"
    );
    let menu = &transcript[1];
    assert!(menu.contains("  push  approve on your phone"), "{menu}");
    assert!(
        menu.contains("  sms   a code by text message to +31 6 ****5678"),
        "{menu}"
    );
    assert!(
        transcript[2].starts_with("Code sent by text message"),
        "{transcript:#?}"
    );
    assert_eq!(p.host.last_decision().get("method"), "sms");
}

#[test]
fn methods_without_push_start_with_the_app_even_for_a_paired_phone() {
    let (p, gw) = host(Some(Choice::Push));
    p.host.use_module_args("methods=app,sms");
    let code = {
        common::wait_for_step_margin(&p.enrolled.params, 3);
        code_now(&p.enrolled.params)
    };

    let mut turn = 0;
    let (outcome, transcript) = sign_in(&p, false, |_| {
        turn += 1;
        match turn {
            1 => "melding".into(),
            _ => code.clone(),
        }
    });

    assert_eq!(outcome, "PAM_SUCCESS", "{transcript:#?}");
    assert_eq!(
        transcript[0],
        "Code from your app or a recovery code (? for other ways): "
    );
    assert!(
        transcript[1].starts_with("Approval on your phone is not available here.\n"),
        "{transcript:#?}"
    );
    assert!(gw.messages().is_empty());
    assert_eq!(p.host.last_decision().get("method"), "totp");
}
