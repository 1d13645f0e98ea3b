//! Who is asking: hosts by bearer token, devices by an ECDSA P-256 signature over the
//! device-request message (method, path, body hash, a counter that must grow with every
//! request, and a time within ±120 s).
//!
//! A host is found by the SHA-256 of the token it presents: one indexed row read (the stored
//! digest is UNIQUE), then a constant-time comparison with that row. Tokens are 256 random
//! bits, so a fast hash is right; the service never stores a token. What the index lookup's
//! timing could reveal is how much of a *digest* a guess shares with a stored one, which does
//! not help to find a token that hashes to it.
#![forbid(unsafe_code)]

use super::b64u;
use super::store::HostRow;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How far a device's clock may be from ours.
pub const DEVICE_CLOCK_WINDOW: u64 = 120;

/// Bytes of randomness in a host token.
const TOKEN_BYTES: usize = 32;

/// A new host token (base64url) and the SHA-256 the service stores.
pub fn new_host_token() -> Result<(String, Vec<u8>), getrandom::Error> {
    let mut raw = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut raw)?;
    let token = b64u::encode(raw);
    let digest = Sha256::digest(token.as_bytes()).to_vec();
    zeroize::Zeroize::zeroize(&mut raw);
    Ok((token, digest))
}

/// Longest bearer token looked at (ours are 43 characters).
const MAX_TOKEN_LEN: usize = 256;

/// The SHA-256 of the bearer token in `authorization` (`Bearer <token>`), if it holds one:
/// what the host is looked up by.
pub fn presented_digest(authorization: Option<&str>) -> Option<[u8; 32]> {
    let token = authorization?.strip_prefix("Bearer ")?.trim();
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return None;
    }
    Some(Sha256::digest(token.as_bytes()).into())
}

/// The host's name if `row` (found by `digest`) holds exactly that digest, compared in
/// constant time: the lookup only finds the row, this decides.
pub fn host_for(digest: &[u8; 32], row: Option<HostRow>) -> Option<String> {
    let row = row?;
    bool::from(row.token_sha256.as_slice().ct_eq(digest.as_slice())).then_some(row.name)
}

/// Why a device request was refused (all are answered 401; the reason is only logged).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeviceAuthError {
    #[error("missing or malformed X-Twofold-* headers")]
    Headers,
    #[error("device header does not match the path")]
    WrongDevice,
    #[error("timestamp outside the ±120 s window")]
    Stale,
    #[error("unknown or removed device")]
    UnknownDevice,
    #[error("bad signature")]
    BadSignature,
    #[error("counter not above the last one accepted (a replayed request)")]
    Replayed,
}

/// Largest counter a device may send (JavaScript's largest exact integer).
pub const MAX_COUNTER: u64 = (1 << 53) - 1;

/// The device-request message a device signs (protocol v2): `body_sha256` is b64u of SHA-256
/// over the exact body bytes (of the empty string without a body).
pub fn device_request_message(
    method: &str,
    path: &str,
    device_id: &str,
    timestamp: &str,
    counter: &str,
    body_sha256: &str,
) -> String {
    format!(
        "twofold-device-request-v2\n{method}\n{path}\n{device_id}\n{timestamp}\n{counter}\n{body_sha256}"
    )
}

/// b64u of SHA-256 over a request body.
pub fn body_hash(body: &[u8]) -> String {
    b64u::encode(Sha256::digest(body))
}

/// The `X-Twofold-*` headers of a request.
#[derive(Debug, Clone, Copy)]
pub struct DeviceHeaders<'a> {
    pub device_id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub counter: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// What [`DeviceHeaders::precheck`] found well-formed.
#[derive(Debug)]
pub struct Prechecked<'a> {
    pub timestamp: &'a str,
    pub counter_text: &'a str,
    pub counter: u64,
    pub signature: Signature,
}

/// A decimal number with one spelling (no sign, no leading zeros).
fn canonical_number(text: &str) -> Option<u64> {
    let n: u64 = text.parse().ok()?;
    (n.to_string() == text).then_some(n)
}

impl<'a> DeviceHeaders<'a> {
    /// Checks everything that needs no database: presence, the device named in the path,
    /// the time window and the counter's form.
    pub fn precheck(&self, path_device: &str, now: u64) -> Result<Prechecked<'a>, DeviceAuthError> {
        let (Some(device), Some(ts_text), Some(counter_text), Some(sig)) =
            (self.device_id, self.timestamp, self.counter, self.signature)
        else {
            return Err(DeviceAuthError::Headers);
        };
        if device != path_device {
            return Err(DeviceAuthError::WrongDevice);
        }
        let ts = canonical_number(ts_text).ok_or(DeviceAuthError::Headers)?;
        let counter = canonical_number(counter_text)
            .filter(|c| (1..=MAX_COUNTER).contains(c))
            .ok_or(DeviceAuthError::Headers)?;
        if ts.abs_diff(now) > DEVICE_CLOCK_WINDOW {
            return Err(DeviceAuthError::Stale);
        }
        let signature = b64u::decode(sig)
            .ok()
            .and_then(|raw| Signature::from_slice(&raw).ok())
            .ok_or(DeviceAuthError::BadSignature)?;
        Ok(Prechecked {
            timestamp: ts_text,
            counter_text,
            counter,
            signature,
        })
    }
}

