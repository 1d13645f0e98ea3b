//! Which database a test service uses: SQLite in its own directory, or a database of its own
//! in a throwaway PostgreSQL cluster (postgres.rs).

use super::postgres::Database;
use super::{Service, spawn};
use std::path::Path;

/// The storage a test runs against.
pub enum Backend {
    Sqlite,
    Postgres(Database),
}

impl Backend {
    pub fn sqlite() -> Backend {
        Backend::Sqlite
    }

    /// A fresh PostgreSQL database, or `None` after printing `SKIP <test>: <why>` (which fails
    /// under CI=true: CI must run every test).
    pub fn postgres(test: &str) -> Option<Backend> {
        match Database::create() {
            Ok(db) => Some(Backend::Postgres(db)),
            Err(why) => {
                skip(test, &why);
                None
            }
        }
    }

    /// A service on this backend (`serve_extra` goes into `[serve]`).
    pub fn service(&self, serve_extra: &str) -> Service {
        match self {
            Backend::Sqlite => Service::start(serve_extra),
            Backend::Postgres(db) => Service::start_on(&db.conninfo(), serve_extra),
        }
    }

    /// What the database holds, as text: the SQLite file's bytes, or `pg_dump`'s output.
    pub fn dump(&self, service: &Service) -> String {
        match self {
            Backend::Sqlite => {
                let bytes = std::fs::read(service.dir.path().join("serve.db")).expect("serve.db");
                String::from_utf8_lossy(&bytes).into_owned()
            }
            Backend::Postgres(db) => db.dump(),
        }
    }
}

/// Prints the skip (straight to stderr, which libtest does not capture) and fails under CI=true.
pub fn skip(test: &str, reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {reason}");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("SKIP {test}: {reason} (not allowed with CI=true)");
    }
}

impl Service {
    /// A service whose `[serve] database` is `database` (several may share one PostgreSQL
    /// database: instances of one service).
    pub fn start_on(database: &str, serve_extra: &str) -> Service {
        let dir = tempfile::Builder::new()
            .prefix("twofold-serve-")
            .tempdir()
            .expect("temporary directory");
        let config = write_config_on(dir.path(), database, serve_extra);
        let (child, base) = spawn(&config, dir.path());
        Service {
            child,
            base,
            dir,
            config,
        }
    }
}

/// `<dir>/twofold.toml` like [`super::write_config`], with another database.
pub fn write_config_on(dir: &Path, database: &str, serve_extra: &str) -> std::path::PathBuf {
    let config = dir.join("twofold.toml");
    let text = format!(
        "state_dir = {:?}\n\n[serve]\nlisten = \"127.0.0.1:0\"\ndatabase = {database:?}\nvapid_key_file = {:?}\n{serve_extra}\n",
        dir.join("state").display().to_string(),
        dir.join("vapid.key").display().to_string(),
    );
    twofold_core::push::local::write_private(&config, &text).unwrap_or_else(|e| panic!("{e}"));
    config
}
