//! The approval service's request bodies as its handlers read them (serde_json, then the
//! checks), and the headers it authenticates hosts and devices by.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofold_serve::auth::{DeviceHeaders, presented_digest};
use twofold_serve::push_target::PushTargets;
use twofold_serve::wire::{
    NewChallenge, NewDecision, NewPairing, PairingCompletion, SubscriptionUpdate, check_id,
    check_text,
};

const NOW: u64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let public_only = PushTargets::new(false, &[]);
    let loopback_too = PushTargets::new(true, &[]);
    if let Ok(body) = serde_json::from_slice::<NewPairing>(data) {
        let _ = body.check();
    }
    if let Ok(body) = serde_json::from_slice::<PairingCompletion>(data) {
        if let Ok(key) = body.check(false, &public_only) {
            assert_eq!(key.len(), 65);
        }
        let _ = body.check(true, &loopback_too);
    }
    if let Ok(SubscriptionUpdate {
        push_subscription: Some(sub),
    }) = serde_json::from_slice::<SubscriptionUpdate>(data)
    {
        let _ = sub.check(false, &public_only);
        let _ = sub.check(true, &loopback_too);
    }
    if let Ok(body) = serde_json::from_slice::<NewChallenge>(data) {
        if body.check(NOW, 300).is_ok() {
            // What the service accepts cannot break a signed message's lines.
            for field in [&body.user, &body.host, &body.service, &body.rhost] {
                assert!(!field.contains('\n'));
            }
            assert!(body.created < body.expires && body.expires > NOW);
        }
        let _ = body.check(body.created, u64::MAX);
        let _ = body.check(u64::MAX, u64::MAX);
    }
    if let Ok(body) = serde_json::from_slice::<NewDecision>(data) {
        let _ = body.check();
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = check_id("id", text, 16, 64);
    let _ = check_text("user", text, 256, false);
    let _ = presented_digest(Some(text));
    let mut parts = text.splitn(4, '\n');
    let headers = DeviceHeaders {
        device_id: parts.next(),
        timestamp: parts.next(),
        counter: parts.next(),
        signature: parts.next(),
    };
    let _ = headers.precheck("dev-1", NOW);
    let _ = headers.precheck("dev-1", u64::MAX);
});
