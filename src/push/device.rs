//! A built-in test device: a P-256 key in Rust that speaks the device side of the protocol as
//! the phone page does. Used by `twofold demo` without a terminal, and by the tests. It is never
//! reached from the module's entry points.
#![forbid(unsafe_code)]

use super::protocol::{
    Challenge, DecisionKind, SignedDecision, b64u, decision_message, device_request_message,
    pairing_proof,
};
use super::service::{Service, ServiceError};
use crate::store::record::Device;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};

/// A device key pair and the id the service gave it.
pub struct TestDevice {
    pub id: String,
    pub name: String,
    key: SigningKey,
}

impl TestDevice {
    /// A fresh key; `id` is what the service will call it (set again after pairing).
    pub fn new(id: &str) -> Result<Self, getrandom::Error> {
        loop {
            let bytes: [u8; 32] = crate::secret::random_bytes()?;
            if let Ok(key) = SigningKey::from_slice(&bytes) {
                return Ok(TestDevice {
                    id: id.to_string(),
                    name: "twofold test device".into(),
                    key,
                });
            }
        }
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
        self.id = service.complete_pairing(pairing_id, &key, &proof, &self.name)?;
        Ok(())
    }

    /// The challenges waiting for this device (signed device request).
    pub fn pending(&self, service: &Service, now: u64) -> Result<Vec<Challenge>, ServiceError> {
        let path = format!("/v1/devices/{}/pending", self.id);
        let signature = self.sign(&device_request_message("GET", &path, &self.id, now));
        let time = now.to_string();
        let headers = [
            ("X-Twofold-Device", self.id.as_str()),
            ("X-Twofold-Time", time.as_str()),
            ("X-Twofold-Signature", signature.as_str()),
        ];
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
