//! Push approval through real libpam with the built module: the "phone" is a test device with
//! its own P-256 key that pairs with and answers through the approval service.
mod common;

use common::push::{PushHost, number_in, write_token, wrong_token};
use common::{RHOST, code_now, now};
use std::net::TcpListener;
use std::time::{Duration, Instant};
use twofold_core::push::protocol::DecisionKind;

const APPROVE_PROMPT: &str = "PROMPT_ECHO_OFF: Approve the sign-in on your phone: number ";

fn approve(p: &PushHost, n: u8) {
    p.answer(DecisionKind::Approve, &n.to_string());
}

fn nothing(_: &PushHost, _: u8) {}

/// The transcript's texts with line breaks as spaces (texts are wrapped at 78 columns).
fn said(transcript: &[String]) -> Vec<String> {
    transcript.iter().map(|t| t.replace('\n', " ")).collect()
}

/// Whether some message or prompt holds `text` (line breaks read as spaces).
fn says(transcript: &[String], text: &str) -> bool {
    said(transcript).iter().any(|t| t.contains(text))
}

/// No audit field holds the number the user was shown.
fn assert_number_not_logged(p: &PushHost, transcript: &[String]) {
    let shown: Vec<u8> = transcript.iter().filter_map(|t| number_in(t)).collect();
    for line in p.host.audit_lines() {
        let entry = common::Entry::parse(&line);
        assert!(!entry.fields.contains_key("number"), "{line}");
        for n in &shown {
            let n = n.to_string();
            assert!(
                entry.fields.values().all(|v| *v != n),
                "the number {n} is in the audit log: {line}"
            );
        }
    }
}

#[test]
fn approval_with_the_right_number_signs_in_over_ssh() {
    let p = PushHost::new("");
    let (outcome, transcript) = p.sign_in(approve, &[]);
    assert_eq!(outcome.name, "PAM_SUCCESS", "{transcript:#?}");
    assert!(transcript[0].starts_with(APPROVE_PROMPT), "{transcript:#?}");
    assert!(transcript[0].ends_with(".\nThen press Enter, or type a code: "));
    // Every line fits 80 columns behind the SSH client's "(alice@host.example) " (24).
    assert!(
        transcript[0]
            .trim_start_matches("PROMPT_ECHO_OFF: ")
            .lines()
            .all(|l| l.chars().count() + 24 <= 80),
        "{transcript:#?}"
    );
    assert_eq!(transcript.len(), 1, "one prompt only: {transcript:#?}");
    let d = p.host.last_decision();
    d.assert_decision("alice", "success", "push_approved");
    // A push sign-in is a sign-in: `status` and `list` show it as the last one.
    assert!(p.host.state("alice").last_success >= now() - 5);
    assert_eq!(d.get("method"), "push");
    assert_number_not_logged(&p, &transcript);
    // No longer pending: the next sign-in pushes again.
    let (outcome, transcript) = p.sign_in(approve, &[]);
    assert_eq!(outcome.name, "PAM_SUCCESS", "{transcript:#?}");
}

#[test]
fn approval_clears_earlier_failures() {
    let p = PushHost::new("");
    p.host.update_state("alice", |s| s.failures = 3);
    let (outcome, _) = p.sign_in(approve, &[]);
    assert_eq!(outcome.name, "PAM_SUCCESS");
    let state = p.host.state("alice");
    assert_eq!(state.failures, 0);
    assert!(state.last_success >= now() - 5);
}

#[test]
fn console_sign_in_shows_the_number_and_waits_for_the_phone() {
    let p = PushHost::new("mode = \"wait\"\ntimeout_seconds = 60");
    let (outcome, transcript) = p.sign_in(approve, &[]);
    assert_eq!(outcome.name, "PAM_SUCCESS", "{transcript:#?}");
    assert!(
        transcript[0].starts_with("INFO: Approve on your phone — number ")
            && transcript[0].ends_with("(waiting 60 s)"),
        "{transcript:#?}"
    );
    assert!(transcript.iter().all(|t| !t.starts_with("PROMPT")));
    p.host
        .last_decision()
        .assert_decision("alice", "success", "push_approved");
}

