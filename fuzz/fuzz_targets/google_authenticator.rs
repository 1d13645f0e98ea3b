//! `~/.google_authenticator`, as `twofold import` reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofold_core::import::google_authenticator;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = google_authenticator::parse(data) {
        // The derived numbers are used for the TOTP parameters: they must not panic either.
        let _ = (file.skew_steps(), file.step_seconds());
    }
});
