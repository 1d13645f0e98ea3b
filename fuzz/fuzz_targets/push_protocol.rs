//! The protocol's messages as the host and the test device read them from the service:
//! challenges, decisions, pairings, the pairing URL and the number in a prompt. What parses
//! writes out and parses back equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofold_core::push::device::number_shown;
use twofold_core::push::pairing::scan_pairing_url;
use twofold_core::push::protocol::{Challenge, DecisionKind, SignedDecision, b64u, from_b64u};
use twofold_core::push::service::{CompletedPairing, NewPairing};

fuzz_target!(|data: &[u8]| {
    if let Ok(challenges) = serde_json::from_slice::<Vec<Challenge>>(data) {
        for c in &challenges {
            let _ = c.hash();
        }
        let written = serde_json::to_vec(&challenges).expect("challenges serialise");
        let again: Vec<Challenge> = serde_json::from_slice(&written).expect("and parse back");
        assert_eq!(again, challenges);
    }
    if let Ok(decision) = serde_json::from_slice::<SignedDecision>(data) {
        let written = serde_json::to_vec(&decision).expect("a decision serialises");
        let again: SignedDecision = serde_json::from_slice(&written).expect("and parses back");
        assert_eq!(again, decision);
        if let Some(kind) = DecisionKind::parse(&decision.decision) {
            assert_eq!(kind.as_str(), decision.decision);
        }
    }
    let _ = serde_json::from_slice::<NewPairing>(data);
    let _ = serde_json::from_slice::<CompletedPairing>(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(bytes) = from_b64u(text) {
        // One encoding per value: what decodes encodes back to the same text.
        assert_eq!(b64u(&bytes), text);
    }
    let _ = scan_pairing_url(text);
    if let Some(n) = number_shown(text) {
        assert!((10..=99).contains(&n));
    }
});
