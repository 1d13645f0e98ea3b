//! Enrollment at first sign-in, who needs the second factor (groups, per service), and the
//! remember window — all through real libpam with the built module.

mod common;

use common::qr_image::{decode_to_bitmap, write_pbm};
use common::{Host, RHOST, code_at_offset, skip, user_name, wrong_code};
use std::process::Command;
use twofold_core::factor::totp::{Algorithm, TotpParams};
use twofold_core::secret::SecretString;
use twofold_core::store::UserStore;
use twofold_pam_client::Message;

/// Accounts that exist on every Debian system; enrollment at sign-in needs a real account.
const ACCOUNT: &str = "daemon";

const ENROLL: &str = "[enrollment]\nunenrolled = \"enroll\"";

/// What the enrollment dialogue showed, and the key it carried.
#[derive(Default)]
struct Seen {
    prompts: Vec<String>,
    key: Option<String>,
}

/// The key given in text in the enrollment prompt: on the line after "Light background, or
/// won't scan? Type this key:" ("ABCD EFGH ...  (time-based, 6 digits)") under a plain code, or
/// on the line "Light background, or won't scan? Key: ABCD EFGH ..." (a 6-digit key).
fn key_in(prompt: &str) -> Option<String> {
    let mut lines = prompt.lines();
    if let Some(line) = prompt
        .lines()
        .find_map(|l| l.strip_prefix("Light background, or won't scan? Key: "))
    {
        return Some(line.trim_end().replace(' ', ""));
    }
    lines.find(|l| *l == "Light background, or won't scan? Type this key:")?;
    let line = lines.next()?;
    Some(line.split("  (").next()?.replace(' ', ""))
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

/// Answers the enrollment dialogue: `codes` says what to type for each code prompt, given the key.
fn enroll_dialogue(
    host: &Host,
    user: &str,
    mut code_for: impl FnMut(&str, usize) -> String,
) -> (twofold_pam_client::Outcome, Seen) {
    let mut seen = Seen::default();
    let mut code_prompts = 0;
    let outcome = host.sign_in_with(user, Some(RHOST), &mut |msg: Message<'_>| match msg {
        Message::PromptEchoOn(text) | Message::PromptEchoOff(text) => {
            seen.prompts.push(text.to_string());
            if let Some(key) = key_in(text) {
                seen.key = Some(key);
            }
            if text.contains("Recovery codes") {
                return Some(Vec::new());
            }
            let key = seen.key.clone().unwrap_or_default();
            code_prompts += 1;
            Some(code_for(&key, code_prompts).into_bytes())
        }
        _ => None,
    });
    (outcome, seen)
}

