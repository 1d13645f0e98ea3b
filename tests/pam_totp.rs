//! Signing in through real libpam (`pam_start_confdir`, no root needed) against the built
//! module: TOTP codes, replay, the window, lockout, recovery codes, the module arguments,
//! and what the audit log says about each decision.

mod common;

use common::*;
use std::sync::Barrier;
use twofold_core::signin::ratelimit;
use twofold_pam_client::PAM_SILENT;

#[test]
fn right_code_signs_in_after_one_prompt() {
    let host = Host::new();
    let alice = host.enroll("alice");
    let code = code_now(&alice.params);

    let (outcome, transcript) = host.sign_in("alice", &[&code]);

    assert_eq!(outcome.name, "PAM_SUCCESS");
    assert_eq!(transcript, vec![CODE_PROMPT]);
    let d = host.last_decision();
    d.assert_decision("alice", "success", "ok");
    assert_eq!(d.get("method"), "totp");
    assert_eq!(host.decisions().len(), 1, "one line per decision");
    host.assert_log_holds_none_of(&[code, alice.secret()]);
}

#[test]
fn code_typed_with_a_space_is_accepted() {
    let host = Host::new();
    let bob = host.enroll("bob");
    let code = code_now(&bob.params);
    let spaced = format!("{} {}", &code[..3], &code[3..]);

    let (outcome, _) = host.sign_in("bob", &[&spaced]);

    assert_eq!(outcome.name, "PAM_SUCCESS");
}

#[test]
fn wrong_code_is_refused() {
    let host = Host::new();
    let carol = host.enroll("carol");
    let wrong = wrong_code(&carol.params);

    let (outcome, transcript) = host.sign_in("carol", &[&wrong]);

    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert_eq!(transcript, vec![CODE_PROMPT]);
    let d = host.last_decision();
    d.assert_decision("carol", "failure", "wrong_code");
    assert_eq!(d.get("method"), "totp");
    assert_eq!(host.state("carol").failures, 1, "the failure is counted");
    host.assert_log_holds_none_of(&[wrong, carol.secret()]);
}

#[test]
fn non_code_answer_is_refused_as_malformed() {
    let host = Host::new();
    host.enroll("dave");

    let (outcome, _) = host.sign_in("dave", &["hunter2"]);

    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    host.last_decision()
        .assert_decision("dave", "failure", "malformed_answer");
    host.assert_log_holds_none_of(&["hunter2".into()]);
}

#[test]
fn hung_up_conversation_is_refused() {
    let host = Host::new();
    host.enroll("erin");

    // No answer at the prompt: the application's conversation fails.
    let (outcome, transcript) = host.sign_in("erin", &[]);

    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert_eq!(transcript, vec![CODE_PROMPT]);
    host.last_decision()
        .assert_decision("erin", "failure", "conversation_failed");
}

#[test]
fn replayed_code_is_refused() {
    let host = Host::new();
    let frank = host.enroll("frank");
    let code = code_now(&frank.params);

    let (first, _) = host.sign_in("frank", &[&code]);
    let (again, transcript) = host.sign_in("frank", &[&code]);

    assert_eq!(first.name, "PAM_SUCCESS");
    assert_eq!(again.name, "PAM_AUTH_ERR");
    assert_eq!(transcript, vec![CODE_PROMPT]);
    let decisions = host.decisions();
    assert_eq!(decisions.len(), 2);
    decisions[0].assert_decision("frank", "success", "ok");
    decisions[1].assert_decision("frank", "failure", "replayed_code");
    assert_eq!(decisions[1].get("method"), "totp");
    host.assert_log_holds_none_of(&[code, frank.secret()]);
}

#[test]
fn code_that_confirmed_enrollment_cannot_be_used_to_sign_in() {
    let host = Host::new();
    let grace = host.enroll_with("grace", Default::default(), true);
    let code = code_now(&grace.params);

    let (outcome, _) = host.sign_in("grace", &[&code]);

    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    host.last_decision()
        .assert_decision("grace", "failure", "replayed_code");
}

