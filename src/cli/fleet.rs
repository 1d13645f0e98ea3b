//! `twofold fleet init|join|status`, and the fleet side of the other commands: in fleet mode
//! each one first brings the user's cached record up to date from the service, and a command
//! that changes the record uploads it (compare-and-swap on its version) before it counts.
#![forbid(unsafe_code)]

use super::CliResult;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use twofold_core::config::Config;
use twofold_core::fleet::host::{self, Pulled};
use twofold_core::fleet::key::FleetKey;
use twofold_core::fleet::service::{Claims, FleetService};
use twofold_core::messages::Texts;
use twofold_core::secret::SecretString;
use twofold_core::store::{UserRecord, UserStore};
use twofold_core::username::UserName;

#[derive(clap::Subcommand, Debug)]
pub enum FleetCommand {
    /// Make the fleet key (once per fleet): written 0600, never over an existing file.
    Init {
        /// Where to write it [default: [fleet] key_file, /etc/twofold/fleet-key].
        #[arg(long, value_name = "PATH")]
        key_file: Option<PathBuf>,
    },
    /// Join this host to a fleet: install the host token and the fleet key (0600), check the
    /// service accepts them, and print the [fleet] section to add to the configuration.
    Join {
        /// The fleet's service (more URLs for failover go into [fleet] urls).
        url: String,
        /// The host token from `twofold serve --add-host NAME` on the service.
        #[arg(long, value_name = "FILE")]
        token_file: PathBuf,
        /// The fleet key from `twofold fleet init`.
        #[arg(long, value_name = "FILE")]
        key_file: PathBuf,
    },
    /// The fleet key's id, which service URLs answer, and every user's record version.
    Status,
    /// After a key rotation (the new key first in the key file, the old one after it, on every
    /// host): seal every record the old key sealed with the new one, as its next version.
    Reseal,
}

/// The fleet as a command reaches it.
pub struct Fleet {
    pub service: FleetService,
    pub keys: Vec<FleetKey>,
    /// The command's texts (its messages on the fleet).
    pub t: Texts,
}

impl Fleet {
    /// The fleet of `config`, or `None` on a single host.
    pub fn open(config: &Config) -> Result<Option<Fleet>, String> {
        if !config.fleet.enabled() {
            return Ok(None);
        }
        let keys = host::read_keys(&config.fleet.key_file).map_err(|e| e.to_string())?;
        let service = FleetService::for_host(config).map_err(|e| e.to_string())?;
        Ok(Some(Fleet {
            service,
            keys,
            t: super::language::texts(config),
        }))
    }

    /// Brings `user`'s cached record up to date.
    pub fn pull(&self, store: &UserStore, user: &UserName) -> Result<Pulled, String> {
        host::pull(&self.service, &self.keys, store, user).map_err(|e| format!("fleet: {e}"))
    }

    /// Uploads `record` as the next version after the one verified here, then caches it.
    pub fn publish(
        &self,
        store: &UserStore,
        user: &UserName,
        record: &UserRecord,
    ) -> Result<u64, String> {
        let lock = store.lock(user).map_err(|e| e.to_string())?;
        let seen = host::seen_version(store, user).map_err(|e| e.to_string())?;
        host::publish(&self.service, &self.keys, store, user, &lock, record, seen)
            .map_err(|e| format!("fleet: {e}"))
    }

    /// Uploads the record as changed in the cache; on failure the cache is brought back to
    /// the service's record, and the message says so.
    pub fn publish_cached(&self, store: &UserStore, user: &UserName) -> Result<u64, String> {
        let record = store
            .load_record(user)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                self.t
                    .fill("fleet_cli.not_enrolled", &[("user", user.as_str())])
            })?;
        self.publish(store, user, &record).map_err(|e| {
            let _ = self.pull(store, user);
            self.t.fill("fleet_cli.change_undone", &[("error", &e)])
        })
    }
}

/// For a command that changes a user's record: in fleet mode, the record brought up to date
/// first (the change applies to the fleet's version), and the fleet to publish to afterwards.
pub fn before_change(
    config: &Config,
    store: &UserStore,
    user: &UserName,
) -> Result<Option<Fleet>, String> {
    let fleet = Fleet::open(config)?;
    if let Some(fleet) = &fleet {
        fleet.pull(store, user)?;
    }
    Ok(fleet)
}

/// After a command changed a user's record: in fleet mode, the change published (or undone
/// here when the service refuses it).
pub fn after_change(
    fleet: &Option<Fleet>,
    store: &UserStore,
    user: &UserName,
) -> Result<(), String> {
    match fleet {
        Some(fleet) => fleet.publish_cached(store, user).map(|_| ()),
        None => Ok(()),
    }
}

