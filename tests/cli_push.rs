//! `twofold enroll --push` and `twofold devices`: pairing a phone through the approval service
//! (the proof checked on the host), the test push, removing a device.
mod cli_support;
mod common;

use cli_support::{Env, write_private};
use common::push::{ServiceHandle, number_in};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use twofold_core::push::device::TestDevice;
use twofold_core::push::protocol::{DecisionKind, from_b64u};

fn env_for(service: &ServiceHandle) -> Env {
    let env = Env::with_config_extra("");
    let token = env.path().join("host-token");
    write_private(&token, &format!("{}\n", service.token));
    let push = common::push::push_config(
        &service.url,
        &token,
        "page_url = \"https://phone.example.org/\"",
    );
    let text = std::fs::read_to_string(&env.config).unwrap();
    write_private(&env.config, &format!("{text}\n{push}"));
    env.enroll_json("alice", &[]);
    env
}

/// Runs `enroll --push alice`, feeding its stdout lines to a channel.
fn start(env: &Env) -> (Child, mpsc::Receiver<String>) {
    let mut cmd = env.command(&["enroll", "--push", "alice", "--qr", "none"]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start twofold");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn wait_line(rx: &mpsc::Receiver<String>, what: impl Fn(&str) -> bool) -> String {
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(15))
            .expect("the command printed the expected line");
        if what(&line) {
            return line;
        }
    }
}

/// The pairing id and secret from the printed page URL.
fn fragment(line: &str) -> (String, Vec<u8>) {
    let (base, frag) = line.split_once('#').expect("a fragment");
    assert_eq!(base, "https://phone.example.org/pair");
    let field = |k: &str| {
        frag.split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("{k}= in {line}"))
            .to_string()
    };
    assert_eq!(field("u"), "alice");
    assert_eq!(field("h"), "testhost");
    (field("p"), from_b64u(&field("k")).expect("b64u secret"))
}

