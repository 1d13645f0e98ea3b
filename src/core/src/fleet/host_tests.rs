//! The host's cache and rollback rules against a loopback stand-in that answers `GET` and
//! `PUT /v1/fleet/users/{user}` as the contract says, and serves whatever record a test
//! plants in it (a dishonest service).

use super::envelope::{SealedRecord, seal};
use super::host::*;
use super::key::FleetKey;
use super::service::{Claims, FleetError, FleetService};
use crate::factor::totp::{Algorithm, TotpParams};
use crate::secret::SecretString;
use crate::store::record::RECORD_VERSION;
use crate::store::{UserRecord, UserStore};
use crate::username::UserName;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Stored {
    version: u64,
    record: Option<SealedRecord>,
}

/// Serves one user's record; returns the URL and the shared store.
fn stand_in() -> (String, Arc<Mutex<Stored>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stored = Arc::new(Mutex::new(Stored::default()));
    let shared = stored.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = Vec::new();
            let mut byte = [0u8; 1];
            while !buf.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                buf.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&buf).to_string();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|n| n.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let mut body = vec![0u8; len];
            let _ = stream.read_exact(&mut body);
            let line = head.lines().next().unwrap_or_default().to_string();
            let mut s = shared.lock().unwrap();
            let (status, reply) = if line.starts_with("GET /v1/fleet/users/") {
                let have: u64 = line
                    .split("have=")
                    .nth(1)
                    .and_then(|t| t.split(' ').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let record = if have == s.version {
                    None
                } else {
                    s.record.clone()
                };
                let view = serde_json::json!({
                    "version": s.version, "record": record, "claims": Claims::default(),
                });
                (200, view.to_string())
            } else if line.starts_with("PUT /v1/fleet/users/") {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let expected = v["expected_version"].as_u64().unwrap();
                if expected == s.version {
                    s.record = Some(serde_json::from_value(v["record"].clone()).unwrap());
                    s.version = expected + 1;
                    (200, serde_json::json!({ "version": s.version }).to_string())
                } else {
                    let e = serde_json::json!({"error": "version_conflict", "current_version": s.version});
                    (409, e.to_string())
                }
            } else {
                (404, r#"{"error":"not_found"}"#.to_string())
            };
            drop(s);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    (url, stored)
}

struct Host {
    _dir: tempfile::TempDir,
    store: UserStore,
    fleet: FleetService,
}

fn host(url: &str) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let store = UserStore::create(&dir.path().join("state")).unwrap();
    let fleet = FleetService::new(
        &[url.to_string()],
        SecretString::new("dG9rZW4".into()),
        Duration::from_secs(2),
        None,
    )
    .unwrap();
    Host {
        _dir: dir,
        store,
        fleet,
    }
}

