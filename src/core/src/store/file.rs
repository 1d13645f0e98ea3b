//! Opening and replacing files the way a security module must: no symlinks, right owner,
//! no group/other access, bounded size, and atomic replacement with fsync.
#![forbid(unsafe_code)]

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Largest record, state or configuration file read (bytes).
pub const MAX_FILE_SIZE: u64 = 64 * 1024;

/// Why a file was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{0}: is a symbolic link")]
    Symlink(String),
    #[error("{0}: not a regular file")]
    NotRegular(String),
    #[error("{0}: not a directory")]
    NotDirectory(String),
    #[error("{path}: owned by uid {found}, expected uid {expected}")]
    WrongOwner {
        path: String,
        found: u32,
        expected: u32,
    },
    #[error(
        "{path}: mode {mode:04o} gives access to group or others (expected 0600/0700, or at most 0644/0755 for configuration)"
    )]
    WrongMode { path: String, mode: u32 },
    #[error("{path}: {size} bytes, larger than the limit of {MAX_FILE_SIZE}")]
    TooLarge { path: String, size: u64 },
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    /// The new file is in place, but the directory could not be synced: it is in force now,
    /// but might not survive a crash.
    #[error("{path}: replaced, but the directory could not be synced: {source}")]
    NotDurable { path: String, source: io::Error },
}

impl FileError {
    fn io(path: &Path, source: impl Into<io::Error>) -> Self {
        FileError::Io {
            path: path.display().to_string(),
            source: source.into(),
        }
    }

    /// True when the file simply does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, FileError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }

    /// True when the disk refused a write (full, out of inodes, over quota, read-only, I/O
    /// error): the files are fine, the disk is not.
    pub fn is_write_failure(&self) -> bool {
        let (FileError::Io { source, .. } | FileError::NotDurable { source, .. }) = self else {
            return false;
        };
        matches!(
            source.raw_os_error(),
            Some(libc_errno::ENOSPC | libc_errno::EDQUOT | libc_errno::EROFS | libc_errno::EIO)
        )
    }
}

/// The errno values [`FileError::is_write_failure`] recognises (Linux numbers).
mod libc_errno {
    pub const EIO: i32 = 5;
    pub const ENOSPC: i32 = 28;
    pub const EROFS: i32 = 30;
    pub const EDQUOT: i32 = 122;
}

/// Who must own the files, and how strict the mode check is.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// uid that must own files and directories: root, or the running user when not root.
    pub owner: u32,
    /// Mode bits that must be clear (0o077 for secrets, 0o022 for configuration).
    pub forbidden_mode: u32,
}

impl Policy {
    /// Secrets: owned by root (or by the running user when not root), no group/other access.
    pub fn secrets() -> Self {
        Policy {
            owner: rustix::process::geteuid().as_raw(),
            forbidden_mode: 0o077,
        }
    }

    /// Configuration: same owner, readable by others allowed, writable only by the owner.
    pub fn config() -> Self {
        Policy {
            forbidden_mode: 0o022,
            ..Self::secrets()
        }
    }

    /// `path` is built only for an error: a sign-in checks a dozen files.
    fn check(
        &self,
        path: impl Fn() -> PathBuf,
        fd: &OwnedFd,
        want: FileType,
    ) -> Result<u64, FileError> {
        let st = rustix::fs::fstat(fd).map_err(|e| FileError::io(&path(), e))?;
        let shown = || path().display().to_string();
        let kind = FileType::from_raw_mode(st.st_mode);
        if kind != want {
            return Err(match want {
                FileType::Directory => FileError::NotDirectory(shown()),
                _ => FileError::NotRegular(shown()),
            });
        }
        if st.st_uid != self.owner {
            return Err(FileError::WrongOwner {
                path: shown(),
                found: st.st_uid,
                expected: self.owner,
            });
        }
        let mode = st.st_mode & 0o7777;
        if mode & self.forbidden_mode != 0 {
            return Err(FileError::WrongMode {
                path: shown(),
                mode,
            });
        }
        Ok(u64::try_from(st.st_size).unwrap_or(u64::MAX))
    }
}

