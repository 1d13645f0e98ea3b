//! The QR code `twofold enroll` (and `twofold demo`) draws on the terminal really scans:
//! the text is cut out of stdout, turned back into modules, written as an image and read by
//! zbarimg, an independent QR decoder. The result must be exactly the otpauth URI (or, for the
//! demo's second code, the phone pairing URL it prints).

mod cli_support;
#[path = "common/qr_image.rs"]
mod qr_image;

use cli_support::*;
use std::path::Path;
use std::process::Command;

/// The QR code's lines in `stdout`: one contiguous block of equally wide lines drawn only with
/// half blocks, spaces and (ANSI style) colour escapes.
fn qr_lines(stdout: &str, ansi: bool) -> String {
    let is_qr = |line: &str| {
        if ansi {
            line.starts_with("\x1b[")
        } else {
            !line.is_empty() && line.chars().all(|c| matches!(c, ' ' | '▀' | '▄' | '█'))
        }
    };
    let lines: Vec<(usize, &str)> = stdout
        .lines()
        .enumerate()
        .filter(|(_, l)| is_qr(l))
        .collect();
    assert!(lines.len() >= 10, "no QR code in:\n{stdout}");
    let first = lines[0].0;
    for (k, (i, line)) in lines.iter().enumerate() {
        assert_eq!(*i, first + k, "QR lines are not contiguous in:\n{stdout}");
        assert_eq!(
            line.chars().count(),
            lines[0].1.chars().count(),
            "QR lines differ in width"
        );
        if !ansi {
            assert!(!line.contains('\x1b'), "utf8 style has no escapes");
        }
    }
    let mut text: String = lines.iter().map(|(_, l)| *l).collect::<Vec<_>>().join("\n");
    text.push('\n');
    text
}

/// Decodes QR text with zbarimg; returns exactly what the code holds.
fn scan(text: &str, dir: &Path, name: &str) -> String {
    let bitmap = qr_image::decode_to_bitmap(text);
    let width = bitmap[0].len();
    assert!(
        bitmap.iter().all(|row| row.len() == width),
        "bitmap is a rectangle"
    );
    // Two module rows per text line; the renderer pads an odd height with a light row.
    assert!(
        bitmap.len() == width || bitmap.len() == width + 1,
        "{}x{width}",
        bitmap.len()
    );
    let image = dir.join(format!("{name}.pbm"));
    qr_image::write_pbm(&bitmap, 4, &image).expect("write PBM");
    let out = Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(&image)
        .output()
        .expect("run zbarimg");
    assert!(
        out.status.success(),
        "zbarimg found no code in {} (status {:?}): {}",
        image.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut data = String::from_utf8(out.stdout).expect("UTF-8");
    assert_eq!(
        data.pop(),
        Some('\n'),
        "zbarimg ends the symbol with a newline"
    );
    assert!(!data.contains('\n'), "exactly one symbol: {data:?}");
    data
}

/// Enrolls `user` showing the QR in `style`, scans it, and compares with the URI built from
/// the known key and with the one `--json` reports for the same enrollment.
fn check_enroll_qr(style: &str, user: &str, account_encoded: &str, params: &[&str], uri: &str) {
    let env = Env::new();
    let mut args = vec!["enroll", user, "--force", "--no-verify", "--qr", style];
    args.extend_from_slice(params);
    let out = env.run(&args);
    out.expect_code(0);
    let scanned = scan(&qr_lines(&out.stdout, style == "ansi"), env.path(), style);
    assert_eq!(scanned, uri, "{style} QR holds the otpauth URI");
    assert!(scanned.starts_with(&format!("otpauth://totp/{account_encoded}?")));

    // The same enrollment with --json (replacing the record) reports the same URI.
    let mut args = vec!["enroll", user, "--no-verify", "--json", "--force"];
    args.extend_from_slice(params);
    let json = env.run(&args).expect_code(0).json();
    assert_eq!(json["otpauth_uri"], scanned);
}

#[test]
fn enroll_ansi_qr_scans_to_the_otpauth_uri() {
    if !have_tool("zbarimg", "enroll_ansi_qr_scans_to_the_otpauth_uri") {
        return;
    }
    let uri = expected_uri("bob", SECRET, "SHA1", 6, 30);
    check_enroll_qr("ansi", "bob", "bob", &["--secret", SECRET], &uri);
}

#[test]
fn enroll_utf8_qr_scans_to_the_otpauth_uri() {
    if !have_tool("zbarimg", "enroll_utf8_qr_scans_to_the_otpauth_uri") {
        return;
    }
    let uri = expected_uri("bob", SECRET, "SHA1", 6, 30);
    check_enroll_qr("utf8", "bob", "bob", &["--secret", SECRET], &uri);
}

#[test]
fn enroll_qr_of_an_odd_name_and_sha256_scans_to_the_otpauth_uri() {
    if !have_tool(
        "zbarimg",
        "enroll_qr_of_an_odd_name_and_sha256_scans_to_the_otpauth_uri",
    ) {
        return;
    }
    let params = [
        "--secret",
        SECRET_32,
        "--algorithm",
        "SHA256",
        "--digits",
        "8",
        "--period",
        "60",
    ];
    // '@' is percent-encoded in the label.
    let uri = expected_uri("alice%40corp.example", SECRET_32, "SHA256", 8, 60);
    for style in ["ansi", "utf8"] {
        check_enroll_qr(
            style,
            "alice@corp.example",
            "alice%40corp.example",
            &params,
            &uri,
        );
    }
}

#[test]
fn enroll_qr_none_draws_nothing() {
    let env = Env::new();
    let out = env.run(&["enroll", "bob", "--force", "--no-verify", "--qr", "none"]);
    out.expect_code(0);
    assert!(
        !out.stdout
            .chars()
            .any(|c| matches!(c, '▀' | '▄' | '█' | '\x1b')),
        "{}",
        out.stdout
    );
}

#[test]
fn demo_qr_scans_to_the_uri_it_prints() {
    if !have_tool("zbarimg", "demo_qr_scans_to_the_uri_it_prints") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let exe = Path::new(TWOFOLD);
    let mut cmd = Command::new(exe);
    cmd.args(["demo", "--qr", "utf8"]).env("TMPDIR", tmp.path());
    let module = exe.parent().unwrap().join("libpam_twofold.so");
    if !module.exists() {
        cmd.arg("--module")
            .arg(exe.parent().unwrap().join("deps").join("libpam_twofold.so"));
    }
    let out = run_command(cmd, "");
    out.expect_code(0);
    let printed = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Key: "))
        .and_then(|l| l.split_once("   (").map(|(_, rest)| rest))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no key line in:\n{}", out.stdout));
    assert!(printed.starts_with("otpauth://totp/demo?secret="));
    // Two QR codes: the authenticator app's (steps 1-4), then the phone pairing's (step 6).
    let (totp_part, push_part) = out
        .stdout
        .split_once("\nStep 5. ")
        .unwrap_or_else(|| panic!("no push part in:\n{}", out.stdout));
    let scanned = scan(&qr_lines(totp_part, false), tmp.path(), "demo");
    assert_eq!(scanned, printed);
    let pairing_url = push_part
        .lines()
        .find(|l| l.starts_with("http://127.0.0.1:") && l.contains("/pair#"))
        .unwrap_or_else(|| panic!("no pairing URL in:\n{push_part}"));
    let scanned = scan(&qr_lines(push_part, false), tmp.path(), "demo-pairing");
    assert_eq!(scanned, pairing_url);
}
