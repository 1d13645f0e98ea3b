//! QR codes drawn with Unicode half blocks, so an otpauth:// URI can be scanned off a terminal.

use std::fmt;
use std::str::FromStr;

use qrcode::{Color, EcLevel, QrCode};

/// Light modules around the symbol. The spec asks for 4, but phone scanners lock on with 2, and
/// every module costs a terminal column; `Ansi` paints the zone white, so it holds on dark terminals too.
const QUIET: usize = 2;

/// Level M restores ~15% damage, a margin for the moiré, glare and font gaps between block glyphs
/// that photographing a screen brings; it is used while the code stays at version 4 (33 modules,
/// 19 text rows with the quiet zone). Beyond that L (7%, what most sites' TOTP codes use, and
/// plenty for a crisp terminal) keeps the code one version smaller: an 80x24 screen has room for
/// a version-4 or -5 code and four lines of text, not for more.
const EC_LEVELS: [EcLevel; 2] = [EcLevel::M, EcLevel::L];
/// Widest code (modules) drawn at level M: version 4.
const M_UP_TO_WIDTH: usize = 33;

/// Starts every `Ansi` line: clear inherited attributes (reverse video would invert the code), then
/// fg = 256-colour 16 (#000000), bg = 231 (#ffffff). Unlike the 16 base colours, which themes remap
/// ("white" drawn grey), these are fixed RGB. With both set, the glyph alone picks each cell's
/// modules, so one SGR per line suffices and no cell shows the terminal's own colours.
const ANSI_START: &str = "\x1b[0;38;5;16;48;5;231m";

/// How a QR code is drawn on a terminal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum QrStyle {
    /// Explicit black-on-white colours for every cell: scans on dark and light backgrounds (default).
    #[default]
    Ansi,
    /// Plain half blocks, no escapes, for dark-background terminals only (inverted on light ones).
    Utf8,
    /// Plain half blocks inked the other way round, for light-background terminals.
    Light,
    /// Draw nothing.
    None,
}

impl FromStr for QrStyle {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ansi" => Ok(Self::Ansi),
            "utf8" => Ok(Self::Utf8),
            "light" => Ok(Self::Light),
            "none" => Ok(Self::None),
            _ => Err(format!(
                "unknown QR style {s:?}: expected \"ansi\", \"utf8\", \"light\" or \"none\""
            )),
        }
    }
}

/// The data could not be encoded as a QR code (usually: too long).
#[derive(Debug)]
pub struct QrError(qrcode::types::QrError, usize);

impl fmt::Display for QrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot draw {} bytes as a QR code: {}", self.1, self.0)
    }
}

impl std::error::Error for QrError {}

/// Draws `data` (an otpauth:// URI, for instance) as a QR code for a terminal.
pub fn render(data: &str, style: QrStyle) -> Result<String, QrError> {
    if style == QrStyle::None {
        return Ok(String::new());
    }
    let code = smallest(data)?;
    let width = code.width();
    let colors = code.to_colors();
    // Anything outside the symbol (quiet zone, and the padding row below an odd-height code) is light.
    let dark = |x: usize, y: usize| match (x.checked_sub(QUIET), y.checked_sub(QUIET)) {
        (Some(x), Some(y)) if x < width && y < width => {
            colors.get(y * width + x) == Some(&Color::Dark)
        }
        _ => false,
    };
    let size = width + 2 * QUIET;
    let mut out = String::new();
    // Each text line carries two module rows: the upper and lower half of every cell.
    for y in (0..size).step_by(2) {
        let cells = (0..size).map(|x| (dark(x, y), dark(x, y + 1)));
        if style == QrStyle::Light {
            // Ink is dark text on a light background: it draws the dark modules, and the
            // background beyond the drawing is the quiet zone.
            out.extend(cells.map(|(top, bottom)| glyph(top, bottom)));
        } else if style == QrStyle::Ansi {
            // Ink is the black foreground, so it draws the dark modules.
            out.push_str(ANSI_START);
            out.extend(cells.map(|(top, bottom)| glyph(top, bottom)));
            // Reset before the newline so no colour bleeds past the code.
            out.push_str("\x1b[0m");
        } else {
            // Ink is the terminal's light text colour, so it draws the light modules and the
            // dark background shows through as dark ones: dark-on-light, as scanners expect.
            out.extend(cells.map(|(top, bottom)| glyph(!top, !bottom)));
        }
        out.push('\n');
    }
    Ok(out)
}

/// The code at level M while it stays small, else at level L (see [`EC_LEVELS`]).
fn smallest(data: &str) -> Result<QrCode, QrError> {
    let mut last = None;
    for level in EC_LEVELS {
        match QrCode::with_error_correction_level(data, level) {
            Ok(code) if level == EcLevel::L || code.width() <= M_UP_TO_WIDTH => return Ok(code),
            Ok(_) => {}
            Err(e) => last = Some(e),
        }
    }
    Err(QrError(
        last.unwrap_or(qrcode::types::QrError::DataTooLong),
        data.len(),
    ))
}

/// Text rows the drawing of `data` takes (0 for an error), for laying out a screen.
pub fn rows(data: &str) -> usize {
    smallest(data).map_or(0, |c| (c.width() + 2 * QUIET).div_ceil(2))
}

/// Half block inking the upper and/or lower half of a cell.
fn glyph(top_ink: bool, bottom_ink: bool) -> char {
    match (top_ink, bottom_ink) {
        (true, true) => '█',
        (true, false) => '▀',
        (false, true) => '▄',
        (false, false) => ' ',
    }
}
