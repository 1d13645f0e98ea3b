//! Test harness: a throw-away "host" (configuration, state directory, audit log, pam.d) and
//! sign-ins through real libpam (`pam_start_confdir`) against the built module.
//!
//! Every test binary uses a different part of this module.
#![allow(dead_code)]

#[allow(dead_code)]
pub mod fleet;
#[allow(dead_code)]
pub mod push;
#[allow(dead_code)]
pub mod qr_image;
#[allow(dead_code)]
pub mod sms;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tempfile::TempDir;
use twofold_core::clock::SystemClock;
use twofold_core::config::Config;
use twofold_core::enrollment::{self, EnrollOptions};
use twofold_core::factor::totp::TotpParams;
use twofold_core::store::{UserState, UserStore};
use twofold_core::username::UserName;
use twofold_pam_client::{self as client, Outcome, Script};

/// The service name of the pam.d file each host writes.
pub const SERVICE: &str = "twofold-test";
/// Remote host set on every sign-in (TEST-NET-1), so audit lines show it.
pub const RHOST: &str = "192.0.2.10";
/// The module's default prompt as the transcript shows it.
pub const CODE_PROMPT: &str =
    "PROMPT_ECHO_OFF: Code from your authenticator app (or a recovery code): ";
/// pam_exec's prompt when it sets PAM_AUTHTOK for the modules after it.
pub const PASSWORD_PROMPT: &str = "PROMPT_ECHO_OFF: Password: ";
/// A stack line that prompts "Password: " once and leaves the answer in PAM_AUTHTOK.
pub const SET_AUTHTOK_LINE: &str =
    "auth optional pam_exec.so expose_authtok quiet /bin/sh -c [cat > /dev/null]";
/// The lockout message as the transcript shows it for a sign-in from a remote address (the
/// harness's default): a prompt of its own, because OpenSSH shows messages only with a prompt.
/// The lockout as a prompt (over SSH), with the default 15 minutes left.
pub const LOCKED_ERROR: &str = "PROMPT_ECHO_ON: Too many failed attempts: locked for 15 minutes more.\nTry again then, or ask your administrator to unlock you.\nPress Enter: ";
/// The "files or configuration unusable" message, likewise.
pub const UNAVAILABLE_ERROR: &str = "PROMPT_ECHO_ON: The second factor is unavailable. Please contact your\nadministrator.\nPress Enter: ";
/// The same message for a local sign-in (no remote address): an error message.
pub const UNAVAILABLE_LOCAL_ERROR: &str =
    "ERROR: The second factor is unavailable. Please contact your administrator.";

/// Prints the skip and fails when the environment says CI=true (CI must run everything).
pub fn skip(test: &str, reason: &str) {
    // Straight to the stderr handle: libtest captures print!/eprint! of passing tests, and a
    // skip must always be seen.
    let _ = writeln!(io::stderr(), "SKIP {test}: {reason}");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("SKIP {test}: {reason} (not allowed with CI=true)");
    }
}

/// The test-only phone (`examples/`-style target `twofold-test-phone`, tests/support/test_phone.rs),
/// which `cargo test` builds into `target/<profile>/examples/` and no package installs.
pub fn test_phone_path() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let phone = profile_dir.join("examples/twofold-test-phone");
    assert!(
        phone.is_file(),
        "{} is not built (run `cargo test`, which builds it)",
        phone.display()
    );
    phone
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The module built by cargo for this test run.
///
/// `cargo test` compiles the cdylib into `target/<profile>/deps/libpam_twofold.so`, next to this
/// test binary, but only `cargo build` copies it up to `target/<profile>/libpam_twofold.so`: that
/// copy can be stale (older sources). So the newer of the two is used, and at least one must exist.
pub fn module_path() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe
        .parent()
        .expect("test binary lives in target/<profile>/deps");
    let profile_dir = deps
        .parent()
        .expect("test binary lives in target/<profile>/deps");
    let candidates = [
        deps.join("libpam_twofold.so"),
        profile_dir.join("libpam_twofold.so"),
    ];
    let newest = candidates
        .iter()
        .filter_map(|p| Some((fs::metadata(p).ok()?.modified().ok()?, p)))
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, p)| p.clone());
    newest.unwrap_or_else(|| {
        panic!(
            "the PAM module is not built: neither {} nor {} exists (run `cargo build`)",
            candidates[0].display(),
            candidates[1].display()
        )
    })
}

