//! Enrollment at first sign-in with `[push]` configured, through real libpam with the built
//! module and the real `twofold serve`: after the app's code, one prompt with the pairing QR
//! code and URL; the test device "scans" the URL and pairs, approves the test push whose number
//! the next prompt shows, and "Notification approved ✓" heads the recovery codes. Skipping,
//! a bad pairing proof and an unreachable service leave an enrollment with codes only.

mod common;

use common::push::{ServiceHandle, number_in, push_config, write_token};
use common::qr_image::{decode_to_bitmap, write_pbm};
use common::{Host, RHOST, code_now, skip, user_name};
use std::process::Command;
use std::time::Duration;
use twofold_core::factor::totp::{Algorithm, TotpParams};
use twofold_core::push::device::TestDevice;
use twofold_core::push::protocol::DecisionKind;
use twofold_core::secret::SecretString;
use twofold_core::store::UserStore;
use twofold_pam_client::{Message, Outcome};

/// An account that exists on every Debian system; enrollment at sign-in needs a real account.
const ACCOUNT: &str = "daemon";
/// The end of the pairing prompt under its QR code.
const PAIRING_PROMPT_END: &str =
    "Paired? Press Enter. S: skip, U: show the address, L: light background: ";
/// The end of the pairing prompt under the address in text (after "U").
const PAIRING_URL_PROMPT_END: &str = "Paired? Press Enter. Or type S to skip: ";

