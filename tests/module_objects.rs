//! The module's two objects, through real libpam: `pam_twofold.so` signs in with app codes
//! without ever loading `pam_twofold_outside.so`, even where push, text messages and alerts are
//! configured; a sign-in that sends a text loads it (the gateway program runs through it);
//! without it no text is sent and nobody gets in. And what each object imports: the one every
//! sign-in loads binds no sockets, resolver, threads or process spawning.

mod common;

use common::sms::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use twofold_core::signin::choice::Choice;

/// The built objects copied, under their installed names, into a directory of the host's:
/// `pam_twofold.so`, and `pam_twofold_outside.so` beside it when `with_outside`. The stack
/// names the copy. Returns the path the outside object has (or would have) there.
fn installed_copy(host: &Host, with_outside: bool) -> PathBuf {
    let dir = host.root.join("security");
    std::fs::create_dir(&dir).unwrap();
    let module = dir.join("pam_twofold.so");
    std::fs::copy(module_path(), &module).unwrap();
    let outside = dir.join("pam_twofold_outside.so");
    if with_outside {
        std::fs::copy(outside_object_path(), &outside).unwrap();
    }
    host.use_stack(&[format!(
        "auth required {} config={}",
        module.display(),
        host.config_path.display()
    )]);
    outside
}

/// `libpam_twofold_outside.so`, built beside `libpam_twofold.so`.
fn outside_object_path() -> PathBuf {
    let outside = module_path().with_file_name("libpam_twofold_outside.so");
    assert!(
        outside.is_file(),
        "{} is not built (cargo build)",
        outside.display()
    );
    outside
}

/// Whether this process (the PAM application) has `object` mapped.
fn loaded(object: &Path) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .any(|l| l.ends_with(&*object.to_string_lossy()))
}

#[test]
fn an_app_code_sign_in_never_loads_pam_twofold_outside_so_even_with_everything_configured() {
    let host = Host::new();
    let token = secret_file(
        &host,
        "host-token",
        "0123456789abcdef0123456789abcdef",
        0o600,
    );
    let gw = CommandGateway::install_with(
        &host,
        0,
        0,
        "",
        &format!(
            "[alerts]\ncommand = [\"/bin/true\"]\n[push]\nurl = \"http://127.0.0.1:9\"\nhost_token_file = {:?}\n",
            token.display().to_string()
        ),
    );
    let alice = host.enroll("alice");
    let outside = installed_copy(&host, true);
    let code = code_now(&alice.params);

    let (outcome, transcript) = host.sign_in("alice", &[&code]);

    assert_eq!(outcome.name, "PAM_SUCCESS", "{transcript:?}");
    let d = host.last_decision();
    d.assert_decision("alice", "success", "ok");
    assert_eq!(d.get("method"), "totp");
    assert!(gw.numbers().is_empty());
    assert!(
        !loaded(&outside),
        "an app-code sign-in loaded {}",
        outside.display()
    );
}

#[test]
fn a_text_message_is_sent_through_pam_twofold_outside_so() {
    let host = Host::new();
    let gw = CommandGateway::install(&host, 0, 0, "");
    host.enroll("alice");
    set_phone(&host, "alice", Some(NUMBER), Some(Choice::Sms));
    let outside = installed_copy(&host, true);

    let (outcome, transcript) = sign_in_reading_texts(&host, &gw, "alice", &["<sms>"]);

    assert_eq!(outcome, "PAM_SUCCESS", "{transcript:?}");
    assert_eq!(gw.numbers(), [NUMBER], "the gateway ran");
    let d = host.last_decision();
    d.assert_decision("alice", "success", "ok");
    assert_eq!(d.get("method"), "sms");
    assert!(loaded(&outside), "{} was not loaded", outside.display());
}

#[test]
fn without_pam_twofold_outside_so_no_text_is_sent_and_nobody_gets_in() {
    let host = Host::new();
    let gw = CommandGateway::install(&host, 0, 0, "");
    let alice = host.enroll("alice");
    set_phone(&host, "alice", Some(NUMBER), Some(Choice::Sms));
    let outside = installed_copy(&host, false);

    let (outcome, transcript) = sign_in_reading_texts(&host, &gw, "alice", &["000000", "000000"]);

    assert_eq!(outcome, "PAM_AUTH_ERR", "{transcript:?}");
    assert!(gw.numbers().is_empty(), "no text sent");
    let audit = host.audit_text();
    assert!(
        audit.contains(&format!("cannot load {}", outside.display())),
        "the audit log says why: {audit}"
    );
    // The app code still works.
    let code = code_now(&alice.params);
    let (outcome, transcript) = sign_in_reading_texts(&host, &gw, "alice", &["app", &code]);
    assert_eq!(outcome, "PAM_SUCCESS", "{transcript:?}");
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
    let outside_imports = imports(&outside_object_path()).unwrap();
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
            outside_imports.iter().any(|i| i == name),
            "pam_twofold_outside.so imports {name} (else this check proves nothing): {outside_imports:?}"
        );
        assert!(
            !thin_imports.iter().any(|i| i == name),
            "pam_twofold.so imports {name}: {thin_imports:?}"
        );
    }
}
