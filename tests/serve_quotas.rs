//! Per-host quotas: one host filling its share of the service (pending challenges, long-polls)
//! leaves the other hosts unaffected, and the service logs each refusal. Against the real
//! `twofold serve`.

mod serve_support;

use serve_support::*;

#[tokio::test]
async fn one_host_filling_its_challenge_quota_leaves_other_hosts_unaffected() {
    let service = Service::start("max_pending = 100\nmax_pending_per_host = 20\n");
    let flood = Host::new(&service, "flood");
    let other = Host::new(&service, "web2");
    for i in 0..20 {
        let c = Host::challenge(&format!("user{i}"), &["d1"], 60);
        let r = flood.post("/v1/challenges", &c).send().await.expect("POST");
        assert_eq!(r.status(), 201, "challenge {i} within the quota");
    }
    let over = Host::challenge("user20", &["d1"], 60);
    let r = flood
        .post("/v1/challenges", &over)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 503, "over the host's quota");
    let c = Host::challenge("alice", &["d1"], 60);
    let r = other.post("/v1/challenges", &c).send().await.expect("POST");
    assert_eq!(r.status(), 201, "another host is not affected");
    let log = service.log();
    assert!(
        log.contains("event=refused reason=host_quota host=\"flood\""),
        "the refusal is logged: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_host_holding_its_long_poll_quota_leaves_other_hosts_unaffected() {
    let service = Service::start("max_pending = 100\nmax_pending_per_host = 3\n");
    let flood = Host::new(&service, "flood");
    let other = Host::new(&service, "web2");
    let c = Host::challenge("alice", &["d1"], 60);
    assert_eq!(
        flood
            .post("/v1/challenges", &c)
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let id = c["id"].as_str().unwrap().to_string();
    // Ten long-polls at once: three are held (20 s), the other seven are refused at once.
    let mut polls = Vec::new();
    for _ in 0..10 {
        let r = flood.get(&format!("/v1/challenges/{id}/decision?wait=20"));
        polls.push(tokio::spawn(async move {
            r.send().await.map(|r| r.status().as_u16())
        }));
    }
    let mut answered = Vec::new();
    let end = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    for p in &mut polls {
        if let Ok(Ok(Ok(status))) = tokio::time::timeout_at(end, p).await {
            answered.push(status);
        }
    }
    assert_eq!(answered, [503; 7], "three held, seven refused at once");
    let c2 = Host::challenge("bob", &["d1"], 60);
    assert_eq!(
        other
            .post("/v1/challenges", &c2)
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let path2 = format!(
        "/v1/challenges/{}/decision?wait=0",
        c2["id"].as_str().unwrap()
    );
    assert_eq!(
        other.get(&path2).send().await.unwrap().status(),
        204,
        "web2 may still wait"
    );
    assert!(
        service
            .log()
            .contains("reason=host_quota host=\"flood\" quota=long_polls")
    );
    for p in polls {
        p.abort();
    }
}

#[tokio::test]
async fn a_user_gets_at_most_sixteen_active_devices_per_host() {
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    for _ in 0..16 {
        let mut d = Device::new();
        host.pair("alice", &mut d, None).await;
    }
    let secret = [4u8; 32];
    let id = host.open_pairing("alice", &secret).await;
    let mut extra = Device::new();
    let (status, _) = extra
        .complete_pairing(&service.base, &id, &secret, None)
        .await;
    assert_eq!(status, 409, "the 17th device");
    assert!(service.log().contains("quota=devices_per_user"));
    // Another user of the same host is not affected.
    let mut bobs = Device::new();
    host.pair("bob", &mut bobs, None).await;
}
