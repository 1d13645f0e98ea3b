//! The host token: how this host proves itself to the approval service.
#![forbid(unsafe_code)]

use crate::secret::SecretString;
use crate::store::file::{Dir, Policy};
use std::path::Path;

/// Why the host token could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}: not a file path")]
    Path(String),
    #[error(transparent)]
    File(#[from] crate::store::file::FileError),
    #[error("{0}: no such file (run `twofold serve --add-host NAME` on the service)")]
    Missing(String),
    #[error("{0}: not a host token (one line of base64url)")]
    Malformed(String),
}

/// Reads the host token: root-owned, no group/other access, one line of b64u.
pub fn read_host_token(path: &Path) -> Result<SecretString, TokenError> {
    let shown = path.display().to_string();
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Err(TokenError::Path(shown));
    };
    let bytes = Dir::open(dir, Policy::config())?
        .read_secret(name)?
        .ok_or_else(|| TokenError::Missing(shown.clone()))?;
    let text = SecretString::from_bytes(bytes);
    let token = text.expose().trim();
    if token.is_empty() || super::protocol::from_b64u(token).is_none() {
        return Err(TokenError::Malformed(shown));
    }
    Ok(SecretString::new(token.to_string()))
}
