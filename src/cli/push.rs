//! `twofold enroll --push USER` (pair a phone, then a test push) and `twofold devices USER`.
#![forbid(unsafe_code)]

use super::{CliResult, open_store};
use crate::clock::Clock;
use crate::config::Config;
use crate::config::check_url;
use crate::push::client::Client;
use crate::push::protocol::{Challenge, b64u, field_ok, new_number, pairing_proof_ok};
use crate::push::service::{Service, ServiceError};
use crate::push::token::read_host_token;
use crate::push::verify::{PushVerdict, parse_public_key, verify};
use crate::qr::{self, QrStyle};
use crate::store::UserStore;
use crate::store::record::Device;
use crate::username::UserName;
use std::process::ExitCode;
use std::time::Duration;

/// The service as this host reaches it, with the host token.
pub fn host_service(config: &Config) -> Result<Service, String> {
    let url = config.push.url.as_deref().ok_or(
        "push approval is not configured: set [push] url in the configuration (see README)",
    )?;
    let endpoint = check_url(url).map_err(|e| format!("[push] url: {e}"))?;
    let token = read_host_token(&config.push.host_token_file).map_err(|e| e.to_string())?;
    let timeout = Duration::from_millis(config.push.connect_timeout_ms);
    let client =
        Client::new(endpoint, Some(token), timeout).with_ca_file(config.push.ca_file.clone());
    Ok(Service::new(client))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The page's pairing URL; the secret travels only in the fragment, which browsers never send.
pub fn pairing_url(config: &Config, pairing_id: &str, secret: &[u8], user: &str) -> String {
    format!(
        "{}/pair#p={}&k={}&u={}&h={}",
        config.push.page_url(),
        percent_encode(pairing_id),
        b64u(secret),
        percent_encode(user),
        percent_encode(&config.push.host_name()),
    )
}

pub fn enroll(config: &Config, user: &UserName, style: QrStyle, clock: &dyn Clock) -> CliResult {
    let store = open_store(config)?;
    if store
        .load_record(user)
        .map_err(|e| e.to_string())?
        .is_none()
    {
        return Err(format!(
            "{user} is not enrolled: run `twofold enroll {user}` first (push approval comes on top of codes)"
        ));
    }
    let service = host_service(config)?;
    let pairing = service
        .create_pairing(user.as_str())
        .map_err(|e| format!("cannot start a pairing: {e}"))?;
    let secret: [u8; 32] = crate::secret::random_bytes().map_err(|e| e.to_string())?;
    let url = pairing_url(config, &pairing.pairing_id, &secret, user.as_str());
    println!(
        "Pair a phone for push approval: {user} on {}.",
        config.push.host_name()
    );
    println!("On the phone, scan this QR code with the camera and follow the page:\n");
    print!("{}", qr::render(&url, style).map_err(|e| e.to_string())?);
    println!("\nOr open this address on the phone (it holds a one-time secret; do not share it):");
    println!("{url}\n");
    println!("Waiting for the phone...");
    let done = loop {
        let left = pairing.expires.saturating_sub(clock.now());
        if left == 0 {
            return Err(
                "the pairing expired before the phone completed it; nothing was saved".into(),
            );
        }
        match service.wait_pairing(&pairing.pairing_id, left.min(60)) {
            Ok(Some(done)) => break done,
            Ok(None) => continue,
            Err(ServiceError::NotFound) => {
                return Err("the pairing expired; nothing was saved".into());
            }
            Err(e) => return Err(format!("waiting for the phone: {e}")),
        }
    };
    let proof_ok = pairing_proof_ok(&secret, &pairing.pairing_id, &done.public_key, &done.proof);
    if !proof_ok {
        return Err(
            "the phone's pairing proof does not match this QR code's secret: refused, nothing was saved"
                .into(),
        );
    }
    if parse_public_key(&done.public_key).is_none() || !field_ok(&done.device_id) {
        return Err("the phone sent a malformed key or device id; nothing was saved".into());
    }
    let name: String = done
        .device_name
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    let device = Device {
        id: done.device_id.clone(),
        public_key: done.public_key.clone(),
        name,
        added: clock.now(),
        removed: None,
    };
    save_device(&store, user, device)?;
    println!(
        "✓ Paired \"{}\" (device {}).",
        done.device_name, done.device_id
    );
    test_push(config, &store, user, &service, &done.device_id, clock)
}

fn save_device(store: &UserStore, user: &UserName, device: Device) -> Result<(), String> {
    let _lock = store.lock(user).map_err(|e| e.to_string())?;
    let mut record = store
        .load_record(user)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{user} was reset meanwhile; nothing was saved"))?;
    record.devices.retain(|d| d.id != device.id);
    record.devices.push(device);
    store.save_record(user, &record).map_err(|e| e.to_string())
}

/// A challenge like a sign-in's, answered on the new phone: proves the whole path works.
fn test_push(
    config: &Config,
    store: &UserStore,
    user: &UserName,
    service: &Service,
    device_id: &str,
    clock: &dyn Clock,
) -> CliResult {
    let record = store
        .load_record(user)
        .map_err(|e| e.to_string())?
        .ok_or("the record disappeared")?;
    let challenge = Challenge::new(
        user.as_str(),
        &config.push.host_name(),
        "twofold-enroll",
        "",
        clock.now(),
        config.push.timeout_seconds.max(60),
    )
    .map_err(|e| e.to_string())?;
    let number = new_number().map_err(|e| e.to_string())?;
    service
        .create_challenge(&challenge, &[device_id.to_string()])
        .map_err(|e| format!("cannot send the test notification: {e}"))?;
    println!("\nTest notification sent. On the phone, approve it with number {number}.");
    loop {
        let left = challenge.expires.saturating_sub(clock.now());
        if left == 0 {
            return Err(
                "no answer to the test notification in time (the phone stays paired)".into(),
            );
        }
        let decision = match service.wait_decision(&challenge.id, left.min(15)) {
            Ok(Some(decision)) => decision,
            Ok(None) => continue,
            Err(e) => return Err(format!("waiting for the test notification: {e}")),
        };
        return match verify(&decision, &challenge, number, &record.devices, clock.now()) {
            PushVerdict::Approved => {
                println!("✓ Notification approved");
                Ok(ExitCode::SUCCESS)
            }
            PushVerdict::Denied | PushVerdict::Reported => {
                Err("the test notification was denied on the phone (the phone stays paired)".into())
            }
            PushVerdict::Invalid(why) => Err(format!(
                "the answer to the test notification did not verify ({})",
                why.as_str()
            )),
        };
    }
}

/// `twofold devices USER [--remove ID] [--json]`.
pub fn devices(
    config: &Config,
    user: &UserName,
    remove: Option<String>,
    json: bool,
    clock: &dyn Clock,
) -> CliResult {
    let store = open_store(config)?;
    if let Some(id) = remove {
        let lock = store.lock(user).map_err(|e| e.to_string())?;
        let mut record = store
            .load_record(user)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{user}: not enrolled"))?;
        let device = record
            .devices
            .iter_mut()
            .find(|d| d.id == id && d.removed.is_none())
            .ok_or_else(|| format!("{user} has no active device {id:?}"))?;
        device.removed = Some(clock.now());
        store
            .save_record(user, &record)
            .map_err(|e| e.to_string())?;
        drop(lock);
        println!("✓ Removed device {id}: it can no longer approve sign-ins of {user}.");
        // The record decides; telling the service only stops its notifications.
        if let Err(e) =
            host_service(config).and_then(|s| s.delete_device(&id).map_err(|e| e.to_string()))
        {
            eprintln!(
                "twofold: the service was not told ({e}); the device is removed on this host all the same"
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let record = store
        .load_record(user)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{user}: not enrolled"))?;
    if json {
        println!("{}", serde_json::json!(record.devices));
    } else if record.devices.is_empty() {
        println!("{user}: no devices paired (`twofold enroll --push {user}`)");
    } else {
        print_devices(&record.devices);
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per device.
pub fn print_devices(devices: &[Device]) {
    for d in devices {
        let state = match d.removed {
            Some(t) => format!("removed (unix time {t})"),
            None => "active".into(),
        };
        println!(
            "  device {}  \"{}\"  paired {} (unix time)  {state}",
            d.id, d.name, d.added
        );
    }
}
