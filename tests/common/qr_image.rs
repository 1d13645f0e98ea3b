//! Test helper: turns the terminal text drawn by `qr::render` back into an image a real
//! QR decoder (zbarimg) can read. Depends only on std so it can live in `tests/common/`.

use std::io;
use std::path::Path;

/// Parses rendered QR text (Ansi or Utf8 style) into module rows; `true` = dark.
///
/// Cells without an explicit colour use the terminal that `Utf8` output is meant for: light
/// text (ink = light module) on a dark background (blank = dark module).
/// Panics on anything the renderer never emits, so a renderer change cannot slip by unnoticed.
pub fn decode_to_bitmap(text: &str) -> Vec<Vec<bool>> {
    let mut rows = Vec::new();
    for line in text.lines() {
        // Current colours: Some(true) = dark, None = terminal default.
        let (mut fg, mut bg) = (None, None);
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                assert_eq!(
                    chars.next(),
                    Some('['),
                    "only CSI escapes expected in {line:?}"
                );
                let params: String = chars.by_ref().take_while(|&c| c != 'm').collect();
                apply_sgr(&params, &mut fg, &mut bg);
                continue;
            }
            let (top_ink, bottom_ink) = match c {
                '▀' => (true, false),
                '▄' => (false, true),
                '█' => (true, true),
                ' ' => (false, false),
                other => panic!("unexpected character {other:?} in QR text"),
            };
            let ink_dark = fg.unwrap_or(false);
            let blank_dark = bg.unwrap_or(true);
            top.push(if top_ink { ink_dark } else { blank_dark });
            bottom.push(if bottom_ink { ink_dark } else { blank_dark });
        }
        rows.push(top);
        rows.push(bottom);
    }
    rows
}

/// Applies one SGR parameter list (the part between `ESC [` and `m`) to the colour state.
fn apply_sgr(params: &str, fg: &mut Option<bool>, bg: &mut Option<bool>) {
    let mut it = params.split(';').map(|p| match p {
        "" => 0, // `ESC [ m` means reset
        _ => p
            .parse::<u16>()
            .unwrap_or_else(|_| panic!("bad SGR parameter {p:?}")),
    });
    while let Some(p) = it.next() {
        match p {
            0 => (*fg, *bg) = (None, None),
            38 | 48 => {
                assert_eq!(
                    it.next(),
                    Some(5),
                    "only 256-colour SGR expected in {params:?}"
                );
                let dark = match it.next() {
                    Some(0 | 16) => true,
                    Some(15 | 231) => false,
                    n => panic!("colour {n:?} is neither black nor white in {params:?}"),
                };
                *if p == 38 { &mut *fg } else { &mut *bg } = Some(dark);
            }
            30 => *fg = Some(true),
            37 | 97 => *fg = Some(false),
            40 => *bg = Some(true),
            47 | 107 => *bg = Some(false),
            39 => *fg = None,
            49 => *bg = None,
            _ => panic!("unsupported SGR parameter {p} in {params:?}"),
        }
    }
}

/// Writes `bitmap` as a binary (P4) PBM, each module `scale` x `scale` pixels; `true` = black.
pub fn write_pbm(bitmap: &[Vec<bool>], scale: usize, path: &Path) -> io::Result<()> {
    let width = bitmap.first().map_or(0, Vec::len);
    if scale == 0 || width == 0 || bitmap.iter().any(|row| row.len() != width) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bitmap must be a non-empty rectangle and scale at least 1",
        ));
    }
    let (w, h) = (width * scale, bitmap.len() * scale);
    let mut data = format!("P4\n{w} {h}\n").into_bytes();
    for row in bitmap {
        // P4 packs 8 pixels per byte, most significant bit first, each row padded to a byte.
        let mut packed = vec![0u8; w.div_ceil(8)];
        for (x, _) in row.iter().enumerate().filter(|&(_, &dark)| dark) {
            for px in x * scale..(x + 1) * scale {
                packed[px / 8] |= 0x80 >> (px % 8);
            }
        }
        for _ in 0..scale {
            data.extend_from_slice(&packed);
        }
    }
    std::fs::write(path, data)
}
