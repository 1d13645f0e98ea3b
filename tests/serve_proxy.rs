//! `behind_proxy = true`: plain HTTP is served to the proxy only — loopback peers and the
//! configured `trusted_proxies` — never to every address. Against the real `twofold serve`.

mod serve_support;

use serve_support::*;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// This machine's address on its default route (no packet is sent), if it is not loopback.
fn own_public_address() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.254:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

fn skip(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("SKIP not allowed under CI: {why}");
    }
    eprintln!("SKIP: {why}");
}

/// A `[serve]` configuration listening on all addresses behind a proxy.
fn proxy_config(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let config = write_config(dir, &format!("behind_proxy = true\n{extra}"));
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, text.replace("127.0.0.1:0", "0.0.0.0:0")).expect("config");
    config
}

/// GET /v1/push-key over a raw connection to `ip:port`: the status line, or None when the
/// service closed the connection without answering.
async fn status_via(ip: IpAddr, port: u16) -> Option<String> {
    let mut s = tokio::net::TcpStream::connect((ip, port)).await.ok()?;
    s.write_all(b"GET /v1/push-key HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut all = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut all)).await;
    assert!(read.is_ok(), "the service neither answered nor closed");
    let text = String::from_utf8_lossy(&all).into_owned();
    text.lines()
        .next()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
}

#[tokio::test]
async fn behind_a_proxy_plain_http_is_served_only_to_loopback_and_trusted_proxies() {
    let Some(own) = own_public_address() else {
        return skip("no non-loopback address on this machine");
    };
    let dir = tempfile::tempdir().expect("dir");
    let config = proxy_config(dir.path(), "trusted_proxies = [\"192.0.2.253\"]\n");
    let (mut child, base) = spawn(&config, dir.path());
    let port: u16 = base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let loopback = status_via("127.0.0.1".parse().expect("ip"), port).await;
    let other = status_via(own, port).await;
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
    assert_eq!(
        loopback.as_deref(),
        Some("HTTP/1.1 200 OK"),
        "the proxy on loopback"
    );
    assert_eq!(other, None, "plain HTTP from {own}, not a trusted proxy");
    assert!(
        log.contains(&format!(
            "event=refused reason=not_a_trusted_proxy client={own}"
        )),
        "{log}"
    );
}

#[test]
fn behind_a_proxy_on_all_addresses_without_trusted_proxies_refuses_to_start() {
    let dir = tempfile::tempdir().expect("dir");
    let config = proxy_config(dir.path(), "");
    let out = Command::new(TWOFOLD)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("trusted_proxies"), "{stderr}");
}