pub fn run(config: &Config, command: FleetCommand) -> CliResult {
    let t = super::language::texts(config);
    match command {
        FleetCommand::Init { key_file } => {
            init(&t, &key_file.unwrap_or(config.fleet.key_file.clone()))
        }
        FleetCommand::Join {
            url,
            token_file,
            key_file,
        } => join(config, &t, &url, &token_file, &key_file),
        FleetCommand::Status => status(config, &t),
        FleetCommand::Reseal => reseal(config, &t),
    }
}

/// Writes `contents` to a new file (0600); an existing file is left alone.
fn write_new(t: &Texts, path: &Path, contents: &[u8]) -> Result<(), String> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                let path = path.display().to_string();
                t.fill("fleet_cli.exists", &[("path", &path)])
            }
            _ => format!("{}: {e}", path.display()),
        })?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn init(t: &Texts, path: &Path) -> CliResult {
    let key = FleetKey::generate().map_err(|e| e.to_string())?;
    write_new(t, path, key.to_text().as_bytes())?;
    let shown = path.display().to_string();
    println!(
        "{}",
        t.fill("fleet_cli.init_done", &[("id", key.id()), ("path", &shown)])
    );
    println!("{}", t.get("fleet_cli.init_next"));
    Ok(ExitCode::SUCCESS)
}

/// Installs `from` at `to` (0600): a file already there must hold the same text.
fn install(t: &Texts, from: &Path, to: &Path, what: &str) -> Result<SecretString, String> {
    let shown = to.display().to_string();
    let values = [("what", what), ("path", shown.as_str())];
    let text = SecretString::from_bytes(
        std::fs::read(from).map_err(|e| format!("{}: {e}", from.display()))?,
    );
    match std::fs::read(to).map(SecretString::from_bytes) {
        Ok(existing) if existing.expose().trim() == text.expose().trim() => {
            println!("{}", t.fill("fleet_cli.already_installed", &values));
        }
        Ok(_) => {
            return Err(t.fill("fleet_cli.holds_another", &values));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            write_new(t, to, format!("{}\n", text.expose().trim()).as_bytes())?;
            println!("{}", t.fill("fleet_cli.installed", &values));
        }
        Err(e) => return Err(format!("{}: {e}", to.display())),
    }
    Ok(text)
}

