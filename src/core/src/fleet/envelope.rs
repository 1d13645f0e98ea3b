//! A user's record as the approval service keeps it in fleet mode: encrypted and authenticated
//! with the fleet key (AES-256-GCM under a key derived with HKDF-SHA256), the associated data
//! binding the user name, the record version and the key id. The service sees who and which
//! version (it needs both for its compare-and-swap), never what: it cannot read a secret, add a
//! device, move a record to another user or pass an old version off as a new one to a host that
//! has seen the newer.
#![forbid(unsafe_code)]

use super::key::FleetKey;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Largest record a host seals or opens (the plaintext; the store's own limit is the same).
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

const RECORD_KEY_INFO: &[u8] = b"twofold fleet record key v1";
const AD_DOMAIN: &[u8] = b"twofold fleet record v1\0";

/// One sealed record, as stored and served by the service (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedRecord {
    /// The user the record belongs to (bound by the associated data).
    pub user: String,
    /// Increases by one with every change; the service's compare-and-swap key.
    pub version: u64,
    /// The fleet key's id ([`FleetKey::id`]).
    pub key_id: String,
    /// The AES-GCM nonce, 12 random bytes, base64url.
    pub nonce: String,
    /// Ciphertext and tag, base64url.
    pub ciphertext: String,
}

/// Why a sealed record was not opened (each is a refusal; none quotes the record's content).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the record is for user {found:?}, not {expected:?}")]
    OtherUser { expected: String, found: String },
    #[error("record version {found} is older than version {seen}, already seen on this host")]
    RolledBack { seen: u64, found: u64 },
    #[error("sealed with fleet key {0}, which this host does not hold")]
    UnknownKey(String),
    #[error("the record does not authenticate with the fleet key (tampered with, or not ours)")]
    Forged,
    #[error("malformed sealed record: {0}")]
    Malformed(&'static str),
}

/// Why a record could not be sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the record is larger than {MAX_RECORD_BYTES} bytes")]
    TooLarge,
    #[error("random number generator: {0}")]
    Random(String),
    #[error("encryption failed")]
    Encrypt,
}

/// Seals `plaintext` (the record file's bytes) as `user`'s record at `version`.
pub fn seal(
    key: &FleetKey,
    user: &str,
    version: u64,
    plaintext: &[u8],
) -> Result<SealedRecord, SealError> {
    if plaintext.len() > MAX_RECORD_BYTES {
        return Err(SealError::TooLarge);
    }
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|e| SealError::Random(e.to_string()))?;
    let ad = associated_data(user, version, key.id());
    let ciphertext = cipher(key)
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: &ad,
            },
        )
        .map_err(|_| SealError::Encrypt)?;
    Ok(SealedRecord {
        user: user.to_string(),
        version,
        key_id: key.id().to_string(),
        nonce: URL_SAFE_NO_PAD.encode(nonce),
        ciphertext: URL_SAFE_NO_PAD.encode(ciphertext),
    })
}

/// Opens `sealed` as `expected_user`'s record with whichever of `keys` sealed it, refusing a
/// version older than `newest_seen` (the newest this host has verified for the user).
pub fn open(
    keys: &[FleetKey],
    sealed: &SealedRecord,
    expected_user: &str,
    newest_seen: Option<u64>,
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    if sealed.user != expected_user {
        return Err(OpenError::OtherUser {
            expected: expected_user.to_string(),
            found: sealed.user.clone(),
        });
    }
    if let Some(seen) = newest_seen
        && sealed.version < seen
    {
        return Err(OpenError::RolledBack {
            seen,
            found: sealed.version,
        });
    }
    let key = keys
        .iter()
        .find(|k| k.id() == sealed.key_id)
        .ok_or_else(|| OpenError::UnknownKey(printable(&sealed.key_id)))?;
    let nonce: [u8; 12] = URL_SAFE_NO_PAD
        .decode(sealed.nonce.as_bytes())
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or(OpenError::Malformed("nonce"))?;
    // Base64 of the largest record plus its tag; anything longer is refused before decoding.
    if sealed.ciphertext.len() > (MAX_RECORD_BYTES + 16) * 4 / 3 + 4 {
        return Err(OpenError::Malformed("ciphertext too long"));
    }
    let ciphertext = URL_SAFE_NO_PAD
        .decode(sealed.ciphertext.as_bytes())
        .map_err(|_| OpenError::Malformed("ciphertext"))?;
    let ad = associated_data(&sealed.user, sealed.version, key.id());
    let plaintext = cipher(key)
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &ciphertext,
                aad: &ad,
            },
        )
        .map_err(|_| OpenError::Forged)?;
    Ok(Zeroizing::new(plaintext))
}

fn cipher(key: &FleetKey) -> Aes256Gcm {
    let mut record_key = Zeroizing::new([0u8; 32]);
    // HKDF-SHA256 gives up to 255 × 32 bytes; 32 always fit.
    let _ = Hkdf::<Sha256>::new(None, key.secret()).expand(RECORD_KEY_INFO, record_key.as_mut());
    Aes256Gcm::new(&(*record_key).into())
}

