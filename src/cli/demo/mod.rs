//! `twofold demo`: enroll a demo user in a temporary directory and sign in through real
//! libpam with the built module, then show that a replayed and a wrong code are refused; then
//! push approval (push.rs): a private `twofold serve`, a paired phone, an approved and a denied
//! push. Nothing on the host changes and no root is needed. It speaks the environment's
//! language (LANG, ...; the demo user has no setting of its own), and so does the module in it.
#![forbid(unsafe_code)]

mod phone;
mod push;

use super::CliResult;
use super::language;
use super::terminal::{ask, grouped, interactive};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use twofold_core::clock::{Clock, SystemClock};
use twofold_core::config::Config;
use twofold_core::encoding::hex;
use twofold_core::enrollment::{self, EnrollOptions, Pending};
use twofold_core::messages::Texts;
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
    // No configuration and no user setting yet: the environment decides, English otherwise.
    let t = language::texts(&Config::default());
    let module = match module {
        Some(path) => path,
        None => default_module(t)?,
    };
    let module = module.canonicalize().map_err(|e| {
        let path = module.display().to_string();
        t.fill(
            "demo.module_missing",
            &[("path", &path), ("error", &e.to_string())],
        )
    })?;
    let live = interactive();
    let clock = SystemClock;
    let tmp = TempDir::new()?;
    let (config_path, confdir) = write_files(&tmp.0, &module, t)?;
    let config = Config::load(&config_path, true).map_err(|e| format!("{e:?}"))?;
    let user = UserName::parse(USER.as_bytes()).map_err(|e| e.to_string())?;

    let dir = tmp.0.display().to_string();
    println!("{}", t.fill("demo.intro", &[("dir", &dir)]));
    let path = module.display().to_string();
    println!("{}\n", t.fill("demo.module", &[("path", &path)]));
    println!("{}", t.fill("demo.step_enroll", &[("user", USER)]));
    let pending = enrollment::prepare(&config, EnrollOptions::default(), &clock)
        .map_err(|e| e.to_string())?;
    let uri = pending.record.totp.otpauth_uri(&config.issuer, USER);
    print!("{}", qr::render(&uri, style).map_err(|e| e.to_string())?);
    let key = grouped(pending.record.totp.secret.expose());
    println!("{}", t.fill("demo.key", &[("key", &key), ("uri", &uri)]));
    let store = UserStore::create(&config.state_dir).map_err(|e| e.to_string())?;
    let confirmed = if live {
        println!("{}", t.get("demo.scan"));
        Some(confirm(&config, &pending, &clock, t)?)
    } else {
        println!("{}", t.get("demo.no_terminal_save"));
        None
    };
    enrollment::save(&store, &user, &pending, confirmed).map_err(|e| e.to_string())?;
    let made = pending.recovery_codes.len().to_string();
    println!("{}\n", t.fill("demo.enrolled", &[("n", &made)]));

    let pam_d = confdir.display().to_string();
    println!(
        "{}",
        t.fill(
            "demo.step_sign_in",
            &[("service", SERVICE), ("dir", &pam_d)]
        )
    );
    if live {
        println!("{}", t.get("demo.wait_new_code"));
    }
    let mut typed = String::new();
    let first = sign_in(&confdir, |prompt| {
        let answer = if live {
            ask(prompt).unwrap_or_default()
        } else {
            let code = pending.record.totp.code_at(clock.now()).unwrap_or_default();
            let values = [("prompt", prompt), ("code", code.as_str())];
            println!("{}", t.fill("demo.computed_code", &values));
            code
        };
        typed = answer.clone();
        answer
    })?;
    let signed_in = report(t, "demo.right_code_check", &first, true);

    println!("\n{}", t.get("demo.step_replay"));
    let replay = sign_in(&confdir, |prompt| {
        println!("  {prompt}{typed}");
        typed.clone()
    })?;
    let replay_refused = report(t, "demo.replay_check", &replay, false);

    println!("\n{}", t.get("demo.step_wrong"));
    let wrong = pending
        .record
        .totp
        .code_at(clock.now() + 100 * u64::from(pending.record.totp.period))
        .unwrap_or_default();
    let wrong_result = sign_in(&confdir, |prompt| {
        println!("  {prompt}{wrong}");
        wrong.clone()
    })?;
    let wrong_refused = report(t, "demo.wrong_code_check", &wrong_result, false);

    let setting = push::Setting {
        dir: &tmp.0,
        config_path: &config_path,
        confdir: &confdir,
        live,
        style,
        texts: t,
    };
    // The service is stopped inside (when its handle drops), before the directory goes.
    let push_ok = push::run(&setting).unwrap_or_else(|e| {
        println!("  ✗ {e}");
        false
    });

    println!("\n{}", t.get("demo.audit_log"));
    let log = std::fs::read_to_string(tmp.0.join("audit.log")).unwrap_or_default();
    for line in log.lines() {
        println!("  {line}");
    }
    if signed_in && replay_refused && wrong_refused && push_ok {
        println!("\n{}", t.get("demo.passed"));
        Ok(ExitCode::SUCCESS)
    } else {
        println!("\n{}", t.get("demo.failed"));
        Ok(ExitCode::FAILURE)
    }
}

/// The module cargo built beside this program: `libpam_twofold.so` in the same directory (after
/// `cargo build --workspace`) or in its `deps/` (after `cargo run`, which builds the module as
/// this command's dependency), whichever is newer.
fn default_module(t: Texts) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe.parent().ok_or(t.get("demo.no_program_dir"))?;
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

/// The demo's configuration and pam.d; the module speaks the demo's language `t`.
fn write_files(dir: &Path, module: &Path, t: Texts) -> Result<(PathBuf, PathBuf), String> {
    let config_path = dir.join("twofold.toml");
    let config = format!(
        "# twofold demo configuration\nstate_dir = \"{}\"\naudit_log = \"{}\"\nlanguage = \"{}\"\n\n[rate_limit]\nfailure_delay_ms = 0\n",
        dir.join("state").display(),
        dir.join("audit.log").display(),
        t.language()
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

fn confirm(config: &Config, pending: &Pending, clock: &dyn Clock, t: Texts) -> Result<u64, String> {
    for _ in 0..3 {
        let code = ask(t.get("demo.code_prompt")).ok_or(t.get("demo.no_code"))?;
        if let Some(step) = enrollment::confirm(pending, &code, config, clock) {
            return Ok(step);
        }
        eprintln!("{}", t.get("demo.code_wrong"));
    }
    Err(t.get("demo.gave_up").into())
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

/// Prints whether a step did what it should (`what`: the key of its description).
fn report(t: Texts, what: &'static str, outcome: &client::Outcome, want_success: bool) -> bool {
    let ok = (outcome.code == 0) == want_success;
    let mark = if ok { "✓" } else { "✗" };
    let values = [
        ("mark", mark),
        ("what", t.get(what)),
        ("code", outcome.name),
    ];
    println!("{}", t.fill("demo.outcome", &values));
    ok
}
