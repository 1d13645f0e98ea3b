//! Where `state_dir` lives: a file system that unprivileged users can fill (their /tmp) lets
//! them use up its blocks or inodes, after which no state file can be replaced.
#![forbid(unsafe_code)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// World-writable places on a usual Linux host.
pub const USER_WRITABLE: [&str; 3] = ["/tmp", "/var/tmp", "/dev/shm"];

/// Those of `candidates` that are on the same file system as `state_dir` (or, if it does not
/// exist yet, as its nearest existing parent).
pub fn shares_file_system_with(state_dir: &Path, candidates: &[&str]) -> Vec<PathBuf> {
    let Some(dev) = state_dir
        .ancestors()
        .find_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.dev())
    else {
        return Vec::new();
    };
    candidates
        .iter()
        .map(PathBuf::from)
        .filter(|c| std::fs::metadata(c).is_ok_and(|m| m.dev() == dev))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_below_tmp_shares_its_file_system() {
        let dir = std::env::temp_dir().join("twofold-placement-test-does-not-exist/state");
        let tmp = std::env::temp_dir();
        let tmp = tmp.to_str().unwrap_or("/tmp");
        assert_eq!(
            shares_file_system_with(&dir, &[tmp]),
            vec![PathBuf::from(tmp)]
        );
        assert!(shares_file_system_with(&dir, &["/nonexistent-place"]).is_empty());
    }
}
