//! Host half of the push benchmark: how long from a phone's decision POST until
//! `pam_authenticate` (real libpam, the built module) returns, over N sign-ins on loopback.
//!
//! Run through `scripts/bench-push-module [N]`. The module waits in wait mode (the long-poll
//! the service wakes); the test device posts its signed approval from another thread once the
//! module shows the number, and the clock runs from just before that POST to the return of
//! `pam_authenticate`.
//!
//! `TWOFOLD_PUSH_URL` + `TWOFOLD_PUSH_TOKEN` point it at a running `twofold serve`; without them
//! it starts `$TWOFOLD_BIN serve` on 127.0.0.1 in a temporary directory.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use twofold_core::clock::{Clock, SystemClock};
use twofold_core::config::Config;
use twofold_core::enrollment::{self, EnrollOptions};
use twofold_core::push::client::Client;
use twofold_core::push::device::{TestDevice, number_shown};
use twofold_core::push::endpoint::Endpoint;
use twofold_core::push::local::LocalService;
use twofold_core::push::protocol::DecisionKind;
use twofold_core::push::service::Service;
use twofold_core::secret::SecretString;
use twofold_core::store::UserStore;
use twofold_core::username::UserName;
use twofold_pam_client::{self as client, Message};

fn main() -> Result<(), String> {
    twofold_core::outside::install_system();
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().map_err(|_| "N must be a number"))
        .transpose()?
        .unwrap_or(1000);
    let module = std::env::var("TWOFOLD_MODULE").map_err(|_| "set TWOFOLD_MODULE")?;
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = tmp.path();
    let (_serve, url, token) = match (
        std::env::var("TWOFOLD_PUSH_URL"),
        std::env::var("TWOFOLD_PUSH_TOKEN"),
    ) {
        (Ok(url), Ok(token)) => (None, url, token),
        _ => {
            let bin = std::env::var("TWOFOLD_BIN")
                .map_err(|_| "set TWOFOLD_BIN (or TWOFOLD_PUSH_URL)")?;
            let serve_dir = dir.join("serve");
            std::fs::create_dir(&serve_dir).map_err(|e| e.to_string())?;
            let serve = LocalService::start(
                Path::new(&bin),
                &serve_dir,
                "bench",
                "client_requests_per_minute = 0",
            )
            .map_err(|e| e.to_string())?;
            let (url, token) = (serve.url().to_string(), serve.token().expose().to_string());
            (Some(serve), url, token)
        }
    };
    let token_path = dir.join("host-token");
    write(&token_path, &format!("{token}\n"))?;
    let config_path = dir.join("twofold.toml");
    write(
        &config_path,
        &format!(
            "state_dir = {:?}\naudit_log = {:?}\n[rate_limit]\nfailure_delay_ms = 0\n[push]\nurl = {url:?}\nhost_token_file = {:?}\nmode = \"wait\"\ntimeout_seconds = 60\n",
            dir.join("state").display().to_string(),
            dir.join("audit.log").display().to_string(),
            token_path.display().to_string(),
        ),
    )?;
    let pamd = dir.join("pam.d");
    std::fs::create_dir(&pamd).map_err(|e| e.to_string())?;
    write(
        &pamd.join("bench"),
        &format!("auth required {module} config={}\n", config_path.display()),
    )?;
    let config = Config::load(&config_path, true).map_err(|e| format!("{e:?}"))?;
    let user = UserName::parse(b"bench").map_err(|e| e.to_string())?;
    let store = UserStore::create(&config.state_dir).map_err(|e| e.to_string())?;
    let pending = enrollment::prepare(&config, EnrollOptions::default(), &SystemClock)
        .map_err(|e| e.to_string())?;
    enrollment::save(&store, &user, &pending, None).map_err(|e| e.to_string())?;

    let endpoint = Endpoint::parse(&url)?;
    let host = Service::new(Client::new(
        endpoint.clone(),
        Some(SecretString::new(token)),
        Duration::from_secs(2),
    ));
    let device_side = || Service::new(Client::new(endpoint.clone(), None, Duration::from_secs(2)));
    let mut phone = TestDevice::new("bench").map_err(|e| e.to_string())?;
    let secret = [9u8; 32];
    let key = twofold_core::push::protocol::b64u(
        &twofold_core::push::protocol::pairing_completion_key(&secret),
    );
    let pairing = host
        .create_pairing("bench", &key)
        .map_err(|e| e.to_string())?;
    phone
        .pair(&device_side(), &pairing.pairing_id, &secret)
        .map_err(|e| e.to_string())?;
    let mut record = store
        .load_record(&user)
        .map_err(|e| e.to_string())?
        .ok_or("no record")?;
    record.devices.push(phone.record_entry(SystemClock.now()));
    let lock = store.lock(&user).map_err(|e| e.to_string())?;
    store
        .save_record(&user, &lock, &record)
        .map_err(|e| e.to_string())?;
    drop(lock);

    // The phone: on each number, wait until the module is in its long-poll, then approve.
    let (number_tx, number_rx) = mpsc::channel::<u8>();
    let (posted_tx, posted_rx) = mpsc::channel::<Instant>();
    let phone_side = device_side();
    std::thread::spawn(move || {
        for number in number_rx {
            std::thread::sleep(Duration::from_millis(20));
            let challenge = match phone.pending(&phone_side, SystemClock.now()) {
                Ok(list) if list.len() == 1 => list.into_iter().next(),
                _ => None,
            };
            let Some(challenge) = challenge else { break };
            let started = Instant::now();
            let answered = phone.answer(
                &phone_side,
                &challenge,
                DecisionKind::Approve,
                &number.to_string(),
                SystemClock.now(),
            );
            if answered.is_err() || posted_tx.send(started).is_err() {
                break;
            }
        }
    });

    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let mut responder = |msg: Message<'_>| {
            if let Message::TextInfo(text) = msg
                && let Some(number) = number_shown(text)
            {
                let _ = number_tx.send(number);
            }
            None
        };
        let sign_in = client::SignIn {
            service: "bench",
            user: b"bench",
            confdir: &pamd,
            rhost: None,
            tty: None,
            flags: 0,
        };
        let outcome = client::authenticate(&sign_in, &mut responder).map_err(|e| e.to_string())?;
        let returned = Instant::now();
        if outcome.code != 0 {
            return Err(format!("sign-in {i}: {}", outcome.name));
        }
        let posted = posted_rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| "the phone did not answer")?;
        times.push(returned.duration_since(posted));
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    let mean = times.iter().map(|d| ms(*d)).sum::<f64>() / times.len() as f64;
    println!(
        "push round trip (decision POST -> pam_authenticate returns), {n} sign-ins on loopback, service {}:",
        if _serve.is_some() {
            "twofold serve started for this run"
        } else {
            url.as_str()
        }
    );
    println!(
        "  median {:.2} ms   p99 {:.2} ms   mean {mean:.2} ms   min {:.2} ms   max {:.2} ms",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
    let target = 5.0;
    println!(
        "  target: median <= {target} ms: {}",
        if ms(at(0.5)) <= target {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    twofold_core::push::local::write_private(path, text).map_err(|e| e.to_string())
}
