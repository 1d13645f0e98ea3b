//! The phone page (`web/`): its protocol module under node's test runner, the interop vectors
//! (`tests/web/vectors.json`) from the Rust side, and the real page in headless Chromium
//! (`tests/web/browser.test.mjs`, playwright-core driving Debian's /usr/bin/chromium): pair from
//! the QR URL, see the request with its context, type the number, approve — the waiting host
//! gets a signed decision that verifies.
//!
//! With a built `twofold` (cargo provides it), the browser test runs against the real
//! `twofold serve`. Needs node (with npm) and Chromium; without them each test prints `SKIP <name>: <why>` and
//! passes, except with CI=true, where a skip is a failure. `npm ci` runs in tests/web when its
//! node_modules is missing (package-lock.json pins playwright-core).
mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
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

/// One browser suite at a time: two Chromiums side by side on a 2-core machine only slow both.
static BROWSER: Mutex<()> = Mutex::new(());

/// Runs tests/web/browser.test.mjs against `service` ("real": the built `twofold serve`;
/// "fake": tests/web/fake-service.mjs, the contract in node, which checks the page's device
/// signatures with OpenSSL rather than p256).
fn browser_suite(test: &str, service: &str) {
    if !have_node() {
        common::skip(test, "node is not installed");
        return;
    }
    let chromium = chromium();
    if !chromium.is_file() {
        common::skip(
            test,
            &format!(
                "{} not found (apt-get install chromium chromium-driver)",
                chromium.display()
            ),
        );
        return;
    }
    let _one_at_a_time = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = web_tests_dir();
    let installed = ["playwright-core", "axe-core"]
        .iter()
        .all(|p| dir.join("node_modules").join(p).is_dir());
    if !installed {
        run(
            "npm ci in tests/web",
            Command::new("npm").args(["ci", "--no-audit", "--no-fund"]),
        );
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let mut cmd = node_test(&["browser.test.mjs"]);
    cmd.env("CHROMIUM", &chromium)
        .env("TWOFOLD_SERVICE", service)
        .env(
            "TWOFOLD_SCREENSHOT_DIR",
            target.join(format!("phone-page-screenshots-{service}")),
        );
    if service == "real" {
        cmd.env("TWOFOLD_BIN", env!("CARGO_BIN_EXE_twofold"));
    }
    run(
        &format!("node --test browser.test.mjs ({service} service)"),
        &mut cmd,
    );
}

/// The page in headless Chromium against the real `twofold serve`.
#[test]
fn phone_page_in_headless_chromium() {
    browser_suite("phone_page_in_headless_chromium", "real");
}

/// The same suite against the contract's node implementation.
#[test]
fn phone_page_in_headless_chromium_against_the_fake_service() {
    browser_suite(
        "phone_page_in_headless_chromium_against_the_fake_service",
        "fake",
    );
}

// ---------------------------------------------------------------- vectors, from Rust

fn b64u(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64u(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

fn text(v: &Value) -> String {
    v.as_str().expect("string").to_owned()
}

/// Whether a b64u P1363 signature verifies with the p256 crate (what the service and the host
/// verify with): high-S accepted, as WebCrypto does not normalise.
fn p256_verifies(key: &VerifyingKey, message: &str, signature: &str) -> bool {
    let raw = unb64u(signature);
    assert_eq!(raw.len(), 64, "P1363 r||s");
    let sig = Signature::from_slice(&raw).expect("signature scalars in range");
    key.verify(message.as_bytes(), &sig).is_ok()
}

/// The page's vectors (`tests/web/vectors.json`, made by web/protocol.js on WebCrypto), rebuilt
/// and verified from Rust: canonical strings, challenge hashes, the pairing proof, and every
/// signature (both halves of s) with p256 — the crate `twofold serve` and the host use.
#[test]
fn page_vectors_verify_in_rust() {
    let json = std::fs::read_to_string(web_tests_dir().join("vectors.json")).expect("vectors.json");
    let v: Value = serde_json::from_str(&json).expect("vectors.json is JSON");

    let public = unb64u(&text(&v["device_key"]["public_key_b64u"]));
    assert_eq!(public.len(), 65);
    assert_eq!(public[0], 4, "uncompressed SEC1 point");
    let key = VerifyingKey::from_sec1_bytes(&public).expect("point on P-256");

    // The pairing proof: HMAC-SHA256(secret, "twofold-pairing-v1\n{pairing_id}\n{public_key}").
    let pairing = &v["pairing"];
    let message = format!(
        "twofold-pairing-v1\n{}\n{}",
        text(&pairing["pairing_id"]),
        text(&pairing["public_key_b64u"])
    );
    assert_eq!(message, text(&pairing["message"]));
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(&unb64u(&text(&pairing["pairing_secret_b64u"])))
            .expect("HMAC key");
    mac.update(message.as_bytes());
    assert_eq!(
        b64u(&mac.finalize().into_bytes()),
        text(&pairing["proof_b64u"])
    );

    // The pairing completion's MAC, as the host's code makes it.
    let secret = unb64u(&text(&pairing["pairing_secret_b64u"]));
    assert_eq!(
        b64u(&twofold_core::push::protocol::pairing_completion_mac(
            &secret,
            &text(&pairing["pairing_id"]),
            text(&pairing["completion_body"]).as_bytes(),
        )),
        text(&pairing["completion_mac_b64u"])
    );

    // Device requests (v2: counter and body hash), as the host's code builds the message.
    for r in [&v["device_request"], &v["device_request_with_body"]] {
        let message = twofold_core::push::protocol::device_request_message(
            &text(&r["method"]),
            &text(&r["path"]),
            &text(&r["device_id"]),
            r["timestamp"].as_u64().expect("timestamp"),
            r["counter"].as_u64().expect("counter"),
            text(&r["body"]).as_bytes(),
        );
        assert_eq!(message, text(&r["message"]));
        assert!(p256_verifies(&key, &message, &text(&r["signature_b64u"])));
    }

    // Challenges and decisions.
    let challenges = v["challenges"].as_array().expect("challenges");
    assert!(challenges.len() >= 3);
    for c in challenges {
        let name = text(&c["name"]);
        let ch = &c["challenge"];
        let message = [
            "twofold-challenge-v1".to_owned(),
            text(&ch["id"]),
            text(&ch["nonce"]),
            text(&ch["user"]),
            text(&ch["host"]),
            text(&ch["service"]),
            text(&ch["rhost"]),
            ch["created"].as_u64().expect("created").to_string(),
            ch["expires"].as_u64().expect("expires").to_string(),
        ]
        .join("\n");
        assert_eq!(message, text(&c["challenge_message"]), "{name}");
        let hash = b64u(&Sha256::digest(message.as_bytes()));
        assert_eq!(hash, text(&c["challenge_hash_b64u"]), "{name}");
        let d = &c["decision_body"];
        let decision = [
            "twofold-decision-v1".to_owned(),
            hash,
            text(&d["decision"]),
            text(&d["number"]),
            text(&d["device_id"]),
            d["decided_at"].as_u64().expect("decided_at").to_string(),
        ]
        .join("\n");
        assert_eq!(decision, text(&c["decision_message"]), "{name}");
        assert!(
            p256_verifies(&key, &decision, &text(&d["signature"])),
            "{name}"
        );
        assert!(
            p256_verifies(&key, &decision, &text(&c["signature_other_s"])),
            "{name}: the other s (n - s) verifies too"
        );
        assert!(
            !p256_verifies(
                &key,
                &text(&c["must_not_verify_message"]),
                &text(&d["signature"])
            ),
            "{name}: a changed message must not verify"
        );
    }
}

/// The same vectors through the host's own verifier (`twofold_core::push::verify`, what the module
/// runs before it says "approved"): every signature the page made — and its high-S twin — is
/// accepted with the verdict its decision says; a wrong number, another device or a changed
/// challenge is refused.
#[test]
fn page_vectors_pass_the_hosts_verifier() {
    use twofold_core::factor::device::Device;
    use twofold_core::push::protocol::{Challenge, SignedDecision, pairing_proof_ok};
    use twofold_core::push::verify::{Invalid, PushVerdict, verify};

    let json = std::fs::read_to_string(web_tests_dir().join("vectors.json")).expect("vectors.json");
    let v: Value = serde_json::from_str(&json).expect("vectors.json is JSON");
    let p = &v["pairing"];
    assert!(pairing_proof_ok(
        &unb64u(&text(&p["pairing_secret_b64u"])),
        &text(&p["pairing_id"]),
        &text(&p["public_key_b64u"]),
        &text(&p["proof_b64u"]),
    ));
    let device = Device {
        id: text(&v["device_key"]["device_id"]),
        public_key: text(&v["device_key"]["public_key_b64u"]),
        name: "vector phone".into(),
        added: 0,
        removed: None,
    };
    let devices = [device];
    for c in v["challenges"].as_array().expect("challenges") {
        let name = text(&c["name"]);
        let challenge: Challenge =
            serde_json::from_value(c["challenge"].clone()).expect("challenge");
        let decision: SignedDecision =
            serde_json::from_value(c["decision_body"].clone()).expect("decision body");
        let now = challenge.created + 1;
        let number: u8 = if decision.number.is_empty() {
            42
        } else {
            decision.number.parse().expect("two digits")
        };
        let expected = match decision.decision.as_str() {
            "approve" => PushVerdict::Approved,
            "deny" => PushVerdict::Denied,
            _ => PushVerdict::Reported,
        };
        assert_eq!(
            verify(&decision, &challenge, number, &devices, now),
            expected,
            "{name}"
        );
        let twin = SignedDecision {
            signature: text(&c["signature_other_s"]),
            ..decision.clone()
        };
        assert_eq!(
            verify(&twin, &challenge, number, &devices, now),
            expected,
            "{name}: high-S twin"
        );
        let changed = Challenge {
            rhost: "198.51.100.99".into(),
            ..challenge.clone()
        };
        assert_eq!(
            verify(&decision, &changed, number, &devices, now),
            PushVerdict::Invalid(Invalid::BadSignature),
            "{name}: another context"
        );
        if expected == PushVerdict::Approved {
            assert_eq!(
                verify(&decision, &challenge, number + 1, &devices, now),
                PushVerdict::Invalid(Invalid::NumberMismatch),
                "{name}: the host showed another number"
            );
        }
        assert_eq!(
            verify(&decision, &challenge, number, &[], now),
            PushVerdict::Invalid(Invalid::UnknownDevice),
            "{name}: not in the user's record"
        );
    }
}
