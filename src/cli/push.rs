//! `twofold enroll --push USER` (pair a phone, then a test push) and `twofold devices USER`.
#![forbid(unsafe_code)]

use super::fleet::Fleet;
use super::{CliResult, open_store};
use std::process::ExitCode;
use twofold_core::clock::Clock;
use twofold_core::config::Config;
use twofold_core::factor::device::Device;
use twofold_core::messages::Texts;
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
    let t = super::language::texts(config);
    let u = ("user", user.as_str());
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
        return Err(t.fill("cli.push_not_enrolled", &[u]));
    }
    let service = host_service(config)?;
    let offer = Offer::open(&service, &config.push, user).map_err(|e| e.to_string())?;
    show_offer(config, user, &offer, style)?;
    println!("{}", t.get("cli.push_waiting"));
    let nothing_saved = |e: String| t.fill("cli.push_nothing_saved", &[("error", &e)]);
    let device = offer
        .wait(&service, u64::MAX, clock)
        .map_err(|e| nothing_saved(e.to_string()))?
        .ok_or_else(|| t.get("cli.push_expired").to_string())?;
    let (name, id) = (device.name.clone(), device.id.clone());
    save_device(&store, user, device).map_err(|e| nothing_saved(e.to_string()))?;
    println!(
        "{}",
        t.fill("cli.push_paired", &[("name", &name), ("id", &id)])
    );
    test_push(config, &store, user, &service, &id, clock)?;
    if let Some(fleet) = &fleet {
        // In a fleet the device joins the sealed record, so that every host trusts it.
        if let Err(e) = fleet.publish_cached(&store, user) {
            let _ = unpair(&store, user, &service, &id);
            return Err(fleet.t.fill("fleet_cli.pairing_undone", &[("error", &e)]));
        }
        println!("{}", fleet.t.get("fleet_cli.phone_trusted"));
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
    let t = super::language::texts(config);
    let host = config.push.host_name();
    println!(
        "{}",
        t.fill(
            "cli.push_offer",
            &[("user", user.as_str()), ("host", &host)]
        )
    );
    println!("{}\n", t.get("cli.push_scan"));
    print!(
        "{}",
        qr::render(&offer.url, style).map_err(|e| e.to_string())?
    );
    println!("\n{}", t.get("cli.push_address"));
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
    let t = super::language::texts(config);
    let record = store
        .load_record(user)
        .map_err(|e| e.to_string())?
        .ok_or("the record disappeared")?;
    let push =
        TestPush::send(service, &config.push, user, device_id, clock).map_err(|e| e.to_string())?;
    let number = push.number.to_string();
    println!("\n{}", t.fill("cli.push_test_sent", &[("number", &number)]));
    let verdict = push.wait(service, &record.devices, u64::MAX, clock);
    let failed = match verdict {
        Ok(Some(PushVerdict::Approved)) => {
            println!("{}", t.get("cli.push_test_approved"));
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => t.fill("cli.push_test_error", &[("error", &e.to_string())]),
        Ok(None) => t.get("cli.push_test_no_answer").to_string(),
        Ok(Some(PushVerdict::Denied | PushVerdict::Reported)) => {
            t.get("cli.push_test_denied").to_string()
        }
        Ok(Some(PushVerdict::Invalid(why))) => {
            t.fill("cli.push_test_invalid", &[("why", why.as_str())])
        }
    };
    // Only an approved test confirms the pairing: undo anything else.
    push.withdraw(service);
    let u = ("user", user.as_str());
    match unpair(store, user, service, device_id) {
        Ok(()) => Err(t.fill("cli.push_undone", &[("failed", &failed), u])),
        Err(e) => Err(t.fill(
            "cli.push_undo_failed",
            &[("failed", &failed), ("error", &e.to_string())],
        )),
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
    let t = super::language::texts(config);
    let u = ("user", user.as_str());
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
            .ok_or_else(|| t.fill("cli.status_not_enrolled", &[u]))?;
        let device = record
            .devices
            .iter_mut()
            .find(|d| d.id == id && d.removed.is_none())
            .ok_or_else(|| t.fill("cli.devices_none_such", &[u, ("id", &format!("{id:?}"))]))?;
        device.removed = Some(clock.now());
        store
            .save_record(user, &lock, &record)
            .map_err(|e| e.to_string())?;
        drop(lock);
        if let Some(fleet) = &fleet {
            fleet.publish_cached(&store, user)?;
        }
        println!("{}", t.fill("cli.devices_removed", &[u, ("id", &id)]));
        // The record decides; telling the service only stops its notifications.
        if let Err(e) =
            host_service(config).and_then(|s| s.delete_device(&id).map_err(|e| e.to_string()))
        {
            eprintln!(
                "twofold: {}",
                t.fill("cli.devices_service_not_told", &[("error", &e)])
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let record = store
        .load_record(user)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| t.fill("cli.status_not_enrolled", &[u]))?;
    if json {
        println!("{}", devices_json(&record.devices));
    } else if record.devices.is_empty() {
        println!("{}", t.fill("cli.devices_none", &[u]));
    } else {
        print_devices(&record.devices, t);
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per device.
pub fn print_devices(devices: &[Device], t: Texts) {
    for d in devices {
        let state = match d.removed {
            Some(when) => t.fill(
                "cli.devices_removed_at",
                &[("time", &twofold_core::when::human(when))],
            ),
            None => t.get("cli.devices_active").to_string(),
        };
        let added = twofold_core::when::human(d.added);
        println!(
            "{}",
            t.fill(
                "cli.devices_line",
                &[
                    ("id", &d.id),
                    ("name", &d.name),
                    ("added", &added),
                    ("state", &state)
                ]
            )
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
