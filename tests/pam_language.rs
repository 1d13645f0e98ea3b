//! Prompts and messages in the user's language (src/core/locales/), through real libpam with
//! the built module: the record's language (`twofold language USER nl`), the configuration's
//! default, and the choice at first-sign-in enrollment.

mod common;

use common::{Host, RHOST, code_now, user_name, wrong_code};
use std::process::Command;
use twofold_core::factor::totp::{Algorithm, TotpParams};
use twofold_core::secret::SecretString;
use twofold_core::store::UserStore;
use twofold_pam_client::Message;

/// An account that exists on every Debian system; enrollment at sign-in needs a real one.
const ACCOUNT: &str = "daemon";

const DUTCH_CODE_PROMPT: &str =
    "PROMPT_ECHO_OFF: Code uit uw Authenticator-app (of een herstelcode): ";

/// `twofold --config <host's> ARGS`, which must succeed; its stdout.
fn twofold(host: &Host, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_twofold"))
        .arg("--config")
        .arg(&host.config_path)
        .args(args)
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .output()
        .expect("run twofold");
    assert!(
        out.status.success(),
        "twofold {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn language_of(host: &Host, user: &str) -> Option<String> {
    let store = UserStore::open(&host.state_dir).unwrap();
    store.load_record(&user_name(user)).unwrap()?.language
}

#[test]
fn a_dutch_user_signs_in_with_dutch_prompts_and_is_told_of_the_lockout_in_dutch() {
    let host = Host::with("[rate_limit]\nmax_failures = 2", "");
    let anna = host.enroll("anna");
    let shown = twofold(&host, &["language", "anna", "nl"]);
    assert_eq!(shown, "✓ anna: prompts and messages now in nl.\n");
    assert_eq!(language_of(&host, "anna").as_deref(), Some("nl"));

    // A code as the app shows it, with a space.
    let code = code_now(&anna.params);
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    let (outcome, transcript) = host.sign_in("anna", &[&spaced]);
    assert_eq!(outcome.name, "PAM_SUCCESS", "{transcript:#?}");
    assert_eq!(transcript, vec![DUTCH_CODE_PROMPT]);

    let wrong = wrong_code(&anna.params);
    host.sign_in("anna", &[&wrong]);
    let (outcome, transcript) = host.sign_in("anna", &[&wrong]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert_eq!(
        transcript,
        vec![
            DUTCH_CODE_PROMPT.to_string(),
            "PROMPT_ECHO_ON: Te veel mislukte pogingen: nog 15 minuten geblokkeerd.\nProbeer \
             het daarna opnieuw, of vraag uw beheerder de blokkering op te heffen.\nDruk op \
             Enter: "
                .to_string()
        ]
    );
    // Audit lines stay English key=value.
    host.last_decision()
        .assert_decision("anna", "failure", "wrong_code");
}

#[test]
fn the_configuration_default_applies_unless_the_record_names_a_language() {
    let host = Host::with("language = \"nl\"", "");
    let bram = host.enroll("bram");
    let cleo = host.enroll("cleo");
    twofold(&host, &["language", "cleo", "en"]);

    let (outcome, transcript) = host.sign_in("bram", &[&code_now(&bram.params)]);
    assert_eq!(outcome.name, "PAM_SUCCESS");
    assert_eq!(transcript, vec![DUTCH_CODE_PROMPT]);
    let (outcome, transcript) = host.sign_in("cleo", &[&code_now(&cleo.params)]);
    assert_eq!(outcome.name, "PAM_SUCCESS");
    assert_eq!(transcript, vec![common::CODE_PROMPT]);

    // "default" forgets the user's own choice; the status line says where it comes from,
    // in the configuration's language (LANG=C names none).
    assert_eq!(
        twofold(&host, &["language", "cleo"]),
        "cleo: en (gekozen voor deze gebruiker)\n"
    );
    twofold(&host, &["language", "cleo", "default"]);
    assert_eq!(language_of(&host, "cleo"), None);
    assert_eq!(
        twofold(&host, &["language", "cleo"]),
        "cleo: nl (de standaard uit de configuratie)\n"
    );
    // An administrator whose environment names English reads English.
    let out = Command::new(env!("CARGO_BIN_EXE_twofold"))
        .arg("--config")
        .arg(&host.config_path)
        .args(["language", "cleo"])
        .env("LC_ALL", "en_GB.UTF-8")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "cleo: nl (the configuration's default)\n"
    );
}

#[test]
fn an_unknown_language_is_refused_by_the_command_and_by_check_config() {
    let host = Host::new();
    host.enroll("dirk");
    let out = Command::new(env!("CARGO_BIN_EXE_twofold"))
        .arg("--config")
        .arg(&host.config_path)
        .args(["language", "dirk", "fr"])
        .env("LANG", "C.UTF-8")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "twofold: fr: no such language (there are: en, nl)\n"
    );
    assert_eq!(language_of(&host, "dirk"), None, "nothing changed");

    host.configure("language = \"fr\"");
    let out = Command::new(env!("CARGO_BIN_EXE_twofold"))
        .arg("--config")
        .arg(&host.config_path)
        .arg("check-config")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("language: must be one of en, nl (got \"fr\")"),
        "{text}"
    );
}