/// Seconds since the epoch, as the module's clock sees it.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A user enrolled for a test: the key and parameters, and the recovery codes shown once.
pub struct Enrolled {
    pub params: TotpParams,
    pub recovery: Vec<String>,
}

impl Enrolled {
    /// The base32 key, for "never in the log" checks.
    pub fn secret(&self) -> String {
        self.params.secret.expose().to_string()
    }
}

/// The code valid now.
pub fn code_now(params: &TotpParams) -> String {
    code_at_offset(params, 0)
}

/// The code `steps` time steps away from now (negative: in the past).
pub fn code_at_offset(params: &TotpParams, steps: i64) -> String {
    let period = i64::from(params.period);
    let t = i64::try_from(now()).unwrap() + steps * period;
    params
        .code_at(u64::try_from(t).unwrap())
        .expect("valid key")
}

/// A code of the right length that matches none of the steps within ±4 of now.
pub fn wrong_code(params: &TotpParams) -> String {
    let near: Vec<String> = (-4..=4).map(|s| code_at_offset(params, s)).collect();
    (0..10u8)
        .map(|d| {
            char::from(b'0' + d)
                .to_string()
                .repeat(usize::from(params.digits))
        })
        .find(|c| !near.contains(c))
        .expect("ten candidates cannot all be valid codes")
}

/// Waits (at most `margin` seconds) until at least `margin` seconds remain in the current
/// time step, so a code computed now is judged in the same step by the module. The only
/// sleep in the suite: tests whose verdict flips when a step boundary falls mid-test.
pub fn wait_for_step_margin(params: &TotpParams, margin: u64) {
    let period = u64::from(params.period);
    let exact = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let into_step = exact.as_secs_f64() % period as f64;
    let left = period as f64 - into_step;
    if left < margin as f64 {
        std::thread::sleep(Duration::from_secs_f64(left + 0.05));
    }
}

/// A temporary host: `twofold.toml`, `state/`, `audit.log` and `pam.d/<SERVICE>` in a tempdir.
pub struct Host {
    tmp: TempDir,
    pub root: PathBuf,
    pub config_path: PathBuf,
    pub state_dir: PathBuf,
    pub audit_path: PathBuf,
    pub pamd: PathBuf,
    pub module: PathBuf,
}

impl Default for Host {
    fn default() -> Self {
        Self::new()
    }
}

impl Host {
    /// Default configuration (failure delay 0), one `auth required` line without extra arguments.
    pub fn new() -> Self {
        Self::with("", "")
    }

