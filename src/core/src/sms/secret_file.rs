//! Secrets of the HTTP gateway (an API key, a password) from files only root can read.
#![forbid(unsafe_code)]

use crate::secret::SecretString;
use crate::store::file::{Dir, Policy};
use std::path::Path;

/// The file's first line: refused when it is not a regular file owned by root (the running
/// user in tests), or readable or writable by group or others.
pub(super) fn read(path: &Path) -> Result<SecretString, String> {
    let shown = path.display().to_string();
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Err(format!("{shown}: not a file path"));
    };
    let bytes = Dir::open(dir, Policy::config())
        .and_then(|d| d.read_secret(name))
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{shown}: no such file"))?;
    let text = SecretString::from_bytes(bytes);
    let line = text.expose().lines().next().unwrap_or("").trim();
    if line.is_empty() || line.contains('\r') {
        return Err(format!("{shown}: empty"));
    }
    Ok(SecretString::new(line.to_string()))
}
