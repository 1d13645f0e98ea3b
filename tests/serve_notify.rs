//! Notifications from the approval service, caught by fake push and ntfy servers on loopback:
//! Web Push is encrypted for the device (RFC 8291) and signed with the service's VAPID key
//! (RFC 8292); ntfy gets a `view` link to the page and nothing secret.

mod serve_support;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use hkdf::Hkdf;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{PublicKey, SecretKey};
use serde_json::{Value, json};
use serve_support::*;
use sha2::Sha256;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

/// One request a fake server received.
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A one-thread HTTP/1.1 server answering every request with `status`.
fn fake_server(status: u16) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let mut headers = HashMap::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
            }
            let len = headers
                .get("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            if tx
                .send(Received {
                    path,
                    headers,
                    body,
                })
                .is_err()
            {
                return;
            }
        }
    });
    (base, rx)
}

/// A browser's push subscription: its ECDH key and auth secret.
struct Browser {
    secret: SecretKey,
    auth: [u8; 16],
}

impl Browser {
    fn new() -> Browser {
        Browser {
            secret: SecretKey::from_slice(&[0x5a; 32]).expect("key"),
            auth: [0x11; 16],
        }
    }

    fn subscription(&self, endpoint: &str) -> Value {
        json!({
            "endpoint": endpoint,
            "expirationTime": null,
            "keys": {
                "p256dh": b64u(self.secret.public_key().to_sec1_point(false).as_bytes()),
                "auth": b64u(self.auth),
            },
        })
    }

    /// Decrypts an `aes128gcm` Web Push body (RFC 8291 §3, receiver side).
    fn decrypt(&self, body: &[u8]) -> Vec<u8> {
        let (salt, rest) = body.split_at(16);
        let id_len = rest[4] as usize;
        let (as_public, sealed) = rest[5..].split_at(id_len);
        let sender = PublicKey::from_sec1_bytes(as_public).expect("sender key");
        let shared =
            p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), sender.as_affine());
        let mut info = b"WebPush: info\0".to_vec();
        info.extend_from_slice(self.secret.public_key().to_sec1_point(false).as_bytes());
        info.extend_from_slice(as_public);
        let mut ikm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes())
            .expand(&info, &mut ikm)
            .expect("ikm");
        let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
        prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
            .expect("cek");
        prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
            .expect("nonce");
        let mut plain = Aes128Gcm::new_from_slice(&cek)
            .expect("aes")
            .decrypt(&Nonce::from(nonce), sealed)
            .expect("authentic ciphertext");
        while plain.last() == Some(&0) {
            plain.pop();
        }
        assert_eq!(plain.pop(), Some(2), "last-record delimiter");
        plain
    }
}

/// Checks `vapid t=<JWT>, k=<key>` against the service's key, the audience and the subject.
fn check_vapid(header: &str, service_key: &str, audience: &str, subject: &str) {
    let rest = header.strip_prefix("vapid t=").expect("vapid scheme");
    let (jwt, key) = rest.split_once(", k=").expect("t and k");
    assert_eq!(key, service_key);
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let head: Value = serde_json::from_slice(&unb64u(parts[0])).expect("header");
    assert_eq!(head["alg"], "ES256");
    let claims: Value = serde_json::from_slice(&unb64u(parts[1])).expect("claims");
    assert_eq!(claims["aud"], audience);
    assert_eq!(claims["sub"], subject);
    let exp = claims["exp"].as_u64().expect("exp");
    assert!(exp > now() && exp <= now() + 24 * 3600, "exp within 24 h");
    let vk = VerifyingKey::from_sec1_bytes(&unb64u(key)).expect("key");
    let sig = Signature::from_slice(&unb64u(parts[2])).expect("signature");
    assert!(
        vk.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .is_ok()
    );
}