#[test]
fn code_of_an_earlier_step_after_a_later_one_is_a_replay() {
    let host = Host::with("[totp]\nskew = 1", "");
    let heidi = host.enroll("heidi");
    wait_for_step_margin(&heidi.params, 5);
    let next = code_at_offset(&heidi.params, 1);
    let current = code_now(&heidi.params);
    assert_ne!(next, current, "two steps with one code: run again");

    let (first, _) = host.sign_in("heidi", &[&next]);
    let (second, _) = host.sign_in("heidi", &[&current]);

    assert_eq!(first.name, "PAM_SUCCESS");
    assert_eq!(second.name, "PAM_AUTH_ERR");
    host.last_decision()
        .assert_decision("heidi", "failure", "replayed_code");
}

#[test]
fn codes_two_steps_away_are_refused_with_skew_one() {
    let host = Host::with("[totp]\nskew = 1\n[rate_limit]\nmax_failures = 100", "");
    let ivan = host.enroll("ivan");
    // A step boundary mid-test would turn +2 into +1 (accepted): stay clear of it.
    wait_for_step_margin(&ivan.params, 5);
    let too_old = code_at_offset(&ivan.params, -2);
    let too_new = code_at_offset(&ivan.params, 2);
    let in_window: Vec<String> = (-1..=1).map(|s| code_at_offset(&ivan.params, s)).collect();
    assert!(
        !in_window.contains(&too_old) && !in_window.contains(&too_new),
        "a code repeats within five steps (chance 1 in 10^5): run again"
    );

    let (old, _) = host.sign_in("ivan", &[&too_old]);
    let (new, _) = host.sign_in("ivan", &[&too_new]);

    assert_eq!((old.name, new.name), ("PAM_AUTH_ERR", "PAM_AUTH_ERR"));
    let decisions = host.decisions();
    assert_eq!(decisions.len(), 2);
    for d in &decisions {
        d.assert_decision("ivan", "failure", "wrong_code");
    }
    host.assert_log_holds_none_of(&[too_old, too_new]);
}

#[test]
fn codes_one_step_away_are_accepted_with_skew_one() {
    let host = Host::with("[totp]\nskew = 1", "");
    // Separate users: after a success at step +1, step -1 would be a replay.
    let judy = host.enroll("judy");
    let mallory = host.enroll("mallory");
    // A step boundary mid-test would turn -1 into -2 (refused): stay clear of it.
    wait_for_step_margin(&judy.params, 5);
    let previous = code_at_offset(&judy.params, -1);
    let next = code_at_offset(&mallory.params, 1);

    let (early, _) = host.sign_in("judy", &[&previous]);
    let (late, _) = host.sign_in("mallory", &[&next]);

    assert_eq!(early.name, "PAM_SUCCESS", "previous step within the window");
    assert_eq!(late.name, "PAM_SUCCESS", "next step within the window");
    let period = u64::from(judy.params.period);
    let step = now() / period;
    assert_eq!(
        host.state("judy").last_step,
        step - 1,
        "the matched step is recorded"
    );
    assert_eq!(host.state("mallory").last_step, step + 1);
}

#[test]
fn skew_zero_accepts_only_the_current_step() {
    let host = Host::with("[totp]\nskew = 0", "");
    let niaj = host.enroll("niaj");
    let olivia = host.enroll("olivia");
    wait_for_step_margin(&niaj.params, 5);
    let previous = code_at_offset(&niaj.params, -1);
    let current = code_now(&olivia.params);

    let (early, _) = host.sign_in("niaj", &[&previous]);
    let (now, _) = host.sign_in("olivia", &[&current]);

    assert_eq!((early.name, now.name), ("PAM_AUTH_ERR", "PAM_SUCCESS"));
}

