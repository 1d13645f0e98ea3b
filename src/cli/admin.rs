//! Administration: status, list, reset, unlock, recovery-codes, check-config.
#![forbid(unsafe_code)]

use super::enroll::{recovery_codes_text, write_stdout};
use super::{CliResult, open_store};
use std::path::Path;
use std::process::ExitCode;
use twofold_core::clock::Clock;
use twofold_core::config::Config;
use twofold_core::factor::recovery;
use twofold_core::signin::ratelimit;
use twofold_core::store::UserStore;
use twofold_core::store::file::{Dir, Policy};
use twofold_core::username::UserName;

pub fn status(config: &Config, user: &UserName, json: bool, clock: &dyn Clock) -> CliResult {
    let store = open_store(config)?;
    let Some(record) = store.load_record(user).map_err(|e| e.to_string())? else {
        if json {
            println!(
                "{}",
                serde_json::json!({ "user": user.as_str(), "enrolled": false })
            );
        } else {
            println!("{user}: not enrolled");
        }
        return Ok(ExitCode::from(3));
    };
    let lock = store.lock(user).map_err(|e| e.to_string())?;
    let state = store
        .load_state_for(user, &lock, Some(&record))
        .map_err(|e| e.to_string())?;
    drop(lock);
    let now = clock.now();
    let recovery = store
        .recovery_of(user, &record)
        .map_err(|e| e.to_string())?;
    let unused = recovery
        .iter()
        .filter(|r| !state.used_recovery.contains(&r.id))
        .count();
    let locked = ratelimit::is_locked(&state, now);
    if json {
        let mut out = serde_json::json!({
            "user": user.as_str(),
            "enrolled": true,
            "created": record.created,
            "algorithm": record.totp.algorithm.to_string(),
            "digits": record.totp.digits,
            "period": record.totp.period,
            "recovery_codes_left": unused,
            "failures": state.failures,
            "locked": locked,
            "locked_until": state.locked_until,
            "last_success": state.last_success,
        });
        // Push fields only for users with devices: older consumers see what they always saw.
        if !record.devices.is_empty() {
            out["devices"] = serde_json::json!(record.devices);
            out["push_paused"] =
                serde_json::json!(twofold_core::signin::push::dialogue::paused(&state, now));
        }
        println!("{out}");
    } else {
        println!(
            "{user}: enrolled (TOTP, {}, {} digits, {} s)",
            record.totp.algorithm, record.totp.digits, record.totp.period
        );
        println!("  recovery codes left: {unused} of {}", recovery.len());
        println!("  consecutive failures: {}", state.failures);
        if locked {
            println!(
                "  LOCKED for {} more seconds (`twofold unlock {user}` ends it)",
                state.locked_until - now
            );
        }
        if state.last_success > 0 {
            println!(
                "  last successful second factor: {} (unix time)",
                state.last_success
            );
        }
        if !record.devices.is_empty() {
            let active = record.active_devices().count();
            println!("  push devices: {active} active");
            super::push::print_devices(&record.devices);
            if let Some(why) = twofold_core::signin::push::dialogue::paused(&state, now) {
                println!("  push paused: {why}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn list(config: &Config, json: bool) -> CliResult {
    let users = match UserStore::open(&config.state_dir) {
        Ok(store) => store.list_users().map_err(|e| e.to_string())?,
        Err(twofold_core::store::StoreError::File(e)) if e.is_not_found() => Vec::new(),
        Err(e) => return Err(e.to_string()),
    };
    if json {
        let names: Vec<&str> = users.iter().map(UserName::as_str).collect();
        println!("{}", serde_json::json!(names));
    } else {
        for user in &users {
            println!("{user}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn reset(config: &Config, user: &UserName) -> CliResult {
    let store = open_store(config)?;
    let lock = store.lock(user).map_err(|e| e.to_string())?;
    if store.remove_user(user, &lock).map_err(|e| e.to_string())? {
        println!("✓ {user}: enrollment removed; they must enroll again.");
        Ok(ExitCode::SUCCESS)
    } else {
        Err(format!("{user} is not enrolled"))
    }
}

pub fn unlock(config: &Config, user: &UserName) -> CliResult {
    let store = open_store(config)?;
    if store
        .load_record(user)
        .map_err(|e| e.to_string())?
        .is_none()
    {
        return Err(format!("{user} is not enrolled"));
    }
    let lock = store.lock(user).map_err(|e| e.to_string())?;
    let mut state = store.load_state(user, &lock).map_err(|e| e.to_string())?;
    ratelimit::unlock(&mut state);
    store
        .save_state(user, &lock, &state)
        .map_err(|e| e.to_string())?;
    println!("✓ {user}: unlocked, failure count cleared.");
    Ok(ExitCode::SUCCESS)
}

pub fn recovery_codes(config: &Config, user: &UserName, json: bool) -> CliResult {
    let store = open_store(config)?;
    let lock = store.lock(user).map_err(|e| e.to_string())?;
    let Some(before) = store.load_record(user).map_err(|e| e.to_string())? else {
        return Err(format!("{user} is not enrolled"));
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
            "New recovery codes for {user} (not in force until saved, below):\n{}",
            recovery_codes_text(&codes)
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
    if !json {
        println!("✓ Saved: {user}'s new recovery codes are in force; the old ones no longer work.");
    }
    Ok(ExitCode::SUCCESS)
}

/// Validates the configuration and the state directory; non-zero exit on any problem.
pub fn check_config(path: &Path, explicit: bool) -> CliResult {
    let config = match Config::load(path, explicit) {
        Ok(config) => config,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    if !path.exists() {
        println!("{}: not present; built-in defaults apply", path.display());
    }
    if let Err(errors) = config.serve_config(path) {
        for e in &errors {
            eprintln!("{e}");
        }
        return Ok(ExitCode::FAILURE);
    }
    match Dir::open(&config.state_dir, Policy::secrets()) {
        Ok(_) => {}
        Err(e) if e.is_not_found() => {
            println!(
                "{}: state_dir: does not exist yet; `twofold enroll` creates it",
                path.display()
            );
        }
        Err(e) => {
            eprintln!("{}: state_dir: {e}", path.display());
            return Ok(ExitCode::FAILURE);
        }
    }
    let shared = twofold_core::store::placement::shares_file_system_with(
        &config.state_dir,
        &twofold_core::store::placement::USER_WRITABLE,
    );
    for place in shared {
        println!(
            "{}: state_dir: warning: on the same file system as {}, which unprivileged users can fill; a full disk refuses sign-ins (see README, \"When the disk is full or read-only\")",
            path.display(),
            place.display()
        );
    }
    if config.push.enabled()
        && let Err(e) = twofold_core::push::token::read_host_token(&config.push.host_token_file)
    {
        eprintln!("{}: push.host_token_file: {e}", path.display());
        return Ok(ExitCode::FAILURE);
    }
    println!("{}: OK", path.display());
    Ok(ExitCode::SUCCESS)
}
