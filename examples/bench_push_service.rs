//! Load generator for `scripts/bench-push` (the service half of the push benchmark).
//!
//! `bench_push_service URL HOST_TOKEN SERVICE_PID [WAITING] [ROUNDS]` against a running
//! `twofold serve` (with `client_requests_per_minute = 0`):
//!
//! (a) WAITING challenges (default 10,000), each with a host long-poll waiting on its own
//!     connection; prints the service's resident memory (VmRSS) and the decision-delivery delay
//!     (decision POST sent → waiting long-poll answered) for 1,000 of them, one at a time, while
//!     the rest keep waiting. Then decides the rest: every long-poll must be answered with the
//!     very decision posted for its challenge, and none before it was posted, or the run fails.
//! (b) ROUNDS round trips (default 1,000) without load: challenge, long-poll, decision POST;
//!     prints median and p99 of POST sent → long-poll answered.
//!
//! With `BENCH_WAIT_URL` set (scripts/bench-fleet), the long-polls go to that second instance
//! of the same service (one PostgreSQL database) while challenges and decisions go to URL, and
//! SERVICE_PID is the second instance's: delivery across instances, memory of the waiting one.
//!
//! Figures only, apart from (a)'s check that every waiting long-poll got its own decision.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, oneshot};

type Sender = SendRequest<Full<Bytes>>;
type Error = Box<dyn std::error::Error + Send + Sync>;

