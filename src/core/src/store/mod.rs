//! The user store: per-user record and state files under `state_dir`.
//!
//! Layout: `users/<encoded name>.toml` (record: one enrollment, recovery code hashes included),
//! `state/<encoded name>.toml` (state), `state/<encoded name>.guard` (failures, lockout and last
//! step, overwritten in place: see `guard`), `state/<encoded name>.lock` (lock);
//! `recovery/<encoded name>.toml` only in the older layout. Directories 0700, files 0600, owned
//! by root (or by the running user when not root: tests and the demo).
#![forbid(unsafe_code)]

pub mod file;
pub mod fleet;
pub mod guard;
pub mod lock;
mod pass;
pub mod placement;
pub mod plain_toml;
pub mod record;
pub mod state;

use crate::factor::recovery::RecoveryHash;
use crate::username::UserName;
use file::{Dir, FileError, Policy};
use guard::{GUARD_SIZE, Guard};
use lock::UserLock;
pub use record::{RecoveryFile, UserRecord};
pub use state::UserState;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

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

impl StoreError {
    /// True when the disk refused a write (full, out of inodes, read-only, I/O error).
    pub fn is_write_failure(&self) -> bool {
        match self {
            StoreError::File(e) => e.is_write_failure(),
            _ => false,
        }
    }

    /// True when the new file is in place although the call failed (the directory sync after
    /// the rename failed).
    pub fn replaced(&self) -> bool {
        matches!(self, StoreError::File(FileError::NotDurable { .. }))
    }
}

/// What [`UserStore::record_state`] managed to write.
pub struct StateSaved {
    /// The guard (failures, lockout, last step), overwritten in place.
    pub guard: Result<(), StoreError>,
    /// The state file, replaced atomically.
    pub file: Result<(), StoreError>,
}

/// Access to all users' files under one state directory.
pub struct UserStore {
    root: Dir,
    /// The last state file parsed, as (file name, contents, state): a sign-in reads the state
    /// before the prompt and again under the lock, and unchanged bytes are not parsed twice.
    parsed: Mutex<Option<(String, Vec<u8>, UserState)>>,
    /// `state/`, opened and checked once per store: a sign-in reads the state, then locks,
    /// reads and writes in it.
    state: OnceLock<Dir>,
}

const USERS: &str = "users";
const STATE: &str = "state";
const RECOVERY: &str = "recovery";
/// Suffixes of the per-user files that are written (and so may leave temporary files).
const WRITTEN_SUFFIXES: [&str; 3] = [".toml", ".guard", ".fleet"];

