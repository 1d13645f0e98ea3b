//! `state/<name>.toml`: a state that parses writes out and parses back equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofold_core::store::state::UserState;

fuzz_target!(|data: &[u8]| {
    let Ok(state) = UserState::parse(data) else {
        return;
    };
    let written = state.to_toml().expect("a parsed state serialises");
    let again = UserState::parse(written.as_bytes()).expect("a written state parses");
    assert_eq!(again, state);
});