    /// `config` is TOML merged over the base (e.g. `"[rate_limit]\nmax_failures = 3"`);
    /// `module_args` are appended to the module's pam.d line.
    pub fn with(config: &str, module_args: &str) -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("twofold-pamtest-")
            .tempdir()
            .expect("tempdir");
        let root = tmp.path().to_path_buf();
        let pamd = root.join("pam.d");
        fs::create_dir(&pamd).unwrap();
        let host = Host {
            config_path: root.join("twofold.toml"),
            state_dir: root.join("state"),
            audit_path: root.join("audit.log"),
            pamd,
            module: module_path(),
            root,
            tmp,
        };
        host.configure(config);
        host.use_module_args(module_args);
        host
    }

    /// Rewrites `twofold.toml`: the base (state_dir, audit_log, no failure delay) with `extra` merged over it.
    pub fn configure(&self, extra: &str) {
        let mut base: toml::Table = toml::from_str(&format!(
            "state_dir = {:?}\naudit_log = {:?}\n[rate_limit]\nfailure_delay_ms = 0\n",
            self.state_dir.display().to_string(),
            self.audit_path.display().to_string(),
        ))
        .unwrap();
        let extra: toml::Table = toml::from_str(extra).expect("test config is valid TOML");
        merge(&mut base, extra);
        self.write_config_text(&toml::to_string(&base).unwrap());
    }

    /// Writes `twofold.toml` verbatim (for broken configurations).
    pub fn write_config_text(&self, text: &str) {
        fs::write(&self.config_path, text).unwrap();
    }

    /// The module's pam.d line with `args` appended.
    pub fn module_line(&self, args: &str) -> String {
        format!(
            "auth required {} config={} {args}",
            self.module.display(),
            self.config_path.display()
        )
    }

    /// The service file: only the module, with `args`.
    pub fn use_module_args(&self, args: &str) {
        self.use_stack(&[self.module_line(args)]);
    }

    /// The service file: these lines.
    pub fn use_stack(&self, lines: &[String]) {
        let mut text = lines.join("\n");
        text.push('\n');
        fs::write(self.pamd.join(SERVICE), text).unwrap();
    }

    /// A stack line placed after the module that writes what PAM_AUTHTOK holds to `seen`.
    pub fn read_authtok_line(&self) -> String {
        format!(
            "auth optional pam_exec.so expose_authtok quiet /bin/sh -c [cat > {}]",
            self.root.join("seen").display()
        )
    }

    /// What the trailing pam_exec line read from PAM_AUTHTOK (pam_exec sends a final NUL).
    pub fn seen_authtok(&self) -> Option<String> {
        let bytes = fs::read(self.root.join("seen")).ok()?;
        let text = String::from_utf8(bytes).expect("UTF-8 authtok");
        Some(text.trim_end_matches('\0').to_string())
    }

    /// The configuration as the module reads it.
    pub fn config(&self) -> Config {
        Config::load(&self.config_path, true).expect("host configuration is valid")
    }

    /// Enrolls `user` (key from the configuration, not confirmed: every current code is fresh).
    pub fn enroll(&self, user: &str) -> Enrolled {
        self.enroll_with(user, EnrollOptions::default(), false)
    }

    /// Enrolls with options; `confirm` proves the current code first, as first-sign-in enrollment
    /// does, which records its step so the confirming code cannot be replayed.
    pub fn enroll_with(&self, user: &str, opts: EnrollOptions, confirm: bool) -> Enrolled {
        let config = self.config();
        let pending = enrollment::prepare(&config, opts, &SystemClock).expect("prepare");
        let step = if confirm {
            let code = code_now(&pending.record.totp);
            let step = enrollment::confirm(&pending, &code, &config, &SystemClock);
            assert!(step.is_some(), "the current code confirms the enrollment");
            step
        } else {
            None
        };
        let store = UserStore::create(&self.state_dir).expect("create store");
        enrollment::save(&store, &user_name(user), &pending, step).expect("save enrollment");
        // Enrollment writes only the record; the state file, as the first sign-in leaves it,
        // so tests can change or break it.
        self.update_state(user, |_| {});
        Enrolled {
            params: pending.record.totp.clone(),
            recovery: pending
                .recovery_codes
                .iter()
                .map(|c| c.expose().to_string())
                .collect(),
        }
    }

    /// `users/<encoded>.toml`.
    pub fn record_path(&self, user: &str) -> PathBuf {
        self.state_dir
            .join("users")
            .join(format!("{}.toml", user_name(user).encoded()))
    }

    /// `state/<encoded>.toml`.
    pub fn state_path(&self, user: &str) -> PathBuf {
        self.state_dir
            .join("state")
            .join(format!("{}.toml", user_name(user).encoded()))
    }

    /// The user's state, read through the store under the user's lock.
    pub fn state(&self, user: &str) -> UserState {
        let store = UserStore::open(&self.state_dir).expect("open store");
        let name = user_name(user);
        let lock = store.lock(&name).expect("lock");
        store.load_state(&name, &lock).expect("load state")
    }

    /// Changes the user's state through the store, under the user's lock (what `twofold unlock` does).
    pub fn update_state(&self, user: &str, change: impl FnOnce(&mut UserState)) {
        let store = UserStore::open(&self.state_dir).expect("open store");
        let name = user_name(user);
        let lock = store.lock(&name).expect("lock");
        let mut state = store.load_state(&name, &lock).expect("load state");
        change(&mut state);
        store.save_state(&name, &lock, &state).expect("save state");
    }

    /// Signs `user` in, answering prompts with `answers` in order.
    pub fn sign_in(&self, user: &str, answers: &[&str]) -> (Outcome, Vec<String>) {
        let answers = answers.iter().map(|a| a.as_bytes().to_vec()).collect();
        self.sign_in_raw(user.as_bytes(), answers, 0)
    }

    /// Signs in with `pam_authenticate` flags (e.g. `PAM_SILENT`).
    pub fn sign_in_flags(
        &self,
        user: &str,
        answers: &[&str],
        flags: i32,
    ) -> (Outcome, Vec<String>) {
        let answers = answers.iter().map(|a| a.as_bytes().to_vec()).collect();
        self.sign_in_raw(user.as_bytes(), answers, flags)
    }

    /// Signs in from `rhost` (None: a local service such as sudo), answering prompts with
    /// `responder` (which sees each message and may compute its answer from it).
    pub fn sign_in_with(
        &self,
        user: &str,
        rhost: Option<&str>,
        responder: &mut dyn client::Responder,
    ) -> Outcome {
        let sign_in = client::SignIn {
            service: SERVICE,
            user: user.as_bytes(),
            confdir: &self.pamd,
            rhost,
            tty: None,
            flags: 0,
        };
        client::authenticate(&sign_in, responder)
            .unwrap_or_else(|e| panic!("sign-in could not be attempted: {e}"))
    }

    /// Signs in with a raw user name and raw answers.
    pub fn sign_in_raw(
        &self,
        user: &[u8],
        answers: Vec<Vec<u8>>,
        flags: i32,
    ) -> (Outcome, Vec<String>) {
        let sign_in = client::SignIn {
            service: SERVICE,
            user,
            confdir: &self.pamd,
            rhost: Some(RHOST),
            tty: None,
            flags,
        };
        let mut script = Script::new(answers);
        let outcome = client::authenticate(&sign_in, &mut script)
            .unwrap_or_else(|e| panic!("sign-in could not be attempted: {e}"));
        (outcome, script.transcript)
    }

    /// The audit log's text ("" when nothing was written).
    pub fn audit_text(&self) -> String {
        match fs::read(&self.audit_path) {
            Ok(bytes) => String::from_utf8(bytes).expect("audit log is UTF-8"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => panic!("reading {}: {e}", self.audit_path.display()),
        }
    }

    /// The audit log, one entry per line.
    pub fn audit_lines(&self) -> Vec<String> {
        self.audit_text().lines().map(str::to_string).collect()
    }

    /// The `auth` (decision) lines, parsed.
    pub fn decisions(&self) -> Vec<Entry> {
        self.audit_lines()
            .iter()
            .map(|l| Entry::parse(l))
            .filter(|e| e.event == "auth")
            .collect()
    }

    /// The last decision in the audit log.
    pub fn last_decision(&self) -> Entry {
        self.decisions()
            .pop()
            .expect("an auth line in the audit log")
    }

    /// Asserts none of `secrets` (typed codes, the key, recovery codes) appears in the audit log.
    pub fn assert_log_holds_none_of(&self, secrets: &[String]) {
        let text = self.audit_text();
        for s in secrets {
            assert!(!s.is_empty());
            assert!(
                !text.contains(s.as_str()),
                "the audit log contains the secret {s:?}:\n{text}"
            );
            // Recovery codes are also typed without dashes.
            let compact = s.replace('-', "");
            assert!(
                !text.contains(&compact),
                "the audit log contains the secret {compact:?}:\n{text}"
            );
        }
    }
}

