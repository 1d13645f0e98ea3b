//! Pending challenges, in memory, with their expiry. Each challenge carries a `watch` channel:
//! a decision (or the challenge's withdrawal) wakes every waiting request at once.
#![forbid(unsafe_code)]

use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::time::Instant;

/// A sign-in challenge as the host posted it (without the number, which the host keeps).
#[derive(Debug, Clone, Serialize)]
pub struct Challenge {
    pub id: String,
    pub nonce: String,
    pub user: String,
    pub host: String,
    pub service: String,
    pub rhost: String,
    pub created: u64,
    pub expires: u64,
    /// Devices allowed to answer (from the host's own record).
    #[serde(skip)]
    pub device_ids: Vec<String>,
    /// The authenticated host that posted it: the name it was added with (`--add-host`), bound
    /// to its token. The page shows this, not `host`, which is whatever the host wrote.
    #[serde(rename = "registered_host")]
    pub owner: String,
}

/// A device's signed answer, relayed to the host unverified (the host checks the signature).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Decision {
    pub decision: String,
    pub number: String,
    pub device_id: String,
    pub decided_at: u64,
    pub signature: String,
}

/// What the host made of the decision (`POST /v1/challenges/{id}/verdict`): display-only, for
/// the phone that answered. No number, no secret; it changes nothing the host decided.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Verdict {
    /// `approved`, `denied`, `reported`, `number_mismatch`, `late` or `invalid`.
    pub outcome: String,
    /// For `reported`: whether the host's `[alerts]` command told someone.
    pub alerted: bool,
    /// When push is paused for the user after this (Unix seconds; 0: not paused).
    pub paused_until: u64,
}

/// How long after its expiry a decided challenge still takes and shows its verdict: the host
/// may verify a decision in the challenge's last second, and the phone asks once a second.
pub const VERDICT_GRACE: Duration = Duration::from_secs(30);

/// Why a verdict was not stored.
#[derive(Debug, PartialEq, Eq)]
pub enum VerdictError {
    /// Unknown, another host's, or past its grace.
    NotFound,
    /// Not decided yet: there is nothing to give a verdict on.
    NotDecided,
    /// Another verdict was stored before (the same one again is fine).
    Conflict,
}

/// Where a challenge stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Pending,
    Decided(Arc<Decision>),
    /// The host withdrew it (the user signed in another way).
    Withdrawn,
}

/// One challenge and the channel its waiters listen on.
pub struct Entry {
    pub challenge: Challenge,
    /// When it expires, on the monotonic clock.
    pub deadline: Instant,
    status: watch::Sender<Status>,
    verdict: Mutex<Option<Verdict>>,
}

impl Entry {
    /// A receiver that sees the current status and every change.
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    /// The host's verdict, once it posted one.
    pub fn verdict(&self) -> Option<Verdict> {
        self.verdict
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn decided(&self) -> bool {
        matches!(*self.status.borrow(), Status::Decided(_))
    }

    /// The status now.
    #[cfg(test)]
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }
}

/// Why a challenge was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum InsertError {
    /// This host already has a pending challenge for this user.
    UserPending,
    /// A challenge with this id exists.
    DuplicateId,
    /// `max_pending` challenges are held already.
    Full,
    /// This host holds `max_pending_per_host` challenges already (other hosts are not affected).
    HostFull,
}

/// Why a decision was not stored.
#[derive(Debug, PartialEq, Eq)]
pub enum DecideError {
    NotFound,
    /// The challenge was decided (or withdrawn) before.
    AlreadyDecided,
    /// The device is not one the host named for this challenge.
    NotForDevice,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<String, Arc<Entry>>,
    /// (owner host, user) → id of the challenge still waiting for a decision.
    pending: HashMap<(String, String), String>,
    /// Owner host → how many of `by_id` are its.
    per_host: HashMap<String, usize>,
    /// Decided challenges past their expiry, kept for [`VERDICT_GRACE`] so that a late verdict
    /// can be posted and read; they count towards no quota (only a device can decide one).
    settled: HashMap<String, Arc<Entry>>,
}

