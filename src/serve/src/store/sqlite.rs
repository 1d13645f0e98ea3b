//! The SQLite backend (the single-instance default): hosts (name, SHA-256 of the token),
//! pairings, devices and the fleet tables. Pending challenges are not here: with SQLite they
//! live in memory (challenges.rs). Each function is one short call on the one connection.
#![forbid(unsafe_code)]

use super::migrations::{Migration, SQLITE as MIGRATIONS};
use super::*;
use rusqlite::{Connection, OptionalExtension, params};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Columns added after the first release, for databases made before them: (table, column,
/// type). Part of migration 1, which adopts such databases.
const ADDED_COLUMNS: [(&str, &str, &str); 2] = [
    ("devices", "request_counter", "INTEGER NOT NULL DEFAULT 0"),
    ("pairings", "completion_key", "BLOB"),
];

/// Adds the columns a first-release database lacks (idempotent).
fn add_missing_columns(conn: &Connection) -> Result<(), StoreError> {
    for (table, column, kind) in ADDED_COLUMNS {
        let present: bool = conn.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
            [table, column],
            |r| r.get(0),
        )?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
}

/// Applies the migrations this database lacks, each in its own write transaction (taken
/// before the check, so a second process migrating at the same moment waits, then skips).
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version INTEGER PRIMARY KEY,
             applied INTEGER NOT NULL
         )",
    )?;
    for m in MIGRATIONS {
        apply(conn, m)?;
    }
    Ok(())
}

fn apply(conn: &Connection, m: &Migration) -> Result<(), StoreError> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let done: bool = tx.query_row(
        "SELECT COUNT(*) > 0 FROM schema_version WHERE version = ?1",
        [m.version],
        |r| r.get(0),
    )?;
    if done {
        return Ok(());
    }
    tx.execute_batch(m.sql)?;
    if m.version == 1 {
        add_missing_columns(&tx)?;
    }
    tx.execute(
        "INSERT INTO schema_version (version, applied) VALUES (?1, ?2)",
        params![m.version, to_i64(crate::unix_now())],
    )?;
    tx.commit()?;
    crate::log(&format!(
        "event=schema_migrated backend=sqlite version={} what={:?}",
        m.version, m.what
    ));
    Ok(())
}

/// The database, shared by the request handlers (one connection; SQLite calls are short).
#[derive(Clone)]
pub struct Sqlite {
    conn: Arc<Mutex<Connection>>,
}