#[test]
fn replayed_code_is_refused_under_concurrent_logins() {
    // Lockout cannot change how many succeed (every failure comes after the one success, since
    // before it the code is fresh), but a high limit keeps every refusal's reason "replayed_code".
    let host = Host::with("[rate_limit]\nmax_failures = 1000", "");
    let peggy = host.enroll("peggy");
    let code = code_now(&peggy.params);
    const LOGINS: usize = 64;
    let barrier = Barrier::new(LOGINS);

    let outcomes: Vec<&'static str> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..LOGINS)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let (outcome, transcript) = host.sign_in("peggy", &[&code]);
                    assert_eq!(transcript, vec![CODE_PROMPT]);
                    outcome.name
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("sign-in thread"))
            .collect()
    });

    let successes = outcomes.iter().filter(|&&n| n == "PAM_SUCCESS").count();
    assert_eq!(
        successes, 1,
        "exactly one of {LOGINS} concurrent sign-ins with one code succeeds: {outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|&n| n == "PAM_SUCCESS" || n == "PAM_AUTH_ERR"),
        "{outcomes:?}"
    );
    // Every decision is one whole audit line (no torn or interleaved lines).
    let decisions = host.decisions();
    assert_eq!(
        decisions.len(),
        LOGINS,
        "one audit line per sign-in:\n{}",
        host.audit_text()
    );
    assert_eq!(
        decisions
            .iter()
            .filter(|d| d.get("result") == "success")
            .count(),
        1
    );
    for d in decisions.iter().filter(|d| d.get("result") != "success") {
        d.assert_decision("peggy", "failure", "replayed_code");
    }
    // Replays are refused but not counted towards the lockout (a replaying script must not
    // lock the user out); wrong codes are, and none of those may be lost under concurrency.
    assert_eq!(host.state("peggy").failures, 0, "replays are not counted");
    let wrong = wrong_code(&peggy.params);
    let barrier = Barrier::new(LOGINS);
    std::thread::scope(|s| {
        for _ in 0..LOGINS {
            s.spawn(|| {
                barrier.wait();
                assert_eq!(host.sign_in("peggy", &[&wrong]).0.name, "PAM_AUTH_ERR");
            });
        }
    });
    assert_eq!(
        host.state("peggy").failures,
        LOGINS as u32,
        "every wrong code counted, none lost"
    );
    host.assert_log_holds_none_of(&[code, peggy.secret()]);
}

#[test]
fn repeated_failures_lock_the_second_factor_until_an_administrator_unlocks() {
    let host = Host::with("[rate_limit]\nmax_failures = 3\nlockout_seconds = 900", "");
    let rupert = host.enroll("rupert");
    let wrong = wrong_code(&rupert.params);
    let right = code_now(&rupert.params);

    for attempt in 1..=3 {
        let (outcome, transcript) = host.sign_in("rupert", &[&wrong]);
        assert_eq!(outcome.name, "PAM_AUTH_ERR", "attempt {attempt}");
        if attempt < 3 {
            assert_eq!(transcript, vec![CODE_PROMPT], "attempt {attempt}");
        } else {
            assert_eq!(
                transcript,
                vec![CODE_PROMPT, LOCKED_ERROR],
                "the locking failure says so"
            );
        }
        host.last_decision()
            .assert_decision("rupert", "failure", "wrong_code");
    }
    assert!(ratelimit::is_locked(&host.state("rupert"), now()));

    // Locked: even the right code is refused, and the user is told before typing anything.
    let (locked, transcript) = host.sign_in("rupert", &[&right]);
    assert_eq!(locked.name, "PAM_AUTH_ERR");
    assert_eq!(transcript, vec![LOCKED_ERROR], "no prompt while locked");
    host.last_decision()
        .assert_decision("rupert", "failure", "locked_out");

    // What `twofold unlock rupert` does: through the store, under the user's lock.
    host.update_state("rupert", ratelimit::unlock);

    let (unlocked, transcript) = host.sign_in("rupert", &[&right]);
    assert_eq!(unlocked.name, "PAM_SUCCESS");
    assert_eq!(transcript, vec![CODE_PROMPT]);
    host.last_decision()
        .assert_decision("rupert", "success", "ok");
    assert_eq!(host.state("rupert").failures, 0);
    assert_eq!(host.decisions().len(), 5, "one line per decision");
    host.assert_log_holds_none_of(&[wrong, right, rupert.secret()]);
}

#[test]
fn a_success_resets_the_failure_count() {
    let host = Host::with("[rate_limit]\nmax_failures = 2", "");
    let sybil = host.enroll("sybil");
    let wrong = wrong_code(&sybil.params);

    assert_eq!(host.sign_in("sybil", &[&wrong]).0.name, "PAM_AUTH_ERR");
    assert_eq!(
        host.sign_in("sybil", &[&code_now(&sybil.params)]).0.name,
        "PAM_SUCCESS"
    );
    assert_eq!(host.sign_in("sybil", &[&wrong]).0.name, "PAM_AUTH_ERR");

    let state = host.state("sybil");
    assert_eq!(state.failures, 1);
    assert!(
        !ratelimit::is_locked(&state, now()),
        "two failures, but not consecutive"
    );
}

