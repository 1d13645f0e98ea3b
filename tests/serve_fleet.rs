//! The approval service's fleet endpoints (docs/fleet.md, "The service") through the real
//! `twofold serve`: sealed records with compare-and-swap, claims that hold once under
//! concurrency, lockout, offline reports, devices that serve every fleet host. Each scenario
//! runs against SQLite and against a throwaway PostgreSQL cluster.

mod serve_support;

use serde_json::{Value, json};
use serve_support::*;
use twofold_core::fleet::envelope::seal;
use twofold_core::fleet::key::FleetKey;

/// A fleet service on `backend` with one host, `web1`.
struct Fleet {
    service: Service,
    host: Host,
}

impl Fleet {
    fn start(backend: &Backend) -> Fleet {
        let service = backend.service("fleet = true\n");
        let host = Host::new(&service, "web1");
        Fleet { service, host }
    }

    async fn fetch(&self, user: &str, have: u64) -> (u16, Value) {
        let r = self
            .host
            .get(&format!("/v1/fleet/users/{user}?have={have}"))
            .send()
            .await
            .expect("GET");
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn put(&self, user: &str, expected: u64, record: &Value) -> (u16, Value) {
        let body = json!({ "expected_version": expected, "record": record });
        put_as(&self.host, user, &body).await
    }

    /// `GET /v1/fleet/users`.
    async fn list(&self) -> Value {
        let r = self.host.get("/v1/fleet/users").send().await.expect("GET");
        assert_eq!(r.status(), 200);
        r.json().await.expect("json")
    }

    async fn claim(&self, user: &str, claim: &Value) -> Value {
        let r = self
            .host
            .post(&format!("/v1/fleet/users/{user}/claims"), claim)
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 200, "claim {claim}");
        r.json().await.expect("json")
    }
}

