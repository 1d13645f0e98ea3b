//! The user store: per-user record and state files under `state_dir`.
//!
//! Layout: `users/<encoded name>.toml` (record), `recovery/<encoded name>.toml` (recovery code
//! hashes), `state/<encoded name>.toml` (state), `state/<encoded name>.lock` (lock). Directories 0700, files 0600, owned by root (or by the
//! running user when not root: tests and the demo).
#![forbid(unsafe_code)]

pub mod file;
pub mod lock;
pub mod record;
pub mod state;

use crate::factor::recovery::RecoveryHash;
use crate::username::UserName;
use file::{Dir, FileError, Policy};
use lock::UserLock;
pub use record::{RecoveryFile, UserRecord};
pub use state::UserState;
use std::path::Path;

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{path}: malformed: {reason}")]
    Malformed { path: String, reason: String },
    #[error("{path}: {reason}")]
    Write { path: String, reason: String },
    #[error("lock for {user}: {source}")]
    Lock {
        user: String,
        source: std::io::Error,
    },
}

/// Access to all users' files under one state directory.
pub struct UserStore {
    root: Dir,
}

const USERS: &str = "users";
const STATE: &str = "state";
const RECOVERY: &str = "recovery";

impl UserStore {
    /// Opens an existing state directory (what the module does).
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        Ok(UserStore {
            root: Dir::open(state_dir, Policy::secrets())?,
        })
    }

    /// Opens the state directory, creating it and its subdirectories (what enrollment does).
    pub fn create(state_dir: &Path) -> Result<Self, StoreError> {
        let root = Dir::create(state_dir, Policy::secrets())?;
        root.subdir(USERS, true)?;
        root.subdir(STATE, true)?;
        root.subdir(RECOVERY, true)?;
        Ok(UserStore { root })
    }

    fn users_dir(&self) -> Result<Dir, FileError> {
        self.root.subdir(USERS, false)
    }

    fn state_dir(&self) -> Result<Dir, FileError> {
        self.root.subdir(STATE, true)
    }

    /// The user's record, or `None` if the user is not enrolled.
    pub fn load_record(&self, user: &UserName) -> Result<Option<UserRecord>, StoreError> {
        let dir = match self.users_dir() {
            Ok(dir) => dir,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let name = format!("{}.toml", user.encoded());
        let Some(bytes) = dir.read(&name)? else {
            return Ok(None);
        };
        UserRecord::parse(&bytes)
            .map(Some)
            .map_err(|reason| StoreError::Malformed {
                path: dir.path().join(&name).display().to_string(),
                reason,
            })
    }

    /// Writes the user's record atomically.
    pub fn save_record(&self, user: &UserName, record: &UserRecord) -> Result<(), StoreError> {
        let dir = self.root.subdir(USERS, true)?;
        let name = format!("{}.toml", user.encoded());
        let text = record.to_toml().map_err(|reason| StoreError::Write {
            path: dir.path().join(&name).display().to_string(),
            reason,
        })?;
        Ok(dir.write_atomic(&name, text.as_bytes())?)
    }

    /// The user's recovery code hashes (empty if none were made).
    pub fn load_recovery(&self, user: &UserName) -> Result<Vec<RecoveryHash>, StoreError> {
        let dir = match self.root.subdir(RECOVERY, false) {
            Ok(dir) => dir,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let name = format!("{}.toml", user.encoded());
        let Some(bytes) = dir.read(&name)? else {
            return Ok(Vec::new());
        };
        RecoveryFile::parse(&bytes)
            .map(|file| file.code)
            .map_err(|reason| StoreError::Malformed {
                path: dir.path().join(&name).display().to_string(),
                reason,
            })
    }

    /// Replaces the user's recovery code hashes atomically.
    pub fn save_recovery(&self, user: &UserName, codes: &[RecoveryHash]) -> Result<(), StoreError> {
        let dir = self.root.subdir(RECOVERY, true)?;
        let name = format!("{}.toml", user.encoded());
        let file = RecoveryFile {
            code: codes.to_vec(),
        };
        let text = toml::to_string(&file).map_err(|e| StoreError::Write {
            path: dir.path().join(&name).display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(dir.write_atomic(&name, text.as_bytes())?)
    }

    /// Takes the user's lock; state reads and writes require it.
    pub fn lock(&self, user: &UserName) -> Result<UserLock, StoreError> {
        let fd = self
            .state_dir()?
            .open_lock_file(&format!("{}.lock", user.encoded()))?;
        UserLock::acquire(fd).map_err(|source| StoreError::Lock {
            user: user.to_string(),
            source,
        })
    }

    /// The lock a sign-in holds while it waits for the user's phone (`state/<name>.push.lock`);
    /// `None` while another sign-in holds it. The kernel releases it when that process ends,
    /// however it ends, so a killed sign-in never leaves a push "pending".
    pub fn try_push_lock(&self, user: &UserName) -> Result<Option<UserLock>, StoreError> {
        let fd = self
            .state_dir()?
            .open_lock_file(&format!("{}.push.lock", user.encoded()))?;
        UserLock::try_acquire(fd).map_err(|source| StoreError::Lock {
            user: user.to_string(),
            source,
        })
    }

    /// The user's state (fresh if none was written yet). The lock proves the caller holds it.
    pub fn load_state(&self, user: &UserName, _lock: &UserLock) -> Result<UserState, StoreError> {
        self.read_state(user)
    }

    fn read_state(&self, user: &UserName) -> Result<UserState, StoreError> {
        let dir = self.state_dir()?;
        let name = format!("{}.toml", user.encoded());
        let Some(bytes) = dir.read(&name)? else {
            return Ok(UserState::default());
        };
        UserState::parse(&bytes).map_err(|reason| StoreError::Malformed {
            path: dir.path().join(&name).display().to_string(),
            reason,
        })
    }

    /// The user's state as last written, without taking the lock: for a look before prompting
    /// (lockout, remember). Decisions must use [`UserStore::load_state`] under the lock.
    pub fn peek_state(&self, user: &UserName) -> Result<UserState, StoreError> {
        self.read_state(user)
    }

    /// Writes the user's state atomically.
    pub fn save_state(
        &self,
        user: &UserName,
        _lock: &UserLock,
        state: &UserState,
    ) -> Result<(), StoreError> {
        let dir = self.state_dir()?;
        let name = format!("{}.toml", user.encoded());
        let text = state.to_toml().map_err(|reason| StoreError::Write {
            path: dir.path().join(&name).display().to_string(),
            reason,
        })?;
        Ok(dir.write_atomic(&name, text.as_bytes())?)
    }

    /// Removes the user's record and state; returns whether a record existed.
    pub fn remove_user(&self, user: &UserName, _lock: &UserLock) -> Result<bool, StoreError> {
        let enc = user.encoded();
        let had_record = match self.users_dir() {
            Ok(dir) => dir.remove(&format!("{enc}.toml"))?,
            Err(e) if e.is_not_found() => false,
            Err(e) => return Err(e.into()),
        };
        self.state_dir()?.remove(&format!("{enc}.toml"))?;
        match self.root.subdir(RECOVERY, false) {
            Ok(dir) => {
                dir.remove(&format!("{enc}.toml"))?;
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        Ok(had_record)
    }

    /// Every enrolled user, sorted; files whose names are not encoded user names are skipped.
    pub fn list_users(&self) -> Result<Vec<UserName>, StoreError> {
        let dir = match self.users_dir() {
            Ok(dir) => dir,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let names = dir.names_with_suffix(".toml")?;
        // Sort the decoded names: the encoded file names sort differently ("%C3%BC..." for
        // "ü..." would come before "DOMAIN...", "%2E..." before everything).
        let mut users: Vec<UserName> = names
            .iter()
            .filter_map(|n| UserName::decode(n).ok())
            .collect();
        users.sort();
        Ok(users)
    }
}
