//! Which language the command speaks, and `twofold language USER [LANG]`: the language a
//! user's prompts and messages are in.
#![forbid(unsafe_code)]

use super::{CliResult, open_store};
use std::process::ExitCode;
use twofold_core::config::Config;
use twofold_core::messages::{self, Texts};
use twofold_core::username::UserName;

/// The command's texts: the language of the environment (LC_ALL, LC_MESSAGES, LANG) if there
/// is a catalogue for it, else the configuration's `language`.
pub fn texts(config: &Config) -> Texts {
    let chosen = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|value| !value.is_empty());
    match chosen {
        Some(value) if messages::is_known(&value) => Texts::for_language(&value),
        _ => Texts::for_language(&config.language),
    }
}

/// Shows USER's language, or sets it ("default" goes back to the configuration's).
pub fn run(config: &Config, user: &UserName, language: Option<String>) -> CliResult {
    let t = texts(config);
    let store = open_store(config)?;
    let fleet = super::fleet::before_change(config, &store, user)?;
    let lock = store.lock(user).map_err(|e| e.to_string())?;
    let Some(mut record) = store.load_record(user).map_err(|e| e.to_string())? else {
        return Err(t.fill("cli.not_enrolled", &[("user", user.as_str())]));
    };
    let Some(language) = language else {
        let (code, whence) = match &record.language {
            Some(code) => (code.clone(), t.get("cli.language_own")),
            None => (config.language.clone(), t.get("cli.language_default")),
        };
        println!("{user}: {code} ({whence})");
        return Ok(ExitCode::SUCCESS);
    };
    let wanted = language.trim().to_ascii_lowercase();
    record.language = match wanted.as_str() {
        "default" => None,
        code if messages::is_known(code) => Some(Texts::for_language(code).language().to_string()),
        _ => {
            let known: Vec<&str> = messages::languages().collect();
            return Err(t.fill(
                "cli.language_unknown",
                &[("language", &language), ("known", &known.join(", "))],
            ));
        }
    };
    store
        .save_record(user, &lock, &record)
        .map_err(|e| e.to_string())?;
    drop(lock);
    super::fleet::after_change(&fleet, &store, user)?;
    let shown = record.language.as_deref().unwrap_or(&config.language);
    println!(
        "{}",
        t.fill(
            "cli.language_set",
            &[("user", user.as_str()), ("language", shown)]
        )
    );
    Ok(ExitCode::SUCCESS)
}