async fn put_as(host: &Host, user: &str, body: &Value) -> (u16, Value) {
    let r = host
        .http
        .put(format!("{}/v1/fleet/users/{user}", host.base))
        .bearer_auth(&host.token)
        .body(body.to_string())
        .send()
        .await
        .expect("PUT");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// `user`'s record sealed at `version` with `key`, as JSON.
fn sealed(key: &FleetKey, user: &str, version: u64, plaintext: &str) -> Value {
    serde_json::to_value(seal(key, user, version, plaintext.as_bytes()).expect("seal")).unwrap()
}

async fn records_change_only_by_compare_and_swap(backend: Backend) {
    let fleet = Fleet::start(&backend);
    let key = FleetKey::generate().unwrap();

    let (status, body) = fleet.fetch("alice", 0).await;
    assert_eq!(
        (status, &body["version"], &body["record"]),
        (200, &json!(0), &Value::Null)
    );
    assert_eq!(
        body["claims"],
        json!({"last_step":0,"failures":0,"locked_until":0,"used_recovery":[]})
    );

    let v1 = sealed(&key, "alice", 1, "record one");
    assert_eq!(
        fleet.put("alice", 0, &v1).await,
        (200, json!({"version": 1}))
    );
    // A second "first upload" (another host enrolling at the same time) loses.
    let other = sealed(&key, "alice", 1, "record one, other host");
    let (status, body) = fleet.put("alice", 0, &other).await;
    assert_eq!(status, 409);
    assert_eq!(
        body,
        json!({"error": "version_conflict", "current_version": 1})
    );

    let v2 = sealed(&key, "alice", 2, "record two");
    assert_eq!(
        fleet.put("alice", 1, &v2).await,
        (200, json!({"version": 2}))
    );
    // The host's cache at 1 gets the new record; a host at 2 gets none.
    let (_, body) = fleet.fetch("alice", 1).await;
    assert_eq!((&body["version"], &body["record"]), (&json!(2), &v2));
    let (_, body) = fleet.fetch("alice", 2).await;
    assert_eq!(
        (&body["version"], &body["record"]),
        (&json!(2), &Value::Null)
    );

    // Rolling back (uploading version 1 or 2 again) is refused.
    assert_eq!(fleet.put("alice", 0, &v1).await.0, 409);
    assert_eq!(
        fleet.put("alice", 1, &v2).await,
        (409, json!({"error":"version_conflict","current_version":2}))
    );
    // The version must be expected + 1, and the record the path's user's.
    let v5 = sealed(&key, "alice", 5, "skipping");
    assert_eq!(fleet.put("alice", 2, &v5).await.1["error"], "bad_version");
    let bobs = sealed(&key, "bob", 3, "bob's");
    assert_eq!(fleet.put("alice", 2, &bobs).await.1["error"], "bad_version");
    let (_, body) = fleet.fetch("alice", 0).await;
    assert_eq!(body["record"], v2, "nothing refused changed the record");

    // 16 hosts racing to version 3: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let record = sealed(&key, "alice", 3, &format!("race {i}"));
        let host = Host {
            token: fleet.host.token.clone(),
            http: client(),
            base: fleet.host.base.clone(),
        };
        tasks.push(tokio::spawn(async move {
            put_as(
                &host,
                "alice",
                &json!({"expected_version": 2, "record": record}),
            )
            .await
            .0
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            200 => won += 1,
            409 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(
        won, 1,
        "exactly one concurrent upload of version 3 succeeds"
    );

    // The list shows it; a too-large body is refused before it is read.
    let r = fleet.host.get("/v1/fleet/users").send().await.unwrap();
    let list: Value = r.json().await.unwrap();
    assert_eq!(list["users"][0]["user"], "alice");
    assert_eq!(list["users"][0]["version"], 3);
    assert_eq!(list["users"][0]["key_id"], key.id());
    let mut huge = sealed(&key, "alice", 4, "x");
    huge["ciphertext"] = json!("A".repeat(100 * 1024));
    assert_eq!(fleet.put("alice", 3, &huge).await.0, 413);
}

async fn deleting_a_record_is_compare_and_swap_and_drops_its_claims(backend: Backend) {
    let fleet = Fleet::start(&backend);
    let key = FleetKey::generate().unwrap();
    assert_eq!(
        fleet
            .put("carol", 0, &sealed(&key, "carol", 1, "c"))
            .await
            .0,
        200
    );
    fleet
        .claim("carol", &json!({"kind":"totp","step":1000}))
        .await;
    let delete = |v: u64| {
        fleet
            .host
            .delete(&format!("/v1/fleet/users/carol?version={v}"))
            .send()
    };
    let r = delete(7).await.unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["current_version"], 1);
    assert_eq!(delete(1).await.unwrap().status(), 204);
    assert_eq!(delete(1).await.unwrap().status(), 404);
    let (_, body) = fleet.fetch("carol", 0).await;
    assert_eq!(body["version"], 0);
    assert_eq!(
        body["claims"]["last_step"], 0,
        "the claims went with the record"
    );
}

/// A host's sealed deletion is stored like any version (the service cannot tell it from a
/// record); the host's word that it is one shows in the list, and the next enrollment goes
/// over it by compare-and-swap.
async fn a_sealed_deletion_is_a_version_the_list_marks(backend: Backend) {
    let fleet = Fleet::start(&backend);
    let key = FleetKey::generate().unwrap();
    assert_eq!(
        fleet.put("dave", 0, &sealed(&key, "dave", 1, "d1")).await.0,
        200
    );
    let body = json!({
        "expected_version": 1,
        "record": sealed(&key, "dave", 2, "twofold-fleet-deletion:d1"),
        "deleted": true,
    });
    assert_eq!(put_as(&fleet.host, "dave", &body).await.0, 200);
    let list = fleet.list().await;
    assert_eq!(list["users"][0]["version"], 2);
    assert_eq!(list["users"][0]["deleted"], true);
    let (_, view) = fleet.fetch("dave", 0).await;
    assert_eq!(view["version"], 2);
    assert!(view["record"]["ciphertext"].is_string(), "{view}");
    // Enrolled again: the list marks it a record once more.
    assert_eq!(
        fleet.put("dave", 2, &sealed(&key, "dave", 3, "d2")).await.0,
        200
    );
    let list = fleet.list().await;
    assert_eq!(list["users"][0]["version"], 3);
    assert_eq!(list["users"][0]["deleted"], false);
}

async fn one_totp_step_is_accepted_once_among_64_parallel_claims(backend: Backend) {
    let fleet = Fleet::start(&backend);
    for round in 0..3u64 {
        let step = 58_000_000 + round;
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let host = Host {
                token: fleet.host.token.clone(),
                http: client(),
                base: fleet.host.base.clone(),
            };
            tasks.push(tokio::spawn(async move {
                let r = host
                    .post(
                        "/v1/fleet/users/alice/claims",
                        &json!({"kind":"totp","step":step}),
                    )
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                r.json::<Value>().await.unwrap()
            }));
        }
        let mut accepted = 0;
        for t in tasks {
            let answer = t.await.unwrap();
            if answer["accepted"] == true {
                accepted += 1;
            } else {
                assert_eq!(answer["reason"], "replayed");
            }
            assert_eq!(answer["claims"]["last_step"], step);
        }
        assert_eq!(
            accepted, 1,
            "round {round}: exactly one claim of step {step}"
        );
    }
    // An earlier step is a replay too.
    let answer = fleet
        .claim("alice", &json!({"kind":"totp","step":57_000_000}))
        .await;
    assert_eq!(answer["accepted"], false);
    assert!(
        fleet
            .service
            .log()
            .contains("event=fleet_claim_refused host=\"web1\" user=\"alice\" kind=totp")
    );
}

async fn a_recovery_code_counts_once(backend: Backend) {
    let fleet = Fleet::start(&backend);
    let first = fleet
        .claim("dave", &json!({"kind":"recovery","code_id":"rc-3"}))
        .await;
    assert_eq!(first["accepted"], true);
    assert_eq!(first["claims"]["used_recovery"], json!(["rc-3"]));
    let again = fleet
        .claim("dave", &json!({"kind":"recovery","code_id":"rc-3"}))
        .await;
    assert_eq!(again["accepted"], false);
    let other = fleet
        .claim("dave", &json!({"kind":"recovery","code_id":"rc-1"}))
        .await;
    assert_eq!(other["claims"]["used_recovery"], json!(["rc-1", "rc-3"]));
    // Another user's code of the same id is another code.
    let erin = fleet
        .claim("erin", &json!({"kind":"recovery","code_id":"rc-3"}))
        .await;
    assert_eq!(erin["accepted"], true);
    let r = fleet
        .host
        .post(
            "/v1/fleet/users/dave/claims",
            &json!({"kind":"recovery","code_id":"has space"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

async fn failures_lock_and_unlock_fleet_wide(backend: Backend) {
    let fleet = Fleet::start(&backend);
    let key = FleetKey::generate().unwrap();
    assert_eq!(
        fleet
            .put("frank", 0, &sealed(&key, "frank", 1, "f"))
            .await
            .0,
        200
    );
    let t = now();
    let failure = json!({"kind":"failure","lock_after":3,"lock_seconds":600,"now":t});
    for n in 1..=2 {
        let a = fleet.claim("frank", &failure).await;
        assert_eq!(
            (
                &a["accepted"],
                &a["claims"]["failures"],
                &a["claims"]["locked_until"]
            ),
            (&json!(true), &json!(n), &json!(0))
        );
    }
    let a = fleet.claim("frank", &failure).await;
    assert_eq!(a["claims"]["failures"], 3);
    assert_eq!(a["claims"]["locked_until"], t + 600);
    let r = fleet.host.get("/v1/fleet/users").send().await.unwrap();
    let list: Value = r.json().await.unwrap();
    assert_eq!(
        (
            &list["users"][0]["failures"],
            &list["users"][0]["locked_until"]
        ),
        (&json!(3), &json!(t + 600))
    );
    // A success resets the count (not the lock: the host refuses a locked user first).
    let a = fleet.claim("frank", &json!({"kind":"success"})).await;
    assert_eq!(
        (&a["claims"]["failures"], &a["claims"]["locked_until"]),
        (&json!(0), &json!(t + 600))
    );
    let r = fleet
        .host
        .delete("/v1/fleet/users/frank/lock")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, body) = fleet.fetch("frank", 1).await;
    assert_eq!(
        (&body["claims"]["failures"], &body["claims"]["locked_until"]),
        (&json!(0), &json!(0))
    );
    let bad = json!({"kind":"failure","lock_after":0,"lock_seconds":600,"now":t});
    let r = fleet
        .host
        .post("/v1/fleet/users/frank/claims", &bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

async fn offline_uses_are_reported_and_replays_logged(backend: Backend) {
    let fleet = Fleet::start(&backend);
    fleet
        .claim("gina", &json!({"kind":"totp","step":500}))
        .await;
    fleet
        .claim("gina", &json!({"kind":"recovery","code_id":"r1"}))
        .await;
    let report = json!({"uses": [
        {"user":"gina","kind":"totp","step":400,"at":now()},
        {"user":"gina","kind":"totp","step":501,"at":now()},
        {"user":"gina","kind":"recovery","code_id":"r1","at":now()},
        {"user":"gina","kind":"recovery","code_id":"r2","at":now()},
    ]});
    let r = fleet
        .host
        .post("/v1/fleet/reports", &report)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let results: Value = r.json().await.unwrap();
    assert_eq!(
        results["results"],
        json!([{"accepted":false},{"accepted":true},{"accepted":false},{"accepted":true}])
    );
    let (_, body) = fleet.fetch("gina", 0).await;
    assert_eq!(body["claims"]["last_step"], 501);
    assert!(eventually(std::time::Duration::from_secs(2), || {
        let log = fleet.service.log();
        log.contains("fleet_offline_replay host=\"web1\" user=\"gina\" kind=totp")
            && log.contains("fleet_offline_replay host=\"web1\" user=\"gina\" kind=recovery")
    }));
    // The report is bounded and every use well-formed.
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"user":"gina","kind":"totp","step":1000 + i,"at":1}))
        .collect();
    let r = fleet
        .host
        .post("/v1/fleet/reports", &json!({"uses": many}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let odd = json!({"uses":[{"user":"gina","kind":"totp","code_id":"x","at":1}]});
    let r = fleet
        .host
        .post("/v1/fleet/reports", &odd)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (_, body) = fleet.fetch("gina", 0).await;
    assert_eq!(
        body["claims"]["last_step"], 501,
        "a refused report changed nothing"
    );
}

async fn bad_user_names_and_strangers_are_refused(backend: Backend) {
    let fleet = Fleet::start(&backend);
    let long = "a".repeat(65);
    // ("..": no HTTP client sends it in a path; the report below carries it.)
    for user in ["a%2Fb", "%01x", long.as_str()] {
        let (status, body) = fleet.fetch(user, 0).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("bad_user")),
            "{user}"
        );
        let r = fleet
            .host
            .post(
                &format!("/v1/fleet/users/{user}/claims"),
                &json!({"kind":"totp","step":1}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{user}");
    }
    let report = json!({"uses":[{"user":"..","kind":"totp","step":1,"at":1}]});
    let r = fleet
        .host
        .post("/v1/fleet/reports", &report)
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "bad_user");
    let r = client()
        .get(fleet.service.url("/v1/fleet/users/alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client()
        .get(fleet.service.url("/v1/fleet/users"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

async fn a_device_paired_through_one_host_serves_every_fleet_host(backend: Backend) {
    let fleet = Fleet::start(&backend);
    let other = Host::new(&fleet.service, "web2");
    let mut device = Device::new();
    fleet.host.pair("alice", &mut device, None).await;

    let mut c = Host::challenge("alice", &[&device.id], 60);
    c["host"] = json!("web2.example");
    let r = other.post("/v1/challenges", &c).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["devices"], 1);
    let pending: Vec<Value> = device
        .pending(&fleet.service.base)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        pending[0]["host"], "web2.example",
        "the phone shows the asking host"
    );
    let body = device.decision(&c, "approve", "42");
    assert_eq!(
        device.decide(&fleet.service.base, &c, &body).await.status(),
        202
    );
    let path = format!(
        "/v1/challenges/{}/decision?wait=5",
        c["id"].as_str().unwrap()
    );
    let decision: Value = other.get(&path).send().await.unwrap().json().await.unwrap();
    assert!(host_accepts(&c, &decision, &device.public_key()));

    // Any fleet host may remove the device.
    let r = other
        .delete(&format!("/v1/devices/{}", device.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let c2 = Host::challenge("alice", &[&device.id], 60);
    let r = fleet.host.post("/v1/challenges", &c2).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["devices"], 0);
}

async fn the_database_holds_ciphertext_only(backend: Backend) {
    let fleet = Fleet::start(&backend);
    let key = FleetKey::generate().unwrap();
    let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    let recovery = "frog-lamp-9137-quiet";
    let plaintext = format!("totp_secret = \"{secret}\"\nrecovery = [\"{recovery}\"]\n");
    assert_eq!(
        fleet
            .put("hanna", 0, &sealed(&key, "hanna", 1, &plaintext))
            .await
            .0,
        200
    );
    fleet
        .claim("hanna", &json!({"kind":"recovery","code_id":"rc-0"}))
        .await;
    let dump = backend.dump(&fleet.service);
    assert!(dump.contains("hanna"), "the dump holds the user's row");
    for plain in [secret, recovery, "totp_secret"] {
        assert!(
            !dump.contains(plain),
            "the database holds {plain:?} in plain text"
        );
    }
}

async fn fleet_endpoints_answer_fleet_disabled_when_off(backend: Backend) {
    let service = backend.service("");
    let host = Host::new(&service, "web1");
    let checks = [
        host.get("/v1/fleet/users/alice?have=0"),
        host.get("/v1/fleet/users"),
        host.post(
            "/v1/fleet/users/alice/claims",
            &json!({"kind":"totp","step":1}),
        ),
        host.post("/v1/fleet/reports", &json!({"uses":[]})),
        host.delete("/v1/fleet/users/alice/lock"),
    ];
    for request in checks {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "fleet_disabled");
    }
}

/// Each scenario as a test per backend.
macro_rules! on_every_backend {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                super::$scenario(super::Backend::sqlite()).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let test = concat!("serve_fleet::postgres::", stringify!($scenario));
                let Some(backend) = super::Backend::postgres(test) else {
                    return;
                };
                super::$scenario(backend).await;
            })*
        }
    };
}

on_every_backend!(
    records_change_only_by_compare_and_swap,
    deleting_a_record_is_compare_and_swap_and_drops_its_claims,
    a_sealed_deletion_is_a_version_the_list_marks,
    one_totp_step_is_accepted_once_among_64_parallel_claims,
    a_recovery_code_counts_once,
    failures_lock_and_unlock_fleet_wide,
    offline_uses_are_reported_and_replays_logged,
    bad_user_names_and_strangers_are_refused,
    a_device_paired_through_one_host_serves_every_fleet_host,
    the_database_holds_ciphertext_only,
    fleet_endpoints_answer_fleet_disabled_when_off,
);
