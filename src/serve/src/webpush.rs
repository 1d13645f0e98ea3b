//! Web Push: message encryption (RFC 8291, `aes128gcm` of RFC 8188) and the service's
//! VAPID identity (RFC 8292). Sending is in notify.rs; this file is pure crypto and files.
#![forbid(unsafe_code)]

use super::b64u;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use hkdf::Hkdf;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Record size announced in the header; our payloads fit one record.
const RECORD_SIZE: u32 = 4096;

/// How long a VAPID token is valid (RFC 8292 allows at most 24 hours).
const VAPID_SECONDS: u64 = 12 * 3600;

/// What can go wrong preparing a push message or the VAPID key.
#[derive(Debug, thiserror::Error)]
pub enum WebPushError {
    #[error("subscription key is not a P-256 public key")]
    BadClientKey,
    #[error("subscription auth secret must be 16 bytes")]
    BadAuthSecret,
    #[error("payload too large for one record")]
    TooLarge,
    #[error("random number generator: {0}")]
    Random(#[from] getrandom::Error),
    #[error("encryption failed")]
    Encrypt,
    #[error("VAPID key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
}

/// Random bytes that form a valid P-256 secret key.
fn random_secret() -> Result<SecretKey, WebPushError> {
    loop {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw)?;
        if let Ok(key) = SecretKey::from_slice(&raw) {
            return Ok(key);
        }
    }
}

/// Encrypts `plaintext` for a subscription (`p256dh`, `auth`) with a fresh key and salt.
pub fn encrypt(
    ua_public: &[u8],
    auth_secret: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, WebPushError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)?;
    encrypt_with(&random_secret()?, &salt, ua_public, auth_secret, plaintext)
}

/// RFC 8291 §3 with the application server's key and salt given (for the test vector).
fn encrypt_with(
    as_secret: &SecretKey,
    salt: &[u8; 16],
    ua_public: &[u8],
    auth_secret: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, WebPushError> {
    let ua_key = PublicKey::from_sec1_bytes(ua_public).map_err(|_| WebPushError::BadClientKey)?;
    if auth_secret.len() != 16 {
        return Err(WebPushError::BadAuthSecret);
    }
    // One record: plaintext, the 0x02 last-record delimiter, and the 16-byte tag.
    if plaintext.len() + 1 + 16 > RECORD_SIZE as usize {
        return Err(WebPushError::TooLarge);
    }
    let as_public = as_secret.public_key().to_sec1_point(false);
    let ua_public = ua_key.to_sec1_point(false);
    let shared = as_secret.diffie_hellman(&ua_key);

    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(ua_public.as_bytes());
    key_info.extend_from_slice(as_public.as_bytes());
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth_secret), shared.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .map_err(|_| WebPushError::Encrypt)?;
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .and_then(|()| prk.expand(b"Content-Encoding: nonce\0", &mut nonce))
        .map_err(|_| WebPushError::Encrypt)?;

    let mut padded = plaintext.to_vec();
    padded.push(2);
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|_| WebPushError::Encrypt)?;
    let sealed = cipher
        .encrypt(&Nonce::from(nonce), padded.as_slice())
        .map_err(|_| WebPushError::Encrypt)?;

    let keyid = as_public.as_bytes();
    let mut body = Vec::with_capacity(16 + 4 + 1 + keyid.len() + sealed.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(keyid.len() as u8);
    body.extend_from_slice(keyid);
    body.extend_from_slice(&sealed);
    Ok(body)
}

/// `scheme://host[:port]` of a URL: the VAPID audience.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    (!authority.is_empty()).then(|| format!("{scheme}://{authority}"))
}

/// The service's VAPID key pair (RFC 8292).
pub struct VapidKey {
    signing: SigningKey,
    public: Vec<u8>,
}