impl Sqlite {
    /// Opens (creating if needed: directory 0700, file 0600) and migrates the database.
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let shown = path.display().to_string();
        let open_err = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            path: shown.clone(),
            source: e,
        };
        if let Some(dir) = path.parent()
            && !dir.exists()
        {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| open_err(e.into()))?;
        }
        // Create the file ourselves so it is never world-readable, whatever the umask.
        let created = !path.exists();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| open_err(e.into()))?;
        if created {
            give_to_directory_owner(&file, path).map_err(|e| open_err(e.into()))?;
        }
        let conn = Connection::open(path).map_err(|e| open_err(e.into()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Rollback journal (not WAL): `--add-host`, run as root while the service runs as its
        // own user, then leaves no root-owned -wal/-shm files behind.
        migrate(&conn)?;
        Ok(Sqlite {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection (synchronously; [`super::Store`] calls it on a blocking thread).
    pub fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::Task("database lock poisoned".into()))?;
        f(&conn)
    }
}

/// When root (`--add-host`) creates the database in the service's own state directory, the
/// file goes to the directory's owner, so the service (running as its own user) can open it.
/// SQLite itself gives root-created journal files the database file's owner.
fn give_to_directory_owner(file: &std::fs::File, path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    let owner = std::fs::metadata(dir)?;
    if owner.uid() == 0 {
        return Ok(());
    }
    rustix::fs::fchown(
        file,
        Some(rustix::process::Uid::from_raw(owner.uid())),
        Some(rustix::process::Gid::from_raw(owner.gid())),
    )?;
    Ok(())
}

/// Registers a host by the SHA-256 of its token.
pub fn add_host(
    db: &Connection,
    name: &str,
    token_sha256: &[u8],
    now: u64,
) -> Result<(), StoreError> {
    let exists: Option<String> = db
        .query_row("SELECT name FROM hosts WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?;
    if exists.is_some() {
        return Err(StoreError::HostExists(name.into()));
    }
    db.execute(
        "INSERT INTO hosts (name, token_sha256, added) VALUES (?1, ?2, ?3)",
        params![name, token_sha256, now as i64],
    )?;
    Ok(())
}

/// Removes a host, its open pairings and (marking them removed) its devices. False if unknown.
pub fn remove_host(db: &Connection, name: &str, now: u64) -> Result<bool, StoreError> {
    let removed = db.execute("DELETE FROM hosts WHERE name = ?1", [name])?;
    db.execute("DELETE FROM pairings WHERE host = ?1", [name])?;
    db.execute(
        "UPDATE devices SET removed = ?2, push_subscription = NULL WHERE host = ?1 AND removed IS NULL",
        params![name, now as i64],
    )?;
    Ok(removed > 0)
}

/// The host whose token has the SHA-256 `digest` (one row, by the UNIQUE index on it).
pub fn host_by_token_digest(db: &Connection, digest: &[u8]) -> Result<Option<HostRow>, StoreError> {
    let mut stmt =
        db.prepare_cached("SELECT name, token_sha256 FROM hosts WHERE token_sha256 = ?1")?;
    Ok(stmt
        .query_row([digest], |r| {
            Ok(HostRow {
                name: r.get(0)?,
                token_sha256: r.get(1)?,
            })
        })
        .optional()?)
}

/// Open (unexpired) pairings of a host, to bound what one host can create.
pub fn open_pairings(db: &Connection, host: &str, now: u64) -> Result<u64, StoreError> {
    let n: i64 = db.query_row(
        "SELECT COUNT(*) FROM pairings WHERE host = ?1 AND expires > ?2",
        params![host, now as i64],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Records a new pairing with the key its completion must be MACed with.
pub fn create_pairing(
    db: &Connection,
    id: &str,
    host: &str,
    user: &str,
    (created, expires): (u64, u64),
    completion_key: &[u8],
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO pairings (id, host, user, created, expires, completion_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id,
            host,
            user,
            created as i64,
            expires as i64,
            completion_key
        ],
    )?;
    Ok(())
}

/// An open pairing's host and completion key: `None` if unknown or expired.
pub fn pairing_completion_key(
    db: &Connection,
    id: &str,
    now: u64,
) -> Result<Option<PairingKey>, StoreError> {
    Ok(db
        .query_row(
            "SELECT host, completion_key FROM pairings WHERE id = ?1 AND expires > ?2",
            params![id, now as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// A pairing that has not expired at `now`.
pub fn pairing(db: &Connection, id: &str, now: u64) -> Result<Option<PairingRow>, StoreError> {
    let row = db
        .query_row(
            "SELECT p.host, p.user, p.expires, p.device_id, p.proof, d.public_key, d.name
             FROM pairings p LEFT JOIN devices d ON d.device_id = p.device_id
             WHERE p.id = ?1 AND p.expires > ?2",
            params![id, now as i64],
            |r| {
                let device_id: Option<String> = r.get(3)?;
                let completed = match device_id {
                    Some(device_id) => Some(CompletedPairing {
                        device_id,
                        proof: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                        public_key: r.get::<_, Option<Vec<u8>>>(5)?.unwrap_or_default(),
                        device_name: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                    }),
                    None => None,
                };
                Ok(PairingRow {
                    host: r.get(0)?,
                    user: r.get(1)?,
                    expires: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    completed,
                })
            },
        )
        .optional()?;
    Ok(row)
}

/// Completes an open pairing with a new device, in one transaction.
pub fn complete_pairing(
    db: &Connection,
    id: &str,
    done: &CompletedPairing,
    push_subscription: Option<&str>,
    now: u64,
) -> Result<Completion, StoreError> {
    let tx = db.unchecked_transaction()?;
    let Some(open) = pairing(&tx, id, now)? else {
        return Ok(Completion::Unknown);
    };
    if open.completed.is_some() {
        return Ok(Completion::AlreadyCompleted);
    }
    let active: i64 = tx.query_row(
        "SELECT COUNT(*) FROM devices WHERE host = ?1 AND user = ?2 AND removed IS NULL",
        params![open.host, open.user],
        |r| r.get(0),
    )?;
    if active >= MAX_DEVICES_PER_USER {
        return Ok(Completion::TooManyDevices);
    }
    let of_host: i64 = tx.query_row(
        "SELECT COUNT(*) FROM devices WHERE host = ?1 AND removed IS NULL",
        params![open.host],
        |r| r.get(0),
    )?;
    if of_host >= MAX_DEVICES_PER_HOST {
        return Ok(Completion::HostDevicesFull);
    }
    tx.execute(
        "INSERT INTO devices (device_id, host, user, public_key, name, added, push_subscription)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            done.device_id,
            open.host,
            open.user,
            done.public_key,
            done.device_name,
            now as i64,
            push_subscription
        ],
    )?;
    tx.execute(
        "UPDATE pairings SET device_id = ?2, proof = ?3 WHERE id = ?1",
        params![id, done.device_id, done.proof],
    )?;
    tx.commit()?;
    Ok(Completion::Done)
}

fn device_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRow> {
    Ok(DeviceRow {
        device_id: r.get(0)?,
        host: r.get(1)?,
        user: r.get(2)?,
        public_key: r.get(3)?,
        removed: r.get::<_, Option<i64>>(4)?.is_some(),
        push_subscription: r.get(5)?,
    })
}

const DEVICE_COLUMNS: &str = "device_id, host, user, public_key, removed, push_subscription";

/// One device, removed or not.
pub fn device(db: &Connection, device_id: &str) -> Result<Option<DeviceRow>, StoreError> {
    let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE device_id = ?1");
    Ok(db
        .prepare_cached(&sql)?
        .query_row([device_id], device_from_row)
        .optional()?)
}

/// The devices (not removed) that a host registered for a user.
pub fn devices_of(db: &Connection, host: &str, user: &str) -> Result<Vec<DeviceRow>, StoreError> {
    let sql = format!(
        "SELECT {DEVICE_COLUMNS} FROM devices WHERE host = ?1 AND user = ?2 AND removed IS NULL"
    );
    let mut stmt = db.prepare_cached(&sql)?;
    let rows = stmt.query_map([host, user], device_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records `counter` as the device's latest request if it is above the last one: false for a
/// replayed (or reordered) request. One statement, so two racing requests cannot both pass.
pub fn claim_counter(db: &Connection, device_id: &str, counter: u64) -> Result<bool, StoreError> {
    let counter = i64::try_from(counter).unwrap_or(i64::MAX);
    let n = db.execute(
        "UPDATE devices SET request_counter = ?2
         WHERE device_id = ?1 AND removed IS NULL AND request_counter < ?2",
        params![device_id, counter],
    )?;
    Ok(n == 1)
}

/// Replaces (or with `None` clears) a device's Web Push subscription.
pub fn set_subscription(
    db: &Connection,
    device_id: &str,
    json: Option<&str>,
) -> Result<(), StoreError> {
    db.execute(
        "UPDATE devices SET push_subscription = ?2 WHERE device_id = ?1 AND removed IS NULL",
        params![device_id, json],
    )?;
    Ok(())
}

/// Marks a host's device removed. False if the host has no such device.
pub fn remove_device(
    db: &Connection,
    host: &str,
    device_id: &str,
    now: u64,
) -> Result<bool, StoreError> {
    let n = db.execute(
        "UPDATE devices SET removed = ?3, push_subscription = NULL
         WHERE device_id = ?1 AND host = ?2 AND removed IS NULL",
        params![device_id, host, now as i64],
    )?;
    Ok(n > 0)
}

/// Forgets pairings that expired (their devices stay).
pub fn purge_pairings(db: &Connection, now: u64) -> Result<(), StoreError> {
    db.execute("DELETE FROM pairings WHERE expires <= ?1", [now as i64])?;
    Ok(())
}

/// The devices (not removed) of a user, whichever host paired them (fleet mode).
pub fn devices_of_user(db: &Connection, user: &str) -> Result<Vec<DeviceRow>, StoreError> {
    let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE user = ?1 AND removed IS NULL");
    let mut stmt = db.prepare_cached(&sql)?;
    let rows = stmt.query_map([user], device_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Marks a device removed, whichever host paired it (fleet mode). False if there is none.
pub fn remove_any_device(db: &Connection, device_id: &str, now: u64) -> Result<bool, StoreError> {
    let n = db.execute(
        "UPDATE devices SET removed = ?2, push_subscription = NULL
         WHERE device_id = ?1 AND removed IS NULL",
        params![device_id, now as i64],
    )?;
    Ok(n > 0)
}

// ---- fleet records and claims ----

/// A user's sealed record, if any.
pub fn fleet_record(db: &Connection, user: &str) -> Result<Option<SealedRecord>, StoreError> {
    Ok(db
        .prepare_cached(
            "SELECT version, key_id, nonce, ciphertext FROM fleet_records WHERE user_name = ?1",
        )?
        .query_row([user], |r| {
            Ok(SealedRecord {
                user: user.to_string(),
                version: to_u64(r.get(0)?),
                key_id: r.get(1)?,
                nonce: r.get(2)?,
                ciphertext: r.get(3)?,
            })
        })
        .optional()?)
}

/// A user's claims (all zero and empty when nothing was claimed yet).
pub fn fleet_claims(db: &Connection, user: &str) -> Result<Claims, StoreError> {
    let row = db
        .prepare_cached(
            "SELECT last_step, failures, locked_until FROM fleet_claims WHERE user_name = ?1",
        )?
        .query_row([user], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .optional()?
        .unwrap_or((0, 0, 0));
    let mut stmt = db.prepare_cached(
        "SELECT code_id FROM fleet_used_recovery WHERE user_name = ?1 ORDER BY code_id",
    )?;
    let used = stmt
        .query_map([user], |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    Ok(Claims {
        last_step: to_u64(row.0),
        failures: u32::try_from(row.1).unwrap_or(u32::MAX),
        locked_until: to_u64(row.2),
        used_recovery: used,
    })
}

/// Stores `record` if the stored version is `expected` (0: none yet), in one statement.
pub fn fleet_put(
    db: &Connection,
    expected: u64,
    record: &SealedRecord,
    deleted: bool,
    now: u64,
) -> Result<PutOutcome, StoreError> {
    let changed = if expected == 0 {
        db.execute(
            "INSERT INTO fleet_records (user_name, version, key_id, nonce, ciphertext, updated_at, deleted)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (user_name) DO NOTHING",
            params![
                record.user,
                to_i64(record.version),
                record.key_id,
                record.nonce,
                record.ciphertext,
                to_i64(now),
                deleted
            ],
        )?
    } else {
        db.execute(
            "UPDATE fleet_records SET version = ?2, key_id = ?3, nonce = ?4, ciphertext = ?5,
                 updated_at = ?6, deleted = ?8
             WHERE user_name = ?1 AND version = ?7",
            params![
                record.user,
                to_i64(record.version),
                record.key_id,
                record.nonce,
                record.ciphertext,
                to_i64(now),
                to_i64(expected),
                deleted
            ],
        )?
    };
    if changed == 1 {
        return Ok(PutOutcome::Stored(record.version));
    }
    Ok(PutOutcome::Conflict(current_version(db, &record.user)?))
}

fn current_version(db: &Connection, user: &str) -> Result<u64, StoreError> {
    let v: Option<i64> = db
        .query_row(
            "SELECT version FROM fleet_records WHERE user_name = ?1",
            [user],
            |r| r.get(0),
        )
        .optional()?;
    Ok(v.map_or(0, to_u64))
}

/// Deletes a user's record (if at `version`) and claims, in one transaction.
pub fn fleet_delete(
    db: &Connection,
    user: &str,
    version: u64,
) -> Result<DeleteOutcome, StoreError> {
    let tx = db.unchecked_transaction()?;
    let n = tx.execute(
        "DELETE FROM fleet_records WHERE user_name = ?1 AND version = ?2",
        params![user, to_i64(version)],
    )?;
    if n == 0 {
        let current = current_version(&tx, user)?;
        return Ok(if current == 0 {
            DeleteOutcome::Missing
        } else {
            DeleteOutcome::Conflict(current)
        });
    }
    tx.execute("DELETE FROM fleet_claims WHERE user_name = ?1", [user])?;
    tx.execute(
        "DELETE FROM fleet_used_recovery WHERE user_name = ?1",
        [user],
    )?;
    tx.commit()?;
    Ok(DeleteOutcome::Deleted)
}

/// Every user with a record, by name.
pub fn fleet_users(db: &Connection) -> Result<Vec<FleetUserRow>, StoreError> {
    let mut stmt = db.prepare_cached(
        "SELECT r.user_name, r.version, r.key_id, r.updated_at,
                COALESCE(c.failures, 0), COALESCE(c.locked_until, 0), r.deleted
         FROM fleet_records r LEFT JOIN fleet_claims c ON c.user_name = r.user_name
         ORDER BY r.user_name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(FleetUserRow {
            user: r.get(0)?,
            version: to_u64(r.get(1)?),
            key_id: r.get(2)?,
            updated_at: to_u64(r.get(3)?),
            failures: u32::try_from(r.get::<_, i64>(4)?).unwrap_or(u32::MAX),
            locked_until: to_u64(r.get(5)?),
            deleted: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Makes one claim, each kind one atomic statement (after the row is made sure to exist);
/// returns whether it was accepted and the claims after it.
pub fn fleet_claim(
    db: &Connection,
    user: &str,
    claim: &Claim,
) -> Result<(bool, Claims), StoreError> {
    db.prepare_cached("INSERT INTO fleet_claims (user_name) VALUES (?1) ON CONFLICT DO NOTHING")?
        .execute([user])?;
    let accepted = match claim {
        Claim::Totp { step } => {
            db.prepare_cached(
                "UPDATE fleet_claims SET last_step = ?2 WHERE user_name = ?1 AND last_step < ?2",
            )?
            .execute(params![user, to_i64(*step)])?
                == 1
        }
        Claim::Recovery { code_id } => {
            db.prepare_cached(
                "INSERT INTO fleet_used_recovery (user_name, code_id) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![user, code_id])?
                == 1
        }
        Claim::Failure {
            lock_after,
            lock_seconds,
            now,
        } => {
            db.prepare_cached(
                "UPDATE fleet_claims SET failures = failures + 1,
                     locked_until = CASE WHEN failures + 1 >= ?2 THEN ?3 ELSE locked_until END
                 WHERE user_name = ?1",
            )?
            .execute(params![
                user,
                i64::from(*lock_after),
                to_i64(now.saturating_add(*lock_seconds))
            ])?;
            true
        }
        Claim::Success => {
            db.prepare_cached("UPDATE fleet_claims SET failures = 0 WHERE user_name = ?1")?
                .execute([user])?;
            true
        }
    };
    Ok((accepted, fleet_claims(db, user)?))
}

/// Clears a user's failures and lock (`twofold unlock`).
pub fn fleet_unlock(db: &Connection, user: &str) -> Result<(), StoreError> {
    db.execute(
        "UPDATE fleet_claims SET failures = 0, locked_until = 0 WHERE user_name = ?1",
        [user],
    )?;
    Ok(())
}
