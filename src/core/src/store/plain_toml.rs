//! The plain TOML that twofold itself writes into records and state files, read without the
//! general parser: a sign-in reads a record and a state file (twice), and the general parser
//! spends most of a sign-in's own work on these few lines.
//!
//! Plain means: lines of `key = value` (bare key, one space either side of `=`), `[table]` and
//! `[[array]]` headers with a bare key, whole-line comments and empty lines; values are basic
//! strings of printable ASCII without escapes, decimal integers, `true`/`false`, and
//! one-line arrays of those (`[]`, `["a", "b"]`, `[1, 2]`). That is what `toml::to_string`
//! writes for twofold's types. Anything else — a hand-edited file, a newer writer, a mistake —
//! is not plain, and [`from_str`] hands it to the general parser, so every file reads exactly
//! as before and every error message is the general parser's (the fuzz targets `user_state`
//! and `user_record` compare the two readings).
#![forbid(unsafe_code)]

use serde::de::DeserializeOwned;
use toml::{Table, Value};

/// Deserializes `text`: through [`table`] when it is plain and its table deserializes, else
/// (and for every error) through the general parser.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, toml::de::Error> {
    if let Some(Ok(value)) = table(text).map(Table::try_into) {
        return Ok(value);
    }
    toml::from_str(text)
}

/// The table of a plain document; `None` if `text` is not plain (it may still be valid TOML).
pub fn table(text: &str) -> Option<Table> {
    let mut root = Table::new();
    // Where `key = value` lines go: the root, a `[table]` or the last `[[array]]` element.
    let mut current: Option<(String, bool)> = None;
    // Arrays made by `[[name]]` headers (only those may get another element).
    let mut arrays: Vec<String> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        // Byte loops rather than str patterns: a few lines, where pattern set-up dominates.
        let end = position(rest, b'\n').unwrap_or(rest.len());
        let line = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            // TOML allows any character but ASCII controls in a comment (tab too: left out).
            if comment.bytes().any(|b| b < b' ' || b == 0x7f) {
                return None;
            }
            continue;
        }
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
            if !is_bare_key(name) {
                return None;
            }
            match root.get_mut(name) {
                Some(Value::Array(elements)) if arrays.iter().any(|a| a == name) => {
                    elements.push(Value::Table(Table::new()));
                }
                Some(_) => return None,
                None => {
                    root.insert(
                        name.to_string(),
                        Value::Array(vec![Value::Table(Table::new())]),
                    );
                    arrays.push(name.to_string());
                }
            }
            current = Some((name.to_string(), true));
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if !is_bare_key(name) || root.contains_key(name) {
                return None;
            }
            root.insert(name.to_string(), Value::Table(Table::new()));
            current = Some((name.to_string(), false));
            continue;
        }
        // A bare key has no space: the first one starts " = ".
        let (key, value) = line.split_at(position(line, b' ')?);
        let value = value.strip_prefix(" = ")?;
        if !is_bare_key(key) {
            return None;
        }
        let value = parse_value(value)?;
        let table = match &current {
            None => &mut root,
            Some((name, false)) => match root.get_mut(name) {
                Some(Value::Table(table)) => table,
                _ => return None,
            },
            Some((name, true)) => match root.get_mut(name) {
                Some(Value::Array(elements)) => match elements.last_mut() {
                    Some(Value::Table(table)) => table,
                    _ => return None,
                },
                _ => return None,
            },
        };
        if table.contains_key(key) {
            return None;
        }
        table.insert(key.to_string(), value);
    }
    Some(root)
}

/// Writes plain TOML exactly as `toml::to_string` does for the same keys and values, or says
/// it cannot (a string that is not plain, a number beyond i64): the caller then uses
/// `toml::to_string` itself. Tests and the `user_state` fuzz target compare the two.
pub struct Writer {
    text: String,
    plain: bool,
}

impl Writer {
    /// An empty document.
    pub fn new() -> Self {
        Writer {
            text: String::with_capacity(256),
            plain: true,
        }
    }

    /// `key = n`.
    pub fn int(&mut self, key: &str, n: u64) -> &mut Self {
        self.key(key);
        self.number(n);
        self.text.push('\n');
        self
    }

    /// `key = "value"`.
    pub fn string(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        self.quoted(value);
        self.text.push('\n');
        self
    }

    /// `key = ["a", "b"]`.
    pub fn strings(&mut self, key: &str, values: &[String]) -> &mut Self {
        self.key(key);
        self.array(values, |w, v| w.quoted(v));
        self
    }

    /// `key = [1, 2]`.
    pub fn ints(&mut self, key: &str, values: &[u64]) -> &mut Self {
        self.key(key);
        self.array(values, |w, n| w.number(*n));
        self
    }

    /// The document, if everything in it was plain.
    pub fn finish(self) -> Option<String> {
        self.plain.then_some(self.text)
    }

    fn key(&mut self, key: &str) {
        self.plain &= is_bare_key(key);
        self.text.push_str(key);
        self.text.push_str(" = ");
    }

    fn number(&mut self, n: u64) {
        self.plain &= i64::try_from(n).is_ok();
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut rest = n;
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        for &d in &digits[at..] {
            self.text.push(char::from(d));
        }
    }

    /// Only characters `toml::to_string` writes as they are, in a basic string.
    fn quoted(&mut self, value: &str) {
        self.plain &= value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/@+ ".contains(&b));
        self.text.push('"');
        self.text.push_str(value);
        self.text.push('"');
    }

    fn array<T>(&mut self, values: &[T], mut each: impl FnMut(&mut Self, &T)) {
        self.text.push('[');
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            each(self, value);
        }
        self.text.push_str("]\n");
    }
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

