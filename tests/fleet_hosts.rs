//! Fleet mode end to end: three hosts (own configuration, host token and state directory)
//! and one real `twofold serve` in fleet mode (SQLite), sign-ins through real libpam. A user
//! enrolled on host A signs in on B and C; each code works once fleet-wide, also when 64
//! sign-ins race over the three hosts; a record the service tampered with, moved or rolled
//! back is refused; with the service down the cached record signs in (or `offline = "deny"`
//! refuses) and the use is reported once the service is back.

mod common;
#[allow(dead_code)]
#[path = "serve_support/postgres.rs"]
mod postgres;

use common::fleet::Fleet;
use common::*;
use std::sync::{Arc, Barrier};
use twofold_core::fleet::envelope::seal;

#[test]
fn enrolled_on_a_signs_in_on_b_and_c_and_each_code_works_once_fleet_wide() {
    let fleet = Fleet::new("");
    let alice = fleet.a().enroll("alice");
    wait_for_step_margin(&alice, 5);
    let (earlier, now, later) = (
        code_at_offset(&alice, -1),
        code_at_offset(&alice, 0),
        code_at_offset(&alice, 1),
    );

    let (outcome, _) = fleet.a().host.sign_in("alice", &[&earlier]);
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.a().host.audit_text()
    );

    // B has never seen alice: it fetches the record, and the code used on A is refused.
    let (outcome, _) = fleet.b().host.sign_in("alice", &[&earlier]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    fleet
        .b()
        .host
        .last_decision()
        .assert_decision("alice", "failure", "replayed_code");
    let (outcome, _) = fleet.b().host.sign_in("alice", &[&now]);
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.b().host.audit_text()
    );

    let (outcome, _) = fleet.c().host.sign_in("alice", &[&now]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR", "used on B: refused on C");
    let (outcome, _) = fleet.c().host.sign_in("alice", &[&later]);
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.c().host.audit_text()
    );
    fleet
        .c()
        .host
        .last_decision()
        .assert_decision("alice", "success", "ok");

    for h in &fleet.hosts {
        h.host
            .assert_log_holds_none_of(&[alice.secret.expose().to_string(), later.clone()]);
    }
    let db = std::fs::read(fleet.service.dir.path().join("serve.db")).unwrap_or_default();
    let secret = alice.secret.expose().as_bytes();
    assert!(
        !db.windows(secret.len()).any(|w| w == secret),
        "the service's database holds no base32 key"
    );
}

/// Two instances on one PostgreSQL database and three hosts, or `None` after `SKIP`.
fn postgres_fleet(test: &str, extra: &str) -> Option<Fleet> {
    match postgres::Database::create() {
        Ok(db) => {
            let conninfo = db.conninfo();
            Some(Fleet::on_postgres(extra, &conninfo, Box::new(db)))
        }
        Err(why) => {
            skip(test, &why);
            None
        }
    }
}

#[test]
fn one_code_raced_by_64_sign_ins_over_three_hosts_succeeds_once_in_each_of_5_rounds() {
    race(Arc::new(Fleet::new("")));
}

#[test]
fn on_postgres_one_code_raced_over_three_hosts_and_two_instances_succeeds_once_in_each_of_5_rounds()
{
    let test = "on_postgres_one_code_raced_over_three_hosts_and_two_instances";
    if let Some(fleet) = postgres_fleet(test, "") {
        race(Arc::new(fleet));
    }
}

fn race(fleet: Arc<Fleet>) {
    for round in 0..5 {
        let user = format!("racer{round}");
        let params = fleet.a().enroll(&user);
        wait_for_step_margin(&params, 8);
        let code = code_now(&params);
        let barrier = Arc::new(Barrier::new(64));
        let threads: Vec<_> = (0..64)
            .map(|i| {
                let (fleet, barrier, user, code) =
                    (fleet.clone(), barrier.clone(), user.clone(), code.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let (outcome, _) = fleet.hosts[i % 3].host.sign_in(&user, &[&code]);
                    outcome.name == "PAM_SUCCESS"
                })
            })
            .collect();
        let successes = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(successes, 1, "round {round}: exactly one sign-in succeeds");
        let refused: usize = fleet
            .hosts
            .iter()
            .map(|h| {
                h.host
                    .decisions()
                    .iter()
                    .filter(|d| d.get("user") == user && d.get("reason") == "replayed_code")
                    .count()
            })
            .sum();
        assert_eq!(
            refused, 63,
            "round {round}: the others are refused as replays"
        );
    }
}

