//! `recovery/<name>.toml`: a file that parses writes out and parses back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofold_core::store::record::RecoveryFile;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = RecoveryFile::parse(data) else {
        return;
    };
    let written = toml::to_string(&file).expect("a parsed recovery file serialises");
    let again = RecoveryFile::parse(written.as_bytes()).expect("a written recovery file parses");
    assert_eq!(again.code, file.code);
});
