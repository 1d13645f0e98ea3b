//! Temporary access passes (`twofold pass USER`), through real libpam with the built module:
//! a pass stands in for the second factor and leads into enrollment; expired, used and wrong
//! passes are refused; `[enrollment] require_pass` refuses first-sign-in enrollment without one;
//! every use is in the audit log, the pass never.

mod common;

use common::{Host, RHOST, code_now, user_name};
use std::process::Command;
use twofold_core::factor::totp::{Algorithm, TotpParams};
use twofold_core::secret::SecretString;
use twofold_core::store::UserStore;
use twofold_pam_client::Message;

/// An account that exists on every Debian system; enrollment at sign-in needs a real one.
const ACCOUNT: &str = "daemon";
const PASS_PROMPT: &str = "Temporary access pass (from your administrator): ";

/// `twofold pass ACCOUNT ARGS`: the pass it printed (the indented line).
fn issue(host: &Host, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_twofold"))
        .arg("--config")
        .arg(&host.config_path)
        .args(["pass", ACCOUNT])
        .args(args)
        .env("LANG", "C.UTF-8")
        .output()
        .expect("run twofold");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with(&format!(
            "Temporary access pass for {ACCOUNT}, valid until "
        )),
        "{text}"
    );
    let pass = text
        .lines()
        .find_map(|l| l.strip_prefix("    "))
        .expect("the pass on a line of its own")
        .to_string();
    assert_eq!(pass.len(), 19, "four groups of four: {pass}");
    pass
}

fn record(host: &Host) -> Option<twofold_core::store::UserRecord> {
    let store = UserStore::open(&host.state_dir).ok()?;
    store.load_record(&user_name(ACCOUNT)).unwrap()
}

fn params(key: &str) -> TotpParams {
    TotpParams {
        secret: SecretString::new(key.to_string()),
        algorithm: Algorithm::SHA1,
        digits: 6,
        period: 30,
        skew: None,
    }
}

fn key_in(prompt: &str) -> Option<String> {
    if let Some(key) = prompt
        .lines()
        .find_map(|l| l.strip_prefix("Light background, or won't scan? Key: "))
    {
        return Some(key.trim_end().replace(' ', ""));
    }
    let mut lines = prompt.lines();
    lines.find(|l| *l == "Light background, or won't scan? Type this key:")?;
    Some(lines.next()?.split("  (").next()?.replace(' ', ""))
}

/// Signs in answering `first` to the first prompt, then the enrollment dialogue: the right
/// code for the key shown (or `wrong` codes), Enter under the recovery codes. The prompts seen
/// and the new key.
fn sign_in_with_pass(
    host: &Host,
    first: &str,
    right_code: bool,
) -> (String, Vec<String>, Option<String>) {
    let mut prompts = Vec::new();
    let mut key = None;
    let outcome = host.sign_in_with(ACCOUNT, Some(RHOST), &mut |msg: Message<'_>| match msg {
        Message::PromptEchoOn(text) | Message::PromptEchoOff(text) => {
            prompts.push(text.to_string());
            if prompts.len() == 1 {
                return Some(first.as_bytes().to_vec());
            }
            if let Some(k) = key_in(text) {
                key = Some(k);
            }
            match &key {
                Some(_) if text.contains("Recovery codes") => Some(Vec::new()),
                Some(k) if right_code => Some(code_now(&params(k)).into_bytes()),
                Some(_) => Some(b"000000".to_vec()),
                None => Some(Vec::new()),
            }
        }
        _ => None,
    });
    (outcome.name.to_string(), prompts, key)
}

fn pass_lines(host: &Host) -> Vec<common::Entry> {
    host.audit_lines()
        .iter()
        .map(|l| common::Entry::parse(l))
        .filter(|e| e.event == "pass")
        .collect()
}