#[test]
fn recovery_code_works_once() {
    let host = Host::new();
    let trent = host.enroll("trent");
    assert!(trent.recovery.len() >= 2);
    let first = trent.recovery[0].clone();
    let second = trent.recovery[1].clone();

    let (used, said) = host.sign_in("trent", &[&first]);
    let total = trent.recovery.len();
    // The user learns how many are left, and where new ones come from.
    assert_eq!(
        said.last().map(|t| t.replace('\n', " ")),
        Some(format!(
            "INFO: Recovery code accepted: {} codes left. Each works once; ask your administrator for new ones (`twofold recovery-codes`) before they run out.",
            total - 1
        )),
        "{said:#?}"
    );
    let (reused, said) = host.sign_in("trent", &[&first]);
    assert!(!said.iter().any(|t| t.contains("accepted")), "{said:#?}");
    // Typed in capitals without dashes: still the same code.
    let typed = second.replace('-', "").to_uppercase();
    let (other, said) = host.sign_in("trent", &[&typed]);
    assert!(
        said.last()
            .unwrap()
            .contains(&format!("{} codes left", total - 2)),
        "{said:#?}"
    );

    assert_eq!(used.name, "PAM_SUCCESS");
    assert_eq!(reused.name, "PAM_AUTH_ERR");
    assert_eq!(other.name, "PAM_SUCCESS");
    let d = host.decisions();
    assert_eq!(d.len(), 3);
    d[0].assert_decision("trent", "success", "ok");
    assert_eq!(d[0].get("method"), "recovery");
    d[1].assert_decision("trent", "failure", "wrong_recovery_code");
    assert_eq!(d[1].get("method"), "recovery");
    d[2].assert_decision("trent", "success", "ok");
    assert_eq!(host.state("trent").used_recovery.len(), 2);
    host.assert_log_holds_none_of(&[first, second, typed.to_lowercase(), trent.secret()]);
}

#[test]
fn nullok_ignores_a_user_without_record_and_does_not_prompt() {
    let host = Host::new();
    host.enroll("someone-else");
    // `[default=done]` hands the module's own return code to the application.
    host.use_stack(&[host
        .module_line("nullok")
        .replace("auth required", "auth [default=done]")]);

    let (outcome, transcript) = host.sign_in("victor", &[]);

    assert_eq!(outcome.name, "PAM_IGNORE");
    assert!(
        transcript.is_empty(),
        "no prompt for a user without a record: {transcript:?}"
    );
    let d = host.last_decision();
    assert_eq!(
        (d.get("user"), d.get("result"), d.get("reason")),
        ("victor", "ignore", "not_enrolled")
    );

    // In a stack, an ignored second factor leaves the decision to the other modules.
    host.use_stack(&[
        host.module_line("nullok"),
        "auth required pam_permit.so".into(),
    ]);
    assert_eq!(host.sign_in("victor", &[]).0.name, "PAM_SUCCESS");
}

#[test]
fn nullok_with_no_state_directory_at_all_ignores_the_user() {
    let host = Host::new(); // Nobody enrolled: state_dir does not exist.
    host.use_stack(&[host
        .module_line("nullok")
        .replace("auth required", "auth [default=done]")]);

    let (outcome, transcript) = host.sign_in("walter", &[]);

    assert_eq!(outcome.name, "PAM_IGNORE");
    assert!(transcript.is_empty());
}

#[test]
fn nullok_still_requires_the_code_from_enrolled_users() {
    let host = Host::with("", "nullok");
    let wendy = host.enroll("wendy");

    let (wrong, transcript) = host.sign_in("wendy", &[&wrong_code(&wendy.params)]);
    let (right, _) = host.sign_in("wendy", &[&code_now(&wendy.params)]);

    assert_eq!(wrong.name, "PAM_AUTH_ERR");
    assert_eq!(transcript, vec![CODE_PROMPT]);
    assert_eq!(right.name, "PAM_SUCCESS");
}

