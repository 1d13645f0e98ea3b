//! A failed fsync or rename while `twofold enroll --force` or `twofold recovery-codes` commits
//! (injected with `strace -e inject`): the old or the new enrollment is in force, never a mix,
//! the command exits non-zero and says which — checked by signing in through real libpam.

mod common;

use common::*;
use std::process::{Command, Output};

const TWOFOLD: &str = env!("CARGO_BIN_EXE_twofold");

fn have_strace(test: &str) -> bool {
    let ok = Command::new("strace")
        .args(["-o", "/dev/null", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip(test, "strace is missing or cannot trace here");
    }
    ok
}

/// Runs `twofold ARGS` under strace with `inject` (e.g. `renameat,renameat2:error=EIO:when=1`).
fn twofold_with_fault(host: &Host, inject: &str, args: &[&str]) -> Output {
    let syscalls = inject.split(':').next().unwrap_or_default();
    Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null"])
        .arg(format!("--trace={syscalls}"))
        .arg(format!("--inject={inject}"))
        .arg(TWOFOLD)
        .arg("--config")
        .arg(&host.config_path)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run strace")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

const RENAME: &str = "rename,renameat,renameat2";

fn signs_in(host: &Host, user: &str, answer: &str) -> bool {
    host.sign_in(user, &[answer]).0.name == "PAM_SUCCESS"
}

/// The audit log's last line, for assertion messages.
fn last(host: &Host) -> String {
    host.audit_lines().pop().unwrap_or_default()
}

#[test]
fn enroll_force_with_a_failed_rename_keeps_the_old_enrollment_and_says_so() {
    const TEST: &str = "enroll_force_with_a_failed_rename_keeps_the_old_enrollment_and_says_so";
    if !have_strace(TEST) {
        return;
    }
    let host = Host::new();
    let old = host.enroll("fay");
    let out = twofold_with_fault(
        &host,
        &format!("{RENAME}:error=EIO:when=1"),
        &["enroll", "fay", "--force", "--no-verify", "--json"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = stderr(&out);
    assert!(
        said.contains("previous enrollment") && said.contains("do NOT work"),
        "{said}"
    );
    let new = json(&out);
    let new_secret = new["secret"].as_str().unwrap_or_default().to_string();
    let new_params = twofold_core::factor::totp::TotpParams {
        secret: twofold_core::secret::SecretString::new(new_secret.clone()),
        ..old.params.clone()
    };
    // The old key and old recovery codes still work; the new ones do not.
    wait_for_step_margin(&old.params, 5);
    assert!(
        !signs_in(&host, "fay", &code_now(&new_params)),
        "{}: {}",
        "new key",
        last(&host)
    );
    let new_code = new["recovery_codes"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!signs_in(&host, "fay", &new_code), "new recovery code");
    assert!(
        signs_in(&host, "fay", &code_now(&old.params)),
        "{}: {}",
        "old key",
        last(&host)
    );
    assert!(
        signs_in(&host, "fay", &old.recovery[0]),
        "old recovery code"
    );
    assert!(temp_files(&host.state_dir.join("users")).is_empty());
    host.assert_log_holds_none_of(&[old.secret(), new_secret, new_code]);
}

#[test]
fn enroll_force_with_a_failed_directory_sync_says_the_new_enrollment_is_in_force() {
    const TEST: &str =
        "enroll_force_with_a_failed_directory_sync_says_the_new_enrollment_is_in_force";
    if !have_strace(TEST) {
        return;
    }
    let host = Host::new();
    let old = host.enroll("gus");
    // fsync 1: the temporary file; fsync 2: the directory, after the rename.
    let out = twofold_with_fault(
        &host,
        "fsync:error=EIO:when=2",
        &["enroll", "gus", "--force", "--no-verify", "--json"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = stderr(&out);
    assert!(
        said.contains("NEW enrollment") && said.contains("in force"),
        "{said}"
    );
    let new = json(&out);
    let new_params = twofold_core::factor::totp::TotpParams {
        secret: twofold_core::secret::SecretString::new(
            new["secret"].as_str().unwrap_or_default().to_string(),
        ),
        ..old.params.clone()
    };
    wait_for_step_margin(&old.params, 5);
    assert!(
        !signs_in(&host, "gus", &code_now(&old.params)),
        "{}: {}",
        "old key",
        last(&host)
    );
    assert!(
        !signs_in(&host, "gus", &old.recovery[0]),
        "old recovery code"
    );
    assert!(
        signs_in(&host, "gus", &code_now(&new_params)),
        "{}: {}",
        "new key",
        last(&host)
    );
    let new_code = new["recovery_codes"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(signs_in(&host, "gus", &new_code), "new recovery code");
}

#[test]
fn enroll_force_with_a_failed_file_sync_keeps_the_old_enrollment() {
    const TEST: &str = "enroll_force_with_a_failed_file_sync_keeps_the_old_enrollment";
    if !have_strace(TEST) {
        return;
    }
    let host = Host::new();
    let old = host.enroll("hal");
    let out = twofold_with_fault(
        &host,
        "fsync:error=EIO:when=1",
        &["enroll", "hal", "--force", "--no-verify", "--json"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr(&out).contains("previous enrollment"), "{out:?}");
    wait_for_step_margin(&old.params, 5);
    assert!(
        signs_in(&host, "hal", &code_now(&old.params)),
        "{}",
        last(&host)
    );
    assert!(temp_files(&host.state_dir.join("users")).is_empty());
}

#[test]
fn recovery_codes_with_a_failed_rename_keep_the_old_codes_and_say_so() {
    const TEST: &str = "recovery_codes_with_a_failed_rename_keep_the_old_codes_and_say_so";
    if !have_strace(TEST) {
        return;
    }
    let host = Host::new();
    let ivy = host.enroll("ivy");
    let out = twofold_with_fault(
        &host,
        &format!("{RENAME}:error=EIO:when=1"),
        &["recovery-codes", "ivy", "--json"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = stderr(&out);
    assert!(
        said.contains("OLD recovery codes are still in force"),
        "{said}"
    );
    let new = json(&out);
    let new_code = new["recovery_codes"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!signs_in(&host, "ivy", &new_code), "new code");
    assert!(signs_in(&host, "ivy", &ivy.recovery[0]), "old code");
    // The key was never at stake.
    assert!(
        signs_in(&host, "ivy", &code_now(&ivy.params)),
        "{}",
        last(&host)
    );
}

#[test]
fn recovery_codes_move_an_older_layout_record_in_one_rename() {
    // A record written before recovery hashes moved into it: users/ivy.toml without
    // [[recovery]], recovery/ivy.toml beside it. It keeps working, and renewal migrates it.
    let host = Host::new();
    let old = host.enroll("jo");
    let record_path = host.record_path("jo");
    let text = std::fs::read_to_string(&record_path).unwrap();
    let mut record: toml::Table = toml::from_str(&text).unwrap();
    let hashes = record
        .remove("recovery")
        .expect("new records carry their codes");
    record.remove("id");
    let mut legacy = toml::Table::new();
    legacy.insert("code".into(), hashes);
    let recovery_dir = host.state_dir.join("recovery");
    std::fs::create_dir(&recovery_dir).unwrap();
    std::fs::set_permissions(
        &recovery_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    for (path, table) in [
        (&record_path, &record),
        (&recovery_dir.join("jo.toml"), &legacy),
    ] {
        std::fs::write(path, toml::to_string(table).unwrap()).unwrap();
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
    }
    assert!(
        signs_in(&host, "jo", &old.recovery[0]),
        "older layout is read: {}",
        last(&host)
    );
    let out = Command::new(TWOFOLD)
        .arg("--config")
        .arg(&host.config_path)
        .args(["recovery-codes", "jo", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        !recovery_dir.join("jo.toml").exists(),
        "the old file is gone"
    );
    let new = json(&out);
    assert!(!signs_in(&host, "jo", &old.recovery[1]));
    let code = new["recovery_codes"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(signs_in(&host, "jo", &code));
}
