//! Shared helpers for the `twofold` command-line tests (tests/cli.rs, tests/qr_scan.rs):
//! a private temporary installation (configuration + state directory), running the binary,
//! external tools (oathtool, zbarimg, google-authenticator, python3) with SKIP handling.
#![allow(dead_code)] // each test crate uses a different subset

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

/// The binary under test.
pub const TWOFOLD: &str = env!("CARGO_BIN_EXE_twofold");

/// A base32 SHA-1 sized key (20 bytes) the tests know in advance.
pub const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
/// A base32 SHA-256 sized key (32 bytes).
pub const SECRET_32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA";

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// True if `tool` is on PATH. Otherwise prints `SKIP <test>: <tool> not installed` and returns
/// false, or panics when the environment variable CI is `true` (a CI run must not skip).
pub fn have_tool(tool: &str, test: &str) -> bool {
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(tool))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    });
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test}: {tool} not installed (CI=true: tests must not be skipped)");
        }
        println!("SKIP {test}: {tool} not installed");
    }
    found
}

/// What a finished `twofold` run left behind.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics with both streams unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.status.code(),
            Some(code),
            "exit status {:?}, expected {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON value ({e}):\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// A private installation: `<tmp>/twofold.toml` pointing at `<tmp>/state` and `<tmp>/audit.log`.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub state_dir: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        Self::with_config_extra("")
    }

    /// Like [`Env::new`], with `extra` appended to the configuration (sections after the defaults).
    pub fn with_config_extra(extra: &str) -> Env {
        let dir = tempfile::Builder::new()
            .prefix("twofold-cli-")
            .tempdir()
            .expect("temporary directory");
        let state_dir = dir.path().join("state");
        let config = dir.path().join("twofold.toml");
        let text = format!(
            "state_dir = \"{}\"\naudit_log = \"{}\"\n\n[rate_limit]\nfailure_delay_ms = 0\n{extra}",
            state_dir.display(),
            dir.path().join("audit.log").display()
        );
        write_private(&config, &text);
        Env {
            dir,
            config,
            state_dir,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `twofold --config <ours> ARGS...`, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(TWOFOLD);
        cmd.arg("--config").arg(&self.config).args(args);
        cmd.env("TMPDIR", self.dir.path());
        cmd
    }

    /// Runs with stdin closed (not a terminal, immediate end of file).
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, "")
    }

    /// Runs with `input` piped to stdin.
    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        run_command(self.command(args), input)
    }

    /// Enrolls `user` without confirmation and returns the --json output.
    /// Enrolls `user` (any name: `--force`, as the test names are no accounts here).
    pub fn enroll_json(&self, user: &str, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["enroll", user, "--no-verify", "--json", "--force"];
        args.extend_from_slice(extra);
        self.run(&args).expect_code(0).json()
    }

    pub fn record_path(&self, encoded: &str) -> PathBuf {
        self.state_dir.join("users").join(format!("{encoded}.toml"))
    }

    pub fn state_path(&self, encoded: &str) -> PathBuf {
        self.state_dir.join("state").join(format!("{encoded}.toml"))
    }

    /// The library's view of the same state directory.
    pub fn store(&self) -> twofold_core::store::UserStore {
        twofold_core::store::UserStore::open(&self.state_dir).expect("open the state directory")
    }

    /// The configuration, loaded by the library.
    pub fn load_config(&self) -> twofold_core::config::Config {
        twofold_core::config::Config::load(&self.config, true).expect("valid configuration")
    }
}

/// Runs `cmd` with `input` on stdin and collects the output.
pub fn run_command(mut cmd: Command, input: &str) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start the command");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        // The program may exit before reading everything (e.g. after the right code).
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().expect("wait for the command");
    Output {
        status: out.status,
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// Writes a file with mode 0600 regardless of the umask.
pub fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 0600");
}

/// Permission bits of a file or directory.
pub fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Every regular file below `dir`, recursively.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("directory entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            if meta.is_dir() {
                todo.push(path);
            } else if meta.is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// `oathtool --totp[=ALG] -b SECRET` plus `extra`, at time `at` (unix seconds) or now.
/// oathtool is the independent RFC 6238 implementation the tests check twofold against.
pub fn oathtool(secret: &str, extra: &[&str], at: Option<u64>) -> String {
    let mut cmd = Command::new("oathtool");
    cmd.arg("-b").args(extra);
    if let Some(t) = at {
        cmd.arg(format!("--now=@{t}"));
    }
    cmd.arg(secret);
    let out = cmd.output().expect("run oathtool");
    assert!(
        out.status.success(),
        "oathtool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = String::from_utf8(out.stdout)
        .expect("UTF-8")
        .trim()
        .to_string();
    assert!(
        code.len() >= 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "oathtool printed {code:?}"
    );
    code
}

/// A code of `digits` digits that is none of the codes oathtool computes for the five steps
/// around now: certainly wrong, even with clock skew and a step boundary in between.
pub fn wrong_code(secret: &str, extra: &[&str], digits: usize, period: u64) -> String {
    let t = now();
    let near: Vec<String> = (0..5)
        .map(|i| oathtool(secret, extra, Some(t + i * period - 2 * period)))
        .collect();
    (0..10u8)
        .map(|d| char::from(b'0' + d).to_string().repeat(digits))
        .find(|c| !near.contains(c))
        .expect("ten candidates cannot all be near codes")
}

/// The otpauth URI twofold must produce for a user, built independently of the code under test.
pub fn expected_uri(
    account_encoded: &str,
    secret: &str,
    algorithm: &str,
    digits: u8,
    period: u32,
) -> String {
    // Key Uri Format: the defaults every app assumes (SHA1, 6 digits, 30 s) may be left out.
    let mut uri = format!("otpauth://totp/{account_encoded}?secret={secret}&issuer=twofold");
    if algorithm != "SHA1" {
        uri.push_str(&format!("&algorithm={algorithm}"));
    }
    if digits != 6 {
        uri.push_str(&format!("&digits={digits}"));
    }
    if period != 30 {
        uri.push_str(&format!("&period={period}"));
    }
    uri
}
