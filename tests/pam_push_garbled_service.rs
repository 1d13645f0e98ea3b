//! A "service" that answers with garbage, through real libpam with the built module: the
//! client refuses the answer, and `[push] fail_mode` decides, with an audit line saying why.
//! Before, an overflowing chunk size panicked inside the module (PAM_ABORT, no audit line).
mod common;

use common::code_now;
use common::push::{PushHost, push_config};
use std::io::{Read, Write};
use std::net::TcpListener;

const OVERFLOWING_CHUNK: &[u8] = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\nffffffffffffffff\r\nb\r\n0\r\n\r\n";
const BAD_STATUS_LINE: &[u8] = b"HTTP/1.1!201 Created\r\nContent-Length: 0\r\n\r\n";

/// Answers every connection with `reply` after the request head; the URL.
fn garbled_service(reply: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
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

/// A host with a paired phone whose `[push] url` then points at `url`.
fn host_with_url(url: &str, extra: &str) -> PushHost {
    let p = PushHost::new(extra);
    p.host.configure(&push_config(url, &p.token_path, extra));
    p
}

fn falls_back_to_a_code(reply: &'static [u8], why: &str) {
    let p = host_with_url(&garbled_service(reply), "");
    let code = code_now(&p.enrolled.params);
    let (outcome, transcript) = p.sign_in(|_, _| {}, &[&code]);
    assert_eq!(outcome.name, "PAM_SUCCESS", "{transcript:#?}");
    assert_eq!(
        transcript,
        [
            "INFO: Push approval is not available right now: use a code from your app.",
            common::CODE_PROMPT
        ]
    );
    let lines = p.host.audit_lines();
    let push_line = common::Entry::parse(&lines[lines.len() - 2]);
    assert_eq!(push_line.get("result"), "code_instead", "{}", push_line.raw);
    assert_eq!(
        push_line.get("reason"),
        "push_unreachable",
        "{}",
        push_line.raw
    );
    assert!(push_line.get("detail").contains(why), "{}", push_line.raw);
}

#[test]
fn overflowing_chunk_size_falls_back_to_a_code_with_an_audit_line() {
    falls_back_to_a_code(OVERFLOWING_CHUNK, "response body too large");
}

#[test]
fn malformed_status_line_falls_back_to_a_code_with_an_audit_line() {
    falls_back_to_a_code(BAD_STATUS_LINE, "bad status line");
}

#[test]
fn garbled_answer_with_fail_mode_deny_refuses_with_an_audit_line() {
    let p = host_with_url(&garbled_service(OVERFLOWING_CHUNK), "fail_mode = \"deny\"");
    let (outcome, transcript) = p.sign_in(|_, _| {}, &[]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR", "{transcript:#?}");
    let d = p.host.last_decision();
    d.assert_decision("alice", "failure", "push_unreachable");
    assert!(d.get("detail").contains("malformed response"), "{}", d.raw);
}
