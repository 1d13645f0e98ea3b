//! The google-authenticator file parser against real and hostile files.

use super::*;
use std::path::PathBuf;
use std::process::{Command, Stdio};

// 16 bytes, like the secrets google-authenticator generates today.
const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY";

fn ok(text: &str) -> GoogleAuthenticatorFile {
    parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> ImportError {
    parse(text.as_bytes()).expect_err("file should be refused")
}

fn bad_option(text: &str) -> (usize, String) {
    match err(text) {
        ImportError::BadOption { line, reason } => (line, reason),
        other => panic!("expected BadOption, got {other:?}"),
    }
}

/// Runs the real `google-authenticator` with `args` and returns the file it
/// wrote plus its stdout, or `None` (after printing SKIP) if it is missing.
fn generate(test: &str, args: &[&str]) -> Option<(Vec<u8>, String)> {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("gaimport-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("google_authenticator");
    let run = Command::new("google-authenticator")
        .args(args)
        .args(["--force", "--no-confirm", "--qr-mode=NONE", "--secret"])
        .arg(&path)
        .stdin(Stdio::null())
        .output();
    let output = match run {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let _ = std::fs::remove_dir_all(&dir);
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("google-authenticator not found: install libpam-google-authenticator");
            }
            println!("SKIP {test}: google-authenticator not installed");
            return None;
        }
        Err(e) => panic!("cannot run google-authenticator: {e}"),
    };
    assert!(
        output.status.success(),
        "google-authenticator {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let file = std::fs::read(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    Some((file, String::from_utf8(output.stdout).unwrap()))
}

fn option_lines(file: &[u8]) -> Vec<&str> {
    let text = std::str::from_utf8(file).unwrap();
    text.lines().filter(|l| l.starts_with('"')).collect()
}

#[test]
fn real_totp_file_matches_what_the_tool_printed() {
    let args = ["-t", "-d", "-r", "3", "-R", "30", "-w", "3", "-e", "5"];
    let Some((bytes, stdout)) = generate("real_totp_file_matches_what_the_tool_printed", &args)
    else {
        return;
    };
    assert_eq!(
        option_lines(&bytes),
        [
            r#"" RATE_LIMIT 3 30"#,
            r#"" WINDOW_SIZE 3"#,
            r#"" DISALLOW_REUSE"#,
            r#"" TOTP_AUTH"#
        ]
    );
    let file = parse(&bytes).unwrap();
    let printed_secret = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Your new secret key is: "))
        .expect("secret printed");
    assert_eq!(file.secret_base32, printed_secret.trim());
    let printed_codes: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("Your emergency scratch codes are:"))
        .skip(1)
        .map(str::trim)
        .take_while(|l| l.len() == 8)
        .collect();
    assert_eq!(printed_codes.len(), 5);
    assert_eq!(file.scratch_codes, printed_codes);
    assert_eq!(file.window_size, Some(3));
    assert_eq!(file.skew_steps(), 1);
    assert_eq!(file.step_size, None);
    assert_eq!(file.step_seconds(), 30);
    assert!(file.disallow_reuse);
    let rate = RateLimit {
        attempts: 3,
        seconds: 30,
    };
    assert_eq!(file.rate_limit, Some(rate));
    assert_eq!(file.time_skew, None);
    let debug = format!("{file:?}");
    assert!(!debug.contains(&file.secret_base32), "{debug}");
    assert!(
        file.scratch_codes
            .iter()
            .all(|c| !debug.contains(c.as_str()))
    );
}

