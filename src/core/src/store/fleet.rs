//! What a fleet host keeps besides the cached record (`users/<name>.toml`): per user, the
//! newest record version it verified and the enrollments it saw retired
//! (`state/<name>.fleet`), and the uses made while no service answered (`state/fleet-queue`).
#![forbid(unsafe_code)]

use super::lock::UserLock;
use super::record::syntax_error;
use super::{StoreError, UserStore};
use crate::fleet::service::Use;
use crate::username::UserName;
use serde::{Deserialize, Serialize};

/// Uses kept while offline, at most (within the contract's 1000 per report and the state
/// files' size limit). A user's app codes take one entry, the latest step: the service keeps
/// only the highest step anyway.
pub const MAX_QUEUED: usize = 500;
/// Enrollment ids remembered as retired per user, at most (the newest are kept).
const MAX_RETIRED: usize = 64;
const QUEUE: &str = "fleet-queue";
/// Never a user's lock name: encoded names do not start with a dot.
const QUEUE_LOCK: &str = ".fleet-queue.lock";

/// `state/<name>.fleet`: what this host has verified of the user's fleet record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSeen {
    /// The newest record version verified here (0: none); an older one is refused.
    #[serde(default)]
    pub version: u64,
    /// Ids of enrollments deleted fleet-wide (`twofold reset`): a record of one of them is an
    /// old record served again, and refused, though its version restarts at 1.
    #[serde(default)]
    pub retired: Vec<String>,
}

impl FleetSeen {
    /// Remembers `id` as retired and forgets the version (the next enrollment starts at 1).
    pub fn retire(&mut self, id: &str) {
        if !id.is_empty() && !self.retired.iter().any(|r| r == id) {
            self.retired.push(id.to_string());
        }
        let excess = self.retired.len().saturating_sub(MAX_RETIRED);
        self.retired.drain(..excess);
        self.version = 0;
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Queue {
    #[serde(default)]
    uses: Vec<Use>,
}

/// The offline queue, locked: read, append or clear, then drop.
pub struct QueueLock<'a> {
    store: &'a UserStore,
    _lock: UserLock,
}

impl UserStore {
    /// What this host verified of `user`'s fleet record (nothing yet: the default).
    pub fn fleet_seen(&self, user: &UserName) -> Result<FleetSeen, StoreError> {
        let dir = self.state_dir()?;
        let name = format!("{}.fleet", user.encoded());
        match dir.read(&name)? {
            Some(bytes) => parse(&bytes).map_err(|reason| StoreError::Malformed {
                path: dir.path().join(&name).display().to_string(),
                reason,
            }),
            None => Ok(FleetSeen::default()),
        }
    }

    /// Writes `state/<name>.fleet` atomically under the user's lock.
    pub fn save_fleet_seen(
        &self,
        user: &UserName,
        _lock: &UserLock,
        seen: &FleetSeen,
    ) -> Result<(), StoreError> {
        let dir = self.state_dir()?;
        let name = format!("{}.fleet", user.encoded());
        let text = toml::to_string(seen).map_err(|e| StoreError::Write {
            path: dir.path().join(&name).display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(dir.write_atomic_locked(&name, text.as_bytes())?)
    }

    /// Takes the offline queue's lock.
    pub fn lock_queue(&self) -> Result<QueueLock<'_>, StoreError> {
        let fd = self.state_dir()?.open_lock_file(QUEUE_LOCK)?;
        let lock = UserLock::acquire(fd).map_err(|source| StoreError::Lock {
            user: QUEUE.into(),
            source,
        })?;
        Ok(QueueLock {
            store: self,
            _lock: lock,
        })
    }
}

impl QueueLock<'_> {
    /// The uses waiting to be reported, oldest first.
    pub fn uses(&self) -> Result<Vec<Use>, StoreError> {
        let dir = self.store.state_dir()?;
        match dir.read(QUEUE)? {
            Some(bytes) => {
                parse::<Queue>(&bytes)
                    .map(|q| q.uses)
                    .map_err(|reason| StoreError::Malformed {
                        path: dir.path().join(QUEUE).display().to_string(),
                        reason,
                    })
            }
            None => Ok(Vec::new()),
        }
    }

