//! Shared helpers for the approval-service tests: the real `twofold serve` started on
//! 127.0.0.1:0 with a private configuration, a test host (token from `--add-host`), and a test
//! device that signs exactly as docs/push-protocol.md says the phone page does.
#![allow(dead_code)] // each test crate uses a different subset

pub mod backend;
mod device;
pub mod postgres;
#[allow(unused_imports)] // each test crate uses a different subset
pub use backend::*;
pub use device::*;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const TWOFOLD: &str = env!("CARGO_BIN_EXE_twofold");

pub fn b64u(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64u(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// 16 random bytes in base64url: ids and nonces.
pub fn random_id() -> String {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).expect("random");
    b64u(raw)
}

/// An HTTP client that never uses a proxy (the service is on loopback).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client")
}

/// A running `twofold serve` in a temporary directory; killed on drop.
pub struct Service {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Service {
    /// Writes a configuration (`serve_extra` goes into `[serve]`) and starts the service.
    pub fn start(serve_extra: &str) -> Service {
        let dir = tempfile::Builder::new()
            .prefix("twofold-serve-")
            .tempdir()
            .expect("temporary directory");
        let config = write_config(dir.path(), serve_extra);
        let (child, base) = spawn(&config, dir.path());
        Service {
            child,
            base,
            dir,
            config,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `twofold serve --add-host NAME`: the token it printed.
    pub fn add_host(&self, name: &str) -> String {
        twofold_core::push::local::add_host(Path::new(TWOFOLD), &self.config, name)
            .unwrap_or_else(|e| panic!("{e}"))
            .expose()
            .to_string()
    }

    /// Runs `twofold --config <ours> ARGS`.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(TWOFOLD)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run twofold")
    }

    /// What the service logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `<dir>/twofold.toml` with every path inside `dir`.
pub fn write_config(dir: &Path, serve_extra: &str) -> PathBuf {
    twofold_core::push::local::write_config(dir, serve_extra).unwrap_or_else(|e| panic!("{e}"))
}

/// Starts `twofold --config CONFIG serve` and waits for its "listening on URL" line.
pub fn spawn(config: &Path, dir: &Path) -> (Child, String) {
    twofold_core::push::local::spawn(Path::new(TWOFOLD), config, &dir.join("serve.log"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A host: its token and the challenges it makes.
pub struct Host {
    pub token: String,
    pub http: reqwest::Client,
    pub base: String,
}

impl Host {
    pub fn new(service: &Service, name: &str) -> Host {
        Host {
            token: service.add_host(name),
            http: client(),
            base: service.base.clone(),
        }
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    pub fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .body(body.to_string())
    }

    /// Posts `challenge` and expects the service to accept it (201).
    pub async fn open(&self, challenge: &Value) {
        let status = self
            .post("/v1/challenges", challenge)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 201, "the service did not accept the challenge");
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .delete(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// A challenge for `user` that `devices` may answer, living `seconds`.
    pub fn challenge(user: &str, devices: &[&str], seconds: u64) -> Value {
        let created = now();
        json!({
            "id": random_id(), "nonce": random_id(), "user": user, "host": "web1.example",
            "service": "sshd", "rhost": "192.0.2.7", "created": created,
            "expires": created + seconds, "device_ids": devices,
        })
    }

    /// Opens a pairing for `user` with the completion key of `secret`: the pairing id.
    pub async fn open_pairing(&self, user: &str, secret: &[u8]) -> String {
        let body = json!({ "user": user, "completion_key": b64u(completion_key(secret)) });
        let r = self.post("/v1/pairings", &body).send().await.expect("POST");
        assert_eq!(r.status(), 201);
        let pairing: Value = r.json().await.expect("json");
        pairing["pairing_id"]
            .as_str()
            .expect("pairing_id")
            .to_string()
    }

    /// Pairs `device` for `user`: open, complete (as the page), wait, check the proof.
    pub async fn pair(&self, user: &str, device: &mut Device, subscription: Option<Value>) {
        let secret = [7u8; 32];
        let id = self.open_pairing(user, &secret).await;
        let (status, _) = device
            .complete_pairing(&self.base, &id, &secret, subscription)
            .await;
        assert_eq!(status, 201);
        let r = self
            .get(&format!("/v1/pairings/{id}?wait=5"))
            .send()
            .await
            .expect("GET");
        let done: Value = r.json().await.expect("json");
        assert_eq!(done["status"], "complete");
        assert_eq!(
            done["proof"],
            pairing_proof(&secret, &id, &device.public_b64u())
        );
    }
}

/// Waits until `f` is true, checking every 10 ms, at most `limit`.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + limit;
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}
