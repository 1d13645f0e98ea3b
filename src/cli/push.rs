//! `twofold enroll --push USER` (pair a phone, then a test push) and `twofold devices USER`.
#![forbid(unsafe_code)]

use super::fleet::Fleet;
use super::{CliResult, open_store};
use std::process::ExitCode;
use twofold_core::clock::Clock;
use twofold_core::config::Config;
use twofold_core::factor::device::Device;
use twofold_core::push::pairing::{Offer, TestPush, save_device, unpair};
use twofold_core::push::service::Service;
use twofold_core::push::verify::PushVerdict;
use twofold_core::qr::{self, QrStyle};
use twofold_core::store::UserStore;
use twofold_core::username::UserName;

/// The service as this host reaches it, with the host token.
pub fn host_service(config: &Config) -> Result<Service, String> {
    Service::for_host(&config.push).map_err(|e| e.to_string())
}

pub fn enroll(config: &Config, user: &UserName, style: QrStyle, clock: &dyn Clock) -> CliResult {
    let store = open_store(config)?;
    let fleet = Fleet::open(config)?;
    let mut config = config.clone();
    if let Some(fleet) = &fleet {
        fleet.pull(&store, user)?;
        // Pairing goes to the instance that answered, as a sign-in's push does.
        if let (Some(url), Some(active)) = (&config.push.url, fleet.service.active_url())
            && config.fleet.urls.contains(url)
        {
            config.push.url = Some(active.to_string());
        }
    }
    let config = &config;
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
    let offer = Offer::open(&service, &config.push, user).map_err(|e| e.to_string())?;
    show_offer(config, user, &offer, style)?;
    println!("Waiting for the phone...");
    let device = offer
        .wait(&service, u64::MAX, clock)
        .map_err(|e| format!("{e}; nothing was saved"))?
        .ok_or("the pairing expired before the phone completed it; nothing was saved")?;
    let (name, id) = (device.name.clone(), device.id.clone());
    save_device(&store, user, device).map_err(|e| format!("{e}; nothing was saved"))?;
    println!("✓ Paired \"{name}\" (device {id}).");
    test_push(config, &store, user, &service, &id, clock)?;
    if let Some(fleet) = &fleet {
        // In a fleet the device joins the sealed record, so that every host trusts it.
        if let Err(e) = fleet.publish_cached(&store, user) {
            let _ = unpair(&store, user, &service, &id);
            return Err(format!("{e}; the pairing was undone"));
        }
        println!("✓ Every host of the fleet accepts this phone now.");
    }
    Ok(ExitCode::SUCCESS)
}

/// The pairing QR code and URL, as `enroll --push` and the demo show them.
pub fn show_offer(
    config: &Config,
    user: &UserName,
    offer: &Offer,
    style: QrStyle,
) -> Result<(), String> {
    println!(
        "Pair a phone for push approval: {user} on {}.",
        config.push.host_name()
    );
    println!("On the phone, scan this QR code with the camera and follow the page:\n");
    print!(
        "{}",
        qr::render(&offer.url, style).map_err(|e| e.to_string())?
    );
    println!("\nOr open this address on the phone (it holds a one-time secret; do not share it):");
    println!("{}\n", offer.url);
    Ok(())
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
    let push =
        TestPush::send(service, &config.push, user, device_id, clock).map_err(|e| e.to_string())?;
    println!(
        "\nTest notification sent. On the phone, approve it with number {}.",
        push.number
    );
    let verdict = push.wait(service, &record.devices, u64::MAX, clock);
    let failed = match verdict {
        Ok(Some(PushVerdict::Approved)) => {
            println!("✓ Notification approved");
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => format!("the test notification: {e}"),
        Ok(None) => "no answer to the test notification in time".into(),
        Ok(Some(PushVerdict::Denied | PushVerdict::Reported)) => {
            "the test notification was denied on the phone".into()
        }
        Ok(Some(PushVerdict::Invalid(why))) => format!(
            "the answer to the test notification did not verify ({})",
            why.as_str()
        ),
    };
    // Only an approved test confirms the pairing: undo anything else.
    push.withdraw(service);
    match unpair(store, user, service, device_id) {
        Ok(()) => Err(format!(
            "{failed}; the pairing was undone (run `twofold enroll --push {user}` again)"
        )),
        Err(e) => Err(format!("{failed}; undoing the pairing failed: {e}")),
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
    let fleet = Fleet::open(config)?;
    if let Some(fleet) = &fleet {
        fleet.pull(&store, user)?;
    }
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
            .save_record(user, &lock, &record)
            .map_err(|e| e.to_string())?;
        drop(lock);
        if let Some(fleet) = &fleet {
            fleet.publish_cached(&store, user)?;
        }
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
        println!("{}", devices_json(&record.devices));
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
            Some(t) => format!("removed {}", twofold_core::when::human(t)),
            None => "active".into(),
        };
        println!(
            "  device {}  \"{}\"  paired {}  {state}",
            d.id,
            d.name,
            twofold_core::when::human(d.added)
        );
    }
}

/// The devices as JSON: their fields (Unix times as before) and the same moments in ISO 8601.
pub fn devices_json(devices: &[Device]) -> serde_json::Value {
    let mut list = serde_json::json!(devices);
    if let Some(items) = list.as_array_mut() {
        for (item, d) in items.iter_mut().zip(devices) {
            item["added_at"] = serde_json::json!(twofold_core::when::iso8601(d.added));
            item["removed_at"] = serde_json::json!(d.removed.map(twofold_core::when::iso8601));
        }
    }
    list
}
