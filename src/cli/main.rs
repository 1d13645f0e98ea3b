//! The `twofold` command: enrollment, administration, the demo, the approval service.
#![forbid(unsafe_code)]

mod admin;
mod check;
mod demo;
mod enroll;
mod fleet;
mod import;
mod language;
mod manpages;
mod pass;
mod phone;
mod push;
mod serve;
mod terminal;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use twofold_core::clock::SystemClock;
use twofold_core::config::{Config, DEFAULT_PATH};
use twofold_core::qr::QrStyle;
use twofold_core::store::UserStore;
use twofold_core::username::UserName;

/// Self-hosted second factor for Linux: enrollment and administration.
#[derive(Parser, Debug)]
#[command(name = "twofold", version, about)]
pub struct Cli {
    /// Configuration file [default: /etc/twofold/twofold.toml; missing means built-in defaults].
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Enroll USER: show the QR code, confirm a code from the app, print recovery codes.
    Enroll(enroll::EnrollArgs),
    /// Show USER's enrollment, lockout and push state.
    Status {
        /// The account name, as PAM sees it.
        user: String,
        /// Print one JSON object instead (times as Unix seconds and ISO 8601).
        #[arg(long)]
        json: bool,
    },
    /// List enrolled users: methods, last sign-in, lockout.
    List {
        /// Print a JSON array of the names instead.
        #[arg(long)]
        json: bool,
    },
    /// Remove USER's record and state (they must enroll again).
    Reset {
        /// The account name, as PAM sees it.
        user: String,
    },
    /// End USER's lockout, clear the failure count and resume push approval paused after a
    /// denial or a "not me" report.
    Unlock {
        /// The account name, as PAM sees it.
        user: String,
    },
    /// Replace USER's recovery codes with fresh ones (shown once).
    RecoveryCodes {
        /// The account name, as PAM sees it.
        user: String,
        /// Print the codes as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// List USER's paired push devices, or remove one (it can then approve nothing).
    Devices {
        /// The account name, as PAM sees it.
        user: String,
        /// Remove the device with this id.
        #[arg(long, value_name = "ID")]
        remove: Option<String>,
        /// Print the devices as JSON instead (times as Unix seconds and ISO 8601).
        #[arg(long)]
        json: bool,
    },
    /// Show USER's language for prompts and messages, or set it (en, nl; "default": the
    /// configuration's `language`).
    Language {
        /// The account name, as PAM sees it.
        user: String,
        /// The language to set.
        language: Option<String>,
    },
    /// Issue USER a temporary access pass (shown once): at the next sign-in it stands in for
    /// the second factor and leads into enrollment (after a lost phone: enrollment again).
    Pass(pass::PassArgs),
    /// Validate the configuration file, like `sshd -t`: every mistake at once. As root on the
    /// default configuration (or with --installation) also the installation: the module file,
    /// the PAM files naming it, whether root and you (SUDO_USER) are enrolled, the service.
    CheckConfig {
        /// Check the installation too (the default as root on the default configuration).
        #[arg(long)]
        installation: bool,
        /// The PAM configuration directory to check (for tests).
        #[arg(long, value_name = "DIR", default_value = "/etc/pam.d", hide = true)]
        pam_dir: PathBuf,
        /// A directory to look for pam_twofold.so in (repeatable; for tests).
        #[arg(long = "module-dir", value_name = "DIR", hide = true)]
        module_dirs: Vec<PathBuf>,
    },
    /// Migrate a ~/.google_authenticator file (TOTP only) to a twofold record.
    ImportGoogleAuthenticator {
        /// The account name, as PAM sees it.
        user: String,
        /// The file; default: the user's ~/.google_authenticator.
        file: Option<PathBuf>,
        /// Import even a file that group or others could read (its key may be known).
        #[arg(long)]
        force: bool,
    },
    /// Set or remove USER's phone number for text-message codes.
    Phone {
        /// The account name, as PAM sees it.
        user: String,
        #[command(subcommand)]
        action: phone::PhoneAction,
    },
    /// Set the method USER's sign-ins start with: push, app or sms (the others stay a word away).
    DefaultMethod {
        /// The account name, as PAM sees it.
        user: String,
        /// push, app or sms.
        method: String,
    },
    /// Enroll a demo user in a temporary directory and sign in through real libpam.
    Demo {
        /// The PAM module to use (default: libpam_twofold.so next to this program).
        #[arg(long, value_name = "PATH")]
        module: Option<PathBuf>,
        /// How to draw the QR code.
        #[arg(long, default_value = "ansi")]
        qr: QrStyle,
    },
    /// Run the push approval service, or add/remove the hosts that may use it.
    Serve(serve::ServeArgs),
    /// Fleet mode: make the fleet key, join a host, show the fleet.
    #[command(subcommand)]
    Fleet(fleet::FleetCommand),
}

/// jemalloc keeps no headers next to allocations, so the untouched parts of each waiting
/// connection's 8 KiB buffers stay out of resident memory: with 10,000 waiting requests the
/// service holds 94 MB instead of 132 MB with glibc's allocator (scripts/bench-push).
///
/// Its options are built in (`JEMALLOC_SYS_WITH_MALLOC_CONF` in .cargo/config.toml):
/// `tcache_max:4096,dirty_decay_ms:0`. hyper gives every connection an 8 KiB read buffer and
/// replaces it once the request is read; without a thread cache for that size and with
/// immediate purging, the page the request was read into goes back to the system instead of
/// becoming the next connection's idle, resident buffer: 4 KB per waiting challenge instead of
/// 8 (scripts/bench-fleet, docs/fleet.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // The command reaches the service and runs programs (twofold_core::outside).
    twofold_core::outside::install_system();
    if let Some(code) = manpages::generate_if_asked() {
        return code;
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("twofold: {message}");
            ExitCode::FAILURE
        }
    }
}

