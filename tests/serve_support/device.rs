//! The test device: signs device requests and decisions exactly as docs/push-protocol.md says
//! the phone page does, and the checks a host makes on what the service relays.

use super::{b64u, client, now, unb64u};
use hmac::{Hmac, KeyInit, Mac};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The pairing proof a device sends and the host checks.
pub fn pairing_proof(secret: &[u8], pairing_id: &str, public_key_b64u: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(format!("twofold-pairing-v1\n{pairing_id}\n{public_key_b64u}").as_bytes());
    b64u(mac.finalize().into_bytes())
}

/// The key the service checks completions with (the host sends it with `POST /v1/pairings`).
pub fn completion_key(secret: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(b"twofold-pairing-completion-key-v1");
    mac.finalize().into_bytes().to_vec()
}

/// `X-Twofold-Pairing-Mac` of a completion body.
pub fn completion_mac(secret: &[u8], pairing_id: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&completion_key(secret)).expect("any key length");
    let hash = b64u(Sha256::digest(body));
    mac.update(format!("twofold-pairing-completion-v1\n{pairing_id}\n{hash}").as_bytes());
    b64u(mac.finalize().into_bytes())
}

/// SHA-256 over the challenge fields, base64url (what a decision signs).
pub fn challenge_hash(c: &Value) -> String {
    let text = format!(
        "twofold-challenge-v1\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
        c["id"].as_str().unwrap_or_default(),
        c["nonce"].as_str().unwrap_or_default(),
        c["user"].as_str().unwrap_or_default(),
        c["host"].as_str().unwrap_or_default(),
        c["service"].as_str().unwrap_or_default(),
        c["rhost"].as_str().unwrap_or_default(),
        c["created"],
        c["expires"],
    );
    b64u(Sha256::digest(text.as_bytes()))
}

/// The decision message of the protocol.
pub fn decision_message(
    c: &Value,
    decision: &str,
    number: &str,
    device_id: &str,
    at: u64,
) -> String {
    format!(
        "twofold-decision-v1\n{}\n{decision}\n{number}\n{device_id}\n{at}",
        challenge_hash(c)
    )
}

/// What the host checks: the signature over its own copy of the challenge.
pub fn host_accepts(c: &Value, d: &Value, public_key: &[u8]) -> bool {
    let message = decision_message(
        c,
        d["decision"].as_str().unwrap_or_default(),
        d["number"].as_str().unwrap_or_default(),
        d["device_id"].as_str().unwrap_or_default(),
        d["decided_at"].as_u64().unwrap_or_default(),
    );
    let sig = Signature::from_slice(&unb64u(d["signature"].as_str().unwrap_or_default()));
    let key = VerifyingKey::from_sec1_bytes(public_key);
    matches!((sig, key), (Ok(sig), Ok(key)) if key.verify(message.as_bytes(), &sig).is_ok())
}

/// A phone page: a P-256 key and the device id the service gave it.
pub struct Device {
    pub key: SigningKey,
    pub id: String,
    pub http: reqwest::Client,
    /// The last device-request counter sent.
    pub counter: std::sync::atomic::AtomicU64,
}

impl Device {
    pub fn new() -> Device {
        let mut raw = [0u8; 32];
        loop {
            getrandom::fill(&mut raw).expect("random");
            if let Ok(key) = SigningKey::from_slice(&raw) {
                return Device {
                    key,
                    id: String::new(),
                    http: client(),
                    counter: std::sync::atomic::AtomicU64::new(0),
                };
            }
        }
    }

    pub fn public_key(&self) -> Vec<u8> {
        self.key
            .verifying_key()
            .to_sec1_point(false)
            .as_bytes()
            .to_vec()
    }

    pub fn public_b64u(&self) -> String {
        b64u(self.public_key())
    }

