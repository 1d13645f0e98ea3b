//! The push approval protocol's data and messages, exactly as `docs/push-protocol.md` defines
//! them: the challenge and its hash, the decision and pairing messages, unpadded base64url, the
//! number to match. Pure, apart from the OS random source for fresh values.
#![forbid(unsafe_code)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Seconds a challenge may live at most (the service refuses longer ones).
pub const MAX_CHALLENGE_SECONDS: u64 = 300;

/// Unpadded base64url (RFC 4648 §5), as every binary value travels.
pub fn b64u(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url; refuses padding, other alphabets and non-canonical trailing bits.
pub fn from_b64u(text: &str) -> Option<Vec<u8>> {
    // The engine refuses padding and non-zero trailing bits (one encoding per value).
    URL_SAFE_NO_PAD.decode(text.as_bytes()).ok()
}

/// A field that may go into a protocol message: no line breaks (they separate the fields) and
/// no other control characters.
pub fn field_ok(value: &str) -> bool {
    !value.chars().any(char::is_control)
}

/// One sign-in's request for approval. The number is not part of it: the host keeps that.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    pub id: String,
    pub nonce: String,
    pub user: String,
    pub host: String,
    pub service: String,
    pub rhost: String,
    pub created: u64,
    pub expires: u64,
}

/// Why a challenge could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ChallengeError {
    #[error("{0} contains a line break or control character")]
    BadField(&'static str),
    #[error("no randomness from the operating system: {0}")]
    Random(#[from] getrandom::Error),
}

impl Challenge {
    /// A fresh challenge (random 128-bit id, 256-bit nonce) living `seconds` from `now`.
    pub fn new(
        user: &str,
        host: &str,
        service: &str,
        rhost: &str,
        now: u64,
        seconds: u64,
    ) -> Result<Self, ChallengeError> {
        for (name, value) in [
            ("user", user),
            ("host", host),
            ("service", service),
            ("rhost", rhost),
        ] {
            if !field_ok(value) {
                return Err(ChallengeError::BadField(name));
            }
        }
        let id: [u8; 16] = crate::secret::random_bytes()?;
        let nonce: [u8; 32] = crate::secret::random_bytes()?;
        Ok(Challenge {
            id: b64u(&id),
            nonce: b64u(&nonce),
            user: user.into(),
            host: host.into(),
            service: service.into(),
            rhost: rhost.into(),
            created: now,
            expires: now.saturating_add(seconds.min(MAX_CHALLENGE_SECONDS)),
        })
    }

    /// `SHA-256("twofold-challenge-v1\n{id}\n{nonce}\n{user}\n{host}\n{service}\n{rhost}\n{created}\n{expires}")`.
    pub fn hash(&self) -> [u8; 32] {
        let text = format!(
            "twofold-challenge-v1\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.id,
            self.nonce,
            self.user,
            self.host,
            self.service,
            self.rhost,
            self.created,
            self.expires
        );
        Sha256::digest(text.as_bytes()).into()
    }
}

/// What the device answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionKind {
    Approve,
    Deny,
    Report,
}

impl DecisionKind {
    /// The protocol's word.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Approve => "approve",
            DecisionKind::Deny => "deny",
            DecisionKind::Report => "report",
        }
    }

    /// Parses the protocol's word.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "approve" => Some(DecisionKind::Approve),
            "deny" => Some(DecisionKind::Deny),
            "report" => Some(DecisionKind::Report),
            _ => None,
        }
    }
}

/// A decision as the service relays it (`GET /v1/challenges/{id}/decision`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedDecision {
    pub decision: String,
    #[serde(default)]
    pub number: String,
    pub device_id: String,
    pub decided_at: u64,
    /// b64u of the P1363 signature (`r‖s`, 64 bytes).
    pub signature: String,
}

/// `"twofold-decision-v1\n{challenge_hash_b64u}\n{decision}\n{number}\n{device_id}\n{decided_at}"`.
pub fn decision_message(
    challenge_hash: &[u8; 32],
    decision: &str,
    number: &str,
    device_id: &str,
    decided_at: u64,
) -> String {
    format!(
        "twofold-decision-v1\n{}\n{decision}\n{number}\n{device_id}\n{decided_at}",
        b64u(challenge_hash)
    )
}

/// `"twofold-device-request-v2\n{method}\n{path}\n{device_id}\n{timestamp}\n{counter}\n{body_sha256_b64u}"`:
/// the counter must be above every counter the service accepted from this device before.
pub fn device_request_message(
    method: &str,
    path: &str,
    device_id: &str,
    timestamp: u64,
    counter: u64,
    body: &[u8],
) -> String {
    format!(
        "twofold-device-request-v2\n{method}\n{path}\n{device_id}\n{timestamp}\n{counter}\n{}",
        b64u(&Sha256::digest(body))
    )
}

/// The key the service checks pairing completions with:
/// `HMAC-SHA256(pairing_secret, "twofold-pairing-completion-key-v1")`. The host gives it to
/// the service when it opens the pairing; it reveals nothing about the secret itself.
pub fn pairing_completion_key(secret: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"twofold-pairing-completion-key-v1");
    mac.finalize().into_bytes().into()
}

