//! Is a posted decision one that the named device really signed for this challenge? The
//! service checks the signature with the key it stored at pairing before it lets a decision
//! settle the challenge, so a forged or garbled decision posted by someone else cannot take
//! the place of the user's own answer. (The host still checks everything itself, against its
//! own record; this only keeps third parties from spoiling a challenge.)
#![forbid(unsafe_code)]

use super::auth;
use super::b64u;
use super::challenges::{Challenge, Decision};
use super::store::DeviceRow;
use p256::ecdsa::Signature;
use sha2::{Digest, Sha256};

/// Why a decision was not accepted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the device is unknown to this service, removed, or another host's")]
    UnknownDevice,
    #[error("the signature does not verify over this challenge")]
    BadSignature,
}

/// `SHA-256("twofold-challenge-v1\n{id}\n{nonce}\n{user}\n{host}\n{service}\n{rhost}\n{created}\n{expires}")`.
pub fn challenge_hash(c: &Challenge) -> [u8; 32] {
    let text = format!(
        "twofold-challenge-v1\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
        c.id, c.nonce, c.user, c.host, c.service, c.rhost, c.created, c.expires
    );
    Sha256::digest(text.as_bytes()).into()
}

/// `"twofold-decision-v1\n{challenge_hash_b64u}\n{decision}\n{number}\n{device_id}\n{decided_at}"`.
pub fn decision_message(c: &Challenge, d: &Decision) -> String {
    format!(
        "twofold-decision-v1\n{}\n{}\n{}\n{}\n{}",
        b64u::encode(challenge_hash(c)),
        d.decision,
        d.number,
        d.device_id,
        d.decided_at
    )
}

/// Checks `decision` on `challenge` against `device` (the service's row for its id, if any):
/// the device must be one the challenge's host paired through this service (in fleet mode: one
/// of the challenge's user, paired through any host), not removed, and its key must verify the
/// signature. (Which of its devices may answer is the host's choice: it names them in
/// `device_ids`.)
pub fn check(
    challenge: &Challenge,
    decision: &Decision,
    device: Option<&DeviceRow>,
    fleet: bool,
) -> Result<(), Refusal> {
    let device = device
        .filter(|d| {
            !d.removed
                && if fleet {
                    d.user == challenge.user
                } else {
                    d.host == challenge.owner
                }
        })
        .ok_or(Refusal::UnknownDevice)?;
    let signature = b64u::decode(&decision.signature)
        .ok()
        .and_then(|raw| Signature::from_slice(&raw).ok())
        .ok_or(Refusal::BadSignature)?;
    auth::verify(
        &device.public_key,
        decision_message(challenge, decision).as_bytes(),
        &signature,
    )
    .map_err(|_| Refusal::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer;

    fn setup() -> (SigningKey, DeviceRow, Challenge) {
        let key = SigningKey::from_slice(&[5u8; 32]).unwrap();
        let device = DeviceRow {
            device_id: "d1".into(),
            host: "web1".into(),
            user: "alice".into(),
            public_key: key.verifying_key().to_sec1_point(false).as_bytes().to_vec(),
            removed: false,
            push_subscription: None,
        };
        let challenge = Challenge {
            id: "c".repeat(22),
            nonce: "n".repeat(22),
            user: "alice".into(),
            host: "web1.example".into(),
            service: "sshd".into(),
            rhost: String::new(),
            created: 1000,
            expires: 1060,
            device_ids: vec!["d1".into()],
            owner: "web1".into(),
        };
        (key, device, challenge)
    }

    fn signed(key: &SigningKey, c: &Challenge, verb: &str) -> Decision {
        let mut d = Decision {
            decision: verb.into(),
            number: String::new(),
            device_id: "d1".into(),
            decided_at: 1010,
            signature: String::new(),
        };
        let sig: Signature = key.sign(decision_message(c, &d).as_bytes());
        d.signature = b64u::encode(sig.to_bytes());
        d
    }

    #[test]
    fn only_the_devices_own_signature_over_this_challenge_is_accepted() {
        let (key, device, challenge) = setup();
        let good = signed(&key, &challenge, "deny");
        assert_eq!(check(&challenge, &good, Some(&device), false), Ok(()));
        let mut altered = good.clone();
        altered.decision = "approve".into();
        assert_eq!(
            check(&challenge, &altered, Some(&device), false),
            Err(Refusal::BadSignature)
        );
        let stranger = SigningKey::from_slice(&[6u8; 32]).unwrap();
        let forged = signed(&stranger, &challenge, "deny");
        assert_eq!(
            check(&challenge, &forged, Some(&device), false),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            check(&challenge, &good, None, false),
            Err(Refusal::UnknownDevice)
        );
        let other_host = DeviceRow {
            host: "web2".into(),
            ..device.clone()
        };
        assert_eq!(
            check(&challenge, &good, Some(&other_host), false),
            Err(Refusal::UnknownDevice)
        );
        // In a fleet the device belongs to the user, whichever host paired it.
        assert_eq!(check(&challenge, &good, Some(&other_host), true), Ok(()));
        let other_user = DeviceRow {
            user: "bob".into(),
            ..device.clone()
        };
        assert_eq!(
            check(&challenge, &good, Some(&other_user), true),
            Err(Refusal::UnknownDevice)
        );
        let removed = DeviceRow {
            removed: true,
            ..device
        };
        assert_eq!(
            check(&challenge, &good, Some(&removed), false),
            Err(Refusal::UnknownDevice)
        );
        assert_eq!(
            check(&challenge, &good, Some(&removed), true),
            Err(Refusal::UnknownDevice)
        );
    }
}
