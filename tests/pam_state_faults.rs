//! When the state cannot be written: a full disk (a small tmpfs filled to the last block and
//! inode, in a private mount namespace), a read-only one, and leftover temporary files. Through
//! real libpam. Tests that need root print `SKIP <name>: <reason>` otherwise.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::symlink;

/// Small enough to fill in a moment, big enough for a few users' files.
const DISK: &str = "size=256k,nr_inodes=48";

fn root_or_skip(test: &str) -> bool {
    if !is_root() {
        skip(
            test,
            "needs root to mount a small tmpfs in a private mount namespace",
        );
        return false;
    }
    true
}

#[test]
fn full_disk_still_counts_failures_and_locks_out() {
    const TEST: &str = "full_disk_still_counts_failures_and_locks_out";
    if !root_or_skip(TEST) {
        return;
    }
    let host = Host::with("[rate_limit]\nmax_failures = 3", "");
    let result = with_small_disk(&host.state_dir, DISK, || {
        let ann = host.enroll("ann");
        fill_disk(&host.state_dir);
        let wrong = wrong_code(&ann.params);
        for n in 1..=3 {
            let (outcome, _) = host.sign_in("ann", &[&wrong]);
            assert_eq!(outcome.name, "PAM_AUTH_ERR", "wrong code {n}");
            let d = host.last_decision();
            d.assert_decision("ann", "failure", "wrong_code");
            assert!(
                d.get("detail").contains("counted in the guard"),
                "{}",
                d.raw
            );
        }
        // Locked although no state file could be written: the right code does not help.
        let (outcome, transcript) = host.sign_in("ann", &[&code_now(&ann.params)]);
        assert_eq!(outcome.name, "PAM_AUTH_ERR");
        assert_eq!(transcript, vec![LOCKED_ERROR]);
        host.last_decision()
            .assert_decision("ann", "failure", "locked_out");
        assert_eq!(host.state("ann").failures, 3);
        assert!(
            temp_files(&host.state_dir.join("state")).is_empty(),
            "failed writes leave no temporary file"
        );
        host.assert_log_holds_none_of(&[ann.secret()]);
    });
    if let Err(why) = result {
        skip(TEST, &why);
    }
}

#[test]
fn full_disk_with_allow_accepts_a_right_code_once_and_logs_it_at_error() {
    const TEST: &str = "full_disk_with_allow_accepts_a_right_code_once_and_logs_it_at_error";
    if !root_or_skip(TEST) {
        return;
    }
    let host = Host::with(
        "on_state_write_error = \"allow\"\naudit_log = \"syslog\"",
        "",
    );
    let state_dir = host.state_dir.clone();
    let captured = capture_syslog(|| {
        mount_tmpfs(&state_dir, DISK).map(|()| {
            let bea = host.enroll("bea");
            fill_disk(&state_dir);
            wait_for_step_margin(&bea.params, 5);
            let code = code_now(&bea.params);
            let first = host.sign_in("bea", &[&code]).0.name;
            let again: Vec<&str> = (0..3)
                .map(|_| host.sign_in("bea", &[&code]).0.name)
                .collect();
            let recovery = host.sign_in("bea", &[&bea.recovery[0]]).0.name;
            (bea, code, first, again, recovery)
        })
    });
    let ((bea, code, first, again, recovery), messages) = match captured {
        Ok((Ok(result), messages)) => (result, messages),
        Ok((Err(why), _)) | Err(why) => return skip(TEST, &why),
    };
    assert_eq!(first, "PAM_SUCCESS", "allow lets the first use through");
    assert_eq!(again, vec!["PAM_AUTH_ERR"; 3], "never a second time");
    assert_eq!(
        recovery, "PAM_AUTHINFO_UNAVAIL",
        "a recovery code's use cannot be recorded in place: refused"
    );
    let lines: Vec<(u8, Entry)> = syslog_audit_lines(&messages)
        .into_iter()
        .map(|(pri, line)| (pri, Entry::parse(&line)))
        .filter(|(_, e)| e.event == "auth")
        .collect();
    let reasons: Vec<(u8, &str, &str)> = lines
        .iter()
        .map(|(pri, e)| (*pri, e.get("result"), e.get("reason")))
        .collect();
    // authpriv (10) * 8 + error (3) = 83; + warning (4) = 84.
    assert_eq!(
        reasons,
        vec![
            (83, "success", "ok_state_not_saved"),
            (84, "failure", "replayed_code"),
            (84, "failure", "replayed_code"),
            (84, "failure", "replayed_code"),
            (83, "error", "state_write_failed"),
        ]
    );
    let all = messages.join("\n");
    for secret in [bea.secret(), code.clone(), bea.recovery[0].clone()] {
        assert!(!all.contains(&secret), "{secret} in the log:\n{all}");
    }
}

#[test]
fn full_disk_with_deny_refuses_a_right_code_and_it_stays_used() {
    const TEST: &str = "full_disk_with_deny_refuses_a_right_code_and_it_stays_used";
    if !root_or_skip(TEST) {
        return;
    }
    let host = Host::new();
    let result = with_small_disk(&host.state_dir, DISK, || {
        let cy = host.enroll("cy");
        fill_disk(&host.state_dir);
        wait_for_step_margin(&cy.params, 5);
        let code = code_now(&cy.params);
        let (outcome, transcript) = host.sign_in("cy", &[&code]);
        assert_eq!(outcome.name, "PAM_AUTHINFO_UNAVAIL");
        assert_eq!(transcript, vec![CODE_PROMPT, UNAVAILABLE_ERROR]);
        host.last_decision()
            .assert_decision("cy", "error", "state_write_failed");
        let (outcome, _) = host.sign_in("cy", &[&code]);
        assert_eq!(outcome.name, "PAM_AUTH_ERR");
        host.last_decision()
            .assert_decision("cy", "failure", "replayed_code");
    });
    if let Err(why) = result {
        skip(TEST, &why);
    }
}

