//! Host half of the fleet benchmark: how long a fleet sign-in takes through real libpam and the
//! built module, record check and claim included, with a code from the app. Two passes over N
//! users enrolled fleet-wide elsewhere: the first sign-in on this host (record fetched, opened,
//! cached) and a later one (cache current: `have=N`, no record sent).
//!
//! Run through `scripts/bench-fleet-module [N]`. It starts `$TWOFOLD_BIN serve` in fleet mode
//! (SQLite, or `TWOFOLD_BENCH_DATABASE`, e.g. a PostgreSQL conninfo) on 127.0.0.1 in a
//! temporary directory.

use std::path::Path;
use std::time::{Duration, Instant};
use twofold_core::clock::{Clock, SystemClock};
use twofold_core::config::Config;
use twofold_core::enrollment::{self, EnrollOptions};
use twofold_core::fleet::host;
use twofold_core::fleet::key::FleetKey;
use twofold_core::fleet::service::FleetService;
use twofold_core::push::local::LocalService;
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
        .unwrap_or(200);
    let module = std::env::var("TWOFOLD_MODULE").map_err(|_| "set TWOFOLD_MODULE")?;
    let bin = std::env::var("TWOFOLD_BIN").map_err(|_| "set TWOFOLD_BIN")?;
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = tmp.path();
    let serve_dir = dir.join("serve");
    std::fs::create_dir(&serve_dir).map_err(|e| e.to_string())?;
    let mut extra = "client_requests_per_minute = 0\nfleet = true".to_string();
    if let Ok(database) = std::env::var("TWOFOLD_BENCH_DATABASE") {
        extra.push_str(&format!("\ndatabase = {database:?}"));
    }
    let serve = LocalService::start(Path::new(&bin), &serve_dir, "bench", &extra)
        .map_err(|e| e.to_string())?;
    let (url, token) = (serve.url().to_string(), serve.token().expose().to_string());

    let key = FleetKey::generate().map_err(|e| e.to_string())?;
    let key_path = dir.join("fleet-key");
    write(&key_path, &key.to_text())?;
    let token_path = dir.join("host-token");
    write(&token_path, &format!("{token}\n"))?;
    let config_path = dir.join("twofold.toml");
    write(
        &config_path,
        &format!(
            "state_dir = {:?}\naudit_log = {:?}\n[rate_limit]\nfailure_delay_ms = 0\n[push]\nhost_token_file = {:?}\n[fleet]\nurls = [{url:?}]\nkey_file = {:?}\n",
            dir.join("state").display().to_string(),
            dir.join("audit.log").display().to_string(),
            token_path.display().to_string(),
            key_path.display().to_string(),
        ),
    )?;
    let pamd = dir.join("pam.d");
    std::fs::create_dir(&pamd).map_err(|e| e.to_string())?;
    write(
        &pamd.join("bench"),
        &format!("auth required {module} config={}\n", config_path.display()),
    )?;

    // Enrolled on "another host": its own store, the same fleet.
    let config = Config::load(&config_path, true).map_err(|e| format!("{e:?}"))?;
    let fleet = FleetService::new(
        std::slice::from_ref(&url),
        SecretString::new(token),
        Duration::from_secs(2),
        None,
    )
    .map_err(|e| e.to_string())?;
    let other = UserStore::create(&dir.join("other")).map_err(|e| e.to_string())?;
    let mut users = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("bench{i}");
        let user = UserName::parse(name.as_bytes()).map_err(|e| e.to_string())?;
        let pending = enrollment::prepare(&config, EnrollOptions::default(), &SystemClock)
            .map_err(|e| e.to_string())?;
        let lock = other.lock(&user).map_err(|e| e.to_string())?;
        let record = enrollment::committed(&pending, None);
        host::publish(
            &fleet,
            std::slice::from_ref(&key),
            &other,
            &user,
            &lock,
            &record,
            0,
        )
        .map_err(|e| e.to_string())?;
        users.push((name, pending.record.totp));
    }

    println!(
        "fleet sign-in through libpam (GET record + claim), {n} users, service on {url}{}:",
        if std::env::var("TWOFOLD_BENCH_DATABASE").is_ok() {
            " (TWOFOLD_BENCH_DATABASE)"
        } else {
            " (SQLite)"
        }
    );
    for (pass, offset, what) in [(1, 0, "first on this host"), (2, 1, "record cached")] {
        let mut times = Vec::with_capacity(n);
        for (name, totp) in &users {
            let now = SystemClock.now();
            let code = totp
                .code_at(now + offset * u64::from(totp.period))
                .ok_or("no code")?;
            let mut responder = |msg: Message<'_>| match msg {
                Message::PromptEchoOff(_) | Message::PromptEchoOn(_) => {
                    Some(code.clone().into_bytes())
                }
                _ => None,
            };
            let sign_in = client::SignIn {
                service: "bench",
                user: name.as_bytes(),
                confdir: &pamd,
                rhost: Some("192.0.2.1"),
                tty: None,
                flags: 0,
            };
            let started = Instant::now();
            let outcome =
                client::authenticate(&sign_in, &mut responder).map_err(|e| e.to_string())?;
            times.push(started.elapsed());
            if outcome.code != 0 {
                return Err(format!("pass {pass}, {name}: {}", outcome.name));
            }
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "  {what:<20} median {:.2} ms   p99 {:.2} ms   max {:.2} ms   ({:.0} sign-ins/s one at a time)",
            ms(at(0.5)),
            ms(at(0.99)),
            ms(times[times.len() - 1]),
            n as f64 / times.iter().map(|d| d.as_secs_f64()).sum::<f64>()
        );
    }
    println!("  target: median <= 5 ms including the claim");
    drop(serve);
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    twofold_core::push::local::write_private(path, text).map_err(|e| e.to_string())
}