/// A host that enrolls at first sign-in, with `[push]` pointing at `url`.
fn host_for(url: &str, token: &str) -> Host {
    let host = Host::new();
    let token_path = host.root.join("host-token");
    write_token(&token_path, token);
    host.configure(&format!(
        "[enrollment]\nunenrolled = \"enroll\"\nqr = \"utf8\"\n{}",
        push_config(url, &token_path, "")
    ));
    host
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

/// The key given in text in the first enrollment prompt ("... Key: ABCD ..." or the line after
/// "... Type this key:").
fn key_in(prompt: &str) -> Option<String> {
    if let Some(line) = prompt
        .lines()
        .find_map(|l| l.strip_prefix("Light background, or won't scan? Key: "))
    {
        return Some(line.trim_end().replace(' ', ""));
    }
    let mut lines = prompt.lines();
    lines.find(|l| l.ends_with("Type this key:"))?;
    Some(lines.next()?.split("  (").next()?.replace(' ', ""))
}

/// The pairing URL on a line of its own in the pairing prompt.
fn pairing_url_in(prompt: &str) -> Option<&str> {
    prompt
        .lines()
        .find(|l| l.starts_with("http://127.0.0.1:") && l.contains("/pair#"))
}

/// What the phone sees: the pairing prompt (with the URL), the test push's number.
enum Shown<'a> {
    Pairing(&'a str),
    TestPush(u8),
}

/// Signs in as a first-time user: the right code for the app; "U" at the pairing QR code, so the
/// address is shown in text; `phone` sees that prompt and the test push's before they are
/// answered with Enter (as everything else is).
fn enroll(host: &Host, mut phone: impl FnMut(Shown<'_>)) -> (Outcome, Vec<String>) {
    let mut prompts = Vec::new();
    let outcome = host.sign_in_with(ACCOUNT, Some(RHOST), &mut |msg: Message<'_>| {
        let (Message::PromptEchoOn(text) | Message::PromptEchoOff(text)) = msg else {
            return None;
        };
        prompts.push(text.to_string());
        if let Some(key) = key_in(text) {
            return Some(code_now(&params(&key)).into_bytes());
        }
        if text.ends_with(PAIRING_PROMPT_END) {
            return Some(b"U".to_vec());
        }
        if text.ends_with(PAIRING_URL_PROMPT_END) {
            phone(Shown::Pairing(text));
        } else if text.contains("Approve the test notification") {
            phone(Shown::TestPush(
                number_in(text).expect("a number in the test push prompt"),
            ));
        }
        Some(Vec::new())
    });
    (outcome, prompts)
}

fn devices(host: &Host) -> Vec<twofold_core::factor::device::Device> {
    let store = UserStore::open(&host.state_dir).unwrap();
    let record = store.load_record(&user_name(ACCOUNT)).unwrap();
    record.expect("enrolled").devices
}

#[test]
fn first_sign_in_pairs_the_phone_and_its_test_push_is_approved() {
    let service = ServiceHandle::real();
    let host = host_for(&service.url, &service.token);
    let mut phone = TestDevice::new("new").unwrap();
    let mut phone_side = None;
    let (outcome, prompts) = enroll(&host, |shown| match shown {
        Shown::Pairing(prompt) => {
            let url = pairing_url_in(prompt).expect("the pairing URL in the prompt");
            phone_side = Some(phone.pair_from_url(url, Duration::from_secs(2)).unwrap());
        }
        Shown::TestPush(number) => {
            let side = phone_side.as_ref().unwrap();
            let pending = phone.pending(side, common::now()).unwrap();
            assert_eq!(pending.len(), 1, "{pending:?}");
            assert_eq!(pending[0].service, "twofold-enroll");
            let typed = number.to_string();
            let now = common::now();
            phone
                .answer(side, &pending[0], DecisionKind::Approve, &typed, now)
                .unwrap();
        }
    });
    assert_eq!(outcome.name, "PAM_SUCCESS", "{prompts:#?}");
    assert_eq!(
        prompts.len(),
        5,
        "code, pairing QR, pairing address, test push, recovery codes: {prompts:#?}"
    );
    let pairing = &prompts[1];
    assert!(
        pairing.starts_with(
            "✓ App set up. Optional: approve sign-ins on your phone. Scan with its camera:\n"
        ),
        "{pairing}"
    );
    assert!(pairing.contains('▀') || pairing.contains('▄'), "QR drawn");
    // The pairing code and the question under it fit 80x24 (the address, a version-6 code's
    // worth of bytes, is shown only on request); only the line above may scroll away.
    let qr_rows = pairing.lines().filter(|l| l.contains('█')).count();
    assert!(qr_rows < 24, "{pairing}");
    assert!(pairing.lines().count() <= 25, "{pairing}");
    assert!(
        pairing.lines().all(|l| l.chars().count() <= 80),
        "{pairing}"
    );
    assert!(pairing_url_in(pairing).is_none(), "{pairing}");
    let test = &prompts[3];
    assert!(
        test.starts_with("✓ Phone paired (twofold test device).\n"),
        "{test}"
    );
    assert!(
        test.contains("Approve the test notification on your phone: number ")
            && test.ends_with(", then press Enter: "),
        "{test}"
    );
    let last = &prompts[4];
    assert!(last.starts_with("Notification approved ✓\n"), "{last}");
    assert!(last.contains("Recovery codes"), "{last}");
    assert!(last.ends_with("Press Enter to continue: "), "{last}");

    // The device in the record is the phone's key, and the audit line says what happened.
    let stored = devices(&host);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, phone.id);
    assert_eq!(stored[0].public_key, phone.public_key_b64u());
    let d = host.last_decision();
    d.assert_decision(ACCOUNT, "success", "enrolled");
    assert_eq!(d.get("detail"), "push paired, test approved");

    // The next sign-in is a push to that phone.
    let side = phone_side.unwrap();
    let (outcome, prompts) = {
        let mut prompts = Vec::new();
        let outcome = host.sign_in_with(ACCOUNT, Some(RHOST), &mut |msg: Message<'_>| {
            let (Message::PromptEchoOn(text) | Message::PromptEchoOff(text)) = msg else {
                return None;
            };
            prompts.push(text.to_string());
            let number = number_in(text)?.to_string();
            let pending = phone.pending(&side, common::now()).ok()?;
            let now = common::now();
            let approve = DecisionKind::Approve;
            phone
                .answer(&side, pending.first()?, approve, &number, now)
                .ok()?;
            Some(Vec::new())
        });
        (outcome, prompts)
    };
    assert_eq!(outcome.name, "PAM_SUCCESS", "{prompts:#?}");
    assert!(prompts[0].starts_with("Approve the sign-in on your phone: number "));
    host.last_decision()
        .assert_decision(ACCOUNT, "success", "push_approved");
}

#[test]
fn pairing_qr_code_in_the_prompt_scans_to_the_url_shown() {
    if Command::new("zbarimg").arg("--version").output().is_err() {
        return skip(
            "pairing_qr_code_in_the_prompt_scans_to_the_url_shown",
            "zbarimg (zbar-tools) not installed",
        );
    }
    let service = ServiceHandle::real();
    let host = host_for(&service.url, &service.token);
    let (outcome, prompts) = enroll(&host, |_| {});
    assert_eq!(outcome.name, "PAM_SUCCESS");
    let pairing = &prompts[1];
    let address = &prompts[2];
    let qr: String = pairing
        .lines()
        .filter(|l| l.chars().any(|c| "▀▄█".contains(c)) && l.chars().all(|c| "▀▄█ ".contains(c)))
        .map(|l| format!("{l}\n"))
        .collect();
    let image = host.root.join("pairing.pbm");
    write_pbm(&decode_to_bitmap(&qr), 8, &image).unwrap();
    let out = Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(&image)
        .output()
        .unwrap();
    let scanned = String::from_utf8(out.stdout).unwrap();
    assert_eq!(scanned.trim_end(), pairing_url_in(address).unwrap());
}

