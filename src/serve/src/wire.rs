//! Request bodies of the protocol and their validation: lengths, alphabets, no control
//! characters (so no `\n` can reach a signed message), ranges of times.
#![forbid(unsafe_code)]

use super::auth::valid_public_key;
use super::b64u;
use super::error::ApiError;
use super::push_target::PushTargets;
use serde::{Deserialize, Serialize};
use twofold_core::config::{authority_host, is_loopback_host};

/// How far a host's `created` may be ahead of our clock.
const HOST_CLOCK_WINDOW: u64 = 120;

type Checked = Result<(), ApiError>;

/// A base64url identifier (id, nonce, device id) of `min..=max` characters.
pub fn check_id(field: &str, value: &str, min: usize, max: usize) -> Checked {
    let ok = (min..=max).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{field}: must be {min} to {max} base64url characters"
        )))
    }
}

/// Text of at most `max` bytes without control characters; empty only if `may_be_empty`.
pub fn check_text(field: &str, value: &str, max: usize, may_be_empty: bool) -> Checked {
    if value.is_empty() && !may_be_empty {
        return Err(ApiError::bad_request(format!("{field}: must not be empty")));
    }
    if value.len() > max || value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{field}: at most {max} bytes, no control characters or newlines"
        )));
    }
    Ok(())
}

/// base64url that decodes to exactly `len` bytes.
fn check_b64u_len(field: &str, value: &str, len: usize) -> Result<Vec<u8>, ApiError> {
    b64u::decode(value)
        .ok()
        .filter(|raw| raw.len() == len)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "{field}: must be {len} bytes in unpadded base64url"
            ))
        })
}

/// `POST /v1/pairings`.
#[derive(Debug, Deserialize)]
pub struct NewPairing {
    pub user: String,
    /// `HMAC-SHA256(pairing secret, "twofold-pairing-completion-key-v1")`, b64u: what the
    /// service checks the phone's completion with.
    pub completion_key: String,
}

impl NewPairing {
    /// Returns the decoded completion key.
    pub fn check(&self) -> Result<Vec<u8>, ApiError> {
        check_text("user", &self.user, 256, false)?;
        check_b64u_len("completion_key", &self.completion_key, 32)
    }
}

/// A Web Push subscription (the browser's `PushSubscription.toJSON()`; other fields ignored).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PushSubscription {
    pub endpoint: String,
    pub keys: PushKeys,
}

/// The subscription's keys: the browser's ECDH public key and the 16-byte auth secret.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PushKeys {
    pub p256dh: String,
    pub auth: String,
}

impl PushSubscription {
    /// `https://` endpoints only (plain `http://` on loopback when `allow_loopback_http`); an
    /// IP literal must be an address `targets` allows (names are checked when resolved).
    pub fn check(&self, allow_loopback_http: bool, targets: &PushTargets) -> Checked {
        let e = &self.endpoint;
        let bad = || ApiError::bad_request("push_subscription.endpoint: must be an https:// URL");
        check_text("push_subscription.endpoint", e, 2048, false)?;
        if e.contains(char::is_whitespace) || e.contains(['@', '#']) {
            return Err(bad());
        }
        let (scheme, rest) = e.split_once("://").ok_or_else(bad)?;
        let host = authority_host(rest.split('/').next().unwrap_or(""));
        let allowed = match scheme {
            "https" => !host.is_empty(),
            "http" => allow_loopback_http && is_loopback_host(host),
            _ => false,
        };
        if !allowed {
            return Err(bad());
        }
        targets.check_endpoint(e).map_err(|why| {
            ApiError::bad_request(format!(
                "push_subscription.endpoint: {why} (set [serve] push_allowed_networks for an \
                 internal push service)"
            ))
        })?;
        let key = check_b64u_len("push_subscription.keys.p256dh", &self.keys.p256dh, 65)?;
        if !valid_public_key(&key) {
            return Err(ApiError::bad_request(
                "push_subscription.keys.p256dh: not a P-256 public key",
            ));
        }
        check_b64u_len("push_subscription.keys.auth", &self.keys.auth, 16)?;
        Ok(())
    }
}

/// `POST /v1/pairings/{id}/complete`.
#[derive(Debug, Deserialize)]
pub struct PairingCompletion {
    pub public_key: String,
    pub proof: String,
    pub device_name: String,
    #[serde(default)]
    pub push_subscription: Option<PushSubscription>,
}

impl PairingCompletion {
    /// Returns the decoded public key.
    pub fn check(
        &self,
        allow_loopback_http: bool,
        targets: &PushTargets,
    ) -> Result<Vec<u8>, ApiError> {
        let key = check_b64u_len("public_key", &self.public_key, 65)?;
        if !valid_public_key(&key) {
            return Err(ApiError::bad_request(
                "public_key: not an uncompressed P-256 point",
            ));
        }
        check_b64u_len("proof", &self.proof, 32)?;
        check_text("device_name", &self.device_name, 64, false)?;
        if let Some(sub) = &self.push_subscription {
            sub.check(allow_loopback_http, targets)?;
        }
        Ok(key)
    }
}

/// `PUT /v1/devices/{device_id}/subscription`; `null` removes the subscription.
#[derive(Debug, Deserialize)]
pub struct SubscriptionUpdate {
    pub push_subscription: Option<PushSubscription>,
}

/// `POST /v1/challenges`.
#[derive(Debug, Deserialize)]
pub struct NewChallenge {
    pub id: String,
    pub nonce: String,
    pub user: String,
    pub host: String,
    pub service: String,
    #[serde(default)]
    pub rhost: String,
    pub created: u64,
    pub expires: u64,
    pub device_ids: Vec<String>,
}

