//! The PostgreSQL backend: the same tables as SQLite (`migrations.rs`), on a connection pool,
//! so several service instances can share one database. Every claim is one statement; a
//! compare-and-swap is one statement; PostgreSQL's row locks make racing ones wait and then
//! re-check their condition, so exactly one wins.
#![forbid(unsafe_code)]

use super::migrations::{Migration, POSTGRES as MIGRATIONS};
use super::*;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::time::Duration;
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Connections one instance keeps to the database at most.
const POOL_SIZE: usize = 16;

/// How long a request waits for a free connection, or for a new one to be made.
const POOL_TIMEOUT: Duration = Duration::from_secs(5);

/// Any number; instances starting together take this advisory lock to migrate one at a time.
const MIGRATION_LOCK: i64 = 0x7477_6f66_6f6c_6401; // "twofold" + 1

/// The pool (cheap to clone).
#[derive(Clone)]
pub struct Postgres {
    pool: Pool,
    /// The parsed connection settings, for connections outside the pool (LISTEN).
    config: std::sync::Arc<tokio_postgres::Config>,
    /// TLS to the server (`sslmode=require`); `None`: plain, as `disable` and `prefer` get.
    tls: Option<MakeRustlsConnect>,
}

/// The error and its causes ("error performing TLS handshake: invalid peer certificate: …").
fn pool_error(e: impl std::error::Error) -> StoreError {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    StoreError::Pool(text)
}

impl Postgres {
    /// Connects (checking that the database answers) and applies missing migrations.
    /// `sslmode=require` in `conninfo` means TLS with the server's certificate verified against
    /// `ca_file` (else the system's CA bundle) and the host name; `disable` and `prefer` (the
    /// default) connect in plain, e.g. over a unix socket.
    pub async fn open(conninfo: &str, ca_file: Option<&Path>) -> Result<Postgres, StoreError> {
        let open_error = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            path: "PostgreSQL".into(),
            source: e,
        };
        let config: tokio_postgres::Config =
            conninfo.parse().map_err(|e| open_error(Box::new(e)))?;
        let tls = match (config.get_ssl_mode(), ca_file) {
            (SslMode::Require, _) => {
                let roots = twofold_core::push::tls::client_config(ca_file)
                    .map_err(|e| open_error(format!("TLS to PostgreSQL: {e}").into()))?;
                Some(MakeRustlsConnect::new((*roots).clone()))
            }
            (_, Some(_)) => {
                return Err(open_error(
                    "database_ca_file is set, but database does not ask for TLS (sslmode=require)"
                        .into(),
                ));
            }
            _ => None,
        };
        let manager_config = || ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &tls {
            Some(tls) => Manager::from_config(config.clone(), tls.clone(), manager_config()),
            None => Manager::from_config(config.clone(), NoTls, manager_config()),
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .build()
            .map_err(pool_error)?;
        let db = Postgres {
            pool,
            config: std::sync::Arc::new(config),
            tls,
        };
        db.migrate().await.map_err(|e| StoreError::Open {
            path: "PostgreSQL".into(),
            source: Box::new(e),
        })?;
        Ok(db)
    }

    /// The connection settings (for a dedicated connection).
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// TLS for a dedicated connection, as the pool's (`None`: plain).
    pub fn tls(&self) -> Option<&MakeRustlsConnect> {
        self.tls.as_ref()
    }