/// The key in the Dutch enrollment screen: "Scant het niet? Typ de sleutel: ABCD EFGH ..." or,
/// on two lines, after "Lichte achtergrond, of scant het niet? Typ deze sleutel:".
fn dutch_key_in(prompt: &str) -> Option<String> {
    if let Some(key) = prompt
        .lines()
        .find_map(|l| l.strip_prefix("Scant het niet? Typ de sleutel: "))
    {
        return Some(key.trim_end().replace(' ', ""));
    }
    let mut lines = prompt.lines();
    lines.find(|l| *l == "Lichte achtergrond, of scant het niet? Typ deze sleutel:")?;
    Some(lines.next()?.split("  (").next()?.replace(' ', ""))
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

/// Runs first-sign-in enrollment, answering `first` to the first prompt when given (the
/// language question), then the code for the key shown, then Enter; every prompt seen.
fn enroll_in_dutch(host: &Host, first: Option<&str>) -> (String, Vec<String>) {
    let mut prompts = Vec::new();
    let mut key = None;
    let mut first = first.map(str::to_string);
    let outcome = host.sign_in_with(ACCOUNT, Some(RHOST), &mut |msg: Message<'_>| match msg {
        Message::PromptEchoOn(text) | Message::PromptEchoOff(text) => {
            prompts.push(text.to_string());
            if let Some(answer) = first.take() {
                return Some(answer.into_bytes());
            }
            if let Some(k) = dutch_key_in(text) {
                key = Some(k);
            }
            match &key {
                Some(k) if !text.contains("Herstelcodes") => {
                    Some(code_now(&params(k)).into_bytes())
                }
                _ => Some(Vec::new()),
            }
        }
        _ => None,
    });
    (outcome.name.to_string(), prompts)
}

/// The first-sign-in screen as over SSH: 80x24 at most, with ssh's "(user@host) " in front.
fn assert_fits_80x24(screen: &str) {
    let lines: Vec<&str> = screen.split('\n').collect();
    assert!(lines.len() <= 24, "{} lines:\n{screen}", lines.len());
    let prefix = format!("({ACCOUNT}@127.0.0.1) ").chars().count();
    assert!(lines[0].chars().count() + prefix <= 80, "{}", lines[0]);
    assert!(
        lines.iter().all(|l| l.chars().count() <= 80),
        "a line wider than 80 columns:\n{screen}"
    );
}

#[test]
fn first_sign_in_enrollment_in_dutch_fits_80x24_and_saves_after_the_right_code() {
    let host = Host::with(
        "language = \"nl\"\n[enrollment]\nunenrolled = \"enroll\"",
        "",
    );
    let (outcome, prompts) = enroll_in_dutch(&host, None);
    assert_eq!(outcome, "PAM_SUCCESS", "{prompts:#?}");
    let first = &prompts[0];
    assert!(
        first.starts_with("Meer informatie vereist. Scan met een Authenticator-app:\n"),
        "{first}"
    );
    assert!(
        first.ends_with("Code uit de app (of L: QR-code voor een lichte achtergrond): "),
        "{first}"
    );
    assert!(dutch_key_in(first).is_some(), "the key in text:\n{first}");
    assert_fits_80x24(first);
    let last = prompts.last().unwrap();
    assert!(
        last.starts_with("✓ Uw tweede factor is ingesteld.\nHerstelcodes"),
        "{last}"
    );
    assert!(
        last.ends_with("Druk op Enter om verder te gaan: "),
        "{last}"
    );
    assert!(last.lines().all(|l| l.chars().count() <= 80), "{last}");
    assert_eq!(
        language_of(&host, ACCOUNT),
        None,
        "the configuration's, not chosen"
    );
    host.last_decision()
        .assert_decision(ACCOUNT, "success", "enrolled");
}

