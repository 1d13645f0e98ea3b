//! Web Push goes to public addresses only (unless configured): a subscription cannot make the
//! service connect to loopback, the local network or a metadata address, neither by an IP
//! literal nor by a name that resolves to one. Against the real `twofold serve`.

mod serve_support;

use serde_json::{Value, json};
use serve_support::*;
use std::time::Duration;

fn subscription(device: &Device, endpoint: &str) -> Value {
    json!({ "endpoint": endpoint, "keys": { "p256dh": b64u(device.public_key()), "auth": b64u([2u8; 16]) } })
}

async fn put_subscription(service: &Service, device: &Device, endpoint: &str) -> u16 {
    let path = format!("/v1/devices/{}/subscription", device.id);
    let body = json!({ "push_subscription": subscription(device, endpoint) }).to_string();
    device
        .signed_body(reqwest::Method::PUT, &service.base, &path, body.as_bytes())
        .send()
        .await
        .expect("PUT")
        .status()
        .as_u16()
}

#[tokio::test]
async fn push_endpoints_on_internal_addresses_are_refused() {
    let service = Service::start("push_allowed_networks = [\"10.0.0.0/8\"]\n");
    let host = Host::new(&service, "web1");
    let mut device = Device::new();
    host.pair("alice", &mut device, None).await;
    for endpoint in [
        "https://127.0.0.1/push",
        "https://[::1]:8443/push",
        "https://169.254.169.254/latest/meta-data",
        "https://192.168.1.1/push",
        "https://[fd00::2]/push",
        "https://[::ffff:127.0.0.1]/push",
    ] {
        assert_eq!(
            put_subscription(&service, &device, endpoint).await,
            400,
            "{endpoint}"
        );
    }
    assert_eq!(
        put_subscription(&service, &device, "https://10.1.2.3/push").await,
        204,
        "configured network"
    );
    assert_eq!(
        put_subscription(&service, &device, "https://push.example.net/x").await,
        204
    );
    // At pairing, too.
    let secret = [3u8; 32];
    let id = host.open_pairing("bob", &secret).await;
    let mut phone = Device::new();
    let sub = subscription(&phone, "https://169.254.169.254/x");
    let (status, _) = phone
        .complete_pairing(&service.base, &id, &secret, Some(sub))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_push_endpoint_name_that_resolves_to_an_internal_address_is_never_contacted() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let service = Service::start("");
    let host = Host::new(&service, "web1");
    let mut device = Device::new();
    // "localhost" passes the form check (it is a name), and resolves to 127.0.0.1.
    let endpoint = format!("https://localhost:{port}/push/SECRETPART");
    let sub = subscription(&device, &endpoint);
    host.pair("alice", &mut device, Some(sub)).await;
    let c = Host::challenge("alice", &[&device.id], 60);
    host.open(&c).await;
    assert!(
        eventually(Duration::from_secs(10), || service
            .log()
            .contains("event=push_failed")),
        "the push attempt ends: {}",
        service.log()
    );
    let log = service.log();
    assert!(log.contains("resolves to no public address"), "{log}");
    assert!(
        !log.contains("SECRETPART"),
        "the endpoint stays out of the log: {log}"
    );
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the service connected to loopback"
    );
}