    /// A pooled connection.
    pub async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        // One instance at a time; the others wait here, then find nothing left to do.
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let result = async {
            client
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (
                         version BIGINT PRIMARY KEY,
                         applied BIGINT NOT NULL
                     )",
                )
                .await?;
            for m in MIGRATIONS {
                apply(&mut client, m).await?;
            }
            Ok::<(), StoreError>(())
        }
        .await;
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await?;
        result
    }

    pub async fn host_by_token_digest(&self, digest: &[u8]) -> Result<Option<HostRow>, StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT name, token_sha256 FROM hosts WHERE token_sha256 = $1")
            .await?;
        Ok(c.query_opt(&stmt, &[&digest]).await?.map(|r| HostRow {
            name: r.get(0),
            token_sha256: r.get(1),
        }))
    }

    pub async fn add_host(&self, name: &str, digest: &[u8], now: u64) -> Result<(), StoreError> {
        let c = self.client().await?;
        let n = c
            .execute(
                "INSERT INTO hosts (name, token_sha256, added) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &digest, &to_i64(now)],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::HostExists(name.into()));
        }
        Ok(())
    }

    pub async fn remove_host(&self, name: &str, now: u64) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let removed = tx
            .execute("DELETE FROM hosts WHERE name = $1", &[&name])
            .await?;
        tx.execute("DELETE FROM pairings WHERE host = $1", &[&name])
            .await?;
        tx.execute(
            "UPDATE devices SET removed = $2, push_subscription = NULL
             WHERE host = $1 AND removed IS NULL",
            &[&name, &to_i64(now)],
        )
        .await?;
        tx.commit().await?;
        Ok(removed > 0)
    }

    pub async fn create_pairing(
        &self,
        id: &str,
        host: &str,
        user: &str,
        (created, expires): (u64, u64),
        completion_key: &[u8],
        max_open: u64,
    ) -> Result<bool, StoreError> {
        // One statement: the count and the insert cannot be split by another instance's insert
        // of the same host beyond a few (the count is a bound against abuse, not an invariant).
        let c = self.client().await?;
        let n = c
            .execute(
                "INSERT INTO pairings (id, host, user_name, created, expires, completion_key)
                 SELECT $1, $2, $3, $4, $5, $6
                 WHERE (SELECT COUNT(*) FROM pairings WHERE host = $2 AND expires > $4) < $7",
                &[
                    &id,
                    &host,
                    &user,
                    &to_i64(created),
                    &to_i64(expires),
                    &completion_key,
                    &to_i64(max_open),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    pub async fn pairing_completion_key(
        &self,
        id: &str,
        now: u64,
    ) -> Result<Option<PairingKey>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT host, completion_key FROM pairings WHERE id = $1 AND expires > $2",
                &[&id, &to_i64(now)],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    pub async fn pairing(&self, id: &str, now: u64) -> Result<Option<PairingRow>, StoreError> {
        let c = self.client().await?;
        pairing_on(&c, id, now).await
    }

    pub async fn complete_pairing(
        &self,
        id: &str,
        done: &CompletedPairing,
        push_subscription: Option<&str>,
        now: u64,
    ) -> Result<Completion, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // Lock the pairing row: two completions of one pairing serialise here.
        let locked = tx
            .query_opt(
                "SELECT 1 FROM pairings WHERE id = $1 AND expires > $2 FOR UPDATE",
                &[&id, &to_i64(now)],
            )
            .await?;
        if locked.is_none() {
            return Ok(Completion::Unknown);
        }
        let Some(open) = pairing_on(&tx, id, now).await? else {
            return Ok(Completion::Unknown);
        };
        if open.completed.is_some() {
            return Ok(Completion::AlreadyCompleted);
        }
        let active: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM devices WHERE host = $1 AND user_name = $2 AND removed IS NULL",
                &[&open.host, &open.user],
            )
            .await?
            .get(0);
        if active >= MAX_DEVICES_PER_USER {
            return Ok(Completion::TooManyDevices);
        }
        let of_host: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM devices WHERE host = $1 AND removed IS NULL",
                &[&open.host],
            )
            .await?
            .get(0);
        if of_host >= MAX_DEVICES_PER_HOST {
            return Ok(Completion::HostDevicesFull);
        }
        tx.execute(
            "INSERT INTO devices (device_id, host, user_name, public_key, name, added, push_subscription)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &done.device_id,
                &open.host,
                &open.user,
                &done.public_key,
                &done.device_name,
                &to_i64(now),
                &push_subscription,
            ],
        )
        .await?;
        tx.execute(
            "UPDATE pairings SET device_id = $2, proof = $3 WHERE id = $1",
            &[&id, &done.device_id, &done.proof],
        )
        .await?;
        tx.commit().await?;
        Ok(Completion::Done)
    }

    pub async fn device(&self, device_id: &str) -> Result<Option<DeviceRow>, StoreError> {
        let c = self.client().await?;
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE device_id = $1");
        let stmt = c.prepare_cached(&sql).await?;
        Ok(c.query_opt(&stmt, &[&device_id])
            .await?
            .map(|r| device_from_row(&r)))
    }

    pub async fn devices_for(
        &self,
        host: Option<&str>,
        user: &str,
    ) -> Result<Vec<DeviceRow>, StoreError> {
        let c = self.client().await?;
        let rows = match host {
            Some(h) => {
                let sql = format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices
                     WHERE host = $1 AND user_name = $2 AND removed IS NULL"
                );
                let stmt = c.prepare_cached(&sql).await?;
                c.query(&stmt, &[&h, &user]).await?
            }
            None => {
                let sql = format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices WHERE user_name = $1 AND removed IS NULL"
                );
                let stmt = c.prepare_cached(&sql).await?;
                c.query(&stmt, &[&user]).await?
            }
        };
        Ok(rows.iter().map(device_from_row).collect())
    }

    pub async fn claim_counter(&self, device_id: &str, counter: u64) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "UPDATE devices SET request_counter = $2
                 WHERE device_id = $1 AND removed IS NULL AND request_counter < $2",
            )
            .await?;
        Ok(c.execute(&stmt, &[&device_id, &to_i64(counter)]).await? == 1)
    }

    pub async fn set_subscription(
        &self,
        device_id: &str,
        json: Option<&str>,
    ) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "UPDATE devices SET push_subscription = $2 WHERE device_id = $1 AND removed IS NULL",
            &[&device_id, &json],
        )
        .await?;
        Ok(())
    }

    pub async fn remove_device(
        &self,
        host: Option<&str>,
        device_id: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let n = c
            .execute(
                "UPDATE devices SET removed = $3, push_subscription = NULL
                 WHERE device_id = $1 AND ($2::TEXT IS NULL OR host = $2) AND removed IS NULL",
                &[&device_id, &host, &to_i64(now)],
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn purge_pairings(&self, now: u64) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute("DELETE FROM pairings WHERE expires <= $1", &[&to_i64(now)])
            .await?;
        Ok(())
    }

    pub async fn fleet_user(
        &self,
        user: &str,
    ) -> Result<(Option<SealedRecord>, Claims), StoreError> {
        // Record and claims in one statement (one round trip, one snapshot).
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT r.version, r.key_id, r.nonce, r.ciphertext, {CLAIMS_COLUMNS}
                 FROM (SELECT $1::TEXT AS user_name) u
                 LEFT JOIN fleet_records r ON r.user_name = u.user_name
                 LEFT JOIN fleet_claims c ON c.user_name = u.user_name"
            ))
            .await?;
        let row = c.query_one(&stmt, &[&user]).await?;
        let record = row.get::<_, Option<i64>>(0).map(|version| SealedRecord {
            user: user.to_string(),
            version: to_u64(version),
            key_id: row.get(1),
            nonce: row.get(2),
            ciphertext: row.get(3),
        });
        Ok((record, claims_of(&row, 4)))
    }

    pub async fn fleet_put(
        &self,
        expected: u64,
        record: &SealedRecord,
        deleted: bool,
        now: u64,
    ) -> Result<PutOutcome, StoreError> {
        let c = self.client().await?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
            &record.user,
            &to_i64(record.version),
            &record.key_id,
            &record.nonce,
            &record.ciphertext,
            &to_i64(now),
            &to_i64(expected),
            &deleted,
        ];
        let changed = if expected == 0 {
            c.execute(
                "INSERT INTO fleet_records (user_name, version, key_id, nonce, ciphertext, updated_at, deleted)
                 SELECT $1, $2, $3, $4, $5, $6, $8 WHERE $7::BIGINT = 0
                 ON CONFLICT (user_name) DO NOTHING",
                &params,
            )
            .await?
        } else {
            c.execute(
                "UPDATE fleet_records SET version = $2, key_id = $3, nonce = $4, ciphertext = $5,
                     updated_at = $6, deleted = $8
                 WHERE user_name = $1 AND version = $7",
                &params,
            )
            .await?
        };
        if changed == 1 {
            return Ok(PutOutcome::Stored(record.version));
        }
        Ok(PutOutcome::Conflict(
            current_version(&c, &record.user).await?,
        ))
    }

    pub async fn fleet_delete(
        &self,
        user: &str,
        version: u64,
    ) -> Result<DeleteOutcome, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "DELETE FROM fleet_records WHERE user_name = $1 AND version = $2",
                &[&user, &to_i64(version)],
            )
            .await?;
        if n == 0 {
            let current = current_version(&tx, user).await?;
            return Ok(if current == 0 {
                DeleteOutcome::Missing
            } else {
                DeleteOutcome::Conflict(current)
            });
        }
        tx.execute("DELETE FROM fleet_claims WHERE user_name = $1", &[&user])
            .await?;
        tx.execute(
            "DELETE FROM fleet_used_recovery WHERE user_name = $1",
            &[&user],
        )
        .await?;
        tx.commit().await?;
        Ok(DeleteOutcome::Deleted)
    }

    pub async fn fleet_users(&self) -> Result<Vec<FleetUserRow>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT r.user_name, r.version, r.key_id, r.updated_at,
                        COALESCE(c.failures, 0), COALESCE(c.locked_until, 0), r.deleted
                 FROM fleet_records r LEFT JOIN fleet_claims c ON c.user_name = r.user_name
                 ORDER BY r.user_name",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| FleetUserRow {
                user: r.get(0),
                version: to_u64(r.get(1)),
                key_id: r.get(2),
                updated_at: to_u64(r.get(3)),
                failures: u32::try_from(r.get::<_, i32>(4)).unwrap_or(0),
                locked_until: to_u64(r.get(5)),
                deleted: r.get(6),
            })
            .collect())
    }

    pub async fn fleet_claims(
        &self,
        claims: &[(String, Claim)],
    ) -> Result<Vec<(bool, Claims)>, StoreError> {
        let c = self.client().await?;
        let mut out = Vec::with_capacity(claims.len());
        for (user, claim) in claims {
            out.push(claim_on(&c, user, claim).await?);
        }
        Ok(out)
    }

    pub async fn fleet_unlock(&self, user: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "UPDATE fleet_claims SET failures = 0, locked_until = 0 WHERE user_name = $1",
            &[&user],
        )
        .await?;
        Ok(())
    }
}

