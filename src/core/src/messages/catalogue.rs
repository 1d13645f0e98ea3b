//! The message catalogues: one `src/core/locales/<language>.toml` per language, embedded at
//! build time (build.rs), looked up by key with English as the fallback for every key.
//!
//! A text's placeholders are written `{name}` and filled in by [`Texts::fill`]. A text about a
//! number of things may have a singular beside it, its key with `_one` added, which
//! [`Texts::fill_count`] takes when the number is 1.
#![forbid(unsafe_code)]

include!(concat!(env!("OUT_DIR"), "/catalogues.rs"));

/// One catalogue: [key start, key length, text start, text length] into [`TEXT`], sorted by key.
type Entries = &'static [[u32; 4]];

/// `TEXT[start..start + length]` (build.rs made every range a whole string).
fn slice(start: u32, length: u32) -> &'static str {
    let start = start as usize;
    TEXT.get(start..start + length as usize).unwrap_or_default()
}

fn key_of(entry: &[u32; 4]) -> &'static str {
    slice(entry[0], entry[1])
}

fn text_of(entry: &[u32; 4]) -> &'static str {
    slice(entry[2], entry[3])
}

/// A catalogue's (key, text) pairs, sorted by key.
fn pairs(entries: Entries) -> impl Iterator<Item = (&'static str, &'static str)> {
    entries.iter().map(|e| (key_of(e), text_of(e)))
}

/// The language every key exists in, and the one used when nothing else is chosen.
pub const FALLBACK: &str = "en";

/// The texts of one language, falling back to English per key.
#[derive(Debug, Clone, Copy)]
pub struct Texts {
    language: &'static str,
    entries: Entries,
    fallback: Entries,
}

impl Default for Texts {
    fn default() -> Self {
        Texts::english()
    }
}

impl Texts {
    /// English.
    pub fn english() -> Texts {
        Texts::for_language(FALLBACK)
    }

    /// The texts for a language code ("nl", "nl-NL", "nl_NL.UTF-8", "NL"); English for a
    /// language without a catalogue.
    pub fn for_language(code: &str) -> Texts {
        let fallback = entries_of(FALLBACK).unwrap_or(&[]);
        let wanted = primary_subtag(code);
        match CATALOGUES.iter().find(|(l, _)| *l == wanted) {
            Some((language, entries)) => Texts {
                language,
                entries,
                fallback,
            },
            None => Texts {
                language: FALLBACK,
                entries: fallback,
                fallback,
            },
        }
    }

    /// The language these texts are in ("en", "nl").
    pub fn language(&self) -> &'static str {
        self.language
    }

    /// The text for `key`, in English if this language lacks it; the key itself if no
    /// catalogue has it (a typo shows as the key rather than as nothing).
    pub fn get(&self, key: &'static str) -> &'static str {
        lookup(self.entries, key)
            .or_else(|| lookup(self.fallback, key))
            .unwrap_or(key)
    }

    /// The text for `key` with its `{name}` placeholders filled in; a placeholder without a
    /// value stays as written.
    pub fn fill(&self, key: &'static str, values: &[(&str, &str)]) -> String {
        fill_in(self.get(key), values)
    }

    /// Like [`Texts::fill`], for a text about `n` things: the text of `key` + `_one` when `n` is
    /// 1 and the language has one ("1 user"), else the text of `key` ("0 users", "2 users").
    pub fn fill_count(&self, key: &'static str, n: u64, values: &[(&str, &str)]) -> String {
        let one = format!("{key}_one");
        let pick = |entries| match n {
            1 => lookup(entries, &one).or_else(|| lookup(entries, key)),
            _ => lookup(entries, key),
        };
        let text = pick(self.entries)
            .or_else(|| pick(self.fallback))
            .unwrap_or(key);
        fill_in(text, values)
    }

    /// Every text whose key starts with `prefix` ("phone."), the prefix taken off, English
    /// for those this language lacks: what the phone page gets as JSON.
    pub fn section(&self, prefix: &str) -> Vec<(&'static str, &'static str)> {
        pairs(self.fallback)
            .filter_map(|(key, _)| Some((key, key.strip_prefix(prefix)?)))
            .map(|(key, short)| (short, self.get(key)))
            .collect()
    }

    /// A duration as people say it: "40 seconds", "1 minute", "15 minutes", "3 hours",
    /// "2 days" ("40 seconden", "1 minuut", "15 minuten", "3 uur", "2 dagen").
    pub fn duration(&self, seconds: u64) -> String {
        let (n, one, many) = match seconds {
            0..60 => (seconds.max(1), "duration.second", "duration.seconds"),
            60..7200 => (seconds.div_ceil(60), "duration.minute", "duration.minutes"),
            7200..172_800 => (seconds.div_ceil(3600), "duration.hour", "duration.hours"),
            _ => (seconds.div_ceil(86_400), "duration.day", "duration.days"),
        };
        let key = if n == 1 { one } else { many };
        self.fill(key, &[("n", &n.to_string())])
    }
}

