//! Sign-in through the real libpam stack as root: `pamtester` loads the built module from a
//! temporary pam.d that is bound over /etc/pam.d inside a private mount namespace, so the host's
//! /etc/pam.d is never touched. The code comes from `oathtool`, an independent TOTP
//! implementation, so this also proves interoperability with what phone apps compute.
//!
//! Needs root, `unshare`, `pamtester` and `oathtool`. Without them the tests print
//! `SKIP <test>: <why>` and pass, unless `CI=true`, where a skip is a failure.

mod common;

use common::{module_path, skip};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A fixed 160-bit key (RFC 6238's "12345678901234567890").
const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
/// Exists on every system; the module's state lives in the temporary directory, not in $HOME.
const USER: &str = "root";

fn installed(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// `None` when the test can run; otherwise it has been reported as skipped.
fn can_run(test: &str) -> Option<()> {
    if !rustix::process::geteuid().is_root() {
        skip(test, "needs root");
        return None;
    }
    for tool in ["unshare", "pamtester", "oathtool"] {
        if !installed(tool) {
            skip(test, &format!("{tool} not installed"));
            return None;
        }
    }
    Some(())
}

fn output_text(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A user enrolled through the CLI in a temporary state directory, and a temporary pam.d whose
/// one service uses the built module.
struct Setup {
    dir: tempfile::TempDir,
    pam_d: PathBuf,
    service: String,
}

impl Setup {
    fn new(test: &str) -> Setup {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config = dir.path().join("twofold.toml");
        std::fs::write(
            &config,
            format!(
                "state_dir = \"{}\"\naudit_log = \"{}\"\n\n[rate_limit]\nfailure_delay_ms = 0\n",
                dir.path().join("state").display(),
                dir.path().join("audit.log").display()
            ),
        )
        .expect("write twofold.toml");

        let enroll = Command::new(env!("CARGO_BIN_EXE_twofold"))
            .arg("--config")
            .arg(&config)
            .args(["enroll", USER, "--secret", SECRET, "--no-verify", "--json"])
            .args(["--qr", "none"])
            .output()
            .expect("run twofold enroll");
        assert!(
            enroll.status.success(),
            "twofold enroll failed: {}",
            output_text(&enroll)
        );

        // Unique per test process and test, so nothing can collide with a real service; no
        // digits, so a code found in the audit log cannot be part of the service name.
        let pid: String = std::process::id()
            .to_string()
            .bytes()
            .map(|d| char::from(b'a' + (d - b'0')))
            .collect();
        let service = format!("twofold-test-{pid}-{test}");
        let pam_d = dir.path().join("pam.d");
        std::fs::create_dir(&pam_d).expect("create pam.d");
        std::fs::write(
            pam_d.join(&service),
            format!(
                "auth required {} config={}\n",
                module_path().display(),
                config.display()
            ),
        )
        .expect("write the pam.d service");
        Setup {
            dir,
            pam_d,
            service,
        }
    }

    /// `pamtester SERVICE USER authenticate` with `answer` on stdin, inside a fresh private
    /// mount namespace where the temporary pam.d is bound over /etc/pam.d.
    fn sign_in(&self, answer: &str) -> Output {
        let script = r#"set -e
mount --bind "$1" /etc/pam.d
test -f "/etc/pam.d/$2" || { echo "bind mount of $1 over /etc/pam.d did not take effect" >&2; exit 99; }
exec pamtester "$2" "$3" authenticate"#;
        let mut child = Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                "sh",
            ])
            .arg(&self.pam_d)
            .args([self.service.as_str(), USER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run unshare");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{answer}\n").as_bytes())
            .expect("write the answer");
        let out = child.wait_with_output().expect("wait for pamtester");
        assert_ne!(
            out.status.code(),
            Some(99),
            "namespace setup failed: {}",
            output_text(&out)
        );
        out
    }

    fn audit_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("audit.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The namespace kept everything private: the host's /etc/pam.d never saw the service.
    fn assert_host_pam_d_untouched(&self, before: &[String]) {
        assert!(
            !Path::new("/etc/pam.d").join(&self.service).exists(),
            "the test service leaked into the host's /etc/pam.d"
        );
        assert_eq!(before, host_pam_d(), "the host's /etc/pam.d changed");
    }
}

/// Names in the host's /etc/pam.d, sorted.
fn host_pam_d() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/etc/pam.d")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The code oathtool, the independent peer implementation, computes for `unix_time` (now if `None`).
fn oathtool_code(unix_time: Option<u64>) -> String {
    let mut cmd = Command::new("oathtool");
    cmd.args(["--totp", "-b", SECRET]);
    if let Some(t) = unix_time {
        cmd.arg("-N").arg(format!("@{t}"));
    }
    let out = cmd.output().expect("run oathtool");
    assert!(out.status.success(), "oathtool: {}", output_text(&out));
    let code = String::from_utf8(out.stdout)
        .expect("oathtool prints text")
        .trim()
        .to_string();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "unexpected oathtool output {code:?}"
    );
    code
}

/// pamtester's own report (it writes success to stdout and failure to stderr).
fn report(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn accepted(out: &Output) -> bool {
    out.status.success() && report(out).contains("successfully authenticated")
}

/// Refused by PAM (not a setup error): pamtester reports an authentication failure.
fn refused(out: &Output) -> bool {
    !out.status.success() && report(out).contains("Authentication failure")
}

#[test]
fn pamtester_sign_in_accepts_a_code_once() {
    const TEST: &str = "pamtester_sign_in_accepts_a_code_once";
    if can_run(TEST).is_none() {
        return;
    }
    let before = host_pam_d();
    let setup = Setup::new("once");
    let code = oathtool_code(None);

    let first = setup.sign_in(&code);
    assert!(
        accepted(&first),
        "oathtool's current code was not accepted: {}\naudit: {:?}",
        output_text(&first),
        setup.audit_lines()
    );

    let replay = setup.sign_in(&code);
    assert!(
        refused(&replay),
        "the same code was not refused the second time: {}",
        output_text(&replay)
    );

    let audit = setup.audit_lines();
    assert_eq!(audit.len(), 2, "one audit line per sign-in: {audit:?}");
    assert!(
        audit[0].contains("result=success") && audit[0].contains("method=totp"),
        "{audit:?}"
    );
    assert!(
        audit[1].contains("result=failure") && audit[1].contains("reason=replayed_code"),
        "{audit:?}"
    );
    assert!(
        audit.iter().all(|line| !line.contains(code.as_str())),
        "the code must never be logged: {audit:?}"
    );
    setup.assert_host_pam_d_untouched(&before);
}

#[test]
fn pamtester_sign_in_refuses_a_wrong_code() {
    const TEST: &str = "pamtester_sign_in_refuses_a_wrong_code";
    if can_run(TEST).is_none() {
        return;
    }
    let before = host_pam_d();
    let setup = Setup::new("wrong");
    // Six digits that no step in the accepted window (now ± one 30 s step, with margin) has.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let window: Vec<String> = (0..5)
        .map(|i| oathtool_code(Some(now + i * 30 - 60)))
        .collect();
    let wrong = (0..)
        .map(|n: u32| format!("{n:06}"))
        .find(|c| !window.contains(c))
        .expect("a code outside the window");

    let out = setup.sign_in(&wrong);
    assert!(
        refused(&out),
        "a wrong code was not refused: {}",
        output_text(&out)
    );
    let audit = setup.audit_lines();
    assert!(
        audit.len() == 1 && audit[0].contains("reason=wrong_code"),
        "{audit:?}"
    );
    setup.assert_host_pam_d_untouched(&before);
}