    /// Appends one use (the oldest is dropped beyond [`MAX_QUEUED`]: the report would be
    /// refused whole otherwise).
    pub fn push(&self, entry: Use) -> Result<(), StoreError> {
        let mut uses = self.uses()?;
        let same = |u: &Use| u.kind == "totp" && u.user == entry.user;
        match uses.iter_mut().find(|u| entry.kind == "totp" && same(u)) {
            Some(queued) => {
                queued.step = queued.step.max(entry.step);
                queued.at = queued.at.max(entry.at);
            }
            None => uses.push(entry),
        }
        let excess = uses.len().saturating_sub(MAX_QUEUED);
        uses.drain(..excess);
        self.write(uses)
    }

    /// Replaces the queue with `uses` (empty once reported).
    pub fn write(&self, uses: Vec<Use>) -> Result<(), StoreError> {
        let dir = self.store.state_dir()?;
        if uses.is_empty() {
            dir.remove(QUEUE)?;
            return Ok(());
        }
        let text = toml::to_string(&Queue { uses }).map_err(|e| StoreError::Write {
            path: dir.path().join(QUEUE).display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(dir.write_atomic_locked(QUEUE, text.as_bytes())?)
    }
}

fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    toml::from_str(text).map_err(|e| syntax_error(text, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, UserStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = UserStore::create(&dir.path().join("s")).unwrap();
        (dir, store)
    }

    fn a_use(step: u64) -> Use {
        Use {
            user: "alice".into(),
            kind: "totp".into(),
            step: Some(step),
            code_id: None,
            at: 1_800_000_000,
        }
    }

    #[test]
    fn the_newest_version_seen_survives_and_retiring_forgets_it() {
        let (_dir, store) = store();
        let alice = UserName::parse(b"alice").unwrap();
        assert_eq!(store.fleet_seen(&alice).unwrap(), FleetSeen::default());
        let lock = store.lock(&alice).unwrap();
        let mut seen = FleetSeen {
            version: 4,
            retired: Vec::new(),
        };
        store.save_fleet_seen(&alice, &lock, &seen).unwrap();
        assert_eq!(store.fleet_seen(&alice).unwrap().version, 4);
        seen.retire("0123");
        seen.retire("0123");
        store.save_fleet_seen(&alice, &lock, &seen).unwrap();
        let back = store.fleet_seen(&alice).unwrap();
        assert_eq!(back.version, 0);
        assert_eq!(back.retired, ["0123"]);
    }

    #[test]
    fn the_queue_keeps_uses_in_order_and_empties_once_reported() {
        let (_dir, store) = store();
        let queue = store.lock_queue().unwrap();
        assert!(queue.uses().unwrap().is_empty());
        let bob = Use {
            user: "bob".into(),
            ..a_use(1)
        };
        queue.push(a_use(2)).unwrap();
        queue.push(bob.clone()).unwrap();
        drop(queue);
        let queue = store.lock_queue().unwrap();
        assert_eq!(queue.uses().unwrap(), [a_use(2), bob]);
        queue.write(Vec::new()).unwrap();
        assert!(queue.uses().unwrap().is_empty());
    }

    #[test]
    fn a_users_app_codes_take_one_entry_with_the_latest_step() {
        let (_dir, store) = store();
        let queue = store.lock_queue().unwrap();
        queue.push(a_use(7)).unwrap();
        queue.push(a_use(5)).unwrap();
        let recovery = Use {
            kind: "recovery".into(),
            step: None,
            code_id: Some("c1".into()),
            ..a_use(0)
        };
        queue.push(recovery.clone()).unwrap();
        assert_eq!(queue.uses().unwrap(), [a_use(7), recovery]);
    }

    #[test]
    fn the_queue_is_bounded_and_drops_the_oldest() {
        let (_dir, store) = store();
        let queue = store.lock_queue().unwrap();
        let of = |i: usize| Use {
            user: format!("user{i:05}"),
            ..a_use(i as u64)
        };
        queue.write((0..MAX_QUEUED).map(of).collect()).unwrap();
        queue.push(of(5000)).unwrap();
        let uses = queue.uses().unwrap();
        assert_eq!(uses.len(), MAX_QUEUED);
        assert_eq!(uses[0], of(1));
        assert_eq!(uses.last(), Some(&of(5000)));
    }

    #[test]
    fn a_user_named_like_the_queue_has_a_lock_of_its_own() {
        let (_dir, store) = store();
        let user = UserName::parse(b"fleet-queue").unwrap();
        let _user_lock = store.lock(&user).unwrap();
        // Would deadlock (same flock twice in one process is fine, but distinct files prove it).
        let _queue = store.lock_queue().unwrap();
        assert!(
            store
                .state_dir()
                .unwrap()
                .read(".fleet-queue.lock")
                .unwrap()
                .is_some()
        );
    }
}