/// The `X-Twofold-Pairing-Mac` of a completion:
/// `HMAC-SHA256(completion key, "twofold-pairing-completion-v1\n{pairing_id}\n{body_sha256_b64u}")`.
pub fn pairing_completion_mac(secret: &[u8], pairing_id: &str, body: &[u8]) -> [u8; 32] {
    let key = pairing_completion_key(secret);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(
        format!(
            "twofold-pairing-completion-v1\n{pairing_id}\n{}",
            b64u(&Sha256::digest(body))
        )
        .as_bytes(),
    );
    mac.finalize().into_bytes().into()
}

/// `"twofold-pairing-v1\n{pairing_id}\n{public_key_b64u}"`.
pub fn pairing_message(pairing_id: &str, public_key_b64u: &str) -> String {
    format!("twofold-pairing-v1\n{pairing_id}\n{public_key_b64u}")
}

/// The pairing proof: `HMAC-SHA256(pairing_secret, pairing message)`.
pub fn pairing_proof(secret: &[u8], pairing_id: &str, public_key_b64u: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(pairing_message(pairing_id, public_key_b64u).as_bytes());
    mac.finalize().into_bytes().into()
}

/// Whether `proof_b64u` is the right pairing proof, compared in constant time.
pub fn pairing_proof_ok(
    secret: &[u8],
    pairing_id: &str,
    public_key_b64u: &str,
    proof_b64u: &str,
) -> bool {
    let Some(proof) = from_b64u(proof_b64u) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
        return false;
    };
    mac.update(pairing_message(pairing_id, public_key_b64u).as_bytes());
    mac.verify_slice(&proof).is_ok()
}

/// The number to match, 10..=99, uniform, from the OS random source.
pub fn new_number() -> Result<u8, getrandom::Error> {
    loop {
        let [b]: [u8; 1] = crate::secret::random_bytes()?;
        // 180 = 2 × 90: below it, `b % 90` is uniform.
        if b < 180 {
            return Ok(10 + b % 90);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed() -> Challenge {
        Challenge {
            id: "id1".into(),
            nonce: "n".into(),
            user: "alice".into(),
            host: "web1".into(),
            service: "sshd".into(),
            rhost: "192.0.2.7".into(),
            created: 100,
            expires: 160,
        }
    }

    #[test]
    fn challenge_hash_is_sha256_of_the_documented_lines() {
        let text = "twofold-challenge-v1\nid1\nn\nalice\nweb1\nsshd\n192.0.2.7\n100\n160";
        let want: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        assert_eq!(fixed().hash(), want);
        let mut other = fixed();
        other.rhost = "192.0.2.8".into();
        assert_ne!(other.hash(), want, "every field is bound");
    }

    #[test]
    fn decision_message_has_no_trailing_newline() {
        let m = decision_message(&[0; 32], "deny", "", "dev", 120);
        assert_eq!(
            m,
            format!("twofold-decision-v1\n{}\ndeny\n\ndev\n120", b64u(&[0; 32]))
        );
        assert_eq!(
            device_request_message("GET", "/v1/devices/d/pending", "d", 5, 7, b""),
            "twofold-device-request-v2\nGET\n/v1/devices/d/pending\nd\n5\n7\n\
             47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
    }

    #[test]
    fn base64url_is_unpadded_and_strict() {
        assert_eq!(b64u(&[0xfb, 0xff]), "-_8");
        assert_eq!(from_b64u("-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(from_b64u("-_8="), None, "padding");
        assert_eq!(from_b64u("+/8"), None, "standard alphabet");
        assert_eq!(from_b64u("-_9"), None, "non-canonical trailing bits");
    }

    #[test]
    fn pairing_proof_is_hmac_sha256_and_checked_exactly() {
        let secret = [7u8; 32];
        let proof = b64u(&pairing_proof(&secret, "p1", "KEY"));
        assert!(pairing_proof_ok(&secret, "p1", "KEY", &proof));
        assert!(!pairing_proof_ok(&secret, "p1", "KEY2", &proof));
        assert!(!pairing_proof_ok(&secret, "p2", "KEY", &proof));
        assert!(!pairing_proof_ok(&[8u8; 32], "p1", "KEY", &proof));
        assert!(!pairing_proof_ok(&secret, "p1", "KEY", "not base64!"));
        assert!(!pairing_proof_ok(&secret, "p1", "KEY", &proof[..20]));
        // RFC 4231 test case 2, to pin the construction.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            crate::encoding::hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn numbers_are_two_digits_and_all_occur() {
        let mut seen = [false; 100];
        for _ in 0..5000 {
            let n = new_number().unwrap();
            assert!((10..=99).contains(&n));
            seen[usize::from(n)] = true;
        }
        assert!(seen[10..].iter().all(|s| *s));
    }

    #[test]
    fn challenges_are_fresh_bounded_and_refuse_line_breaks() {
        let a = Challenge::new("alice", "web1", "sshd", "", 1000, 60).unwrap();
        let b = Challenge::new("alice", "web1", "sshd", "", 1000, 60).unwrap();
        assert_ne!((a.id.clone(), a.nonce.clone()), (b.id, b.nonce));
        assert_eq!(a.expires, 1060);
        assert_eq!(from_b64u(&a.nonce).unwrap().len(), 32);
        let long = Challenge::new("alice", "web1", "sshd", "", 1000, 9999).unwrap();
        assert_eq!(long.expires, 1000 + MAX_CHALLENGE_SECONDS);
        assert!(Challenge::new("alice", "web1", "sshd", "x\ny", 1000, 60).is_err());
    }
}