#[test]
fn require_pass_enrolls_with_a_pass_once_and_refuses_without_one() {
    let host = Host::with(
        "[enrollment]\nunenrolled = \"enroll\"\nrequire_pass = true",
        "",
    );
    // No pass issued: a pass-shaped answer is refused, nothing is enrolled.
    let (outcome, prompts, _) = sign_in_with_pass(&host, "abcd-efgh-jkmn-pqrs", true);
    assert_eq!(outcome, "PAM_AUTH_ERR");
    assert_eq!(
        prompts[0], PASS_PROMPT,
        "asked for a pass, not shown a QR code"
    );
    assert!(
        prompts[1].starts_with("That access pass is not valid"),
        "{prompts:#?}"
    );
    assert!(record(&host).is_none());
    let d = host.last_decision();
    d.assert_decision(ACCOUNT, "failure", "no_pass");
    assert_eq!(d.get("method"), "pass");
    // Nor does the password alone (an empty answer) or a code.
    for answer in ["", "123456"] {
        let (outcome, _, _) = sign_in_with_pass(&host, answer, true);
        assert_eq!(outcome, "PAM_AUTH_ERR");
        assert!(record(&host).is_none());
    }

    let pass = issue(&host, &["--once", "--hours", "2"]);
    let (outcome, prompts, key) = sign_in_with_pass(&host, &pass.to_uppercase(), true);
    assert_eq!(outcome, "PAM_SUCCESS", "{prompts:#?}");
    assert!(
        prompts[1].starts_with("More information required."),
        "{}",
        prompts[1]
    );
    let record = record(&host).expect("enrolled");
    assert_eq!(Some(record.totp.secret.expose().to_string()), key);
    let d = host.last_decision();
    d.assert_decision(ACCOUNT, "success", "enrolled_with_pass");
    assert_eq!(d.get("method"), "pass");
    let uses = pass_lines(&host);
    assert_eq!(uses.len(), 2, "issued, redeemed: {uses:?}");
    assert_eq!(uses[0].get("result"), "issued");
    assert_eq!(uses[1].get("result"), "redeemed");
    assert_eq!(uses[1].get("once"), "yes");
    host.assert_log_holds_none_of(&[pass.clone(), pass.replace('-', "").to_uppercase()]);

    // Used once: it is gone. Typed at the enrolled user's code prompt, it is an ordinary
    // wrong answer (counted), and the enrollment stands.
    let (outcome, prompts, _) = sign_in_with_pass(&host, &pass, true);
    assert_eq!(outcome, "PAM_AUTH_ERR", "{prompts:#?}");
    assert_eq!(
        prompts,
        [common::CODE_PROMPT.trim_start_matches("PROMPT_ECHO_OFF: ")],
        "no word of passes to a user who has none"
    );
    host.last_decision()
        .assert_decision(ACCOUNT, "failure", "malformed_answer");
    assert_eq!(host.state(ACCOUNT).failures, 1);
    assert_eq!(
        record_id(&host),
        record.id,
        "the enrollment made with the pass is still in force"
    );
}

fn record_id(host: &Host) -> String {
    record(host).expect("enrolled").id
}

#[test]
fn an_expired_pass_is_refused() {
    let host = Host::with(
        "[enrollment]\nunenrolled = \"enroll\"\nrequire_pass = true",
        "",
    );
    let pass = issue(&host, &[]);
    // Its expiry moved into the past, through the store (as time passing would).
    let store = UserStore::open(&host.state_dir).unwrap();
    let name = user_name(ACCOUNT);
    let lock = store.lock(&name).unwrap();
    let mut stored = store.load_pass(&name).unwrap().expect("stored");
    assert!(
        !stored.hash.contains(&pass.replace('-', "")),
        "stored hashed"
    );
    stored.expires = common::now() - 1;
    store.save_pass(&name, &lock, &stored).unwrap();
    drop(lock);

    let (outcome, _, _) = sign_in_with_pass(&host, &pass, true);
    assert_eq!(outcome, "PAM_AUTH_ERR");
    assert!(record(&host).is_none());
    host.last_decision()
        .assert_decision(ACCOUNT, "failure", "expired_pass");
    assert!(
        store.load_pass(&name).unwrap().is_none(),
        "an expired pass is removed"
    );
}

#[test]
fn a_wrong_pass_is_refused_and_the_right_one_still_works_until_it_expires() {
    // The default `unenrolled = "refuse"`: an administrator's pass still lets the user enroll,
    // typed at the ordinary code prompt.
    let host = Host::new();
    let pass = issue(&host, &["--hours", "1"]);
    let (outcome, prompts, _) = sign_in_with_pass(&host, "abcd-efgh-jkmn-pqrs", true);
    assert_eq!(outcome, "PAM_AUTH_ERR", "{prompts:#?}");
    host.last_decision()
        .assert_decision(ACCOUNT, "failure", "wrong_pass");
    assert!(record(&host).is_none());

    // Wrong codes in the enrollment: nothing saved, and (not once-only) the pass still works.
    let (outcome, _, _) = sign_in_with_pass(&host, &pass, false);
    assert_eq!(outcome, "PAM_AUTH_ERR");
    assert!(record(&host).is_none());
    let (outcome, prompts, _) = sign_in_with_pass(&host, &pass, true);
    assert_eq!(outcome, "PAM_SUCCESS", "{prompts:#?}");
    assert!(record(&host).is_some());
}