/// The QR code's lines out of a prompt that also holds text.
fn qr_lines(prompt: &str) -> String {
    let is_qr = |l: &&str| {
        l.starts_with('\x1b')
            || (l.chars().any(|c| "▀▄█".contains(c)) && l.chars().all(|c| "▀▄█ ".contains(c)))
    };
    prompt
        .lines()
        .filter(is_qr)
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The module alone, its own return code handed to the application (`[default=done]`), so
/// PAM_IGNORE is visible as such rather than as libpam's "no module decided".
fn module_only(host: &Host, args: &str) {
    host.use_stack(&[host
        .module_line(args)
        .replace("auth required", "auth [default=done]")]);
}

fn record_exists(host: &Host, user: &str) -> bool {
    let Ok(store) = UserStore::open(&host.state_dir) else {
        return false;
    };
    store.load_record(&user_name(user)).unwrap().is_some()
}

#[test]
fn first_sign_in_enrolls_then_requires_a_code() {
    let host = Host::with(ENROLL, "");
    // The replay check below must fall in the same 30 s step as the enrollment.
    common::wait_for_step_margin(&params("AAAAAAAAAAAAAAAA"), 3);
    let (outcome, seen) = enroll_dialogue(&host, ACCOUNT, |key, _| common::code_now(&params(key)));
    assert_eq!(outcome.name, "PAM_SUCCESS", "prompts: {:#?}", seen.prompts);
    let first = &seen.prompts[0];
    assert!(
        first.starts_with("More information required. Scan with an authenticator app:\n"),
        "{first}"
    );
    assert!(
        first.ends_with("Code from the app (or L to redraw the QR code for a light background): "),
        "{first}"
    );
    // The whole first screen fits 80x24: 24 lines, the last one the prompt, none wider than 80.
    assert!(
        first.lines().count() <= 24,
        "{} lines",
        first.lines().count()
    );
    assert!(
        first.lines().all(|l| l.chars().count() <= 80),
        "a line wider than 80 columns:\n{first}"
    );
    assert!(
        first.contains('▀') || first.contains('▄'),
        "QR drawn in the prompt"
    );
    let last = seen.prompts.last().unwrap();
    assert!(last.contains("Recovery codes"), "{last}");
    assert!(last.ends_with("Press Enter to continue: "), "{last}");
    let shown_codes = last
        .lines()
        .filter(|l| l.starts_with("    ") && l.trim().len() == 14)
        .count();
    assert_eq!(shown_codes, 10, "ten recovery codes shown once:\n{last}");
    host.last_decision()
        .assert_decision(ACCOUNT, "success", "enrolled");
    assert_eq!(host.last_decision().get("method"), "enrollment");
    assert!(record_exists(&host, ACCOUNT));

    // From now on the user is asked for a code: the confirmed one is used up, a later one works.
    let key = seen.key.unwrap();
    let (replayed, transcript) = host.sign_in(ACCOUNT, &[&common::code_now(&params(&key))]);
    assert_eq!(transcript[0], common::CODE_PROMPT);
    assert_eq!(replayed.name, "PAM_AUTH_ERR");
    let (next, _) = host.sign_in(ACCOUNT, &[&code_at_offset(&params(&key), 1)]);
    assert_eq!(next.name, "PAM_SUCCESS");
    host.assert_log_holds_none_of(&[key]);
}

#[test]
fn enrollment_qr_code_in_the_prompt_scans_to_the_key_shown() {
    if Command::new("zbarimg").arg("--version").output().is_err() {
        return skip(
            "enrollment_qr_code_in_the_prompt_scans_to_the_key_shown",
            "zbarimg (zbar-tools) not installed",
        );
    }
    for style in ["ansi", "utf8"] {
        let host = Host::with(&format!("{ENROLL}\nqr = \"{style}\""), "");
        let (outcome, seen) =
            enroll_dialogue(&host, ACCOUNT, |key, _| common::code_now(&params(key)));
        assert_eq!(outcome.name, "PAM_SUCCESS");
        let image = host.root.join("qr.pbm");
        write_pbm(&decode_to_bitmap(&qr_lines(&seen.prompts[0])), 8, &image).unwrap();
        let out = Command::new("zbarimg")
            .args(["--raw", "-q"])
            .arg(&image)
            .output()
            .unwrap();
        let uri = String::from_utf8(out.stdout).unwrap();
        let key = seen.key.clone().unwrap();
        assert_eq!(
            uri.trim_end(),
            format!("otpauth://totp/{ACCOUNT}?secret={key}&issuer=twofold"),
            "style {style}"
        );
    }
}

#[test]
fn at_a_console_the_default_draws_the_code_in_colours_that_scan_on_any_background() {
    let host = Host::with(ENROLL, "");
    let mut first = None;
    let outcome = host.sign_in_with(ACCOUNT, None, &mut |msg: Message<'_>| match msg {
        Message::PromptEchoOn(text) | Message::PromptEchoOff(text) => {
            if first.is_none() {
                first = Some(text.to_string());
                let key = key_in(text).expect("the key in text");
                return Some(common::code_now(&params(&key)).into_bytes());
            }
            Some(Vec::new())
        }
        _ => None,
    });
    assert_eq!(outcome.name, "PAM_SUCCESS");
    let first = first.unwrap();
    // Explicit black on white: no "L" needed, so none offered.
    assert!(first.contains("\x1b[0;38;5;16;48;5;231m"), "{first}");
    assert!(first.ends_with("\nCode from the app: "), "{first}");
    if Command::new("zbarimg").arg("--version").output().is_ok() {
        let image = host.root.join("console.pbm");
        write_pbm(&decode_to_bitmap(&qr_lines(&first)), 8, &image).unwrap();
        let out = Command::new("zbarimg")
            .args(["--raw", "-q"])
            .arg(&image)
            .output()
            .unwrap();
        let uri = String::from_utf8(out.stdout).unwrap();
        assert!(
            uri.starts_with(&format!("otpauth://totp/{ACCOUNT}?secret=")),
            "{uri}"
        );
    }
}

