//! Two `twofold serve` instances on one PostgreSQL database (a throwaway cluster): a decision
//! posted to one wakes the host waiting on the other, also after the listener lost its
//! connection; a host survives the death of the instance it waited on; claims and per-host
//! quotas hold across instances.

mod serve_support;

use serde_json::{Value, json};
use serve_support::*;
use std::time::{Duration, Instant};

/// Two instances of one fleet service and a host registered once (through instance 1).
struct Pair {
    db: Backend,
    one: Service,
    two: Service,
    /// The host talking to instance 1, and the same host (same token) talking to instance 2.
    host_one: Host,
    host_two: Host,
}

impl Pair {
    fn start(test: &str, extra: &str) -> Option<Pair> {
        let db = Backend::postgres(test)?;
        let config = format!("fleet = true\n{extra}");
        let one = db.service(&config);
        let two = db.service(&config);
        let host_one = Host::new(&one, "web1");
        let host_two = Host {
            token: host_one.token.clone(),
            http: client(),
            base: two.base.clone(),
        };
        Some(Pair {
            db,
            one,
            two,
            host_one,
            host_two,
        })
    }
}

/// Waits on `host` for challenge `c`'s decision; the answer and when it arrived.
fn wait_for(host: &Host, c: &Value) -> tokio::task::JoinHandle<(u16, Value, Instant)> {
    let waiting = try_wait_for(host, c);
    tokio::spawn(async move { waiting.await.unwrap().expect("long-poll") })
}

