//! Hostile files, names, answers and configurations, through real libpam against the built
//! module: each is refused (never PAM_SUCCESS, never a crash) with a clear audit line.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};

/// Signs in with the right code and expects the module to refuse because its files are unusable.
fn assert_unavailable(host: &Host, user: &str, code: &str, reason: &str, detail_has: &str) {
    let (outcome, transcript) = host.sign_in(user, &[code]);
    assert_eq!(
        outcome.name, "PAM_AUTHINFO_UNAVAIL",
        "{reason}: {detail_has}"
    );
    assert_eq!(
        transcript,
        vec![UNAVAILABLE_ERROR],
        "told to see an administrator, never prompted"
    );
    let decisions = host.decisions();
    assert_eq!(
        decisions.len(),
        1,
        "one line per decision:\n{}",
        host.audit_text()
    );
    let d = &decisions[0];
    d.assert_decision(user, "error", reason);
    assert!(
        d.get("detail").contains(detail_has),
        "detail should say {detail_has:?}: {}",
        d.raw
    );
    host.assert_log_holds_none_of(&[code.to_string()]);
}

fn set_mode(path: &std::path::Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

// ---- the record: users/<name>.toml ----

fn case_record_symlink() {
    let host = Host::new();
    let alice = host.enroll("alice");
    let record = host.record_path("alice");
    // A perfectly valid record, reached through a symlink: refused all the same.
    let elsewhere = host.root.join("elsewhere.toml");
    fs::rename(&record, &elsewhere).unwrap();
    symlink(&elsewhere, &record).unwrap();
    assert_unavailable(
        &host,
        "alice",
        &code_now(&alice.params),
        "bad_record",
        "is a symbolic link",
    );
}

fn case_record_group_writable() {
    let host = Host::new();
    let bob = host.enroll("bob");
    set_mode(&host.record_path("bob"), 0o620);
    assert_unavailable(
        &host,
        "bob",
        &code_now(&bob.params),
        "bad_record",
        "mode 0620",
    );
}

fn case_record_world_readable() {
    let host = Host::new();
    let carol = host.enroll("carol");
    set_mode(&host.record_path("carol"), 0o604);
    assert_unavailable(
        &host,
        "carol",
        &code_now(&carol.params),
        "bad_record",
        "mode 0604",
    );
}

fn case_record_owned_by_another_user(test: &str) {
    if !is_root() {
        skip(test, "needs root to chown the record to another uid");
        return;
    }
    let host = Host::new();
    let dave = host.enroll("dave");
    std::os::unix::fs::chown(host.record_path("dave"), Some(65534), Some(65534)).unwrap();
    assert_unavailable(
        &host,
        "dave",
        &code_now(&dave.params),
        "bad_record",
        "owned by uid 65534",
    );
}

fn case_record_truncated() {
    let host = Host::new();
    let erin = host.enroll("erin");
    let path = host.record_path("erin");
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_unavailable(
        &host,
        "erin",
        &code_now(&erin.params),
        "bad_record",
        "malformed",
    );
}

fn case_record_garbage() {
    let host = Host::new();
    let frank = host.enroll("frank");
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(host.record_path("frank"), garbage).unwrap();
    assert_unavailable(
        &host,
        "frank",
        &code_now(&frank.params),
        "bad_record",
        "malformed",
    );
}

fn case_record_empty() {
    let host = Host::new();
    let grace = host.enroll("grace");
    fs::write(host.record_path("grace"), "").unwrap();
    assert_unavailable(
        &host,
        "grace",
        &code_now(&grace.params),
        "bad_record",
        "empty file",
    );
}

fn case_record_ten_megabytes() {
    let host = Host::new();
    let heidi = host.enroll("heidi");
    let path = host.record_path("heidi");
    let mut big = fs::read(&path).unwrap();
    big.extend(std::iter::repeat_n(b"# padding\n".as_slice(), 1 << 20).flatten());
    fs::write(&path, &big).unwrap();
    assert!(big.len() >= 10 << 20);
    assert_unavailable(
        &host,
        "heidi",
        &code_now(&heidi.params),
        "bad_record",
        "larger than the limit",
    );
}

fn case_record_is_a_directory() {
    let host = Host::new();
    let ivan = host.enroll("ivan");
    let path = host.record_path("ivan");
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    set_mode(&path, 0o700);
    assert_unavailable(
        &host,
        "ivan",
        &code_now(&ivan.params),
        "bad_record",
        "not a regular file",
    );
}

fn case_users_dir_symlink() {
    let host = Host::new();
    let judy = host.enroll("judy");
    let users = host.state_dir.join("users");
    let elsewhere = host.root.join("users-elsewhere");
    fs::rename(&users, &elsewhere).unwrap();
    symlink(&elsewhere, &users).unwrap();
    assert_unavailable(
        &host,
        "judy",
        &code_now(&judy.params),
        "bad_record",
        "is a symbolic link",
    );
}

// ---- the state: state/<name>.toml and the directories ----

fn case_state_malformed() {
    let host = Host::new();
    let kim = host.enroll("kim");
    fs::write(
        host.state_path("kim"),
        "failures = \"many\"\nlast_step = [\n",
    )
    .unwrap();
    assert_unavailable(
        &host,
        "kim",
        &code_now(&kim.params),
        "bad_state",
        "malformed",
    );
}

fn case_state_unknown_field() {
    let host = Host::new();
    let leo = host.enroll("leo");
    fs::write(
        host.state_path("leo"),
        "last_step = 0\nlocked_forever = true\n",
    )
    .unwrap();
    assert_unavailable(
        &host,
        "leo",
        &code_now(&leo.params),
        "bad_state",
        "malformed",
    );
}

fn case_state_file_symlink() {
    let host = Host::new();
    let mia = host.enroll("mia");
    let state = host.state_path("mia");
    let elsewhere = host.root.join("state-elsewhere.toml");
    fs::rename(&state, &elsewhere).unwrap();
    symlink(&elsewhere, &state).unwrap();
    assert_unavailable(
        &host,
        "mia",
        &code_now(&mia.params),
        "bad_state",
        "is a symbolic link",
    );
}

fn case_state_dir_symlink() {
    let host = Host::new();
    let ned = host.enroll("ned");
    // The configured state_dir itself is a symlink to a perfectly good store.
    let real = host.root.join("real-state");
    fs::rename(&host.state_dir, &real).unwrap();
    symlink(&real, &host.state_dir).unwrap();
    assert_unavailable(
        &host,
        "ned",
        &code_now(&ned.params),
        "bad_state_dir",
        "is a symbolic link",
    );
}

fn case_state_subdir_symlink() {
    let host = Host::new();
    let olga = host.enroll("olga");
    let sub = host.state_dir.join("state");
    let elsewhere = host.root.join("state-sub-elsewhere");
    fs::rename(&sub, &elsewhere).unwrap();
    symlink(&elsewhere, &sub).unwrap();
    assert_unavailable(
        &host,
        "olga",
        &code_now(&olga.params),
        "bad_state",
        "is a symbolic link",
    );
}

fn case_state_dir_world_writable() {
    let host = Host::new();
    let pat = host.enroll("pat");
    set_mode(&host.state_dir, 0o777);
    assert_unavailable(
        &host,
        "pat",
        &code_now(&pat.params),
        "bad_state_dir",
        "mode 0777",
    );
}

// ---- user names ----

/// Names that must never reach a file name.
fn odd_names() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("../x", b"../x".to_vec()),
        ("a/b", b"a/b".to_vec()),
        ("..", b"..".to_vec()),
        ("300 bytes", vec![b'u'; 300]),
        ("not UTF-8", b"a\xffb".to_vec()),
        ("newline", b"x\nroot".to_vec()),
        ("empty", Vec::new()),
    ]
}

