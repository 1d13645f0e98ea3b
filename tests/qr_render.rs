//! Renders QR codes as terminal text, reads the text back into an image and has a real
//! decoder (zbarimg) scan it, so the test proves the drawing is scannable, not just plausible.

#[path = "common/qr_image.rs"]
mod qr_image;

use std::io::ErrorKind;
use std::path::PathBuf;
use std::process::Command;

use qr_image::{decode_to_bitmap, write_pbm};
use twofold_core::qr::{QrStyle, render};

const URI: &str = "otpauth://totp/twofold:alice?secret=JBSWY3DPEHPK3PXP&issuer=twofold&algorithm=SHA1&digits=6&period=30";

/// False (after printing SKIP) when zbarimg is absent outside CI; panics when absent on CI.
fn have_zbarimg() -> bool {
    match Command::new("zbarimg").arg("--version").output() {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("zbarimg not found: install the zbar-tools package (CI=true, not skipping)");
            }
            eprintln!("SKIP qr_roundtrip: zbarimg (zbar-tools) not installed");
            false
        }
        Err(e) => panic!("cannot run zbarimg: {e}"),
    }
}

/// Surrounds the bitmap with `margin` modules of one colour, like the terminal around the code.
fn framed(bitmap: &[Vec<bool>], margin: usize, dark: bool) -> Vec<Vec<bool>> {
    let width = bitmap[0].len() + 2 * margin;
    let edge = vec![vec![dark; width]; margin];
    let side = vec![dark; margin];
    let middle = bitmap
        .iter()
        .map(|row| [&side[..], row, &side[..]].concat());
    edge.iter()
        .cloned()
        .chain(middle)
        .chain(edge.iter().cloned())
        .collect()
}

/// Writes the bitmap as a PBM and asserts zbarimg reads back exactly `URI`.
fn assert_scans(bitmap: &[Vec<bool>], name: &str) {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("qr_{name}.pbm"));
    write_pbm(bitmap, 8, &path).unwrap();
    let out = Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "zbarimg failed on {}: {:?}",
        path.display(),
        out.status
    );
    assert_eq!(
        text.strip_suffix('\n'),
        Some(URI),
        "{name}: zbarimg read something else"
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn ansi_scans_on_dark_and_light_terminals() {
    if !have_zbarimg() {
        return;
    }
    let bitmap = decode_to_bitmap(&render(URI, QrStyle::Ansi).unwrap());
    assert_scans(&bitmap, "ansi");
    assert_scans(&framed(&bitmap, 4, true), "ansi_dark_terminal");
    assert_scans(&framed(&bitmap, 4, false), "ansi_light_terminal");
}

#[test]
fn utf8_scans_on_dark_terminal() {
    if !have_zbarimg() {
        return;
    }
    let bitmap = decode_to_bitmap(&render(URI, QrStyle::Utf8).unwrap());
    assert_scans(&bitmap, "utf8");
    assert_scans(&framed(&bitmap, 4, true), "utf8_dark_terminal");
}

/// What a light-background terminal shows of a plain half-block drawing: the ink is dark and
/// the blank is light, the reverse of `decode_to_bitmap`'s dark-terminal reading.
fn on_light_terminal(text: &str) -> Vec<Vec<bool>> {
    let dark_reading = decode_to_bitmap(text);
    dark_reading
        .iter()
        .map(|row| row.iter().map(|dark| !dark).collect())
        .collect()
}

/// zbarimg's verdict on a bitmap: what it read, if anything.
fn scanned(bitmap: &[Vec<bool>], name: &str) -> Option<String> {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("qr_{name}.pbm"));
    write_pbm(bitmap, 8, &path).unwrap();
    let out = Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    Some(text.strip_suffix('\n')?.to_string()).filter(|t| out.status.success() && !t.is_empty())
}

