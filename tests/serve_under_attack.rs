//! The approval service under attack without credentials: slow or endless request bodies,
//! idle connections, oversized and malformed bodies. Against the real `twofold serve`; memory
//! is read from /proc/<pid>/status of that process.

mod serve_support;

use serve_support::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The service's resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn addr(service: &Service) -> String {
    service.base.trim_start_matches("http://").to_string()
}

/// Sends the head of a POST whose body is `length` bytes, and nothing of the body.
async fn start_post(service: &Service, path: &str, length: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr(service)).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("write head");
    s
}

/// Reads until the service closes the connection (or `limit` passes): what it answered.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let end = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(end, s.read(&mut buf)).await {
            Err(_) => return None, // still open
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&all).into_owned()),
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_bodies_do_not_grow_memory() {
    // The limit is off so that only memory is tested; a long deadline so the bodies keep coming.
    let service = Service::start("client_requests_per_minute = 0\nclient_timeout_seconds = 30\n");
    let pid = service.pid();
    let before = rss_kib(pid);
    let mut conns = Vec::new();
    for _ in 0..100 {
        conns.push(
            start_post(
                &service,
                "/v1/pairings/AAAAAAAAAAAAAAAAAAAAAA/complete",
                16_000,
            )
            .await,
        );
    }
    // 1,500 single bytes on each connection, one at a time (150 KB in all).
    let mut peak = before;
    for round in 0..1500 {
        for c in &mut conns {
            let _ = c.write_all(b" ").await;
        }
        if round % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            peak = peak.max(rss_kib(pid));
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    peak = peak.max(rss_kib(pid));
    drop(conns);
    let grown = peak.saturating_sub(before);
    eprintln!("VmRSS before {before} KiB, peak {peak} KiB, grown {grown} KiB");
    assert!(
        grown < 64 * 1024,
        "100 connections trickling 1,500 body bytes each grew the service by {grown} KiB \
         (before {before} KiB, peak {peak} KiB): body pieces must not pin read buffers"
    );
}

#[tokio::test]
async fn slow_request_bodies_are_cut_off_at_the_deadline() {
    let service = Service::start("client_timeout_seconds = 2\n");
    let mut s = start_post(
        &service,
        "/v1/pairings/AAAAAAAAAAAAAAAAAAAAAA/complete",
        100,
    )
    .await;
    s.write_all(b"{").await.expect("write");
    let started = Instant::now();
    let answer = read_until_closed(&mut s, Duration::from_secs(8)).await;
    let answer = answer.expect("a body that stops arriving must not hold the connection open");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        service.log().contains("reason=slow_body"),
        "{}",
        service.log()
    );
}

#[tokio::test]
async fn idle_and_slow_header_connections_are_closed() {
    let service = Service::start("client_timeout_seconds = 2\n");
    // Idle after one request on a kept-alive connection.
    let mut idle = TcpStream::connect(addr(&service)).await.expect("connect");
    idle.write_all(b"GET /v1/push-key HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    // Never finishes its headers.
    let mut slow = TcpStream::connect(addr(&service)).await.expect("connect");
    slow.write_all(b"GET /v1/push-key HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    for (what, s) in [("idle keep-alive", &mut idle), ("slow headers", &mut slow)] {
        let closed = read_until_closed(s, Duration::from_secs(8)).await;
        assert!(closed.is_some(), "{what} connection still open after 8 s");
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_they_are_read() {
    let service = Service::start("");
    let mut s = start_post(
        &service,
        "/v1/pairings/AAAAAAAAAAAAAAAAAAAAAA/complete",
        10_000_000,
    )
    .await;
    // Not a byte of the body is sent: the answer must come from the announced length alone.
    let answer = read_until_closed(&mut s, Duration::from_secs(5)).await;
    let answer = answer.expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test]
async fn unparseable_bodies_count_against_the_rate_limit() {
    let service = Service::start("client_requests_per_minute = 5\n");
    let http = client();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let r = http
            .post(service.url("/v1/challenges/AAAAAAAAAAAAAAAAAAAAAA/decision"))
            .body("{not json")
            .send()
            .await
            .expect("POST");
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses[..5], [400; 5], "{statuses:?}");
    assert_eq!(statuses[5..], [429; 2], "{statuses:?}");
    // Logged, but not once per request: anyone can cause these at will.
    let log = service.log();
    assert_eq!(
        log.matches("reason=client_rate_limit").count(),
        1,
        "one line a minute per address: {log}"
    );
}