impl VapidKey {
    /// Reads the key (base64url of the 32-byte secret), or creates the file (0600) if missing.
    pub fn load_or_create(path: &Path) -> Result<VapidKey, WebPushError> {
        let err = |reason: String| WebPushError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        match std::fs::symlink_metadata(path) {
            Ok(meta) => {
                if !meta.is_file() {
                    return Err(err("not a regular file".into()));
                }
                if meta.mode() & 0o077 != 0 {
                    return Err(err(format!(
                        "mode {:04o}: must not be accessible to group or others (chmod 600)",
                        meta.mode() & 0o7777
                    )));
                }
                let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
                let raw = b64u::decode(text.trim()).map_err(|_| err("not base64url".into()))?;
                let secret = SecretKey::from_slice(&raw)
                    .map_err(|_| err("not a P-256 private key (32 bytes)".into()))?;
                Ok(VapidKey::from_secret(&secret))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret = random_secret()?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| err(format!("cannot create: {e}")))?;
                writeln!(file, "{}", b64u::encode(secret.to_bytes()))
                    .and_then(|()| file.sync_all())
                    .map_err(|e| err(e.to_string()))?;
                Ok(VapidKey::from_secret(&secret))
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    fn from_secret(secret: &SecretKey) -> VapidKey {
        VapidKey {
            signing: SigningKey::from(secret.clone()),
            public: secret.public_key().to_sec1_point(false).as_bytes().to_vec(),
        }
    }

    /// The public key as the page passes it to `pushManager.subscribe` (base64url, 65 bytes).
    pub fn public_b64u(&self) -> String {
        b64u::encode(&self.public)
    }

    /// The `Authorization: vapid t=…, k=…` header for a push endpoint.
    pub fn authorization(&self, endpoint: &str, subject: &str, now: u64) -> Option<String> {
        let header = b64u::encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": origin(endpoint)?,
            "exp": now + VAPID_SECONDS,
            "sub": subject,
        });
        let claims = b64u::encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let sig: Signature = self.signing.sign(signing_input.as_bytes());
        Some(format!(
            "vapid t={signing_input}.{}, k={}",
            b64u::encode(sig.to_bytes()),
            self.public_b64u()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;

    fn d(s: &str) -> Vec<u8> {
        b64u::decode(s).unwrap()
    }

    /// RFC 8291 §5 / Appendix A: every input fixed, so the output must match to the byte.
    #[test]
    fn encryption_matches_rfc_8291_appendix_a() {
        let as_secret =
            SecretKey::from_slice(&d("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")).unwrap();
        assert_eq!(
            b64u::encode(as_secret.public_key().to_sec1_point(false).as_bytes()),
            "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
        );
        let salt: [u8; 16] = d("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let body = encrypt_with(
            &as_secret,
            &salt,
            &d("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"),
            &d("BTBZMqHH6r4Tts7J_aSIgg"),
            b"When I grow up, I want to be a watermelon",
        )
        .unwrap();
        assert_eq!(
            b64u::encode(body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    #[test]
    fn vapid_token_is_signed_for_the_endpoint_origin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vapid.key");
        let key = VapidKey::load_or_create(&path).unwrap();
        let again = VapidKey::load_or_create(&path).unwrap();
        assert_eq!(key.public_b64u(), again.public_b64u());
        let header = key
            .authorization(
                "https://push.example.net:8443/x/y",
                "https://twofold.example",
                1000,
            )
            .unwrap();
        let t = header
            .strip_prefix("vapid t=")
            .unwrap()
            .split(", k=")
            .next()
            .unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let claims: serde_json::Value = serde_json::from_slice(&d(parts[1])).unwrap();
        assert_eq!(claims["aud"], "https://push.example.net:8443");
        assert_eq!(claims["exp"], 1000 + VAPID_SECONDS);
        let vk = VerifyingKey::from_sec1_bytes(&d(&key.public_b64u())).unwrap();
        let sig = Signature::from_slice(&d(parts[2])).unwrap();
        assert!(
            vk.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
                .is_ok()
        );
    }

    #[test]
    fn a_readable_key_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vapid.key");
        VapidKey::load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(VapidKey::load_or_create(&path).is_err());
    }
}