#[test]
fn denial_refuses_and_backs_off_to_codes() {
    let p = PushHost::new("backoff_seconds = 600");
    let (outcome, transcript) = p.sign_in(|p, _| p.answer(DecisionKind::Deny, ""), &[]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR", "{transcript:#?}");
    // Over SSH a prompt of its own (the client drops messages of a failed sign-in): what
    // happened and what the next sign-ins do.
    assert!(
        says(
            &transcript,
            "PROMPT_ECHO_ON: The sign-in was denied on your phone, so it was refused. For the next 10 minutes, sign-ins ask for a code from your app instead of a push. Press Enter: "
        ),
        "{transcript:#?}"
    );
    p.host
        .last_decision()
        .assert_decision("alice", "failure", "push_denied");
    assert!(p.host.state("alice").push_backoff_until >= now() + 590);
    // While backing off, the next sign-in asks for a code straight away.
    let code = code_now(&p.enrolled.params);
    let (outcome, transcript) = p.sign_in(nothing, &[&code]);
    assert_eq!(outcome.name, "PAM_SUCCESS", "{transcript:#?}");
    assert_eq!(transcript.last().unwrap(), common::CODE_PROMPT);
    assert!(
        says(
            &transcript,
            "INFO: No push for 10 minutes more (the last one was denied or not answered): use a code from your app."
        ),
        "{transcript:#?}"
    );
    let lines = p.host.audit_lines();
    let push_line = common::Entry::parse(&lines[lines.len() - 2]);
    assert_eq!(
        (push_line.event.as_str(), push_line.get("reason")),
        ("push", "push_backoff")
    );
    p.host
        .last_decision()
        .assert_decision("alice", "success", "ok");
}

#[test]
fn report_refuses_logs_suspicious_and_suspends_push() {
    let p = PushHost::new("");
    let (outcome, _) = p.sign_in(|p, _| p.answer(DecisionKind::Report, ""), &[]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    let d = p.host.last_decision();
    d.assert_decision("alice", "failure", "push_reported");
    assert_eq!(d.get("suspicious"), "yes");
    // A day by default, and the next sign-in says until when.
    let until = p.host.state("alice").push_suspended_until;
    assert!(until >= now() + 86_390, "{until}");
    let (_, transcript) = p.sign_in(nothing, &["000000"]);
    let ends = twofold_core::when::human(until);
    assert_eq!(
        said(&transcript),
        [
            format!(
                "INFO: Push approval is paused for your account until {ends}, after a sign-in was reported as not you: use a code from your app."
            ),
            common::CODE_PROMPT.to_string()
        ],
        "no second push while suspended"
    );
    let lines = p.host.audit_lines();
    let push_line = common::Entry::parse(&lines[lines.len() - 2]);
    assert_eq!(push_line.get("reason"), "push_suspended");
}

#[test]
fn a_report_without_alerts_asks_the_user_to_tell_the_administrator() {
    let p = PushHost::new("report_suspend_seconds = 7200");
    let (outcome, transcript) = p.sign_in(|p, _| p.answer(DecisionKind::Report, ""), &[]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    let until = p.host.state("alice").push_suspended_until;
    let ends = twofold_core::when::human(until);
    assert!(
        says(
            &transcript,
            &format!(
                "You reported this sign-in as not you: it was refused, and push approval is paused for your account until {ends} (codes from your app still work). Please tell your administrator."
            )
        ),
        "{transcript:#?}"
    );
    assert!(!says(&transcript, "has been told"), "{transcript:#?}");
}

#[test]
fn a_report_runs_the_alert_command_and_the_user_is_told_so() {
    let p = PushHost::new("");
    let script = p.host.root.join("alert.sh");
    let record = p.host.root.join("alert");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > {0}.argv\ncat > {0}.stdin\n",
            record.display()
        ),
    )
    .unwrap();
    let config = format!(
        "{}\n[alerts]\ncommand = [\"/bin/sh\", {:?}, \"{{event}}\", \"{{user}}@{{host}}\", \"from {{rhost}}\"]\ntimeout_seconds = 5\n",
        common::push::push_config(&p.service.url, &p.token_path, ""),
        script.display().to_string()
    );
    p.host.configure(&config);
    let (outcome, transcript) = p.sign_in(|p, _| p.answer(DecisionKind::Report, ""), &[]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert!(
        says(
            &transcript,
            "(codes from your app still work). Your administrator has been told."
        ),
        "{transcript:#?}"
    );
    let argv = std::fs::read_to_string(record.with_extension("argv")).unwrap();
    assert_eq!(
        argv,
        format!("push_reported\nalice@testhost\nfrom {RHOST}\n")
    );
    let stdin = std::fs::read_to_string(record.with_extension("stdin")).unwrap();
    assert!(
        stdin.starts_with(&format!(
            "event=push_reported\nuser=alice\nhost=testhost\nservice=twofold-test\nrhost={RHOST}\ntime="
        )),
        "{stdin}"
    );
    // No secret, code or number in what the administrator's command gets.
    assert!(!stdin.contains(p.enrolled.params.secret.expose()));
    let lines = p.host.audit_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("alert user=alice") && l.contains("result=sent")),
        "{lines:#?}"
    );
}

#[test]
fn no_answer_in_time_is_a_timeout() {
    let p = PushHost::new("mode = \"wait\"\ntimeout_seconds = 2");
    let started = Instant::now();
    let (outcome, transcript) = p.sign_in(nothing, &[]);
    let took = started.elapsed();
    assert_eq!(outcome.name, "PAM_AUTH_ERR", "{transcript:#?}");
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(6),
        "{took:?}"
    );
    p.host
        .last_decision()
        .assert_decision("alice", "failure", "push_timeout");
    assert!(p.host.state("alice").push_backoff_until > now());
}