#[test]
fn enter_without_pairing_skips_push_and_enrolls_with_codes() {
    let service = ServiceHandle::real();
    let host = host_for(&service.url, &service.token);
    let (outcome, prompts) = enroll(&host, |shown| {
        assert!(matches!(shown, Shown::Pairing(_)), "no test push");
    });
    assert_eq!(outcome.name, "PAM_SUCCESS", "{prompts:#?}");
    assert_eq!(
        prompts.len(),
        4,
        "code, pairing QR, pairing address, recovery codes: {prompts:#?}"
    );
    let last = &prompts[3];
    assert!(
        last.starts_with("✓ Your second factor is set up."),
        "{last}"
    );
    assert!(devices(&host).is_empty());
    let d = host.last_decision();
    d.assert_decision(ACCOUNT, "success", "enrolled");
    assert_eq!(d.get("detail"), "push skipped");
    // Later sign-ins ask for a code, as before push existed, with a word on pairing later.
    let (_, transcript) = host.sign_in(ACCOUNT, &["000000"]);
    assert_eq!(transcript, [PAIR_TIP, common::CODE_PROMPT]);
}

const PAIR_TIP: &str =
    "INFO: Tip: type pair (instead of a code) to approve sign-ins on your phone from now on.";

#[test]
fn a_user_without_a_phone_pairs_later_at_sign_in_after_a_code() {
    let service = ServiceHandle::real();
    let host = host_for(&service.url, &service.token);
    let enrolled = host.enroll(ACCOUNT);
    let mut phone = TestDevice::new("later").unwrap();
    let mut side = None;
    let mut prompts = Vec::new();
    let mut code_given = false;
    let outcome = host.sign_in_with(ACCOUNT, Some(RHOST), &mut |msg: Message<'_>| {
        let (Message::PromptEchoOn(text) | Message::PromptEchoOff(text)) = msg else {
            return None;
        };
        prompts.push(text.to_string());
        if text.starts_with("Code from your authenticator app") {
            return Some(b"pair".to_vec());
        }
        if text.starts_with("To pair a phone, first a code") {
            code_given = true;
            return Some(code_now(&enrolled.params).into_bytes());
        }
        if text.ends_with(PAIRING_PROMPT_END) {
            assert!(code_given, "pairing only after the second factor");
            return Some(b"U".to_vec());
        }
        if text.ends_with(PAIRING_URL_PROMPT_END) {
            let url = pairing_url_in(text).expect("the pairing URL");
            side = Some(phone.pair_from_url(url, Duration::from_secs(2)).unwrap());
        }
        if let (Some(number), Some(side)) = (number_in(text), &side) {
            let pending = phone.pending(side, common::now()).unwrap();
            phone
                .answer(
                    side,
                    &pending[0],
                    DecisionKind::Approve,
                    &number.to_string(),
                    common::now(),
                )
                .unwrap();
        }
        Some(Vec::new())
    });
    assert_eq!(outcome.name, "PAM_SUCCESS", "{prompts:#?}");
    assert_eq!(devices(&host).len(), 1, "{prompts:#?}");
    assert_eq!(
        host.last_decision().get("detail"),
        "push paired, test approved"
    );
    assert_eq!(devices(&host)[0].id, phone.id);
    let d = host.last_decision();
    d.assert_decision(ACCOUNT, "success", "ok");
    assert!(d.get("detail").starts_with("push paired"), "{}", d.raw);
}

#[test]
fn pair_with_a_wrong_code_pairs_nothing() {
    let service = ServiceHandle::real();
    let host = host_for(&service.url, &service.token);
    host.enroll(ACCOUNT);
    let mut prompts = Vec::new();
    let outcome = host.sign_in_with(ACCOUNT, Some(RHOST), &mut |msg: Message<'_>| {
        let (Message::PromptEchoOn(text) | Message::PromptEchoOff(text)) = msg else {
            return None;
        };
        prompts.push(text.to_string());
        Some(match prompts.len() {
            1 => b"pair".to_vec(),
            _ => b"000000".to_vec(),
        })
    });
    assert_eq!(outcome.name, "PAM_AUTH_ERR", "{prompts:#?}");
    assert!(
        !prompts.iter().any(|p| p.contains("Scan with its camera")),
        "{prompts:#?}"
    );
    assert!(devices(&host).is_empty());
}