/// [`wait_for`], when the instance may die meanwhile (`None`: the connection broke).
fn try_wait_for(host: &Host, c: &Value) -> tokio::task::JoinHandle<Option<(u16, Value, Instant)>> {
    let path = format!(
        "/v1/challenges/{}/decision?wait=20",
        c["id"].as_str().unwrap()
    );
    let request = host.get(&path).send();
    tokio::spawn(async move {
        let r = request.await.ok()?;
        let status = r.status().as_u16();
        let body = r.json().await.unwrap_or(Value::Null);
        Some((status, body, Instant::now()))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_posted_to_one_instance_wakes_the_host_waiting_on_the_other() {
    let Some(p) = Pair::start(
        "serve_instances::a_decision_posted_to_one_instance_wakes_the_host_waiting_on_the_other",
        "",
    ) else {
        return;
    };
    let mut device = Device::new();
    p.host_one.pair("alice", &mut device, None).await;
    let mut delays = Vec::new();
    for _ in 0..5 {
        let c = Host::challenge("alice", &[&device.id], 60);
        p.host_one.open(&c).await;
        // The phone sees the challenge through either instance.
        let pending: Vec<Value> = device.pending(&p.two.base).await.json().await.unwrap();
        assert_eq!(pending.len(), 1);
        let waiting = wait_for(&p.host_two, &c);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let body = device.decision(&c, "approve", "42");
        let posted = Instant::now();
        assert_eq!(device.decide(&p.one.base, &c, &body).await.status(), 202);
        let (status, decision, arrived) = waiting.await.unwrap();
        assert_eq!(status, 200);
        assert!(host_accepts(&c, &decision, &device.public_key()));
        delays.push(arrived.duration_since(posted));
        // The host's verdict, posted to instance 2, is shown through instance 1.
        let verdict = json!({"outcome":"approved","alerted":false,"paused_until":0});
        let id = c["id"].as_str().unwrap();
        let r = p
            .host_two
            .post(&format!("/v1/challenges/{id}/verdict"), &verdict)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let r = device.verdict(&p.one.base, id).await;
        assert_eq!(r.json::<Value>().await.unwrap()["outcome"], "approved");
    }
    delays.sort();
    eprintln!(
        "decision delivery across instances: median {:?}, max {:?}",
        delays[2], delays[4]
    );
    assert!(delays[4] < Duration::from_secs(2), "{delays:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pairing_completed_on_one_instance_reaches_the_host_waiting_on_the_other() {
    let Some(p) = Pair::start(
        "serve_instances::a_pairing_completed_on_one_instance_reaches_the_host_waiting_on_the_other",
        "",
    ) else {
        return;
    };
    let secret = [9u8; 32];
    let id = p.host_two.open_pairing("erin", &secret).await;
    let waiting = p.host_two.get(&format!("/v1/pairings/{id}?wait=10")).send();
    let waiting =
        tokio::spawn(async move { waiting.await.unwrap().json::<Value>().await.unwrap() });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut device = Device::new();
    let (status, _) = device
        .complete_pairing(&p.one.base, &id, &secret, None)
        .await;
    assert_eq!(status, 201);
    let done = tokio::time::timeout(Duration::from_secs(3), waiting)
        .await
        .expect("within the 1 s re-check")
        .unwrap();
    assert_eq!(done["status"], "complete");
    assert_eq!(
        done["proof"],
        pairing_proof(&secret, &id, &device.public_b64u())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_made_while_the_listener_was_disconnected_still_arrives() {
    let Some(p) = Pair::start(
        "serve_instances::a_decision_made_while_the_listener_was_disconnected_still_arrives",
        "",
    ) else {
        return;
    };
    let Backend::Postgres(db) = &p.db else {
        unreachable!()
    };
    let mut device = Device::new();
    p.host_one.pair("bob", &mut device, None).await;
    let c = Host::challenge("bob", &[&device.id], 60);
    p.host_one.open(&c).await;
    let waiting = wait_for(&p.host_two, &c);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Cut both instances' LISTEN connections, then decide at once: the NOTIFY finds nobody
    // listening and is lost; instance 2 must read the decision again when it reconnects.
    let cut = db.sql("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()");
    assert_eq!(
        cut.trim(),
        "2",
        "each instance had one listening connection"
    );
    let body = device.decision(&c, "deny", "42");
    let posted = Instant::now();
    assert_eq!(device.decide(&p.one.base, &c, &body).await.status(), 202);
    let (status, decision, arrived) = waiting.await.unwrap();
    assert_eq!((status, decision["decision"].as_str()), (200, Some("deny")));
    eprintln!(
        "decision after a listener reconnect: {:?}",
        arrived.duration_since(posted)
    );
    assert!(arrived.duration_since(posted) < Duration::from_secs(3));
    assert!(eventually(Duration::from_secs(2), || p
        .two
        .log()
        .contains("event=decision_listener_connected rechecked=1")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_whose_instance_died_gets_its_decision_from_the_other() {
    let Some(p) = Pair::start(
        "serve_instances::a_host_whose_instance_died_gets_its_decision_from_the_other",
        "",
    ) else {
        return;
    };
    let mut device = Device::new();
    p.host_one.pair("carol", &mut device, None).await;
    let c = Host::challenge("carol", &[&device.id], 60);
    p.host_one.open(&c).await;
    let waiting = try_wait_for(&p.host_one, &c);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = std::process::Command::new("kill")
        .args(["-9", &p.one.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // The long-poll on instance 1 breaks; the host fails over to instance 2.
    let broken = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the long-poll ends");
    assert!(
        broken.unwrap().is_none(),
        "the connection to the dead instance broke"
    );
    let waiting = wait_for(&p.host_two, &c);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let body = device.decision(&c, "approve", "42");
    assert_eq!(device.decide(&p.two.base, &c, &body).await.status(), 202);
    let (status, decision, _) = waiting.await.unwrap();
    assert_eq!(status, 200);
    assert!(host_accepts(&c, &decision, &device.public_key()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_totp_step_is_accepted_once_across_instances_in_five_rounds() {
    let Some(p) = Pair::start(
        "serve_instances::one_totp_step_is_accepted_once_across_instances_in_five_rounds",
        "",
    ) else {
        return;
    };
    for round in 0..5u64 {
        let step = 60_000_000 + round;
        let mut tasks = Vec::new();
        for i in 0..64 {
            let base = if i % 2 == 0 {
                p.one.base.clone()
            } else {
                p.two.base.clone()
            };
            let host = Host {
                token: p.host_one.token.clone(),
                http: client(),
                base,
            };
            tasks.push(tokio::spawn(async move {
                let r = host
                    .post(
                        "/v1/fleet/users/dana/claims",
                        &json!({"kind":"totp","step":step}),
                    )
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                r.json::<Value>().await.unwrap()["accepted"] == true
            }));
        }
        let mut accepted = 0;
        for t in tasks {
            accepted += usize::from(t.await.unwrap());
        }
        assert_eq!(accepted, 1, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosts_pending_quota_holds_across_instances() {
    let Some(p) = Pair::start(
        "serve_instances::a_hosts_pending_quota_holds_across_instances",
        "max_pending_per_host = 2\n",
    ) else {
        return;
    };
    let other = Host::new(&p.one, "web2");
    p.host_one.open(&Host::challenge("u1", &["d"], 60)).await;
    p.host_two.open(&Host::challenge("u2", &["d"], 60)).await;
    for host in [&p.host_one, &p.host_two] {
        let r = host
            .post("/v1/challenges", &Host::challenge("u3", &["d"], 60))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            503,
            "the third pending challenge of web1 is refused on either instance"
        );
    }
    // One pending challenge per host and user, whichever instance it went to.
    let again = Host::challenge("u1", &["d"], 60);
    assert_eq!(
        p.host_two
            .post("/v1/challenges", &again)
            .send()
            .await
            .unwrap()
            .status(),
        409
    );
    // Another host is not affected.
    other.open(&Host::challenge("u3", &["d"], 60)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_database_holds_no_secret_a_sealed_record_carried() {
    let Some(p) = Pair::start(
        "serve_instances::the_shared_database_holds_no_secret_a_sealed_record_carried",
        "",
    ) else {
        return;
    };
    let key = twofold_core::fleet::key::FleetKey::generate().unwrap();
    let secrets = [
        "KRUGKIDROVUWG2ZAMJZG653OEBTG66BA",
        "lamp-frog-2211-river",
        "otter-mist-0042-plum",
    ];
    for (version, host) in [&p.host_one, &p.host_two, &p.host_one]
        .into_iter()
        .enumerate()
    {
        let (i, version) = (version, version as u64);
        let plaintext = format!(
            "totp_secret = \"{}\"\nrecovery = [\"{}\", \"{}\"]\nround = {i}\n",
            secrets[0], secrets[1], secrets[2]
        );
        let record =
            twofold_core::fleet::envelope::seal(&key, "ines", version + 1, plaintext.as_bytes())
                .unwrap();
        let body = json!({"expected_version": version, "record": record});
        let r = host
            .http
            .put(format!("{}/v1/fleet/users/ines", host.base))
            .bearer_auth(&host.token)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = p
        .host_two
        .post(
            "/v1/fleet/users/ines/claims",
            &json!({"kind":"recovery","code_id":"rc-1"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let Backend::Postgres(db) = &p.db else {
        unreachable!()
    };
    let dump = db.dump();
    assert!(
        dump.contains("ines") && dump.contains("rc-1"),
        "the dump holds the user's rows"
    );
    for secret in secrets {
        assert!(
            !dump.contains(secret),
            "pg_dump holds {secret:?} in plain text"
        );
    }
}
