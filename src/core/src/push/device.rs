//! A built-in test device: a P-256 key in Rust that speaks the device side of the protocol as
//! the phone page does. Used by `twofold demo` without a terminal, and by the tests. It is never
//! reached from the module's entry points.
#![forbid(unsafe_code)]

use super::client::Client;
use super::endpoint::Endpoint;
use super::pairing::scan_pairing_url;
use super::protocol::{
    Challenge, DecisionKind, SignedDecision, b64u, decision_message, device_request_message,
    pairing_completion_mac, pairing_proof,
};
use super::service::{Service, ServiceError};
use crate::factor::device::Device;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use zeroize::Zeroizing;

/// The number a person reads off the screen in the module's push texts ("... number 42 ...",
/// "... nummer 42 ..."): the word in front of it is the one the catalogues put before
/// `{number}` in `push.prompt`, in any language.
pub fn number_shown(text: &str) -> Option<u8> {
    crate::messages::languages().find_map(|language| {
        let prompt = crate::messages::Texts::for_language(language).get("push.prompt");
        let before = &prompt[..prompt.find("{number}")?];
        let word = before.trim_end().rsplit(' ').next()?;
        let anchor = format!("{word} ");
        let rest = &text[text.find(&anchor)? + anchor.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok().filter(|n| (10..=99).contains(n))
    })
}

/// A device key pair and the id the service gave it.
pub struct TestDevice {
    pub id: String,
    pub name: String,
    key: SigningKey,
    /// The last device-request counter used (the service refuses any not above it).
    counter: AtomicU64,
}

impl TestDevice {
    /// A fresh key; `id` is what the service will call it (set again after pairing).
    pub fn new(id: &str) -> Result<Self, getrandom::Error> {
        // A phone talks to the service over this process's own sockets.
        crate::outside::install_system();
        loop {
            let bytes: [u8; 32] = crate::secret::random_bytes()?;
            if let Ok(key) = SigningKey::from_slice(&bytes) {
                return Ok(TestDevice {
                    id: id.to_string(),
                    name: "twofold test device".into(),
                    key,
                    counter: AtomicU64::new(0),
                });
            }
        }
    }

    /// A device whose private key is `secret` (32 bytes, from [`TestDevice::secret_bytes`]).
    pub fn from_secret_bytes(id: &str, secret: &[u8]) -> Option<Self> {
        crate::outside::install_system();
        Some(TestDevice {
            id: id.to_string(),
            name: "twofold test device".into(),
            key: SigningKey::from_slice(secret).ok()?,
            counter: AtomicU64::new(0),
        })
    }

    /// The private key, so a test phone can keep it between runs (the phone page's key never
    /// leaves the browser; this is a test device).
    pub fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.key.to_bytes().to_vec())
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        self.key.verifying_key()
    }

    /// The public key as WebCrypto's `raw` export, b64u.
    pub fn public_key_b64u(&self) -> String {
        b64u(self.key.verifying_key().to_sec1_point(false).as_bytes())
    }

    /// b64u of the P1363 signature over `message`.
    pub fn sign(&self, message: &str) -> String {
        let signature: Signature = self.key.sign(message.as_bytes());
        b64u(&signature.to_bytes())
    }

    /// The record entry a host would write for this device.
    pub fn record_entry(&self, added: u64) -> Device {
        Device {
            id: self.id.clone(),
            public_key: self.public_key_b64u(),
            name: self.name.clone(),
            added,
            removed: None,
        }
    }

    /// A signed decision on `challenge`.
    pub fn decide(
        &self,
        challenge: &Challenge,
        kind: DecisionKind,
        number: &str,
        decided_at: u64,
    ) -> SignedDecision {
        let message = decision_message(
            &challenge.hash(),
            kind.as_str(),
            number,
            &self.id,
            decided_at,
        );
        SignedDecision {
            decision: kind.as_str().into(),
            number: number.into(),
            device_id: self.id.clone(),
            decided_at,
            signature: self.sign(&message),
        }
    }

    /// Completes a pairing with the secret from the QR URL; keeps the id the service gives.
    pub fn pair(
        &mut self,
        service: &Service,
        pairing_id: &str,
        secret: &[u8],
    ) -> Result<(), ServiceError> {
        let key = self.public_key_b64u();
        let proof = b64u(&pairing_proof(secret, pairing_id, &key));
        let mac = |body: &[u8]| b64u(&pairing_completion_mac(secret, pairing_id, body));
        self.id = service.complete_pairing(pairing_id, &key, &proof, &self.name, &mac)?;
        Ok(())
    }

    /// What a service that turned bad could send (it holds the completion key, not the
    /// secret): a completion MACed as `secret` requires, with a proof made from `other`.
    /// For tests of the host's own proof check.
    pub fn pair_with_forged_proof(
        &mut self,
        service: &Service,
        pairing_id: &str,
        secret: &[u8],
        other: &[u8],
    ) -> Result<(), ServiceError> {
        let key = self.public_key_b64u();
        let proof = b64u(&pairing_proof(other, pairing_id, &key));
        let mac = |body: &[u8]| b64u(&pairing_completion_mac(secret, pairing_id, body));
        self.id = service.complete_pairing(pairing_id, &key, &proof, &self.name, &mac)?;
        Ok(())
    }

    /// "Scans" a pairing URL (as the page reads its fragment) and completes that pairing with
    /// the service at the URL's base: what a phone does after scanning the QR code.
    pub fn pair_from_url(&mut self, url: &str, timeout: Duration) -> Result<Service, ServiceError> {
        let scanned = scan_pairing_url(url)
            .ok_or_else(|| ServiceError::Body(format!("not a pairing URL: {url}")))?;
        let endpoint = Endpoint::parse(&scanned.base_url).map_err(ServiceError::Body)?;
        let service = Service::new(Client::new(endpoint, None, timeout));
        self.pair(&service, &scanned.pairing_id, &scanned.secret)?;
        Ok(service)
    }

    /// The next device-request counter: Unix milliseconds, or one above the last if that is
    /// not more (so a device that forgets its counter stays above what it sent before, as
    /// long as its clock does not go back).
    pub fn next_counter(&self) -> u64 {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut last = self.counter.load(Ordering::SeqCst);
        loop {
            let next = now_ms.max(last.saturating_add(1));
            match self
                .counter
                .compare_exchange(last, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// The four `X-Twofold-*` headers of a device request over `body`, at `now`.
    pub fn request_headers(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        now: u64,
    ) -> [(&'static str, String); 4] {
        let counter = self.next_counter();
        let message = device_request_message(method, path, &self.id, now, counter, body);
        [
            ("X-Twofold-Device", self.id.clone()),
            ("X-Twofold-Time", now.to_string()),
            ("X-Twofold-Counter", counter.to_string()),
            ("X-Twofold-Signature", self.sign(&message)),
        ]
    }

    /// The challenges waiting for this device (signed device request).
    pub fn pending(&self, service: &Service, now: u64) -> Result<Vec<Challenge>, ServiceError> {
        let path = format!("/v1/devices/{}/pending", self.id);
        let owned = self.request_headers("GET", &path, b"", now);
        let headers: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        service.pending(&self.id, &headers)
    }

    /// Signs and sends a decision on `challenge`.
    pub fn answer(
        &self,
        service: &Service,
        challenge: &Challenge,
        kind: DecisionKind,
        number: &str,
        now: u64,
    ) -> Result<(), ServiceError> {
        service.post_decision(&challenge.id, &self.decide(challenge, kind, number, now))
    }
}

#[cfg(test)]
mod tests {
    use super::number_shown;
    use crate::messages::Texts;

    #[test]
    fn the_number_is_read_off_the_push_prompt_in_every_language() {
        for language in crate::messages::languages() {
            let prompt = Texts::for_language(language).fill("push.prompt", &[("number", "42")]);
            assert_eq!(number_shown(&prompt), Some(42), "{language}: {prompt}");
        }
        let test = Texts::for_language("nl").fill(
            "enroll_push.test",
            &[("name", "iPhone 15"), ("number", "37")],
        );
        assert_eq!(number_shown(&test), Some(37), "{test}");
        assert_eq!(number_shown("no number here"), None);
    }
}
