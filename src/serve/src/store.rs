//! The service's SQLite database: hosts (name, SHA-256 of the token), pairings and devices.
//! Pending challenges are not here: they live in memory (challenges.rs).
#![forbid(unsafe_code)]

use rusqlite::{Connection, OptionalExtension, params};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex};

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

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS hosts (
    name TEXT PRIMARY KEY,
    token_sha256 BLOB NOT NULL UNIQUE,
    added INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pairings (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    user TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    device_id TEXT,
    proof TEXT,
    completion_key BLOB
);
CREATE INDEX IF NOT EXISTS pairings_host ON pairings(host);
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    user TEXT NOT NULL,
    public_key BLOB NOT NULL,
    name TEXT NOT NULL,
    added INTEGER NOT NULL,
    removed INTEGER,
    push_subscription TEXT,
    request_counter INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS devices_host_user ON devices(host, user);
PRAGMA user_version = 2;
";

/// Columns added after version 1, for databases made before them: (table, column, type).
const ADDED_COLUMNS: [(&str, &str, &str); 2] = [
    ("devices", "request_counter", "INTEGER NOT NULL DEFAULT 0"),
    ("pairings", "completion_key", "BLOB"),
];

/// Adds the columns a version-1 database lacks (idempotent).
fn migrate(conn: &Connection) -> Result<(), StoreError> {
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

/// The database, shared by the request handlers (one connection; SQLite calls are short).
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    /// Opens (creating if needed: directory 0700, file 0600) and migrates the database.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
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
        conn.execute_batch(SCHEMA)?;
        migrate(&conn)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection (synchronously; async callers use [`Store::call`]).
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

    /// Runs `f` on a blocking thread so a slow disk never stalls the event loop.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.with(f))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
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

/// Every host (there are few; host authentication compares against all of them).
pub fn hosts(db: &Connection) -> Result<Vec<HostRow>, StoreError> {
    let mut stmt = db.prepare_cached("SELECT name, token_sha256 FROM hosts")?;
    let rows = stmt.query_map([], |r| {
        Ok(HostRow {
            name: r.get(0)?,
            token_sha256: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
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

/// The host of an open pairing and its completion key (`None` for a pairing opened before
/// completion keys existed).
pub type PairingKey = (String, Option<Vec<u8>>);

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
