//! Host authentication by token digest, against the real `twofold serve` on SQLite and on a
//! throwaway PostgreSQL database: the host is looked up by the SHA-256 of the token it
//! presents (one indexed row), a wrong or removed token is refused, no token is stored, and a
//! database from the first release keeps its hosts.

mod serve_support;

use serve_support::*;
use sha2::Digest;

/// The status of a host request with `token` (a decision wait for an unknown challenge: 404
/// once authenticated, 401 before).
async fn status_with(service: &Service, token: &str) -> u16 {
    client()
        .get(service.url("/v1/challenges/no-such-challenge-0123456789/decision"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

async fn tokens_are_checked_by_digest(backend: &Backend) {
    let service = backend.service("");
    let one = Host::new(&service, "web1");
    let two = Host::new(&service, "web2");
    assert_eq!(status_with(&service, &one.token).await, 404, "web1's token");
    assert_eq!(status_with(&service, &two.token).await, 404, "web2's token");
    // Another host's challenge stays its own: the token names exactly one host.
    let c = Host::challenge("alice", &["d1"], 60);
    one.open(&c).await;
    let path = format!("/v1/challenges/{}/decision", c["id"].as_str().unwrap());
    assert_eq!(two.get(&path).send().await.unwrap().status(), 404);
    assert_eq!(one.get(&path).send().await.unwrap().status(), 204);
    // Wrong tokens: random, one character more or less, another case, none at all.
    let wrong = [
        random_id() + &random_id(),
        format!("{}x", one.token),
        one.token[1..].to_string(),
        one.token.to_uppercase(),
        String::new(),
    ];
    for token in &wrong {
        assert_eq!(status_with(&service, token).await, 401, "{token:?}");
    }
    let unauthenticated = client()
        .get(service.url("/v1/challenges/no-such-challenge-0123456789/decision"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    // The database keeps digests, never a token.
    let dump = backend.dump(&service);
    assert!(!dump.contains(&one.token) && !dump.contains(&two.token));
    // A removed host is refused at once; the other keeps working.
    let out = service.cli(&["serve", "--remove-host", "web1"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(status_with(&service, &one.token).await, 401, "removed web1");
    assert_eq!(status_with(&service, &two.token).await, 404, "web2 still");
    let log = service.log();
    assert!(!log.contains(&one.token) && !log.contains(&two.token));
}

#[tokio::test]
async fn a_host_is_found_by_its_token_digest_on_sqlite() {
    tokens_are_checked_by_digest(&Backend::sqlite()).await;
}

#[tokio::test]
async fn a_host_is_found_by_its_token_digest_on_postgres() {
    let Some(db) = Backend::postgres("a_host_is_found_by_its_token_digest_on_postgres") else {
        return;
    };
    tokens_are_checked_by_digest(&db).await;
}

/// The service's own process, killed when dropped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_first_release_database_keeps_its_hosts_and_looks_them_up_by_index() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let db_path = dir.path().join("serve.db");
    // The first release's schema (no schema_version, no later columns), one host in it.
    let token = random_id() + &random_id();
    let digest = sha2::Sha256::digest(token.as_bytes()).to_vec();
    {
        let old = rusqlite::Connection::open(&db_path).unwrap();
        old.execute_batch(
            "CREATE TABLE hosts (name TEXT PRIMARY KEY, token_sha256 BLOB NOT NULL UNIQUE,
                                 added INTEGER NOT NULL);
             CREATE TABLE pairings (id TEXT PRIMARY KEY, host TEXT NOT NULL, user TEXT NOT NULL,
                                    created INTEGER NOT NULL, expires INTEGER NOT NULL,
                                    device_id TEXT, proof TEXT);
             CREATE TABLE devices (device_id TEXT PRIMARY KEY, host TEXT NOT NULL,
                                   user TEXT NOT NULL, public_key BLOB NOT NULL,
                                   name TEXT NOT NULL, added INTEGER NOT NULL, removed INTEGER,
                                   push_subscription TEXT);",
        )
        .unwrap();
        old.execute(
            "INSERT INTO hosts (name, token_sha256, added) VALUES ('old1', ?1, 1)",
            [&digest],
        )
        .unwrap();
    }
    std::fs::set_permissions(
        &db_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let (child, base) = spawn(&config, dir.path());
    let _running = Running(child);
    let ask = |token: String| {
        let url = format!("{base}/v1/challenges/no-such-challenge-0123456789/decision");
        async move {
            client()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(ask(token.clone()).await, 404, "the old host's token works");
    assert_eq!(ask(format!("{token}x")).await, 401);
    let db = rusqlite::Connection::open(&db_path).unwrap();
    let versions: Vec<i64> = db
        .prepare("SELECT version FROM schema_version ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(versions, [1, 2, 3, 4], "adopted and migrated");
    // The service's lookup reads one row through the UNIQUE index, not the table.
    let plan: Vec<String> = db
        .prepare("EXPLAIN QUERY PLAN SELECT name, token_sha256 FROM hosts WHERE token_sha256 = ?1")
        .unwrap()
        .query_map([&digest], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        plan.iter().any(|step| step.contains("USING INDEX")),
        "{plan:?}"
    );
}
