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

/// Where the demo's TOTP part left things.
pub struct Setting<'a> {
    pub dir: &'a Path,
    pub config_path: &'a Path,
    pub confdir: &'a Path,
    /// A terminal: a person may play the phone.
    pub live: bool,
    pub style: QrStyle,
}

/// Runs steps 5 to 8; true if every push did what it should. The service stops when this
/// returns, however it returns.
pub fn run(s: &Setting<'_>) -> Result<bool, String> {
    let clock = SystemClock;
    println!("\nStep 5. Start the approval service, `twofold serve`, on 127.0.0.1");
    let serve_dir = s.dir.join("serve");
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&serve_dir)
        .map_err(|e| format!("{}: {e}", serve_dir.display()))?;
    let twofold = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let service =
        LocalService::start(&twofold, &serve_dir, "demo", "").map_err(|e| e.to_string())?;
    println!(
        "  twofold serve (pid {}) listening on {}; configuration, database and log in {}",
        service.pid(),
        service.url(),
        serve_dir.display()
    );
    let token_path = s.dir.join("host-token");
    write_private(&token_path, &format!("{}\n", service.token().expose()))
        .map_err(|e| e.to_string())?;
    println!(
        "  ✓ host \"demo\" registered (`twofold serve --add-host demo`); its token is in {} (owner only, mode 0600, as the module requires)",
        token_path.display()
    );
    let config = configure(s, service.url(), &token_path)?;
    let user = UserName::parse(USER.as_bytes()).map_err(|e| e.to_string())?;

    println!("\nStep 6. Pair a phone for \"{USER}\" (as `twofold enroll --push {USER}` does)");
    let host_side = Service::for_host(&config.push).map_err(|e| e.to_string())?;
    let offer = Offer::open(&host_side, &config.push, &user).map_err(|e| e.to_string())?;
    show_offer(&config, &user, &offer, s.style)?;
    let (device, phone) = pair(&offer, &host_side, s.live, &clock)?;
    println!(
        "  ✓ Paired \"{}\" (device {}): its proof matches this QR code's secret; its public key is now in {USER}'s record",
        device.name, device.id
    );
    let store = UserStore::open(&config.state_dir).map_err(|e| e.to_string())?;
    save_device(&store, &user, device).map_err(|e| e.to_string())?;

    println!("\nStep 7. Sign in through libpam with push approval");
    if let Phone::Person = phone {
        println!(
            "On the phone (or in the browser), check the request, type the number shown here and approve."
        );
    }
    let outcome = push_sign_in(s.confdir, &phone, DecisionKind::Approve)?;
    let approved = judged(
        s.dir,
        "an approved push signs in",
        &outcome,
        "push_approved",
    );

    println!("\nStep 8. A push denied on the phone");
    if let Phone::Person = phone {
        println!("This time, deny the request on the phone (or in the browser).");
    }
    let outcome = push_sign_in(s.confdir, &phone, DecisionKind::Deny)?;
    let denied = judged(s.dir, "a denied push is refused", &outcome, "push_denied");
    drop(service);
    println!("  ✓ twofold serve stopped");
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
    println!(
        "  [push] added to {shown}: url = {url:?}, mode = \"wait\" (show the number, wait for the phone)"
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
) -> Result<(Device, Phone), String> {
    let test_device = TestDevice::new("unpaired").map_err(|e| e.to_string())?;
    if !live {
        println!(
            "No terminal: the built-in test device (src/core/src/push/device.rs) is the phone."
        );
        return pair_test_device(test_device, offer, host_side, clock);
    }
    println!(
        "The service listens on 127.0.0.1 only, so a phone cannot reach it: open the address in a browser on this machine, which then plays the phone."
    );
    println!(
        "Waiting up to {PAIRING_WAIT} s — or press Enter to let the built-in test device be the phone."
    );
    let copy = TestDevice::from_secret_bytes("unpaired", &test_device.secret_bytes())
        .ok_or("cannot copy the test device's key")?;
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
        if let Ok(service) = phone::pair_test_device(&mut device, &url) {
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
                .map_err(|_| "the test device paired but did not report back")?;
            Ok((device, Phone::TestDevice(Box::new((test_device, service)))))
        }
        Some(device) => Ok((device, Phone::Person)),
        None => {
            println!(
                "No phone paired within {PAIRING_WAIT} s: the built-in test device stands in."
            );
            pair_test_device(test_device, offer, host_side, clock)
        }
    }
}

fn pair_test_device(
    mut device: TestDevice,
    offer: &Offer,
    host_side: &Service,
    clock: &dyn Clock,
) -> Result<(Device, Phone), String> {
    let service = phone::pair_test_device(&mut device, &offer.url)?;
    let paired = offer
        .wait(host_side, 10, clock)
        .map_err(|e| e.to_string())?
        .ok_or("the test device's pairing did not reach this host")?;
    Ok((paired, Phone::TestDevice(Box::new((device, service)))))
}

/// One sign-in in which the phone answers with `kind` once the module shows the number.
fn push_sign_in(
    confdir: &Path,
    phone: &Phone,
    kind: DecisionKind,
) -> Result<client::Outcome, String> {
    let (tx, rx) = mpsc::channel::<u8>();
    std::thread::scope(|scope| {
        if let Phone::TestDevice(test) = phone {
            let (device, service) = (&test.0, &test.1);
            scope.spawn(move || {
                if let Ok(number) = rx.recv_timeout(Duration::from_secs(PERSON_TIMEOUT)) {
                    phone::answer(device, service, number, kind);
                }
            });
        }
        let mut tx = Some(tx);
        authenticate(confdir, &mut |msg: Message<'_>| match msg {
            Message::TextInfo(t) | Message::ErrorMsg(t) => {
                println!("  [{t}]");
                if let Some(number) = number_shown(t)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(number);
                }
                None
            }
            Message::PromptEchoOff(p) | Message::PromptEchoOn(p) => {
                println!("  {p}(not answered: this sign-in should use push)");
                None
            }
        })
    })
}

/// libpam's verdict and the audit log's reason must both be what this step expects.
fn judged(dir: &Path, what: &str, outcome: &client::Outcome, reason: &str) -> bool {
    let want_success = reason == "push_approved";
    let log = std::fs::read_to_string(dir.join("audit.log")).unwrap_or_default();
    let last = log.lines().rfind(|l| l.starts_with("auth ")).unwrap_or("");
    let logged = last.contains(" method=push ") && last.contains(&format!(" reason={reason}"));
    let ok = report(what, outcome, want_success) && logged;
    if !logged {
        println!("  ✗ the audit log does not say method=push reason={reason}: {last}");
    }
    ok
}
