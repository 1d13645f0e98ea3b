//! `twofold phone USER set|remove` and `twofold default-method`, run as a program: a number is
//! saved only after the code sent to it is typed back (or with --verified), shown masked to
//! anyone but root, and the default method needs the method to exist.

mod cli_support;

use cli_support::*;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};
use twofold_core::signin::choice::Choice;
use twofold_core::store::UserRecord;
use twofold_core::username::UserName;

const USER: &str = "daemon";

/// An environment whose `[sms]` gateway is a script appending its argv and stdin to files.
fn env_with_gateway() -> (Env, std::path::PathBuf, std::path::PathBuf) {
    let probe = Env::new();
    let dir = probe.path().to_path_buf();
    let script = dir.join("gateway.sh");
    let argv = dir.join("gateway.argv");
    let stdin = dir.join("gateway.stdin");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" >> {}\ncat >> {}\n",
            argv.display(),
            stdin.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let extra = format!(
        "[sms]\ngateway = \"command\"\ndefault_country = \"NL\"\n[sms.command]\nargv = [\"/bin/sh\", {:?}, \"{{phone}}\"]\n",
        script.display().to_string()
    );
    let text = std::fs::read_to_string(&probe.config).unwrap() + &extra;
    write_private(&probe.config, &text);
    (probe, argv, stdin)
}

fn record(env: &Env) -> UserRecord {
    let user = UserName::parse(USER.as_bytes()).unwrap();
    env.store().load_record(&user).unwrap().unwrap()
}

#[test]
fn a_number_is_saved_only_after_the_code_sent_to_it_is_typed_back() {
    let (env, argv, stdin_log) = env_with_gateway();
    env.enroll_json(USER, &[]);
    let mut child = env
        .command(&["phone", USER, "set", "06 12345678"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let message = loop {
        if let Ok(text) = std::fs::read_to_string(&stdin_log)
            && text.ends_with('\n')
        {
            break text;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no text sent");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(record(&env).phone.is_none(), "not saved before the code");
    let code: String = message.chars().take(6).collect();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let mut input = child.stdin.take().unwrap();
    writeln!(input, "{wrong}\n{code}").unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("Code sent to +31 6 ****5678"), "{stderr}");
    assert!(stderr.contains("Wrong code."), "{stderr}");
    assert!(
        stdout.contains("phone number +31 6 ****5678 saved (code)"),
        "{stdout}"
    );
    assert_eq!(std::fs::read_to_string(&argv).unwrap(), "+31612345678\n");
    let phone = record(&env).phone.unwrap();
    assert_eq!(phone.number, "+31612345678");
    assert_eq!(phone.verified_by, "code");

    let status = env.run(&["status", USER]);
    status.expect_code(0);
    let expected = if rustix::process::geteuid().is_root() {
        "phone (text-message codes): +31612345678"
    } else {
        "phone (text-message codes): +31 6 ****5678"
    };
    assert!(status.stdout.contains(expected), "{}", status.stdout);
    let list = env.run(&["list"]);
    assert!(list.stdout.contains("app,sms,recovery"), "{}", list.stdout);
}

#[test]
fn without_a_code_typed_nothing_is_saved_and_verified_vouches_without_a_text() {
    let (env, argv, _) = env_with_gateway();
    env.enroll_json(USER, &[]);

    let out = env.run(&["phone", USER, "set", "+31612345678"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("no code typed; nothing saved"),
        "{}",
        out.stderr
    );
    assert!(record(&env).phone.is_none());

    let bad = env.run(&["phone", USER, "set", "0612345678; reboot", "--verified"]);
    bad.expect_code(1);
    assert!(bad.stderr.contains("only digits"), "{}", bad.stderr);

    let sent_before = std::fs::read_to_string(&argv).unwrap().lines().count();
    env.run(&["phone", USER, "set", "+32 470 12 34 56", "--verified"])
        .expect_code(0);
    assert_eq!(
        std::fs::read_to_string(&argv).unwrap().lines().count(),
        sent_before,
        "no text with --verified"
    );
    let phone = record(&env).phone.unwrap();
    assert_eq!(phone.number, "+32470123456");
    assert_eq!(phone.verified_by, "admin");
}

#[test]
fn the_default_method_needs_the_method_and_removing_the_number_clears_it() {
    let env = Env::new();
    env.enroll_json(USER, &[]);

    let out = env.run(&["default-method", USER, "sms"]);
    out.expect_code(1);
    assert!(out.stderr.contains("has no phone number"), "{}", out.stderr);
    let out = env.run(&["default-method", USER, "push"]);
    out.expect_code(1);
    env.run(&["default-method", USER, "fax"]).expect_code(1);
    let out = env.run(&["phone", USER, "set", "+31612345678"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("--verified"),
        "no gateway: {}",
        out.stderr
    );

    env.run(&["phone", USER, "set", "+31612345678", "--verified"])
        .expect_code(0);
    env.run(&["default-method", USER, "sms"]).expect_code(0);
    assert_eq!(record(&env).default_method, Some(Choice::Sms));
    let json = env.run(&["status", USER, "--json"]).json();
    assert_eq!(json["default_method"], "sms");

    env.run(&["phone", USER, "remove"]).expect_code(0);
    let after = record(&env);
    assert!(after.phone.is_none());
    assert_eq!(after.default_method, None, "no default pointing at nothing");
    env.run(&["default-method", USER, "app"]).expect_code(0);
    assert_eq!(record(&env).default_method, Some(Choice::App));
}

#[test]
fn check_config_names_a_missing_gateway_program_and_a_secret_file_others_can_read() {
    let env = Env::with_config_extra(
        "[sms]\ngateway = \"command\"\n[sms.command]\nargv = [\"/nonexistent/send-sms\", \"{phone}\"]\n",
    );
    let out = env.run(&["check-config"]);
    out.expect_code(1);
    assert!(
        out.stdout
            .contains("sms.command.argv: /nonexistent/send-sms: no such program")
            || out
                .stderr
                .contains("sms.command.argv: /nonexistent/send-sms: no such program"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );

    let probe = Env::new();
    let key = probe.path().join("sms.key");
    write_private(&key, "Bearer k\n");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let extra = format!(
        "[sms]\ngateway = \"http\"\n[sms.http]\nurl = \"https://sms.example.org/send\"\n[sms.http.secret_headers]\nAuthorization = {:?}\n",
        key.display().to_string()
    );
    let text = std::fs::read_to_string(&probe.config).unwrap() + &extra;
    write_private(&probe.config, &text);
    let out = probe.run(&["check-config"]);
    out.expect_code(1);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("sms.http.secret_headers:") && all.contains("sms.key"),
        "{all}"
    );
}