async fn apply(client: &mut deadpool_postgres::Object, m: &Migration) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    let done = tx
        .query_opt(
            "SELECT 1 FROM schema_version WHERE version = $1",
            &[&m.version],
        )
        .await?
        .is_some();
    if done {
        return Ok(());
    }
    tx.batch_execute(m.sql).await?;
    tx.execute(
        "INSERT INTO schema_version (version, applied) VALUES ($1, $2)",
        &[&m.version, &to_i64(crate::unix_now())],
    )
    .await?;
    tx.commit().await?;
    crate::log(&format!(
        "event=schema_migrated backend=postgres version={} what={:?}",
        m.version, m.what
    ));
    Ok(())
}

const DEVICE_COLUMNS: &str = "device_id, host, user_name, public_key, removed, push_subscription";

fn device_from_row(r: &tokio_postgres::Row) -> DeviceRow {
    DeviceRow {
        device_id: r.get(0),
        host: r.get(1),
        user: r.get(2),
        public_key: r.get(3),
        removed: r.get::<_, Option<i64>>(4).is_some(),
        push_subscription: r.get(5),
    }
}

async fn pairing_on(
    c: &impl deadpool_postgres::GenericClient,
    id: &str,
    now: u64,
) -> Result<Option<PairingRow>, StoreError> {
    let row = c
        .query_opt(
            "SELECT p.host, p.user_name, p.expires, p.device_id, p.proof, d.public_key, d.name
             FROM pairings p LEFT JOIN devices d ON d.device_id = p.device_id
             WHERE p.id = $1 AND p.expires > $2",
            &[&id, &to_i64(now)],
        )
        .await?;
    Ok(row.map(|r| {
        let device_id: Option<String> = r.get(3);
        PairingRow {
            host: r.get(0),
            user: r.get(1),
            expires: to_u64(r.get(2)),
            completed: device_id.map(|device_id| CompletedPairing {
                device_id,
                proof: r.get::<_, Option<String>>(4).unwrap_or_default(),
                public_key: r.get::<_, Option<Vec<u8>>>(5).unwrap_or_default(),
                device_name: r.get::<_, Option<String>>(6).unwrap_or_default(),
            }),
        }
    }))
}

