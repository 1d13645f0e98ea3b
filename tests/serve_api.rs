//! The approval service through its HTTP API: the real `twofold serve` on 127.0.0.1, a test
//! host with a token from `--add-host`, and a test device that signs like the phone page.

mod serve_support;

use serde_json::{Value, json};
use serve_support::*;
use std::time::{Duration, Instant};

#[tokio::test]
async fn pairing_completes_and_the_waiting_host_sees_it_at_once() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let secret = [42u8; 32];
    let opened = json!({ "user": "alice", "completion_key": b64u(completion_key(&secret)) });
    let r = host.post("/v1/pairings", &opened).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let pairing: Value = r.json().await.unwrap();
    let id = pairing["pairing_id"].as_str().unwrap().to_string();
    assert!(pairing["expires"].as_u64().unwrap() >= now() + 590);

    // Nothing yet: the long-poll ends with "pending".
    let r = host
        .get(&format!("/v1/pairings/{id}?wait=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "pending");

    let waiting = tokio::spawn(host.get(&format!("/v1/pairings/{id}?wait=10")).send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut device = Device::new();
    let posted = Instant::now();
    let (status, _) = device
        .complete_pairing(&service.base, &id, &secret, None)
        .await;
    assert_eq!(status, 201);
    let done: Value = waiting.await.unwrap().unwrap().json().await.unwrap();
    let delay = posted.elapsed();
    assert_eq!(done["status"], "complete");
    assert_eq!(done["device_id"], device.id.as_str());
    assert_eq!(done["public_key"], device.public_b64u());
    assert_eq!(done["device_name"], "Test phone");
    assert_eq!(
        done["proof"],
        pairing_proof(&secret, &id, &device.public_b64u())
    );
    assert!(
        delay < Duration::from_millis(500),
        "pairing reached the host after {delay:?}"
    );

    let mut again = Device::new();
    let (status, _) = again
        .complete_pairing(&service.base, &id, &secret, None)
        .await;
    assert_eq!(status, 409, "a pairing completes once");
    let (status, _) = again
        .complete_pairing(&service.base, "nosuchpairing", &secret, None)
        .await;
    assert_eq!(status, 404);
    let other = Host::new(&service, "web2");
    let r = other
        .get(&format!("/v1/pairings/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "another host cannot see the pairing");
}

#[tokio::test]
async fn decision_reaches_the_waiting_host_within_milliseconds() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let mut device = Device::new();
    host.pair("alice", &mut device, None).await;

    let c = Host::challenge("alice", &[&device.id], 60);
    let r = host.post("/v1/challenges", &c).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["devices"], 1);

    // The device sees the challenge's context, never a number.
    let r = device.pending(&service.base).await;
    assert_eq!(r.status(), 200);
    let pending: Vec<Value> = r.json().await.unwrap();
    assert_eq!(pending.len(), 1);
    for key in [
        "id", "nonce", "user", "host", "service", "rhost", "created", "expires",
    ] {
        assert_eq!(pending[0][key], c[key], "{key}");
    }
    assert!(pending[0].get("number").is_none() && pending[0].get("device_ids").is_none());

    let path = format!(
        "/v1/challenges/{}/decision?wait=10",
        c["id"].as_str().unwrap()
    );
    let request = host.get(&path).send();
    let waiting = tokio::spawn(async move {
        let r = request.await.unwrap();
        let arrived = Instant::now();
        (r.status(), r.json::<Value>().await.unwrap(), arrived)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let body = device.decision(&c, "approve", "42");
    let posted = Instant::now();
    let r = device.decide(&service.base, &c, &body).await;
    assert_eq!(r.status(), 202);
    let (status, decision, arrived) = waiting.await.unwrap();
    let delay = arrived.duration_since(posted);
    println!("decision delivered {delay:?} after the POST");
    assert_eq!(status, 200);
    assert!(delay < Duration::from_millis(50), "decision took {delay:?}");
    assert_eq!(decision, body, "relayed unchanged");
    assert!(host_accepts(&c, &decision, &device.public_key()));

    // Decided: no longer pending for the device; asking again gives the same decision.
    let r = device.pending(&service.base).await;
    assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 0);
    let r = host
        .get(&path.replace("wait=10", "wait=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), body);
    // As a value of its own: "42" may occur by chance inside an id, a port or a time.
    let log = service.log();
    assert!(
        log.split(|c: char| c.is_whitespace() || c == '=' || c == '"')
            .all(|word| word != "42"),
        "the number is never logged:\n{log}"
    );
}

#[tokio::test]
async fn a_second_pending_challenge_for_the_same_user_is_refused() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let mut device = Device::new();
    host.pair("alice", &mut device, None).await;
    let first = Host::challenge("alice", &[&device.id], 60);
    host.open(&first).await;
    let second = Host::challenge("alice", &[&device.id], 60);
    assert_eq!(
        host.post("/v1/challenges", &second)
            .send()
            .await
            .unwrap()
            .status(),
        409
    );
    // Same id again is refused too; another user and another host are independent.
    assert_eq!(
        host.post("/v1/challenges", &first)
            .send()
            .await
            .unwrap()
            .status(),
        409
    );
    let bob = Host::challenge("bob", &["d1"], 60);
    host.open(&bob).await;
    let web2 = Host::new(&service, "web2");
    let other = Host::challenge("alice", &["d1"], 60);
    web2.open(&other).await;
    // Once decided, alice can get a new challenge.
    let body = device.decision(&first, "deny", "");
    assert_eq!(
        device.decide(&service.base, &first, &body).await.status(),
        202
    );
    host.open(&second).await;
}

#[tokio::test]
async fn withdrawn_challenge_stops_being_pending() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let mut device = Device::new();
    host.pair("alice", &mut device, None).await;
    let c = Host::challenge("alice", &[&device.id], 60);
    host.post("/v1/challenges", &c).send().await.unwrap();
    let path = format!("/v1/challenges/{}", c["id"].as_str().unwrap());
    let web2 = Host::new(&service, "web2");
    assert_eq!(
        web2.delete(&path).send().await.unwrap().status(),
        404,
        "not web2's"
    );
    assert_eq!(host.delete(&path).send().await.unwrap().status(), 204);
    assert_eq!(
        device
            .pending(&service.base)
            .await
            .json::<Vec<Value>>()
            .await
            .unwrap()
            .len(),
        0
    );
    let next = Host::challenge("alice", &[&device.id], 60);
    host.open(&next).await;
}

#[tokio::test]
async fn a_second_decision_is_refused_and_the_first_one_stands() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let mut device = Device::new();
    host.pair("alice", &mut device, None).await;
    let c = Host::challenge("alice", &[&device.id], 60);
    host.post("/v1/challenges", &c).send().await.unwrap();

    // A decision naming a device the host did not ask neither counts nor blocks the real one.
    let mut intruder = Device::new();
    intruder.id = "not-asked".into();
    let foreign = intruder.decision(&c, "deny", "");
    assert_eq!(
        intruder.decide(&service.base, &c, &foreign).await.status(),
        403
    );
    let mut malformed = device.decision(&c, "approve", "42");
    malformed["decision"] = json!("maybe");
    assert_eq!(
        device.decide(&service.base, &c, &malformed).await.status(),
        400
    );

    let first = device.decision(&c, "approve", "42");
    assert_eq!(device.decide(&service.base, &c, &first).await.status(), 202);
    let second = device.decision(&c, "report", "");
    let r = device.decide(&service.base, &c, &second).await;
    assert_eq!(r.status(), 409);
    let path = format!("/v1/challenges/{}/decision", c["id"].as_str().unwrap());
    let got: Value = host.get(&path).send().await.unwrap().json().await.unwrap();
    assert_eq!(got, first);
}

#[tokio::test]
async fn an_expired_challenge_is_gone_and_its_waiting_host_is_told() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let mut device = Device::new();
    host.pair("alice", &mut device, None).await;
    let c = Host::challenge("alice", &[&device.id], 2);
    host.post("/v1/challenges", &c).send().await.unwrap();
    let path = format!("/v1/challenges/{}/decision", c["id"].as_str().unwrap());
    let started = Instant::now();
    let r = host.get(&format!("{path}?wait=30")).send().await.unwrap();
    assert_eq!(r.status(), 404, "the long-poll ends at expiry");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(host.get(&path).send().await.unwrap().status(), 404);
    let late = device.decision(&c, "approve", "42");
    assert_eq!(device.decide(&service.base, &c, &late).await.status(), 404);
    assert_eq!(
        device
            .pending(&service.base)
            .await
            .json::<Vec<Value>>()
            .await
            .unwrap()
            .len(),
        0
    );
    // The user is free for a new challenge.
    let next = Host::challenge("alice", &[&device.id], 60);
    host.open(&next).await;
}

#[tokio::test]
async fn a_long_poll_without_decision_ends_with_204() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let c = Host::challenge("alice", &["d1"], 60);
    host.post("/v1/challenges", &c).send().await.unwrap();
    let path = format!(
        "/v1/challenges/{}/decision?wait=1",
        c["id"].as_str().unwrap()
    );
    let started = Instant::now();
    let r = host.get(&path).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(started.elapsed() >= Duration::from_millis(900));
    let web2 = Host::new(&service, "web2");
    assert_eq!(
        web2.get(&path).send().await.unwrap().status(),
        404,
        "not web2's"
    );
}