#[test]
fn real_totp_file_with_step_size_and_wide_window() {
    let args = ["-t", "-D", "-u", "-w", "17", "-S", "60", "-e", "0", "-q"];
    let Some((bytes, _)) = generate("real_totp_file_with_step_size_and_wide_window", &args)
    else {
        return;
    };
    assert_eq!(
        option_lines(&bytes),
        [r#"" WINDOW_SIZE 17"#, r#"" STEP_SIZE 60"#, r#"" TOTP_AUTH"#]
    );
    let file = parse(&bytes).unwrap();
    assert_eq!(file.secret_base32.len(), 26);
    assert_eq!((file.window_size, file.skew_steps()), (Some(17), 8));
    assert_eq!((file.step_size, file.step_seconds()), (Some(60), 60));
    assert!(!file.disallow_reuse && file.rate_limit.is_none());
    assert!(file.scratch_codes.is_empty());
}

#[test]
fn real_hotp_file_is_refused() {
    let args = ["-c", "-u", "-w", "5", "-q"];
    let Some((bytes, _)) = generate("real_hotp_file_is_refused", &args) else {
        return;
    };
    assert_eq!(
        option_lines(&bytes),
        [r#"" WINDOW_SIZE 5"#, r#"" HOTP_COUNTER 1"#]
    );
    assert_eq!(parse(&bytes).unwrap_err(), ImportError::Hotp);
}

#[test]
fn real_file_with_crlf_and_trailing_blank_lines() {
    let args = ["-t", "-d", "-r", "3", "-R", "30", "-w", "3", "-q"];
    let Some((bytes, _)) = generate("real_file_with_crlf_and_trailing_blank_lines", &args)
    else {
        return;
    };
    let text = std::str::from_utf8(&bytes).unwrap();
    let crlf = format!("{}\r\n\r\n\n", text.trim_end().replace('\n', "\r\n"));
    let file = parse(&bytes).unwrap();
    assert_eq!(file.scratch_codes.len(), 5);
    assert_eq!(parse(crlf.as_bytes()).unwrap(), file);
}

#[test]
fn state_written_by_the_pam_module_after_logins() {
    // Lines as pam_google_authenticator rewrote a file after a skewed login
    // series, a login and a used scratch code (note the trailing space).
    let file = ok(&format!(
        "{SECRET}\n\" TIME_SKEW 10\n\" RESETTING_TIME_SKEW \n\
         \" RATE_LIMIT 5 60 1795611950 1795611982 1795611982\n\" WINDOW_SIZE 3\n\
         \" DISALLOW_REUSE 59853742\n\" TOTP_AUTH\n89126677\n15101924\n"
    ));
    assert_eq!(file.time_skew, Some(10));
    assert_eq!(
        file.rate_limit,
        Some(RateLimit {
            attempts: 5,
            seconds: 60
        })
    );
    assert!(file.disallow_reuse);
    assert_eq!(file.scratch_codes, ["89126677", "15101924"]);
    let file = ok(&format!(
        "{SECRET}\n\" RESETTING_TIME_SKEW 59853730+10 59853731+10\n\" TIME_SKEW -3\n\
         \" DISALLOW_REUSE 59853730 59853731\n\" TOTP_AUTH"
    ));
    assert_eq!(file.time_skew, Some(-3));
    assert!(file.disallow_reuse);
}

#[test]
fn minimal_file_uses_google_defaults() {
    let file = ok(&format!("{SECRET}\n\" TOTP_AUTH\n"));
    assert_eq!(file.secret_base32, SECRET);
    assert_eq!((file.window_size, file.skew_steps()), (None, 1));
    assert_eq!((file.step_size, file.step_seconds()), (None, 30));
    assert!(!file.disallow_reuse);
    assert_eq!((file.rate_limit, file.time_skew), (None, None));
    assert!(file.scratch_codes.is_empty());
}

#[test]
fn secret_is_normalised() {
    let file = ok("jbsw y3dp\tehpk 3pxp\n\" TOTP_AUTH");
    assert_eq!(file.secret_base32, "JBSWY3DPEHPK3PXP");
    let padded = ok(&format!("{}======\r\n\" TOTP_AUTH", SECRET.to_lowercase()));
    assert_eq!(padded.secret_base32, SECRET);
}

#[test]
fn bad_secrets_are_refused() {
    for first in [
        "JBSWY3DP",          // 5 bytes: too short
        "JBSWY3DPEHPK3PX",   // 15 characters: 9 bytes, too short
        "JBSWY3DPEHPK3PXPA", // 17 characters: not a whole number of bytes
        "JBSWY3DPEHPK3PX1",  // '1' is not base32
        "JBSWY3DPEHPK3PX0",  // '0' is not base32
        "JBSWY3DP=EHPK3PX",  // padding in the middle
        "JBSWY3DPEHPK3PXPÄ", // non-ASCII
        "",                  // no secret line
        "\" TOTP_AUTH",      // option where the secret belongs
    ] {
        let text = format!("{first}\n\" TOTP_AUTH\n12345678\n");
        assert_eq!(err(&text), ImportError::BadSecret, "{first:?}");
        assert!(first.is_empty() || !err(&text).to_string().contains(first));
    }
}

#[test]
fn window_size_values() {
    for (value, skew) in [(1, 0), (2, 0), (3, 1), (4, 1), (17, 8), (21, 10), (100, 49)] {
        let file = ok(&format!("{SECRET}\n\" WINDOW_SIZE {value}\n\" TOTP_AUTH"));
        assert_eq!((file.window_size, file.skew_steps()), (Some(value), skew));
    }
    for value in ["0", "101", "abc", "+5", "-1", "5 6", "", "99999999999"] {
        let (line, reason) =
            bad_option(&format!("{SECRET}\n\" WINDOW_SIZE {value}\n\" TOTP_AUTH"));
        assert_eq!(line, 2, "{value:?}");
        assert!(reason.starts_with("WINDOW_SIZE needs"), "{reason}");
    }
}

#[test]
fn step_size_values() {
    for value in [1, 30, 45, 60] {
        let file = ok(&format!("{SECRET}\n\" TOTP_AUTH\n\" STEP_SIZE {value}"));
        assert_eq!(file.step_seconds(), value);
    }
    for value in ["0", "61", "3600", "thirty", "30s"] {
        let (line, _) = bad_option(&format!("{SECRET}\n\" TOTP_AUTH\n\" STEP_SIZE {value}"));
        assert_eq!(line, 3, "{value:?}");
    }
}

#[test]
fn rate_limit_values() {
    let file = ok(&format!("{SECRET}\n\" RATE_LIMIT\t10 600\n\" TOTP_AUTH"));
    assert_eq!(
        file.rate_limit,
        Some(RateLimit {
            attempts: 10,
            seconds: 600
        })
    );
    for value in [
        "",
        "3",
        "0 30",
        "101 30",
        "3 0",
        "3 3601",
        "3 30 17956x",
        "3 30 -1",
    ] {
        let (line, reason) =
            bad_option(&format!("{SECRET}\n\" RATE_LIMIT {value}\n\" TOTP_AUTH"));
        assert_eq!(line, 2, "{value:?}");
        assert!(reason.starts_with("RATE_LIMIT "), "{reason}");
    }
}

#[test]
fn disallow_reuse_and_time_skew_values() {
    let file = ok(&format!("{SECRET}\n\" DISALLOW_REUSE\n\" TOTP_AUTH"));
    assert!(file.disallow_reuse);
    let (line, _) = bad_option(&format!("{SECRET}\n\" TOTP_AUTH\n\" DISALLOW_REUSE 1 two"));
    assert_eq!(line, 3);
    for value in ["", "ten", "--3", "- 3", "1 2", "3s", "99999999999"] {
        let (line, _) = bad_option(&format!("{SECRET}\n\" TIME_SKEW {value}\n\" TOTP_AUTH"));
        assert_eq!(line, 2, "{value:?}");
    }
}

#[test]
fn duplicate_option_is_refused_at_its_second_line() {
    let text = format!("{SECRET}\n\" WINDOW_SIZE 3\n\" TOTP_AUTH\n\" WINDOW_SIZE 5\n");
    let (line, reason) = bad_option(&text);
    assert_eq!(
        (line, reason.as_str()),
        (4, "WINDOW_SIZE appears more than once")
    );
}

#[test]
fn unknown_and_malformed_quote_lines_are_ignored() {
    let file = ok(&format!(
        "{SECRET}\n\" LAST0 192.0.2.7 1795611988\n\" FUTURE_OPTION x y\n\
         \"WINDOW_SIZE 9\n\"  WINDOW_SIZE 99\n\"\n\" TOTP_AUTH\n12345678"
    ));
    assert_eq!(file.window_size, None);
    assert_eq!(file.scratch_codes, ["12345678"]);
}

#[test]
fn hotp_is_refused_wherever_it_appears() {
    for text in [
        format!("{SECRET}\n\" HOTP_COUNTER 1\n\" TOTP_AUTH"),
        format!("{SECRET}\n\" TOTP_AUTH\n\" WINDOW_SIZE x\n12345678\n\" HOTP_COUNTER 42\r\n"),
        "not base32!\n\" HOTP_COUNTER 0".to_owned(),
    ] {
        assert_eq!(err(&text), ImportError::Hotp);
    }
    let message = ImportError::Hotp.to_string();
    assert!(message.contains("counter-based (HOTP)") && message.contains("twofold enroll"));
}

#[test]
fn file_without_totp_auth_is_refused() {
    assert_eq!(
        err(&format!("{SECRET}\n\" WINDOW_SIZE 3\n12345678")),
        ImportError::NotTotp
    );
    assert_eq!(err(SECRET), ImportError::NotTotp);
}

#[test]
fn bad_scratch_codes_name_their_line() {
    for code in [
        "1234567",
        "123456789",
        "1234567a",
        "01234567",
        " 12345678",
        "12345678 ",
        "１2345678",
    ] {
        let text = format!("{SECRET}\r\n\" TOTP_AUTH\r\n\r\n87654321\r\n{code}\r\n");
        assert_eq!(
            err(&text),
            ImportError::BadScratchCode { line: 5 },
            "{code:?}"
        );
        assert!(!err(&text).to_string().contains("87654321"));
    }
}

#[test]
fn blank_lines_and_crlf_are_tolerated() {
    let file = ok(&format!(
        "{SECRET}\r\n\r\n\" TOTP_AUTH\r\n12345678\r\n\r\n  \r\n\n"
    ));
    assert_eq!(file.scratch_codes, ["12345678"]);
}

#[test]
fn size_limit_is_64_kib() {
    let base = format!("{SECRET}\n\" TOTP_AUTH\n");
    let at_limit = format!("{base}{}", "\n".repeat(MAX_FILE_SIZE - base.len()));
    assert_eq!(at_limit.len(), MAX_FILE_SIZE);
    assert!(parse(at_limit.as_bytes()).is_ok());
    let over = format!("{at_limit}\n");
    assert_eq!(parse(over.as_bytes()).unwrap_err(), ImportError::TooLarge);
}

#[test]
fn non_text_and_empty_files_are_refused() {
    assert_eq!(
        parse(b"\xff\xfe\n\" TOTP_AUTH").unwrap_err(),
        ImportError::NotUtf8
    );
    let nul = format!("{SECRET}\n\" TOTP_AUTH\n\0");
    assert_eq!(err(&nul), ImportError::NotUtf8);
    for empty in ["", "\n", "\r\n\r\n", "  \t\n"] {
        assert_eq!(err(empty), ImportError::Empty, "{empty:?}");
    }
}

#[test]
fn debug_and_errors_never_show_secrets() {
    let file = ok(&format!("{SECRET}\n\" TOTP_AUTH\n12345678\n87654321"));
    let debug = format!("{file:?}");
    assert!(
        !debug.contains(SECRET) && !debug.contains("GEZDGNBV"),
        "{debug}"
    );
    assert!(
        !debug.contains("12345678") && !debug.contains("87654321"),
        "{debug}"
    );
    assert!(
        debug.contains("<redacted>") && debug.contains("<2 redacted>"),
        "{debug}"
    );
    let errors = [
        err(&format!("{SECRET}\n\" TOTP_AUTH\n\" STEP_SIZE 12345678")),
        err(&format!("{SECRET}\n\" TOTP_AUTH\n{SECRET}")),
        err(&format!("{SECRET}x\n\" TOTP_AUTH")),
    ];
    for e in errors {
        let shown = format!("{e} {e:?}");
        assert!(
            !shown.contains("GEZDGNBV") && !shown.contains("12345678"),
            "{shown}"
        );
    }
}
