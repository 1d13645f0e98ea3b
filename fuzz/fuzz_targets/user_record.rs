//! `users/<name>.toml`: a record that parses writes out and parses back to the same record,
//! and the sign-in's quicker reading (without the recovery hashes) never gives more than the
//! whole file says; the plain reader (`store::plain_toml`) reads what the general TOML parser
//! reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofold_core::store::plain_toml;
use twofold_core::store::record::UserRecord;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(table) = plain_toml::table(text) {
            let general = toml::from_str::<toml::Table>(text);
            assert_eq!(general.as_ref().ok(), Some(&table), "plain reading differs");
        }
        let general = toml::from_str::<UserRecord>(text).map(|r| r.to_toml());
        let plain = plain_toml::from_str::<UserRecord>(text).map(|r| r.to_toml());
        assert_eq!(plain.ok(), general.ok(), "record reading differs");
    }
    let quick = UserRecord::parse_without_recovery(data);
    let Ok(record) = UserRecord::parse(data) else {
        // Only a damaged recovery part (left unread) may be accepted by the quick reading.
        if let Ok(quick) = &quick {
            assert!(
                quick.recovery_deferred,
                "the quick reading accepted a broken head"
            );
        }
        return;
    };
    if let Ok(quick) = &quick {
        assert_eq!(quick.id, record.id);
        assert_eq!(quick.confirmed_step, record.confirmed_step);
        assert_eq!(quick.totp.secret.expose(), record.totp.secret.expose());
        assert!(quick.devices.iter().all(|d| record.devices.contains(d)));
        assert!(quick.recovery_deferred || quick.recovery == record.recovery);
    }
    let written = record.to_toml().expect("a parsed record serialises");
    let again = UserRecord::parse(written.as_bytes()).expect("a written record parses");
    assert_eq!(again.to_toml().as_deref(), Ok(written.as_str()));
    let quick_again =
        UserRecord::parse_without_recovery(written.as_bytes()).expect("a written record parses");
    assert_eq!(quick_again.devices, record.devices);
});
