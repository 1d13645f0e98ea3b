//! `twofold serve`: run the approval service, or add and remove the hosts allowed to use it.
#![forbid(unsafe_code)]

use super::{CliResult, config_path};
use crate::config::Config;
use crate::serve;
use crate::store::file::Policy;
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
    let config = load(&config_path(explicit), explicit.is_some())?;
    let serve = &config.serve;
    if let Some(name) = args.add_host {
        let token = serve::add_host(serve, &name).map_err(|e| e.to_string())?;
        print_token(&name, &token);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(name) = args.remove_host {
        return if serve::remove_host(serve, &name).map_err(|e| e.to_string())? {
            println!(
                "Host {name:?} removed: its token no longer works, its devices are forgotten."
            );
            Ok(ExitCode::SUCCESS)
        } else {
            Err(format!("no host named {name:?}"))
        };
    }
    serve::run(serve).map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

fn print_token(name: &str, token: &str) {
    println!("Host {name:?} added. Its token, shown only this once:");
    println!();
    println!("  {token}");
    println!();
    println!("On {name}, as root, store it where the PAM module reads it (root, mode 0600):");
    println!();
    println!("  (umask 077; printf '%s\\n' '{token}' > /etc/twofold/host-token)");
    println!();
    println!("Lost it? `twofold serve --remove-host {name}` and add the host again.");
}

/// The service runs as its own user but reads root's configuration file: accept a file owned
/// by root or by the running user, never writable by others.
fn load(path: &Path, explicit: bool) -> Result<Config, String> {
    let as_me = Config::load(path, explicit);
    let config = match as_me {
        Ok(config) => Ok(config),
        Err(errors) if !rustix::process::geteuid().is_root() => {
            let root_owned = Policy {
                owner: 0,
                forbidden_mode: 0o022,
            };
            Config::load_with_policy(path, explicit, root_owned).map_err(|_| errors)
        }
        Err(errors) => Err(errors),
    };
    config.map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })
}
