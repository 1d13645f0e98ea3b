//! Load generator for `scripts/bench-fleet`: fleet sign-ins against two `twofold serve`
//! instances on one PostgreSQL database.
//!
//! `bench_fleet_claims URL1 URL2 TOKENS_FILE USERS SECONDS`: uploads a sealed record for each of
//! USERS users (through URL1), then for SECONDS runs 32 concurrent "sign-ins", each a record check
//! (`GET /v1/fleet/users/{user}?have=1`) and a TOTP claim of the user's next step, from a random
//! host of TOKENS_FILE (one host token a line) to either instance in turn. Prints sign-ins per
//! second, claims accepted, and the median and p99 latency of one sign-in (both requests).
//!
//! Figures only; nothing is asserted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use twofold_core::fleet::envelope::seal;
use twofold_core::fleet::key::FleetKey;

type Error = Box<dyn std::error::Error + Send + Sync>;

const WORKERS: usize = 32;

fn random_below(n: usize) -> usize {
    let mut raw = [0u8; 8];
    let _ = getrandom::fill(&mut raw);
    (u64::from_le_bytes(raw) % n as u64) as usize
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        return Err("usage: bench_fleet_claims URL1 URL2 TOKENS_FILE USERS SECONDS".into());
    }
    let urls = Arc::new([args[1].clone(), args[2].clone()]);
    let tokens: Arc<Vec<String>> = Arc::new(
        std::fs::read_to_string(&args[3])?
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect(),
    );
    let users: usize = args[4].parse()?;
    let seconds: u64 = args[5].parse()?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(WORKERS)
        .build()?;

    let key = FleetKey::generate()?;
    let setup = Instant::now();
    let uploads = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let (http, urls, tokens, key_text) = (
            http.clone(),
            Arc::clone(&urls),
            Arc::clone(&tokens),
            key.to_text(),
        );
        let uploads = Arc::clone(&uploads);
        tasks.push(tokio::spawn(async move {
            let key = FleetKey::parse(&key_text)?;
            for u in (w..users).step_by(WORKERS) {
                let user = format!("user{u:05}");
                let record = seal(&key, &user, 1, format!("record of {user}").as_bytes())?;
                let body = serde_json::json!({ "expected_version": 0, "record": record });
                let r = http
                    .put(format!("{}/v1/fleet/users/{user}", urls[0]))
                    .bearer_auth(&tokens[u % tokens.len()])
                    .body(body.to_string())
                    .send()
                    .await?;
                if r.status() != 200 && r.status() != 409 {
                    return Err(format!("upload {user}: {}", r.status()).into());
                }
                uploads.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    println!(
        "{} records uploaded in {:.1} s ({} hosts)",
        uploads.load(Ordering::Relaxed),
        setup.elapsed().as_secs_f64(),
        tokens.len()
    );

    // Each user's next step: a sign-in claims it; racing workers may meet on one user.
    let steps: Arc<Vec<AtomicU64>> = Arc::new((0..users).map(|_| AtomicU64::new(1)).collect());
    let accepted = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let (http, urls, tokens) = (http.clone(), Arc::clone(&urls), Arc::clone(&tokens));
        let (steps, accepted) = (Arc::clone(&steps), Arc::clone(&accepted));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = w;
            while Instant::now() < until {
                let u = random_below(users);
                let user = format!("user{u:05}");
                let token = &tokens[random_below(tokens.len())];
                let base = &urls[i % 2];
                i += 1;
                let began = Instant::now();
                let r = http
                    .get(format!("{base}/v1/fleet/users/{user}?have=1"))
                    .bearer_auth(token)
                    .send()
                    .await?;
                if r.status() != 200 {
                    return Err(format!("record check: {}", r.status()).into());
                }
                let _ = r.bytes().await?;
                let step = steps[u].fetch_add(1, Ordering::Relaxed);
                let claim = serde_json::json!({ "kind": "totp", "step": step });
                let r = http
                    .post(format!("{base}/v1/fleet/users/{user}/claims"))
                    .bearer_auth(token)
                    .body(claim.to_string())
                    .send()
                    .await?;
                let answer: serde_json::Value = r.json().await?;
                if answer["accepted"] == true {
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
                latencies.push(began.elapsed());
            }
            Ok::<Vec<Duration>, Error>(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let at = |q: f64| all[((all.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e3;
    println!(
        "fleet sign-ins (record check + claim), {WORKERS} concurrent over 2 instances: {:.0}/s \
         (n={}, claims accepted {}), latency median {:.2} ms p99 {:.2} ms",
        all.len() as f64 / elapsed,
        all.len(),
        accepted.load(Ordering::Relaxed),
        at(0.5),
        at(0.99)
    );
    Ok(())
}
