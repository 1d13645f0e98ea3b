//! Administration: status, list, reset, unlock, recovery-codes, check-config.
#![forbid(unsafe_code)]

use super::enroll::{recovery_codes_text, write_stdout};
use super::fleet::Fleet;
use super::{CliResult, open_store};
use std::process::ExitCode;
use twofold_core::clock::Clock;
use twofold_core::config::Config;
use twofold_core::factor::recovery;
use twofold_core::fleet::host;
use twofold_core::signin::ratelimit;
use twofold_core::store::UserStore;
use twofold_core::username::UserName;
use twofold_core::when;

pub fn status(config: &Config, user: &UserName, json: bool, clock: &dyn Clock) -> CliResult {
    let t = super::language::texts(config);
    let u = ("user", user.as_str());
    let store = open_store(config)?;
    let fleet = Fleet::open(config)?;
    let pulled = match &fleet {
        Some(fleet) => Some(fleet.pull(&store, user)?),
        None => None,
    };
    let Some(record) = store.load_record(user).map_err(|e| e.to_string())? else {
        if json {
            println!(
                "{}",
                serde_json::json!({ "user": user.as_str(), "enrolled": false })
            );
        } else {
            println!("{}", t.fill("cli.status_not_enrolled", &[u]));
        }
        return Ok(ExitCode::from(3));
    };
    let lock = store.lock(user).map_err(|e| e.to_string())?;
    let mut state = store
        .load_state_for(user, &lock, Some(&record))
        .map_err(|e| e.to_string())?;
    drop(lock);
    if let Some(pulled) = &pulled {
        // What counts fleet-wide is shown: the service's failures and lockout, when higher.
        state.failures = state.failures.max(pulled.claims.failures);
        state.locked_until = state.locked_until.max(pulled.claims.locked_until);
        for id in &pulled.claims.used_recovery {
            if !state.used_recovery.contains(id) {
                state.used_recovery.push(id.clone());
            }
        }
    }
    let now = clock.now();
    let recovery = store
        .recovery_of(user, &record)
        .map_err(|e| e.to_string())?;
    let unused = recovery
        .iter()
        .filter(|r| !state.used_recovery.contains(&r.id))
        .count();
    let locked = ratelimit::is_locked(&state, now);
    let paused = twofold_core::signin::push::dialogue::paused(&state, now);
    if json {
        // Unix times as before, and the same moments in ISO 8601 (null for "never").
        let iso = |t: u64| (t > 0).then(|| when::iso8601(t));
        let mut out = serde_json::json!({
            "user": user.as_str(),
            "enrolled": true,
            "created": record.created,
            "created_at": iso(record.created),
            "algorithm": record.totp.algorithm.to_string(),
            "digits": record.totp.digits,
            "period": record.totp.period,
            "recovery_codes_left": unused,
            "failures": state.failures,
            "locked": locked,
            "locked_until": state.locked_until,
            "locked_until_at": iso(if locked { state.locked_until } else { 0 }),
            "last_success": state.last_success,
            "last_success_at": iso(state.last_success),
        });
        if let Some(phone) = super::phone::shown(&record) {
            out["phone"] = serde_json::json!(phone);
        }
        if let Some(method) = record.default_method {
            out["default_method"] = serde_json::json!(method.as_str());
        }
        // Push fields only for users with devices: older consumers see what they always saw.
        if !record.devices.is_empty() {
            out["devices"] = super::push::devices_json(&record.devices);
            out["push_paused"] = serde_json::json!(paused.map(|(why, _)| why));
            out["push_paused_until"] =
                serde_json::json!(paused.map(|(_, until)| when::iso8601(until)));
        }
        if let Some(pulled) = &pulled {
            out["fleet_version"] = serde_json::json!(pulled.version);
            out["fleet_last_step"] = serde_json::json!(pulled.claims.last_step);
        }
        println!("{out}");
    } else {
        let totp = &record.totp;
        let (algorithm, digits) = (totp.algorithm.to_string(), totp.digits.to_string());
        let period = totp.period.to_string();
        println!(
            "{}",
            t.fill(
                "cli.status_enrolled",
                &[
                    u,
                    ("algorithm", &algorithm),
                    ("digits", &digits),
                    ("period", &period)
                ]
            )
        );
        let (left, total) = (unused.to_string(), recovery.len().to_string());
        println!(
            "{}",
            t.fill("cli.status_recovery", &[("left", &left), ("total", &total)])
        );
        let failures = state.failures.to_string();
        println!("{}", t.fill("cli.status_failures", &[("n", &failures)]));
        if let Some(phone) = super::phone::shown(&record) {
            println!("{}", t.fill("cli.status_phone", &[("phone", &phone)]));
        }
        if let Some(method) = record.default_method {
            println!(
                "{}",
                t.fill("cli.status_default_method", &[("method", method.as_str())])
            );
        }
        if locked {
            let until = when::human(state.locked_until);
            let left = t.duration(state.locked_until - now);
            println!(
                "{}",
                t.fill(
                    "cli.status_locked",
                    &[u, ("until", &until), ("left", &left)]
                )
            );
        }
        if state.last_success > 0 {
            let time = when::human(state.last_success);
            println!("{}", t.fill("cli.status_last", &[("time", &time)]));
        }
        if let Some(pass) = store
            .load_pass(user)
            .map_err(|e| e.to_string())?
            .filter(|p| !p.spent(now))
        {
            let until = when::human(pass.expires);
            let uses = match pass.once {
                true => t.get("cli.pass_once"),
                false => t.get("cli.pass_until_expiry"),
            };
            println!(
                "{}",
                t.fill("cli.status_pass", &[("until", &until), ("uses", uses)])
            );
        }
        if let Some(language) = &record.language {
            println!(
                "{}",
                t.fill("cli.status_language", &[("language", language)])
            );
        }
        if !record.devices.is_empty() {
            let active = record.active_devices().count().to_string();
            println!("{}", t.fill("cli.status_devices", &[("n", &active)]));
            super::push::print_devices(&record.devices, t);
        }
        if let Some((_, until)) = paused {
            // The same two cases as `paused`, in the reader's language (JSON keeps its words).
            let why = match state.push_suspended_until > now {
                true => t.get("cli.paused_reported"),
                false => t.get("cli.paused_backoff"),
            };
            let until = when::human(until);
            println!(
                "{}",
                t.fill("cli.status_paused", &[u, ("until", &until), ("why", why)])
            );
        }
        if let Some(pulled) = &pulled {
            println!("  {}", super::fleet::claims_line(&t, pulled));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn list(config: &Config, json: bool, clock: &dyn Clock) -> CliResult {
    if let Some(fleet) = Fleet::open(config)? {
        return list_fleet(&fleet, json, clock);
    }
    let store = match UserStore::open(&config.state_dir) {
        Ok(store) => Some(store),
        Err(twofold_core::store::StoreError::File(e)) if e.is_not_found() => None,
        Err(e) => return Err(e.to_string()),
    };
    let users = match &store {
        Some(store) => store.list_users().map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    if json {
        let names: Vec<&str> = users.iter().map(UserName::as_str).collect();
        println!("{}", serde_json::json!(names));
        return Ok(ExitCode::SUCCESS);
    }
    let t = super::language::texts(config);
    let Some(store) = store.filter(|_| !users.is_empty()) else {
        println!("{}", t.get("cli.list_none"));
        return Ok(ExitCode::SUCCESS);
    };
    let now = clock.now();
    // The methods column keeps its words (app, push, recovery): they are names, as in --json.
    let mut rows = vec![[
        t.get("cli.list_user").to_string(),
        t.get("cli.list_methods").to_string(),
        t.get("cli.list_last").to_string(),
        t.get("cli.list_locked").to_string(),
    ]];
    for user in &users {
        let record = store.load_record(user).map_err(|e| e.to_string())?;
        let state = store.peek_state(user).map_err(|e| e.to_string())?;
        let mut methods = vec!["app"];
        if record
            .as_ref()
            .is_some_and(|r| r.active_devices().next().is_some())
        {
            methods.push("push");
        }
        if record.as_ref().is_some_and(|r| r.phone_number().is_some()) {
            methods.push("sms");
        }
        let recovery = store.load_recovery(user).map_err(|e| e.to_string())?;
        if recovery
            .iter()
            .any(|r| !state.used_recovery.contains(&r.id))
        {
            methods.push("recovery");
        }
        let last = match state.last_success {
            0 => t.get("cli.list_never").to_string(),
            time => when::human(time),
        };
        let locked = if ratelimit::is_locked(&state, now) {
            let until = when::human(state.locked_until);
            t.fill("cli.list_locked_until", &[("time", &until)])
        } else if let Some((_, until)) = twofold_core::signin::push::dialogue::paused(&state, now) {
            let until = when::human(until);
            t.fill("cli.list_paused_until", &[("time", &until)])
        } else {
            t.get("cli.list_not_locked").to_string()
        };
        rows.push([user.to_string(), methods.join(","), last, locked]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

/// `twofold list` in fleet mode: every user the service keeps a record of.
fn list_fleet(fleet: &Fleet, json: bool, clock: &dyn Clock) -> CliResult {
    let mut users = fleet.service.list().map_err(|e| format!("fleet: {e}"))?;
    // A reset user's current version is a sealed deletion: not enrolled.
    users.retain(|u| !u.deleted);
    if json {
        let names: Vec<&str> = users.iter().map(|u| u.user.as_str()).collect();
        println!("{}", serde_json::json!(names));
        return Ok(ExitCode::SUCCESS);
    }
    let t = fleet.t;
    if users.is_empty() {
        println!("{}", t.get("fleet_cli.list_none"));
        return Ok(ExitCode::SUCCESS);
    }
    let now = clock.now();
    println!("{}", t.get("fleet_cli.list_header"));
    for u in users {
        let locked = if u.locked_until > now {
            let until = when::human(u.locked_until);
            t.fill("cli.list_locked_until", &[("time", &until)])
        } else {
            t.get("cli.list_not_locked").to_string()
        };
        let updated = when::human(u.updated_at);
        println!(
            "{}  {}  {updated}  {}  {locked}",
            u.user, u.version, u.failures
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn reset(config: &Config, user: &UserName) -> CliResult {
    let store = open_store(config)?;
    if let Some(fleet) = Fleet::open(config)? {
        return match host::delete(&fleet.service, &fleet.keys, &store, user) {
            Ok(true) => {
                let done = fleet
                    .t
                    .fill("fleet_cli.reset_done", &[("user", user.as_str())]);
                println!("{done}");
                Ok(ExitCode::SUCCESS)
            }
            Ok(false) => Err(fleet.t.fill("cli.not_enrolled", &[("user", user.as_str())])),
            Err(e) => Err(format!("fleet: {e}")),
        };
    }
    let lock = store.lock(user).map_err(|e| e.to_string())?;
    let t = super::language::texts(config);
    if store.remove_user(user, &lock).map_err(|e| e.to_string())? {
        println!("{}", t.fill("cli.reset_done", &[("user", user.as_str())]));
        Ok(ExitCode::SUCCESS)
    } else {
        Err(t.fill("cli.not_enrolled", &[("user", user.as_str())]))
    }
}

pub fn unlock(config: &Config, user: &UserName) -> CliResult {
    let t = super::language::texts(config);
    let u = ("user", user.as_str());
    let store = open_store(config)?;
    if let Some(fleet) = Fleet::open(config)? {
        fleet.pull(&store, user)?;
        fleet
            .service
            .unlock(user)
            .map_err(|e| format!("fleet: {e}"))?;
    }
    if store
        .load_record(user)
        .map_err(|e| e.to_string())?
        .is_none()
    {
        return Err(t.fill("cli.not_enrolled", &[u]));
    }
    let lock = store.lock(user).map_err(|e| e.to_string())?;
    let mut state = store.load_state(user, &lock).map_err(|e| e.to_string())?;
    ratelimit::unlock(&mut state);
    let resumed = twofold_core::signin::push::dialogue::resume(&mut state);
    store
        .save_state(user, &lock, &state)
        .map_err(|e| e.to_string())?;
    let key = match resumed {
        true => "cli.unlocked_push_resumed",
        false => "cli.unlocked",
    };
    println!("{}", t.fill(key, &[u]));
    Ok(ExitCode::SUCCESS)
}

pub fn recovery_codes(config: &Config, user: &UserName, json: bool) -> CliResult {
    let t = super::language::texts(config);
    let u = ("user", user.as_str());
    let store = open_store(config)?;
    let fleet = Fleet::open(config)?;
    if let Some(fleet) = &fleet {
        fleet.pull(&store, user)?;
    }
    let lock = store.lock(user).map_err(|e| e.to_string())?;
    let Some(before) = store.load_record(user).map_err(|e| e.to_string())? else {
        return Err(t.fill("cli.not_enrolled", &[u]));
    };
    let (codes, hashes) = recovery::generate(config.recovery.count).map_err(|e| e.to_string())?;
    // Shown before they replace the old ones, marked as not yet in force: if the output is
    // lost, nothing changes; if saving fails, the message says the old ones still work.
    let shown = if json {
        let list: Vec<&str> = codes.iter().map(|c| c.expose()).collect();
        format!(
            "{}\n",
            serde_json::json!({ "user": user.as_str(), "recovery_codes": list })
        )
    } else {
        format!(
            "{}\n{}",
            t.fill("cli.recovery_new", &[u]),
            recovery_codes_text(&codes, t)
        )
    };
    write_stdout(&shown).map_err(|e| {
        format!(
            "cannot show the new recovery codes ({e}); nothing was saved, the old ones still work"
        )
    })?;
    // One rename replaces the record with the new hashes inside: old codes or new, never both
    // or neither.
    match store.renew_recovery(user, &lock, &hashes) {
        Ok(true) => {}
        Ok(false) => return Err(format!("{user} is no longer enrolled; nothing was saved")),
        Err(e) => {
            let in_force = match store.load_record(user) {
                Ok(Some(r)) if r.recovery.as_deref() == Some(&hashes[..]) => {
                    "the NEW recovery codes above are in force (the disk did not confirm the write; check it)"
                }
                Ok(Some(r)) if r.id == before.id && r.recovery == before.recovery => {
                    "the OLD recovery codes are still in force; the codes above do NOT work"
                }
                _ => {
                    "it cannot be told which recovery codes are in force; run `twofold status` once the disk is fixed"
                }
            };
            return Err(format!("saving failed ({e}): {in_force}"));
        }
    }
    drop(lock);
    if let Some(fleet) = &fleet {
        fleet.publish_cached(&store, user).map_err(|e| {
            format!("{e}: the OLD recovery codes are still in force; the codes above do NOT work")
        })?;
    }
    if !json {
        println!("{}", t.fill("cli.recovery_saved", &[u]));
    }
    Ok(ExitCode::SUCCESS)
}
