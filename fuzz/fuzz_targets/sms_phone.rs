//! Phone numbers as people type them (enrollment's prompt, `twofold phone`, a record's
//! `[phone]`), and `[sms.http] url` as the gateway reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofold_core::sms::http::Target;
use twofold_core::sms::{PhoneFormat, PhoneNumber};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for country in [None, Some("NL"), Some("US"), Some("xx")] {
        if let Ok(number) = PhoneNumber::parse(text, country) {
            let e164 = number.e164();
            let digits = &e164[1..];
            assert!((8..=15).contains(&digits.len()), "{e164}");
            assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{e164}");
            // What is stored reads back as the same number.
            assert_eq!(PhoneNumber::from_stored(&e164).ok(), Some(number.clone()));
            let masked = number.masked();
            assert!(masked.ends_with(&digits[digits.len() - 4..]), "{masked}");
            assert!(!masked.contains(digits), "{masked} hides the number");
            for format in [PhoneFormat::PlusE164, PhoneFormat::E164, PhoneFormat::DoubleZero] {
                assert!(number.formatted(format).ends_with(digits));
            }
        }
    }
    let _ = PhoneNumber::from_stored(text);
    if let Ok(target) = Target::parse(text) {
        assert!(target.endpoint.tls || target.endpoint.is_loopback());
    }
});
