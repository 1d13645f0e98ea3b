//! Push approval over https://: the module's rustls client against a TLS front (a test CA's
//! certificate for "localhost") relaying to the approval service.
mod common;

use common::push::{PushHost, push_config};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use twofold_core::push::protocol::DecisionKind;

/// A TLS-terminating relay on 127.0.0.1 in front of `backend` (one request per connection).
/// Returns its https URL (host name "localhost") and the CA certificate in PEM.
fn tls_front(backend: &str) -> (String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let backend = backend.trim_start_matches("http://").to_string();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let (config, backend) = (config.clone(), backend.clone());
            std::thread::spawn(move || relay(tcp, config, &backend));
        }
    });
    (format!("https://localhost:{port}"), ca.pem())
}

fn relay(tcp: TcpStream, config: Arc<rustls::ServerConfig>, backend: &str) {
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    // Read the head, then as much body as Content-Length says.
    loop {
        let Ok(n) = tls.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buf[..n]);
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                break;
            }
        }
    }
    let Ok(mut back) = TcpStream::connect(backend) else {
        return;
    };
    let _ = back.write_all(&request);
    let mut answer = Vec::new();
    let _ = back.read_to_end(&mut answer);
    let _ = tls.write_all(&answer);
    let _ = tls.flush();
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

#[test]
fn push_works_over_https_with_the_configured_ca() {
    let p = PushHost::new("");
    let (url, ca_pem) = tls_front(&p.service.url);
    let ca_file = p.host.root.join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let extra = format!("ca_file = {:?}", ca_file.display().to_string());
    p.host.configure(&push_config(&url, &p.token_path, &extra));
    let (outcome, transcript) =
        p.sign_in(|p, n| p.answer(DecisionKind::Approve, &n.to_string()), &[]);
    assert_eq!(outcome.name, "PAM_SUCCESS", "{transcript:#?}");
    p.host
        .last_decision()
        .assert_decision("alice", "success", "push_approved");
}

#[test]
fn an_untrusted_certificate_is_not_accepted() {
    let p = PushHost::new("fail_mode = \"deny\"");
    let (url, _) = tls_front(&p.service.url);
    // The system bundle does not know the test CA.
    p.host
        .configure(&push_config(&url, &p.token_path, "fail_mode = \"deny\""));
    let (outcome, _) = p.sign_in(|_, _| {}, &[]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    let d = p.host.last_decision();
    d.assert_decision("alice", "failure", "push_unreachable");
    assert!(d.get("detail").contains("certificate"), "{}", d.raw);
}