fn record(id: &str) -> UserRecord {
    UserRecord {
        version: RECORD_VERSION,
        created: 1,
        id: id.into(),
        confirmed_step: 3,
        totp: TotpParams {
            secret: SecretString::new("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into()),
            algorithm: Algorithm::SHA1,
            digits: 6,
            period: 30,
            skew: None,
        },
        devices: Vec::new(),
        recovery: Some(Vec::new()),
        recovery_deferred: false,
        phone: None,
        default_method: None,
        language: None,
    }
}

fn alice() -> UserName {
    UserName::parse(b"alice").unwrap()
}

fn refused(result: Result<Pulled, SyncError>) -> String {
    match result {
        Err(SyncError::Refused(why)) => why,
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn a_record_published_on_one_host_is_cached_on_another() {
    let (url, _) = stand_in();
    let key = FleetKey::generate().unwrap();
    let keys = std::slice::from_ref(&key);
    let (a, b) = (host(&url), host(&url));
    let lock = a.store.lock(&alice()).unwrap();
    assert_eq!(
        publish(&a.fleet, keys, &a.store, &alice(), &lock, &record("e1"), 0).unwrap(),
        1
    );
    drop(lock);
    let pulled = pull(&b.fleet, keys, &b.store, &alice()).unwrap();
    assert_eq!((pulled.version, pulled.change), (1, Change::Updated));
    let cached = b.store.load_record(&alice()).unwrap().unwrap();
    assert_eq!(cached.id, "e1");
    assert_eq!(seen_version(&b.store, &alice()).unwrap(), 1);
    let again = pull(&b.fleet, keys, &b.store, &alice()).unwrap();
    assert_eq!(again.change, Change::Current, "have=1: nothing sent again");
}

#[test]
fn an_upload_over_a_newer_version_is_a_conflict_and_caches_nothing() {
    let (url, _) = stand_in();
    let key = FleetKey::generate().unwrap();
    let keys = std::slice::from_ref(&key);
    let (a, b) = (host(&url), host(&url));
    let lock = a.store.lock(&alice()).unwrap();
    publish(&a.fleet, keys, &a.store, &alice(), &lock, &record("e1"), 0).unwrap();
    let lock_b = b.store.lock(&alice()).unwrap();
    let e = publish(
        &b.fleet,
        keys,
        &b.store,
        &alice(),
        &lock_b,
        &record("e2"),
        0,
    )
    .unwrap_err();
    assert!(
        matches!(e, SyncError::Service(FleetError::Conflict { current: 1 })),
        "{e:?}"
    );
    assert!(b.store.load_record(&alice()).unwrap().is_none());
}

#[test]
fn a_rolled_back_record_is_refused_and_the_cache_kept() {
    let (url, stored) = stand_in();
    let key = FleetKey::generate().unwrap();
    let keys = std::slice::from_ref(&key);
    let (a, b) = (host(&url), host(&url));
    let lock = a.store.lock(&alice()).unwrap();
    publish(&a.fleet, keys, &a.store, &alice(), &lock, &record("e1"), 0).unwrap();
    let old = stored.lock().unwrap().record.clone();
    publish(&a.fleet, keys, &a.store, &alice(), &lock, &record("e1"), 1).unwrap();
    drop(lock);
    pull(&b.fleet, keys, &b.store, &alice()).unwrap();
    // The service serves version 1 again, as current.
    *stored.lock().unwrap() = Stored {
        version: 1,
        record: old,
    };
    let why = refused(pull(&b.fleet, keys, &b.store, &alice()));
    assert!(why.contains("older than version 2"), "{why}");
    assert_eq!(seen_version(&b.store, &alice()).unwrap(), 2);
    assert!(b.store.load_record(&alice()).unwrap().is_some());
}

#[test]
fn a_tampered_record_or_one_moved_from_another_user_is_refused() {
    let (url, stored) = stand_in();
    let key = FleetKey::generate().unwrap();
    let keys = std::slice::from_ref(&key);
    let b = host(&url);
    let text = record("e1").to_toml().unwrap();
    let mut forged = seal(&key, "alice", 1, text.as_bytes()).unwrap();
    forged.ciphertext.replace_range(
        0..1,
        if forged.ciphertext.starts_with('A') {
            "B"
        } else {
            "A"
        },
    );
    *stored.lock().unwrap() = Stored {
        version: 1,
        record: Some(forged),
    };
    assert!(refused(pull(&b.fleet, keys, &b.store, &alice())).contains("tampered"));
    let mut moved = seal(&key, "bob", 1, text.as_bytes()).unwrap();
    *stored.lock().unwrap() = Stored {
        version: 1,
        record: Some(moved.clone()),
    };
    assert!(refused(pull(&b.fleet, keys, &b.store, &alice())).contains("bob"));
    moved.user = "alice".into();
    *stored.lock().unwrap() = Stored {
        version: 1,
        record: Some(moved),
    };
    assert!(refused(pull(&b.fleet, keys, &b.store, &alice())).contains("tampered"));
    assert!(
        b.store.load_record(&alice()).unwrap().is_none(),
        "nothing cached"
    );
}

#[test]
fn a_reset_is_sealed_and_a_record_merely_gone_is_refused() {
    let (url, stored) = stand_in();
    let key = FleetKey::generate().unwrap();
    let keys = std::slice::from_ref(&key);
    let (a, b, c) = (host(&url), host(&url), host(&url));
    let lock = a.store.lock(&alice()).unwrap();
    publish(&a.fleet, keys, &a.store, &alice(), &lock, &record("e1"), 0).unwrap();
    drop(lock);
    pull(&b.fleet, keys, &b.store, &alice()).unwrap();
    let e1 = stored.lock().unwrap().record.clone().unwrap();

    // The service drops the record on its own: B refuses it and keeps its copy (following it
    // would unenroll alice, and `unenrolled = "allow"` would let her in without a code).
    let kept = std::mem::take(&mut *stored.lock().unwrap());
    assert!(
        refused(pull(&b.fleet, keys, &b.store, &alice())).contains("reset is sealed by a host")
    );
    assert!(b.store.load_record(&alice()).unwrap().is_some());
    *stored.lock().unwrap() = kept;

    // A resets alice fleet-wide: version 2 is a sealed deletion. B forgets its copy; C, which
    // never saw alice, reads "not enrolled".
    assert!(delete(&a.fleet, keys, &a.store, &alice()).unwrap());
    assert_eq!(stored.lock().unwrap().version, 2);
    assert!(a.store.load_record(&alice()).unwrap().is_none());
    assert_eq!(
        pull(&b.fleet, keys, &b.store, &alice()).unwrap().change,
        Change::Removed
    );
    assert!(b.store.load_record(&alice()).unwrap().is_none());
    assert_eq!(
        pull(&c.fleet, keys, &c.store, &alice()).unwrap().change,
        Change::None
    );
    assert!(
        !delete(&a.fleet, keys, &a.store, &alice()).unwrap(),
        "deleted already"
    );

    // The old enrollment served again as version 1: older than the deletion, refused on B and C.
    let deletion = std::mem::replace(
        &mut *stored.lock().unwrap(),
        Stored {
            version: 1,
            record: Some(e1),
        },
    );
    assert!(refused(pull(&b.fleet, keys, &b.store, &alice())).contains("older than"));
    assert!(refused(pull(&c.fleet, keys, &c.store, &alice())).contains("older than"));
    // Sealed again as a newer version (by a host with a stale copy): still retired on B.
    let stale = seal(&key, "alice", 3, record("e1").to_toml().unwrap().as_bytes()).unwrap();
    *stored.lock().unwrap() = Stored {
        version: 3,
        record: Some(stale),
    };
    assert!(refused(pull(&b.fleet, keys, &b.store, &alice())).contains("deleted earlier"));

    // A new enrollment is published over the deletion (compare-and-swap on version 2).
    *stored.lock().unwrap() = deletion;
    let lock = c.store.lock(&alice()).unwrap();
    let seen = seen_version(&c.store, &alice()).unwrap();
    assert_eq!(seen, 2);
    assert_eq!(
        publish(
            &c.fleet,
            keys,
            &c.store,
            &alice(),
            &lock,
            &record("e2"),
            seen
        )
        .unwrap(),
        3
    );
    drop(lock);
    assert_eq!(
        pull(&b.fleet, keys, &b.store, &alice()).unwrap().change,
        Change::Updated
    );
    assert_eq!(b.store.load_record(&alice()).unwrap().unwrap().id, "e2");
}

#[test]
fn a_version_named_without_its_record_is_refused() {
    let (url, stored) = stand_in();
    let key = FleetKey::generate().unwrap();
    let b = host(&url);
    *stored.lock().unwrap() = Stored {
        version: 3,
        record: None,
    };
    let why = refused(pull(
        &b.fleet,
        std::slice::from_ref(&key),
        &b.store,
        &alice(),
    ));
    assert!(why.contains("sends no record"), "{why}");
}

#[test]
fn the_key_file_holds_old_and_new_keys_and_refuses_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet-key");
    let (old, new) = (FleetKey::generate().unwrap(), FleetKey::generate().unwrap());
    let text = format!(
        "{}# rotated\n{}",
        new.to_text().as_str(),
        old.to_text().as_str()
    );
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let keys = read_keys(&path).unwrap();
    assert_eq!(
        keys.iter().map(FleetKey::id).collect::<Vec<_>>(),
        [new.id(), old.id()]
    );
    std::fs::write(&path, "twofold-fleet-key-v1:short\n").unwrap();
    let e = read_keys(&path).unwrap_err().to_string();
    assert!(e.contains("line 1") && !e.contains("short"), "{e}");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    assert!(read_keys(&path).is_err(), "readable by others: refused");
}
