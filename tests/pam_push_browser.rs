//! The whole push approval, every part real: `twofold serve`, `twofold enroll --push` pairing
//! the phone page in headless Chromium (tests/web/phone-driver.mjs) from the URL it prints and
//! getting "✓ Notification approved" for the test push, then sign-ins through real libpam with
//! the built module — the page sees the request, types the number from the prompt and approves
//! (PAM_SUCCESS), or reports it as not the user (refused, logged suspicious=yes).
//!
//! Needs node, tests/web/node_modules (npm ci, run here when missing) and Chromium; skips by
//! name without node or Chromium (a failure with CI=true). tests/phone_page.rs tests the page
//! itself in depth; this test is the one where every part is the real one.
mod common;

use common::push::{ServiceHandle, push_config, write_token};
use common::{RHOST, SERVICE};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use twofold_core::push::device::number_shown as number_in;
use twofold_pam_client::{self as client, Message};

const WAIT: Duration = Duration::from_secs(120);

/// The phone: the page in headless Chromium, one JSON line in, one out.
struct Phone {
    child: Child,
    stdin: ChildStdin,
    replies: mpsc::Receiver<String>,
}

impl Phone {
    fn start() -> Option<Phone> {
        let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web");
        if !["playwright-core", "axe-core"]
            .iter()
            .all(|p| web.join("node_modules").join(p).is_dir())
        {
            let ok = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&web)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "npm ci in tests/web");
        }
        let shots =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pam-push-browser-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        let mut child = Command::new("node")
            .arg(web.join("phone-driver.mjs"))
            .current_dir(&web)
            .env("SCREENSHOT_DIR", &shots)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .ok()?;
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut phone = Phone {
            child,
            stdin,
            replies,
        };
        let ready = phone.reply();
        assert_eq!(ready["ready"], true, "{ready}");
        Some(phone)
    }

    fn reply(&mut self) -> Value {
        let line = self.replies.recv_timeout(WAIT).expect("the phone answered");
        serde_json::from_str(&line).expect("JSON from the phone")
    }

    fn ask(&mut self, msg: Value) -> Value {
        writeln!(self.stdin, "{msg}").unwrap();
        let reply = self.reply();
        assert_eq!(reply["ok"], true, "{msg} -> {reply}");
        reply
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{}", json!({"cmd": "quit"}));
        for _ in 0..300 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn enroll_push_and_sign_in_with_the_real_page_in_chromium() {
    let name = "enroll_push_and_sign_in_with_the_real_page_in_chromium";
    if !have("node", "--version") || !Path::new("/usr/bin/chromium").is_file() {
        common::skip(name, "node or /usr/bin/chromium missing");
        return;
    }
    let service = ServiceHandle::real();
    let host = common::Host::new();
    let token_path = host.root.join("host-token");
    write_token(&token_path, &service.token);
    host.configure(&push_config(&service.url, &token_path, ""));
    host.enroll("alice");
    let mut phone = Phone::start().expect("start the phone driver");

    // `twofold enroll --push alice`: the QR's URL, the phone pairs, the test push, approved.
    let mut enroll = Command::new(env!("CARGO_BIN_EXE_twofold"))
        .arg("--config")
        .arg(&host.config_path)
        .args(["enroll", "--push", "alice", "--qr", "none"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("twofold enroll --push");
    let (tx, lines) = mpsc::channel();
    let out = enroll.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut transcript = Vec::new();
    let next_line = |what: &dyn Fn(&str) -> bool, transcript: &mut Vec<String>| loop {
        let line = lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("enroll --push printed: {transcript:#?}"));
        transcript.push(line.clone());
        if what(&line) {
            return line;
        }
    };
    let url = next_line(&|l| l.contains("/pair#p="), &mut transcript);
    phone.ask(json!({"cmd": "pair", "url": url.trim(), "device_name": "Chromium test phone"}));
    let asks = next_line(&|l| number_in(l).is_some(), &mut transcript);
    let number = number_in(&asks).unwrap().to_string();
    let answered = phone.ask(json!({"cmd": "answer", "decision": "approve", "number": number}));
    // The page claims nothing until the host says; the test push reads as a test.
    assert_ne!(answered["result"], "Approved ✓");
    assert_eq!(answered["user"], "alice");
    assert_eq!(answered["service"], "Test notification");
    next_line(&|l| l.contains("Notification approved"), &mut transcript);
    let verdict = phone.ask(json!({"cmd": "verdict"}));
    assert_eq!(
        verdict["result"], "Test approved ✓ — your computer finishes the setup.",
        "{verdict}"
    );
    assert!(enroll.wait().unwrap().success(), "{transcript:#?}");
    eprintln!("enroll --push:\n{}", transcript.join("\n"));

    // Sign-ins through libpam: the phone acts when the prompt shows the number.
    let sign_in = |phone: &mut Phone, decision: &str| {
        let mut seen = Vec::new();
        let mut responder = |msg: Message<'_>| {
            let (text, prompt) = match msg {
                Message::PromptEchoOff(t) | Message::PromptEchoOn(t) => (t, true),
                Message::ErrorMsg(t) | Message::TextInfo(t) => (t, false),
            };
            seen.push(text.to_string());
            if let Some(n) = number_in(text) {
                let n = n.to_string();
                let wrong = if n == "42" { "43" } else { "42" };
                let number = match decision {
                    "approve" => n.as_str(),
                    "wrong" => wrong,
                    _ => "",
                };
                let decision = if decision == "wrong" {
                    "approve"
                } else {
                    decision
                };
                let reply =
                    phone.ask(json!({"cmd": "answer", "decision": decision, "number": number}));
                assert_eq!(reply["service"], SERVICE);
                assert_eq!(reply["rhost"], RHOST);
            }
            prompt.then(Vec::new) // Enter
        };
        let request = client::SignIn {
            service: SERVICE,
            user: b"alice",
            confdir: &host.pamd,
            rhost: Some(RHOST),
            tty: None,
            flags: 0,
        };
        let outcome = client::authenticate(&request, &mut responder).expect("sign-in attempted");
        (outcome.name, seen)
    };
    let (outcome, seen) = sign_in(&mut phone, "approve");
    assert_eq!(outcome, "PAM_SUCCESS", "{seen:#?}");
    eprintln!("approved sign-in prompt: {seen:?}");
    // What the phone shows is the host's verdict (posted after it verified the answer).
    let verdict = phone.ask(json!({"cmd": "verdict"}));
    assert_eq!(verdict["state"], "approved", "{verdict}");
    assert_eq!(verdict["result"], "Signed in ✓", "{verdict}");
    // A wrong number typed on the phone: the terminal and the phone both say it did not match.
    let (outcome, seen) = sign_in(&mut phone, "wrong");
    assert_ne!(outcome, "PAM_SUCCESS", "{seen:#?}");
    let said = seen
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        said.contains("The number typed on your phone was not"),
        "{seen:#?}"
    );
    let verdict = phone.ask(json!({"cmd": "verdict"}));
    assert_eq!(verdict["state"], "number_mismatch", "{verdict}");
    let shown = verdict["result"].as_str().unwrap_or_default();
    assert!(
        shown.starts_with("Refused — the number did not match."),
        "{verdict}"
    );
    // "This wasn't me": refused, logged as suspicious (push is then suspended, and a denial
    // would bring back-off: one refusal per run is all the module will push).
    let (outcome, seen) = sign_in(&mut phone, "report");
    assert_ne!(outcome, "PAM_SUCCESS", "{seen:#?}");
    // No [alerts] here: the phone must not say somebody was alerted.
    let verdict = phone.ask(json!({"cmd": "verdict"}));
    assert_eq!(verdict["state"], "reported", "{verdict}");
    let shown = verdict["result"].as_str().unwrap_or_default();
    assert!(
        shown.contains("No alert went out automatically"),
        "{verdict}"
    );
    assert!(!shown.contains("has been alerted"), "{verdict}");
    let audit = std::fs::read_to_string(&host.audit_path).unwrap_or_default();
    eprintln!("audit:\n{audit}");
    assert!(audit.contains("reason=push_approved"), "{audit}");
    assert!(audit.contains("suspicious=yes"), "{audit}");
}
