//! Is this relayed decision the user's answer to *this* sign-in? Checks it against the host's
//! own copy of the challenge, the number it showed, and the devices in the user's record —
//! never against anything the service says about the challenge.
#![forbid(unsafe_code)]

use super::protocol::{Challenge, DecisionKind, SignedDecision, decision_message, from_b64u};
use crate::factor::device::Device;
use p256::ecdsa::Signature;
use p256::ecdsa::signature::Verifier;

/// What the decision means for the sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushVerdict {
    /// Signed by one of the user's devices, with the right number, in time.
    Approved,
    /// The user said no.
    Denied,
    /// The user said it was not them.
    Reported,
    /// Not a valid answer to this challenge.
    Invalid(Invalid),
}

/// Why a decision is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// The device is not in the user's record.
    UnknownDevice,
    /// The device was removed from the user's record.
    RemovedDevice,
    /// The record's public key for the device cannot be read.
    BadDeviceKey,
    /// The signature does not verify over this challenge's decision message.
    BadSignature,
    /// The decision word is none of approve, deny, report.
    UnknownDecision,
    /// Approved with another number than the one shown.
    NumberMismatch,
    /// Decided before the challenge was made or after it expired.
    OutsideWindow,
    /// The challenge has expired by the host's clock.
    Expired,
}

impl Invalid {
    /// Whether this answer counts as a failed attempt (towards the lockout): only an answer
    /// that verifies against a device in the user's record is the user's. One that does not —
    /// unknown or removed device, unreadable key, bad signature — may come from anyone who
    /// can reach the service, and must not lock the user out.
    pub fn counts_as_failure(self) -> bool {
        !matches!(
            self,
            Invalid::UnknownDevice
                | Invalid::RemovedDevice
                | Invalid::BadDeviceKey
                | Invalid::BadSignature
        )
    }

    /// The audit log's reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Invalid::UnknownDevice => "push_unknown_device",
            Invalid::RemovedDevice => "push_removed_device",
            Invalid::BadDeviceKey => "push_bad_device_key",
            Invalid::BadSignature => "push_invalid_signature",
            Invalid::UnknownDecision => "push_invalid_decision",
            Invalid::NumberMismatch => "push_number_mismatch",
            Invalid::OutsideWindow => "push_decided_outside_window",
            Invalid::Expired => "push_expired",
        }
    }
}

pub use crate::factor::device::parse_public_key;

/// Checks `decision` against the host's own `challenge` and `number`, the user's `devices` and
/// the host's clock `now`, in the order docs/push-protocol.md lists.
pub fn verify(
    decision: &SignedDecision,
    challenge: &Challenge,
    number: u8,
    devices: &[Device],
    now: u64,
) -> PushVerdict {
    match check(decision, challenge, number, devices, now) {
        Ok(kind) => match kind {
            DecisionKind::Approve => PushVerdict::Approved,
            DecisionKind::Deny => PushVerdict::Denied,
            DecisionKind::Report => PushVerdict::Reported,
        },
        Err(why) => PushVerdict::Invalid(why),
    }
}