#[test]
fn a_pass_replaces_a_lost_phone_only_once_the_new_app_is_confirmed() {
    let host = Host::new();
    let old = host.enroll(ACCOUNT);
    let old_id = record_id(&host);
    let pass = issue(&host, &[]);

    // The pass at the code prompt leads into enrollment; wrong codes there change nothing.
    let (outcome, prompts, _) = sign_in_with_pass(&host, &pass, false);
    assert_eq!(outcome, "PAM_AUTH_ERR");
    assert!(
        prompts[1].starts_with("More information required."),
        "{prompts:#?}"
    );
    assert_eq!(record_id(&host), old_id, "the old app entry still in force");

    let (outcome, prompts, key) = sign_in_with_pass(&host, &pass, true);
    assert_eq!(outcome, "PAM_SUCCESS", "{prompts:#?}");
    let new = record(&host).unwrap();
    assert_ne!(new.id, old_id);
    assert_eq!(Some(new.totp.secret.expose().to_string()), key);
    host.last_decision()
        .assert_decision(ACCOUNT, "success", "reenrolled_with_pass");

    // The lost phone's codes no longer work.
    let (outcome, _) = host.sign_in(ACCOUNT, &[&code_now(&old.params)]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    host.last_decision()
        .assert_decision(ACCOUNT, "failure", "wrong_code");
}

#[test]
fn without_a_pass_a_pass_shaped_answer_reads_like_any_wrong_answer() {
    // An account that exists but has no record, and one that does not exist: the same single
    // prompt and refusal, so a pass-shaped answer cannot probe for accounts.
    let host = Host::new();
    for user in [ACCOUNT, "no-such-account-here"] {
        let (outcome, transcript) = host.sign_in(user, &["abcd-efgh-jkmn-pqrs"]);
        assert_eq!(outcome.name, "PAM_AUTH_ERR");
        assert_eq!(transcript, vec![common::CODE_PROMPT], "{user}");
        host.last_decision()
            .assert_decision(user, "failure", "not_enrolled");
    }
}

#[test]
fn status_shows_an_outstanding_pass_and_revoke_withdraws_it() {
    let host = Host::new();
    host.enroll(ACCOUNT);
    let pass = issue(&host, &["--once"]);
    let twofold = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_twofold"))
            .arg("--config")
            .arg(&host.config_path)
            .args(args)
            .env("LANG", "C.UTF-8")
            .output()
            .unwrap()
    };
    let status = String::from_utf8(twofold(&["status", ACCOUNT]).stdout).unwrap();
    assert!(
        status.contains("  access pass: valid until ") && status.contains("(for one sign-in)"),
        "{status}"
    );
    assert!(!status.contains(&pass), "{status}");
    let out = twofold(&["pass", ACCOUNT, "--revoke"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("✓ {ACCOUNT}: access pass withdrawn; it no longer works.\n")
    );
    let status = String::from_utf8(twofold(&["status", ACCOUNT]).stdout).unwrap();
    assert!(!status.contains("access pass"), "{status}");
    // Withdrawn: typed at the code prompt it is an ordinary wrong answer.
    let (outcome, _) = host.sign_in(ACCOUNT, &[&pass]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert!(
        pass_lines(&host)
            .iter()
            .any(|e| e.get("result") == "revoked")
    );
    let again = twofold(&["pass", ACCOUNT, "--revoke"]);
    assert!(!again.status.success());
    assert_eq!(
        String::from_utf8_lossy(&again.stderr),
        format!("twofold: {ACCOUNT} has no access pass\n")
    );
}

#[test]
fn a_pass_for_an_account_the_system_does_not_know_is_refused() {
    let host = Host::new();
    let out = Command::new(env!("CARGO_BIN_EXE_twofold"))
        .arg("--config")
        .arg(&host.config_path)
        .args(["pass", "no-such-account-here"])
        .env("LANG", "C.UTF-8")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no pass shown");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("twofold: no-such-account-here: no such account"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pass_hours_out_of_range_are_refused() {
    let host = Host::new();
    let out = Command::new(env!("CARGO_BIN_EXE_twofold"))
        .arg("--config")
        .arg(&host.config_path)
        .args(["pass", ACCOUNT, "--hours", "721"])
        .env("LANG", "C.UTF-8")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "twofold: --hours must be 1 to 720 (got 721)\n"
    );
}

#[test]
fn a_once_pass_typed_in_16_parallel_sign_ins_enrolls_exactly_one() {
    const LOGINS: usize = 16;
    let host = Host::with(
        "[enrollment]\nunenrolled = \"enroll\"\nrequire_pass = true",
        "",
    );
    let pass = issue(&host, &["--once"]);
    let barrier = std::sync::Barrier::new(LOGINS);
    let outcomes: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..LOGINS)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    sign_in_with_pass(&host, &pass, true).0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let successes = outcomes.iter().filter(|o| *o == "PAM_SUCCESS").count();
    assert_eq!(successes, 1, "{outcomes:?}");
    let redeemed = pass_lines(&host)
        .iter()
        .filter(|e| e.get("result") == "redeemed")
        .count();
    assert_eq!(redeemed, 1, "the pass was accepted once");
    let refusals: Vec<String> = host
        .decisions()
        .iter()
        .filter(|d| d.get("result") == "failure")
        .map(|d| d.get("reason").to_string())
        .collect();
    assert_eq!(refusals.len(), LOGINS - 1);
    assert!(refusals.iter().all(|r| r == "no_pass"), "{refusals:?}");
    assert!(record(&host).is_some());
}
