//! A minimal stand-in for `twofold serve`, speaking the endpoints of docs/push-protocol.md that
//! a host and a device use: std TcpListener, one thread per connection, long-polls woken by a
//! condition variable. It checks the host token, keeps at most one pending challenge per host
//! and user, and relays decisions untouched (the host verifies them).
//!
//! Used until the real service can be started from the tests, and as the peer for cases the
//! real service is not asked to play (a service that hangs).

use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Default)]
struct State {
    pairings: HashMap<String, (String, Option<Value>)>,
    challenges: HashMap<String, (Value, Option<Value>)>,
    next: u64,
    posted: u64,
}

/// The fake service, listening on 127.0.0.1 until dropped with the test process.
pub struct FakeService {
    pub url: String,
    pub token: String,
    state: Arc<(Mutex<State>, Condvar)>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl FakeService {
    /// Starts the service with a fresh host token.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let token = twofold::push::protocol::b64u(&[0x5a; 32]);
        let state = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let (shared, expected) = (state.clone(), token.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (shared, expected) = (shared.clone(), expected.clone());
                std::thread::spawn(move || serve(stream, &shared, &expected));
            }
        });
        FakeService { url, token, state }
    }

    /// How many challenges hosts posted successfully.
    pub fn challenges_posted(&self) -> u64 {
        self.state.0.lock().unwrap().posted
    }
}

fn serve(mut stream: TcpStream, shared: &(Mutex<State>, Condvar), token: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Some((method, target, headers, body)) = read_request(&mut stream) else {
        return;
    };
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let wait = query
        .strip_prefix("wait=")
        .and_then(|w| w.parse::<u64>().ok())
        .unwrap_or(0)
        .min(60);
    let host_ok = headers.get("authorization") == Some(&format!("Bearer {token}"));
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (status, answer) = match (method.as_str(), parts.as_slice()) {
        ("POST", ["v1", "pairings"]) if host_ok => {
            let mut st = shared.0.lock().unwrap();
            st.next += 1;
            let id = format!("pairing-{}", st.next);
            let user = body["user"].as_str().unwrap_or_default().to_string();
            st.pairings.insert(id.clone(), (user, None));
            (201, json!({"pairing_id": id, "expires": now() + 600}))
        }
        ("GET", ["v1", "pairings", id]) if host_ok => {
            let done = wait_for(shared, wait, |st| match st.pairings.get(*id) {
                None => Some(None),
                Some((_, done)) => done.clone().map(Some),
            });
            match done {
                Some(None) => (404, Value::Null),
                Some(Some(done)) => (200, done),
                None => (200, json!({"status": "pending"})),
            }
        }
        ("POST", ["v1", "pairings", id, "complete"]) => {
            let mut st = shared.0.lock().unwrap();
            st.next += 1;
            let device_id = format!("device-{}", st.next);
            match st.pairings.get_mut(*id) {
                None => (404, Value::Null),
                Some((_, Some(_))) => (409, Value::Null),
                Some((_, done)) => {
                    *done = Some(json!({
                        "status": "complete", "device_id": device_id,
                        "public_key": body["public_key"], "proof": body["proof"],
                        "device_name": body["device_name"],
                    }));
                    shared.1.notify_all();
                    (201, json!({"device_id": device_id}))
                }
            }
        }
        ("POST", ["v1", "challenges"]) if host_ok => {
            let mut st = shared.0.lock().unwrap();
            let t = now();
            let user = body["user"].clone();
            let pending = st.challenges.values().any(|(c, d)| {
                c["user"] == user && d.is_none() && c["expires"].as_u64().unwrap_or(0) > t
            });
            let life =
                body["expires"].as_u64().unwrap_or(0) - body["created"].as_u64().unwrap_or(0);
            if pending {
                (409, Value::Null)
            } else if life > 300 {
                (400, Value::Null)
            } else {
                let id = body["id"].as_str().unwrap_or_default().to_string();
                st.challenges.insert(id, (body, None));
                st.posted += 1;
                (201, Value::Null)
            }
        }
        ("GET", ["v1", "challenges", id, "decision"]) if host_ok => {
            let found = wait_for(shared, wait, |st| match st.challenges.get(*id) {
                None => Some(None),
                Some((_, d)) => d.clone().map(Some),
            });
            match found {
                Some(None) => (404, Value::Null),
                Some(Some(d)) => (200, d),
                None => (204, Value::Null),
            }
        }
        ("DELETE", ["v1", "challenges", id]) if host_ok => {
            let removed = shared.0.lock().unwrap().challenges.remove(*id);
            (if removed.is_some() { 204 } else { 404 }, Value::Null)
        }
        ("GET", ["v1", "devices", device, "pending"]) => {
            let st = shared.0.lock().unwrap();
            let list: Vec<Value> = st
                .challenges
                .values()
                .filter(|(c, d)| {
                    d.is_none()
                        && c["device_ids"]
                            .as_array()
                            .is_some_and(|ids| ids.iter().any(|i| i == device))
                })
                .map(|(c, _)| {
                    let mut c = c.clone();
                    c.as_object_mut().map(|o| o.remove("device_ids"));
                    c
                })
                .collect();
            (200, Value::Array(list))
        }
        ("POST", ["v1", "challenges", id, "decision"]) => {
            let mut st = shared.0.lock().unwrap();
            match st.challenges.get_mut(*id) {
                None => (404, Value::Null),
                Some((_, Some(_))) => (409, Value::Null),
                Some((_, slot)) => {
                    *slot = Some(body);
                    shared.1.notify_all();
                    (202, Value::Null)
                }
            }
        }
        ("DELETE", ["v1", "devices", _]) if host_ok => (204, Value::Null),
        _ if !host_ok => (401, Value::Null),
        _ => (404, Value::Null),
    };
    let body = if answer.is_null() {
        String::new()
    } else {
        answer.to_string()
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(format!("{head}{body}").as_bytes());
}

/// Waits up to `wait` seconds until `ready` gives Some.
fn wait_for<T>(
    shared: &(Mutex<State>, Condvar),
    wait: u64,
    mut ready: impl FnMut(&State) -> Option<T>,
) -> Option<T> {
    let until = Instant::now() + Duration::from_secs(wait);
    let mut st = shared.0.lock().unwrap();
    loop {
        if let Some(v) = ready(&st) {
            return Some(v);
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        st = shared.1.wait_timeout(st, left).unwrap().0;
    }
}

type Request = (String, String, HashMap<String, String>, Vec<u8>);

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = buf[end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((method, target, headers, body))
}
