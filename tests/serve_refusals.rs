//! What the approval service refuses: missing or wrong host tokens, device requests that do not
//! verify, oversized bodies, malformed challenges. Against the real `twofold serve`.

mod serve_support;

use serde_json::{Value, json};
use serve_support::*;

#[tokio::test]
async fn challenge_without_or_with_a_wrong_host_token_is_refused() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let c = Host::challenge("alice", &["d1"], 60);
    let http = client();
    let r = http
        .post(service.url("/v1/challenges"))
        .body(c.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let wrong = format!("{}x", host.token);
    let r = http
        .post(service.url("/v1/challenges"))
        .bearer_auth(wrong)
        .body(c.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthorized");
    host.open(&c).await;
}

#[tokio::test]
async fn device_requests_with_a_bad_signature_stale_time_or_removed_device_are_refused() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let mut device = Device::new();
    host.pair("alice", &mut device, None).await;
    let path = format!("/v1/devices/{}/pending", device.id);
    let get = reqwest::Method::GET;
    let ok = device.signed(get.clone(), &service.base, &path, now(), &device.key);
    assert_eq!(ok.send().await.unwrap().status(), 200);

    let stranger = Device::new();
    let forged = device.signed(get.clone(), &service.base, &path, now(), &stranger.key);
    assert_eq!(
        forged.send().await.unwrap().status(),
        401,
        "signed by another key"
    );
    let stale = device.signed(get.clone(), &service.base, &path, now() - 121, &device.key);
    assert_eq!(
        stale.send().await.unwrap().status(),
        401,
        "timestamp 121 s old"
    );
    let future = device.signed(get.clone(), &service.base, &path, now() + 121, &device.key);
    assert_eq!(
        future.send().await.unwrap().status(),
        401,
        "timestamp 121 s ahead"
    );
    let unsigned = client().get(service.url(&path)).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);

    let r = host
        .delete(&format!("/v1/devices/{}", device.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let removed = device.signed(get, &service.base, &path, now(), &device.key);
    assert_eq!(
        removed.send().await.unwrap().status(),
        401,
        "removed device"
    );
    let again = host
        .delete(&format!("/v1/devices/{}", device.id))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let mut c = Host::challenge("alice", &["d1"], 60);
    c["padding"] = json!("x".repeat(20_000));
    let r = host.post("/v1/challenges", &c).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let r = client()
        .post(service.url("/v1/challenges/abc/decision"))
        .body(vec![b'{'; 17 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn malformed_challenges_are_refused() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let cases: Vec<(&str, Value)> = vec![
        ("newline in user", json!("alice\nroot")),
        ("long life", json!(null)),
        ("short id", json!("abc")),
    ];
    for (what, value) in cases {
        let mut c = Host::challenge("alice", &["d1"], 60);
        match what {
            "newline in user" => c["user"] = value,
            "long life" => c["expires"] = json!(c["created"].as_u64().unwrap() + 301),
            _ => c["id"] = value,
        }
        let r = host.post("/v1/challenges", &c).send().await.unwrap();
        assert_eq!(r.status(), 400, "{what}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "bad_request");
    }
    let r = host
        .post("/v1/challenges", &json!({"id": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
