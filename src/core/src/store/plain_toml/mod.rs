//! The plain TOML that twofold itself writes into records and state files, read without the
//! general parser: every sign-in reads the configuration, a record and a state file, and the
//! general parser spent most of a sign-in's own work on these few lines.
//!
//! Plain means: lines of `key = value` (bare key, one space either side of `=`), `[table]` and
//! `[[array]]` headers with a bare key, whole-line comments and empty lines; values are basic
//! strings of printable ASCII without escapes, decimal integers, `true`/`false`, and
//! one-line arrays of those (`[]`, `["a", "b"]`, `[1, 2]`). That is what `toml::to_string`
//! writes for twofold's types (and what a simple configuration file looks like). Anything
//! else — a hand-edited file, a non-ASCII device name, a newer writer, a mistake — is not
//! plain, and [`from_str`] hands it to the general parser, so every file reads exactly as
//! before and every error message is the general parser's (the fuzz targets `user_state`,
//! `user_record` and `config` compare the two readings).
#![forbid(unsafe_code)]

mod de;
mod write;

use serde::de::DeserializeOwned;
use toml::{Table, Value};
pub use write::Writer;

/// Deserializes `text`: straight from its plain reading when it is plain and that
/// deserializes, else (and for every error) through the general parser.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, toml::de::Error> {
    if let Some(Ok(value)) = parse(text).map(|entries| T::deserialize(Node::Table(entries))) {
        return Ok(value);
    }
    toml::from_str(text)
}

/// A value of a plain document, its strings borrowed from the text.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
    Array(Vec<Node<'a>>),
    /// Keys in the order written (a few per table: looked up one by one).
    Table(Vec<(&'a str, Node<'a>)>),
}

impl Node<'_> {
    /// The same value as the general parser's `toml::Value`.
    pub fn to_value(&self) -> Value {
        match self {
            Node::Str(s) => Value::String((*s).to_string()),
            Node::Int(n) => Value::Integer(*n),
            Node::Bool(b) => Value::Boolean(*b),
            Node::Array(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Node::Table(entries) => Value::Table(to_table(entries)),
        }
    }
}

fn to_table(entries: &[(&str, Node<'_>)]) -> Table {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.to_value()))
        .collect()
}

/// The table of a plain document as the general parser gives it (for tests and the fuzz
/// targets); `None` if `text` is not plain (it may still be valid TOML).
pub fn table(text: &str) -> Option<Table> {
    parse(text).map(|entries| to_table(&entries))
}

/// The root table's entries of a plain document; `None` if `text` is not plain.
pub fn parse(text: &str) -> Option<Vec<(&str, Node<'_>)>> {
    let mut root: Vec<(&str, Node<'_>)> = Vec::new();
    // Where `key = value` lines go: the root, or the root entry at this index (a `[table]`, or
    // the last element of an `[[array]]`).
    let mut current: Option<usize> = None;
    // Arrays made by `[[name]]` headers (only those may get another element).
    let mut arrays: Vec<&str> = Vec::new();
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
            match find(&root, name) {
                Some(at) if arrays.contains(&name) => {
                    let Node::Array(elements) = &mut root[at].1 else {
                        return None;
                    };
                    elements.push(Node::Table(Vec::new()));
                    current = Some(at);
                }
                Some(_) => return None,
                None => {
                    root.push((name, Node::Array(vec![Node::Table(Vec::new())])));
                    arrays.push(name);
                    current = Some(root.len() - 1);
                }
            }
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if !is_bare_key(name) || find(&root, name).is_some() {
                return None;
            }
            root.push((name, Node::Table(Vec::new())));
            current = Some(root.len() - 1);
            continue;
        }
        // A bare key has no space: the first one starts " = ".
        let (key, value) = line.split_at(position(line, b' ')?);
        let value = value.strip_prefix(" = ")?;
        if !is_bare_key(key) {
            return None;
        }
        let value = parse_value(value)?;
        let table = match current {
            None => &mut root,
            Some(at) => match &mut root[at].1 {
                Node::Table(entries) => entries,
                Node::Array(elements) => match elements.last_mut() {
                    Some(Node::Table(entries)) => entries,
                    _ => return None,
                },
                _ => return None,
            },
        };
        if find(table, key).is_some() {
            return None;
        }
        table.push((key, value));
    }
    Some(root)
}

/// Where `key` is among `entries`.
fn find(entries: &[(&str, Node<'_>)], key: &str) -> Option<usize> {
    entries.iter().position(|(k, _)| *k == key)
}

/// Where the first `byte` (ASCII) is in `text`.
fn position(text: &str, byte: u8) -> Option<usize> {
    text.bytes().position(|b| b == byte)
}

/// `[A-Za-z0-9_-]+`: a key that needs no quotes.
pub(super) fn is_bare_key(key: &str) -> bool {
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
fn parse_value(text: &str) -> Option<Node<'_>> {
    let Some(inner) = text.strip_prefix('[') else {
        let (value, rest) = scalar(text)?;
        return rest.is_empty().then_some(value);
    };
    let mut elements = Vec::new();
    let mut rest = inner;
    if let Some(end) = rest.strip_prefix(']') {
        return end.is_empty().then_some(Node::Array(elements));
    }
    loop {
        let (value, after) = scalar(rest)?;
        elements.push(value);
        if let Some(more) = after.strip_prefix(", ") {
            rest = more;
        } else {
            let end = after.strip_prefix(']')?;
            return end.is_empty().then_some(Node::Array(elements));
        }
    }
}

/// One scalar at the start of `text`, and what follows it.
fn scalar(text: &str) -> Option<(Node<'_>, &str)> {
    if let Some(body) = text.strip_prefix('"') {
        let end = position(body, b'"')?;
        let content = &body[..end];
        if !is_printable_ascii(content) || content.contains('\\') {
            return None;
        }
        return Some((Node::Str(content), &body[end + 1..]));
    }
    let end = text
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'-'))
        .unwrap_or(text.len());
    let (word, rest) = text.split_at(end);
    let value = match word {
        "true" => Node::Bool(true),
        "false" => Node::Bool(false),
        _ => Node::Int(integer(word)?),
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