#[test]
fn enrollment_saves_nothing_after_three_wrong_codes_and_says_what_next() {
    let host = Host::with(ENROLL, "");
    let (outcome, seen) = enroll_dialogue(&host, ACCOUNT, |key, _| wrong_code(&params(key)));
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    // Three code prompts, then (over SSH) the verdict as a prompt of its own.
    assert_eq!(seen.prompts.len(), 4, "{:#?}", seen.prompts);
    for retry in &seen.prompts[1..3] {
        assert_eq!(retry, "Wrong code (same key). Newest code from the app: ");
    }
    let last = &seen.prompts[3];
    // Wrapped once, at word boundaries, the first line short enough for ssh's "(user@host) ".
    assert_eq!(
        *last,
        "That code is not right either, so nothing was saved.\nDelete the entry from your app: your next sign-in shows a new key and QR code.\nPress Enter: "
    );
    assert!(
        last.contains("nothing was saved")
            && last.contains("new key")
            && last.ends_with("Press Enter: "),
        "{last}"
    );
    assert!(last.lines().all(|l| l.chars().count() <= 78), "{last}");
    host.last_decision()
        .assert_decision(ACCOUNT, "failure", "enrollment_wrong_code");
    assert!(!record_exists(&host, ACCOUNT));
}

#[test]
fn l_redraws_the_code_for_a_light_background_without_using_an_attempt() {
    let host = Host::with(ENROLL, "");
    let (outcome, seen) = enroll_dialogue(&host, ACCOUNT, |key, n| match n {
        1 => "L".into(),
        2 | 3 => wrong_code(&params(key)),
        _ => common::code_now(&params(key)),
    });
    assert_eq!(outcome.name, "PAM_SUCCESS", "{:#?}", seen.prompts);
    let (dark, light) = (&seen.prompts[0], &seen.prompts[1]);
    assert!(
        light.ends_with("Code from the app (or D to redraw the QR code for a dark background): "),
        "{light}"
    );
    // The same code with ink and blank swapped, and the same key in text.
    assert_eq!(key_in(dark), key_in(light));
    let invert = |c: char| match c {
        '█' => ' ',
        ' ' => '█',
        '▀' => '▄',
        '▄' => '▀',
        other => other,
    };
    let dark_rows: Vec<String> = qr_lines(dark)
        .lines()
        .map(|l| l.chars().map(invert).collect())
        .collect();
    let light_text = light.replace('\n', " \n");
    let light_rows: Vec<&str> = light_text.lines().skip(1).take(dark_rows.len()).collect();
    for (d, l) in dark_rows.iter().zip(&light_rows) {
        assert_eq!(d.trim_end(), l.trim_end());
    }
    // "L" was not an attempt: two wrong codes, then the right one, enroll.
    assert!(record_exists(&host, ACCOUNT));
}

#[test]
fn a_right_code_after_a_wrong_one_enrolls() {
    let host = Host::with(ENROLL, "");
    let (outcome, _) = enroll_dialogue(&host, ACCOUNT, |key, n| match n {
        1 => wrong_code(&params(key)),
        _ => common::code_now(&params(key)),
    });
    assert_eq!(outcome.name, "PAM_SUCCESS");
    assert!(record_exists(&host, ACCOUNT));
}