#[test]
fn s_at_the_pairing_prompt_skips_at_once() {
    let service = ServiceHandle::real();
    let host = host_for(&service.url, &service.token);
    let mut prompts = Vec::new();
    let mut answered_s = None;
    let outcome = host.sign_in_with(ACCOUNT, Some(RHOST), &mut |msg: Message<'_>| {
        let (Message::PromptEchoOn(text) | Message::PromptEchoOff(text)) = msg else {
            return None;
        };
        prompts.push(text.to_string());
        if let Some(key) = key_in(text) {
            return Some(code_now(&params(&key)).into_bytes());
        }
        if text.ends_with(PAIRING_PROMPT_END) {
            // First redrawn for a light background, which is no answer yet.
            return Some(b"L".to_vec());
        }
        if text.ends_with("Paired? Press Enter. S: skip, U: show the address, D: dark background: ")
        {
            answered_s = Some(std::time::Instant::now());
            return Some(b"s".to_vec());
        }
        if let Some(at) = answered_s.take() {
            // The next prompt (the recovery codes) comes without the 10 s wait for a phone.
            assert!(at.elapsed() < Duration::from_secs(3), "{:?}", at.elapsed());
        }
        Some(Vec::new())
    });
    assert_eq!(outcome.name, "PAM_SUCCESS", "{prompts:#?}");
    assert_eq!(
        prompts.len(),
        4,
        "code, pairing (dark), pairing (light), recovery codes: {prompts:#?}"
    );
    assert!(prompts[3].starts_with("✓ Your second factor is set up."));
    assert_eq!(host.last_decision().get("detail"), "push skipped");
    assert!(devices(&host).is_empty());
}

#[test]
fn a_pairing_with_the_wrong_proof_is_not_stored() {
    let service = ServiceHandle::real();
    let host = host_for(&service.url, &service.token);
    let (outcome, prompts) = enroll(&host, |shown| {
        let Shown::Pairing(prompt) = shown else {
            panic!("no test push");
        };
        // Someone who knows the pairing id but not the secret in the fragment: the service
        // refuses; a service that turned bad (it holds the completion key) gets through it,
        // but not past the module's own proof check.
        let url = pairing_url_in(prompt).unwrap();
        let scanned = twofold_core::push::pairing::scan_pairing_url(url).unwrap();
        let id = scanned.pairing_id.as_str();
        let mut intruder = TestDevice::new("x").unwrap();
        assert!(intruder.pair(&service.as_device(), id, &[0u8; 32]).is_err());
        intruder
            .pair_with_forged_proof(&service.as_device(), id, &scanned.secret, &[0u8; 32])
            .unwrap();
    });
    assert_eq!(outcome.name, "PAM_SUCCESS", "{prompts:#?}");
    assert_eq!(prompts.len(), 4, "{prompts:#?}");
    assert!(
        // Wrapped to leave room for ssh's "(user@host) ": read with line breaks as spaces.
        prompts[3]
            .replace('\n', " ")
            .starts_with("The phone's pairing could not be verified and was not saved"),
        "{}",
        prompts[3]
    );
    assert!(devices(&host).is_empty());
    let d = host.last_decision();
    assert!(
        d.get("detail").starts_with("push pairing refused: "),
        "{}",
        d.raw
    );
}

#[test]
fn an_unreachable_service_leaves_an_enrollment_with_codes() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = host_for(&format!("http://127.0.0.1:{port}"), &"A".repeat(43));
    let (outcome, prompts) = enroll(&host, |_| panic!("no pairing offered"));
    assert_eq!(outcome.name, "PAM_SUCCESS", "{prompts:#?}");
    assert_eq!(prompts.len(), 2, "code, recovery codes: {prompts:#?}");
    assert!(
        prompts[1]
            .replace('\n', " ")
            .starts_with("Push approval is not available right now: use codes from your app. "),
        "{}",
        prompts[1]
    );
    let d = host.last_decision();
    d.assert_decision(ACCOUNT, "success", "enrolled");
    assert!(
        d.get("detail").starts_with("push unavailable: "),
        "{}",
        d.raw
    );
}
