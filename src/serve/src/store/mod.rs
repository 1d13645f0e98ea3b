//! Everything the service keeps, behind one interface with two backends: SQLite (one
//! instance; the default) and PostgreSQL (several instances on one database). Handlers call
//! [`Store`]'s async methods and never see SQL; each backend's module holds its statements and
//! `migrations.rs` the schema of both.
#![forbid(unsafe_code)]

pub mod migrations;
pub mod postgres;
pub mod sqlite;

use postgres::Postgres;
use serde::{Deserialize, Serialize};
use sqlite::Sqlite;
use std::path::Path;
pub use twofold_core::fleet::envelope::SealedRecord;

/// What can go wrong with the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open {
        path: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("a host named {0:?} exists already (remove it first with --remove-host)")]
    HostExists(String),
    #[error("database access failed: {0}")]
    Task(String),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("PostgreSQL connection pool: {0}")]
    Pool(String),
}

/// A registered host, as host authentication needs it.
#[derive(Debug, Clone)]
pub struct HostRow {
    pub name: String,
    pub token_sha256: Vec<u8>,
}

/// A pairing as the host sees it.
#[derive(Debug, Clone)]
pub struct PairingRow {
    pub host: String,
    pub user: String,
    pub expires: u64,
    /// Set once the phone completed the pairing.
    pub completed: Option<CompletedPairing>,
}

/// What the phone sent when it completed a pairing.
#[derive(Debug, Clone)]
pub struct CompletedPairing {
    pub device_id: String,
    pub public_key: Vec<u8>,
    pub proof: String,
    pub device_name: String,
}

/// A device (phone page key) registered through a pairing.
#[derive(Debug, Clone)]
pub struct DeviceRow {
    pub device_id: String,
    pub host: String,
    pub user: String,
    pub public_key: Vec<u8>,
    pub removed: bool,
    /// The Web Push subscription as JSON, if the phone gave one.
    pub push_subscription: Option<String>,
}

/// Outcome of completing a pairing.
#[derive(Debug, PartialEq, Eq)]
pub enum Completion {
    Done,
    Unknown,
    AlreadyCompleted,
    /// The user has as many active devices through this host as one user may.
    TooManyDevices,
    /// The host has as many active devices as one host may.
    HostDevicesFull,
}

/// Active devices one host may register for one user (a challenge names at most 16).
pub const MAX_DEVICES_PER_USER: i64 = 16;

/// Active devices one host may have in all (a host names its users itself, so the per-user
/// limit alone would not bound it).
pub const MAX_DEVICES_PER_HOST: i64 = 100_000;

/// The host of an open pairing and its completion key (`None` for a pairing opened before
/// completion keys existed).
pub type PairingKey = (String, Option<Vec<u8>>);

/// A user's fleet claims: what a host needs to decide once-only and lockout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Claims {
    pub last_step: u64,
    pub failures: u32,
    pub locked_until: u64,
    /// Ids of the recovery codes used (never the codes).
    pub used_recovery: Vec<String>,
}

/// One claim of a sign-in (docs/fleet.md, "The service").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Claim {
    /// Accepted iff the last accepted step is below `step` (which then becomes it).
    Totp { step: u64 },
    /// Accepted iff `code_id` was not used before.
    Recovery { code_id: String },
    /// One more failure; at `lock_after` failures the user is locked until `now + lock_seconds`.
    Failure {
        lock_after: u32,
        lock_seconds: u64,
        now: u64,
    },
    /// A sign-in succeeded: failures back to 0.
    Success,
}

/// Outcome of a compare-and-swap upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// Stored; the new version.
    Stored(u64),
    /// The stored version was another one (0: no record).
    Conflict(u64),
}

/// Outcome of deleting a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    /// The stored version is another one.
    Conflict(u64),
    Missing,
}

/// A user in the fleet list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetUserRow {
    pub user: String,
    pub version: u64,
    pub key_id: String,
    pub updated_at: u64,
    pub failures: u32,
    pub locked_until: u64,
    /// The host that sealed this version said it is a deletion (a tombstone). Only the list
    /// uses it: a host opens the sealed record and believes that alone.
    pub deleted: bool,
}

/// Database values are signed 64-bit; ours are unsigned (checked at the API to fit).
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Where the data lives.
#[derive(Clone)]
enum Backend {
    Sqlite(Sqlite),
    Postgres(Postgres),
}

/// The service's storage (cheap to clone; every clone uses the same database).
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

// PostgreSQL calls are boxed: their futures are large, and a long-poll's task would otherwise
// carry that size for as long as it waits.

/// Runs a SQLite call on a blocking thread so a slow disk never stalls the event loop.
macro_rules! on_sqlite {
    ($db:expr, |$c:ident| $body:expr) => {{
        let db = $db.clone();
        tokio::task::spawn_blocking(move || db.with(|$c| $body))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }};
}

