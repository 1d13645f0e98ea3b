//! The schema, as numbered migrations for each backend. A database records the migrations it
//! has in `schema_version`; at start the missing ones are applied in order, each once and in its
//! own transaction. Never edit a released migration: add the next number.
#![forbid(unsafe_code)]

/// One step of the schema.
pub struct Migration {
    pub version: i64,
    pub what: &'static str,
    pub sql: &'static str,
}

/// SQLite (the single-instance default). Migration 1 is the schema from before versioned
/// migrations (`IF NOT EXISTS`, so a database made then is adopted as it is).
pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        what: "hosts, pairings, devices",
        sql: "
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
",
    },
    Migration {
        version: 2,
        what: "fleet records and claims",
        sql: "
CREATE TABLE fleet_records (
    user_name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    ciphertext TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE fleet_claims (
    user_name TEXT PRIMARY KEY,
    last_step INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE fleet_used_recovery (
    user_name TEXT NOT NULL,
    code_id TEXT NOT NULL,
    PRIMARY KEY (user_name, code_id)
);
CREATE INDEX devices_user ON devices(user);
",
    },
    Migration {
        version: 3,
        what: "pending challenges and decisions (PostgreSQL only: with SQLite they stay in memory)",
        sql: "",
    },
    Migration {
        version: 4,
        what: "sealed deletions: a record may be a tombstone, which the list says",
        sql: "ALTER TABLE fleet_records ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;",
    },
];

/// PostgreSQL (several instances on one database). The same tables; column types of its own.
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        what: "hosts, pairings, devices",
        sql: "
CREATE TABLE hosts (
    name TEXT PRIMARY KEY,
    token_sha256 BYTEA NOT NULL UNIQUE,
    added BIGINT NOT NULL
);
CREATE TABLE pairings (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    user_name TEXT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    device_id TEXT,
    proof TEXT,
    completion_key BYTEA
);
CREATE INDEX pairings_host ON pairings(host);
CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    user_name TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    name TEXT NOT NULL,
    added BIGINT NOT NULL,
    removed BIGINT,
    push_subscription TEXT,
    request_counter BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX devices_host_user ON devices(host, user_name);
",
    },
    Migration {
        version: 2,
        what: "fleet records and claims",
        sql: "
CREATE TABLE fleet_records (
    user_name TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    ciphertext TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE fleet_claims (
    user_name TEXT PRIMARY KEY,
    last_step BIGINT NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE fleet_used_recovery (
    user_name TEXT NOT NULL,
    code_id TEXT NOT NULL,
    PRIMARY KEY (user_name, code_id)
);
CREATE INDEX devices_user ON devices(user_name);
",
    },
    Migration {
        version: 3,
        what: "pending challenges and decisions (PostgreSQL only: with SQLite they stay in memory)",
        sql: "
CREATE TABLE challenges (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    user_name TEXT NOT NULL,
    nonce TEXT NOT NULL,
    host TEXT NOT NULL,
    service TEXT NOT NULL,
    rhost TEXT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    device_ids TEXT NOT NULL,
    status TEXT NOT NULL,
    decision TEXT,
    verdict TEXT
);
CREATE UNIQUE INDEX challenges_one_pending ON challenges(owner, user_name) WHERE status = 'pending';
CREATE INDEX challenges_owner ON challenges(owner, expires);
CREATE INDEX challenges_user ON challenges(user_name) WHERE status = 'pending';
",
    },
    Migration {
        version: 4,
        what: "sealed deletions: a record may be a tombstone, which the list says",
        sql: "ALTER TABLE fleet_records ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT false;",
    },
];

/// The migrations of `list` a database at `applied` still needs, in order.
pub fn pending(
    list: &'static [Migration],
    applied: &[i64],
) -> impl Iterator<Item = &'static Migration> {
    list.iter().filter(move |m| !applied.contains(&m.version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_lists_are_numbered_one_by_one_and_alike() {
        for list in [SQLITE, POSTGRES] {
            for (i, m) in list.iter().enumerate() {
                assert_eq!(m.version, i as i64 + 1, "{}", m.what);
            }
        }
        // The tables both backends have come in the same order.
        for (s, p) in SQLITE.iter().zip(POSTGRES) {
            assert_eq!(s.what, p.what);
        }
    }
}
