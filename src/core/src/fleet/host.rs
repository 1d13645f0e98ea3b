//! The host's side of a fleet record: bring the cached record (`users/<name>.toml`) up to date
//! from the service, verifying it (this user, this fleet, not older than seen, not a retired
//! enrollment), and upload a changed record with a compare-and-swap on its version.
#![forbid(unsafe_code)]

use super::envelope::{self, OpenError, SealError};
use super::key::{FleetKey, KeyError};
use super::service::{Claims, FleetError, FleetService};
use crate::store::file::{Dir, Policy};
use crate::store::lock::UserLock;
use crate::store::{StoreError, UserRecord, UserStore};
use crate::username::UserName;
use std::path::Path;

/// Why the cached record could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Service(#[from] FleetError),
    /// The service served a record this host must not use.
    #[error("fleet record refused: {0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot seal the record: {0}")]
    Seal(#[from] SealError),
}

impl SyncError {
    /// No service answered: the offline rules apply.
    pub fn is_offline(&self) -> bool {
        matches!(self, SyncError::Service(FleetError::Offline(_)))
    }
}

impl From<OpenError> for SyncError {
    fn from(e: OpenError) -> Self {
        SyncError::Refused(e.to_string())
    }
}

/// Why the fleet key file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{0}: not a file path")]
    Path(String),
    #[error(transparent)]
    File(#[from] crate::store::file::FileError),
    #[error("{0}: no such file (copy the fleet key from `twofold fleet init`)")]
    Missing(String),
    #[error("{path}: line {line}: {reason}")]
    Key {
        path: String,
        line: usize,
        reason: KeyError,
    },
    #[error("{0}: holds no key")]
    Empty(String),
}

/// The fleet keys in `path` (root, 0600): one per line; the first seals new records, every
/// one opens (old and new during a rotation).
pub fn read_keys(path: &Path) -> Result<Vec<FleetKey>, KeyFileError> {
    let shown = path.display().to_string();
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Err(KeyFileError::Path(shown));
    };
    let bytes = Dir::open(dir, Policy::config())?
        .read_secret(name)?
        .ok_or_else(|| KeyFileError::Missing(shown.clone()))?;
    let text = crate::secret::SecretString::from_bytes(bytes);
    let mut keys = Vec::new();
    for (i, line) in text.expose().lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        keys.push(FleetKey::parse(line).map_err(|reason| KeyFileError::Key {
            path: shown.clone(),
            line: i + 1,
            reason,
        })?);
    }
    if keys.is_empty() {
        return Err(KeyFileError::Empty(shown));
    }
    Ok(keys)
}

/// What [`pull`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The service's version of the record (0: none).
    pub version: u64,
    /// The fleet-wide claims (last step, failures, lockout, used recovery codes).
    pub claims: Claims,
    /// What changed in the cache.
    pub change: Change,
}

/// How the cache changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The cached record is the service's.
    Current,
    /// A newer record was verified and cached.
    Updated,
    /// The record was deleted fleet-wide; the cached copy is gone (its enrollment retired).
    Removed,
    /// Neither the service nor this host has a record.
    None,
    /// The service has none, but this host has a record it never uploaded: kept, used locally.
    LocalOnly,
}

/// Brings `user`'s cached record up to date with the service, under the user's lock.
pub fn pull(
    fleet: &FleetService,
    keys: &[FleetKey],
    store: &UserStore,
    user: &UserName,
) -> Result<Pulled, SyncError> {
    let lock = store.lock(user)?;
    pull_locked(fleet, keys, store, user, &lock)
}

