//! User names as they may reach a file name: validated strictly, encoded reversibly.
#![forbid(unsafe_code)]

use std::fmt;

/// Longest user name accepted, in bytes (so an encoded name always fits in one path component).
pub const MAX_LEN: usize = 64;

/// A user name that passed validation.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserName(String);

/// Why a user name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty user name")]
    Empty,
    #[error("user name longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("user name is not valid UTF-8")]
    NotUtf8,
    #[error("user name contains '/', a control character or is '.' or '..'")]
    Forbidden,
    #[error("file name is not an encoded user name")]
    NotEncoded,
    /// The system (NSS) resolves the name to an account of another spelling (`ALICE` to
    /// `alice` with sssd or winbind): one account must not have two records.
    #[error("the system calls this account {0:?}; use that name")]
    NotSystemName(String),
}

impl UserName {
    /// Validates raw bytes as handed over by PAM.
    pub fn parse(raw: &[u8]) -> Result<Self, NameError> {
        if raw.is_empty() {
            return Err(NameError::Empty);
        }
        if raw.len() > MAX_LEN {
            return Err(NameError::TooLong);
        }
        let name = std::str::from_utf8(raw).map_err(|_| NameError::NotUtf8)?;
        if name == "." || name == ".." || name.chars().any(|c| c == '/' || c.is_control()) {
            return Err(NameError::Forbidden);
        }
        Ok(Self(name.to_owned()))
    }

    /// Refuses a name the system resolves to an account spelt differently (case-insensitive
    /// directories: sssd, winbind), so `ALICE` and `alice` cannot be two records of one
    /// account. Names the system does not know pass (tests and the demo use such names).
    pub fn check_system_name(&self) -> Result<(), NameError> {
        let resolved = nix::unistd::User::from_name(&self.0).ok().flatten();
        same_account_name(&self.0, resolved.as_ref().map(|u| u.name.as_str()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The file-name form: `[A-Za-z0-9_-]` and non-leading `.` kept, every other byte `%XX`.
    /// Borrowed when nothing needs encoding (the usual name), so a sign-in's file names cost
    /// no allocation for it.
    pub fn encoded(&self) -> std::borrow::Cow<'_, str> {
        let keep = |i: usize, b: u8| {
            b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0)
        };
        if self.0.bytes().enumerate().all(|(i, b)| keep(i, b)) {
            return std::borrow::Cow::Borrowed(&self.0);
        }
        let mut out = String::with_capacity(self.0.len());
        for (i, b) in self.0.bytes().enumerate() {
            if keep(i, b) {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        std::borrow::Cow::Owned(out)
    }

    /// Reverses [`UserName::encoded`]; refuses anything `encoded` would not have produced.
    pub fn decode(encoded: &str) -> Result<Self, NameError> {
        let bytes = encoded.as_bytes();
        let mut raw = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = encoded.get(i + 1..i + 3).ok_or(NameError::NotEncoded)?;
                let b = u8::from_str_radix(hex, 16).map_err(|_| NameError::NotEncoded)?;
                raw.push(b);
                i += 3;
            } else {
                raw.push(bytes[i]);
                i += 1;
            }
        }
        let name = Self::parse(&raw)?;
        if name.encoded() != encoded {
            return Err(NameError::NotEncoded);
        }
        Ok(name)
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserName({:?})", self.0)
    }
}

/// The decision of [`UserName::check_system_name`]: `resolved` is getpwnam's `pw_name`.
pub fn same_account_name(requested: &str, resolved: Option<&str>) -> Result<(), NameError> {
    match resolved {
        Some(name) if name != requested => Err(NameError::NotSystemName(name.to_string())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_the_system_spells_differently_is_refused() {
        assert_eq!(
            same_account_name("ALICE", Some("alice")),
            Err(NameError::NotSystemName("alice".into()))
        );
        assert_eq!(same_account_name("alice", Some("alice")), Ok(()));
        assert_eq!(same_account_name("synthetic", None), Ok(()));
        // The real resolver: root is root; a differently cased root is either unknown (files)
        // or refused (a case-insensitive directory), never accepted as another account.
        assert_eq!(
            UserName::parse(b"root").map(|u| u.check_system_name()),
            Ok(Ok(()))
        );
        let upper = UserName::parse(b"ROOT").map(|u| u.check_system_name());
        assert!(
            matches!(upper, Ok(Ok(())) | Ok(Err(NameError::NotSystemName(_)))),
            "{upper:?}"
        );
    }

    #[test]
    fn ordinary_names_are_kept_readable() {
        for n in ["alice", "bob_2", "j.doe", "svc-backup"] {
            assert_eq!(UserName::parse(n.as_bytes()).unwrap().encoded(), n);
        }
    }

    #[test]
    fn odd_names_are_encoded_without_slash_or_dotdot() {
        let cases = [
            ("alice@corp.example", "alice%40corp.example"),
            ("CORP\\bob", "CORP%5Cbob"),
            (".hidden", "%2Ehidden"),
            ("a b", "a%20b"),
            ("%41", "%2541"),
            ("élise", "%C3%A9lise"),
        ];
        for (name, want) in cases {
            let enc = UserName::parse(name.as_bytes())
                .unwrap()
                .encoded()
                .into_owned();
            assert_eq!(enc, want);
            assert!(!enc.contains('/') && !enc.starts_with('.'));
            assert_eq!(UserName::decode(&enc).unwrap().as_str(), name);
        }
    }

    #[test]
    fn hostile_names_are_refused() {
        assert_eq!(UserName::parse(b"../x"), Err(NameError::Forbidden));
        assert_eq!(UserName::parse(b"a/b"), Err(NameError::Forbidden));
        assert_eq!(UserName::parse(b".."), Err(NameError::Forbidden));
        assert_eq!(UserName::parse(b"a\nb"), Err(NameError::Forbidden));
        assert_eq!(UserName::parse(b""), Err(NameError::Empty));
        assert_eq!(UserName::parse(&[b'a'; 65]), Err(NameError::TooLong));
        assert_eq!(UserName::parse(b"a\xffb"), Err(NameError::NotUtf8));
    }

    #[test]
    fn decode_refuses_non_canonical_forms() {
        assert_eq!(UserName::decode("%61lice"), Err(NameError::NotEncoded));
        assert_eq!(UserName::decode("al%2"), Err(NameError::NotEncoded));
        assert_eq!(UserName::decode("a%2Fb"), Err(NameError::Forbidden));
        assert_eq!(UserName::decode(".x"), Err(NameError::NotEncoded));
    }
}