#[test]
fn approval_with_another_number_is_refused() {
    let p = PushHost::new("");
    let other = |p: &PushHost, n: u8| {
        let wrong = if n == 99 { 10 } else { n + 1 };
        p.answer(DecisionKind::Approve, &wrong.to_string());
    };
    let (outcome, transcript) = p.sign_in(other, &[]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    p.host
        .last_decision()
        .assert_decision("alice", "failure", "push_number_mismatch");
    // The terminal says so, naming the number it showed, instead of silently starting over.
    let shown = transcript.iter().find_map(|t| number_in(t)).unwrap();
    assert!(
        says(
            &transcript,
            &format!("The number typed on your phone was not {shown}, so the sign-in was refused.")
        ),
        "{transcript:#?}"
    );
    assert_eq!(
        p.host.state("alice").failures,
        1,
        "counts as a failed attempt"
    );
}

#[test]
fn an_answer_that_does_not_verify_against_the_record_is_refused_but_not_counted() {
    let p = PushHost::new("");
    // The record holds another key for the phone than the one it signs with (what a relayed
    // answer from anyone but the user's device looks like to the host).
    let other = twofold_core::push::device::TestDevice::new("other").unwrap();
    p.edit_record(|r| r.devices[0].public_key = other.public_key_b64u());
    for _ in 0..2 {
        let (outcome, transcript) = p.sign_in(approve, &[]);
        assert_eq!(outcome.name, "PAM_AUTH_ERR");
        assert!(
            transcript[0].starts_with(APPROVE_PROMPT),
            "push was offered: {transcript:#?}\n{}",
            p.host.audit_lines().join("\n")
        );
        p.host
            .last_decision()
            .assert_decision("alice", "failure", "push_invalid_signature");
    }
    assert_eq!(
        p.host.state("alice").failures,
        0,
        "answers that are not the user's must not lock the user out"
    );
}

#[test]
fn a_code_typed_at_the_push_prompt_is_checked_as_a_code() {
    let p = PushHost::new("");
    let code = code_now(&p.enrolled.params);
    let (outcome, transcript) = p.sign_in(nothing, &[&code]);
    assert_eq!(outcome.name, "PAM_SUCCESS", "{transcript:#?}");
    let d = p.host.last_decision();
    d.assert_decision("alice", "success", "ok");
    assert_eq!(d.get("method"), "totp");
    let (outcome, _) = p.sign_in(nothing, &["000000"]);
    assert_eq!(
        outcome.name, "PAM_AUTH_ERR",
        "wrong code at the push prompt"
    );
    p.host
        .assert_log_holds_none_of(&[code, p.enrolled.secret()]);
}

#[test]
fn a_removed_device_gets_no_push() {
    let p = PushHost::new("");
    p.edit_record(|r| r.devices[0].removed = Some(now()));
    let (_, transcript) = p.sign_in(nothing, &["000000"]);
    // No push; the code prompt, with the word on pairing a phone again.
    assert_eq!(
        transcript,
        [
            "INFO: Tip: type pair (instead of a code) to approve sign-ins on your phone from now on.",
            common::CODE_PROMPT
        ]
    );
}

/// A port on which nothing listens.
fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// A PushHost whose service URL is then replaced by `url` (pairing needs a live service).
fn host_with_url(url: &str, extra: &str) -> PushHost {
    let p = PushHost::new(extra);
    p.host
        .configure(&common::push::push_config(url, &p.token_path, extra));
    p
}

#[test]
fn service_down_falls_back_to_a_code_by_default() {
    let p = host_with_url(&closed_port_url(), "");
    let code = code_now(&p.enrolled.params);
    let started = Instant::now();
    let (outcome, transcript) = p.sign_in(nothing, &[&code]);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(outcome.name, "PAM_SUCCESS", "{transcript:#?}");
    assert_eq!(
        transcript,
        [
            "INFO: Push approval is not available right now: use a code from your app.",
            common::CODE_PROMPT
        ]
    );
    let lines = p.host.audit_lines();
    let push_line = common::Entry::parse(&lines[lines.len() - 2]);
    assert_eq!(push_line.get("reason"), "push_unreachable");
}

#[test]
fn service_down_with_fail_mode_deny_refuses() {
    let p = host_with_url(&closed_port_url(), "fail_mode = \"deny\"");
    let (outcome, transcript) = p.sign_in(nothing, &[]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR", "{transcript:#?}");
    assert_eq!(
        transcript,
        ["ERROR: Push approval is not available right now, and this system accepts nothing else."]
    );
    p.host
        .last_decision()
        .assert_decision("alice", "failure", "push_unreachable");
}

#[test]
fn service_down_with_fail_mode_allow_lets_in_and_says_so() {
    let p = host_with_url(&closed_port_url(), "fail_mode = \"allow\"");
    let (outcome, _) = p.sign_in(nothing, &[]);
    assert_eq!(outcome.name, "PAM_SUCCESS");
    let d = p.host.last_decision();
    d.assert_decision("alice", "success", "push_unreachable");
    assert!(d.get("detail").starts_with("fail_mode=allow"), "{}", d.raw);
}

#[test]
fn hanging_service_is_given_up_within_the_bound() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(2).collect();
        std::thread::sleep(Duration::from_secs(8));
        drop(held);
    });
    let p = host_with_url(&url, "fail_mode = \"deny\"\nconnect_timeout_ms = 300");
    let started = Instant::now();
    let (outcome, _) = p.sign_in(nothing, &[]);
    let took = started.elapsed();
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    // Connect (instant) plus at most connect_timeout for the answer, twice over at most.
    assert!(took < Duration::from_millis(1500), "{took:?}");
    let d = p.host.last_decision();
    d.assert_decision("alice", "failure", "push_unreachable");
    assert!(d.get("detail").contains("timed out"), "{}", d.raw);
    drop(held);
}