#[test]
fn without_nullok_a_user_without_record_is_prompted_the_same_and_refused() {
    let host = Host::new();
    let enrolled = host.enroll("xavier");
    let (_, enrolled_transcript) = host.sign_in("xavier", &[&wrong_code(&enrolled.params)]);

    let (outcome, transcript) = host.sign_in("yolanda", &["123456"]);

    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert_eq!(
        transcript, enrolled_transcript,
        "the prompt does not tell who is enrolled"
    );
    assert_eq!(transcript, vec![CODE_PROMPT]);
    host.last_decision()
        .assert_decision("yolanda", "failure", "not_enrolled");
    host.assert_log_holds_none_of(&["123456".into()]);
}

#[test]
fn try_first_pass_accepts_the_stacked_code_without_a_second_prompt() {
    let host = Host::new();
    let zoe = host.enroll("zoe");
    host.use_stack(&[SET_AUTHTOK_LINE.into(), host.module_line("try_first_pass")]);
    let code = code_now(&zoe.params);

    let (outcome, transcript) = host.sign_in("zoe", &[&code]);

    assert_eq!(outcome.name, "PAM_SUCCESS");
    assert_eq!(
        transcript,
        vec![PASSWORD_PROMPT],
        "only the stacked module prompted"
    );
    host.last_decision().assert_decision("zoe", "success", "ok");
    host.assert_log_holds_none_of(&[code]);
}

#[test]
fn try_first_pass_prompts_when_the_stacked_answer_is_not_a_code() {
    let host = Host::new();
    let amy = host.enroll("amy");
    host.use_stack(&[SET_AUTHTOK_LINE.into(), host.module_line("try_first_pass")]);
    let code = code_now(&amy.params);

    let (outcome, transcript) = host.sign_in("amy", &["correct horse battery staple", &code]);

    assert_eq!(outcome.name, "PAM_SUCCESS");
    assert_eq!(transcript, vec![PASSWORD_PROMPT, CODE_PROMPT]);
    assert_eq!(host.decisions().len(), 1, "one decision, one line");
    host.last_decision().assert_decision("amy", "success", "ok");
    host.assert_log_holds_none_of(&["correct horse battery staple".into(), code]);
}

#[test]
fn try_first_pass_does_not_count_the_stacked_password_as_a_failed_code() {
    // The stacked answer is normally the user's password: trying it as a code must not cost one
    // of the user's attempts, or every sign-in would count a failure and lock users early.
    let host = Host::with("[rate_limit]\nmax_failures = 2", "");
    let bea = host.enroll("bea");
    host.use_stack(&[SET_AUTHTOK_LINE.into(), host.module_line("try_first_pass")]);
    let wrong = wrong_code(&bea.params);

    let (outcome, transcript) = host.sign_in("bea", &["my password", &wrong]);

    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert_eq!(
        transcript,
        vec![PASSWORD_PROMPT, CODE_PROMPT],
        "not locked by one mistyped code"
    );
    host.last_decision()
        .assert_decision("bea", "failure", "wrong_code");
    let state = host.state("bea");
    assert_eq!(state.failures, 1, "only the typed code counts");
    assert!(!ratelimit::is_locked(&state, now()));

    let (retry, _) = host.sign_in("bea", &["my password", &code_now(&bea.params)]);
    assert_eq!(retry.name, "PAM_SUCCESS");
}

#[test]
fn use_first_pass_uses_the_stacked_code_and_never_prompts() {
    let host = Host::new();
    let cid = host.enroll("cid");
    host.use_stack(&[SET_AUTHTOK_LINE.into(), host.module_line("use_first_pass")]);

    let (right, transcript) = host.sign_in("cid", &[&code_now(&cid.params)]);
    assert_eq!(right.name, "PAM_SUCCESS");
    assert_eq!(transcript, vec![PASSWORD_PROMPT]);

    let (wrong, transcript) = host.sign_in("cid", &["not a code", "123456"]);
    assert_eq!(wrong.name, "PAM_AUTH_ERR");
    assert_eq!(
        transcript,
        vec![PASSWORD_PROMPT],
        "a stacked non-code is refused without a prompt"
    );
    host.last_decision()
        .assert_decision("cid", "failure", "malformed_answer");
}

#[test]
fn use_first_pass_without_a_stacked_answer_is_refused_without_prompting() {
    let host = Host::with("", "use_first_pass");
    let dan = host.enroll("dan");

    let (outcome, transcript) = host.sign_in("dan", &[&code_now(&dan.params)]);

    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert!(transcript.is_empty(), "never prompts: {transcript:?}");
    host.last_decision()
        .assert_decision("dan", "failure", "no_stacked_answer");
}

