//! `state/<name>.toml`: a state that parses writes out and parses back equal; the plain reader
//! (`store::plain_toml`) reads exactly what the general TOML parser reads, and the plain
//! writer writes exactly what the serializer writes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofold_core::store::plain_toml;
use twofold_core::store::state::UserState;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(table) = plain_toml::table(text) {
            let general = toml::from_str::<toml::Table>(text);
            assert_eq!(general.as_ref().ok(), Some(&table), "plain reading differs");
        }
        let general = toml::from_str::<UserState>(text).ok();
        assert_eq!(UserState::parse(data).ok(), general, "state reading differs");
    }
    let Ok(state) = UserState::parse(data) else {
        return;
    };
    let written = state.to_toml().expect("a parsed state serialises");
    assert_eq!(
        toml::to_string(&state).as_ref(),
        Ok(&written),
        "the plain writer differs from the serializer"
    );
    let again = UserState::parse(written.as_bytes()).expect("a written state parses");
    assert_eq!(again, state);
});