#[test]
fn light_scans_on_a_light_terminal_where_utf8_does_not() {
    if !have_zbarimg() {
        return;
    }
    let light = on_light_terminal(&render(URI, QrStyle::Light).unwrap());
    assert_scans(&framed(&light, 4, false), "light_light_terminal");
    // The dark-terminal drawing on a light terminal is inverted: nothing to read. This is the
    // case the enrollment prompt's "L" answer is for.
    let utf8 = on_light_terminal(&render(URI, QrStyle::Utf8).unwrap());
    assert_eq!(
        scanned(&framed(&utf8, 4, false), "utf8_light_terminal"),
        None
    );
}

#[test]
fn a_default_enrollment_uri_fits_an_80x24_screen_with_four_lines_of_text() {
    // 32 base32 characters: the 160-bit SHA-1 key of every enrollment, for an 8-letter name.
    let uri = "otpauth://totp/jdoe1234?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=twofold";
    let rows = twofold_core::qr::rows(uri);
    // 24 rows: a line above, the code, the key in two lines, the question.
    assert!(rows <= 19, "{rows} rows");
    assert_eq!(render(uri, QrStyle::Utf8).unwrap().lines().count(), rows);
    let widest = render(uri, QrStyle::Utf8)
        .unwrap()
        .lines()
        .map(|l| l.chars().count())
        .max();
    assert!(widest <= Some(41), "{widest:?} columns");
}

#[test]
fn both_styles_draw_the_same_modules() {
    let ansi = decode_to_bitmap(&render(URI, QrStyle::Ansi).unwrap());
    let utf8 = decode_to_bitmap(&render(URI, QrStyle::Utf8).unwrap());
    assert_eq!(ansi, utf8);
    // Square symbol plus quiet zone; odd heights get one light padding row at the bottom.
    let width = ansi[0].len();
    assert!(
        ansi.len() == width || ansi.len() == width + 1,
        "{} rows, {width} columns",
        ansi.len()
    );
    // The 2-module quiet zone is light on every side.
    assert!(ansi[..2].iter().all(|row| row.iter().all(|&d| !d)));
    assert!(
        ansi.iter()
            .all(|row| !row[0] && !row[1] && !row[width - 1] && !row[width - 2])
    );
}

#[test]
fn none_is_empty() {
    assert_eq!(render(URI, QrStyle::None).unwrap(), "");
}

#[test]
fn ansi_lines_end_with_reset() {
    let text = render(URI, QrStyle::Ansi).unwrap();
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        assert!(line.starts_with("\x1b[0;38;5;16;48;5;231m"), "{line:?}");
        assert!(line.ends_with("\x1b[0m"), "{line:?}");
        // Compact: one colour set-up and one reset per line, nothing per cell.
        assert_eq!(line.matches('\x1b').count(), 2, "{line:?}");
    }
}

#[test]
fn utf8_is_plain_without_trailing_blanks() {
    let text = render(URI, QrStyle::Utf8).unwrap();
    assert!(text.ends_with('\n'));
    assert!(!text.contains('\x1b'));
    for line in text.lines() {
        assert!(line.chars().all(|c| " ▀▄█".contains(c)), "{line:?}");
        assert!(!line.ends_with(' '), "{line:?}");
    }
}

#[test]
fn oversized_input_is_an_error() {
    let err = render(&"x".repeat(3000), QrStyle::Ansi).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("3000 bytes") && msg.contains("too long"),
        "{msg}"
    );
    // `None` draws nothing, so it does not even try to encode.
    assert_eq!(render(&"x".repeat(3000), QrStyle::None).unwrap(), "");
}

#[test]
fn style_parses() {
    assert_eq!("ansi".parse(), Ok(QrStyle::Ansi));
    assert_eq!("utf8".parse(), Ok(QrStyle::Utf8));
    assert_eq!("light".parse(), Ok(QrStyle::Light));
    assert_eq!("None".parse(), Ok(QrStyle::None));
    assert_eq!(QrStyle::default(), QrStyle::Ansi);
    let err = "sixel".parse::<QrStyle>().unwrap_err();
    assert!(
        err.contains("sixel") && err.contains("\"ansi\", \"utf8\", \"light\" or \"none\""),
        "{err}"
    );
}
