//! The fleet key: 32 random bytes that hosts and administrators hold (root, 0600) and the
//! approval service never does. Its id (a hash, not the key) names it in every sealed record,
//! so a host that holds the old and the new key during a rotation knows which one to use.
#![forbid(unsafe_code)]

use crate::encoding::hex;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The text form's prefix: a file that does not start with it is not a fleet key.
const PREFIX: &str = "twofold-fleet-key-v1:";

/// A fleet key and its public id.
pub struct FleetKey {
    id: String,
    secret: Zeroizing<[u8; 32]>,
}

/// Why a fleet key file's text is not a key. Never quotes the text (it is a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a twofold fleet key (expected one line starting with {PREFIX})")]
    Format,
    #[error("the key is not 32 bytes of unpadded base64url")]
    Length,
    #[error("random number generator: {0}")]
    Random(String),
}

impl FleetKey {
    /// A new random key (`twofold fleet init`).
    pub fn generate() -> Result<Self, KeyError> {
        let mut secret = Zeroizing::new([0u8; 32]);
        getrandom::fill(secret.as_mut()).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self::from_bytes(secret))
    }

    /// The key from its 32 bytes.
    pub fn from_bytes(secret: Zeroizing<[u8; 32]>) -> Self {
        let mut h = Sha256::new();
        h.update(b"twofold fleet key id v1\0");
        h.update(secret.as_ref());
        let id = hex(&h.finalize()[..8]);
        FleetKey { id, secret }
    }

    /// Parses the key file's text: one line, `twofold-fleet-key-v1:<base64url>`.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let line = text.strip_suffix('\n').unwrap_or(text);
        let encoded = line.strip_prefix(PREFIX).ok_or(KeyError::Format)?;
        if encoded.contains(['\n', '\r']) {
            return Err(KeyError::Format);
        }
        let bytes = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(encoded.as_bytes())
                .map_err(|_| KeyError::Length)?,
        );
        let secret: [u8; 32] = bytes.as_slice().try_into().map_err(|_| KeyError::Length)?;
        Ok(Self::from_bytes(Zeroizing::new(secret)))
    }

    /// The key file's text (a secret: write it 0600, show it only to an administrator).
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{PREFIX}{}\n",
            URL_SAFE_NO_PAD.encode(self.secret.as_ref())
        ))
    }

    /// The key's public id (16 hex digits), safe to log and to show.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key's bytes, for deriving the record key.
    pub(super) fn secret(&self) -> &[u8; 32] {
        &self.secret
    }
}

impl std::fmt::Debug for FleetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_survives_its_text_form_and_keeps_its_id() {
        let key = FleetKey::generate().unwrap();
        let again = FleetKey::parse(&key.to_text()).unwrap();
        assert_eq!(key.id(), again.id());
        assert_eq!(key.secret(), again.secret());
        assert_eq!(key.id().len(), 16);
    }

    #[test]
    fn two_keys_have_different_ids() {
        let a = FleetKey::generate().unwrap();
        let b = FleetKey::generate().unwrap();
        assert_ne!(a.id(), b.id());
    }

    #[test]
    fn malformed_key_texts_are_refused_without_quoting_them() {
        let short = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode([7u8; 31]));
        let padded = format!("{PREFIX}{}=", URL_SAFE_NO_PAD.encode([7u8; 32]));
        let two_lines = format!("{PREFIX}{}\nmore\n", URL_SAFE_NO_PAD.encode([7u8; 32]));
        for (text, want) in [
            ("", KeyError::Format),
            ("secret-without-prefix", KeyError::Format),
            (short.as_str(), KeyError::Length),
            (padded.as_str(), KeyError::Length),
            (two_lines.as_str(), KeyError::Format),
        ] {
            let err = FleetKey::parse(text).unwrap_err();
            assert_eq!(err, want, "{text:?}");
            assert!(!err.to_string().contains("secret-without"));
        }
    }

    #[test]
    fn debug_output_shows_the_id_not_the_key() {
        let key = FleetKey::from_bytes(Zeroizing::new([0x41; 32]));
        let shown = format!("{key:?}");
        assert!(shown.contains(key.id()));
        assert!(!shown.contains(&URL_SAFE_NO_PAD.encode([0x41u8; 32])));
    }
}