async fn current_version(
    c: &impl deadpool_postgres::GenericClient,
    user: &str,
) -> Result<u64, StoreError> {
    let row = c
        .query_opt(
            "SELECT version FROM fleet_records WHERE user_name = $1",
            &[&user],
        )
        .await?;
    Ok(row.map_or(0, |r| to_u64(r.get(0))))
}

/// A user's claims as `RETURNING` or `SELECT` lists them (columns 0–3 of a row).
const CLAIMS_COLUMNS: &str = "last_step, failures, locked_until, \
     ARRAY(SELECT code_id FROM fleet_used_recovery WHERE user_name = $1 ORDER BY code_id)";

fn claims_of(row: &tokio_postgres::Row, at: usize) -> Claims {
    Claims {
        last_step: to_u64(row.get::<_, Option<i64>>(at).unwrap_or(0)),
        failures: u32::try_from(row.get::<_, Option<i32>>(at + 1).unwrap_or(0)).unwrap_or(0),
        locked_until: to_u64(row.get::<_, Option<i64>>(at + 2).unwrap_or(0)),
        used_recovery: row.get(at + 3),
    }
}

/// The user's claims in one statement; `None` when the user has no claims row yet.
async fn claims_on(
    c: &deadpool_postgres::Object,
    user: &str,
) -> Result<Option<Claims>, StoreError> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {CLAIMS_COLUMNS} FROM fleet_claims WHERE user_name = $1"
        ))
        .await?;
    Ok(c.query_opt(&stmt, &[&user])
        .await?
        .map(|r| claims_of(&r, 0)))
}