#[test]
fn forward_pass_verifies_the_code_and_hands_the_password_on() {
    let host = Host::new();
    let eve = host.enroll("eve");
    host.use_stack(&[host.module_line("forward_pass"), host.read_authtok_line()]);
    let code = code_now(&eve.params);
    let answer = format!("s3cret pass{code}");

    let (outcome, transcript) = host.sign_in("eve", &[&answer]);

    assert_eq!(outcome.name, "PAM_SUCCESS");
    assert_eq!(
        transcript,
        vec!["PROMPT_ECHO_OFF: Password & verification code: "]
    );
    assert_eq!(
        host.seen_authtok().as_deref(),
        Some("s3cret pass"),
        "only the password is passed on"
    );
    host.last_decision().assert_decision("eve", "success", "ok");
    host.assert_log_holds_none_of(&[code, "s3cret pass".into()]);
}

#[test]
fn forward_pass_with_a_wrong_code_is_refused_and_still_hands_the_password_on() {
    let host = Host::new();
    let fay = host.enroll("fay");
    host.use_stack(&[host.module_line("forward_pass"), host.read_authtok_line()]);
    let wrong = wrong_code(&fay.params);

    let (outcome, _) = host.sign_in("fay", &[&format!("pw{wrong}")]);

    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert_eq!(host.seen_authtok().as_deref(), Some("pw"));
    host.last_decision()
        .assert_decision("fay", "failure", "wrong_code");
}

#[test]
fn forward_pass_accepts_a_recovery_code_after_the_password() {
    let host = Host::new();
    let gus = host.enroll("gus");
    host.use_stack(&[host.module_line("forward_pass"), host.read_authtok_line()]);
    let recovery = gus.recovery[0].clone();

    let (outcome, _) = host.sign_in("gus", &[&format!("hunter2{recovery}")]);

    assert_eq!(outcome.name, "PAM_SUCCESS");
    assert_eq!(host.seen_authtok().as_deref(), Some("hunter2"));
    assert_eq!(host.last_decision().get("method"), "recovery");
}

#[test]
fn prompt_argument_changes_the_prompt_text() {
    let host = Host::with("", "[prompt=Code from your phone: ]");
    let hal = host.enroll("hal");

    let (outcome, transcript) = host.sign_in("hal", &[&code_now(&hal.params)]);

    assert_eq!(outcome.name, "PAM_SUCCESS");
    assert_eq!(transcript, vec!["PROMPT_ECHO_OFF: Code from your phone: "]);
}

#[test]
fn pam_silent_suppresses_the_lockout_message() {
    let host = Host::with("[rate_limit]\nmax_failures = 1", "");
    let ida = host.enroll("ida");
    let wrong = wrong_code(&ida.params);

    // The locking failure, silently: a prompt but no error message.
    let (first, transcript) = host.sign_in_flags("ida", &[&wrong], PAM_SILENT);
    assert_eq!(first.name, "PAM_AUTH_ERR");
    assert_eq!(transcript, vec![CODE_PROMPT]);

    // Locked, silently: nothing at all.
    let (silent, transcript) = host.sign_in_flags("ida", &[&code_now(&ida.params)], PAM_SILENT);
    assert_eq!(silent.name, "PAM_AUTH_ERR");
    assert!(transcript.is_empty(), "PAM_SILENT: {transcript:?}");
    host.last_decision()
        .assert_decision("ida", "failure", "locked_out");

    // The same without PAM_SILENT shows the message.
    let (loud, transcript) = host.sign_in("ida", &[]);
    assert_eq!(loud.name, "PAM_AUTH_ERR");
    assert_eq!(transcript, vec![LOCKED_ERROR]);
}

#[test]
fn pam_silent_suppresses_the_unavailable_message() {
    let host = Host::new();
    host.enroll("jon");
    std::fs::write(host.record_path("jon"), "not = [a record").unwrap();

    let (silent, transcript) = host.sign_in_flags("jon", &[], PAM_SILENT);
    assert_eq!(silent.name, "PAM_AUTHINFO_UNAVAIL");
    assert!(transcript.is_empty(), "PAM_SILENT: {transcript:?}");

    let (loud, transcript) = host.sign_in("jon", &[]);
    assert_eq!(loud.name, "PAM_AUTHINFO_UNAVAIL");
    assert_eq!(transcript, vec![UNAVAILABLE_ERROR]);
}

