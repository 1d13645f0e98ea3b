//! `twofold demo`: enroll a demo user in a temporary directory and sign in through real
//! libpam with the built module, then show that a replayed and a wrong code are refused; then
//! push approval (push.rs): a private `twofold serve`, a paired phone, an approved and a denied
//! push. Nothing on the host changes and no root is needed.
#![forbid(unsafe_code)]

mod phone;
mod push;

use super::CliResult;
use super::terminal::{ask, grouped, interactive};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use twofold_core::clock::{Clock, SystemClock};
use twofold_core::config::Config;
use twofold_core::encoding::hex;
use twofold_core::enrollment::{self, EnrollOptions, Pending};
use twofold_core::qr::{self, QrStyle};
use twofold_core::store::UserStore;
use twofold_core::username::UserName;
use twofold_pam_client::{self as client, Message, SignIn};

const SERVICE: &str = "twofold-demo";
const USER: &str = "demo";

/// A private temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, String> {
        let random: [u8; 6] = twofold_core::secret::random_bytes().map_err(|e| e.to_string())?;
        let path = std::env::temp_dir().join(format!("twofold-demo-{}", hex(&random)));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

use std::os::unix::fs::DirBuilderExt;

pub fn run(module: Option<PathBuf>, style: QrStyle) -> CliResult {
    let module = match module {
        Some(path) => path,
        None => default_module()?,
    };
    let module = module.canonicalize().map_err(|e| {
        format!(
            "PAM module {}: {e} (build it with `cargo build`)",
            module.display()
        )
    })?;
    let live = interactive();
    let clock = SystemClock;
    let tmp = TempDir::new()?;
    let (config_path, confdir) = write_files(&tmp.0, &module)?;
    let config = Config::load(&config_path, true).map_err(|e| format!("{e:?}"))?;
    let user = UserName::parse(USER.as_bytes()).map_err(|e| e.to_string())?;

    println!(
        "twofold demo — everything happens in {} and is removed afterwards.",
        tmp.0.display()
    );
    println!("PAM module: {}\n", module.display());
    println!("Step 1. Enroll user \"{USER}\"");
    let pending = enrollment::prepare(&config, EnrollOptions::default(), &clock)
        .map_err(|e| e.to_string())?;
    let uri = pending.record.totp.otpauth_uri(&config.issuer, USER);
    print!("{}", qr::render(&uri, style).map_err(|e| e.to_string())?);
    println!(
        "Key: {}   ({uri})",
        grouped(pending.record.totp.secret.expose())
    );
    let store = UserStore::create(&config.state_dir).map_err(|e| e.to_string())?;
    let confirmed = if live {
        println!("Scan the QR code with an authenticator app, then type the code it shows.");
        Some(confirm(&config, &pending, &clock)?)
    } else {
        println!(
            "No terminal: saving without a confirmation code (as `twofold enroll --no-verify`)."
        );
        None
    };
    enrollment::save(&store, &user, &pending, confirmed).map_err(|e| e.to_string())?;
    println!(
        "✓ Enrolled; {} recovery codes made.\n",
        pending.recovery_codes.len()
    );

    println!(
        "Step 2. Sign in through libpam (service {SERVICE}, pam.d in {})",
        confdir.display()
    );
    if live {
        println!("Wait until the app shows a new code (each code works only once), then type it.");
    }
    let mut typed = String::new();
    let first = sign_in(&confdir, |prompt| {
        let answer = if live {
            ask(prompt).unwrap_or_default()
        } else {
            let code = pending.record.totp.code_at(clock.now()).unwrap_or_default();
            println!("  {prompt}{code}   (no terminal: the demo computed the current code itself)");
            code
        };
        typed = answer.clone();
        answer
    })?;
    let signed_in = report("the right code is accepted", &first, true);

    println!("\nStep 3. The same code again (a replay)");
    let replay = sign_in(&confdir, |prompt| {
        println!("  {prompt}{typed}");
        typed.clone()
    })?;
    let replay_refused = report("a replayed code is refused", &replay, false);

    println!("\nStep 4. A wrong code");
    let wrong = pending
        .record
        .totp
        .code_at(clock.now() + 100 * u64::from(pending.record.totp.period))
        .unwrap_or_default();
    let wrong_result = sign_in(&confdir, |prompt| {
        println!("  {prompt}{wrong}");
        wrong.clone()
    })?;
    let wrong_refused = report("a wrong code is refused", &wrong_result, false);

    let setting = push::Setting {
        dir: &tmp.0,
        config_path: &config_path,
        confdir: &confdir,
        live,
        style,
    };
    // The service is stopped inside (when its handle drops), before the directory goes.
    let push_ok = push::run(&setting).unwrap_or_else(|e| {
        println!("  ✗ {e}");
        false
    });

    println!("\nAudit log (in production: syslog, facility authpriv):");
    let log = std::fs::read_to_string(tmp.0.join("audit.log")).unwrap_or_default();
    for line in log.lines() {
        println!("  {line}");
    }
    if signed_in && replay_refused && wrong_refused && push_ok {
        println!("\n✓ Demo passed.");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("\n✗ Demo failed.");
        Ok(ExitCode::FAILURE)
    }
}