#[test]
fn a_second_push_is_refused_while_one_is_pending() {
    let p = PushHost::new("mode = \"wait\"\ntimeout_seconds = 30");
    let (shown_tx, shown_rx) = std::sync::mpsc::channel();
    let (outcome, _) = std::thread::scope(|s| {
        let first = s.spawn(|| {
            p.sign_in(
                move |_, n| {
                    shown_tx.send(n).unwrap();
                },
                &[],
            )
        });
        let n = shown_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        // A second sign-in meanwhile: no second push, a code instead.
        let code = code_now(&p.enrolled.params);
        let (second, transcript) = p.sign_in(nothing, &[&code]);
        assert_eq!(second.name, "PAM_SUCCESS", "{transcript:#?}");
        assert_eq!(transcript.last().unwrap(), common::CODE_PROMPT);
        let lines = p.host.audit_lines();
        let push_line = common::Entry::parse(&lines[lines.len() - 2]);
        assert_eq!(push_line.get("reason"), "push_pending");
        // Still exactly one challenge for the phone (p.pending asserts it).
        let _ = p.pending();
        approve(&p, n);
        first.join().unwrap()
    });
    assert_eq!(outcome.name, "PAM_SUCCESS");
}

#[test]
fn the_service_refuses_a_second_pending_challenge_too() {
    let p = PushHost::new("mode = \"wait\"\ntimeout_seconds = 30");
    let (shown_tx, shown_rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let first = s.spawn(|| p.sign_in(move |_, n| shown_tx.send(n).unwrap(), &[]));
        let n = shown_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        // The host's own mark is lost (state restored from a backup, say): the service says 409.
        p.host.update_state("alice", |s| s.push_pending_until = 0);
        let code = code_now(&p.enrolled.params);
        let (second, _) = p.sign_in(nothing, &[&code]);
        assert_eq!(second.name, "PAM_SUCCESS");
        let lines = p.host.audit_lines();
        let push_line = common::Entry::parse(&lines[lines.len() - 2]);
        assert_eq!(push_line.get("reason"), "push_pending");
        approve(&p, n);
        assert_eq!(first.join().unwrap().0.name, "PAM_SUCCESS");
    });
}