fn nofollow_error(path: &Path, e: rustix::io::Errno) -> FileError {
    // O_NOFOLLOW on a symlink fails with ELOOP; O_DIRECTORY|O_NOFOLLOW on a symlink gives ENOTDIR.
    if e == rustix::io::Errno::LOOP || (e == rustix::io::Errno::NOTDIR && is_symlink(path)) {
        FileError::Symlink(path.display().to_string())
    } else {
        FileError::io(path, e)
    }
}

fn is_symlink(path: &Path) -> bool {
    rustix::fs::lstat(path).is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink)
}

/// `mkdir -p -m 0700`, with system calls through rustix (the module binds no mkdir or stat
/// functions at load for it).
fn create_dir_all(path: &Path) -> Result<(), rustix::io::Errno> {
    let mode = Mode::from_raw_mode(0o700);
    match rustix::fs::mkdir(path, mode) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(rustix::io::Errno::NOENT) => {
            match path.parent() {
                Some(parent) if parent != path && !parent.as_os_str().is_empty() => {
                    create_dir_all(parent)?
                }
                _ => return Err(rustix::io::Errno::NOENT),
            }
            match rustix::fs::mkdir(path, mode) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// A directory opened without following symlinks and checked against the policy.
pub struct Dir {
    fd: OwnedFd,
    path: std::path::PathBuf,
    policy: Policy,
}

impl Dir {
    /// Opens an existing directory.
    pub fn open(path: &Path, policy: Policy) -> Result<Self, FileError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd =
            rustix::fs::open(path, flags, Mode::empty()).map_err(|e| nofollow_error(path, e))?;
        policy.check(|| path.to_owned(), &fd, FileType::Directory)?;
        Ok(Dir {
            fd,
            path: path.to_owned(),
            policy,
        })
    }

    /// Opens a directory, creating it (mode 0700) and its parents if missing.
    pub fn create(path: &Path, policy: Policy) -> Result<Self, FileError> {
        create_dir_all(path).map_err(|e| FileError::io(path, e))?;
        Self::open(path, policy)
    }

    /// Another handle on this checked directory (its descriptor duplicated, no new checks).
    pub fn try_clone(&self) -> Result<Self, FileError> {
        let fd = rustix::io::fcntl_dupfd_cloexec(&self.fd, 0)
            .map_err(|e| FileError::io(&self.path, e))?;
        Ok(Dir {
            fd,
            path: self.path.clone(),
            policy: self.policy,
        })
    }

    /// Opens a checked subdirectory; `create` makes it (0700) when missing.
    pub fn subdir(&self, name: &str, create: bool) -> Result<Self, FileError> {
        let path = self.path.join(name);
        if create {
            match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(FileError::io(&path, e)),
            }
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::empty())
            .map_err(|e| nofollow_error(&path, e))?;
        self.policy
            .check(|| path.clone(), &fd, FileType::Directory)?;
        Ok(Dir {
            fd,
            path,
            policy: self.policy,
        })
    }

    /// Path of the directory, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Path of `name` in this directory, for messages (built only when one is needed).
    fn at(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Reads a whole checked file; `Ok(None)` when it does not exist.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, FileError> {
        self.read_as(name, self.policy)
    }

    /// Reads a secret kept in a configuration directory (the host token): the directory is
    /// checked as configuration, the file as a secret (owner only, no group/other access).
    pub fn read_secret(&self, name: &str) -> Result<Option<Vec<u8>>, FileError> {
        self.read_as(name, Policy::secrets())
    }

    fn read_as(&self, name: &str, policy: Policy) -> Result<Option<Vec<u8>>, FileError> {
        let path = || self.at(name);
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(nofollow_error(&path(), e)),
        };
        let size = policy.check(path, &fd, FileType::RegularFile)?;
        if size > MAX_FILE_SIZE {
            return Err(FileError::TooLarge {
                path: path().display().to_string(),
                size,
            });
        }
        let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        // take() bounds the read even if the file grows after fstat.
        File::from(fd)
            .take(MAX_FILE_SIZE + 1)
            .read_to_end(&mut buf)
            .map_err(|e| FileError::io(&path(), e))?;
        if buf.len() as u64 > MAX_FILE_SIZE {
            return Err(FileError::TooLarge {
                path: path().display().to_string(),
                size: buf.len() as u64,
            });
        }
        Ok(Some(buf))
    }

    /// Replaces `name` atomically: temp file (0600), write, fsync, rename, fsync directory.
    pub fn write_atomic(&self, name: &str, contents: &[u8]) -> Result<(), FileError> {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random)
            .map_err(|e| FileError::io(&self.at(name), io::Error::other(e)))?;
        let tmp = format!(".{name}.{}.tmp", hex(&random));
        self.write_via(name, &tmp, contents)
    }

    /// Like [`Dir::write_atomic`], for a writer that holds the lock serialising every writer of
    /// `name`: its temporary file has a fixed name ([`LOCKED_TEMP_TAG`]), so what a killed
    /// writer left is removed right here, at the next write, without listing the directory
    /// (a sign-in must not cost more as the number of users grows).
    pub fn write_atomic_locked(&self, name: &str, contents: &[u8]) -> Result<(), FileError> {
        let tmp = locked_temp_name(name);
        // Absent is the usual case; a directory of that name (not ours) stays, and creating the
        // file below fails and says so.
        let _ = rustix::fs::unlinkat(&self.fd, tmp.as_str(), AtFlags::empty());
        self.write_via(name, &tmp, contents)
    }

    /// Removes what a killed [`Dir::write_atomic_locked`] of `name` left, if anything (for a
    /// file that is usually overwritten in place instead). The caller holds `name`'s lock.
    pub fn remove_locked_temp(&self, name: &str) {
        let tmp = locked_temp_name(name);
        let _ = rustix::fs::unlinkat(&self.fd, tmp.as_str(), AtFlags::empty());
    }

    fn write_via(&self, name: &str, tmp: &str, contents: &[u8]) -> Result<(), FileError> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, tmp, flags, Mode::from_raw_mode(0o600))
            .map_err(|e| FileError::io(&self.at(name), e))?;
        let result = (|| {
            let mut file = File::from(fd);
            file.write_all(contents)?;
            rustix::fs::fsync(&file)?;
            rustix::fs::renameat(&self.fd, tmp, &self.fd, name)?;
            Ok::<(), io::Error>(())
        })();
        if let Err(e) = result {
            let _ = rustix::fs::unlinkat(&self.fd, tmp, AtFlags::empty());
            return Err(FileError::io(&self.at(name), e));
        }
        rustix::fs::fsync(&self.fd).map_err(|e| FileError::NotDurable {
            path: self.at(name).display().to_string(),
            source: e.into(),
        })
    }

    /// Overwrites `len(bytes)` bytes of an existing checked file at `offset`, then fdatasyncs:
    /// no new block or inode is needed when the range lies inside the file.
    pub fn overwrite_at(&self, name: &str, offset: u64, bytes: &[u8]) -> Result<(), FileError> {
        let path = || self.at(name);
        let flags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::empty())
            .map_err(|e| nofollow_error(&path(), e))?;
        self.policy.check(path, &fd, FileType::RegularFile)?;
        let mut done = 0;
        while done < bytes.len() {
            match rustix::io::pwrite(&fd, &bytes[done..], offset + done as u64) {
                Ok(0) => {
                    return Err(FileError::io(
                        &path(),
                        io::Error::from(io::ErrorKind::WriteZero),
                    ));
                }
                Ok(n) => done += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(FileError::io(&path(), e)),
            }
        }
        rustix::fs::fdatasync(&fd).map_err(|e| FileError::io(&path(), e))
    }

    /// Temporary files of ours in this directory (`.<target>.<16 hex>.tmp`), as
    /// (target, temporary name): what [`Dir::write_atomic`] leaves behind when killed.
    pub fn temp_files(&self) -> Result<Vec<(String, String)>, FileError> {
        let mut found = Vec::new();
        // The directory already opened and checked, read with getdents64 (rustix).
        let entries =
            rustix::fs::Dir::read_from(&self.fd).map_err(|e| FileError::io(&self.path, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| FileError::io(&self.path, e))?;
            let Some(name) = entry.file_name().to_str().ok().map(str::to_string) else {
                continue;
            };
            if let Some(target) = temp_target(&name) {
                found.push((target.to_string(), name));
            }
        }
        Ok(found)
    }

    /// Removes a leftover temporary file, only if it is a regular file owned by the store's
    /// owner (never a symlink, directory or someone else's file). Returns whether it was removed.
    pub fn remove_temp(&self, temp: &str) -> Result<bool, FileError> {
        let path = self.path.join(temp);
        if temp_target(temp).is_none() {
            return Ok(false);
        }
        let st = match rustix::fs::statat(&self.fd, temp, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(rustix::io::Errno::NOENT) => return Ok(false),
            Err(e) => return Err(FileError::io(&path, e)),
        };
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile
            || st.st_uid != self.policy.owner
        {
            return Ok(false);
        }
        match rustix::fs::unlinkat(&self.fd, temp, AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(FileError::io(&path, e)),
        }
    }

    /// Removes `name` if present, then fsyncs the directory.
    pub fn remove(&self, name: &str) -> Result<bool, FileError> {
        let path = self.path.join(name);
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) => {
                rustix::fs::fsync(&self.fd).map_err(|e| FileError::io(&path, e))?;
                Ok(true)
            }
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(FileError::io(&path, e)),
        }
    }

    /// Opens (creating, 0600) a file used only for locking. Read-only: flock needs no write
    /// access, and an existing lock file still opens on a read-only disk, so the configured
    /// `on_state_write_error` decides there instead of a refusal before the prompt.
    pub fn open_lock_file(&self, name: &str) -> Result<OwnedFd, FileError> {
        self.open_lock(name, true)
    }

    /// Opens a lock file that exists; `Ok(None)` when there is none.
    pub fn open_existing_lock_file(&self, name: &str) -> Result<Option<OwnedFd>, FileError> {
        match self.open_lock(name, false) {
            Ok(fd) => Ok(Some(fd)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn open_lock(&self, name: &str, create: bool) -> Result<OwnedFd, FileError> {
        let path = || self.at(name);
        let mut flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        if create {
            flags |= OFlags::CREATE;
        }
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o600))
            .map_err(|e| nofollow_error(&path(), e))?;
        self.policy.check(path, &fd, FileType::RegularFile)?;
        Ok(fd)
    }

    /// Names of the directory's entries ending in `suffix`, without the suffix.
    pub fn names_with_suffix(&self, suffix: &str) -> Result<Vec<String>, FileError> {
        let mut names = Vec::new();
        let entries = std::fs::read_dir(&self.path).map_err(|e| FileError::io(&self.path, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| FileError::io(&self.path, e))?;
            let name = entry.file_name();
            if let Some(stem) = strip_suffix(&name, suffix) {
                names.push(stem);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Borrowed descriptor, for locking.
    pub fn fd(&self) -> impl AsFd + '_ {
        &self.fd
    }
}

/// The tag in the temporary file name of a writer holding the target's lock
/// ([`Dir::write_atomic_locked`]); random tags are never all zeros in practice, and a clash
/// would only mean an early removal of a stale file.
pub const LOCKED_TEMP_TAG: &str = "0000000000000000";

/// `.<name>.<LOCKED_TEMP_TAG>.tmp`, put together without the formatting machinery (twice per
/// sign-in).
fn locked_temp_name(name: &str) -> String {
    let mut tmp = String::with_capacity(name.len() + LOCKED_TEMP_TAG.len() + 6);
    tmp.push('.');
    tmp.push_str(name);
    tmp.push('.');
    tmp.push_str(LOCKED_TEMP_TAG);
    tmp.push_str(".tmp");
    tmp
}

/// The target of a temporary file name `.<target>.<16 hex>.tmp`, if it is one.
pub fn temp_target(name: &str) -> Option<&str> {
    let inner = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (target, random) = inner.rsplit_once('.')?;
    let hex = random.len() == 16 && random.bytes().all(|b| b.is_ascii_hexdigit());
    (hex && !target.is_empty() && !target.starts_with('.')).then_some(target)
}

fn strip_suffix(name: &OsStr, suffix: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let stem = bytes.strip_suffix(suffix.as_bytes())?;
    if stem.is_empty() || stem.starts_with(b".") {
        return None;
    }
    String::from_utf8(stem.to_vec()).ok()
}

pub use crate::encoding::hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_writers_temporary_file_is_recognised_as_one() {
        assert_eq!(
            locked_temp_name("alice.toml"),
            ".alice.toml.0000000000000000.tmp"
        );
        assert_eq!(
            temp_target(&locked_temp_name("alice.guard")),
            Some("alice.guard")
        );
    }
}