/// What a command reports on failure: one line for the administrator.
type CliResult = Result<ExitCode, String>;

fn run(cli: Cli) -> CliResult {
    if let Command::Demo { module, qr } = cli.command {
        return demo::run(module, qr);
    }
    if let Command::Serve(args) = cli.command {
        return serve::run(&cli.config, args);
    }
    if let Command::CheckConfig {
        installation,
        pam_dir,
        module_dirs,
    } = cli.command
    {
        let installation = check::Installation {
            check: installation || (cli.config.is_none() && rustix::process::geteuid().is_root()),
            pam_dir,
            module_dirs: check::module_dirs(module_dirs),
        };
        return check::check_config(
            &config_path(&cli.config),
            cli.config.is_some(),
            &installation,
        );
    }
    let config = load_config(&cli.config)?;
    let clock = SystemClock;
    match cli.command {
        Command::Enroll(args) => enroll::run(&config, args, &clock),
        Command::Status { user, json } => admin::status(&config, &user_name(&user)?, json, &clock),
        Command::List { json } => admin::list(&config, json, &clock),
        Command::Reset { user } => admin::reset(&config, &user_name(&user)?),
        Command::Unlock { user } => admin::unlock(&config, &user_name(&user)?),
        Command::Devices { user, remove, json } => {
            push::devices(&config, &user_name(&user)?, remove, json, &clock)
        }
        Command::RecoveryCodes { user, json } => {
            admin::recovery_codes(&config, &user_name(&user)?, json)
        }
        Command::Phone { user, action } => {
            phone::phone(&config, &user_name(&user)?, action, &clock)
        }
        Command::DefaultMethod { user, method } => {
            phone::default_method(&config, &user_name(&user)?, &method)
        }
        Command::Language { user, language } => {
            language::run(&config, &user_name(&user)?, language)
        }
        Command::Pass(args) => pass::run(&config, args, &clock),
        Command::ImportGoogleAuthenticator { user, file, force } => {
            import::run(&config, &user_name(&user)?, file, force, &clock)
        }
        Command::Fleet(command) => fleet::run(&config, command),
        Command::Demo { .. } | Command::CheckConfig { .. } | Command::Serve(_) => {
            unreachable_command()
        }
    }
}

fn unreachable_command() -> CliResult {
    Err("internal error: command dispatched twice".into())
}

fn config_path(explicit: &Option<PathBuf>) -> PathBuf {
    explicit
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
}

/// Loads the configuration, turning every problem into one message.
fn load_config(explicit: &Option<PathBuf>) -> Result<Config, String> {
    Config::load(&config_path(explicit), explicit.is_some()).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn user_name(raw: &str) -> Result<UserName, String> {
    let user = UserName::parse(raw.as_bytes()).map_err(|e| format!("{raw:?}: {e}"))?;
    user.check_system_name()
        .map_err(|e| format!("{raw:?}: {e}"))?;
    Ok(user)
}

/// Opens the store, creating the state directory if needed.
fn open_store(config: &Config) -> Result<UserStore, String> {
    UserStore::create(&config.state_dir).map_err(|e| e.to_string())
}