/// The module cargo built beside this program: `libpam_twofold.so` in the same directory (after
/// `cargo build --workspace`) or in its `deps/` (after `cargo run`, which builds the module as
/// this command's dependency), whichever is newer.
fn default_module() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe
        .parent()
        .ok_or("cannot locate this program's directory")?;
    let candidates = [
        dir.join("libpam_twofold.so"),
        dir.join("deps/libpam_twofold.so"),
    ];
    let newest = candidates
        .iter()
        .filter_map(|p| Some((std::fs::metadata(p).ok()?.modified().ok()?, p)))
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, p)| p.clone());
    Ok(newest.unwrap_or_else(|| candidates[0].clone()))
}

fn write_files(dir: &Path, module: &Path) -> Result<(PathBuf, PathBuf), String> {
    let config_path = dir.join("twofold.toml");
    let config = format!(
        "# twofold demo configuration\nstate_dir = \"{}\"\naudit_log = \"{}\"\n\n[rate_limit]\nfailure_delay_ms = 0\n",
        dir.join("state").display(),
        dir.join("audit.log").display()
    );
    let confdir = dir.join("pam.d");
    let service = format!(
        "auth required {} config={}\n",
        module.display(),
        config_path.display()
    );
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    write(&config_path, &config)?;
    std::fs::create_dir(&confdir).map_err(|e| format!("{}: {e}", confdir.display()))?;
    write(&confdir.join(SERVICE), &service)?;
    Ok((config_path, confdir))
}

fn confirm(config: &Config, pending: &Pending, clock: &dyn Clock) -> Result<u64, String> {
    for _ in 0..3 {
        let code = ask("Code shown in the app: ").ok_or("no code given")?;
        if let Some(step) = enrollment::confirm(pending, &code, config, clock) {
            return Ok(step);
        }
        eprintln!("That code is not right; try again.");
    }
    Err("three wrong codes".into())
}

/// One sign-in through libpam; `answer` answers the code prompt.
fn sign_in(
    confdir: &Path,
    mut answer: impl FnMut(&str) -> String,
) -> Result<client::Outcome, String> {
    authenticate(confdir, &mut |msg: Message<'_>| match msg {
        Message::PromptEchoOff(p) | Message::PromptEchoOn(p) => Some(answer(p).into_bytes()),
        Message::ErrorMsg(t) | Message::TextInfo(t) => {
            println!("  [{t}]");
            None
        }
    })
}

/// One sign-in of the demo user through libpam, each message handed to `responder`.
fn authenticate(
    confdir: &Path,
    responder: &mut dyn client::Responder,
) -> Result<client::Outcome, String> {
    let req = SignIn {
        service: SERVICE,
        user: USER.as_bytes(),
        confdir,
        rhost: None,
        tty: None,
        flags: 0,
    };
    client::authenticate(&req, responder).map_err(|e| e.to_string())
}

fn report(what: &str, outcome: &client::Outcome, want_success: bool) -> bool {
    let ok = (outcome.code == 0) == want_success;
    println!(
        "  {} {what}: libpam returned {}",
        if ok { "✓" } else { "✗" },
        outcome.name
    );
    ok
}
