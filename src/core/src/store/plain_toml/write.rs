//! Writing plain TOML (see the parent module) for the state file.
#![forbid(unsafe_code)]

use super::is_bare_key;

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