impl Inner {
    fn add(&mut self, entry: Arc<Entry>) {
        *self
            .per_host
            .entry(entry.challenge.owner.clone())
            .or_default() += 1;
        self.by_id.insert(entry.challenge.id.clone(), entry);
    }

    fn remove(&mut self, id: &str) -> Option<Arc<Entry>> {
        let entry = self.by_id.remove(id)?;
        uncount(&mut self.per_host, &entry.challenge.owner);
        Some(entry)
    }

    /// Removes an expired challenge; a decided one stays readable for its verdict.
    fn retire(&mut self, id: &str, max_settled: usize) {
        if let Some(entry) = self.remove(id) {
            keep_settled(&mut self.settled, entry, max_settled);
        }
    }

    fn held_by(&self, owner: &str) -> usize {
        self.per_host.get(owner).copied().unwrap_or(0)
    }
}

fn keep_settled(settled: &mut HashMap<String, Arc<Entry>>, entry: Arc<Entry>, max: usize) {
    if entry.decided() && settled.len() < max {
        settled.insert(entry.challenge.id.clone(), entry);
    }
}

fn uncount(per_host: &mut HashMap<String, usize>, owner: &str) {
    if let Some(n) = per_host.get_mut(owner) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            per_host.remove(owner);
        }
    }
}

/// All challenges held by the service.
pub struct Challenges {
    inner: Mutex<Inner>,
    max: usize,
    max_per_host: usize,
}

/// Unix time as a `Duration`.
fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The monotonic instant at which Unix second `expires` begins.
pub fn deadline_of(expires: u64) -> Instant {
    let left = Duration::from_secs(expires).saturating_sub(unix_now());
    Instant::now() + left
}