#[test]
fn the_language_chosen_at_enrollment_is_kept_for_later_sign_ins() {
    let host = Host::with(
        "[enrollment]\nunenrolled = \"enroll\"\nask_language = true",
        "",
    );
    let (outcome, prompts) = enroll_in_dutch(&host, Some("nl"));
    assert_eq!(outcome, "PAM_SUCCESS", "{prompts:#?}");
    assert_eq!(prompts[0], "Language / Taal: [en] nl ");
    assert!(
        prompts[1].starts_with("Meer informatie vereist."),
        "{}",
        prompts[1]
    );
    assert_fits_80x24(&prompts[1]);
    assert_eq!(language_of(&host, ACCOUNT).as_deref(), Some("nl"));

    // The next sign-in asks in Dutch (the enrollment's code cannot be used again).
    let (outcome, transcript) = host.sign_in(ACCOUNT, &["000000"]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert_eq!(transcript, vec![DUTCH_CODE_PROMPT]);
}

#[test]
fn enter_at_the_language_question_keeps_the_configured_language() {
    let host = Host::with(
        "language = \"nl\"\n[enrollment]\nunenrolled = \"enroll\"\nask_language = true",
        "",
    );
    let (outcome, prompts) = enroll_in_dutch(&host, Some(""));
    assert_eq!(outcome, "PAM_SUCCESS", "{prompts:#?}");
    assert_eq!(prompts[0], "Language / Taal: en [nl] ");
    assert!(prompts[1].starts_with("Meer informatie vereist."));
    assert_eq!(language_of(&host, ACCOUNT).as_deref(), Some("nl"));
}

#[test]
fn twofold_enroll_with_a_language_shows_its_screens_in_it_and_keeps_it() {
    let host = Host::new();
    let out = Command::new(env!("CARGO_BIN_EXE_twofold"))
        .arg("--config")
        .arg(&host.config_path)
        .args([
            "enroll",
            "eva",
            "--force",
            "--no-verify",
            "--qr",
            "none",
            "--language",
            "nl",
        ])
        .env("LANG", "C.UTF-8")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("Inschrijving van eva. Open uw Authenticator-app"),
        "{text}"
    );
    assert!(
        text.contains("Herstelcodes: elke code werkt één keer"),
        "{text}"
    );
    assert!(
        text.contains("✓ Opgeslagen. eva heeft nu bij elke aanmelding"),
        "{text}"
    );
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    assert_eq!(language_of(&host, "eva").as_deref(), Some("nl"));
    let (outcome, transcript) = host.sign_in("eva", &["000000"]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert_eq!(transcript, vec![DUTCH_CODE_PROMPT]);
}

#[test]
fn the_command_speaks_the_administrators_language_from_the_environment() {
    let host = Host::new();
    host.enroll("fenna");
    let status = |lang: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_twofold"))
            .arg("--config")
            .arg(&host.config_path)
            .args(["status", "fenna"])
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env("LANG", lang)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let dutch = status("nl_NL.UTF-8");
    assert!(
        dutch.starts_with("fenna: ingeschreven (TOTP, SHA1, 6 cijfers, 30 s)\n  herstelcodes over: 10 van 10\n  mislukte pogingen op rij: 0\n"),
        "{dutch}"
    );
    // A language without a catalogue, or none: the configuration's, English here; exactly the
    // text it always was.
    for lang in ["fr_FR.UTF-8", "C.UTF-8"] {
        let english = status(lang);
        assert!(
            english.starts_with("fenna: enrolled (TOTP, SHA1, 6 digits, 30 s)\n  recovery codes left: 10 of 10\n  consecutive failures: 0\n"),
            "{lang}: {english}"
        );
    }
}