fn merge(base: &mut toml::Table, extra: toml::Table) {
    for (key, value) in extra {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(e)) => merge(b, e),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// A valid user name (test names are always valid).
pub fn user_name(user: &str) -> UserName {
    UserName::parse(user.as_bytes()).expect("valid test user name")
}

/// One audit line: the event word and its key=value pairs (quoted values unescaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub event: String,
    pub fields: BTreeMap<String, String>,
    pub raw: String,
}

impl Entry {
    /// Parses `event k=v k="quoted \"v\"" ...`; panics on anything else, so a torn or
    /// interleaved line fails the test that reads it.
    pub fn parse(line: &str) -> Entry {
        let (event, mut rest) = line.split_once(' ').unwrap_or((line, ""));
        assert!(
            !event.is_empty() && !event.contains('='),
            "audit line without event: {line:?}"
        );
        let mut fields = BTreeMap::new();
        while !rest.is_empty() {
            let (key, after) = rest
                .split_once('=')
                .unwrap_or_else(|| panic!("no '=' in audit line {line:?}"));
            assert!(
                !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "bad key {key:?} in audit line {line:?}"
            );
            let (value, after) = if let Some(q) = after.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = q.char_indices();
                let end = loop {
                    let (i, c) = chars
                        .next()
                        .unwrap_or_else(|| panic!("unterminated quote in {line:?}"));
                    match c {
                        '"' => break i + 1,
                        '\\' => match chars.next() {
                            Some((_, 'x')) => {
                                let hex: String = (0..2)
                                    .filter_map(|_| chars.next().map(|(_, c)| c))
                                    .collect();
                                let b = u8::from_str_radix(&hex, 16)
                                    .unwrap_or_else(|_| panic!("bad escape in {line:?}"));
                                value.push(char::from(b));
                            }
                            Some((_, c)) => value.push(c),
                            None => panic!("dangling escape in {line:?}"),
                        },
                        c => value.push(c),
                    }
                };
                (value, &q[end..])
            } else {
                let end = after.find(' ').unwrap_or(after.len());
                (after[..end].to_string(), &after[end..])
            };
            assert!(
                after.is_empty() || after.starts_with(' '),
                "garbage after {key}= in audit line {line:?}"
            );
            assert!(
                fields.insert(key.to_string(), value).is_none(),
                "duplicate {key} in {line:?}"
            );
            rest = after.strip_prefix(' ').unwrap_or(after);
        }
        Entry {
            event: event.to_string(),
            fields,
            raw: line.to_string(),
        }
    }

    /// A field's value ("" if absent, which the assertions then show).
    pub fn get(&self, key: &str) -> &str {
        self.fields.get(key).map_or("", String::as_str)
    }

    /// Asserts the decision's result and reason, and that user/service/rhost/method are present.
    pub fn assert_decision(&self, user: &str, result: &str, reason: &str) {
        assert_eq!(self.event, "auth", "{}", self.raw);
        assert_eq!(self.get("user"), user, "user in {}", self.raw);
        assert_eq!(self.get("service"), SERVICE, "service in {}", self.raw);
        assert_eq!(self.get("rhost"), RHOST, "rhost in {}", self.raw);
        assert!(self.fields.contains_key("method"), "method in {}", self.raw);
        assert_eq!(
            (self.get("result"), self.get("reason")),
            (result, reason),
            "in {}",
            self.raw
        );
    }
}