impl Challenges {
    /// Holds at most `max` challenges (pending or decided but not yet expired), at most
    /// `max_per_host` of them from one host.
    pub fn new(max: usize, max_per_host: usize) -> Challenges {
        Challenges {
            inner: Mutex::new(Inner::default()),
            max,
            max_per_host,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters more than refusing service, so recover the guard.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a challenge unless the host has one pending for the user, the id is taken, or
    /// the service is full.
    pub fn insert(&self, challenge: Challenge) -> Result<Arc<Entry>, InsertError> {
        let now = Instant::now();
        let mut inner = self.lock();
        let key = (challenge.owner.clone(), challenge.user.clone());
        if let Some(old) = inner.pending.get(&key).cloned() {
            match inner.by_id.get(&old) {
                Some(e) if e.deadline > now => return Err(InsertError::UserPending),
                _ => {
                    inner.retire(&old, self.max);
                    inner.pending.remove(&key);
                }
            }
        }
        if let Some(e) = inner.by_id.get(&challenge.id) {
            if e.deadline > now {
                return Err(InsertError::DuplicateId);
            }
            inner.retire(&challenge.id, self.max);
        }
        inner.settled.remove(&challenge.id);
        let owner = challenge.owner.as_str();
        if inner.by_id.len() >= self.max || inner.held_by(owner) >= self.max_per_host {
            sweep_locked(&mut inner, now, self.max);
            if inner.held_by(owner) >= self.max_per_host {
                return Err(InsertError::HostFull);
            }
            if inner.by_id.len() >= self.max {
                return Err(InsertError::Full);
            }
        }
        let (status, _) = watch::channel(Status::Pending);
        let entry = Arc::new(Entry {
            deadline: deadline_of(challenge.expires),
            challenge,
            status,
            verdict: Mutex::new(None),
        });
        inner.pending.insert(key, entry.challenge.id.clone());
        inner.add(Arc::clone(&entry));
        Ok(entry)
    }

    /// A challenge that has not expired.
    pub fn get(&self, id: &str) -> Option<Arc<Entry>> {
        let inner = self.lock();
        inner
            .by_id
            .get(id)
            .filter(|e| e.deadline > Instant::now())
            .cloned()
    }

    /// Stores the first decision for a challenge and wakes its waiters.
    pub fn decide(&self, id: &str, decision: Decision) -> Result<(), DecideError> {
        let mut inner = self.lock();
        let entry = inner
            .by_id
            .get(id)
            .filter(|e| e.deadline > Instant::now())
            .cloned()
            .ok_or(DecideError::NotFound)?;
        if !entry.challenge.device_ids.contains(&decision.device_id) {
            return Err(DecideError::NotForDevice);
        }
        if *entry.status.borrow() != Status::Pending {
            return Err(DecideError::AlreadyDecided);
        }
        entry
            .status
            .send_replace(Status::Decided(Arc::new(decision)));
        let key = (entry.challenge.owner.clone(), entry.challenge.user.clone());
        inner.pending.remove(&key);
        Ok(())
    }

    /// A decided challenge of `owner`'s, until [`VERDICT_GRACE`] after its expiry.
    fn settled_entry(&self, id: &str) -> Option<Arc<Entry>> {
        let inner = self.lock();
        let now = Instant::now();
        inner
            .by_id
            .get(id)
            .or_else(|| inner.settled.get(id))
            .filter(|e| e.deadline + VERDICT_GRACE > now)
            .cloned()
    }

    /// Stores the host's verdict on its own decided challenge; the same verdict twice is fine.
    pub fn set_verdict(&self, id: &str, owner: &str, verdict: Verdict) -> Result<(), VerdictError> {
        let entry = self
            .settled_entry(id)
            .filter(|e| e.challenge.owner == owner)
            .ok_or(VerdictError::NotFound)?;
        if !entry.decided() {
            return Err(VerdictError::NotDecided);
        }
        let mut slot = entry.verdict.lock().unwrap_or_else(|p| p.into_inner());
        match &*slot {
            Some(old) if *old == verdict => Ok(()),
            Some(_) => Err(VerdictError::Conflict),
            None => {
                *slot = Some(verdict);
                Ok(())
            }
        }
    }

    /// For a device the challenge named (of `owner`'s `user`; in fleet mode, `owner` = `None`,
    /// of any host's): `Some(None)` while the host has not posted a verdict, `None` when the
    /// challenge is unknown to this device or gone.
    pub fn verdict_for(
        &self,
        id: &str,
        owner: Option<&str>,
        user: &str,
        device_id: &str,
    ) -> Option<Option<Verdict>> {
        let entry = self.settled_entry(id).filter(|e| {
            owner.is_none_or(|o| e.challenge.owner == o)
                && e.challenge.user == user
                && e.challenge.device_ids.iter().any(|d| d == device_id)
        })?;
        Some(entry.verdict())
    }

    /// Withdraws a host's own pending challenge; false if it has none with this id.
    pub fn withdraw(&self, id: &str, owner: &str) -> bool {
        let mut inner = self.lock();
        let Some(entry) = inner.by_id.get(id).cloned() else {
            return false;
        };
        if entry.challenge.owner != owner {
            return false;
        }
        entry.status.send_replace(Status::Withdrawn);
        inner.remove(id);
        let key = (owner.to_string(), entry.challenge.user.clone());
        if inner.pending.get(&key).is_some_and(|p| p == id) {
            inner.pending.remove(&key);
        }
        true
    }

    /// The challenges waiting for `device_id`: of `owner`'s `user` (at most one), or in fleet
    /// mode (`owner` = `None`) of `user` on any host (at most one per host).
    pub fn pending_for(&self, owner: Option<&str>, user: &str, device_id: &str) -> Vec<Challenge> {
        let inner = self.lock();
        let ids: Vec<&String> = match owner {
            Some(o) => inner
                .pending
                .get(&(o.to_string(), user.to_string()))
                .into_iter()
                .collect(),
            None => inner
                .pending
                .iter()
                .filter(|((_, u), _)| u == user)
                .map(|(_, id)| id)
                .collect(),
        };
        let now = Instant::now();
        ids.into_iter()
            .filter_map(|id| inner.by_id.get(id))
            .filter(|entry| {
                entry.deadline > now
                    && *entry.status.borrow() == Status::Pending
                    && entry.challenge.device_ids.iter().any(|d| d == device_id)
            })
            .map(|entry| entry.challenge.clone())
            .collect()
    }

    /// Drops expired challenges (their waiters have returned already: they wait until the
    /// deadline at most).
    pub fn sweep(&self) {
        sweep_locked(&mut self.lock(), Instant::now(), self.max);
    }

    /// How many challenges are held (for the log).
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// True when none are held.
    pub fn is_empty(&self) -> bool {
        self.lock().by_id.is_empty()
    }
}

fn sweep_locked(inner: &mut Inner, now: Instant, max_settled: usize) {
    let Inner {
        by_id,
        pending,
        per_host,
        settled,
    } = inner;
    settled.retain(|_, e| e.deadline + VERDICT_GRACE > now);
    by_id.retain(|_, e| {
        let keep = e.deadline > now;
        if !keep {
            uncount(per_host, &e.challenge.owner);
            keep_settled(settled, Arc::clone(e), max_settled);
        }
        keep
    });
    pending.retain(|_, id| by_id.contains_key(id));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(id: &str, user: &str, expires_in: u64) -> Challenge {
        let now = unix_now().as_secs();
        Challenge {
            id: id.into(),
            nonce: "n".into(),
            user: user.into(),
            host: "h".into(),
            service: "sshd".into(),
            rhost: String::new(),
            created: now,
            expires: now + expires_in,
            device_ids: vec!["d1".into()],
            owner: "web1".into(),
        }
    }

    fn decision(device: &str) -> Decision {
        Decision {
            decision: "approve".into(),
            number: "42".into(),
            device_id: device.into(),
            decided_at: unix_now().as_secs(),
            signature: "s".into(),
        }
    }

    #[test]
    fn one_pending_challenge_per_host_and_user() {
        let c = Challenges::new(10, 10);
        c.insert(challenge("a", "alice", 60)).unwrap();
        assert_eq!(
            c.insert(challenge("b", "alice", 60)).err(),
            Some(InsertError::UserPending)
        );
        assert_eq!(
            c.insert(challenge("a", "bob", 60)).err(),
            Some(InsertError::DuplicateId)
        );
        c.insert(challenge("c", "bob", 60)).unwrap();
        // Once decided, the user may get a new challenge.
        c.decide("a", decision("d1")).unwrap();
        c.insert(challenge("d", "alice", 60)).unwrap();
    }

    #[test]
    fn first_decision_wins_and_only_named_devices_may_answer() {
        let c = Challenges::new(10, 10);
        let entry = c.insert(challenge("a", "alice", 60)).unwrap();
        assert_eq!(
            c.decide("a", decision("d2")),
            Err(DecideError::NotForDevice)
        );
        assert_eq!(entry.status(), Status::Pending);
        c.decide("a", decision("d1")).unwrap();
        let mut late = decision("d1");
        late.decision = "deny".into();
        assert_eq!(c.decide("a", late), Err(DecideError::AlreadyDecided));
        assert_eq!(entry.status(), Status::Decided(Arc::new(decision("d1"))));
        assert_eq!(c.decide("zz", decision("d1")), Err(DecideError::NotFound));
    }

    #[test]
    fn full_service_refuses_and_expired_challenges_are_gone() {
        let c = Challenges::new(1, 10);
        c.insert(challenge("a", "alice", 0)).unwrap(); // expires now
        assert!(c.get("a").is_none());
        c.insert(challenge("b", "bob", 60)).unwrap(); // the expired one is swept to make room
        assert_eq!(
            c.insert(challenge("c", "carol", 60)).err(),
            Some(InsertError::Full)
        );
        assert!(c.withdraw("b", "web1"));
        assert!(c.is_empty());
    }

    #[test]
    fn one_host_at_its_quota_leaves_room_for_others() {
        let c = Challenges::new(10, 2);
        c.insert(challenge("a", "alice", 60)).unwrap();
        c.insert(challenge("b", "bob", 60)).unwrap();
        assert_eq!(
            c.insert(challenge("c", "carol", 60)).err(),
            Some(InsertError::HostFull)
        );
        let mut other = challenge("d", "carol", 60);
        other.owner = "web2".into();
        c.insert(other).unwrap();
        // Withdrawing one gives the host its room back.
        assert!(c.withdraw("a", "web1"));
        c.insert(challenge("e", "carol", 60)).unwrap();
    }

    fn verdict(outcome: &str) -> Verdict {
        Verdict {
            outcome: outcome.into(),
            alerted: false,
            paused_until: 0,
        }
    }

    #[test]
    fn a_verdict_needs_a_decision_by_its_own_host_and_is_shown_to_named_devices() {
        let c = Challenges::new(10, 10);
        c.insert(challenge("a", "alice", 60)).unwrap();
        assert_eq!(
            c.set_verdict("a", "web1", verdict("approved")),
            Err(VerdictError::NotDecided)
        );
        c.decide("a", decision("d1")).unwrap();
        assert_eq!(c.verdict_for("a", Some("web1"), "alice", "d1"), Some(None));
        assert_eq!(
            c.set_verdict("a", "web2", verdict("approved")),
            Err(VerdictError::NotFound)
        );
        c.set_verdict("a", "web1", verdict("number_mismatch"))
            .unwrap();
        // Idempotent, but not to be changed.
        c.set_verdict("a", "web1", verdict("number_mismatch"))
            .unwrap();
        assert_eq!(
            c.set_verdict("a", "web1", verdict("approved")),
            Err(VerdictError::Conflict)
        );
        assert_eq!(
            c.verdict_for("a", Some("web1"), "alice", "d1"),
            Some(Some(verdict("number_mismatch")))
        );
        assert_eq!(c.verdict_for("a", Some("web1"), "alice", "d9"), None);
        assert_eq!(c.verdict_for("a", Some("web1"), "bob", "d1"), None);
        assert_eq!(c.verdict_for("a", Some("web2"), "alice", "d1"), None);
        assert_eq!(
            c.set_verdict("zz", "web1", verdict("approved")),
            Err(VerdictError::NotFound)
        );
    }

    #[test]
    fn a_decided_challenge_keeps_its_verdict_past_expiry_outside_the_quota() {
        let c = Challenges::new(10, 1);
        c.insert(challenge("a", "alice", 1)).unwrap();
        c.decide("a", decision("d1")).unwrap();
        // Expire it by hand: the deadline is in the past, within the grace.
        {
            let mut inner = c.lock();
            let e = inner.by_id.get("a").cloned().unwrap();
            let expired = Arc::new(Entry {
                challenge: e.challenge.clone(),
                deadline: Instant::now() - Duration::from_secs(1),
                status: watch::channel(e.status.borrow().clone()).0,
                verdict: Mutex::new(None),
            });
            inner.by_id.insert("a".into(), expired);
        }
        c.sweep();
        assert!(c.get("a").is_none());
        // The host's room is back, and the verdict still lands.
        c.insert(challenge("b", "bob", 60)).unwrap();
        c.set_verdict("a", "web1", verdict("approved")).unwrap();
        assert_eq!(
            c.verdict_for("a", Some("web1"), "alice", "d1"),
            Some(Some(verdict("approved")))
        );
        // An undecided expired one is simply gone.
        assert!(c.withdraw("b", "web1"));
        c.insert(challenge("x", "carol", 0)).unwrap();
        c.sweep();
        assert_eq!(c.verdict_for("x", Some("web1"), "carol", "d1"), None);
    }

    #[test]
    fn pending_is_listed_only_for_named_devices() {
        let c = Challenges::new(10, 10);
        c.insert(challenge("a", "alice", 60)).unwrap();
        assert_eq!(c.pending_for(Some("web1"), "alice", "d1").len(), 1);
        assert!(c.pending_for(Some("web1"), "alice", "d9").is_empty());
        assert!(c.pending_for(Some("web2"), "alice", "d1").is_empty());
        // Fleet mode: any host's challenge for the user, still only for named devices.
        assert_eq!(c.pending_for(None, "alice", "d1").len(), 1);
        assert!(c.pending_for(None, "alice", "d9").is_empty());
        assert!(c.pending_for(None, "bob", "d1").is_empty());
    }
}
