//! The phone page (`web/`): its protocol module under node's test runner, the interop vectors
//! (`tests/web/vectors.json`) from the Rust side, and the real page in headless Chromium
//! (`tests/web/browser.test.mjs`, playwright-core driving Debian's /usr/bin/chromium): pair from
//! the QR URL, see the request with its context, type the number, approve — the waiting host
//! gets a signed decision that verifies.
//!
//! Needs node (with npm) and Chromium; without them each test prints `SKIP <name>: <why>` and
//! passes, except with CI=true, where a skip is a failure. `npm ci` runs in tests/web when its
//! node_modules is missing (package-lock.json pins playwright-core).
mod common;

use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn web_tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web")
}

/// `node --version` works.
fn have_node() -> bool {
    Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Longest a command may run before it is killed (with everything it started): generous for a
/// slow 2-core machine, but a hung browser must not hang the test suite.
const COMMAND_LIMIT: Duration = Duration::from_secs(20 * 60);

/// Runs a command in tests/web in a process group of its own, shows its output (always: it
/// names the browser and the screenshots), and panics with it when the command fails or hangs.
fn run(what: &str, cmd: &mut Command) {
    let logs = tempfile::tempdir().expect("tempdir");
    let out_path = logs.path().join("out");
    let stdout = std::fs::File::create(&out_path).expect("log file");
    let stderr = stdout.try_clone().expect("log file");
    let mut child = cmd
        .current_dir(web_tests_dir())
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > COMMAND_LIMIT {
            if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = std::fs::read(&out_path).unwrap_or_default();
    let _ = std::io::stderr().write_all(&output);
    match status {
        Some(s) => assert!(s.success(), "{what} failed ({s})"),
        None => panic!("{what}: still running after {COMMAND_LIMIT:?}, killed"),
    }
}

fn node_test(files: &[&str]) -> Command {
    let mut cmd = Command::new("node");
    cmd.arg("--test").arg("--test-reporter=spec").args(files);
    cmd
}

#[test]
fn protocol_module_and_vectors_in_node() {
    if !have_node() {
        common::skip(
            "protocol_module_and_vectors_in_node",
            "node is not installed",
        );
        return;
    }
    run(
        "node --test protocol.test.mjs",
        &mut node_test(&["protocol.test.mjs"]),
    );
}

#[test]
fn phone_page_in_headless_chromium() {
    if !have_node() {
        common::skip("phone_page_in_headless_chromium", "node is not installed");
        return;
    }
    let chromium = chromium();
    if !chromium.is_file() {
        common::skip(
            "phone_page_in_headless_chromium",
            &format!(
                "{} not found (apt-get install chromium chromium-driver)",
                chromium.display()
            ),
        );
        return;
    }
    let dir = web_tests_dir();
    if !dir.join("node_modules/playwright-core").is_dir() {
        run(
            "npm ci in tests/web",
            Command::new("npm").args(["ci", "--no-audit", "--no-fund"]),
        );
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    run(
        "node --test browser.test.mjs",
        node_test(&["browser.test.mjs"])
            .env("CHROMIUM", &chromium)
            .env("TWOFOLD_BIN", env!("CARGO_BIN_EXE_twofold"))
            .env(
                "TWOFOLD_SCREENSHOT_DIR",
                target.join("phone-page-screenshots"),
            ),
    );
}

// ---------------------------------------------------------------- vectors, from Rust

/// Unpadded base64url, written here so the check does not share code with the page.
fn b64u(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// The page's canonical strings and challenge hashes, rebuilt from the vectors' fields in Rust
/// (the host builds them the same way). The signatures are checked by node's crypto in
/// protocol.test.mjs; the module's verifier should check them too (they are in the file).
#[test]
fn vectors_challenge_hashes_and_messages_match_from_rust() {
    let text = std::fs::read_to_string(web_tests_dir().join("vectors.json")).expect("vectors.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("vectors.json is JSON");
    let s = |x: &serde_json::Value| x.as_str().expect("string").to_owned();
    let challenges = v["challenges"].as_array().expect("challenges");
    assert!(challenges.len() >= 3);
    for c in challenges {
        let ch = &c["challenge"];
        let message = [
            "twofold-challenge-v1".to_owned(),
            s(&ch["id"]),
            s(&ch["nonce"]),
            s(&ch["user"]),
            s(&ch["host"]),
            s(&ch["service"]),
            s(&ch["rhost"]),
            ch["created"].as_u64().expect("created").to_string(),
            ch["expires"].as_u64().expect("expires").to_string(),
        ]
        .join("\n");
        assert_eq!(message, s(&c["challenge_message"]));
        let hash = b64u(&Sha256::digest(message.as_bytes()));
        assert_eq!(hash, s(&c["challenge_hash_b64u"]), "{}", s(&c["name"]));
        let d = &c["decision_body"];
        let decision = [
            "twofold-decision-v1".to_owned(),
            hash,
            s(&d["decision"]),
            s(&d["number"]),
            s(&d["device_id"]),
            d["decided_at"].as_u64().expect("decided_at").to_string(),
        ]
        .join("\n");
        assert_eq!(decision, s(&c["decision_message"]));
        assert_eq!(s(&d["signature"]).len(), 86, "64 bytes in b64u");
    }
    let key = s(&v["device_key"]["public_key_b64u"]);
    assert_eq!(key.len(), 87, "65 bytes in b64u");
    assert!(key.starts_with('B'), "0x04 prefix: uncompressed point");
    assert_eq!(b64u(&[0xfb, 0xff]), "-_8");
}
