//! The demo's push part, in the same temporary directory as its TOTP part: a private
//! `twofold serve` on 127.0.0.1 with a host token made by `--add-host`, a phone paired for the
//! demo user (QR code and URL as `twofold enroll --push` shows them), then a sign-in through
//! libpam that the phone approves and one it denies.
#![forbid(unsafe_code)]

use super::phone::{self, Phone};
use super::{USER, authenticate, report};
use crate::push::show_offer;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;
use twofold_core::clock::{Clock, SystemClock};
use twofold_core::config::Config;
use twofold_core::factor::device::Device;
use twofold_core::messages::Texts;
use twofold_core::push::device::{TestDevice, number_shown};
use twofold_core::push::local::{LocalService, write_private};
use twofold_core::push::pairing::{Offer, save_device};
use twofold_core::push::protocol::DecisionKind;
use twofold_core::push::service::Service;
use twofold_core::qr::QrStyle;
use twofold_core::store::UserStore;
use twofold_core::username::UserName;
use twofold_pam_client::{self as client, Message};

/// How long the demo waits for a real phone (or browser) to pair.
const PAIRING_WAIT: u64 = 120;
/// How long a sign-in waits for the phone: a person needs longer than the test device.
const PERSON_TIMEOUT: u64 = 60;
const TEST_DEVICE_TIMEOUT: u64 = 20;
/// The name the demo's host has at its approval service.
const HOST: &str = "demo";

/// Where the demo's TOTP part left things.
pub struct Setting<'a> {
    pub dir: &'a Path,
    pub config_path: &'a Path,
    pub confdir: &'a Path,
    /// A terminal: a person may play the phone.
    pub live: bool,
    pub style: QrStyle,
    /// The demo's language.
    pub texts: Texts,
}

/// Runs steps 5 to 8; true if every push did what it should. The service stops when this
/// returns, however it returns.
pub fn run(s: &Setting<'_>) -> Result<bool, String> {
    let (clock, t) = (SystemClock, s.texts);
    println!("\n{}", t.get("demo.step_serve"));
    let serve_dir = s.dir.join("serve");
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&serve_dir)
        .map_err(|e| format!("{}: {e}", serve_dir.display()))?;
    let twofold = std::env::current_exe()
        .map_err(|e| t.fill("demo.no_program", &[("error", &e.to_string())]))?;
    let service = LocalService::start(&twofold, &serve_dir, HOST, "").map_err(|e| e.to_string())?;
    let (pid, dir) = (service.pid().to_string(), serve_dir.display().to_string());
    println!(
        "{}",
        t.fill(
            "demo.serve_listening",
            &[("pid", &pid), ("url", service.url()), ("dir", &dir)]
        )
    );
    let token_path = s.dir.join("host-token");
    write_private(&token_path, &format!("{}\n", service.token().expose()))
        .map_err(|e| e.to_string())?;
    let path = token_path.display().to_string();
    println!(
        "{}",
        t.fill("demo.host_registered", &[("host", HOST), ("path", &path)])
    );
    let config = configure(s, service.url(), &token_path)?;
    let user = UserName::parse(USER.as_bytes()).map_err(|e| e.to_string())?;

    println!("\n{}", t.fill("demo.step_pair", &[("user", USER)]));
    let host_side = Service::for_host(&config.push).map_err(|e| e.to_string())?;
    let offer = Offer::open(&host_side, &config.push, &user).map_err(|e| e.to_string())?;
    show_offer(&config, &user, &offer, s.style)?;
    let (device, phone) = pair(&offer, &host_side, s.live, &clock, t)?;
    println!(
        "{}",
        t.fill(
            "demo.paired",
            &[("name", &device.name), ("id", &device.id), ("user", USER)]
        )
    );
    let store = UserStore::open(&config.state_dir).map_err(|e| e.to_string())?;
    save_device(&store, &user, device).map_err(|e| e.to_string())?;

    println!("\n{}", t.get("demo.step_push"));
    if let Phone::Person = phone {
        println!("{}", t.get("demo.approve_on_phone"));
    }
    let outcome = push_sign_in(s.confdir, &phone, DecisionKind::Approve, t)?;
    let approved = judged(s, "demo.approved_check", &outcome, "push_approved");

    println!("\n{}", t.get("demo.step_deny"));
    if let Phone::Person = phone {
        println!("{}", t.get("demo.deny_on_phone"));
    }
    let outcome = push_sign_in(s.confdir, &phone, DecisionKind::Deny, t)?;
    let denied = judged(s, "demo.denied_check", &outcome, "push_denied");
    drop(service);
    println!("{}", t.get("demo.serve_stopped"));
    Ok(approved && denied)
}