/// [`pull`] for a caller that holds the user's lock.
pub fn pull_locked(
    fleet: &FleetService,
    keys: &[FleetKey],
    store: &UserStore,
    user: &UserName,
    lock: &UserLock,
) -> Result<Pulled, SyncError> {
    let mut seen = store.fleet_seen(user)?;
    let cached = store.load_record(user)?;
    // Without a cached copy, the whole record is needed whatever version was seen.
    let have = if cached.is_some() { seen.version } else { 0 };
    let view = fleet.user(user, have)?;
    let pulled = |change| Pulled {
        version: view.version,
        claims: view.claims.clone(),
        change,
    };
    let Some(sealed) = &view.record else {
        if view.version == 0 {
            return match cached {
                Some(record) if seen.version > 0 => {
                    seen.retire(&record.id);
                    store.save_fleet_seen(user, lock, &seen)?;
                    store.remove_user(user, lock)?;
                    Ok(pulled(Change::Removed))
                }
                Some(_) => Ok(pulled(Change::LocalOnly)),
                None => Ok(pulled(Change::None)),
            };
        }
        if view.version < seen.version {
            return Err(OpenError::RolledBack {
                seen: seen.version,
                found: view.version,
            }
            .into());
        }
        if view.version != have {
            return Err(SyncError::Refused(format!(
                "the service names version {} but sends no record",
                view.version
            )));
        }
        return Ok(pulled(Change::Current));
    };
    if sealed.version != view.version {
        return Err(SyncError::Refused(format!(
            "the service names version {} but sends version {}",
            view.version, sealed.version
        )));
    }
    let floor = (seen.version > 0).then_some(seen.version);
    let plaintext = envelope::open(keys, sealed, user.as_str(), floor)?;
    let record = UserRecord::parse(&plaintext)
        .map_err(|e| SyncError::Refused(format!("the sealed record does not parse: {e}")))?;
    if seen.retired.contains(&record.id) {
        return Err(SyncError::Refused(format!(
            "version {} is of an enrollment deleted earlier (served again)",
            sealed.version
        )));
    }
    let unchanged =
        cached.as_ref().is_some_and(|c| c.id == record.id) && seen.version == sealed.version;
    if !unchanged {
        store.prepare_user_files(user, lock)?;
        store.save_record(user, lock, &record)?;
        store.forget_legacy_recovery(user);
        seen.version = sealed.version;
        store.save_fleet_seen(user, lock, &seen)?;
    }
    Ok(pulled(if unchanged {
        Change::Current
    } else {
        Change::Updated
    }))
}

/// Seals `record` as version `expected + 1`, uploads it with a compare-and-swap on
/// `expected`, and then caches it. Nothing is cached when the upload fails.
pub fn publish(
    fleet: &FleetService,
    keys: &[FleetKey],
    store: &UserStore,
    user: &UserName,
    lock: &UserLock,
    record: &UserRecord,
    expected: u64,
) -> Result<u64, SyncError> {
    let key = keys
        .first()
        .ok_or_else(|| SyncError::Refused("no fleet key to seal with".into()))?;
    let text = zeroize::Zeroizing::new(record.to_toml().map_err(|reason| StoreError::Write {
        path: format!("users/{}.toml", user.encoded()),
        reason,
    })?);
    let sealed = envelope::seal(key, user.as_str(), expected + 1, text.as_bytes())?;
    let version = fleet.put(user, expected, &sealed)?;
    store.prepare_user_files(user, lock)?;
    store.save_record(user, lock, record)?;
    store.forget_legacy_recovery(user);
    let mut seen = store.fleet_seen(user)?;
    seen.version = version;
    store.save_fleet_seen(user, lock, &seen)?;
    Ok(version)
}

/// Deletes `user`'s record fleet-wide (compare-and-swap on the version this host verified last)
/// and then here; the enrollment is remembered as retired. Returns whether one existed.
pub fn delete(
    fleet: &FleetService,
    keys: &[FleetKey],
    store: &UserStore,
    user: &UserName,
) -> Result<bool, SyncError> {
    let lock = store.lock(user)?;
    let pulled = pull_locked(fleet, keys, store, user, &lock)?;
    if pulled.version == 0 {
        return Ok(store.remove_user(user, &lock)?);
    }
    fleet.delete(user, pulled.version)?;
    let mut seen = store.fleet_seen(user)?;
    if let Some(record) = store.load_record(user)? {
        seen.retire(&record.id);
    } else {
        seen.version = 0;
    }
    store.save_fleet_seen(user, &lock, &seen)?;
    store.remove_user(user, &lock)?;
    Ok(true)
}

/// The version this host verified last for `user` (0: none).
pub fn seen_version(store: &UserStore, user: &UserName) -> Result<u64, StoreError> {
    Ok(store.fleet_seen(user)?.version)
}