/// Enrolls alice on A and lets B cache her record; the key.
fn alice_cached_on_b(fleet: &Fleet) -> twofold_core::factor::totp::TotpParams {
    let alice = fleet.a().enroll("alice");
    let out = fleet.b().twofold(&["status", "alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    alice
}

fn assert_refused_record(fleet: &Fleet, alice: &twofold_core::factor::totp::TotpParams) {
    let (outcome, _) = fleet.b().host.sign_in("alice", &[&code_now(alice)]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    fleet
        .b()
        .host
        .last_decision()
        .assert_decision("alice", "failure", "fleet_record_refused");
}

#[test]
fn a_record_the_service_tampered_with_is_refused() {
    let fleet = Fleet::new("");
    let alice = alice_cached_on_b(&fleet);
    let (version, record) = fleet.served("alice");
    let mut record = record.expect("a record");
    // The service relabels the record as the next version and flips a byte.
    record.version = version + 1;
    let flipped = if record.ciphertext.starts_with('A') {
        "B"
    } else {
        "A"
    };
    record.ciphertext.replace_range(0..1, flipped);
    let api = fleet.a().client(&fleet.service.url);
    api.put(&user_name("alice"), version, &record, false)
        .expect("PUT accepted by the service");

    assert_refused_record(&fleet, &alice);
    let d = fleet.b().host.last_decision();
    assert!(d.get("detail").contains("tampered"), "{}", d.raw);
    // A host that never saw alice refuses it just the same.
    let (outcome, _) = fleet.c().host.sign_in("alice", &[&code_now(&alice)]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
}

#[test]
fn a_record_moved_to_another_user_is_refused() {
    let fleet = Fleet::new("");
    let alice = alice_cached_on_b(&fleet);
    let (_, record) = fleet.served("alice");
    let mut moved = record.expect("a record");
    // The service files alice's sealed record under bob, who then "has" alice's key.
    moved.user = "bob".into();
    moved.version = 1;
    let api = fleet.a().client(&fleet.service.url);
    api.put(&user_name("bob"), 0, &moved, false)
        .expect("PUT accepted");

    let (outcome, _) = fleet.b().host.sign_in("bob", &[&code_now(&alice)]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    fleet
        .b()
        .host
        .last_decision()
        .assert_decision("bob", "failure", "fleet_record_refused");
}

#[test]
fn a_record_rolled_back_by_the_service_is_refused() {
    let fleet = Fleet::new("");
    let alice = alice_cached_on_b(&fleet);
    let (_, old) = fleet.served("alice");
    let old = old.expect("version 1");
    // A new version (e.g. a device removed), which B verifies.
    let out = fleet.a().twofold(&["recovery-codes", "alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = fleet.b().twofold(&["status", "alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (version, _) = fleet.served("alice");
    assert_eq!(version, 2);
    // The service serves version 1 again: deleted and put back through the API.
    let api = fleet.a().client(&fleet.service.url);
    api.delete(&user_name("alice"), 2).expect("DELETE");
    api.put(&user_name("alice"), 0, &old, false)
        .expect("PUT version 1");

    assert_refused_record(&fleet, &alice);
    let d = fleet.b().host.last_decision();
    assert!(
        d.get("detail").contains("older than version 2"),
        "{}",
        d.raw
    );
}

#[test]
fn a_record_sealed_with_another_fleets_key_is_refused() {
    let fleet = Fleet::new("");
    let alice = alice_cached_on_b(&fleet);
    let (version, record) = fleet.served("alice");
    let _ = record;
    let stranger = twofold_core::fleet::key::FleetKey::generate().unwrap();
    let text = format!(
        "version = 1\ncreated = 1\nid = \"ffffffffffffffff\"\n[totp]\nsecret = {:?}\nalgorithm = \"SHA1\"\ndigits = 6\nperiod = 30\n",
        alice.secret.expose()
    );
    let forged = seal(&stranger, "alice", version + 1, text.as_bytes()).unwrap();
    let api = fleet.a().client(&fleet.service.url);
    api.put(&user_name("alice"), version, &forged, false)
        .expect("PUT accepted");
    assert_refused_record(&fleet, &alice);
}

#[test]
fn offline_the_cache_signs_in_and_the_use_is_reported_when_the_service_is_back() {
    let mut fleet = Fleet::new("");
    fleet.c().host.configure(
        &std::fs::read_to_string(&fleet.c().host.config_path)
            .unwrap()
            .replace("[fleet]\n", "[fleet]\noffline = \"deny\"\n"),
    );
    let alice = alice_cached_on_b(&fleet);
    let out = fleet.c().twofold(&["status", "alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for_step_margin(&alice, 8);
    let code = code_now(&alice);

    fleet.service.stop();
    let (outcome, _) = fleet.b().host.sign_in("alice", &[&code]);
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.b().host.audit_text()
    );
    assert!(
        fleet
            .b()
            .host
            .audit_lines()
            .iter()
            .any(|l| l.starts_with("fleet ") && l.contains("offline=cached")),
        "{}",
        fleet.b().host.audit_text()
    );
    let (outcome, transcript) = fleet.c().host.sign_in("alice", &[""]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    fleet
        .c()
        .host
        .last_decision()
        .assert_decision("alice", "failure", "fleet_offline");
    assert!(
        transcript[0].contains("cannot be reached"),
        "{transcript:?}"
    );

    // A user B never cached may be enrolled fleet-wide: not let in, even with nullok.
    fleet.b().host.use_module_args("nullok");
    let (outcome, _) = fleet.b().host.sign_in("bob", &[""]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    fleet
        .b()
        .host
        .last_decision()
        .assert_decision("bob", "failure", "fleet_offline_not_cached");
    fleet.b().host.use_module_args("");

    fleet.service.start();
    // B's next sign-in (of anyone) reaches the service and reports the offline use.
    let (outcome, _) = fleet.b().host.sign_in("alice", &[&wrong_code(&alice)]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    let report = fleet
        .b()
        .host
        .audit_lines()
        .into_iter()
        .find(|l| l.starts_with("fleet_report "))
        .unwrap_or_else(|| panic!("no report: {}", fleet.b().host.audit_text()));
    let report = Entry::parse(&report);
    assert_eq!((report.get("uses"), report.get("refused")), ("1", "0"));

    // A (online, never used that code) refuses it now.
    let (outcome, _) = fleet.a().host.sign_in("alice", &[&code]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    fleet
        .a()
        .host
        .last_decision()
        .assert_decision("alice", "failure", "replayed_code");
}

#[test]
fn the_first_url_dead_the_next_one_serves_the_sign_in() {
    let fleet = Fleet::new("");
    let alice = fleet.a().enroll("alice");
    // Nothing listens on port 9: refused at once; the second URL is the service.
    let urls = format!("[\"http://127.0.0.1:9\", {:?}]", fleet.service.url);
    fleet.b().set_fleet("urls", &urls);
    let (outcome, _) = fleet.b().host.sign_in("alice", &[&code_now(&alice)]);
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.b().host.audit_text()
    );
    let text = fleet.b().host.audit_text();
    assert!(!text.contains("offline=cached"), "{text}");
    let fetched = fleet
        .b()
        .host
        .audit_lines()
        .into_iter()
        .find(|l| l.starts_with("fleet_record "))
        .map(|l| Entry::parse(&l))
        .expect("the record was fetched");
    assert_eq!(fetched.get("url"), fleet.service.url);
}

#[test]
fn failures_on_different_hosts_add_up_to_one_fleet_wide_lockout_and_unlock_ends_it() {
    let fleet = Fleet::new("[rate_limit]\nmax_failures = 3");
    let alice = fleet.a().enroll("alice");
    let wrong = wrong_code(&alice);
    for h in &fleet.hosts {
        let (outcome, _) = h.host.sign_in("alice", &[&wrong]);
        assert_eq!(outcome.name, "PAM_AUTH_ERR");
    }
    // No host saw more than one failure itself; the fleet saw three.
    let (outcome, _) = fleet.a().host.sign_in("alice", &[&code_now(&alice)]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    fleet
        .a()
        .host
        .last_decision()
        .assert_decision("alice", "failure", "locked_out");

    let out = fleet.c().twofold(&["unlock", "alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for_step_margin(&alice, 5);
    let (outcome, _) = fleet.b().host.sign_in("alice", &[&code_now(&alice)]);
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.b().host.audit_text()
    );
}

#[test]
fn a_recovery_code_used_on_one_host_is_refused_on_another() {
    let fleet = Fleet::new("");
    let out = fleet
        .a()
        .twofold(&["enroll", "alice", "--force", "--no-verify", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let code = json["recovery_codes"][0].as_str().unwrap().to_string();

    let (outcome, _) = fleet.b().host.sign_in("alice", &[&code]);
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.b().host.audit_text()
    );
    let (outcome, _) = fleet.c().host.sign_in("alice", &[&code]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    fleet
        .c()
        .host
        .last_decision()
        .assert_decision("alice", "failure", "wrong_recovery_code");
    fleet.c().host.assert_log_holds_none_of(&[code]);
}

#[test]
fn enrolled_at_first_sign_in_on_a_the_user_signs_in_on_b() {
    // Enrollment at sign-in needs an account that exists (as in pam_enrollment.rs).
    const ACCOUNT: &str = "daemon";
    let fleet = Fleet::new("[enrollment]\nunenrolled = \"enroll\"");
    let mut key = String::new();
    let mut code = String::new();
    let outcome = fleet.a().host.sign_in_with(
        ACCOUNT,
        Some(RHOST),
        &mut |msg: twofold_pam_client::Message<'_>| {
            use twofold_pam_client::Message;
            let text = match msg {
                Message::PromptEchoOn(t) | Message::PromptEchoOff(t) => t,
                _ => return None,
            };
            if let Some(line) = text
                .lines()
                .find_map(|l| l.strip_prefix("Light background, or won't scan? Key: "))
            {
                key = line.trim_end().replace(' ', "");
            } else if let Some(next) = text
                .lines()
                .skip_while(|l| *l != "Light background, or won't scan? Type this key:")
                .nth(1)
            {
                key = next
                    .split("  (")
                    .next()
                    .unwrap_or_default()
                    .replace(' ', "");
            }
            if text.contains("Recovery codes") {
                return Some(Vec::new());
            }
            if text.contains("Paired?") {
                return Some(b"s".to_vec());
            }
            code = code_now(&params_of(&key));
            Some(code.clone().into_bytes())
        },
    );
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.a().host.audit_text()
    );
    let (version, record) = fleet.served(ACCOUNT);
    assert_eq!(version, 1, "uploaded as version 1");
    assert!(record.is_some());

    // The confirming code is used; the next one signs in on B.
    let params = params_of(&key);
    let (outcome, _) = fleet.b().host.sign_in(ACCOUNT, &[&code]);
    assert_eq!(
        outcome.name, "PAM_AUTH_ERR",
        "the enrollment's code is used"
    );
    let (outcome, _) = fleet
        .b()
        .host
        .sign_in(ACCOUNT, &[&code_at_offset(&params, 1)]);
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.b().host.audit_text()
    );
}

fn params_of(key: &str) -> twofold_core::factor::totp::TotpParams {
    twofold_core::factor::totp::TotpParams {
        secret: twofold_core::secret::SecretString::new(key.to_string()),
        algorithm: twofold_core::factor::totp::Algorithm::SHA1,
        digits: 6,
        period: 30,
        skew: None,
    }
}

#[test]
fn reset_on_one_host_unenrolls_the_user_on_every_host() {
    let fleet = Fleet::new("");
    let alice = alice_cached_on_b(&fleet);
    let out = fleet.c().twofold(&["list"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("alice"),
        "{out:?}"
    );

    // The service drops alice's record on its own (a dishonest service, through the API): B,
    // which verified it, refuses the sign-in instead of reading "not enrolled".
    let (version, record) = fleet.served("alice");
    let api = fleet.a().client(&fleet.service.url);
    api.delete(&user_name("alice"), version).expect("DELETE");
    assert_refused_record(&fleet, &alice);
    let d = fleet.b().host.last_decision();
    assert!(d.get("detail").contains("reset is sealed"), "{}", d.raw);
    assert!(
        fleet.b().host.record_path("alice").exists(),
        "B keeps its copy"
    );
    api.put(&user_name("alice"), 0, &record.expect("a record"), false)
        .expect("PUT back");

    let out = fleet.c().twofold(&["reset", "alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A sealed deletion is the next version; the list no longer names alice.
    assert_eq!(fleet.served("alice").0, version + 1);
    for host in [fleet.b(), fleet.c()] {
        let out = host.twofold(&["list"]);
        assert!(out.status.success(), "{out:?}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("alice"),
            "{out:?}"
        );
    }
    let (outcome, _) = fleet.b().host.sign_in("alice", &[&code_now(&alice)]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    fleet
        .b()
        .host
        .last_decision()
        .assert_decision("alice", "failure", "not_enrolled");
    assert!(
        !fleet.b().host.record_path("alice").exists(),
        "B's cached copy is gone"
    );

    // Enrolled again (over the deletion): B takes the new enrollment, not the old one.
    let again = fleet.a().enroll("alice");
    wait_for_step_margin(&again, 5);
    let (outcome, _) = fleet.b().host.sign_in("alice", &[&code_now(&again)]);
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.b().host.audit_text()
    );
}

#[test]
fn fleet_init_join_and_status() {
    let fleet = Fleet::new("");
    fleet.a().enroll("alice");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("fleet-key");
    let k = key.display().to_string();
    let out = fleet.a().twofold(&["fleet", "init", "--key-file", &k]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let first = std::fs::read(&key).unwrap();
    let out = fleet.a().twofold(&["fleet", "init", "--key-file", &k]);
    assert!(!out.status.success(), "a second init refuses to overwrite");
    assert_eq!(std::fs::read(&key).unwrap(), first);

    // A new host D joins with B's token and the fleet's key.
    let d = Host::new();
    let token_at = d.root.join("installed-token");
    let key_at = d.root.join("installed-key");
    d.configure(&format!(
        "[push]\nhost_token_file = {:?}\n[fleet]\nkey_file = {:?}\n",
        token_at.display().to_string(),
        key_at.display().to_string()
    ));
    let token_src = dir.path().join("token");
    std::fs::write(&token_src, format!("{}\n", fleet.b().token)).unwrap();
    let key_src = dir.path().join("key");
    std::fs::write(&key_src, fleet.key.to_text().as_bytes()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_twofold"))
        .arg("--config")
        .arg(&d.config_path)
        .args(["fleet", "join", &fleet.service.url, "--token-file"])
        .arg(&token_src)
        .arg("--key-file")
        .arg(&key_src)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1 user enrolled") && stdout.contains(fleet.key.id()),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("urls = [\"{}\"]", fleet.service.url)),
        "{stdout}"
    );
    for installed in [&token_at, &key_at] {
        assert_eq!(
            std::fs::metadata(installed).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(
        !stdout.contains(fleet.b().token.as_str()),
        "the token is not printed"
    );

    let out = fleet.b().twofold(&["fleet", "status"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(fleet.key.id()), "{stdout}");
    assert!(
        stdout.contains(&format!("{}: answers (1 user)", fleet.service.url)),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("alice  1  0  ")),
        "B has not verified alice yet: {stdout}"
    );
}

#[test]
fn the_fleet_commands_speak_dutch_with_lang_nl() {
    let fleet = Fleet::new("");
    fleet.a().enroll("alice");
    let dutch = [("LANG", "nl_NL.UTF-8")];
    let out = fleet.b().twofold_env(&["fleet", "status"], &dutch);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{}: antwoordt (1 gebruiker)", fleet.service.url)),
        "{stdout}"
    );
    assert!(
        stdout.contains("GEBRUIKER  VERSIE  HIER GEZIEN  SLEUTEL  MISLUKT  GEBLOKKEERD"),
        "{stdout}"
    );
    let out = fleet.c().twofold_env(&["reset", "alice"], &dutch);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "✓ alice: inschrijving op elk systeem verwijderd; opnieuw inschrijven is nodig."
        ),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = fleet.a().twofold_env(&["list"], &dutch);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "geen gebruikers ingeschreven voor alle systemen\n"
    );
}

#[test]
fn a_phone_paired_through_a_approves_sign_ins_on_b() {
    use std::io::{BufRead, BufReader};
    use twofold_core::push::device::{TestDevice, number_shown as number_in};
    use twofold_core::push::protocol::{DecisionKind, from_b64u};
    let fleet = Fleet::new("");
    fleet.a().enroll("alice");
    twofold_core::outside::install_system();
    let device_side = || {
        let endpoint = twofold_core::push::endpoint::Endpoint::parse(&fleet.service.url).unwrap();
        twofold_core::push::service::Service::new(twofold_core::push::client::Client::new(
            endpoint,
            None,
            std::time::Duration::from_secs(2),
        ))
    };

    // `twofold enroll --push alice` on A: the phone pairs and approves the test push.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_twofold"))
        .arg("--config")
        .arg(&fleet.a().host.config_path)
        .args(["enroll", "--push", "alice", "--qr", "none"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_with = |what: &str| loop {
        let line = lines.next().expect("more output").unwrap();
        if line.contains(what) {
            return line;
        }
    };
    let url = next_with("/pair#");
    let frag = url.split_once('#').unwrap().1.to_string();
    let field = |k: &str| {
        frag.split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .unwrap()
            .to_string()
    };
    let mut phone = TestDevice::new("phone").unwrap();
    phone
        .pair(
            &device_side(),
            &field("p"),
            &from_b64u(&field("k")).unwrap(),
        )
        .unwrap();
    let number = number_in(&next_with("with number ")).unwrap();
    let pending = phone.pending(&device_side(), now()).unwrap();
    phone
        .answer(
            &device_side(),
            &pending[0],
            DecisionKind::Approve,
            &number.to_string(),
            now(),
        )
        .unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{rest:?}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        rest.iter().any(|l| l.contains("Every host of the fleet")),
        "{rest:?}"
    );
    assert_eq!(fleet.served("alice").0, 2, "the device went into version 2");

    // A failure counted fleet-wide before; B: push, the phone sees host-b asking and approves.
    let api = fleet.a().client(&fleet.service.url);
    let failure = twofold_core::fleet::service::Claim::Failure {
        lock_after: 5,
        lock_seconds: 60,
        now: now(),
    };
    api.claim(&user_name("alice"), &failure).unwrap();
    let mut asked_by = String::new();
    let outcome = fleet.b().host.sign_in_with(
        "alice",
        Some(RHOST),
        &mut |msg: twofold_pam_client::Message<'_>| {
            use twofold_pam_client::Message;
            let (text, prompt) = match msg {
                Message::PromptEchoOn(t) | Message::PromptEchoOff(t) => (t, true),
                Message::TextInfo(t) | Message::ErrorMsg(t) => (t, false),
            };
            if asked_by.is_empty()
                && let Some(n) = number_in(text)
            {
                let pending = phone.pending(&device_side(), now()).unwrap();
                assert_eq!(pending.len(), 1, "{pending:?}");
                asked_by = pending[0].host.clone();
                phone
                    .answer(
                        &device_side(),
                        &pending[0],
                        DecisionKind::Approve,
                        &n.to_string(),
                        now(),
                    )
                    .unwrap();
            }
            prompt.then(Vec::new)
        },
    );
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.b().host.audit_text()
    );
    assert_eq!(asked_by, "host-b");
    assert_eq!(fleet.b().host.last_decision().get("method"), "push");
    let claims = api.user(&user_name("alice"), 0).unwrap().claims;
    assert_eq!(
        claims.failures, 0,
        "the approval reset the fleet-wide count"
    );

    // Removed on C: version 3, and B no longer trusts the phone.
    let out = fleet
        .c()
        .twofold(&["devices", "alice", "--remove", &phone.id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fleet.served("alice").0, 3);
    let out = fleet.b().twofold(&["devices", "alice", "--json"]);
    let devices: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(devices[0]["id"], phone.id.as_str());
    assert!(!devices[0]["removed"].is_null(), "{devices}");
}

#[test]
fn check_config_names_the_fleet_key_and_refuses_a_missing_one() {
    let fleet = Fleet::new("");
    let out = fleet.b().twofold(&["check-config"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("fleet.key_file: fleet key {}", fleet.key.id())),
        "{stdout}"
    );
    std::fs::remove_file(fleet.b().host.root.join("fleet-key")).unwrap();
    let out = fleet.b().twofold(&["check-config"]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{all}");
    assert!(
        all.contains("fleet.key_file") && all.contains("no such file"),
        "{all}"
    );
}

#[test]
fn on_postgres_a_code_used_through_one_instance_is_refused_through_the_other() {
    let Some(fleet) = postgres_fleet("on_postgres_a_code_used_through_one_instance", "") else {
        return;
    };
    let alice = fleet.a().enroll("alice");
    wait_for_step_margin(&alice, 5);
    let code = code_now(&alice);
    // A talks to instance 1 first, B to instance 2.
    let (outcome, _) = fleet.a().host.sign_in("alice", &[&code]);
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.a().host.audit_text()
    );
    let (outcome, _) = fleet.b().host.sign_in("alice", &[&code]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    let b = fleet.b().host.audit_lines();
    let fetched = b
        .iter()
        .find(|l| l.starts_with("fleet_record "))
        .map(|l| Entry::parse(l))
        .expect("B fetched the record");
    assert_eq!(fetched.get("url"), fleet.second.as_ref().unwrap().url);
    fleet
        .b()
        .host
        .last_decision()
        .assert_decision("alice", "failure", "replayed_code");
}

#[test]
fn on_postgres_instance_1_down_the_hosts_fail_over_and_all_down_the_cache_serves() {
    let Some(mut fleet) = postgres_fleet("on_postgres_instance_1_down", "") else {
        return;
    };
    let alice = fleet.a().enroll("alice");
    let out = fleet.c().twofold(&["status", "alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for_step_margin(&alice, 8);
    let (earlier, now) = (code_at_offset(&alice, -1), code_at_offset(&alice, 0));

    fleet.service.stop();
    let (outcome, _) = fleet.a().host.sign_in("alice", &[&earlier]);
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.a().host.audit_text()
    );
    assert!(!fleet.a().host.audit_text().contains("offline=cached"));

    fleet.second.as_mut().unwrap().stop();
    let (outcome, _) = fleet.c().host.sign_in("alice", &[&now]);
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.c().host.audit_text()
    );
    assert!(fleet.c().host.audit_text().contains("offline=cached"));

    // Instance 2 back: C reports, and B (never used that code) refuses it.
    fleet.second.as_mut().unwrap().start();
    let (outcome, _) = fleet.c().host.sign_in("alice", &[&wrong_code(&alice)]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    assert!(
        fleet
            .c()
            .host
            .audit_lines()
            .iter()
            .any(|l| l.starts_with("fleet_report ") && l.contains("uses=1")),
        "{}",
        fleet.c().host.audit_text()
    );
    let (outcome, _) = fleet.b().host.sign_in("alice", &[&now]);
    assert_eq!(outcome.name, "PAM_AUTH_ERR");
    fleet
        .b()
        .host
        .last_decision()
        .assert_decision("alice", "failure", "replayed_code");
}

#[test]
fn key_rotation_new_key_first_reseal_then_the_old_key_goes() {
    let fleet = Fleet::new("");
    let alice = fleet.a().enroll("alice");
    let bob = fleet.a().enroll("bob");
    let out = fleet.b().twofold(&["status", "alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new = twofold_core::fleet::key::FleetKey::generate().unwrap();
    let both = format!("{}{}", new.to_text().as_str(), fleet.key.to_text().as_str());
    // 1. The new key first, the old one after it, on every host.
    for h in &fleet.hosts {
        twofold_core::push::local::write_private(&h.host.root.join("fleet-key"), &both).unwrap();
    }
    // 2. Reseal on one host.
    let out = fleet.a().twofold(&["fleet", "reseal"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("2 records resealed"), "{stdout}");
    for user in ["alice", "bob"] {
        let (version, record) = fleet.served(user);
        assert_eq!(version, 2);
        assert_eq!(record.unwrap().key_id, new.id());
    }
    // 3. The old key removed: B (cached version 1) and C (nothing cached) sign in.
    for h in &fleet.hosts {
        twofold_core::push::local::write_private(&h.host.root.join("fleet-key"), &new.to_text())
            .unwrap();
    }
    wait_for_step_margin(&alice, 5);
    let (outcome, _) = fleet.b().host.sign_in("alice", &[&code_now(&alice)]);
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.b().host.audit_text()
    );
    let (outcome, _) = fleet.c().host.sign_in("bob", &[&code_now(&bob)]);
    assert_eq!(
        outcome.name,
        "PAM_SUCCESS",
        "{}",
        fleet.c().host.audit_text()
    );
    let out = fleet.a().twofold(&["fleet", "reseal"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 records resealed"));
}

#[test]
fn language_phone_and_default_method_set_on_one_host_hold_on_every_host() {
    let fleet = Fleet::new("");
    let _alice = alice_cached_on_b(&fleet);
    let version = fleet.served("alice").0;
    for args in [
        &["language", "alice", "nl"][..],
        &["phone", "alice", "set", "+31612345678", "--verified"][..],
        &["default-method", "alice", "app"][..],
    ] {
        let out = fleet.a().twofold(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        fleet.served("alice").0,
        version + 3,
        "each change is a new version on the service"
    );
    // C never changed anything: it sees all three through the service.
    let out = fleet.c().twofold(&["language", "alice"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.starts_with("alice: nl"), "{shown}");
    let out = fleet.c().twofold(&["status", "alice", "--json"]);
    let status = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(status.contains("+31612345678"), "{status}");
    assert!(status.contains("\"app\""), "{status}");
}
