//! The client against a loopback "service" that answers every request with fixed raw bytes.

use super::*;
use crate::push::protocol::Challenge;
use crate::push::service::{Service, ServiceError};
use std::net::TcpListener;

/// Serves `reply` to each of `connections` connections after reading the request head; the
/// client's URL.
fn raw_service(reply: &'static [u8], connections: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let mut stream = stream.unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = stream.write_all(reply);
        }
    });
    url
}

fn get(url: &str) -> Result<Response, HttpError> {
    let endpoint = Endpoint::parse(url).unwrap();
    let client = Client::new(endpoint, None, Duration::from_secs(2));
    client.request(
        "GET",
        "/v1/x",
        None,
        &[],
        Instant::now() + Duration::from_secs(5),
    )
}

fn malformed(result: Result<Response, HttpError>) -> &'static str {
    match result {
        Err(HttpError::Malformed(why)) => why,
        other => panic!("not refused as malformed: {other:?}"),
    }
}

const OVERFLOW: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\nffffffffffffffff\r\nb\r\n0\r\n\r\n";

#[test]
fn chunk_size_overflow_is_an_error_not_a_panic() {
    let url = raw_service(OVERFLOW, 1);
    assert_eq!(malformed(get(&url)), "response body too large");
}

#[test]
fn malformed_status_line_is_refused() {
    let url = raw_service(b"HTTP/1.1!200 OK\r\nContent-Length: 2\r\n\r\n{}", 1);
    assert_eq!(malformed(get(&url)), "bad status line");
}

#[test]
fn well_formed_chunked_answer_is_read_over_the_socket() {
    let url = raw_service(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        1,
    );
    let r = get(&url).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
}

#[test]
fn service_with_garbled_answers_is_unreachable_for_the_sign_in() {
    // What the push dialogue sees: Unreachable, which `[push] fail_mode` handles (a code by
    // default, with an audit line), not a panic that skips both.
    let url = raw_service(OVERFLOW, 2);
    let endpoint = Endpoint::parse(&url).unwrap();
    let service = Service::new(Client::new(endpoint, None, Duration::from_secs(2)));
    let challenge = Challenge::new("alice", "host", "sshd", "", 1_000, 60).unwrap();
    let created = service.create_challenge(&challenge, &["d1".into()]);
    assert!(
        matches!(
            created,
            Err(ServiceError::Unreachable(HttpError::Malformed(_)))
        ),
        "{created:?}"
    );
    let waited = service.wait_decision(&challenge.id, 1);
    assert!(
        matches!(
            waited,
            Err(ServiceError::Unreachable(HttpError::Malformed(_)))
        ),
        "{waited:?}"
    );
}