    /// `POST /v1/pairings/{id}/complete` as the page does it: status and body; on 201 the
    /// device remembers its id.
    pub async fn complete_pairing(
        &mut self,
        base: &str,
        pairing_id: &str,
        secret: &[u8],
        subscription: Option<Value>,
    ) -> (u16, Value) {
        let mut body = json!({
            "public_key": self.public_b64u(),
            "proof": pairing_proof(secret, pairing_id, &self.public_b64u()),
            "device_name": "Test phone",
        });
        if let Some(sub) = subscription {
            body["push_subscription"] = sub;
        }
        let body = body.to_string();
        let r = self
            .http
            .post(format!("{base}/v1/pairings/{pairing_id}/complete"))
            .header(
                "X-Twofold-Pairing-Mac",
                completion_mac(secret, pairing_id, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .expect("POST complete");
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if status == 201 {
            self.id = v["device_id"].as_str().expect("device_id").to_string();
        }
        (status, v)
    }

    /// The next counter: one above the last.
    pub fn next_counter(&self) -> u64 {
        self.counter
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1
    }

    /// A device-signed request without a body at `timestamp`, signed with `signer` (normally
    /// our own key), with the next counter.
    pub fn signed(
        &self,
        method: reqwest::Method,
        base: &str,
        path: &str,
        timestamp: u64,
        signer: &SigningKey,
    ) -> reqwest::RequestBuilder {
        self.signed_exactly(
            method,
            base,
            path,
            timestamp,
            self.next_counter(),
            b"",
            signer,
        )
    }

    /// A device-signed request carrying `body`, signed now with our key.
    pub fn signed_body(
        &self,
        method: reqwest::Method,
        base: &str,
        path: &str,
        body: &[u8],
    ) -> reqwest::RequestBuilder {
        let counter = self.next_counter();
        self.signed_exactly(method, base, path, now(), counter, body, &self.key)
    }

    /// Every part of a device request given: what a replay or a forgery would send.
    #[allow(clippy::too_many_arguments)]
    pub fn signed_exactly(
        &self,
        method: reqwest::Method,
        base: &str,
        path: &str,
        timestamp: u64,
        counter: u64,
        body: &[u8],
        signer: &SigningKey,
    ) -> reqwest::RequestBuilder {
        let message = format!(
            "twofold-device-request-v2\n{}\n{path}\n{}\n{timestamp}\n{counter}\n{}",
            method.as_str(),
            self.id,
            b64u(Sha256::digest(body))
        );
        let sig: Signature = signer.sign(message.as_bytes());
        let r = self
            .http
            .request(method, format!("{base}{path}"))
            .header("X-Twofold-Device", &self.id)
            .header("X-Twofold-Time", timestamp.to_string())
            .header("X-Twofold-Counter", counter.to_string())
            .header("X-Twofold-Signature", b64u(sig.to_bytes()));
        if body.is_empty() {
            r
        } else {
            r.body(body.to_vec())
        }
    }

    /// `GET /v1/devices/{id}/pending`, signed now.
    pub async fn pending(&self, base: &str) -> reqwest::Response {
        let path = format!("/v1/devices/{}/pending", self.id);
        self.signed(reqwest::Method::GET, base, &path, now(), &self.key)
            .send()
            .await
            .expect("GET pending")
    }

    /// `GET /v1/devices/{id}/challenges/{challenge}/verdict`, signed now.
    pub async fn verdict(&self, base: &str, challenge: &str) -> reqwest::Response {
        let path = format!("/v1/devices/{}/challenges/{challenge}/verdict", self.id);
        self.signed(reqwest::Method::GET, base, &path, now(), &self.key)
            .send()
            .await
            .expect("GET verdict")
    }

    /// A signed decision body for challenge `c`.
    pub fn decision(&self, c: &Value, decision: &str, number: &str) -> Value {
        let at = now();
        let sig: Signature = self
            .key
            .sign(decision_message(c, decision, number, &self.id, at).as_bytes());
        json!({
            "device_id": self.id, "decision": decision, "number": number,
            "decided_at": at, "signature": b64u(sig.to_bytes()),
        })
    }

    pub async fn decide(&self, base: &str, c: &Value, body: &Value) -> reqwest::Response {
        self.http
            .post(format!(
                "{base}/v1/challenges/{}/decision",
                c["id"].as_str().unwrap_or_default()
            ))
            .body(body.to_string())
            .send()
            .await
            .expect("POST decision")
    }
}

impl Default for Device {
    fn default() -> Self {
        Self::new()
    }
}
