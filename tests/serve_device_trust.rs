//! What a third party who can reach the service (and may have captured a device's traffic)
//! can no longer do: replay a signed device request, swap the body under a signature, settle
//! a challenge with a decision the device did not sign, complete someone else's pairing, or
//! make the phone show another host's name. Against the real `twofold serve`.

mod serve_support;

use serde_json::{Value, json};
use serve_support::*;

#[tokio::test]
async fn a_replayed_device_request_is_refused() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let mut device = Device::new();
    host.pair("alice", &mut device, None).await;
    let c = Host::challenge("alice", &[&device.id], 60);
    host.open(&c).await;
    let path = format!("/v1/devices/{}/pending", device.id);
    let get = reqwest::Method::GET;
    let ts = now();
    let captured =
        device.signed_exactly(get.clone(), &service.base, &path, ts, 500, b"", &device.key);
    let replay = captured.try_clone().expect("no streaming body");
    let first = captured.send().await.unwrap();
    assert_eq!(first.status(), 200);
    let listed: Value = first.json().await.unwrap();
    assert_eq!(listed[0]["id"], c["id"], "the device sees its challenge");
    let again = replay.send().await.unwrap();
    assert_eq!(again.status(), 401, "the same signed request a second time");
    let text = again.text().await.unwrap();
    assert!(
        !text.contains(c["id"].as_str().unwrap()),
        "the replay reveals nothing: {text}"
    );
    // An older counter, freshly signed, is refused too; a newer one works.
    let older = device.signed_exactly(get.clone(), &service.base, &path, ts, 499, b"", &device.key);
    assert_eq!(older.send().await.unwrap().status(), 401);
    let newer = device.signed_exactly(get, &service.base, &path, now(), 501, b"", &device.key);
    assert_eq!(newer.send().await.unwrap().status(), 200);
    assert!(
        service
            .log()
            .contains("reason=\"counter not above the last one accepted")
    );
}

#[tokio::test]
async fn a_signed_subscription_change_cannot_carry_another_body() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let mut device = Device::new();
    host.pair("alice", &mut device, None).await;
    let path = format!("/v1/devices/{}/subscription", device.id);
    let mine = json!({ "push_subscription": null }).to_string();
    let captured = device.signed_body(reqwest::Method::PUT, &service.base, &path, mine.as_bytes());
    // The attacker keeps the headers and sends their own body (say, their own endpoint).
    let theirs = json!({ "push_subscription": {
        "endpoint": "https://attacker.example/push",
        "keys": { "p256dh": b64u(device.public_key()), "auth": b64u([1u8; 16]) },
    }})
    .to_string();
    let swapped = captured
        .try_clone()
        .expect("clone")
        .body(theirs)
        .send()
        .await
        .unwrap();
    assert_eq!(
        swapped.status(),
        401,
        "the signature covers the body's hash"
    );
    assert!(service.log().contains("reason=\"bad signature\""));
    assert_eq!(
        captured.send().await.unwrap().status(),
        204,
        "the real request still works"
    );
}

#[tokio::test]
async fn a_decision_the_device_did_not_sign_does_not_settle_the_challenge() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let mut device = Device::new();
    host.pair("alice", &mut device, None).await;
    let c = Host::challenge("alice", &[&device.id], 60);
    host.open(&c).await;

    // Someone else, first: well-formed, right device id, but not the device's signature.
    let forged = json!({
        "device_id": device.id, "decision": "approve", "number": "42",
        "decided_at": now(), "signature": b64u([7u8; 64]),
    });
    assert_eq!(
        device.decide(&service.base, &c, &forged).await.status(),
        403
    );
    // The device's real signature over another challenge, replayed onto this one.
    let other = Host::challenge("alice", &[&device.id], 60);
    let elsewhere = device.decision(&other, "deny", "");
    assert_eq!(
        device.decide(&service.base, &c, &elsewhere).await.status(),
        403
    );
    // A stranger's key signing for this device id.
    let mut stranger = Device::new();
    stranger.id = device.id.clone();
    let by_stranger = stranger.decision(&c, "deny", "");
    assert_eq!(
        device
            .decide(&service.base, &c, &by_stranger)
            .await
            .status(),
        403
    );
    assert!(service.log().contains("reason=decision_not_verified"));

    // The user's own answer still settles it, and it is what the host receives.
    let real = device.decision(&c, "approve", "42");
    assert_eq!(device.decide(&service.base, &c, &real).await.status(), 202);
    let id = c["id"].as_str().unwrap();
    let r = host
        .get(&format!("/v1/challenges/{id}/decision?wait=5"))
        .send()
        .await
        .unwrap();
    let got: Value = r.json().await.unwrap();
    assert_eq!(got["signature"], real["signature"]);
    assert!(host_accepts(&c, &got, &device.public_key()));
}

/// How many device rows the service's database holds.
fn device_rows(service: &Service) -> i64 {
    let db = rusqlite::Connection::open(service.dir.path().join("serve.db")).expect("db");
    db.query_row("SELECT COUNT(*) FROM devices", [], |r| r.get(0))
        .expect("count")
}

#[tokio::test]
async fn only_the_phone_holding_the_pairing_secret_can_complete_the_pairing() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let secret = [9u8; 32];
    let id = host.open_pairing("alice", &secret).await;
    // Someone who learnt the pairing id (not the secret): wrong MAC, no MAC.
    let mut intruder = Device::new();
    let (status, _) = intruder
        .complete_pairing(&service.base, &id, &[1u8; 32], None)
        .await;
    assert_eq!(status, 403);
    let body = json!({
        "public_key": intruder.public_b64u(), "proof": b64u([0u8; 32]), "device_name": "x",
    });
    let r = client()
        .post(service.url(&format!("/v1/pairings/{id}/complete")))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(device_rows(&service), 0, "no orphan device row");
    assert!(service.log().contains("reason=pairing_mac"));
    let r = host
        .get(&format!("/v1/pairings/{id}?wait=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "pending");

    // The real phone is not locked out by the attempts.
    let mut phone = Device::new();
    let (status, answer) = phone
        .complete_pairing(&service.base, &id, &secret, None)
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        answer["host"], "web1",
        "the page learns the registered host name"
    );
    assert_eq!(device_rows(&service), 1);
}

#[tokio::test]
async fn a_pairing_without_a_completion_key_is_refused() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let r = host
        .post("/v1/pairings", &json!({ "user": "alice" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn the_phone_is_shown_the_host_name_bound_to_the_token() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let mut device = Device::new();
    host.pair("alice", &mut device, None).await;
    let mut c = Host::challenge("alice", &[&device.id], 60);
    c["host"] = json!("bank.example");
    host.open(&c).await;
    let listed: Value = device.pending(&service.base).await.json().await.unwrap();
    assert_eq!(listed[0]["registered_host"], "web1", "{listed}");
    assert_eq!(
        listed[0]["host"], "bank.example",
        "the signed field is unchanged"
    );
}