/// Where the first `byte` (ASCII) is in `text`.
fn position(text: &str, byte: u8) -> Option<usize> {
    text.bytes().position(|b| b == byte)
}

/// `[A-Za-z0-9_-]+`: a key that needs no quotes.
fn is_bare_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Printable ASCII only (`"` and `\\` included): anything else, even what TOML allows, is
/// left to the general parser.
fn is_printable_ascii(text: &str) -> bool {
    text.bytes().all(|b| (b' '..=b'~').contains(&b))
}

/// A whole value: a scalar or a one-line array of scalars.
fn parse_value(text: &str) -> Option<Value> {
    let Some(inner) = text.strip_prefix('[') else {
        let (value, rest) = scalar(text)?;
        return rest.is_empty().then_some(value);
    };
    let mut elements = Vec::new();
    let mut rest = inner;
    if let Some(end) = rest.strip_prefix(']') {
        return end.is_empty().then_some(Value::Array(elements));
    }
    loop {
        let (value, after) = scalar(rest)?;
        elements.push(value);
        if let Some(more) = after.strip_prefix(", ") {
            rest = more;
        } else {
            let end = after.strip_prefix(']')?;
            return end.is_empty().then_some(Value::Array(elements));
        }
    }
}

/// One scalar at the start of `text`, and what follows it.
fn scalar(text: &str) -> Option<(Value, &str)> {
    if let Some(body) = text.strip_prefix('"') {
        let end = position(body, b'"')?;
        let content = &body[..end];
        if !is_printable_ascii(content) || content.contains('\\') {
            return None;
        }
        return Some((Value::String(content.to_string()), &body[end + 1..]));
    }
    let end = text
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'-'))
        .unwrap_or(text.len());
    let (word, rest) = text.split_at(end);
    let value = match word {
        "true" => Value::Boolean(true),
        "false" => Value::Boolean(false),
        _ => Value::Integer(integer(word)?),
    };
    Some((value, rest))
}

/// `0` or `-?[1-9][0-9]*` within i64: TOML's decimal integers without `+`, `_` or `-0`.
fn integer(word: &str) -> Option<i64> {
    let digits = word.strip_prefix('-').unwrap_or(word);
    let canonical = digits == "0" && word == "0"
        || (digits.starts_with(|c: char| ('1'..='9').contains(&c))
            && digits.bytes().all(|b| b.is_ascii_digit()));
    if !canonical {
        return None;
    }
    word.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn general(text: &str) -> Table {
        toml::from_str(text).expect("valid TOML")
    }

    #[test]
    fn what_twofold_writes_reads_as_the_general_parser_reads_it() {
        let text = "version = 1\ncreated = 1796146909\nid = \"6c9ba083947b6a92\"\n\n[totp]\n\
                    secret = \"GEZDGNBVGY3TQOJQ\"\nalgorithm = \"SHA1\"\ndigits = 6\n\n\
                    [[recovery]]\nid = \"a\"\nhash = \"b\"\n\n[[recovery]]\nid = \"c\"\n\
                    hash = \"d\"\n\n# end of record — written by twofold\n";
        assert_eq!(table(text), Some(general(text)));
        let state = "last_step = -3\nfailures = 0\nused_recovery = []\nsms_sends = [1, 2]\n\
                     ok = true\nnames = [\"x, y\", \"]\"]\n\n[[remembered]]\nservice = \"sshd\"\n\
                     rhost = \"::1\"\nuntil = 9\n";
        assert_eq!(table(state), Some(general(state)));
        assert_eq!(table(""), Some(Table::new()));
    }

    #[test]
    fn anything_else_goes_to_the_general_parser() {
        for text in [
            "a = \"x\\ty\"\n",            // an escape
            "a = 'x'\n",                  // a literal string
            "a=1\n",                      // other spacing
            "  a = 1\n",                  // indented
            "a = 1 # note\n",             // a trailing comment
            "a = 1\r\n",                  // CRLF
            "a = +1\n",                   // a sign
            "a = 1_000\n",                // underscores
            "a = 01\n",                   // a leading zero
            "a = -0\n",                   // minus zero
            "a = 0x10\n",                 // hex
            "a = 1.5\n",                  // a float
            "a = 1979-05-27\n",           // a date
            "a = 99999999999999999999\n", // beyond i64
            "a = { b = 1 }\n",            // an inline table
            "a = [[1]]\n",                // a nested array
            "a = [1,2]\n",                // other spacing
            "a.b = 1\n",                  // a dotted key
            "\"a\" = 1\n",                // a quoted key
            "[a.b]\n",                    // a dotted header
            "a = 1\na = 2\n",             // a duplicate key
            "[a]\n[a]\n",                 // a table twice
            "a = [1]\n[[a]]\n",           // an array extended by a header
            "[a]\n[[a]]\n",               // a table turned array
            "a = \"x\"y\n",               // junk after a string
            "a = \"\u{7f}\"\n",           // a control character
            "#\u{7}\n",                   // a control character in a comment
            "a = \"w\u{f6}rld\"\n",       // beyond ASCII (valid TOML)
        ] {
            assert_eq!(table(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_plain_file_with_a_wrong_type_gets_the_general_parsers_error() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct S {
            n: u8,
        }
        let text = "n = 300\n";
        let quick = from_str::<S>(text).map_err(|e| e.to_string());
        let general = toml::from_str::<S>(text).map_err(|e| e.to_string());
        assert!(quick.is_err());
        assert_eq!(quick.err(), general.err());
    }
}