#[test]
fn a_challenge_without_a_valid_host_token_is_refused() {
    let p = PushHost::new("fail_mode = \"deny\"");
    write_token(&p.token_path, &wrong_token());
    let (outcome, _) = p.sign_in(nothing, &[]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    let d = p.host.last_decision();
    d.assert_decision("alice", "failure", "push_host_refused");
    // The service itself refuses it, whoever asks.
    let challenge =
        twofold_core::push::protocol::Challenge::new("alice", "h", "sshd", RHOST, now(), 30)
            .unwrap();
    let err = p
        .service
        .as_host(&wrong_token())
        .create_challenge(&challenge, std::slice::from_ref(&p.phone.id))
        .unwrap_err();
    assert!(
        matches!(
            err,
            twofold_core::push::service::ServiceError::Unauthorized(_)
        ),
        "{err}"
    );
}

#[test]
fn a_host_token_readable_by_others_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let p = PushHost::new("fail_mode = \"deny\"");
    std::fs::set_permissions(&p.token_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (outcome, _) = p.sign_in(nothing, &[]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    let d = p.host.last_decision();
    d.assert_decision("alice", "failure", "push_host_token");
    assert!(d.get("detail").contains("mode 0644"), "{}", d.raw);
}

#[test]
fn a_dutch_user_approves_in_dutch_and_is_told_of_a_denial_and_the_back_off_in_dutch() {
    let p = PushHost::new("backoff_seconds = 600");
    p.edit_record(|r| r.language = Some("nl".into()));
    let (outcome, transcript) = p.sign_in(approve, &[]);
    assert_eq!(outcome.name, "PAM_SUCCESS", "{transcript:#?}");
    assert!(
        transcript[0]
            .starts_with("PROMPT_ECHO_OFF: Keur de aanmelding goed op uw telefoon: nummer ")
            && transcript[0].ends_with(".\nDruk daarna op Enter, of typ een code: "),
        "{transcript:#?}"
    );
    assert!(
        transcript[0]
            .trim_start_matches("PROMPT_ECHO_OFF: ")
            .lines()
            .all(|l| l.chars().count() + 24 <= 80),
        "{transcript:#?}"
    );

    let (outcome, transcript) = p.sign_in(|p, _| p.answer(DecisionKind::Deny, ""), &[]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR", "{transcript:#?}");
    assert!(
        says(
            &transcript,
            "PROMPT_ECHO_ON: De aanmelding is op uw telefoon afgewezen en dus geweigerd. De komende 10 minuten vragen aanmeldingen om een code uit uw app in plaats van een pushmelding. Druk op Enter: "
        ),
        "{transcript:#?}"
    );
    let code = code_now(&p.enrolled.params);
    let (outcome, transcript) = p.sign_in(nothing, &[&code]);
    assert_eq!(outcome.name, "PAM_SUCCESS", "{transcript:#?}");
    assert!(
        says(
            &transcript,
            "INFO: Nog 10 minuten geen pushmelding (de vorige is afgewezen of niet beantwoord): gebruik een code uit uw app."
        ),
        "{transcript:#?}"
    );
    assert_eq!(
        transcript.last().unwrap(),
        "PROMPT_ECHO_OFF: Code uit uw Authenticator-app (of een herstelcode): "
    );
    // The audit lines stay English key=value.
    p.host
        .last_decision()
        .assert_decision("alice", "success", "ok");
}