impl UserStore {
    /// Opens an existing state directory (what the module does).
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        Ok(Self::at(Dir::open(state_dir, Policy::secrets())?))
    }

    /// Opens the state directory, creating it and its subdirectories (what enrollment does).
    pub fn create(state_dir: &Path) -> Result<Self, StoreError> {
        let root = Dir::create(state_dir, Policy::secrets())?;
        let users = root.subdir(USERS, true)?;
        let state = root.subdir(STATE, true)?;
        let store = Self::at(root);
        // Every administrative command cleans up after killed writers of any user, so a
        // temporary copy of a superseded key in users/ does not wait for that user's next
        // enrollment.
        store.sweep(&users, None);
        store.sweep(&state, None);
        Ok(store)
    }

    fn at(root: Dir) -> Self {
        UserStore {
            root,
            parsed: Mutex::new(None),
            state: OnceLock::new(),
        }
    }

    fn users_dir(&self) -> Result<Dir, FileError> {
        self.root.subdir(USERS, false)
    }

    fn state_dir(&self) -> Result<Dir, FileError> {
        if let Some(dir) = self.state.get() {
            return dir.try_clone();
        }
        let dir = self.root.subdir(STATE, true)?;
        let handle = dir.try_clone()?;
        let _ = self.state.set(dir);
        Ok(handle)
    }

    /// The user's record, or `None` if the user is not enrolled.
    pub fn load_record(&self, user: &UserName) -> Result<Option<UserRecord>, StoreError> {
        self.read_record(user, UserRecord::parse)
    }

    /// The user's record as a sign-in reads it: without the recovery code hashes, which
    /// [`UserStore::recovery_of`] reads only when a recovery code is typed.
    pub fn load_record_for_sign_in(
        &self,
        user: &UserName,
    ) -> Result<Option<UserRecord>, StoreError> {
        self.read_record(user, UserRecord::parse_without_recovery)
    }

    fn read_record(
        &self,
        user: &UserName,
        parse: fn(&[u8]) -> Result<UserRecord, String>,
    ) -> Result<Option<UserRecord>, StoreError> {
        let dir = match self.users_dir() {
            Ok(dir) => dir,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let name = file_name(user, ".toml");
        let Some(bytes) = dir.read(&name)? else {
            return Ok(None);
        };
        parse(&bytes)
            .map(Some)
            .map_err(|reason| StoreError::Malformed {
                path: dir.path().join(&name).display().to_string(),
                reason,
            })
    }

    /// Writes the user's record atomically (one rename: this is an enrollment's commit).
    /// Leftover temporary files in `users/` are removed first.
    pub fn save_record(
        &self,
        user: &UserName,
        _lock: &UserLock,
        record: &UserRecord,
    ) -> Result<(), StoreError> {
        let dir = self.root.subdir(USERS, true)?;
        let name = file_name(user, ".toml");
        if record.recovery_deferred {
            // Written back, it would lose the recovery codes.
            return Err(StoreError::Write {
                path: dir.path().join(&name).display().to_string(),
                reason: "internal error: a record read without its recovery codes".into(),
            });
        }
        let text = record.to_toml().map_err(|reason| StoreError::Write {
            path: dir.path().join(&name).display().to_string(),
            reason,
        })?;
        self.sweep(&dir, Some(user));
        Ok(dir.write_atomic(&name, text.as_bytes())?)
    }

    /// Changes the user's record under the user's lock (phone number, default method);
    /// returns false if the user is not enrolled.
    pub fn update_record(
        &self,
        user: &UserName,
        change: impl FnOnce(&mut UserRecord),
    ) -> Result<bool, StoreError> {
        let lock = self.lock(user)?;
        let Some(mut record) = self.load_record(user)? else {
            return Ok(false);
        };
        change(&mut record);
        self.save_record(user, &lock, &record)?;
        Ok(true)
    }

    /// The user's recovery code hashes (empty if not enrolled or none were made).
    pub fn load_recovery(&self, user: &UserName) -> Result<Vec<RecoveryHash>, StoreError> {
        match self.load_record(user)? {
            Some(record) => self.recovery_of(user, &record),
            None => Ok(Vec::new()),
        }
    }

    /// The recovery code hashes of `record`: its own, or, for a record in the older layout,
    /// those in `recovery/<name>.toml` (empty if none were made).
    pub fn recovery_of(
        &self,
        user: &UserName,
        record: &UserRecord,
    ) -> Result<Vec<RecoveryHash>, StoreError> {
        if let Some(codes) = &record.recovery {
            return Ok(codes.clone());
        }
        if record.recovery_deferred {
            // Read whole now; a record replaced since (another enrollment) has other codes.
            return match self.load_record(user)? {
                Some(full) if full.id == record.id => Ok(full.recovery.unwrap_or_default()),
                _ => Err(StoreError::Write {
                    path: format!("users/{}.toml", user.encoded()),
                    reason: "the record changed during the sign-in".into(),
                }),
            };
        }
        let dir = match self.root.subdir(RECOVERY, false) {
            Ok(dir) => dir,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let name = file_name(user, ".toml");
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

    /// Replaces the user's recovery codes: the record is rewritten with the new hashes in
    /// one rename (an older-layout record moves to the new layout by the same rename).
    /// Returns false if the user is not enrolled.
    pub fn renew_recovery(
        &self,
        user: &UserName,
        lock: &UserLock,
        codes: &[RecoveryHash],
    ) -> Result<bool, StoreError> {
        let Some(mut record) = self.load_record(user)? else {
            return Ok(false);
        };
        record.recovery = Some(codes.to_vec());
        self.save_record(user, lock, &record)?;
        self.forget_legacy_recovery(user);
        Ok(true)
    }

    /// Removes an older-layout recovery file once the record carries the codes (best effort:
    /// a record with codes of its own never reads it).
    pub fn forget_legacy_recovery(&self, user: &UserName) {
        if let Ok(dir) = self.root.subdir(RECOVERY, false) {
            let _ = dir.remove(&file_name(user, ".toml"));
        }
    }

    /// Makes the files a later sign-in must be able to write without new disk space: the
    /// guard (allocated now, overwritten in place later). The lock file exists already.
    pub fn prepare_user_files(&self, user: &UserName, _lock: &UserLock) -> Result<(), StoreError> {
        let dir = self.state_dir()?;
        let name = file_name(user, ".guard");
        if dir.read(&name)?.is_none() {
            dir.write_atomic_locked(&name, &[0u8; GUARD_SIZE])?;
        }
        Ok(())
    }

    /// Takes the user's lock; state reads and writes require it, and happen in the directory
    /// the lock file was opened in.
    pub fn lock(&self, user: &UserName) -> Result<UserLock, StoreError> {
        let dir = self.state_dir()?;
        let fd = dir.open_lock_file(&file_name(user, ".lock"))?;
        let lock = UserLock::acquire(fd).map_err(|source| StoreError::Lock {
            user: user.to_string(),
            source,
        })?;
        Ok(lock.in_dir(dir))
    }

    /// The lock a sign-in holds while it waits for the user's phone (`state/<name>.push.lock`);
    /// `None` while another sign-in holds it. The kernel releases it when that process ends,
    /// however it ends, so a killed sign-in never leaves a push "pending".
    pub fn try_push_lock(&self, user: &UserName) -> Result<Option<UserLock>, StoreError> {
        let fd = self
            .state_dir()?
            .open_lock_file(&file_name(user, ".push.lock"))?;
        UserLock::try_acquire(fd).map_err(|source| StoreError::Lock {
            user: user.to_string(),
            source,
        })
    }

    /// The user's state (fresh if none was written yet). The lock proves the caller holds it.
    pub fn load_state(&self, user: &UserName, lock: &UserLock) -> Result<UserState, StoreError> {
        let record = self.load_record(user)?;
        self.load_state_for(user, lock, record.as_ref())
    }

    /// [`UserStore::load_state`] for a record already read.
    pub fn load_state_for(
        &self,
        user: &UserName,
        lock: &UserLock,
        record: Option<&UserRecord>,
    ) -> Result<UserState, StoreError> {
        match lock.dir() {
            Some(dir) => self.read_state_in(dir, user, record),
            None => self.read_state(user, record),
        }
    }

    /// The state as it counts: the state file if it belongs to this enrollment, with the
    /// guard's failures, lockout and last step when the guard is the newer of the two, and
    /// never a step at or before the enrollment's confirming code.
    fn read_state(
        &self,
        user: &UserName,
        record: Option<&UserRecord>,
    ) -> Result<UserState, StoreError> {
        self.read_state_in(&self.state_dir()?, user, record)
    }

    /// [`UserStore::read_state`] in the state directory `dir`.
    fn read_state_in(
        &self,
        dir: &Dir,
        user: &UserName,
        record: Option<&UserRecord>,
    ) -> Result<UserState, StoreError> {
        let id = record.map_or("", |r| r.id.as_str());
        let name = file_name(user, ".toml");
        let mut state = match dir.read(&name)? {
            Some(bytes) => {
                self.parse_state(&name, bytes)
                    .map_err(|reason| StoreError::Malformed {
                        path: dir.path().join(&name).display().to_string(),
                        reason,
                    })?
            }
            None => UserState::default(),
        };
        if state.enrollment != id {
            state = UserState {
                enrollment: id.to_string(),
                ..UserState::default()
            };
        }
        let guard_name = file_name(user, ".guard");
        if let Some(guard) = dir.read(&guard_name)?.and_then(|b| guard::newest(&b)) {
            if guard.belongs_to(id) {
                state.last_step = state.last_step.max(guard.last_step);
                if guard.seq >= state.guard_seq {
                    state.failures = guard.failures;
                    state.locked_until = guard.locked_until;
                }
            }
            state.guard_seq = state.guard_seq.max(guard.seq);
        }
        if let Some(record) = record {
            state.last_step = state.last_step.max(record.confirmed_step);
        }
        Ok(state)
    }

    /// The state file's contents parsed; bytes equal to the last ones parsed give the same
    /// state without parsing them again (the parse is a function of the bytes alone).
    fn parse_state(&self, name: &str, bytes: Vec<u8>) -> Result<UserState, String> {
        let mut parsed = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((n, b, state)) = parsed.as_ref()
            && n == name
            && *b == bytes
        {
            return Ok(state.clone());
        }
        let state = UserState::parse(&bytes)?;
        *parsed = Some((name.to_string(), bytes, state.clone()));
        Ok(state)
    }

    /// The user's state as last written, without taking the lock: for a look before prompting
    /// (lockout, remember). Decisions must use [`UserStore::load_state`] under the lock.
    pub fn peek_state(&self, user: &UserName) -> Result<UserState, StoreError> {
        let record = self.load_record(user)?;
        self.read_state(user, record.as_ref())
    }

    /// [`UserStore::peek_state`] for a record already read.
    pub fn peek_state_for(
        &self,
        user: &UserName,
        record: &UserRecord,
    ) -> Result<UserState, StoreError> {
        self.read_state(user, Some(record))
    }

    /// Writes the user's state: the guard in place, then the state file atomically. Fails
    /// when the state file could not be written (see [`UserStore::record_state`]).
    pub fn save_state(
        &self,
        user: &UserName,
        lock: &UserLock,
        state: &UserState,
    ) -> Result<(), StoreError> {
        self.record_state(user, lock, state).file
    }

    /// Writes the guard (overwritten in place: works on a full disk) and then the state file
    /// (a new file renamed over the old: needs a free inode and blocks), and says which worked.
    pub fn record_state(&self, user: &UserName, lock: &UserLock, state: &UserState) -> StateSaved {
        let opened;
        let dir = match lock.dir() {
            Some(dir) => dir,
            None => match self.state_dir() {
                Ok(dir) => {
                    opened = dir;
                    &opened
                }
                Err(e) => {
                    let file = Err(StoreError::Write {
                        path: e.to_string(),
                        reason: "state directory unusable".into(),
                    });
                    return StateSaved {
                        guard: Err(e.into()),
                        file,
                    };
                }
            },
        };
        let mut state = state.clone();
        let seq = state.guard_seq.saturating_add(1);
        let slot = Guard {
            seq,
            enrollment: Guard::id_bytes(&state.enrollment),
            last_step: state.last_step,
            failures: state.failures,
            locked_until: state.locked_until,
        };
        let guard = self.write_guard(dir, user, &slot);
        state.guard_seq = seq;
        // Under the user's lock: the fixed temporary name replaces what a killed sign-in left,
        // without listing the directory (other users' leftovers hold no secret and go at the
        // next administrative command, see `create`).
        let name = file_name(user, ".toml");
        let file = match state.to_toml() {
            Ok(text) => dir
                .write_atomic_locked(&name, text.as_bytes())
                .map_err(Into::into),
            Err(reason) => Err(StoreError::Write {
                path: dir.path().join(&name).display().to_string(),
                reason,
            }),
        };
        StateSaved { guard, file }
    }

    fn write_guard(&self, dir: &Dir, user: &UserName, slot: &Guard) -> Result<(), StoreError> {
        let name = file_name(user, ".guard");
        let bytes = slot.encode();
        match dir.overwrite_at(&name, Guard::offset(slot.seq), &bytes) {
            Ok(()) => {
                dir.remove_locked_temp(&name);
                Ok(())
            }
            // Records from before guards existed: make one (needs space, like the state file).
            Err(e) if e.is_not_found() => {
                let mut file = [0u8; GUARD_SIZE];
                let at = usize::try_from(Guard::offset(slot.seq)).unwrap_or(0);
                file[at..at + bytes.len()].copy_from_slice(&bytes);
                Ok(dir.write_atomic_locked(&name, &file)?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes temporary files a killed writer left in `dir`: the caller's own (it holds
    /// `user`'s lock), and another user's only while that user's lock can be taken at once
    /// (nobody is writing them). Best effort: a sign-in never fails because of it.
    fn sweep(&self, dir: &Dir, user: Option<&UserName>) {
        let Ok(temps) = dir.temp_files() else {
            return;
        };
        let own = user.map(UserName::encoded);
        let state_dir = self.state_dir().ok();
        for (target, temp) in temps {
            let Some(owner) = WRITTEN_SUFFIXES
                .iter()
                .find_map(|suffix| target.strip_suffix(suffix))
            else {
                continue;
            };
            if own.as_deref() == Some(owner) {
                let _ = dir.remove_temp(&temp);
                continue;
            }
            let Some(state_dir) = &state_dir else {
                continue;
            };
            match state_dir.open_existing_lock_file(&format!("{owner}.lock")) {
                // No lock file: nobody ever wrote as that user through a lock; the file is stale.
                Ok(None) => {
                    let _ = dir.remove_temp(&temp);
                }
                Ok(Some(fd)) => {
                    if let Ok(Some(_held)) = UserLock::try_acquire(fd) {
                        let _ = dir.remove_temp(&temp);
                    }
                }
                Err(_) => {}
            }
        }
    }

    /// Removes the user's record and state; returns whether a record existed.
    pub fn remove_user(&self, user: &UserName, _lock: &UserLock) -> Result<bool, StoreError> {
        let enc = user.encoded();
        let had_record = match self.users_dir() {
            Ok(dir) => dir.remove(&format!("{enc}.toml"))?,
            Err(e) if e.is_not_found() => false,
            Err(e) => return Err(e.into()),
        };
        let state = self.state_dir()?;
        state.remove(&format!("{enc}.toml"))?;
        state.remove(&format!("{enc}.guard"))?;
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

/// The name of one of `user`'s files: the encoded name and `suffix` (".toml", ".guard", ...).
fn file_name(user: &UserName, suffix: &str) -> String {
    let encoded = user.encoded();
    let mut name = String::with_capacity(encoded.len() + suffix.len());
    name.push_str(&encoded);
    name.push_str(suffix);
    name
}

#[cfg(test)]
mod tests;
