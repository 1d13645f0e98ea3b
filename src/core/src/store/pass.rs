//! Where a temporary access pass is kept: `passes/<encoded name>.toml`, beside the record
//! rather than in it, since a pass is usually issued to a user who has no record yet (or whose
//! record is about to be replaced). Read and written under the user's lock.
#![forbid(unsafe_code)]

use super::{StoreError, UserStore};
use crate::factor::pass::AccessPass;
use crate::store::lock::UserLock;
use crate::username::UserName;

const PASSES: &str = "passes";

impl UserStore {
    /// The user's pass, if one was issued (spent ones are removed when noticed).
    pub fn load_pass(&self, user: &UserName) -> Result<Option<AccessPass>, StoreError> {
        let dir = match self.root.subdir(PASSES, false) {
            Ok(dir) => dir,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let name = format!("{}.toml", user.encoded());
        let Some(bytes) = dir.read(&name)? else {
            return Ok(None);
        };
        let malformed = |reason: String| StoreError::Malformed {
            path: dir.path().join(&name).display().to_string(),
            reason,
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| malformed("not UTF-8".into()))?;
        toml::from_str(text)
            .map(Some)
            .map_err(|e| malformed(e.message().to_string()))
    }

    /// Stores the user's pass, replacing any earlier one (one pass per user).
    pub fn save_pass(
        &self,
        user: &UserName,
        _lock: &UserLock,
        pass: &AccessPass,
    ) -> Result<(), StoreError> {
        let dir = self.root.subdir(PASSES, true)?;
        let name = format!("{}.toml", user.encoded());
        let text = toml::to_string(pass).map_err(|e| StoreError::Write {
            path: dir.path().join(&name).display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(dir.write_atomic(&name, text.as_bytes())?)
    }

    /// Removes the user's pass; whether there was one.
    pub fn remove_pass(&self, user: &UserName, _lock: &UserLock) -> Result<bool, StoreError> {
        match self.root.subdir(PASSES, false) {
            Ok(dir) => Ok(dir.remove(&format!("{}.toml", user.encoded()))?),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