async fn ensure_claims_row(c: &deadpool_postgres::Object, user: &str) -> Result<(), StoreError> {
    let stmt = c
        .prepare_cached("INSERT INTO fleet_claims (user_name) VALUES ($1) ON CONFLICT DO NOTHING")
        .await?;
    c.execute(&stmt, &[&user]).await?;
    Ok(())
}

/// One claim. An app code, a failure and a success are each one `UPDATE … RETURNING` that
/// decides and answers with the claims after it (one round trip while the user's claims row
/// exists, which it does after the first claim); a recovery code is one `INSERT … ON CONFLICT
/// DO NOTHING`. PostgreSQL's row lock makes racing claims wait and re-check the condition.
async fn claim_on(
    c: &deadpool_postgres::Object,
    user: &str,
    claim: &Claim,
) -> Result<(bool, Claims), StoreError> {
    if let Claim::Recovery { code_id } = claim {
        ensure_claims_row(c, user).await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO fleet_used_recovery (user_name, code_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING RETURNING code_id",
            )
            .await?;
        let accepted = c.query_opt(&stmt, &[&user, code_id]).await?.is_some();
        return Ok((accepted, claims_on(c, user).await?.unwrap_or_default()));
    }
    if let Some(claims) = decide(c, user, claim).await? {
        return Ok((true, claims));
    }
    // Not decided: refused (a step used already), or no claims row yet.
    if let Some(claims) = claims_on(c, user).await? {
        return Ok((false, claims));
    }
    ensure_claims_row(c, user).await?;
    if let Some(claims) = decide(c, user, claim).await? {
        return Ok((true, claims));
    }
    Ok((false, claims_on(c, user).await?.unwrap_or_default()))
}

/// The one statement of an app-code, failure or success claim: the claims after it when it
/// took effect; `None` when it did not (or the user has no claims row).
async fn decide(
    c: &deadpool_postgres::Object,
    user: &str,
    claim: &Claim,
) -> Result<Option<Claims>, StoreError> {
    let row = match claim {
        Claim::Totp { step } => {
            let stmt = c
                .prepare_cached(&format!(
                    "UPDATE fleet_claims SET last_step = $2
                     WHERE user_name = $1 AND last_step < $2 RETURNING {CLAIMS_COLUMNS}"
                ))
                .await?;
            c.query_opt(&stmt, &[&user, &to_i64(*step)]).await?
        }
        Claim::Failure {
            lock_after,
            lock_seconds,
            now,
        } => {
            let stmt = c
                .prepare_cached(&format!(
                    "UPDATE fleet_claims SET failures = failures + 1,
                         locked_until = CASE WHEN failures + 1 >= $2 THEN $3 ELSE locked_until END
                     WHERE user_name = $1 RETURNING {CLAIMS_COLUMNS}"
                ))
                .await?;
            let lock_after = i32::try_from(*lock_after).unwrap_or(i32::MAX);
            let until = to_i64(now.saturating_add(*lock_seconds));
            c.query_opt(&stmt, &[&user, &lock_after, &until]).await?
        }
        Claim::Success => {
            let stmt = c
                .prepare_cached(&format!(
                    "UPDATE fleet_claims SET failures = 0 WHERE user_name = $1
                     RETURNING {CLAIMS_COLUMNS}"
                ))
                .await?;
            c.query_opt(&stmt, &[&user]).await?
        }
        Claim::Recovery { .. } => None,
    };
    Ok(row.map(|r| claims_of(&r, 0)))
}