struct Target {
    addr: String,
    token: String,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn connect(target: &Target) -> Result<Sender, Error> {
    let stream = TcpStream::connect(&target.addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn send(
    sender: &mut Sender,
    target: &Target,
    method: &str,
    path: &str,
    body: Option<String>,
    extra: &[(&str, &str)],
) -> Result<(StatusCode, Bytes), Error> {
    sender.ready().await?;
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", &target.addr)
        .header("authorization", format!("Bearer {}", target.token));
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    let req = req.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
    let response = sender.send_request(req).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((status, bytes))
}

/// The benchmark's phone: a key paired through the service (the service verifies every
/// decision's signature with the key it stored).
struct Phone {
    id: String,
    key: p256::ecdsa::SigningKey,
}

fn b64u(bytes: impl AsRef<[u8]>) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hmac(key: &[u8], message: &[u8]) -> Result<Vec<u8>, Error> {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)?;
    mac.update(message);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// Pairs a phone for user "bench" as enrollment and the page do.
async fn pair(sender: &mut Sender, target: &Target) -> Result<Phone, Error> {
    use sha2::Digest;
    let key = p256::ecdsa::SigningKey::from_slice(&sha2::Sha256::digest(b"twofold bench phone"))?;
    let secret = [5u8; 32];
    let completion_key = hmac(&secret, b"twofold-pairing-completion-key-v1")?;
    let opened = serde_json::json!({ "user": "bench", "completion_key": b64u(&completion_key) });
    let (status, body) = send(
        sender,
        target,
        "POST",
        "/v1/pairings",
        Some(opened.to_string()),
        &[],
    )
    .await?;
    if status != StatusCode::CREATED {
        return Err(format!("pairing: {status}").into());
    }
    let pairing: serde_json::Value = serde_json::from_slice(&body)?;
    let pid = pairing["pairing_id"]
        .as_str()
        .ok_or("pairing_id")?
        .to_string();
    let public = b64u(key.verifying_key().to_sec1_point(false).as_bytes());
    let proof = hmac(
        &secret,
        format!("twofold-pairing-v1\n{pid}\n{public}").as_bytes(),
    )?;
    let done =
        serde_json::json!({ "public_key": public, "proof": b64u(proof), "device_name": "bench" })
            .to_string();
    let hash = b64u(sha2::Sha256::digest(done.as_bytes()));
    let mac = b64u(hmac(
        &completion_key,
        format!("twofold-pairing-completion-v1\n{pid}\n{hash}").as_bytes(),
    )?);
    let path = format!("/v1/pairings/{pid}/complete");
    let (status, body) = send(
        sender,
        target,
        "POST",
        &path,
        Some(done),
        &[("x-twofold-pairing-mac", &mac)],
    )
    .await?;
    if status != StatusCode::CREATED {
        return Err(format!("pairing completion: {status}").into());
    }
    let done: serde_json::Value = serde_json::from_slice(&body)?;
    let id = done["device_id"].as_str().ok_or("device_id")?.to_string();
    Ok(Phone { id, key })
}

/// A challenge naming the bench phone, as JSON, and its protocol hash.
fn challenge(id: &str, user: &str, phone: &Phone) -> (String, String) {
    use sha2::Digest;
    let created = now();
    let (nonce, host, service, rhost, expires) = (
        "bench-nonce-0123456789",
        "bench.example",
        "sshd",
        "192.0.2.1",
        created + 280,
    );
    let json = serde_json::json!({
        "id": id, "nonce": nonce, "user": user, "host": host,
        "service": service, "rhost": rhost, "created": created, "expires": expires,
        "device_ids": [phone.id],
    })
    .to_string();
    let text = format!(
        "twofold-challenge-v1\n{id}\n{nonce}\n{user}\n{host}\n{service}\n{rhost}\n{created}\n{expires}"
    );
    (json, b64u(sha2::Sha256::digest(text.as_bytes())))
}

/// The phone's signed approval of a challenge with hash `hash`.
fn decision(phone: &Phone, hash: &str) -> String {
    use p256::ecdsa::signature::Signer;
    let at = now();
    let message = format!(
        "twofold-decision-v1\n{hash}\napprove\n42\n{}\n{at}",
        phone.id
    );
    let signature: p256::ecdsa::Signature = phone.key.sign(message.as_bytes());
    serde_json::json!({
        "device_id": phone.id, "decision": "approve", "number": "42", "decided_at": at,
        "signature": b64u(signature.to_bytes()),
    })
    .to_string()
}

/// A host long-poll on its own connection; sends the instant its decision arrived, and the
/// decision.
async fn long_poll(
    mut sender: Sender,
    target: Arc<Target>,
    id: String,
    arrived: oneshot::Sender<(Instant, Bytes)>,
) {
    let path = format!("/v1/challenges/{id}/decision?wait=60");
    loop {
        match send(&mut sender, &target, "GET", &path, None, &[]).await {
            Ok((StatusCode::OK, body)) => {
                let _ = arrived.send((Instant::now(), body));
                return;
            }
            Ok((StatusCode::NO_CONTENT, _)) => continue, // waited 60 s: ask again
            Ok((status, _)) => return eprintln!("long-poll {id}: {status}"),
            Err(e) => return eprintln!("long-poll {id}: {e}"),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn summary(label: &str, mut delays: Vec<Duration>) {
    delays.sort();
    println!(
        "{label}: n={} median={:.3} ms p99={:.3} ms max={:.3} ms",
        delays.len(),
        percentile(&delays, 0.5).as_secs_f64() * 1e3,
        percentile(&delays, 0.99).as_secs_f64() * 1e3,
        delays.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

async fn under_load(
    target: Arc<Target>,
    wait: Arc<Target>,
    pid: u32,
    waiting: usize,
    phone: &Phone,
) -> Result<(), Error> {
    let setup = Instant::now();
    let mut control = connect(&target).await?;
    let rss_before = rss_kib(pid);
    let mut arrivals = Vec::with_capacity(waiting);
    let connecting = Arc::new(Semaphore::new(256));
    let mut ids = Vec::with_capacity(waiting);
    for i in 0..waiting {
        let id = format!("bench-load-{i:08}-abcdef");
        let (json, hash) = challenge(&id, &format!("u{i}"), phone);
        let (status, body) = send(
            &mut control,
            &target,
            "POST",
            "/v1/challenges",
            Some(json),
            &[],
        )
        .await?;
        if status != StatusCode::CREATED {
            return Err(
                format!("challenge {i}: {status} {}", String::from_utf8_lossy(&body)).into(),
            );
        }
        let permit = Arc::clone(&connecting).acquire_owned().await?;
        let sender = connect(&wait).await?;
        drop(permit);
        let (tx, rx) = oneshot::channel();
        tokio::spawn(long_poll(sender, Arc::clone(&wait), id.clone(), tx));
        arrivals.push(rx);
        ids.push((id, hash));
    }
    // Let the last requests reach the service and settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "(a) {waiting} challenges with a waiting long-poll each, set up in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    if let (Some((before, _)), Some((rss, hwm))) = (rss_before, rss_kib(pid)) {
        println!(
            "(a) service memory: VmRSS {:.1} MB (before: {:.1} MB, peak {:.1} MB), {:.1} KB per waiting challenge",
            rss as f64 / 1024.0,
            before as f64 / 1024.0,
            hwm as f64 / 1024.0,
            rss.saturating_sub(before) as f64 / waiting.max(1) as f64
        );
    }
    let sample = waiting.min(1000);
    let mut delays = Vec::with_capacity(sample);
    let mut arrivals = arrivals.into_iter();
    for (id, hash) in ids.iter().take(sample) {
        let arrived = arrivals.next().ok_or("a long-poll is missing")?;
        let (posted, sent) = post_decision(&mut control, &target, phone, id, hash).await?;
        let (at, got) = tokio::time::timeout(Duration::from_secs(5), arrived).await??;
        check_answer(id, &sent, &got)?;
        delays.push(at.saturating_duration_since(posted));
    }
    summary(
        &format!(
            "(a) delivery under load ({} still waiting)",
            waiting - sample
        ),
        delays,
    );
    // The rest: decided now, each waiting long-poll must still be there and get its own answer.
    let mut rest = Vec::with_capacity(waiting - sample);
    for (id, hash) in ids.iter().skip(sample) {
        let arrived = arrivals.next().ok_or("a long-poll is missing")?;
        let (posted, sent) = post_decision(&mut control, &target, phone, id, hash).await?;
        rest.push((id, posted, sent, arrived));
    }
    for (id, posted, sent, arrived) in rest {
        let (at, got) = tokio::time::timeout(Duration::from_secs(10), arrived)
            .await
            .map_err(|_| format!("long-poll {id}: no answer"))?
            .map_err(|_| format!("long-poll {id}: ended without its decision"))?;
        if at < posted {
            return Err(format!("long-poll {id}: answered before its decision was posted").into());
        }
        check_answer(id, &sent, &got)?;
    }
    println!("(a) all {waiting} waiting long-polls answered, each with its own decision");
    Ok(())
}

/// Posts the phone's decision on `id` (expecting 202): when it was sent, and the body.
async fn post_decision(
    control: &mut Sender,
    target: &Target,
    phone: &Phone,
    id: &str,
    hash: &str,
) -> Result<(Instant, String), Error> {
    let path = format!("/v1/challenges/{id}/decision");
    let body = decision(phone, hash);
    let posted = Instant::now();
    let (status, _) = send(control, target, "POST", &path, Some(body.clone()), &[]).await?;
    if status != StatusCode::ACCEPTED {
        return Err(format!("decision for {id}: {status}").into());
    }
    Ok((posted, body))
}

/// The waiting host must receive exactly the decision posted (same fields, same signature).
fn check_answer(id: &str, sent: &str, got: &[u8]) -> Result<(), Error> {
    let sent: serde_json::Value = serde_json::from_str(sent)?;
    let got: serde_json::Value = serde_json::from_slice(got)?;
    if sent != got {
        return Err(format!("long-poll {id}: got {got}, not the decision posted ({sent})").into());
    }
    Ok(())
}

async fn round_trips(
    target: Arc<Target>,
    wait: Arc<Target>,
    rounds: usize,
    phone: &Phone,
) -> Result<(), Error> {
    let mut control = connect(&target).await?;
    let mut delays = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let id = format!("bench-rtt-{i:08}-abcdefgh");
        let (json, hash) = challenge(&id, &format!("r{i}"), phone);
        let (status, _) = send(
            &mut control,
            &target,
            "POST",
            "/v1/challenges",
            Some(json),
            &[],
        )
        .await?;
        if status != StatusCode::CREATED {
            return Err(format!("challenge {i}: {status}").into());
        }
        let sender = connect(&wait).await?;
        let (tx, rx) = oneshot::channel();
        tokio::spawn(long_poll(sender, Arc::clone(&wait), id.clone(), tx));
        // Give the long-poll time to be waiting at the service before deciding.
        tokio::time::sleep(Duration::from_millis(3)).await;
        let body = decision(phone, &hash);
        let posted = Instant::now();
        let path = format!("/v1/challenges/{id}/decision");
        send(
            &mut control,
            &target,
            "POST",
            &path,
            Some(body.clone()),
            &[],
        )
        .await?;
        let (at, got) = tokio::time::timeout(Duration::from_secs(5), rx).await??;
        check_answer(&id, &body, &got)?;
        delays.push(at.saturating_duration_since(posted));
    }
    summary(
        "(b) round trip decision POST -> waiting host answered",
        delays,
    );
    Ok(())
}

fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    let _ = setrlimit(Resource::Nofile, limit);
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err(
            "usage: bench_push_service URL HOST_TOKEN SERVICE_PID [WAITING] [ROUNDS]".into(),
        );
    }
    raise_open_files_limit();
    let addr = args[1]
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let target = Arc::new(Target {
        addr,
        token: args[2].clone(),
    });
    let pid: u32 = args[3].parse()?;
    let waiting: usize = args.get(4).map_or(Ok(10_000), |a| a.parse())?;
    let rounds: usize = args.get(5).map_or(Ok(1_000), |a| a.parse())?;
    let wait = match std::env::var("BENCH_WAIT_URL") {
        Ok(url) => Arc::new(Target {
            addr: url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string(),
            token: target.token.clone(),
        }),
        Err(_) => Arc::clone(&target),
    };
    let phone = pair(&mut connect(&target).await?, &target).await?;
    round_trips(Arc::clone(&target), Arc::clone(&wait), rounds, &phone).await?;
    under_load(target, wait, pid, waiting, &phone).await?;
    Ok(())
}
