//! `twofold-test-phone`: the built-in test device (src/core/src/push/device.rs) as a small command, so a
//! shell script — the front-door tests inside their namespaces — can play the phone:
//!
//! ```text
//! twofold-test-phone STATE pair URL        scan a pairing URL: make a key, complete the pairing
//! twofold-test-phone STATE approve NUMBER  wait for the pending request, type NUMBER, approve
//! twofold-test-phone STATE deny            wait for the pending request, deny it
//! ```
//!
//! STATE is a file (created 0600 by `pair`) holding the service's URL, the device id and the
//! device's private key — a test device's key, kept so the next run is the same phone.
//! One line per action on stdout; errors on stderr with exit status 1.

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use twofold_core::push::client::Client;
use twofold_core::push::device::TestDevice;
use twofold_core::push::endpoint::Endpoint;
use twofold_core::push::local::write_private;
use twofold_core::push::protocol::{Challenge, DecisionKind, b64u, from_b64u};
use twofold_core::push::service::Service;

/// How long `approve`/`deny` wait for a request to show up.
const PENDING_WAIT: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize, Deserialize)]
struct State {
    base_url: String,
    device_id: String,
    key: String,
}

fn main() -> ExitCode {
    twofold_core::outside::install_system();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [state, "pair", url] => pair(Path::new(state), url),
        [state, "approve", number] => answer(Path::new(state), DecisionKind::Approve, number),
        [state, "deny"] => answer(Path::new(state), DecisionKind::Deny, ""),
        _ => Err("usage: twofold-test-phone STATE pair URL | approve NUMBER | deny".into()),
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("twofold-test-phone: {e}");
            ExitCode::FAILURE
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn pair(state: &Path, url: &str) -> Result<String, String> {
    let mut device = TestDevice::new("unpaired").map_err(|e| e.to_string())?;
    device
        .pair_from_url(url, CONNECT_TIMEOUT)
        .map_err(|e| format!("pairing failed: {e}"))?;
    let base_url = url
        .split_once("/pair#")
        .map(|(base, _)| base.to_string())
        .ok_or("not a pairing URL")?;
    let saved = State {
        base_url,
        device_id: device.id.clone(),
        key: b64u(&device.secret_bytes()),
    };
    let text = serde_json::to_string(&saved).map_err(|e| e.to_string())?;
    write_private(state, &text).map_err(|e| e.to_string())?;
    Ok(format!("phone: paired as device {}", device.id))
}

fn answer(state: &Path, kind: DecisionKind, number: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(state).map_err(|e| format!("{}: {e}", state.display()))?;
    let saved: State = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let key = from_b64u(&saved.key).ok_or("bad key in the state file")?;
    let device =
        TestDevice::from_secret_bytes(&saved.device_id, &key).ok_or("bad key in the state file")?;
    let endpoint = Endpoint::parse(&saved.base_url)?;
    let service = Service::new(Client::new(endpoint, None, CONNECT_TIMEOUT));
    let challenge = wait_pending(&device, &service)?;
    device
        .answer(&service, &challenge, kind, number, now())
        .map_err(|e| format!("answering failed: {e}"))?;
    let from = match challenge.rhost.as_str() {
        "" => "this machine",
        rhost => rhost,
    };
    let what = format!(
        "phone: request for {}@{} from {from} (service {})",
        challenge.user, challenge.host, challenge.service
    );
    Ok(match kind {
        DecisionKind::Approve => format!("{what}, number typed {number}, approved"),
        _ => format!("{what}, {}", kind.as_str()),
    })
}

/// The page asks for pending requests when opened (or notified); so does this, until one comes.
fn wait_pending(device: &TestDevice, service: &Service) -> Result<Challenge, String> {
    let deadline = Instant::now() + PENDING_WAIT;
    loop {
        match device.pending(service, now()) {
            Ok(list) if !list.is_empty() => {
                return list.into_iter().next().ok_or_else(|| "no request".into());
            }
            Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Ok(_) => return Err(format!("no request within {} s", PENDING_WAIT.as_secs())),
            Err(e) => return Err(format!("asking for requests failed: {e}")),
        }
    }
}
