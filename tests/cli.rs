//! The `twofold` command, run as a program against a private temporary state directory:
//! enrollment (non-interactive, through a pipe, through a pty), administration commands,
//! check-config, google-authenticator import and the libpam demo. TOTP codes come from
//! oathtool, an independent RFC 6238 implementation.

mod cli_support;

use cli_support::*;
use std::process::Command;
use twofold_core::factor::Method;
use twofold_core::factor::recovery;
use twofold_core::signin::answer::{Refusal, verify};
use twofold_core::username::UserName;

const PROMPT: &str = "Enter the code shown in the app: ";
const NOT_RIGHT: &str =
    "That code is not right. Check that the phone's clock is set automatically, then try again.";

fn user(name: &str) -> UserName {
    UserName::parse(name.as_bytes()).expect("valid user name")
}

/// Splits `otpauth://totp/LABEL?k=v&...` into the label and the query pairs.
fn parse_otpauth(uri: &str) -> (String, Vec<(String, String)>) {
    let rest = uri
        .strip_prefix("otpauth://totp/")
        .unwrap_or_else(|| panic!("not a TOTP otpauth URI: {uri}"));
    let (label, query) = rest.split_once('?').expect("URI has a query");
    let pairs = query
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (k.to_string(), v.to_string())
        })
        .collect();
    (label.to_string(), pairs)
}

fn is_recovery_code_shape(code: &str) -> bool {
    let parts: Vec<&str> = code.split('-').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            p.len() == 4
                && p.bytes()
                    .all(|b| b"0123456789abcdefghjkmnpqrstvwxyz".contains(&b))
        })
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .expect("JSON array")
        .iter()
        .map(|v| v.as_str().expect("JSON string").to_string())
        .collect()
}

// ---------------------------------------------------------------- enroll

#[test]
fn enroll_no_verify_json_has_fields_uri_codes_and_private_files() {
    let env = Env::new();
    let t0 = now();
    let out = env.run(&["enroll", "bob", "--force", "--no-verify", "--json"]);
    out.expect_code(0);
    assert_eq!(out.stderr, "", "nothing on stderr with --json --no-verify");
    let json = out.json();
    let obj = json.as_object().expect("JSON object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "algorithm",
            "digits",
            "otpauth_uri",
            "period",
            "recovery_codes",
            "secret",
            "user"
        ]
    );
    assert_eq!(json["user"], "bob");
    assert_eq!(json["algorithm"], "SHA1");
    assert_eq!(json["digits"], 6);
    assert_eq!(json["period"], 30);
    let secret = json["secret"].as_str().unwrap().to_string();
    // A fresh SHA-1 key is 20 bytes: 32 base32 characters, no padding.
    assert_eq!(secret.len(), 32, "{secret}");
    assert!(
        secret
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    );

    let uri = json["otpauth_uri"].as_str().unwrap();
    let (label, pairs) = parse_otpauth(uri);
    // The account alone: the issuer parameter names the issuer (8 bytes less in the QR code).
    assert_eq!(label, "bob", "account label");
    let get = |k: &str| {
        let found: Vec<&str> = pairs
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(found.len(), 1, "{k} once in {uri}");
        found[0].to_string()
    };
    assert_eq!(get("secret"), secret);
    assert_eq!(get("issuer"), "twofold");
    // SHA1, 6 digits and 30 s are the defaults every app assumes: left out of the code.
    assert_eq!(pairs.len(), 2, "no other parameters: {uri}");
    assert_eq!(uri, expected_uri("bob", &secret, "SHA1", 6, 30));

    let codes = strings(&json["recovery_codes"]);
    assert_eq!(codes.len(), 10);
    for code in &codes {
        assert!(is_recovery_code_shape(code), "recovery code {code:?}");
    }
    let mut unique = codes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10, "recovery codes are distinct");

    // Files: created directories 0700, record, guard and lock 0600. The enrollment is the
    // record alone (one rename); the state file appears at the first sign-in.
    assert_eq!(mode_of(&env.state_dir), 0o700);
    assert_eq!(mode_of(&env.state_dir.join("users")), 0o700);
    assert_eq!(mode_of(&env.state_dir.join("state")), 0o700);
    let record = env.record_path("bob");
    assert_eq!(mode_of(&record), 0o600, "record file mode");
    assert_eq!(
        mode_of(&env.state_dir.join("state/bob.guard")),
        0o600,
        "guard file mode"
    );
    assert_eq!(
        mode_of(&env.state_dir.join("state/bob.lock")),
        0o600,
        "lock file mode"
    );
    assert!(!env.state_path("bob").exists());
    let record_text = std::fs::read_to_string(&record).unwrap();
    assert!(record_text.contains(&secret), "the record holds the key");

    // The key is in the record and nowhere else; recovery codes are nowhere in plain text.
    let files = files_below(env.path());
    assert!(files.contains(&env.state_dir.join("state/bob.guard")));
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        if *file != record {
            assert!(
                !text.contains(&secret),
                "key leaked into {}",
                file.display()
            );
        }
        for code in &codes {
            assert!(
                !text.contains(code.as_str()) && !text.contains(&code.replace('-', "")),
                "recovery code in plain text in {}",
                file.display()
            );
        }
    }

    // The library reads the same record: same key, the codes' hashes, creation time.
    let loaded = env.store().load_record(&user("bob")).unwrap().unwrap();
    assert_eq!(loaded.totp.secret.expose(), secret);
    assert!(loaded.created >= t0 && loaded.created <= now());
    let hashes = env.store().load_recovery(&user("bob")).unwrap();
    assert_eq!(hashes.len(), 10);
    for code in &codes {
        let n = recovery::normalize(code).expect("normalizes");
        assert!(recovery::find_match(&n, &hashes, &[]).is_some());
    }
}

#[test]
fn enroll_refuses_an_enrolled_user_unless_forced() {
    let env = Env::new();
    let first = env.enroll_json("daemon", &["--secret", SECRET]);
    assert_eq!(first["secret"], SECRET);
    let again = env.run(&["enroll", "daemon", "--no-verify", "--json"]);
    again.expect_code(1);
    assert_eq!(
        again.stderr,
        "twofold: daemon is already enrolled; run `twofold reset daemon` first, or use --force\n"
    );
    assert_eq!(again.stdout, "");
    let kept = env.store().load_record(&user("daemon")).unwrap().unwrap();
    assert_eq!(kept.totp.secret.expose(), SECRET, "record untouched");

    let forced = env.enroll_json("daemon", &[]);
    assert_ne!(forced["secret"], SECRET);
    let replaced = env.store().load_record(&user("daemon")).unwrap().unwrap();
    assert_eq!(
        replaced.totp.secret.expose(),
        forced["secret"].as_str().unwrap()
    );
}

#[test]
fn enroll_secret_is_normalised_and_bad_secret_refused() {
    let env = Env::new();
    let lower_spaced = "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp";
    let json = env.enroll_json("bob", &["--secret", lower_spaced]);
    assert_eq!(json["secret"], SECRET);
    let bad = env.run(&[
        "enroll",
        "carol",
        "--force",
        "--no-verify",
        "--secret",
        "not base32!",
    ]);
    bad.expect_code(1);
    assert_eq!(bad.stderr, "twofold: --secret is not a valid base32 key\n");
    assert!(!env.record_path("carol").exists());
}

