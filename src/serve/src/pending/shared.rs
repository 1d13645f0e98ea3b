//! Pending challenges in PostgreSQL, shared by every instance on the database. Quotas are
//! counted in the database (per host under a per-host advisory lock, so racing instances
//! cannot both take the last slot); the first decision wins by one conditional UPDATE, which
//! also sends `NOTIFY twofold_decision, '<id>'` when it commits. Each instance keeps, in memory,
//! only the status channels of the challenges its own hosts wait for.
#![forbid(unsafe_code)]

use super::{Waited, wait_on};
use crate::challenges::{
    Challenge, DecideError, Decision, InsertError, Status, VERDICT_GRACE, Verdict, VerdictError,
    deadline_of,
};
use crate::store::postgres::Postgres;
use crate::store::{StoreError, to_i64, to_u64};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::time::Instant;

/// The channel decisions are announced on; the payload is the challenge id.
pub const CHANNEL: &str = "twofold_decision";

/// Challenges in the database, and this instance's waiters.
pub struct SharedChallenges {
    db: Postgres,
    max: usize,
    max_per_host: usize,
    /// Challenge id → the status its waiters on this instance watch.
    waiters: Mutex<HashMap<String, watch::Sender<Status>>>,
}

const COLUMNS: &str =
    "id, owner, user_name, nonce, host, service, rhost, created, expires, device_ids";

fn challenge_from_row(r: &tokio_postgres::Row) -> Challenge {
    let device_ids: String = r.get(9);
    Challenge {
        id: r.get(0),
        owner: r.get(1),
        user: r.get(2),
        nonce: r.get(3),
        host: r.get(4),
        service: r.get(5),
        rhost: r.get(6),
        created: to_u64(r.get(7)),
        expires: to_u64(r.get(8)),
        device_ids: serde_json::from_str(&device_ids).unwrap_or_default(),
    }
}

fn now() -> i64 {
    to_i64(crate::unix_now())
}

fn grace() -> i64 {
    VERDICT_GRACE.as_secs() as i64
}

/// A status as stored (`status`, `decision` JSON).
fn status_of(status: &str, decision: Option<&str>) -> Status {
    match (
        status,
        decision.and_then(|d| serde_json::from_str::<Decision>(d).ok()),
    ) {
        ("decided", Some(d)) => Status::Decided(Arc::new(d)),
        ("pending", _) => Status::Pending,
        _ => Status::Withdrawn,
    }
}

impl SharedChallenges {
    pub fn new(db: Postgres, max: usize, max_per_host: usize) -> SharedChallenges {
        SharedChallenges {
            db,
            max,
            max_per_host,
            waiters: Mutex::new(HashMap::new()),
        }
    }

    /// The database (for the listener's own connection).
    pub fn db(&self) -> &Postgres {
        &self.db
    }

