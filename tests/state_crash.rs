//! kill -9 at random instants of sign-ins (through real libpam, in a child process),
//! `twofold enroll --force` and `twofold recovery-codes`; after each kill every file must parse,
//! leftover temporary files must be gone after the next write of their directory, and no code
//! may be accepted twice. At the end a fresh code signs in once and is then refused.
//!
//! `TWOFOLD_CRASH_TRIES` sets the number of tries (default 300; `scripts/crash-test` runs 1,000).

mod common;

use common::*;
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use twofold_core::factor::totp::TotpParams;
use twofold_core::store::{UserStore, guard};

const TWOFOLD: &str = env!("CARGO_BIN_EXE_twofold");
const USER: &str = "kim";
const CHILD_ENV: &str = "TWOFOLD_CRASH_CHILD";

/// The sign-in a child process runs: `TWOFOLD_CRASH_CHILD=<pam.d dir>`, answer in
/// `TWOFOLD_CRASH_ANSWER`; exit 0 on PAM_SUCCESS, 1 otherwise. Not a test on its own.
#[test]
#[ignore = "run by random_kills_leave_whole_files_no_leftovers_and_no_replays in a child process"]
fn crash_child() {
    let (Ok(confdir), Ok(answer)) = (
        std::env::var(CHILD_ENV),
        std::env::var("TWOFOLD_CRASH_ANSWER"),
    ) else {
        panic!("only run as the crash test's child");
    };
    let sign_in = twofold_pam_client::SignIn {
        service: SERVICE,
        user: USER.as_bytes(),
        confdir: std::path::Path::new(&confdir),
        rhost: Some(RHOST),
        tty: None,
        flags: 0,
    };
    let mut script = twofold_pam_client::Script::new(vec![answer.into_bytes()]);
    let outcome = twofold_pam_client::authenticate(&sign_in, &mut script);
    let ok = outcome.is_ok_and(|o| o.name == "PAM_SUCCESS");
    std::process::exit(if ok { 0 } else { 1 });
}

/// xorshift64*: reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    SignIn,
    Enroll,
    RecoveryCodes,
}

#[derive(Default, Debug)]
struct Figures {
    tries: usize,
    killed: usize,
    completed: usize,
    torn: usize,
    leftovers_after_kill: usize,
    leftovers_after_next_write: usize,
    accepted: usize,
    replays: usize,
}

fn current(host: &Host) -> (String, TotpParams) {
    let store = UserStore::open(&host.state_dir).expect("open store");
    let record = store
        .load_record(&user_name(USER))
        .expect("the record parses")
        .expect("enrolled");
    (record.id.clone(), record.totp)
}

/// Every file of the user parses (record, state, guard); counts the ones that do not.
fn torn_files(host: &Host) -> usize {
    let store = match UserStore::open(&host.state_dir) {
        Ok(store) => store,
        Err(_) => return 1,
    };
    let name = user_name(USER);
    let mut torn = 0;
    match store.load_record(&name) {
        Ok(Some(record)) => {
            if store.recovery_of(&name, &record).is_err() {
                torn += 1;
            }
        }
        _ => torn += 1,
    }
    if store.peek_state(&name).is_err() {
        torn += 1;
    }
    if let Ok(bytes) = std::fs::read(host.state_dir.join("state").join(format!("{USER}.guard"))) {
        let zeros = bytes.iter().all(|&b| b == 0);
        if bytes.len() != guard::GUARD_SIZE || (!zeros && guard::newest(&bytes).is_none()) {
            torn += 1;
        }
    }
    torn
}