/// Runs `f` on a thread in a private mount namespace whose `/dev` is an empty tmpfs with a
/// socket at `/dev/log`, and returns what `f` returned with the syslog messages received
/// (the `<PRI>twofold[pid]: ` prefix kept). Needs root (CAP_SYS_ADMIN); the rest of the
/// process and the host keep their own `/dev`.
pub fn capture_syslog<T: Send>(f: impl FnOnce() -> T + Send) -> Result<(T, Vec<String>), String> {
    std::thread::scope(|s| {
        s.spawn(move || {
            private_dev()?;
            let socket =
                UnixDatagram::bind("/dev/log").map_err(|e| format!("bind /dev/log: {e}"))?;
            socket
                .set_read_timeout(Some(Duration::from_millis(20)))
                .map_err(|e| e.to_string())?;
            // Drained while `f` runs: the socket queue holds only a few datagrams
            // (net.unix.max_dgram_qlen, 10 by default), and a full queue blocks the sender.
            let done = std::sync::atomic::AtomicBool::new(false);
            let (out, lines) = std::thread::scope(|inner| {
                let reader = inner.spawn(|| {
                    let mut lines = Vec::new();
                    let mut buf = vec![0u8; 65536];
                    loop {
                        match socket.recv(&mut buf) {
                            Ok(n) => lines.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                                ) =>
                            {
                                if done.load(std::sync::atomic::Ordering::SeqCst) {
                                    return Ok(lines);
                                }
                            }
                            Err(e) => return Err(format!("recv: {e}")),
                        }
                    }
                });
                let out = f();
                done.store(true, std::sync::atomic::Ordering::SeqCst);
                let lines = reader.join().expect("syslog reader panicked");
                (out, lines)
            });
            Ok((out, lines?))
        })
        .join()
        .expect("syslog capture thread panicked")
    })
}

/// Runs `f` on a thread in a private mount namespace where `dir` is mounted read-only (a
/// read-only disk, as far as `f` can tell). Needs root (CAP_SYS_ADMIN).
pub fn with_read_only<T: Send>(
    dir: &std::path::Path,
    f: impl FnOnce() -> T + Send,
) -> Result<T, String> {
    std::thread::scope(|s| {
        s.spawn(move || {
            private_namespace()?;
            let os_err = |what: &str| format!("{what}: {}", io::Error::last_os_error());
            let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
            let none = std::ptr::null::<libc::c_char>();
            // SAFETY: NUL-terminated strings; a bind mount of a directory onto itself.
            if unsafe {
                libc::mount(
                    path.as_ptr(),
                    path.as_ptr(),
                    none,
                    libc::MS_BIND,
                    std::ptr::null(),
                )
            } != 0
            {
                return Err(os_err("mount --bind"));
            }
            let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
            // SAFETY: as above; makes that bind mount read-only.
            if unsafe { libc::mount(none, path.as_ptr(), none, flags, std::ptr::null()) } != 0 {
                return Err(os_err("mount -o remount,bind,ro"));
            }
            Ok(f())
        })
        .join()
        .expect("read-only namespace thread panicked")
    })
}

