//! Text-message codes through real libpam (the gateways: pam_sms_gateways.rs): the code works
//! once; wrong, expired, replayed and superseded codes fail; the send limit holds; 64 parallel
//! sign-ins with one code give one success; the default method runs first; words switch inside
//! one prompt; `?` shows the menu; `methods=` holds; a Dutch user reads it all in Dutch.

mod common;

use common::sms::*;
use common::*;
use twofold_core::signin::choice::Choice;
use twofold_pam_client::Message;

const SMS_PROMPT_START: &str = "PROMPT_ECHO_OFF: Code sent by text message to +31 6 ****5678.";
const CODE_MORE_PROMPT: &str =
    "PROMPT_ECHO_OFF: Code from your app or a recovery code (? for other ways): ";

#[test]
fn the_default_text_message_goes_to_the_number_with_the_code_which_works_once() {
    let host = Host::new();
    let gw = CommandGateway::install(&host, 0, 0, "");
    host.enroll("alice");
    set_phone(&host, "alice", Some(NUMBER), Some(Choice::Sms));

    let (outcome, transcript) = sign_in_reading_texts(&host, &gw, "alice", &["<sms>"]);

    assert_eq!(outcome, "PAM_SUCCESS", "{transcript:?}");
    assert_eq!(transcript.len(), 1, "{transcript:?}");
    assert!(
        transcript[0].starts_with(SMS_PROMPT_START),
        "{transcript:?}"
    );
    assert_eq!(gw.numbers(), [NUMBER], "the gateway got the number");
    let message = gw.messages().pop().unwrap();
    assert!(
        message.contains("is your twofold sign-in code") && message.contains("5 minutes"),
        "{message}"
    );
    let code = gw.last_code();
    let d = host.last_decision();
    d.assert_decision("alice", "success", "ok");
    assert_eq!(d.get("method"), "sms");
    assert!(
        host.audit_lines()
            .iter()
            .any(|l| l.starts_with("sms ") && l.contains("result=sent")),
        "{}",
        host.audit_text()
    );
    host.assert_log_holds_none_of(&[code.clone(), message.clone()]);
    assert!(
        !host.audit_text().contains("612345678"),
        "no number in the log"
    );
    let state_text = std::fs::read_to_string(host.state_path("alice")).unwrap();
    assert!(!state_text.contains(&code), "stored only hashed");

    // The same code again, at the next sign-in (which sends a new one): refused.
    let (outcome, _) = host.sign_in("alice", &[&code]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert_eq!(
        host.state("alice").failures,
        1,
        "counted like any wrong answer"
    );
}

#[test]
fn wrong_expired_and_superseded_codes_fail() {
    let host = Host::new();
    let gw = CommandGateway::install(&host, 0, 0, "");
    host.enroll("bob");
    set_phone(&host, "bob", Some(NUMBER), Some(Choice::Sms));

    // Wrong: counted.
    let (outcome, _) = sign_in_reading_texts(&host, &gw, "bob", &["000000x"]);
    assert_eq!(outcome, "PAM_AUTH_ERR");
    assert_eq!(host.state("bob").failures, 1);

    // Superseded: "sms" at the prompt sends a new code; the first no longer works.
    let mut first = String::new();
    let mut responder = |msg: Message<'_>| -> Option<Vec<u8>> {
        match msg {
            Message::PromptEchoOff(_) if first.is_empty() => {
                first = gw.last_code();
                Some(b"sms".to_vec())
            }
            Message::PromptEchoOff(_) => {
                let second = gw.last_code();
                assert_ne!(first, second, "a new code (1 in a million: rerun)");
                Some(first.clone().into_bytes())
            }
            _ => None,
        }
    };
    let outcome = host.sign_in_with("bob", Some(RHOST), &mut responder);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert_eq!(gw.messages().len(), 3, "one text per send");

    // Expired: the code's time is over before it is typed.
    let mut responder = |msg: Message<'_>| -> Option<Vec<u8>> {
        match msg {
            Message::PromptEchoOff(_) => {
                host.update_state("bob", |s| s.sms_code_until = now() - 1);
                Some(gw.last_code().into_bytes())
            }
            _ => None,
        }
    };
    let outcome = host.sign_in_with("bob", Some(RHOST), &mut responder);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    host.last_decision()
        .assert_decision("bob", "failure", "wrong_code");
}

