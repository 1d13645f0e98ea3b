//! Reading a configuration file that has more than one mistake: every type error is reported
//! at once, with its key and line, in plain words rather than serde's ("unknown variant `yes`,
//! expected `deny` or `allow`" becomes "must be one of \"deny\", \"allow\" (got \"yes\")").
#![forbid(unsafe_code)]

use serde::de::DeserializeOwned;

/// Most mistakes one file reports before giving up (each costs one more parse).
const MAX_ERRORS: usize = 50;

/// One mistake: where (the key's dotted name and line, or just the line) and why.
pub(super) struct Mistake {
    pub at: String,
    pub reason: String,
}

/// Deserializes `text`; on a type error, records it, blanks the offending key (or section) and
/// tries again, so the caller sees every mistake, and a value with the rest of the file read.
pub(super) fn parse_all<T: DeserializeOwned>(text: &str) -> Result<T, (Option<T>, Vec<Mistake>)> {
    // The usual case, on every sign-in: a good file, parsed once (by the plain reader when
    // the file is plain: see `store::plain_toml`).
    if let Ok(value) = crate::store::plain_toml::from_str::<T>(text) {
        return Ok(value);
    }
    // A syntax error leaves nothing to go on: one message.
    if let Err(e) = text.parse::<toml::Table>() {
        let at = e
            .span()
            .map(|s| format!("line {}", line_of(text, s.start)))
            .unwrap_or_default();
        let reason = e.message().trim().to_string();
        return Err((None, vec![Mistake { at, reason }]));
    }
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut mistakes = Vec::new();
    loop {
        let current = lines.join("\n");
        let e = match toml::from_str::<T>(&current) {
            Ok(value) if mistakes.is_empty() => return Ok(value),
            Ok(value) => return Err((Some(value), mistakes)),
            Err(e) => e,
        };
        let Some(span) = e.span() else {
            mistakes.push(Mistake {
                at: String::new(),
                reason: plain(e.message()),
            });
            return Err((None, mistakes));
        };
        let first = line_of(&current, span.start) - 1;
        let last = line_of(&current, span.end.saturating_sub(1).max(span.start)) - 1;
        let key = key_at(&lines, first);
        mistakes.push(Mistake {
            at: match &key {
                Some(key) => format!("{key} (line {})", first + 1),
                None => format!("line {}", first + 1),
            },
            reason: plain(e.message()),
        });
        if mistakes.len() >= MAX_ERRORS || !blank(&mut lines, first, last) {
            return Err((None, mistakes));
        }
    }
}

/// Blanks the lines of the mistake (a whole section when it is a section header); false when
/// there was nothing left to blank (no progress possible).
fn blank(lines: &mut [String], first: usize, last: usize) -> bool {
    let Some(line) = lines.get(first) else {
        return false;
    };
    let end = if line.trim_start().starts_with('[') {
        // The section and everything in it, up to the next header.
        (first + 1..lines.len())
            .find(|&i| lines[i].trim_start().starts_with('['))
            .unwrap_or(lines.len())
    } else {
        (last.max(first) + 1).min(lines.len())
    };
    let mut changed = false;
    for line in &mut lines[first..end] {
        changed |= !line.is_empty();
        line.clear();
    }
    changed
}

/// The dotted name of the key on line `index` ("totp.digits"), from the nearest header above.
fn key_at(lines: &[String], index: usize) -> Option<String> {
    let line = lines.get(index)?.trim();
    if let Some(header) = line.strip_prefix('[') {
        return Some(
            header
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string(),
        );
    }
    let key = line.split('=').next()?.trim().trim_matches('"');
    if key.is_empty() {
        return None;
    }
    let section = lines[..index]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|h| h.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    Some(match section {
        Some(section) => format!("{section}.{key}"),
        None => key.to_string(),
    })
}

