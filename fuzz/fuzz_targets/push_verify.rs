//! The host's verdict on a relayed decision, against a fixed challenge, number and devices.
//! Raw decisions from the input are never valid (nobody can sign for the device); decisions
//! the device really signed get exactly the verdict docs/push-protocol.md's checks give.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use twofold_core::factor::device::Device;
use twofold_core::push::device::TestDevice;
use twofold_core::push::protocol::{Challenge, SignedDecision, decision_message};
use twofold_core::push::verify::{Invalid, PushVerdict, verify};

const CREATED: u64 = 1_800_000_000;
const NOW: u64 = CREATED + 10;
const NUMBER: u8 = 42;

struct Fixture {
    challenge: Challenge,
    phone: TestDevice,
    devices: Vec<Device>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let phone = TestDevice::from_secret_bytes("dev-1", &[0x11; 32]).expect("a valid key");
    let removed = TestDevice::from_secret_bytes("dev-2", &[0x22; 32]).expect("a valid key");
    let mut removed = removed.record_entry(CREATED - 200);
    removed.removed = Some(CREATED - 100);
    let broken = Device {
        id: "dev-3".into(),
        public_key: "not-a-key".into(),
        name: String::new(),
        added: CREATED - 50,
        removed: None,
    };
    Fixture {
        challenge: Challenge {
            id: "c".repeat(22),
            nonce: "n".repeat(43),
            user: "alice".into(),
            host: "web1".into(),
            service: "sshd".into(),
            rhost: "192.0.2.7".into(),
            created: CREATED,
            expires: CREATED + 60,
        },
        devices: vec![phone.record_entry(CREATED - 100), removed, broken],
        phone,
    }
});

/// The verdict the protocol's checks give a decision whose signature is the phone's own.
fn expected(d: &SignedDecision, c: &Challenge) -> PushVerdict {
    let invalid = PushVerdict::Invalid;
    match d.device_id.as_str() {
        "dev-1" => {}
        "dev-2" => return invalid(Invalid::RemovedDevice),
        "dev-3" => return invalid(Invalid::BadDeviceKey),
        _ => return invalid(Invalid::UnknownDevice),
    }
    let verdict = match d.decision.as_str() {
        "approve" if d.number != NUMBER.to_string() => return invalid(Invalid::NumberMismatch),
        "approve" => PushVerdict::Approved,
        "deny" => PushVerdict::Denied,
        "report" => PushVerdict::Reported,
        _ => return invalid(Invalid::UnknownDecision),
    };
    if d.decided_at < c.created || d.decided_at > c.expires {
        return invalid(Invalid::OutsideWindow);
    }
    verdict
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, json)) = data.split_first() else {
        return;
    };
    let Ok(mut decision) = serde_json::from_slice::<SignedDecision>(json) else {
        return;
    };
    let f = &*FIXTURE;
    let c = &f.challenge;
    match mode % 3 {
        // As relayed: whatever it claims, it is not the phone's answer.
        0 => {
            let verdict = verify(&decision, c, NUMBER, &f.devices, NOW);
            assert!(matches!(verdict, PushVerdict::Invalid(_)), "{verdict:?}");
        }
        // Signed by the phone: exactly the checks' verdict.
        1 => {
            decision.signature = f.phone.sign(&decision_message(
                &c.hash(),
                &decision.decision,
                &decision.number,
                &decision.device_id,
                decision.decided_at,
            ));
            let verdict = verify(&decision, c, NUMBER, &f.devices, NOW);
            assert_eq!(verdict, expected(&decision, c), "{decision:?}");
            // The same signature after the challenge expired approves nothing.
            let late = verify(&decision, c, NUMBER, &f.devices, c.expires);
            assert!(matches!(late, PushVerdict::Invalid(_)), "{late:?}");
        }
        // Signed by the phone, then one signature character changed: refused.
        _ => {
            let mut signature = f.phone.sign(&decision_message(
                &c.hash(),
                &decision.decision,
                &decision.number,
                &decision.device_id,
                decision.decided_at,
            ));
            let at = usize::from(mode) % signature.len();
            let swapped = if signature.as_bytes()[at] == b'A' {
                "B"
            } else {
                "A"
            };
            signature.replace_range(at..=at, swapped);
            decision.signature = signature;
            let verdict = verify(&decision, c, NUMBER, &f.devices, NOW);
            if decision.device_id == "dev-1" {
                assert_eq!(verdict, PushVerdict::Invalid(Invalid::BadSignature));
            } else {
                assert!(matches!(verdict, PushVerdict::Invalid(_)), "{verdict:?}");
            }
        }
    }
});