fn case_odd_user_names(nullok: bool) {
    // `[default=done]`: the application gets the module's own return code, so PAM_IGNORE
    // (a nullok pass-through) could not hide behind a later module.
    let host = Host::new();
    let x = host.enroll("x");
    let args = if nullok { "nullok" } else { "" };
    host.use_stack(&[host
        .module_line(args)
        .replace("auth required", "auth [default=done]")]);
    let names = odd_names();
    for (label, name) in &names {
        // "../x" with x's valid code: no path trick reaches x's record.
        let answers = vec![code_now(&x.params).into_bytes()];
        let (outcome, transcript) = host.sign_in_raw(name, answers, 0);
        assert_eq!(
            outcome.name, "PAM_AUTH_ERR",
            "user name {label} is refused (nullok={nullok}), never ignored or accepted"
        );
        assert!(
            transcript.is_empty(),
            "no prompt for user name {label}: {transcript:?}"
        );
    }
    let decisions = host.decisions();
    assert_eq!(
        decisions.len(),
        names.len(),
        "one line per odd name:\n{}",
        host.audit_text()
    );
    for (d, (label, name)) in decisions.iter().zip(&names) {
        assert_eq!(
            d.get("user"),
            String::from_utf8_lossy(name),
            "{label}: {}",
            d.raw
        );
        assert_eq!(
            (d.get("result"), d.get("reason")),
            ("failure", "invalid_user_name"),
            "{label}: {}",
            d.raw
        );
        assert!(
            !d.get("detail").is_empty(),
            "{label}: the line says why: {}",
            d.raw
        );
    }
    assert!(!host.audit_text().contains('\u{0}'));
    // Nothing was created for the odd names.
    let users: Vec<_> = fs::read_dir(host.state_dir.join("users"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(users, vec![std::ffi::OsString::from("x.toml")]);
    let x_state = host.state("x");
    assert_eq!((x_state.failures, x_state.last_step), (0, 0), "x untouched");
}

// ---- answers ----

fn case_one_megabyte_answer() {
    let host = Host::new();
    let quinn = host.enroll("quinn");
    let huge = "9".repeat(1 << 20);

    let (outcome, transcript) = host.sign_in("quinn", &[&huge]);

    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert_eq!(transcript, vec![CODE_PROMPT]);
    let d = host.last_decision();
    d.assert_decision("quinn", "failure", "answer_too_long");
    assert!(host.audit_text().len() < 4096, "the answer is not logged");
    // Still alive, and the next sign-in works.
    let (next, _) = host.sign_in("quinn", &[&code_now(&quinn.params)]);
    assert_eq!(next.name, "PAM_SUCCESS");
}

fn case_answer_with_control_bytes() {
    let host = Host::new();
    let rose = host.enroll("rose");
    let answer = b"12\x1b[2J34\xff\x0756".to_vec();

    let (outcome, _) = host.sign_in_raw(b"rose", vec![answer], 0);

    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    host.last_decision()
        .assert_decision("rose", "failure", "malformed_answer");
    assert!(!host.audit_text().contains('\u{1b}'));
    assert_eq!(
        host.sign_in("rose", &[&code_now(&rose.params)]).0.name,
        "PAM_SUCCESS"
    );
}

// ---- configuration ----

/// Signs in with a broken configuration: refused as unavailable. The configured audit log
/// cannot be known, so the line goes to syslog; it is captured where that is possible (root).
fn assert_config_error(test: &str, host: &Host, detail_has: &str) {
    let attempt = || host.sign_in("sam", &["123456"]);
    let ((outcome, transcript), syslog) = match capture_syslog(attempt) {
        Ok((result, messages)) => (result, Some(messages)),
        Err(why) => {
            skip(
                test,
                &format!(
                    "cannot capture syslog in a private mount namespace ({why}); checking the outcome only"
                ),
            );
            (host.sign_in("sam", &["123456"]), None)
        }
    };
    assert_eq!(outcome.name, "PAM_AUTHINFO_UNAVAIL", "{detail_has}");
    assert_eq!(transcript, vec![UNAVAILABLE_ERROR], "never prompted");
    assert!(
        host.audit_text().is_empty(),
        "nothing in a file the broken configuration may name"
    );
    if let Some(messages) = syslog {
        let lines = syslog_audit_lines(&messages);
        assert_eq!(lines.len(), 1, "one line per decision: {messages:?}");
        let (priority, line) = &lines[0];
        assert_eq!(
            *priority,
            10 * 8 + 3,
            "facility authpriv, severity err: {line}"
        );
        let d = Entry::parse(line);
        d.assert_decision("sam", "error", "config_error");
        assert!(
            d.get("detail").contains(detail_has),
            "detail should say {detail_has:?}: {}",
            d.raw
        );
    }
}

fn case_config_syntax_error(test: &str) {
    let host = Host::new();
    host.write_config_text("state_dir = \"/tmp/x\"\n[rate_limit\nmax_failures = 3\n");
    assert_config_error(test, &host, "line 2");
}

fn case_config_unknown_key(test: &str) {
    let host = Host::new();
    host.write_config_text("state_dir = \"/tmp/x\"\n\n[totp]\ndigitz = 6\n");
    assert_config_error(test, &host, "digitz");
}

fn case_config_invalid_value(test: &str) {
    let host = Host::new();
    host.write_config_text("state_dir = \"relative/path\"\n");
    assert_config_error(test, &host, "state_dir: must be an absolute path");
}

fn case_config_points_nowhere(test: &str) {
    let host = Host::new();
    let missing = host.root.join("no-such-dir/twofold.toml");
    host.use_stack(&[format!(
        "auth required {} config={}",
        host.module.display(),
        missing.display()
    )]);
    assert_config_error(test, &host, "no-such-dir/twofold.toml");
}

fn case_config_group_writable(test: &str) {
    let host = Host::new();
    set_mode(&host.config_path, 0o664);
    assert_config_error(test, &host, "mode 0664");
}

// ---- the tests ----

#[test]
fn record_that_is_a_symlink_is_refused() {
    case_record_symlink();
}

#[test]
fn group_writable_record_is_refused() {
    case_record_group_writable();
}

#[test]
fn world_readable_record_is_refused() {
    case_record_world_readable();
}

#[test]
fn record_owned_by_another_uid_is_refused() {
    case_record_owned_by_another_user("record_owned_by_another_uid_is_refused");
}

#[test]
fn truncated_record_is_refused() {
    case_record_truncated();
}

#[test]
fn record_of_garbage_bytes_is_refused() {
    case_record_garbage();
}

#[test]
fn empty_record_is_refused() {
    case_record_empty();
}

#[test]
fn ten_megabyte_record_is_refused() {
    case_record_ten_megabytes();
}

#[test]
fn directory_in_place_of_the_record_is_refused() {
    case_record_is_a_directory();
}

#[test]
fn symlinked_users_directory_is_refused() {
    case_users_dir_symlink();
}

#[test]
fn malformed_state_file_is_refused() {
    case_state_malformed();
}

#[test]
fn state_file_with_unknown_fields_is_refused() {
    case_state_unknown_field();
}

#[test]
fn state_file_that_is_a_symlink_is_refused() {
    case_state_file_symlink();
}

#[test]
fn symlinked_state_dir_is_refused() {
    case_state_dir_symlink();
}

#[test]
fn symlinked_state_subdirectory_is_refused() {
    case_state_subdir_symlink();
}

#[test]
fn world_writable_state_dir_is_refused() {
    case_state_dir_world_writable();
}

#[test]
fn odd_user_names_are_refused() {
    case_odd_user_names(false);
}

#[test]
fn odd_user_names_are_refused_even_with_nullok() {
    case_odd_user_names(true);
}

#[test]
fn one_megabyte_answer_is_refused_and_the_process_survives() {
    case_one_megabyte_answer();
}

#[test]
fn answer_with_control_bytes_is_refused() {
    case_answer_with_control_bytes();
}

#[test]
fn config_with_a_syntax_error_is_refused() {
    case_config_syntax_error("config_with_a_syntax_error_is_refused");
}

#[test]
fn config_with_an_unknown_key_is_refused() {
    case_config_unknown_key("config_with_an_unknown_key_is_refused");
}

#[test]
fn config_with_an_invalid_value_is_refused() {
    case_config_invalid_value("config_with_an_invalid_value_is_refused");
}

#[test]
fn config_argument_pointing_nowhere_is_refused() {
    case_config_points_nowhere("config_argument_pointing_nowhere_is_refused");
}

#[test]
fn group_writable_config_is_refused() {
    case_config_group_writable("group_writable_config_is_refused");
}

#[test]
fn after_every_hostile_case_a_normal_sign_in_still_succeeds() {
    const TEST: &str = "after_every_hostile_case_a_normal_sign_in_still_succeeds";
    type Case = (&'static str, Box<dyn Fn()>);
    let cases: Vec<Case> = vec![
        ("record symlink", Box::new(case_record_symlink)),
        (
            "record group-writable",
            Box::new(case_record_group_writable),
        ),
        (
            "record world-readable",
            Box::new(case_record_world_readable),
        ),
        (
            "record other owner",
            Box::new(|| case_record_owned_by_another_user(TEST)),
        ),
        ("record truncated", Box::new(case_record_truncated)),
        ("record garbage", Box::new(case_record_garbage)),
        ("record empty", Box::new(case_record_empty)),
        ("record 10 MB", Box::new(case_record_ten_megabytes)),
        ("record directory", Box::new(case_record_is_a_directory)),
        ("users dir symlink", Box::new(case_users_dir_symlink)),
        ("state malformed", Box::new(case_state_malformed)),
        ("state unknown field", Box::new(case_state_unknown_field)),
        ("state file symlink", Box::new(case_state_file_symlink)),
        ("state dir symlink", Box::new(case_state_dir_symlink)),
        ("state subdir symlink", Box::new(case_state_subdir_symlink)),
        (
            "state dir world-writable",
            Box::new(case_state_dir_world_writable),
        ),
        ("odd names", Box::new(|| case_odd_user_names(false))),
        ("odd names nullok", Box::new(|| case_odd_user_names(true))),
        ("1 MB answer", Box::new(case_one_megabyte_answer)),
        ("control bytes", Box::new(case_answer_with_control_bytes)),
        ("config syntax", Box::new(|| case_config_syntax_error(TEST))),
        (
            "config unknown key",
            Box::new(|| case_config_unknown_key(TEST)),
        ),
        (
            "config invalid value",
            Box::new(|| case_config_invalid_value(TEST)),
        ),
        (
            "config nowhere",
            Box::new(|| case_config_points_nowhere(TEST)),
        ),
        (
            "config group-writable",
            Box::new(|| case_config_group_writable(TEST)),
        ),
        (
            "read-only state, deny",
            Box::new(|| case_read_only_state(TEST, "deny")),
        ),
        (
            "read-only state, allow",
            Box::new(|| case_read_only_state(TEST, "allow")),
        ),
    ];
    for (name, case) in &cases {
        eprintln!("hostile case: {name}");
        case();
    }

    // The same process, the same loaded module: an ordinary sign-in works as if nothing happened.
    let host = Host::new();
    let tess = host.enroll("tess");
    let (outcome, transcript) = host.sign_in("tess", &[&code_now(&tess.params)]);
    assert_eq!(outcome.name, "PAM_SUCCESS");
    assert_eq!(transcript, vec![CODE_PROMPT]);
    host.last_decision()
        .assert_decision("tess", "success", "ok");
}

// ---- a read-only disk ----

/// A right code while the state directory is read-only: nothing can record its use (not even
/// the guard, overwritten in place), so it is refused under either `on_state_write_error` —
/// accepting it would let the same code in again.
fn case_read_only_state(test: &str, policy: &str) {
    let host = Host::with(&format!("on_state_write_error = {policy:?}"), "");
    let uma = host.enroll("uma");
    let code = code_now(&uma.params);
    let (outcome, transcript) =
        match with_read_only(&host.state_dir, || host.sign_in("uma", &[&code])) {
            Ok(result) => result,
            Err(why) => {
                return skip(
                    test,
                    &format!("cannot mount the state directory read-only ({why})"),
                );
            }
        };
    let d = host.last_decision();
    assert_eq!(d.get("method"), "totp", "the code was checked: {}", d.raw);
    assert_eq!(outcome.name, "PAM_AUTHINFO_UNAVAIL", "{policy}");
    assert_eq!(transcript, vec![CODE_PROMPT, UNAVAILABLE_ERROR]);
    d.assert_decision("uma", "error", "state_write_failed");
    assert!(
        d.get("detail").contains("Read-only file system"),
        "{}",
        d.raw
    );
    host.assert_log_holds_none_of(&[code]);
}

#[test]
fn read_only_state_dir_refuses_a_right_code_when_the_policy_is_deny() {
    case_read_only_state(
        "read_only_state_dir_refuses_a_right_code_when_the_policy_is_deny",
        "deny",
    );
}

#[test]
fn read_only_state_dir_refuses_a_right_code_even_when_the_policy_is_allow() {
    case_read_only_state(
        "read_only_state_dir_refuses_a_right_code_even_when_the_policy_is_allow",
        "allow",
    );
}

#[test]
fn a_local_service_gets_the_unavailable_notice_as_an_error_message() {
    // sudo, su, login: no remote address, so no extra "Press Enter" prompt is needed.
    let host = Host::new();
    host.enroll("grace");
    fs::write(host.record_path("grace"), "").unwrap();
    let mut transcript = Vec::new();
    let outcome = host.sign_in_with("grace", None, &mut |m: twofold_pam_client::Message<'_>| {
        transcript.push(format!("{m:?}"));
        None
    });
    assert_eq!(outcome.name, "PAM_AUTHINFO_UNAVAIL");
    assert_eq!(
        transcript,
        vec![format!(
            "ErrorMsg({:?})",
            UNAVAILABLE_LOCAL_ERROR.trim_start_matches("ERROR: ")
        )]
    );
}