#[tokio::test]
async fn web_push_is_encrypted_for_the_device_and_signed_with_vapid() {
    let (push_base, pushes) = fake_server(201);
    let service =
        Service::start("allow_loopback_push = true\npublic_url = \"http://127.0.0.1:1/\"");
    let key: Value = client()
        .get(service.url("/v1/push-key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let service_key = key["vapid_public_key"].as_str().unwrap().to_string();
    assert_eq!(unb64u(&service_key).len(), 65);

    let host = Host::new(&service, "web1");
    let browser = Browser::new();
    let mut device = Device::new();
    let endpoint = format!("{push_base}/push/abc");
    host.pair("alice", &mut device, Some(browser.subscription(&endpoint)))
        .await;
    let c = Host::challenge("alice", &[&device.id], 60);
    host.open(&c).await;

    let push = pushes
        .recv_timeout(Duration::from_secs(5))
        .expect("a push message");
    assert_eq!(push.path, "/push/abc");
    assert_eq!(push.headers["content-encoding"], "aes128gcm");
    let ttl: u64 = push.headers["ttl"].parse().unwrap();
    assert!((55..=60).contains(&ttl), "TTL {ttl}");
    check_vapid(
        &push.headers["authorization"],
        &service_key,
        &push_base,
        "http://127.0.0.1:1",
    );
    let payload: Value = serde_json::from_slice(&browser.decrypt(&push.body)).unwrap();
    assert_eq!(
        payload,
        json!({ "type": "challenge", "id": c["id"] }),
        "only the id travels"
    );
}

#[tokio::test]
async fn a_device_can_change_its_subscription_and_a_gone_one_is_dropped() {
    let (gone_base, gone) = fake_server(410);
    let service = Service::start("allow_loopback_push = true");
    let host = Host::new(&service, "web1");
    let browser = Browser::new();
    let mut device = Device::new();
    host.pair("alice", &mut device, None).await;

    // A subscription set later, with a signed PUT; a plain-http one is refused without the flag
    // (tested in the unit tests); an unsigned PUT is refused.
    let path = format!("/v1/devices/{}/subscription", device.id);
    let body = json!({ "push_subscription": browser.subscription(&format!("{gone_base}/s")) });
    let unsigned = client()
        .put(service.url(&path))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let r = device
        .signed_body(
            reqwest::Method::PUT,
            &service.base,
            &path,
            body.to_string().as_bytes(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    let first = Host::challenge("alice", &[&device.id], 60);
    host.post("/v1/challenges", &first).send().await.unwrap();
    gone.recv_timeout(Duration::from_secs(5))
        .expect("push attempted");
    let deny = device.decision(&first, "deny", "");
    device.decide(&service.base, &first, &deny).await;
    // 410 Gone: the service forgets the subscription, so the next challenge sends nothing.
    assert!(eventually(Duration::from_secs(5), || service
        .log()
        .contains("push_subscription_gone")));
    let second = Host::challenge("alice", &[&device.id], 60);
    host.post("/v1/challenges", &second).send().await.unwrap();
    assert!(
        gone.recv_timeout(Duration::from_millis(500)).is_err(),
        "no push to a gone subscription"
    );
}

#[tokio::test]
async fn ntfy_gets_a_view_link_to_the_page_and_nothing_secret() {
    let (ntfy_base, posts) = fake_server(200);
    let service = Service::start(&format!(
        "public_url = \"https://push.example.org\"\nntfy_url = \"{ntfy_base}/twofold-alerts\""
    ));
    let host = Host::new(&service, "web1");
    let c = Host::challenge("alice", &["d1"], 60);
    host.post("/v1/challenges", &c).send().await.unwrap();
    let post = posts
        .recv_timeout(Duration::from_secs(5))
        .expect("an ntfy message");
    assert_eq!(post.path, "/twofold-alerts");
    assert_eq!(
        post.headers["actions"],
        "view, Open, https://push.example.org/, clear=true"
    );
    assert_eq!(post.headers["click"], "https://push.example.org/");
    let everything = format!("{:?}{}", post.headers, String::from_utf8_lossy(&post.body));
    for secret in [
        c["id"].as_str().unwrap(),
        c["nonce"].as_str().unwrap(),
        "alice",
        "192.0.2.7",
    ] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked to ntfy: {everything}"
        );
    }
}
