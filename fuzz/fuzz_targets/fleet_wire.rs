//! What a host reads from a fleet service (or a key file): the JSON answers of the fleet API,
//! a sealed record inside them, and a fleet key's text. Never a panic; a sealed record opens
//! only for the user and fleet it was sealed for; sealing then opening gives back the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofold_core::fleet::envelope::{OpenError, SealedRecord, open, seal};
use twofold_core::fleet::key::FleetKey;
use twofold_core::fleet::wire::{ClaimAnswer, ListedUser, UserView};
use zeroize::Zeroizing;

fn key(byte: u8) -> FleetKey {
    FleetKey::from_bytes(Zeroizing::new([byte; 32]))
}

fuzz_target!(|data: &[u8]| {
    let keys = [key(7)];
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = FleetKey::parse(text);
    }
    let _ = serde_json::from_slice::<ClaimAnswer>(data);
    let _ = serde_json::from_slice::<Vec<ListedUser>>(data);
    if let Ok(view) = serde_json::from_slice::<UserView>(data)
        && let Some(record) = &view.record
    {
        match open(&keys, record, "alice", Some(view.version)) {
            // Random bytes do not authenticate under the fleet key.
            Ok(_) => panic!("a record nobody sealed opened"),
            Err(OpenError::OtherUser { .. } | OpenError::RolledBack { .. }) => {}
            Err(_) => {}
        }
    }
    if let Ok(sealed) = serde_json::from_slice::<SealedRecord>(data) {
        let _ = open(&keys, &sealed, &sealed.user, None);
    }
    // Round trip: the input as a record's bytes, sealed for alice at version 5.
    let Ok(sealed) = seal(&keys[0], "alice", 5, data) else {
        return;
    };
    let opened = open(&keys, &sealed, "alice", Some(5)).expect("own record opens");
    assert_eq!(&opened[..], data);
    assert!(open(&keys, &sealed, "bob", None).is_err(), "moved to another user");
    assert!(open(&keys, &sealed, "alice", Some(6)).is_err(), "older than seen");
    assert!(open(&[key(8)], &sealed, "alice", None).is_err(), "another fleet's key");
});