fn join(config: &Config, t: &Texts, url: &str, token_file: &Path, key_file: &Path) -> CliResult {
    twofold_core::config::check_url(url).map_err(|e| format!("{url}: {e}"))?;
    let key_text = SecretString::from_bytes(
        std::fs::read(key_file).map_err(|e| format!("{}: {e}", key_file.display()))?,
    );
    let first = key_text.expose().lines().find(|l| !l.trim().is_empty());
    FleetKey::parse(first.unwrap_or_default().trim())
        .map_err(|e| format!("{}: {e}", key_file.display()))?;
    println!("{}", t.fill("fleet_cli.joining", &[("url", url)]));
    let token = install(
        t,
        token_file,
        &config.push.host_token_file,
        t.get("fleet_cli.host_token"),
    )?;
    install(
        t,
        key_file,
        &config.fleet.key_file,
        t.get("fleet_cli.fleet_key"),
    )?;
    let keys = host::read_keys(&config.fleet.key_file).map_err(|e| e.to_string())?;
    let service = FleetService::new(
        &[url.to_string()],
        SecretString::new(token.expose().trim().to_string()),
        std::time::Duration::from_millis(config.push.connect_timeout_ms),
        config.push.ca_file.clone(),
    )
    .map_err(|e| e.to_string())?;
    let mut users = service.list().map_err(|e| format!("{url}: {e}"))?;
    users.retain(|u| !u.deleted);
    let n = users.len().to_string();
    println!(
        "{}",
        t.fill_count(
            "fleet_cli.join_answers",
            users.len() as u64,
            &[("n", &n), ("id", keys[0].id())]
        )
    );
    if config.fleet.urls.iter().any(|u| u == url) {
        println!("{}", t.get("fleet_cli.join_configured"));
    } else {
        println!(
            "{}\n\n[fleet]\nurls = [\"{url}\"]\nkey_file = \"{}\"\noffline = \"cached\"",
            t.get("fleet_cli.join_add"),
            config.fleet.key_file.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn status(config: &Config, t: &Texts) -> CliResult {
    let fleet = Fleet::open(config)?.ok_or(t.get("fleet_cli.not_in_fleet"))?;
    let ids: Vec<&str> = fleet.keys.iter().map(FleetKey::id).collect();
    println!(
        "{}",
        t.fill(
            "fleet_cli.status_key",
            &[("ids", &ids.join(", ")), ("first", ids[0])]
        )
    );
    let token = twofold_core::push::token::read_host_token(&config.push.host_token_file)
        .map_err(|e| e.to_string())?;
    let timeout = std::time::Duration::from_millis(config.push.connect_timeout_ms);
    let mut users = None;
    for url in &config.fleet.urls {
        let one = FleetService::new(
            std::slice::from_ref(url),
            token.clone(),
            timeout,
            config.push.ca_file.clone(),
        )
        .map_err(|e| e.to_string())?;
        match one.list() {
            Ok(mut list) => {
                list.retain(|u| !u.deleted);
                let n = list.len().to_string();
                println!(
                    "{}",
                    t.fill_count(
                        "fleet_cli.status_answers",
                        list.len() as u64,
                        &[("url", url), ("n", &n)]
                    )
                );
                users.get_or_insert(list);
            }
            Err(e) => println!("{url}: {e}"),
        }
    }
    let store = UserStore::create(&config.state_dir).map_err(|e| e.to_string())?;
    if let Ok(queue) = store.lock_queue() {
        let queued = queue.uses().map_err(|e| e.to_string())?.len();
        if queued > 0 {
            let n = queued.to_string();
            println!("{}", t.fill("fleet_cli.status_queued", &[("n", &n)]));
        }
    }
    let Some(users) = users else {
        return Err(t.get("fleet_cli.none_answered").into());
    };
    println!("\n{}", t.get("fleet_cli.status_header"));
    for u in users {
        let seen = UserName::parse(u.user.as_bytes())
            .ok()
            .and_then(|name| host::seen_version(&store, &name).ok())
            .unwrap_or(0);
        let locked = if u.locked_until
            > twofold_core::clock::Clock::now(&twofold_core::clock::SystemClock)
        {
            twofold_core::when::human(u.locked_until)
        } else {
            t.get("cli.list_not_locked").into()
        };
        println!(
            "{}  {}  {}  {}  {}  {}",
            u.user, u.version, seen, u.key_id, u.failures, locked
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn reseal(config: &Config, t: &Texts) -> CliResult {
    let fleet = Fleet::open(config)?.ok_or(t.get("fleet_cli.not_in_fleet"))?;
    let new = fleet.keys[0].id().to_string();
    let store = UserStore::create(&config.state_dir).map_err(|e| e.to_string())?;
    let users = fleet.service.list().map_err(|e| format!("fleet: {e}"))?;
    let (mut done, mut failed) = (0, 0);
    for listed in users.iter().filter(|u| u.key_id != new) {
        let result = UserName::parse(listed.user.as_bytes())
            .map_err(|e| e.to_string())
            .and_then(|user| match listed.deleted {
                true => host::reseal_deletion(&fleet.service, &fleet.keys, &store, &user)
                    .map_err(|e| format!("fleet: {e}")),
                false => {
                    fleet.pull(&store, &user)?;
                    fleet.publish_cached(&store, &user)
                }
            });
        match result {
            Ok(version) => {
                done += 1;
                let version = version.to_string();
                println!(
                    "{}",
                    t.fill(
                        "fleet_cli.resealed_user",
                        &[("user", &listed.user), ("version", &version), ("id", &new)]
                    )
                );
            }
            Err(e) => {
                failed += 1;
                eprintln!("twofold: {}: {e}", listed.user);
            }
        }
    }
    let (done_n, failed_n) = (done.to_string(), failed.to_string());
    println!(
        "{}",
        t.fill_count(
            "fleet_cli.resealed",
            done,
            &[("done", &done_n), ("id", &new), ("failed", &failed_n)]
        )
    );
    if failed > 0 {
        return Err(t.get("fleet_cli.reseal_again").into());
    }
    Ok(ExitCode::SUCCESS)
}

/// One line on the fleet-wide state of a user, for `twofold status`.
pub fn claims_line(t: &Texts, pulled: &Pulled) -> String {
    let Claims {
        last_step,
        failures,
        locked_until,
        used_recovery,
    } = &pulled.claims;
    let until = if *locked_until == 0 {
        "-".to_string()
    } else {
        twofold_core::when::human(*locked_until)
    };
    t.fill(
        "fleet_cli.claims",
        &[
            ("version", &pulled.version.to_string()),
            ("step", &last_step.to_string()),
            ("failures", &failures.to_string()),
            ("until", &until),
            ("used", &used_recovery.len().to_string()),
        ],
    )
}