/// Domain, user (length-prefixed), version and key id: what the tag binds besides the record.
fn associated_data(user: &str, version: u64, key_id: &str) -> Vec<u8> {
    let mut ad = Vec::with_capacity(AD_DOMAIN.len() + 4 + user.len() + 8 + key_id.len());
    ad.extend_from_slice(AD_DOMAIN);
    ad.extend_from_slice(&(user.len() as u32).to_be_bytes());
    ad.extend_from_slice(user.as_bytes());
    ad.extend_from_slice(&version.to_be_bytes());
    ad.extend_from_slice(key_id.as_bytes());
    ad
}

/// A service-supplied string shortened and stripped of control characters for an error message.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &[u8] = b"version = 1\n[totp]\nsecret = \"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\"\n";

    fn key() -> FleetKey {
        FleetKey::generate().unwrap()
    }

    #[test]
    fn a_sealed_record_opens_with_the_fleet_key() {
        let k = key();
        let sealed = seal(&k, "alice", 3, RECORD).unwrap();
        let opened = open(std::slice::from_ref(&k), &sealed, "alice", Some(3)).unwrap();
        assert_eq!(opened.as_slice(), RECORD);
    }

    #[test]
    fn the_service_sees_no_secret() {
        let sealed = seal(&key(), "alice", 1, RECORD).unwrap();
        let stored = serde_json::to_string(&sealed).unwrap();
        assert!(!stored.contains("JBSWY3DP"));
        assert!(!stored.contains("secret"));
        assert!(!stored.contains(&URL_SAFE_NO_PAD.encode(RECORD)[..20]));
    }

    #[test]
    fn a_record_moved_to_another_user_is_refused() {
        let k = key();
        let mut sealed = seal(&k, "alice", 1, RECORD).unwrap();
        assert!(matches!(
            open(std::slice::from_ref(&k), &sealed, "mallory", None),
            Err(OpenError::OtherUser { .. })
        ));
        // Relabelled by the service: the tag binds the user.
        sealed.user = "mallory".into();
        assert_eq!(
            open(std::slice::from_ref(&k), &sealed, "mallory", None),
            Err(OpenError::Forged)
        );
    }

    #[test]
    fn a_rolled_back_record_is_refused() {
        let k = key();
        let old = seal(&k, "alice", 4, RECORD).unwrap();
        assert_eq!(
            open(std::slice::from_ref(&k), &old, "alice", Some(5)),
            Err(OpenError::RolledBack { seen: 5, found: 4 })
        );
        // The service cannot relabel the old record as newer: the tag binds the version.
        let mut relabelled = old.clone();
        relabelled.version = 6;
        assert_eq!(
            open(std::slice::from_ref(&k), &relabelled, "alice", Some(5)),
            Err(OpenError::Forged)
        );
    }

    #[test]
    fn a_tampered_record_is_refused() {
        let k = key();
        let sealed = seal(&k, "alice", 1, RECORD).unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed.ciphertext).unwrap();
        for i in [0, bytes.len() / 2, bytes.len() - 1] {
            bytes[i] ^= 1;
            let mut tampered = sealed.clone();
            tampered.ciphertext = URL_SAFE_NO_PAD.encode(&bytes);
            assert_eq!(
                open(std::slice::from_ref(&k), &tampered, "alice", None),
                Err(OpenError::Forged)
            );
            bytes[i] ^= 1;
        }
    }

    #[test]
    fn a_record_sealed_with_another_fleets_key_is_refused() {
        let ours = key();
        let theirs = key();
        let sealed = seal(&theirs, "alice", 1, RECORD).unwrap();
        assert_eq!(
            open(std::slice::from_ref(&ours), &sealed, "alice", None),
            Err(OpenError::UnknownKey(theirs.id().to_string()))
        );
        // Claiming our key id does not help: the tag is keyed.
        let mut claimed = sealed;
        claimed.key_id = ours.id().to_string();
        assert_eq!(
            open(std::slice::from_ref(&ours), &claimed, "alice", None),
            Err(OpenError::Forged)
        );
    }

    #[test]
    fn during_a_rotation_both_keys_open_their_records() {
        let old = key();
        let new = key();
        let keys = [old, new];
        let a = seal(&keys[0], "alice", 1, RECORD).unwrap();
        let b = seal(&keys[1], "bob", 1, RECORD).unwrap();
        assert!(open(&keys, &a, "alice", None).is_ok());
        assert!(open(&keys, &b, "bob", None).is_ok());
    }

    #[test]
    fn malformed_fields_are_refused() {
        let k = key();
        let sealed = seal(&k, "alice", 1, RECORD).unwrap();
        let mut bad = sealed.clone();
        bad.nonce = "AAAA".into();
        assert_eq!(
            open(std::slice::from_ref(&k), &bad, "alice", None),
            Err(OpenError::Malformed("nonce"))
        );
        let mut bad = sealed.clone();
        bad.ciphertext = "not base64!".into();
        assert_eq!(
            open(std::slice::from_ref(&k), &bad, "alice", None),
            Err(OpenError::Malformed("ciphertext"))
        );
        let mut bad = sealed;
        bad.ciphertext = "A".repeat(200_000);
        assert_eq!(
            open(std::slice::from_ref(&k), &bad, "alice", None),
            Err(OpenError::Malformed("ciphertext too long"))
        );
        assert_eq!(
            seal(&k, "alice", 1, &vec![0; MAX_RECORD_BYTES + 1]),
            Err(SealError::TooLarge)
        );
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let k = key();
        let a = seal(&k, "alice", 1, RECORD).unwrap();
        let b = seal(&k, "alice", 1, RECORD).unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }
}