/// Runs `f` on a thread in a private mount namespace of its own (mounts made there stay
/// there). Needs root (CAP_SYS_ADMIN).
pub fn in_private_namespace<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, String> {
    std::thread::scope(|s| {
        s.spawn(move || {
            private_namespace()?;
            Ok(f())
        })
        .join()
        .expect("private namespace thread panicked")
    })
}

/// This thread only: a new mount namespace from which nothing propagates back.
fn private_namespace() -> Result<(), String> {
    let os_err = |what: &str| format!("{what}: {}", io::Error::last_os_error());
    // SAFETY: unshare affects only the calling thread's mount namespace (and its own copy of
    // the fs struct); no pointers are involved.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(os_err("unshare(CLONE_NEWNS)"));
    }
    let none = std::ptr::null::<libc::c_char>();
    // SAFETY: NUL-terminated literal; null source/type/data are allowed for a propagation change.
    if unsafe {
        libc::mount(
            none,
            c"/".as_ptr(),
            none,
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    } != 0
    {
        return Err(os_err("mount --make-rprivate /"));
    }
    Ok(())
}

/// This thread only: a private mount namespace with a fresh tmpfs on /dev.
fn private_dev() -> Result<(), String> {
    private_namespace()?;
    let os_err = |what: &str| format!("{what}: {}", io::Error::last_os_error());
    // SAFETY: NUL-terminated literals.
    let rc = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            c"/dev".as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            c"mode=0755,size=1m".as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(os_err("mount tmpfs /dev"));
    }
    Ok(())
}

/// The module's lines in captured syslog messages, as (priority, line after `twofold[pid]: `);
/// messages from others (libpam itself) are left out.
pub fn syslog_audit_lines(messages: &[String]) -> Vec<(u8, String)> {
    messages
        .iter()
        .filter_map(|m| {
            let (pri, rest) = m.strip_prefix('<')?.split_once('>')?;
            let (tag, line) = rest.split_once(": ")?;
            tag.starts_with("twofold[")
                .then(|| (pri.parse().expect("numeric priority"), line.to_string()))
        })
        .collect()
}

/// Runs `f` on a thread in a private mount namespace where `dir` is a fresh, small tmpfs
/// (`options`, e.g. `"size=256k,nr_inodes=64"`): a disk `f` can fill without touching the
/// host's. Needs root (CAP_SYS_ADMIN). `dir`'s own contents are hidden meanwhile.
pub fn with_small_disk<T: Send>(
    dir: &std::path::Path,
    options: &str,
    f: impl FnOnce() -> T + Send,
) -> Result<T, String> {
    std::thread::scope(|s| {
        s.spawn(move || {
            private_namespace()?;
            mount_tmpfs(dir, options)?;
            Ok(f())
        })
        .join()
        .expect("small-disk namespace thread panicked")
    })
}

/// Mounts a tmpfs (mode 0700) on `dir`; only inside a private mount namespace (see
/// [`with_small_disk`], [`capture_syslog`]).
pub fn mount_tmpfs(dir: &std::path::Path, options: &str) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    let data = std::ffi::CString::new(format!("mode=0700,{options}")).unwrap();
    // SAFETY: NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            path.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            data.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(format!("mount tmpfs: {}", io::Error::last_os_error()));
    }
    Ok(())
}

/// Uses up every free block and inode of the file system holding `dir` (files named
/// `filler.*`, ignored by the store), as an unprivileged user filling /tmp would.
pub fn fill_disk(dir: &std::path::Path) {
    let mut big = fs::File::create(dir.join("filler.blocks")).expect("room for one filler file");
    let chunk = vec![0x5au8; 4096];
    while big.write_all(&chunk).is_ok() {}
    let _ = big.sync_all();
    for i in 0.. {
        if fs::File::create(dir.join(format!("filler.{i}"))).is_err() {
            break;
        }
    }
    assert!(
        fs::File::create(dir.join("filler.proof")).is_err(),
        "the disk is full"
    );
}

/// Temporary files (`.<name>.<hex>.tmp`) in `dir`.
pub fn temp_files(dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| twofold_core::store::file::temp_target(n).is_some())
        .collect()
}