impl Store {
    /// Opens (creating and migrating) the SQLite database at `path`.
    pub fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Sqlite(Sqlite::open(path)?),
        })
    }

    /// Connects to PostgreSQL (`conninfo`: a URL or key=value string) and migrates it; with
    /// `sslmode=require`, over TLS to a server whose certificate chains to `ca_file` (else to
    /// the system's CA bundle) and names the host.
    pub async fn open_postgres(
        conninfo: &str,
        ca_file: Option<&Path>,
    ) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Postgres(Postgres::open(conninfo, ca_file).await?),
        })
    }

    /// The PostgreSQL backend, when that is where the data lives (several instances).
    pub fn postgres(&self) -> Option<&Postgres> {
        match &self.backend {
            Backend::Postgres(db) => Some(db),
            Backend::Sqlite(_) => None,
        }
    }

    /// The host whose token has the SHA-256 `digest`, if any: one row, by the index on the
    /// (UNIQUE) stored digest.
    pub async fn host_by_token_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<HostRow>, StoreError> {
        let digest = *digest;
        match &self.backend {
            Backend::Sqlite(db) => on_sqlite!(db, |c| sqlite::host_by_token_digest(c, &digest)),
            Backend::Postgres(db) => Box::pin(db.host_by_token_digest(&digest)).await,
        }
    }

    /// Registers a host by the SHA-256 of its token.
    pub async fn add_host(&self, name: &str, digest: &[u8], now: u64) -> Result<(), StoreError> {
        let (name, digest) = (name.to_string(), digest.to_vec());
        match &self.backend {
            Backend::Sqlite(db) => on_sqlite!(db, |c| sqlite::add_host(c, &name, &digest, now)),
            Backend::Postgres(db) => Box::pin(db.add_host(&name, &digest, now)).await,
        }
    }

    /// Removes a host, its open pairings and (marking them removed) its devices. False if unknown.
    pub async fn remove_host(&self, name: &str, now: u64) -> Result<bool, StoreError> {
        let name = name.to_string();
        match &self.backend {
            Backend::Sqlite(db) => on_sqlite!(db, |c| sqlite::remove_host(c, &name, now)),
            Backend::Postgres(db) => Box::pin(db.remove_host(&name, now)).await,
        }
    }

    /// Records a new pairing unless the host has `max_open` open ones already (false then).
    pub async fn create_pairing(
        &self,
        id: &str,
        host: &str,
        user: &str,
        (created, expires): (u64, u64),
        completion_key: &[u8],
        max_open: u64,
    ) -> Result<bool, StoreError> {
        let (id, host, user, key) = (
            id.to_string(),
            host.to_string(),
            user.to_string(),
            completion_key.to_vec(),
        );
        match &self.backend {
            Backend::Sqlite(db) => on_sqlite!(db, |c| {
                if sqlite::open_pairings(c, &host, created)? >= max_open {
                    return Ok(false);
                }
                sqlite::create_pairing(c, &id, &host, &user, (created, expires), &key)?;
                Ok(true)
            }),
            Backend::Postgres(db) => {
                Box::pin(db.create_pairing(&id, &host, &user, (created, expires), &key, max_open))
                    .await
            }
        }
    }

    /// An open pairing's host and completion key: `None` if unknown or expired.
    pub async fn pairing_completion_key(
        &self,
        id: &str,
        now: u64,
    ) -> Result<Option<PairingKey>, StoreError> {
        let id = id.to_string();
        match &self.backend {
            Backend::Sqlite(db) => on_sqlite!(db, |c| sqlite::pairing_completion_key(c, &id, now)),
            Backend::Postgres(db) => Box::pin(db.pairing_completion_key(&id, now)).await,
        }
    }

    /// A pairing that has not expired at `now`.
    pub async fn pairing(&self, id: &str, now: u64) -> Result<Option<PairingRow>, StoreError> {
        let id = id.to_string();
        match &self.backend {
            Backend::Sqlite(db) => on_sqlite!(db, |c| sqlite::pairing(c, &id, now)),
            Backend::Postgres(db) => Box::pin(db.pairing(&id, now)).await,
        }
    }

    /// Completes an open pairing with a new device, in one transaction.
    pub async fn complete_pairing(
        &self,
        id: &str,
        done: CompletedPairing,
        push_subscription: Option<String>,
        now: u64,
    ) -> Result<Completion, StoreError> {
        let id = id.to_string();
        match &self.backend {
            Backend::Sqlite(db) => on_sqlite!(db, |c| sqlite::complete_pairing(
                c,
                &id,
                &done,
                push_subscription.as_deref(),
                now
            )),
            Backend::Postgres(db) => {
                Box::pin(db.complete_pairing(&id, &done, push_subscription.as_deref(), now)).await
            }
        }
    }

    /// One device, removed or not.
    pub async fn device(&self, device_id: &str) -> Result<Option<DeviceRow>, StoreError> {
        let id = device_id.to_string();
        match &self.backend {
            Backend::Sqlite(db) => on_sqlite!(db, |c| sqlite::device(c, &id)),
            Backend::Postgres(db) => Box::pin(db.device(&id)).await,
        }
    }

    /// The active devices a challenge of `host` for `user` goes to: those that host paired,
    /// or in fleet mode (`host` = `None`) all of the user's.
    pub async fn devices_for(
        &self,
        host: Option<&str>,
        user: &str,
    ) -> Result<Vec<DeviceRow>, StoreError> {
        let (host, user) = (host.map(str::to_string), user.to_string());
        match &self.backend {
            Backend::Sqlite(db) => on_sqlite!(db, |c| match &host {
                Some(h) => sqlite::devices_of(c, h, &user),
                None => sqlite::devices_of_user(c, &user),
            }),
            Backend::Postgres(db) => Box::pin(db.devices_for(host.as_deref(), &user)).await,
        }
    }

    /// Moves a device's request counter up to `counter`: false for a replayed request.
    pub async fn claim_counter(&self, device_id: &str, counter: u64) -> Result<bool, StoreError> {
        let id = device_id.to_string();
        match &self.backend {
            Backend::Sqlite(db) => on_sqlite!(db, |c| sqlite::claim_counter(c, &id, counter)),
            Backend::Postgres(db) => Box::pin(db.claim_counter(&id, counter)).await,
        }
    }

    /// Replaces (or with `None` clears) a device's Web Push subscription.
    pub async fn set_subscription(
        &self,
        device_id: &str,
        json: Option<String>,
    ) -> Result<(), StoreError> {
        let id = device_id.to_string();
        match &self.backend {
            Backend::Sqlite(db) => {
                on_sqlite!(db, |c| sqlite::set_subscription(c, &id, json.as_deref()))
            }
            Backend::Postgres(db) => Box::pin(db.set_subscription(&id, json.as_deref())).await,
        }
    }

    /// Marks a device removed: one `host` paired, or in fleet mode (`None`) any. False if none.
    pub async fn remove_device(
        &self,
        host: Option<&str>,
        device_id: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        let (host, id) = (host.map(str::to_string), device_id.to_string());
        match &self.backend {
            Backend::Sqlite(db) => on_sqlite!(db, |c| match &host {
                Some(h) => sqlite::remove_device(c, h, &id, now),
                None => sqlite::remove_any_device(c, &id, now),
            }),
            Backend::Postgres(db) => Box::pin(db.remove_device(host.as_deref(), &id, now)).await,
        }
    }

    /// Forgets pairings that expired (their devices stay).
    pub async fn purge_pairings(&self, now: u64) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => on_sqlite!(db, |c| sqlite::purge_pairings(c, now)),
            Backend::Postgres(db) => Box::pin(db.purge_pairings(now)).await,
        }
    }

    /// A user's sealed record (if any) and claims.
    pub async fn fleet_user(
        &self,
        user: &str,
    ) -> Result<(Option<SealedRecord>, Claims), StoreError> {
        let user = user.to_string();
        match &self.backend {
            Backend::Sqlite(db) => on_sqlite!(db, |c| Ok((
                sqlite::fleet_record(c, &user)?,
                sqlite::fleet_claims(c, &user)?
            ))),
            Backend::Postgres(db) => Box::pin(db.fleet_user(&user)).await,
        }
    }

    /// Stores `record` if the stored version is `expected` (compare-and-swap); `deleted`: the
    /// host says it is a tombstone.
    pub async fn fleet_put(
        &self,
        expected: u64,
        record: SealedRecord,
        deleted: bool,
        now: u64,
    ) -> Result<PutOutcome, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => on_sqlite!(db, |c| sqlite::fleet_put(
                c, expected, &record, deleted, now
            )),
            Backend::Postgres(db) => Box::pin(db.fleet_put(expected, &record, deleted, now)).await,
        }
    }

    /// Deletes a user's record at `version` and its claims.
    pub async fn fleet_delete(
        &self,
        user: &str,
        version: u64,
    ) -> Result<DeleteOutcome, StoreError> {
        let user = user.to_string();
        match &self.backend {
            Backend::Sqlite(db) => on_sqlite!(db, |c| sqlite::fleet_delete(c, &user, version)),
            Backend::Postgres(db) => Box::pin(db.fleet_delete(&user, version)).await,
        }
    }

    /// Every user with a record.
    pub async fn fleet_users(&self) -> Result<Vec<FleetUserRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => on_sqlite!(db, |c| sqlite::fleet_users(c)),
            Backend::Postgres(db) => Box::pin(db.fleet_users()).await,
        }
    }

    /// Makes claims in order (one atomic statement each): accepted or not, and the claims after.
    pub async fn fleet_claims(
        &self,
        claims: Vec<(String, Claim)>,
    ) -> Result<Vec<(bool, Claims)>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => on_sqlite!(db, |c| claims
                .iter()
                .map(|(user, claim)| sqlite::fleet_claim(c, user, claim))
                .collect()),
            Backend::Postgres(db) => Box::pin(db.fleet_claims(&claims)).await,
        }
    }

    /// Clears a user's failures and lock.
    pub async fn fleet_unlock(&self, user: &str) -> Result<(), StoreError> {
        let user = user.to_string();
        match &self.backend {
            Backend::Sqlite(db) => on_sqlite!(db, |c| sqlite::fleet_unlock(c, &user)),
            Backend::Postgres(db) => Box::pin(db.fleet_unlock(&user)).await,
        }
    }
}