/// serde's wording in plain words; anything not recognised is kept as it is.
pub(super) fn plain(message: &str) -> String {
    let m = message.trim();
    if let Some(rest) = m.strip_prefix("unknown variant `")
        && let Some((got, expected)) = rest.split_once("`, expected ")
    {
        let expected = expected.strip_prefix("one of ").unwrap_or(expected);
        return format!("must be one of {} (got \"{got}\")", choices(expected));
    }
    if let Some(rest) = m.strip_prefix("unknown field `")
        && let Some((got, expected)) = rest.split_once("`, expected ")
    {
        let expected = expected.strip_prefix("one of ").unwrap_or(expected);
        return format!(
            "unknown key \"{got}\"; the keys here are {}",
            choices(expected)
        );
    }
    if let Some(rest) = m.strip_prefix("unknown field `")
        && let Some(got) = rest.strip_suffix("`, there are no fields")
    {
        return format!("unknown key \"{got}\"; this section takes no keys");
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = m.strip_prefix(prefix)
            && let Some((got, expected)) = rest.split_once(", expected ")
        {
            return format!("must be {} (got {})", wanted(expected), found(got));
        }
    }
    m.to_string()
}

/// "`a`, `b` or `c`" as "\"a\", \"b\" or \"c\"".
fn choices(expected: &str) -> String {
    expected.replace('`', "\"")
}

/// What serde expected, as an administrator would say it.
fn wanted(expected: &str) -> String {
    match expected {
        "u8" => "a whole number from 0 to 255".into(),
        "u16" => "a whole number from 0 to 65535".into(),
        "u32" | "u64" | "usize" => "a whole number, 0 or more".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" => "true or false".into(),
        "a string" => "text in double quotes".into(),
        "a sequence" => "a list, like [\"a\", \"b\"]".into(),
        other => other.replace('`', "\""),
    }
}

/// What the file held, from serde's "string \"five\"" / "integer `5`" / "boolean `true`".
fn found(got: &str) -> String {
    let got = got.replace('`', "");
    if let Some(text) = got.strip_prefix("string ") {
        format!("the text {text}")
    } else if let Some(n) = got.strip_prefix("integer ") {
        n.to_string()
    } else if let Some(n) = got.strip_prefix("floating point ") {
        n.to_string()
    } else if let Some(b) = got.strip_prefix("boolean ") {
        b.to_string()
    } else if got == "sequence" {
        "a list".into()
    } else if got == "map" {
        "a table".into()
    } else {
        got
    }
}

/// The 1-based line of byte `offset` (an offset inside a character counts as that character's).
fn line_of(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    text[..offset].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn a_span_ending_inside_a_character_is_on_that_characters_line() {
        // The fuzzer's find: a span ending inside a 4-byte character on line 3 was counted as
        // line 1, and blanking lines 3..=1 panicked.
        let text = "a = 1\nb = 2\nc = \u{10fd0d}x";
        let inside = text.find('\u{10fd0d}').unwrap() + 2;
        assert_eq!(super::line_of(text, inside), 3);
        assert_eq!(super::line_of(text, text.len() + 5), 3);
        assert_eq!(super::line_of(text, 0), 1);
    }

    #[test]
    fn the_fuzzers_config_is_reported_not_a_panic() {
        let text = "h='''3600\nttp[1p\nm\u{10fd0d}rl = 8::\"/h|/ls\"/h|/lseoh'''''";
        assert!(super::parse_all::<crate::config::Config>(text).is_err());
    }

    #[test]
    fn serde_wording_becomes_plain_words() {
        assert_eq!(
            plain("unknown variant `yes`, expected `deny` or `allow`"),
            "must be one of \"deny\" or \"allow\" (got \"yes\")"
        );
        assert_eq!(
            plain("invalid type: string \"five\", expected u32"),
            "must be a whole number, 0 or more (got the text \"five\")"
        );
        assert_eq!(
            plain("invalid value: integer `300`, expected u8"),
            "must be a whole number from 0 to 255 (got 300)"
        );
        assert_eq!(
            plain("unknown field `digitz`, expected one of `algorithm`, `digits`"),
            "unknown key \"digitz\"; the keys here are \"algorithm\", \"digits\""
        );
        assert_eq!(plain("something else"), "something else");
    }
}