/// The languages there are catalogues for, sorted ("en", "nl").
pub fn languages() -> impl Iterator<Item = &'static str> {
    CATALOGUES.iter().map(|(language, _)| *language)
}

/// Whether `code` names a language there is a catalogue for.
pub fn is_known(code: &str) -> bool {
    entries_of(&primary_subtag(code)).is_some()
}

/// "nl_NL.UTF-8", "nl-NL", "NL" → "nl".
fn primary_subtag(code: &str) -> String {
    code.trim()
        .split(['-', '_', '.', '@'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn entries_of(language: &str) -> Option<Entries> {
    CATALOGUES
        .iter()
        .find(|(l, _)| *l == language)
        .map(|(_, entries)| *entries)
}

fn lookup(entries: Entries, key: &str) -> Option<&'static str> {
    entries
        .binary_search_by(|e| key_of(e).cmp(key))
        .ok()
        .map(|i| text_of(&entries[i]))
}

/// Replaces each `{name}` with its value, in one pass (a value containing braces is not
/// filled in again).
fn fill_in(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let value = after.find('}').and_then(|end| {
            let name = &after[..end];
            let v = values.iter().find(|(n, _)| *n == name)?;
            Some((v.1, end))
        });
        match value {
            Some((v, end)) => {
                out.push_str(v);
                rest = &after[end + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The placeholder names in a text, sorted and without repeats.
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end)
                if end > 0
                    && after[..end]
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'_') =>
            {
                names.push(&after[..end]);
                rest = &after[end + 1..];
            }
            _ => rest = after,
        }
    }
    names.sort_unstable();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue(language: &str) -> Entries {
        entries_of(language).unwrap()
    }

    #[test]
    fn every_key_is_in_every_catalogue() {
        let english = catalogue(FALLBACK);
        for (language, entries) in CATALOGUES {
            let missing: Vec<_> = pairs(english)
                .filter(|(k, _)| lookup(entries, k).is_none())
                .map(|(k, _)| k)
                .collect();
            assert!(missing.is_empty(), "{language}.toml lacks {missing:?}");
            let extra: Vec<_> = pairs(entries)
                .filter(|(k, _)| lookup(english, k).is_none())
                .map(|(k, _)| k)
                .collect();
            assert!(
                extra.is_empty(),
                "{language}.toml has keys en.toml lacks: {extra:?}"
            );
        }
    }

    #[test]
    fn every_translation_has_the_placeholders_of_the_english_text() {
        let english = catalogue(FALLBACK);
        for (language, entries) in CATALOGUES {
            for (key, text) in pairs(entries) {
                let Some(original) = lookup(english, key) else {
                    continue;
                };
                assert_eq!(
                    placeholders(text),
                    placeholders(original),
                    "{language}.toml: {key} has other placeholders than in en.toml"
                );
            }
        }
    }

    #[test]
    fn there_are_english_and_dutch_catalogues() {
        let all: Vec<_> = languages().collect();
        assert!(all.contains(&"en") && all.contains(&"nl"), "{all:?}");
        assert!(is_known("nl_NL.UTF-8") && is_known("EN") && !is_known("fr"));
    }

    #[test]
    fn catalogues_are_sorted_for_lookup() {
        for (language, entries) in CATALOGUES {
            assert!(
                entries.windows(2).all(|w| key_of(&w[0]) < key_of(&w[1])),
                "{language}"
            );
            assert!(pairs(entries).all(|(k, t)| !k.is_empty() && !t.is_empty()));
        }
    }

    #[test]
    fn a_language_without_a_catalogue_reads_english() {
        let t = Texts::for_language("fr");
        assert_eq!(t.language(), "en");
        assert_eq!(t.get("duration.minute"), "{n} minute");
        assert_eq!(Texts::for_language("nl-NL").language(), "nl");
    }

    /// Every `"section.key"` string in the workspace's code that shows texts (src/), where
    /// `section` is one of the catalogues' sections, is a key of en.toml (or, ending in ".", a prefix of one): a
    /// typo would otherwise show the key itself to the user.
    #[test]
    fn every_key_the_code_names_is_in_the_english_catalogue() {
        let english = catalogue(FALLBACK);
        let sections: Vec<&str> = pairs(english)
            .filter_map(|(k, _)| k.split_once('.'))
            .map(|(s, _)| s)
            .collect();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = vec![src];
        let (mut named, mut missing) = (0, Vec::new());
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Only code that shows texts: configuration keys (push.url) share section names.
            if !text.contains("Texts") && !text.contains("language::texts") {
                continue;
            }
            for literal in text.split('"').skip(1).step_by(2) {
                let Some((section, rest)) = literal.split_once('.') else {
                    continue;
                };
                let keyish = rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
                if !sections.contains(&section) || !keyish {
                    continue;
                }
                named += 1;
                let known = match rest.is_empty() {
                    true => pairs(english).any(|(k, _)| k.starts_with(literal)),
                    false => lookup(english, literal).is_some(),
                };
                if !known {
                    missing.push(format!("{}: {literal}", path.display()));
                }
            }
        }
        assert!(missing.is_empty(), "not in en.toml: {missing:#?}");
        assert!(named > 100, "the scan found only {named} keys");
    }

    #[test]
    fn a_section_is_its_keys_without_the_prefix_in_the_language() {
        let nl = Texts::for_language("nl").section("duration.");
        assert!(nl.contains(&("minutes", "{n} minuten")), "{nl:?}");
        assert_eq!(nl.len(), 8);
    }

    #[test]
    fn a_count_of_one_reads_singular_in_english_and_dutch() {
        let (en, nl) = (Texts::english(), Texts::for_language("nl"));
        let answers = |t: Texts, n: u64| {
            let shown = n.to_string();
            let values = [("url", "https://a"), ("n", shown.as_str())];
            t.fill_count("fleet_cli.status_answers", n, &values)
        };
        assert_eq!(answers(en, 1), "https://a: answers (1 user)");
        assert_eq!(answers(en, 0), "https://a: answers (0 users)");
        assert_eq!(answers(en, 2), "https://a: answers (2 users)");
        assert_eq!(answers(nl, 1), "https://a: antwoordt (1 gebruiker)");
        assert_eq!(answers(nl, 2), "https://a: antwoordt (2 gebruikers)");
        let codes = |t: Texts, n: u64| t.fill_count("recovery.codes", n, &[("n", &n.to_string())]);
        assert_eq!(codes(en, 1), "1 code");
        assert_eq!(codes(nl, 9), "9 codes");
    }

    #[test]
    fn every_singular_has_its_plural_and_the_same_placeholders() {
        for (language, entries) in CATALOGUES {
            for (key, text) in pairs(entries) {
                let Some(plural) = key.strip_suffix("_one") else {
                    continue;
                };
                let many = lookup(entries, plural);
                assert!(many.is_some(), "{language}.toml: {key} without {plural}");
                assert_eq!(
                    placeholders(text),
                    placeholders(many.unwrap_or_default()),
                    "{language}.toml: {key} and {plural} have other placeholders"
                );
            }
        }
    }

    #[test]
    fn a_count_without_a_singular_reads_the_text_itself() {
        let t = Texts::english();
        assert_eq!(
            t.fill_count("cli.status_failures", 1, &[("n", "1")]),
            "  consecutive failures: 1"
        );
    }

    #[test]
    fn a_key_missing_everywhere_reads_as_itself() {
        assert_eq!(Texts::english().get("no.such.key"), "no.such.key");
    }

    #[test]
    fn fill_replaces_named_placeholders_once_and_keeps_unknown_ones() {
        let text = "{a} and {b}, {a} again, {c} stays, {";
        let filled = fill_in(text, &[("a", "{b}"), ("b", "2")]);
        assert_eq!(filled, "{b} and 2, {b} again, {c} stays, {");
        assert_eq!(placeholders(text), ["a", "b", "c"]);
    }

    #[test]
    fn durations_read_as_people_say_them_in_english_and_dutch() {
        let (en, nl) = (Texts::english(), Texts::for_language("nl"));
        let cases = [
            (0, "1 second", "1 seconde"),
            (40, "40 seconds", "40 seconden"),
            (60, "1 minute", "1 minuut"),
            (61, "2 minutes", "2 minuten"),
            (900, "15 minutes", "15 minuten"),
            (7200, "2 hours", "2 uur"),
            (86_400, "24 hours", "24 uur"),
            (3 * 86_400, "3 days", "3 dagen"),
        ];
        for (seconds, english, dutch) in cases {
            assert_eq!(en.duration(seconds), english);
            assert_eq!(nl.duration(seconds), dutch);
        }
    }
}
