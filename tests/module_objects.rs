//! The module's two objects, through real libpam: `pam_twofold.so` signs in with app codes on
//! its own; a sign-in whose configuration needs the network or a program (here a text message
//! through a command gateway) is handed, whole, to `pam_twofold_full.so` beside it; without
//! that file such a sign-in is refused before anything is asked. And what each object imports:
//! the one every sign-in loads binds no sockets, resolver, threads or process spawning.

mod common;

use common::sms::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use twofold_core::signin::choice::Choice;
use twofold_pam_client::Message;

/// The built objects copied, under their installed names, into a directory of their own:
/// `pam_twofold.so`, and `pam_twofold_full.so` beside it when `with_full`.
fn installed_copy(host: &Host, dir: &str, with_full: bool) -> PathBuf {
    let dir = host.root.join(dir);
    std::fs::create_dir(&dir).unwrap();
    let module = dir.join("pam_twofold.so");
    std::fs::copy(module_path(), &module).unwrap();
    if with_full {
        std::fs::copy(full_module_path(), dir.join("pam_twofold_full.so")).unwrap();
    }
    host.use_stack(&[format!(
        "auth required {} config={}",
        module.display(),
        host.config_path.display()
    )]);
    module
}

/// `libpam_twofold_full.so`, built beside `libpam_twofold.so`.
fn full_module_path() -> PathBuf {
    let thin = module_path();
    let full = thin.with_file_name("libpam_twofold_full.so");
    assert!(
        full.is_file(),
        "{} is not built (cargo build)",
        full.display()
    );
    full
}

/// Signs in answering prompts in turn; `<sms>` is answered with the code the gateway got.
fn sign_in(host: &Host, gw: &CommandGateway, answers: &[&str]) -> (String, Vec<String>) {
    let mut answers: std::collections::VecDeque<&str> = answers.iter().copied().collect();
    let mut transcript = Vec::new();
    let mut responder = |msg: Message<'_>| -> Option<Vec<u8>> {
        let (tag, text) = match msg {
            Message::PromptEchoOff(t) => ("PROMPT_ECHO_OFF", t),
            Message::PromptEchoOn(t) => ("PROMPT_ECHO_ON", t),
            Message::ErrorMsg(t) => ("ERROR", t),
            Message::TextInfo(t) => ("INFO", t),
        };
        transcript.push(format!("{tag}: {text}"));
        if !tag.starts_with("PROMPT") {
            return None;
        }
        match answers.pop_front()? {
            "<sms>" => Some(gw.last_code().into_bytes()),
            answer => Some(answer.as_bytes().to_vec()),
        }
    };
    let outcome = host.sign_in_with("alice", Some(RHOST), &mut responder);
    (outcome.name.to_string(), transcript)
}

#[test]
fn an_app_code_needs_pam_twofold_so_alone() {
    let host = Host::new();
    let alice = host.enroll("alice");
    installed_copy(&host, "alone", false);
    let code = code_now(&alice.params);

    let (outcome, transcript) = host.sign_in("alice", &[&code]);

    assert_eq!(outcome.name, "PAM_SUCCESS", "{transcript:?}");
    assert_eq!(transcript, vec![CODE_PROMPT]);
    let d = host.last_decision();
    d.assert_decision("alice", "success", "ok");
    assert_eq!(d.get("method"), "totp");
}

#[test]
fn a_text_message_sign_in_is_handed_to_pam_twofold_full_so() {
    let host = Host::new();
    let gw = CommandGateway::install(&host, 0, 0, "");
    host.enroll("alice");
    set_phone(&host, "alice", Some(NUMBER), Some(Choice::Sms));
    installed_copy(&host, "both", true);

    let (outcome, transcript) = sign_in(&host, &gw, &["<sms>"]);

    assert_eq!(outcome, "PAM_SUCCESS", "{transcript:?}");
    assert_eq!(
        gw.numbers(),
        [NUMBER],
        "the gateway ran, from the full module"
    );
    let d = host.last_decision();
    d.assert_decision("alice", "success", "ok");
    assert_eq!(d.get("method"), "sms");
    assert_eq!(
        host.decisions().len(),
        1,
        "one decision line, not one per object"
    );
}

#[test]
fn without_pam_twofold_full_so_such_a_sign_in_is_refused_before_anything_is_asked() {
    let host = Host::new();
    let gw = CommandGateway::install(&host, 0, 0, "");
    host.enroll("alice");
    set_phone(&host, "alice", Some(NUMBER), Some(Choice::Sms));
    installed_copy(&host, "alone", false);

    let (outcome, transcript) = sign_in(&host, &gw, &["<sms>"]);

    assert_eq!(outcome, "PAM_AUTHINFO_UNAVAIL", "{transcript:?}");
    assert!(transcript.is_empty(), "nothing asked: {transcript:?}");
    assert!(gw.numbers().is_empty(), "no text sent");
    assert_eq!(
        host.audit_text(),
        "",
        "the thin module decides nothing, so logs no decision"
    );
}

/// The dynamic symbols an object imports (undefined in its .dynsym), by name.
fn imports(object: &Path) -> Option<Vec<String>> {
    let out = Command::new("readelf")
        .args(["--dyn-syms", "--wide"])
        .arg(object)
        .output()
        .ok()?;
    assert!(out.status.success(), "readelf {}", object.display());
    let text = String::from_utf8(out.stdout).unwrap();
    Some(
        text.lines()
            .filter(|l| l.contains(" UND "))
            .filter_map(|l| l.split_whitespace().nth(7))
            .map(|name| name.split('@').next().unwrap_or(name).to_string())
            .filter(|name| !name.is_empty())
            .collect(),
    )
}

#[test]
fn the_object_every_sign_in_loads_imports_no_network_threads_or_processes() {
    let thin = module_path();
    let Some(thin_imports) = imports(&thin) else {
        skip(
            "the_object_every_sign_in_loads_imports_no_network_threads_or_processes",
            "readelf (binutils) is not installed",
        );
        return;
    };
    let full_imports = imports(&full_module_path()).unwrap();
    let outside = [
        "connect",
        "getaddrinfo",
        "pthread_create",
        "posix_spawnp",
        "fork",
        "execvp",
    ];
    for name in outside {
        assert!(
            full_imports.iter().any(|i| i == name),
            "the full module imports {name} (else this check proves nothing): {full_imports:?}"
        );
        assert!(
            !thin_imports.iter().any(|i| i == name),
            "pam_twofold.so imports {name}: {thin_imports:?}"
        );
    }
    assert!(
        thin_imports.len() * 3 < full_imports.len() * 2,
        "pam_twofold.so binds {} symbols at load, the full module {}",
        thin_imports.len(),
        full_imports.len()
    );
}