#[test]
fn unknown_module_arguments_are_logged_and_the_sign_in_still_works() {
    let host = Host::with("", "frobnicate=yes");
    let kim = host.enroll("kim");

    let (outcome, _) = host.sign_in("kim", &[&code_now(&kim.params)]);

    assert_eq!(outcome.name, "PAM_SUCCESS");
    let lines = host.audit_lines();
    let warning = lines
        .iter()
        .map(|l| Entry::parse(l))
        .find(|e| e.event == "warning")
        .expect("a warning line");
    assert_eq!(warning.get("reason"), "unknown_module_arguments");
    assert_eq!(warning.get("arguments"), "frobnicate=yes");
    host.last_decision().assert_decision("kim", "success", "ok");
}

#[test]
fn audit_log_has_one_line_per_decision_and_never_a_code_or_secret() {
    let host = Host::with("[rate_limit]\nmax_failures = 100", "");
    let leo = host.enroll("leo");
    let right = code_now(&leo.params);
    let wrong = wrong_code(&leo.params);
    let recovery = leo.recovery[3].clone();
    let mut typed = vec![right.clone(), wrong.clone(), recovery.clone()];

    let runs: Vec<(&str, String, &str, &str)> = vec![
        ("leo", wrong.clone(), "failure", "wrong_code"),
        ("leo", right.clone(), "success", "ok"),
        ("leo", right.clone(), "failure", "replayed_code"),
        ("leo", recovery.clone(), "success", "ok"),
        ("leo", recovery.clone(), "failure", "wrong_recovery_code"),
        (
            "leo",
            "0000-0000-0000".into(),
            "failure",
            "wrong_recovery_code",
        ),
        ("leo", "letmein!".into(), "failure", "malformed_answer"),
        ("nobody-here", "424242".into(), "failure", "not_enrolled"),
    ];
    for (user, answer, _, _) in &runs {
        host.sign_in(user, &[answer]);
        typed.push(answer.clone());
    }

    let decisions = host.decisions();
    assert_eq!(
        decisions.len(),
        runs.len(),
        "one auth line per decision:\n{}",
        host.audit_text()
    );
    for (d, (user, _, result, reason)) in decisions.iter().zip(&runs) {
        d.assert_decision(user, result, reason);
        for key in ["user", "service", "rhost", "method", "result", "reason"] {
            assert!(d.fields.contains_key(key), "{key} missing in {}", d.raw);
        }
    }
    assert_eq!(host.audit_lines().len(), runs.len(), "no other lines");
    typed.push(leo.secret());
    host.assert_log_holds_none_of(&typed);
}

#[test]
fn audit_lines_stay_whole_when_many_sign_ins_write_at_once() {
    // Sign-ins are separate processes (sshd forks) or threads appending to one file: each
    // decision must reach the file in one piece, never interleaved with another's.
    let host = Host::new();
    const THREADS: usize = 8;
    const EACH: usize = 150;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let host = &host;
            s.spawn(move || {
                for _ in 0..EACH {
                    let (outcome, _) = host.sign_in(&format!("stranger{t}"), &["000000"]);
                    assert_eq!(outcome.name, "PAM_AUTH_ERR");
                }
            });
        }
    });
    let lines = host.audit_lines();
    assert_eq!(lines.len(), THREADS * EACH, "one line per decision");
    for line in &lines {
        let e = Entry::parse(line);
        assert_eq!(
            (e.get("result"), e.get("reason")),
            ("failure", "not_enrolled"),
            "{line}"
        );
    }
}

#[test]
fn try_first_pass_prompts_after_a_stacked_wrong_code() {
    let host = Host::new();
    let hank = host.enroll("hank");
    host.use_stack(&[SET_AUTHTOK_LINE.into(), host.module_line("try_first_pass")]);
    let wrong = wrong_code(&hank.params);

    let (outcome, transcript) = host.sign_in("hank", &[&wrong, &code_now(&hank.params)]);

    assert_eq!(outcome.name, "PAM_SUCCESS");
    assert_eq!(transcript, vec![PASSWORD_PROMPT, CODE_PROMPT]);
    host.last_decision()
        .assert_decision("hank", "success", "ok");
}