fn finish(child: Child, rx: mpsc::Receiver<String>) -> (Option<i32>, String, String) {
    let out = child.wait_with_output().unwrap();
    // Every line, up to the reader's end of file (the process has exited): try_iter() here
    // could miss the last lines the reader thread had not passed on yet.
    let rest: Vec<String> = rx.iter().collect();
    (
        out.status.code(),
        rest.join("\n"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn enroll_push_pairs_the_phone_and_the_test_push_is_approved() {
    let service = ServiceHandle::real();
    let env = env_for(&service);
    let (child, rx) = start(&env);
    let url = wait_line(&rx, |l| l.contains("/pair#"));
    let (pairing_id, secret) = fragment(&url);
    let mut phone = TestDevice::new("new").unwrap();
    phone
        .pair(&service.as_device(), &pairing_id, &secret)
        .unwrap();
    let line = wait_line(&rx, |l| l.contains("with number "));
    let number = number_in(&line).expect("a number");
    let pending = phone
        .pending(&service.as_device(), cli_support::now())
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].service, "twofold-enroll");
    phone
        .answer(
            &service.as_device(),
            &pending[0],
            DecisionKind::Approve,
            &number.to_string(),
            cli_support::now(),
        )
        .unwrap();
    let (code, rest, stderr) = finish(child, rx);
    assert_eq!(code, Some(0), "{rest}\n{stderr}");
    assert!(rest.contains("✓ Notification approved"), "{rest}");
    let devices = env
        .run(&["devices", "alice", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(devices[0]["id"], phone.id.as_str());
    assert_eq!(devices[0]["public_key"], phone.public_key_b64u().as_str());
    let status = env.run(&["status", "alice"]);
    status.expect_code(0);
    assert!(
        status.stdout.contains("push devices: 1 active"),
        "{}",
        status.stdout
    );
}

#[test]
fn a_denied_test_push_undoes_the_pairing() {
    let service = ServiceHandle::real();
    let env = env_for(&service);
    let (child, rx) = start(&env);
    let url = wait_line(&rx, |l| l.contains("/pair#"));
    let (pairing_id, secret) = fragment(&url);
    let mut phone = TestDevice::new("new").unwrap();
    phone
        .pair(&service.as_device(), &pairing_id, &secret)
        .unwrap();
    wait_line(&rx, |l| l.contains("with number "));
    let pending = phone
        .pending(&service.as_device(), cli_support::now())
        .unwrap();
    phone
        .answer(
            &service.as_device(),
            &pending[0],
            DecisionKind::Deny,
            "",
            cli_support::now(),
        )
        .unwrap();
    let (code, rest, stderr) = finish(child, rx);
    assert_eq!(code, Some(1), "{rest}\n{stderr}");
    assert!(stderr.contains("the pairing was undone"), "{stderr}");
    let record = env
        .store()
        .load_record(&common::user_name("alice"))
        .unwrap()
        .unwrap();
    assert!(
        record.devices.is_empty(),
        "the denied phone is not in the record"
    );
    // The service forgot it too: its signed requests are refused.
    assert!(
        phone
            .pending(&service.as_device(), cli_support::now())
            .is_err(),
        "the service still knows the device"
    );
}

#[test]
fn a_pairing_whose_proof_does_not_match_is_refused() {
    let service = ServiceHandle::real();
    let env = env_for(&service);
    let (child, rx) = start(&env);
    let url = wait_line(&rx, |l| l.contains("/pair#"));
    let (pairing_id, secret) = fragment(&url);
    // Someone who saw the pairing id but not the secret: the service refuses the completion.
    let mut intruder = TestDevice::new("x").unwrap();
    let refused = intruder.pair(&service.as_device(), &pairing_id, &[0u8; 32]);
    assert!(
        matches!(
            refused,
            Err(twofold_core::push::service::ServiceError::Unauthorized(403))
        ),
        "{:?}",
        refused.err()
    );
    // The service itself (it holds the completion key, not the secret) completes it with a
    // made-up proof: the host's own proof check refuses it.
    intruder
        .pair_with_forged_proof(&service.as_device(), &pairing_id, &secret, &[0u8; 32])
        .unwrap();
    let (code, rest, stderr) = finish(child, rx);
    assert_eq!(code, Some(1), "{rest}");
    assert!(stderr.contains("pairing proof does not match"), "{stderr}");
    let record = env
        .store()
        .load_record(&common::user_name("alice"))
        .unwrap()
        .unwrap();
    assert!(record.devices.is_empty(), "nothing saved");
}

#[test]
fn enroll_push_needs_an_enrolled_user_and_a_configured_service() {
    let env = Env::new();
    let out = env.run(&["enroll", "--push", "bob"]);
    out.expect_code(1);
    assert!(out.stderr.contains("not enrolled"), "{}", out.stderr);
    env.enroll_json("bob", &[]);
    let out = env.run(&["enroll", "--push", "bob"]);
    out.expect_code(1);
    assert!(out.stderr.contains("[push] url"), "{}", out.stderr);
}

#[test]
fn a_removed_device_is_kept_as_removed() {
    let service = ServiceHandle::real();
    let env = env_for(&service);
    let phone = TestDevice::new("dev-9").unwrap();
    let store = env.store();
    let name = common::user_name("alice");
    let mut record = store.load_record(&name).unwrap().unwrap();
    record.devices.push(phone.record_entry(cli_support::now()));
    let lock = store.lock(&name).unwrap();
    store.save_record(&name, &lock, &record).unwrap();
    drop(lock);
    env.run(&["devices", "alice", "--remove", "dev-9"])
        .expect_code(0);
    let devices = env
        .run(&["devices", "alice", "--json"])
        .expect_code(0)
        .json();
    assert!(devices[0]["removed"].as_u64().is_some(), "{devices}");
    env.run(&["devices", "alice", "--remove", "dev-9"])
        .expect_code(1);
}

#[test]
fn check_config_checks_the_host_token_when_push_is_on() {
    let env = Env::with_config_extra(
        "[push]\nurl = \"https://push.example.org\"\nhost_token_file = \"/nonexistent/host-token\"\n",
    );
    let out = env.run(&["check-config"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("push.host_token_file"),
        "{}",
        out.stderr
    );
    let env = Env::with_config_extra("[push]\nurl = \"http://push.example.org\"\n");
    let out = env.run(&["check-config"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("push.url: must be https://"),
        "{}",
        out.stderr
    );
}
