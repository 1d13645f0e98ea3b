//! `twofold phone USER set NUMBER [--verified]`, `twofold phone USER remove` and
//! `twofold default-method USER push|app|sms`.
#![forbid(unsafe_code)]

use super::{CliResult, open_store, terminal};
use clap::Subcommand;
use std::process::ExitCode;
use twofold_core::clock::Clock;
use twofold_core::config::Config;
use twofold_core::messages::Texts;
use twofold_core::signin::choice::Choice;
use twofold_core::sms::PhoneNumber;
use twofold_core::sms::deliver;
use twofold_core::store::UserRecord;
use twofold_core::store::record::Phone;
use twofold_core::username::UserName;

/// What to do with the number.
#[derive(Subcommand, Debug)]
pub enum PhoneAction {
    /// Set the number: a code is sent to it and must be typed back here (ask the user for
    /// it); with --verified no code is sent, you vouch for the number.
    Set {
        /// E.164 (+31612345678) or, with [sms] default_country, as people write it (06 12345678).
        number: String,
        /// You have checked the number yourself: save it without sending a code.
        #[arg(long)]
        verified: bool,
    },
    /// Remove the number: no more text-message codes for USER.
    Remove,
}

pub fn phone(
    config: &Config,
    user: &UserName,
    action: PhoneAction,
    clock: &dyn Clock,
) -> CliResult {
    let store = open_store(config)?;
    let fleet = super::fleet::before_change(config, &store, user)?;
    let record = enrolled(&store, user)?;
    match action {
        PhoneAction::Remove => {
            store
                .update_record(user, |r| {
                    r.phone = None;
                    if r.default_method == Some(Choice::Sms) {
                        r.default_method = None;
                    }
                })
                .map_err(|e| e.to_string())?;
            super::fleet::after_change(&fleet, &store, user)?;
            let t = super::language::texts(config);
            println!(
                "{}",
                t.fill("cli.phone_removed", &[("user", user.as_str())])
            );
        }
        PhoneAction::Set { number, verified } => {
            let phone = PhoneNumber::parse(&number, config.sms.default_country.as_deref())
                .map_err(|e| format!("{number:?}: {e}"))?;
            if !verified {
                if !config.sms.enabled() {
                    return Err("no [sms] gateway is configured to send the code; pass \
                                --verified to vouch for the number yourself"
                        .into());
                }
                confirm(&store, user, &record, config, &phone, clock)?;
            }
            let by = if verified { "admin" } else { "code" };
            store
                .update_record(user, |r| {
                    r.phone = Some(Phone {
                        number: phone.e164(),
                        verified: clock.now(),
                        verified_by: by.into(),
                    });
                })
                .map_err(|e| e.to_string())?;
            super::fleet::after_change(&fleet, &store, user)?;
            let t = super::language::texts(config);
            let values = [
                ("user", user.as_str()),
                ("phone", &phone.masked()),
                ("by", by),
            ];
            println!("{}", t.fill("cli.phone_saved", &values));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends a code to the number and reads it back from stdin (up to three tries).
fn confirm(
    store: &twofold_core::store::UserStore,
    user: &UserName,
    record: &UserRecord,
    config: &Config,
    phone: &PhoneNumber,
    clock: &dyn Clock,
) -> Result<(), String> {
    // The text goes out in the user's language; the prompt here is the administrator's.
    let theirs = record
        .language
        .as_deref()
        .map_or_else(|| super::language::texts(config), Texts::for_language);
    let t = super::language::texts(config);
    deliver::send_code(store, user, record, config, phone, clock.now(), theirs)
        .map_err(|e| format!("the code was not sent: {e}"))?;
    for _ in 0..3 {
        let prompt = t.fill(
            "cli.phone_code_prompt",
            &[("phone", &phone.masked()), ("user", user.as_str())],
        );
        let Some(typed) = terminal::ask(&prompt) else {
            return Err("no code typed; nothing saved".into());
        };
        if deliver::confirm_code(store, user, record, config, &typed, clock.now())
            .map_err(|e| e.to_string())?
        {
            return Ok(());
        }
        eprintln!("{}", t.get("cli.phone_wrong_code"));
    }
    Err("wrong code three times; nothing saved".into())
}

pub fn default_method(config: &Config, user: &UserName, method: &str) -> CliResult {
    let choice =
        Choice::parse(method).ok_or_else(|| format!("{method:?}: must be push, app or sms"))?;
    let store = open_store(config)?;
    let fleet = super::fleet::before_change(config, &store, user)?;
    let record = enrolled(&store, user)?;
    match choice {
        Choice::Sms if record.phone_number().is_none() => {
            return Err(format!(
                "{user} has no phone number (`twofold phone {user} set NUMBER` first)"
            ));
        }
        Choice::Push if record.active_devices().next().is_none() => {
            return Err(format!("{user} has no paired phone for push"));
        }
        _ => {}
    }
    store
        .update_record(user, |r| r.default_method = Some(choice))
        .map_err(|e| e.to_string())?;
    super::fleet::after_change(&fleet, &store, user)?;
    let t = super::language::texts(config);
    let values = [("user", user.as_str()), ("method", choice.as_str())];
    println!("{}", t.fill("cli.default_method_set", &values));
    Ok(ExitCode::SUCCESS)
}

fn enrolled(store: &twofold_core::store::UserStore, user: &UserName) -> Result<UserRecord, String> {
    store
        .load_record(user)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{user}: not enrolled (`twofold enroll {user}` first)"))
}

/// The number as `twofold status` shows it: whole for root, masked for anyone else.
pub fn shown(record: &UserRecord) -> Option<String> {
    let phone = record.phone_number()?;
    Some(if rustix::process::geteuid().is_root() {
        phone.e164()
    } else {
        phone.masked()
    })
}