impl NewChallenge {
    pub fn check(&self, now: u64, max_seconds: u64) -> Checked {
        check_id("id", &self.id, 16, 64)?;
        check_id("nonce", &self.nonce, 16, 128)?;
        check_text("user", &self.user, 256, false)?;
        check_text("host", &self.host, 255, false)?;
        check_text("service", &self.service, 64, false)?;
        check_text("rhost", &self.rhost, 255, true)?;
        if self.expires <= self.created || self.expires - self.created > max_seconds {
            return Err(ApiError::bad_request(format!(
                "expires: must be after created, by at most {max_seconds} seconds"
            )));
        }
        if self.expires <= now {
            return Err(ApiError::bad_request("expires: already in the past"));
        }
        if self.created > now + HOST_CLOCK_WINDOW {
            return Err(ApiError::bad_request(
                "created: in the future (check the host's clock)",
            ));
        }
        if self.device_ids.is_empty() || self.device_ids.len() > 16 {
            return Err(ApiError::bad_request("device_ids: 1 to 16 device ids"));
        }
        for (i, d) in self.device_ids.iter().enumerate() {
            check_id("device_ids", d, 1, 64)?;
            if self.device_ids[..i].contains(d) {
                return Err(ApiError::bad_request("device_ids: repeated id"));
            }
        }
        Ok(())
    }
}

/// `POST /v1/challenges/{id}/decision`. Only its form is checked here; the host verifies it.
#[derive(Debug, Deserialize)]
pub struct NewDecision {
    pub device_id: String,
    pub decision: String,
    #[serde(default)]
    pub number: String,
    pub decided_at: u64,
    pub signature: String,
}

impl NewDecision {
    pub fn check(&self) -> Checked {
        check_id("device_id", &self.device_id, 1, 64)?;
        if !matches!(self.decision.as_str(), "approve" | "deny" | "report") {
            return Err(ApiError::bad_request(
                "decision: must be approve, deny or report",
            ));
        }
        if self.number.len() > 8 || !self.number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::bad_request("number: at most 8 digits"));
        }
        check_b64u_len("signature", &self.signature, 64)?;
        Ok(())
    }
}

/// `POST /v1/challenges/{id}/verdict`: what the host made of the decision (display-only).
#[derive(Debug, Deserialize)]
pub struct NewVerdict {
    pub outcome: String,
    #[serde(default)]
    pub alerted: bool,
    #[serde(default)]
    pub paused_until: u64,
}

/// The outcomes a host may report; the phone has words for each.
pub const VERDICT_OUTCOMES: [&str; 6] = [
    "approved",
    "denied",
    "reported",
    "number_mismatch",
    "late",
    "invalid",
];

impl NewVerdict {
    pub fn check(&self) -> Checked {
        if !VERDICT_OUTCOMES.contains(&self.outcome.as_str()) {
            return Err(ApiError::bad_request(
                "outcome: must be approved, denied, reported, number_mismatch, late or invalid",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(now: u64) -> NewChallenge {
        NewChallenge {
            id: "c".repeat(22),
            nonce: "n".repeat(22),
            user: "alice".into(),
            host: "web1".into(),
            service: "sshd".into(),
            rhost: "192.0.2.7".into(),
            created: now,
            expires: now + 60,
            device_ids: vec!["d1".into()],
        }
    }

    #[test]
    fn a_well_formed_challenge_passes() {
        assert!(challenge(1000).check(1000, 300).is_ok());
    }

    #[test]
    fn newlines_long_lives_and_bad_ids_are_refused() {
        let now = 1000;
        let mut c = challenge(now);
        c.user = "alice\nmallory".into();
        assert!(c.check(now, 300).is_err());
        let mut c = challenge(now);
        c.expires = now + 301;
        assert!(c.check(now, 300).is_err());
        let mut c = challenge(now);
        c.id = "short".into();
        assert!(c.check(now, 300).is_err());
        let mut c = challenge(now);
        c.device_ids = vec!["d1".into(), "d1".into()];
        assert!(c.check(now, 300).is_err());
        let c = challenge(now);
        assert!(c.check(now + 60, 300).is_err()); // expired
    }

    #[test]
    fn decisions_need_a_known_verb_digits_and_a_64_byte_signature() {
        let mut d = NewDecision {
            device_id: "d1".into(),
            decision: "approve".into(),
            number: "42".into(),
            decided_at: 1,
            signature: b64u::encode([1u8; 64]),
        };
        assert!(d.check().is_ok());
        d.number = "4\n2".into();
        assert!(d.check().is_err());
        d.number = String::new();
        d.decision = "maybe".into();
        assert!(d.check().is_err());
        d.decision = "deny".into();
        d.signature = b64u::encode([1u8; 63]);
        assert!(d.check().is_err());
    }

    #[test]
    fn push_endpoints_must_be_https() {
        use p256::elliptic_curve::sec1::ToSec1Point;
        let key = p256::SecretKey::from_slice(&[9u8; 32])
            .unwrap()
            .public_key();
        let mut s = PushSubscription {
            endpoint: "https://push.example.net/abc".into(),
            keys: PushKeys {
                p256dh: b64u::encode(key.to_sec1_point(false).as_bytes()),
                auth: b64u::encode([3u8; 16]),
            },
        };
        let public = PushTargets::default();
        let tests = PushTargets::new(true, &[]);
        assert!(s.check(false, &public).is_ok());
        s.endpoint = "http://127.0.0.1:9/x".into();
        assert!(s.check(false, &public).is_err());
        assert!(s.check(true, &tests).is_ok());
        s.endpoint = "http://192.0.2.1/x".into();
        assert!(s.check(true, &tests).is_err());
        s.endpoint = "https://169.254.169.254/latest/meta-data".into();
        assert!(
            s.check(false, &public).is_err(),
            "no internal address literals"
        );
    }
}