    pub async fn insert(&self, c: &Challenge) -> Result<Result<(), InsertError>, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction().await?;
        let now = now();
        // One host's inserts queue here, on every instance: its count cannot be overrun.
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&c.owner])
            .await?;
        // Expired ones do not block: an undecided one is gone, a decided one is kept for
        // its verdict unless its id is being reused.
        tx.execute(
            "DELETE FROM challenges
             WHERE ((owner = $1 AND user_name = $2 AND status = 'pending') OR id = $3)
               AND expires <= $4",
            &[&c.owner, &c.user, &c.id, &now],
        )
        .await?;
        let user_pending = tx
            .query_opt(
                "SELECT 1 FROM challenges WHERE owner = $1 AND user_name = $2 AND status = 'pending'",
                &[&c.owner, &c.user],
            )
            .await?
            .is_some();
        if user_pending {
            return Ok(Err(InsertError::UserPending));
        }
        let held: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM challenges WHERE owner = $1 AND expires > $2",
                &[&c.owner, &now],
            )
            .await?
            .get(0);
        if held >= self.max_per_host as i64 {
            return Ok(Err(InsertError::HostFull));
        }
        let all: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM challenges WHERE expires > $1",
                &[&now],
            )
            .await?
            .get(0);
        if all >= self.max as i64 {
            return Ok(Err(InsertError::Full));
        }
        let device_ids =
            serde_json::to_string(&c.device_ids).map_err(|e| StoreError::Task(e.to_string()))?;
        let n = tx
            .execute(
                &format!(
                    "INSERT INTO challenges ({COLUMNS}, status)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending')
                     ON CONFLICT DO NOTHING"
                ),
                &[
                    &c.id,
                    &c.owner,
                    &c.user,
                    &c.nonce,
                    &c.host,
                    &c.service,
                    &c.rhost,
                    &to_i64(c.created),
                    &to_i64(c.expires),
                    &device_ids,
                ],
            )
            .await?;
        if n == 0 {
            let taken = tx
                .query_opt("SELECT 1 FROM challenges WHERE id = $1", &[&c.id])
                .await?
                .is_some();
            return Ok(Err(if taken {
                InsertError::DuplicateId
            } else {
                InsertError::UserPending
            }));
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    pub async fn get(&self, id: &str) -> Result<Option<Challenge>, StoreError> {
        let c = self.db.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM challenges WHERE id = $1 AND expires > $2 AND status <> 'withdrawn'"
            ))
            .await?;
        Ok(c.query_opt(&stmt, &[&id, &now()])
            .await?
            .map(|r| challenge_from_row(&r)))
    }

    /// The status of a challenge now (`None`: gone).
    async fn status(&self, id: &str) -> Result<Option<Status>, StoreError> {
        let c = self.db.client().await?;
        let stmt = c
            .prepare_cached("SELECT status, decision FROM challenges WHERE id = $1")
            .await?;
        Ok(c.query_opt(&stmt, &[&id])
            .await?
            .map(|r| status_of(r.get(0), r.get::<_, Option<&str>>(1))))
    }

    pub async fn wait(
        &self,
        id: &str,
        owner: &str,
        until: Instant,
    ) -> Result<Option<Waited>, StoreError> {
        // Boxed: the task keeps this function's state while it waits; the queries' futures are
        // large and only needed before the wait. Of the challenge only its expiry is kept.
        let expires = match Box::pin(self.get(id)).await? {
            Some(c) if c.owner == owner => c.expires,
            _ => return Ok(None),
        };
        let deadline = deadline_of(expires);
        // Watch first, then look: a decision between the look and the wait is not missed.
        let watching = self.watch(id);
        let now = Box::pin(self.status(id))
            .await?
            .unwrap_or(Status::Withdrawn);
        if now != Status::Pending {
            watching.sender.send_replace(now);
        }
        let status = watching.receiver.clone();
        Ok(Some(wait_on(status, until.min(deadline), deadline).await))
    }

    /// This instance's status channel for `id`, dropped from the map with its last waiter.
    fn watch(&self, id: &str) -> Watching<'_> {
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        let sender = waiters
            .entry(id.to_string())
            .or_insert_with(|| watch::channel(Status::Pending).0)
            .clone();
        Watching {
            receiver: sender.subscribe(),
            sender,
            id: id.to_string(),
            owner: self,
        }
    }

    /// Called by the listener for a notification: wakes this instance's waiters of `id`.
    pub async fn refresh(&self, id: &str) -> Result<(), StoreError> {
        let sender = {
            let waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            waiters.get(id).cloned()
        };
        if let Some(sender) = sender {
            let status = self.status(id).await?.unwrap_or(Status::Withdrawn);
            if status != Status::Pending {
                sender.send_replace(status);
            }
        }
        Ok(())
    }

    /// After the listener (re)connected: notifications sent meanwhile are lost, so every
    /// challenge this instance has waiters for is read again.
    pub async fn refresh_all(&self) -> Result<usize, StoreError> {
        let ids: Vec<String> = {
            let waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            waiters.keys().cloned().collect()
        };
        for id in &ids {
            self.refresh(id).await?;
        }
        Ok(ids.len())
    }

    pub async fn decide(
        &self,
        id: &str,
        decision: &Decision,
    ) -> Result<Result<(), DecideError>, StoreError> {
        let c = self.db.client().await?;
        let json = serde_json::to_string(decision).map_err(|e| StoreError::Task(e.to_string()))?;
        // One statement: the first decision wins, and its NOTIFY leaves at its commit.
        let stmt = c
            .prepare_cached(&format!(
                "WITH d AS (
                     UPDATE challenges SET status = 'decided', decision = $2
                     WHERE id = $1 AND status = 'pending' AND expires > $3
                     RETURNING id
                 )
                 SELECT pg_notify('{CHANNEL}', id) FROM d"
            ))
            .await?;
        if c.query_opt(&stmt, &[&id, &json, &now()]).await?.is_some() {
            return Ok(Ok(()));
        }
        let live = c
            .query_opt(
                "SELECT 1 FROM challenges WHERE id = $1 AND expires > $2",
                &[&id, &now()],
            )
            .await?
            .is_some();
        Ok(Err(if live {
            DecideError::AlreadyDecided
        } else {
            DecideError::NotFound
        }))
    }

    pub async fn set_verdict(
        &self,
        id: &str,
        owner: &str,
        verdict: &Verdict,
    ) -> Result<Result<(), VerdictError>, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "SELECT status, verdict FROM challenges
                 WHERE id = $1 AND owner = $2 AND expires + $3 > $4 FOR UPDATE",
                &[&id, &owner, &grace(), &now()],
            )
            .await?;
        let Some(row) = row else {
            return Ok(Err(VerdictError::NotFound));
        };
        if row.get::<_, &str>(0) != "decided" {
            return Ok(Err(VerdictError::NotDecided));
        }
        if let Some(old) = row.get::<_, Option<&str>>(1) {
            let same = serde_json::from_str::<Verdict>(old).is_ok_and(|o| o == *verdict);
            return Ok(if same {
                Ok(())
            } else {
                Err(VerdictError::Conflict)
            });
        }
        let json = serde_json::to_string(verdict).map_err(|e| StoreError::Task(e.to_string()))?;
        tx.execute(
            "UPDATE challenges SET verdict = $2 WHERE id = $1",
            &[&id, &json],
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    pub async fn verdict_for(
        &self,
        id: &str,
        owner: Option<&str>,
        user: &str,
        device_id: &str,
    ) -> Result<Option<Option<Verdict>>, StoreError> {
        let c = self.db.client().await?;
        let row = c
            .query_opt(
                &format!(
                    "SELECT {COLUMNS}, status, verdict FROM challenges
                     WHERE id = $1 AND expires + $2 > $3 AND status = 'decided'"
                ),
                &[&id, &grace(), &now()],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let ch = challenge_from_row(&row);
        let ours = owner.is_none_or(|o| ch.owner == o)
            && ch.user == user
            && ch.device_ids.iter().any(|d| d == device_id);
        if !ours {
            return Ok(None);
        }
        let verdict = row
            .get::<_, Option<&str>>(11)
            .and_then(|v| serde_json::from_str(v).ok());
        Ok(Some(verdict))
    }

    pub async fn withdraw(&self, id: &str, owner: &str) -> Result<bool, StoreError> {
        let c = self.db.client().await?;
        let row = c
            .query_opt(
                &format!(
                    "WITH w AS (
                         DELETE FROM challenges WHERE id = $1 AND owner = $2 AND expires > $3
                         RETURNING id
                     )
                     SELECT pg_notify('{CHANNEL}', id) FROM w"
                ),
                &[&id, &owner, &now()],
            )
            .await?;
        Ok(row.is_some())
    }

    pub async fn pending_for(
        &self,
        owner: Option<&str>,
        user: &str,
        device_id: &str,
    ) -> Result<Vec<Challenge>, StoreError> {
        let c = self.db.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM challenges
                 WHERE user_name = $1 AND ($2::TEXT IS NULL OR owner = $2)
                   AND status = 'pending' AND expires > $3"
            ))
            .await?;
        Ok(c.query(&stmt, &[&user, &owner, &now()])
            .await?
            .iter()
            .map(challenge_from_row)
            .filter(|ch| ch.device_ids.iter().any(|d| d == device_id))
            .collect())
    }

    pub async fn sweep(&self) -> Result<(), StoreError> {
        let c = self.db.client().await?;
        c.execute(
            "DELETE FROM challenges
             WHERE (status <> 'decided' AND expires <= $1) OR expires + $2 <= $1",
            &[&now(), &grace()],
        )
        .await?;
        Ok(())
    }

    pub async fn held(&self) -> Result<usize, StoreError> {
        let c = self.db.client().await?;
        let n: i64 = c
            .query_one(
                "SELECT COUNT(*) FROM challenges WHERE expires > $1",
                &[&now()],
            )
            .await?
            .get(0);
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// How many challenges this instance has waiters for (tests, the benchmark).
    pub fn watched(&self) -> usize {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// One waiter's hold on a status channel; the last one out removes it from the map.
struct Watching<'a> {
    sender: watch::Sender<Status>,
    receiver: watch::Receiver<Status>,
    id: String,
    owner: &'a SharedChallenges,
}

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        let mut waiters = self.owner.waiters.lock().unwrap_or_else(|p| p.into_inner());
        // Ours and the map's: no other waiter holds it.
        if self.sender.receiver_count() <= 1 {
            waiters.remove(&self.id);
        }
    }
}