fn check(
    d: &SignedDecision,
    challenge: &Challenge,
    number: u8,
    devices: &[Device],
    now: u64,
) -> Result<DecisionKind, Invalid> {
    let device = devices
        .iter()
        .find(|dev| dev.id == d.device_id)
        .ok_or(Invalid::UnknownDevice)?;
    if device.removed.is_some() {
        return Err(Invalid::RemovedDevice);
    }
    let key = parse_public_key(&device.public_key).ok_or(Invalid::BadDeviceKey)?;
    let signature = from_b64u(&d.signature)
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or(Invalid::BadSignature)?;
    let message = decision_message(
        &challenge.hash(),
        &d.decision,
        &d.number,
        &d.device_id,
        d.decided_at,
    );
    key.verify(message.as_bytes(), &signature)
        .map_err(|_| Invalid::BadSignature)?;
    let kind = DecisionKind::parse(&d.decision).ok_or(Invalid::UnknownDecision)?;
    if kind == DecisionKind::Approve && d.number != number.to_string() {
        return Err(Invalid::NumberMismatch);
    }
    if d.decided_at < challenge.created || d.decided_at > challenge.expires {
        return Err(Invalid::OutsideWindow);
    }
    if now >= challenge.expires {
        return Err(Invalid::Expired);
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::device::TestDevice;

    const NOW: u64 = 1_800_000_000;

    fn challenge(user: &str) -> Challenge {
        Challenge::new(user, "web1", "sshd", "192.0.2.7", NOW, 60).unwrap()
    }

    fn setup() -> (TestDevice, Vec<Device>, Challenge) {
        let phone = TestDevice::new("dev-1").unwrap();
        let devices = vec![phone.record_entry(NOW - 100)];
        (phone, devices, challenge("alice"))
    }

    #[test]
    fn approval_with_the_right_number_is_approved() {
        let (phone, devices, c) = setup();
        let d = phone.decide(&c, DecisionKind::Approve, "42", NOW + 5);
        assert_eq!(verify(&d, &c, 42, &devices, NOW + 6), PushVerdict::Approved);
    }

    #[test]
    fn deny_and_report_are_told_apart() {
        let (phone, devices, c) = setup();
        let d = phone.decide(&c, DecisionKind::Deny, "", NOW + 5);
        assert_eq!(verify(&d, &c, 42, &devices, NOW + 6), PushVerdict::Denied);
        let d = phone.decide(&c, DecisionKind::Report, "", NOW + 5);
        assert_eq!(verify(&d, &c, 42, &devices, NOW + 6), PushVerdict::Reported);
    }

    #[test]
    fn forged_signature_is_refused() {
        let (phone, devices, c) = setup();
        let mut d = phone.decide(&c, DecisionKind::Deny, "", NOW + 5);
        // The service turns a denial into an approval: the signature no longer fits.
        d.decision = "approve".into();
        d.number = "42".into();
        let bad = PushVerdict::Invalid(Invalid::BadSignature);
        assert_eq!(verify(&d, &c, 42, &devices, NOW + 6), bad);
        d.signature = "AAAA".into();
        assert_eq!(verify(&d, &c, 42, &devices, NOW + 6), bad);
        d.signature = crate::push::protocol::b64u(&[1u8; 64]);
        assert_eq!(verify(&d, &c, 42, &devices, NOW + 6), bad);
    }

    #[test]
    fn approval_signed_by_another_users_device_is_refused() {
        let (_, devices, c) = setup();
        // Bob's phone, with an id that is not in Alice's record...
        let bob = TestDevice::new("dev-bob").unwrap();
        let d = bob.decide(&c, DecisionKind::Approve, "42", NOW + 5);
        let unknown = PushVerdict::Invalid(Invalid::UnknownDevice);
        assert_eq!(verify(&d, &c, 42, &devices, NOW + 6), unknown);
        // ...or claiming the id of Alice's phone: its key does not fit.
        let impostor = TestDevice::new("dev-1").unwrap();
        let d = impostor.decide(&c, DecisionKind::Approve, "42", NOW + 5);
        let bad = PushVerdict::Invalid(Invalid::BadSignature);
        assert_eq!(verify(&d, &c, 42, &devices, NOW + 6), bad);
    }

    #[test]
    fn approval_from_a_removed_device_is_refused() {
        let (phone, mut devices, c) = setup();
        devices[0].removed = Some(NOW - 1);
        let d = phone.decide(&c, DecisionKind::Approve, "42", NOW + 5);
        let removed = PushVerdict::Invalid(Invalid::RemovedDevice);
        assert_eq!(verify(&d, &c, 42, &devices, NOW + 6), removed);
    }

    #[test]
    fn replayed_decision_for_an_earlier_challenge_is_refused() {
        let (phone, devices, earlier) = setup();
        let old = phone.decide(&earlier, DecisionKind::Approve, "42", NOW + 5);
        assert_eq!(
            verify(&old, &earlier, 42, &devices, NOW + 6),
            PushVerdict::Approved
        );
        // A later sign-in that happens to show the same number.
        let later = Challenge::new("alice", "web1", "sshd", "192.0.2.7", NOW + 10, 60).unwrap();
        let bad = PushVerdict::Invalid(Invalid::BadSignature);
        assert_eq!(verify(&old, &later, 42, &devices, NOW + 11), bad);
    }

    #[test]
    fn decision_for_another_challenge_is_refused() {
        let (phone, devices, c) = setup();
        let other = challenge("alice");
        let d = phone.decide(&other, DecisionKind::Approve, "42", NOW + 5);
        let bad = PushVerdict::Invalid(Invalid::BadSignature);
        assert_eq!(verify(&d, &c, 42, &devices, NOW + 6), bad);
        // The same challenge with altered context (the service cannot change the rhost).
        let mut altered = c.clone();
        altered.rhost = "198.51.100.1".into();
        let d = phone.decide(&altered, DecisionKind::Approve, "42", NOW + 5);
        assert_eq!(verify(&d, &c, 42, &devices, NOW + 6), bad);
    }

    #[test]
    fn expired_challenge_and_decisions_outside_its_life_are_refused() {
        let (phone, devices, c) = setup();
        let d = phone.decide(&c, DecisionKind::Approve, "42", NOW + 5);
        let expired = PushVerdict::Invalid(Invalid::Expired);
        assert_eq!(verify(&d, &c, 42, &devices, c.expires), expired);
        let outside = PushVerdict::Invalid(Invalid::OutsideWindow);
        let late = phone.decide(&c, DecisionKind::Approve, "42", c.expires + 1);
        assert_eq!(verify(&late, &c, 42, &devices, NOW + 6), outside);
        let early = phone.decide(&c, DecisionKind::Approve, "42", NOW - 1);
        assert_eq!(verify(&early, &c, 42, &devices, NOW + 6), outside);
    }

    #[test]
    fn number_mismatch_is_refused() {
        let (phone, devices, c) = setup();
        let d = phone.decide(&c, DecisionKind::Approve, "24", NOW + 5);
        let mismatch = PushVerdict::Invalid(Invalid::NumberMismatch);
        assert_eq!(verify(&d, &c, 42, &devices, NOW + 6), mismatch);
        let d = phone.decide(&c, DecisionKind::Approve, "042", NOW + 5);
        assert_eq!(verify(&d, &c, 42, &devices, NOW + 6), mismatch);
        let d = phone.decide(&c, DecisionKind::Approve, "", NOW + 5);
        assert_eq!(verify(&d, &c, 42, &devices, NOW + 6), mismatch);
    }

    #[test]
    fn unknown_decision_word_is_refused_even_when_signed() {
        let (phone, devices, c) = setup();
        let mut d = phone.decide(&c, DecisionKind::Approve, "42", NOW + 5);
        d.decision = "yes".into();
        d.signature = phone.sign(&decision_message(&c.hash(), "yes", "42", "dev-1", NOW + 5));
        let bad = PushVerdict::Invalid(Invalid::UnknownDecision);
        assert_eq!(verify(&d, &c, 42, &devices, NOW + 6), bad);
    }

    #[test]
    fn public_keys_must_be_uncompressed_points() {
        let (phone, _, _) = setup();
        assert!(parse_public_key(&phone.public_key_b64u()).is_some());
        assert!(parse_public_key("BAAA").is_none());
        let compressed = phone.verifying_key().to_sec1_point(true);
        let compressed = crate::push::protocol::b64u(compressed.as_bytes());
        assert!(parse_public_key(&compressed).is_none());
    }
}
