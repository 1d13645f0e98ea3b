//! Per-user lock: an exclusive flock held for the lifetime of the guard.
#![forbid(unsafe_code)]

use rustix::fs::FlockOperation;
use std::os::fd::OwnedFd;

/// Held while a user's state is read, changed and written; released on drop
/// (closing the descriptor releases the flock, also if the process dies).
pub struct UserLock {
    _fd: OwnedFd,
}

impl UserLock {
    /// Blocks until the lock on `fd` is exclusively ours.
    pub fn acquire(fd: OwnedFd) -> std::io::Result<Self> {
        loop {
            match rustix::fs::flock(&fd, FlockOperation::LockExclusive) {
                Ok(()) => return Ok(UserLock { _fd: fd }),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Takes the lock if nobody holds it; `None` when another process does.
    pub fn try_acquire(fd: OwnedFd) -> std::io::Result<Option<Self>> {
        loop {
            match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Some(UserLock { _fd: fd })),
                Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}