fn spawn(host: &Host, kind: Kind, answer: &str) -> Child {
    let mut cmd = match kind {
        Kind::SignIn => {
            let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
            cmd.args(["--ignored", "--exact", "crash_child", "--test-threads=1"])
                .env(CHILD_ENV, &host.pamd)
                .env("TWOFOLD_CRASH_ANSWER", answer);
            cmd
        }
        Kind::Enroll | Kind::RecoveryCodes => {
            let mut cmd = Command::new(TWOFOLD);
            cmd.arg("--config").arg(&host.config_path);
            if kind == Kind::Enroll {
                cmd.args(["enroll", USER, "--force", "--no-verify", "--json"]);
            } else {
                cmd.args(["recovery-codes", USER, "--json"]);
            }
            cmd
        }
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child")
}

/// Runs to the end; returns how long it took and whether it exited 0.
fn run_whole(host: &Host, kind: Kind, answer: &str) -> (Duration, bool) {
    let start = Instant::now();
    let status = spawn(host, kind, answer).wait().expect("wait");
    (start.elapsed(), status.success())
}

/// Writes in `state/` and `users/` as the next sign-in and the next enrollment would, under
/// the user's lock.
fn next_writes(host: &Host) {
    let store = UserStore::open(&host.state_dir).expect("open store");
    let name = user_name(USER);
    let lock = store.lock(&name).expect("lock");
    let state = store.load_state(&name, &lock).expect("state parses");
    store.save_state(&name, &lock, &state).expect("state write");
    let record = store.load_record(&name).expect("record").expect("enrolled");
    store
        .save_record(&name, &lock, &record)
        .expect("record write");
}

#[test]
fn random_kills_leave_whole_files_no_leftovers_and_no_replays() {
    let tries: usize = std::env::var("TWOFOLD_CRASH_TRIES")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(300);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("crash test: {tries} tries, seed {seed}");
    let mut rng = Rng(seed);
    // Wide skew: 16 codes (-10..=+5) to choose from at any moment; +6..+10 stay fresh for the end.
    let host = Host::with("[totp]\nskew = 10\n[rate_limit]\nmax_failures = 100000", "");
    let first = host.enroll(USER);
    let mut secrets: HashSet<String> = HashSet::from([first.secret()]);

    // Calibrate: how long each kind takes when left alone. The kill window then adapts (it
    // shrinks after a child finished first, grows after a kill), so that most tries are killed
    // at a uniformly random instant whatever the machine's load.
    let (_, params) = current(&host);
    let mut span = std::collections::HashMap::new();
    for kind in [Kind::SignIn, Kind::Enroll, Kind::RecoveryCodes] {
        let (took, ok) = run_whole(&host, kind, &wrong_code(&params));
        assert!(kind == Kind::SignIn || ok, "{kind:?} works when not killed");
        span.insert(kind, took.as_micros() as u64);
    }

    let mut f = Figures::default();
    let mut accepted: HashSet<(String, u64)> = HashSet::new();
    for _ in 0..tries {
        f.tries += 1;
        let kind = match rng.below(10) {
            0..=5 => Kind::SignIn,
            6 | 7 => Kind::Enroll,
            _ => Kind::RecoveryCodes,
        };
        let (id, params) = current(&host);
        secrets.insert(params.secret.expose().to_string());
        let offset = i64::try_from(rng.below(16)).unwrap_or(0) - 10;
        let right = rng.below(5) != 0;
        let at = now().saturating_add_signed(offset * i64::from(params.period));
        let answer = match right {
            true => params.code_at(at).expect("valid key"),
            false => wrong_code(&params),
        };
        let step = params.step_at(at);
        let mut child = spawn(&host, kind, &answer);
        let limit = span[&kind].max(100);
        std::thread::sleep(Duration::from_micros(rng.below(limit)));
        let finished = child.try_wait().expect("try_wait");
        let window = span.entry(kind).or_default();
        *window = match finished {
            Some(_) => *window * 4 / 5,
            None => *window * 21 / 20 + 1,
        };
        let status = match finished {
            Some(status) => status,
            None => {
                let _ = child.kill();
                child.wait().expect("wait")
            }
        };
        if status.code().is_some() {
            f.completed += 1;
        } else {
            f.killed += 1;
        }
        if kind == Kind::SignIn && status.code() == Some(0) {
            f.accepted += 1;
            if !right || !accepted.insert((id.clone(), step)) {
                f.replays += 1;
            }
        }
        f.torn += torn_files(&host);
        let users = host.state_dir.join("users");
        let state = host.state_dir.join("state");
        f.leftovers_after_kill += temp_files(&users).len() + temp_files(&state).len();
        next_writes(&host);
        f.leftovers_after_next_write += temp_files(&users).len() + temp_files(&state).len();
    }
    eprintln!("crash test figures: {f:?}");
    assert_eq!(f.torn, 0, "{f:?}");
    assert_eq!(f.leftovers_after_next_write, 0, "{f:?}");
    assert_eq!(f.replays, 0, "{f:?}");
    assert!(
        f.killed > tries / 4,
        "most tries were killed mid-way: {f:?}"
    );

    // A fresh code signs in once, and only once.
    let (_, params) = current(&host);
    secrets.insert(params.secret.expose().to_string());
    wait_for_step_margin(&params, 5);
    let fresh = code_at_offset(&params, 8);
    let (outcome, _) = host.sign_in(USER, &[&fresh]);
    assert_eq!(outcome.name, "PAM_SUCCESS", "{f:?}");
    let (outcome, _) = host.sign_in(USER, &[&fresh]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    host.last_decision()
        .assert_decision(USER, "failure", "replayed_code");
    host.assert_log_holds_none_of(&secrets.into_iter().collect::<Vec<_>>());
}