#[tokio::test]
async fn the_hosts_verdict_reaches_the_asked_device_and_nobody_else() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let other_host = Host::new(&service, "web2");
    let mut device = Device::new();
    host.pair("alice", &mut device, None).await;
    let mut stranger = Device::new();
    host.pair("bob", &mut stranger, None).await;
    let c = Host::challenge("alice", &[&device.id], 60);
    let id = c["id"].as_str().unwrap().to_string();
    host.open(&c).await;
    let path = format!("/v1/challenges/{id}/verdict");
    let mismatch = json!({"outcome": "number_mismatch", "alerted": false, "paused_until": 0});

    // Nothing to give a verdict on before the phone answered.
    assert_eq!(
        host.post(&path, &mismatch).send().await.unwrap().status(),
        409
    );
    let r = device.verdict(&service.base, &id).await;
    assert_eq!(r.status(), 204);
    let body = device.decision(&c, "approve", "17");
    assert_eq!(device.decide(&service.base, &c, &body).await.status(), 202);
    assert_eq!(device.verdict(&service.base, &id).await.status(), 204);

    // Only the host that posted the challenge, only known outcomes.
    assert_eq!(
        other_host
            .post(&path, &mismatch)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let bogus = json!({"outcome": "approved-ish"});
    assert_eq!(host.post(&path, &bogus).send().await.unwrap().status(), 400);
    assert_eq!(
        host.post(&path, &mismatch).send().await.unwrap().status(),
        204
    );
    // Idempotent; a different one is refused and the first stands.
    assert_eq!(
        host.post(&path, &mismatch).send().await.unwrap().status(),
        204
    );
    let approved = json!({"outcome": "approved"});
    assert_eq!(
        host.post(&path, &approved).send().await.unwrap().status(),
        409
    );

    let r = device.verdict(&service.base, &id).await;
    assert_eq!(r.status(), 200);
    let got: Value = r.json().await.unwrap();
    assert_eq!(
        got,
        json!({"outcome": "number_mismatch", "alerted": false, "paused_until": 0})
    );
    assert!(got.get("number").is_none());
    // A device the challenge did not name learns nothing, not even that it exists.
    assert_eq!(stranger.verdict(&service.base, &id).await.status(), 404);
    // Unsigned: refused like every device request.
    let r = reqwest::get(format!(
        "{}/v1/devices/{}/challenges/{id}/verdict",
        service.base, device.id
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 401);
    let log = service.log();
    assert!(
        log.contains("event=verdict host=\"web1\" outcome=number_mismatch"),
        "{log}"
    );
    assert!(
        log.split(|c: char| c.is_whitespace() || c == '=' || c == '"')
            .all(|word| word != "17"),
        "the number is never logged:\n{log}"
    );
}
