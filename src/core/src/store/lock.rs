//! Per-user lock: an exclusive flock held for the lifetime of the guard.
#![forbid(unsafe_code)]

use crate::store::file::Dir;
use rustix::fs::FlockOperation;
use std::os::fd::OwnedFd;

/// Held while a user's state is read, changed and written; released on drop
/// (closing the descriptor releases the flock, also if the process dies).
pub struct UserLock {
    _fd: OwnedFd,
    /// The directory the lock file was opened in, when it holds the user's state: the state
    /// is read and written there, under this lock, without opening and checking it again.
    dir: Option<Dir>,
}

impl UserLock {
    /// Blocks until the lock on `fd` is exclusively ours.
    pub fn acquire(fd: OwnedFd) -> std::io::Result<Self> {
        loop {
            match rustix::fs::flock(&fd, FlockOperation::LockExclusive) {
                Ok(()) => return Ok(UserLock { _fd: fd, dir: None }),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The same lock, remembering the directory its file is in (see [`UserLock::dir`]).
    pub(crate) fn in_dir(self, dir: Dir) -> Self {
        UserLock {
            dir: Some(dir),
            ..self
        }
    }

    /// The directory the lock file was opened in, if [`UserLock::in_dir`] said so.
    pub(crate) fn dir(&self) -> Option<&Dir> {
        self.dir.as_ref()
    }

    /// Takes the lock if nobody holds it; `None` when another process does.
    pub fn try_acquire(fd: OwnedFd) -> std::io::Result<Option<Self>> {
        loop {
            match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Some(UserLock { _fd: fd, dir: None })),
                Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}
