//! Pairing a phone, host side, and the test push that follows: open a pairing on the service,
//! the page URL with the one-time secret in its fragment (for the QR code), wait for the phone,
//! check its proof, store its public key in the user's record; then a challenge like a
//! sign-in's that the new phone must approve. Shared by `twofold enroll --push`, enrollment at
//! first sign-in and `twofold demo`.
#![forbid(unsafe_code)]

use super::protocol::{
    Challenge, b64u, field_ok, from_b64u, new_number, pairing_completion_key, pairing_proof_ok,
};
use super::service::{MAX_WAIT, Service, ServiceError, VerdictReport};
use super::verify::{PushVerdict, parse_public_key, verify};
use crate::clock::Clock;
use crate::factor::device::Device;
use crate::push::config::PushConfig;
use crate::store::{StoreError, UserStore};
use crate::username::UserName;
use zeroize::Zeroizing;

/// The service name a test push carries (the phone shows it).
pub const TEST_PUSH_SERVICE: &str = "twofold-enroll";

/// Why a pairing or its test push did not work out.
#[derive(Debug, thiserror::Error)]
pub enum PairingError {
    #[error("cannot start a pairing: {0}")]
    Open(ServiceError),
    #[error("the pairing expired before the phone completed it")]
    Expired,
    #[error("waiting for the phone: {0}")]
    Wait(ServiceError),
    #[error("the phone's pairing proof does not match this QR code's secret")]
    BadProof,
    #[error("the phone sent a malformed key or device id")]
    Malformed,
    #[error("{0} was reset meanwhile")]
    NotEnrolled(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot send the test notification: {0}")]
    TestPush(String),
    #[error("no randomness from the operating system: {0}")]
    Random(#[from] getrandom::Error),
}

/// An open pairing: what the QR code shows, and the secret only this host and the phone know.
pub struct Offer {
    pub pairing_id: String,
    /// Unix time at which the service forgets the pairing.
    pub expires: u64,
    /// The page's pairing URL, secret in the fragment (never sent to the service).
    pub url: String,
    secret: Zeroizing<[u8; 32]>,
}

impl Offer {
    /// Opens a pairing for `user` on the service and makes its URL.
    pub fn open(
        service: &Service,
        push: &PushConfig,
        user: &UserName,
    ) -> Result<Self, PairingError> {
        let secret = Zeroizing::new(crate::secret::random_bytes::<32>()?);
        // The service learns a key derived from the secret, so it can refuse completions that
        // are not from the phone holding the secret — before it changes anything.
        let completion_key = b64u(&pairing_completion_key(secret.as_slice()));
        let pairing = service
            .create_pairing(user.as_str(), &completion_key)
            .map_err(PairingError::Open)?;
        let url = pairing_url(push, &pairing.pairing_id, secret.as_slice(), user.as_str());
        Ok(Offer {
            pairing_id: pairing.pairing_id,
            expires: pairing.expires,
            url,
            secret,
        })
    }

    /// Long-polls up to `seconds` (less if the pairing expires sooner) for the phone: its
    /// device entry once the proof checks out, `None` while it has not answered.
    pub fn wait(
        &self,
        service: &Service,
        seconds: u64,
        clock: &dyn Clock,
    ) -> Result<Option<Device>, PairingError> {
        let deadline = clock.now().saturating_add(seconds);
        loop {
            let now = clock.now();
            let left = self.expires.saturating_sub(now);
            if left == 0 {
                return Err(PairingError::Expired);
            }
            let wait = left.min(deadline.saturating_sub(now)).min(MAX_WAIT);
            match service.wait_pairing(&self.pairing_id, wait) {
                Ok(Some(done)) => {
                    let proof_ok = pairing_proof_ok(
                        self.secret.as_slice(),
                        &self.pairing_id,
                        &done.public_key,
                        &done.proof,
                    );
                    if !proof_ok {
                        return Err(PairingError::BadProof);
                    }
                    if parse_public_key(&done.public_key).is_none()
                        || done.device_id.is_empty()
                        || !field_ok(&done.device_id)
                    {
                        return Err(PairingError::Malformed);
                    }
                    return Ok(Some(Device {
                        id: done.device_id,
                        public_key: done.public_key,
                        name: done
                            .device_name
                            .chars()
                            .filter(|c| !c.is_control())
                            .take(64)
                            .collect(),
                        added: clock.now(),
                        removed: None,
                    }));
                }
                Ok(None) if clock.now() >= deadline => return Ok(None),
                Ok(None) => {}
                Err(ServiceError::NotFound) => return Err(PairingError::Expired),
                Err(e) => return Err(PairingError::Wait(e)),
            }
        }
    }
}

/// Adds (or replaces) `device` in the user's record, under the user's lock.
pub fn save_device(store: &UserStore, user: &UserName, device: Device) -> Result<(), PairingError> {
    let lock = store.lock(user)?;
    let mut record = store
        .load_record(user)?
        .ok_or_else(|| PairingError::NotEnrolled(user.to_string()))?;
    record.devices.retain(|d| d.id != device.id);
    record.devices.push(device);
    store.save_record(user, &lock, &record)?;
    Ok(())
}

/// Undoes a pairing whose test push was not approved: the device leaves the user's record
/// (under the user's lock) and the service forgets it (best effort: a service that cannot be
/// reached keeps a row that no record names, which can sign nothing the host accepts).
pub fn unpair(
    store: &UserStore,
    user: &UserName,
    service: &Service,
    device_id: &str,
) -> Result<(), PairingError> {
    {
        let lock = store.lock(user)?;
        if let Some(mut record) = store.load_record(user)? {
            record.devices.retain(|d| d.id != device_id);
            store.save_record(user, &lock, &record)?;
        }
    }
    let _ = service.delete_device(device_id);
    Ok(())
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The page's pairing URL; the secret travels only in the fragment, which browsers never send.
pub fn pairing_url(push: &PushConfig, pairing_id: &str, secret: &[u8], user: &str) -> String {
    format!(
        "{}/pair#p={}&k={}&u={}&h={}",
        push.page_url(),
        percent_encode(pairing_id),
        b64u(secret),
        percent_encode(user),
        percent_encode(&push.host_name()),
    )
}

/// What a phone reads from a pairing URL: the service's base URL, the pairing id and the secret.
pub struct ScannedPairing {
    pub base_url: String,
    pub pairing_id: String,
    pub secret: Zeroizing<Vec<u8>>,
}

/// Reads a pairing URL as the page does (`BASE/pair#p=ID&k=SECRET&...`).
pub fn scan_pairing_url(url: &str) -> Option<ScannedPairing> {
    let (base, fragment) = url.split_once("/pair#")?;
    let field = |key: &str| {
        fragment
            .split('&')
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    };
    let pairing_id = field("p")?;
    // Pairing ids are base64url: percent-encoding leaves them as they are.
    if pairing_id.is_empty() || from_b64u(pairing_id).is_none() {
        return None;
    }
    Some(ScannedPairing {
        base_url: base.to_string(),
        pairing_id: pairing_id.to_string(),
        secret: Zeroizing::new(from_b64u(field("k")?)?),
    })
}

/// A challenge like a sign-in's, sent to a newly paired phone: it proves the whole path works.
pub struct TestPush {
    pub challenge: Challenge,
    /// The number the user must type on the phone.
    pub number: u8,
}

impl TestPush {
    /// Makes the challenge and its number and posts it for `device_id`.
    pub fn send(
        service: &Service,
        push: &PushConfig,
        user: &UserName,
        device_id: &str,
        clock: &dyn Clock,
    ) -> Result<Self, PairingError> {
        let challenge = Challenge::new(
            user.as_str(),
            &push.host_name(),
            TEST_PUSH_SERVICE,
            "",
            clock.now(),
            push.timeout_seconds.max(60),
        )
        .map_err(|e| PairingError::TestPush(e.to_string()))?;
        let number = new_number()?;
        service
            .create_challenge(&challenge, &[device_id.to_string()])
            .map_err(|e| PairingError::TestPush(e.to_string()))?;
        Ok(TestPush { challenge, number })
    }

    /// Long-polls up to `seconds` for the phone's answer and verifies it against `devices`
    /// (the user's record): `None` when none came in time.
    pub fn wait(
        &self,
        service: &Service,
        devices: &[Device],
        seconds: u64,
        clock: &dyn Clock,
    ) -> Result<Option<PushVerdict>, PairingError> {
        let deadline = clock.now().saturating_add(seconds);
        loop {
            let now = clock.now();
            let left = self
                .challenge
                .expires
                .saturating_sub(now)
                .min(deadline.saturating_sub(now));
            if left == 0 {
                return Ok(None);
            }
            match service.wait_decision(&self.challenge.id, left.min(MAX_WAIT)) {
                Ok(Some(decision)) => {
                    let now = clock.now();
                    let verdict = verify(&decision, &self.challenge, self.number, devices, now);
                    // Best effort: the phone shows it; the enrollment's own result stands.
                    let _ = service.post_verdict(&self.challenge.id, &VerdictReport::of(&verdict));
                    return Ok(Some(verdict));
                }
                Ok(None) => {}
                Err(ServiceError::NotFound) => return Ok(None),
                Err(e) => return Err(PairingError::Wait(e)),
            }
        }
    }

    /// Withdraws the challenge (nobody waits for it any more); best effort.
    pub fn withdraw(&self, service: &Service) {
        let _ = service.withdraw_challenge(&self.challenge.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pairing_url_scans_back_to_its_id_and_secret() {
        let push = PushConfig {
            url: Some("https://push.example.org/".into()),
            host_name: Some("web 1".into()),
            ..PushConfig::default()
        };
        let id = b64u(&[0xfb; 16]);
        let url = pairing_url(&push, &id, &[7u8; 32], "al ice");
        assert!(
            url.starts_with(&format!("https://push.example.org/pair#p={id}&k=")),
            "{url}"
        );
        assert!(url.ends_with("&u=al%20ice&h=web%201"), "{url}");
        let scanned = scan_pairing_url(&url).unwrap();
        assert_eq!(scanned.base_url, "https://push.example.org");
        assert_eq!(scanned.pairing_id, id);
        assert_eq!(scanned.secret.as_slice(), &[7u8; 32]);
        assert!(scan_pairing_url("https://push.example.org/pair#k=AAAA").is_none());
    }
}