/// Verifies an ECDSA P-256 (SHA-256, IEEE P1363 `r‖s`) signature by an uncompressed SEC1 key.
/// High-S signatures are accepted: WebCrypto does not normalise them.
pub fn verify(
    public_key: &[u8],
    message: &[u8],
    signature: &Signature,
) -> Result<(), DeviceAuthError> {
    let key =
        VerifyingKey::from_sec1_bytes(public_key).map_err(|_| DeviceAuthError::UnknownDevice)?;
    key.verify(message, signature)
        .map_err(|_| DeviceAuthError::BadSignature)
}

/// True if `raw` is an uncompressed SEC1 P-256 point on the curve (WebCrypto's `raw` export).
pub fn valid_public_key(raw: &[u8]) -> bool {
    raw.len() == 65 && raw[0] == 4 && VerifyingKey::from_sec1_bytes(raw).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer;

    fn key() -> SigningKey {
        SigningKey::from_slice(&[7u8; 32]).unwrap()
    }

    fn public(k: &SigningKey) -> Vec<u8> {
        k.verifying_key().to_sec1_point(false).as_bytes().to_vec()
    }

    #[test]
    fn host_token_matches_only_its_own_digest() {
        let (token, digest) = new_host_token().unwrap();
        assert_eq!(token.len(), 43);
        let row = || {
            Some(HostRow {
                name: "b".into(),
                token_sha256: digest.clone(),
            })
        };
        let presented = presented_digest(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(presented.as_slice(), digest.as_slice());
        assert_eq!(host_for(&presented, row()), Some("b".into()));
        // A row that does not hold the digest (however the lookup found it) is no match.
        let other = HostRow {
            name: "a".into(),
            token_sha256: vec![0; 32],
        };
        assert_eq!(host_for(&presented, Some(other)), None);
        assert_eq!(host_for(&presented, None), None);
        let longer = presented_digest(Some(&format!("Bearer {token}x"))).unwrap();
        assert_eq!(host_for(&longer, row()), None);
        assert_eq!(presented_digest(Some(&token)), None, "no Bearer prefix");
        assert_eq!(presented_digest(Some("Bearer ")), None);
        assert_eq!(
            presented_digest(Some(&format!("Bearer {}", "a".repeat(257)))),
            None
        );
        assert_eq!(presented_digest(None), None);
    }

    #[test]
    fn device_signature_is_checked_and_high_s_is_accepted() {
        let k = key();
        let empty = body_hash(b"");
        let msg = device_request_message("GET", "/v1/devices/d/pending", "d", "1000", "1", &empty);
        let sig: Signature = k.sign(msg.as_bytes());
        assert!(verify(&public(&k), msg.as_bytes(), &sig).is_ok());
        // The other, equally valid, S (WebCrypto produces either).
        let (r, s) = sig.split_scalars();
        let high = Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
        assert!(verify(&public(&k), msg.as_bytes(), &high).is_ok());
        let other =
            device_request_message("GET", "/v1/devices/d/pending", "d", "1000", "2", &empty);
        assert_eq!(
            verify(&public(&k), other.as_bytes(), &sig),
            Err(DeviceAuthError::BadSignature)
        );
        assert!(valid_public_key(&public(&k)));
        assert!(!valid_public_key(&[4u8; 65]));
    }

    #[test]
    fn device_headers_must_match_path_and_clock() {
        let sig: Signature = key().sign(b"anything");
        let sig = b64u::encode(sig.to_bytes());
        let h = DeviceHeaders {
            device_id: Some("d"),
            timestamp: Some("1000"),
            counter: Some("5"),
            signature: Some(&sig),
        };
        assert!(h.precheck("d", 1100).is_ok());
        assert_eq!(
            h.precheck("e", 1000).err(),
            Some(DeviceAuthError::WrongDevice)
        );
        assert_eq!(h.precheck("d", 1121).err(), Some(DeviceAuthError::Stale));
        let zero = DeviceHeaders {
            timestamp: Some("01000"),
            ..h
        };
        assert_eq!(
            zero.precheck("d", 1000).err(),
            Some(DeviceAuthError::Headers)
        );
        for bad in ["0", "05", "-1", "9007199254740992"] {
            let c = DeviceHeaders {
                counter: Some(bad),
                ..h
            };
            assert_eq!(
                c.precheck("d", 1000).err(),
                Some(DeviceAuthError::Headers),
                "{bad}"
            );
        }
        let none = DeviceHeaders { counter: None, ..h };
        assert_eq!(
            none.precheck("d", 1000).err(),
            Some(DeviceAuthError::Headers)
        );
    }
}
