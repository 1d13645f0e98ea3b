//! `users/<name>.toml`: a record that parses writes out and parses back to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofold_core::store::record::UserRecord;

fuzz_target!(|data: &[u8]| {
    let Ok(record) = UserRecord::parse(data) else {
        return;
    };
    let written = record.to_toml().expect("a parsed record serialises");
    let again = UserRecord::parse(written.as_bytes()).expect("a written record parses");
    assert_eq!(again.to_toml().as_deref(), Ok(written.as_str()));
});