/// Adds `[push]` to the demo's configuration: this service, this token, console waiting.
fn configure(s: &Setting<'_>, url: &str, token: &Path) -> Result<Config, String> {
    let timeout = if s.live {
        PERSON_TIMEOUT
    } else {
        TEST_DEVICE_TIMEOUT
    };
    let section = format!(
        "\n[push]\nurl = {url:?}\nhost_token_file = {:?}\nmode = \"wait\"\ntimeout_seconds = {timeout}\n",
        token.display().to_string()
    );
    let shown = s.config_path.display();
    std::fs::OpenOptions::new()
        .append(true)
        .open(s.config_path)
        .and_then(|mut f| f.write_all(section.as_bytes()))
        .map_err(|e| format!("{shown}: {e}"))?;
    let (path, url) = (shown.to_string(), format!("{url:?}"));
    println!(
        "{}",
        s.texts
            .fill("demo.push_configured", &[("path", &path), ("url", &url)])
    );
    Config::load(s.config_path, true).map_err(|e| format!("{e:?}"))
}

/// The phone pairs: on a terminal a person (or, on Enter or after the wait, the test device),
/// without one the test device.
fn pair(
    offer: &Offer,
    host_side: &Service,
    live: bool,
    clock: &dyn Clock,
    t: Texts,
) -> Result<(Device, Phone), String> {
    let test_device = TestDevice::new("unpaired").map_err(|e| e.to_string())?;
    if !live {
        println!("{}", t.get("demo.no_terminal_phone"));
        return pair_test_device(test_device, offer, host_side, clock, t);
    }
    let wait = PAIRING_WAIT.to_string();
    println!("{}", t.get("demo.browser_plays_phone"));
    println!("{}", t.fill("demo.pairing_wait", &[("seconds", &wait)]));
    let copy = TestDevice::from_secret_bytes("unpaired", &test_device.secret_bytes())
        .ok_or(t.get("demo.no_key_copy"))?;
    let (tx, rx) = mpsc::channel();
    let done = Arc::new(AtomicBool::new(false));
    let enter_done = Arc::clone(&done);
    let url = offer.url.clone();
    std::thread::spawn(move || {
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).is_err() || enter_done.load(Ordering::SeqCst) {
            return;
        }
        let mut device = copy;
        if let Ok(service) = phone::pair_test_device(&mut device, &url, t) {
            let _ = tx.send((device, service));
        }
    });
    let paired = offer
        .wait(host_side, PAIRING_WAIT, clock)
        .map_err(|e| e.to_string())?;
    done.store(true, Ordering::SeqCst);
    match paired {
        Some(device) if device.public_key == test_device.public_key_b64u() => {
            let (test_device, service) = rx
                .recv_timeout(Duration::from_secs(5))
                .map_err(|_| t.get("demo.no_report_back"))?;
            Ok((device, Phone::TestDevice(Box::new((test_device, service)))))
        }
        Some(device) => Ok((device, Phone::Person)),
        None => {
            println!("{}", t.fill("demo.no_phone_paired", &[("seconds", &wait)]));
            pair_test_device(test_device, offer, host_side, clock, t)
        }
    }
}

fn pair_test_device(
    mut device: TestDevice,
    offer: &Offer,
    host_side: &Service,
    clock: &dyn Clock,
    t: Texts,
) -> Result<(Device, Phone), String> {
    let service = phone::pair_test_device(&mut device, &offer.url, t)?;
    let paired = offer
        .wait(host_side, 10, clock)
        .map_err(|e| e.to_string())?
        .ok_or(t.get("demo.pairing_lost"))?;
    Ok((paired, Phone::TestDevice(Box::new((device, service)))))
}

/// One sign-in in which the phone answers with `kind` once the module shows the number.
fn push_sign_in(
    confdir: &Path,
    phone: &Phone,
    kind: DecisionKind,
    t: Texts,
) -> Result<client::Outcome, String> {
    let (tx, rx) = mpsc::channel::<u8>();
    std::thread::scope(|scope| {
        if let Phone::TestDevice(test) = phone {
            let (device, service) = (&test.0, &test.1);
            scope.spawn(move || {
                if let Ok(number) = rx.recv_timeout(Duration::from_secs(PERSON_TIMEOUT)) {
                    phone::answer(device, service, number, kind, t);
                }
            });
        }
        let mut tx = Some(tx);
        authenticate(confdir, &mut |msg: Message<'_>| match msg {
            Message::TextInfo(text) | Message::ErrorMsg(text) => {
                println!("  [{text}]");
                if let Some(number) = number_shown(text)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(number);
                }
                None
            }
            Message::PromptEchoOff(p) | Message::PromptEchoOn(p) => {
                println!("{}", t.fill("demo.prompt_unanswered", &[("prompt", p)]));
                None
            }
        })
    })
}

/// libpam's verdict and the audit log's reason must both be what this step expects (`what`:
/// the key of the step's description).
fn judged(s: &Setting<'_>, what: &'static str, outcome: &client::Outcome, reason: &str) -> bool {
    let want_success = reason == "push_approved";
    let log = std::fs::read_to_string(s.dir.join("audit.log")).unwrap_or_default();
    let last = log.lines().rfind(|l| l.starts_with("auth ")).unwrap_or("");
    let logged = last.contains(" method=push ") && last.contains(&format!(" reason={reason}"));
    let ok = report(s.texts, what, outcome, want_success) && logged;
    if !logged {
        let values = [("reason", reason), ("line", last)];
        println!("{}", s.texts.fill("demo.not_logged", &values));
    }
    ok
}