#[test]
fn the_send_limit_holds_and_the_user_is_told_to_use_the_app() {
    let host = Host::new();
    let gw = CommandGateway::install(&host, 0, 0, "max_sends = 2\n");
    let carol = host.enroll("carol");
    set_phone(&host, "carol", Some(NUMBER), Some(Choice::Sms));
    for _ in 0..2 {
        let (outcome, _) = host.sign_in("carol", &[]);
        assert_eq!(outcome.name, "PAM_AUTH_ERR");
    }
    wait_for_step_margin(&carol.params, 3);
    let code = code_now(&carol.params);

    let (outcome, transcript) = host.sign_in("carol", &[&code]);

    assert_eq!(outcome.name, "PAM_SUCCESS", "the app code still works");
    assert_eq!(gw.messages().len(), 2, "no third text");
    assert!(
        transcript[0].contains("No more text messages can be sent to you for")
            && transcript[0].ends_with(CODE_MORE_PROMPT.trim_start_matches("PROMPT_ECHO_OFF: ")),
        "{transcript:?}"
    );
    assert!(host.audit_text().contains("result=limit_reached"));
}

#[test]
fn sixty_four_parallel_sign_ins_with_one_text_code_give_exactly_one_success() {
    const LOGINS: usize = 64;
    let host = Host::new();
    // Every sign-in but one counts a failure: no lockout may stop the one right code.
    let sections = "[rate_limit]\nmax_failures = 1000\nfailure_delay_ms = 0\n";
    let gw = CommandGateway::install_with(&host, 0, 0, "", sections);
    host.enroll("peggy");
    set_phone(&host, "peggy", Some(NUMBER), Some(Choice::Sms));
    let (outcome, _) = host.sign_in("peggy", &[]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    let code = gw.last_code();
    // From now on sign-ins start with the app prompt, which takes the text code too.
    set_phone(&host, "peggy", Some(NUMBER), Some(Choice::App));
    let barrier = std::sync::Barrier::new(LOGINS);

    let outcomes: Vec<&'static str> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..LOGINS)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    host.sign_in("peggy", &[&code]).0.name
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let successes = outcomes.iter().filter(|&&n| n == "PAM_SUCCESS").count();
    assert_eq!(successes, 1, "{outcomes:?}");
    assert_eq!(gw.messages().len(), 1, "no sign-in sent another text");
}

#[test]
fn words_switch_methods_inside_the_prompt_and_the_menu_lists_what_is_offered() {
    let host = Host::new();
    let gw = CommandGateway::install(&host, 0, 0, "");
    let grace = host.enroll("grace");
    set_phone(&host, "grace", Some(NUMBER), None);

    // No default, no push: the app prompt, which names the other ways; "sms" switches.
    let (outcome, transcript) = sign_in_reading_texts(&host, &gw, "grace", &["sms", "<sms>"]);
    assert_eq!(outcome, "PAM_SUCCESS", "{transcript:?}");
    assert_eq!(transcript[0], CODE_MORE_PROMPT);
    assert!(
        transcript[1].starts_with(SMS_PROMPT_START),
        "{transcript:?}"
    );
    assert_eq!(transcript.len(), 2);

    // "?" shows the menu above the prompt; the Dutch "code" goes back to the app.
    wait_for_step_margin(&grace.params, 3);
    let code = code_now(&grace.params);
    let (outcome, transcript) =
        sign_in_reading_texts(&host, &gw, "grace", &["?", "sms", "code", &code]);
    assert_eq!(outcome, "PAM_SUCCESS", "{transcript:?}");
    let menu = &transcript[1];
    assert!(
        menu.contains("Ways to sign in here (type the word):"),
        "{menu}"
    );
    assert!(
        menu.contains("  app   a code from your authenticator app"),
        "{menu}"
    );
    assert!(
        menu.contains(&format!("  sms   a code by text message to {MASKED}")),
        "{menu}"
    );
    assert!(!menu.contains("push"), "no push configured: {menu}");
    assert!(menu.ends_with("(? for other ways): "), "{menu}");
    assert!(transcript[2].starts_with(SMS_PROMPT_START));
    assert_eq!(transcript[3], CODE_MORE_PROMPT);
    assert_eq!(host.last_decision().get("method"), "totp");
}

#[test]
fn methods_argument_keeps_text_messages_out_of_a_service() {
    let host = Host::new();
    let gw = CommandGateway::install(&host, 0, 0, "");
    let heidi = host.enroll("heidi");
    set_phone(&host, "heidi", Some(NUMBER), Some(Choice::Sms));
    host.use_module_args("methods=app,push");
    wait_for_step_margin(&heidi.params, 3);
    let code = code_now(&heidi.params);

    let (outcome, transcript) = host.sign_in("heidi", &["sms", &code]);

    assert_eq!(outcome.name, "PAM_SUCCESS");
    assert_eq!(
        transcript[0], CODE_PROMPT,
        "the default (sms) is not offered here"
    );
    assert!(
        transcript[1].starts_with("PROMPT_ECHO_OFF: Text-message codes are not available here.\n"),
        "{transcript:?}"
    );
    assert!(gw.messages().is_empty(), "no text sent");
}

#[test]
fn a_dutch_user_gets_the_prompts_the_menu_and_the_text_in_dutch() {
    let host = Host::new();
    let gw = CommandGateway::install(&host, 0, 0, "");
    host.enroll("ingrid");
    set_phone(&host, "ingrid", Some(NUMBER), None);
    let store = twofold_core::store::UserStore::open(&host.state_dir).unwrap();
    store
        .update_record(&user_name("ingrid"), |r| r.language = Some("nl".into()))
        .unwrap();

    let (outcome, transcript) = sign_in_reading_texts(&host, &gw, "ingrid", &["?", "sms", "<sms>"]);

    assert_eq!(outcome, "PAM_SUCCESS", "{transcript:#?}");
    assert_eq!(
        transcript[0],
        "PROMPT_ECHO_OFF: Code uit uw app of een herstelcode (? voor andere manieren): "
    );
    assert!(
        transcript[1].contains("Manieren om hier aan te melden (typ het woord):")
            && transcript[1].contains(&format!("  sms      een sms-code naar {MASKED}")),
        "{transcript:#?}"
    );
    assert!(
        transcript[2].starts_with(&format!(
            "PROMPT_ECHO_OFF: Sms-code verzonden naar {MASKED}."
        )),
        "{transcript:#?}"
    );
    let message = gw.messages().pop().unwrap();
    assert!(
        message.contains("is uw aanmeldcode voor twofold") && message.contains("5 minuten geldig"),
        "{message}"
    );
}

#[test]
fn switching_back_and_forth_ends_after_ten_turns() {
    let host = Host::new();
    let gw = CommandGateway::install(&host, 0, 0, "");
    host.enroll("karl");
    set_phone(&host, "karl", Some(NUMBER), None);
    let answers = vec!["?"; 20];

    let (outcome, transcript) = host.sign_in("karl", &answers);

    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert_eq!(transcript.len(), 11, "the first prompt and ten menus");
    host.last_decision()
        .assert_decision("karl", "failure", "too_many_switches");
    assert!(gw.messages().is_empty());
}

#[test]
fn the_text_message_prompt_also_takes_an_app_code_or_a_recovery_code() {
    let host = Host::new();
    let _gw = CommandGateway::install(&host, 0, 0, "");
    let lena = host.enroll("lena");
    set_phone(&host, "lena", Some(NUMBER), Some(Choice::Sms));
    wait_for_step_margin(&lena.params, 3);
    let code = code_now(&lena.params);

    let (outcome, transcript) = host.sign_in("lena", &[&code]);
    assert_eq!(outcome.name, "PAM_SUCCESS");
    assert!(
        transcript[0].starts_with(SMS_PROMPT_START),
        "{transcript:?}"
    );
    assert_eq!(host.last_decision().get("method"), "totp");

    let (outcome, transcript) = host.sign_in("lena", &[&lena.recovery[0]]);
    assert_eq!(outcome.name, "PAM_SUCCESS");
    assert!(
        transcript[0].starts_with(SMS_PROMPT_START),
        "{transcript:?}"
    );
    assert_eq!(host.last_decision().get("method"), "recovery");
}