#[test]
fn read_only_disk_refuses_every_answer_under_either_policy() {
    const TEST: &str = "read_only_disk_refuses_every_answer_under_either_policy";
    if !root_or_skip(TEST) {
        return;
    }
    for policy in ["deny", "allow"] {
        let host = Host::with(&format!("on_state_write_error = {policy:?}"), "");
        let dee = host.enroll("dee");
        // A user enrolled by an older twofold has no lock file until the first sign-in.
        fs::remove_file(host.state_dir.join("state/dee.lock")).unwrap();
        let right = code_now(&dee.params);
        let wrong = wrong_code(&dee.params);
        let outcomes = with_read_only(&host.state_dir, || {
            [&right, &wrong, &dee.recovery[0]]
                .map(|answer| host.sign_in("dee", &[answer.as_str()]).0.name)
        });
        let outcomes = match outcomes {
            Ok(o) => o,
            Err(why) => return skip(TEST, &why),
        };
        assert_eq!(outcomes, ["PAM_AUTHINFO_UNAVAIL"; 3], "{policy}");
        for d in host.decisions() {
            d.assert_decision("dee", "error", "state_write_failed");
            assert!(d.get("detail").contains("Read-only"), "{}", d.raw);
        }
        // Back on a writable disk nothing was used up: the same right code signs in.
        let (outcome, _) = host.sign_in("dee", &[&right]);
        assert_eq!(outcome.name, "PAM_SUCCESS", "{policy}");
    }
}

#[test]
fn leftover_temp_files_are_removed_at_the_next_write_of_their_directory() {
    let host = Host::new();
    let eve = host.enroll("eve");
    let users = host.state_dir.join("users");
    let state = host.state_dir.join("state");
    // What a sign-in killed between create and rename leaves: its fixed-name temporaries
    // (written under eve's lock), replaced at eve's next sign-in without listing state/.
    fs::write(state.join(".eve.toml.0000000000000000.tmp"), "x").unwrap();
    fs::write(state.join(".eve.guard.0000000000000000.tmp"), "x").unwrap();
    let (outcome, _) = host.sign_in("eve", &[&code_now(&eve.params)]);
    assert_eq!(outcome.name, "PAM_SUCCESS");
    assert_eq!(
        temp_files(&state),
        Vec::<String>::new(),
        "the sign-in's own leftovers are gone"
    );

    // What a killed enrollment or command leaves (random names): its own temp holding a key,
    // another user's (nobody holds that user's lock), and things that only look like ours.
    let secret_copy = fs::read(host.record_path("eve")).unwrap();
    fs::write(users.join(".eve.toml.0123456789abcdef.tmp"), &secret_copy).unwrap();
    fs::write(users.join(".zed.toml.1111111111111111.tmp"), &secret_copy).unwrap();
    fs::write(state.join(".eve.toml.2222222222222222.tmp"), "x").unwrap();
    fs::write(state.join(".eve.guard.3333333333333333.tmp"), "x").unwrap();
    symlink("/etc/passwd", state.join(".eve.toml.4444444444444444.tmp")).unwrap();
    fs::create_dir(state.join(".eve.toml.5555555555555555.tmp")).unwrap();
    fs::write(state.join(".eve.toml.notours.tmp"), "x").unwrap();

    // The next write in users/ (new recovery codes), like every administrative command,
    // removes them: first of all the copies holding the key.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_twofold"))
        .args(["--config", &host.config_path.display().to_string()])
        .args(["recovery-codes", "eve", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(temp_files(&users), Vec::<String>::new());
    let mut left = temp_files(&state);
    left.sort();
    assert_eq!(
        left,
        vec![
            ".eve.toml.4444444444444444.tmp".to_string(),
            ".eve.toml.5555555555555555.tmp".to_string()
        ],
        "regular files of ours removed; a symlink and a directory left alone"
    );
    assert!(state.join(".eve.toml.notours.tmp").exists());
    assert_eq!(
        fs::read_to_string("/etc/passwd").map(|t| t.is_empty()).ok(),
        Some(false)
    );
}

#[test]
fn a_burst_of_replays_does_not_lock_the_real_user_out() {
    // Replays of a code already used prove someone saw it, not a guess: refused, logged, but
    // not counted, so a replaying script cannot lock the user out. Wrong codes still count.
    let host = Host::with("[rate_limit]\nmax_failures = 3", "");
    let fox = host.enroll("fox");
    wait_for_step_margin(&fox.params, 5);
    let used = code_now(&fox.params);
    assert_eq!(host.sign_in("fox", &[&used]).0.name, "PAM_SUCCESS");
    for _ in 0..20 {
        assert_eq!(host.sign_in("fox", &[&used]).0.name, "PAM_AUTH_ERR");
        host.last_decision()
            .assert_decision("fox", "failure", "replayed_code");
    }
    assert_eq!(host.state("fox").failures, 0);
    let next = code_at_offset(&fox.params, 1);
    assert_eq!(
        host.sign_in("fox", &[&next]).0.name,
        "PAM_SUCCESS",
        "the real user still gets in: {}",
        host.last_decision().raw
    );
    let wrong = wrong_code(&fox.params);
    for _ in 0..3 {
        host.sign_in("fox", &[&wrong]);
    }
    host.sign_in("fox", &[&wrong]);
    host.last_decision()
        .assert_decision("fox", "failure", "locked_out");
}