#[test]
fn enroll_via_stdin_wrong_then_oathtool_code_is_saved() {
    if !have_tool(
        "oathtool",
        "enroll_via_stdin_wrong_then_oathtool_code_is_saved",
    ) {
        return;
    }
    let env = Env::new();
    let wrong = wrong_code(SECRET, &["--totp"], 6, 30);
    let right = oathtool(SECRET, &["--totp"], None);
    let t0 = now();
    let out = env.run_with_stdin(
        &[
            "enroll", "carol", "--force", "--secret", SECRET, "--qr", "none",
        ],
        &format!("{wrong}\n{right}\n"),
    );
    out.expect_code(0);
    assert!(
        out.stdout
            .contains("\n✓ Saved. carol now needs a code from the app at every sign-in.\n"),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stderr,
        format!("{PROMPT}{NOT_RIGHT}\n{PROMPT}"),
        "one wrong attempt, then accepted"
    );
    // --qr none: no code drawn, so nothing says "scan"; the key is the way in.
    assert!(
        out.stdout
            .contains("and type this key:\n\nJBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP\n"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.to_lowercase().contains("scan"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("(time-based, SHA1, 6 digits, every 30 seconds)\n")
    );
    let shown: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .filter(|l| is_recovery_code_shape(l))
        .collect();
    assert_eq!(shown.len(), 10, "ten recovery codes printed");

    // Saved, and the confirmed step is recorded: the same code cannot sign in afterwards.
    let store = env.store();
    let u = user("carol");
    let record = store.load_record(&u).unwrap().expect("record saved");
    assert_eq!(record.totp.secret.expose(), SECRET);
    let lock = store.lock(&u).unwrap();
    let mut state = store.load_state(&u, &lock).unwrap();
    let step = t0 / 30;
    assert!(
        (step - 1..=step + 1).contains(&state.last_step),
        "last_step {} vs now's step {step}",
        state.last_step
    );
    let config = env.load_config();
    assert_eq!(
        verify(&right, &record, &[], &mut state, &config, now()),
        Err((Method::Totp, Refusal::ReplayedCode)),
        "the confirmation code is spent"
    );
}

#[test]
fn enroll_via_stdin_three_wrong_codes_saves_nothing() {
    if !have_tool(
        "oathtool",
        "enroll_via_stdin_three_wrong_codes_saves_nothing",
    ) {
        return;
    }
    let env = Env::new();
    let wrong = wrong_code(SECRET, &["--totp"], 6, 30);
    let right = oathtool(SECRET, &["--totp"], None);
    // A fourth line with the right code must not be read: three attempts only.
    let out = env.run_with_stdin(
        &[
            "enroll", "carol", "--force", "--secret", SECRET, "--qr", "none",
        ],
        &format!("{wrong}\n{wrong}\n{wrong}\n{right}\n"),
    );
    out.expect_code(1);
    assert_eq!(
        out.stderr,
        format!(
            "{PROMPT}{NOT_RIGHT}\n{PROMPT}{NOT_RIGHT}\n{PROMPT}twofold: 3 wrong codes; nothing was saved\n"
        )
    );
    assert!(!out.stdout.contains("Saved"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("Recovery codes"),
        "codes not shown for an enrollment that failed"
    );
    assert!(!env.record_path("carol").exists(), "no record saved");
    assert!(!env.state_path("carol").exists(), "no state saved");
    env.run(&["status", "carol"]).expect_code(3);
}

#[test]
fn enroll_via_stdin_end_of_input_saves_nothing() {
    let env = Env::new();
    let out = env.run_with_stdin(&["enroll", "carol", "--force", "--qr", "none"], "");
    out.expect_code(1);
    assert_eq!(
        out.stderr,
        format!("{PROMPT}twofold: no code given; nothing was saved\n")
    );
    assert!(!env.record_path("carol").exists());
}

/// Runs `cmd` on a pseudo-terminal (python3's pty module); types `code` after the prompt.
/// Prints everything the terminal showed, exits with the command's status (99: timeout).
const PTY_DRIVER: &str = r#"
import os, pty, select, subprocess, sys, time
prompt, code, cmd = sys.argv[1].encode(), sys.argv[2].encode(), sys.argv[3:]
master, slave = pty.openpty()
p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, close_fds=True,
                     start_new_session=True)
os.close(slave)
out, sent, deadline = b"", False, time.time() + 60
while time.time() < deadline:
    ready, _, _ = select.select([master], [], [], 1)
    if not ready:
        continue
    try:
        data = os.read(master, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    if not sent and prompt in out:
        os.write(master, code + b"\n")
        sent = True
else:
    p.kill()
    sys.stdout.buffer.write(out)
    sys.exit(99)
rc = p.wait()
sys.stdout.buffer.write(out)
sys.exit(rc)
"#;

#[test]
fn enroll_through_a_pty() {
    let test = "enroll_through_a_pty";
    if !have_tool("python3", test) || !have_tool("oathtool", test) {
        return;
    }
    let env = Env::new();
    let code = oathtool(SECRET, &["--totp"], None);
    let mut cmd = Command::new("python3");
    cmd.args(["-c", PTY_DRIVER, PROMPT, &code, TWOFOLD, "--config"])
        .arg(&env.config)
        .args([
            "enroll", "dave", "--force", "--secret", SECRET, "--qr", "ansi",
        ]);
    let out = run_command(cmd, "");
    out.expect_code(0);
    let screen = out.stdout.replace("\r\n", "\n");
    // The terminal echoed the typed code right after the prompt: the program read from a tty.
    assert!(
        screen.contains(&format!("{PROMPT}{code}\n")),
        "prompt and echoed code on the terminal:\n{screen}"
    );
    assert!(screen.contains("✓ Saved. dave now needs a code from the app at every sign-in.\n"));
    assert!(screen.contains("\x1b[0;38;5;16;48;5;231m"), "ANSI QR drawn");
    assert!(env.record_path("dave").exists());
}

#[test]
fn enroll_sha256_8_digits_60_seconds_accepts_oathtool_code() {
    if !have_tool(
        "oathtool",
        "enroll_sha256_8_digits_60_seconds_accepts_oathtool_code",
    ) {
        return;
    }
    let env = Env::new();
    let sha256 = ["--totp=sha256", "--digits=8", "--time-step-size=60s"];
    // Same key, digits and period but SHA-1: must be refused, proving the algorithm is applied.
    let sha1_code = oathtool(
        SECRET_32,
        &["--totp=sha1", "--digits=8", "--time-step-size=60s"],
        None,
    );
    let right = oathtool(SECRET_32, &sha256, None);
    assert_ne!(sha1_code, right);
    let out = env.run_with_stdin(
        &[
            "enroll",
            "erin",
            "--force",
            "--secret",
            SECRET_32,
            "--algorithm",
            "SHA256",
            "--digits",
            "8",
            "--period",
            "60",
            "--json",
        ],
        &format!("{sha1_code}\n{right}\n"),
    );
    out.expect_code(0);
    assert_eq!(out.stderr, format!("{PROMPT}{NOT_RIGHT}\n{PROMPT}"));
    let json = out.json();
    assert_eq!(json["algorithm"], "SHA256");
    assert_eq!(json["digits"], 8);
    assert_eq!(json["period"], 60);
    assert_eq!(
        json["otpauth_uri"],
        expected_uri("erin", SECRET_32, "SHA256", 8, 60)
    );
    let status = env.run(&["status", "erin", "--json"]).expect_code(0).json();
    assert_eq!(status["algorithm"], "SHA256");
    assert_eq!(status["digits"], 8);
    assert_eq!(status["period"], 60);
    let out = env.run(&["status", "erin"]);
    out.expect_code(0);
    assert!(
        out.stdout
            .starts_with("erin: enrolled (TOTP, SHA256, 8 digits, 60 s)\n"),
        "{}",
        out.stdout
    );
    // The next code from oathtool (a later step) signs in through the library.
    let store = env.store();
    let u = user("erin");
    let record = store.load_record(&u).unwrap().unwrap();
    let lock = store.lock(&u).unwrap();
    let mut state = store.load_state(&u, &lock).unwrap();
    let later = now() + 60;
    let next = oathtool(SECRET_32, &sha256, Some(later));
    assert_eq!(
        verify(&next, &record, &[], &mut state, &env.load_config(), later),
        Ok(Method::Totp)
    );
}

// ---------------------------------------------------------------- administration

#[test]
fn status_of_enrolled_and_not_enrolled_user() {
    let env = Env::new();
    let t0 = now();
    env.enroll_json("bob", &[]);
    let t1 = now();
    let json = env.run(&["status", "bob", "--json"]).expect_code(0).json();
    let created = json["created"].as_u64().expect("created is a number");
    assert!((t0..=t1).contains(&created), "created {created}");
    let expected = serde_json::json!({
        "user": "bob",
        "enrolled": true,
        "created": created,
        "algorithm": "SHA1",
        "digits": 6,
        "period": 30,
        "recovery_codes_left": 10,
        "failures": 0,
        "locked": false,
        "locked_until": 0,
        "locked_until_at": null,
        "last_success": 0,
        "last_success_at": null,
        "created_at": twofold_core::when::iso8601(created),
    });
    assert_eq!(json, expected);
    let iso = json["created_at"].as_str().unwrap();
    assert!(
        iso.ends_with('Z') && iso.len() == 20 && iso.as_bytes()[10] == b'T',
        "{iso}"
    );

    let text = env.run(&["status", "bob"]);
    text.expect_code(0);
    assert_eq!(
        text.stdout,
        "bob: enrolled (TOTP, SHA1, 6 digits, 30 s)\n  recovery codes left: 10 of 10\n  consecutive failures: 0\n"
    );

    let missing = env.run(&["status", "zed", "--json"]);
    missing.expect_code(3);
    assert_eq!(
        missing.json(),
        serde_json::json!({ "user": "zed", "enrolled": false })
    );
    let missing = env.run(&["status", "zed"]);
    missing.expect_code(3);
    assert_eq!(missing.stdout, "zed: not enrolled\n");
}

#[test]
fn list_shows_odd_names_decoded_and_sorted() {
    let env = Env::new();
    let empty = env.run(&["list"]);
    empty.expect_code(0);
    assert_eq!(
        empty.stdout, "no users enrolled\n",
        "no users before any enrollment"
    );
    assert_eq!(
        env.run(&["list", "--json"]).expect_code(0).json(),
        serde_json::json!([])
    );

    let names = [
        "bob",
        "alice@corp.example",
        "DOMAIN\\carol",
        ".dotfile",
        "ünïcode",
    ];
    for name in names {
        env.enroll_json(name, &[]);
    }
    // On disk the names are encoded: no '@', '\' or leading '.' in file names.
    let mut on_disk: Vec<String> = std::fs::read_dir(env.state_dir.join("users"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    on_disk.sort();
    assert_eq!(
        on_disk,
        [
            "%2Edotfile.toml",
            "%C3%BCn%C3%AFcode.toml",
            "DOMAIN%5Ccarol.toml",
            "alice%40corp.example.toml",
            "bob.toml"
        ]
    );
    let mut sorted: Vec<&str> = names.to_vec();
    sorted.sort();
    let out = env.run(&["list"]);
    out.expect_code(0);
    let mut lines = out.stdout.lines();
    assert_eq!(
        lines
            .next()
            .map(|h| h.split_whitespace().collect::<Vec<_>>().join(" ")),
        Some("USER METHODS LAST SIGN-IN LOCKED".into())
    );
    let listed: Vec<&str> = lines
        .clone()
        .map(|l| l.split("  ").next().unwrap())
        .collect();
    assert_eq!(listed, sorted, "decoded and sorted by name");
    for line in lines {
        let cells: Vec<&str> = line
            .split("  ")
            .filter(|c| !c.is_empty())
            .map(str::trim)
            .collect();
        assert_eq!(cells[1..], ["app,recovery", "never", "no"], "{line}");
    }
    let json = env.run(&["list", "--json"]).expect_code(0).json();
    assert_eq!(strings(&json), sorted);

    // Each decoded name works as an argument again.
    let status = env
        .run(&["status", "alice@corp.example", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(status["user"], "alice@corp.example");
    assert_eq!(status["enrolled"], true);
}

#[test]
fn reset_removes_record_and_state() {
    let env = Env::new();
    env.enroll_json("bob", &[]);
    env.enroll_json("alice@corp.example", &[]);
    // A state file, as the first sign-in leaves it.
    {
        let store = env.store();
        let u = user("bob");
        let lock = store.lock(&u).unwrap();
        let state = store.load_state(&u, &lock).unwrap();
        store.save_state(&u, &lock, &state).unwrap();
    }
    assert!(env.record_path("bob").exists() && env.state_path("bob").exists());

    let out = env.run(&["reset", "bob"]);
    out.expect_code(0);
    assert_eq!(
        out.stdout,
        "✓ bob: enrollment removed; they must enroll again.\n"
    );
    assert!(!env.record_path("bob").exists(), "record removed");
    assert!(!env.state_path("bob").exists(), "state removed");
    assert!(
        !env.state_dir.join("state/bob.guard").exists(),
        "guard removed"
    );
    env.run(&["status", "bob"]).expect_code(3);
    let listed = env.run(&["list"]).expect_code(0).stdout.clone();
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(
        listed
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("alice@corp.example  "),
        "{listed}"
    );

    let again = env.run(&["reset", "bob"]);
    again.expect_code(1);
    assert_eq!(again.stderr, "twofold: bob is not enrolled\n");

    let out = env.run(&["reset", "alice@corp.example"]);
    out.expect_code(0);
    assert!(!env.record_path("alice%40corp.example").exists());
    assert_eq!(
        env.run(&["list"]).expect_code(0).stdout,
        "no users enrolled\n"
    );

    // Enrolling again after a reset works.
    env.enroll_json("bob", &[]);
}

#[test]
fn unlock_clears_a_lockout_written_into_the_state_file() {
    let env = Env::new();
    env.enroll_json("alice@corp.example", &[]);
    let state_file = env.state_path("alice%40corp.example");
    let until = now() + 900;
    // The state file, as the module writes it after five failures; last_step must survive unlock.
    let id = env
        .store()
        .load_record(&user("alice@corp.example"))
        .unwrap()
        .unwrap()
        .id;
    write_private(
        &state_file,
        &format!(
            "last_step = 12345\nfailures = 5\nlocked_until = {until}\nused_recovery = []\nlast_success = 0\nenrollment = \"{id}\"\n"
        ),
    );
    let json = env
        .run(&["status", "alice@corp.example", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(json["locked"], true);
    assert_eq!(json["failures"], 5);
    assert_eq!(json["locked_until"], until);
    let text = env.run(&["status", "alice@corp.example"]);
    text.expect_code(0);
    assert!(text.stdout.contains("  consecutive failures: 5\n"));
    // When it ends as a date, how long that is, and what ends it sooner.
    let ends = twofold_core::when::human(until);
    assert!(
        text.stdout.contains(&format!(
            "  LOCKED until {ends} (15 minutes more; `twofold unlock alice@corp.example` ends it)\n"
        )),
        "{}",
        text.stdout
    );
    assert_eq!(json["locked_until_at"], twofold_core::when::iso8601(until));

    let out = env.run(&["unlock", "alice@corp.example"]);
    out.expect_code(0);
    assert_eq!(
        out.stdout,
        "✓ alice@corp.example: unlocked, failure count cleared.\n"
    );
    let json = env
        .run(&["status", "alice@corp.example", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(json["locked"], false);
    assert_eq!(json["failures"], 0);
    assert_eq!(json["locked_until"], 0);
    let text = env.run(&["status", "alice@corp.example"]).stdout;
    assert!(!text.contains("LOCKED"), "{text}");

    let store = env.store();
    let u = user("alice@corp.example");
    let lock = store.lock(&u).unwrap();
    let state = store.load_state(&u, &lock).unwrap();
    assert_eq!(state.last_step, 12345, "unlock keeps replay protection");
    assert_eq!(mode_of(&state_file), 0o600);

    let missing = env.run(&["unlock", "zed"]);
    missing.expect_code(1);
    assert_eq!(missing.stderr, "twofold: zed is not enrolled\n");
}

#[test]
fn unlock_resumes_push_paused_after_a_report_and_status_says_until_when() {
    let env = Env::new();
    env.enroll_json("bob", &[]);
    let until = now() + 86_400;
    let id = env.store().load_record(&user("bob")).unwrap().unwrap().id;
    // The state after "This wasn't me" on the phone, as the module writes it.
    write_private(
        &env.state_path("bob"),
        &format!(
            "last_step = 7\nfailures = 0\nlocked_until = 0\nused_recovery = []\nlast_success = 0\npush_suspended_until = {until}\nenrollment = \"{id}\"\n"
        ),
    );
    let text = env.run(&["status", "bob"]).expect_code(0).stdout.clone();
    assert!(
        text.contains(&format!(
            "  push paused until {}: suspended after a sign-in was reported as not them (`twofold unlock bob` resumes it)\n",
            twofold_core::when::human(until)
        )),
        "{text}"
    );
    let out = env.run(&["unlock", "bob"]);
    out.expect_code(0);
    assert_eq!(
        out.stdout,
        "✓ bob: unlocked, failure count cleared, push approval resumed.\n"
    );
    let store = env.store();
    let u = user("bob");
    let lock = store.lock(&u).unwrap();
    let state = store.load_state(&u, &lock).unwrap();
    assert_eq!(state.push_suspended_until, 0);
    assert_eq!(state.last_step, 7);
    drop(lock);
    let text = env.run(&["status", "bob"]).expect_code(0).stdout.clone();
    assert!(!text.contains("push paused"), "{text}");
}

#[test]
fn serve_add_host_names_the_configured_token_file() {
    let env = Env::new();
    let db = env.path().join("serve.db");
    write_private(
        &env.config,
        &format!(
            "state_dir = {:?}\n[push]\nurl = \"https://push.example.org\"\nhost_token_file = \"/etc/twofold/push-token\"\n[serve]\ndatabase = {:?}\n",
            env.state_dir.display().to_string(),
            db.display().to_string()
        ),
    );
    let out = env.run(&["serve", "--add-host", "web1"]);
    out.expect_code(0);
    assert!(
        out.stdout.ends_with(
            "\nNote: on this machine [push] host_token_file is /etc/twofold/push-token: store it there instead.\n"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn enroll_refuses_a_name_the_system_does_not_know_unless_forced() {
    let env = Env::new();
    let out = env.run(&["enroll", "alcie-no-such-user", "--no-verify", "--json"]);
    out.expect_code(1);
    assert_eq!(
        out.stderr,
        "twofold: alcie-no-such-user: no such account on this system (getpwnam found none); check the name, or use --force to enroll it anyway (an account from a directory not yet visible here)\n"
    );
    assert!(
        !env.record_path("alcie-no-such-user").exists(),
        "nothing saved"
    );
    env.run(&[
        "enroll",
        "alcie-no-such-user",
        "--no-verify",
        "--json",
        "--force",
    ])
    .expect_code(0);
    assert!(env.record_path("alcie-no-such-user").exists());
}

#[test]
fn every_argument_has_help_and_config_shows_its_default() {
    let out = run_command(
        {
            let mut c = Command::new(TWOFOLD);
            c.arg("--help");
            c
        },
        "",
    );
    assert!(
        out.stdout.contains("[default: /etc/twofold/twofold.toml"),
        "{}",
        out.stdout
    );
    for sub in [
        "status",
        "list",
        "reset",
        "unlock",
        "recovery-codes",
        "devices",
        "enroll",
        "check-config",
    ] {
        let out = run_command(
            {
                let mut c = Command::new(TWOFOLD);
                c.args([sub, "--help"]);
                c
            },
            "",
        );
        // clap prints an argument without help as its name alone on the line.
        for line in out.stdout.lines() {
            let t = line.trim();
            let bare = (t.starts_with('<') && t.ends_with('>') && !t.contains(' '))
                || (t.starts_with("--") && !t.contains("  "));
            assert!(
                !bare,
                "`twofold {sub} --help`: no help for {t:?}:\n{}",
                out.stdout
            );
        }
    }
}

#[test]
fn unlock_clears_a_lockout_made_by_failed_verifications() {
    let env = Env::new();
    env.enroll_json("bob", &["--secret", SECRET]);
    let config = env.load_config();
    let store = env.store();
    let u = user("bob");
    let record = store.load_record(&u).unwrap().unwrap();
    let t = now();
    // The codes of the whole accepted window, so that the wrong code is certainly wrong.
    let near: Vec<String> = (0..3)
        .map(|i| record.totp.code_at(t + i * 30 - 30).unwrap())
        .collect();
    let wrong = ["000000", "111111", "222222", "333333"]
        .into_iter()
        .find(|c| !near.iter().any(|n| n == c))
        .unwrap();
    {
        let lock = store.lock(&u).unwrap();
        let mut state = store.load_state(&u, &lock).unwrap();
        for _ in 0..config.rate_limit.max_failures {
            assert_eq!(
                verify(wrong, &record, &[], &mut state, &config, t),
                Err((Method::Totp, Refusal::WrongCode))
            );
        }
        store.save_state(&u, &lock, &state).unwrap();
    }
    let json = env.run(&["status", "bob", "--json"]).expect_code(0).json();
    assert_eq!(json["locked"], true);
    assert_eq!(json["failures"], 5);
    assert_eq!(json["locked_until"], t + 900);

    env.run(&["unlock", "bob"]).expect_code(0);
    let json = env.run(&["status", "bob", "--json"]).expect_code(0).json();
    assert_eq!(json["locked"], false);
    assert_eq!(json["failures"], 0);
}

#[test]
fn recovery_codes_replaces_the_old_codes() {
    let env = Env::new();
    let enrolled = env.enroll_json("bob", &[]);
    let old = strings(&enrolled["recovery_codes"]);
    assert_eq!(old.len(), 10);
    let store = env.store();
    let u = user("bob");
    let config = env.load_config();

    // Use one old code, so the state has a used id that must be forgotten.
    {
        let record = store.load_record(&u).unwrap().unwrap();
        let lock = store.lock(&u).unwrap();
        let mut state = store.load_state(&u, &lock).unwrap();
        assert_eq!(
            verify(
                &old[0],
                &record,
                &store.load_recovery(&u).unwrap(),
                &mut state,
                &config,
                now()
            ),
            Ok(Method::Recovery)
        );
        store.save_state(&u, &lock, &state).unwrap();
    }
    let status = env.run(&["status", "bob", "--json"]).expect_code(0).json();
    assert_eq!(status["recovery_codes_left"], 9);

    let out = env.run(&["recovery-codes", "bob", "--json"]);
    out.expect_code(0);
    let json = out.json();
    assert_eq!(json["user"], "bob");
    let new = strings(&json["recovery_codes"]);
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|c| is_recovery_code_shape(c)));
    assert!(new.iter().all(|c| !old.contains(c)), "all codes are new");

    let hashes = store.load_recovery(&u).unwrap();
    assert_eq!(hashes.len(), 10);
    for code in &old {
        let n = recovery::normalize(code).unwrap();
        assert_eq!(
            recovery::find_match(&n, &hashes, &[]),
            None,
            "old code {code} still in the record"
        );
    }
    for code in &new {
        let n = recovery::normalize(code).unwrap();
        assert!(recovery::find_match(&n, &hashes, &[]).is_some());
    }
    let status = env.run(&["status", "bob", "--json"]).expect_code(0).json();
    assert_eq!(status["recovery_codes_left"], 10);
    {
        let lock = store.lock(&u).unwrap();
        let mut state = store.load_state(&u, &lock).unwrap();
        let record = store.load_record(&u).unwrap().unwrap();
        let hashes = store.load_recovery(&u).unwrap();
        assert!(
            state
                .used_recovery
                .iter()
                .all(|id| hashes.iter().all(|h| &h.id != id)),
            "no used id names a new code"
        );
        assert_eq!(
            verify(
                &old[1],
                &record,
                &store.load_recovery(&u).unwrap(),
                &mut state,
                &config,
                now()
            ),
            Err((Method::Recovery, Refusal::WrongRecoveryCode))
        );
    }

    // The text form prints ten codes, none seen before.
    let out = env.run(&["recovery-codes", "bob"]);
    out.expect_code(0);
    assert!(
        out.stdout
            .starts_with("New recovery codes for bob (not in force until saved, below):\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.ends_with(
            "\n✓ Saved: bob's new recovery codes are in force; the old ones no longer work.\n"
        ),
        "{}",
        out.stdout
    );
    let printed: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .collect();
    assert_eq!(printed.len(), 10, "{}", out.stdout);
    assert!(printed.iter().all(|c| is_recovery_code_shape(c)));
    assert!(printed.iter().all(|c| !new.iter().any(|n| n == c)));

    let missing = env.run(&["recovery-codes", "zed"]);
    missing.expect_code(1);
    assert_eq!(missing.stderr, "twofold: zed is not enrolled\n");
}

// ---------------------------------------------------------------- check-config

#[test]
fn check_config_accepts_a_good_file() {
    let env = Env::new();
    let cfg = env.config.display().to_string();
    // The test's state_dir is below /tmp: the placement warning is checked on its own below.
    let without_placement = |text: &str| -> String {
        text.lines()
            .filter(|l| !l.contains(": state_dir: warning: on the same file system as"))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let out = env.run(&["check-config"]);
    out.expect_code(0);
    assert_eq!(
        without_placement(&out.stdout),
        format!("{cfg}: state_dir: does not exist yet; `twofold enroll` creates it\n{cfg}: OK\n")
    );
    assert_eq!(out.stderr, "");
    assert!(!env.state_dir.exists(), "check-config creates nothing");

    env.enroll_json("bob", &[]);
    let out = env.run(&["check-config"]);
    out.expect_code(0);
    assert_eq!(without_placement(&out.stdout), format!("{cfg}: OK\n"));
}

#[test]
fn check_config_warns_when_state_dir_shares_a_file_system_with_tmp() {
    let env = Env::new();
    let cfg = env.config.display().to_string();
    let tmp = std::env::temp_dir();
    assert!(
        env.state_dir.starts_with(&tmp),
        "the test's state_dir is below TMPDIR"
    );
    let out = env.run(&["check-config"]);
    out.expect_code(0);
    let warning = format!(
        "{cfg}: state_dir: warning: on the same file system as {}, which unprivileged users can fill",
        tmp.display()
    );
    // TMPDIR may be elsewhere; the warning names /tmp, /var/tmp or /dev/shm only.
    if !["/tmp", "/var/tmp", "/dev/shm"]
        .iter()
        .any(|p| tmp == std::path::Path::new(p))
    {
        eprintln!(
            "SKIP check_config_warns_when_state_dir_shares_a_file_system_with_tmp: TMPDIR is {}",
            tmp.display()
        );
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "SKIP under CI"
        );
        return;
    }
    assert!(
        out.stdout.lines().any(|l| l.starts_with(&warning)),
        "{}",
        out.stdout
    );
}

/// `check-config --installation` against a made-up pam.d and module directory.
fn check_installation(env: &Env, pam: &[(&str, &str)], module: bool, sudo_user: &str) -> Output {
    let pam_dir = env.path().join("pam.d");
    let module_dir = env.path().join("security");
    std::fs::create_dir_all(&pam_dir).unwrap();
    std::fs::create_dir_all(&module_dir).unwrap();
    for (name, text) in pam {
        std::fs::write(pam_dir.join(name), text).unwrap();
    }
    if module {
        std::fs::write(module_dir.join("pam_twofold.so"), "").unwrap();
    }
    let mut c = env.command(&["check-config"]);
    c.arg("--installation")
        .arg("--pam-dir")
        .arg(&pam_dir)
        .arg("--module-dir")
        .arg(&module_dir)
        .env("SUDO_USER", sudo_user);
    run_command(c, "")
}

#[test]
fn check_config_installation_finds_a_missing_module_and_a_double_pam_line() {
    let env = Env::new();
    let out = check_installation(
        &env,
        &[
            (
                "common-auth",
                "auth [success=1 default=ignore] pam_unix.so nullok\nauth required pam_twofold.so\n",
            ),
            // sshd names it itself and again through common-auth: two codes per sign-in.
            (
                "sshd",
                "@include common-auth\nauth required pam_twofold.so # again\naccount include common-account\n",
            ),
            (
                "sudo",
                "# auth required pam_twofold.so (commented out)\n@include common-auth\n",
            ),
        ],
        false,
        "",
    );
    out.expect_code(1);
    let dir = env.path().display().to_string();
    assert!(
        out.stderr.contains(&format!(
            "module: pam_twofold.so is in none of {dir}/security: every PAM line naming it fails"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "{dir}/pam.d/sshd: names pam_twofold 2 times for auth (sshd:1 -> common-auth:2, sshd:2)"
        )),
        "{}",
        out.stderr
    );
    // sudo names it once (its own line is a comment); common-auth once.
    assert!(
        out.stdout.contains(&format!(
            "{dir}/pam.d/sudo: auth uses pam_twofold (sudo:2 -> common-auth:2)"
        )),
        "{}",
        out.stdout
    );
    assert!(!out.stderr.contains("pam.d/sudo"), "{}", out.stderr);
    // Root is not enrolled and unenrolled users are refused by default: locked out.
    assert!(
        out.stderr
            .contains("root: not enrolled, and [enrollment] unenrolled = \"refuse\""),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains(": OK"), "{}", out.stdout);
}

#[test]
fn check_config_installation_finds_a_readable_host_token_and_a_silent_service() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    env.enroll_json("root", &[]);
    let token = env.path().join("host-token");
    std::fs::write(&token, format!("{}\n", "A".repeat(43))).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    write_private(
        &env.config,
        &format!(
            "state_dir = {:?}\n[push]\nurl = \"http://127.0.0.1:{port}\"\nhost_token_file = {:?}\n",
            env.state_dir.display().to_string(),
            token.display().to_string()
        ),
    );
    let pam = [("sshd", "auth required pam_twofold.so\n")];
    let out = check_installation(&env, &pam, true, "");
    out.expect_code(1);
    assert!(
        out.stderr.contains(&format!(
            "push.host_token_file: {} has mode 0644: others can act as this host (chmod 600)",
            token.display()
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "push.url: http://127.0.0.1:{port} does not answer: sign-ins fall back to [push] fail_mode"
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn check_config_installation_wants_pam_twofold_outside_so_when_the_configuration_reaches_outside() {
    let env = Env::new();
    env.enroll_json("root", &[]);
    write_private(
        &env.config,
        &format!(
            "state_dir = {:?}\n[alerts]\ncommand = [\"/bin/true\"]\n",
            env.state_dir.display().to_string()
        ),
    );
    let pam = [("sshd", "auth required pam_twofold.so\n")];
    let dir = env.path().display().to_string();
    let out = check_installation(&env, &pam, true, "");
    out.expect_code(1);
    assert!(
        out.stderr.contains(&format!(
            "module: no pam_twofold_outside.so beside {dir}/security/pam_twofold.so: the module cannot reach [push], [fleet] or [sms] services or run the [alerts] command (they fail as if down)"
        )),
        "{}",
        out.stderr
    );
    std::fs::write(env.path().join("security/pam_twofold_outside.so"), "").unwrap();
    let out = check_installation(&env, &pam, true, "");
    out.expect_code(0);
    assert!(
        out.stdout
            .contains(&format!("module: {dir}/security/pam_twofold_outside.so")),
        "{}",
        out.stdout
    );
}

#[test]
fn check_config_installation_passes_when_module_pam_and_enrollments_are_in_place() {
    let env = Env::new();
    env.enroll_json("root", &[]);
    env.enroll_json("alice", &[]);
    let pam = [(
        "sshd",
        "@include common-account\nauth required pam_twofold.so\n",
    )];
    let out = check_installation(&env, &pam, true, "alice");
    out.expect_code(0);
    let dir = env.path().display().to_string();
    assert_eq!(out.stderr, "");
    assert!(
        out.stdout
            .contains(&format!("module: {dir}/security/pam_twofold.so")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("{dir}/pam.d/sshd: auth uses pam_twofold (sshd:2)")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("root: enrolled\nalice: enrolled\n"),
        "{}",
        out.stdout
    );
    // The invoking administrator, not enrolled, is a problem too.
    let out = check_installation(&env, &pam, true, "bob");
    out.expect_code(1);
    assert!(out.stderr.contains("bob: not enrolled"), "{}", out.stderr);
}

#[test]
fn check_config_names_file_key_line_and_reason() {
    let env = Env::new();
    let path = env.path().join("bad.toml");
    let shown = path.display().to_string();
    let check = |text: &str| {
        write_private(&path, text);
        let out = run_command(
            {
                let mut c = Command::new(TWOFOLD);
                c.arg("--config").arg(&path).arg("check-config");
                c
            },
            "",
        );
        out.expect_code(1);
        assert_eq!(out.stdout, "", "no OK line for a bad file");
        out.stderr
    };
    let state = format!("state_dir = \"{}\"\n", env.state_dir.display());

    // A bad value: key and reason.
    let stderr = check(&format!("{state}[totp]\ndigits = 9\n"));
    assert_eq!(
        stderr,
        format!("{shown}: totp.digits: must be 6, 7 or 8 (got 9)\n")
    );

    // An unknown key: line and the key's name.
    let stderr = check(&format!(
        "{state}[rate_limit]\nfailure_delay_ms = 0\nmax_failurez = 3\n"
    ));
    assert_eq!(
        stderr,
        format!(
            "{shown}: rate_limit.max_failurez (line 4): unknown key \"max_failurez\"; the keys here are \"max_failures\", \"lockout_seconds\", \"failure_delay_ms\"\n"
        )
    );

    // Both in one file: both reported, the unknown key with its line, the bad value with its key.
    let stderr = check(&format!(
        "{state}[totp]\ndigits = 9\n\n[rate_limit]\nmax_failurez = 3\n"
    ));
    assert!(
        stderr.starts_with(&format!(
            "{shown}: rate_limit.max_failurez (line 6): unknown key \"max_failurez\""
        )),
        "{stderr}"
    );
    assert!(
        stderr.ends_with(&format!(
            "{shown}: totp.digits: must be 6, 7 or 8 (got 9)\n"
        )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 2, "{stderr}");

    // Several bad values are all reported, one line each.
    let stderr = check(&format!(
        "{state}issuer = \"a:b\"\n[totp]\ndigits = 5\nperiod = 1\n"
    ));
    assert_eq!(
        stderr,
        format!(
            "{shown}: issuer: must be non-empty and contain no ':'\n{shown}: totp.digits: must be 6, 7 or 8 (got 5)\n{shown}: totp.period: must be 15..=300 seconds (got 1)\n"
        )
    );

    // A wrong type: the line and the reason.
    let stderr = check(&format!(
        "{state}[rate_limit]\nfailure_delay_ms = \"fast\"\n"
    ));
    assert_eq!(
        stderr,
        format!(
            "{shown}: rate_limit.failure_delay_ms (line 3): must be a whole number, 0 or more (got the text \"fast\")\n"
        )
    );

    // Three different mistakes: all three, each with its key, in plain words, at once.
    let stderr = check(&format!(
        "{state}[enrollment]\nunenrolled = \"yes\"\n[rate_limit]\nlockout_seconds = \"five\"\n[totp]\ndigits = 9\n"
    ));
    assert_eq!(
        stderr,
        format!(
            "{shown}: enrollment.unenrolled (line 3): must be one of \"refuse\", \"allow\", \"enroll\" (got \"yes\")\n\
             {shown}: rate_limit.lockout_seconds (line 5): must be a whole number, 0 or more (got the text \"five\")\n\
             {shown}: totp.digits: must be 6, 7 or 8 (got 9)\n"
        )
    );

    // A relative state_dir.
    let stderr = check("state_dir = \"var/lib/twofold\"\n");
    assert_eq!(
        stderr,
        format!("{shown}: state_dir: must be an absolute path\n")
    );

    // An explicitly named file that does not exist.
    std::fs::remove_file(&path).unwrap();
    let out = run_command(
        {
            let mut c = Command::new(TWOFOLD);
            c.arg("--config").arg(&path).arg("check-config");
            c
        },
        "",
    );
    out.expect_code(1);
    assert_eq!(out.stderr, format!("{shown}: no such file\n"));
}

#[test]
fn group_writable_config_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    env.enroll_json("bob", &[]);
    std::fs::set_permissions(&env.config, std::fs::Permissions::from_mode(0o664)).unwrap();
    let cfg = env.config.display().to_string();
    let reason = "mode 0664 gives access to group or others";

    let out = env.run(&["check-config"]);
    out.expect_code(1);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.starts_with(&format!("{cfg}: ")) && out.stderr.contains(reason),
        "{}",
        out.stderr
    );
    // Every other command refuses it too.
    let out = env.run(&["status", "bob"]);
    out.expect_code(1);
    assert!(out.stderr.contains(reason), "{}", out.stderr);
    assert_eq!(out.stdout, "");

    // World-readable but not writable is fine for configuration.
    std::fs::set_permissions(&env.config, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.run(&["check-config"]).expect_code(0);

    // A state directory open to others is reported by check-config.
    std::fs::set_permissions(&env.state_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = env.run(&["check-config"]);
    out.expect_code(1);
    assert!(
        out.stderr.starts_with(&format!("{cfg}: state_dir: "))
            && out
                .stderr
                .contains("mode 0755 gives access to group or others"),
        "{}",
        out.stderr
    );
}

// ---------------------------------------------------------------- import-google-authenticator

/// Runs google-authenticator non-interactively, writing `file`; `mode` is `-t` or `-c`.
fn google_authenticator(file: &std::path::Path, args: &[&str]) {
    let out = Command::new("google-authenticator")
        .args(args)
        .args(["-f", "-q", "-C", "-s"])
        .arg(file)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run google-authenticator");
    assert!(
        out.status.success() && file.exists(),
        "google-authenticator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn import_google_authenticator_totp_file() {
    let test = "import_google_authenticator_totp_file";
    if !have_tool("google-authenticator", test) || !have_tool("oathtool", test) {
        return;
    }
    let env = Env::new();
    let file = env.path().join("google_authenticator");
    google_authenticator(&file, &["-t", "-d", "-r", "3", "-R", "30", "-w", "3"]);
    let text = std::fs::read_to_string(&file).unwrap();
    let secret = text.lines().next().unwrap().to_string();
    let scratch: Vec<&str> = text
        .lines()
        .filter(|l| l.len() == 8 && l.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    assert_eq!(
        scratch.len(),
        5,
        "google-authenticator's default: 5 scratch codes"
    );
    let file_arg = file.to_str().unwrap();

    let out = env.run(&["import-google-authenticator", "frank", file_arg]);
    out.expect_code(0);
    assert_eq!(
        out.stdout,
        format!(
            "✓ Imported {file_arg} for frank: the same app entry keeps working.\n\
             \x20 period 30 s, 5 scratch codes now recovery codes (each works once).\n\
             \x20 WINDOW_SIZE 3 (3 codes accepted): accepted skew ±1 step (±30 s) around the current code\n\
             \x20 RATE_LIMIT is replaced by twofold's [rate_limit] settings.\n\
             \x20 The old file was left in place; remove it once pam_google_authenticator is out of the PAM stack.\n"
        )
    );
    let status = env
        .run(&["status", "frank", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(status["enrolled"], true);
    assert_eq!(status["algorithm"], "SHA1");
    assert_eq!(status["digits"], 6);
    assert_eq!(status["period"], 30);
    assert_eq!(status["recovery_codes_left"], 5);

    let store = env.store();
    let u = user("frank");
    let config = env.load_config();
    let record = store.load_record(&u).unwrap().unwrap();
    assert_eq!(record.totp.secret.expose(), secret);
    assert_eq!(record.totp.skew, Some(1), "WINDOW_SIZE 3 = ±1 step");
    // No scratch code in plain text in the record.
    let record_text = std::fs::read_to_string(env.record_path("frank")).unwrap();
    assert!(scratch.iter().all(|c| !record_text.contains(c)));

    // An oathtool code for the file's key signs in once.
    let t = now();
    let code = oathtool(&secret, &["--totp"], Some(t));
    {
        let lock = store.lock(&u).unwrap();
        let mut state = store.load_state(&u, &lock).unwrap();
        assert_eq!(
            verify(&code, &record, &[], &mut state, &config, t),
            Ok(Method::Totp)
        );
        assert_eq!(
            verify(&code, &record, &[], &mut state, &config, t),
            Err((Method::Totp, Refusal::ReplayedCode))
        );
        // A scratch code works as a recovery code, once (state saved in between).
        assert_eq!(
            verify(
                scratch[2],
                &record,
                &store.load_recovery(&u).unwrap(),
                &mut state,
                &config,
                t
            ),
            Ok(Method::Recovery)
        );
        store.save_state(&u, &lock, &state).unwrap();
    }
    {
        let lock = store.lock(&u).unwrap();
        let mut state = store.load_state(&u, &lock).unwrap();
        assert_eq!(
            verify(
                scratch[2],
                &record,
                &store.load_recovery(&u).unwrap(),
                &mut state,
                &config,
                t
            ),
            Err((Method::Recovery, Refusal::WrongRecoveryCode)),
            "a scratch code works only once"
        );
        assert_eq!(
            verify(
                scratch[3],
                &record,
                &store.load_recovery(&u).unwrap(),
                &mut state,
                &config,
                t
            ),
            Ok(Method::Recovery)
        );
    }
    let status = env
        .run(&["status", "frank", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(status["recovery_codes_left"], 4);

    // Importing over an enrolled user is refused.
    let again = env.run(&["import-google-authenticator", "frank", file_arg]);
    again.expect_code(1);
    assert_eq!(
        again.stderr,
        "twofold: frank is already enrolled in twofold; run `twofold reset frank` first\n"
    );
}

#[test]
fn import_google_authenticator_refuses_hotp_file() {
    if !have_tool(
        "google-authenticator",
        "import_google_authenticator_refuses_hotp_file",
    ) {
        return;
    }
    let env = Env::new();
    let file = env.path().join("google_authenticator_hotp");
    google_authenticator(&file, &["-c", "-u", "-w", "3"]);
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("\" HOTP_COUNTER ")
    );
    let file_arg = file.to_str().unwrap();
    let out = env.run(&["import-google-authenticator", "gina", file_arg]);
    out.expect_code(1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "twofold: {file_arg}: this file is for counter-based (HOTP) codes; twofold supports only \
             time-based (TOTP) codes — enrol the user afresh with `twofold enroll`\n"
        )
    );
    assert!(!env.record_path("gina").exists(), "nothing saved");
    assert!(!env.state_path("gina").exists(), "nothing saved");
    env.run(&["status", "gina"]).expect_code(3);
    assert_eq!(
        env.run(&["list"]).expect_code(0).stdout,
        "no users enrolled\n"
    );
}

// ---------------------------------------------------------------- demo

/// `twofold demo --qr none` with its temporary directory in `tmp`, in the language `lang`
/// names (LANG; LC_ALL and LC_MESSAGES removed so that it decides).
fn demo_command(tmp: &std::path::Path, lang: &str) -> Command {
    let exe = std::path::Path::new(TWOFOLD);
    let mut cmd = Command::new(exe);
    cmd.arg("demo")
        .arg("--qr")
        .arg("none")
        .env("TMPDIR", tmp)
        .env("LANG", lang)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES");
    let module = exe.parent().unwrap().join("libpam_twofold.so");
    if !module.exists() {
        // `cargo test` may leave the module only in deps/.
        let deps = exe.parent().unwrap().join("deps").join("libpam_twofold.so");
        assert!(deps.exists(), "build the PAM module first: cargo build");
        cmd.arg("--module").arg(deps);
    }
    cmd
}

#[test]
fn demo_without_a_terminal_signs_in_through_libpam() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_command(demo_command(tmp.path(), "C.UTF-8"), "");
    out.expect_code(0);
    let stdout = &out.stdout;
    for line in [
        "No terminal: saving without a confirmation code (as `twofold enroll --no-verify`).",
        "✓ Enrolled; 10 recovery codes made.",
        "  ✓ the right code is accepted: libpam returned PAM_SUCCESS",
        "  ✓ a replayed code is refused: libpam returned PAM_AUTH_ERR",
        "  ✓ a wrong code is refused: libpam returned PAM_AUTH_ERR",
        "No terminal: the built-in test device (src/core/src/push/device.rs) is the phone.",
        "  ✓ an approved push signs in: libpam returned PAM_SUCCESS",
        "  [The sign-in was denied on your phone, so it was refused. For the next 30",
        "seconds, sign-ins ask for a code from your app instead of a push.]",
        "  ✓ a denied push is refused: libpam returned PAM_AUTH_ERR",
        "  ✓ twofold serve stopped",
        "✓ Demo passed.",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing line {line:?} in:\n{stdout}"
        );
    }
    assert!(!stdout.contains('✗'), "{stdout}");
    // The push part: a service of its own, the pairing URL (secret in the fragment), the test
    // device pairing through it, then the number shown by the module typed on the "phone".
    let has = |prefix: &str| stdout.lines().find(|l| l.starts_with(prefix));
    let listening = has("  twofold serve (pid ").unwrap_or_else(|| panic!("{stdout}"));
    let pid: u32 = listening["  twofold serve (pid ".len()..]
        .split(')')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{listening}"));
    assert!(
        listening.contains(") listening on http://127.0.0.1:"),
        "{listening}"
    );
    let url = has("http://127.0.0.1:").unwrap_or_else(|| panic!("pairing URL in:\n{stdout}"));
    assert!(url.contains("/pair#p=") && url.contains("&k=") && url.contains("&u=demo&h="));
    assert!(
        has("  phone: opened the pairing address").is_some(),
        "{stdout}"
    );
    assert!(
        has("  ✓ Paired \"twofold test device\" (device ").is_some(),
        "{stdout}"
    );
    let shown: Vec<u8> = stdout
        .lines()
        .filter(|l| l.starts_with("  [Approve on your phone — number "))
        .filter_map(twofold_core::push::device::number_shown)
        .collect();
    assert_eq!(shown.len(), 2, "two pushes:\n{stdout}");
    let approved = format!(
        "(service twofold-demo), number typed {}, approved ✓",
        shown[0]
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("  phone: request for demo@")
                && l.contains(" from this machine ")
                && l.ends_with(&approved)),
        "{approved:?} in:\n{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("  phone: request for demo@") && l.ends_with(", denied")),
        "{stdout}"
    );
    // The service was stopped (and reaped: no zombie left either).
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "twofold serve (pid {pid}) still running"
    );
    for reason in [
        "result=success reason=ok",
        "result=failure reason=replayed_code",
        "result=failure reason=wrong_code",
        "method=push result=success reason=push_approved",
        "method=push result=failure reason=push_denied",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("  auth user=demo service=twofold-demo")
                    && l.ends_with(reason)),
            "audit line with {reason} in:\n{stdout}"
        );
    }
    // Its temporary directory was inside TMPDIR and is gone afterwards.
    let first = stdout.lines().next().unwrap();
    let dir = first
        .strip_prefix("twofold demo — everything happens in ")
        .and_then(|r| r.strip_suffix(" and is removed afterwards."))
        .unwrap_or_else(|| panic!("first line {first:?}"));
    assert!(dir.starts_with(tmp.path().to_str().unwrap()), "{dir}");
    assert!(
        !std::path::Path::new(dir).exists(),
        "demo directory removed"
    );
}

#[test]
fn demo_with_lang_nl_narrates_in_dutch_and_the_module_speaks_dutch_too() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_command(demo_command(tmp.path(), "nl_NL.UTF-8"), "");
    out.expect_code(0);
    let stdout = &out.stdout;
    for line in [
        "Stap 1. Gebruiker \"demo\" inschrijven",
        "Geen terminal: opslaan zonder bevestigingscode (zoals",
        "`twofold enroll --no-verify`).",
        "✓ Ingeschreven; 10 herstelcodes gemaakt.",
        "  (geen terminal: de demo heeft de huidige code zelf berekend)",
        "  ✓ de juiste code wordt geaccepteerd: libpam antwoordt PAM_SUCCESS",
        "Stap 3. Dezelfde code nog een keer (herhaald gebruik)",
        "  ✓ een herhaalde code wordt geweigerd: libpam antwoordt PAM_AUTH_ERR",
        "Stap 4. Een onjuiste code",
        "  ✓ een onjuiste code wordt geweigerd: libpam antwoordt PAM_AUTH_ERR",
        "Stap 5. De goedkeuringsdienst, `twofold serve`, starten op 127.0.0.1",
        "Stap 6. Een telefoon koppelen voor \"demo\" (zoals `twofold enroll --push demo`)",
        "Geen terminal: het ingebouwde testapparaat is de telefoon",
        "  telefoon: koppelingsadres geopend, P-256-sleutelpaar gemaakt en de publieke",
        "  de publieke sleutel staat nu in de gegevens van demo",
        "Stap 7. Aanmelden via libpam met goedkeuren op de telefoon",
        "  ✓ goedgekeurd op de telefoon, dus aangemeld: libpam antwoordt PAM_SUCCESS",
        "Stap 8. Een aanmelding die op de telefoon wordt geweigerd",
        "  ✓ geweigerd op de telefoon, dus niet aangemeld: libpam antwoordt PAM_AUTH_ERR",
        "  ✓ twofold serve gestopt",
        "Auditlog (in productie: syslog, facility authpriv):",
        "✓ Demo geslaagd.",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing line {line:?} in:\n{stdout}"
        );
    }
    assert!(!stdout.contains('✗'), "{stdout}");
    // The module's own prompts and messages are Dutch too: the demo's configuration names the
    // language it narrates in.
    let has = |prefix: &str| stdout.lines().any(|l| l.starts_with(prefix));
    for prefix in [
        "  Code uit uw Authenticator-app (of een herstelcode): ",
        "  [Keur goed op uw telefoon — nummer ",
        "  [De aanmelding is op uw telefoon afgewezen en dus geweigerd.",
        "  telefoon: verzoek voor demo@",
        "  ✓ \"twofold test device\" gekoppeld (apparaat ",
    ] {
        assert!(has(prefix), "no line starting {prefix:?} in:\n{stdout}");
    }
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("  (dienst twofold-demo), nummer ")
                && l.ends_with(" getypt, goedgekeurd ✓")),
        "{stdout}"
    );
    // No English narration leaks through; the audit log stays English, as the log is.
    for english in [
        "Step ",
        "Enroll",
        "No terminal",
        "libpam returned",
        "  phone: ",
        "Key: ",
        "Paired",
        "twofold serve stopped",
        "Audit log",
        "Demo passed",
        "[Approve on your phone",
        "Code from your authenticator app",
    ] {
        assert!(
            !stdout
                .lines()
                .any(|l| l.trim_start().starts_with(english.trim_start())),
            "English {english:?} in:\n{stdout}"
        );
    }
    assert!(
        has("  auth user=demo service=twofold-demo"),
        "audit lines in:\n{stdout}"
    );
    let first = stdout.lines().next().unwrap();
    let dir = first
        .strip_prefix("twofold demo — alles gebeurt in ")
        .unwrap_or_else(|| panic!("first line {first:?}"));
    assert!(dir.starts_with(tmp.path().to_str().unwrap()), "{dir}");
    assert!(
        !std::path::Path::new(dir).exists(),
        "demo directory removed"
    );
}

#[test]
fn enroll_whose_output_is_lost_saves_nothing() {
    // A reader that went away (`twofold enroll bob --json | true`): the recovery codes cannot
    // be shown, so no record may be saved that nobody has the codes for.
    for args in [
        &["enroll", "bob", "--force", "--no-verify", "--json"][..],
        &["enroll", "bob", "--force", "--no-verify", "--qr", "none"][..],
    ] {
        let env = Env::new();
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = env
            .command(args)
            .stdin(std::process::Stdio::null())
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("nothing was saved"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        env.run(&["status", "bob"]).expect_code(3);
    }
}
