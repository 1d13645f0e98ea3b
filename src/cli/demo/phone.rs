//! The demo's phone: a real phone or a browser on this machine (on a terminal), or the built-in
//! test device (src/core/src/push/device.rs), which pairs through the pairing URL and answers pushes the
//! way the phone page does, printing each step.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};
use twofold_core::clock::{Clock, SystemClock};
use twofold_core::messages::Texts;
use twofold_core::push::device::TestDevice;
use twofold_core::push::protocol::{Challenge, DecisionKind};
use twofold_core::push::service::Service;

/// How long the test device waits for the request to show up in its list.
const PENDING_WAIT: Duration = Duration::from_secs(5);
/// Connect timeout of the test device's requests.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Who answers the demo's pushes.
pub enum Phone {
    /// A real phone or a browser: the person at the terminal answers.
    Person,
    /// The built-in test device and the service as it reaches it.
    TestDevice(Box<(TestDevice, Service)>),
}

/// Pairs `device` through the pairing URL, as a phone does after scanning the QR code.
pub fn pair_test_device(device: &mut TestDevice, url: &str, t: Texts) -> Result<Service, String> {
    let service = device
        .pair_from_url(url, CONNECT_TIMEOUT)
        .map_err(|e| t.fill("demo.phone_not_paired", &[("error", &e.to_string())]))?;
    println!("{}", t.get("demo.phone_paired"));
    Ok(service)
}

/// The test device answers the request that shows `number`: `Approve` types the number.
pub fn answer(device: &TestDevice, service: &Service, number: u8, kind: DecisionKind, t: Texts) {
    let Some(challenge) = pending(device, service) else {
        println!("{}", t.get("demo.phone_no_request"));
        return;
    };
    let typed = match kind {
        DecisionKind::Approve => number.to_string(),
        DecisionKind::Deny | DecisionKind::Report => String::new(),
    };
    let from = match challenge.rhost.as_str() {
        "" => t.get("demo.this_machine"),
        rhost => rhost,
    };
    let request = t.fill(
        "demo.phone_request",
        &[
            ("user", &challenge.user),
            ("host", &challenge.host),
            ("from", from),
            ("service", &challenge.service),
        ],
    );
    let request = ("request", request.as_str());
    match device.answer(service, &challenge, kind, &typed, SystemClock.now()) {
        Ok(()) if kind == DecisionKind::Approve => {
            let values = [request, ("number", &typed)];
            println!("{}", t.fill("demo.phone_approved", &values))
        }
        Ok(()) => println!("{}", t.fill("demo.phone_denied", &[request])),
        Err(e) => {
            let values = [request, ("error", &e.to_string())];
            println!("{}", t.fill("demo.phone_failed", &values))
        }
    }
}

/// The request waiting for the device: posted before the number is shown, but give the
/// service a moment.
fn pending(device: &TestDevice, service: &Service) -> Option<Challenge> {
    let deadline = Instant::now() + PENDING_WAIT;
    loop {
        match device.pending(service, SystemClock.now()) {
            Ok(list) if !list.is_empty() => return list.into_iter().next(),
            Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => return None,
        }
    }
}
