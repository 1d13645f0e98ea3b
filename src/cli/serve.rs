//! `twofold serve`: the arguments, and the configuration the approval service (the
//! twofold-serve package, src/serve) gets.
#![forbid(unsafe_code)]

use super::{CliResult, config_path};
use clap::Args;
use std::path::{Path, PathBuf};
use twofold_core::config::Config;
use twofold_core::store::file::Policy;
use twofold_serve::ServeAction;

/// Arguments of `twofold serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Register a host: prints its token once (the service keeps only its SHA-256).
    #[arg(long, value_name = "NAME", conflicts_with = "remove_host")]
    add_host: Option<String>,
    /// Remove a host: its token stops working and its devices are forgotten.
    #[arg(long, value_name = "NAME")]
    remove_host: Option<String>,
}

pub fn run(explicit: &Option<PathBuf>, args: ServeArgs) -> CliResult {
    let path = config_path(explicit);
    let config = load(&path, explicit.is_some())?;
    let serve = config.serve_config(&path).map_err(join)?;
    let adding = args.add_host.is_some();
    let action = match (args.add_host, args.remove_host) {
        (Some(name), _) => ServeAction::AddHost(name),
        (None, Some(name)) => ServeAction::RemoveHost(name),
        (None, None) => ServeAction::Run,
    };
    let code = twofold_serve::command(&serve, action)?;
    // The service prints the default place; this file may name another one for its own host.
    let configured = &config.push.host_token_file;
    if adding && configured.as_path() != Path::new(twofold_core::config::DEFAULT_TOKEN_FILE) {
        println!();
        println!(
            "Note: on this machine [push] host_token_file is {}: store it there instead.",
            configured.display()
        );
    }
    Ok(code)
}

/// The service runs as its own user but reads root's configuration file: accept a file owned
/// by root or by the running user, never writable by others.
fn load(path: &Path, explicit: bool) -> Result<Config, String> {
    match Config::load(path, explicit) {
        Ok(config) => Ok(config),
        Err(errors) if !rustix::process::geteuid().is_root() => {
            let root_owned = Policy {
                owner: 0,
                forbidden_mode: 0o022,
            };
            Config::load_with_policy(path, explicit, root_owned).map_err(|_| join(errors))
        }
        Err(errors) => Err(join(errors)),
    }
}

fn join(errors: Vec<twofold_core::config::ConfigError>) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
