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
                // A reset is sealed by the host that makes it (a deletion record, below); a
                // record that is simply gone is the service's doing alone, and following it
                // would let the service unenroll a user (with `unenrolled = "allow"`: let them
                // in without a second factor).
                Some(_) if seen.version > 0 => Err(SyncError::Refused(format!(
                    "the service has no record of this user, but this host verified version {}; \
                     a fleet-wide reset is sealed by a host (`twofold reset`), so this one is refused",
                    seen.version
                ))),
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
    if let Some(id) = deletion_of(&plaintext) {
        // A sealed deletion: the enrollment it names (and the copy here) is retired.
        seen.retire(&id);
        let removed = match &cached {
            Some(record) => {
                seen.retire(&record.id);
                store.remove_user(user, lock)?;
                true
            }
            None => false,
        };
        seen.version = sealed.version;
        store.save_fleet_seen(user, lock, &seen)?;
        return Ok(pulled(if removed {
            Change::Removed
        } else {
            Change::None
        }));
    }
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

/// The key new versions are sealed with: the key file's first.
fn sealing_key(keys: &[FleetKey]) -> Result<&FleetKey, SyncError> {
    keys.first()
        .ok_or_else(|| SyncError::Refused("no fleet key to seal with".into()))
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
    let key = sealing_key(keys)?;
    let text = zeroize::Zeroizing::new(record.to_toml().map_err(|reason| StoreError::Write {
        path: format!("users/{}.toml", user.encoded()),
        reason,
    })?);
    let sealed = envelope::seal(key, user.as_str(), expected + 1, text.as_bytes())?;
    let version = fleet.put(user, expected, &sealed, false)?;
    store.prepare_user_files(user, lock)?;
    store.save_record(user, lock, record)?;
    store.forget_legacy_recovery(user);
    let mut seen = store.fleet_seen(user)?;
    seen.version = version;
    store.save_fleet_seen(user, lock, &seen)?;
    Ok(version)
}

/// A sealed deletion's plaintext starts so (no record's TOML can), then names the id of the
/// enrollment it retires.
const DELETION: &[u8] = b"twofold-fleet-deletion:";

fn deletion(id: &str) -> Vec<u8> {
    [DELETION, id.as_bytes()].concat()
}

/// The enrollment id a sealed deletion retires; `None` for a record.
fn deletion_of(plaintext: &[u8]) -> Option<String> {
    let id = plaintext.strip_prefix(DELETION)?;
    Some(String::from_utf8_lossy(id).into_owned())
}

/// Resets `user` fleet-wide: seals a deletion as the next version (compare-and-swap on the
/// version this host verified last), so that every host can tell it from a record the service
/// merely dropped, then forgets the user here and remembers the enrollment as retired. The
/// fleet-wide lockout is lifted (best effort), so a new enrollment starts afresh. Returns
/// whether the user was enrolled.
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
    // Deleted already (a sealed deletion is the current version).
    let Some(record) = store.load_record(user)? else {
        return Ok(false);
    };
    let key = sealing_key(keys)?;
    let sealed = envelope::seal(
        key,
        user.as_str(),
        pulled.version + 1,
        &deletion(&record.id),
    )?;
    let version = fleet.put(user, pulled.version, &sealed, true)?;
    let mut seen = store.fleet_seen(user)?;
    seen.retire(&record.id);
    seen.version = version;
    store.save_fleet_seen(user, &lock, &seen)?;
    store.remove_user(user, &lock)?;
    let _ = fleet.unlock(user);
    Ok(true)
}

/// Seals the current version again with the first key, as the next version: for a sealed
/// deletion, which has no cached copy to publish (`twofold fleet reseal`).
pub fn reseal_deletion(
    fleet: &FleetService,
    keys: &[FleetKey],
    store: &UserStore,
    user: &UserName,
) -> Result<u64, SyncError> {
    let lock = store.lock(user)?;
    let seen = store.fleet_seen(user)?;
    let view = fleet.user(user, 0)?;
    let sealed = view
        .record
        .ok_or_else(|| SyncError::Refused("the service sent no record".into()))?;
    let floor = (seen.version > 0).then_some(seen.version);
    let plaintext = envelope::open(keys, &sealed, user.as_str(), floor)?;
    if deletion_of(&plaintext).is_none() {
        return Err(SyncError::Refused(
            "the current version is a record, not a deletion".into(),
        ));
    }
    let key = sealing_key(keys)?;
    let again = envelope::seal(key, user.as_str(), sealed.version + 1, &plaintext)?;
    let version = fleet.put(user, sealed.version, &again, true)?;
    let mut seen = seen;
    seen.version = version;
    store.save_fleet_seen(user, &lock, &seen)?;
    Ok(version)
}

/// The version this host verified last for `user` (0: none).
pub fn seen_version(store: &UserStore, user: &UserName) -> Result<u64, StoreError> {
    Ok(store.fleet_seen(user)?.version)
}
