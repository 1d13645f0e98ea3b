//! Pending challenges and their decisions, where the service keeps them: in memory for one
//! instance (SQLite; challenges.rs), or in PostgreSQL for several instances sharing one database,
//! where a decision posted to any instance wakes the host waiting on another (LISTEN/NOTIFY,
//! listener.rs). Handlers see only [`Pending`].
#![forbid(unsafe_code)]

mod listener;
mod shared;

use crate::challenges::{
    Challenge, Challenges, DecideError, Decision, InsertError, Status, Verdict, VerdictError,
};
use crate::store::{StoreError, postgres::Postgres};
pub use shared::SharedChallenges;
use std::sync::Arc;
use tokio::time::Instant;

/// How a wait for a decision ended.
#[derive(Debug)]
pub enum Waited {
    Decided(Decision),
    /// Expired, withdrawn, or unknown.
    Gone,
    /// The wait ended first; the challenge is still pending.
    TimedOut,
}

/// The challenges of this service.
pub enum Pending {
    Memory(Box<Challenges>),
    Shared(Arc<SharedChallenges>),
}

impl Pending {
    /// In memory (one instance).
    pub fn memory(max: usize, max_per_host: usize) -> Pending {
        Pending::Memory(Box::new(Challenges::new(max, max_per_host)))
    }

    /// In PostgreSQL, with this instance's listener for decisions made on other instances.
    pub fn shared(db: Postgres, max: usize, max_per_host: usize) -> Pending {
        let shared = Arc::new(SharedChallenges::new(db, max, max_per_host));
        tokio::spawn(listener::run(Arc::clone(&shared)));
        Pending::Shared(shared)
    }

    /// Adds a challenge unless its host has one pending for the user, the id is taken, or
    /// the service (or the host's share of it) is full.
    pub async fn insert(&self, c: Challenge) -> Result<Result<(), InsertError>, StoreError> {
        match self {
            Pending::Memory(m) => Ok(m.insert(c).map(|_| ())),
            Pending::Shared(s) => s.insert(&c).await,
        }
    }

    /// A challenge that has not expired.
    pub async fn get(&self, id: &str) -> Result<Option<Challenge>, StoreError> {
        match self {
            Pending::Memory(m) => Ok(m.get(id).map(|e| e.challenge.clone())),
            Pending::Shared(s) => s.get(id).await,
        }
    }

    /// Waits until `owner`'s challenge `id` is decided, is gone, or `until` passes (and at
    /// most until its expiry). `None`: no such challenge of this owner's.
    pub async fn wait(
        &self,
        id: &str,
        owner: &str,
        until: Instant,
    ) -> Result<Option<Waited>, StoreError> {
        match self {
            Pending::Memory(m) => {
                let Some(entry) = m.get(id).filter(|e| e.challenge.owner == owner) else {
                    return Ok(None);
                };
                let (status, deadline) = (entry.subscribe(), entry.deadline);
                // The waiter keeps its channel, not the challenge.
                drop(entry);
                Ok(Some(wait_on(status, until.min(deadline), deadline).await))
            }
            Pending::Shared(s) => s.wait(id, owner, until).await,
        }
    }

    /// Stores the first decision and wakes the waiters (on every instance).
    pub async fn decide(
        &self,
        id: &str,
        decision: Decision,
    ) -> Result<Result<(), DecideError>, StoreError> {
        match self {
            Pending::Memory(m) => Ok(m.decide(id, decision)),
            Pending::Shared(s) => s.decide(id, &decision).await,
        }
    }

    /// Stores the host's verdict on its own decided challenge.
    pub async fn set_verdict(
        &self,
        id: &str,
        owner: &str,
        verdict: Verdict,
    ) -> Result<Result<(), VerdictError>, StoreError> {
        match self {
            Pending::Memory(m) => Ok(m.set_verdict(id, owner, verdict)),
            Pending::Shared(s) => s.set_verdict(id, owner, &verdict).await,
        }
    }

    /// For a device the challenge named: `Some(None)` before the host's verdict.
    pub async fn verdict_for(
        &self,
        id: &str,
        owner: Option<&str>,
        user: &str,
        device_id: &str,
    ) -> Result<Option<Option<Verdict>>, StoreError> {
        match self {
            Pending::Memory(m) => Ok(m.verdict_for(id, owner, user, device_id)),
            Pending::Shared(s) => s.verdict_for(id, owner, user, device_id).await,
        }
    }

    /// Withdraws a host's own challenge; false if it has none with this id.
    pub async fn withdraw(&self, id: &str, owner: &str) -> Result<bool, StoreError> {
        match self {
            Pending::Memory(m) => Ok(m.withdraw(id, owner)),
            Pending::Shared(s) => s.withdraw(id, owner).await,
        }
    }

    /// The challenges waiting for `device_id` (see [`Challenges::pending_for`]).
    pub async fn pending_for(
        &self,
        owner: Option<&str>,
        user: &str,
        device_id: &str,
    ) -> Result<Vec<Challenge>, StoreError> {
        match self {
            Pending::Memory(m) => Ok(m.pending_for(owner, user, device_id)),
            Pending::Shared(s) => s.pending_for(owner, user, device_id).await,
        }
    }

    /// Drops expired challenges.
    pub async fn sweep(&self) -> Result<(), StoreError> {
        match self {
            Pending::Memory(m) => {
                m.sweep();
                Ok(())
            }
            Pending::Shared(s) => s.sweep().await,
        }
    }

    /// How many challenges are held (for the log).
    pub async fn held(&self) -> Result<usize, StoreError> {
        match self {
            Pending::Memory(m) => Ok(m.len()),
            Pending::Shared(s) => s.held().await,
        }
    }
}

/// Waits on a status channel until it leaves `Pending` or `until`; `deadline` is the expiry.
async fn wait_on(
    mut status: tokio::sync::watch::Receiver<Status>,
    until: Instant,
    deadline: Instant,
) -> Waited {
    let settled = tokio::time::timeout_at(until, async {
        status
            .wait_for(|s| *s != Status::Pending)
            .await
            .map(|s| s.clone())
    })
    .await;
    match settled {
        Ok(Ok(Status::Decided(decision))) => Waited::Decided(decision.as_ref().clone()),
        Ok(Ok(Status::Withdrawn | Status::Pending)) | Ok(Err(_)) => Waited::Gone,
        Err(_) if Instant::now() >= deadline => Waited::Gone,
        Err(_) => Waited::TimedOut,
    }
}
