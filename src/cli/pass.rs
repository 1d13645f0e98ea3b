//! `twofold pass USER [--hours N] [--once]`: a temporary access pass, shown once, so the user
//! can enroll (again, after losing the phone) without a second factor.
#![forbid(unsafe_code)]

use super::enroll::write_stdout;
use super::{CliResult, open_store};
use std::process::ExitCode;
use twofold_core::audit::{AuditSink, Line, Severity};
use twofold_core::clock::Clock;
use twofold_core::config::Config;
use twofold_core::factor::pass::{self, MAX_HOURS};
use twofold_core::when;

#[derive(clap::Args, Debug)]
pub struct PassArgs {
    /// The account name, as PAM sees it.
    user: String,
    /// Hours the pass is valid (1 to 720).
    #[arg(long, default_value_t = pass::DEFAULT_HOURS, value_name = "N")]
    hours: u32,
    /// Good for one sign-in only.
    #[arg(long)]
    once: bool,
    /// Withdraw USER's pass instead.
    #[arg(long, conflicts_with_all = ["hours", "once"])]
    revoke: bool,
}

pub fn run(config: &Config, args: PassArgs, clock: &dyn Clock) -> CliResult {
    let t = super::language::texts(config);
    let user = super::user_name(&args.user)?;
    if !(1..=MAX_HOURS).contains(&args.hours) {
        return Err(t.fill(
            "cli.pass_hours",
            &[
                ("max", &MAX_HOURS.to_string()),
                ("hours", &args.hours.to_string()),
            ],
        ));
    }
    let store = open_store(config)?;
    // A typo ("alcie") would otherwise make a pass nobody can use: enrollment at sign-in is
    // only for accounts the system knows.
    let enrolled = store
        .load_record(&user)
        .map_err(|e| e.to_string())?
        .is_some();
    if !args.revoke && !enrolled && !twofold_core::signin::policy::account_exists(user.as_str()) {
        return Err(t.fill("cli.pass_no_account", &[("user", user.as_str())]));
    }
    let lock = store.lock(&user).map_err(|e| e.to_string())?;
    if args.revoke {
        let had = store.remove_pass(&user, &lock).map_err(|e| e.to_string())?;
        drop(lock);
        let u = ("user", user.as_str());
        if !had {
            return Err(t.fill("cli.pass_none", &[u]));
        }
        let line = Line::new("pass")
            .kv("user", user.as_str())
            .kv("result", "revoked")
            .finish();
        AuditSink::from_config(&config.audit_log).write(Severity::Notice, &line);
        println!("{}", t.fill("cli.pass_revoked", &[u]));
        return Ok(ExitCode::SUCCESS);
    }
    let now = clock.now();
    let (shown, stored) = pass::issue(now, args.hours, args.once).map_err(|e| e.to_string())?;
    // Saved before it is shown: a pass on the screen works. One per user: a new one replaces
    // an earlier one.
    store
        .save_pass(&user, &lock, &stored)
        .map_err(|e| e.to_string())?;
    drop(lock);
    let until = when::human(stored.expires);
    let uses = match args.once {
        true => t.get("cli.pass_once"),
        false => t.get("cli.pass_until_expiry"),
    };
    let text = format!(
        "{}\n\n    {}\n\n{}\n",
        t.fill(
            "cli.pass_issued",
            &[("user", user.as_str()), ("until", &until), ("uses", uses)]
        ),
        shown.expose(),
        twofold_core::messages::wrap(&t.fill("cli.pass_how", &[("user", user.as_str())])),
    );
    let line = Line::new("pass")
        .kv("user", user.as_str())
        .kv("result", "issued")
        .kv("once", if args.once { "yes" } else { "no" })
        .kv("expires", &when::iso8601(stored.expires))
        .finish();
    AuditSink::from_config(&config.audit_log).write(Severity::Notice, &line);
    write_stdout(&text).map_err(|e| t.fill("cli.pass_not_shown", &[("error", &e.to_string())]))?;
    Ok(ExitCode::SUCCESS)
}