#[test]
fn enrollment_is_refused_after_the_deadline() {
    let host = Host::with(&format!("{ENROLL}\ndeadline = \"2000-01-31\""), "");
    let (outcome, transcript) = host.sign_in(ACCOUNT, &["123456"]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert_eq!(transcript, vec![common::CODE_PROMPT.to_string()]);
    host.last_decision()
        .assert_decision(ACCOUNT, "failure", "not_enrolled");
    assert!(!record_exists(&host, ACCOUNT));
}

#[test]
fn a_name_the_system_does_not_know_is_never_enrolled() {
    let host = Host::with(ENROLL, "");
    let (outcome, transcript) = host.sign_in("no-such-account-twofold", &["123456"]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert_eq!(transcript, vec![common::CODE_PROMPT.to_string()]);
    host.last_decision()
        .assert_decision("no-such-account-twofold", "failure", "not_enrolled");
    assert!(!record_exists(&host, "no-such-account-twofold"));
}

#[test]
fn unenrolled_allow_lets_users_without_a_record_through_unprompted() {
    let host = Host::with("[enrollment]\nunenrolled = \"allow\"", "");
    module_only(&host, "");
    let (outcome, transcript) = host.sign_in(ACCOUNT, &[]);
    assert_eq!(outcome.name, "PAM_IGNORE");
    assert!(transcript.is_empty(), "{transcript:?}");
    host.last_decision()
        .assert_decision(ACCOUNT, "ignore", "not_enrolled");
}

#[test]
fn members_of_an_exempt_group_skip_the_second_factor() {
    let host = Host::with("[policy]\nexempt_groups = [\"root\"]", "");
    module_only(&host, "");
    host.enroll("root");
    let (outcome, transcript) = host.sign_in("root", &[]);
    assert_eq!(outcome.name, "PAM_IGNORE");
    assert!(transcript.is_empty());
    host.last_decision()
        .assert_decision("root", "ignore", "exempt_group");
    // Someone outside the group is still asked.
    let other = host.enroll(ACCOUNT);
    let (outcome, _) = host.sign_in(ACCOUNT, &[&common::code_now(&other.params)]);
    assert_eq!(outcome.name, "PAM_SUCCESS");
}

#[test]
fn require_groups_limit_who_is_asked() {
    let host = Host::with("[policy]\nrequire_groups = [\"twofold-nobody-group\"]", "");
    module_only(&host, "");
    host.enroll("root");
    let (outcome, transcript) = host.sign_in("root", &[]);
    assert_eq!(outcome.name, "PAM_IGNORE");
    assert!(transcript.is_empty());
    host.last_decision()
        .assert_decision("root", "ignore", "not_in_required_group");
}

#[test]
fn per_service_arguments_replace_the_configured_groups() {
    // The configuration exempts root, but this service's line requires root's group.
    let host = Host::with(
        "[policy]\nexempt_groups = [\"root\"]",
        "exempt_group=twofold-none require_group=root",
    );
    let root = host.enroll("root");
    let (outcome, transcript) = host.sign_in("root", &[&common::code_now(&root.params)]);
    assert_eq!(outcome.name, "PAM_SUCCESS");
    assert_eq!(transcript, vec![common::CODE_PROMPT.to_string()]);
    // And a line with exempt_group=root lets root through unprompted.
    module_only(&host, "exempt_group=root");
    let (outcome, transcript) = host.sign_in("root", &[]);
    assert_eq!(outcome.name, "PAM_IGNORE");
    assert!(transcript.is_empty());
}

#[test]
fn remember_skips_the_second_factor_for_the_same_service_and_address_only() {
    let host = Host::with("[remember]\nseconds = 300", "");
    let alice = host.enroll(ACCOUNT);
    let (first, _) = host.sign_in(ACCOUNT, &[&common::code_now(&alice.params)]);
    assert_eq!(first.name, "PAM_SUCCESS");
    let (again, transcript) = host.sign_in(ACCOUNT, &[]);
    assert_eq!(again.name, "PAM_SUCCESS");
    assert!(transcript.is_empty(), "not asked again: {transcript:?}");
    host.last_decision()
        .assert_decision(ACCOUNT, "success", "remembered");
    assert_eq!(host.last_decision().get("method"), "remembered");

    // Another address is asked.
    let mut asked = Vec::new();
    let other = host.sign_in_with(ACCOUNT, Some("198.51.100.7"), &mut |m: Message<'_>| {
        asked.push(format!("{m:?}"));
        None
    });
    assert_ne!(other.name, "PAM_SUCCESS");
    assert_eq!(asked.len(), 1, "{asked:?}");
}

#[test]
fn remember_is_off_for_local_services_unless_configured() {
    for (local, remembered) in [(false, false), (true, true)] {
        let host = Host::with(&format!("[remember]\nseconds = 300\nlocal = {local}"), "");
        let user = host.enroll(ACCOUNT);
        let code = common::code_now(&user.params);
        let first = host.sign_in_with(ACCOUNT, None, &mut |_m: Message<'_>| {
            Some(code.clone().into_bytes())
        });
        assert_eq!(first.name, "PAM_SUCCESS");
        let mut prompted = false;
        let second = host.sign_in_with(ACCOUNT, None, &mut |_m: Message<'_>| {
            prompted = true;
            None
        });
        assert_eq!(second.name == "PAM_SUCCESS", remembered, "local = {local}");
        assert_eq!(prompted, !remembered, "local = {local}");
    }
}
